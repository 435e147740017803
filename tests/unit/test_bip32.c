/* Tests of firmware/bip32.c: BIP32 test vectors 1-3 (xprv and xpub at every path), the testnet
 * (tprv/tpub) serializations of vector 1, public derivation, parsing and its refusals
 * (tests/vectors/bip32.json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "address.h"
#include "bip32.h"
#include "crypto.h"
#include "test_util.h"

/* "m/0H/1/2147483647H" -> indices; returns the depth. */
static size_t parse_path(const char *s, uint32_t *path, size_t cap) {
    size_t n = 0;
    assert_int_equal(s[0], 'm');
    s++;
    while (*s == '/') {
        char *end;
        unsigned long v = strtoul(s + 1, &end, 10);
        assert_true(n < cap);
        if (*end == 'H') {
            v += BIP32_HARDENED;
            end++;
        }
        path[n++] = (uint32_t)v;
        s = end;
    }
    assert_int_equal(*s, '\0');
    return n;
}

static void encode(const bip32_node *node, uint32_t version, char *out, size_t cap) {
    uint8_t ser[78];
    assert_int_equal(bip32_serialize(node, version, ser), OS_OK);
    assert_int_equal(base58check_encode(ser, sizeof(ser), out, cap), OS_OK);
}

static void decode(const char *b58, uint32_t *version, bip32_node *node) {
    uint8_t ser[100];
    size_t len = 0;
    assert_int_equal(base58check_decode(b58, ser, sizeof(ser), &len), OS_OK);
    assert_int_equal(len, 78);
    assert_int_equal(bip32_parse(ser, version, node), OS_OK);
}

static void assert_same_public(const bip32_node *a, const bip32_node *b) {
    assert_int_equal(a->depth, b->depth);
    assert_memory_equal(a->parent_fingerprint, b->parent_fingerprint, 4);
    assert_int_equal(a->child_number, b->child_number);
    assert_memory_equal(a->chain_code, b->chain_code, 32);
    assert_memory_equal(a->public_key, b->public_key, 33);
}

static json_t *load(void) {
    json_error_t err;
    json_t *root = json_load_file("tests/vectors/bip32.json", 0, &err);
    if (root == NULL) fail_msg("bip32.json: %s", err.text);
    return root;
}

static void test_vectors_1_to_3(void **state) {
    json_t *root = load(), *vectors = json_object_get(root, "vectors"), *vec, *chain;
    size_t vi, ci, checked = 0;
    (void)state;
    assert_int_equal(json_array_size(vectors), 3);
    json_array_foreach(vectors, vi, vec) {
        uint8_t seed[64];
        size_t seed_len = test_unhex(json_string_value(json_object_get(vec, "seed")), seed, sizeof(seed));
        bip32_node master;
        assert_int_equal(bip32_from_seed(seed, seed_len, &master), OS_OK);
        json_array_foreach(json_object_get(vec, "chains"), ci, chain) {
            uint32_t path[8], version;
            size_t depth = parse_path(json_string_value(json_object_get(chain, "path")), path, 8);
            bip32_node node, parsed, pub_parent, pub_child;
            char b58[120];

            assert_int_equal(bip32_derive_path(&master, path, depth, &node), OS_OK);
            encode(&node, BIP32_VERSION_XPRV, b58, sizeof(b58));
            assert_string_equal(b58, json_string_value(json_object_get(chain, "xprv")));
            encode(&node, BIP32_VERSION_XPUB, b58, sizeof(b58));
            assert_string_equal(b58, json_string_value(json_object_get(chain, "xpub")));

            /* parse both strings back */
            decode(json_string_value(json_object_get(chain, "xprv")), &version, &parsed);
            assert_int_equal(version, BIP32_VERSION_XPRV);
            assert_int_equal(parsed.has_private, 1);
            assert_memory_equal(parsed.private_key, node.private_key, 32);
            assert_same_public(&parsed, &node);
            decode(json_string_value(json_object_get(chain, "xpub")), &version, &parsed);
            assert_int_equal(version, BIP32_VERSION_XPUB);
            assert_int_equal(parsed.has_private, 0);
            assert_same_public(&parsed, &node);

            /* the last step's private key alone (hardened or not) is the same key */
            if (depth > 0) {
                bip32_node parent;
                uint8_t key[32];
                assert_int_equal(bip32_derive_path(&master, path, depth - 1, &parent), OS_OK);
                assert_int_equal(bip32_derive_private_key(&parent, path[depth - 1], key), OS_OK);
                assert_memory_equal(key, node.private_key, 32);
                bip32_neuter(&parent);
                memset(key, 0x55, sizeof(key));
                assert_int_equal(bip32_derive_private_key(&parent, path[depth - 1], key), OS_ERR_ARG);
                bip32_wipe(&parent);
            }

            /* a non-hardened last step can also be taken from the parent's public node */
            if (depth > 0 && path[depth - 1] < BIP32_HARDENED) {
                assert_int_equal(bip32_derive_path(&master, path, depth - 1, &pub_parent), OS_OK);
                bip32_neuter(&pub_parent);
                assert_int_equal(bip32_derive_child(&pub_parent, path[depth - 1], &pub_child), OS_OK);
                assert_int_equal(pub_child.has_private, 0);
                assert_same_public(&pub_child, &node);
                encode(&pub_child, BIP32_VERSION_XPUB, b58, sizeof(b58));
                assert_string_equal(b58, json_string_value(json_object_get(chain, "xpub")));
            }
            bip32_wipe(&node);
            checked++;
        }
        bip32_wipe(&master);
    }
    assert_int_equal(checked, 14);
    json_decref(root);
}

static void test_testnet_serialization(void **state) {
    json_t *root = load(), *tn = json_object_get(root, "testnet"), *chain;
    uint8_t seed[64];
    size_t seed_len = test_unhex(json_string_value(json_object_get(tn, "seed")), seed, sizeof(seed)), ci;
    bip32_node master;
    (void)state;
    assert_int_equal(bip32_from_seed(seed, seed_len, &master), OS_OK);
    json_array_foreach(json_object_get(tn, "chains"), ci, chain) {
        uint32_t path[8], from[8], version;
        size_t depth = parse_path(json_string_value(json_object_get(chain, "path")), path, 8);
        const char *tprv = json_string_value(json_object_get(chain, "tprv"));
        const char *tpub = json_string_value(json_object_get(chain, "tpub"));
        const char *public_from = json_string_value(json_object_get(chain, "public_from"));
        bip32_node node, parsed;
        char b58[120];
        if (public_from != NULL) {
            size_t from_depth = parse_path(public_from, from, 8);
            bip32_node base;
            assert_int_equal(bip32_derive_path(&master, from, from_depth, &base), OS_OK);
            bip32_neuter(&base);
            assert_int_equal(bip32_derive_path(&base, path + from_depth, depth - from_depth, &node), OS_OK);
            assert_int_equal(node.has_private, 0);
        } else {
            assert_int_equal(bip32_derive_path(&master, path, depth, &node), OS_OK);
        }
        if (tprv != NULL) {
            encode(&node, BIP32_VERSION_TPRV, b58, sizeof(b58));
            assert_string_equal(b58, tprv);
            decode(tprv, &version, &parsed);
            assert_int_equal(version, BIP32_VERSION_TPRV);
            assert_memory_equal(parsed.private_key, node.private_key, 32);
        }
        if (tpub != NULL) {
            encode(&node, BIP32_VERSION_TPUB, b58, sizeof(b58));
            assert_string_equal(b58, tpub);
            decode(tpub, &version, &parsed);
            assert_int_equal(version, BIP32_VERSION_TPUB);
            assert_same_public(&parsed, &node);
        }
        /* the network table names these versions for testnet and regtest */
        assert_int_equal(address_network(OS_NET_TEST)->xprv_version, BIP32_VERSION_TPRV);
        assert_int_equal(address_network(OS_NET_REGTEST)->xpub_version, BIP32_VERSION_TPUB);
        bip32_wipe(&node);
    }
    bip32_wipe(&master);
    json_decref(root);
}

static void master_of_vector1(bip32_node *m) {
    uint8_t seed[16];
    test_unhex("000102030405060708090a0b0c0d0e0f", seed, sizeof(seed));
    assert_int_equal(bip32_from_seed(seed, sizeof(seed), m), OS_OK);
}

static void test_fingerprint_and_neuter(void **state) {
    bip32_node m, child;
    uint8_t fp[4], want[4] = {0x34, 0x42, 0x19, 0x3e};   /* vector 1: m's fingerprint */
    size_t i;
    (void)state;
    master_of_vector1(&m);
    bip32_fingerprint(&m, fp);
    assert_memory_equal(fp, want, 4);
    assert_int_equal(bip32_derive_child(&m, BIP32_HARDENED, &child), OS_OK);
    assert_memory_equal(child.parent_fingerprint, want, 4);
    assert_int_equal(child.depth, 1);
    assert_int_equal(child.child_number, BIP32_HARDENED);

    bip32_neuter(&child);
    assert_int_equal(child.has_private, 0);
    for (i = 0; i < 32; i++) assert_int_equal(child.private_key[i], 0);
    /* hardened derivation needs the private key */
    assert_int_equal(bip32_derive_child(&child, BIP32_HARDENED + 1, &m), OS_ERR_ARG);
    /* a private version for a public node is refused */
    {
        uint8_t ser[78];
        assert_int_equal(bip32_serialize(&child, BIP32_VERSION_XPRV, ser), OS_ERR_ARG);
        assert_int_equal(bip32_serialize(&child, BIP32_VERSION_XPUB, ser), OS_OK);
    }
    bip32_wipe(&child);
    for (i = 0; i < sizeof(child); i++) assert_int_equal(((uint8_t *)&child)[i], 0);
    bip32_neuter(NULL);
    bip32_wipe(NULL);
}

static void test_aliasing_and_limits(void **state) {
    bip32_node m, a, b;
    uint32_t path[2] = {BIP32_HARDENED, 1};
    (void)state;
    master_of_vector1(&m);
    assert_int_equal(bip32_derive_path(&m, path, 2, &a), OS_OK);
    b = m;
    assert_int_equal(bip32_derive_child(&b, BIP32_HARDENED, &b), OS_OK);   /* out == parent */
    assert_int_equal(bip32_derive_child(&b, 1, &b), OS_OK);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(bip32_derive_path(&m, NULL, 0, &b), OS_OK);
    assert_memory_equal(&b, &m, sizeof(m));
    assert_int_equal(bip32_derive_path(&m, NULL, 1, &b), OS_ERR_ARG);

    m.depth = 255;
    assert_int_equal(bip32_derive_child(&m, 0, &b), OS_ERR_ARG);
    m.depth = 254;
    assert_int_equal(bip32_derive_path(&m, path, 2, &b), OS_ERR_ARG);
    {
        uint8_t seed[65] = {0};
        assert_int_equal(bip32_from_seed(seed, 15, &b), OS_ERR_ARG);
        assert_int_equal(bip32_from_seed(seed, 65, &b), OS_ERR_ARG);
    }
}

/* Invalid serializations in the manner of BIP32 test vector 5, made from vector 1's m. */
static void test_parse_refusals(void **state) {
    bip32_node m, out;
    uint8_t good_prv[78], good_pub[78], bad[78];
    uint32_t version;
    (void)state;
    master_of_vector1(&m);
    assert_int_equal(bip32_serialize(&m, BIP32_VERSION_XPRV, good_prv), OS_OK);
    assert_int_equal(bip32_serialize(&m, BIP32_VERSION_XPUB, good_pub), OS_OK);
    assert_int_equal(bip32_parse(good_prv, &version, &out), OS_OK);
    assert_int_equal(bip32_parse(good_pub, &version, &out), OS_OK);

    /* pubkey version / prvkey mismatch, and the reverse */
    memcpy(bad, good_prv, 78);
    bad[0] = 0x04; bad[1] = 0x88; bad[2] = 0xB2; bad[3] = 0x1E;
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    memcpy(bad, good_pub, 78);
    bad[0] = 0x04; bad[1] = 0x88; bad[2] = 0xAD; bad[3] = 0xE4;
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    /* invalid key prefixes */
    memcpy(bad, good_pub, 78);
    bad[45] = 0x04;
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    memcpy(bad, good_prv, 78);
    bad[45] = 0x01;
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    /* private key 0 and n */
    memcpy(bad, good_prv, 78);
    memset(bad + 46, 0, 32);
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    test_unhex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", bad + 46, 32);
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    /* public key not on the curve (x above the field size) */
    memcpy(bad, good_pub, 78);
    memset(bad + 46, 0xff, 32);
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    /* depth 0 with a parent fingerprint, depth 0 with a child number */
    memcpy(bad, good_pub, 78);
    bad[5] = 1;
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    memcpy(bad, good_pub, 78);
    bad[12] = 1;
    assert_int_equal(bip32_parse(bad, &version, &out), OS_ERR_ARG);
    /* on failure out is wiped */
    {
        size_t i;
        for (i = 0; i < sizeof(out); i++) assert_int_equal(((uint8_t *)&out)[i], 0);
    }
    bip32_wipe(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_1_to_3),
        cmocka_unit_test(test_testnet_serialization),
        cmocka_unit_test(test_fingerprint_and_neuter),
        cmocka_unit_test(test_aliasing_and_limits),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, test_crypto_setup, NULL);
}
