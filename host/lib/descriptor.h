/* oncesign host — output descriptors (BIP380/381/382) of the signer's hot wallet, for a watch-only
 * wallet in monacoind (docs/PSBT.md "A PSBT from Monacoin Core"). The key origin
 * [fingerprint/purpose'/coin'/account'] (written with h for ') makes the PSBTs Core creates carry full derivation paths
 * that `oncesign sign` accepts; the checksum is what `importmulti` requires.
 */
#ifndef ONCESIGN_HOST_DESCRIPTOR_H
#define ONCESIGN_HOST_DESCRIPTOR_H

#include <stddef.h>
#include <stdint.h>

#define OS_DESCRIPTOR_MAX 256

/* Appends "#" and the 8-character BIP380 checksum of desc.
 * Returns: OS_OK; OS_ERR_ARG (a character outside BIP380's input set, or out too small).
 * In:      desc: NUL-terminated descriptor without checksum.
 * Out:     out: cap bytes, desc + "#" + checksum, NUL-terminated. */
int os_descriptor_add_checksum(const char *desc, char *out, size_t cap);

/* The ranged descriptor of one chain of an account, with key origin and checksum, e.g.
 * pkh([73c5da0a/44h/1h/0h]tpubDC.../0/ then a star, then )#abcdefgh: ranged over every index.
 * Returns: OS_OK; OS_ERR_ARG (unknown script type, NULL or empty xpub, out too small).
 * In:      fingerprint: the master key's fingerprint. purpose, coin, account: the account path's
 *          three hardened steps (without the hardened bit). script_type: OS_SCRIPT_*. xpub: the
 *          account's extended public key (Base58Check). change: 0 receive, 1 change.
 * Out:     out: cap bytes (OS_DESCRIPTOR_MAX suffices). */
int os_descriptor_account(const uint8_t fingerprint[4], uint32_t purpose, uint32_t coin, uint32_t account,
                          uint8_t script_type, const char *xpub, unsigned change, char *out, size_t cap);

#endif /* ONCESIGN_HOST_DESCRIPTOR_H */
