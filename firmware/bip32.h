/* oncesign — BIP32 hierarchical deterministic keys over libsecp256k1.
 *
 * A bip32_node holds its key material by value; wipe it with bip32_wipe when done. Every function
 * that fails leaves *out wiped, never half written. All functions that touch keys need
 * crypto_init first (OS_ERR_NOT_INITIALIZED otherwise).
 */
#ifndef ONCESIGN_BIP32_H
#define ONCESIGN_BIP32_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/status.h"

#define BIP32_HARDENED 0x80000000u
#define BIP32_SERIALIZED_BYTES 78
#define BIP32_MAX_DEPTH 255

/* Version bytes (as Bitcoin; Monacoin uses the same). */
#define BIP32_VERSION_XPUB 0x0488B21Eu
#define BIP32_VERSION_XPRV 0x0488ADE4u
#define BIP32_VERSION_TPUB 0x043587CFu
#define BIP32_VERSION_TPRV 0x04358394u

typedef struct {
    uint8_t depth;
    uint8_t parent_fingerprint[4];
    uint32_t child_number;
    uint8_t chain_code[32];
    uint8_t private_key[32];   /* valid when has_private */
    uint8_t public_key[33];    /* always valid (compressed) */
    uint8_t has_private;
} bip32_node;

/* Master node from a seed: I = HMAC-SHA512("Bitcoin seed", seed).
 * Returns: OS_OK; OS_ERR_ARG on NULL or seed_len outside 16..64; OS_ERR_CRYPTO when I_L is zero
 *          or not below the group order (BIP32: the seed is invalid); OS_ERR_NOT_INITIALIZED.
 * In:      seed, seed_len.
 * Out:     out: depth 0, fingerprint 0, child 0, with the private key.
 */
int bip32_from_seed(const uint8_t *seed, size_t seed_len, bip32_node *out);

/* CKDpriv when parent has the private key, else CKDpub.
 * Returns: OS_OK; OS_ERR_ARG on NULL, a parent at depth 255, or a hardened index without the
 *          private key; OS_ERR_CRYPTO in the (probability < 2^-127) case BIP32 calls invalid
 *          (I_L >= n or a zero/infinite result): the caller moves on to the next index;
 *          OS_ERR_NOT_INITIALIZED.
 * In:      parent, index (>= BIP32_HARDENED for hardened).
 * Out:     out: the child; may be the same object as parent.
 */
int bip32_derive_child(const bip32_node *parent, uint32_t index, bip32_node *out);

/* CKDpriv for the child's private key alone. It skips the child's public key, the one elliptic
 * curve multiplication of a derivation, for callers that already know that key and prove the
 * match another way (crypto_ecdsa_sign checks its signature against the expected public key).
 * Returns: OS_OK; OS_ERR_ARG on NULL or a parent without the private key; OS_ERR_CRYPTO in the
 *          BIP32-invalid case (as bip32_derive_child); OS_ERR_NOT_INITIALIZED.
 * In:      parent (with its private key), index (>= BIP32_HARDENED for hardened).
 * Out:     child_key: 32 bytes, wiped on failure. The caller wipes it after use.
 */
int bip32_derive_private_key(const bip32_node *parent, uint32_t index, uint8_t child_key[32]);

/* Derives root/path[0]/.../path[depth-1].
 * Returns: as bip32_derive_child; OS_ERR_ARG on NULL path with depth > 0 or a depth that would
 *          pass 255 levels.
 * In:      root, path, depth (0 copies root).
 * Out:     out: may be the same object as root.
 */
int bip32_derive_path(const bip32_node *root, const uint32_t *path, size_t depth, bip32_node *out);

/* Drops the private key (wiped) and keeps the public node. NULL is ignored. */
void bip32_neuter(bip32_node *node);

/* The 78-byte BIP32 serialization (without base58check; encode with base58check_encode).
 * A known private version (xprv, tprv) writes 0x00||private key and needs has_private; any other
 * version writes the public key.
 * Returns: OS_OK; OS_ERR_ARG on NULL, or a private version for a node without private key.
 * In:      node, version.
 * Out:     out: 78 bytes.
 */
int bip32_serialize(const bip32_node *node, uint32_t version, uint8_t out[78]);

/* Parses a 78-byte serialization, public or private.
 * Returns: OS_OK; OS_ERR_ARG on NULL or an invalid encoding: key prefix other than 00/02/03,
 *          private key zero or not below the order, public key not on the curve, depth 0 with a
 *          non-zero parent fingerprint or child number, or a known public version with private
 *          key data (or a known private version with public key data); OS_ERR_NOT_INITIALIZED.
 * In:      in: 78 bytes.
 * Out:     version: the 4 version bytes. out: the node (public_key computed for private nodes).
 */
int bip32_parse(const uint8_t in[78], uint32_t *version, bip32_node *out);

/* First 4 bytes of HASH160(public key). */
void bip32_fingerprint(const bip32_node *node, uint8_t fp[4]);

/* Zeroes the whole node. NULL is ignored. */
void bip32_wipe(bip32_node *node);

#endif /* ONCESIGN_BIP32_H */
