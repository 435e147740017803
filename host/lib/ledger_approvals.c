/* oncesign host — operator approvals and the signer's operator set (schema v11, issue 14; docs/DESIGN.md
 * §8 "Host flow"). See ledger.h. */
#include <string.h>

#include "audit_log.h"
#include "bytes.h"
#include "ledger_internal.h"
#include "oncesign/status.h"

int os_ledger_operator_set(os_ledger *l, os_operator_set *out) {
    sqlite3_stmt *st = NULL;
    if (!l || !out) return OS_ERR_ARG;
    memset(out, 0, sizeof *out);
    /* the newest OPERATORS entry is the set the signer holds; substr(entry, 2, 1) is the entry's type
     * byte, written as the index signer_log_type has it (v11) so the lookup uses the index */
    _Static_assert(AUDIT_LOG_OFF_TYPE == 1, "signer_log_type indexes the type byte at offset 1");
    int rc = ledger_query(l, &st, "SELECT seq, entry FROM signer_log WHERE substr(entry, 2, 1) = ? ORDER BY seq DESC LIMIT 1",
                          "b", (const uint8_t[]){OS_LOG_OPERATORS}, 1);
    if (rc == OS_ERR_NOT_FOUND) return OS_OK;
    if (rc != OS_OK) return rc;
    const uint8_t *entry = sqlite3_column_blob(st, 1);
    int ok = sqlite3_column_bytes(st, 1) == OS_LOG_ENTRY_BYTES && entry;
    if (ok) {
        const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
        out->seq = (uint64_t)sqlite3_column_int64(st, 0);
        out->k = pl[0];
        out->n = pl[1];
        out->threshold = os_read_le64(pl + 2);
        ok = out->n <= OS_MAX_OPERATORS && out->k <= out->n && (out->n == 0) == (out->k == 0);
        if (ok) memcpy(out->keys, pl + 10, (size_t)out->n * 32);
    }
    rc = ledger_query_end(l, st, SQLITE_ROW);
    if (rc == OS_OK && !ok) {
        memset(out, 0, sizeof *out);
        return OS_ERR_DB;   /* the archive verified the entry: a malformed set is the ledger's fault */
    }
    return rc;
}

int os_ledger_approval_put(os_ledger *l, const uint8_t tx_digest[32], const os_approval *a, int64_t api_key_id,
                           int64_t now, int *added) {
    if (!l || !tx_digest || !a || a->expiry_seq == 0 || a->expiry_seq > INT64_MAX) return OS_ERR_ARG;
    int changes = 0;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    /* the same approval again changes nothing (idempotent); the same operator with another expiry
     * replaces it: the newer one is what the operator means now */
    rc = ledger_run(l, &changes,
                    "INSERT INTO approvals (tx_digest, operator_key, expiry_seq, sig, received_at, api_key_id)"
                    " VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT (tx_digest, operator_key) DO UPDATE SET"
                    " expiry_seq = excluded.expiry_seq, sig = excluded.sig, received_at = excluded.received_at,"
                    " api_key_id = excluded.api_key_id WHERE expiry_seq != excluded.expiry_seq",
                    "bbibiI", tx_digest, 32, a->operator_key, 32, (int64_t)a->expiry_seq, a->sig, 64, now, api_key_id);
    if (added) *added = changes > 0;
    return ledger_op_end(l, rc);
}

int os_ledger_approvals_of(os_ledger *l, const uint8_t tx_digest[32], os_approval *out, size_t cap, size_t *n) {
    sqlite3_stmt *st = NULL;
    if (!l || !tx_digest || !n || (cap && !out)) return OS_ERR_ARG;
    *n = 0;
    int rc = ledger_query(l, &st, "SELECT operator_key, expiry_seq, sig FROM approvals WHERE tx_digest = ?"
                                  " ORDER BY received_at, rowid", "b", tx_digest, 32);
    if (rc == OS_ERR_NOT_FOUND) return OS_OK;
    if (rc != OS_OK) return rc;
    int step = SQLITE_ROW, bad = 0;
    for (; step == SQLITE_ROW && *n < cap; step = sqlite3_step(st)) {
        os_approval *a = &out[*n];
        if (sqlite3_column_bytes(st, 0) != 32 || sqlite3_column_bytes(st, 2) != 64) {
            bad = 1;
            break;
        }
        memcpy(a->operator_key, sqlite3_column_blob(st, 0), 32);
        a->expiry_seq = (uint64_t)sqlite3_column_int64(st, 1);
        memcpy(a->sig, sqlite3_column_blob(st, 2), 64);
        (*n)++;
    }
    rc = ledger_query_end(l, st, bad ? SQLITE_ROW : step);
    return rc == OS_OK && bad ? OS_ERR_DB : rc;
}

int os_ledger_approval_drop(os_ledger *l, const uint8_t tx_digest[32], const uint8_t operator_key[32]) {
    if (!l || !tx_digest || !operator_key) return OS_ERR_ARG;
    return ledger_run(l, NULL, "DELETE FROM approvals WHERE tx_digest = ? AND operator_key = ?", "bb", tx_digest, 32,
                      operator_key, 32);
}

int os_ledger_quorum_wake(os_ledger *l, const uint8_t tx_digest[32]) {
    if (!l || !tx_digest) return OS_ERR_ARG;
    return ledger_run(l, NULL, "UPDATE txs SET quorum_wait = 2 WHERE tx_digest = ? AND state = ? AND quorum_wait = 1",
                      "bi", tx_digest, 32, (int64_t)OS_TX_AWAITING);
}

int os_ledger_quorum_wake_all(os_ledger *l) {
    if (!l) return OS_ERR_ARG;
    return ledger_run(l, NULL, "UPDATE txs SET quorum_wait = 2 WHERE state = ? AND quorum_wait = 1", "i",
                      (int64_t)OS_TX_AWAITING);
}

int os_ledger_tx_quorum(os_ledger *l, int64_t row, uint8_t tx_digest[32], os_tx_state *state, int *quorum_wait) {
    sqlite3_stmt *st = NULL;
    if (!l || !tx_digest || !state || !quorum_wait) return OS_ERR_ARG;
    int rc = ledger_query(l, &st, "SELECT tx_digest, state, quorum_wait FROM txs WHERE id = ?", "i", row);
    if (rc != OS_OK) return rc;
    int ok = sqlite3_column_bytes(st, 0) == 32;
    if (ok) memcpy(tx_digest, sqlite3_column_blob(st, 0), 32);
    *state = (os_tx_state)sqlite3_column_int(st, 1);
    *quorum_wait = sqlite3_column_int(st, 2);
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_DB : rc;
}

int os_ledger_tx_quorum_hold(os_ledger *l, int64_t row, int64_t now) {
    if (!l) return OS_ERR_ARG;
    int64_t state = 0;
    int changes = 0;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    rc = ledger_int(l, &state, "SELECT state FROM txs WHERE id = ?", "i", row);
    if (rc == OS_OK && state == OS_TX_SIGNING) {
        os_tx_event_data d;
        memset(&d, 0, sizeof d);
        d.now = now;
        rc = os_ledger_tx_transition(l, row, OS_TXEV_OPERATOR_WAIT, &d);
    }
    if (rc == OS_OK)
        rc = ledger_run(l, &changes, "UPDATE txs SET quorum_wait = 1 WHERE id = ? AND state = ?", "ii", row,
                        (int64_t)OS_TX_AWAITING);
    if (rc == OS_OK && changes != 1) rc = OS_ERR_NOT_FOUND;
    return ledger_op_end(l, rc);
}

int os_ledger_tx_quorum_set(os_ledger *l, int64_t row, int quorum_wait) {
    int changes = 0;
    if (!l || quorum_wait < 0 || quorum_wait > 2) return OS_ERR_ARG;
    /* only a draft still pending: a cancel may have released it (os_ledger_payout_cancel) */
    int rc = ledger_run(l, &changes, "UPDATE txs SET quorum_wait = ? WHERE id = ? AND state IN (?, ?)", "iiii",
                        (int64_t)quorum_wait, row, (int64_t)OS_TX_SIGNING, (int64_t)OS_TX_AWAITING);
    return rc == OS_OK && changes != 1 ? OS_ERR_NOT_FOUND : rc;
}

int os_ledger_payout_tx_row(os_ledger *l, int64_t id, int64_t *row) {
    if (!l || !row) return OS_ERR_ARG;
    *row = 0;
    int rc = ledger_int(l, row, "SELECT coalesce(tx_row, 0) FROM payouts WHERE id = ?", "i", id);
    return rc;
}

int os_ledger_payouts_awaiting_quorum(os_ledger *l, uint64_t *n) {
    int64_t v = 0;
    if (!l || !n) return OS_ERR_ARG;
    int rc = ledger_int(l, &v, "SELECT count(*) FROM payouts p JOIN txs t ON t.id = p.tx_row"
                               " WHERE t.state = ? AND t.quorum_wait != 0 AND p.status = ?",
                        "ii", (int64_t)OS_TX_AWAITING, (int64_t)OS_PAYOUT_AWAITING_APPROVAL);
    *n = rc == OS_OK ? (uint64_t)v : 0;
    return rc;
}

int os_ledger_payout_id_by_nonce(os_ledger *l, const uint8_t nonce[32], int64_t *id) {
    if (!l || !nonce || !id) return OS_ERR_ARG;
    return ledger_int(l, id, "SELECT id FROM payouts WHERE nonce = ?", "b", nonce, 32);
}
