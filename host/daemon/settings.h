/* oncesignd's settings: one table (settings.c) is the command line, the config file, `--help` and
 * the sample config's checks (tests/e2e/test_packaging.sh), so they cannot disagree. The sample
 * with every setting documented is packaging/oncesignd.conf; docs/OPERATING.md explains them. */
#ifndef ONCESIGN_DAEMON_SETTINGS_H
#define ONCESIGN_DAEMON_SETTINGS_H

#include <stdio.h>

#define DAEMON_MAX_STR 512

typedef struct {
    int init;               /* --init: create the ledger when it does not exist (a one-time action) */
    char config[DAEMON_MAX_STR];
    char db[DAEMON_MAX_STR], device[DAEMON_MAX_STR], rpc_url[DAEMON_MAX_STR], rpc_user[DAEMON_MAX_STR],
        rpc_password[DAEMON_MAX_STR], rpc_password_file[DAEMON_MAX_STR], rpc_cookie[DAEMON_MAX_STR], network[16],
        listen[64], socket[DAEMON_MAX_STR], token_file[DAEMON_MAX_STR], log_format[16], webhook_url[DAEMON_MAX_STR],
        webhook_secret_file[DAEMON_MAX_STR], webhook_secret[DAEMON_MAX_STR];
    unsigned long long port, batch_max, batch_delay_ms, fee_floor, fee_cap, max_payout, confirmations_final,
        reconcile_interval_ms, rpc_timeout_ms, connection_limit, per_client_limit, request_timeout_ms,
        disk_min_free_mb, operator_wait_ms, webhook_retry_ms, webhook_retry_max_ms, webhook_timeout_ms, vouchers_required;
} daemon_settings;

typedef enum {
    DAEMON_RUN = 0,     /* start the service with these settings */
    DAEMON_EXIT_OK,     /* --help, --version or --check-config printed what was asked: exit 0 */
    DAEMON_EXIT_USAGE,  /* a message is on stderr: exit 1 */
} daemon_action;

/* Fills s from the defaults, then the config file (--config FILE), then the other flags, and
 * checks the result as a whole (ranges, required settings, secrets' file modes). Secrets are taken
 * from the config file or from files only: `--rpc-password` on a command line is refused, since
 * every local user can read a command line in /proc.
 * Returns: what main should do. Messages go to stderr (errors) or stdout (help, version).
 * Out:     s: the settings (zeroed first). */
daemon_action daemon_settings_load(int argc, char **argv, daemon_settings *s);

#endif /* ONCESIGN_DAEMON_SETTINGS_H */
