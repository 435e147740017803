/* oncesign host — NONCE_RESET: the operator-approved end of a nonce set (docs/RECOVERY.md). */
#ifndef ONCESIGN_HOST_NONCE_RESET_H
#define ONCESIGN_HOST_NONCE_RESET_H

#include "client.h"
#include "oncesign/protocol.h"

/* Fills a NONCE_RESET for the device as info describes it now (its log head) and the wallet whose
 * master fingerprint is given; it continues from prev_key/prev_seq/prev_head (the device's own key
 * and head for a restore, a dead device's archived key and head for a replacement).
 * Returns: OS_OK; OS_ERR_ARG on NULL arguments.
 * Out:     m. */
int os_nonce_reset_make(const os_msg_info *info, const uint8_t fingerprint[4], const uint8_t prev_key[32],
                        uint64_t prev_seq, const uint8_t prev_head[32], os_msg_nonce_reset *m);

/* Sends NONCE_RESET and waits for the operator (on_pending is called at the first PENDING).
 * Returns: OS_OK when the device emptied its set and logged it; the device's refusal
 *          (OS_ERR_USER_REJECTED, OS_ERR_WRONG_WALLET, OS_ERR_LOG_HEAD, OS_ERR_NOT_INITIALIZED, ...);
 *          the client's failure (OS_ERR_TIMEOUT, OS_ERR_IO, ...). */
int os_nonce_reset(os_client *c, const os_msg_nonce_reset *m, int timeout_ms, void (*on_pending)(void *ctx),
                   void *ctx);

#endif /* ONCESIGN_HOST_NONCE_RESET_H */
