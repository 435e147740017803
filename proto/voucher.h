/* oncesign — issuer vouchers and operator approvals (issue 14): the voucher's fixed binary form
 * shared by the signer, the host and the issuer tool, the hash an issuer signs, and the hash an
 * operator signs to approve a transaction.
 *
 * Layout (OS_VOUCHER_BYTES = 214, integers little-endian; PROTOCOL.md §2.7):
 *   version(1) network(1) flags(1) script_len(1) nonce(32) amount(8) expiry_seq(8) signer(32)
 *   script(34, zero-padded) issuer(32) | sig(64)
 * The first OS_VOUCHER_SIGNED_BYTES are signed: id = TH("oncesign/voucher", those bytes), and sig is
 * BIP340 by issuer over id. The id names the voucher in the signer's log: it covers everything but
 * the signature, so two signatures of one voucher (BIP340 aux randomness) are the same voucher.
 *
 * Only the layout lives here; the signature is checked by whoever holds a secp256k1 context (the
 * signer through firmware/crypto.h, the host tool likewise), so the codec needs no curve code.
 */
#ifndef ONCESIGN_VOUCHER_H
#define ONCESIGN_VOUCHER_H

#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

/* Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_MSG_MALFORMED when a field is out of range (as
 *          os_voucher_decode would refuse it).
 * In:      v. Out: out: OS_VOUCHER_BYTES. */
int os_voucher_encode(const os_voucher *v, uint8_t out[OS_VOUCHER_BYTES]);

/* Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_MSG_MALFORMED for a version other than
 *          OS_VOUCHER_VERSION, an unknown network or flag, a script_len that is not 1..34 with
 *          OS_VOUCHER_DESTINATION (0 without), non-zero padding after the script, an amount of 0 or
 *          above OS_MAX_MONEY, or an expiry_seq of 0. One encoding per voucher.
 * In:      in: OS_VOUCHER_BYTES. Out: v. */
int os_voucher_decode(const uint8_t in[OS_VOUCHER_BYTES], os_voucher *v);

/* The voucher's id: TH("oncesign/voucher", its first OS_VOUCHER_SIGNED_BYTES), the message its
 * issuer signs.
 * Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_MSG_MALFORMED as os_voucher_encode; OS_ERR_INTERNAL
 *          when hashing fails. Out: id32. */
int os_voucher_id(const os_voucher *v, uint8_t id32[32]);

/* An operator approval's message (PROTOCOL.md §2.8): TH("oncesign/approval", tx_digest ‖
 * expiry_seq (8, LE) ‖ signer), where tx_digest is the transaction digest (proto/tx_digest.h) the
 * signer's approval screens and SIGN entry bind, and signer its attestation key: an approval
 * speaks for one transaction on one signer until one log seq. Operators sign it with BIP340.
 * Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_INTERNAL when hashing fails. Out: out32. */
int os_approval_hash(const uint8_t tx_digest[32], uint64_t expiry_seq, const uint8_t signer[32], uint8_t out32[32]);

/* The approval's wire form (OS_APPROVAL_BYTES): operator_key [32] | expiry_seq u64le | sig [64].
 * Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_MSG_MALFORMED for an expiry_seq of 0. */
int os_approval_encode(const os_approval *a, uint8_t out[OS_APPROVAL_BYTES]);
int os_approval_decode(const uint8_t in[OS_APPROVAL_BYTES], os_approval *a);

/* Whether a transaction whose payout outputs total total_payout needs the operators' quorum on a
 * signer holding n_operators keys and threshold: the one rule the signer enforces at SIGN_FINISH and
 * the host applies before it starts a session (it batches under the threshold and holds a draft
 * above it for approvals, docs/DESIGN.md §8).
 * Returns: 1 when it needs k approvals, 0 otherwise. */
int os_quorum_required(uint8_t n_operators, uint64_t threshold, uint64_t total_payout);

#endif /* ONCESIGN_VOUCHER_H */
