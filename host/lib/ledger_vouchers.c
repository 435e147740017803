/* oncesign host — the vouchers table (schema v8, issue 14). See ledger.h. */
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
