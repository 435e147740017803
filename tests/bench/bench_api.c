/* Benchmark: POST /v1/codes/{code}/redeem through the HTTP API against a ledger-only engine on a
 * temporary database (SQLite WAL, synchronous=FULL: every first redeem is one durable commit).
 * N client threads, each with one keep-alive libcurl handle, redeem distinct pre-issued codes for
 * a fixed time; then the same clients repeat redeems of already-redeemed codes (the idempotent
 * answer, a read). Prints `bench <name> <value> <unit>` lines.
 * Usage: bench_api [clients (default 8)] [seconds per phase (default 4)] [api threads (default 4)]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "api.h"
#include "engine.h"
#include "oncesign/status.h"

#define TOKEN "bench-token-0123456789abcdef"
#define ADDR  "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX"   /* testnet P2PKH */
#define MAX_CLIENTS 64
#define MAX_SAMPLES 400000

static uint16_t port;
static char (*codes)[65];
static size_t n_codes;
static _Atomic size_t next_code;
static double deadline;
static int repeat_phase;
static size_t repeat_pool;
static double *samples;
static _Atomic size_t n_samples;
static _Atomic size_t n_errors;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t sz, size_t n, void *cls) {
    (void)p;
    (void)cls;
    return sz * n;
}

static void *client(void *cls) {
    (void)cls;
    CURL *h = curl_easy_init();
    if (h == NULL) return NULL;
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Authorization: Bearer " TOKEN);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    static const char body[] = "{\"address\":\"" ADDR "\"}";
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)(sizeof body - 1));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    unsigned seed = (unsigned)(uintptr_t)&h;
    while (now_s() < deadline) {
        size_t i;
        if (repeat_phase) {
            i = (size_t)rand_r(&seed) % repeat_pool;
        } else {
            i = atomic_fetch_add(&next_code, 1);
            if (i >= n_codes) break;
        }
        char url[160];
        snprintf(url, sizeof url, "http://127.0.0.1:%u/v1/codes/%s/redeem", (unsigned)port, codes[i]);
        curl_easy_setopt(h, CURLOPT_URL, url);
        double t0 = now_s();
        CURLcode cc = curl_easy_perform(h);
        double dt = now_s() - t0;
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (cc != CURLE_OK || (status != (repeat_phase ? 200 : 201))) {
            atomic_fetch_add(&n_errors, 1);
            continue;
        }
        size_t k = atomic_fetch_add(&n_samples, 1);
        if (k < MAX_SAMPLES) samples[k] = dt;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_phase(const char *name, int clients, double seconds) {
    atomic_store(&n_samples, 0);
    atomic_store(&n_errors, 0);
    pthread_t th[MAX_CLIENTS];
    double t0 = now_s();
    deadline = t0 + seconds;
    for (int i = 0; i < clients; i++) pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < clients; i++) pthread_join(th[i], NULL);
    double elapsed = now_s() - t0;
    size_t n = atomic_load(&n_samples);
    if (n > MAX_SAMPLES) n = MAX_SAMPLES;
    qsort(samples, n, sizeof *samples, cmp_double);
    double p50 = n ? samples[n / 2] : 0, p99 = n ? samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0;
    printf("bench %s_rps %.0f req/s\n", name, (double)atomic_load(&n_samples) / elapsed);
    printf("bench %s_p50_ms %.2f ms\n", name, p50 * 1e3);
    printf("bench %s_p99_ms %.2f ms\n", name, p99 * 1e3);
    printf("bench %s_requests %zu requests\n", name, atomic_load(&n_samples));
    printf("bench %s_errors %zu requests\n", name, atomic_load(&n_errors));
}

int main(int argc, char **argv) {
    int clients = argc > 1 ? atoi(argv[1]) : 8;
    double seconds = argc > 2 ? atof(argv[2]) : 4.0;
    unsigned threads = argc > 3 ? (unsigned)atoi(argv[3]) : 4;
    if (clients < 1 || clients > MAX_CLIENTS || seconds <= 0 || seconds > 8) {
        fprintf(stderr, "usage: bench_api [clients 1..%d] [seconds per phase <= 8] [api threads]\n", MAX_CLIENTS);
        return 2;
    }
    char dir[] = "/tmp/oncesign-bench-api-XXXXXX";
    if (mkdtemp(dir) == NULL) return 1;
    char db[96], tok[96];
    snprintf(db, sizeof db, "%s/ledger.db", dir);
    snprintf(tok, sizeof tok, "%s/token", dir);
    FILE *f = fopen(tok, "w");
    if (f == NULL) return 1;
    fputs(TOKEN "\n", f);
    fclose(f);
    if (chmod(tok, 0600) != 0) return 1;   /* os_api_start refuses a token others can read */

    os_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.db_path = db;
    ec.network = OS_NET_TEST;
    os_engine *e = NULL;
    os_api *api = NULL;
    char err[256] = "";
    if (os_engine_open(&ec, &e, err, sizeof err) != OS_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return 1;
    }
    os_api_config ac;
    memset(&ac, 0, sizeof ac);
    ac.token_file = tok;
    ac.threads = threads;
    if (os_api_start(e, &ac, &api, err, sizeof err) != OS_OK) {
        fprintf(stderr, "api: %s\n", err);
        return 1;
    }
    port = os_api_port(api);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    samples = calloc(MAX_SAMPLES, sizeof *samples);

    /* Codes issued up front through the engine (not timed): about what the redeem phase can use. */
    double t0 = now_s();
    n_codes = 0;
    size_t cap = 20000;
    codes = calloc(cap, sizeof *codes);
    while (n_codes < cap && now_s() - t0 < seconds) {
        os_code_info info;
        if (os_engine_issue_code(e, 10000, 0, codes[n_codes], &info) != OS_OK) {
            fprintf(stderr, "issue failed\n");
            return 1;
        }
        n_codes++;
    }
    double issue_rate = (double)n_codes / (now_s() - t0);
    printf("bench api_clients %d clients\n", clients);
    printf("bench api_threads %u threads\n", threads);
    printf("bench code_issue_engine_rps %.0f codes/s\n", issue_rate);

    run_phase("redeem", clients, seconds);
    repeat_pool = atomic_load(&next_code) < n_codes ? atomic_load(&next_code) : n_codes;
    if (repeat_pool > 0) {
        repeat_phase = 1;
        run_phase("redeem_repeat", clients, seconds < 3 ? seconds : 3);
    }
    if (atomic_load(&next_code) >= n_codes) printf("bench redeem_note 1 codes_ran_out\n");

    os_api_stop(api);
    os_engine_close(e);
    curl_global_cleanup();
    free(samples);
    free(codes);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
