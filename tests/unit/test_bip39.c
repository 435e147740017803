/* Tests of firmware/bip39.c against the trezor/python-mnemonic English vectors
 * (tests/vectors/bip39.json): entropy -> mnemonic -> entropy, seed with passphrase "TREZOR", and
 * the BIP32 root xprv of that seed. Plus the wordlist's published SHA-256 and malformed input. */
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

/* bitcoin/bips bip-0039/english.txt has this SHA-256; the table is that file, word per line. */
static void test_wordlist_matches_published_hash(void **state) {
    static const char want_hex[] = "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda";
    char text[2048 * 9 + 1];
    size_t pos = 0;
    uint16_t i;
    uint8_t hash[32], want[32];
    (void)state;
    for (i = 0; i < 2048; i++) {
        const char *w = bip39_word(i);
        size_t n;
        assert_non_null(w);
        n = strlen(w);
        assert_true(n >= 3 && n <= 8);
        memcpy(text + pos, w, n);
        pos += n;
        text[pos++] = '\n';
    }
    crypto_sha256((const uint8_t *)text, pos, hash);
    test_unhex(want_hex, want, sizeof(want));
    assert_memory_equal(hash, want, 32);
    assert_string_equal(bip39_word(0), "abandon");
    assert_string_equal(bip39_word(2047), "zoo");
    assert_null(bip39_word(2048));
    assert_null(bip39_word(65535));
}

static void test_official_vectors(void **state) {
    json_error_t err;
    json_t *root = json_load_file("tests/vectors/bip39.json", 0, &err), *rows, *row;
    size_t i;
    (void)state;
    if (root == NULL) fail_msg("bip39.json: %s", err.text);
    rows = json_object_get(root, "english");
    assert_true(json_array_size(rows) >= 12);
    json_array_foreach(rows, i, row) {
        const char *ent_hex = json_string_value(json_array_get(row, 0));
        const char *words = json_string_value(json_array_get(row, 1));
        const char *seed_hex = json_string_value(json_array_get(row, 2));
        const char *xprv = json_string_value(json_array_get(row, 3));
        uint8_t entropy[32], back[32], seed[64], want_seed[64], ser[78];
        char mnemonic[BIP39_MAX_MNEMONIC], b58[120];
        size_t ent_len = test_unhex(ent_hex, entropy, sizeof(entropy)), mlen = 0, back_len = 0;
        bip32_node root_node;

        assert_int_equal(bip39_mnemonic_from_entropy(entropy, ent_len, mnemonic, sizeof(mnemonic), &mlen),
                         OS_OK);
        assert_string_equal(mnemonic, words);
        assert_int_equal(mlen, strlen(words));

        assert_int_equal(bip39_mnemonic_to_entropy(words, strlen(words), back, sizeof(back), &back_len),
                         OS_OK);
        assert_int_equal(back_len, ent_len);
        assert_memory_equal(back, entropy, ent_len);

        assert_int_equal(bip39_seed(words, strlen(words), "TREZOR", seed), OS_OK);
        test_unhex(seed_hex, want_seed, sizeof(want_seed));
        assert_memory_equal(seed, want_seed, 64);

        assert_int_equal(bip32_from_seed(seed, 64, &root_node), OS_OK);
        assert_int_equal(bip32_serialize(&root_node, BIP32_VERSION_XPRV, ser), OS_OK);
        assert_int_equal(base58check_encode(ser, sizeof(ser), b58, sizeof(b58)), OS_OK);
        assert_string_equal(b58, xprv);
        bip32_wipe(&root_node);
    }
    json_decref(root);
}

static void test_null_passphrase_is_empty(void **state) {
    static const char words[] =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    uint8_t a[64], b[64];
    (void)state;
    assert_int_equal(bip39_seed(words, sizeof(words) - 1, NULL, a), OS_OK);
    assert_int_equal(bip39_seed(words, sizeof(words) - 1, "", b), OS_OK);
    assert_memory_equal(a, b, 64);
    assert_int_equal(bip39_seed(words, sizeof(words) - 1, "TREZOR", b), OS_OK);
    assert_memory_not_equal(a, b, 64);
    /* non-ASCII would need NFKD, which is not implemented: refused */
    assert_int_equal(bip39_seed(words, sizeof(words) - 1, "p\xc3\xa4ss", b), OS_ERR_ARG);
    assert_int_equal(bip39_seed("abandon\0x", 9, NULL, b), OS_ERR_ARG);
    assert_int_equal(bip39_seed(NULL, 0, NULL, b), OS_ERR_ARG);
}

static void expect_bad(const char *mnemonic) {
    uint8_t entropy[32];
    size_t len = 12345;
    assert_int_equal(bip39_mnemonic_to_entropy(mnemonic, strlen(mnemonic), entropy, sizeof(entropy), &len),
                     OS_ERR_BAD_MNEMONIC);
    assert_int_equal(len, 12345);   /* untouched */
}

static void test_malformed_mnemonics(void **state) {
    (void)state;
    /* checksum: "about" is the valid last word; "abandon" x 12 fails the checksum */
    expect_bad("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon");
    /* unknown word, and a prefix of a word */
    expect_bad("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abountt");
    expect_bad("aban abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    /* word counts 11 and 13 */
    expect_bad("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    expect_bad("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    /* separators */
    expect_bad("abandon  abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    expect_bad(" abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    expect_bad("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about ");
    expect_bad("abandon\tabandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    /* case */
    expect_bad("Abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
    /* 27 words (a multiple of 3 above 24) */
    expect_bad("zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo "
               "zoo zoo zoo vote");
    expect_bad("");
}

static void test_sizes_and_args(void **state) {
    static const char words[] =
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    uint8_t entropy[32] = {0}, small[15];
    char out[BIP39_MAX_MNEMONIC];
    size_t len;
    (void)state;
    assert_int_equal(bip39_mnemonic_from_entropy(entropy, 15, out, sizeof(out), &len), OS_ERR_ARG);
    assert_int_equal(bip39_mnemonic_from_entropy(entropy, 17, out, sizeof(out), &len), OS_ERR_ARG);
    assert_int_equal(bip39_mnemonic_from_entropy(entropy, 36, out, sizeof(out), &len), OS_ERR_ARG);
    assert_int_equal(bip39_mnemonic_from_entropy(NULL, 16, out, sizeof(out), &len), OS_ERR_ARG);
    /* exactly enough room (strlen + NUL) works, one byte less does not */
    assert_int_equal(bip39_mnemonic_from_entropy(entropy, 16, out, sizeof(words), &len), OS_OK);
    assert_string_equal(out, words);
    assert_int_equal(bip39_mnemonic_from_entropy(entropy, 16, out, sizeof(words) - 1, &len), OS_ERR_BUFFER);
    assert_int_equal(bip39_mnemonic_to_entropy(words, sizeof(words) - 1, small, sizeof(small), &len),
                     OS_ERR_BUFFER);
    assert_int_equal(bip39_mnemonic_to_entropy(NULL, 0, entropy, sizeof(entropy), &len), OS_ERR_ARG);
    /* a length that stops inside the buffer: only the first len bytes count */
    assert_int_equal(bip39_mnemonic_to_entropy(words, sizeof(words) - 1 - 6, entropy, sizeof(entropy), &len),
                     OS_ERR_BAD_MNEMONIC);
}

/* Every word decodes to its index and encodes back: mnemonic m uses words 11m .. 11m+10 in its
 * first eleven positions, so 187 mnemonics cover the whole list. */
static void test_every_word_round_trips(void **state) {
    uint8_t entropy[16], back[16];
    char out[BIP39_MAX_MNEMONIC];
    size_t len, back_len;
    unsigned m;
    (void)state;
    for (m = 0; m * 11 < 2048; m++) {
        unsigned j, bit = 0;
        const char *p;
        memset(entropy, 0, sizeof(entropy));
        for (j = 0; j < 11; j++) {
            unsigned idx = (m * 11 + j) % 2048, k;
            for (k = 0; k < 11; k++, bit++) {
                if ((idx >> (10 - k)) & 1u) entropy[bit / 8] |= (uint8_t)(0x80u >> (bit % 8));
            }
        }
        assert_int_equal(bip39_mnemonic_from_entropy(entropy, sizeof(entropy), out, sizeof(out), &len), OS_OK);
        p = out;
        for (j = 0; j < 11; j++) {
            const char *w = bip39_word((uint16_t)((m * 11 + j) % 2048));
            size_t wl = strlen(w);
            assert_int_equal(strncmp(p, w, wl), 0);
            assert_int_equal(p[wl], ' ');
            p += wl + 1;
        }
        assert_int_equal(bip39_mnemonic_to_entropy(out, len, back, sizeof(back), &back_len), OS_OK);
        assert_int_equal(back_len, sizeof(entropy));
        assert_memory_equal(back, entropy, sizeof(entropy));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wordlist_matches_published_hash),
        cmocka_unit_test(test_official_vectors),
        cmocka_unit_test(test_null_passphrase_is_empty),
        cmocka_unit_test(test_malformed_mnemonics),
        cmocka_unit_test(test_sizes_and_args),
        cmocka_unit_test(test_every_word_round_trips),
    };
    return cmocka_run_group_tests(tests, test_crypto_setup, NULL);
}
