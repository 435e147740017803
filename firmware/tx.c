/* oncesign — streaming previous-transaction parser and SIGHASH_ALL signature hashes (tx.h). */
#include "tx.h"

#include <string.h>

#include "bytes.h"
#include "tx_digest.h"
#include "oncesign/check.h"

/* ---------------------------------------------------------------- helpers */

size_t tx_varint_size(uint64_t v) {
    if (v < 0xfd) return 1;
    if (v <= 0xffff) return 3;
    if (v <= 0xffffffffu) return 5;
    return 9;
}

size_t tx_write_varint(uint8_t *out, uint64_t v) {
    if (v < 0xfd) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v <= 0xffff) {
        out[0] = 0xfd;
        os_write_le16(out + 1, (uint16_t)v);
        return 3;
    }
    if (v <= 0xffffffffu) {
        out[0] = 0xfe;
        os_write_le32(out + 1, (uint32_t)v);
        return 5;
    }
    out[0] = 0xff;
    os_write_le64(out + 1, v);
    return 9;
}

static int sha_update(mbedtls_sha256_context *ctx, const uint8_t *data, size_t len) {
    if (len == 0) return OS_OK;
    return mbedtls_sha256_update_ret(ctx, data, len) == 0 ? OS_OK : OS_ERR_CRYPTO;
}

static int sha_start(mbedtls_sha256_context *ctx) {
    mbedtls_sha256_init(ctx);
    return mbedtls_sha256_starts_ret(ctx, 0) == 0 ? OS_OK : OS_ERR_CRYPTO;
}

/* Finishes the first SHA-256 in ctx and hashes its digest again. */
static int sha_finish_double(mbedtls_sha256_context *ctx, uint8_t out[32]) {
    uint8_t first[32];
    if (mbedtls_sha256_finish_ret(ctx, first) != 0) return OS_ERR_CRYPTO;
    if (mbedtls_sha256_ret(first, sizeof first, out, 0) != 0) return OS_ERR_CRYPTO;
    return OS_OK;
}

/* ---------------------------------------------------------------- previous transaction */

enum {
    PREV_VERSION = 1,
    PREV_MARKER,        /* the byte after nVersion: 0x00 is the segwit marker, else the input count */
    PREV_FLAG,
    PREV_N_IN,
    PREV_IN_PREVOUT,
    PREV_IN_SCRIPT_LEN,
    PREV_IN_SCRIPT,
    PREV_IN_SEQUENCE,
    PREV_N_OUT,
    PREV_OUT_AMOUNT,
    PREV_OUT_SCRIPT_LEN,
    PREV_OUT_SCRIPT,
    PREV_WIT_N_ITEMS,
    PREV_WIT_ITEM_LEN,
    PREV_WIT_ITEM,
    PREV_LOCKTIME,
    PREV_DONE,
    PREV_FAILED,
};

/* Smallest serialized input: outpoint 36 + empty script 1 + sequence 4; smallest output: 8 + 1. */
#define PREV_MIN_INPUT_BYTES 41u
#define PREV_MIN_OUTPUT_BYTES 9u

static int prev_is_varint_state(uint8_t s) {
    return s == PREV_N_IN || s == PREV_IN_SCRIPT_LEN || s == PREV_N_OUT || s == PREV_OUT_SCRIPT_LEN ||
           s == PREV_WIT_N_ITEMS || s == PREV_WIT_ITEM_LEN;
}

/* The txid covers everything but the marker, the flag and the witness section. */
static int prev_is_hashed_state(uint8_t s) {
    return s != PREV_FLAG && s != PREV_WIT_N_ITEMS && s != PREV_WIT_ITEM_LEN && s != PREV_WIT_ITEM;
}

static void prev_expect_field(tx_prev_parser *p, uint8_t state, uint32_t len) {
    p->state = state;
    p->field_left = len;
}

static int prev_after_outputs(tx_prev_parser *p) {
    if (p->segwit) {
        p->list_left = p->n_inputs;
        p->state = PREV_WIT_N_ITEMS;
    } else {
        prev_expect_field(p, PREV_LOCKTIME, 4);
    }
    return OS_OK;
}

static int prev_output_done(tx_prev_parser *p) {
    if (p->out_index == p->vout) p->found = 1;
    p->out_index++;
    p->list_left--;
    if (p->list_left > 0) {
        prev_expect_field(p, PREV_OUT_AMOUNT, 8);
        return OS_OK;
    }
    return prev_after_outputs(p);
}

static int prev_witness_stack_done(tx_prev_parser *p) {
    p->list_left--;
    if (p->list_left > 0) {
        p->state = PREV_WIT_N_ITEMS;
        return OS_OK;
    }
    /* Core rejects a marker/flag serialization whose witnesses are all empty ("superfluous
     * witness record"), so such bytes are no transaction of any chain. */
    if (!p->has_witness) return OS_ERR_TX_PARSE;
    prev_expect_field(p, PREV_LOCKTIME, 4);
    return OS_OK;
}

static int prev_witness_item_done(tx_prev_parser *p) {
    p->items_left--;
    if (p->items_left > 0) {
        p->state = PREV_WIT_ITEM_LEN;
        return OS_OK;
    }
    return prev_witness_stack_done(p);
}

/* A CompactSize of the current state was read completely. Every count or length is checked against
 * the bytes still to come, so all later arithmetic stays below total_len. */
static int prev_varint_done(tx_prev_parser *p, uint64_t v) {
    uint32_t rem = p->total_len - p->consumed;
    switch (p->state) {
    case PREV_N_IN:
        if (v == 0 || v > rem / PREV_MIN_INPUT_BYTES) return OS_ERR_TX_PARSE;
        p->n_inputs = (uint32_t)v;
        p->list_left = (uint32_t)v;
        prev_expect_field(p, PREV_IN_PREVOUT, 36);
        return OS_OK;
    case PREV_IN_SCRIPT_LEN:
        if (v > rem) return OS_ERR_TX_PARSE;
        if (v == 0) prev_expect_field(p, PREV_IN_SEQUENCE, 4);
        else prev_expect_field(p, PREV_IN_SCRIPT, (uint32_t)v);
        return OS_OK;
    case PREV_N_OUT:
        if (v > rem / PREV_MIN_OUTPUT_BYTES) return OS_ERR_TX_PARSE;
        p->list_left = (uint32_t)v;
        p->out_index = 0;
        if (v == 0) return prev_after_outputs(p);
        prev_expect_field(p, PREV_OUT_AMOUNT, 8);
        return OS_OK;
    case PREV_OUT_SCRIPT_LEN:
        if (v > rem) return OS_ERR_TX_PARSE;
        if (p->out_index == p->vout) p->found_script_len = (uint32_t)v;
        if (v == 0) return prev_output_done(p);
        prev_expect_field(p, PREV_OUT_SCRIPT, (uint32_t)v);
        return OS_OK;
    case PREV_WIT_N_ITEMS:
        if (v > rem) return OS_ERR_TX_PARSE;  /* every item takes at least its length byte */
        if (v == 0) return prev_witness_stack_done(p);
        p->has_witness = 1;
        p->items_left = (uint32_t)v;
        p->state = PREV_WIT_ITEM_LEN;
        return OS_OK;
    case PREV_WIT_ITEM_LEN:
        if (v > rem) return OS_ERR_TX_PARSE;
        if (v == 0) return prev_witness_item_done(p);
        prev_expect_field(p, PREV_WIT_ITEM, (uint32_t)v);
        return OS_OK;
    default:
        return OS_ERR_INTERNAL;
    }
}

static int prev_field_done(tx_prev_parser *p) {
    switch (p->state) {
    case PREV_VERSION:
        p->state = PREV_MARKER;
        return OS_OK;
    case PREV_IN_PREVOUT:
        p->state = PREV_IN_SCRIPT_LEN;
        return OS_OK;
    case PREV_IN_SCRIPT:
        prev_expect_field(p, PREV_IN_SEQUENCE, 4);
        return OS_OK;
    case PREV_IN_SEQUENCE:
        p->list_left--;
        if (p->list_left > 0) prev_expect_field(p, PREV_IN_PREVOUT, 36);
        else p->state = PREV_N_OUT;
        return OS_OK;
    case PREV_OUT_AMOUNT:
        if (p->out_index == p->vout) p->found_amount = os_read_le64(p->field);
        p->state = PREV_OUT_SCRIPT_LEN;
        return OS_OK;
    case PREV_OUT_SCRIPT:
        return prev_output_done(p);
    case PREV_WIT_ITEM:
        return prev_witness_item_done(p);
    case PREV_LOCKTIME:
        CHECK_OK(sha_finish_double(&p->sha, p->txid));
        p->state = PREV_DONE;
        return OS_OK;
    default:
        return OS_ERR_INTERNAL;
    }
}

/* Consumes one CompactSize byte. */
static int prev_varint_byte(tx_prev_parser *p, uint8_t b) {
    if (p->varint_size == 0) {
        if (b < 0xfd) return prev_varint_done(p, b);
        p->varint_size = b == 0xfd ? 2 : (b == 0xfe ? 4 : 8);
        p->varint_need = p->varint_size;
        p->varint_value = 0;
        return OS_OK;
    }
    p->varint_value |= (uint64_t)b << (8u * (uint32_t)(p->varint_size - p->varint_need));
    p->varint_need--;
    if (p->varint_need > 0) return OS_OK;
    {
        uint64_t v = p->varint_value;
        uint8_t size = p->varint_size;
        uint64_t min = size == 2 ? 0xfdu : (size == 4 ? 0x10000u : 0x100000000u);
        p->varint_size = 0;
        if (v < min) return OS_ERR_TX_PARSE;  /* non-minimal encoding */
        return prev_varint_done(p, v);
    }
}

int tx_prev_init(tx_prev_parser *p, uint32_t total_len, uint32_t vout) {
    ARG_CHECK(p != NULL);
    memset(p, 0, sizeof *p);
    p->state = PREV_FAILED;
    if (total_len == 0 || total_len > OS_MAX_PREVTX_BYTES) return OS_ERR_TX_LIMITS;
    CHECK_OK(sha_start(&p->sha));
    p->total_len = total_len;
    p->vout = vout;
    prev_expect_field(p, PREV_VERSION, 4);
    return OS_OK;
}

static int prev_fail(tx_prev_parser *p) {
    p->state = PREV_FAILED;
    return OS_ERR_TX_PARSE;
}

int tx_prev_feed(tx_prev_parser *p, const uint8_t *data, size_t len) {
    size_t pos = 0;
    ARG_CHECK(p != NULL);
    ARG_CHECK(data != NULL || len == 0);
    if (p->state == PREV_FAILED || p->state == 0) return OS_ERR_TX_PARSE;
    if (len > (size_t)(p->total_len - p->consumed)) return prev_fail(p);

    while (pos < len) {
        int status = OS_OK;
        const uint8_t *d = data + pos;
        size_t avail = len - pos;
        uint8_t state = p->state;

        if (state == PREV_DONE) return prev_fail(p);  /* bytes after nLockTime */
        if (state == PREV_MARKER) {
            if (d[0] != 0x00) {
                p->state = PREV_N_IN;  /* legacy serialization: this byte starts the input count */
                continue;
            }
            p->segwit = 1;
            p->state = PREV_FLAG;
            pos++;
            p->consumed++;
            continue;
        }
        if (state == PREV_FLAG) {
            pos++;
            p->consumed++;
            if (d[0] != 0x01) return prev_fail(p);
            p->state = PREV_N_IN;
            continue;
        }
        if (prev_is_varint_state(state)) {
            if (prev_is_hashed_state(state)) status = sha_update(&p->sha, d, 1);
            pos++;
            p->consumed++;
            if (status == OS_OK) status = prev_varint_byte(p, d[0]);
        } else if (p->field_left > 0) {
            size_t take = avail < p->field_left ? avail : p->field_left;
            if (prev_is_hashed_state(state)) status = sha_update(&p->sha, d, take);
            if (state == PREV_OUT_AMOUNT) {
                memcpy(p->field + (8u - p->field_left), d, take);
            } else if (state == PREV_OUT_SCRIPT && p->out_index == p->vout) {
                uint32_t offset = p->found_script_len - p->field_left;
                if (offset < TX_SCRIPT_CAPTURE_MAX) {
                    size_t keep = TX_SCRIPT_CAPTURE_MAX - offset;
                    memcpy(p->found_script + offset, d, take < keep ? take : keep);
                }
            }
            pos += take;
            p->consumed += (uint32_t)take;
            p->field_left -= (uint32_t)take;
            if (status == OS_OK && p->field_left == 0) status = prev_field_done(p);
        } else {
            status = OS_ERR_INTERNAL;
        }
        if (status != OS_OK) {
            p->state = PREV_FAILED;  /* parse errors, and crypto/internal ones alike, are final */
            return status;
        }
    }
    return OS_OK;
}

int tx_prev_finish(tx_prev_parser *p, uint8_t txid[32], uint64_t *amount,
                   uint8_t script[TX_SCRIPT_CAPTURE_MAX], size_t *script_len) {
    ARG_CHECK(p != NULL);
    ARG_CHECK(txid != NULL && amount != NULL && script != NULL && script_len != NULL);
    if (p->state != PREV_DONE || p->consumed != p->total_len) return OS_ERR_TX_PARSE;
    if (!p->found) return OS_ERR_TX_PREV_VOUT;
    if (p->found_script_len > TX_SCRIPT_CAPTURE_MAX) return OS_ERR_TX_NOT_OURS;
    memcpy(txid, p->txid, 32);
    *amount = p->found_amount;
    memcpy(script, p->found_script, p->found_script_len);
    *script_len = p->found_script_len;
    return OS_OK;
}

/* ---------------------------------------------------------------- sighasher */

enum { SIGH_INPUTS = 1, SIGH_OUTPUTS, SIGH_DONE, SIGH_FAILED };

static int hashtype_means_all(uint32_t hashtype) {
    uint32_t base = hashtype & 0x1fu;
    return (hashtype & 0x80u) == 0 && base != 2 && base != 3;
}

static void outpoint_bytes(const os_outpoint *op, uint8_t out[36]) {
    memcpy(out, op->txid, 32);
    os_write_le32(out + 32, op->vout);
}

int tx_sighasher_begin(tx_sighasher *h, uint32_t version, uint32_t locktime, uint16_t n_inputs,
                       uint16_t n_outputs) {
    uint8_t head[4 + 9];
    size_t head_len;
    uint16_t i;
    ARG_CHECK(h != NULL);
    memset(h, 0, sizeof *h);
    h->state = SIGH_FAILED;
    if (n_inputs == 0 || n_inputs > OS_MAX_INPUTS) return OS_ERR_TX_LIMITS;
    if (n_outputs == 0 || n_outputs > OS_MAX_OUTPUTS) return OS_ERR_TX_LIMITS;
    h->version = version;
    h->locktime = locktime;
    h->n_inputs = n_inputs;
    h->n_outputs = n_outputs;
    os_write_le32(head, version);
    head_len = 4 + tx_write_varint(head + 4, n_inputs);
    for (i = 0; i < n_inputs; i++) {
        CHECK_OK(sha_start(&h->legacy[i]));
        CHECK_OK(sha_update(&h->legacy[i], head, head_len));
    }
    CHECK_OK(sha_start(&h->bip143));
    CHECK_OK(sha_start(&h->bip143_seq));
    h->state = SIGH_INPUTS;
    return OS_OK;
}

/* The last input is in: close hashPrevouts / hashSequence, start the outputs everywhere. */
static int sighasher_inputs_done(tx_sighasher *h) {
    uint8_t count[9];
    size_t count_len = tx_write_varint(count, h->n_outputs);
    uint16_t k;
    CHECK_OK(sha_finish_double(&h->bip143, h->hash_prevouts));
    CHECK_OK(sha_finish_double(&h->bip143_seq, h->hash_sequence));
    CHECK_OK(sha_start(&h->bip143));  /* now collects hashOutputs */
    for (k = 0; k < h->n_inputs; k++) CHECK_OK(sha_update(&h->legacy[k], count, count_len));
    h->state = SIGH_OUTPUTS;
    return OS_OK;
}

static int sighasher_add_input_inner(tx_sighasher *h, uint16_t index, const os_outpoint *prevout,
                                     uint32_t sequence, const uint8_t *script_code,
                                     size_t script_code_len) {
    /* what every other input's preimage sees: outpoint, empty script, sequence */
    uint8_t blank[36 + 1 + 4];
    uint8_t len_prefix[9];
    size_t len_prefix_len = tx_write_varint(len_prefix, script_code_len);
    uint16_t k;
    outpoint_bytes(prevout, blank);
    blank[36] = 0x00;
    os_write_le32(blank + 37, sequence);
    for (k = 0; k < h->n_inputs; k++) {
        if (k == index) {
            CHECK_OK(sha_update(&h->legacy[k], blank, 36));
            CHECK_OK(sha_update(&h->legacy[k], len_prefix, len_prefix_len));
            CHECK_OK(sha_update(&h->legacy[k], script_code, script_code_len));
            CHECK_OK(sha_update(&h->legacy[k], blank + 37, 4));
        } else {
            CHECK_OK(sha_update(&h->legacy[k], blank, sizeof blank));
        }
    }
    CHECK_OK(sha_update(&h->bip143, blank, 36));
    CHECK_OK(sha_update(&h->bip143_seq, blank + 37, 4));
    h->next_input++;
    if (h->next_input == h->n_inputs) return sighasher_inputs_done(h);
    return OS_OK;
}

int tx_sighasher_add_input(tx_sighasher *h, uint16_t index, const os_outpoint *prevout, uint32_t sequence,
                           const uint8_t *script_code, size_t script_code_len) {
    int status;
    ARG_CHECK(h != NULL && prevout != NULL);
    ARG_CHECK(script_code != NULL || script_code_len == 0);
    if (h->state != SIGH_INPUTS || index != h->next_input) return OS_ERR_TX_ORDER;
    if (script_code_len > TX_MAX_SCRIPT_SIZE) return OS_ERR_TX_LIMITS;
    status = sighasher_add_input_inner(h, index, prevout, sequence, script_code, script_code_len);
    if (status != OS_OK) h->state = SIGH_FAILED;  /* contexts half-updated: nothing is usable */
    return status;
}

static int sighasher_add_output_inner(tx_sighasher *h, uint64_t amount, const uint8_t *script, size_t len) {
    uint8_t head[8 + 9];
    size_t head_len;
    uint16_t k;
    os_write_le64(head, amount);
    head_len = 8 + tx_write_varint(head + 8, len);
    for (k = 0; k < h->n_inputs; k++) {
        CHECK_OK(sha_update(&h->legacy[k], head, head_len));
        CHECK_OK(sha_update(&h->legacy[k], script, len));
    }
    CHECK_OK(sha_update(&h->bip143, head, head_len));
    CHECK_OK(sha_update(&h->bip143, script, len));
    h->next_output++;
    if (h->next_output == h->n_outputs) {
        CHECK_OK(sha_finish_double(&h->bip143, h->hash_outputs));
        h->state = SIGH_DONE;
    }
    return OS_OK;
}

int tx_sighasher_add_output(tx_sighasher *h, uint64_t amount, const uint8_t *script, size_t len) {
    int status;
    ARG_CHECK(h != NULL);
    ARG_CHECK(script != NULL || len == 0);
    if (h->state != SIGH_OUTPUTS) return OS_ERR_TX_ORDER;
    if (len > TX_MAX_SCRIPT_SIZE) return OS_ERR_TX_LIMITS;
    status = sighasher_add_output_inner(h, amount, script, len);
    if (status != OS_OK) h->state = SIGH_FAILED;
    return status;
}

int tx_sighasher_legacy(const tx_sighasher *h, uint16_t index, uint32_t hashtype, uint8_t sighash[32]) {
    mbedtls_sha256_context ctx;
    uint8_t tail[8];
    int status;
    ARG_CHECK(h != NULL && sighash != NULL);
    if (h->state != SIGH_DONE) return OS_ERR_TX_ORDER;
    ARG_CHECK(index < h->n_inputs);
    if (!hashtype_means_all(hashtype)) return OS_ERR_UNSUPPORTED;
    os_write_le32(tail, h->locktime);
    os_write_le32(tail + 4, hashtype);
    mbedtls_sha256_init(&ctx);
    mbedtls_sha256_clone(&ctx, &h->legacy[index]);
    status = sha_update(&ctx, tail, sizeof tail);
    if (status == OS_OK) status = sha_finish_double(&ctx, sighash);
    mbedtls_sha256_free(&ctx);
    return status;
}

static int bip143_preimage(mbedtls_sha256_context *ctx, const tx_sighasher *h, const os_outpoint *prevout,
                           const uint8_t *script_code, size_t script_code_len, uint64_t amount,
                           uint32_t sequence, uint32_t hashtype) {
    uint8_t buf[36 + 9];
    size_t n;
    os_write_le32(buf, h->version);
    CHECK_OK(sha_update(ctx, buf, 4));
    CHECK_OK(sha_update(ctx, h->hash_prevouts, 32));
    CHECK_OK(sha_update(ctx, h->hash_sequence, 32));
    outpoint_bytes(prevout, buf);
    n = 36 + tx_write_varint(buf + 36, script_code_len);
    CHECK_OK(sha_update(ctx, buf, n));
    CHECK_OK(sha_update(ctx, script_code, script_code_len));
    os_write_le64(buf, amount);
    os_write_le32(buf + 8, sequence);
    CHECK_OK(sha_update(ctx, buf, 12));
    CHECK_OK(sha_update(ctx, h->hash_outputs, 32));
    os_write_le32(buf, h->locktime);
    os_write_le32(buf + 4, hashtype);
    return sha_update(ctx, buf, 8);
}

int tx_sighasher_bip143(const tx_sighasher *h, const os_outpoint *prevout, const uint8_t *script_code,
                        size_t script_code_len, uint64_t amount, uint32_t sequence, uint32_t hashtype,
                        uint8_t sighash[32]) {
    mbedtls_sha256_context ctx;
    int status;
    ARG_CHECK(h != NULL && prevout != NULL && sighash != NULL);
    ARG_CHECK(script_code != NULL || script_code_len == 0);
    if (h->state != SIGH_DONE) return OS_ERR_TX_ORDER;
    if (script_code_len > TX_MAX_SCRIPT_SIZE) return OS_ERR_TX_LIMITS;
    if (!hashtype_means_all(hashtype)) return OS_ERR_UNSUPPORTED;
    status = sha_start(&ctx);
    if (status == OS_OK)
        status = bip143_preimage(&ctx, h, prevout, script_code, script_code_len, amount, sequence, hashtype);
    if (status == OS_OK) status = sha_finish_double(&ctx, sighash);
    mbedtls_sha256_free(&ctx);
    return status;
}

int tx_sighasher_commitment(const tx_sighasher *h, uint8_t hash_prevouts[32], uint8_t hash_outputs[32]) {
    ARG_CHECK(h != NULL && hash_prevouts != NULL && hash_outputs != NULL);
    if (h->state != SIGH_DONE) return OS_ERR_TX_ORDER;
    memcpy(hash_prevouts, h->hash_prevouts, 32);
    memcpy(hash_outputs, h->hash_outputs, 32);
    return OS_OK;
}

int tx_sighasher_tx_digest(const tx_sighasher *h, uint8_t tx_digest[32]) {
    ARG_CHECK(h != NULL && tx_digest != NULL);
    if (h->state != SIGH_DONE) return OS_ERR_TX_ORDER;
    return os_tx_digest(h->version, h->hash_prevouts, h->hash_sequence, h->hash_outputs, h->locktime, tx_digest);
}

int tx_sighasher_hash_prevouts(const tx_sighasher *h, uint8_t hash_prevouts[32]) {
    ARG_CHECK(h != NULL && hash_prevouts != NULL);
    if (h->state != SIGH_OUTPUTS && h->state != SIGH_DONE) return OS_ERR_TX_ORDER;
    memcpy(hash_prevouts, h->hash_prevouts, 32);
    return OS_OK;
}

int tx_sighasher_hash_sequence(const tx_sighasher *h, uint8_t hash_sequence[32]) {
    ARG_CHECK(h != NULL && hash_sequence != NULL);
    if (h->state != SIGH_DONE) return OS_ERR_TX_ORDER;
    memcpy(hash_sequence, h->hash_sequence, 32);
    return OS_OK;
}
