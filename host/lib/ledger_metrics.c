/* oncesign host — what /metrics reads from the ledger beyond payout counts (contract in ledger.h). */
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"

int os_ledger_backlog_get(os_ledger *l, os_ledger_backlog *out) {
    if (!l || !out) return OS_ERR_ARG;
    memset(out, 0, sizeof *out);
    /* not yet handed to the network: requested, awaiting approval, signing, signed */
    int rc = ledger_int(l, &out->oldest_queued_at, "SELECT coalesce(min(created_at), 0) FROM payouts WHERE status IN (?, ?, ?, ?)",
                        "iiii", (int64_t)OS_PAYOUT_REQUESTED, (int64_t)OS_PAYOUT_AWAITING_APPROVAL,
                        (int64_t)OS_PAYOUT_SIGNING, (int64_t)OS_PAYOUT_SIGNED);
    if (rc == OS_OK)
        rc = ledger_int(l, &out->oldest_awaiting_since,
                        "SELECT coalesce(min(updated_at), 0) FROM payouts WHERE status = ?", "i",
                        (int64_t)OS_PAYOUT_AWAITING_APPROVAL);
    if (rc == OS_OK) rc = ledger_int(l, &out->nonce_set_size, "SELECT count(*) FROM tree_leaves WHERE nonce != zeroblob(32)", "");
    return rc;
}
