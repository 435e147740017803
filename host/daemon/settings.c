/* oncesignd's settings (contract in settings.h). */
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "oncesign/status.h"
#include "oncesign/version.h"

enum {
    SET_SECRET = 1,     /* never on the command line */
};

typedef struct {
    const char *name;       /* --NAME on the command line, NAME = value in the config file */
    const char *arg;        /* metavariable shown by --help */
    size_t str_off, str_cap;    /* a string setting (str_cap != 0) ... */
    size_t num_off;             /* ... or a number */
    unsigned flags;
    const char *help;
} setting;

#define STR(field, arg, flags, help) \
    { #field, arg, offsetof(daemon_settings, field), sizeof(((daemon_settings *)0)->field), 0, flags, help }
#define NUM(field, arg, help) { #field, arg, 0, 0, offsetof(daemon_settings, field), 0, help }

/* The names are the fields' names with '-' for '_' (converted once in find()). */
static const setting table[] = {
    STR(db, "PATH", 0, "the ledger (SQLite; created 0600 when missing) [oncesign.db]"),
    STR(device, "SPEC", 0, "the signer: sim:PATH, hid, hid:SERIAL or serial:PATH (required)"),
    STR(network, "NET", 0, "main, test or regtest; must match the signer's [main]"),
    STR(rpc_url, "URL", 0, "monacoind's JSON-RPC, with /wallet/NAME when it has several wallets"),
    STR(rpc_user, "USER", 0, "RPC user name, with rpc-password (config file) or rpc-password-file"),
    STR(rpc_password, "PASSWORD", SET_SECRET, "RPC password: config file only, never a flag"),
    STR(rpc_password_file, "FILE", 0, "RPC password: the first line of FILE (mode 0600 or 0640)"),
    STR(rpc_cookie, "FILE", 0, "monacoind's .cookie file (instead of rpc-user and a password)"),
    STR(listen, "ADDR", 0, "TCP listener: an IPv4/IPv6 literal, or none for the Unix socket only [127.0.0.1]"),
    NUM(port, "N", "TCP port; 0 picks a free one (printed at start) [8420]"),
    STR(socket, "PATH", 0, "also listen on a Unix socket at PATH (mode 0660: its group may connect)"),
    STR(token_file, "FILE", 0, "a bearer token with every scope, first line, >= 16 characters (mode 0600 or 0640);"
                               " without it only API keys (oncesign apikey) authenticate"),
    NUM(connection_limit, "N", "open API connections at most, per listener [256]"),
    NUM(per_client_limit, "N", "open API connections per client IP address [32]"),
    NUM(request_timeout_ms, "MS", "a connection must deliver a whole request within MS [10000]"),
    STR(log_format, "FORMAT", 0, "stderr log: auto (journal under systemd, else text), text, journal or json [auto]"),
    NUM(disk_min_free_mb, "MIB", "health is false when the ledger's file system has less free space [100]"),
    NUM(batch_max, "N", "payouts per transaction at most [50]"),
    NUM(batch_delay_ms, "MS", "wait this long for more payouts before signing a batch [200]"),
    NUM(fee_floor, "SAT_PER_KVB", "lowest fee rate used, in satoshi per 1000 virtual bytes [1000]"),
    NUM(fee_cap, "SAT_PER_KVB", "highest fee rate used, in satoshi per 1000 virtual bytes [100000]"),
    NUM(max_payout, "SAT", "largest amount one API payout may request, in satoshi (0: no cap) [1000000000]"),
    NUM(confirmations_final, "N", "confirmations after which a payout is final [6]"),
    NUM(reconcile_interval_ms, "MS", "how often the reconciler polls monacoind [2000]"),
    NUM(rpc_timeout_ms, "MS", "bound for one JSON-RPC call, 1..600000 [5000]"),
    NUM(operator_wait_ms, "MS", "how long a signing session waits for the operator's button [60000]"),
    NUM(vouchers_required, "N", "1: codes and withdrawals are taken only with an issuer's \"voucher\""
                                " (docs/API.md \"Vouchers\"); set the signer's own rule with `oncesign device issuers` [0]"),
    STR(webhook_url, "URL", 0, "POST payout events (broadcast, confirmed, failed, awaiting approval) here, signed"
                               " with HMAC-SHA256 (docs/API.md \"Webhooks\"); none when empty"),
    STR(webhook_secret_file, "FILE", 0, "the webhook signing secret: first line, >= 16 characters (mode 0600 or 0640)"),
    NUM(webhook_retry_ms, "MS", "first retry of a failed webhook delivery; doubles per attempt [1000]"),
    NUM(webhook_retry_max_ms, "MS", "longest wait between webhook delivery attempts [600000]"),
    NUM(webhook_timeout_ms, "MS", "bound for one webhook delivery, 1..600000 [5000]"),
};
#define N_SETTINGS (sizeof table / sizeof table[0])

static void dashed(const char *field, char *out, size_t cap) {
    size_t i = 0;
    for (; field[i] != '\0' && i + 1 < cap; i++) out[i] = field[i] == '_' ? '-' : field[i];
    out[i] = '\0';
}

static const setting *find(const char *name) {
    char d[64];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        dashed(table[i].name, d, sizeof d);
        if (strcmp(name, d) == 0) return &table[i];
    }
    return NULL;
}

static void usage(FILE *f) {
    fprintf(f, "usage: oncesignd [--config FILE] [--init] [--check-config] [--SETTING VALUE ...]\n"
               "       oncesignd --help | --version\n\n"
               "  --config FILE    settings as `name = value` lines (a line starting with # is a comment;\n"
               "                   a # anywhere else is part of the value); flags override the file\n"
               "  --init           create the ledger if it does not exist (without it a missing ledger\n"
               "                   is refused, so a mistyped path never starts an empty one)\n"
               "  --check-config   check the settings and exit (0: valid), without opening anything\n\n"
               "settings (flag, or config-file name without the dashes; [default]):\n");
    char d[64];
    for (size_t i = 0; i < N_SETTINGS; i++) {
        dashed(table[i].name, d, sizeof d);
        char left[96];
        snprintf(left, sizeof left, "--%s %s", d, table[i].arg);
        fprintf(f, "  %-34s %s\n", left, table[i].help);
    }
    fprintf(f, "\nExit status: 0 clean stop, 1 usage or settings error, 2 start-up failure.\n"
               "Documentation: docs/OPERATING.md, docs/API.md; sample config: packaging/oncesignd.conf.\n");
}

/* Returns 0, or -1 for an unknown name or a bad value (message on stderr, prefixed by where). */
static int apply(daemon_settings *s, const char *name, const char *value, int from_flag, const char *where) {
    const setting *t = find(name);
    if (t == NULL) {
        fprintf(stderr, "oncesignd: %sunknown setting '%s' (see oncesignd --help)\n", where, name);
        return -1;
    }
    if (from_flag && (t->flags & SET_SECRET)) {
        fprintf(stderr, "oncesignd: --%s is refused on the command line (every local user can read it in"
                        " /proc): put it in the config file or use --%s-file\n", name, name);
        return -1;
    }
    if (t->str_cap != 0) {
        if (strlen(value) >= t->str_cap) {
            fprintf(stderr, "oncesignd: %s%s: value longer than %zu characters\n", where, name, t->str_cap - 1);
            return -1;
        }
        memcpy((char *)s + t->str_off, value, strlen(value) + 1);
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (errno != 0 || end == NULL || end == value || *end != '\0' || value[0] == '-') {
        fprintf(stderr, "oncesignd: %s%s: '%s' is not a non-negative integer\n", where, name, value);
        return -1;
    }
    *(unsigned long long *)((char *)s + t->num_off) = v;
    return 0;
}

static char *trim(char *p) {
    while (*p == ' ' || *p == '\t') p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r')) p[--n] = '\0';
    return p;
}

/* A file holding a secret is refused when users other than its owner and group could read it, or
 * its group could change it. Returns 0, or -1 (message on stderr). */
static int private_file(int fd, const char *what, const char *path) {
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr, "oncesignd: %s %s is not a regular file\n", what, path);
        return -1;
    }
    if ((st.st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0) {
        fprintf(stderr, "oncesignd: %s %s has mode %03o: others could read or change it (chmod 600 %s)\n", what, path,
                (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    return 0;
}

static int load_config(daemon_settings *s, const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (f == NULL) {
        fprintf(stderr, "oncesignd: %s: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    char line[1024], where[DAEMON_MAX_STR + 32];
    int lineno = 0, rc = 0, has_secret = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d: ", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(f)) {
            fprintf(stderr, "oncesignd: %sline longer than %zu characters\n", where, sizeof line - 2);
            rc = -1;
            break;
        }
        char *p = trim(line);
        /* Only a whole line is a comment: a '#' inside a value (a password, a URL's fragment) is
         * part of it rather than silently cutting it short. */
        if (*p == '\0' || *p == '#') continue;
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            fprintf(stderr, "oncesignd: %sexpected name = value\n", where);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(p), *value = trim(eq + 1);
        const setting *t = find(name);
        if (t != NULL && (t->flags & SET_SECRET)) has_secret = 1;
        if (apply(s, name, value, 0, where) != 0) rc = -1;
    }
    if (rc == 0 && has_secret && private_file(fd, "config file (it holds rpc-password)", path) != 0) rc = -1;
    memset(line, 0, sizeof line);
    fclose(f);
    return rc;
}

/* The first line of a secret file (rpc-password-file, webhook-secret-file), refused unless private.
 * Returns 0, or -1 (message on stderr naming the setting `what`). */
static int read_secret_file(const char *what, const char *path, char *out, size_t cap) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "oncesignd: %s %s: %s\n", what, path, strerror(errno));
        return -1;
    }
    if (private_file(fd, what, path) != 0) {
        close(fd);
        return -1;
    }
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0) {
        fprintf(stderr, "oncesignd: %s %s is empty or unreadable\n", what, path);
        return -1;
    }
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    if (out[0] == '\0') {
        fprintf(stderr, "oncesignd: %s %s: the first line is empty\n", what, path);
        return -1;
    }
    return 0;
}

static int check(daemon_settings *s) {
    if (strcmp(s->network, "main") != 0 && strcmp(s->network, "test") != 0 && strcmp(s->network, "regtest") != 0) {
        fprintf(stderr, "oncesignd: network must be main, test or regtest\n");
        return -1;
    }
    if (s->device[0] == '\0') {
        fprintf(stderr, "oncesignd: --device is required (sim:PATH, hid, hid:SERIAL, serial:PATH)\n");
        return -1;
    }
    os_log_format log_format;
    if (os_log_format_parse(s->log_format, &log_format) != OS_OK) {
        fprintf(stderr, "oncesignd: log-format must be auto, text, journal or json\n");
        return -1;
    }
    if (strcmp(s->listen, "none") == 0 && s->socket[0] == '\0') {
        fprintf(stderr, "oncesignd: listen = none needs a socket = PATH (no listener otherwise)\n");
        return -1;
    }
    int passwords = (s->rpc_password[0] != '\0') + (s->rpc_password_file[0] != '\0');
    if (passwords > 1 || (passwords == 1 && s->rpc_cookie[0] != '\0')) {
        fprintf(stderr, "oncesignd: monacoind auth: one of rpc-password, rpc-password-file or rpc-cookie\n");
        return -1;
    }
    if ((passwords == 1) != (s->rpc_user[0] != '\0')) {
        fprintf(stderr, "oncesignd: monacoind auth: rpc-user goes with rpc-password or rpc-password-file\n");
        return -1;
    }
    if (s->rpc_url[0] != '\0' && s->rpc_cookie[0] == '\0' && passwords == 0) {
        fprintf(stderr, "oncesignd: monacoind auth: rpc-user with rpc-password(-file), or rpc-cookie\n");
        return -1;
    }
    if ((s->webhook_url[0] != '\0') != (s->webhook_secret_file[0] != '\0')) {
        fprintf(stderr, "oncesignd: webhook-url and webhook-secret-file go together (every event is signed)\n");
        return -1;
    }
    if (s->webhook_url[0] != '\0' && strncmp(s->webhook_url, "http://", 7) != 0 &&
        strncmp(s->webhook_url, "https://", 8) != 0) {
        fprintf(stderr, "oncesignd: webhook-url must start with http:// or https://\n");
        return -1;
    }
    if (s->vouchers_required > 1) {
        fprintf(stderr, "oncesignd: vouchers-required is 0 or 1\n");
        return -1;
    }
    if (s->webhook_retry_ms == 0 || s->webhook_retry_max_ms < s->webhook_retry_ms ||
        s->webhook_retry_max_ms > 86400000ull || s->webhook_timeout_ms == 0 || s->webhook_timeout_ms > 600000) {
        fprintf(stderr, "oncesignd: webhook timing out of range (0 < webhook-retry-ms <= webhook-retry-max-ms <= 86400000,"
                        " webhook-timeout-ms 1..600000)\n");
        return -1;
    }
    if (s->port > 65535 || s->batch_max == 0 || s->batch_max > OS_MAX_OUTPUTS - 1 || s->fee_floor == 0 ||
        s->fee_cap < s->fee_floor || s->batch_delay_ms > 600000 || s->rpc_timeout_ms == 0 ||
        s->rpc_timeout_ms > 600000 || s->connection_limit == 0 || s->per_client_limit == 0 ||
        s->request_timeout_ms == 0 || s->request_timeout_ms > 600000 || s->confirmations_final == 0 ||
        s->reconcile_interval_ms == 0 || s->disk_min_free_mb == 0 || s->disk_min_free_mb > (1ull << 40)) {
        fprintf(stderr, "oncesignd: a numeric setting is out of range (port <= 65535, 1 <= batch-max <= %d,"
                        " 0 < fee-floor <= fee-cap, rpc-timeout-ms and request-timeout-ms 1..600000, the limits,"
                        " confirmations-final, reconcile-interval-ms and disk-min-free-mb > 0)\n",
                OS_MAX_OUTPUTS - 1);
        return -1;
    }
    return 0;
}

daemon_action daemon_settings_load(int argc, char **argv, daemon_settings *s) {
    memset(s, 0, sizeof *s);
    strcpy(s->db, "oncesign.db");
    strcpy(s->network, "main");
    strcpy(s->listen, "127.0.0.1");
    strcpy(s->log_format, "auto");
    s->port = 8420;
    s->batch_max = 50;
    s->batch_delay_ms = 200;
    s->fee_floor = 1000;
    s->fee_cap = 100000;
    /* 10 MONA, the signer's default per-payout cap: a leaked key cannot ask for the whole wallet. */
    s->max_payout = 1000000000;
    s->confirmations_final = 6;
    s->reconcile_interval_ms = 2000;
    s->rpc_timeout_ms = 5000;
    s->connection_limit = 256;
    s->per_client_limit = 32;
    s->request_timeout_ms = 10000;
    s->disk_min_free_mb = 100;
    s->operator_wait_ms = 60000;
    s->webhook_retry_ms = 1000;
    s->webhook_retry_max_ms = 600000;
    s->webhook_timeout_ms = 5000;
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return DAEMON_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("oncesignd %s\n", ONCESIGN_VERSION);
            return DAEMON_EXIT_OK;
        }
        if (strcmp(argv[i], "--check-config") == 0) check_only = 1;
    }
    /* the config file first, so flags override it */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") != 0) continue;
        if (i + 1 >= argc) {
            usage(stderr);
            return DAEMON_EXIT_USAGE;
        }
        if (load_config(s, argv[i + 1]) != 0) return DAEMON_EXIT_USAGE;
        snprintf(s->config, sizeof s->config, "%s", argv[i + 1]);
        i++;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check-config") == 0) continue;
        if (strcmp(argv[i], "--init") == 0) {   /* an action, not a setting: no value */
            s->init = 1;
            continue;
        }
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc) {
            fprintf(stderr, "oncesignd: expected --SETTING VALUE, got '%s'\n", argv[i]);
            usage(stderr);
            return DAEMON_EXIT_USAGE;
        }
        if (strcmp(argv[i], "--config") != 0 && apply(s, argv[i] + 2, argv[i + 1], 1, "") != 0) {
            return DAEMON_EXIT_USAGE;
        }
        i++;
    }
    if (check(s) != 0) return DAEMON_EXIT_USAGE;
    if (check_only) {
        printf("oncesignd: settings are valid\n");
        return DAEMON_EXIT_OK;
    }
    /* read last: --check-config validates a config on a machine that does not hold the secret */
    if (s->rpc_password_file[0] != '\0' &&
        read_secret_file("rpc-password-file", s->rpc_password_file, s->rpc_password, sizeof s->rpc_password) != 0) {
        return DAEMON_EXIT_USAGE;
    }
    if (s->webhook_url[0] != '\0' &&
        read_secret_file("webhook-secret-file", s->webhook_secret_file, s->webhook_secret, sizeof s->webhook_secret) != 0) {
        return DAEMON_EXIT_USAGE;
    }
    if (s->webhook_url[0] != '\0' && strlen(s->webhook_secret) < 16) {
        fprintf(stderr, "oncesignd: webhook-secret-file %s: the secret must be at least 16 characters\n",
                s->webhook_secret_file);
        return DAEMON_EXIT_USAGE;
    }
    return DAEMON_RUN;
}
