/* Benchmark: the signer's cost per payout, host-native, and the bytes a payout puts on the wire.
 *
 * The whole signer core runs in-process on the memory board (tests/unit/support/signer_harness.h:
 * flash writes and the commit before release included), driven by the real host signing session
 * (host/lib/signing.c) through a counting transport: every 64-byte report in either direction is
 * counted, so the USB full-speed HID ceiling (64,000 bytes/s per direction) can be applied.
 *
 *   bench signer_us_per_payout N us             median os_sign_run time of a one-payout transaction
 *                                               (1 P2PKH input with its full previous tx, payout, change)
 *   bench signer_us_per_payout_batch50 N us     median time of a 50-payout transaction / 50
 *   bench wire_bytes_per_payout N bytes         reports x 64, both directions, one-payout transactions,
 *                                               the audit-log archive (LOG_READ + LOG_ACK) included
 *   bench wire_bytes_per_payout_h2d N bytes     host -> device only (the busier direction)
 *   bench wire_bytes_per_payout_batch50 N bytes both directions, per payout, 50-payout transactions
 *   bench usb_fs_payouts_per_s_ceiling N payouts/s   64,000 / the busier direction's bytes per
 *                                               payout (single payouts)
 *   bench usb_fs_payouts_per_s_ceiling_batch50 N payouts/s   the same for 50-payout transactions
 * Deterministic coins, nonces and destinations, so runs compare.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "board_mem.h"
#include "bytes.h"
#include "signer.h"
#include "signer_harness.h"
#include "signing.h"

#define SINGLE_TXS 1000
#define BATCH 50
#define BATCH_TXS 40

static uint64_t reports_h2d, reports_d2h;

/* The harness's in-process transport, counting. */
static int count_send(os_transport *t, const uint8_t report[OS_REPORT_SIZE]) {
    (void)t;
    if (board_mem_push_report(report) != 0) return OS_ERR_IO;
    reports_h2d++;
    (void)signer_poll(0);
    return OS_OK;
}

static int count_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    (void)t;
    (void)timeout_ms;
    if (!board_mem_pop_report(report)) {
        (void)signer_poll(0);
        if (!board_mem_pop_report(report)) return 0;
    }
    reports_d2h++;
    return 1;
}

static void count_close(os_transport *t) { free(t); }

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fail(const char *what, int rc) {
    fprintf(stderr, "bench_signer_payout: %s failed: 0x%04x\n", what, (unsigned)rc);
    exit(1);
}

/* What the host does after every signature (I5): reads the SIGN entry into its archive and
 * acknowledges it, so the device's log ring never fills. Counted on the wire, not in the time. */
static void archive(os_client *c, uint64_t seq) {
    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg req, rep;
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_LOG_READ;
    req.u.log_read.seq = seq;
    int rc = os_client_call(c, &req, &rep, buf, 10000);
    if (rc != OS_OK || rep.type != OS_MSG_LOG_ENTRY) fail("LOG_READ", rc != OS_OK ? rc : OS_ERR_INTERNAL);
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_LOG_ACK;
    req.u.log_read.seq = seq;
    rc = os_client_call(c, &req, &rep, buf, 10000);
    if (rc != OS_OK || rep.type == OS_MSG_ERROR) fail("LOG_ACK", rc != OS_OK ? rc : OS_ERR_INTERNAL);
}

static uint32_t next_nonce = 1, next_coin = 1;

static void payout(os_sign_output *o, uint64_t amount) {
    memset(o, 0, sizeof *o);
    o->kind = OS_OUTPUT_PAYOUT;
    o->amount = amount;
    harness_destination(next_nonce * 7919u, o->script);
    o->script_len = 25;
    os_write_le32(o->nonce, next_nonce++);
    o->nonce[31] = 0xb5;
}

/* Signs one transaction of n_payouts fresh payouts from one fresh coin; returns microseconds. */
static double sign_one(os_client *c, nonce_tree *tree, size_t n_payouts) {
    static harness_coin coin;
    static os_sign_output outs[BATCH + 1];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    uint64_t in = 100000000, total = 0;
    int rc = harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, next_coin % 20, in, 0x40000 + next_coin);
    next_coin++;
    if (rc != OS_OK) fail("harness_make_coin", rc);
    size_t i, len = 0;
    for (i = 0; i < n_payouts; i++) {
        payout(&outs[i], 100000 + 1000 * i);
        total += outs[i].amount;
    }
    os_sign_output *ch = &outs[n_payouts];
    memset(ch, 0, sizeof *ch);
    ch->kind = OS_OUTPUT_CHANGE;
    ch->amount = in - total - (2000 + 400 * n_payouts);
    ch->change_script_type = OS_SCRIPT_P2PKH;
    ch->change_index = 1;
    rc = harness_script(OS_SCRIPT_P2PKH, 1, 1, ch->script, &len);
    if (rc != OS_OK) fail("harness_script", rc);
    ch->script_len = (uint8_t)len;
    rc = os_sign_sort_payouts(outs, n_payouts + 1);
    if (rc != OS_OK) fail("os_sign_sort_payouts", rc);
    os_sign_tx tx = { 2, 0, 1, n_payouts + 1, &coin.input, outs, 0, NULL };
    double t0 = now_us();
    rc = os_sign_run(c, tree, &tx, sigs, &oc, harness_on_pending, NULL);
    double t1 = now_us();
    if (rc != OS_OK) fail("os_sign_run", rc);
    archive(c, oc.log_seq);
    return t1 - t0;
}

int main(void) {
    os_client *hc = harness_start(64u * 4096u, 0x5167u);
    os_policy p = harness_policy_open();
    int rc = harness_init_device(hc, &p, OS_SCRIPT_P2PKH);
    if (rc != OS_OK) fail("harness_init_device", rc);
    os_transport *t = calloc(1, sizeof *t);
    if (!t) return 1;
    t->send = count_send;
    t->recv = count_recv;
    t->close = count_close;
    strcpy(t->description, "counting inproc");
    os_client *c = NULL;
    rc = os_client_open_transport(t, &c);
    if (rc != OS_OK) fail("os_client_open_transport", rc);
    os_client_set_operator_timeout(c, 10000);
    nonce_tree *tree = NULL;
    rc = nonce_tree_create(&tree);
    if (rc != OS_OK) fail("nonce_tree_create", rc);

    static double single[SINGLE_TXS], batched[BATCH_TXS];
    size_t i;
    (void)sign_one(c, tree, 1);   /* channel allocation and first-use costs stay out of the figures */
    uint64_t h0 = reports_h2d, d0 = reports_d2h;
    for (i = 0; i < SINGLE_TXS; i++) single[i] = sign_one(c, tree, 1);
    double s_h2d = (double)(reports_h2d - h0) * OS_REPORT_SIZE / SINGLE_TXS;
    double s_d2h = (double)(reports_d2h - d0) * OS_REPORT_SIZE / SINGLE_TXS;
    h0 = reports_h2d;
    d0 = reports_d2h;
    for (i = 0; i < BATCH_TXS; i++) batched[i] = sign_one(c, tree, BATCH) / BATCH;
    double b_h2d = (double)(reports_h2d - h0) * OS_REPORT_SIZE / (BATCH_TXS * BATCH);
    double b_d2h = (double)(reports_d2h - d0) * OS_REPORT_SIZE / (BATCH_TXS * BATCH);
    qsort(single, SINGLE_TXS, sizeof single[0], cmp_double);
    qsort(batched, BATCH_TXS, sizeof batched[0], cmp_double);

    printf("bench signer_us_per_payout %.0f us\n", single[SINGLE_TXS / 2]);
    printf("bench signer_us_per_payout_batch50 %.0f us\n", batched[BATCH_TXS / 2]);
    printf("bench wire_bytes_per_payout %.0f bytes\n", s_h2d + s_d2h);
    printf("bench wire_bytes_per_payout_h2d %.0f bytes\n", s_h2d);
    printf("bench wire_bytes_per_payout_d2h %.0f bytes\n", s_d2h);
    printf("bench wire_bytes_per_payout_batch50 %.0f bytes\n", b_h2d + b_d2h);
    printf("bench usb_fs_payouts_per_s_ceiling %.0f payouts/s\n", 64000.0 / (s_h2d > s_d2h ? s_h2d : s_d2h));
    printf("bench usb_fs_payouts_per_s_ceiling_batch50 %.0f payouts/s\n", 64000.0 / (b_h2d > b_d2h ? b_h2d : b_d2h));
    nonce_tree_free(tree);
    os_client_close(c);
    harness_stop();
    return 0;
}
