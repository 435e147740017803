/* oncesign host — the operators' quorum (k-of-n approvals, issue 14; docs/DESIGN.md §8 "Host flow").
 *
 * The signer's operator set comes from its own signed log (the newest archived OPERATORS entry), never
 * from configuration: one source of truth. A draft whose payouts total above the threshold
 * (os_quorum_required, the signer's own rule) is not sent to the signer until k stored, unexpired
 * approvals by distinct registered keys are held for its transaction digest; until then it is held in
 * AWAITING (its payouts awaiting_approval) with quorum_wait 1, which the worker passes by. An approval
 * posted through the API wakes it. Whatever the signer refuses of an approval is dropped and the
 * draft waits again: only an operator's reject on the device, or a cancel, fails payouts. */
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "crypto.h"
#include "draft.h"
#include "engine_internal.h"
#include "issuer.h"
#include "log.h"
#include "oncesign/status.h"
#include "voucher.h"

/* Enough for every registered key plus keys a former set registered (dropped as they are met). */
#define APPROVALS_SEEN_MAX 16

uint64_t engine_payout_total(const os_sign_tx *tx) {
    uint64_t sum = 0;
    for (size_t i = 0; tx && i < tx->n_outputs; i++)
        if (tx->outputs[i].kind == OS_OUTPUT_PAYOUT) sum += tx->outputs[i].amount;
    return sum;
}

static int registered(const os_operator_set *ops, const uint8_t key[32]) {
    for (size_t i = 0; i < ops->n; i++)
        if (memcmp(ops->keys[i], key, 32) == 0) return 1;
    return 0;
}

static void log_dropped(int64_t row, const os_approval *a, const char *event, const char *why) {
    char key[17];
    os_key_fingerprint(a->operator_key, key);
    os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("operator", key),
                         OS_LOG_INT("expiry_seq", (int64_t)a->expiry_seq) };
    os_log(OS_LOG_WARNING, event, f, 3, "transaction %lld: the approval of operator %s (expiry_seq %llu) is dropped: %s",
           (long long)row, key, (unsigned long long)a->expiry_seq, why);
}

/* The approvals of digest that would be sent now: registered keys, unexpired at log_seq, at most k.
 * With drop, the others leave the ledger (logged). Returns OS_OK (*n) or the ledger's failure. */
static int usable_approvals(os_engine *e, int64_t row, const uint8_t digest[32], const os_operator_set *ops,
                            uint64_t log_seq, int drop, os_approval out[OS_MAX_OPERATORS], size_t *n) {
    os_approval seen[APPROVALS_SEEN_MAX];
    size_t n_seen = 0;
    *n = 0;
    int rc = os_ledger_approvals_of(e->ledger, digest, seen, APPROVALS_SEEN_MAX, &n_seen);
    for (size_t i = 0; rc == OS_OK && i < n_seen; i++) {
        const char *event = NULL, *why = NULL;
        if (!registered(ops, seen[i].operator_key)) {
            event = "approval.dropped";
            why = "its key is not in the signer's operator set";
        } else if (seen[i].expiry_seq <= log_seq) {
            /* the signer takes it only while its log_seq is below expiry_seq */
            event = "approval.expired";
            why = "the signer's log reached its expiry";
        }
        if (event) {
            if (drop) {
                log_dropped(row, &seen[i], event, why);
                rc = os_ledger_approval_drop(e->ledger, digest, seen[i].operator_key);
            }
            continue;
        }
        if (*n < ops->k) out[(*n)++] = seen[i];
    }
    return rc;
}

/* Holds row for approvals: AWAITING (payouts awaiting_approval, the webhook fires), quorum_wait 1.
 * Logged when the hold begins and each time an arrival still leaves it short, never per pass. */
static int hold(os_engine *e, int64_t row, int was_waiting, size_t held, uint8_t k) {
    int rc = os_ledger_tx_quorum_hold(e->ledger, row, engine_now());
    if (rc != OS_OK) {
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "tx.quorum_hold_failed", f, 2, "transaction %lld: holding it for approvals failed: %s",
               (long long)row, os_status_name(rc));
        return rc;
    }
    if (was_waiting != 1) {
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_INT("needed", k), OS_LOG_INT("held", (int64_t)held) };
        os_log(OS_LOG_NOTICE, "tx.awaiting_quorum", f, 3, "transaction %lld waits for the operators' approvals: %zu of"
               " %u held (GET /v1/payouts/{id}/commitment, oncesign approve --from)", (long long)row, held, (unsigned)k);
    }
    return OS_OK;
}

int engine_quorum_gather(os_engine *e, int64_t row, const os_sign_tx *tx, uint64_t log_seq,
                         os_approval out[OS_MAX_OPERATORS], size_t *n) {
    os_operator_set ops;
    *n = 0;
    int rc = os_ledger_operator_set(e->ledger, &ops);
    if (rc != OS_OK) return rc;
    uint8_t digest[32];
    os_tx_state state;
    int waiting = 0;
    rc = os_ledger_tx_quorum(e->ledger, row, digest, &state, &waiting);
    if (rc != OS_OK) return rc;
    if (!os_quorum_required(ops.n, ops.threshold, engine_payout_total(tx))) {
        /* held under a set since changed (a higher threshold, no operators): it goes as any other */
        if (waiting) rc = os_ledger_tx_quorum_set(e->ledger, row, 0);
        return rc == OS_ERR_NOT_FOUND ? OS_ERR_BUSY : rc;
    }
    rc = usable_approvals(e, row, digest, &ops, log_seq, 1, out, n);
    if (rc != OS_OK) return rc;
    if (*n >= ops.k) {
        /* what remains is the operator's press on the device: health and the API say so. From here
         * a cancel no longer releases the draft (it needs quorum_wait 1); one that came first did. */
        if (waiting) rc = os_ledger_tx_quorum_set(e->ledger, row, 0);
        return rc == OS_ERR_NOT_FOUND ? OS_ERR_BUSY : rc;
    }
    size_t held = *n;
    *n = 0;
    rc = hold(e, row, waiting, held, ops.k);
    return rc == OS_OK ? OS_ERR_QUORUM_MISSING : rc;
}

int engine_quorum_refused(os_engine *e, int64_t row, int status, uint64_t log_seq) {
    os_operator_set ops;
    uint8_t digest[32];
    os_tx_state state;
    int waiting = 0;
    int rc = os_ledger_operator_set(e->ledger, &ops);
    if (rc == OS_OK) rc = os_ledger_tx_quorum(e->ledger, row, digest, &state, &waiting);
    if (rc != OS_OK) return rc;
    os_approval seen[APPROVALS_SEEN_MAX];
    size_t n_seen = 0;
    rc = os_ledger_approvals_of(e->ledger, digest, seen, APPROVALS_SEEN_MAX, &n_seen);
    /* The signer names no approval in its refusal and stops at the first it refuses. An expiry it
     * saw is dropped by the log_seq it now has; any other refusal means the host's check and the
     * signer's disagree about these approvals, so none of them is sent again: fresh ones are asked. */
    for (size_t i = 0; rc == OS_OK && i < n_seen; i++) {
        int gone = status == OS_ERR_APPROVAL_EXPIRED ? seen[i].expiry_seq <= log_seq
                                                      : status != OS_ERR_QUORUM_MISSING;
        if (!gone) continue;
        log_dropped(row, &seen[i], status == OS_ERR_APPROVAL_EXPIRED ? "approval.expired" : "approval.dropped",
                    os_status_message(status));
        rc = os_ledger_approval_drop(e->ledger, digest, seen[i].operator_key);
    }
    size_t held = 0;
    os_approval usable[OS_MAX_OPERATORS];
    if (rc == OS_OK) rc = usable_approvals(e, row, digest, &ops, log_seq, 1, usable, &held);
    if (rc == OS_OK && ops.n == 0) {
        /* the device holds a set its archived log does not show (acknowledged before this ledger
         * first read the log): no approval can be checked until the set is registered again */
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("status", os_status_name(status)) };
        os_log(OS_LOG_ERROR, "tx.quorum_set_unknown", f, 2, "the signer wants operator approvals for transaction %lld"
               " (%s) but its archived log shows no operator set: register the set again (oncesign device"
               " operators) so its log carries it; the transaction waits", (long long)row, os_status_name(status));
    } else if (rc == OS_OK) {
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_STR("status", os_status_name(status)) };
        os_log(OS_LOG_WARNING, "tx.quorum_refused", f, 2, "the signer refused the approvals of transaction %lld (%s):"
               " it waits for fresh ones", (long long)row, os_status_name(status));
    }
    /* held either way: sent again unchanged it would only be refused again, an entry each time */
    if (rc == OS_OK) rc = hold(e, row, ops.n == 0, held, ops.k);
    return rc;
}

/* ------------------------------------------------------------------ the API's side */

/* The row payout_id waits in for approvals, its draft, digest, and the operator set. */
static int waiting_draft(os_engine *e, int64_t payout_id, int64_t *row, os_draft *d, uint64_t *fee, uint8_t digest[32],
                         os_operator_set *ops) {
    os_tx_state state;
    int waiting = 0;
    int rc = os_ledger_payout_tx_row(e->ledger, payout_id, row);
    if (rc != OS_OK) return rc;
    if (*row == 0) return OS_ERR_QUORUM_NOT_WAITING;
    rc = os_ledger_tx_quorum(e->ledger, *row, digest, &state, &waiting);
    if (rc == OS_ERR_NOT_FOUND) return OS_ERR_QUORUM_NOT_WAITING;
    if (rc != OS_OK) return rc;
    if (state != OS_TX_AWAITING || !waiting) return OS_ERR_QUORUM_NOT_WAITING;
    rc = os_ledger_operator_set(e->ledger, ops);
    if (rc != OS_OK) return rc;
    rc = os_ledger_tx_draft(e->ledger, *row, d, NULL, fee);
    if (rc != OS_OK) return rc;
    if (!os_quorum_required(ops->n, ops->threshold, engine_payout_total(&d->tx))) {
        os_draft_free(d);
        return OS_ERR_QUORUM_NOT_WAITING;   /* the set changed: the worker signs it without approvals */
    }
    return OS_OK;
}

/* The signer's key as the ledger pinned it (the worker's copy in the engine may change under sign_mu
 * when a replaced signer is adopted; the API's threads read the ledger). */
static int pinned_signer(os_engine *e, uint8_t key[32]) {
    size_t n = 0;
    int rc = os_ledger_meta_get(e->ledger, "attestation_key", key, 32, &n);
    return rc == OS_OK && n != 32 ? OS_ERR_DB : rc;
}

static uint64_t archived_seq(os_engine *e) {
    uint64_t seq = 0;
    uint8_t head[32];
    return os_ledger_signer_log_head(e->ledger, &seq, head) == OS_OK ? seq : 0;
}

void os_quorum_commitment_free(os_quorum_commitment *c) {
    if (!c) return;
    free(c->unsigned_tx);
    c->unsigned_tx = NULL;
}

int os_engine_payout_commitment(os_engine *e, int64_t payout_id, os_quorum_commitment *out) {
    if (!e || !out) return OS_ERR_ARG;
    memset(out, 0, sizeof *out);
    os_draft d;
    os_operator_set ops;
    int rc = waiting_draft(e, payout_id, &out->tx_row, &d, &out->fee, out->tx_digest, &ops);
    if (rc != OS_OK) return rc;
    out->payout_id = payout_id;
    size_t cap = 64 + d.tx.n_inputs * 41 + d.tx.n_outputs * (9 + 1 + OS_MAX_PAYOUT_SCRIPT);
    out->unsigned_tx = malloc(cap);
    rc = out->unsigned_tx ? os_sign_serialize_unsigned(&d.tx, out->unsigned_tx, cap, &out->unsigned_len) : OS_ERR_IO;
    for (size_t i = 0; rc == OS_OK && i < d.tx.n_outputs; i++) {
        const os_sign_output *o = &d.tx.outputs[i];
        os_quorum_output *q = &out->outputs[i];
        q->amount = o->amount;
        q->change = o->kind == OS_OUTPUT_CHANGE;
        rc = address_from_script(e->cfg.network, o->script, o->script_len, q->address, sizeof q->address);
        if (rc == OS_OK && !q->change) rc = os_ledger_payout_id_by_nonce(e->ledger, o->nonce, &q->payout_id);
        out->n_outputs = i + 1;
    }
    os_draft_free(&d);
    if (rc == OS_OK) rc = pinned_signer(e, out->signer);
    out->log_seq = archived_seq(e);
    out->k = ops.k;
    out->n = ops.n;
    out->threshold = ops.threshold;
    memcpy(out->operators, ops.keys, sizeof out->operators);
    if (rc == OS_OK)
        rc = usable_approvals(e, out->tx_row, out->tx_digest, &ops, out->log_seq, 0, out->held, &out->n_held);
    if (rc != OS_OK) os_quorum_commitment_free(out);
    return rc;
}

int os_engine_approval_add(os_engine *e, int64_t payout_id, const os_approval *a, int64_t api_key_id, size_t *held,
                           size_t *needed, int *added) {
    if (!e || !a || !held || !needed) return OS_ERR_ARG;
    *held = *needed = 0;
    os_draft d;
    os_operator_set ops;
    int64_t row = 0;
    uint64_t fee = 0;
    uint8_t digest[32], msg[32];
    int rc = waiting_draft(e, payout_id, &row, &d, &fee, digest, &ops);
    if (rc != OS_OK) return rc;
    os_draft_free(&d);
    uint64_t log_seq = archived_seq(e);
    if (!registered(&ops, a->operator_key)) return OS_ERR_APPROVAL_OPERATOR;
    if (a->expiry_seq <= log_seq) return OS_ERR_APPROVAL_EXPIRED;
    uint8_t signer[32];
    rc = pinned_signer(e, signer);
    if (rc == OS_OK) rc = os_approval_hash(digest, a->expiry_seq, signer, msg);
    if (rc != OS_OK) return rc;
    if (crypto_schnorr_verify(a->operator_key, msg, a->sig) != OS_OK) return OS_ERR_APPROVAL_MISMATCH;
    int was_added = 0;
    rc = os_ledger_approval_put(e->ledger, digest, a, api_key_id, engine_now(), &was_added);
    if (rc == OS_OK) rc = os_ledger_quorum_wake(e->ledger, digest);
    if (rc != OS_OK) return rc;
    if (added) *added = was_added;
    if (was_added) {
        char key[17];
        os_key_fingerprint(a->operator_key, key);
        os_log_field f[] = { OS_LOG_INT("tx", row), OS_LOG_INT("payout_id", payout_id), OS_LOG_STR("operator", key),
                             OS_LOG_INT("expiry_seq", (int64_t)a->expiry_seq) };
        os_log(OS_LOG_NOTICE, "approval.stored", f, 4, "transaction %lld: operator %s approved (expiry_seq %llu)",
               (long long)row, key, (unsigned long long)a->expiry_seq);
    }
    os_approval usable[OS_MAX_OPERATORS];
    rc = usable_approvals(e, row, digest, &ops, log_seq, 0, usable, held);
    *needed = ops.k;
    engine_wake_worker(e);
    return rc;
}
