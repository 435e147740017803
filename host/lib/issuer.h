/* oncesign host — the issuer's side of vouchers (issue 14): the issuer key file, signing and
 * checking vouchers (layout in proto/voucher.h, PROTOCOL.md §2.7).
 *
 * The issuer is the service backend or an offline machine, never the bridge that talks to the
 * signer: a bridge that holds the issuer key can mint vouchers for itself (docs/DESIGN.md §8).
 * `oncesign voucher keygen|sign|verify` is this file on the command line.
 *
 * The key file is one line of 64 hex digits (the BIP340 secret key), mode 0600: a file other
 * users can read or write is refused (OS_ERR_VOUCHER_KEY), as ssh refuses a readable identity.
 */
#ifndef ONCESIGN_ISSUER_H
#define ONCESIGN_ISSUER_H

#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

/* Creates a new issuer key at path (O_EXCL: never overwrites), mode 0600.
 * Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_VOUCHER_KEY when the file exists or cannot be
 *          created; OS_ERR_IO without randomness; crypto errors.
 * Out:     xonly32: the issuer's public key, to register on the signer (SET_ISSUERS). */
int os_issuer_key_create(const char *path, uint8_t xonly32[32]);

/* The fingerprint of an issuer's or operator's x-only key as the signer's screens show it, the
 * CLI prints it and the host logs it: its first 8 bytes in hex.
 * Out:     out: 16 hex digits and a NUL. */
void os_key_fingerprint(const uint8_t key32[32], char out[17]);

/* Reads the key at path.
 * Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_VOUCHER_KEY when the file is missing, not a regular
 *          file, readable or writable by group or others, or not 64 hex digits of a valid key.
 * Out:     priv32 (the caller wipes it), xonly32 (may be NULL). */
int os_issuer_key_load(const char *path, uint8_t priv32[32], uint8_t xonly32[32]);

/* Signs v with priv32: sets v->issuer and v->sig.
 * Returns: OS_OK; OS_ERR_MSG_MALFORMED for a voucher whose fields are out of range; crypto and
 *          randomness errors. */
int os_voucher_sign(os_voucher *v, const uint8_t priv32[32]);

/* Checks v's signature under its issuer key, and when issuer32 is not NULL that it is that key.
 * Returns: OS_OK; OS_ERR_VOUCHER_ISSUER when the signature does not verify or the key differs;
 *          OS_ERR_MSG_MALFORMED for out-of-range fields. */
int os_voucher_check(const os_voucher *v, const uint8_t issuer32[32]);

/* Hex (428 digits) <-> voucher. Decoding checks the layout (os_voucher_decode), not the signature.
 * Returns: OS_OK; OS_ERR_BAD_REQUEST for text that is not exactly 428 hex digits;
 *          OS_ERR_MSG_MALFORMED for a bad layout. */
int os_voucher_from_hex(const char *hex, os_voucher *v);
int os_voucher_to_hex(const os_voucher *v, char out[2 * OS_VOUCHER_BYTES + 1]);

/* An operator's approval (PROTOCOL.md §2.8), what `oncesign approve` prints: BIP340 by priv32
 * over os_approval_hash(tx_digest, expiry_seq, signer). Operator keys are made and kept like
 * issuer keys (os_issuer_key_create / _load): one key tool.
 * Returns: OS_OK; OS_ERR_ARG on NULL or an expiry_seq of 0; crypto and randomness errors.
 * Out:     a: operator_key, expiry_seq and sig set. */
int os_approval_sign(os_approval *a, const uint8_t tx_digest[32], uint64_t expiry_seq, const uint8_t signer[32],
                     const uint8_t priv32[32]);

#endif /* ONCESIGN_ISSUER_H */
