/* oncesign CLI — the command groups beside main.c's device commands: the ledger commands
 * (cmd_ledger.c), PSBT signing (cmd_psbt.c) and the audit log (cmd_log.c). Exit codes as in main.c's --help. */
#ifndef ONCESIGN_CLI_CMDS_H
#define ONCESIGN_CLI_CMDS_H

#include <stdint.h>

#include <jansson.h>

#include "device_ops.h"
#include "engine.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_USAGE = 1, CLI_EXIT_ERROR = 2, CLI_EXIT_REFUSED = 3 };

typedef struct {
    const char *device;     /* --device or $ONCESIGN_DEVICE; NULL when neither */
    int json;
    int timeout_ms;
    const char *daemon_db;  /* the ledger whose running oncesignd may hold the signer: the command's
                             * --db, else $ONCESIGN_DB, else oncesign.db */
} cli_globals;

/* Options every ledger/PSBT command takes: where the ledger and monacoind are. */
typedef struct {
    const char *db_path;    /* --db, default ./oncesign.db */
    const char *rpc_url, *rpc_user, *rpc_password, *rpc_cookie;
    char rpc_password_buf[256];     /* --rpc-password-file's first line (rpc_password points here) */
} cli_backend;

/* `oncesign sign ...`, `oncesign psbt ...` (cmd_psbt.c). */
int cli_cmd_sign(const cli_globals *g, int argc, char **argv);
int cli_cmd_psbt(const cli_globals *g, int argc, char **argv);

/* `oncesign log export|verify ...` (cmd_log.c); argv[0] is export or verify. */
int cli_cmd_log(const cli_globals *g, int argc, char **argv);

/* `oncesign voucher keygen|sign|verify ...` (cmd_voucher.c): the issuer tool; no device, no ledger. */
int cli_cmd_voucher(const cli_globals *g, int argc, char **argv);
/* `oncesign approve --key FILE --from FILE|- [--valid-for N | --expiry-seq N] [--signer HEX]`, or
 * `... --commitment HEX --signer HEX --expiry-seq N` (cmd_voucher.c): an operator's approval of one
 * transaction, printed as hex (PROTOCOL.md §2.8); no device, no ledger. --from reads the JSON of
 * GET /v1/payouts/{id}/commitment and recomputes its digest from the unsigned transaction. */
int cli_cmd_approve(const cli_globals *g, int argc, char **argv);
/* 1 when s is 64 hex digits (written to out); else prints a usage error naming opt and returns 0. */
int cli_parse_hex32(const char *opt, const char *s, uint8_t out[32]);

/* `oncesign status|payouts|codes|reconcile|tree ...` (cmd_ledger.c); group is argv[0]. */
int cli_cmd_ledger(const cli_globals *g, int argc, char **argv);
int cli_is_ledger_group(const char *word);

/* 1 when option a of these commands takes a value (so main.c never reads that value as a global option). */
int cli_option_takes_value(const char *a);

/* Shared helpers (cmd_ledger.c). */
void cli_json_string(const char *s);
int cli_usage(const char *fmt, ...);
/* Prints "oncesign: message" on stderr and, with --json, {"ok":false,"error":{...}} on stdout;
 * returns exit_code. status: an os_status for the JSON code and name. */
int cli_fail(const cli_globals *g, int exit_code, int status, const char *fmt, ...);
/* Consumes a backend option at argv[*i] (advancing *i past its value); 1 if it was one, -1 on a
 * missing value, an unreadable --rpc-password-file or --rpc-password (refused: a command line is
 * readable by every local user), 0 if not a backend option. */
int cli_backend_option(cli_backend *b, int argc, char **argv, int *i);
/* Fills an engine config from the backend options. */
void cli_engine_config(const cli_backend *b, os_engine_config *cfg);
/* The exit code for an os_status from the engine, ledger or node. */
int cli_exit_for(int status);

/* A running oncesignd that holds the signer (cmd_daemon.c). */
typedef struct {
    long pid;
    char admin_path[4096];
} cli_daemon;

/* 1 when a live oncesignd holds the ledger db_path (its lock next to it) and the signer g names
 * (or g names none), filling d. */
int cli_daemon_find(const cli_globals *g, const char *db_path, cli_daemon *d);
/* How long the CLI waits for the daemon's answer beyond its own --timeout: the daemon waits up to
 * 15 s for a signing session to end, then up to 10 s for the signer. A daemon that is stopped or hung
 * is then reported as not answering (busy). Reading the whole log or rebuilding the tree takes longer. */
#define CLI_DAEMON_SLACK_MS   20000L
#define CLI_DAEMON_LONG_MS    600000L

/* One request on d's admin socket (timeout_ms 0: unbounded, e.g. while the operator decides).
 * Returns CLI_EXIT_OK with *http and *answer (parsed JSON; the caller json_decref's it) when the
 * daemon answered, else prints "busy: held by oncesignd (pid N): why" and returns its exit code. */
int cli_daemon_call(const cli_globals *g, const cli_daemon *d, const char *method, const char *path,
                    const char *body, long timeout_ms, long *http, json_t **answer);
/* Prints "busy: held by oncesignd (pid N): why"; returns CLI_EXIT_ERROR. */
int cli_daemon_busy(const cli_globals *g, const cli_daemon *d, const char *why);
/* Reports the daemon's error answer: the device's refusal (exit 3), busy or a request it does not
 * carry ("busy: held by oncesignd ..."), anything else (exit 2). */
int cli_daemon_error(const cli_globals *g, const cli_daemon *d, long http, const json_t *answer);

#endif /* ONCESIGN_CLI_CMDS_H */
