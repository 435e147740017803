/* The ledger and the engine's service calls without a signer: migrations, the compare-and-set
 * redeem under 64 threads, idempotent payouts, refused input changing nothing; the transaction state
 * machine's table, event by event and state by state; and no SQL in the host outside the ledger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <pthread.h>

#include "address.h"
#include "engine.h"
#include "ledger.h"
#include "oncesign/status.h"

static char dir_path[256];
static char db_path[300];

/* Addresses made with address_from_script: two regtest P2PKH, one regtest P2WPKH, the first one's
 * hash on mainnet (wrong network), and the first one with its last character changed (checksum). */
static char REGTEST_ADDR[OS_MAX_ADDRESS + 1], OTHER_ADDR[OS_MAX_ADDRESS + 1], SEGWIT_ADDR[OS_MAX_ADDRESS + 1];
static char MAINNET_ADDR[OS_MAX_ADDRESS + 1], BAD_CHECKSUM[OS_MAX_ADDRESS + 1];

static void make_addresses(void) {
    uint8_t p2pkh[25] = {0x76, 0xa9, 0x14}, p2wpkh[22] = {0x00, 0x14};
    memset(p2pkh + 3, 0x11, 20);
    p2pkh[23] = 0x88;
    p2pkh[24] = 0xac;
    memset(p2wpkh + 2, 0x33, 20);
    assert_int_equal(address_from_script(OS_NET_REGTEST, p2pkh, 25, REGTEST_ADDR, sizeof REGTEST_ADDR), OS_OK);
    assert_int_equal(address_from_script(OS_NET_MAIN, p2pkh, 25, MAINNET_ADDR, sizeof MAINNET_ADDR), OS_OK);
    assert_int_equal(address_from_script(OS_NET_REGTEST, p2wpkh, 22, SEGWIT_ADDR, sizeof SEGWIT_ADDR), OS_OK);
    memset(p2pkh + 3, 0x22, 20);
    assert_int_equal(address_from_script(OS_NET_REGTEST, p2pkh, 25, OTHER_ADDR, sizeof OTHER_ADDR), OS_OK);
    strcpy(BAD_CHECKSUM, REGTEST_ADDR);
    size_t n = strlen(BAD_CHECKSUM);
    BAD_CHECKSUM[n - 1] = BAD_CHECKSUM[n - 1] == 'a' ? 'b' : 'a';
}

static int setup(void **state) {
    (void)state;
    make_addresses();
    snprintf(dir_path, sizeof dir_path, "/tmp/oncesign-test-ledger-XXXXXX");
    assert_non_null(mkdtemp(dir_path));
    snprintf(db_path, sizeof db_path, "%s/l.db", dir_path);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_path);
    return system(cmd) == 0 ? 0 : -1;
}

static os_engine *open_engine(uint64_t max_payout) {
    os_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.db_path = db_path;
    cfg.network = OS_NET_REGTEST;
    cfg.max_payout = max_payout;
    os_engine *e = NULL;
    char err[256];
    assert_int_equal(os_engine_open(&cfg, &e, err, sizeof err), OS_OK);
    return e;
}

static int64_t count_rows(const char *table) {
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    os_ledger_close(l);
    return n;
}

static void test_migrate_from_empty(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    int v = 0;
    assert_int_equal(os_ledger_schema_version(l, &v), OS_OK);
    assert_int_equal(v, OS_LEDGER_SCHEMA_VERSION);
    /* pragmas the durability argument rests on */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), "PRAGMA synchronous", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2); /* FULL */
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), "PRAGMA foreign_keys", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    /* v2's meta table works */
    os_ledger_lock(l);
    assert_int_equal(os_ledger_meta_put(l, "k", (const uint8_t *)"abc", 3), OS_OK);
    os_ledger_unlock(l);
    uint8_t buf[8];
    size_t n = 0;
    assert_int_equal(os_ledger_meta_get(l, "k", buf, sizeof buf, &n), OS_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(os_ledger_meta_get(l, "missing", buf, sizeof buf, &n), OS_ERR_NOT_FOUND);
    os_ledger_close(l);
    /* reopening is a no-op */
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_schema_version(l, &v), OS_OK);
    assert_int_equal(v, OS_LEDGER_SCHEMA_VERSION);
    os_ledger_close(l);
}

static void test_migrate_from_v1_keeps_data(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open_version(db_path, 1, &l, err, sizeof err), OS_OK);
    int v = 0;
    assert_int_equal(os_ledger_schema_version(l, &v), OS_OK);
    assert_int_equal(v, 1);
    /* v1 has no meta table */
    assert_int_equal(os_ledger_exec(l, "SELECT * FROM meta"), OS_ERR_DB);
    assert_int_equal(os_ledger_exec(l, "INSERT INTO codes (code_hash, nonce, amount, created_at) VALUES"
                                       " (zeroblob(32), zeroblob(32), 1000, 1)"),
                     OS_OK);
    os_ledger_close(l);
    /* the engine opens a v1 file and migrates it; the v1 row survives and is usable */
    os_engine *e = open_engine(0);
    os_engine_close(e);
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_schema_version(l, &v), OS_OK);
    assert_int_equal(v, OS_LEDGER_SCHEMA_VERSION);
    assert_int_equal(os_ledger_exec(l, "SELECT * FROM meta"), OS_OK);
    os_ledger_close(l);
    assert_int_equal(count_rows("codes"), 1);
    assert_int_equal(count_rows("schema_version"), OS_LEDGER_SCHEMA_VERSION);
}

static void test_refuses_newer_schema(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_exec(l, "INSERT INTO schema_version VALUES (99, 0)"), OS_OK);
    os_ledger_close(l);
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_ERR_DB);
    assert_non_null(strstr(err, "newer"));
}

typedef struct {
    os_engine *e;
    const char *code;
    pthread_barrier_t *barrier;
    os_payout_info info;
    int rc, created;
} redeem_job;

static void *redeem_thread(void *arg) {
    redeem_job *j = arg;
    pthread_barrier_wait(j->barrier);
    j->rc = os_engine_redeem(j->e, j->code, REGTEST_ADDR, &j->info, &j->created);
    return NULL;
}

static void test_redeem_cas_64_threads(void **state) {
    (void)state;
    os_engine *e = open_engine(0);
    enum { CODES = 4, THREADS = 64 };
    char codes[CODES][65];
    for (int i = 0; i < CODES; i++) {
        os_code_info ci;
        assert_int_equal(os_engine_issue_code(e, 10000 + (uint64_t)i, 0, codes[i], &ci), OS_OK);
        assert_int_equal(strlen(codes[i]), 32);
        assert_int_equal(ci.redeemed, 0);
    }
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    static redeem_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (redeem_job){.e = e, .code = codes[i % CODES], .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, redeem_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    int created[CODES] = {0};
    int64_t id[CODES] = {0};
    for (int i = 0; i < THREADS; i++) {
        int c = i % CODES;
        assert_int_equal(jobs[i].rc, OS_OK);
        created[c] += jobs[i].created;
        if (!id[c]) id[c] = jobs[i].info.id;
        assert_int_equal(jobs[i].info.id, id[c]); /* every caller sees the same payout */
        assert_int_equal(jobs[i].info.amount, 10000 + (uint64_t)c);
        assert_int_equal(jobs[i].info.status, OS_PAYOUT_REQUESTED);
        assert_int_equal(strlen(jobs[i].info.code_id), 32);
    }
    for (int c = 0; c < CODES; c++) {
        assert_int_equal(created[c], 1);
        for (int d = c + 1; d < CODES; d++) assert_true(id[c] != id[d]);
        os_code_info ci;
        assert_int_equal(os_engine_code_lookup(e, codes[c], &ci), OS_OK);
        assert_int_equal(ci.redeemed, 1);
        assert_int_equal(ci.payout_id, id[c]);
    }
    /* a later redeem, even to another address, answers the same payout */
    os_payout_info again;
    int made = 7;
    assert_int_equal(os_engine_redeem(e, codes[0], OTHER_ADDR, &again, &made), OS_OK);
    assert_int_equal(made, 0);
    assert_int_equal(again.id, id[0]);
    assert_string_equal(again.address, REGTEST_ADDR);
    assert_string_equal(jobs[0].info.address, REGTEST_ADDR);
    os_engine_close(e);
    assert_int_equal(count_rows("payouts"), CODES);
    /* the secret is nowhere in the file: only its hash */
    FILE *f = fopen(db_path, "rb");
    assert_non_null(f);
    static char blob[1 << 20];
    size_t n = fread(blob, 1, sizeof blob, f);
    fclose(f);
    for (size_t i = 0; i + 32 <= n; i++) assert_true(memcmp(blob + i, codes[0], 32) != 0);
}

static void test_redeem_refusals_change_nothing(void **state) {
    (void)state;
    os_engine *e = open_engine(0);
    char code[65], expired[65];
    os_code_info ci;
    assert_int_equal(os_engine_issue_code(e, 5000, 0, code, &ci), OS_OK);
    assert_int_equal(os_engine_issue_code(e, 5000, 1, expired, &ci), OS_OK); /* expired in 1970 */
    os_payout_info p;
    int created = 0;
    assert_int_equal(os_engine_redeem(e, code, MAINNET_ADDR, &p, &created), OS_ERR_ADDRESS);
    assert_int_equal(os_engine_redeem(e, code, BAD_CHECKSUM, &p, &created), OS_ERR_ADDRESS);
    assert_int_equal(os_engine_redeem(e, code, "", &p, &created), OS_ERR_ADDRESS);
    assert_int_equal(os_engine_redeem(e, "no-such-code", REGTEST_ADDR, &p, &created), OS_ERR_NOT_FOUND);
    assert_int_equal(os_engine_redeem(e, "", REGTEST_ADDR, &p, &created), OS_ERR_NOT_FOUND);
    assert_int_equal(os_engine_redeem(e, expired, REGTEST_ADDR, &p, &created), OS_ERR_CODE_EXPIRED);
    /* issue refusals */
    assert_int_equal(os_engine_issue_code(e, 0, 0, code, &ci), OS_ERR_AMOUNT);
    assert_int_equal(os_engine_issue_code(e, 545, 0, code, &ci), OS_ERR_AMOUNT);
    assert_int_equal(os_engine_code_lookup(e, code, &ci), OS_OK);
    assert_int_equal(ci.redeemed, 0);
    size_t n = 9;
    assert_int_equal(os_engine_payout_list(e, 0, 0, 0, NULL, &n), OS_OK);
    assert_int_equal(n, 0);
    os_engine_close(e);
    assert_int_equal(count_rows("payouts"), 0);
    assert_int_equal(count_rows("codes"), 2);
}

static void test_payout_idempotency(void **state) {
    (void)state;
    os_engine *e = open_engine(1000000);
    os_payout_info a, b;
    int created = 0;
    assert_int_equal(os_engine_payout_create(e, "key-1", REGTEST_ADDR, 20000, &a, &created), OS_OK);
    assert_int_equal(created, 1);
    assert_string_equal(a.idempotency_key, "key-1");
    assert_string_equal(a.code_id, "");
    assert_int_equal(a.status, OS_PAYOUT_REQUESTED);
    assert_int_equal(os_engine_payout_create(e, "key-1", REGTEST_ADDR, 20000, &b, &created), OS_OK);
    assert_int_equal(created, 0);
    assert_int_equal(b.id, a.id);
    assert_int_equal(os_engine_payout_create(e, "key-1", REGTEST_ADDR, 20001, &b, &created), OS_ERR_IDEMPOTENCY);
    assert_int_equal(os_engine_payout_create(e, "key-1", OTHER_ADDR, 20000, &b, &created),
                     OS_ERR_IDEMPOTENCY);
    /* refused amounts and addresses */
    assert_int_equal(os_engine_payout_create(e, "key-2", REGTEST_ADDR, 0, &b, &created), OS_ERR_AMOUNT);
    assert_int_equal(os_engine_payout_create(e, "key-2", REGTEST_ADDR, 545, &b, &created), OS_ERR_AMOUNT);
    assert_int_equal(os_engine_payout_create(e, "key-2", REGTEST_ADDR, 1000001, &b, &created), OS_ERR_AMOUNT);
    assert_int_equal(os_engine_payout_create(e, "key-2", MAINNET_ADDR, 20000, &b, &created), OS_ERR_ADDRESS);
    assert_int_equal(os_engine_payout_create(e, "key-2", BAD_CHECKSUM, 20000, &b, &created), OS_ERR_ADDRESS);
    assert_int_equal(os_engine_payout_create(e, "", REGTEST_ADDR, 20000, &b, &created), OS_ERR_ARG);
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(os_engine_payout_create(e, longkey, REGTEST_ADDR, 20000, &b, &created), OS_ERR_ARG);
    /* get / list */
    assert_int_equal(os_engine_payout_get(e, a.id, &b), OS_OK);
    assert_int_equal(b.amount, 20000);
    assert_int_equal(os_engine_payout_get(e, a.id + 100, &b), OS_ERR_NOT_FOUND);
    assert_int_equal(os_engine_payout_create(e, "key-3", SEGWIT_ADDR, 30000, &b,
                                             &created),
                     OS_OK);
    os_payout_info list[4];
    size_t n = 0;
    assert_int_equal(os_engine_payout_list(e, OS_PAYOUT_REQUESTED, 0, 4, list, &n), OS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(os_engine_payout_list(e, OS_PAYOUT_REQUESTED, a.id, 4, list, &n), OS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(list[0].id, b.id);
    assert_int_equal(os_engine_payout_list(e, OS_PAYOUT_CONFIRMED, 0, 4, list, &n), OS_OK);
    assert_int_equal(n, 0);
    os_engine_health h;
    assert_int_equal(os_engine_health_get(e, &h), OS_OK);
    assert_int_equal(h.ledger_ok, 1);
    assert_int_equal(h.payouts_pending, 2);
    assert_int_equal(h.signer_ok, 0);
    char metrics[4096];
    size_t len = 0;
    assert_int_equal(os_engine_metrics(e, metrics, sizeof metrics, &len), OS_OK);
    assert_non_null(strstr(metrics, "oncesign_payouts{status=\"requested\"} 2\n"));
    assert_int_equal(os_engine_metrics(e, metrics, 16, &len), OS_ERR_BUFFER);
    os_engine_close(e);
    assert_int_equal(count_rows("payouts"), 2);
}

typedef struct {
    os_engine *e;
    pthread_barrier_t *barrier;
    uint64_t amount;
    os_payout_info info;
    int rc, created;
} create_job;

static void *create_thread(void *arg) {
    create_job *j = arg;
    pthread_barrier_wait(j->barrier);
    j->rc = os_engine_payout_create(j->e, "same-key", REGTEST_ADDR, j->amount, &j->info, &j->created);
    return NULL;
}

/* 32 concurrent requests with one idempotency key: one payout; the same parameters get it, other
 * parameters get OS_ERR_IDEMPOTENCY, whoever came first. */
static void test_payout_idempotency_concurrent(void **state) {
    (void)state;
    os_engine *e = open_engine(0);
    enum { THREADS = 32 };
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    static create_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (create_job){.e = e, .barrier = &barrier, .amount = i % 8 == 7 ? 9999 : 20000};
        assert_int_equal(pthread_create(&th[i], NULL, create_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    int created = 0, ok = 0, refused = 0;
    int64_t id = 0;
    uint64_t winner = 0;
    for (int i = 0; i < THREADS; i++) {
        if (jobs[i].rc == OS_OK) {
            ok++;
            created += jobs[i].created;
            if (!id) id = jobs[i].info.id, winner = jobs[i].info.amount;
            assert_int_equal(jobs[i].info.id, id);
            assert_int_equal(jobs[i].amount, winner);
        } else {
            assert_int_equal(jobs[i].rc, OS_ERR_IDEMPOTENCY);
            assert_true(jobs[i].amount != winner);
            refused++;
        }
    }
    assert_int_equal(created, 1);
    assert_int_equal(ok + refused, THREADS);
    os_engine_close(e);
    assert_int_equal(count_rows("payouts"), 1);
}

static void test_status_names(void **state) {
    (void)state;
    os_payout_status s;
    for (int i = OS_PAYOUT_REQUESTED; i <= OS_PAYOUT_STATUS_LAST; i++) {
        assert_int_equal(os_payout_status_parse(os_payout_status_name((os_payout_status)i), &s), OS_OK);
        assert_int_equal(s, i);
    }
    assert_int_equal(os_payout_status_parse("paid", &s), OS_ERR_ARG);
    assert_string_equal(os_payout_status_name(OS_PAYOUT_AWAITING_APPROVAL), "awaiting_approval");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Figures for the report: commits per second with synchronous=FULL and redeems per second. */
static void test_measure(void **state) {
    (void)state;
    os_engine *e = open_engine(0);
    enum { N = 200 };
    static char codes[N][65];
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        os_code_info ci;
        assert_int_equal(os_engine_issue_code(e, 10000, 0, codes[i], &ci), OS_OK);
    }
    double t1 = now_s();
    for (int i = 0; i < N; i++) {
        os_payout_info p;
        int created = 0;
        assert_int_equal(os_engine_redeem(e, codes[i], REGTEST_ADDR, &p, &created), OS_OK);
        assert_int_equal(created, 1);
    }
    double t2 = now_s();
    for (int i = 0; i < N; i++) {
        os_payout_info p;
        int created = 0;
        assert_int_equal(os_engine_redeem(e, codes[i], REGTEST_ADDR, &p, &created), OS_OK);
        assert_int_equal(created, 0);
    }
    double t3 = now_s();
    printf("measure: issue (1 commit each) %.0f/s, first redeem (1 commit each) %.0f/s, repeated redeem %.0f/s"
           " (synchronous=FULL, ASan build)\n",
           N / (t1 - t0), N / (t2 - t1), N / (t3 - t2));
    os_engine_close(e);
}

/* Copies the file named prefix+from_suffix to prefix+to_suffix. */
static void copy_file(const char *prefix, const char *from_suffix, const char *to_suffix) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s%s' '%s%s'", prefix, from_suffix, prefix, to_suffix);
    assert_int_equal(system(cmd), 0);
}

/* Issue 9 (6): an older ledger.db beside a newer -wal (a restore that forgot the -wal, a copy taken
 * while the daemon ran) reads as "malformed" here and there. Opening it must fail with the reason,
 * not go on until a statement trips over a damaged page. */
static void test_corrupt_ledger_refused(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[512] = "";
    const char *fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)"
                       " INSERT INTO scratch (k, v) SELECT randomblob(32), hex(randomblob(40)) FROM n";
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_exec(l, "CREATE TABLE scratch (id INTEGER PRIMARY KEY, k BLOB UNIQUE, v TEXT)"), OS_OK);
    assert_int_equal(os_ledger_exec(l, fill), OS_OK);
    assert_int_equal(os_ledger_exec(l, "PRAGMA wal_checkpoint(TRUNCATE)"), OS_OK);
    copy_file(db_path, "", ".old");
    assert_int_equal(os_ledger_exec(l, fill), OS_OK);
    assert_int_equal(os_ledger_exec(l, "PRAGMA wal_checkpoint(TRUNCATE)"), OS_OK);
    assert_int_equal(os_ledger_exec(l, "UPDATE scratch SET v = hex(randomblob(50)) WHERE id % 7 = 0"), OS_OK);
    copy_file(db_path, "-wal", ".wal");   /* the WAL as a crash would leave it */
    os_ledger_close(l);
    copy_file(db_path, ".old", "");
    copy_file(db_path, ".wal", "-wal");
    l = NULL;
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_ERR_DB);
    assert_null(l);
    assert_non_null(strstr(err, "corrupt"));
}

/* A ledger whose schema page is damaged fails already at the connection's pragmas (journal_mode reads
 * the schema), before quick_check: found by tests/e2e/test_backup.sh once the schema grew past page 1
 * (ledger v8). The daemon must still say the file is corrupt and to restore it from a backup, as it
 * does when quick_check finds the damage. */
static void test_corrupt_schema_refused_with_the_restore_advice(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[512] = "";
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_exec(l, "PRAGMA wal_checkpoint(TRUNCATE)"), OS_OK);
    os_ledger_close(l);
    FILE *f = fopen(db_path, "r+b");
    assert_non_null(f);
    /* page 1's b-tree header (after the 100-byte file header): an invalid page type */
    assert_int_equal(fseek(f, 100, SEEK_SET), 0);
    static const uint8_t junk[8] = { 0x07, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    l = NULL;
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_ERR_DB);
    assert_null(l);
    if (strstr(err, "corrupt") == NULL || strstr(err, "restore it from a backup") == NULL)
        fail_msg("the error does not say corrupt / restore: %s", err);
}

/* A transaction row in a given state, carrying one payout in a given status (both inserted raw, as a
 * ledger of any history could hold them). Returns the transaction's row. */
static int64_t tx_in_state(os_ledger *l, int state, int payout_status, int64_t *payout) {
    static int salt = 0;
    char q[768];
    salt++;
    snprintf(q, sizeof q,
             "INSERT INTO txs (state, draft, anchor_txid, anchor_vout, fee, n_payouts, created_at, updated_at, txid, raw)"
             " VALUES (%d, x'00', randomblob(32), %d, 500, 1, 1, 1, randomblob(32), x'01');"
             "INSERT INTO payouts (params_hash, nonce, amount, script, address, status, tx_row, created_at, updated_at)"
             " VALUES (zeroblob(32), randomblob(32), 10000, x'00', 'a', %d, last_insert_rowid(), 1, 1);"
             "INSERT INTO tx_payouts (tx_row, payout_id) SELECT tx_row, id FROM payouts WHERE id = last_insert_rowid();",
             state, salt, payout_status);
    assert_int_equal(os_ledger_exec(l, q), OS_OK);
    *payout = sqlite3_last_insert_rowid(os_ledger_db(l));
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), "SELECT tx_row FROM payouts WHERE id = ?", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, *payout);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t row = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return row;
}

static int64_t value_of(os_ledger *l, const char *q, int64_t id) {
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), q, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, id);
    int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return v;
}

/* Every event against every transaction state: it applies exactly where the table says, leads where
 * it says, and changes nothing anywhere else. */
static void test_transition_table(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    static const struct {
        os_tx_event ev;
        uint32_t from;
        os_tx_state to;
    } table[] = {
        {OS_TXEV_OPERATOR_WAIT, 1u << OS_TX_SIGNING, OS_TX_AWAITING},
        {OS_TXEV_SIGNED, 1u << OS_TX_SIGNING | 1u << OS_TX_AWAITING, OS_TX_SIGNED},
        {OS_TXEV_REFUSED, 1u << OS_TX_SIGNING | 1u << OS_TX_AWAITING, OS_TX_RELEASED},
        {OS_TXEV_BUMP_REFUSED, 1u << OS_TX_SIGNING | 1u << OS_TX_AWAITING, OS_TX_RELEASED},
        {OS_TXEV_SENT, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_BROADCAST},
        {OS_TXEV_SEEN, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_BROADCAST},
        {OS_TXEV_NOT_SENT, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_SIGNED},
        {OS_TXEV_FEE_TOO_LOW, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_SIGNED},
        {OS_TXEV_UNKNOWN, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_SIGNED},
        {OS_TXEV_CONFIRMED, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST | 1u << OS_TX_CONFIRMED, OS_TX_CONFIRMED},
        {OS_TXEV_INPUT_LOST, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_SIGNED},
        {OS_TXEV_REPLACED_BY_OURS, 1u << OS_TX_SIGNED | 1u << OS_TX_BROADCAST, OS_TX_REPLACED},
    };
    /* the payout status a transaction state goes with */
    static const int payout_of[] = {0, OS_PAYOUT_SIGNING, OS_PAYOUT_SIGNED, OS_PAYOUT_BROADCAST, OS_PAYOUT_CONFIRMED,
                                    OS_PAYOUT_REQUESTED, OS_PAYOUT_FAILED, OS_PAYOUT_AWAITING_APPROVAL};
    uint8_t raw[4] = {1, 2, 3, 4}, txid[32] = {7}, root[32] = {9};
    os_outpoint lost = {.txid = {5}, .vout = 1};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        uint32_t from = 0;
        os_tx_state to = 0;
        assert_int_equal(os_ledger_tx_event_rule(table[i].ev, &from, &to), OS_OK);
        assert_int_equal(from, table[i].from);
        assert_int_equal(to, table[i].to);
        for (int s = OS_TX_SIGNING; s <= OS_TX_AWAITING; s++) {
            int64_t payout = 0, row = tx_in_state(l, s, payout_of[s], &payout);
            os_tx_event_data d = {.now = 42, .note = "n", .raw = raw, .raw_len = 4, .txid = txid, .root_after = root,
                                  .confirmations = 2, .block_height = 10, .lost = &lost, .n_lost = 1};
            int rc = os_ledger_tx_transition(l, row, table[i].ev, &d);
            int64_t now_state = value_of(l, "SELECT state FROM txs WHERE id = ?", row);
            if (table[i].from & (1u << s)) {
                if (rc != OS_OK || now_state != table[i].to)
                    fail_msg("event %d from state %d: rc %d state %lld", table[i].ev, s, rc, (long long)now_state);
                assert_int_equal(value_of(l, "SELECT needs_bump FROM txs WHERE id = ?", row),
                                 table[i].ev == OS_TXEV_FEE_TOO_LOW);
            } else {
                if (rc != OS_ERR_NOT_FOUND || now_state != s)
                    fail_msg("event %d from state %d applied: rc %d state %lld", table[i].ev, s, rc, (long long)now_state);
                assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), payout_of[s]);
                assert_int_equal(value_of(l, "SELECT updated_at FROM txs WHERE id = ?", row), 1);
            }
        }
    }
    /* the payouts follow: a confirmation reaches every payout the transaction carries */
    int64_t payout = 0, row = tx_in_state(l, OS_TX_BROADCAST, OS_PAYOUT_BROADCAST, &payout);
    os_tx_event_data d = {.now = 50, .note = "", .confirmations = 3, .block_height = 11};
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_CONFIRMED, &d), OS_OK);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_CONFIRMED);
    assert_int_equal(value_of(l, "SELECT confirmations FROM payouts WHERE id = ?", payout), 3);
    /* a refusal of a draft puts its payout back in the queue */
    row = tx_in_state(l, OS_TX_SIGNING, OS_PAYOUT_SIGNING, &payout);
    os_tx_event_data r = {.now = 51, .note = "refused"};
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_REFUSED, &r), OS_OK);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_REQUESTED);
    assert_int_equal(value_of(l, "SELECT tx_row IS NULL FROM payouts WHERE id = ?", payout), 1);
    /* the signed event refuses to run without what it stores */
    row = tx_in_state(l, OS_TX_SIGNING, OS_PAYOUT_SIGNING, &payout);
    os_tx_event_data none = {.now = 52};
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_SIGNED, &none), OS_ERR_ARG);
    assert_int_equal(os_ledger_tx_transition(l, row, (os_tx_event)99, &none), OS_ERR_ARG);
    os_ledger_close(l);
}

static int64_t add_coin(os_ledger *l, uint8_t tag, uint64_t amount) {
    static const uint8_t script[25] = {0x76, 0xa9, 0x14}, prev[] = {0x01};
    os_ledger_new_coin c = {.amount = amount, .script = script, .script_len = sizeof script,
                            .script_type = OS_SCRIPT_P2PKH, .prev = prev, .prev_len = sizeof prev, .height = 5};
    memset(c.op.txid, tag, 32);
    assert_int_equal(os_ledger_coin_add(l, &c), OS_OK);
    return value_of(l, "SELECT max(id) FROM coins WHERE 1 = ?", 1);
}

/* A foreign spend of a transaction's input other than the anchor (INPUT_LOST): the lost coin leaves
 * the spendable set (spent, still marked as this transaction's), the other inputs are released, the
 * anchor stays with the payouts; the payouts keep their status (never failed); the worker's queue
 * offers the transaction for a replacement on the anchor, which takes the payouts and coins; a refused
 * replacement gives them back and the queue offers it again; the replacement's confirmation settles
 * the original. */
static void test_input_lost_respend(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    int64_t anchor = add_coin(l, 0xA1, 200000), other = add_coin(l, 0xB2, 150000), third = add_coin(l, 0xC3, 90000),
            spare = add_coin(l, 0xD4, 300000);
    static const uint8_t prev[] = {0x01};
    os_sign_input in[3];
    os_sign_output out;
    memset(in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    for (int k = 0; k < 3; k++) {
        memset(in[k].prevout.txid, k == 0 ? 0xA1 : k == 1 ? 0xB2 : 0xC3, 32);
        in[k].script_type = OS_SCRIPT_P2PKH;
        in[k].prev_tx = prev;
        in[k].prev_tx_len = sizeof prev;
    }
    out.kind = OS_OUTPUT_PAYOUT;
    out.amount = 300000;
    out.script_len = 3;
    os_ledger_new_payout np = {.amount = 300000, .script = out.script, .script_len = 3, .address = REGTEST_ADDR, .now = 1};
    memset(np.nonce, 0x33, 32);
    int64_t payout = 0, row = 0, coins[3] = {anchor, other, third};
    assert_int_equal(os_ledger_payout_insert(l, &np, &payout), OS_OK);
    os_sign_tx tx = {.version = 2, .inputs = in, .n_inputs = 3, .outputs = &out, .n_outputs = 1};
    assert_int_equal(os_ledger_tx_draft_create(l, &tx, 500, OS_PAYOUT_REQUESTED, &payout, 1, coins, 3, 1, &row), OS_OK);
    uint8_t txid[32] = {0x77}, root[32] = {0x99};
    os_tx_event_data d = {.now = 2, .note = "", .raw = prev, .raw_len = 1, .txid = txid, .root_after = root};
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_SIGNED, &d), OS_OK);
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_SENT, &d), OS_OK);
    int64_t next = -1;
    int yes = 1;
    uint64_t waiting = 9;
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_RESPEND, &next), OS_OK);
    assert_int_equal(next, 0);
    assert_int_equal(os_ledger_tx_input_lost(l, row, &yes), OS_OK);
    assert_false(yes);

    /* no data: refused; the anchor named as lost is not taken (a lost anchor is ANCHOR_LOST) */
    os_tx_event_data lost = {.now = 3, .note = "lost"};
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_INPUT_LOST, &lost), OS_ERR_ARG);
    os_outpoint ops[2] = {in[1].prevout, in[0].prevout};
    lost.lost = ops;
    lost.n_lost = 2;
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_INPUT_LOST, &lost), OS_OK);
    assert_int_equal(value_of(l, "SELECT state FROM txs WHERE id = ?", row), OS_TX_SIGNED);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_BROADCAST);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", other), OS_COIN_SPENT);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", other), row);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", anchor), OS_COIN_RESERVED);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", anchor), row);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", third), OS_COIN_AVAILABLE);
    assert_int_equal(value_of(l, "SELECT reserved_by IS NULL FROM coins WHERE id = ?", third), 1);
    assert_int_equal(os_ledger_tx_input_lost(l, row, &yes), OS_OK);
    assert_true(yes);
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_RESPEND, &next), OS_OK);
    assert_int_equal(next, row);
    assert_int_equal(os_ledger_payouts_awaiting_respend(l, &waiting), OS_OK);
    assert_int_equal(waiting, 1);

    /* the replacement: the anchor and other coins; the payout moves to it, the queue empties */
    os_sign_input rin[2] = {in[0], in[2]};
    memset(rin[1].prevout.txid, 0xD4, 32);
    os_sign_output rout = out;
    rout.replace = 1;
    rout.anchor = in[0].prevout;
    os_sign_tx rtx = {.version = 2, .inputs = rin, .n_inputs = 2, .outputs = &rout, .n_outputs = 1};
    int64_t rcoins[2] = {anchor, spare}, taken[2] = {anchor, other}, rep = 0;
    /* a coin that is not available (the lost one) is refused, all or nothing */
    assert_int_equal(os_ledger_tx_replacement_create(l, row, &rtx, 700, taken, 2, 4, &rep), OS_ERR_NOT_FOUND);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", anchor), row);
    assert_int_equal(os_ledger_tx_replacement_create(l, row, &rtx, 700, rcoins, 2, 4, &rep), OS_OK);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_SIGNING);
    assert_int_equal(value_of(l, "SELECT tx_row FROM payouts WHERE id = ?", payout), rep);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", anchor), rep);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", spare), rep);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", other), row);
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_RESPEND, &next), OS_OK);
    assert_int_equal(next, 0);
    assert_int_equal(os_ledger_payouts_awaiting_respend(l, &waiting), OS_OK);
    assert_int_equal(waiting, 0);

    /* refused by the signer: everything back on the original, which is offered again; the next
     * replacement releases the coins it does not use */
    os_tx_event_data refused = {.now = 5, .note = "refused"};
    assert_int_equal(os_ledger_tx_transition(l, rep, OS_TXEV_BUMP_REFUSED, &refused), OS_OK);
    assert_int_equal(value_of(l, "SELECT tx_row FROM payouts WHERE id = ?", payout), row);
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_RESPEND, &next), OS_OK);
    assert_int_equal(next, row);
    int64_t only_anchor[1] = {anchor};
    rtx.n_inputs = 1;
    assert_int_equal(os_ledger_tx_replacement_create(l, row, &rtx, 700, only_anchor, 1, 6, &rep), OS_OK);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", spare), OS_COIN_AVAILABLE);
    assert_int_equal(value_of(l, "SELECT reserved_by FROM coins WHERE id = ?", anchor), rep);

    /* the replacement confirms: it paid; the original is settled (replaced) */
    uint8_t txid2[32] = {0x78};
    d.txid = txid2;
    assert_int_equal(os_ledger_tx_transition(l, rep, OS_TXEV_SIGNED, &d), OS_OK);
    os_tx_event_data conf = {.now = 7, .note = "", .confirmations = 1, .block_height = 9};
    assert_int_equal(os_ledger_tx_transition(l, rep, OS_TXEV_CONFIRMED, &conf), OS_OK);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_CONFIRMED);
    assert_int_equal(value_of(l, "SELECT tx_row FROM payouts WHERE id = ?", payout), rep);
    assert_int_equal(value_of(l, "SELECT state FROM txs WHERE id = ?", row), OS_TX_REPLACED);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", anchor), OS_COIN_SPENT);
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_RESPEND, &next), OS_OK);
    assert_int_equal(next, 0);
    os_ledger_close(l);
}

/* A transaction over n_in new coins (tags[0] its anchor), signed and sent, carrying one new payout. */
static int64_t sent_tx(os_ledger *l, const uint8_t tags[3], size_t n_in, uint8_t nonce_tag, int64_t *payout,
                       os_sign_input *in, os_sign_output *out) {
    static const uint8_t prev[] = {0x01};
    int64_t coins[3];
    memset(in, 0, n_in * sizeof *in);
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < n_in; k++) {
        coins[k] = add_coin(l, tags[k], 100000);
        memset(in[k].prevout.txid, tags[k], 32);
        in[k].script_type = OS_SCRIPT_P2PKH;
        in[k].prev_tx = prev;
        in[k].prev_tx_len = sizeof prev;
    }
    out->kind = OS_OUTPUT_PAYOUT;
    out->amount = 50000;
    out->script_len = 3;
    os_ledger_new_payout np = {.amount = 50000, .script = out->script, .script_len = 3, .address = REGTEST_ADDR, .now = 1};
    memset(np.nonce, nonce_tag, 32);
    assert_int_equal(os_ledger_payout_insert(l, &np, payout), OS_OK);
    os_sign_tx tx = {.version = 2, .inputs = in, .n_inputs = n_in, .outputs = out, .n_outputs = 1};
    int64_t row = 0;
    assert_int_equal(os_ledger_tx_draft_create(l, &tx, 500, OS_PAYOUT_REQUESTED, payout, 1, coins, n_in, 1, &row), OS_OK);
    uint8_t txid[32], root[32] = {0x99};
    memset(txid, nonce_tag, 32);
    os_tx_event_data d = {.now = 2, .note = "", .raw = prev, .raw_len = 1, .txid = txid, .root_after = root};
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_SIGNED, &d), OS_OK);
    assert_int_equal(os_ledger_tx_transition(l, row, OS_TXEV_SENT, &d), OS_OK);
    return row;
}

static int64_t coin_of(os_ledger *l, uint8_t tag) {
    sqlite3_stmt *st = NULL;
    uint8_t txid[32];
    memset(txid, tag, 32);
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l), "SELECT id FROM coins WHERE txid = ?", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_blob(st, 1, txid, 32, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return id;
}

/* A draft of a family (a fee bump held for the operators' approvals; a respend the signer already
 * committed) whose sibling confirms can never confirm itself. Before the fix it stayed pending for
 * ever, holding its coins (a respend's new coin was then marked spent with the family: lost to the
 * wallet), its approvals and its place in the worker's queue. Now the worker's queues pass it by at
 * once, os_ledger_txs_superseded names it with its confirmed sibling, and SUPERSEDED settles it once:
 * REPLACED, hold and approvals dropped, the coins the sibling spent spent, the others available, the
 * payouts confirmed through the sibling as they were. */
static void test_pending_sibling_superseded(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    os_sign_input in[3];
    os_sign_output out;
    int64_t payout = 0, next = -1, bump = 0;
    static const uint8_t tags[3] = {0xE1, 0xE2, 0xE3};
    int64_t orig = sent_tx(l, tags, 2, 0x51, &payout, in, &out);

    /* a fee bump on the same coins, above the threshold: held with one approval stored */
    os_sign_input bin[2] = {in[0], in[1]};
    bin[0].sequence = 1;      /* another digest than the original's */
    os_sign_tx btx = {.version = 2, .inputs = bin, .n_inputs = 2, .outputs = &out, .n_outputs = 1};
    assert_int_equal(os_ledger_tx_replacement_create(l, orig, &btx, 900, NULL, 0, 3, &bump), OS_OK);
    os_tx_event_data w = {.now = 4, .note = "waiting"};
    assert_int_equal(os_ledger_tx_transition(l, bump, OS_TXEV_OPERATOR_WAIT, &w), OS_OK);
    assert_int_equal(os_ledger_tx_quorum_set(l, bump, 1), OS_OK);
    uint8_t digest[32];
    os_tx_state st = 0;
    int qw = 0, added = 0;
    assert_int_equal(os_ledger_tx_quorum(l, bump, digest, &st, &qw), OS_OK);
    os_approval a = {.expiry_seq = 100};
    memset(a.operator_key, 0x0C, 32);
    assert_int_equal(os_ledger_approval_put(l, digest, &a, 0, 4, &added), OS_OK);
    assert_int_equal(added, 1);

    /* the original confirms: its payout is paid, the held bump is doomed */
    os_tx_event_data conf = {.now = 5, .note = "", .confirmations = 1, .block_height = 20};
    assert_int_equal(os_ledger_tx_transition(l, orig, OS_TXEV_CONFIRMED, &conf), OS_OK);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_CONFIRMED);
    assert_int_equal(value_of(l, "SELECT tx_row FROM payouts WHERE id = ?", payout), orig);
    /* the operator's press (quorum_wait 2: asked again) would not reach the signer either */
    assert_int_equal(os_ledger_tx_quorum_set(l, bump, 2), OS_OK);
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_AWAITING, &next), OS_OK);
    assert_int_equal(next, 0);

    os_ledger_superseded *sup = NULL;
    size_t n = 0;
    assert_int_equal(os_ledger_txs_superseded(l, &sup, &n), OS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sup[0].row, bump);
    assert_int_equal(sup[0].sibling, orig);
    free(sup);
    /* only with its confirmed sibling: no sibling, itself, or one of another family change nothing */
    os_tx_event_data s = {.now = 6, .note = "superseded"};
    assert_int_equal(os_ledger_tx_transition(l, bump, OS_TXEV_SUPERSEDED, &s), OS_ERR_ARG);
    s.sibling = bump;
    assert_int_equal(os_ledger_tx_transition(l, bump, OS_TXEV_SUPERSEDED, &s), OS_ERR_NOT_FOUND);
    assert_int_equal(value_of(l, "SELECT state FROM txs WHERE id = ?", bump), OS_TX_AWAITING);
    s.sibling = orig;
    assert_int_equal(os_ledger_tx_transition(l, bump, OS_TXEV_SUPERSEDED, &s), OS_OK);
    assert_int_equal(value_of(l, "SELECT state FROM txs WHERE id = ?", bump), OS_TX_REPLACED);
    assert_int_equal(value_of(l, "SELECT quorum_wait FROM txs WHERE id = ?", bump), 0);
    os_approval got[2];
    assert_int_equal(os_ledger_approvals_of(l, digest, got, 2, &n), OS_OK);
    assert_int_equal(n, 0);
    for (int k = 0; k < 2; k++)
        assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", coin_of(l, tags[k])), OS_COIN_SPENT);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout), OS_PAYOUT_CONFIRMED);
    assert_int_equal(value_of(l, "SELECT tx_row FROM payouts WHERE id = ?", payout), orig);
    /* once */
    assert_int_equal(os_ledger_tx_transition(l, bump, OS_TXEV_SUPERSEDED, &s), OS_ERR_NOT_FOUND);
    assert_int_equal(os_ledger_txs_superseded(l, &sup, &n), OS_OK);
    assert_int_equal(n, 0);
    assert_null(sup);

    /* a respend after a lost input, committed by the signer (root_after), with a new coin; the
     * original confirms after all (the foreign spend was reorganised away) */
    static const uint8_t tags2[3] = {0xF1, 0xF2, 0xF3};
    int64_t payout2 = 0, rep = 0;
    int64_t orig2 = sent_tx(l, tags2, 3, 0x52, &payout2, in, &out);
    os_tx_event_data lost = {.now = 7, .note = "lost", .lost = &in[1].prevout, .n_lost = 1};
    assert_int_equal(os_ledger_tx_transition(l, orig2, OS_TXEV_INPUT_LOST, &lost), OS_OK);
    int64_t fresh = add_coin(l, 0xF4, 300000), anchor2 = coin_of(l, 0xF1);
    os_sign_input rin[2] = {in[0], in[2]};
    memset(rin[1].prevout.txid, 0xF4, 32);
    os_sign_output rout = out;
    rout.replace = 1;
    rout.anchor = in[0].prevout;
    os_sign_tx rtx = {.version = 2, .inputs = rin, .n_inputs = 2, .outputs = &rout, .n_outputs = 1};
    int64_t rcoins[2] = {anchor2, fresh};
    assert_int_equal(os_ledger_tx_replacement_create(l, orig2, &rtx, 700, rcoins, 2, 8, &rep), OS_OK);
    uint8_t root[32] = {0x9A};
    assert_int_equal(os_ledger_tx_committed(l, rep, root, 0, 0, NULL, 0), OS_OK);
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_SIGN, &next), OS_OK);
    assert_int_equal(next, rep);
    conf.now = 9;
    assert_int_equal(os_ledger_tx_transition(l, orig2, OS_TXEV_CONFIRMED, &conf), OS_OK);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout2), OS_PAYOUT_CONFIRMED);
    /* never sent to the signer from now on, and the new coin is not lost with the family */
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_SIGN, &next), OS_OK);
    assert_int_equal(next, 0);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", fresh), OS_COIN_RESERVED);
    assert_int_equal(os_ledger_txs_superseded(l, &sup, &n), OS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(sup[0].row, rep);
    assert_int_equal(sup[0].sibling, orig2);
    free(sup);
    s.sibling = orig2;
    assert_int_equal(os_ledger_tx_transition(l, rep, OS_TXEV_SUPERSEDED, &s), OS_OK);
    assert_int_equal(value_of(l, "SELECT state FROM txs WHERE id = ?", rep), OS_TX_REPLACED);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", anchor2), OS_COIN_SPENT);
    assert_int_equal(value_of(l, "SELECT state FROM coins WHERE id = ?", fresh), OS_COIN_AVAILABLE);
    assert_int_equal(value_of(l, "SELECT reserved_by IS NULL FROM coins WHERE id = ?", fresh), 1);
    assert_int_equal(value_of(l, "SELECT status FROM payouts WHERE id = ?", payout2), OS_PAYOUT_CONFIRMED);
    assert_int_equal(value_of(l, "SELECT tx_row FROM payouts WHERE id = ?", payout2), orig2);
    assert_int_equal(os_ledger_txs_superseded(l, &sup, &n), OS_OK);
    assert_int_equal(n, 0);
    os_ledger_close(l);
}

/* A v2 ledger carried the fee-bump signal as text in last_error; v3 carries it as a column. */
static void test_migrate_v2_fee_signal(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open_version(db_path, 2, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_exec(l, "INSERT INTO txs (state, draft, anchor_txid, anchor_vout, fee, n_payouts, last_error,"
                                       " created_at, updated_at) VALUES (2, x'00', zeroblob(32), 0, 1, 1,"
                                       " 'fee-too-low: -26 min relay fee not met', 1, 1),"
                                       " (2, x'00', zeroblob(32), 1, 1, 1, '-26 something else', 1, 1)"),
                     OS_OK);
    os_ledger_close(l);
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(value_of(l, "SELECT needs_bump FROM txs WHERE id = ?", 1), 1);
    assert_int_equal(value_of(l, "SELECT needs_bump FROM txs WHERE id = ?", 2), 0);
    int64_t row = 0;
    assert_int_equal(os_ledger_tx_next(l, OS_LEDGER_NEXT_TO_BUMP, &row), OS_OK);
    assert_int_equal(row, 1);
    os_ledger_close(l);
}

/* v5: a v4 ledger's transactions (named by hashPrevouts/hashOutputs) get the transaction digest
 * of their stored draft, so a SIGN entry that records the digest finds them; a draft that does not
 * decode keeps a NULL digest and the migration goes on. */
static void test_migrate_v4_tx_digest(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    os_sign_input in;
    os_sign_output out;
    static const uint8_t prev[] = {0x01};   /* a draft stores previous transactions verbatim */
    memset(&in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    memset(in.prevout.txid, 0x5a, 32);
    in.prevout.vout = 3;
    in.sequence = 0xFFFFFFFEu;
    in.script_type = OS_SCRIPT_P2PKH;
    in.prev_tx = prev;
    in.prev_tx_len = sizeof prev;
    out.kind = OS_OUTPUT_PAYOUT;
    out.amount = 12345;
    out.script_len = 3;
    memset(out.script, 0x6a, 3);
    os_sign_tx tx = {.version = 2, .locktime = 77, .inputs = &in, .n_inputs = 1, .outputs = &out, .n_outputs = 1};
    uint8_t *blob = NULL, hp[32], digest[32];
    size_t blob_len = 0;
    assert_int_equal(os_draft_encode(&tx, &blob, &blob_len), OS_OK);
    assert_int_equal(os_draft_commitment(&tx, hp, digest), OS_OK);

    assert_int_equal(os_ledger_open_version(db_path, 4, &l, err, sizeof err), OS_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(os_ledger_db(l),
                                        "INSERT INTO txs (id, state, draft, anchor_txid, anchor_vout, fee, n_payouts,"
                                        " created_at, updated_at, hash_prevouts, hash_outputs) VALUES"
                                        " (?, 0, ?, zeroblob(32), 0, 1, 1, 1, 1, ?, zeroblob(32))", -1, &st, NULL),
                     SQLITE_OK);
    for (int id = 1; id <= 2; id++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, id);
        if (id == 1) sqlite3_bind_blob(st, 2, blob, (int)blob_len, SQLITE_STATIC);
        else sqlite3_bind_blob(st, 2, "\x00", 1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, hp, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    }
    sqlite3_finalize(st);
    os_ledger_close(l);
    free(blob);

    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    int v = 0;
    assert_int_equal(os_ledger_schema_version(l, &v), OS_OK);
    assert_int_equal(v, OS_LEDGER_SCHEMA_VERSION);   /* v5 and every later migration ran */
    int64_t row = 0;
    os_draft d;
    assert_int_equal(os_ledger_tx_by_commitment(l, hp, digest, &row, &d), OS_OK);
    assert_int_equal(row, 1);
    assert_int_equal(d.tx.locktime, 77);
    os_draft_free(&d);
    assert_int_equal(value_of(l, "SELECT tx_digest IS NULL FROM txs WHERE id = ?", 2), 1);
    os_ledger_close(l);
}

typedef struct { int n; uint8_t value[4][32]; int moved[4]; } seen_leaves;
static int see_leaf(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len, int moved) {
    seen_leaves *s = ctx;
    (void)key;
    assert_int_equal(key_len, 32);
    assert_int_equal(value_len, 32);
    assert_true(s->n < 4);
    memcpy(s->value[s->n], value, 32);
    s->moved[s->n++] = moved;
    return OS_OK;
}

/* v7, issue 10: a re-anchored payout's leaf keeps its first value for the replay of the transaction
 * that committed it, and the move is its own row, replayed with the moving transaction; the tree
 * loads the current value. A v6 ledger migrates with its leaves as they were. */
static void test_reanchored_leaf_is_a_move(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open_version(db_path, 6, &l, err, sizeof err), OS_OK);
    os_ledger_close(l);
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    int v = 0;
    assert_int_equal(os_ledger_schema_version(l, &v), OS_OK);
    assert_int_equal(v, OS_LEDGER_SCHEMA_VERSION);
    /* two transactions: the first commits the payout at anchor A, the second re-anchors it at B */
    static const uint8_t prev[] = {0x01};
    os_sign_input in;
    os_sign_output out;
    memset(&in, 0, sizeof in);
    memset(&out, 0, sizeof out);
    in.script_type = OS_SCRIPT_P2PKH;
    in.prev_tx = prev;
    in.prev_tx_len = sizeof prev;
    out.kind = OS_OUTPUT_PAYOUT;
    out.amount = 12345;
    out.script_len = 3;
    int64_t rows[2];
    uint8_t hp[2][32], digest[2][32];
    for (int k = 0; k < 2; k++) {
        memset(in.prevout.txid, 0xA0 + k, 32);
        os_sign_tx tx = {.version = 2, .inputs = &in, .n_inputs = 1, .outputs = &out, .n_outputs = 1};
        assert_int_equal(os_ledger_tx_draft_create(l, &tx, 1, OS_PAYOUT_REQUESTED, NULL, 0, NULL, 0, 1, &rows[k]), OS_OK);
        assert_int_equal(os_draft_commitment(&tx, hp[k], digest[k]), OS_OK);
    }
    os_ledger_leaf leaf;
    memset(&leaf, 0, sizeof leaf);
    memset(leaf.key, 0x11, 32);
    memset(leaf.value, 0xAA, 32);
    memset(leaf.nonce, 0x22, 32);
    leaf.script = out.script;
    leaf.script_len = 3;
    os_tx_event_data d = {.now = 2, .raw = prev, .raw_len = 1, .txid = hp[0], .root_after = hp[0], .leaves = &leaf,
                          .n_leaves = 1};
    assert_int_equal(os_ledger_tx_transition(l, rows[0], OS_TXEV_SIGNED, &d), OS_OK);
    memset(leaf.value, 0xBB, 32);
    leaf.moved = 1;
    d.txid = hp[1];
    assert_int_equal(os_ledger_tx_transition(l, rows[1], OS_TXEV_SIGNED, &d), OS_OK);

    uint8_t (*keys)[32] = NULL, (*values)[32] = NULL;
    size_t n = 0;
    assert_int_equal(os_ledger_leaves_load(l, &keys, &values, &n), OS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(values[0][0], 0xBB);   /* the current value */
    free(keys);
    free(values);
    seen_leaves s = {0};
    assert_int_equal(os_ledger_leaves_of_commitment(l, hp[0], digest[0], see_leaf, &s), OS_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.value[0][0], 0xAA);   /* as first committed */
    assert_int_equal(s.moved[0], 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(os_ledger_leaves_of_commitment(l, hp[1], digest[1], see_leaf, &s), OS_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.value[0][0], 0xBB);
    assert_int_equal(s.moved[0], 1);
    os_ledger_close(l);
}

/* The start-up replay's lookup (os_ledger_tx_by_commitment, engine_chain.c replay_sign_entry): two
 * drafts with the same inputs and outputs that differ only in locktime, version or a sequence are
 * different rows to a SIGN entry. Named by hashPrevouts/hashOutputs, each lookup found the first. */
static void test_lookup_by_commitment_pins_the_transaction(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    static const uint8_t prev[] = {0x01};
    os_sign_input in[4];
    os_sign_output out;
    os_sign_tx tx[4];
    memset(&out, 0, sizeof out);
    out.kind = OS_OUTPUT_PAYOUT;
    out.amount = 12345;
    out.script_len = 3;
    memset(out.script, 0x6a, 3);
    for (int k = 0; k < 4; k++) {
        memset(&in[k], 0, sizeof in[k]);
        memset(in[k].prevout.txid, 0x5a, 32);
        in[k].sequence = 0xFFFFFFFFu;
        in[k].script_type = OS_SCRIPT_P2PKH;
        in[k].prev_tx = prev;
        in[k].prev_tx_len = sizeof prev;
        tx[k] = (os_sign_tx){.version = 2, .locktime = 0, .inputs = &in[k], .n_inputs = 1, .outputs = &out, .n_outputs = 1};
    }
    tx[1].locktime = 1;
    tx[2].version = 1;
    in[3].sequence = 0xFFFFFFFDu;
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    int64_t rows[4];
    for (int k = 0; k < 4; k++) assert_int_equal(os_ledger_tx_external_create(l, &tx[k], 1, &rows[k]), OS_OK);
    for (int k = 0; k < 4; k++) {
        uint8_t hp[32], digest[32];
        int64_t row = 0;
        os_draft d;
        assert_int_equal(os_draft_commitment(&tx[k], hp, digest), OS_OK);
        assert_int_equal(os_ledger_tx_by_commitment(l, hp, digest, &row, &d), OS_OK);
        assert_int_equal(row, rows[k]);
        assert_int_equal(d.tx.version, tx[k].version);
        assert_int_equal(d.tx.locktime, tx[k].locktime);
        assert_int_equal(d.in[0].sequence, in[k].sequence);
        os_draft_free(&d);
    }
    os_ledger_close(l);
}

/* Scenario (d)'s chain scan asks the ledger what is the wallet's: a coin it holds (whatever its
 * state), the raw of one of its transactions or of one the recovery recorded (to tell the wallet's
 * outputs from the payees'); a transaction found on chain is keyed above any log seq, in the order
 * found, and its key survives the round trip. */
static void test_recovery_chain_lookups(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    os_outpoint coin_op;
    memset(&coin_op, 0x11, sizeof coin_op);
    coin_op.vout = 1;
    uint8_t found_txid[32], other_txid[32];
    memset(found_txid, 0x22, 32);
    memset(other_txid, 0x33, 32);
    int yes = -1;
    assert_int_equal(os_ledger_recovery_coin_known(l, &coin_op, &yes), OS_OK);
    assert_int_equal(yes, 0);
    assert_int_equal(os_ledger_recovery_txid_known(l, found_txid, &yes), OS_OK);
    assert_int_equal(yes, 0);

    static const uint8_t script[25] = {0x76, 0xa9, 0x14}, prev[] = {0x01};
    os_ledger_new_coin c = {.op = coin_op, .amount = 5000, .script = script, .script_len = sizeof script,
                            .script_type = OS_SCRIPT_P2PKH, .prev = prev, .prev_len = sizeof prev, .height = 7};
    assert_int_equal(os_ledger_coin_add(l, &c), OS_OK);
    assert_int_equal(os_ledger_recovery_coin_known(l, &coin_op, &yes), OS_OK);
    assert_int_equal(yes, 1);
    os_outpoint sibling = coin_op;
    sibling.vout = 2;   /* another output of a transaction that is not the ledger's */
    assert_int_equal(os_ledger_recovery_coin_known(l, &sibling, &yes), OS_OK);
    assert_int_equal(yes, 0);

    uint64_t key = 0;
    uint8_t digest[32] = {0x44};
    static const uint8_t raw[] = {0x02, 0x00, 0x00, 0x00, 0x07};
    uint8_t *got = NULL;
    size_t got_len = 0;
    assert_int_equal(os_ledger_recovery_raw_by_txid(l, found_txid, &got, &got_len), OS_ERR_NOT_FOUND);
    assert_int_equal(os_ledger_recovery_chain_next(l, &key), OS_OK);
    assert_true(key == OS_LEDGER_RECOVERY_CHAIN_SEQ);
    assert_int_equal(os_ledger_recovery_tx_put(l, key, digest, found_txid, raw, sizeof raw, 1), OS_OK);
    assert_int_equal(os_ledger_recovery_txid_known(l, found_txid, &yes), OS_OK);
    assert_int_equal(yes, 1);
    assert_int_equal(os_ledger_recovery_txid_known(l, other_txid, &yes), OS_OK);
    assert_int_equal(yes, 0);
    assert_int_equal(os_ledger_recovery_raw_by_txid(l, found_txid, &got, &got_len), OS_OK);
    assert_int_equal(got_len, sizeof raw);
    assert_memory_equal(got, raw, sizeof raw);
    free(got);
    assert_int_equal(os_ledger_recovery_chain_next(l, &key), OS_OK);
    assert_true(key == OS_LEDGER_RECOVERY_CHAIN_SEQ + 1);

    os_ledger_recovery_tx *t = NULL;
    size_t n = 0;
    assert_int_equal(os_ledger_recovery_txs(l, &t, &n), OS_OK);
    assert_int_equal(n, 1);
    assert_true(t[0].log_seq == OS_LEDGER_RECOVERY_CHAIN_SEQ);
    assert_true(t[0].found);
    assert_memory_equal(t[0].txid, found_txid, 32);
    os_ledger_recovery_txs_free(t, n);

    /* the deposits a pass saw and the height it read to outlive the process: a restart's first pass
     * resumes there, and still knows a spend of such a deposit as the wallet's */
    os_outpoint deposit;
    memset(&deposit, 0x55, sizeof deposit);
    deposit.vout = 3;
    assert_int_equal(os_ledger_recovery_deposit_known(l, &deposit, &yes), OS_OK);
    assert_int_equal(yes, 0);
    assert_int_equal(os_ledger_recovery_deposit_add(l, &deposit), OS_OK);
    assert_int_equal(os_ledger_recovery_deposit_add(l, &deposit), OS_OK);   /* seen again by a later pass */
    assert_int_equal(os_ledger_meta_put_u64(l, OS_LEDGER_META_RECOVERY_CHAIN_SCANNED, 4321), OS_OK);
    os_ledger_close(l);
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_int_equal(os_ledger_recovery_deposit_known(l, &deposit, &yes), OS_OK);
    assert_int_equal(yes, 1);
    os_outpoint other_vout = deposit;
    other_vout.vout = 4;
    assert_int_equal(os_ledger_recovery_deposit_known(l, &other_vout, &yes), OS_OK);
    assert_int_equal(yes, 0);
    uint64_t scanned = 0;
    assert_int_equal(os_ledger_meta_u64(l, OS_LEDGER_META_RECOVERY_CHAIN_SCANNED, &scanned), OS_OK);
    assert_true(scanned == 4321);
    assert_int_equal(os_ledger_recovery_deposit_add(l, NULL), OS_ERR_ARG);
    os_ledger_close(l);
}

/* The ledger layer owns every SQL statement: no host source outside host/lib/ledger*.c names the
 * SQLite API (tests may still open the file to inspect or damage it). */
static void test_no_sql_outside_ledger(void **state) {
    (void)state;
    static const char *const dirs[] = {"host/lib", "host/cli", "host/daemon"};
    size_t files = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        DIR *dir = opendir(dirs[d]);
        assert_non_null(dir); /* run from the repository root */
        struct dirent *de;
        while ((de = readdir(dir)) != NULL) {
            size_t n = strlen(de->d_name);
            if (n < 3 || (strcmp(de->d_name + n - 2, ".c") != 0 && strcmp(de->d_name + n - 2, ".h") != 0)) continue;
            files++;
            int ledger_file = strncmp(de->d_name, "ledger", 6) == 0 && strcmp(dirs[d], "host/lib") == 0;
            char path[512], line[4096];
            snprintf(path, sizeof path, "%s/%s", dirs[d], de->d_name);
            FILE *f = fopen(path, "r");
            assert_non_null(f);
            for (int no = 1; fgets(line, sizeof line, f); no++)
                if (!ledger_file && strstr(line, "sqlite3_") != NULL)
                    fail_msg("%s:%d calls SQLite outside the ledger layer: %s", path, no, line);
            fclose(f);
        }
        closedir(dir);
    }
    assert_true(files > 20);
}

/* docs/RECOVERY.md, "Backup": a backup is a verified copy with a marker of what it holds; it never
 * overwrites a file, refuses a ledger whose archived log has a gap, and raises the acknowledgement
 * limit (meta backup_log_seq) to the copy's log head; verify catches an edited copy and a non-backup. */
static void test_backup_verified(void **state) {
    (void)state;
    os_ledger *l = NULL;
    char err[512] = "", out[400], partial[420];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32];
    for (uint64_t seq = 1; seq <= 3; seq++) {
        memset(entry, (int)seq, sizeof entry);
        memset(hash, (int)(0x40 + seq), sizeof hash);
        assert_int_equal(os_ledger_signer_log_put(l, seq, entry, hash), OS_OK);
    }
    assert_int_equal(os_ledger_exec(l, "INSERT INTO payouts (params_hash, nonce, amount, script, address, status,"
                                       " created_at, updated_at) VALUES (zeroblob(32), randomblob(32), 10000, x'00',"
                                       " 'a', 0, 1, 1)"), OS_OK);
    uint64_t gate = 99;
    assert_int_equal(os_ledger_meta_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, &gate), OS_OK);
    assert_int_equal(gate, 0);

    snprintf(out, sizeof out, "%s/b.db", dir_path);
    snprintf(partial, sizeof partial, "%s.partial", out);
    os_backup_marker m, v;
    memset(&m, 0, sizeof m);
    assert_int_equal(os_ledger_backup(l, out, 1234, &m, err, sizeof err), OS_OK);
    assert_int_equal(m.log_seq, 3);
    assert_int_equal(m.log_head[0], 0x43);
    assert_int_equal(m.payouts, 1);
    assert_int_equal(m.taken_at, 1234);
    assert_int_equal(os_ledger_meta_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, &gate), OS_OK);
    assert_int_equal(gate, 3);
    assert_int_not_equal(access(partial, F_OK), 0);
    assert_int_equal(os_ledger_backup_verify(out, &v, err, sizeof err), OS_OK);
    assert_memory_equal(&m, &v, sizeof m);

    /* never over an existing file */
    assert_int_equal(os_ledger_backup(l, out, 1235, &m, err, sizeof err), OS_ERR_ARG);
    assert_int_equal(os_ledger_backup_verify(out, &v, err, sizeof err), OS_OK);
    assert_int_equal(v.taken_at, 1234);

    /* an archive with a gap is no backup; nothing is left behind and the limit stays */
    memset(entry, 5, sizeof entry);
    assert_int_equal(os_ledger_signer_log_put(l, 5, entry, hash), OS_OK);
    snprintf(out, sizeof out, "%s/gap.db", dir_path);
    snprintf(partial, sizeof partial, "%s.partial", out);
    assert_int_equal(os_ledger_backup(l, out, 1236, &m, err, sizeof err), OS_ERR_DB);
    assert_non_null(strstr(err, "gaps"));
    assert_int_not_equal(access(out, F_OK), 0);
    assert_int_not_equal(access(partial, F_OK), 0);
    assert_int_equal(os_ledger_meta_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, &gate), OS_OK);
    assert_int_equal(gate, 3);

    /* an edited copy, and the live ledger (no marker), fail verification */
    snprintf(out, sizeof out, "%s/b.db", dir_path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(out, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM payouts", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(os_ledger_backup_verify(out, &v, err, sizeof err), OS_ERR_DB);
    assert_non_null(strstr(err, "do not match"));
    assert_int_equal(os_ledger_backup_verify(db_path, &v, err, sizeof err), OS_ERR_DB);
    assert_non_null(strstr(err, "no backup marker"));
    os_ledger_close(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_from_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1_keeps_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redeem_cas_64_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redeem_refusals_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payout_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payout_idempotency_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_measure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_ledger_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_schema_refused_with_the_restore_advice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transition_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_input_lost_respend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_sibling_superseded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2_fee_signal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v4_tx_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reanchored_leaf_is_a_move, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lookup_by_commitment_pins_the_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_chain_lookups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_sql_outside_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_verified, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
