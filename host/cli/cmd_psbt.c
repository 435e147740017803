/* oncesign CLI — PSBT commands: `sign FILE.psbt`, `psbt create`, `psbt inspect`, `psbt bind` (a nonce, or
 * an issuer's voucher), `psbt add-approval` (an operator's) (docs/PSBT.md, docs/OPERATING.md "PSBT commands"). Signing goes through the engine
 * (os_engine_sign_external), so the ledger's nonce tree stays the signer's. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "bip32.h"
#include "cli_cmds.h"
#include "client.h"
#include "engine.h"
#include "file_replace.h"
#include "issuer.h"
#include "nonce_set.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "policy.h"
#include "psbt.h"
#include "rpc.h"
#include "signing.h"
#include "voucher.h"

#define DEFAULT_FEE_RATE 2000u      /* sat per 1000 vbytes; Monacoin's relay minimum is 1000 */
#define DEFAULT_SCAN 200u           /* addresses per chain searched for an input's key */
#define DUST_LIMIT 546u

/* ---------------------------------------------------------------- files */

static int read_file(const char *path, uint8_t **out, size_t *len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL) return 0;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= PSBT_MAX_BYTES * 2u) { free(buf); buf = NULL; break; }
        uint8_t *nb = realloc(buf, cap * 2);
        if (nb == NULL) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    int err = f != stdin ? fclose(f) : 0;
    if (buf == NULL || err != 0) { free(buf); return 0; }
    *out = buf;
    *len = n;
    return 1;
}

/* Writes text and a newline to path (or stdout when path is NULL). */
static int write_text(const char *path, const char *text) {
    if (path == NULL) {
        puts(text);
        return 1;
    }
    /* whole or not at all, and never over a device, FIFO or symlink */
    os_file_replace r;
    char err[256];
    if (os_file_replace_open(&r, path, 0644, err, sizeof err) != OS_OK) {
        fprintf(stderr, "oncesign: %s\n", err);
        return 0;
    }
    if (fputs(text, r.f) < 0 || fputc('\n', r.f) == EOF) {
        os_file_replace_abort(&r);
        return 0;
    }
    if (os_file_replace_commit(&r, err, sizeof err) != OS_OK) {
        fprintf(stderr, "oncesign: %s\n", err);
        return 0;
    }
    return 1;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out) {
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

static int parse_nonce(const char *s, uint8_t nonce[32]) {
    size_t len = 0;
    if (s == NULL || strlen(s) != 64 || os_hex_decode(s, nonce, 32, &len) != OS_OK || len != 32) {
        return cli_usage("--nonce: '%s' is not 64 hex digits", s ? s : "") == 0;
    }
    return 1;
}

/* TXID:VOUT, txid in display order (as block explorers and RPC show it). */
static int parse_outpoint(const char *opt, const char *s, os_outpoint *o) {
    char txid[65];
    const char *colon = s != NULL ? strchr(s, ':') : NULL;
    uint64_t v;
    if (colon == NULL || colon - s != 64) return cli_usage("%s: '%s' is not TXID:VOUT", opt, s ? s : "") == 0;
    memcpy(txid, s, 64);
    txid[64] = '\0';
    if (os_txid_from_hex(txid, o->txid) != OS_OK) return cli_usage("%s: bad txid in '%s'", opt, s) == 0;
    if (!parse_u64(opt, colon + 1, UINT32_MAX, &v)) return 0;
    o->vout = (uint32_t)v;
    return 1;
}

static int parse_network(const char *s, uint8_t *n) {
    if (strcmp(s, "main") == 0) *n = OS_NET_MAIN;
    else if (strcmp(s, "test") == 0) *n = OS_NET_TEST;
    else if (strcmp(s, "regtest") == 0) *n = OS_NET_REGTEST;
    else return 0;
    return 1;
}

/* ---------------------------------------------------------------- the signer and the node */

typedef struct {
    const cli_globals *g;
    os_client *client;
    os_msg_info info;
    os_rpc *rpc;
    char rpc_err[640];
} session;

static void session_close(session *s) {
    os_client_close(s->client);
    os_rpc_close(s->rpc);
    s->client = NULL;
    s->rpc = NULL;
}

static int session_open_device(session *s) {
    char err[256] = "";
    const cli_globals *g = s->g;
    if (g->device == NULL || g->device[0] == '\0') {
        return cli_usage("this command needs the signer: give --device SPEC or set ONCESIGN_DEVICE");
    }
    int rc = os_client_open(g->device, &s->client, err, sizeof err);
    if (rc == OS_ERR_ARG) return cli_usage("%s", err);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "cannot open %s: %s", g->device, err);
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    rc = os_client_call(s->client, &req, &reply, buf, g->timeout_ms);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "%s: %s", g->device, os_client_last_error(s->client));
    if (reply.type == OS_MSG_ERROR) return cli_fail(g, CLI_EXIT_REFUSED, reply.u.error.code, "GET_INFO refused");
    if (reply.type != OS_MSG_INFO) return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_MSG_UNEXPECTED, "unexpected reply");
    s->info = reply.u.info;
    if (!s->info.initialized) return cli_fail(g, CLI_EXIT_REFUSED, OS_ERR_NOT_INITIALIZED, "the signer is not initialised");
    return CLI_EXIT_OK;
}

static int session_open_rpc(session *s, const cli_backend *b) {
    if (b->rpc_url == NULL) return CLI_EXIT_OK;
    os_engine_config cfg;
    cli_engine_config(b, &cfg);
    os_rpc_config rc_cfg = { cfg.rpc_url, cfg.rpc_user, cfg.rpc_password, cfg.rpc_cookie_file, 10000 };
    char err[256] = "";
    int rc = os_rpc_open(&rc_cfg, &s->rpc, err, sizeof err);
    if (rc == OS_ERR_ARG) return cli_usage("--rpc-url: %s", err);
    if (rc != OS_OK) return cli_fail(s->g, CLI_EXIT_ERROR, rc, "monacoind: %s", err);
    return CLI_EXIT_OK;
}

/* psbt_signer callbacks. */
static int device_account_xpub(void *ctx, uint8_t script_type, uint32_t account, bip32_node *out) {
    session *s = ctx;
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_XPUB;
    req.u.get_xpub.script_type = script_type;
    req.u.get_xpub.account = account;
    int rc = os_client_call(s->client, &req, &reply, buf, s->g->timeout_ms);
    if (rc != OS_OK) return rc;
    if (reply.type == OS_MSG_ERROR) return reply.u.error.code;
    if (reply.type != OS_MSG_XPUB) return OS_ERR_MSG_UNEXPECTED;
    uint32_t version;
    return bip32_parse(reply.u.xpub.data, &version, out);
}

static int rpc_prev_tx(void *ctx, const uint8_t txid[32], uint8_t **raw, size_t *len) {
    session *s = ctx;
    os_rpc_txstatus st;
    os_rpc_error e;
    memset(&e, 0, sizeof e);
    int rc = os_rpc_get_transaction(s->rpc, txid, &st, raw, len, &e);
    if (rc != OS_OK) {
        snprintf(s->rpc_err, sizeof s->rpc_err, "getrawtransaction: %s", e.message);
        return rc;
    }
    if (!st.found || *raw == NULL) {
        free(*raw);
        *raw = NULL;
        snprintf(s->rpc_err, sizeof s->rpc_err, "getrawtransaction: the node does not know the transaction");
        return OS_ERR_NOT_FOUND;
    }
    return OS_OK;
}

static int exit_for_psbt(int status) {
    if (status == OS_ERR_PSBT) return CLI_EXIT_USAGE;
    if (status == OS_ERR_PSBT_UNSIGNABLE || status == OS_ERR_NONCE_ORDER || status == OS_ERR_TX_LIMITS) {
        return CLI_EXIT_REFUSED;
    }
    return cli_exit_for(status);
}

static int load_psbt(const cli_globals *g, const char *path, psbt **p) {
    uint8_t *data;
    size_t len;
    char err[512] = "";
    if (!read_file(path, &data, &len)) return cli_fail(g, CLI_EXIT_USAGE, OS_ERR_IO, "cannot read %s", path);
    int rc = psbt_decode(data, len, p, err, sizeof err);
    free(data);
    if (rc != OS_OK) return cli_fail(g, exit_for_psbt(rc), rc, "%s: %s", path, err[0] ? err : os_status_message(rc));
    return CLI_EXIT_OK;
}

/* Writes the PSBT (Base64) to out or stdout; with --json wraps it. */
static int emit_psbt(const cli_globals *g, const psbt *p, const char *out, const char *extra_json) {
    char *text = NULL;
    int rc = psbt_to_base64(p, &text);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "serializing the PSBT failed");
    if (out != NULL && !write_text(out, text)) {
        free(text);
        return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "cannot write %s", out);
    }
    if (g->json) {
        fputs("{\"ok\":true", stdout);
        if (extra_json != NULL) fputs(extra_json, stdout);
        if (out != NULL) {
            fputs(",\"out\":", stdout);
            cli_json_string(out);
        } else {
            fputs(",\"psbt\":", stdout);
            cli_json_string(text);
        }
        puts("}");
    } else if (out == NULL) {
        puts(text);
    }
    free(text);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- sign */

int cli_cmd_sign(const cli_globals *g, int argc, char **argv) {
    cli_backend b;
    const char *file = NULL, *out = NULL;
    int finalize = 0;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < argc; i++) {
        int r = cli_backend_option(&b, argc, argv, &i);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
        else if (strcmp(argv[i], "--finalize") == 0) finalize = 1;
        else if (argv[i][0] != '-' && file == NULL) file = argv[i];
        else return cli_usage("sign: unknown option, missing value or extra argument: %s", argv[i]);
    }
    if (file == NULL) return cli_usage("sign needs the PSBT file (Base64 or binary; - for stdin)");
    psbt *p = NULL;
    int rc = load_psbt(g, file, &p);
    if (rc != CLI_EXIT_OK) return rc;
    session s;
    memset(&s, 0, sizeof s);
    s.g = g;
    psbt_sign_request req;
    memset(&req, 0, sizeof req);
    os_engine *e = NULL;
    os_input_sig *sigs = NULL;
    char err[768] = "";
    if ((rc = session_open_device(&s)) != CLI_EXIT_OK) goto done;
    if ((rc = session_open_rpc(&s, &b)) != CLI_EXIT_OK) goto done;
    psbt_signer signer = { s.info.network, device_account_xpub, s.rpc != NULL ? rpc_prev_tx : NULL, &s };
    int st = psbt_to_sign_request(p, &signer, &req, err, sizeof err);
    if (st != OS_OK) {
        rc = cli_fail(g, exit_for_psbt(st), st, "cannot sign %s: %s%s%s", file, err, s.rpc_err[0] ? ": " : "", s.rpc_err);
        goto done;
    }
    os_engine_config cfg;
    cli_engine_config(&b, &cfg);
    cfg.rpc_url = NULL;         /* signing needs no node; fetching was done above */
    cfg.network = s.info.network;
    st = os_engine_open_client(&cfg, s.client, &e, err, sizeof err);
    if (st != OS_OK) {
        rc = cli_fail(g, st == OS_ERR_SIGNER_MISMATCH ? CLI_EXIT_REFUSED : cli_exit_for(st), st,
                      "the engine will not sign: %s", err[0] ? err : os_status_message(st));
        goto done;
    }
    sigs = calloc(req.tx.n_inputs, sizeof *sigs);
    if (sigs == NULL) { rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "out of memory"); goto done; }
    os_sign_outcome outcome;
    memset(&outcome, 0, sizeof outcome);
    fprintf(stderr, "oncesign: signing %zu inputs, %zu payouts, %zu change outputs (fee %llu sat); "
                    "confirm on the device if it asks\n", req.tx.n_inputs, req.n_payouts, req.n_change,
            (unsigned long long)(req.input_total - req.output_total));
    st = os_engine_sign_external(e, &req.tx, sigs, &outcome);
    if (st != OS_OK) {
        /* Who refused: the device's own ERROR reply, or the host's checks before asking it (its
         * ledger's tree already holds a "new" nonce, ...). */
        int device_refusal = outcome.device_refused;
        int host_refusal = !device_refusal && (st & 0xff00) >= 0x0200 && (st & 0xff00) <= 0x0600;
        char where[48] = "";
        if (outcome.index != 0xFFFF && (device_refusal || host_refusal))
            snprintf(where, sizeof where, " (output %u)", outcome.index);
        if (st == OS_ERR_NONCE_COMMITTED && outcome.detail_len >= 68) {
            /* detail: nonce(32) anchor txid(32) anchor vout(4 LE): tell how a replacement is made. */
            char anchor[65];
            os_txid_to_hex(outcome.detail + 32, anchor);
            uint32_t vout = (uint32_t)outcome.detail[64] | (uint32_t)outcome.detail[65] << 8 |
                            (uint32_t)outcome.detail[66] << 16 | (uint32_t)outcome.detail[67] << 24;
            fprintf(stderr, "oncesign: that nonce is committed to anchor %s:%u; a replacement must spend it and carry it "
                            "(`oncesign psbt bind FILE --output N --nonce HEX --anchor %s:%u`)\n", anchor, vout, anchor, vout);
        }
        rc = cli_fail(g, device_refusal || host_refusal || st == OS_ERR_SIGNER_MISMATCH ? CLI_EXIT_REFUSED : cli_exit_for(st),
                      st, "%s: %s [%s]%s",
                      device_refusal ? "refused by the device"
                      : host_refusal ? "refused by the host (its ledger, before asking the device)"
                                     : "signing failed",
                      os_status_message(st), os_status_name(st), where);
        goto done;
    }
    size_t bad = 0;
    st = os_sign_verify(&req.tx, sigs, &bad);
    if (st != OS_OK) {
        rc = cli_fail(g, CLI_EXIT_ERROR, st, "signature of input %zu does not verify (nothing written)", bad);
        goto done;
    }
    char extra[128];
    snprintf(extra, sizeof extra, ",\"log_seq\":%llu,\"fee\":%llu", (unsigned long long)outcome.log_seq,
             (unsigned long long)(req.input_total - req.output_total));
    if (finalize) {
        size_t cap = 64 + req.tx.n_inputs * 300 + req.tx.n_outputs * 60, raw_len = 0;
        uint8_t *raw = malloc(cap), txid[32];
        char *hex = raw != NULL ? malloc(2 * cap + 1) : NULL;
        if (hex == NULL || os_sign_serialize(&req.tx, sigs, raw, cap, &raw_len, txid) != OS_OK) {
            free(raw);
            free(hex);
            rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_BUFFER, "serializing the signed transaction failed");
            goto done;
        }
        os_hex_encode(raw, raw_len, hex);
        char txid_hex[65];
        os_txid_to_hex(txid, txid_hex);
        if (out != NULL && !write_text(out, hex)) {
            rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "cannot write %s", out);
        } else if (g->json) {
            printf("{\"ok\":true%s,\"txid\":\"%s\"", extra, txid_hex);
            if (out != NULL) { fputs(",\"out\":", stdout); cli_json_string(out); }
            else printf(",\"hex\":\"%s\"", hex);
            puts("}");
            rc = CLI_EXIT_OK;
        } else {
            if (out == NULL) puts(hex);
            fprintf(stderr, "oncesign: signed and finalized, txid %s\n", txid_hex);
            rc = CLI_EXIT_OK;
        }
        free(raw);
        free(hex);
        goto done;
    }
    st = psbt_add_partial_sigs(p, &req, sigs);
    if (st != OS_OK) { rc = cli_fail(g, CLI_EXIT_ERROR, st, "adding the signatures failed"); goto done; }
    rc = emit_psbt(g, p, out, extra);
    if (rc == CLI_EXIT_OK && !g->json) fprintf(stderr, "oncesign: signed (signer log entry %llu)\n", (unsigned long long)outcome.log_seq);
done:
    free(sigs);
    os_engine_close(e);     /* the client is lent: closed by session_close */
    psbt_sign_request_free(&req);
    session_close(&s);
    psbt_free(p);
    return rc;
}

/* ---------------------------------------------------------------- psbt create */

typedef struct {
    const char *address;
    uint64_t amount;
    int have_amount, have_nonce;
    uint8_t nonce[32];
    uint8_t script[OS_MAX_PAYOUT_SCRIPT];
    size_t script_len;
} payout_arg;

typedef struct {
    os_outpoint prevout;
    uint8_t *prev_tx;
    size_t prev_len;
    uint64_t amount;
    uint32_t change, index;
    uint8_t pubkey[33];
} input_arg;

static size_t input_vbytes(uint8_t script_type) {
    return script_type == OS_SCRIPT_P2PKH ? 148 : script_type == OS_SCRIPT_P2SH_P2WPKH ? 91 : 68;
}

static void add_derivation(psbt_map *m, uint8_t key_type, const uint8_t pub[33], const uint32_t path[5]) {
    uint8_t key[34], value[24];
    key[0] = key_type;
    memcpy(key + 1, pub, 33);
    memset(value, 0, 4);    /* master fingerprint: unknown to the host (docs/PSBT.md) */
    for (int k = 0; k < 5; k++) {
        for (int j = 0; j < 4; j++) value[4 + 4 * k + j] = (uint8_t)(path[k] >> (8 * j));
    }
    (void)psbt_map_set(m, key, sizeof key, value, sizeof value);
}

static int cmd_create(const cli_globals *g, int argc, char **argv) {
    cli_backend b;
    memset(&b, 0, sizeof b);
    payout_arg pays[OS_MAX_OUTPUTS];
    input_arg ins[OS_MAX_INPUTS];
    const char *prev_files[OS_MAX_INPUTS];
    size_t n_pay = 0, n_in = 0, n_prev = 0;
    uint64_t change_index = 0, fee = 0, fee_rate = DEFAULT_FEE_RATE, account = 0, scan = DEFAULT_SCAN, v;
    int have_change = 0, have_fee = 0;
    const char *out = NULL;
    memset(pays, 0, sizeof pays);
    memset(ins, 0, sizeof ins);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int r = cli_backend_option(&b, argc, argv, &i);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(a, "--to") == 0 && val != NULL) {
            if (n_pay == OS_MAX_OUTPUTS - 1) return cli_usage("too many payouts");
            pays[n_pay++].address = val;
        } else if (strcmp(a, "--amount") == 0) {
            if (n_pay == 0) return cli_usage("--amount belongs to a --to ADDRESS given before it");
            if (!parse_u64(a, val, OS_MAX_MONEY, &v)) return CLI_EXIT_USAGE;
            pays[n_pay - 1].amount = v;
            pays[n_pay - 1].have_amount = 1;
        } else if (strcmp(a, "--nonce") == 0) {
            if (n_pay == 0) return cli_usage("--nonce belongs to a --to ADDRESS given before it");
            if (!parse_nonce(val, pays[n_pay - 1].nonce)) return CLI_EXIT_USAGE;
            pays[n_pay - 1].have_nonce = 1;
        } else if (strcmp(a, "--input") == 0) {
            if (n_in == OS_MAX_INPUTS) return cli_usage("more than %d inputs", OS_MAX_INPUTS);
            if (!parse_outpoint(a, val, &ins[n_in++].prevout)) return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--prev-tx") == 0 && val != NULL) {
            if (n_prev == OS_MAX_INPUTS) return cli_usage("more than %d --prev-tx files", OS_MAX_INPUTS);
            prev_files[n_prev++] = val;
        } else if (strcmp(a, "--change-index") == 0) {
            if (!parse_u64(a, val, 0x7FFFFFFF, &change_index)) return CLI_EXIT_USAGE;
            have_change = 1;
        } else if (strcmp(a, "--fee") == 0) {
            if (!parse_u64(a, val, OS_MAX_MONEY, &fee)) return CLI_EXIT_USAGE;
            have_fee = 1;
        } else if (strcmp(a, "--fee-rate") == 0) {
            if (!parse_u64(a, val, 100000000, &fee_rate)) return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--account") == 0) {
            if (!parse_u64(a, val, 0x7FFFFFFF, &account)) return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--scan") == 0) {
            if (!parse_u64(a, val, 100000, &scan)) return CLI_EXIT_USAGE;
        } else if (strcmp(a, "--out") == 0 && val != NULL) {
            out = val;
        } else {
            return cli_usage("psbt create: unknown option or missing value: %s", a);
        }
        if (strcmp(a, "--to") == 0 || cli_option_takes_value(a)) i++;
    }
    if (n_pay == 0) return cli_usage("psbt create needs at least one --to ADDRESS --amount SAT --nonce HEX");
    for (size_t k = 0; k < n_pay; k++) {
        if (!pays[k].have_amount || pays[k].amount == 0 || !pays[k].have_nonce) {
            return cli_usage("payout to %s needs --amount SAT (> 0) and --nonce HEX", pays[k].address);
        }
    }
    if (n_in == 0) return cli_usage("psbt create needs at least one --input TXID:VOUT");
    if (!have_change) return cli_usage("psbt create needs --change-index N (the signer's change address index)");

    session s;
    memset(&s, 0, sizeof s);
    s.g = g;
    psbt *p = NULL;
    bip32_node acct;
    memset(&acct, 0, sizeof acct);
    int rc;
    if ((rc = session_open_device(&s)) != CLI_EXIT_OK) goto done;
    if ((rc = session_open_rpc(&s, &b)) != CLI_EXIT_OK) goto done;
    uint8_t net = s.info.network, type = s.info.script_type;
    for (size_t k = 0; k < n_pay; k++) {
        int st = address_to_script(net, pays[k].address, pays[k].script, sizeof pays[k].script, &pays[k].script_len);
        if (st != OS_OK) { rc = cli_usage("--to: '%s' is not a valid address of this signer's network", pays[k].address); goto done; }
    }
    int st = psbt_crypto_ready();
    if (st == OS_OK) st = device_account_xpub(&s, type, (uint32_t)account, &acct);
    if (st != OS_OK) { rc = cli_fail(g, CLI_EXIT_ERROR, st, "reading the account key from the signer failed: %s", os_status_message(st)); goto done; }
    uint32_t acct_path[3];
    (void)address_account_path(net, type, (uint32_t)account, acct_path);

    /* Previous transactions: the files first, then the node. */
    uint8_t *files[OS_MAX_INPUTS];
    size_t file_lens[OS_MAX_INPUTS];
    memset(files, 0, sizeof files);
    for (size_t f = 0; f < n_prev; f++) {
        uint8_t *text;
        size_t tl;
        if (!read_file(prev_files[f], &text, &tl)) { rc = cli_usage("cannot read --prev-tx %s", prev_files[f]); goto files_done; }
        char *hex = malloc(tl + 1);
        size_t hl = 0;
        for (size_t c = 0; c < tl; c++) if (!isspace(text[c])) hex[hl++] = (char)text[c];
        hex[hl] = '\0';
        free(text);
        files[f] = malloc(hl / 2 + 1);
        if (os_hex_decode(hex, files[f], hl / 2 + 1, &file_lens[f]) != OS_OK) {
            free(hex);
            rc = cli_usage("--prev-tx %s: not a hex transaction", prev_files[f]);
            goto files_done;
        }
        free(hex);
    }
    uint64_t in_total = 0, pay_total = 0;
    for (size_t k = 0; k < n_in; k++) {
        input_arg *in = &ins[k];
        const uint8_t *script = NULL;
        size_t script_len = 0;
        uint8_t txid[32];
        for (size_t f = 0; f < n_prev && in->prev_tx == NULL; f++) {
            if (psbt_tx_output(files[f], file_lens[f], in->prevout.vout, txid, &in->amount, &script, &script_len) == OS_OK &&
                memcmp(txid, in->prevout.txid, 32) == 0) {
                in->prev_tx = malloc(file_lens[f]);
                memcpy(in->prev_tx, files[f], file_lens[f]);
                in->prev_len = file_lens[f];
            }
        }
        if (in->prev_tx == NULL && s.rpc != NULL) {
            if (rpc_prev_tx(&s, in->prevout.txid, &in->prev_tx, &in->prev_len) != OS_OK) {
                rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_RPC, "input %zu: %s", k, s.rpc_err);
                goto files_done;
            }
        }
        if (in->prev_tx == NULL) {
            rc = cli_usage("input %zu: no previous transaction (give --prev-tx HEXFILE or --rpc-url)", k);
            goto files_done;
        }
        if (psbt_tx_output(in->prev_tx, in->prev_len, in->prevout.vout, txid, &in->amount, &script, &script_len) != OS_OK ||
            memcmp(txid, in->prevout.txid, 32) != 0) {
            rc = cli_fail(g, CLI_EXIT_REFUSED, OS_ERR_TX_PREV_TXID, "input %zu: the previous transaction is not the one named", k);
            goto files_done;
        }
        /* Which of the signer's keys does this coin pay? Search both chains of the account. */
        int found = 0;
        for (uint32_t chain = 0; chain < 2 && !found; chain++) {
            for (uint32_t idx = 0; idx < scan && !found; idx++) {
                bip32_node leaf;
                uint32_t rest[2] = { chain, idx };
                uint8_t s2[34];
                size_t l2;
                if (bip32_derive_path(&acct, rest, 2, &leaf) != OS_OK) continue;
                if (script_for_pubkey(type, leaf.public_key, s2, sizeof s2, &l2) == OS_OK && l2 == script_len &&
                    memcmp(s2, script, l2) == 0) {
                    found = 1;
                    in->change = chain;
                    in->index = idx;
                    memcpy(in->pubkey, leaf.public_key, 33);
                }
                bip32_wipe(&leaf);
            }
        }
        if (!found) {
            rc = cli_fail(g, CLI_EXIT_REFUSED, OS_ERR_TX_NOT_OURS,
                          "input %zu does not pay any of the signer's first %llu %s addresses of account %llu "
                          "(raise --scan)", k, (unsigned long long)scan,
                          type == OS_SCRIPT_P2PKH ? "P2PKH" : type == OS_SCRIPT_P2WPKH ? "P2WPKH" : "P2SH-P2WPKH",
                          (unsigned long long)account);
            goto files_done;
        }
        in_total += in->amount;
    }
    for (size_t k = 0; k < n_pay; k++) pay_total += pays[k].amount;
    /* Change: the signer's change chain at --change-index. */
    bip32_node change_leaf;
    uint32_t change_rest[2] = { 1, (uint32_t)change_index };
    uint8_t change_script[34];
    size_t change_script_len = 0;
    if (bip32_derive_path(&acct, change_rest, 2, &change_leaf) != OS_OK ||
        script_for_pubkey(type, change_leaf.public_key, change_script, sizeof change_script, &change_script_len) != OS_OK) {
        rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_CRYPTO, "deriving the change address failed");
        goto files_done;
    }
    if (!have_fee) {
        size_t vbytes = 11 + n_in * input_vbytes(type) + (9 + change_script_len);
        for (size_t k = 0; k < n_pay; k++) vbytes += 9 + pays[k].script_len;
        fee = (vbytes * fee_rate + 999) / 1000;
    }
    if (in_total < pay_total + fee) {
        rc = cli_fail(g, CLI_EXIT_REFUSED, OS_ERR_FUNDS, "inputs (%llu sat) do not cover the payouts (%llu) and fee (%llu)",
                      (unsigned long long)in_total, (unsigned long long)pay_total, (unsigned long long)fee);
        goto files_done;
    }
    uint64_t change = in_total - pay_total - fee;
    int with_change = change >= DUST_LIMIT;
    /* Payouts in nonce-key order (the signer's rule), change last. */
    os_sign_output order[OS_MAX_OUTPUTS];
    memset(order, 0, sizeof order);
    for (size_t k = 0; k < n_pay; k++) {
        order[k].kind = OS_OUTPUT_PAYOUT;
        memcpy(order[k].nonce, pays[k].nonce, 32);
        order[k].amount = k;   /* carries the payout's position through the sort */
    }
    if ((st = os_sign_sort_payouts(order, n_pay)) != OS_OK) {
        rc = cli_fail(g, st == OS_ERR_NONCE_ORDER ? CLI_EXIT_USAGE : CLI_EXIT_ERROR, st, "two payouts carry the same nonce");
        goto files_done;
    }
    psbt_txin tin[OS_MAX_INPUTS];
    psbt_txout tout[OS_MAX_OUTPUTS];
    for (size_t k = 0; k < n_in; k++) tin[k] = (psbt_txin){ ins[k].prevout, 0xfffffffdu };
    for (size_t k = 0; k < n_pay; k++) {
        const payout_arg *pa = &pays[order[k].amount];
        tout[k] = (psbt_txout){ pa->amount, pa->script, pa->script_len };
    }
    if (with_change) tout[n_pay] = (psbt_txout){ change, change_script, change_script_len };
    st = psbt_create(2, 0, tin, n_in, tout, n_pay + (with_change ? 1 : 0), &p);
    if (st != OS_OK) { rc = cli_fail(g, CLI_EXIT_ERROR, st, "building the PSBT failed"); goto files_done; }
    for (size_t k = 0; k < n_in; k++) {
        uint8_t t = PSBT_IN_NON_WITNESS_UTXO;
        uint32_t path[5] = { acct_path[0], acct_path[1], acct_path[2], ins[k].change, ins[k].index };
        psbt_map_set(&p->inputs[k], &t, 1, ins[k].prev_tx, ins[k].prev_len);
        if (type != OS_SCRIPT_P2PKH) {
            uint8_t wu[8 + 1 + 34], sc[34];
            size_t sl;
            script_for_pubkey(type, ins[k].pubkey, sc, sizeof sc, &sl);
            for (int j = 0; j < 8; j++) wu[j] = (uint8_t)(ins[k].amount >> (8 * j));
            wu[8] = (uint8_t)sl;
            memcpy(wu + 9, sc, sl);
            t = PSBT_IN_WITNESS_UTXO;
            psbt_map_set(&p->inputs[k], &t, 1, wu, 9 + sl);
        }
        add_derivation(&p->inputs[k], PSBT_IN_BIP32_DERIVATION, ins[k].pubkey, path);
    }
    for (size_t k = 0; k < n_pay; k++) psbt_output_bind(p, k, pays[order[k].amount].nonce, NULL);
    if (with_change) {
        uint32_t path[5] = { acct_path[0], acct_path[1], acct_path[2], 1, (uint32_t)change_index };
        add_derivation(&p->outputs[n_pay], PSBT_OUT_BIP32_DERIVATION, change_leaf.public_key, path);
    }
    bip32_wipe(&change_leaf);
    char extra[96];
    snprintf(extra, sizeof extra, ",\"fee\":%llu,\"change\":%llu", (unsigned long long)fee,
             (unsigned long long)(with_change ? change : 0));
    rc = emit_psbt(g, p, out, extra);
files_done:
    for (size_t f = 0; f < n_prev; f++) free(files[f]);
    for (size_t k = 0; k < n_in; k++) free(ins[k].prev_tx);
done:
    bip32_wipe(&acct);
    psbt_free(p);
    session_close(&s);
    return rc;
}

/* ---------------------------------------------------------------- psbt inspect */

static void path_text(const psbt_bip32 *d, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "m");
    for (size_t k = 0; k < d->depth && n < cap; k++) {
        n += (size_t)snprintf(out + n, cap - n, "/%u%s", d->path[k] & 0x7FFFFFFFu, (d->path[k] & BIP32_HARDENED) ? "'" : "");
    }
}

/* The first decodable derivation of a map with this key type. */
static int first_derivation(const psbt_map *m, uint8_t type, psbt_bip32 *d) {
    for (size_t k = 0; k < m->n; k++) {
        if (m->pairs[k].key[0] == type && psbt_bip32_decode(&m->pairs[k], d) == OS_OK) return 1;
    }
    return 0;
}

static int count_type(const psbt_map *m, uint8_t type) {
    int n = 0;
    for (size_t k = 0; k < m->n; k++) n += m->pairs[k].key[0] == type;
    return n;
}

/* The SLIP-44 coin type of the PSBT's first BIP32 derivation (inputs, then outputs): 22 (Monacoin
 * mainnet), 1 (testnet and regtest alike), or -1 when it has none. */
static long psbt_coin_type(const psbt *p) {
    psbt_bip32 d;
    for (size_t i = 0; i < p->tx.n_inputs; i++) {
        if (first_derivation(&p->inputs[i], PSBT_IN_BIP32_DERIVATION, &d) && d.depth >= 2) {
            return (long)(d.path[1] & 0x7FFFFFFFu);
        }
    }
    for (size_t i = 0; i < p->tx.n_outputs; i++) {
        if (first_derivation(&p->outputs[i], PSBT_OUT_BIP32_DERIVATION, &d) && d.depth >= 2) {
            return (long)(d.path[1] & 0x7FFFFFFFu);
        }
    }
    return -1;
}

/* The backend options (--db, --rpc-*) are accepted by every command; inspect, bind and add-approval
 * need none of them. Returns as cli_backend_option: 1 one was read (and skipped), 0 argv[*i] is not
 * one, -1 a usage error (printed). */
static int skip_backend_option(int argc, char **argv, int *i) {
    cli_backend unused;
    memset(&unused, 0, sizeof unused);
    return cli_backend_option(&unused, argc, argv, i);
}

static int cmd_inspect(const cli_globals *g, int argc, char **argv) {
    const char *file = NULL;
    uint8_t net = OS_NET_MAIN;
    int net_given = 0;
    for (int i = 0; i < argc; i++) {
        int r = skip_backend_option(argc, argv, &i);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(argv[i], "--network") == 0 && i + 1 < argc) {
            if (!parse_network(argv[++i], &net)) return cli_usage("--network: main, test or regtest");
            net_given = 1;
        } else if (argv[i][0] != '-' && file == NULL) {
            file = argv[i];
        } else {
            return cli_usage("psbt inspect: unexpected argument '%s'", argv[i]);
        }
    }
    if (file == NULL) return cli_usage("psbt inspect needs the PSBT file");
    psbt *p = NULL;
    int rc = load_psbt(g, file, &p);
    if (rc != CLI_EXIT_OK) return rc;
    /* Addresses are rendered for one network: never silently show mainnet ones for a test PSBT.
     * Coin type 1' is shared by testnet and regtest, whose addresses differ, so it needs the flag. */
    long coin = psbt_coin_type(p);
    if (!net_given && coin == 1) {
        psbt_free(p);
        return cli_usage("psbt inspect: %s derives keys with coin type 1' (testnet or regtest): give --network test"
                         " or --network regtest", file);
    }
    if (net_given && coin >= 0 && (coin == 22) != (net == OS_NET_MAIN)) {
        psbt_free(p);
        return cli_usage("psbt inspect: %s derives keys with coin type %ld', which is not --network %s", file, coin,
                         net == OS_NET_MAIN ? "main" : net == OS_NET_TEST ? "test" : "regtest");
    }
    char txid[65], addr[OS_MAX_ADDRESS + 1], path[160], hex[65], digest_hex[65] = "";
    os_txid_to_hex(p->tx.txid, txid);
    uint8_t digest[32];
    /* what an operator approves (`oncesign approve --commitment`) and the SIGN entry names */
    if (psbt_tx_digest(p, digest) == OS_OK) os_hex_encode(digest, 32, digest_hex);
    uint64_t in_total = 0, out_total = 0;
    int amounts_known = 1;
    if (g->json) {
        printf("{\"ok\":true,\"unsigned_txid\":\"%s\",\"commitment\":", txid);
        if (digest_hex[0]) printf("\"%s\"", digest_hex); else fputs("null", stdout);
        printf(",\"version\":%u,\"locktime\":%u,\"inputs\":[", p->tx.version, p->tx.locktime);
    } else {
        printf("unsigned txid  %s\ncommitment     %s\nversion %u, locktime %u\ninputs (%zu)\n", txid,
               digest_hex[0] ? digest_hex : "(none: the signer cannot sign this transaction)", p->tx.version,
               p->tx.locktime, p->tx.n_inputs);
    }
    for (size_t i = 0; i < p->tx.n_inputs; i++) {
        uint64_t amount = 0;
        const uint8_t *script = NULL;
        size_t sl = 0;
        int have = psbt_input_coin(p, i, &amount, &script, &sl) == OS_OK;
        if (have) in_total += amount;
        else amounts_known = 0;
        if (!have || address_from_script(net, script, sl, addr, sizeof addr) != OS_OK) addr[0] = '\0';
        psbt_bip32 d;
        int has_path = first_derivation(&p->inputs[i], PSBT_IN_BIP32_DERIVATION, &d);
        if (has_path) path_text(&d, path, sizeof path);
        else path[0] = '\0';
        char prev[65];
        os_txid_to_hex(p->tx.in[i].prevout.txid, prev);
        int sigs = count_type(&p->inputs[i], PSBT_IN_PARTIAL_SIG);
        int final = count_type(&p->inputs[i], PSBT_IN_FINAL_SCRIPTSIG) + count_type(&p->inputs[i], PSBT_IN_FINAL_WITNESS) > 0;
        int full_prev = count_type(&p->inputs[i], PSBT_IN_NON_WITNESS_UTXO) > 0;
        if (g->json) {
            printf("%s{\"prevout\":\"%s:%u\",\"amount\":", i ? "," : "", prev, p->tx.in[i].prevout.vout);
            if (have) printf("%llu", (unsigned long long)amount); else fputs("null", stdout);
            fputs(",\"address\":", stdout);
            if (addr[0]) cli_json_string(addr); else fputs("null", stdout);
            fputs(",\"path\":", stdout);
            if (has_path) cli_json_string(path); else fputs("null", stdout);
            printf(",\"full_previous_tx\":%s,\"partial_sigs\":%d,\"final\":%s}", full_prev ? "true" : "false", sigs,
                   final ? "true" : "false");
        } else {
            printf("  %zu  %s:%u  ", i, prev, p->tx.in[i].prevout.vout);
            if (have) printf("%llu sat", (unsigned long long)amount); else printf("amount unknown");
            printf("  %s  %s%s%s%s\n", addr[0] ? addr : "-", has_path ? path : "no derivation",
                   full_prev ? "" : "  (no full previous tx)", sigs ? "  signed" : "", final ? "  final" : "");
        }
    }
    if (g->json) fputs("],\"outputs\":[", stdout);
    else printf("outputs (%zu)\n", p->tx.n_outputs);
    for (size_t i = 0; i < p->tx.n_outputs; i++) {
        const psbt_txout *o = &p->tx.out[i];
        out_total += o->amount;
        if (address_from_script(net, o->script, o->script_len, addr, sizeof addr) != OS_OK) addr[0] = '\0';
        uint8_t nonce[32];
        int replace = 0;
        os_outpoint anchor;
        const char *kind = "unknown";
        psbt_bip32 d;
        int has_nonce = psbt_output_nonce(p, i, nonce, &replace, &anchor) == OS_OK;
        int has_path = first_derivation(&p->outputs[i], PSBT_OUT_BIP32_DERIVATION, &d);
        if (has_nonce) kind = "payout";
        else if (has_path && d.depth == 5 && d.path[3] == 1) kind = "change";
        if (has_path) path_text(&d, path, sizeof path);
        if (has_nonce) os_hex_encode(nonce, 32, hex);
        char anchor_txid[65] = "", voucher_id[65] = "";
        if (replace) os_txid_to_hex(anchor.txid, anchor_txid);
        os_voucher v;
        uint8_t id[32];
        if (psbt_output_voucher(p, i, &v) == OS_OK && os_voucher_id(&v, id) == OS_OK) os_hex_encode(id, 32, voucher_id);
        if (g->json) {
            printf("%s{\"amount\":%llu,\"address\":", i ? "," : "", (unsigned long long)o->amount);
            if (addr[0]) cli_json_string(addr); else fputs("null", stdout);
            printf(",\"kind\":\"%s\",\"nonce\":", kind);
            if (has_nonce) printf("\"%s\"", hex); else fputs("null", stdout);
            fputs(",\"anchor\":", stdout);
            if (replace) printf("\"%s:%u\"", anchor_txid, anchor.vout); else fputs("null", stdout);
            fputs(",\"path\":", stdout);
            if (has_path) cli_json_string(path); else fputs("null", stdout);
            fputs(",\"voucher_id\":", stdout);
            if (voucher_id[0]) printf("\"%s\"", voucher_id); else fputs("null", stdout);
            putchar('}');
        } else {
            printf("  %zu  %llu sat  %s  %s", i, (unsigned long long)o->amount, addr[0] ? addr : "(non-standard script)", kind);
            if (has_nonce) printf("  nonce %s", hex);
            if (replace) printf("  replaces, anchor %s:%u", anchor_txid, anchor.vout);
            if (voucher_id[0]) printf("  voucher %s", voucher_id);
            if (!has_nonce && has_path) printf("  %s", path);
            putchar('\n');
        }
    }
    int fee_known = amounts_known && in_total >= out_total;
    os_approval approvals[OS_MAX_OPERATORS];
    size_t n_approvals = 0;
    (void)psbt_approvals(p, approvals, &n_approvals);   /* the parser checked them */
    if (g->json) {
        fputs("],\"approvals\":[", stdout);
        for (size_t k = 0; k < n_approvals; k++) {
            os_hex_encode(approvals[k].operator_key, 32, hex);
            printf("%s{\"operator_key\":\"%s\",\"expiry_seq\":%llu}", k ? "," : "", hex,
                   (unsigned long long)approvals[k].expiry_seq);
        }
    } else {
        for (size_t k = 0; k < n_approvals; k++) {
            os_hex_encode(approvals[k].operator_key, 32, hex);
            printf("approval  operator %s, expires at log seq %llu\n", hex, (unsigned long long)approvals[k].expiry_seq);
        }
    }
    if (g->json) {
        printf("],\"input_total\":");
        if (amounts_known) printf("%llu", (unsigned long long)in_total); else fputs("null", stdout);
        printf(",\"output_total\":%llu,\"fee\":", (unsigned long long)out_total);
        if (fee_known) printf("%llu", (unsigned long long)(in_total - out_total)); else fputs("null", stdout);
        puts("}");
    } else if (fee_known) {
        printf("fee  %llu sat (inputs %llu, outputs %llu)\n", (unsigned long long)(in_total - out_total),
               (unsigned long long)in_total, (unsigned long long)out_total);
    } else {
        printf("fee  unknown (%s)\n", amounts_known ? "outputs exceed inputs" : "some input amounts are missing");
    }
    psbt_free(p);
    return CLI_EXIT_OK;
}

/* ---------------------------------------------------------------- psbt bind */

static int cmd_bind(const cli_globals *g, int argc, char **argv) {
    const char *file = NULL, *out = NULL;
    uint64_t output = 0;
    int have_output = 0, have_nonce = 0, have_anchor = 0, have_voucher = 0;
    uint8_t nonce[32];
    os_outpoint anchor;
    os_voucher voucher;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int r = skip_backend_option(argc, argv, &i);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(a, "--output") == 0) {
            if (!parse_u64(a, val, PSBT_MAX_IO, &output)) return CLI_EXIT_USAGE;
            have_output = 1;
            i++;
        } else if (strcmp(a, "--nonce") == 0) {
            if (!parse_nonce(val, nonce)) return CLI_EXIT_USAGE;
            have_nonce = 1;
            i++;
        } else if (strcmp(a, "--anchor") == 0) {
            if (!parse_outpoint(a, val, &anchor)) return CLI_EXIT_USAGE;
            have_anchor = 1;
            i++;
        } else if (strcmp(a, "--voucher") == 0) {
            int vrc = val != NULL ? os_voucher_from_hex(val, &voucher) : OS_ERR_BAD_REQUEST;
            if (vrc != OS_OK)
                return cli_usage("--voucher: not a voucher's %d hex digits (%s)", 2 * OS_VOUCHER_BYTES, os_status_message(vrc));
            have_voucher = 1;
            i++;
        } else if (strcmp(a, "--out") == 0 && val != NULL) {
            out = val;
            i++;
        } else if (a[0] != '-' && file == NULL) {
            file = a;
        } else {
            return cli_usage("psbt bind: unknown option, missing value or extra argument: %s", a);
        }
    }
    if (file == NULL || !have_output || (!have_nonce && !have_voucher))
        return cli_usage("usage: psbt bind FILE --output N (--nonce HEX [--anchor TXID:VOUT] | --voucher HEX) [--out FILE]");
    /* a voucher names its payout's nonce; it goes with a new payout only */
    if (have_voucher && have_anchor) return cli_usage("psbt bind: --voucher is for a new payout; a replacement (--anchor) takes none");
    if (have_voucher && have_nonce && memcmp(nonce, voucher.nonce, 32) != 0)
        return cli_usage("psbt bind: --nonce is not the voucher's nonce");
    if (have_voucher) memcpy(nonce, voucher.nonce, 32);
    psbt *p = NULL;
    int rc = load_psbt(g, file, &p);
    if (rc != CLI_EXIT_OK) return rc;
    if (output >= p->tx.n_outputs) {
        size_t n = p->tx.n_outputs;
        psbt_free(p);
        return cli_usage("--output %llu: the transaction has %zu outputs", (unsigned long long)output, n);
    }
    char err[256] = "";
    int st = psbt_output_bind(p, (size_t)output, nonce, have_anchor ? &anchor : NULL);
    if (st == OS_OK && have_voucher) st = psbt_output_set_voucher(p, (size_t)output, &voucher, err, sizeof err);
    if (st != OS_OK) rc = cli_fail(g, exit_for_psbt(st), st, "binding failed%s%s", err[0] ? ": " : "", err);
    else rc = emit_psbt(g, p, out, NULL);
    psbt_free(p);
    return rc;
}

/* ---------------------------------------------------------------- psbt add-approval */

/* Adds an operator's approval (what `oncesign approve --commitment` printed for this PSBT's
 * commitment) to the PSBT; `oncesign sign` sends the approvals it carries. */
static int cmd_add_approval(const cli_globals *g, int argc, char **argv) {
    const char *file = NULL, *out = NULL, *hex = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int r = skip_backend_option(argc, argv, &i);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) continue;
        if (strcmp(a, "--approval") == 0 && val != NULL) hex = argv[++i];
        else if (strcmp(a, "--out") == 0 && val != NULL) out = argv[++i];
        else if (a[0] != '-' && file == NULL) file = a;
        else return cli_usage("psbt add-approval: unknown option, missing value or extra argument: %s", a);
    }
    if (file == NULL || hex == NULL) return cli_usage("usage: psbt add-approval FILE --approval HEX [--out FILE]");
    uint8_t wire[OS_APPROVAL_BYTES];
    size_t len = 0;
    os_approval a;
    if (strlen(hex) != 2 * OS_APPROVAL_BYTES || os_hex_decode(hex, wire, sizeof wire, &len) != OS_OK ||
        len != OS_APPROVAL_BYTES || os_approval_decode(wire, &a) != OS_OK)
        return cli_usage("--approval: not an approval's %d hex digits (as `oncesign approve` prints)", 2 * OS_APPROVAL_BYTES);
    psbt *p = NULL;
    int rc = load_psbt(g, file, &p);
    if (rc != CLI_EXIT_OK) return rc;
    char err[256] = "";
    int st = psbt_add_approval(p, &a, err, sizeof err);
    if (st != OS_OK) rc = cli_fail(g, exit_for_psbt(st), st, "cannot add the approval: %s", err[0] ? err : os_status_message(st));
    else rc = emit_psbt(g, p, out, NULL);
    psbt_free(p);
    return rc;
}

int cli_cmd_psbt(const cli_globals *g, int argc, char **argv) {
    if (argc == 0) return cli_usage("psbt: which command? create, inspect, bind or add-approval");
    if (strcmp(argv[0], "create") == 0) return cmd_create(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "inspect") == 0) return cmd_inspect(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "bind") == 0) return cmd_bind(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "add-approval") == 0) return cmd_add_approval(g, argc - 1, argv + 1);
    return cli_usage("psbt: unknown command '%s' (create, inspect, bind, add-approval)", argv[0]);
}
