/* Fuzz target: an arbitrary flash image → storage_load never crashes, and either fails closed
 * (OS_ERR_STORAGE_CORRUPT, nothing returned) or returns the uninitialised state for a blank state
 * area, or returns a record whose integrity the target re-checks on its own (magic, version,
 * length, SHA-256, the newest of all slots, byte-exact re-serialization). A loaded state is then committed
 * and reloaded, and the log ring is repaired and read, to reach those paths with odd states.
 *
 * The first input byte picks how the image is made:
 *   even: the input is the raw flash image (the rest stays erased);
 *   odd:  the input is a record payload (and header fields) that gets a correct SHA-256, planted
 *         in a slot the input picks, so the checks behind the hash (policy, flags, log
 *         consistency, which slot is newest) are reached too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit_log.h"
#include "board.h"
#include "bytes.h"
#include "crypto.h"
#include "storage.h"

/* The in-memory board of the unit tests. The build links tests/unit/support/ into unit tests
 * only, so the fuzz target compiles it in. */
#include "../unit/support/board_mem.c"

#define SECTOR 2048u   /* three state slots a sector */
#define SLOTS (SECTOR / STORAGE_SLOT_BYTES)
#define N_SECTORS 4u

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

static int all_bytes(const uint8_t *p, size_t len, uint8_t v) {
    for (size_t i = 0; i < len; i++) if (p[i] != v) return 0;
    return 1;
}

/* A record with a correct hash around the given payload bytes (zero-extended). */
static void plant_record(uint8_t *image, uint32_t sector, uint32_t slot, uint64_t seq, uint16_t version,
                         const uint8_t *payload, size_t payload_len) {
    uint8_t *rec = image + sector * SECTOR + slot * STORAGE_SLOT_BYTES;
    memset(rec, 0xFF, STORAGE_SLOT_BYTES);
    os_write_le32(rec, 0x5453534Fu);
    os_write_le16(rec + 4, version);
    os_write_le64(rec + 6, seq);
    os_write_le16(rec + 14, STORAGE_PAYLOAD_BYTES);
    memset(rec + STORAGE_HEADER_BYTES, 0, STORAGE_PAYLOAD_BYTES);
    if (payload_len > 0) {
        memcpy(rec + STORAGE_HEADER_BYTES, payload,
               payload_len < STORAGE_PAYLOAD_BYTES ? payload_len : STORAGE_PAYLOAD_BYTES);
    }
    crypto_sha256(rec, STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES,
                  rec + STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES);
}

/* Whether the slot holds a record with a correct hash (and which seq). */
static int slot_hashes(const uint8_t *rec, uint64_t *seq) {
    uint8_t hash[32];
    if (os_read_le32(rec) != 0x5453534Fu || os_read_le16(rec + 4) != STORAGE_FORMAT_VERSION ||
        os_read_le16(rec + 14) != STORAGE_PAYLOAD_BYTES) return 0;
    crypto_sha256(rec, STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, hash);
    if (memcmp(hash, rec + STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, 32) != 0) return 0;
    *seq = os_read_le64(rec + 6);
    return 1;
}

static void check_loaded(const os_state *st, uint64_t seq) {
    const uint8_t *image = board_mem_flash_image();
    const uint8_t *rec = NULL;
    uint8_t hash[32], payload[STORAGE_PAYLOAD_BYTES];
    /* The loaded state is, byte for byte, a record with a correct hash in some slot. */
    REQUIRE(storage_serialize_state(st, payload) == OS_OK);
    for (uint32_t sector = 0; sector < 2; sector++) {
        for (uint32_t slot = 0; slot < SLOTS; slot++) {
            const uint8_t *r = image + sector * SECTOR + slot * STORAGE_SLOT_BYTES;
            uint64_t s = 0;
            if (rec == NULL && slot_hashes(r, &s) && s == seq &&
                memcmp(payload, r + STORAGE_HEADER_BYTES, sizeof payload) == 0) rec = r;
        }
    }
    REQUIRE(rec != NULL);
    REQUIRE(os_read_le32(rec) == 0x5453534Fu);
    REQUIRE(os_read_le16(rec + 4) == STORAGE_FORMAT_VERSION);
    REQUIRE(os_read_le64(rec + 6) == seq);
    REQUIRE(os_read_le16(rec + 14) == STORAGE_PAYLOAD_BYTES);
    crypto_sha256(rec, STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, hash);
    REQUIRE(memcmp(hash, rec + STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, 32) == 0);
    REQUIRE(storage_serialize_state(st, payload) == OS_OK);
    REQUIRE(memcmp(payload, rec + STORAGE_HEADER_BYTES, sizeof payload) == 0);
    REQUIRE(st->log_acked_seq <= st->log_seq);
    if (st->log_seq > 0) {
        REQUIRE(audit_log_entry_hash(st->last_entry, hash) == OS_OK);
        REQUIRE(memcmp(hash, st->log_head, 32) == 0);
    }
}

static void exercise_ring(const os_state *st) {
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    uint64_t oldest = audit_log_oldest_seq(st);
    int status = audit_log_ring_repair(st);
    /* Repair can only fail on a slot holding bits the fuzzer cleared outside a sector start. */
    REQUIRE(status == OS_OK || status == OS_ERR_STORAGE_WRITE);
    if (status != OS_OK) {
        REQUIRE(audit_log_can_append(st) == OS_ERR_STORAGE_WRITE);
        return;
    }
    status = audit_log_can_append(st);
    REQUIRE(status == OS_OK || status == OS_ERR_LOG_FULL);
    if (st->log_seq == 0) {
        REQUIRE(oldest == 0);
        return;
    }
    REQUIRE(oldest >= 1 && oldest <= st->log_seq);
    for (uint64_t seq = oldest; ; seq++) {   /* log_seq may be UINT64_MAX: no seq <= bound */
        status = audit_log_read(st, seq, entry);
        REQUIRE(status == OS_OK || status == OS_ERR_STORAGE_CORRUPT);
        if (status == OS_OK) REQUIRE(os_read_le64(entry + AUDIT_LOG_OFF_SEQ) == seq);
        if (seq == st->log_seq) break;
    }
    REQUIRE(audit_log_read(st, st->log_seq, entry) == OS_OK);
    REQUIRE(memcmp(entry, st->last_entry, sizeof entry) == 0);
    if (oldest > 1) REQUIRE(audit_log_read(st, oldest - 1, entry) == OS_ERR_LOG_RANGE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    os_state st, again;
    uint64_t seq = 0, seq_again = 0;
    uint8_t *image;
    if (size < 1) return 0;
    board_mem_reset(N_SECTORS * SECTOR, SECTOR);
    image = board_mem_flash_image();
    if ((data[0] & 1u) == 0) {
        size_t n = size - 1 < N_SECTORS * SECTOR ? size - 1 : N_SECTORS * SECTOR;
        memcpy(image, data + 1, n);
    } else {
        /* data: mode | seq (8) | version (1) | placement (1) | payload ...
         * placement: bit 0 sector, bits 1-2 slot (mod SLOTS), bit 3 an older record beside it,
         * bit 4 that one in the other sector (else the next slot of the same one). */
        uint8_t header[10] = {0};
        memcpy(header, data + 1, size - 1 < sizeof header ? size - 1 : sizeof header);
        const uint8_t *payload = size > 11 ? data + 11 : NULL;
        size_t payload_len = size > 11 ? size - 11 : 0;
        uint64_t rseq = os_read_le64(header);
        uint16_t version = (header[8] & 0x80u) ? header[8] : STORAGE_FORMAT_VERSION;
        uint32_t sector = header[9] & 1u, slot = (uint32_t)(header[9] >> 1 & 3u) % SLOTS;
        plant_record(image, sector, slot, rseq, version, payload, payload_len);
        if (header[9] & 8u) {   /* an older, ordinary record beside it */
            uint32_t other_sector = (header[9] & 16u) ? 1u - sector : sector;
            uint32_t other_slot = (header[9] & 16u) ? slot : (slot + 1) % SLOTS;
            plant_record(image, other_sector, other_slot, rseq - 1, STORAGE_FORMAT_VERSION, payload,
                         payload_len / 2);
        }
    }

    int status = storage_load(&st, &seq);
    if (status == OS_ERR_STORAGE_CORRUPT) {
        REQUIRE(seq == 0);
        REQUIRE(all_bytes((const uint8_t *)&st, sizeof st, 0));
        return 0;
    }
    REQUIRE(status == OS_OK);
    if (seq == 0) {
        /* Blank, or records cut before their commit word was written (never committed). */
        for (uint32_t sector = 0; sector < 2; sector++) {
            for (uint32_t slot = 0; slot < SLOTS; slot++) {
                REQUIRE(all_bytes(image + sector * SECTOR + slot * STORAGE_SLOT_BYTES + STORAGE_RECORD_BYTES, 4,
                                  0xFF));
            }
        }
        REQUIRE(all_bytes((const uint8_t *)&st, sizeof st, 0));
        return 0;
    }
    check_loaded(&st, seq);
    exercise_ring(&st);
    /* The loaded state commits and reloads unchanged (unless seq cannot grow). */
    if (seq != UINT64_MAX) {
        REQUIRE(storage_commit(&st, &seq) == OS_OK);
        REQUIRE(storage_load(&again, &seq_again) == OS_OK);
        uint8_t a[STORAGE_PAYLOAD_BYTES], b[STORAGE_PAYLOAD_BYTES];
        REQUIRE(seq_again == seq);
        REQUIRE(storage_serialize_state(&st, a) == OS_OK);
        REQUIRE(storage_serialize_state(&again, b) == OS_OK);
        REQUIRE(memcmp(a, b, sizeof a) == 0);
    }
    crypto_wipe(&st, sizeof st);
    crypto_wipe(&again, sizeof again);
    return 0;
}
