/* oncesign host — what the recovery of a restored ledger records (ledger.h, schema v6,
 * docs/RECOVERY.md "Restore"). */
#include <stdlib.h>
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"

int os_ledger_is_restored_backup(os_ledger *l, int *yes) {
    if (!l || !yes) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM meta WHERE k = 'backup_marker'", "");
    *yes = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_recovery_tx_put(os_ledger *l, uint64_t log_seq, const uint8_t digest[32], const uint8_t *txid,
                              const uint8_t *raw, size_t raw_len, int64_t now) {
    if (!l || !digest || (txid && !raw)) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = ledger_run(l, NULL, "INSERT OR IGNORE INTO recovery_txs (log_seq, tx_digest, found_at) VALUES (?,?,?)", "ibi",
                    (int64_t)log_seq, digest, 32, now);
    if (rc == OS_OK && txid)
        rc = ledger_run(l, NULL, "UPDATE recovery_txs SET txid = ?, raw = ?, found_at = ? WHERE log_seq = ? AND txid IS NULL",
                        "bbii", txid, 32, raw, (int)raw_len, now, (int64_t)log_seq);
    return ledger_op_end(l, rc);
}

int os_ledger_recovery_tx_confirmations(os_ledger *l, uint64_t log_seq, uint32_t confirmations) {
    if (!l) return OS_ERR_ARG;
    return ledger_run(l, NULL, "UPDATE recovery_txs SET confirmations = ? WHERE log_seq = ?", "ii",
                      (int64_t)confirmations, (int64_t)log_seq);
}

int os_ledger_recovery_txs(os_ledger *l, os_ledger_recovery_tx **out, size_t *n) {
    if (!l || !out || !n) return OS_ERR_ARG;
    *out = NULL;
    *n = 0;
    os_ledger_lock(l);
    int64_t count = 0;
    int rc = ledger_int(l, &count, "SELECT count(*) FROM recovery_txs", "");
    if (rc == OS_OK && count > 0) {
        *out = calloc((size_t)count, sizeof **out);
        if (!*out) rc = OS_ERR_IO;
    }
    sqlite3_stmt *st = NULL;
    if (rc == OS_OK && count > 0)
        rc = ledger_query(l, &st, "SELECT log_seq, tx_digest, txid, raw, confirmations FROM recovery_txs ORDER BY log_seq",
                          "");
    if (rc == OS_OK && count > 0) {
        int r = SQLITE_ROW;
        for (; r == SQLITE_ROW && *n < (size_t)count && rc == OS_OK; r = sqlite3_step(st)) {
            os_ledger_recovery_tx *t = &(*out)[*n];
            t->log_seq = (uint64_t)sqlite3_column_int64(st, 0);
            if (sqlite3_column_bytes(st, 1) != 32) { rc = OS_ERR_DB; continue; }
            memcpy(t->tx_digest, sqlite3_column_blob(st, 1), 32);
            t->found = sqlite3_column_bytes(st, 2) == 32;
            if (t->found) {
                memcpy(t->txid, sqlite3_column_blob(st, 2), 32);
                t->raw_len = (size_t)sqlite3_column_bytes(st, 3);
                t->raw = malloc(t->raw_len ? t->raw_len : 1);
                if (!t->raw) { rc = OS_ERR_IO; continue; }
                memcpy(t->raw, sqlite3_column_blob(st, 3), t->raw_len);
            }
            t->confirmations = (uint32_t)sqlite3_column_int64(st, 4);
            (*n)++;
        }
        if (ledger_query_end(l, st, r) != OS_OK && rc == OS_OK) rc = OS_ERR_DB;
    }
    os_ledger_unlock(l);
    if (rc != OS_OK) {
        os_ledger_recovery_txs_free(*out, *n);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

void os_ledger_recovery_txs_free(os_ledger_recovery_tx *t, size_t n) {
    for (size_t i = 0; t && i < n; i++) free(t[i].raw);
    free(t);
}

static int output_insert(os_ledger *l, const os_ledger_recovery_output *o) {
    return ledger_run(l, NULL,
                      "INSERT OR IGNORE INTO recovery_outputs (log_seq, txid, vout, address, script, amount, payout_id,"
                      " code_row, how) VALUES (?,?,?,?,?,?,?,?,?)",
                      "ibitbiIIt", (int64_t)o->log_seq, o->txid, 32, (int64_t)o->vout, o->address, o->script,
                      (int)o->script_len, (int64_t)o->amount, o->payout_id, o->code_row, o->how ? o->how : "");
}

int os_ledger_recovery_output_add(os_ledger *l, const os_ledger_recovery_output *o) {
    if (!l || !o || !o->address || !o->script) return OS_ERR_ARG;
    return output_insert(l, o);
}

int os_ledger_recovery_output_known(os_ledger *l, const uint8_t txid[32], uint32_t vout, int *known) {
    if (!l || !txid || !known) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM recovery_outputs WHERE txid = ? AND vout = ?", "bi", txid, 32,
                        (int64_t)vout);
    *known = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_recovery_outputs_each(os_ledger *l,
                                    int (*f)(void *ctx, const os_ledger_recovery_output *o, uint32_t confirmations),
                                    void *ctx) {
    if (!l || !f) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT o.log_seq, o.txid, o.vout, o.address, o.script, o.amount, coalesce(o.payout_id, 0),"
                          " coalesce(o.code_row, 0), o.how, t.confirmations FROM recovery_outputs o"
                          " JOIN recovery_txs t ON t.log_seq = o.log_seq ORDER BY o.log_seq, o.vout",
                          "");
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW && rc == OS_OK; r = sqlite3_step(st)) {
        os_ledger_recovery_output o = {0};
        o.log_seq = (uint64_t)sqlite3_column_int64(st, 0);
        if (sqlite3_column_bytes(st, 1) != 32) { rc = OS_ERR_DB; break; }
        memcpy(o.txid, sqlite3_column_blob(st, 1), 32);
        o.vout = (uint32_t)sqlite3_column_int64(st, 2);
        o.address = (const char *)sqlite3_column_text(st, 3);
        o.script = sqlite3_column_blob(st, 4);
        o.script_len = (size_t)sqlite3_column_bytes(st, 4);
        o.amount = (uint64_t)sqlite3_column_int64(st, 5);
        o.payout_id = sqlite3_column_int64(st, 6);
        o.code_row = sqlite3_column_int64(st, 7);
        o.how = (const char *)sqlite3_column_text(st, 8);
        rc = f(ctx, &o, (uint32_t)sqlite3_column_int64(st, 9));
    }
    int end = ledger_query_end(l, st, rc == OS_OK ? r : SQLITE_DONE);
    return rc != OS_OK ? rc : end;
}

int os_ledger_recovery_hold_code(os_ledger *l, int64_t code_row, uint64_t log_seq, uint64_t amount) {
    if (!l) return OS_ERR_ARG;
    return ledger_run(l, NULL, "INSERT OR IGNORE INTO recovery_held_codes (code_row, log_seq, amount) VALUES (?,?,?)",
                      "iii", code_row, (int64_t)log_seq, (int64_t)amount);
}

int os_ledger_code_held(os_ledger *l, int64_t code_row, int *held) {
    if (!l || !held) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM recovery_held_codes WHERE code_row = ?", "i", code_row);
    *held = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_recovery_held_each(os_ledger *l,
                                 int (*f)(void *ctx, const uint8_t code_hash[32], uint64_t amount, uint64_t log_seq),
                                 void *ctx) {
    if (!l || !f) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT c.code_hash, h.amount, h.log_seq FROM recovery_held_codes h JOIN codes c"
                          " ON c.id = h.code_row WHERE c.payout_id IS NULL ORDER BY h.code_row",
                          "");
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW && rc == OS_OK; r = sqlite3_step(st)) {
        if (sqlite3_column_bytes(st, 0) != 32) { rc = OS_ERR_DB; break; }
        rc = f(ctx, sqlite3_column_blob(st, 0), (uint64_t)sqlite3_column_int64(st, 1),
               (uint64_t)sqlite3_column_int64(st, 2));
    }
    int end = ledger_query_end(l, st, rc == OS_OK ? r : SQLITE_DONE);
    return rc != OS_OK ? rc : end;
}

int os_ledger_codes_unredeemed_with_amount(os_ledger *l, uint64_t amount, size_t max, os_ledger_code *out,
                                           size_t *n) {
    if (!l || !n || (max && !out)) return OS_ERR_ARG;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT id, created_at, expires_at, amount, nonce FROM codes WHERE payout_id IS NULL AND"
                          " amount = ? AND id NOT IN (SELECT code_row FROM recovery_outputs WHERE code_row IS NOT NULL)"
                          " ORDER BY id LIMIT ?",
                          "ii", (int64_t)amount, (int64_t)max);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW && *n < max; r = sqlite3_step(st)) {
        os_ledger_code *c = &out[*n];
        memset(c, 0, sizeof *c);
        c->row = sqlite3_column_int64(st, 0);
        c->created_at = sqlite3_column_int64(st, 1);
        c->expires_at = sqlite3_column_int64(st, 2);
        c->amount = (uint64_t)sqlite3_column_int64(st, 3);
        if (sqlite3_column_bytes(st, 4) != 32) { r = SQLITE_ERROR; break; }
        memcpy(c->nonce, sqlite3_column_blob(st, 4), 32);
        (*n)++;
    }
    return ledger_query_end(l, st, r);
}

int os_ledger_payouts_unpaid_to(os_ledger *l, const uint8_t *script, size_t script_len, uint64_t amount, size_t max,
                                os_ledger_payout_candidate *out, size_t *n) {
    if (!l || !script || !n || (max && !out)) return OS_ERR_ARG;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT id, nonce FROM payouts WHERE script = ? AND amount = ? AND status NOT IN (?, ?) AND"
                          " id NOT IN (SELECT payout_id FROM recovery_outputs WHERE payout_id IS NOT NULL)"
                          " ORDER BY id LIMIT ?",
                          "biiii", script, (int)script_len, (int64_t)amount, (int64_t)OS_PAYOUT_CONFIRMED,
                          (int64_t)OS_PAYOUT_FAILED, (int64_t)max);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW && *n < max; r = sqlite3_step(st)) {
        out[*n].id = sqlite3_column_int64(st, 0);
        if (sqlite3_column_bytes(st, 1) != 32) { r = SQLITE_ERROR; break; }
        memcpy(out[*n].nonce, sqlite3_column_blob(st, 1), 32);
        (*n)++;
    }
    return ledger_query_end(l, st, r);
}

int os_ledger_recovery_code_paid(os_ledger *l, int64_t code_row, const uint8_t params_hash[32],
                                 const uint8_t nonce[32], const os_ledger_recovery_output *o, int64_t now,
                                 int64_t *payout_id) {
    if (!l || !params_hash || !nonce || !o || !o->script || !o->address || !payout_id) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    int changes = 0;
    rc = ledger_run(l, NULL,
                    "INSERT INTO payouts (idem_key, params_hash, code_row, nonce, amount, script, address, status,"
                    " error, created_at, updated_at) VALUES (NULL,?,?,?,?,?,?,?,?,?,?)",
                    "bibibtitii", params_hash, 32, code_row, nonce, 32, (int64_t)o->amount, o->script,
                    (int)o->script_len, o->address, (int64_t)OS_PAYOUT_CONFIRMED,
                    "recovered from the signer's log and the chain after a restore", now, now);
    if (rc == OS_OK) {
        *payout_id = sqlite3_last_insert_rowid(l->db);
        rc = ledger_run(l, &changes, "UPDATE codes SET payout_id = ? WHERE id = ? AND payout_id IS NULL", "ii",
                        *payout_id, code_row);
        if (rc == OS_OK && changes != 1) rc = OS_ERR_NOT_FOUND;
    }
    if (rc == OS_OK) {
        os_ledger_recovery_output linked = *o;
        linked.payout_id = *payout_id;
        linked.code_row = code_row;
        rc = output_insert(l, &linked);
    }
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM recovery_held_codes WHERE code_row = ?", "i", code_row);
    return ledger_op_end(l, rc);
}

int os_ledger_recovery_scan_from(os_ledger *l, uint64_t *height) {
    if (!l || !height) return OS_ERR_ARG;
    int64_t h = 0;
    int rc = ledger_int(l, &h,
                        "SELECT max(coalesce((SELECT max(block_height) FROM txs), 0),"
                        " coalesce((SELECT max(height) FROM coins), 0))",
                        "");
    *height = rc == OS_OK && h > 0 ? (uint64_t)h : 0;
    return rc;
}

int os_ledger_txs_in_flight(os_ledger *l, int64_t except_row, int64_t **rows, size_t *n) {
    if (!l || !rows || !n) return OS_ERR_ARG;
    *rows = NULL;
    *n = 0;
    os_ledger_lock(l);
    int64_t count = 0;
    int rc = ledger_int(l, &count, "SELECT count(*) FROM txs WHERE state IN (?,?,?,?) AND id != ?", "iiiii",
                        (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING, (int64_t)OS_TX_SIGNED,
                        (int64_t)OS_TX_BROADCAST, except_row);
    if (rc == OS_OK && count > 0) {
        *rows = calloc((size_t)count, sizeof **rows);
        sqlite3_stmt *st = NULL;
        rc = *rows ? ledger_query(l, &st, "SELECT id FROM txs WHERE state IN (?,?,?,?) AND id != ? ORDER BY id", "iiiii",
                                  (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING, (int64_t)OS_TX_SIGNED,
                                  (int64_t)OS_TX_BROADCAST, except_row)
                   : OS_ERR_IO;
        if (rc == OS_OK) {
            int r = SQLITE_ROW;
            for (; r == SQLITE_ROW && *n < (size_t)count; r = sqlite3_step(st)) (*rows)[(*n)++] = sqlite3_column_int64(st, 0);
            rc = ledger_query_end(l, st, r);
        }
    }
    os_ledger_unlock(l);
    if (rc != OS_OK) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return rc;
}

int os_ledger_coin_by_outpoint(os_ledger *l, const os_outpoint *op, os_ledger_coin *out) {
    if (!l || !op || !out) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT id, amount, script_type, change, addr_index, prev_tx FROM coins WHERE txid = ? AND"
                          " vout = ? AND state != ?",
                          "bii", op->txid, 32, (int64_t)op->vout, (int64_t)OS_COIN_SPENT);
    if (rc != OS_OK) return rc;
    memset(out, 0, sizeof *out);
    out->op = *op;
    out->id = sqlite3_column_int64(st, 0);
    out->amount = (uint64_t)sqlite3_column_int64(st, 1);
    out->script_type = (uint8_t)sqlite3_column_int(st, 2);
    out->change = (uint8_t)sqlite3_column_int(st, 3);
    out->index = (uint32_t)sqlite3_column_int64(st, 4);
    out->prev_len = (size_t)sqlite3_column_bytes(st, 5);
    out->prev = malloc(out->prev_len ? out->prev_len : 1);
    if (!out->prev) {
        ledger_query_end(l, st, SQLITE_DONE);
        return OS_ERR_IO;
    }
    memcpy(out->prev, sqlite3_column_blob(st, 5), out->prev_len);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_recovery_sweep_create(os_ledger *l, const os_sign_tx *tx, uint64_t fee, const int64_t *coin_ids,
                                    size_t n_coins, int64_t now, int64_t *row) {
    if (!l || !tx || !row || !n_coins || !coin_ids) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    /* every coin, whatever transaction of the old nonce set reserved it: that transaction is what the
     * sweep makes unconfirmable */
    for (size_t i = 0; rc == OS_OK && i < n_coins; i++)
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ?, reserved_by = NULL WHERE id = ? AND state = ?", "iii",
                        (int64_t)OS_COIN_AVAILABLE, coin_ids[i], (int64_t)OS_COIN_RESERVED);
    if (rc == OS_OK) rc = os_ledger_tx_draft_create(l, tx, fee, OS_PAYOUT_REQUESTED, NULL, 0, coin_ids, n_coins, now, row);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_SWEEP, (uint64_t)*row);
    return ledger_op_end(l, rc);
}

int os_ledger_recovery_reset(os_ledger *l, uint64_t reset_seq) {
    if (!l) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    /* the old set is gone on the device: so are its leaves and moves here, and the tree starts at the reset */
    rc = ledger_run(l, NULL, "DELETE FROM tree_leaves", "");
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM tree_moves", "");
    if (rc == OS_OK) rc = ledger_run(l, NULL, "UPDATE txs SET root_after = NULL WHERE raw IS NULL", "");
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, "tree_seq", reset_seq);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_SWEEP, 0);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_PHASE, 3 /* OS_RECOVERY_SWEEP */);
    return ledger_op_end(l, rc);
}

int os_ledger_recovery_finish(os_ledger *l, int64_t sweep_row, int64_t now, uint64_t *requeued) {
    if (!l || !requeued) return OS_ERR_ARG;
    *requeued = 0;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    /* payouts of the backup that a transaction found on chain paid */
    if (rc == OS_OK)
        rc = ledger_run(l, NULL,
                        "UPDATE payouts SET status = ?, confirmations = (SELECT max(1, t.confirmations) FROM"
                        " recovery_outputs o JOIN recovery_txs t ON t.log_seq = o.log_seq WHERE o.payout_id = payouts.id),"
                        " error = 'paid by a transaction recovered from the signer''s log and the chain', updated_at = ?"
                        " WHERE status != ? AND id IN (SELECT payout_id FROM recovery_outputs WHERE payout_id IS NOT NULL)",
                        "iii", (int64_t)OS_PAYOUT_CONFIRMED, now, (int64_t)OS_PAYOUT_CONFIRMED);
    /* every transaction of the old set still in flight can never confirm (the sweep spent its coins):
     * its payouts that nothing paid are requested again, under the new set */
    int changes = 0;
    if (rc == OS_OK)
        rc = ledger_run(l, &changes,
                        "UPDATE payouts SET status = ?, tx_row = NULL, anchor_txid = NULL, anchor_vout = NULL,"
                        " error = 'requested again after the restore: its transaction can never confirm', updated_at = ?"
                        " WHERE status IN (?,?,?,?,?)",
                        "iiiiiii", (int64_t)OS_PAYOUT_REQUESTED, now, (int64_t)OS_PAYOUT_SIGNING,
                        (int64_t)OS_PAYOUT_AWAITING_APPROVAL, (int64_t)OS_PAYOUT_SIGNED, (int64_t)OS_PAYOUT_BROADCAST,
                        (int64_t)OS_PAYOUT_REQUESTED);
    if (rc == OS_OK) *requeued = (uint64_t)changes;
    if (rc == OS_OK)
        rc = ledger_run(l, NULL,
                        "UPDATE coins SET state = ?, reserved_by = NULL WHERE state = ? AND reserved_by IN"
                        " (SELECT id FROM txs WHERE state IN (?,?,?,?) AND id != ?)",
                        "iiiiiii", (int64_t)OS_COIN_SPENT, (int64_t)OS_COIN_RESERVED, (int64_t)OS_TX_SIGNING,
                        (int64_t)OS_TX_AWAITING, (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_BROADCAST, sweep_row);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL,
                        "UPDATE txs SET state = ?, last_error = 'its coins were swept by the recovery: it can never"
                        " confirm', updated_at = ? WHERE state IN (?,?,?,?) AND id != ?",
                        "iiiiiii", (int64_t)OS_TX_REPLACED, now, (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING,
                        (int64_t)OS_TX_SIGNED, (int64_t)OS_TX_BROADCAST, sweep_row);
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM meta WHERE k IN ('backup_marker', ?, ?)", "tt",
                                     OS_LEDGER_META_REPLACED_FROM, OS_LEDGER_META_RECOVERY_CHAIN);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_SWEEP, 0);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_PHASE, 0);
    return ledger_op_end(l, rc);
}

int os_ledger_code_hash(os_ledger *l, int64_t code_row, uint8_t hash[32]) {
    if (!l || !hash) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT code_hash FROM codes WHERE id = ?", "i", code_row);
    if (rc != OS_OK) return rc;
    int ok = sqlite3_column_bytes(st, 0) == 32;
    if (ok) memcpy(hash, sqlite3_column_blob(st, 0), 32);
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_DB : rc;
}

int os_ledger_backup_marker_drop(os_ledger *l) {
    if (!l) return OS_ERR_ARG;
    return ledger_run(l, NULL, "DELETE FROM meta WHERE k = 'backup_marker'", "");
}

int os_ledger_recovery_tx_recorded(os_ledger *l, uint64_t log_seq, const uint8_t digest[32], int *yes) {
    if (!l || !digest || !yes) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM recovery_txs WHERE log_seq = ? AND tx_digest = ?", "ib",
                        (int64_t)log_seq, digest, 32);
    *yes = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_address_script(os_ledger *l, uint8_t change, uint32_t index, uint8_t *script, size_t cap, size_t *len) {
    if (!l || !script || !len) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT script FROM addresses WHERE change = ? AND addr_index = ?", "ii",
                          (int64_t)change, (int64_t)index);
    if (rc != OS_OK) return rc;
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    int ok = n <= cap;
    if (ok) memcpy(script, sqlite3_column_blob(st, 0), n);
    *len = n;
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_BUFFER : rc;
}

int os_ledger_signer_replace(os_ledger *l, const uint8_t new_key[32], uint8_t old_key[32], uint64_t *old_seq,
                             uint8_t old_head[32]) {
    if (!l || !new_key || !old_key || !old_seq || !old_head) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    size_t n = 0;
    rc = os_ledger_meta_get(l, "attestation_key", old_key, 32, &n);
    if (rc == OS_OK && n != 32) rc = OS_ERR_DB;
    *old_seq = 0;
    memset(old_head, 0, 32);
    if (rc == OS_OK) {
        rc = os_ledger_signer_log_head(l, old_seq, old_head);
        if (rc == OS_ERR_NOT_FOUND) rc = OS_OK;
    }
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "INSERT INTO signer_log_retired (device_key, seq, entry, entry_hash)"
                                 " SELECT ?, seq, entry, entry_hash FROM signer_log", "b", old_key, 32);
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM signer_log", "");
    /* the old device's set went with it: the new device's starts empty */
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM tree_leaves", "");
    if (rc == OS_OK) rc = ledger_run(l, NULL, "DELETE FROM tree_moves", "");
    if (rc == OS_OK) rc = ledger_run(l, NULL, "UPDATE txs SET root_after = NULL WHERE raw IS NULL", "");
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, "tree_seq", 0);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, 0);
    if (rc == OS_OK) rc = os_ledger_meta_put(l, "attestation_key", new_key, 32);
    uint8_t from[72];
    memcpy(from, old_key, 32);
    for (int b = 0; b < 8; b++) from[32 + b] = (uint8_t)(*old_seq >> (8 * b));
    memcpy(from + 40, old_head, 32);
    if (rc == OS_OK) rc = os_ledger_meta_put(l, OS_LEDGER_META_REPLACED_FROM, from, sizeof from);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_FROM, 1);
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_PHASE, 2 /* OS_RECOVERY_CONFIRM */);
    return ledger_op_end(l, rc);
}

int os_ledger_recovery_txid_known(os_ledger *l, const uint8_t txid[32], int *yes) {
    if (!l || !txid || !yes) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n,
                        "SELECT (SELECT count(*) FROM txs WHERE txid = ?1) + (SELECT count(*) FROM recovery_txs"
                        " WHERE txid = ?1)",
                        "b", txid, 32);
    *yes = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_recovery_coin_known(os_ledger *l, const os_outpoint *op, int *yes) {
    if (!l || !op || !yes) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM coins WHERE txid = ? AND vout = ?", "bi", op->txid, 32,
                        (int64_t)op->vout);
    *yes = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_recovery_deposit_add(os_ledger *l, const os_outpoint *op) {
    if (!l || !op) return OS_ERR_ARG;
    return ledger_run(l, NULL, "INSERT OR IGNORE INTO recovery_chain_deposits (txid, vout) VALUES (?,?)", "bi",
                      op->txid, 32, (int64_t)op->vout);
}

int os_ledger_recovery_deposit_known(os_ledger *l, const os_outpoint *op, int *yes) {
    if (!l || !op || !yes) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM recovery_chain_deposits WHERE txid = ? AND vout = ?", "bi",
                        op->txid, 32, (int64_t)op->vout);
    *yes = rc == OS_OK && n > 0;
    return rc;
}

int os_ledger_recovery_raw_by_txid(os_ledger *l, const uint8_t txid[32], uint8_t **raw, size_t *len) {
    if (!l || !txid || !raw || !len) return OS_ERR_ARG;
    *raw = NULL;
    *len = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT raw FROM txs WHERE txid = ?1 AND raw IS NOT NULL UNION ALL"
                          " SELECT raw FROM recovery_txs WHERE txid = ?1 AND raw IS NOT NULL LIMIT 1",
                          "b", txid, 32);
    if (rc != OS_OK) return rc;
    *len = (size_t)sqlite3_column_bytes(st, 0);
    *raw = malloc(*len ? *len : 1);
    if (!*raw) {
        ledger_query_end(l, st, SQLITE_DONE);
        return OS_ERR_IO;
    }
    memcpy(*raw, sqlite3_column_blob(st, 0), *len);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_recovery_chain_next(os_ledger *l, uint64_t *log_seq) {
    if (!l || !log_seq) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM recovery_txs WHERE log_seq >= ?", "i",
                        (int64_t)OS_LEDGER_RECOVERY_CHAIN_SEQ);
    *log_seq = OS_LEDGER_RECOVERY_CHAIN_SEQ + (uint64_t)n;
    return rc;
}

int os_ledger_recovery_release_held(os_ledger *l, const uint8_t code_id[16]) {
    if (!l || !code_id) return OS_ERR_ARG;
    int changes = 0;
    int rc = ledger_run(l, &changes,
                        "DELETE FROM recovery_held_codes WHERE code_row IN (SELECT id FROM codes WHERE"
                        " substr(code_hash, 1, 16) = ?)", "b", code_id, 16);
    return rc == OS_OK && changes == 0 ? OS_ERR_NOT_FOUND : rc;
}
