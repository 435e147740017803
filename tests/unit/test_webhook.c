/* Unit tests of webhooks (host/lib/webhook.h, the ledger's outbox): the signature against HMAC-SHA256
 * values computed by openssl (tests/vectors/README.md), the backoff's doubling and cap, the body's
 * fields; the outbox written by the payout change's own transaction (a rolled-back change queues
 * nothing, a committed one queues its snapshot), nothing queued while webhooks are off; and the
 * worker against a loopback receiver that refuses twice: the event is retried, then delivered
 * with a verifiable signature, and leaves the outbox. */
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
#include <jansson.h>
#include <microhttpd.h>

#include "engine.h"
#include "engine_fixture.h"
#include "ledger.h"
#include "oncesign/status.h"
#include "webhook.h"

#define ADDR_OK "mutXcGt1CJdkRvXuN2xoz2quAAQYQ59bRX"     /* testnet P2PKH (electrum-mona) */
#define SECRET  "whsec-unit-0123456789abcdef"

static void test_sign_vectors(void **state) {
    (void)state;
    char hex[65];
    /* printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec-unit-0123456789abcdef' */
    assert_int_equal(os_webhook_sign((const uint8_t *)SECRET, strlen(SECRET), 1700000000, "{\"a\":1}", 7, hex), OS_OK);
    assert_string_equal(hex, "6684db45bdc5310e760ff519f548d0434d1c1f3416df3eaa721830b44a0ebec7");
    /* the timestamp is signed: another t, another signature (a replay cannot move it) */
    /* printf '1700000001.{"a":1}' | openssl dgst -sha256 -hmac 'whsec-unit-0123456789abcdef' */
    assert_int_equal(os_webhook_sign((const uint8_t *)SECRET, strlen(SECRET), 1700000001, "{\"a\":1}", 7, hex), OS_OK);
    assert_string_equal(hex, "2d1cceff1c9384f65e19e6a3b474e47c4dab2ee2afbe98a3385a5848ca7e2910");
    assert_int_equal(os_webhook_sign(NULL, 4, 1, "x", 1, hex), OS_ERR_ARG);
    assert_int_equal(os_webhook_sign((const uint8_t *)SECRET, 0, 1, "x", 1, hex), OS_ERR_ARG);
}

static void test_backoff(void **state) {
    (void)state;
    assert_int_equal(os_webhook_backoff_ms(1, 1000, 600000), 1000);
    assert_int_equal(os_webhook_backoff_ms(2, 1000, 600000), 2000);
    assert_int_equal(os_webhook_backoff_ms(5, 1000, 600000), 16000);
    assert_int_equal(os_webhook_backoff_ms(10, 1000, 600000), 512000);
    assert_int_equal(os_webhook_backoff_ms(11, 1000, 600000), 600000);   /* capped */
    assert_int_equal(os_webhook_backoff_ms(4000000000u, 1000, 600000), 600000);
    assert_int_equal(os_webhook_backoff_ms(200, UINT64_MAX / 3, UINT64_MAX), UINT64_MAX);   /* no overflow */
}

static void test_body(void **state) {
    (void)state;
    os_webhook_event ev;
    memset(&ev, 0, sizeof ev);
    strcpy(ev.event_id, "00112233445566778899aabbccddeeff");
    ev.payout_id = 42;
    ev.status = OS_PAYOUT_BROADCAST;
    ev.amount = 150000000;
    strcpy(ev.address, ADDR_OK);
    strcpy(ev.idempotency_key, "withdrawal-8812");
    for (int i = 0; i < 32; i++) ev.txid[i] = (uint8_t)i;
    ev.has_txid = 1;
    ev.created_at = 1700000000;
    char body[2048];
    size_t len = 0;
    assert_int_equal(os_webhook_body(&ev, body, sizeof body, &len), OS_OK);
    assert_int_equal(len, strlen(body));
    json_error_t e;
    json_t *o = json_loads(body, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "id")), ev.event_id);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "payout.broadcast");
    assert_int_equal(json_integer_value(json_object_get(o, "created_at")), 1700000000);
    json_t *p = json_object_get(o, "payout");
    assert_int_equal(json_integer_value(json_object_get(p, "id")), 42);
    assert_string_equal(json_string_value(json_object_get(p, "status")), "broadcast");
    assert_int_equal(json_integer_value(json_object_get(p, "amount")), 150000000);
    assert_string_equal(json_string_value(json_object_get(p, "address")), ADDR_OK);
    assert_true(json_is_null(json_object_get(p, "code_id")));
    assert_string_equal(json_string_value(json_object_get(p, "idempotency_key")), "withdrawal-8812");
    /* display order: the internal bytes reversed */
    assert_string_equal(json_string_value(json_object_get(p, "txid")),
                        "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100");
    assert_true(json_is_null(json_object_get(p, "error")));
    json_decref(o);
    ev.status = OS_PAYOUT_SIGNED;   /* not an event */
    assert_int_equal(os_webhook_body(&ev, body, sizeof body, &len), OS_ERR_ARG);
    ev.status = OS_PAYOUT_FAILED;
    assert_int_equal(os_webhook_body(&ev, body, 16, &len), OS_ERR_INTERNAL);   /* does not fit */
    /* exactly the states the outbox trigger reports (ledger.c v6: 2, 5, 6, 7, 8) have an event name */
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++) {
        int reported = s == OS_PAYOUT_AWAITING_APPROVAL || s == OS_PAYOUT_BROADCAST || s == OS_PAYOUT_CONFIRMED ||
                       s == OS_PAYOUT_FAILED || s == OS_PAYOUT_AWAITING_REANCHOR;
        assert_int_equal(os_webhook_event_type((os_payout_status)s) != NULL, reported);
    }
    assert_string_equal(os_webhook_event_type(OS_PAYOUT_AWAITING_REANCHOR), "payout.awaiting_reanchor");
}

static int64_t new_payout(engine_fixture *f, const char *key) {
    os_payout_info p;
    int created = 0;
    assert_int_equal(os_engine_payout_create(f->engine, key, ADDR_OK, 100000, &p, &created), OS_OK);
    assert_int_equal(created, 1);
    return p.id;
}

static uint64_t depth(os_ledger *l) {
    uint64_t n = 99;
    int64_t oldest = 0;
    assert_int_equal(os_ledger_webhook_depth(l, &n, &oldest), OS_OK);
    return n;
}

static void test_outbox_transactional(void **state) {
    (void)state;
    engine_fixture f;
    assert_int_equal(engine_fixture_open(&f, "whook", "webhook-unit-token-0123456789", 1000000000), 0);
    os_ledger *l = os_engine_ledger(f.engine);
    /* off (the default): a change queues nothing */
    int64_t off = new_payout(&f, "off");
    assert_int_equal(os_engine_payout_cancel(f.engine, off), OS_OK);
    assert_int_equal(depth(l), 0);

    assert_int_equal(os_ledger_webhooks_enable(l, 1), OS_OK);
    /* a change that rolls back queues nothing */
    int64_t id = new_payout(&f, "rolled-back");
    assert_int_equal(os_ledger_begin(l), OS_OK);
    assert_int_equal(os_ledger_payout_cancel(l, id, "cancelled by the operator", 1700000000), OS_OK);
    assert_int_equal(depth(l), 1);   /* inside the transaction the row exists ... */
    os_ledger_rollback(l);
    assert_int_equal(depth(l), 0);   /* ... and goes with it */
    os_webhook_event ev;
    assert_int_equal(os_ledger_webhook_next(l, INT64_MAX, &ev), OS_ERR_NOT_FOUND);

    /* a committed change queues its snapshot, once */
    assert_int_equal(os_engine_payout_cancel(f.engine, id), OS_OK);
    assert_int_equal(depth(l), 1);
    assert_int_equal(os_ledger_webhook_next(l, INT64_MAX, &ev), OS_OK);
    assert_int_equal(ev.payout_id, id);
    assert_int_equal(ev.status, OS_PAYOUT_FAILED);
    assert_int_equal(ev.amount, 100000);
    assert_string_equal(ev.address, ADDR_OK);
    assert_string_equal(ev.idempotency_key, "rolled-back");
    assert_string_equal(ev.error, "cancelled by the operator");
    assert_int_equal(strlen(ev.event_id), 32);
    assert_int_equal(ev.attempts, 0);
    /* a failed attempt pushes it back; it is not due before next_at */
    assert_int_equal(os_ledger_webhook_failed(l, ev.row, 5000, "HTTP 503"), OS_OK);
    assert_int_equal(os_ledger_webhook_next(l, 4999, &ev), OS_ERR_NOT_FOUND);
    assert_int_equal(os_ledger_webhook_next(l, 5000, &ev), OS_OK);
    assert_int_equal(ev.attempts, 1);
    assert_int_equal(os_ledger_webhook_delivered(l, ev.row), OS_OK);
    assert_int_equal(depth(l), 0);
    /* off again: nothing more is queued */
    assert_int_equal(os_ledger_webhooks_enable(l, 0), OS_OK);
    int64_t later = new_payout(&f, "later");
    assert_int_equal(os_engine_payout_cancel(f.engine, later), OS_OK);
    assert_int_equal(depth(l), 0);
    assert_int_equal(engine_fixture_close(&f), 0);
}

/* ---- the worker against a loopback receiver */
static struct {
    int requests, refuse;
    char sig[160], body[2048];
} rx;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *data_size, void **con_cls) {
    (void)cls, (void)url, (void)method, (void)version;
    if (*con_cls == NULL) {
        *con_cls = &rx;
        return MHD_YES;
    }
    if (*data_size != 0) {
        size_t have = strlen(rx.body);
        if (have + *data_size < sizeof rx.body) memcpy(rx.body + have, data, *data_size);
        *data_size = 0;
        return MHD_YES;
    }
    unsigned status = ++rx.requests <= rx.refuse ? 503 : 200;
    if (status == 200) {
        const char *s = MHD_lookup_connection_value(c, MHD_HEADER_KIND, OS_WEBHOOK_SIG_HEADER);
        snprintf(rx.sig, sizeof rx.sig, "%s", s ? s : "");
    } else {
        rx.body[0] = '\0';
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void test_worker_retries_then_delivers(void **state) {
    (void)state;
    memset(&rx, 0, sizeof rx);
    rx.refuse = 2;
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, NULL,
                                            MHD_OPTION_END);
    assert_non_null(d);
    unsigned port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    engine_fixture f;
    assert_int_equal(engine_fixture_open(&f, "whwork", "webhook-unit-token-0123456789", 1000000000), 0);
    os_ledger *l = os_engine_ledger(f.engine);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/hook", port);
    os_webhook_config cfg = {.url = url, .secret = (const uint8_t *)SECRET, .secret_len = strlen(SECRET),
                             .retry_ms = 20, .max_retry_ms = 40, .timeout_ms = 2000, .poll_ms = 10};
    os_webhook *w = NULL;
    uint64_t ok0 = 0, failed0 = 0;
    os_webhook_counts(&ok0, &failed0);
    assert_int_equal(os_webhook_start(l, &cfg, &w), OS_OK);   /* turns the outbox on */
    int64_t id = new_payout(&f, "worker");
    assert_int_equal(os_engine_payout_cancel(f.engine, id), OS_OK);
    for (int i = 0; i < 500 && depth(l) != 0; i++) usleep(10000);
    os_webhook_stop(w);
    assert_int_equal(depth(l), 0);
    assert_int_equal(rx.requests, 3);
    uint64_t ok1 = 0, failed1 = 0;
    os_webhook_counts(&ok1, &failed1);
    assert_int_equal(ok1 - ok0, 1);
    assert_int_equal(failed1 - failed0, 2);
    /* the delivered request's signature verifies over "<t>.<body>" */
    long long t = 0;
    char v1[65] = "", want[65];
    assert_int_equal(sscanf(rx.sig, "t=%lld,v1=%64[0-9a-f]", &t, v1), 2);
    assert_int_equal(os_webhook_sign((const uint8_t *)SECRET, strlen(SECRET), t, rx.body, strlen(rx.body), want), OS_OK);
    assert_string_equal(v1, want);
    assert_true(llabs((long long)time(NULL) - t) < 60);
    json_error_t e;
    json_t *o = json_loads(rx.body, 0, &e);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "payout.failed");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "payout"), "id")), id);
    json_decref(o);
    MHD_stop_daemon(d);
    assert_int_equal(engine_fixture_close(&f), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vectors),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_outbox_transactional),
        cmocka_unit_test(test_worker_retries_then_delivers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
