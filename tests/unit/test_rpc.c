/* The monacoind client (host/lib/rpc.c): broadcast classification from the answers a real Monacoin
 * Core 0.20.3 gives (docs/DESIGN.md §5), and every call against the real test node
 * ($ONCESIGN_BUILD/oncesign-testnode, tests/node/README.md), including its injected faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "oncesign/status.h"
#include "rpc.h"

/* ------------------------------------------------------------------ classification table */

typedef struct {
    const char *what;
    int status; /* OS_OK, OS_ERR_RPC, OS_ERR_RPC_TRANSPORT */
    int code;
    const char *message;
    long http;
    int timed_out;
    os_broadcast_class cls;
    int already_confirmed, conflict, fee_too_low;
} class_case;

/* Codes and messages: docs/DESIGN.md §5 (measured on a real Monacoin Core 0.20.3 regtest node) and
 * tests/node/README.md's reject strings, which follow Core 0.20's ValidationState reasons. */
static const class_case class_cases[] = {
    {"accepted / already in the mempool: the txid", OS_OK, 0, "", 200, 0, OS_BROADCAST_SENT, 0, 0, 0},
    {"already confirmed, an output unspent", OS_ERR_RPC, -27, "Transaction already in block chain", 500, 0,
     OS_BROADCAST_SENT, 1, 0, 0},
    {"inputs missing or spent / confirmed and fully spent", OS_ERR_RPC, -25, "bad-txns-inputs-missingorspent", 500,
     0, OS_BROADCAST_CHECK_CHAIN, 0, 0, 0},
    {"older wording of missing inputs", OS_ERR_RPC, -25, "Missing inputs", 500, 0, OS_BROADCAST_CHECK_CHAIN, 0, 0, 0},
    {"other -25", OS_ERR_RPC, -25, "bad-txns-something-new", 500, 0, OS_BROADCAST_CHECK_CHAIN, 0, 0, 0},
    {"mempool conflict, original not signalling", OS_ERR_RPC, -26, "txn-mempool-conflict", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 1, 0},
    {"replacement feerate too low", OS_ERR_RPC, -26,
     "insufficient fee, rejecting replacement 5b1f2c4e7a1e1a6d0c4b8e1f3a2d9c7b6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b; new "
     "feerate 0.00010000 MONA/kB <= old feerate 0.00010000 MONA/kB",
     500, 0, OS_BROADCAST_NOT_SENT, 0, 1, 1},
    {"replacement pays less than the conflicts", OS_ERR_RPC, -26,
     "insufficient fee, rejecting replacement 5b1f2c4e7a1e1a6d0c4b8e1f3a2d9c7b6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b, "
     "less fees than conflicting txs; 0.0000226 < 0.0000452",
     500, 0, OS_BROADCAST_NOT_SENT, 0, 1, 1},
    {"fee below the relay minimum", OS_ERR_RPC, -26, "min relay fee not met, 50 < 110", 500, 0, OS_BROADCAST_NOT_SENT,
     0, 0, 1},
    {"fee above maxfeerate", OS_ERR_RPC, -26, "absurdly-high-fee, 1000000000 > 1100000", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"dust output", OS_ERR_RPC, -26, "dust", 500, 0, OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"non-standard version", OS_ERR_RPC, -26, "version", 500, 0, OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"too large", OS_ERR_RPC, -26, "tx-size", 500, 0, OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"non-standard output script", OS_ERR_RPC, -26, "scriptpubkey", 500, 0, OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"witness failure", OS_ERR_RPC, -26,
     "non-mandatory-script-verify-flag (Non-canonical signature: S value is unnecessarily high)", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"bad P2PKH signature", OS_ERR_RPC, -26,
     "mandatory-script-verify-flag-failed (Signature must be zero for failed CHECK(MULTI)SIG operation)", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"immature coinbase", OS_ERR_RPC, -26, "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 5",
     500, 0, OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"outputs above inputs", OS_ERR_RPC, -26, "bad-txns-in-belowout, value in (1.00) < value out (2.00)", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"chain too long", OS_ERR_RPC, -26, "too-long-mempool-chain, too many unconfirmed ancestors [limit: 25]", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"undecodable", OS_ERR_RPC, -22, "TX decode failed. Make sure the tx has at least one input.", 500, 0,
     OS_BROADCAST_NOT_SENT, 0, 0, 0},
    {"same txid already in the mempool (other wording)", OS_ERR_RPC, -26, "txn-already-in-mempool", 500, 0,
     OS_BROADCAST_SENT, 0, 0, 0},
    {"unknown code: warming up", OS_ERR_RPC, -28, "Loading block index...", 500, 0, OS_BROADCAST_UNKNOWN, 0, 0, 0},
    {"unknown code: method not found", OS_ERR_RPC, -32601, "Method not found", 404, 0, OS_BROADCAST_UNKNOWN, 0, 0,
     0},
    {"unknown code: misc", OS_ERR_RPC, -1, "something", 500, 0, OS_BROADCAST_UNKNOWN, 0, 0, 0},
    {"timeout", OS_ERR_RPC_TRANSPORT, 0, "sendrawtransaction: Operation timed out", 0, 1, OS_BROADCAST_UNKNOWN, 0, 0,
     0},
    {"connection dropped", OS_ERR_RPC_TRANSPORT, 0, "sendrawtransaction: Empty reply from server", 0, 0,
     OS_BROADCAST_UNKNOWN, 0, 0, 0},
    {"connection refused", OS_ERR_RPC_TRANSPORT, 0, "Failed to connect", 0, 0, OS_BROADCAST_UNKNOWN, 0, 0, 0},
    {"bare 502", OS_ERR_RPC_TRANSPORT, 0, "HTTP 502 with an empty body", 502, 0, OS_BROADCAST_UNKNOWN, 0, 0, 0},
    {"500 without a JSON error", OS_ERR_RPC_TRANSPORT, 0, "HTTP 500 with a body that is not JSON", 500, 0,
     OS_BROADCAST_UNKNOWN, 0, 0, 0},
    /* a transport failure carrying a stale code must still be UNKNOWN */
    {"transport with a code", OS_ERR_RPC_TRANSPORT, -26, "txn-mempool-conflict", 502, 0, OS_BROADCAST_UNKNOWN, 0, 0,
     0},
};

static void test_classify_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof class_cases / sizeof class_cases[0]; i++) {
        const class_case *c = &class_cases[i];
        os_rpc_error e;
        memset(&e, 0, sizeof e);
        e.status = c->status;
        e.code = c->code;
        e.http_status = c->http;
        e.timed_out = c->timed_out;
        snprintf(e.message, sizeof e.message, "%s", c->message);
        os_broadcast_result r;
        memset(&r, 0xa5, sizeof r);
        os_rpc_classify_broadcast(&e, &r);
        if ((int)r.cls != (int)c->cls || r.already_confirmed != c->already_confirmed || r.conflict != c->conflict ||
            r.fee_too_low != c->fee_too_low)
            fail_msg("case '%s': cls %d ac %d conflict %d fee %d", c->what, r.cls, r.already_confirmed, r.conflict,
                     r.fee_too_low);
        assert_int_equal(r.error.code, c->code);
        assert_string_equal(r.error.message, c->message);
        /* the rule behind the table: nothing but a node's explicit refusal is NOT_SENT */
        if (r.cls == OS_BROADCAST_NOT_SENT) assert_int_equal(c->status, OS_ERR_RPC);
    }
    os_broadcast_result r;
    os_rpc_classify_broadcast(NULL, &r);
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
}

static void test_hex(void **state)
{
    (void)state;
    const uint8_t data[] = {0x00, 0x01, 0xab, 0xff};
    char hex[9];
    os_hex_encode(data, 4, hex);
    assert_string_equal(hex, "0001abff");
    uint8_t back[4];
    size_t len = 0;
    assert_int_equal(os_hex_decode("0001ABff", back, sizeof back, &len), OS_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(back, data, 4);
    assert_int_equal(os_hex_decode("abc", back, sizeof back, &len), OS_ERR_ARG);
    assert_int_equal(os_hex_decode("zz", back, sizeof back, &len), OS_ERR_ARG);
    assert_int_equal(os_hex_decode("0001020304", back, sizeof back, &len), OS_ERR_BUFFER);
    assert_int_equal(os_hex_decode("", back, sizeof back, &len), OS_OK);
    assert_int_equal(len, 0);

    /* display order is reversed: the genesis txid of Bitcoin as an example of the convention */
    const char *disp = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";
    uint8_t txid[32];
    assert_int_equal(os_txid_from_hex(disp, txid), OS_OK);
    assert_int_equal(txid[0], 0x3b);
    assert_int_equal(txid[31], 0x4a);
    char round[65];
    os_txid_to_hex(txid, round);
    assert_string_equal(round, disp);
    assert_int_equal(os_txid_from_hex("4a5e", txid), OS_ERR_ARG);
}

static void test_open_args(void **state)
{
    (void)state;
    os_rpc *rpc = NULL;
    char err[128];
    os_rpc_config cfg = {"http://127.0.0.1:1/", "u", "p", NULL, 1000};
    cfg.timeout_ms = 0;
    assert_int_equal(os_rpc_open(&cfg, &rpc, err, sizeof err), OS_ERR_ARG);
    cfg.timeout_ms = 1000;
    cfg.cookie_file = "/nonexistent"; /* both kinds of auth at once */
    assert_int_equal(os_rpc_open(&cfg, &rpc, err, sizeof err), OS_ERR_ARG);
    os_rpc_config ck = {"http://127.0.0.1:1/", NULL, NULL, "/nonexistent/.cookie", 1000};
    assert_int_equal(os_rpc_open(&ck, &rpc, err, sizeof err), OS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/.cookie"));
    assert_null(rpc);
}

/* ------------------------------------------------------------------ the test node */

typedef struct {
    pid_t pid;
    int port;
    char url[64];
    char dir[64];
    char cookie[96];
    os_rpc *ctl; /* control client: user/password, generous timeout */
} node;

static int node_start(node *n)
{
    memset(n, 0, sizeof *n);
    const char *build = getenv("ONCESIGN_BUILD");
    char bin[512];
    snprintf(bin, sizeof bin, "%s/oncesign-testnode", build ? build : "build");
    snprintf(n->dir, sizeof n->dir, "/tmp/test_rpc.XXXXXX");
    if (!mkdtemp(n->dir)) return -1;
    snprintf(n->cookie, sizeof n->cookie, "%s/.cookie", n->dir);
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(bin, bin, "--port", "0", "--rpcuser", "rpcuser", "--rpcpassword", "rpcpass", "--cookie-file", n->cookie,
              "--seed", "7", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    n->pid = pid;
    char line[256];
    size_t got = 0;
    struct pollfd p = {fds[0], POLLIN, 0};
    while (got < sizeof line - 1 && !memchr(line, '\n', got)) {
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t r = read(fds[0], line + got, sizeof line - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fds[0]);
    line[got] = '\0';
    if (sscanf(line, "testnode: listening on 127.0.0.1:%d", &n->port) != 1) {
        print_error("test node did not start (%s): '%s'\n", bin, line);
        return -1;
    }
    snprintf(n->url, sizeof n->url, "http://127.0.0.1:%d/", n->port);
    os_rpc_config cfg = {n->url, "rpcuser", "rpcpass", NULL, 10000};
    char err[256];
    return os_rpc_open(&cfg, &n->ctl, err, sizeof err) == OS_OK ? 0 : -1;
}

static void node_stop(node *n)
{
    os_rpc_close(n->ctl);
    if (n->pid > 0) {
        kill(n->pid, SIGTERM);
        waitpid(n->pid, NULL, 0);
    }
    unlink(n->cookie);
    rmdir(n->dir);
}

static int setup_node(void **state)
{
    node *n = calloc(1, sizeof *n);
    if (!n || node_start(n) != 0) {
        if (n) node_stop(n);
        free(n);
        return -1;
    }
    *state = n;
    return 0;
}

static int teardown_node(void **state)
{
    node *n = *state;
    node_stop(n);
    free(n);
    return 0;
}

static os_rpc *client(node *n, int timeout_ms)
{
    os_rpc_config cfg = {n->url, "rpcuser", "rpcpass", NULL, timeout_ms};
    os_rpc *rpc = NULL;
    char err[256];
    assert_int_equal(os_rpc_open(&cfg, &rpc, err, sizeof err), OS_OK);
    return rpc;
}

/* A control call that must succeed; returns the result (caller decrefs). */
static json_t *ctl(node *n, const char *method, json_t *params)
{
    json_t *r = NULL;
    os_rpc_error e;
    int s = os_rpc_call(n->ctl, method, params, &r, &e);
    if (s != OS_OK) fail_msg("%s: status %d code %d: %s", method, s, e.code, e.message);
    return r;
}

static void ctl_string(node *n, const char *method, json_t *params, char *out, size_t cap)
{
    json_t *r = ctl(n, method, params);
    assert_true(json_is_string(r));
    snprintf(out, cap, "%s", json_string_value(r));
    json_decref(r);
}

static void mine(node *n, int blocks, const char *addr)
{
    json_decref(ctl(n, "generatetoaddress", json_pack("[i, s]", blocks, addr)));
}

/* The node's wallet with exactly one mature coin (50 MONA) and an address of its own. */
static void fund_wallet(node *n, char addr[100])
{
    ctl_string(n, "getnewaddress", NULL, addr, 100);
    mine(n, 101, addr);
}

/* sendtoaddress through the node's wallet; returns the txid and the raw transaction. */
static void wallet_send(node *n, const char *to, const char *amount, uint8_t txid[32], uint8_t **raw, size_t *len)
{
    char hex[100];
    ctl_string(n, "sendtoaddress", json_pack("[s, s]", to, amount), hex, sizeof hex);
    assert_int_equal(os_txid_from_hex(hex, txid), OS_OK);
    os_rpc_txstatus st;
    os_rpc_error e;
    assert_int_equal(os_rpc_get_transaction(n->ctl, txid, &st, raw, len, &e), OS_OK);
    assert_true(st.found);
    assert_true(st.in_mempool);
}

static void evict(node *n, const uint8_t txid[32])
{
    char hex[65];
    os_txid_to_hex(txid, hex);
    json_decref(ctl(n, "testnode_evict", json_pack("[s]", hex)));
}

static void set_fault(node *n, json_t *fault)
{
    json_decref(ctl(n, "testnode_setfault", json_pack("[o]", fault)));
}

static int in_mempool(node *n, const uint8_t txid[32])
{
    os_rpc_txstatus st;
    os_rpc_error e;
    assert_int_equal(os_rpc_get_transaction(n->ctl, txid, &st, NULL, NULL, &e), OS_OK);
    return st.found && st.in_mempool;
}

/* A regtest P2PKH address (version 111) of a fixed hash160 nobody's wallet holds. */
static void watch_address(char out[100])
{
    uint8_t payload[21] = {111};
    for (int i = 1; i < 21; i++) payload[i] = (uint8_t)(0x40 + i);
    assert_int_equal(base58check_encode(payload, sizeof payload, out, 100), OS_OK);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ node tests */

static void test_auth(void **state)
{
    node *n = *state;
    os_rpc_error e;
    uint64_t h = 99;
    os_rpc *rpc = client(n, 2000);
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    assert_int_equal(h, 0);
    os_rpc_close(rpc);

    /* cookie */
    os_rpc_config ck = {n->url, NULL, NULL, n->cookie, 2000};
    char err[256];
    assert_int_equal(os_rpc_open(&ck, &rpc, err, sizeof err), OS_OK);
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    os_rpc_close(rpc);

    /* a stale cookie (the node restarted): read again on the 401, and the call goes through */
    char stale[128];
    snprintf(stale, sizeof stale, "%s/stale.cookie", n->dir);
    FILE *f = fopen(stale, "w");
    assert_non_null(f);
    fputs("__cookie__:00000000000000000000000000000000000000000000000000000000000000aa", f);
    fclose(f);
    ck.cookie_file = stale;
    assert_int_equal(os_rpc_open(&ck, &rpc, err, sizeof err), OS_OK);
    FILE *real = fopen(n->cookie, "r");
    char cookie[256] = {0};
    assert_non_null(real);
    assert_non_null(fgets(cookie, sizeof cookie, real));
    fclose(real);
    assert_int_equal(strncmp(cookie, "__cookie__:", 11), 0);
    f = fopen(stale, "w");
    assert_non_null(f);
    fputs(cookie, f);
    fclose(f);
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    os_rpc_close(rpc);

    /* a cookie that stays wrong: 401 is a transport error (the node ran nothing, said nothing) */
    f = fopen(stale, "w");
    assert_non_null(f);
    fputs("__cookie__:bad", f);
    fclose(f);
    assert_int_equal(os_rpc_open(&ck, &rpc, err, sizeof err), OS_OK);
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_ERR_RPC_TRANSPORT);
    assert_int_equal(e.http_status, 401);
    os_rpc_close(rpc);
    unlink(stale);

    /* wrong password */
    os_rpc_config bad = {n->url, "rpcuser", "wrong", NULL, 2000};
    assert_int_equal(os_rpc_open(&bad, &rpc, err, sizeof err), OS_OK);
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_ERR_RPC_TRANSPORT);
    assert_int_equal(e.status, OS_ERR_RPC_TRANSPORT);
    assert_int_equal(e.http_status, 401);
    assert_false(e.timed_out);
    os_rpc_close(rpc);
}

static void test_call_errors(void **state)
{
    node *n = *state;
    os_rpc *rpc = client(n, 2000);
    json_t *r = NULL;
    os_rpc_error e;
    assert_int_equal(os_rpc_call(rpc, "nosuchmethod", NULL, &r, &e), OS_ERR_RPC);
    assert_null(r);
    assert_int_equal(e.code, -32601);
    assert_int_equal(e.http_status, 404);
    assert_string_equal(e.message, "Method not found");
    /* a JSON-RPC error injected with the real -25 text, through HTTP: CHECK_CHAIN */
    set_fault(n, json_pack("{s:s, s:i, s:s, s:s, s:i}", "mode", "error", "code", -25, "message",
                           "bad-txns-inputs-missingorspent", "methods", "sendrawtransaction", "count", 1));
    const uint8_t junk[] = {1, 0, 0, 0};
    os_broadcast_result b;
    assert_int_equal(os_rpc_sendrawtransaction(rpc, junk, sizeof junk, &b), OS_OK);
    assert_int_equal(b.cls, OS_BROADCAST_CHECK_CHAIN);
    assert_int_equal(b.error.status, OS_ERR_RPC);
    assert_int_equal(b.error.http_status, 500);
    /* a 500 with an empty body is not a node's refusal */
    set_fault(n, json_pack("{s:s, s:i, s:s, s:i}", "mode", "error", "http_status", 500, "methods", "getblockcount",
                           "count", 1));
    uint64_t h;
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_ERR_RPC_TRANSPORT);
    assert_int_equal(e.http_status, 500);
    assert_int_equal(e.code, 0); /* not the -32601 this struct held before */
    /* and nothing is left over on the connection */
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    /* a body above 1 KiB goes out at once (no "Expect: 100-continue" wait) */
    uint8_t big[3000];
    memset(big, 0xee, sizeof big);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(os_rpc_sendrawtransaction(rpc, big, sizeof big, &b), OS_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(b.cls, OS_BROADCAST_NOT_SENT);
    assert_int_equal(b.error.code, -22);
    assert_true((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 500);
    os_rpc_close(rpc);
}

static void test_chain_queries(void **state)
{
    node *n = *state;
    os_rpc *rpc = client(n, 3000);
    os_rpc_error e;
    char addr[100], watched[100];
    fund_wallet(n, addr);
    uint64_t h = 0;
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    assert_int_equal(h, 101);

    /* watch-only import, then a funding of 1.5 MONA to the watched address */
    watch_address(watched);
    const char *addrs[] = {watched};
    os_rpc_utxo *u = NULL;
    size_t nu = 99;
    assert_int_equal(os_rpc_listunspent(rpc, 0, addrs, 1, &u, &nu, &e), OS_OK);
    assert_int_equal(nu, 0);
    free(u);
    assert_int_equal(os_rpc_import_addresses(rpc, addrs, 1, &e), OS_OK);
    const char *bad[] = {"notanaddress"};
    assert_int_equal(os_rpc_import_addresses(rpc, bad, 1, &e), OS_ERR_RPC);
    assert_int_equal(e.code, -5);

    uint8_t txid[32];
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    wallet_send(n, watched, "1.50000000", txid, &raw, &raw_len);
    assert_true(raw_len > 60);
    free(raw);
    assert_int_equal(os_rpc_listunspent(rpc, 0, addrs, 1, &u, &nu, &e), OS_OK);
    assert_int_equal(nu, 1);
    assert_memory_equal(u[0].outpoint.txid, txid, 32);
    assert_int_equal(u[0].amount, 150000000);
    assert_int_equal(u[0].confirmations, 0);
    assert_string_equal(u[0].address, watched);
    assert_int_equal(u[0].script_len, 25);
    assert_int_equal(u[0].script[0], 0x76);
    static const uint8_t hash_start[] = {0x41, 0x42, 0x43};
    assert_memory_equal(u[0].script + 3, hash_start, 3);
    os_outpoint paid = u[0].outpoint;
    free(u);
    assert_int_equal(os_rpc_listunspent(rpc, 1, addrs, 1, &u, &nu, &e), OS_OK);
    assert_int_equal(nu, 0); /* minconf 1 */
    free(u);

    /* gettxout: unspent (mempool output), then the wallet's spent coinbase */
    int unspent = 0;
    uint64_t amount = 0;
    uint32_t conf = 99;
    assert_int_equal(os_rpc_gettxout(rpc, &paid, 1, &unspent, &amount, &conf, &e), OS_OK);
    assert_true(unspent);
    assert_int_equal(amount, 150000000);
    assert_int_equal(conf, 0);
    assert_int_equal(os_rpc_gettxout(rpc, &paid, 0, &unspent, &amount, &conf, &e), OS_OK);
    assert_false(unspent); /* not in the UTXO set without the mempool */

    char hex[65];
    os_txid_to_hex(txid, hex);
    json_t *v = ctl(n, "getrawtransaction", json_pack("[s, b]", hex, 1));
    json_t *vin0 = json_array_get(json_object_get(v, "vin"), 0);
    os_outpoint spent;
    assert_int_equal(os_txid_from_hex(json_string_value(json_object_get(vin0, "txid")), spent.txid), OS_OK);
    spent.vout = (uint32_t)json_integer_value(json_object_get(vin0, "vout"));
    json_decref(v);
    assert_int_equal(os_rpc_gettxout(rpc, &spent, 1, &unspent, &amount, &conf, &e), OS_OK);
    assert_false(unspent); /* spent in the mempool */
    assert_int_equal(os_rpc_gettxout(rpc, &spent, 0, &unspent, &amount, &conf, &e), OS_OK);
    assert_true(unspent); /* still in the chain's UTXO set */
    assert_int_equal(amount, 5000000000ull);
    assert_int_equal(conf, 101);

    /* getrawtransaction: mempool, confirmed (with height), not found */
    os_rpc_txstatus st;
    assert_int_equal(os_rpc_get_transaction(rpc, txid, &st, NULL, NULL, &e), OS_OK);
    assert_true(st.found && st.in_mempool);
    assert_int_equal(st.confirmations, 0);
    mine(n, 2, addr);
    uint8_t *raw2 = NULL;
    size_t raw2_len = 0;
    assert_int_equal(os_rpc_get_transaction(rpc, txid, &st, &raw2, &raw2_len, &e), OS_OK);
    assert_true(st.found);
    assert_false(st.in_mempool);
    assert_int_equal(st.confirmations, 2);
    assert_int_equal(st.block_height, 102);
    assert_int_equal(raw2_len, raw_len);
    free(raw2);
    assert_int_equal(os_rpc_gettxout(rpc, &paid, 0, &unspent, &amount, &conf, &e), OS_OK);
    assert_true(unspent);
    assert_int_equal(conf, 2);
    assert_int_equal(os_rpc_listunspent(rpc, 1, addrs, 1, &u, &nu, &e), OS_OK);
    assert_int_equal(nu, 1);
    assert_int_equal(u[0].confirmations, 2);
    free(u);
    uint8_t missing[32];
    memset(missing, 0x77, 32);
    raw2 = (uint8_t *)&missing; /* must be reset to NULL */
    assert_int_equal(os_rpc_get_transaction(rpc, missing, &st, &raw2, &raw2_len, &e), OS_OK);
    assert_false(st.found);
    assert_null(raw2);

    /* a node without -txindex (Core 0.20.3's exact answer injected): the chain half comes from the
     * watch-only wallet; a transaction the wallet does not know stays an error, never "not found" */
    static const char no_txindex[] = "No such mempool transaction. Use -txindex or provide a block hash to enable "
                                     "blockchain transaction queries. Use gettransaction for wallet transactions.";
    set_fault(n, json_pack("{s:s, s:i, s:s, s:s, s:i}", "mode", "error", "code", -5, "message", no_txindex, "methods",
                           "getrawtransaction", "count", 1));
    assert_int_equal(os_rpc_get_transaction(rpc, txid, &st, &raw2, &raw2_len, &e), OS_OK);
    assert_true(st.found);
    assert_false(st.in_mempool);
    assert_int_equal(st.confirmations, 2);
    assert_int_equal(st.block_height, 102);
    assert_int_equal(raw2_len, raw_len);
    free(raw2);
    set_fault(n, json_pack("{s:s, s:i, s:s, s:s, s:i}", "mode", "error", "code", -5, "message", no_txindex, "methods",
                           "getrawtransaction", "count", 1));
    assert_int_equal(os_rpc_get_transaction(rpc, missing, &st, NULL, NULL, &e), OS_ERR_RPC);
    assert_int_equal(e.code, -5);
    assert_false(st.found);

    /* estimatesmartfee: an amount a double cannot hold (0.29 MONA/kB), then "Insufficient data" */
    json_decref(ctl(n, "testnode_setfeerate", json_pack("[s]", "0.29000000")));
    uint64_t rate = 0;
    int avail = 0;
    assert_int_equal(os_rpc_estimatesmartfee(rpc, 6, &rate, &avail, &e), OS_OK);
    assert_true(avail);
    assert_int_equal(rate, 29000000);
    json_decref(ctl(n, "testnode_setfeerate", json_pack("[s]", "0.00012345")));
    assert_int_equal(os_rpc_estimatesmartfee(rpc, 2, &rate, &avail, &e), OS_OK);
    assert_int_equal(rate, 12345);
    json_decref(ctl(n, "testnode_setfeerate", json_pack("[s]", "none")));
    rate = 7;
    assert_int_equal(os_rpc_estimatesmartfee(rpc, 6, &rate, &avail, &e), OS_OK);
    assert_false(avail);
    assert_int_equal(os_rpc_estimatesmartfee(rpc, 0, &rate, &avail, &e), OS_ERR_ARG);
    os_rpc_close(rpc);
}

static void test_broadcast(void **state)
{
    node *n = *state;
    os_rpc *rpc = client(n, 3000);
    char addr[100], to[100], to2[100];
    fund_wallet(n, addr); /* one mature coin: every wallet send below spends it */
    ctl_string(n, "getnewaddress", NULL, to, sizeof to);
    ctl_string(n, "getnewaddress", NULL, to2, sizeof to2);

    uint8_t a[32], b[32];
    uint8_t *raw_a = NULL, *raw_b = NULL;
    size_t len_a = 0, len_b = 0;
    wallet_send(n, to, "1.00000000", a, &raw_a, &len_a);

    /* the same transaction twice while in the mempool: the txid both times */
    os_broadcast_result r;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(os_rpc_sendrawtransaction(rpc, raw_a, len_a, &r), OS_OK);
        assert_int_equal(r.cls, OS_BROADCAST_SENT);
        assert_false(r.already_confirmed);
        assert_int_equal(r.error.status, OS_OK);
    }

    /* a conflicting transaction: evict A, let the wallet spend the same coin in B, re-send A */
    evict(n, a);
    wallet_send(n, to2, "2.00000000", b, &raw_b, &len_b);
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw_a, len_a, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_NOT_SENT);
    assert_true(r.conflict);
    assert_int_equal(r.error.code, -26);
    assert_false(in_mempool(n, a));

    /* B confirmed: re-sending it says "already in block chain"; A now spends a spent coin: -25 */
    mine(n, 1, addr);
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw_b, len_b, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_SENT);
    assert_true(r.already_confirmed);
    assert_int_equal(r.error.code, -27);
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw_a, len_a, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_CHECK_CHAIN);
    assert_int_equal(r.error.code, -25);
    assert_string_equal(r.error.message, "bad-txns-inputs-missingorspent");

    /* undecodable */
    const uint8_t junk[] = {0x01, 0x00, 0x00, 0x00, 0x00};
    assert_int_equal(os_rpc_sendrawtransaction(rpc, junk, sizeof junk, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_NOT_SENT);
    assert_int_equal(r.error.code, -22);
    assert_int_equal(os_rpc_sendrawtransaction(rpc, NULL, 0, &r), OS_ERR_ARG);
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
    free(raw_a);
    free(raw_b);
    os_rpc_close(rpc);
}

static void test_faults(void **state)
{
    node *n = *state;
    const int timeout_ms = 400;
    os_rpc *rpc = client(n, timeout_ms);
    char addr[100], to[100];
    fund_wallet(n, addr);
    ctl_string(n, "getnewaddress", NULL, to, sizeof to);
    uint8_t t[32];
    uint8_t *raw = NULL;
    size_t len = 0;
    wallet_send(n, to, "3.00000000", t, &raw, &len);
    os_broadcast_result r;

    /* delay beyond the timeout: the client gives up, the node accepted it (Monappy, 2018) */
    evict(n, t);
    assert_false(in_mempool(n, t));
    set_fault(n, json_pack("{s:s, s:i, s:s, s:i}", "mode", "delay", "delay_ms", 1200, "methods",
                           "sendrawtransaction", "count", 1));
    double t0 = now_s();
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw, len, &r), OS_OK);
    double took = now_s() - t0;
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
    assert_int_equal(r.error.status, OS_ERR_RPC_TRANSPORT);
    assert_true(r.error.timed_out);
    assert_true(took < 1.0); /* the per-call timeout, not the node's delay */
    assert_true(in_mempool(n, t));

    /* drop: the call runs, the connection closes without an answer */
    evict(n, t);
    set_fault(n, json_pack("{s:s, s:s, s:i}", "mode", "drop", "methods", "sendrawtransaction", "count", 1));
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw, len, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
    assert_int_equal(r.error.status, OS_ERR_RPC_TRANSPORT);
    assert_int_equal(r.error.http_status, 0);
    assert_false(r.error.timed_out);
    assert_true(in_mempool(n, t));

    /* a bare 502 (a proxy in between): nothing known; here the call did not run */
    evict(n, t);
    set_fault(n, json_pack("{s:s, s:i, s:s, s:i}", "mode", "error", "http_status", 502, "methods",
                           "sendrawtransaction", "count", 1));
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw, len, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
    assert_int_equal(r.error.http_status, 502);
    assert_false(in_mempool(n, t));

    /* refuse: new connections closed on accept */
    set_fault(n, json_pack("{s:s, s:i}", "mode", "refuse", "count", 1));
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw, len, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
    assert_int_equal(r.error.status, OS_ERR_RPC_TRANSPORT);
    json_decref(ctl(n, "testnode_clearfaults", NULL));
    assert_false(in_mempool(n, t));

    /* no fault left: the same bytes go through */
    assert_int_equal(os_rpc_sendrawtransaction(rpc, raw, len, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_SENT);
    assert_true(in_mempool(n, t));

    /* a stall shorter than the timeout is only slow */
    set_fault(n, json_pack("{s:s, s:i, s:s, s:i}", "mode", "stall", "stall_ms", 100, "methods", "getblockcount",
                           "count", 1));
    uint64_t h;
    os_rpc_error e;
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    /* a query that times out is a transport error with timed_out */
    set_fault(n, json_pack("{s:s, s:i, s:s, s:i}", "mode", "delay", "delay_ms", 800, "methods", "getblockcount",
                           "count", 1));
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_ERR_RPC_TRANSPORT);
    assert_true(e.timed_out);
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    free(raw);
    os_rpc_close(rpc);
}

static void test_connection_refused(void **state)
{
    (void)state;
    /* a port nobody listens on: bind one, note it, close it */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK), .sin_port = 0};
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(a.sin_port));
    os_rpc_config cfg = {url, "u", "p", NULL, 1000};
    os_rpc *rpc = NULL;
    char err[128];
    assert_int_equal(os_rpc_open(&cfg, &rpc, err, sizeof err), OS_OK);
    uint64_t h;
    os_rpc_error e;
    assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_ERR_RPC_TRANSPORT);
    assert_int_equal(e.http_status, 0);
    assert_false(e.timed_out);
    const uint8_t tx[] = {1, 0, 0, 0};
    os_broadcast_result r;
    assert_int_equal(os_rpc_sendrawtransaction(rpc, tx, sizeof tx, &r), OS_OK);
    assert_int_equal(r.cls, OS_BROADCAST_UNKNOWN);
    os_rpc_close(rpc);
}

/* Calls per second over one keep-alive connection (printed; the assertion is only a sanity floor). */
static void test_keepalive_rate(void **state)
{
    node *n = *state;
    os_rpc *rpc = client(n, 2000);
    os_rpc_error e;
    uint64_t h;
    const int calls = 500;
    double t0 = now_s();
    for (int i = 0; i < calls; i++) assert_int_equal(os_rpc_getblockcount(rpc, &h, &e), OS_OK);
    double dt = now_s() - t0;
    printf("bench rpc_getblockcount_keepalive %.0f calls/s\n", calls / dt);
    const uint8_t junk[] = {1, 0, 0, 0, 0};
    os_broadcast_result r;
    const int sends = 100;
    t0 = now_s();
    for (int i = 0; i < sends; i++) {
        assert_int_equal(os_rpc_sendrawtransaction(rpc, junk, sizeof junk, &r), OS_OK);
        assert_int_equal(r.cls, OS_BROADCAST_NOT_SENT);
    }
    dt = now_s() - t0;
    printf("bench rpc_sendrawtransaction_fresh_connection %.0f calls/s\n", sends / dt);
    assert_true(calls / dt > 0);
    os_rpc_close(rpc);
}

typedef struct {
    const char *url;
    int ok;
} thread_arg;

static void *thread_calls(void *p)
{
    thread_arg *a = p;
    os_rpc_config cfg = {a->url, "rpcuser", "rpcpass", NULL, 5000};
    os_rpc *rpc = NULL;
    char err[128];
    if (os_rpc_open(&cfg, &rpc, err, sizeof err) != OS_OK) return NULL;
    for (int i = 0; i < 200; i++) {
        uint64_t h;
        os_rpc_error e;
        if (os_rpc_getblockcount(rpc, &h, &e) == OS_OK && h == 0) a->ok++;
    }
    os_rpc_close(rpc);
    return NULL;
}

/* One os_rpc per thread, opened concurrently (curl_global_init runs once). */
static void test_threads(void **state)
{
    node *n = *state;
    pthread_t t[4];
    thread_arg a[4];
    for (int i = 0; i < 4; i++) {
        a[i].url = n->url;
        a[i].ok = 0;
        assert_int_equal(pthread_create(&t[i], NULL, thread_calls, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 200);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_table),
        cmocka_unit_test(test_hex),
        cmocka_unit_test(test_open_args),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test_setup_teardown(test_auth, setup_node, teardown_node),
        cmocka_unit_test_setup_teardown(test_call_errors, setup_node, teardown_node),
        cmocka_unit_test_setup_teardown(test_chain_queries, setup_node, teardown_node),
        cmocka_unit_test_setup_teardown(test_broadcast, setup_node, teardown_node),
        cmocka_unit_test_setup_teardown(test_faults, setup_node, teardown_node),
        cmocka_unit_test_setup_teardown(test_keepalive_rate, setup_node, teardown_node),
        cmocka_unit_test_setup_teardown(test_threads, setup_node, teardown_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
