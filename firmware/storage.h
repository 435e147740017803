/* oncesign — durable signer state: wear-levelled A/B commits (I2, commit before release).
 *
 * Flash layout (sectors of board_flash_sector_size() bytes, through boards/board.h only):
 *   sector 0        state sector A  } each a row of STORAGE_SLOT_BYTES slots, one record per slot
 *   sector 1        state sector B  }
 *   sectors 2..N-1  the audit log ring (firmware/audit_log.h), OS_LOG_ENTRY_BYTES per slot
 *
 * A record is, all integers little-endian:
 *   magic "OSST" (4) | format version u16 (1) | state_seq u64 | payload length u16 |
 *   payload (STORAGE_PAYLOAD_BYTES, the explicit serialization of os_state) |
 *   SHA-256 over everything before it (32)
 * followed by a 4-byte commit word (slot offset STORAGE_RECORD_BYTES), zeroed in a write of its own
 * after the record is programmed. The rest of the slot stays erased (0xFF).
 *
 * Why records are appended (issue 10, defect 7): every commit used to erase a state sector, so a
 * host could wear the flash out with refusals, boots and LOG_ACKs, each a commit. Now a commit
 * programs the first blank slot after the newest record; only when its sector is full does the
 * next record go to slot 0 of the other sector, erased first. A sector is erased once per
 * storage_slots_per_sector() commits (6 with 4 KiB sectors, 204 with the STM32F405's 128 KiB),
 * and the two sectors take turns.
 *
 * Why a commit is atomic: the newest record is never erased or programmed over. Appending programs
 * only erased bytes of another slot; the erase when a sector is full hits the other sector, which
 * holds only older records. A power cut during the program leaves that slot torn (hash mismatch)
 * and the previous record still wins at the next storage_load (the newest valid state_seq of all
 * slots); once the program completed, the new record is newer and wins. A torn slot is never
 * programmed again: the next commit takes the next blank slot.
 *
 * The newest audit log entry travels inside the record (last_entry), so the record write is the
 * single commit point for the nonce root, the velocity budget and the log together.
 *
 * Why the commit word: the very first commit on factory-blank flash has no older record to fall
 * back to. A slot whose record does not verify and whose commit word is still erased holds a
 * program that was cut before it completed, so no state was ever stored there: with no valid
 * record anywhere such slots count as empty and the device loads as blank (the old state). A
 * blank sector is never erased before programming, so a cut "erase" cannot turn it into garbage
 * either. A record that does not verify although its commit word was written, with no valid record
 * anywhere, is corruption: fail closed (OS_ERR_STORAGE_CORRUPT).
 *
 * Limit of the scheme: a power cut during storage_wipe can leave garbage and no valid record, which
 * loads as OS_ERR_STORAGE_CORRUPT; the signer keeps WIPE available in that state, so the operator
 * finishes the wipe. Nothing can be signed in between, so no commitment is lost.
 */
#ifndef ONCESIGN_STORAGE_H
#define ONCESIGN_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

typedef struct {
    uint8_t initialized, network, script_type, test_only_rng;
    uint8_t seed[64];              /* BIP39 seed */
    uint8_t attestation_key[32];   /* signs log entries */
    uint8_t nonce_root[32];        /* root of the committed nonce set */
    os_policy policy;
    uint64_t velocity_spent;       /* token bucket state for the velocity cap */
    uint64_t fee_spent;            /* token bucket state for the fee budget */
    uint8_t voucher_flags;         /* OS_VOUCHERS_REQUIRED: a NEW payout needs an issuer's voucher */
    uint8_t n_issuers;             /* registered issuer keys, 0 .. OS_MAX_ISSUERS */
    uint8_t issuers[OS_MAX_ISSUERS][32];   /* BIP340 x-only, strictly increasing; zero beyond n_issuers */
    uint8_t quorum_k;              /* operator approvals a transaction above quorum_threshold needs; 0: none */
    uint8_t n_operators;           /* registered operator keys, 0 .. OS_MAX_OPERATORS */
    uint64_t quorum_threshold;     /* satoshi: payouts totalling more need the quorum (0 with no operators) */
    uint8_t operators[OS_MAX_OPERATORS][32];   /* BIP340 x-only, strictly increasing; zero beyond n_operators */
    uint64_t log_seq;              /* newest log entry's seq, 0 = none */
    uint8_t log_head[32];          /* its entry hash (all zero when log_seq is 0) */
    uint64_t log_acked_seq;        /* host archived everything up to here (<= log_seq) */
    uint8_t last_entry[OS_LOG_ENTRY_BYTES];  /* the newest entry itself (all zero when log_seq is 0) */
} os_state;

#define STORAGE_STATE_SECTOR_A   0u
#define STORAGE_STATE_SECTOR_B   1u
#define STORAGE_LOG_FIRST_SECTOR 2u
#define STORAGE_FORMAT_VERSION   4u     /* 2: the fee budget (policy field and fee_spent); 3: issuers;
                                           4: operators and the quorum */
#define STORAGE_HEADER_BYTES     16u    /* magic 4, version 2, state_seq 8, payload length 2 */
#define STORAGE_PAYLOAD_BYTES    (4u + 64u + 32u + 32u + OS_POLICY_BYTES + 8u + 8u + \
                                  2u + OS_MAX_ISSUERS * 32u + 2u + 8u + OS_MAX_OPERATORS * 32u + \
                                  8u + 32u + 8u + OS_LOG_ENTRY_BYTES)
#define STORAGE_RECORD_BYTES     (STORAGE_HEADER_BYTES + STORAGE_PAYLOAD_BYTES + 32u)
#define STORAGE_COMMIT_WORD_BYTES 4u    /* zeroed in a write of its own once the record is programmed */
/* A record and its commit word, rounded up to 64 bytes (word-aligned for every board's programming). */
#define STORAGE_SLOT_BYTES       ((STORAGE_RECORD_BYTES + STORAGE_COMMIT_WORD_BYTES + 63u) / 64u * 64u)
#define STORAGE_MIN_SECTORS      3u     /* A, B and at least one log sector */

/* Loads the newest valid state record (the highest state_seq of all slots of both sectors).
 * A record is valid when its magic, version, payload length and SHA-256 match, its state_seq is
 * non-zero, its policy decodes, its flags are 0/1, and its log
 * fields are consistent (log_acked_seq <= log_seq; when log_seq > 0, last_entry carries seq
 * log_seq and hashes to log_head; when log_seq is 0, log_head and last_entry are zero).
 * Returns: OS_OK with the newest valid record;
 *          OS_OK with *st zeroed (initialized = 0) and *state_seq = 0 when no slot holds a valid
 *          record and none was committed (blank, or a first write cut before its commit word);
 *          OS_ERR_STORAGE_CORRUPT when no record is valid but a slot's commit word was written
 *          (fail closed: never guess); *st is zeroed then;
 *          OS_ERR_INTERNAL when the board's flash geometry cannot hold the layout;
 *          OS_ERR_IO / OS_ERR_ARG from the board; OS_ERR_ARG on NULL.
 * Out:     st: the state. state_seq: the record's sequence number, the input of storage_commit.
 * Secrets read from flash are wiped from the stack before return.
 */
int storage_load(os_state *st, uint64_t *state_seq);

/* Appends the record newest + 1 in the next blank slot (erasing the other sector first when the
 * newest record's sector is full), then reads it back and compares. The newest record is untouched,
 * so a power cut at any instant leaves the old or the new record valid.
 * Returns: OS_OK once the new record is durable and read back identical; *state_seq is then the new
 *          record's sequence number (*state_seq + 1, or one more than a record of an earlier commit
 *          reported failed that landed after all). OS_ERR_STORAGE_WRITE when the erase, the program
 *          or the read-back failed, or when the newest record on flash is older than *state_seq
 *          (the flash lost it) (*state_seq unchanged; the caller must not release anything that
 *          depended on this commit). OS_ERR_ARG on NULL, when *st would not pass storage_load's
 *          validity checks, or when *state_seq is UINT64_MAX; OS_ERR_INTERNAL for an unusable
 *          flash geometry.
 * In:      st: the state to make durable.
 * In/Out:  state_seq: the sequence number of the newest record (0 on blank flash).
 */
int storage_commit(const os_state *st, uint64_t *state_seq);

/* Erases both state sectors and every sector of the log ring.
 * Returns: OS_OK, or the first failing board status (OS_ERR_IO, OS_ERR_ARG), OS_ERR_INTERNAL for
 *          an unusable geometry. */
int storage_wipe(void);

/* How many state records one state sector holds: a sector is erased once per this many commits.
 * 0 when the flash geometry cannot hold the layout. */
uint32_t storage_slots_per_sector(void);

/* The log ring: its first sector and how many OS_LOG_ENTRY_BYTES entries it holds in total.
 * Both are 0 when the flash geometry cannot hold the layout (fewer than STORAGE_MIN_SECTORS
 * sectors, or a sector smaller than a slot or not a multiple of OS_LOG_ENTRY_BYTES). */
void storage_log_geometry(uint32_t *first_sector, uint32_t *capacity_entries);

/* Serializes st into the payload layout (for tests and the fuzz target).
 * Returns: OS_OK; OS_ERR_ARG on NULL or a policy the codec refuses. */
int storage_serialize_state(const os_state *st, uint8_t out[STORAGE_PAYLOAD_BYTES]);

#endif /* ONCESIGN_STORAGE_H */
