/* oncesign — k-of-n operator approvals against a hostile host (issue 14 part 2): above the quorum
 * threshold a transaction is signed only with approvals of k distinct registered operators, each
 * over THIS transaction's digest on THIS signer and unexpired, and still only after the press.
 * The host is the attacker in every test here: it holds no operator key, or fewer than k. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit_log.h"
#include "board_mem.h"
#include "bytes.h"
#include "codec.h"
#include "crypto.h"
#include "draft.h"
#include "issuer.h"
#include "nonce_set.h"
#include "signer_harness.h"
#include "signing.h"
#include "voucher.h"

#define FLASH (64u * 4096u)
#define THRESHOLD 10000000ull          /* 0.1 MONA: payouts totalling more need 2 of 3 */
#define ABOVE 50000000ull              /* a payout the quorum must approve */

static uint8_t g_buf[OS_MAX_MESSAGE];
static const uint8_t OP_PRIV[3][32] = { { 0x21, [31] = 0x01 }, { 0x22, [31] = 0x02 }, { 0x23, [31] = 0x03 } };
static const uint8_t ROGUE_PRIV[32] = { 0x66, [31] = 0x77 };      /* a key the host made up */
static const uint8_t ISSUER_PRIV[32] = { 0x11, 0x22, 0x33, [31] = 0x44 };

static void fingerprint(const uint8_t key[32], char out[17]) {
    int i;
    for (i = 0; i < 8; i++) snprintf(out + 2 * i, 3, "%02x", key[i]);
}

/* The three operator keys, sorted (the wire order). */
static void operator_keys(uint8_t keys[3][32]) {
    int i, j;
    for (i = 0; i < 3; i++) harness_xonly(OP_PRIV[i], keys[i]);
    for (i = 0; i < 3; i++)
        for (j = i + 1; j < 3; j++)
            if (memcmp(keys[i], keys[j], 32) > 0) {
                uint8_t t[32];
                memcpy(t, keys[i], 32);
                memcpy(keys[i], keys[j], 32);
                memcpy(keys[j], t, 32);
            }
}

/* A device with the three operators registered, 2 of 3 above THRESHOLD; *signer its attestation key,
 * *tree an empty host nonce tree when tree is not NULL. */
static os_client *quorum_device(uint64_t seed, uint8_t signer[32], nonce_tree **tree) {
    os_client *c = harness_start_initialized(FLASH, seed, signer, tree);
    uint8_t keys[3][32];
    operator_keys(keys);
    assert_int_equal(harness_set_operators(c, 2, &keys[0][0], 3, THRESHOLD, NULL), OS_MSG_SUCCESS);
    return c;
}

static void tx_digest(const os_sign_tx *tx, uint8_t digest[32]) {
    uint8_t hp[32];
    assert_int_equal(os_draft_commitment(tx, hp, digest), OS_OK);
}

/* What `oncesign approve` does on an operator's machine: BIP340 by priv over the approval hash of
 * digest, expiring at log seq expiry, for signer. */
static void approve(os_approval *a, const uint8_t priv[32], const uint8_t digest[32], uint64_t expiry,
                    const uint8_t signer[32]) {
    crypto_schnorr_key key;
    uint8_t msg[32], aux[32] = { 0 };
    memset(a, 0, sizeof *a);
    harness_xonly(priv, a->operator_key);
    a->expiry_seq = expiry;
    assert_int_equal(os_approval_hash(digest, expiry, signer, msg), OS_OK);
    assert_int_equal(crypto_schnorr_key_load(priv, &key), OS_OK);
    assert_int_equal(crypto_schnorr_sign(&key, msg, aux, a->sig), OS_OK);
    crypto_schnorr_key_wipe(&key);
}

/* Adds priv's approval of p's own transaction (expiring at seq 1000). */
static void add_approval(harness_one_payout *p, const uint8_t priv[32], const uint8_t signer[32]) {
    uint8_t digest[32];
    tx_digest(&p->tx, digest);
    approve(&p->approvals[p->tx.n_approvals++], priv, digest, 1000, signer);
}

/* The host's attempt is refused with reason, the refusal is the newest entry and the only one
 * added (reason, approvals held, this transaction's digest, the approval's key and expiry, or
 * zeros for a missing quorum), nothing is signed and the nonce set is unchanged. */
static void assert_refused_and_logged(os_client *c, nonce_tree *tree, harness_one_payout *p, int reason, uint16_t held,
                                      const os_approval *a) {
    os_msg_info before, after;
    os_input_sig sigs[1];
    os_sign_outcome oc;
    uint8_t digest[32], zero[32] = { 0 };
    tx_digest(&p->tx, digest);
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &p->tx, sigs, &oc, harness_on_pending, NULL), reason);
    assert_int_equal(oc.device_refused, 1);
    assert_int_equal(oc.committed, 0);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_int_equal(after.log_seq, before.log_seq + 1);
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_REFUSE_APPROVAL);
    const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
    assert_int_equal(os_read_le16(entry + AUDIT_LOG_OFF_PAYLOAD_LEN), 76);
    assert_int_equal(os_read_le16(pl), reason);
    assert_int_equal(os_read_le16(pl + 2), held);
    assert_memory_equal(pl + 4, digest, 32);
    assert_memory_equal(pl + 36, a != NULL ? a->operator_key : zero, 32);
    assert_int_equal(os_read_le64(pl + 68), a != NULL ? a->expiry_seq : 0);
}

/* k valid approvals and the press sign; the screens name who approved; the log has an APPROVALS
 * entry (tx digest, count, the keys) just before the SIGN entry of the same digest. The quorum is
 * durable: after a reboot, k - 1 approvals are refused and logged. */
static void test_k_approvals_and_the_press_sign(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(301, signer, &tree);
    harness_one_payout p;
    harness_one_payout_make(&p, 1, ABOVE, 1, 51);
    add_approval(&p, OP_PRIV[2], signer);
    /* the second as `oncesign approve` makes it (host/lib/issuer.c), through its wire form */
    {
        uint8_t digest[32], wire[OS_APPROVAL_BYTES];
        os_approval made;
        tx_digest(&p.tx, digest);
        assert_int_equal(os_approval_sign(&made, digest, 1000, signer, OP_PRIV[0]), OS_OK);
        assert_int_equal(os_approval_encode(&made, wire), OS_OK);
        assert_int_equal(os_approval_decode(wire, &p.approvals[p.tx.n_approvals++]), OS_OK);
    }
    os_input_sig sigs[1];
    os_sign_outcome oc;
    board_mem_display_transcript_clear();
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    char fp_first[17], fp_second[17];
    fingerprint(p.approvals[0].operator_key, fp_first);
    fingerprint(p.approvals[1].operator_key, fp_second);
    harness_assert_shown("total > quorum limit");
    harness_assert_shown("approved by 2 of 3");
    harness_assert_shown(fp_first);
    harness_assert_shown(fp_second);

    uint8_t sign_entry[OS_LOG_ENTRY_BYTES], digest[32];
    uint64_t seq;
    os_msg reply;
    tx_digest(&p.tx, digest);
    harness_newest_entry(c, sign_entry, &seq);
    assert_int_equal(sign_entry[AUDIT_LOG_OFF_TYPE], OS_LOG_SIGN);
    assert_memory_equal(sign_entry + AUDIT_LOG_OFF_PAYLOAD + 32, digest, 32);
    assert_int_equal(sign_entry[AUDIT_LOG_OFF_PAYLOAD + 32 * 3 + 8 + 8 + 2 + 2], 1);   /* pressed */
    assert_int_equal(harness_log_read(c, seq - 1, &reply), OS_OK);
    const uint8_t *ae = reply.u.log_entry.entry;
    assert_int_equal(ae[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVALS);
    assert_memory_equal(ae + AUDIT_LOG_OFF_PAYLOAD, digest, 32);
    assert_int_equal(ae[AUDIT_LOG_OFF_PAYLOAD + 32], 2);
    assert_memory_equal(ae + AUDIT_LOG_OFF_PAYLOAD + 33, p.approvals[0].operator_key, 32);
    assert_memory_equal(ae + AUDIT_LOG_OFF_PAYLOAD + 65, p.approvals[1].operator_key, 32);

    c = harness_reboot();
    harness_one_payout q;
    harness_one_payout_make(&q, 2, ABOVE, 2, 52);
    add_approval(&q, OP_PRIV[1], signer);
    assert_refused_and_logged(c, tree, &q, OS_ERR_QUORUM_MISSING, 1, NULL);
    nonce_tree_free(tree);
    harness_stop();
}

/* k - 1 approvals, and none: refused and logged, nothing signed. */
static void test_k_minus_1_approvals_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(302, signer, &tree);
    harness_one_payout p;
    harness_one_payout_make(&p, 66, ABOVE, 3, 53);
    add_approval(&p, OP_PRIV[1], signer);
    assert_refused_and_logged(c, tree, &p, OS_ERR_QUORUM_MISSING, 1, NULL);
    harness_one_payout_make(&p, 66, ABOVE, 3, 53);
    assert_refused_and_logged(c, tree, &p, OS_ERR_QUORUM_MISSING, 0, NULL);
    nonce_tree_free(tree);
    harness_stop();
}

/* Operators' real approvals of another transaction (the same coin and nonce to another
 * destination), forwarded for the thief's: the signature does not verify over this transaction's
 * digest. Likewise an approval made for another signer. */
static void test_approval_for_another_transaction_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(303, signer, &tree);
    harness_one_payout honest, theft;
    uint8_t digest[32];
    harness_one_payout_make(&honest, 5, ABOVE, 4, 54);
    harness_one_payout_make(&theft, 66, ABOVE, 4, 54);
    tx_digest(&honest.tx, digest);
    approve(&theft.approvals[0], OP_PRIV[0], digest, 1000, signer);
    approve(&theft.approvals[1], OP_PRIV[1], digest, 1000, signer);
    theft.tx.n_approvals = 2;
    assert_refused_and_logged(c, tree, &theft, OS_ERR_APPROVAL_MISMATCH, 0, &theft.approvals[0]);

    uint8_t other_signer[32];
    memcpy(other_signer, signer, 32);
    other_signer[0] ^= 1;
    harness_one_payout_make(&theft, 66, ABOVE, 4, 54);
    add_approval(&theft, OP_PRIV[0], signer);
    tx_digest(&theft.tx, digest);
    approve(&theft.approvals[1], OP_PRIV[1], digest, 1000, other_signer);
    theft.tx.n_approvals = 2;
    assert_refused_and_logged(c, tree, &theft, OS_ERR_APPROVAL_MISMATCH, 1, &theft.approvals[1]);
    nonce_tree_free(tree);
    harness_stop();
}

/* One operator's approval twice, to make up k: refused and logged; a second signature by the same
 * key (another expiry) is the same operator. */
static void test_same_key_twice_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(304, signer, &tree);
    harness_one_payout p;
    harness_one_payout_make(&p, 66, ABOVE, 5, 55);
    add_approval(&p, OP_PRIV[0], signer);
    p.approvals[1] = p.approvals[0];
    p.tx.n_approvals = 2;
    assert_refused_and_logged(c, tree, &p, OS_ERR_APPROVAL_DUPLICATE, 1, &p.approvals[1]);
    harness_one_payout_make(&p, 66, ABOVE, 5, 55);
    add_approval(&p, OP_PRIV[0], signer);
    uint8_t digest[32];
    tx_digest(&p.tx, digest);
    approve(&p.approvals[1], OP_PRIV[0], digest, 999, signer);
    p.tx.n_approvals = 2;
    assert_refused_and_logged(c, tree, &p, OS_ERR_APPROVAL_DUPLICATE, 1, &p.approvals[1]);
    nonce_tree_free(tree);
    harness_stop();
}

/* An approval by a key the host made up, correctly signed: refused and logged. */
static void test_unregistered_key_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(305, signer, &tree);
    harness_one_payout p;
    harness_one_payout_make(&p, 66, ABOVE, 6, 56);
    add_approval(&p, OP_PRIV[0], signer);
    add_approval(&p, ROGUE_PRIV, signer);
    assert_refused_and_logged(c, tree, &p, OS_ERR_APPROVAL_OPERATOR, 1, &p.approvals[1]);
    nonce_tree_free(tree);
    harness_stop();
}

/* An approval whose expiry the signer's log reached: refused and logged; one whose expiry is
 * above the log is valid (the boundary is log_seq < expiry_seq). */
static void test_expired_approval_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(306, signer, &tree);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    harness_one_payout p;
    uint8_t digest[32];
    harness_one_payout_make(&p, 66, ABOVE, 7, 57);
    tx_digest(&p.tx, digest);
    add_approval(&p, OP_PRIV[0], signer);
    approve(&p.approvals[1], OP_PRIV[1], digest, info.log_seq, signer);
    p.tx.n_approvals = 2;
    assert_refused_and_logged(c, tree, &p, OS_ERR_APPROVAL_EXPIRED, 1, &p.approvals[1]);

    /* the refusal was an entry: the log is at info.log_seq + 1; an expiry one above it is valid */
    harness_one_payout_make(&p, 7, ABOVE, 7, 57);
    tx_digest(&p.tx, digest);
    add_approval(&p, OP_PRIV[0], signer);
    approve(&p.approvals[1], OP_PRIV[1], digest, info.log_seq + 2, signer);
    p.tx.n_approvals = 2;
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    nonce_tree_free(tree);
    harness_stop();
}

/* k valid approvals do not replace the press: the operator rejects, nothing is signed, the
 * rejection is logged. At the threshold no approval is asked for. */
static void test_quorum_still_needs_the_press_and_only_above_threshold(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(307, signer, &tree);
    harness_one_payout p;
    harness_one_payout_make(&p, 8, ABOVE, 8, 58);
    add_approval(&p, OP_PRIV[0], signer);
    add_approval(&p, OP_PRIV[1], signer);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    harness_set_operator(OPERATOR_REJECT);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, harness_on_pending, NULL), OS_ERR_USER_REJECTED);
    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVAL);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD], 1);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 0);

    /* exactly the threshold: no quorum, and no press (the open policy asks for nothing) */
    harness_one_payout q;
    harness_one_payout_make(&q, 9, THRESHOLD, 9, 59);
    harness_set_operator(OPERATOR_ABSENT);
    assert_int_equal(os_sign_run(c, tree, &q.tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    harness_set_operator(OPERATOR_APPROVE);
    nonce_tree_free(tree);
    harness_stop();
}

/* Registration: the operator sees k, n, the threshold and each key's fingerprint, old -> new; a
 * registration without the press (rejected) is logged (APPROVAL what 7) and changes nothing; the
 * codec refuses a set with k > n, k = 0 with keys, or keys out of order. */
static void test_operator_registration_screens_and_rejection(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 308);
    os_policy pol = harness_policy_open();
    assert_int_equal(harness_init_device(c, &pol, OS_SCRIPT_P2PKH), OS_OK);
    uint8_t keys[3][32];
    uint16_t code;
    operator_keys(keys);

    os_msg req;
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_SET_OPERATORS;
    req.u.set_operators.n_operators = 2;
    req.u.set_operators.k = 3;
    req.u.set_operators.keys = &keys[0][0];
    assert_int_equal(os_msg_encode(&req, g_buf, sizeof g_buf, &(size_t){ 0 }), OS_ERR_MSG_MALFORMED);
    req.u.set_operators.k = 0;
    assert_int_equal(os_msg_encode(&req, g_buf, sizeof g_buf, &(size_t){ 0 }), OS_ERR_MSG_MALFORMED);
    req.u.set_operators.k = 1;
    uint8_t swapped[64];
    memcpy(swapped, keys[1], 32);
    memcpy(swapped + 32, keys[0], 32);
    req.u.set_operators.keys = swapped;
    assert_int_equal(os_msg_encode(&req, g_buf, sizeof g_buf, &(size_t){ 0 }), OS_ERR_MSG_MALFORMED);
    req.u.set_operators.keys = &keys[0][0];
    assert_int_equal(os_msg_encode(&req, g_buf, sizeof g_buf, &(size_t){ 0 }), OS_OK);

    harness_set_operator(OPERATOR_REJECT);
    board_mem_display_transcript_clear();
    assert_int_equal(harness_set_operators(c, 2, &keys[0][0], 3, THRESHOLD, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_USER_REJECTED);
    harness_set_operator(OPERATOR_APPROVE);
    harness_assert_shown("*approvals needed:\n 0\n-> 2");
    harness_assert_shown("*above, MONA:\n 0\n-> 0.1");
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVAL);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD], 7);   /* what 7: an operator set */
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 0);

    /* nothing registered: a large payout still signs without approvals */
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    harness_one_payout p;
    harness_one_payout_make(&p, 9, ABOVE, 9, 60);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, NULL, NULL), OS_OK);

    /* approved: an OPERATORS entry with the whole set, and from then on the quorum is needed */
    board_mem_display_transcript_clear();
    assert_int_equal(harness_set_operators(c, 2, &keys[0][0], 3, THRESHOLD, &code), OS_MSG_SUCCESS);
    char fp[17], screen[64];
    for (int i = 0; i < 3; i++) {
        fingerprint(keys[i], fp);
        snprintf(screen, sizeof screen, "-> %s", fp);
        harness_assert_shown(screen);
    }
    harness_assert_shown("approve = set operators");
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_OPERATORS);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD], 2);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 3);
    assert_int_equal(os_read_le64(entry + AUDIT_LOG_OFF_PAYLOAD + 2), THRESHOLD);
    assert_memory_equal(entry + AUDIT_LOG_OFF_PAYLOAD + 10, keys, sizeof keys);
    harness_one_payout_make(&p, 9, ABOVE, 10, 61);
    assert_refused_and_logged(c, tree, &p, OS_ERR_QUORUM_MISSING, 0, NULL);
    nonce_tree_free(tree);
    harness_stop();
}

/* An approval outside its place (no transaction's outputs are in) is refused: the digest it
 * would be checked against does not exist yet. */
static void test_approval_out_of_order_refused(void **state) {
    (void)state;
    uint8_t signer[32];
    os_client *c = quorum_device(309, signer, NULL);
    os_msg req, reply;
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_SIGN_APPROVAL;
    harness_xonly(OP_PRIV[0], req.u.sign_approval.approval.operator_key);
    req.u.sign_approval.approval.expiry_seq = 1000;
    assert_int_equal(os_client_call(c, &req, &reply, g_buf, 5000), OS_OK);
    assert_int_equal(reply.type, OS_MSG_ERROR);
    assert_int_equal(reply.u.error.code, OS_ERR_MSG_UNEXPECTED);
    harness_stop();
}

/* DESIGN.md §8's claim: a compromised issuer key (with the bridge, and one operator key) mints a
 * valid voucher for a payout inside every cap; above the quorum threshold the signer still
 * refuses it, logged, without k operators' approvals. */
static void test_compromised_issuer_bounded_by_the_quorum(void **state) {
    (void)state;
    uint8_t signer[32], issuer[32];
    nonce_tree *tree = NULL;
    os_client *c = quorum_device(310, signer, &tree);
    harness_xonly(ISSUER_PRIV, issuer);
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, issuer, 1, NULL), OS_MSG_SUCCESS);

    harness_one_payout p;
    harness_one_payout_make(&p, 666, ABOVE, 11, 62);
    os_voucher v;
    memset(&v, 0, sizeof v);
    v.network = OS_NET_REGTEST;
    memcpy(v.nonce, p.out[0].nonce, 32);
    v.amount = ABOVE;
    v.expiry_seq = 1000;
    memcpy(v.signer, signer, 32);
    memcpy(v.issuer, issuer, 32);
    crypto_schnorr_key key;
    uint8_t id[32], aux[32] = { 0 };
    assert_int_equal(os_voucher_id(&v, id), OS_OK);
    assert_int_equal(crypto_schnorr_key_load(ISSUER_PRIV, &key), OS_OK);
    assert_int_equal(crypto_schnorr_sign(&key, id, aux, v.sig), OS_OK);
    crypto_schnorr_key_wipe(&key);
    p.out[0].voucher = &v;
    add_approval(&p, OP_PRIV[2], signer);
    assert_refused_and_logged(c, tree, &p, OS_ERR_QUORUM_MISSING, 1, NULL);

    /* with the second operator's approval the same voucher pays (after the press): the voucher was
     * never the obstacle */
    harness_one_payout_make(&p, 666, ABOVE, 11, 62);
    p.out[0].voucher = &v;
    add_approval(&p, OP_PRIV[2], signer);
    add_approval(&p, OP_PRIV[1], signer);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    nonce_tree_free(tree);
    harness_stop();
}

/* The approval hash binds every field: a change of digest, expiry or signer changes it. */
static void test_approval_hash_binds_its_fields(void **state) {
    (void)state;
    uint8_t d[32] = { 1 }, s[32] = { 2 }, h[32], h2[32];
    assert_int_equal(os_approval_hash(d, 5, s, h), OS_OK);
    d[31] ^= 1;
    assert_int_equal(os_approval_hash(d, 5, s, h2), OS_OK);
    assert_memory_not_equal(h, h2, 32);
    d[31] ^= 1;
    assert_int_equal(os_approval_hash(d, 6, s, h2), OS_OK);
    assert_memory_not_equal(h, h2, 32);
    s[0] ^= 1;
    assert_int_equal(os_approval_hash(d, 5, s, h2), OS_OK);
    assert_memory_not_equal(h, h2, 32);
    s[0] ^= 1;
    assert_int_equal(os_approval_hash(d, 5, s, h2), OS_OK);
    assert_memory_equal(h, h2, 32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_k_approvals_and_the_press_sign),
        cmocka_unit_test(test_k_minus_1_approvals_refused_and_logged),
        cmocka_unit_test(test_approval_for_another_transaction_refused_and_logged),
        cmocka_unit_test(test_same_key_twice_refused_and_logged),
        cmocka_unit_test(test_unregistered_key_refused_and_logged),
        cmocka_unit_test(test_expired_approval_refused_and_logged),
        cmocka_unit_test(test_quorum_still_needs_the_press_and_only_above_threshold),
        cmocka_unit_test(test_operator_registration_screens_and_rejection),
        cmocka_unit_test(test_approval_out_of_order_refused),
        cmocka_unit_test(test_compromised_issuer_bounded_by_the_quorum),
        cmocka_unit_test(test_approval_hash_binds_its_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
