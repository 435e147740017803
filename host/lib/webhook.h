/* oncesign host — webhooks to the service backend (docs/API.md "Webhooks", issue 11).
 *
 * A payout's change to awaiting_approval, broadcast, confirmed or failed is queued in the ledger's
 * outbox by the same SQLite transaction that makes the change (the v6 trigger, ledger.c), so an
 * event is never lost by a crash and never sent for a change that rolled back. One worker thread
 * POSTs them, oldest due first, each signed with HMAC-SHA256 over "<t>.<body>" (t: unix seconds of
 * the attempt, inside the signed bytes, so a captured request cannot be replayed later as fresh);
 * a failure is retried after an exponentially growing wait (capped), for ever: delivery is
 * at-least-once, and the event id lets the receiver drop repeats. The worker takes the ledger's lock
 * only for the few statements around each attempt, never while a request is in flight, so the payout
 * engine never waits for a receiver.
 */
#ifndef ONCESIGN_HOST_WEBHOOK_H
#define ONCESIGN_HOST_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#include "ledger.h"

#define OS_WEBHOOK_SIG_HEADER "Oncesign-Signature"   /* t=<unix seconds>,v1=<64 hex digits> */
#define OS_WEBHOOK_SECRET_MIN 16
#define OS_WEBHOOK_SECRET_MAX 256

/* "payout.awaiting_approval", "payout.broadcast", "payout.confirmed", "payout.failed"; NULL for a
 * status that is not an event. */
const char *os_webhook_event_type(os_payout_status status);

/* The JSON body of an event (docs/API.md "Webhooks"): id, type, created_at and the payout snapshot.
 * Returns: OS_OK; OS_ERR_ARG (NULL, or a status that is not an event); OS_ERR_INTERNAL (out of
 *          memory, or the body does not fit cap).
 * Out:     body: NUL-terminated, *len its length. */
int os_webhook_body(const os_webhook_event *ev, char *body, size_t cap, size_t *len);

/* HMAC-SHA256(secret, "<t>." || body) as 64 lower-case hex digits: the v1 of the signature header.
 * Returns: OS_OK; OS_ERR_ARG (NULL, or secret_len outside 1..OS_WEBHOOK_SECRET_MAX); OS_ERR_CRYPTO.
 * Out:     hex: 65 bytes, NUL-terminated. */
int os_webhook_sign(const uint8_t *secret, size_t secret_len, int64_t t, const char *body, size_t body_len,
                    char hex[65]);

/* The wait before the next attempt after `failures` failed ones (1 or more): retry_ms, doubling per
 * failure, at most max_ms (never overflows). Returns it in milliseconds. */
uint64_t os_webhook_backoff_ms(uint32_t failures, uint64_t retry_ms, uint64_t max_ms);

typedef struct {
    const char *url;            /* http:// or https:// */
    const uint8_t *secret;      /* copied by os_webhook_start */
    size_t secret_len;          /* OS_WEBHOOK_SECRET_MIN..OS_WEBHOOK_SECRET_MAX */
    uint64_t retry_ms, max_retry_ms;   /* backoff (os_webhook_backoff_ms) */
    uint32_t timeout_ms;        /* bound for one attempt (connect included) */
    uint32_t poll_ms;           /* how often an idle worker looks for new rows (default 200 when 0):
                                 * rows are also written by other processes (oncesign payouts cancel) */
} os_webhook_config;

typedef struct os_webhook os_webhook;

/* Turns the ledger's outbox on (os_ledger_webhooks_enable) and starts the delivery thread. The
 * ledger must outlive the worker.
 * Returns: OS_OK; OS_ERR_ARG (a NULL, a bad URL, a secret of the wrong length, zero timings);
 *          OS_ERR_DB (the outbox could not be turned on); OS_ERR_IO (libcurl or the thread). */
int os_webhook_start(os_ledger *ledger, const os_webhook_config *cfg, os_webhook **out);

/* Stops the thread (an attempt in flight ends within timeout_ms) and frees the worker; what is still
 * queued stays in the outbox for the next start. NULL is ignored. */
void os_webhook_stop(os_webhook *w);

/* Attempts since the process started, for /metrics: delivered (2xx) and failed (anything else). */
void os_webhook_counts(uint64_t *delivered, uint64_t *failed);

#endif /* ONCESIGN_HOST_WEBHOOK_H */
