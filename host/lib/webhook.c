/* oncesign host — webhook delivery (contract in webhook.h). */
#include "webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "log.h"
#include "oncesign/check.h"
#include "oncesign/status.h"
#include "oncesign/version.h"
#include "rpc.h"

#define WEBHOOK_BODY_MAX 2048

static _Atomic uint64_t delivered_count, failed_count;

void os_webhook_counts(uint64_t *delivered, uint64_t *failed) {
    if (delivered) *delivered = atomic_load_explicit(&delivered_count, memory_order_relaxed);
    if (failed) *failed = atomic_load_explicit(&failed_count, memory_order_relaxed);
}

const char *os_webhook_event_type(os_payout_status status) {
    switch (status) {
    case OS_PAYOUT_AWAITING_APPROVAL: return "payout.awaiting_approval";
    case OS_PAYOUT_BROADCAST: return "payout.broadcast";
    case OS_PAYOUT_CONFIRMED: return "payout.confirmed";
    case OS_PAYOUT_FAILED: return "payout.failed";
    case OS_PAYOUT_AWAITING_REANCHOR: return "payout.awaiting_reanchor";
    default: return NULL;
    }
}

static json_t *string_or_null(const char *s) { return s[0] != '\0' ? json_string(s) : json_null(); }

int os_webhook_body(const os_webhook_event *ev, char *body, size_t cap, size_t *len) {
    ARG_CHECK(ev != NULL && body != NULL && len != NULL && cap > 0);
    const char *type = os_webhook_event_type(ev->status);
    ARG_CHECK(type != NULL);
    *len = 0;
    body[0] = '\0';
    char txid[65] = "";
    if (ev->has_txid) os_txid_to_hex(ev->txid, txid);
    json_t *p = json_object(), *o = json_object();
    int bad = p == NULL || o == NULL;
    bad |= json_object_set_new(p, "id", json_integer((json_int_t)ev->payout_id));
    bad |= json_object_set_new(p, "status", json_string(os_payout_status_name(ev->status)));
    bad |= json_object_set_new(p, "amount", json_integer((json_int_t)ev->amount));
    bad |= json_object_set_new(p, "address", json_string(ev->address));
    bad |= json_object_set_new(p, "code_id", string_or_null(ev->code_id));
    bad |= json_object_set_new(p, "idempotency_key", string_or_null(ev->idempotency_key));
    bad |= json_object_set_new(p, "txid", string_or_null(txid));
    bad |= json_object_set_new(p, "confirmations", json_integer((json_int_t)ev->confirmations));
    bad |= json_object_set_new(p, "error", string_or_null(ev->error));
    bad |= json_object_set_new(o, "id", json_string(ev->event_id));
    bad |= json_object_set_new(o, "type", json_string(type));
    bad |= json_object_set_new(o, "created_at", json_integer((json_int_t)ev->created_at));
    if (!bad) {
        bad = json_object_set_new(o, "payout", p);
        p = NULL;   /* o owns it now, whether or not the set succeeded */
    }
    size_t n = bad ? 0 : json_dumpb(o, body, cap, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(p);
    json_decref(o);
    if (bad || n == 0 || n >= cap) {
        body[0] = '\0';
        return OS_ERR_INTERNAL;
    }
    body[n] = '\0';
    *len = n;
    return OS_OK;
}

int os_webhook_sign(const uint8_t *secret, size_t secret_len, int64_t t, const char *body, size_t body_len,
                    char hex[65]) {
    ARG_CHECK(secret != NULL && body != NULL && hex != NULL);
    ARG_CHECK(secret_len >= 1 && secret_len <= OS_WEBHOOK_SECRET_MAX);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    char prefix[24];
    int plen = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    VERIFY_CHECK(md != NULL && plen > 0 && (size_t)plen < sizeof prefix);
    mbedtls_md_context_t ctx;
    mbedtls_md_init(&ctx);
    uint8_t mac[32];
    int ok = mbedtls_md_setup(&ctx, md, 1) == 0 && mbedtls_md_hmac_starts(&ctx, secret, secret_len) == 0 &&
             mbedtls_md_hmac_update(&ctx, (const uint8_t *)prefix, (size_t)plen) == 0 &&
             mbedtls_md_hmac_update(&ctx, (const uint8_t *)body, body_len) == 0 &&
             mbedtls_md_hmac_finish(&ctx, mac) == 0;
    mbedtls_md_free(&ctx);
    if (ok) os_hex_encode(mac, 32, hex);
    mbedtls_platform_zeroize(mac, sizeof mac);
    return ok ? OS_OK : OS_ERR_CRYPTO;
}

uint64_t os_webhook_backoff_ms(uint32_t failures, uint64_t retry_ms, uint64_t max_ms) {
    uint64_t wait = retry_ms;
    for (uint32_t i = 1; i < failures && wait < max_ms; i++) wait = wait > UINT64_MAX / 2 ? UINT64_MAX : wait * 2;
    return wait < max_ms ? wait : max_ms;
}

struct os_webhook {
    os_ledger *ledger;
    char *url;
    uint8_t secret[OS_WEBHOOK_SECRET_MAX];
    size_t secret_len;
    uint64_t retry_ms, max_retry_ms;
    uint32_t timeout_ms, poll_ms;
    CURL *curl;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
};

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps up to ms, or until os_webhook_stop. Returns 1 when stopping. */
static int idle(os_webhook *w, uint32_t ms) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->stopping && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT) {
    }
    int stopping = w->stopping;
    pthread_mutex_unlock(&w->mu);
    return stopping;
}

static size_t discard(char *p, size_t size, size_t n, void *ctx) {
    (void)p;
    (void)ctx;
    return size * n;
}

/* One attempt. Returns OS_OK when the receiver answered 2xx; otherwise OS_ERR_IO with why. */
static int post(os_webhook *w, const os_webhook_event *ev, const char *body, size_t len, char *why, size_t cap) {
    int64_t t = now_ms() / 1000;
    char mac[65], sig[128], id_header[64], type_header[64];
    if (os_webhook_sign(w->secret, w->secret_len, t, body, len, mac) != OS_OK) {
        snprintf(why, cap, "signing failed");
        return OS_ERR_IO;
    }
    snprintf(sig, sizeof sig, OS_WEBHOOK_SIG_HEADER ": t=%" PRId64 ",v1=%s", t, mac);
    snprintf(id_header, sizeof id_header, "Oncesign-Event-Id: %s", ev->event_id);
    snprintf(type_header, sizeof type_header, "Oncesign-Event: %s", os_webhook_event_type(ev->status));
    struct curl_slist *h = NULL, *next;
    const char *lines[] = { "Content-Type: application/json", "User-Agent: oncesignd/" ONCESIGN_VERSION, sig,
                            id_header, type_header, "Expect:" };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        next = curl_slist_append(h, lines[i]);
        if (next == NULL) {
            curl_slist_free_all(h);
            snprintf(why, cap, "out of memory");
            return OS_ERR_IO;
        }
        h = next;
    }
    CURL *c = w->curl;
    char curl_err[CURL_ERROR_SIZE] = "";
    CURLcode rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    if (rc == CURLE_OK) rc = curl_easy_perform(c);
    long http = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(why, cap, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
        return OS_ERR_IO;
    }
    if (http < 200 || http > 299) {
        snprintf(why, cap, "the receiver answered HTTP %ld", http);
        return OS_ERR_IO;
    }
    return OS_OK;
}

static void *worker(void *arg) {
    os_webhook *w = arg;
    int db_failing = 0;
    for (;;) {
        os_webhook_event ev;
        int rc = os_ledger_webhook_next(w->ledger, now_ms(), &ev);
        if (rc != OS_OK) {
            if (rc != OS_ERR_NOT_FOUND && !db_failing) {
                os_log_field f[] = { OS_LOG_STR("status", os_status_name(rc)) };
                os_log(OS_LOG_ERROR, "webhook.outbox_unreadable", f, 1, "cannot read the webhook outbox; retrying");
            }
            db_failing = rc != OS_ERR_NOT_FOUND;
            if (idle(w, w->poll_ms)) break;
            continue;
        }
        db_failing = 0;
        char body[WEBHOOK_BODY_MAX], why[256] = "";
        size_t len = 0;
        rc = os_webhook_body(&ev, body, sizeof body, &len);
        if (rc == OS_OK) rc = post(w, &ev, body, len, why, sizeof why);
        else snprintf(why, sizeof why, "the event's body could not be built (%s)", os_status_name(rc));
        os_log_field f[] = { OS_LOG_STR("event_id", ev.event_id), OS_LOG_STR("event", os_webhook_event_type(ev.status)),
                             OS_LOG_INT("payout_id", ev.payout_id), OS_LOG_INT("attempt", ev.attempts + 1) };
        int stored;
        if (rc == OS_OK) {
            atomic_fetch_add_explicit(&delivered_count, 1, memory_order_relaxed);
            os_log(OS_LOG_INFO, "webhook.delivered", f, 4, "delivered");
            stored = os_ledger_webhook_delivered(w->ledger, ev.row);
        } else {
            atomic_fetch_add_explicit(&failed_count, 1, memory_order_relaxed);
            uint64_t wait = os_webhook_backoff_ms(ev.attempts + 1, w->retry_ms, w->max_retry_ms);
            os_log(OS_LOG_WARNING, "webhook.delivery_failed", f, 4, "%s; next attempt in %" PRIu64 " ms", why, wait);
            stored = os_ledger_webhook_failed(w->ledger, ev.row, now_ms() + (int64_t)wait, why);
        }
        if (stored != OS_OK) {
            /* The row stays due: it is sent again (at-least-once; the receiver dedupes by event id). */
            os_log_field g[] = { OS_LOG_STR("event_id", ev.event_id), OS_LOG_STR("status", os_status_name(stored)) };
            os_log(OS_LOG_ERROR, "webhook.outbox_unwritable", g, 2, "cannot record the delivery attempt");
            if (idle(w, w->poll_ms)) break;
        }
        pthread_mutex_lock(&w->mu);
        int stopping = w->stopping;
        pthread_mutex_unlock(&w->mu);
        if (stopping) break;
    }
    return NULL;
}

int os_webhook_start(os_ledger *ledger, const os_webhook_config *cfg, os_webhook **out) {
    ARG_CHECK(ledger != NULL && cfg != NULL && out != NULL && cfg->url != NULL && cfg->secret != NULL);
    ARG_CHECK(strncmp(cfg->url, "http://", 7) == 0 || strncmp(cfg->url, "https://", 8) == 0);
    ARG_CHECK(cfg->secret_len >= OS_WEBHOOK_SECRET_MIN && cfg->secret_len <= OS_WEBHOOK_SECRET_MAX);
    ARG_CHECK(cfg->retry_ms > 0 && cfg->max_retry_ms >= cfg->retry_ms && cfg->timeout_ms > 0);
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return OS_ERR_IO;
    os_webhook *w = calloc(1, sizeof *w);
    if (w == NULL) {
        curl_global_cleanup();
        return OS_ERR_IO;
    }
    w->ledger = ledger;
    w->url = strdup(cfg->url);
    memcpy(w->secret, cfg->secret, cfg->secret_len);
    w->secret_len = cfg->secret_len;
    w->retry_ms = cfg->retry_ms;
    w->max_retry_ms = cfg->max_retry_ms;
    w->timeout_ms = cfg->timeout_ms;
    w->poll_ms = cfg->poll_ms ? cfg->poll_ms : 200;
    w->curl = curl_easy_init();
    int rc = w->url != NULL && w->curl != NULL ? OS_OK : OS_ERR_IO;
    if (rc == OS_OK) {
        CURL *c = w->curl;
        int ok = curl_easy_setopt(c, CURLOPT_URL, w->url) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)w->timeout_ms) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)w->timeout_ms) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
                 curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
        rc = ok ? OS_OK : OS_ERR_IO;
    }
    if (rc == OS_OK) rc = os_ledger_webhooks_enable(ledger, 1);
    if (rc == OS_OK) {
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->thread, NULL, worker, w) != 0) {
            pthread_cond_destroy(&w->cv);
            pthread_mutex_destroy(&w->mu);
            rc = OS_ERR_IO;
        }
    }
    if (rc != OS_OK) {
        if (w->curl) curl_easy_cleanup(w->curl);
        free(w->url);
        mbedtls_platform_zeroize(w->secret, sizeof w->secret);
        free(w);
        curl_global_cleanup();
        return rc;
    }
    *out = w;
    return OS_OK;
}

void os_webhook_stop(os_webhook *w) {
    if (w == NULL) return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    curl_easy_cleanup(w->curl);
    free(w->url);
    mbedtls_platform_zeroize(w->secret, sizeof w->secret);
    free(w);
    curl_global_cleanup();
}
