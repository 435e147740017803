/* oncesignd — the payout service: the ledger, the payout engine (worker + reconciler) in front of the
 * signer and monacoind, and the HTTP API for the service backend (docs/API.md, docs/LIFECYCLE.md).
 *
 *   oncesignd [--config FILE] [--check-config] [--SETTING VALUE ...]   (settings: settings.c, --help)
 *
 * The config file holds the same settings as `name = value` lines; flags given on the command line
 * win. Prints `oncesignd: listening on ADDR:PORT` (and `... on unix:PATH`) on stdout once it
 * serves. SIGTERM/SIGINT: stops the API, then the worker and reconciler (an in-flight signing
 * session finishes), closes the ledger, exits 0. SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored
 * (nothing is re-read: restart to change settings). The ledger (--db) must exist; --init creates it
 * when missing (a mistyped path is refused). While it runs it holds "<db>.oncesignd" (its pid) and serves
 * the admin socket "<db>.admin.sock" (mode 0600), through which `oncesign` reaches the signer the
 * daemon holds (docs/OPERATING.md "The signer while oncesignd runs"); a second daemon on the same
 * ledger is refused at start.
 * Exit status: 0 clean stop, 1 usage/config error, 2 start-up failure (ledger, a signer that answers but is
 * not initialized, bind). A signer or node not reachable at start is waited for (docs/OPERATING.md).
 * ONCESIGN_CRASH_AT=<point>[:<n>] (tests only) exits 137 at a named transition: docs/LIFECYCLE.md.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "daemon_lock.h"
#include "engine.h"
#include "oncesign/status.h"
#include "log.h"
#include "oncesign/version.h"
#include "settings.h"
#include "webhook.h"

int main(int argc, char **argv) {
    daemon_settings s;
    switch (daemon_settings_load(argc, argv, &s)) {
    case DAEMON_RUN: break;
    case DAEMON_EXIT_OK: return 0;
    default: return 1;
    }
    os_log_format log_format;
    if (os_log_format_parse(s.log_format, &log_format) != OS_OK ||
        os_log_configure(log_format, OS_LOG_INFO, 2) != OS_OK) {
        fprintf(stderr, "oncesignd: log-format must be auto, text, journal or json\n");
        return 1;
    }
    /* The ledger holds every payout address and code hash: it and its -wal/-shm companions are
     * created for this user only. (The API's Unix socket sets its own mode, 0660.) */
    umask(077);
    os_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.network = strcmp(s.network, "test") == 0      ? OS_NET_TEST
                  : strcmp(s.network, "regtest") == 0 ? OS_NET_REGTEST
                                                      : OS_NET_MAIN;
    cfg.db_path = s.db;
    cfg.ledger_must_exist = !s.init;
    cfg.device = s.device;
    cfg.wait_for_signer = 1;   /* a signer unplugged or not yet started is waited for, not a start-up failure */
    cfg.rpc_url = s.rpc_url[0] ? s.rpc_url : NULL;
    cfg.rpc_user = s.rpc_user[0] ? s.rpc_user : NULL;
    cfg.rpc_password = s.rpc_user[0] ? s.rpc_password : NULL;   /* from the config file or rpc-password-file */
    cfg.rpc_cookie_file = s.rpc_cookie[0] ? s.rpc_cookie : NULL;
    cfg.rpc_timeout_ms = (int)s.rpc_timeout_ms;
    cfg.batch_max = (uint32_t)s.batch_max;
    cfg.batch_delay_ms = (uint32_t)s.batch_delay_ms;
    cfg.fee_floor = s.fee_floor;
    cfg.fee_cap = s.fee_cap;
    cfg.max_payout = s.max_payout;
    cfg.vouchers_required = (int)s.vouchers_required;
    cfg.confirmations_final = (uint32_t)s.confirmations_final;
    cfg.reconcile_interval_ms = (uint32_t)s.reconcile_interval_ms;
    cfg.operator_wait_ms = (uint32_t)s.operator_wait_ms;

    /* Signals are taken by sigwait below, in this thread only. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    /* Their default action would end the daemon mid-operation (a stray `kill -HUP`, a log rotator). */
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[640] = "";
    char admin_path[DAEMON_MAX_STR + 16];
    os_daemon_lock lock;
    int rc = os_daemon_admin_path(s.db, admin_path, sizeof admin_path);
    if (rc == OS_OK) rc = os_daemon_lock_acquire(s.db, admin_path, s.device, &lock, err, sizeof err);
    else snprintf(err, sizeof err, "the ledger path %s is too long for its admin socket", s.db);
    if (rc != OS_OK) {
        os_log_field f[] = { OS_LOG_STR("status", os_status_name(rc)), OS_LOG_STR("db", s.db) };
        os_log(OS_LOG_ERROR, "daemon.start_failed", f, 2, "start-up failed: %s", err);
        return 2;
    }
    os_engine *engine = NULL;
    rc = os_engine_open(&cfg, &engine, err, sizeof err);
    if (rc == OS_ERR_SIGNER_MISMATCH && engine) {
        os_log(OS_LOG_ERROR, "daemon.signer_mismatch", NULL, 0,
               "signer mismatch: %s; signing is disabled (fail closed), the API serves reads, health reports"
               " signer false", err);
    } else if (rc != OS_OK) {
        os_log_field f[] = { OS_LOG_STR("status", os_status_name(rc)), OS_LOG_STR("db", s.db),
                             OS_LOG_STR("device", s.device) };
        os_log(OS_LOG_ERROR, "daemon.start_failed", f, 3, "start-up failed: %s", err);
        os_daemon_lock_release(&lock);
        return 2;
    }
    if (os_engine_start(engine) != OS_OK) {
        os_log(OS_LOG_ERROR, "daemon.start_failed", NULL, 0, "cannot start the worker threads");
        os_engine_close(engine);
        os_daemon_lock_release(&lock);
        return 2;
    }
    /* Webhooks: the outbox is on only while a receiver is configured (a ledger without one must not
     * collect events nobody sends); what is queued from an earlier run is delivered now. */
    os_webhook *webhooks = NULL;
    if (s.webhook_url[0] != '\0') {
        os_webhook_config wcfg = {.url = s.webhook_url, .secret = (const uint8_t *)s.webhook_secret,
                                  .secret_len = strlen(s.webhook_secret), .retry_ms = s.webhook_retry_ms,
                                  .max_retry_ms = s.webhook_retry_max_ms, .timeout_ms = (uint32_t)s.webhook_timeout_ms};
        rc = os_webhook_start(os_engine_ledger(engine), &wcfg, &webhooks);
    } else {
        rc = os_ledger_webhooks_enable(os_engine_ledger(engine), 0);
    }
    memset(s.webhook_secret, 0, sizeof s.webhook_secret);
    if (rc != OS_OK) {
        os_log_field f[] = { OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "daemon.start_failed", f, 1, "webhooks: cannot start the delivery worker");
        os_engine_stop(engine);
        os_engine_close(engine);
        return 2;
    }
    int tcp = strcmp(s.listen, "none") != 0;
    char db_dir[sizeof s.db];
    snprintf(db_dir, sizeof db_dir, "%s", s.db);
    os_api_config acfg = {.bind = tcp ? s.listen : NULL, .port = (uint16_t)s.port, .no_tcp = !tcp,
                          .unix_path = s.socket[0] ? s.socket : NULL, .admin_path = admin_path,
                          .token_file = s.token_file[0] ? s.token_file : NULL,
                          .connection_limit = (unsigned)s.connection_limit,
                          .per_client_limit = (unsigned)s.per_client_limit,
                          .request_timeout_ms = (unsigned)s.request_timeout_ms,
                          .disk_path = dirname(db_dir),
                          .disk_min_free = s.disk_min_free_mb * 1024ull * 1024ull};
    os_api *api = NULL;
    rc = os_api_start(engine, &acfg, &api, err, sizeof err);
    if (rc != OS_OK) {
        os_log_field f[] = { OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_ERROR, "daemon.start_failed", f, 1, "API: %s", err);
        os_webhook_stop(webhooks);
        os_engine_stop(engine);
        os_engine_close(engine);
        os_daemon_lock_release(&lock);
        return 2;
    }
    if (tcp) printf("oncesignd: listening on %s:%u\n", s.listen, (unsigned)os_api_port(api));
    if (s.socket[0]) printf("oncesignd: listening on unix:%s\n", s.socket);
    fflush(stdout);
    {
        os_log_field f[] = { OS_LOG_STR("version", ONCESIGN_VERSION), OS_LOG_STR("network", s.network),
                             OS_LOG_STR("db", s.db), OS_LOG_STR("device", s.device),
                             OS_LOG_STR("listen", tcp ? s.listen : "none"), OS_LOG_INT("port", tcp ? os_api_port(api) : 0),
                             OS_LOG_STR("socket", s.socket), OS_LOG_STR("admin_socket", admin_path) };
        os_log(OS_LOG_NOTICE, "daemon.started", f, 8, "serving");
    }
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGTERM || sig == SIGINT) break;
        os_log(OS_LOG_NOTICE, "daemon.signal_ignored", NULL, 0, "%s: ignored (nothing is re-read; SIGTERM stops)",
               sig == SIGHUP ? "SIGHUP" : sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
    }
    os_log(OS_LOG_NOTICE, "daemon.stopping", NULL, 0, "%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    os_api_stop(api);
    os_webhook_stop(webhooks);
    os_engine_stop(engine);
    os_engine_close(engine);
    os_daemon_lock_release(&lock);
    os_log(OS_LOG_NOTICE, "daemon.stopped", NULL, 0, "clean stop");
    return 0;
}
