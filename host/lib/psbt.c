/* oncesign host — PSBT (BIP174 version 0). Contracts in psbt.h; format notes in docs/PSBT.md. */
#include "psbt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "crypto.h"
#include "draft.h"
#include "errtext.h"
#include "mbedtls/base64.h"
#include "oncesign/check.h"
#include "oncesign/status.h"
#include "random.h"
#include "voucher.h"

static const uint8_t MAGIC[5] = { 0x70, 0x73, 0x62, 0x74, 0xff };

static int fail(char *err, size_t cap, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    os_verrf(err, cap, fmt, ap);
    va_end(ap);
    return status;
}

/* ---------------------------------------------------------------- bytes in */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
} reader;

static int rd_bytes(reader *r, size_t n, const uint8_t **out) {
    if (n > r->len - r->pos) return 0;
    *out = r->p + r->pos;
    r->pos += n;
    return 1;
}

static int rd_u32(reader *r, uint32_t *v) {
    const uint8_t *b;
    if (!rd_bytes(r, 4, &b)) return 0;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 1;
}

static int rd_u64(reader *r, uint64_t *v) {
    uint32_t lo, hi;
    if (!rd_u32(r, &lo) || !rd_u32(r, &hi)) return 0;
    *v = (uint64_t)hi << 32 | lo;
    return 1;
}

/* CompactSize, minimal encodings only (as Bitcoin Core's ReadCompactSize). */
static int rd_compact(reader *r, uint64_t *v) {
    const uint8_t *b;
    if (!rd_bytes(r, 1, &b)) return 0;
    if (b[0] < 0xfd) { *v = b[0]; return 1; }
    if (b[0] == 0xfd) {
        const uint8_t *x;
        if (!rd_bytes(r, 2, &x)) return 0;
        *v = (uint64_t)x[0] | (uint64_t)x[1] << 8;
        return *v >= 0xfd;
    }
    if (b[0] == 0xfe) {
        uint32_t x;
        if (!rd_u32(r, &x)) return 0;
        *v = x;
        return *v > 0xffff;
    }
    if (!rd_u64(r, v)) return 0;
    return *v > 0xffffffffu;
}

/* A CompactSize length followed by that many bytes. */
static int rd_sized(reader *r, const uint8_t **out, size_t *n) {
    uint64_t v;
    if (!rd_compact(r, &v) || v > r->len - r->pos) return 0;
    *n = (size_t)v;
    return rd_bytes(r, *n, out);
}

/* ---------------------------------------------------------------- transactions */

typedef struct {
    uint32_t version, locktime;
    size_t n_in, n_out;
    psbt_txin *in;
    size_t *script_sig_len;
    psbt_txout *out;
    int has_witness;
    uint8_t txid[32];
} tx_view;

static void tx_view_free(tx_view *t) {
    free(t->in);
    free(t->script_sig_len);
    free(t->out);
    memset(t, 0, sizeof *t);
}

/* Parses a whole transaction (segwit serialization only when allow_witness). 0 inputs are allowed
 * (BIP174 has such a valid vector). Returns 1 on success. */
static int tx_parse(const uint8_t *data, size_t len, int allow_witness, tx_view *t) {
    reader r = { data, len, 0 };
    uint64_t n;
    const uint8_t *b;
    size_t body_start, body_end;
    memset(t, 0, sizeof *t);
    if (!rd_u32(&r, &t->version)) return 0;
    body_start = r.pos;
    if (allow_witness && len - r.pos >= 2 && data[r.pos] == 0x00 && data[r.pos + 1] != 0x00) {
        if (data[r.pos + 1] != 0x01) return 0;
        t->has_witness = 1;
        r.pos += 2;
        body_start = r.pos;
    }
    if (!rd_compact(&r, &n) || n > PSBT_MAX_IO || n * 41 > len - r.pos) return 0;
    t->n_in = (size_t)n;
    t->in = calloc(t->n_in + 1, sizeof *t->in);
    t->script_sig_len = calloc(t->n_in + 1, sizeof *t->script_sig_len);
    if (t->in == NULL || t->script_sig_len == NULL) goto bad;
    for (size_t i = 0; i < t->n_in; i++) {
        size_t sl;
        if (!rd_bytes(&r, 32, &b)) goto bad;
        memcpy(t->in[i].prevout.txid, b, 32);
        if (!rd_u32(&r, &t->in[i].prevout.vout) || !rd_sized(&r, &b, &sl) || !rd_u32(&r, &t->in[i].sequence)) goto bad;
        t->script_sig_len[i] = sl;
    }
    if (!rd_compact(&r, &n) || n > PSBT_MAX_IO || n * 9 > len - r.pos) goto bad;
    t->n_out = (size_t)n;
    t->out = calloc(t->n_out + 1, sizeof *t->out);
    if (t->out == NULL) goto bad;
    for (size_t i = 0; i < t->n_out; i++) {
        if (!rd_u64(&r, &t->out[i].amount) || !rd_sized(&r, &t->out[i].script, &t->out[i].script_len)) goto bad;
    }
    body_end = r.pos;
    if (t->has_witness) {
        int any = 0;
        for (size_t i = 0; i < t->n_in; i++) {
            uint64_t items;
            if (!rd_compact(&r, &items) || items > len - r.pos) goto bad;
            if (items > 0) any = 1;
            for (uint64_t k = 0; k < items; k++) {
                size_t il;
                if (!rd_sized(&r, &b, &il)) goto bad;
            }
        }
        if (!any) goto bad;   /* a segwit serialization without witness data is not canonical */
    }
    if (!rd_u32(&r, &t->locktime) || r.pos != len) goto bad;
    {
        /* txid: SHA256d of version | inputs and outputs | locktime (no marker, flag, witness). */
        size_t body = body_end - body_start;
        uint8_t *legacy = malloc(body + 8);
        if (legacy == NULL) goto bad;
        memcpy(legacy, data, 4);
        memcpy(legacy + 4, data + body_start, body);
        memcpy(legacy + 4 + body, data + len - 4, 4);
        crypto_sha256d(legacy, body + 8, t->txid);
        free(legacy);
    }
    return 1;
bad:
    tx_view_free(t);
    return 0;
}

int psbt_tx_output(const uint8_t *tx, size_t len, uint32_t vout, uint8_t txid[32], uint64_t *amount,
                   const uint8_t **script, size_t *script_len) {
    ARG_CHECK(tx != NULL && txid != NULL && amount != NULL && script != NULL && script_len != NULL);
    tx_view t;
    if (!tx_parse(tx, len, 1, &t)) return OS_ERR_TX_PARSE;
    int rc = OS_ERR_TX_PREV_VOUT;
    memcpy(txid, t.txid, 32);
    if (vout < t.n_out) {
        *amount = t.out[vout].amount;
        *script = t.out[vout].script;
        *script_len = t.out[vout].script_len;
        rc = OS_OK;
    }
    tx_view_free(&t);
    return rc;
}

/* ---------------------------------------------------------------- maps */

static void map_free(psbt_map *m) {
    for (size_t i = 0; i < m->n; i++) {
        free(m->pairs[i].key);
        free(m->pairs[i].value);
    }
    free(m->pairs);
    memset(m, 0, sizeof *m);
}

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl) {
    size_t n = al < bl ? al : bl;
    int c = n > 0 ? memcmp(a, b, n) : 0;
    if (c != 0) return c;
    return al < bl ? -1 : al > bl ? 1 : 0;
}

long psbt_map_find(const psbt_map *m, const uint8_t *key, size_t key_len) {
    if (m == NULL || key == NULL) return -1;
    for (size_t i = 0; i < m->n; i++) {
        if (key_cmp(m->pairs[i].key, m->pairs[i].key_len, key, key_len) == 0) return (long)i;
    }
    return -1;
}

static int map_insert_at(psbt_map *m, size_t at, const uint8_t *key, size_t key_len, const uint8_t *value,
                         size_t value_len) {
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        psbt_pair *np = realloc(m->pairs, cap * sizeof *np);
        if (np == NULL) return OS_ERR_IO;
        m->pairs = np;
        m->cap = cap;
    }
    psbt_pair pr = { malloc(key_len), key_len, malloc(value_len ? value_len : 1), value_len };
    if (pr.key == NULL || pr.value == NULL) {
        free(pr.key);
        free(pr.value);
        return OS_ERR_IO;
    }
    memcpy(pr.key, key, key_len);
    if (value_len) memcpy(pr.value, value, value_len);
    memmove(&m->pairs[at + 1], &m->pairs[at], (m->n - at) * sizeof *m->pairs);
    m->pairs[at] = pr;
    m->n++;
    return OS_OK;
}

int psbt_map_set(psbt_map *m, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len) {
    ARG_CHECK(m != NULL && key != NULL && key_len > 0 && (value != NULL || value_len == 0));
    long found = psbt_map_find(m, key, key_len);
    if (found >= 0) {
        uint8_t *nv = malloc(value_len ? value_len : 1);
        if (nv == NULL) return OS_ERR_IO;
        if (value_len) memcpy(nv, value, value_len);
        free(m->pairs[found].value);
        m->pairs[found].value = nv;
        m->pairs[found].value_len = value_len;
        return OS_OK;
    }
    size_t at = m->n;
    for (size_t i = 0; i < m->n; i++) {
        if (key_cmp(key, key_len, m->pairs[i].key, m->pairs[i].key_len) < 0) { at = i; break; }
    }
    return map_insert_at(m, at, key, key_len, value, value_len);
}

/* ---------------------------------------------------------------- parsing */

enum { SCOPE_GLOBAL, SCOPE_INPUT, SCOPE_OUTPUT };

static const char *scope_name(int scope) {
    return scope == SCOPE_GLOBAL ? "global map" : scope == SCOPE_INPUT ? "input" : "output";
}

/* Proprietary key: 0xFC | compact(id_len) id | compact(subtype) | keydata. */
static int proprietary_split(const uint8_t *key, size_t key_len, const uint8_t **id, size_t *id_len,
                             uint64_t *subtype, size_t *keydata_off) {
    reader r = { key, key_len, 1 };
    if (key_len < 1 || key[0] != PSBT_PROPRIETARY) return 0;
    if (!rd_sized(&r, id, id_len) || !rd_compact(&r, subtype)) return 0;
    *keydata_off = r.pos;
    return 1;
}

static int is_oncesign(const uint8_t *key, size_t key_len, uint64_t *subtype, size_t *keydata_off) {
    const uint8_t *id;
    size_t id_len;
    if (!proprietary_split(key, key_len, &id, &id_len, subtype, keydata_off)) return 0;
    return id_len == strlen(PSBT_ONCESIGN_ID) && memcmp(id, PSBT_ONCESIGN_ID, id_len) == 0;
}

static int pubkey_key_ok(size_t key_len, const uint8_t *key) {
    if (key_len == 34) return key[1] == 0x02 || key[1] == 0x03;
    if (key_len == 66) return key[1] == 0x04;
    return 0;
}

static int derivation_value_ok(size_t len) { return len >= 4 && len % 4 == 0; }

static int witness_utxo_ok(const uint8_t *v, size_t len) {
    reader r = { v, len, 0 };
    uint64_t amount;
    const uint8_t *s;
    size_t sl;
    return rd_u64(&r, &amount) && rd_sized(&r, &s, &sl) && r.pos == len;
}

static int witness_stack_ok(const uint8_t *v, size_t len) {
    reader r = { v, len, 0 };
    uint64_t items;
    if (!rd_compact(&r, &items) || items > len) return 0;
    for (uint64_t k = 0; k < items; k++) {
        const uint8_t *s;
        size_t sl;
        if (!rd_sized(&r, &s, &sl)) return 0;
    }
    return r.pos == len;
}

/* Validates one pair of a known type; 1 when acceptable. */
static int pair_ok(int scope, const psbt_pair *pr, const char **why) {
    uint8_t t = pr->key[0];
    size_t kl = pr->key_len;
    *why = "bad key length";
    if (t == PSBT_PROPRIETARY) {
        const uint8_t *id;
        size_t id_len, off;
        uint64_t sub;
        if (!proprietary_split(pr->key, kl, &id, &id_len, &sub, &off)) { *why = "malformed proprietary key"; return 0; }
        if (scope == SCOPE_OUTPUT && is_oncesign(pr->key, kl, &sub, &off)) {
            if (sub == PSBT_ONCESIGN_NONCE) { *why = "oncesign nonce: key data or value length (32)"; return off == kl && pr->value_len == 32; }
            if (sub == PSBT_ONCESIGN_ANCHOR) { *why = "oncesign anchor: key data or value length (36)"; return off == kl && pr->value_len == 36; }
            if (sub == PSBT_ONCESIGN_VOUCHER) {
                os_voucher v;
                *why = "oncesign voucher: key data or value length (214)";
                if (off != kl || pr->value_len != OS_VOUCHER_BYTES) return 0;
                *why = "oncesign voucher: not a voucher's encoding (version, network, flags, lengths, padding, amount"
                       " or expiry)";
                return os_voucher_decode(pr->value, &v) == OS_OK;
            }
        }
        if (scope == SCOPE_GLOBAL && is_oncesign(pr->key, kl, &sub, &off) && sub == PSBT_ONCESIGN_APPROVAL) {
            os_approval a;
            *why = "oncesign approval: key data (the operator key, 32 bytes) or value length (104)";
            if (kl - off != 32 || pr->value_len != OS_APPROVAL_BYTES) return 0;
            *why = "oncesign approval: expiry_seq 0";
            if (os_approval_decode(pr->value, &a) != OS_OK) return 0;
            *why = "oncesign approval: made by another operator key than its key names";
            return memcmp(a.operator_key, pr->key + off, 32) == 0;
        }
        return 1;
    }
    if (scope == SCOPE_GLOBAL) {
        switch (t) {
        case PSBT_GLOBAL_UNSIGNED_TX: return kl == 1;
        case PSBT_GLOBAL_XPUB:
            if (kl != 1 + BIP32_SERIALIZED_BYTES) return 0;
            *why = "xpub derivation value";
            return derivation_value_ok(pr->value_len);
        case PSBT_GLOBAL_VERSION:
            if (kl != 1) return 0;
            *why = "version value";
            return pr->value_len == 4;
        default: return 1;
        }
    }
    if (scope == SCOPE_INPUT) {
        switch (t) {
        case PSBT_IN_NON_WITNESS_UTXO: return kl == 1;
        case PSBT_IN_WITNESS_UTXO:
            if (kl != 1) return 0;
            *why = "witness UTXO value";
            return witness_utxo_ok(pr->value, pr->value_len);
        case PSBT_IN_PARTIAL_SIG:
            if (!pubkey_key_ok(kl, pr->key)) { *why = "partial signature pubkey"; return 0; }
            *why = "empty signature";
            return pr->value_len > 0;
        case PSBT_IN_SIGHASH_TYPE:
            if (kl != 1) return 0;
            *why = "sighash value";
            return pr->value_len == 4;
        case PSBT_IN_REDEEM_SCRIPT:
        case PSBT_IN_WITNESS_SCRIPT:
        case PSBT_IN_FINAL_SCRIPTSIG: return kl == 1;
        case PSBT_IN_BIP32_DERIVATION:
            if (!pubkey_key_ok(kl, pr->key)) { *why = "BIP32 derivation pubkey"; return 0; }
            *why = "BIP32 derivation value";
            return derivation_value_ok(pr->value_len);
        case PSBT_IN_FINAL_WITNESS:
            if (kl != 1) return 0;
            *why = "final witness stack";
            return witness_stack_ok(pr->value, pr->value_len);
        default: return 1;
        }
    }
    switch (t) {
    case PSBT_OUT_REDEEM_SCRIPT:
    case PSBT_OUT_WITNESS_SCRIPT: return kl == 1;
    case PSBT_OUT_BIP32_DERIVATION:
        if (!pubkey_key_ok(kl, pr->key)) { *why = "BIP32 derivation pubkey"; return 0; }
        *why = "BIP32 derivation value";
        return derivation_value_ok(pr->value_len);
    default: return 1;
    }
}

static int read_map(reader *r, psbt_map *m, int scope, size_t index, char *err, size_t cap) {
    char where[48];
    if (scope == SCOPE_GLOBAL) snprintf(where, sizeof where, "global map");
    else snprintf(where, sizeof where, "%s %zu", scope_name(scope), index);
    for (;;) {
        const uint8_t *key, *value;
        size_t key_len, value_len;
        size_t at = r->pos;
        if (!rd_sized(r, &key, &key_len)) {
            return fail(err, cap, OS_ERR_PSBT, "%s: truncated or oversized key at byte %zu", where, at);
        }
        if (key_len == 0) return OS_OK;   /* separator */
        if (!rd_sized(r, &value, &value_len)) {
            return fail(err, cap, OS_ERR_PSBT, "%s: truncated or oversized value at byte %zu", where, at);
        }
        if (psbt_map_find(m, key, key_len) >= 0) {
            return fail(err, cap, OS_ERR_PSBT, "%s: duplicate key (type 0x%02x) at byte %zu", where, key[0], at);
        }
        int rc = map_insert_at(m, m->n, key, key_len, value, value_len);
        if (rc != OS_OK) return fail(err, cap, rc, "out of memory");
        const char *why = "";
        if (!pair_ok(scope, &m->pairs[m->n - 1], &why)) {
            return fail(err, cap, OS_ERR_PSBT, "%s: key type 0x%02x: %s (byte %zu)", where, key[0], why, at);
        }
    }
}

/* Map index of count (an input or an output): the PSBT must still hold one. */
static int read_counted_map(reader *r, psbt_map *m, int scope, size_t index, size_t count, char *err, size_t cap) {
    if (r->pos == r->len)
        return fail(err, cap, OS_ERR_PSBT, "the unsigned transaction has %zu %ss but the PSBT only %zu %s maps", count,
                    scope_name(scope), index, scope_name(scope));
    return read_map(r, m, scope, index, err, cap);
}

static const psbt_pair *map_get_type(const psbt_map *m, uint8_t type) {
    for (size_t i = 0; i < m->n; i++) {
        if (m->pairs[i].key_len == 1 && m->pairs[i].key[0] == type) return &m->pairs[i];
    }
    return NULL;
}

/* The unsigned transaction's outputs point into the global pair's value, which lives as long as
 * the PSBT (the pair is never replaced: psbt_map_set is not used on key 0x00). */
static int set_unsigned_tx(psbt *p, const psbt_pair *pr, char *err, size_t cap) {
    tx_view t;
    if (!tx_parse(pr->value, pr->value_len, 0, &t)) {
        return fail(err, cap, OS_ERR_PSBT, "global unsigned transaction does not parse (non-witness serialization expected)");
    }
    for (size_t i = 0; i < t.n_in; i++) {
        if (t.script_sig_len[i] != 0) {
            tx_view_free(&t);
            return fail(err, cap, OS_ERR_PSBT, "unsigned transaction input %zu has a scriptSig", i);
        }
    }
    p->tx.version = t.version;
    p->tx.locktime = t.locktime;
    p->tx.n_inputs = t.n_in;
    p->tx.n_outputs = t.n_out;
    p->tx.in = t.in;
    p->tx.out = t.out;
    memcpy(p->tx.txid, t.txid, 32);
    free(t.script_sig_len);
    return OS_OK;
}

/* A non-witness UTXO must be the transaction the prevout names, with that output. */
static int check_non_witness_utxo(const psbt *p, size_t i, char *err, size_t cap) {
    const psbt_pair *pr = map_get_type(&p->inputs[i], PSBT_IN_NON_WITNESS_UTXO);
    tx_view t;
    if (pr == NULL) return OS_OK;
    if (!tx_parse(pr->value, pr->value_len, 1, &t)) {
        return fail(err, cap, OS_ERR_PSBT, "input %zu: non-witness UTXO does not parse", i);
    }
    int match = memcmp(t.txid, p->tx.in[i].prevout.txid, 32) == 0;
    int has_vout = p->tx.in[i].prevout.vout < t.n_out;
    tx_view_free(&t);
    if (!match) return fail(err, cap, OS_ERR_PSBT, "input %zu: non-witness UTXO's txid is not the prevout's", i);
    if (!has_vout) return fail(err, cap, OS_ERR_PSBT, "input %zu: non-witness UTXO has no output %u", i,
                               p->tx.in[i].prevout.vout);
    return OS_OK;
}

int psbt_parse(const uint8_t *data, size_t len, psbt **out, char *err, size_t cap) {
    ARG_CHECK(out != NULL && (data != NULL || len == 0));
    *out = NULL;
    if (err != NULL && cap > 0) err[0] = '\0';
    if (len > PSBT_MAX_BYTES) return fail(err, cap, OS_ERR_PSBT, "PSBT larger than %u bytes", PSBT_MAX_BYTES);
    if (len < sizeof MAGIC || memcmp(data, MAGIC, sizeof MAGIC) != 0) {
        return fail(err, cap, OS_ERR_PSBT, "not a PSBT (magic bytes 'psbt' 0xff missing)");
    }
    psbt *p = calloc(1, sizeof *p);
    if (p == NULL) return OS_ERR_IO;
    reader r = { data, len, sizeof MAGIC };
    int rc = read_map(&r, &p->global, SCOPE_GLOBAL, 0, err, cap);
    if (rc != OS_OK) goto done;
    const psbt_pair *ver = map_get_type(&p->global, PSBT_GLOBAL_VERSION);
    if (ver != NULL && (ver->value[0] | ver->value[1] | ver->value[2] | ver->value[3]) != 0) {
        rc = fail(err, cap, OS_ERR_PSBT, "PSBT version %u is not supported (version 0 only)",
                  (unsigned)(ver->value[0] | ver->value[1] << 8 | ver->value[2] << 16 | (uint32_t)ver->value[3] << 24));
        goto done;
    }
    const psbt_pair *utx = map_get_type(&p->global, PSBT_GLOBAL_UNSIGNED_TX);
    if (utx == NULL) {
        rc = fail(err, cap, OS_ERR_PSBT, "global map has no unsigned transaction");
        goto done;
    }
    if ((rc = set_unsigned_tx(p, utx, err, cap)) != OS_OK) goto done;
    size_t n_approvals = 0;
    for (size_t k = 0; k < p->global.n; k++) {
        uint64_t sub;
        size_t off;
        n_approvals += is_oncesign(p->global.pairs[k].key, p->global.pairs[k].key_len, &sub, &off) &&
                       sub == PSBT_ONCESIGN_APPROVAL;
    }
    if (n_approvals > OS_MAX_OPERATORS) {
        rc = fail(err, cap, OS_ERR_PSBT, "global map: %zu oncesign approvals; a signer holds at most %d operators",
                  n_approvals, OS_MAX_OPERATORS);
        goto done;
    }
    p->inputs = calloc(p->tx.n_inputs + 1, sizeof *p->inputs);
    p->outputs = calloc(p->tx.n_outputs + 1, sizeof *p->outputs);
    if (p->inputs == NULL || p->outputs == NULL) { rc = OS_ERR_IO; goto done; }
    for (size_t i = 0; i < p->tx.n_inputs; i++) {
        if ((rc = read_counted_map(&r, &p->inputs[i], SCOPE_INPUT, i, p->tx.n_inputs, err, cap)) != OS_OK) goto done;
        if ((rc = check_non_witness_utxo(p, i, err, cap)) != OS_OK) goto done;
    }
    for (size_t i = 0; i < p->tx.n_outputs; i++) {
        if ((rc = read_counted_map(&r, &p->outputs[i], SCOPE_OUTPUT, i, p->tx.n_outputs, err, cap)) != OS_OK) goto done;
        uint8_t nonce[32];
        int replace;
        os_outpoint anchor;
        rc = psbt_output_nonce(p, i, nonce, &replace, &anchor);
        if (rc == OS_ERR_PSBT) { rc = fail(err, cap, rc, "output %zu: oncesign anchor without a nonce", i); goto done; }
        int bound = rc == OS_OK;
        os_voucher v;
        rc = psbt_output_voucher(p, i, &v);
        if (rc == OS_OK) {
            /* a voucher speaks for the new payout of its nonce only (PROTOCOL.md §2.7) */
            if (!bound) rc = fail(err, cap, OS_ERR_PSBT, "output %zu: oncesign voucher without a nonce", i);
            else if (replace)
                rc = fail(err, cap, OS_ERR_PSBT, "output %zu: oncesign voucher on a replacement (it carries an anchor;"
                          " replacements take no voucher)", i);
            else if (memcmp(v.nonce, nonce, 32) != 0)
                rc = fail(err, cap, OS_ERR_PSBT, "output %zu: its oncesign voucher is for another nonce", i);
            if (rc != OS_OK) goto done;
        } else if (rc != OS_ERR_NOT_FOUND) {
            rc = fail(err, cap, rc, "output %zu: malformed oncesign voucher", i);
            goto done;
        }
        rc = OS_OK;
    }
    if (r.pos != len) {
        rc = fail(err, cap, OS_ERR_PSBT, "%zu bytes after the last map (more maps than inputs and outputs, or trailing data)",
                  len - r.pos);
        goto done;
    }
done:
    if (rc != OS_OK) psbt_free(p);
    else *out = p;
    return rc;
}

int psbt_decode(const uint8_t *data, size_t len, psbt **out, char *err, size_t cap) {
    ARG_CHECK(out != NULL && (data != NULL || len == 0));
    *out = NULL;
    if (len >= sizeof MAGIC && memcmp(data, MAGIC, sizeof MAGIC) == 0) return psbt_parse(data, len, out, err, cap);
    if (len > (size_t)PSBT_MAX_BYTES / 3 * 4 + 4096) return fail(err, cap, OS_ERR_PSBT, "PSBT text too large");
    uint8_t *text = malloc(len + 1), *bin = NULL;
    if (text == NULL) return OS_ERR_IO;
    size_t n = 0, olen = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = data[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t') continue;
        text[n++] = ch;
    }
    int rc = OS_OK;
    if (n == 0 || mbedtls_base64_decode(NULL, 0, &olen, text, n) == MBEDTLS_ERR_BASE64_INVALID_CHARACTER) {
        rc = fail(err, cap, OS_ERR_PSBT, "neither a binary PSBT nor Base64");
    } else if ((bin = malloc(olen + 1)) == NULL) {
        rc = OS_ERR_IO;
    } else if (mbedtls_base64_decode(bin, olen + 1, &olen, text, n) != 0) {
        rc = fail(err, cap, OS_ERR_PSBT, "invalid Base64");
    } else {
        rc = psbt_parse(bin, olen, out, err, cap);
    }
    free(text);
    free(bin);
    return rc;
}

/* ---------------------------------------------------------------- serializing */

static size_t compact_size(uint64_t v) { return v < 0xfd ? 1 : v <= 0xffff ? 3 : v <= 0xffffffffu ? 5 : 9; }

static uint8_t *put_compact(uint8_t *w, uint64_t v) {
    size_t n = compact_size(v);
    if (n == 1) { *w++ = (uint8_t)v; return w; }
    *w++ = n == 3 ? 0xfd : n == 5 ? 0xfe : 0xff;
    for (size_t i = 0; i + 1 < n; i++) *w++ = (uint8_t)(v >> (8 * i));
    return w;
}

static size_t map_size(const psbt_map *m) {
    size_t s = 1;
    for (size_t i = 0; i < m->n; i++) {
        s += compact_size(m->pairs[i].key_len) + m->pairs[i].key_len + compact_size(m->pairs[i].value_len) +
             m->pairs[i].value_len;
    }
    return s;
}

static uint8_t *put_map(uint8_t *w, const psbt_map *m) {
    for (size_t i = 0; i < m->n; i++) {
        w = put_compact(w, m->pairs[i].key_len);
        memcpy(w, m->pairs[i].key, m->pairs[i].key_len);
        w += m->pairs[i].key_len;
        w = put_compact(w, m->pairs[i].value_len);
        if (m->pairs[i].value_len) memcpy(w, m->pairs[i].value, m->pairs[i].value_len);
        w += m->pairs[i].value_len;
    }
    *w++ = 0x00;
    return w;
}

int psbt_serialize(const psbt *p, uint8_t **out, size_t *len) {
    ARG_CHECK(p != NULL && out != NULL && len != NULL);
    size_t total = sizeof MAGIC + map_size(&p->global);
    for (size_t i = 0; i < p->tx.n_inputs; i++) total += map_size(&p->inputs[i]);
    for (size_t i = 0; i < p->tx.n_outputs; i++) total += map_size(&p->outputs[i]);
    uint8_t *buf = malloc(total), *w = buf;
    if (buf == NULL) return OS_ERR_IO;
    memcpy(w, MAGIC, sizeof MAGIC);
    w = put_map(w + sizeof MAGIC, &p->global);
    for (size_t i = 0; i < p->tx.n_inputs; i++) w = put_map(w, &p->inputs[i]);
    for (size_t i = 0; i < p->tx.n_outputs; i++) w = put_map(w, &p->outputs[i]);
    VERIFY_CHECK((size_t)(w - buf) == total);
    *out = buf;
    *len = total;
    return OS_OK;
}

int psbt_to_base64(const psbt *p, char **out) {
    ARG_CHECK(p != NULL && out != NULL);
    uint8_t *bin;
    size_t len, olen = 0;
    int rc = psbt_serialize(p, &bin, &len);
    if (rc != OS_OK) return rc;
    size_t cap = (len + 2) / 3 * 4 + 1;
    char *text = malloc(cap);
    if (text == NULL) { free(bin); return OS_ERR_IO; }
    rc = mbedtls_base64_encode((unsigned char *)text, cap, &olen, bin, len) == 0 ? OS_OK : OS_ERR_INTERNAL;
    free(bin);
    if (rc != OS_OK) { free(text); return rc; }
    text[olen] = '\0';
    *out = text;
    return OS_OK;
}

void psbt_free(psbt *p) {
    if (p == NULL) return;
    map_free(&p->global);
    if (p->inputs != NULL) for (size_t i = 0; i < p->tx.n_inputs; i++) map_free(&p->inputs[i]);
    if (p->outputs != NULL) for (size_t i = 0; i < p->tx.n_outputs; i++) map_free(&p->outputs[i]);
    free(p->inputs);
    free(p->outputs);
    free(p->tx.in);
    free(p->tx.out);
    free(p);
}

static void put_le32(uint8_t *w, uint32_t v) {
    for (int i = 0; i < 4; i++) w[i] = (uint8_t)(v >> (8 * i));
}

int psbt_create(uint32_t version, uint32_t locktime, const psbt_txin *in, size_t n_in, const psbt_txout *out,
                size_t n_out, psbt **result) {
    ARG_CHECK(result != NULL && (in != NULL || n_in == 0) && (out != NULL || n_out == 0));
    ARG_CHECK(n_in <= PSBT_MAX_IO && n_out <= PSBT_MAX_IO);
    *result = NULL;
    size_t size = 4 + compact_size(n_in) + n_in * 41 + compact_size(n_out) + 4;
    for (size_t i = 0; i < n_out; i++) {
        ARG_CHECK(out[i].script != NULL || out[i].script_len == 0);
        size += 8 + compact_size(out[i].script_len) + out[i].script_len;
    }
    uint8_t *tx = malloc(size), *w = tx;
    if (tx == NULL) return OS_ERR_IO;
    put_le32(w, version); w += 4;
    w = put_compact(w, n_in);
    for (size_t i = 0; i < n_in; i++) {
        memcpy(w, in[i].prevout.txid, 32); w += 32;
        put_le32(w, in[i].prevout.vout); w += 4;
        *w++ = 0;
        put_le32(w, in[i].sequence); w += 4;
    }
    w = put_compact(w, n_out);
    for (size_t i = 0; i < n_out; i++) {
        put_le32(w, (uint32_t)out[i].amount);
        put_le32(w + 4, (uint32_t)(out[i].amount >> 32));
        w += 8;
        w = put_compact(w, out[i].script_len);
        if (out[i].script_len) memcpy(w, out[i].script, out[i].script_len);
        w += out[i].script_len;
    }
    put_le32(w, locktime); w += 4;
    VERIFY_CHECK((size_t)(w - tx) == size);
    /* Through the parser, so a created PSBT obeys exactly what a parsed one does. */
    uint8_t *bin = malloc(sizeof MAGIC + 1 + 1 + compact_size(size) + size + 1 + n_in + n_out);
    if (bin == NULL) { free(tx); return OS_ERR_IO; }
    uint8_t *b = bin;
    memcpy(b, MAGIC, sizeof MAGIC); b += sizeof MAGIC;
    *b++ = 1; *b++ = PSBT_GLOBAL_UNSIGNED_TX;
    b = put_compact(b, size);
    memcpy(b, tx, size); b += size;
    *b++ = 0;
    memset(b, 0, n_in + n_out); b += n_in + n_out;
    int rc = psbt_parse(bin, (size_t)(b - bin), result, NULL, 0);
    free(tx);
    free(bin);
    return rc == OS_ERR_PSBT ? OS_ERR_ARG : rc;
}

/* ---------------------------------------------------------------- typed readers */

int psbt_bip32_decode(const psbt_pair *pr, psbt_bip32 *out) {
    ARG_CHECK(pr != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    if (pr->key_len != 34 || !derivation_value_ok(pr->value_len)) return OS_ERR_PSBT;
    size_t depth = pr->value_len / 4 - 1;
    if (depth > PSBT_MAX_PATH) return OS_ERR_PSBT;
    memcpy(out->pubkey, pr->key + 1, 33);
    memcpy(out->fingerprint, pr->value, 4);
    for (size_t k = 0; k < depth; k++) {
        const uint8_t *v = pr->value + 4 + 4 * k;
        out->path[k] = (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
    }
    out->depth = depth;
    return OS_OK;
}

int psbt_input_coin(const psbt *p, size_t i, uint64_t *amount, const uint8_t **script, size_t *script_len) {
    ARG_CHECK(p != NULL && i < p->tx.n_inputs && amount != NULL && script != NULL && script_len != NULL);
    const psbt_pair *pr = map_get_type(&p->inputs[i], PSBT_IN_NON_WITNESS_UTXO);
    if (pr != NULL) {
        tx_view t;
        if (!tx_parse(pr->value, pr->value_len, 1, &t)) return OS_ERR_PSBT;
        uint32_t vout = p->tx.in[i].prevout.vout;
        int rc = OS_ERR_PSBT;
        if (vout < t.n_out) {
            *amount = t.out[vout].amount;
            *script = t.out[vout].script;
            *script_len = t.out[vout].script_len;
            rc = OS_OK;
        }
        tx_view_free(&t);
        return rc;
    }
    pr = map_get_type(&p->inputs[i], PSBT_IN_WITNESS_UTXO);
    if (pr == NULL) return OS_ERR_NOT_FOUND;
    reader r = { pr->value, pr->value_len, 0 };
    if (!rd_u64(&r, amount) || !rd_sized(&r, script, script_len)) return OS_ERR_PSBT;
    return OS_OK;
}

static void oncesign_key(uint8_t subtype, uint8_t key[11]) {
    key[0] = PSBT_PROPRIETARY;
    key[1] = 8;
    memcpy(key + 2, PSBT_ONCESIGN_ID, 8);
    key[10] = subtype;
}

int psbt_output_nonce(const psbt *p, size_t i, uint8_t nonce[32], int *replace, os_outpoint *anchor) {
    ARG_CHECK(p != NULL && i < p->tx.n_outputs && nonce != NULL && replace != NULL && anchor != NULL);
    uint8_t key[11];
    oncesign_key(PSBT_ONCESIGN_NONCE, key);
    long n = psbt_map_find(&p->outputs[i], key, sizeof key);
    oncesign_key(PSBT_ONCESIGN_ANCHOR, key);
    long a = psbt_map_find(&p->outputs[i], key, sizeof key);
    *replace = 0;
    if (n < 0) return a >= 0 ? OS_ERR_PSBT : OS_ERR_NOT_FOUND;
    const psbt_pair *np = &p->outputs[i].pairs[n];
    if (np->value_len != 32) return OS_ERR_PSBT;
    memcpy(nonce, np->value, 32);
    if (a >= 0) {
        const psbt_pair *ap = &p->outputs[i].pairs[a];
        if (ap->value_len != 36) return OS_ERR_PSBT;
        memcpy(anchor->txid, ap->value, 32);
        anchor->vout = (uint32_t)ap->value[32] | (uint32_t)ap->value[33] << 8 | (uint32_t)ap->value[34] << 16 |
                       (uint32_t)ap->value[35] << 24;
        *replace = 1;
    }
    return OS_OK;
}

int psbt_output_bind(psbt *p, size_t i, const uint8_t nonce[32], const os_outpoint *anchor) {
    ARG_CHECK(p != NULL && nonce != NULL && i < p->tx.n_outputs);
    uint8_t key[11];
    oncesign_key(PSBT_ONCESIGN_NONCE, key);
    int rc = psbt_map_set(&p->outputs[i], key, sizeof key, nonce, 32);
    if (rc != OS_OK || anchor == NULL) return rc;
    uint8_t v[36];
    memcpy(v, anchor->txid, 32);
    put_le32(v + 32, anchor->vout);
    oncesign_key(PSBT_ONCESIGN_ANCHOR, key);
    return psbt_map_set(&p->outputs[i], key, sizeof key, v, sizeof v);
}

int psbt_output_voucher(const psbt *p, size_t i, os_voucher *v) {
    ARG_CHECK(p != NULL && i < p->tx.n_outputs && v != NULL);
    uint8_t key[11];
    oncesign_key(PSBT_ONCESIGN_VOUCHER, key);
    long at = psbt_map_find(&p->outputs[i], key, sizeof key);
    if (at < 0) return OS_ERR_NOT_FOUND;
    const psbt_pair *pr = &p->outputs[i].pairs[at];
    if (pr->value_len != OS_VOUCHER_BYTES || os_voucher_decode(pr->value, v) != OS_OK) return OS_ERR_PSBT;
    return OS_OK;
}

int psbt_output_set_voucher(psbt *p, size_t i, const os_voucher *v, char *err, size_t cap) {
    ARG_CHECK(p != NULL && v != NULL && i < p->tx.n_outputs);
    uint8_t nonce[32], key[11], value[OS_VOUCHER_BYTES];
    int replace = 0;
    os_outpoint anchor;
    int rc = psbt_output_nonce(p, i, nonce, &replace, &anchor);
    if (rc != OS_OK)
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "output %zu is not bound to a nonce (bind it first)", i);
    if (replace)
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "output %zu is a replacement: replacements take no voucher", i);
    if (memcmp(nonce, v->nonce, 32) != 0)
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "output %zu is bound to another nonce than the voucher's", i);
    if ((rc = os_voucher_encode(v, value)) != OS_OK) return fail(err, cap, rc, "the voucher's fields are out of range");
    oncesign_key(PSBT_ONCESIGN_VOUCHER, key);
    return psbt_map_set(&p->outputs[i], key, sizeof key, value, sizeof value);
}

int psbt_approvals(const psbt *p, os_approval out[OS_MAX_OPERATORS], size_t *n) {
    ARG_CHECK(p != NULL && out != NULL && n != NULL);
    *n = 0;
    for (size_t k = 0; k < p->global.n; k++) {
        const psbt_pair *pr = &p->global.pairs[k];
        uint64_t sub;
        size_t off;
        if (!is_oncesign(pr->key, pr->key_len, &sub, &off) || sub != PSBT_ONCESIGN_APPROVAL) continue;
        if (*n == OS_MAX_OPERATORS || pr->key_len - off != 32 || pr->value_len != OS_APPROVAL_BYTES ||
            os_approval_decode(pr->value, &out[*n]) != OS_OK || memcmp(out[*n].operator_key, pr->key + off, 32) != 0)
            return OS_ERR_PSBT;
        (*n)++;
    }
    return OS_OK;
}

int psbt_add_approval(psbt *p, const os_approval *a, char *err, size_t cap) {
    ARG_CHECK(p != NULL && a != NULL);
    uint8_t key[11 + 32], value[OS_APPROVAL_BYTES];
    int rc = os_approval_encode(a, value);
    if (rc != OS_OK) return fail(err, cap, rc, "the approval's expiry_seq is 0");
    oncesign_key(PSBT_ONCESIGN_APPROVAL, key);
    memcpy(key + 11, a->operator_key, 32);
    os_approval held[OS_MAX_OPERATORS];
    size_t n = 0;
    if ((rc = psbt_approvals(p, held, &n)) != OS_OK) return fail(err, cap, rc, "the PSBT's approvals are malformed");
    if (n == OS_MAX_OPERATORS && psbt_map_find(&p->global, key, sizeof key) < 0)
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "the PSBT carries %d approvals already, a signer's most", OS_MAX_OPERATORS);
    return psbt_map_set(&p->global, key, sizeof key, value, sizeof value);
}

int psbt_tx_digest(const psbt *p, uint8_t digest[32]) {
    ARG_CHECK(p != NULL && digest != NULL);
    if (p->tx.n_inputs == 0 || p->tx.n_outputs == 0 || p->tx.n_inputs > OS_MAX_INPUTS ||
        p->tx.n_outputs > OS_MAX_OUTPUTS)
        return OS_ERR_PSBT_UNSIGNABLE;
    os_sign_input *in = calloc(p->tx.n_inputs, sizeof *in);
    os_sign_output *out = calloc(p->tx.n_outputs, sizeof *out);
    int rc = in != NULL && out != NULL ? OS_OK : OS_ERR_IO;
    for (size_t i = 0; rc == OS_OK && i < p->tx.n_inputs; i++) {
        in[i].prevout = p->tx.in[i].prevout;
        in[i].sequence = p->tx.in[i].sequence;
    }
    for (size_t i = 0; rc == OS_OK && i < p->tx.n_outputs; i++) {
        if (p->tx.out[i].script_len > OS_MAX_PAYOUT_SCRIPT) rc = OS_ERR_PSBT_UNSIGNABLE;
        else {
            out[i].amount = p->tx.out[i].amount;
            memcpy(out[i].script, p->tx.out[i].script, p->tx.out[i].script_len);
            out[i].script_len = (uint8_t)p->tx.out[i].script_len;
        }
    }
    uint8_t hp[32];
    os_sign_tx tx = { .version = p->tx.version, .locktime = p->tx.locktime, .n_inputs = p->tx.n_inputs,
                      .n_outputs = p->tx.n_outputs, .inputs = in, .outputs = out };
    if (rc == OS_OK) rc = os_draft_commitment(&tx, hp, digest);
    free(in);
    free(out);
    return rc;
}

/* ---------------------------------------------------------------- mapping to a signing request */

typedef struct {
    uint8_t script_type;
    uint32_t account;
    bip32_node node;
} account_cache_entry;

typedef struct {
    const psbt_signer *s;
    account_cache_entry cache[8];
    size_t n_cache;
} mapper;

static int script_type_of_purpose(uint32_t purpose, uint8_t *type) {
    if (purpose == (44 | BIP32_HARDENED)) *type = OS_SCRIPT_P2PKH;
    else if (purpose == (49 | BIP32_HARDENED)) *type = OS_SCRIPT_P2SH_P2WPKH;
    else if (purpose == (84 | BIP32_HARDENED)) *type = OS_SCRIPT_P2WPKH;
    else return 0;
    return 1;
}

/* Does this derivation name one of the signer's keys? Fills type/account/change/index and the
 * script that key pays. Returns OS_OK (match), OS_ERR_NOT_FOUND (not ours), or a callback error. */
static int derivation_is_signers(mapper *m, const psbt_bip32 *d, uint8_t *type, uint32_t *account, uint32_t *change,
                                 uint32_t *index, uint8_t *script, size_t *script_len) {
    const os_network_params *net = address_network(m->s->network);
    if (net == NULL) return OS_ERR_ARG;
    if (d->depth != 5 || !script_type_of_purpose(d->path[0], type)) return OS_ERR_NOT_FOUND;
    if (d->path[1] != (net->coin_type | BIP32_HARDENED) || !(d->path[2] & BIP32_HARDENED)) return OS_ERR_NOT_FOUND;
    if (d->path[3] > 1 || (d->path[4] & BIP32_HARDENED)) return OS_ERR_NOT_FOUND;
    *account = d->path[2] & ~BIP32_HARDENED;
    *change = d->path[3];
    *index = d->path[4];
    bip32_node *acct = NULL;
    for (size_t k = 0; k < m->n_cache; k++) {
        if (m->cache[k].script_type == *type && m->cache[k].account == *account) acct = &m->cache[k].node;
    }
    if (acct == NULL) {
        account_cache_entry *e = &m->cache[m->n_cache < 8 ? m->n_cache++ : 7];
        e->script_type = *type;
        e->account = *account;
        int rc = m->s->account_xpub(m->s->ctx, *type, *account, &e->node);
        if (rc != OS_OK) { m->n_cache--; return rc; }
        bip32_neuter(&e->node);
        acct = &e->node;
    }
    bip32_node leaf;
    uint32_t rest[2] = { *change, *index };
    int rc = bip32_derive_path(acct, rest, 2, &leaf);
    if (rc != OS_OK) return rc == OS_ERR_CRYPTO ? OS_ERR_NOT_FOUND : rc;
    int same = memcmp(leaf.public_key, d->pubkey, 33) == 0;
    bip32_wipe(&leaf);
    if (!same) return OS_ERR_NOT_FOUND;
    return script_for_pubkey(*type, d->pubkey, script, 34, script_len);
}

int psbt_crypto_ready(void) {
    if (crypto_ctx() != NULL) return OS_OK;
    uint8_t seed[32];
    if (os_random_bytes(seed, sizeof seed) != OS_OK) return OS_ERR_IO;
    int rc = crypto_init(seed);
    crypto_wipe(seed, sizeof seed);
    return rc;
}

void psbt_sign_request_free(psbt_sign_request *req) {
    if (req == NULL) return;
    for (size_t i = 0; i < req->n_fetched; i++) free(req->fetched[i]);
    free(req->fetched);
    free(req->inputs);
    free(req->outputs);
    free(req->vouchers);
    free(req->pubkeys);
    memset(req, 0, sizeof *req);
}

static int map_input(mapper *m, const psbt *p, size_t i, psbt_sign_request *req, char *err, size_t cap) {
    const psbt_map *im = &p->inputs[i];
    os_sign_input *in = &req->inputs[i];
    uint8_t type = 0, script[34];
    uint32_t account = 0, change = 0, index = 0;
    size_t script_len = 0;
    int found = 0, rc;
    for (size_t k = 0; k < im->n && !found; k++) {
        psbt_bip32 d;
        if (im->pairs[k].key[0] != PSBT_IN_BIP32_DERIVATION || psbt_bip32_decode(&im->pairs[k], &d) != OS_OK) continue;
        rc = derivation_is_signers(m, &d, &type, &account, &change, &index, script, &script_len);
        if (rc == OS_OK) { found = 1; memcpy(req->pubkeys[i], d.pubkey, 33); }
        else if (rc != OS_ERR_NOT_FOUND) return fail(err, cap, rc, "input %zu: reading the signer's account key failed", i);
    }
    if (!found) {
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE,
                    "input %zu: no BIP32 derivation m/44'|49'|84'/coin'/account'/change/index whose key is the signer's", i);
    }
    /* The full previous transaction: the signer takes input amounts from nowhere else (I4). */
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    const psbt_pair *nw = map_get_type(im, PSBT_IN_NON_WITNESS_UTXO);
    if (nw != NULL) {
        prev = nw->value;
        prev_len = nw->value_len;
    } else if (m->s->fetch_prev_tx == NULL) {
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE,
                    "input %zu has no non-witness UTXO: the signer needs the full previous transaction "
                    "(give --rpc-url to fetch it with getrawtransaction, or have the creator include it)", i);
    } else {
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        rc = m->s->fetch_prev_tx(m->s->ctx, p->tx.in[i].prevout.txid, &raw, &raw_len);
        if (rc != OS_OK || raw == NULL) {
            free(raw);
            return fail(err, cap, rc != OS_OK ? rc : OS_ERR_PSBT_UNSIGNABLE,
                        "input %zu: the previous transaction could not be fetched", i);
        }
        req->fetched[req->n_fetched++] = raw;
        prev = raw;
        prev_len = raw_len;
    }
    tx_view t;
    if (!tx_parse(prev, prev_len, 1, &t)) {
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "input %zu: previous transaction does not parse", i);
    }
    uint32_t vout = p->tx.in[i].prevout.vout;
    int ok_txid = memcmp(t.txid, p->tx.in[i].prevout.txid, 32) == 0;
    int ok_vout = vout < t.n_out;
    uint64_t amount = ok_vout ? t.out[vout].amount : 0;
    int ok_script = ok_vout && t.out[vout].script_len == script_len && memcmp(t.out[vout].script, script, script_len) == 0;
    tx_view_free(&t);
    if (!ok_txid || !ok_vout) {
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "input %zu: previous transaction is not the one the prevout names", i);
    }
    if (!ok_script) {
        return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE,
                    "input %zu: the coin's script does not pay the derived key as %s", i,
                    type == OS_SCRIPT_P2PKH ? "P2PKH" : type == OS_SCRIPT_P2WPKH ? "P2WPKH" : "P2SH-P2WPKH");
    }
    const psbt_pair *wu = map_get_type(im, PSBT_IN_WITNESS_UTXO);
    if (wu != NULL) {
        uint64_t wamount;
        const uint8_t *ws;
        size_t wl;
        reader r = { wu->value, wu->value_len, 0 };
        if (!rd_u64(&r, &wamount) || !rd_sized(&r, &ws, &wl) || wamount != amount || wl != script_len ||
            memcmp(ws, script, wl) != 0) {
            return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "input %zu: witness UTXO disagrees with the previous transaction", i);
        }
    }
    in->prevout = p->tx.in[i].prevout;
    in->sequence = p->tx.in[i].sequence;
    in->script_type = type;
    in->account = account;
    in->change = (uint8_t)change;
    in->addr_index = index;
    in->prev_tx = prev;
    in->prev_tx_len = prev_len;
    req->input_total += amount;
    return OS_OK;
}

static int map_output(mapper *m, const psbt *p, size_t i, psbt_sign_request *req, char *err, size_t cap) {
    const psbt_txout *to = &p->tx.out[i];
    os_sign_output *o = &req->outputs[i];
    int replace = 0, rc;
    memset(o, 0, sizeof *o);
    o->amount = to->amount;
    rc = psbt_output_nonce(p, i, o->nonce, &replace, &o->anchor);
    if (rc == OS_OK) {
        if (to->script_len > OS_MAX_PAYOUT_SCRIPT) {
            return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "output %zu: payout script longer than %d bytes", i,
                        OS_MAX_PAYOUT_SCRIPT);
        }
        o->kind = OS_OUTPUT_PAYOUT;
        o->replace = (uint8_t)replace;
        memcpy(o->script, to->script, to->script_len);
        o->script_len = (uint8_t)to->script_len;
        rc = psbt_output_voucher(p, i, &req->vouchers[i]);
        if (rc == OS_OK) o->voucher = &req->vouchers[i];
        else if (rc != OS_ERR_NOT_FOUND) return fail(err, cap, OS_ERR_PSBT, "output %zu: malformed oncesign voucher", i);
        req->n_payouts++;
        return OS_OK;
    }
    if (rc != OS_ERR_NOT_FOUND) return fail(err, cap, OS_ERR_PSBT, "output %zu: malformed oncesign field", i);
    const psbt_map *om = &p->outputs[i];
    for (size_t k = 0; k < om->n; k++) {
        psbt_bip32 d;
        uint8_t type, script[34];
        uint32_t account, change, index;
        size_t script_len;
        if (om->pairs[k].key[0] != PSBT_OUT_BIP32_DERIVATION || psbt_bip32_decode(&om->pairs[k], &d) != OS_OK) continue;
        rc = derivation_is_signers(m, &d, &type, &account, &change, &index, script, &script_len);
        if (rc == OS_ERR_NOT_FOUND) continue;
        if (rc != OS_OK) return fail(err, cap, rc, "output %zu: reading the signer's account key failed", i);
        if (change != 1 || script_len != to->script_len || memcmp(script, to->script, script_len) != 0) continue;
        o->kind = OS_OUTPUT_CHANGE;
        memcpy(o->script, script, script_len);
        o->script_len = (uint8_t)script_len;
        o->change_script_type = type;
        o->change_account = account;
        o->change_index = index;
        req->n_change++;
        return OS_OK;
    }
    return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE,
                "output %zu pays neither a bound payout (no oncesign nonce: see `oncesign psbt bind`) nor the "
                "signer's change chain (no BIP32 derivation .../1/i of the signer's key for its script)", i);
}

int psbt_to_sign_request(const psbt *p, const psbt_signer *s, psbt_sign_request *req, char *err, size_t cap) {
    ARG_CHECK(req != NULL);
    memset(req, 0, sizeof *req);
    ARG_CHECK(p != NULL && s != NULL && s->account_xpub != NULL);
    if (err != NULL && cap > 0) err[0] = '\0';
    if (p->tx.n_inputs == 0) return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "the transaction has no inputs");
    if (p->tx.n_outputs == 0) return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "the transaction has no outputs");
    if (p->tx.n_inputs > OS_MAX_INPUTS || p->tx.n_outputs > OS_MAX_OUTPUTS) {
        return fail(err, cap, OS_ERR_TX_LIMITS, "%zu inputs / %zu outputs: the signer takes at most %d / %d",
                    p->tx.n_inputs, p->tx.n_outputs, OS_MAX_INPUTS, OS_MAX_OUTPUTS);
    }
    int rc = psbt_crypto_ready();
    if (rc != OS_OK) return fail(err, cap, rc, "secp256k1 context");
    req->inputs = calloc(p->tx.n_inputs, sizeof *req->inputs);
    req->outputs = calloc(p->tx.n_outputs, sizeof *req->outputs);
    req->vouchers = calloc(p->tx.n_outputs, sizeof *req->vouchers);
    req->pubkeys = calloc(p->tx.n_inputs, sizeof *req->pubkeys);
    req->fetched = calloc(p->tx.n_inputs, sizeof *req->fetched);
    if (req->inputs == NULL || req->outputs == NULL || req->vouchers == NULL || req->pubkeys == NULL ||
        req->fetched == NULL)
        return OS_ERR_IO;
    mapper m;
    memset(&m, 0, sizeof m);
    m.s = s;
    for (size_t i = 0; i < p->tx.n_inputs && rc == OS_OK; i++) rc = map_input(&m, p, i, req, err, cap);
    for (size_t i = 0; i < p->tx.n_outputs && rc == OS_OK; i++) {
        rc = map_output(&m, p, i, req, err, cap);
        if (rc == OS_OK) req->output_total += req->outputs[i].amount;
    }
    for (size_t k = 0; k < m.n_cache; k++) bip32_wipe(&m.cache[k].node);
    if (rc != OS_OK) return rc;
    if (req->n_payouts == 0) return fail(err, cap, OS_ERR_PSBT_UNSIGNABLE, "no output is bound to a code nonce");
    /* The signer requires payouts in nonce-key order; reordering here would sign another
     * transaction than the PSBT describes, so only check. */
    os_sign_output *sorted = malloc(p->tx.n_outputs * sizeof *sorted);
    if (sorted == NULL) return OS_ERR_IO;
    memcpy(sorted, req->outputs, p->tx.n_outputs * sizeof *sorted);
    rc = os_sign_sort_payouts(sorted, p->tx.n_outputs);
    if (rc == OS_ERR_NONCE_ORDER) {
        free(sorted);
        return fail(err, cap, rc, "two payout outputs carry the same nonce");
    }
    for (size_t i = 0; i < p->tx.n_outputs && rc == OS_OK; i++) {
        if (memcmp(sorted[i].nonce, req->outputs[i].nonce, 32) != 0) {
            rc = fail(err, cap, OS_ERR_NONCE_ORDER,
                      "payout outputs are not in nonce-key order (output %zu); reordering outputs changes the "
                      "transaction, so the PSBT's creator must order them (`oncesign psbt create` does)", i);
        }
    }
    free(sorted);
    if (rc != OS_OK) return rc;
    req->tx.version = p->tx.version;
    req->tx.locktime = p->tx.locktime;
    req->tx.n_inputs = p->tx.n_inputs;
    req->tx.n_outputs = p->tx.n_outputs;
    req->tx.inputs = req->inputs;
    req->tx.outputs = req->outputs;
    size_t n_approvals = 0;
    if (psbt_approvals(p, req->approvals, &n_approvals) != OS_OK)
        return fail(err, cap, OS_ERR_PSBT, "malformed oncesign approval");
    req->tx.approvals = n_approvals ? req->approvals : NULL;
    req->tx.n_approvals = n_approvals;
    return OS_OK;
}

int psbt_add_partial_sigs(psbt *p, const psbt_sign_request *req, const os_input_sig *sigs) {
    ARG_CHECK(p != NULL && req != NULL && sigs != NULL && req->tx.n_inputs == p->tx.n_inputs);
    for (size_t i = 0; i < p->tx.n_inputs; i++) {
        uint8_t key[34];
        ARG_CHECK(sigs[i].sig_len > 0 && sigs[i].sig_len <= OS_MAX_DER_SIG);
        key[0] = PSBT_IN_PARTIAL_SIG;
        memcpy(key + 1, sigs[i].pubkey, 33);
        int rc = psbt_map_set(&p->inputs[i], key, sizeof key, sigs[i].sig, sigs[i].sig_len);
        if (rc != OS_OK) return rc;
    }
    return OS_OK;
}
