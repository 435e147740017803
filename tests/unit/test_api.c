/* Unit tests of host/lib/api.c: a ledger-only engine on a temporary database behind the HTTP API
 * on an ephemeral loopback port, driven with libcurl. Every endpoint with valid, malformed and
 * hostile input (1 MB and chunked oversized bodies, NUL bytes, deep nesting, duplicate and unknown
 * keys, Unicode addresses, path traversal), bearer-token checks, idempotency, 16 concurrent redeems
 * of one code, and for every refused request a digest of the whole ledger file (all rows of all
 * tables) plus the engine's payout count taken before and after: a refusal changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "api.h"
#include "engine.h"
#include "http_body.h"
#include "issuer.h"
#include "voucher.h"
#include "oncesign/status.h"

#define TOKEN      "test-token-0123456789abcdef"
#define ADDR_OK    "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX"     /* testnet P2PKH (electrum-mona) */
#define ADDR_OK2   "pFdo9GVwppdH2Rc22XiNgk7WKb5Qgihit9"     /* testnet P2SH (electrum-mona) */
#define ADDR_MAIN  "MWLEbTAW61QFdrHtbaV7UdoaHaNjdPUtTj"     /* mainnet P2PKH: wrong network */
#define ADDR_BADCK "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRY"     /* last character changed: bad checksum */
#define MAX_PAYOUT 100000000ull

typedef struct {
    char dir[64], db[96], token_file[96];
    os_engine *engine;
    os_api *api;
    uint16_t port;
} fixture;

static fixture fx;

/* ---------------------------------------------------------------- HTTP client */

typedef struct {
    long status;
    os_http_body sink;
    const char *body;           /* the sink's bytes, NULL when none came */
    size_t len;
    char content_type[64];
    char allow[64];
    char www_auth[64];
    json_t *json;
} reply;

static size_t on_header(char *p, size_t sz, size_t n, void *cls) {
    reply *r = cls;
    size_t len = sz * n;
    static const struct { const char *name; size_t off; } wanted[] = {
        { "Allow:", offsetof(reply, allow) },
        { "WWW-Authenticate:", offsetof(reply, www_auth) },
    };
    for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        size_t nl = strlen(wanted[i].name);
        if (len > nl && strncasecmp(p, wanted[i].name, nl) == 0) {
            char *dst = (char *)r + wanted[i].off;
            size_t vl = len - nl;
            const char *v = p + nl;
            while (vl > 0 && *v == ' ') { v++; vl--; }
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
            if (vl > 63) vl = 63;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
        }
    }
    return len;
}

typedef struct {
    const char *method, *path;
    const char *body;
    size_t body_len;
    const char *token;          /* NULL: no Authorization header */
    const char *extra_header;   /* e.g. "Idempotency-Key: k1" */
    int chunked;                /* send the body with Transfer-Encoding: chunked */
    int path_as_is;             /* no dot-segment removal by curl */
} request;

static size_t chunk_reader(char *buf, size_t sz, size_t n, void *cls) {
    request *rq = cls;
    size_t want = sz * n;
    if (want > rq->body_len) want = rq->body_len;
    memcpy(buf, rq->body, want);
    rq->body += want;
    rq->body_len -= want;
    return want;
}

static reply do_request_with(CURL *h, request rq) {
    reply r;
    memset(&r, 0, sizeof r);
    char url[512], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)fx.port, rq.path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq.method);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, os_http_body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.sink);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, rq.path_as_is ? 1L : 0L);
    struct curl_slist *hdrs = NULL;
    if (rq.token != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", rq.token);
        hdrs = curl_slist_append(hdrs, auth);
    }
    if (rq.extra_header != NULL) hdrs = curl_slist_append(hdrs, rq.extra_header);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (rq.body != NULL && rq.chunked) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, chunk_reader);
        curl_easy_setopt(h, CURLOPT_READDATA, &rq);
    } else if (rq.body != NULL) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 0L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq.body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rq.body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 0L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq.method);
    }
    curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(rq.method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode cc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK) {
        r.status = -1;
        return r;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    r.body = r.sink.data;
    r.len = r.sink.len;
    char *ct = NULL;
    curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != NULL) snprintf(r.content_type, sizeof r.content_type, "%s", ct);
    if (r.body != NULL && strcmp(r.content_type, "application/json") == 0) {
        json_error_t e;
        r.json = json_loadb(r.body, r.len, 0, &e);
    }
    return r;
}

static reply do_request(request rq) {
    CURL *h = curl_easy_init();
    assert_non_null(h);
    reply r = do_request_with(h, rq);
    curl_easy_cleanup(h);
    if (r.status <= 0) fail_msg("%s %s: no HTTP answer", rq.method, rq.path);
    return r;
}

static void reply_free(reply *r) {
    os_http_body_free(&r->sink);
    json_decref(r->json);
    memset(r, 0, sizeof *r);
}

static reply get(const char *path, const char *token) {
    return do_request((request){ .method = "GET", .path = path, .token = token });
}

static reply post(const char *path, const char *body, const char *token, const char *extra) {
    return do_request((request){ .method = "POST", .path = path, .body = body, .body_len = strlen(body),
                                 .token = token, .extra_header = extra });
}

/* Every non-2xx answer is JSON {"error":{"code":<stable name>,"message":<non-empty>}}. */
static void assert_error(const reply *r, long status, const char *code) {
    if (r->status != status || r->json == NULL) {
        fail_msg("expected %ld %s, got %ld %s", status, code, r->status, r->body ? r->body : "(no body)");
    }
    assert_string_equal(r->content_type, "application/json");
    json_t *err = json_object_get(r->json, "error");
    assert_non_null(err);
    assert_string_equal(json_string_value(json_object_get(err, "code")), code);
    const char *msg = json_string_value(json_object_get(err, "message"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
}

static void expect_error(reply r, long status, const char *code) {
    assert_error(&r, status, code);
    reply_free(&r);
}

static json_int_t jint(const json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v)) fail_msg("field %s is not an integer", k);
    return json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *k) {
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v)) fail_msg("field %s is not a string", k);
    return json_string_value(v);
}

/* ---------------------------------------------------------------- ledger digest */

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* A digest of every row of every table, read through a second connection: it changes when
 * anything in the ledger does. */
static uint64_t ledger_digest(void) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx.db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *tables = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1,
                                        &tables, NULL),
                     SQLITE_OK);
    uint64_t h = 14695981039346656037ull;
    int n_tables = 0;
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tables, 0);
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY rowid", name);
        sqlite3_stmt *rows = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &rows, NULL) != SQLITE_OK) {
            snprintf(sql, sizeof sql, "SELECT * FROM \"%s\"", name);   /* WITHOUT ROWID tables */
            assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
        }
        h = fnv(h, name, strlen(name));
        n_tables++;
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(rows); c++) {
                int t = sqlite3_column_type(rows, c);
                h = fnv(h, &t, sizeof t);
                const void *blob = sqlite3_column_blob(rows, c);
                h = fnv(h, blob, (size_t)sqlite3_column_bytes(rows, c));
            }
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    assert_true(n_tables >= 2);
    return h;
}

static size_t payout_count(void) {
    static os_payout_info list[4096];
    size_t n = 0;
    assert_int_equal(os_engine_payout_list(fx.engine, 0, 0, 4096, list, &n), OS_OK);
    return n;
}

typedef struct {
    uint64_t digest;
    size_t payouts;
} snapshot;

static snapshot snap(void) {
    return (snapshot){ ledger_digest(), payout_count() };
}

static void assert_unchanged(snapshot before) {
    snapshot after = snap();
    assert_int_equal(after.payouts, before.payouts);
    if (after.digest != before.digest) fail_msg("the ledger changed on a refused request");
}

/* ---------------------------------------------------------------- fixture */

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, 0600), 0);   /* os_api_start refuses a token others can read */
}

static int setup(void **state) {
    (void)state;
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/oncesign-api-XXXXXX");
    if (mkdtemp(fx.dir) == NULL) return -1;
    snprintf(fx.db, sizeof fx.db, "%s/ledger.db", fx.dir);
    snprintf(fx.token_file, sizeof fx.token_file, "%s/token", fx.dir);
    write_file(fx.token_file, TOKEN "\n");
    os_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.db_path = fx.db;
    ec.network = OS_NET_TEST;
    ec.max_payout = MAX_PAYOUT;
    char err[256] = "";
    if (os_engine_open(&ec, &fx.engine, err, sizeof err) != OS_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return -1;
    }
    os_api_config ac;
    memset(&ac, 0, sizeof ac);
    ac.token_file = fx.token_file;
    if (os_api_start(fx.engine, &ac, &fx.api, err, sizeof err) != OS_OK) {
        fprintf(stderr, "api: %s\n", err);
        return -1;
    }
    fx.port = os_api_port(fx.api);
    return fx.port != 0 ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    os_api_stop(fx.api);
    os_engine_close(fx.engine);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    if (system(cmd) != 0) return -1;
    return 0;
}

/* Issues a code through the API; code_out gets the secret. */
static void issue(uint64_t amount, char code_out[65]) {
    char body[64];
    snprintf(body, sizeof body, "{\"amount\":%llu}", (unsigned long long)amount);
    reply r = post("/v1/codes", body, TOKEN, NULL);
    assert_int_equal(r.status, 201);
    snprintf(code_out, 65, "%s", jstr(r.json, "code"));
    reply_free(&r);
}

/* ---------------------------------------------------------------- tests: start */

static void test_start_refuses_bad_token_files(void **state) {
    (void)state;
    char path[128], err[200];
    os_api *api = NULL;
    os_api_config ac;
    memset(&ac, 0, sizeof ac);
    snprintf(path, sizeof path, "%s/missing", fx.dir);
    ac.token_file = path;
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_IO);
    assert_null(api);
    assert_non_null(strstr(err, "missing"));

    snprintf(path, sizeof path, "%s/empty", fx.dir);
    write_file(path, "");
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_IO);
    write_file(path, "\n" TOKEN "\n");   /* the first line is the token, and it is empty */
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_IO);
    write_file(path, "short-token-15c\n");
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_IO);
    assert_non_null(strstr(err, "16"));
    assert_null(api);

    ac.token_file = fx.token_file;
    ac.bind = "not-an-address";
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_ARG);
    ac.bind = NULL;
    assert_int_equal(os_api_start(NULL, &ac, &api, err, sizeof err), OS_ERR_ARG);
    assert_null(api);
    /* no token file is allowed: API keys only (tests/unit/test_apikeys.c) */
}

/* ---------------------------------------------------------------- tests: body parser */

static int parse(os_api_body_kind kind, const char *body, const char *header_key, os_api_request *out) {
    char why[200];
    return os_api_parse_request(kind, body, strlen(body), header_key, out, why, sizeof why);
}

static void test_parse_request(void **state) {
    (void)state;
    os_api_request q;
    assert_int_equal(parse(OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", "k-1", &q), OS_OK);
    assert_int_equal(q.amount, 1000);
    assert_string_equal(q.address, ADDR_OK);
    assert_string_equal(q.idempotency_key, "k-1");
    assert_int_equal(parse(OS_API_BODY_PAYOUT,
                           "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"idempotency_key\":\"b\"}", NULL, &q),
                     OS_OK);
    assert_string_equal(q.idempotency_key, "b");
    assert_int_equal(parse(OS_API_BODY_PAYOUT,
                           "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"idempotency_key\":\"b\"}", "b", &q),
                     OS_OK);
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, " {\"amount\":5000,\"expires_at\":null} ", NULL, &q), OS_OK);
    assert_int_equal(q.expires_at, 0);
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, "{\"expires_at\":4102444800,\"amount\":5000}", NULL, &q), OS_OK);
    assert_int_equal(q.expires_at, 4102444800);
    assert_int_equal(parse(OS_API_BODY_REDEEM, "{\"address\":\"" ADDR_OK "\"}", NULL, &q), OS_OK);

    static const struct { os_api_body_kind kind; const char *body; const char *hk; int rc; } bad[] = {
        { OS_API_BODY_ISSUE_CODE, "", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "[1]", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "1000", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "null", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000}{}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"ammount\":1000}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000,\"ammount\":1}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":\"1000\"}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000.0}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1e3}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":true}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":null}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":[1000]}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":99999999999999999999999}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":-1000}", NULL, OS_ERR_AMOUNT },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":0}", NULL, OS_ERR_AMOUNT },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":9007199254740992}", NULL, OS_ERR_AMOUNT },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000,\"amount\":2000}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000,\"expires_at\":\"tomorrow\"}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000,\"expires_at\":-5}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_ISSUE_CODE, "{\"amount\":1000,\"expires_at\":1.5}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_REDEEM, "{\"address\":\"" ADDR_OK "\",\"amount\":5}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_REDEEM, "{\"address\":5}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_REDEEM, "{\"address\":\"\"}", NULL, OS_ERR_ADDRESS },
        { OS_API_BODY_REDEEM, "{\"address\":\"m\\u00e9tXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX\"}", NULL, OS_ERR_ADDRESS },
        { OS_API_BODY_REDEEM, "{\"address\":\"mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX \"}", NULL, OS_ERR_ADDRESS },
        { OS_API_BODY_REDEEM, "{\"address\":\"mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX\\u0000\"}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_REDEEM, "{\"address\":\"\xff\xfe\"}", NULL, OS_ERR_BAD_REQUEST },   /* not UTF-8 */
        { OS_API_BODY_REDEEM, "{\"Address\":\"" ADDR_OK "\"}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", NULL, OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", "", OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", "has space", OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"idempotency_key\":\"a\"}", "b",
          OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"idempotency_key\":7}", NULL,
          OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"amount\":1000}", "k", OS_ERR_BAD_REQUEST },
        { OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\"}", "k", OS_ERR_BAD_REQUEST },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i].kind, bad[i].body, bad[i].hk, &q);
        if (rc != bad[i].rc) fail_msg("case %zu (%s): got %s", i, bad[i].body, os_status_name(rc));
        assert_int_equal(q.amount, 0);   /* out is zeroed on refusal */
    }

    /* Raw NUL bytes inside and after the JSON text. */
    static const char nul_in[] = "{\"amount\":1\0000}";
    assert_int_equal(os_api_parse_request(OS_API_BODY_ISSUE_CODE, nul_in, sizeof nul_in - 1, NULL, &q, NULL, 0),
                     OS_ERR_BAD_REQUEST);
    /* jansson 2.14 alone would read this as {"amount":1000}. */
    static const char nul_num[] = "{\"amount\":1000\0}";
    assert_int_equal(os_api_parse_request(OS_API_BODY_ISSUE_CODE, nul_num, sizeof nul_num - 1, NULL, &q, NULL, 0),
                     OS_ERR_BAD_REQUEST);
    static const char nul_after[] = "{\"amount\":1000}\0";
    assert_int_equal(os_api_parse_request(OS_API_BODY_ISSUE_CODE, nul_after, sizeof nul_after - 1, NULL, &q, NULL, 0),
                     OS_ERR_BAD_REQUEST);
    /* 100,000 nested arrays: refused, not a stack overflow. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 16);
    assert_non_null(deep);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    assert_int_equal(os_api_parse_request(OS_API_BODY_ISSUE_CODE, deep, 2 * depth, NULL, &q, NULL, 0),
                     OS_ERR_BAD_REQUEST);
    free(deep);
    /* Key longer than 128 characters. */
    char longkey[140];
    memset(longkey, 'k', 129);
    longkey[129] = '\0';
    assert_int_equal(parse(OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", longkey, &q),
                     OS_ERR_BAD_REQUEST);
    longkey[128] = '\0';
    assert_int_equal(parse(OS_API_BODY_PAYOUT, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", longkey, &q), OS_OK);
    /* Misuse. */
    assert_int_equal(os_api_parse_request(OS_API_BODY_REDEEM, "{}", 2, NULL, NULL, NULL, 0), OS_ERR_ARG);
    assert_int_equal(os_api_parse_request((os_api_body_kind)99, "{}", 2, NULL, &q, NULL, 0), OS_ERR_ARG);
    assert_int_equal(os_api_parse_request(OS_API_BODY_REDEEM, NULL, 5, NULL, &q, NULL, 0), OS_ERR_ARG);

    /* Issue 14: "voucher", 428 hex digits of a well-formed voucher, on issue and payout only. */
    os_voucher v;
    memset(&v, 0, sizeof v);
    v.network = OS_NET_TEST;
    v.amount = 5000;
    v.expiry_seq = 100;
    memset(v.nonce, 0x42, 32);
    char hex[2 * OS_VOUCHER_BYTES + 1], body[700];
    assert_int_equal(os_voucher_to_hex(&v, hex), OS_OK);
    snprintf(body, sizeof body, "{\"amount\":5000,\"voucher\":\"%s\"}", hex);
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, body, NULL, &q), OS_OK);
    assert_int_equal(q.has_voucher, 1);
    assert_memory_equal(q.voucher.nonce, v.nonce, 32);
    snprintf(body, sizeof body, "{\"amount\":5001,\"voucher\":\"%s\"}", hex);   /* two amounts */
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, body, NULL, &q), OS_ERR_BAD_REQUEST);
    snprintf(body, sizeof body, "{\"address\":\"" ADDR_OK "\",\"amount\":4000,\"voucher\":\"%s\"}", hex);
    assert_int_equal(parse(OS_API_BODY_PAYOUT, body, "k", &q), OS_OK);
    assert_int_equal(q.has_voucher, 1);
    snprintf(body, sizeof body, "{\"address\":\"" ADDR_OK "\",\"voucher\":\"%s\"}", hex);
    assert_int_equal(parse(OS_API_BODY_REDEEM, body, NULL, &q), OS_ERR_BAD_REQUEST);   /* the code has it */
    hex[2 * OS_VOUCHER_BYTES - 1] = 0;   /* 427 digits */
    snprintf(body, sizeof body, "{\"amount\":5000,\"voucher\":\"%s\"}", hex);
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, body, NULL, &q), OS_ERR_BAD_REQUEST);
    assert_int_equal(os_voucher_to_hex(&v, hex), OS_OK);
    hex[1] = '2';   /* version 2 */
    snprintf(body, sizeof body, "{\"amount\":5000,\"voucher\":\"%s\"}", hex);
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, body, NULL, &q), OS_ERR_BAD_REQUEST);
    assert_int_equal(parse(OS_API_BODY_ISSUE_CODE, "{\"amount\":5000,\"voucher\":7}", NULL, &q), OS_ERR_BAD_REQUEST);
    assert_int_equal(os_api_http_status(OS_ERR_VOUCHER_MISSING), 422);
    assert_int_equal(os_api_http_status(OS_ERR_VOUCHER_DESTINATION), 422);

    /* Issue 14 part 2: {"approval": 208 hex digits of an approval}, nothing else. */
    os_approval a;
    memset(&a, 0, sizeof a);
    memset(a.operator_key, 0x11, 32);
    memset(a.sig, 0x22, 64);
    a.expiry_seq = 77;
    uint8_t wire[OS_APPROVAL_BYTES];
    char ahex[2 * OS_APPROVAL_BYTES + 1];
    assert_int_equal(os_approval_encode(&a, wire), OS_OK);
    for (size_t i = 0; i < sizeof wire; i++) snprintf(ahex + 2 * i, 3, "%02x", wire[i]);
    snprintf(body, sizeof body, "{\"approval\":\"%s\"}", ahex);
    assert_int_equal(parse(OS_API_BODY_APPROVAL, body, NULL, &q), OS_OK);
    assert_int_equal(q.approval.expiry_seq, 77);
    assert_memory_equal(q.approval.operator_key, a.operator_key, 32);
    assert_memory_equal(q.approval.sig, a.sig, 64);
    snprintf(body, sizeof body, "{\"approval\":\"%s\",\"amount\":1}", ahex);   /* unknown field */
    assert_int_equal(parse(OS_API_BODY_APPROVAL, body, NULL, &q), OS_ERR_BAD_REQUEST);
    snprintf(body, sizeof body, "{\"approval\":\"%.206s\"}", ahex);              /* 206 digits */
    assert_int_equal(parse(OS_API_BODY_APPROVAL, body, NULL, &q), OS_ERR_BAD_REQUEST);
    memcpy(ahex + 64, "0000000000000000", 16);                                        /* expiry 0 */
    snprintf(body, sizeof body, "{\"approval\":\"%s\"}", ahex);
    assert_int_equal(parse(OS_API_BODY_APPROVAL, body, NULL, &q), OS_ERR_BAD_REQUEST);
    ahex[0] = 'x';
    snprintf(body, sizeof body, "{\"approval\":\"%s\"}", ahex);
    assert_int_equal(parse(OS_API_BODY_APPROVAL, body, NULL, &q), OS_ERR_BAD_REQUEST);
    assert_int_equal(parse(OS_API_BODY_APPROVAL, "{\"approval\":7}", NULL, &q), OS_ERR_BAD_REQUEST);
    assert_int_equal(parse(OS_API_BODY_APPROVAL, "{}", NULL, &q), OS_ERR_BAD_REQUEST);
    assert_int_equal(os_api_http_status(OS_ERR_APPROVAL_MISMATCH), 422);
    assert_int_equal(os_api_http_status(OS_ERR_APPROVAL_OPERATOR), 422);
    assert_int_equal(os_api_http_status(OS_ERR_APPROVAL_EXPIRED), 422);
    assert_int_equal(os_api_http_status(OS_ERR_QUORUM_NOT_WAITING), 409);
}

static void test_status_mapping(void **state) {
    (void)state;
    assert_int_equal(os_api_http_status(OS_ERR_BAD_REQUEST), 400);
    assert_int_equal(os_api_http_status(OS_ERR_AUTH), 401);
    assert_int_equal(os_api_http_status(OS_ERR_NOT_FOUND), 404);
    assert_int_equal(os_api_http_status(OS_ERR_IDEMPOTENCY), 409);
    assert_int_equal(os_api_http_status(OS_ERR_CODE_EXPIRED), 410);
    assert_int_equal(os_api_http_status(OS_ERR_TOO_LARGE), 413);
    assert_int_equal(os_api_http_status(OS_ERR_ADDRESS), 422);
    assert_int_equal(os_api_http_status(OS_ERR_AMOUNT), 422);
    assert_int_equal(os_api_http_status(OS_ERR_DB), 500);
    assert_int_equal(os_api_http_status(OS_ERR_INTERNAL), 500);
    assert_int_equal(os_api_http_status(OS_ERR_RPC_TRANSPORT), 503);
    assert_int_equal(os_api_http_status(OS_ERR_UNSUPPORTED), 503);
    assert_int_equal(os_api_http_status(OS_ERR_FUNDS), 503);
    assert_int_equal(os_api_http_status(OS_ERR_ARG), 400);
}

/* ---------------------------------------------------------------- tests: auth and routing */

static void test_auth(void **state) {
    (void)state;
    char code[65];
    issue(10000, code);
    char path[128];
    snprintf(path, sizeof path, "/v1/codes/%s", code);
    snapshot before = snap();
    const char *wrong[] = { NULL, "", "test-token-0123456789abcdeX", "test-token-0123456789abcdef ",
                            "test-token-0123456789abcde", TOKEN TOKEN };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        reply r = post("/v1/codes", "{\"amount\":1000}", wrong[i], NULL);
        assert_error(&r, 401, "auth");
        assert_string_equal(r.www_auth, "Bearer");
        reply_free(&r);
        expect_error(get(path, wrong[i]), 401, "auth");
        char rp[160];
        snprintf(rp, sizeof rp, "%s/redeem", path);
        expect_error(post(rp, "{\"address\":\"" ADDR_OK "\"}", wrong[i], NULL), 401, "auth");
        expect_error(post("/v1/payouts", "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", wrong[i],
                          "Idempotency-Key: auth-1"),
                     401, "auth");
        expect_error(get("/v1/payouts", wrong[i]), 401, "auth");
        expect_error(get("/v1/payouts/1", wrong[i]), 401, "auth");
        expect_error(get("/v1/wallet", wrong[i]), 401, "auth");
    }
    /* The scheme name is case-insensitive, the token is not. */
    reply lc = do_request((request){ .method = "GET", .path = "/v1/payouts", .extra_header =
                                         "Authorization: bearer " TOKEN });
    assert_int_equal(lc.status, 200);
    reply_free(&lc);
    lc = do_request((request){ .method = "GET", .path = "/v1/payouts", .extra_header =
                                   "Authorization: Bearer TEST-TOKEN-0123456789ABCDEF" });
    assert_error(&lc, 401, "auth");
    reply_free(&lc);
    /* Basic auth with the right token is still not a bearer token. */
    reply r = do_request((request){ .method = "GET", .path = "/v1/payouts", .extra_header =
                                        "Authorization: Basic dGVzdC10b2tlbi0wMTIzNDU2Nzg5YWJjZGVm" });
    assert_error(&r, 401, "auth");
    reply_free(&r);
    assert_unchanged(before);
    /* The code's secret did not leak into refusals, and the right token works. */
    r = get(path, TOKEN);
    assert_int_equal(r.status, 200);
    assert_false(json_is_true(json_object_get(r.json, "redeemed")));
    reply_free(&r);
    /* Health and metrics need no token. */
    r = get("/v1/health", NULL);
    assert_true(r.status == 200 || r.status == 503);
    assert_non_null(r.json);
    reply_free(&r);
    r = get("/metrics", NULL);
    assert_int_equal(r.status, 200);
    reply_free(&r);
}

static void test_routing(void **state) {
    (void)state;
    snapshot before = snap();
    const char *unknown[] = { "/", "/v1", "/v1/", "/v1/codes/", "/v1/code", "/v2/codes", "/v1/payouts/",
                              "/v1/payouts/abc", "/v1/payouts/-1", "/v1/payouts/0", "/v1/payouts/1x",
                              "/v1/payouts/99999999999999999999", "/v1/codes/abc/redeem/x", "/v1/codes/abc/redeemx",
                              "/v1/health/", "/metrics/x", "/v1/wallet/x", "/V1/health", "/v1/payouts/1/",
                              "/v1/payouts/1/commitment/x", "/v1/payouts/1/approvalsx", "/v1/payouts//commitment",
                              "/v1/payouts/x/commitment" };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        reply r = get(unknown[i], TOKEN);
        if (r.status != 404) fail_msg("%s: %ld", unknown[i], r.status);
        assert_error(&r, 404, "not-found");
        reply_free(&r);
    }
    /* Path traversal in the code segment, raw and percent-encoded. */
    const char *trav[] = { "/v1/codes/../payouts", "/v1/codes/..%2fpayouts", "/v1/codes/%2e%2e/payouts",
                           "/v1/codes/..", "/v1/codes/a%00b", "/v1/codes/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
                           "/v1/codes/../../../../etc/passwd/redeem" };
    for (size_t i = 0; i < sizeof trav / sizeof trav[0]; i++) {
        reply r = do_request((request){ .method = "GET", .path = trav[i], .token = TOKEN, .path_as_is = 1 });
        if (r.status != 404) fail_msg("%s: %ld %s", trav[i], r.status, r.body);
        assert_error(&r, 404, "not-found");
        reply_free(&r);
        r = do_request((request){ .method = "POST", .path = trav[i], .token = TOKEN, .path_as_is = 1,
                                  .body = "{\"address\":\"" ADDR_OK "\"}", .body_len = 39 + 6 });
        assert_int_equal(r.status, 404);
        reply_free(&r);
    }
    /* Wrong methods: 405 with Allow, before the token is even looked at. */
    static const struct { const char *method, *path, *allow; } wm[] = {
        { "GET", "/v1/codes", "POST" },          { "DELETE", "/v1/codes", "POST" },
        { "POST", "/v1/codes/abcdef", "GET" },   { "GET", "/v1/codes/abcdef/redeem", "POST" },
        { "PUT", "/v1/payouts", "GET, POST" },   { "DELETE", "/v1/payouts/1", "GET" },
        { "POST", "/v1/wallet", "GET" },         { "POST", "/v1/health", "GET" },
        { "PUT", "/metrics", "GET" },            { "HEAD", "/v1/health", "GET" },
        { "PATCH", "/v1/payouts", "GET, POST" },
        { "POST", "/v1/payouts/1/commitment", "GET" }, { "GET", "/v1/payouts/1/approvals", "POST" },
    };
    for (size_t i = 0; i < sizeof wm / sizeof wm[0]; i++) {
        reply r = do_request((request){ .method = wm[i].method, .path = wm[i].path });
        if (strcmp(wm[i].method, "HEAD") == 0) {
            assert_int_equal(r.status, 405);   /* no body on HEAD */
        } else {
            assert_error(&r, 405, "unsupported");
        }
        assert_string_equal(r.allow, wm[i].allow);
        reply_free(&r);
    }
    assert_unchanged(before);
}

/* ---------------------------------------------------------------- tests: codes */

static void test_issue_lookup_redeem(void **state) {
    (void)state;
    int64_t now = (int64_t)time(NULL);
    char body[128];
    snprintf(body, sizeof body, "{\"amount\":25000,\"expires_at\":%lld}", (long long)(now + 3600));
    reply r = post("/v1/codes", body, TOKEN, NULL);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "application/json");
    char code[65], code_id[40];
    snprintf(code, sizeof code, "%s", jstr(r.json, "code"));
    snprintf(code_id, sizeof code_id, "%s", jstr(r.json, "code_id"));
    assert_int_equal(jint(r.json, "amount"), 25000);
    assert_int_equal(jint(r.json, "expires_at"), now + 3600);
    assert_true(strlen(code) >= 16);
    assert_int_equal(strlen(code_id), 32);
    reply_free(&r);

    r = post("/v1/codes", "{\"amount\":25000}", TOKEN, NULL);
    assert_int_equal(r.status, 201);
    assert_true(json_is_null(json_object_get(r.json, "expires_at")));
    assert_string_not_equal(jstr(r.json, "code"), code);
    reply_free(&r);

    char path[160], rpath[180];
    snprintf(path, sizeof path, "/v1/codes/%s", code);
    snprintf(rpath, sizeof rpath, "/v1/codes/%s/redeem", code);
    r = get(path, TOKEN);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "code_id"), code_id);
    assert_int_equal(jint(r.json, "amount"), 25000);
    assert_false(json_is_true(json_object_get(r.json, "redeemed")));
    assert_true(json_is_null(json_object_get(r.json, "payout_id")));
    assert_null(json_object_get(r.json, "code"));   /* shown once */
    reply_free(&r);

    /* Refused redeems leave the code unredeemed and the ledger as it was. */
    snapshot before = snap();
    static const struct { const char *body; long status; const char *code; } bad[] = {
        { "{\"address\":\"" ADDR_MAIN "\"}", 422, "address" },
        { "{\"address\":\"" ADDR_BADCK "\"}", 422, "address" },
        { "{\"address\":\"mona1q7cgva59egg6l4eg64c285rfutmdjfw6nemf9cx\"}", 422, "address" },
        { "{\"address\":\"\xef\xbd\x8dutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX\"}", 422, "address" },   /* fullwidth m */
        { "{\"address\":\"mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX\\u200b\"}", 422, "address" },  /* zero-width space */
        { "{\"address\":\"\"}", 422, "address" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":1}", 400, "bad-request" },
        { "{\"adress\":\"" ADDR_OK "\"}", 400, "bad-request" },
        { "{\"address\":[\"" ADDR_OK "\"]}", 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\",\"address\":\"" ADDR_OK2 "\"}", 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\"", 400, "bad-request" },
        { "", 400, "bad-request" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post(rpath, bad[i].body, TOKEN, NULL);
        if (r.status != bad[i].status) fail_msg("case %zu: %ld %s", i, r.status, r.body);
        assert_error(&r, bad[i].status, bad[i].code);
        reply_free(&r);
    }
    expect_error(post("/v1/codes/00112233445566778899aabbccddeeff/redeem", "{\"address\":\"" ADDR_OK "\"}", TOKEN,
                      NULL),
                 404, "not-found");
    expect_error(get("/v1/codes/00112233445566778899aabbccddeeff", TOKEN), 404, "not-found");
    char toolong[100];
    memset(toolong, 'a', 65);
    snprintf(toolong, sizeof toolong, "/v1/codes/%065d", 0);
    expect_error(get(toolong, TOKEN), 404, "not-found");
    assert_unchanged(before);

    r = post(rpath, "{\"address\":\"" ADDR_OK "\"}", TOKEN, NULL);
    assert_int_equal(r.status, 201);
    int64_t pid = jint(r.json, "id");
    assert_true(pid > 0);
    assert_string_equal(jstr(r.json, "status"), "requested");
    assert_int_equal(jint(r.json, "amount"), 25000);
    assert_string_equal(jstr(r.json, "address"), ADDR_OK);
    assert_string_equal(jstr(r.json, "code_id"), code_id);
    assert_true(json_is_null(json_object_get(r.json, "txid")));
    assert_true(json_is_null(json_object_get(r.json, "idempotency_key")));
    assert_true(json_is_null(json_object_get(r.json, "error")));
    assert_int_equal(jint(r.json, "confirmations"), 0);
    assert_true(jint(r.json, "created_at") >= now);
    reply_free(&r);

    /* A repeat, even to another address, gets the same payout with 200. */
    before = snap();
    for (int i = 0; i < 3; i++) {
        r = post(rpath, i == 0 ? "{\"address\":\"" ADDR_OK "\"}" : "{\"address\":\"" ADDR_OK2 "\"}", TOKEN, NULL);
        assert_int_equal(r.status, 200);
        assert_int_equal(jint(r.json, "id"), pid);
        assert_string_equal(jstr(r.json, "address"), ADDR_OK);
        reply_free(&r);
    }
    assert_unchanged(before);

    r = get(path, TOKEN);
    assert_true(json_is_true(json_object_get(r.json, "redeemed")));
    assert_int_equal(jint(r.json, "payout_id"), pid);
    reply_free(&r);

    /* A code past its expiry (issued through the engine, the API refuses past expiries). */
    char old[65];
    os_code_info info;
    assert_int_equal(os_engine_issue_code(fx.engine, 5000, now - 10, old, &info), OS_OK);
    snprintf(rpath, sizeof rpath, "/v1/codes/%s/redeem", old);
    before = snap();
    expect_error(post(rpath, "{\"address\":\"" ADDR_OK "\"}", TOKEN, NULL), 410, "code-expired");
    assert_unchanged(before);
}

static void test_issue_refusals(void **state) {
    (void)state;
    snapshot before = snap();
    char past[80], over[80];
    snprintf(past, sizeof past, "{\"amount\":1000,\"expires_at\":%lld}", (long long)time(NULL) - 1);
    snprintf(over, sizeof over, "{\"amount\":%llu}", MAX_PAYOUT + 1);
    static const struct { const char *body; long status; const char *code; } bad[] = {
        { "{\"amount\":\"1000\"}", 400, "bad-request" },
        { "{\"amount\":1000.5}", 400, "bad-request" },
        { "{\"amount\":10.0}", 400, "bad-request" },
        { "{\"amount\":-1000}", 422, "amount" },
        { "{\"amount\":0}", 422, "amount" },
        { "{\"amount\":9007199254740993}", 422, "amount" },
        { "{\"amount\":18446744073709551616}", 400, "bad-request" },
        { "{\"amount\":100}", 422, "amount" },   /* dust */
        { "{\"ammount\":1000}", 400, "bad-request" },
        { "{\"amount\":1000,\"memo\":\"x\"}", 400, "bad-request" },
        { "{\"amount\":1000,\"amount\":1000}", 400, "bad-request" },
        { "[{\"amount\":1000}]", 400, "bad-request" },
        { "{\"amount\":1000}trailing", 400, "bad-request" },
        { "{\"amount\":1000,}", 400, "bad-request" },
        { "{'amount':1000}", 400, "bad-request" },
        { "", 400, "bad-request" },
        { "{\"amount\":1000,\"expires_at\":\"2030-01-01\"}", 400, "bad-request" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        reply r = post("/v1/codes", bad[i].body, TOKEN, NULL);
        if (r.status != bad[i].status) fail_msg("case %zu (%s): %ld %s", i, bad[i].body, r.status, r.body);
        assert_error(&r, bad[i].status, bad[i].code);
        reply_free(&r);
    }
    expect_error(post("/v1/codes", past, TOKEN, NULL), 400, "bad-request");
    expect_error(post("/v1/codes", over, TOKEN, NULL), 422, "amount");
    assert_unchanged(before);
}

/* ---------------------------------------------------------------- tests: hostile bodies */

static void test_hostile_bodies(void **state) {
    (void)state;
    char code[65], rpath[160];
    issue(10000, code);
    snprintf(rpath, sizeof rpath, "/v1/codes/%s/redeem", code);
    snapshot before = snap();

    /* 1 MB: refused from its Content-Length, before the body is read. */
    size_t big = 1024 * 1024;
    char *mb = malloc(big + 1);
    assert_non_null(mb);
    memset(mb, ' ', big);
    memcpy(mb, "{\"amount\":1000,\"pad\":\"", 23);
    mb[big - 2] = '"';
    mb[big - 1] = '}';
    mb[big] = '\0';
    reply r = do_request((request){ .method = "POST", .path = "/v1/codes", .body = mb, .body_len = big,
                                    .token = TOKEN });
    assert_error(&r, 413, "too-large");
    reply_free(&r);
    /* The same without a Content-Length (chunked): drained, then 413. */
    r = do_request((request){ .method = "POST", .path = "/v1/codes", .body = mb, .body_len = 64 * 1024,
                              .token = TOKEN, .chunked = 1 });
    assert_error(&r, 413, "too-large");
    reply_free(&r);
    /* One byte over the limit, and exactly at it. */
    size_t lim = 16 * 1024;
    memset(mb, ' ', lim + 1);
    memcpy(mb, "{\"amount\":1000}", 15);
    r = do_request((request){ .method = "POST", .path = "/v1/codes", .body = mb, .body_len = lim + 1,
                              .token = TOKEN });
    assert_error(&r, 413, "too-large");
    reply_free(&r);
    snprintf(rpath, sizeof rpath, "/v1/codes/%s/redeem", code);
    memset(mb, ' ', lim);
    memcpy(mb, "{\"address\":\"" ADDR_MAIN "\"}", 48);
    r = do_request((request){ .method = "POST", .path = rpath, .body = mb, .body_len = lim, .token = TOKEN });
    assert_error(&r, 422, "address");   /* read and parsed, refused for the address */
    reply_free(&r);
    /* Unauthenticated 1 MB: 401, not 413, and nothing buffered. */
    r = do_request((request){ .method = "POST", .path = "/v1/codes", .body = mb, .body_len = big });
    assert_error(&r, 401, "auth");
    reply_free(&r);
    free(mb);

    /* NUL bytes. */
    static const char nul[] = "{\"address\":\"" ADDR_OK "\0\"}";
    r = do_request((request){ .method = "POST", .path = rpath, .body = nul, .body_len = sizeof nul - 1,
                              .token = TOKEN });
    assert_error(&r, 400, "bad-request");
    reply_free(&r);
    static const char nul2[] = "{\"address\":\"" ADDR_OK "\"}\0\0\0";
    r = do_request((request){ .method = "POST", .path = rpath, .body = nul2, .body_len = sizeof nul2 - 1,
                              .token = TOKEN });
    assert_error(&r, 400, "bad-request");
    reply_free(&r);
    expect_error(post(rpath, "{\"address\":\"" ADDR_OK "\\u0000\"}", TOKEN, NULL), 400, "bad-request");

    /* Deep nesting within the size limit. */
    char deep[16000];
    size_t d = 7000;
    memset(deep, '[', d);
    memset(deep + d, ']', d);
    deep[2 * d] = '\0';
    expect_error(post("/v1/codes", deep, TOKEN, NULL), 400, "bad-request");
    char deep2[16000];
    size_t off = 0;
    for (size_t i = 0; i < 2500; i++) off += (size_t)snprintf(deep2 + off, sizeof deep2 - off, "{\"a\":");
    deep2[off++] = '1';
    for (size_t i = 0; i < 2500; i++) deep2[off++] = '}';
    deep2[off] = '\0';
    expect_error(post("/v1/payouts", deep2, TOKEN, "Idempotency-Key: deep"), 400, "bad-request");

    /* Duplicate keys, possibly with different values. */
    expect_error(post(rpath, "{\"address\":\"" ADDR_MAIN "\",\"address\":\"" ADDR_OK "\"}", TOKEN, NULL), 400,
                 "bad-request");
    expect_error(post("/v1/payouts", "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"amount\":50000000}", TOKEN,
                      "Idempotency-Key: dup"),
                 400, "bad-request");
    /* Invalid UTF-8 and overlong encodings. */
    expect_error(post(rpath, "{\"address\":\"\xc0\xaf\"}", TOKEN, NULL), 400, "bad-request");
    expect_error(post(rpath, "{\"address\":\"\xed\xa0\x80\"}", TOKEN, NULL), 400, "bad-request");
    /* A body on a GET is ignored up to the limit, refused above. */
    r = do_request((request){ .method = "GET", .path = "/v1/payouts", .body = "{\"x\":1}", .body_len = 7,
                              .token = TOKEN });
    assert_int_equal(r.status, 200);
    reply_free(&r);
    assert_unchanged(before);

    /* The code is still redeemable: none of the above touched it. */
    r = post(rpath, "{\"address\":\"" ADDR_OK "\"}", TOKEN, NULL);
    assert_int_equal(r.status, 201);
    reply_free(&r);
}

/* Sends raw request headers announcing a body that never comes; the answer must arrive anyway
 * (decided from the headers alone) and the server must then close the connection. */
static void raw_headers_answered(const char *headers, const char *status_line) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(fx.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(send(fd, headers, strlen(headers), 0), (ssize_t)strlen(headers));
    char buf[4096];
    size_t got = 0;
    int closed = 0;
    while (got < sizeof buf - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) != 1) break;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) {
            closed = 1;
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    if (strncmp(buf, status_line, strlen(status_line)) != 0) fail_msg("expected %s, got: %s", status_line, buf);
    assert_non_null(strstr(buf, "application/json"));
    assert_true(closed);
}

static void test_refused_from_headers_alone(void **state) {
    (void)state;
    snapshot before = snap();
    char hdr[512];
    snprintf(hdr, sizeof hdr,
             "POST /v1/codes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{\"amount\":",
             TOKEN);
    raw_headers_answered(hdr, "HTTP/1.1 413");
    raw_headers_answered("POST /v1/payouts HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
                         "HTTP/1.1 401");
    raw_headers_answered("POST /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
                         "HTTP/1.1 404");
    raw_headers_answered("PUT /v1/codes HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", "HTTP/1.1 405");
    assert_unchanged(before);
}

/* ---------------------------------------------------------------- tests: payouts */

static void test_payouts(void **state) {
    (void)state;
    const char *body = "{\"address\":\"" ADDR_OK2 "\",\"amount\":70000}";
    uint64_t digest_before = ledger_digest();
    reply r = post("/v1/payouts", body, TOKEN, "Idempotency-Key: order-42");
    assert_int_equal(r.status, 201);
    /* The digest does see a change: the refusal checks around here are not vacuous. */
    assert_true(ledger_digest() != digest_before);
    int64_t id = jint(r.json, "id");
    assert_string_equal(jstr(r.json, "idempotency_key"), "order-42");
    assert_true(json_is_null(json_object_get(r.json, "code_id")));
    assert_string_equal(jstr(r.json, "status"), "requested");
    assert_int_equal(jint(r.json, "amount"), 70000);
    assert_string_equal(jstr(r.json, "address"), ADDR_OK2);
    reply_free(&r);

    snapshot before = snap();
    /* Same key, same parameters, via header or body: the same payout, 200. */
    r = post("/v1/payouts", body, TOKEN, "Idempotency-Key: order-42");
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "id"), id);
    reply_free(&r);
    r = post("/v1/payouts", "{\"amount\":70000,\"idempotency_key\":\"order-42\",\"address\":\"" ADDR_OK2 "\"}",
             TOKEN, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "id"), id);
    reply_free(&r);
    /* Same key, different parameters: 409. */
    expect_error(post("/v1/payouts", "{\"address\":\"" ADDR_OK2 "\",\"amount\":70001}", TOKEN,
                      "Idempotency-Key: order-42"),
                 409, "idempotency-conflict");
    expect_error(post("/v1/payouts", "{\"address\":\"" ADDR_OK "\",\"amount\":70000}", TOKEN,
                      "Idempotency-Key: order-42"),
                 409, "idempotency-conflict");
    /* Refusals. */
    static const struct { const char *body, *hdr; long status; const char *code; } bad[] = {
        { "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", NULL, 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"idempotency_key\":\"a\"}", "Idempotency-Key: b", 400,
          "bad-request" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":\"1000\"}", "Idempotency-Key: n1", 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":1000.0}", "Idempotency-Key: n2", 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":-5}", "Idempotency-Key: n3", 422, "amount" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":100000001}", "Idempotency-Key: n4", 422, "amount" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":9007199254740992}", "Idempotency-Key: n5", 422, "amount" },
        { "{\"address\":\"" ADDR_OK "\",\"ammount\":1000}", "Idempotency-Key: n6", 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\"}", "Idempotency-Key: n7", 400, "bad-request" },
        { "{\"amount\":1000}", "Idempotency-Key: n8", 400, "bad-request" },
        { "{\"address\":\"" ADDR_MAIN "\",\"amount\":1000}", "Idempotency-Key: n9", 422, "address" },
        { "{\"address\":\"" ADDR_BADCK "\",\"amount\":1000}", "Idempotency-Key: n10", 422, "address" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":1000,\"fee\":1}", "Idempotency-Key: n11", 400, "bad-request" },
        { "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", "Idempotency-Key: ", 400, "bad-request" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = post("/v1/payouts", bad[i].body, TOKEN, bad[i].hdr);
        if (r.status != bad[i].status) fail_msg("case %zu (%s): %ld %s", i, bad[i].body, r.status, r.body);
        assert_error(&r, bad[i].status, bad[i].code);
        reply_free(&r);
    }
    /* Two Idempotency-Key headers. */
    reply r2 = do_request((request){ .method = "POST", .path = "/v1/payouts", .body = body, .body_len = strlen(body),
                                     .token = TOKEN, .extra_header = "Idempotency-Key: order-42\r\nIdempotency-Key: x" });
    assert_error(&r2, 400, "bad-request");
    reply_free(&r2);
    assert_unchanged(before);

    /* Read it back. */
    char path[64];
    snprintf(path, sizeof path, "/v1/payouts/%lld", (long long)id);
    r = get(path, TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(jint(r.json, "id"), id);
    assert_string_equal(jstr(r.json, "idempotency_key"), "order-42");
    reply_free(&r);
    expect_error(get("/v1/payouts/999999999", TOKEN), 404, "not-found");

    /* More payouts, then the list with paging and filters. */
    for (int i = 0; i < 5; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "Idempotency-Key: page-%d", i);
        r = post("/v1/payouts", body, TOKEN, hdr);
        assert_int_equal(r.status, 201);
        reply_free(&r);
    }
    size_t total = payout_count();
    size_t seen = 0;
    int64_t after = 0, last = 0;
    for (int pages = 0; pages < 100; pages++) {
        char lp[96];
        snprintf(lp, sizeof lp, "/v1/payouts?limit=2&after=%lld", (long long)after);
        r = get(lp, TOKEN);
        assert_int_equal(r.status, 200);
        json_t *arr = json_object_get(r.json, "payouts");
        assert_true(json_is_array(arr));
        assert_true(json_array_size(arr) <= 2);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            int64_t pid = jint(json_array_get(arr, i), "id");
            assert_true(pid > last);
            last = pid;
            seen++;
        }
        json_t *next = json_object_get(r.json, "next_after");
        int done = json_is_null(next);
        if (!done) after = json_integer_value(next);
        reply_free(&r);
        if (done) break;
    }
    assert_int_equal(seen, total);
    r = get("/v1/payouts?status=requested", TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "payouts")), total);
    assert_true(json_is_null(json_object_get(r.json, "next_after")));
    reply_free(&r);
    r = get("/v1/payouts?status=confirmed&limit=1000", TOKEN);
    assert_int_equal(r.status, 200);
    assert_int_equal(json_array_size(json_object_get(r.json, "payouts")), 0);
    reply_free(&r);
    const char *bad_q[] = { "/v1/payouts?status=paid", "/v1/payouts?limit=0", "/v1/payouts?limit=1001",
                            "/v1/payouts?limit=-1", "/v1/payouts?limit=abc", "/v1/payouts?after=-1",
                            "/v1/payouts?after=1.5", "/v1/payouts?statsu=requested", "/v1/payouts?limit=",
                            "/v1/payouts?limit=1&limit=1000", "/v1/payouts?status=requested&status=failed",
                            "/v1/payouts?status=%72equested" };
    for (size_t i = 0; i < sizeof bad_q / sizeof bad_q[0]; i++) {
        r = get(bad_q[i], TOKEN);
        if (r.status != 400) fail_msg("%s: %ld %s", bad_q[i], r.status, r.body);
        assert_error(&r, 400, "bad-request");
        reply_free(&r);
    }
}

/* ---------------------------------------------------------------- tests: concurrency */

typedef struct {
    const char *path;
    long status;
    int64_t id;
    pthread_barrier_t *barrier;
    const char *body, *header;
} redeem_job;

static void *redeem_thread(void *cls) {
    redeem_job *j = cls;
    CURL *h = curl_easy_init();
    pthread_barrier_wait(j->barrier);
    reply r = do_request_with(h, (request){ .method = "POST", .path = j->path, .token = TOKEN, .body = j->body,
                                            .body_len = strlen(j->body), .extra_header = j->header });
    j->status = r.status;
    json_t *id = r.json != NULL ? json_object_get(r.json, "id") : NULL;
    j->id = json_is_integer(id) ? json_integer_value(id) : -1;
    reply_free(&r);
    curl_easy_cleanup(h);
    return NULL;
}

/* The operators' routes on a payout that waits for no approvals (a ledger-only engine drafts
 * nothing): 409 quorum-not-waiting; 404 for no payout; a malformed approval 400 before anything. */
static void test_quorum_routes_not_waiting(void **state) {
    (void)state;
    reply r = post("/v1/payouts", "{\"address\":\"" ADDR_OK2 "\",\"amount\":71000}", TOKEN, "Idempotency-Key: q-1");
    assert_true(r.status == 201 || r.status == 200);
    int64_t id = jint(r.json, "id");
    reply_free(&r);
    char path[96], body[300], ahex[2 * OS_APPROVAL_BYTES + 1];
    memset(ahex, '1', sizeof ahex - 1);
    ahex[sizeof ahex - 1] = 0;
    snprintf(body, sizeof body, "{\"approval\":\"%s\"}", ahex);
    snapshot before = snap();
    snprintf(path, sizeof path, "/v1/payouts/%lld/commitment", (long long)id);
    r = get(path, TOKEN);
    assert_error(&r, 409, "quorum-not-waiting");
    reply_free(&r);
    snprintf(path, sizeof path, "/v1/payouts/%lld/approvals", (long long)id);
    r = post(path, body, TOKEN, NULL);
    assert_error(&r, 409, "quorum-not-waiting");
    reply_free(&r);
    r = post(path, "{\"approval\":\"00\"}", TOKEN, NULL);
    assert_error(&r, 400, "bad-request");
    reply_free(&r);
    r = get("/v1/payouts/999999/commitment", TOKEN);
    assert_error(&r, 404, "not-found");
    reply_free(&r);
    assert_unchanged(before);
}

static void test_concurrent_redeem(void **state) {
    (void)state;
    enum { N = 16 };
    for (int round = 0; round < 3; round++) {
        char code[65], path[160];
        issue(30000, code);
        snprintf(path, sizeof path, "/v1/codes/%s/redeem", code);
        size_t before = payout_count();
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, N);
        pthread_t th[N];
        redeem_job jobs[N];
        for (int i = 0; i < N; i++) {
            jobs[i] = (redeem_job){ path, 0, 0, &barrier, "{\"address\":\"" ADDR_OK "\"}", NULL };
            assert_int_equal(pthread_create(&th[i], NULL, redeem_thread, &jobs[i]), 0);
        }
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        pthread_barrier_destroy(&barrier);
        int created = 0;
        for (int i = 0; i < N; i++) {
            if (jobs[i].status != 200 && jobs[i].status != 201) fail_msg("thread %d: %ld", i, jobs[i].status);
            created += jobs[i].status == 201;
            assert_int_equal(jobs[i].id, jobs[0].id);
        }
        assert_int_equal(created, 1);
        assert_int_equal(payout_count(), before + 1);
    }
}

static void test_concurrent_payout_create(void **state) {
    (void)state;
    enum { N = 16 };
    size_t before = payout_count();
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, N);
    pthread_t th[N];
    redeem_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (redeem_job){ "/v1/payouts", 0, 0, &barrier, "{\"address\":\"" ADDR_OK "\",\"amount\":12345}",
                                "Idempotency-Key: concurrent-1" };
        assert_int_equal(pthread_create(&th[i], NULL, redeem_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    int created = 0;
    for (int i = 0; i < N; i++) {
        if (jobs[i].status != 200 && jobs[i].status != 201) fail_msg("thread %d: %ld", i, jobs[i].status);
        created += jobs[i].status == 201;
        assert_int_equal(jobs[i].id, jobs[0].id);
    }
    assert_int_equal(created, 1);
    assert_int_equal(payout_count(), before + 1);
}

/* ---------------------------------------------------------------- tests: wallet, health, metrics */

static void test_wallet_health_metrics(void **state) {
    (void)state;
    /* Ledger-only: no signer to derive a receive address from: 503 with the engine's reason. */
    reply w = get("/v1/wallet", TOKEN);
    assert_int_equal(w.status, 503);
    assert_error(&w, 503, jstr(json_object_get(w.json, "error"), "code"));
    reply_free(&w);

    reply r = get("/v1/health", NULL);
    assert_int_equal(r.status, 503);   /* no signer, no node */
    assert_string_equal(r.content_type, "application/json");
    assert_false(json_is_true(json_object_get(r.json, "ok")));
    assert_true(json_is_true(json_object_get(r.json, "ledger")));
    assert_false(json_is_true(json_object_get(r.json, "signer")));
    assert_false(json_is_true(json_object_get(r.json, "node")));
    assert_int_equal(jint(r.json, "payouts_pending"), (json_int_t)payout_count());
    reply_free(&r);

    expect_error(get("/v1/payouts/1x", TOKEN), 404, "not-found");
    r = get("/metrics", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/plain; version=0.0.4");
    assert_non_null(strstr(r.body, "oncesign_payouts{status=\"requested\"}"));   /* the engine's */
    assert_non_null(strstr(r.body, "oncesign_api_requests_total{endpoint=\"wallet\",status=\"503\"} "));
    assert_non_null(strstr(r.body, "oncesign_api_requests_total{endpoint=\"other\",status=\"404\"} "));
    assert_non_null(strstr(r.body, "oncesign_api_requests_total{endpoint=\"health\",status=\"503\"} "));
    assert_non_null(strstr(r.body, "oncesign_api_request_duration_seconds_bucket{endpoint=\"health\",le=\"+Inf\"} "));
    assert_non_null(strstr(r.body, "oncesign_api_request_duration_seconds_count{endpoint=\"health\"} "));
    reply_free(&r);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_request),
        cmocka_unit_test(test_status_mapping),
        cmocka_unit_test(test_start_refuses_bad_token_files),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_issue_refusals),
        cmocka_unit_test(test_issue_lookup_redeem),
        cmocka_unit_test(test_hostile_bodies),
        cmocka_unit_test(test_refused_from_headers_alone),
        cmocka_unit_test(test_payouts),
        cmocka_unit_test(test_quorum_routes_not_waiting),
        cmocka_unit_test(test_concurrent_redeem),
        cmocka_unit_test(test_concurrent_payout_create),
        cmocka_unit_test(test_wallet_health_metrics),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
