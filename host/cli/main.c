/* oncesign — the operator CLI (docs/OPERATING.md). `oncesign --help` lists commands and exit codes. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "address.h"
#include "cli_cmds.h"
#include "client.h"
#include "audit_log.h"
#include "descriptor.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "oncesign/version.h"
#include "transport.h"

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_DEVICE = 2, EXIT_REFUSED = 3 };

#define DEFAULT_TIMEOUT_MS 10000
/* Setup defaults (satoshi; 1 MONA = 100,000,000): deliberately small, raise them with --… options. */
#define DEFAULT_PER_PAYOUT_CAP   1000000000ull   /* 10 MONA */
#define DEFAULT_VELOCITY_CAP     10000000000ull  /* 100 MONA per window */
#define DEFAULT_VELOCITY_WINDOW  86400u          /* one day */
#define DEFAULT_FEE_CAP          1000000ull      /* 0.01 MONA per transaction */
#define DEFAULT_FEE_RATE_CAP     100000ull       /* 0.001 MONA per 1000 vbytes (relay minimum: 1000) */
#define DEFAULT_FEE_BUDGET       100000000ull    /* 1 MONA of fees per window: 100 transactions at the fee cap */

static const char USAGE[] =
    "usage: oncesign [--device SPEC] [--json] [--timeout MS] COMMAND [options]\n"
    "       oncesign --help | --version\n"
    "\n"
    "global options:\n"
    "  --device SPEC   sim:PATH (simulator socket), hid (first oncesign USB device), hid:PATH,\n"
    "                  serial:PATH; default: $ONCESIGN_DEVICE\n"
    "  --json          machine-readable output on stdout (errors too, as {\"ok\":false,\"error\":{...}})\n"
    "  --timeout MS    bound for each exchange with the device (default 10000); waiting for the\n"
    "                  operator's button is not bounded (Ctrl-C cancels it on the device)\n"
    "\n"
    "device commands:\n"
    "  device info [--db LEDGER]         state of the signer (works on an uninitialised one)\n"
    "  device init [--network main|test|regtest] [--script-type p2pkh|p2sh-p2wpkh|p2wpkh]\n"
    "              [--words 12|24] [--restore \"WORDS...\"] [--per-payout-cap SAT]\n"
    "              [--velocity-cap SAT] [--velocity-window S] [--fee-cap SAT]\n"
    "              [--fee-rate-cap SAT_PER_KVB] [--fee-budget SAT]\n"
    "                                    set up a new seed (defaults: main, p2pkh, 24 words,\n"
    "                                    caps 10 MONA/payout, 100 MONA/day, fee 0.01 MONA and\n"
    "                                    100000 sat/kvB, fees 1 MONA/day); the words appear on\n"
    "                                    the device only\n"
    "  device xpub [--script-type T] [--account N]\n"
    "                                    account extended public key (xpub or tpub)\n"
    "  device descriptors [--script-type T] [--account N]\n"
    "                                    the account's receive and change descriptors with key\n"
    "                                    origin and checksum, and the importmulti call for a\n"
    "                                    watch-only wallet in monacoind (docs/PSBT.md)\n"
    "  device address [--script-type T] [--account N] [--change] [--index N] [--show] [--db LEDGER]\n"
    "                                    an address; --show displays it on the device for approval\n"
    "  while oncesignd holds the signer, device info, device address, log export, status --device,\n"
    "  reconcile and tree rebuild go through its admin socket: it is found by the lock next to its\n"
    "  ledger (--db, else $ONCESIGN_DB, else oncesign.db); other device commands then say\n"
    "  \"busy: held by oncesignd (pid N)\" (exit 2)\n"
    "  device wipe                       erase keys, nonce set and log (confirm on the device)\n"
    "  device issuers [--required] [--issuer HEX ...]\n"
    "                                    register up to 2 issuer keys (BIP340, from `voucher keygen`)\n"
    "                                    and whether new payouts need their vouchers; the operator\n"
    "                                    compares the fingerprints on the device (PROTOCOL.md 2.7)\n"
    "  device operators [--operator HEX ... --k K --threshold SAT]\n"
    "                                    register up to 3 operator keys (from `voucher keygen`): a\n"
    "                                    transaction paying more than SAT needs K of their approvals\n"
    "                                    and the press; no keys clears the quorum (PROTOCOL.md 2.8)\n"
    "  device list                       the oncesign USB devices attached (serial, hidraw path);\n"
    "                                    pick one with --device hid:SERIAL\n"
    "\n"
    "\n"
    "ledger commands (--db PATH, default ./oncesign.db; no signer needed unless noted):\n"
    "  status                            ledger health and payouts by status; with --device also\n"
    "                                    the signer's nonce root and log against the ledger's\n"
    "  payouts list [--status S] [--after ID] [--limit N]\n"
    "                                    payouts with id > ID (default 100 at a time)\n"
    "  payouts show ID                   one payout: status, txid, confirmations\n"
    "  payouts cancel ID                 an operator cancels a payout still waiting (requested)\n"
    "  codes issue --amount SAT [--expires-at UNIX_TIME]\n"
    "                                    a new gift code, printed this once only\n"
    "  codes show CODE                   amount, expiry, whether and by which payout redeemed\n"
    "  reconcile --rpc-url URL           one reconciliation pass now (needs --device)\n"
    "  tree rebuild                      rebuild the nonce tree from the signer's log (needs --device)\n"
    "  apikey create NAME --scopes LIST  a scoped API key (LIST: issue,redeem,withdraw,read,operator,\n"
    "                                    audit), its secret printed this once\n"
    "  apikey revoke NAME                refuse the key from its next request on\n"
    "  apikey list                       keys, scopes, active or revoked, recorded uses\n"
    "  ledger init                       create the ledger file (--db); every other command needs it to exist\n"
    "  ledger backup --out FILE          verified online copy of the ledger (docs/RECOVERY.md); the signer's\n"
    "                                    log is then acknowledged only up to the newest backup\n"
    "  ledger verify-backup FILE         check a backup read-only (integrity, marker)\n"
    "\n"
    "PSBT commands (docs/PSBT.md):\n"
    "  sign FILE.psbt [--out FILE] [--finalize] [--db PATH] [--rpc-url URL]\n"
    "                                    sign through the signer and the ledger's nonce tree; writes\n"
    "                                    the PSBT with partial signatures, or with --finalize the raw\n"
    "                                    transaction hex; --rpc-url fetches previous transactions the\n"
    "                                    PSBT lacks (getrawtransaction); sends the vouchers and operator\n"
    "                                    approvals it carries (psbt bind --voucher, psbt add-approval)\n"
    "  psbt create --to ADDRESS --amount SAT --nonce HEX [--to ...] --input TXID:VOUT [--input ...]\n"
    "              --change-index N [--prev-tx HEXFILE ...] [--rpc-url URL] [--fee SAT]\n"
    "              [--fee-rate SAT_PER_KVB] [--account N] [--scan N] [--out FILE]\n"
    "                                    a PSBT paying code payouts (in nonce-key order), change to\n"
    "                                    the signer's change chain (needs --device)\n"
    "  psbt inspect FILE [--network main|test|regtest]\n"
    "                                    the commitment (what operators approve), inputs, outputs\n"
    "                                    (payout/change/unknown, nonce, voucher), approvals, fee\n"
    "  psbt bind FILE --output N (--nonce HEX [--anchor TXID:VOUT] | --voucher HEX) [--out FILE]\n"
    "                                    bind output N to a code nonce (e.g. in a PSBT made by\n"
    "                                    walletcreatefundedpsbt); --anchor marks a replacement;\n"
    "                                    --voucher binds it to the issuer voucher's nonce and carries\n"
    "                                    the voucher (a signer requiring vouchers needs it)\n"
    "  psbt add-approval FILE --approval HEX [--out FILE]\n"
    "                                    carry an operator's approval (`approve --commitment` of the\n"
    "                                    PSBT's commitment): above the quorum threshold the signer\n"
    "                                    needs k of them\n"
    "  monacoind: --rpc-url URL with --rpc-user U --rpc-password-file FILE (its first line) or\n"
    "             --rpc-cookie FILE (a password on the command line is refused: /proc shows it)\n"
    "\n"
    "issuer and operator commands (no device, no ledger: run them on the backend, an operator's\n"
    "machine or an offline one):\n"
    "  voucher keygen --key FILE         a new issuer key (mode 0600; never overwrites), prints the\n"
    "                                    public key and its fingerprint\n"
    "  voucher sign --key FILE --signer HEX --amount SAT --expiry-seq N [--nonce HEX]\n"
    "               [--address ADDR] [--network main|test|regtest]\n"
    "                                    a voucher (hex) for one payout by the signer whose attestation\n"
    "                                    key is HEX, valid while its log seq is below N; --address binds\n"
    "                                    the destination (withdrawals); a random nonce unless given\n"
    "  voucher verify --voucher HEX [--issuer HEX]\n"
    "                                    the voucher's fields and id; exit 3 when its signature fails\n"
    "  approve --key FILE --from FILE|- [--valid-for N | --expiry-seq N] [--signer HEX]\n"
    "                                    an operator's approval (hex) of what GET /v1/payouts/{id}/\n"
    "                                    commitment returned (FILE, - for stdin): the digest is\n"
    "                                    recomputed from its unsigned transaction, whose outputs are\n"
    "                                    shown on stderr; valid for N log entries (default 100) from\n"
    "                                    its log_seq; --signer refuses a document naming another signer\n"
    "  approve --key FILE --commitment HEX --signer HEX --expiry-seq N\n"
    "                                    an operator's approval (hex) of the transaction whose digest is\n"
    "                                    HEX, for the signer whose attestation key is HEX, valid while\n"
    "                                    its log seq is below N (PROTOCOL.md 2.8)\n"
    "\n"    "audit commands (docs/AUDITING.md):\n"
    "  log export [--db PATH] [--out FILE]\n"
    "                                    the signer's audit log as text (header + one entry per line):\n"
    "                                    every entry the device still holds (--device), or the ledger's\n"
    "                                    archive (--db); prints the device's log head\n"
    "  log verify FILE --pubkey HEX [--head HEX] [--from HEX] [--db PATH] [--rpc-url URL ...]\n"
    "                                    check format, sequence, hash chain and BIP340 signatures under\n"
    "                                    the attestation key; --head: the log ends at the device's head\n"
    "                                    (device info); vouchers and approvals: each VOUCHERS/APPROVALS\n"
    "                                    entry precedes its SIGN, required vouchers and quorums are there,\n"
    "                                    approvers registered (docs/AUDITING.md);\n"
    "                                    --db: every SIGN/REFUSE entry and voucher matches the ledger;\n"
    "                                    --rpc-url: report where each transaction is on the chain.\n"
    "                                    Exit 3 when anything does not verify\n"
    "  log match FILE --pubkey HEX --raw HEX [--from HEX]\n"
    "                                    verify the log, then name the SIGN entry that signed the raw\n"
    "                                    transaction (getrawtransaction TXID); exit 3 when none does\n"
    "\n"
    "exit codes: 0 ok, 1 usage error (also an unreadable or malformed PSBT), 2 device, transport,\n"
    "            ledger or node error, 3 refused: by the device (including the operator pressing\n"
    "            reject), a PSBT the signer cannot sign, an unknown code or payout, a signer that\n"
    "            disagrees with the ledger\n";

typedef struct {
    const char *device;
    int json;
    int timeout_ms;
    const char *daemon_db;      /* --db (device commands), $ONCESIGN_DB or oncesign.db: whose daemon to ask */
    int via_daemon;             /* a running oncesignd holds the signer: ask it (daemon) */
    cli_daemon daemon;
    os_client *client;
    uint8_t buf[OS_MAX_MESSAGE];
} cli;

static os_client *volatile g_waiting_client;

static void on_sigint(int sig) {
    (void)sig;
    if (g_waiting_client != NULL) os_client_request_cancel(g_waiting_client);
    else _exit(130);
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("oncesign: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see oncesign --help)\n", stderr);
    return EXIT_USAGE;
}

/* ---------------------------------------------------------------- output helpers */

static void put_json_string(const char *s) {
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

static void hex(char *out, const uint8_t *data, size_t len) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

static const char *network_name(uint8_t n) {
    return n == OS_NET_MAIN ? "main" : n == OS_NET_TEST ? "test" : n == OS_NET_REGTEST ? "regtest" : "unknown";
}

static const char *script_name(uint8_t t) {
    return t == OS_SCRIPT_P2PKH ? "p2pkh" : t == OS_SCRIPT_P2SH_P2WPKH ? "p2sh-p2wpkh"
                                      : t == OS_SCRIPT_P2WPKH       ? "p2wpkh" : "unknown";
}

static int parse_script_type(const char *s, uint8_t *out) {
    if (strcmp(s, "p2pkh") == 0) *out = OS_SCRIPT_P2PKH;
    else if (strcmp(s, "p2sh-p2wpkh") == 0) *out = OS_SCRIPT_P2SH_P2WPKH;
    else if (strcmp(s, "p2wpkh") == 0) *out = OS_SCRIPT_P2WPKH;
    else return 0;
    return 1;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out) {
    char *end = NULL;
    if (s == NULL) return usage_error("%s needs a value", opt) == 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s == '\0' || !isdigit((unsigned char)*s) || *end != '\0' || errno != 0 || v > max) {
        usage_error("%s: '%s' is not a whole number in 0..%llu", opt, s, (unsigned long long)max);
        return 0;
    }
    *out = v;
    return 1;
}

/* Prints a failure of the client or a refusal and returns the exit code for it. */
static int report_failure(cli *c, int status, const os_msg *error_reply) {
    char text[768];
    int code = status;
    int refused = error_reply != NULL;
    if (refused) {
        os_client_error_text(error_reply, text, sizeof text);
        code = error_reply->u.error.code;
        fprintf(stderr, "oncesign: refused by the device: %s\n", text);
    } else {
        /* The client's own description already names the device and what failed. */
        const char *why = c->client != NULL ? os_client_last_error(c->client) : "";
        if (why[0] != '\0') snprintf(text, sizeof text, "%s [%s]", why, os_status_name(status));
        else snprintf(text, sizeof text, "%s: %s [%s]", c->device, os_status_message(status), os_status_name(status));
        fprintf(stderr, "oncesign: %s\n", text);
    }
    if (c->json) {
        printf("{\"ok\":false,\"error\":{\"code\":%d,\"name\":", code);
        put_json_string(os_status_name(code));
        printf(",\"refused\":%s,\"message\":", refused ? "true" : "false");
        put_json_string(text);
        if (refused && error_reply->u.error.index != 0xFFFF) printf(",\"index\":%u", error_reply->u.error.index);
        puts("}}");
    }
    return refused ? EXIT_REFUSED : EXIT_DEVICE;
}

/* Prints a device operation's failure (host/lib/device_ops.h) and returns its exit code. */
static int report_device_failure(cli *c, const os_device_failure *why) {
    const char *what = why->refused ? "refused by the device: " : "";
    fprintf(stderr, "oncesign: %s%s\n", what, why->text);
    /* the link failing at once is what a signer held by an oncesignd this command did not find looks like */
    if (!why->refused && why->code == OS_ERR_IO)
        fprintf(stderr, "oncesign: if oncesignd holds this signer, name its ledger (--db LEDGER or $ONCESIGN_DB; this"
                        " command looked at %s) so the command goes through it\n", c->daemon_db);
    if (c->json) {
        printf("{\"ok\":false,\"error\":{\"code\":%d,\"name\":", why->code);
        put_json_string(os_status_name(why->code));
        printf(",\"refused\":%s,\"message\":", why->refused ? "true" : "false");
        put_json_string(why->text);
        if (why->refused && why->index != 0xFFFF) printf(",\"index\":%u", why->index);
        puts("}}");
    }
    return why->refused ? EXIT_REFUSED : EXIT_DEVICE;
}

/* One request on the admin socket of the oncesignd holding the signer; on OS_OK *answer is its
 * 200 answer. Any other answer is reported (exit code returned). */
static int daemon_request(cli *c, const char *method, const char *path, const char *body, long timeout_ms,
                          json_t **answer) {
    cli_globals g = { c->device, c->json, c->timeout_ms, c->daemon_db };
    long http = 0;
    int rc = cli_daemon_call(&g, &c->daemon, method, path, body, timeout_ms, &http, answer);
    if (rc != EXIT_OK) return rc;
    if (http != 200) {
        rc = cli_daemon_error(&g, &c->daemon, http, *answer);
        json_decref(*answer);
        *answer = NULL;
    }
    return rc;
}

static int open_device(cli *c) {
    char err[256] = "";
    if (c->device == NULL || c->device[0] == '\0') {
        return usage_error("no device: give --device SPEC or set ONCESIGN_DEVICE (e.g. sim:/tmp/oncesign.sock)");
    }
    int rc = os_client_open(c->device, &c->client, err, sizeof err);
    if (rc == OS_ERR_ARG) return usage_error("%s", err);
    if (rc != OS_OK) {
        fprintf(stderr, "oncesign: cannot open %s: %s\n", c->device, err);
        if (c->json) {
            printf("{\"ok\":false,\"error\":{\"code\":%d,\"name\":", rc);
            put_json_string(os_status_name(rc));
            fputs(",\"refused\":false,\"message\":", stdout);
            put_json_string(err);
            puts("}}");
        }
        return EXIT_DEVICE;
    }
    return EXIT_OK;
}

static void print_prompt(void *ctx) {
    fprintf(stderr, "%s\n", (const char *)ctx);
}

/* One request; a final reply of type `expect` gives EXIT_OK. prompt != NULL allows the operator
 * wait (PENDING/POLL) and is printed once when the device starts waiting. */
static int exchange(cli *c, const os_msg *req, os_msg *reply, uint8_t expect, const char *prompt) {
    int rc;
    /* Opened at the first exchange, so usage errors in a command's options never touch the device. */
    if (c->client == NULL && (rc = open_device(c)) != EXIT_OK) return rc;
    if (prompt != NULL) {
        g_waiting_client = c->client;
        rc = os_client_call_wait(c->client, req, reply, c->buf, c->timeout_ms, print_prompt, (void *)prompt);
        g_waiting_client = NULL;
    } else {
        rc = os_client_call(c->client, req, reply, c->buf, c->timeout_ms);
    }
    if (rc != OS_OK) return report_failure(c, rc, NULL);
    if (reply->type == OS_MSG_ERROR) return report_failure(c, OS_OK, reply);
    if (reply->type != expect) {
        fprintf(stderr, "oncesign: %s: unexpected reply type 0x%02x (expected 0x%02x)\n", c->device, reply->type, expect);
        if (c->json) puts("{\"ok\":false,\"error\":{\"code\":275,\"name\":\"msg-unexpected\",\"refused\":false,"
                          "\"message\":\"unexpected reply type\"}}");
        return EXIT_DEVICE;
    }
    return EXIT_OK;
}

static int get_info(cli *c, os_msg *reply) {
    os_msg req;
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    return exchange(c, &req, reply, OS_MSG_INFO, NULL);
}

/* ---------------------------------------------------------------- commands */

/* The signer's info: from the signer, or from the oncesignd that holds it (the same call there). */
static int read_info(cli *c, os_msg_info *info, char *description, size_t cap) {
    if (c->via_daemon) {
        json_t *answer = NULL;
        int rc = daemon_request(c, "GET", "/v1/device", NULL, (long)c->timeout_ms + CLI_DAEMON_SLACK_MS, &answer);
        if (rc != EXIT_OK) return rc;
        rc = os_device_info_from_json(answer, info);
        json_decref(answer);
        if (rc != OS_OK) return report_failure(c, rc, NULL);
        snprintf(description, cap, "%s (through oncesignd pid %ld)", c->device != NULL ? c->device : "its signer",
                 c->daemon.pid);
        return EXIT_OK;
    }
    int rc;
    if (c->client == NULL && (rc = open_device(c)) != EXIT_OK) return rc;
    os_device_failure why;
    if (os_device_info(c->client, c->timeout_ms, info, &why) != OS_OK) return report_device_failure(c, &why);
    snprintf(description, cap, "%s", os_client_description(c->client));
    return EXIT_OK;
}

static int cmd_info(cli *c, int argc, char **argv) {
    os_msg_info info;
    char description[320];
    if (argc > 0) return usage_error("device info: unexpected argument '%s'", argv[0]);
    int rc = read_info(c, &info, description, sizeof description);
    if (rc != EXIT_OK) return rc;
    const os_msg_info *i = &info;
    char fw[sizeof i->firmware_version + 1], root[65], head[65], att[65];
    memcpy(fw, i->firmware_version, sizeof i->firmware_version);
    fw[sizeof i->firmware_version] = '\0';
    for (char *p = fw; *p; p++) if (!isprint((unsigned char)*p)) *p = '?';
    hex(root, i->nonce_root, 32);
    hex(head, i->log_head, 32);
    hex(att, i->attestation_pubkey, 32);
    if (c->json) {
        printf("{\"ok\":true,\"device\":");
        put_json_string(description);
        printf(",\"initialized\":%s,\"protocol_version\":%u,\"firmware_version\":", i->initialized ? "true" : "false",
               i->protocol_version);
        put_json_string(fw);
        fputs(",\"network\":", stdout);
        if (i->initialized) put_json_string(network_name(i->network)); else fputs("null", stdout);
        fputs(",\"script_type\":", stdout);
        if (i->initialized) put_json_string(script_name(i->script_type)); else fputs("null", stdout);
        printf(",\"test_only_rng\":%s,\"nonce_root\":\"%s\",\"log_seq\":%llu,\"log_head\":\"%s\","
               "\"log_acked_seq\":%llu,\"log_capacity\":%u,\"attestation_pubkey\":\"%s\",",
               i->test_only_rng ? "true" : "false", root, (unsigned long long)i->log_seq, head,
               (unsigned long long)i->log_acked_seq, i->log_capacity, att);
        printf("\"policy\":{\"per_payout_cap\":%llu,\"velocity_cap\":%llu,\"velocity_window_s\":%u,"
               "\"fee_cap\":%llu,\"fee_rate_cap\":%llu,\"fee_budget\":%llu},\"state_seq\":%llu}\n",
               (unsigned long long)i->policy.per_payout_cap, (unsigned long long)i->policy.velocity_cap,
               i->policy.velocity_window_s, (unsigned long long)i->policy.fee_cap,
               (unsigned long long)i->policy.fee_rate_cap, (unsigned long long)i->policy.fee_budget,
               (unsigned long long)i->state_seq);
        return EXIT_OK;
    }
    printf("device             %s\n", description);
    printf("firmware           %s (protocol %u)\n", fw, i->protocol_version);
    printf("initialized        %s\n", i->initialized ? "yes" : "no");
    if (i->initialized) {
        printf("network            %s\n", network_name(i->network));
        printf("script type        %s\n", script_name(i->script_type));
    }
    if (i->test_only_rng) printf("random source      TEST ONLY (seeded simulator; never hold real funds)\n");
    printf("nonce root         %s\n", root);
    printf("log                %llu entries (acknowledged up to %llu, device keeps %u)\n",
           (unsigned long long)i->log_seq, (unsigned long long)i->log_acked_seq, i->log_capacity);
    printf("log head           %s\n", head);
    printf("attestation key    %s\n", att);
    if (i->initialized) {
        printf("per-payout cap     %llu sat\n", (unsigned long long)i->policy.per_payout_cap);
        printf("velocity cap       %llu sat per %u s\n", (unsigned long long)i->policy.velocity_cap,
               i->policy.velocity_window_s);
        printf("fee cap            %llu sat, %llu sat/kvB\n", (unsigned long long)i->policy.fee_cap,
               (unsigned long long)i->policy.fee_rate_cap);
        printf("fee budget         %llu sat per %u s\n", (unsigned long long)i->policy.fee_budget,
               i->policy.velocity_window_s);
    }
    printf("state sequence     %llu\n", (unsigned long long)i->state_seq);
    return EXIT_OK;
}

static int cmd_init(cli *c, int argc, char **argv) {
    os_msg req, reply;
    char words[OS_MAX_MNEMONIC + 1];
    uint64_t v;
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_INIT_DEVICE;
    os_msg_init_device *m = &req.u.init_device;
    m->network = OS_NET_MAIN;
    m->script_type = OS_SCRIPT_P2PKH;
    m->word_count = 24;
    m->policy = (os_policy){ DEFAULT_PER_PAYOUT_CAP, DEFAULT_VELOCITY_CAP, DEFAULT_VELOCITY_WINDOW, DEFAULT_FEE_CAP,
                             DEFAULT_FEE_RATE_CAP, DEFAULT_FEE_BUDGET };
    int words_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--network") == 0 && val != NULL) {
            if (strcmp(val, "main") == 0) m->network = OS_NET_MAIN;
            else if (strcmp(val, "test") == 0) m->network = OS_NET_TEST;
            else if (strcmp(val, "regtest") == 0) m->network = OS_NET_REGTEST;
            else return usage_error("--network: '%s' is not main, test or regtest", val);
        } else if (strcmp(a, "--script-type") == 0 && val != NULL) {
            if (!parse_script_type(val, &m->script_type))
                return usage_error("--script-type: '%s' is not p2pkh, p2sh-p2wpkh or p2wpkh", val);
        } else if (strcmp(a, "--words") == 0 && val != NULL) {
            if (strcmp(val, "12") != 0 && strcmp(val, "24") != 0) return usage_error("--words: 12 or 24");
            m->word_count = (uint8_t)atoi(val);
            words_given = 1;
        } else if (strcmp(a, "--restore") == 0 && val != NULL) {
            /* Normalised to single spaces and lower case, as BIP39 words are. */
            size_t n = 0;
            for (const char *p = val; *p != '\0'; p++) {
                if (isspace((unsigned char)*p)) {
                    if (n > 0 && words[n - 1] != ' ' && n < sizeof words - 1) words[n++] = ' ';
                } else if (n < sizeof words - 1) {
                    words[n++] = (char)tolower((unsigned char)*p);
                } else {
                    return usage_error("--restore: the mnemonic is longer than %d characters", OS_MAX_MNEMONIC);
                }
            }
            while (n > 0 && words[n - 1] == ' ') n--;
            words[n] = '\0';
            if (n == 0) return usage_error("--restore needs the words of the mnemonic");
            m->restore = 1;
            m->mnemonic = (const uint8_t *)words;
            m->mnemonic_len = (uint16_t)n;
        } else if (strcmp(a, "--per-payout-cap") == 0) {
            if (!parse_u64(a, val, UINT64_MAX, &v)) return EXIT_USAGE;
            m->policy.per_payout_cap = v;
        } else if (strcmp(a, "--velocity-cap") == 0) {
            if (!parse_u64(a, val, UINT64_MAX, &v)) return EXIT_USAGE;
            m->policy.velocity_cap = v;
        } else if (strcmp(a, "--velocity-window") == 0) {
            if (!parse_u64(a, val, UINT32_MAX, &v)) return EXIT_USAGE;
            if (v == 0) return usage_error("--velocity-window must be at least 1 second");
            m->policy.velocity_window_s = (uint32_t)v;
        } else if (strcmp(a, "--fee-cap") == 0) {
            if (!parse_u64(a, val, UINT64_MAX, &v)) return EXIT_USAGE;
            m->policy.fee_cap = v;
        } else if (strcmp(a, "--fee-rate-cap") == 0) {
            if (!parse_u64(a, val, UINT64_MAX, &v)) return EXIT_USAGE;
            m->policy.fee_rate_cap = v;
        } else if (strcmp(a, "--fee-budget") == 0) {
            if (!parse_u64(a, val, UINT64_MAX, &v)) return EXIT_USAGE;
            m->policy.fee_budget = v;
        } else {
            return usage_error("device init: unknown option or missing value: %s", a);
        }
        i++;
    }
    if (m->restore && words_given) return usage_error("--words and --restore exclude each other");
    if (m->restore) m->word_count = 0;  /* the mnemonic says how many */
    int rc = exchange(c, &req, &reply, OS_MSG_SUCCESS,
                      m->restore ? "Check the restore details on the device and confirm there"
                                 : "Write down the words shown on the device and confirm there");
    if (rc != EXIT_OK) return rc;
    if (c->json) {
        printf("{\"ok\":true,\"initialized\":true,\"network\":\"%s\",\"script_type\":\"%s\"}\n",
               network_name(m->network), script_name(m->script_type));
    } else {
        printf("Device initialised: network %s, script type %s.\n", network_name(m->network),
               script_name(m->script_type));
    }
    return EXIT_OK;
}

/* Options shared by xpub and address. */
typedef struct {
    int have_script_type;
    uint8_t script_type;
    uint32_t account, index;
    uint8_t change, show;
} path_opts;

static int parse_path_opts(const char *cmd, int argc, char **argv, path_opts *o, int address) {
    uint64_t v;
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--script-type") == 0 && val != NULL) {
            if (!parse_script_type(val, &o->script_type))
                return usage_error("--script-type: '%s' is not p2pkh, p2sh-p2wpkh or p2wpkh", val);
            o->have_script_type = 1;
            i++;
        } else if (strcmp(a, "--account") == 0) {
            if (!parse_u64(a, val, 0x7FFFFFFF, &v)) return EXIT_USAGE;
            o->account = (uint32_t)v;
            i++;
        } else if (address && strcmp(a, "--index") == 0) {
            if (!parse_u64(a, val, 0x7FFFFFFF, &v)) return EXIT_USAGE;
            o->index = (uint32_t)v;
            i++;
        } else if (address && strcmp(a, "--change") == 0) {
            o->change = 1;
        } else if (address && strcmp(a, "--show") == 0) {
            o->show = 1;
        } else {
            return usage_error("device %s: unknown option or missing value: %s", cmd, a);
        }
    }
    return EXIT_OK;
}

/* Fills in the device's own script type when none was given; returns the device's network. */
static int resolve_defaults(cli *c, path_opts *o, uint8_t *network) {
    os_msg info;
    int rc = get_info(c, &info);
    if (rc != EXIT_OK) return rc;
    if (!info.u.info.initialized) {
        os_msg refusal;
        memset(&refusal, 0, sizeof refusal);
        refusal.type = OS_MSG_ERROR;
        refusal.u.error.code = OS_ERR_NOT_INITIALIZED;
        refusal.u.error.index = 0xFFFF;
        return report_failure(c, OS_OK, &refusal);
    }
    if (!o->have_script_type) o->script_type = info.u.info.script_type;
    *network = info.u.info.network;
    return EXIT_OK;
}

static void path_text(char *out, size_t cap, uint8_t network, const path_opts *o, int leaf) {
    uint32_t p[3];
    if (address_account_path(network, o->script_type, o->account, p) != OS_OK) {
        snprintf(out, cap, "?");
        return;
    }
    int n = snprintf(out, cap, "m/%u'/%u'/%u'", p[0] & 0x7FFFFFFFu, p[1] & 0x7FFFFFFFu, p[2] & 0x7FFFFFFFu);
    if (leaf && n > 0 && (size_t)n < cap) snprintf(out + n, cap - (size_t)n, "/%u/%u", o->change, o->index);
}

/* The account xpub a command's path options name (`device xpub`, `device descriptors`), base58check
 * encoded into text. Returns EXIT_OK, or the exit status already reported. */
static int account_xpub(cli *c, const char *cmd, int argc, char **argv, path_opts *o, uint8_t *network, char *text,
                        size_t cap) {
    os_msg req, reply;
    int rc = parse_path_opts(cmd, argc, argv, o, 0);
    if (rc != EXIT_OK) return rc;
    if ((rc = resolve_defaults(c, o, network)) != EXIT_OK) return rc;
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_XPUB;
    req.u.get_xpub.script_type = o->script_type;
    req.u.get_xpub.account = o->account;
    if ((rc = exchange(c, &req, &reply, OS_MSG_XPUB, NULL)) != EXIT_OK) return rc;
    rc = base58check_encode(reply.u.xpub.data, OS_XPUB_BYTES, text, cap);
    return rc == OS_OK ? EXIT_OK : report_failure(c, rc, NULL);
}

static int cmd_xpub(cli *c, int argc, char **argv) {
    path_opts o;
    uint8_t network;
    char text[128], path[64];
    int rc = account_xpub(c, "xpub", argc, argv, &o, &network, text, sizeof text);
    if (rc != EXIT_OK) return rc;
    path_text(path, sizeof path, network, &o, 0);
    if (c->json) {
        printf("{\"ok\":true,\"xpub\":\"%s\",\"network\":\"%s\",\"script_type\":\"%s\",\"account\":%u,\"path\":\"%s\"}\n",
               text, network_name(network), script_name(o.script_type), o.account, path);
    } else {
        printf("%s\n", text);
    }
    return EXIT_OK;
}

/* The SETUP entry (seq 1 of the device's log) carries the master key's fingerprint after network,
 * script type, restore, test-RNG flag and the policy (PROTOCOL.md §6): its offset follows the policy's
 * wire size, as the signer writes it (firmware/signer.c). */
#define SETUP_FINGERPRINT_OFF (AUDIT_LOG_OFF_PAYLOAD + OS_LOG_SETUP_FINGERPRINT_OFF)

static int cmd_descriptors(cli *c, int argc, char **argv) {
    path_opts o;
    uint8_t network;
    os_msg req, reply;
    char xpub[128];
    int rc = account_xpub(c, "descriptors", argc, argv, &o, &network, xpub, sizeof xpub);
    if (rc != EXIT_OK) return rc;
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_LOG_READ;
    req.u.log_read.seq = 1;
    if ((rc = exchange(c, &req, &reply, OS_MSG_LOG_ENTRY, NULL)) != EXIT_OK) return rc;
    if (reply.u.log_entry.len != OS_LOG_ENTRY_BYTES || reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE] != OS_LOG_SETUP) {
        fprintf(stderr, "oncesign: the device's log entry 1 is not its SETUP entry; the master fingerprint is not"
                        " known\n");
        return EXIT_DEVICE;
    }
    uint8_t fp[4];
    memcpy(fp, reply.u.log_entry.entry + SETUP_FINGERPRINT_OFF, 4);
    uint32_t p[3];
    if (address_account_path(network, o.script_type, o.account, p) != OS_OK) return report_failure(c, OS_ERR_ARG, NULL);
    char desc[2][OS_DESCRIPTOR_MAX];
    for (unsigned chain = 0; chain < 2; chain++) {
        rc = os_descriptor_account(fp, p[0] & 0x7FFFFFFFu, p[1] & 0x7FFFFFFFu, p[2] & 0x7FFFFFFFu, o.script_type, xpub,
                                   chain, desc[chain], sizeof desc[chain]);
        if (rc != OS_OK) return report_failure(c, rc, NULL);
    }
    /* Watch-only, ranged over the first 1000 indexes of each chain; "now": no rescan of old blocks
     * (docs/MONACOIND.md "Import before use"). */
    char import[1024];
    snprintf(import, sizeof import,
             "[{\"desc\":\"%s\",\"range\":[0,999],\"timestamp\":\"now\",\"watchonly\":true,\"internal\":false},"
             "{\"desc\":\"%s\",\"range\":[0,999],\"timestamp\":\"now\",\"watchonly\":true,\"internal\":true}]",
             desc[0], desc[1]);
    if (c->json) {
        printf("{\"ok\":true,\"fingerprint\":\"%02x%02x%02x%02x\",\"receive\":\"%s\",\"change\":\"%s\","
               "\"importmulti\":%s}\n", fp[0], fp[1], fp[2], fp[3], desc[0], desc[1], import);
    } else {
        printf("receive  %s\nchange   %s\nimport into a watch-only wallet with:\n  monacoin-cli -rpcwallet=oncesign-watch"
               " importmulti '%s'\n", desc[0], desc[1], import);
    }
    return EXIT_OK;
}

static const char SHOW_PROMPT[] = "Compare the address on the device and approve it there";

/* `device address` through the oncesignd holding the signer: the daemon makes the same call
 * (os_device_address) between its signing sessions. */
static int address_via_daemon(cli *c, const path_opts *o, os_device_address_out *out) {
    char body[200];
    snprintf(body, sizeof body, "{%s%s%s\"account\":%u,\"change\":%s,\"index\":%u,\"show\":%s}",
             o->have_script_type ? "\"script_type\":\"" : "", o->have_script_type ? script_name(o->script_type) : "",
             o->have_script_type ? "\"," : "", o->account, o->change ? "true" : "false", o->index,
             o->show ? "true" : "false");
    if (o->show) fprintf(stderr, "%s\n", SHOW_PROMPT);
    json_t *answer = NULL;
    /* --show waits for the operator's button: unbounded, as on the signer itself */
    int rc = daemon_request(c, "POST", "/v1/device/address", body, o->show ? 0L : (long)c->timeout_ms + CLI_DAEMON_SLACK_MS, &answer);
    if (rc != EXIT_OK) return rc;
    rc = os_device_address_from_json(answer, out);
    json_decref(answer);
    return rc == OS_OK ? EXIT_OK : report_failure(c, rc, NULL);
}

static void print_prompt_once(void *ctx) {
    print_prompt(ctx);
}

static int cmd_address(cli *c, int argc, char **argv) {
    path_opts o;
    char path[80];
    int rc = parse_path_opts("address", argc, argv, &o, 1);
    if (rc != EXIT_OK) return rc;
    os_device_address_out out;
    if (c->via_daemon) {
        if ((rc = address_via_daemon(c, &o, &out)) != EXIT_OK) return rc;
    } else {
        if (c->client == NULL && (rc = open_device(c)) != EXIT_OK) return rc;
        os_device_address_req q = { o.have_script_type, o.script_type, o.change, o.show, o.account, o.index };
        os_device_failure why;
        g_waiting_client = c->client;
        rc = os_device_address(c->client, c->timeout_ms, &q, print_prompt_once, (void *)SHOW_PROMPT, &out, &why);
        g_waiting_client = NULL;
        if (rc != OS_OK) return report_device_failure(c, &why);
    }
    o.script_type = out.script_type;
    uint8_t network = out.network;
    const char *addr = out.address;
    path_text(path, sizeof path, network, &o, 1);
    if (c->json) {
        printf("{\"ok\":true,\"address\":");
        put_json_string(addr);
        printf(",\"network\":\"%s\",\"script_type\":\"%s\",\"path\":\"%s\",\"shown\":%s}\n", network_name(network),
               script_name(o.script_type), path, o.show ? "true" : "false");
    } else {
        printf("%s\n", addr);
    }
    return EXIT_OK;
}

static int cmd_wipe(cli *c, int argc, char **argv) {
    os_msg req, reply;
    if (argc > 0) return usage_error("device wipe: unexpected argument '%s'", argv[0]);
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_WIPE;
    int rc = exchange(c, &req, &reply, OS_MSG_SUCCESS,
                      "Confirm the wipe on the device (keys, nonce set and log are erased)");
    if (rc != EXIT_OK) return rc;
    if (c->json) puts("{\"ok\":true,\"wiped\":true}");
    else puts("Device wiped.");
    return EXIT_OK;
}

/* SET_ISSUERS (PROTOCOL.md 2.7): the keys go in increasing order, as the device requires. */
static int cmd_issuers(cli *c, int argc, char **argv) {
    os_msg req, reply;
    uint8_t keys[OS_MAX_ISSUERS][32];
    uint8_t n = 0, flags = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--required") == 0) {
            flags |= OS_VOUCHERS_REQUIRED;
        } else if (strcmp(argv[i], "--issuer") == 0 && i + 1 < argc) {
            if (n == OS_MAX_ISSUERS) return usage_error("device issuers: at most %d issuer keys", OS_MAX_ISSUERS);
            if (!cli_parse_hex32("--issuer", argv[++i], keys[n])) return EXIT_USAGE;
            n++;
        } else {
            return usage_error("device issuers: unexpected argument '%s'", argv[i]);
        }
    }
    if (flags && n == 0) return usage_error("device issuers: --required needs at least one --issuer");
    if (n == 2) {
        int order = memcmp(keys[0], keys[1], 32);
        if (order == 0) return usage_error("device issuers: the same key twice");
        if (order > 0) {
            uint8_t t[32];
            memcpy(t, keys[0], 32);
            memcpy(keys[0], keys[1], 32);
            memcpy(keys[1], t, 32);
        }
    }
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_SET_ISSUERS;
    req.u.set_issuers.flags = flags;
    req.u.set_issuers.n_issuers = n;
    req.u.set_issuers.keys = n > 0 ? &keys[0][0] : NULL;
    int rc = exchange(c, &req, &reply, OS_MSG_SUCCESS,
                      "Compare the issuer fingerprints on the device with `oncesign voucher keygen`'s, then approve");
    if (rc != EXIT_OK) return rc;
    if (c->json) printf("{\"ok\":true,\"vouchers_required\":%s,\"issuers\":%u}\n", flags ? "true" : "false", n);
    else printf("Issuers set: %u key(s), vouchers %s.\n", n, flags ? "required" : "not required");
    return EXIT_OK;
}

/* SET_OPERATORS (PROTOCOL.md 2.8): k of the keys above the threshold; no keys clears the quorum. */
static int cmd_operators(cli *c, int argc, char **argv) {
    os_msg req, reply;
    uint8_t keys[OS_MAX_OPERATORS][32];
    uint8_t n = 0;
    unsigned long long k = 0, threshold = 0;
    int have_k = 0, have_threshold = 0;
    for (int i = 0; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--operator") == 0 && i + 1 < argc) {
            if (n == OS_MAX_OPERATORS) return usage_error("device operators: at most %d operator keys", OS_MAX_OPERATORS);
            if (!cli_parse_hex32("--operator", argv[++i], keys[n])) return EXIT_USAGE;
            n++;
        } else if (strcmp(argv[i], "--k") == 0 && i + 1 < argc) {
            k = strtoull(argv[++i], &end, 10);
            if (end == NULL || *end != 0 || k > OS_MAX_OPERATORS) return usage_error("device operators: --k 1..%d", OS_MAX_OPERATORS);
            have_k = 1;
        } else if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc) {
            threshold = strtoull(argv[++i], &end, 10);
            if (end == NULL || *end != 0) return usage_error("device operators: --threshold SATOSHI");
            have_threshold = 1;
        } else {
            return usage_error("device operators: unexpected argument '%s'", argv[i]);
        }
    }
    if (n > 0 && (!have_k || !have_threshold || k < 1 || k > n))
        return usage_error("device operators: --k (1..the number of keys) and --threshold are required with keys");
    if (n == 0 && (have_k || have_threshold)) return usage_error("device operators: --k and --threshold need --operator keys");
    /* increasing order, as the device requires; the same key twice is a mistake */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            int order = memcmp(keys[i], keys[j], 32);
            if (order == 0) return usage_error("device operators: the same key twice");
            if (order > 0) {
                uint8_t t[32];
                memcpy(t, keys[i], 32);
                memcpy(keys[i], keys[j], 32);
                memcpy(keys[j], t, 32);
            }
        }
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_SET_OPERATORS;
    req.u.set_operators.k = (uint8_t)k;
    req.u.set_operators.n_operators = n;
    req.u.set_operators.threshold = threshold;
    req.u.set_operators.keys = n > 0 ? &keys[0][0] : NULL;
    int rc = exchange(c, &req, &reply, OS_MSG_SUCCESS,
                      "Compare k, the threshold and the operator fingerprints on the device with `oncesign voucher "
                      "keygen`'s, then approve");
    if (rc != EXIT_OK) return rc;
    if (c->json) printf("{\"ok\":true,\"k\":%llu,\"operators\":%u,\"threshold\":%llu}\n", k, n, threshold);
    else printf("Operators set: %llu of %u above %llu satoshi.\n", k, n, threshold);
    return EXIT_OK;
}

/* Needs no device open: it lists them (docs/USB.md). */
static int cmd_list(cli *c, int argc, char **argv) {
    os_hid_device devs[16];
    size_t n = 0;
    char err[256] = "";
    if (argc > 0) return usage_error("device list: unexpected argument '%s'", argv[0]);
    if (os_hid_list(devs, sizeof devs / sizeof devs[0], &n, err, sizeof err) != OS_OK) {
        if (c->json) {
            printf("{\"ok\":false,\"error\":{\"code\":%d,\"name\":", OS_ERR_IO);
            put_json_string(os_status_name(OS_ERR_IO));
            fputs(",\"refused\":false,\"message\":", stdout);
            put_json_string(err);
            puts("}}");
        }
        fprintf(stderr, "oncesign: %s\n", err);
        return EXIT_DEVICE;
    }
    size_t shown = n < sizeof devs / sizeof devs[0] ? n : sizeof devs / sizeof devs[0];
    if (c->json) {
        printf("{\"ok\":true,\"count\":%zu,\"devices\":[", n);
        for (size_t i = 0; i < shown; i++) {
            printf("%s{\"serial\":", i > 0 ? "," : "");
            put_json_string(devs[i].serial);
            fputs(",\"path\":", stdout);
            put_json_string(devs[i].path);
            fputs(",\"product\":", stdout);
            put_json_string(devs[i].product);
            printf(",\"vendor_id\":%u,\"product_id\":%u,\"device\":", devs[i].vendor_id, devs[i].product_id);
            char spec[80];
            snprintf(spec, sizeof spec, "hid:%s", devs[i].serial);
            put_json_string(devs[i].serial[0] != '\0' ? spec : "hid");
            putchar('}');
        }
        puts("]}");
        return EXIT_OK;
    }
    if (n == 0) {
        printf("no oncesign device attached (USB %04x:%04x)\n", OS_HID_VENDOR_ID, OS_HID_PRODUCT_ID);
        return EXIT_OK;
    }
    for (size_t i = 0; i < shown; i++) {
        printf("hid:%-24s %-16s %04x:%04x %s\n", devs[i].serial[0] != '\0' ? devs[i].serial : "(no serial)",
               devs[i].path, devs[i].vendor_id, devs[i].product_id, devs[i].product);
    }
    if (n > shown) printf("... and %zu more\n", n - shown);
    return EXIT_OK;
}

static int run_command(cli *c, int argc, char **argv) {
    int i = 0;
    if (argc == 0) return usage_error("no command given");
    if (argv[0][0] == '-') return usage_error("unknown option %s", argv[0]);
    if (strcmp(argv[i], "device") != 0) {
        cli_globals g = { c->device, c->json, c->timeout_ms, c->daemon_db };
        if (strcmp(argv[i], "sign") == 0) return cli_cmd_sign(&g, argc - 1, argv + 1);
        if (strcmp(argv[i], "psbt") == 0) return cli_cmd_psbt(&g, argc - 1, argv + 1);
        if (strcmp(argv[i], "log") == 0) return cli_cmd_log(&g, argc - 1, argv + 1);
        if (strcmp(argv[i], "voucher") == 0) return cli_cmd_voucher(&g, argc - 1, argv + 1);
        if (strcmp(argv[i], "approve") == 0) return cli_cmd_approve(&g, argc - 1, argv + 1);
        if (cli_is_ledger_group(argv[i])) return cli_cmd_ledger(&g, argc, argv);
        return usage_error("unknown command '%s'", argv[i]);
    }
    if (++i >= argc) return usage_error("device: which command? info, init, xpub, address, descriptors, wipe or list");
    const char *sub = argv[i++];
    int (*run)(cli *, int, char **) = NULL;
    if (strcmp(sub, "info") == 0) run = cmd_info;
    else if (strcmp(sub, "init") == 0) run = cmd_init;
    else if (strcmp(sub, "xpub") == 0) run = cmd_xpub;
    else if (strcmp(sub, "address") == 0) run = cmd_address;
    else if (strcmp(sub, "descriptors") == 0) run = cmd_descriptors;
    else if (strcmp(sub, "wipe") == 0) run = cmd_wipe;
    else if (strcmp(sub, "list") == 0) run = cmd_list;
    else if (strcmp(sub, "issuers") == 0) run = cmd_issuers;
    else if (strcmp(sub, "operators") == 0) run = cmd_operators;
    else return usage_error("device: unknown command '%s' (info, init, xpub, address, descriptors, wipe, list)", sub);

    /* A running oncesignd holds the signer: info and address go through it; the rest would have to
     * interleave with its signing sessions, or change what it signs against, and are refused. */
    if (run != cmd_list) {
        cli_globals g = { c->device, c->json, c->timeout_ms, c->daemon_db };
        if (cli_daemon_find(&g, c->daemon_db, &c->daemon)) {
            if (run != cmd_info && run != cmd_address) {
                char why[200];
                snprintf(why, sizeof why, "`device %s` does not run beside it; stop it (systemctl stop oncesignd),"
                                          " run the command, start it again", sub);
                return cli_daemon_busy(&g, &c->daemon, why);
            }
            c->via_daemon = 1;
        }
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return run(c, argc - i, argv + i);
}

/* Options of the device commands that take a value (so that value is never read as an option). */
static int command_option_takes_value(const char *a) {
    static const char *const with_value[] = { "--network", "--script-type", "--words", "--restore",
        "--per-payout-cap", "--velocity-cap", "--velocity-window", "--fee-cap", "--fee-rate-cap", "--fee-budget",
        "--account", "--index", "--pubkey", "--head" };
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) {
        if (strcmp(a, with_value[k]) == 0) return 1;
    }
    return cli_option_takes_value(a);
}

int main(int argc, char **argv) {
    static cli c;
    c.device = getenv("ONCESIGN_DEVICE");
    c.timeout_ms = DEFAULT_TIMEOUT_MS;
    c.daemon_db = getenv("ONCESIGN_DB") != NULL && getenv("ONCESIGN_DB")[0] != '\0' ? getenv("ONCESIGN_DB") : "oncesign.db";
    /* Global options may stand anywhere (`oncesign device info --json` works too); the rest of
     * the arguments keep their order in args. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (args == NULL) return EXIT_DEVICE;
    int n_args = 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        uint64_t v;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(USAGE, stdout);
            free(args);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("oncesign %s\n", ONCESIGN_VERSION);
            free(args);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            c.json = 1;
        } else if (strcmp(a, "--device") == 0) {
            if (k + 1 >= argc) { free(args); return usage_error("--device needs a value"); }
            c.device = argv[++k];
        } else if (strcmp(a, "--timeout") == 0) {
            if (!parse_u64(a, k + 1 < argc ? argv[k + 1] : NULL, 3600000, &v)) { free(args); return EXIT_USAGE; }
            if (v == 0) { free(args); return usage_error("--timeout must be at least 1 ms"); }
            c.timeout_ms = (int)v;
            k++;
        } else if (strcmp(a, "--db") == 0 && n_args > 0 && strcmp(args[0], "device") == 0) {
            /* the device commands keep no ledger: --db only says whose oncesignd may hold the signer */
            if (k + 1 >= argc) { free(args); return usage_error("--db needs a value"); }
            c.daemon_db = argv[++k];
        } else {
            if (strcmp(a, "--db") == 0 && k + 1 < argc) c.daemon_db = argv[k + 1];
            args[n_args++] = argv[k];
            if (command_option_takes_value(a) && k + 1 < argc) args[n_args++] = argv[++k];
        }
    }
    int rc = run_command(&c, n_args, args);
    free(args);
    os_client_close(c.client);
    fflush(stdout);
    return rc;
}
