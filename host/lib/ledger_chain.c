/* oncesign host — the ledger's operations for the signer and chain side: the transaction state
 * machine (one table, one function), drafts, the hot wallet's addresses and coins, the nonce tree's
 * leaves and the signer's log archive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"

#define BIT(s) (1u << (s))

/* ------------------------------------------------------------------ the transition table */

enum {
    FX_ATTEMPT = 1 << 0,        /* a broadcast attempt: attempts + 1 */
    FX_NEEDS_BUMP = 1 << 1,     /* the node refused it for its fee: needs_bump = 1 */
    FX_STORE_SIGNED = 1 << 2,   /* raw, txid, root_after, log_seq, leaves, tree_seq */
    FX_RELEASE = 1 << 3,        /* coins released; payouts back to requested or failed */
    FX_RETURN = 1 << 4,         /* payouts and coins back to the transaction this one replaces */
    FX_CONFIRM = 1 << 5,        /* confirmations; carried payouts confirmed; family settled */
    FX_LOSE_INPUTS = 1 << 6,    /* the lost coins spent; the others but the anchor released */
    FX_SUPERSEDE = 1 << 7,      /* quorum hold and approvals dropped; coins spent or released */
};

typedef struct {
    os_tx_event ev;
    uint32_t from;              /* BIT(state) of the states the event applies to */
    os_tx_state to;
    os_payout_status payouts_to;    /* 0: the payouts keep their status */
    uint32_t payouts_from;          /* BIT(status) of the payouts (tx_row = this) that move */
    unsigned effects;
} tx_rule;

#define PENDING_TX (BIT(OS_TX_SIGNING) | BIT(OS_TX_AWAITING))
#define OUT_TX (BIT(OS_TX_SIGNED) | BIT(OS_TX_BROADCAST))
#define SIGNED_PAYOUTS (BIT(OS_PAYOUT_SIGNED) | BIT(OS_PAYOUT_BROADCAST))

/* The state machine, written once; ledger.h draws it. */
static const tx_rule tx_transitions[] = {
    {OS_TXEV_OPERATOR_WAIT, BIT(OS_TX_SIGNING), OS_TX_AWAITING, OS_PAYOUT_AWAITING_APPROVAL, BIT(OS_PAYOUT_SIGNING), 0},
    {OS_TXEV_SIGNED, PENDING_TX, OS_TX_SIGNED, OS_PAYOUT_SIGNED,
     BIT(OS_PAYOUT_SIGNING) | BIT(OS_PAYOUT_AWAITING_APPROVAL), FX_STORE_SIGNED},
    {OS_TXEV_REFUSED, PENDING_TX, OS_TX_RELEASED, 0, 0, FX_RELEASE},
    {OS_TXEV_BUMP_REFUSED, PENDING_TX, OS_TX_RELEASED, 0, 0, FX_RETURN},
    {OS_TXEV_SENT, OUT_TX, OS_TX_BROADCAST, OS_PAYOUT_BROADCAST, SIGNED_PAYOUTS, FX_ATTEMPT},
    {OS_TXEV_SEEN, OUT_TX, OS_TX_BROADCAST, OS_PAYOUT_BROADCAST, SIGNED_PAYOUTS, 0},
    {OS_TXEV_NOT_SENT, OUT_TX, OS_TX_SIGNED, 0, 0, FX_ATTEMPT},
    {OS_TXEV_FEE_TOO_LOW, OUT_TX, OS_TX_SIGNED, 0, 0, FX_ATTEMPT | FX_NEEDS_BUMP},
    {OS_TXEV_UNKNOWN, OUT_TX, OS_TX_SIGNED, 0, 0, FX_ATTEMPT},
    {OS_TXEV_CONFIRMED, OUT_TX | BIT(OS_TX_CONFIRMED), OS_TX_CONFIRMED, 0, 0, FX_CONFIRM},
    {OS_TXEV_INPUT_LOST, OUT_TX, OS_TX_SIGNED, 0, 0, FX_LOSE_INPUTS},
    {OS_TXEV_REPLACED_BY_OURS, OUT_TX, OS_TX_REPLACED, 0, 0, 0},
    {OS_TXEV_ANCHOR_LOST, OUT_TX, OS_TX_REPLACED, OS_PAYOUT_AWAITING_REANCHOR, BIT(OS_PAYOUT_SIGNING) | SIGNED_PAYOUTS, 0},
    {OS_TXEV_SUPERSEDED, PENDING_TX, OS_TX_REPLACED, 0, 0, FX_SUPERSEDE},
};

/* A draft no one may sign: a transaction on its anchor confirmed, so it is a double spend (the
 * alias t is the draft's row). */
#define FAMILY_CONFIRMED \
    "EXISTS (SELECT 1 FROM txs c WHERE c.state = ? AND c.anchor_txid = t.anchor_txid AND c.anchor_vout = t.anchor_vout)"

static const tx_rule *rule_of(os_tx_event ev) {
    for (size_t i = 0; i < sizeof tx_transitions / sizeof tx_transitions[0]; i++)
        if (tx_transitions[i].ev == ev) return &tx_transitions[i];
    return NULL;
}

int os_ledger_tx_event_rule(os_tx_event ev, uint32_t *from_mask, os_tx_state *to) {
    const tx_rule *r = rule_of(ev);
    if (!r || !from_mask || !to) return OS_ERR_ARG;
    *from_mask = r->from;
    *to = r->to;
    return OS_OK;
}

/* Inside an operation: the leaves a committed transaction added, and each payout's anchor. */
static int store_leaves(os_ledger *l, int64_t row, const os_ledger_leaf *leaves, size_t n) {
    int rc = OS_OK;
    for (size_t i = 0; rc == OS_OK && i < n; i++) {
        const os_ledger_leaf *f = &leaves[i];
        if (f->moved)
            rc = ledger_run(l, NULL,
                            "INSERT OR IGNORE INTO tree_moves (key, value, anchor_txid, anchor_vout, tx_row) VALUES (?,?,?,?,?)",
                            "bbbii", f->key, 32, f->value, 32, f->anchor.txid, 32, (int64_t)f->anchor.vout, row);
        else
            rc = ledger_run(l, NULL,
                        "INSERT OR IGNORE INTO tree_leaves (key, value, nonce, anchor_txid, anchor_vout, script, amount,"
                        " tx_row) VALUES (?,?,?,?,?,?,?,?)",
                        "bbbbibii", f->key, 32, f->value, 32, f->nonce, 32, f->anchor.txid, 32, (int64_t)f->anchor.vout,
                        f->script, (int)f->script_len, (int64_t)f->amount, row);
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE payouts SET anchor_txid = ?, anchor_vout = ? WHERE nonce = ?", "bib",
                            f->anchor.txid, 32, (int64_t)f->anchor.vout, f->nonce, 32);
    }
    return rc;
}

/* Inside an operation: the tree accounts for the signer's log up to at least seq. */
static int advance_tree_seq(os_ledger *l, uint64_t seq) {
    uint64_t have = 0;
    int rc = os_ledger_meta_u64(l, "tree_seq", &have);
    if (rc == OS_OK && seq > have) rc = os_ledger_meta_put_u64(l, "tree_seq", seq);
    return rc;
}

/* Inside an operation: settles draft row, whose family member sibling confirmed. Its payouts are
 * left alone: they are carried by the sibling too (a fee bump or a respend copies the link rows) and
 * its confirmation confirmed them. Safe for a committed draft (root_after set) as well: its leaves are
 * the payouts' nonces again (REPLACE outputs on the same anchor), which the sibling paid, and its raw
 * transaction was never stored, so it was never sent. */
static int supersede(os_ledger *l, int64_t row, int64_t sibling) {
    int64_t same = 0;
    int rc = ledger_int(l, &same, "SELECT 1 FROM txs t, txs c WHERE t.id = ? AND c.id = ? AND c.id != t.id AND c.state = ?"
                                  " AND c.anchor_txid = t.anchor_txid AND c.anchor_vout = t.anchor_vout",
                        "iii", row, sibling, (int64_t)OS_TX_CONFIRMED);
    os_draft spent;
    memset(&spent, 0, sizeof spent);
    if (rc == OS_OK) rc = os_ledger_tx_draft(l, sibling, &spent, NULL, NULL);
    /* what the sibling spent is gone; what only this draft held is the wallet's again */
    for (size_t i = 0; rc == OS_OK && i < spent.tx.n_inputs; i++)
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ? WHERE reserved_by = ? AND txid = ? AND vout = ?", "iibi",
                        (int64_t)OS_COIN_SPENT, row, spent.tx.inputs[i].prevout.txid, 32,
                        (int64_t)spent.tx.inputs[i].prevout.vout);
    os_draft_free(&spent);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ?, reserved_by = NULL WHERE reserved_by = ? AND state = ?", "iii",
                        (int64_t)OS_COIN_AVAILABLE, row, (int64_t)OS_COIN_RESERVED);
    /* nothing can approve it usefully any more */
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "DELETE FROM approvals WHERE tx_digest = (SELECT tx_digest FROM txs WHERE id = ?1) AND NOT"
                                 " EXISTS (SELECT 1 FROM txs o WHERE o.id != ?1 AND o.state = ?2 AND o.tx_digest ="
                                 " approvals.tx_digest)",
                        "ii", row, (int64_t)OS_TX_AWAITING);
    if (rc == OS_OK) rc = ledger_run(l, NULL, "UPDATE txs SET quorum_wait = 0 WHERE id = ?", "i", row);
    return rc;
}

static int apply_effects(os_ledger *l, int64_t row, const tx_rule *r, const os_tx_event_data *d) {
    int rc = OS_OK;
    if (r->effects & FX_STORE_SIGNED) {
        rc = ledger_run(l, NULL, "UPDATE txs SET raw = ?, txid = ?, root_after = ?, log_seq = coalesce(log_seq, ?) WHERE id = ?",
                        "bbbIi", d->raw, (int)d->raw_len, d->txid, 32, d->root_after, 32, (int64_t)d->log_seq, row);
        if (rc == OS_OK) rc = store_leaves(l, row, d->leaves, d->n_leaves);
        if (rc == OS_OK) rc = advance_tree_seq(l, d->log_seq);
    }
    if (r->effects & FX_RELEASE) {
        const char *why = d->payout_error ? d->payout_error : "";
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ?, reserved_by = NULL WHERE reserved_by = ? AND state = ?", "iii",
                        (int64_t)OS_COIN_AVAILABLE, row, (int64_t)OS_COIN_RESERVED);
        /* A payout whose nonce the signer committed (a re-anchor's) is never requested again as new,
         * nor dropped: it waits for the next re-anchor. */
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?, tx_row = NULL, error = ?, updated_at = ? WHERE tx_row = ?"
                                     " AND nonce IN (SELECT nonce FROM tree_leaves)",
                            "itii", (int64_t)OS_PAYOUT_AWAITING_REANCHOR,
                            why[0] ? why : "re-anchor not signed: waiting to be asked again", d->now, row);
        for (size_t i = 0; rc == OS_OK && !d->fail_all && i < d->n_failed; i++)
            rc = ledger_run(l, NULL,
                            "UPDATE payouts SET status = ?, tx_row = NULL, error = ?, updated_at = ? WHERE tx_row = ? AND nonce = ?",
                            "itiib", (int64_t)OS_PAYOUT_FAILED, why, d->now, row, d->failed_nonces[i], 32);
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?, tx_row = NULL, error = ?, updated_at = ? WHERE tx_row = ?",
                            "itii", (int64_t)(d->fail_all ? OS_PAYOUT_FAILED : OS_PAYOUT_REQUESTED), d->fail_all ? why : "",
                            d->now, row);
    }
    if (r->effects & FX_RETURN) {
        rc = ledger_run(l, NULL, "UPDATE payouts SET tx_row = (SELECT replaces FROM txs WHERE id = ?1), status = ?2,"
                                 " updated_at = ?3 WHERE tx_row = ?1",
                        "iii", row, (int64_t)OS_PAYOUT_SIGNED, d->now);
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE coins SET reserved_by = (SELECT replaces FROM txs WHERE id = ?1) WHERE reserved_by = ?1",
                            "i", row);
        if (rc == OS_OK && d->note)
            rc = ledger_run(l, NULL, "UPDATE txs SET last_error = ? WHERE id = (SELECT replaces FROM txs WHERE id = ?)", "ti",
                            d->note, row);
    }
    if (r->effects & FX_LOSE_INPUTS) {
        /* A lost coin stays reserved by the transaction, spent: the mark NEXT_TO_RESPEND and
         * os_ledger_tx_input_lost read. Never the anchor: a lost anchor is ANCHOR_LOST. */
        for (size_t i = 0; rc == OS_OK && i < d->n_lost; i++)
            rc = ledger_run(l, NULL, "UPDATE coins SET state = ?1 WHERE reserved_by = ?2 AND txid = ?3 AND vout = ?4 AND NOT"
                                     " EXISTS (SELECT 1 FROM txs t WHERE t.id = ?2 AND t.anchor_txid = ?3 AND t.anchor_vout = ?4)",
                            "iibi", (int64_t)OS_COIN_SPENT, row, d->lost[i].txid, 32, (int64_t)d->lost[i].vout);
        /* the other inputs are still ours and this transaction can never spend them: the replacement
         * chooses its coins afresh; the anchor stays with the payouts it binds */
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE coins SET state = ?1, reserved_by = NULL WHERE reserved_by = ?2 AND state = ?3 AND"
                                     " NOT EXISTS (SELECT 1 FROM txs t WHERE t.id = ?2 AND t.anchor_txid = coins.txid AND"
                                     " t.anchor_vout = coins.vout)",
                            "iii", (int64_t)OS_COIN_AVAILABLE, row, (int64_t)OS_COIN_RESERVED);
    }
    if (r->effects & FX_CONFIRM) {
        rc = ledger_run(l, NULL, "UPDATE txs SET confirmations = ?, block_height = ?, last_error = '' WHERE id = ?", "iii",
                        (int64_t)d->confirmations, (int64_t)d->block_height, row);
        /* the payouts it carries, through the link table: a fee bump moved their tx_row to the
         * replacement, and whichever of the two confirms is the one that paid */
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?1, confirmations = ?2, tx_row = ?3, error = '', updated_at = ?4"
                                     " WHERE id IN (SELECT payout_id FROM tx_payouts WHERE tx_row = ?3)"
                                     " AND (status != ?1 OR confirmations != ?2 OR tx_row IS NOT ?3)",
                            "iiii", (int64_t)OS_PAYOUT_CONFIRMED, (int64_t)d->confirmations, row, d->now);
        /* a draft of the family keeps its coins until SUPERSEDED settles it: a respend's new coins
         * are not spent by this one and go back to the wallet then */
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE coins SET state = ?2 WHERE state != ?2 AND (reserved_by = ?1 OR reserved_by IN"
                                     " (SELECT f.id FROM txs f, txs t WHERE t.id = ?1 AND f.anchor_txid = t.anchor_txid"
                                     " AND f.anchor_vout = t.anchor_vout AND f.state NOT IN (?3, ?4)))",
                            "iiii", row, (int64_t)OS_COIN_SPENT, (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING);
        /* its relatives (none confirmed, since this one is) can never confirm */
        if (rc == OS_OK)
            rc = ledger_run(l, NULL, "UPDATE txs SET state = ?2 WHERE id != ?1 AND state IN (?3, ?4) AND id IN"
                                     " (SELECT f.id FROM txs f, txs t WHERE t.id = ?1 AND f.anchor_txid = t.anchor_txid"
                                     " AND f.anchor_vout = t.anchor_vout)",
                            "iiii", row, (int64_t)OS_TX_REPLACED, (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_BROADCAST);
    }
    if (rc == OS_OK && (r->effects & FX_SUPERSEDE)) rc = supersede(l, row, d->sibling);
    return rc;
}

int os_ledger_tx_transition(os_ledger *l, int64_t row, os_tx_event ev, const os_tx_event_data *d) {
    const tx_rule *r = rule_of(ev);
    if (!l || !d || !r) return OS_ERR_ARG;
    if ((r->effects & FX_STORE_SIGNED) && (!d->raw || !d->txid || !d->root_after || (d->n_leaves && !d->leaves)))
        return OS_ERR_ARG;
    if ((r->effects & FX_RELEASE) && d->n_failed && !d->failed_nonces) return OS_ERR_ARG;
    if ((r->effects & FX_LOSE_INPUTS) && (!d->n_lost || !d->lost)) return OS_ERR_ARG;
    if ((r->effects & FX_SUPERSEDE) && d->sibling <= 0) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    int64_t state = 0;
    rc = ledger_int(l, &state, "SELECT state FROM txs WHERE id = ?", "i", row);
    if (rc == OS_OK && (state < 0 || state > 31 || !(r->from & BIT(state)))) rc = OS_ERR_NOT_FOUND;
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE txs SET state = ?, attempts = attempts + ?, needs_bump = ?,"
                                 " last_error = coalesce(?, last_error), updated_at = ? WHERE id = ?",
                        "iiitii", (int64_t)r->to, (int64_t)((r->effects & FX_ATTEMPT) != 0),
                        (int64_t)((r->effects & FX_NEEDS_BUMP) != 0), d->note, d->now, row);
    if (rc == OS_OK && r->payouts_to)
        rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?, updated_at = ?, error = coalesce(?, error)"
                                 " WHERE tx_row = ? AND ((1 << status) & ?) != 0",
                        "iitii", (int64_t)r->payouts_to, d->now,
                        r->payouts_to == OS_PAYOUT_FAILED || r->payouts_to == OS_PAYOUT_AWAITING_REANCHOR
                            ? (d->payout_error ? d->payout_error : "")
                            : NULL,
                        row,
                        (int64_t)r->payouts_from);
    if (rc == OS_OK) rc = apply_effects(l, row, r, d);
    return ledger_op_end(l, rc);
}

/* ------------------------------------------------------------------ drafts */

/* Inside an operation: inserts a transaction row for tx. */
static int insert_tx(os_ledger *l, os_tx_state state, const os_sign_tx *tx, int64_t replaces, uint64_t fee,
                     const char *note, int64_t now, int64_t *row) {
    if (!tx || tx->n_inputs == 0) return OS_ERR_ARG;
    uint8_t *blob = NULL, hp[32], digest[32];
    size_t blob_len = 0;
    int64_t n_payouts = 0;
    for (size_t i = 0; i < tx->n_outputs; i++) n_payouts += tx->outputs[i].kind == OS_OUTPUT_PAYOUT;
    int rc = os_draft_encode(tx, &blob, &blob_len);
    if (rc == OS_OK) rc = os_draft_commitment(tx, hp, digest);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL,
                        "INSERT INTO txs (state, draft, replaces, anchor_txid, anchor_vout, fee, n_payouts, hash_prevouts,"
                        " tx_digest, last_error, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                        "ibIbiiibbtii", (int64_t)state, blob, (int)blob_len, replaces, tx->inputs[0].prevout.txid, 32,
                        (int64_t)tx->inputs[0].prevout.vout, (int64_t)fee, n_payouts, hp, 32, digest, 32, note ? note : "",
                        now, now);
    free(blob);
    if (rc == OS_OK) *row = sqlite3_last_insert_rowid(l->db);
    return rc;
}

int os_ledger_tx_draft_create(os_ledger *l, const os_sign_tx *tx, uint64_t fee, os_payout_status from,
                              const int64_t *payout_ids, size_t n_payouts, const int64_t *coin_ids, size_t n_coins,
                              int64_t now, int64_t *row) {
    if (!l || !tx || !row || (n_payouts && !payout_ids) || (n_coins && !coin_ids)) return OS_ERR_ARG;
    if (from != OS_PAYOUT_REQUESTED && from != OS_PAYOUT_AWAITING_REANCHOR) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = insert_tx(l, OS_TX_SIGNING, tx, 0, fee, NULL, now, row);
    for (size_t i = 0; rc == OS_OK && i < n_payouts; i++) {
        int changes = 0;
        rc = ledger_run(l, NULL, "INSERT INTO tx_payouts (tx_row, payout_id) VALUES (?,?)", "ii", *row, payout_ids[i]);
        if (rc == OS_OK)
            rc = ledger_run(l, &changes, "UPDATE payouts SET status = ?, tx_row = ?, updated_at = ? WHERE id = ? AND status = ?",
                            "iiiii", (int64_t)OS_PAYOUT_SIGNING, *row, now, payout_ids[i], (int64_t)from);
        if (rc == OS_OK && changes != 1) rc = OS_ERR_NOT_FOUND;
    }
    for (size_t i = 0; rc == OS_OK && i < n_coins; i++) {
        int changes = 0;
        rc = ledger_run(l, &changes, "UPDATE coins SET state = ?, reserved_by = ? WHERE id = ? AND state = ?", "iiii",
                        (int64_t)OS_COIN_RESERVED, *row, coin_ids[i], (int64_t)OS_COIN_AVAILABLE);
        if (rc == OS_OK && changes != 1) rc = OS_ERR_NOT_FOUND;
    }
    return ledger_op_end(l, rc);
}

int os_ledger_tx_replacement_create(os_ledger *l, int64_t old, const os_sign_tx *tx, uint64_t fee,
                                    const int64_t *coin_ids, size_t n_coins, int64_t now, int64_t *row) {
    if (!l || !tx || !row || (coin_ids && !n_coins)) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = insert_tx(l, OS_TX_SIGNING, tx, old, fee, NULL, now, row);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "INSERT INTO tx_payouts (tx_row, payout_id) SELECT ?, payout_id FROM tx_payouts WHERE tx_row = ?",
                        "ii", *row, old);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE payouts SET tx_row = ?, status = ?, updated_at = ? WHERE tx_row = ? AND status IN (?, ?)",
                        "iiiiii", *row, (int64_t)OS_PAYOUT_SIGNING, now, old, (int64_t)OS_PAYOUT_SIGNED,
                        (int64_t)OS_PAYOUT_BROADCAST);
    if (rc == OS_OK && !coin_ids)
        rc = ledger_run(l, NULL, "UPDATE coins SET reserved_by = ? WHERE reserved_by = ? AND state = ?", "iii", *row, old,
                        (int64_t)OS_COIN_RESERVED);
    if (rc == OS_OK && coin_ids)
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ?, reserved_by = NULL WHERE reserved_by = ? AND state = ?", "iii",
                        (int64_t)OS_COIN_AVAILABLE, old, (int64_t)OS_COIN_RESERVED);
    for (size_t i = 0; rc == OS_OK && coin_ids && i < n_coins; i++) {
        int changes = 0;
        rc = ledger_run(l, &changes, "UPDATE coins SET state = ?, reserved_by = ? WHERE id = ? AND state = ?", "iiii",
                        (int64_t)OS_COIN_RESERVED, *row, coin_ids[i], (int64_t)OS_COIN_AVAILABLE);
        if (rc == OS_OK && changes != 1) rc = OS_ERR_NOT_FOUND;
    }
    /* the original's change will not exist once the replacement confirms: never spend it */
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ? WHERE txid = (SELECT txid FROM txs WHERE id = ?) AND state = ?",
                        "iii", (int64_t)OS_COIN_SPENT, old, (int64_t)OS_COIN_AVAILABLE);
    if (rc == OS_OK) {
        char note[80];
        snprintf(note, sizeof note, "%s by transaction %lld", coin_ids ? "an input was lost: replaced" : "fee bumped",
                 (long long)*row);
        rc = ledger_run(l, NULL, "UPDATE txs SET last_error = ?, needs_bump = 0 WHERE id = ?", "ti", note, old);
    }
    return ledger_op_end(l, rc);
}

int os_ledger_tx_external_create(os_ledger *l, const os_sign_tx *tx, int64_t now, int64_t *row) {
    if (!l || !tx || !row) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = insert_tx(l, OS_TX_RELEASED, tx, 0, 0, "external", now, row);
    if (rc == OS_OK) rc = ledger_run(l, NULL, "UPDATE txs SET n_payouts = 0 WHERE id = ?", "i", *row);
    return ledger_op_end(l, rc);
}

int os_ledger_tx_draft(os_ledger *l, int64_t row, os_draft *d, int *committed, uint64_t *fee) {
    if (!l) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT draft, root_after IS NOT NULL, fee FROM txs WHERE id = ?", "i", row);
    if (rc != OS_OK) return rc;
    rc = d ? os_draft_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), d) : OS_OK;
    if (committed) *committed = sqlite3_column_int(st, 1);
    if (fee) *fee = (uint64_t)sqlite3_column_int64(st, 2);
    ledger_query_end(l, st, SQLITE_ROW);
    return rc;
}

int os_ledger_tx_by_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                               int64_t *row, os_draft *d) {
    if (!l || !hash_prevouts || !tx_digest || !row) return OS_ERR_ARG;
    int rc = ledger_int(l, row, "SELECT id FROM txs WHERE hash_prevouts = ? AND tx_digest = ? ORDER BY id LIMIT 1",
                        "bb", hash_prevouts, 32, tx_digest, 32);
    if (rc == OS_OK && d) rc = os_ledger_tx_draft(l, *row, d, NULL, NULL);
    return rc;
}

int os_ledger_tx_raw(os_ledger *l, int64_t row, uint8_t **raw, size_t *len, uint8_t txid[32]) {
    if (!l || !raw || !len || !txid) return OS_ERR_ARG;
    *raw = NULL;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT raw, txid FROM txs WHERE id = ? AND raw IS NOT NULL AND length(txid) = 32", "i",
                          row);
    if (rc != OS_OK) return rc;
    *len = (size_t)sqlite3_column_bytes(st, 0);
    *raw = malloc(*len ? *len : 1);
    if (*raw) {
        memcpy(*raw, sqlite3_column_blob(st, 0), *len);
        memcpy(txid, sqlite3_column_blob(st, 1), 32);
    }
    ledger_query_end(l, st, SQLITE_ROW);
    return *raw ? OS_OK : OS_ERR_IO;
}

int os_ledger_tx_committed(os_ledger *l, int64_t row, const uint8_t root_after[32], uint64_t log_seq, uint64_t tree_seq,
                           const os_ledger_leaf *leaves, size_t n_leaves) {
    if (!l || !root_after || (n_leaves && !leaves)) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = store_leaves(l, row, leaves, n_leaves);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE txs SET root_after = ?, log_seq = coalesce(log_seq, ?) WHERE id = ?", "bIi",
                        root_after, 32, (int64_t)log_seq, row);
    if (rc == OS_OK) rc = advance_tree_seq(l, tree_seq);
    return ledger_op_end(l, rc);
}

int os_ledger_tx_bump_impossible(os_ledger *l, int64_t row, const char *note, int64_t now) {
    if (!l || !note) return OS_ERR_ARG;
    return ledger_run(l, NULL, "UPDATE txs SET last_error = ?, needs_bump = 0, updated_at = ? WHERE id = ?", "tii", note,
                      now, row);
}

int os_ledger_tx_family_txids(os_ledger *l, int64_t row, const os_outpoint *anchor, uint8_t (*txids)[32], size_t max,
                              size_t *n) {
    if (!l || !anchor || !n || (max && !txids)) return OS_ERR_ARG;
    *n = 0;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, "SELECT txid FROM txs WHERE id != ? AND anchor_txid = ? AND anchor_vout = ?"
                                      " AND txid IS NOT NULL ORDER BY id DESC LIMIT ?");
    int r = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, row);
        sqlite3_bind_blob(st, 2, anchor->txid, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, anchor->vout);
        sqlite3_bind_int64(st, 4, (int64_t)max);
        while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < max)
            if (sqlite3_column_bytes(st, 0) == 32) memcpy(txids[(*n)++], sqlite3_column_blob(st, 0), 32);
    }
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return r == SQLITE_DONE || r == SQLITE_ROW ? OS_OK : OS_ERR_DB;
}

int os_ledger_tx_needs_bump(os_ledger *l, int64_t row, int *yes) {
    if (!l || !yes) return OS_ERR_ARG;
    int64_t flag = 0;
    int rc = ledger_int(l, &flag, "SELECT needs_bump FROM txs WHERE id = ?", "i", row);
    *yes = rc == OS_OK && flag != 0;
    return rc;
}

int os_ledger_tx_input_lost(os_ledger *l, int64_t row, int *yes) {
    if (!l || !yes) return OS_ERR_ARG;
    int64_t one = 0;
    int rc = ledger_int(l, &one, "SELECT 1 FROM coins WHERE reserved_by = ? AND state = ? LIMIT 1", "ii", row,
                        (int64_t)OS_COIN_SPENT);
    *yes = rc == OS_OK;
    return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
}

/* The transactions NEXT_TO_RESPEND takes, as a condition on txs (one definition for the queue and the
 * count): SIGNED after INPUT_LOST (a coin it reserved is spent), its anchor still reserved by it, and
 * no replacement in flight. */
#define AWAITING_RESPEND                                                                                       \
    "txs.state = ?1 AND EXISTS (SELECT 1 FROM coins c WHERE c.reserved_by = txs.id AND c.state = ?2) AND EXISTS" \
    " (SELECT 1 FROM coins a WHERE a.reserved_by = txs.id AND a.state = ?3 AND a.txid = txs.anchor_txid AND"     \
    " a.vout = txs.anchor_vout) AND NOT EXISTS (SELECT 1 FROM txs r WHERE r.replaces = txs.id AND r.state != ?4)"

int os_ledger_payouts_awaiting_respend(os_ledger *l, uint64_t *n) {
    if (!l || !n) return OS_ERR_ARG;
    int64_t v = 0;
    int rc = ledger_int(l, &v, "SELECT count(*) FROM payouts p, txs WHERE p.tx_row = txs.id AND " AWAITING_RESPEND, "iiii",
                        (int64_t)OS_TX_SIGNED, (int64_t)OS_COIN_SPENT, (int64_t)OS_COIN_RESERVED, (int64_t)OS_TX_RELEASED);
    *n = rc == OS_OK ? (uint64_t)v : 0;
    return rc;
}

int os_ledger_tx_has_live_replacement(os_ledger *l, int64_t row, int *yes) {
    if (!l || !yes) return OS_ERR_ARG;
    int64_t one = 0;
    int rc = ledger_int(l, &one, "SELECT 1 FROM txs WHERE replaces = ? AND state IN (?, ?, ?, ?) LIMIT 1", "iiiii", row,
                        (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING, (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_BROADCAST);
    *yes = rc == OS_OK;
    return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
}

int os_ledger_tx_next(os_ledger *l, os_ledger_queue q, int64_t *row) {
    if (!l || !row) return OS_ERR_ARG;
    *row = 0;
    int rc;
    switch (q) {
    case OS_LEDGER_NEXT_TO_SIGN:
        /* a draft whose family confirmed is never sent to the signer, even before it is settled */
        rc = ledger_int(l, row, "SELECT id FROM txs t WHERE state = ? AND NOT " FAMILY_CONFIRMED " ORDER BY id LIMIT 1",
                        "ii", (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_CONFIRMED);
        break;
    case OS_LEDGER_NEXT_AWAITING:
        /* a draft short of approvals waits for them without the worker spinning on it (quorum_wait 1) */
        rc = ledger_int(l, row, "SELECT id FROM txs t WHERE state = ? AND quorum_wait != 1 AND NOT " FAMILY_CONFIRMED
                                " ORDER BY id LIMIT 1",
                        "ii", (int64_t)OS_TX_AWAITING, (int64_t)OS_TX_CONFIRMED);
        break;
    case OS_LEDGER_NEXT_TO_BUMP:
        /* not one whose change a later transaction of ours spends: replacing it would orphan that
         * child, whose payouts are anchored to the change */
        rc = ledger_int(l, row, "SELECT id FROM txs WHERE state = ? AND needs_bump = 1 AND NOT EXISTS"
                                " (SELECT 1 FROM txs r WHERE r.replaces = txs.id AND r.state != ?) AND NOT EXISTS"
                                " (SELECT 1 FROM coins c WHERE c.txid = txs.txid AND c.state != ?) ORDER BY id LIMIT 1",
                        "iii", (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_RELEASED, (int64_t)OS_COIN_AVAILABLE);
        break;
    case OS_LEDGER_NEXT_TO_RESPEND:
        rc = ledger_int(l, row, "SELECT id FROM txs WHERE " AWAITING_RESPEND " ORDER BY id LIMIT 1", "iiii",
                        (int64_t)OS_TX_SIGNED, (int64_t)OS_COIN_SPENT, (int64_t)OS_COIN_RESERVED, (int64_t)OS_TX_RELEASED);
        break;
    case OS_LEDGER_NEXT_UNSENT:
        rc = ledger_int(l, row, "SELECT id FROM txs WHERE state = ? AND attempts = 0 ORDER BY id LIMIT 1", "i",
                        (int64_t)OS_TX_SIGNED);
        break;
    default:
        return OS_ERR_ARG;
    }
    if (rc == OS_ERR_NOT_FOUND) {
        *row = 0;
        return OS_OK;
    }
    return rc;
}

/* Reads every row of a query ledger_query opened (st on its first row) into a growing array of
 * elem-byte elements, fill reading one row into one element. Returns: OS_OK (*out, *n; the caller
 * frees *out); OS_ERR_IO (out of memory) or OS_ERR_DB, with *out NULL and *n 0. The query is closed. */
static int collect_rows(os_ledger *l, sqlite3_stmt *st, size_t elem, void (*fill)(sqlite3_stmt *st, void *to),
                        void **out, size_t *n) {
    size_t cap = 0;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW; r = sqlite3_step(st)) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            void *grown = realloc(*out, cap * elem);
            if (!grown) break;
            *out = grown;
        }
        fill(st, (char *)*out + *n * elem);
        (*n)++;
    }
    int rc = r == SQLITE_ROW ? OS_ERR_IO : OS_OK; /* stopped early: out of memory */
    if (ledger_query_end(l, st, r) != OS_OK && rc == OS_OK) rc = OS_ERR_DB;
    if (rc != OS_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void fill_superseded(sqlite3_stmt *st, void *to) {
    os_ledger_superseded *s = to;
    s->row = sqlite3_column_int64(st, 0);
    s->sibling = sqlite3_column_int64(st, 1);
}

int os_ledger_txs_superseded(os_ledger *l, os_ledger_superseded **out, size_t *n) {
    if (!l || !out || !n) return OS_ERR_ARG;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT t.id, (SELECT min(c.id) FROM txs c WHERE c.state = ?3 AND c.anchor_txid ="
                                  " t.anchor_txid AND c.anchor_vout = t.anchor_vout) AS sibling FROM txs t"
                                  " WHERE t.state IN (?1, ?2) AND sibling IS NOT NULL ORDER BY t.id",
                          "iii", (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING, (int64_t)OS_TX_CONFIRMED);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    return collect_rows(l, st, sizeof **out, fill_superseded, (void **)out, n);
}

static void fill_tx_ref(sqlite3_stmt *st, void *to) {
    os_ledger_tx_ref *t = to;
    t->row = sqlite3_column_int64(st, 0);
    t->state = (os_tx_state)sqlite3_column_int(st, 1);
    t->confirmations = (uint32_t)sqlite3_column_int64(st, 2);
}

int os_ledger_txs_unsettled(os_ledger *l, uint32_t final_confirmations, os_ledger_tx_ref **out, size_t *n) {
    if (!l || !out || !n) return OS_ERR_ARG;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT id, state, confirmations FROM txs WHERE state IN (?, ?)"
                                  " OR (state = ? AND confirmations < ?) ORDER BY id",
                          "iiii", (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_BROADCAST, (int64_t)OS_TX_CONFIRMED,
                          (int64_t)final_confirmations);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    return collect_rows(l, st, sizeof **out, fill_tx_ref, (void **)out, n);
}

/* ------------------------------------------------------------------ the hot wallet */

int os_ledger_coins_spendable(os_ledger *l, size_t max, os_ledger_coin *out, size_t *n) {
    if (!l || !n || (max && !out)) return OS_ERR_ARG;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT id, txid, vout, amount, script_type, change, addr_index, prev_tx FROM coins"
                                  " WHERE state = ? AND (height > 0 OR change = 1) AND length(txid) = 32"
                                  " ORDER BY amount DESC LIMIT ?",
                          "ii", (int64_t)OS_COIN_AVAILABLE, (int64_t)max);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW && *n < max && rc == OS_OK; r = sqlite3_step(st)) {
        os_ledger_coin *k = &out[*n];
        k->prev_len = (size_t)sqlite3_column_bytes(st, 7);
        k->prev = malloc(k->prev_len ? k->prev_len : 1);
        if (!k->prev) {
            rc = OS_ERR_IO;
            continue;
        }
        memcpy(k->prev, sqlite3_column_blob(st, 7), k->prev_len);
        k->id = sqlite3_column_int64(st, 0);
        memcpy(k->op.txid, sqlite3_column_blob(st, 1), 32);
        k->op.vout = (uint32_t)sqlite3_column_int64(st, 2);
        k->amount = (uint64_t)sqlite3_column_int64(st, 3);
        k->script_type = (uint8_t)sqlite3_column_int(st, 4);
        k->change = (uint8_t)sqlite3_column_int(st, 5);
        k->index = (uint32_t)sqlite3_column_int64(st, 6);
        (*n)++;
    }
    if (ledger_query_end(l, st, r) != OS_OK && rc == OS_OK) rc = OS_ERR_DB;
    if (rc != OS_OK) {
        os_ledger_coins_free(out, *n);
        *n = 0;
    }
    return rc;
}

void os_ledger_coins_free(os_ledger_coin *c, size_t n) {
    for (size_t i = 0; c && i < n; i++) {
        free(c[i].prev);
        c[i].prev = NULL;
    }
}

int os_ledger_balance(os_ledger *l, uint64_t *confirmed, uint64_t *unconfirmed) {
    if (!l || !confirmed || !unconfirmed) return OS_ERR_ARG;
    *confirmed = *unconfirmed = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT coalesce(sum(CASE WHEN height > 0 THEN amount END), 0),"
                                  " coalesce(sum(CASE WHEN height = 0 THEN amount END), 0) FROM coins WHERE state = ?", "i",
                          (int64_t)OS_COIN_AVAILABLE);
    if (rc != OS_OK) return OS_ERR_DB;
    *confirmed = (uint64_t)sqlite3_column_int64(st, 0);
    *unconfirmed = (uint64_t)sqlite3_column_int64(st, 1);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_coin_add(os_ledger *l, const os_ledger_new_coin *c) {
    if (!l || !c || !c->script || !c->prev) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = ledger_run(l, NULL,
                    "INSERT OR IGNORE INTO coins (txid, vout, amount, script, script_type, change, addr_index, prev_tx, height)"
                    " VALUES (?,?,?,?,?,?,?,?,?)",
                    "biibiiibi", c->op.txid, 32, (int64_t)c->op.vout, (int64_t)c->amount, c->script, (int)c->script_len,
                    (int64_t)c->script_type, (int64_t)c->change, (int64_t)c->index, c->prev, (int)c->prev_len,
                    (int64_t)c->height);
    if (rc == OS_OK && c->height)
        rc = ledger_run(l, NULL, "UPDATE coins SET height = ? WHERE txid = ? AND vout = ? AND height = 0", "ibi",
                        (int64_t)c->height, c->op.txid, 32, (int64_t)c->op.vout);
    return ledger_op_end(l, rc);
}

int os_ledger_coin_seen(os_ledger *l, const os_outpoint *op, uint64_t height, int *known) {
    if (!l || !op || !known) return OS_ERR_ARG;
    int64_t one = 0;
    int rc = ledger_int(l, &one, "SELECT 1 FROM coins WHERE txid = ? AND vout = ?", "bi", op->txid, 32, (int64_t)op->vout);
    *known = rc == OS_OK;
    if (rc == OS_ERR_NOT_FOUND) return OS_OK;
    if (rc == OS_OK && height)
        rc = ledger_run(l, NULL, "UPDATE coins SET height = ? WHERE txid = ? AND vout = ? AND height = 0", "ibi",
                        (int64_t)height, op->txid, 32, (int64_t)op->vout);
    return rc;
}

int os_ledger_coin_spent_elsewhere(os_ledger *l, int64_t coin_id) {
    if (!l) return OS_ERR_ARG;
    int changes = 0;
    int rc = ledger_run(l, &changes, "UPDATE coins SET state = ? WHERE id = ? AND state = ?", "iii", (int64_t)OS_COIN_SPENT,
                        coin_id, (int64_t)OS_COIN_AVAILABLE);
    return rc == OS_OK && changes != 1 ? OS_ERR_NOT_FOUND : rc;
}

int os_ledger_address_take_index(os_ledger *l, uint8_t change, uint32_t *index) {
    if (!l || !index || change > 1) return OS_ERR_ARG;
    const char *key = change ? "next_change_index" : "next_receive_index";
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    uint64_t next = 0;
    rc = os_ledger_meta_u64(l, key, &next);
    if (rc == OS_OK && next >= 0x80000000ull) rc = OS_ERR_BAD_PATH;
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, key, next + 1);
    if (rc == OS_OK) *index = (uint32_t)next;
    return ledger_op_end(l, rc);
}

int os_ledger_address_add(os_ledger *l, uint8_t change, uint32_t index, uint8_t script_type, const char *address,
                          const uint8_t *script, size_t script_len) {
    if (!l || !address || !script) return OS_ERR_ARG;
    return ledger_run(l, NULL,
                      "INSERT OR IGNORE INTO addresses (change, addr_index, script_type, address, script) VALUES (?,?,?,?,?)",
                      "iiitb", (int64_t)change, (int64_t)index, (int64_t)script_type, address, script, (int)script_len);
}

int os_ledger_address_newest_unused(os_ledger *l, uint8_t change, char address[OS_MAX_ADDRESS + 1]) {
    if (!l || !address || change > 1) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT address FROM addresses a WHERE change = ? AND NOT EXISTS"
                          " (SELECT 1 FROM coins c WHERE c.script = a.script) AND addr_index ="
                          " (SELECT max(addr_index) FROM addresses WHERE change = a.change)",
                          "i", (int64_t)change);
    if (rc != OS_OK) return rc;
    snprintf(address, OS_MAX_ADDRESS + 1, "%s", (const char *)sqlite3_column_text(st, 0));
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_address_find(os_ledger *l, const char *address, uint8_t *change, uint32_t *index) {
    if (!l || !address || !change || !index) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT change, addr_index FROM addresses WHERE address = ?", "t", address);
    if (rc != OS_OK) return rc;
    *change = (uint8_t)sqlite3_column_int(st, 0);
    *index = (uint32_t)sqlite3_column_int64(st, 1);
    return ledger_query_end(l, st, SQLITE_ROW);
}

/* Inside the lock: reads the addresses of a query into out (at most max). */
static int read_addresses(os_ledger *l, sqlite3_stmt *st, os_ledger_address *out, size_t max, size_t *n) {
    (void)l;
    int r = SQLITE_ERROR;
    while (st && *n < max && (r = sqlite3_step(st)) == SQLITE_ROW)
        snprintf(out[(*n)++], sizeof out[0], "%s", (const char *)sqlite3_column_text(st, 0));
    return st && (r == SQLITE_DONE || r == SQLITE_ROW || *n == max) ? OS_OK : OS_ERR_DB;
}

int os_ledger_addresses_unimported(os_ledger *l, size_t max, os_ledger_address *out, size_t *n) {
    if (!l || !n || (max && !out)) return OS_ERR_ARG;
    *n = 0;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, "SELECT address FROM addresses WHERE imported = 0 LIMIT ?");
    if (st) sqlite3_bind_int64(st, 1, (int64_t)max);
    int rc = read_addresses(l, st, out, max, n);
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return rc;
}

int os_ledger_address_mark_imported(os_ledger *l, const char *address) {
    if (!l || !address) return OS_ERR_ARG;
    return ledger_run(l, NULL, "UPDATE addresses SET imported = 1 WHERE address = ? AND imported = 0", "t", address);
}

int os_ledger_addresses_all(os_ledger *l, os_ledger_address **out, size_t *n) {
    if (!l || !out || !n) return OS_ERR_ARG;
    *out = NULL;
    *n = 0;
    os_ledger_lock(l);
    int64_t count = 0;
    int rc = ledger_int(l, &count, "SELECT count(*) FROM addresses", "");
    if (rc == OS_OK) {
        *out = calloc(count ? (size_t)count : 1, sizeof **out);
        rc = *out ? OS_OK : OS_ERR_IO;
    }
    if (rc == OS_OK) {
        sqlite3_stmt *st = ledger_prep(l, "SELECT address FROM addresses ORDER BY change, addr_index");
        rc = read_addresses(l, st, *out, (size_t)count, n);
        sqlite3_finalize(st);
    }
    os_ledger_unlock(l);
    if (rc != OS_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ tree leaves and the signer's log */

int os_ledger_tree_forget(os_ledger *l) {
    if (!l) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = ledger_run(l, NULL, "DELETE FROM tree_moves", "");
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM tree_leaves", "");
    if (rc == OS_OK) rc = ledger_run(l, NULL, "UPDATE txs SET root_after = NULL WHERE raw IS NULL", "");
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, "tree_seq", 0);
    return ledger_op_end(l, rc);
}

int os_ledger_leaves_load(os_ledger *l, uint8_t (**keys)[32], uint8_t (**values)[32], size_t *n) {
    if (!l || !keys || !values || !n) return OS_ERR_ARG;
    *keys = NULL;
    *values = NULL;
    *n = 0;
    os_ledger_lock(l);
    int64_t count = 0;
    int rc = ledger_int(l, &count, "SELECT count(*) FROM tree_leaves", "");
    if (rc == OS_OK) {
        *keys = calloc(count ? (size_t)count : 1, 32);
        *values = calloc(count ? (size_t)count : 1, 32);
        rc = *keys && *values ? OS_OK : OS_ERR_IO;
    }
    /* each key at its current value: its newest move, else the leaf as committed */
    sqlite3_stmt *st = rc == OS_OK ? ledger_prep(l, "SELECT key, coalesce((SELECT m.value FROM tree_moves m WHERE m.key ="
                                                    " tree_leaves.key ORDER BY m.id DESC LIMIT 1), value) FROM tree_leaves")
                                   : NULL;
    int r = SQLITE_ERROR;
    while (st && *n < (size_t)count && (r = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != 32 || sqlite3_column_bytes(st, 1) != 32) {
            rc = OS_ERR_DB;
            break;
        }
        memcpy((*keys)[*n], sqlite3_column_blob(st, 0), 32);
        memcpy((*values)[*n], sqlite3_column_blob(st, 1), 32);
        (*n)++;
    }
    if (rc == OS_OK && st && *n < (size_t)count && r != SQLITE_DONE) rc = OS_ERR_DB;
    if (rc == OS_OK && !st && count) rc = OS_ERR_DB;
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    if (rc != OS_OK) {
        free(*keys);
        free(*values);
        *keys = NULL;
        *values = NULL;
        *n = 0;
    }
    return rc;
}

int os_ledger_leaves_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                   int (*f)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                                            size_t value_len, int moved),
                                   void *ctx) {
    if (!l || !hash_prevouts || !tx_digest || !f) return OS_ERR_ARG;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, "SELECT key, value, 0 FROM tree_leaves WHERE tx_row IN"
                                      " (SELECT id FROM txs WHERE hash_prevouts = ?1 AND tx_digest = ?2)"
                                      " UNION ALL SELECT key, value, 1 FROM tree_moves WHERE tx_row IN"
                                      " (SELECT id FROM txs WHERE hash_prevouts = ?1 AND tx_digest = ?2)");
    int rc = st ? OS_OK : OS_ERR_DB, r = SQLITE_DONE;
    if (st) {
        sqlite3_bind_blob(st, 1, hash_prevouts, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, tx_digest, 32, SQLITE_STATIC);
    }
    while (rc == OS_OK && (r = sqlite3_step(st)) == SQLITE_ROW)
        rc = f(ctx, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), sqlite3_column_blob(st, 1),
               (size_t)sqlite3_column_bytes(st, 1), sqlite3_column_int(st, 2));
    if (rc == OS_OK && r != SQLITE_DONE) rc = OS_ERR_DB;
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return rc;
}

int os_ledger_txs_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                int (*f)(void *ctx, int64_t row, const uint8_t *raw, size_t raw_len,
                                         const uint8_t *root_after, size_t root_len),
                                void *ctx) {
    if (!l || !hash_prevouts || !tx_digest || !f) return OS_ERR_ARG;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, "SELECT id, raw, root_after FROM txs WHERE hash_prevouts = ? AND tx_digest = ? ORDER BY id");
    int r = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_blob(st, 1, hash_prevouts, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, tx_digest, 32, SQLITE_STATIC);
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            size_t raw_len = (size_t)sqlite3_column_bytes(st, 1), root_len = (size_t)sqlite3_column_bytes(st, 2);
            if (f(ctx, sqlite3_column_int64(st, 0), raw_len ? sqlite3_column_blob(st, 1) : NULL, raw_len,
                  root_len ? sqlite3_column_blob(st, 2) : NULL, root_len))
                break;
        }
    }
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return r == SQLITE_ROW || r == SQLITE_DONE ? OS_OK : OS_ERR_DB;
}

int os_ledger_signed_tx_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                      int64_t *row, uint8_t txid[32], os_tx_state *state) {
    if (!l || !hash_prevouts || !tx_digest || !row || !txid || !state) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT id, txid, state FROM txs WHERE hash_prevouts = ? AND tx_digest = ?"
                                  " AND length(txid) = 32 ORDER BY id LIMIT 1", "bb", hash_prevouts, 32, tx_digest, 32);
    if (rc != OS_OK) return rc;
    *row = sqlite3_column_int64(st, 0);
    memcpy(txid, sqlite3_column_blob(st, 1), 32);
    *state = (os_tx_state)sqlite3_column_int(st, 2);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_nonce_known(os_ledger *l, const uint8_t nonce[32], int *known) {
    if (!l || !nonce || !known) return OS_ERR_ARG;
    int64_t one = 0;
    int rc = ledger_int(l, &one, "SELECT 1 FROM payouts WHERE nonce = ?1 UNION ALL SELECT 1 FROM tree_leaves WHERE nonce = ?1"
                                 " LIMIT 1", "b", nonce, 32);
    *known = rc == OS_OK;
    return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
}

int os_ledger_anchor_known(os_ledger *l, const os_outpoint *anchor, int *known) {
    if (!l || !anchor || !known) return OS_ERR_ARG;
    int64_t one = 0;
    int rc = ledger_int(l, &one, "SELECT 1 FROM tree_leaves WHERE nonce = zeroblob(32) AND anchor_txid = ? AND"
                                 " anchor_vout = ? LIMIT 1", "bi", anchor->txid, 32, (int64_t)anchor->vout);
    *known = rc == OS_OK;
    return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
}

int os_ledger_signer_log_put(os_ledger *l, uint64_t seq, const uint8_t entry[OS_LOG_ENTRY_BYTES], const uint8_t hash[32]) {
    if (!l || !entry || !hash) return OS_ERR_ARG;
    return ledger_run(l, NULL, "INSERT OR REPLACE INTO signer_log (seq, entry, entry_hash, verified) VALUES (?,?,?,1)", "ibb",
                      (int64_t)seq, entry, OS_LOG_ENTRY_BYTES, hash, 32);
}

int os_ledger_signer_log_head(os_ledger *l, uint64_t *seq, uint8_t hash[32]) {
    if (!l || !seq || !hash) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT seq, entry_hash FROM signer_log ORDER BY seq DESC LIMIT 1", "");
    if (rc != OS_OK) return rc;
    int ok = sqlite3_column_bytes(st, 1) == 32;
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (ok) memcpy(hash, sqlite3_column_blob(st, 1), 32);
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_DB : rc;
}

int os_ledger_signer_log_next(os_ledger *l, uint64_t after, uint64_t *seq, uint8_t entry[OS_LOG_ENTRY_BYTES]) {
    if (!l || !seq || !entry) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT seq, entry FROM signer_log WHERE seq > ? ORDER BY seq LIMIT 1", "i", (int64_t)after);
    if (rc != OS_OK) return rc;
    int ok = sqlite3_column_bytes(st, 1) == OS_LOG_ENTRY_BYTES;
    *seq = (uint64_t)sqlite3_column_int64(st, 0);
    if (ok) memcpy(entry, sqlite3_column_blob(st, 1), OS_LOG_ENTRY_BYTES);
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_DB : rc;
}

int os_ledger_signer_log_each(os_ledger *l, int (*f)(void *ctx, uint64_t seq, const uint8_t *entry, size_t len),
                              void *ctx) {
    if (!l || !f) return OS_ERR_ARG;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, "SELECT seq, entry FROM signer_log ORDER BY seq");
    int rc = st ? OS_OK : OS_ERR_DB, r = SQLITE_DONE;
    while (rc == OS_OK && (r = sqlite3_step(st)) == SQLITE_ROW)
        rc = f(ctx, (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
    if (rc == OS_OK && r != SQLITE_DONE) rc = OS_ERR_DB;
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return rc;
}
