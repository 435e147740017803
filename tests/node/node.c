/* oncesign test node — chain state, mempool acceptance, mining and the wallet. */
#include "node.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "node_internal.h"

/* ---------- hash map with fixed-size keys ---------- */

static uint64_t hm_hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 1099511628211ULL;
    return h;
}

static void hm_grow(hmap *m);

void *hm_get(const hmap *m, const void *key)
{
    if (!m->cap) return NULL;
    size_t i = (size_t)hm_hash(key, m->klen) & (m->cap - 1);
    for (;;) {
        hent *e = &m->e[i];
        if (e->state == 0) return NULL;
        if (e->state == 1 && memcmp(e->key, key, m->klen) == 0) return e->val;
        i = (i + 1) & (m->cap - 1);
    }
}

void hm_put(hmap *m, const void *key, void *val)
{
    if ((m->used + m->tombs + 1) * 2 > m->cap) hm_grow(m);
    size_t i = (size_t)hm_hash(key, m->klen) & (m->cap - 1);
    hent *tomb = NULL;
    for (;;) {
        hent *e = &m->e[i];
        if (e->state == 0) break;
        if (e->state == 2 && !tomb) tomb = e;
        if (e->state == 1 && memcmp(e->key, key, m->klen) == 0) {
            e->val = val;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
    hent *e = tomb ? tomb : &m->e[i];
    if (tomb) m->tombs--;
    memcpy(e->key, key, m->klen);
    e->val = val;
    e->state = 1;
    m->used++;
}

void hm_del(hmap *m, const void *key)
{
    if (!m->cap) return;
    size_t i = (size_t)hm_hash(key, m->klen) & (m->cap - 1);
    for (;;) {
        hent *e = &m->e[i];
        if (e->state == 0) return;
        if (e->state == 1 && memcmp(e->key, key, m->klen) == 0) {
            e->state = 2;
            m->used--;
            m->tombs++;
            return;
        }
        i = (i + 1) & (m->cap - 1);
    }
}

static void hm_grow(hmap *m)
{
    hmap n = {0};
    n.klen = m->klen;
    n.cap = m->cap ? m->cap : 64;
    while ((m->used + 1) * 4 > n.cap) n.cap *= 2;
    n.e = tn_xcalloc(n.cap, sizeof(hent));
    for (size_t i = 0; i < m->cap; i++)
        if (m->e[i].state == 1) hm_put(&n, m->e[i].key, m->e[i].val);
    free(m->e);
    *m = n;
}

void hm_free(hmap *m)
{
    free(m->e);
    memset(m, 0, sizeof(*m));
}

/* ---------- helpers ---------- */

void op_key(const uint8_t hash[32], uint32_t n, uint8_t key[36])
{
    memcpy(key, hash, 32);
    key[32] = (uint8_t)n;
    key[33] = (uint8_t)(n >> 8);
    key[34] = (uint8_t)(n >> 16);
    key[35] = (uint8_t)(n >> 24);
}

void tn_format_money(int64_t n, char *out, size_t len)
{
    int64_t q = (n < 0 ? -n : n) / TN_COIN, r = (n < 0 ? -n : n) % TN_COIN;
    char s[64];
    snprintf(s, sizeof s, "%s%" PRId64 ".%08" PRId64, n < 0 ? "-" : "", q, r);
    /* Core trims trailing zeros but keeps two decimals */
    size_t l = strlen(s);
    while (l > 2 && s[l - 1] == '0' && s[l - 3] >= '0' && s[l - 3] <= '9') s[--l] = 0;
    snprintf(out, len, "%s", s);
}

void format_feerate(int64_t per_kb, char *out, size_t len)
{
    snprintf(out, len, "%" PRId64 ".%08" PRId64 " MONA/kB", per_kb / TN_COIN, per_kb % TN_COIN);
}

/* CFeeRate::GetFee */
int64_t fee_for(int64_t per_kb, size_t bytes)
{
    int64_t fee = per_kb * (int64_t)bytes / 1000;
    if (fee == 0 && bytes != 0 && per_kb > 0) fee = 1;
    return fee;
}

char *xprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) abort();
    va_end(ap);
    return s;
}

int64_t now_s(void) { return (int64_t)time(NULL); }

int64_t node_now(const tn_node *n) { return n->time_override ? n->time_override : now_s(); }

void node_log(tn_node *n, const char *fmt, ...)
{
    if (!n->log || n->replaying) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(n->log, fmt, ap);
    va_end(ap);
    fputc('\n', n->log);
    fflush(n->log);
}

/* ---------- amounts in JSON ---------- */

#define AMT_MARK "\x01" "AMT:"

json_t *tn_json_amount(int64_t sats)
{
    char s[64];
    int64_t a = sats < 0 ? -sats : sats;
    snprintf(s, sizeof s, AMT_MARK "%s%" PRId64 ".%08" PRId64, sats < 0 ? "-" : "", a / TN_COIN, a % TN_COIN);
    return json_string(s);
}

char *tn_json_dumps(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s) abort();
    /* "\u0001AMT:12.34000000" -> 12.34000000 */
    static const char pat[] = "\"\\u0001AMT:";
    char *w = s, *r = s;
    while (*r) {
        if (strncmp(r, pat, sizeof pat - 1) == 0) {
            r += sizeof pat - 1;
            while (*r && *r != '"') *w++ = *r++;
            if (*r == '"') r++;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return s;
}

int tn_parse_amount(const json_t *v, int64_t *sats)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || i > TN_MAX_MONEY / TN_COIN) return -1;
        *sats = (int64_t)i * TN_COIN;
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0) || d > (double)TN_MAX_MONEY / TN_COIN) return -1;
        double x = d * 1e8;
        double r = llround(x);
        if (fabs(x - r) > 1e-3 * (1 + fabs(x) / 1e8)) return -1; /* more than 8 decimals */
        *sats = (int64_t)r;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int64_t whole = 0, frac = 0;
        int nd = 0, nf = 0;
        const char *p = s;
        while (*p >= '0' && *p <= '9') {
            whole = whole * 10 + (*p++ - '0');
            if (++nd > 9) return -1;
        }
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') {
                if (++nf > 8) return -1;
                frac = frac * 10 + (*p++ - '0');
            }
        }
        if (*p || (nd == 0 && nf == 0)) return -1;
        for (int i = nf; i < 8; i++) frac *= 10;
        *sats = whole * TN_COIN + frac;
        if (*sats > TN_MAX_MONEY) return -1;
        return 0;
    }
    return -1;
}

/* ---------- node lifecycle ---------- */

static void wallet_key_derive(tn_node *n, uint32_t i, uint8_t sk[32])
{
    tn_buf b = {0};
    tn_buf_put(&b, "oncesign-testnode-wallet", 24);
    tn_buf_put(&b, n->seed, strlen(n->seed));
    for (uint32_t ctr = 0;; ctr++) {
        b.len = 24 + strlen(n->seed);
        tn_buf_u32(&b, i);
        tn_buf_u32(&b, ctr);
        tn_sha256(b.p, b.len, sk);
        uint8_t pub[33];
        if (tn_pubkey(sk, pub) == 0) break;
    }
    tn_buf_free(&b);
}

wallet_key *wallet_new_key(tn_node *n)
{
    if (n->nkeys == n->capkeys) {
        n->capkeys = n->capkeys ? n->capkeys * 2 : 16;
        wallet_key **k = realloc(n->keys, n->capkeys * sizeof(*k));
        if (!k) abort();
        n->keys = k;
    }
    wallet_key *k = tn_xcalloc(1, sizeof(*k));
    wallet_key_derive(n, (uint32_t)n->nkeys, k->sk);
    if (tn_pubkey(k->sk, k->pub) != 0) abort();
    tn_hash160(k->pub, 33, k->h160);
    n->keys[n->nkeys++] = k;
    hm_put(&n->wallet_h160, k->h160, k);
    node_log(n, "{\"e\":\"key\"}");
    return k;
}

wallet_key *wallet_key_for_spk(tn_node *n, const uint8_t *spk, size_t len)
{
    uint8_t h[32];
    if (tn_spk_classify(spk, len, h, NULL) != TN_SPK_P2PKH) return NULL;
    return hm_get(&n->wallet_h160, h);
}

static void add_block(tn_node *n, block *b)
{
    if (n->nblocks == n->capblocks) {
        n->capblocks = n->capblocks ? n->capblocks * 2 : 256;
        block **bb = realloc(n->blocks, n->capblocks * sizeof(*bb));
        if (!bb) abort();
        n->blocks = bb;
    }
    n->blocks[n->nblocks++] = b;
    hm_put(&n->block_by_hash, b->hash, b);
}

tn_node *tn_node_new(const char *seed)
{
    tn_node *n = tn_xcalloc(1, sizeof(*n));
    pthread_mutex_init(&n->lock, NULL);
    n->seed = strdup(seed ? seed : "");
    if (!n->seed) abort();
    n->txs.klen = 32;
    n->utxo.klen = 36;
    n->mp_spent.klen = 36;
    n->block_by_hash.klen = 32;
    n->wallet_h160.klen = 20;
    n->watched.klen = 32;
    n->est_feerate = 10000; /* 0.00010000 MONA/kB */
    n->wallet_feerate = 10000;
    n->start_time = now_s();
    n->wallets[0] = strdup("");   /* Core's default wallet */
    if (!n->wallets[0]) abort();
    n->nwallets = 1;
    /* genesis: coinbase to an unspendable script, its output never enters the UTXO set (as in Core) */
    static const uint8_t burn[1] = {0x6a};
    mine_block(n, burn, 1, 1);
    return n;
}

void txrec_free(txrec *r)
{
    tn_tx_free(&r->tx);
    free(r->raw);
    free(r);
}

void tn_node_free(tn_node *n)
{
    for (size_t i = 0; i < n->txs.cap; i++)
        if (n->txs.e[i].state == 1) txrec_free(n->txs.e[i].val);
    for (size_t i = 0; i < n->nblocks; i++) {
        free(n->blocks[i]->txs);
        free(n->blocks[i]);
    }
    for (size_t i = 0; i < n->nkeys; i++) free(n->keys[i]);
    for (size_t i = 0; i < n->watched.cap; i++)
        if (n->watched.e[i].state == 1) {
            watch_spk *w = n->watched.e[i].val;
            free(w->spk);
            free(w);
        }
    hm_free(&n->watched);
    free(n->keys);
    free(n->blocks);
    free(n->mempool);
    hm_free(&n->txs);
    hm_free(&n->utxo);
    hm_free(&n->mp_spent);
    hm_free(&n->block_by_hash);
    hm_free(&n->wallet_h160);
    free(n->seed);
    for (size_t i = 0; i < n->nwallets; i++) free(n->wallets[i]);
    if (n->log) fclose(n->log);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

void tn_node_counts(tn_node *n, long *mempool, long *height)
{
    pthread_mutex_lock(&n->lock);
    *mempool = (long)n->nmempool;
    *height = (long)tip_height(n);
    pthread_mutex_unlock(&n->lock);
}

int tip_height(const tn_node *n) { return (int)n->nblocks - 1; }

/* ---------- coins ---------- */

/* Finds the output an input spends: confirmed UTXO or a mempool transaction's output. Returns the
 * transaction that created it, or NULL when missing or spent (confirmed). */
txrec *coin_source(tn_node *n, const tn_outpoint *op, int include_mempool)
{
    uint8_t key[36];
    op_key(op->hash, op->n, key);
    txrec *r = hm_get(&n->utxo, key);
    if (r) return r;
    if (!include_mempool) return NULL;
    r = hm_get(&n->txs, op->hash);
    if (r && r->height < 0 && op->n < r->tx.nout) return r;
    return NULL;
}

txrec *mempool_spender(tn_node *n, const tn_outpoint *op)
{
    uint8_t key[36];
    op_key(op->hash, op->n, key);
    return hm_get(&n->mp_spent, key);
}

int signals_rbf(const txrec *r)
{
    for (size_t i = 0; i < r->tx.nin; i++)
        if (r->tx.in[i].sequence <= 0xfffffffdu) return 1;
    return 0;
}

static void mempool_remove_one(tn_node *n, txrec *r)
{
    uint8_t key[36];
    for (size_t i = 0; i < r->tx.nin; i++) {
        op_key(r->tx.in[i].prev.hash, r->tx.in[i].prev.n, key);
        if (hm_get(&n->mp_spent, key) == r) hm_del(&n->mp_spent, key);
    }
    for (size_t i = 0; i < n->nmempool; i++) {
        if (n->mempool[i] == r) {
            memmove(&n->mempool[i], &n->mempool[i + 1], (n->nmempool - i - 1) * sizeof(txrec *));
            n->nmempool--;
            break;
        }
    }
}

/* Collects r and every mempool descendant (children spend its outputs) into set (deduplicated). */
void mempool_descendants(tn_node *n, txrec *r, txrec ***set, size_t *count, size_t *cap)
{
    for (size_t i = 0; i < *count; i++)
        if ((*set)[i] == r) return;
    if (*count == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        txrec **s = realloc(*set, *cap * sizeof(txrec *));
        if (!s) abort();
        *set = s;
    }
    (*set)[(*count)++] = r;
    for (size_t o = 0; o < r->tx.nout; o++) {
        tn_outpoint op;
        memcpy(op.hash, r->txid, 32);
        op.n = (uint32_t)o;
        txrec *c = mempool_spender(n, &op);
        if (c) mempool_descendants(n, c, set, count, cap);
    }
}

/* Drops r and its descendants from the mempool and forgets them. Returns how many. */
size_t mempool_evict(tn_node *n, txrec *r)
{
    txrec **set = NULL;
    size_t count = 0, cap = 0;
    mempool_descendants(n, r, &set, &count, &cap);
    for (size_t i = count; i > 0; i--) {
        txrec *x = set[i - 1];
        mempool_remove_one(n, x);
        hm_del(&n->txs, x->txid);
        txrec_free(x);
    }
    free(set);
    return count;
}

/* ---------- blocks ---------- */

static void merkle_root(uint8_t (*hashes)[32], size_t n, uint8_t out[32])
{
    if (n == 0) {
        memset(out, 0, 32);
        return;
    }
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2) {
            uint8_t pair[64];
            memcpy(pair, hashes[i], 32);
            memcpy(pair + 32, hashes[i + 1 < n ? i + 1 : i], 32);
            tn_sha256d(pair, 64, hashes[m++]);
        }
        n = m;
    }
    memcpy(out, hashes[0], 32);
}

static void tx_index_add(tn_node *n, txrec *r)
{
    hm_put(&n->txs, r->txid, r);
}

txrec *txrec_from_tx(tn_tx *tx)
{
    txrec *r = tn_xcalloc(1, sizeof(*r));
    r->tx = *tx;
    memset(tx, 0, sizeof(*tx));
    tn_tx_txid(&r->tx, r->txid);
    tn_tx_wtxid(&r->tx, r->wtxid);
    tn_tx_sizes(&r->tx, &r->size, &r->vsize, &r->weight);
    tn_buf b = {0};
    tn_tx_serialize(&r->tx, 1, &b);
    r->raw = b.p;
    r->raw_len = b.len;
    r->height = -1;
    return r;
}

int64_t median_time_past(const tn_node *n, int height)
{
    int64_t t[11];
    int k = 0;
    for (int h = height; h >= 0 && k < 11; h--) t[k++] = n->blocks[h]->time;
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            int64_t x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return k ? t[k / 2] : 0;
}

block *mine_block(tn_node *n, const uint8_t *spk, size_t spk_len, int genesis)
{
    int height = (int)n->nblocks;
    block *b = tn_xcalloc(1, sizeof(*b));
    b->height = height;
    /* a fixed genesis time keeps every block hash the same across a restart from the log */
    int64_t t = genesis ? 1296688602 : node_now(n);
    if (height > 0 && t <= n->blocks[height - 1]->time) t = n->blocks[height - 1]->time + 1;
    b->time = t;
    /* every mempool transaction, in the order they entered (parents before children) */
    int64_t fees = 0;
    size_t ntx = genesis ? 0 : n->nmempool;
    b->txs = tn_xcalloc(ntx + 1, sizeof(txrec *));
    b->ntx = ntx + 1;
    for (size_t i = 0; i < ntx; i++) {
        b->txs[i + 1] = n->mempool[i];
        fees += n->mempool[i]->fee;
    }
    /* coinbase: BIP34 height, 50 MONA + fees, witness commitment as Core's miner adds it */
    tn_tx cb = {0};
    cb.version = 2;
    tn_buf sig = {0};
    if (height == 0) {
        tn_buf_u8(&sig, 0);
    } else if (height <= 16) {
        tn_buf_u8(&sig, (uint8_t)(0x50 + height));
    } else {
        uint8_t num[5];
        size_t nl = 0;
        for (int h = height; h; h >>= 8) num[nl++] = (uint8_t)(h & 0xff);
        if (num[nl - 1] & 0x80) num[nl++] = 0;
        tn_buf_push(&sig, num, nl);
    }
    tn_buf_u8(&sig, 0);
    static const uint8_t zero[32];
    tn_tx_add_input(&cb, zero, 0xffffffffu, sig.p, sig.len, 0xffffffffu);
    tn_buf_free(&sig);
    tn_tx_add_output(&cb, 50 * TN_COIN + fees, spk, spk_len);
    {
        uint8_t (*w)[32] = tn_xcalloc(b->ntx, 32);
        for (size_t i = 1; i < b->ntx; i++) memcpy(w[i], b->txs[i]->wtxid, 32);
        uint8_t root[64], commit[38] = {0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed};
        merkle_root(w, b->ntx, root);
        memset(root + 32, 0, 32);
        tn_sha256d(root, 64, commit + 6);
        free(w);
        tn_tx_add_output(&cb, 0, commit, sizeof commit);
        const uint8_t *item = zero;
        size_t il = 32;
        tn_txin_set_witness(&cb.in[0], 1, &item, &il);
    }
    txrec *cbr = txrec_from_tx(&cb);
    cbr->coinbase = 1;
    b->txs[0] = cbr;
    tx_index_add(n, cbr);

    /* header */
    uint8_t (*ids)[32] = tn_xcalloc(b->ntx, 32);
    for (size_t i = 0; i < b->ntx; i++) memcpy(ids[i], b->txs[i]->txid, 32);
    merkle_root(ids, b->ntx, b->merkle);
    free(ids);
    tn_buf h = {0};
    tn_buf_u32(&h, height == 0 ? 1 : 0x20000000u);
    if (height > 0) memcpy(b->prev, n->blocks[height - 1]->hash, 32);
    tn_buf_put(&h, b->prev, 32);
    tn_buf_put(&h, b->merkle, 32);
    tn_buf_u32(&h, (uint32_t)b->time);
    tn_buf_u32(&h, 0x207fffffu);
    tn_buf_u32(&h, (uint32_t)height); /* nonce: no proof of work here */
    memcpy(b->header, h.p, 80);
    tn_sha256d(h.p, 80, b->hash);
    tn_buf_free(&h);

    /* connect: spend inputs, create outputs */
    uint8_t key[36];
    for (size_t i = 0; i < b->ntx; i++) {
        txrec *r = b->txs[i];
        if (i > 0) {
            for (size_t k = 0; k < r->tx.nin; k++) {
                op_key(r->tx.in[k].prev.hash, r->tx.in[k].prev.n, key);
                hm_del(&n->utxo, key);
                hm_del(&n->mp_spent, key);
            }
        }
        r->height = height;
        r->block_time = b->time;
        memcpy(r->block_hash, b->hash, 32);
        for (size_t o = 0; o < r->tx.nout; o++) {
            const tn_txout *out = &r->tx.out[o];
            if (genesis) continue;
            if (out->script_len > 0 && out->script[0] == 0x6a) continue; /* unspendable */
            op_key(r->txid, (uint32_t)o, key);
            hm_put(&n->utxo, key, r);
        }
    }
    n->nmempool = 0;
    add_block(n, b);
    if (!genesis) {
        char *h = tn_hex_encode_alloc(spk, spk_len);
        node_log(n, "{\"e\":\"block\",\"spk\":\"%s\",\"time\":%" PRId64 "}", h, b->time);
        free(h);
    }
    return b;
}
