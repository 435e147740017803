/* oncesign host — the vouchers table (schema v9, issue 14). See ledger.h. */
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"
#include "voucher.h"

int os_ledger_voucher_put(os_ledger *l, const os_voucher *v) {
    uint8_t buf[OS_VOUCHER_BYTES];
    if (!l || !v) return OS_ERR_ARG;
    int rc = os_voucher_encode(v, buf);
    if (rc != OS_OK) return rc;
    return ledger_run(l, NULL, "INSERT INTO vouchers (nonce, voucher) VALUES (?,?)", "bb", v->nonce, 32, buf,
                      (int)sizeof buf);
}

int os_ledger_voucher_get(os_ledger *l, const uint8_t nonce[32], os_voucher *v) {
    sqlite3_stmt *st = NULL;
    if (!l || !nonce || !v) return OS_ERR_ARG;
    int rc = ledger_query(l, &st, "SELECT voucher FROM vouchers WHERE nonce = ?", "b", nonce, 32);
    if (rc != OS_OK) return rc;
    int ok = sqlite3_column_bytes(st, 0) == OS_VOUCHER_BYTES &&
             os_voucher_decode(sqlite3_column_blob(st, 0), v) == OS_OK && memcmp(v->nonce, nonce, 32) == 0;
    rc = ledger_query_end(l, st, SQLITE_ROW);
    return rc == OS_OK && !ok ? OS_ERR_DB : rc;
}

int os_ledger_vouchers_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                     int (*f)(void *ctx, const uint8_t nonce[32], const os_voucher *v), void *ctx) {
    if (!l || !hash_prevouts || !tx_digest || !f) return OS_ERR_ARG;
    os_ledger_lock(l);
    /* A payout leaf is recorded once, by the transaction that inserted it (NEW); anchor entries
     * carry a zero nonce. Key order is the signer's output order (keys strictly increase). */
    sqlite3_stmt *st = ledger_prep(l, "SELECT t.nonce, v.voucher FROM tree_leaves t LEFT JOIN vouchers v ON v.nonce = t.nonce"
                                      " WHERE t.tx_row IN (SELECT id FROM txs WHERE hash_prevouts = ?1 AND tx_digest = ?2)"
                                      " AND t.nonce != zeroblob(32) ORDER BY t.key");
    int rc = st ? OS_OK : OS_ERR_DB, r = SQLITE_DONE;
    if (st) {
        sqlite3_bind_blob(st, 1, hash_prevouts, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, tx_digest, 32, SQLITE_STATIC);
    }
    while (rc == OS_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        os_voucher v;
        const uint8_t *nonce = sqlite3_column_blob(st, 0);
        int has = sqlite3_column_type(st, 1) != SQLITE_NULL;
        if (sqlite3_column_bytes(st, 0) != 32 ||
            (has && (sqlite3_column_bytes(st, 1) != OS_VOUCHER_BYTES ||
                     os_voucher_decode(sqlite3_column_blob(st, 1), &v) != OS_OK || memcmp(v.nonce, nonce, 32) != 0))) {
            rc = OS_ERR_DB;
            break;
        }
        rc = f(ctx, nonce, has ? &v : NULL);
    }
    if (rc == OS_OK && r != SQLITE_DONE) rc = OS_ERR_DB;
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return rc;
}
