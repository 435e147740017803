/* The shared size (proto/tx_size.c) and the host's fee decisions (host/lib/fee.c), issue 9 defect 3:
 * a table of sizes worked out by hand, the caps' table, and the property that matters: a fee the host
 * picks for any shape and any estimate never trips the signer's own fee checks (firmware/policy.c
 * policy_evaluate, the code the signer runs), so no transaction goes to the operator for its fee. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "fee.h"
#include "policy.h"
#include "tx_size.h"

static void test_vsize_table(void **state) {
    (void)state;
    static const struct {
        uint16_t p2pkh, p2sh, p2wpkh, outs;
        uint32_t script_bytes, vsize;
    } cases[] = {
        /* version 4 + counts 2 + locktime 4; P2PKH input 149; output 9 + script */
        {1, 0, 0, 2, 50, 10 + 149 + 18 + 50},
        {2, 0, 0, 1, 25, 10 + 298 + 9 + 25},
        /* P2WPKH: 41 base bytes, witness 108 + marker/flag 2: (4 * (10 + 41 + 18 + 44) + 110) / 4 rounded up */
        {0, 0, 1, 2, 44, (4 * (10 + 41 + 18 + 44) + 110 + 3) / 4},
        /* P2SH-P2WPKH: 64 base bytes */
        {0, 1, 0, 2, 48, (4 * (10 + 64 + 18 + 48) + 110 + 3) / 4},
        /* a legacy input beside a segwit one carries an empty witness (1 weight unit) */
        {1, 0, 1, 2, 47, (4 * (10 + 149 + 41 + 18 + 47) + 2 + 1 + 108 + 3) / 4},
        /* 253 outputs: the count takes 3 bytes */
        {1, 0, 0, 253, 253 * 25, 4 + 1 + 3 + 4 + 149 + 253 * 34},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(os_tx_vsize_max(cases[i].p2pkh, cases[i].p2sh, cases[i].p2wpkh, cases[i].outs,
                                         cases[i].script_bytes),
                         cases[i].vsize);
}

static void test_caps_table(void **state) {
    (void)state;
    static const struct {
        uint64_t floor, host_cap, signer_rate_cap, signer_fee_cap, estimate;
        uint64_t rate, rate_cap;
        int capped;
    } cases[] = {
        {1000, 100000, 100000, 1000000, 0, 1000, 100000, 0},         /* no estimate: the floor */
        {1000, 100000, 100000, 1000000, 500, 1000, 100000, 0},       /* below the floor */
        {1000, 100000, 100000, 1000000, 100000, 100000, 100000, 0},  /* at the cap: not capped */
        {1000, 100000, 100000, 1000000, 200000, 100000, 100000, 1},  /* above: pays the cap */
        {1000, 100000, 50000, 1000000, 80000, 50000, 50000, 1},      /* the signer's cap is lower */
        {1000, 20000, 100000, 1000000, 80000, 20000, 20000, 1},      /* the host's cap is lower */
        {1000, 100000, 0, 0, 80000, 80000, 100000, 0},               /* signer policy not known yet */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_fee_caps c = os_fee_caps_make(cases[i].floor, cases[i].host_cap, cases[i].signer_rate_cap,
                                         cases[i].signer_fee_cap, cases[i].estimate);
        assert_int_equal(c.rate, cases[i].rate);
        assert_int_equal(c.rate_cap, cases[i].rate_cap);
        assert_int_equal(c.estimate_capped, cases[i].capped);
        assert_int_equal(c.fee_cap, cases[i].signer_fee_cap);
    }
}

static void test_fee_rounding_and_fit(void **state) {
    (void)state;
    os_fee_caps c = os_fee_caps_make(1000, 100000, 100000, 30000, 60000);
    assert_int_equal(os_fee_for(&c, 227), (227 * 60000 + 999) / 1000);   /* rounded up below the cap */
    c = os_fee_caps_make(1000, 100000, 100000, 30000, 100000);
    assert_int_equal(os_fee_for(&c, 227), 22700);
    c = os_fee_caps_make(1000, 99999, 99999, 30000, 200000);
    assert_int_equal(os_fee_for(&c, 227), 227 * 99999 / 1000);           /* at the cap: rounded down */
    assert_true(os_fee_fits(&c, 227 * 99999 / 1000, 227));
    assert_false(os_fee_fits(&c, 227 * 99999 / 1000 + 1, 227));
    assert_false(os_fee_fits(&c, 30001, 1000));                          /* the absolute cap */
    assert_true(os_fee_fits(&c, 30000, 1000));
}

/* For every shape up to a few inputs of each type and outputs, and estimates around the cap, the
 * host's fee passes the signer's fee and fee-rate checks with the signer's own size. */
static void test_host_fee_never_asks_the_operator(void **state) {
    (void)state;
    const os_policy policy = {.per_payout_cap = 100000000, .velocity_cap = 1000000000, .velocity_window_s = 86400,
                              .fee_cap = 1000000, .fee_rate_cap = 100000};
    const uint64_t estimates[] = {0, 1000, 99999, 100000, 100001, 250000};
    unsigned checked = 0;
    for (uint16_t a = 0; a < 4; a++)
        for (uint16_t b = 0; b < 3; b++)
            for (uint16_t w = 0; w < 4; w++) {
                if (a + b + w == 0) continue;
                for (uint16_t outs = 1; outs < 60; outs += 7)
                    for (uint32_t extra = 0; extra < 4; extra++)
                        for (size_t k = 0; k < sizeof estimates / sizeof estimates[0]; k++) {
                            uint32_t script_bytes = outs * 22u + extra;
                            uint32_t vsize = os_tx_vsize_max(a, b, w, outs, script_bytes);
                            os_fee_caps c = os_fee_caps_make(1000, 100000, policy.fee_rate_cap, policy.fee_cap,
                                                             estimates[k]);
                            uint64_t fee = os_fee_for(&c, vsize);
                            assert_true(os_fee_fits(&c, fee, vsize));
                            uint32_t needs = policy_evaluate(&policy, 1000, 0, 0, fee, vsize);
                            assert_int_equal(needs & (POLICY_NEEDS_FEE | POLICY_NEEDS_FEE_RATE), 0);
                            checked++;
                        }
            }
    assert_true(checked > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vsize_table),
        cmocka_unit_test(test_caps_table),
        cmocka_unit_test(test_fee_rounding_and_fit),
        cmocka_unit_test(test_host_fee_never_asks_the_operator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
