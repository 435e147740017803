/* oncesign host — the HTTP/JSON API (contract in api.h, endpoints in docs/API.md).
 *
 * Order of checks for every request, all made before any body byte is read: route (404), method
 * (405), bearer token (401), declared Content-Length (413). Only then is the body accumulated (up
 * to max_body), parsed and validated completely, and only a request that passed every check
 * reaches the engine. The engine call is the single place where the ledger can change, so a
 * refused request cannot change it.
 */
#include "api.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "crypto.h"
#include "errtext.h"
#include "oncesign/check.h"
#include "oncesign/status.h"
#include "rpc.h"

#define API_DEFAULT_MAX_BODY   (16u * 1024u)
#define API_DEFAULT_THREADS    4u
#define API_TOKEN_MIN          16u
#define API_TOKEN_MAX          256u
#define API_MAX_SAFE_INT       ((int64_t)1 << 53)   /* JSON numbers above lose precision in most clients */
#define API_LIST_DEFAULT       100u
#define API_LIST_MAX           1000u
#define API_CODE_MAX           64u
/* A chunked body (no Content-Length) over max_body is drained up to this much so the client gets
 * its 413; beyond it the connection is dropped. */
#define API_DRAIN_MAX          (1024u * 1024u)

/* ---- endpoints and metrics ---- */

typedef enum {
    EP_CODE_ISSUE = 0,
    EP_CODE_LOOKUP,
    EP_CODE_REDEEM,
    EP_PAYOUT_CREATE,
    EP_PAYOUT_GET,
    EP_PAYOUT_LIST,
    EP_WALLET,
    EP_HEALTH,
    EP_METRICS,
    EP_OTHER,               /* unknown path */
    EP_COUNT
} api_endpoint;

static const char *const endpoint_names[EP_COUNT] = {
    "code_issue", "code_lookup", "code_redeem", "payout_create", "payout_get",
    "payout_list", "wallet", "health", "metrics", "other",
};

static const unsigned tracked_http[] = { 200, 201, 400, 401, 404, 405, 409, 410, 413, 422, 500, 503 };
#define N_HTTP (sizeof tracked_http / sizeof tracked_http[0] + 1)   /* last slot: any other */

static const uint64_t latency_bounds_us[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};
#define N_BUCKETS (sizeof latency_bounds_us / sizeof latency_bounds_us[0])

struct os_api {
    os_engine *engine;
    struct MHD_Daemon *daemon;
    uint8_t token_hash[32];
    size_t max_body;
    uint16_t port;
    _Atomic uint64_t requests[EP_COUNT][N_HTTP];
    _Atomic uint64_t latency_bucket[EP_COUNT][N_BUCKETS];  /* non-cumulative; summed when exposed */
    _Atomic uint64_t latency_count[EP_COUNT];
    _Atomic uint64_t latency_sum_us[EP_COUNT];
};

/* One request's state, from its headers to its completion. */
typedef struct {
    struct timespec start;
    api_endpoint ep;
    unsigned http_status;   /* 0 until a response is queued */
    int too_large;
    int responded;          /* a response was queued before the body ended */
    size_t drained;
    char *body;
    size_t body_len, body_cap;
    char code[API_CODE_MAX + 1];
    int64_t payout_id;
} api_request;

static uint64_t elapsed_us(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t us = (int64_t)(now.tv_sec - start->tv_sec) * 1000000 + (now.tv_nsec - start->tv_nsec) / 1000;
    return us < 0 ? 0 : (uint64_t)us;
}

static void record(os_api *api, const api_request *r) {
    size_t slot = N_HTTP - 1;
    for (size_t i = 0; i < N_HTTP - 1; i++) {
        if (tracked_http[i] == r->http_status) { slot = i; break; }
    }
    atomic_fetch_add_explicit(&api->requests[r->ep][slot], 1, memory_order_relaxed);
    uint64_t us = elapsed_us(&r->start);
    size_t b = 0;
    while (b < N_BUCKETS && us > latency_bounds_us[b]) b++;
    if (b < N_BUCKETS) atomic_fetch_add_explicit(&api->latency_bucket[r->ep][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&api->latency_count[r->ep], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&api->latency_sum_us[r->ep], us, memory_order_relaxed);
}

/* ---- status mapping ---- */

unsigned os_api_http_status(int status) {
    switch (status) {
    case OS_OK: return 200;
    case OS_ERR_ARG:
    case OS_ERR_BAD_REQUEST: return 400;
    case OS_ERR_AUTH: return 401;
    case OS_ERR_NOT_FOUND: return 404;
    case OS_ERR_IDEMPOTENCY: return 409;
    case OS_ERR_CODE_EXPIRED: return 410;
    case OS_ERR_TOO_LARGE: return 413;
    case OS_ERR_ADDRESS:
    case OS_ERR_AMOUNT: return 422;
    case OS_ERR_IO:
    case OS_ERR_TIMEOUT:
    case OS_ERR_BUSY:
    case OS_ERR_UNSUPPORTED:
    case OS_ERR_RPC:
    case OS_ERR_RPC_TRANSPORT:
    case OS_ERR_FUNDS:
    case OS_ERR_SIGNER_MISMATCH:
    case OS_ERR_SIGNER_UNAVAILABLE:
    case OS_ERR_NOT_INITIALIZED: return 503;
    default: return 500;
    }
}

/* ---- responses ---- */

static void free_wiped(void *p) {
    if (p != NULL) {
        crypto_wipe(p, strlen(p));
        free(p);
    }
}

/* Queues a JSON document (consumed). Every body, errors included, is JSON. */
static enum MHD_Result send_json(struct MHD_Connection *c, api_request *r, unsigned http, json_t *doc,
                                 const char *extra_header, const char *extra_value) {
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (text == NULL) {
        http = 500;
        text = strdup("{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
        if (text == NULL) return MHD_NO;
    }
    size_t len = strlen(text);
    /* Wiped on free: a response may carry a gift code, shown once. */
    struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, text, free_wiped);
    if (resp == NULL) {
        free_wiped(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (extra_header != NULL) MHD_add_response_header(resp, extra_header, extra_value);
    enum MHD_Result ok = MHD_queue_response(c, http, resp);
    MHD_destroy_response(resp);
    r->http_status = http;
    r->responded = 1;
    return ok;
}

static enum MHD_Result send_error_http(struct MHD_Connection *c, api_request *r, unsigned http, int status,
                                       const char *message, const char *extra_header, const char *extra_value) {
    json_t *doc = json_pack("{s:{s:s,s:s}}", "error", "code", os_status_name(status), "message",
                            message != NULL && message[0] != '\0' ? message : os_status_message(status));
    return send_json(c, r, http, doc, extra_header, extra_value);
}

static enum MHD_Result send_error(struct MHD_Connection *c, api_request *r, int status, const char *message) {
    return send_error_http(c, r, os_api_http_status(status), status, message,
                           status == OS_ERR_AUTH ? MHD_HTTP_HEADER_WWW_AUTHENTICATE : NULL, "Bearer");
}

static json_t *json_nullable_int(int64_t v, int present) {
    return present ? json_integer((json_int_t)v) : json_null();
}

static json_t *payout_json(const os_payout_info *p) {
    char txid[65];
    if (p->has_txid) os_txid_to_hex(p->txid, txid);
    json_t *o = json_object();
    if (o == NULL) return NULL;
    json_object_set_new(o, "id", json_integer(p->id));
    json_object_set_new(o, "status", json_string(os_payout_status_name(p->status)));
    json_object_set_new(o, "amount", json_integer((json_int_t)p->amount));
    json_object_set_new(o, "address", json_string(p->address));
    json_object_set_new(o, "txid", p->has_txid ? json_string(txid) : json_null());
    json_object_set_new(o, "confirmations", json_integer(p->confirmations));
    json_object_set_new(o, "created_at", json_integer(p->created_at));
    json_object_set_new(o, "updated_at", json_integer(p->updated_at));
    json_object_set_new(o, "code_id", p->code_id[0] != '\0' ? json_string(p->code_id) : json_null());
    json_object_set_new(o, "idempotency_key",
                        p->idempotency_key[0] != '\0' ? json_stringn(p->idempotency_key,
                                                                     strnlen(p->idempotency_key, 128))
                                                      : json_null());
    json_object_set_new(o, "error", p->status == OS_PAYOUT_FAILED || p->error[0] != '\0'
                                        ? json_string(p->error[0] != '\0' ? p->error : "failed")
                                        : json_null());
    return o;
}

/* ---- request bodies ---- */

/* The member name of doc, which the request must have: OS_OK with *value, or OS_ERR_BAD_REQUEST. */
static int required_field(json_t *doc, const char *name, json_t **value, char *why, size_t cap) {
    *value = json_object_get(doc, name);
    if (*value != NULL) return OS_OK;
    os_errf(why, cap, "\"%s\" is required", name);
    return OS_ERR_BAD_REQUEST;
}

/* Printable ASCII without spaces: what addresses and idempotency keys are made of. */
static int printable_token(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x21 || ch > 0x7e) return 0;
    }
    return 1;
}

static int parse_amount(json_t *v, const char *name, uint64_t *out, char *why, size_t cap) {
    if (!json_is_integer(v)) {
        os_errf(why, cap, "\"%s\" must be an integer number of satoshi (not a string, fraction or exponent)", name);
        return OS_ERR_BAD_REQUEST;
    }
    json_int_t n = json_integer_value(v);
    if (n <= 0 || n >= API_MAX_SAFE_INT) {
        os_errf(why, cap, "\"%s\" must be between 1 and 2^53-1 satoshi", name);
        return OS_ERR_AMOUNT;
    }
    *out = (uint64_t)n;
    return OS_OK;
}

static int parse_address(json_t *v, char out[OS_MAX_ADDRESS + 1], char *why, size_t cap) {
    if (!json_is_string(v)) {
        os_errf(why, cap, "\"address\" must be a string");
        return OS_ERR_BAD_REQUEST;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (len == 0 || len > OS_MAX_ADDRESS || !printable_token(s, len)) {
        os_errf(why, cap, "\"address\" must be 1 to %d printable ASCII characters", OS_MAX_ADDRESS);
        return OS_ERR_ADDRESS;
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return OS_OK;
}

static int valid_key(const char *s, size_t len) {
    return len >= 1 && len <= 128 && printable_token(s, len);
}

int os_api_parse_request(os_api_body_kind kind, const char *body, size_t len, const char *header_key,
                         os_api_request *out, char *why, size_t cap) {
    ARG_CHECK(out != NULL);
    memset(out, 0, sizeof *out);
    if (why != NULL && cap > 0) why[0] = '\0';
    ARG_CHECK(kind == OS_API_BODY_ISSUE_CODE || kind == OS_API_BODY_REDEEM || kind == OS_API_BODY_PAYOUT);
    ARG_CHECK(body != NULL || len == 0);

    if (len == 0) {
        os_errf(why, cap, "the request needs a JSON object body");
        return OS_ERR_BAD_REQUEST;
    }
    /* Checked here, not left to jansson: 2.14 accepts '{"amount":1000<NUL>}' as {"amount":1000}
     * (found by fuzz_api_json), and no valid JSON text holds a raw NUL. */
    if (memchr(body, '\0', len) != NULL) {
        os_errf(why, cap, "the body holds a NUL byte");
        return OS_ERR_BAD_REQUEST;
    }
    json_error_t jerr;
    /* Duplicate keys are refused: two "amount"s would let a proxy and this server read two
     * different requests. \u0000 is refused (no JSON_ALLOW_NUL);
     * jansson caps nesting depth, so hostile nesting cannot exhaust the stack. */
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        os_errf(why, cap, "malformed JSON at byte %d: %s", jerr.position, jerr.text);
        return OS_ERR_BAD_REQUEST;
    }
    int rc = OS_OK;
    if (!json_is_object(doc)) {
        os_errf(why, cap, "the body must be a JSON object");
        rc = OS_ERR_BAD_REQUEST;
        goto done;
    }

    const char *key;
    json_t *val;
    /* Unknown fields are refused, not ignored: "ammount" must not become a payout of 0. */
    json_object_foreach(doc, key, val) {
        int known = 0;
        switch (kind) {
        case OS_API_BODY_ISSUE_CODE:
            known = strcmp(key, "amount") == 0 || strcmp(key, "expires_at") == 0;
            break;
        case OS_API_BODY_REDEEM:
            known = strcmp(key, "address") == 0;
            break;
        case OS_API_BODY_PAYOUT:
            known = strcmp(key, "address") == 0 || strcmp(key, "amount") == 0 || strcmp(key, "idempotency_key") == 0;
            break;
        }
        if (!known) {
            char shown[48];
            size_t n = strnlen(key, sizeof shown - 1);
            memcpy(shown, key, n);
            shown[n] = '\0';
            for (size_t i = 0; i < n; i++) {
                if ((unsigned char)shown[i] < 0x20 || (unsigned char)shown[i] > 0x7e) shown[i] = '?';
            }
            os_errf(why, cap, "unknown field \"%s\"", shown);
            rc = OS_ERR_BAD_REQUEST;
            goto done;
        }
    }

    if (kind == OS_API_BODY_ISSUE_CODE || kind == OS_API_BODY_PAYOUT) {
        json_t *amount = NULL;
        if ((rc = required_field(doc, "amount", &amount, why, cap)) != OS_OK) goto done;
        if ((rc = parse_amount(amount, "amount", &out->amount, why, cap)) != OS_OK) goto done;
    }
    if (kind == OS_API_BODY_ISSUE_CODE) {
        json_t *exp = json_object_get(doc, "expires_at");
        if (exp != NULL && !json_is_null(exp)) {
            if (!json_is_integer(exp) || json_integer_value(exp) <= 0 ||
                json_integer_value(exp) >= API_MAX_SAFE_INT) {
                os_errf(why, cap, "\"expires_at\" must be a positive integer (unix seconds) or null");
                rc = OS_ERR_BAD_REQUEST;
                goto done;
            }
            out->expires_at = (int64_t)json_integer_value(exp);
        }
    }
    if (kind == OS_API_BODY_REDEEM || kind == OS_API_BODY_PAYOUT) {
        json_t *addr = NULL;
        if ((rc = required_field(doc, "address", &addr, why, cap)) != OS_OK) goto done;
        if ((rc = parse_address(addr, out->address, why, cap)) != OS_OK) goto done;
    }
    if (kind == OS_API_BODY_PAYOUT) {
        json_t *k = json_object_get(doc, "idempotency_key");
        const char *body_key = NULL;
        size_t body_key_len = 0;
        if (k != NULL) {
            if (!json_is_string(k) || !valid_key(json_string_value(k), json_string_length(k))) {
                os_errf(why, cap, "\"idempotency_key\" must be 1 to 128 printable ASCII characters");
                rc = OS_ERR_BAD_REQUEST;
                goto done;
            }
            body_key = json_string_value(k);
            body_key_len = json_string_length(k);
        }
        if (header_key != NULL && !valid_key(header_key, strlen(header_key))) {
            os_errf(why, cap, "the Idempotency-Key header must be 1 to 128 printable ASCII characters");
            rc = OS_ERR_BAD_REQUEST;
            goto done;
        }
        if (header_key != NULL && body_key != NULL &&
            (strlen(header_key) != body_key_len || memcmp(header_key, body_key, body_key_len) != 0)) {
            os_errf(why, cap, "the Idempotency-Key header and \"idempotency_key\" differ");
            rc = OS_ERR_BAD_REQUEST;
            goto done;
        }
        const char *use = header_key != NULL ? header_key : body_key;
        if (use == NULL) {
            os_errf(why, cap, "an idempotency key is required (Idempotency-Key header or \"idempotency_key\")");
            rc = OS_ERR_BAD_REQUEST;
            goto done;
        }
        size_t n = header_key != NULL ? strlen(header_key) : body_key_len;
        memcpy(out->idempotency_key, use, n);
        out->idempotency_key[n] = '\0';
    }

done:
    json_decref(doc);
    if (rc != OS_OK) memset(out, 0, sizeof *out);
    return rc;
}

/* ---- auth ---- */

/* Compares hashes so neither the token's bytes nor its length leak through timing. */
static int authorized(const os_api *api, struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) return 0;   /* the scheme is case-insensitive (RFC 7235) */
    const char *tok = h + 7;
    uint8_t hash[32];
    crypto_sha256((const uint8_t *)tok, strlen(tok), hash);
    int ok = crypto_ct_equal(hash, api->token_hash, sizeof hash);
    crypto_wipe(hash, sizeof hash);
    return ok;
}

static int read_token(const char *path, uint8_t hash[32], char *err, size_t cap) {
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        os_errf(err, cap, "token file %s: %s", path, strerror(errno));
        return OS_ERR_IO;
    }
    char line[API_TOKEN_MAX + 2];
    int rc = OS_OK;
    if (fgets(line, sizeof line, f) == NULL) {
        os_errf(err, cap, "token file %s is empty", path);
        rc = OS_ERR_IO;
    } else {
        size_t n = strlen(line);
        int whole_line = n > 0 && line[n - 1] == '\n';
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (!whole_line && !feof(f)) {
            os_errf(err, cap, "token file %s: the token is longer than %u characters", path, API_TOKEN_MAX);
            rc = OS_ERR_IO;
        } else if (n < API_TOKEN_MIN) {
            os_errf(err, cap, "token file %s: the token must be at least %u characters", path, API_TOKEN_MIN);
            rc = OS_ERR_IO;
        } else {
            crypto_sha256((const uint8_t *)line, n, hash);
        }
    }
    crypto_wipe(line, sizeof line);
    fclose(f);
    return rc;
}

/* ---- routing ---- */

typedef struct {
    api_endpoint ep;
    const char *allow;      /* methods this path accepts */
    int needs_auth;
} route_info;

static int valid_code_segment(const char *s, size_t len) {
    if (len == 0 || len > API_CODE_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return 0;
    }
    return 1;
}

static int parse_id(const char *s, size_t len, int64_t *out) {
    if (len == 0 || len > 18) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v <= 0) return 0;
    *out = v;
    return 1;
}

/* Finds the endpoint family of a path; 0 for an unknown path. For methods, the handler checks
 * against allow. */
static int route(const char *url, const char *method, api_request *r, route_info *ri) {
    static const char codes[] = "/v1/codes/";
    static const char payouts[] = "/v1/payouts/";
    memset(ri, 0, sizeof *ri);
    ri->needs_auth = 1;
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/v1/health") == 0) {
        ri->ep = EP_HEALTH; ri->allow = "GET"; ri->needs_auth = 0;
    } else if (strcmp(url, "/metrics") == 0) {
        ri->ep = EP_METRICS; ri->allow = "GET"; ri->needs_auth = 0;
    } else if (strcmp(url, "/v1/wallet") == 0) {
        ri->ep = EP_WALLET; ri->allow = "GET";
    } else if (strcmp(url, "/v1/codes") == 0) {
        ri->ep = EP_CODE_ISSUE; ri->allow = "POST";
    } else if (strcmp(url, "/v1/payouts") == 0) {
        ri->ep = is_get ? EP_PAYOUT_LIST : EP_PAYOUT_CREATE; ri->allow = "GET, POST";
    } else if (strncmp(url, codes, sizeof codes - 1) == 0) {
        const char *seg = url + sizeof codes - 1;
        const char *slash = strchr(seg, '/');
        size_t seg_len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        if (!valid_code_segment(seg, seg_len)) return 0;
        memcpy(r->code, seg, seg_len);
        r->code[seg_len] = '\0';
        if (slash == NULL) {
            ri->ep = EP_CODE_LOOKUP; ri->allow = "GET";
        } else if (strcmp(slash, "/redeem") == 0) {
            ri->ep = EP_CODE_REDEEM; ri->allow = "POST";
        } else {
            return 0;
        }
    } else if (strncmp(url, payouts, sizeof payouts - 1) == 0) {
        const char *seg = url + sizeof payouts - 1;
        if (!parse_id(seg, strlen(seg), &r->payout_id)) return 0;
        ri->ep = EP_PAYOUT_GET; ri->allow = "GET";
    } else {
        return 0;
    }
    return 1;
}

static int method_allowed(const char *allow, const char *method) {
    if (strcmp(method, "HEAD") == 0) return 0;   /* a JSON API: no HEAD */
    size_t n = strlen(method);
    for (const char *p = allow; (p = strstr(p, method)) != NULL; p += n) {
        if ((p == allow || p[-1] == ' ') && (p[n] == '\0' || p[n] == ',')) return 1;
    }
    return 0;
}

/* ---- handlers ---- */

static enum MHD_Result engine_error(struct MHD_Connection *c, api_request *r, int rc) {
    return send_error(c, r, rc, NULL);
}

static enum MHD_Result handle_issue(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_api_request req;
    char why[200];
    int rc = os_api_parse_request(OS_API_BODY_ISSUE_CODE, r->body, r->body_len, NULL, &req, why, sizeof why);
    if (rc != OS_OK) return send_error(c, r, rc, why);
    if (req.expires_at != 0 && req.expires_at <= (int64_t)time(NULL)) {
        return send_error(c, r, OS_ERR_BAD_REQUEST, "\"expires_at\" is in the past");
    }
    char code[65];
    os_code_info info;
    rc = os_engine_issue_code(api->engine, req.amount, req.expires_at, code, &info);
    if (rc != OS_OK) {
        crypto_wipe(code, sizeof code);
        return engine_error(c, r, rc);
    }
    json_t *o = json_object();
    if (o != NULL) {
        json_object_set_new(o, "code", json_string(code));
        json_object_set_new(o, "code_id", json_string(info.code_id));
        json_object_set_new(o, "amount", json_integer((json_int_t)info.amount));
        json_object_set_new(o, "created_at", json_integer(info.created_at));
        json_object_set_new(o, "expires_at", json_nullable_int(info.expires_at, info.expires_at != 0));
    }
    crypto_wipe(code, sizeof code);
    enum MHD_Result res = send_json(c, r, 201, o, NULL, NULL);
    /* jansson keeps its own copy of the code inside the freed object; the dumped text is wiped
     * by free_wiped. */
    return res;
}

static enum MHD_Result handle_lookup(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_code_info info;
    int rc = os_engine_code_lookup(api->engine, r->code, &info);
    if (rc != OS_OK) return engine_error(c, r, rc);
    json_t *o = json_object();
    if (o != NULL) {
        json_object_set_new(o, "code_id", json_string(info.code_id));
        json_object_set_new(o, "amount", json_integer((json_int_t)info.amount));
        json_object_set_new(o, "created_at", json_integer(info.created_at));
        json_object_set_new(o, "expires_at", json_nullable_int(info.expires_at, info.expires_at != 0));
        json_object_set_new(o, "redeemed", json_boolean(info.redeemed));
        json_object_set_new(o, "payout_id", json_nullable_int(info.payout_id, info.redeemed && info.payout_id > 0));
    }
    return send_json(c, r, 200, o, NULL, NULL);
}

static enum MHD_Result handle_redeem(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_api_request req;
    char why[200];
    int rc = os_api_parse_request(OS_API_BODY_REDEEM, r->body, r->body_len, NULL, &req, why, sizeof why);
    if (rc != OS_OK) return send_error(c, r, rc, why);
    os_payout_info p;
    int created = 0;
    rc = os_engine_redeem(api->engine, r->code, req.address, &p, &created);
    if (rc != OS_OK) return engine_error(c, r, rc);
    return send_json(c, r, created ? 201 : 200, payout_json(&p), NULL, NULL);
}

static enum MHD_Result count_idempotency_headers(void *cls, enum MHD_ValueKind kind, const char *key,
                                                 const char *value) {
    (void)kind;
    (void)value;
    if (strcasecmp(key, "Idempotency-Key") == 0) (*(unsigned *)cls)++;
    return MHD_YES;
}

static enum MHD_Result handle_payout_create(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_api_request req;
    char why[200];
    unsigned n_keys = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_idempotency_headers, &n_keys);
    /* Two keys are two answers to "which request is this?": refuse rather than pick one. */
    if (n_keys > 1) return send_error(c, r, OS_ERR_BAD_REQUEST, "more than one Idempotency-Key header");
    const char *hk = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    int rc = os_api_parse_request(OS_API_BODY_PAYOUT, r->body, r->body_len, hk, &req, why, sizeof why);
    if (rc != OS_OK) return send_error(c, r, rc, why);
    os_payout_info p;
    int created = 0;
    rc = os_engine_payout_create(api->engine, req.idempotency_key, req.address, req.amount, &p, &created);
    if (rc != OS_OK) return engine_error(c, r, rc);
    return send_json(c, r, created ? 201 : 200, payout_json(&p), NULL, NULL);
}

static enum MHD_Result handle_payout_get(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_payout_info p;
    int rc = os_engine_payout_get(api->engine, r->payout_id, &p);
    if (rc != OS_OK) return engine_error(c, r, rc);
    return send_json(c, r, 200, payout_json(&p), NULL, NULL);
}

typedef struct {
    int bad;
    unsigned seen[3];       /* status, after, limit */
    char name[40];
} query_check;

static enum MHD_Result check_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    (void)value;
    query_check *q = cls;
    static const char *const names[3] = { "status", "after", "limit" };
    int which = -1;
    for (int i = 0; i < 3; i++) {
        if (strcmp(key, names[i]) == 0) which = i;
    }
    if (which >= 0 && ++q->seen[which] > 1) {
        q->bad = 2;
        snprintf(q->name, sizeof q->name, "%s", names[which]);
        return MHD_NO;
    }
    if (which < 0) {
        q->bad = 1;
        size_t n = strnlen(key, sizeof q->name - 1);
        memcpy(q->name, key, n);
        q->name[n] = '\0';
        for (size_t i = 0; i < n; i++) {
            if ((unsigned char)q->name[i] < 0x20 || (unsigned char)q->name[i] > 0x7e) q->name[i] = '?';
        }
        return MHD_NO;
    }
    return MHD_YES;
}

static int parse_uint_arg(const char *s, int64_t max, int64_t *out) {
    size_t n = strlen(s);
    if (n == 0 || n > 18) return 0;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return 0;
    *out = v;
    return 1;
}

static enum MHD_Result handle_payout_list(os_api *api, struct MHD_Connection *c, api_request *r) {
    query_check q;
    memset(&q, 0, sizeof q);
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_query_arg, &q);
    if (q.bad) {
        char why[96];
        snprintf(why, sizeof why, q.bad == 2 ? "query parameter \"%s\" given twice"
                                             : "unknown query parameter \"%s\" (status, after, limit)",
                 q.name);
        return send_error(c, r, OS_ERR_BAD_REQUEST, why);
    }
    os_payout_status status = 0;
    int64_t after = 0, limit = API_LIST_DEFAULT;
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "status");
    if (s != NULL && s[0] != '\0' && os_payout_status_parse(s, &status) != OS_OK) {
        return send_error(c, r, OS_ERR_BAD_REQUEST,
                          "unknown status (requested, awaiting_approval, signing, signed, broadcast, confirmed, failed)");
    }
    s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    if (s != NULL && !parse_uint_arg(s, INT64_MAX / 2, &after)) {
        return send_error(c, r, OS_ERR_BAD_REQUEST, "\"after\" must be a payout id (a non-negative integer)");
    }
    s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    if (s != NULL && (!parse_uint_arg(s, API_LIST_MAX, &limit) || limit == 0)) {
        return send_error(c, r, OS_ERR_BAD_REQUEST, "\"limit\" must be an integer from 1 to 1000");
    }
    os_payout_info *list = calloc((size_t)limit, sizeof *list);
    if (list == NULL) return send_error(c, r, OS_ERR_INTERNAL, "out of memory");
    size_t n = 0;
    int rc = os_engine_payout_list(api->engine, status, after, (size_t)limit, list, &n);
    if (rc != OS_OK) {
        free(list);
        return engine_error(c, r, rc);
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) json_array_append_new(arr, payout_json(&list[i]));
    json_t *o = json_object();
    if (o != NULL) {
        json_object_set_new(o, "payouts", arr);
        json_object_set_new(o, "next_after", json_nullable_int(n > 0 ? list[n - 1].id : 0, n == (size_t)limit));
    } else {
        json_decref(arr);
    }
    free(list);
    return send_json(c, r, 200, o, NULL, NULL);
}

static enum MHD_Result handle_wallet(os_api *api, struct MHD_Connection *c, api_request *r) {
    char address[OS_MAX_ADDRESS + 1];
    uint64_t confirmed = 0, unconfirmed = 0;
    int rc = os_engine_receive_address(api->engine, address);
    if (rc != OS_OK) return engine_error(c, r, rc);
    rc = os_engine_balance(api->engine, &confirmed, &unconfirmed);
    if (rc != OS_OK) return engine_error(c, r, rc);
    json_t *o = json_pack("{s:s,s:{s:I,s:I}}", "receive_address", address, "balance", "confirmed",
                          (json_int_t)confirmed, "unconfirmed", (json_int_t)unconfirmed);
    return send_json(c, r, 200, o, NULL, NULL);
}

static enum MHD_Result handle_health(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_engine_health h;
    memset(&h, 0, sizeof h);
    int rc = os_engine_health_get(api->engine, &h);
    int ok = rc == OS_OK && h.ledger_ok && h.signer_ok && h.node_ok;
    json_t *o = json_object();
    if (o != NULL) {
        json_object_set_new(o, "ok", json_boolean(ok));
        json_object_set_new(o, "ledger", json_boolean(rc == OS_OK && h.ledger_ok));
        json_object_set_new(o, "signer", json_boolean(rc == OS_OK && h.signer_ok));
        json_object_set_new(o, "node", json_boolean(rc == OS_OK && h.node_ok));
        json_object_set_new(o, "payouts_pending", json_integer((json_int_t)h.payouts_pending));
        json_object_set_new(o, "payouts_confirmed", json_integer((json_int_t)h.payouts_confirmed));
        json_object_set_new(o, "payouts_waiting_for_funds", json_integer((json_int_t)h.payouts_waiting_for_funds));
        json_object_set_new(o, "payouts_awaiting_approval", json_integer((json_int_t)h.payouts_awaiting_approval));
        json_object_set_new(o, "node_height", json_integer((json_int_t)h.node_height));
        json_object_set_new(o, "signer_log_seq", json_integer((json_int_t)h.signer_log_seq));
        json_object_set_new(o, "signing_disabled", json_boolean(rc == OS_OK && h.signing_disabled));
        json_object_set_new(o, "fee_capped", json_boolean(rc == OS_OK && h.fee_capped));
        json_object_set_new(o, "fee_estimate", json_integer((json_int_t)h.fee_estimate));
        if (rc == OS_OK && h.signer_error[0] != '\0') json_object_set_new(o, "signer_error", json_string(h.signer_error));
        if (rc != OS_OK) json_object_set_new(o, "error", json_string(os_status_name(rc)));
    }
    return send_json(c, r, ok ? 200 : 503, o, NULL, NULL);
}

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text_buf;

static void tb_printf(text_buf *t, const char *fmt, ...) {
    if (t->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) { t->failed = 1; return; }
        if ((size_t)n < t->cap - t->len) { t->len += (size_t)n; return; }
        size_t ncap = t->cap * 2 + (size_t)n;
        char *nb = realloc(t->buf, ncap);
        if (nb == NULL) { t->failed = 1; return; }
        t->buf = nb;
        t->cap = ncap;
    }
}

static enum MHD_Result handle_metrics(os_api *api, struct MHD_Connection *c, api_request *r) {
    text_buf t = { malloc(32768), 0, 32768, 0 };
    if (t.buf == NULL) return send_error(c, r, OS_ERR_INTERNAL, "out of memory");
    size_t elen = 0;
    int rc = os_engine_metrics(api->engine, t.buf, t.cap, &elen);
    if (rc != OS_OK) elen = 0;
    t.len = elen < t.cap ? elen : 0;
    t.buf[t.len] = '\0';
    tb_printf(&t, "# HELP oncesign_api_engine_metrics_ok 1 when the engine's own metrics are included\n"
                  "# TYPE oncesign_api_engine_metrics_ok gauge\noncesign_api_engine_metrics_ok %d\n",
              rc == OS_OK);
    tb_printf(&t, "# HELP oncesign_api_requests_total HTTP requests answered, by endpoint and status\n"
                  "# TYPE oncesign_api_requests_total counter\n");
    for (size_t e = 0; e < EP_COUNT; e++) {
        for (size_t s = 0; s < N_HTTP; s++) {
            uint64_t v = atomic_load_explicit(&api->requests[e][s], memory_order_relaxed);
            if (v == 0) continue;
            if (s < N_HTTP - 1) {
                tb_printf(&t, "oncesign_api_requests_total{endpoint=\"%s\",status=\"%u\"} %llu\n", endpoint_names[e],
                          tracked_http[s], (unsigned long long)v);
            } else {
                tb_printf(&t, "oncesign_api_requests_total{endpoint=\"%s\",status=\"other\"} %llu\n",
                          endpoint_names[e], (unsigned long long)v);
            }
        }
    }
    tb_printf(&t, "# HELP oncesign_api_request_duration_seconds time from request headers to the response\n"
                  "# TYPE oncesign_api_request_duration_seconds histogram\n");
    for (size_t e = 0; e < EP_COUNT; e++) {
        uint64_t count = atomic_load_explicit(&api->latency_count[e], memory_order_relaxed);
        if (count == 0) continue;
        uint64_t cum = 0;
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += atomic_load_explicit(&api->latency_bucket[e][b], memory_order_relaxed);
            tb_printf(&t, "oncesign_api_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n",
                      endpoint_names[e], (double)latency_bounds_us[b] / 1e6, (unsigned long long)cum);
        }
        tb_printf(&t, "oncesign_api_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n",
                  endpoint_names[e], (unsigned long long)count);
        tb_printf(&t, "oncesign_api_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", endpoint_names[e],
                  (double)atomic_load_explicit(&api->latency_sum_us[e], memory_order_relaxed) / 1e6);
        tb_printf(&t, "oncesign_api_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", endpoint_names[e],
                  (unsigned long long)count);
    }
    if (t.failed) {
        free(t.buf);
        return send_error(c, r, OS_ERR_INTERNAL, "out of memory");
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(t.len, t.buf, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(t.buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4");
    enum MHD_Result ok = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    r->http_status = 200;
    r->responded = 1;
    return ok;
}

/* ---- libmicrohttpd glue ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    os_api *api = cls;
    api_request *r = *con_cls;

    if (r == NULL) {
        /* Headers are in, no body byte read yet: every check that needs no body happens here. */
        r = calloc(1, sizeof *r);
        if (r == NULL) return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->ep = EP_OTHER;
        *con_cls = r;
        route_info ri;
        if (!route(url, method, r, &ri)) return send_error(c, r, OS_ERR_NOT_FOUND, "no such endpoint");
        r->ep = ri.ep;
        if (!method_allowed(ri.allow, method)) {
            char why[96];
            snprintf(why, sizeof why, "method not allowed here; allowed: %s", ri.allow);
            return send_error_http(c, r, 405, OS_ERR_UNSUPPORTED, why, MHD_HTTP_HEADER_ALLOW, ri.allow);
        }
        if (ri.needs_auth && !authorized(api, c)) return send_error(c, r, OS_ERR_AUTH, NULL);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > api->max_body) return send_error(c, r, OS_ERR_TOO_LARGE, NULL);
        }
        return MHD_YES;
    }

    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->responded) return MHD_YES;
        if (r->too_large || r->body_len + n > api->max_body) {
            r->too_large = 1;
            r->drained += n;
            return r->drained > API_DRAIN_MAX ? MHD_NO : MHD_YES;
        }
        if (r->body_len + n > r->body_cap) {
            size_t ncap = r->body_cap == 0 ? 1024 : r->body_cap;
            while (ncap < r->body_len + n) ncap *= 2;
            if (ncap > api->max_body) ncap = api->max_body;
            char *nb = realloc(r->body, ncap);
            if (nb == NULL) return MHD_NO;
            r->body = nb;
            r->body_cap = ncap;
        }
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        return MHD_YES;
    }

    if (r->responded) return MHD_YES;
    if (r->too_large) return send_error(c, r, OS_ERR_TOO_LARGE, NULL);
    if (r->ep == EP_CODE_ISSUE || r->ep == EP_CODE_REDEEM || r->ep == EP_PAYOUT_CREATE) {
        /* Fail closed (I6): nothing new is accepted that could not be paid; reads go on. */
        char why[320];
        int refused = os_engine_signing_disabled(api->engine, why, sizeof why);
        if (refused != OS_OK) return send_error(c, r, refused, why);
    }
    switch (r->ep) {
    case EP_CODE_ISSUE: return handle_issue(api, c, r);
    case EP_CODE_LOOKUP: return handle_lookup(api, c, r);
    case EP_CODE_REDEEM: return handle_redeem(api, c, r);
    case EP_PAYOUT_CREATE: return handle_payout_create(api, c, r);
    case EP_PAYOUT_GET: return handle_payout_get(api, c, r);
    case EP_PAYOUT_LIST: return handle_payout_list(api, c, r);
    case EP_WALLET: return handle_wallet(api, c, r);
    case EP_HEALTH: return handle_health(api, c, r);
    case EP_METRICS: return handle_metrics(api, c, r);
    default: return send_error(c, r, OS_ERR_NOT_FOUND, "no such endpoint");
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    os_api *api = cls;
    api_request *r = *con_cls;
    if (r == NULL) return;
    if (r->http_status != 0) record(api, r);
    if (r->body != NULL) {
        crypto_wipe(r->body, r->body_cap);
        free(r->body);
    }
    crypto_wipe(r->code, sizeof r->code);
    free(r);
    *con_cls = NULL;
}

/* Nothing this API serves needs percent-encoding (codes are [A-Za-z0-9_-], ids and query values
 * are digits and status names), so nothing is decoded: "%2e%2e%2f" or "%00" stay literal and fail
 * validation, instead of turning into "../" or cutting a path short at a NUL. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s) {
    (void)cls;
    (void)c;
    return strlen(s);
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fputs("oncesignd api: ", stderr);
    vfprintf(stderr, fmt, ap);
}

int os_api_start(os_engine *engine, const os_api_config *cfg, os_api **out, char *err, size_t cap) {
    ARG_CHECK(engine != NULL && cfg != NULL && out != NULL);
    ARG_CHECK(cfg->token_file != NULL);
    *out = NULL;
    os_api *api = calloc(1, sizeof *api);
    if (api == NULL) return OS_ERR_INTERNAL;
    api->engine = engine;
    api->max_body = cfg->max_body != 0 ? cfg->max_body : API_DEFAULT_MAX_BODY;
    int rc = read_token(cfg->token_file, api->token_hash, err, cap);
    if (rc != OS_OK) {
        free(api);
        return rc;
    }

    const char *bind = cfg->bind != NULL ? cfg->bind : "127.0.0.1";
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    if (inet_pton(AF_INET, bind, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(cfg->port);
        sa = (struct sockaddr *)&sin;
    } else if (inet_pton(AF_INET6, bind, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(cfg->port);
        sa = (struct sockaddr *)&sin6;
        flags |= MHD_USE_IPv6;
    } else {
        os_errf(err, cap, "bind address %s is not an IPv4 or IPv6 address", bind);
        crypto_wipe(api->token_hash, sizeof api->token_hash);
        free(api);
        return OS_ERR_ARG;
    }
    unsigned threads = cfg->threads != 0 ? cfg->threads : API_DEFAULT_THREADS;
    api->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, api,
                                   MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
                                   MHD_OPTION_SOCK_ADDR, sa,
                                   MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned int)512,
                                   MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
                                   MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                                   MHD_OPTION_END);
    if (api->daemon == NULL) {
        os_errf(err, cap, "cannot listen on %s port %u", bind, (unsigned)cfg->port);
        crypto_wipe(api->token_hash, sizeof api->token_hash);
        free(api);
        return OS_ERR_IO;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info != NULL ? info->port : cfg->port;
    *out = api;
    return OS_OK;
}

uint16_t os_api_port(const os_api *api) {
    return api != NULL ? api->port : 0;
}

void os_api_stop(os_api *api) {
    if (api == NULL) return;
    MHD_stop_daemon(api->daemon);
    crypto_wipe(api->token_hash, sizeof api->token_hash);
    free(api);
}
