/* oncesign host — the payout engine's signer and monacoind side: start-up check against the signer
 * (I6), the signer's log archive, the worker (batch, coins, fee, draft, sign, store, broadcast), the
 * reconciler (the node's view decides, I3) and the hot wallet's addresses and coins.
 * Each loop reads state through the ledger layer (ledger.h), asks a pure decision (engine_decide.h)
 * what it means, and applies the answer as a ledger operation or a state-machine event.
 * The lifecycle and what happens at each crash point: docs/LIFECYCLE.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "audit_log.h"
#include "bytes.h"
#include "crypto.h"
#include "device_ops.h"
#include "draft.h"
#include "engine_decide.h"
#include "engine_internal.h"
#include "errtext.h"
#include "log.h"
#include "nonce_set.h"
#include "oncesign/status.h"
#include "psbt.h"
#include "rpc.h"
#include "signing.h"
#include "tx.h"
#include "voucher.h"

#define DEVICE_TIMEOUT_MS 10000
#define RBF_SEQUENCE 0xfffffffdu
/* With no new block, the reconciler still asks this often: a node can drop a transaction from its
 * mempool (eviction, restart) without any block telling us. */
#define RECONCILE_RECHECK_MS 30000

/* ------------------------------------------------------------------ small helpers */

static void set_mismatch(os_engine *e, const char *fmt, ...) {
    pthread_mutex_lock(&e->mu);
    e->signer_mismatch = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->mismatch_reason, sizeof e->mismatch_reason, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&e->mu);
    os_log(OS_LOG_ERROR, "signer.mismatch", NULL, 0, "SIGNER MISMATCH, signing stopped: %s", e->mismatch_reason);
}

/* Whether the signer's account node is loaded (at its first answer): addresses and coins can be derived. */
static int account_known(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int known = e->have_account;
    pthread_mutex_unlock(&e->mu);
    return known;
}

/* Whether the signer passed the start-up check since open: nothing is drafted or signed before (I6). */
static int signer_checked(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int checked = e->signer_checked;
    pthread_mutex_unlock(&e->mu);
    return checked;
}

static int mismatch(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int m = e->signer_mismatch;
    pthread_mutex_unlock(&e->mu);
    return m;
}

/* An event on a transaction, stamped now. */
static int tx_event(os_engine *e, int64_t row, os_tx_event ev, os_tx_event_data *d) {
    d->now = engine_now();
    int rc = os_ledger_tx_transition(e->ledger, row, ev, d);
    if (rc == OS_ERR_DB) {
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_INT("event_kind", (int)ev), OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "ledger.event_not_stored", f, 3, "ledger: event %d on transaction %lld not stored: %s",
               (int)ev, (long long)row, os_status_name(rc));
    }
    return rc;
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

/* ------------------------------------------------------------------ leaves */

/* The leaf a payout output commits (new: anchored at input 0; replace: its own anchor). */
static int output_leaf(const os_sign_tx *tx, const os_sign_output *o, uint8_t key[32], uint8_t value[32],
                       os_outpoint *anchor) {
    *anchor = o->replace ? o->anchor : tx->inputs[0].prevout;
    int rc = nonce_set_key(o->nonce, key);
    if (rc == OS_OK) rc = nonce_set_leaf_value(anchor, o->script, o->script_len, o->amount, value);
    return rc;
}

/* A transaction adds at most one leaf per output and the anchor entry of its input 0. */
#define TX_LEAVES_MAX (OS_MAX_OUTPUTS + 1)

/* The leaves tx adds to the tree: one per payout output, then, when it anchors payouts at its input
 * 0 (os_sign_anchored), that anchor's entry (docs/DESIGN.md §3 "Anchors"), kept in the ledger with
 * an all-zero nonce, no script and the count as its amount. leaves has room for TX_LEAVES_MAX;
 * *n_payouts (may be NULL): how many of them are payouts. */
static int tx_leaves(const os_sign_tx *tx, os_ledger_leaf *leaves, size_t *n, size_t *n_payouts) {
    static const uint8_t no_script[1];
    *n = 0;
    for (size_t i = 0; i < tx->n_outputs && *n < OS_MAX_OUTPUTS; i++) {
        const os_sign_output *o = &tx->outputs[i];
        if (o->kind != OS_OUTPUT_PAYOUT) continue;
        os_ledger_leaf *f = &leaves[*n];
        int rc = output_leaf(tx, o, f->key, f->value, &f->anchor);
        if (rc != OS_OK) return rc;
        memcpy(f->nonce, o->nonce, 32);
        f->moved = o->reanchor;
        f->script = o->script;
        f->script_len = o->script_len;
        f->amount = o->amount;
        (*n)++;
    }
    if (n_payouts) *n_payouts = *n;
    uint16_t anchored = os_sign_anchored(tx);
    if (anchored > 0) {
        os_ledger_leaf *f = &leaves[(*n)++];
        memset(f, 0, sizeof *f);
        f->anchor = tx->inputs[0].prevout;
        f->script = no_script;
        f->amount = anchored;
        int rc = nonce_set_anchor_key(&f->anchor, f->key);
        if (rc == OS_OK) rc = nonce_set_anchor_value(anchored, f->value);
        if (rc != OS_OK) return rc;
    }
    return OS_OK;
}

/* The signer committed row: keep its leaves (the in-memory tree already holds them). */
static int store_committed(os_engine *e, int64_t row, const os_sign_tx *tx, const uint8_t root[32], uint64_t log_seq,
                           uint64_t tree_seq) {
    os_ledger_leaf leaves[TX_LEAVES_MAX];
    size_t n = 0;
    int rc = tx_leaves(tx, leaves, &n, NULL);
    if (rc == OS_OK) rc = os_ledger_tx_committed(e->ledger, row, root, log_seq, tree_seq, leaves, n);
    return rc;
}

/* Inserts into the in-memory tree the leaves of tx that are missing (start-up settlement). */
static int tree_apply_tx(os_engine *e, const os_sign_tx *tx) {
    os_ledger_leaf leaves[TX_LEAVES_MAX];
    size_t n = 0;
    int rc = tx_leaves(tx, leaves, &n, NULL);
    for (size_t i = 0; rc == OS_OK && i < n; i++) {
        uint8_t have[32];
        rc = nonce_tree_get(e->tree, leaves[i].key, have);
        if (rc == OS_OK) {
            if (memcmp(have, leaves[i].value, 32) == 0) continue;
            /* a re-anchor moves a committed key to its new value; anything else is unexplained (the
             * caller's root check against the entry's root_after decides either way) */
            if (!leaves[i].moved) return OS_ERR_SIGNER_MISMATCH;
            rc = nonce_tree_remove(e->tree, leaves[i].key);
            if (rc == OS_OK) rc = nonce_tree_insert(e->tree, leaves[i].key, leaves[i].value);
            continue;
        }
        if (leaves[i].moved) return OS_ERR_SIGNER_MISMATCH;   /* a move of a key never committed */
        rc = nonce_tree_insert(e->tree, leaves[i].key, leaves[i].value);
    }
    return rc;
}

/* ------------------------------------------------------------------ the signer's log archive */

/* Reads the signer's new log entries, verifies each against the archived chain and the pinned
 * attestation key, archives them and acknowledges them (the device's ring never fills).
 * sign_mu held, ledger not locked. */
static int log_sync(os_engine *e, os_msg_info *info, char *err, size_t cap) {
    int rc = device_info(e, info);
    if (rc != OS_OK) {
        os_errf(err, cap, "GET_INFO: %s", os_status_name(rc));
        return rc;
    }
    if (memcmp(info->attestation_pubkey, e->attestation_key, 32) != 0) {
        os_errf(err, cap, "the signer's attestation key differs from the one this ledger pinned");
        return OS_ERR_SIGNER_MISMATCH;
    }
    if (info->log_seq < e->log_archived_seq) {
        os_errf(err, cap, "the signer's log ends at %llu, the archive at %llu (another device, or it was wiped)",
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
            os_errf(err, cap, "LOG_READ %llu: %s", (unsigned long long)seq, os_status_name(rc));
            /* entries the archive lacks and the signer no longer holds cannot be explained */
            return rc == OS_ERR_LOG_RANGE ? OS_ERR_SIGNER_MISMATCH : rc;
        }
        uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32];
        memcpy(entry, reply.u.log_entry.entry, OS_LOG_ENTRY_BYTES);
        if (e->log_archived_seq == 0 && seq > 1 && seq == info->log_acked_seq + 1)
            memcpy(prev, entry + AUDIT_LOG_OFF_PREV, 32); /* trust on first use of an acked device */
        rc = audit_log_verify_entry(e->attestation_key, entry, seq, prev, hash);
        if (rc != OS_OK) {
            os_errf(err, cap, "log entry %llu does not verify: %s", (unsigned long long)seq, os_status_name(rc));
            return OS_ERR_SIGNER_MISMATCH;
        }
        rc = os_ledger_signer_log_put(e->ledger, seq, entry, hash);
        /* a new operator set: drafts held for approvals are weighed again against it */
        if (rc == OS_OK && entry[AUDIT_LOG_OFF_TYPE] == OS_LOG_OPERATORS) rc = os_ledger_quorum_wake_all(e->ledger);
        if (rc != OS_OK) return rc;
        memcpy(prev, hash, 32);
        e->log_archived_seq = seq;
        memcpy(e->log_head, hash, 32);
    }
    if (info->log_seq > 0 && memcmp(e->log_head, info->log_head, 32) != 0) {
        os_errf(err, cap, "the signer's log head differs from the archived chain at %llu",
             (unsigned long long)info->log_seq);
        return OS_ERR_SIGNER_MISMATCH;
    }
    /* Once backups are taken, the device keeps every entry newer than the newest backup, so a ledger
     * restored from it finds them there (docs/RECOVERY.md): acknowledge only up to that backup. */
    uint64_t ack_to = info->log_seq, backed_up = 0;
    rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_BACKUP_LOG_SEQ, &backed_up);
    if (rc != OS_OK) return rc;
    if (backed_up > 0 && backed_up < ack_to) ack_to = backed_up;
    if (ack_to > info->log_acked_seq) {
        os_msg req, reply;
        memset(&req, 0, sizeof req);
        req.type = OS_MSG_LOG_ACK;
        req.u.log_read.seq = ack_to;
        (void)device_call(e, &req, &reply, buf); /* best effort: the entries are archived */
    }
    return OS_OK;
}

/* Replays the SIGN entry pl (of log entry seq) on the in-memory tree: the ledger must hold the
 * transaction it names, and its leaves must give the entry's root_after. *row receives the ledger
 * transaction (0 when none). */
static int replay_sign_entry(os_engine *e, uint64_t seq, const uint8_t *pl, int64_t *row, os_draft *d, char *err,
                             size_t cap) {
    *row = 0;
    int rc = os_ledger_tx_by_commitment(e->ledger, pl, pl + 32, row, d);
    if (rc == OS_ERR_NOT_FOUND) {
        os_errf(err, cap, "the signer's log entry %llu signed a transaction this ledger has no record of"
                       " (ledger restored from an older copy, or another host signed)",
             (unsigned long long)seq);
        return OS_ERR_NOT_FOUND;
    }
    if (rc != OS_OK) return rc;
    rc = tree_apply_tx(e, &d->tx);
    uint8_t root[32];
    nonce_tree_root(e->tree, root);
    if (rc == OS_OK && memcmp(root, pl + 64, 32) != 0) rc = OS_ERR_SIGNER_MISMATCH;
    if (rc != OS_OK) {
        os_draft_free(d);
        os_errf(err, cap, "replaying log entry %llu on the ledger's tree does not give its root", (unsigned long long)seq);
        return OS_ERR_SIGNER_MISMATCH;
    }
    return OS_OK;
}

/* What a replay of the archived log records in the ledger. */
typedef enum {
    REPLAY_SETTLE = 1,  /* start-up: each entry past tree_seq is a commit the ledger may not know of (logged) */
    REPLAY_REBUILD,     /* `oncesign tree rebuild`: every entry, recorded again from an empty tree */
} replay_mode;

/* Replays every archived SIGN entry after seq `after` on e->tree (replay_sign_entry) and records each
 * replayed transaction as committed by the signer. *last: the last entry read (on OS_ERR_NOT_FOUND:
 * the SIGN entry naming a transaction the ledger has no record of). */
static int replay_log(os_engine *e, uint64_t after, replay_mode mode, uint64_t *last, char *err, size_t cap) {
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    uint64_t seq = 0;
    *last = after;
    for (;;) {
        int rc = os_ledger_signer_log_next(e->ledger, *last, &seq, entry);
        if (rc == OS_ERR_NOT_FOUND) return OS_OK;
        if (rc != OS_OK) return rc;
        *last = seq;
        if (entry[AUDIT_LOG_OFF_TYPE] != OS_LOG_SIGN) continue;
        const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
        int64_t row = 0;
        os_draft d;
        rc = replay_sign_entry(e, seq, pl, &row, &d, err, cap);
        if (rc != OS_OK) return rc;
        /* Committed: keep the leaves, and mark the draft so the worker asks for its signatures as a
         * replacement of the identical transaction (deterministic signatures: the same txid). */
        rc = store_committed(e, row, &d.tx, pl + 64, seq, seq);
        if (mode == REPLAY_SETTLE) {
            os_log_field f[] = { OS_LOG_INT("log_seq", (int64_t)seq), OS_LOG_INT("tx", row) };
            os_log(OS_LOG_NOTICE, "tx.settled_from_log", f, 2, "settled log entry %llu: transaction %lld was committed"
                   " by the signer", (unsigned long long)seq, (long long)row);
        }
        os_draft_free(&d);
        if (rc != OS_OK) return rc;
    }
}

/* Explains every SIGN entry after the log position the ledger's tree accounts for ("tree_seq"):
 * each must name a transaction whose draft the ledger holds; its new leaves go into the tree and the
 * root must then equal the entry's root_after. Anything unexplained: OS_ERR_SIGNER_MISMATCH.
 * sign_mu held. */
static int settle_from_log(os_engine *e, char *err, size_t cap) {
    uint64_t tree_seq = 0, last = 0;
    int rc = os_ledger_meta_u64(e->ledger, "tree_seq", &tree_seq);
    if (rc == OS_OK) rc = replay_log(e, tree_seq, REPLAY_SETTLE, &last, err, cap);
    if (rc == OS_ERR_NOT_FOUND) {
        /* what came before the unexplained entry is settled; from it on, a restored backup recovers */
        uint64_t unexplained = last;
        rc = last - 1 > tree_seq ? os_ledger_meta_put_u64(e->ledger, "tree_seq", last - 1) : OS_OK;
        if (rc == OS_OK) rc = engine_recovery_begin(e, unexplained, err, cap);
        return rc;
    }
    if (rc == OS_OK && last > tree_seq) rc = os_ledger_meta_put_u64(e->ledger, "tree_seq", last);
    return rc;
}

/* Loads the tree from the ledger's leaves. sign_mu held. */
static int tree_load(os_engine *e) {
    nonce_tree *t = NULL;
    int rc = nonce_tree_create(&t);
    if (rc != OS_OK) return rc;
    uint8_t(*keys)[32] = NULL, (*vals)[32] = NULL;
    size_t n = 0, inserted = 0;
    rc = os_ledger_leaves_load(e->ledger, &keys, &vals, &n);
    if (rc == OS_OK) rc = nonce_tree_insert_many(t, n, (const uint8_t(*)[32])keys, (const uint8_t(*)[32])vals, &inserted);
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
    /* a recovering ledger's log verifies and its explained part is settled: the rest is the recovery's */
    if (rc == OS_ERR_RECOVERING) return OS_OK;
    if (rc == OS_OK) {
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (memcmp(root, info.nonce_root, 32) != 0) {
            os_errf(err, cap, "the signer's nonce root differs from the ledger's tree (%zu leaves) after replaying its"
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

static int signer_first_check(os_engine *e, char *err, size_t cap);

int engine_signer_recheck(os_engine *e, char *err, size_t cap) {
    return e->signer_checked ? signer_check(e, err, cap) : signer_first_check(e, err, cap);
}

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
        os_errf(err, cap, "GET_XPUB: %s", os_status_name(rc));
        return rc;
    }
    /* under mu: the API's and the reconciler's threads read it once the signer arrives after start */
    pthread_mutex_lock(&e->mu);
    e->have_account = 1;
    pthread_mutex_unlock(&e->mu);
    return OS_OK;
}

static int load_log_head(os_engine *e) {
    int rc = os_ledger_signer_log_head(e->ledger, &e->log_archived_seq, e->log_head);
    return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
}

/* The signer could not be reached (why): with cfg.wait_for_signer the engine opens anyway and the
 * link retries it (engine_link.c); otherwise the open fails. */
static int signer_wait(os_engine *e, int rc, const char *why) {
    if (!e->cfg.wait_for_signer) return rc;
    pthread_mutex_lock(&e->mu);
    snprintf(e->signer_wait_reason, sizeof e->signer_wait_reason, "%s", why);
    e->signer_reachable = 0;
    pthread_mutex_unlock(&e->mu);
    e->device_attached = 1;
    engine_log("warn", "signer %s not reachable at start-up (%s: %s): writes refused until it answers and passes"
               " the start-up check; retrying", e->cfg.device, os_status_name(rc), why);
    return OS_OK;
}

/* Everything the engine learns from the signer before it signs: its setup (initialized, network),
 * its pinned attestation key, the account, and the start-up check (I6). sign_mu held. */
static int signer_first_check(os_engine *e, char *err, size_t cap) {
    os_msg_info info;
    int rc = device_info(e, &info);
    if (rc != OS_OK) {
        os_errf(err, cap, "signer %s: GET_INFO failed: %s (%s)", e->cfg.device ? e->cfg.device : "(lent)",
             os_status_name(rc), os_client_last_error(e->client));
        return OS_ERR_IO;
    }
    if (!info.initialized) {
        os_errf(err, cap, "the signer is not initialized (oncesign init)");
        return OS_ERR_NOT_INITIALIZED;
    }
    if (info.network != e->cfg.network) {
        os_errf(err, cap, "the signer is set up for network %u, the engine for %u", info.network, e->cfg.network);
        set_mismatch(e, "%s", err);
        return OS_ERR_SIGNER_MISMATCH;
    }
    e->signer_script_type = info.script_type;
    /* The attestation key is pinned at first start: a different device is a mismatch, not a reset. */
    uint8_t pinned[32];
    size_t n = 0;
    rc = os_ledger_meta_get(e->ledger, "attestation_key", pinned, sizeof pinned, &n);
    if (rc == OS_ERR_NOT_FOUND) {
        rc = os_ledger_meta_put(e->ledger, "attestation_key", info.attestation_pubkey, 32);
        memcpy(pinned, info.attestation_pubkey, 32);
        n = 32;
    }
    if (rc == OS_OK) rc = load_log_head(e);
    if (rc != OS_OK) {
        os_errf(err, cap, "ledger: %s", os_status_name(rc));
        return OS_ERR_DB;
    }
    memcpy(e->attestation_key, pinned, 32);
    int replaced = 0;
    if (n != 32 || memcmp(pinned, info.attestation_pubkey, 32) != 0) {
        /* Another device. The same wallet restored from the mnemonic replaces the dead one
         * (engine_recovery.c); anything else is a mismatch, not a reset. */
        if (err && cap) err[0] = '\0';
        rc = load_account(e, err, cap);
        if (rc == OS_OK) rc = engine_replacement_begin(e, &info, err, cap);
        if (rc != OS_OK) {
            if (err && cap && err[0] == '\0')
                os_errf(err, cap, "the signer's attestation key differs from the one this ledger pinned at first start");
            set_mismatch(e, "%s", err);
            return OS_ERR_SIGNER_MISMATCH;
        }
        memcpy(e->attestation_key, info.attestation_pubkey, 32);
        e->log_archived_seq = 0;
        memset(e->log_head, 0, 32);
        replaced = 1;
    }
    rc = tree_load(e);
    if (rc == OS_OK && !replaced) rc = load_account(e, err, cap);
    if (rc == OS_OK) rc = signer_check(e, err, cap);
    /* A backup put in place that the signer's log explains is the live ledger from now on: only a
     * restored copy the signer has moved past is recovered (docs/RECOVERY.md). */
    if (rc == OS_OK && !engine_recovering(e)) rc = engine_recovery_resume(e);
    if (rc == OS_OK && !engine_recovering(e)) rc = os_ledger_backup_marker_drop(e->ledger);
    if (rc == OS_OK) {
        pthread_mutex_lock(&e->mu);
        e->signer_checked = 1;
        e->recon_work = 1;   /* the reconciler's first pass with the account: sync the wallet now */
        pthread_mutex_unlock(&e->mu);
        engine_wake_worker(e);
    }
    return rc;
}

int engine_attach(os_engine *e, os_client *lent, char *err, size_t cap) {
    int rc = psbt_crypto_ready(); /* the one secp256k1 context, created before any thread */
    if (rc != OS_OK) {
        os_errf(err, cap, "crypto_init: %s", os_status_name(rc));
        return rc;
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
    if (lent) {
        e->client = lent;
    } else {
        rc = os_client_open(e->cfg.device, &e->client, err, cap);
        if (rc == OS_ERR_IO) return signer_wait(e, rc, err);
        if (rc != OS_OK) return rc == OS_ERR_ARG ? OS_ERR_ARG : OS_ERR_IO;
        e->client_owned = 1;
    }
    pthread_mutex_lock(&e->sign_mu);
    rc = signer_first_check(e, err, cap);
    pthread_mutex_unlock(&e->sign_mu);
    if (rc == OS_ERR_IO) return signer_wait(e, rc, err);
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

/* The next address of a chain, recorded (imported into the node later), in one transaction. */
static int next_address(os_engine *e, uint8_t change, uint32_t *index, uint8_t script[64], size_t *script_len,
                        char address[OS_MAX_ADDRESS + 1]) {
    os_ledger_lock(e->ledger);
    int rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) rc = os_ledger_address_take_index(e->ledger, change, index);
    if (rc == OS_OK) rc = derive_script(e, change, *index, script, script_len);
    if (rc == OS_OK) rc = address_from_script(e->cfg.network, script, *script_len, address, OS_MAX_ADDRESS + 1);
    if (rc == OS_OK)
        rc = os_ledger_address_add(e->ledger, change, *index, e->signer_script_type, address, script, *script_len);
    if (rc == OS_OK)
        rc = os_ledger_commit(e->ledger);
    else
        os_ledger_rollback(e->ledger);
    os_ledger_unlock(e->ledger);
    return rc;
}

#define IMPORT_BATCH 200

const char *const engine_wallet_call_names[ENGINE_WALLET_CALLS] = { "importmulti", "listunspent" };

/* Every wallet call's outcome: a failure (e.g. -19 "Wallet file not specified" when rpc_url lacks
 * /wallet/<name> while the node has two wallets loaded: addresses handed out are then never watched)
 * is counted, logged with its kind and code, and shown by health until a wallet call succeeds again
 * (logged too). A call's failure is logged when it starts or its reason changes, not at every retry. */
static void wallet_outcome(os_engine *e, int call, int rc, const os_rpc_error *er, size_t n_addresses) {
    char why[sizeof e->wallet_error[0]] = "";
    if (rc != OS_OK)
        snprintf(why, sizeof why, "%s failed (%s, code %d): %s", engine_wallet_call_names[call],
                 os_rpc_fail_kind_name(os_rpc_error_kind(rc, er)), er->code, er->message);
    pthread_mutex_lock(&e->mu);
    int was = e->wallet_failing[call], changed = strcmp(why, e->wallet_error[call]) != 0;
    e->wallet_failing[call] = rc != OS_OK;
    snprintf(e->wallet_error[call], sizeof e->wallet_error[call], "%s", why);
    if (rc != OS_OK) e->m_wallet_errors[call]++;
    pthread_mutex_unlock(&e->mu);
    if (rc != OS_OK && changed) {
        os_log_field f[] = { OS_LOG_STR("method", engine_wallet_call_names[call]),
                             OS_LOG_STR("kind", os_rpc_fail_kind_name(os_rpc_error_kind(rc, er))),
                             OS_LOG_INT("code", er->code), OS_LOG_INT("addresses", (int64_t)n_addresses),
                             OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "wallet.rpc_failed", f, 5,
               "%s; addresses handed out are not watched and their coins not seen until it answers (health: wallet"
               " false)%s", why,
               rc == OS_ERR_RPC && er->code == -19 ? ". The node has several wallets loaded: give rpc-url with"
                                                     " /wallet/<name> (docs/MONACOIND.md)" : "");
    } else if (rc == OS_OK && was) {
        os_log_field f[] = { OS_LOG_STR("method", engine_wallet_call_names[call]) };
        os_log(OS_LOG_NOTICE, "wallet.recovered", f, 1, "the wallet answers again");
    }
}

static void import_pending_addresses(os_engine *e) {
    if (!e->rpc) return;
    os_ledger_address *addrs = calloc(IMPORT_BATCH, sizeof *addrs);
    size_t n = 0;
    if (addrs && os_ledger_addresses_unimported(e->ledger, IMPORT_BATCH, addrs, &n) == OS_OK && n) {
        const char *ptrs[IMPORT_BATCH];
        for (size_t i = 0; i < n; i++) ptrs[i] = addrs[i];
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int rc = os_rpc_import_addresses(e->rpc, ptrs, n, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        wallet_outcome(e, ENGINE_WALLET_IMPORT, rc, &er, n);
        for (size_t i = 0; rc == OS_OK && i < n; i++) rc = os_ledger_address_mark_imported(e->ledger, ptrs[i]);
    }
    free(addrs);
}

int os_engine_receive_address(os_engine *e, char address[OS_MAX_ADDRESS + 1]) {
    if (!e || !address) return OS_ERR_ARG;
    /* a signer not yet back since start-up: the newest address the ledger has, none derived */
    if (!account_known(e)) {
        int rc = os_ledger_address_newest_unused(e->ledger, 0, address);
        return rc == OS_ERR_NOT_FOUND ? OS_ERR_UNSUPPORTED : rc;
    }
    uint8_t script[64];
    size_t len = 0;
    uint32_t index = 0;
    /* The newest receive address is handed out again until a coin pays it: a new one per call would
     * move the index past any recovery gap limit (a wallet restored from the seed would not see it). */
    int rc = os_ledger_address_newest_unused(e->ledger, 0, address);
    if (rc == OS_ERR_NOT_FOUND) rc = next_address(e, 0, &index, script, &len, address);
    if (rc == OS_OK) import_pending_addresses(e);
    return rc;
}

/* ------------------------------------------------------------------ wallet sync: node → coins */

/* A coin the node reports on one of our addresses: recorded with its funding transaction. */
static void adopt_coin(os_engine *e, const os_rpc_utxo *u, uint64_t height) {
    uint8_t change = 0;
    uint32_t index = 0;
    int known = 0;
    if (os_ledger_coin_seen(e->ledger, &u->outpoint, height, &known) != OS_OK || known) return;
    if (os_ledger_address_find(e->ledger, u->address, &change, &index) != OS_OK) return;
    uint8_t script[64];
    size_t slen = 0;
    if (derive_script(e, change, index, script, &slen) != OS_OK || slen != u->script_len ||
        memcmp(script, u->script, slen) != 0)
        return;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    os_rpc_txstatus ts;
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = os_rpc_get_transaction(e->rpc, u->outpoint.txid, &ts, &raw, &raw_len, &er);
    pthread_mutex_unlock(&e->rpc_mu);
    if (rc == OS_OK && ts.found && raw) {
        os_ledger_new_coin c = {.op = u->outpoint, .amount = u->amount, .script = script, .script_len = slen,
                                .script_type = e->signer_script_type, .change = change, .index = index,
                                .prev = raw, .prev_len = raw_len, .height = height};
        (void)os_ledger_coin_add(e->ledger, &c);
    }
    free(raw);
}

int engine_wallet_unspent(os_engine *e, unsigned minconf, os_rpc_utxo **u, size_t *nu) {
    *u = NULL;
    *nu = 0;
    os_ledger_address *addrs = NULL;
    size_t k = 0;
    int rc = os_ledger_addresses_all(e->ledger, &addrs, &k);
    if (rc != OS_OK || k == 0) {
        free(addrs);
        return rc;
    }
    const char **ptrs = calloc(k, sizeof *ptrs);
    for (size_t i = 0; ptrs && i < k; i++) ptrs[i] = addrs[i];
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    rc = ptrs ? os_rpc_listunspent(e->rpc, minconf, ptrs, k, u, nu, &er) : OS_ERR_IO;
    pthread_mutex_unlock(&e->rpc_mu);
    if (ptrs) wallet_outcome(e, ENGINE_WALLET_LISTUNSPENT, rc, &er, k);
    free(ptrs);
    free(addrs);
    return rc;
}

/* Records the coins the node reports that the ledger does not have yet (adopt_coin). */
static void adopt_unspent(os_engine *e, const os_rpc_utxo *u, size_t nu) {
    pthread_mutex_lock(&e->mu);
    uint64_t tip = e->node_height;
    pthread_mutex_unlock(&e->mu);
    for (size_t i = 0; i < nu; i++) adopt_coin(e, &u[i], u[i].confirmations ? tip + 1 - u[i].confirmations : 0);
}

/* The balance is read from the node and the coins it shows are recorded on the way, so what the API
 * reports and what the ledger holds (the coins the worker spends, the addresses it counts as used)
 * never disagree for long. */
int engine_chain_balance(os_engine *e, uint64_t *confirmed, uint64_t *unconfirmed) {
    if (!e->rpc) return OS_ERR_UNSUPPORTED;
    os_rpc_utxo *u = NULL;
    size_t nu = 0;
    int rc = engine_wallet_unspent(e, 0, &u, &nu);
    *confirmed = *unconfirmed = 0;
    for (size_t i = 0; rc == OS_OK && i < nu; i++) *(u[i].confirmations ? confirmed : unconfirmed) += u[i].amount;
    if (rc == OS_OK) adopt_unspent(e, u, nu);
    free(u);
    return rc;
}

static void wallet_sync(os_engine *e) {
    if (!e->rpc) return;
    import_pending_addresses(e);
    os_rpc_utxo *u = NULL;
    size_t nu = 0;
    int rc = engine_wallet_unspent(e, 0, &u, &nu);
    if (rc == OS_OK) adopt_unspent(e, u, nu);
    free(u);
    if (rc == OS_OK) engine_wake_worker(e);
}

/* Whether the node still has the coin unspent (mempool included). A coin spent outside oncesignd
 * (docs/PSBT.md's flow, another wallet on the same seed) leaves the ledger here, before a payout is
 * built on it (issue 9, defect 4). Returns 1 unspent, 0 spent, -1 the node did not answer. */
static int coin_still_unspent(os_engine *e, const os_ledger_coin *c) {
    if (!e->rpc) return 1;
    int unspent = 0;
    uint64_t amount = 0;
    uint32_t conf = 0;
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = os_rpc_gettxout(e->rpc, &c->op, 1, &unspent, &amount, &conf, &er);
    pthread_mutex_unlock(&e->rpc_mu);
    if (rc != OS_OK) return -1;
    return unspent ? 1 : 0;
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

/* The rate to pay and the caps it must stay within: the node's estimate within the host's floor and
 * cap and the signer's fee-rate and fee caps (fee.h). */
static os_fee_caps fee_caps(os_engine *e) {
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
    return caps;
}

/* Builds and stores the draft for up to batch_max requested payouts. Returns OS_OK with *tx_row set
 * (0 when nothing to do), OS_ERR_FUNDS (no requested payout can be paid from the coins). */
static int build_draft(os_engine *e, int64_t *tx_row) {
    *tx_row = 0;
    os_fee_caps caps = fee_caps(e);
    uint8_t change_script[64];
    size_t change_len = 0;
    size_t max = e->cfg.batch_max;
    os_ledger_payout_req *p = calloc(max, sizeof *p);
    os_ledger_coin *c = calloc(OS_MAX_INPUTS, sizeof *c);
    os_decide_payout *dp = calloc(max, sizeof *dp);
    os_decide_coin *dc = calloc(OS_MAX_INPUTS, sizeof *dc);
    uint8_t *take = calloc(max, 1);
    size_t np = 0, nc = 0;
    int rc = p && c && dp && dc && take ? OS_OK : OS_ERR_IO;
    /* A payout awaiting a re-anchor goes first and alone: the signer moves one committed payout per
     * transaction, and the operator decides on it. After a refusal it waits reanchor_after_ms. */
    int reanchor = 0;
    if (rc == OS_OK && engine_mono_ms() >= e->reanchor_after_ms) {
        rc = os_ledger_payouts_waiting(e->ledger, OS_PAYOUT_AWAITING_REANCHOR, 1, p, &np);
        reanchor = rc == OS_OK && np > 0;
    }
    if (rc == OS_OK && !reanchor) rc = os_ledger_payouts_waiting(e->ledger, OS_PAYOUT_REQUESTED, max, p, &np);
    pthread_mutex_lock(&e->mu);
    uint64_t cap = e->per_payout_cap;
    pthread_mutex_unlock(&e->mu);
    /* The operators' quorum (DESIGN.md §8): a payout above the threshold goes alone, as one above the
     * cap does; the others are batched only while their total stays within it, so routine payouts
     * never wait for approvals because they were batched together. */
    os_operator_set ops;
    if (rc == OS_OK) rc = os_ledger_operator_set(e->ledger, &ops);
    int quorum = rc == OS_OK && ops.n > 0;
    if (rc != OS_OK || np == 0) goto out;
    rc = derive_script(e, 1, 0, change_script, &change_len); /* every change script of the wallet has this length */
    if (rc != OS_OK) goto out;
    os_coin_choice choice;
    size_t *idx = calloc(np, sizeof *idx), ns = 0;
    if (!idx) {
        rc = OS_ERR_IO;
        goto out;
    }
    for (;;) {
        rc = os_ledger_coins_spendable(e->ledger, OS_MAX_INPUTS, c, &nc);
        if (rc != OS_OK) break;
        for (size_t i = 0; i < nc; i++) dc[i] = (os_decide_coin){c[i].amount, c[i].script_type};
        /* A payout above the signer's per-payout cap waits for the operator: it goes alone, so the
         * operator decides on it and nothing else (a rejection fails only it). When the coins cannot
         * cover it, it steps aside like any other, and the payouts within the cap go on. */
        rc = OS_ERR_FUNDS;
        if (reanchor || (cap && p[0].amount > cap) || (quorum && os_quorum_required(ops.n, ops.threshold, p[0].amount))) {
            idx[0] = 0;
            ns = 1;
            dp[0] = (os_decide_payout){p[0].amount, p[0].script_len};
            rc = os_decide_coins(dp, 1, dc, nc, &caps, change_len, take, &choice);
        }
        if (rc == OS_ERR_FUNDS && reanchor) {
            /* the requested payouts go on; the re-anchor is tried again later */
            e->reanchor_after_ms = engine_mono_ms() + e->cfg.operator_wait_ms;
            os_log_field f[] = { OS_LOG_INT("payout_id", p[0].id), OS_LOG_INT("amount", (int64_t)p[0].amount) };
            os_log(OS_LOG_WARNING, "payout.reanchor_underfunded", f, 2, "payout %lld (%llu sat) awaits a re-anchor the"
                   " wallet's coins cannot cover now; asked again in %u ms", (long long)p[0].id,
                   (unsigned long long)p[0].amount, e->cfg.operator_wait_ms);
            break;
        }
        if (rc == OS_ERR_FUNDS) {
            ns = 0;
            uint64_t batched = 0;
            for (size_t i = 0; i < np; i++)
                if ((!cap || p[i].amount <= cap) &&
                    (!quorum || !os_quorum_required(ops.n, ops.threshold, batched + p[i].amount))) {
                    batched += p[i].amount;
                    dp[ns] = (os_decide_payout){p[i].amount, p[i].script_len};
                    idx[ns++] = i;
                }
            rc = os_decide_coins(dp, ns, dc, nc, &caps, change_len, take, &choice);
        }
        if (rc != OS_OK) break;
        /* the coins must still be the chain's: a spent one leaves the ledger and the choice is remade */
        int gone = 0, unsure = 0;
        for (size_t i = 0; i < choice.n_coins; i++) {
            int still = coin_still_unspent(e, &c[i]);
            if (still < 0) unsure = 1;
            if (still == 0 && os_ledger_coin_spent_elsewhere(e->ledger, c[i].id) == OS_OK) {
                os_log_field f[] = { OS_LOG_INT("coin", c[i].id) };
                os_log(OS_LOG_WARNING, "wallet.coin_spent_outside", f, 1,
                       "coin %lld was spent outside oncesignd: it leaves the ledger", (long long)c[i].id);
                gone = 1;
            }
        }
        if (unsure) rc = OS_ERR_RPC_TRANSPORT;
        if (unsure || !gone) break;
        os_ledger_coins_free(c, nc);
        nc = 0;
    }
    if (rc != OS_OK) {
        free(idx);
        goto out;
    }
    uint64_t aside = 0;
    for (size_t k = 0; k < ns; k++) aside += !take[k];
    pthread_mutex_lock(&e->mu);
    e->payouts_aside = aside;
    pthread_mutex_unlock(&e->mu);
    for (size_t k = 0; k < ns; k++)
        if (!take[k] && p[idx[k]].id > e->aside_logged_id) {
            /* once per payout: the worker asks again at every batch */
            os_log_field f[] = { OS_LOG_INT("payout_id", p[idx[k]].id), OS_LOG_INT("amount", (int64_t)p[idx[k]].amount) };
            os_log(OS_LOG_WARNING, "payout.underfunded", f, 2,
                   "payout %lld (%llu sat) steps aside: the wallet's coins cannot cover it now", (long long)p[idx[k]].id,
                   (unsigned long long)p[idx[k]].amount);
            e->aside_logged_id = p[idx[k]].id;
        }
    size_t use_p = choice.n_taken, use_c = choice.n_coins;
    size_t n_out = use_p + (choice.with_change ? 1 : 0);
    os_sign_input in[OS_MAX_INPUTS];
    os_sign_output outs[OS_MAX_OUTPUTS];
    int64_t payout_ids[OS_MAX_OUTPUTS], coin_ids[OS_MAX_INPUTS];
    memset(in, 0, sizeof in);
    memset(outs, 0, sizeof outs);
    for (size_t i = 0; i < use_c; i++) {
        in[i].prevout = c[i].op;
        in[i].sequence = RBF_SEQUENCE;
        in[i].script_type = c[i].script_type;
        in[i].account = 0;
        in[i].change = c[i].change;
        in[i].addr_index = c[i].index;
        in[i].prev_tx = c[i].prev;
        in[i].prev_tx_len = c[i].prev_len;
        coin_ids[i] = c[i].id;
    }
    for (size_t j = 0, k = 0; j < ns; j++) {
        if (!take[j]) continue;
        const os_ledger_payout_req *q = &p[idx[j]];
        outs[k].kind = OS_OUTPUT_PAYOUT;
        outs[k].amount = q->amount;
        memcpy(outs[k].script, q->script, q->script_len);
        outs[k].script_len = (uint8_t)q->script_len;
        memcpy(outs[k].nonce, q->nonce, 32);
        outs[k].reanchor = (uint8_t)reanchor;   /* its leaf moves from q->anchor to input 0 */
        if (reanchor) outs[k].anchor = q->anchor;
        payout_ids[k] = q->id;
        k++;
    }
    free(idx);
    rc = os_sign_sort_payouts(outs, use_p);
    os_sign_tx tx = {.version = 2, .locktime = 0, .n_inputs = use_c, .n_outputs = n_out, .inputs = in, .outputs = outs};
    os_ledger_lock(e->ledger);
    if (rc == OS_OK) rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) {
        if (choice.with_change) {
            os_sign_output *ch = &outs[use_p];
            uint32_t index = 0;
            size_t slen = 0;
            uint8_t script[64];
            char addr[OS_MAX_ADDRESS + 1];
            rc = next_address(e, 1, &index, script, &slen, addr);
            ch->kind = OS_OUTPUT_CHANGE;
            ch->amount = choice.change;
            ch->change_script_type = e->signer_script_type;
            ch->change_account = 0;
            ch->change_index = index;
            memcpy(ch->script, script, slen);
            ch->script_len = (uint8_t)slen;
        }
        if (rc == OS_OK)
            rc = os_ledger_tx_draft_create(e->ledger, &tx, choice.fee,
                                           reanchor ? OS_PAYOUT_AWAITING_REANCHOR : OS_PAYOUT_REQUESTED, payout_ids,
                                           use_p, coin_ids, use_c, engine_now(), tx_row);
        if (rc == OS_OK)
            rc = os_ledger_commit(e->ledger);
        else
            os_ledger_rollback(e->ledger);
        if (rc != OS_OK) *tx_row = 0;
    }
    os_ledger_unlock(e->ledger);
out:
    os_ledger_coins_free(c, nc);
    free(c);
    free(p);
    free(dp);
    free(dc);
    free(take);
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
    os_tx_event_data d = {0};
    (void)tx_event(e, pc->row, OS_TXEV_OPERATOR_WAIT, &d);
    pthread_mutex_lock(&e->mu);
    e->operator_waiting = 1;
    int stopping = e->stopping;
    pthread_mutex_unlock(&e->mu);
    /* a stop asked just before the wait began is honoured at once */
    if (stopping) os_client_request_cancel(e->client);
    os_log_field f[] = { OS_LOG_INT("tx", pc->row) };
    os_log(OS_LOG_NOTICE, "tx.awaiting_operator", f, 1, "transaction %lld waits for the operator's decision on the signer",
           (long long)pc->row);
    if (e->cfg.on_operator_wait) e->cfg.on_operator_wait(e->cfg.on_operator_wait_ctx, pc->row);
}

static int draft_has_reanchor(const os_sign_tx *tx) {
    for (size_t i = 0; i < tx->n_outputs; i++)
        if (tx->outputs[i].kind == OS_OUTPUT_PAYOUT && tx->outputs[i].reanchor) return 1;
    return 0;
}

static int draft_has_replacement(const os_sign_tx *tx) {
    for (size_t i = 0; i < tx->n_outputs; i++)
        if (tx->outputs[i].kind == OS_OUTPUT_PAYOUT && tx->outputs[i].replace) return 1;
    return 0;
}

/* Builds a fee bump of a signed transaction the node refused for its fee: the same inputs (so it
 * spends the anchor and conflicts with the original), the same payouts as replacements of their
 * committed nonces, the extra fee taken from the change. Stored as a draft; the worker signs it. */
static int bump_row(os_engine *e, int64_t old) {
    os_draft d;
    uint64_t old_fee = 0;
    int rc = os_ledger_tx_draft(e->ledger, old, &d, NULL, &old_fee);
    if (rc != OS_OK) return rc;
    uint8_t types[OS_MAX_INPUTS];
    size_t lens[OS_MAX_OUTPUTS];
    size_t change = SIZE_MAX;
    for (size_t i = 0; i < d.tx.n_inputs; i++) types[i] = d.in[i].script_type;
    for (size_t i = 0; i < d.tx.n_outputs; i++) {
        lens[i] = d.out[i].script_len;
        if (d.out[i].kind == OS_OUTPUT_CHANGE) change = i;
        if (d.out[i].kind == OS_OUTPUT_PAYOUT && !d.out[i].replace) {
            d.out[i].replace = 1;
            d.out[i].anchor = d.tx.inputs[0].prevout;
        }
    }
    uint64_t vsize = os_decide_vsize(types, d.tx.n_inputs, lens, d.tx.n_outputs, 0);
    uint64_t new_fee = os_decide_bump_fee(old_fee, vsize, fee_caps(e).rate);
    uint64_t extra = new_fee - old_fee;
    int64_t now = engine_now();
    if (change == SIZE_MAX || d.out[change].amount < extra + OS_DUST) {
        (void)os_ledger_tx_bump_impossible(e->ledger, old,
                                           "fee too low and no change to raise it from: an operator must bump it"
                                           " (a replacement spending the anchor)",
                                           now);
        os_draft_free(&d);
        return OS_ERR_FUNDS;
    }
    d.out[change].amount -= extra;
    int64_t row = 0;
    rc = os_ledger_tx_replacement_create(e->ledger, old, &d.tx, new_fee, NULL, 0, now, &row);
    if (rc == OS_OK) {
        os_log_field f[] = { OS_LOG_INT("tx", old), OS_LOG_INT("replacement", row), OS_LOG_INT("fee", (int64_t)new_fee) };
        os_log(OS_LOG_WARNING, "tx.fee_bump", f, 3, "transaction %lld refused for its fee: replacement %lld with fee %llu",
               (long long)old, (long long)row, (unsigned long long)new_fee);
    }
    os_draft_free(&d);
    return rc;
}

/* Builds the replacement of a transaction an input of which (not the anchor) a foreign transaction
 * spent (INPUT_LOST): input 0 is the same anchor, so the two conflict and at most one confirms (the
 * original cannot: its input is gone); the other inputs are chosen afresh from the spendable coins;
 * the same payouts as replacements of their committed nonces. The fee is the rate's for the new size
 * and no more: the original is in no mempool (its input's spend is confirmations_final deep, and a node
 * drops a transaction a block conflicts with), so there is nothing for BIP125 to outbid.
 * Stored as a draft; the worker signs it. Returns: OS_OK (stored); OS_ERR_FUNDS (the anchor and the
 * spendable coins cannot cover it: the payouts wait, logged once); OS_ERR_BUSY (a chosen coin was spent
 * outside oncesignd: it left the ledger, choose again); other failures. */
static int respend_row(os_engine *e, int64_t old) {
    os_draft d;
    int rc = os_ledger_tx_draft(e->ledger, old, &d, NULL, NULL);
    if (rc != OS_OK) return rc;
    os_fee_caps caps = fee_caps(e);
    uint8_t change_script[64];
    size_t change_len = 0, np = 0, nc = 0;
    os_ledger_coin *c = calloc(OS_MAX_INPUTS, sizeof *c);
    os_decide_coin dc[OS_MAX_INPUTS];
    os_decide_payout dp[OS_MAX_OUTPUTS];
    os_sign_output outs[OS_MAX_OUTPUTS];
    uint8_t take[OS_MAX_OUTPUTS];
    os_coin_choice choice = {0};
    memset(outs, 0, sizeof outs);
    rc = c ? derive_script(e, 1, 0, change_script, &change_len) : OS_ERR_IO;
    /* the anchor first: os_decide_coins takes its coins in the order given, so it is always input 0 */
    if (rc == OS_OK) rc = os_ledger_coin_by_outpoint(e->ledger, &d.tx.inputs[0].prevout, &c[0]);
    if (rc == OS_OK) {
        nc = 1;
        rc = os_ledger_coins_spendable(e->ledger, OS_MAX_INPUTS - 1, c + 1, &np);
        nc += np;
        np = 0;
    }
    for (size_t i = 0; rc == OS_OK && i < nc; i++) dc[i] = (os_decide_coin){c[i].amount, c[i].script_type};
    for (size_t i = 0; rc == OS_OK && i < d.tx.n_outputs; i++) {
        if (d.out[i].kind != OS_OUTPUT_PAYOUT) continue;
        outs[np] = d.out[i];
        outs[np].voucher = NULL;
        outs[np].replace = 1;       /* every payout of the original is committed with this anchor */
        outs[np].reanchor = 0;
        outs[np].anchor = d.tx.inputs[0].prevout;
        dp[np] = (os_decide_payout){outs[np].amount, outs[np].script_len};
        np++;
    }
    if (rc == OS_OK) rc = os_decide_coins(dp, np, dc, nc, &caps, change_len, take, &choice);
    if (rc == OS_OK && choice.n_taken != np) rc = OS_ERR_FUNDS;   /* all of them or none: they share the anchor */
    if (rc == OS_ERR_FUNDS && e->respend_short_row != old) {
        e->respend_short_row = old;
        uint64_t sum = 0;
        for (size_t i = 0; i < np; i++) sum += dp[i].amount;
        os_log_field f[] = { OS_LOG_INT("tx", old), OS_LOG_INT("payouts", (int64_t)np), OS_LOG_INT("amount", (int64_t)sum) };
        os_log(OS_LOG_WARNING, "payout.replacement_underfunded", f, 3, "transaction %lld lost an input: the replacement"
               " of its %zu payout(s) (%llu sat) on its anchor waits for coins the wallet does not have now (fund the"
               " hot wallet); never failed", (long long)old, np, (unsigned long long)sum);
    }
    /* the coins must still be the chain's: a spent one leaves the ledger and the choice is remade */
    for (size_t i = 1; rc == OS_OK && i < choice.n_coins; i++) {
        int still = coin_still_unspent(e, &c[i]);
        if (still < 0) rc = OS_ERR_RPC_TRANSPORT;
        if (still == 0 && os_ledger_coin_spent_elsewhere(e->ledger, c[i].id) == OS_OK) {
            os_log_field f[] = { OS_LOG_INT("coin", c[i].id) };
            os_log(OS_LOG_WARNING, "wallet.coin_spent_outside", f, 1,
                   "coin %lld was spent outside oncesignd: it leaves the ledger", (long long)c[i].id);
            rc = OS_ERR_BUSY;
        }
    }
    os_sign_input in[OS_MAX_INPUTS];
    int64_t coin_ids[OS_MAX_INPUTS];
    memset(in, 0, sizeof in);
    for (size_t i = 0; rc == OS_OK && i < choice.n_coins; i++) {
        in[i] = (os_sign_input){.prevout = c[i].op, .sequence = RBF_SEQUENCE, .script_type = c[i].script_type,
                                .change = c[i].change, .addr_index = c[i].index, .prev_tx = c[i].prev,
                                .prev_tx_len = c[i].prev_len};
        coin_ids[i] = c[i].id;
    }
    if (rc == OS_OK) rc = os_sign_sort_payouts(outs, np);
    os_sign_tx tx = {.version = 2, .n_inputs = choice.n_coins, .n_outputs = np, .inputs = in, .outputs = outs};
    int64_t row = 0;
    if (rc == OS_OK) {
        os_ledger_lock(e->ledger);
        rc = os_ledger_begin(e->ledger);
        if (rc == OS_OK && choice.with_change) {
            os_sign_output *ch = &outs[np];
            char addr[OS_MAX_ADDRESS + 1];
            uint8_t script[64];
            size_t slen = 0;
            rc = next_address(e, 1, &ch->change_index, script, &slen, addr);
            if (rc == OS_OK && slen > sizeof ch->script) rc = OS_ERR_INTERNAL;
            if (rc == OS_OK) memcpy(ch->script, script, slen);
            ch->kind = OS_OUTPUT_CHANGE;
            ch->amount = choice.change;
            ch->change_script_type = e->signer_script_type;
            ch->script_len = (uint8_t)slen;
            tx.n_outputs = np + 1;
        }
        if (rc == OS_OK)
            rc = os_ledger_tx_replacement_create(e->ledger, old, &tx, choice.fee, coin_ids, choice.n_coins, engine_now(),
                                                 &row);
        if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
        else os_ledger_rollback(e->ledger);
        os_ledger_unlock(e->ledger);
    }
    if (rc == OS_OK) {
        e->respend_short_row = 0;
        os_log_field f[] = { OS_LOG_INT("tx", old), OS_LOG_INT("replacement", row), OS_LOG_INT("inputs", (int64_t)choice.n_coins),
                             OS_LOG_INT("fee", (int64_t)choice.fee) };
        os_log(OS_LOG_WARNING, "tx.input_replacement", f, 4, "transaction %lld lost an input: replacement %lld on the"
               " same anchor with %zu input(s), fee %llu", (long long)old, (long long)row, choice.n_coins,
               (unsigned long long)choice.fee);
    }
    os_ledger_coins_free(c, nc);
    free(c);
    os_draft_free(&d);
    return rc;
}

/* Applies what a failed signing session means (os_decide_sign_failure). */
static int apply_sign_failure(os_engine *e, int64_t row, const os_sign_tx *tx, int rc, int committed,
                              const os_sign_outcome *oc, const uint8_t root_after[32]) {
    char err[256] = "";
    os_msg_info info;
    switch (os_decide_sign_failure(rc, oc->committed, committed, draft_has_replacement(tx))) {
    case OS_SIGNFAIL_KEEP_COMMITTED:
        /* The signer committed but its signatures did not arrive: keep the leaves; the next pass asks
         * for them as a replacement of this same transaction. */
        (void)log_sync(e, &info, err, sizeof err);
        (void)store_committed(e, row, tx, root_after, 0, e->log_archived_seq);
        return rc;
    case OS_SIGNFAIL_MISMATCH:
        set_mismatch(e, "signing transaction %lld: %s (the signer's set is not the ledger's)", (long long)row,
                     os_status_name(rc));
        return OS_ERR_SIGNER_MISMATCH;
    case OS_SIGNFAIL_RETRY:
        return rc;
    case OS_SIGNFAIL_AWAIT_QUORUM:
        /* the refusal is in the signer's log: archive it, so log_seq is the one the signer has now */
        (void)log_sync(e, &info, err, sizeof err);
        {
            /* held again only when the ledger took it; otherwise the worker must not pick it at once */
            int held = engine_quorum_refused(e, row, rc, e->log_archived_seq);
            return held == OS_OK ? rc : held;
        }
    case OS_SIGNFAIL_ABANDON_BUMP: {
        __atomic_add_fetch(&e->m_sign_refused, 1, __ATOMIC_RELAXED);
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "tx.fee_bump_refused", f, 2, "the signer refused fee bump %lld: %s", (long long)row,
               os_status_name(rc));
        char why[128];
        snprintf(why, sizeof why, "fee bump refused by the signer: %s", os_status_name(rc));
        os_tx_event_data d = {.note = why};
        (void)tx_event(e, row, OS_TXEV_BUMP_REFUSED, &d);
        /* a replacement after a lost input is built again (NEXT_TO_RESPEND): not at once into the same
         * refusal, one signer log entry per round */
        e->respend_after_ms = engine_mono_ms() + e->cfg.operator_wait_ms;
        return rc;
    }
    case OS_SIGNFAIL_RELEASE:
    default: {
        __atomic_add_fetch(&e->m_sign_refused, 1, __ATOMIC_RELAXED);
        /* who refused: the signer, or the host's own checks before anything reached it */
        const char *who = oc->device_refused ? "signer" : "host";
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("by", who), OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "tx.refused", f, 3, "the %s refused transaction %lld before the signer committed: %s", who,
               (long long)row, os_status_name(rc));
        char why[128];
        snprintf(why, sizeof why, "%s refused: %s", who, os_status_message(rc));
        uint8_t refused[1][32];
        size_t n_refused = 0;
        /* ANCHOR_SPENT's index names an input (the anchor), not a payout */
        if (oc->index != 0xFFFF && oc->index < tx->n_outputs && tx->outputs[oc->index].kind == OS_OUTPUT_PAYOUT &&
            rc != OS_ERR_POLICY_VELOCITY && rc != OS_ERR_ANCHOR_SPENT) {
            memcpy(refused[0], tx->outputs[oc->index].nonce, 32);
            n_refused = 1;
        }
        os_tx_event_data d = {.note = why, .payout_error = why, .failed_nonces = (const uint8_t(*)[32])refused,
                              .n_failed = n_refused, .fail_all = os_decide_refusal_fails_all(rc)};
        (void)tx_event(e, row, OS_TXEV_REFUSED, &d);
        if (os_sign_anchored(tx) > 0 && draft_has_reanchor(tx)) {
            /* the payout goes back to awaiting_reanchor (its nonce is committed: the ledger never
             * requests it as new, never fails it); the operator is asked again later */
            e->reanchor_after_ms = engine_mono_ms() + e->cfg.operator_wait_ms;
            os_log_field f2[] = { OS_LOG_INT("tx", row), OS_LOG_STR("status", os_status_name(rc)),
                                  OS_LOG_INT("retry_ms", e->cfg.operator_wait_ms) };
            os_log(OS_LOG_WARNING, "payout.reanchor_refused", f2, 3, "the re-anchor in transaction %lld was not signed"
                   " (%s): its payout awaits a re-anchor again, asked again in %u ms", (long long)row,
                   os_status_name(rc), e->cfg.operator_wait_ms);
        }
        return rc;
    }
    }
}

/* Signs the stored draft of row (as new, or, when the signer already committed it, as a replacement of
 * the identical transaction). sign_mu held. */
static int sign_row(os_engine *e, int64_t row) {
    os_draft d;
    int committed = 0;
    int rc = os_ledger_tx_draft(e->ledger, row, &d, &committed, NULL);
    if (rc != OS_OK) return rc;

    /* Fail closed (I6): the signer's root must be the ledger tree's before anything is signed. */
    char err[256] = "";
    os_msg_info info;
    rc = device_info(e, &info);
    /* A recovering ledger signs only its sweep, which carries no payout and so no nonce: the root it
     * cannot explain is not involved (engine_recovery.c). */
    if (rc == OS_OK && !engine_recovering(e)) {
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (memcmp(root, info.nonce_root, 32) != 0 || info.log_seq != e->log_archived_seq) {
            rc = signer_check(e, err, sizeof err);
            if (rc == OS_OK) {
                /* settled a commit we did not know of: reread the row */
                os_draft_free(&d);
                return OS_ERR_BUSY;
            }
        }
    }
    if (rc != OS_OK) {
        os_draft_free(&d);
        return rc;
    }

    os_sign_tx tx = d.tx;
    os_sign_output *outs = d.out;
    uint8_t was_new[OS_MAX_OUTPUTS] = {0};
    /* Committed already (its signatures were lost): every payout is now anchored at input 0, new and
     * re-anchored alike, and the same transaction is asked for again as their replacement. */
    uint8_t was_reanchor[OS_MAX_OUTPUTS] = {0};
    if (committed)
        for (size_t i = 0; i < tx.n_outputs; i++)
            if (outs[i].kind == OS_OUTPUT_PAYOUT && (!outs[i].replace || outs[i].reanchor)) {
                was_new[i] = 1;
                was_reanchor[i] = outs[i].reanchor;
                outs[i].replace = 1;
                outs[i].reanchor = 0;
                outs[i].anchor = tx.inputs[0].prevout;
            }
    os_input_sig *sigs = calloc(tx.n_inputs, sizeof *sigs);
    if (!sigs) {
        os_draft_free(&d);
        return OS_ERR_IO;
    }
    /* Each new payout goes with the voucher its code or withdrawal came with (PROTOCOL.md §2.7);
     * replacements take none (the committed leaf binds them). */
    os_voucher *vouchers = calloc(tx.n_outputs, sizeof *vouchers);
    if (!vouchers) {
        free(sigs);
        os_draft_free(&d);
        return OS_ERR_IO;
    }
    for (size_t i = 0; i < tx.n_outputs; i++) {
        if (outs[i].kind != OS_OUTPUT_PAYOUT || outs[i].replace || outs[i].reanchor) continue;
        int vrc = os_ledger_voucher_get(e->ledger, outs[i].nonce, &vouchers[i]);
        if (vrc == OS_OK) outs[i].voucher = &vouchers[i];
        else if (vrc != OS_ERR_NOT_FOUND) {
            free(vouchers);
            free(sigs);
            os_draft_free(&d);
            return vrc;
        }
    }
    /* Above the threshold the signer needs k approvals: without them the draft is held, never sent. */
    os_approval approvals[OS_MAX_OPERATORS];
    size_t n_approvals = 0;
    rc = engine_quorum_gather(e, row, &tx, info.log_seq, approvals, &n_approvals);
    if (rc != OS_OK) {
        free(vouchers);
        free(sigs);
        os_draft_free(&d);
        return rc;
    }
    tx.approvals = approvals;
    tx.n_approvals = n_approvals;
    uint8_t root_after[32];
    os_sign_outcome oc;
    pending_ctx pc = {e, row};
    os_client_set_operator_timeout(e->client, (int)e->cfg.operator_wait_ms);
    rc = os_sign_run(e->client, e->tree, &tx, sigs, &oc, on_pending, &pc);
    for (size_t i = 0; i < tx.n_outputs; i++) outs[i].voucher = NULL;
    free(vouchers);
    pthread_mutex_lock(&e->mu);
    int operator_was_asked = e->operator_waiting;
    e->operator_waiting = 0;
    pthread_mutex_unlock(&e->mu);
    if (rc == OS_ERR_TIMEOUT && operator_was_asked) {
        /* The operator did not decide in time: the session was cancelled (nothing committed) and the
         * draft stays awaiting_approval; the others go first (issue 9, defect 5). */
        e->operator_aside_row = row;
        e->operator_aside_until_ms = engine_mono_ms() + e->cfg.operator_wait_ms;
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_INT("operator_wait_ms", e->cfg.operator_wait_ms) };
        os_log(OS_LOG_WARNING, "tx.operator_timeout", f, 2, "transaction %lld steps aside: the operator did not decide"
               " within %u ms; the other payouts go on, and the signer asks again in %u ms",
               (long long)row, e->cfg.operator_wait_ms, e->cfg.operator_wait_ms);
    }
    nonce_tree_root(e->tree, root_after);
    /* The stored draft's own view (new vs replace) decides which leaves it added. */
    for (size_t i = 0; i < tx.n_outputs; i++)
        if (was_new[i]) {
            outs[i].replace = 0;
            outs[i].reanchor = was_reanchor[i];
        }
    if (rc == OS_OK) {
        engine_crash_point(e, "after-sign-commit");
        uint8_t *raw = malloc(1u << 20);
        size_t raw_len = 0, bad = 0, n_leaves = 0, n_payouts = 0;
        uint8_t txid[32];
        os_ledger_leaf leaves[TX_LEAVES_MAX];
        rc = raw ? os_sign_serialize(&tx, sigs, raw, 1u << 20, &raw_len, txid) : OS_ERR_IO;
        if (rc == OS_OK && os_sign_verify(&tx, sigs, &bad) != OS_OK) rc = OS_ERR_CRYPTO;
        if (rc == OS_OK) rc = tx_leaves(&tx, leaves, &n_leaves, &n_payouts);
        if (rc == OS_OK) {
            /* stored before the first broadcast (I3) */
            os_tx_event_data ev = {.note = "", .raw = raw, .raw_len = raw_len, .txid = txid, .root_after = root_after,
                                   .log_seq = oc.log_seq, .leaves = leaves, .n_leaves = n_leaves};
            rc = tx_event(e, row, OS_TXEV_SIGNED, &ev);
        }
        free(raw);
        if (rc == OS_OK) {
            __atomic_add_fetch(&e->m_tx_signed, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&e->m_payouts_signed, n_payouts, __ATOMIC_RELAXED);
            engine_crash_point(e, "after-signed-stored");
            (void)log_sync(e, &info, err, sizeof err);
        }
    } else {
        rc = apply_sign_failure(e, row, &tx, rc, committed, &oc, root_after);
    }
    free(sigs);
    os_draft_free(&d);
    return rc;
}

/* ------------------------------------------------------------------ broadcast and the node's view */

/* Sends the stored raw transaction; never rolls anything back (I3). */
static void broadcast_row(os_engine *e, int64_t row) {
    if (!e->rpc) return;
    uint8_t *raw = NULL, txid[32];
    size_t len = 0;
    if (os_ledger_tx_raw(e->ledger, row, &raw, &len, txid) != OS_OK) return;
    os_broadcast_result br;
    pthread_mutex_lock(&e->rpc_mu);
    os_rpc_sendrawtransaction(e->rpc, raw, len, &br);
    pthread_mutex_unlock(&e->rpc_mu);
    free(raw);
    pthread_mutex_lock(&e->mu);
    e->node_ok = br.error.status != OS_ERR_RPC_TRANSPORT;
    e->recon_work = 1;
    pthread_mutex_unlock(&e->mu);
    char msg[200];
    snprintf(msg, sizeof msg, "%d %.180s", br.error.code, br.error.message);
    uint64_t *counter = br.cls == OS_BROADCAST_SENT       ? &e->m_bc_sent
                        : br.cls == OS_BROADCAST_UNKNOWN  ? &e->m_bc_unknown
                        : br.cls == OS_BROADCAST_NOT_SENT ? &e->m_bc_not_sent
                                                          : &e->m_bc_check_chain;
    __atomic_add_fetch(counter, 1, __ATOMIC_RELAXED);
    os_tx_event ev = os_decide_broadcast(&br);
    if (ev == OS_TXEV_SENT) engine_crash_point(e, "after-broadcast-sent");
    if (br.cls == OS_BROADCAST_UNKNOWN) engine_crash_point(e, "after-broadcast-unknown");
    os_tx_event_data d = {.note = ev == OS_TXEV_SENT ? "" : msg};
    (void)tx_event(e, row, ev, &d);
    /* the worker builds a replacement with a higher fee, spending the same anchor */
    if (ev == OS_TXEV_FEE_TOO_LOW) engine_wake_worker(e);
}

/* Adds the outputs of our own signed transaction that pay the change chain as coins. */
static void add_change_coins(os_engine *e, int64_t row, uint64_t height) {
    uint8_t *raw = NULL, txid[32];
    size_t len = 0;
    if (os_ledger_tx_raw(e->ledger, row, &raw, &len, txid) != OS_OK) return;
    os_draft d;
    if (os_ledger_tx_draft(e->ledger, row, &d, NULL, NULL) == OS_OK) {
        for (size_t i = 0; i < d.tx.n_outputs; i++) {
            const os_sign_output *o = &d.out[i];
            if (o->kind != OS_OUTPUT_CHANGE) continue;
            os_ledger_new_coin c = {.amount = o->amount, .script = o->script, .script_len = o->script_len,
                                    .script_type = e->signer_script_type, .change = 1, .index = o->change_index,
                                    .prev = raw, .prev_len = len, .height = height};
            memcpy(c.op.txid, txid, 32);
            c.op.vout = (uint32_t)i;
            (void)os_ledger_coin_add(e->ledger, &c);
        }
        os_draft_free(&d);
    }
    free(raw);
}

/* What the reconciler found of a transaction's inputs: its anchor, and the others a block spent. */
typedef struct {
    os_outpoint anchor;
    os_outpoint lost[OS_MAX_INPUTS];        /* inputs other than the anchor spent in a block */
    uint64_t lost_parent_height[OS_MAX_INPUTS];
    size_t n_lost;
} recon_inputs;

/* The node's view of a transaction's inputs: all unspent (mempool included), and which are provably
 * spent in a block. Returns OS_OK or the node's failure (decide later). */
static int observe_inputs(os_engine *e, int64_t row, os_recon_view *v, recon_inputs *ri) {
    os_draft d;
    int rc = os_ledger_tx_draft(e->ledger, row, &d, NULL, NULL);
    if (rc != OS_OK) return rc;
    ri->anchor = d.in[0].prevout;
    ri->n_lost = 0;
    v->inputs_asked = 1;
    v->all_inputs_unspent = 1;
    os_rpc_error er;
    for (size_t i = 0; rc == OS_OK && i < d.tx.n_inputs; i++) {
        int unspent = 0;
        uint64_t amount = 0;
        uint32_t conf = 0;
        pthread_mutex_lock(&e->rpc_mu);
        rc = os_rpc_gettxout(e->rpc, &d.in[i].prevout, 1, &unspent, &amount, &conf, &er);
        if (rc == OS_OK && !unspent) {
            /* Provably spent on chain only when the coin's own transaction is in a block and the chain's
             * UTXO set no longer has the output; a coin whose parent is merely missing from the mempool
             * (evicted, not yet rebroadcast) proves nothing. */
            int in_chain_unspent = 1;
            os_rpc_txstatus parent;
            if (os_rpc_gettxout(e->rpc, &d.in[i].prevout, 0, &in_chain_unspent, &amount, &conf, &er) == OS_OK &&
                !in_chain_unspent &&
                os_rpc_get_transaction(e->rpc, d.in[i].prevout.txid, &parent, NULL, NULL, &er) == OS_OK &&
                parent.found && parent.confirmations >= 1) {
                v->input_spent_in_chain = 1;
                if (i == 0) {
                    v->anchor_spent_in_chain = 1;   /* input 0 is the anchor of its payouts */
                } else {
                    ri->lost[ri->n_lost] = d.in[i].prevout;
                    ri->lost_parent_height[ri->n_lost++] = parent.block_height;
                }
            }
        }
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc == OS_OK && !unspent) v->all_inputs_unspent = 0;
    }
    if (rc == OS_OK) rc = os_ledger_tx_has_live_replacement(e->ledger, row, &v->live_replacement);
    if (rc == OS_OK) rc = os_ledger_tx_needs_bump(e->ledger, row, &v->needs_bump);
    if (rc == OS_OK) rc = os_ledger_tx_input_lost(e->ledger, row, &v->input_lost_recorded);
    os_draft_free(&d);
    return rc;
}

typedef struct {
    const os_outpoint *op;
    uint8_t spender[32];
    int found;
} spender_ctx;

static int spender_match(void *ctx, const uint8_t *raw, size_t len, uint64_t height) {
    spender_ctx *c = ctx;
    (void)height;
    os_outpoint ops[OS_MAX_INPUTS];
    size_t n = 0;
    uint64_t amount;
    const uint8_t *script;
    size_t slen;
    if (engine_raw_inputs(raw, len, ops, OS_MAX_INPUTS, &n) != OS_OK) return 0;
    for (size_t i = 0; i < n; i++)
        if (ops[i].vout == c->op->vout && memcmp(ops[i].txid, c->op->txid, 32) == 0) {
            c->found = psbt_tx_output(raw, len, 0, c->spender, &amount, &script, &slen) == OS_OK;
            return c->found;
        }
    return 0;
}

/* The txid of the transaction that spent op, for the operator's log: searched in the blocks from its
 * parent's (at most SPENDER_SCAN_BLOCKS back from the tip) on. Returns 1 found, 0 not (the node did not
 * answer, or it is further back). rpc_mu not held. */
#define SPENDER_SCAN_BLOCKS 144
static int find_spender(os_engine *e, const os_outpoint *op, uint64_t parent_height, uint8_t spender[32]) {
    uint64_t from = e->recon_height > SPENDER_SCAN_BLOCKS ? e->recon_height - SPENDER_SCAN_BLOCKS : 0, tip = 0;
    if (parent_height > from) from = parent_height;
    size_t unread = 0;
    spender_ctx c = {.op = op};
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = os_rpc_scan_transactions(e->rpc, from, &tip, &unread, spender_match, &c, &er);
    pthread_mutex_unlock(&e->rpc_mu);
    if (rc != OS_OK || !c.found) return 0;
    memcpy(spender, c.spender, 32);
    return 1;
}

/* Whether another signed transaction of ours spending the same anchor is confirmed on chain (it
 * carries the payouts: a fee bump, or the original a bump replaced). */
static int observe_family(os_engine *e, int64_t row, const os_outpoint *anchor, os_recon_view *v) {
    uint8_t txids[16][32];
    size_t n = 0;
    int rc = os_ledger_tx_family_txids(e->ledger, row, anchor, txids, 16, &n);
    v->family_asked = 1;
    v->family_confirmed = 0;
    for (size_t i = 0; rc == OS_OK && i < n && !v->family_confirmed; i++) {
        os_rpc_txstatus ts;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        rc = os_rpc_get_transaction(e->rpc, txids[i], &ts, NULL, NULL, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc == OS_OK && ts.found && ts.confirmations >= 1) v->family_confirmed = 1;
    }
    return rc;
}

/* Says, the first time it is seen, which input of row a foreign transaction spent in a block. */
static void log_spent_elsewhere(os_engine *e, int64_t row, const recon_inputs *ri, int anchor) {
    if (anchor) {
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_INT("height", (int64_t)e->recon_height) };
        os_log(OS_LOG_WARNING, "tx.anchor_spent_elsewhere", f, 2, "transaction %lld: its anchor was spent in a block"
               " by a transaction that is not ours; its payouts wait %u confirmations before re-anchoring",
               (long long)row, e->cfg.confirmations_final);
        return;
    }
    for (size_t k = 0; k < ri->n_lost; k++) {
        char coin[80], spender_hex[65] = "unknown";
        uint8_t spender[32];
        os_txid_to_hex(ri->lost[k].txid, coin);
        snprintf(coin + 64, sizeof coin - 64, ":%u", (unsigned)ri->lost[k].vout);
        if (find_spender(e, &ri->lost[k], ri->lost_parent_height[k], spender)) os_txid_to_hex(spender, spender_hex);
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("coin", coin), OS_LOG_STR("spender", spender_hex),
                             OS_LOG_INT("height", (int64_t)e->recon_height) };
        os_log(OS_LOG_WARNING, "tx.input_spent_elsewhere", f, 4, "transaction %lld: its input %s was spent in a block"
               " by %s, a transaction that is not ours; it can never confirm, and once that spend is %u deep its"
               " payouts are paid by a replacement on the same anchor", (long long)row, coin, spender_hex,
               e->cfg.confirmations_final);
    }
}

/* Whether row's input, seen spent in a block by a foreign transaction now (spent) or not, has been
 * spent for confirmations_final blocks: the height it was first seen spent is kept until then.
 * recon_mu held. */
static int input_spent_deep(os_engine *e, int64_t row, int spent, const recon_inputs *ri, int anchor) {
    size_t i;
    for (i = 0; i < e->n_input_spent && e->input_spent[i].row != row; i++) {}
    if (!spent) {
        /* unspent again (a reorg), or settled: the wait starts over when it is spent again */
        if (i < e->n_input_spent) e->input_spent[i] = e->input_spent[--e->n_input_spent];
        return 0;
    }
    if (i == e->n_input_spent) {
        size_t cap = sizeof e->input_spent / sizeof e->input_spent[0];
        if (e->n_input_spent < cap) i = e->n_input_spent++;
        else i = e->next_input_slot++ % cap;   /* full: the evicted row's wait starts over */
        e->input_spent[i].row = row;
        e->input_spent[i].height = e->recon_height;
        log_spent_elsewhere(e, row, ri, anchor);
    }
    uint64_t first = e->input_spent[i].height;
    return e->recon_height + 1 >= first + e->cfg.confirmations_final;
}

/* Asks the node about one of our signed transactions, decides, applies. rpc_mu not held. */
static void reconcile_row(os_engine *e, const os_ledger_tx_ref *ref) {
    uint8_t *raw = NULL, txid[32];
    size_t len = 0;
    if (os_ledger_tx_raw(e->ledger, ref->row, &raw, &len, txid) != OS_OK) return;
    free(raw);
    os_rpc_txstatus ts;
    os_rpc_error er;
    pthread_mutex_lock(&e->rpc_mu);
    int rc = os_rpc_get_transaction(e->rpc, txid, &ts, NULL, NULL, &er);
    pthread_mutex_unlock(&e->rpc_mu);
    if (rc != OS_OK) return; /* the node is unreachable: ask again later */
    os_recon_view v = {.state = ref->state, .stored_confirmations = ref->confirmations, .found = ts.found,
                       .confirmations = ts.confirmations};
    recon_inputs *ri = calloc(1, sizeof *ri);
    if (!ri) return;
    for (;;) {
        os_recon_action a = os_decide_reconcile(&v);
        os_tx_event_data d = {0};
        switch (a) {
        case OS_RECON_ASK_INPUTS:
            if (observe_inputs(e, ref->row, &v, ri) != OS_OK) break;
            continue;
        case OS_RECON_ASK_FAMILY: {
            if (observe_family(e, ref->row, &ri->anchor, &v) != OS_OK) break;
            /* once the lost input is recorded, the wait is over (a restart does not start it again) */
            int waiting = v.input_spent_in_chain && !v.family_confirmed && !v.input_lost_recorded;
            v.spent_deep = input_spent_deep(e, ref->row, waiting, ri, v.anchor_spent_in_chain) || v.input_lost_recorded;
            continue;
        }
        case OS_RECON_INPUT_LOST: {
            /* a recovering ledger lacks the transactions signed after its backup: the recovery
             * decides what the payouts of this one become */
            if (engine_recovering(e)) break;
            /* Conclusive: this transaction can never confirm, but its anchor is still ours. The spent
             * coins leave the ledger; the worker pays the payouts by a replacement spending the anchor
             * (NEXT_TO_RESPEND), so at most one of the two can confirm. Never failed: their nonces are
             * committed, and a failed payout of a committed nonce could never be paid. */
            d.note = "an input was spent on chain by a foreign transaction: this transaction can never confirm;"
                     " its payouts go in a replacement on the same anchor";
            d.lost = ri->lost;
            d.n_lost = ri->n_lost;
            if (tx_event(e, ref->row, OS_TXEV_INPUT_LOST, &d) == OS_OK) {
                __atomic_add_fetch(&e->m_inputs_lost, 1, __ATOMIC_RELAXED);
                (void)input_spent_deep(e, ref->row, 0, ri, 0);
                os_log_field f[] = { OS_LOG_INT("tx", ref->row), OS_LOG_INT("lost_inputs", (int64_t)ri->n_lost) };
                os_log(OS_LOG_WARNING, "tx.input_lost", f, 2, "transaction %lld can never confirm: %zu of its inputs"
                       " were spent elsewhere %u blocks deep and left the ledger; its payouts go in a replacement on"
                       " the same anchor (never paid twice)", (long long)ref->row, ri->n_lost,
                       e->cfg.confirmations_final);
                engine_wake_worker(e);
            }
            break;
        }
        case OS_RECON_ANCHOR_LOST: {
            /* Conclusive: no transaction of these payouts can confirm. They are kept, never failed:
             * only a re-anchor on the signer (the operator approves) can pay them now. */
            char why[200];
            snprintf(why, sizeof why, "its anchor was spent on chain by a foreign transaction (%u confirmations):"
                                      " waiting to be re-anchored, with the operator's approval on the signer",
                     e->cfg.confirmations_final);
            d.note = why;
            d.payout_error = why;
            if (tx_event(e, ref->row, OS_TXEV_ANCHOR_LOST, &d) == OS_OK) {
                __atomic_add_fetch(&e->m_anchor_lost, 1, __ATOMIC_RELAXED);
                (void)input_spent_deep(e, ref->row, 0, ri, 1);
                os_log_field f[] = { OS_LOG_INT("tx", ref->row) };
                os_log(OS_LOG_ERROR, "payout.awaiting_reanchor", f, 1, "transaction %lld can never confirm: its"
                       " anchor was spent elsewhere; its payouts wait to be re-anchored (never paid twice)",
                       (long long)ref->row);
            }
            break;
        }
        case OS_RECON_CONFIRMED:
            d.note = "";
            d.confirmations = ts.confirmations;
            d.block_height = ts.block_height;
            if (tx_event(e, ref->row, OS_TXEV_CONFIRMED, &d) == OS_OK && ref->state != OS_TX_CONFIRMED) {
                engine_crash_point(e, "after-confirmed");
                add_change_coins(e, ref->row, ts.block_height);
            }
            break;
        case OS_RECON_SEEN:
            if (ref->state == OS_TX_SIGNED) {
                d.note = "";
                (void)tx_event(e, ref->row, OS_TXEV_SEEN, &d);
            }
            add_change_coins(e, ref->row, 0);
            break;
        case OS_RECON_REBROADCAST:
            broadcast_row(e, ref->row);
            break;
        case OS_RECON_REPLACED_BY_OURS:
            d.note = "replaced by a confirmed transaction of ours";
            (void)tx_event(e, ref->row, OS_TXEV_REPLACED_BY_OURS, &d);
            break;
        case OS_RECON_WAIT:
        case OS_RECON_NOTHING:
        default:
            break;
        }
        break;   /* decided (a continue asks again) */
    }
    free(ri);
}

/* Settles every draft whose family has a confirmed member (a fee bump or respend held for the
 * operators' approvals or the operator's press when the original confirmed): it spends the same
 * anchor, so it can never confirm, and signing it would only add a signature and a log entry for a
 * transaction the node rejects. SUPERSEDED applies once per draft, so it is logged once; run on every
 * pass, it also settles what a crash between the confirmation and here left behind. recon_mu held. */
static void settle_superseded(os_engine *e) {
    os_ledger_superseded *sup = NULL;
    size_t n = 0, settled = 0;
    if (os_ledger_txs_superseded(e->ledger, &sup, &n) != OS_OK || n == 0) {
        free(sup);
        return; /* asked again next pass */
    }
    /* never under a signing session: one that committed a draft must store what it signed, so a draft
     * is settled only while no session runs (a busy signer: next pass); trylock, as the worker may
     * hold sign_mu while it waits for recon_mu elsewhere */
    if (pthread_mutex_trylock(&e->sign_mu) != 0) {
        free(sup);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char note[96];
        snprintf(note, sizeof note, "superseded: transaction %lld of the same anchor confirmed", (long long)sup[i].sibling);
        os_tx_event_data d = {.note = note, .sibling = sup[i].sibling};
        if (tx_event(e, sup[i].row, OS_TXEV_SUPERSEDED, &d) != OS_OK) continue;
        settled++;
        os_log_field f[] = { OS_LOG_INT("tx", sup[i].row), OS_LOG_INT("sibling", sup[i].sibling) };
        os_log(OS_LOG_INFO, "tx.superseded", f, 2, "transaction %lld is settled unsigned: transaction %lld, spending the"
               " same anchor, confirmed and paid its payouts; its approvals are dropped and the coins only it held are"
               " spendable again", (long long)sup[i].row, (long long)sup[i].sibling);
    }
    pthread_mutex_unlock(&e->sign_mu);
    free(sup);
    if (settled) engine_wake_worker(e);
}

static int reconcile_pass(os_engine *e, int forced) {
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
    int work = e->recon_work;
    pthread_mutex_unlock(&e->mu);
    if (rc != OS_OK) {
        pthread_mutex_unlock(&e->recon_mu);
        return OS_ERR_RPC_TRANSPORT;
    }
    /* Before the signer first answered, the wallet's account is unknown: coins cannot be recognised. */
    if (!account_known(e)) {
        pthread_mutex_unlock(&e->recon_mu);
        return OS_OK;
    }
    int64_t now = engine_mono_ms();
    /* Idle: no new block, nothing signed or sent, not yet time to recheck: ask nothing (defect 8). */
    if (!os_decide_reconcile_due(height, e->recon_height, now, e->recon_last_ms, RECONCILE_RECHECK_MS, work, forced)) {
        pthread_mutex_unlock(&e->recon_mu);
        return OS_OK;
    }
    pthread_mutex_lock(&e->mu);
    e->recon_work = 0;
    pthread_mutex_unlock(&e->mu);
    e->recon_height = height;
    e->recon_last_ms = now;
    __atomic_add_fetch(&e->m_recon_passes, 1, __ATOMIC_RELAXED);
    wallet_sync(e);
    os_ledger_tx_ref *refs = NULL;
    size_t n = 0;
    if (os_ledger_txs_unsettled(e->ledger, e->cfg.confirmations_final, &refs, &n) == OS_OK)
        for (size_t i = 0; i < n; i++) reconcile_row(e, &refs[i]);
    free(refs);
    settle_superseded(e);
    pthread_mutex_unlock(&e->recon_mu);
    return OS_OK;
}

int os_engine_reconcile_now(os_engine *e) {
    if (!e) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    return reconcile_pass(e, 1);
}

/* ------------------------------------------------------------------ threads */

/* One round of the worker. Returns 1 when it did something (run again at once). */
static int worker_round(os_engine *e) {
    if (mismatch(e) || !signer_checked(e)) return 0;
    /* a restored ledger signs nothing of its own until its recovery ended (docs/RECOVERY.md) */
    if (engine_recovering(e)) return engine_recovery_step(e);
    int64_t row = 0;
    /* 1. drafts left in signing (a crash, a lost answer) are signed first, oldest first; then one the
     *    operator was asked about, unless it stepped aside a moment ago */
    int draft = os_ledger_tx_next(e->ledger, OS_LEDGER_NEXT_TO_SIGN, &row) == OS_OK && row;
    if (!draft && os_ledger_tx_next(e->ledger, OS_LEDGER_NEXT_AWAITING, &row) == OS_OK && row)
        draft = row != e->operator_aside_row || engine_mono_ms() >= e->operator_aside_until_ms;
    if (draft) {
        pthread_mutex_lock(&e->sign_mu);
        int rc = sign_row(e, row);
        pthread_mutex_unlock(&e->sign_mu);
        if (rc == OS_OK) {
            broadcast_row(e, row);
            return 1;
        }
        /* a draft now held for approvals (or whose approvals were refused) is passed by from now on:
         * the other payouts go on at once */
        return rc == OS_ERR_BUSY || os_decide_sign_failure(rc, 0, 0, 0) == OS_SIGNFAIL_AWAIT_QUORUM;
    }
    /* 2. a signed transaction the node refused for its fee: build its replacement */
    if (os_ledger_tx_next(e->ledger, OS_LEDGER_NEXT_TO_BUMP, &row) == OS_OK && row) {
        pthread_mutex_lock(&e->sign_mu);
        int rc = bump_row(e, row);
        pthread_mutex_unlock(&e->sign_mu);
        return rc == OS_OK;
    }
    /* 2a. a transaction an input of which was spent elsewhere: its replacement on the same anchor
     *     (unless the signer refused one a moment ago); without the coins for it, the payouts wait */
    if (engine_mono_ms() >= e->respend_after_ms && os_ledger_tx_next(e->ledger, OS_LEDGER_NEXT_TO_RESPEND, &row) == OS_OK &&
        row) {
        pthread_mutex_lock(&e->sign_mu);
        int rc = respend_row(e, row);
        pthread_mutex_unlock(&e->sign_mu);
        if (rc == OS_OK || rc == OS_ERR_BUSY) return 1;
    }
    /* 2b. signed but never offered to the node */
    if (e->rpc && os_ledger_tx_next(e->ledger, OS_LEDGER_NEXT_UNSENT, &row) == OS_OK && row) {
        broadcast_row(e, row);
        return 1;
    }
    /* 2c. a payout whose anchor was spent elsewhere: its re-anchor (build_draft takes it first, alone),
     *     unless it was refused or could not be funded a moment ago */
    uint64_t stuck = 0;
    if (engine_mono_ms() >= e->reanchor_after_ms &&
        os_ledger_payouts_count(e->ledger, OS_PAYOUT_AWAITING_REANCHOR, &stuck) == OS_OK && stuck) {
        int64_t tx_row = 0;
        if (build_draft(e, &tx_row) == OS_OK && tx_row) return 1;
    }
    /* 3. a new batch, once it is full or the oldest waited batch_delay_ms */
    uint64_t waiting = 0;
    if (os_ledger_payouts_count(e->ledger, OS_PAYOUT_REQUESTED, &waiting) != OS_OK) return 0;
    if (!waiting) {
        e->batch_wait_since_ms = 0;
        pthread_mutex_lock(&e->mu);
        e->payouts_aside = 0;
        pthread_mutex_unlock(&e->mu);
        return 0;
    }
    int64_t now = engine_mono_ms();
    if (!e->batch_wait_since_ms) e->batch_wait_since_ms = now;
    if (waiting < e->cfg.batch_max && now - e->batch_wait_since_ms < (int64_t)e->cfg.batch_delay_ms) return 0;
    int64_t tx_row = 0;
    int rc = build_draft(e, &tx_row);
    e->batch_wait_since_ms = 0;
    pthread_mutex_lock(&e->mu);
    int was_short = e->funds_short;
    e->funds_short = rc == OS_ERR_FUNDS;
    if (rc == OS_ERR_FUNDS) e->payouts_aside = waiting;
    pthread_mutex_unlock(&e->mu);
    if (rc == OS_ERR_FUNDS && !was_short) {
        os_log_field f[] = { OS_LOG_INT("waiting", (int64_t)waiting) };
        os_log(OS_LOG_WARNING, "wallet.underfunded", f, 1, "%llu payout(s) wait: the wallet's coins cannot cover any of"
               " them (fund %s)", (unsigned long long)waiting, "the hot wallet");
    }
    if (rc != OS_OK || !tx_row) return 0; /* OS_ERR_FUNDS: wait for coins */
    engine_crash_point(e, "after-draft");
    return 1;
}

static int stop_asked(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int stop = e->stopping;
    pthread_mutex_unlock(&e->mu);
    return stop;
}

static void *worker_main(void *arg) {
    os_engine *e = arg;
    while (!stop_asked(e)) {
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
    while (!stop_asked(e)) {
        (void)reconcile_pass(e, 0);
        /* sleep in short steps so stop is prompt */
        for (uint32_t t = 0; t < e->cfg.reconcile_interval_ms && !stop_asked(e); t += 50) usleep(50000);
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
    /* A signing session waiting for the operator's button would hold the stop until someone presses
     * it (issue 9, defect 5): cancel the wait. The draft stays awaiting_approval and the signer asks
     * again at the next start; nothing was committed. */
    if (e->operator_waiting && e->client) {
        os_log(OS_LOG_NOTICE, "signer.wait_cancelled", NULL, 0, "stopping: the signer's wait for the operator is"
               " cancelled; it asks again at the next start");
        os_client_request_cancel(e->client);
    }
    pthread_mutex_unlock(&e->mu);
    if (!was) return;
    pthread_join(e->worker, NULL);
    if (e->rpc) pthread_join(e->reconciler, NULL);
}

/* ------------------------------------------------------------------ tree rebuild, external signing */

int os_engine_rebuild_tree(os_engine *e, size_t *n_leaves, char *err, size_t cap) {
    if (!e || !n_leaves) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    pthread_mutex_lock(&e->sign_mu);
    os_msg_info info;
    int rc = log_sync(e, &info, err, cap);
    nonce_tree *t = NULL;
    if (rc == OS_OK) rc = nonce_tree_create(&t);
    /* What the ledger records of the tree is rewritten in the same transaction as the replay: all of it
     * is stored, or none (the caller is told which). */
    os_ledger_lock(e->ledger);
    int in_txn = rc == OS_OK && os_ledger_begin(e->ledger) == OS_OK;
    if (rc == OS_OK && !in_txn) rc = OS_ERR_DB;
    if (rc == OS_OK) rc = os_ledger_tree_forget(e->ledger);
    nonce_tree *saved = e->tree;
    e->tree = t;
    uint64_t last = 0, reset = 0;
    /* the set the signer holds began at its newest NONCE_RESET (empty), or at setup */
    if (rc == OS_OK) rc = engine_newest_reset(e, 0, &reset);
    if (rc == OS_OK) rc = replay_log(e, reset, REPLAY_REBUILD, &last, err, cap);
    if (rc == OS_ERR_NOT_FOUND) rc = OS_ERR_SIGNER_MISMATCH;
    e->tree = saved;
    if (rc == OS_OK) {
        uint8_t root[32];
        nonce_tree_root(t, root);
        if (memcmp(root, info.nonce_root, 32) != 0) {
            os_errf(err, cap, "the replayed log does not end at the signer's root");
            rc = OS_ERR_SIGNER_MISMATCH;
        }
    }
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(e->ledger, "tree_seq", last);
    if (in_txn) {
        if (rc == OS_OK)
            rc = os_ledger_commit(e->ledger);
        else
            os_ledger_rollback(e->ledger);
    }
    os_ledger_unlock(e->ledger);
    if (rc == OS_OK) {
        nonce_tree_free(e->tree);
        e->tree = t;
        *n_leaves = nonce_tree_count(t);
        pthread_mutex_lock(&e->mu);
        e->signer_mismatch = 0;
        /* the roots agree now; what the first check learnt before the mismatch (the account) stands */
        if (e->have_account) e->signer_checked = 1;
        pthread_mutex_unlock(&e->mu);
    } else {
        nonce_tree_free(t);
    }
    pthread_mutex_unlock(&e->sign_mu);
    return rc;
}

/* Stores the vouchers of an external transaction's new payouts the ledger does not hold yet; one the
 * ledger holds another voucher for is OS_ERR_VOUCHER_CONFLICT (the log would name a voucher the
 * ledger does not). */
static int external_vouchers_store(os_engine *e, const os_sign_tx *tx) {
    os_ledger_lock(e->ledger);
    int rc = os_ledger_begin(e->ledger);
    for (size_t i = 0; rc == OS_OK && i < tx->n_outputs; i++) {
        const os_voucher *v = tx->outputs[i].voucher;
        if (tx->outputs[i].kind != OS_OUTPUT_PAYOUT || tx->outputs[i].replace || v == NULL) continue;
        os_voucher held;
        uint8_t id[32], held_id[32];
        rc = os_ledger_voucher_get(e->ledger, v->nonce, &held);
        if (rc == OS_ERR_NOT_FOUND) {
            rc = os_ledger_voucher_put(e->ledger, v);
        } else if (rc == OS_OK) {
            rc = os_voucher_id(v, id);
            if (rc == OS_OK) rc = os_voucher_id(&held, held_id);
            if (rc == OS_OK && memcmp(id, held_id, 32) != 0) {
                char nonce[65];
                os_hex_encode(v->nonce, 32, nonce);
                os_log_field f[] = { OS_LOG_INT("output", (int64_t)i), OS_LOG_STR("nonce", nonce),
                                     OS_LOG_STR("status", os_status_name(OS_ERR_VOUCHER_CONFLICT)) };
                os_log(OS_LOG_WARNING, "psbt.voucher_conflict", f, 3,
                       "external transaction: output %zu's voucher is not the one the ledger holds for nonce %s: not signed",
                       i, nonce);
                rc = OS_ERR_VOUCHER_CONFLICT;
            }
        }
    }
    if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
    else os_ledger_rollback(e->ledger);
    os_ledger_unlock(e->ledger);
    return rc;
}

int os_engine_sign_external(os_engine *e, const os_sign_tx *tx, os_input_sig *sigs, os_sign_outcome *outcome) {
    if (!e || !tx || !sigs || !outcome) return OS_ERR_ARG;
    if (!e->device_attached) return OS_ERR_UNSUPPORTED;
    if (mismatch(e)) return OS_ERR_SIGNER_MISMATCH;
    /* The vouchers the payouts come with are the ledger's before the signer can log them (a
     * VOUCHERS entry), so `log verify --db` finds each one it names. */
    int rc = external_vouchers_store(e, tx);
    if (rc != OS_OK) return rc;
    /* The draft is stored first, like the worker's, so a crash mid-signing is explained at start. */
    int64_t row = 0;
    rc = os_ledger_tx_external_create(e->ledger, tx, engine_now(), &row);
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
        (void)store_committed(e, row, tx, after, 0, e->log_archived_seq);
    }
    pthread_mutex_unlock(&e->sign_mu);
    return rc;
}

/* ------------------------------------------------------------------ the operator's turn at the signer */

int os_engine_with_signer(os_engine *e, unsigned wait_ms, int (*fn)(void *ctx, os_client *c), void *ctx) {
    if (!e || !fn) return OS_ERR_ARG;
    pthread_mutex_lock(&e->mu);
    int attached = e->device_attached;
    pthread_mutex_unlock(&e->mu);
    if (!attached) return OS_ERR_SIGNER_UNAVAILABLE;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(wait_ms / 1000u);
    until.tv_nsec += (long)(wait_ms % 1000u) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_timedlock(&e->sign_mu, &until) != 0) return OS_ERR_BUSY;
    int rc = e->client != NULL ? fn(ctx, e->client) : OS_ERR_SIGNER_UNAVAILABLE;
    pthread_mutex_unlock(&e->sign_mu);
    return rc;
}

typedef struct {
    os_msg_info info;
    os_device_failure why;
} status_info_call;

static int status_info(void *ctx, os_client *c) {
    status_info_call *s = ctx;
    return os_device_info(c, DEVICE_TIMEOUT_MS, &s->info, &s->why);
}

int os_engine_status_get(os_engine *e, int with_signer, unsigned wait_ms, os_engine_status *st) {
    if (!e || !st) return OS_ERR_ARG;
    memset(st, 0, sizeof *st);
    int rc = os_ledger_payout_counts(e->ledger, st->counts);
    if (rc != OS_OK) return rc;
    st->ledger_ok = 1;
    st->payouts_pending = os_payouts_pending(st->counts);
    st->payouts_confirmed = st->counts[OS_PAYOUT_CONFIRMED];
    if (!with_signer) return OS_OK;
    status_info_call call;
    if ((rc = os_engine_with_signer(e, wait_ms, status_info, &call)) != OS_OK) return rc;
    st->with_signer = 1;
    memcpy(st->nonce_root, call.info.nonce_root, 32);
    memcpy(st->log_head, call.info.log_head, 32);
    st->log_seq = call.info.log_seq;
    pthread_mutex_lock(&e->mu);
    st->matches_ledger = !e->signer_mismatch;
    snprintf(st->mismatch, sizeof st->mismatch, "%s", e->signer_mismatch ? e->mismatch_reason : "");
    pthread_mutex_unlock(&e->mu);
    return OS_OK;
}

/* ------------------------------------------------------------------ what the recovery uses */

int engine_device_info(os_engine *e, os_msg_info *info) { return device_info(e, info); }

int engine_log_sync(os_engine *e, char *err, size_t cap) {
    os_msg_info info;
    return log_sync(e, &info, err, cap);
}

int engine_derive_script(os_engine *e, uint8_t change, uint32_t index, uint8_t *script, size_t *len) {
    return derive_script(e, change, index, script, len);
}

int engine_sign_row(os_engine *e, int64_t row) { return sign_row(e, row); }

void engine_broadcast_row(os_engine *e, int64_t row) { broadcast_row(e, row); }

void engine_wallet_sync(os_engine *e) { wallet_sync(e); }

uint64_t engine_fee_rate(os_engine *e) { return fee_caps(e).rate; }

int engine_next_change_address(os_engine *e, uint32_t *index, uint8_t script[64], size_t *script_len) {
    char address[OS_MAX_ADDRESS + 1];
    return next_address(e, 1, index, script, script_len, address);
}

int engine_tree_load(os_engine *e) { return tree_load(e); }

int engine_store_found(os_engine *e, int64_t row, const uint8_t *raw, size_t raw_len, const uint8_t txid[32],
                       const uint8_t *pl, uint64_t log_seq) {
    os_draft d;
    int rc = os_ledger_tx_draft(e->ledger, row, &d, NULL, NULL);
    if (rc != OS_OK) return rc;
    os_ledger_leaf leaves[TX_LEAVES_MAX];
    size_t n = 0;
    rc = tx_leaves(&d.tx, leaves, &n, NULL);
    if (rc == OS_OK) {
        os_tx_event_data ev = {.note = "", .raw = raw, .raw_len = raw_len, .txid = txid, .root_after = pl + 64,
                               .log_seq = log_seq, .leaves = leaves, .n_leaves = n};
        rc = tx_event(e, row, OS_TXEV_SIGNED, &ev);
    }
    os_draft_free(&d);
    return rc;
}

int engine_newest_reset(os_engine *e, uint64_t after, uint64_t *seq) {
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    uint64_t at = after, s = 0;
    *seq = 0;
    for (;;) {
        int rc = os_ledger_signer_log_next(e->ledger, at, &s, entry);
        if (rc == OS_ERR_NOT_FOUND) return OS_OK;
        if (rc != OS_OK) return rc;
        at = s;
        if (entry[AUDIT_LOG_OFF_TYPE] == OS_LOG_NONCE_RESET) *seq = s;
    }
}
