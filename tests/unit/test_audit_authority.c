/* oncesign — the auditor's check of the signer's authority entries (issue 14; host/lib/audit.c
 * os_audit_check_authority, `oncesign log verify`): a real history from the in-process signer
 * (a payout before any issuer, issuers registered with vouchers required, operators 2 of 3, a
 * vouchered payout below the threshold, a vouchered payout above it with two approvals) passes;
 * then each finding is caught: in logs where an entry is missing or altered (re-signed under a test
 * key, as a device that misbehaved would sign them, so the chain itself verifies), and in ledgers
 * whose vouchers were tampered with. Every test asserts the finding's count and code, so each fails
 * with its check removed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "audit_fixture.h"
#include "audit_log.h"
#include "bytes.h"
#include "crypto.h"
#include "draft.h"
#include "issuer.h"
#include "ledger.h"
#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/status.h"
#include "signer_harness.h"
#include "signing.h"
#include "test_util.h"
#include "voucher.h"

#define FLASH (64u * 4096u)
#define THRESHOLD 10000000ull
#define N_TX 3                     /* 0: before issuers (no voucher); 1: vouchered; 2: vouchered + quorum */

static const uint8_t ISSUER_PRIV[32] = { 0x11, 0x22, 0x33, [31] = 0x44 };
static const uint8_t OTHER_ISSUER_PRIV[32] = { 0x55, [31] = 0x56 };
static const uint8_t OP_PRIV[3][32] = { { 0x21, [31] = 0x01 }, { 0x22, [31] = 0x02 }, { 0x23, [31] = 0x03 } };
static const uint8_t ROGUE_PRIV[32] = { 0x66, [31] = 0x77 };
static const uint8_t FORGER_PRIV[32] = { 0x42, [31] = 0x42 };   /* signs the altered logs */

static uint8_t g_buf[OS_MAX_MESSAGE];
static os_audit_log g_log;
static os_msg_info g_info;
static uint8_t g_forger_pub[32];
static struct {
    harness_coin coin;
    os_sign_output out[2];
    os_sign_tx tx;
    os_voucher voucher;
    os_approval approvals[2];
    uint8_t raw[1024];
    size_t raw_len;
    uint8_t txid[32];
} g_tx[N_TX];

static void xonly(const uint8_t priv[32], uint8_t out[32]) {
    assert_int_equal(crypto_xonly_from_priv(priv, out), OS_OK);
}

static int call_wait(os_client *c, os_msg *req) {
    os_msg reply;
    req->version = OS_PROTOCOL_VERSION;
    if (os_client_call_wait(c, req, &reply, g_buf, 5000, harness_on_pending, NULL) != OS_OK) return -1;
    return reply.type == OS_MSG_SUCCESS ? 0 : -1;
}

static int sort_keys(uint8_t keys[][32], size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (memcmp(keys[i], keys[j], 32) > 0) {
                uint8_t t[32];
                memcpy(t, keys[i], 32);
                memcpy(keys[i], keys[j], 32);
                memcpy(keys[j], t, 32);
            }
    return 0;
}

static int sign_tx(os_client *c, nonce_tree *tree, int k, uint64_t amount, int with_voucher, int n_approvals) {
    if (harness_make_coin(&g_tx[k].coin, OS_SCRIPT_P2PKH, 0, (uint32_t)k, 100000000, 300u + (uint32_t)k) != OS_OK)
        return -1;
    harness_payout(&g_tx[k].out[0], 20u + (uint32_t)k, amount, 40u + (uint32_t)k);
    harness_change(&g_tx[k].out[1], OS_SCRIPT_P2PKH, (uint32_t)k, 100000000 - amount - 10000);
    g_tx[k].tx = harness_tx(&g_tx[k].coin.input, 1, g_tx[k].out, 2);
    if (with_voucher) {
        os_voucher *v = &g_tx[k].voucher;
        memset(v, 0, sizeof *v);
        v->network = OS_NET_REGTEST;
        memcpy(v->nonce, g_tx[k].out[0].nonce, 32);
        v->amount = amount;
        v->expiry_seq = 1000;
        memcpy(v->signer, g_info.attestation_pubkey, 32);
        if (os_voucher_sign(v, ISSUER_PRIV) != OS_OK) return -1;
        g_tx[k].out[0].voucher = v;
    }
    uint8_t hp[32], digest[32];
    if (os_draft_commitment(&g_tx[k].tx, hp, digest) != OS_OK) return -1;
    for (int a = 0; a < n_approvals; a++)
        if (os_approval_sign(&g_tx[k].approvals[a], digest, 1000, g_info.attestation_pubkey, OP_PRIV[a]) != OS_OK)
            return -1;
    g_tx[k].tx.approvals = g_tx[k].approvals;
    g_tx[k].tx.n_approvals = (size_t)n_approvals;
    os_input_sig sigs[1];
    os_sign_outcome oc;
    if (os_sign_run(c, tree, &g_tx[k].tx, sigs, &oc, harness_on_pending, NULL) != OS_OK) return -1;
    return os_sign_serialize(&g_tx[k].tx, sigs, g_tx[k].raw, sizeof g_tx[k].raw, &g_tx[k].raw_len, g_tx[k].txid) == OS_OK
               ? 0 : -1;
}

static int setup_history(void **state) {
    if (test_crypto_setup(state) != 0) return -1;
    xonly(FORGER_PRIV, g_forger_pub);
    os_client *c = harness_start(FLASH, 91);
    os_policy p = harness_policy_open();
    if (harness_init_device(c, &p, OS_SCRIPT_P2PKH) != OS_OK) return -1;
    harness_set_operator(OPERATOR_APPROVE);
    if (harness_info(c, &g_info) != OS_OK) return -1;
    nonce_tree *tree = NULL;
    if (nonce_tree_create(&tree) != OS_OK) return -1;
    if (sign_tx(c, tree, 0, 400000, 0, 0) != 0) return -1;
    os_msg req;
    uint8_t issuer[32], ops[3][32];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_SET_ISSUERS;
    xonly(ISSUER_PRIV, issuer);
    req.u.set_issuers.flags = OS_VOUCHERS_REQUIRED;
    req.u.set_issuers.n_issuers = 1;
    req.u.set_issuers.keys = issuer;
    if (call_wait(c, &req) != 0) return -1;
    for (int i = 0; i < 3; i++) xonly(OP_PRIV[i], ops[i]);
    sort_keys(ops, 3);
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_SET_OPERATORS;
    req.u.set_operators.k = 2;
    req.u.set_operators.n_operators = 3;
    req.u.set_operators.threshold = THRESHOLD;
    req.u.set_operators.keys = &ops[0][0];
    if (call_wait(c, &req) != 0) return -1;
    if (sign_tx(c, tree, 1, 500000, 1, 0) != 0) return -1;
    if (sign_tx(c, tree, 2, 30000000, 1, 2) != 0) return -1;
    nonce_tree_free(tree);
    return audit_fixture_export(c, &g_log, &g_info);
}

static int teardown_history(void **state) {
    (void)state;
    os_audit_log_free(&g_log);
    return 0;
}

static void drop_entry(os_audit_log *l, size_t i) {
    memmove(l->entries[i], l->entries[i + 1], (l->n - i - 1) * OS_LOG_ENTRY_BYTES);
    l->n--;
    l->last--;
}

/* Renumbers, relinks and re-signs every entry under FORGER_PRIV: the log a device that wrote these
 * entries would have signed. It must verify under that key, so what follows tests only the
 * authority check. */
static void forge(os_audit_log *l) {
    crypto_schnorr_key key;
    uint8_t prev[32] = { 0 }, hash[32], aux[32] = { 0 };
    assert_int_equal(crypto_schnorr_key_load(FORGER_PRIV, &key), OS_OK);
    for (size_t i = 0; i < l->n; i++) {
        os_write_le64(l->entries[i] + AUDIT_LOG_OFF_SEQ, l->first + i);
        memcpy(l->entries[i] + AUDIT_LOG_OFF_PREV, prev, 32);
        assert_int_equal(audit_log_entry_hash(l->entries[i], hash), OS_OK);
        assert_int_equal(crypto_schnorr_sign(&key, hash, aux, l->entries[i] + AUDIT_LOG_OFF_SIG), OS_OK);
        memcpy(prev, hash, 32);
    }
    crypto_schnorr_key_wipe(&key);
    l->last = l->first + l->n - 1;
    os_audit_report r;
    assert_int_equal(os_audit_verify(l, g_forger_pub, NULL, NULL, &r), OS_OK);
}

static uint64_t total_findings(const os_audit_report *r) {
    uint64_t t = 0;
    for (int f = 0; f < OS_AUDIT_FINDINGS; f++) t += r->findings[f];
    return t;
}

/* The log alone (ledger NULL) or with l: exactly `count` findings of kind f, the verdict its code at seq. */
static void expect_finding(const os_audit_log *log, os_ledger *l, os_audit_finding f, uint64_t count, uint64_t seq) {
    os_audit_report r;
    memset(&r, 0, sizeof r);
    int status = os_audit_finding_status(f);
    assert_int_equal(os_audit_check_authority(log, l, &r), status);
    assert_int_equal(r.status, status);
    assert_int_equal(r.findings[f], count);
    assert_int_equal(total_findings(&r), count);
    assert_int_equal(r.bad_seq, seq);
    assert_true(r.reason[0] != '\0');
}

/* ---- the log alone */

static void test_honest_history_has_no_findings(void **state) {
    (void)state;
    os_audit_report r;
    assert_int_equal(os_audit_verify(&g_log, g_info.attestation_pubkey, NULL, g_info.log_head, &r), OS_OK);
    assert_int_equal(r.by_type[OS_LOG_VOUCHERS], 2);
    assert_int_equal(r.by_type[OS_LOG_APPROVALS], 1);
    assert_int_equal(os_audit_check_authority(&g_log, NULL, &r), OS_OK);
    assert_int_equal(r.status, OS_OK);
    assert_int_equal(total_findings(&r), 0);
    assert_int_equal(r.vouchered_signs, 2);
    assert_int_equal(r.quorum_signs, 1);
    assert_int_equal(r.unchecked_issuers + r.unchecked_operators, 0);
    assert_string_equal(os_status_name(os_audit_finding_status(OS_AUDIT_FINDING_QUORUM_MISSING)), "audit-quorum-missing");
    assert_int_equal(os_audit_finding_status(OS_AUDIT_FINDINGS), OS_ERR_ARG);
}

/* (d) A SIGN entry above the threshold whose APPROVALS entry is not in the log. */
static void test_sign_above_threshold_without_approvals(void **state) {
    (void)state;
    os_audit_log l = audit_fixture_copy(&g_log);
    drop_entry(&l, audit_fixture_index_of(&l, OS_LOG_APPROVALS, 0));
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_QUORUM_MISSING, 1, l.first + audit_fixture_index_of(&l, OS_LOG_SIGN, 2));
    free(l.entries);
}

/* (a) While vouchers are required, a SIGN entry with a new payout whose VOUCHERS entry is missing,
 * or counts fewer vouchers than new payouts. */
static void test_new_payout_without_voucher(void **state) {
    (void)state;
    os_audit_log l = audit_fixture_copy(&g_log);
    drop_entry(&l, audit_fixture_index_of(&l, OS_LOG_VOUCHERS, 0));
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_VOUCHERS_MISSING, 1,
                   l.first + audit_fixture_index_of(&l, OS_LOG_SIGN, 1));
    free(l.entries);
    l = audit_fixture_copy(&g_log);
    os_write_le16(l.entries[audit_fixture_index_of(&l, OS_LOG_VOUCHERS, 1)] + AUDIT_LOG_OFF_PAYLOAD + 32, 0);
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_VOUCHERS_MISSING, 1,
                   l.first + audit_fixture_index_of(&l, OS_LOG_SIGN, 2));
    free(l.entries);
    /* the same payout before vouchers were required (the ISSUERS entry gone): no finding */
    l = audit_fixture_copy(&g_log);
    drop_entry(&l, audit_fixture_index_of(&l, OS_LOG_VOUCHERS, 0));
    drop_entry(&l, audit_fixture_index_of(&l, OS_LOG_ISSUERS, 0));
    forge(&l);
    os_audit_report r;
    memset(&r, 0, sizeof r);
    assert_int_equal(os_audit_check_authority(&l, NULL, &r), OS_OK);
    free(l.entries);
}

/* (c) An APPROVALS entry naming a key outside the operator set, one key twice, fewer than k. */
static void test_approvals_outside_the_set_twice_or_too_few(void **state) {
    (void)state;
    size_t a = audit_fixture_index_of(&g_log, OS_LOG_APPROVALS, 0);
    uint64_t seq = g_log.first + a;
    os_audit_log l = audit_fixture_copy(&g_log);
    uint8_t *pl = l.entries[a] + AUDIT_LOG_OFF_PAYLOAD;
    xonly(ROGUE_PRIV, pl + 33 + 32);
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_APPROVALS_OPERATOR, 1, seq);
    free(l.entries);

    l = audit_fixture_copy(&g_log);
    pl = l.entries[a] + AUDIT_LOG_OFF_PAYLOAD;
    memcpy(pl + 33 + 32, pl + 33, 32);
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_APPROVALS_DUPLICATE, 1, seq);
    free(l.entries);

    l = audit_fixture_copy(&g_log);
    pl = l.entries[a] + AUDIT_LOG_OFF_PAYLOAD;
    pl[32] = 1;
    memset(pl + 33 + 32, 0, 32);
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_APPROVALS_FEW, 1, seq);
    free(l.entries);

    /* the set in force is the newest OPERATORS entry's: without it (no operators) nothing is required,
     * and every approver is outside the (empty) set */
    l = audit_fixture_copy(&g_log);
    drop_entry(&l, audit_fixture_index_of(&l, OS_LOG_OPERATORS, 0));
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_APPROVALS_OPERATOR, 2, seq - 1);
    free(l.entries);
}

/* (c) An APPROVALS or VOUCHERS entry followed by the SIGN entry of another transaction, or by
 * another kind of entry; a BOOT after it (a power cut) is counted, not a finding. */
static void test_unpaired_entries(void **state) {
    (void)state;
    size_t a = audit_fixture_index_of(&g_log, OS_LOG_APPROVALS, 0);
    os_audit_log l = audit_fixture_copy(&g_log);
    l.entries[a][AUDIT_LOG_OFF_PAYLOAD] ^= 1;   /* its tx_digest: another transaction's */
    forge(&l);
    os_audit_report r;
    memset(&r, 0, sizeof r);
    assert_int_equal(os_audit_check_authority(&l, NULL, &r), OS_ERR_AUDIT_UNPAIRED);
    assert_int_equal(r.findings[OS_AUDIT_FINDING_UNPAIRED], 1);
    assert_int_equal(r.findings[OS_AUDIT_FINDING_QUORUM_MISSING], 1);   /* and the SIGN entry has none */
    assert_int_equal(r.bad_seq, l.first + a);
    free(l.entries);

    /* the log ends with VOUCHERS, APPROVALS and then a BOOT where the SIGN entry was */
    size_t s = audit_fixture_index_of(&g_log, OS_LOG_SIGN, 2);
    assert_true(s + 1 <= g_log.n);
    l = audit_fixture_copy(&g_log);
    l.n = s + 1;
    memcpy(l.entries[s], g_log.entries[audit_fixture_index_of(&g_log, OS_LOG_SETUP, 0)], OS_LOG_ENTRY_BYTES);
    l.entries[s][AUDIT_LOG_OFF_TYPE] = OS_LOG_BOOT;
    os_write_le16(l.entries[s] + AUDIT_LOG_OFF_PAYLOAD_LEN, 8);
    memset(l.entries[s] + AUDIT_LOG_OFF_PAYLOAD + 8, 0, OS_LOG_PAYLOAD_MAX - 8);
    forge(&l);
    memset(&r, 0, sizeof r);
    assert_int_equal(os_audit_check_authority(&l, NULL, &r), OS_OK);
    assert_int_equal(r.interrupted, 2);
    /* ... and with another entry there instead (an ISSUERS entry): both are findings */
    memcpy(l.entries[s], g_log.entries[audit_fixture_index_of(&g_log, OS_LOG_ISSUERS, 0)], OS_LOG_ENTRY_BYTES);
    forge(&l);
    expect_finding(&l, NULL, OS_AUDIT_FINDING_UNPAIRED, 2, l.first + audit_fixture_index_of(&l, OS_LOG_VOUCHERS, 1));
    free(l.entries);
}

/* A file that starts after the sets were registered (--from) cannot tell them: counted as unchecked. */
static void test_sets_unknown_before_the_file(void **state) {
    (void)state;
    size_t from = audit_fixture_index_of(&g_log, OS_LOG_OPERATORS, 0) + 1;
    os_audit_log l = g_log;
    l.entries += from;
    l.n -= from;
    l.first += from;
    os_audit_report r;
    memset(&r, 0, sizeof r);
    assert_int_equal(os_audit_check_authority(&l, NULL, &r), OS_OK);
    assert_int_equal(r.unchecked_issuers, 2);
    assert_int_equal(r.unchecked_operators, 3);   /* two SIGN entries and the APPROVALS entry */
}

/* ---- with the ledger */

static char g_db[64];

/* The ledger of that history: each transaction with its commitment, its new payout's leaf, and the
 * vouchers the payouts were created under. */
static os_ledger *ledger_of_history(void) {
    os_ledger *l = audit_fixture_ledger(g_db, sizeof g_db, "/tmp/oncesign-authority");
    sqlite3 *db = os_ledger_db(l);
    os_ledger_lock(l);
    for (int k = 0; k < N_TX; k++) {
        uint8_t hp[32], digest[32];
        assert_int_equal(os_draft_commitment(&g_tx[k].tx, hp, digest), OS_OK);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO txs (id, state, draft, raw, txid, anchor_txid, anchor_vout, fee,"
                                            " n_payouts, created_at, updated_at, hash_prevouts, tx_digest)"
                                            " VALUES (?, 4, x'00', ?, ?, ?, 0, 10000, 1, 0, 0, ?, ?)", -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(st, 1, k + 1);
        sqlite3_bind_blob(st, 2, g_tx[k].raw, (int)g_tx[k].raw_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, g_tx[k].txid, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, g_tx[k].coin.input.prevout.txid, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, hp, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, digest, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        const os_sign_output *o = &g_tx[k].out[0];
        audit_fixture_put_leaf(db, o, &g_tx[k].coin.input.prevout, k + 1);
        if (o->voucher != NULL) assert_int_equal(os_ledger_voucher_put(l, o->voucher), OS_OK);
    }
    os_ledger_unlock(l);
    return l;
}

static void put_voucher(os_ledger *l, const os_voucher *v) {
    os_ledger_lock(l);
    assert_int_equal(os_ledger_voucher_put(l, v), OS_OK);
    os_ledger_unlock(l);
}

static void test_ledger_matches_honest_history(void **state) {
    (void)state;
    os_ledger *l = ledger_of_history();
    os_audit_report r;
    memset(&r, 0, sizeof r);
    assert_int_equal(os_audit_check_authority(&g_log, l, &r), OS_OK);
    assert_int_equal(r.authority_ledger, 1);
    assert_int_equal(r.ledger_vouchers_matched, 2);
    assert_int_equal(total_findings(&r), 0);
    audit_fixture_drop_ledger(l, g_db);
}

/* (b) The ledger lacks the voucher a payout was paid under, holds another one for it, or holds one
 * for a payout the log shows paid under none. */
static void test_ledger_vouchers_differ_from_the_log(void **state) {
    (void)state;
    uint64_t seq1 = g_log.first + audit_fixture_index_of(&g_log, OS_LOG_SIGN, 1);
    os_ledger *l = ledger_of_history();
    audit_fixture_exec(l, "DELETE FROM vouchers WHERE rowid = (SELECT min(rowid) FROM vouchers)");
    expect_finding(&g_log, l, OS_AUDIT_FINDING_VOUCHERS_LEDGER, 1, seq1);
    /* another voucher for the same payout (a smaller amount, properly signed) */
    os_voucher other = g_tx[1].voucher;
    other.amount -= 1;
    assert_int_equal(os_voucher_sign(&other, ISSUER_PRIV), OS_OK);
    put_voucher(l, &other);
    expect_finding(&g_log, l, OS_AUDIT_FINDING_VOUCHERS_LEDGER, 1, seq1);
    audit_fixture_drop_ledger(l, g_db);

    /* a voucher for the payout signed before issuers were registered, which the log shows paid under none */
    l = ledger_of_history();
    os_voucher v0 = g_tx[1].voucher;
    memcpy(v0.nonce, g_tx[0].out[0].nonce, 32);
    v0.amount = g_tx[0].out[0].amount;
    assert_int_equal(os_voucher_sign(&v0, ISSUER_PRIV), OS_OK);
    put_voucher(l, &v0);
    expect_finding(&g_log, l, OS_AUDIT_FINDING_VOUCHERS_LEDGER, 1,
                   g_log.first + audit_fixture_index_of(&g_log, OS_LOG_SIGN, 0));
    audit_fixture_drop_ledger(l, g_db);
}

/* (a) The voucher a payout was paid under is not signed by an issuer in force: its signature in the
 * ledger altered (the id, which the log chains, leaves the signature out), or, in a log whose
 * ISSUERS entry names another key, by a key not registered then. */
static void test_voucher_not_from_a_registered_issuer(void **state) {
    (void)state;
    uint64_t seq1 = g_log.first + audit_fixture_index_of(&g_log, OS_LOG_SIGN, 1);
    os_ledger *l = ledger_of_history();
    audit_fixture_exec(l, "UPDATE vouchers SET voucher = CAST(substr(voucher, 1, 150) || zeroblob(64) AS BLOB)"
                          " WHERE rowid = (SELECT min(rowid) FROM vouchers)");
    expect_finding(&g_log, l, OS_AUDIT_FINDING_VOUCHER_ISSUER, 1, seq1);
    audit_fixture_drop_ledger(l, g_db);

    l = ledger_of_history();
    os_audit_log forged = audit_fixture_copy(&g_log);
    uint8_t *pl = forged.entries[audit_fixture_index_of(&forged, OS_LOG_ISSUERS, 0)] + AUDIT_LOG_OFF_PAYLOAD;
    xonly(OTHER_ISSUER_PRIV, pl + 2);
    forge(&forged);
    expect_finding(&forged, l, OS_AUDIT_FINDING_VOUCHER_ISSUER, 2, seq1);
    free(forged.entries);
    audit_fixture_drop_ledger(l, g_db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_honest_history_has_no_findings),
        cmocka_unit_test(test_sign_above_threshold_without_approvals),
        cmocka_unit_test(test_new_payout_without_voucher),
        cmocka_unit_test(test_approvals_outside_the_set_twice_or_too_few),
        cmocka_unit_test(test_unpaired_entries),
        cmocka_unit_test(test_sets_unknown_before_the_file),
        cmocka_unit_test(test_ledger_matches_honest_history),
        cmocka_unit_test(test_ledger_vouchers_differ_from_the_log),
        cmocka_unit_test(test_voucher_not_from_a_registered_issuer),
    };
    return cmocka_run_group_tests(tests, setup_history, teardown_history);
}
