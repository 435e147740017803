/* oncesignd — the payout service: the ledger, the payout engine (worker + reconciler) in front of the
 * signer and monacoind, and the HTTP API for the service backend (docs/API.md, docs/LIFECYCLE.md).
 *
 *   oncesignd [--config FILE] [--init] [--db PATH] [--device SPEC] [--rpc-url URL]
 *             [--rpc-user U --rpc-password P | --rpc-cookie FILE] [--network main|test|regtest]
 *             [--listen ADDR] [--port N] [--token-file FILE] [--batch-max N] [--batch-delay-ms MS]
 *             [--fee-floor SAT_PER_KVB] [--fee-cap SAT_PER_KVB] [--max-payout SAT]
 *             [--confirmations-final N] [--reconcile-interval-ms MS] [--rpc-timeout-ms MS]
 *             [--operator-wait-ms MS]
 *
 * The config file holds the same settings as `name = value` lines (names without the dashes; `#`
 * starts a comment); flags given on the command line win. Prints
 * `oncesignd: listening on ADDR:PORT` on stdout once it serves. SIGTERM/SIGINT: stops the API,
 * then the worker and reconciler (an in-flight signing session finishes), closes the ledger, exits 0.
 * SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored (nothing is re-read: restart to change settings).
 * The ledger (--db) must exist; --init creates it when missing (a mistyped path is refused).
 * Exit status: 0 clean stop, 1 usage/config error, 2 start-up failure (ledger, a signer that answers but is
 * not initialized, bind). A signer or node not reachable at start is waited for (docs/OPERATING.md).
 * ONCESIGN_CRASH_AT=<point>[:<n>] (tests only) exits 137 at a named transition: docs/LIFECYCLE.md.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "engine.h"
#include "oncesign/status.h"

#define MAX_STR 512

typedef struct {
    char db[MAX_STR], device[MAX_STR], rpc_url[MAX_STR], rpc_user[MAX_STR], rpc_password[MAX_STR],
        rpc_cookie[MAX_STR], network[16], listen[64], token_file[MAX_STR];
    unsigned long long port, batch_max, batch_delay_ms, fee_floor, fee_cap, max_payout, confirmations_final,
        reconcile_interval_ms, rpc_timeout_ms, operator_wait_ms;
} settings;

static void usage(FILE *f) {
    fprintf(f,
            "usage: oncesignd [--config FILE] [--init] [--db PATH] [--device SPEC] [--rpc-url URL]\n"
            "                 [--rpc-user U --rpc-password P | --rpc-cookie FILE] [--network main|test|regtest]\n"
            "                 [--listen ADDR] [--port N] [--token-file FILE] [--batch-max N]\n"
            "                 [--batch-delay-ms MS] [--fee-floor SAT_PER_KVB] [--fee-cap SAT_PER_KVB]\n"
            "                 [--max-payout SAT] [--confirmations-final N] [--reconcile-interval-ms MS]\n"
            "                 [--rpc-timeout-ms MS] [--operator-wait-ms MS]\n");
}

/* Applies one setting by name. Returns 0, or -1 for an unknown name or a bad number. */
static int apply(settings *s, const char *name, const char *value) {
    struct {
        const char *name;
        char *str;
        size_t cap;
        unsigned long long *num;
    } table[] = {
        {"db", s->db, sizeof s->db, NULL},
        {"device", s->device, sizeof s->device, NULL},
        {"rpc-url", s->rpc_url, sizeof s->rpc_url, NULL},
        {"rpc-user", s->rpc_user, sizeof s->rpc_user, NULL},
        {"rpc-password", s->rpc_password, sizeof s->rpc_password, NULL},
        {"rpc-cookie", s->rpc_cookie, sizeof s->rpc_cookie, NULL},
        {"network", s->network, sizeof s->network, NULL},
        {"listen", s->listen, sizeof s->listen, NULL},
        {"token-file", s->token_file, sizeof s->token_file, NULL},
        {"port", NULL, 0, &s->port},
        {"batch-max", NULL, 0, &s->batch_max},
        {"batch-delay-ms", NULL, 0, &s->batch_delay_ms},
        {"fee-floor", NULL, 0, &s->fee_floor},
        {"fee-cap", NULL, 0, &s->fee_cap},
        {"max-payout", NULL, 0, &s->max_payout},
        {"confirmations-final", NULL, 0, &s->confirmations_final},
        {"reconcile-interval-ms", NULL, 0, &s->reconcile_interval_ms},
        {"rpc-timeout-ms", NULL, 0, &s->rpc_timeout_ms},
        {"operator-wait-ms", NULL, 0, &s->operator_wait_ms},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(name, table[i].name) != 0) continue;
        if (table[i].str) {
            if (strlen(value) >= table[i].cap) return -1;
            strcpy(table[i].str, value);
            return 0;
        }
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || !end || end == value || *end || value[0] == '-') return -1;
        *table[i].num = v;
        return 0;
    }
    return -1;
}

static char *trim(char *p) {
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strlen(p);
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r')) p[--n] = '\0';
    return p;
}

static int load_config(settings *s, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "oncesignd: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *hash = strchr(line, '#');
        if (hash) *hash = '\0';
        char *p = trim(line);
        if (!*p) continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "oncesignd: %s:%d: expected name = value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(p), *value = trim(eq + 1);
        if (apply(s, name, value) != 0) {
            fprintf(stderr, "oncesignd: %s:%d: unknown setting or bad value '%s'\n", path, lineno, name);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int main(int argc, char **argv) {
    settings s;
    memset(&s, 0, sizeof s);
    strcpy(s.db, "oncesign.db");
    strcpy(s.network, "main");
    strcpy(s.listen, "127.0.0.1");
    s.port = 8420;
    s.batch_max = 50;
    s.batch_delay_ms = 200;
    s.fee_floor = 1000;
    s.fee_cap = 100000;
    s.confirmations_final = 6;
    s.reconcile_interval_ms = 2000;
    s.rpc_timeout_ms = 5000;
    s.operator_wait_ms = 60000;
    /* the config file first, so flags override it */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc || load_config(&s, argv[i + 1]) != 0) return 1;
        }
    int init = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--init") == 0) {   /* the one flag without a value */
            init = 1;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            usage(stderr);
            return 1;
        }
        if (strcmp(argv[i], "--config") == 0) {
            i++;
            continue;
        }
        if (apply(&s, argv[i] + 2, argv[i + 1]) != 0) {
            fprintf(stderr, "oncesignd: unknown option or bad value: %s %s\n", argv[i], argv[i + 1]);
            usage(stderr);
            return 1;
        }
        i++;
    }
    os_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (strcmp(s.network, "main") == 0)
        cfg.network = OS_NET_MAIN;
    else if (strcmp(s.network, "test") == 0)
        cfg.network = OS_NET_TEST;
    else if (strcmp(s.network, "regtest") == 0)
        cfg.network = OS_NET_REGTEST;
    else {
        fprintf(stderr, "oncesignd: --network must be main, test or regtest\n");
        return 1;
    }
    if (!s.device[0]) {
        fprintf(stderr, "oncesignd: --device is required (sim:PATH, hid, serial:PATH)\n");
        return 1;
    }
    if (!s.token_file[0]) {
        fprintf(stderr, "oncesignd: --token-file is required\n");
        return 1;
    }
    if (s.rpc_url[0] && !s.rpc_cookie[0] && !s.rpc_user[0]) {
        fprintf(stderr, "oncesignd: monacoind auth: --rpc-user/--rpc-password or --rpc-cookie\n");
        return 1;
    }
    if (s.port > 65535 || s.batch_max == 0 || s.batch_max > OS_MAX_OUTPUTS - 1 || s.fee_floor == 0 ||
        s.fee_cap < s.fee_floor || s.batch_delay_ms > 600000 || s.rpc_timeout_ms == 0 || s.rpc_timeout_ms > 600000) {
        fprintf(stderr, "oncesignd: a numeric setting is out of range (port <= 65535, 1 <= batch-max <= %d,"
                        " 0 < fee-floor <= fee-cap, rpc-timeout-ms 1..600000)\n",
                OS_MAX_OUTPUTS - 1);
        return 1;
    }
    cfg.db_path = s.db;
    cfg.ledger_must_exist = !init;
    cfg.device = s.device;
    cfg.wait_for_signer = 1;   /* a signer unplugged or not yet started is waited for, not a start-up failure */
    cfg.rpc_url = s.rpc_url[0] ? s.rpc_url : NULL;
    cfg.rpc_user = s.rpc_user[0] ? s.rpc_user : NULL;
    cfg.rpc_password = s.rpc_user[0] ? s.rpc_password : NULL;
    cfg.rpc_cookie_file = s.rpc_cookie[0] ? s.rpc_cookie : NULL;
    cfg.rpc_timeout_ms = (int)s.rpc_timeout_ms;
    cfg.batch_max = (uint32_t)s.batch_max;
    cfg.batch_delay_ms = (uint32_t)s.batch_delay_ms;
    cfg.fee_floor = s.fee_floor;
    cfg.fee_cap = s.fee_cap;
    cfg.max_payout = s.max_payout;
    cfg.confirmations_final = (uint32_t)(s.confirmations_final ? s.confirmations_final : 6);
    cfg.reconcile_interval_ms = (uint32_t)(s.reconcile_interval_ms ? s.reconcile_interval_ms : 2000);
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

    os_engine *engine = NULL;
    char err[512] = "";
    int rc = os_engine_open(&cfg, &engine, err, sizeof err);
    if (rc == OS_ERR_SIGNER_MISMATCH && engine) {
        fprintf(stderr, "oncesignd: signer mismatch: %s\noncesignd: signing is disabled (fail closed); the API"
                        " serves reads, health reports signer_ok=0\n", err);
    } else if (rc != OS_OK) {
        fprintf(stderr, "oncesignd: start-up failed: %s: %s\n", os_status_name(rc), err);
        return 2;
    }
    if (os_engine_start(engine) != OS_OK) {
        fprintf(stderr, "oncesignd: cannot start the worker threads\n");
        os_engine_close(engine);
        return 2;
    }
    os_api_config acfg = {.bind = s.listen, .port = (uint16_t)s.port, .token_file = s.token_file};
    os_api *api = NULL;
    rc = os_api_start(engine, &acfg, &api, err, sizeof err);
    if (rc != OS_OK) {
        fprintf(stderr, "oncesignd: API: %s: %s\n", os_status_name(rc), err);
        os_engine_close(engine);
        return 2;
    }
    printf("oncesignd: listening on %s:%u\n", s.listen, (unsigned)os_api_port(api));
    fflush(stdout);
    int sig = 0;
    for (;;) {
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGTERM || sig == SIGINT) break;
        fprintf(stderr, "oncesignd: %s: ignored (nothing is re-read; SIGTERM stops)\n",
                sig == SIGHUP ? "SIGHUP" : sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2");
    }
    fprintf(stderr, "oncesignd: %s: stopping\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    os_api_stop(api);
    os_engine_stop(engine);
    os_engine_close(engine);
    return 0;
}
