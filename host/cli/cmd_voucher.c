/* oncesign CLI — `oncesign voucher keygen|sign|verify`: the issuer tool (issue 14, PROTOCOL.md
 * §2.7). It needs no signer and no ledger: it runs on the service backend or an offline machine,
 * which holds the issuer key the bridge must never hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "address.h"
#include "audit.h"
#include "cli_cmds.h"
#include "crypto.h"
#include "issuer.h"
#include "oncesign/status.h"
#include "random.h"
#include "rpc.h"
#include "voucher.h"

/* log entries an approval made with --from stays valid for unless told (--valid-for) */
#define APPROVE_VALID_FOR_DEFAULT 100

int cli_parse_hex32(const char *opt, const char *s, uint8_t out[32]) {
    size_t len = 0;
    if (s == NULL || strlen(s) != 64 || os_hex_decode(s, out, 32, &len) != OS_OK || len != 32) {
        cli_usage("%s: 64 hex digits", opt);
        return 0;
    }
    return 1;
}

static int parse_u64(const char *opt, const char *s, uint64_t *out) {
    char *end = NULL;
    unsigned long long v = s != NULL && *s >= '0' && *s <= '9' ? strtoull(s, &end, 10) : 0;
    if (end == NULL || *end != 0) {
        cli_usage("%s: a decimal number", opt);
        return 0;
    }
    *out = v;
    return 1;
}

static const char *network_text(uint8_t n) {
    return n == OS_NET_MAIN ? "main" : n == OS_NET_TEST ? "test" : "regtest";
}


static int keygen(const cli_globals *g, int argc, char **argv) {
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) path = argv[++i];
        else return cli_usage("voucher keygen: unexpected argument '%s'", argv[i]);
    }
    if (path == NULL) return cli_usage("voucher keygen: --key FILE is required");
    uint8_t xonly[32];
    int rc = os_issuer_key_create(path, xonly);
    if (rc != OS_OK)
        return cli_fail(g, CLI_EXIT_ERROR, rc, "%s: cannot create the issuer key (%s; an existing file is never "
                        "overwritten)", path, os_status_message(rc));
    char hex[65], fp[17];
    os_hex_encode(xonly, 32, hex);
    os_key_fingerprint(xonly, fp);
    if (g->json) printf("{\"ok\":true,\"issuer\":\"%s\",\"fingerprint\":\"%s\"}\n", hex, fp);
    else printf("issuer       %s\nfingerprint  %s\n", hex, fp);
    return CLI_EXIT_OK;
}

static void print_voucher(const cli_globals *g, const os_voucher *v, const char *hex, int valid) {
    uint8_t id[32];
    char idh[65], nonce[65], signer[65], issuer[65], fp[17], addr[OS_MAX_ADDRESS + 1] = "";
    if (os_voucher_id(v, id) != OS_OK) memset(id, 0, sizeof id);
    os_hex_encode(id, 32, idh);
    os_hex_encode(v->nonce, 32, nonce);
    os_hex_encode(v->signer, 32, signer);
    os_hex_encode(v->issuer, 32, issuer);
    os_key_fingerprint(v->issuer, fp);
    if ((v->flags & OS_VOUCHER_DESTINATION) &&
        address_from_script(v->network, v->script, v->script_len, addr, sizeof addr) != OS_OK)
        snprintf(addr, sizeof addr, "(non-standard script)");
    if (g->json) {
        printf("{\"ok\":true,\"valid\":%s,\"voucher\":\"%s\",\"id\":\"%s\",\"network\":\"%s\",\"nonce\":\"%s\","
               "\"amount\":%llu,\"expiry_seq\":%llu,\"signer\":\"%s\",\"issuer\":\"%s\",\"destination\":",
               valid ? "true" : "false", hex, idh, network_text(v->network), nonce, (unsigned long long)v->amount,
               (unsigned long long)v->expiry_seq, signer, issuer);
        if (v->flags & OS_VOUCHER_DESTINATION) cli_json_string(addr);
        else fputs("null", stdout);
        puts("}");
        return;
    }
    printf("voucher      %s\n", hex);
    printf("id           %s\nnetwork      %s\nnonce        %s\namount       %llu sat\nexpiry_seq   %llu\n", idh,
           network_text(v->network), nonce, (unsigned long long)v->amount, (unsigned long long)v->expiry_seq);
    printf("signer       %s\nissuer       %s (fingerprint %s)\ndestination  %s\n", signer, issuer, fp,
           (v->flags & OS_VOUCHER_DESTINATION) ? addr : "any (a gift code: the redeemer names it)");
    if (!valid) printf("signature    INVALID\n");
}

static int sign(const cli_globals *g, int argc, char **argv) {
    const char *path = NULL, *address = NULL;
    os_voucher v;
    int have_signer = 0, have_nonce = 0, have_amount = 0, have_expiry = 0;
    memset(&v, 0, sizeof v);
    v.network = OS_NET_REGTEST;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (val == NULL) return cli_usage("voucher sign: %s needs a value", a);
        i++;
        if (strcmp(a, "--key") == 0) path = val;
        else if (strcmp(a, "--signer") == 0) { if (!cli_parse_hex32(a, val, v.signer)) return CLI_EXIT_USAGE; have_signer = 1; }
        else if (strcmp(a, "--nonce") == 0) { if (!cli_parse_hex32(a, val, v.nonce)) return CLI_EXIT_USAGE; have_nonce = 1; }
        else if (strcmp(a, "--amount") == 0) { if (!parse_u64(a, val, &v.amount)) return CLI_EXIT_USAGE; have_amount = 1; }
        else if (strcmp(a, "--expiry-seq") == 0) { if (!parse_u64(a, val, &v.expiry_seq)) return CLI_EXIT_USAGE; have_expiry = 1; }
        else if (strcmp(a, "--address") == 0) address = val;
        else if (strcmp(a, "--network") == 0) {
            if (strcmp(val, "main") == 0) v.network = OS_NET_MAIN;
            else if (strcmp(val, "test") == 0) v.network = OS_NET_TEST;
            else if (strcmp(val, "regtest") == 0) v.network = OS_NET_REGTEST;
            else return cli_usage("--network: main, test or regtest");
        } else {
            return cli_usage("voucher sign: unexpected argument '%s'", a);
        }
    }
    if (path == NULL || !have_signer || !have_amount || !have_expiry)
        return cli_usage("voucher sign: --key, --signer, --amount and --expiry-seq are required");
    /* The nonce is the payout's key in the signer's nonce set: the issuer picks it, so the bridge
     * cannot; a fresh random one unless the backend names its own. */
    if (!have_nonce && os_random_bytes(v.nonce, sizeof v.nonce) != OS_OK)
        return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_IO, "no randomness for the nonce");
    if (address != NULL) {
        size_t len = 0;
        int rc = address_to_script(v.network, address, v.script, sizeof v.script, &len);
        if (rc != OS_OK) return cli_fail(g, CLI_EXIT_USAGE, OS_ERR_ADDRESS, "--address: %s", os_status_message(rc));
        v.flags = OS_VOUCHER_DESTINATION;
        v.script_len = (uint8_t)len;
    }
    uint8_t priv[32];
    int rc = os_issuer_key_load(path, priv, NULL);
    if (rc != OS_OK)
        return cli_fail(g, CLI_EXIT_ERROR, rc, "%s: %s (it must be 64 hex digits, mode 0600)", path, os_status_message(rc));
    rc = os_voucher_sign(&v, priv);
    crypto_wipe(priv, sizeof priv);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_USAGE, rc, "cannot sign: %s", os_status_message(rc));
    char hex[2 * OS_VOUCHER_BYTES + 1];
    if ((rc = os_voucher_to_hex(&v, hex)) != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "%s", os_status_message(rc));
    if (g->json) print_voucher(g, &v, hex, 1);
    else puts(hex);
    return CLI_EXIT_OK;
}

static int verify(const cli_globals *g, int argc, char **argv) {
    const char *text = NULL;
    uint8_t issuer[32];
    int have_issuer = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--voucher") == 0 && i + 1 < argc) text = argv[++i];
        else if (strcmp(argv[i], "--issuer") == 0 && i + 1 < argc) {
            if (!cli_parse_hex32("--issuer", argv[++i], issuer)) return CLI_EXIT_USAGE;
            have_issuer = 1;
        } else {
            return cli_usage("voucher verify: unexpected argument '%s'", argv[i]);
        }
    }
    if (text == NULL) return cli_usage("voucher verify: --voucher HEX is required");
    os_voucher v;
    int rc = os_voucher_from_hex(text, &v);
    if (rc != OS_OK)
        return cli_fail(g, CLI_EXIT_USAGE, rc, "not a voucher: %s",
                        rc == OS_ERR_BAD_REQUEST ? "not 428 hex digits" : "a field is out of range");
    rc = os_voucher_check(&v, have_issuer ? issuer : NULL);
    print_voucher(g, &v, text, rc == OS_OK);
    if (rc != OS_OK) {
        fprintf(stderr, "oncesign: the voucher's signature does not verify%s\n",
                have_issuer ? " under the given issuer key" : "");
        return CLI_EXIT_REFUSED;
    }
    return CLI_EXIT_OK;
}

/* What `approve --from` reads: the JSON of GET /v1/payouts/{id}/commitment (docs/API.md). */
typedef struct {
    uint8_t digest[32], signer[32];
    uint64_t log_seq;
} commitment_doc;

typedef struct {
    json_t *outputs;        /* the document's "outputs" */
    size_t next;
    int bad;                /* an output of the transaction the document does not describe as it is */
    char why[200];
} output_check;

/* The document's address must be the one of the script the transaction pays, its amount the one the
 * transaction carries: the operator is shown only what the digest covers. */
static void check_output(void *ctx, uint64_t amount, const uint8_t *script, size_t script_len) {
    output_check *oc = ctx;
    size_t i = oc->next++;
    json_t *o = json_array_get(oc->outputs, i);
    const char *address = json_string_value(json_object_get(o, "address"));
    json_t *aj = json_object_get(o, "amount");
    static const uint8_t networks[] = { OS_NET_MAIN, OS_NET_TEST, OS_NET_REGTEST };
    int same = 0;
    for (size_t n = 0; address != NULL && !same && n < sizeof networks; n++) {
        uint8_t s[64];
        size_t len = 0;
        same = address_to_script(networks[n], address, s, sizeof s, &len) == OS_OK && len == script_len &&
               memcmp(s, script, len) == 0;
    }
    if (!same || !json_is_integer(aj) || (uint64_t)json_integer_value(aj) != amount) {
        if (!oc->bad) snprintf(oc->why, sizeof oc->why, "output %zu of the unsigned transaction is not the one the"
                               " document lists", i);
        oc->bad = 1;
        return;
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    fprintf(stderr, "  output %zu: %s %llu.%08llu MONA (%s)\n", i, address, (unsigned long long)(amount / 100000000u),
            (unsigned long long)(amount % 100000000u), kind != NULL ? kind : "?");
}

/* Reads path ("-": stdin), recomputes the transaction digest from its unsigned transaction and
 * refuses a document whose digest or outputs say otherwise; shows the outputs on stderr. */
static int read_commitment(const cli_globals *g, const char *path, commitment_doc *out) {
    json_error_t e;
    json_t *doc = strcmp(path, "-") == 0 ? json_loadf(stdin, 0, &e) : json_load_file(path, 0, &e);
    if (doc == NULL) return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_BAD_REQUEST, "%s: not JSON (%s)", path, e.text);
    const char *digest = json_string_value(json_object_get(doc, "tx_digest"));
    const char *signer = json_string_value(json_object_get(doc, "signer"));
    const char *raw_hex = json_string_value(json_object_get(doc, "unsigned_tx"));
    json_t *seq = json_object_get(doc, "log_seq"), *outputs = json_object_get(doc, "outputs");
    size_t len = 0, raw_cap = raw_hex != NULL ? strlen(raw_hex) / 2 : 0;
    uint8_t *raw = malloc(raw_cap + 1), hp[32], computed[32];
    int rc = OS_ERR_BAD_REQUEST;
    output_check oc = { outputs, 0, 0, "" };
    if (raw == NULL || digest == NULL || signer == NULL || raw_hex == NULL || !json_is_integer(seq) ||
        json_integer_value(seq) < 0 || !json_is_array(outputs) || strlen(digest) != 64 || strlen(signer) != 64 ||
        os_hex_decode(digest, out->digest, 32, &len) != OS_OK || os_hex_decode(signer, out->signer, 32, &len) != OS_OK ||
        os_hex_decode(raw_hex, raw, raw_cap, &len) != OS_OK) {
        rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_BAD_REQUEST, "%s: not a commitment (GET /v1/payouts/{id}/commitment:"
                      " tx_digest, signer, log_seq, unsigned_tx, outputs)", path);
        goto out;
    }
    out->log_seq = (uint64_t)json_integer_value(seq);
    fprintf(stderr, "approving transaction %s on signer %s:\n", digest, signer);
    rc = os_audit_raw_commitment(raw, len, hp, computed, check_output, &oc);
    if (rc != OS_OK) {
        rc = cli_fail(g, CLI_EXIT_ERROR, rc, "%s: the unsigned transaction does not parse (%s)", path,
                      os_status_message(rc));
    } else if (memcmp(computed, out->digest, 32) != 0) {
        rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_APPROVAL_MISMATCH, "%s: tx_digest is not the digest of the unsigned"
                      " transaction: refusing to approve", path);
    } else if (oc.bad || oc.next != json_array_size(outputs)) {
        rc = cli_fail(g, CLI_EXIT_ERROR, OS_ERR_APPROVAL_MISMATCH, "%s: %s: refusing to approve", path,
                      oc.bad ? oc.why : "the document lists other outputs than the transaction's");
    } else {
        rc = CLI_EXIT_OK;
    }
out:
    free(raw);
    json_decref(doc);
    return rc;
}

/* `oncesign approve`: an operator's approval of one transaction (PROTOCOL.md §2.8), made on the
 * operator's own machine with a key from `oncesign voucher keygen`. The commitment is the
 * transaction digest the signer shows and logs; the signer its attestation key (device info).
 * --from takes what oncesignd serves (GET /v1/payouts/{id}/commitment) and checks it itself; a
 * --signer given with it is the one the operator pinned, and a document naming another is refused. */
int cli_cmd_approve(const cli_globals *g, int argc, char **argv) {
    const char *path = NULL, *from = NULL;
    uint8_t digest[32], signer[32];
    uint64_t expiry = 0, valid_for = 0;
    int have_digest = 0, have_signer = 0, have_expiry = 0, have_valid_for = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (val == NULL) return cli_usage("approve: %s needs a value", a);
        i++;
        if (strcmp(a, "--key") == 0) path = val;
        else if (strcmp(a, "--from") == 0) from = val;
        else if (strcmp(a, "--commitment") == 0) { if (!cli_parse_hex32(a, val, digest)) return CLI_EXIT_USAGE; have_digest = 1; }
        else if (strcmp(a, "--signer") == 0) { if (!cli_parse_hex32(a, val, signer)) return CLI_EXIT_USAGE; have_signer = 1; }
        else if (strcmp(a, "--expiry-seq") == 0) { if (!parse_u64(a, val, &expiry)) return CLI_EXIT_USAGE; have_expiry = 1; }
        else if (strcmp(a, "--valid-for") == 0) { if (!parse_u64(a, val, &valid_for)) return CLI_EXIT_USAGE; have_valid_for = 1; }
        else return cli_usage("approve: unexpected argument '%s'", a);
    }
    if (from != NULL) {
        if (path == NULL || have_digest || (have_expiry && have_valid_for) || (have_valid_for && valid_for == 0))
            return cli_usage("approve: --from FILE|- takes --key, optionally --signer (pinned), and --valid-for N"
                             " (>= 1, default %d) or --expiry-seq N", APPROVE_VALID_FOR_DEFAULT);
        commitment_doc doc;
        int rc = read_commitment(g, from, &doc);
        if (rc != CLI_EXIT_OK) return rc;
        if (have_signer && memcmp(signer, doc.signer, 32) != 0)
            return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_APPROVAL_MISMATCH, "%s names another signer than --signer:"
                            " refusing to approve", from);
        memcpy(digest, doc.digest, 32);
        memcpy(signer, doc.signer, 32);
        if (!have_expiry) expiry = doc.log_seq + (have_valid_for ? valid_for : APPROVE_VALID_FOR_DEFAULT);
        if (expiry <= doc.log_seq)
            return cli_fail(g, CLI_EXIT_ERROR, OS_ERR_APPROVAL_EXPIRED, "--expiry-seq %llu is not above the signer's"
                            " log_seq %llu: the approval would be expired", (unsigned long long)expiry,
                            (unsigned long long)doc.log_seq);
        have_digest = have_signer = have_expiry = 1;
    }
    if (path == NULL || !have_digest || !have_signer || !have_expiry || expiry == 0 || (have_valid_for && from == NULL))
        return cli_usage("approve: --key with --from FILE|- [--valid-for N | --expiry-seq N] [--signer HEX], or"
                         " --key, --commitment, --signer and --expiry-seq (>= 1)");
    uint8_t priv[32];
    int rc = os_issuer_key_load(path, priv, NULL);
    if (rc != OS_OK)
        return cli_fail(g, CLI_EXIT_ERROR, rc, "%s: %s (it must be 64 hex digits, mode 0600)", path, os_status_message(rc));
    os_approval ap;
    rc = os_approval_sign(&ap, digest, expiry, signer, priv);
    crypto_wipe(priv, sizeof priv);
    if (rc != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "cannot sign: %s", os_status_message(rc));
    uint8_t wire[OS_APPROVAL_BYTES];
    char hex[2 * OS_APPROVAL_BYTES + 1], fp[17];
    if ((rc = os_approval_encode(&ap, wire)) != OS_OK) return cli_fail(g, CLI_EXIT_ERROR, rc, "%s", os_status_message(rc));
    os_hex_encode(wire, sizeof wire, hex);
    os_key_fingerprint(ap.operator_key, fp);
    if (g->json) printf("{\"ok\":true,\"approval\":\"%s\",\"operator_fingerprint\":\"%s\",\"expiry_seq\":%llu}\n", hex, fp,
                        (unsigned long long)expiry);
    else puts(hex);
    return CLI_EXIT_OK;
}

int cli_cmd_voucher(const cli_globals *g, int argc, char **argv) {
    if (argc < 1) return cli_usage("voucher: keygen, sign or verify");
    if (strcmp(argv[0], "keygen") == 0) return keygen(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "sign") == 0) return sign(g, argc - 1, argv + 1);
    if (strcmp(argv[0], "verify") == 0) return verify(g, argc - 1, argv + 1);
    return cli_usage("voucher: unknown command '%s' (keygen, sign, verify)", argv[0]);
}
