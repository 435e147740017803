/* oncesign — the auditor's tools (host/lib/audit.c, I5): a real log from the in-process signer
 * (setup, payouts, an approval, a committed-nonce refusal, a reboot), exported from the device, the
 * file format round trip, verification with only the attestation key, every tampering the design
 * names (edit, gap, reordering, truncation, wrong key, re-signing) detected with its reason, the
 * ledger export, and the cross-check against a ledger that holds the signed transactions. */
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
#include "ledger.h"
#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/status.h"
#include "signer_harness.h"
#include "signing.h"
#include "test_util.h"

#define FLASH (64u * 4096u)
#define N_TX 3

/* One signer history, built once for all tests. */
static os_audit_log g_log;
static os_msg_info g_info;
static struct {
    harness_coin coin;
    os_sign_output out[2];
    os_sign_tx tx;
    uint8_t raw[1024];
    size_t raw_len;
    uint8_t txid[32];
    uint8_t root_after[32];
} g_tx[N_TX];
static uint8_t g_refused_nonce[32];



/* Signs g_tx[k] (payout amount, nonce k + 1) and keeps its raw transaction. */
static void sign_tx(os_client *c, nonce_tree *tree, int k, uint64_t amount) {
    assert_int_equal(harness_make_coin(&g_tx[k].coin, OS_SCRIPT_P2PKH, 0, (uint32_t)k, 50000000, 100u + (uint32_t)k),
                     OS_OK);
    harness_payout(&g_tx[k].out[0], 10u + (uint32_t)k, amount, (uint32_t)k + 1);
    harness_change(&g_tx[k].out[1], OS_SCRIPT_P2PKH, (uint32_t)k, 50000000 - amount - 10000);
    g_tx[k].tx = (os_sign_tx){ .version = 2, .n_inputs = 1, .n_outputs = 2, .inputs = &g_tx[k].coin.input, .outputs = g_tx[k].out };
    os_input_sig sigs[1];
    os_sign_outcome oc;
    assert_int_equal(os_sign_run(c, tree, &g_tx[k].tx, sigs, &oc, harness_on_pending, NULL), OS_OK);
    assert_int_equal(os_sign_serialize(&g_tx[k].tx, sigs, g_tx[k].raw, sizeof g_tx[k].raw, &g_tx[k].raw_len,
                                       g_tx[k].txid), OS_OK);
    memcpy(g_tx[k].root_after, oc.nonce_root, 32);
}

static int setup_chain(void **state) {
    if (test_crypto_setup(state) != 0) return -1;
    os_client *c = harness_start(FLASH, 77);
    os_policy p = harness_policy_open();
    p.per_payout_cap = 1000000;   /* larger payouts need the operator: an APPROVAL entry */
    if (harness_init_device(c, &p, OS_SCRIPT_P2PKH) != OS_OK) return -1;
    nonce_tree *tree = NULL;
    if (nonce_tree_create(&tree) != OS_OK) return -1;
    harness_set_operator(OPERATOR_APPROVE);
    sign_tx(c, tree, 0, 500000);
    /* a large payout: first rejected on the device (an APPROVAL entry), then approved (SIGN approved=1) */
    os_sign_output big[2];
    harness_payout(&big[0], 11, 20000000, 2);
    harness_change(&big[1], OS_SCRIPT_P2PKH, 1, 50000000 - 20000000 - 10000);
    harness_coin big_coin;
    if (harness_make_coin(&big_coin, OS_SCRIPT_P2PKH, 0, 1, 50000000, 101) != OS_OK) return -1;
    os_sign_tx big_tx = { .version = 2, .n_inputs = 1, .n_outputs = 2, .inputs = &big_coin.input, .outputs = big };
    os_input_sig big_sigs[1];
    os_sign_outcome big_oc;
    harness_set_operator(OPERATOR_REJECT);
    if (os_sign_run(c, tree, &big_tx, big_sigs, &big_oc, harness_on_pending, NULL) != OS_ERR_USER_REJECTED) return -1;
    harness_set_operator(OPERATOR_APPROVE);
    sign_tx(c, tree, 1, 20000000);
    /* The first payout again from another coin, not spending its anchor: REFUSE_COMMITTED. */
    harness_coin other;
    if (harness_make_coin(&other, OS_SCRIPT_P2PKH, 0, 9, 50000000, 999) != OS_OK) return -1;
    os_sign_output rep[2];
    memcpy(rep, g_tx[0].out, sizeof rep);
    rep[0].replace = 1;
    rep[0].anchor = g_tx[0].coin.input.prevout;
    os_sign_tx bad = { .version = 2, .n_inputs = 1, .n_outputs = 2, .inputs = &other.input, .outputs = rep };
    os_input_sig sigs[1];
    os_sign_outcome oc;
    if (os_sign_run(c, tree, &bad, sigs, &oc, NULL, NULL) != OS_ERR_NONCE_COMMITTED) return -1;
    memcpy(g_refused_nonce, rep[0].nonce, 32);
    /* A consolidation spending the first payout's anchor (it would freeze it): REFUSE_ANCHOR. */
    os_sign_output merged[1];
    harness_change(&merged[0], OS_SCRIPT_P2PKH, 9, 50000000 - 10000);
    os_sign_tx freeze = { .version = 2, .n_inputs = 1, .n_outputs = 1, .inputs = &g_tx[0].coin.input, .outputs = merged };
    if (os_sign_run(c, tree, &freeze, sigs, &oc, NULL, NULL) != OS_ERR_ANCHOR_SPENT) return -1;
    c = harness_reboot();
    sign_tx(c, tree, 2, 700000);
    nonce_tree_free(tree);
    return audit_fixture_export(c, &g_log, &g_info);
}

static int teardown_chain(void **state) {
    (void)state;
    os_audit_log_free(&g_log);
    return 0;
}

static void test_export_verifies(void **state) {
    (void)state;
    assert_int_equal(g_log.first, 1);
    assert_int_equal(g_log.last, g_info.log_seq);
    assert_int_equal(g_log.n, g_info.log_seq);
    assert_memory_equal(g_log.attestation, g_info.attestation_pubkey, 32);
    os_audit_report r;
    assert_int_equal(os_audit_verify(&g_log, g_info.attestation_pubkey, NULL, g_info.log_head, &r), OS_OK);
    assert_int_equal(r.status, OS_OK);
    assert_int_equal(r.head_checked, 1);
    assert_int_equal(r.chain_anchored, 1);
    assert_memory_equal(r.head, g_info.log_head, 32);
    assert_int_equal(r.n_entries, g_log.n);
    assert_int_equal(r.by_type[OS_LOG_SETUP], 1);
    assert_int_equal(r.signatures_released, N_TX);
    assert_int_equal(r.refusals, 2);
    assert_int_equal(r.by_type[OS_LOG_REFUSE_ANCHOR], 1);
    assert_int_equal(r.approvals, 1);
    assert_int_equal(r.rejections, 1);
    assert_int_equal(r.by_type[OS_LOG_APPROVAL], 1);
    assert_int_equal(r.boots, 1);
    assert_int_equal(r.payout_total, 500000 + 20000000 + 700000);
    assert_int_equal(r.fee_total, 3 * 10000);
}

static void test_file_round_trip(void **state) {
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(os_audit_write(f, &g_log), OS_OK);
    rewind(f);
    char header[200];
    assert_non_null(fgets(header, sizeof header, f));
    char att[65];
    os_hex_encode(g_log.attestation, 32, att);
    char want[200];
    snprintf(want, sizeof want, "oncesign-log v1 attestation=%s first=1 last=%llu\n", att,
             (unsigned long long)g_log.last);
    assert_string_equal(header, want);
    rewind(f);
    os_audit_log back;
    char err[256];
    assert_int_equal(os_audit_read(f, &back, err, sizeof err), OS_OK);
    assert_int_equal(back.n, g_log.n);
    assert_int_equal(back.first, g_log.first);
    assert_int_equal(back.last, g_log.last);
    assert_memory_equal(back.attestation, g_log.attestation, 32);
    assert_memory_equal(back.entries, g_log.entries, g_log.n * OS_LOG_ENTRY_BYTES);
    os_audit_log_free(&back);
    fclose(f);

    /* a line that is not 512 hex digits: a format error naming the line */
    f = tmpfile();
    assert_int_equal(os_audit_write(f, &g_log), OS_OK);
    fseek(f, (long)strlen(want) + 2 * OS_LOG_ENTRY_BYTES + 1 + 7, SEEK_SET);   /* inside line 3 */
    fputc('x', f);
    rewind(f);
    assert_int_equal(os_audit_read(f, &back, err, sizeof err), OS_ERR_LOG_FORMAT);
    assert_non_null(strstr(err, "line 3"));
    fclose(f);

    f = tmpfile();
    fputs("oncesign-log v2 attestation=00 first=1 last=1\n", f);
    rewind(f);
    assert_int_equal(os_audit_read(f, &back, err, sizeof err), OS_ERR_LOG_FORMAT);
    fclose(f);
}

static void expect_failure(const os_audit_log *l, const uint8_t *key, const uint8_t *head, int status, uint64_t seq) {
    os_audit_report r;
    assert_int_equal(os_audit_verify(l, key, NULL, head, &r), status);
    assert_int_equal(r.status, status);
    assert_int_equal(r.bad_seq, seq);
    assert_true(r.reason[0] != '\0');
    if (status != OS_ERR_LOG_HEAD) assert_non_null(strstr(r.reason, os_status_name(status)));
}

static void test_edit_detected(void **state) {
    (void)state;
    const uint8_t *key = g_info.attestation_pubkey;
    size_t k = audit_fixture_index_of(&g_log, OS_LOG_SIGN, 1);   /* the approved payout */
    uint64_t seq = g_log.first + k;
    /* any signed byte: the payout amount in the payload */
    os_audit_log l = audit_fixture_copy(&g_log);
    l.entries[k][AUDIT_LOG_OFF_PAYLOAD + 104] ^= 0x01;
    expect_failure(&l, key, NULL, OS_ERR_LOG_SIGNATURE, seq);
    free(l.entries);
    /* the signature itself */
    l = audit_fixture_copy(&g_log);
    l.entries[k][AUDIT_LOG_OFF_SIG + 5] ^= 0x80;
    expect_failure(&l, key, NULL, OS_ERR_LOG_SIGNATURE, seq);
    free(l.entries);
    /* the link to the previous entry */
    l = audit_fixture_copy(&g_log);
    l.entries[k][AUDIT_LOG_OFF_PREV] ^= 0x01;
    expect_failure(&l, key, NULL, OS_ERR_LOG_CHAIN, seq);
    free(l.entries);
    /* a padding byte after the payload */
    l = audit_fixture_copy(&g_log);
    l.entries[k][AUDIT_LOG_OFF_SIG - 1] = 0xff;
    expect_failure(&l, key, NULL, OS_ERR_LOG_FORMAT, seq);
    free(l.entries);
    /* an edit of the LAST entry with a --head: the signature already fails */
    l = audit_fixture_copy(&g_log);
    l.entries[l.n - 1][AUDIT_LOG_OFF_DEVICE_MS] ^= 0x01;
    expect_failure(&l, key, g_info.log_head, OS_ERR_LOG_SIGNATURE, l.last);
    free(l.entries);
}

/* Issue 10: an entry in a format version this verifier does not read (a firmware newer or older
 * than the host) is refused as such, naming the version, never misparsed or called an edit. The
 * version is the first byte of every entry, covered by its signature. */
static void test_unknown_format_version_refused(void **state) {
    (void)state;
    const uint8_t *key = g_info.attestation_pubkey;
    size_t k = audit_fixture_index_of(&g_log, OS_LOG_SIGN, 1);
    os_audit_log l = audit_fixture_copy(&g_log);
    l.entries[k][AUDIT_LOG_OFF_FORMAT] = 2;
    os_audit_report r;
    assert_int_equal(os_audit_verify(&l, key, NULL, NULL, &r), OS_ERR_LOG_VERSION);
    assert_int_equal(r.bad_seq, g_log.first + k);
    assert_non_null(strstr(r.reason, "format version 2"));
    assert_non_null(strstr(r.reason, "reads version 1"));
    assert_string_equal(os_status_name(OS_ERR_LOG_VERSION), "log-version");
    free(l.entries);
}

static void test_gap_and_reordering_detected(void **state) {
    (void)state;
    const uint8_t *key = g_info.attestation_pubkey;
    size_t k = audit_fixture_index_of(&g_log, OS_LOG_REFUSE_COMMITTED, 0);
    /* drop the refusal (the header still says the same first/last) */
    os_audit_log l = audit_fixture_copy(&g_log);
    memmove(l.entries[k], l.entries[k + 1], (l.n - k - 1) * OS_LOG_ENTRY_BYTES);
    l.n--;
    expect_failure(&l, key, NULL, OS_ERR_LOG_SEQ, g_log.first + k);
    free(l.entries);
    /* swap it with the next entry */
    l = audit_fixture_copy(&g_log);
    uint8_t tmp[OS_LOG_ENTRY_BYTES];
    memcpy(tmp, l.entries[k], sizeof tmp);
    memcpy(l.entries[k], l.entries[k + 1], sizeof tmp);
    memcpy(l.entries[k + 1], tmp, sizeof tmp);
    expect_failure(&l, key, NULL, OS_ERR_LOG_SEQ, g_log.first + k);
    free(l.entries);
    /* a repeated entry */
    l = audit_fixture_copy(&g_log);
    memcpy(l.entries[k + 1], l.entries[k], OS_LOG_ENTRY_BYTES);
    expect_failure(&l, key, NULL, OS_ERR_LOG_SEQ, g_log.first + k + 1);
    free(l.entries);
}

static void test_truncation_detected(void **state) {
    (void)state;
    const uint8_t *key = g_info.attestation_pubkey;
    /* the last two entries cut and the header rewritten to match: only the head shows it */
    os_audit_log l = audit_fixture_copy(&g_log);
    l.n -= 2;
    l.last -= 2;
    os_audit_report r;
    assert_int_equal(os_audit_verify(&l, key, NULL, NULL, &r), OS_OK);   /* without --head it cannot be seen */
    assert_int_equal(r.head_checked, 0);
    expect_failure(&l, key, g_info.log_head, OS_ERR_LOG_HEAD, l.last);
    /* the header left as it was: the file itself says entries are missing */
    l.last += 2;
    expect_failure(&l, key, NULL, OS_ERR_LOG_HEAD, l.last - 1);
    free(l.entries);
    /* an empty file claiming nothing, against a device head */
    os_audit_log empty;
    memset(&empty, 0, sizeof empty);
    expect_failure(&empty, key, g_info.log_head, OS_ERR_LOG_HEAD, 0);
}

static void test_wrong_key_and_resigned_entry(void **state) {
    (void)state;
    uint8_t other_priv[32], other_pub[32], aux[32] = { 0 };
    memset(other_priv, 0x42, sizeof other_priv);
    crypto_schnorr_key other_key;
    assert_int_equal(crypto_xonly_from_priv(other_priv, other_pub), OS_OK);
    assert_int_equal(crypto_schnorr_key_load(other_priv, &other_key), OS_OK);
    /* the honest log under another key: the first entry already fails */
    expect_failure(&g_log, other_pub, NULL, OS_ERR_LOG_SIGNATURE, 1);
    /* one entry edited and re-signed with another key: its signature fails under the device key */
    size_t k = audit_fixture_index_of(&g_log, OS_LOG_SIGN, 0);
    os_audit_log l = audit_fixture_copy(&g_log);
    uint8_t hash[32];
    l.entries[k][AUDIT_LOG_OFF_PAYLOAD + 104] ^= 0x10;
    assert_int_equal(audit_log_entry_hash(l.entries[k], hash), OS_OK);
    assert_int_equal(crypto_schnorr_sign(&other_key, hash, aux, l.entries[k] + AUDIT_LOG_OFF_SIG), OS_OK);
    expect_failure(&l, g_info.attestation_pubkey, NULL, OS_ERR_LOG_SIGNATURE, g_log.first + k);
    /* ... and the whole chain re-signed with the other key from there on: fine under that key, which is
     * why the key must come from the auditor and not from the file */
    uint8_t prev[32];
    assert_int_equal(audit_log_entry_hash(l.entries[k - 1], prev), OS_OK);
    for (size_t i = k; i < l.n; i++) {
        memcpy(l.entries[i] + AUDIT_LOG_OFF_PREV, prev, 32);
        assert_int_equal(audit_log_entry_hash(l.entries[i], hash), OS_OK);
        assert_int_equal(crypto_schnorr_sign(&other_key, hash, aux, l.entries[i] + AUDIT_LOG_OFF_SIG), OS_OK);
        memcpy(prev, hash, 32);
    }
    expect_failure(&l, g_info.attestation_pubkey, NULL, OS_ERR_LOG_SIGNATURE, g_log.first + k);
    expect_failure(&l, g_info.attestation_pubkey, g_info.log_head, OS_ERR_LOG_SIGNATURE, g_log.first + k);
    free(l.entries);
}

static void test_partial_export(void **state) {
    (void)state;
    /* An export starting later (the device's ring no longer holds the oldest entries, or the
     * front was cut off): refused unless the auditor gives the signed head it continues from. */
    os_audit_log l = audit_fixture_copy(&g_log);
    l.entries += 2;
    l.n -= 2;
    l.first = 3;
    os_audit_report r;
    expect_failure(&l, g_info.attestation_pubkey, g_info.log_head, OS_ERR_LOG_START, 3);
    uint8_t from[32];
    assert_int_equal(audit_log_entry_hash(l.entries[-1], from), OS_OK);   /* entry 2: an earlier audit's head */
    assert_int_equal(os_audit_verify(&l, g_info.attestation_pubkey, from, g_info.log_head, &r), OS_OK);
    assert_int_equal(r.chain_anchored, 1);
    assert_int_equal(r.first, 3);
    /* a head it does not continue from: the first link fails */
    from[0] ^= 1;
    assert_int_equal(os_audit_verify(&l, g_info.attestation_pubkey, from, g_info.log_head, &r), OS_ERR_LOG_CHAIN);
    assert_int_equal(r.bad_seq, 3);
    from[0] ^= 1;
    /* a header claiming first=2 for those entries: sequence error at the first line */
    l.first = 2;
    assert_int_equal(os_audit_verify(&l, g_info.attestation_pubkey, from, NULL, &r), OS_ERR_LOG_SEQ);
    assert_int_equal(r.bad_seq, 2);
    /* a file that claims to start at 1 but whose first entry is not SETUP */
    l.first = 1;
    expect_failure(&l, g_info.attestation_pubkey, NULL, OS_ERR_LOG_START, 1);
    l.entries -= 2;
    free(l.entries);
}

/* An empty file proves nothing on its own: it needs a head (zero for a blank device). */
static void test_empty_log_needs_a_head(void **state) {
    (void)state;
    os_audit_log empty;
    memset(&empty, 0, sizeof empty);
    static const uint8_t zero[32];
    os_audit_report r;
    expect_failure(&empty, g_info.attestation_pubkey, NULL, OS_ERR_LOG_START, 0);
    assert_int_equal(os_audit_verify(&empty, g_info.attestation_pubkey, NULL, zero, &r), OS_OK);
    assert_int_equal(r.head_checked, 1);
    expect_failure(&empty, g_info.attestation_pubkey, g_info.log_head, OS_ERR_LOG_HEAD, 0);
}

/* ---- ledger: export from the archive and cross-check */

static char g_db[64];

static os_ledger *ledger_with_archive(void) {
    os_ledger *l = audit_fixture_ledger(g_db, sizeof g_db, "/tmp/oncesign-audit");
    os_ledger_lock(l);
    assert_int_equal(os_ledger_meta_put(l, "attestation_key", g_info.attestation_pubkey, 32), OS_OK);
    sqlite3 *db = os_ledger_db(l);
    for (size_t i = 0; i < g_log.n; i++) {
        sqlite3_stmt *st = NULL;
        uint8_t hash[32];
        assert_int_equal(audit_log_entry_hash(g_log.entries[i], hash), OS_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO signer_log (seq, entry, entry_hash, verified) VALUES (?,?,?,1)",
                                            -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_int64(st, 1, (int64_t)(g_log.first + i));
        sqlite3_bind_blob(st, 2, g_log.entries[i], OS_LOG_ENTRY_BYTES, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
    }
    /* the signed transactions, their commitments and the leaves they added */
    for (int k = 0; k < N_TX; k++) {
        size_t e = audit_fixture_index_of(&g_log, OS_LOG_SIGN, (size_t)k);
        const uint8_t *pl = g_log.entries[e] + AUDIT_LOG_OFF_PAYLOAD;
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO txs (id, state, draft, raw, txid, anchor_txid, anchor_vout, fee,"
                                            " n_payouts, created_at, updated_at, root_after, hash_prevouts, tx_digest)"
                                            " VALUES (?, 4, x'00', ?, ?, ?, 0, 10000, 1, 0, 0, ?, ?, ?)",
                                            -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_int64(st, 1, k + 1);
        sqlite3_bind_blob(st, 2, g_tx[k].raw, (int)g_tx[k].raw_len, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, g_tx[k].txid, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 4, g_tx[k].coin.input.prevout.txid, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 5, g_tx[k].root_after, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 6, pl, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, pl + 32, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
        uint8_t key[32], value[32];
        const os_sign_output *o = &g_tx[k].out[0];
        audit_fixture_put_leaf(db, o, &g_tx[k].coin.input.prevout, k + 1);
        /* and the coin's anchor entry (one payout anchored there), as the engine stores it */
        assert_int_equal(nonce_set_anchor_key(&g_tx[k].coin.input.prevout, key), OS_OK);
        assert_int_equal(nonce_set_anchor_value(1, value), OS_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "INSERT INTO tree_leaves (key, value, nonce, anchor_txid, anchor_vout, script,"
                                            " amount, tx_row) VALUES (?,?,zeroblob(32),?,?,x'',1,?)", -1, &st, NULL),
                         SQLITE_OK);
        sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, value, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, g_tx[k].coin.input.prevout.txid, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, g_tx[k].coin.input.prevout.vout);
        sqlite3_bind_int64(st, 5, k + 1);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_finalize(st);
    }
    os_ledger_unlock(l);
    return l;
}

static void test_ledger_export_and_crosscheck(void **state) {
    (void)state;
    os_ledger *l = ledger_with_archive();
    os_audit_log fromdb;
    char err[256];
    assert_int_equal(os_audit_export_ledger(l, &fromdb, err, sizeof err), OS_OK);
    assert_int_equal(fromdb.n, g_log.n);
    assert_int_equal(fromdb.first, 1);
    assert_int_equal(fromdb.last, g_log.last);
    assert_memory_equal(fromdb.attestation, g_info.attestation_pubkey, 32);
    assert_memory_equal(fromdb.entries, g_log.entries, g_log.n * OS_LOG_ENTRY_BYTES);

    os_audit_report r;
    assert_int_equal(os_audit_verify(&fromdb, g_info.attestation_pubkey, NULL, g_info.log_head, &r), OS_OK);
    assert_int_equal(os_audit_crosscheck_ledger(&fromdb, l, &r), OS_OK);
    assert_int_equal(r.ledger_sign_matched, N_TX);
    assert_int_equal(r.ledger_refusals_known, 2);
    assert_int_equal(r.ledger_roots_replayed, 1);
    assert_int_equal(r.ledger_root_steps, N_TX);

    /* the raw transaction the ledger stores is not the one the signer signed */
    audit_fixture_exec(l, "UPDATE txs SET raw = substr(raw, 1, length(raw) - 5) || x'ffffffffff' WHERE id = 2");
    assert_int_equal(os_audit_crosscheck_ledger(&fromdb, l, &r), OS_ERR_SIGNER_MISMATCH);
    assert_int_equal(r.bad_seq, fromdb.first + audit_fixture_index_of(&fromdb, OS_LOG_SIGN, 1));
    assert_non_null(strstr(r.reason, "does not hash"));
    /* no transaction at all for a SIGN entry */
    audit_fixture_exec(l, "DELETE FROM tree_leaves WHERE tx_row = 2; DELETE FROM txs WHERE id = 2");
    assert_int_equal(os_audit_crosscheck_ledger(&fromdb, l, &r), OS_ERR_SIGNER_MISMATCH);
    assert_int_equal(r.bad_seq, fromdb.first + audit_fixture_index_of(&fromdb, OS_LOG_SIGN, 1));
    audit_fixture_drop_ledger(l, g_db);

    /* leaves that do not give the signer's root */
    l = ledger_with_archive();
    audit_fixture_exec(l, "UPDATE tree_leaves SET amount = amount + 1, value = x'"
                          "0000000000000000000000000000000000000000000000000000000000000001' WHERE tx_row = 3"
                          " AND nonce != zeroblob(32)");
    assert_int_equal(os_audit_crosscheck_ledger(&fromdb, l, &r), OS_ERR_SIGNER_MISMATCH);
    assert_int_equal(r.bad_seq, fromdb.first + audit_fixture_index_of(&fromdb, OS_LOG_SIGN, 2));
    assert_non_null(strstr(r.reason, "root_after"));
    audit_fixture_drop_ledger(l, g_db);

    /* a refusal naming a nonce the ledger never issued */
    l = ledger_with_archive();
    audit_fixture_exec(l, "UPDATE tree_leaves SET nonce = zeroblob(32) WHERE tx_row = 1");
    assert_int_equal(os_audit_crosscheck_ledger(&fromdb, l, &r), OS_ERR_SIGNER_MISMATCH);
    assert_int_equal(r.bad_seq, fromdb.first + audit_fixture_index_of(&fromdb, OS_LOG_REFUSE_COMMITTED, 0));
    assert_non_null(strstr(r.reason, "REFUSE_COMMITTED"));
    audit_fixture_drop_ledger(l, g_db);

    /* an anchor refusal naming an outpoint the ledger never anchored payouts at */
    l = ledger_with_archive();
    audit_fixture_exec(l, "UPDATE tree_leaves SET anchor_vout = anchor_vout + 1"
                          " WHERE tx_row = 1 AND nonce = zeroblob(32)");
    assert_int_equal(os_audit_crosscheck_ledger(&fromdb, l, &r), OS_ERR_SIGNER_MISMATCH);
    assert_int_equal(r.bad_seq, fromdb.first + audit_fixture_index_of(&fromdb, OS_LOG_REFUSE_ANCHOR, 0));
    assert_non_null(strstr(r.reason, "REFUSE_ANCHOR"));
    audit_fixture_drop_ledger(l, g_db);
    os_audit_log_free(&fromdb);
}

/* os_audit_match_raw (`oncesign log match`): each signed raw transaction is its own SIGN entry's,
 * found by the transaction digest; the same bytes with another locktime or version are no entry's;
 * a raw whose scriptSig length is near 2^64 (the length plus 4 wrapped and passed the bounds check)
 * and a truncated one do not parse. */
static void test_match_raw(void **state) {
    (void)state;
    uint64_t seq = 0;
    uint8_t hp[32], digest[32];
    for (int k = 0; k < N_TX; k++) {
        assert_int_equal(os_audit_match_raw(&g_log, g_tx[k].raw, g_tx[k].raw_len, &seq, hp, digest), OS_OK);
        assert_int_equal(seq, g_log.first + audit_fixture_index_of(&g_log, OS_LOG_SIGN, (size_t)k));
        uint8_t want_hp[32], want_digest[32];
        assert_int_equal(os_draft_commitment(&g_tx[k].tx, want_hp, want_digest), OS_OK);
        assert_memory_equal(hp, want_hp, 32);
        assert_memory_equal(digest, want_digest, 32);
    }
    uint8_t raw[512];
    size_t n = g_tx[0].raw_len;
    assert_true(n <= sizeof raw);
    memcpy(raw, g_tx[0].raw, n);
    raw[n - 4] ^= 1;                                    /* locktime */
    assert_int_equal(os_audit_match_raw(&g_log, raw, n, &seq, NULL, NULL), OS_OK);
    assert_int_equal(seq, 0);
    memcpy(raw, g_tx[0].raw, n);
    raw[0] = 1;                                         /* version 2 -> 1 */
    assert_int_equal(os_audit_match_raw(&g_log, raw, n, &seq, NULL, NULL), OS_OK);
    assert_int_equal(seq, 0);
    assert_int_equal(os_audit_match_raw(&g_log, g_tx[0].raw, n - 1, &seq, NULL, NULL), OS_ERR_TX_PARSE);

    /* version, 1 input: outpoint, scriptSig length 2^64 - 3, then bytes that parse as one output and
     * a locktime if the length wrapped to 1 */
    static const uint8_t hostile[] = {
        0x02, 0, 0, 0, 0x01,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0,
        0xff, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x00, 0x01, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, 0x00, 0, 0, 0, 0,
    };
    seq = 7;
    assert_int_equal(os_audit_match_raw(&g_log, hostile, sizeof hostile, &seq, NULL, NULL), OS_ERR_TX_PARSE);
    assert_int_equal(seq, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_export_verifies),
        cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_edit_detected),
        cmocka_unit_test(test_unknown_format_version_refused),
        cmocka_unit_test(test_gap_and_reordering_detected),
        cmocka_unit_test(test_truncation_detected),
        cmocka_unit_test(test_wrong_key_and_resigned_entry),
        cmocka_unit_test(test_partial_export),
        cmocka_unit_test(test_empty_log_needs_a_head),
        cmocka_unit_test(test_ledger_export_and_crosscheck),
        cmocka_unit_test(test_match_raw),
    };
    return cmocka_run_group_tests(tests, setup_chain, teardown_chain);
}
