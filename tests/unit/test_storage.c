/* Tests of firmware/storage.c: A/B records, commit atomicity under power cuts at every flash
 * operation, fail-closed loading. Runs on the in-memory board (tests/unit/support/board_mem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "audit_log.h"
#include "bytes.h"
#include "crypto.h"
#include "storage.h"
#include "support/board_mem.h"

#define SECTOR 4096u
#define FLASH (8u * SECTOR)


/* A state whose every field depends on i, so two states of different i differ everywhere. */
static void make_state(os_state *st, uint32_t i) {
    memset(st, 0, sizeof *st);
    st->initialized = 1;
    st->network = (uint8_t)(i % 3);
    st->script_type = (uint8_t)((i + 1) % 3);
    st->test_only_rng = (uint8_t)(i & 1);
    for (size_t k = 0; k < sizeof st->seed; k++) st->seed[k] = (uint8_t)(i * 7 + k);
    for (size_t k = 0; k < 32; k++) {
        st->attestation_key[k] = (uint8_t)(i * 13 + k + 1);
        st->nonce_root[k] = (uint8_t)(i * 31 + 3 * k);
    }
    st->policy.per_payout_cap = 100000000ull + i;
    st->policy.velocity_cap = 500000000ull + i;
    st->policy.velocity_window_s = 3600u + i;
    st->policy.fee_cap = 1000000ull + i;
    st->policy.fee_rate_cap = 10000ull + i;
    st->policy.fee_budget = 2000000ull + i;
    st->velocity_spent = 0x0102030405060708ull + i;
    st->fee_spent = 0x1112131415161718ull + i;
}

static void assert_state_equal(const os_state *a, const os_state *b) {
    assert_int_equal(a->initialized, b->initialized);
    assert_int_equal(a->network, b->network);
    assert_int_equal(a->script_type, b->script_type);
    assert_int_equal(a->test_only_rng, b->test_only_rng);
    assert_memory_equal(a->seed, b->seed, sizeof a->seed);
    assert_memory_equal(a->attestation_key, b->attestation_key, 32);
    assert_memory_equal(a->nonce_root, b->nonce_root, 32);
    assert_true(a->policy.per_payout_cap == b->policy.per_payout_cap);
    assert_true(a->policy.velocity_cap == b->policy.velocity_cap);
    assert_int_equal(a->policy.velocity_window_s, b->policy.velocity_window_s);
    assert_true(a->policy.fee_cap == b->policy.fee_cap);
    assert_true(a->policy.fee_rate_cap == b->policy.fee_rate_cap);
    assert_true(a->velocity_spent == b->velocity_spent);
    assert_true(a->fee_spent == b->fee_spent);
    assert_true(a->policy.fee_budget == b->policy.fee_budget);
    assert_true(a->log_seq == b->log_seq);
    assert_memory_equal(a->log_head, b->log_head, 32);
    assert_true(a->log_acked_seq == b->log_acked_seq);
    assert_memory_equal(a->last_entry, b->last_entry, OS_LOG_ENTRY_BYTES);
}

static int states_equal(const os_state *a, const os_state *b) {
    uint8_t pa[STORAGE_PAYLOAD_BYTES], pb[STORAGE_PAYLOAD_BYTES];
    assert_int_equal(storage_serialize_state(a, pa), OS_OK);
    assert_int_equal(storage_serialize_state(b, pb), OS_OK);
    return memcmp(pa, pb, sizeof pa) == 0;
}

static int setup(void **unused) {
    (void)unused;
    board_mem_reset(FLASH, SECTOR);
    return 0;
}

#define SLOTS (SECTOR / STORAGE_SLOT_BYTES)

static uint64_t record_seq_at(uint32_t sector, uint32_t slot) {
    return os_read_le64(board_mem_flash_image() + sector * SECTOR + slot * STORAGE_SLOT_BYTES + 6);
}

static void test_blank_flash_loads_uninitialized(void **unused) {
    os_state st;
    uint64_t seq = 99;
    (void)unused;
    memset(&st, 0xAA, sizeof st);
    assert_int_equal(storage_load(&st, &seq), OS_OK);
    assert_true(seq == 0);
    os_state zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&st, &zero, sizeof st);
}

static void test_geometry(void **unused) {
    uint32_t first = 0, cap = 0;
    (void)unused;
    storage_log_geometry(&first, &cap);
    assert_int_equal(first, 2);
    assert_int_equal(cap, 6 * (SECTOR / OS_LOG_ENTRY_BYTES));
    /* A sector too small for a record, or too few sectors: no layout, load refuses. */
    board_mem_reset(8 * 512, 512);
    storage_log_geometry(&first, &cap);
    assert_int_equal(cap, 0);
    board_mem_reset(2 * SECTOR, SECTOR);
    storage_log_geometry(&first, &cap);
    assert_int_equal(cap, 0);
    os_state st;
    uint64_t seq;
    assert_int_equal(storage_load(&st, &seq), OS_ERR_INTERNAL);
}

static void test_round_trip(void **unused) {
    os_state in, out;
    uint64_t seq = 0, loaded = 0;
    (void)unused;
    make_state(&in, 5);
    assert_int_equal(storage_commit(&in, &seq), OS_OK);
    assert_true(seq == 1);
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_true(loaded == 1);
    assert_state_equal(&in, &out);
    /* Explicit little-endian serialization at fixed offsets, not a struct dump. */
    const uint8_t *rec = board_mem_flash_image();
    assert_memory_equal(rec, "OSST", 4);
    assert_int_equal(os_read_le16(rec + 4), STORAGE_FORMAT_VERSION);
    assert_int_equal(os_read_le16(rec + 14), STORAGE_PAYLOAD_BYTES);
    const uint8_t *payload = rec + STORAGE_HEADER_BYTES;
    assert_int_equal(payload[0], 1);
    assert_memory_equal(payload + 4, in.seed, 64);
    assert_true(os_read_le64(payload + 4 + 64 + 32 + 32) == in.policy.per_payout_cap);
    assert_true(os_read_le64(payload + 4 + 64 + 32 + 32 + OS_POLICY_BYTES) == in.velocity_spent);
    assert_true(os_read_le64(payload + 4 + 64 + 32 + 32 + OS_POLICY_BYTES + 8) == in.fee_spent);
    uint8_t hash[32];
    crypto_sha256(rec, STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, hash);
    assert_memory_equal(hash, rec + STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, 32);
}

/* Records fill a sector's slots in order, then the other sector's; a sector is erased only when
 * the next record needs it again (issue 10, defect 7: no erase per commit). */
static void test_slots_fill_then_alternate(void **unused) {
    os_state st, out;
    uint64_t seq = 0, loaded;
    (void)unused;
    assert_int_equal(storage_slots_per_sector(), SLOTS);
    assert_true(SLOTS >= 2);
    for (uint32_t i = 1; i <= 3 * SLOTS + 2; i++) {
        make_state(&st, i);
        assert_int_equal(storage_commit(&st, &seq), OS_OK);
        assert_true(seq == i);
        uint32_t sector = ((i - 1) / SLOTS) % 2, slot = (i - 1) % SLOTS;
        assert_true(record_seq_at(sector, slot) == i);
        /* the previous record is untouched (in the slot before, or the other sector's last) */
        if (i > 1) {
            assert_true(slot > 0 ? record_seq_at(sector, slot - 1) == i - 1
                                 : record_seq_at(1 - sector, SLOTS - 1) == i - 1);
        }
        assert_int_equal(storage_load(&out, &loaded), OS_OK);
        assert_true(loaded == i);
        assert_state_equal(&st, &out);
    }
    /* Two writes a commit (record, commit word); an erase only where a sector was started a second
     * time: at commits 2 * SLOTS + 1 and 3 * SLOTS + 1. */
    assert_int_equal(board_mem_flash_ops(), 2 * (3 * SLOTS + 2) + 2);
    assert_int_equal(board_mem_sector_erases(0) + board_mem_sector_erases(1), 2);
}

/* Commits states 1..N over a state committed before; a power cut at op k of the sequence, for
 * every k, must leave the last committed state or the one being committed, never anything else. */
#define N_COMMITS (2 * SLOTS + 2)   /* crosses both sectors and one erase */
typedef struct {
    uint64_t seq;
    uint32_t in_progress;   /* the commit running when the cut came; N_COMMITS + 1 when done */
} commit_run;

static void commit_sequence(void *ctx) {
    commit_run *run = ctx;
    os_state st;
    for (uint32_t i = 1; i <= N_COMMITS; i++) {
        run->in_progress = i;
        make_state(&st, i);
        assert_int_equal(storage_commit(&st, &run->seq), OS_OK);
    }
    run->in_progress = N_COMMITS + 1;
}

static void test_power_cut_at_every_operation(void **unused) {
    (void)unused;
    uint32_t cases = 0, newer = 0, older = 0, total_ops;
    {
        /* A clean run counts the flash operations of the sequence. */
        os_state st;
        commit_run run = {0, 0};
        board_mem_reset(FLASH, SECTOR);
        make_state(&st, 0);
        assert_int_equal(storage_commit(&st, &run.seq), OS_OK);
        uint32_t before = board_mem_flash_ops();
        commit_sequence(&run);
        total_ops = board_mem_flash_ops() - before;
        assert_int_equal(total_ops, 2 * N_COMMITS + 1);
    }
    for (uint64_t tear_seed = 0; tear_seed < 6; tear_seed++) {
        for (uint32_t k = 1; k <= total_ops + 1; k++) {
            os_state st, loaded_state, expect_old, expect_new;
            uint64_t loaded_seq = 0;
            commit_run run = {0, 0};
            board_mem_reset(FLASH, SECTOR);
            board_mem_seed_random(tear_seed);
            make_state(&st, 0);
            assert_int_equal(storage_commit(&st, &run.seq), OS_OK);
            board_mem_set_power_cut(k);
            int was_cut = board_mem_run_until_cut(commit_sequence, &run);
            assert_int_equal(was_cut, k <= total_ops);
            /* Reboot. */
            assert_int_equal(storage_load(&loaded_state, &loaded_seq), OS_OK);
            if (!was_cut) {
                make_state(&expect_new, N_COMMITS);
                assert_state_equal(&loaded_state, &expect_new);
                continue;
            }
            make_state(&expect_old, run.in_progress - 1);
            make_state(&expect_new, run.in_progress);
            if (states_equal(&loaded_state, &expect_new)) {
                assert_true(loaded_seq == run.in_progress + 1);
                newer++;
            } else {
                assert_state_equal(&loaded_state, &expect_old);
                assert_true(loaded_seq == run.in_progress);
                older++;
            }
            /* The device goes on from whatever survived. */
            make_state(&st, 100);
            assert_int_equal(storage_commit(&st, &loaded_seq), OS_OK);
            assert_int_equal(storage_load(&loaded_state, &loaded_seq), OS_OK);
            assert_state_equal(&loaded_state, &st);
            cases++;
        }
    }
    assert_int_equal(cases, 6 * total_ops);
    /* Both outcomes occurred: the tearing really produced old and new states. */
    assert_true(newer > 0 && older > 0);
}

static void first_commit(void *ctx) {
    os_state st;
    uint64_t seq = 0;
    (void)ctx;
    make_state(&st, 1);
    (void)storage_commit(&st, &seq);
}

/* The first commit on factory-blank flash has no older record to fall back to: its sector is not
 * erased (it is blank), and until the commit word is written a torn record counts as never
 * written. So a cut there leaves the blank device or the new record, never a corrupt store. */
static void test_power_cut_during_first_commit(void **unused) {
    (void)unused;
    uint32_t blank = 0, committed = 0;
    for (uint64_t tear_seed = 0; tear_seed < 16; tear_seed++) {
        for (uint32_t k = 1; k <= 2; k++) {
            os_state st, out;
            uint64_t loaded = 0;
            board_mem_reset(FLASH, SECTOR);
            board_mem_seed_random(tear_seed);
            make_state(&st, 1);
            board_mem_set_power_cut(k);
            assert_int_equal(board_mem_run_until_cut(first_commit, NULL), 1);
            assert_int_equal(storage_load(&out, &loaded), OS_OK);
            if (loaded == 0) {
                assert_int_equal(out.initialized, 0);
                blank++;
            } else {
                assert_true(loaded == 1);
                assert_state_equal(&out, &st);
                committed++;
            }
            /* and the device commits normally afterwards */
            make_state(&st, 2);
            assert_int_equal(storage_commit(&st, &loaded), OS_OK);
            assert_int_equal(storage_load(&out, &loaded), OS_OK);
            assert_state_equal(&out, &st);
        }
    }
    assert_true(blank > 0);
    assert_true(committed > 0);
}

static void wipe_fn(void *ctx) {
    (void)ctx;
    assert_int_equal(storage_wipe(), OS_OK);
}

/* A cut during a wipe leaves the old state, the blank device, or (a torn state sector beside an
 * erased one) a corrupt one that the next wipe clears; never a mix of states. */
static void test_power_cut_during_wipe(void **unused) {
    (void)unused;
    const uint32_t n_ops = FLASH / SECTOR;
    for (uint64_t tear_seed = 0; tear_seed < 4; tear_seed++) {
        for (uint32_t k = 1; k <= n_ops; k++) {
            os_state a, b, out;
            uint64_t seq = 0, loaded;
            board_mem_reset(FLASH, SECTOR);
            board_mem_seed_random(tear_seed);
            make_state(&a, 1);
            make_state(&b, 2);
            assert_int_equal(storage_commit(&a, &seq), OS_OK);
            assert_int_equal(storage_commit(&b, &seq), OS_OK);
            board_mem_set_power_cut(k);
            assert_int_equal(board_mem_run_until_cut(wipe_fn, NULL), 1);
            int status = storage_load(&out, &loaded);
            if (status == OS_OK && loaded == 2) {
                assert_state_equal(&out, &b);
            } else if (status == OS_OK && loaded == 1) {
                assert_state_equal(&out, &a);
            } else if (status == OS_OK) {
                assert_true(loaded == 0);
                assert_int_equal(out.initialized, 0);
            } else {
                assert_int_equal(status, OS_ERR_STORAGE_CORRUPT);
            }
            assert_int_equal(storage_wipe(), OS_OK);
            assert_int_equal(storage_load(&out, &loaded), OS_OK);
            assert_true(loaded == 0);
        }
    }
}


static void torn_write_fn(void *ctx) {
    assert_int_equal(board_flash_write(0, ctx, 64), OS_OK);
}

/* The test board itself: NOR semantics, torn operations within them, the op counter. */
static void test_board_mem_flash_model(void **unused) {
    uint8_t buf[16], data[16];
    (void)unused;
    assert_int_equal(board_flash_size(), FLASH);
    assert_int_equal(board_flash_sector_size(), SECTOR);
    memset(data, 0xF0, sizeof data);
    assert_int_equal(board_flash_write(10, data, sizeof data), OS_OK);
    memset(data, 0x3C, sizeof data);
    assert_int_equal(board_flash_write(10, data, sizeof data), OS_OK);
    assert_int_equal(board_flash_read(10, buf, sizeof buf), OS_OK);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0x30);   /* AND */
    assert_int_equal(board_mem_flash_ops(), 2);
    assert_int_equal(board_flash_erase(0), OS_OK);
    assert_int_equal(board_flash_read(10, buf, sizeof buf), OS_OK);
    for (size_t i = 0; i < sizeof buf; i++) assert_int_equal(buf[i], 0xFF);
    assert_int_equal(board_flash_read(FLASH - 8, buf, 16), OS_ERR_ARG);
    assert_int_equal(board_flash_write(FLASH, data, 1), OS_ERR_ARG);
    assert_int_equal(board_flash_erase(FLASH / SECTOR), OS_ERR_ARG);
    /* A torn write only ever clears bits the data clears. */
    for (uint64_t seed = 0; seed < 32; seed++) {
        uint8_t before[64], after[64], w[64];
        board_mem_reset(FLASH, SECTOR);
        board_mem_seed_random(seed);
        uint8_t *img = board_mem_flash_image();
        for (size_t i = 0; i < 64; i++) {
            img[i] = (uint8_t)(0xFF ^ (i * 17));
            w[i] = (uint8_t)(i * 29 + seed);
        }
        memcpy(before, img, 64);
        board_mem_set_power_cut(1);
        assert_int_equal(board_mem_run_until_cut(wipe_fn, NULL), 1);   /* erase 0 tears */
        board_mem_reset(FLASH, SECTOR);
        board_mem_seed_random(seed);
        img = board_mem_flash_image();
        memcpy(img, before, 64);
        board_mem_set_power_cut(1);
        assert_int_equal(board_mem_run_until_cut(torn_write_fn, w), 1);
        memcpy(after, img, 64);
        for (size_t i = 0; i < 64; i++) {
            assert_int_equal(after[i] & (uint8_t)~before[i], 0);          /* no bit raised */
            assert_int_equal((before[i] & w[i]) & (uint8_t)~after[i], 0); /* no extra bit cleared */
        }
        assert_int_equal(board_mem_flash_ops(), 1);
    }
}

static void test_garbage_fails_closed(void **unused) {
    os_state st;
    uint64_t seq = 0;
    uint8_t *img = board_mem_flash_image();
    (void)unused;
    /* Stray bits in a record area whose commit word is unwritten: a write cut before it was
     * committed, so nothing was ever stored there: the device is blank. */
    img[SECTOR + 100] = 0x00;
    assert_int_equal(storage_load(&st, &seq), OS_OK);
    assert_true(seq == 0);
    assert_int_equal(st.initialized, 0);
    /* A commit word written over no valid record is corruption: fail closed. */
    img[SECTOR + STORAGE_RECORD_BYTES] = 0x00;
    assert_int_equal(storage_load(&st, &seq), OS_ERR_STORAGE_CORRUPT);
    assert_true(seq == 0);
    assert_int_equal(st.initialized, 0);

    /* Both records torn after two good commits (slots 0 and 1 of A). */
    board_mem_reset(FLASH, SECTOR);
    make_state(&st, 1);
    assert_int_equal(storage_commit(&st, &seq), OS_OK);
    make_state(&st, 2);
    assert_int_equal(storage_commit(&st, &seq), OS_OK);
    img[STORAGE_HEADER_BYTES + 10] ^= 0x01;
    img[STORAGE_SLOT_BYTES + STORAGE_RECORD_BYTES - 1] ^= 0x80;
    assert_int_equal(storage_load(&st, &seq), OS_ERR_STORAGE_CORRUPT);

    /* Pure garbage in both sectors. */
    uint64_t x = 12345;
    for (uint32_t i = 0; i < 2 * SECTOR; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        img[i] = (uint8_t)(x >> 56);
    }
    assert_int_equal(storage_load(&st, &seq), OS_ERR_STORAGE_CORRUPT);

    /* A committed record that does not verify in a later slot, the rest blank: corruption too. */
    board_mem_reset(FLASH, SECTOR);
    make_state(&st, 1);
    seq = 0;
    assert_int_equal(storage_commit(&st, &seq), OS_OK);
    memcpy(img + SECTOR + (SLOTS - 1) * STORAGE_SLOT_BYTES, img, STORAGE_SLOT_BYTES);
    memset(img, 0xFF, SECTOR);
    assert_int_equal(storage_load(&st, &seq), OS_OK);   /* any slot of either sector is a place */
    assert_true(seq == 1);
    img[SECTOR + (SLOTS - 1) * STORAGE_SLOT_BYTES + 20] ^= 0x04;
    assert_int_equal(storage_load(&st, &seq), OS_ERR_STORAGE_CORRUPT);
}

static void test_bit_flip_in_newest_falls_back(void **unused) {
    os_state older, newer, out;
    uint64_t seq = 0, loaded;
    uint8_t *img = board_mem_flash_image();
    (void)unused;
    make_state(&older, 1);
    make_state(&newer, 2);
    assert_int_equal(storage_commit(&older, &seq), OS_OK);
    assert_int_equal(storage_commit(&newer, &seq), OS_OK);
    uint8_t *rec = img + STORAGE_SLOT_BYTES;   /* seq 2 lives in A's second slot */
    for (uint32_t byte = 0; byte < STORAGE_RECORD_BYTES; byte++) {
        uint8_t bit = (uint8_t)(1u << (byte % 8));
        rec[byte] ^= bit;
        assert_int_equal(storage_load(&out, &loaded), OS_OK);
        assert_true(loaded == 1);
        assert_state_equal(&out, &older);
        rec[byte] ^= bit;
    }
    /* A flip in the older record does not matter while the newest is intact. */
    img[40] ^= 0x10;
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_true(loaded == 2);
    assert_state_equal(&out, &newer);
}

static void test_write_failure_keeps_old_state(void **unused) {
    os_state a, b, out;
    uint64_t seq = 0, loaded;
    (void)unused;
    make_state(&a, 1);
    make_state(&b, 2);
    assert_int_equal(storage_commit(&a, &seq), OS_OK);
    board_mem_fail_flash(1);
    assert_int_equal(storage_commit(&b, &seq), OS_ERR_STORAGE_WRITE);
    assert_true(seq == 1);
    board_mem_fail_flash(0);
    /* Fill both sectors, so the next commit must erase A first. */
    for (uint32_t i = 2; i <= 2 * SLOTS; i++) {
        make_state(&a, i);
        assert_int_equal(storage_commit(&a, &seq), OS_OK);
    }
    board_mem_fail_flash(2);
    assert_int_equal(storage_commit(&b, &seq), OS_ERR_STORAGE_WRITE);
    board_mem_fail_flash(0);
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_true(loaded == 2 * SLOTS);
    assert_state_equal(&out, &a);
    /* A read-back mismatch: an erase that silently did nothing leaves the old records' cleared
     * bits, which the write cannot set again. */
    board_mem_fail_flash(4);
    assert_int_equal(storage_commit(&b, &seq), OS_ERR_STORAGE_WRITE);
    board_mem_fail_flash(0);
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_true(loaded == 2 * SLOTS);
    assert_int_equal(storage_commit(&b, &seq), OS_OK);
    assert_true(seq == 2 * SLOTS + 1);
    /* A caller whose record the flash no longer holds as the newest gets nothing written. */
    uint32_t ops = board_mem_flash_ops();
    seq = 2 * SLOTS + 5;
    assert_int_equal(storage_commit(&b, &seq), OS_ERR_STORAGE_WRITE);
    assert_int_equal(board_mem_flash_ops(), ops);
}

/* A write cut inside a slot leaves it torn; the next commit skips it instead of programming over
 * it, and the one after goes on in order. */
static void test_torn_slot_is_skipped(void **unused) {
    os_state a, b, out;
    uint64_t seq = 0, loaded;
    uint8_t *img = board_mem_flash_image();
    (void)unused;
    make_state(&a, 1);
    make_state(&b, 2);
    assert_int_equal(storage_commit(&a, &seq), OS_OK);
    memset(img + STORAGE_SLOT_BYTES + 100, 0x00, 8);   /* slot 1: a program cut early */
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_true(loaded == 1);
    assert_int_equal(storage_commit(&b, &loaded), OS_OK);
    assert_true(loaded == 2);
    assert_true(record_seq_at(0, 2) == 2);
    for (uint32_t i = 0; i < 8; i++) assert_int_equal(img[STORAGE_SLOT_BYTES + 100 + i], 0x00);
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_state_equal(&out, &b);
}

static void test_commit_refuses_inconsistent_state(void **unused) {
    os_state st;
    uint64_t seq = 0;
    (void)unused;
    make_state(&st, 1);
    st.log_acked_seq = 1;   /* acked beyond the newest entry */
    assert_int_equal(storage_commit(&st, &seq), OS_ERR_ARG);
    make_state(&st, 1);
    st.log_seq = 1;         /* an entry claimed but last_entry/log_head do not match */
    assert_int_equal(storage_commit(&st, &seq), OS_ERR_ARG);
    make_state(&st, 1);
    st.initialized = 2;
    assert_int_equal(storage_commit(&st, &seq), OS_ERR_ARG);
    seq = UINT64_MAX;
    make_state(&st, 1);
    assert_int_equal(storage_commit(&st, &seq), OS_ERR_ARG);
    assert_int_equal(storage_commit(NULL, &seq), OS_ERR_ARG);
    assert_int_equal(storage_load(NULL, &seq), OS_ERR_ARG);
    assert_int_equal(board_mem_flash_ops(), 0);
}

static void test_record_with_log_entry(void **unused) {
    os_state st, out;
    uint64_t seq = 0, loaded;
    uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32], aux[32] = {0}, rnd[32] = {1};
    (void)unused;
    assert_int_equal(crypto_init(rnd), OS_OK);
    crypto_schnorr_key key;
    make_state(&st, 3);
    assert_int_equal(crypto_schnorr_key_load(st.attestation_key, &key), OS_OK);
    assert_int_equal(audit_log_make_entry(&st, &key, OS_LOG_BOOT, NULL, 0, 42, aux, entry, hash), OS_OK);
    audit_log_apply(&st, entry, hash);
    st.log_acked_seq = 1;
    assert_int_equal(storage_commit(&st, &seq), OS_OK);
    assert_int_equal(storage_load(&out, &loaded), OS_OK);
    assert_state_equal(&out, &st);
}

static void test_wipe(void **unused) {
    os_state st;
    uint64_t seq = 0;
    (void)unused;
    make_state(&st, 1);
    assert_int_equal(storage_commit(&st, &seq), OS_OK);
    assert_int_equal(storage_commit(&st, &seq), OS_OK);
    board_mem_flash_image()[FLASH - 1] = 0;
    assert_int_equal(storage_wipe(), OS_OK);
    for (uint32_t i = 0; i < FLASH; i++) assert_int_equal(board_mem_flash_image()[i], 0xFF);
    assert_int_equal(storage_load(&st, &seq), OS_OK);
    assert_true(seq == 0);
    assert_int_equal(st.initialized, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_blank_flash_loads_uninitialized, setup),
        cmocka_unit_test_setup(test_geometry, setup),
        cmocka_unit_test_setup(test_round_trip, setup),
        cmocka_unit_test_setup(test_slots_fill_then_alternate, setup),
        cmocka_unit_test_setup(test_torn_slot_is_skipped, setup),
        cmocka_unit_test_setup(test_power_cut_at_every_operation, setup),
        cmocka_unit_test_setup(test_power_cut_during_first_commit, setup),
        cmocka_unit_test_setup(test_garbage_fails_closed, setup),
        cmocka_unit_test_setup(test_bit_flip_in_newest_falls_back, setup),
        cmocka_unit_test_setup(test_write_failure_keeps_old_state, setup),
        cmocka_unit_test_setup(test_commit_refuses_inconsistent_state, setup),
        cmocka_unit_test_setup(test_record_with_log_entry, setup),
        cmocka_unit_test_setup(test_wipe, setup),
        cmocka_unit_test_setup(test_power_cut_during_wipe, setup),
        cmocka_unit_test_setup(test_board_mem_flash_model, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
