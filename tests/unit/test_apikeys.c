/* Unit tests of scoped API keys: the ledger's key store (create, duplicate names, revoke, lookup by
 * hash, uses) and the API's enforcement with a ledger-only engine on loopback: a redeem-only key
 * redeems but cannot issue, withdraw or read (403, ledger unchanged), an issue key issues, a revoked
 * key is refused, an unknown secret is 401, and every state-changing call made with a key is
 * recorded with that key. Also an API with no token file (keys only). */
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
#include <sys/stat.h>

#include "api.h"
#include "crypto.h"
#include "engine.h"
#include "ledger.h"
#include "oncesign/status.h"

#define TOKEN      "apikeys-token-0123456789abcdef"
#define KEY_REDEEM "redeem-secret-0123456789abcdef"
#define KEY_ISSUE  "issue-secret-0123456789abcdef00"
#define ADDR_OK    "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX"     /* testnet P2PKH (electrum-mona) */

static struct {
    char dir[48], db[96], token_file[96];
    os_engine *engine;
    os_api *api;
    uint16_t port;
} fx;

typedef struct {
    char *body;
    size_t len;
} sink;

static size_t on_body(char *p, size_t sz, size_t n, void *cls) {
    sink *s = cls;
    char *nb = realloc(s->body, s->len + sz * n + 1);
    if (nb == NULL) return 0;
    memcpy(nb + s->len, p, sz * n);
    s->body = nb;
    s->len += sz * n;
    s->body[s->len] = '\0';
    return sz * n;
}

/* One request; returns the HTTP status, *json the parsed body (caller frees) when wanted. */
static long call(const char *method, const char *path, const char *secret, const char *body, json_t **json) {
    CURL *h = curl_easy_init();
    assert_non_null(h);
    char url[256], auth[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)fx.port, path);
    sink s = { NULL, 0 };
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Idempotency-Key: k-1");
    if (secret != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (body != NULL) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (json != NULL) {
        json_error_t e;
        *json = s.body != NULL ? json_loads(s.body, 0, &e) : NULL;
    }
    free(s.body);
    return status;
}

static void add_key(const char *name, const char *secret, uint32_t scopes) {
    uint8_t hash[32];
    crypto_sha256((const uint8_t *)secret, strlen(secret), hash);
    int64_t id = 0;
    assert_int_equal(os_ledger_apikey_create(os_engine_ledger(fx.engine), name, hash, scopes, (int64_t)time(NULL), &id),
                     OS_OK);
    assert_true(id > 0);
}

typedef struct {
    const char *name;
    os_apikey_info found;
} key_search;

static int find_by_name(void *ctx, const os_apikey_info *k) {
    key_search *s = ctx;
    if (strcmp(k->name, s->name) == 0) s->found = *k;
    return 0;
}

static os_apikey_info key_named(const char *name) {
    key_search s = { name, { 0 } };
    assert_int_equal(os_ledger_apikey_each(os_engine_ledger(fx.engine), find_by_name, &s), OS_OK);
    if (s.found.id == 0) fail_msg("no key named %s", name);
    return s.found;
}

static int setup(void **state) {
    (void)state;
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/oncesign-keys-XXXXXX");
    if (mkdtemp(fx.dir) == NULL) return -1;
    snprintf(fx.db, sizeof fx.db, "%s/ledger.db", fx.dir);
    snprintf(fx.token_file, sizeof fx.token_file, "%s/token", fx.dir);
    FILE *f = fopen(fx.token_file, "w");
    if (f == NULL) return -1;
    fputs(TOKEN "\n", f);
    fclose(f);
    chmod(fx.token_file, 0600);
    os_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.db_path = fx.db;
    ec.network = OS_NET_TEST;
    ec.max_payout = 100000000;
    char err[256] = "";
    if (os_engine_open(&ec, &fx.engine, err, sizeof err) != OS_OK) return -1;
    os_api_config ac;
    memset(&ac, 0, sizeof ac);
    ac.token_file = fx.token_file;
    if (os_api_start(fx.engine, &ac, &fx.api, err, sizeof err) != OS_OK) return -1;
    fx.port = os_api_port(fx.api);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    os_api_stop(fx.api);
    os_engine_close(fx.engine);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_key_store(void **state) {
    (void)state;
    os_ledger *l = os_engine_ledger(fx.engine);
    uint8_t h1[32], h2[32];
    crypto_sha256((const uint8_t *)"store-a", 7, h1);
    crypto_sha256((const uint8_t *)"store-b", 7, h2);
    int64_t id = 0;
    assert_int_equal(os_ledger_apikey_create(l, "store", h1, OS_SCOPE_READ, 1000, &id), OS_OK);
    assert_int_equal(os_ledger_apikey_create(l, "store", h2, OS_SCOPE_READ, 1000, &id), OS_ERR_IDEMPOTENCY);
    assert_int_equal(os_ledger_apikey_create(l, "other", h1, OS_SCOPE_READ, 1000, &id), OS_ERR_IDEMPOTENCY);
    assert_int_equal(os_ledger_apikey_create(l, "bad name", h2, OS_SCOPE_READ, 1000, &id), OS_ERR_ARG);
    assert_int_equal(os_ledger_apikey_create(l, "noscope", h2, 0, 1000, &id), OS_ERR_ARG);
    assert_int_equal(os_ledger_apikey_create(l, "badscope", h2, 0x100, 1000, &id), OS_ERR_ARG);
    os_apikey_info k;
    assert_int_equal(os_ledger_apikey_find(l, h1, &k), OS_OK);
    assert_string_equal(k.name, "store");
    assert_int_equal(k.scopes, OS_SCOPE_READ);
    assert_int_equal(k.revoked_at, 0);
    assert_int_equal(os_ledger_apikey_find(l, h2, &k), OS_ERR_NOT_FOUND);
    assert_int_equal(os_ledger_apikey_revoke(l, "store", 2000), OS_OK);
    assert_int_equal(os_ledger_apikey_revoke(l, "store", 3000), OS_ERR_NOT_FOUND);   /* already */
    assert_int_equal(os_ledger_apikey_revoke(l, "nobody", 3000), OS_ERR_NOT_FOUND);
    assert_int_equal(os_ledger_apikey_find(l, h1, &k), OS_OK);
    assert_int_equal(k.revoked_at, 2000);
}

static void test_scopes_enforced(void **state) {
    (void)state;
    add_key("backend-redeem", KEY_REDEEM, OS_SCOPE_REDEEM);
    add_key("backend-issue", KEY_ISSUE, OS_SCOPE_ISSUE);
    json_t *j = NULL;
    /* the issue key issues a code */
    assert_int_equal(call("POST", "/v1/codes", KEY_ISSUE, "{\"amount\":150000}", &j), 201);
    char code[65];
    snprintf(code, sizeof code, "%s", json_string_value(json_object_get(j, "code")));
    char code_id[33];
    snprintf(code_id, sizeof code_id, "%s", json_string_value(json_object_get(j, "code_id")));
    json_decref(j);
    /* the redeem key may not issue, withdraw or read payouts: 403, nothing written */
    size_t n_before = 0;
    static os_payout_info list[16];
    assert_int_equal(os_engine_payout_list(fx.engine, 0, 0, 16, list, &n_before), OS_OK);
    assert_int_equal(call("POST", "/v1/codes", KEY_REDEEM, "{\"amount\":150000}", &j), 403);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "forbidden");
    json_decref(j);
    assert_int_equal(call("POST", "/v1/payouts", KEY_REDEEM, "{\"address\":\"" ADDR_OK "\",\"amount\":300000000}",
                          NULL), 403);
    assert_int_equal(call("GET", "/v1/payouts", KEY_REDEEM, NULL, NULL), 403);
    assert_int_equal(call("GET", "/v1/wallet", KEY_REDEEM, NULL, NULL), 403);
    assert_int_equal(call("POST", "/v1/payouts", KEY_ISSUE, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", NULL), 403);
    size_t n_after = 0;
    assert_int_equal(os_engine_payout_list(fx.engine, 0, 0, 16, list, &n_after), OS_OK);
    assert_int_equal(n_after, n_before);
    /* ... but redeems, and looks its code up */
    char path[128];
    snprintf(path, sizeof path, "/v1/codes/%s", code);
    assert_int_equal(call("GET", path, KEY_REDEEM, NULL, NULL), 200);
    snprintf(path, sizeof path, "/v1/codes/%s/redeem", code);
    assert_int_equal(call("POST", path, KEY_REDEEM, "{\"address\":\"" ADDR_OK "\"}", &j), 201);
    int64_t payout_id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    assert_true(payout_id > 0);
    /* each state-changing use is in the ledger with its key; the refused ones wrote nothing */
    assert_int_equal(key_named("backend-issue").uses, 1);
    assert_int_equal(key_named("backend-redeem").uses, 1);
    /* unknown secret: 401; the token file's token still does everything */
    assert_int_equal(call("GET", "/v1/payouts", "not-a-key-0123456789", NULL, NULL), 401);
    assert_int_equal(call("GET", "/v1/payouts", TOKEN, NULL, NULL), 200);
    /* revoked: 403 from then on */
    assert_int_equal(os_ledger_apikey_revoke(os_engine_ledger(fx.engine), "backend-issue", (int64_t)time(NULL)), OS_OK);
    assert_int_equal(call("POST", "/v1/codes", KEY_ISSUE, "{\"amount\":150000}", NULL), 403);
    assert_int_equal(key_named("backend-issue").uses, 1);
    (void)code_id;
}

static void test_keys_only_api(void **state) {
    (void)state;
    os_api_config ac;
    memset(&ac, 0, sizeof ac);   /* no token file */
    os_api *api = NULL;
    char err[256] = "";
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_OK);
    uint16_t saved = fx.port;
    fx.port = os_api_port(api);
    add_key("reader", "reader-secret-0123456789abcdef", OS_SCOPE_READ);
    assert_int_equal(call("GET", "/v1/payouts", "reader-secret-0123456789abcdef", NULL, NULL), 200);
    assert_int_equal(call("GET", "/v1/payouts", TOKEN, NULL, NULL), 401);
    assert_int_equal(call("GET", "/v1/payouts", "", NULL, NULL), 401);
    fx.port = saved;
    os_api_stop(api);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_store),
        cmocka_unit_test(test_scopes_enforced),
        cmocka_unit_test(test_keys_only_api),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
