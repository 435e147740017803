/* oncesign test node — mempool acceptance, in the order Bitcoin Core 0.20's AcceptToMemoryPool checks
 * (which Monacoin Core 0.20.3 inherits), with its reject strings. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

static txrec *reject(tn_tx *tx, int *code, char **msg, int c, char *m)
{
    tn_tx_free(tx);
    *code = c;
    *msg = m;
    return NULL;
}

#define REJECT(...) return reject(tx, code, msg, RPC_VERIFY_REJECTED, xprintf(__VA_ARGS__))

/* Core's IsDust with the 3000 sat/kB dust relay fee. */
static int64_t dust_threshold(const tn_txout *o)
{
    if (o->script_len > 0 && o->script[0] == 0x6a) return 0;
    tn_buf b = {0};
    tn_buf_u64(&b, 0);
    tn_buf_varbytes(&b, o->script, o->script_len);
    size_t size = b.len;
    tn_buf_free(&b);
    tn_spk_type t = tn_spk_classify(o->script, o->script_len, NULL, NULL);
    if (t == TN_SPK_P2WPKH || t == TN_SPK_P2WSH || t == TN_SPK_WITNESS_UNKNOWN)
        size += 32 + 4 + 1 + (107 / 4) + 4;
    else
        size += 32 + 4 + 1 + 107 + 4;
    return fee_for(DUST_RELAY_FEERATE, size);
}

static int is_final(const tn_node *n, const tn_tx *tx)
{
    if (tx->locktime == 0) return 1;
    int64_t next_height = tip_height(n) + 1;
    int64_t cutoff = tx->locktime < 500000000u ? next_height : median_time_past(n, tip_height(n));
    if ((int64_t)tx->locktime < cutoff) return 1;
    for (size_t i = 0; i < tx->nin; i++)
        if (tx->in[i].sequence != 0xffffffffu) return 0;
    return 1;
}

static size_t count_unconfirmed_ancestors(tn_node *n, const tn_tx *tx, txrec **seen, size_t nseen, size_t cap)
{
    for (size_t i = 0; i < tx->nin; i++) {
        txrec *p = hm_get(&n->txs, tx->in[i].prev.hash);
        if (!p || p->height >= 0) continue;
        int dup = 0;
        for (size_t k = 0; k < nseen; k++)
            if (seen[k] == p) dup = 1;
        if (dup) continue;
        if (nseen == cap) return nseen + 1;
        seen[nseen++] = p;
        nseen = count_unconfirmed_ancestors(n, &p->tx, seen, nseen, cap);
    }
    return nseen;
}

txrec *accept_tx(tn_node *n, tn_tx *tx, int64_t max_feerate, int dry_run, int *code, char **msg)
{
    uint8_t txid[32];
    char txid_hex[65];
    tn_tx_txid(tx, txid);
    tn_hash_to_hex(txid, txid_hex);
    uint8_t key[36];

    /* BroadcastTransaction: an unspent output in the chain means it is already confirmed */
    for (size_t o = 0; o < tx->nout; o++) {
        op_key(txid, (uint32_t)o, key);
        if (hm_get(&n->utxo, key))
            return reject(tx, code, msg, RPC_VERIFY_ALREADY_IN_CHAIN, xprintf("Transaction already in block chain"));
    }
    txrec *existing = hm_get(&n->txs, txid);
    if (existing && existing->height < 0) {
        tn_tx_free(tx);
        return existing;
    }

    /* CheckTransaction */
    if (tx->nin == 0) REJECT("bad-txns-vin-empty");
    if (tx->nout == 0) REJECT("bad-txns-vout-empty");
    size_t size, vsize, weight;
    tn_tx_sizes(tx, &size, &vsize, &weight);
    if ((weight - size) / 3 > 1000000) REJECT("bad-txns-oversize");
    int64_t out_total = 0;
    for (size_t o = 0; o < tx->nout; o++) {
        if (tx->out[o].value < 0) REJECT("bad-txns-vout-negative");
        if (tx->out[o].value > TN_MAX_MONEY) REJECT("bad-txns-vout-toolarge");
        out_total += tx->out[o].value;
        if (out_total > TN_MAX_MONEY) REJECT("bad-txns-txouttotal-toolarge");
    }
    static const uint8_t zero[32];
    for (size_t i = 0; i < tx->nin; i++) {
        for (size_t k = 0; k < i; k++)
            if (memcmp(&tx->in[i].prev, &tx->in[k].prev, sizeof(tn_outpoint)) == 0)
                REJECT("bad-txns-inputs-duplicate");
    }
    if (tn_tx_is_coinbase(tx)) REJECT("coinbase");
    for (size_t i = 0; i < tx->nin; i++)
        if (tx->in[i].prev.n == 0xffffffffu && memcmp(tx->in[i].prev.hash, zero, 32) == 0)
            REJECT("bad-txns-prevout-null");

    /* IsStandardTx */
    if (tx->version < 1 || tx->version > 2) REJECT("version");
    if (weight > MAX_STANDARD_WEIGHT) REJECT("tx-size");
    for (size_t i = 0; i < tx->nin; i++) {
        if (tx->in[i].script_len > 1650) REJECT("scriptsig-size");
        const uint8_t *it[1];
        size_t il[1];
        if (tn_script_pushes(tx->in[i].script, tx->in[i].script_len, it, il, 1) < 0)
            REJECT("scriptsig-not-pushonly");
    }
    int nulldata = 0;
    for (size_t o = 0; o < tx->nout; o++) {
        tn_spk_type t = tn_spk_classify(tx->out[o].script, tx->out[o].script_len, NULL, NULL);
        if (t == TN_SPK_NONSTANDARD) REJECT("scriptpubkey");
        if (t == TN_SPK_NULLDATA) nulldata++;
        else if (t == TN_SPK_MULTISIG) REJECT("bare-multisig");
        else if (tx->out[o].value < dust_threshold(&tx->out[o])) REJECT("dust");
    }
    if (nulldata > 1) REJECT("multi-op-return");
    if (!is_final(n, tx)) REJECT("non-final");

    /* conflicts with the mempool */
    txrec *conflicts[64];
    size_t nconf = 0;
    for (size_t i = 0; i < tx->nin; i++) {
        txrec *s = mempool_spender(n, &tx->in[i].prev);
        if (!s) continue;
        int dup = 0;
        for (size_t k = 0; k < nconf; k++)
            if (conflicts[k] == s) dup = 1;
        if (dup) continue;
        if (!signals_rbf(s)) REJECT("txn-mempool-conflict");
        if (nconf == 64) REJECT("too many potential replacements");
        conflicts[nconf++] = s;
    }

    /* inputs */
    int64_t in_total = 0;
    int spend_height = tip_height(n) + 1;
    for (size_t i = 0; i < tx->nin; i++) {
        txrec *src = coin_source(n, &tx->in[i].prev, 1);
        if (!src || tx->in[i].prev.n >= src->tx.nout) {
            return reject(tx, code, msg, RPC_VERIFY_ERROR, xprintf("bad-txns-inputs-missingorspent"));
        }
        if (src->coinbase && spend_height - src->height < COINBASE_MATURITY)
            REJECT("bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth %d",
                   spend_height - src->height);
        int64_t v = src->tx.out[tx->in[i].prev.n].value;
        in_total += v;
        if (v < 0 || v > TN_MAX_MONEY || in_total > TN_MAX_MONEY) REJECT("bad-txns-inputvalues-outofrange");
    }
    if (in_total < out_total) {
        char a[40], b[40];
        tn_format_money(in_total, a, sizeof a);
        tn_format_money(out_total, b, sizeof b);
        REJECT("bad-txns-in-belowout, value in (%s) < value out (%s)", a, b);
    }
    int64_t fee = in_total - out_total;

    /* AreInputsStandard: the node validates exactly P2PKH, P2SH-P2WPKH and P2WPKH spends */
    for (size_t i = 0; i < tx->nin; i++) {
        txrec *src = coin_source(n, &tx->in[i].prev, 1);
        const tn_txout *prev = &src->tx.out[tx->in[i].prev.n];
        tn_spk_type t = tn_spk_classify(prev->script, prev->script_len, NULL, NULL);
        if (t != TN_SPK_P2PKH && t != TN_SPK_P2WPKH && t != TN_SPK_P2SH) REJECT("bad-txns-nonstandard-inputs");
        if (t == TN_SPK_P2SH) {
            const uint8_t *it[8];
            size_t il[8];
            int np = tn_script_pushes(tx->in[i].script, tx->in[i].script_len, it, il, 8);
            if (np < 1 || np > 8 || il[np - 1] != 22 || it[np - 1][0] != 0 || it[np - 1][1] != 20)
                REJECT("bad-txns-nonstandard-inputs");
        }
    }

    /* fees */
    int64_t minfee = fee_for(MIN_RELAY_FEERATE, vsize);
    if (fee < minfee) REJECT("min relay fee not met, %" PRId64 " < %" PRId64, fee, minfee);
    if (max_feerate > 0) {
        int64_t maxfee = fee_for(max_feerate, vsize);
        if (fee > maxfee) REJECT("absurdly-high-fee, %" PRId64 " > %" PRId64, fee, maxfee);
    }
    {
        txrec *seen[26];
        size_t anc = count_unconfirmed_ancestors(n, tx, seen, 0, 25);
        if (anc + 1 > 25) REJECT("too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]");
    }

    /* BIP125 replacement */
    if (nconf) {
        int64_t new_rate = fee * 1000 / (int64_t)vsize;
        for (size_t k = 0; k < nconf; k++) {
            int64_t old_rate = conflicts[k]->fee * 1000 / (int64_t)conflicts[k]->vsize;
            if (new_rate <= old_rate) {
                char a[48], b[48];
                format_feerate(new_rate, a, sizeof a);
                format_feerate(old_rate, b, sizeof b);
                REJECT("insufficient fee, rejecting replacement %s; new feerate %s <= old feerate %s", txid_hex, a, b);
            }
        }
        txrec **all = NULL;
        size_t nall = 0, capall = 0;
        for (size_t k = 0; k < nconf; k++) mempool_descendants(n, conflicts[k], &all, &nall, &capall);
        if (nall > 100) {
            free(all);
            REJECT("too many potential replacements, rejecting replacement %s; too many potential replacements (%zu > 100)\n",
                   txid_hex, nall);
        }
        int64_t conflicting_fees = 0;
        for (size_t k = 0; k < nall; k++) conflicting_fees += all[k]->fee;
        /* no new unconfirmed inputs, and none from what it replaces */
        for (size_t i = 0; i < tx->nin; i++) {
            txrec *p = hm_get(&n->txs, tx->in[i].prev.hash);
            if (!p || p->height >= 0) continue;
            for (size_t k = 0; k < nall; k++)
                if (all[k] == p) {
                    free(all);
                    char ph[65];
                    tn_hash_to_hex(p->txid, ph);
                    REJECT("bad-txns-spends-conflicting-tx, %s spends conflicting transaction %s", txid_hex, ph);
                }
            int was_parent = 0;
            for (size_t k = 0; k < nconf; k++)
                for (size_t j = 0; j < conflicts[k]->tx.nin; j++)
                    if (memcmp(conflicts[k]->tx.in[j].prev.hash, p->txid, 32) == 0) was_parent = 1;
            if (!was_parent) {
                free(all);
                REJECT("replacement-adds-unconfirmed, replacement %s adds unconfirmed input, idx %zu", txid_hex, i);
            }
        }
        free(all);
        if (fee < conflicting_fees) {
            char a[40], b[40];
            tn_format_money(fee, a, sizeof a);
            tn_format_money(conflicting_fees, b, sizeof b);
            REJECT("insufficient fee, rejecting replacement %s, less fees than conflicting txs; %s < %s", txid_hex, a, b);
        }
        int64_t delta = fee - conflicting_fees;
        if (delta < fee_for(MIN_RELAY_FEERATE, vsize)) {
            char a[40], b[40];
            tn_format_money(delta, a, sizeof a);
            tn_format_money(fee_for(MIN_RELAY_FEERATE, vsize), b, sizeof b);
            REJECT("insufficient fee, rejecting replacement %s, not enough additional fees to relay; %s < %s", txid_hex,
                   a, b);
        }
    }

    /* scripts */
    for (size_t i = 0; i < tx->nin; i++) {
        txrec *src = coin_source(n, &tx->in[i].prev, 1);
        const tn_txout *prev = &src->tx.out[tx->in[i].prev.n];
        char err[200];
        if (tn_verify_input(tx, i, prev->script, prev->script_len, prev->value, err, sizeof err) != 0)
            REJECT("%s", err);
    }

    if (dry_run) {
        tn_tx_free(tx);
        *code = 0;
        *msg = NULL;
        return NULL;
    }
    /* accepted: evict what it replaces, then enter the mempool */
    for (size_t k = 0; k < nconf; k++) {
        /* a conflict may already be gone as a descendant of an earlier one */
        for (size_t j = 0; j < n->nmempool; j++)
            if (n->mempool[j] == conflicts[k]) {
                mempool_evict(n, conflicts[k]);
                break;
            }
    }
    txrec *r = txrec_from_tx(tx);
    r->fee = fee;
    r->entry_height = tip_height(n);
    r->entry_time = node_now(n);
    {
        char *h = tn_hex_encode_alloc(r->raw, r->raw_len);
        node_log(n, "{\"e\":\"tx\",\"hex\":\"%s\",\"time\":%" PRId64 "}", h, r->entry_time);
        free(h);
    }
    hm_put(&n->txs, r->txid, r);
    for (size_t i = 0; i < r->tx.nin; i++) {
        op_key(r->tx.in[i].prev.hash, r->tx.in[i].prev.n, key);
        hm_put(&n->mp_spent, key, r);
    }
    if (n->nmempool == n->capmempool) {
        n->capmempool = n->capmempool ? n->capmempool * 2 : 64;
        txrec **m = realloc(n->mempool, n->capmempool * sizeof(txrec *));
        if (!m) abort();
        n->mempool = m;
    }
    n->mempool[n->nmempool++] = r;
    return r;
}
