/* Unit tests for proto/frame.c: report layout, round trips across the init/continuation
 * boundaries, and every error os_frame_rx_feed reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "frame.h"

#define CID 0x11223344u
#define MAX_REPORTS (1 + OS_FRAME_MAX_CONT)

static uint8_t g_msg[OS_MAX_MESSAGE];
static uint8_t g_reports[MAX_REPORTS + 1][OS_REPORT_SIZE];
static os_frame_rx g_rx;

static void fill(uint8_t *p, size_t n, uint8_t seed) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 13 + (i >> 8));
}

static void assert_view(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n) assert_memory_equal(a, b, n);
}

/* Splits g_msg[0..len) into g_reports; returns the number of reports. */
static size_t split(uint32_t cid, uint8_t cmd, size_t len) {
    os_frame_tx tx;
    size_t n = 0;
    assert_int_equal(os_frame_tx_init(&tx, cid, cmd, len ? g_msg : NULL, len), OS_OK);
    while (os_frame_tx_next(&tx, g_reports[n])) {
        n++;
        assert_true(n <= MAX_REPORTS);
    }
    assert_int_equal(os_frame_tx_next(&tx, g_reports[n]), 0);
    return n;
}

static int feed(const uint8_t *report, int *complete) {
    return os_frame_rx_feed(&g_rx, report, complete);
}

static void check_round_trip(size_t len) {
    size_t n, i, used, pad_from;
    int complete;
    fill(g_msg, len, (uint8_t)len);
    n = split(CID, OS_FRAME_CMD_MSG, len);
    assert_int_equal(n, os_frame_report_count(len));

    /* Layout: headers, data placement and zero padding after the last data byte. */
    assert_int_equal(os_read_be32(g_reports[0]), CID);
    assert_int_equal(g_reports[0][4], OS_FRAME_CMD_MSG);
    assert_int_equal(os_read_be16(g_reports[0] + 5), len);
    used = len < OS_FRAME_INIT_DATA ? len : OS_FRAME_INIT_DATA;
    assert_view(g_reports[0] + OS_FRAME_INIT_HEADER, g_msg, used);
    pad_from = OS_FRAME_INIT_HEADER + used;
    for (i = 1; i < n; i++) {
        size_t off = OS_FRAME_INIT_DATA + (i - 1) * OS_FRAME_CONT_DATA;
        size_t chunk = len - off < OS_FRAME_CONT_DATA ? len - off : OS_FRAME_CONT_DATA;
        assert_int_equal(os_read_be32(g_reports[i]), CID);
        assert_int_equal(g_reports[i][4], i - 1);
        assert_memory_equal(g_reports[i] + OS_FRAME_CONT_HEADER, g_msg + off, chunk);
        pad_from = OS_FRAME_CONT_HEADER + chunk;
    }
    for (i = pad_from; i < OS_REPORT_SIZE; i++) assert_int_equal(g_reports[n - 1][i], 0);

    os_frame_rx_init(&g_rx);
    for (i = 0; i < n; i++) {
        assert_int_equal(feed(g_reports[i], &complete), OS_OK);
        assert_int_equal(complete, i == n - 1);
    }
    assert_int_equal(g_rx.cid, CID);
    assert_int_equal(g_rx.cmd, OS_FRAME_CMD_MSG);
    assert_int_equal(g_rx.length, len);
    if (len) assert_memory_equal(g_rx.data, g_msg, len);
}

static void test_round_trips(void **state) {
    static const size_t lengths[] = {
        0, 1, 56, 57, 58, 115, 116, 117, 175, 176, 1000, OS_MAX_MESSAGE - 1, OS_MAX_MESSAGE,
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof lengths / sizeof lengths[0]; i++) check_round_trip(lengths[i]);
}

static void test_report_count(void **state) {
    (void)state;
    assert_int_equal(os_frame_report_count(0), 1);
    assert_int_equal(os_frame_report_count(57), 1);
    assert_int_equal(os_frame_report_count(58), 2);
    assert_int_equal(os_frame_report_count(116), 2);
    assert_int_equal(os_frame_report_count(117), 3);
    assert_int_equal(os_frame_report_count(OS_MAX_MESSAGE), 1 + OS_FRAME_MAX_CONT);
    assert_true(OS_FRAME_MAX_CONT <= 128);   /* seq fits in 0..127 */
}

static void test_tx_init_errors(void **state) {
    os_frame_tx tx;
    uint8_t report[OS_REPORT_SIZE];
    (void)state;
    assert_int_equal(os_frame_tx_init(&tx, CID, OS_FRAME_CMD_MSG, g_msg, OS_MAX_MESSAGE + 1),
                     OS_ERR_FRAME_LENGTH);
    assert_int_equal(os_frame_tx_init(&tx, CID, 0x03, g_msg, 1), OS_ERR_ARG);
    assert_int_equal(os_frame_tx_init(&tx, CID, OS_FRAME_CMD_MSG, NULL, 1), OS_ERR_ARG);
    assert_int_equal(os_frame_tx_init(NULL, CID, OS_FRAME_CMD_MSG, g_msg, 1), OS_ERR_ARG);
    /* A zero-length message is exactly one init report. */
    assert_int_equal(os_frame_tx_init(&tx, OS_CID_BROADCAST, OS_FRAME_CMD_PING, NULL, 0), OS_OK);
    assert_int_equal(os_frame_tx_next(&tx, report), 1);
    assert_int_equal(os_read_be32(report), OS_CID_BROADCAST);
    assert_int_equal(report[4], OS_FRAME_CMD_PING);
    assert_int_equal(os_read_be16(report + 5), 0);
    assert_int_equal(os_frame_tx_next(&tx, report), 0);
}

/* A message of three reports (init, seq 0, seq 1) ready in g_reports. */
static void three_reports(void) {
    fill(g_msg, 150, 3);
    assert_int_equal(split(CID, OS_FRAME_CMD_MSG, 150), 3);
    os_frame_rx_init(&g_rx);
}

/* After any error the receiver takes a fresh message. */
static void assert_recovers(void) {
    int complete, i;
    three_reports();
    for (i = 0; i < 3; i++) assert_int_equal(feed(g_reports[i], &complete), OS_OK);
    assert_int_equal(complete, 1);
    assert_memory_equal(g_rx.data, g_msg, 150);
}

static void test_lost_continuation(void **state) {
    int complete;
    (void)state;
    three_reports();
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(feed(g_reports[2], &complete), OS_ERR_FRAME_SEQ);
    assert_int_equal(complete, 0);
    assert_int_equal(g_rx.assembling, 0);
    /* The rest of the broken message is stray now. */
    assert_int_equal(feed(g_reports[1], &complete), OS_ERR_FRAME_UNEXPECTED);
    assert_recovers();
}

static void test_duplicated_continuation(void **state) {
    int complete;
    (void)state;
    three_reports();
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(feed(g_reports[1], &complete), OS_OK);
    assert_int_equal(feed(g_reports[1], &complete), OS_ERR_FRAME_SEQ);
    assert_int_equal(complete, 0);
    assert_recovers();
}

static void test_reordered_continuation(void **state) {
    int complete;
    (void)state;
    fill(g_msg, 300, 5);
    assert_int_equal(split(CID, OS_FRAME_CMD_MSG, 300), 6);
    os_frame_rx_init(&g_rx);
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(feed(g_reports[1], &complete), OS_OK);
    assert_int_equal(feed(g_reports[3], &complete), OS_ERR_FRAME_SEQ);
    assert_int_equal(complete, 0);
    assert_recovers();
}

static void test_stray_continuation(void **state) {
    int complete;
    (void)state;
    three_reports();
    assert_int_equal(feed(g_reports[1], &complete), OS_ERR_FRAME_UNEXPECTED);
    assert_int_equal(complete, 0);
    assert_int_equal(g_rx.cid, CID);
    /* A continuation after a completed message is stray too. */
    assert_recovers();
    assert_int_equal(feed(g_reports[2], &complete), OS_ERR_FRAME_UNEXPECTED);
    assert_int_equal(complete, 0);
}

static void test_init_mid_message(void **state) {
    static uint8_t second[OS_MAX_MESSAGE];
    uint8_t one[OS_REPORT_SIZE];
    int complete;
    os_frame_tx tx;
    (void)state;
    three_reports();
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(feed(g_reports[1], &complete), OS_OK);
    /* A new multi-report message: error, but it is the open message now. */
    fill(second, 100, 9);
    assert_int_equal(os_frame_tx_init(&tx, CID, OS_FRAME_CMD_MSG, second, 100), OS_OK);
    assert_int_equal(os_frame_tx_next(&tx, one), 1);
    assert_int_equal(feed(one, &complete), OS_ERR_FRAME_UNEXPECTED);
    assert_int_equal(complete, 0);
    assert_int_equal(g_rx.assembling, 1);
    assert_int_equal(os_frame_tx_next(&tx, one), 1);
    assert_int_equal(feed(one, &complete), OS_OK);
    assert_int_equal(complete, 1);
    assert_int_equal(g_rx.length, 100);
    assert_memory_equal(g_rx.data, second, 100);

    /* A new single-report message mid-message is refused, not half-accepted. */
    three_reports();
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(os_frame_tx_init(&tx, CID, OS_FRAME_CMD_MSG, second, 10), OS_OK);
    assert_int_equal(os_frame_tx_next(&tx, one), 1);
    assert_int_equal(feed(one, &complete), OS_ERR_FRAME_UNEXPECTED);
    assert_int_equal(complete, 0);
    assert_int_equal(g_rx.assembling, 0);
    assert_recovers();
}

static void test_oversize_length(void **state) {
    uint8_t report[OS_REPORT_SIZE];
    int complete;
    (void)state;
    os_frame_rx_init(&g_rx);
    memset(report, 0, sizeof report);
    os_write_be32(report, CID);
    report[4] = OS_FRAME_CMD_MSG;
    os_write_be16(report + 5, OS_MAX_MESSAGE + 1);
    assert_int_equal(feed(report, &complete), OS_ERR_FRAME_LENGTH);
    assert_int_equal(complete, 0);
    assert_int_equal(g_rx.assembling, 0);
    assert_int_equal(g_rx.cid, CID);
    os_write_be16(report + 5, 0xFFFF);
    assert_int_equal(feed(report, &complete), OS_ERR_FRAME_LENGTH);
    /* Also mid-message: the open message is dropped too. */
    three_reports();
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(feed(report, &complete), OS_ERR_FRAME_LENGTH);
    assert_int_equal(feed(g_reports[1], &complete), OS_ERR_FRAME_UNEXPECTED);
    assert_recovers();
}

static void test_other_channel(void **state) {
    uint8_t report[OS_REPORT_SIZE];
    int complete;
    (void)state;
    three_reports();
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    memcpy(report, g_reports[1], sizeof report);
    os_write_be32(report, CID + 1);
    assert_int_equal(feed(report, &complete), OS_ERR_FRAME_CHANNEL);
    assert_int_equal(complete, 0);
    assert_int_equal(g_rx.cid, CID + 1);   /* where the ERROR frame goes */
    assert_int_equal(g_rx.assembling, 0);

    three_reports();                        /* an init from another channel mid-message */
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    memcpy(report, g_reports[0], sizeof report);
    os_write_be32(report, OS_CID_BROADCAST);
    assert_int_equal(feed(report, &complete), OS_ERR_FRAME_CHANNEL);
    assert_int_equal(g_rx.cid, OS_CID_BROADCAST);
    assert_int_equal(g_rx.assembling, 0);
    assert_recovers();

    /* Between messages any channel may start one; the receiver reports which. */
    os_frame_rx_init(&g_rx);
    fill(g_msg, 8, 1);
    assert_int_equal(split(OS_CID_BROADCAST, OS_FRAME_CMD_INIT, 8), 1);
    assert_int_equal(feed(g_reports[0], &complete), OS_OK);
    assert_int_equal(complete, 1);
    assert_int_equal(g_rx.cid, OS_CID_BROADCAST);
    assert_int_equal(g_rx.cmd, OS_FRAME_CMD_INIT);
}

static void test_arguments(void **state) {
    int complete = 7;
    (void)state;
    os_frame_rx_init(&g_rx);
    assert_int_equal(os_frame_rx_feed(NULL, g_reports[0], &complete), OS_ERR_ARG);
    assert_int_equal(complete, 0);
    assert_int_equal(os_frame_rx_feed(&g_rx, NULL, &complete), OS_ERR_ARG);
    assert_int_equal(os_frame_rx_feed(&g_rx, g_reports[0], NULL), OS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_report_count),
        cmocka_unit_test(test_tx_init_errors),
        cmocka_unit_test(test_lost_continuation),
        cmocka_unit_test(test_duplicated_continuation),
        cmocka_unit_test(test_reordered_continuation),
        cmocka_unit_test(test_stray_continuation),
        cmocka_unit_test(test_init_mid_message),
        cmocka_unit_test(test_oversize_length),
        cmocka_unit_test(test_other_channel),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
