/* oncesign host — the payout engine's signer and monacoind side: start-up check against the signer
 * (I6), the signer's log archive, the worker (batch, coins, fee, draft, sign, store, broadcast), the
 * reconciler (the node's view decides, I3) and the hot wallet's addresses and coins.
 * The lifecycle and what happens at each crash point: docs/LIFECYCLE.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "audit_log.h"
#include "bytes.h"
#include "crypto.h"
#include "engine_internal.h"
#include "nonce_set.h"
#include "oncesign/status.h"
#include "rpc.h"
#include "signing.h"
#include "tx.h"
#include "fee.h"
#include "tx_size.h"

#define DEVICE_TIMEOUT_MS 10000
#define DUST 546u
#define RBF_SEQUENCE 0xfffffffdu

/* ------------------------------------------------------------------ small helpers */

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void errf(char *err, size_t cap, const char *fmt, ...) {
    if (!err || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static void set_mismatch(os_engine *e, const char *fmt, ...) {
    pthread_mutex_lock(&e->mu);
    e->signer_mismatch = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->mismatch_reason, sizeof e->mismatch_reason, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&e->mu);
    fprintf(stderr, "oncesignd: SIGNER MISMATCH, signing stopped: %s\n", e->mismatch_reason);
}

static int mismatch(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int m = e->signer_mismatch;
    pthread_mutex_unlock(&e->mu);
    return m;
}

static sqlite3_stmt *prep(os_engine *e, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(os_ledger_db(e->ledger), sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "oncesignd: sql: %s: %s\n", sqlite3_errmsg(os_ledger_db(e->ledger)), sql);
        return NULL;
    }
    return st;
}

/* Runs a statement to completion; bindings given as a format: i int64, b blob(ptr,len), t text. */
static int run(os_engine *e, const char *sql, const char *fmt, ...) {
    sqlite3_stmt *st = prep(e, sql);
    if (!st) return OS_ERR_DB;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 1; fmt && *fmt; fmt++, i++) {
        if (*fmt == 'i') {
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
        } else if (*fmt == 'b') {
            const void *p = va_arg(ap, const void *);
            int n = va_arg(ap, int);
            if (p)
                sqlite3_bind_blob(st, i, p, n, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i);
        } else if (*fmt == 't') {
            sqlite3_bind_text(st, i, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
        }
    }
    va_end(ap);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    return r == SQLITE_DONE || r == SQLITE_ROW ? OS_OK : OS_ERR_DB;
}

static int meta_u64(os_engine *e, const char *key, uint64_t *v) {
    uint8_t buf[8];
    size_t n = 0;
    int rc = os_ledger_meta_get(e->ledger, key, buf, sizeof buf, &n);
    if (rc == OS_ERR_NOT_FOUND) {
        *v = 0;
        return OS_OK;
    }
    if (rc != OS_OK || n != 8) return OS_ERR_DB;
    *v = os_read_le64(buf);
    return OS_OK;
}

static int meta_put_u64(os_engine *e, const char *key, uint64_t v) {
    uint8_t buf[8];
    os_write_le64(buf, v);
    return os_ledger_meta_put(e->ledger, key, buf, 8);
}

/* ------------------------------------------------------------------ device calls (sign_mu held) */

static int device_call(os_engine *e, os_msg *req, os_msg *reply, uint8_t *buf) {
    int rc = os_client_call(e->client, req, reply, buf, DEVICE_TIMEOUT_MS);
    /* A channel error means the device dropped the message unread (e.g. it still served a killed
     * predecessor's channel); the client allocates a new channel on the next call, so one retry is
     * safe for every request. */
    if (rc == OS_ERR_FRAME_CHANNEL) rc = os_client_call(e->client, req, reply, buf, DEVICE_TIMEOUT_MS);
    pthread_mutex_lock(&e->mu);
    e->signer_reachable = rc == OS_OK;
    pthread_mutex_unlock(&e->mu);
    if (rc != OS_OK) return rc;
    if (reply->type == OS_MSG_ERROR) return reply->u.error.code ? reply->u.error.code : OS_ERR_INTERNAL;
    return OS_OK;
}

static int device_info(os_engine *e, os_msg_info *info) {
    os_msg req, reply;
    static __thread uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    int rc = device_call(e, &req, &reply, buf);
    if (rc != OS_OK) return rc;
    if (reply.type != OS_MSG_INFO) return OS_ERR_MSG_UNEXPECTED;
    *info = reply.u.info;
    pthread_mutex_lock(&e->mu);
    e->signer_log_seq = info->log_seq;
    e->per_payout_cap = info->policy.per_payout_cap;
    e->signer_fee_rate_cap = info->policy.fee_rate_cap;
    e->signer_fee_cap = info->policy.fee_cap;
    pthread_mutex_unlock(&e->mu);
    return OS_OK;
}

/* ------------------------------------------------------------------ the draft: an exact os_sign_tx */

typedef struct {
    os_sign_tx tx;
    os_sign_input *in;
    os_sign_output *out;
    uint8_t *blob;      /* the encoded draft; inputs' prev_tx point into it */
    size_t blob_len;
} draft;

static void draft_free(draft *d) {
    free(d->in);
    free(d->out);
    free(d->blob);
    memset(d, 0, sizeof *d);
}

static int draft_encode(const os_sign_tx *tx, uint8_t **out, size_t *len) {
    size_t n = 12;
    for (size_t i = 0; i < tx->n_inputs; i++) n += 32 + 4 + 4 + 1 + 4 + 1 + 4 + 4 + tx->inputs[i].prev_tx_len;
    n += tx->n_outputs * (1 + 8 + 1 + OS_MAX_PAYOUT_SCRIPT + 1 + 4 + 4 + 32 + 1 + 36);
    uint8_t *b = malloc(n), *p = b;
    if (!b) return OS_ERR_IO;
    os_write_le32(p, tx->version), p += 4;
    os_write_le32(p, tx->locktime), p += 4;
    os_write_le16(p, (uint16_t)tx->n_inputs), p += 2;
    os_write_le16(p, (uint16_t)tx->n_outputs), p += 2;
    for (size_t i = 0; i < tx->n_inputs; i++) {
        const os_sign_input *in = &tx->inputs[i];
        memcpy(p, in->prevout.txid, 32), p += 32;
        os_write_le32(p, in->prevout.vout), p += 4;
        os_write_le32(p, in->sequence), p += 4;
        *p++ = in->script_type;
        os_write_le32(p, in->account), p += 4;
        *p++ = in->change;
        os_write_le32(p, in->addr_index), p += 4;
        os_write_le32(p, (uint32_t)in->prev_tx_len), p += 4;
        memcpy(p, in->prev_tx, in->prev_tx_len), p += in->prev_tx_len;
    }
    for (size_t i = 0; i < tx->n_outputs; i++) {
        const os_sign_output *o = &tx->outputs[i];
        *p++ = o->kind;
        os_write_le64(p, o->amount), p += 8;
        *p++ = o->script_len;
        memcpy(p, o->script, o->script_len), p += o->script_len;
        *p++ = o->change_script_type;
        os_write_le32(p, o->change_account), p += 4;
        os_write_le32(p, o->change_index), p += 4;
        memcpy(p, o->nonce, 32), p += 32;
        *p++ = o->replace;
        memcpy(p, o->anchor.txid, 32), p += 32;
        os_write_le32(p, o->anchor.vout), p += 4;
    }
    *out = b;
    *len = (size_t)(p - b);
    return OS_OK;
}

static int draft_decode(const uint8_t *blob, size_t len, draft *d) {
    memset(d, 0, sizeof *d);
    d->blob = malloc(len ? len : 1);
    if (!d->blob) return OS_ERR_IO;
    memcpy(d->blob, blob, len);
    d->blob_len = len;
    const uint8_t *p = d->blob, *end = d->blob + len;
#define NEED(k)                          \
    do {                                 \
        if ((size_t)(end - p) < (k)) goto bad; \
    } while (0)
    NEED(12);
    d->tx.version = os_read_le32(p), p += 4;
    d->tx.locktime = os_read_le32(p), p += 4;
    d->tx.n_inputs = os_read_le16(p), p += 2;
    d->tx.n_outputs = os_read_le16(p), p += 2;
    if (!d->tx.n_inputs || d->tx.n_inputs > OS_MAX_INPUTS || !d->tx.n_outputs || d->tx.n_outputs > OS_MAX_OUTPUTS)
        goto bad;
    d->in = calloc(d->tx.n_inputs, sizeof *d->in);
    d->out = calloc(d->tx.n_outputs, sizeof *d->out);
    if (!d->in || !d->out) goto bad;
    for (size_t i = 0; i < d->tx.n_inputs; i++) {
        os_sign_input *in = &d->in[i];
        NEED(54);
        memcpy(in->prevout.txid, p, 32), p += 32;
        in->prevout.vout = os_read_le32(p), p += 4;
        in->sequence = os_read_le32(p), p += 4;
        in->script_type = *p++;
        in->account = os_read_le32(p), p += 4;
        in->change = *p++;
        in->addr_index = os_read_le32(p), p += 4;
        in->prev_tx_len = os_read_le32(p), p += 4;
        NEED(in->prev_tx_len);
        in->prev_tx = p;
        p += in->prev_tx_len;
    }
    for (size_t i = 0; i < d->tx.n_outputs; i++) {
        os_sign_output *o = &d->out[i];
        NEED(10);
        o->kind = *p++;
        o->amount = os_read_le64(p), p += 8;
        o->script_len = *p++;
        if (o->script_len > OS_MAX_PAYOUT_SCRIPT) goto bad;
        NEED((size_t)o->script_len + 78);
        memcpy(o->script, p, o->script_len), p += o->script_len;
        o->change_script_type = *p++;
        o->change_account = os_read_le32(p), p += 4;
        o->change_index = os_read_le32(p), p += 4;
        memcpy(o->nonce, p, 32), p += 32;
        o->replace = *p++;
        memcpy(o->anchor.txid, p, 32), p += 32;
        o->anchor.vout = os_read_le32(p), p += 4;
    }
    if (p != end) goto bad;
#undef NEED
    d->tx.inputs = d->in;
    d->tx.outputs = d->out;
    return OS_OK;
bad:
    draft_free(d);
    return OS_ERR_DB;
}

/* BIP143 hashPrevouts / hashOutputs: how the signer's SIGN log entry names a transaction. */
static int tx_commitment(const os_sign_tx *tx, uint8_t hp[32], uint8_t ho[32]) {
    tx_sighasher *h = malloc(sizeof *h);
    if (!h) return OS_ERR_IO;
    int rc = tx_sighasher_begin(h, tx->version, tx->locktime, (uint16_t)tx->n_inputs, (uint16_t)tx->n_outputs);
    for (size_t i = 0; rc == OS_OK && i < tx->n_inputs; i++)
        rc = tx_sighasher_add_input(h, (uint16_t)i, &tx->inputs[i].prevout, tx->inputs[i].sequence, NULL, 0);
    for (size_t i = 0; rc == OS_OK && i < tx->n_outputs; i++)
        rc = tx_sighasher_add_output(h, tx->outputs[i].amount, tx->outputs[i].script, tx->outputs[i].script_len);
    if (rc == OS_OK) rc = tx_sighasher_commitment(h, hp, ho);
    free(h);
    return rc;
}

/* The leaf a payout output commits (new: anchored at input 0; replace: its own anchor). */
static int output_leaf(const os_sign_tx *tx, const os_sign_output *o, uint8_t key[32], uint8_t value[32],
                       os_outpoint *anchor) {
    *anchor = o->replace ? o->anchor : tx->inputs[0].prevout;
    int rc = nonce_set_key(o->nonce, key);
    if (rc == OS_OK) rc = nonce_set_leaf_value(anchor, o->script, o->script_len, o->amount, value);
    return rc;
}

/* On a locked ledger inside a transaction: records the leaves a committed transaction added (the ones
 * not yet present) into tree_leaves; the in-memory tree already holds them. */
static int store_leaves(os_engine *e, int64_t tx_row, const os_sign_tx *tx) {
    for (size_t i = 0; i < tx->n_outputs; i++) {
        const os_sign_output *o = &tx->outputs[i];
        if (o->kind != OS_OUTPUT_PAYOUT) continue;
        uint8_t key[32], value[32];
        os_outpoint anchor;
        int rc = output_leaf(tx, o, key, value, &anchor);
        if (rc != OS_OK) return rc;
        rc = run(e,
                 "INSERT OR IGNORE INTO tree_leaves (key, value, nonce, anchor_txid, anchor_vout, script, amount, tx_row)"
                 " VALUES (?,?,?,?,?,?,?,?)",
                 "bbbbibii", key, 32, value, 32, o->nonce, 32, anchor.txid, 32, (int64_t)anchor.vout, o->script,
                 (int)o->script_len, (int64_t)o->amount, tx_row);
        if (rc != OS_OK) return rc;
        rc = run(e, "UPDATE payouts SET anchor_txid = ?, anchor_vout = ? WHERE nonce = ?", "bib", anchor.txid, 32,
                 (int64_t)anchor.vout, o->nonce, 32);
        if (rc != OS_OK) return rc;
    }
    return OS_OK;
}

/* Inserts into the in-memory tree the leaves of tx that are missing (start-up settlement). */
static int tree_apply_tx(os_engine *e, const os_sign_tx *tx) {
    for (size_t i = 0; i < tx->n_outputs; i++) {
        const os_sign_output *o = &tx->outputs[i];
        if (o->kind != OS_OUTPUT_PAYOUT) continue;
        uint8_t key[32], value[32], have[32];
        os_outpoint anchor;
        int rc = output_leaf(tx, o, key, value, &anchor);
        if (rc != OS_OK) return rc;
        rc = nonce_tree_get(e->tree, key, have);
        if (rc == OS_OK) {
            if (memcmp(have, value, 32) != 0) return OS_ERR_SIGNER_MISMATCH;
            continue;
        }
        if ((rc = nonce_tree_insert(e->tree, key, value)) != OS_OK) return rc;
    }
    return OS_OK;
}

/* ------------------------------------------------------------------ the signer's log archive */

/* Reads the signer's new log entries, verifies each against the archived chain and the pinned
 * attestation key, archives them and acknowledges them (the device's ring never fills).
 * sign_mu held, ledger not locked. */
static int log_sync(os_engine *e, os_msg_info *info, char *err, size_t cap) {
    int rc = device_info(e, info);
    if (rc != OS_OK) {
        errf(err, cap, "GET_INFO: %s", os_status_name(rc));
        return rc;
    }
    if (memcmp(info->attestation_pubkey, e->attestation_key, 32) != 0) {
        errf(err, cap, "the signer's attestation key differs from the one this ledger pinned");
        return OS_ERR_SIGNER_MISMATCH;
    }
    if (info->log_seq < e->log_archived_seq) {
        errf(err, cap, "the signer's log ends at %llu, the archive at %llu (another device, or it was wiped)",
             (unsigned long long)info->log_seq, (unsigned long long)e->log_archived_seq);
        return OS_ERR_SIGNER_MISMATCH;
    }
    uint64_t seq = e->log_archived_seq + 1;
    uint8_t prev[32];
    memcpy(prev, e->log_head, 32);
    if (e->log_archived_seq == 0 && info->log_acked_seq > 0) seq = info->log_acked_seq + 1; /* first use */
    static __thread uint8_t buf[OS_MAX_MESSAGE];
    for (; seq <= info->log_seq; seq++) {
        os_msg req, reply;
        memset(&req, 0, sizeof req);
        req.type = OS_MSG_LOG_READ;
        req.u.log_read.seq = seq;
        rc = device_call(e, &req, &reply, buf);
        if (rc == OS_OK && (reply.type != OS_MSG_LOG_ENTRY || reply.u.log_entry.len != OS_LOG_ENTRY_BYTES))
            rc = OS_ERR_MSG_UNEXPECTED;
        if (rc != OS_OK) {
            errf(err, cap, "LOG_READ %llu: %s", (unsigned long long)seq, os_status_name(rc));
            /* entries the archive lacks and the signer no longer holds cannot be explained */
            return rc == OS_ERR_LOG_RANGE ? OS_ERR_SIGNER_MISMATCH : rc;
        }
        uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32];
        memcpy(entry, reply.u.log_entry.entry, OS_LOG_ENTRY_BYTES);
        if (e->log_archived_seq == 0 && seq > 1 && seq == info->log_acked_seq + 1)
            memcpy(prev, entry + AUDIT_LOG_OFF_PREV, 32); /* trust on first use of an acked device */
        rc = audit_log_verify_entry(e->attestation_key, entry, seq, prev, hash);
        if (rc != OS_OK) {
            errf(err, cap, "log entry %llu does not verify: %s", (unsigned long long)seq, os_status_name(rc));
            return OS_ERR_SIGNER_MISMATCH;
        }
        os_ledger_lock(e->ledger);
        rc = run(e, "INSERT OR REPLACE INTO signer_log (seq, entry, entry_hash, verified) VALUES (?,?,?,1)", "ibb",
                 (int64_t)seq, entry, OS_LOG_ENTRY_BYTES, hash, 32);
        if (rc == OS_OK) e->ledger_commits_autocommit++;
        os_ledger_unlock(e->ledger);
        if (rc != OS_OK) return rc;
        memcpy(prev, hash, 32);
        e->log_archived_seq = seq;
        memcpy(e->log_head, hash, 32);
    }
    if (info->log_seq > 0 && memcmp(e->log_head, info->log_head, 32) != 0) {
        errf(err, cap, "the signer's log head differs from the archived chain at %llu",
             (unsigned long long)info->log_seq);
        return OS_ERR_SIGNER_MISMATCH;
    }
    if (info->log_seq > info->log_acked_seq) {
        os_msg req, reply;
        memset(&req, 0, sizeof req);
        req.type = OS_MSG_LOG_ACK;
        req.u.log_read.seq = info->log_seq;
        (void)device_call(e, &req, &reply, buf); /* best effort: the entries are archived */
    }
    return OS_OK;
}

/* Explains every SIGN entry after the log position the ledger's tree accounts for ("tree_seq"):
 * each must name a transaction whose draft the ledger holds; its new leaves go into the tree and the
 * root must then equal the entry's root_after. Anything unexplained: OS_ERR_SIGNER_MISMATCH.
 * sign_mu held. */
static int settle_from_log(os_engine *e, char *err, size_t cap) {
    uint64_t tree_seq = 0;
    os_ledger_lock(e->ledger);
    int rc = meta_u64(e, "tree_seq", &tree_seq);
    sqlite3_stmt *st = rc == OS_OK ? prep(e, "SELECT seq, entry FROM signer_log WHERE seq > ? ORDER BY seq") : NULL;
    if (!st) rc = OS_ERR_DB;
    uint64_t last = tree_seq;
    while (rc == OS_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)last);
        if (sqlite3_step(st) != SQLITE_ROW) break;
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        uint8_t entry[OS_LOG_ENTRY_BYTES];
        memcpy(entry, sqlite3_column_blob(st, 1), OS_LOG_ENTRY_BYTES);
        sqlite3_reset(st);
        last = seq;
        if (entry[AUDIT_LOG_OFF_TYPE] != OS_LOG_SIGN) continue;
        const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
        sqlite3_stmt *q = prep(e, "SELECT id, draft FROM txs WHERE hash_prevouts = ? AND hash_outputs = ? ORDER BY id");
        if (!q) {
            rc = OS_ERR_DB;
            break;
        }
        sqlite3_bind_blob(q, 1, pl, 32, SQLITE_STATIC);
        sqlite3_bind_blob(q, 2, pl + 32, 32, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_ROW) {
            sqlite3_finalize(q);
            errf(err, cap, "the signer's log entry %llu signed a transaction this ledger has no record of"
                           " (ledger restored from an older copy, or another host signed)",
                 (unsigned long long)seq);
            rc = OS_ERR_SIGNER_MISMATCH;
            break;
        }
        int64_t row = sqlite3_column_int64(q, 0);
        draft d;
        rc = draft_decode(sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1), &d);
        sqlite3_finalize(q);
        if (rc != OS_OK) break;
        rc = tree_apply_tx(e, &d.tx);
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (rc == OS_OK && memcmp(root, pl + 64, 32) != 0) rc = OS_ERR_SIGNER_MISMATCH;
        if (rc != OS_OK) {
            draft_free(&d);
            errf(err, cap, "replaying log entry %llu on the ledger's tree does not give its root", (unsigned long long)seq);
            rc = OS_ERR_SIGNER_MISMATCH;
            break;
        }
        /* Committed: keep the leaves, and mark the draft so the worker asks for its signatures as a
         * replacement of the identical transaction (deterministic signatures: the same txid). */
        if ((rc = os_ledger_begin(e->ledger)) == OS_OK) {
            rc = store_leaves(e, row, &d.tx);
            if (rc == OS_OK)
                rc = run(e, "UPDATE txs SET root_after = ?, log_seq = coalesce(log_seq, ?) WHERE id = ?", "bii", root, 32,
                         (int64_t)seq, row);
            if (rc == OS_OK) rc = meta_put_u64(e, "tree_seq", seq);
            if (rc == OS_OK)
                rc = os_ledger_commit(e->ledger);
            else
                os_ledger_rollback(e->ledger);
        }
        draft_free(&d);
        fprintf(stderr, "oncesignd: settled log entry %llu: transaction %lld was committed by the signer\n",
                (unsigned long long)seq, (long long)row);
    }
    sqlite3_finalize(st);
    if (rc == OS_OK && last > tree_seq) rc = meta_put_u64(e, "tree_seq", last);
    os_ledger_unlock(e->ledger);
    return rc;
}

/* Loads the tree from the ledger's leaves. sign_mu held. */
static int tree_load(os_engine *e) {
    nonce_tree *t = NULL;
    int rc = nonce_tree_create(&t);
    if (rc != OS_OK) return rc;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT count(*) FROM tree_leaves");
    size_t n = 0;
    if (st && sqlite3_step(st) == SQLITE_ROW) n = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    uint8_t(*keys)[32] = calloc(n ? n : 1, 32), (*vals)[32] = calloc(n ? n : 1, 32);
    size_t k = 0;
    st = prep(e, "SELECT key, value FROM tree_leaves");
    rc = keys && vals && st ? OS_OK : OS_ERR_IO;
    while (rc == OS_OK && sqlite3_step(st) == SQLITE_ROW && k < n) {
        memcpy(keys[k], sqlite3_column_blob(st, 0), 32);
        memcpy(vals[k], sqlite3_column_blob(st, 1), 32);
        k++;
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    size_t inserted = 0;
    if (rc == OS_OK) rc = nonce_tree_insert_many(t, k, (const uint8_t(*)[32])keys, (const uint8_t(*)[32])vals, &inserted);
    free(keys);
    free(vals);
    if (rc != OS_OK) {
        nonce_tree_free(t);
        return rc;
    }
    nonce_tree_free(e->tree);
    e->tree = t;
    return OS_OK;
}

/* The full start-up check (I6), also run before signing when the roots disagree. sign_mu held. */
static int signer_check(os_engine *e, char *err, size_t cap) {
    os_msg_info info;
    int rc = log_sync(e, &info, err, cap);
    if (rc == OS_OK) rc = settle_from_log(e, err, cap);
    if (rc == OS_OK) {
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (memcmp(root, info.nonce_root, 32) != 0) {
            errf(err, cap, "the signer's nonce root differs from the ledger's tree (%zu leaves) after replaying its"
                           " log: the ledger does not describe this signer",
                 nonce_tree_count(e->tree));
            rc = OS_ERR_SIGNER_MISMATCH;
        }
    }
    if (rc == OS_ERR_SIGNER_MISMATCH) set_mismatch(e, "%s", err ? err : "");
    return rc;
}

int engine_signer_probe(os_engine *e) {
    os_msg_info info;
    return device_info(e, &info);
}

int engine_signer_recheck(os_engine *e, char *err, size_t cap) { return signer_check(e, err, cap); }

/* ------------------------------------------------------------------ attach */

static int load_account(os_engine *e, char *err, size_t cap) {
    os_msg req, reply;
    static __thread uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_XPUB;
    req.u.get_xpub.script_type = e->signer_script_type;
    req.u.get_xpub.account = 0;
    int rc = device_call(e, &req, &reply, buf);
    if (rc == OS_OK && reply.type != OS_MSG_XPUB) rc = OS_ERR_MSG_UNEXPECTED;
    uint32_t version = 0;
    if (rc == OS_OK) rc = bip32_parse(reply.u.xpub.data, &version, &e->account);
    if (rc != OS_OK) {
        errf(err, cap, "GET_XPUB: %s", os_status_name(rc));
        return rc;
    }
    e->have_account = 1;
    return OS_OK;
}

static void load_log_head(os_engine *e) {
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT seq, entry_hash FROM signer_log ORDER BY seq DESC LIMIT 1");
    if (st && sqlite3_step(st) == SQLITE_ROW) {
        e->log_archived_seq = (uint64_t)sqlite3_column_int64(st, 0);
        memcpy(e->log_head, sqlite3_column_blob(st, 1), 32);
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
}

/* The one secp256k1 context (bip32 derivation, signature checks); created once, before any thread. */
static int ensure_crypto(void) {
    if (crypto_ctx() != NULL) return OS_OK;
    uint8_t seed[32];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed) return OS_ERR_IO;
    int rc = crypto_init(seed);
    crypto_wipe(seed, sizeof seed);
    return rc;
}

int engine_attach(os_engine *e, os_client *lent, char *err, size_t cap) {
    int rc = ensure_crypto();
    if (rc != OS_OK) {
        errf(err, cap, "crypto_init: %s", os_status_name(rc));
        return rc;
    }
    if (lent) {
        e->client = lent;
    } else {
        rc = os_client_open(e->cfg.device, &e->client, err, cap);
        if (rc != OS_OK) return rc == OS_ERR_ARG ? OS_ERR_ARG : OS_ERR_IO;
        e->client_owned = 1;
    }
    if (e->cfg.rpc_url) {
        os_rpc_config rc_cfg = {.url = e->cfg.rpc_url,
                                .user = e->cfg.rpc_user,
                                .password = e->cfg.rpc_password,
                                .cookie_file = e->cfg.rpc_cookie_file,
                                .timeout_ms = e->cfg.rpc_timeout_ms};
        rc = os_rpc_open(&rc_cfg, &e->rpc, err, cap);
        if (rc != OS_OK) return rc == OS_ERR_ARG ? OS_ERR_ARG : OS_ERR_RPC_TRANSPORT;
    }
    pthread_mutex_lock(&e->sign_mu);
    os_msg_info info;
    rc = device_info(e, &info);
    if (rc != OS_OK) {
        errf(err, cap, "signer %s: GET_INFO failed: %s (%s)", e->cfg.device ? e->cfg.device : "(lent)",
             os_status_name(rc), os_client_last_error(e->client));
        pthread_mutex_unlock(&e->sign_mu);
        return OS_ERR_IO;
    }
    if (!info.initialized) {
        errf(err, cap, "the signer is not initialized (oncesign init)");
        pthread_mutex_unlock(&e->sign_mu);
        return OS_ERR_NOT_INITIALIZED;
    }
    if (info.network != e->cfg.network) {
        errf(err, cap, "the signer is set up for network %u, the engine for %u", info.network, e->cfg.network);
        pthread_mutex_unlock(&e->sign_mu);
        return OS_ERR_SIGNER_MISMATCH;
    }
    e->signer_script_type = info.script_type;
    /* The attestation key is pinned at first start: a different device is a mismatch, not a reset. */
    uint8_t pinned[32];
    size_t n = 0;
    os_ledger_lock(e->ledger);
    rc = os_ledger_meta_get(e->ledger, "attestation_key", pinned, sizeof pinned, &n);
    if (rc == OS_ERR_NOT_FOUND) {
        rc = os_ledger_meta_put(e->ledger, "attestation_key", info.attestation_pubkey, 32);
        memcpy(pinned, info.attestation_pubkey, 32);
        n = 32;
    }
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) {
        pthread_mutex_unlock(&e->sign_mu);
        return OS_ERR_DB;
    }
    memcpy(e->attestation_key, pinned, 32);
    load_log_head(e);
    if (n != 32 || memcmp(pinned, info.attestation_pubkey, 32) != 0) {
        errf(err, cap, "the signer's attestation key differs from the one this ledger pinned at first start");
        set_mismatch(e, "%s", err);
        rc = OS_ERR_SIGNER_MISMATCH;
    } else {
        rc = tree_load(e);
        if (rc == OS_OK) rc = load_account(e, err, cap);
        if (rc == OS_OK) rc = signer_check(e, err, cap);
    }
    pthread_mutex_unlock(&e->sign_mu);
    e->device_attached = 1;
    return rc;
}

void engine_detach(os_engine *e) {
    if (e->client_owned) os_client_close(e->client);
    e->client = NULL;
    nonce_tree_free(e->tree);
    e->tree = NULL;
    if (e->rpc) os_rpc_close(e->rpc);
    e->rpc = NULL;
}

/* ------------------------------------------------------------------ addresses */

static int derive_script(os_engine *e, uint8_t change, uint32_t index, uint8_t *script, size_t *len) {
    bip32_node chain, leaf;
    int rc = bip32_derive_child(&e->account, change, &chain);
    if (rc == OS_OK) rc = bip32_derive_child(&chain, index, &leaf);
    if (rc == OS_OK) rc = script_for_pubkey(e->signer_script_type, leaf.public_key, script, 64, len);
    return rc;
}

/* On a locked ledger: the next address of a chain, recorded (imported into the node later). */
static int next_address_locked(os_engine *e, uint8_t change, uint32_t *index, uint8_t script[64], size_t *script_len,
                               char address[OS_MAX_ADDRESS + 1]) {
    const char *key = change ? "next_change_index" : "next_receive_index";
    uint64_t next = 0;
    int rc = meta_u64(e, key, &next);
    if (rc != OS_OK) return rc;
    if (next >= 0x80000000ull) return OS_ERR_BAD_PATH;
    if ((rc = derive_script(e, change, (uint32_t)next, script, script_len)) != OS_OK) return rc;
    if ((rc = address_from_script(e->cfg.network, script, *script_len, address, OS_MAX_ADDRESS + 1)) != OS_OK)
        return rc;
    rc = run(e, "INSERT OR IGNORE INTO addresses (change, addr_index, script_type, address, script) VALUES (?,?,?,?,?)",
             "iiitb", (int64_t)change, (int64_t)next, (int64_t)e->signer_script_type, address, script, (int)*script_len);
    if (rc == OS_OK) rc = meta_put_u64(e, key, next + 1);
    *index = (uint32_t)next;
    return rc;
}

static void import_pending_addresses(os_engine *e) {
    if (!e->rpc) return;
    char (*addrs)[OS_MAX_ADDRESS + 1] = NULL;
    size_t n = 0;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT address FROM addresses WHERE imported = 0 LIMIT 200");
    if (st) {
        addrs = calloc(200, sizeof *addrs);
        while (addrs && sqlite3_step(st) == SQLITE_ROW)
            snprintf(addrs[n++], OS_MAX_ADDRESS + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (n) {
        const char *ptrs[200];
        for (size_t i = 0; i < n; i++) ptrs[i] = addrs[i];
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int rc = os_rpc_import_addresses(e->rpc, ptrs, n, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc == OS_OK) {
            os_ledger_lock(e->ledger);
            for (size_t i = 0; i < n; i++) run(e, "UPDATE addresses SET imported = 1 WHERE address = ?", "t", ptrs[i]);
            os_ledger_unlock(e->ledger);
        }
    }
    free(addrs);
}

int os_engine_receive_address(os_engine *e, char address[OS_MAX_ADDRESS + 1]) {
    if (!e || !address) return OS_ERR_ARG;
    if (!e->have_account) return OS_ERR_UNSUPPORTED;
    uint8_t script[64];
    size_t len = 0;
    uint32_t index = 0;
    os_ledger_lock(e->ledger);
    /* The newest receive address is handed out again until a coin pays it: a new one per call would
     * move the index past any recovery gap limit (a wallet restored from the seed would not see it). */
    sqlite3_stmt *st = prep(e, "SELECT address, EXISTS (SELECT 1 FROM coins c WHERE c.script = a.script)"
                               " FROM addresses a WHERE change = 0 ORDER BY addr_index DESC LIMIT 1");
    int unused = st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 0;
    if (unused) snprintf(address, OS_MAX_ADDRESS + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    int rc = unused ? OS_OK : os_ledger_begin(e->ledger);
    if (rc == OS_OK && !unused) {
        rc = next_address_locked(e, 0, &index, script, &len, address);
        if (rc == OS_OK)
            rc = os_ledger_commit(e->ledger);
        else
            os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    if (rc == OS_OK) import_pending_addresses(e);
    return rc;
}

/* ------------------------------------------------------------------ wallet sync: node → coins */

static int add_coin_locked(os_engine *e, const os_outpoint *op, uint64_t amount, const uint8_t *script, size_t script_len,
                           uint8_t change, uint32_t index, const uint8_t *prev, size_t prev_len, uint64_t height) {
    return run(e,
               "INSERT OR IGNORE INTO coins (txid, vout, amount, script, script_type, change, addr_index, prev_tx, height)"
               " VALUES (?,?,?,?,?,?,?,?,?)",
               "biibiiibi", op->txid, 32, (int64_t)op->vout, (int64_t)amount, script, (int)script_len,
               (int64_t)e->signer_script_type, (int64_t)change, (int64_t)index, prev, (int)prev_len, (int64_t)height);
}

static void wallet_sync(os_engine *e) {
    if (!e->rpc) return;
    import_pending_addresses(e);
    size_t n_addr = 0;
    char (*addrs)[OS_MAX_ADDRESS + 1] = NULL;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT count(*) FROM addresses");
    if (st && sqlite3_step(st) == SQLITE_ROW) n_addr = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    addrs = calloc(n_addr ? n_addr : 1, sizeof *addrs);
    size_t k = 0;
    st = prep(e, "SELECT address FROM addresses ORDER BY change, addr_index");
    while (addrs && st && sqlite3_step(st) == SQLITE_ROW && k < n_addr)
        snprintf(addrs[k++], OS_MAX_ADDRESS + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (!addrs || k == 0) {
        free(addrs);
        return;
    }
    const char **ptrs = calloc(k, sizeof *ptrs);
    for (size_t i = 0; ptrs && i < k; i++) ptrs[i] = addrs[i];
    os_rpc_utxo *u = NULL;
    size_t nu = 0;
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = ptrs ? os_rpc_listunspent(e->rpc, 0, ptrs, k, &u, &nu, &er) : OS_ERR_IO;
    pthread_mutex_unlock(&e->rpc_mu);
    for (size_t i = 0; rc == OS_OK && i < nu; i++) {
        uint64_t height = 0;
        pthread_mutex_lock(&e->mu);
        if (u[i].confirmations) height = e->node_height + 1 - u[i].confirmations;
        pthread_mutex_unlock(&e->mu);
        os_ledger_lock(e->ledger);
        int known = 0;
        int64_t change = -1, index = 0;
        st = prep(e, "SELECT 1 FROM coins WHERE txid = ? AND vout = ?");
        if (st) {
            sqlite3_bind_blob(st, 1, u[i].outpoint.txid, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, u[i].outpoint.vout);
            known = sqlite3_step(st) == SQLITE_ROW;
        }
        sqlite3_finalize(st);
        st = prep(e, "SELECT change, addr_index FROM addresses WHERE address = ?");
        if (st) {
            sqlite3_bind_text(st, 1, u[i].address, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                change = sqlite3_column_int64(st, 0);
                index = sqlite3_column_int64(st, 1);
            }
        }
        sqlite3_finalize(st);
        if (known && height)
            run(e, "UPDATE coins SET height = ? WHERE txid = ? AND vout = ? AND height = 0", "ibi", (int64_t)height,
                u[i].outpoint.txid, 32, (int64_t)u[i].outpoint.vout);
        os_ledger_unlock(e->ledger);
        if (known || change < 0) continue;
        uint8_t *raw = NULL;
        size_t raw_len = 0;
        os_rpc_txstatus ts;
        pthread_mutex_lock(&e->rpc_mu);
        int r2 = os_rpc_get_transaction(e->rpc, u[i].outpoint.txid, &ts, &raw, &raw_len, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        if (r2 == OS_OK && ts.found && raw) {
            uint8_t script[64];
            size_t slen = 0;
            if (derive_script(e, (uint8_t)change, (uint32_t)index, script, &slen) == OS_OK &&
                slen == u[i].script_len && memcmp(script, u[i].script, slen) == 0) {
                os_ledger_lock(e->ledger);
                if (add_coin_locked(e, &u[i].outpoint, u[i].amount, script, slen, (uint8_t)change, (uint32_t)index, raw,
                                    raw_len, height) == OS_OK)
                    e->ledger_commits_autocommit++;
                os_ledger_unlock(e->ledger);
            }
        }
        free(raw);
    }
    free(u);
    free(ptrs);
    free(addrs);
    if (rc == OS_OK) engine_wake_worker(e);
}

/* ------------------------------------------------------------------ worker: batch → draft */

/* Says once (log and health) when the node's estimate goes above the cap the host pays at most, and
 * once when it comes back: the transactions are then built at the cap (they may confirm slowly), never
 * above it, which would queue a prompt for the operator per transaction. */
static void engine_fee_note(os_engine *e, int available, uint64_t estimate, uint64_t rate_cap) {
    int capped = available && estimate > rate_cap;
    pthread_mutex_lock(&e->mu);
    int was = e->fee_capped;
    e->fee_capped = capped;
    e->fee_estimate = available ? estimate : 0;
    pthread_mutex_unlock(&e->mu);
    if (capped && !was)
        engine_log("warn", "the node's fee estimate %llu sat/kB is above the cap %llu sat/kB (the lower of --fee-cap"
                   " and the signer's fee-rate cap): transactions pay the cap and may confirm slowly",
                   (unsigned long long)estimate, (unsigned long long)rate_cap);
    else if (!capped && was)
        engine_log("info", "the node's fee estimate is within the cap %llu sat/kB again", (unsigned long long)rate_cap);
}

static uint64_t fee_rate(os_engine *e) {
    uint64_t est = 0;
    int available = 0;
    if (e->rpc) {
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int rc = os_rpc_estimatesmartfee(e->rpc, 6, &est, &available, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        available = rc == OS_OK && available;
    }
    pthread_mutex_lock(&e->mu);
    os_fee_caps caps = os_fee_caps_make(e->cfg.fee_floor, e->cfg.fee_cap, e->signer_fee_rate_cap, e->signer_fee_cap,
                                        available ? est : 0);
    pthread_mutex_unlock(&e->mu);
    engine_fee_note(e, available, est, caps.rate_cap);
    return caps.rate;
}

static os_fee_caps fee_caps(os_engine *e, uint64_t rate) {
    pthread_mutex_lock(&e->mu);
    os_fee_caps caps = os_fee_caps_make(e->cfg.fee_floor, e->cfg.fee_cap, e->signer_fee_rate_cap, e->signer_fee_cap, rate);
    pthread_mutex_unlock(&e->mu);
    return caps;
}

typedef struct {
    int64_t id;
    uint64_t amount;
    uint8_t nonce[32];
    uint8_t script[OS_MAX_PAYOUT_SCRIPT];
    size_t script_len;
} batch_payout;

typedef struct {
    int64_t id;
    os_outpoint op;
    uint64_t amount;
    uint8_t script_type, change;
    uint32_t index;
    uint8_t *prev;
    size_t prev_len;
} coin;

/* Builds and stores the draft for up to batch_max requested payouts. Returns OS_OK with *tx_row set
 * (0 when nothing to do), OS_ERR_FUNDS. */
static int build_draft(os_engine *e, int64_t *tx_row) {
    *tx_row = 0;
    uint64_t rate = fee_rate(e);
    size_t max = e->cfg.batch_max;
    batch_payout *p = calloc(max, sizeof *p);
    coin *c = NULL;
    size_t np = 0, nc = 0;
    int rc = p ? OS_OK : OS_ERR_IO;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = rc == OS_OK ? prep(e, "SELECT id, amount, nonce, script FROM payouts WHERE status = ? ORDER BY id LIMIT ?")
                                   : NULL;
    if (st) {
        sqlite3_bind_int(st, 1, OS_PAYOUT_REQUESTED);
        sqlite3_bind_int64(st, 2, (int64_t)max);
        while (sqlite3_step(st) == SQLITE_ROW && np < max) {
            p[np].id = sqlite3_column_int64(st, 0);
            p[np].amount = (uint64_t)sqlite3_column_int64(st, 1);
            memcpy(p[np].nonce, sqlite3_column_blob(st, 2), 32);
            p[np].script_len = (size_t)sqlite3_column_bytes(st, 3);
            memcpy(p[np].script, sqlite3_column_blob(st, 3), p[np].script_len);
            np++;
        }
    }
    sqlite3_finalize(st);
    /* A payout above the signer's per-payout cap waits for the operator: it goes alone, so the operator
     * decides on it and nothing else (a rejection fails only it). */
    pthread_mutex_lock(&e->mu);
    uint64_t cap = e->per_payout_cap;
    pthread_mutex_unlock(&e->mu);
    if (cap && np > 0) {
        if (p[0].amount > cap) {
            np = 1;
        } else {
            size_t k = 0;
            for (size_t i = 0; i < np; i++)
                if (p[i].amount <= cap) p[k++] = p[i];
            np = k;
        }
    }
    /* Confirmed coins and our own unconfirmed change, largest first. */
    st = np ? prep(e, "SELECT id, txid, vout, amount, script_type, change, addr_index, prev_tx FROM coins"
                      " WHERE state = 0 AND (height > 0 OR change = 1) ORDER BY amount DESC LIMIT ?")
            : NULL;
    if (st) {
        c = calloc(OS_MAX_INPUTS, sizeof *c);
        sqlite3_bind_int64(st, 1, OS_MAX_INPUTS);
        while (c && sqlite3_step(st) == SQLITE_ROW && nc < OS_MAX_INPUTS) {
            coin *k = &c[nc];
            k->id = sqlite3_column_int64(st, 0);
            memcpy(k->op.txid, sqlite3_column_blob(st, 1), 32);
            k->op.vout = (uint32_t)sqlite3_column_int64(st, 2);
            k->amount = (uint64_t)sqlite3_column_int64(st, 3);
            k->script_type = (uint8_t)sqlite3_column_int(st, 4);
            k->change = (uint8_t)sqlite3_column_int(st, 5);
            k->index = (uint32_t)sqlite3_column_int64(st, 6);
            k->prev_len = (size_t)sqlite3_column_bytes(st, 7);
            k->prev = malloc(k->prev_len ? k->prev_len : 1);
            if (k->prev) memcpy(k->prev, sqlite3_column_blob(st, 7), k->prev_len);
            nc++;
        }
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK || np == 0) goto out;

    /* Largest-first: shrink the batch from its end until the coins cover it. Sizes are the signer's
     * own (os_tx_vsize_max) and fees stay within its caps, so only a payout above its per-payout cap
     * goes to the operator (os_fee_fits). */
    size_t use_p = np, use_c = 0;
    uint64_t fee = 0, change_amount = 0, in_sum = 0, out_sum = 0;
    int with_change = 0;
    os_fee_caps caps = fee_caps(e, rate);
    uint8_t change_script[64];
    size_t change_len = 0;
    if (rc == OS_OK) rc = derive_script(e, 1, 0, change_script, &change_len);
    if (rc != OS_OK) goto out;
    for (; use_p > 0; use_p--) {
        out_sum = 0;
        uint32_t out_script_bytes = 0;
        for (size_t i = 0; i < use_p; i++) {
            out_sum += p[i].amount;
            out_script_bytes += (uint32_t)p[i].script_len;
        }
        in_sum = 0;
        uint16_t n_in[3] = {0, 0, 0};
        int found = 0;
        for (use_c = 0; use_c < nc && !found;) {
            in_sum += c[use_c].amount;
            n_in[c[use_c].script_type < 3 ? c[use_c].script_type : 0]++;
            use_c++;
            uint32_t vb_change = os_tx_vsize_max(n_in[0], n_in[1], n_in[2], (uint16_t)(use_p + 1),
                                                 out_script_bytes + (uint32_t)change_len);
            uint32_t vb_plain = os_tx_vsize_max(n_in[0], n_in[1], n_in[2], (uint16_t)use_p, out_script_bytes);
            uint64_t fee_change = os_fee_for(&caps, vb_change);
            if (!os_fee_fits(&caps, fee_change, vb_change)) break;   /* more coins only cost more: fewer payouts */
            if (in_sum >= out_sum + fee_change + DUST) {
                with_change = 1;
                fee = fee_change;
                change_amount = in_sum - out_sum - fee_change;
                found = 1;
            } else if (in_sum >= out_sum + os_fee_for(&caps, vb_plain) && os_fee_fits(&caps, in_sum - out_sum, vb_plain)) {
                with_change = 0;
                fee = in_sum - out_sum;
                change_amount = 0;
                found = 1;
            }
        }
        if (found) break;
    }
    if (use_p == 0) {
        rc = OS_ERR_FUNDS;
        goto out;
    }
    size_t n_out = use_p + (with_change ? 1 : 0);
    os_sign_input *in = calloc(use_c, sizeof *in);
    os_sign_output *outs = calloc(n_out, sizeof *outs);
    if (!in || !outs) {
        free(in);
        free(outs);
        rc = OS_ERR_IO;
        goto out;
    }
    for (size_t i = 0; i < use_c; i++) {
        in[i].prevout = c[i].op;
        in[i].sequence = RBF_SEQUENCE;
        in[i].script_type = c[i].script_type;
        in[i].account = 0;
        in[i].change = c[i].change;
        in[i].addr_index = c[i].index;
        in[i].prev_tx = c[i].prev;
        in[i].prev_tx_len = c[i].prev_len;
    }
    for (size_t i = 0; i < use_p; i++) {
        outs[i].kind = OS_OUTPUT_PAYOUT;
        outs[i].amount = p[i].amount;
        memcpy(outs[i].script, p[i].script, p[i].script_len);
        outs[i].script_len = (uint8_t)p[i].script_len;
        memcpy(outs[i].nonce, p[i].nonce, 32);
    }
    rc = os_sign_sort_payouts(outs, use_p);
    os_sign_tx tx = {.version = 2, .locktime = 0, .n_inputs = use_c, .n_outputs = n_out, .inputs = in, .outputs = outs};
    os_ledger_lock(e->ledger);
    if (rc == OS_OK) rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) {
        if (with_change) {
            os_sign_output *ch = &outs[use_p];
            uint32_t index = 0;
            size_t slen = 0;
            uint8_t script[64];
            char addr[OS_MAX_ADDRESS + 1];
            rc = next_address_locked(e, 1, &index, script, &slen, addr);
            ch->kind = OS_OUTPUT_CHANGE;
            ch->amount = change_amount;
            ch->change_script_type = e->signer_script_type;
            ch->change_account = 0;
            ch->change_index = index;
            memcpy(ch->script, script, slen);
            ch->script_len = (uint8_t)slen;
        }
        uint8_t *blob = NULL, hp[32], ho[32];
        size_t blob_len = 0;
        if (rc == OS_OK) rc = draft_encode(&tx, &blob, &blob_len);
        if (rc == OS_OK) rc = tx_commitment(&tx, hp, ho);
        int64_t now = engine_now();
        if (rc == OS_OK)
            rc = run(e,
                     "INSERT INTO txs (state, draft, anchor_txid, anchor_vout, fee, n_payouts, hash_prevouts, hash_outputs,"
                     " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     "ibbiiibbii", (int64_t)OS_TX_SIGNING, blob, (int)blob_len, in[0].prevout.txid, 32,
                     (int64_t)in[0].prevout.vout, (int64_t)fee, (int64_t)use_p, hp, 32, ho, 32, now, now);
        free(blob);
        int64_t row = sqlite3_last_insert_rowid(os_ledger_db(e->ledger));
        for (size_t i = 0; rc == OS_OK && i < use_p; i++) {
            rc = run(e, "INSERT INTO tx_payouts (tx_row, payout_id) VALUES (?,?)", "ii", row, p[i].id);
            if (rc == OS_OK)
                rc = run(e, "UPDATE payouts SET status = ?, tx_row = ?, updated_at = ? WHERE id = ? AND status = ?",
                         "iiiii", (int64_t)OS_PAYOUT_SIGNING, row, now, p[i].id, (int64_t)OS_PAYOUT_REQUESTED);
        }
        for (size_t i = 0; rc == OS_OK && i < use_c; i++)
            rc = run(e, "UPDATE coins SET state = 1, reserved_by = ? WHERE id = ? AND state = 0", "ii", row, c[i].id);
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
        if (rc == OS_OK) *tx_row = row;
    }
    os_ledger_unlock(e->ledger);
    free(in);
    free(outs);
out:
    for (size_t i = 0; c && i < nc; i++) free(c[i].prev);
    free(c);
    free(p);
    return rc;
}

/* ------------------------------------------------------------------ worker: sign → store */

typedef struct {
    os_engine *e;
    int64_t row;
} pending_ctx;

static void on_pending(void *ctx) {
    pending_ctx *pc = ctx;
    os_engine *e = pc->e;
    os_ledger_lock(e->ledger);
    if (os_ledger_begin(e->ledger) == OS_OK) {
        int rc = run(e, "UPDATE txs SET state = ? WHERE id = ?", "ii", (int64_t)OS_TX_AWAITING, pc->row);
        if (rc == OS_OK)
            rc = run(e, "UPDATE payouts SET status = ?, updated_at = ? WHERE tx_row = ?", "iii",
                     (int64_t)OS_PAYOUT_AWAITING_APPROVAL, engine_now(), pc->row);
        if (rc == OS_OK) os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    fprintf(stderr, "oncesignd: transaction %lld waits for the operator's decision on the signer\n", (long long)pc->row);
    if (e->cfg.on_operator_wait) e->cfg.on_operator_wait(e->cfg.on_operator_wait_ctx, pc->row);
}

/* Releases a draft the signer never committed: its coins back, its payouts back to requested (or
 * failed with a reason when failed_payout_nonce names the one the signer refused). */
static int release_draft(os_engine *e, int64_t row, const os_sign_tx *tx, int status, int refused_output,
                         int by_device) {
    int rc;
    char why[128];
    snprintf(why, sizeof why, "%s refused: %s", by_device ? "signer" : "host", os_status_message(status));
    int fail_all = status == OS_ERR_USER_REJECTED || status == OS_ERR_POLICY_FEE;
    int64_t now = engine_now();
    os_ledger_lock(e->ledger);
    if ((rc = os_ledger_begin(e->ledger)) == OS_OK) {
        rc = run(e, "UPDATE txs SET state = ?, last_error = ?, updated_at = ? WHERE id = ?", "itii",
                 (int64_t)OS_TX_RELEASED, why, now, row);
        if (rc == OS_OK) rc = run(e, "UPDATE coins SET state = 0, reserved_by = NULL WHERE reserved_by = ? AND state = 1", "i", row);
        for (size_t i = 0; rc == OS_OK && i < tx->n_outputs; i++) {
            const os_sign_output *o = &tx->outputs[i];
            if (o->kind != OS_OUTPUT_PAYOUT) continue;
            int fail = fail_all || (int)i == refused_output;
            rc = run(e, "UPDATE payouts SET status = ?, tx_row = NULL, error = ?, updated_at = ? WHERE nonce = ? AND tx_row = ?",
                     "itibi", (int64_t)(fail ? OS_PAYOUT_FAILED : OS_PAYOUT_REQUESTED), fail ? why : "", now, o->nonce, 32,
                     row);
        }
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    return rc;
}

static int draft_has_replacement(const os_sign_tx *tx) {
    for (size_t i = 0; i < tx->n_outputs; i++)
        if (tx->outputs[i].kind == OS_OUTPUT_PAYOUT && tx->outputs[i].replace) return 1;
    return 0;
}

/* Gives a refused replacement up: its payouts and coins go back to the transaction it replaces. */
static int abandon_replacement(os_engine *e, int64_t row, int status) {
    char why[128];
    snprintf(why, sizeof why, "fee bump refused by the signer: %s", os_status_name(status));
    int64_t now = engine_now();
    os_ledger_lock(e->ledger);
    int rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) {
        rc = run(e, "UPDATE txs SET state = ?, last_error = ?, updated_at = ? WHERE id = ?", "itii",
                 (int64_t)OS_TX_RELEASED, why, now, row);
        if (rc == OS_OK)
            rc = run(e, "UPDATE payouts SET tx_row = (SELECT replaces FROM txs WHERE id = ?), status = ?, updated_at = ?"
                        " WHERE tx_row = ?",
                     "iiii", row, (int64_t)OS_PAYOUT_SIGNED, now, row);
        if (rc == OS_OK)
            rc = run(e, "UPDATE coins SET reserved_by = (SELECT replaces FROM txs WHERE id = ?) WHERE reserved_by = ?",
                     "ii", row, row);
        if (rc == OS_OK)
            rc = run(e, "UPDATE txs SET last_error = ? WHERE id = (SELECT replaces FROM txs WHERE id = ?)", "ti", why,
                     row);
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    return rc;
}

/* Builds a fee bump of a signed transaction the node refused for its fee: the same inputs (so it
 * spends the anchor and conflicts with the original), the same payouts as replacements of their
 * committed nonces, the extra fee taken from the change. Stored as a draft; the worker signs it. */
static int bump_row(os_engine *e, int64_t old) {
    draft d;
    int64_t old_fee = 0;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT draft, fee FROM txs WHERE id = ?");
    int rc = OS_ERR_DB;
    if (st) {
        sqlite3_bind_int64(st, 1, old);
        if (sqlite3_step(st) == SQLITE_ROW) {
            rc = draft_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &d);
            old_fee = sqlite3_column_int64(st, 1);
        }
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) return rc;
    uint16_t n_in[3] = {0, 0, 0};
    uint32_t out_script_bytes = 0;
    size_t change = SIZE_MAX, n_pay = 0;
    for (size_t i = 0; i < d.tx.n_inputs; i++) n_in[d.in[i].script_type < 3 ? d.in[i].script_type : 0]++;
    for (size_t i = 0; i < d.tx.n_outputs; i++) {
        out_script_bytes += d.out[i].script_len;
        if (d.out[i].kind == OS_OUTPUT_CHANGE) change = i;
        if (d.out[i].kind == OS_OUTPUT_PAYOUT) {
            n_pay++;
            if (!d.out[i].replace) {
                d.out[i].replace = 1;
                d.out[i].anchor = d.tx.inputs[0].prevout;
            }
        }
    }
    uint64_t vsize = os_tx_vsize_max(n_in[0], n_in[1], n_in[2], (uint16_t)d.tx.n_outputs, out_script_bytes);
    /* BIP125: more absolute fee than the original by at least the relay fee of the replacement, and a
     * higher rate; a quarter more keeps repeated bumps from crawling. */
    uint64_t new_fee = (vsize * fee_rate(e) + 999) / 1000;
    uint64_t floor_fee = (uint64_t)old_fee + vsize + (uint64_t)old_fee / 4;
    if (new_fee < floor_fee) new_fee = floor_fee;
    uint64_t extra = new_fee - (uint64_t)old_fee;
    int64_t now = engine_now();
    if (change == SIZE_MAX || d.out[change].amount < extra + DUST) {
        os_ledger_lock(e->ledger);
        run(e, "UPDATE txs SET last_error = ?, updated_at = ? WHERE id = ?", "tii",
            "fee too low and no change to raise it from: an operator must bump it (a replacement spending the anchor)",
            now, old);
        os_ledger_unlock(e->ledger);
        draft_free(&d);
        return OS_ERR_FUNDS;
    }
    d.out[change].amount -= extra;
    uint8_t *blob = NULL, hp[32], ho[32];
    size_t blob_len = 0;
    rc = draft_encode(&d.tx, &blob, &blob_len);
    if (rc == OS_OK) rc = tx_commitment(&d.tx, hp, ho);
    os_ledger_lock(e->ledger);
    if (rc == OS_OK) rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) {
        rc = run(e,
                 "INSERT INTO txs (state, draft, replaces, anchor_txid, anchor_vout, fee, n_payouts, hash_prevouts,"
                 " hash_outputs, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 "ibibiiibbii", (int64_t)OS_TX_SIGNING, blob, (int)blob_len, old, d.in[0].prevout.txid, 32,
                 (int64_t)d.in[0].prevout.vout, (int64_t)new_fee, (int64_t)n_pay, hp, 32, ho, 32, now, now);
        int64_t row = sqlite3_last_insert_rowid(os_ledger_db(e->ledger));
        if (rc == OS_OK)
            rc = run(e, "INSERT INTO tx_payouts (tx_row, payout_id) SELECT ?, payout_id FROM tx_payouts WHERE tx_row = ?",
                     "ii", row, old);
        if (rc == OS_OK)
            rc = run(e, "UPDATE payouts SET tx_row = ?, status = ?, updated_at = ? WHERE tx_row = ? AND status IN (?, ?)",
                     "iiiiii", row, (int64_t)OS_PAYOUT_SIGNING, now, old, (int64_t)OS_PAYOUT_SIGNED,
                     (int64_t)OS_PAYOUT_BROADCAST);
        if (rc == OS_OK) rc = run(e, "UPDATE coins SET reserved_by = ? WHERE reserved_by = ?", "ii", row, old);
        /* the original's change will not exist once the replacement confirms: never spend it */
        if (rc == OS_OK)
            rc = run(e, "UPDATE coins SET state = 2 WHERE txid = (SELECT txid FROM txs WHERE id = ?) AND state = 0", "i",
                     old);
        if (rc == OS_OK) {
            char note[64];
            snprintf(note, sizeof note, "fee bumped by transaction %lld", (long long)row);
            rc = run(e, "UPDATE txs SET last_error = ? WHERE id = ?", "ti", note, old);
        }
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
        if (rc == OS_OK)
            fprintf(stderr, "oncesignd: transaction %lld refused for its fee: replacement %lld with fee %llu\n",
                    (long long)old, (long long)row, (unsigned long long)new_fee);
    }
    os_ledger_unlock(e->ledger);
    free(blob);
    draft_free(&d);
    return rc;
}

/* Stores the signed transaction (raw + txid) and the leaves, before any broadcast (I3). */
static int store_signed(os_engine *e, int64_t row, const os_sign_tx *tx, const uint8_t *raw, size_t raw_len,
                        const uint8_t txid[32], uint64_t log_seq, const uint8_t root[32]) {
    int64_t now = engine_now();
    os_ledger_lock(e->ledger);
    int rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) {
        rc = run(e, "UPDATE txs SET state = ?, raw = ?, txid = ?, root_after = ?, log_seq = coalesce(log_seq, ?),"
                    " updated_at = ? WHERE id = ?",
                 "ibbbiii", (int64_t)OS_TX_SIGNED, raw, (int)raw_len, txid, 32, root, 32, (int64_t)log_seq, now, row);
        if (rc == OS_OK) rc = store_leaves(e, row, tx);
        if (rc == OS_OK)
            rc = run(e, "UPDATE payouts SET status = ?, updated_at = ? WHERE tx_row = ? AND status IN (?, ?)", "iiiii",
                     (int64_t)OS_PAYOUT_SIGNED, now, row, (int64_t)OS_PAYOUT_SIGNING,
                     (int64_t)OS_PAYOUT_AWAITING_APPROVAL);
        uint64_t tree_seq = 0;
        if (rc == OS_OK) rc = meta_u64(e, "tree_seq", &tree_seq);
        if (rc == OS_OK && log_seq > tree_seq) rc = meta_put_u64(e, "tree_seq", log_seq);
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    return rc;
}

/* Signs the stored draft of row (as new, or, when the signer already committed it, as a replacement of
 * the identical transaction). sign_mu held. */
static int sign_row(os_engine *e, int64_t row) {
    draft d;
    int committed = 0;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT draft, root_after IS NOT NULL FROM txs WHERE id = ?");
    int rc = st ? OS_ERR_NOT_FOUND : OS_ERR_DB;
    if (st) {
        sqlite3_bind_int64(st, 1, row);
        if (sqlite3_step(st) == SQLITE_ROW) {
            rc = draft_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &d);
            committed = sqlite3_column_int(st, 1);
        }
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) return rc;

    /* Fail closed (I6): the signer's root must be the ledger tree's before anything is signed. */
    char err[256] = "";
    os_msg_info info;
    rc = device_info(e, &info);
    if (rc == OS_OK) {
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (memcmp(root, info.nonce_root, 32) != 0 || info.log_seq != e->log_archived_seq) {
            rc = signer_check(e, err, sizeof err);
            if (rc == OS_OK) {
                /* settled a commit we did not know of: reread the row */
                draft_free(&d);
                return OS_ERR_BUSY;
            }
        }
    }
    if (rc != OS_OK) {
        draft_free(&d);
        return rc;
    }

    os_sign_tx tx = d.tx;
    os_sign_output *outs = d.out;
    uint8_t *was_new = calloc(tx.n_outputs, 1);
    if (!was_new) {
        draft_free(&d);
        return OS_ERR_IO;
    }
    if (committed)
        for (size_t i = 0; i < tx.n_outputs; i++)
            if (outs[i].kind == OS_OUTPUT_PAYOUT && !outs[i].replace) {
                was_new[i] = 1;
                outs[i].replace = 1;
                outs[i].anchor = tx.inputs[0].prevout;
            }
    os_input_sig *sigs = calloc(tx.n_inputs, sizeof *sigs);
    if (!sigs) {
        free(was_new);
        draft_free(&d);
        return OS_ERR_IO;
    }
    uint8_t root_after[32];
    os_sign_outcome oc;
    pending_ctx pc = {e, row};
    rc = os_sign_run(e->client, e->tree, &tx, sigs, &oc, on_pending, &pc);
    nonce_tree_root(e->tree, root_after);
    /* The stored draft's own view (new vs replace) decides which leaves it added. */
    for (size_t i = 0; i < tx.n_outputs; i++)
        if (was_new[i]) outs[i].replace = 0;
    free(was_new);
    if (rc == OS_OK) {
        engine_crash_point(e, "after-sign-commit");
        uint8_t *raw = malloc(1u << 20);
        size_t raw_len = 0;
        uint8_t txid[32];
        size_t bad = 0;
        rc = raw ? os_sign_serialize(&tx, sigs, raw, 1u << 20, &raw_len, txid) : OS_ERR_IO;
        if (rc == OS_OK && os_sign_verify(&tx, sigs, &bad) != OS_OK) rc = OS_ERR_CRYPTO;
        if (rc == OS_OK) rc = store_signed(e, row, &tx, raw, raw_len, txid, oc.log_seq, root_after);
        free(raw);
        if (rc == OS_OK) {
            __atomic_add_fetch(&e->m_tx_signed, 1, __ATOMIC_RELAXED);
            uint64_t n_pay = 0;
            for (size_t i = 0; i < tx.n_outputs; i++) n_pay += outs[i].kind == OS_OUTPUT_PAYOUT;
            __atomic_add_fetch(&e->m_payouts_signed, n_pay, __ATOMIC_RELAXED);
            engine_crash_point(e, "after-signed-stored");
            (void)log_sync(e, &info, err, sizeof err);
        }
    } else if (oc.committed) {
        /* The signer committed but its signatures did not arrive: keep the leaves; the next pass asks
         * for them as a replacement of this same transaction. */
        (void)log_sync(e, &info, err, sizeof err);
        os_ledger_lock(e->ledger);
        int r2 = os_ledger_begin(e->ledger);
        if (r2 == OS_OK) {
            r2 = store_leaves(e, row, &tx);
            if (r2 == OS_OK) r2 = run(e, "UPDATE txs SET root_after = ? WHERE id = ?", "bi", root_after, 32, row);
            if (r2 == OS_OK) r2 = meta_put_u64(e, "tree_seq", e->log_archived_seq);
            if (r2 == OS_OK) os_ledger_commit(e->ledger);
            else os_ledger_rollback(e->ledger);
        }
        os_ledger_unlock(e->ledger);
    } else if (rc == OS_ERR_INTERNAL || rc == OS_ERR_PROOF_INVALID || rc == OS_ERR_NONCE_COMMITTED ||
               rc == OS_ERR_PROOF_KIND) {
        set_mismatch(e, "signing transaction %lld: %s (the signer's set is not the ledger's)", (long long)row,
                     os_status_name(rc));
        rc = OS_ERR_SIGNER_MISMATCH;
    } else if (committed) {
        /* a committed draft is never released: it is retried */
    } else if (rc == OS_ERR_TIMEOUT || rc == OS_ERR_IO || rc == OS_ERR_BUSY || rc == OS_ERR_CANCELLED ||
               rc == OS_ERR_LOG_FULL || (rc >= 0x0100 && rc < 0x0200)) {
        /* transient: the draft stays and is signed again */
    } else if (draft_has_replacement(&tx)) {
        /* a fee bump the signer refused: the original stays the payouts' transaction */
        __atomic_add_fetch(&e->m_sign_refused, 1, __ATOMIC_RELAXED);
        fprintf(stderr, "oncesignd: the signer refused fee bump %lld: %s\n", (long long)row, os_status_name(rc));
        (void)abandon_replacement(e, row, rc);
    } else {
        __atomic_add_fetch(&e->m_sign_refused, 1, __ATOMIC_RELAXED);
        int refused = oc.index != 0xFFFF && oc.index < tx.n_outputs && tx.outputs[oc.index].kind == OS_OUTPUT_PAYOUT &&
                              rc != OS_ERR_POLICY_VELOCITY
                          ? (int)oc.index
                          : -1;
        fprintf(stderr, "oncesignd: the %s refused transaction %lld before the signer committed: %s\n",
                oc.device_refused ? "signer" : "host", (long long)row, os_status_name(rc));
        (void)release_draft(e, row, &tx, rc, refused, oc.device_refused);
    }
    free(sigs);
    draft_free(&d);
    return rc;
}

/* ------------------------------------------------------------------ broadcast and the node's view */

static int load_raw(os_engine *e, int64_t row, uint8_t **raw, size_t *len, uint8_t txid[32]) {
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT raw, txid FROM txs WHERE id = ? AND raw IS NOT NULL");
    int rc = st ? OS_ERR_NOT_FOUND : OS_ERR_DB;
    if (st) {
        sqlite3_bind_int64(st, 1, row);
        if (sqlite3_step(st) == SQLITE_ROW) {
            *len = (size_t)sqlite3_column_bytes(st, 0);
            *raw = malloc(*len);
            if (*raw) {
                memcpy(*raw, sqlite3_column_blob(st, 0), *len);
                memcpy(txid, sqlite3_column_blob(st, 1), 32);
                rc = OS_OK;
            } else {
                rc = OS_ERR_IO;
            }
        }
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    return rc;
}

static void set_tx_state(os_engine *e, int64_t row, int tx_state, int payout_status, const char *last_error,
                         int count_attempt) {
    int64_t now = engine_now();
    os_ledger_lock(e->ledger);
    if (os_ledger_begin(e->ledger) == OS_OK) {
        int rc = run(e, "UPDATE txs SET state = ?, attempts = attempts + ?, last_error = ?, updated_at = ? WHERE id = ?",
                     "iitii", (int64_t)tx_state, (int64_t)count_attempt, last_error ? last_error : "", now, row);
        if (rc == OS_OK && payout_status)
            rc = run(e, "UPDATE payouts SET status = ?, updated_at = ? WHERE tx_row = ? AND status IN (?, ?)", "iiiii",
                     (int64_t)payout_status, now, row, (int64_t)OS_PAYOUT_SIGNED, (int64_t)OS_PAYOUT_BROADCAST);
        if (rc == OS_OK) os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
}

/* Sends the stored raw transaction; never rolls anything back (I3). */
static void broadcast_row(os_engine *e, int64_t row) {
    if (!e->rpc) return;
    uint8_t *raw = NULL, txid[32];
    size_t len = 0;
    if (load_raw(e, row, &raw, &len, txid) != OS_OK) return;
    os_broadcast_result br;
    pthread_mutex_lock(&e->rpc_mu);
    os_rpc_sendrawtransaction(e->rpc, raw, len, &br);
    pthread_mutex_unlock(&e->rpc_mu);
    free(raw);
    pthread_mutex_lock(&e->mu);
    e->node_ok = br.error.status != OS_ERR_RPC_TRANSPORT;
    pthread_mutex_unlock(&e->mu);
    char msg[200];
    snprintf(msg, sizeof msg, "%d %.180s", br.error.code, br.error.message);
    switch (br.cls) {
    case OS_BROADCAST_SENT:
        __atomic_add_fetch(&e->m_bc_sent, 1, __ATOMIC_RELAXED);
        engine_crash_point(e, "after-broadcast-sent");
        set_tx_state(e, row, OS_TX_BROADCAST, OS_PAYOUT_BROADCAST, "", 1);
        break;
    case OS_BROADCAST_UNKNOWN:
        __atomic_add_fetch(&e->m_bc_unknown, 1, __ATOMIC_RELAXED);
        engine_crash_point(e, "after-broadcast-unknown");
        set_tx_state(e, row, OS_TX_SIGNED, 0, msg, 1);
        break;
    case OS_BROADCAST_NOT_SENT:
        __atomic_add_fetch(&e->m_bc_not_sent, 1, __ATOMIC_RELAXED);
        if (br.fee_too_low) {
            /* the worker builds a replacement with a higher fee, spending the same anchor */
            char fee_msg[220];
            snprintf(fee_msg, sizeof fee_msg, "fee-too-low: %s", msg);
            set_tx_state(e, row, OS_TX_SIGNED, 0, fee_msg, 1);
            engine_wake_worker(e);
        } else {
            set_tx_state(e, row, OS_TX_SIGNED, 0, msg, 1);
        }
        break;
    default:
        __atomic_add_fetch(&e->m_bc_check_chain, 1, __ATOMIC_RELAXED);
        set_tx_state(e, row, OS_TX_SIGNED, 0, msg, 1);
        break;
    }
}

/* Adds the outputs of our own signed transaction that pay the change chain as coins. */
static void add_change_coins(os_engine *e, int64_t row, uint64_t height) {
    uint8_t *raw = NULL, txid[32];
    size_t len = 0;
    if (load_raw(e, row, &raw, &len, txid) != OS_OK) return;
    draft d;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT draft FROM txs WHERE id = ?");
    int rc = OS_ERR_DB;
    if (st) {
        sqlite3_bind_int64(st, 1, row);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = draft_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &d);
    }
    sqlite3_finalize(st);
    if (rc == OS_OK) {
        for (size_t i = 0; i < d.tx.n_outputs; i++) {
            const os_sign_output *o = &d.out[i];
            if (o->kind != OS_OUTPUT_CHANGE) continue;
            os_outpoint op;
            memcpy(op.txid, txid, 32);
            op.vout = (uint32_t)i;
            add_coin_locked(e, &op, o->amount, o->script, o->script_len, 1, o->change_index, raw, len, height);
            if (height)
                run(e, "UPDATE coins SET height = ? WHERE txid = ? AND vout = ? AND height = 0", "ibi", (int64_t)height,
                    txid, 32, (int64_t)i);
        }
        draft_free(&d);
    }
    os_ledger_unlock(e->ledger);
    free(raw);
}

static int first_row_exists(os_engine *e, const char *sql, int64_t a, int64_t b, int64_t c, int64_t d) {
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, sql);
    int found = 0;
    if (st) {
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        sqlite3_bind_int64(st, 3, c);
        sqlite3_bind_int64(st, 4, d);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    return found;
}

/* 1 when another signed transaction of ours spending the same anchor is confirmed on chain (it carries
 * the payouts: a fee bump, or the original a bump replaced), 0 when none is, -1 when the node did not
 * answer. */
static int family_confirmed(os_engine *e, int64_t row, const os_outpoint *anchor) {
    uint8_t txids[16][32];
    size_t n = 0;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT txid FROM txs WHERE id != ? AND anchor_txid = ? AND anchor_vout = ?"
                               " AND txid IS NOT NULL ORDER BY id DESC LIMIT 16");
    if (st) {
        sqlite3_bind_int64(st, 1, row);
        sqlite3_bind_blob(st, 2, anchor->txid, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, anchor->vout);
        while (sqlite3_step(st) == SQLITE_ROW && n < 16) memcpy(txids[n++], sqlite3_column_blob(st, 0), 32);
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    for (size_t i = 0; i < n; i++) {
        os_rpc_txstatus ts;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int rc = os_rpc_get_transaction(e->rpc, txids[i], &ts, NULL, NULL, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc != OS_OK) return -1;
        if (ts.found && ts.confirmations >= 1) return 1;
    }
    return 0;
}

/* What the node says about one of our signed transactions. rpc_mu not held. */
static void reconcile_row(os_engine *e, int64_t row, int state) {
    uint8_t *raw = NULL, txid[32];
    size_t len = 0;
    if (load_raw(e, row, &raw, &len, txid) != OS_OK) return;
    free(raw);
    os_rpc_txstatus ts;
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = os_rpc_get_transaction(e->rpc, txid, &ts, NULL, NULL, &er);
    pthread_mutex_unlock(&e->rpc_mu);
    if (rc != OS_OK) return; /* the node is unreachable: ask again later */
    int64_t now = engine_now();
    if (ts.found && ts.confirmations >= 1) {
        os_ledger_lock(e->ledger);
        if (os_ledger_begin(e->ledger) == OS_OK) {
            int r = run(e, "UPDATE txs SET state = ?, confirmations = ?, block_height = ?, last_error = '', updated_at = ?"
                           " WHERE id = ?",
                        "iiiii", (int64_t)OS_TX_CONFIRMED, (int64_t)ts.confirmations, (int64_t)ts.block_height, now, row);
            /* the payouts it carries (through the link table: a fee bump moved their tx_row to the
             * replacement, and whichever of the two confirms is the one that paid) */
            if (r == OS_OK)
                r = run(e, "UPDATE payouts SET status = ?, confirmations = ?, tx_row = ?, error = '', updated_at = ?"
                           " WHERE id IN (SELECT payout_id FROM tx_payouts WHERE tx_row = ?)",
                        "iiiii", (int64_t)OS_PAYOUT_CONFIRMED, (int64_t)ts.confirmations, row, now, row);
            if (r == OS_OK)
                r = run(e, "UPDATE coins SET state = 2 WHERE reserved_by = ? OR reserved_by IN (SELECT id FROM txs"
                           " WHERE anchor_txid = (SELECT anchor_txid FROM txs WHERE id = ?)"
                           " AND anchor_vout = (SELECT anchor_vout FROM txs WHERE id = ?))",
                        "iii", row, row, row);
            /* its replacements (none confirmed, since this one is) can never confirm */
            if (r == OS_OK)
                r = run(e, "UPDATE txs SET state = ? WHERE anchor_txid = (SELECT anchor_txid FROM txs WHERE id = ?)"
                           " AND anchor_vout = (SELECT anchor_vout FROM txs WHERE id = ?) AND id != ? AND state IN (?,?)",
                        "iiiiii", (int64_t)OS_TX_REPLACED, row, row, row, (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_BROADCAST);
            if (r == OS_OK) os_ledger_commit(e->ledger);
            else os_ledger_rollback(e->ledger);
            if (r == OS_OK && state != OS_TX_CONFIRMED) {
                os_ledger_unlock(e->ledger);
                engine_crash_point(e, "after-confirmed");
                add_change_coins(e, row, ts.block_height);
                return;
            }
        }
        os_ledger_unlock(e->ledger);
        return;
    }
    if (ts.found) { /* in the mempool */
        if (state == OS_TX_SIGNED) set_tx_state(e, row, OS_TX_BROADCAST, OS_PAYOUT_BROADCAST, "", 0);
        add_change_coins(e, row, 0);
        return;
    }
    /* Nowhere: are all its inputs still unspent? Then the SAME transaction goes out again. */
    draft d;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT draft FROM txs WHERE id = ?");
    rc = OS_ERR_DB;
    if (st) {
        sqlite3_bind_int64(st, 1, row);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = draft_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &d);
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) return;
    int all_unspent = 1, spent_in_chain = -1;
    for (size_t i = 0; i < d.tx.n_inputs; i++) {
        int unspent = 0;
        uint64_t amount = 0;
        uint32_t conf = 0;
        pthread_mutex_lock(&e->rpc_mu);
        rc = os_rpc_gettxout(e->rpc, &d.in[i].prevout, 1, &unspent, &amount, &conf, &er);
        if (rc == OS_OK && !unspent && spent_in_chain < 0) {
            /* Provably spent on chain only when the coin's own transaction is in a block and the chain's
             * UTXO set no longer has the output; a coin whose parent is merely missing from the mempool
             * (evicted, not yet rebroadcast) proves nothing. */
            int in_chain_unspent = 1;
            os_rpc_txstatus parent;
            if (os_rpc_gettxout(e->rpc, &d.in[i].prevout, 0, &in_chain_unspent, &amount, &conf, &er) == OS_OK &&
                !in_chain_unspent &&
                os_rpc_get_transaction(e->rpc, d.in[i].prevout.txid, &parent, NULL, NULL, &er) == OS_OK &&
                parent.found && parent.confirmations >= 1)
                spent_in_chain = (int)i;
        }
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc != OS_OK) {
            draft_free(&d);
            return;
        }
        if (!unspent) all_unspent = 0;
    }
    if (all_unspent) {
        if (!first_row_exists(e, "SELECT 1 FROM txs WHERE replaces = ? AND state IN (?, ?, ?)", row, OS_TX_SIGNING,
                              OS_TX_SIGNED, OS_TX_BROADCAST))
            broadcast_row(e, row);
    } else if (spent_in_chain >= 0) {
        /* An input is spent in a block by a transaction that is not this one. If a transaction of ours
         * with the same anchor is the one found, it carries the payouts; otherwise this transaction
         * can never confirm and its payouts are stuck (never paid twice: the signer binds their nonces
         * to the anchor; re-anchoring them takes the operator). */
        int ours = family_confirmed(e, row, &d.in[0].prevout);
        if (ours < 0) { /* the node did not answer: decide later */
            draft_free(&d);
            return;
        }
        os_ledger_lock(e->ledger);
        if (os_ledger_begin(e->ledger) == OS_OK) {
            char why[200];
            snprintf(why, sizeof why, "input %d was spent on chain by a foreign transaction: this transaction can"
                                      " never confirm; re-anchoring needs the operator", spent_in_chain);
            int r = run(e, "UPDATE txs SET state = ?, last_error = ?, updated_at = ? WHERE id = ?", "itii",
                        (int64_t)OS_TX_REPLACED, ours ? "replaced by a confirmed transaction of ours" : why, now, row);
            if (r == OS_OK && !ours)
                r = run(e, "UPDATE payouts SET status = ?, error = ?, updated_at = ? WHERE tx_row = ? AND status IN (?,?,?)",
                        "itiiiii", (int64_t)OS_PAYOUT_FAILED, why, now, row, (int64_t)OS_PAYOUT_SIGNED,
                        (int64_t)OS_PAYOUT_BROADCAST, (int64_t)OS_PAYOUT_SIGNING);
            if (r == OS_OK) os_ledger_commit(e->ledger);
            else os_ledger_rollback(e->ledger);
        }
        os_ledger_unlock(e->ledger);
    }
    /* else: an input is spent in the mempool only — wait for the chain to decide */
    draft_free(&d);
}

static int reconcile_pass(os_engine *e) {
    if (!e->rpc) return OS_ERR_UNSUPPORTED;
    pthread_mutex_lock(&e->recon_mu);
    uint64_t height = 0;
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = os_rpc_getblockcount(e->rpc, &height, &er);
    pthread_mutex_unlock(&e->rpc_mu);
    pthread_mutex_lock(&e->mu);
    e->node_ok = rc == OS_OK;
    if (rc == OS_OK) e->node_height = height;
    pthread_mutex_unlock(&e->mu);
    if (rc != OS_OK) {
        pthread_mutex_unlock(&e->recon_mu);
        return OS_ERR_RPC_TRANSPORT;
    }
    wallet_sync(e);
    size_t n = 0, cap = 64;
    int64_t *rows = malloc(cap * sizeof *rows);
    int *states = malloc(cap * sizeof *states);
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT id, state FROM txs WHERE state IN (?, ?) OR (state = ? AND confirmations < ?)"
                               " ORDER BY id");
    if (st && rows && states) {
        sqlite3_bind_int(st, 1, OS_TX_SIGNED);
        sqlite3_bind_int(st, 2, OS_TX_BROADCAST);
        sqlite3_bind_int(st, 3, OS_TX_CONFIRMED);
        sqlite3_bind_int64(st, 4, e->cfg.confirmations_final);
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (n == cap) {
                cap *= 2;
                int64_t *r2 = realloc(rows, cap * sizeof *rows);
                int *s2 = realloc(states, cap * sizeof *states);
                if (r2) rows = r2;
                if (s2) states = s2;
                if (!r2 || !s2) break;
            }
            rows[n] = sqlite3_column_int64(st, 0);
            states[n] = sqlite3_column_int(st, 1);
            n++;
        }
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    for (size_t i = 0; i < n; i++) reconcile_row(e, rows[i], states[i]);
    free(rows);
    free(states);
    pthread_mutex_unlock(&e->recon_mu);
    return OS_OK;
}

int os_engine_reconcile_now(os_engine *e) {
    if (!e) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    return reconcile_pass(e);
}

/* ------------------------------------------------------------------ threads */

static int64_t first_row(os_engine *e, const char *sql, int64_t a, int64_t b) {
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, sql);
    int64_t row = 0;
    if (st) {
        sqlite3_bind_int64(st, 1, a);
        sqlite3_bind_int64(st, 2, b);
        if (sqlite3_step(st) == SQLITE_ROW) row = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    return row;
}

/* One round of the worker. Returns 1 when it did something (run again at once). */
static int worker_round(os_engine *e) {
    if (mismatch(e)) return 0;
    /* 1. drafts left in signing (a crash, a lost answer, the operator) are signed first, oldest first */
    int64_t row = first_row(e, "SELECT id FROM txs WHERE state IN (?, ?) ORDER BY id LIMIT 1", OS_TX_SIGNING, OS_TX_AWAITING);
    if (row) {
        pthread_mutex_lock(&e->sign_mu);
        int rc = sign_row(e, row);
        pthread_mutex_unlock(&e->sign_mu);
        if (rc == OS_OK) {
            broadcast_row(e, row);
            return 1;
        }
        return rc == OS_ERR_BUSY;
    }
    /* 2. a signed transaction the node refused for its fee: build its replacement */
    /* (not one whose change a later transaction of ours spends: replacing it would orphan that child,
     * whose payouts are anchored to the change) */
    row = first_row(e, "SELECT id FROM txs WHERE state = ? AND last_error LIKE 'fee-too-low:%' AND NOT EXISTS"
                       " (SELECT 1 FROM txs r WHERE r.replaces = txs.id AND r.state != ?) AND NOT EXISTS"
                       " (SELECT 1 FROM coins c WHERE c.txid = txs.txid AND c.state != 0) ORDER BY id LIMIT 1",
                    OS_TX_SIGNED, OS_TX_RELEASED);
    if (row) {
        pthread_mutex_lock(&e->sign_mu);
        int rc = bump_row(e, row);
        pthread_mutex_unlock(&e->sign_mu);
        return rc == OS_OK;
    }
    /* 2b. signed but never offered to the node */
    row = first_row(e, "SELECT id FROM txs WHERE state = ? AND attempts = ? ORDER BY id LIMIT 1", OS_TX_SIGNED, 0);
    if (row && e->rpc) {
        broadcast_row(e, row);
        return 1;
    }
    /* 3. a new batch, once it is full or the oldest waited batch_delay_ms */
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = prep(e, "SELECT count(*) FROM payouts WHERE status = ?");
    int64_t waiting = 0;
    if (st) {
        sqlite3_bind_int(st, 1, OS_PAYOUT_REQUESTED);
        if (sqlite3_step(st) == SQLITE_ROW) waiting = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    if (!waiting) {
        e->batch_wait_since_ms = 0;
        return 0;
    }
    int64_t now = mono_ms();
    if (!e->batch_wait_since_ms) e->batch_wait_since_ms = now;
    if ((uint64_t)waiting < e->cfg.batch_max && now - e->batch_wait_since_ms < (int64_t)e->cfg.batch_delay_ms) return 0;
    int64_t tx_row = 0;
    int rc = build_draft(e, &tx_row);
    e->batch_wait_since_ms = 0;
    if (rc != OS_OK || !tx_row) return 0; /* OS_ERR_FUNDS: wait for coins */
    engine_crash_point(e, "after-draft");
    return 1;
}

static void *worker_main(void *arg) {
    os_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stop) break;
        engine_link_tick(e);
        if (worker_round(e)) continue;
        pthread_mutex_lock(&e->mu);
        if (!e->stopping && !e->work_pending) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);   /* the clock e->wake is timed on (engine.c) */
            uint32_t wait_ms = e->cfg.batch_delay_ms ? e->cfg.batch_delay_ms : 100;
            if (wait_ms > 500) wait_ms = 500;
            ts.tv_nsec += (long)wait_ms * 1000000L;
            ts.tv_sec += ts.tv_nsec / 1000000000L;
            ts.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&e->wake, &e->mu, &ts);
        }
        e->work_pending = 0;
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

static void *reconciler_main(void *arg) {
    os_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int stop = e->stopping;
        pthread_mutex_unlock(&e->mu);
        if (stop) break;
        (void)reconcile_pass(e);
        /* sleep in short steps so stop is prompt */
        for (uint32_t t = 0; t < e->cfg.reconcile_interval_ms; t += 50) {
            pthread_mutex_lock(&e->mu);
            stop = e->stopping;
            pthread_mutex_unlock(&e->mu);
            if (stop) break;
            usleep(50000);
        }
    }
    return NULL;
}

int os_engine_start(os_engine *e) {
    if (!e) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    pthread_mutex_lock(&e->mu);
    if (e->running) {
        pthread_mutex_unlock(&e->mu);
        return OS_OK;
    }
    e->stopping = 0;
    e->running = 1;
    pthread_mutex_unlock(&e->mu);
    if (pthread_create(&e->worker, NULL, worker_main, e) != 0) return OS_ERR_IO;
    if (e->rpc && pthread_create(&e->reconciler, NULL, reconciler_main, e) != 0) return OS_ERR_IO;
    return OS_OK;
}

void os_engine_stop(os_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    int was = e->running;
    e->stopping = 1;
    e->running = 0;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->mu);
    if (!was) return;
    pthread_join(e->worker, NULL);
    if (e->rpc) pthread_join(e->reconciler, NULL);
}

/* ------------------------------------------------------------------ tree rebuild, external signing */

/* Replays the archived log onto an empty tree and, in the same ledger transaction, rewrites what the
 * ledger records of it: tree_leaves from the transactions the log names, each one's root_after and
 * log_seq, no root_after on drafts the signer never committed, and tree_seq. Either all of it is
 * stored or none (rolled back on any failure). */
int os_engine_rebuild_tree(os_engine *e, size_t *n_leaves, char *err, size_t cap) {
    if (!e || !n_leaves) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    pthread_mutex_lock(&e->sign_mu);
    os_msg_info info;
    int rc = log_sync(e, &info, err, cap);
    nonce_tree *t = NULL;
    if (rc == OS_OK) rc = nonce_tree_create(&t);
    os_ledger_lock(e->ledger);
    int in_txn = rc == OS_OK && os_ledger_begin(e->ledger) == OS_OK;
    if (rc == OS_OK && !in_txn) rc = OS_ERR_DB;
    if (rc == OS_OK) rc = run(e, "DELETE FROM tree_leaves", NULL);
    if (rc == OS_OK) rc = run(e, "UPDATE txs SET root_after = NULL WHERE raw IS NULL", NULL);
    sqlite3_stmt *st = rc == OS_OK ? prep(e, "SELECT seq, entry FROM signer_log ORDER BY seq") : NULL;
    if (rc == OS_OK && !st) rc = OS_ERR_DB;
    nonce_tree *saved = e->tree;
    e->tree = t;
    uint64_t last_seq = 0;
    while (rc == OS_OK && sqlite3_step(st) == SQLITE_ROW) {
        const uint8_t *entry = sqlite3_column_blob(st, 1);
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        last_seq = seq;
        if (entry[AUDIT_LOG_OFF_TYPE] != OS_LOG_SIGN) continue;
        const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
        sqlite3_stmt *q = prep(e, "SELECT id, draft FROM txs WHERE hash_prevouts = ? AND hash_outputs = ? ORDER BY id LIMIT 1");
        draft d;
        int64_t row = 0;
        rc = OS_ERR_SIGNER_MISMATCH;
        if (q) {
            sqlite3_bind_blob(q, 1, pl, 32, SQLITE_STATIC);
            sqlite3_bind_blob(q, 2, pl + 32, 32, SQLITE_STATIC);
            if (sqlite3_step(q) == SQLITE_ROW &&
                draft_decode(sqlite3_column_blob(q, 1), (size_t)sqlite3_column_bytes(q, 1), &d) == OS_OK) {
                row = sqlite3_column_int64(q, 0);
                rc = tree_apply_tx(e, &d.tx);
                if (rc == OS_OK) rc = store_leaves(e, row, &d.tx);
                draft_free(&d);
            }
        }
        sqlite3_finalize(q);
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (rc == OS_OK && memcmp(root, pl + 64, 32) != 0) rc = OS_ERR_SIGNER_MISMATCH;
        if (rc == OS_OK)
            rc = run(e, "UPDATE txs SET root_after = ?, log_seq = coalesce(log_seq, ?) WHERE id = ?", "bii", root, 32,
                     (int64_t)seq, row);
        if (rc != OS_OK) errf(err, cap, "log entry %llu: no ledger transaction explains it, or its root differs",
                              (unsigned long long)seq);
    }
    sqlite3_finalize(st);
    e->tree = saved;
    if (rc == OS_OK) {
        uint8_t root[32];
        nonce_tree_root(t, root);
        if (memcmp(root, info.nonce_root, 32) != 0) {
            errf(err, cap, "the replayed log does not end at the signer's root");
            rc = OS_ERR_SIGNER_MISMATCH;
        }
    }
    if (rc == OS_OK) rc = meta_put_u64(e, "tree_seq", last_seq);
    if (in_txn) {
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    if (rc == OS_OK) {
        nonce_tree_free(e->tree);
        e->tree = t;
        *n_leaves = nonce_tree_count(t);
        pthread_mutex_lock(&e->mu);
        e->signer_mismatch = 0;
        pthread_mutex_unlock(&e->mu);
    } else {
        nonce_tree_free(t);
    }
    pthread_mutex_unlock(&e->sign_mu);
    return rc;
}

int os_engine_sign_external(os_engine *e, const os_sign_tx *tx, os_input_sig *sigs, os_sign_outcome *outcome) {
    if (!e || !tx || !sigs || !outcome) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    if (mismatch(e)) return OS_ERR_SIGNER_MISMATCH;
    uint8_t *blob = NULL, hp[32], ho[32];
    size_t blob_len = 0;
    int rc = draft_encode(tx, &blob, &blob_len);
    if (rc == OS_OK) rc = tx_commitment(tx, hp, ho);
    if (rc != OS_OK) {
        free(blob);
        return rc;
    }
    /* The draft is stored first, like the worker's, so a crash mid-signing is explained at start. */
    int64_t now = engine_now(), row = 0;
    os_ledger_lock(e->ledger);
    rc = run(e,
             "INSERT INTO txs (state, draft, anchor_txid, anchor_vout, fee, n_payouts, hash_prevouts, hash_outputs,"
             " created_at, updated_at, last_error) VALUES (?,?,?,?,0,0,?,?,?,?,'external')",
             "ibbibbii", (int64_t)OS_TX_RELEASED, blob, (int)blob_len, tx->inputs[0].prevout.txid, 32,
             (int64_t)tx->inputs[0].prevout.vout, hp, 32, ho, 32, now, now);
    row = sqlite3_last_insert_rowid(os_ledger_db(e->ledger));
    os_ledger_unlock(e->ledger);
    free(blob);
    if (rc != OS_OK) return rc;
    pthread_mutex_lock(&e->sign_mu);
    uint8_t before[32], after[32];
    nonce_tree_root(e->tree, before);
    rc = os_sign_run(e->client, e->tree, tx, sigs, outcome, NULL, NULL);
    nonce_tree_root(e->tree, after);
    if (memcmp(before, after, 32) != 0) {
        char err[128];
        os_msg_info info;
        (void)log_sync(e, &info, err, sizeof err);
        os_ledger_lock(e->ledger);
        if (os_ledger_begin(e->ledger) == OS_OK) {
            int r = store_leaves(e, row, tx);
            if (r == OS_OK) r = run(e, "UPDATE txs SET root_after = ? WHERE id = ?", "bi", after, 32, row);
            if (r == OS_OK) r = meta_put_u64(e, "tree_seq", e->log_archived_seq);
            if (r == OS_OK) os_ledger_commit(e->ledger);
            else os_ledger_rollback(e->ledger);
        }
        os_ledger_unlock(e->ledger);
    }
    pthread_mutex_unlock(&e->sign_mu);
    return rc;
}
