/* Unit tests of host/lib/client.c against a scripted fake transport (no simulator): channel INIT,
 * request ids and stale replies, PENDING/POLL, framing of large messages both ways, ERROR frames,
 * decoding errors, timeouts, dead links, cancel, and the refusal text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "bytes.h"
#include "client.h"
#include "codec.h"
#include "frame.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

#define FAKE_CID     0x0A0B0C0Du
#define MAX_QUEUE    512
#define MAX_SEEN     64

/* ---------------------------------------------------------------- the fake device */

typedef struct fake fake;
/* Called with every complete message the host sent; answers by queueing reports. */
typedef void (*fake_script)(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len);

struct fake {
    os_transport base;
    fake_script script;
    os_frame_rx rx;
    uint8_t queue[MAX_QUEUE][OS_REPORT_SIZE];
    size_t head, tail;
    int dead;                   /* recv/send fail */
    int host_reports;           /* reports the host sent */
    int inits;                  /* INIT messages seen */
    int n_seen;
    os_msg seen[MAX_SEEN];      /* decoded host messages (views into seen_buf) */
    uint8_t seen_buf[MAX_SEEN][OS_MAX_MESSAGE];
    int mode;                   /* per-test behaviour switch */
    int counter;
    os_client *client;          /* for the cancel test */
};

static fake *g_fake;            /* freed by the client through close */

static void fake_queue_frames(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    os_frame_tx tx;
    assert_int_equal(os_frame_tx_init(&tx, cid, cmd, data, len), OS_OK);
    while (os_frame_tx_next(&tx, f->queue[f->tail % MAX_QUEUE]) == 1) {
        f->tail++;
        assert_true(f->tail - f->head <= MAX_QUEUE);
    }
}

static void fake_queue_msg(fake *f, uint32_t cid, const os_msg *m) {
    uint8_t buf[OS_MAX_MESSAGE];
    size_t len = 0;
    assert_int_equal(os_msg_encode(m, buf, sizeof buf, &len), OS_OK);
    fake_queue_frames(f, cid, OS_FRAME_CMD_MSG, buf, len);
}

static void fake_answer_init(fake *f, const uint8_t *nonce, uint8_t version) {
    uint8_t resp[15];
    memcpy(resp, nonce, 8);
    os_write_be32(resp + 8, FAKE_CID);
    resp[12] = version;
    os_write_be16(resp + 13, OS_MAX_MESSAGE);
    fake_queue_frames(f, OS_CID_BROADCAST, OS_FRAME_CMD_INIT, resp, sizeof resp);
}

static void reply_header(os_msg *r, const os_msg *req, uint8_t type) {
    memset(r, 0, sizeof *r);
    r->version = OS_PROTOCOL_VERSION;
    r->type = type;
    r->request_id = req->request_id;
}

static int fake_send(os_transport *t, const uint8_t report[OS_REPORT_SIZE]) {
    fake *f = (fake *)t;
    int complete = 0;
    if (f->dead) return OS_ERR_IO;
    f->host_reports++;
    assert_int_equal(os_frame_rx_feed(&f->rx, report, &complete), OS_OK);
    if (!complete) return OS_OK;
    if (f->rx.cmd == OS_FRAME_CMD_INIT) {
        assert_int_equal(f->rx.cid, OS_CID_BROADCAST);
        assert_int_equal(f->rx.length, 8);
        f->inits++;
    } else {
        assert_int_equal(f->rx.cmd, OS_FRAME_CMD_MSG);
        assert_true(f->n_seen < MAX_SEEN);
        memcpy(f->seen_buf[f->n_seen], f->rx.data, f->rx.length);
        assert_int_equal(os_msg_decode(f->seen_buf[f->n_seen], f->rx.length, &f->seen[f->n_seen]), OS_OK);
        f->n_seen++;
    }
    f->script(f, f->rx.cid, f->rx.cmd, f->rx.data, f->rx.length);
    return OS_OK;
}

static int fake_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    fake *f = (fake *)t;
    if (f->dead) return OS_ERR_IO;
    if (f->head == f->tail) {
        struct timespec ts = { 0, (timeout_ms < 5 ? timeout_ms : 5) * 1000000L };
        nanosleep(&ts, NULL);
        return 0;
    }
    memcpy(report, f->queue[f->head % MAX_QUEUE], OS_REPORT_SIZE);
    f->head++;
    return 1;
}

static void fake_close(os_transport *t) { free(t); }

static os_client *fake_client(fake_script script, int mode) {
    fake *f = calloc(1, sizeof *f);
    os_client *c = NULL;
    assert_non_null(f);
    f->base.send = fake_send;
    f->base.recv = fake_recv;
    f->base.close = fake_close;
    strcpy(f->base.description, "fake");
    f->script = script;
    f->mode = mode;
    os_frame_rx_init(&f->rx);
    g_fake = f;
    assert_int_equal(os_client_open_transport(&f->base, &c), OS_OK);
    f->client = c;
    return c;
}

static os_msg simple(uint8_t type) {
    os_msg m;
    memset(&m, 0, sizeof m);
    m.type = type;
    return m;
}

/* ---------------------------------------------------------------- scripts */

/* Answers INIT correctly, GET_INFO with INFO (initialized = request id & 1 as a marker). */
static void script_info(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    (void)len;
    if (cmd == OS_FRAME_CMD_INIT) {
        if (f->mode == 1) {     /* first a foreign host's answer, then ours */
            uint8_t other[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
            fake_answer_init(f, other, OS_PROTOCOL_VERSION);
        }
        /* mode 2: a newer firmware; mode 3: a firmware of protocol version 1 */
        fake_answer_init(f, data, f->mode == 2 ? OS_PROTOCOL_VERSION + 1 : f->mode == 3 ? 1 : OS_PROTOCOL_VERSION);
        return;
    }
    assert_int_equal(cid, FAKE_CID);
    const os_msg *req = &f->seen[f->n_seen - 1];
    os_msg r;
    reply_header(&r, req, OS_MSG_INFO);
    r.u.info.protocol_version = OS_PROTOCOL_VERSION;
    r.u.info.initialized = (uint8_t)(req->request_id & 1);
    r.u.info.log_seq = req->request_id;
    fake_queue_msg(f, FAKE_CID, &r);
}

static void test_channel_and_request_ids(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_GET_INFO), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    os_client *c = fake_client(script_info, 1);
    req.request_id = 777;       /* ignored: the client numbers requests itself */
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_INFO);
    uint32_t first = g_fake->seen[0].request_id;
    assert_int_equal(reply.request_id, first);
    assert_int_equal(reply.u.info.log_seq, first);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
    assert_int_equal(g_fake->seen[1].request_id, first + 1);
    assert_int_equal(reply.request_id, first + 1);
    assert_int_equal(g_fake->seen[0].version, OS_PROTOCOL_VERSION);
    assert_int_equal(g_fake->inits, 1);          /* one channel for both calls */
    assert_int_equal(g_fake->host_reports, 3);   /* INIT + two one-report requests */
    os_client_close(c);
}

/* A firmware of protocol version 1 (before n_anchored, the anchor proofs, the issuer and operator
 * messages): the host says so and what to do before it sends anything, instead of a malformed
 * message of a layout that firmware never spoke. */
static void test_version_1_device_refused_clearly(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_GET_INFO), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    os_client *c = fake_client(script_info, 3);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_ERR_MSG_VERSION);
    assert_non_null(strstr(os_client_last_error(c), "the device speaks protocol version 1, this host speaks 2"));
    assert_non_null(strstr(os_client_last_error(c), "of one release"));
    assert_int_equal(g_fake->n_seen, 0);
    os_client_close(c);
}

static void test_init_version_mismatch(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_GET_INFO), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    os_client *c = fake_client(script_info, 2);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_ERR_MSG_VERSION);
    assert_non_null(strstr(os_client_last_error(c), "protocol version"));
    assert_int_equal(g_fake->n_seen, 0);         /* nothing sent on an unusable channel */
    os_client_close(c);
}

/* Before the real reply: a stale reply (older id), one with a newer unknown id that does not even
 * decode, a reply on another channel, a PING frame on ours; only the real one may be accepted. */
static void script_stale(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    (void)cid; (void)len;
    if (cmd == OS_FRAME_CMD_INIT) { fake_answer_init(f, data, OS_PROTOCOL_VERSION); return; }
    const os_msg *req = &f->seen[f->n_seen - 1];
    os_msg r;
    reply_header(&r, req, OS_MSG_ERROR);
    r.request_id = req->request_id - 1;
    r.u.error.code = OS_ERR_BUSY;
    r.u.error.index = 0xFFFF;
    fake_queue_msg(f, FAKE_CID, &r);
    uint8_t junk[OS_MSG_HEADER + 3] = { OS_PROTOCOL_VERSION, OS_MSG_INFO };
    os_write_le32(junk + 2, req->request_id + 5);
    fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_MSG, junk, sizeof junk);
    reply_header(&r, req, OS_MSG_SUCCESS);
    fake_queue_msg(f, FAKE_CID + 1, &r);
    fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_PING, junk, 4);
    reply_header(&r, req, OS_MSG_XPUB);
    memset(r.u.xpub.data, 0x5A, OS_XPUB_BYTES);
    fake_queue_msg(f, FAKE_CID, &r);
}

static void test_stale_replies_discarded(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_GET_XPUB), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    os_client *c = fake_client(script_stale, 0);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
        assert_int_equal(reply.type, OS_MSG_XPUB);
        assert_int_equal(reply.request_id, g_fake->seen[round].request_id);
        assert_int_equal(reply.u.xpub.data[0], 0x5A);
        assert_int_equal(reply.u.xpub.data[OS_XPUB_BYTES - 1], 0x5A);
    }
    os_client_close(c);
}

/* INIT_DEVICE → PENDING; POLL → PENDING (mode times) → SUCCESS. */
static void script_pending(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    (void)cid; (void)len;
    if (cmd == OS_FRAME_CMD_INIT) { fake_answer_init(f, data, OS_PROTOCOL_VERSION); return; }
    const os_msg *req = &f->seen[f->n_seen - 1];
    os_msg r;
    if (req->type == OS_MSG_CANCEL) {
        reply_header(&r, req, OS_MSG_SUCCESS);
    } else if (req->type == OS_MSG_POLL && f->counter++ >= f->mode) {
        reply_header(&r, req, OS_MSG_SUCCESS);
    } else {
        assert_true(req->type == OS_MSG_POLL || req->type == OS_MSG_INIT_DEVICE || req->type == OS_MSG_WIPE);
        reply_header(&r, req, OS_MSG_PENDING);
        r.u.pending.reason = OS_PENDING_OPERATOR;
        r.u.pending.poll_after_ms = 1;      /* clamped to the client's minimum */
        if (f->client != NULL && f->counter == 2 && f->mode == 100) os_client_request_cancel(f->client);
    }
    fake_queue_msg(f, FAKE_CID, &r);
}

static void count_pending(void *ctx) { (*(int *)ctx)++; }

static void test_pending_poll_loop(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_INIT_DEVICE), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    int prompted = 0;
    req.u.init_device.word_count = 24;
    req.u.init_device.policy.velocity_window_s = 1;
    os_client *c = fake_client(script_pending, 3);
    assert_int_equal(os_client_call_wait(c, &req, &reply, buf, 1000, count_pending, &prompted), OS_OK);
    assert_int_equal(reply.type, OS_MSG_SUCCESS);
    assert_int_equal(prompted, 1);
    assert_int_equal(g_fake->n_seen, 5);         /* INIT_DEVICE + 4 POLLs */
    assert_int_equal(g_fake->seen[0].type, OS_MSG_INIT_DEVICE);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(g_fake->seen[i].type, OS_MSG_POLL);
        assert_int_equal(g_fake->seen[i].request_id, g_fake->seen[i - 1].request_id + 1);
    }
    assert_int_equal(reply.request_id, g_fake->seen[4].request_id);
    /* Without the wait, PENDING is handed to the caller. */
    g_fake->counter = 0;
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_PENDING);
    assert_int_equal(reply.u.pending.poll_after_ms, 1);
    os_client_close(c);
}

static void test_cancel_and_operator_timeout(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_WIPE), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    os_client *c = fake_client(script_pending, 100);
    assert_int_equal(os_client_call_wait(c, &req, &reply, buf, 1000, NULL, NULL), OS_ERR_CANCELLED);
    assert_int_equal(g_fake->seen[g_fake->n_seen - 1].type, OS_MSG_CANCEL);
    os_client_close(c);

    c = fake_client(script_pending, 1000000);
    os_client_set_operator_timeout(c, 60);
    assert_int_equal(os_client_call_wait(c, &req, &reply, buf, 1000, NULL, NULL), OS_ERR_TIMEOUT);
    assert_int_equal(g_fake->seen[g_fake->n_seen - 1].type, OS_MSG_CANCEL);
    assert_true(g_fake->n_seen >= 3);
    os_client_close(c);
}

/* Echoes a streamed chunk's bytes back as a full page of signature records. */
static void script_large(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    (void)cid;
    if (cmd == OS_FRAME_CMD_INIT) { fake_answer_init(f, data, OS_PROTOCOL_VERSION); return; }
    const os_msg *req = &f->seen[f->n_seen - 1];
    assert_int_equal(req->type, OS_MSG_SIGN_PREVTX);
    assert_int_equal(req->u.sign_prevtx.len, OS_MAX_PREVTX_CHUNK);
    assert_true(len > OS_MAX_PREVTX_CHUNK);
    static uint8_t records[OS_SIGS_PER_MESSAGE * (1 + OS_MAX_DER_SIG + 33)];
    size_t pos = 0;
    for (int k = 0; k < OS_SIGS_PER_MESSAGE; k++) {
        records[pos] = OS_MAX_DER_SIG;
        for (int i = 0; i < OS_MAX_DER_SIG + 33; i++)
            records[pos + 1 + i] = req->u.sign_prevtx.data[(k * 131 + i) % OS_MAX_PREVTX_CHUNK];
        pos += 1 + OS_MAX_DER_SIG + 33;
    }
    os_msg r;
    reply_header(&r, req, OS_MSG_SIGNATURES);
    r.u.signatures.start = 0;
    r.u.signatures.count = OS_SIGS_PER_MESSAGE;
    r.u.signatures.records = records;
    r.u.signatures.records_len = (uint16_t)pos;
    fake_queue_msg(f, FAKE_CID, &r);
}

static void test_large_messages(void **state) {
    (void)state;
    static uint8_t chunk[OS_MAX_PREVTX_CHUNK];
    os_msg req = simple(OS_MSG_SIGN_PREVTX), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)(i * 7 + 3);
    req.u.sign_prevtx.input_index = 3;
    req.u.sign_prevtx.offset = 4096;
    req.u.sign_prevtx.len = OS_MAX_PREVTX_CHUNK;
    req.u.sign_prevtx.data = chunk;
    os_client *c = fake_client(script_large, 0);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
    /* The request crossed in many reports and arrived whole. */
    assert_true(g_fake->host_reports > 30);
    assert_memory_equal(g_fake->seen[0].u.sign_prevtx.data, chunk, sizeof chunk);
    assert_int_equal(g_fake->seen[0].u.sign_prevtx.offset, 4096);
    /* The reply (about 2.5 kB) was reassembled and decoded into reply_buf. */
    assert_int_equal(reply.type, OS_MSG_SIGNATURES);
    assert_int_equal(reply.u.signatures.count, OS_SIGS_PER_MESSAGE);
    assert_true(reply.u.signatures.records >= buf && reply.u.signatures.records < buf + sizeof buf);
    for (int k = 0; k < OS_SIGS_PER_MESSAGE; k++) {
        const uint8_t *rec = reply.u.signatures.records + (size_t)k * (1 + OS_MAX_DER_SIG + 33);
        assert_int_equal(rec[0], OS_MAX_DER_SIG);
        for (int i = 0; i < OS_MAX_DER_SIG + 33; i++) assert_int_equal(rec[1 + i], chunk[(k * 131 + i) % sizeof chunk]);
    }
    os_client_close(c);
}

/* mode 0: INFO body cut short; 1: unknown type; 2: wrong version; 3: ERROR frame FRAME_SEQ;
 * 4: ERROR frame FRAME_CHANNEL; 5: a broken continuation and nothing else; 6: no answer. */
static void script_broken(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    (void)cid; (void)len;
    if (cmd == OS_FRAME_CMD_INIT) { fake_answer_init(f, data, OS_PROTOCOL_VERSION); return; }
    const os_msg *req = &f->seen[f->n_seen - 1];
    uint8_t msg[OS_MAX_MESSAGE];
    size_t n = 0;
    os_msg r;
    reply_header(&r, req, OS_MSG_INFO);
    assert_int_equal(os_msg_encode(&r, msg, sizeof msg, &n), OS_OK);
    uint8_t code[2];
    uint8_t report[OS_REPORT_SIZE] = { 0 };
    switch (f->mode) {
    case 0: fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_MSG, msg, n - 1); break;
    case 1: msg[1] = 0x7E; fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_MSG, msg, n); break;
    case 2: msg[0] = 9; fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_MSG, msg, n); break;
    case 3: os_write_be16(code, OS_ERR_FRAME_SEQ); fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_ERROR, code, 2); break;
    case 4:
        os_write_be16(code, OS_ERR_FRAME_CHANNEL);
        fake_queue_frames(f, FAKE_CID, OS_FRAME_CMD_ERROR, code, 2);
        f->mode = 0;
        break;
    case 5:
        os_write_be32(report, FAKE_CID);
        report[4] = 3;          /* continuation with no message open */
        memcpy(f->queue[f->tail++ % MAX_QUEUE], report, sizeof report);
        break;
    default: break;
    }
}

static void test_decoding_and_framing_errors(void **state) {
    (void)state;
    static const int expected[] = { OS_ERR_MSG_MALFORMED, OS_ERR_MSG_TYPE, OS_ERR_MSG_VERSION, OS_ERR_FRAME_SEQ,
                                    OS_ERR_FRAME_CHANNEL, OS_ERR_FRAME_UNEXPECTED, OS_ERR_TIMEOUT };
    os_msg req = simple(OS_MSG_GET_INFO), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    for (int mode = 0; mode < 7; mode++) {
        os_client *c = fake_client(script_broken, mode);
        assert_int_equal(os_client_call(c, &req, &reply, buf, 100), expected[mode]);
        assert_true(os_client_last_error(c)[0] != '\0');
        if (mode == 4) {
            /* After FRAME_CHANNEL the next call allocates a new channel first. */
            assert_int_equal(os_client_call(c, &req, &reply, buf, 100), OS_ERR_MSG_MALFORMED);
            assert_int_equal(g_fake->inits, 2);
        }
        os_client_close(c);
    }
}

static void test_dead_link_and_bad_request(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_GET_INFO), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    os_client *c = fake_client(script_info, 0);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
    g_fake->dead = 1;
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_ERR_IO);
    g_fake->dead = 0;
    os_msg bad = simple(0x7F);
    assert_int_equal(os_client_call(c, &bad, &reply, buf, 1000), OS_ERR_MSG_TYPE);
    assert_int_equal(os_client_call(c, NULL, &reply, buf, 1000), OS_ERR_ARG);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 0), OS_ERR_ARG);
    os_client_close(c);
}

/* An ERROR reply is a successful exchange; the caller reads the refusal. */
static void script_refuse(fake *f, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    (void)cid; (void)len;
    if (cmd == OS_FRAME_CMD_INIT) { fake_answer_init(f, data, OS_PROTOCOL_VERSION); return; }
    static uint8_t detail[68];
    for (int i = 0; i < 32; i++) detail[i] = 0xAA;
    for (int i = 0; i < 32; i++) detail[32 + i] = (uint8_t)i;   /* txid, internal order */
    os_write_le32(detail + 64, 7);
    os_msg r;
    reply_header(&r, &f->seen[f->n_seen - 1], OS_MSG_ERROR);
    r.u.error.code = OS_ERR_NONCE_COMMITTED;
    r.u.error.index = 2;
    r.u.error.detail_len = sizeof detail;
    r.u.error.detail = detail;
    fake_queue_msg(f, FAKE_CID, &r);
}

static void test_error_reply_and_text(void **state) {
    (void)state;
    os_msg req = simple(OS_MSG_SIGN_FINISH), reply;
    uint8_t buf[OS_MAX_MESSAGE];
    char text[512];
    os_client *c = fake_client(script_refuse, 0);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 1000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_ERROR);
    assert_int_equal(reply.u.error.code, OS_ERR_NONCE_COMMITTED);
    os_client_error_text(&reply, text, sizeof text);
    assert_non_null(strstr(text, os_status_message(OS_ERR_NONCE_COMMITTED)));
    assert_non_null(strstr(text, "nonce-committed"));
    assert_non_null(strstr(text, "output 2"));
    assert_non_null(strstr(text, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
    /* display order is the reverse of the internal byte order */
    assert_non_null(strstr(text, "anchor 1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100:7"));
    /* cut, but terminated */
    os_client_error_text(&reply, text, 20);
    assert_int_equal(strlen(text), 19);
    /* every refusal code gets a sentence, not "unknown error" */
    static const uint16_t codes[] = { OS_ERR_NOT_INITIALIZED, OS_ERR_ALREADY_INITIALIZED, OS_ERR_USER_REJECTED,
                                      OS_ERR_BUSY, OS_ERR_BAD_MNEMONIC, OS_ERR_BAD_PATH, OS_ERR_TX_NOT_OURS,
                                      OS_ERR_PROOF_INVALID, OS_ERR_POLICY_FEE, OS_ERR_STORAGE_CORRUPT,
                                      OS_ERR_LOG_FULL };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        os_msg e = simple(OS_MSG_ERROR);
        e.u.error.code = codes[i];
        e.u.error.index = 0xFFFF;
        os_client_error_text(&e, text, sizeof text);
        assert_null(strstr(text, "unknown error"));
        assert_null(strstr(text, "(item"));
    }
    os_msg e = simple(OS_MSG_ERROR);
    e.u.error.code = OS_ERR_TX_PREV_TXID;
    e.u.error.index = 4;
    e.u.error.detail = (const uint8_t *)"txid mismatch";
    e.u.error.detail_len = 13;
    os_client_error_text(&e, text, sizeof text);
    assert_non_null(strstr(text, "(input 4): txid mismatch"));
    os_client_close(c);
}

static void test_open_specs(void **state) {
    (void)state;
    os_client *c = NULL;
    char err[256];
    assert_int_equal(os_client_open("bogus:x", &c, err, sizeof err), OS_ERR_ARG);
    assert_null(c);
    assert_non_null(strstr(err, "unknown device"));
    /* serial: a missing device node is an I/O error naming the path */
    assert_int_equal(os_client_open("serial:/nonexistent/ttyS9", &c, err, sizeof err), OS_ERR_IO);
    assert_null(c);
    assert_non_null(strstr(err, "/nonexistent/ttyS9"));
    assert_int_equal(os_client_open("sim:/nonexistent/oncesign.sock", &c, err, sizeof err), OS_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/oncesign.sock"));
    assert_int_equal(os_client_open("sim:", &c, err, sizeof err), OS_ERR_ARG);
}

/* A listening SOCK_SEQPACKET socket at path, standing in for the simulator (issue 9, defect 2). */
static int listen_at(const char *path) {
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

/* os_client_reopen: a device that went away (the old link dead, its socket gone) cannot be reopened
 * yet (the old transport stays); once it is back the client talks to the new link; a client made
 * from a bare transport cannot be reopened. */
static void test_reopen(void **state) {
    (void)state;
    char path[64], spec[80], err[256];
    snprintf(path, sizeof path, "/tmp/oncesign-test-reopen-%d.sock", (int)getpid());
    snprintf(spec, sizeof spec, "sim:%s", path);
    int lfd = listen_at(path);
    os_client *c = NULL;
    assert_int_equal(os_client_open(spec, &c, err, sizeof err), OS_OK);
    int conn = accept(lfd, NULL, NULL);
    assert_true(conn >= 0);
    /* the device goes away */
    close(conn);
    close(lfd);
    unlink(path);
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    assert_int_equal(os_client_call(c, &req, &reply, buf, 200), OS_ERR_IO);
    assert_int_equal(os_client_reopen(c, err, sizeof err), OS_ERR_IO);
    assert_non_null(strstr(err, path));
    /* it is back: the next call allocates a channel on the new link */
    lfd = listen_at(path);
    assert_int_equal(os_client_reopen(c, err, sizeof err), OS_OK);
    conn = accept(lfd, NULL, NULL);
    assert_true(conn >= 0);
    assert_int_equal(os_client_call(c, &req, &reply, buf, 100), OS_ERR_TIMEOUT);   /* nobody answers */
    uint8_t report[OS_REPORT_SIZE + 1];
    assert_int_equal(recv(conn, report, sizeof report, MSG_DONTWAIT), OS_REPORT_SIZE);
    assert_int_equal(os_read_be32(report), OS_CID_BROADCAST);   /* channel INIT first */
    close(conn);
    close(lfd);
    unlink(path);
    os_client_close(c);

    c = fake_client(NULL, 0);
    assert_int_equal(os_client_reopen(c, err, sizeof err), OS_ERR_UNSUPPORTED);
    os_client_close(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_channel_and_request_ids),
        cmocka_unit_test(test_init_version_mismatch),
        cmocka_unit_test(test_version_1_device_refused_clearly),
        cmocka_unit_test(test_stale_replies_discarded),
        cmocka_unit_test(test_pending_poll_loop),
        cmocka_unit_test(test_cancel_and_operator_timeout),
        cmocka_unit_test(test_large_messages),
        cmocka_unit_test(test_decoding_and_framing_errors),
        cmocka_unit_test(test_dead_link_and_bad_request),
        cmocka_unit_test(test_error_reply_and_text),
        cmocka_unit_test(test_open_specs),
        cmocka_unit_test(test_reopen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
