/* oncesign — I1 as a property: thousands of random operations against the signer (new payouts,
 * honest replacements, exact repeats, replays that do not conflict, hosts with rolled-back trees,
 * batches mixing new and replaced nonces, transactions spending an anchor without replacing all its
 * payouts, reboots) and afterwards, for every nonce, every pair of transactions the signer signed
 * for it shares an input, every non-conflicting replay was refused, and no signed transaction spent
 * the anchor of a committed payout it did not replace (no payout was frozen). The seed is printed so a failure can be replayed (ONCESIGN_I1_SEED, ONCESIGN_I1_OPS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "nonce_set.h"
#include "signer_harness.h"
#include "signing.h"

#define MAX_NONCES 4096
#define MAX_COINS 8192
#define MAX_SIGNED 8            /* transactions recorded per nonce */

typedef struct {
    uint32_t id;
    int committed;
    uint32_t anchor_coin;       /* index into coins */
    uint64_t amount;
    uint32_t dest;
    int in_stale_tree;
    size_t n_signed;
    os_outpoint signed_inputs[MAX_SIGNED][3];
    size_t signed_n_inputs[MAX_SIGNED];
} nonce_model;

static harness_coin coins[MAX_COINS];
static uint32_t n_coins;
/* The committed payouts each coin anchors (indexes into nonces): a batch anchors up to 3. */
static uint32_t anchored_at[MAX_COINS][4];
static uint8_t n_anchored_at[MAX_COINS];
static nonce_model nonces[MAX_NONCES];
static uint32_t n_nonces;
static uint64_t rng_state;

static uint64_t rng(void) {
    rng_state += 0x9e3779b97f4a7c15ull;
    uint64_t z = rng_state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t fresh_coin(void) {
    assert_true(n_coins < MAX_COINS);
    uint32_t i = n_coins++;
    assert_int_equal(harness_make_coin(&coins[i], OS_SCRIPT_P2PKH, 0, i % 20, 100000000, 0x10000 + i), OS_OK);
    return i;
}

static void payout_for(os_sign_output *o, const nonce_model *n, int replace) {
    memset(o, 0, sizeof *o);
    o->kind = OS_OUTPUT_PAYOUT;
    o->amount = n->amount;
    harness_destination(n->dest, o->script);
    o->script_len = 25;
    os_write_le32(o->nonce, n->id);
    o->nonce[31] = 0x11;
    o->replace = (uint8_t)replace;
    if (replace) o->anchor = coins[n->anchor_coin].input.prevout;
}

static void change_for(os_sign_output *o, uint64_t amount) {
    size_t len = 0;
    memset(o, 0, sizeof *o);
    o->kind = OS_OUTPUT_CHANGE;
    o->amount = amount;
    o->change_script_type = OS_SCRIPT_P2PKH;
    o->change_index = 1;
    assert_int_equal(harness_script(OS_SCRIPT_P2PKH, 1, 1, o->script, &len), OS_OK);
    o->script_len = (uint8_t)len;
}

static void record(nonce_model *n, const os_sign_input *in, size_t n_in) {
    if (n->n_signed == MAX_SIGNED) return;
    size_t i;
    for (i = 0; i < n_in && i < 3; i++) n->signed_inputs[n->n_signed][i] = in[i].prevout;
    n->signed_n_inputs[n->n_signed] = n_in;
    n->n_signed++;
}

typedef struct {
    os_sign_input in[3];
    uint32_t in_coin[3];
    size_t n_in;
    os_sign_output out[5];
    size_t n_out;
    nonce_model *payout_nonce[4];
    size_t n_payouts;
} built_tx;

static void add_input(built_tx *b, uint32_t coin) {
    b->in_coin[b->n_in] = coin;
    b->in[b->n_in] = coins[coin].input;
    b->in[b->n_in].prev_tx = coins[coin].prev_tx;
    b->n_in++;
}

static int run(os_client *c, nonce_tree *tree, built_tx *b, uint64_t fee, os_input_sig *sigs, os_sign_outcome *oc) {
    uint64_t in_total = 100000000ull * b->n_in, out_total = 0;
    size_t i;
    for (i = 0; i < b->n_out; i++) out_total += b->out[i].amount;
    change_for(&b->out[b->n_out++], in_total - out_total - fee);
    assert_int_equal(os_sign_sort_payouts(b->out, b->n_out), OS_OK);
    os_sign_tx tx = { 2, 0, b->n_in, b->n_out, b->in, b->out, 0, NULL };
    return os_sign_run(c, tree, &tx, sigs, oc, harness_on_pending, NULL);
}

/* The nonces anchored at coin become payouts of b, as replacements. */
static void replace_all_anchored(built_tx *b, uint32_t coin) {
    uint8_t k;
    for (k = 0; k < n_anchored_at[coin]; k++) {
        nonce_model *m = &nonces[anchored_at[coin][k]];
        payout_for(&b->out[b->n_out++], m, 1);
        b->payout_nonce[b->n_payouts++] = m;
    }
}

/* A transaction the signer signed spends no anchor whose payouts it does not all carry. */
static void assert_freezes_nothing(const built_tx *b) {
    size_t i, j;
    uint8_t k;
    for (i = 0; i < b->n_in; i++)
        for (k = 0; k < n_anchored_at[b->in_coin[i]]; k++) {
            const nonce_model *m = &nonces[anchored_at[b->in_coin[i]][k]];
            int carried = 0;
            for (j = 0; j < b->n_payouts; j++) carried |= b->payout_nonce[j] == m;
            assert_true(carried);
        }
}

/* n is committed and anchored at coin. */
static void anchor(nonce_model *n, uint32_t coin) {
    assert_true(n_anchored_at[coin] < 4);
    n->committed = 1;
    n->anchor_coin = coin;
    anchored_at[coin][n_anchored_at[coin]++] = (uint32_t)(n - nonces);
}

static nonce_model *new_nonce(uint64_t amount) {
    nonce_model *n = &nonces[n_nonces++];
    memset(n, 0, sizeof *n);
    n->id = n_nonces;
    n->amount = amount;
    n->dest = (uint32_t)rng();
    return n;
}

static int shares_input(const nonce_model *n, size_t a, size_t b) {
    size_t i, j;
    for (i = 0; i < n->signed_n_inputs[a] && i < 3; i++)
        for (j = 0; j < n->signed_n_inputs[b] && j < 3; j++)
            if (n->signed_inputs[a][i].vout == n->signed_inputs[b][j].vout &&
                memcmp(n->signed_inputs[a][i].txid, n->signed_inputs[b][j].txid, 32) == 0)
                return 1;
    return 0;
}

static nonce_model *pick_committed(void) {
    uint32_t tries;
    for (tries = 0; tries < 64 && n_nonces > 0; tries++) {
        nonce_model *n = &nonces[rng() % n_nonces];
        if (n->committed) return n;
    }
    return NULL;
}

static void test_i1_property(void **state) {
    (void)state;
    uint64_t seed = 0x0ce51de5ull;
    long ops = 2000;
    const char *env = getenv("ONCESIGN_I1_SEED");
    if (env) seed = strtoull(env, NULL, 0);
    env = getenv("ONCESIGN_I1_OPS");
    if (env) ops = strtol(env, NULL, 0);
    printf("i1: seed=%llu ops=%ld\n", (unsigned long long)seed, ops);
    rng_state = seed;
    n_coins = 0;
    n_nonces = 0;
    memset(n_anchored_at, 0, sizeof n_anchored_at);

    os_client *c = harness_start(64u * 4096u, seed);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    nonce_tree *tree = NULL, *stale = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    assert_int_equal(nonce_tree_create(&stale), OS_OK);

    long op, signed_ok = 0, refused_replays = 0, refused_stale = 0, reboots = 0, repeats = 0, replaced = 0;
    long refused_reanchors = 0, refused_anchor_spends = 0;
    os_input_sig sigs[3];
    os_sign_outcome oc;
    for (op = 0; op < ops && n_nonces + 4 < MAX_NONCES && n_coins + 8 < MAX_COINS; op++) {
        unsigned dice = (unsigned)(rng() % 100);
        built_tx b;
        memset(&b, 0, sizeof b);
        if (dice < 35 || n_nonces == 0) {
            /* new payouts, 1..3 of them, from 1..2 fresh coins */
            size_t k, count = 1 + rng() % 3;
            add_input(&b, fresh_coin());
            if (rng() % 2) add_input(&b, fresh_coin());
            for (k = 0; k < count; k++) {
                nonce_model *n = new_nonce(1000000 + rng() % 10000000);
                payout_for(&b.out[b.n_out++], n, 0);
                b.payout_nonce[b.n_payouts++] = n;
            }
            int rc = run(c, tree, &b, 2000 + rng() % 5000, sigs, &oc);
            assert_int_equal(rc, OS_OK);
            assert_freezes_nothing(&b);
            for (k = 0; k < b.n_payouts; k++) {
                nonce_model *n = b.payout_nonce[k];
                /* anchor: input 0 of the signed transaction (the sort does not move inputs) */
                anchor(n, b.in_coin[0]);
                record(n, b.in, b.n_in);
                if (rng() % 2) {
                    uint8_t key[32], value[32];
                    os_sign_output tmp;
                    payout_for(&tmp, n, 0);
                    assert_int_equal(nonce_set_key(tmp.nonce, key), OS_OK);
                    assert_int_equal(nonce_set_leaf_value(&coins[n->anchor_coin].input.prevout, tmp.script, 25,
                                                          n->amount, value), OS_OK);
                    assert_int_equal(nonce_tree_insert(stale, key, value), OS_OK);
                    n->in_stale_tree = 1;
                }
            }
            signed_ok++;
        } else if (dice < 50) {
            /* honest replacement: spends the anchor (and maybe a fresh coin first), replacing every
             * payout anchored there (a batch's too) */
            nonce_model *n = pick_committed();
            if (!n) continue;
            if (rng() % 2) add_input(&b, fresh_coin());
            add_input(&b, n->anchor_coin);
            replace_all_anchored(&b, n->anchor_coin);
            assert_int_equal(run(c, tree, &b, 5000 + rng() % 20000, sigs, &oc), OS_OK);
            assert_freezes_nothing(&b);
            size_t k;
            for (k = 0; k < b.n_payouts; k++) record(b.payout_nonce[k], b.in, b.n_in);
            replaced++;
        } else if (dice < 60) {
            /* exact repeat of the anchor-only transaction with the same fee: same signatures */
            nonce_model *n = pick_committed();
            if (!n) continue;
            os_input_sig again[3];
            built_tx b2;
            add_input(&b, n->anchor_coin);
            replace_all_anchored(&b, n->anchor_coin);
            memcpy(&b2, &b, sizeof b2);
            assert_int_equal(run(c, tree, &b, 4321, sigs, &oc), OS_OK);
            assert_int_equal(run(c, tree, &b2, 4321, again, &oc), OS_OK);
            assert_memory_equal(sigs[0].sig, again[0].sig, sigs[0].sig_len);
            size_t k;
            for (k = 0; k < b.n_payouts; k++) record(b.payout_nonce[k], b.in, b.n_in);
            repeats++;
        } else if (dice < 72) {
            /* replay that does not spend the anchor: must be refused, naming the anchor; or the
             * same dressed as a re-anchor, which only the operator could allow: here they reject
             * (the host's tree must roll the moved leaf back) */
            nonce_model *n = pick_committed();
            if (!n) continue;
            add_input(&b, fresh_coin());
            payout_for(&b.out[b.n_out++], n, 1);
            if (rng() % 8 == 0) {
                b.out[0].replace = 0;
                b.out[0].reanchor = 1;
                harness_set_operator(OPERATOR_REJECT);
                assert_int_equal(run(c, tree, &b, 3000, sigs, &oc), OS_ERR_USER_REJECTED);
                harness_set_operator(OPERATOR_APPROVE);
                refused_reanchors++;
                continue;
            }
            assert_int_equal(run(c, tree, &b, 3000, sigs, &oc), OS_ERR_NONCE_COMMITTED);
            assert_memory_equal(oc.detail + 32, coins[n->anchor_coin].input.prevout.txid, 32);
            refused_replays++;
        } else if (dice < 80) {
            /* a host whose ledger was rolled back: offers a committed nonce as new */
            nonce_model *n = NULL;
            uint32_t tries;
            for (tries = 0; tries < 64 && !n; tries++) {
                nonce_model *cand = pick_committed();
                if (cand && !cand->in_stale_tree) n = cand;
            }
            if (!n) continue;
            add_input(&b, fresh_coin());
            payout_for(&b.out[b.n_out++], n, 0);
            int rc = run(c, stale, &b, 3000, sigs, &oc);
            assert_true(rc == OS_ERR_PROOF_INVALID || rc == OS_ERR_NONCE_COMMITTED);
            refused_stale++;
        } else if (dice < 87) {
            /* a batch mixing the replacement of an anchor's payouts (the anchor second) and a new
             * nonce, anchored at the fresh coin first */
            nonce_model *old = pick_committed();
            if (!old) continue;
            uint32_t fresh = fresh_coin();
            add_input(&b, fresh);
            add_input(&b, old->anchor_coin);
            replace_all_anchored(&b, old->anchor_coin);
            nonce_model *n = new_nonce(1000000 + rng() % 1000000);
            payout_for(&b.out[b.n_out++], n, 0);
            b.payout_nonce[b.n_payouts++] = n;
            assert_int_equal(run(c, tree, &b, 6000, sigs, &oc), OS_OK);
            assert_freezes_nothing(&b);
            anchor(n, fresh);
            size_t k;
            for (k = 0; k < b.n_payouts; k++) record(b.payout_nonce[k], b.in, b.n_in);
            signed_ok++;
        } else if (dice < 95) {
            /* a hostile host spends an anchor without replacing all its payouts: a consolidation,
             * a payout for another nonce anchored there, or (a batch's anchor) all but one of them */
            nonce_model *n = pick_committed();
            if (!n) continue;
            uint32_t a = n->anchor_coin;
            unsigned how = (unsigned)(rng() % 3);
            if (how == 0 && rng() % 2) add_input(&b, fresh_coin());
            add_input(&b, a);
            if (how == 1) {
                nonce_model *other = new_nonce(1000000 + rng() % 1000000);
                payout_for(&b.out[b.n_out++], other, 0);   /* never committed: the signer refuses */
            } else if (how == 2 && n_anchored_at[a] > 1) {
                replace_all_anchored(&b, a);
                b.n_out--;
                b.n_payouts--;
            }
            uint8_t root_before[32], root_after[32];
            nonce_tree_root(tree, root_before);
            assert_int_equal(run(c, tree, &b, 3000, sigs, &oc), OS_ERR_ANCHOR_SPENT);
            nonce_tree_root(tree, root_after);
            assert_memory_equal(root_after, root_before, 32);
            refused_anchor_spends++;
        } else {
            c = harness_reboot();
            reboots++;
        }
        if (op % 64 == 63) {
            /* archive the log as the host would, so the ring never fills */
            os_msg_info info;
            assert_int_equal(harness_info(c, &info), OS_OK);
            assert_int_equal(harness_log_ack(c, info.log_seq), OS_OK);
        }
    }
    /* The property. */
    uint32_t i;
    size_t a, bb;
    long pairs = 0;
    for (i = 0; i < n_nonces; i++) {
        nonce_model *n = &nonces[i];
        for (a = 0; a < n->n_signed; a++)
            for (bb = a + 1; bb < n->n_signed; bb++) {
                assert_true(shares_input(n, a, bb));
                pairs++;
            }
    }
    /* And the host's tree still equals the signer's set. */
    os_msg_info info;
    uint8_t root[32];
    assert_int_equal(harness_info(c, &info), OS_OK);
    nonce_tree_root(tree, root);
    assert_memory_equal(root, info.nonce_root, 32);
    printf("i1: %ld ops, %ld new-payout txs, %ld replacements, %ld repeats, %ld refused replays, "
           "%ld re-anchors rejected by the operator, %ld refused stale hosts, %ld refused anchor spends, "
           "%ld reboots, %u nonces, %ld conflicting pairs checked\n",
           op, signed_ok, replaced, repeats, refused_replays, refused_reanchors, refused_stale, refused_anchor_spends,
           reboots, n_nonces, pairs);
    assert_true(refused_replays > 0 && refused_reanchors > 0 && refused_stale > 0 && replaced > 0 && reboots > 0 &&
                refused_anchor_spends > 0 && pairs > 0);
    nonce_tree_free(tree);
    nonce_tree_free(stale);
    harness_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i1_property),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
