/* oncesign tests — helpers shared by the flood driver (flood.c) and the naive negative control
 * (naive.c): JSON over HTTP with libcurl (node RPC with Basic auth, service API with a bearer
 * token), child processes announced by a "NAME: listening on 127.0.0.1:PORT" line, amounts.
 *
 * A header of static functions because every tests/e2e/<name>.c is linked alone into its own
 * build/oncesign-<name>; test code only, never part of the product.
 */
#ifndef ONCESIGN_TESTS_E2E_UTIL_H
#define ONCESIGN_TESTS_E2E_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "http_body.h"

#define E2E_COIN ((int64_t)100000000)

static inline double e2e_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void e2e_sleep_ms(long ms) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* splitmix64: every random choice of a run comes from its seed. */
static inline uint64_t e2e_rng(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* "0.01234567" for 1234567 sat: amounts go to the node as strings, which it parses exactly. */
static inline void e2e_amount_str(int64_t sat, char out[32]) {
    snprintf(out, 32, "%s%" PRId64 ".%08" PRId64, sat < 0 ? "-" : "", (sat < 0 ? -sat : sat) / E2E_COIN,
             (sat < 0 ? -sat : sat) % E2E_COIN);
}

/* A JSON amount from the node ("50.00000000" printed as a number) to satoshi. */
static inline int64_t e2e_amount_sat(const json_t *v) {
    if (json_is_integer(v)) return (int64_t)json_integer_value(v) * E2E_COIN;
    if (json_is_real(v)) {
        double d = json_real_value(v) * 1e8;
        return (int64_t)(d < 0 ? d - 0.5 : d + 0.5);
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        int neg = *s == '-';
        if (neg) s++;
        int64_t whole = strtoll(s, NULL, 10), frac = 0;
        const char *dot = strchr(s, '.');
        if (dot) {
            int i;
            for (i = 1; i <= 8; i++) frac = frac * 10 + ((dot[i] >= '0' && dot[i] <= '9') ? dot[i] - '0' : 0);
        }
        return (neg ? -1 : 1) * (whole * E2E_COIN + frac);
    }
    return 0;
}

/* ---- HTTP ---- */

typedef struct {
    long http;          /* HTTP status; 0 when no answer came (timeout, dropped connection, refused) */
    CURLcode curl;
    json_t *body;       /* parsed body or NULL */
    double seconds;     /* wall time of the request */
} e2e_resp;

static inline void e2e_resp_free(e2e_resp *r) {
    if (r->body) json_decref(r->body);
    r->body = NULL;
}

/* One request on a fresh connection: no keep-alive, so curl never silently re-sends a request
 * whose connection was dropped (that would be a second call the test did not make).
 * method "GET" or "POST"; body may be NULL; auth_basic "user:pass" or NULL; bearer token or NULL. */
static inline e2e_resp e2e_http(const char *method, const char *url, const char *body, const char *auth_basic,
                                const char *bearer, long timeout_ms) {
    e2e_resp r = { 0, CURLE_OK, NULL, 0 };
    os_http_body b = { 0 };
    CURL *c = curl_easy_init();
    if (!c) {
        r.curl = CURLE_FAILED_INIT;
        return r;
    }
    struct curl_slist *h = NULL;
    char bh[600];
    h = curl_slist_append(h, "Content-Type: application/json");
    if (bearer) {
        snprintf(bh, sizeof bh, "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, bh);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 2000 ? timeout_ms : 2000);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, os_http_body_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if (auth_basic) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, auth_basic);
    }
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    double t0 = e2e_now();
    r.curl = curl_easy_perform(c);
    r.seconds = e2e_now() - t0;
    if (r.curl == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.http);
        if (b.data) r.body = json_loads(b.data, 0, NULL);
    }
    os_http_body_free(&b);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

/* The node's JSON-RPC. */
typedef struct {
    char url[128];
    char auth[128];
    long timeout_ms;
} e2e_node;

/* Calls method with params (stolen). Returns the result (new reference; JSON null comes back as
 * json_null()) or NULL, with *code the JSON-RPC error code (0 when there was no JSON-RPC answer). */
static inline json_t *e2e_rpc(const e2e_node *n, const char *method, json_t *params, int *code) {
    json_t *req = json_pack("{s:s,s:i,s:s,s:o}", "jsonrpc", "1.0", "id", 1, "method", method, "params",
                            params ? params : json_array());
    char *s = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    e2e_resp r = e2e_http("POST", n->url, s, n->auth, NULL, n->timeout_ms);
    free(s);
    json_t *res = NULL;
    if (code) *code = 0;
    if (r.body && json_is_object(r.body)) {
        json_t *err = json_object_get(r.body, "error");
        if (err && json_is_object(err)) {
            if (code) *code = (int)json_integer_value(json_object_get(err, "code"));
        } else {
            res = json_object_get(r.body, "result");
            if (res) json_incref(res);
        }
    }
    e2e_resp_free(&r);
    return res;
}

/* ---- child processes ---- */

typedef struct {
    pid_t pid;
    int out_fd;         /* the child's stdout (read end), -1 once closed */
    char name[32];
} e2e_child;

/* Starts argv[0] with stdout on a pipe and stderr appended to log_path (or inherited when NULL);
 * the child dies with us (PR_SET_PDEATHSIG is Linux-only, so we rely on cleanup + process group). */
static inline int e2e_spawn_env(e2e_child *ch, const char *name, char *const argv[], const char *log_path,
                                const char *env_assign);
static inline int e2e_spawn(e2e_child *ch, const char *name, char *const argv[], const char *log_path) {
    return e2e_spawn_env(ch, name, argv, log_path, NULL);
}

/* As e2e_spawn, with one extra "NAME=value" in the child's environment (NULL: none). */
static inline int e2e_spawn_env(e2e_child *ch, const char *name, char *const argv[], const char *log_path,
                                const char *env_assign) {
    int fds[2];
    /* Close-on-exec: a child started meanwhile by another thread must not inherit the write end,
     * or the pipe would never see EOF. */
    if (pipe2(fds, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (log_path) {
            int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (fd >= 0) {
                dup2(fd, 2);
                close(fd);
            }
        }
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, 0);
            close(devnull);
        }
        if (env_assign) putenv((char *)env_assign);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    ch->pid = pid;
    ch->out_fd = fds[0];
    snprintf(ch->name, sizeof ch->name, "%s", name);
    return 0;
}

/* Waits (at most timeout_ms) for "<prefix>: listening on 127.0.0.1:PORT" on the child's stdout.
 * Returns the port, or -1 (the child died or said nothing in time). */
static inline int e2e_wait_listening(e2e_child *ch, const char *prefix, long timeout_ms) {
    char line[512];
    size_t n = 0;
    double deadline = e2e_now() + timeout_ms / 1000.0;
    char want[96];
    snprintf(want, sizeof want, "%s: listening on 127.0.0.1:", prefix);
    while (e2e_now() < deadline) {
        struct pollfd p = { ch->out_fd, POLLIN, 0 };
        int left = (int)((deadline - e2e_now()) * 1000) + 1;
        if (poll(&p, 1, left) <= 0) continue;
        char c;
        ssize_t r = read(ch->out_fd, &c, 1);
        if (r <= 0) return -1;
        if (c != '\n') {
            if (n + 1 < sizeof line) line[n++] = c;
            continue;
        }
        line[n] = 0;
        n = 0;
        char *at = strstr(line, want);
        if (at) return atoi(at + strlen(want));
    }
    return -1;
}

typedef struct {
    int fd;
    char path[600];
} e2e_drain_arg;

static void *e2e_drain_main(void *p) {
    e2e_drain_arg *a = p;
    int out = open(a->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    char buf[4096];
    ssize_t n;
    while ((n = read(a->fd, buf, sizeof buf)) > 0)
        if (out >= 0 && write(out, buf, (size_t)n) != n) break;
    if (out >= 0) close(out);
    close(a->fd);
    free(a);
    return NULL;
}

/* After the readiness line: the rest of the child's stdout goes to log_path (a thread reads it
 * until EOF), so a chatty child never blocks on a full pipe. */
static inline void e2e_drain(e2e_child *ch, const char *log_path) {
    e2e_drain_arg *a = calloc(1, sizeof *a);
    if (!a) return;
    a->fd = ch->out_fd;
    snprintf(a->path, sizeof a->path, "%s", log_path);
    ch->out_fd = -1;
    pthread_t t;
    if (pthread_create(&t, NULL, e2e_drain_main, a) != 0) {
        ch->out_fd = a->fd;
        free(a);
        return;
    }
    pthread_detach(t);
}

/* SIGKILL or SIGTERM, then reaps within timeout_ms (SIGKILL after that). */
static inline void e2e_stop(e2e_child *ch, int sig, long timeout_ms) {
    if (ch->pid <= 0) return;
    kill(ch->pid, sig);
    double deadline = e2e_now() + timeout_ms / 1000.0;
    int st;
    while (waitpid(ch->pid, &st, WNOHANG) == 0) {
        if (e2e_now() > deadline) {
            kill(ch->pid, SIGKILL);
            waitpid(ch->pid, &st, 0);
            break;
        }
        e2e_sleep_ms(10);
    }
    ch->pid = 0;
    if (ch->out_fd >= 0) close(ch->out_fd);
    ch->out_fd = -1;
}

#endif /* ONCESIGN_TESTS_E2E_UTIL_H */
