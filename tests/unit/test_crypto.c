/* Tests of firmware/crypto.c: hashes and HMAC/PBKDF2 against RFC vectors and against mbedtls' own
 * HMAC and PBKDF2, ECDSA against the published RFC 6979 secp256k1 vectors
 * (tests/vectors/rfc6979.json), BIP340 against bitcoin/bips' test vectors (tests/vectors/bip340.csv). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <secp256k1.h>

#include "crypto.h"
#include "test_util.h"

static void ensure_init(void) {
    static const uint8_t seed[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                     17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    assert_int_equal(crypto_init(seed), OS_OK);
    assert_non_null(crypto_ctx());
}

/* Must run first: nothing has called crypto_init yet in this process. */
static void test_before_init(void **state) {
    uint8_t priv[32] = {0}, pub[33], xonly[32], sig[64], der[72], h[32] = {0};
    size_t der_len = sizeof(der);
    (void)state;
    priv[31] = 1;
    assert_null(crypto_ctx());
    assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_ERR_NOT_INITIALIZED);
    crypto_schnorr_key key;
    memset(pub, 0x02, sizeof(pub));
    memset(&key, 0, sizeof(key));
    assert_int_equal(crypto_ecdsa_sign(priv, pub, h, der, &der_len), OS_ERR_NOT_INITIALIZED);
    assert_int_equal(crypto_schnorr_key_load(priv, &key), OS_ERR_NOT_INITIALIZED);
    assert_int_equal(crypto_schnorr_sign(&key, h, h, sig), OS_ERR_NOT_INITIALIZED);
    assert_int_equal(crypto_xonly_from_priv(priv, xonly), OS_ERR_NOT_INITIALIZED);
    assert_int_equal(crypto_seckey_valid(priv), 0);
    assert_int_equal(crypto_init(NULL), OS_ERR_ARG);
    assert_null(crypto_ctx());
}

static void test_init_idempotent(void **state) {
    const secp256k1_context *first;
    uint8_t other[32];
    (void)state;
    ensure_init();
    first = crypto_ctx();
    memset(other, 0x5a, sizeof(other));
    assert_int_equal(crypto_init(other), OS_OK);   /* re-randomizes only */
    assert_ptr_equal(crypto_ctx(), first);
}

static void test_hashes(void **state) {
    uint8_t out[64], want[64];
    (void)state;
    /* FIPS 180-2 "abc" */
    crypto_sha256((const uint8_t *)"abc", 3, out);
    test_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, sizeof(want));
    assert_memory_equal(out, want, 32);
    crypto_sha512((const uint8_t *)"abc", 3, out);
    test_unhex("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
          "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f", want, sizeof(want));
    assert_memory_equal(out, want, 64);
    /* SHA256d("abc") = SHA256(SHA256("abc")) */
    {
        uint8_t once[32], twice[32];
        crypto_sha256((const uint8_t *)"abc", 3, once);
        crypto_sha256(once, 32, twice);
        crypto_sha256d((const uint8_t *)"abc", 3, out);
        assert_memory_equal(out, twice, 32);
    }
    /* HASH160 of the empty string and of the generator point (secp256k1 key 1) */
    crypto_hash160(NULL, 0, out);
    test_unhex("b472a266d0bd89c13706a4132ccfb16f7c3b9fcb", want, sizeof(want));
    assert_memory_equal(out, want, 20);
    test_unhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", want, sizeof(want));
    crypto_hash160(want, 33, out);
    test_unhex("751e76e8199196d454941c45d1b3a323f1433bd6", want, sizeof(want));
    assert_memory_equal(out, want, 20);
}

/* RFC 4231 test cases 1, 2 and 6 (the last one has a key longer than the block). */
static void test_hmac_rfc4231(void **state) {
    uint8_t key[131], out[64], want[64];
    (void)state;
    memset(key, 0x0b, 20);
    assert_int_equal(crypto_hmac_sha512(key, 20, (const uint8_t *)"Hi There", 8, out), OS_OK);
    test_unhex("87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
          "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854", want, sizeof(want));
    assert_memory_equal(out, want, 64);

    assert_int_equal(crypto_hmac_sha512((const uint8_t *)"Jefe", 4,
                                        (const uint8_t *)"what do ya want for nothing?", 28, out), OS_OK);
    test_unhex("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
          "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737", want, sizeof(want));
    assert_memory_equal(out, want, 64);

    memset(key, 0xaa, sizeof(key));
    {
        static const char msg[] = "Test Using Larger Than Block-Size Key - Hash Key First";
        assert_int_equal(crypto_hmac_sha512(key, sizeof(key), (const uint8_t *)msg, sizeof(msg) - 1, out),
                         OS_OK);
    }
    test_unhex("80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
          "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598", want, sizeof(want));
    assert_memory_equal(out, want, 64);

    assert_int_equal(crypto_hmac_sha512(key, 1, NULL, 5, out), OS_ERR_ARG);
    assert_int_equal(crypto_hmac_sha512(key, 1, key, 5, NULL), OS_ERR_ARG);
}

/* The heap-free HMAC and PBKDF2 must agree with mbedtls' own (heap-using) ones. */
static void test_hmac_pbkdf2_match_mbedtls(void **state) {
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
    uint8_t key[300], msg[257], ours[128], theirs[128];
    size_t klen, mlen;
    (void)state;
    for (klen = 0; klen < sizeof(key); klen++) key[klen] = (uint8_t)(klen * 7 + 3);
    for (mlen = 0; mlen < sizeof(msg); mlen++) msg[mlen] = (uint8_t)(mlen * 13 + 1);

    for (klen = 0; klen <= 300; klen += 29) {
        for (mlen = 0; mlen <= 257; mlen += 64) {
            assert_int_equal(crypto_hmac_sha512(key, klen, msg, mlen, ours), OS_OK);
            assert_int_equal(mbedtls_md_hmac(md, key, klen, msg, mlen, theirs), 0);
            assert_memory_equal(ours, theirs, 64);
        }
    }
    /* incremental == one shot */
    {
        crypto_hmac_sha512_ctx ctx;
        assert_int_equal(crypto_hmac_sha512_init(&ctx, key, 40), OS_OK);
        assert_int_equal(crypto_hmac_sha512_update(&ctx, msg, 10), OS_OK);
        assert_int_equal(crypto_hmac_sha512_update(&ctx, msg + 10, 150), OS_OK);
        assert_int_equal(crypto_hmac_sha512_final(&ctx, ours), OS_OK);
        assert_int_equal(crypto_hmac_sha512(key, 40, msg, 160, theirs), OS_OK);
        assert_memory_equal(ours, theirs, 64);
    }
    /* PBKDF2: split salt, several iteration counts, one and two output blocks */
    {
        static const uint32_t iters[] = {1, 2, 3, 100};
        static const size_t outs[] = {1, 32, 64, 65, 128};
        size_t i, j;
        mbedtls_md_context_t mctx;
        for (i = 0; i < sizeof(iters) / sizeof(iters[0]); i++) {
            for (j = 0; j < sizeof(outs) / sizeof(outs[0]); j++) {
                mbedtls_md_init(&mctx);
                assert_int_equal(mbedtls_md_setup(&mctx, md, 1), 0);
                assert_int_equal(mbedtls_pkcs5_pbkdf2_hmac(&mctx, key, 20, msg, 30, iters[i],
                                                           (uint32_t)outs[j], theirs), 0);
                mbedtls_md_free(&mctx);
                assert_int_equal(crypto_pbkdf2_hmac_sha512(key, 20, msg, 12, msg + 12, 18, iters[i],
                                                           ours, outs[j]), OS_OK);
                assert_memory_equal(ours, theirs, outs[j]);
            }
        }
    }
    assert_int_equal(crypto_pbkdf2_hmac_sha512(key, 1, msg, 1, NULL, 0, 0, ours, 64), OS_ERR_ARG);
    assert_int_equal(crypto_pbkdf2_hmac_sha512(key, 1, msg, 1, NULL, 0, 1, ours, 0), OS_ERR_ARG);
    assert_int_equal(crypto_pbkdf2_hmac_sha512(key, 1, msg, 1, NULL, 3, 1, ours, 64), OS_ERR_ARG);
}

static void test_ct_equal_and_wipe(void **state) {
    uint8_t a[40], b[40];
    size_t i;
    (void)state;
    memset(a, 0x11, sizeof(a));
    memcpy(b, a, sizeof(b));
    assert_int_equal(crypto_ct_equal(a, b, sizeof(a)), 1);
    assert_int_equal(crypto_ct_equal(a, b, 0), 1);
    for (i = 0; i < sizeof(b); i++) {
        b[i] ^= 0x80;
        assert_int_equal(crypto_ct_equal(a, b, sizeof(a)), 0);
        b[i] ^= 0x80;
    }
    crypto_wipe(a, sizeof(a));
    for (i = 0; i < sizeof(a); i++) assert_int_equal(a[i], 0);
    crypto_wipe(NULL, 0);
}

static void test_keys(void **state) {
    uint8_t priv[32], pub[33], want[33];
    (void)state;
    ensure_init();
    memset(priv, 0, sizeof(priv));
    assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_ERR_CRYPTO);   /* zero */
    assert_int_equal(crypto_seckey_valid(priv), 0);
    priv[31] = 1;
    assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_OK);
    test_unhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798", want, sizeof(want));
    assert_memory_equal(pub, want, 33);
    /* the group order n is not a valid key */
    test_unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", priv, sizeof(priv));
    assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_ERR_CRYPTO);
    assert_int_equal(crypto_seckey_valid(priv), 0);
    assert_int_equal(crypto_pubkey_from_priv(NULL, pub), OS_ERR_ARG);
}

static json_t *load_json(const char *path) {
    json_error_t err;
    json_t *root = json_load_file(path, 0, &err);
    if (root == NULL) fail_msg("%s:%d: %s", path, err.line, err.text);
    return root;
}

/* Converts a compact (r||s) signature with s replaced by n - s to DER, to test the high-S refusal. */
static size_t high_s_der(const uint8_t *der, size_t der_len, uint8_t *out, size_t cap) {
    static const uint8_t n[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                  0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    secp256k1_ecdsa_signature sig;
    uint8_t compact[64];
    int i, borrow = 0;
    size_t len = cap;
    assert_true(secp256k1_ecdsa_signature_parse_der(crypto_ctx(), &sig, der, der_len));
    assert_true(secp256k1_ecdsa_signature_serialize_compact(crypto_ctx(), compact, &sig));
    for (i = 31; i >= 0; i--) {
        int d = (int)n[i] - (int)compact[32 + i] - borrow;
        borrow = d < 0;
        compact[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    assert_true(secp256k1_ecdsa_signature_parse_compact(crypto_ctx(), &sig, compact));
    assert_true(secp256k1_ecdsa_signature_serialize_der(crypto_ctx(), out, &len, &sig));
    return len;
}

static void test_rfc6979_vectors(void **state) {
    json_t *root, *vectors, *v;
    size_t i;
    (void)state;
    ensure_init();
    root = load_json("tests/vectors/rfc6979.json");
    vectors = json_object_get(root, "vectors");
    assert_true(json_array_size(vectors) >= 6);
    json_array_foreach(vectors, i, v) {
        uint8_t priv[32], hash[32], want[80], der[80], pub[33], bad[80];
        size_t want_len, der_len = sizeof(der), bad_len;
        const char *msg = json_string_value(json_object_get(v, "msg"));
        test_unhex(json_string_value(json_object_get(v, "priv")), priv, sizeof(priv));
        want_len = test_unhex(json_string_value(json_object_get(v, "der")), want, sizeof(want));
        crypto_sha256((const uint8_t *)msg, strlen(msg), hash);

        assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_OK);
        assert_int_equal(crypto_ecdsa_sign(priv, pub, hash, der, &der_len), OS_OK);
        assert_int_equal(der_len, want_len);
        assert_memory_equal(der, want, want_len);

        assert_int_equal(crypto_ecdsa_verify(pub, hash, der, der_len), OS_OK);
        hash[0] ^= 1;
        assert_int_equal(crypto_ecdsa_verify(pub, hash, der, der_len), OS_ERR_CRYPTO);
        hash[0] ^= 1;
        bad_len = high_s_der(der, der_len, bad, sizeof(bad));
        assert_int_equal(crypto_ecdsa_verify(pub, hash, bad, bad_len), OS_ERR_CRYPTO);
        memcpy(bad, der, der_len);
        bad[der_len - 1] ^= 0x01;
        assert_int_equal(crypto_ecdsa_verify(pub, hash, bad, der_len), OS_ERR_CRYPTO);
        assert_int_equal(crypto_ecdsa_verify(pub, hash, der, der_len - 1), OS_ERR_CRYPTO);

        /* capacity below the encoding's length */
        der_len = want_len - 1;
        assert_int_equal(crypto_ecdsa_sign(priv, pub, hash, der, &der_len), OS_ERR_BUFFER);
    }
    json_decref(root);
}

static void test_ecdsa_errors(void **state) {
    uint8_t priv[32] = {0}, hash[32] = {0}, der[72], pub[33], other[33];
    size_t der_len = sizeof(der);
    (void)state;
    ensure_init();
    other[0] = 0x02;
    memset(other + 1, 0x79, 32);
    assert_int_equal(crypto_ecdsa_sign(priv, other, hash, der, &der_len), OS_ERR_CRYPTO);   /* zero key */
    priv[31] = 7;
    assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_OK);
    assert_int_equal(crypto_ecdsa_sign(priv, pub, hash, der, NULL), OS_ERR_ARG);
    assert_int_equal(crypto_ecdsa_sign(priv, NULL, hash, der, &der_len), OS_ERR_ARG);
    /* a public key that is not priv's: the signature is made but fails its check, nothing leaves */
    priv[31] = 8;
    assert_int_equal(crypto_pubkey_from_priv(priv, other), OS_OK);
    priv[31] = 7;
    memset(der, 0xAA, sizeof(der));
    assert_int_equal(crypto_ecdsa_sign(priv, other, hash, der, &der_len), OS_ERR_INTERNAL);
    assert_int_equal(der[0], 0xAA);
    assert_int_equal(der_len, sizeof(der));
    other[1] ^= 0xFF;   /* very likely not on the curve: an invalid public key */
    if (crypto_ecdsa_verify(other, hash, der, der_len) == OS_ERR_CRYPTO) {
        int rc = crypto_ecdsa_sign(priv, other, hash, der, &der_len);
        assert_true(rc == OS_ERR_CRYPTO || rc == OS_ERR_INTERNAL);
    }
    assert_int_equal(crypto_ecdsa_sign(priv, pub, hash, der, &der_len), OS_OK);
    assert_true(der_len <= CRYPTO_DER_MAX);
    pub[0] = 0x04;
    assert_int_equal(crypto_ecdsa_verify(pub, hash, der, der_len), OS_ERR_CRYPTO);
    pub[0] = 0x02;
    memset(pub + 1, 0xff, 32);   /* x above the field size */
    assert_int_equal(crypto_ecdsa_verify(pub, hash, der, der_len), OS_ERR_CRYPTO);
}

/* One row of bip340.csv: fields split in place. */
typedef struct {
    char *index, *seckey, *pubkey, *aux, *msg, *sig, *result;
} bip340_row;

static int split_csv(char *line, bip340_row *row) {
    char *fields[8];
    int n = 0;
    char *p = line;
    fields[n++] = p;
    while (*p && n < 8) {
        if (*p == ',') {
            *p = '\0';
            fields[n++] = p + 1;
        }
        p++;
    }
    if (n < 7) return 0;
    row->index = fields[0];
    row->seckey = fields[1];
    row->pubkey = fields[2];
    row->aux = fields[3];
    row->msg = fields[4];
    row->sig = fields[5];
    row->result = fields[6];
    return 1;
}

static void test_bip340_vectors(void **state) {
    FILE *f;
    char line[1024];
    int rows = 0, signed_rows = 0;
    (void)state;
    ensure_init();
    f = fopen("tests/vectors/bip340.csv", "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));   /* header */
    while (fgets(line, sizeof(line), f) != NULL) {
        bip340_row row;
        uint8_t pub[32], msg[32], sig[64], mine[64], priv[32], aux[32], xonly[32];
        int expect_ok;
        line[strcspn(line, "\r\n")] = '\0';
        assert_true(split_csv(line, &row));
        test_unhex(row.pubkey, pub, sizeof(pub));
        test_unhex(row.msg, msg, sizeof(msg));
        test_unhex(row.sig, sig, sizeof(sig));
        expect_ok = strcmp(row.result, "TRUE") == 0;
        assert_int_equal(crypto_schnorr_verify(pub, msg, sig), expect_ok ? OS_OK : OS_ERR_CRYPTO);
        if (row.seckey[0] != '\0') {
            test_unhex(row.seckey, priv, sizeof(priv));
            test_unhex(row.aux, aux, sizeof(aux));
            crypto_schnorr_key key;
            assert_int_equal(crypto_xonly_from_priv(priv, xonly), OS_OK);
            assert_memory_equal(xonly, pub, 32);
            assert_int_equal(crypto_schnorr_key_load(priv, &key), OS_OK);
            assert_int_equal(crypto_schnorr_sign(&key, msg, aux, mine), OS_OK);
            crypto_schnorr_key_wipe(&key);
            assert_memory_equal(mine, sig, 64);
            signed_rows++;
        }
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 15);
    assert_int_equal(signed_rows, 4);
}

static void test_schnorr_round_trip(void **state) {
    uint8_t priv[32], msg[32], aux[32], sig[64], xonly[32], loaded_xonly[32];
    crypto_schnorr_key key;
    size_t k;
    int i, zero = 1;
    (void)state;
    ensure_init();
    for (i = 0; i < 8; i++) {
        memset(priv, 0x21 + i, sizeof(priv));
        memset(msg, 0x42 ^ i, sizeof(msg));
        memset(aux, i, sizeof(aux));
        assert_int_equal(crypto_xonly_from_priv(priv, xonly), OS_OK);
        assert_int_equal(crypto_schnorr_key_load(priv, &key), OS_OK);
        assert_int_equal(crypto_schnorr_key_xonly(&key, loaded_xonly), OS_OK);
        assert_memory_equal(loaded_xonly, xonly, 32);
        assert_int_equal(crypto_schnorr_sign(&key, msg, aux, sig), OS_OK);
        assert_int_equal(crypto_schnorr_verify(xonly, msg, sig), OS_OK);
        msg[5] ^= 0x10;
        assert_int_equal(crypto_schnorr_verify(xonly, msg, sig), OS_ERR_CRYPTO);
    }
    assert_int_equal(crypto_schnorr_sign(&key, msg, NULL, sig), OS_ERR_ARG);
    crypto_schnorr_key_wipe(&key);
    for (k = 0; k < sizeof(key); k++) zero &= ((const uint8_t *)&key)[k] == 0;
    assert_true(zero);
    memset(priv, 0, sizeof(priv));
    assert_int_equal(crypto_schnorr_key_load(priv, &key), OS_ERR_CRYPTO);
    assert_int_equal(crypto_xonly_from_priv(priv, xonly), OS_ERR_CRYPTO);
}

/* BIP143's P2WPKH examples (tests/vectors/node_bip143.json): the key's public key, and a
 * signature of the example sighash that verifies under it. */
static void test_bip143_keys_sign(void **state) {
    json_t *root, *v;
    size_t i;
    (void)state;
    ensure_init();
    root = load_json("tests/vectors/node_bip143.json");
    assert_true(json_array_size(root) >= 2);
    json_array_foreach(root, i, v) {
        uint8_t priv[32], pub[33], want[33], hash[32], der[72];
        size_t der_len = sizeof(der);
        test_unhex(json_string_value(json_object_get(v, "private_key")), priv, sizeof(priv));
        test_unhex(json_string_value(json_object_get(v, "public_key")), want, sizeof(want));
        test_unhex(json_string_value(json_object_get(v, "sighash")), hash, sizeof(hash));
        assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_OK);
        assert_memory_equal(pub, want, 33);
        assert_int_equal(crypto_ecdsa_sign(priv, pub, hash, der, &der_len), OS_OK);
        assert_int_equal(crypto_ecdsa_verify(pub, hash, der, der_len), OS_OK);
    }
    json_decref(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_before_init),   /* first: relies on no earlier crypto_init */
        cmocka_unit_test(test_init_idempotent),
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_hmac_rfc4231),
        cmocka_unit_test(test_hmac_pbkdf2_match_mbedtls),
        cmocka_unit_test(test_ct_equal_and_wipe),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_rfc6979_vectors),
        cmocka_unit_test(test_ecdsa_errors),
        cmocka_unit_test(test_bip340_vectors),
        cmocka_unit_test(test_schnorr_round_trip),
        cmocka_unit_test(test_bip143_keys_sign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
