/* oncesign host — the HTTP/JSON API (contract in api.h, endpoints in docs/API.md).
 *
 * Order of checks for every request, all made before any body byte is read: framing (400: more
 * than one Content-Length, or one beside Transfer-Encoding), route (404), method (405), bearer
 * token (401), declared Content-Length (413), Content-Type of a body (415). Only then is the body accumulated (up
 * to max_body), parsed and validated completely, and only a request that passed every check
 * reaches the engine. The engine call is the single place where the ledger can change, so a
 * refused request cannot change it.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "crypto.h"
#include "device_ops.h"
#include "errtext.h"
#include "issuer.h"
#include "ledger.h"
#include "log.h"
#include "oncesign/check.h"
#include "oncesign/status.h"
#include "rpc.h"
#include "voucher.h"
#include "webhook.h"

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
#define API_DEFAULT_CONNECTIONS       256u
#define API_DEFAULT_PER_CLIENT        32u
#define API_DEFAULT_REQUEST_TIMEOUT_MS 10000u
/* An idle connection (no byte either way) is closed after this many seconds; the request deadline
 * above bounds one that keeps trickling. */
#define API_IDLE_TIMEOUT_S     30u
#define API_REAPER_PERIOD_MS   100u
#define API_DEFAULT_DISK_MIN_FREE (100ull * 1024u * 1024u)

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
    EP_APPROVALS,
    EP_PAYOUT_CANCEL,
    EP_DEVICE,
    EP_DEVICE_ADDRESS,
    EP_LOG,
    EP_LOG_HEAD,
    EP_STATUS,
    EP_RECONCILE,
    EP_TREE_REBUILD,
    EP_RECOVERY,
    EP_RECOVERY_RELEASE,
    EP_PAYOUT_COMMITMENT,
    EP_PAYOUT_APPROVE,
    EP_OTHER,               /* unknown path */
    EP_COUNT
} api_endpoint;

static const char *const endpoint_names[EP_COUNT] = {
    "code_issue", "code_lookup", "code_redeem", "payout_create", "payout_get",
    "payout_list", "wallet", "health", "metrics", "approvals", "payout_cancel", "device", "device_address",
    "log", "log_head", "status", "reconcile", "tree_rebuild", "recovery", "recovery_release", "payout_commitment",
    "payout_approve", "other",
};

static const unsigned tracked_http[] = { 200, 201, 400, 401, 404, 405, 409, 410, 413, 422, 500, 503 };
#define N_HTTP (sizeof tracked_http / sizeof tracked_http[0] + 1)   /* last slot: any other */

static const uint64_t latency_bounds_us[] = {
    500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
};
#define N_BUCKETS (sizeof latency_bounds_us / sizeof latency_bounds_us[0])

/* One open connection, from accept to close: the request deadline applies while it is receiving
 * (from accept, or from its previous answer, until a whole request is in). */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    int receiving;
    int shut;
    struct timespec deadline;
} conn_track;

/* What a listener passes to on_request: the admin socket's requests are told apart by it (in a
 * thread pool a connection's daemon is the worker's, not the listener's). */
typedef struct {
    os_api *api;
    int admin;
} listener_ctx;

struct os_api {
    os_engine *engine;
    listener_ctx serve_ctx, admin_ctx;
    int have_token;                     /* a token file was given: its token has every scope */
    struct MHD_Daemon *daemon;          /* TCP listener, or NULL */
    struct MHD_Daemon *unix_daemon;     /* Unix-socket listener, or NULL */
    char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct MHD_Daemon *admin_daemon;    /* the admin socket (ADMIN_SCOPES by its file mode), or NULL */
    char admin_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    unsigned request_timeout_ms;
    char disk_path[4096];               /* "" when not reported */
    uint64_t disk_min_free;
    pthread_mutex_t conn_lock;
    pthread_cond_t reaper_wake;
    conn_track *conns;
    int reaper_running, stopping;
    pthread_t reaper;
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
    int64_t key_id;         /* the API key that authenticated the request; 0: the token file's token
                             * or the admin socket (key_name says which) */
    char key_name[65];
    int admin;              /* it came in on the admin socket */
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
    case OS_ERR_FORBIDDEN: return 403;
    case OS_ERR_NOT_FOUND: return 404;
    case OS_ERR_IDEMPOTENCY: return 409;
    case OS_ERR_CODE_EXPIRED: return 410;
    case OS_ERR_TOO_LARGE: return 413;
    case OS_ERR_ADDRESS:
    case OS_ERR_AMOUNT:
    /* a voucher that does not allow this request (PROTOCOL.md 2.7) */
    case OS_ERR_VOUCHER_MISSING:
    case OS_ERR_VOUCHER_ISSUER:
    case OS_ERR_VOUCHER_MISMATCH:
    case OS_ERR_VOUCHER_AMOUNT:
    case OS_ERR_VOUCHER_DESTINATION:
    case OS_ERR_VOUCHER_EXPIRED:
    /* an operator approval the host will not store (PROTOCOL.md 2.8) */
    case OS_ERR_APPROVAL_OPERATOR:
    case OS_ERR_APPROVAL_EXPIRED:
    case OS_ERR_APPROVAL_MISMATCH: return 422;
    case OS_ERR_QUORUM_NOT_WAITING: return 409;
    case OS_ERR_IO:
    case OS_ERR_TIMEOUT:
    case OS_ERR_BUSY:
    case OS_ERR_UNSUPPORTED:
    case OS_ERR_RPC:
    case OS_ERR_RPC_TRANSPORT:
    case OS_ERR_FUNDS:
    case OS_ERR_SIGNER_MISMATCH:
    case OS_ERR_SIGNER_UNAVAILABLE:
    case OS_ERR_RECOVERING:
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
    ARG_CHECK(kind == OS_API_BODY_ISSUE_CODE || kind == OS_API_BODY_REDEEM || kind == OS_API_BODY_PAYOUT ||
              kind == OS_API_BODY_APPROVAL);
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
            known = strcmp(key, "amount") == 0 || strcmp(key, "expires_at") == 0 || strcmp(key, "voucher") == 0;
            break;
        case OS_API_BODY_REDEEM:
            known = strcmp(key, "address") == 0;
            break;
        case OS_API_BODY_PAYOUT:
            known = strcmp(key, "address") == 0 || strcmp(key, "amount") == 0 || strcmp(key, "idempotency_key") == 0 ||
                    strcmp(key, "voucher") == 0;
            break;
        case OS_API_BODY_APPROVAL:
            known = strcmp(key, "approval") == 0;
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

    if (kind == OS_API_BODY_APPROVAL) {
        json_t *aj = NULL;
        uint8_t raw[OS_APPROVAL_BYTES];
        size_t raw_len = 0;
        if ((rc = required_field(doc, "approval", &aj, why, cap)) != OS_OK) goto done;
        if (!json_is_string(aj) || json_string_length(aj) != 2 * OS_APPROVAL_BYTES ||
            os_hex_decode(json_string_value(aj), raw, sizeof raw, &raw_len) != OS_OK || raw_len != sizeof raw ||
            os_approval_decode(raw, &out->approval) != OS_OK) {
            os_errf(why, cap, "\"approval\" must be %d hex digits of an approval (PROTOCOL.md 2.8, oncesign approve)",
                    2 * OS_APPROVAL_BYTES);
            rc = OS_ERR_BAD_REQUEST;
        }
        goto done;
    }
    if (kind == OS_API_BODY_ISSUE_CODE || kind == OS_API_BODY_PAYOUT) {
        json_t *amount = NULL;
        if ((rc = required_field(doc, "amount", &amount, why, cap)) != OS_OK) goto done;
        if ((rc = parse_amount(amount, "amount", &out->amount, why, cap)) != OS_OK) goto done;
    }
    if (kind == OS_API_BODY_ISSUE_CODE || kind == OS_API_BODY_PAYOUT) {
        json_t *vj = json_object_get(doc, "voucher");
        if (vj != NULL) {
            if (!json_is_string(vj) || os_voucher_from_hex(json_string_value(vj), &out->voucher) != OS_OK) {
                os_errf(why, cap, "\"voucher\" must be %d hex digits of a well-formed voucher (PROTOCOL.md 2.7)",
                        2 * OS_VOUCHER_BYTES);
                rc = OS_ERR_BAD_REQUEST;
                goto done;
            }
            out->has_voucher = 1;
            /* a code is worth what its voucher says: two amounts would be two answers */
            if (kind == OS_API_BODY_ISSUE_CODE && out->voucher.amount != out->amount) {
                os_errf(why, cap, "\"amount\" differs from the voucher's amount");
                rc = OS_ERR_BAD_REQUEST;
                goto done;
            }
        }
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

/* What the admin socket may do: everything an operator and an auditor do, and admin-only
 * maintenance (tree rebuild); never the money-moving calls (issue, redeem, withdraw), which stay
 * with keys a backend holds (docs/DESIGN.md §4b). */
#define ADMIN_SCOPES (OS_SCOPE_OPERATOR | OS_SCOPE_READ | OS_SCOPE_AUDIT | OS_SCOPE_ADMIN_ONLY)


/* Who is calling, and may they make this call?
 * Returns: OS_OK (r->key_id, r->key_name set); OS_ERR_AUTH (no bearer, or one nobody issued);
 *          OS_ERR_FORBIDDEN (a revoked key, or one without any of the scopes in need);
 *          OS_ERR_DB (the key store could not be read: refused, never let through).
 * The token file's token is compared by hash in constant time (neither its bytes nor its length
 * leak); an API key is looked up by the SHA-256 of the presented secret, which reveals nothing
 * usable about any other key's secret. */
static int authorize(os_api *api, struct MHD_Connection *c, uint32_t need, api_request *r) {
    if (r->admin) {
        /* whoever could open the socket file (mode 0600: the daemon's own user) is the operator */
        r->key_id = 0;
        snprintf(r->key_name, sizeof r->key_name, "admin-socket");
        return (ADMIN_SCOPES & need) != 0 ? OS_OK : OS_ERR_FORBIDDEN;
    }
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) return OS_ERR_AUTH;   /* the scheme is case-insensitive (RFC 7235) */
    const char *tok = h + 7;
    uint8_t hash[32];
    crypto_sha256((const uint8_t *)tok, strlen(tok), hash);
    int rc;
    if (api->have_token && crypto_ct_equal(hash, api->token_hash, sizeof hash)) {
        r->key_id = 0;
        snprintf(r->key_name, sizeof r->key_name, "token-file");
        rc = (need & ~OS_SCOPE_ADMIN_ONLY) != 0 ? OS_OK : OS_ERR_FORBIDDEN;
    } else {
        os_apikey_info k;
        rc = os_ledger_apikey_find(os_engine_ledger(api->engine), hash, &k);
        if (rc == OS_ERR_NOT_FOUND) {
            rc = OS_ERR_AUTH;
        } else if (rc == OS_OK) {
            r->key_id = k.id;
            snprintf(r->key_name, sizeof r->key_name, "%s", k.name);
            if (k.revoked_at != 0 || (k.scopes & need) == 0) rc = OS_ERR_FORBIDDEN;
        } else {
            rc = OS_ERR_DB;
        }
    }
    crypto_wipe(hash, sizeof hash);
    return rc;
}

/* A state-changing call made with an API key is recorded in the ledger with the key, what it did
 * and to what, in the SAME ledger transaction as the change: attributed_begin opens it (the engine's
 * own operation nests in it as a savepoint), attributed_end records the use and commits, so a crash
 * or a refused record leaves neither the change nor its record, never one without the other. Calls
 * made with the token file's token or on the admin socket (key_id 0) record nothing and open nothing.
 * Only ledger operations may run in between: the ledger's lock is held, and a call that also takes
 * the signer (sign_mu, then the ledger) would deadlock against the worker. */
static int attributed_begin(os_api *api, const api_request *r) {
    if (r->key_id <= 0) return OS_OK;
    os_ledger *l = os_engine_ledger(api->engine);
    os_ledger_lock(l);
    int rc = os_ledger_begin(l);
    if (rc != OS_OK) os_ledger_unlock(l);
    return rc;
}

/* rc: the engine call's result. Returns rc, or the record's or the commit's failure (then nothing
 * of the call stays). */
static int attributed_end(os_api *api, const api_request *r, int rc, const char *action, const char *object,
                          unsigned http_status) {
    if (r->key_id <= 0) return rc;
    os_ledger *l = os_engine_ledger(api->engine);
    int use_rc = OS_OK;
    if (rc == OS_OK) {
        use_rc = os_ledger_apikey_use(l, r->key_id, (int64_t)time(NULL), action, object, http_status);
        if (use_rc == OS_OK) use_rc = os_ledger_commit(l);
        else os_ledger_rollback(l);
    } else {
        os_ledger_rollback(l);
    }
    os_ledger_unlock(l);
    if (rc != OS_OK) return rc;
    os_log_field f[] = { OS_LOG_STR("key", r->key_name), OS_LOG_INT("key_id", r->key_id), OS_LOG_STR("action", action),
                         OS_LOG_STR("object", object), OS_LOG_INT("http_status", http_status) };
    if (use_rc != OS_OK) {
        os_log(OS_LOG_ERROR, "api.key_use_not_recorded", f, 5,
               "the ledger refused the key's record (%s): the call was rolled back with it", os_status_name(use_rc));
        return use_rc;
    }
    os_log(OS_LOG_INFO, "api.key_use", f, 5, NULL);
    return OS_OK;
}

/* The token is refused when anyone but its owner could learn it or its group could change it:
 * a token that other local users can read lets them move money. Group read is allowed so a
 * service group can share the file with the backend. */
static int read_token(const char *path, uint8_t hash[32], char *err, size_t cap) {
    /* O_NONBLOCK: a FIFO planted at the path must not hang the start-up before fstat refuses it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        os_errf(err, cap, "token file %s: %s", path, strerror(errno));
        return OS_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        os_errf(err, cap, "token file %s is not a regular file", path);
        close(fd);
        return OS_ERR_IO;
    }
    if ((st.st_mode & (S_IRWXO | S_IWGRP | S_IXGRP)) != 0) {
        os_errf(err, cap, "token file %s has mode %03o: others could read or change it (chmod 600 %s)", path,
            (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return OS_ERR_IO;
    }
    FILE *f = fdopen(fd, "r");
    if (f == NULL) {
        os_errf(err, cap, "token file %s: %s", path, strerror(errno));
        close(fd);
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
    uint32_t scopes;        /* an API key needs one of these (OS_SCOPE_*, ledger.h); OS_SCOPE_ADMIN_ONLY:
                             * the admin socket alone */
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
    static const char cancel[] = "/cancel";
    static const char commitment[] = "/commitment";
    static const char approvals[] = "/approvals";
    static const char held[] = "/v1/recovery/held/";
    memset(ri, 0, sizeof *ri);
    ri->needs_auth = 1;
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/v1/health") == 0) {
        ri->ep = EP_HEALTH; ri->allow = "GET"; ri->needs_auth = 0;
    } else if (strcmp(url, "/metrics") == 0) {
        ri->ep = EP_METRICS; ri->allow = "GET"; ri->needs_auth = 0;
    } else if (strcmp(url, "/v1/recovery") == 0) {
        ri->ep = EP_RECOVERY; ri->allow = "GET"; ri->scopes = OS_SCOPE_READ;
    } else if (strncmp(url, held, sizeof held - 1) == 0) {
        const char *seg = url + sizeof held - 1;
        size_t seg_len = strlen(seg);
        if (seg_len != 32 || !valid_code_segment(seg, seg_len)) return 0;
        memcpy(r->code, seg, seg_len);
        r->code[seg_len] = '\0';
        ri->ep = EP_RECOVERY_RELEASE; ri->allow = "POST"; ri->scopes = OS_SCOPE_OPERATOR;
    } else if (strcmp(url, "/v1/wallet") == 0) {
        ri->ep = EP_WALLET; ri->allow = "GET"; ri->scopes = OS_SCOPE_READ;
    } else if (strcmp(url, "/v1/approvals") == 0) {
        ri->ep = EP_APPROVALS; ri->allow = "GET"; ri->scopes = OS_SCOPE_OPERATOR;
    } else if (strcmp(url, "/v1/device") == 0) {
        ri->ep = EP_DEVICE; ri->allow = "GET"; ri->scopes = OS_SCOPE_OPERATOR | OS_SCOPE_AUDIT;
    } else if (strcmp(url, "/v1/device/address") == 0) {
        ri->ep = EP_DEVICE_ADDRESS; ri->allow = "POST"; ri->scopes = OS_SCOPE_OPERATOR;
    } else if (strcmp(url, "/v1/log") == 0) {
        ri->ep = EP_LOG; ri->allow = "GET"; ri->scopes = OS_SCOPE_AUDIT;
    } else if (strcmp(url, "/v1/log/head") == 0) {
        ri->ep = EP_LOG_HEAD; ri->allow = "GET"; ri->scopes = OS_SCOPE_AUDIT;
    } else if (strcmp(url, "/v1/status") == 0) {
        ri->ep = EP_STATUS; ri->allow = "GET"; ri->scopes = OS_SCOPE_READ | OS_SCOPE_OPERATOR | OS_SCOPE_AUDIT;
    } else if (strcmp(url, "/v1/reconcile") == 0) {
        ri->ep = EP_RECONCILE; ri->allow = "POST"; ri->scopes = OS_SCOPE_OPERATOR;
    } else if (strcmp(url, "/v1/tree/rebuild") == 0) {
        ri->ep = EP_TREE_REBUILD; ri->allow = "POST"; ri->scopes = OS_SCOPE_ADMIN_ONLY;
    } else if (strcmp(url, "/v1/codes") == 0) {
        ri->ep = EP_CODE_ISSUE; ri->allow = "POST"; ri->scopes = OS_SCOPE_ISSUE;
    } else if (strcmp(url, "/v1/payouts") == 0) {
        ri->ep = is_get ? EP_PAYOUT_LIST : EP_PAYOUT_CREATE; ri->allow = "GET, POST";
        ri->scopes = is_get ? OS_SCOPE_READ : OS_SCOPE_WITHDRAW;
    } else if (strncmp(url, codes, sizeof codes - 1) == 0) {
        const char *seg = url + sizeof codes - 1;
        const char *slash = strchr(seg, '/');
        size_t seg_len = slash != NULL ? (size_t)(slash - seg) : strlen(seg);
        if (!valid_code_segment(seg, seg_len)) return 0;
        memcpy(r->code, seg, seg_len);
        r->code[seg_len] = '\0';
        if (slash == NULL) {
            ri->ep = EP_CODE_LOOKUP; ri->allow = "GET"; ri->scopes = OS_SCOPE_READ | OS_SCOPE_REDEEM;
        } else if (strcmp(slash, "/redeem") == 0) {
            ri->ep = EP_CODE_REDEEM; ri->allow = "POST"; ri->scopes = OS_SCOPE_REDEEM;
        } else {
            return 0;
        }
    } else if (strncmp(url, payouts, sizeof payouts - 1) == 0) {
        const char *seg = url + sizeof payouts - 1;
        size_t seg_len = strlen(seg);
        const char *slash = memchr(seg, '/', seg_len);
        if (slash != NULL) seg_len = (size_t)(slash - seg);
        if (!parse_id(seg, seg_len, &r->payout_id)) return 0;
        if (slash != NULL && strcmp(slash, cancel) == 0) {
            ri->ep = EP_PAYOUT_CANCEL; ri->allow = "POST"; ri->scopes = OS_SCOPE_OPERATOR;
        } else if (slash != NULL && strcmp(slash, commitment) == 0) {
            ri->ep = EP_PAYOUT_COMMITMENT; ri->allow = "GET"; ri->scopes = OS_SCOPE_OPERATOR;
        } else if (slash != NULL && strcmp(slash, approvals) == 0) {
            ri->ep = EP_PAYOUT_APPROVE; ri->allow = "POST"; ri->scopes = OS_SCOPE_OPERATOR;
        } else if (slash != NULL) {
            return 0;
        } else {
            ri->ep = EP_PAYOUT_GET; ri->allow = "GET"; ri->scopes = OS_SCOPE_READ;
        }
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
    memset(&info, 0, sizeof info);
    if ((rc = attributed_begin(api, r)) != OS_OK) return engine_error(c, r, rc);
    rc = req.has_voucher ? os_engine_issue_voucher_code(api->engine, &req.voucher, req.expires_at, code, &info)
                         : os_engine_issue_code(api->engine, req.amount, req.expires_at, code, &info);
    rc = attributed_end(api, r, rc, "code_issue", info.code_id, 201);
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

/* Ends a call that asked for a payout (201 created, 200 the same one again): its record against the
 * API key that asked joins the call's transaction (attributed_end) as action, then the answer. */
static enum MHD_Result answer_payout(os_api *api, struct MHD_Connection *c, api_request *r, int rc,
                                    const os_payout_info *p, int created, const char *action) {
    char object[32];
    snprintf(object, sizeof object, "payout:%lld", rc == OS_OK ? (long long)p->id : 0LL);
    rc = attributed_end(api, r, rc, action, object, created ? 201 : 200);
    if (rc != OS_OK) return engine_error(c, r, rc);
    return send_json(c, r, created ? 201 : 200, payout_json(p), NULL, NULL);
}

static enum MHD_Result handle_redeem(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_api_request req;
    char why[200];
    int rc = os_api_parse_request(OS_API_BODY_REDEEM, r->body, r->body_len, NULL, &req, why, sizeof why);
    if (rc != OS_OK) return send_error(c, r, rc, why);
    os_payout_info p;
    int created = 0;
    if ((rc = attributed_begin(api, r)) != OS_OK) return engine_error(c, r, rc);
    rc = os_engine_redeem(api->engine, r->code, req.address, &p, &created);
    return answer_payout(api, c, r, rc, &p, created, "code_redeem");
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
    if ((rc = attributed_begin(api, r)) != OS_OK) return engine_error(c, r, rc);
    rc = os_engine_payout_create_vouched(api->engine, req.idempotency_key, req.address, req.amount,
                                         req.has_voucher ? &req.voucher : NULL, &p, &created);
    return answer_payout(api, c, r, rc, &p, created, "payout_create");
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

/* ---- the operator's and the auditor's calls (docs/API.md "Operator and audit") ---- */

/* An operator key as the signer's screens show it: its first 8 bytes in hex. */
static json_t *operator_fingerprint_json(const uint8_t key[32]) {
    char fp[17];
    os_key_fingerprint(key, fp);
    return json_string(fp);
}

/* Each payout awaiting approval, and what it waits for: "quorum" (k operator approvals, held/needed:
 * docs/API.md "Operator approvals") or "operator" (the press on the signer). */
static enum MHD_Result handle_approvals(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_payout_info *list = calloc(API_LIST_MAX, sizeof *list);
    os_quorum_commitment *qc = malloc(sizeof *qc);
    if (list == NULL || qc == NULL) {
        free(list);
        free(qc);
        return send_error(c, r, OS_ERR_INTERNAL, "out of memory");
    }
    size_t n = 0;
    int rc = os_engine_payout_list(api->engine, OS_PAYOUT_AWAITING_APPROVAL, 0, API_LIST_MAX, list, &n);
    json_t *arr = json_array();
    for (size_t i = 0; rc == OS_OK && i < n && arr != NULL; i++) {
        json_t *o = payout_json(&list[i]);
        int qrc = os_engine_payout_commitment(api->engine, list[i].id, qc);
        if (qrc == OS_OK) {
            json_object_set_new(o, "waits_for", json_string("quorum"));
            json_object_set_new(o, "approvals_held", json_integer((json_int_t)qc->n_held));
            json_object_set_new(o, "approvals_needed", json_integer(qc->k));
            os_quorum_commitment_free(qc);
        } else if (qrc == OS_ERR_QUORUM_NOT_WAITING) {
            json_object_set_new(o, "waits_for", json_string("operator"));
        } else {
            rc = qrc;
        }
        json_array_append_new(arr, o);
    }
    free(list);
    free(qc);
    if (rc != OS_OK) {
        json_decref(arr);
        return engine_error(c, r, rc);
    }
    return send_json(c, r, 200, json_pack("{s:o}", "approvals", arr), NULL, NULL);
}

/* GET /v1/payouts/{id}/commitment: what the operators approve (docs/API.md "Operator approvals"). */
static enum MHD_Result handle_payout_commitment(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_quorum_commitment *qc = malloc(sizeof *qc);
    if (qc == NULL) return send_error(c, r, OS_ERR_INTERNAL, "out of memory");
    int rc = os_engine_payout_commitment(api->engine, r->payout_id, qc);
    if (rc != OS_OK) {
        free(qc);
        if (rc == OS_ERR_QUORUM_NOT_WAITING)
            return send_error(c, r, rc, "this payout's transaction does not wait for operator approvals (see GET"
                                        " /v1/approvals: it may wait for the press on the signer, or need none)");
        return engine_error(c, r, rc);
    }
    char digest[65], signer[65], *raw = malloc(2 * qc->unsigned_len + 1);
    json_t *o = json_object(), *outs = json_array(), *ops = json_array(), *held = json_array();
    if (raw != NULL) os_hex_encode(qc->unsigned_tx, qc->unsigned_len, raw);
    os_hex_encode(qc->tx_digest, 32, digest);
    os_hex_encode(qc->signer, 32, signer);
    for (size_t i = 0; i < qc->n_outputs && outs != NULL; i++) {
        const os_quorum_output *q = &qc->outputs[i];
        json_array_append_new(outs, json_pack("{s:s,s:I,s:s,s:o}", "address", q->address, "amount",
                                              (json_int_t)q->amount, "kind", q->change ? "change" : "payout",
                                              "payout_id", q->change ? json_null() : json_integer(q->payout_id)));
    }
    for (size_t i = 0; i < qc->n && ops != NULL; i++) {
        char key[65];
        os_hex_encode(qc->operators[i], 32, key);
        json_array_append_new(ops, json_pack("{s:s,s:o}", "key", key, "fingerprint",
                                             operator_fingerprint_json(qc->operators[i])));
    }
    for (size_t i = 0; i < qc->n_held && held != NULL; i++)
        json_array_append_new(held, json_pack("{s:o,s:I}", "operator_fingerprint",
                                              operator_fingerprint_json(qc->held[i].operator_key), "expiry_seq",
                                              (json_int_t)qc->held[i].expiry_seq));
    if (o != NULL && raw != NULL) {
        json_object_set_new(o, "payout_id", json_integer(qc->payout_id));
        json_object_set_new(o, "tx", json_integer(qc->tx_row));
        json_object_set_new(o, "tx_digest", json_string(digest));
        json_object_set_new(o, "unsigned_tx", json_string(raw));
        json_object_set_new(o, "outputs", outs);
        json_object_set_new(o, "fee", json_integer((json_int_t)qc->fee));
        json_object_set_new(o, "signer", json_string(signer));
        json_object_set_new(o, "log_seq", json_integer((json_int_t)qc->log_seq));
        json_object_set_new(o, "k", json_integer(qc->k));
        json_object_set_new(o, "n", json_integer(qc->n));
        json_object_set_new(o, "threshold", json_integer((json_int_t)qc->threshold));
        json_object_set_new(o, "operators", ops);
        json_object_set_new(o, "approvals", held);
        outs = ops = held = NULL;
    } else {
        json_decref(o);
        o = NULL;
    }
    json_decref(outs);
    json_decref(ops);
    json_decref(held);
    free(raw);
    os_quorum_commitment_free(qc);
    free(qc);
    return send_json(c, r, 200, o, NULL, NULL);
}

/* POST /v1/payouts/{id}/approvals {"approval": HEX}: checked, stored durably, then answered. */
static enum MHD_Result handle_payout_approve(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_api_request req;
    char why[200], object[32];
    int rc = os_api_parse_request(OS_API_BODY_APPROVAL, r->body, r->body_len, NULL, &req, why, sizeof why);
    if (rc != OS_OK) return send_error(c, r, rc, why);
    snprintf(object, sizeof object, "payout:%lld", (long long)r->payout_id);
    size_t held = 0, needed = 0;
    int added = 0;
    if ((rc = attributed_begin(api, r)) != OS_OK) return engine_error(c, r, rc);
    rc = os_engine_approval_add(api->engine, r->payout_id, &req.approval, r->key_id, &held, &needed, &added);
    rc = attributed_end(api, r, rc, "payout_approve", object, 200);
    if (rc != OS_OK) {
        os_log_field f[] = { OS_LOG_STR("key", r->key_name), OS_LOG_INT("payout_id", r->payout_id),
                             OS_LOG_STR("status", os_status_name(rc)) };
        os_log(OS_LOG_WARNING, "api.approval_refused", f, 3, "approval for payout %lld refused: %s",
               (long long)r->payout_id, os_status_name(rc));
        return engine_error(c, r, rc);
    }
    json_t *o = json_pack("{s:I,s:b,s:I,s:I,s:o}", "payout_id", (json_int_t)r->payout_id, "stored", added,
                          "approvals_held", (json_int_t)held, "approvals_needed", (json_int_t)needed,
                          "operator_fingerprint", operator_fingerprint_json(req.approval.operator_key));
    return send_json(c, r, 200, o, NULL, NULL);
}

static enum MHD_Result handle_payout_cancel(os_api *api, struct MHD_Connection *c, api_request *r) {
    char object[32];
    snprintf(object, sizeof object, "payout:%lld", (long long)r->payout_id);
    int rc = attributed_begin(api, r);
    if (rc != OS_OK) return engine_error(c, r, rc);
    rc = os_engine_payout_cancel(api->engine, r->payout_id);
    rc = attributed_end(api, r, rc, "payout_cancel", object, 200);
    if (rc == OS_ERR_BUSY) {
        return send_error_http(c, r, 409, rc, "signing has started for this payout: the signer and the chain decide it"
                                              " now, it can no longer be cancelled", NULL, NULL);
    }
    if (rc != OS_OK) return engine_error(c, r, rc);
    os_log_field f[] = { OS_LOG_STR("key", r->key_name), OS_LOG_INT("payout_id", r->payout_id) };
    os_log(OS_LOG_NOTICE, "api.payout_cancelled", f, 2, "payout %lld cancelled through the API",
           (long long)r->payout_id);
    os_payout_info p;
    if ((rc = os_engine_payout_get(api->engine, r->payout_id, &p)) != OS_OK) return engine_error(c, r, rc);
    return send_json(c, r, 200, payout_json(&p), NULL, NULL);
}

/* How long a call waits for the signer while a signing session holds it (one waiting for the
 * operator holds it up to operator_wait_ms), and each exchange's bound. */
#define API_SIGNER_WAIT_MS   15000u
#define API_DEVICE_TIMEOUT_MS 10000

/* The answer when a call could not be made on the signer: the device's refusal (409, its code and
 * text), a signing session that kept the signer (503 busy: retry), or the link's failure. */
static enum MHD_Result device_error(struct MHD_Connection *c, api_request *r, int rc, const os_device_failure *why,
                                    const char *err) {
    if (rc == OS_ERR_DEVICE_REFUSED) {
        json_t *doc = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", os_status_name(rc), "message", why->text,
                                "device", os_device_failure_json(why));
        return send_json(c, r, 409, doc, NULL, NULL);
    }
    if (rc == OS_ERR_BUSY) {
        return send_error(c, r, rc, "a signing session holds the signer (it may be waiting for the operator's decision"
                                    " on the device); retry when it has ended");
    }
    const char *text = why != NULL && why->text[0] != '\0' ? why->text : err;
    if (rc == OS_ERR_SIGNER_UNAVAILABLE && (text == NULL || text[0] == '\0'))
        text = "oncesignd has no signer attached right now (it reconnects on its own; see GET /v1/health)";
    return send_error(c, r, rc, text);
}

typedef struct {
    os_msg_info info;
    os_device_failure why;
} info_call;

static int call_info(void *ctx, os_client *cl) {
    info_call *ic = ctx;
    return os_device_info(cl, API_DEVICE_TIMEOUT_MS, &ic->info, &ic->why);
}

static enum MHD_Result handle_device(os_api *api, struct MHD_Connection *c, api_request *r) {
    info_call ic;
    memset(&ic, 0, sizeof ic);
    int rc = os_engine_with_signer(api->engine, API_SIGNER_WAIT_MS, call_info, &ic);
    if (rc != OS_OK) return device_error(c, r, rc, &ic.why, NULL);
    return send_json(c, r, 200, os_device_info_json(&ic.info), NULL, NULL);
}

static enum MHD_Result handle_log_head(os_api *api, struct MHD_Connection *c, api_request *r) {
    info_call ic;
    memset(&ic, 0, sizeof ic);
    int rc = os_engine_with_signer(api->engine, API_SIGNER_WAIT_MS, call_info, &ic);
    if (rc != OS_OK) return device_error(c, r, rc, &ic.why, NULL);
    char head[65], att[65];
    os_hex_encode(ic.info.log_head, 32, head);
    os_hex_encode(ic.info.attestation_pubkey, 32, att);
    return send_json(c, r, 200,
                     json_pack("{s:I,s:s,s:I,s:s}", "log_seq", (json_int_t)ic.info.log_seq, "log_head", head,
                               "log_acked_seq", (json_int_t)ic.info.log_acked_seq, "attestation_pubkey", att),
                     NULL, NULL);
}

typedef struct {
    os_device_address_req q;
    os_device_address_out out;
    os_device_failure why;
    const char *caller;
} address_call;

static void on_address_shown(void *ctx) {
    const address_call *ac = ctx;
    os_log_field f[] = { OS_LOG_STR("caller", ac->caller), OS_LOG_INT("account", ac->q.account),
                         OS_LOG_INT("change", ac->q.change), OS_LOG_INT("index", ac->q.index) };
    os_log(OS_LOG_NOTICE, "api.address_shown", f, 4,
           "the signer shows an address and waits for the operator; payouts wait meanwhile");
}

static int call_address(void *ctx, os_client *cl) {
    address_call *ac = ctx;
    return os_device_address(cl, API_DEVICE_TIMEOUT_MS, &ac->q, on_address_shown, ac, &ac->out, &ac->why);
}

/* {"script_type"?: "p2pkh"|"p2sh-p2wpkh"|"p2wpkh", "account"?, "change"?, "index"?, "show"?} */
static int parse_address_body(const api_request *r, os_device_address_req *q, char *why, size_t cap) {
    json_error_t e;
    memset(q, 0, sizeof *q);
    json_t *o = json_loadb(r->body != NULL ? r->body : "{}", r->body != NULL ? r->body_len : 2,
                           JSON_REJECT_DUPLICATES, &e);
    int rc = OS_OK;
    if (!json_is_object(o)) {
        os_errf(why, cap, "the body must be one JSON object");
        rc = OS_ERR_BAD_REQUEST;
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (strcmp(key, "script_type") == 0 && json_is_string(v)) {
            const char *t = json_string_value(v);
            q->have_script_type = 1;
            if (strcmp(t, "p2pkh") == 0) q->script_type = OS_SCRIPT_P2PKH;
            else if (strcmp(t, "p2sh-p2wpkh") == 0) q->script_type = OS_SCRIPT_P2SH_P2WPKH;
            else if (strcmp(t, "p2wpkh") == 0) q->script_type = OS_SCRIPT_P2WPKH;
            else rc = OS_ERR_BAD_REQUEST;
        } else if ((strcmp(key, "account") == 0 || strcmp(key, "index") == 0) && json_is_integer(v) &&
                   json_integer_value(v) >= 0 && json_integer_value(v) <= 0x7FFFFFFF) {
            *(key[0] == 'a' ? &q->account : &q->index) = (uint32_t)json_integer_value(v);
        } else if ((strcmp(key, "change") == 0 || strcmp(key, "show") == 0) && json_is_boolean(v)) {
            *(key[0] == 'c' ? &q->change : &q->show) = json_is_true(v) ? 1 : 0;
        } else {
            rc = OS_ERR_BAD_REQUEST;
        }
        if (rc != OS_OK) {
            os_errf(why, cap, "\"%s\": unknown, or not of its type (script_type: p2pkh, p2sh-p2wpkh or p2wpkh;"
                              " account, index: 0..2147483647; change, show: booleans)", key);
            break;
        }
    }
done:
    json_decref(o);
    return rc;
}

static enum MHD_Result handle_device_address(os_api *api, struct MHD_Connection *c, api_request *r) {
    address_call ac;
    char why[200];
    memset(&ac, 0, sizeof ac);
    int rc = parse_address_body(r, &ac.q, why, sizeof why);
    if (rc != OS_OK) return send_error(c, r, rc, why);
    ac.caller = r->key_name;
    rc = os_engine_with_signer(api->engine, API_SIGNER_WAIT_MS, call_address, &ac);
    if (rc != OS_OK) return device_error(c, r, rc, &ac.why, NULL);
    return send_json(c, r, 200, os_device_address_json(&ac.out), NULL, NULL);
}

typedef struct {
    os_audit_log log;
    os_msg_info info;
    char description[256];
    char err[512];
} log_call;

static int call_log(void *ctx, os_client *cl) {
    log_call *lc = ctx;
    snprintf(lc->description, sizeof lc->description, "%s", os_client_description(cl));
    return os_audit_export_device(cl, API_DEVICE_TIMEOUT_MS, &lc->log, &lc->info, lc->err, sizeof lc->err);
}

/* Every entry the signer still holds, in the export file format (os_audit_write), beside the
 * device's info: what `oncesign log export` writes when it holds the signer itself. */
static enum MHD_Result handle_log(os_api *api, struct MHD_Connection *c, api_request *r) {
    log_call *lc = calloc(1, sizeof *lc);
    if (lc == NULL) return send_error(c, r, OS_ERR_INTERNAL, "out of memory");
    int rc = os_engine_with_signer(api->engine, API_SIGNER_WAIT_MS, call_log, lc);
    if (rc != OS_OK) {
        enum MHD_Result res = device_error(c, r, rc, NULL, lc->err);
        free(lc);
        return res;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rc = f != NULL ? os_audit_write(f, &lc->log) : OS_ERR_INTERNAL;
    if (f != NULL && fclose(f) != 0) rc = OS_ERR_INTERNAL;
    os_audit_log_free(&lc->log);
    json_t *doc = rc == OS_OK ? json_pack("{s:s%,s:s,s:o}", "log", text, len, "device", lc->description, "info",
                                          os_device_info_json(&lc->info))
                              : NULL;
    free(text);
    free(lc);
    if (rc != OS_OK) return send_error(c, r, rc, "the export could not be written");
    return send_json(c, r, 200, doc, NULL, NULL);
}

static enum MHD_Result handle_status(os_api *api, struct MHD_Connection *c, api_request *r) {
    os_engine_status st;
    int rc = os_engine_status_get(api->engine, 1, API_SIGNER_WAIT_MS, &st);
    if (rc != OS_OK) return device_error(c, r, rc, NULL, NULL);
    return send_json(c, r, 200, os_engine_status_json(&st), NULL, NULL);
}

static enum MHD_Result handle_reconcile(os_api *api, struct MHD_Connection *c, api_request *r) {
    int rc = os_engine_reconcile_now(api->engine);
    if (rc == OS_ERR_UNSUPPORTED) rc = OS_ERR_SIGNER_UNAVAILABLE;
    if (rc != OS_OK) return device_error(c, r, rc, NULL, NULL);
    os_log_field f[] = { OS_LOG_STR("caller", r->key_name) };
    os_log(OS_LOG_NOTICE, "api.reconciled", f, 1, "a reconciliation pass ran on the operator's request");
    return send_json(c, r, 200, json_pack("{s:b}", "reconciled", 1), NULL, NULL);
}

/* The engine's own rebuild (os_engine_rebuild_tree takes the signer, then the ledger, like the
 * worker): the nonce tree the daemon signs against is replaced while it runs, in one step. */
static enum MHD_Result handle_tree_rebuild(os_api *api, struct MHD_Connection *c, api_request *r) {
    size_t n = 0;
    char err[512] = "";
    int rc = os_engine_rebuild_tree(api->engine, &n, err, sizeof err);
    if (rc == OS_ERR_UNSUPPORTED) rc = OS_ERR_SIGNER_UNAVAILABLE;
    if (rc != OS_OK) return device_error(c, r, rc, NULL, err);
    os_log_field f[] = { OS_LOG_STR("caller", r->key_name), OS_LOG_INT("leaves", (int64_t)n) };
    os_log(OS_LOG_NOTICE, "api.tree_rebuilt", f, 2, "the nonce tree was rebuilt from the signer's log");
    return send_json(c, r, 200, json_pack("{s:I,s:b}", "leaves", (json_int_t)n, "stored", 1), NULL, NULL);
}

static int recovery_payout_json(void *ctx, const os_recovered_payout *p) {
    json_t *o = json_pack("{s:I,s:s,s:I,s:I,s:s,s:I,s:s}", "log_seq", (json_int_t)p->log_seq, "txid", p->txid, "vout",
                          (json_int_t)p->vout, "confirmations", (json_int_t)p->confirmations, "address", p->address,
                          "amount", (json_int_t)p->amount, "matched", p->how);
    if (o == NULL) return OS_ERR_IO;
    if (p->payout_id) json_object_set_new(o, "payout_id", json_integer((json_int_t)p->payout_id));
    if (p->code_id[0]) json_object_set_new(o, "code_id", json_string(p->code_id));
    json_array_append_new(((json_t **)ctx)[0], o);
    return OS_OK;
}

static int recovery_held_json(void *ctx, const char code_id[33], uint64_t amount) {
    json_t *o = json_pack("{s:s,s:I}", "code_id", code_id, "amount", (json_int_t)amount);
    if (o == NULL) return OS_ERR_IO;
    json_array_append_new(((json_t **)ctx)[1], o);
    return OS_OK;
}

/* GET /v1/recovery (docs/API.md, docs/RECOVERY.md): what a restore recovered from the signer's log
 * and the chain, what it holds, and what it cannot know. */
static enum MHD_Result handle_recovery(os_api *api, struct MHD_Connection *c, api_request *r) {
    json_t *lists[2] = {json_array(), json_array()};
    int phase = 0;
    char why[256] = "";
    int rc = lists[0] && lists[1] ? os_engine_recovery_list(api->engine, &phase, why, sizeof why, recovery_payout_json,
                                                            recovery_held_json, lists)
                                  : OS_ERR_IO;
    if (rc != OS_OK) {
        json_decref(lists[0]);
        json_decref(lists[1]);
        return engine_error(c, r, rc);
    }
    json_t *o = json_pack("{s:b,s:s,s:s,s:o,s:o,s:s}", "recovering", phase != OS_RECOVERY_NONE, "phase",
                          os_recovery_phase_name(phase), "reason", why, "recovered_payouts", lists[0], "held_codes",
                          lists[1], "lost",
                          "requests answered after the backup that the signer never signed are not known to the"
                          " ledger: compare your own record of them (idempotency keys, redeemed codes) with"
                          " recovered_payouts and GET /v1/payouts, and submit again what is missing");
    return send_json(c, r, 200, o, NULL, NULL);
}

/* POST /v1/recovery/held/{code_id} (operator): releases a held code; attributed like every change. */
static enum MHD_Result handle_recovery_release(os_api *api, struct MHD_Connection *c, api_request *r) {
    char object[80];
    snprintf(object, sizeof object, "code:%s", r->code);
    int rc = attributed_begin(api, r);
    if (rc != OS_OK) return engine_error(c, r, rc);
    rc = os_engine_recovery_release_held(api->engine, r->code);
    rc = attributed_end(api, r, rc, "recovery_release", object, 200);
    if (rc == OS_ERR_NOT_FOUND) return send_error(c, r, rc, "no held code has this id (GET /v1/recovery lists them)");
    if (rc != OS_OK) return engine_error(c, r, rc);
    return send_json(c, r, 200, json_pack("{s:s,s:b}", "code_id", r->code, "released", 1), NULL, NULL);
}

/* The ledger's file system: a full disk makes every ledger commit fail, so health says so before it
 * happens. Returns 1 when free space is at least the minimum and the directory is writable. */
static int disk_state(const os_api *api, uint64_t *free_bytes) {
    struct statvfs v;
    *free_bytes = 0;
    if (statvfs(api->disk_path, &v) != 0) return 0;
    *free_bytes = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    return *free_bytes >= api->disk_min_free && access(api->disk_path, W_OK) == 0;
}

static enum MHD_Result handle_health(os_api *api, struct MHD_Connection *c, api_request *r) {
    uint64_t disk_free = 0;
    int disk_ok = api->disk_path[0] == '\0' || disk_state(api, &disk_free);
    os_engine_health h;
    memset(&h, 0, sizeof h);
    int rc = os_engine_health_get(api->engine, &h);
    int ok = rc == OS_OK && h.ledger_ok && h.signer_ok && h.node_ok && h.wallet_ok && disk_ok && !h.recovering;
    json_t *o = json_object();
    if (o != NULL) {
        json_object_set_new(o, "ok", json_boolean(ok));
        if (api->disk_path[0] != '\0') {
            json_object_set_new(o, "disk", json_boolean(disk_ok));
            json_object_set_new(o, "disk_free_bytes", json_integer((json_int_t)disk_free));
        }
        json_object_set_new(o, "ledger", json_boolean(rc == OS_OK && h.ledger_ok));
        json_object_set_new(o, "signer", json_boolean(rc == OS_OK && h.signer_ok));
        json_object_set_new(o, "node", json_boolean(rc == OS_OK && h.node_ok));
        json_object_set_new(o, "wallet", json_boolean(rc == OS_OK && h.wallet_ok));
        if (rc == OS_OK && !h.wallet_ok) json_object_set_new(o, "wallet_error", json_string(h.wallet_error));
        json_object_set_new(o, "payouts_pending", json_integer((json_int_t)h.payouts_pending));
        json_object_set_new(o, "payouts_confirmed", json_integer((json_int_t)h.payouts_confirmed));
        json_object_set_new(o, "payouts_waiting_for_funds", json_integer((json_int_t)h.payouts_waiting_for_funds));
        json_object_set_new(o, "payouts_awaiting_approval", json_integer((json_int_t)h.payouts_awaiting_approval));
        json_object_set_new(o, "payouts_awaiting_quorum", json_integer((json_int_t)h.payouts_awaiting_quorum));
        json_object_set_new(o, "payouts_awaiting_reanchor", json_integer((json_int_t)h.payouts_awaiting_reanchor));
        json_object_set_new(o, "payouts_awaiting_replacement", json_integer((json_int_t)h.payouts_awaiting_replacement));
        json_object_set_new(o, "node_height", json_integer((json_int_t)h.node_height));
        json_object_set_new(o, "signer_log_seq", json_integer((json_int_t)h.signer_log_seq));
        if (h.signer_attestation_known) {
            char att[65];
            os_hex_encode(h.signer_attestation_key, 32, att);
            json_object_set_new(o, "signer_attestation_pubkey", json_string(att));
        } else {
            json_object_set_new(o, "signer_attestation_pubkey", json_null());
        }
        json_object_set_new(o, "vouchers_required", json_boolean(h.vouchers_required));
        json_object_set_new(o, "signing_disabled", json_boolean(rc == OS_OK && h.signing_disabled));
        json_object_set_new(o, "fee_capped", json_boolean(rc == OS_OK && h.fee_capped));
        json_object_set_new(o, "fee_estimate", json_integer((json_int_t)h.fee_estimate));
        uint64_t outbox = 0;
        int64_t oldest = 0;
        if (os_ledger_webhook_depth(os_engine_ledger(api->engine), &outbox, &oldest) == OS_OK) {
            int64_t now = (int64_t)time(NULL);
            json_object_set_new(o, "webhook_outbox", json_integer((json_int_t)outbox));
            json_object_set_new(o, "webhook_outbox_age_s", json_integer(oldest != 0 && now > oldest ? now - oldest : 0));
        }
        if (rc == OS_OK && h.signer_error[0] != '\0') json_object_set_new(o, "signer_error", json_string(h.signer_error));
        json_object_set_new(o, "recovering", json_boolean(rc == OS_OK && h.recovering));
        if (rc == OS_OK && h.recovering) json_object_set_new(o, "recovery", json_string(h.recovery));
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

/* The service's families an operator watches (issue 11): the hot wallet's balance, the queue and
 * its age, approvals waiting and for how long, the signer's connection, the nonce set's size,
 * monacoind's failures by kind. Each reads the ledger or the engine fresh at the scrape; a part
 * that cannot be read is left out and counted in oncesign_metrics_errors. */
static void service_metrics(os_api *api, text_buf *t) {
    unsigned errors = 0;
    int64_t now = (int64_t)time(NULL);
    uint64_t confirmed = 0, unconfirmed = 0;
    if (os_engine_balance(api->engine, &confirmed, &unconfirmed) == OS_OK) {
        tb_printf(t, "# HELP oncesign_wallet_balance_sat the hot wallet's coins the ledger knows, in satoshi\n"
                     "# TYPE oncesign_wallet_balance_sat gauge\n"
                     "oncesign_wallet_balance_sat{state=\"confirmed\"} %llu\n"
                     "oncesign_wallet_balance_sat{state=\"unconfirmed\"} %llu\n",
                  (unsigned long long)confirmed, (unsigned long long)unconfirmed);
    } else {
        errors++;
    }
    os_ledger_backlog q;
    uint64_t counts[OS_PAYOUT_STATUS_LAST + 1];
    if (os_ledger_backlog_get(os_engine_ledger(api->engine), &q) == OS_OK &&
        os_ledger_payout_counts(os_engine_ledger(api->engine), counts) == OS_OK) {
        int64_t queue_age = q.oldest_queued_at != 0 && now > q.oldest_queued_at ? now - q.oldest_queued_at : 0;
        int64_t wait = q.oldest_awaiting_since != 0 && now > q.oldest_awaiting_since ? now - q.oldest_awaiting_since : 0;
        tb_printf(t, "# HELP oncesign_payout_queue_age_seconds age of the oldest payout not yet broadcast (0: none)\n"
                     "# TYPE oncesign_payout_queue_age_seconds gauge\noncesign_payout_queue_age_seconds %lld\n"
                     "# HELP oncesign_approvals_waiting payouts waiting for the operator's decision on the signer\n"
                     "# TYPE oncesign_approvals_waiting gauge\noncesign_approvals_waiting %llu\n"
                     "# HELP oncesign_approval_wait_seconds how long the oldest of them has waited (0: none)\n"
                     "# TYPE oncesign_approval_wait_seconds gauge\noncesign_approval_wait_seconds %lld\n"
                     "# HELP oncesign_nonce_set_size nonces committed in the ledger's nonce tree\n"
                     "# TYPE oncesign_nonce_set_size gauge\noncesign_nonce_set_size %lld\n",
                  (long long)queue_age, (unsigned long long)counts[OS_PAYOUT_AWAITING_APPROVAL], (long long)wait,
                  (long long)q.nonce_set_size);
    } else {
        errors++;
    }
    os_engine_health h;
    if (os_engine_health_get(api->engine, &h) == OS_OK) {
        tb_printf(t, "# HELP oncesign_approvals_awaiting_quorum of them, payouts waiting for k operator approvals\n"
                     "# TYPE oncesign_approvals_awaiting_quorum gauge\noncesign_approvals_awaiting_quorum %llu\n",
                  (unsigned long long)h.payouts_awaiting_quorum);
        tb_printf(t, "# HELP oncesign_signer_connected 1 while the signer answers and matches the ledger\n"
                     "# TYPE oncesign_signer_connected gauge\noncesign_signer_connected %d\n"
                     "# HELP oncesign_last_block_height the node's tip at the last reconciliation\n"
                     "# TYPE oncesign_last_block_height gauge\noncesign_last_block_height %llu\n",
                  h.signer_ok ? 1 : 0, (unsigned long long)h.node_height);
    } else {
        errors++;
    }
    uint64_t outbox = 0, delivered = 0, failed = 0;
    int64_t oldest = 0;
    if (os_ledger_webhook_depth(os_engine_ledger(api->engine), &outbox, &oldest) == OS_OK) {
        tb_printf(t, "# HELP oncesign_webhook_outbox_depth payout events queued for the webhook receiver\n"
                     "# TYPE oncesign_webhook_outbox_depth gauge\noncesign_webhook_outbox_depth %llu\n"
                     "# HELP oncesign_webhook_outbox_age_seconds age of the oldest queued event (0: none)\n"
                     "# TYPE oncesign_webhook_outbox_age_seconds gauge\noncesign_webhook_outbox_age_seconds %lld\n",
                  (unsigned long long)outbox, (long long)(oldest != 0 && now > oldest ? now - oldest : 0));
    } else {
        errors++;
    }
    os_webhook_counts(&delivered, &failed);
    tb_printf(t, "# HELP oncesign_webhook_deliveries_total webhook delivery attempts by result\n"
                 "# TYPE oncesign_webhook_deliveries_total counter\n"
                 "oncesign_webhook_deliveries_total{result=\"delivered\"} %llu\n"
                 "oncesign_webhook_deliveries_total{result=\"failed\"} %llu\n",
              (unsigned long long)delivered, (unsigned long long)failed);
    uint64_t fails[OS_RPC_FAIL_KINDS];
    os_rpc_fail_counts(fails);
    tb_printf(t, "# HELP oncesign_rpc_errors_total failed monacoind calls by kind\n"
                 "# TYPE oncesign_rpc_errors_total counter\n");
    for (int k = 0; k < OS_RPC_FAIL_KINDS; k++) {
        tb_printf(t, "oncesign_rpc_errors_total{kind=\"%s\"} %llu\n", os_rpc_fail_kind_name((os_rpc_fail_kind)k),
                  (unsigned long long)fails[k]);
    }
    tb_printf(t, "# HELP oncesign_metrics_errors parts of this scrape that could not be read\n"
                 "# TYPE oncesign_metrics_errors gauge\noncesign_metrics_errors %u\n", errors);
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
    service_metrics(api, &t);
    if (api->disk_path[0] != '\0') {
        uint64_t disk_free = 0;
        int disk_ok = disk_state(api, &disk_free);
        tb_printf(&t, "# HELP oncesign_disk_free_bytes free bytes on the ledger's file system\n"
                      "# TYPE oncesign_disk_free_bytes gauge\noncesign_disk_free_bytes %llu\n"
                      "# HELP oncesign_disk_ok 1 when the ledger's directory is writable with enough free space\n"
                      "# TYPE oncesign_disk_ok gauge\noncesign_disk_ok %d\n",
                  (unsigned long long)disk_free, disk_ok);
    }
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

/* ---- connection deadlines ---- */

static conn_track *track_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void deadline_in(struct timespec *t, unsigned ms) {
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000u;
    t->tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* receiving 1: the deadline starts now (a new connection, or the answer to its previous request
 * went out); 0: a whole request is in, the deadline stops. */
static void track_set_receiving(os_api *api, struct MHD_Connection *c, int receiving) {
    conn_track *t = track_of(c);
    if (t == NULL) return;
    pthread_mutex_lock(&api->conn_lock);
    t->receiving = receiving;
    if (receiving) deadline_in(&t->deadline, api->request_timeout_ms);
    pthread_mutex_unlock(&api->conn_lock);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
    os_api *api = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_track *t = calloc(1, sizeof *t);
        /* Untracked (out of memory) only loses the deadline; the idle timeout still applies. */
        if (t == NULL || ci == NULL) {
            free(t);
            *socket_context = NULL;
            return;
        }
        t->fd = ci->connect_fd;
        t->receiving = 1;
        deadline_in(&t->deadline, api->request_timeout_ms);
        pthread_mutex_lock(&api->conn_lock);
        t->next = api->conns;
        if (api->conns != NULL) api->conns->prev = t;
        api->conns = t;
        pthread_mutex_unlock(&api->conn_lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_track *t = *socket_context;
        if (t == NULL) return;
        /* Unlinked before libmicrohttpd closes the descriptor, under the lock the reaper holds
         * while it shuts one down: the reaper never touches a descriptor number reused by
         * another connection. */
        pthread_mutex_lock(&api->conn_lock);
        if (t->prev != NULL) t->prev->next = t->next;
        else api->conns = t->next;
        if (t->next != NULL) t->next->prev = t->prev;
        pthread_mutex_unlock(&api->conn_lock);
        free(t);
        *socket_context = NULL;
    }
}

static int past(const struct timespec *now, const struct timespec *t) {
    return now->tv_sec > t->tv_sec || (now->tv_sec == t->tv_sec && now->tv_nsec >= t->tv_nsec);
}

/* libmicrohttpd's own timeout is for idleness only: a client sending a byte a second would hold
 * its connection forever. Shutting the socket down makes libmicrohttpd see the end of the stream
 * and close the connection in its own thread. */
static void *reaper_main(void *cls) {
    os_api *api = cls;
    pthread_mutex_lock(&api->conn_lock);
    while (!api->stopping) {
        struct timespec wake;
        clock_gettime(CLOCK_REALTIME, &wake);
        wake.tv_nsec += (long)API_REAPER_PERIOD_MS * 1000000L;
        if (wake.tv_nsec >= 1000000000L) {
            wake.tv_sec++;
            wake.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&api->reaper_wake, &api->conn_lock, &wake);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        unsigned closed = 0;
        for (conn_track *t = api->conns; t != NULL; t = t->next) {
            if (t->receiving && !t->shut && past(&now, &t->deadline)) {
                shutdown(t->fd, SHUT_RDWR);
                t->shut = 1;
                closed++;
            }
        }
        if (closed > 0) {
            os_log_field f[] = { OS_LOG_INT("closed", closed), OS_LOG_INT("timeout_ms", api->request_timeout_ms) };
            os_log(OS_LOG_WARNING, "api.request_deadline", f, 2, "closed connections that sent no whole request in time");
        }
    }
    pthread_mutex_unlock(&api->conn_lock);
    return NULL;
}

/* ---- framing and media type ---- */

typedef struct {
    unsigned content_length, transfer_encoding;
} framing_count;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    (void)value;
    framing_count *f = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) f->content_length++;
    if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) f->transfer_encoding++;
    return MHD_YES;
}

/* A body's length must have exactly one reading: two Content-Lengths (even equal ones) or one
 * beside Transfer-Encoding let a proxy in front and this server split the stream differently. */
static int framing_ambiguous(struct MHD_Connection *c) {
    framing_count f = { 0, 0 };
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
    return f.content_length > 1 || f.transfer_encoding > 1 || (f.content_length > 0 && f.transfer_encoding > 0);
}

static int endpoint_takes_body(api_endpoint ep) {
    return ep == EP_CODE_ISSUE || ep == EP_CODE_REDEEM || ep == EP_PAYOUT_CREATE || ep == EP_DEVICE_ADDRESS;
}

/* "application/json", any case, optionally followed by parameters ("; charset=utf-8"). */
static int json_content_type(struct MHD_Connection *c) {
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    static const char want[] = "application/json";
    if (ct == NULL) return 0;
    while (*ct == ' ' || *ct == '\t') ct++;
    if (strncasecmp(ct, want, sizeof want - 1) != 0) return 0;
    ct += sizeof want - 1;
    while (*ct == ' ' || *ct == '\t') ct++;
    return *ct == '\0' || *ct == ';';
}

/* ---- libmicrohttpd glue ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    (void)version;
    const listener_ctx *lc = cls;
    os_api *api = lc->api;
    api_request *r = *con_cls;

    if (r == NULL) {
        /* Headers are in, no body byte read yet: every check that needs no body happens here. */
        r = calloc(1, sizeof *r);
        if (r == NULL) return MHD_NO;
        clock_gettime(CLOCK_MONOTONIC, &r->start);
        r->ep = EP_OTHER;
        r->admin = lc->admin;
        *con_cls = r;
        if (framing_ambiguous(c)) {
            return send_error(c, r, OS_ERR_BAD_REQUEST,
                              "more than one Content-Length, or Content-Length with Transfer-Encoding");
        }
        route_info ri;
        if (!route(url, method, r, &ri)) return send_error(c, r, OS_ERR_NOT_FOUND, "no such endpoint");
        r->ep = ri.ep;
        if (!method_allowed(ri.allow, method)) {
            char why[96];
            snprintf(why, sizeof why, "method not allowed here; allowed: %s", ri.allow);
            return send_error_http(c, r, 405, OS_ERR_UNSUPPORTED, why, MHD_HTTP_HEADER_ALLOW, ri.allow);
        }
        if (ri.needs_auth) {
            int arc = authorize(api, c, ri.scopes, r);
            if (arc == OS_ERR_FORBIDDEN) {
                os_log_field f[] = { OS_LOG_STR("key", r->key_name), OS_LOG_INT("key_id", r->key_id),
                                     OS_LOG_STR("endpoint", endpoint_names[r->ep]) };
                os_log(OS_LOG_WARNING, "api.forbidden", f, 3, "revoked key, or a call outside its scopes");
                return send_error(c, r, arc, NULL);
            }
            if (arc != OS_OK) return send_error(c, r, arc, NULL);
        } else if (r->admin) {
            snprintf(r->key_name, sizeof r->key_name, "admin-socket");
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL) {
            char *end = NULL;
            errno = 0;
            unsigned long long n = strtoull(cl, &end, 10);
            if (errno != 0 || end == cl || n > api->max_body) return send_error(c, r, OS_ERR_TOO_LARGE, NULL);
        }
        if (endpoint_takes_body(r->ep) && !json_content_type(c)) {
            return send_error_http(c, r, 415, OS_ERR_BAD_REQUEST, "the body must be sent as Content-Type: application/json",
                                   NULL, NULL);
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

    /* the whole request is in: its deadline no longer runs */
    track_set_receiving(api, c, 0);
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
    case EP_APPROVALS: return handle_approvals(api, c, r);
    case EP_PAYOUT_CANCEL: return handle_payout_cancel(api, c, r);
    case EP_PAYOUT_COMMITMENT: return handle_payout_commitment(api, c, r);
    case EP_PAYOUT_APPROVE: return handle_payout_approve(api, c, r);
    case EP_DEVICE: return handle_device(api, c, r);
    case EP_DEVICE_ADDRESS: return handle_device_address(api, c, r);
    case EP_LOG: return handle_log(api, c, r);
    case EP_LOG_HEAD: return handle_log_head(api, c, r);
    case EP_STATUS: return handle_status(api, c, r);
    case EP_RECONCILE: return handle_reconcile(api, c, r);
    case EP_TREE_REBUILD: return handle_tree_rebuild(api, c, r);
    case EP_RECOVERY: return handle_recovery(api, c, r);
    case EP_RECOVERY_RELEASE: return handle_recovery_release(api, c, r);
    default: return send_error(c, r, OS_ERR_NOT_FOUND, "no such endpoint");
    }
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)toe;
    os_api *api = cls;
    /* a kept-alive connection gets a fresh deadline for its next request */
    track_set_receiving(api, c, 1);
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
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    os_log(OS_LOG_WARNING, "api.http", NULL, 0, "%s", msg);
}

/* Binds a Unix-socket listener: the API's at mode 0660, the admin socket's at 0600 (set before
 * listen(), so nobody connects earlier), replacing a stale socket of a stopped daemon but never a live
 * one or anything that is not a socket. Returns the listening descriptor, or -1 with err set. */
static int unix_listener(const char *path, mode_t mode, char *err, size_t cap) {
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sun.sun_path) {
        os_errf(err, cap, "socket path %s is longer than %zu bytes", path, sizeof sun.sun_path - 1);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            os_errf(err, cap, "%s exists and is not a socket; not replacing it", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int live = probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0;
        if (probe >= 0) close(probe);
        if (live) {
            os_errf(err, cap, "%s: another process is listening on it", path);
            return -1;
        }
        if (unlink(path) != 0) {
            os_errf(err, cap, "cannot remove the stale socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        os_errf(err, cap, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0 || chmod(path, mode) != 0 || listen(fd, 64) != 0) {
        os_errf(err, cap, "cannot listen on %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static struct MHD_Daemon *start_mhd(os_api *api, listener_ctx *lc, const os_api_config *cfg, unsigned flags,
                                    uint16_t port, const struct sockaddr *sa, int listen_fd) {
    unsigned threads = cfg->threads != 0 ? cfg->threads : API_DEFAULT_THREADS;
    unsigned limit = cfg->connection_limit != 0 ? cfg->connection_limit : API_DEFAULT_CONNECTIONS;
    unsigned per_client = cfg->per_client_limit != 0 ? cfg->per_client_limit : API_DEFAULT_PER_CLIENT;
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, lc,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
                            sa != NULL ? MHD_OPTION_SOCK_ADDR : MHD_OPTION_LISTEN_SOCKET,
                            sa != NULL ? (intptr_t)sa : (intptr_t)listen_fd,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)threads,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)limit,
                            /* counts TCP clients by address; Unix-socket peers have none */
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)per_client,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, api,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
                            MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
                            MHD_OPTION_END);
}

int os_api_start(os_engine *engine, const os_api_config *cfg, os_api **out, char *err, size_t cap) {
    ARG_CHECK(engine != NULL && cfg != NULL && out != NULL);
    *out = NULL;
    if (cfg->no_tcp && cfg->unix_path == NULL && cfg->admin_path == NULL) {
        os_errf(err, cap, "no listener: neither TCP nor a Unix socket is configured");
        return OS_ERR_ARG;
    }
    const char *bind = cfg->bind != NULL ? cfg->bind : "127.0.0.1";
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr *sa = NULL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
    memset(&sin, 0, sizeof sin);
    memset(&sin6, 0, sizeof sin6);
    if (!cfg->no_tcp) {
        if (inet_pton(AF_INET, bind, &sin.sin_addr) == 1) {
            sin.sin_family = AF_INET;
            sin.sin_port = htons(cfg->port);
            sa = (struct sockaddr *)&sin;
        } else if (inet_pton(AF_INET6, bind, &sin6.sin6_addr) == 1) {
            sin6.sin6_family = AF_INET6;
            sin6.sin6_port = htons(cfg->port);
            sa = (struct sockaddr *)&sin6;
        } else {
            os_errf(err, cap, "bind address %s is not an IPv4 or IPv6 address", bind);
            return OS_ERR_ARG;
        }
    }
    os_api *api = calloc(1, sizeof *api);
    if (api == NULL) return OS_ERR_INTERNAL;
    api->engine = engine;
    api->serve_ctx = (listener_ctx){ api, 0 };
    api->admin_ctx = (listener_ctx){ api, 1 };
    api->max_body = cfg->max_body != 0 ? cfg->max_body : API_DEFAULT_MAX_BODY;
    api->request_timeout_ms = cfg->request_timeout_ms != 0 ? cfg->request_timeout_ms : API_DEFAULT_REQUEST_TIMEOUT_MS;
    if (cfg->disk_path != NULL) snprintf(api->disk_path, sizeof api->disk_path, "%s", cfg->disk_path);
    api->disk_min_free = cfg->disk_min_free != 0 ? cfg->disk_min_free : API_DEFAULT_DISK_MIN_FREE;
    pthread_mutex_init(&api->conn_lock, NULL);
    pthread_cond_init(&api->reaper_wake, NULL);
    int rc = OS_OK;
    if (cfg->token_file != NULL) {
        rc = read_token(cfg->token_file, api->token_hash, err, cap);
        if (rc != OS_OK) goto fail;
        api->have_token = 1;
    }
    if (pthread_create(&api->reaper, NULL, reaper_main, api) != 0) {
        os_errf(err, cap, "cannot start the connection reaper thread");
        rc = OS_ERR_INTERNAL;
        goto fail;
    }
    api->reaper_running = 1;
    if (sa != NULL) {
        api->daemon = start_mhd(api, &api->serve_ctx, cfg, flags | (sa == (struct sockaddr *)&sin6 ? MHD_USE_IPv6 : 0u), cfg->port,
                                sa, -1);
        if (api->daemon == NULL) {
            os_errf(err, cap, "cannot listen on %s port %u", bind, (unsigned)cfg->port);
            rc = OS_ERR_IO;
            goto fail;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->daemon, MHD_DAEMON_INFO_BIND_PORT);
        api->port = info != NULL ? info->port : cfg->port;
    }
    if (cfg->unix_path != NULL) {
        int fd = unix_listener(cfg->unix_path, 0660, err, cap);
        if (fd < 0) {
            rc = OS_ERR_IO;
            goto fail;
        }
        snprintf(api->unix_path, sizeof api->unix_path, "%s", cfg->unix_path);
        api->unix_daemon = start_mhd(api, &api->serve_ctx, cfg, flags, 0, NULL, fd);
        if (api->unix_daemon == NULL) {
            close(fd);
            unlink(api->unix_path);
            api->unix_path[0] = '\0';
            os_errf(err, cap, "cannot serve on %s", cfg->unix_path);
            rc = OS_ERR_IO;
            goto fail;
        }
    }
    if (cfg->admin_path != NULL) {
        int fd = unix_listener(cfg->admin_path, 0600, err, cap);
        if (fd < 0) {
            rc = OS_ERR_IO;
            goto fail;
        }
        snprintf(api->admin_path, sizeof api->admin_path, "%s", cfg->admin_path);
        api->admin_daemon = start_mhd(api, &api->admin_ctx, cfg, flags, 0, NULL, fd);
        if (api->admin_daemon == NULL) {
            close(fd);
            unlink(api->admin_path);
            api->admin_path[0] = '\0';
            os_errf(err, cap, "cannot serve on %s", cfg->admin_path);
            rc = OS_ERR_IO;
            goto fail;
        }
    }
    *out = api;
    return OS_OK;
fail:
    os_api_stop(api);
    return rc;
}

uint16_t os_api_port(const os_api *api) {
    return api != NULL ? api->port : 0;
}

void os_api_stop(os_api *api) {
    if (api == NULL) return;
    if (api->daemon != NULL) MHD_stop_daemon(api->daemon);
    if (api->unix_daemon != NULL) MHD_stop_daemon(api->unix_daemon);
    if (api->unix_path[0] != '\0') unlink(api->unix_path);
    if (api->admin_daemon != NULL) MHD_stop_daemon(api->admin_daemon);
    if (api->admin_path[0] != '\0') unlink(api->admin_path);
    if (api->reaper_running) {
        pthread_mutex_lock(&api->conn_lock);
        api->stopping = 1;
        pthread_cond_signal(&api->reaper_wake);
        pthread_mutex_unlock(&api->conn_lock);
        pthread_join(api->reaper, NULL);
    }
    pthread_cond_destroy(&api->reaper_wake);
    pthread_mutex_destroy(&api->conn_lock);
    crypto_wipe(api->token_hash, sizeof api->token_hash);
    free(api);
}
