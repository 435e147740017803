/* oncesign — NONCE_RESET on the signer core (docs/RECOVERY.md): the operator-approved end of a nonce
 * set, for a ledger restored from a backup older than the signer's last signature and for a device
 * restored from the mnemonic that continues a dead one's log. The host is hostile: a reset before
 * setup, for another wallet, bound to a log head that moved on (a replay), or rejected by the operator
 * changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "audit_log.h"
#include "bip32.h"
#include "bip39.h"
#include "bytes.h"
#include "nonce_reset.h"
#include "nonce_set.h"
#include "signer_harness.h"
#include "signing.h"

#define FLASH (64u * 4096u)

static void wallet_fingerprint(uint8_t fp[4]) {
    uint8_t seed[64];
    bip32_node master;
    assert_int_equal(bip39_seed(HARNESS_MNEMONIC, strlen(HARNESS_MNEMONIC), NULL, seed), OS_OK);
    assert_int_equal(bip32_from_seed(seed, sizeof seed, &master), OS_OK);
    bip32_fingerprint(&master, fp);
    bip32_wipe(&master);
}

/* A device set up and one payout signed: its nonce set is not empty. */
static os_client *device_with_one_payout(nonce_tree **tree, uint64_t seed) {
    os_client *c = harness_start(FLASH, seed);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    harness_coin a;
    assert_int_equal(harness_make_coin(&a, OS_SCRIPT_P2PKH, 0, 1, 50000000, 1), OS_OK);
    assert_int_equal(nonce_tree_create(tree), OS_OK);
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 9, 10000000, 77);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 50000000 - 10000000 - 5000);
    os_sign_tx tx = harness_tx(&a.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, *tree, &tx, sigs, &oc, NULL, NULL), OS_OK);
    return c;
}

/* The reset of the device's own set, as a restore asks it: continues its own head. */
static os_msg_nonce_reset own_reset(const os_msg_info *info) {
    uint8_t fp[4];
    os_msg_nonce_reset m;
    wallet_fingerprint(fp);
    assert_int_equal(os_nonce_reset_make(info, fp, info->attestation_pubkey, info->log_seq, info->log_head, &m), OS_OK);
    return m;
}

static void assert_unchanged(os_client *c, const os_msg_info *before) {
    os_msg_info now;
    assert_int_equal(harness_info(c, &now), OS_OK);
    assert_memory_equal(now.nonce_root, before->nonce_root, 32);
    assert_true(now.log_seq == before->log_seq);
}

static void test_reset_before_setup_refused(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 3);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    os_msg_nonce_reset m = own_reset(&info);
    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_NOT_INITIALIZED);
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_false(info.initialized);
    harness_stop();
}

/* Approved: the set is empty, the NONCE_RESET entry names the head it continues and the root it
 * retired, and the committed nonce can be signed anew only against the empty set. */
static void test_approved_reset_empties_the_set_and_logs_it(void **state) {
    (void)state;
    nonce_tree *tree = NULL;
    os_client *c = device_with_one_payout(&tree, 5);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    uint8_t empty[32];
    nonce_set_empty_root(empty);
    assert_memory_not_equal(before.nonce_root, empty, 32);
    os_msg_nonce_reset m = own_reset(&before);
    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, empty, 32);
    assert_true(after.log_seq == before.log_seq + 1);

    os_msg reply;
    uint8_t hash[32];
    assert_int_equal(harness_log_read(c, after.log_seq, &reply), OS_OK);
    const uint8_t *entry = reply.u.log_entry.entry;
    assert_int_equal(audit_log_verify_entry(after.attestation_pubkey, entry, after.log_seq, before.log_head, hash),
                     OS_OK);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_NONCE_RESET);
    const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
    assert_memory_equal(pl, before.attestation_pubkey, 32);
    assert_true(os_read_le64(pl + 32) == before.log_seq);
    assert_memory_equal(pl + 40, before.log_head, 32);
    assert_memory_equal(pl + 72, before.nonce_root, 32);

    /* the old tree (holding the nonce) proves nothing against the empty set (its first proof, the
     * input's anchor entry, already fails); a fresh tree does, for the same nonce on another coin */
    harness_coin b;
    assert_int_equal(harness_make_coin(&b, OS_SCRIPT_P2PKH, 0, 2, 50000000, 2), OS_OK);
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    harness_payout(&out[0], 9, 10000000, 77);
    harness_change(&out[1], OS_SCRIPT_P2PKH, 0, 50000000 - 10000000 - 5000);
    os_sign_tx tx = harness_tx(&b.input, 1, out, 2);
    assert_int_equal(os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL), OS_ERR_PROOF_INVALID);
    nonce_tree *fresh = NULL;
    assert_int_equal(nonce_tree_create(&fresh), OS_OK);
    assert_int_equal(os_sign_run(c, fresh, &tx, sigs, &oc, NULL, NULL), OS_OK);

    /* the same request again (a replay): the head moved on, nothing is asked */
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_LOG_HEAD);
    assert_unchanged(c, &before);
    nonce_tree_free(fresh);
    nonce_tree_free(tree);
    harness_stop();
}

static void test_hostile_resets_refused(void **state) {
    (void)state;
    nonce_tree *tree = NULL;
    os_client *c = device_with_one_payout(&tree, 7);
    os_msg_info before;
    assert_int_equal(harness_info(c, &before), OS_OK);
    harness_set_operator(OPERATOR_APPROVE);

    /* another wallet (the host names a different seed's fingerprint) */
    os_msg_nonce_reset m = own_reset(&before);
    m.fingerprint[0] ^= 1;
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_WRONG_WALLET);
    assert_unchanged(c, &before);

    /* bound to an older head of the device (a request prepared before later entries) */
    m = own_reset(&before);
    m.device_log_seq -= 1;
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_LOG_HEAD);
    m = own_reset(&before);
    m.device_log_head[5] ^= 1;
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_LOG_HEAD);
    assert_unchanged(c, &before);

    /* its own key, but claiming to continue from another point of its own chain */
    m = own_reset(&before);
    m.prev_log_seq -= 1;
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_LOG_HEAD);
    assert_unchanged(c, &before);

    /* the operator rejects: the set stays, and the rejection is an APPROVAL entry (what 5) */
    m = own_reset(&before);
    harness_set_operator(OPERATOR_REJECT);
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_USER_REJECTED);
    os_msg_info after;
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_true(after.log_seq == before.log_seq + 1);
    os_msg reply;
    assert_int_equal(harness_log_read(c, after.log_seq, &reply), OS_OK);
    assert_int_equal(reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVAL);
    assert_int_equal(reply.u.log_entry.entry[AUDIT_LOG_OFF_PAYLOAD], 5);
    assert_int_equal(reply.u.log_entry.entry[AUDIT_LOG_OFF_PAYLOAD + 1], 0);

    /* nobody presses: the host gives up, CANCEL ends the prompt, nothing changed */
    assert_int_equal(harness_info(c, &before), OS_OK);
    m = own_reset(&before);
    harness_set_operator(OPERATOR_ABSENT);
    os_client_set_operator_timeout(c, 1500);
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_TIMEOUT);
    assert_unchanged(c, &before);
    nonce_tree_free(tree);
    harness_stop();
}

/* A device restored from the mnemonic continues a dead device's log: the entry names the dead
 * device's attestation key and the last head the host archived from it. */
static void test_replacement_continues_a_dead_devices_log(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 9);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    uint8_t fp[4], old_key[32], old_head[32];
    wallet_fingerprint(fp);
    memset(old_key, 0x5A, sizeof old_key);
    memset(old_head, 0xC3, sizeof old_head);
    os_msg_nonce_reset m;
    assert_int_equal(os_nonce_reset_make(&before, fp, old_key, 1234, old_head, &m), OS_OK);
    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_OK);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_true(after.log_seq == before.log_seq + 1);
    os_msg reply;
    assert_int_equal(harness_log_read(c, after.log_seq, &reply), OS_OK);
    const uint8_t *pl = reply.u.log_entry.entry + AUDIT_LOG_OFF_PAYLOAD;
    assert_int_equal(reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE], OS_LOG_NONCE_RESET);
    assert_memory_equal(pl, old_key, 32);
    assert_true(os_read_le64(pl + 32) == 1234);
    assert_memory_equal(pl + 40, old_head, 32);
    /* replayed: refused, nothing logged */
    assert_int_equal(os_nonce_reset(c, &m, 5000, harness_on_pending, NULL), OS_ERR_LOG_HEAD);
    assert_unchanged(c, &after);
    harness_stop();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_before_setup_refused),
        cmocka_unit_test(test_approved_reset_empties_the_set_and_logs_it),
        cmocka_unit_test(test_hostile_resets_refused),
        cmocka_unit_test(test_replacement_continues_a_dead_devices_log),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
