/* oncesign — the one door to the crypto libraries: libsecp256k1 (keys, ECDSA, BIP340) and mbedtls
 * (SHA-2, RIPEMD-160). Everything else in the tree hashes and signs through these functions.
 *
 * No heap: the secp256k1 context lives in a static buffer, hash and HMAC states on the stack.
 * HMAC-SHA512 and PBKDF2 are the RFC 2104 / RFC 8018 constructions over mbedtls' SHA-512 contexts
 * rather than mbedtls_md_hmac/mbedtls_pkcs5_pbkdf2_hmac, because mbedtls_md_setup allocates its
 * state with mbedtls_calloc; tests/unit/test_crypto.c checks both against those mbedtls functions
 * and against RFC 4231.
 *
 * Secrets (private keys, nonces, HMAC keys and states) are wiped with crypto_wipe before return
 * on every path. Functions that take a private key need crypto_init first (OS_ERR_NOT_INITIALIZED
 * otherwise); the hash functions do not.
 */
#ifndef ONCESIGN_CRYPTO_H
#define ONCESIGN_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/sha512.h>
#include <secp256k1.h>
#include <secp256k1_extrakeys.h>

#include "oncesign/status.h"

#define CRYPTO_DER_MAX 72   /* a low-S DER ECDSA signature never exceeds this */

/* Creates the one static secp256k1 context (no heap) and randomizes it for side-channel
 * blinding. A second call only re-randomizes the existing context.
 * Returns: OS_OK; OS_ERR_INTERNAL when the static buffer is smaller than
 *          secp256k1_context_preallocated_size asks for or creation fails; OS_ERR_CRYPTO when
 *          randomization fails.
 * Args:    (none)
 * In:      randomize32: 32 fresh random bytes from the board's RNG (not NULL).
 */
int crypto_init(const uint8_t randomize32[32]);

/* Returns: the context made by crypto_init, NULL before it. */
const secp256k1_context *crypto_ctx(void);

/* SHA-256 of data. In: data (may be NULL when len is 0). Out: out: 32 bytes.
 * The mbedtls software implementation cannot fail, hence no status. */
void crypto_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* SHA-256(SHA-256(data)): txids, base58check checksums. Out: out: 32 bytes. */
void crypto_sha256d(const uint8_t *data, size_t len, uint8_t out[32]);

/* RIPEMD-160(SHA-256(data)): public key and script hashes. Out: out: 20 bytes. */
void crypto_hash160(const uint8_t *data, size_t len, uint8_t out[20]);

/* SHA-512 of data. Out: out: 64 bytes. */
void crypto_sha512(const uint8_t *data, size_t len, uint8_t out[64]);

/* HMAC-SHA512 (RFC 2104).
 * Returns: OS_OK; OS_ERR_ARG on a NULL pointer with a non-zero length or a NULL out.
 * In:      key, key_len: any length (longer than 128 bytes is hashed first, as RFC 2104 says).
 *          data, len: the message.
 * Out:     out: 64 bytes. May alias neither key nor data.
 */
int crypto_hmac_sha512(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                       uint8_t out[64]);

/* Incremental HMAC-SHA512, for messages assembled from pieces (BIP32 child data, PBKDF2 salt)
 * without copying them into one buffer. Holds key material: always end with _final, or wipe it. */
typedef struct {
    mbedtls_sha512_context inner;   /* keyed with K ^ ipad, then fed the message */
    mbedtls_sha512_context outer;   /* keyed with K ^ opad */
} crypto_hmac_sha512_ctx;

/* Returns: OS_OK; OS_ERR_ARG on NULL ctx or NULL key with key_len > 0.
 * Out:     ctx: keyed state. */
int crypto_hmac_sha512_init(crypto_hmac_sha512_ctx *ctx, const uint8_t *key, size_t key_len);
/* Returns: OS_OK; OS_ERR_ARG on NULL ctx or NULL data with len > 0. */
int crypto_hmac_sha512_update(crypto_hmac_sha512_ctx *ctx, const uint8_t *data, size_t len);
/* Returns: OS_OK; OS_ERR_ARG on NULL. Out: out: 64 bytes. The ctx is wiped on return. */
int crypto_hmac_sha512_final(crypto_hmac_sha512_ctx *ctx, uint8_t out[64]);

/* PBKDF2-HMAC-SHA512 (RFC 8018), the salt given in two parts so BIP39 needs no salt buffer.
 * Returns: OS_OK; OS_ERR_ARG on NULL pointers with non-zero lengths, iterations 0 or out_len 0
 *          or above 64 * 16.
 * In:      password, password_len; salt1, salt1_len; salt2, salt2_len (salt = salt1 || salt2);
 *          iterations: at least 1.
 * Out:     out: out_len bytes.
 */
int crypto_pbkdf2_hmac_sha512(const uint8_t *password, size_t password_len,
                              const uint8_t *salt1, size_t salt1_len,
                              const uint8_t *salt2, size_t salt2_len,
                              uint32_t iterations, uint8_t *out, size_t out_len);

/* Returns: 1 if the len bytes at a and b are equal, 0 otherwise, in time that depends only on
 *          len. In: a, b: len bytes each (not NULL unless len is 0). */
int crypto_ct_equal(const void *a, const void *b, size_t len);

/* Overwrites len bytes at p with zeros in a way the compiler does not elide
 * (mbedtls_platform_zeroize). NULL p with len 0 is allowed. */
void crypto_wipe(void *p, size_t len);

/* Returns: OS_OK; OS_ERR_NOT_INITIALIZED before crypto_init; OS_ERR_ARG on NULL;
 *          OS_ERR_CRYPTO when priv is zero or not below the group order.
 * In:      priv: 32-byte secret key.
 * Out:     pub33: compressed public key (02/03 prefix).
 */
int crypto_pubkey_from_priv(const uint8_t priv[32], uint8_t pub33[33]);

/* Returns: 1 when priv is a valid secret key (non-zero, below the order), 0 otherwise or before
 *          crypto_init. In: priv: 32 bytes. */
int crypto_seckey_valid(const uint8_t priv[32]);

/* ECDSA signature with the RFC 6979 deterministic nonce (libsecp256k1's default), low-S, DER.
 * The signature is verified against pub33 before it is released: a fault during signing (glitch,
 * bit flip) fails closed instead of leaking a bad signature, and a priv that is not pub33's key
 * fails the same way, so the caller need not recompute the public key to prove the match.
 * Returns: OS_OK; OS_ERR_NOT_INITIALIZED before crypto_init; OS_ERR_ARG on NULL;
 *          OS_ERR_CRYPTO on an invalid key or pub33; OS_ERR_BUFFER when *der_len is below the
 *          encoding's length; OS_ERR_INTERNAL when the fresh signature does not verify under pub33.
 * In:      priv: 32-byte secret key. pub33: its compressed public key. hash: the 32-byte digest
 *          to sign (the sighash).
 * In/Out:  der_len: capacity of der in, DER length (at most CRYPTO_DER_MAX) out.
 * Out:     der: the DER encoding, without a sighash type byte.
 */
int crypto_ecdsa_sign(const uint8_t priv[32], const uint8_t pub33[33], const uint8_t hash[32],
                      uint8_t *der, size_t *der_len);

/* Verifies a DER ECDSA signature. High-S signatures are rejected (libsecp256k1 semantics).
 * Returns: OS_OK when valid; OS_ERR_CRYPTO when the key, the encoding or the signature is
 *          invalid; OS_ERR_NOT_INITIALIZED before crypto_init; OS_ERR_ARG on NULL.
 * In:      pub33: compressed public key. hash: 32-byte digest. der, der_len: the signature.
 */
int crypto_ecdsa_verify(const uint8_t pub33[33], const uint8_t hash[32], const uint8_t *der,
                        size_t der_len);

/* A BIP340 signing key with its public key computed once (libsecp256k1's keypair): loading
 * costs one curve multiplication, so a key that signs often (the attestation key signs every log
 * entry) is loaded once and kept. Holds the secret key: wipe it with crypto_schnorr_key_wipe. */
typedef struct {
    secp256k1_keypair keypair;
    secp256k1_xonly_pubkey xonly;
} crypto_schnorr_key;

/* Returns: OS_OK; OS_ERR_NOT_INITIALIZED; OS_ERR_ARG on NULL; OS_ERR_CRYPTO on an invalid key
 *          (key is then wiped).
 * In:      priv: 32-byte secret key (the caller still owns and wipes it).
 * Out:     key: the loaded key.
 */
int crypto_schnorr_key_load(const uint8_t priv[32], crypto_schnorr_key *key);

/* Returns: OS_OK; OS_ERR_ARG on NULL; OS_ERR_NOT_INITIALIZED; OS_ERR_INTERNAL.
 * In:      key: from crypto_schnorr_key_load.
 * Out:     xonly32: its BIP340 x-only public key.
 */
int crypto_schnorr_key_xonly(const crypto_schnorr_key *key, uint8_t xonly32[32]);

/* Zeroes key. NULL is ignored. */
void crypto_schnorr_key_wipe(crypto_schnorr_key *key);

/* BIP340 Schnorr signature over a 32-byte message, verified before release.
 * Returns: OS_OK; OS_ERR_NOT_INITIALIZED; OS_ERR_ARG on NULL;
 *          OS_ERR_INTERNAL when the fresh signature does not verify (sig64 is then wiped).
 * In:      key: from crypto_schnorr_key_load. msg32: message. aux32: 32 bytes of auxiliary
 *          randomness (not NULL; all-zero is allowed and deterministic, as in BIP340's vectors).
 * Out:     sig64: the 64-byte signature.
 */
int crypto_schnorr_sign(const crypto_schnorr_key *key, const uint8_t msg32[32], const uint8_t aux32[32],
                        uint8_t sig64[64]);

/* Returns: OS_OK when sig64 is a valid BIP340 signature of msg32 under xonly32;
 *          OS_ERR_CRYPTO when not (or the key is not a valid x coordinate);
 *          OS_ERR_NOT_INITIALIZED; OS_ERR_ARG on NULL.
 * In:      xonly32: x-only public key. msg32: message. sig64: signature.
 */
int crypto_schnorr_verify(const uint8_t xonly32[32], const uint8_t msg32[32],
                          const uint8_t sig64[64]);

/* Returns: OS_OK; OS_ERR_NOT_INITIALIZED; OS_ERR_ARG on NULL; OS_ERR_CRYPTO on an invalid key.
 * In:      priv: 32-byte secret key.
 * Out:     xonly32: the BIP340 x-only public key.
 */
int crypto_xonly_from_priv(const uint8_t priv[32], uint8_t xonly32[32]);

#endif /* ONCESIGN_CRYPTO_H */
