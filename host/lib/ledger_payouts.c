/* oncesign host — the ledger's operations for gift codes and payouts (the service calls' SQL). */
#include <stdio.h>
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"
#include "rpc.h"

int os_ledger_code_insert(os_ledger *l, const uint8_t hash[32], const uint8_t nonce[32], uint64_t amount,
                          int64_t now, int64_t expires_at) {
    if (!l || !hash || !nonce) return OS_ERR_ARG;
    return ledger_run(l, NULL, "INSERT INTO codes (code_hash, nonce, amount, created_at, expires_at) VALUES (?,?,?,?,?)",
                      "bbiii", hash, 32, nonce, 32, (int64_t)amount, now, expires_at);
}

int os_ledger_code_find(os_ledger *l, const uint8_t hash[32], os_ledger_code *c) {
    if (!l || !hash || !c) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT id, coalesce(payout_id, 0), created_at, expires_at, amount, nonce FROM codes"
                                  " WHERE code_hash = ?", "b", hash, 32);
    if (rc != OS_OK) return rc;
    c->row = sqlite3_column_int64(st, 0);
    c->payout_id = sqlite3_column_int64(st, 1);
    c->created_at = sqlite3_column_int64(st, 2);
    c->expires_at = sqlite3_column_int64(st, 3);
    c->amount = (uint64_t)sqlite3_column_int64(st, 4);
    int ok = sqlite3_column_bytes(st, 5) == 32;
    if (ok) memcpy(c->nonce, sqlite3_column_blob(st, 5), 32);
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_DB : rc;
}

int os_ledger_code_claim(os_ledger *l, int64_t code_row, int64_t payout_id) {
    if (!l) return OS_ERR_ARG;
    int changes = 0;
    int rc = ledger_run(l, &changes, "UPDATE codes SET payout_id = ? WHERE id = ? AND payout_id IS NULL", "ii", payout_id,
                        code_row);
    return rc == OS_OK && changes == 1 ? OS_OK : OS_ERR_DB;
}

int os_ledger_payout_insert(os_ledger *l, const os_ledger_new_payout *p, int64_t *id) {
    if (!l || !p || !id || !p->script || !p->address) return OS_ERR_ARG;
    /* one statement: the lock (not a savepoint) keeps another thread's insert from moving the rowid */
    os_ledger_lock(l);
    int rc = ledger_run(l, NULL,
                        "INSERT INTO payouts (idem_key, params_hash, code_row, nonce, amount, script, address, status,"
                        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                        "tbIbibtiii", p->idem_key, p->params_hash, 32, p->code_row, p->nonce, 32, (int64_t)p->amount,
                        p->script, (int)p->script_len, p->address, (int64_t)OS_PAYOUT_REQUESTED, p->now, p->now);
    if (rc == OS_OK) *id = sqlite3_last_insert_rowid(l->db);
    os_ledger_unlock(l);
    return rc;
}

int os_ledger_payout_by_idem(os_ledger *l, const char *idem_key, int64_t *id, uint8_t params_hash[32]) {
    if (!l || !idem_key || !id || !params_hash) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT id, params_hash FROM payouts WHERE idem_key = ?", "t", idem_key);
    if (rc != OS_OK) return rc;
    *id = sqlite3_column_int64(st, 0);
    memset(params_hash, 0, 32);
    if (sqlite3_column_bytes(st, 1) == 32) memcpy(params_hash, sqlite3_column_blob(st, 1), 32);
    return ledger_query_end(l, st, SQLITE_ROW);
}

#define PAYOUT_SELECT                                                                                         \
    "SELECT p.id, p.status, p.amount, p.address, coalesce(p.idem_key, ''), c.code_hash, t.txid,"             \
    " p.confirmations, p.created_at, p.updated_at, p.error FROM payouts p"                                   \
    " LEFT JOIN codes c ON c.id = p.code_row LEFT JOIN txs t ON t.id = p.tx_row "

static void payout_from_row(sqlite3_stmt *st, os_payout_info *o) {
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(st, 0);
    o->status = (os_payout_status)sqlite3_column_int(st, 1);
    o->amount = (uint64_t)sqlite3_column_int64(st, 2);
    snprintf(o->address, sizeof o->address, "%s", (const char *)sqlite3_column_text(st, 3));
    snprintf(o->idempotency_key, sizeof o->idempotency_key, "%s", (const char *)sqlite3_column_text(st, 4));
    if (sqlite3_column_bytes(st, 5) == 32) os_hex_encode(sqlite3_column_blob(st, 5), 16, o->code_id);
    if (sqlite3_column_bytes(st, 6) == 32) {
        memcpy(o->txid, sqlite3_column_blob(st, 6), 32);
        o->has_txid = 1;
    }
    o->confirmations = (uint32_t)sqlite3_column_int64(st, 7);
    o->created_at = sqlite3_column_int64(st, 8);
    o->updated_at = sqlite3_column_int64(st, 9);
    snprintf(o->error, sizeof o->error, "%s", (const char *)sqlite3_column_text(st, 10));
}

int os_ledger_payout_get(os_ledger *l, int64_t id, os_payout_info *out) {
    if (!l || !out) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, PAYOUT_SELECT "WHERE p.id = ?", "i", id);
    if (rc != OS_OK) return rc;
    payout_from_row(st, out);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_payout_list(os_ledger *l, os_payout_status status, int64_t after_id, size_t limit,
                          os_payout_info *out, size_t *n) {
    if (!l || !n || (limit && !out)) return OS_ERR_ARG;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, PAYOUT_SELECT "WHERE p.id > ? AND (? = 0 OR p.status = ?) ORDER BY p.id LIMIT ?", "iiii",
                          after_id, (int64_t)status, (int64_t)status, (int64_t)limit);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    while (r == SQLITE_ROW && *n < limit) {
        payout_from_row(st, &out[(*n)++]);
        r = sqlite3_step(st);
    }
    return ledger_query_end(l, st, r);
}

int os_ledger_payout_counts(os_ledger *l, uint64_t counts[OS_PAYOUT_STATUS_LAST + 1]) {
    if (!l || !counts) return OS_ERR_ARG;
    memset(counts, 0, sizeof(uint64_t) * (OS_PAYOUT_STATUS_LAST + 1));
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT status, count(*) FROM payouts GROUP BY status", "");
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW; r = sqlite3_step(st)) {
        int s = sqlite3_column_int(st, 0);
        if (s >= OS_PAYOUT_REQUESTED && s <= OS_PAYOUT_STATUS_LAST) counts[s] = (uint64_t)sqlite3_column_int64(st, 1);
    }
    return ledger_query_end(l, st, r);
}

/* Inside an operation: releases the draft payout id waits in when it is held for the operators'
 * approvals and was never signed (quorum_wait 1: the worker passes it by and starts no session on it
 * until an approval arrives; no root_after: the signer never committed it; not a replacement; no
 * payout of it committed by an earlier transaction). Its coins are free again, the other payouts of
 * the draft requested again. Returns OS_OK, OS_ERR_BUSY (not such a draft), OS_ERR_DB. */
static int release_held_draft(os_ledger *l, int64_t id, int64_t now) {
    int64_t row = 0;
    int rc = ledger_int(l, &row, "SELECT t.id FROM payouts p JOIN txs t ON t.id = p.tx_row WHERE p.id = ? AND"
                                 " t.state = ? AND t.quorum_wait = 1 AND t.root_after IS NULL AND t.replaces IS NULL"
                                 " AND NOT EXISTS (SELECT 1 FROM payouts q JOIN tree_leaves f ON f.nonce = q.nonce"
                                 " WHERE q.tx_row = t.id)",
                        "ii", id, (int64_t)OS_TX_AWAITING);
    if (rc == OS_ERR_NOT_FOUND) return OS_ERR_BUSY;
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE txs SET state = ?, last_error = 'released: a payout of it was cancelled',"
                                 " updated_at = ? WHERE id = ?", "iii", (int64_t)OS_TX_RELEASED, now, row);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE coins SET state = ?, reserved_by = NULL WHERE reserved_by = ? AND state = ?",
                        "iii", (int64_t)OS_COIN_AVAILABLE, row, (int64_t)OS_COIN_RESERVED);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?, tx_row = NULL, error = '', updated_at = ?"
                                 " WHERE tx_row = ? AND id != ?", "iiii", (int64_t)OS_PAYOUT_REQUESTED, now, row, id);
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?, tx_row = NULL, updated_at = ? WHERE id = ?", "iii",
                        (int64_t)OS_PAYOUT_REQUESTED, now, id);
    return rc;
}

int os_ledger_payout_cancel(os_ledger *l, int64_t id, const char *why, int64_t now) {
    if (!l || !why) return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    int64_t status = 0;
    rc = ledger_int(l, &status, "SELECT status FROM payouts WHERE id = ?", "i", id);
    if (rc == OS_OK && status == OS_PAYOUT_AWAITING_APPROVAL) rc = release_held_draft(l, id, now);
    else if (rc == OS_OK && status != OS_PAYOUT_REQUESTED) rc = OS_ERR_BUSY;
    if (rc == OS_OK)
        rc = ledger_run(l, NULL, "UPDATE payouts SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?",
                        "itiii", (int64_t)OS_PAYOUT_FAILED, why, now, id, (int64_t)OS_PAYOUT_REQUESTED);
    return ledger_op_end(l, rc);
}

int os_ledger_payouts_count(os_ledger *l, os_payout_status status, uint64_t *n) {
    if (!l || !n) return OS_ERR_ARG;
    int64_t count = 0;
    int rc = ledger_int(l, &count, "SELECT count(*) FROM payouts WHERE status = ?", "i", (int64_t)status);
    *n = rc == OS_OK ? (uint64_t)count : 0;
    return rc;
}

int os_ledger_payouts_waiting(os_ledger *l, os_payout_status status, size_t max, os_ledger_payout_req *out,
                              size_t *n) {
    if (!l || !n || (max && !out)) return OS_ERR_ARG;
    if (status != OS_PAYOUT_REQUESTED && status != OS_PAYOUT_AWAITING_REANCHOR) return OS_ERR_ARG;
    *n = 0;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, "SELECT id, amount, nonce, script, anchor_txid, anchor_vout FROM payouts WHERE status = ?"
                                  " ORDER BY id LIMIT ?", "ii", (int64_t)status, (int64_t)max);
    if (rc != OS_OK) return rc == OS_ERR_NOT_FOUND ? OS_OK : rc;
    int r = SQLITE_ROW;
    for (; r == SQLITE_ROW && *n < max; r = sqlite3_step(st)) {
        os_ledger_payout_req *p = &out[*n];
        size_t slen = (size_t)sqlite3_column_bytes(st, 3);
        if (sqlite3_column_bytes(st, 2) != 32 || slen > OS_MAX_PAYOUT_SCRIPT) continue;
        p->id = sqlite3_column_int64(st, 0);
        p->amount = (uint64_t)sqlite3_column_int64(st, 1);
        memcpy(p->nonce, sqlite3_column_blob(st, 2), 32);
        p->script_len = slen;
        memcpy(p->script, sqlite3_column_blob(st, 3), slen);
        memset(&p->anchor, 0, sizeof p->anchor);
        if (sqlite3_column_bytes(st, 4) == 32) {
            memcpy(p->anchor.txid, sqlite3_column_blob(st, 4), 32);
            p->anchor.vout = (uint32_t)sqlite3_column_int64(st, 5);
        } else if (status == OS_PAYOUT_AWAITING_REANCHOR) {
            continue;   /* no recorded anchor: nothing to re-anchor from (never the case for a committed payout) */
        }
        (*n)++;
    }
    return ledger_query_end(l, st, r);
}
