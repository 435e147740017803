/* Unit tests of host/lib/api.c's transport hardening (docs/API.md "Listening and limits"): slow
 * clients cannot starve the API (per-client connection limit, a deadline for receiving a whole
 * request even from a client that keeps sending a byte at a time), duplicate or conflicting
 * framing headers and wrong Content-Types are refused from the headers alone, the Unix-socket
 * listener (its mode, a path that is not a socket), and token files that others could read. */
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
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "api.h"
#include "engine.h"
#include "oncesign/status.h"
#include "rpc.h"

#define TOKEN "limits-token-0123456789abcdef"

static struct {
    char dir[48], db[96], token_file[96], sock[96];
    os_engine *engine;
} fx;

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state) {
    (void)state;
    memset(&fx, 0, sizeof fx);
    snprintf(fx.dir, sizeof fx.dir, "/tmp/oncesign-apilim-XXXXXX");
    if (mkdtemp(fx.dir) == NULL) return -1;
    snprintf(fx.db, sizeof fx.db, "%s/ledger.db", fx.dir);
    snprintf(fx.token_file, sizeof fx.token_file, "%s/token", fx.dir);
    snprintf(fx.sock, sizeof fx.sock, "%s/api.sock", fx.dir);
    FILE *f = fopen(fx.token_file, "w");
    if (f == NULL) return -1;
    fputs(TOKEN "\n", f);
    fclose(f);
    if (chmod(fx.token_file, 0600) != 0) return -1;
    os_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.db_path = fx.db;
    ec.network = OS_NET_TEST;
    ec.max_payout = 100000000;
    char err[256] = "";
    if (os_engine_open(&ec, &fx.engine, err, sizeof err) != OS_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    os_engine_close(fx.engine);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

static os_api *start(const os_api_config *ac) {
    os_api *api = NULL;
    char err[256] = "";
    int rc = os_api_start(fx.engine, ac, &api, err, sizeof err);
    if (rc != OS_OK) fail_msg("os_api_start: %s: %s", os_status_name(rc), err);
    return api;
}

static int connect_from(const char *src, uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, src, &sin.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    sin.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr), 1);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends raw bytes, returns the first line of the answer ("" when the server closed without one). */
static void raw_exchange(uint16_t port, const char *req, char *line, size_t cap) {
    int fd = connect_from("127.0.0.1", port);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    char buf[2048];
    size_t got = 0;
    while (got < sizeof buf - 1) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) != 1) break;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
        if (memchr(buf, '\n', got) != NULL) break;
    }
    buf[got] = '\0';
    close(fd);
    size_t n = strcspn(buf, "\r\n");
    if (n >= cap) n = cap - 1;
    memcpy(line, buf, n);
    line[n] = '\0';
}

static void expect_status(uint16_t port, const char *req, const char *status_line) {
    char line[256];
    raw_exchange(port, req, line, sizeof line);
    if (strncmp(line, status_line, strlen(status_line)) != 0) {
        fail_msg("expected '%s', got '%s' for:\n%s", status_line, line, req);
    }
}

/* ---------------------------------------------------------------- framing headers */

static void test_framing_headers_refused(void **state) {
    (void)state;
    os_api_config ac = { .token_file = fx.token_file };
    os_api *api = start(&ac);
    uint16_t port = os_api_port(api);
    const char *auth = "Authorization: Bearer " TOKEN "\r\n";
    char req[1024];

    /* Two lengths: a proxy in front may frame the body by the other one (request smuggling). */
    snprintf(req, sizeof req, "POST /v1/codes HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\n"
             "Content-Length: 16\r\nContent-Length: 4\r\n\r\n{\"amount\":1000}", auth);
    expect_status(port, req, "HTTP/1.1 400");
    snprintf(req, sizeof req, "POST /v1/codes HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\n"
             "Content-Length: 15\r\nContent-Length: 15\r\n\r\n{\"amount\":1000}", auth);
    expect_status(port, req, "HTTP/1.1 400");
    /* Content-Type other than JSON, or none, for a body: 415 before the body is read. */
    snprintf(req, sizeof req, "POST /v1/codes HTTP/1.1\r\nHost: x\r\n%sContent-Type: text/plain\r\n"
             "Content-Length: 15\r\n\r\n{\"amount\":1000}", auth);
    expect_status(port, req, "HTTP/1.1 415");
    snprintf(req, sizeof req, "POST /v1/codes HTTP/1.1\r\nHost: x\r\n%s"
             "Content-Length: 15\r\n\r\n{\"amount\":1000}", auth);
    expect_status(port, req, "HTTP/1.1 415");
    snprintf(req, sizeof req, "POST /v1/codes HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json-seq\r\n"
             "Content-Length: 15\r\n\r\n{\"amount\":1000}", auth);
    expect_status(port, req, "HTTP/1.1 415");
    /* The accepted forms: application/json, with parameters, any letter case. */
    snprintf(req, sizeof req, "POST /v1/codes HTTP/1.1\r\nHost: x\r\n%sContent-Type: Application/JSON; charset=utf-8\r\n"
             "Content-Length: 15\r\nConnection: close\r\n\r\n{\"amount\":1000}", auth);
    expect_status(port, req, "HTTP/1.1 201");
    /* A GET carries no body and needs no Content-Type. */
    expect_status(port, "GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 ");
    os_api_stop(api);
}

/* ---------------------------------------------------------------- slow clients */

static long curl_health_from(const char *src, const char *unix_path, uint16_t port, double *seconds) {
    CURL *h = curl_easy_init();
    assert_non_null(h);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/health", (unsigned)port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (src != NULL) curl_easy_setopt(h, CURLOPT_INTERFACE, src);
    if (unix_path != NULL) curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, unix_path);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fwrite);
    FILE *sink = fopen("/dev/null", "w");
    curl_easy_setopt(h, CURLOPT_WRITEDATA, sink);
    long status = -1;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (seconds != NULL) curl_easy_getinfo(h, CURLINFO_TOTAL_TIME, seconds);
    curl_easy_cleanup(h);
    fclose(sink);
    return status;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define N_SLOW 48

/* 48 clients from 127.0.0.1 dribble request headers a byte every 100 ms (never idle, so an
 * inactivity timeout never fires). A client from another address is still answered at once, and
 * every slow connection is closed by the request deadline although it keeps sending. */
static void test_slow_clients_do_not_block(void **state) {
    (void)state;
    os_api_config ac = { .token_file = fx.token_file, .per_client_limit = 8, .request_timeout_ms = 1500 };
    os_api *api = start(&ac);
    uint16_t port = os_api_port(api);
    int fds[N_SLOW];
    int opened = 0;
    for (int i = 0; i < N_SLOW; i++) {
        fds[i] = connect_from("127.0.0.1", port);
        if (fds[i] >= 0) opened++;
    }
    assert_true(opened > 0);
    static const char dribble[] = "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    int alive = N_SLOW, legit_ok = 0;
    double start = now_s(), worst = 0;
    for (size_t k = 0; (alive > 0 || legit_ok < 5) && now_s() - start < 8.0; k++) {
        alive = 0;
        for (int i = 0; i < N_SLOW; i++) {
            if (fds[i] < 0) continue;
            if (send(fds[i], &dribble[k % (sizeof dribble - 1)], 1, MSG_NOSIGNAL) != 1) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            /* a closed connection shows as readable (EOF or an error answer) */
            struct pollfd p = { fds[i], POLLIN, 0 };
            if (poll(&p, 1, 0) == 1) {
                close(fds[i]);
                fds[i] = -1;
                continue;
            }
            alive++;
        }
        if (k % 5 == 0 && legit_ok < 5) {
            double t = 0;
            long st = curl_health_from("127.0.0.2", NULL, port, &t);
            if (st != 200 && st != 503) fail_msg("a legitimate request got %ld while slow clients were connected", st);
            if (t > worst) worst = t;
            legit_ok++;
        }
        usleep(100000);
    }
    double took = now_s() - start;
    for (int i = 0; i < N_SLOW; i++) {
        if (fds[i] >= 0) close(fds[i]);
    }
    assert_int_equal(legit_ok, 5);
    if (worst > 2.0) fail_msg("a legitimate request took %.2f s", worst);
    if (alive != 0) fail_msg("%d slow connections still open after %.1f s (deadline 1.5 s)", alive, took);
    os_api_stop(api);
}

/* ---------------------------------------------------------------- Unix socket */

static void test_unix_socket_listener(void **state) {
    (void)state;
    os_api_config ac = { .token_file = fx.token_file, .unix_path = fx.sock, .no_tcp = 1 };
    os_api *api = start(&ac);
    assert_int_equal(os_api_port(api), 0);
    struct stat st;
    assert_int_equal(lstat(fx.sock, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    /* owner and group may connect, nobody else */
    assert_int_equal(st.st_mode & 0777, 0660);
    long status = curl_health_from(NULL, fx.sock, 80, NULL);
    assert_true(status == 200 || status == 503);
    os_api_stop(api);
    /* A stale socket left by a killed daemon is replaced... */
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", fx.sock);
    unlink(fx.sock);
    assert_int_equal(bind(s, (struct sockaddr *)&sun, sizeof sun), 0);
    close(s);
    api = start(&ac);
    os_api_stop(api);
    /* ...but a path that holds anything else is never removed. */
    write_file(fx.sock, "precious\n", 0600);
    os_api *none = NULL;
    char err[256] = "";
    assert_int_equal(os_api_start(fx.engine, &ac, &none, err, sizeof err), OS_ERR_IO);
    assert_null(none);
    assert_non_null(strstr(err, "not a socket"));
    assert_int_equal(lstat(fx.sock, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    unlink(fx.sock);
    /* no listener at all is a configuration error */
    os_api_config neither = { .token_file = fx.token_file, .no_tcp = 1 };
    assert_int_equal(os_api_start(fx.engine, &neither, &none, err, sizeof err), OS_ERR_ARG);
}

/* ---------------------------------------------------------------- disk health */

/* GET path over TCP; the body (NUL-terminated) into out. Returns the HTTP status. */
static long http_get(uint16_t port, const char *path, char *out, size_t cap) {
    char req[256], buf[16384];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    int fd = connect_from("127.0.0.1", port);
    assert_true(fd >= 0);
    assert_int_equal(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    size_t got = 0;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        if (poll(&p, 1, 5000) != 1) break;
        ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    const char *body = strstr(buf, "\r\n\r\n");
    snprintf(out, cap, "%s", body != NULL ? body + 4 : "");
    long status = -1;
    if (sscanf(buf, "HTTP/1.1 %ld", &status) != 1) status = -1;
    return status;
}

/* Health and metrics report the ledger's file system: free space against the configured minimum,
 * and whether the directory is writable. */
static void test_disk_health(void **state) {
    (void)state;
    char body[16384];
    os_api_config ac = { .token_file = fx.token_file, .disk_path = fx.dir, .disk_min_free = 1 };
    os_api *api = start(&ac);
    http_get(os_api_port(api), "/v1/health", body, sizeof body);
    assert_non_null(strstr(body, "\"disk\":true"));
    assert_non_null(strstr(body, "\"disk_free_bytes\":"));
    http_get(os_api_port(api), "/metrics", body, sizeof body);
    assert_non_null(strstr(body, "\noncesign_disk_ok 1\n"));
    assert_non_null(strstr(body, "\noncesign_disk_free_bytes "));
    os_api_stop(api);
    /* more free space demanded than any disk has: not healthy */
    ac.disk_min_free = UINT64_MAX / 2;
    api = start(&ac);
    assert_int_equal(http_get(os_api_port(api), "/v1/health", body, sizeof body), 503);
    assert_non_null(strstr(body, "\"disk\":false"));
    assert_non_null(strstr(body, "\"ok\":false"));
    http_get(os_api_port(api), "/metrics", body, sizeof body);
    assert_non_null(strstr(body, "\noncesign_disk_ok 0\n"));
    os_api_stop(api);
}

/* ---------------------------------------------------------------- metrics */

/* The value of the first sample line starting with name (a family name, or one with labels). */
static double sample(const char *body, const char *name) {
    char pat[160];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *p = strstr(body, pat);
    if (p == NULL) fail_msg("no sample %s in /metrics", name);
    return strtod(p + strlen(pat), NULL);
}

/* Scraped over HTTP: every family an operator watches (issue 11) is there, and moves with the
 * ledger: a payout queued shows in the queue age; a failed node call in the RPC errors. */
static void test_metrics_families(void **state) {
    (void)state;
    char body[32768];
    os_api_config ac = { .token_file = fx.token_file };
    os_api *api = start(&ac);
    uint16_t port = os_api_port(api);
    assert_int_equal(http_get(port, "/metrics", body, sizeof body), 200);
    static const char *const families[] = {
        "oncesign_wallet_balance_sat{state=\"confirmed\"}", "oncesign_wallet_balance_sat{state=\"unconfirmed\"}",
        "oncesign_payouts{status=\"requested\"}", "oncesign_payout_queue_age_seconds", "oncesign_approvals_waiting",
        "oncesign_approval_wait_seconds", "oncesign_signer_connected", "oncesign_nonce_set_size",
        "oncesign_last_block_height", "oncesign_rpc_errors_total{kind=\"connect\"}",
        "oncesign_rpc_errors_total{kind=\"timeout\"}", "oncesign_rpc_errors_total{kind=\"node\"}",
        "oncesign_broadcasts_total{result=\"sent\"}", "oncesign_broadcasts_total{result=\"unknown\"}",
        "oncesign_metrics_errors",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) sample(body, families[i]);
    assert_true(sample(body, "oncesign_metrics_errors") == 0);
    assert_true(sample(body, "oncesign_signer_connected") == 0);   /* a ledger-only engine has no signer */
    double connect_before = sample(body, "oncesign_rpc_errors_total{kind=\"connect\"}");

    /* a payout waits in the queue (no signer): counted, and its age grows */
    os_payout_info p;
    int created = 0;
    assert_int_equal(os_engine_payout_create(fx.engine, "metrics-1", "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX", 100000, &p,
                                             &created), OS_OK);
    sleep(1);
    /* a node that is not there: one connect failure */
    os_rpc_config rc_cfg = { "http://127.0.0.1:1/", "u", "p", NULL, 2000 };
    os_rpc *rpc = NULL;
    char err[128];
    assert_int_equal(os_rpc_open(&rc_cfg, &rpc, err, sizeof err), OS_OK);
    json_t *result = NULL;
    os_rpc_error e;
    assert_int_equal(os_rpc_call(rpc, "getblockcount", NULL, &result, &e), OS_ERR_RPC_TRANSPORT);
    os_rpc_close(rpc);
    assert_int_equal(http_get(port, "/metrics", body, sizeof body), 200);
    assert_true(sample(body, "oncesign_payouts{status=\"requested\"}") >= 1);
    assert_true(sample(body, "oncesign_payout_queue_age_seconds") >= 1);
    assert_true(sample(body, "oncesign_rpc_errors_total{kind=\"connect\"}") == connect_before + 1);
    os_api_stop(api);
}

/* ---------------------------------------------------------------- token file */

static void test_token_file_permissions(void **state) {
    (void)state;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/token-open", fx.dir);
    os_api_config ac = { .token_file = path };
    os_api *api = NULL;
    static const mode_t refused[] = { 0644, 0604, 0620, 0666, 0602 };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_file(path, TOKEN "\n", refused[i]);
        err[0] = '\0';
        assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_IO);
        assert_null(api);
        assert_non_null(strstr(err, "chmod"));
    }
    /* group-readable is allowed: a service group may share it */
    static const mode_t accepted[] = { 0600, 0400, 0640 };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        write_file(path, TOKEN "\n", accepted[i]);
        api = start(&ac);
        os_api_stop(api);
    }
    /* a FIFO would block the start-up forever: only regular files */
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(os_api_start(fx.engine, &ac, &api, err, sizeof err), OS_ERR_IO);
    assert_null(api);
    unlink(path);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_headers_refused),
        cmocka_unit_test(test_slow_clients_do_not_block),
        cmocka_unit_test(test_unix_socket_listener),
        cmocka_unit_test(test_token_file_permissions),
        cmocka_unit_test(test_disk_health),
        cmocka_unit_test(test_metrics_families),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
