/* oncesign host — the payout engine's link to the signer: a device that is unplugged, rebooted or
 * restarted (its old link dies) is reopened with backoff, and the start-up check (I6: log head and
 * nonce root against the ledger, docs/LIFECYCLE.md) runs again before anything is signed; while it is
 * idle the link is probed, so health never reports a signer that is gone. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"
#include "log.h"
#include "oncesign/status.h"

#define LINK_PROBE_MS       1000   /* an idle signer is asked for GET_INFO this often */
#define LINK_BACKOFF_MIN_MS 100
#define LINK_BACKOFF_MAX_MS 5000

int64_t engine_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void engine_log(const char *level, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* one log for the whole daemon: time, level and the form (text, journal, JSON) of host/lib/log.h */
    os_log_level lv = strcmp(level, "error") == 0 ? OS_LOG_ERROR : strcmp(level, "warn") == 0 ? OS_LOG_WARNING : OS_LOG_INFO;
    os_log(lv, "engine", NULL, 0, "%s", msg);
}

/* Whether the link needs (re)opening: the signer does not answer, or has not yet passed the first
 * start-up check (absent when the engine opened) and no mismatch stopped signing for good. */
static int link_down(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int down = !e->signer_reachable || (!e->signer_checked && !e->signer_mismatch);
    pthread_mutex_unlock(&e->mu);
    return down;
}

static const char *link_name(const os_engine *e) {
    if (e->client) return os_client_description(e->client);
    return e->cfg.device ? e->cfg.device : "(lent)";
}

/* sign_mu held, the link found dead at now: reopen and recheck when the backoff allows. */
static void reconnect(os_engine *e, int64_t now) {
    char err[256] = "";
    if (e->link_lost_at_ms == 0) {
        e->link_lost_at_ms = now;
        e->link_backoff_ms = LINK_BACKOFF_MIN_MS;
        e->link_next_try_ms = now + LINK_BACKOFF_MIN_MS;
        engine_log("warn", "signer %s unreachable (%s): signing paused, reconnecting", link_name(e),
                   e->client ? os_client_last_error(e->client) : "not reachable at start-up");
        return;
    }
    if (now < e->link_next_try_ms) return;
    int rc;
    if (e->client == NULL) {
        /* absent since start-up (cfg.wait_for_signer): the first open */
        rc = os_client_open(e->cfg.device, &e->client, err, sizeof err);
        if (rc == OS_OK) e->client_owned = 1;
    } else {
        rc = os_client_reopen(e->client, err, sizeof err);
        if (rc == OS_ERR_UNSUPPORTED) rc = OS_OK;   /* a lent client: the caller reconnects it; just ask again */
    }
    if (rc == OS_OK) rc = engine_signer_recheck(e, err, sizeof err);
    if (rc == OS_OK) {
        engine_log("info", "signer %s reconnected after %lld ms; its log and nonce root agree with the ledger,"
                   " signing resumes", link_name(e), (long long)(now - e->link_lost_at_ms));
        e->link_lost_at_ms = 0;
        e->link_last_probe_ms = now;
        return;
    }
    if (rc == OS_ERR_SIGNER_MISMATCH) {
        /* signer_check stopped signing and said why; nothing more to try */
        engine_log("error", "signer %s reconnected but does not match the ledger: signing stays disabled",
                   link_name(e));
        e->link_lost_at_ms = 0;
        return;
    }
    e->link_backoff_ms = e->link_backoff_ms * 2 > LINK_BACKOFF_MAX_MS ? LINK_BACKOFF_MAX_MS : e->link_backoff_ms * 2;
    e->link_next_try_ms = now + e->link_backoff_ms;
    const char *why = err[0] || !e->client ? err : os_client_last_error(e->client);
    pthread_mutex_lock(&e->mu);
    snprintf(e->signer_wait_reason, sizeof e->signer_wait_reason, "%s: %s", os_status_name(rc), why);
    pthread_mutex_unlock(&e->mu);
    engine_log("warn", "signer %s: reconnect failed (%s: %s); next attempt in %u ms", link_name(e),
               os_status_name(rc), why, e->link_backoff_ms);
}

void engine_link_tick(os_engine *e) {
    if (!e->device_attached || (e->client == NULL && e->cfg.device == NULL)) return;
    /* A session holds the signer (perhaps waiting for the operator): it is in use, not gone. */
    if (pthread_mutex_trylock(&e->sign_mu) != 0) return;
    int64_t now = engine_mono_ms();
    if (!link_down(e) && now - e->link_last_probe_ms >= LINK_PROBE_MS) {
        e->link_last_probe_ms = now;
        (void)engine_signer_probe(e);
    }
    if (link_down(e)) reconnect(e, now);
    pthread_mutex_unlock(&e->sign_mu);
}
