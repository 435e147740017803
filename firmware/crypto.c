/* oncesign — crypto wrappers over libsecp256k1 and mbedtls (contracts in crypto.h). */
#include "crypto.h"

#include <string.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/ripemd160.h>
#include <mbedtls/sha256.h>
#include <mbedtls/sha512.h>
#include <secp256k1_extrakeys.h>
#include <secp256k1_preallocated.h>
#include <secp256k1_schnorrsig.h>

#include "oncesign/check.h"

#define SHA512_BLOCK 128
#define SHA512_LEN 64
#define PBKDF2_MAX_BLOCKS 16

/* libsecp256k1 0.2 needs about 200 bytes here (its tables are static since 0.2); the margin
 * covers other builds, and crypto_init refuses to run when it is not enough. */
#define CRYPTO_SECP_CTX_BYTES 1024

static _Alignas(16) unsigned char secp_ctx_buf[CRYPTO_SECP_CTX_BYTES];
static secp256k1_context *secp_ctx;

int crypto_init(const uint8_t randomize32[32]) {
    const unsigned int flags = SECP256K1_CONTEXT_SIGN | SECP256K1_CONTEXT_VERIFY;
    ARG_CHECK(randomize32 != NULL);
    if (secp_ctx == NULL) {
        size_t need = secp256k1_context_preallocated_size(flags);
        VERIFY_CHECK(need <= sizeof(secp_ctx_buf));
        secp_ctx = secp256k1_context_preallocated_create(secp_ctx_buf, flags);
        VERIFY_CHECK(secp_ctx != NULL);
    }
    if (!secp256k1_context_randomize(secp_ctx, randomize32)) return OS_ERR_CRYPTO;
    return OS_OK;
}

const secp256k1_context *crypto_ctx(void) { return secp_ctx; }

void crypto_wipe(void *p, size_t len) {
    if (p != NULL && len > 0) mbedtls_platform_zeroize(p, len);
}

int crypto_ct_equal(const void *a, const void *b, size_t len) {
    const volatile uint8_t *pa = (const volatile uint8_t *)a;
    const volatile uint8_t *pb = (const volatile uint8_t *)b;
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < len; i++) diff |= (uint8_t)(pa[i] ^ pb[i]);
    /* (diff - 1) >> 8 is all ones only for diff == 0, without a data-dependent branch. */
    return (int)((((uint32_t)diff - 1u) >> 8) & 1u);
}

/* ------------------------------------------------------------------ hashes */

void crypto_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    static const uint8_t empty = 0;
    (void)mbedtls_sha256_ret(len ? data : &empty, len, out, 0);
}

void crypto_sha256d(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint8_t first[32];
    crypto_sha256(data, len, first);
    crypto_sha256(first, sizeof(first), out);
    crypto_wipe(first, sizeof(first));   /* the inner hash of a secret is as sensitive as it */
}

void crypto_hash160(const uint8_t *data, size_t len, uint8_t out[20]) {
    uint8_t sha[32];
    crypto_sha256(data, len, sha);
    (void)mbedtls_ripemd160_ret(sha, sizeof(sha), out);
    crypto_wipe(sha, sizeof(sha));
}

void crypto_sha512(const uint8_t *data, size_t len, uint8_t out[64]) {
    static const uint8_t empty = 0;
    (void)mbedtls_sha512_ret(len ? data : &empty, len, out, 0);
}

/* ------------------------------------------------------------------ HMAC-SHA512 */

int crypto_hmac_sha512_init(crypto_hmac_sha512_ctx *ctx, const uint8_t *key, size_t key_len) {
    uint8_t pad[SHA512_BLOCK];
    size_t i;
    int rc = OS_OK;
    ARG_CHECK(ctx != NULL);
    ARG_CHECK(key != NULL || key_len == 0);

    memset(pad, 0, sizeof(pad));
    if (key_len > SHA512_BLOCK) {
        crypto_sha512(key, key_len, pad);
    } else if (key_len > 0) {
        memcpy(pad, key, key_len);
    }
    mbedtls_sha512_init(&ctx->inner);
    mbedtls_sha512_init(&ctx->outer);

    for (i = 0; i < SHA512_BLOCK; i++) pad[i] ^= 0x36;
    if (mbedtls_sha512_starts_ret(&ctx->inner, 0) != 0 ||
        mbedtls_sha512_update_ret(&ctx->inner, pad, sizeof(pad)) != 0) rc = OS_ERR_INTERNAL;
    for (i = 0; i < SHA512_BLOCK; i++) pad[i] ^= 0x36 ^ 0x5c;
    if (rc == OS_OK && (mbedtls_sha512_starts_ret(&ctx->outer, 0) != 0 ||
                        mbedtls_sha512_update_ret(&ctx->outer, pad, sizeof(pad)) != 0)) {
        rc = OS_ERR_INTERNAL;
    }
    crypto_wipe(pad, sizeof(pad));
    if (rc != OS_OK) {
        mbedtls_sha512_free(&ctx->inner);
        mbedtls_sha512_free(&ctx->outer);
    }
    return rc;
}

int crypto_hmac_sha512_update(crypto_hmac_sha512_ctx *ctx, const uint8_t *data, size_t len) {
    ARG_CHECK(ctx != NULL);
    ARG_CHECK(data != NULL || len == 0);
    if (len == 0) return OS_OK;
    VERIFY_CHECK(mbedtls_sha512_update_ret(&ctx->inner, data, len) == 0);
    return OS_OK;
}

int crypto_hmac_sha512_final(crypto_hmac_sha512_ctx *ctx, uint8_t out[64]) {
    uint8_t inner_hash[SHA512_LEN];
    int rc = OS_OK;
    ARG_CHECK(ctx != NULL);
    ARG_CHECK(out != NULL);
    if (mbedtls_sha512_finish_ret(&ctx->inner, inner_hash) != 0 ||
        mbedtls_sha512_update_ret(&ctx->outer, inner_hash, sizeof(inner_hash)) != 0 ||
        mbedtls_sha512_finish_ret(&ctx->outer, out) != 0) {
        rc = OS_ERR_INTERNAL;
    }
    crypto_wipe(inner_hash, sizeof(inner_hash));
    mbedtls_sha512_free(&ctx->inner);    /* zeroizes */
    mbedtls_sha512_free(&ctx->outer);
    return rc;
}

int crypto_hmac_sha512(const uint8_t *key, size_t key_len, const uint8_t *data, size_t len,
                       uint8_t out[64]) {
    crypto_hmac_sha512_ctx ctx;
    int rc;
    ARG_CHECK(out != NULL);
    ARG_CHECK(data != NULL || len == 0);
    CHECK_OK(crypto_hmac_sha512_init(&ctx, key, key_len));
    rc = crypto_hmac_sha512_update(&ctx, data, len);
    if (rc != OS_OK) {
        mbedtls_sha512_free(&ctx.inner);
        mbedtls_sha512_free(&ctx.outer);
        return rc;
    }
    return crypto_hmac_sha512_final(&ctx, out);
}

/* ------------------------------------------------------------------ PBKDF2-HMAC-SHA512 */

/* One HMAC of a || b || c from the keyed state in base, which stays untouched for the next call
 * (cloning the keyed state saves the two key-block compressions per HMAC). */
static int hmac_from_keyed(const crypto_hmac_sha512_ctx *base, crypto_hmac_sha512_ctx *work,
                           const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                           const uint8_t *c, size_t c_len, uint8_t out[64]) {
    int rc;
    mbedtls_sha512_init(&work->inner);
    mbedtls_sha512_init(&work->outer);
    mbedtls_sha512_clone(&work->inner, &base->inner);
    mbedtls_sha512_clone(&work->outer, &base->outer);
    rc = crypto_hmac_sha512_update(work, a, a_len);
    if (rc == OS_OK) rc = crypto_hmac_sha512_update(work, b, b_len);
    if (rc == OS_OK) rc = crypto_hmac_sha512_update(work, c, c_len);
    if (rc != OS_OK) {
        mbedtls_sha512_free(&work->inner);
        mbedtls_sha512_free(&work->outer);
        return rc;
    }
    return crypto_hmac_sha512_final(work, out);
}

int crypto_pbkdf2_hmac_sha512(const uint8_t *password, size_t password_len,
                              const uint8_t *salt1, size_t salt1_len,
                              const uint8_t *salt2, size_t salt2_len,
                              uint32_t iterations, uint8_t *out, size_t out_len) {
    crypto_hmac_sha512_ctx base, work;
    uint8_t u[SHA512_LEN], t[SHA512_LEN];
    size_t done = 0;
    uint32_t block = 1, iter;
    int rc = OS_OK;
    ARG_CHECK(password != NULL || password_len == 0);
    ARG_CHECK(salt1 != NULL || salt1_len == 0);
    ARG_CHECK(salt2 != NULL || salt2_len == 0);
    ARG_CHECK(out != NULL);
    ARG_CHECK(iterations >= 1);
    ARG_CHECK(out_len >= 1 && out_len <= (size_t)SHA512_LEN * PBKDF2_MAX_BLOCKS);

    CHECK_OK(crypto_hmac_sha512_init(&base, password, password_len));
    while (rc == OS_OK && done < out_len) {
        uint8_t be_block[4];
        size_t take = out_len - done < SHA512_LEN ? out_len - done : SHA512_LEN, k;
        be_block[0] = (uint8_t)(block >> 24);
        be_block[1] = (uint8_t)(block >> 16);
        be_block[2] = (uint8_t)(block >> 8);
        be_block[3] = (uint8_t)block;
        /* U_1 = PRF(P, S || INT(i)); U_j = PRF(P, U_{j-1}); T_i = U_1 ^ ... ^ U_c */
        rc = hmac_from_keyed(&base, &work, salt1, salt1_len, salt2, salt2_len, be_block,
                             sizeof(be_block), u);
        if (rc != OS_OK) break;
        memcpy(t, u, sizeof(t));
        for (iter = 1; iter < iterations && rc == OS_OK; iter++) {
            rc = hmac_from_keyed(&base, &work, u, sizeof(u), NULL, 0, NULL, 0, u);
            for (k = 0; k < sizeof(t); k++) t[k] ^= u[k];
        }
        if (rc != OS_OK) break;
        memcpy(out + done, t, take);
        done += take;
        block++;
    }
    mbedtls_sha512_free(&base.inner);
    mbedtls_sha512_free(&base.outer);
    crypto_wipe(u, sizeof(u));
    crypto_wipe(t, sizeof(t));
    if (rc != OS_OK) crypto_wipe(out, out_len);
    return rc;
}

/* ------------------------------------------------------------------ keys and signatures */

int crypto_seckey_valid(const uint8_t priv[32]) {
    if (secp_ctx == NULL || priv == NULL) return 0;
    return secp256k1_ec_seckey_verify(secp_ctx, priv) == 1;
}

int crypto_pubkey_from_priv(const uint8_t priv[32], uint8_t pub33[33]) {
    secp256k1_pubkey pub;
    size_t len = 33;
    ARG_CHECK(priv != NULL && pub33 != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;
    if (!secp256k1_ec_pubkey_create(secp_ctx, &pub, priv)) return OS_ERR_CRYPTO;
    VERIFY_CHECK(secp256k1_ec_pubkey_serialize(secp_ctx, pub33, &len, &pub,
                                               SECP256K1_EC_COMPRESSED) == 1 && len == 33);
    return OS_OK;
}

int crypto_ecdsa_sign(const uint8_t priv[32], const uint8_t pub33[33], const uint8_t hash[32],
                      uint8_t *der, size_t *der_len) {
    secp256k1_ecdsa_signature sig;
    secp256k1_pubkey pub;
    uint8_t buf[CRYPTO_DER_MAX];
    size_t len = sizeof(buf);
    int rc = OS_OK;
    ARG_CHECK(priv != NULL && pub33 != NULL && hash != NULL && der != NULL && der_len != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;

    /* NULL nonce function: RFC 6979 with HMAC-SHA256; libsecp256k1 always emits low-S. */
    if (!secp256k1_ec_pubkey_parse(secp_ctx, &pub, pub33, 33) ||
        !secp256k1_ecdsa_sign(secp_ctx, &sig, hash, priv, NULL, NULL)) {
        rc = OS_ERR_CRYPTO;
    } else if (secp256k1_ecdsa_verify(secp_ctx, &sig, hash, &pub) != 1) {
        rc = OS_ERR_INTERNAL;
    } else if (secp256k1_ecdsa_signature_serialize_der(secp_ctx, buf, &len, &sig) != 1) {
        rc = OS_ERR_INTERNAL;
    } else if (len > *der_len) {
        rc = OS_ERR_BUFFER;
    } else {
        memcpy(der, buf, len);
        *der_len = len;
    }
    crypto_wipe(&sig, sizeof(sig));
    crypto_wipe(buf, sizeof(buf));
    return rc;
}

int crypto_ecdsa_verify(const uint8_t pub33[33], const uint8_t hash[32], const uint8_t *der,
                        size_t der_len) {
    secp256k1_ecdsa_signature sig;
    secp256k1_pubkey pub;
    ARG_CHECK(pub33 != NULL && hash != NULL && der != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;
    if (pub33[0] != 0x02 && pub33[0] != 0x03) return OS_ERR_CRYPTO;
    if (!secp256k1_ec_pubkey_parse(secp_ctx, &pub, pub33, 33)) return OS_ERR_CRYPTO;
    if (der_len == 0 || der_len > CRYPTO_DER_MAX) return OS_ERR_CRYPTO;
    if (!secp256k1_ecdsa_signature_parse_der(secp_ctx, &sig, der, der_len)) return OS_ERR_CRYPTO;
    return secp256k1_ecdsa_verify(secp_ctx, &sig, hash, &pub) == 1 ? OS_OK : OS_ERR_CRYPTO;
}

int crypto_schnorr_key_load(const uint8_t priv[32], crypto_schnorr_key *key) {
    ARG_CHECK(priv != NULL && key != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;
    if (!secp256k1_keypair_create(secp_ctx, &key->keypair, priv) ||
        !secp256k1_keypair_xonly_pub(secp_ctx, &key->xonly, NULL, &key->keypair)) {
        crypto_schnorr_key_wipe(key);
        return OS_ERR_CRYPTO;
    }
    return OS_OK;
}

int crypto_schnorr_key_xonly(const crypto_schnorr_key *key, uint8_t xonly32[32]) {
    ARG_CHECK(key != NULL && xonly32 != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;
    return secp256k1_xonly_pubkey_serialize(secp_ctx, xonly32, &key->xonly) ? OS_OK : OS_ERR_INTERNAL;
}

void crypto_schnorr_key_wipe(crypto_schnorr_key *key) {
    if (key != NULL) crypto_wipe(key, sizeof(*key));
}

int crypto_schnorr_sign(const crypto_schnorr_key *key, const uint8_t msg32[32], const uint8_t aux32[32],
                        uint8_t sig64[64]) {
    int rc = OS_OK;
    ARG_CHECK(key != NULL && msg32 != NULL && aux32 != NULL && sig64 != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;
    if (!secp256k1_schnorrsig_sign32(secp_ctx, sig64, msg32, &key->keypair, aux32) ||
        secp256k1_schnorrsig_verify(secp_ctx, sig64, msg32, 32, &key->xonly) != 1) {
        rc = OS_ERR_INTERNAL;
    }
    if (rc != OS_OK) crypto_wipe(sig64, 64);
    return rc;
}

int crypto_schnorr_verify(const uint8_t xonly32[32], const uint8_t msg32[32],
                          const uint8_t sig64[64]) {
    secp256k1_xonly_pubkey xonly;
    ARG_CHECK(xonly32 != NULL && msg32 != NULL && sig64 != NULL);
    if (secp_ctx == NULL) return OS_ERR_NOT_INITIALIZED;
    if (!secp256k1_xonly_pubkey_parse(secp_ctx, &xonly, xonly32)) return OS_ERR_CRYPTO;
    return secp256k1_schnorrsig_verify(secp_ctx, sig64, msg32, 32, &xonly) == 1 ? OS_OK
                                                                                : OS_ERR_CRYPTO;
}

int crypto_xonly_from_priv(const uint8_t priv[32], uint8_t xonly32[32]) {
    crypto_schnorr_key key;
    int rc;
    ARG_CHECK(priv != NULL && xonly32 != NULL);
    rc = crypto_schnorr_key_load(priv, &key);
    if (rc == OS_OK) rc = crypto_schnorr_key_xonly(&key, xonly32);
    crypto_schnorr_key_wipe(&key);
    return rc;
}
