/* oncesign host — the monacoind JSON-RPC client. Contract in rpc.h; the answers it interprets are
 * the ones a real Monacoin Core 0.20.3 gives (docs/DESIGN.md §5, docs/MONACOIND.md). */
#include "rpc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http_body.h"
#include "oncesign/check.h"
#include "oncesign/status.h"

/* An answer larger than this is not something monacoind sends to these calls (a 4 MB block's
 * worth of hex is 8 MB): refuse it instead of growing without bound. */
#define RPC_MAX_BODY (32u * 1024u * 1024u)
#define RPC_MAX_CREDENTIAL 512
#define MONA_SAT 100000000ull
#define MAX_MONEY_SAT (105120000ull * MONA_SAT)

/* Core's RPC error codes this file acts on (src/rpc/protocol.h). */
#define RPC_INVALID_ADDRESS_OR_KEY (-5)
#define RPC_DESERIALIZATION_ERROR (-22)
#define RPC_VERIFY_ERROR (-25)
#define RPC_VERIFY_REJECTED (-26)
#define RPC_VERIFY_ALREADY_IN_CHAIN (-27)

struct os_rpc {
    CURL *curl;
    char *url;
    char *cookie_file;
    char userpwd[2 * RPC_MAX_CREDENTIAL + 2];
    long timeout_ms;
    uint64_t next_id;
    char curl_err[CURL_ERROR_SIZE];
    os_http_body body;      /* the last answer, at most RPC_MAX_BODY bytes */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void error_set(os_rpc_error *e, int status, long http, const char *fmt, ...)
{
    va_list ap;
    memset(e, 0, sizeof *e); /* no stale code or timed_out from an earlier call */
    e->status = status;
    e->http_status = http;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static void error_clear(os_rpc_error *e)
{
    memset(e, 0, sizeof *e);
    e->status = OS_OK;
}

/* An answer whose shape is not what Core sends: untrustworthy, so reported like a transport failure
 * (the call may or may not have done anything). */
static int malformed(os_rpc_error *e, const char *method, const char *what)
{
    error_set(e, OS_ERR_RPC_TRANSPORT, 200, "unexpected answer to %s: %s", method, what);
    return OS_ERR_RPC_TRANSPORT;
}

/* ------------------------------------------------------------------ hex */

void os_hex_encode(const uint8_t *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int os_hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    ARG_CHECK(hex != NULL && len != NULL && (out != NULL || cap == 0));
    size_t n = strlen(hex);
    ARG_CHECK(n % 2 == 0);
    for (size_t i = 0; i < n; i++) ARG_CHECK(hex_nibble(hex[i]) >= 0);
    if (n / 2 > cap) return OS_ERR_BUFFER;
    for (size_t i = 0; i < n / 2; i++)
        out[i] = (uint8_t)(hex_nibble(hex[2 * i]) << 4 | hex_nibble(hex[2 * i + 1]));
    *len = n / 2;
    return OS_OK;
}

void os_txid_to_hex(const uint8_t txid[32], char out[65])
{
    uint8_t rev[32];
    for (int i = 0; i < 32; i++) rev[i] = txid[31 - i];
    os_hex_encode(rev, 32, out);
}

int os_txid_from_hex(const char *hex, uint8_t txid[32])
{
    uint8_t rev[32];
    size_t len;
    ARG_CHECK(hex != NULL && txid != NULL && strlen(hex) == 64);
    CHECK_OK(os_hex_decode(hex, rev, sizeof rev, &len));
    for (int i = 0; i < 32; i++) txid[i] = rev[31 - i];
    return OS_OK;
}

/* ------------------------------------------------------------------ amounts */

/* "0.00010000" → 10000, exactly: digits are read as text (never through a double). Accepts an
 * optional exponent as JSON allows; refuses a sign, more than 8 significant decimals, or more than
 * MAX_MONEY. */
static int parse_amount_text(const char *s, uint64_t *sat)
{
    uint64_t whole = 0;
    int any = 0, exp = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++, any = 1) {
        if (whole > MAX_MONEY_SAT) return -1;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    char digits_after[64];
    int n_after = 0;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, any = 1) {
            if (n_after >= (int)sizeof digits_after - 1) return -1;
            digits_after[n_after++] = *p;
        }
    }
    if (!any) return -1;
    if (*p == 'e' || *p == 'E') {
        int neg = 0, e = 0, edig = 0;
        p++;
        if (*p == '+' || *p == '-') neg = *p++ == '-';
        for (; *p >= '0' && *p <= '9'; p++, edig = 1) {
            if (e > 100) return -1;
            e = e * 10 + (*p - '0');
        }
        if (!edig) return -1;
        exp = neg ? -e : e;
    }
    if (*p != '\0') return -1;
    /* value = (whole . digits_after) * 10^exp; shift the decimal point into place. */
    char buf[256];
    int pos = snprintf(buf, sizeof buf, "%" PRIu64, whole);
    int point = pos; /* index in buf where the decimal point sits */
    if (pos + n_after >= (int)sizeof buf) return -1;
    memcpy(buf + pos, digits_after, (size_t)n_after);
    int total = pos + n_after;
    buf[total] = '\0';
    point += exp;
    /* sat = digits of buf up to point+8, which must leave only zeros after it. */
    int end = point + 8;
    if (end < 0) end = 0;
    if (end > 40) return -1;
    for (int i = end; i < total; i++)
        if (buf[i] != '0') return -1;
    uint64_t v = 0;
    for (int i = 0; i < end; i++) {
        int d = i < total ? buf[i] - '0' : 0;
        if (v > MAX_MONEY_SAT) return -1;
        v = v * 10 + (uint64_t)d;
    }
    if (v > MAX_MONEY_SAT) return -1;
    *sat = v;
    return 0;
}

/* Amounts arrive as strings because rpc_call_exact() quotes every non-integer number of the body
 * before jansson sees it; an integer amount ("50") is read as an integer. */
static int json_amount(const json_t *v, uint64_t *sat)
{
    if (json_is_string(v)) return parse_amount_text(json_string_value(v), sat);
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i > MAX_MONEY_SAT / MONA_SAT) return -1;
        *sat = (uint64_t)i * MONA_SAT;
        return 0;
    }
    return -1;
}

/* Copies body with every JSON number that has a fraction or exponent turned into a string of its
 * exact text, so amounts never pass through a double. Strings are copied untouched (escapes
 * included). Returns a malloc'ed NUL-terminated copy, or NULL on allocation failure. */
static char *quote_reals(const char *body, size_t len)
{
    char *out = malloc(len * 3 + 1); /* worst case: every char a 1-char real → 3 chars */
    if (!out) return NULL;
    size_t o = 0;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        char c = body[i];
        if (in_string) {
            out[o++] = c;
            i++;
            if (c == '\\' && i < len) out[o++] = body[i++];
            else if (c == '"') in_string = 0;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            out[o++] = c;
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            int real = 0;
            while (j < len && (body[j] == '-' || body[j] == '+' || body[j] == '.' || body[j] == 'e' ||
                               body[j] == 'E' || (body[j] >= '0' && body[j] <= '9'))) {
                if (body[j] == '.' || body[j] == 'e' || body[j] == 'E') real = 1;
                j++;
            }
            if (real) out[o++] = '"';
            memcpy(out + o, body + i, j - i);
            o += j - i;
            if (real) out[o++] = '"';
            i = j;
            continue;
        }
        out[o++] = c;
        i++;
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------------------ open / close */

static int read_cookie(const char *path, char *userpwd, size_t cap, char *why, size_t why_cap)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_cap, "cannot read cookie file %s: %s", path, strerror(errno));
        return OS_ERR_IO;
    }
    char line[2 * RPC_MAX_CREDENTIAL + 2];
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0 || !strchr(line, ':') || n >= cap) {
        snprintf(why, why_cap, "cookie file %s does not hold user:password", path);
        return OS_ERR_IO;
    }
    memcpy(userpwd, line, n + 1);
    return OS_OK;
}

int os_rpc_open(const os_rpc_config *cfg, os_rpc **out, char *err, size_t cap)
{
    char dummy[1];
    if (!err || cap == 0) {
        err = dummy;
        cap = sizeof dummy;
    }
    err[0] = '\0';
    ARG_CHECK(cfg != NULL && out != NULL && cfg->url != NULL && cfg->timeout_ms > 0);
    int have_user = cfg->user != NULL && cfg->password != NULL;
    ARG_CHECK(have_user != (cfg->cookie_file != NULL));
    ARG_CHECK(strncmp(cfg->url, "http://", 7) == 0 || strncmp(cfg->url, "https://", 8) == 0);
    if (have_user) ARG_CHECK(strlen(cfg->user) < RPC_MAX_CREDENTIAL && strlen(cfg->password) < RPC_MAX_CREDENTIAL);
    *out = NULL;

    pthread_once(&curl_once, curl_init_once);
    if (curl_init_result != CURLE_OK) {
        snprintf(err, cap, "curl_global_init: %s", curl_easy_strerror(curl_init_result));
        return OS_ERR_IO;
    }
    os_rpc *rpc = calloc(1, sizeof *rpc);
    if (!rpc) {
        snprintf(err, cap, "out of memory");
        return OS_ERR_IO;
    }
    rpc->body.max = RPC_MAX_BODY;
    rpc->timeout_ms = cfg->timeout_ms;
    rpc->next_id = 1;
    rpc->url = strdup(cfg->url);
    if (cfg->cookie_file) rpc->cookie_file = strdup(cfg->cookie_file);
    if (!rpc->url || (cfg->cookie_file && !rpc->cookie_file)) {
        snprintf(err, cap, "out of memory");
        os_rpc_close(rpc);
        return OS_ERR_IO;
    }
    if (have_user) {
        snprintf(rpc->userpwd, sizeof rpc->userpwd, "%s:%s", cfg->user, cfg->password);
    } else {
        int s = read_cookie(rpc->cookie_file, rpc->userpwd, sizeof rpc->userpwd, err, cap);
        if (s != OS_OK) {
            os_rpc_close(rpc);
            return s;
        }
    }
    rpc->curl = curl_easy_init();
    if (!rpc->curl) {
        snprintf(err, cap, "curl_easy_init failed");
        os_rpc_close(rpc);
        return OS_ERR_IO;
    }
    CURL *c = rpc->curl;
    int ok = curl_easy_setopt(c, CURLOPT_URL, rpc->url) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rpc->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, rpc->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, os_http_body_write) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_WRITEDATA, &rpc->body) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_ERRORBUFFER, rpc->curl_err) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_PROXY, "") == CURLE_OK; /* never an env proxy for the node */
    if (!ok) {
        snprintf(err, cap, "curl_easy_setopt failed");
        os_rpc_close(rpc);
        return OS_ERR_IO;
    }
    *out = rpc;
    return OS_OK;
}

void os_rpc_close(os_rpc *rpc)
{
    if (!rpc) return;
    if (rpc->curl) curl_easy_cleanup(rpc->curl);
    free(rpc->url);
    free(rpc->cookie_file);
    os_http_body_free(&rpc->body);
    /* the password or cookie should not linger in freed memory */
    volatile char *p = rpc->userpwd;
    for (size_t i = 0; i < sizeof rpc->userpwd; i++) p[i] = 0;
    free(rpc);
}

/* ------------------------------------------------------------------ the call */

typedef struct {
    int fresh_connection; /* exactly one request on a new connection: no curl retry on a dead reused one */
    int exact_amounts;    /* quote non-integer numbers (amounts) before parsing */
} call_opts;

/* One HTTP exchange. Returns the CURLcode; *http the status (0 when none). */
static CURLcode exchange(os_rpc *rpc, const char *request, int fresh, long *http)
{
    CURL *c = rpc->curl;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    /* no "Expect: 100-continue" on large bodies: it costs a round trip or a 1 s wait per call */
    struct curl_slist *more = headers ? curl_slist_append(headers, "Expect:") : NULL;
    if (!more) {
        curl_slist_free_all(headers);
        return CURLE_OUT_OF_MEMORY;
    }
    headers = more;
    os_http_body_reset(&rpc->body);
    rpc->curl_err[0] = '\0';
    *http = 0;
    CURLcode rc = curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_USERPWD, rpc->userpwd);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_POSTFIELDS, request);
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(request));
    if (rc == CURLE_OK) rc = curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
    if (rc == CURLE_OK) rc = curl_easy_perform(c);
    long code = 0;
    if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK) *http = code;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    return rc;
}

static _Atomic uint64_t fail_counts[OS_RPC_FAIL_KINDS];

const char *os_rpc_fail_kind_name(os_rpc_fail_kind kind) {
    static const char *const names[OS_RPC_FAIL_KINDS] = { "connect", "timeout", "auth", "malformed", "node" };
    return kind < OS_RPC_FAIL_KINDS ? names[kind] : "unknown";
}

void os_rpc_fail_counts(uint64_t out[OS_RPC_FAIL_KINDS]) {
    for (int k = 0; k < OS_RPC_FAIL_KINDS; k++) out[k] = atomic_load_explicit(&fail_counts[k], memory_order_relaxed);
}

os_rpc_fail_kind os_rpc_error_kind(int rc, const os_rpc_error *e) {
    return rc == OS_ERR_RPC                                    ? OS_RPC_FAIL_NODE
           : e->timed_out                                      ? OS_RPC_FAIL_TIMEOUT
           : e->http_status == 401 || e->http_status == 403    ? OS_RPC_FAIL_AUTH
           : e->http_status == 0                               ? OS_RPC_FAIL_CONNECT
                                                               : OS_RPC_FAIL_MALFORMED;
}

/* Counts a failed call by what went wrong (a metric; the caller still gets the whole error). */
static int count_failure(int rc, const os_rpc_error *e) {
    if (rc == OS_OK || rc == OS_ERR_ARG) return rc;
    atomic_fetch_add_explicit(&fail_counts[os_rpc_error_kind(rc, e)], 1, memory_order_relaxed);
    return rc;
}

static int rpc_call_once(os_rpc *rpc, const char *method, json_t *params, const call_opts *opt, json_t **result,
                         os_rpc_error *e);

static int rpc_call_opts(os_rpc *rpc, const char *method, json_t *params, const call_opts *opt, json_t **result,
                         os_rpc_error *e) {
    return count_failure(rpc_call_once(rpc, method, params, opt, result, e), e);
}

static int rpc_call_once(os_rpc *rpc, const char *method, json_t *params, const call_opts *opt, json_t **result,
                         os_rpc_error *e)
{
    /* params NULL here means a json_pack() of the caller failed: never send a call without its
     * arguments. Reported as a transport failure (UNKNOWN for a broadcast: nothing is assumed). */
    if (!params) {
        error_set(e, OS_ERR_RPC_TRANSPORT, 0, "%s: cannot encode the parameters", method);
        return OS_ERR_RPC_TRANSPORT;
    }
    uint64_t id = rpc->next_id++;
    json_t *req = json_pack("{s:s, s:I, s:s, s:o}", "jsonrpc", "1.0", "id", (json_int_t)id, "method", method,
                            "params", params);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!text) {
        error_set(e, OS_ERR_RPC_TRANSPORT, 0, "cannot encode the %s request", method);
        return OS_ERR_RPC_TRANSPORT;
    }

    long http = 0;
    CURLcode rc = exchange(rpc, text, opt->fresh_connection, &http);
    if (rc == CURLE_OK && http == 401 && rpc->cookie_file) {
        /* monacoind writes a new cookie at every start: re-read it and try once more. A 401 means
         * the node ran nothing, so this retry is safe even for sendrawtransaction. */
        char why[256];
        curl_off_t used_us = 0;
        curl_easy_getinfo(rpc->curl, CURLINFO_TOTAL_TIME_T, &used_us);
        long left_ms = rpc->timeout_ms - (long)(used_us / 1000);
        if (left_ms > 0 &&
            read_cookie(rpc->cookie_file, rpc->userpwd, sizeof rpc->userpwd, why, sizeof why) == OS_OK) {
            /* the timeout is per call: the retry gets what the first attempt left */
            curl_easy_setopt(rpc->curl, CURLOPT_TIMEOUT_MS, left_ms);
            rc = exchange(rpc, text, opt->fresh_connection, &http);
            curl_easy_setopt(rpc->curl, CURLOPT_TIMEOUT_MS, rpc->timeout_ms);
        }
    }
    free(text);

    if (rc != CURLE_OK) {
        const char *detail = rpc->curl_err[0] ? rpc->curl_err : curl_easy_strerror(rc);
        if (rpc->body.overflow) detail = "answer larger than the limit";
        error_set(e, OS_ERR_RPC_TRANSPORT, http, "%s: %s", method, detail);
        e->timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        return OS_ERR_RPC_TRANSPORT;
    }
    if (http == 401 || http == 403) {
        error_set(e, OS_ERR_RPC_TRANSPORT, http, "%s: HTTP %ld: authentication refused by the node", method, http);
        return OS_ERR_RPC_TRANSPORT;
    }

    char *body = opt->exact_amounts ? quote_reals(rpc->body.data ? rpc->body.data : "", rpc->body.len) : NULL;
    if (opt->exact_amounts && !body) {
        error_set(e, OS_ERR_RPC_TRANSPORT, http, "out of memory");
        return OS_ERR_RPC_TRANSPORT;
    }
    json_error_t jerr;
    json_t *doc = rpc->body.len == 0 ? NULL
                                      : json_loads(body ? body : rpc->body.data, JSON_REJECT_DUPLICATES, &jerr);
    free(body);
    json_t *jerror = doc && json_is_object(doc) ? json_object_get(doc, "error") : NULL;
    json_t *jid = doc && json_is_object(doc) ? json_object_get(doc, "id") : NULL;
    int id_ok = jid && json_is_integer(jid) && (uint64_t)json_integer_value(jid) == id;

    /* The node's own error: an object with an integer code and a string message. */
    if (jerror && json_is_object(jerror) && (http == 500 || http == 404 || http == 400 || http == 200)) {
        json_t *jc = json_object_get(jerror, "code"), *jm = json_object_get(jerror, "message");
        if (json_is_integer(jc) && json_is_string(jm) && (id_ok || json_is_null(jid))) {
            e->status = OS_ERR_RPC;
            e->code = (int)json_integer_value(jc);
            e->http_status = http;
            e->timed_out = 0;
            snprintf(e->message, sizeof e->message, "%s", json_string_value(jm));
            json_decref(doc);
            return OS_ERR_RPC;
        }
    }
    if (http == 200 && doc && json_is_object(doc) && (!jerror || json_is_null(jerror)) && id_ok &&
        json_object_get(doc, "result")) {
        *result = json_incref(json_object_get(doc, "result"));
        json_decref(doc);
        error_clear(e);
        return OS_OK;
    }
    if (!doc)
        error_set(e, OS_ERR_RPC_TRANSPORT, http, "%s: HTTP %ld with %s", method, http,
                  rpc->body.len == 0 ? "an empty body" : "a body that is not JSON");
    else
        error_set(e, OS_ERR_RPC_TRANSPORT, http, "%s: HTTP %ld without a JSON-RPC result or error%s", method, http,
                  id_ok ? "" : " (or for another request id)");
    json_decref(doc);
    return OS_ERR_RPC_TRANSPORT;
}

static const call_opts plain = {0, 0};

int os_rpc_call(os_rpc *rpc, const char *method, json_t *params, json_t **result, os_rpc_error *error)
{
    if (!rpc || !method || !result || !error || (params && !json_is_array(params))) {
        json_decref(params);
        return OS_ERR_ARG;
    }
    *result = NULL;
    if (!params) params = json_array();
    return rpc_call_opts(rpc, method, params, &plain, result, error);
}

/* ------------------------------------------------------------------ broadcasting */

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The -26 reject reasons of Core 0.20 ValidationState, as the first word of the message. */
static int reject_reason_is(const char *msg, const char *reason)
{
    size_t n = strlen(reason);
    return strncmp(msg, reason, n) == 0 && (msg[n] == '\0' || msg[n] == ',' || msg[n] == ' ' || msg[n] == '(');
}

void os_rpc_classify_broadcast(const os_rpc_error *err, os_broadcast_result *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->cls = OS_BROADCAST_UNKNOWN;
    if (!err) return;
    out->error = *err;
    out->error.message[sizeof out->error.message - 1] = '\0';
    const char *m = out->error.message;
    if (err->status == OS_OK) {
        out->cls = OS_BROADCAST_SENT;
        return;
    }
    if (err->status != OS_ERR_RPC) return; /* transport: says nothing about what the node did */
    switch (err->code) {
    case RPC_VERIFY_ALREADY_IN_CHAIN:
        out->cls = OS_BROADCAST_SENT;
        out->already_confirmed = 1;
        return;
    case RPC_VERIFY_ERROR:
        /* "bad-txns-inputs-missingorspent" / "Missing inputs": our own confirmed and fully spent
         * transaction answers exactly this, so only the chain can tell. */
        out->cls = OS_BROADCAST_CHECK_CHAIN;
        return;
    case RPC_DESERIALIZATION_ERROR:
        out->cls = OS_BROADCAST_NOT_SENT;
        return;
    case RPC_VERIFY_REJECTED:
        if (reject_reason_is(m, "txn-already-in-mempool") || reject_reason_is(m, "txn-already-known") ||
            reject_reason_is(m, "txn-same-nonwitness-data-in-mempool")) {
            /* the same transaction (same txid) is in the mempool: what a sent one looks like */
            out->cls = OS_BROADCAST_SENT;
            return;
        }
        out->cls = OS_BROADCAST_NOT_SENT;
        if (reject_reason_is(m, "txn-mempool-conflict")) {
            out->conflict = 1;
        } else if (starts_with(m, "insufficient fee")) {
            /* a BIP125 replacement refused: it conflicts, and pays too little to replace */
            out->conflict = 1;
            out->fee_too_low = 1;
        } else if (reject_reason_is(m, "min relay fee not met") || reject_reason_is(m, "mempool min fee not met")) {
            out->fee_too_low = 1;
        }
        /* Every other -26 (absurdly-high-fee, dust, version, tx-size, scriptpubkey, script-verify
         * failures, premature coinbase spend, too-long-mempool-chain, …) is a refusal of this
         * submission by validation: the node did not take it. */
        return;
    default:
        return; /* a code this client does not know: assume it may have been sent */
    }
}

int os_rpc_sendrawtransaction(os_rpc *rpc, const uint8_t *raw, size_t len, os_broadcast_result *res)
{
    ARG_CHECK(res != NULL);
    memset(res, 0, sizeof *res);
    res->cls = OS_BROADCAST_UNKNOWN;
    ARG_CHECK(rpc != NULL && raw != NULL && len > 0 && len <= RPC_MAX_BODY / 4);
    char *hex = malloc(2 * len + 1);
    if (!hex) {
        error_set(&res->error, OS_ERR_RPC_TRANSPORT, 0, "out of memory before sending");
        return OS_OK; /* classified UNKNOWN: nothing was sent, but UNKNOWN is always safe */
    }
    os_hex_encode(raw, len, hex);
    json_t *params = json_pack("[s]", hex);
    free(hex);
    os_rpc_error e;
    json_t *result = NULL;
    /* A fresh connection: curl silently re-sends a request whose reused keep-alive connection died
     * before any answer byte; a broadcast is sent exactly once per call, and the caller decides. */
    static const call_opts once = {1, 0};
    int s = rpc_call_opts(rpc, "sendrawtransaction", params, &once, &result, &e);
    if (s == OS_OK && !json_is_string(result)) malformed(&e, "sendrawtransaction", "result is not a txid");
    json_decref(result);
    os_rpc_classify_broadcast(&e, res);
    return OS_OK;
}

/* ------------------------------------------------------------------ chain queries */

static const call_opts exact = {0, 1};

int os_rpc_getblockcount(os_rpc *rpc, uint64_t *height, os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && height != NULL && error != NULL);
    json_t *r = NULL;
    CHECK_OK(rpc_call_opts(rpc, "getblockcount", json_array(), &exact, &r, error));
    int ok = json_is_integer(r) && json_integer_value(r) >= 0;
    if (ok) *height = (uint64_t)json_integer_value(r);
    json_decref(r);
    return ok ? OS_OK : malformed(error, "getblockcount", "not a height");
}

static int decode_raw(const char *txhex, uint8_t **raw, size_t *raw_len)
{
    size_t n = strlen(txhex) / 2;
    uint8_t *buf = malloc(n ? n : 1);
    size_t got = 0;
    if (!buf || os_hex_decode(txhex, buf, n, &got) != OS_OK || got == 0) {
        free(buf);
        return -1;
    }
    *raw = buf;
    *raw_len = got;
    return 0;
}

/* One raw transaction of the scan (hex), given to f. Returns f's answer, or 0 for hex that does not
 * decode (nothing a scan could match). */
static int scan_one(const char *hex, uint64_t height, int (*f)(void *ctx, const uint8_t *raw, size_t len, uint64_t height),
                    void *ctx)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    if (!hex || decode_raw(hex, &raw, &len) != 0) return 0;
    int stop = f(ctx, raw, len, height);
    free(raw);
    return stop;
}

int os_rpc_scan_transactions(os_rpc *rpc, uint64_t from_height, uint64_t *tip, size_t *unread,
                             int (*f)(void *ctx, const uint8_t *raw, size_t len, uint64_t height), void *ctx,
                             os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && tip != NULL && unread != NULL && f != NULL && error != NULL);
    *unread = 0;
    json_t *r = NULL;
    CHECK_OK(os_rpc_getblockcount(rpc, tip, error));
    int stop = 0;
    for (uint64_t h = from_height; !stop && h <= *tip; h++) {
        CHECK_OK(rpc_call_opts(rpc, "getblockhash", json_pack("[I]", (json_int_t)h), &plain, &r, error));
        json_t *block = NULL;
        int s = json_is_string(r) ? rpc_call_opts(rpc, "getblock", json_pack("[s, i]", json_string_value(r), 2), &plain,
                                                  &block, error)
                                  : malformed(error, "getblockhash", "not a hash");
        json_decref(r);
        r = NULL;
        if (s != OS_OK) return s;
        json_t *txs = json_object_get(block, "tx");
        size_t i;
        json_t *t;
        json_array_foreach(txs, i, t) {
            if (stop) break;
            stop = scan_one(json_string_value(json_object_get(t, "hex")), h, f, ctx);
        }
        json_decref(block);
    }
    if (stop) return OS_OK;
    CHECK_OK(rpc_call_opts(rpc, "getrawmempool", json_array(), &plain, &r, error));
    size_t i;
    json_t *id;
    json_array_foreach(r, i, id) {
        if (stop || !json_is_string(id)) continue;
        json_t *hex = NULL;
        os_rpc_error e2;
        /* a transaction that left the mempool meanwhile is not an error of the scan */
        if (rpc_call_opts(rpc, "getrawtransaction", json_pack("[s]", json_string_value(id)), &plain, &hex, &e2) != OS_OK) {
            (*unread)++;
            continue;
        }
        stop = scan_one(json_string_value(hex), 0, f, ctx);
        json_decref(hex);
    }
    json_decref(r);
    return OS_OK;
}

/* The chain half of a lookup on a node without -txindex, from the wallet (gettransaction with
 * include_watchonly): every transaction that funds or spends the hot wallet's imported addresses is
 * a wallet transaction. Called only after getrawtransaction said "not in the mempool". */
static int wallet_transaction(os_rpc *rpc, const char *txid_hex, os_rpc_txstatus *st, uint8_t **raw,
                              size_t *raw_len, os_rpc_error *error)
{
    json_t *r = NULL;
    int s = rpc_call_opts(rpc, "gettransaction", json_pack("[s, b]", txid_hex, 1), &exact, &r, error);
    if (s == OS_ERR_RPC && error->code == RPC_INVALID_ADDRESS_OR_KEY) {
        /* not a wallet transaction either: the node cannot say whether it is in the chain */
        snprintf(error->message, sizeof error->message,
                 "transaction %s is not in the mempool, and the node has no -txindex and no wallet entry for it",
                 txid_hex);
        return OS_ERR_RPC;
    }
    CHECK_OK(s);
    json_t *jconf = json_object_get(r, "confirmations"), *jh = json_object_get(r, "blockheight");
    const char *txhex = json_string_value(json_object_get(r, "hex"));
    if (!json_is_object(r) || !json_is_integer(jconf) || !txhex) {
        json_decref(r);
        return malformed(error, "gettransaction", "no confirmations or hex");
    }
    json_int_t conf = json_integer_value(jconf);
    if (conf <= 0) {
        /* unconfirmed (0) or conflicted (negative), and not in the mempool: neither here nor there */
        json_decref(r);
        return OS_OK;
    }
    if (!json_is_integer(jh) || json_integer_value(jh) < 0) {
        json_decref(r);
        return malformed(error, "gettransaction", "confirmed without blockheight");
    }
    if (raw && decode_raw(txhex, raw, raw_len) != 0) {
        json_decref(r);
        return malformed(error, "gettransaction", "hex is not a transaction");
    }
    st->found = 1;
    st->confirmations = conf > UINT32_MAX ? UINT32_MAX : (uint32_t)conf;
    st->block_height = (uint64_t)json_integer_value(jh);
    json_decref(r);
    return OS_OK;
}

int os_rpc_get_transaction(os_rpc *rpc, const uint8_t txid[32], os_rpc_txstatus *st, uint8_t **raw,
                           size_t *raw_len, os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && txid != NULL && st != NULL && error != NULL && (raw == NULL || raw_len != NULL));
    memset(st, 0, sizeof *st);
    if (raw) {
        *raw = NULL;
        *raw_len = 0;
    }
    char hex[65];
    os_txid_to_hex(txid, hex);
    json_t *r = NULL;
    int s = rpc_call_opts(rpc, "getrawtransaction", json_pack("[s, b]", hex, 1), &exact, &r, error);
    if (s == OS_ERR_RPC && error->code == RPC_INVALID_ADDRESS_OR_KEY &&
        starts_with(error->message, "No such mempool or blockchain transaction")) {
        /* Only this wording is a definite "not found" (a node with -txindex). */
        error_clear(error);
        return OS_OK;
    }
    if (s == OS_ERR_RPC && error->code == RPC_INVALID_ADDRESS_OR_KEY &&
        starts_with(error->message, "No such mempool transaction")) {
        /* No -txindex (or still being built): the mempool was checked, the chain was not. */
        return wallet_transaction(rpc, hex, st, raw, raw_len, error);
    }
    CHECK_OK(s);
    const char *txhex = json_string_value(json_object_get(r, "hex"));
    json_t *jconf = json_object_get(r, "confirmations");
    const char *blockhash = json_string_value(json_object_get(r, "blockhash"));
    if (!json_is_object(r) || !txhex || (jconf && (!json_is_integer(jconf) || json_integer_value(jconf) < 0))) {
        json_decref(r);
        return malformed(error, "getrawtransaction", "no hex or bad confirmations");
    }
    st->found = 1;
    json_int_t conf = jconf ? json_integer_value(jconf) : 0;
    if (conf == 0 || !blockhash) {
        st->in_mempool = 1;
    } else {
        st->confirmations = conf > UINT32_MAX ? UINT32_MAX : (uint32_t)conf;
        /* verbose getrawtransaction has no height: ask for the block's header (no race with the tip,
         * unlike tip - confirmations + 1) */
        json_t *h = NULL;
        s = rpc_call_opts(rpc, "getblockheader", json_pack("[s, b]", blockhash, 1), &exact, &h, error);
        if (s != OS_OK) {
            json_decref(r);
            return s;
        }
        json_t *jh = json_object_get(h, "height");
        if (!json_is_integer(jh) || json_integer_value(jh) < 0) {
            json_decref(h);
            json_decref(r);
            return malformed(error, "getblockheader", "no height");
        }
        st->block_height = (uint64_t)json_integer_value(jh);
        json_decref(h);
    }
    if (raw && decode_raw(txhex, raw, raw_len) != 0) {
        json_decref(r);
        memset(st, 0, sizeof *st);
        return malformed(error, "getrawtransaction", "hex is not a transaction");
    }
    json_decref(r);
    return OS_OK;
}

int os_rpc_gettxout(os_rpc *rpc, const os_outpoint *out, int include_mempool, int *unspent, uint64_t *amount,
                    uint32_t *confirmations, os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && out != NULL && unspent != NULL && error != NULL);
    *unspent = 0;
    char hex[65];
    os_txid_to_hex(out->txid, hex);
    json_t *r = NULL;
    CHECK_OK(rpc_call_opts(rpc, "gettxout", json_pack("[s, I, b]", hex, (json_int_t)out->vout, include_mempool != 0),
                           &exact, &r, error));
    if (json_is_null(r)) {
        json_decref(r);
        return OS_OK;
    }
    uint64_t value;
    json_t *jconf = json_object_get(r, "confirmations");
    if (!json_is_object(r) || json_amount(json_object_get(r, "value"), &value) != 0 || !json_is_integer(jconf) ||
        json_integer_value(jconf) < 0) {
        json_decref(r);
        return malformed(error, "gettxout", "no exact value or confirmations");
    }
    *unspent = 1;
    if (amount) *amount = value;
    if (confirmations) {
        json_int_t c = json_integer_value(jconf);
        *confirmations = c > UINT32_MAX ? UINT32_MAX : (uint32_t)c;
    }
    json_decref(r);
    return OS_OK;
}

int os_rpc_estimatesmartfee(os_rpc *rpc, int conf_target, uint64_t *sat_per_kvb, int *available,
                            os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && sat_per_kvb != NULL && available != NULL && error != NULL);
    ARG_CHECK(conf_target >= 1 && conf_target <= 1008);
    *available = 0;
    json_t *r = NULL;
    CHECK_OK(rpc_call_opts(rpc, "estimatesmartfee", json_pack("[i]", conf_target), &exact, &r, error));
    if (!json_is_object(r)) {
        json_decref(r);
        return malformed(error, "estimatesmartfee", "not an object");
    }
    json_t *fr = json_object_get(r, "feerate");
    if (!fr) {
        /* {"errors":["Insufficient data or no feerate found"],"blocks":0}: no estimate */
        json_decref(r);
        return OS_OK;
    }
    uint64_t v;
    if (json_amount(fr, &v) != 0) {
        json_decref(r);
        return malformed(error, "estimatesmartfee", "feerate is not an exact amount");
    }
    *sat_per_kvb = v; /* MONA per kvB × 10^8 = sat per kvB */
    *available = 1;
    json_decref(r);
    return OS_OK;
}

int os_rpc_import_addresses(os_rpc *rpc, const char *const *addresses, size_t n, os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && error != NULL && (addresses != NULL || n == 0));
    for (size_t i = 0; i < n; i++) ARG_CHECK(addresses[i] && strlen(addresses[i]) <= OS_MAX_ADDRESS);
    error_clear(error);
    if (n == 0) return OS_OK;
    json_t *reqs = json_array();
    for (size_t i = 0; reqs && i < n; i++) {
        json_t *one = json_pack("{s:{s:s}, s:s, s:b}", "scriptPubKey", "address", addresses[i], "timestamp", "now",
                                "watchonly", 1);
        if (!one || json_array_append_new(reqs, one) != 0) {
            json_decref(reqs);
            reqs = NULL;
        }
    }
    json_t *params = reqs ? json_pack("[o]", reqs) : NULL;
    if (!params) {
        error_set(error, OS_ERR_RPC_TRANSPORT, 0, "out of memory");
        return OS_ERR_RPC_TRANSPORT;
    }
    json_t *r = NULL;
    CHECK_OK(rpc_call_opts(rpc, "importmulti", params, &exact, &r, error));
    if (!json_is_array(r) || json_array_size(r) != n) {
        json_decref(r);
        return malformed(error, "importmulti", "not one answer per address");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(r, i);
        if (json_is_true(json_object_get(a, "success"))) continue;
        json_t *je = json_object_get(a, "error");
        json_t *jc = json_object_get(je, "code"), *jm = json_object_get(je, "message");
        error->status = OS_ERR_RPC;
        error->http_status = 200;
        error->code = json_is_integer(jc) ? (int)json_integer_value(jc) : 0;
        snprintf(error->message, sizeof error->message, "importmulti %s: %s", addresses[i],
                 json_is_string(jm) ? json_string_value(jm) : "failed");
        json_decref(r);
        return OS_ERR_RPC;
    }
    json_decref(r);
    return OS_OK;
}

static int utxo_from_json(const json_t *x, os_rpc_utxo *u)
{
    memset(u, 0, sizeof *u);
    const char *txid = json_string_value(json_object_get(x, "txid"));
    json_t *jv = json_object_get(x, "vout"), *jc = json_object_get(x, "confirmations");
    const char *spk = json_string_value(json_object_get(x, "scriptPubKey"));
    const char *addr = json_string_value(json_object_get(x, "address"));
    if (!txid || os_txid_from_hex(txid, u->outpoint.txid) != OS_OK) return -1;
    if (!json_is_integer(jv) || json_integer_value(jv) < 0 || json_integer_value(jv) > UINT32_MAX) return -1;
    u->outpoint.vout = (uint32_t)json_integer_value(jv);
    if (json_amount(json_object_get(x, "amount"), &u->amount) != 0) return -1;
    if (!json_is_integer(jc) || json_integer_value(jc) < 0) return -1;
    u->confirmations = json_integer_value(jc) > UINT32_MAX ? UINT32_MAX : (uint32_t)json_integer_value(jc);
    if (!spk || os_hex_decode(spk, u->script, sizeof u->script, &u->script_len) != OS_OK) return -1;
    if (addr) {
        if (strlen(addr) > OS_MAX_ADDRESS) return -1;
        memcpy(u->address, addr, strlen(addr) + 1);
    }
    return 0;
}

int os_rpc_listunspent(os_rpc *rpc, uint32_t minconf, const char *const *addresses, size_t n_addresses,
                       os_rpc_utxo **out, size_t *n, os_rpc_error *error)
{
    ARG_CHECK(rpc != NULL && out != NULL && n != NULL && error != NULL && (addresses != NULL || n_addresses == 0));
    *out = NULL;
    *n = 0;
    json_t *filter = json_array();
    for (size_t i = 0; filter && i < n_addresses; i++) {
        if (!addresses[i] || json_array_append_new(filter, json_string(addresses[i])) != 0) {
            json_decref(filter);
            return OS_ERR_ARG;
        }
    }
    json_t *params = filter ? json_pack("[I, I, o]", (json_int_t)minconf, (json_int_t)9999999, filter) : NULL;
    if (!params) {
        error_set(error, OS_ERR_RPC_TRANSPORT, 0, "out of memory");
        return OS_ERR_RPC_TRANSPORT;
    }
    json_t *r = NULL;
    CHECK_OK(rpc_call_opts(rpc, "listunspent", params, &exact, &r, error));
    if (!json_is_array(r)) {
        json_decref(r);
        return malformed(error, "listunspent", "not an array");
    }
    size_t count = json_array_size(r);
    os_rpc_utxo *list = calloc(count ? count : 1, sizeof *list);
    if (!list) {
        json_decref(r);
        error_set(error, OS_ERR_RPC_TRANSPORT, 200, "out of memory for %zu coins", count);
        return OS_ERR_RPC_TRANSPORT;
    }
    for (size_t i = 0; i < count; i++) {
        if (utxo_from_json(json_array_get(r, i), &list[i]) != 0) {
            free(list);
            json_decref(r);
            return malformed(error, "listunspent", "an entry without txid, vout, exact amount or script");
        }
    }
    json_decref(r);
    *out = list;
    *n = count;
    return OS_OK;
}
