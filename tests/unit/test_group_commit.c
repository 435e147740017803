/* Group commit (host/lib/commit_queue.c, os_ledger_group_run, the engine's service calls): requests
 * that arrive together share one transaction; each is answered only after that commit; a refused
 * one changes nothing while the others of its group commit; a crash inside a group keeps nothing of
 * it; the compare-and-set redeem still yields one payout per code under 64 threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "address.h"
#include "commit_queue.h"
#include "engine.h"
#include "engine_internal.h"
#include "ledger.h"
#include "oncesign/status.h"

static char dir_path[256];
static char db_path[300];
static char ADDR_A[OS_MAX_ADDRESS + 1], ADDR_B[OS_MAX_ADDRESS + 1];

static int setup(void **state) {
    (void)state;
    uint8_t p2pkh[25] = {0x76, 0xa9, 0x14};
    memset(p2pkh + 3, 0x44, 20);
    p2pkh[23] = 0x88;
    p2pkh[24] = 0xac;
    assert_int_equal(address_from_script(OS_NET_REGTEST, p2pkh, 25, ADDR_A, sizeof ADDR_A), OS_OK);
    memset(p2pkh + 3, 0x55, 20);
    assert_int_equal(address_from_script(OS_NET_REGTEST, p2pkh, 25, ADDR_B, sizeof ADDR_B), OS_OK);
    snprintf(dir_path, sizeof dir_path, "/tmp/oncesign-test-group-XXXXXX");
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

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ the queue alone */

/* A fake transaction: records which group each item ran in; the first group blocks until the test
 * has seen every other caller queued behind it, so the grouping is deterministic. */
typedef struct {
    os_commit_queue q;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int release_first;
    int groups_run;
    int in_group;             /* run_group calls overlapping (must never exceed 1) */
    int max_in_group;
} fake_owner;

typedef struct {
    fake_owner *o;
    os_commit_item item;
    int group_no;             /* set by run_group */
    int refuse;
    int rc;
} fake_job;

static int fake_apply(void *ctx) {
    fake_job *j = ctx;
    return j->refuse ? OS_ERR_AMOUNT : OS_OK;
}

static void fake_run_group(void *owner, os_commit_item *items, size_t n) {
    fake_owner *o = owner;
    pthread_mutex_lock(&o->mu);
    int no = ++o->groups_run;
    if (++o->in_group > o->max_in_group) o->max_in_group = o->in_group;
    while (no == 1 && !o->release_first) pthread_cond_wait(&o->cv, &o->mu);
    pthread_mutex_unlock(&o->mu);
    size_t seen = 0;
    for (os_commit_item *it = items; it; it = it->next, seen++) {
        fake_job *j = it->ctx;
        j->group_no = no;
        it->rc = it->apply(it->ctx);
    }
    assert_int_equal(seen, n);
    pthread_mutex_lock(&o->mu);
    o->in_group--;
    pthread_mutex_unlock(&o->mu);
}

static void *fake_caller(void *arg) {
    fake_job *j = arg;
    j->rc = os_commit_queue_run(&j->o->q, &j->item);
    return NULL;
}

static size_t queued(os_commit_queue *q) {
    pthread_mutex_lock(&q->mu);
    size_t n = 0;
    for (os_commit_item *it = q->head; it; it = it->next) n++;
    pthread_mutex_unlock(&q->mu);
    return n;
}

static void test_queue_groups_waiting_callers(void **state) {
    (void)state;
    enum { FOLLOWERS = 40 };
    static fake_owner o;
    memset(&o, 0, sizeof o);
    pthread_mutex_init(&o.mu, NULL);
    pthread_cond_init(&o.cv, NULL);
    assert_int_equal(os_commit_queue_init(&o.q, fake_run_group, &o), OS_OK);
    assert_int_equal(os_commit_queue_init(NULL, fake_run_group, &o), OS_ERR_ARG);
    assert_int_equal(os_commit_queue_run(&o.q, NULL), OS_ERR_ARG);

    static fake_job jobs[FOLLOWERS + 1];
    pthread_t th[FOLLOWERS + 1];
    for (int i = 0; i <= FOLLOWERS; i++) {
        jobs[i] = (fake_job){.o = &o, .refuse = i % 3 == 2};
        jobs[i].item.apply = fake_apply;
        jobs[i].item.ctx = &jobs[i];
    }
    /* The leader first, alone; it blocks inside its group. */
    assert_int_equal(pthread_create(&th[0], NULL, fake_caller, &jobs[0]), 0);
    for (int w = 0; w < 5000; w++) {
        pthread_mutex_lock(&o.mu);
        int started = o.groups_run;
        pthread_mutex_unlock(&o.mu);
        if (started) break;
        sleep_ms(1);
    }
    for (int i = 1; i <= FOLLOWERS; i++) assert_int_equal(pthread_create(&th[i], NULL, fake_caller, &jobs[i]), 0);
    for (int w = 0; w < 5000 && queued(&o.q) < FOLLOWERS; w++) sleep_ms(1);
    assert_int_equal(queued(&o.q), FOLLOWERS);
    /* Nobody has an answer while their group has not run. */
    for (int i = 0; i <= FOLLOWERS; i++) assert_int_equal(jobs[i].group_no, 0);
    pthread_mutex_lock(&o.mu);
    o.release_first = 1;
    pthread_cond_broadcast(&o.cv);
    pthread_mutex_unlock(&o.mu);
    for (int i = 0; i <= FOLLOWERS; i++) pthread_join(th[i], NULL);

    /* Two groups: the leader's, then everyone who queued behind it, together. */
    assert_int_equal(o.groups_run, 2);
    assert_int_equal(o.max_in_group, 1);
    assert_int_equal(jobs[0].group_no, 1);
    for (int i = 1; i <= FOLLOWERS; i++) {
        assert_int_equal(jobs[i].group_no, 2);
        assert_int_equal(jobs[i].rc, jobs[i].refuse ? OS_ERR_AMOUNT : OS_OK);
    }
    unsigned long long g = 0, n = 0;
    os_commit_queue_stats(&o.q, &g, &n);
    assert_true(g == 2 && n == FOLLOWERS + 1);
    os_commit_queue_destroy(&o.q);
    pthread_cond_destroy(&o.cv);
    pthread_mutex_destroy(&o.mu);
}

/* ------------------------------------------------------------------ the ledger's groups */

/* One request's part: writes meta[key]; a refused one writes first and then refuses, so its row
 * existing afterwards would mean the refusal leaked into the commit. The first caller (gate set)
 * holds its group open until the others have entered os_ledger_group_run. */
typedef struct {
    os_ledger *l;
    char key[32];
    int refuse;
    volatile int *gate;
    int rc;
} meta_job;

static _Atomic int entered;
static _Atomic int applied;
static int crash_at_apply;    /* the crash test: _exit in the n-th apply, after its write (0: never) */

static int meta_apply(void *ctx) {
    meta_job *j = ctx;
    const uint8_t v[4] = {1, 2, 3, 4};
    int rc = os_ledger_meta_put(j->l, j->key, v, sizeof v);
    if (rc != OS_OK) return rc;
    if (__atomic_add_fetch(&applied, 1, __ATOMIC_SEQ_CST) == crash_at_apply) _exit(137);
    while (j->gate && !*j->gate) sleep_ms(1);
    return j->refuse ? OS_ERR_IDEMPOTENCY : OS_OK;
}

static void *meta_caller(void *arg) {
    meta_job *j = arg;
    __atomic_add_fetch(&entered, 1, __ATOMIC_SEQ_CST);
    j->rc = os_ledger_group_run(j->l, meta_apply, j);
    return NULL;
}

static int meta_has(os_ledger *l, const char *key) {
    uint8_t v[8];
    size_t n = 0;
    os_ledger_lock(l);
    int rc = os_ledger_meta_get(l, key, v, sizeof v, &n);
    os_ledger_unlock(l);
    assert_true(rc == OS_OK || rc == OS_ERR_NOT_FOUND);
    return rc == OS_OK;
}

static void test_refused_in_group_changes_nothing(void **state) {
    (void)state;
    enum { N = 32 };
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    volatile int gate = 0;
    static meta_job jobs[N];
    pthread_t th[N];
    entered = 0;
    for (int i = 0; i < N; i++) {
        jobs[i] = (meta_job){.l = l, .refuse = i % 4 == 1, .gate = i == 0 ? &gate : NULL};
        snprintf(jobs[i].key, sizeof jobs[i].key, "mix-%d", i);
    }
    assert_int_equal(pthread_create(&th[0], NULL, meta_caller, &jobs[0]), 0);
    while (entered < 1) sleep_ms(1);
    sleep_ms(20); /* the leader is inside its group */
    for (int i = 1; i < N; i++) assert_int_equal(pthread_create(&th[i], NULL, meta_caller, &jobs[i]), 0);
    while (entered < N) sleep_ms(1);
    sleep_ms(50); /* all queued behind the held group */
    gate = 1;
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);

    uint64_t groups = 0, requests = 0;
    os_ledger_group_stats(l, &groups, &requests);
    assert_int_equal(requests, N);
    assert_true(groups < N); /* shared: the 31 behind the gate did not commit one by one */
    for (int i = 0; i < N; i++) {
        if (jobs[i].refuse) {
            assert_int_equal(jobs[i].rc, OS_ERR_IDEMPOTENCY);
            assert_false(meta_has(l, jobs[i].key));
        } else {
            assert_int_equal(jobs[i].rc, OS_OK);
            assert_true(meta_has(l, jobs[i].key));
        }
    }
    os_ledger_close(l);
    /* Durable: a fresh connection sees exactly the accepted ones. */
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    for (int i = 0; i < N; i++) assert_int_equal(meta_has(l, jobs[i].key), !jobs[i].refuse);
    assert_int_equal(os_ledger_group_run(l, NULL, NULL), OS_ERR_ARG);
    os_ledger_close(l);
}

/* A process dies inside a group (after several of its requests wrote their rows): none of that
 * group survives, while everything answered before it does. */
static void test_crash_mid_group_keeps_only_answered(void **state) {
    (void)state;
    enum { N = 12 };
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        os_ledger *l = NULL;
        char err[256];
        if (os_ledger_open(db_path, &l, err, sizeof err) != OS_OK) _exit(2);
        /* applies: 1 "answered", 2 lost-0 (its own group), 3 .. N+1 the second group: the last
         * of them dies after its write, so every request of that group has written by then. */
        applied = 0;
        crash_at_apply = N + 1;
        meta_job answered = {.l = l};
        snprintf(answered.key, sizeof answered.key, "answered");
        if (os_ledger_group_run(l, meta_apply, &answered) != OS_OK) _exit(3);
        volatile int gate = 0;
        static meta_job jobs[N];
        pthread_t th[N];
        entered = 0;
        for (int i = 0; i < N; i++) {
            jobs[i] = (meta_job){.l = l, .gate = i == 0 ? &gate : NULL};
            snprintf(jobs[i].key, sizeof jobs[i].key, "lost-%d", i);
        }
        if (pthread_create(&th[0], NULL, meta_caller, &jobs[0]) != 0) _exit(4);
        while (entered < 1) sleep_ms(1);
        sleep_ms(20);
        for (int i = 1; i < N; i++)
            if (pthread_create(&th[i], NULL, meta_caller, &jobs[i]) != 0) _exit(4);
        while (entered < N) sleep_ms(1);
        sleep_ms(100);
        gate = 1;
        for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
        _exit(5); /* not reached: the last request exits inside its group */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 137);
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(db_path, &l, err, sizeof err), OS_OK);
    assert_true(meta_has(l, "answered"));
    /* lost-0 was its own group, committed before the crash; the crash took the second group
     * (lost-1 .. lost-11) whole, although all of them had written and most had returned OS_OK. */
    assert_true(meta_has(l, "lost-0"));
    for (int i = 1; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "lost-%d", i);
        assert_false(meta_has(l, key));
    }
    os_ledger_close(l);
}

/* ------------------------------------------------------------------ the engine */

static os_engine *open_engine(void) {
    os_engine_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.db_path = db_path;
    cfg.network = OS_NET_REGTEST;
    os_engine *e = NULL;
    char err[256];
    assert_int_equal(os_engine_open(&cfg, &e, err, sizeof err), OS_OK);
    return e;
}

enum { CODES = 16, THREADS = 64 };

typedef struct {
    os_engine *e;
    const char *code;
    const char *address;
    pthread_barrier_t *barrier;
    os_payout_info info;
    int created, rc;
} redeem_job;

static void *redeem_thread(void *arg) {
    redeem_job *j = arg;
    pthread_barrier_wait(j->barrier);
    j->rc = os_engine_redeem(j->e, j->code, j->address, &j->info, &j->created);
    return NULL;
}

/* 64 threads, four per code, half of them to another address: one payout per code, the same id
 * for all four callers, created reported once, and fewer commits than first redeems. */
static void test_engine_64_threads_overlapping_codes(void **state) {
    (void)state;
    os_engine *e = open_engine();
    static char codes[CODES][65];
    for (int i = 0; i < CODES; i++) assert_int_equal(os_engine_issue_code(e, 100000 + (uint64_t)i, 0, codes[i], NULL), OS_OK);
    uint64_t groups0 = 0, req0 = 0;
    os_ledger_group_stats(e->ledger, &groups0, &req0);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, THREADS);
    static redeem_job jobs[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        jobs[i] = (redeem_job){.e = e, .code = codes[i % CODES], .address = i & 1 ? ADDR_B : ADDR_A,
                               .barrier = &barrier};
        assert_int_equal(pthread_create(&th[i], NULL, redeem_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);
    for (int c = 0; c < CODES; c++) {
        int made = 0;
        int64_t id = 0;
        for (int i = c; i < THREADS; i += CODES) {
            assert_int_equal(jobs[i].rc, OS_OK);
            made += jobs[i].created;
            if (!id) id = jobs[i].info.id;
            assert_int_equal(jobs[i].info.id, id);
            assert_int_equal(jobs[i].info.amount, 100000 + (uint64_t)c);
        }
        assert_int_equal(made, 1);
        os_code_info ci;
        assert_int_equal(os_engine_code_lookup(e, codes[c], &ci), OS_OK);
        assert_true(ci.redeemed);
        assert_int_equal(ci.payout_id, id);
    }
    size_t n = 0;
    static os_payout_info list[THREADS];
    assert_int_equal(os_engine_payout_list(e, 0, 0, THREADS, list, &n), OS_OK);
    assert_int_equal(n, CODES);
    uint64_t groups = 0, req = 0;
    os_ledger_group_stats(e->ledger, &groups, &req);
    assert_int_equal(req - req0, THREADS);
    print_message("group commit: %d redeems (%d codes) in %llu groups\n", THREADS, CODES,
                  (unsigned long long)(groups - groups0));
    os_engine_close(e);
}

typedef struct {
    os_engine *e;
    int kind;                 /* 0 redeem valid, 1 redeem expired, 2 redeem unknown, 3 payout new, 4 payout key clash */
    const char *code;
    char key[40];
    uint64_t amount;
    pthread_barrier_t *barrier;
    os_payout_info info;
    int created, rc;
} mix_job;

static void *mix_thread(void *arg) {
    mix_job *j = arg;
    pthread_barrier_wait(j->barrier);
    if (j->kind <= 2)
        j->rc = os_engine_redeem(j->e, j->code, ADDR_A, &j->info, &j->created);
    else
        j->rc = os_engine_payout_create(j->e, j->key, ADDR_A, j->amount, &j->info, &j->created);
    return NULL;
}

/* Valid and refused requests together: the refused ones (expired code, unknown code, an
 * idempotency key reused with other parameters) change nothing, the valid ones all commit. */
static void test_engine_mixed_valid_and_refused(void **state) {
    (void)state;
    enum { M = 40 };
    os_engine *e = open_engine();
    static char valid[8][65], expired[4][65];
    for (int i = 0; i < 8; i++) assert_int_equal(os_engine_issue_code(e, 50000, 0, valid[i], NULL), OS_OK);
    for (int i = 0; i < 4; i++)
        assert_int_equal(os_engine_issue_code(e, 50000, 1 /* long past */, expired[i], NULL),
                         OS_OK);
    os_payout_info first;
    int created = 0;
    assert_int_equal(os_engine_payout_create(e, "clash-key", ADDR_A, 70000, &first, &created), OS_OK);
    assert_int_equal(created, 1);

    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, M);
    static mix_job jobs[M];
    pthread_t th[M];
    for (int i = 0; i < M; i++) {
        jobs[i] = (mix_job){.e = e, .kind = i % 5, .barrier = &barrier, .amount = 60000};
        if (jobs[i].kind == 0) jobs[i].code = valid[(i / 5) % 8];
        if (jobs[i].kind == 1) jobs[i].code = expired[(i / 5) % 4];
        if (jobs[i].kind == 2) jobs[i].code = "0123456789abcdef0123456789abcdef";
        if (jobs[i].kind == 3) snprintf(jobs[i].key, sizeof jobs[i].key, "new-%d", i);
        if (jobs[i].kind == 4) snprintf(jobs[i].key, sizeof jobs[i].key, "clash-key");
        assert_int_equal(pthread_create(&th[i], NULL, mix_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < M; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&barrier);

    int new_payouts = 0;
    for (int i = 0; i < M; i++) {
        switch (jobs[i].kind) {
        case 0: assert_int_equal(jobs[i].rc, OS_OK); new_payouts += jobs[i].created; break;
        case 1: assert_int_equal(jobs[i].rc, OS_ERR_CODE_EXPIRED); break;
        case 2: assert_int_equal(jobs[i].rc, OS_ERR_NOT_FOUND); break;
        case 3: assert_int_equal(jobs[i].rc, OS_OK); assert_int_equal(jobs[i].created, 1); new_payouts++; break;
        default: assert_int_equal(jobs[i].rc, OS_ERR_IDEMPOTENCY); break;
        }
    }
    /* 8 valid codes (each redeemed once in this round), 8 new keys, 1 payout from before. */
    assert_int_equal(new_payouts, 16);
    size_t n = 0;
    static os_payout_info list[64];
    assert_int_equal(os_engine_payout_list(e, 0, 0, 64, list, &n), OS_OK);
    assert_int_equal(n, 17);
    for (int i = 0; i < 4; i++) {
        os_code_info ci;
        assert_int_equal(os_engine_code_lookup(e, expired[i], &ci), OS_OK);
        assert_false(ci.redeemed);
    }
    os_payout_info again;
    assert_int_equal(os_engine_payout_create(e, "clash-key", ADDR_A, 70000, &again, &created), OS_OK);
    assert_int_equal(created, 0);
    assert_int_equal(again.id, first.id);
    assert_int_equal(again.amount, 70000);
    os_engine_close(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_groups_waiting_callers),
        cmocka_unit_test_setup_teardown(test_refused_in_group_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_group_keeps_only_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_64_threads_overlapping_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_mixed_valid_and_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
