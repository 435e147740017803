/* oncesign — the signer's trust boundary against a hostile host (issue 10): what the screens show
 * before the operator approves, that an approval never outlives the session or prompt it was asked
 * for, and that setup refuses what a test-only random source must never create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"
#include "audit_log.h"
#include "board_mem.h"
#include "codec.h"
#include "bytes.h"
#include "nonce_set.h"
#include "signer_harness.h"
#include "signing.h"

#define FLASH (64u * 4096u)

static uint8_t g_buf[OS_MAX_MESSAGE];

static os_msg request(uint8_t type) {
    os_msg m;
    memset(&m, 0, sizeof m);
    m.version = OS_PROTOCOL_VERSION;
    m.type = type;
    return m;
}

/* A plain exchange; returns the reply's type, and its error code in *code when it is an ERROR. */
static uint8_t exchange(os_client *c, const os_msg *req, uint16_t *code) {
    os_msg reply;
    assert_int_equal(os_client_call(c, req, &reply, g_buf, 5000), OS_OK);
    if (code) *code = reply.type == OS_MSG_ERROR ? reply.u.error.code : 0;
    return reply.type;
}

/* Defect 1: a policy change that keeps the three caps but shortens the velocity window to 1 s and
 * raises the fee-rate cap must show both changes, old -> new; setup shows every field it sets. */
static void test_policy_and_setup_screens_show_every_field(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 101);
    os_policy p = harness_policy_open();
    board_mem_display_transcript_clear();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_assert_shown("network: regtest");
    harness_assert_shown("coins: P2PKH");
    harness_assert_shown("payout cap, MONA:\n 10000");
    harness_assert_shown("velocity cap, MONA:\n 100000");
    harness_assert_shown("velocity window, s:\n 86400");
    harness_assert_shown("fee cap, MONA:\n 1\n");
    harness_assert_shown("fee rate cap sat/kvB\n 10000000");
    harness_assert_shown("fee budget, MONA:\n 2\n");

    os_policy q = p;
    q.velocity_window_s = 1;
    q.fee_rate_cap = 20000000;
    os_msg req = request(OS_MSG_SET_POLICY), reply;
    req.u.set_policy = q;
    board_mem_display_transcript_clear();
    assert_int_equal(os_client_call_wait(c, &req, &reply, g_buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, OS_MSG_SUCCESS);
    harness_assert_shown("*velocity window, s:\n 86400\n-> 1\n");
    harness_assert_shown("*fee rate cap sat/kvB\n 10000000\n-> 20000000");
    harness_assert_shown("\nfee budget, MONA:\n 2\n-> 2\n");
    harness_assert_shown("\npayout cap, MONA:\n 10000\n-> 10000\n");   /* unchanged, unmarked, still shown */
    harness_stop();
}

/* Defect 2: a small payout to a benign address batched with an over-cap payout to the attacker:
 * both amounts and both full addresses are shown, with a count, and why the operator is asked. */
static void test_approval_screens_show_every_payout(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 102);
    os_policy p = harness_policy_open();
    p.per_payout_cap = 100000000;   /* 1 MONA */
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 1000000000, 21), OS_OK);
    os_sign_output out[3];
    harness_payout(&out[0], 1, 10000000, 1);      /* 0.1 MONA, benign */
    harness_payout(&out[1], 2, 500000000, 2);     /* 5 MONA, the attacker's */
    harness_change(&out[2], OS_SCRIPT_P2PKH, 0, 1000000000 - 510000000 - 10000);
    assert_int_equal(os_sign_sort_payouts(out, 3), OS_OK);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 3);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    board_mem_display_transcript_clear();
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    char addr[OS_MAX_ADDRESS + 1];
    uint8_t script[25];
    uint32_t dest;
    for (dest = 1; dest <= 2; dest++) {
        harness_destination(dest, script);
        assert_int_equal(address_from_script(OS_NET_REGTEST, script, sizeof script, addr, sizeof addr), OS_OK);
        /* wrapped at the display's 21 columns */
        char wrapped[OS_MAX_ADDRESS + 8];
        size_t i, n = 0;
        for (i = 0; addr[i]; i++) {
            if (i && i % 21 == 0) wrapped[n++] = '\n';
            wrapped[n++] = addr[i];
        }
        wrapped[n] = 0;
        harness_assert_shown(wrapped);
    }
    harness_assert_shown("Payout 1/2");
    harness_assert_shown("Payout 2/2");
    harness_assert_shown(" 0.1\n");
    harness_assert_shown(" 5\n");
    harness_assert_shown("a payout > payout cap");
    harness_assert_shown("fee rate sat/kvB:");
    nonce_tree_free(tree);
    harness_stop();
}

/* Defect 6: a malformed message while the operator is asked ends the session and the prompt
 * together; a press afterwards approves nothing. */
static void malformed_then_approve(void *ctx) {
    (void)ctx;
    static const uint8_t garbage[] = { OS_PROTOCOL_VERSION, 0x7F, 1, 2, 3, 4, 0xEE };
    assert_int_equal(harness_send_raw_message(garbage, sizeof garbage), OS_OK);
    harness_on_pending(NULL);
}

static void test_malformed_message_ends_the_approval(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 103);
    os_policy p = harness_policy_open();
    p.per_payout_cap = 100000000;
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 1000000000, 22), OS_OK);
    os_sign_output out[2];
    harness_payout(&out[0], 3, 500000000, 7);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 1000000000 - 500000000 - 10000);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 2);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, malformed_then_approve, NULL), OS_ERR_NO_PENDING);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_int_equal(after.log_seq, before.log_seq);
    nonce_tree_free(tree);
    harness_stop();
}

/* Defect 6: WIPE and setup end every session: signatures of a session finished before a wipe
 * are not handed out after the same seed is restored. */
static void test_wipe_and_setup_end_the_signing_session(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 104);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 100000000, 23), OS_OK);
    os_sign_output out[2];
    harness_payout(&out[0], 4, 25000000, 8);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 100000000 - 25000000 - 10000);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 2);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_OK);

    os_msg get = request(OS_MSG_SIGN_GET_SIGS), reply;
    uint16_t code = 0;
    assert_int_equal(exchange(c, &get, &code), OS_MSG_SIGNATURES);   /* the session is DONE */
    os_msg wipe = request(OS_MSG_WIPE);
    assert_int_equal(os_client_call_wait(c, &wipe, &reply, g_buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, OS_MSG_SUCCESS);
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    assert_int_equal(exchange(c, &get, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_MSG_UNEXPECTED);

    /* A WIPE the operator rejects still ends the session it interrupted. */
    harness_coin coin2;
    assert_int_equal(harness_make_coin(&coin2, OS_SCRIPT_P2PKH, 0, 2, 100000000, 24), OS_OK);
    nonce_tree_free(tree);   /* the restored device's nonce set is empty again */
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_tx tx2 = harness_tx(&coin2.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx2, sigs, &oc, NULL, NULL), OS_OK);
    assert_int_equal(exchange(c, &get, &code), OS_MSG_SIGNATURES);
    harness_set_operator(OPERATOR_REJECT);
    assert_int_equal(os_client_call_wait(c, &wipe, &reply, g_buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, OS_MSG_ERROR);
    assert_int_equal(reply.u.error.code, OS_ERR_USER_REJECTED);
    assert_int_equal(exchange(c, &get, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_MSG_UNEXPECTED);
    nonce_tree_free(tree);
    harness_stop();
}

/* Defect 6: CANCEL and a new request just before the operator presses: the press was meant for
 * the old screen and counts for nothing on the new one (it has not been shown long enough). */
static void test_cancel_and_new_request_cannot_take_a_press(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 105);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    os_msg show = request(OS_MSG_GET_ADDRESS);
    show.u.get_address.script_type = OS_SCRIPT_P2PKH;
    show.u.get_address.show = 1;
    assert_int_equal(exchange(c, &show, NULL), OS_MSG_PENDING);
    board_mem_advance_millis(2 * BOARD_PRESS_SETTLE_MS);   /* the operator reads the address */
    os_msg cancel = request(OS_MSG_CANCEL);
    assert_int_equal(exchange(c, &cancel, NULL), OS_MSG_SUCCESS);
    os_msg set = request(OS_MSG_SET_POLICY);
    set.u.set_policy = p;
    set.u.set_policy.per_payout_cap = 2 * p.per_payout_cap;
    assert_int_equal(exchange(c, &set, NULL), OS_MSG_PENDING);
    /* ... and presses approve for the address, now under the policy screen: ignored */
    board_mem_push_button(BOARD_BUTTON_APPROVE);
    os_msg poll = request(OS_MSG_POLL);
    assert_int_equal(exchange(c, &poll, NULL), OS_MSG_PENDING);
    board_mem_advance_millis(BOARD_PRESS_SETTLE_MS);
    assert_int_equal(exchange(c, &poll, NULL), OS_MSG_PENDING);
    assert_int_equal(exchange(c, &cancel, NULL), OS_MSG_SUCCESS);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.policy.per_payout_cap, p.per_payout_cap);
    harness_stop();
}

/* Defect 5: a test-only random source (the memory board's) never sets up mainnet keys. */
static void test_mainnet_setup_refused_with_test_rng(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 106);
    os_msg init = request(OS_MSG_INIT_DEVICE);
    init.u.init_device.network = OS_NET_MAIN;
    init.u.init_device.script_type = OS_SCRIPT_P2PKH;
    init.u.init_device.word_count = 12;
    init.u.init_device.policy = harness_policy_open();
    uint16_t code = 0;
    assert_int_equal(exchange(c, &init, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_TEST_RNG);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.initialized, 0);
    harness_stop();
}

/* Reads entry seq and verifies it under key, chained to prev; returns its type, hash in *hash. */
static uint8_t read_entry(os_client *c, uint64_t seq, const uint8_t key[32], const uint8_t prev[32], uint8_t hash[32],
                          uint8_t entry[OS_LOG_ENTRY_BYTES]) {
    os_msg req = request(OS_MSG_LOG_READ), reply;
    req.u.log_read.seq = seq;
    assert_int_equal(os_client_call(c, &req, &reply, g_buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_LOG_ENTRY);
    memcpy(entry, reply.u.log_entry.entry, OS_LOG_ENTRY_BYTES);
    assert_int_equal(audit_log_verify_entry(key, entry, seq, prev, hash), OS_OK);
    return entry[AUDIT_LOG_OFF_TYPE];
}

/* Defect 4: LOG_ACK, a rejected policy and a WIPE are entries; the WIPE entry of the erased log
 * stays readable until the next setup, whose SETUP entry names it. */
static void test_ack_rejection_and_wipe_are_logged(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 107);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.log_seq, 1);
    uint8_t key[32], prev[32], hash[32], entry[OS_LOG_ENTRY_BYTES];
    memcpy(key, info.attestation_pubkey, 32);
    memcpy(prev, info.log_head, 32);

    os_msg ack = request(OS_MSG_LOG_ACK);
    ack.u.log_read.seq = 1;
    assert_int_equal(exchange(c, &ack, NULL), OS_MSG_SUCCESS);
    assert_int_equal(read_entry(c, 2, key, prev, hash, entry), OS_LOG_ACK);
    assert_int_equal(os_read_le64(entry + AUDIT_LOG_OFF_PAYLOAD), 1);       /* acknowledged up to 1 */
    assert_int_equal(os_read_le64(entry + AUDIT_LOG_OFF_PAYLOAD + 8), 0);   /* nothing before */
    memcpy(prev, hash, 32);
    /* acknowledging only that entry does not log another one */
    ack.u.log_read.seq = 2;
    assert_int_equal(exchange(c, &ack, NULL), OS_MSG_SUCCESS);
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.log_seq, 2);
    assert_int_equal(info.log_acked_seq, 2);

    os_msg set = request(OS_MSG_SET_POLICY), reply;
    set.u.set_policy = p;
    set.u.set_policy.fee_cap = 2 * p.fee_cap;
    harness_set_operator(OPERATOR_REJECT);
    assert_int_equal(os_client_call_wait(c, &set, &reply, g_buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, OS_MSG_ERROR);
    assert_int_equal(read_entry(c, 3, key, prev, hash, entry), OS_LOG_APPROVAL);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD], 2);        /* a policy */
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 0);    /* rejected */
    memcpy(prev, hash, 32);

    harness_set_operator(OPERATOR_APPROVE);
    os_msg wipe = request(OS_MSG_WIPE);
    assert_int_equal(os_client_call_wait(c, &wipe, &reply, g_buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, OS_MSG_SUCCESS);
    assert_int_equal(read_entry(c, 4, key, prev, hash, entry), OS_LOG_WIPE);
    assert_int_equal(os_read_le64(entry + AUDIT_LOG_OFF_PAYLOAD), 2);   /* the host had archived up to 2 */
    uint8_t wipe_hash[32];
    memcpy(wipe_hash, hash, 32);

    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    assert_int_equal(harness_info(c, &info), OS_OK);
    static const uint8_t zero[32];
    assert_int_equal(read_entry(c, 1, info.attestation_pubkey, zero, hash, entry), OS_LOG_SETUP);
    const uint8_t *link = entry + AUDIT_LOG_OFF_PAYLOAD + 4 + OS_POLICY_BYTES + 4;
    assert_int_equal(os_read_le64(link), 4);
    assert_memory_equal(link + 8, wipe_hash, 32);
    harness_stop();
}

/* Defect 3: transactions without payouts (consolidations) need no approval, but their fees leave
 * the wallet: they count toward the velocity budget, so a host cannot pay a colluding miner the
 * fee cap again and again. */
static void test_consolidation_fees_count_toward_velocity(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 108);
    os_policy p = harness_policy_open();
    p.velocity_cap = 5000000;   /* 0.05 MONA a day */
    p.fee_cap = 1000000;        /* 0.01 MONA per transaction */
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_set_operator(OPERATOR_REJECT);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    static harness_coin coins[6];
    uint32_t i;
    for (i = 0; i < 6; i++) {
        assert_int_equal(harness_make_coin(&coins[i], OS_SCRIPT_P2PKH, 0, i, 10000000, 300 + i), OS_OK);
        os_sign_output out[1];
        harness_change(&out[0], OS_SCRIPT_P2PKH, i, 10000000 - 1000000);   /* the whole fee cap, each time */
        os_sign_tx tx = harness_tx(&coins[i].input, 1, out, 1);
        os_input_sig sigs[1];
        os_sign_outcome oc;
        int rc = os_sign_run(c, tree, &tx, sigs, &oc, harness_on_pending, NULL);
        if (i < 5) assert_int_equal(rc, OS_OK);                     /* 5 x 0.01 = the budget */
        else assert_int_equal(rc, OS_ERR_USER_REJECTED);           /* the 6th asks the operator */
    }
    harness_assert_shown("over velocity budget");
    nonce_tree_free(tree);
    harness_stop();
}

/* Defect 3, the fee budget: fees of every transaction, consolidations included, count toward a
 * budget of their own per velocity window, far below the velocity cap; exceeding it asks the
 * operator. A policy change shows it old -> new. */
static void test_fees_have_a_budget_of_their_own(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 109);
    os_policy p = harness_policy_open();
    p.velocity_cap = 1000000000;   /* 10 MONA a day: not what stops the fees */
    p.fee_cap = 1000000;           /* 0.01 MONA per transaction */
    p.fee_budget = 3000000;        /* 0.03 MONA of fees a day */
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_set_operator(OPERATOR_REJECT);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    static harness_coin coins[5];
    uint32_t i;
    board_mem_display_transcript_clear();
    for (i = 0; i < 5; i++) {
        assert_int_equal(harness_make_coin(&coins[i], OS_SCRIPT_P2PKH, 0, i, 10000000, 400 + i), OS_OK);
        os_sign_output out[2];
        size_t n_out = 1;
        if (i == 1) {   /* a payout's fee counts as well */
            harness_payout(&out[0], 7, 1000000, 77);
            harness_change(&out[1], OS_SCRIPT_P2PKH, i, 10000000 - 1000000 - 1000000);
            n_out = 2;
        } else {
            harness_change(&out[0], OS_SCRIPT_P2PKH, i, 10000000 - 1000000);   /* the whole fee cap, each time */
        }
        os_sign_tx tx = harness_tx(&coins[i].input, 1, out, n_out);
        os_input_sig sigs[1];
        os_sign_outcome oc;
        int rc = os_sign_run(c, tree, &tx, sigs, &oc, harness_on_pending, NULL);
        if (i < 3) assert_int_equal(rc, OS_OK);                     /* 3 x 0.01 = the fee budget */
        else assert_int_equal(rc, OS_ERR_USER_REJECTED);           /* then the operator is asked */
    }
    harness_assert_shown("over fee budget");
    nonce_tree_free(tree);

    os_policy q = p;
    q.fee_budget = 5000000;
    os_msg req = request(OS_MSG_SET_POLICY), reply;
    req.u.set_policy = q;
    harness_set_operator(OPERATOR_APPROVE);
    board_mem_display_transcript_clear();
    assert_int_equal(os_client_call_wait(c, &req, &reply, g_buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, OS_MSG_SUCCESS);
    harness_assert_shown("*fee budget, MONA:\n 0.03\n-> 0.05\n");
    /* A zero budget is refused like any zero cap. */
    q.fee_budget = 0;
    req.u.set_policy = q;
    uint16_t code = 0;
    assert_int_equal(exchange(c, &req, &code), OS_MSG_ERROR);
    harness_stop();
}

/* Defect 7: change goes only where a wallet restored from the seed looks: account 0, index at
 * most log_seq + 20 (docs/DECISIONS.md). */
static void test_change_beyond_the_gap_limit_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 109);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 10000000, 400), OS_OK);
    os_sign_output out[1];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 1);
    harness_change(&out[0], OS_SCRIPT_P2PKH, 0x7FFFFFFFu, 10000000 - 10000);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_TX_CHANGE);
    assert_int_equal(oc.index, 0);
    harness_change(&out[0], OS_SCRIPT_P2PKH, (uint32_t)info.log_seq + 21, 10000000 - 10000);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_TX_CHANGE);
    harness_change(&out[0], OS_SCRIPT_P2PKH, 0, 10000000 - 10000);
    out[0].change_account = 5;
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_TX_CHANGE);
    harness_change(&out[0], OS_SCRIPT_P2PKH, (uint32_t)info.log_seq + 20, 10000000 - 10000);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_OK);
    nonce_tree_free(tree);
    harness_stop();
}

/* Defect 3: a committed payout whose anchor another transaction spent is stuck; the operator can
 * re-anchor it on the device (its leaf moves to the new transaction's input 0), and the log
 * records the approval with both anchors. Without the operator, nothing moves. */
static void test_reanchor_needs_the_operator_and_is_logged(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 110);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin a, b;
    assert_int_equal(harness_make_coin(&a, OS_SCRIPT_P2PKH, 0, 1, 100000000, 501), OS_OK);
    assert_int_equal(harness_make_coin(&b, OS_SCRIPT_P2PKH, 0, 2, 100000000, 502), OS_OK);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 7, 20000000, 77);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 100000000 - 20000000 - 10000);
    os_sign_tx tx1 = harness_tx(&a.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx1, sigs, &oc, NULL, NULL), OS_OK);

    /* Anchor A was spent elsewhere: re-anchor the payout on coin B. The operator rejects first. */
    out[0].reanchor = 1;
    out[0].anchor = a.input.prevout;
    os_sign_tx tx2 = harness_tx(&b.input, 1, out, 2);
    os_msg_info before, after;
    uint8_t host_root[32];
    assert_int_equal(harness_info(c, &before), OS_OK);
    harness_set_operator(OPERATOR_REJECT);
    board_mem_display_transcript_clear();
    assert_int_equal(os_sign_run(c, tree, &tx2, sigs, &oc, harness_on_pending, NULL), OS_ERR_USER_REJECTED);
    harness_assert_shown("RE-ANCHOR of a payout");
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    nonce_tree_root(tree, host_root);
    assert_memory_equal(host_root, before.nonce_root, 32);   /* the host's tree rolled back too */

    /* Approved: the leaf moves, the log holds the approval (what 4) with both anchors, then SIGN. */
    harness_set_operator(OPERATOR_APPROVE);
    board_mem_display_transcript_clear();
    assert_int_equal(os_sign_run(c, tree, &tx2, sigs, &oc, harness_on_pending, NULL), OS_OK);
    harness_assert_shown("its anchor, spent?");
    assert_int_equal(harness_info(c, &after), OS_OK);
    nonce_tree_root(tree, host_root);
    assert_memory_equal(host_root, after.nonce_root, 32);
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    os_msg req = request(OS_MSG_LOG_READ), reply;
    req.u.log_read.seq = after.log_seq - 1;
    assert_int_equal(os_client_call(c, &req, &reply, g_buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_LOG_ENTRY);
    memcpy(entry, reply.u.log_entry.entry, sizeof entry);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVAL);
    const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
    assert_int_equal(pl[0], 4);
    assert_int_equal(pl[1], 1);
    assert_memory_equal(pl + 2, out[0].nonce, 32);
    assert_memory_equal(pl + 34, a.input.prevout.txid, 32);
    assert_memory_equal(pl + 70, b.input.prevout.txid, 32);

    /* From now on the payout's anchor is B: a replacement spending A is refused, one spending B
     * is signed; re-anchoring while spending the old anchor is not a re-anchor. */
    out[0].reanchor = 0;
    out[0].replace = 1;
    out[0].anchor = a.input.prevout;
    os_sign_tx tx3 = harness_tx(&a.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx3, sigs, &oc, NULL, NULL), OS_ERR_PROOF_INVALID);
    out[0].anchor = b.input.prevout;
    os_sign_tx tx4 = harness_tx(&b.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx4, sigs, &oc, NULL, NULL), OS_OK);
    out[0].replace = 0;
    out[0].reanchor = 1;
    assert_int_equal(os_sign_run(c, tree, &tx4, sigs, &oc, NULL, NULL), OS_ERR_PROOF_KIND);
    /* The re-anchor made B an anchor the device knows (the host's tree holds its entry, count 1):
     * a consolidation spending B is refused. */
    uint8_t b_key[32], b_value[32];
    uint16_t b_count = 0;
    assert_int_equal(nonce_set_anchor_key(&b.input.prevout, b_key), OS_OK);
    assert_int_equal(nonce_tree_get(tree, b_key, b_value), OS_OK);
    assert_int_equal(nonce_set_anchor_count(b_value, &b_count), OS_OK);
    assert_int_equal(b_count, 1);
    os_sign_output merged[1];
    harness_change(&merged[0], OS_SCRIPT_P2PKH, 1, 100000000 - 20000);
    os_sign_tx tx5 = harness_tx(&b.input, 1, merged, 1);
    assert_int_equal(os_sign_run(c, tree, &tx5, sigs, &oc, NULL, NULL), OS_ERR_ANCHOR_SPENT);
    nonce_tree_free(tree);
    harness_stop();
}

/* The REFUSE_ANCHOR entry says which anchor, at which input, how many payouts it anchors and how
 * many of them the refused transaction replaced. */
static void assert_anchor_refusal_logged(os_client *c, const os_outpoint *anchor, uint16_t input, uint16_t anchored,
                                         uint16_t replaced) {
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_REFUSE_ANCHOR);
    const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
    assert_memory_equal(pl, anchor->txid, 32);
    assert_int_equal(os_read_le32(pl + 32), anchor->vout);
    assert_int_equal(os_read_le16(pl + 36), input);
    assert_int_equal(os_read_le16(pl + 38), anchored);
    assert_int_equal(os_read_le16(pl + 40), replaced);
}

/* Issue 10: a consolidation (change outputs only) that spends the anchor of a committed,
 * unconfirmed payout would freeze that payout for good (its transactions all spend the anchor):
 * refused, whichever input the anchor is, and the refusal logged. The payout's own replacement
 * still goes through. */
static void test_consolidation_spending_an_anchor_refused_and_logged(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 111);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coins[2];
    assert_int_equal(harness_make_coin(&coins[0], OS_SCRIPT_P2PKH, 0, 1, 100000000, 601), OS_OK);
    assert_int_equal(harness_make_coin(&coins[1], OS_SCRIPT_P2PKH, 0, 2, 100000000, 602), OS_OK);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_output out[2];
    os_input_sig sigs[2];
    os_sign_outcome oc;
    harness_payout(&out[0], 7, 20000000, 71);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 100000000 - 20000000 - 10000);
    os_sign_tx payout = harness_tx(&coins[0].input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &payout, sigs, &oc, NULL, NULL), OS_OK);
    const os_outpoint anchor = coins[0].input.prevout;

    /* coin 1 first, the anchor second: every input is checked, not only input 0 */
    os_sign_input ins[2] = { coins[1].input, coins[0].input };
    os_sign_output merged[1];
    harness_change(&merged[0], OS_SCRIPT_P2PKH, 1, 200000000 - 20000);
    os_sign_tx consolidation = harness_tx(ins, 2, merged, 1);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &consolidation, sigs, &oc, NULL, NULL), OS_ERR_ANCHOR_SPENT);
    assert_int_equal(oc.index, 1);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_int_equal(after.log_seq, before.log_seq + 1);
    assert_anchor_refusal_logged(c, &anchor, 1, 1, 0);

    /* the payout's replacement (a fee bump) spends the anchor and is signed */
    out[0].replace = 1;
    out[0].anchor = anchor;
    out[1].amount -= 10000;
    assert_int_equal(os_sign_run(c, tree, &payout, sigs, &oc, NULL, NULL), OS_OK);
    uint8_t host_root[32];
    assert_int_equal(harness_info(c, &after), OS_OK);
    nonce_tree_root(tree, host_root);
    assert_memory_equal(host_root, after.nonce_root, 32);
    nonce_tree_free(tree);
    harness_stop();
}

/* Issue 10: a payout for ANOTHER nonce that spends a committed payout's anchor (the first would
 * never confirm) is refused and logged, alone and next to the committed payout's replacement. */
static void test_other_payout_spending_an_anchor_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 112);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 100000000, 611), OS_OK);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_output out[3];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 7, 20000000, 72);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 100000000 - 20000000 - 10000);
    os_sign_tx first = harness_tx(&coin.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &first, sigs, &oc, NULL, NULL), OS_OK);

    os_sign_output other[2];
    harness_payout(&other[0], 8, 30000000, 73);
    harness_change(&other[1], OS_SCRIPT_P2PKH, 0, 100000000 - 30000000 - 10000);
    os_sign_tx second = harness_tx(&coin.input, 1, other, 2);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &second, sigs, &oc, NULL, NULL), OS_ERR_ANCHOR_SPENT);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_anchor_refusal_logged(c, &coin.input.prevout, 0, 1, 0);
    uint8_t host_root[32];
    nonce_tree_root(tree, host_root);
    assert_memory_equal(host_root, before.nonce_root, 32);   /* the host took its inserts back */

    /* the committed payout replaced AND a new payout anchored at the same, already used, anchor */
    out[0].replace = 1;
    out[0].anchor = coin.input.prevout;
    os_sign_output both[3] = { out[0], other[0], other[1] };
    both[2].amount = 100000000 - 20000000 - 30000000 - 20000;
    assert_int_equal(os_sign_sort_payouts(both, 3), OS_OK);
    os_sign_tx third = harness_tx(&coin.input, 1, both, 3);
    assert_int_equal(os_sign_run(c, tree, &third, sigs, &oc, NULL, NULL), OS_ERR_ANCHOR_SPENT);
    assert_anchor_refusal_logged(c, &coin.input.prevout, 0, 1, 1);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    nonce_tree_free(tree);
    harness_stop();
}

/* Issue 10: a batch anchors all its payouts at its first input; a replacement that keeps only
 * some of them would freeze the others: refused. Replacing all of them is signed. */
static void test_partial_batch_replacement_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 113);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 100000000, 621), OS_OK);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_output out[4];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 7, 10000000, 81);
    harness_payout(&out[1], 8, 10000000, 82);
    harness_payout(&out[2], 9, 10000000, 83);
    harness_change(&out[3], OS_SCRIPT_P2PKH, 0, 100000000 - 30000000 - 10000);
    assert_int_equal(os_sign_sort_payouts(out, 4), OS_OK);
    os_sign_tx batch = harness_tx(&coin.input, 1, out, 4);
    assert_int_equal(os_sign_run(c, tree, &batch, sigs, &oc, NULL, NULL), OS_OK);

    size_t i;
    for (i = 0; i < 3; i++) {
        out[i].replace = 1;
        out[i].anchor = coin.input.prevout;
    }
    /* two of the three, the third's amount gone to change */
    os_sign_output some[3] = { out[0], out[2], out[3] };
    some[2].amount += 10000000 - 10000;
    os_sign_tx partial = harness_tx(&coin.input, 1, some, 3);
    assert_int_equal(os_sign_run(c, tree, &partial, sigs, &oc, NULL, NULL), OS_ERR_ANCHOR_SPENT);
    assert_anchor_refusal_logged(c, &coin.input.prevout, 0, 3, 2);
    out[3].amount -= 10000;
    assert_int_equal(os_sign_run(c, tree, &batch, sigs, &oc, NULL, NULL), OS_OK);
    nonce_tree_free(tree);
    harness_stop();
}

/* SIGN_INPUT for coin's input 0 of a one-input, one-output transaction, with the given anchor proof;
 * returns the reply type, the error code in *code. */
static uint8_t sign_input_with_proof(os_client *c, const harness_coin *coin, const os_nonce_proof *proof,
                                     uint16_t *code) {
    os_msg begin = request(OS_MSG_SIGN_BEGIN);
    begin.u.sign_begin.version = 2;
    begin.u.sign_begin.n_inputs = 1;
    begin.u.sign_begin.n_outputs = 1;
    assert_int_equal(exchange(c, &begin, NULL), OS_MSG_SUCCESS);
    os_msg in = request(OS_MSG_SIGN_INPUT);
    os_msg_sign_input *m = &in.u.sign_input;
    m->index = 0;
    m->prevout = coin->input.prevout;
    m->sequence = coin->input.sequence;
    m->script_type = coin->input.script_type;
    m->change = coin->input.change;
    m->addr_index = coin->input.addr_index;
    m->prev_tx_len = (uint32_t)coin->input.prev_tx_len;
    m->anchor_proof = *proof;
    return exchange(c, &in, code);
}

/* Issue 10: the host cannot hide an anchor: an absence proof for a committed anchor's key, built
 * on a tree without its entry or made from the membership proof, does not verify. */
static void test_forged_anchor_absence_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 114);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 100000000, 631), OS_OK);
    nonce_tree *tree = NULL, *hiding = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 7, 20000000, 91);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 100000000 - 20000000 - 10000);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_OK);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);

    uint8_t anchor_key[32], nonce_key[32], value[32], siblings[NONCE_PROOF_MAX_SIBLINGS * 32];
    os_nonce_proof proof;
    int present = 0;
    uint16_t code = 0;
    assert_int_equal(nonce_set_anchor_key(&coin.input.prevout, anchor_key), OS_OK);
    /* the tree a hiding host keeps: the payout's leaf without its anchor entry */
    assert_int_equal(nonce_tree_create(&hiding), OS_OK);
    assert_int_equal(nonce_set_key(out[0].nonce, nonce_key), OS_OK);
    assert_int_equal(nonce_tree_get(tree, nonce_key, value), OS_OK);
    assert_int_equal(nonce_tree_insert(hiding, nonce_key, value), OS_OK);
    assert_int_equal(nonce_tree_prove(hiding, anchor_key, &proof, siblings, &present), OS_OK);
    assert_int_equal(present, 0);
    assert_int_equal(sign_input_with_proof(c, &coin, &proof, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_PROOF_INVALID);

    /* the honest membership proof, its terminal relabelled empty */
    assert_int_equal(nonce_tree_prove(tree, anchor_key, &proof, siblings, &present), OS_OK);
    assert_int_equal(present, 1);
    uint16_t count = 0;
    assert_int_equal(nonce_set_anchor_count(proof.leaf_value, &count), OS_OK);
    assert_int_equal(count, 1);
    os_nonce_proof forged = proof;
    forged.terminal_is_leaf = 0;
    assert_int_equal(sign_input_with_proof(c, &coin, &forged, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_PROOF_INVALID);
    /* the membership proof itself is taken (and the transaction then must replace the payout) */
    assert_int_equal(sign_input_with_proof(c, &coin, &proof, &code), OS_MSG_SUCCESS);
    os_msg cancel = request(OS_MSG_CANCEL);
    assert_int_equal(exchange(c, &cancel, NULL), OS_MSG_SUCCESS);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_int_equal(after.log_seq, before.log_seq);
    nonce_tree_free(hiding);
    nonce_tree_free(tree);
    harness_stop();
}

/* A host of protocol version 1 (before SIGN_BEGIN carried n_anchored, SIGN_INPUT its anchor proof,
 * and the issuer and operator messages existed) talking to this firmware: the device announces
 * version 2 on INIT and answers every version-1 request MSG_VERSION, before reading the body, so the
 * operator reads "protocol version", never a malformed message of a layout the old host never sent. */
static void test_version_1_host_gets_msg_version(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 112);
    os_policy pol = harness_policy_open();
    assert_int_equal(harness_init_device(c, &pol, OS_SCRIPT_P2PKH), OS_OK);

    /* version 1's SIGN_BEGIN: version u32, locktime u32, n_inputs u16, n_outputs u16 (no n_anchored) */
    static const uint8_t old_sign_begin[] = { 1, OS_MSG_SIGN_BEGIN, 9, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0 };
    static const uint8_t old_get_info[] = { 1, OS_MSG_GET_INFO, 10, 0, 0, 0 };
    const uint8_t *asks[] = { old_sign_begin, old_get_info };
    const size_t lens[] = { sizeof old_sign_begin, sizeof old_get_info };
    for (size_t i = 0; i < 2; i++) {
        uint8_t answer[OS_MAX_MESSAGE];
        size_t len = 0;
        os_msg reply;
        assert_int_equal(harness_exchange_raw_message(asks[i], lens[i], answer, sizeof answer, &len), OS_OK);
        assert_int_equal(os_msg_decode(answer, len, &reply), OS_OK);
        assert_int_equal(reply.type, OS_MSG_ERROR);
        assert_int_equal(reply.request_id, 9 + i);
        assert_int_equal(reply.u.error.code, OS_ERR_MSG_VERSION);
        assert_int_equal(reply.version, 2);
    }
    /* a host of this version still gets its answers, and the device names its version */
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.protocol_version, 2);
    harness_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_and_setup_screens_show_every_field),
        cmocka_unit_test(test_approval_screens_show_every_payout),
        cmocka_unit_test(test_malformed_message_ends_the_approval),
        cmocka_unit_test(test_version_1_host_gets_msg_version),
        cmocka_unit_test(test_wipe_and_setup_end_the_signing_session),
        cmocka_unit_test(test_cancel_and_new_request_cannot_take_a_press),
        cmocka_unit_test(test_mainnet_setup_refused_with_test_rng),
        cmocka_unit_test(test_ack_rejection_and_wipe_are_logged),
        cmocka_unit_test(test_consolidation_fees_count_toward_velocity),
        cmocka_unit_test(test_fees_have_a_budget_of_their_own),
        cmocka_unit_test(test_change_beyond_the_gap_limit_refused),
        cmocka_unit_test(test_reanchor_needs_the_operator_and_is_logged),
        cmocka_unit_test(test_consolidation_spending_an_anchor_refused_and_logged),
        cmocka_unit_test(test_other_payout_spending_an_anchor_refused),
        cmocka_unit_test(test_partial_batch_replacement_refused),
        cmocka_unit_test(test_forged_anchor_absence_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
