/* oncesign — durable signer state with atomic A/B commits. Contracts in storage.h. */
#include "storage.h"

#include <string.h>

#include "audit_log.h"
#include "board.h"
#include "bytes.h"
#include "codec.h"
#include "crypto.h"
#include "oncesign/check.h"

#define STORAGE_MAGIC 0x5453534Fu   /* "OSST" read as a little-endian u32 */
#define CHUNK 64u                   /* read-back and blank checks go through a small buffer */

/* The geometry the layout needs; 0 when the board's flash cannot hold it. */
static int geometry_ok(void) {
    uint32_t sector = board_flash_sector_size();
    uint32_t size = board_flash_size();
    if (sector < STORAGE_SLOT_BYTES || sector % OS_LOG_ENTRY_BYTES != 0) return 0;
    if (size / sector < STORAGE_MIN_SECTORS) return 0;
    return 1;
}

void storage_log_geometry(uint32_t *first_sector, uint32_t *capacity_entries) {
    uint32_t first = 0, capacity = 0;
    if (geometry_ok()) {
        uint32_t sector = board_flash_sector_size();
        first = STORAGE_LOG_FIRST_SECTOR;
        capacity = (board_flash_size() / sector - STORAGE_LOG_FIRST_SECTOR) * (sector / OS_LOG_ENTRY_BYTES);
    }
    if (first_sector != NULL) *first_sector = first;
    if (capacity_entries != NULL) *capacity_entries = capacity;
}

uint32_t storage_slots_per_sector(void) {
    return geometry_ok() ? board_flash_sector_size() / STORAGE_SLOT_BYTES : 0;
}

static uint32_t slot_offset(uint32_t sector, uint32_t slot) {
    return sector * board_flash_sector_size() + slot * STORAGE_SLOT_BYTES;
}

static int all_zero(const uint8_t *p, size_t len) {
    uint8_t acc = 0;
    size_t i;
    for (i = 0; i < len; i++) acc |= p[i];
    return acc == 0;
}

/* The log fields of a state must describe one consistent chain head; a record that does not is
 * refused on load and never written. */
static int log_fields_consistent(const os_state *st) {
    uint8_t hash[32];
    if (st->log_acked_seq > st->log_seq) return 0;
    if (st->log_seq == 0) {
        return all_zero(st->log_head, sizeof st->log_head) &&
               all_zero(st->last_entry, sizeof st->last_entry);
    }
    if (os_read_le64(st->last_entry + AUDIT_LOG_OFF_SEQ) != st->log_seq) return 0;
    if (audit_log_entry_hash(st->last_entry, hash) != OS_OK) return 0;
    return memcmp(hash, st->log_head, 32) == 0;
}

static int issuers_sane(const os_state *st) {
    uint8_t i;
    if ((st->voucher_flags & (uint8_t)~OS_VOUCHERS_REQUIRED) != 0 || st->n_issuers > OS_MAX_ISSUERS) return 0;
    if (st->voucher_flags != 0 && st->n_issuers == 0) return 0;
    for (i = 1; i < st->n_issuers; i++)
        if (memcmp(st->issuers[i - 1], st->issuers[i], 32) >= 0) return 0;
    return all_zero(&st->issuers[0][0] + 32u * st->n_issuers, (size_t)(OS_MAX_ISSUERS - st->n_issuers) * 32u);
}

/* As SET_OPERATORS' codec admits them: no keys, no quorum; otherwise 1 <= k <= n, keys increasing. */
static int operators_sane(const os_state *st) {
    uint8_t i;
    if (st->n_operators > OS_MAX_OPERATORS) return 0;
    if (st->n_operators == 0 ? st->quorum_k != 0 || st->quorum_threshold != 0
                             : st->quorum_k < 1 || st->quorum_k > st->n_operators)
        return 0;
    for (i = 1; i < st->n_operators; i++)
        if (memcmp(st->operators[i - 1], st->operators[i], 32) >= 0) return 0;
    return all_zero(&st->operators[0][0] + 32u * st->n_operators, (size_t)(OS_MAX_OPERATORS - st->n_operators) * 32u);
}

static int state_sane(const os_state *st) {
    return st->initialized <= 1 && st->test_only_rng <= 1 && issuers_sane(st) && operators_sane(st) &&
           log_fields_consistent(st);
}

int storage_serialize_state(const os_state *st, uint8_t out[STORAGE_PAYLOAD_BYTES]) {
    uint8_t *p = out;
    ARG_CHECK(st != NULL && out != NULL);
    *p++ = st->initialized;
    *p++ = st->network;
    *p++ = st->script_type;
    *p++ = st->test_only_rng;
    memcpy(p, st->seed, 64); p += 64;
    memcpy(p, st->attestation_key, 32); p += 32;
    memcpy(p, st->nonce_root, 32); p += 32;
    if (os_policy_encode(&st->policy, p) != OS_OK) {
        crypto_wipe(out, STORAGE_PAYLOAD_BYTES);
        return OS_ERR_ARG;
    }
    p += OS_POLICY_BYTES;
    os_write_le64(p, st->velocity_spent); p += 8;
    os_write_le64(p, st->fee_spent); p += 8;
    *p++ = st->voucher_flags;
    *p++ = st->n_issuers;
    memcpy(p, st->issuers, sizeof st->issuers); p += sizeof st->issuers;
    *p++ = st->quorum_k;
    *p++ = st->n_operators;
    os_write_le64(p, st->quorum_threshold); p += 8;
    memcpy(p, st->operators, sizeof st->operators); p += sizeof st->operators;
    os_write_le64(p, st->log_seq); p += 8;
    memcpy(p, st->log_head, 32); p += 32;
    os_write_le64(p, st->log_acked_seq); p += 8;
    memcpy(p, st->last_entry, OS_LOG_ENTRY_BYTES); p += OS_LOG_ENTRY_BYTES;
    VERIFY_CHECK((size_t)(p - out) == STORAGE_PAYLOAD_BYTES);
    return OS_OK;
}

static int deserialize_state(const uint8_t in[STORAGE_PAYLOAD_BYTES], os_state *st) {
    const uint8_t *p = in;
    memset(st, 0, sizeof *st);
    st->initialized = *p++;
    st->network = *p++;
    st->script_type = *p++;
    st->test_only_rng = *p++;
    memcpy(st->seed, p, 64); p += 64;
    memcpy(st->attestation_key, p, 32); p += 32;
    memcpy(st->nonce_root, p, 32); p += 32;
    if (os_policy_decode(p, &st->policy) != OS_OK) return OS_ERR_STORAGE_CORRUPT;
    p += OS_POLICY_BYTES;
    st->velocity_spent = os_read_le64(p); p += 8;
    st->fee_spent = os_read_le64(p); p += 8;
    st->voucher_flags = *p++;
    st->n_issuers = *p++;
    memcpy(st->issuers, p, sizeof st->issuers); p += sizeof st->issuers;
    st->quorum_k = *p++;
    st->n_operators = *p++;
    st->quorum_threshold = os_read_le64(p); p += 8;
    memcpy(st->operators, p, sizeof st->operators); p += sizeof st->operators;
    st->log_seq = os_read_le64(p); p += 8;
    memcpy(st->log_head, p, 32); p += 32;
    st->log_acked_seq = os_read_le64(p); p += 8;
    memcpy(st->last_entry, p, OS_LOG_ENTRY_BYTES); p += OS_LOG_ENTRY_BYTES;
    VERIFY_CHECK((size_t)(p - in) == STORAGE_PAYLOAD_BYTES);
    return state_sane(st) ? OS_OK : OS_ERR_STORAGE_CORRUPT;
}

static int build_record(const os_state *st, uint64_t seq, uint8_t rec[STORAGE_RECORD_BYTES]) {
    memset(rec, 0, STORAGE_RECORD_BYTES);
    os_write_le32(rec, STORAGE_MAGIC);
    os_write_le16(rec + 4, STORAGE_FORMAT_VERSION);
    os_write_le64(rec + 6, seq);
    os_write_le16(rec + 14, STORAGE_PAYLOAD_BYTES);
    CHECK_OK(storage_serialize_state(st, rec + STORAGE_HEADER_BYTES));
    crypto_sha256(rec, STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES,
                  rec + STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES);
    return OS_OK;
}

/* Reads the record of one slot and checks everything short of the state's own contents.
 * Returns OS_OK with *seq set, OS_ERR_STORAGE_CORRUPT for anything invalid, or a board error.
 * rec holds the raw record (with secrets) on return; the caller wipes it. */
static int read_record(uint32_t offset, uint8_t rec[STORAGE_RECORD_BYTES], uint64_t *seq) {
    uint8_t hash[32];
    CHECK_OK(board_flash_read(offset, rec, STORAGE_RECORD_BYTES));
    if (os_read_le32(rec) != STORAGE_MAGIC) return OS_ERR_STORAGE_CORRUPT;
    if (os_read_le16(rec + 4) != STORAGE_FORMAT_VERSION) return OS_ERR_STORAGE_CORRUPT;
    if (os_read_le16(rec + 14) != STORAGE_PAYLOAD_BYTES) return OS_ERR_STORAGE_CORRUPT;
    crypto_sha256(rec, STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, hash);
    if (memcmp(hash, rec + STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES, 32) != 0) {
        return OS_ERR_STORAGE_CORRUPT;
    }
    *seq = os_read_le64(rec + 6);
    if (*seq == 0) return OS_ERR_STORAGE_CORRUPT;
    return OS_OK;
}

/* Reads and fully validates one slot's record, deserializing it into st.
 * Returns OS_OK, OS_ERR_STORAGE_CORRUPT, or a board error. */
static int load_slot(uint32_t offset, os_state *st, uint64_t *seq) {
    uint8_t rec[STORAGE_RECORD_BYTES];
    int status = read_record(offset, rec, seq);
    if (status == OS_OK) status = deserialize_state(rec + STORAGE_HEADER_BYTES, st);
    crypto_wipe(rec, sizeof rec);
    if (status != OS_OK) crypto_wipe(st, sizeof *st);
    return status;
}

/* Sets *blank to whether len bytes at offset all read 0xFF. */
static int range_blank(uint32_t offset, uint32_t len, int *blank) {
    uint8_t buf[CHUNK];
    uint32_t off;
    *blank = 1;
    for (off = 0; off < len; off += CHUNK) {
        size_t i, n = (len - off < CHUNK) ? len - off : CHUNK;
        CHECK_OK(board_flash_read(offset + off, buf, n));
        for (i = 0; i < n; i++) {
            if (buf[i] != 0xFF) {
                *blank = 0;
                return OS_OK;
            }
        }
    }
    return OS_OK;
}

/* A slot whose record does not verify and whose commit word was never written holds a write that
 * was cut before it completed: no state was ever committed there, so it counts as empty. A record
 * that does not verify although its commit word was written is corruption. */
static int slot_uncommitted(uint32_t offset, int *uncommitted) {
    uint8_t word[STORAGE_COMMIT_WORD_BYTES];
    size_t i;
    CHECK_OK(board_flash_read(offset + STORAGE_RECORD_BYTES, word, sizeof word));
    *uncommitted = 1;
    for (i = 0; i < sizeof word; i++) *uncommitted &= word[i] == 0xFF;
    return OS_OK;
}

/* Where the newest valid record is: the highest state_seq of all valid slots of both sectors. */
typedef struct {
    int found;
    uint64_t seq;
    uint32_t sector, slot;
} record_pos;

/* Scans every slot of both state sectors. scratch receives (and loses) each record's state.
 * Returns OS_OK with *pos filled (found 0 when no slot holds a valid record), or a board error. */
static int find_newest(record_pos *pos, os_state *scratch) {
    static const uint32_t sectors[2] = { STORAGE_STATE_SECTOR_A, STORAGE_STATE_SECTOR_B };
    uint32_t n_slots = storage_slots_per_sector(), i, slot;
    memset(pos, 0, sizeof *pos);
    for (i = 0; i < 2; i++) {
        for (slot = 0; slot < n_slots; slot++) {
            uint64_t seq = 0;
            int status = load_slot(slot_offset(sectors[i], slot), scratch, &seq);
            crypto_wipe(scratch, sizeof *scratch);
            if (status == OS_ERR_STORAGE_CORRUPT) continue;
            if (status != OS_OK) return status;
            if (!pos->found || seq > pos->seq) {
                pos->found = 1;
                pos->seq = seq;
                pos->sector = sectors[i];
                pos->slot = slot;
            }
        }
    }
    return OS_OK;
}

/* With no valid record anywhere: OS_OK when every slot is blank or holds a write cut before its
 * commit word (the device is blank), OS_ERR_STORAGE_CORRUPT when any slot was committed. */
static int check_nothing_committed(void) {
    static const uint32_t sectors[2] = { STORAGE_STATE_SECTOR_A, STORAGE_STATE_SECTOR_B };
    uint32_t n_slots = storage_slots_per_sector(), i, slot;
    for (i = 0; i < 2; i++) {
        for (slot = 0; slot < n_slots; slot++) {
            int uncommitted = 1;
            CHECK_OK(slot_uncommitted(slot_offset(sectors[i], slot), &uncommitted));
            if (!uncommitted) return OS_ERR_STORAGE_CORRUPT;
        }
    }
    return OS_OK;
}

int storage_load(os_state *st, uint64_t *state_seq) {
    record_pos pos;
    uint64_t seq = 0;
    int status;
    ARG_CHECK(st != NULL && state_seq != NULL);
    memset(st, 0, sizeof *st);
    *state_seq = 0;
    VERIFY_CHECK(geometry_ok());

    /* First pass: which records are valid (each is deserialized and checked, then dropped). */
    CHECK_OK(find_newest(&pos, st));
    if (!pos.found) {
        /* Nothing valid: a blank device, or one whose very first commit was cut (the old state is
         * then "blank", as I2 requires) — or corruption, where the signer fails closed. */
        return check_nothing_committed();
    }
    /* Second pass: the newest record, read and checked again into the caller's buffer. */
    status = load_slot(slot_offset(pos.sector, pos.slot), st, &seq);
    if (status != OS_OK) return status;
    VERIFY_CHECK(seq == pos.seq);
    *state_seq = seq;
    return OS_OK;
}

/* Compares the flash at offset with expected, chunk by chunk. *same is set to 1 when equal.
 * The record carries secrets, hence the constant-time comparison. */
static int flash_equals(uint32_t offset, const uint8_t *expected, size_t len, int *same) {
    uint8_t buf[CHUNK];
    size_t off;
    int status = OS_OK, equal = 1;
    for (off = 0; off < len; off += CHUNK) {
        size_t n = (len - off < CHUNK) ? len - off : CHUNK;
        status = board_flash_read(offset + (uint32_t)off, buf, n);
        if (status != OS_OK) break;
        equal &= crypto_ct_equal(buf, expected + off, n);
    }
    crypto_wipe(buf, sizeof buf);
    *same = (status == OS_OK) && equal;
    return status;
}

/* The first wholly blank slot of sector from slot `from` on; *found 0 when there is none. */
static int first_blank_slot(uint32_t sector, uint32_t from, uint32_t *slot, int *found) {
    uint32_t n_slots = storage_slots_per_sector(), k;
    *found = 0;
    for (k = from; k < n_slots; k++) {
        int blank = 0;
        CHECK_OK(range_blank(slot_offset(sector, k), STORAGE_SLOT_BYTES, &blank));
        if (blank) {
            *slot = k;
            *found = 1;
            return OS_OK;
        }
    }
    return OS_OK;
}

/* Chooses the slot of the next record: the first blank slot after the newest record in its sector
 * (a torn write left behind is skipped, never programmed over); when that sector is full, slot 0
 * of the other sector, which holds only older records and is erased first (unless blank). With no
 * record at all, the first blank slot of A, then of B; only when both are full of torn writes is
 * A erased. *erase says whether the target sector must be erased before programming. */
static int choose_slot(const record_pos *pos, uint32_t *sector, uint32_t *slot, int *erase) {
    int found = 0, blank = 0;
    *erase = 0;
    if (pos->found) {
        CHECK_OK(first_blank_slot(pos->sector, pos->slot + 1, slot, &found));
        if (found) { *sector = pos->sector; return OS_OK; }
        *sector = pos->sector == STORAGE_STATE_SECTOR_A ? STORAGE_STATE_SECTOR_B : STORAGE_STATE_SECTOR_A;
    } else {
        CHECK_OK(first_blank_slot(STORAGE_STATE_SECTOR_A, 0, slot, &found));
        if (found) { *sector = STORAGE_STATE_SECTOR_A; return OS_OK; }
        CHECK_OK(first_blank_slot(STORAGE_STATE_SECTOR_B, 0, slot, &found));
        if (found) { *sector = STORAGE_STATE_SECTOR_B; return OS_OK; }
        *sector = STORAGE_STATE_SECTOR_A;
    }
    /* An interrupted erase of a blank sector must not be able to turn it into garbage. */
    CHECK_OK(range_blank(slot_offset(*sector, 0), board_flash_sector_size(), &blank));
    *erase = !blank;
    *slot = 0;
    return OS_OK;
}

int storage_commit(const os_state *st, uint64_t *state_seq) {
    uint8_t rec[STORAGE_RECORD_BYTES];
    os_state scratch;
    record_pos pos;
    uint64_t next;
    uint32_t sector = 0, slot = 0, offset;
    int status, same = 0, erase = 0;
    ARG_CHECK(st != NULL && state_seq != NULL);
    ARG_CHECK(*state_seq != UINT64_MAX);
    ARG_CHECK(state_sane(st));
    VERIFY_CHECK(geometry_ok());
    status = find_newest(&pos, &scratch);
    crypto_wipe(&scratch, sizeof scratch);
    if (status != OS_OK) return OS_ERR_STORAGE_WRITE;
    /* The caller's record must still be the newest (or a commit reported failed did land after all:
     * its record is then superseded). A newest record older than the caller's means the flash lost
     * it: nothing is written over that. */
    if (pos.found ? pos.seq < *state_seq : *state_seq != 0) return OS_ERR_STORAGE_WRITE;
    if (pos.found && pos.seq == UINT64_MAX) return OS_ERR_STORAGE_WRITE;
    next = (pos.found ? pos.seq : 0) + 1;
    status = choose_slot(&pos, &sector, &slot, &erase);
    if (status != OS_OK) return OS_ERR_STORAGE_WRITE;
    offset = slot_offset(sector, slot);
    status = build_record(st, next, rec);
    if (status != OS_OK) {
        crypto_wipe(rec, sizeof rec);
        return status;
    }
    /* Program the record, then the commit word in a write of its own: a cut before the commit word
     * leaves a record load treats as never written. The newest record is never in the sector
     * erased here, so a cut at any instant leaves it or the new one. */
    if (erase) status = board_flash_erase(sector);
    if (status == OS_OK) status = board_flash_write(offset, rec, sizeof rec);
    if (status == OS_OK) {
        static const uint8_t committed[STORAGE_COMMIT_WORD_BYTES] = { 0 };
        status = board_flash_write(offset + STORAGE_RECORD_BYTES, committed, sizeof committed);
    }
    if (status == OS_OK) status = flash_equals(offset, rec, sizeof rec, &same);
    if (status == OS_OK && same) {
        int uncommitted = 1;
        status = slot_uncommitted(offset, &uncommitted);
        same = !uncommitted;
    }
    crypto_wipe(rec, sizeof rec);
    if (status != OS_OK || !same) return OS_ERR_STORAGE_WRITE;
    *state_seq = next;
    return OS_OK;
}

int storage_wipe(void) {
    uint32_t sector, n_sectors;
    VERIFY_CHECK(geometry_ok());
    n_sectors = board_flash_size() / board_flash_sector_size();
    /* The newest record could be in either sector; both go, then the ring. */
    for (sector = 0; sector < n_sectors; sector++) {
        CHECK_OK(board_flash_erase(sector));
    }
    return OS_OK;
}
