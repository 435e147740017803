/* Tests of firmware/audit_log.c: entry format and BIP340 tagged hash, chain verification against
 * every tamper an auditor must detect, the flash ring (wrap with acks, LOG_FULL, repair after
 * power cuts), and reads of every entry still on the device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/sha256.h>

#include "audit_log.h"
#include "bytes.h"
#include "crypto.h"
#include "storage.h"
#include "support/board_mem.h"

/* Small sectors so the ring wraps quickly: 4 log sectors of 4 entries = 16 entries. */
#define SECTOR 1024u
#define N_SECTORS 6u
#define CAPACITY 16u
#define PER_SECTOR 4u

typedef struct {
    os_state st;
    uint64_t state_seq;
    uint8_t xonly[32];
    crypto_schnorr_key key;    /* st.attestation_key, loaded */
    uint32_t aux_counter;
} device;

static void device_new(device *d) {
    uint8_t rnd[32];
    memset(d, 0, sizeof *d);
    memset(rnd, 0x5A, sizeof rnd);
    assert_int_equal(crypto_init(rnd), OS_OK);
    d->st.initialized = 1;
    memset(d->st.attestation_key, 0x11, 32);
    d->st.policy.per_payout_cap = 1;
    d->st.policy.velocity_cap = 1;
    d->st.policy.velocity_window_s = 1;
    d->st.policy.fee_cap = 1;
    d->st.policy.fee_rate_cap = 1;
    d->st.policy.fee_budget = 1;
    assert_int_equal(crypto_xonly_from_priv(d->st.attestation_key, d->xonly), OS_OK);
    assert_int_equal(crypto_schnorr_key_load(d->st.attestation_key, &d->key), OS_OK);
    assert_int_equal(storage_commit(&d->st, &d->state_seq), OS_OK);
}

/* The signer's append sequence: check, build, apply in RAM, commit, copy to the ring. */
static int append(device *d, uint8_t type) {
    os_state next = d->st;
    uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32], aux[32], payload[OS_LOG_PAYLOAD_MAX];
    size_t len = (size_t)((d->st.log_seq * 37) % (OS_LOG_PAYLOAD_MAX + 1));
    int status = audit_log_can_append(&d->st);
    if (status != OS_OK) return status;
    memset(aux, 0, sizeof aux);
    os_write_le32(aux, ++d->aux_counter);
    for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)(d->st.log_seq + i + 1);
    status = audit_log_make_entry(&d->st, &d->key, type, payload, len, 1000 * d->st.log_seq, aux, entry, hash);
    if (status != OS_OK) return status;
    audit_log_apply(&next, entry, hash);
    status = storage_commit(&next, &d->state_seq);
    if (status != OS_OK) return status;
    d->st = next;
    return audit_log_ring_write(&d->st);
}

static void ack(device *d, uint64_t upto) {
    os_state next = d->st;
    next.log_acked_seq = upto;
    assert_int_equal(storage_commit(&next, &d->state_seq), OS_OK);
    d->st = next;
}

static void reboot(device *d) {
    assert_int_equal(storage_load(&d->st, &d->state_seq), OS_OK);
    assert_int_equal(audit_log_ring_repair(&d->st), OS_OK);
}

/* What an auditor does with an exported log: verify each link from seq `first` (whose
 * predecessor hash is prev) and compare the end with the device's reported head. */
static int audit(const uint8_t xonly[32], const uint8_t (*entries)[OS_LOG_ENTRY_BYTES], size_t n,
                 uint64_t first, const uint8_t prev[32], uint64_t head_seq,
                 const uint8_t head[32]) {
    uint8_t link[32], hash[32];
    memcpy(link, prev, 32);
    for (size_t i = 0; i < n; i++) {
        int status = audit_log_verify_entry(xonly, entries[i], first + i, link, hash);
        if (status != OS_OK) return status;
        memcpy(link, hash, 32);
    }
    if (first + n - 1 != head_seq || memcmp(link, head, 32) != 0) return OS_ERR_LOG_RANGE;
    return OS_OK;
}

/* Reads the window oldest..log_seq from the device and audits it. */
static void audit_device(const device *d) {
    static uint8_t entries[CAPACITY + 1][OS_LOG_ENTRY_BYTES];
    uint64_t oldest = audit_log_oldest_seq(&d->st);
    uint8_t prev[32] = {0};
    size_t n = 0;
    assert_true(oldest >= 1 && oldest <= d->st.log_seq);
    for (uint64_t seq = oldest; seq <= d->st.log_seq; seq++, n++) {
        assert_true(n < CAPACITY + 1);
        assert_int_equal(audit_log_read(&d->st, seq, entries[n]), OS_OK);
    }
    if (oldest > 1) memcpy(prev, entries[0] + AUDIT_LOG_OFF_PREV, 32);   /* archive holds the rest */
    assert_int_equal(audit(d->xonly, (const uint8_t (*)[OS_LOG_ENTRY_BYTES])entries, n, oldest,
                           prev, d->st.log_seq, d->st.log_head), OS_OK);
    assert_int_equal(audit_log_read(&d->st, 0, entries[0]), OS_ERR_LOG_RANGE);
    assert_int_equal(audit_log_read(&d->st, d->st.log_seq + 1, entries[0]), OS_ERR_LOG_RANGE);
    if (oldest > 1) {
        assert_int_equal(audit_log_read(&d->st, oldest - 1, entries[0]), OS_ERR_LOG_RANGE);
    }
}

static int setup(void **unused) {
    (void)unused;
    board_mem_reset(N_SECTORS * SECTOR, SECTOR);
    return 0;
}

static void test_geometry(void **unused) {
    uint32_t first, cap;
    (void)unused;
    storage_log_geometry(&first, &cap);
    assert_int_equal(first, 2);
    assert_int_equal(cap, CAPACITY);
}

static void test_tagged_hash_is_bip340_style(void **unused) {
    uint8_t entry[OS_LOG_ENTRY_BYTES], got[32], want[32], tag[32];
    mbedtls_sha256_context ctx;
    (void)unused;
    for (size_t i = 0; i < sizeof entry; i++) entry[i] = (uint8_t)(i * 11 + 3);
    assert_int_equal(mbedtls_sha256_ret((const unsigned char *)"oncesign/log", 12, tag, 0), 0);
    mbedtls_sha256_init(&ctx);
    assert_int_equal(mbedtls_sha256_starts_ret(&ctx, 0), 0);
    assert_int_equal(mbedtls_sha256_update_ret(&ctx, tag, 32), 0);
    assert_int_equal(mbedtls_sha256_update_ret(&ctx, tag, 32), 0);
    assert_int_equal(mbedtls_sha256_update_ret(&ctx, entry, 192), 0);
    assert_int_equal(mbedtls_sha256_finish_ret(&ctx, want), 0);
    mbedtls_sha256_free(&ctx);
    assert_int_equal(audit_log_entry_hash(entry, got), OS_OK);
    assert_memory_equal(got, want, 32);
    /* The signature bytes are not hashed. */
    memset(entry + 192, 0, 64);
    assert_int_equal(audit_log_entry_hash(entry, got), OS_OK);
    assert_memory_equal(got, want, 32);
}

static void test_entry_layout(void **unused) {
    device d;
    uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32], aux[32] = {7}, out[32];
    const uint8_t payload[5] = {1, 2, 3, 4, 5};
    (void)unused;
    device_new(&d);
    d.st.log_seq = 0x0102030405060708ull - 1;
    memset(d.st.log_head, 0xAB, 32);
    assert_int_equal(audit_log_make_entry(&d.st, &d.key, OS_LOG_SIGN, payload, sizeof payload,
                                          0x1122334455667788ull, aux, entry, hash), OS_OK);
    assert_int_equal(entry[0], 1);
    assert_int_equal(entry[1], OS_LOG_SIGN);
    assert_int_equal(os_read_le16(entry + 2), 5);
    assert_int_equal(os_read_le32(entry + 4), 0);
    assert_true(os_read_le64(entry + 8) == 0x0102030405060708ull);
    assert_true(os_read_le64(entry + 16) == 0x1122334455667788ull);
    assert_memory_equal(entry + 24, d.st.log_head, 32);
    assert_memory_equal(entry + 56, payload, 5);
    for (size_t i = 61; i < 192; i++) assert_int_equal(entry[i], 0);
    assert_int_equal(audit_log_entry_hash(entry, out), OS_OK);
    assert_memory_equal(out, hash, 32);
    assert_int_equal(audit_log_verify_entry(d.xonly, entry, 0x0102030405060708ull, d.st.log_head,
                                            out), OS_OK);
    /* The signature is plain BIP340 over the entry hash, checkable with libsecp256k1 alone. */
    assert_int_equal(crypto_schnorr_verify(d.xonly, hash, entry + 192), OS_OK);
    /* Argument checks. */
    assert_int_equal(audit_log_make_entry(&d.st, &d.key, 0, NULL, 0, 0, aux, entry, hash), OS_ERR_ARG);
    assert_int_equal(audit_log_make_entry(&d.st, &d.key, 1, payload, OS_LOG_PAYLOAD_MAX + 1, 0, aux, entry,
                                          hash), OS_ERR_ARG);
    assert_int_equal(audit_log_make_entry(&d.st, &d.key, 1, NULL, 3, 0, aux, entry, hash), OS_ERR_ARG);
    d.st.log_seq = UINT64_MAX;
    assert_int_equal(audit_log_make_entry(&d.st, &d.key, 1, NULL, 0, 0, aux, entry, hash), OS_ERR_ARG);
}

#define CHAIN 10
static void build_chain(device *d, uint8_t entries[CHAIN][OS_LOG_ENTRY_BYTES]) {
    device_new(d);
    for (int i = 0; i < CHAIN; i++) {
        assert_int_equal(append(d, (uint8_t)(1 + i % 7)), OS_OK);
    }
    for (int i = 0; i < CHAIN; i++) {
        assert_int_equal(audit_log_read(&d->st, (uint64_t)i + 1, entries[i]), OS_OK);
    }
}

static void test_chain_verifies(void **unused) {
    device d;
    static uint8_t entries[CHAIN][OS_LOG_ENTRY_BYTES];
    const uint8_t zero[32] = {0};
    (void)unused;
    build_chain(&d, entries);
    assert_int_equal(audit(d.xonly, (const uint8_t (*)[OS_LOG_ENTRY_BYTES])entries, CHAIN, 1, zero,
                           d.st.log_seq, d.st.log_head), OS_OK);
    audit_device(&d);
}

static void test_every_tamper_is_detected(void **unused) {
    device d;
    static uint8_t entries[CHAIN][OS_LOG_ENTRY_BYTES], t[CHAIN][OS_LOG_ENTRY_BYTES];
    const uint8_t zero[32] = {0};
    const uint64_t head_seq = CHAIN;
    (void)unused;
    build_chain(&d, entries);
#define AUDIT_T(n) audit(d.xonly, (const uint8_t (*)[OS_LOG_ENTRY_BYTES])t, (n), 1, zero, head_seq, \
                         d.st.log_head)
    /* Edit any bit of any byte of any entry. Entry 5 has payload_len 5*37 % 137 = 48. */
    for (int e = 0; e < CHAIN; e++) {
        for (size_t byte = 0; byte < OS_LOG_ENTRY_BYTES; byte++) {
            {
                memcpy(t, entries, sizeof t);
                t[e][byte] ^= (uint8_t)(1u << ((byte + (size_t)e) % 8));
                int status = AUDIT_T(CHAIN);
                assert_int_not_equal(status, OS_OK);
                if (e != 5) continue;
                if (byte == 0) {
                    assert_int_equal(status, OS_ERR_LOG_VERSION);   /* the format version */
                } else if ((byte >= 4 && byte < 8) || (byte >= 56 + 48 && byte < 192)) {
                    assert_int_equal(status, OS_ERR_LOG_FORMAT);
                } else if (byte >= 8 && byte < 16) {
                    assert_int_equal(status, OS_ERR_LOG_SEQ);
                } else if (byte >= 24 && byte < 56) {
                    assert_int_equal(status, OS_ERR_LOG_CHAIN);
                } else if ((byte >= 16 && byte < 24) || (byte >= 56 && byte < 56 + 48) ||
                           byte >= 192) {
                    assert_int_equal(status, OS_ERR_LOG_SIGNATURE);
                }
            }
        }
    }
    /* Reorder two entries. */
    memcpy(t, entries, sizeof t);
    memcpy(t[3], entries[4], OS_LOG_ENTRY_BYTES);
    memcpy(t[4], entries[3], OS_LOG_ENTRY_BYTES);
    assert_int_equal(AUDIT_T(CHAIN), OS_ERR_LOG_SEQ);
    /* Drop one. */
    memcpy(t, entries, sizeof t);
    memmove(t[6], t[7], 3 * OS_LOG_ENTRY_BYTES);
    assert_int_equal(AUDIT_T(CHAIN - 1), OS_ERR_LOG_SEQ);
    /* Drop one and renumber it away: the chain link still breaks. */
    {
        uint8_t renum[OS_LOG_ENTRY_BYTES];
        memcpy(renum, entries[7], sizeof renum);
        os_write_le64(renum + 8, 7);
        memcpy(t, entries, sizeof t);
        memcpy(t[6], renum, sizeof renum);
        assert_int_equal(AUDIT_T(7), OS_ERR_LOG_CHAIN);
    }
    /* Truncate: every link that is left verifies, but the end is not the device's head. */
    memcpy(t, entries, sizeof t);
    assert_int_equal(AUDIT_T(CHAIN - 1), OS_ERR_LOG_RANGE);
    assert_int_equal(audit(d.xonly, (const uint8_t (*)[OS_LOG_ENTRY_BYTES])t, CHAIN - 1, 1, zero,
                           CHAIN - 1, entries[CHAIN - 1] + 24), OS_OK);
    /* Wrong key: another device's key, or an entry re-signed by another key. */
    {
        uint8_t other_priv[32], other_x[32], hash[32], aux[32] = {0};
        memset(other_priv, 0x22, 32);
        assert_int_equal(crypto_xonly_from_priv(other_priv, other_x), OS_OK);
        memcpy(t, entries, sizeof t);
        assert_int_equal(audit(other_x, (const uint8_t (*)[OS_LOG_ENTRY_BYTES])t, CHAIN, 1, zero,
                               head_seq, d.st.log_head), OS_ERR_LOG_SIGNATURE);
        assert_int_equal(audit_log_entry_hash(t[2], hash), OS_OK);
        crypto_schnorr_key other_key;
        assert_int_equal(crypto_schnorr_key_load(other_priv, &other_key), OS_OK);
        assert_int_equal(crypto_schnorr_sign(&other_key, hash, aux, t[2] + 192), OS_OK);
        assert_int_equal(AUDIT_T(CHAIN), OS_ERR_LOG_SIGNATURE);
    }
#undef AUDIT_T
}

static void test_ring_wrap_with_acks(void **unused) {
    device d;
    (void)unused;
    device_new(&d);
    for (uint64_t n = 1; n <= 5 * CAPACITY + 3; n++) {
        assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
        assert_true(d.st.log_seq == n);
        audit_device(&d);
        /* The window: everything of the last lap except what the newest sector's erase took. */
        uint64_t slot = (n - 1) % CAPACITY;
        uint64_t kept = CAPACITY - PER_SECTOR + 1 + slot % PER_SECTOR;
        assert_true(audit_log_oldest_seq(&d.st) == (n > kept ? n - kept + 1 : 1));
        if (n % 3 == 0) ack(&d, n);   /* the host archives every now and then */
        if (n % 7 == 0) {
            reboot(&d);
            audit_device(&d);
        }
    }
}

static void test_log_full_without_acks(void **unused) {
    device d;
    (void)unused;
    device_new(&d);
    for (uint32_t i = 0; i < CAPACITY; i++) assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
    /* Entry 17 would erase the sector holding 1..4. */
    uint32_t ops = board_mem_flash_ops();
    assert_int_equal(append(&d, OS_LOG_SIGN), OS_ERR_LOG_FULL);
    assert_int_equal(board_mem_flash_ops(), ops);
    ack(&d, 3);
    assert_int_equal(audit_log_can_append(&d.st), OS_ERR_LOG_FULL);
    ack(&d, 4);
    assert_int_equal(audit_log_can_append(&d.st), OS_OK);
    assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
    /* 18..20 reuse the erased sector; 21 needs 5..8 acknowledged. */
    for (int i = 0; i < 3; i++) assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
    assert_int_equal(append(&d, OS_LOG_SIGN), OS_ERR_LOG_FULL);
    ack(&d, 20);
    assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
    audit_device(&d);
}

static void test_missed_ring_write_is_caught_and_repaired(void **unused) {
    device d;
    os_state next;
    uint8_t entry[OS_LOG_ENTRY_BYTES], hash[32], aux[32] = {0};
    (void)unused;
    device_new(&d);
    for (int i = 0; i < 3; i++) assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
    next = d.st;
    assert_int_equal(audit_log_make_entry(&d.st, &d.key, OS_LOG_BOOT, NULL, 0, 0, aux, entry, hash), OS_OK);
    audit_log_apply(&next, entry, hash);
    assert_int_equal(storage_commit(&next, &d.state_seq), OS_OK);
    d.st = next;   /* committed, but the ring copy never happened */
    assert_int_equal(audit_log_can_append(&d.st), OS_ERR_STORAGE_WRITE);
    assert_int_equal(audit_log_ring_repair(&d.st), OS_OK);
    assert_int_equal(audit_log_can_append(&d.st), OS_OK);
    /* Repair is idempotent: nothing to do, no flash operation. */
    uint32_t ops = board_mem_flash_ops();
    assert_int_equal(audit_log_ring_repair(&d.st), OS_OK);
    assert_int_equal(board_mem_flash_ops(), ops);
    audit_device(&d);
}

/* Appends entries 13..22 (crossing the wrap at 17 and the sector start at 21) with a power cut at
 * op k, for every k: after the reboot the device holds the entries up to the one being appended
 * (or the one before), the ring is repaired, the whole window audits, and appending goes on. */
typedef struct {
    device *d;
    uint64_t in_progress;
} append_run;

static void append_sequence(void *ctx) {
    append_run *run = ctx;
    for (uint64_t seq = 13; seq <= 22; seq++) {
        run->in_progress = seq;
        assert_int_equal(append(run->d, OS_LOG_SIGN), OS_OK);
    }
    run->in_progress = 23;
}

static void test_power_cut_at_every_operation_of_appends(void **unused) {
    static device d;
    uint32_t total_ops = 0, cases = 0, ring_erase_cuts = 0;
    (void)unused;
    for (uint64_t tear_seed = 0; tear_seed < 3; tear_seed++) {
        for (uint32_t k = 1; ; k++) {
            append_run run = {&d, 0};
            board_mem_reset(N_SECTORS * SECTOR, SECTOR);
            board_mem_seed_random(tear_seed);
            device_new(&d);
            for (int i = 0; i < 12; i++) assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
            ack(&d, 12);
            uint32_t ops_before = board_mem_flash_ops();
            board_mem_set_power_cut(k);
            if (!board_mem_run_until_cut(append_sequence, &run)) {
                total_ops = board_mem_flash_ops() - ops_before;
                break;
            }
            reboot(&d);
            assert_true(d.st.log_seq == run.in_progress || d.st.log_seq == run.in_progress - 1);
            /* Ops: an append is the state sector's erase, the record's write, the commit word's
             * write and the ring write, with the ring sector's erase before the ring write when the
             * slot starts a sector (13, 17, 21): 13 is ops 1-5 (ring erase 4), 14..16 ops 6-17,
             * 17 ops 18-22 (ring erase 21), 18..20 ops 23-34, 21 ops 35-39 (ring erase 38), 22 ops
             * 40-43. A cut in a ring erase comes after the commit: the entry survives and the ring
             * is repaired from last_entry. */
            if (k == 4 || k == 21 || k == 38) {
                assert_true(d.st.log_seq == run.in_progress);
                ring_erase_cuts++;
            }
            audit_device(&d);
            assert_int_equal(append(&d, OS_LOG_BOOT), OS_OK);
            audit_device(&d);
            reboot(&d);
            audit_device(&d);
            cases++;
        }
    }
    assert_int_equal(total_ops, 10 * 4 + 3);
    assert_int_equal(cases, 3 * total_ops);
    assert_int_equal(ring_erase_cuts, 3 * 3);
}

static void test_read_errors(void **unused) {
    device d;
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    (void)unused;
    device_new(&d);
    assert_int_equal(audit_log_read(&d.st, 0, entry), OS_ERR_LOG_RANGE);
    assert_int_equal(audit_log_read(&d.st, 1, entry), OS_ERR_LOG_RANGE);
    assert_true(audit_log_oldest_seq(&d.st) == 0);
    for (int i = 0; i < 4; i++) assert_int_equal(append(&d, OS_LOG_SIGN), OS_OK);
    /* A ring slot that lost its entry reads as corrupt, not as some other entry. */
    board_mem_flash_image()[2 * SECTOR + OS_LOG_ENTRY_BYTES + 8] ^= 0x01;   /* seq 2's seq field */
    assert_int_equal(audit_log_read(&d.st, 2, entry), OS_ERR_STORAGE_CORRUPT);
    assert_int_equal(audit_log_read(&d.st, 1, entry), OS_OK);
    assert_int_equal(audit_log_read(NULL, 1, entry), OS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_geometry, setup),
        cmocka_unit_test_setup(test_tagged_hash_is_bip340_style, setup),
        cmocka_unit_test_setup(test_entry_layout, setup),
        cmocka_unit_test_setup(test_chain_verifies, setup),
        cmocka_unit_test_setup(test_every_tamper_is_detected, setup),
        cmocka_unit_test_setup(test_ring_wrap_with_acks, setup),
        cmocka_unit_test_setup(test_log_full_without_acks, setup),
        cmocka_unit_test_setup(test_missed_ring_write_is_caught_and_repaired, setup),
        cmocka_unit_test_setup(test_power_cut_at_every_operation_of_appends, setup),
        cmocka_unit_test_setup(test_read_errors, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
