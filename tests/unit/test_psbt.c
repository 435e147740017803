/* oncesign — PSBT (host/lib/psbt.h): the BIP174 version-0 vectors, round trips, structural errors,
 * oncesign's proprietary output field, the mapping onto os_sign_tx with every refusal, and a PSBT
 * built the way Monacoin Core's walletcreatefundedpsbt builds one, signed end to end by the
 * in-process signer and verified. */
#define _GNU_SOURCE
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
#include "bip39.h"
#include "bytes.h"
#include "crypto.h"
#include "draft.h"
#include "mbedtls/base64.h"
#include "nonce_set.h"
#include "psbt.h"
#include "signer_harness.h"
#include "signing.h"
#include "voucher.h"

#define FLASH (64u * 4096u)
#define H BIP32_HARDENED

static char *vector_path(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "tests/vectors/%s", name);
    return path;
}

static uint8_t *b64(const char *text, size_t *len) {
    size_t olen = 0;
    size_t n = strlen(text);
    (void)mbedtls_base64_decode(NULL, 0, &olen, (const unsigned char *)text, n);
    uint8_t *out = malloc(olen + 1);
    assert_non_null(out);
    assert_int_equal(mbedtls_base64_decode(out, olen + 1, len, (const unsigned char *)text, n), 0);
    return out;
}

/* ---------------------------------------------------------------- BIP174 vectors */

static void test_bip174_valid(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(vector_path("bip174_v0.json"), 0, &jerr);
    assert_non_null(root);
    json_t *valid = json_object_get(root, "valid");
    assert_true(json_array_size(valid) >= 10);
    size_t k;
    json_t *v;
    json_array_foreach(valid, k, v) {
        const char *text = json_string_value(json_object_get(v, "base64"));
        size_t len;
        uint8_t *bin = b64(text, &len);
        psbt *p = NULL;
        char err[256];
        int rc = psbt_parse(bin, len, &p, err, sizeof err);
        if (rc != OS_OK) fail_msg("valid vector %zu (%s): %s", k, json_string_value(json_object_get(v, "case")), err);
        uint8_t *again;
        size_t again_len;
        assert_int_equal(psbt_serialize(p, &again, &again_len), OS_OK);
        assert_int_equal(again_len, len);
        assert_memory_equal(again, bin, len);
        char *text2;
        assert_int_equal(psbt_to_base64(p, &text2), OS_OK);
        assert_string_equal(text2, text);
        psbt *q = NULL;
        /* The text form, with a line break and spaces as a file may carry it. */
        size_t tl = strlen(text);
        char *wrapped = malloc(tl + 8);
        memcpy(wrapped, "  ", 2);
        memcpy(wrapped + 2, text, tl / 2);
        memcpy(wrapped + 2 + tl / 2, "\n", 1);
        memcpy(wrapped + 3 + tl / 2, text + tl / 2, tl - tl / 2);
        memcpy(wrapped + 3 + tl, "\n", 2);
        assert_int_equal(psbt_decode((const uint8_t *)wrapped, strlen(wrapped), &q, err, sizeof err), OS_OK);
        assert_int_equal(q->tx.n_inputs, p->tx.n_inputs);
        free(wrapped);
        psbt_free(q);
        free(text2);
        free(again);
        psbt_free(p);
        free(bin);
    }
    json_decref(root);
}

static void test_bip174_invalid(void **state) {
    (void)state;
    json_error_t jerr;
    json_t *root = json_load_file(vector_path("bip174_v0.json"), 0, &jerr);
    assert_non_null(root);
    json_t *invalid = json_object_get(root, "invalid");
    assert_true(json_array_size(invalid) >= 15);
    size_t k;
    json_t *v;
    json_array_foreach(invalid, k, v) {
        size_t len;
        uint8_t *bin = b64(json_string_value(json_object_get(v, "base64")), &len);
        psbt *p = (psbt *)1;
        char err[256] = "";
        int rc = psbt_parse(bin, len, &p, err, sizeof err);
        if (getenv("PSBT_VERBOSE") != NULL) print_message("%s: %s\n", json_string_value(json_object_get(v, "case")), err);
        if (rc != OS_ERR_PSBT) fail_msg("invalid vector %zu (%s) gave %d", k, json_string_value(json_object_get(v, "case")), rc);
        assert_null(p);
        assert_true(strlen(err) > 0);
        free(bin);
    }
    json_decref(root);
}

/* First valid vector: one P2PKH input with its non-witness UTXO, two outputs. */
static uint8_t *vector0(size_t *len) {
    json_error_t jerr;
    json_t *root = json_load_file(vector_path("bip174_v0.json"), 0, &jerr);
    assert_non_null(root);
    uint8_t *bin = b64(json_string_value(json_object_get(json_array_get(json_object_get(root, "valid"), 0), "base64")), len);
    json_decref(root);
    return bin;
}

static void expect_malformed(const uint8_t *bin, size_t len, const char *needle) {
    psbt *p = NULL;
    char err[256] = "";
    assert_int_equal(psbt_parse(bin, len, &p, err, sizeof err), OS_ERR_PSBT);
    assert_null(p);
    if (needle != NULL && strstr(err, needle) == NULL) fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_structural_errors(void **state) {
    (void)state;
    size_t len;
    uint8_t *bin = vector0(&len);
    uint8_t *buf = malloc(len + 4);
    memcpy(buf, bin, len);
    psbt *p = NULL;
    assert_int_equal(psbt_parse(bin, len, &p, NULL, 0), OS_OK);
    assert_int_equal(p->tx.n_inputs, 1);
    assert_int_equal(p->tx.n_outputs, 2);
    uint64_t amount;
    const uint8_t *script;
    size_t script_len;
    assert_int_equal(psbt_input_coin(p, 0, &amount, &script, &script_len), OS_OK);
    assert_int_equal(amount, 200000000);    /* output 0 of the vector's previous transaction */
    psbt_free(p);

    /* trailing data */
    buf[len] = 0x00;
    expect_malformed(buf, len + 1, "after the last map");
    buf[len] = 0x42;
    expect_malformed(buf, len + 1, NULL);
    /* truncated: the last output map missing */
    expect_malformed(bin, len - 1, "output maps");
    /* every truncation fails, none crashes */
    for (size_t cut = 0; cut < len; cut++) expect_malformed(bin, cut, NULL);
    /* bad magic */
    memcpy(buf, bin, len);
    buf[4] = 0xfe;
    expect_malformed(buf, len, "magic");
    /* the non-witness UTXO's txid no longer matches the prevout: flip a byte of its locktime */
    memcpy(buf, bin, len);
    /* input map starts after the global map: find the 0x00 type key of the input (01 00 fd a5 01). */
    size_t at = 0;
    for (size_t i = 5; i + 4 < len; i++) {
        if (buf[i] == 0x01 && buf[i + 1] == 0x00 && buf[i + 2] == 0xfd && buf[i + 3] == 0xa5 && buf[i + 4] == 0x01) at = i;
    }
    assert_true(at > 0);
    size_t utxo_end = at + 5 + 0x1a5;
    buf[utxo_end - 1] ^= 1;
    expect_malformed(buf, len, "txid");
    /* a non-minimal CompactSize key length */
    memcpy(buf, bin, len);
    uint8_t nm[] = { 0x70, 0x73, 0x62, 0x74, 0xff, 0xfd, 0x01, 0x00 };
    expect_malformed(nm, sizeof nm, NULL);
    /* unsupported version */
    uint8_t v1[] = { 0x70, 0x73, 0x62, 0x74, 0xff, 0x01, 0x00, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                     0x01, 0xfb, 0x04, 0x02, 0, 0, 0, 0x00 };
    expect_malformed(v1, sizeof v1, "version");
    v1[21] = 0x00;
    assert_int_equal(psbt_parse(v1, sizeof v1, &p, NULL, 0), OS_OK);
    psbt_free(p);
    free(buf);
    free(bin);
}

static void test_oncesign_field(void **state) {
    (void)state;
    size_t len;
    uint8_t *bin = vector0(&len);
    psbt *p = NULL;
    assert_int_equal(psbt_parse(bin, len, &p, NULL, 0), OS_OK);
    uint8_t nonce[32], got[32];
    int replace;
    os_outpoint anchor, got_anchor;
    for (int i = 0; i < 32; i++) nonce[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(psbt_output_nonce(p, 1, got, &replace, &got_anchor), OS_ERR_NOT_FOUND);
    assert_int_equal(psbt_output_bind(p, 1, nonce, NULL), OS_OK);
    memset(anchor.txid, 0x77, 32);
    anchor.vout = 0x01020304;
    assert_int_equal(psbt_output_bind(p, 0, nonce, &anchor), OS_OK);
    uint8_t *ser;
    size_t ser_len;
    assert_int_equal(psbt_serialize(p, &ser, &ser_len), OS_OK);
    assert_int_equal(ser_len, len + 2 * (1 + 11 + 1 + 32) + (1 + 11 + 1 + 36));
    /* The exact bytes of the field: fc 08 "oncesign" 01 -> nonce. */
    static const uint8_t key[] = { 0x0b, 0xfc, 0x08, 'o', 'n', 'c', 'e', 's', 'i', 'g', 'n', 0x01, 0x20 };
    assert_non_null(memmem(ser, ser_len, key, sizeof key));
    psbt *q = NULL;
    assert_int_equal(psbt_parse(ser, ser_len, &q, NULL, 0), OS_OK);
    assert_int_equal(psbt_output_nonce(q, 1, got, &replace, &got_anchor), OS_OK);
    assert_memory_equal(got, nonce, 32);
    assert_int_equal(replace, 0);
    assert_int_equal(psbt_output_nonce(q, 0, got, &replace, &got_anchor), OS_OK);
    assert_int_equal(replace, 1);
    assert_memory_equal(got_anchor.txid, anchor.txid, 32);
    assert_int_equal(got_anchor.vout, anchor.vout);
    /* round trip of a PSBT carrying the fields */
    uint8_t *ser2;
    size_t ser2_len;
    assert_int_equal(psbt_serialize(q, &ser2, &ser2_len), OS_OK);
    assert_int_equal(ser2_len, ser_len);
    assert_memory_equal(ser2, ser, ser_len);
    /* a nonce value of 31 bytes is refused by the parser */
    uint8_t *bad = malloc(ser_len);
    memcpy(bad, ser, ser_len);
    uint8_t *f = memmem(bad, ser_len, key, sizeof key);
    f[sizeof key - 1] = 0x1f;
    expect_malformed(bad, ser_len, "oncesign nonce");
    free(bad);
    /* an anchor without a nonce is refused */
    psbt *r = NULL;
    assert_int_equal(psbt_parse(bin, len, &r, NULL, 0), OS_OK);
    uint8_t akey[11] = { 0xfc, 0x08, 'o', 'n', 'c', 'e', 's', 'i', 'g', 'n', 0x02 };
    uint8_t aval[36] = { 0 };
    assert_int_equal(psbt_map_set(&r->outputs[0], akey, sizeof akey, aval, sizeof aval), OS_OK);
    uint8_t *ser3;
    size_t ser3_len;
    assert_int_equal(psbt_serialize(r, &ser3, &ser3_len), OS_OK);
    expect_malformed(ser3, ser3_len, "anchor");
    /* other proprietary fields stay verbatim */
    uint8_t other[] = { 0xfc, 0x03, 'f', 'o', 'o', 0x07, 0xaa };
    assert_int_equal(psbt_map_set(&r->global, other, sizeof other, (const uint8_t *)"x", 1), OS_OK);
    free(ser3);
    psbt_free(r);
    free(ser2);
    psbt_free(q);
    free(ser);
    psbt_free(p);
    free(bin);
}

/* ---------------------------------------------------------------- vouchers and approvals (issue 14) */

static const uint8_t ONCESIGN_KEY[10] = { 0xfc, 0x08, 'o', 'n', 'c', 'e', 's', 'i', 'g', 'n' };

/* A voucher's layout for nonce (the parser checks the layout, not the signature). */
static void voucher_for(os_voucher *v, const uint8_t nonce[32], uint64_t amount) {
    memset(v, 0, sizeof *v);
    v->network = OS_NET_REGTEST;
    memcpy(v->nonce, nonce, 32);
    v->amount = amount;
    v->expiry_seq = 1000;
    memset(v->signer, 0x51, 32);
    memset(v->issuer, 0x52, 32);
    memset(v->sig, 0x53, 64);
}

static void approval_by(os_approval *a, uint8_t key_byte, uint64_t expiry) {
    memset(a, 0, sizeof *a);
    memset(a->operator_key, key_byte, 32);
    a->expiry_seq = expiry;
    memset(a->sig, key_byte ^ 0xff, 64);
}

/* Sets a raw oncesign pair (subtype, key data) -> value, bypassing the typed setters. */
static void raw_pair(psbt_map *m, uint8_t subtype, const uint8_t *keydata, size_t kd_len, const uint8_t *value,
                     size_t value_len) {
    uint8_t key[11 + 40];
    memcpy(key, ONCESIGN_KEY, 10);
    key[10] = subtype;
    if (kd_len > 0) memcpy(key + 11, keydata, kd_len);
    assert_int_equal(psbt_map_set(m, key, 11 + kd_len, value, value_len), OS_OK);
}

static void expect_serialized_malformed(const psbt *p, const char *needle) {
    uint8_t *ser;
    size_t ser_len;
    assert_int_equal(psbt_serialize(p, &ser, &ser_len), OS_OK);
    expect_malformed(ser, ser_len, needle);
    free(ser);
}

/* The output field fc 08 oncesign 03 (a voucher) and the global fc 08 oncesign 04 <key> (an
 * approval): exact bytes, round trip byte for byte, the typed readers, and each malformed form
 * refused by the parser with a message naming it. */
static void test_voucher_and_approval_fields(void **state) {
    (void)state;
    size_t len;
    uint8_t *bin = vector0(&len);
    psbt *p = NULL;
    char err[256] = "";
    assert_int_equal(psbt_parse(bin, len, &p, NULL, 0), OS_OK);
    uint8_t nonce[32], other_nonce[32];
    for (int i = 0; i < 32; i++) nonce[i] = (uint8_t)(0xa0 + i);
    memcpy(other_nonce, nonce, 32);
    other_nonce[0] ^= 1;
    os_voucher v, got;
    voucher_for(&v, nonce, 12345);
    /* the setters refuse what the parser would */
    assert_int_equal(psbt_output_set_voucher(p, 1, &v, err, sizeof err), OS_ERR_PSBT_UNSIGNABLE);
    assert_non_null(strstr(err, "not bound"));
    os_outpoint anchor;
    memset(anchor.txid, 0x77, 32);
    anchor.vout = 1;
    assert_int_equal(psbt_output_bind(p, 0, nonce, &anchor), OS_OK);
    assert_int_equal(psbt_output_set_voucher(p, 0, &v, err, sizeof err), OS_ERR_PSBT_UNSIGNABLE);
    assert_non_null(strstr(err, "replacement"));
    assert_int_equal(psbt_output_bind(p, 1, other_nonce, NULL), OS_OK);
    assert_int_equal(psbt_output_set_voucher(p, 1, &v, err, sizeof err), OS_ERR_PSBT_UNSIGNABLE);
    assert_non_null(strstr(err, "another nonce"));
    assert_int_equal(psbt_output_bind(p, 1, nonce, NULL), OS_OK);
    assert_int_equal(psbt_output_voucher(p, 1, &got), OS_ERR_NOT_FOUND);
    assert_int_equal(psbt_output_set_voucher(p, 1, &v, err, sizeof err), OS_OK);
    os_approval a[4], held[OS_MAX_OPERATORS];
    size_t n = 9;
    assert_int_equal(psbt_approvals(p, held, &n), OS_OK);
    assert_int_equal(n, 0);
    approval_by(&a[0], 0x31, 500);
    approval_by(&a[1], 0x32, 600);
    approval_by(&a[2], 0x33, 700);
    approval_by(&a[3], 0x34, 800);
    assert_int_equal(psbt_add_approval(p, &a[1], err, sizeof err), OS_OK);
    assert_int_equal(psbt_add_approval(p, &a[0], err, sizeof err), OS_OK);
    assert_int_equal(psbt_add_approval(p, &a[0], err, sizeof err), OS_OK);   /* the same key again: replaced */
    uint8_t *ser;
    size_t ser_len;
    assert_int_equal(psbt_serialize(p, &ser, &ser_len), OS_OK);
    /* exact bytes: key length, fc 08 "oncesign" 03, value length 214 -> the voucher's wire form */
    uint8_t wire[OS_VOUCHER_BYTES];
    assert_int_equal(os_voucher_encode(&v, wire), OS_OK);
    uint8_t vfield[2 + 10 + 1 + 1 + OS_VOUCHER_BYTES];
    vfield[0] = 0x0b;
    memcpy(vfield + 1, ONCESIGN_KEY, 10);
    vfield[11] = PSBT_ONCESIGN_VOUCHER;
    vfield[12] = 0xd6;
    memcpy(vfield + 13, wire, OS_VOUCHER_BYTES);
    assert_non_null(memmem(ser, ser_len, vfield, 13 + OS_VOUCHER_BYTES));
    /* ... and 0x2b, fc 08 "oncesign" 04, the operator key, 0x68 -> the approval's */
    uint8_t aw[OS_APPROVAL_BYTES], afield[1 + 11 + 32 + 1 + OS_APPROVAL_BYTES];
    assert_int_equal(os_approval_encode(&a[0], aw), OS_OK);
    afield[0] = 0x2b;
    memcpy(afield + 1, ONCESIGN_KEY, 10);
    afield[11] = PSBT_ONCESIGN_APPROVAL;
    memcpy(afield + 12, a[0].operator_key, 32);
    afield[44] = 0x68;
    memcpy(afield + 45, aw, OS_APPROVAL_BYTES);
    assert_non_null(memmem(ser, ser_len, afield, sizeof afield));
    psbt *q = NULL;
    assert_int_equal(psbt_parse(ser, ser_len, &q, err, sizeof err), OS_OK);
    assert_int_equal(psbt_output_voucher(q, 1, &got), OS_OK);
    assert_memory_equal(&got, &v, sizeof v);
    assert_int_equal(psbt_approvals(q, held, &n), OS_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(&held[0], &a[0], sizeof a[0]);   /* key order */
    assert_memory_equal(&held[1], &a[1], sizeof a[1]);
    uint8_t *ser2;
    size_t ser2_len;
    assert_int_equal(psbt_serialize(q, &ser2, &ser2_len), OS_OK);
    assert_int_equal(ser2_len, ser_len);
    assert_memory_equal(ser2, ser, ser_len);
    /* a fourth operator's approval is more than a signer holds */
    assert_int_equal(psbt_add_approval(q, &a[2], err, sizeof err), OS_OK);
    assert_int_equal(psbt_add_approval(q, &a[3], err, sizeof err), OS_ERR_PSBT_UNSIGNABLE);
    assert_non_null(strstr(err, "carries 3 approvals already"));
    free(ser2);
    psbt_free(q);
    psbt_free(p);

    /* each malformed form, from the vector with output 1 bound to nonce */
#define FRESH()                                                         \
    do {                                                                \
        assert_int_equal(psbt_parse(bin, len, &p, NULL, 0), OS_OK);     \
        assert_int_equal(psbt_output_bind(p, 1, nonce, NULL), OS_OK);   \
    } while (0)
    FRESH();
    raw_pair(&p->outputs[1], PSBT_ONCESIGN_VOUCHER, NULL, 0, wire, OS_VOUCHER_BYTES - 1);
    expect_serialized_malformed(p, "oncesign voucher: key data or value length (214)");
    psbt_free(p);
    FRESH();
    raw_pair(&p->outputs[1], PSBT_ONCESIGN_VOUCHER, (const uint8_t *)"x", 1, wire, OS_VOUCHER_BYTES);
    expect_serialized_malformed(p, "oncesign voucher: key data or value length (214)");
    psbt_free(p);
    FRESH();
    uint8_t bad[OS_VOUCHER_BYTES];
    memcpy(bad, wire, sizeof bad);
    bad[0] = 2;   /* version */
    raw_pair(&p->outputs[1], PSBT_ONCESIGN_VOUCHER, NULL, 0, bad, sizeof bad);
    expect_serialized_malformed(p, "not a voucher's encoding");
    psbt_free(p);
    FRESH();
    raw_pair(&p->outputs[0], PSBT_ONCESIGN_VOUCHER, NULL, 0, wire, OS_VOUCHER_BYTES);   /* output 0: no nonce */
    expect_serialized_malformed(p, "output 0: oncesign voucher without a nonce");
    psbt_free(p);
    FRESH();
    assert_int_equal(psbt_output_bind(p, 1, nonce, &anchor), OS_OK);
    raw_pair(&p->outputs[1], PSBT_ONCESIGN_VOUCHER, NULL, 0, wire, OS_VOUCHER_BYTES);
    expect_serialized_malformed(p, "output 1: oncesign voucher on a replacement");
    psbt_free(p);
    FRESH();
    assert_int_equal(psbt_output_bind(p, 1, other_nonce, NULL), OS_OK);
    raw_pair(&p->outputs[1], PSBT_ONCESIGN_VOUCHER, NULL, 0, wire, OS_VOUCHER_BYTES);
    expect_serialized_malformed(p, "output 1: its oncesign voucher is for another nonce");
    psbt_free(p);
    FRESH();
    raw_pair(&p->global, PSBT_ONCESIGN_APPROVAL, a[0].operator_key, 32, aw, OS_APPROVAL_BYTES - 1);
    expect_serialized_malformed(p, "oncesign approval: key data (the operator key, 32 bytes) or value length (104)");
    psbt_free(p);
    FRESH();
    raw_pair(&p->global, PSBT_ONCESIGN_APPROVAL, a[0].operator_key, 31, aw, OS_APPROVAL_BYTES);
    expect_serialized_malformed(p, "oncesign approval: key data (the operator key, 32 bytes) or value length (104)");
    psbt_free(p);
    FRESH();
    uint8_t aw0[OS_APPROVAL_BYTES];
    memcpy(aw0, aw, sizeof aw0);
    memset(aw0 + 32, 0, 8);   /* expiry_seq 0 */
    raw_pair(&p->global, PSBT_ONCESIGN_APPROVAL, a[0].operator_key, 32, aw0, sizeof aw0);
    expect_serialized_malformed(p, "oncesign approval: expiry_seq 0");
    psbt_free(p);
    FRESH();
    raw_pair(&p->global, PSBT_ONCESIGN_APPROVAL, a[1].operator_key, 32, aw, OS_APPROVAL_BYTES);
    expect_serialized_malformed(p, "made by another operator key than its key names");
    psbt_free(p);
    FRESH();
    for (int k = 0; k < 4; k++) {
        uint8_t w[OS_APPROVAL_BYTES];
        assert_int_equal(os_approval_encode(&a[k], w), OS_OK);
        raw_pair(&p->global, PSBT_ONCESIGN_APPROVAL, a[k].operator_key, 32, w, sizeof w);
    }
    expect_serialized_malformed(p, "global map: 4 oncesign approvals; a signer holds at most 3 operators");
    psbt_free(p);
    /* the same operator's approval twice: a duplicate key, whatever the values */
    FRESH();
    assert_int_equal(psbt_add_approval(p, &a[0], err, sizeof err), OS_OK);
    assert_int_equal(psbt_serialize(p, &ser2, &ser2_len), OS_OK);
    uint8_t *f = memmem(ser2, ser2_len, afield, sizeof afield);
    assert_non_null(f);
    uint8_t *dup = malloc(ser2_len + sizeof afield);
    size_t at = (size_t)(f - ser2) + sizeof afield;
    memcpy(dup, ser2, at);
    memcpy(dup + at, afield, sizeof afield);
    memcpy(dup + at + sizeof afield, ser2 + at, ser2_len - at);
    expect_malformed(dup, ser2_len + sizeof afield, "global map: duplicate key (type 0xfc)");
    free(dup);
    free(ser2);
    psbt_free(p);
#undef FRESH
    free(ser);
    free(bin);
}

/* ---------------------------------------------------------------- a Core-style PSBT */

typedef struct {
    uint8_t master_fp[4];
    bip32_node master;
} keys;

static void keys_init(keys *k) {
    uint8_t seed[64];
    assert_int_equal(bip39_seed(HARNESS_MNEMONIC, strlen(HARNESS_MNEMONIC), "", seed), OS_OK);
    assert_int_equal(bip32_from_seed(seed, sizeof seed, &k->master), OS_OK);
    bip32_fingerprint(&k->master, k->master_fp);
}

static void path_of(uint8_t script_type, uint32_t coin, uint32_t change, uint32_t index, uint32_t path[5]) {
    path[0] = address_purpose(script_type) | H;
    path[1] = coin | H;
    path[2] = 0 | H;
    path[3] = change;
    path[4] = index;
}

static void add_derivation(keys *k, psbt_map *m, uint8_t type, const uint32_t path[5], uint8_t pub_out[33]) {
    bip32_node n;
    assert_int_equal(bip32_derive_path(&k->master, path, 5, &n), OS_OK);
    uint8_t key[34], value[24];
    key[0] = type;
    memcpy(key + 1, n.public_key, 33);
    memcpy(value, k->master_fp, 4);
    for (int i = 0; i < 5; i++) os_write_le32(value + 4 + 4 * i, path[i]);
    assert_int_equal(psbt_map_set(m, key, sizeof key, value, sizeof value), OS_OK);
    if (pub_out != NULL) memcpy(pub_out, n.public_key, 33);
    bip32_wipe(&n);
}

/* What the builder can leave out or get wrong, to provoke each refusal. */
enum {
    F_NO_INPUT_DERIVATION = 1 << 0,
    F_FOREIGN_INPUT_KEY = 1 << 1,
    F_NO_NON_WITNESS_UTXO = 1 << 2,
    F_NO_CHANGE_DERIVATION = 1 << 3,
    F_CHANGE_ON_RECEIVE_CHAIN = 1 << 4,
    F_WRONG_COIN = 1 << 5,
    F_WITNESS_UTXO_AMOUNT = 1 << 6,
};

typedef struct {
    harness_coin coins[2];
    uint8_t nonces[2][32];     /* in key order: nonces[0] sorts first */
    uint8_t dest[2][25];
    uint8_t change_script[25];
} fixture;

static void nonce_for(uint32_t id, uint8_t nonce[32]) {
    memset(nonce, 0, 32);
    os_write_le32(nonce, id);
    nonce[31] = 0x5c;
}

static void fixture_init(fixture *fx) {
    memset(fx, 0, sizeof *fx);
    assert_int_equal(harness_make_coin(&fx->coins[0], OS_SCRIPT_P2PKH, 0, 0, 40000000, 101), OS_OK);
    assert_int_equal(harness_make_coin(&fx->coins[1], OS_SCRIPT_P2WPKH, 1, 3, 25000000, 102), OS_OK);
    uint8_t a[32], b[32], ka[32], kb[32];
    nonce_for(1, a);
    nonce_for(2, b);
    assert_int_equal(nonce_set_key(a, ka), OS_OK);
    assert_int_equal(nonce_set_key(b, kb), OS_OK);
    int a_first = memcmp(ka, kb, 32) < 0;
    memcpy(fx->nonces[0], a_first ? a : b, 32);
    memcpy(fx->nonces[1], a_first ? b : a, 32);
    harness_destination(7001, fx->dest[0]);
    harness_destination(7002, fx->dest[1]);
    size_t l;
    assert_int_equal(harness_script(OS_SCRIPT_P2PKH, 1, 5, fx->change_script, &l), OS_OK);
    assert_int_equal(l, 25);
}

/* The shape walletcreatefundedpsbt gives for a watch-only wallet of the signer's descriptors:
 * global unsigned tx; per input non_witness_utxo (+ witness_utxo for segwit) and a bip32 derivation
 * with the master fingerprint and the full path; per change output its bip32 derivation. Outputs:
 * payout A, change, payout B. Returns the serialized PSBT. */
static uint8_t *core_style_psbt(fixture *fx, unsigned flags, size_t *len) {
    keys k;
    keys_init(&k);
    psbt_txin in[2];
    for (int i = 0; i < 2; i++) {
        in[i].prevout = fx->coins[i].input.prevout;
        in[i].sequence = 0xfffffffdu;
    }
    psbt_txout out[3] = {
        { 10000000, fx->dest[0], 25 },
        { 54990000, fx->change_script, 25 },
        { 0, fx->dest[1], 25 },
    };
    out[2].amount = 40000000 + 25000000 - 10000000 - 54990000 - 5000;   /* fee 5000 */
    psbt *p = NULL;
    assert_int_equal(psbt_create(2, 0, in, 2, out, 3, &p), OS_OK);
    uint32_t coin = (flags & F_WRONG_COIN) ? 22 : 1;
    for (int i = 0; i < 2; i++) {
        harness_coin *c = &fx->coins[i];
        uint8_t t = PSBT_IN_NON_WITNESS_UTXO;
        if (!(flags & F_NO_NON_WITNESS_UTXO)) assert_int_equal(psbt_map_set(&p->inputs[i], &t, 1, c->prev_tx, c->prev_tx_len), OS_OK);
        if (c->input.script_type != OS_SCRIPT_P2PKH) {
            uint8_t wu[8 + 1 + 34], script[34];
            size_t sl;
            assert_int_equal(harness_script(c->input.script_type, c->input.change, c->input.addr_index, script, &sl), OS_OK);
            os_write_le64(wu, c->amount + ((flags & F_WITNESS_UTXO_AMOUNT) ? 1 : 0));
            wu[8] = (uint8_t)sl;
            memcpy(wu + 9, script, sl);
            t = PSBT_IN_WITNESS_UTXO;
            assert_int_equal(psbt_map_set(&p->inputs[i], &t, 1, wu, 9 + sl), OS_OK);
        }
        if (!(flags & F_NO_INPUT_DERIVATION)) {
            uint32_t path[5];
            path_of(c->input.script_type, coin, c->input.change, c->input.addr_index, path);
            if ((flags & F_FOREIGN_INPUT_KEY) && i == 1) path[4] += 1;   /* a key the coin does not pay */
            add_derivation(&k, &p->inputs[i], PSBT_IN_BIP32_DERIVATION, path, NULL);
        }
    }
    if (!(flags & F_NO_CHANGE_DERIVATION)) {
        uint32_t path[5];
        path_of(OS_SCRIPT_P2PKH, coin, (flags & F_CHANGE_ON_RECEIVE_CHAIN) ? 0 : 1, 5, path);
        add_derivation(&k, &p->outputs[1], PSBT_OUT_BIP32_DERIVATION, path, NULL);
    }
    uint8_t *bin;
    assert_int_equal(psbt_serialize(p, &bin, len), OS_OK);
    psbt_free(p);
    bip32_wipe(&k.master);
    return bin;
}

/* The signer's side of the mapping, as the CLI does it: GET_XPUB on the device. */
typedef struct {
    os_client *client;
    fixture *fx;
    int fetch_wrong;
    int fetch_calls;
} signer_ctx;

static int device_account_xpub(void *ctx, uint8_t script_type, uint32_t account, bip32_node *out) {
    signer_ctx *s = ctx;
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_XPUB;
    req.u.get_xpub.script_type = script_type;
    req.u.get_xpub.account = account;
    int rc = os_client_call(s->client, &req, &reply, buf, 5000);
    if (rc != OS_OK) return rc;
    if (reply.type != OS_MSG_XPUB) return OS_ERR_MSG_UNEXPECTED;
    uint32_t version;
    return bip32_parse(reply.u.xpub.data, &version, out);
}

static int fetch_prev(void *ctx, const uint8_t txid[32], uint8_t **raw, size_t *len) {
    signer_ctx *s = ctx;
    s->fetch_calls++;
    for (int i = 0; i < 2; i++) {
        harness_coin *c = &s->fx->coins[i];
        if (memcmp(c->input.prevout.txid, txid, 32) == 0) {
            harness_coin *give = s->fetch_wrong ? &s->fx->coins[1 - i] : c;
            *raw = malloc(give->prev_tx_len);
            memcpy(*raw, give->prev_tx, give->prev_tx_len);
            *len = give->prev_tx_len;
            return OS_OK;
        }
    }
    return OS_ERR_NOT_FOUND;
}

static os_client *start_signer(void) {
    os_client *c = harness_start(FLASH, 77);
    os_policy pol = harness_policy_open();
    assert_int_equal(harness_init_device(c, &pol, OS_SCRIPT_P2PKH), OS_OK);
    return c;
}

/* Parses bin, binds both payouts (unless bind == 0; swapped order when bind == 2) and maps it. */
static int map_psbt(const uint8_t *bin, size_t len, fixture *fx, signer_ctx *sc, int with_fetch, int bind, psbt **out,
                    psbt_sign_request *req, char *err, size_t cap) {
    psbt *p = NULL;
    assert_int_equal(psbt_parse(bin, len, &p, err, cap), OS_OK);
    if (bind) {
        assert_int_equal(psbt_output_bind(p, 0, fx->nonces[bind == 2 ? 1 : 0], NULL), OS_OK);
        assert_int_equal(psbt_output_bind(p, 2, fx->nonces[bind == 2 ? 0 : 1], NULL), OS_OK);
    }
    psbt_signer s = { OS_NET_REGTEST, device_account_xpub, with_fetch ? fetch_prev : NULL, sc };
    int rc = psbt_to_sign_request(p, &s, req, err, cap);
    *out = p;
    return rc;
}

static void test_core_style_end_to_end(void **state) {
    (void)state;
    os_client *c = start_signer();
    fixture fx;
    fixture_init(&fx);
    size_t len;
    uint8_t *bin = core_style_psbt(&fx, 0, &len);
    signer_ctx sc = { c, &fx, 0, 0 };
    psbt *p;
    psbt_sign_request req;
    char err[512] = "";
    int rc = map_psbt(bin, len, &fx, &sc, 0, 1, &p, &req, err, sizeof err);
    if (rc != OS_OK) fail_msg("mapping: %s", err);
    assert_int_equal(req.n_payouts, 2);
    assert_int_equal(req.n_change, 1);
    assert_int_equal(req.input_total, 65000000);
    assert_int_equal(req.input_total - req.output_total, 5000);
    assert_int_equal(req.inputs[0].script_type, OS_SCRIPT_P2PKH);
    assert_int_equal(req.inputs[1].script_type, OS_SCRIPT_P2WPKH);
    assert_int_equal(req.inputs[1].change, 1);
    assert_int_equal(req.inputs[1].addr_index, 3);
    assert_int_equal(req.outputs[1].kind, OS_OUTPUT_CHANGE);
    assert_int_equal(req.outputs[1].change_index, 5);
    assert_int_equal(req.outputs[0].kind, OS_OUTPUT_PAYOUT);
    assert_memory_equal(req.outputs[2].nonce, fx.nonces[1], 32);

    nonce_tree *tree;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_input_sig sigs[2];
    os_sign_outcome outcome;
    rc = os_sign_run(c, tree, &req.tx, sigs, &outcome, harness_on_pending, NULL);
    assert_int_equal(rc, OS_OK);
    assert_int_equal(nonce_tree_count(tree), 2 + 1);   /* and input 0's anchor entry */
    for (int i = 0; i < 2; i++) assert_memory_equal(sigs[i].pubkey, req.pubkeys[i], 33);

    /* The signed PSBT: partial signatures added, everything else as it was. */
    assert_int_equal(psbt_add_partial_sigs(p, &req, sigs), OS_OK);
    uint8_t *signed_bin;
    size_t signed_len;
    assert_int_equal(psbt_serialize(p, &signed_bin, &signed_len), OS_OK);
    psbt *again = NULL;
    assert_int_equal(psbt_parse(signed_bin, signed_len, &again, err, sizeof err), OS_OK);
    uint8_t key[34] = { PSBT_IN_PARTIAL_SIG };
    memcpy(key + 1, sigs[1].pubkey, 33);
    long at = psbt_map_find(&again->inputs[1], key, sizeof key);
    assert_true(at >= 0);
    assert_int_equal(again->inputs[1].pairs[at].value_len, sigs[1].sig_len);

    /* Finalized: the raw transaction verifies against the host's own sighash. */
    uint8_t raw[4096], txid[32];
    size_t raw_len, bad = 99;
    assert_int_equal(os_sign_serialize(&req.tx, sigs, raw, sizeof raw, &raw_len, txid), OS_OK);
    assert_int_equal(os_sign_verify(&req.tx, sigs, &bad), OS_OK);
    /* The signed tx is the PSBT's unsigned tx: same version, outputs (all of them, in order). */
    const psbt_pair *utx = &p->global.pairs[psbt_map_find(&p->global, (const uint8_t *)"", 1)];
    size_t outputs_at = 4 + 1 + 2 * 41;
    assert_non_null(memmem(raw, raw_len, utx->value + outputs_at, utx->value_len - outputs_at - 4));
    assert_memory_equal(raw, utx->value, 4);

    /* Signing the same PSBT again, its nonces presented as new: refused (I1); a replacement has to
     * say so and name its anchor. */
    psbt_sign_request req2;
    psbt *p2;
    assert_int_equal(map_psbt(bin, len, &fx, &sc, 0, 1, &p2, &req2, err, sizeof err), OS_OK);
    rc = os_sign_run(c, tree, &req2.tx, sigs, &outcome, harness_on_pending, NULL);
    assert_int_not_equal(rc, OS_OK);
    psbt_sign_request_free(&req2);
    psbt_free(p2);

    nonce_tree_free(tree);
    psbt_free(again);
    free(signed_bin);
    psbt_sign_request_free(&req);
    psbt_free(p);
    free(bin);
    harness_stop();
}

static void expect_refusal(fixture *fx, signer_ctx *sc, unsigned flags, int with_fetch, int bind, int status,
                           const char *needle) {
    size_t len;
    uint8_t *bin = core_style_psbt(fx, flags, &len);
    psbt *p;
    psbt_sign_request req;
    char err[512] = "";
    int rc = map_psbt(bin, len, fx, sc, with_fetch, bind, &p, &req, err, sizeof err);
    if (rc != status) fail_msg("flags %#x: expected %d, got %d (%s)", flags, status, rc, err);
    if (needle != NULL && strstr(err, needle) == NULL) fail_msg("flags %#x: '%s' does not mention '%s'", flags, err, needle);
    psbt_sign_request_free(&req);
    psbt_free(p);
    free(bin);
}

static void test_mapping_refusals(void **state) {
    (void)state;
    os_client *c = start_signer();
    fixture fx;
    fixture_init(&fx);
    signer_ctx sc = { c, &fx, 0, 0 };
    expect_refusal(&fx, &sc, F_NO_INPUT_DERIVATION, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "input 0: no BIP32 derivation");
    expect_refusal(&fx, &sc, F_FOREIGN_INPUT_KEY, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "input 1: the coin's script");
    expect_refusal(&fx, &sc, F_WRONG_COIN, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "input 0: no BIP32 derivation");
    expect_refusal(&fx, &sc, F_NO_NON_WITNESS_UTXO, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "--rpc-url");
    expect_refusal(&fx, &sc, F_WITNESS_UTXO_AMOUNT, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "witness UTXO disagrees");
    expect_refusal(&fx, &sc, F_NO_CHANGE_DERIVATION, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "output 1 pays neither");
    expect_refusal(&fx, &sc, F_CHANGE_ON_RECEIVE_CHAIN, 0, 1, OS_ERR_PSBT_UNSIGNABLE, "output 1 pays neither");
    expect_refusal(&fx, &sc, 0, 0, 0, OS_ERR_PSBT_UNSIGNABLE, "output 0 pays neither");
    expect_refusal(&fx, &sc, 0, 0, 2, OS_ERR_NONCE_ORDER, "creator must order");
    /* only witness UTXOs, but the previous transactions can be fetched (--rpc-url): signable ... */
    sc.fetch_calls = 0;
    expect_refusal(&fx, &sc, F_NO_NON_WITNESS_UTXO, 1, 1, OS_OK, NULL);
    assert_int_equal(sc.fetch_calls, 2);
    /* ... unless the node hands back another transaction */
    sc.fetch_wrong = 1;
    expect_refusal(&fx, &sc, F_NO_NON_WITNESS_UTXO, 1, 1, OS_ERR_PSBT_UNSIGNABLE, "not the one the prevout names");
    sc.fetch_wrong = 0;

    /* one nonce on two outputs */
    size_t len;
    uint8_t *bin = core_style_psbt(&fx, 0, &len);
    psbt *p = NULL;
    assert_int_equal(psbt_parse(bin, len, &p, NULL, 0), OS_OK);
    assert_int_equal(psbt_output_bind(p, 0, fx.nonces[0], NULL), OS_OK);
    assert_int_equal(psbt_output_bind(p, 2, fx.nonces[0], NULL), OS_OK);
    psbt_signer s = { OS_NET_REGTEST, device_account_xpub, NULL, &sc };
    psbt_sign_request req;
    char err[512];
    assert_int_equal(psbt_to_sign_request(p, &s, &req, err, sizeof err), OS_ERR_NONCE_ORDER);
    psbt_sign_request_free(&req);
    /* a replacement carries its anchor through */
    assert_int_equal(psbt_output_bind(p, 2, fx.nonces[1], &fx.coins[0].input.prevout), OS_OK);
    assert_int_equal(psbt_to_sign_request(p, &s, &req, err, sizeof err), OS_OK);
    assert_int_equal(req.outputs[2].replace, 1);
    assert_memory_equal(req.outputs[2].anchor.txid, fx.coins[0].input.prevout.txid, 32);
    psbt_sign_request_free(&req);
    psbt_free(p);
    free(bin);
    harness_stop();
}

/* A payout's voucher and the approvals reach os_sign_tx; the commitment psbt_tx_digest gives is the
 * draft's (what the signer logs and operators approve). */
static void test_mapping_carries_vouchers_and_approvals(void **state) {
    (void)state;
    os_client *c = start_signer();
    fixture fx;
    fixture_init(&fx);
    signer_ctx sc = { c, &fx, 0, 0 };
    size_t len;
    uint8_t *bin = core_style_psbt(&fx, 0, &len);
    psbt *p;
    psbt_sign_request req;
    char err[512] = "";
    assert_int_equal(map_psbt(bin, len, &fx, &sc, 0, 1, &p, &req, err, sizeof err), OS_OK);
    assert_null(req.outputs[0].voucher);
    assert_int_equal(req.tx.n_approvals, 0);
    psbt_sign_request_free(&req);
    os_voucher v;
    voucher_for(&v, fx.nonces[1], 30000000);
    assert_int_equal(psbt_output_set_voucher(p, 2, &v, err, sizeof err), OS_OK);
    os_approval a[2];
    approval_by(&a[0], 0x41, 900);
    approval_by(&a[1], 0x42, 901);
    for (int k = 0; k < 2; k++) assert_int_equal(psbt_add_approval(p, &a[k], err, sizeof err), OS_OK);
    psbt_signer s = { OS_NET_REGTEST, device_account_xpub, NULL, &sc };
    assert_int_equal(psbt_to_sign_request(p, &s, &req, err, sizeof err), OS_OK);
    assert_null(req.outputs[0].voucher);
    assert_null(req.outputs[1].voucher);
    assert_non_null(req.outputs[2].voucher);
    assert_memory_equal(req.outputs[2].voucher, &v, sizeof v);
    assert_int_equal(req.tx.n_approvals, 2);
    assert_memory_equal(&req.tx.approvals[0], &a[0], sizeof a[0]);
    assert_memory_equal(&req.tx.approvals[1], &a[1], sizeof a[1]);
    uint8_t hp[32], want[32], digest[32];
    assert_int_equal(os_draft_commitment(&req.tx, hp, want), OS_OK);
    assert_int_equal(psbt_tx_digest(p, digest), OS_OK);
    assert_memory_equal(digest, want, 32);
    psbt_sign_request_free(&req);
    psbt_free(p);
    free(bin);
    harness_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bip174_valid),
        cmocka_unit_test(test_bip174_invalid),
        cmocka_unit_test(test_structural_errors),
        cmocka_unit_test(test_oncesign_field),
        cmocka_unit_test(test_core_style_end_to_end),
        cmocka_unit_test(test_mapping_refusals),
        cmocka_unit_test(test_voucher_and_approval_fields),
        cmocka_unit_test(test_mapping_carries_vouchers_and_approvals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
