/* oncesign — the hash-chained audit log on the device: building entries and the flash ring.
 * Contracts in audit_log.h. Hashing and verification live in audit_log_verify.c, which touches no
 * board function, so the host's auditor links it without a board. */
#include "audit_log.h"

#include <string.h>

#include "board.h"
#include "bytes.h"
#include "crypto.h"
#include "oncesign/check.h"

int audit_log_make_entry(const os_state *st, const crypto_schnorr_key *attestation, uint8_t type,
                         const uint8_t *payload, size_t payload_len, uint64_t device_ms,
                         const uint8_t aux32[32], uint8_t entry[OS_LOG_ENTRY_BYTES],
                         uint8_t entry_hash[32]) {
    uint8_t buf[OS_LOG_ENTRY_BYTES];
    uint8_t hash[32];
    int status;
    ARG_CHECK(st != NULL && attestation != NULL && aux32 != NULL && entry != NULL && entry_hash != NULL);
    ARG_CHECK(payload != NULL || payload_len == 0);
    ARG_CHECK(type != 0 && payload_len <= OS_LOG_PAYLOAD_MAX);
    ARG_CHECK(st->log_seq != UINT64_MAX);
    memset(buf, 0, sizeof buf);
    buf[AUDIT_LOG_OFF_FORMAT] = AUDIT_LOG_FORMAT;
    buf[AUDIT_LOG_OFF_TYPE] = type;
    os_write_le16(buf + AUDIT_LOG_OFF_PAYLOAD_LEN, (uint16_t)payload_len);
    os_write_le64(buf + AUDIT_LOG_OFF_SEQ, st->log_seq + 1);
    os_write_le64(buf + AUDIT_LOG_OFF_DEVICE_MS, device_ms);
    memcpy(buf + AUDIT_LOG_OFF_PREV, st->log_head, 32);
    if (payload_len > 0) memcpy(buf + AUDIT_LOG_OFF_PAYLOAD, payload, payload_len);
    CHECK_OK(audit_log_entry_hash(buf, hash));
    status = crypto_schnorr_sign(attestation, hash, aux32, buf + AUDIT_LOG_OFF_SIG);
    if (status != OS_OK) return status;
    memcpy(entry, buf, sizeof buf);
    memcpy(entry_hash, hash, sizeof hash);
    return OS_OK;
}

void audit_log_apply(os_state *st, const uint8_t entry[OS_LOG_ENTRY_BYTES],
                     const uint8_t entry_hash[32]) {
    if (st == NULL || entry == NULL || entry_hash == NULL) return;
    st->log_seq = os_read_le64(entry + AUDIT_LOG_OFF_SEQ);
    memcpy(st->log_head, entry_hash, 32);
    memcpy(st->last_entry, entry, OS_LOG_ENTRY_BYTES);
}

/* Ring geometry: the slot of seq and where it sits in flash. */
typedef struct {
    uint32_t first_sector, capacity, per_sector, sector_size;
} ring_geometry;

static int ring_geometry_get(ring_geometry *g) {
    storage_log_geometry(&g->first_sector, &g->capacity);
    VERIFY_CHECK(g->capacity != 0);
    g->sector_size = board_flash_sector_size();
    g->per_sector = g->sector_size / OS_LOG_ENTRY_BYTES;
    VERIFY_CHECK(g->per_sector != 0 && g->capacity % g->per_sector == 0);
    return OS_OK;
}

static uint32_t slot_of_seq(const ring_geometry *g, uint64_t seq) {
    return (uint32_t)((seq - 1) % g->capacity);
}

static uint32_t slot_offset(const ring_geometry *g, uint32_t slot) {
    return g->first_sector * g->sector_size + slot * OS_LOG_ENTRY_BYTES;
}

/* Sets *same to whether the slot of st->log_seq holds exactly st->last_entry. */
static int slot_holds_last_entry(const ring_geometry *g, const os_state *st, int *same) {
    uint8_t buf[OS_LOG_ENTRY_BYTES];
    CHECK_OK(board_flash_read(slot_offset(g, slot_of_seq(g, st->log_seq)), buf, sizeof buf));
    *same = memcmp(buf, st->last_entry, sizeof buf) == 0;
    return OS_OK;
}

int audit_log_can_append(const os_state *st) {
    ring_geometry g;
    uint64_t next;
    int same = 0;
    ARG_CHECK(st != NULL);
    if (st->log_seq == UINT64_MAX) return OS_ERR_LOG_FULL;   /* no seq left for another entry */
    CHECK_OK(ring_geometry_get(&g));
    if (st->log_seq > 0) {
        CHECK_OK(slot_holds_last_entry(&g, st, &same));
        if (!same) return OS_ERR_STORAGE_WRITE;
    }
    next = st->log_seq + 1;
    /* Only a sector's first slot erases; it destroys the previous lap's entries of that sector,
     * seq next - capacity .. next - capacity + per_sector - 1 (the last of them is the newest). */
    if (slot_of_seq(&g, next) % g.per_sector == 0 && next > g.capacity) {
        uint64_t newest_destroyed = next - g.capacity + g.per_sector - 1;
        if (newest_destroyed > st->log_acked_seq) return OS_ERR_LOG_FULL;
    }
    return OS_OK;
}

/* Puts last_entry into its slot: erase first when the slot starts a sector (unless skip_if_same
 * finds the entry already there), program, read back. */
static int ring_put(const os_state *st, int skip_if_same) {
    ring_geometry g;
    uint32_t slot;
    int same = 0, status;
    ARG_CHECK(st != NULL);
    if (st->log_seq == 0) return OS_OK;
    CHECK_OK(ring_geometry_get(&g));
    slot = slot_of_seq(&g, st->log_seq);
    if (skip_if_same) {
        if (slot_holds_last_entry(&g, st, &same) != OS_OK) return OS_ERR_STORAGE_WRITE;
        if (same) return OS_OK;
    }
    if (slot % g.per_sector == 0) {
        status = board_flash_erase(g.first_sector + slot / g.per_sector);
        if (status != OS_OK) return OS_ERR_STORAGE_WRITE;
    }
    status = board_flash_write(slot_offset(&g, slot), st->last_entry, OS_LOG_ENTRY_BYTES);
    if (status != OS_OK) return OS_ERR_STORAGE_WRITE;
    if (slot_holds_last_entry(&g, st, &same) != OS_OK || !same) return OS_ERR_STORAGE_WRITE;
    return OS_OK;
}

int audit_log_ring_write(const os_state *st) {
    return ring_put(st, 0);
}

int audit_log_ring_repair(const os_state *st) {
    return ring_put(st, 1);
}

uint64_t audit_log_oldest_seq(const os_state *st) {
    ring_geometry g;
    uint64_t kept;
    if (st == NULL || st->log_seq == 0 || ring_geometry_get(&g) != OS_OK) return 0;
    /* The newest entry's sector was erased when its first slot was written, so the previous lap's
     * entries after the newest one in that sector are gone; everything else of the last lap stays. */
    kept = (uint64_t)g.capacity - g.per_sector + 1 + slot_of_seq(&g, st->log_seq) % g.per_sector;
    return st->log_seq >= kept ? st->log_seq - kept + 1 : 1;
}

int audit_log_read(const os_state *st, uint64_t seq, uint8_t entry[OS_LOG_ENTRY_BYTES]) {
    ring_geometry g;
    uint8_t buf[OS_LOG_ENTRY_BYTES];
    ARG_CHECK(st != NULL && entry != NULL);
    if (seq == 0 || seq > st->log_seq) return OS_ERR_LOG_RANGE;
    if (seq == st->log_seq) {
        memcpy(entry, st->last_entry, OS_LOG_ENTRY_BYTES);
        return OS_OK;
    }
    CHECK_OK(ring_geometry_get(&g));
    if (seq < audit_log_oldest_seq(st)) return OS_ERR_LOG_RANGE;
    CHECK_OK(board_flash_read(slot_offset(&g, slot_of_seq(&g, seq)), buf, sizeof buf));
    if (buf[AUDIT_LOG_OFF_FORMAT] != AUDIT_LOG_FORMAT ||
        os_read_le64(buf + AUDIT_LOG_OFF_SEQ) != seq) {
        return OS_ERR_STORAGE_CORRUPT;
    }
    memcpy(entry, buf, sizeof buf);
    return OS_OK;
}
