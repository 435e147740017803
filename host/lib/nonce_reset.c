/* oncesign host — NONCE_RESET. See nonce_reset.h. */
#include "nonce_reset.h"

#include <string.h>

#include "oncesign/check.h"

int os_nonce_reset_make(const os_msg_info *info, const uint8_t fingerprint[4], const uint8_t prev_key[32],
                        uint64_t prev_seq, const uint8_t prev_head[32], os_msg_nonce_reset *m) {
    ARG_CHECK(info != NULL && fingerprint != NULL && prev_key != NULL && prev_head != NULL && m != NULL);
    memset(m, 0, sizeof *m);
    memcpy(m->fingerprint, fingerprint, 4);
    m->device_log_seq = info->log_seq;
    memcpy(m->device_log_head, info->log_head, 32);
    memcpy(m->prev_attestation_key, prev_key, 32);
    m->prev_log_seq = prev_seq;
    memcpy(m->prev_log_head, prev_head, 32);
    return OS_OK;
}

int os_nonce_reset(os_client *c, const os_msg_nonce_reset *m, int timeout_ms, void (*on_pending)(void *ctx),
                   void *ctx) {
    ARG_CHECK(c != NULL && m != NULL);
    static __thread uint8_t buf[OS_MAX_MESSAGE];
    os_msg req, reply;
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_NONCE_RESET;
    req.u.nonce_reset = *m;
    int rc = os_client_call_wait(c, &req, &reply, buf, timeout_ms, on_pending, ctx);
    if (rc != OS_OK) return rc;
    if (reply.type == OS_MSG_ERROR) return reply.u.error.code ? reply.u.error.code : OS_ERR_INTERNAL;
    return reply.type == OS_MSG_SUCCESS ? OS_OK : OS_ERR_MSG_UNEXPECTED;
}
