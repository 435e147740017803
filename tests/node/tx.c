/* oncesign test node — transactions, scripts, addresses, signature hashes, input verification. */
#include "tx.h"

#include <mbedtls/ripemd160.h>
#include <mbedtls/sha256.h>
#include <pthread.h>
#include <secp256k1.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------- memory and buffers ---------- */

void *tn_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

void *tn_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) abort();
    return p;
}

uint8_t *tn_memdup(const uint8_t *p, size_t n)
{
    uint8_t *q = tn_xmalloc(n);
    if (n) memcpy(q, p, n);
    return q;
}

void tn_buf_put(tn_buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, data, n);
    b->len += n;
}

void tn_buf_u8(tn_buf *b, uint8_t v) { tn_buf_put(b, &v, 1); }

void tn_buf_u32(tn_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    tn_buf_put(b, x, 4);
}

void tn_buf_u64(tn_buf *b, uint64_t v)
{
    tn_buf_u32(b, (uint32_t)v);
    tn_buf_u32(b, (uint32_t)(v >> 32));
}

void tn_buf_varint(tn_buf *b, uint64_t v)
{
    if (v < 0xfd) {
        tn_buf_u8(b, (uint8_t)v);
    } else if (v <= 0xffff) {
        tn_buf_u8(b, 0xfd);
        tn_buf_u8(b, (uint8_t)v);
        tn_buf_u8(b, (uint8_t)(v >> 8));
    } else if (v <= 0xffffffffu) {
        tn_buf_u8(b, 0xfe);
        tn_buf_u32(b, (uint32_t)v);
    } else {
        tn_buf_u8(b, 0xff);
        tn_buf_u64(b, v);
    }
}

void tn_buf_varbytes(tn_buf *b, const uint8_t *data, size_t n)
{
    tn_buf_varint(b, n);
    tn_buf_put(b, data, n);
}

void tn_buf_push(tn_buf *b, const uint8_t *data, size_t n)
{
    if (n < 0x4c) {
        tn_buf_u8(b, (uint8_t)n);
    } else if (n <= 0xff) {
        tn_buf_u8(b, 0x4c);
        tn_buf_u8(b, (uint8_t)n);
    } else {
        tn_buf_u8(b, 0x4d);
        tn_buf_u8(b, (uint8_t)n);
        tn_buf_u8(b, (uint8_t)(n >> 8));
    }
    tn_buf_put(b, data, n);
}

void tn_buf_free(tn_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---------- hex ---------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long tn_hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return (long)(n / 2);
}

uint8_t *tn_hex_decode_alloc(const char *hex, size_t *len_out)
{
    size_t n = strlen(hex);
    uint8_t *p = tn_xmalloc(n / 2 + 1);
    long r = tn_hex_decode(hex, p, n / 2 + 1);
    if (r < 0) {
        free(p);
        return NULL;
    }
    *len_out = (size_t)r;
    return p;
}

void tn_hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[in[i] >> 4];
        out[2 * i + 1] = d[in[i] & 15];
    }
    out[2 * n] = 0;
}

char *tn_hex_encode_alloc(const uint8_t *in, size_t n)
{
    char *s = tn_xmalloc(2 * n + 1);
    tn_hex_encode(in, n, s);
    return s;
}

void tn_hash_to_hex(const uint8_t hash[32], char out[65])
{
    uint8_t r[32];
    for (int i = 0; i < 32; i++) r[i] = hash[31 - i];
    tn_hex_encode(r, 32, out);
}

int tn_hash_from_hex(const char *hex, uint8_t hash[32])
{
    uint8_t r[32];
    if (strlen(hex) != 64 || tn_hex_decode(hex, r, 32) != 32) return -1;
    for (int i = 0; i < 32; i++) hash[i] = r[31 - i];
    return 0;
}

/* ---------- hashes ---------- */

void tn_sha256(const uint8_t *in, size_t n, uint8_t out[32])
{
    if (mbedtls_sha256_ret(in, n, out, 0) != 0) abort();
}

void tn_sha256d(const uint8_t *in, size_t n, uint8_t out[32])
{
    uint8_t t[32];
    tn_sha256(in, n, t);
    tn_sha256(t, 32, out);
}

void tn_hash160(const uint8_t *in, size_t n, uint8_t out[20])
{
    uint8_t t[32];
    tn_sha256(in, n, t);
    if (mbedtls_ripemd160_ret(t, 32, out) != 0) abort();
}

/* ---------- transaction parsing ---------- */

typedef struct {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} reader;

static const uint8_t *rd(reader *r, size_t n)
{
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint32_t rd_u32(reader *r)
{
    const uint8_t *p = rd(r, 4);
    if (!p) return 0;
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd_u64(reader *r)
{
    uint64_t lo = rd_u32(r);
    uint64_t hi = rd_u32(r);
    return lo | hi << 32;
}

static uint64_t rd_varint(reader *r)
{
    const uint8_t *p = rd(r, 1);
    if (!p) return 0;
    uint64_t v;
    if (*p < 0xfd) return *p;
    if (*p == 0xfd) {
        const uint8_t *q = rd(r, 2);
        if (!q) return 0;
        v = (uint64_t)q[0] | (uint64_t)q[1] << 8;
        if (v < 0xfd) r->bad = 1; /* non-canonical, as Core's ReadCompactSize refuses */
    } else if (*p == 0xfe) {
        v = rd_u32(r);
        if (v <= 0xffff) r->bad = 1;
    } else {
        v = rd_u64(r);
        if (v <= 0xffffffffu) r->bad = 1;
    }
    if (v > 0x02000000) r->bad = 1;
    return v;
}

static uint8_t *rd_varbytes(reader *r, size_t *n)
{
    uint64_t l = rd_varint(r);
    const uint8_t *p = rd(r, (size_t)l);
    if (!p) return NULL;
    *n = (size_t)l;
    return tn_memdup(p, (size_t)l);
}

static int parse_inputs(reader *r, tn_tx *tx)
{
    uint64_t n = rd_varint(r);
    if (r->bad || n > (r->len - r->pos) / 41) return -1;
    tx->nin = (size_t)n;
    tx->in = tn_xcalloc((size_t)n, sizeof(tn_txin));
    for (size_t i = 0; i < tx->nin; i++) {
        const uint8_t *h = rd(r, 32);
        if (!h) return -1;
        memcpy(tx->in[i].prev.hash, h, 32);
        tx->in[i].prev.n = rd_u32(r);
        tx->in[i].script = rd_varbytes(r, &tx->in[i].script_len);
        tx->in[i].sequence = rd_u32(r);
        if (r->bad) return -1;
    }
    return 0;
}

static int parse_outputs(reader *r, tn_tx *tx)
{
    uint64_t n = rd_varint(r);
    if (r->bad || n > (r->len - r->pos) / 9) return -1;
    tx->nout = (size_t)n;
    tx->out = tn_xcalloc((size_t)n, sizeof(tn_txout));
    for (size_t i = 0; i < tx->nout; i++) {
        tx->out[i].value = (int64_t)rd_u64(r);
        tx->out[i].script = rd_varbytes(r, &tx->out[i].script_len);
        if (r->bad) return -1;
    }
    return 0;
}

static int parse_tx(const uint8_t *raw, size_t len, tn_tx *tx, int allow_witness, int allow_trailing)
{
    reader r = {raw, len, 0, 0};
    memset(tx, 0, sizeof(*tx));
    tx->version = (int32_t)rd_u32(&r);
    int witness = 0;
    /* Core's reading: an empty vin may be the BIP144 marker; the flag byte after it says what follows
     * (0: really no inputs and no outputs) */
    if (parse_inputs(&r, tx)) goto bad;
    if (tx->nin == 0 && allow_witness) {
        const uint8_t *f = rd(&r, 1);
        if (!f) goto bad;
        if (*f != 0) {
            free(tx->in);
            tx->in = NULL;
            if (parse_inputs(&r, tx) || parse_outputs(&r, tx)) goto bad;
        }
        if (*f & ~1) goto bad; /* "Unknown transaction optional data" */
        witness = *f & 1;
    } else if (parse_outputs(&r, tx)) {
        goto bad;
    }
    if (witness) {
        int any = 0;
        for (size_t i = 0; i < tx->nin; i++) {
            uint64_t n = rd_varint(&r);
            if (r.bad || n > len - r.pos) goto bad;
            tn_txin *in = &tx->in[i];
            in->nwit = (size_t)n;
            in->wit = tn_xcalloc((size_t)n, sizeof(uint8_t *));
            in->wit_len = tn_xcalloc((size_t)n, sizeof(size_t));
            for (size_t k = 0; k < in->nwit; k++) {
                in->wit[k] = rd_varbytes(&r, &in->wit_len[k]);
                if (r.bad) goto bad;
            }
            if (n) any = 1;
        }
        if (!any) goto bad; /* "Superfluous witness record" */
    }
    tx->locktime = rd_u32(&r);
    if (r.bad || (r.pos != len && !allow_trailing)) goto bad;
    return 0;
bad:
    tn_tx_free(tx);
    return -1;
}

int tn_tx_parse(const uint8_t *raw, size_t len, tn_tx *tx) { return parse_tx(raw, len, tx, 1, 0); }

int tn_tx_parse_legacy(const uint8_t *raw, size_t len, tn_tx *tx) { return parse_tx(raw, len, tx, 0, 0); }

void tn_tx_free(tn_tx *tx)
{
    for (size_t i = 0; tx->in && i < tx->nin; i++) {
        free(tx->in[i].script);
        for (size_t k = 0; k < tx->in[i].nwit; k++) free(tx->in[i].wit[k]);
        free(tx->in[i].wit);
        free(tx->in[i].wit_len);
    }
    for (size_t i = 0; tx->out && i < tx->nout; i++) free(tx->out[i].script);
    free(tx->in);
    free(tx->out);
    memset(tx, 0, sizeof(*tx));
}

int tn_tx_has_witness(const tn_tx *tx)
{
    for (size_t i = 0; i < tx->nin; i++)
        if (tx->in[i].nwit) return 1;
    return 0;
}

void tn_tx_serialize(const tn_tx *tx, int with_witness, tn_buf *b)
{
    int wit = with_witness && tn_tx_has_witness(tx);
    tn_buf_u32(b, (uint32_t)tx->version);
    if (wit) {
        tn_buf_u8(b, 0);
        tn_buf_u8(b, 1);
    }
    tn_buf_varint(b, tx->nin);
    for (size_t i = 0; i < tx->nin; i++) {
        tn_buf_put(b, tx->in[i].prev.hash, 32);
        tn_buf_u32(b, tx->in[i].prev.n);
        tn_buf_varbytes(b, tx->in[i].script, tx->in[i].script_len);
        tn_buf_u32(b, tx->in[i].sequence);
    }
    tn_buf_varint(b, tx->nout);
    for (size_t i = 0; i < tx->nout; i++) {
        tn_buf_u64(b, (uint64_t)tx->out[i].value);
        tn_buf_varbytes(b, tx->out[i].script, tx->out[i].script_len);
    }
    if (wit) {
        for (size_t i = 0; i < tx->nin; i++) {
            tn_buf_varint(b, tx->in[i].nwit);
            for (size_t k = 0; k < tx->in[i].nwit; k++)
                tn_buf_varbytes(b, tx->in[i].wit[k], tx->in[i].wit_len[k]);
        }
    }
    tn_buf_u32(b, tx->locktime);
}

void tn_tx_txid(const tn_tx *tx, uint8_t txid[32])
{
    tn_buf b = {0};
    tn_tx_serialize(tx, 0, &b);
    tn_sha256d(b.p, b.len, txid);
    tn_buf_free(&b);
}

void tn_tx_wtxid(const tn_tx *tx, uint8_t wtxid[32])
{
    tn_buf b = {0};
    tn_tx_serialize(tx, 1, &b);
    tn_sha256d(b.p, b.len, wtxid);
    tn_buf_free(&b);
}

void tn_tx_sizes(const tn_tx *tx, size_t *size, size_t *vsize, size_t *weight)
{
    tn_buf a = {0}, b = {0};
    tn_tx_serialize(tx, 0, &a);
    tn_tx_serialize(tx, 1, &b);
    size_t w = a.len * 3 + b.len;
    if (size) *size = b.len;
    if (weight) *weight = w;
    if (vsize) *vsize = (w + 3) / 4;
    tn_buf_free(&a);
    tn_buf_free(&b);
}

int tn_tx_is_coinbase(const tn_tx *tx)
{
    static const uint8_t zero[32];
    return tx->nin == 1 && tx->in[0].prev.n == 0xffffffffu && memcmp(tx->in[0].prev.hash, zero, 32) == 0;
}

void tn_tx_add_input(tn_tx *tx, const uint8_t prev_hash[32], uint32_t n, const uint8_t *script,
                     size_t script_len, uint32_t sequence)
{
    tn_txin *in = realloc(tx->in, (tx->nin + 1) * sizeof(tn_txin));
    if (!in) abort();
    tx->in = in;
    tn_txin *x = &tx->in[tx->nin++];
    memset(x, 0, sizeof(*x));
    memcpy(x->prev.hash, prev_hash, 32);
    x->prev.n = n;
    x->script = tn_memdup(script, script_len);
    x->script_len = script_len;
    x->sequence = sequence;
}

void tn_tx_add_output(tn_tx *tx, int64_t value, const uint8_t *script, size_t script_len)
{
    tn_txout *o = realloc(tx->out, (tx->nout + 1) * sizeof(tn_txout));
    if (!o) abort();
    tx->out = o;
    tn_txout *x = &tx->out[tx->nout++];
    x->value = value;
    x->script = tn_memdup(script, script_len);
    x->script_len = script_len;
}

void tn_txin_set_script(tn_txin *in, const uint8_t *script, size_t len)
{
    free(in->script);
    in->script = tn_memdup(script, len);
    in->script_len = len;
}

void tn_txin_set_witness(tn_txin *in, size_t n, const uint8_t *const *items, const size_t *lens)
{
    for (size_t k = 0; k < in->nwit; k++) free(in->wit[k]);
    free(in->wit);
    free(in->wit_len);
    in->nwit = n;
    in->wit = tn_xcalloc(n, sizeof(uint8_t *));
    in->wit_len = tn_xcalloc(n, sizeof(size_t));
    for (size_t k = 0; k < n; k++) {
        in->wit[k] = tn_memdup(items[k], lens[k]);
        in->wit_len[k] = lens[k];
    }
}

/* ---------- script helpers ---------- */

/* Reads one opcode at *pos; sets data/len for pushes. Returns opcode or -1 if truncated. */
static int script_op(const uint8_t *s, size_t len, size_t *pos, const uint8_t **data, size_t *dlen)
{
    if (*pos >= len) return -1;
    int op = s[(*pos)++];
    size_t n = 0;
    if (op <= 0x4e) {
        if (op < 0x4c) {
            n = (size_t)op;
        } else if (op == 0x4c) {
            if (*pos + 1 > len) return -1;
            n = s[*pos];
            *pos += 1;
        } else if (op == 0x4d) {
            if (*pos + 2 > len) return -1;
            n = (size_t)s[*pos] | (size_t)s[*pos + 1] << 8;
            *pos += 2;
        } else {
            if (*pos + 4 > len) return -1;
            n = (size_t)s[*pos] | (size_t)s[*pos + 1] << 8 | (size_t)s[*pos + 2] << 16 |
                (size_t)s[*pos + 3] << 24;
            *pos += 4;
        }
        if (n > len - *pos) return -1;
        if (data) *data = s + *pos;
        if (dlen) *dlen = n;
        *pos += n;
    } else {
        if (data) *data = NULL;
        if (dlen) *dlen = 0;
    }
    return op;
}

int tn_script_pushes(const uint8_t *s, size_t len, const uint8_t **items, size_t *lens, int max)
{
    size_t pos = 0;
    int count = 0;
    static const uint8_t small[17][1] = {{0x81}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8},
                                         {9}, {10}, {11}, {12}, {13}, {14}, {15}, {16}};
    while (pos < len) {
        const uint8_t *d;
        size_t dl;
        int op = script_op(s, len, &pos, &d, &dl);
        if (op < 0) return -1;
        if (op > 0x60) return -1; /* not push-only (OP_RESERVED 0x50 counts as push-only in Core) */
        if (op == 0x4f || (op >= 0x51 && op <= 0x60)) {
            d = small[op == 0x4f ? 0 : op - 0x50];
            dl = 1;
        } else if (op == 0x50) {
            d = NULL;
            dl = 0;
        }
        if (count < max) {
            items[count] = d;
            lens[count] = dl;
        }
        count++;
    }
    return count;
}

tn_spk_type tn_spk_classify(const uint8_t *s, size_t len, uint8_t *hash, size_t *hash_len)
{
    size_t hl = 0;
    tn_spk_type t = TN_SPK_NONSTANDARD;
    if (len == 25 && s[0] == 0x76 && s[1] == 0xa9 && s[2] == 20 && s[23] == 0x88 && s[24] == 0xac) {
        t = TN_SPK_P2PKH;
        if (hash) memcpy(hash, s + 3, 20);
        hl = 20;
    } else if (len == 23 && s[0] == 0xa9 && s[1] == 20 && s[22] == 0x87) {
        t = TN_SPK_P2SH;
        if (hash) memcpy(hash, s + 2, 20);
        hl = 20;
    } else if (len >= 4 && len <= 42 && (s[0] == 0 || (s[0] >= 0x51 && s[0] <= 0x60)) &&
               (size_t)s[1] + 2 == len && s[1] >= 2) {
        if (s[0] == 0 && len == 22) {
            t = TN_SPK_P2WPKH;
            hl = 20;
        } else if (s[0] == 0 && len == 34) {
            t = TN_SPK_P2WSH;
            hl = 32;
        } else if (s[0] != 0) {
            t = TN_SPK_WITNESS_UNKNOWN;
            hl = 0;
        }
        if (hash && hl) memcpy(hash, s + 2, hl);
    } else if ((len == 35 && s[0] == 33 && (s[1] == 2 || s[1] == 3) && s[34] == 0xac) ||
               (len == 67 && s[0] == 65 && s[1] == 4 && s[66] == 0xac)) {
        t = TN_SPK_P2PK;
    } else if (len >= 1 && s[0] == 0x6a && len <= 83) {
        const uint8_t *items[1];
        size_t lens[1];
        if (tn_script_pushes(s + 1, len - 1, items, lens, 1) >= 0) t = TN_SPK_NULLDATA;
    } else if (len >= 37 && s[len - 1] == 0xae && s[0] >= 0x51 && s[0] <= 0x53 && s[len - 2] >= 0x51 &&
               s[len - 2] <= 0x53) {
        /* bare multisig up to 3 keys */
        size_t pos = 1;
        int keys = 0;
        while (pos < len - 2) {
            const uint8_t *d;
            size_t dl;
            int op = script_op(s, len - 2, &pos, &d, &dl);
            if (op < 0 || (op != 33 && op != 65)) {
                keys = -1;
                break;
            }
            keys++;
        }
        if (keys > 0 && keys == s[len - 2] - 0x50 && s[0] - 0x50 <= keys) t = TN_SPK_MULTISIG;
    }
    if (hash_len) *hash_len = hl;
    return t;
}

const char *tn_spk_type_name(tn_spk_type t)
{
    switch (t) {
    case TN_SPK_P2PKH: return "pubkeyhash";
    case TN_SPK_P2SH: return "scripthash";
    case TN_SPK_P2WPKH: return "witness_v0_keyhash";
    case TN_SPK_P2WSH: return "witness_v0_scripthash";
    case TN_SPK_P2PK: return "pubkey";
    case TN_SPK_MULTISIG: return "multisig";
    case TN_SPK_NULLDATA: return "nulldata";
    case TN_SPK_WITNESS_UNKNOWN: return "witness_unknown";
    default: return "nonstandard";
    }
}

size_t tn_spk_p2pkh(const uint8_t h[20], uint8_t out[25])
{
    out[0] = 0x76;
    out[1] = 0xa9;
    out[2] = 20;
    memcpy(out + 3, h, 20);
    out[23] = 0x88;
    out[24] = 0xac;
    return 25;
}

size_t tn_spk_p2sh(const uint8_t h[20], uint8_t out[23])
{
    out[0] = 0xa9;
    out[1] = 20;
    memcpy(out + 2, h, 20);
    out[22] = 0x87;
    return 23;
}

size_t tn_spk_p2wpkh(const uint8_t h[20], uint8_t out[22])
{
    out[0] = 0;
    out[1] = 20;
    memcpy(out + 2, h, 20);
    return 22;
}

static const char *op_name(int op)
{
    switch (op) {
    case 0x00: return "0";
    case 0x4f: return "-1";
    case 0x61: return "OP_NOP";
    case 0x63: return "OP_IF";
    case 0x64: return "OP_NOTIF";
    case 0x67: return "OP_ELSE";
    case 0x68: return "OP_ENDIF";
    case 0x69: return "OP_VERIFY";
    case 0x6a: return "OP_RETURN";
    case 0x75: return "OP_DROP";
    case 0x76: return "OP_DUP";
    case 0x87: return "OP_EQUAL";
    case 0x88: return "OP_EQUALVERIFY";
    case 0xa9: return "OP_HASH160";
    case 0xaa: return "OP_HASH256";
    case 0xab: return "OP_CODESEPARATOR";
    case 0xac: return "OP_CHECKSIG";
    case 0xad: return "OP_CHECKSIGVERIFY";
    case 0xae: return "OP_CHECKMULTISIG";
    case 0xaf: return "OP_CHECKMULTISIGVERIFY";
    case 0xb1: return "OP_CHECKLOCKTIMEVERIFY";
    case 0xb2: return "OP_CHECKSEQUENCEVERIFY";
    default: return NULL;
    }
}

char *tn_script_asm(const uint8_t *s, size_t len, int with_sighash)
{
    tn_buf b = {0};
    size_t pos = 0;
    while (pos < len) {
        if (b.len) tn_buf_u8(&b, ' ');
        const uint8_t *d;
        size_t dl;
        int op = script_op(s, len, &pos, &d, &dl);
        if (op < 0) {
            tn_buf_put(&b, "[error]", 7);
            break;
        }
        char tmp[32];
        if (op > 0 && op <= 0x4e) {
            if (dl <= 4) {
                /* small pushes print as numbers in Core */
                int64_t v = 0;
                for (size_t i = 0; i < dl; i++) v |= (int64_t)d[i] << (8 * i);
                if (dl && (d[dl - 1] & 0x80)) v = -(v & ~((int64_t)0x80 << (8 * (dl - 1))));
                snprintf(tmp, sizeof tmp, "%lld", (long long)v);
                tn_buf_put(&b, tmp, strlen(tmp));
            } else {
                const char *suffix = NULL;
                size_t hl = dl;
                if (with_sighash && dl > 8 && d[0] == 0x30) {
                    switch (d[dl - 1]) {
                    case 0x01: suffix = "[ALL]"; break;
                    case 0x02: suffix = "[NONE]"; break;
                    case 0x03: suffix = "[SINGLE]"; break;
                    case 0x81: suffix = "[ALL|ANYONECANPAY]"; break;
                    case 0x82: suffix = "[NONE|ANYONECANPAY]"; break;
                    case 0x83: suffix = "[SINGLE|ANYONECANPAY]"; break;
                    }
                    if (suffix) hl = dl - 1;
                }
                char *h = tn_hex_encode_alloc(d, hl);
                tn_buf_put(&b, h, strlen(h));
                free(h);
                if (suffix) tn_buf_put(&b, suffix, strlen(suffix));
            }
        } else if (op >= 0x51 && op <= 0x60) {
            snprintf(tmp, sizeof tmp, "%d", op - 0x50);
            tn_buf_put(&b, tmp, strlen(tmp));
        } else {
            const char *n = op_name(op);
            if (!n) {
                snprintf(tmp, sizeof tmp, "OP_UNKNOWN_%02x", op);
                n = tmp;
            }
            tn_buf_put(&b, n, strlen(n));
        }
    }
    tn_buf_u8(&b, 0);
    return (char *)b.p;
}

/* ---------- signature hashes ---------- */

#define SIGHASH_NONE 2
#define SIGHASH_SINGLE 3
#define SIGHASH_ANYONECANPAY 0x80

/* Script code as the legacy algorithm serializes it: every OP_CODESEPARATOR dropped. */
static void put_script_code_legacy(tn_buf *b, const uint8_t *s, size_t len)
{
    tn_buf t = {0};
    size_t pos = 0, start = 0;
    while (pos < len) {
        int op = script_op(s, len, &pos, NULL, NULL);
        if (op < 0) {
            pos = len; /* Core copies the unparsable tail verbatim */
            break;
        }
        if (op == 0xab) {
            tn_buf_put(&t, s + start, pos - 1 - start);
            start = pos;
        }
    }
    tn_buf_put(&t, s + start, len - start);
    tn_buf_varbytes(b, t.p, t.len);
    tn_buf_free(&t);
}

void tn_sighash_legacy(const tn_tx *tx, size_t in_index, const uint8_t *script_code, size_t sc_len,
                       int32_t hash_type, uint8_t out[32])
{
    int base = hash_type & 0x1f;
    int acp = (hash_type & SIGHASH_ANYONECANPAY) != 0;
    if (in_index >= tx->nin || (base == SIGHASH_SINGLE && in_index >= tx->nout)) {
        memset(out, 0, 32);
        out[0] = 1;
        return;
    }
    tn_buf b = {0};
    tn_buf_u32(&b, (uint32_t)tx->version);
    size_t nin = acp ? 1 : tx->nin;
    tn_buf_varint(&b, nin);
    for (size_t k = 0; k < nin; k++) {
        size_t i = acp ? in_index : k;
        tn_buf_put(&b, tx->in[i].prev.hash, 32);
        tn_buf_u32(&b, tx->in[i].prev.n);
        if (i == in_index)
            put_script_code_legacy(&b, script_code, sc_len);
        else
            tn_buf_varint(&b, 0);
        if (i != in_index && (base == SIGHASH_SINGLE || base == SIGHASH_NONE))
            tn_buf_u32(&b, 0);
        else
            tn_buf_u32(&b, tx->in[i].sequence);
    }
    size_t nout = base == SIGHASH_NONE ? 0 : base == SIGHASH_SINGLE ? in_index + 1 : tx->nout;
    tn_buf_varint(&b, nout);
    for (size_t i = 0; i < nout; i++) {
        if (base == SIGHASH_SINGLE && i != in_index) {
            tn_buf_u64(&b, UINT64_MAX); /* a null output: value -1, empty script */
            tn_buf_varint(&b, 0);
        } else {
            tn_buf_u64(&b, (uint64_t)tx->out[i].value);
            tn_buf_varbytes(&b, tx->out[i].script, tx->out[i].script_len);
        }
    }
    tn_buf_u32(&b, tx->locktime);
    tn_buf_u32(&b, (uint32_t)hash_type);
    tn_sha256d(b.p, b.len, out);
    tn_buf_free(&b);
}

void tn_sighash_bip143(const tn_tx *tx, size_t in_index, const uint8_t *script_code, size_t sc_len,
                       int64_t amount, int32_t hash_type, uint8_t out[32])
{
    uint8_t prevouts[32] = {0}, sequences[32] = {0}, outputs[32] = {0};
    int base = hash_type & 0x1f;
    int acp = (hash_type & SIGHASH_ANYONECANPAY) != 0;
    tn_buf t = {0};
    if (!acp) {
        for (size_t i = 0; i < tx->nin; i++) {
            tn_buf_put(&t, tx->in[i].prev.hash, 32);
            tn_buf_u32(&t, tx->in[i].prev.n);
        }
        tn_sha256d(t.p, t.len, prevouts);
        t.len = 0;
    }
    if (!acp && base != SIGHASH_SINGLE && base != SIGHASH_NONE) {
        for (size_t i = 0; i < tx->nin; i++) tn_buf_u32(&t, tx->in[i].sequence);
        tn_sha256d(t.p, t.len, sequences);
        t.len = 0;
    }
    if (base != SIGHASH_SINGLE && base != SIGHASH_NONE) {
        for (size_t i = 0; i < tx->nout; i++) {
            tn_buf_u64(&t, (uint64_t)tx->out[i].value);
            tn_buf_varbytes(&t, tx->out[i].script, tx->out[i].script_len);
        }
        tn_sha256d(t.p, t.len, outputs);
        t.len = 0;
    } else if (base == SIGHASH_SINGLE && in_index < tx->nout) {
        tn_buf_u64(&t, (uint64_t)tx->out[in_index].value);
        tn_buf_varbytes(&t, tx->out[in_index].script, tx->out[in_index].script_len);
        tn_sha256d(t.p, t.len, outputs);
        t.len = 0;
    }
    tn_buf_free(&t);
    tn_buf b = {0};
    tn_buf_u32(&b, (uint32_t)tx->version);
    tn_buf_put(&b, prevouts, 32);
    tn_buf_put(&b, sequences, 32);
    tn_buf_put(&b, tx->in[in_index].prev.hash, 32);
    tn_buf_u32(&b, tx->in[in_index].prev.n);
    tn_buf_varbytes(&b, script_code, sc_len);
    tn_buf_u64(&b, (uint64_t)amount);
    tn_buf_u32(&b, tx->in[in_index].sequence);
    tn_buf_put(&b, outputs, 32);
    tn_buf_u32(&b, tx->locktime);
    tn_buf_u32(&b, (uint32_t)hash_type);
    tn_sha256d(b.p, b.len, out);
    tn_buf_free(&b);
}

/* ---------- addresses ---------- */

static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static void base58check_encode(const uint8_t *payload, size_t n, char *out)
{
    uint8_t data[64], chk[32];
    memcpy(data, payload, n);
    tn_sha256d(payload, n, chk);
    memcpy(data + n, chk, 4);
    n += 4;
    uint8_t digits[128];
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned carry = data[i];
        for (size_t j = 0; j < nd; j++) {
            carry += (unsigned)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            digits[nd++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    size_t o = 0;
    for (size_t i = 0; i < n && data[i] == 0; i++) out[o++] = '1';
    for (size_t j = nd; j > 0; j--) out[o++] = b58[digits[j - 1]];
    out[o] = 0;
}

/* Returns payload length (without checksum) or -1. */
static long base58check_decode(const char *s, uint8_t *out, size_t cap)
{
    uint8_t bytes[64];
    size_t nb = 0;
    size_t zeros = 0;
    while (s[zeros] == '1') zeros++;
    for (const char *c = s; *c; c++) {
        const char *p = strchr(b58, *c);
        if (!p || !*c) return -1;
        unsigned carry = (unsigned)(p - b58);
        for (size_t j = 0; j < nb; j++) {
            carry += (unsigned)bytes[j] * 58;
            bytes[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry) {
            if (nb >= sizeof bytes) return -1;
            bytes[nb++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    size_t total = zeros + nb;
    if (total < 4 || total > sizeof bytes + zeros || total - 4 > cap) return -1;
    uint8_t full[80];
    if (total > sizeof full) return -1;
    memset(full, 0, zeros);
    for (size_t j = 0; j < nb; j++) full[zeros + j] = bytes[nb - 1 - j];
    uint8_t chk[32];
    tn_sha256d(full, total - 4, chk);
    if (memcmp(chk, full + total - 4, 4) != 0) return -1;
    memcpy(out, full, total - 4);
    return (long)(total - 4);
}

static const char b32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t bech32_polymod(const uint8_t *v, size_t n)
{
    static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    uint32_t chk = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t top = chk >> 25;
        chk = (chk & 0x1ffffff) << 5 ^ v[i];
        for (int k = 0; k < 5; k++)
            if ((top >> k) & 1) chk ^= gen[k];
    }
    return chk;
}

static size_t hrp_expand(const char *hrp, uint8_t *out)
{
    size_t n = strlen(hrp), o = 0;
    for (size_t i = 0; i < n; i++) out[o++] = (uint8_t)(hrp[i] >> 5);
    out[o++] = 0;
    for (size_t i = 0; i < n; i++) out[o++] = (uint8_t)(hrp[i] & 31);
    return o;
}

static void bech32_encode_segwit(int witver, const uint8_t *prog, size_t plen, char *out)
{
    uint8_t data[80];
    size_t nd = 0;
    data[nd++] = (uint8_t)witver;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < plen; i++) {
        acc = acc << 8 | prog[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            data[nd++] = (uint8_t)((acc >> bits) & 31);
        }
    }
    if (bits) data[nd++] = (uint8_t)((acc << (5 - bits)) & 31);
    uint8_t v[200];
    size_t nv = hrp_expand(TN_HRP, v);
    memcpy(v + nv, data, nd);
    nv += nd;
    memset(v + nv, 0, 6);
    uint32_t mod = bech32_polymod(v, nv + 6) ^ 1; /* bech32 (BIP173), v0 only in 0.20 */
    size_t o = 0;
    strcpy(out, TN_HRP);
    o = strlen(TN_HRP);
    out[o++] = '1';
    for (size_t i = 0; i < nd; i++) out[o++] = b32[data[i]];
    for (int i = 0; i < 6; i++) out[o++] = b32[(mod >> (5 * (5 - i))) & 31];
    out[o] = 0;
}

static long bech32_decode_segwit(const char *addr, uint8_t spk[42])
{
    size_t len = strlen(addr), hl = strlen(TN_HRP);
    if (len > 90 || len < hl + 8) return -1;
    int lower = 0, upper = 0;
    char s[91];
    for (size_t i = 0; i < len; i++) {
        char c = addr[i];
        if (c >= 'a' && c <= 'z') lower = 1;
        if (c >= 'A' && c <= 'Z') {
            upper = 1;
            c = (char)(c - 'A' + 'a');
        }
        s[i] = c;
    }
    s[len] = 0;
    if (lower && upper) return -1;
    if (strncmp(s, TN_HRP, hl) != 0 || s[hl] != '1') return -1;
    uint8_t v[200];
    size_t nv = hrp_expand(TN_HRP, v);
    size_t nd = 0;
    uint8_t data[90];
    for (size_t i = hl + 1; i < len; i++) {
        const char *p = strchr(b32, s[i]);
        if (!p || !s[i]) return -1;
        data[nd++] = (uint8_t)(p - b32);
    }
    memcpy(v + nv, data, nd);
    if (bech32_polymod(v, nv + nd) != 1) return -1;
    nd -= 6;
    if (nd < 1 || data[0] > 16) return -1;
    int witver = data[0];
    uint8_t prog[64];
    size_t np = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 1; i < nd; i++) {
        acc = acc << 5 | data[i];
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (np >= sizeof prog) return -1;
            prog[np++] = (uint8_t)((acc >> bits) & 0xff);
        }
    }
    if (bits >= 5 || ((acc << (8 - bits)) & 0xff)) return -1;
    if (np < 2 || np > 40) return -1;
    if (witver == 0 && np != 20 && np != 32) return -1;
    spk[0] = (uint8_t)(witver ? 0x50 + witver : 0);
    spk[1] = (uint8_t)np;
    memcpy(spk + 2, prog, np);
    return (long)(np + 2);
}

long tn_address_to_spk(const char *addr, uint8_t spk[42])
{
    uint8_t payload[40];
    long n = base58check_decode(addr, payload, sizeof payload);
    if (n == 21) {
        if (payload[0] == TN_P2PKH_VER) return (long)tn_spk_p2pkh(payload + 1, spk);
        if (payload[0] == TN_P2SH_VER || payload[0] == TN_P2SH_VER_OLD) return (long)tn_spk_p2sh(payload + 1, spk);
        return -1;
    }
    return bech32_decode_segwit(addr, spk);
}

int tn_spk_to_address(const uint8_t *spk, size_t len, char *out)
{
    uint8_t h[32];
    size_t hl;
    uint8_t payload[21];
    switch (tn_spk_classify(spk, len, h, &hl)) {
    case TN_SPK_P2PKH:
        payload[0] = TN_P2PKH_VER;
        memcpy(payload + 1, h, 20);
        base58check_encode(payload, 21, out);
        return 0;
    case TN_SPK_P2SH:
        payload[0] = TN_P2SH_VER;
        memcpy(payload + 1, h, 20);
        base58check_encode(payload, 21, out);
        return 0;
    case TN_SPK_P2WPKH:
    case TN_SPK_P2WSH:
        bech32_encode_segwit(0, h, hl, out);
        return 0;
    default:
        return -1;
    }
}

/* ---------- signatures ---------- */

static secp256k1_context *g_ctx;
static pthread_once_t g_ctx_once = PTHREAD_ONCE_INIT;
static void ctx_init(void) { g_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE); }
static secp256k1_context *ctx(void)
{
    pthread_once(&g_ctx_once, ctx_init);
    return g_ctx;
}

size_t tn_sign(const uint8_t seckey[32], const uint8_t hash[32], uint8_t der[72])
{
    secp256k1_ecdsa_signature sig;
    if (!secp256k1_ecdsa_sign(ctx(), &sig, hash, seckey, NULL, NULL)) abort();
    size_t n = 72;
    if (!secp256k1_ecdsa_signature_serialize_der(ctx(), der, &n, &sig)) abort();
    return n;
}

int tn_pubkey(const uint8_t seckey[32], uint8_t pub[33])
{
    secp256k1_pubkey pk;
    if (!secp256k1_ec_pubkey_create(ctx(), &pk, seckey)) return -1;
    size_t n = 33;
    secp256k1_ec_pubkey_serialize(ctx(), pub, &n, &pk, SECP256K1_EC_COMPRESSED);
    return 0;
}

/* BIP66 strict DER check, as Core's IsValidSignatureEncoding (sig includes the hashtype byte). */
static int is_valid_der(const uint8_t *sig, size_t len)
{
    if (len < 9 || len > 73) return 0;
    if (sig[0] != 0x30 || sig[1] != len - 3) return 0;
    size_t lenR = sig[3];
    if (5 + lenR >= len) return 0;
    size_t lenS = sig[5 + lenR];
    if (lenR + lenS + 7 != len) return 0;
    if (sig[2] != 0x02 || lenR == 0 || (sig[4] & 0x80)) return 0;
    if (lenR > 1 && sig[4] == 0 && !(sig[5] & 0x80)) return 0;
    if (sig[lenR + 4] != 0x02 || lenS == 0 || (sig[lenR + 6] & 0x80)) return 0;
    if (lenS > 1 && sig[lenR + 6] == 0 && !(sig[lenR + 7] & 0x80)) return 0;
    return 1;
}

/* Checks one CHECKSIG as Core 0.20 does under standard flags. Returns NULL when valid.
 * *sig_valid_lax tells whether the signature would verify with the consensus-only flags. */
static const char *check_sig(const uint8_t *sig, size_t sig_len, const uint8_t *pub, size_t pub_len,
                             int witness, const tn_tx *tx, size_t idx, const uint8_t *sc, size_t sc_len,
                             int64_t amount, int *sig_valid_lax)
{
    *sig_valid_lax = 0;
    secp256k1_ecdsa_signature s;
    secp256k1_pubkey pk;
    uint8_t hash[32];
    int der_ok = sig_len > 0 && is_valid_der(sig, sig_len);
    int parsed = sig_len > 1 && secp256k1_ecdsa_signature_parse_der(ctx(), &s, sig, sig_len - 1);
    int pk_ok = (pub_len == 33 && (pub[0] == 2 || pub[0] == 3)) || (pub_len == 65 && pub[0] == 4);
    int pk_parsed = pk_ok && secp256k1_ec_pubkey_parse(ctx(), &pk, pub, pub_len);
    int ht = sig_len ? sig[sig_len - 1] : 0;
    int verifies = 0;
    if (parsed && pk_parsed) {
        if (witness)
            tn_sighash_bip143(tx, idx, sc, sc_len, amount, ht, hash);
        else
            tn_sighash_legacy(tx, idx, sc, sc_len, ht, hash);
        secp256k1_ecdsa_signature norm;
        secp256k1_ecdsa_signature_normalize(ctx(), &norm, &s);
        verifies = secp256k1_ecdsa_verify(ctx(), &norm, hash, &pk);
    }
    *sig_valid_lax = verifies;
    if (sig_len == 0) return "Script evaluated without error but finished with a false/empty top stack element";
    if (!der_ok) return "Non-canonical DER signature";
    if (parsed) {
        secp256k1_ecdsa_signature norm;
        if (secp256k1_ecdsa_signature_normalize(ctx(), &norm, &s))
            return "Non-canonical signature: S value is unnecessarily high";
    }
    int base = ht & ~0x80;
    if (base < 1 || base > 3) return "Signature hash type missing or not understood";
    if (!pk_ok) return "Public key is neither compressed or uncompressed";
    if (witness && pub_len != 33) return "Using non-compressed keys in segwit";
    if (!verifies) return "Signature must be zero for failed CHECK(MULTI)SIG operation";
    return NULL;
}

int tn_verify_input(const tn_tx *tx, size_t idx, const uint8_t *spk, size_t spk_len, int64_t amount,
                    char *err, size_t errlen)
{
    uint8_t h[32];
    size_t hl;
    const tn_txin *in = &tx->in[idx];
    const uint8_t *items[4];
    size_t lens[4];
    const char *e = NULL;
    int mandatory_ok = 1;
    int lax = 0;
    tn_spk_type t = tn_spk_classify(spk, spk_len, h, &hl);
    int pushes = tn_script_pushes(in->script, in->script_len, items, lens, 4);

    if (t == TN_SPK_P2PKH) {
        if (pushes < 0) {
            snprintf(err, errlen, "scriptsig-not-pushonly");
            return -1;
        }
        if (pushes == 0) {
            e = "Operation not valid with the current stack size";
            mandatory_ok = 0;
        } else {
            /* the script looks only at the top two stack items */
            int k = pushes > 4 ? 4 : pushes;
            const uint8_t *sig = k >= 2 ? items[k - 2] : items[0];
            size_t sig_len = k >= 2 ? lens[k - 2] : lens[0];
            const uint8_t *pub = items[k - 1];
            size_t pub_len = lens[k - 1];
            uint8_t ph[20];
            tn_hash160(pub, pub_len, ph);
            if (memcmp(ph, h, 20) != 0 || pushes > 4) {
                e = "Script failed an OP_EQUALVERIFY operation";
                mandatory_ok = 0;
            } else {
                e = check_sig(sig, sig_len, pub, pub_len, 0, tx, idx, spk, spk_len, amount, &lax);
                mandatory_ok = lax;
                if (!e && pushes > 2) e = "Stack size must be exactly one after execution";
                if (!e && in->nwit) e = "Witness provided for non-witness script";
            }
        }
    } else if (t == TN_SPK_P2WPKH || t == TN_SPK_P2SH) {
        const uint8_t *prog = h;
        if (t == TN_SPK_P2SH) {
            uint8_t rh[20];
            if (pushes < 1) {
                snprintf(err, errlen, "%s", pushes < 0 ? "scriptsig-not-pushonly" : "bad-txns-nonstandard-inputs");
                return -1;
            }
            const uint8_t *redeem = items[pushes > 4 ? 3 : pushes - 1];
            size_t rlen = lens[pushes > 4 ? 3 : pushes - 1];
            tn_hash160(redeem, rlen, rh);
            if (memcmp(rh, h, 20) != 0) {
                snprintf(err, errlen, "mandatory-script-verify-flag-failed (%s)",
                         "Script evaluated without error but finished with a false/empty top stack element");
                return -1;
            }
            if (pushes > 4 || rlen != 22 || redeem[0] != 0 || redeem[1] != 20) {
                snprintf(err, errlen, "bad-txns-nonstandard-inputs");
                return -1;
            }
            if (pushes != 1) e = "Witness requires only-redeemscript scriptSig";
            prog = redeem + 2;
        } else if (in->script_len != 0) {
            e = "Witness requires empty scriptSig";
        }
        /* Monacoin 0.20's mandatory flags carry no witness rule, so every witness failure below is
         * "non-mandatory" (docs/DESIGN.md §5): mandatory_ok stays 1. */
        if (!e) {
            if (in->nwit == 0)
                e = "Witness program was passed an empty witness";
            else if (in->nwit != 2)
                e = "Witness program hash mismatch";
            else {
                uint8_t ph[20];
                tn_hash160(in->wit[1], in->wit_len[1], ph);
                if (memcmp(ph, prog, 20) != 0) {
                    e = "Script failed an OP_EQUALVERIFY operation";
                } else {
                    uint8_t sc[25];
                    tn_spk_p2pkh(prog, sc);
                    e = check_sig(in->wit[0], in->wit_len[0], in->wit[1], in->wit_len[1], 1, tx, idx, sc, 25,
                                  amount, &lax);
                }
            }
        }
    } else {
        snprintf(err, errlen, "bad-txns-nonstandard-inputs");
        return -1;
    }
    if (!e) return 0;
    if (mandatory_ok)
        snprintf(err, errlen, "non-mandatory-script-verify-flag (%s)", e);
    else
        snprintf(err, errlen, "mandatory-script-verify-flag-failed (%s)", e);
    return -1;
}
