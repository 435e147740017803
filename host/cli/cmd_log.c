/* oncesign CLI — the auditor's commands (docs/AUDITING.md): `log export` writes the signer's
 * hash-chained log to a text file, `log verify` checks such a file with only the attestation public
 * key, and optionally against the device's head, the ledger and the chain; `log match` finds the
 * SIGN entry that names a raw transaction from the chain. The logic is in
 * host/lib/audit.c; this file parses options and prints. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cli_cmds.h"
#include "client.h"
#include "file_replace.h"
#include "ledger.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "psbt.h"
#include "rpc.h"

static const char *const TYPE_NAMES[OS_LOG_TYPES] = { "unknown", "boot", "setup", "sign", "refuse_committed",
                                                      "approval", "policy", "wipe", "log_ack", "refuse_anchor",
                                                      "nonce_reset", "issuers", "vouchers", "refuse_voucher",
                                                      "refuse_approval", "approvals", "operators" };
_Static_assert(sizeof TYPE_NAMES / sizeof TYPE_NAMES[0] == OS_LOG_TYPES, "a name for every log type");

/* A seq as text, for one printf argument (a static buffer: one use per statement). */
static const char *seq_text(uint64_t seq) {
    static char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)seq);
    return buf;
}

static int parse_key(const char *opt, const char *s, uint8_t out[32]) {
    size_t len = 0;
    if (s == NULL) return cli_usage("%s needs a value", opt) == 0;
    if (strlen(s) != 64 || os_hex_decode(s, out, 32, &len) != OS_OK || len != 32) {
        cli_usage("%s: '%s' is not 64 hex digits", opt, s);
        return 0;
    }
    return 1;
}

/* A ledger that must already exist (os_ledger_open would create an empty one). */
static int open_existing_ledger(const cli_globals *g, const char *path, os_ledger **l) {
    char err[512] = "";
    if (access(path, R_OK) != 0)
        return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_DB, "ledger %s: %s", path, strerror(errno));
    if (os_ledger_open(path, l, err, sizeof err) != OS_OK)
        return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_DB, "ledger %s: %s", path, err);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- log export */

static int cmd_export(const cli_globals *g, int argc, char **argv) {
    const char *db = NULL, *out = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--db") == 0 || strcmp(a, "--out") == 0) {
            if (val == NULL) return cli_usage("%s needs a value", a);
            *(a[2] == 'd' ? &db : &out) = val;
            i++;
        } else {
            return cli_usage("log export: unexpected argument '%s'", a);
        }
    }
    if (db == NULL && (g->device == NULL || g->device[0] == '\0'))
        return cli_usage("log export: give --device SPEC (the signer) or --db PATH (the ledger's archive)");
    if (g->json && out == NULL) return cli_usage("log export --json needs --out FILE (the export itself is text)");

    os_audit_log log;
    os_msg_info info;
    char err[512] = "", source[300];
    int rc, have_info = 0;
    cli_daemon daemon;
    if (db == NULL && cli_daemon_find(g, g->daemon_db, &daemon)) {
        /* oncesignd holds the signer: it reads the log with the same call (os_audit_export_device) */
        long http = 0;
        json_t *answer = NULL;
        rc = cli_daemon_call(g, &daemon, "GET", "/v1/log", NULL, CLI_DAEMON_LONG_MS, &http, &answer);
        if (rc != CLI_EXIT_OK) return rc;
        if (http != 200) {
            rc = cli_daemon_error(g, &daemon, http, answer);
            json_decref(answer);
            return rc;
        }
        const char *text = json_string_value(json_object_get(answer, "log"));
        const char *device = json_string_value(json_object_get(answer, "device"));
        FILE *mem = text != NULL ? fmemopen((void *)text, strlen(text), "r") : NULL;
        rc = mem != NULL ? os_audit_read(mem, &log, err, sizeof err) : OS_ERR_MSG_MALFORMED;
        if (mem != NULL) fclose(mem);
        if (rc == OS_OK && os_device_info_from_json(json_object_get(answer, "info"), &info) != OS_OK) {
            os_audit_log_free(&log);
            rc = OS_ERR_MSG_MALFORMED;
        }
        snprintf(source, sizeof source, "device %s (through oncesignd pid %ld)", device != NULL ? device : "?",
                 daemon.pid);
        json_decref(answer);
        if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "oncesignd (pid %ld) answered an export that does not"
                                         " read: %s", daemon.pid, err[0] ? err : os_status_message(rc));
        have_info = 1;
    } else if (db != NULL) {
        os_ledger *l = NULL;
        if ((rc = open_existing_ledger(g, db, &l)) != CLI_EXIT_OK) return rc;
        rc = os_audit_export_ledger(l, &log, err, sizeof err);
        os_ledger_close(l);
        if (rc != OS_OK) return cli_fail(g, rc == OS_ERR_NOT_FOUND ? CLI_EXIT_REFUSED : CLI_EXIT_ERROR, rc,
                                         "ledger %s: %s", db, err);
        snprintf(source, sizeof source, "ledger %s", db);
    } else {
        os_client *c = NULL;
        rc = os_client_open(g->device, &c, err, sizeof err);
        if (rc == OS_ERR_ARG) return cli_usage("%s", err);
        if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "cannot open %s: %s", g->device, err);
        rc = os_audit_export_device(c, g->timeout_ms, &log, &info, err, sizeof err);
        if (rc != OS_OK) {
            const char *why = os_client_last_error(c);
            int code = cli_fail(g, cli_exit_for(rc) == CLI_EXIT_OK ? CLI_EXIT_ERROR : cli_exit_for(rc), rc,
                                "%s: %s%s%s", g->device, err, why[0] ? " — " : "", why);
            os_client_close(c);
            return code;
        }
        snprintf(source, sizeof source, "device %s", os_client_description(c));
        os_client_close(c);
        have_info = 1;
    }

    FILE *f = stdout;
    os_file_replace replace;
    if (out != NULL) {
        /* Written beside the target and renamed: a half-written export never carries the name,
         * and a device, FIFO or symlink at the path is refused rather than replaced. */
        rc = os_file_replace_open(&replace, out, 0644, err, sizeof err);
        if (rc != OS_OK) {
            os_audit_log_free(&log);
            return cli_fail(g, rc == OS_ERR_ARG ? CLI_EXIT_REFUSED : CLI_EXIT_ERROR, rc, "--out: %s", err);
        }
        f = replace.f;
    }
    rc = os_audit_write(f, &log);
    if (out != NULL) {
        if (rc == OS_OK) {
            rc = os_file_replace_commit(&replace, err, sizeof err);
        } else {
            snprintf(err, sizeof err, "writing %s failed", out);
            os_file_replace_abort(&replace);
        }
    } else if (rc != OS_OK) {
        snprintf(err, sizeof err, "writing stdout: %s", strerror(errno));
    }
    if (rc != OS_OK) {
        os_audit_log_free(&log);
        return cli_fail(g, CLI_EXIT_ERROR, rc, "%s", err);
    }
    char att[65], head[65];
    os_hex_encode(log.attestation, 32, att);
    if (have_info) os_hex_encode(info.log_head, 32, head);
    if (g->json) {
        printf("{\"ok\":true,\"source\":");
        cli_json_string(source);
        printf(",\"out\":");
        cli_json_string(out);
        printf(",\"entries\":%zu,\"first\":%llu,\"last\":%llu,\"attestation_pubkey\":\"%s\"", log.n,
               (unsigned long long)log.first, (unsigned long long)log.last, att);
        if (have_info) printf(",\"device_log_seq\":%llu,\"device_log_head\":\"%s\"", (unsigned long long)info.log_seq, head);
        puts("}");
    } else {
        FILE *msg = out != NULL ? stdout : stderr;
        fprintf(msg, "exported %zu entries (%llu..%llu) from %s%s%s\n", log.n, (unsigned long long)log.first,
                (unsigned long long)log.last, source, out ? " to " : "", out ? out : "");
        fprintf(msg, "attestation key named by the source: %s (check it against the one recorded at setup)\n", att);
        if (have_info) fprintf(msg, "device log head at seq %llu: %s (give it to log verify --head)\n",
                               (unsigned long long)info.log_seq, head);
    }
    os_audit_log_free(&log);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- log verify */

static void print_chain_line(void *ctx, const char *text) {
    const cli_globals *g = ctx;
    fprintf(g->json ? stderr : stdout, "  chain: %s\n", text);
}

static void print_report_json(const os_audit_report *r, int pubkey_from_file, const char *pubkey_hex,
                              const char *rpc_error) {
    char head[65];
    os_hex_encode(r->head, 32, head);
    printf("{\"ok\":%s,\"verdict\":\"%s\",\"pubkey\":\"%s\",\"pubkey_source\":\"%s\",\"entries\":%zu,"
           "\"first\":%llu,\"last\":%llu,\"head\":\"%s\",\"head_checked\":%s,\"chain_anchored\":%s,\"by_type\":{",
           r->status == OS_OK ? "true" : "false", r->status == OS_OK ? "ok" : "failed", pubkey_hex,
           pubkey_from_file ? "file-header-unchecked" : "auditor", r->n_entries, (unsigned long long)r->first,
           (unsigned long long)r->last, head, r->head_checked ? "true" : "false", r->chain_anchored ? "true" : "false");
    for (int t = 1; t < OS_LOG_TYPES; t++) printf("%s\"%s\":%llu", t > 1 ? "," : "", TYPE_NAMES[t], (unsigned long long)r->by_type[t]);
    printf(",\"unknown\":%llu},\"signatures_released\":%llu,\"refusals\":%llu,\"approvals\":%llu,\"rejections\":%llu,"
           "\"reanchors\":%llu,\"boots\":%llu,\"payout_total\":%llu,\"fee_total\":%llu",
           (unsigned long long)r->by_type[0], (unsigned long long)r->signatures_released,
           (unsigned long long)r->refusals, (unsigned long long)r->approvals, (unsigned long long)r->rejections,
           (unsigned long long)r->reanchors, (unsigned long long)r->boots, (unsigned long long)r->payout_total, (unsigned long long)r->fee_total);
    if (r->ledger_checked)
        printf(",\"ledger\":{\"sign_matched\":%llu,\"sign_recovered\":%llu,\"refusals_known\":%llu,\"roots_replayed\":%s,"
               "\"replay_from\":%llu,\"root_steps\":%llu}",
               (unsigned long long)r->ledger_sign_matched, (unsigned long long)r->ledger_sign_recovered,
               (unsigned long long)r->ledger_refusals_known, r->ledger_roots_replayed ? "true" : "false",
               (unsigned long long)r->ledger_replay_from, (unsigned long long)r->ledger_root_steps);
    else
        fputs(",\"ledger\":null", stdout);
    if (r->authority_checked) {
        printf(",\"authority\":{\"with_ledger\":%s,\"vouchered_signs\":%llu,\"quorum_signs\":%llu,"
               "\"interrupted\":%llu,\"ledger_vouchers_matched\":%llu,\"unchecked_issuers\":%llu,"
               "\"unchecked_operators\":%llu,\"unchecked_ledger\":%llu,\"findings\":{",
               r->authority_ledger ? "true" : "false", (unsigned long long)r->vouchered_signs,
               (unsigned long long)r->quorum_signs, (unsigned long long)r->interrupted,
               (unsigned long long)r->ledger_vouchers_matched, (unsigned long long)r->unchecked_issuers,
               (unsigned long long)r->unchecked_operators, (unsigned long long)r->unchecked_ledger);
        for (int f = 0; f < OS_AUDIT_FINDINGS; f++)
            printf("%s\"%s\":%llu", f ? "," : "", os_status_name(os_audit_finding_status((os_audit_finding)f)),
                   (unsigned long long)r->findings[f]);
        fputs("}}", stdout);
    } else {
        fputs(",\"authority\":null", stdout);
    }
    if (r->chain_checked) {
        printf(",\"chain\":{\"confirmed\":%llu,\"mempool\":%llu,\"not_found\":%llu,\"not_signed_in_ledger\":%llu,"
               "\"differs_from_ledger\":%llu",
               (unsigned long long)r->chain_confirmed, (unsigned long long)r->chain_mempool,
               (unsigned long long)r->chain_missing, (unsigned long long)r->chain_unsigned,
               (unsigned long long)r->chain_inconsistent);
        if (rpc_error != NULL) {
            fputs(",\"error\":", stdout);
            cli_json_string(rpc_error);
        }
        putchar('}');
    } else {
        fputs(",\"chain\":null", stdout);
    }
    if (r->status != OS_OK) {
        printf(",\"error\":{\"code\":%d,\"name\":", r->status);
        cli_json_string(os_status_name(r->status));
        printf(",\"refused\":true,\"seq\":%llu,\"line\":%zu,\"message\":", (unsigned long long)r->bad_seq,
               r->bad_index + 2);
        cli_json_string(r->reason);
        putchar('}');
    }
    puts("}");
}

static void print_report_text(const os_audit_report *r, int pubkey_from_file, const char *pubkey_hex,
                              const char *rpc_error) {
    char head[65];
    os_hex_encode(r->head, 32, head);
    printf("attestation key    %s (%s)\n", pubkey_hex,
           pubkey_from_file ? "FROM THE FILE'S HEADER, NOT INDEPENDENTLY CHECKED" : "given by the auditor");
    printf("entries            %zu verified, seq %llu..%llu%s\n", r->n_entries, (unsigned long long)r->first,
           (unsigned long long)r->last, r->n_entries && r->first > 1 ? " (continues the --from head)" : "");
    printf("by type           ");
    for (int t = 1; t < OS_LOG_TYPES; t++) printf(" %s=%llu", TYPE_NAMES[t], (unsigned long long)r->by_type[t]);
    if (r->by_type[0]) printf(" unknown=%llu", (unsigned long long)r->by_type[0]);
    putchar('\n');
    printf("signatures         %llu transactions signed, %llu sat paid out, %llu sat fees\n",
           (unsigned long long)r->signatures_released, (unsigned long long)r->payout_total,
           (unsigned long long)r->fee_total);
    printf("refusals           %llu refusals (committed nonce, spent anchor, voucher)\n", (unsigned long long)r->refusals);
    printf("operator           %llu approvals, %llu rejections, %llu re-anchors\n", (unsigned long long)r->approvals,
           (unsigned long long)r->rejections, (unsigned long long)r->reanchors);
    printf("boots              %llu\n", (unsigned long long)r->boots);
    printf("last entry hash    %s (%s)\n", head, r->head_checked ? "equals the given --head" : "no --head given: truncation not excluded");
    if (r->ledger_checked)
        printf("ledger             %llu SIGN entries matched to transactions (%llu recorded by a restore's recovery),"
               " %llu refusals name known nonces, roots %s%s\n",
               (unsigned long long)(r->ledger_sign_matched + r->ledger_sign_recovered),
               (unsigned long long)r->ledger_sign_recovered, (unsigned long long)r->ledger_refusals_known,
               !r->ledger_roots_replayed ? "not replayed (log does not start at seq 1)"
               : r->ledger_replay_from == 1 ? "replayed from seq 1" : "replayed from the nonce-set reset at seq ",
               r->ledger_roots_replayed && r->ledger_replay_from != 1 ? seq_text(r->ledger_replay_from) : "");
    if (r->authority_checked) {
        uint64_t total = 0;
        printf("authority          %llu signed under vouchers (%llu matched to the ledger's), %llu under a quorum,"
               " %llu cut off by a power cut", (unsigned long long)r->vouchered_signs,
               (unsigned long long)r->ledger_vouchers_matched, (unsigned long long)r->quorum_signs,
               (unsigned long long)r->interrupted);
        if (!r->authority_ledger) printf("; vouchers not compared (no --db)");
        if (r->unchecked_issuers || r->unchecked_operators)
            printf("; before the file shows the sets in force: %llu SIGN entries unchecked for vouchers, %llu entries"
                   " for the quorum", (unsigned long long)r->unchecked_issuers, (unsigned long long)r->unchecked_operators);
        if (r->unchecked_ledger)
            printf("; %llu SIGN entries before the nonce-set reset not compared", (unsigned long long)r->unchecked_ledger);
        putchar('\n');
        printf("findings          ");
        for (int f = 0; f < OS_AUDIT_FINDINGS; f++) {
            total += r->findings[f];
            if (r->findings[f])
                printf(" %s=%llu", os_status_name(os_audit_finding_status((os_audit_finding)f)),
                       (unsigned long long)r->findings[f]);
        }
        if (total == 0) printf(" none");
        putchar('\n');
    }
    if (r->chain_checked)
        printf("chain (report)     %llu confirmed, %llu in mempool, %llu not found, %llu differ from the ledger%s%s\n",
               (unsigned long long)r->chain_confirmed, (unsigned long long)r->chain_mempool,
               (unsigned long long)r->chain_missing, (unsigned long long)r->chain_inconsistent,
               rpc_error ? "; node: " : "", rpc_error ? rpc_error : "");
    if (r->status == OS_OK) {
        printf("verdict            OK\n");
    } else {
        printf("verdict            FAILED at entry %llu (line %zu): %s [%s]\n", (unsigned long long)r->bad_seq,
               r->bad_index + 2, r->reason, os_status_name(r->status));
    }
}

static int cmd_verify(const cli_globals *g, int argc, char **argv) {
    const char *file = NULL, *pubkey_s = NULL, *head_s = NULL, *from_s = NULL;
    cli_backend b;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int k = cli_backend_option(&b, argc, argv, &i);
        if (k < 0) return CLI_EXIT_USAGE;
        if (k > 0) continue;
        if (strcmp(a, "--pubkey") == 0 || strcmp(a, "--head") == 0 || strcmp(a, "--from") == 0) {
            if (i + 1 >= argc) return cli_usage("%s needs a value", a);
            *(a[2] == 'p' ? &pubkey_s : a[2] == 'h' ? &head_s : &from_s) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage("log verify: unknown option '%s'", a);
        } else if (file == NULL) {
            file = a;
        } else {
            return cli_usage("log verify: unexpected argument '%s'", a);
        }
    }
    if (file == NULL) return cli_usage("log verify: which FILE? (from oncesign log export)");
    if (b.rpc_url != NULL && b.db_path == NULL)
        return cli_usage("log verify: --rpc-url needs --db (the ledger names each entry's transaction)");
    uint8_t pubkey[32], head[32], from[32];
    if (pubkey_s != NULL && !parse_key("--pubkey", pubkey_s, pubkey)) return CLI_EXIT_USAGE;
    if (head_s != NULL && !parse_key("--head", head_s, head)) return CLI_EXIT_USAGE;
    if (from_s != NULL && !parse_key("--from", from_s, from)) return CLI_EXIT_USAGE;
    if (psbt_crypto_ready() != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "cannot initialise secp256k1");

    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (f == NULL) return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "%s: %s", file, strerror(errno));
    os_audit_log log;
    char err[512] = "";
    int rc = os_audit_read(f, &log, err, sizeof err);
    if (f != stdin) fclose(f);
    if (rc == OS_ERR_IO) return cli_fail(g, CLI_EXIT_ERROR, rc, "%s: %s", file, err);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_REFUSED, rc, "%s: %s", file, err);

    int from_file = pubkey_s == NULL;
    if (from_file) {
        memcpy(pubkey, log.attestation, 32);
        fprintf(stderr, "oncesign: WARNING: no --pubkey given: verifying under the key the FILE names; this proves\n"
                        "oncesign: only that the file is self-consistent, not that the device wrote it. Give the\n"
                        "oncesign: attestation key recorded at setup with --pubkey.\n");
    } else if (memcmp(pubkey, log.attestation, 32) != 0) {
        fprintf(stderr, "oncesign: note: the file's header names another attestation key than --pubkey\n");
    }
    char pubkey_hex[65];
    os_hex_encode(pubkey, 32, pubkey_hex);

    os_audit_report r;
    rc = os_audit_verify(&log, pubkey, from_s ? from : NULL, head_s ? head : NULL, &r);
    int exit_code = rc == OS_OK ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
    char rpc_error[600];
    const char *rpc_err = NULL;
    if (rc == OS_OK && b.db_path != NULL) {
        os_ledger *l = NULL;
        if ((exit_code = open_existing_ledger(g, b.db_path, &l)) != CLI_EXIT_OK) {
            os_audit_log_free(&log);
            return exit_code;
        }
        rc = os_audit_crosscheck_ledger(&log, l, &r);
        if (rc != OS_ERR_DB) {
            /* every finding is counted, also after a mismatch above */
            int a = os_audit_check_authority(&log, l, &r);
            if (rc == OS_OK) rc = a;
        }
        if (rc == OS_ERR_DB) exit_code = CLI_EXIT_ERROR;
        else if (rc != OS_OK) exit_code = CLI_EXIT_REFUSED;
        if (rc == OS_OK && b.rpc_url != NULL) {
            os_engine_config cfg;
            cli_engine_config(&b, &cfg);
            os_rpc_config rc_cfg = { cfg.rpc_url, cfg.rpc_user, cfg.rpc_password, cfg.rpc_cookie_file,
                                     g->timeout_ms };
            os_rpc *rpc = NULL;
            char e2[512] = "";
            if (os_rpc_open(&rc_cfg, &rpc, e2, sizeof e2) != OS_OK) {
                snprintf(rpc_error, sizeof rpc_error, "cannot open the node client: %s", e2);
                rpc_err = rpc_error;
                r.chain_checked = 1;
            } else {
                int q = os_audit_chain_report(&log, l, rpc, &r, print_chain_line, (void *)g);
                if (q == OS_ERR_DB) exit_code = CLI_EXIT_ERROR;
                else if (q != OS_OK) {
                    snprintf(rpc_error, sizeof rpc_error, "every query failed: %s", os_status_name(q));
                    rpc_err = rpc_error;
                }
                os_rpc_close(rpc);
            }
        }
        os_ledger_close(l);
    } else if (rc == OS_OK) {
        /* the vouchers and approvals as far as the log alone shows them */
        rc = os_audit_check_authority(&log, NULL, &r);
        if (rc != OS_OK) exit_code = CLI_EXIT_REFUSED;
    }
    if (g->json) print_report_json(&r, from_file, pubkey_hex, rpc_err);
    else print_report_text(&r, from_file, pubkey_hex, rpc_err);
    if (r.status != OS_OK)
        fprintf(stderr, "oncesign: log verify: entry %llu: %s [%s]\n", (unsigned long long)r.bad_seq, r.reason,
                os_status_name(r.status));
    os_audit_log_free(&log);
    return exit_code;
}

/* ---------------------------------------------------------------- log match */

/* Which SIGN entry names a raw transaction (from the chain: getrawtransaction TXID): the file is
 * verified under --pubkey first, so the answer is "the device signed exactly this transaction"
 * (version, locktime, sequences, inputs, outputs; signatures are deterministic). */
static int cmd_match(const cli_globals *g, int argc, char **argv) {
    const char *file = NULL, *pubkey_s = NULL, *from_s = NULL, *raw_s = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--pubkey") == 0 || strcmp(a, "--from") == 0 || strcmp(a, "--raw") == 0) {
            if (i + 1 >= argc) return cli_usage("%s needs a value", a);
            *(a[2] == 'p' ? &pubkey_s : a[2] == 'f' ? &from_s : &raw_s) = argv[++i];
        } else if (a[0] == '-' && a[1] != '\0') {
            return cli_usage("log match: unknown option '%s'", a);
        } else if (file == NULL) {
            file = a;
        } else {
            return cli_usage("log match: unexpected argument '%s'", a);
        }
    }
    if (file == NULL || pubkey_s == NULL || raw_s == NULL)
        return cli_usage("log match FILE --pubkey HEX --raw HEX: the log, the attestation key, the raw transaction");
    uint8_t pubkey[32], from[32];
    if (!parse_key("--pubkey", pubkey_s, pubkey)) return CLI_EXIT_USAGE;
    if (from_s != NULL && !parse_key("--from", from_s, from)) return CLI_EXIT_USAGE;
    size_t hex_len = strlen(raw_s), raw_len = 0;
    if (hex_len == 0 || hex_len % 2 != 0 || hex_len / 2 > OS_MAX_PREVTX_BYTES)
        return cli_usage("log match: --raw must be an even number of hex digits, at most %u bytes",
                         (unsigned)OS_MAX_PREVTX_BYTES);
    uint8_t *raw = malloc(hex_len / 2);
    if (raw == NULL) return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "out of memory");
    if (os_hex_decode(raw_s, raw, hex_len / 2, &raw_len) != OS_OK || raw_len != hex_len / 2) {
        free(raw);
        return cli_usage("log match: --raw is not hex");
    }
    if (psbt_crypto_ready() != OS_OK) {
        free(raw);
        return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "cannot initialise secp256k1");
    }
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (f == NULL) {
        free(raw);
        return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "%s: %s", file, strerror(errno));
    }
    os_audit_log log;
    char err[512] = "";
    int rc = os_audit_read(f, &log, err, sizeof err);
    if (f != stdin) fclose(f);
    if (rc != OS_OK) {
        free(raw);
        return cli_fail(g, rc == OS_ERR_IO ? CLI_EXIT_ERROR : CLI_EXIT_REFUSED, rc, "%s: %s", file, err);
    }
    os_audit_report r;
    rc = os_audit_verify(&log, pubkey, from_s ? from : NULL, NULL, &r);
    if (rc != OS_OK) {
        free(raw);
        os_audit_log_free(&log);
        return cli_fail(g, CLI_EXIT_REFUSED, rc, "%s does not verify (entry %llu: %s): run log verify", file,
                        (unsigned long long)r.bad_seq, r.reason);
    }
    uint64_t seq = 0;
    uint8_t hp[32], digest[32];
    rc = os_audit_match_raw(&log, raw, raw_len, &seq, hp, digest);
    free(raw);
    os_audit_log_free(&log);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_REFUSED, rc, "--raw is not a transaction the signer could sign");
    char hp_hex[65], digest_hex[65];
    os_hex_encode(hp, 32, hp_hex);
    os_hex_encode(digest, 32, digest_hex);
    if (g->json)
        printf("{\"matched\":%s,\"seq\":%llu,\"hash_prevouts\":\"%s\",\"tx_digest\":\"%s\"}\n",
               seq ? "true" : "false", (unsigned long long)seq, hp_hex, digest_hex);
    else if (seq)
        printf("entry %llu (SIGN) names this transaction: hash_prevouts %s tx_digest %s\n", (unsigned long long)seq,
               hp_hex, digest_hex);
    else
        printf("no SIGN entry names this transaction (hash_prevouts %s tx_digest %s)\n", hp_hex, digest_hex);
    return seq ? CLI_EXIT_OK : CLI_EXIT_REFUSED;
}

int cli_cmd_log(const cli_globals *g, int argc, char **argv) {
    if (argc < 1) return cli_usage("log: which command? export, verify or match");
    if (strcmp(argv[0], "export") == 0) return cmd_export(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "verify") == 0) return cmd_verify(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "match") == 0) return cmd_match(g, argc - 1, argv + 1);
    return cli_usage("log: unknown command '%s' (export, verify, match)", argv[0]);
}
