/* oncesign host — the webhook outbox (contract in ledger.h; the rows come from the v6 trigger). */
#include <stdio.h>
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"
#include "rpc.h"

int os_ledger_webhooks_enable(os_ledger *l, int on) {
    if (!l) return OS_ERR_ARG;
    const uint8_t v = on ? 1 : 0;
    return os_ledger_meta_put(l, "webhooks", &v, 1);
}

static void copy_text(char *out, size_t cap, sqlite3_stmt *st, int col) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

int os_ledger_webhook_next(os_ledger *l, int64_t now_ms, os_webhook_event *ev) {
    if (!l || !ev) return OS_ERR_ARG;
    memset(ev, 0, sizeof *ev);
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st,
                          "SELECT id, event_id, payout_id, status, amount, address, code_id, idem_key, txid,"
                          " confirmations, error, created_at, attempts FROM webhook_outbox"
                          " WHERE next_at_ms <= ? ORDER BY next_at_ms, id LIMIT 1",
                          "i", now_ms);
    if (rc != OS_OK) return rc;
    ev->row = sqlite3_column_int64(st, 0);
    copy_text(ev->event_id, sizeof ev->event_id, st, 1);
    ev->payout_id = sqlite3_column_int64(st, 2);
    ev->status = (os_payout_status)sqlite3_column_int(st, 3);
    ev->amount = (uint64_t)sqlite3_column_int64(st, 4);
    copy_text(ev->address, sizeof ev->address, st, 5);
    if (sqlite3_column_bytes(st, 6) == 16) os_hex_encode(sqlite3_column_blob(st, 6), 16, ev->code_id);
    copy_text(ev->idempotency_key, sizeof ev->idempotency_key, st, 7);
    if (sqlite3_column_bytes(st, 8) == 32) {
        memcpy(ev->txid, sqlite3_column_blob(st, 8), 32);
        ev->has_txid = 1;
    }
    ev->confirmations = (uint32_t)sqlite3_column_int64(st, 9);
    copy_text(ev->error, sizeof ev->error, st, 10);
    ev->created_at = sqlite3_column_int64(st, 11);
    ev->attempts = (uint32_t)sqlite3_column_int64(st, 12);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_webhook_delivered(os_ledger *l, int64_t row) {
    if (!l) return OS_ERR_ARG;
    return ledger_run(l, NULL, "DELETE FROM webhook_outbox WHERE id = ?", "i", row);
}

int os_ledger_webhook_failed(os_ledger *l, int64_t row, int64_t next_at_ms, const char *why) {
    if (!l || !why) return OS_ERR_ARG;
    return ledger_run(l, NULL,
                      "UPDATE webhook_outbox SET attempts = attempts + 1, next_at_ms = ?, last_error = ? WHERE id = ?",
                      "iti", next_at_ms, why, row);
}

int os_ledger_webhook_depth(os_ledger *l, uint64_t *depth, int64_t *oldest_created_at) {
    if (!l || !depth || !oldest_created_at) return OS_ERR_ARG;
    int64_t n = 0;
    int rc = ledger_int(l, &n, "SELECT count(*) FROM webhook_outbox", "");
    if (rc == OS_OK) rc = ledger_int(l, oldest_created_at, "SELECT coalesce(min(created_at), 0) FROM webhook_outbox", "");
    *depth = rc == OS_OK ? (uint64_t)n : 0;
    return rc;
}
