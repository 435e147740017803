/* oncesign — issuer vouchers against a hostile host (issue 14): with vouchers required, the device
 * signs a NEW nonce only under a voucher a registered issuer signed for this signer, pays at most
 * its amount, to its destination where it names one, before its expiry; every refusal is logged.
 * The host is the attacker in every test here: it holds no issuer key. */
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
#include "nonce_set.h"
#include "signer_harness.h"
#include "signing.h"
#include "voucher.h"

#define FLASH (64u * 4096u)

static uint8_t g_buf[OS_MAX_MESSAGE];
static const uint8_t ISSUER_PRIV[32] = { 0x11, 0x22, 0x33, [31] = 0x44 };   /* the service backend */
static const uint8_t ROGUE_PRIV[32] = { 0x66, [31] = 0x77 };                /* a key the host made up */

/* A device set up with ISSUER_PRIV's key registered and vouchers required; *signer its attestation key,
 * *tree an empty host nonce tree. */
static os_client *voucher_device(uint64_t seed, uint8_t signer[32], nonce_tree **tree) {
    os_client *c = harness_start_initialized(FLASH, seed, signer, tree);
    uint8_t key[32];
    harness_xonly(ISSUER_PRIV, key);
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, key, 1, NULL), OS_MSG_SUCCESS);
    return c;
}

/* The voucher an issuer holding priv would sign for payout o: its nonce and amount, this signer,
 * regtest, expiring at log seq 1000; bound to o's script when bind is set. */
static void make_voucher(os_voucher *v, const uint8_t priv[32], const os_sign_output *o, const uint8_t signer[32],
                         int bind) {
    memset(v, 0, sizeof *v);
    v->network = OS_NET_REGTEST;
    memcpy(v->nonce, o->nonce, 32);
    v->amount = o->amount;
    v->expiry_seq = 1000;
    memcpy(v->signer, signer, 32);
    if (bind) {
        v->flags = OS_VOUCHER_DESTINATION;
        v->script_len = o->script_len;
        memcpy(v->script, o->script, o->script_len);
    }
    harness_xonly(priv, v->issuer);
}

static void sign_voucher(os_voucher *v, const uint8_t priv[32]) {
    crypto_schnorr_key key;
    uint8_t id[32], aux[32] = { 0 };
    harness_xonly(priv, v->issuer);
    assert_int_equal(os_voucher_id(v, id), OS_OK);
    assert_int_equal(crypto_schnorr_key_load(priv, &key), OS_OK);
    assert_int_equal(crypto_schnorr_sign(&key, id, aux, v->sig), OS_OK);
    crypto_schnorr_key_wipe(&key);
}

/* make_voucher and sign_voucher, the voucher going with p's payout. */
static void voucher_for(os_voucher *v, const uint8_t priv[32], harness_one_payout *p, const uint8_t signer[32],
                        int bind) {
    make_voucher(v, priv, &p->out[0], signer, bind);
    sign_voucher(v, priv);
    p->out[0].voucher = v;
}

/* The host's attempt is refused with reason, the refusal is the newest entry (reason, output 0,
 * amount, nonce, voucher id), and the nonce set is unchanged. */
static void assert_refused_and_logged(os_client *c, nonce_tree *tree, harness_one_payout *p, int reason,
                                      const os_voucher *v) {
    os_msg_info before, after;
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &p->tx, sigs, &oc, NULL, NULL), reason);
    assert_int_equal(oc.device_refused, 1);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    assert_int_equal(after.log_seq, before.log_seq + 1);
    uint8_t entry[OS_LOG_ENTRY_BYTES], id[32] = { 0 };
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_REFUSE_VOUCHER);
    const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
    assert_int_equal(os_read_le16(pl), reason);
    assert_int_equal(os_read_le16(pl + 2), 0);
    assert_int_equal(os_read_le64(pl + 4), p->out[0].amount);
    assert_memory_equal(pl + 12, p->out[0].nonce, 32);
    if (v != NULL) assert_int_equal(os_voucher_id(v, id), OS_OK);
    assert_memory_equal(pl + 44, id, 32);
}

/* The issuer's voucher pays, and the log names it: a VOUCHERS entry for the same transaction
 * digest as the SIGN entry after it, with the chained hash of the voucher ids. */
static void test_voucher_pays_and_is_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(201, signer, &tree);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 1, 25000000, 1, 31);
    voucher_for(&v, ISSUER_PRIV, &p, signer, 1);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, NULL, NULL), OS_OK);

    os_msg reply;
    uint8_t sign_entry[OS_LOG_ENTRY_BYTES], chain[64] = { 0 }, digest[32];
    uint64_t seq;
    harness_newest_entry(c, sign_entry, &seq);
    assert_int_equal(sign_entry[AUDIT_LOG_OFF_TYPE], OS_LOG_SIGN);
    assert_int_equal(harness_log_read(c, seq - 1, &reply), OS_OK);
    const uint8_t *ve = reply.u.log_entry.entry;
    assert_int_equal(ve[AUDIT_LOG_OFF_TYPE], OS_LOG_VOUCHERS);
    assert_int_equal(os_read_le16(ve + AUDIT_LOG_OFF_PAYLOAD_LEN), 66);
    assert_memory_equal(ve + AUDIT_LOG_OFF_PAYLOAD, sign_entry + AUDIT_LOG_OFF_PAYLOAD + 32, 32);
    assert_int_equal(os_read_le16(ve + AUDIT_LOG_OFF_PAYLOAD + 32), 1);
    assert_int_equal(os_voucher_id(&v, chain + 32), OS_OK);
    crypto_sha256(chain, sizeof chain, digest);
    assert_memory_equal(ve + AUDIT_LOG_OFF_PAYLOAD + 34, digest, 32);

    /* the requirement is durable: a reboot keeps it */
    c = harness_reboot();
    harness_one_payout q;
    harness_one_payout_make(&q, 2, 25000000, 2, 32);
    assert_refused_and_logged(c, tree, &q, OS_ERR_VOUCHER_MISSING, NULL);
    nonce_tree_free(tree);
    harness_stop();
}

/* The audit's attack: the bridge invents a nonce and pays itself under the caps. */
static void test_invented_nonce_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(202, signer, &tree);
    harness_one_payout p;
    harness_one_payout_make(&p, 66, 1000000, 0xBAD, 33);
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_MISSING, NULL);
    nonce_tree_free(tree);
    harness_stop();
}

/* A voucher the host signed with a key of its own, and one whose signature was tampered with. */
static void test_unregistered_issuer_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(203, signer, &tree);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 66, 1000000, 3, 34);
    voucher_for(&v, ROGUE_PRIV, &p, signer, 1);
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_ISSUER, &v);

    /* the registered issuer's key named, the signature the host's */
    harness_xonly(ISSUER_PRIV, v.issuer);
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_ISSUER, &v);
    nonce_tree_free(tree);
    harness_stop();
}

/* The genuine voucher of a 0.01 MONA gift code, used for 0.5 MONA. */
static void test_amount_above_voucher_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(204, signer, &tree);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 4, 1000000, 4, 35);
    make_voucher(&v, ISSUER_PRIV, &p.out[0], signer, 0);
    sign_voucher(&v, ISSUER_PRIV);
    p.out[0].amount = 50000000;
    p.out[1].amount = 100000000 - 50000000 - 10000;
    p.out[0].voucher = &v;
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_AMOUNT, &v);
    /* at or below the voucher's amount it pays */
    p.out[0].amount = 1000000;
    p.out[1].amount = 100000000 - 1000000 - 10000;
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, NULL, NULL), OS_OK);
    nonce_tree_free(tree);
    harness_stop();
}

/* A withdrawal's voucher names the user's script; the host pays its own. */
static void test_withdrawal_to_another_destination_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(205, signer, &tree);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 5, 2000000, 5, 36);
    make_voucher(&v, ISSUER_PRIV, &p.out[0], signer, 1);
    sign_voucher(&v, ISSUER_PRIV);
    harness_destination(666, p.out[0].script);
    p.out[0].voucher = &v;
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_DESTINATION, &v);
    nonce_tree_free(tree);
    harness_stop();
}

/* Expired: the signer's log has reached expiry_seq. */
static void test_expired_voucher_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(206, signer, &tree);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 6, 2000000, 6, 37);
    make_voucher(&v, ISSUER_PRIV, &p.out[0], signer, 1);
    v.expiry_seq = info.log_seq;
    sign_voucher(&v, ISSUER_PRIV);
    p.out[0].voucher = &v;
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_EXPIRED, &v);
    /* the refusal was an entry: a voucher that ran to the next seq has now expired as well (the
     * clock only runs forward, whatever the host does) */
    v.expiry_seq = info.log_seq + 1;
    sign_voucher(&v, ISSUER_PRIV);
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_EXPIRED, &v);
    nonce_tree_free(tree);
    harness_stop();
}

/* A voucher for another signer (the code belongs to a signer side by side), another nonce or
 * another network. */
static void test_voucher_for_another_signer_or_nonce_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(207, signer, &tree);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 7, 2000000, 7, 38);
    make_voucher(&v, ISSUER_PRIV, &p.out[0], signer, 1);
    v.signer[0] ^= 1;
    sign_voucher(&v, ISSUER_PRIV);
    p.out[0].voucher = &v;
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_MISMATCH, &v);
    make_voucher(&v, ISSUER_PRIV, &p.out[0], signer, 1);
    v.nonce[31] ^= 1;
    sign_voucher(&v, ISSUER_PRIV);
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_MISMATCH, &v);
    make_voucher(&v, ISSUER_PRIV, &p.out[0], signer, 1);
    v.network = OS_NET_TEST;
    sign_voucher(&v, ISSUER_PRIV);
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_MISMATCH, &v);
    nonce_tree_free(tree);
    harness_stop();
}

/* A gift code's voucher (no destination) paid once; the host offers the nonce again. Paying it
 * again from another coin (a second payment of the same code) is refused by the nonce set and
 * logged (REFUSE_COMMITTED); offering it as new to another destination, with a tree that "forgot"
 * it, fails the proof against the signer's root (PROOF_INVALID: the device cannot tell a reuse from
 * a stale tree then, and nothing is committed or paid). */
static void test_reused_voucher_nonce_refused_and_logged(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(208, signer, &tree);
    harness_one_payout p, q;
    os_voucher v;
    harness_one_payout_make(&p, 8, 3000000, 8, 39);
    voucher_for(&v, ISSUER_PRIV, &p, signer, 0);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, NULL, NULL), OS_OK);

    harness_one_payout_make(&q, 8, 3000000, 8, 40);
    q.out[0].voucher = &v;
    q.out[0].replace = 1;
    q.out[0].anchor = p.coin.input.prevout;
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(os_sign_run(c, tree, &q.tx, sigs, &oc, NULL, NULL), OS_ERR_NONCE_COMMITTED);
    assert_int_equal(oc.device_refused, 1);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_REFUSE_COMMITTED);
    assert_memory_equal(entry + AUDIT_LOG_OFF_PAYLOAD, q.out[0].nonce, 32);

    harness_one_payout r;
    harness_one_payout_make(&r, 666, 3000000, 8, 41);
    r.out[0].voucher = &v;
    nonce_tree *forgot = NULL;
    assert_int_equal(nonce_tree_create(&forgot), OS_OK);
    assert_int_equal(os_sign_run(c, forgot, &r.tx, sigs, &oc, NULL, NULL), OS_ERR_PROOF_INVALID);
    assert_int_equal(oc.device_refused, 1);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, before.nonce_root, 32);
    nonce_tree_free(forgot);
    nonce_tree_free(tree);
    harness_stop();
}

/* Registration: the operator sees the flag and each key's fingerprint, old -> new; a rejection is
 * logged and changes nothing; without vouchers required, a device still signs without them. */
static void test_issuer_registration_screens_and_rejection(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 209);
    os_policy pol = harness_policy_open();
    assert_int_equal(harness_init_device(c, &pol, OS_SCRIPT_P2PKH), OS_OK);
    uint8_t keys[64], fp[17];
    uint16_t code;
    harness_xonly(ISSUER_PRIV, keys);
    harness_xonly(ROGUE_PRIV, keys + 32);
    if (memcmp(keys, keys + 32, 32) > 0) {
        uint8_t t[32];
        memcpy(t, keys, 32);
        memcpy(keys, keys + 32, 32);
        memcpy(keys + 32, t, 32);
    }
    /* unsorted: malformed, refused by the codec before the device sees it */
    os_msg req, reply;
    memset(&req, 0, sizeof req);
    req.version = OS_PROTOCOL_VERSION;
    req.type = OS_MSG_SET_ISSUERS;
    req.u.set_issuers.n_issuers = 2;
    uint8_t swapped[64];
    memcpy(swapped, keys + 32, 32);
    memcpy(swapped + 32, keys, 32);
    req.u.set_issuers.keys = swapped;
    assert_int_equal(os_msg_encode(&req, g_buf, sizeof g_buf, &(size_t){ 0 }), OS_ERR_MSG_MALFORMED);
    (void)reply;

    harness_set_operator(OPERATOR_REJECT);
    os_msg_info before, after;
    assert_int_equal(harness_info(c, &before), OS_OK);
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, keys, 2, &code), OS_MSG_ERROR);
    assert_int_equal(code, OS_ERR_USER_REJECTED);
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVAL);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD], 6);   /* what 6: an issuer set */
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 0);
    /* still no vouchers needed */
    harness_one_payout p;
    harness_one_payout_make(&p, 9, 1000000, 9, 41);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, NULL, NULL), OS_OK);

    harness_set_operator(OPERATOR_APPROVE);
    board_mem_display_transcript_clear();
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, keys, 2, &code), OS_MSG_SUCCESS);
    harness_assert_shown("*vouchers required:\n no\n-> yes\n");
    harness_assert_shown("*issuer keys:\n 0\n-> 2\n");
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < 2; k++) {
        char needle[64];
        for (int i = 0; i < 8; i++) {
            fp[2 * i] = (uint8_t)hex[keys[32 * k + i] >> 4];
            fp[2 * i + 1] = (uint8_t)hex[keys[32 * k + i] & 15];
        }
        fp[16] = 0;
        snprintf(needle, sizeof needle, "*key:\n -\n-> %s\n", (const char *)fp);
        harness_assert_shown(needle);
    }
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_ISSUERS);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD], OS_VOUCHERS_REQUIRED);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 2);
    assert_memory_equal(entry + AUDIT_LOG_OFF_PAYLOAD + 2, keys, 64);
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_true(after.log_seq > before.log_seq);

    /* dropping one key shows the removal */
    board_mem_display_transcript_clear();
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, keys, 1, &code), OS_MSG_SUCCESS);
    snprintf((char *)g_buf, sizeof g_buf, "-> -\n");
    harness_assert_shown((const char *)g_buf);
    nonce_tree_free(tree);
    harness_stop();
}

/* What theft is left (docs/DESIGN.md §8), claim 1: a compromised bridge can redirect a gift code's
 * payout being redeemed (its voucher names no destination: the redeemer does), and no more than
 * that: at most the voucher's amount, once. The host here pays a genuine, unredeemed gift voucher to
 * itself: signed; then tries the same voucher again, and more than its amount: refused. */
static void test_gift_voucher_redirect_is_bounded_by_its_amount_once(void **state) {
    (void)state;
    uint8_t signer[32];
    nonce_tree *tree = NULL;
    os_client *c = voucher_device(210, signer, &tree);
    harness_one_payout p, q;
    os_voucher v;
    harness_one_payout_make(&p, 666, 2000000, 10, 42);    /* the attacker's destination */
    voucher_for(&v, ISSUER_PRIV, &p, signer, 0);
    p.out[0].amount = 2000001;                    /* a satoshi more than vouched */
    p.out[1].amount = 100000000 - 2000001 - 10000;
    assert_refused_and_logged(c, tree, &p, OS_ERR_VOUCHER_AMOUNT, &v);
    p.out[0].amount = 2000000;
    p.out[1].amount = 100000000 - 2000000 - 10000;
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, NULL, NULL), OS_OK);   /* the residual theft */
    harness_one_payout_make(&q, 666, 2000000, 10, 43);
    q.out[0].voucher = &v;
    q.out[0].replace = 1;                         /* the same code again, from another coin */
    q.out[0].anchor = p.coin.input.prevout;
    assert_int_equal(os_sign_run(c, tree, &q.tx, sigs, &oc, NULL, NULL), OS_ERR_NONCE_COMMITTED);
    harness_destination(667, q.out[0].script);    /* ... or to yet another address of the thief's */
    assert_int_equal(os_sign_run(c, tree, &q.tx, sigs, &oc, NULL, NULL), OS_ERR_PROOF_INVALID);
    nonce_tree_free(tree);
    harness_stop();
}

/* Claim 2: a compromised issuer key is bounded by the caps. The thief holds the issuer key and the
 * bridge, and mints a voucher for a payout above the per-payout cap to itself: the signer asks the
 * operator, who rejects; nothing is signed, the rejection is logged. */
static void test_compromised_issuer_bounded_by_the_caps(void **state) {
    (void)state;
    os_client *c = harness_start(FLASH, 211);
    os_policy pol = harness_policy_open();
    pol.per_payout_cap = 10000000;                /* 0.1 MONA */
    assert_int_equal(harness_init_device(c, &pol, OS_SCRIPT_P2PKH), OS_OK);
    uint8_t key[32], signer[32];
    uint16_t code;
    harness_xonly(ISSUER_PRIV, key);
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, key, 1, &code), OS_MSG_SUCCESS);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    memcpy(signer, info.attestation_pubkey, 32);
    nonce_tree *tree = NULL;
    assert_int_equal(nonce_tree_create(&tree), OS_OK);
    harness_one_payout p;
    os_voucher v;
    harness_one_payout_make(&p, 666, 50000000, 11, 44);
    voucher_for(&v, ISSUER_PRIV, &p, signer, 1);
    harness_set_operator(OPERATOR_REJECT);
    os_input_sig sigs[1];
    os_sign_outcome oc;
    board_mem_display_transcript_clear();
    assert_int_equal(os_sign_run(c, tree, &p.tx, sigs, &oc, harness_on_pending, NULL), OS_ERR_USER_REJECTED);
    harness_assert_shown("a payout > payout cap");
    os_msg_info after;
    assert_int_equal(harness_info(c, &after), OS_OK);
    assert_memory_equal(after.nonce_root, info.nonce_root, 32);
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    harness_newest_entry(c, entry, NULL);
    assert_int_equal(entry[AUDIT_LOG_OFF_TYPE], OS_LOG_APPROVAL);
    assert_int_equal(entry[AUDIT_LOG_OFF_PAYLOAD + 1], 0);
    harness_set_operator(OPERATOR_APPROVE);
    nonce_tree_free(tree);
    harness_stop();
}

/* The layout round-trips and has one encoding: out-of-range fields are refused both ways. */
static void test_voucher_layout(void **state) {
    (void)state;
    os_voucher v, w;
    uint8_t buf[OS_VOUCHER_BYTES];
    memset(&v, 0, sizeof v);
    v.network = OS_NET_REGTEST;
    v.amount = 5;
    v.expiry_seq = 9;
    v.flags = OS_VOUCHER_DESTINATION;
    v.script_len = 22;
    memset(v.script, 0xAB, 22);
    assert_int_equal(os_voucher_encode(&v, buf), OS_OK);
    assert_int_equal(buf[0], OS_VOUCHER_VERSION);
    assert_int_equal(os_voucher_decode(buf, &w), OS_OK);
    assert_memory_equal(&v, &w, sizeof v);
    buf[4 + 32 + 8 + 8 + 32 + 22] = 1;   /* padding after the script */
    assert_int_equal(os_voucher_decode(buf, &w), OS_ERR_MSG_MALFORMED);
    w = v;
    w.flags = 0;                          /* a script without the flag */
    assert_int_equal(os_voucher_encode(&w, buf), OS_ERR_MSG_MALFORMED);
    w = v;
    w.expiry_seq = 0;
    assert_int_equal(os_voucher_encode(&w, buf), OS_ERR_MSG_MALFORMED);
    w = v;
    w.amount = 0;
    assert_int_equal(os_voucher_encode(&w, buf), OS_ERR_MSG_MALFORMED);
    /* the id covers every signed field */
    uint8_t a[32], b[32];
    assert_int_equal(os_voucher_id(&v, a), OS_OK);
    w = v;
    w.sig[0] = 1;
    assert_int_equal(os_voucher_id(&w, b), OS_OK);
    assert_memory_equal(a, b, 32);
    w.issuer[31] = 1;
    assert_int_equal(os_voucher_id(&w, b), OS_OK);
    assert_memory_not_equal(a, b, 32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_voucher_layout),
        cmocka_unit_test(test_voucher_pays_and_is_logged),
        cmocka_unit_test(test_invented_nonce_refused_and_logged),
        cmocka_unit_test(test_unregistered_issuer_refused_and_logged),
        cmocka_unit_test(test_amount_above_voucher_refused_and_logged),
        cmocka_unit_test(test_withdrawal_to_another_destination_refused_and_logged),
        cmocka_unit_test(test_expired_voucher_refused_and_logged),
        cmocka_unit_test(test_voucher_for_another_signer_or_nonce_refused_and_logged),
        cmocka_unit_test(test_reused_voucher_nonce_refused_and_logged),
        cmocka_unit_test(test_issuer_registration_screens_and_rejection),
        cmocka_unit_test(test_gift_voucher_redirect_is_bounded_by_its_amount_once),
        cmocka_unit_test(test_compromised_issuer_bounded_by_the_caps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
