/* Unit tests of scoped API keys: the ledger's key store (create, duplicate names, revoke, lookup by
 * hash, uses) and the API's enforcement with a ledger-only engine on loopback: a redeem-only key
 * redeems but cannot issue, withdraw or read (403, ledger unchanged), an issue key issues, a revoked
 * key is refused, an unknown secret is 401, and every state-changing call made with a key is
 * recorded with that key. Also an API with no token file (keys only); each scope's allowed and
 * forbidden calls (operator: approvals, cancel, device; audit: log and its head); the admin socket
 * (no bearer, operator/read/audit only, mode 0600); and a key's record failing inside the change's
 * own transaction, which must leave neither (issue 11). */
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
#include "http_body.h"
#include "engine_fixture.h"
#include "ledger.h"
#include "oncesign/status.h"

#define TOKEN      "apikeys-token-0123456789abcdef"
#define KEY_REDEEM "redeem-secret-0123456789abcdef"
#define KEY_ISSUE  "issue-secret-0123456789abcdef00"
#define ADDR_OK    "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX"     /* testnet P2PKH (electrum-mona) */

static struct {
    engine_fixture t;
    os_api *api;
    uint16_t port;
} fx;

static const char *g_unix_path;   /* non-NULL: call() goes to this Unix socket instead of TCP */

/* One request; returns the HTTP status, *json the parsed body (caller frees) when wanted. */
static long call(const char *method, const char *path, const char *secret, const char *body, json_t **json) {
    CURL *h = curl_easy_init();
    assert_non_null(h);
    char url[256], auth[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", (unsigned)fx.port, path);
    if (g_unix_path != NULL) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, g_unix_path);
    os_http_body s = { 0 };
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (body == NULL || strstr(body, "idempotency_key") == NULL) hdrs = curl_slist_append(hdrs, "Idempotency-Key: k-1");
    if (secret != NULL) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret);
        hdrs = curl_slist_append(hdrs, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, os_http_body_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    if (body != NULL) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    if (json != NULL) {
        json_error_t e;
        *json = s.data != NULL ? json_loads(s.data, 0, &e) : NULL;
    }
    os_http_body_free(&s);
    return status;
}

static void add_key(const char *name, const char *secret, uint32_t scopes) {
    uint8_t hash[32];
    crypto_sha256((const uint8_t *)secret, strlen(secret), hash);
    int64_t id = 0;
    assert_int_equal(os_ledger_apikey_create(os_engine_ledger(fx.t.engine), name, hash, scopes, (int64_t)time(NULL), &id),
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
    assert_int_equal(os_ledger_apikey_each(os_engine_ledger(fx.t.engine), find_by_name, &s), OS_OK);
    if (s.found.id == 0) fail_msg("no key named %s", name);
    return s.found;
}

static int setup(void **state) {
    (void)state;
    memset(&fx, 0, sizeof fx);
    if (engine_fixture_open(&fx.t, "keys", TOKEN, 100000000) != 0) return -1;
    char err[256] = "";
    os_api_config ac;
    memset(&ac, 0, sizeof ac);
    ac.token_file = fx.t.token_file;
    if (os_api_start(fx.t.engine, &ac, &fx.api, err, sizeof err) != OS_OK) return -1;
    fx.port = os_api_port(fx.api);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    os_api_stop(fx.api);
    return engine_fixture_close(&fx.t);
}

static void test_key_store(void **state) {
    (void)state;
    os_ledger *l = os_engine_ledger(fx.t.engine);
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
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 16, list, &n_before), OS_OK);
    assert_int_equal(call("POST", "/v1/codes", KEY_REDEEM, "{\"amount\":150000}", &j), 403);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "forbidden");
    json_decref(j);
    assert_int_equal(call("POST", "/v1/payouts", KEY_REDEEM, "{\"address\":\"" ADDR_OK "\",\"amount\":300000000}",
                          NULL), 403);
    assert_int_equal(call("GET", "/v1/payouts", KEY_REDEEM, NULL, NULL), 403);
    assert_int_equal(call("GET", "/v1/wallet", KEY_REDEEM, NULL, NULL), 403);
    assert_int_equal(call("POST", "/v1/payouts", KEY_ISSUE, "{\"address\":\"" ADDR_OK "\",\"amount\":1000}", NULL), 403);
    size_t n_after = 0;
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 16, list, &n_after), OS_OK);
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
    assert_int_equal(os_ledger_apikey_revoke(os_engine_ledger(fx.t.engine), "backend-issue", (int64_t)time(NULL)), OS_OK);
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
    assert_int_equal(os_api_start(fx.t.engine, &ac, &api, err, sizeof err), OS_OK);
    uint16_t saved = fx.port;
    fx.port = os_api_port(api);
    add_key("reader", "reader-secret-0123456789abcdef", OS_SCOPE_READ);
    assert_int_equal(call("GET", "/v1/payouts", "reader-secret-0123456789abcdef", NULL, NULL), 200);
    assert_int_equal(call("GET", "/v1/payouts", TOKEN, NULL, NULL), 401);
    assert_int_equal(call("GET", "/v1/payouts", "", NULL, NULL), 401);
    fx.port = saved;
    os_api_stop(api);
}

/* Each scope against each family of calls: allowed is anything but 401/403 (the device's calls answer
 * 503 here, a ledger-only engine has no signer), forbidden is 403 and changes nothing. */
typedef struct {
    const char *method, *path, *body;
    uint32_t scopes;        /* a key needs one of these */
} scoped_call;

static void test_each_scope(void **state) {
    (void)state;
    g_unix_path = NULL;
    static const struct { const char *name, *secret; uint32_t scope; } keys[] = {
        { "s-issue", "scope-issue-0123456789abcdef", OS_SCOPE_ISSUE },
        { "s-redeem", "scope-redeem-0123456789abcdef", OS_SCOPE_REDEEM },
        { "s-withdraw", "scope-withdraw-0123456789abcdef", OS_SCOPE_WITHDRAW },
        { "s-read", "scope-read-0123456789abcdef", OS_SCOPE_READ },
        { "s-operator", "scope-operator-0123456789abcdef", OS_SCOPE_OPERATOR },
        { "s-audit", "scope-audit-0123456789abcdef", OS_SCOPE_AUDIT },
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) add_key(keys[k].name, keys[k].secret, keys[k].scope);
    /* a payout still requested, for the cancel calls (made with the token: it has every key scope) */
    json_t *j = NULL;
    assert_int_equal(call("POST", "/v1/payouts", TOKEN, "{\"address\":\"" ADDR_OK "\",\"amount\":300000,"
                          "\"idempotency_key\":\"scope-cancel\"}", &j), 201);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    char cancel[64], one[64];
    snprintf(cancel, sizeof cancel, "/v1/payouts/%lld/cancel", (long long)id);
    snprintf(one, sizeof one, "/v1/payouts/%lld", (long long)id);
    const scoped_call calls[] = {
        { "GET", "/v1/approvals", NULL, OS_SCOPE_OPERATOR },
        { "GET", "/v1/device", NULL, OS_SCOPE_OPERATOR | OS_SCOPE_AUDIT },
        { "POST", "/v1/device/address", "{\"index\":1}", OS_SCOPE_OPERATOR },
        { "POST", "/v1/reconcile", NULL, OS_SCOPE_OPERATOR },
        { "GET", "/v1/log", NULL, OS_SCOPE_AUDIT },
        { "GET", "/v1/log/head", NULL, OS_SCOPE_AUDIT },
        { "GET", "/v1/status", NULL, OS_SCOPE_READ | OS_SCOPE_OPERATOR | OS_SCOPE_AUDIT },
        { "GET", "/v1/payouts", NULL, OS_SCOPE_READ },
        { "GET", one, NULL, OS_SCOPE_READ },
        { "GET", "/v1/wallet", NULL, OS_SCOPE_READ },
        { "GET", "/v1/recovery", NULL, OS_SCOPE_READ },
        /* no code is held here: the operator gets 404, every other key 403 */
        { "POST", "/v1/recovery/held/00112233445566778899aabbccddeeff", NULL, OS_SCOPE_OPERATOR },
        { "POST", "/v1/tree/rebuild", NULL, 0 },   /* the admin socket's alone */
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
            long status = call(calls[i].method, calls[i].path, keys[k].secret, calls[i].body, NULL);
            int allowed = (calls[i].scopes & keys[k].scope) != 0;
            if (allowed && (status == 401 || status == 403 || status <= 0))
                fail_msg("%s %s with %s: %ld, expected it allowed", calls[i].method, calls[i].path, keys[k].name, status);
            if (!allowed && status != 403)
                fail_msg("%s %s with %s: %ld, expected 403", calls[i].method, calls[i].path, keys[k].name, status);
        }
    }
    /* the token file's token does every key's call, but not the admin socket's tree rebuild */
    assert_int_equal(call("POST", "/v1/tree/rebuild", TOKEN, NULL, NULL), 403);
    assert_int_equal(call("GET", "/v1/approvals", TOKEN, NULL, NULL), 200);
    /* cancel: forbidden to every key but the operator's, and nothing changes until it asks */
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (keys[k].scope == OS_SCOPE_OPERATOR) continue;
        assert_int_equal(call("POST", cancel, keys[k].secret, NULL, NULL), 403);
    }
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(fx.t.engine, id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_REQUESTED);
    assert_int_equal(key_named("s-operator").uses, 0);
    assert_int_equal(call("POST", cancel, "scope-operator-0123456789abcdef", NULL, &j), 200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    json_decref(j);
    assert_int_equal(os_engine_payout_get(fx.t.engine, id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_FAILED);
    /* the operator's action is attributed to its key */
    assert_int_equal(key_named("s-operator").uses, 1);
    /* a payout that is not there, or no longer requested */
    assert_int_equal(call("POST", cancel, "scope-operator-0123456789abcdef", NULL, NULL), 409);
    assert_int_equal(call("POST", "/v1/payouts/999999/cancel", "scope-operator-0123456789abcdef", NULL, NULL), 404);
    assert_int_equal(key_named("s-operator").uses, 1);
    /* the approval queue lists what waits for the operator: nothing here */
    assert_int_equal(call("GET", "/v1/approvals", "scope-operator-0123456789abcdef", NULL, &j), 200);
    assert_true(json_is_array(json_object_get(j, "approvals")));
    assert_int_equal(json_array_size(json_object_get(j, "approvals")), 0);
    json_decref(j);
    /* the device's calls name why they cannot run: no signer in a ledger-only engine */
    assert_int_equal(call("GET", "/v1/log/head", "scope-audit-0123456789abcdef", NULL, &j), 503);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "signer-unavailable");
    json_decref(j);
}

/* The admin socket: whoever may open it (mode 0600) makes the operator's and the auditor's calls
 * without a bearer, never the money-moving ones. */
static void test_admin_socket(void **state) {
    (void)state;
    static char path[160];   /* g_unix_path points here (static: a failed assertion leaves it set) */
    snprintf(path, sizeof path, "%s/admin.sock", fx.t.dir);
    os_api_config ac;
    memset(&ac, 0, sizeof ac);
    ac.no_tcp = 1;
    ac.admin_path = path;
    os_api *api = NULL;
    char err[256] = "";
    assert_int_equal(os_api_start(fx.t.engine, &ac, &api, err, sizeof err), OS_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    g_unix_path = path;
    assert_int_equal(call("GET", "/v1/approvals", NULL, NULL, NULL), 200);
    assert_int_equal(call("GET", "/v1/payouts", NULL, NULL, NULL), 200);
    assert_int_equal(call("GET", "/v1/device", NULL, NULL, NULL), 503);        /* allowed; no signer here */
    assert_int_equal(call("POST", "/v1/tree/rebuild", NULL, NULL, NULL), 503);
    size_t n_before = 0, n_after = 0;
    static os_payout_info list[64];
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 64, list, &n_before), OS_OK);
    assert_int_equal(call("POST", "/v1/codes", NULL, "{\"amount\":150000}", NULL), 403);
    assert_int_equal(call("POST", "/v1/payouts", NULL, "{\"address\":\"" ADDR_OK "\",\"amount\":300000}", NULL), 403);
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 64, list, &n_after), OS_OK);
    assert_int_equal(n_after, n_before);
    g_unix_path = NULL;
    os_api_stop(api);
    assert_int_not_equal(access(path, F_OK), 0);   /* removed at stop */
}

/* A key's record is written in the change's own ledger transaction: when the record fails (a
 * trigger makes every insert into api_key_uses fail, as a full disk or a crash between the two
 * statements would), the issue, the redeem and the payout must be gone with it; once the records
 * go in again, so do the changes, each with its record. */
static void set_use_fault(int on) {
    os_ledger *l = os_engine_ledger(fx.t.engine);
    os_ledger_lock(l);
    assert_int_equal(os_ledger_exec(l, on ? "CREATE TEMP TRIGGER use_fault BEFORE INSERT ON api_key_uses "
                                             "BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                                          : "DROP TRIGGER temp.use_fault"),
                     OS_OK);
    os_ledger_unlock(l);
}

static void test_key_use_same_transaction(void **state) {
    (void)state;
    g_unix_path = NULL;
    add_key("tx-all", "tx-all-secret-0123456789abcdef", OS_SCOPE_ISSUE | OS_SCOPE_REDEEM | OS_SCOPE_WITHDRAW);
    const char *key = "tx-all-secret-0123456789abcdef";
    json_t *j = NULL;
    /* a code to redeem, issued with the token (no record) */
    assert_int_equal(call("POST", "/v1/codes", TOKEN, "{\"amount\":150000}", &j), 201);
    char code[65], redeem[128], lookup[128];
    snprintf(code, sizeof code, "%s", json_string_value(json_object_get(j, "code")));
    json_decref(j);
    snprintf(redeem, sizeof redeem, "/v1/codes/%s/redeem", code);
    snprintf(lookup, sizeof lookup, "/v1/codes/%s", code);
    size_t n_before = 0, n = 0;
    static os_payout_info list[64];
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 64, list, &n_before), OS_OK);

    set_use_fault(1);
    assert_int_equal(call("POST", "/v1/payouts", key, "{\"address\":\"" ADDR_OK "\",\"amount\":300000,"
                          "\"idempotency_key\":\"tx-same\"}", NULL), 500);
    assert_int_equal(call("POST", redeem, key, "{\"address\":\"" ADDR_OK "\"}", NULL), 500);
    assert_int_equal(call("POST", "/v1/codes", key, "{\"amount\":160000}", &j), 500);
    assert_null(json_object_get(j, "code"));   /* a code that does not exist is never shown */
    json_decref(j);
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 64, list, &n), OS_OK);
    assert_int_equal(n, n_before);                  /* no payout without its key */
    assert_int_equal(call("GET", lookup, TOKEN, NULL, &j), 200);
    assert_false(json_is_true(json_object_get(j, "redeemed")));
    json_decref(j);
    assert_int_equal(key_named("tx-all").uses, 0);

    set_use_fault(0);
    assert_int_equal(call("POST", "/v1/payouts", key, "{\"address\":\"" ADDR_OK "\",\"amount\":300000,"
                          "\"idempotency_key\":\"tx-same\"}", NULL), 201);
    assert_int_equal(call("POST", redeem, key, "{\"address\":\"" ADDR_OK "\"}", NULL), 201);
    assert_int_equal(call("POST", "/v1/codes", key, "{\"amount\":160000}", NULL), 201);
    assert_int_equal(os_engine_payout_list(fx.t.engine, 0, 0, 64, list, &n), OS_OK);
    assert_int_equal(n, n_before + 2);
    assert_int_equal(key_named("tx-all").uses, 3);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_store),
        cmocka_unit_test(test_scopes_enforced),
        cmocka_unit_test(test_keys_only_api),
        cmocka_unit_test(test_each_scope),
        cmocka_unit_test(test_admin_socket),
        cmocka_unit_test(test_key_use_same_transaction),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
