/* oncesign tests — the NEGATIVE CONTROL of the flood test: a gift-code payout service built the way
 * Monappy's was in 2018. Test code only; nothing in the product may look like this.
 *
 * It serves the same HTTP API shape as oncesignd (POST /v1/codes, POST /v1/codes/{code}/redeem,
 * GET /v1/payouts/{id}, GET /v1/wallet) so build/oncesign-flood drives both designs with the same
 * clients, seed and fault schedule. A redeem is done the "careful" way Monappy did it:
 *
 *   lock the code row; if used → refuse; mark used        (a correct compare-and-set)
 *   sendtoaddress(address, amount) on the node's wallet   (with a client timeout)
 *   answer OK → keep it used;  timeout / error → ROLL BACK (mark unused) so the user can retry
 *
 * The rollback is the bug: a timeout does not mean the node did not send (docs/DESIGN.md §1). Under
 * the node's "delay" (accepted, answered late) and "drop" (accepted, connection closed) faults the
 * user's retry pays the code again.
 *
 *   oncesign-naive --rpc-url URL --rpc-user U --rpc-password P [--port N] [--token-file F]
 *                  [--rpc-timeout-ms MS]
 * Prints "naive: listening on 127.0.0.1:PORT". Stops on SIGINT/SIGTERM.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>

#include <microhttpd.h>

#include "e2e_util.h"

#define MAX_CODES 200000

typedef struct {
    char code[33];
    int64_t amount;
    int used;
    int64_t payout_id;
} naive_code;

typedef struct {
    int64_t id;
    char txid[65];
    char address[128];
    int64_t amount;
} naive_payout;

static naive_code *codes;
static size_t n_codes;
static naive_payout *payouts;
static size_t n_payouts, cap_payouts;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static e2e_node node;
static char token[256];
static uint64_t rng_state = 0x6e616976ull;
static volatile sig_atomic_t stop_flag;
static unsigned long rollbacks, sends_ok, sends_failed;

static void on_signal(int s) {
    (void)s;
    stop_flag = 1;
}

typedef struct {
    os_http_body body;           /* the request body, at most 64 KiB */
} conn_state;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result error(struct MHD_Connection *c, unsigned status, const char *code, const char *msg) {
    return reply(c, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

static naive_code *find_code(const char *code) {
    size_t i;
    for (i = 0; i < n_codes; i++)
        if (strcmp(codes[i].code, code) == 0) return &codes[i];
    return NULL;
}

static json_t *payout_json(const naive_payout *p) {
    return json_pack("{s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)p->id, "status", "broadcast", "txid", p->txid,
                     "address", p->address, "amount", (json_int_t)p->amount);
}

static enum MHD_Result redeem(struct MHD_Connection *c, const char *code, json_t *req) {
    const char *address = json_string_value(json_object_get(req, "address"));
    if (!address) return error(c, 400, "bad_request", "address missing");
    pthread_mutex_lock(&table_lock);
    naive_code *k = find_code(code);
    if (!k) {
        pthread_mutex_unlock(&table_lock);
        return error(c, 404, "not_found", "unknown code");
    }
    if (k->used) {
        pthread_mutex_unlock(&table_lock);
        return error(c, 409, "already_redeemed", "this code has already been used");
    }
    k->used = 1;
    int64_t amount = k->amount;
    pthread_mutex_unlock(&table_lock);

    char amt[32];
    e2e_amount_str(amount, amt);
    int code_rc = 0;
    json_t *res = e2e_rpc(&node, "sendtoaddress", json_pack("[s,s]", address, amt), &code_rc);
    if (!res || !json_is_string(res)) {
        /* Monappy's rollback: "the send failed, so the code is unused again". */
        pthread_mutex_lock(&table_lock);
        k->used = 0;
        rollbacks++;
        sends_failed++;
        pthread_mutex_unlock(&table_lock);
        if (res) json_decref(res);
        return error(c, 502, "send_failed", "monacoind did not answer in time; please try again");
    }
    pthread_mutex_lock(&table_lock);
    sends_ok++;
    if (n_payouts == cap_payouts) {
        cap_payouts = cap_payouts ? cap_payouts * 2 : 1024;
        payouts = realloc(payouts, cap_payouts * sizeof *payouts);
        if (!payouts) abort();
    }
    naive_payout *p = &payouts[n_payouts];
    p->id = (int64_t)++n_payouts;
    snprintf(p->txid, sizeof p->txid, "%s", json_string_value(res));
    snprintf(p->address, sizeof p->address, "%s", address);
    p->amount = amount;
    k->payout_id = p->id;
    json_t *out = payout_json(p);
    pthread_mutex_unlock(&table_lock);
    json_decref(res);
    return reply(c, 200, out);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)cls;
    (void)version;
    conn_state *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st) return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        st->body.max = 65536;
        if (os_http_body_write((char *)upload, 1, *upload_size, &st->body) != *upload_size) return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (token[0] && (!auth || strncmp(auth, "Bearer ", 7) != 0 || strcmp(auth + 7, token) != 0))
        return error(c, 401, "unauthorized", "bearer token missing or wrong");
    json_t *req = st->body.data ? json_loads(st->body.data, 0, NULL) : json_object();
    if (!req) return error(c, 400, "bad_request", "body is not JSON");
    enum MHD_Result ret;
    char code[64];
    long long id;
    int consumed = 0;
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/codes") == 0) {
        json_int_t amount = json_integer_value(json_object_get(req, "amount"));
        if (amount <= 0) {
            ret = error(c, 400, "bad_request", "amount (satoshi) missing");
        } else {
            pthread_mutex_lock(&table_lock);
            if (n_codes == MAX_CODES) {
                pthread_mutex_unlock(&table_lock);
                ret = error(c, 507, "full", "too many codes");
            } else {
                naive_code *k = &codes[n_codes++];
                snprintf(k->code, sizeof k->code, "%016" PRIx64 "%016" PRIx64, e2e_rng(&rng_state),
                         e2e_rng(&rng_state));
                k->amount = amount;
                json_t *o = json_pack("{s:s,s:I}", "code", k->code, "amount", (json_int_t)k->amount);
                pthread_mutex_unlock(&table_lock);
                ret = reply(c, 200, o);
            }
        }
    } else if (strcmp(method, "POST") == 0 && sscanf(url, "/v1/codes/%63[^/]/redeem%n", code, &consumed) == 1 &&
               url[consumed] == 0) {
        ret = redeem(c, code, req);
    } else if (strcmp(method, "GET") == 0 && sscanf(url, "/v1/payouts/%lld%n", &id, &consumed) == 1 &&
               url[consumed] == 0) {
        pthread_mutex_lock(&table_lock);
        json_t *o = (id >= 1 && (size_t)id <= n_payouts) ? payout_json(&payouts[id - 1]) : NULL;
        pthread_mutex_unlock(&table_lock);
        ret = o ? reply(c, 200, o) : error(c, 404, "not_found", "no such payout");
    } else if (strcmp(method, "GET") == 0 && strcmp(url, "/v1/wallet") == 0) {
        /* The naive service's hot wallet is the node's own wallet. */
        json_t *addr = e2e_rpc(&node, "getnewaddress", json_array(), NULL);
        json_t *bal = e2e_rpc(&node, "getbalance", json_array(), NULL);
        if (!addr || !bal) {
            ret = error(c, 502, "node_unavailable", "the node did not answer");
        } else {
            pthread_mutex_lock(&table_lock);
            json_t *o = json_pack("{s:O,s:I,s:k,s:k,s:k}", "receive_address", addr, "balance",
                                  (json_int_t)e2e_amount_sat(bal), "rollbacks", rollbacks, "sends_ok", sends_ok,
                                  "sends_failed", sends_failed);
            pthread_mutex_unlock(&table_lock);
            ret = reply(c, 200, o);
        }
        if (addr) json_decref(addr);
        if (bal) json_decref(bal);
    } else {
        ret = error(c, 404, "not_found", "no such endpoint");
    }
    json_decref(req);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t) {
    (void)cls;
    (void)c;
    (void)t;
    conn_state *st = *con_cls;
    if (st) {
        os_http_body_free(&st->body);
        free(st);
    }
    *con_cls = NULL;
}

int main(int argc, char **argv) {
    const char *url = NULL, *user = "", *pass = "", *token_file = NULL;
    int port = 0;
    long rpc_timeout = 500;
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) break;
        if (strcmp(a, "--rpc-url") == 0) url = v;
        else if (strcmp(a, "--rpc-user") == 0) user = v;
        else if (strcmp(a, "--rpc-password") == 0) pass = v;
        else if (strcmp(a, "--port") == 0) port = atoi(v);
        else if (strcmp(a, "--token-file") == 0) token_file = v;
        else if (strcmp(a, "--rpc-timeout-ms") == 0) rpc_timeout = atol(v);
        else break;
        i++;
    }
    if (i < argc || !url) {
        fprintf(stderr, "usage: oncesign-naive --rpc-url URL --rpc-user U --rpc-password P [--port N] "
                        "[--token-file F] [--rpc-timeout-ms MS]\n");
        return 2;
    }
    snprintf(node.url, sizeof node.url, "%s", url);
    snprintf(node.auth, sizeof node.auth, "%s:%s", user, pass);
    node.timeout_ms = rpc_timeout;
    if (token_file) {
        FILE *f = fopen(token_file, "r");
        if (!f || !fgets(token, sizeof token, f)) {
            fprintf(stderr, "naive: cannot read %s\n", token_file);
            return 2;
        }
        fclose(f);
        token[strcspn(token, "\r\n")] = 0;
    }
    rng_state ^= (uint64_t)getpid() << 20 ^ (uint64_t)time(NULL);
    codes = calloc(MAX_CODES, sizeof *codes);
    if (!codes) return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0,
                                            NULL, NULL, handler, NULL, MHD_OPTION_SOCK_ADDR, &sa,
                                            MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                                            MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "naive: cannot listen on 127.0.0.1:%d\n", port);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("naive: listening on 127.0.0.1:%u\n", info ? info->port : 0);
    fflush(stdout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_flag) e2e_sleep_ms(50);
    MHD_stop_daemon(d);
    fprintf(stderr, "naive: stopped; %lu sends answered, %lu failed and rolled back\n", sends_ok, sends_failed);
    curl_global_cleanup();
    return 0;
}
