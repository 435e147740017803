/* oncesign tests — in-process signer harness. See signer_harness.h. */
#include "signer_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"
#include "bip32.h"
#include "bip39.h"
#include "board_mem.h"
#include "bytes.h"
#include "crypto.h"
#include "frame.h"
#include "signer.h"
#include "tx.h"

static os_client *g_client;
static uint32_t g_client_cid;       /* the channel the client last sent on */
static int g_cut;
static harness_operator g_operator = OPERATOR_APPROVE;
typedef struct {
    os_transport base;
} inproc_transport;

static jmp_buf g_cut_jump;

/* Runs the signer once; a power cut inside it kills the "device" for good. The cut stays armed
 * across steps (board_mem_run_until_cut would disarm it after each step that did not fire). */
/* The operator at work: from harness_on_pending until the host sends its next request (not a
 * POLL), presses g_operator's button on every new screen once it has settled. */
static int g_operator_at_work;
static uint32_t g_operator_last_screen;

static void operator_act(void) {
    if (!g_operator_at_work || g_operator == OPERATOR_ABSENT) return;
    uint32_t screen = board_mem_display_count();
    if (screen == g_operator_last_screen) return;
    g_operator_last_screen = screen;
    board_mem_advance_millis(BOARD_PRESS_SETTLE_MS);   /* boards/board.h: the operator reads first */
    board_mem_push_button(g_operator == OPERATOR_APPROVE ? BOARD_BUTTON_APPROVE : BOARD_BUTTON_REJECT);
}

static void device_step(void) {
    if (g_cut) return;
    operator_act();
    board_mem_on_power_cut(&g_cut_jump);
    if (setjmp(g_cut_jump) == 0) {
        (void)signer_poll(0);
    } else {
        g_cut = 1;
    }
}

static int inproc_send(os_transport *t, const uint8_t report[OS_REPORT_SIZE]) {
    (void)t;
    if (g_cut) return OS_ERR_IO;
    uint32_t cid = ((uint32_t)report[0] << 24) | ((uint32_t)report[1] << 16) | ((uint32_t)report[2] << 8) | report[3];
    if (cid != OS_CID_BROADCAST) g_client_cid = cid;
    /* A new request (the init report of a message other than POLL) ends the operator's turn. */
    if ((report[4] & 0x80u) && report[4] == OS_FRAME_CMD_MSG && report[OS_FRAME_INIT_HEADER + 1] != OS_MSG_POLL)
        g_operator_at_work = 0;
    if (board_mem_push_report(report) != 0) return OS_ERR_IO;
    device_step();
    return g_cut ? OS_ERR_IO : OS_OK;
}

static int inproc_recv(os_transport *t, uint8_t report[OS_REPORT_SIZE], int timeout_ms) {
    (void)t;
    (void)timeout_ms;
    if (g_cut) return OS_ERR_IO;
    if (board_mem_pop_report(report)) return 1;
    device_step();   /* lets the signer see a button pressed meanwhile */
    if (g_cut) return OS_ERR_IO;
    return board_mem_pop_report(report) ? 1 : 0;
}

static void inproc_close(os_transport *t) { free(t); }

static os_client *connect_client(void) {
    inproc_transport *t = calloc(1, sizeof *t);
    if (t == NULL) abort();
    t->base.send = inproc_send;
    t->base.recv = inproc_recv;
    t->base.close = inproc_close;
    strcpy(t->base.description, "inproc");
    if (os_client_open_transport(&t->base, &g_client) != OS_OK) abort();
    /* A test that forgets to press a button fails instead of hanging. */
    os_client_set_operator_timeout(g_client, 10000);
    return g_client;
}

static void boot_device(void) {
    g_cut = 0;
    board_mem_on_power_cut(&g_cut_jump);
    if (setjmp(g_cut_jump) == 0) {
        (void)signer_boot();
    } else {
        g_cut = 1;
    }
}

os_client *harness_start(uint32_t flash_size, uint64_t random_seed) {
    harness_stop();
    board_mem_reset(flash_size, 4096);
    board_mem_seed_random(random_seed);
    g_operator = OPERATOR_APPROVE;
    g_operator_at_work = 0;
    boot_device();
    return connect_client();
}

void harness_stop(void) {
    if (g_client) os_client_close(g_client);
    g_client = NULL;
}

os_client *harness_reboot(void) {
    harness_stop();
    /* Reports in flight die with the power. */
    uint8_t drop[OS_REPORT_SIZE];
    while (board_mem_pop_report(drop)) {}
    boot_device();
    return connect_client();
}

int harness_power_was_cut(void) { return g_cut; }

int harness_exchange_raw_message(const uint8_t *body, size_t len, uint8_t *answer, size_t cap, size_t *answer_len) {
    os_frame_tx tx;
    static os_frame_rx rx;
    uint8_t report[OS_REPORT_SIZE];
    int rc = os_frame_tx_init(&tx, g_client_cid, OS_FRAME_CMD_MSG, body, len);
    if (rc != OS_OK) return rc;
    while (os_frame_tx_next(&tx, report) == 1) {
        if (board_mem_push_report(report) != 0) return OS_ERR_IO;
        device_step();
    }
    if (answer_len != NULL) *answer_len = 0;
    os_frame_rx_init(&rx);
    while (board_mem_pop_report(report)) {
        int complete = 0;
        if (answer == NULL || os_frame_rx_feed(&rx, report, &complete) != OS_OK || !complete) continue;
        if (rx.cmd != OS_FRAME_CMD_MSG || rx.length > cap) return OS_ERR_MSG_UNEXPECTED;
        memcpy(answer, rx.data, rx.length);
        *answer_len = rx.length;
    }
    if (g_cut) return OS_ERR_IO;
    return answer == NULL || *answer_len > 0 ? OS_OK : OS_ERR_MSG_UNEXPECTED;
}

int harness_send_raw_message(const uint8_t *body, size_t len) {
    return harness_exchange_raw_message(body, len, NULL, 0, NULL);
}

void harness_set_operator(harness_operator op) { g_operator = op; }

void harness_on_pending(void *ctx) {
    (void)ctx;
    g_operator_at_work = 1;
    g_operator_last_screen = UINT32_MAX;
    operator_act();
}

os_policy harness_policy_open(void) {
    os_policy p;
    p.per_payout_cap = 1000000000000ull;
    p.velocity_cap = 10000000000000ull;
    p.velocity_window_s = 86400;
    p.fee_cap = 100000000ull;
    p.fee_rate_cap = 10000000ull;
    p.fee_budget = 200000000ull;
    return p;
}

static void press_on_each_pending(void *ctx) {
    (void)ctx;
    harness_on_pending(NULL);
}

int harness_init_device(os_client *c, const os_policy *policy, uint8_t script_type) {
    return harness_restore_device(c, policy, script_type, HARNESS_MNEMONIC);
}

int harness_restore_device(os_client *c, const os_policy *policy, uint8_t script_type, const char *mnemonic) {
    os_msg req, reply;
    static uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_INIT_DEVICE;
    req.u.init_device.network = OS_NET_REGTEST;
    req.u.init_device.script_type = script_type;
    req.u.init_device.restore = 1;
    req.u.init_device.policy = *policy;
    req.u.init_device.mnemonic = (const uint8_t *)mnemonic;
    req.u.init_device.mnemonic_len = (uint16_t)strlen(mnemonic);
    /* os_client_call_wait calls on_pending once; a restore needs one press. */
    int rc = os_client_call_wait(c, &req, &reply, buf, 5000, press_on_each_pending, NULL);
    if (rc != OS_OK) return rc;
    if (reply.type == OS_MSG_ERROR) return reply.u.error.code;
    return reply.type == OS_MSG_SUCCESS ? OS_OK : OS_ERR_MSG_UNEXPECTED;
}

int harness_info(os_client *c, os_msg_info *info) {
    os_msg req, reply;
    static uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_GET_INFO;
    int rc = os_client_call(c, &req, &reply, buf, 5000);
    if (rc != OS_OK) return rc;
    if (reply.type == OS_MSG_ERROR) return reply.u.error.code;
    if (reply.type != OS_MSG_INFO) return OS_ERR_MSG_UNEXPECTED;
    *info = reply.u.info;
    return OS_OK;
}

/* One LOG_READ or LOG_ACK of seq; OS_OK when the answer is of type want. */
static int log_call(os_client *c, uint8_t type, uint64_t seq, uint8_t want, os_msg *reply) {
    os_msg req;
    static uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = type;
    req.u.log_read.seq = seq;
    int rc = os_client_call(c, &req, reply, buf, 5000);
    if (rc != OS_OK) return rc;
    if (reply->type == want) return OS_OK;
    if (reply->type == OS_MSG_ERROR && reply->u.error.code != OS_OK) return reply->u.error.code;
    return OS_ERR_MSG_UNEXPECTED;
}

int harness_log_read(os_client *c, uint64_t seq, os_msg *reply) {
    return log_call(c, OS_MSG_LOG_READ, seq, OS_MSG_LOG_ENTRY, reply);
}

int harness_log_ack(os_client *c, uint64_t seq) {
    os_msg reply;
    return log_call(c, OS_MSG_LOG_ACK, seq, OS_MSG_SUCCESS, &reply);
}

static int derive(uint8_t script_type, uint8_t change, uint32_t index, uint8_t pub[33]) {
    uint8_t seed[64];
    uint32_t path[5];
    bip32_node master, node;
    int rc = bip39_seed(HARNESS_MNEMONIC, strlen(HARNESS_MNEMONIC), NULL, seed);
    if (rc == OS_OK) rc = address_account_path(OS_NET_REGTEST, script_type, 0, path);
    path[3] = change;
    path[4] = index;
    if (rc == OS_OK) rc = bip32_from_seed(seed, sizeof seed, &master);
    if (rc == OS_OK) rc = bip32_derive_path(&master, path, 5, &node);
    if (rc == OS_OK) memcpy(pub, node.public_key, 33);
    bip32_wipe(&master);
    bip32_wipe(&node);
    return rc;
}

int harness_script(uint8_t script_type, uint8_t change, uint32_t index, uint8_t *script, size_t *len) {
    uint8_t pub[33];
    int rc = derive(script_type, change, index, pub);
    if (rc != OS_OK) return rc;
    return script_for_pubkey(script_type, pub, script, 25, len);
}

int harness_make_coin(harness_coin *coin, uint8_t script_type, uint8_t change, uint32_t index, uint64_t amount,
                      uint32_t salt) {
    uint8_t script[25];
    size_t script_len = 0;
    memset(coin, 0, sizeof *coin);
    int rc = harness_script(script_type, change, index, script, &script_len);
    if (rc != OS_OK) return rc;
    uint8_t *p = coin->prev_tx;
    os_write_le32(p, 2); p += 4;
    *p++ = 1;                                   /* one input from nowhere in particular */
    memset(p, 0, 32);
    os_write_le32(p, salt);
    p += 32;
    os_write_le32(p, salt ^ 0x5a5a5a5au); p += 4;
    *p++ = 0;                                   /* empty scriptSig */
    os_write_le32(p, 0xffffffffu); p += 4;
    *p++ = 1;                                   /* one output: ours */
    os_write_le64(p, amount); p += 8;
    *p++ = (uint8_t)script_len;
    memcpy(p, script, script_len); p += script_len;
    os_write_le32(p, 0); p += 4;
    coin->prev_tx_len = (size_t)(p - coin->prev_tx);
    coin->amount = amount;
    crypto_sha256d(coin->prev_tx, coin->prev_tx_len, coin->input.prevout.txid);
    coin->input.prevout.vout = 0;
    coin->input.sequence = 0xfffffffdu;
    coin->input.script_type = script_type;
    coin->input.account = 0;
    coin->input.change = change;
    coin->input.addr_index = index;
    coin->input.prev_tx = coin->prev_tx;
    coin->input.prev_tx_len = coin->prev_tx_len;
    return OS_OK;
}

void harness_destination(uint32_t n, uint8_t script[25]) {
    script[0] = 0x76; script[1] = 0xa9; script[2] = 0x14;
    memset(script + 3, 0, 20);
    os_write_le32(script + 3, n);
    script[3 + 16] = 0xd5;
    script[23] = 0x88; script[24] = 0xac;
}

void harness_payout(os_sign_output *o, uint32_t dest, uint64_t amount, uint32_t nonce_id) {
    memset(o, 0, sizeof *o);
    o->kind = OS_OUTPUT_PAYOUT;
    o->amount = amount;
    harness_destination(dest, o->script);
    o->script_len = 25;
    os_write_le32(o->nonce, nonce_id);
    o->nonce[31] = 0x4e;
}

void harness_change(os_sign_output *o, uint8_t script_type, uint32_t index, uint64_t amount) {
    size_t len = 0;
    memset(o, 0, sizeof *o);
    o->kind = OS_OUTPUT_CHANGE;
    o->amount = amount;
    o->change_script_type = script_type;
    o->change_account = 0;
    o->change_index = index;
    if (harness_script(script_type, 1, index, o->script, &len) != OS_OK) abort();
    o->script_len = (uint8_t)len;
}

os_sign_tx harness_tx(const os_sign_input *in, size_t n_in, const os_sign_output *out, size_t n_out) {
    os_sign_tx tx;
    memset(&tx, 0, sizeof tx);
    tx.version = 2;
    tx.locktime = 0;
    tx.inputs = in;
    tx.n_inputs = n_in;
    tx.outputs = out;
    tx.n_outputs = n_out;
    return tx;
}

void harness_one_payout_make(harness_one_payout *p, uint32_t dest, uint64_t amount, uint32_t nonce_id, uint32_t salt) {
    memset(p, 0, sizeof *p);
    assert_int_equal(harness_make_coin(&p->coin, OS_SCRIPT_P2PKH, 0, 1, 100000000, salt), OS_OK);
    harness_payout(&p->out[0], dest, amount, nonce_id);
    harness_change(&p->out[1], OS_SCRIPT_P2PKH, 0, 100000000 - amount - 10000);
    p->tx = harness_tx(&p->coin.input, 1, p->out, 2);
    p->tx.approvals = p->approvals;
}

os_client *harness_start_initialized(uint32_t flash_size, uint64_t random_seed, uint8_t attestation[32],
                                     nonce_tree **tree) {
    os_client *c = harness_start(flash_size, random_seed);
    os_policy policy = harness_policy_open();
    assert_int_equal(harness_init_device(c, &policy, OS_SCRIPT_P2PKH), OS_OK);
    if (attestation != NULL) {
        os_msg_info info;
        assert_int_equal(harness_info(c, &info), OS_OK);
        memcpy(attestation, info.attestation_pubkey, 32);
    }
    if (tree != NULL) {
        *tree = NULL;
        assert_int_equal(nonce_tree_create(tree), OS_OK);
    }
    return c;
}

void harness_xonly(const uint8_t priv[32], uint8_t out[32]) {
    assert_int_equal(crypto_xonly_from_priv(priv, out), OS_OK);
}

void harness_assert_shown(const char *needle) {
    if (strstr(board_mem_display_transcript(), needle) == NULL)
        fail_msg("not shown: \"%s\"; the screens were:\n%s", needle, board_mem_display_transcript());
}

void harness_newest_entry(os_client *c, uint8_t entry[OS_LOG_ENTRY_BYTES], uint64_t *seq) {
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    os_msg reply;
    assert_int_equal(harness_log_read(c, info.log_seq, &reply), OS_OK);
    memcpy(entry, reply.u.log_entry.entry, OS_LOG_ENTRY_BYTES);
    if (seq) *seq = info.log_seq;
}

/* A registration: the operator presses on its screens as configured. */
static uint8_t registration(os_client *c, os_msg *req, uint16_t *code) {
    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg reply;
    req->version = OS_PROTOCOL_VERSION;
    assert_int_equal(os_client_call_wait(c, req, &reply, buf, 5000, harness_on_pending, NULL), OS_OK);
    if (code) *code = reply.type == OS_MSG_ERROR ? reply.u.error.code : 0;
    return reply.type;
}

uint8_t harness_set_issuers(os_client *c, uint8_t flags, const uint8_t *keys, uint8_t n, uint16_t *code) {
    os_msg req = { .type = OS_MSG_SET_ISSUERS, .u.set_issuers = { .flags = flags, .n_issuers = n, .keys = keys } };
    return registration(c, &req, code);
}

uint8_t harness_set_operators(os_client *c, uint8_t k, const uint8_t *keys, uint8_t n, uint64_t threshold,
                              uint16_t *code) {
    os_msg req = { .type = OS_MSG_SET_OPERATORS,
                   .u.set_operators = { .k = k, .n_operators = n, .threshold = threshold, .keys = keys } };
    return registration(c, &req, code);
}
