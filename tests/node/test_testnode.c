/* Tests of the test node: starts build/oncesign-testnode (TESTNODE_BIN, the sanitized build under
 * `make check`) on an ephemeral port and talks to it over real HTTP with libcurl.
 *
 * Covers auth, every sendrawtransaction row of docs/DESIGN.md §5 with Core's exact code and message, BIP125,
 * script validation of P2PKH / P2WPKH / P2SH-P2WPKH (transactions built and signed here), mining and the
 * queries after it, the wallet, every fault mode, and the sighash code against official vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <secp256k1.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "node_internal.h"
#include "tx.h"

static pid_t node_pid;
static int node_port;
static char cookie_path[256];
static CURL *curl;
static char mine_addr[100];

/* ---------- HTTP ---------- */

typedef struct {
    char *p;
    size_t n;
} sink;

static size_t on_data(char *d, size_t sz, size_t nm, void *u)
{
    sink *s = u;
    size_t k = sz * nm;
    char *p = realloc(s->p, s->n + k + 1);
    if (!p) abort();
    s->p = p;
    memcpy(s->p + s->n, d, k);
    s->n += k;
    s->p[s->n] = 0;
    return k;
}

typedef struct {
    CURLcode rc;
    long http;
    json_t *body; /* parsed reply or NULL */
    char *raw;
    long ms;
} http_result;

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fresh_connections; /* fault tests: no keep-alive reuse, so curl cannot retry silently */

static http_result post(const char *userpwd, const char *body, long timeout_ms)
{
    http_result r = {0};
    sink s = {0};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", node_port);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (fresh_connections) {
        curl_easy_setopt(curl, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    }
    long t0 = now_ms();
    r.rc = curl_easy_perform(curl);
    r.ms = now_ms() - t0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.http);
    r.raw = s.p;
    if (s.p) r.body = json_loads(s.p, JSON_DECODE_ANY, NULL);
    return r;
}

static void http_free(http_result *r)
{
    json_decref(r->body);
    free(r->raw);
}

/* Calls method with params (stolen reference); returns the whole reply object (caller decrefs). */
static json_t *call_full(const char *method, json_t *params, long *http)
{
    json_t *req = json_pack("{s:s, s:i, s:s, s:o}", "jsonrpc", "1.0", "id", 7, "method", method, "params",
                            params ? params : json_array());
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    http_result r = post("u:p", body, 10000);
    free(body);
    assert_int_equal(r.rc, CURLE_OK);
    if (http) *http = r.http;
    json_t *b = r.body;
    r.body = NULL;
    http_free(&r);
    assert_non_null(b);
    return b;
}

/* Result of a call that must succeed (new reference). */
static json_t *call(const char *method, json_t *params)
{
    long http;
    json_t *b = call_full(method, params, &http);
    if (!json_is_null(json_object_get(b, "error"))) {
        char *d = json_dumps(b, 0);
        fail_msg("%s failed: %.300s", method, d);
    }
    assert_int_equal(http, 200);
    json_t *res = json_incref(json_object_get(b, "result"));
    json_decref(b);
    return res;
}

/* Asserts the call fails with exactly code and message (HTTP status too). */
static void expect_error(const char *method, json_t *params, int code, const char *message, long http_expected)
{
    long http;
    json_t *b = call_full(method, params, &http);
    json_t *e = json_object_get(b, "error");
    if (!json_is_object(e)) {
        char *d = json_dumps(b, 0);
        fail_msg("%s: expected error %d '%s', got %s", method, code, message, d);
    }
    assert_true(json_is_null(json_object_get(b, "result")));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), code);
    assert_string_equal(json_string_value(json_object_get(e, "message")), message);
    assert_int_equal(http, http_expected);
    json_decref(b);
}

/* ---------- node process ---------- */

/* Starts a node (extra: "--datadir", dir or NULL); returns its pid and sets *port. */
static pid_t spawn_node(const char *datadir, int *port)
{
    const char *bin = getenv("TESTNODE_BIN");
    if (!bin) bin = "build/oncesign-testnode";
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        if (datadir)
            execl(bin, bin, "--port", "0", "--rpcuser", "u", "--rpcpassword", "p", "--datadir", datadir, "--seed", "persist",
                  (char *)NULL);
        else
            execl(bin, bin, "--port", "0", "--rpcuser", "u", "--rpcpassword", "p", "--cookie-file", cookie_path, "--seed",
                  "test", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[256];
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    if (!ok || sscanf(line, "testnode: listening on 127.0.0.1:%d", port) != 1) return -1;
    return pid;
}

static int start_node(void **state)
{
    (void)state;
    snprintf(cookie_path, sizeof cookie_path, "/tmp/testnode-cookie-%d", (int)getpid());
    node_pid = spawn_node(NULL, &node_port);
    if (node_pid < 0) return -1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    curl = curl_easy_init();
    json_t *a = call("getnewaddress", NULL);
    snprintf(mine_addr, sizeof mine_addr, "%s", json_string_value(a));
    json_decref(a);
    json_decref(call("generatetoaddress", json_pack("[i,s]", 130, mine_addr)));
    return 0;
}

static int stop_node(void **state)
{
    (void)state;
    json_decref(call("stop", NULL));
    int st = 0;
    waitpid(node_pid, &st, 0);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    /* the sanitized node exits 0 only without leaks or UB reports */
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* ---------- keys, transactions ---------- */

typedef struct {
    uint8_t sk[32], pub[33], h160[20];
} key;

static void key_init(key *k, uint8_t b)
{
    memset(k->sk, 0, 32);
    k->sk[31] = b;
    k->sk[0] = 0x11;
    assert_int_equal(tn_pubkey(k->sk, k->pub), 0);
    tn_hash160(k->pub, 33, k->h160);
}

enum { T_P2PKH, T_P2WPKH, T_P2SH_P2WPKH };

static size_t spk_for(const key *k, int type, uint8_t spk[42])
{
    if (type == T_P2PKH) return tn_spk_p2pkh(k->h160, spk);
    if (type == T_P2WPKH) return tn_spk_p2wpkh(k->h160, spk);
    uint8_t redeem[22], rh[20];
    tn_spk_p2wpkh(k->h160, redeem);
    tn_hash160(redeem, 22, rh);
    return tn_spk_p2sh(rh, spk);
}

typedef struct {
    uint8_t txid[32];
    uint32_t n;
    int64_t value;
    key k;
    int type;
} utxo;

static void hex_of_hash(const uint8_t h[32], char out[65]) { tn_hash_to_hex(h, out); }

/* Pays amount from the node's wallet to (k, type); the output is unconfirmed until mined. */
static utxo fund(const key *k, int type, int64_t amount)
{
    utxo u = {0};
    u.k = *k;
    u.type = type;
    u.value = amount;
    uint8_t spk[42];
    size_t l = spk_for(k, type, spk);
    char addr[100], amt[40];
    assert_int_equal(tn_spk_to_address(spk, l, addr), 0);
    snprintf(amt, sizeof amt, "%lld.%08lld", (long long)(amount / TN_COIN), (long long)(amount % TN_COIN));
    json_t *t = call("sendtoaddress", json_pack("[s,s]", addr, amt));
    assert_int_equal(tn_hash_from_hex(json_string_value(t), u.txid), 0);
    json_t *v = call("getrawtransaction", json_pack("[O,b]", t, 1));
    json_decref(t);
    char *sh = tn_hex_encode_alloc(spk, l);
    size_t i;
    json_t *o;
    int found = 0;
    json_array_foreach(json_object_get(v, "vout"), i, o)
    {
        if (strcmp(json_string_value(json_object_get(json_object_get(o, "scriptPubKey"), "hex")), sh) == 0) {
            u.n = (uint32_t)i;
            found = 1;
        }
    }
    free(sh);
    json_decref(v);
    assert_true(found);
    return u;
}

static void mine(int n) { json_decref(call("generatetoaddress", json_pack("[i,s]", n, mine_addr))); }

enum { TAMPER_NONE, TAMPER_SIG, TAMPER_HIGH_S, TAMPER_AMOUNT, TAMPER_PUBKEY };

static size_t make_high_s(uint8_t *der, size_t len)
{
    static const uint8_t order[32] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48,
                                      0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    secp256k1_ecdsa_signature sig;
    assert_true(secp256k1_ecdsa_signature_parse_der(ctx, &sig, der, len));
    uint8_t c[64];
    secp256k1_ecdsa_signature_serialize_compact(ctx, c, &sig);
    int borrow = 0;
    for (int i = 31; i >= 0; i--) { /* s = n - s */
        int d = order[i] - c[32 + i] - borrow;
        borrow = d < 0;
        c[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    assert_true(secp256k1_ecdsa_signature_parse_compact(ctx, &sig, c));
    size_t out = 72;
    assert_true(secp256k1_ecdsa_signature_serialize_der(ctx, der, &out, &sig));
    secp256k1_context_destroy(ctx);
    return out;
}

/* Signs input i spending u with SIGHASH_ALL. */
static void sign_input(tn_tx *tx, size_t i, const utxo *u, int tamper)
{
    uint8_t spk[42], h[32], der[80];
    size_t l = spk_for(&u->k, u->type, spk);
    key other;
    key_init(&other, 0xee);
    const uint8_t *pub = tamper == TAMPER_PUBKEY ? other.pub : u->k.pub;
    if (u->type == T_P2PKH) {
        tn_sighash_legacy(tx, i, spk, l, 1, h);
    } else {
        uint8_t sc[25];
        tn_spk_p2pkh(u->k.h160, sc);
        tn_sighash_bip143(tx, i, sc, 25, u->value + (tamper == TAMPER_AMOUNT ? 1 : 0), 1, h);
    }
    size_t dl = tn_sign(u->k.sk, h, der);
    if (tamper == TAMPER_HIGH_S) dl = make_high_s(der, dl);
    if (tamper == TAMPER_SIG) der[10] ^= 0x01; /* inside r */
    der[dl++] = 1;
    tn_buf ss = {0};
    if (u->type == T_P2PKH) {
        tn_buf_push(&ss, der, dl);
        tn_buf_push(&ss, pub, 33);
        tn_txin_set_script(&tx->in[i], ss.p, ss.len);
    } else {
        const uint8_t *items[2] = {der, pub};
        size_t lens[2] = {dl, 33};
        tn_txin_set_witness(&tx->in[i], 2, items, lens);
        if (u->type == T_P2SH_P2WPKH) {
            uint8_t redeem[22];
            tn_spk_p2wpkh(u->k.h160, redeem);
            tn_buf_push(&ss, redeem, 22);
            tn_txin_set_script(&tx->in[i], ss.p, ss.len);
        }
    }
    tn_buf_free(&ss);
}

/* A transaction spending u to one P2PKH output of value out_value, signed (with tampering). */
static void build_spend(tn_tx *tx, const utxo *u, int64_t out_value, uint32_t sequence, int tamper)
{
    memset(tx, 0, sizeof *tx);
    tx->version = 2;
    tn_tx_add_input(tx, u->txid, u->n, NULL, 0, sequence);
    key dest;
    key_init(&dest, 0x77);
    uint8_t spk[25];
    tn_spk_p2pkh(dest.h160, spk);
    tn_tx_add_output(tx, out_value, spk, 25);
    sign_input(tx, 0, u, tamper);
}

static char *tx_hex(const tn_tx *tx)
{
    tn_buf b = {0};
    tn_tx_serialize(tx, 1, &b);
    char *h = tn_hex_encode_alloc(b.p, b.len);
    tn_buf_free(&b);
    return h;
}

static void send_expect_ok(const tn_tx *tx)
{
    char *h = tx_hex(tx);
    json_t *r = call("sendrawtransaction", json_pack("[s]", h));
    uint8_t txid[32];
    char want[65];
    tn_tx_txid(tx, txid);
    hex_of_hash(txid, want);
    assert_string_equal(json_string_value(r), want);
    json_decref(r);
    free(h);
}

static void send_expect_error(const tn_tx *tx, int code, const char *message)
{
    char *h = tx_hex(tx);
    expect_error("sendrawtransaction", json_pack("[s]", h), code, message, 500);
    free(h);
}

static size_t vsize_of(const tn_tx *tx)
{
    size_t v;
    tn_tx_sizes(tx, NULL, &v, NULL);
    return v;
}

static int in_mempool(const char *txid_hex)
{
    long http;
    json_t *b = call_full("getmempoolentry", json_pack("[s]", txid_hex), &http);
    int yes = json_is_null(json_object_get(b, "error"));
    json_decref(b);
    return yes;
}

static void txid_hex_of(const tn_tx *tx, char out[65])
{
    uint8_t id[32];
    tn_tx_txid(tx, id);
    hex_of_hash(id, out);
}

/* ---------- vectors ---------- */

static json_t *load_vectors(const char *name)
{
    const char *dir = getenv("TESTNODE_VECTORS");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/vectors", name);
    json_error_t e;
    json_t *j = json_load_file(path, 0, &e);
    if (!j) fail_msg("cannot load %s: %s", path, e.text);
    return j;
}

static void test_sighash_legacy_vectors(void **state)
{
    (void)state;
    json_t *v = load_vectors("node_sighash.json");
    size_t i, checked = 0;
    json_t *row;
    json_array_foreach(v, i, row)
    {
        if (json_array_size(row) != 5) continue; /* the header row */
        size_t rl, sl;
        uint8_t *raw = tn_hex_decode_alloc(json_string_value(json_array_get(row, 0)), &rl);
        uint8_t *sc = tn_hex_decode_alloc(json_string_value(json_array_get(row, 1)), &sl);
        assert_non_null(raw);
        assert_non_null(sc);
        tn_tx tx;
        assert_int_equal(tn_tx_parse_legacy(raw, rl, &tx), 0);
        uint8_t h[32];
        char got[65];
        tn_sighash_legacy(&tx, (size_t)json_integer_value(json_array_get(row, 2)), sc, sl,
                          (int32_t)json_integer_value(json_array_get(row, 3)), h);
        hex_of_hash(h, got);
        if (strcmp(got, json_string_value(json_array_get(row, 4))) != 0) fail_msg("sighash.json row %zu: got %s", i, got);
        tn_tx_free(&tx);
        free(raw);
        free(sc);
        checked++;
    }
    assert_true(checked >= 30);
    json_decref(v);
}

static void test_bip143_vectors(void **state)
{
    (void)state;
    json_t *v = load_vectors("node_bip143.json");
    size_t i;
    json_t *o;
    json_array_foreach(v, i, o)
    {
        size_t l, sl, pl;
        uint8_t *raw = tn_hex_decode_alloc(json_string_value(json_object_get(o, "unsigned_tx")), &l);
        uint8_t *sc = tn_hex_decode_alloc(json_string_value(json_object_get(o, "script_code")), &sl);
        uint8_t *prev = tn_hex_decode_alloc(json_string_value(json_object_get(o, "prev_spk")), &pl);
        size_t idx = (size_t)json_integer_value(json_object_get(o, "input_index"));
        int64_t amount = json_integer_value(json_object_get(o, "amount"));
        tn_tx tx;
        assert_int_equal(tn_tx_parse(raw, l, &tx), 0);
        uint8_t h[32];
        char got[65];
        tn_sighash_bip143(&tx, idx, sc, sl, amount, 1, h);
        tn_hex_encode(h, 32, got); /* BIP143 prints the digest in byte order */
        assert_string_equal(got, json_string_value(json_object_get(o, "sighash")));
        tn_tx_free(&tx);
        free(raw);

        /* the signed transaction's input verifies; with another amount in the preimage it does not */
        raw = tn_hex_decode_alloc(json_string_value(json_object_get(o, "signed_tx")), &l);
        assert_int_equal(tn_tx_parse(raw, l, &tx), 0);
        char err[200];
        if (tn_verify_input(&tx, idx, prev, pl, amount, err, sizeof err) != 0) fail_msg("%s: %s", json_string_value(json_object_get(o, "name")), err);
        assert_int_not_equal(tn_verify_input(&tx, idx, prev, pl, amount + 1, err, sizeof err), 0);
        assert_string_equal(err, "non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)");
        /* the key pair matches */
        uint8_t sk[32], pub[33];
        char pubhex[67];
        assert_int_equal(tn_hex_decode(json_string_value(json_object_get(o, "private_key")), sk, 32), 32);
        assert_int_equal(tn_pubkey(sk, pub), 0);
        tn_hex_encode(pub, 33, pubhex);
        assert_string_equal(pubhex, json_string_value(json_object_get(o, "public_key")));
        tn_tx_free(&tx);
        free(raw);
        free(sc);
        free(prev);
    }
    json_decref(v);
}

static void test_addresses(void **state)
{
    (void)state;
    key k;
    key_init(&k, 1);
    uint8_t spk[42], back[42];
    char addr[100];
    for (int t = T_P2PKH; t <= T_P2SH_P2WPKH; t++) {
        size_t l = spk_for(&k, t, spk);
        assert_int_equal(tn_spk_to_address(spk, l, addr), 0);
        const char *prefix = t == T_P2PKH ? "mn" : t == T_P2WPKH ? "rmona1q" : "p";
        assert_non_null(strchr(prefix, addr[0]));
        if (t == T_P2WPKH) assert_memory_equal(addr, "rmona1q", 7);
        assert_int_equal(tn_address_to_spk(addr, back), (long)l);
        assert_memory_equal(spk, back, l);
    }
    /* the old testnet P2SH version 196 ("2...") is still read */
    assert_int_equal(tn_address_to_spk("2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Br", back), 23);
    assert_int_equal(tn_address_to_spk("2N2JD6wb56AfK4tfmM6PwdVmoYk2dCKf4Bs", back), -1);
    /* descriptor checksums as Core computes them (values from Core's documentation examples) */
    char *d = desc_with_checksum("addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)");
    assert_string_equal(d, "addr(mkmZxiEcEd8ZqjQWVZuC6so5dFMKEFpN2j)#02wpgw69");
    free(d);
    d = desc_with_checksum("raw(76a91411b366edfc0a8b66feebae5c2e25a7b6a5d1cf3188ac)");
    assert_string_equal(d, "raw(76a91411b366edfc0a8b66feebae5c2e25a7b6a5d1cf3188ac)#fm24fxxy");
    free(d);
    /* mainnet and bitcoin addresses are not regtest addresses */
    assert_int_equal(tn_address_to_spk("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", back), -1);
}

/* ---------- auth and protocol ---------- */

static void test_auth(void **state)
{
    (void)state;
    const char *body = "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"getblockcount\",\"params\":[]}";
    http_result r = post("u:p", body, 5000);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.http, 200);
    http_free(&r);
    r = post("u:wrong", body, 5000);
    assert_int_equal(r.http, 401);
    http_free(&r);
    r = post("nobody:p", body, 5000);
    assert_int_equal(r.http, 401);
    http_free(&r);
    FILE *f = fopen(cookie_path, "r");
    assert_non_null(f);
    char cookie[200] = {0};
    assert_non_null(fgets(cookie, sizeof cookie, f));
    fclose(f);
    assert_int_equal(strlen(cookie), 11 + 64);
    assert_memory_equal(cookie, "__cookie__:", 11);
    r = post(cookie, body, 5000);
    assert_int_equal(r.http, 200);
    http_free(&r);
    cookie[20] = cookie[20] == 'a' ? 'b' : 'a';
    r = post(cookie, body, 5000);
    assert_int_equal(r.http, 401);
    http_free(&r);
    /* parse error, method not found, batch */
    r = post("u:p", "{not json", 5000);
    assert_int_equal(r.http, 500);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r.body, "error"), "code")), -32700);
    http_free(&r);
    expect_error("nosuchmethod", NULL, -32601, "Method not found", 404);
    r = post("u:p", "[{\"id\":1,\"method\":\"getblockcount\"},{\"id\":2,\"method\":\"getbestblockhash\"}]", 5000);
    assert_int_equal(r.http, 200);
    assert_int_equal(json_array_size(r.body), 2);
    assert_true(json_is_integer(json_object_get(json_array_get(r.body, 0), "result")));
    http_free(&r);
    /* amounts come out with 8 decimals, as Core prints them */
    json_t *q = call("estimatesmartfee", json_pack("[i]", 6));
    char *d = json_dumps(q, JSON_COMPACT);
    json_decref(q);
    r = post("u:p", "{\"id\":1,\"method\":\"estimatesmartfee\",\"params\":[6]}", 5000);
    assert_non_null(strstr(r.raw, "\"feerate\":0.00010000"));
    http_free(&r);
    free(d);
}

/* ---------- sendrawtransaction rows ---------- */

static void test_sendraw_rows(void **state)
{
    (void)state;
    key k;
    key_init(&k, 2);
    utxo a = fund(&k, T_P2PKH, 2 * TN_COIN);
    utxo b = fund(&k, T_P2PKH, 2 * TN_COIN);
    mine(1);

    /* undecodable */
    expect_error("sendrawtransaction", json_pack("[s]", "zz"), -22,
                 "TX decode failed. Make sure the tx has at least one input.", 500);
    expect_error("sendrawtransaction", json_pack("[s]", "0200000000000000000000"), -22,
                 "TX decode failed. Make sure the tx has at least one input.", 500);
    /* no inputs and no outputs decodes (empty vin, zero flag byte), then fails the mempool checks */
    expect_error("sendrawtransaction", json_pack("[s]", "02000000000000000000"), -26, "bad-txns-vin-empty", 500);

    /* fee below the relay minimum: exact "fee < minfee" numbers */
    tn_tx tx;
    build_spend(&tx, &a, a.value - 50, 0xffffffffu, TAMPER_NONE);
    char msg[200];
    snprintf(msg, sizeof msg, "min relay fee not met, 50 < %zu", vsize_of(&tx));
    send_expect_error(&tx, -26, msg);
    tn_tx_free(&tx);

    /* absurd fee: above 0.10 MONA/kB by default; an explicit maxfeerate 0 turns the check off */
    build_spend(&tx, &a, a.value - TN_COIN, 0xffffffffu, TAMPER_NONE);
    snprintf(msg, sizeof msg, "absurdly-high-fee, %lld > %zu", (long long)TN_COIN, vsize_of(&tx) * 10000000 / 1000);
    send_expect_error(&tx, -26, msg);
    tn_tx_free(&tx);

    /* dust, version, non-standard script, oversize */
    build_spend(&tx, &a, 545, 0xffffffffu, TAMPER_NONE);
    send_expect_error(&tx, -26, "dust");
    tn_tx_free(&tx);
    build_spend(&tx, &a, a.value - 10000, 0xffffffffu, TAMPER_NONE);
    tx.version = 3;
    sign_input(&tx, 0, &a, TAMPER_NONE);
    send_expect_error(&tx, -26, "version");
    tx.version = 2;
    static const uint8_t op_true[1] = {0x51};
    tn_tx_add_output(&tx, 100000, op_true, 1);
    send_expect_error(&tx, -26, "scriptpubkey");
    uint8_t *big = calloc(1, 100001);
    tx.out[1].script = realloc(tx.out[1].script, 100001);
    memcpy(tx.out[1].script, big, 100001);
    tx.out[1].script_len = 100001;
    free(big);
    send_expect_error(&tx, -26, "tx-size");
    tn_tx_free(&tx);
    /* P2WPKH dust threshold is 294 */
    {
        build_spend(&tx, &a, a.value - 10000 - 293, 0xffffffffu, TAMPER_NONE);
        uint8_t w[22];
        tn_spk_p2wpkh(k.h160, w);
        tn_tx_add_output(&tx, 293, w, 22);
        sign_input(&tx, 0, &a, TAMPER_NONE);
        send_expect_error(&tx, -26, "dust");
        tn_tx_free(&tx);
    }
    /* outputs above inputs */
    build_spend(&tx, &a, a.value + 1, 0xffffffffu, TAMPER_NONE);
    send_expect_error(&tx, -26, "bad-txns-in-belowout, value in (2.00) < value out (2.00000001)");
    tn_tx_free(&tx);

    /* accepted, then the same again: no error, the txid again */
    tn_tx ok;
    build_spend(&ok, &a, a.value - 10000, 0xffffffffu, TAMPER_NONE);
    send_expect_ok(&ok);
    send_expect_ok(&ok);

    /* a conflicting spend of a non-signalling mempool tx */
    build_spend(&tx, &a, a.value - 50000, 0xffffffffu, TAMPER_NONE);
    send_expect_error(&tx, -26, "txn-mempool-conflict");
    tn_tx_free(&tx);

    /* inputs that do not exist */
    utxo ghost = a;
    memset(ghost.txid, 0x42, 32);
    build_spend(&tx, &ghost, a.value - 10000, 0xffffffffu, TAMPER_NONE);
    send_expect_error(&tx, -25, "bad-txns-inputs-missingorspent");
    tn_tx_free(&tx);

    /* confirmed with an unspent output: -27; once that output is spent and confirmed: -25 */
    mine(1);
    send_expect_error(&ok, -27, "Transaction already in block chain");
    char okid[65];
    txid_hex_of(&ok, okid);
    key dest;
    key_init(&dest, 0x77);
    utxo out0 = {.n = 0, .value = ok.out[0].value, .k = dest, .type = T_P2PKH};
    tn_tx_txid(&ok, out0.txid);
    tn_tx spend_out;
    build_spend(&spend_out, &out0, out0.value - 10000, 0xffffffffu, TAMPER_NONE);
    send_expect_ok(&spend_out);
    mine(1);
    send_expect_error(&ok, -25, "bad-txns-inputs-missingorspent");
    /* and a spend of an input that a confirmed tx already spent */
    build_spend(&tx, &a, a.value - 20000, 0xffffffffu, TAMPER_NONE);
    send_expect_error(&tx, -25, "bad-txns-inputs-missingorspent");
    tn_tx_free(&tx);
    tn_tx_free(&ok);
    tn_tx_free(&spend_out);

    /* maxfeerate as a parameter */
    build_spend(&tx, &b, b.value - TN_COIN, 0xffffffffu, TAMPER_NONE);
    char *h = tx_hex(&tx);
    json_decref(call("sendrawtransaction", json_pack("[s,i]", h, 0)));
    free(h);
    tn_tx_free(&tx);

    /* premature spend of a coinbase (mempool emptied first: the coinbase is then exactly 50 MONA) */
    mine(1);
    key cbk;
    key_init(&cbk, 3);
    uint8_t cbspk[25];
    char cbaddr[100];
    tn_spk_p2pkh(cbk.h160, cbspk);
    tn_spk_to_address(cbspk, 25, cbaddr);
    json_t *hashes = call("generatetoaddress", json_pack("[i,s]", 1, cbaddr));
    json_t *blk = call("getblock", json_pack("[O,i]", json_array_get(hashes, 0), 1));
    utxo cb = {.n = 0, .value = 50 * TN_COIN, .k = cbk, .type = T_P2PKH};
    tn_hash_from_hex(json_string_value(json_array_get(json_object_get(blk, "tx"), 0)), cb.txid);
    json_decref(hashes);
    json_decref(blk);
    mine(10);
    build_spend(&tx, &cb, cb.value - 10000, 0xffffffffu, TAMPER_NONE);
    send_expect_error(&tx, -26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 11");
    mine(88); /* depth 99 at the next block: still one short */
    send_expect_error(&tx, -26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99");
    mine(1);
    send_expect_ok(&tx);
    tn_tx_free(&tx);
}

static void fmt_rate(int64_t per_kb, char *out, size_t n)
{
    snprintf(out, n, "%lld.%08lld MONA/kB", (long long)(per_kb / TN_COIN), (long long)(per_kb % TN_COIN));
}

static void test_rbf(void **state)
{
    (void)state;
    key k;
    key_init(&k, 4);
    utxo u = fund(&k, T_P2PKH, TN_COIN);
    mine(1);
    tn_tx orig, low, high;
    /* a low fee (about 10 sat/vB) so that "higher rate but too little extra" has room below 1 sat/vB */
    build_spend(&orig, &u, u.value - 2000, 0xfffffffdu, TAMPER_NONE); /* signals BIP125 */
    send_expect_ok(&orig);
    char origid[65];
    txid_hex_of(&orig, origid);
    json_t *e = call("getmempoolentry", json_pack("[s]", origid));
    assert_true(json_is_true(json_object_get(e, "bip125-replaceable")));
    int64_t old_vsize = json_integer_value(json_object_get(e, "vsize"));
    assert_int_equal(old_vsize, (int64_t)vsize_of(&orig));
    json_decref(e);

    /* a lower fee rate is refused; the message names the replacement and both rates as Core does */
    build_spend(&low, &u, u.value - 1500, 0xfffffffdu, TAMPER_NONE);
    char lowid[65], msg[300], a[48], b[48];
    txid_hex_of(&low, lowid);
    fmt_rate(1500 * 1000 / (int64_t)vsize_of(&low), a, sizeof a);
    fmt_rate(2000 * 1000 / old_vsize, b, sizeof b);
    snprintf(msg, sizeof msg, "insufficient fee, rejecting replacement %s; new feerate %s <= old feerate %s", lowid, a, b);
    send_expect_error(&low, -26, msg);
    tn_tx_free(&low);

    /* a higher rate, but less than the old fee + the relay fee for its own size */
    build_spend(&low, &u, u.value - 2100, 0xfffffffdu, TAMPER_NONE);
    txid_hex_of(&low, lowid);
    char d2[40];
    snprintf(d2, sizeof d2, "0.00000%zu", vsize_of(&low));
    snprintf(msg, sizeof msg, "insufficient fee, rejecting replacement %s, not enough additional fees to relay; 0.000001 < %s",
             lowid, d2);
    send_expect_error(&low, -26, msg);
    tn_tx_free(&low);

    /* enough: accepted, the original is gone */
    build_spend(&high, &u, u.value - 40000, 0xffffffffu, TAMPER_NONE);
    send_expect_ok(&high);
    assert_false(in_mempool(origid));
    /* the replacement does not signal: a further conflict is refused outright */
    build_spend(&low, &u, u.value - 90000, 0xfffffffdu, TAMPER_NONE);
    send_expect_error(&low, -26, "txn-mempool-conflict");
    tn_tx_free(&low);
    tn_tx_free(&orig);
    tn_tx_free(&high);
    mine(1);
}

static void test_scripts(void **state)
{
    (void)state;
    key k;
    key_init(&k, 5);
    utxo u[3][5];
    for (int t = 0; t < 3; t++)
        for (int m = 0; m < 5; m++) u[t][m] = fund(&k, t, TN_COIN / 10);
    mine(1);
    static const char *nm_sig = "non-mandatory-script-verify-flag (Signature must be zero for failed CHECK(MULTI)SIG operation)";
    static const char *m_sig = "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)";
    static const char *high_s = "non-mandatory-script-verify-flag (Non-canonical signature: S value is unnecessarily high)";
    static const char *eqv_m = "mandatory-script-verify-flag-failed (Script failed an OP_EQUALVERIFY operation)";
    static const char *eqv_nm = "non-mandatory-script-verify-flag (Script failed an OP_EQUALVERIFY operation)";
    for (int t = 0; t < 3; t++) {
        tn_tx tx;
        /* tampered signature: consensus failure for P2PKH; for segwit, Monacoin 0.20's mandatory
         * flags carry no witness rule, so Core calls it non-mandatory */
        build_spend(&tx, &u[t][1], u[t][1].value - 10000, 0xffffffffu, TAMPER_SIG);
        send_expect_error(&tx, -26, t == T_P2PKH ? m_sig : nm_sig);
        tn_tx_free(&tx);
        build_spend(&tx, &u[t][2], u[t][2].value - 10000, 0xffffffffu, TAMPER_PUBKEY);
        send_expect_error(&tx, -26, t == T_P2PKH ? eqv_m : eqv_nm);
        tn_tx_free(&tx);
        build_spend(&tx, &u[t][3], u[t][3].value - 10000, 0xffffffffu, TAMPER_HIGH_S);
        send_expect_error(&tx, -26, high_s);
        tn_tx_free(&tx);
        if (t != T_P2PKH) {
            build_spend(&tx, &u[t][4], u[t][4].value - 10000, 0xffffffffu, TAMPER_AMOUNT);
            send_expect_error(&tx, -26, nm_sig);
            tn_tx_free(&tx);
        }
        /* valid */
        build_spend(&tx, &u[t][0], u[t][0].value - 10000, 0xffffffffu, TAMPER_NONE);
        send_expect_ok(&tx);
        tn_tx_free(&tx);
    }
    /* a P2WPKH spend without its witness */
    tn_tx tx;
    build_spend(&tx, &u[T_P2WPKH][4], u[T_P2WPKH][4].value - 10000, 0xffffffffu, TAMPER_NONE);
    tn_txin_set_witness(&tx.in[0], 0, NULL, NULL);
    send_expect_error(&tx, -26, "non-mandatory-script-verify-flag (Witness program was passed an empty witness)");
    tn_tx_free(&tx);
    mine(1);
}

static void test_mining_and_queries(void **state)
{
    (void)state;
    key k;
    key_init(&k, 6);
    uint8_t spk[25];
    char addr[100], spkhex[51];
    tn_spk_p2pkh(k.h160, spk);
    tn_spk_to_address(spk, 25, addr);
    tn_hex_encode(spk, 25, spkhex);
    /* watch the address first, as the host does */
    json_t *im = call("importmulti", json_pack("[[{s:{s:s},s:s,s:b}]]", "scriptPubKey", "address", addr, "timestamp",
                                               "now", "watchonly", 1));
    assert_true(json_is_true(json_object_get(json_array_get(im, 0), "success")));
    json_decref(im);
    utxo u = fund(&k, T_P2PKH, 3 * TN_COIN);
    char fid[65];
    hex_of_hash(u.txid, fid);

    /* in the mempool: gettxout sees it, confirmations 0; not in the chain without include_mempool */
    json_t *o = call("gettxout", json_pack("[s,i]", fid, u.n));
    assert_int_equal(json_integer_value(json_object_get(o, "confirmations")), 0);
    json_decref(o);
    o = call("gettxout", json_pack("[s,i,b]", fid, u.n, 0));
    assert_true(json_is_null(o));
    json_decref(o);
    o = call("listunspent", json_pack("[i,i,[s]]", 0, 9999999, addr));
    assert_int_equal(json_array_size(o), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(o, 0), "confirmations")), 0);
    assert_false(json_is_true(json_object_get(json_array_get(o, 0), "spendable"))); /* watch-only */
    json_decref(o);

    json_t *hashes = call("generatetoaddress", json_pack("[i,s]", 2, mine_addr));
    o = call("getrawtransaction", json_pack("[s,b]", fid, 1));
    assert_int_equal(json_integer_value(json_object_get(o, "confirmations")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "blockhash")), json_string_value(json_array_get(hashes, 0)));
    assert_string_equal(json_string_value(json_object_get(o, "txid")), fid);
    json_t *vout = json_array_get(json_object_get(o, "vout"), u.n);
    assert_int_equal((long long)(json_real_value(json_object_get(vout, "value")) * 1e8 + 0.5), 3 * TN_COIN);
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(vout, "scriptPubKey"), "addresses"), 0)), addr);
    assert_string_equal(json_string_value(json_object_get(json_object_get(vout, "scriptPubKey"), "type")), "pubkeyhash");
    json_decref(o);
    json_t *blk = call("getblock", json_pack("[O]", json_array_get(hashes, 0)));
    assert_int_equal(json_integer_value(json_object_get(blk, "confirmations")), 2);
    int found = 0;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(blk, "tx"), i, t) found |= strcmp(json_string_value(t), fid) == 0;
    assert_true(found);
    json_decref(blk);
    json_decref(hashes);

    o = call("gettxout", json_pack("[s,i]", fid, u.n));
    assert_int_equal(json_integer_value(json_object_get(o, "confirmations")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "scriptPubKey"), "hex")), spkhex);
    assert_false(json_is_true(json_object_get(o, "coinbase")));
    json_decref(o);
    o = call("listunspent", json_pack("[i,i,[s]]", 1, 9999999, addr));
    assert_int_equal(json_array_size(o), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(o, 0), "txid")), fid);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(o, 0), "confirmations")), 2);
    assert_false(json_is_true(json_object_get(json_array_get(o, 0), "spendable")));
    json_decref(o);
    char desc[150];
    snprintf(desc, sizeof desc, "addr(%s)", addr);
    o = call("scantxoutset", json_pack("[s,[s]]", "start", desc));
    assert_true(json_is_true(json_object_get(o, "success")));
    assert_int_equal(json_array_size(json_object_get(o, "unspents")), 1);
    assert_int_equal((long long)(json_real_value(json_object_get(o, "total_amount")) * 1e8 + 0.5), 3 * TN_COIN);
    json_decref(o);

    /* spent in the mempool: gettxout null (with include_mempool), listunspent empty */
    tn_tx tx;
    build_spend(&tx, &u, u.value - 10000, 0xffffffffu, TAMPER_NONE);
    send_expect_ok(&tx);
    o = call("gettxout", json_pack("[s,i]", fid, u.n));
    assert_true(json_is_null(o));
    json_decref(o);
    o = call("gettxout", json_pack("[s,i,b]", fid, u.n, 0));
    assert_false(json_is_null(o));
    json_decref(o);
    /* evicted: the output is unspent again */
    char sid[65];
    txid_hex_of(&tx, sid);
    json_decref(call("testnode_evict", json_pack("[s]", sid)));
    assert_false(in_mempool(sid));
    o = call("gettxout", json_pack("[s,i]", fid, u.n));
    assert_false(json_is_null(o));
    json_decref(o);
    expect_error("getrawtransaction", json_pack("[s]", sid), -5,
                 "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.", 500);
    expect_error("getmempoolentry", json_pack("[s]", sid), -5, "Transaction not in mempool", 500);
    send_expect_ok(&tx);
    mine(1);
    o = call("scantxoutset", json_pack("[s,[s]]", "start", desc));
    assert_int_equal(json_array_size(json_object_get(o, "unspents")), 0);
    json_decref(o);
    tn_tx_free(&tx);

    o = call("getblockchaininfo", NULL);
    assert_string_equal(json_string_value(json_object_get(o, "chain")), "regtest");
    json_t *c = call("getblockcount", NULL);
    assert_int_equal(json_integer_value(json_object_get(o, "blocks")), json_integer_value(c));
    json_t *bh = call("getblockhash", json_pack("[O]", c));
    assert_string_equal(json_string_value(bh), json_string_value(json_object_get(o, "bestblockhash")));
    json_decref(bh);
    json_decref(c);
    json_decref(o);
}

static void test_wallet(void **state)
{
    (void)state;
    json_t *b0 = call("getbalance", NULL);
    assert_true(json_real_value(b0) > 1.0);
    json_t *a = call("getnewaddress", NULL);
    json_t *txid = call("sendtoaddress", json_pack("[O,s]", a, "1.25"));
    assert_true(in_mempool(json_string_value(txid)));
    json_t *v = call("getrawtransaction", json_pack("[O,b]", txid, 1));
    assert_int_equal(json_array_size(json_object_get(v, "vin")), 1);
    json_decref(v);
    /* gettransaction: a send to the wallet's own address nets 0 (Core's amount leaves the fee out);
     * the fee is negative, as Core prints it */
    json_t *gt = call("gettransaction", json_pack("[O]", txid));
    double fee = json_real_value(json_object_get(gt, "fee"));
    assert_true(fee < 0);
    assert_true(json_real_value(json_object_get(gt, "amount")) == 0.0);
    assert_int_equal(json_integer_value(json_object_get(gt, "confirmations")), 0);
    assert_true(json_is_true(json_object_get(gt, "trusted")));
    json_decref(gt);
    expect_error("sendtoaddress", json_pack("[s,s]", "notanaddress", "1"), -5, "Invalid address", 500);
    expect_error("sendtoaddress", json_pack("[O,s]", a, "100000000"), -6, "Insufficient funds", 500);
    mine(1);
    json_t *rc = call("testnode_received", json_pack("[[O]]", a));
    json_t *ra = json_object_get(rc, json_string_value(a));
    assert_int_equal(json_integer_value(json_object_get(ra, "count")), 1);
    assert_int_equal((long long)(json_real_value(json_object_get(ra, "amount")) * 1e8 + 0.5), 125000000);
    json_decref(rc);
    json_t *lu = call("listunspent", json_pack("[i,i,[O]]", 1, 9999999, a));
    assert_int_equal(json_array_size(lu), 1);
    assert_true(json_is_true(json_object_get(json_array_get(lu, 0), "spendable")));
    json_decref(lu);
    json_decref(a);
    json_decref(txid);
    json_decref(b0);
}

/* ---------- persistence (--datadir) ---------- */

/* The state a restart must bring back, as one JSON value. */
static json_t *snapshot(void)
{
    json_t *o = json_object();
    json_object_set_new(o, "best", call("getbestblockhash", NULL));
    json_object_set_new(o, "mempool", call("getrawmempool", NULL));
    json_object_set_new(o, "balance", call("getbalance", NULL));
    json_object_set_new(o, "fee", call("estimatesmartfee", json_pack("[i]", 2)));
    json_object_set_new(o, "unspent", call("listunspent", json_pack("[i]", 0)));
    return o;
}

static void test_persistence(void **state)
{
    (void)state;
    char dir[128], cmd[200];
    snprintf(dir, sizeof dir, "/tmp/testnode-datadir-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    int main_port = node_port, port;
    pid_t pid = spawn_node(dir, &port);
    assert_true(pid > 0);
    node_port = port;
    json_t *a = call("getnewaddress", NULL);
    json_decref(call("generatetoaddress", json_pack("[i,O]", 105, a)));
    json_decref(call("sendtoaddress", json_pack("[O,s]", a, "3.5")));
    json_decref(call("generatetoaddress", json_pack("[i,O]", 1, a)));
    json_t *t2 = call("sendtoaddress", json_pack("[O,s]", a, "1.25")); /* stays in the mempool */
    json_t *t3 = call("sendtoaddress", json_pack("[O,s]", a, "0.5"));
    json_decref(call("testnode_evict", json_pack("[O]", t3)));
    json_decref(call("importmulti", json_pack("[[{s:s,s:s,s:b}]]", "scriptPubKey", "76a914000000000000000000000000000000000000000088ac",
                                              "timestamp", "now", "watchonly", 1)));
    json_decref(call("testnode_setfeerate", json_pack("[s]", "0.00030000")));
    json_t *before = snapshot();
    json_decref(call("stop", NULL));
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    pid = spawn_node(dir, &port);
    assert_true(pid > 0);
    node_port = port;
    json_t *after = snapshot();
    if (!json_equal(before, after)) {
        char *x = json_dumps(before, JSON_COMPACT), *y = json_dumps(after, JSON_COMPACT);
        fail_msg("state differs after restart:\n%.600s\n%.600s", x, y);
    }
    assert_true(in_mempool(json_string_value(t2)));
    assert_false(in_mempool(json_string_value(t3)));
    /* the wallet carries on with fresh keys, and the restarted chain keeps growing */
    json_t *b = call("getnewaddress", NULL);
    assert_string_not_equal(json_string_value(a), json_string_value(b));
    json_decref(call("generatetoaddress", json_pack("[i,O]", 1, b)));
    json_decref(call("stop", NULL));
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    node_port = main_port;
    json_decref(a);
    json_decref(b);
    json_decref(t2);
    json_decref(t3);
    json_decref(before);
    json_decref(after);
    assert_int_equal(system(cmd), 0);
}

/* ---------- robustness: mutated transactions never crash the node ---------- */

static void test_mutated_transactions(void **state)
{
    (void)state;
    key k;
    key_init(&k, 10);
    utxo u[3];
    for (int t = 0; t < 3; t++) u[t] = fund(&k, t, TN_COIN);
    mine(1);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int accepted = 0, rejected = 0;
    for (int t = 0; t < 3; t++) {
        tn_tx tx;
        build_spend(&tx, &u[t], u[t].value - 10000, 0xffffffffu, TAMPER_NONE);
        tn_buf b = {0};
        tn_tx_serialize(&tx, 1, &b);
        for (int i = 0; i < 150; i++) {
            uint8_t *m = tn_memdup(b.p, b.len);
            size_t len = b.len;
            int flips = 1 + (int)(x % 3);
            for (int f = 0; f < flips; f++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                m[x % len] ^= (uint8_t)(1u << (x >> 32) % 8);
            }
            if (i % 10 == 9) len -= (size_t)(x % len); /* truncated */
            char *h = tn_hex_encode_alloc(m, len);
            long http;
            json_t *r = call_full("sendrawtransaction", json_pack("[s]", h), &http);
            if (json_is_null(json_object_get(r, "error"))) {
                accepted++;
                assert_int_equal(http, 200);
            } else {
                rejected++;
                assert_int_equal(http, 500);
                assert_true(json_is_string(json_object_get(json_object_get(r, "error"), "message")));
            }
            json_decref(r);
            free(h);
            free(m);
        }
        tn_buf_free(&b);
        tn_tx_free(&tx);
    }
    /* a flipped bit almost never leaves a valid spend; whatever got in must be a real spend of u */
    assert_true(rejected > 400);
    assert_true(accepted <= 3);
    mine(1);
}

/* ---------- concurrency ---------- */

typedef struct {
    int calls, ok;
    char addr[100];
} worker;

static void *concurrent_worker(void *arg)
{
    worker *w = arg;
    CURL *c = curl_easy_init(); /* one keep-alive connection per thread */
    char url[64], body[300];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", node_port);
    for (int i = 0; i < w->calls; i++) {
        sink s = {0};
        if (i % 2)
            snprintf(body, sizeof body, "{\"id\":%d,\"method\":\"sendtoaddress\",\"params\":[\"%s\",\"0.01\"]}", i, w->addr);
        else
            snprintf(body, sizeof body, "{\"id\":%d,\"method\":\"getblockchaininfo\",\"params\":[]}", i);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_USERPWD, "u:p");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        long http = 0;
        if (curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http) == CURLE_OK &&
            http == 200 && s.p && strstr(s.p, "\"error\":null"))
            w->ok++;
        free(s.p);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    mine(60); /* mature coins for many payments */
    json_t *m0 = call("getrawmempool", NULL);
    size_t before = json_array_size(m0);
    json_decref(m0);
    enum { THREADS = 8, CALLS = 20 };
    pthread_t t[THREADS];
    worker w[THREADS];
    json_t *a = call("getnewaddress", NULL);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){.calls = CALLS};
        snprintf(w[i].addr, sizeof w[i].addr, "%s", json_string_value(a));
        assert_int_equal(pthread_create(&t[i], NULL, concurrent_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, CALLS);
    }
    json_decref(a);
    json_t *m = call("getrawmempool", NULL);
    assert_int_equal(json_array_size(m), before + THREADS * CALLS / 2);
    json_decref(m);
    mine(1);
    m = call("getrawmempool", NULL);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
}

/* ---------- faults ---------- */

static void setfault(const char *json)
{
    json_error_t e;
    json_t *o = json_loads(json, 0, &e);
    assert_non_null(o);
    json_t *p = json_array();
    json_array_append_new(p, o);
    json_decref(call("testnode_setfault", p));
}

static void test_fault_delay(void **state)
{
    (void)state;
    key k;
    key_init(&k, 8);
    utxo u = fund(&k, T_P2PKH, TN_COIN);
    mine(1);
    tn_tx tx;
    build_spend(&tx, &u, u.value - 10000, 0xffffffffu, TAMPER_NONE);
    char *h = tx_hex(&tx), id[65];
    txid_hex_of(&tx, id);
    setfault("{\"mode\":\"delay\",\"delay_ms\":1000,\"methods\":[\"sendrawtransaction\"]}");
    char body[4096];
    snprintf(body, sizeof body, "{\"id\":1,\"method\":\"sendrawtransaction\",\"params\":[\"%s\"]}", h);
    http_result r = post("u:p", body, 200);
    assert_int_equal(r.rc, CURLE_OPERATION_TIMEDOUT); /* the client gave up ... */
    http_free(&r);
    assert_true(in_mempool(id)); /* ... and the coins are sent */
    json_decref(call("testnode_clearfaults", NULL));
    free(h);
    tn_tx_free(&tx);
}

static void test_fault_drop_error_refuse_stall(void **state)
{
    (void)state;
    key k;
    key_init(&k, 9);
    utxo u[3];
    for (int i = 0; i < 3; i++) u[i] = fund(&k, T_P2PKH, TN_COIN);
    mine(1);
    char body[4096], id[65];
    tn_tx tx;

    /* drop: accepted, connection closed without an answer (a fresh connection, or curl would retry a
     * request that died on a reused one) */
    fresh_connections = 1;
    build_spend(&tx, &u[0], u[0].value - 10000, 0xffffffffu, TAMPER_NONE);
    char *h = tx_hex(&tx);
    txid_hex_of(&tx, id);
    setfault("{\"mode\":\"drop\",\"count\":1,\"methods\":[\"sendrawtransaction\"]}");
    snprintf(body, sizeof body, "{\"id\":1,\"method\":\"sendrawtransaction\",\"params\":[\"%s\"]}", h);
    http_result r = post("u:p", body, 5000);
    assert_int_equal(r.rc, CURLE_GOT_NOTHING);
    http_free(&r);
    assert_true(in_mempool(id));
    free(h);
    tn_tx_free(&tx);

    /* error: a bare 502 without a JSON body, nothing accepted */
    build_spend(&tx, &u[1], u[1].value - 10000, 0xffffffffu, TAMPER_NONE);
    h = tx_hex(&tx);
    txid_hex_of(&tx, id);
    setfault("{\"mode\":\"error\",\"http_status\":502,\"count\":1}");
    snprintf(body, sizeof body, "{\"id\":1,\"method\":\"sendrawtransaction\",\"params\":[\"%s\"]}", h);
    r = post("u:p", body, 5000);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.http, 502);
    assert_null(r.body);
    http_free(&r);
    assert_false(in_mempool(id));
    /* error with a JSON-RPC body, after the call ran ("accept") */
    setfault("{\"mode\":\"error\",\"code\":-28,\"message\":\"Loading block index...\",\"accept\":true,\"count\":1}");
    expect_error("sendrawtransaction", json_pack("[s]", h), -28, "Loading block index...", 500);
    assert_true(in_mempool(id));
    free(h);
    tn_tx_free(&tx);

    /* refuse: the next new connection is closed at once; the call never ran */
    build_spend(&tx, &u[2], u[2].value - 10000, 0xffffffffu, TAMPER_NONE);
    h = tx_hex(&tx);
    txid_hex_of(&tx, id);
    setfault("{\"mode\":\"refuse\",\"count\":1}");
    curl_easy_cleanup(curl); /* a fresh connection */
    curl = curl_easy_init();
    snprintf(body, sizeof body, "{\"id\":1,\"method\":\"sendrawtransaction\",\"params\":[\"%s\"]}", h);
    r = post("u:p", body, 5000);
    assert_int_not_equal(r.rc, CURLE_OK);
    http_free(&r);
    assert_false(in_mempool(id));
    send_expect_ok(&tx);
    free(h);
    tn_tx_free(&tx);

    /* stall: every call waits */
    setfault("{\"mode\":\"stall\",\"stall_ms\":300,\"count\":1}");
    r = post("u:p", "{\"id\":1,\"method\":\"getblockcount\",\"params\":[]}", 5000);
    assert_int_equal(r.http, 200);
    assert_true(r.ms >= 290);
    http_free(&r);

    /* duration_ms: the fault removes itself */
    setfault("{\"mode\":\"error\",\"duration_ms\":100,\"methods\":[\"getblockcount\"]}");
    expect_error("getblockcount", NULL, -1, "testnode injected error", 500);
    usleep(150 * 1000);
    json_decref(call("getblockcount", NULL));

    json_t *s = call("testnode_stats", NULL);
    json_t *f = json_object_get(s, "faults");
    assert_true(json_integer_value(json_object_get(f, "drop")) >= 1);
    assert_true(json_integer_value(json_object_get(f, "error")) >= 2);
    assert_true(json_integer_value(json_object_get(f, "refuse")) >= 1);
    assert_true(json_integer_value(json_object_get(f, "stall")) >= 1);
    assert_true(json_integer_value(json_object_get(s, "calls")) > 10);
    /* by method: the three getblockcount calls above (one stalled, one answered with an error) */
    json_int_t blockcounts = json_integer_value(json_object_get(json_object_get(s, "calls_by_method"), "getblockcount"));
    assert_true(blockcounts >= 3);
    json_decref(s);
    json_decref(call("getblockcount", NULL));
    s = call("testnode_stats", NULL);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "calls_by_method"), "getblockcount")),
                     blockcounts + 1);
    json_decref(s);
    json_decref(call("testnode_clearfaults", NULL));
    fresh_connections = 0;
}

/* Which of 40 getblockcount calls got the injected error. */
static void error_pattern(const char *fault_json, char out[41])
{
    setfault(fault_json);
    for (int i = 0; i < 40; i++) {
        long http;
        json_t *b = call_full("getblockcount", NULL, &http);
        out[i] = json_is_null(json_object_get(b, "error")) ? '.' : 'E';
        json_decref(b);
    }
    out[40] = 0;
    json_decref(call("testnode_clearfaults", NULL));
}

static void test_fault_random_replay(void **state)
{
    (void)state;
    const char *f = "{\"mode\":\"random\",\"seed\":42,\"probs\":{\"error\":0.5},\"methods\":[\"getblockcount\"]}";
    char p1[41], p2[41], p3[41];
    error_pattern(f, p1);
    error_pattern(f, p2);
    assert_string_equal(p1, p2);
    assert_non_null(strchr(p1, 'E'));
    assert_non_null(strchr(p1, '.'));
    error_pattern("{\"mode\":\"random\",\"seed\":43,\"probs\":{\"error\":0.5},\"methods\":[\"getblockcount\"]}", p3);
    assert_string_not_equal(p1, p3);
    /* the dry run gives the same schedule */
    json_error_t e;
    json_t *p = json_pack("[o,i]", json_loads(f, 0, &e), 40);
    json_t *sched = call("testnode_faultschedule", p);
    for (int i = 0; i < 40; i++)
        assert_int_equal(json_is_null(json_array_get(sched, (size_t)i)) ? '.' : 'E', p1[i]);
    json_decref(sched);
    /* several modes in one schedule, reproducible */
    const char *g = "{\"mode\":\"random\",\"seed\":7,\"probs\":{\"delay\":0.2,\"drop\":0.2,\"error\":0.1,\"stall\":0.1}}";
    json_t *s1 = call("testnode_faultschedule", json_pack("[o,i]", json_loads(g, 0, &e), 200));
    json_t *s2 = call("testnode_faultschedule", json_pack("[o,i]", json_loads(g, 0, &e), 200));
    assert_true(json_equal(s1, s2));
    json_decref(s1);
    json_decref(s2);
}

static void test_estimatesmartfee_modes(void **state)
{
    (void)state;
    json_decref(call("testnode_setfeerate", json_pack("[s]", "none")));
    json_t *o = call("estimatesmartfee", json_pack("[i]", 2));
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "errors"), 0)),
                        "Insufficient data or no feerate found");
    json_decref(o);
    json_decref(call("testnode_setfeerate", json_pack("[s]", "0.00020000")));
    http_result r = post("u:p", "{\"id\":1,\"method\":\"estimatesmartfee\",\"params\":[3]}", 5000);
    assert_non_null(strstr(r.raw, "\"feerate\":0.00020000,\"blocks\":3"));
    http_free(&r);
    json_decref(call("testnode_setfeerate", json_pack("[s]", "0.00010000")));
}

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_sighash_legacy_vectors),
        cmocka_unit_test(test_bip143_vectors),
        cmocka_unit_test(test_addresses),
    };
    const struct CMUnitTest online[] = {
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_sendraw_rows),
        cmocka_unit_test(test_rbf),
        cmocka_unit_test(test_scripts),
        cmocka_unit_test(test_mining_and_queries),
        cmocka_unit_test(test_wallet),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_mutated_transactions),
        cmocka_unit_test(test_persistence),
        cmocka_unit_test(test_fault_delay),
        cmocka_unit_test(test_fault_drop_error_refuse_stall),
        cmocka_unit_test(test_fault_random_replay),
        cmocka_unit_test(test_estimatesmartfee_modes),
    };
    int fails = cmocka_run_group_tests_name("testnode-offline", offline, NULL, NULL);
    fails += cmocka_run_group_tests_name("testnode-rpc", online, start_node, stop_node);
    return fails ? 1 : 0;
}
