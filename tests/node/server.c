/* oncesign test node — HTTP JSON-RPC server (libmicrohttpd), auth, fault injection, main().
 *
 * Faults are decided here, around the node: "delay" and "drop" run the call and then answer late or
 * not at all (the Monappy failure: the client gives up, the coins are sent); "refuse", "error" and
 * "stall" act before the call. tests/node/README.md documents the control methods.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "node.h"
#include "persist.h"

#include "oncesign/version.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

enum { F_NONE = 0, F_DELAY, F_DROP, F_REFUSE, F_ERROR, F_STALL, F_NMODES };
static const char *mode_names[F_NMODES] = {"none", "delay", "drop", "refuse", "error", "stall"};

#define MAX_FAULTS 16
#define MAX_METHODS 16

typedef struct {
    int active;
    int id;
    int mode;               /* F_*; F_NONE with random != 0 */
    int random;             /* "random": pick a mode per call from probs */
    double probability;     /* for a single mode */
    double probs[F_NMODES]; /* for random */
    uint64_t seed;
    uint64_t seq;           /* matching calls seen since the fault was set */
    uint64_t conn_seq;      /* connections seen since the fault was set (refuse at accept) */
    long delay_ms, stall_ms;
    int error_code;         /* JSON-RPC code; 0 with http_status: bare HTTP error */
    char error_message[256];
    int http_status;
    int error_accept;       /* "error" after running the call */
    long remaining;         /* injections left; <0 unlimited */
    int64_t expires_ms;     /* 0: never */
    int nmethods;
    char methods[MAX_METHODS][64];
} fault;

static struct {
    tn_node *node;
    pthread_mutex_t lock; /* faults and counters */
    fault faults[MAX_FAULTS];
    int next_id;
    uint64_t calls;
    json_t *calls_by_method; /* {method: calls}: what a client asked how often (a scan's getblock calls) */
    uint64_t injected[F_NMODES];
    const char *user, *pass;
    char cookie_pass[65];
    int have_cookie;
    volatile sig_atomic_t stop;
} S;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A fault's wait, cut short when the node stops (a long "delay" must not hold up shutdown). */
static void fault_wait_ms(long ms)
{
    while (ms > 0 && !S.stop) {
        long step = ms < 50 ? ms : 50;
        sleep_ms(step);
        ms -= step;
    }
}

/* splitmix64: the schedule is a pure function of (seed, sequence number). */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double roll(uint64_t seed, uint64_t seq)
{
    return (double)(mix64(seed ^ mix64(seq)) >> 11) / 9007199254740992.0;
}

/* Which mode the fault injects on its seq-th matching call (F_NONE: none). */
static int fault_pick(const fault *f, uint64_t seq)
{
    double u = roll(f->seed, seq);
    if (!f->random) return u < f->probability ? f->mode : F_NONE;
    double acc = 0;
    for (int m = 1; m < F_NMODES; m++) {
        acc += f->probs[m];
        if (u < acc) return m;
    }
    return F_NONE;
}

static int method_matches(const fault *f, const char *method)
{
    if (f->nmethods == 0) return strncmp(method, "testnode_", 9) != 0;
    for (int i = 0; i < f->nmethods; i++)
        if (strcmp(f->methods[i], method) == 0) return 1;
    return 0;
}

/* Decides the fault for one call; copies its parameters into *out. */
static int decide_fault(const char *method, fault *out)
{
    int mode = F_NONE;
    pthread_mutex_lock(&S.lock);
    int64_t t = now_ms();
    for (int i = 0; i < MAX_FAULTS && mode == F_NONE; i++) {
        fault *f = &S.faults[i];
        if (!f->active) continue;
        if (f->expires_ms && t >= f->expires_ms) {
            f->active = 0;
            continue;
        }
        if (!method_matches(f, method)) continue;
        mode = fault_pick(f, f->seq++);
        if (mode != F_NONE) {
            *out = *f;
            S.injected[mode]++;
            if (f->remaining > 0 && --f->remaining == 0) f->active = 0;
        }
    }
    pthread_mutex_unlock(&S.lock);
    return mode;
}

/* ---------- control methods handled here ---------- */

static json_t *ctl_error(int *code, char **msg, int c, const char *m)
{
    *code = c;
    *msg = strdup(m);
    return NULL;
}

static int parse_mode(const char *s)
{
    for (int m = 1; m < F_NMODES; m++)
        if (strcmp(s, mode_names[m]) == 0) return m;
    return -1;
}

static json_t *ctl_setfault(json_t *params, int *code, char **msg)
{
    json_t *o = json_is_array(params) ? json_array_get(params, 0) : NULL;
    if (!json_is_object(o)) return ctl_error(code, msg, RPC_INVALID_PARAMETER, "testnode_setfault takes one object");
    fault f;
    memset(&f, 0, sizeof f);
    const char *mode = json_string_value(json_object_get(o, "mode"));
    if (!mode) return ctl_error(code, msg, RPC_INVALID_PARAMETER, "mode is required");
    if (strcmp(mode, "random") == 0) {
        f.random = 1;
        json_t *probs = json_object_get(o, "probs");
        const char *k;
        json_t *v;
        double sum = 0;
        json_object_foreach(probs, k, v)
        {
            int m = parse_mode(k);
            if (m < 0 || !json_is_number(v)) return ctl_error(code, msg, RPC_INVALID_PARAMETER, "bad probs entry");
            f.probs[m] = json_number_value(v);
            sum += f.probs[m];
        }
        if (sum > 1.0 + 1e-9) return ctl_error(code, msg, RPC_INVALID_PARAMETER, "probabilities sum above 1");
    } else {
        f.mode = parse_mode(mode);
        if (f.mode < 0) return ctl_error(code, msg, RPC_INVALID_PARAMETER, "unknown mode");
    }
    json_t *v;
    f.probability = (v = json_object_get(o, "probability")) && json_is_number(v) ? json_number_value(v) : 1.0;
    f.seed = (v = json_object_get(o, "seed")) && json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
    f.delay_ms = (v = json_object_get(o, "delay_ms")) && json_is_integer(v) ? (long)json_integer_value(v) : 1000;
    f.stall_ms = (v = json_object_get(o, "stall_ms")) && json_is_integer(v) ? (long)json_integer_value(v) : f.delay_ms;
    f.error_code = (v = json_object_get(o, "code")) && json_is_integer(v) ? (int)json_integer_value(v) : 0;
    f.http_status = (v = json_object_get(o, "http_status")) && json_is_integer(v) ? (int)json_integer_value(v) : 0;
    const char *m = json_string_value(json_object_get(o, "message"));
    snprintf(f.error_message, sizeof f.error_message, "%s", m ? m : "testnode injected error");
    if (!f.error_code && !f.http_status) f.error_code = RPC_MISC_ERROR;
    if (f.error_code && !f.http_status) f.http_status = 500;
    f.error_accept = json_is_true(json_object_get(o, "accept"));
    f.remaining = (v = json_object_get(o, "count")) && json_is_integer(v) ? (long)json_integer_value(v) : -1;
    if ((v = json_object_get(o, "duration_ms")) && json_is_integer(v)) f.expires_ms = now_ms() + json_integer_value(v);
    json_t *ms = json_object_get(o, "methods");
    if (json_is_string(ms)) {
        snprintf(f.methods[0], sizeof f.methods[0], "%s", json_string_value(ms));
        f.nmethods = 1;
    } else if (json_is_array(ms)) {
        size_t i;
        json_array_foreach(ms, i, v)
        {
            if (i >= MAX_METHODS || !json_is_string(v)) return ctl_error(code, msg, RPC_INVALID_PARAMETER, "bad methods");
            snprintf(f.methods[i], sizeof f.methods[i], "%s", json_string_value(v));
            f.nmethods = (int)i + 1;
        }
    }
    f.active = 1;
    pthread_mutex_lock(&S.lock);
    int slot = -1;
    for (int i = 0; i < MAX_FAULTS; i++)
        if (!S.faults[i].active) {
            slot = i;
            break;
        }
    if (slot >= 0) {
        f.id = ++S.next_id;
        S.faults[slot] = f;
    }
    pthread_mutex_unlock(&S.lock);
    if (slot < 0) return ctl_error(code, msg, RPC_MISC_ERROR, "too many faults");
    json_t *r = json_object();
    json_object_set_new(r, "id", json_integer(f.id));
    return r;
}

static json_t *ctl_clearfaults(void)
{
    pthread_mutex_lock(&S.lock);
    int n = 0;
    for (int i = 0; i < MAX_FAULTS; i++) {
        n += S.faults[i].active;
        S.faults[i].active = 0;
    }
    pthread_mutex_unlock(&S.lock);
    return json_integer(n);
}

/* Dry run of a schedule: [{"seed":..,"mode":"random","probs":{..}} , n] -> modes of calls 0..n-1. */
static json_t *ctl_faultschedule(json_t *params, int *code, char **msg)
{
    json_t *r = ctl_setfault(params, code, msg);
    if (!r) return NULL;
    int id = (int)json_integer_value(json_object_get(r, "id"));
    json_decref(r);
    json_t *nv = json_array_get(params, 1);
    long n = json_is_integer(nv) ? (long)json_integer_value(nv) : 100;
    json_t *out = json_array();
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < MAX_FAULTS; i++) {
        if (S.faults[i].active && S.faults[i].id == id) {
            for (long k = 0; k < n; k++) {
                int m = fault_pick(&S.faults[i], (uint64_t)k);
                json_array_append_new(out, m == F_NONE ? json_null() : json_string(mode_names[m]));
            }
            S.faults[i].active = 0;
        }
    }
    pthread_mutex_unlock(&S.lock);
    return out;
}

static json_t *ctl_stats(void)
{
    long mp, h;
    tn_node_counts(S.node, &mp, &h);
    json_t *o = json_object();
    pthread_mutex_lock(&S.lock);
    json_object_set_new(o, "calls", json_integer((json_int_t)S.calls));
    json_object_set_new(o, "calls_by_method", S.calls_by_method ? json_deep_copy(S.calls_by_method) : json_object());
    json_t *f = json_object();
    for (int m = 1; m < F_NMODES; m++) json_object_set_new(f, mode_names[m], json_integer((json_int_t)S.injected[m]));
    json_object_set_new(o, "faults", f);
    int active = 0;
    for (int i = 0; i < MAX_FAULTS; i++) active += S.faults[i].active;
    json_object_set_new(o, "active_faults", json_integer(active));
    pthread_mutex_unlock(&S.lock);
    json_object_set_new(o, "mempool", json_integer(mp));
    json_object_set_new(o, "height", json_integer(h));
    return o;
}

/* ---------- one JSON-RPC request ---------- */

typedef struct {
    json_t *reply;   /* the response object (for batches: one element) */
    int http_status;
    int drop;        /* close without answering */
    int bare_status; /* nonzero: answer this HTTP status with an empty body */
    long delay_ms;
} outcome;

static json_t *make_reply(json_t *result, int code, const char *message, json_t *id)
{
    json_t *o = json_object();
    if (message) {
        json_object_set_new(o, "result", json_null());
        json_t *e = json_object();
        json_object_set_new(e, "code", json_integer(code));
        json_object_set_new(e, "message", json_string(message));
        json_object_set_new(o, "error", e);
    } else {
        json_object_set_new(o, "result", result ? result : json_null());
        json_object_set_new(o, "error", json_null());
    }
    json_object_set(o, "id", id ? id : json_null());
    return o;
}

static int status_for(int code)
{
    if (code == RPC_INVALID_REQUEST) return 400;
    if (code == RPC_METHOD_NOT_FOUND) return 404;
    return 500;
}

/* uri_wallet: the <name> of a /wallet/<name> request path, or NULL (tn_node_call). */
static void handle_one(json_t *req, const char *uri_wallet, outcome *oc)
{
    memset(oc, 0, sizeof *oc);
    if (!json_is_object(req)) {
        oc->reply = make_reply(NULL, RPC_INVALID_REQUEST, "Invalid Request object", NULL);
        oc->http_status = 400;
        return;
    }
    json_t *id = json_object_get(req, "id");
    json_t *m = json_object_get(req, "method");
    if (!m) {
        oc->reply = make_reply(NULL, RPC_INVALID_REQUEST, "Missing method", id);
        oc->http_status = 400;
        return;
    }
    if (!json_is_string(m)) {
        oc->reply = make_reply(NULL, RPC_INVALID_REQUEST, "Method must be a string", id);
        oc->http_status = 400;
        return;
    }
    const char *method = json_string_value(m);
    json_t *params = json_object_get(req, "params");
    json_t *owned = NULL;
    if (!params || json_is_null(params)) params = owned = json_array();
    if (!json_is_array(params)) {
        oc->reply = make_reply(NULL, RPC_INVALID_REQUEST, "Params must be an array (named parameters are not supported by the test node)", id);
        oc->http_status = 400;
        json_decref(owned);
        return;
    }
    pthread_mutex_lock(&S.lock);
    S.calls++;
    if (!S.calls_by_method) S.calls_by_method = json_object();
    if (S.calls_by_method) {
        json_t *n = json_object_get(S.calls_by_method, method);
        json_object_set_new(S.calls_by_method, method, json_integer(n ? json_integer_value(n) + 1 : 1));
    }
    pthread_mutex_unlock(&S.lock);

    fault f;
    int mode = decide_fault(method, &f);
    if (mode == F_STALL) fault_wait_ms(f.stall_ms);
    if (mode == F_REFUSE) {
        oc->drop = 1;
        json_decref(owned);
        return;
    }
    if (mode == F_ERROR && !f.error_accept) {
        if (f.error_code)
            oc->reply = make_reply(NULL, f.error_code, f.error_message, id);
        else
            oc->bare_status = f.http_status;
        oc->http_status = f.http_status;
        json_decref(owned);
        return;
    }

    json_t *result = NULL;
    int code = 0;
    char *msg = NULL;
    if (strcmp(method, "testnode_setfault") == 0)
        result = ctl_setfault(params, &code, &msg);
    else if (strcmp(method, "testnode_clearfaults") == 0)
        result = ctl_clearfaults();
    else if (strcmp(method, "testnode_stats") == 0)
        result = ctl_stats();
    else if (strcmp(method, "testnode_faultschedule") == 0)
        result = ctl_faultschedule(params, &code, &msg);
    else if (strcmp(method, "stop") == 0) {
        result = json_string("Monacoin server stopping");
        S.stop = 1;
    } else
        result = tn_node_call(S.node, uri_wallet, method, params, &code, &msg);
    json_decref(owned);

    if (mode == F_ERROR) { /* accept: the call ran, the answer is an error anyway */
        json_decref(result);
        free(msg);
        if (f.error_code)
            oc->reply = make_reply(NULL, f.error_code, f.error_message, id);
        else
            oc->bare_status = f.http_status;
        oc->http_status = f.http_status;
        return;
    }
    if (msg) {
        oc->reply = make_reply(NULL, code, msg, id);
        oc->http_status = status_for(code);
        free(msg);
    } else {
        oc->reply = make_reply(result, 0, NULL, id);
        oc->http_status = 200;
    }
    if (mode == F_DELAY) oc->delay_ms = f.delay_ms;
    if (mode == F_DROP) oc->drop = 1;
}

/* ---------- HTTP ---------- */

typedef struct {
    char *body;
    size_t len, cap;
    int too_big;
} upload;

#define MAX_BODY (32u << 20)

static int auth_ok(struct MHD_Connection *c)
{
    char *pass = NULL;
    char *user = MHD_basic_auth_get_username_password(c, &pass);
    int ok = 0;
    if (user && pass) {
        if (S.user && S.pass && strcmp(user, S.user) == 0 && strcmp(pass, S.pass) == 0) ok = 1;
        if (S.have_cookie && strcmp(user, "__cookie__") == 0 && strcmp(pass, S.cookie_pass) == 0) ok = 1;
    }
    if (user) MHD_free(user);
    if (pass) MHD_free(pass);
    return ok;
}

static MHD_RESULT send_text(struct MHD_Connection *c, int status, const char *text, const char *ctype)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    if (ctype) MHD_add_response_header(r, "Content-Type", ctype);
    MHD_RESULT ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static MHD_RESULT on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                             const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)cls, (void)version;
    upload *u = *con_cls;
    /* Core serves every method on "/" and on "/wallet/<name>"; the path picks the wallet */
    const char *uri_wallet = strncmp(url, "/wallet/", 8) == 0 ? url + 8 : NULL;
    if (!u) {
        u = calloc(1, sizeof *u);
        if (!u) return MHD_NO;
        *con_cls = u;
        return MHD_YES;
    }
    if (*data_size) {
        if (u->len + *data_size > MAX_BODY) {
            u->too_big = 1;
        } else {
            if (u->len + *data_size + 1 > u->cap) {
                size_t cap = u->cap ? u->cap : 4096;
                while (cap < u->len + *data_size + 1) cap *= 2;
                char *b = realloc(u->body, cap);
                if (!b) return MHD_NO;
                u->body = b;
                u->cap = cap;
            }
            memcpy(u->body + u->len, data, *data_size);
            u->len += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    if (!auth_ok(c)) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "WWW-Authenticate", "Basic realm=\"jsonrpc\"");
        MHD_RESULT ret = MHD_queue_response(c, 401, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(method, "POST") != 0) return send_text(c, 405, "JSONRPC server handles only POST requests", NULL);
    if (u->too_big) return send_text(c, 413, "", NULL);

    json_error_t jerr;
    json_t *req = u->len ? json_loadb(u->body, u->len, JSON_DECODE_ANY, &jerr) : NULL;
    json_t *reply = NULL;
    int status = 200, drop = 0, bare = 0;
    long delay = 0;
    if (!req) {
        reply = make_reply(NULL, RPC_PARSE_ERROR, "Parse error", NULL);
        status = 500;
    } else if (json_is_array(req)) {
        /* a batch answers 200 with one reply per request; faults act on the whole batch's worst */
        reply = json_array();
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
        {
            outcome oc;
            handle_one(r, uri_wallet, &oc);
            if (oc.drop) drop = 1;
            if (oc.bare_status) bare = oc.bare_status;
            if (oc.delay_ms > delay) delay = oc.delay_ms;
            if (oc.reply) json_array_append_new(reply, oc.reply);
        }
    } else {
        outcome oc;
        handle_one(req, uri_wallet, &oc);
        reply = oc.reply;
        status = oc.http_status;
        drop = oc.drop;
        bare = oc.bare_status;
        delay = oc.delay_ms;
    }
    json_decref(req);
    if (delay > 0) fault_wait_ms(delay);
    if (drop) {
        json_decref(reply);
        return MHD_NO; /* microhttpd closes the connection without a response */
    }
    if (bare) {
        json_decref(reply);
        return send_text(c, bare, "", NULL);
    }
    char *text = tn_json_dumps(reply);
    json_decref(reply);
    size_t tl = strlen(text);
    char *withnl = malloc(tl + 2);
    if (!withnl) abort();
    memcpy(withnl, text, tl);
    withnl[tl] = '\n';
    withnl[tl + 1] = 0;
    free(text);
    MHD_RESULT ret = send_text(c, status, withnl, "application/json");
    free(withnl);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    upload *u = *con_cls;
    if (u) {
        free(u->body);
        free(u);
    }
    *con_cls = NULL;
}

/* "refuse": new connections are closed as soon as they are accepted. */
static MHD_RESULT on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)cls, (void)addr, (void)len;
    int refuse = 0;
    pthread_mutex_lock(&S.lock);
    int64_t t = now_ms();
    for (int i = 0; i < MAX_FAULTS && !refuse; i++) {
        fault *f = &S.faults[i];
        if (!f->active || f->nmethods) continue;
        if (f->expires_ms && t >= f->expires_ms) {
            f->active = 0;
            continue;
        }
        if (!(f->random ? f->probs[F_REFUSE] > 0 : f->mode == F_REFUSE)) continue;
        /* its own sequence, salted so it does not mirror the per-call schedule */
        if (fault_pick(f, (f->conn_seq++) ^ 0x8000000000000000ULL) == F_REFUSE) {
            refuse = 1;
            S.injected[F_REFUSE]++;
            if (f->remaining > 0 && --f->remaining == 0) f->active = 0;
        }
    }
    pthread_mutex_unlock(&S.lock);
    return refuse ? MHD_NO : MHD_YES;
}

/* microhttpd's own messages, minus the one every "drop" fault causes on purpose. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    if (strstr(line, "Application reported internal error")) return;
    fputs(line, stderr);
}

static void on_signal(int sig)
{
    (void)sig;
    S.stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: oncesign-testnode --port N [--bind ADDR] [--rpcuser U --rpcpassword P]\n"
            "                         [--cookie-file PATH] [--datadir DIR] [--seed S]\n"
            "       oncesign-testnode --help | --version\n");
}

static int write_cookie(const char *path)
{
    uint8_t rnd[32];
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, rnd, 32) != 32) {
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    memcpy(S.cookie_pass, hex, 65);
    /* like every writer that renames over its target: never over a device, FIFO or symlink */
    struct stat st;
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) return -1;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fchmod(fileno(f), 0600);
    fprintf(f, "__cookie__:%s", hex);
    if (fclose(f) != 0 || rename(tmp, path) != 0) return -1;
    S.have_cookie = 1;
    return 0;
}

int main(int argc, char **argv)
{
    long port = -1;
    const char *bind_addr = "127.0.0.1", *cookie = NULL, *datadir = NULL, *seed = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strncmp(a, "--", 2) == 0 && strchr(a, '=')) { /* --opt=value */
            static char name[64];
            size_t nl = (size_t)(strchr(a, '=') - a);
            if (nl >= sizeof name) nl = sizeof name - 1;
            memcpy(name, a, nl);
            name[nl] = 0;
            v = strchr(a, '=') + 1;
            a = name;
            i--;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("oncesign-testnode %s\n", ONCESIGN_VERSION);
            return 0;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--port") == 0) port = strtol(v, NULL, 10);
        else if (strcmp(a, "--bind") == 0) bind_addr = v;
        else if (strcmp(a, "--rpcuser") == 0) S.user = v;
        else if (strcmp(a, "--rpcpassword") == 0) S.pass = v;
        else if (strcmp(a, "--cookie-file") == 0) cookie = v;
        else if (strcmp(a, "--datadir") == 0) datadir = v;
        else if (strcmp(a, "--seed") == 0) seed = v;
        else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (port < 0 || port > 65535) {
        usage(stderr);
        return 2;
    }
    char cookie_buf[4096];
    if (!cookie && datadir) {
        mkdir(datadir, 0700);
        snprintf(cookie_buf, sizeof cookie_buf, "%s/.cookie", datadir);
        cookie = cookie_buf;
    }
    if (!cookie && !(S.user && S.pass)) {
        fprintf(stderr, "testnode: need --rpcuser/--rpcpassword, --cookie-file or --datadir for auth\n");
        return 2;
    }
    if (cookie && write_cookie(cookie) != 0) {
        fprintf(stderr, "testnode: cannot write cookie file %s: %s\n", cookie, strerror(errno));
        return 1;
    }
    pthread_mutex_init(&S.lock, NULL);
    char why[600];
    S.node = tn_node_open(datadir, seed ? seed : "", why, sizeof why);
    if (!S.node) {
        fprintf(stderr, "testnode: %s\n", why);
        if (cookie) unlink(cookie);
        return 1;
    }

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, bind_addr, &sa.sin_addr) != 1) {
        fprintf(stderr, "testnode: bad --bind address %s\n", bind_addr);
        return 2;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG,
        (uint16_t)port, on_accept, NULL, on_request, NULL, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)4000, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "testnode: cannot listen on %s:%ld\n", bind_addr, port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned actual = info ? info->port : (unsigned)port;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("testnode: listening on %s:%u\n", bind_addr, actual);
    fflush(stdout);
    while (!S.stop) sleep_ms(50);
    sleep_ms(100); /* let a "stop" reply go out */
    MHD_stop_daemon(d);
    tn_node_free(S.node);
    if (cookie) unlink(cookie);
    return 0;
}
