/* The payout engine with the whole signer in-process (tests/unit/support/signer_harness.h): a batch of
 * redeemed codes signed as one transaction; the crash between the signer's commit and the ledger's
 * update settled from the signer's log (re-signed as the identical transaction, same txid); a ledger
 * rolled back to an older copy refused at start (I6), and the signer refusing a second transaction
 * for the same code nonce from another coin when pushed anyway (I1). No node: nothing is broadcast. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "address.h"
#include "device_ops.h"
#include "audit_log.h"
#include "crypto.h"
#include "engine.h"
#include "issuer.h"
#include "ledger.h"
#include "nonce_set.h"
#include "nonce_tree.h"
#include "signer_harness.h"
#include "signing.h"

#define FLASH (64u * 4096u)

/* The wall clock as the code under test sees it: this definition takes the place of libc's for the
 * whole binary, so a test can make the wall clock jump (the kernel's own clock, which a wall-clock
 * pthread_cond_timedwait deadline is compared against, does not move). */
static volatile int64_t realtime_offset_s;
int clock_gettime(clockid_t clock, struct timespec *ts) {
    long r = syscall(SYS_clock_gettime, clock, ts);
    if (r == 0 && clock == CLOCK_REALTIME) ts->tv_sec += realtime_offset_s;
    return (int)r;
}

static char dir_path[256], db_path[300];

static int setup(void **state) {
    (void)state;
    realtime_offset_s = 0;
    snprintf(dir_path, sizeof dir_path, "/tmp/oncesign-test-engine-XXXXXX");
    assert_non_null(mkdtemp(dir_path));
    snprintf(db_path, sizeof db_path, "%s/l.db", dir_path);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    harness_stop();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_path);
    return system(cmd) == 0 ? 0 : -1;
}

static os_engine_config config(void) {
    os_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.db_path = db_path;
    cfg.network = OS_NET_REGTEST;
    cfg.batch_max = 20;
    cfg.batch_delay_ms = 50;
    cfg.fee_floor = 1000;
    cfg.fee_cap = 20000;
    return cfg;
}

static os_client *start_signer(uint64_t seed) {
    os_client *c = harness_start(FLASH, seed);
    assert_non_null(c);
    os_policy p = harness_policy_open();
    assert_int_equal(harness_init_device(c, &p, OS_SCRIPT_P2PKH), OS_OK);
    return c;
}

/* A signer whose policy sends any payout above 50000 sat to the operator, who does what op says. */
static os_client *start_signer_capped(uint64_t seed, harness_operator op) {
    os_client *c = harness_start(FLASH, seed);
    os_policy pol = harness_policy_open();
    pol.per_payout_cap = 50000;
    assert_int_equal(harness_init_device(c, &pol, OS_SCRIPT_P2PKH), OS_OK);
    harness_set_operator(op);
    return c;
}

/* The engine on the signer c, opened with cfg (the test fails unless it opens). */
static os_engine *open_engine(const os_engine_config *cfg, os_client *c) {
    os_engine *e = NULL;
    char err[256];
    assert_int_equal(os_engine_open_client(cfg, c, &e, err, sizeof err), OS_OK);
    return e;
}

static void sql(const char *stmt) {
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    os_ledger_lock(l);
    if (os_ledger_exec(l, stmt) != OS_OK) fail_msg("%s: %s", stmt, sqlite3_errmsg(os_ledger_db(l)));
    os_ledger_unlock(l);
    os_ledger_close(l);
}

static int64_t sql_int(const char *q) {
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), q, -1, &st, NULL), SQLITE_OK);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    os_ledger_close(l);
    return v;
}

static void sql_blob(const char *q, uint8_t *out, size_t len) {
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_bytes(st, 0), (int)len);
    memcpy(out, sqlite3_column_blob(st, 0), len);
    sqlite3_finalize(st);
    os_ledger_close(l);
}

/* A confirmed coin of the signer's, as wallet sync would have stored it. */
static harness_coin add_coin(uint32_t index, uint64_t amount, uint32_t salt) {
    harness_coin coin;
    assert_int_equal(harness_make_coin(&coin, OS_SCRIPT_P2PKH, 0, index, amount, salt), OS_OK);
    uint8_t script[25];
    size_t len = 0;
    assert_int_equal(harness_script(OS_SCRIPT_P2PKH, 0, index, script, &len), OS_OK);
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l),
                                        "INSERT INTO coins (txid, vout, amount, script, script_type, change, addr_index,"
                                        " prev_tx, height) VALUES (?,0,?,?,0,0,?,?,1)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_blob(st, 1, coin.input.prevout.txid, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)amount);
    sqlite3_bind_blob(st, 3, script, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, index);
    sqlite3_bind_blob(st, 5, coin.prev_tx, (int)coin.prev_tx_len, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    os_ledger_close(l);
    return coin;
}

static void dest_address(uint32_t n, char out[OS_MAX_ADDRESS + 1]) {
    uint8_t script[25];
    harness_destination(n, script);
    assert_int_equal(address_from_script(OS_NET_REGTEST, script, 25, out, OS_MAX_ADDRESS + 1), OS_OK);
}

/* Waits until every payout has left requested/signing (the worker signed the batch). */
static void wait_signed(os_engine *e, size_t n) {
    for (int i = 0; i < 400; i++) {
        os_payout_info list[64];
        size_t got = 0;
        assert_int_equal(os_engine_payout_list(e, OS_PAYOUT_SIGNED, 0, 64, list, &got), OS_OK);
        if (got == n) return;
        usleep(25000);
    }
    fail_msg("payouts not signed in time");
}

/* Issues a code of amount and redeems it to dest_address(dest); *created (when asked) says whether
 * the redeem created the payout. */
static os_payout_info redeem_one(os_engine *e, uint64_t amount, uint32_t dest, int *created) {
    char code[65], addr[OS_MAX_ADDRESS + 1];
    os_code_info ci;
    os_payout_info p;
    int made = 0;
    assert_int_equal(os_engine_issue_code(e, amount, 0, code, &ci), OS_OK);
    dest_address(dest, addr);
    assert_int_equal(os_engine_redeem(e, code, addr, &p, &made), OS_OK);
    if (created) *created = made;
    return p;
}

static void redeem_codes(os_engine *e, size_t n, int64_t *ids) {
    for (size_t i = 0; i < n; i++) {
        int created = 0;
        os_payout_info p = redeem_one(e, 10000 + i * 1000, (uint32_t)(100 + i), &created);
        assert_int_equal(created, 1);
        if (ids) ids[i] = p.id;
    }
}

static void test_batch_signed_once(void **state) {
    (void)state;
    os_client *c = start_signer(11);
    add_coin(0, 5000000, 1);
    os_engine_config cfg = config();
    char err[256];
    os_engine *e = open_engine(&cfg, c);
    int64_t ids[8];
    redeem_codes(e, 8, ids);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 8);
    os_engine_stop(e);
    /* one transaction carries all eight, with change; every payout names its txid */
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 1);
    assert_int_equal(sql_int("SELECT n_payouts FROM txs"), 8);
    /* eight payouts and the anchor entry of the transaction's input 0 */
    assert_int_equal(sql_int("SELECT count(*) FROM tree_leaves"), 8 + 1);
    assert_int_equal(sql_int("SELECT amount FROM tree_leaves WHERE nonce = zeroblob(32)"), 8);
    assert_int_equal(sql_int("SELECT count(*) FROM coins WHERE state = 1"), 1);
    assert_true(sql_int("SELECT length(raw) FROM txs") > 100);
    uint8_t txid[32];
    sql_blob("SELECT txid FROM txs", txid, 32);
    for (int i = 0; i < 8; i++) {
        os_payout_info p;
        assert_int_equal(os_engine_payout_get(e, ids[i], &p), OS_OK);
        assert_int_equal(p.status, OS_PAYOUT_SIGNED);
        assert_int_equal(p.has_txid, 1);
        assert_memory_equal(p.txid, txid, 32);
    }
    char metrics[8192];
    size_t len = 0;
    assert_int_equal(os_engine_metrics(e, metrics, sizeof metrics, &len), OS_OK);
    assert_non_null(strstr(metrics, "oncesign_payouts_signed_total 8\n"));
    assert_non_null(strstr(metrics, "oncesign_transactions_signed_total 1\n"));
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.signer_ok, 1);
    assert_true(h.signer_log_seq >= 2); /* SETUP, SIGN, ... */
    os_engine_close(e);
    /* the signer's log is archived and verified */
    assert_true(sql_int("SELECT count(*) FROM signer_log WHERE verified = 1") >= 2);
    /* a restart with the same signer passes the start-up check and signs nothing new */
    e = open_engine(&cfg, c);
    size_t leaves = 0;
    assert_int_equal(os_engine_rebuild_tree(e, &leaves, err, sizeof err), OS_OK);
    assert_int_equal(leaves, 8 + 1);
    os_engine_close(e);
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 1);
}

/* The signer committed, the host died before storing the result: the ledger holds only the draft. */
static void test_crash_after_sign_commit_settles(void **state) {
    (void)state;
    os_client *c = start_signer(12);
    add_coin(0, 5000000, 2);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    redeem_codes(e, 3, NULL);
    int64_t seq_before = -1;
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 3);
    os_engine_stop(e);
    os_engine_close(e);
    uint8_t txid[32], raw_first[64];
    sql_blob("SELECT txid FROM txs", txid, 32);
    sql_blob("SELECT substr(raw, 1, 64) FROM txs", raw_first, 64);
    int64_t sign_seq = sql_int("SELECT log_seq FROM txs");
    assert_true(sign_seq > 0);
    seq_before = sign_seq - 1;
    /* Undo exactly what the host stored after the signer's commit. */
    char q[512];
    sql("UPDATE txs SET state = 1, raw = NULL, txid = NULL, root_after = NULL, log_seq = NULL");
    sql("DELETE FROM tree_leaves");
    sql("UPDATE payouts SET status = 3, anchor_txid = NULL, anchor_vout = NULL");
    snprintf(q, sizeof q, "DELETE FROM signer_log WHERE seq > %lld", (long long)seq_before);
    sql(q);
    sql("DELETE FROM meta WHERE k = 'tree_seq'");
    /* Restart: the log entry names the draft, the tree is replayed, the signer's root matches. */
    e = open_engine(&cfg, c);
    assert_int_equal(sql_int("SELECT count(*) FROM tree_leaves"), 3 + 1);
    assert_int_equal(sql_int("SELECT root_after IS NOT NULL FROM txs"), 1);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 3);
    os_engine_stop(e);
    os_engine_close(e);
    /* Re-signed as a replacement of the identical transaction: the same txid, the same bytes. */
    uint8_t txid2[32], raw2[64];
    sql_blob("SELECT txid FROM txs", txid2, 32);
    sql_blob("SELECT substr(raw, 1, 64) FROM txs", raw2, 64);
    assert_memory_equal(txid, txid2, 32);
    assert_memory_equal(raw_first, raw2, 64);
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 1);
}

/* Issue 9 (7): every wait of the worker is on CLOCK_MONOTONIC. With the wall clock an hour off from
 * the one a wall-clock deadline is checked against (an NTP step, an operator's date), a batch waiting
 * its batch_delay_ms must still go out within a second, not an hour later. */
static void test_worker_wait_ignores_wall_clock_jumps(void **state) {
    (void)state;
    os_client *c = start_signer(15);
    add_coin(0, 5000000, 6);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    assert_int_equal(os_engine_start(e), OS_OK);
    usleep(100000);
    realtime_offset_s = 3600;
    usleep(200000);   /* the worker's next waits are computed with the jumped clock */
    redeem_codes(e, 1, NULL);
    wait_signed(e, 1);
    realtime_offset_s = 0;
    os_engine_stop(e);
    os_engine_close(e);
}

/* Issue 9 (1): a ledger holding leaves the signer never committed (what an unanswerable power cut
 * used to leave) fails the start-up check; `tree rebuild` replays the signer's log and stores the
 * result, so the next start passes without any other step. */
static void test_tree_rebuild_persists(void **state) {
    (void)state;
    os_client *c = start_signer(14);
    add_coin(0, 5000000, 5);
    os_engine_config cfg = config();
    char err[256];
    os_engine *e = open_engine(&cfg, c);
    redeem_codes(e, 3, NULL);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 3);
    os_engine_stop(e);
    os_engine_close(e);
    sql("INSERT INTO tree_leaves (key, value, nonce, anchor_txid, anchor_vout, script, amount)"
        " VALUES (randomblob(32), randomblob(32), randomblob(32), randomblob(32), 0, x'00', 1)");
    assert_int_equal(os_engine_open_client(&cfg, c, &e, err, sizeof err), OS_ERR_SIGNER_MISMATCH);
    size_t leaves = 0;
    assert_int_equal(os_engine_rebuild_tree(e, &leaves, err, sizeof err), OS_OK);
    assert_int_equal(leaves, 3 + 1);   /* and the anchor entry */
    os_engine_close(e);
    assert_int_equal(sql_int("SELECT count(*) FROM tree_leaves"), 3 + 1);
    e = open_engine(&cfg, c);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.signer_ok, 1);
    os_engine_close(e);
}

/* Issue 12: a backup `ledger backup` made, restored after the signer signed past it, used to be refused
 * for good ("signer mismatch", and `tree rebuild` could not help). It now opens recovering: every
 * write is refused with OS_ERR_RECOVERING and the reason, health says so, and the payout the backup
 * held redeemed is not signed again from the stale copy (docs/RECOVERY.md). A plain copy is still
 * refused (test_rolled_back_ledger_refused below). */
static void test_restored_backup_recovers(void **state) {
    (void)state;
    os_client *c = start_signer(16);
    add_coin(0, 5000000, 3);
    os_engine_config cfg = config();
    cfg.batch_max = 1;
    char err[256], backup[400];
    os_engine *e = open_engine(&cfg, c);
    int64_t id = 0;
    redeem_codes(e, 1, &id);
    snprintf(backup, sizeof backup, "%s.backup", db_path);
    os_backup_marker marker;
    assert_int_equal(os_ledger_backup(os_engine_ledger(e), backup, 1, &marker, err, sizeof err), OS_OK);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 1);
    os_engine_close(e);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && rm -f '%s-wal' '%s-shm'", backup, db_path, db_path, db_path);
    assert_int_equal(system(cmd), 0);
    err[0] = '\0';
    assert_int_equal(os_engine_open_client(&cfg, c, &e, err, sizeof err), OS_OK);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.recovering, 1);
    assert_int_equal(h.signing_disabled, 1);
    assert_non_null(strstr(h.recovery, "replay"));
    char why[320];
    assert_int_equal(os_engine_signing_disabled(e, why, sizeof why), OS_ERR_RECOVERING);
    assert_non_null(strstr(why, "recovering"));
    /* no node: the recovery cannot go on, and the worker signs nothing meanwhile */
    assert_int_equal(os_engine_start(e), OS_OK);
    usleep(300000);
    os_engine_stop(e);
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 0);
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(e, id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_REQUESTED);
    os_engine_close(e);
}

/* A code a restore could not clear (a payout of its amount after a signature the ledger cannot
 * explain) is held: its redeem is refused, since it may have been paid already, and
 * os_engine_recovery_list names it; once a recovered output is proven to pay it, it is redeemed and
 * paid, and no longer held. */
static int count_payouts(void *ctx, const os_recovered_payout *p) {
    (void)p;
    ++*(int *)ctx;
    return OS_OK;
}
static int count_held(void *ctx, const char code_id[33], uint64_t amount) {
    (void)code_id;
    (void)amount;
    ((int *)ctx)[1]++;
    return OS_OK;
}

static void test_held_code_not_redeemed(void **state) {
    (void)state;
    os_client *c = start_signer(17);
    add_coin(0, 5000000, 3);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    char code[65], addr[OS_MAX_ADDRESS + 1];
    os_code_info ci;
    os_payout_info p;
    int made = 0;
    assert_int_equal(os_engine_issue_code(e, 12345, 0, code, &ci), OS_OK);
    int64_t row = sql_int("SELECT max(id) FROM codes");
    assert_int_equal(os_ledger_recovery_hold_code(os_engine_ledger(e), row, 7, 12345), OS_OK);
    dest_address(5, addr);
    assert_int_equal(os_engine_redeem(e, code, addr, &p, &made), OS_ERR_RECOVERING);
    assert_int_equal(made, 0);
    assert_int_equal(sql_int("SELECT count(*) FROM payouts"), 0);
    int counts[2] = {0, 0}, phase = -1;
    assert_int_equal(os_engine_recovery_list(e, &phase, NULL, 0, count_payouts, count_held, counts), OS_OK);
    assert_int_equal(phase, OS_RECOVERY_NONE);
    assert_int_equal(counts[0], 0);
    assert_int_equal(counts[1], 1);

    /* proven paid by a recovered output: redeemed (its payout confirmed), no longer held */
    uint8_t nonce[32], ph[32], script[OS_MAX_PAYOUT_SCRIPT];
    size_t script_len = 0;
    memset(ph, 0, sizeof ph);
    sql_blob("SELECT nonce FROM codes", nonce, 32);
    assert_int_equal(address_to_script(OS_NET_REGTEST, addr, script, sizeof script, &script_len), OS_OK);
    os_ledger_recovery_output o = {.log_seq = 7, .vout = 0, .address = addr, .script = script,
                                   .script_len = script_len, .amount = 12345, .how = "test"};
    memset(o.txid, 0xAB, 32);
    assert_int_equal(os_ledger_recovery_tx_put(os_engine_ledger(e), 7, nonce, o.txid, script, script_len, 1), OS_OK);
    int64_t payout_id = 0;
    assert_int_equal(os_ledger_recovery_code_paid(os_engine_ledger(e), row, ph, nonce, &o, 1, &payout_id), OS_OK);
    assert_int_equal(os_engine_redeem(e, code, addr, &p, &made), OS_OK);
    assert_int_equal(made, 0);
    assert_int_equal(p.id, payout_id);
    assert_int_equal(p.status, OS_PAYOUT_CONFIRMED);
    counts[0] = counts[1] = 0;
    assert_int_equal(os_engine_recovery_list(e, &phase, NULL, 0, count_payouts, count_held, counts), OS_OK);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 0);

    /* a code held without a payout to prove it paid: the operator releases it (the backend says it
     * was not redeemed after the backup), and its redeem is accepted */
    char code2[65], addr2[OS_MAX_ADDRESS + 1];
    assert_int_equal(os_engine_issue_code(e, 23456, 0, code2, &ci), OS_OK);
    int64_t row2 = sql_int("SELECT max(id) FROM codes");
    assert_int_equal(os_ledger_recovery_hold_code(os_engine_ledger(e), row2, 8, 23456), OS_OK);
    dest_address(6, addr2);
    assert_int_equal(os_engine_redeem(e, code2, addr2, &p, &made), OS_ERR_RECOVERING);
    assert_int_equal(os_engine_recovery_release_held(e, "00112233445566778899aabbccddeeff"), OS_ERR_NOT_FOUND);
    assert_int_equal(os_engine_recovery_release_held(e, "not-hex"), OS_ERR_ARG);
    assert_int_equal(os_engine_recovery_release_held(e, ci.code_id), OS_OK);
    assert_int_equal(os_engine_recovery_release_held(e, ci.code_id), OS_ERR_NOT_FOUND);   /* once */
    assert_int_equal(os_engine_redeem(e, code2, addr2, &p, &made), OS_OK);
    assert_int_equal(made, 1);
    assert_int_equal(p.amount, 23456);
    os_engine_close(e);
}

static void test_rolled_back_ledger_refused(void **state) {
    (void)state;
    os_client *c = start_signer(13);
    harness_coin coin0 = add_coin(0, 5000000, 3);
    harness_coin coin1 = add_coin(1, 5000000, 4);
    coin0.input.prev_tx = coin0.prev_tx; /* returned by value: point into this copy */
    coin1.input.prev_tx = coin1.prev_tx;
    os_engine_config cfg = config();
    cfg.batch_max = 1;
    char err[256];
    os_engine *e = open_engine(&cfg, c);
    int64_t id = 0;
    redeem_codes(e, 1, &id);
    os_engine_close(e);
    /* the older copy: redeemed, not yet signed */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.old'", db_path, db_path);
    assert_int_equal(system(cmd), 0);
    e = open_engine(&cfg, c);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 1);
    os_engine_close(e);
    uint8_t nonce[32];
    sql_blob("SELECT nonce FROM payouts", nonce, 32);
    /* restore the older copy behind the host's back */
    snprintf(cmd, sizeof cmd, "cp '%s.old' '%s' && rm -f '%s-wal' '%s-shm'", db_path, db_path, db_path, db_path);
    assert_int_equal(system(cmd), 0);
    err[0] = '\0';
    assert_int_equal(os_engine_open_client(&cfg, c, &e, err, sizeof err), OS_ERR_SIGNER_MISMATCH);
    assert_non_null(e);
    assert_non_null(strstr(err, "no record"));
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.signer_ok, 0);
    /* started anyway: the worker signs nothing */
    assert_int_equal(os_engine_start(e), OS_OK);
    usleep(300000);
    os_engine_stop(e);
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(e, id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_REQUESTED);
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 0);
    os_engine_close(e);

    /* Pushed to sign the same code's payout from the other coin anyway, with the stale (empty) tree: */
    nonce_tree *stale = NULL;
    assert_int_equal(nonce_tree_create(&stale), OS_OK);
    os_sign_output out[2];
    memset(out, 0, sizeof out);
    out[0].kind = OS_OUTPUT_PAYOUT;
    out[0].amount = 10000;
    harness_destination(100, out[0].script);
    out[0].script_len = 25;
    memcpy(out[0].nonce, nonce, 32);
    size_t len = 0;
    out[1].kind = OS_OUTPUT_CHANGE;
    out[1].amount = 5000000 - 10000 - 2000;
    out[1].change_script_type = OS_SCRIPT_P2PKH;
    out[1].change_index = 50;
    assert_int_equal(harness_script(OS_SCRIPT_P2PKH, 1, 50, out[1].script, &len), OS_OK);
    out[1].script_len = (uint8_t)len;
    os_sign_tx tx = {.version = 2, .locktime = 0, .n_inputs = 1, .n_outputs = 2, .inputs = &coin1.input, .outputs = out};
    os_input_sig sigs[1];
    os_sign_outcome oc;
    int rc = os_sign_run(c, stale, &tx, sigs, &oc, NULL, NULL);
    assert_int_equal(rc, OS_ERR_PROOF_INVALID);
    /* ... and with an honest tree holding the nonce, a replacement must spend the anchor (coin 0): */
    nonce_tree *honest = NULL;
    assert_int_equal(nonce_tree_create(&honest), OS_OK);
    uint8_t key[32], value[32], root[32];
    assert_int_equal(nonce_set_key(nonce, key), OS_OK);
    assert_int_equal(nonce_set_leaf_value(&coin0.input.prevout, out[0].script, 25, 10000, value), OS_OK);
    assert_int_equal(nonce_tree_insert(honest, key, value), OS_OK);
    assert_int_equal(nonce_set_anchor_key(&coin0.input.prevout, key), OS_OK);   /* coin 0 anchors it */
    assert_int_equal(nonce_set_anchor_value(1, value), OS_OK);
    assert_int_equal(nonce_tree_insert(honest, key, value), OS_OK);
    assert_int_equal(nonce_set_key(nonce, key), OS_OK);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    nonce_tree_root(honest, root);
    assert_memory_equal(root, info.nonce_root, 32);   /* the signer holds exactly that commitment */
    out[0].replace = 1;
    out[0].anchor = coin0.input.prevout;
    rc = os_sign_run(c, honest, &tx, sigs, &oc, NULL, NULL);
    assert_int_equal(rc, OS_ERR_NONCE_COMMITTED);
    out[0].replace = 0;
    rc = os_sign_run(c, honest, &tx, sigs, &oc, NULL, NULL);
    assert_true(rc == OS_ERR_PROOF_KIND || rc == OS_ERR_NONCE_COMMITTED || rc == OS_ERR_INTERNAL);
    nonce_tree_free(stale);
    nonce_tree_free(honest);
}

static int operator_waits;
static void press_button(void *ctx, int64_t tx_row) {
    (void)ctx;
    (void)tx_row;
    operator_waits++;
    harness_on_pending(NULL);
}

/* Waits until payout id has status want. */
static void wait_payout(os_engine *e, int64_t id, os_payout_status want) {
    os_payout_info p;
    for (int i = 0; i < 400; i++) {
        assert_int_equal(os_engine_payout_get(e, id, &p), OS_OK);
        if (p.status == want) return;
        usleep(25000);
    }
    fail_msg("payout %lld is %s, expected %s", (long long)id, os_payout_status_name(p.status),
             os_payout_status_name(want));
}

/* A payout above the signer's per-payout cap goes alone and waits for the operator: approved, it is
 * signed; rejected, only it fails, the small ones of the same moment are signed without asking. */
static void run_approval(harness_operator op) {
    os_client *c = start_signer_capped(op == OPERATOR_APPROVE ? 21 : 22, op);
    add_coin(0, 5000000, 30);
    add_coin(1, 5000000, 31);
    os_engine_config cfg = config();
    cfg.on_operator_wait = press_button;
    operator_waits = 0;
    os_engine *e = open_engine(&cfg, c);
    os_payout_info big = redeem_one(e, 200000, 300, NULL), small[2];
    for (int i = 0; i < 2; i++) small[i] = redeem_one(e, 20000, 301 + (uint32_t)i, NULL);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, small[0].id, OS_PAYOUT_SIGNED);
    wait_payout(e, small[1].id, OS_PAYOUT_SIGNED);
    wait_payout(e, big.id, op == OPERATOR_APPROVE ? OS_PAYOUT_SIGNED : OS_PAYOUT_FAILED);
    os_engine_stop(e);
    assert_int_equal(operator_waits, 1);
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(e, big.id, &p), OS_OK);
    if (op == OPERATOR_APPROVE) {
        assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE state = 2"), 2);
        assert_int_equal(sql_int("SELECT n_payouts FROM txs WHERE id = (SELECT tx_row FROM payouts WHERE amount = 200000)"), 1);
    } else {
        assert_non_null(strstr(p.error, "signer refused"));
        assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE state = 2"), 1);
        assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE state = 5"), 1);  /* released */
        assert_int_equal(sql_int("SELECT count(*) FROM coins WHERE state = 1"), 1); /* its coin is free again */
    }
    os_engine_close(e);
}

static void test_operator_approves(void **state) {
    (void)state;
    run_approval(OPERATOR_APPROVE);
}

static void test_operator_rejects(void **state) {
    (void)state;
    run_approval(OPERATOR_REJECT);
}

/* Issue 9, defect 5: a payout larger than the wallet's funds stepped in front of every other payout:
 * the batch shrank from its end until it was empty, and nothing was ever signed. It steps aside now;
 * the payouts the coins can cover are signed, and it waits in requested for funds. */
static void test_oversized_payout_steps_aside(void **state) {
    (void)state;
    os_client *c = start_signer(17);
    add_coin(0, 100000, 3);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    os_payout_info big = redeem_one(e, 50000000, 99, NULL);
    int64_t ids[3];
    redeem_codes(e, 3, ids);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 3);
    os_engine_stop(e);
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(e, big.id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_REQUESTED);
    assert_int_equal(p.has_txid, 0);
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 1);
    assert_int_equal(sql_int("SELECT n_payouts FROM txs"), 3);
    /* health says one waits for funds; the operator may cancel it, and only it (the others are signed) */
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.payouts_waiting_for_funds, 1);
    assert_int_equal(os_engine_payout_cancel(e, ids[0]), OS_ERR_BUSY);
    assert_int_equal(os_engine_payout_cancel(e, big.id + 1000), OS_ERR_NOT_FOUND);
    assert_int_equal(os_engine_payout_cancel(e, big.id), OS_OK);
    assert_int_equal(os_engine_payout_get(e, big.id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_FAILED);
    assert_string_equal(p.error, "cancelled by the operator");
    assert_int_equal(os_engine_payout_cancel(e, big.id), OS_ERR_BUSY);
    assert_int_equal(os_engine_payout_get(e, ids[0], &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_SIGNED);
    os_engine_close(e);
}

/* Issue 9, defect 5: SIGTERM hung while the signer waited for the operator's button: the stop joined a
 * worker blocked in the signing session (a real signer waits without end; the in-process one gives
 * up after the 10 s call timeout). The stop cancels the wait at once now; the draft stays
 * awaiting_approval (nothing committed) for the next start. */
static int stop_returned;
static void *stop_engine(void *arg) {
    os_engine_stop(arg);
    __atomic_store_n(&stop_returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_stop_while_operator_waits(void **state) {
    (void)state;
    os_client *c = start_signer_capped(23, OPERATOR_ABSENT);
    add_coin(0, 5000000, 40);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    os_payout_info big = redeem_one(e, 200000, 400, NULL);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    pthread_t t;
    stop_returned = 0;
    assert_int_equal(pthread_create(&t, NULL, stop_engine, e), 0);
    for (int i = 0; i < 120 && !__atomic_load_n(&stop_returned, __ATOMIC_SEQ_CST); i++) usleep(25000);
    if (!__atomic_load_n(&stop_returned, __ATOMIC_SEQ_CST)) fail_msg("os_engine_stop still waits for the operator after 3 s");
    pthread_join(t, NULL);
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(e, big.id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_AWAITING_APPROVAL);
    assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE state = 7"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM tree_leaves"), 0);
    os_engine_close(e);
}

/* Issue 9, defect 5: a payout waiting for the operator held every other payout. Now, when the operator
 * does not decide within operator_wait_ms, the session is cancelled (nothing committed), the payout
 * stays awaiting_approval and the others are signed; the signer asks again later, and an approval
 * then signs it. */
static void test_operator_wait_steps_aside(void **state) {
    (void)state;
    os_client *c = start_signer_capped(24, OPERATOR_ABSENT);
    add_coin(0, 5000000, 50);
    add_coin(1, 5000000, 51);
    os_engine_config cfg = config();
    cfg.operator_wait_ms = 1500; /* above the host's polls through the approval's pages (a press per page) */
    cfg.on_operator_wait = press_button; /* presses what harness_set_operator says: nothing, for now */
    os_engine *e = open_engine(&cfg, c);
    os_payout_info big = redeem_one(e, 200000, 500, NULL), small[2];
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    for (int i = 0; i < 2; i++) small[i] = redeem_one(e, 20000, 501 + (uint32_t)i, NULL);
    wait_payout(e, small[0].id, OS_PAYOUT_SIGNED);
    wait_payout(e, small[1].id, OS_PAYOUT_SIGNED);
    os_payout_info p;
    assert_int_equal(os_engine_payout_get(e, big.id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_AWAITING_APPROVAL);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.payouts_awaiting_approval, 1);
    /* the operator comes back: the next time the signer asks, the approval signs it */
    harness_set_operator(OPERATOR_APPROVE);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE state = 2"), 2);
    os_engine_close(e);
}

/* Issue 11: an operator's request on the daemon's signer (os_engine_with_signer: `device info`,
 * `device address --show`, `log export` through the admin socket) takes turns with signing sessions.
 * While a session waits for the operator's button the request is refused as busy once its wait ran
 * out, never sent in between; after the session stepped aside it runs; and the payout is signed as
 * soon as the operator approves. */
static int read_info(void *ctx, os_client *cl) {
    os_device_failure why;
    return os_device_info(cl, 5000, ctx, &why);
}

static void test_operator_request_takes_turns(void **state) {
    (void)state;
    os_client *c = start_signer_capped(25, OPERATOR_ABSENT);
    add_coin(0, 5000000, 60);
    os_engine_config cfg = config();
    cfg.operator_wait_ms = 1500;
    cfg.on_operator_wait = press_button;
    os_engine *e = open_engine(&cfg, c);
    os_payout_info big = redeem_one(e, 200000, 600, NULL);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    os_msg_info info;
    memset(&info, 0, sizeof info);
    assert_int_equal(os_engine_with_signer(e, 100, read_info, &info), OS_ERR_BUSY);
    assert_int_equal(info.initialized, 0);   /* nothing reached the signer */
    os_engine_status st;
    assert_int_equal(os_engine_status_get(e, 1, 100, &st), OS_ERR_BUSY);
    /* the session steps aside after operator_wait_ms: a request that waits long enough runs */
    assert_int_equal(os_engine_with_signer(e, 10000, read_info, &info), OS_OK);
    assert_int_equal(info.initialized, 1);
    assert_int_equal(os_engine_status_get(e, 1, 10000, &st), OS_OK);
    assert_int_equal(st.with_signer, 1);
    assert_int_equal(st.matches_ledger, 1);
    assert_int_equal(st.counts[OS_PAYOUT_AWAITING_APPROVAL], 1);
    harness_set_operator(OPERATOR_APPROVE);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    os_engine_close(e);
}

/* A signer absent when the engine opens (unplugged, simulator not started): the daemon's engine
 * (wait_for_signer) opens, reports why in health, refuses writes until the start-up check has run, and
 * signs nothing meanwhile; the CLI's engine (without it) fails at once. */
static void test_absent_signer_waited_for(void **state) {
    (void)state;
    char spec[400];
    snprintf(spec, sizeof spec, "sim:%s/absent.sock", dir_path);
    os_engine_config cfg = config();
    cfg.device = spec;
    os_engine *e = NULL;
    char err[256];
    assert_int_equal(os_engine_open(&cfg, &e, err, sizeof err), OS_ERR_IO);
    assert_null(e);
    cfg.wait_for_signer = 1;
    assert_int_equal(os_engine_open(&cfg, &e, err, sizeof err), OS_OK);
    assert_non_null(e);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.signer_ok, 0);
    assert_int_equal(h.signing_disabled, 0);
    assert_non_null(strstr(h.signer_error, "not checked since start-up"));
    assert_non_null(strstr(h.signer_error, "absent.sock"));
    char why[320];
    assert_int_equal(os_engine_signing_disabled(e, why, sizeof why), OS_ERR_SIGNER_UNAVAILABLE);
    assert_non_null(strstr(why, "start-up check"));
    redeem_codes(e, 2, NULL);   /* the engine itself takes them (the API gates writes): nothing is drafted */
    assert_int_equal(os_engine_start(e), OS_OK);
    usleep(400000);             /* the worker's rounds and the link's first retries */
    assert_int_equal(sql_int("SELECT count(*) FROM txs"), 0);
    assert_int_equal(os_engine_signing_disabled(e, NULL, 0), OS_ERR_SIGNER_UNAVAILABLE);
    os_engine_close(e);
}


/* ---- issue 14: vouchers through the engine ---- */

static const uint8_t ENGINE_ISSUER_PRIV[32] = { 0x5a, [31] = 0x01 };

/* A voucher for nonce_id's nonce from ENGINE_ISSUER_PRIV for the signer c, bound to dest_address(dest)
 * when dest is not 0. */
static os_voucher engine_voucher(os_client *c, uint8_t nonce_id, uint64_t amount, uint32_t dest) {
    os_voucher v;
    os_msg_info info;
    memset(&v, 0, sizeof v);
    assert_int_equal(harness_info(c, &info), OS_OK);
    memcpy(v.signer, info.attestation_pubkey, 32);
    v.network = OS_NET_REGTEST;
    memset(v.nonce, nonce_id, 32);
    v.amount = amount;
    v.expiry_seq = info.log_seq + 1000;
    if (dest != 0) {
        v.flags = OS_VOUCHER_DESTINATION;
        v.script_len = 25;
        harness_destination(dest, v.script);
    }
    assert_int_equal(os_voucher_sign(&v, ENGINE_ISSUER_PRIV), OS_OK);
    return v;
}

/* The signer requires vouchers from ENGINE_ISSUER_PRIV's key (the operator approved it). */
static void require_vouchers(os_client *c) {
    uint8_t key[32];
    harness_xonly(ENGINE_ISSUER_PRIV, key);
    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(harness_set_issuers(c, OS_VOUCHERS_REQUIRED, key, 1, NULL), OS_MSG_SUCCESS);
}

/* Codes and withdrawals carry the issuer's voucher from the API to the signer; the host checks what
 * it can first (signature, network, amount, destination, reuse). */
static void test_vouchers_pay_through_the_engine(void **state) {
    (void)state;
    os_client *c = start_signer(41);
    require_vouchers(c);
    add_coin(0, 5000000, 41);
    os_engine_config cfg = config();
    cfg.vouchers_required = 1;
    os_engine *e = open_engine(&cfg, c);
    char code[65], addr[OS_MAX_ADDRESS + 1];
    os_code_info ci;
    os_payout_info p, w;
    int created = 0;
    assert_int_equal(os_engine_issue_code(e, 10000, 0, code, &ci), OS_ERR_VOUCHER_MISSING);
    dest_address(201, addr);
    assert_int_equal(os_engine_payout_create(e, "w-none", addr, 10000, &w, &created), OS_ERR_VOUCHER_MISSING);

    os_voucher gift = engine_voucher(c, 1, 20000, 0);
    os_voucher forged = gift;
    forged.sig[5] ^= 1;
    assert_int_equal(os_engine_issue_voucher_code(e, &forged, 0, code, &ci), OS_ERR_VOUCHER_ISSUER);
    assert_int_equal(os_engine_issue_voucher_code(e, &gift, 0, code, &ci), OS_OK);
    assert_int_equal(ci.amount, 20000);
    char again[65];
    assert_int_equal(os_engine_issue_voucher_code(e, &gift, 0, again, &ci), OS_ERR_IDEMPOTENCY);
    dest_address(200, addr);
    assert_int_equal(os_engine_redeem(e, code, addr, &p, &created), OS_OK);

    os_voucher withdrawal = engine_voucher(c, 2, 30000, 201);
    dest_address(202, addr);
    assert_int_equal(os_engine_payout_create_vouched(e, "w1", addr, 30000, &withdrawal, &w, &created),
                     OS_ERR_VOUCHER_DESTINATION);
    dest_address(201, addr);
    assert_int_equal(os_engine_payout_create_vouched(e, "w1", addr, 30001, &withdrawal, &w, &created),
                     OS_ERR_VOUCHER_AMOUNT);
    assert_int_equal(os_engine_payout_create_vouched(e, "w1", addr, 30000, &withdrawal, &w, &created), OS_OK);
    assert_int_equal(created, 1);
    assert_int_equal(os_engine_payout_create_vouched(e, "w2", addr, 30000, &withdrawal, &w, &created),
                     OS_ERR_IDEMPOTENCY);   /* a voucher pays one payout */
    assert_int_equal(sql_int("SELECT count(*) FROM vouchers"), 2);

    assert_int_equal(os_engine_start(e), OS_OK);
    wait_signed(e, 2);
    os_engine_stop(e);
    /* the signer logged the two vouchers before the SIGN entry */
    os_msg_info info;
    os_msg reply;
    assert_int_equal(harness_info(c, &info), OS_OK);
    int found = 0;
    for (uint64_t seq = 1; seq <= info.log_seq; seq++) {
        assert_int_equal(harness_log_read(c, seq, &reply), OS_OK);
        const uint8_t *en = reply.u.log_entry.entry;
        if (en[AUDIT_LOG_OFF_TYPE] != OS_LOG_VOUCHERS) continue;
        found++;
        assert_int_equal(en[AUDIT_LOG_OFF_PAYLOAD + 32], 2);
        assert_int_equal(harness_log_read(c, seq + 1, &reply), OS_OK);
        assert_int_equal(reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE], OS_LOG_SIGN);
    }
    assert_int_equal(found, 1);
    os_engine_close(e);
}

/* The audit's attack through the engine: a compromised bridge (here: one that ignores its own
 * vouchers-required setting) invents a withdrawal to itself under every cap. The signer refuses and
 * logs it; the payout fails with the signer's reason; nothing is signed. */
static void test_compromised_bridge_invented_payout_refused(void **state) {
    (void)state;
    os_client *c = start_signer(42);
    require_vouchers(c);
    add_coin(0, 5000000, 42);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    char addr[OS_MAX_ADDRESS + 1];
    os_payout_info w;
    int created = 0;
    dest_address(666, addr);
    assert_int_equal(os_engine_payout_create(e, "theft", addr, 40000, &w, &created), OS_OK);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, w.id, OS_PAYOUT_FAILED);
    os_engine_stop(e);
    assert_int_equal(os_engine_payout_get(e, w.id, &w), OS_OK);
    assert_non_null(strstr(w.error, "voucher"));
    assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE raw IS NOT NULL"), 0);
    os_msg_info info;
    os_msg reply;
    assert_int_equal(harness_info(c, &info), OS_OK);
    int refused = 0, signed_entries = 0;
    for (uint64_t seq = 1; seq <= info.log_seq; seq++) {
        assert_int_equal(harness_log_read(c, seq, &reply), OS_OK);
        refused += reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE] == OS_LOG_REFUSE_VOUCHER;
        signed_entries += reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE] == OS_LOG_SIGN;
    }
    assert_true(refused >= 1);
    assert_int_equal(signed_entries, 0);
    os_engine_close(e);
}

/* Heal, don't halt: a batch holding one expired voucher is refused by the signer at that payout; it
 * fails with the reason, and the others of the batch are drafted again and paid. */
static void test_expired_voucher_fails_alone(void **state) {
    (void)state;
    os_client *c = start_signer(43);
    require_vouchers(c);
    add_coin(0, 5000000, 43);
    os_engine_config cfg = config();
    cfg.vouchers_required = 1;
    os_engine *e = open_engine(&cfg, c);
    os_voucher good = engine_voucher(c, 3, 20000, 0), stale = engine_voucher(c, 4, 21000, 0);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    stale.expiry_seq = info.log_seq;   /* the signer's log is there already */
    assert_int_equal(os_voucher_sign(&stale, ENGINE_ISSUER_PRIV), OS_OK);
    char code[2][65], addr[OS_MAX_ADDRESS + 1];
    os_code_info ci;
    os_payout_info p[2];
    int created = 0;
    assert_int_equal(os_engine_issue_voucher_code(e, &good, 0, code[0], &ci), OS_OK);
    assert_int_equal(os_engine_issue_voucher_code(e, &stale, 0, code[1], &ci), OS_OK);
    for (int i = 0; i < 2; i++) {
        dest_address(210 + (uint32_t)i, addr);
        assert_int_equal(os_engine_redeem(e, code[i], addr, &p[i], &created), OS_OK);
    }
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, p[1].id, OS_PAYOUT_FAILED);
    wait_payout(e, p[0].id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(os_engine_payout_get(e, p[1].id, &p[1]), OS_OK);
    assert_non_null(strstr(p[1].error, "expired"));
    os_engine_close(e);
}

/* ---- issue 14 part 2: the operators' quorum (DESIGN.md §8 "Host flow") ---- */

static const uint8_t OPERATOR_PRIV[3][32] = { { 0x6b, [31] = 0x02 }, { 0x6b, [31] = 0x03 }, { 0x6b, [31] = 0x04 } };

/* Registers the first n of OPERATOR_PRIV's keys with k and threshold on the signer (the operator
 * approves the change on the device). */
static void register_operators(os_client *c, uint8_t k, uint8_t n, uint64_t threshold) {
    uint8_t keys[OS_MAX_OPERATORS * 32];
    for (uint8_t i = 0; i < n; i++) harness_xonly(OPERATOR_PRIV[i], keys + 32 * i);
    /* the signer takes a set in increasing key order (one encoding per set) */
    for (uint8_t i = 1; i < n; i++)
        for (uint8_t j = i; j > 0 && memcmp(keys + 32 * (j - 1), keys + 32 * j, 32) > 0; j--) {
            uint8_t t[32];
            memcpy(t, keys + 32 * j, 32);
            memcpy(keys + 32 * j, keys + 32 * (j - 1), 32);
            memcpy(keys + 32 * (j - 1), t, 32);
        }
    harness_set_operator(OPERATOR_APPROVE);
    assert_int_equal(harness_set_operators(c, k, keys, n, threshold, NULL), OS_MSG_SUCCESS);
}

/* How many entries of type the signer's log holds. */
static int log_entries_of(os_client *c, uint8_t type) {
    os_msg_info info;
    os_msg reply;
    int n = 0;
    assert_int_equal(harness_info(c, &info), OS_OK);
    for (uint64_t seq = 1; seq <= info.log_seq; seq++) {
        assert_int_equal(harness_log_read(c, seq, &reply), OS_OK);
        n += reply.u.log_entry.entry[AUDIT_LOG_OFF_TYPE] == type;
    }
    return n;
}

/* Operator i's approval of the transaction payout id waits in, valid for `valid` log entries from
 * the commitment's log_seq. */
static os_approval approve(os_engine *e, int64_t id, int i, uint64_t valid) {
    os_quorum_commitment qc;
    os_approval a;
    assert_int_equal(os_engine_payout_commitment(e, id, &qc), OS_OK);
    assert_int_equal(os_approval_sign(&a, qc.tx_digest, qc.log_seq + valid, qc.signer, OPERATOR_PRIV[i]), OS_OK);
    os_quorum_commitment_free(&qc);
    return a;
}

/* A quorum test's start: the signer (seed) with the first n of OPERATOR_PRIV's keys registered k of n
 * above 30000, n_coins coins of 5000000 (salts from salt), and an engine whose operator presses the
 * button for every signing (cfg holds its configuration, to open the engine again). */
static os_engine *quorum_engine(uint64_t seed, uint8_t k, uint8_t n, uint32_t n_coins, uint32_t salt,
                                os_engine_config *cfg, os_client **c) {
    *c = start_signer(seed);
    register_operators(*c, k, n, 30000);
    for (uint32_t i = 0; i < n_coins; i++) add_coin(i, 5000000, salt + i);
    *cfg = config();
    cfg->on_operator_wait = press_button;
    return open_engine(cfg, *c);
}

/* Creates the payout key of amount to destination dest. */
static os_payout_info new_payout(os_engine *e, const char *key, uint32_t dest, uint64_t amount) {
    char addr[OS_MAX_ADDRESS + 1];
    os_payout_info p;
    int created = 0;
    dest_address(dest, addr);
    assert_int_equal(os_engine_payout_create(e, key, addr, amount, &p, &created), OS_OK);
    assert_int_equal(created, 1);
    return p;
}

/* Creates the payout "big" of 40000 (above the threshold) to destination dest, starts the engine and
 * waits until the payout is held for approvals. */
static os_payout_info held_payout(os_engine *e, uint32_t dest) {
    os_payout_info big = new_payout(e, "big", dest, 40000);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    return big;
}

/* Operator i's approval (valid for `valid` log entries) added to payout id; returns how many
 * approvals the payout then holds. */
static size_t add_approval(os_engine *e, int64_t id, int i, uint64_t valid) {
    size_t held = 0, needed = 0;
    os_approval a = approve(e, id, i, valid);
    assert_int_equal(os_engine_approval_add(e, id, &a, 0, &held, &needed, NULL), OS_OK);
    return held;
}

/* Gives the worker time for several rounds, then says whether payout id still has status want. */
static void still_payout(os_engine *e, int64_t id, os_payout_status want) {
    os_payout_info p;
    usleep(400000);
    assert_int_equal(os_engine_payout_get(e, id, &p), OS_OK);
    assert_int_equal(p.status, want);
}

/* Regression (issue 14): payouts each within the quorum threshold were batched into one transaction
 * above it, which the signer refused for the missing quorum, failing all of them. The batch stays
 * within the threshold now: every payout is signed, none asks the operators, the signer refuses nothing. */
static void test_quorum_batch_stays_under_threshold(void **state) {
    (void)state;
    os_client *c = start_signer(45);
    register_operators(c, 1, 1, 30000);
    for (uint32_t i = 0; i < 3; i++) add_coin(i, 5000000, 45 + i);   /* one transaction could pay all three */
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    os_payout_info p[3];
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "small-%d", i);
        p[i] = new_payout(e, key, 230 + (uint32_t)i, 20000);
    }
    assert_int_equal(os_engine_start(e), OS_OK);
    for (int i = 0; i < 3; i++) wait_payout(e, p[i].id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 0);
    /* no transaction pays more than the threshold */
    assert_int_equal(sql_int("SELECT count(*) FROM txs t WHERE (SELECT sum(amount) FROM payouts WHERE tx_row = t.id)"
                             " > 30000"), 0);
    os_engine_close(e);
}

/* A payout above the threshold of a 2-of-3 set waits in awaiting_approval without a signing session;
 * one approval leaves it waiting (the worker does not spin: other payouts go on); the second gets it
 * signed, with both approvals in the signer's APPROVALS entry. The API's checks refuse a forged
 * approval, one for another transaction, an unregistered key, an expired one, and a payout that does
 * not wait. */
static void test_quorum_held_then_signed(void **state) {
    (void)state;
    os_engine_config cfg;
    os_client *c;
    os_engine *e = quorum_engine(46, 2, 3, 3, 60, &cfg, &c);
    os_payout_info big = held_payout(e, 240);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.payouts_awaiting_quorum, 1);
    /* a payout that does not wait for approvals has no commitment to approve */
    os_payout_info small = new_payout(e, "small", 241, 10000);
    wait_payout(e, small.id, OS_PAYOUT_SIGNED);
    os_quorum_commitment qc;
    assert_int_equal(os_engine_payout_commitment(e, small.id, &qc), OS_ERR_QUORUM_NOT_WAITING);
    assert_int_equal(os_engine_payout_commitment(e, 999999, &qc), OS_ERR_NOT_FOUND);
    assert_int_equal(os_engine_payout_commitment(e, big.id, &qc), OS_OK);
    assert_int_equal(qc.k, 2);
    assert_int_equal(qc.n, 3);
    assert_int_equal(qc.threshold, 30000);
    assert_int_equal(qc.n_held, 0);
    assert_int_equal(qc.n_outputs, 2);
    assert_true(qc.unsigned_len > 0);
    int payouts = 0;
    for (size_t i = 0; i < qc.n_outputs; i++)
        if (!qc.outputs[i].change) {
            payouts++;
            assert_int_equal(qc.outputs[i].payout_id, big.id);
            assert_int_equal(qc.outputs[i].amount, 40000);
        }
    assert_int_equal(payouts, 1);
    size_t held = 0, needed = 0;
    int added = 0;
    /* the API's checks */
    os_approval bad = approve(e, big.id, 0, 100);
    bad.sig[5] ^= 1;
    assert_int_equal(os_engine_approval_add(e, big.id, &bad, 0, &held, &needed, &added), OS_ERR_APPROVAL_MISMATCH);
    uint8_t other_digest[32];
    memset(other_digest, 0x55, 32);
    assert_int_equal(os_approval_sign(&bad, other_digest, qc.log_seq + 100, qc.signer, OPERATOR_PRIV[0]), OS_OK);
    assert_int_equal(os_engine_approval_add(e, big.id, &bad, 0, &held, &needed, &added), OS_ERR_APPROVAL_MISMATCH);
    static const uint8_t STRANGER[32] = { 0x6b, [31] = 0x09 };
    assert_int_equal(os_approval_sign(&bad, qc.tx_digest, qc.log_seq + 100, qc.signer, STRANGER), OS_OK);
    assert_int_equal(os_engine_approval_add(e, big.id, &bad, 0, &held, &needed, &added), OS_ERR_APPROVAL_OPERATOR);
    assert_int_equal(os_approval_sign(&bad, qc.tx_digest, qc.log_seq, qc.signer, OPERATOR_PRIV[1]), OS_OK);
    assert_int_equal(os_engine_approval_add(e, big.id, &bad, 0, &held, &needed, &added), OS_ERR_APPROVAL_EXPIRED);
    os_approval a0 = approve(e, big.id, 0, 100);
    assert_int_equal(os_engine_approval_add(e, small.id, &a0, 0, &held, &needed, &added), OS_ERR_QUORUM_NOT_WAITING);
    os_quorum_commitment_free(&qc);
    /* k - 1 approvals: still waiting (twice the same: stored once) */
    assert_int_equal(os_engine_approval_add(e, big.id, &a0, 0, &held, &needed, &added), OS_OK);
    assert_int_equal(added, 1);
    assert_int_equal(os_engine_approval_add(e, big.id, &a0, 0, &held, &needed, &added), OS_OK);
    assert_int_equal(added, 0);
    assert_int_equal(held, 1);
    assert_int_equal(needed, 2);
    still_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    os_payout_info other = new_payout(e, "other", 242, 10000);
    wait_payout(e, other.id, OS_PAYOUT_SIGNED);
    /* k: signed, after the operator's press */
    os_approval a2 = approve(e, big.id, 2, 100);
    assert_int_equal(os_engine_approval_add(e, big.id, &a2, 0, &held, &needed, &added), OS_OK);
    assert_int_equal(held, 2);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_APPROVALS), 1);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 0);
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.payouts_awaiting_quorum, 0);
    os_engine_close(e);
}

/* An approval whose expiry the signer's log reached while the payout waited is dropped (never sent:
 * the signer would refuse it), and the payout waits for a fresh one instead of failing. */
static void test_quorum_expired_approval_dropped(void **state) {
    (void)state;
    os_engine_config cfg;
    os_client *c;
    os_engine *e = quorum_engine(47, 2, 3, 2, 48, &cfg, &c);
    os_payout_info big = held_payout(e, 250);
    size_t held = 0, needed = 0;
    os_approval short_lived = approve(e, big.id, 0, 1);   /* valid while the log stays where it is */
    assert_int_equal(os_engine_approval_add(e, big.id, &short_lived, 0, &held, &needed, NULL), OS_OK);
    assert_int_equal(held, 1);
    os_payout_info small = new_payout(e, "small", 251, 10000);
    wait_payout(e, small.id, OS_PAYOUT_SIGNED);  /* its SIGN entry moves the log past the expiry */
    /* the worker archives the log right after it stored the signed transaction */
    for (int i = 0; i < 400 && sql_int("SELECT max(seq) FROM signer_log") < (int64_t)short_lived.expiry_seq; i++)
        usleep(25000);
    assert_int_equal(add_approval(e, big.id, 1, 100), 1);   /* the expired one does not count */
    still_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    assert_int_equal(sql_int("SELECT count(*) FROM approvals"), 1);   /* dropped by the worker */
    assert_int_equal(add_approval(e, big.id, 0, 100), 2);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 0);
    os_engine_close(e);
}

/* Hostile ledger: an approval the API never checked (written into the ledger directly) is refused by
 * the signer (approval-mismatch, logged there); the host drops it and the payout waits for a real
 * one, which gets it signed. Before, a quorum refusal failed the payouts for good. */
static void test_quorum_refused_approval_heals(void **state) {
    (void)state;
    os_engine_config cfg;
    os_client *c;
    os_engine *e = quorum_engine(48, 1, 1, 1, 50, &cfg, &c);
    os_payout_info big = held_payout(e, 260);
    os_approval forged = approve(e, big.id, 0, 100);
    forged.sig[0] ^= 1;
    char stmt[1024];
    int off = snprintf(stmt, sizeof stmt, "INSERT INTO approvals (tx_digest, operator_key, expiry_seq, sig, received_at)"
                                          " SELECT tx_digest, X'");
    for (int i = 0; i < 32; i++) off += snprintf(stmt + off, sizeof stmt - (size_t)off, "%02x", forged.operator_key[i]);
    off += snprintf(stmt + off, sizeof stmt - (size_t)off, "', %llu, X'", (unsigned long long)forged.expiry_seq);
    for (int i = 0; i < 64; i++) off += snprintf(stmt + off, sizeof stmt - (size_t)off, "%02x", forged.sig[i]);
    snprintf(stmt + off, sizeof stmt - (size_t)off, "', 0 FROM txs WHERE id = (SELECT tx_row FROM payouts WHERE id = %lld);"
             " UPDATE txs SET quorum_wait = 2 WHERE quorum_wait = 1;", (long long)big.id);
    sql(stmt);
    /* the signer refuses it (the device's log is read once the engine stopped: one client, one user) */
    for (int i = 0; i < 400 && sql_int("SELECT count(*) FROM approvals") != 0; i++) usleep(25000);
    assert_int_equal(sql_int("SELECT count(*) FROM approvals"), 0);
    still_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    assert_int_equal(sql_int("SELECT quorum_wait FROM txs"), 1);   /* held again, not failed */
    assert_int_equal(add_approval(e, big.id, 0, 100), 1);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 1);   /* refused once, never sent again */
    assert_int_equal(log_entries_of(c, OS_LOG_APPROVALS), 1);
    os_engine_close(e);
}

/* A payout whose draft is held for approvals and was never sent to the signer can be cancelled: it
 * fails, its draft is released (an approval for it is refused from then on) and its coin pays the
 * next payout. */
static void test_quorum_held_payout_cancelled(void **state) {
    (void)state;
    os_engine_config cfg;
    os_client *c;
    os_engine *e = quorum_engine(49, 1, 1, 1, 51, &cfg, &c);   /* one coin: the held draft reserves it */
    os_payout_info big = held_payout(e, 270), p;
    size_t held = 0, needed = 0;
    os_approval late = approve(e, big.id, 0, 100);
    assert_int_equal(os_engine_payout_cancel(e, big.id), OS_OK);
    assert_int_equal(os_engine_payout_get(e, big.id, &p), OS_OK);
    assert_int_equal(p.status, OS_PAYOUT_FAILED);
    assert_non_null(strstr(p.error, "cancelled"));
    assert_int_equal(os_engine_approval_add(e, big.id, &late, 0, &held, &needed, NULL), OS_ERR_QUORUM_NOT_WAITING);
    os_payout_info small = new_payout(e, "small", 271, 10000);
    wait_payout(e, small.id, OS_PAYOUT_SIGNED);
    assert_int_equal(sql_int("SELECT count(*) FROM txs WHERE state = 5"), 1);   /* the released draft */
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 0);
    os_engine_close(e);
}

/* The operator set changed while a payout was held for approvals (registered again, with the daemon
 * stopped as docs/OPERATING.md says, with a threshold above it): at the next start the archived
 * OPERATORS entry wakes the held draft and it is signed without approvals, not held for ever. */
static void test_quorum_set_change_releases_hold(void **state) {
    (void)state;
    os_engine_config cfg;
    os_client *c;
    os_engine *e = quorum_engine(50, 1, 1, 1, 52, &cfg, &c);
    os_payout_info big = held_payout(e, 280);
    os_engine_stop(e);
    os_engine_close(e);
    register_operators(c, 1, 1, 50000);
    e = open_engine(&cfg, c);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 0);
    assert_int_equal(log_entries_of(c, OS_LOG_APPROVALS), 0);
    os_engine_close(e);
}

/* A committed draft above the threshold whose signatures were lost is signed again as the identical
 * transaction: the same digest, so the approvals stored for it serve again (the signer wants the quorum
 * for the replacement too), and no operator is asked twice. */
static void test_quorum_resign_uses_stored_approvals(void **state) {
    (void)state;
    os_engine_config cfg;
    os_client *c;
    os_engine *e = quorum_engine(51, 1, 1, 1, 53, &cfg, &c);
    os_payout_info big = held_payout(e, 290);
    assert_int_equal(add_approval(e, big.id, 0, 100), 1);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    os_engine_close(e);
    uint8_t txid[32], txid2[32];
    sql_blob("SELECT txid FROM txs", txid, 32);
    int64_t sign_seq = sql_int("SELECT log_seq FROM txs");
    /* the host lost what it stored after the signer's commit (as test_crash_after_sign_commit_settles) */
    char q[512];
    sql("UPDATE txs SET state = 1, raw = NULL, txid = NULL, root_after = NULL, log_seq = NULL");
    sql("DELETE FROM tree_leaves");
    sql("UPDATE payouts SET status = 3, anchor_txid = NULL, anchor_vout = NULL");
    snprintf(q, sizeof q, "DELETE FROM signer_log WHERE seq >= %lld", (long long)sign_seq);
    sql(q);
    sql("DELETE FROM meta WHERE k = 'tree_seq'");
    e = open_engine(&cfg, c);
    assert_int_equal(os_engine_start(e), OS_OK);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    sql_blob("SELECT txid FROM txs", txid2, 32);
    assert_memory_equal(txid, txid2, 32);
    assert_int_equal(log_entries_of(c, OS_LOG_APPROVALS), 2);   /* both signatures under the one approval */
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 0);
    os_engine_close(e);
}

/* A ledger that first met the signer after its OPERATORS entry was acknowledged does not know the set:
 * it drafts as without a quorum, the signer refuses (quorum-missing), and the draft is held, not sent
 * again (one refusal on the signer, not one per pass) and not failed. Registered again, the set is in
 * the archive: the held payout waits for approvals and one gets it signed. */
static void test_quorum_unknown_set_holds_once(void **state) {
    (void)state;
    os_client *c = start_signer(52);
    register_operators(c, 1, 1, 30000);
    os_msg_info info;
    assert_int_equal(harness_info(c, &info), OS_OK);
    assert_int_equal(harness_log_ack(c, info.log_seq), OS_OK);   /* a former host archived it */
    add_coin(0, 5000000, 54);
    os_engine_config cfg = config();
    cfg.on_operator_wait = press_button;
    os_engine *e = open_engine(&cfg, c);
    os_payout_info big = new_payout(e, "big", 300, 40000);
    assert_int_equal(os_engine_start(e), OS_OK);
    for (int i = 0; i < 400 && sql_int("SELECT quorum_wait FROM txs") != 1; i++) usleep(25000);
    still_payout(e, big.id, OS_PAYOUT_AWAITING_APPROVAL);
    assert_int_equal(sql_int("SELECT quorum_wait FROM txs"), 1);
    os_engine_stop(e);
    os_engine_close(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 1);
    register_operators(c, 1, 1, 30000);   /* the same set, registered again: now in the archive */
    e = open_engine(&cfg, c);
    assert_int_equal(os_engine_start(e), OS_OK);
    os_quorum_commitment qc;
    int rc = OS_ERR_QUORUM_NOT_WAITING;
    for (int i = 0; i < 400 && (rc = os_engine_payout_commitment(e, big.id, &qc)) != OS_OK; i++) usleep(25000);
    assert_int_equal(rc, OS_OK);
    assert_int_equal(qc.k, 1);
    os_quorum_commitment_free(&qc);
    assert_int_equal(add_approval(e, big.id, 0, 100), 1);
    wait_payout(e, big.id, OS_PAYOUT_SIGNED);
    os_engine_stop(e);
    assert_int_equal(log_entries_of(c, OS_LOG_REFUSE_APPROVAL), 1);
    os_engine_close(e);
}

/* Regression: health read the quorum wait, then overwrote ledger_ok with the next count's success, so a
 * ledger that could not say how many payouts wait for approvals still reported ledger: true. */
static void test_health_ledger_false_when_a_count_fails(void **state) {
    (void)state;
    os_client *c = start_signer(61);
    os_engine_config cfg = config();
    os_engine *e = open_engine(&cfg, c);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.ledger_ok, 1);
    sql("ALTER TABLE txs DROP COLUMN quorum_wait");   /* only the quorum count reads it */
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.ledger_ok, 0);
    os_engine_close(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_signed_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_after_sign_commit_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_rebuild_persists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_wait_ignores_wall_clock_jumps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rolled_back_ledger_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_approves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversized_payout_steps_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_while_operator_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_wait_steps_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_absent_signer_waited_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_request_takes_turns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restored_backup_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_code_not_redeemed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vouchers_pay_through_the_engine, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compromised_bridge_invented_payout_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_voucher_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_batch_stays_under_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_held_then_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_expired_approval_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_refused_approval_heals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_held_payout_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_set_change_releases_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_resign_uses_stored_approvals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quorum_unknown_set_holds_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_ledger_false_when_a_count_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
