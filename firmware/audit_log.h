/* oncesign — the hash-chained audit log, signed by the attestation key (I5, complete audit).
 *
 * Entry layout (OS_LOG_ENTRY_BYTES = 256, integers little-endian):
 *   0   format u8 (AUDIT_LOG_FORMAT)     1   type u8 (os_log_type)
 *   2   payload_len u16                  4   reserved u32 (0)
 *   8   seq u64 (first entry is 1)       16  device_ms u64 (board_millis at creation)
 *   24  prev_hash 32 (entry hash of seq - 1; zero for seq 1)
 *   56  payload 136 (payload_len bytes, then zero padding)
 *   192 BIP340 signature 64 over entry_hash = TH("oncesign/log", bytes 0..191)
 * where TH(tag, m) = SHA256(SHA256(tag) | SHA256(tag) | m) (BIP340's tagged hash).
 *
 * Life of an entry on the device:
 *   audit_log_can_append → audit_log_make_entry → audit_log_apply (RAM) → storage_commit (the
 *   single commit point: the entry travels inside the state record as last_entry) →
 *   audit_log_ring_write (copy into the ring). At boot, audit_log_ring_repair redoes that copy,
 *   so a power cut between the commit and the copy loses nothing.
 *
 * The ring (storage_log_geometry: first sector, capacity) keeps entry seq in slot
 * (seq - 1) % capacity; the first slot of a sector erases that sector first. It never erases
 * entries the host has not acknowledged (seq > log_acked_seq): audit_log_can_append reports
 * OS_ERR_LOG_FULL instead, and the host must archive and LOG_ACK first.
 *
 * audit_log_entry_hash and audit_log_verify_entry are in audit_log_verify.c, which calls no board
 * function: the host's auditor links them from the core archive without a board.
 */
#ifndef ONCESIGN_AUDIT_LOG_H
#define ONCESIGN_AUDIT_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "storage.h"

/* The entry layout's version, byte 0 of every entry (signed with it). Raised when the header or the
 * meaning of an existing payload changes, so a verifier built for another layout refuses the entry
 * (OS_ERR_LOG_VERSION) instead of misreading it; a new entry type does not raise it (verifiers count
 * types they do not know as "unknown"). */
#define AUDIT_LOG_FORMAT          1u
#define AUDIT_LOG_TAG             "oncesign/log"
#define AUDIT_LOG_OFF_FORMAT      0u
#define AUDIT_LOG_OFF_TYPE        1u
#define AUDIT_LOG_OFF_PAYLOAD_LEN 2u
#define AUDIT_LOG_OFF_RESERVED    4u
#define AUDIT_LOG_OFF_SEQ         8u
#define AUDIT_LOG_OFF_DEVICE_MS   16u
#define AUDIT_LOG_OFF_PREV        24u
#define AUDIT_LOG_OFF_PAYLOAD     56u
#define AUDIT_LOG_OFF_SIG         192u
#define AUDIT_LOG_SIGNED_BYTES    192u

/* Computes entry_hash = TH("oncesign/log", entry[0..192)). Does not look at the fields.
 * Returns: OS_OK; OS_ERR_ARG on NULL.
 * Out:     hash: 32 bytes. */
int audit_log_entry_hash(const uint8_t entry[OS_LOG_ENTRY_BYTES], uint8_t hash[32]);

/* Builds and signs the next entry: seq = st->log_seq + 1, prev_hash = st->log_head, signed with
 * attestation (st->attestation_key, loaded once with crypto_schnorr_key_load). Does not change st
 * (see audit_log_apply) and does not check the ring (see audit_log_can_append).
 * Returns: OS_OK; OS_ERR_ARG on NULL (payload may be NULL when payload_len is 0), type 0,
 *          payload_len > OS_LOG_PAYLOAD_MAX or st->log_seq at UINT64_MAX;
 *          OS_ERR_NOT_INITIALIZED before crypto_init; OS_ERR_INTERNAL when the fresh signature
 *          does not verify.
 * In:      st: current state. attestation: the loaded attestation key. type: os_log_type.
 *          payload, payload_len. device_ms: board_millis().
 *          aux32: 32 bytes of fresh randomness for BIP340 (not NULL).
 * Out:     entry: 256 bytes. entry_hash: its hash (32). Both written only on OS_OK.
 */
int audit_log_make_entry(const os_state *st, const crypto_schnorr_key *attestation, uint8_t type,
                         const uint8_t *payload, size_t payload_len, uint64_t device_ms,
                         const uint8_t aux32[32], uint8_t entry[OS_LOG_ENTRY_BYTES],
                         uint8_t entry_hash[32]);

/* In RAM only: log_seq = the entry's seq, log_head = entry_hash, last_entry = entry. The caller
 * then calls storage_commit and, once that succeeded, audit_log_ring_write.
 * In: entry, entry_hash: from audit_log_make_entry for this st. NULL arguments are ignored. */
void audit_log_apply(os_state *st, const uint8_t entry[OS_LOG_ENTRY_BYTES],
                     const uint8_t entry_hash[32]);

/* Whether one more entry can be appended without erasing unacknowledged entries.
 * Returns: OS_OK; OS_ERR_LOG_FULL when the next entry's slot starts a sector that still holds
 *          entries with seq > st->log_acked_seq (or log_seq is UINT64_MAX); OS_ERR_STORAGE_WRITE when the ring slot of the
 *          newest entry does not hold last_entry (a missed audit_log_ring_write: call
 *          audit_log_ring_repair first, or the ring would get a gap); OS_ERR_INTERNAL for an
 *          unusable flash geometry; OS_ERR_IO from the board; OS_ERR_ARG on NULL. */
int audit_log_can_append(const os_state *st);

/* Copies st->last_entry to its ring slot after a successful storage_commit (erasing the slot's
 * sector first when the slot is the first of its sector), then reads it back. Does nothing when
 * st->log_seq is 0.
 * Returns: OS_OK; OS_ERR_STORAGE_WRITE when the read-back differs or the board failed;
 *          OS_ERR_INTERNAL for an unusable geometry; OS_ERR_ARG on NULL. */
int audit_log_ring_write(const os_state *st);

/* At boot: makes the ring slot of st->last_entry hold exactly that entry. Idempotent: when the
 * slot already holds it, touches nothing; else as audit_log_ring_write (re-programming the same
 * bytes over a torn write is safe on NOR flash; a sector's first slot erases the sector again).
 * Returns: as audit_log_ring_write. */
int audit_log_ring_repair(const os_state *st);

/* Reads entry seq: the newest from st->last_entry, older ones from the ring.
 * Returns: OS_OK; OS_ERR_LOG_RANGE for seq 0, seq > st->log_seq, or seq older than the ring
 *          keeps; OS_ERR_STORAGE_CORRUPT when the ring slot does not hold an entry with that seq;
 *          OS_ERR_INTERNAL for an unusable geometry; OS_ERR_IO from the board; OS_ERR_ARG on NULL.
 * Out:     entry: 256 bytes (not verified: auditors use audit_log_verify_entry). */
int audit_log_read(const os_state *st, uint64_t seq, uint8_t entry[OS_LOG_ENTRY_BYTES]);

/* The oldest seq audit_log_read can still return (0 when the log is empty or the geometry is
 * unusable). Entries oldest..st->log_seq are all readable. */
uint64_t audit_log_oldest_seq(const os_state *st);

/* Verifies one entry for an auditor (also compiled into the host). Checks, in this order, and
 * returns the code of the first failure:
 *   OS_ERR_LOG_VERSION    format byte (the entry layout's version) other than AUDIT_LOG_FORMAT:
 *                         written by a firmware whose layout this verifier does not know
 *   OS_ERR_LOG_FORMAT     type 0, reserved field, payload_len > 136 or non-zero padding after
 *                         the payload
 *   OS_ERR_LOG_SEQ        seq != expected_seq (a gap, a reordering, a repeat)
 *   OS_ERR_LOG_CHAIN      prev_hash != expected_prev (the previous entry was edited or replaced)
 *   OS_ERR_LOG_SIGNATURE  the signature does not verify under attestation_xonly (an edit of any
 *                         signed byte, a forged signature, or the wrong device key)
 * Returns: OS_OK or one of those; OS_ERR_NOT_INITIALIZED before crypto_init; OS_ERR_ARG on NULL.
 * In:      attestation_xonly: the device's BIP340 key (INFO.attestation_pubkey). entry: 256 bytes.
 *          expected_seq: 1 for the first entry, else the previous seq + 1. expected_prev: the
 *          previous entry's hash (32 zero bytes for seq 1).
 * Out:     entry_hash: the entry's hash, for the next link; written only on OS_OK.
 */
int audit_log_verify_entry(const uint8_t attestation_xonly[32],
                           const uint8_t entry[OS_LOG_ENTRY_BYTES], uint64_t expected_seq,
                           const uint8_t expected_prev[32], uint8_t entry_hash[32]);

#endif /* ONCESIGN_AUDIT_LOG_H */
