/* oncesign CLI — the command groups beside main.c's device commands: the ledger commands
 * (cmd_ledger.c), PSBT signing (cmd_psbt.c) and the audit log (cmd_log.c). Exit codes as in main.c's --help. */
#ifndef ONCESIGN_CLI_CMDS_H
#define ONCESIGN_CLI_CMDS_H

#include <stdint.h>

#include "engine.h"

enum { CLI_EXIT_OK = 0, CLI_EXIT_USAGE = 1, CLI_EXIT_ERROR = 2, CLI_EXIT_REFUSED = 3 };

typedef struct {
    const char *device;     /* --device or $ONCESIGN_DEVICE; NULL when neither */
    int json;
    int timeout_ms;
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

#endif /* ONCESIGN_CLI_CMDS_H */
