/* oncesign CLI — ledger commands: status, payouts list/show, codes issue/show, reconcile, tree
 * rebuild (docs/OPERATING.md, "Ledger commands"). All go through host/lib/engine.h's service calls;
 * only status --device, reconcile and tree rebuild touch the signer. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_cmds.h"
#include "client.h"
#include "ledger.h"
#include "oncesign/protocol.h"
#include "policy.h"
#include "oncesign/status.h"
#include "rpc.h"

/* ---------------------------------------------------------------- shared helpers */

void cli_json_string(const char *s) {
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch == '\n') fputs("\\n", stdout);
        else if (ch < 0x20 || ch >= 0x7f) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

int cli_usage(const char *fmt, ...) {
    va_list ap;
    fputs("oncesign: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see oncesign --help)\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_fail(const cli_globals *g, int exit_code, int status, const char *fmt, ...) {
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    fprintf(stderr, "oncesign: %s\n", text);
    if (g->json) {
        printf("{\"ok\":false,\"error\":{\"code\":%d,\"name\":", status);
        cli_json_string(os_status_name(status));
        printf(",\"refused\":%s,\"message\":", exit_code == CLI_EXIT_REFUSED ? "true" : "false");
        cli_json_string(text);
        puts("}}");
    }
    return exit_code;
}

int cli_exit_for(int status) {
    switch (status) {
    case OS_OK: return CLI_EXIT_OK;
    case OS_ERR_ARG: case OS_ERR_BAD_REQUEST: case OS_ERR_PSBT: return CLI_EXIT_USAGE;
    case OS_ERR_IO: case OS_ERR_TIMEOUT: case OS_ERR_DB: case OS_ERR_RPC: case OS_ERR_RPC_TRANSPORT:
    case OS_ERR_INTERNAL: case OS_ERR_BUFFER: return CLI_EXIT_ERROR;
    default: return (status & 0xff00) == 0x0100 ? CLI_EXIT_ERROR : CLI_EXIT_REFUSED;
    }
}

/* The first line of path into out; 0 on success, -1 with a usage message. */
static int read_password_file(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        cli_usage("--rpc-password-file %s: %s", path, strerror(errno));
        return -1;
    }
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (ok) out[strcspn(out, "\r\n")] = '\0';
    if (!ok || out[0] == '\0') {
        cli_usage("--rpc-password-file %s: the first line is empty", path);
        return -1;
    }
    return 0;
}

int cli_backend_option(cli_backend *b, int argc, char **argv, int *i) {
    if (strcmp(argv[*i], "--rpc-password") == 0) {
        cli_usage("--rpc-password is refused: every local user can read a command line; use --rpc-password-file"
                  " FILE or --rpc-cookie FILE");
        return -1;
    }
    if (strcmp(argv[*i], "--rpc-password-file") == 0) {
        if (*i + 1 >= argc) {
            cli_usage("--rpc-password-file needs a value");
            return -1;
        }
        if (read_password_file(argv[++*i], b->rpc_password_buf, sizeof b->rpc_password_buf) != 0) return -1;
        b->rpc_password = b->rpc_password_buf;
        return 1;
    }
    static const char *const names[] = { "--db", "--rpc-url", "--rpc-user", "--rpc-cookie" };
    const char **slots[] = { &b->db_path, &b->rpc_url, &b->rpc_user, &b->rpc_cookie };
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (strcmp(argv[*i], names[k]) != 0) continue;
        if (*i + 1 >= argc) {
            cli_usage("%s needs a value", names[k]);
            return -1;
        }
        *slots[k] = argv[++*i];
        return 1;
    }
    return 0;
}

void cli_engine_config(const cli_backend *b, os_engine_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->db_path = b->db_path != NULL ? b->db_path : "oncesign.db";
    cfg->ledger_must_exist = 1;     /* only `ledger init` creates one */
    cfg->rpc_url = b->rpc_url;
    cfg->rpc_user = b->rpc_user;
    cfg->rpc_password = b->rpc_password;
    cfg->rpc_cookie_file = b->rpc_cookie;
    if (b->rpc_url != NULL && b->rpc_user == NULL && b->rpc_cookie == NULL) {
        cfg->rpc_cookie_file = getenv("ONCESIGN_RPC_COOKIE");
    }
}

int cli_option_takes_value(const char *a) {
    static const char *const with_value[] = { "--db", "--rpc-url", "--rpc-user", "--rpc-password-file", "--rpc-cookie",
        "--status", "--after", "--limit", "--amount", "--expires-at", "--out", "--to", "--nonce", "--input",
        "--change-index", "--prev-tx", "--output", "--anchor", "--fee", "--fee-rate", "--scan", "--account", "--network",
        "--scopes" };
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        if (strcmp(a, with_value[k]) == 0) return 1;
    }
    return 0;
}

static int parse_num(const char *opt, const char *s, uint64_t max, uint64_t *out) {
    char *end = NULL;
    if (s == NULL) return cli_usage("%s needs a value", opt) == 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || !isdigit((unsigned char)*s) || *end != '\0' || errno != 0 || v > max) {
        cli_usage("%s: '%s' is not a whole number in 0..%llu", opt, s, (unsigned long long)max);
        return 0;
    }
    *out = v;
    return 1;
}

/* ---------------------------------------------------------------- engine */

typedef struct {
    const cli_globals *g;
    cli_backend backend;
    os_engine *engine;
    os_client *client;      /* lent to the engine when the command needs the signer */
    char err[512];
} ledger_cmd;

static void ledger_close(ledger_cmd *l) {
    os_engine_close(l->engine);
    os_client_close(l->client);
    l->engine = NULL;
    l->client = NULL;
}

/* Opens the ledger only (cfg.device = NULL). */
static int open_ledger(ledger_cmd *l) {
    os_engine_config cfg;
    cli_engine_config(&l->backend, &cfg);
    cfg.rpc_url = NULL;     /* ledger-only: no node either */
    int rc = os_engine_open(&cfg, &l->engine, l->err, sizeof l->err);
    if (rc != OS_OK) {
        l->engine = NULL;
        return cli_fail(l->g, cli_exit_for(rc), rc, "cannot open the ledger %s: %s", cfg.db_path,
                        l->err[0] ? l->err : os_status_message(rc));
    }
    return CLI_EXIT_OK;
}

/* Opens the signer, then the engine with it (and monacoind when --rpc-url was given). A signer
 * that disagrees with the ledger leaves *mismatch = 1 and the engine open read-only. */
static int open_with_device(ledger_cmd *l, os_msg_info *info, int *mismatch) {
    const cli_globals *g = l->g;
    char err[256] = "";
    *mismatch = 0;
    if (g->device == NULL || g->device[0] == '\0') {
        return cli_usage("this command needs the signer: give --device SPEC or set ONCESIGN_DEVICE");
    }
    int rc = os_client_open(g->device, &l->client, err, sizeof err);
    if (rc == OS_ERR_ARG) return cli_usage("%s", err);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "cannot open %s: %s", g->device, err);
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    rc = os_client_call(l->client, &req, &reply, buf, g->timeout_ms);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "%s: %s", g->device, os_client_last_error(l->client));
    if (reply.type != OS_MSG_INFO) return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_MSG_UNEXPECTED, "%s: unexpected reply", g->device);
    *info = reply.u.info;
    if (!info->initialized) return cli_fail(g, CLI_EXIT_REFUSED, OS_ERR_NOT_INITIALIZED, "the signer is not initialised");
    os_engine_config cfg;
    cli_engine_config(&l->backend, &cfg);
    cfg.network = info->network;
    rc = os_engine_open_client(&cfg, l->client, &l->engine, l->err, sizeof l->err);
    if (rc == OS_ERR_SIGNER_MISMATCH) {
        *mismatch = 1;
        return CLI_EXIT_OK;
    }
    if (rc != OS_OK) {
        l->engine = NULL;
        return cli_fail(g, cli_exit_for(rc), rc, "cannot open the engine: %s", l->err[0] ? l->err : os_status_message(rc));
    }
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- output */

static void print_time(int64_t t, char *out, size_t cap) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (t == 0 || gmtime_r(&tt, &tm) == NULL) snprintf(out, cap, "-");
    else strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void payout_json(const os_payout_info *p) {
    char txid[65];
    printf("{\"id\":%lld,\"status\":\"%s\",\"amount\":%llu,\"address\":", (long long)p->id,
           os_payout_status_name(p->status), (unsigned long long)p->amount);
    cli_json_string(p->address);
    fputs(",\"idempotency_key\":", stdout);
    cli_json_string(p->idempotency_key);
    fputs(",\"code_id\":", stdout);
    cli_json_string(p->code_id);
    if (p->has_txid) {
        os_txid_to_hex(p->txid, txid);
        printf(",\"txid\":\"%s\"", txid);
    } else {
        fputs(",\"txid\":null", stdout);
    }
    printf(",\"confirmations\":%u,\"created_at\":%lld,\"updated_at\":%lld,\"error\":", p->confirmations,
           (long long)p->created_at, (long long)p->updated_at);
    cli_json_string(p->error);
    putchar('}');
}

static void payout_line(const os_payout_info *p) {
    char txid[65] = "-", when[32];
    if (p->has_txid) os_txid_to_hex(p->txid, txid);
    print_time(p->updated_at, when, sizeof when);
    printf("%-8lld %-17s %15llu  %-45s %s %s%s%s\n", (long long)p->id, os_payout_status_name(p->status),
           (unsigned long long)p->amount, p->address, when, txid, p->error[0] ? "  error: " : "", p->error);
}

/* ---------------------------------------------------------------- commands */

/* The oncesignd that holds this command's ledger and signer, if one runs (cmd_daemon.c). */
static int held_by_daemon(ledger_cmd *l, cli_daemon *d) {
    return cli_daemon_find(l->g, l->backend.db_path != NULL ? l->backend.db_path : "oncesign.db", d);
}

/* One request to the daemon holding the signer; on CLI_EXIT_OK *answer is its 200 answer. */
static int daemon_request(ledger_cmd *l, const cli_daemon *d, const char *method, const char *path, long timeout_ms,
                          json_t **answer) {
    long http = 0;
    int rc = cli_daemon_call(l->g, d, method, path, NULL, timeout_ms, &http, answer);
    if (rc != CLI_EXIT_OK) return rc;
    if (http != 200) {
        rc = cli_daemon_error(l->g, d, http, *answer);
        json_decref(*answer);
        *answer = NULL;
    }
    return rc;
}

static int cmd_status(ledger_cmd *l, int argc, char **argv) {
    if (argc > 0) return cli_usage("status: unexpected argument '%s'", argv[0]);
    int rc, mismatch = 0, with_device = l->g->device != NULL && l->g->device[0] != '\0';
    os_msg_info info;
    os_engine_status st;
    cli_daemon d;
    memset(&st, 0, sizeof st);
    if (with_device && held_by_daemon(l, &d)) {
        /* oncesignd holds the signer: the same call (os_engine_status_get) runs in it */
        json_t *answer = NULL;
        if ((rc = daemon_request(l, &d, "GET", "/v1/status", (long)l->g->timeout_ms + CLI_DAEMON_SLACK_MS, &answer)) != CLI_EXIT_OK) return rc;
        rc = os_engine_status_from_json(answer, &st);
        json_decref(answer);
        if (rc != OS_OK || !st.with_signer)
            return cli_fail(l->g, CLI_EXIT_ERROR, OS_ERR_MSG_MALFORMED, "oncesignd (pid %ld) answered a status that does"
                            " not read", d.pid);
    } else {
        if (with_device) rc = open_with_device(l, &info, &mismatch);
        else rc = open_ledger(l);
        if (rc != CLI_EXIT_OK) return rc;
        rc = os_engine_status_get(l->engine, with_device, (unsigned)l->g->timeout_ms, &st);
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "status: %s", os_status_message(rc));
    }
    mismatch = with_device && !st.matches_ledger;
    char root[65], head[65];
    os_hex_encode(st.nonce_root, 32, root);
    os_hex_encode(st.log_head, 32, head);
    int ok = st.ledger_ok && !mismatch;
    if (l->g->json) {
        printf("{\"ok\":%s,\"ledger_ok\":%s,\"payouts\":{", ok ? "true" : "false", st.ledger_ok ? "true" : "false");
        for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++) {
            printf("%s\"%s\":%llu", s == OS_PAYOUT_REQUESTED ? "" : ",", os_payout_status_name((os_payout_status)s),
                   (unsigned long long)st.counts[s]);
        }
        printf("},\"payouts_pending\":%llu,\"payouts_confirmed\":%llu", (unsigned long long)st.payouts_pending,
               (unsigned long long)st.payouts_confirmed);
        if (with_device) {
            printf(",\"signer\":{\"nonce_root\":\"%s\",\"log_seq\":%llu,\"log_head\":\"%s\",\"matches_ledger\":%s,"
                   "\"mismatch\":", root, (unsigned long long)st.log_seq, head, mismatch ? "false" : "true");
            cli_json_string(st.mismatch);
            putchar('}');
        }
        puts("}");
    } else {
        printf("ledger             %s (%s)\n", l->backend.db_path ? l->backend.db_path : "oncesign.db",
               st.ledger_ok ? "ok" : "NOT OK");
        printf("payouts           ");
        for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++) {
            printf(" %s %llu", os_payout_status_name((os_payout_status)s), (unsigned long long)st.counts[s]);
        }
        putchar('\n');
        if (with_device) {
            printf("signer nonce root  %s\n", root);
            printf("signer log         %llu entries, head %s\n", (unsigned long long)st.log_seq, head);
            if (mismatch) printf("ledger vs signer   MISMATCH: %s (the engine will not sign; see `oncesign tree rebuild`)\n", st.mismatch);
            else printf("ledger vs signer   agree\n");
        }
    }
    return mismatch ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
}

static int cmd_payouts(ledger_cmd *l, int argc, char **argv) {
    if (argc == 0) return cli_usage("payouts: which command? list, show or cancel");
    uint64_t v;
    if (strcmp(argv[0], "list") == 0) {
        os_payout_status status = 0;
        int64_t after = 0;
        size_t limit = 100;
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
            int b = cli_backend_option(&l->backend, argc, argv, &i);
            if (b < 0) return CLI_EXIT_USAGE;
            if (b > 0) continue;
            if (strcmp(a, "--status") == 0 && val != NULL) {
                if (os_payout_status_parse(val, &status) != OS_OK) {
                    return cli_usage("--status: '%s' is not requested, awaiting_approval, signing, signed, broadcast, "
                                     "confirmed or failed", val);
                }
                i++;
            } else if (strcmp(a, "--after") == 0) {
                if (!parse_num(a, val, INT64_MAX, &v)) return CLI_EXIT_USAGE;
                after = (int64_t)v;
                i++;
            } else if (strcmp(a, "--limit") == 0) {
                if (!parse_num(a, val, 10000, &v)) return CLI_EXIT_USAGE;
                if (v == 0) return cli_usage("--limit must be at least 1");
                limit = (size_t)v;
                i++;
            } else {
                return cli_usage("payouts list: unknown option or missing value: %s", a);
            }
        }
        int rc = open_ledger(l);
        if (rc != CLI_EXIT_OK) return rc;
        os_payout_info *list = calloc(limit, sizeof *list);
        if (list == NULL) return cli_fail(l->g, CLI_EXIT_ERROR, OS_ERR_IO, "out of memory");
        size_t n = 0;
        rc = os_engine_payout_list(l->engine, status, after, limit, list, &n);
        if (rc != OS_OK) {
            free(list);
            return cli_fail(l->g, cli_exit_for(rc), rc, "listing payouts: %s", os_status_message(rc));
        }
        if (l->g->json) {
            fputs("{\"ok\":true,\"payouts\":[", stdout);
            for (size_t k = 0; k < n; k++) {
                if (k) putchar(',');
                payout_json(&list[k]);
            }
            printf("],\"count\":%zu,\"next_after\":", n);
            if (n == limit) printf("%lld}\n", (long long)list[n - 1].id);
            else puts("null}");
        } else if (n == 0) {
            puts("no payouts");
        } else {
            printf("%-8s %-17s %15s  %-45s %-20s %s\n", "id", "status", "amount (sat)", "address", "updated", "txid");
            for (size_t k = 0; k < n; k++) payout_line(&list[k]);
            if (n == limit) printf("(more: --after %lld)\n", (long long)list[n - 1].id);
        }
        free(list);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "show") == 0) {
        const char *id_text = NULL;
        for (int i = 1; i < argc; i++) {
            int b = cli_backend_option(&l->backend, argc, argv, &i);
            if (b < 0) return CLI_EXIT_USAGE;
            if (b > 0) continue;
            if (argv[i][0] == '-' || id_text != NULL) return cli_usage("payouts show: unexpected argument '%s'", argv[i]);
            id_text = argv[i];
        }
        if (id_text == NULL) return cli_usage("payouts show needs a payout id");
        if (!parse_num("payout id", id_text, INT64_MAX, &v)) return CLI_EXIT_USAGE;
        int rc = open_ledger(l);
        if (rc != CLI_EXIT_OK) return rc;
        os_payout_info p;
        rc = os_engine_payout_get(l->engine, (int64_t)v, &p);
        if (rc == OS_ERR_NOT_FOUND) return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "no payout %s", id_text);
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "reading payout %s: %s", id_text, os_status_message(rc));
        if (l->g->json) {
            fputs("{\"ok\":true,\"payout\":", stdout);
            payout_json(&p);
            puts("}");
        } else {
            char txid[65] = "-", c[32], u[32];
            if (p.has_txid) os_txid_to_hex(p.txid, txid);
            print_time(p.created_at, c, sizeof c);
            print_time(p.updated_at, u, sizeof u);
            printf("payout          %lld\nstatus          %s\namount          %llu sat\naddress         %s\n",
                   (long long)p.id, os_payout_status_name(p.status), (unsigned long long)p.amount, p.address);
            if (p.code_id[0]) printf("code id         %s\n", p.code_id);
            if (p.idempotency_key[0]) printf("idempotency key %s\n", p.idempotency_key);
            printf("txid            %s\nconfirmations   %u\ncreated         %s\nupdated         %s\n", txid,
                   p.confirmations, c, u);
            if (p.error[0]) printf("error           %s\n", p.error);
        }
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "cancel") == 0) {
        const char *id_text = NULL;
        for (int i = 1; i < argc; i++) {
            int b = cli_backend_option(&l->backend, argc, argv, &i);
            if (b < 0) return CLI_EXIT_USAGE;
            if (b > 0) continue;
            if (argv[i][0] == '-' || id_text != NULL) return cli_usage("payouts cancel: unexpected argument '%s'", argv[i]);
            id_text = argv[i];
        }
        if (id_text == NULL) return cli_usage("payouts cancel needs a payout id");
        if (!parse_num("payout id", id_text, INT64_MAX, &v)) return CLI_EXIT_USAGE;
        int rc = open_ledger(l);
        if (rc != CLI_EXIT_OK) return rc;
        rc = os_engine_payout_cancel(l->engine, (int64_t)v);
        if (rc == OS_ERR_NOT_FOUND) return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "no payout %s", id_text);
        if (rc == OS_ERR_BUSY)
            return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "payout %s is past requested: signing has started, the signer"
                                                        " and the chain finish it", id_text);
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "cancelling payout %s: %s", id_text, os_status_message(rc));
        if (l->g->json)
            printf("{\"ok\":true,\"cancelled\":%s}\n", id_text);
        else
            printf("payout %s cancelled\n", id_text);
        return CLI_EXIT_OK;
    }
    return cli_usage("payouts: unknown command '%s' (list, show, cancel)", argv[0]);
}

static void code_json(const os_code_info *c) {
    printf("\"code_id\":\"%s\",\"amount\":%llu,\"created_at\":%lld,\"expires_at\":", c->code_id,
           (unsigned long long)c->amount, (long long)c->created_at);
    if (c->expires_at) printf("%lld", (long long)c->expires_at);
    else fputs("null", stdout);
    printf(",\"redeemed\":%s,\"payout_id\":", c->redeemed ? "true" : "false");
    if (c->redeemed) printf("%lld", (long long)c->payout_id);
    else fputs("null", stdout);
}

static int cmd_codes(ledger_cmd *l, int argc, char **argv) {
    if (argc == 0) return cli_usage("codes: which command? issue or show");
    uint64_t v;
    if (strcmp(argv[0], "issue") == 0) {
        uint64_t amount = 0;
        int64_t expires = 0;
        int have_amount = 0;
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
            int b = cli_backend_option(&l->backend, argc, argv, &i);
            if (b < 0) return CLI_EXIT_USAGE;
            if (b > 0) continue;
            if (strcmp(a, "--amount") == 0) {
                if (!parse_num(a, val, OS_MAX_MONEY, &amount)) return CLI_EXIT_USAGE;
                have_amount = 1;
                i++;
            } else if (strcmp(a, "--expires-at") == 0) {
                if (!parse_num(a, val, INT64_MAX, &v)) return CLI_EXIT_USAGE;
                expires = (int64_t)v;
                i++;
            } else {
                return cli_usage("codes issue: unknown option or missing value: %s", a);
            }
        }
        if (!have_amount || amount == 0) return cli_usage("codes issue needs --amount SAT (at least 1)");
        int rc = open_ledger(l);
        if (rc != CLI_EXIT_OK) return rc;
        char code[65];
        os_code_info info;
        rc = os_engine_issue_code(l->engine, amount, expires, code, &info);
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "issuing a code: %s", os_status_message(rc));
        if (l->g->json) {
            fputs("{\"ok\":true,\"code\":", stdout);
            cli_json_string(code);
            putchar(',');
            code_json(&info);
            puts("}");
        } else {
            printf("%s\n", code);
            fprintf(stderr, "code id %s, %llu sat%s — the code is shown only this once; the ledger keeps its hash\n",
                    info.code_id, (unsigned long long)info.amount, info.expires_at ? ", expires" : "");
        }
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[0], "show") == 0) {
        const char *code = NULL;
        for (int i = 1; i < argc; i++) {
            int b = cli_backend_option(&l->backend, argc, argv, &i);
            if (b < 0) return CLI_EXIT_USAGE;
            if (b > 0) continue;
            if (argv[i][0] == '-' || code != NULL) return cli_usage("codes show: unexpected argument '%s'", argv[i]);
            code = argv[i];
        }
        if (code == NULL) return cli_usage("codes show needs the code");
        int rc = open_ledger(l);
        if (rc != CLI_EXIT_OK) return rc;
        os_code_info info;
        rc = os_engine_code_lookup(l->engine, code, &info);
        if (rc == OS_ERR_NOT_FOUND) return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "no such code");
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "looking the code up: %s", os_status_message(rc));
        if (l->g->json) {
            fputs("{\"ok\":true,", stdout);
            code_json(&info);
            puts("}");
        } else {
            char c[32], x[32];
            print_time(info.created_at, c, sizeof c);
            print_time(info.expires_at, x, sizeof x);
            printf("code id   %s\namount    %llu sat\ncreated   %s\nexpires   %s\n", info.code_id,
                   (unsigned long long)info.amount, c, info.expires_at ? x : "never");
            if (info.redeemed) printf("redeemed  yes, payout %lld\n", (long long)info.payout_id);
            else printf("redeemed  no\n");
        }
        return CLI_EXIT_OK;
    }
    return cli_usage("codes: unknown command '%s' (issue, show)", argv[0]);
}

static int cmd_reconcile(ledger_cmd *l, int argc, char **argv) {
    os_msg_info info;
    int mismatch;
    cli_daemon d;
    (void)argc;
    (void)argv;
    if (held_by_daemon(l, &d)) {
        /* the daemon's own reconciler runs the pass (os_engine_reconcile_now), against its monacoind */
        json_t *answer = NULL;
        int rc = daemon_request(l, &d, "POST", "/v1/reconcile", CLI_DAEMON_LONG_MS, &answer);
        json_decref(answer);
        if (rc != CLI_EXIT_OK) return rc;
        if (l->g->json) puts("{\"ok\":true,\"reconciled\":true}");
        else printf("Reconciliation pass done (by oncesignd pid %ld).\n", d.pid);
        return CLI_EXIT_OK;
    }
    if (l->backend.rpc_url == NULL) return cli_usage("reconcile needs monacoind: give --rpc-url URL");
    int rc = open_with_device(l, &info, &mismatch);
    if (rc != CLI_EXIT_OK) return rc;
    if (mismatch) return cli_fail(l->g, CLI_EXIT_REFUSED, OS_ERR_SIGNER_MISMATCH, "signer and ledger disagree: %s", l->err);
    rc = os_engine_reconcile_now(l->engine);
    if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "reconciliation failed: %s", os_status_message(rc));
    if (l->g->json) puts("{\"ok\":true,\"reconciled\":true}");
    else puts("Reconciliation pass done.");
    return CLI_EXIT_OK;
}

static int cmd_tree(ledger_cmd *l, int argc, char **argv) {
    os_msg_info info;
    int mismatch;
    if (argc == 0 || strcmp(argv[0], "rebuild") != 0) return cli_usage("tree: the command is `tree rebuild`");
    for (int i = 1; i < argc; i++) return cli_usage("tree rebuild: unexpected argument '%s'", argv[i]);
    cli_daemon d;
    size_t n = 0;
    if (held_by_daemon(l, &d)) {
        /* the daemon rebuilds the tree it signs against (os_engine_rebuild_tree), between two sessions */
        json_t *answer = NULL;
        int rc = daemon_request(l, &d, "POST", "/v1/tree/rebuild", CLI_DAEMON_LONG_MS, &answer);
        if (rc != CLI_EXIT_OK) return rc;
        json_int_t leaves = json_integer_value(json_object_get(answer, "leaves"));
        json_decref(answer);
        n = leaves > 0 ? (size_t)leaves : 0;
        if (l->g->json) printf("{\"ok\":true,\"leaves\":%zu,\"stored\":true}\n", n);
        else printf("Nonce tree rebuilt from the signer's log by oncesignd (pid %ld) and stored in the ledger: %zu"
                    " leaves, root matches the signer.\n", d.pid, n);
        return CLI_EXIT_OK;
    }
    int rc = open_with_device(l, &info, &mismatch);
    if (rc != CLI_EXIT_OK) return rc;
    char err[512] = "";
    rc = os_engine_rebuild_tree(l->engine, &n, err, sizeof err);
    if (rc != OS_OK) {
        return cli_fail(l->g, cli_exit_for(rc), rc, "tree rebuild failed, the ledger is unchanged: %s",
                        err[0] ? err : os_status_message(rc));
    }
    if (l->g->json) printf("{\"ok\":true,\"leaves\":%zu,\"stored\":true}\n", n);
    else printf("Nonce tree rebuilt from the signer's log and stored in the ledger: %zu leaves, root matches the signer.\n", n);
    return CLI_EXIT_OK;
}

/* `ledger init`: the one command that creates a ledger file (migrated, empty); an existing one is
 * left as it is and said so. */
static int cmd_ledger_init(ledger_cmd *l, int argc, char **argv) {
    if (argc == 0 || strcmp(argv[0], "init") != 0) return cli_usage("ledger: the commands are `ledger init`, `ledger backup --out FILE`, `ledger verify-backup FILE`");
    for (int i = 1; i < argc; i++) return cli_usage("ledger init: unexpected argument '%s'", argv[i]);
    os_engine_config cfg;
    cli_engine_config(&l->backend, &cfg);
    cfg.rpc_url = NULL;
    cfg.ledger_must_exist = 0;
    int existed = access(cfg.db_path, F_OK) == 0;
    int rc = os_engine_open(&cfg, &l->engine, l->err, sizeof l->err);
    if (rc != OS_OK) {
        l->engine = NULL;
        return cli_fail(l->g, cli_exit_for(rc), rc, "cannot create the ledger %s: %s", cfg.db_path,
                        l->err[0] ? l->err : os_status_message(rc));
    }
    if (l->g->json) printf("{\"ok\":true,\"created\":%s}\n", existed ? "false" : "true");
    else printf("%s %s\n", existed ? "Ledger already exists, unchanged:" : "Ledger created:", cfg.db_path);
    return CLI_EXIT_OK;
}

static void print_marker(const ledger_cmd *l, const char *path, const os_backup_marker *m) {
    char head[65];
    os_hex_encode(m->log_head, 32, head);
    if (l->g->json) {
        printf("{\"ok\":true,\"backup\":");
        cli_json_string(path);
        printf(",\"taken_at\":%lld,\"log_seq\":%llu,\"log_head\":\"%s\",\"payouts\":%lld,"
               "\"redeemed_codes\":%lld,\"txs\":%lld,\"last_payout_id\":%lld}\n",
               (long long)m->taken_at, (unsigned long long)m->log_seq, head, (long long)m->payouts,
               (long long)m->redeemed_codes, (long long)m->txs, (long long)m->last_payout_id);
        return;
    }
    printf("backup           %s\nverified         integrity_check ok, marker matches\ntaken at         %lld\n"
           "signer log       up to seq %llu (head %s)\npayouts          %lld (last id %lld)\n"
           "redeemed codes   %lld\ntransactions     %lld\n",
           path, (long long)m->taken_at, (unsigned long long)m->log_seq, head, (long long)m->payouts,
           (long long)m->last_payout_id, (long long)m->redeemed_codes, (long long)m->txs);
}

/* `ledger backup --out FILE`: a verified online copy of the live ledger (docs/RECOVERY.md). */
static int cmd_ledger_backup(ledger_cmd *l, int argc, char **argv) {
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else return cli_usage("ledger backup: unexpected argument '%s'", argv[i]);
    }
    if (out == NULL) return cli_usage("ledger backup: give --out FILE");
    os_engine_config cfg;
    cli_engine_config(&l->backend, &cfg);
    if (access(cfg.db_path, F_OK) != 0)
        return cli_fail(l->g, CLI_EXIT_ERROR, OS_ERR_DB, "no ledger at %s to back up", cfg.db_path);
    int rc = open_ledger(l);
    if (rc != CLI_EXIT_OK) return rc;
    os_backup_marker m;
    rc = os_engine_backup(l->engine, out, &m, l->err, sizeof l->err);
    if (rc != OS_OK)
        return cli_fail(l->g, rc == OS_ERR_ARG ? CLI_EXIT_USAGE : cli_exit_for(rc), rc, "ledger backup: %s",
                        l->err[0] ? l->err : os_status_message(rc));
    print_marker(l, out, &m);
    return CLI_EXIT_OK;
}

/* `ledger verify-backup FILE`: checks a backup read-only, before it is relied on or restored. */
static int cmd_ledger_verify_backup(ledger_cmd *l, int argc, char **argv) {
    if (argc != 2) return cli_usage("ledger verify-backup: give the backup FILE");
    os_backup_marker m;
    int rc = os_engine_backup_verify(argv[1], &m, l->err, sizeof l->err);
    if (rc != OS_OK)
        return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "ledger verify-backup: %s", l->err[0] ? l->err : os_status_message(rc));
    print_marker(l, argv[1], &m);
    return CLI_EXIT_OK;
}

static int cmd_ledger(ledger_cmd *l, int argc, char **argv) {
    if (argc > 0 && strcmp(argv[0], "backup") == 0) return cmd_ledger_backup(l, argc, argv);
    if (argc > 0 && strcmp(argv[0], "verify-backup") == 0) return cmd_ledger_verify_backup(l, argc, argv);
    return cmd_ledger_init(l, argc, argv);
}

/* ---------------------------------------------------------------- apikey */

static const struct { const char *name; uint32_t bit; } scope_names[] = {
    { "issue", OS_SCOPE_ISSUE }, { "redeem", OS_SCOPE_REDEEM }, { "withdraw", OS_SCOPE_WITHDRAW },
    { "read", OS_SCOPE_READ }, { "operator", OS_SCOPE_OPERATOR }, { "audit", OS_SCOPE_AUDIT },
};

/* "redeem,read" -> bits; 0 on an unknown or empty name. */
static uint32_t parse_scopes(const char *list) {
    uint32_t bits = 0;
    char buf[128];
    if (strlen(list) >= sizeof buf) return 0;
    strcpy(buf, list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        uint32_t bit = 0;
        for (size_t k = 0; k < sizeof scope_names / sizeof scope_names[0]; k++) {
            if (strcmp(t, scope_names[k].name) == 0) bit = scope_names[k].bit;
        }
        if (bit == 0) return 0;
        bits |= bit;
    }
    return bits;
}

static void scopes_text(uint32_t bits, char *out, size_t cap) {
    out[0] = '\0';
    for (size_t k = 0; k < sizeof scope_names / sizeof scope_names[0]; k++) {
        if ((bits & scope_names[k].bit) == 0) continue;
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "", scope_names[k].name);
    }
}

typedef struct {
    const cli_globals *g;
    int n;
} key_listing;

static int print_key(void *ctx, const os_apikey_info *k) {
    key_listing *kl = ctx;
    char scopes[96];
    scopes_text(k->scopes, scopes, sizeof scopes);
    if (kl->g->json) {
        printf("%s{\"id\":%lld,\"name\":", kl->n ? "," : "", (long long)k->id);
        cli_json_string(k->name);
        printf(",\"scopes\":\"%s\",\"created_at\":%lld,\"revoked_at\":", scopes, (long long)k->created_at);
        if (k->revoked_at) printf("%lld", (long long)k->revoked_at);
        else fputs("null", stdout);
        printf(",\"uses\":%llu}", (unsigned long long)k->uses);
    } else {
        printf("%-24s %-28s %s uses %llu\n", k->name, scopes, k->revoked_at ? "revoked" : "active ",
               (unsigned long long)k->uses);
    }
    kl->n++;
    return 0;
}

/* `apikey create NAME --scopes LIST`, `apikey revoke NAME`, `apikey list` (docs/API.md "API keys"). */
static int cmd_apikey(ledger_cmd *l, int argc, char **argv) {
    if (argc == 0) return cli_usage("apikey: which command? create, revoke or list");
    const char *sub = argv[0], *name = NULL, *scopes = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scopes") == 0 && i + 1 < argc) scopes = argv[++i];
        else if (argv[i][0] != '-' && name == NULL) name = argv[i];
        else return cli_usage("apikey %s: unexpected argument '%s'", sub, argv[i]);
    }
    int rc;
    if (strcmp(sub, "create") == 0) {
        if (name == NULL || scopes == NULL) return cli_usage("apikey create NAME --scopes issue,redeem,withdraw,read,operator,audit");
        uint32_t bits = parse_scopes(scopes);
        if (bits == 0) return cli_usage("--scopes: a comma-separated list of issue, redeem, withdraw, read, operator, audit");
        if ((rc = open_ledger(l)) != CLI_EXIT_OK) return rc;
        char secret[69];
        int64_t id = 0;
        rc = os_engine_apikey_create(l->engine, name, bits, secret, &id);
        if (rc == OS_ERR_IDEMPOTENCY) return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "a key named %s exists already", name);
        if (rc == OS_ERR_ARG) return cli_usage("apikey create: the name must be 1 to 64 of [A-Za-z0-9._-]");
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "creating the key: %s", os_status_message(rc));
        char text[96];
        scopes_text(bits, text, sizeof text);
        if (l->g->json) {
            printf("{\"ok\":true,\"id\":%lld,\"name\":", (long long)id);
            cli_json_string(name);
            printf(",\"scopes\":\"%s\",\"secret\":\"%s\"}\n", text, secret);
        } else {
            printf("%s\n", secret);
            fprintf(stderr, "key %s (%s): the secret is shown only this once; the ledger keeps its hash\n", name, text);
        }
        memset(secret, 0, sizeof secret);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "revoke") == 0) {
        if (name == NULL || scopes != NULL) return cli_usage("apikey revoke NAME");
        if ((rc = open_ledger(l)) != CLI_EXIT_OK) return rc;
        rc = os_ledger_apikey_revoke(os_engine_ledger(l->engine), name, (int64_t)time(NULL));
        if (rc == OS_ERR_NOT_FOUND) return cli_fail(l->g, CLI_EXIT_REFUSED, rc, "no active key named %s", name);
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "revoking: %s", os_status_message(rc));
        if (l->g->json) puts("{\"ok\":true}");
        else printf("revoked %s: refused from its next request on\n", name);
        return CLI_EXIT_OK;
    }
    if (strcmp(sub, "list") == 0) {
        if (name != NULL || scopes != NULL) return cli_usage("apikey list takes no argument");
        if ((rc = open_ledger(l)) != CLI_EXIT_OK) return rc;
        key_listing kl = { l->g, 0 };
        if (l->g->json) fputs("{\"ok\":true,\"keys\":[", stdout);
        rc = os_ledger_apikey_each(os_engine_ledger(l->engine), print_key, &kl);
        if (l->g->json) puts("]}");
        else if (kl.n == 0) puts("no API keys");
        if (rc != OS_OK) return cli_fail(l->g, cli_exit_for(rc), rc, "listing keys: %s", os_status_message(rc));
        return CLI_EXIT_OK;
    }
    return cli_usage("apikey: unknown command '%s' (create, revoke, list)", sub);
}

int cli_is_ledger_group(const char *w) {
    return strcmp(w, "status") == 0 || strcmp(w, "payouts") == 0 || strcmp(w, "codes") == 0 ||
           strcmp(w, "reconcile") == 0 || strcmp(w, "tree") == 0 || strcmp(w, "ledger") == 0 ||
           strcmp(w, "apikey") == 0;
}

int cli_cmd_ledger(const cli_globals *g, int argc, char **argv) {
    ledger_cmd l;
    memset(&l, 0, sizeof l);
    l.g = g;
    const char *group = argv[0];
    /* Backend options may stand anywhere after the group; the group's own parser sees the rest. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (rest == NULL) return CLI_EXIT_ERROR;
    int n = 0;
    for (int i = 1; i < argc; i++) {
        int b = cli_backend_option(&l.backend, argc, argv, &i);
        if (b < 0) { free(rest); return CLI_EXIT_USAGE; }
        if (b == 0) rest[n++] = argv[i];
    }
    int rc;
    if (strcmp(group, "status") == 0) rc = cmd_status(&l, n, rest);
    else if (strcmp(group, "payouts") == 0) rc = cmd_payouts(&l, n, rest);
    else if (strcmp(group, "codes") == 0) rc = cmd_codes(&l, n, rest);
    else if (strcmp(group, "reconcile") == 0) rc = n > 0 ? cli_usage("reconcile: unexpected argument '%s'", rest[0]) : cmd_reconcile(&l, n, rest);
    else if (strcmp(group, "ledger") == 0) rc = cmd_ledger(&l, n, rest);
    else if (strcmp(group, "apikey") == 0) rc = cmd_apikey(&l, n, rest);
    else rc = cmd_tree(&l, n, rest);
    ledger_close(&l);
    free(rest);
    return rc;
}
