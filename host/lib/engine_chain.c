/* oncesign host — the payout engine's signer and monacoind side (worker, reconciler, start-up check).
 * First cut: ledger-only; a device spec is refused until the worker lands. */
#include <string.h>
#include <stdio.h>

#include "engine_internal.h"
#include "oncesign/status.h"

int engine_attach(os_engine *e, char *err, size_t cap) {
    (void)e;
    if (err && cap) snprintf(err, cap, "signer support is not built yet (ledger-only engine)");
    return OS_ERR_UNSUPPORTED;
}
void engine_detach(os_engine *e) { (void)e; }
int os_engine_start(os_engine *e) { return e && e->device_attached ? OS_OK : OS_ERR_UNSUPPORTED; }
void os_engine_stop(os_engine *e) { (void)e; }
int os_engine_reconcile_now(os_engine *e) { (void)e; return OS_ERR_UNSUPPORTED; }
int os_engine_receive_address(os_engine *e, char address[OS_MAX_ADDRESS + 1]) { (void)e; (void)address; return OS_ERR_UNSUPPORTED; }
int os_engine_rebuild_tree(os_engine *e, size_t *n_leaves, char *err, size_t cap) { (void)e; (void)n_leaves; (void)err; (void)cap; return OS_ERR_UNSUPPORTED; }
int os_engine_sign_external(os_engine *e, const os_sign_tx *tx, os_input_sig *sigs, os_sign_outcome *outcome) { (void)e; (void)tx; (void)sigs; (void)outcome; return OS_ERR_UNSUPPORTED; }
