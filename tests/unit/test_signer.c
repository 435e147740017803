/* oncesign — the signer core end to end, in-process: setup, keys, signing each script type, the
 * refusals that keep I1 and I4, the operator's decisions, and the audit log's chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "address.h"
#include "audit_log.h"
#include "bip32.h"
#include "bip39.h"
#include "board_mem.h"
#include "bytes.h"
#include "crypto.h"
#include "draft.h"
#include "nonce_set.h"
#include "signer_harness.h"
#include "signing.h"

#define FLASH (64u * 4096u)




static nonce_tree *new_tree(void) {
    nonce_tree *t = NULL;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    return t;
}

static void test_blank_device_answers_info(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 1);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.initialized, 0);
    assert_int_equal(info.log_seq, 0);
    assert_int_equal(info.protocol_version, OS_PROTOCOL_VERSION);
    harness_stop();
}

static void test_init_persists_across_reboot(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 2);
    os_policy p = harness_policy_open();
    os_msg_info info;
    uint8_t zero[32] = { 0 };
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.initialized, 1);
    assert_int_equal(info.log_seq, 1);   /* SETUP */
    assert_memory_equal(info.nonce_root, zero, 32);
    assert_int_equal(info.policy.per_payout_cap, p.per_payout_cap);
    c = harness_reboot();
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.initialized, 1);
    assert_int_equal(info.log_seq, 2);   /* BOOT */
    /* a second init is refused */
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_ERR_ALREADY_INITIALIZED);
    harness_stop();
}

/* A signed 1-input transaction: a payout (nonce 1) and change, both of the script type. The
 * transaction points into the struct: keep it where it is. */
typedef struct {
    harness_coin coin;
    os_sign_output out[2];
    os_sign_tx tx;
    os_input_sig sigs[1];
    os_sign_outcome outcome;
} payout_with_change;

static void sign_payout_with_change(os_client *c, nonce_tree *tree, uint8_t script_type, payout_with_change *s) {
    assert_int_equal(harness_make_coin(&s->coin, script_type, 0, 3, 100000000, 7), OS_OK);
    harness_payout(&s->out[0], 1, 25000000, 1);
    harness_change(&s->out[1], script_type, 0, 100000000 - 25000000 - 10000);
    s->tx = harness_tx(&s->coin.input, 1, s->out, 2);
    assert_int_equal(os_sign_run(c, tree, &s->tx, s->sigs, &s->outcome, harness_on_pending, NULL), OS_OK);
}

/* Signs 1-in, payout + change for a script type and checks the signatures with the host's code. */
static void sign_one(uint8_t script_type) {
    os_client *c = harness_start(FLASH, 10 + script_type);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, script_type), OS_OK);
    nonce_tree *tree = new_tree();
    payout_with_change signed_tx;
    sign_payout_with_change(c, tree, script_type, &signed_tx);
    const os_sign_tx tx = signed_tx.tx;
    const os_input_sig *sigs = signed_tx.sigs;
    const os_sign_outcome outcome = signed_tx.outcome;
    size_t bad = 99;
    assert_int_equal(os_sign_verify(&tx, sigs, &bad), OS_OK);
    os_msg_info info;
    uint8_t root[32];
    nonce_tree_root(tree, root);
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_memory_equal(info.nonce_root, root, 32);
    assert_int_equal(outcome.log_seq, info.log_seq);
    uint8_t raw[1024], txid[32];
    size_t raw_len = 0;
    assert_int_equal(os_sign_serialize(&tx, sigs, raw, sizeof raw, &raw_len, txid), OS_OK);
    assert_true(raw_len > 100);
    nonce_tree_free(tree);
    harness_stop();
}

static void test_sign_p2pkh(void **state) { (void)state; sign_one(OS_SCRIPT_P2PKH); }
static void test_sign_p2sh_p2wpkh(void **state) { (void)state; sign_one(OS_SCRIPT_P2SH_P2WPKH); }
static void test_sign_p2wpkh(void **state) { (void)state; sign_one(OS_SCRIPT_P2WPKH); }

/* I1: after nonce N is committed with anchor A, only transactions spending A are signed for N. */
static void test_committed_nonce_refused_unless_conflicting(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 20);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin a, b;
    assert_int_equal(harness_make_coin(&a, OS_SCRIPT_P2PKH, 0, 1, 50000000, 1), OS_OK);
    assert_int_equal(harness_make_coin(&b, OS_SCRIPT_P2PKH, 0, 2, 50000000, 2), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[2];
    os_input_sig sigs[2], sigs2[2];
    os_sign_outcome oc;

    harness_payout(&out[0], 9, 10000000, 77);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 50000000 - 10000000 - 5000);
    os_sign_tx tx1 = harness_tx(&a.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx1, sigs, &oc, NULL, NULL), OS_OK);

    /* The same payout from coin B, honestly marked as a replacement of anchor A: refused, and the
     * refusal names the committed anchor. */
    os_sign_output rep[2];
    memcpy(rep, out, sizeof rep);
    rep[0].replace = 1;
    rep[0].anchor = a.input.prevout;
    os_sign_tx tx2 = harness_tx(&b.input, 1, rep, 2);
    assert_int_equal(os_sign_run(c, tree, &tx2, sigs2, &oc, NULL, NULL), OS_ERR_NONCE_COMMITTED);
    assert_int_equal(oc.detail_len, 68);
    assert_memory_equal(oc.detail + 32, a.input.prevout.txid, 32);

    /* A host whose ledger was rolled back (empty tree) offers it as new: the proof cannot match. */
    nonce_tree *stale = new_tree();
    os_sign_tx tx3 = harness_tx(&b.input, 1, out, 2);
    int rc = os_sign_run(c, stale, &tx3, sigs2, &oc, NULL, NULL);
    assert_int_equal(rc, OS_ERR_PROOF_INVALID);
    assert_int_equal(nonce_tree_count(stale), 0);   /* rolled back after the refusal */

    /* A replacement that spends the anchor (plus B) with a higher fee is fine. */
    os_sign_input both[2] = { b.input, a.input };
    os_sign_output bump[2];
    memcpy(bump, rep, sizeof bump);
    bump[1].amount = 100000000 - 10000000 - 20000;
    os_sign_tx tx4 = harness_tx(both, 2, bump, 2);
    assert_int_equal(os_sign_run(c, tree, &tx4, sigs2, &oc, NULL, NULL), OS_OK);

    /* The identical first transaction again (a retry): identical signatures. */
    os_sign_tx tx5 = harness_tx(&a.input, 1, rep, 2);
    assert_int_equal(os_sign_run(c, tree, &tx5, sigs2, &oc, NULL, NULL), OS_OK);
    assert_int_equal(sigs2[0].sig_len, sigs[0].sig_len);
    assert_memory_equal(sigs2[0].sig, sigs[0].sig, sigs[0].sig_len);

    /* A replacement paying another amount: the leaf does not match the proof. */
    rep[0].amount += 1;
    os_sign_tx tx6 = harness_tx(&a.input, 1, rep, 2);
    assert_int_equal(os_sign_run(c, tree, &tx6, sigs2, &oc, NULL, NULL), OS_ERR_PROOF_INVALID);

    nonce_tree_free(stale);
    nonce_tree_free(tree);
    harness_stop();
}

/* The 2020 segwit fee attack: a host that lies about an input's amount in two sessions. The device
 * takes amounts from the previous transaction, whose txid it recomputes: both lies are caught. */
static void test_segwit_fee_attack_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 30);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2WPKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2WPKH, 0, 0, 20000000, 5), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[1];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 3, 15000000, 5);
    /* amount field of the only output: after version(4) in-count(1) input(41) out-count(1) */
    size_t amount_at = 4 + 1 + 41 + 1;
    uint64_t lies[2] = { 30000000, 15010000 };
    int i;
    for (i = 0; i < 2; i++) {
        harness_coin lie = coin;
        lie.input.prev_tx = lie.prev_tx;
        os_write_le64(lie.prev_tx + amount_at, lies[i]);
        os_sign_tx tx = harness_tx(&lie.input, 1, out, 1);
        assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_TX_PREV_TXID);
        assert_int_equal(oc.index, 0);
    }
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    uint8_t zero[32] = { 0 };
    assert_memory_equal(info.nonce_root, zero, 32);
    nonce_tree_free(tree);
    harness_stop();
}

static void test_input_not_ours_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 31);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 4, 20000000, 6), OS_OK);
    coin.input.addr_index = 5;   /* the coin pays index 4 */
    nonce_tree *tree = new_tree();
    os_sign_output out[1];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 3, 15000000, 6);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 1);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_TX_NOT_OURS);
    nonce_tree_free(tree);
    harness_stop();
}

static void test_change_of_other_script_type_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 32);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 4, 20000000, 8), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 3, 15000000, 8);
    harness_change(&out[1], OS_SCRIPT_P2WPKH, 0, 4000000);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_TX_CHANGE);
    assert_int_equal(nonce_tree_count(tree), 0);
    nonce_tree_free(tree);
    harness_stop();
}

static void test_payout_order_and_duplicates(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 33);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 4, 20000000, 9), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[4];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 3, 1000000, 100);
    harness_payout(&out[1], 4, 1000000, 101);
    harness_payout(&out[2], 5, 1000000, 100);
    harness_change(&out[3], OS_SCRIPT_P2PKH, 0, 20000000 - 3000000 - 5000);
    assert_int_equal(os_sign_sort_payouts(out, 4), OS_ERR_NONCE_ORDER);
    harness_payout(&out[2], 5, 1000000, 102);
    assert_int_equal(os_sign_sort_payouts(out, 4), OS_OK);
    /* swap the first two: now out of key order */
    os_sign_output tmp = out[0];
    out[0] = out[1];
    out[1] = tmp;
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 4);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_NONCE_ORDER);
    assert_int_equal(nonce_tree_count(tree), 0);
    assert_int_equal(os_sign_sort_payouts(out, 4), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_OK);
    assert_int_equal(nonce_tree_count(tree), 3 + 1);   /* and the anchor entry of the coin */
    nonce_tree_free(tree);
    harness_stop();
}

/* I4: over the per-payout cap the operator decides on the device. */
static void test_operator_approves_and_rejects(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 40);
    os_policy p = harness_policy_open();
    p.per_payout_cap = 1000000;
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin a, b;
    assert_int_equal(harness_make_coin(&a, OS_SCRIPT_P2PKH, 0, 1, 50000000, 11), OS_OK);
    assert_int_equal(harness_make_coin(&b, OS_SCRIPT_P2PKH, 0, 2, 50000000, 12), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[1];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    os_msg_info before, after;

    harness_payout(&out[0], 1, 40000000, 200);
    os_sign_tx tx = harness_tx(&a.input, 1, out, 1);
    assert_int_equal(harness_info(c, &before), OS_OK);
    harness_set_operator(OPERATOR_REJECT);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, harness_on_pending, NULL), OS_ERR_USER_REJECTED);
    assert_int_equal(nonce_tree_count(tree), 0);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_int_equal(after.log_seq, before.log_seq + 1);   /* the rejection is logged */

    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    size_t bad;
    assert_int_equal(os_sign_verify(&tx, sigs, &bad), OS_OK);

    /* a small payout needs nobody */
    harness_set_operator(OPERATOR_REJECT);
    harness_payout(&out[0], 2, 900000, 201);
    os_sign_tx small = harness_tx(&b.input, 1, out, 1);
    /* no change: a 0.491 MONA fee is far above the fee-rate cap, so the operator is asked and rejects */
    assert_int_equal(os_sign_run(c, tree, &small, sigs, &oc, harness_on_pending, NULL), OS_ERR_USER_REJECTED);
    os_sign_output two[2];
    harness_payout(&two[0], 2, 900000, 201);
    harness_change(&two[1], OS_SCRIPT_P2PKH, 0, 50000000 - 900000 - 3000);
    os_sign_tx fair = harness_tx(&b.input, 1, two, 2);
    assert_int_equal(os_sign_run(c, tree, &fair, sigs, &oc, harness_on_pending, NULL), OS_OK);
    nonce_tree_free(tree);
    harness_stop();
}

/* I5: every entry the device wrote verifies against its attestation key and chains to the head. */
static void test_log_chain_verifies(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 50);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, 1, 50000000, 13), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[1];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 1, 49990000, 300);
    os_sign_tx tx = harness_tx(&coin.input, 1, out, 1);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_OK);
    c = harness_reboot();
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(info.log_seq, 3);   /* SETUP, SIGN, BOOT */
    uint8_t prev[32] = { 0 };
    uint64_t seq;
    for (seq = 1; seq <= info.log_seq; seq++) {
        os_msg reply;
        uint8_t hash[32];
        assert_int_equal(harness_log_read(c, seq, &reply), OS_OK);
        assert_int_equal(audit_log_verify_entry(info.attestation_pubkey, reply.u.log_entry.entry, seq, prev, hash),
                         OS_OK);
        if (seq == 2) {
            assert_int_equal(reply.u.log_entry.entry[1], OS_LOG_SIGN);
            /* root_after in the SIGN payload is the root the device reported */
            assert_memory_equal(reply.u.log_entry.entry + 56 + 64, oc.nonce_root, 32);
        }
        memcpy(prev, hash, 32);
    }
    assert_memory_equal(prev, info.log_head, 32);
    nonce_tree_free(tree);
    harness_stop();
}

/* The payload of log entry seq (a SIGN entry), read back from the device. */
static void read_sign_payload(os_client *c, uint64_t seq, uint8_t payload[OS_LOG_ENTRY_BYTES]) {
    os_msg req, reply;
    static uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_LOG_READ;
    req.u.log_read.seq = seq;
    assert_int_equal(os_client_call(c, &req, &reply, buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_LOG_ENTRY);
    assert_int_equal(reply.u.log_entry.entry[1], OS_LOG_SIGN);
    memcpy(payload, reply.u.log_entry.entry + 56, OS_LOG_ENTRY_BYTES - 56);
}

/* A hostile host signs the same payout four times, the transactions differing only in version,
 * locktime or an input's sequence (each spends the payout's anchor, so each is an allowed
 * replacement). hashPrevouts and hashOutputs are the same for all four, so an entry that recorded
 * only those could not say which of them the device signed: each SIGN entry must differ, and its
 * transaction digest must be the one the host's draft (and so the auditor's raw transaction) gives. */
static void test_sign_entry_pins_version_locktime_sequence(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 20);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin a;
    assert_int_equal(harness_make_coin(&a, OS_SCRIPT_P2PKH, 0, 1, 50000000, 1), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 9, 10000000, 78);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 50000000 - 10000000 - 5000);
    os_sign_tx txs[4];
    os_sign_input ins[4];
    os_sign_output outs[4][2];
    uint8_t payloads[4][OS_LOG_ENTRY_BYTES];
    for (int k = 0; k < 4; k++) {
        ins[k] = a.input;
        memcpy(outs[k], out, sizeof out);
        if (k > 0) {   /* the committed payout again: a replacement of its own anchor */
            outs[k][0].replace = 1;
            outs[k][0].anchor = a.input.prevout;
        }
        txs[k] = harness_tx(&ins[k], 1, outs[k], 2);
    }
    txs[1].version = 1;
    txs[2].locktime = 500;
    ins[3].sequence = 0xFFFFFFFFu;   /* the harness's coins use 0xFFFFFFFD */
    for (int k = 0; k < 4; k++) {
        os_msg_info info;
        assert_int_equal(os_sign_run(c, tree, &txs[k], sigs, &oc, NULL, NULL), OS_OK);
        assert_int_equal(harness_info(c, &info), OS_OK);
        read_sign_payload(c, info.log_seq, payloads[k]);
        uint8_t hp[32], digest[32];
        assert_int_equal(os_draft_commitment(&txs[k], hp, digest), OS_OK);
        assert_memory_equal(payloads[k], hp, 32);
        assert_memory_equal(payloads[k] + 32, digest, 32);
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++) {
            assert_memory_equal(payloads[i], payloads[j], 32);             /* the same inputs */
            assert_memory_not_equal(payloads[i] + 32, payloads[j] + 32, 32); /* not the same transaction */
        }
    nonce_tree_free(tree);
    harness_stop();
}

/* Batches: 50 inputs and 250 outputs in one transaction. */
static void test_batch_50_inputs_250_outputs(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 60);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    static harness_coin coins[50];
    static os_sign_input inputs[50];
    static os_sign_output outputs[250];
    static os_input_sig sigs[50];
    size_t i;
    for (i = 0; i < 50; i++) {
        assert_int_equal(harness_make_coin(&coins[i], OS_SCRIPT_P2PKH, 0, (uint32_t)i, 10000000, 1000 + (uint32_t)i),
                         OS_OK);
        inputs[i] = coins[i].input;
        inputs[i].prev_tx = coins[i].prev_tx;
    }
    for (i = 0; i < 249; i++) harness_payout(&outputs[i], (uint32_t)i, 1000000, 5000 + (uint32_t)i);
    harness_change(&outputs[249], OS_SCRIPT_P2PKH, 1, 500000000 - 249000000 - 100000);
    assert_int_equal(os_sign_sort_payouts(outputs, 250), OS_OK);
    nonce_tree *tree = new_tree();
    os_sign_outcome oc;
    os_sign_tx tx = harness_tx(inputs, 50, outputs, 250);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_OK);
    size_t bad;
    assert_int_equal(os_sign_verify(&tx, sigs, &bad), OS_OK);
    assert_int_equal(nonce_tree_count(tree), 249 + 1);   /* and input 0's anchor entry */
    nonce_tree_free(tree);
    harness_stop();
}

static void test_busy_while_operator_decides(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 70);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    os_msg req, reply;
    static uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_GET_ADDRESS;
    req.u.get_address.script_type = OS_SCRIPT_P2PKH;
    req.u.get_address.show = 1;
    assert_int_equal(os_client_call(c, &req, &reply, buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_PENDING);
    assert_non_null(strstr(board_mem_display_text(), "Receive address"));
    os_msg other;
    memset(&other, 0, sizeof other);
    other.version = OS_PROTOCOL_VERSION;
    other.type = OS_MSG_GET_XPUB;
    assert_int_equal(os_client_call(c, &other, &reply, buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_ERROR);
    assert_int_equal(reply.u.error.code, OS_ERR_BUSY);
    board_mem_advance_millis(BOARD_PRESS_SETTLE_MS);   /* the operator reads before pressing */
    board_mem_push_button(BOARD_BUTTON_APPROVE);
    memset(&other, 0, sizeof other);
    other.version = OS_PROTOCOL_VERSION;
    other.type = OS_MSG_POLL;
    assert_int_equal(os_client_call(c, &other, &reply, buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_ADDRESS);
    /* regtest P2PKH addresses start with m or n */
    assert_true(reply.u.address.text[0] == 'm' || reply.u.address.text[0] == 'n');
    harness_stop();
}

/* The signer keeps derived keys and the loaded attestation key in RAM for the boot. Wiping and
 * restoring another mnemonic in the same boot must drop them all: the xpub, an address and the
 * attestation key (and so the SETUP entry's signature) are the new seed's and key's. */
static os_msg call_ok(os_client *c, os_msg *req, uint8_t type) {
    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg reply;
    req->version = OS_PROTOCOL_VERSION;
    assert_int_equal(os_client_call_wait(c, req, &reply, buf, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(reply.type, type);
    return reply;
}

static void expected_keys(const char *mnemonic, uint8_t xpub[78], uint8_t receive0_script[25]) {
    uint8_t seed[64];
    uint32_t path[3];
    bip32_node master, account, leaf;
    size_t len = 0;
    assert_int_equal(bip39_seed(mnemonic, strlen(mnemonic), NULL, seed), OS_OK);
    assert_int_equal(bip32_from_seed(seed, sizeof seed, &master), OS_OK);
    assert_int_equal(address_account_path(OS_NET_REGTEST, OS_SCRIPT_P2PKH, 0, path), OS_OK);
    assert_int_equal(bip32_derive_path(&master, path, 3, &account), OS_OK);
    bip32_neuter(&account);
    assert_int_equal(bip32_serialize(&account, address_network(OS_NET_REGTEST)->xpub_version, xpub), OS_OK);
    const uint32_t rest[2] = { 0, 0 };
    assert_int_equal(bip32_derive_path(&account, rest, 2, &leaf), OS_OK);
    assert_int_equal(script_for_pubkey(OS_SCRIPT_P2PKH, leaf.public_key, receive0_script, 25, &len), OS_OK);
    assert_int_equal(len, 25);
    bip32_wipe(&master);
}

static void test_key_caches_follow_the_seed(void **state) {
    (void)state;
    static const char *const other_mnemonic =
        "legal winner thank year wave sausage worth useful legal winner thank yellow";
    os_client *c = harness_start(FLASH, 80);
    os_policy p = harness_policy_open();
    os_msg req, reply;
    os_msg_info first, second;
    uint8_t want_xpub[78], want_script[25], script[25];
    size_t script_len = 0;

    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    /* warm every cache: a payout derives the account, both chains and the attestation key */
    nonce_tree *tree = new_tree();
    payout_with_change warm;
    sign_payout_with_change(c, tree, OS_SCRIPT_P2PKH, &warm);
    nonce_tree_free(tree);
    assert_int_equal(harness_info(c, &first), OS_OK);

    memset(&req, 0, sizeof req);
    req.type = OS_MSG_WIPE;
    harness_set_operator(OPERATOR_APPROVE);
    call_ok(c, &req, OS_MSG_SUCCESS);
    assert_int_equal(harness_restore_device(c, &p, OS_SCRIPT_P2PKH, other_mnemonic), OS_OK);

    expected_keys(other_mnemonic, want_xpub, want_script);
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_XPUB;
    req.u.get_xpub.script_type = OS_SCRIPT_P2PKH;
    reply = call_ok(c, &req, OS_MSG_XPUB);
    assert_memory_equal(reply.u.xpub.data, want_xpub, 78);
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_ADDRESS;
    req.u.get_address.script_type = OS_SCRIPT_P2PKH;
    reply = call_ok(c, &req, OS_MSG_ADDRESS);
    assert_int_equal(address_to_script(OS_NET_REGTEST, reply.u.address.text, script, sizeof script, &script_len),
                     OS_OK);
    assert_int_equal(script_len, 25);
    assert_memory_equal(script, want_script, 25);

    assert_int_equal(harness_info(c, &second), OS_OK);
    assert_int_equal(second.log_seq, 1);   /* the wipe erased the log: SETUP */
    assert_memory_not_equal(second.attestation_pubkey, first.attestation_pubkey, 32);
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_LOG_READ;
    req.u.log_read.seq = 1;
    reply = call_ok(c, &req, OS_MSG_LOG_ENTRY);
    uint8_t zero[32] = { 0 }, hash[32];
    assert_int_equal(audit_log_verify_entry(second.attestation_pubkey, reply.u.log_entry.entry, 1, zero, hash), OS_OK);
    harness_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blank_device_answers_info),
        cmocka_unit_test(test_init_persists_across_reboot),
        cmocka_unit_test(test_sign_p2pkh),
        cmocka_unit_test(test_sign_p2sh_p2wpkh),
        cmocka_unit_test(test_sign_p2wpkh),
        cmocka_unit_test(test_committed_nonce_refused_unless_conflicting),
        cmocka_unit_test(test_segwit_fee_attack_refused),
        cmocka_unit_test(test_input_not_ours_refused),
        cmocka_unit_test(test_change_of_other_script_type_refused),
        cmocka_unit_test(test_payout_order_and_duplicates),
        cmocka_unit_test(test_operator_approves_and_rejects),
        cmocka_unit_test(test_log_chain_verifies),
        cmocka_unit_test(test_sign_entry_pins_version_locktime_sequence),
        cmocka_unit_test(test_batch_50_inputs_250_outputs),
        cmocka_unit_test(test_busy_while_operator_decides),
        cmocka_unit_test(test_key_caches_follow_the_seed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
