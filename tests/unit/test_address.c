/* Tests of firmware/address.c against Monacoin addresses published by Electrum-MONA and Trust
 * Wallet Core (tests/vectors/monacoin_addresses.json): decode to script and re-encode, keys to
 * addresses of every script type on mainnet, testnet and regtest, full BIP39 -> BIP32 -> BIP44/49/84
 * wallets, refusals (wrong network, checksum, case, bech32m), and the BIP143 example scripts
 * (tests/vectors/node_bip143.json). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "address.h"
#include "bip32.h"
#include "bip39.h"
#include "crypto.h"
#include "test_util.h"

#define VERSION_YPUB 0x049d7cb2u   /* BIP49 account keys as Electrum writes them */
#define VERSION_ZPUB 0x04b24746u   /* BIP84 */

static json_t *vectors(void) {
    static json_t *root;
    json_error_t err;
    if (root == NULL) {
        root = json_load_file("tests/vectors/monacoin_addresses.json", 0, &err);
        if (root == NULL) fail_msg("monacoin_addresses.json: %s", err.text);
    }
    return root;
}

static uint8_t net_of(const char *name) {
    if (strcmp(name, "main") == 0) return OS_NET_MAIN;
    if (strcmp(name, "test") == 0) return OS_NET_TEST;
    if (strcmp(name, "regtest") == 0) return OS_NET_REGTEST;
    fail_msg("unknown network %s", name);
    return 0xff;
}

static uint8_t script_type_of(const char *name) {
    if (strcmp(name, "p2pkh") == 0) return OS_SCRIPT_P2PKH;
    if (strcmp(name, "p2sh_p2wpkh") == 0) return OS_SCRIPT_P2SH_P2WPKH;
    if (strcmp(name, "p2wpkh") == 0) return OS_SCRIPT_P2WPKH;
    fail_msg("unknown script type %s", name);
    return 0xff;
}

static void test_network_table(void **state) {
    const os_network_params *m = address_network(OS_NET_MAIN), *t = address_network(OS_NET_TEST),
                            *r = address_network(OS_NET_REGTEST);
    uint32_t path[3];
    (void)state;
    assert_non_null(m);
    assert_non_null(t);
    assert_non_null(r);
    assert_null(address_network(3));
    assert_int_equal(m->p2pkh_version, 50);
    assert_int_equal(m->p2sh_version, 55);
    assert_int_equal(m->p2sh_version_legacy, 5);
    assert_string_equal(m->bech32_hrp, "mona");
    assert_int_equal(m->coin_type, 22);
    assert_int_equal(m->xpub_version, BIP32_VERSION_XPUB);
    assert_int_equal(m->xprv_version, BIP32_VERSION_XPRV);
    assert_int_equal(t->p2pkh_version, 111);
    assert_int_equal(t->p2sh_version, 117);
    assert_int_equal(t->p2sh_version_legacy, 196);
    assert_string_equal(t->bech32_hrp, "tmona");
    assert_string_equal(r->bech32_hrp, "rmona");
    assert_int_equal(t->coin_type, 1);
    assert_int_equal(r->coin_type, 1);

    assert_int_equal(address_purpose(OS_SCRIPT_P2PKH), 44);
    assert_int_equal(address_purpose(OS_SCRIPT_P2SH_P2WPKH), 49);
    assert_int_equal(address_purpose(OS_SCRIPT_P2WPKH), 84);
    assert_int_equal(address_purpose(3), 0);
    assert_int_equal(address_account_path(OS_NET_MAIN, OS_SCRIPT_P2WPKH, 5, path), OS_OK);
    assert_int_equal(path[0], 84 | BIP32_HARDENED);
    assert_int_equal(path[1], 22 | BIP32_HARDENED);
    assert_int_equal(path[2], 5 | BIP32_HARDENED);
    assert_int_equal(address_account_path(OS_NET_REGTEST, OS_SCRIPT_P2PKH, 0, path), OS_OK);
    assert_int_equal(path[1], 1 | BIP32_HARDENED);
    assert_int_equal(address_account_path(OS_NET_MAIN, OS_SCRIPT_P2PKH, BIP32_HARDENED, path), OS_ERR_ARG);
    assert_int_equal(address_account_path(7, OS_SCRIPT_P2PKH, 0, path), OS_ERR_ARG);
    assert_int_equal(address_account_path(OS_NET_MAIN, 9, 0, path), OS_ERR_ARG);
}

static void test_known_addresses(void **state) {
    json_t *list = json_object_get(vectors(), "addresses"), *v;
    size_t i;
    (void)state;
    assert_true(json_array_size(list) >= 10);
    json_array_foreach(list, i, v) {
        uint8_t net = net_of(json_string_value(json_object_get(v, "net")));
        const char *addr = json_string_value(json_object_get(v, "address"));
        const char *canonical = json_string_value(json_object_get(v, "canonical"));
        uint8_t want[40], script[40];
        size_t want_len = test_unhex(json_string_value(json_object_get(v, "script")), want, sizeof(want)), len = 0;
        char back[BECH32_MAX_STRING + 1];
        assert_int_equal(address_to_script(net, addr, script, sizeof(script), &len), OS_OK);
        assert_int_equal(len, want_len);
        assert_memory_equal(script, want, len);
        assert_int_not_equal(script_classify(script, len), SCRIPT_KIND_OTHER);
        assert_int_equal(address_from_script(net, script, len, back, sizeof(back)), OS_OK);
        assert_string_equal(back, canonical != NULL ? canonical : addr);
        /* too small an output buffer */
        assert_int_equal(address_to_script(net, addr, script, want_len - 1, &len), OS_ERR_BUFFER);
        assert_int_equal(address_from_script(net, want, want_len, back, strlen(back)), OS_ERR_BUFFER);
    }
}

static void check_key_addresses(const uint8_t pub[33], uint8_t net, json_t *expected) {
    const char *key;
    json_t *value;
    json_object_foreach(expected, key, value) {
        const char *want = json_string_value(value);
        uint8_t script[40], decoded[40];
        size_t len = 0, dlen = 0;
        char addr[BECH32_MAX_STRING + 1];
        if (strcmp(key, "p2sh_p2wpkh_legacy") == 0) {
            /* old version byte: decodes to the same script as the written form */
            assert_int_equal(script_for_pubkey(OS_SCRIPT_P2SH_P2WPKH, pub, script, sizeof(script), &len), OS_OK);
        } else {
            assert_int_equal(script_for_pubkey(script_type_of(key), pub, script, sizeof(script), &len), OS_OK);
            assert_int_equal(address_from_script(net, script, len, addr, sizeof(addr)), OS_OK);
            assert_string_equal(addr, want);
        }
        assert_int_equal(address_to_script(net, want, decoded, sizeof(decoded), &dlen), OS_OK);
        assert_int_equal(dlen, len);
        assert_memory_equal(decoded, script, len);
    }
}

static void test_keys_to_addresses(void **state) {
    json_t *list = json_object_get(vectors(), "keys"), *k;
    size_t i;
    (void)state;
    assert_true(json_array_size(list) >= 4);
    json_array_foreach(list, i, k) {
        uint8_t priv[32], pub[33], want[33];
        static const char *const nets[] = {"main", "test", "regtest"};
        size_t n;
        test_unhex(json_string_value(json_object_get(k, "priv")), priv, sizeof(priv));
        assert_int_equal(crypto_pubkey_from_priv(priv, pub), OS_OK);
        if (json_object_get(k, "pub") != NULL) {
            test_unhex(json_string_value(json_object_get(k, "pub")), want, sizeof(want));
            assert_memory_equal(pub, want, 33);
        }
        for (n = 0; n < 3; n++) {
            json_t *expected = json_object_get(k, nets[n]);
            if (expected != NULL) check_key_addresses(pub, net_of(nets[n]), expected);
        }
    }
}

static void encode_node(const bip32_node *node, uint32_t version, char *out, size_t cap) {
    uint8_t ser[78];
    assert_int_equal(bip32_serialize(node, version, ser), OS_OK);
    assert_int_equal(base58check_encode(ser, sizeof(ser), out, cap), OS_OK);
}

static void node_address(const bip32_node *account, uint32_t chain, uint32_t index, uint8_t script_type,
                         char *out, size_t cap) {
    uint32_t path[2] = {chain, index};
    bip32_node leaf;
    uint8_t script[40];
    size_t len = 0;
    assert_int_equal(bip32_derive_path(account, path, 2, &leaf), OS_OK);
    assert_int_equal(script_for_pubkey(script_type, leaf.public_key, script, sizeof(script), &len), OS_OK);
    assert_int_equal(address_from_script(OS_NET_MAIN, script, len, out, cap), OS_OK);
    bip32_wipe(&leaf);
}

/* mnemonic -> seed -> m/purpose'/22'/0' -> account key and first receive/change addresses */
static void test_wallets(void **state) {
    json_t *list = json_object_get(vectors(), "wallets"), *w;
    size_t i;
    (void)state;
    assert_true(json_array_size(list) >= 4);
    json_array_foreach(list, i, w) {
        const char *words = json_string_value(json_object_get(w, "mnemonic"));
        uint8_t script_type = script_type_of(json_string_value(json_object_get(w, "script_type")));
        uint8_t seed[64], entropy[32];
        uint32_t path[3], version;
        size_t ent_len = 0;
        bip32_node master, account;
        char b58[120];
        const char *receive = json_string_value(json_object_get(w, "receive0"));
        const char *change = json_string_value(json_object_get(w, "change0"));
        const char *xprv = json_string_value(json_object_get(w, "account_xprv"));

        assert_int_equal(bip39_mnemonic_to_entropy(words, strlen(words), entropy, sizeof(entropy), &ent_len),
                         OS_OK);
        assert_int_equal(bip39_seed(words, strlen(words), json_string_value(json_object_get(w, "passphrase")),
                                    seed), OS_OK);
        assert_int_equal(bip32_from_seed(seed, sizeof(seed), &master), OS_OK);
        assert_int_equal(address_account_path(OS_NET_MAIN, script_type, 0, path), OS_OK);
        assert_int_equal(bip32_derive_path(&master, path, 3, &account), OS_OK);
        version = script_type == OS_SCRIPT_P2PKH ? BIP32_VERSION_XPUB
                  : script_type == OS_SCRIPT_P2SH_P2WPKH ? VERSION_YPUB : VERSION_ZPUB;
        encode_node(&account, version, b58, sizeof(b58));
        assert_string_equal(b58, json_string_value(json_object_get(w, "account_ext")));
        if (xprv != NULL) {
            encode_node(&account, BIP32_VERSION_XPRV, b58, sizeof(b58));
            assert_string_equal(b58, xprv);
        }
        if (receive != NULL) {
            node_address(&account, 0, 0, script_type, b58, sizeof(b58));
            assert_string_equal(b58, receive);
        }
        if (change != NULL) {
            node_address(&account, 1, 0, script_type, b58, sizeof(b58));
            assert_string_equal(b58, change);
            /* the same from the public account node alone */
            bip32_neuter(&account);
            node_address(&account, 1, 0, script_type, b58, sizeof(b58));
            assert_string_equal(b58, change);
        }
        bip32_wipe(&master);
        bip32_wipe(&account);
    }
}

static void test_derive_from_xpub(void **state) {
    json_t *fx = json_object_get(vectors(), "from_xpub"), *d;
    uint8_t ser[100];
    size_t len = 0, i;
    uint32_t version;
    bip32_node account;
    (void)state;
    assert_int_equal(base58check_decode(json_string_value(json_object_get(fx, "xpub")), ser, sizeof(ser), &len),
                     OS_OK);
    assert_int_equal(len, 78);
    assert_int_equal(bip32_parse(ser, &version, &account), OS_OK);
    assert_int_equal(version, BIP32_VERSION_XPUB);
    json_array_foreach(json_object_get(fx, "derived"), i, d) {
        char addr[64];
        json_t *p = json_object_get(d, "path");
        node_address(&account, (uint32_t)json_integer_value(json_array_get(p, 0)),
                     (uint32_t)json_integer_value(json_array_get(p, 1)), OS_SCRIPT_P2PKH, addr, sizeof(addr));
        assert_string_equal(addr, json_string_value(json_object_get(d, "p2pkh")));
    }
}

static void test_invalid_addresses(void **state) {
    json_t *list = json_object_get(vectors(), "invalid"), *v;
    size_t i;
    (void)state;
    assert_true(json_array_size(list) >= 20);
    json_array_foreach(list, i, v) {
        uint8_t script[64];
        size_t len = 999;
        const char *addr = json_string_value(json_object_get(v, "address"));
        int rc = address_to_script(net_of(json_string_value(json_object_get(v, "net"))), addr, script,
                                   sizeof(script), &len);
        if (rc != OS_ERR_ARG) fail_msg("%s (%s): got %d", addr, json_string_value(json_object_get(v, "why")), rc);
        assert_int_equal(len, 999);
    }
    {
        uint8_t script[64];
        size_t len;
        char longer[200];
        memset(longer, 'M', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        assert_int_equal(address_to_script(OS_NET_MAIN, longer, script, sizeof(script), &len), OS_ERR_ARG);
        assert_int_equal(address_to_script(9, "MWLEbTAW61QFdrHtbaV7UdoaHaNjdPUtTj", script, sizeof(script), &len),
                         OS_ERR_ARG);
        assert_int_equal(address_to_script(OS_NET_MAIN, NULL, script, sizeof(script), &len), OS_ERR_ARG);
    }
}

static void test_scripts(void **state) {
    json_t *root, *v;
    json_error_t err;
    size_t i;
    (void)state;
    /* BIP143's two examples: native P2WPKH and P2SH-P2WPKH */
    root = json_load_file("tests/vectors/node_bip143.json", 0, &err);
    if (root == NULL) fail_msg("node_bip143.json: %s", err.text);
    json_array_foreach(root, i, v) {
        uint8_t pub[33], want[40], got[40], code[25], sig[23];
        size_t want_len, len = 0;
        test_unhex(json_string_value(json_object_get(v, "public_key")), pub, sizeof(pub));
        want_len = test_unhex(json_string_value(json_object_get(v, "prev_spk")), want, sizeof(want));
        if (script_classify(want, want_len) == SCRIPT_KIND_P2WPKH) {
            assert_int_equal(script_for_pubkey(OS_SCRIPT_P2WPKH, pub, got, sizeof(got), &len), OS_OK);
        } else {
            assert_int_equal(script_classify(want, want_len), SCRIPT_KIND_P2SH);
            assert_int_equal(script_for_pubkey(OS_SCRIPT_P2SH_P2WPKH, pub, got, sizeof(got), &len), OS_OK);
            /* the scriptSig push appears verbatim in the signed transaction */
            assert_int_equal(script_sig_redeem_p2sh_p2wpkh(pub, sig), OS_OK);
            {
                char hex[47];
                size_t k;
                for (k = 0; k < 23; k++) snprintf(hex + 2 * k, 3, "%02x", sig[k]);
                assert_non_null(strstr(json_string_value(json_object_get(v, "signed_tx")), hex));
            }
        }
        assert_int_equal(len, want_len);
        assert_memory_equal(got, want, len);
        want_len = test_unhex(json_string_value(json_object_get(v, "script_code")), want, sizeof(want));
        assert_int_equal(want_len, 25);
        assert_int_equal(script_code_for_pubkey(pub, code), OS_OK);
        assert_memory_equal(code, want, 25);
        assert_int_equal(script_classify(code, 25), SCRIPT_KIND_P2PKH);
        assert_int_equal(script_for_pubkey(OS_SCRIPT_P2PKH, pub, got, sizeof(got), &len), OS_OK);
        assert_int_equal(len, 25);
        assert_memory_equal(got, code, 25);
        assert_int_equal(script_for_pubkey(OS_SCRIPT_P2PKH, pub, got, 24, &len), OS_ERR_BUFFER);
        pub[0] = 0x04;
        assert_int_equal(script_for_pubkey(OS_SCRIPT_P2PKH, pub, got, sizeof(got), &len), OS_ERR_ARG);
        assert_int_equal(script_code_for_pubkey(pub, code), OS_ERR_ARG);
        pub[0] = 0x02;
        assert_int_equal(script_for_pubkey(3, pub, got, sizeof(got), &len), OS_ERR_ARG);
    }
    json_decref(root);

    /* templates: off-by-one lengths and opcodes are OTHER */
    {
        uint8_t s[40];
        memset(s, 0, sizeof(s));
        s[0] = 0x00; s[1] = 0x14;
        assert_int_equal(script_classify(s, 22), SCRIPT_KIND_P2WPKH);
        assert_int_equal(script_classify(s, 23), SCRIPT_KIND_OTHER);
        s[1] = 0x20;
        assert_int_equal(script_classify(s, 34), SCRIPT_KIND_P2WSH);
        s[0] = 0x51;   /* OP_1: taproot-style, not classified */
        assert_int_equal(script_classify(s, 34), SCRIPT_KIND_OTHER);
        assert_int_equal(script_classify(NULL, 25), SCRIPT_KIND_OTHER);
        {
            char out[100];
            assert_int_equal(address_from_script(OS_NET_MAIN, s, 34, out, sizeof(out)), OS_ERR_UNSUPPORTED);
        }
    }
}

static void test_base58check(void **state) {
    uint8_t data[BASE58_MAX_DATA + 1] = {0}, back[BASE58_MAX_DATA];
    char str[BASE58_MAX_STRING + 1];
    size_t len, n;
    (void)state;
    /* leading zero bytes are leading '1's; round trips at every length */
    for (n = 0; n <= BASE58_MAX_DATA; n++) {
        size_t k;
        for (k = 0; k < n; k++) data[k] = k < 3 ? 0 : (uint8_t)(k * 37 + n);
        assert_int_equal(base58check_encode(data, n, str, sizeof(str)), OS_OK);
        if (n >= 3) assert_int_equal(strncmp(str, "111", 3), 0);
        assert_int_equal(base58check_decode(str, back, sizeof(back), &len), OS_OK);
        assert_int_equal(len, n);
        if (n > 0) assert_memory_equal(back, data, n);
        if (n > 0) assert_int_equal(base58check_decode(str, back, n - 1, &len), OS_ERR_BUFFER);
        assert_int_equal(base58check_encode(data, n, str, strlen(str)), OS_ERR_BUFFER);
    }
    assert_int_equal(base58check_encode(data, BASE58_MAX_DATA + 1, str, sizeof(str)), OS_ERR_ARG);
    /* bad characters (0 O I l) and a too short string */
    assert_int_equal(base58check_decode("MWLEbTAW61QFdrHtbaV7UdoaHaNjdPUtT0", back, sizeof(back), &len), OS_ERR_ARG);
    assert_int_equal(base58check_decode("MWLEbTAW61QFdrHtbaV7UdoaHaNjdPUtTO", back, sizeof(back), &len), OS_ERR_ARG);
    assert_int_equal(base58check_decode("MWLEbTAW61QFdrHtbaV7UdoaHaNjdPUtTl", back, sizeof(back), &len), OS_ERR_ARG);
    assert_int_equal(base58check_decode("1111", back, sizeof(back), &len), OS_ERR_ARG);
    assert_int_equal(base58check_decode("", back, sizeof(back), &len), OS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_network_table),
        cmocka_unit_test(test_known_addresses),
        cmocka_unit_test(test_keys_to_addresses),
        cmocka_unit_test(test_wallets),
        cmocka_unit_test(test_derive_from_xpub),
        cmocka_unit_test(test_invalid_addresses),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_base58check),
    };
    int rc = cmocka_run_group_tests(tests, test_crypto_setup, NULL);
    json_decref(vectors());
    return rc;
}
