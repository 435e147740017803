/* A webhook receiver for tests/e2e/test_webhooks.sh and the docs harness (docs/API.md "Webhooks").
 *
 *   oncesign-webhook_receiver --out FILE [--port N] [--fail-first N] [--fail-while PATH]
 *
 * Listens on 127.0.0.1 (port 0: any; prints "receiver: listening on 127.0.0.1:PORT"). Answers 503 to
 * the first N requests, and to every request while PATH exists; any other POST is answered 200 and
 * appended to FILE as one line: the Oncesign-Signature header, a tab, the Oncesign-Event-Id header, a
 * tab, the body (the daemon's bodies are one line of JSON). It checks nothing itself: the test
 * verifies each signature with openssl, an implementation independent of the daemon's. Every
 * request, refused or taken, is counted on stderr. Runs until SIGTERM/SIGINT.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BODY_MAX 16384

typedef struct {
    char buf[BODY_MAX];
    size_t len;
    int overflow;
} body;

static const char *out_path, *fail_while;
static long fail_first;
static long requests;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    if (r == NULL) return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls) {
    (void)cls;
    (void)url;
    (void)version;
    body *b = *con_cls;
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL) return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*data_size != 0) {
        if (b->len + *data_size < BODY_MAX) {
            memcpy(b->buf + b->len, data, *data_size);
            b->len += *data_size;
        } else {
            b->overflow = 1;
        }
        *data_size = 0;
        return MHD_YES;
    }
    long n = __atomic_add_fetch(&requests, 1, __ATOMIC_SEQ_CST);
    if (strcmp(method, "POST") != 0 || b->overflow) return answer(c, 400);
    if (n <= fail_first || (fail_while != NULL && access(fail_while, F_OK) == 0)) {
        fprintf(stderr, "receiver: request %ld refused (503)\n", n);
        return answer(c, 503);
    }
    const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Oncesign-Signature");
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Oncesign-Event-Id");
    FILE *f = fopen(out_path, "a");
    if (f == NULL) return answer(c, 500);
    b->buf[b->len] = '\0';
    fprintf(f, "%s\t%s\t%s\n", sig ? sig : "-", id ? id : "-", b->buf);
    fclose(f);
    fprintf(stderr, "receiver: request %ld taken\n", n);
    return answer(c, 200);
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t) {
    (void)cls;
    (void)c;
    (void)t;
    free(*con_cls);
    *con_cls = NULL;
}

int main(int argc, char **argv) {
    unsigned port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--out") == 0) out_path = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0) port = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--fail-first") == 0) fail_first = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--fail-while") == 0) fail_while = argv[i + 1];
        else {
            fprintf(stderr, "usage: oncesign-webhook_receiver --out FILE [--port N] [--fail-first N] [--fail-while PATH]\n");
            return 1;
        }
    }
    if (out_path == NULL || port > 65535) {
        fprintf(stderr, "usage: oncesign-webhook_receiver --out FILE [--port N] [--fail-first N] [--fail-while PATH]\n");
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
                                            NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr,
                                            MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "receiver: cannot listen\n");
        return 2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("receiver: listening on 127.0.0.1:%u\n", info ? (unsigned)info->port : port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    fprintf(stderr, "receiver: %ld requests\n", requests);
    return 0;
}
