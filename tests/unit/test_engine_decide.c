/* The payout engine's pure decisions (host/lib/engine_decide.h), each a table of cases: fee and size,
 * coin selection (a payout the coins cannot cover steps aside), what a broadcast's answer means, what a
 * failed signing session means, what the reconciler concludes from the node's view, and when it has a
 * reason to ask at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine_decide.h"
#include "tx_size.h"
#include "oncesign/status.h"

static void test_fee_and_size(void **state) {
    (void)state;
    const uint8_t wpkh[2] = {OS_SCRIPT_P2WPKH, OS_SCRIPT_P2WPKH}, pkh[1] = {OS_SCRIPT_P2PKH};
    const size_t outs[2] = {22, 25};
    /* The host's size is the signer's (proto/tx_size.h), by construction: counted by script type, the
     * change output's script added to the outputs. */
    assert_int_equal(os_decide_vsize(wpkh, 2, outs, 2, 0), os_tx_vsize_max(0, 0, 2, 2, 47));
    assert_int_equal(os_decide_vsize(wpkh, 2, outs, 2, 22), os_tx_vsize_max(0, 0, 2, 3, 69));
    assert_int_equal(os_decide_vsize(pkh, 1, outs, 1, 0), os_tx_vsize_max(1, 0, 0, 1, 22));
    /* worked by hand: 1 P2WPKH input, a 25-byte payout and 22-byte change = 575 weight units, 144 vB */
    const uint8_t one[1] = {OS_SCRIPT_P2WPKH};
    const size_t pay[1] = {25};
    assert_int_equal(os_decide_vsize(one, 1, pay, 1, 22), 144);
    static const struct {
        uint64_t vsize, rate, fee;
    } fees[] = {{1000, 1000, 1000}, {250, 1000, 250}, {251, 999, 251}, {1, 1, 1}, {0, 5000, 0}, {214, 1500, 321}};
    for (size_t i = 0; i < sizeof fees / sizeof fees[0]; i++)
        assert_int_equal(os_decide_fee(fees[i].vsize, fees[i].rate), fees[i].fee);
    /* a bump pays at least old + vsize + old/4 (BIP125 rule 4 and no crawling), or the rate's fee */
    assert_int_equal(os_decide_bump_fee(1000, 200, 1000), 1000 + 200 + 250);
    assert_int_equal(os_decide_bump_fee(1000, 200, 20000), 4000);
}

typedef struct {
    const char *what;
    uint64_t payouts[4];
    size_t np;
    uint64_t coins[4];
    size_t nc;
    uint64_t rate;
    uint64_t signer_fee_cap; /* 0: none */
    int rc;
    uint8_t take[4];
    size_t n_coins;
    int with_change;
} coin_case;

static void test_coin_selection(void **state) {
    (void)state;
    static const coin_case cases[] = {
        {"all fit one coin, with change", {10000, 20000}, 2, {1000000}, 1, 1000, 0, OS_OK, {1, 1}, 1, 1},
        {"largest coin first, a second when needed", {60000}, 1, {50000, 40000}, 2, 1000, 0, OS_OK, {1}, 2, 1},
        {"a payout larger than all funds steps aside, the others go on",
         {5000000, 10000, 20000},
         3,
         {100000},
         1,
         1000,
         0,
         OS_OK,
         {0, 1, 1},
         1,
         1},
        {"the one that does not fit with the others steps aside", {60000, 60000, 10000}, 3, {100000}, 1, 1000, 0, OS_OK,
         {1, 0, 1}, 1, 1},
        {"none fits: funds", {500000}, 1, {100000}, 1, 1000, 0, OS_ERR_FUNDS, {0}, 0, 0},
        {"no coins: funds", {1000}, 1, {0}, 0, 1000, 0, OS_ERR_FUNDS, {0}, 0, 0},
        {"remainder below dust goes to the fee: no change", {99000}, 1, {99600}, 1, 1000, 0, OS_OK, {1}, 1, 0},
        /* 1 input: 1 payout + change 144 vB, 2 payouts 178 vB, 3 payouts 212 vB at 1 sat/vB: the third
         * would pay above the signer's absolute fee cap (180), so it steps aside instead of asking */
        {"the signer's fee cap bounds the batch", {10000, 20000, 30000}, 3, {1000000}, 1, 1000, 180, OS_OK, {1, 1, 0},
         1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const coin_case *k = &cases[i];
        os_decide_payout p[4];
        os_decide_coin c[4];
        for (size_t j = 0; j < k->np; j++) p[j] = (os_decide_payout){k->payouts[j], 25};
        for (size_t j = 0; j < k->nc; j++) c[j] = (os_decide_coin){k->coins[j], OS_SCRIPT_P2WPKH};
        uint8_t take[4] = {9, 9, 9, 9};
        os_coin_choice ch;
        memset(&ch, 0, sizeof ch);
        os_fee_caps caps = os_fee_caps_make(1000, 100000, 0, k->signer_fee_cap, k->rate);
        int rc = os_decide_coins(p, k->np, c, k->nc, &caps, 22, take, &ch);
        if (rc != k->rc) fail_msg("case '%s': rc %d", k->what, rc);
        if (rc != OS_OK) continue;
        uint64_t in = 0, out = 0;
        size_t taken = 0;
        for (size_t j = 0; j < k->np; j++) {
            if (take[j] != k->take[j]) fail_msg("case '%s': take[%zu] = %u", k->what, j, take[j]);
            if (take[j]) out += k->payouts[j], taken++;
        }
        for (size_t j = 0; j < ch.n_coins; j++) in += k->coins[j];
        if (ch.n_coins != k->n_coins || ch.with_change != k->with_change || ch.n_taken != taken)
            fail_msg("case '%s': coins %zu change %d taken %zu", k->what, ch.n_coins, ch.with_change, ch.n_taken);
        /* the money adds up, the fee covers the size, change is never dust */
        assert_int_equal(in, out + ch.fee + ch.change);
        uint32_t vsize = os_tx_vsize_max(0, 0, (uint16_t)ch.n_coins, (uint16_t)(taken + (ch.with_change ? 1 : 0)),
                                         (uint32_t)(25 * taken + (ch.with_change ? 22 : 0)));
        assert_true(ch.fee >= os_decide_fee(vsize, k->rate));
        assert_true(os_fee_fits(&caps, ch.fee, vsize));
        if (ch.with_change) assert_true(ch.change >= OS_DUST);
    }
    os_fee_caps caps = os_fee_caps_make(1000, 100000, 0, 0, 1000);
    assert_int_equal(os_decide_coins(NULL, 1, NULL, 0, &caps, 22, NULL, NULL), OS_ERR_ARG);
}

static void test_broadcast_outcome(void **state) {
    (void)state;
    static const struct {
        os_broadcast_class cls;
        int fee_too_low;
        os_tx_event ev;
    } cases[] = {
        {OS_BROADCAST_SENT, 0, OS_TXEV_SENT},
        {OS_BROADCAST_NOT_SENT, 0, OS_TXEV_NOT_SENT},
        {OS_BROADCAST_NOT_SENT, 1, OS_TXEV_FEE_TOO_LOW},  /* the signal the worker bumps on: data, not text */
        {OS_BROADCAST_UNKNOWN, 0, OS_TXEV_UNKNOWN},
        {OS_BROADCAST_CHECK_CHAIN, 0, OS_TXEV_UNKNOWN},   /* the reconciler reads the chain */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_broadcast_result br;
        memset(&br, 0, sizeof br);
        br.cls = cases[i].cls;
        br.fee_too_low = cases[i].fee_too_low;
        assert_int_equal(os_decide_broadcast(&br), cases[i].ev);
    }
    assert_int_equal(os_decide_broadcast(NULL), OS_TXEV_UNKNOWN);
}

static void test_sign_failure(void **state) {
    (void)state;
    static const struct {
        int status, root_changed, committed, replacement;
        os_sign_failure_action a;
    } cases[] = {
        {OS_ERR_TIMEOUT, 1, 0, 0, OS_SIGNFAIL_KEEP_COMMITTED},   /* committed, answer lost */
        {OS_ERR_PROOF_INVALID, 0, 0, 0, OS_SIGNFAIL_MISMATCH},
        {OS_ERR_NONCE_COMMITTED, 0, 1, 0, OS_SIGNFAIL_MISMATCH},
        {OS_ERR_INTERNAL, 0, 0, 1, OS_SIGNFAIL_MISMATCH},
        {OS_ERR_TIMEOUT, 0, 0, 0, OS_SIGNFAIL_RETRY},
        {OS_ERR_IO, 0, 0, 1, OS_SIGNFAIL_RETRY},
        {OS_ERR_USER_REJECTED, 0, 1, 0, OS_SIGNFAIL_RETRY},      /* a committed draft is never released */
        {OS_ERR_USER_REJECTED, 0, 0, 1, OS_SIGNFAIL_ABANDON_BUMP},
        {OS_ERR_POLICY_FEE, 0, 0, 0, OS_SIGNFAIL_RELEASE},
        {OS_ERR_POLICY_PAYOUT_CAP, 0, 0, 0, OS_SIGNFAIL_RELEASE},
        /* a refused approval or a short quorum: the draft waits for fresh approvals, new or committed */
        {OS_ERR_QUORUM_MISSING, 0, 0, 0, OS_SIGNFAIL_AWAIT_QUORUM},
        {OS_ERR_APPROVAL_EXPIRED, 0, 1, 0, OS_SIGNFAIL_AWAIT_QUORUM},
        {OS_ERR_APPROVAL_MISMATCH, 0, 0, 1, OS_SIGNFAIL_AWAIT_QUORUM},
        {OS_ERR_APPROVAL_OPERATOR, 0, 0, 0, OS_SIGNFAIL_AWAIT_QUORUM},
        {OS_ERR_APPROVAL_DUPLICATE, 0, 0, 0, OS_SIGNFAIL_AWAIT_QUORUM},
        {OS_ERR_APPROVAL_EXPIRED, 1, 0, 0, OS_SIGNFAIL_KEEP_COMMITTED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (os_decide_sign_failure(cases[i].status, cases[i].root_changed, cases[i].committed, cases[i].replacement) !=
            cases[i].a)
            fail_msg("case %zu (%s)", i, os_status_name(cases[i].status));
    assert_true(os_decide_refusal_fails_all(OS_ERR_USER_REJECTED));
    assert_true(os_decide_refusal_fails_all(OS_ERR_POLICY_FEE));
    assert_false(os_decide_refusal_fails_all(OS_ERR_POLICY_PAYOUT_CAP));
    /* the host brings approvals now (DESIGN.md §8, host flow): a short quorum fails nothing */
    assert_false(os_decide_refusal_fails_all(OS_ERR_QUORUM_MISSING));
}

typedef struct {
    const char *what;
    os_recon_view v;
    os_recon_action a;
} recon_case;

static void test_reconcile(void **state) {
    (void)state;
    static const recon_case cases[] = {
        {"confirmed for the first time", {.state = OS_TX_BROADCAST, .found = 1, .confirmations = 1}, OS_RECON_CONFIRMED},
        {"one more confirmation", {.state = OS_TX_CONFIRMED, .stored_confirmations = 2, .found = 1, .confirmations = 3},
         OS_RECON_CONFIRMED},
        {"no new confirmation: write nothing",
         {.state = OS_TX_CONFIRMED, .stored_confirmations = 3, .found = 1, .confirmations = 3},
         OS_RECON_NOTHING},
        {"signed, in the mempool", {.state = OS_TX_SIGNED, .found = 1}, OS_RECON_SEEN},
        {"broadcast, in the mempool", {.state = OS_TX_BROADCAST, .found = 1}, OS_RECON_SEEN},
        {"not found: ask about the inputs", {.state = OS_TX_BROADCAST}, OS_RECON_ASK_INPUTS},
        {"not found, inputs unspent: send it again",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .all_inputs_unspent = 1},
         OS_RECON_REBROADCAST},
        {"not found, inputs unspent, a replacement in flight",
         {.state = OS_TX_SIGNED, .inputs_asked = 1, .all_inputs_unspent = 1, .live_replacement = 1},
         OS_RECON_NOTHING},
        {"not found, inputs unspent, refused for its fee: the fee bump goes instead (no rebroadcast race)",
         {.state = OS_TX_SIGNED, .inputs_asked = 1, .all_inputs_unspent = 1, .needs_bump = 1},
         OS_RECON_NOTHING},
        {"an input spent in the mempool only: wait", {.state = OS_TX_BROADCAST, .inputs_asked = 1}, OS_RECON_WAIT},
        {"an input spent in a block: ask the family",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .input_spent_in_chain = 1},
         OS_RECON_ASK_FAMILY},
        {"spent by a confirmed transaction of ours",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .input_spent_in_chain = 1, .family_asked = 1,
          .family_confirmed = 1},
         OS_RECON_REPLACED_BY_OURS},
        /* A foreign spend of an input other than the anchor: the transaction can never confirm, but
         * the anchor is still ours, so its committed payouts are paid by a replacement on it; never
         * failed (a failed payout of a committed nonce can never be paid). */
        {"an input (not the anchor) spent by a foreign transaction, not yet deep: wait",
         {.state = OS_TX_SIGNED, .inputs_asked = 1, .input_spent_in_chain = 1, .family_asked = 1},
         OS_RECON_WAIT},
        {"an input (not the anchor) spent by a foreign transaction, deep: replace on the anchor",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .input_spent_in_chain = 1, .spent_deep = 1, .family_asked = 1},
         OS_RECON_INPUT_LOST},
        {"input lost, already recorded: the worker's replacement, nothing more here",
         {.state = OS_TX_SIGNED, .inputs_asked = 1, .input_spent_in_chain = 1, .spent_deep = 1, .family_asked = 1,
          .input_lost_recorded = 1},
         OS_RECON_NOTHING},
        {"input lost, our replacement in flight",
         {.state = OS_TX_SIGNED, .inputs_asked = 1, .input_spent_in_chain = 1, .spent_deep = 1, .family_asked = 1,
          .live_replacement = 1},
         OS_RECON_NOTHING},
        {"input lost, our replacement on the anchor confirmed: settled",
         {.state = OS_TX_SIGNED, .inputs_asked = 1, .input_spent_in_chain = 1, .spent_deep = 1, .family_asked = 1,
          .input_lost_recorded = 1, .family_confirmed = 1},
         OS_RECON_REPLACED_BY_OURS},
        /* issue 10: the anchor spent elsewhere freezes the payouts; they are kept for a re-anchor,
         * once the spend is as deep as a confirmation the engine trusts (else a reorg could still
         * confirm the old transaction too) */
        {"anchor spent by a foreign transaction, not yet deep",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .input_spent_in_chain = 1, .anchor_spent_in_chain = 1,
          .family_asked = 1},
         OS_RECON_WAIT},
        {"anchor spent by a foreign transaction, deep",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .input_spent_in_chain = 1, .anchor_spent_in_chain = 1,
          .spent_deep = 1, .family_asked = 1},
         OS_RECON_ANCHOR_LOST},
        {"anchor spent, but by our own confirmed replacement",
         {.state = OS_TX_BROADCAST, .inputs_asked = 1, .input_spent_in_chain = 1, .anchor_spent_in_chain = 1,
          .spent_deep = 1, .family_asked = 1, .family_confirmed = 1},
         OS_RECON_REPLACED_BY_OURS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (os_decide_reconcile(&cases[i].v) != cases[i].a)
            fail_msg("case '%s': %d", cases[i].what, (int)os_decide_reconcile(&cases[i].v));
}

static void test_reconcile_due(void **state) {
    (void)state;
    static const struct {
        const char *what;
        uint64_t height, last_height;
        int64_t now, last;
        int work, forced, due;
    } cases[] = {
        {"first pass", 100, 0, 5000, 0, 0, 0, 1},
        {"idle: same block, recently asked", 100, 100, 12000, 10000, 0, 0, 0},
        {"a new block", 101, 100, 12000, 10000, 0, 0, 1},
        {"a transaction signed or sent since", 100, 100, 12000, 10000, 1, 0, 1},
        {"the operator asks", 100, 100, 12000, 10000, 0, 1, 1},
        {"the recheck timeout", 100, 100, 40000, 10000, 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (os_decide_reconcile_due(cases[i].height, cases[i].last_height, cases[i].now, cases[i].last, 30000,
                                    cases[i].work, cases[i].forced) != cases[i].due)
            fail_msg("case '%s'", cases[i].what);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fee_and_size),     cmocka_unit_test(test_coin_selection),
        cmocka_unit_test(test_broadcast_outcome), cmocka_unit_test(test_sign_failure),
        cmocka_unit_test(test_reconcile),        cmocka_unit_test(test_reconcile_due),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
