/* oncesign host — the ledger: one SQLite file holding everything the payout engine must not forget
 * (DESIGN.md I3, I6): gift codes (only SHA-256 of the secret), payouts with their idempotency keys,
 * the hot wallet's coins and their reservations, every transaction from its draft to its
 * confirmations (with the replacement chain), the nonce tree's leaves, and the signer's log entries.
 *
 * Durability: WAL journal, PRAGMA synchronous=FULL (a commit is on disk when it returns: the engine
 * acts on a state only after committing it), foreign keys on. Schema versions are migrations in
 * code (migrations[] in ledger.c), applied in order inside one transaction each, recorded in the
 * schema_version table; a file from any earlier version migrates to the current one, and a file from
 * a LATER version is refused (OS_ERR_DB) rather than guessed at.
 *
 * Thread-safety: one os_ledger may be used from many threads; every function takes the handle's
 * mutex, and functions that change several rows do so in one BEGIN IMMEDIATE transaction, so
 * another process on the same file (the CLI beside the daemon) sees all or nothing (busy timeout 5 s).
 */
#ifndef ONCESIGN_HOST_LEDGER_H
#define ONCESIGN_HOST_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "oncesign/protocol.h"

#define OS_LEDGER_SCHEMA_VERSION 2

typedef struct os_ledger os_ledger;

/* Opens (creating when missing), checks (PRAGMA quick_check) and migrates the ledger to
 * OS_LEDGER_SCHEMA_VERSION.
 * Returns: OS_OK; OS_ERR_DB (err holds SQLite's message; also for a file newer than this build, and
 *          for a corrupt ledger: err then says "is corrupt" and what quick_check found). */
int os_ledger_open(const char *path, os_ledger **out, char *err, size_t cap);

/* Like os_ledger_open but migrates only up to target_version (tests build v1 files with it). */
int os_ledger_open_version(const char *path, int target_version, os_ledger **out, char *err, size_t cap);

void os_ledger_close(os_ledger *l);

/* The schema version the file is at. */
int os_ledger_schema_version(os_ledger *l, int *version);

/* The connection and its mutex, for the engine's multi-statement transactions. Hold the lock
 * around every use of the connection. */
sqlite3 *os_ledger_db(os_ledger *l);
void os_ledger_lock(os_ledger *l);
void os_ledger_unlock(os_ledger *l);

/* Transactions on a locked ledger. begin is BEGIN IMMEDIATE (the write lock up front, so a
 * compare-and-set cannot lose to another writer between its read and its write).
 * Returns: OS_OK or OS_ERR_DB. rollback never fails visibly. */
int os_ledger_begin(os_ledger *l);
int os_ledger_commit(os_ledger *l);
void os_ledger_rollback(os_ledger *l);

/* One statement without results on a locked ledger. Returns OS_OK or OS_ERR_DB. */
int os_ledger_exec(os_ledger *l, const char *sql);

/* Counts every successful commit through this handle (a metric). */
uint64_t os_ledger_commits(os_ledger *l);

/* ---- meta: small named values (attestation key, counters), schema v2 ---- */
int os_ledger_meta_get(os_ledger *l, const char *key, uint8_t *val, size_t cap, size_t *len); /* NOT_FOUND */
int os_ledger_meta_put(os_ledger *l, const char *key, const uint8_t *val, size_t len);         /* locked */

/* Status numbers stored in the transactions table. */
typedef enum {
    OS_TX_SIGNING = 1,      /* draft stored; the signer may or may not have committed it */
    OS_TX_SIGNED = 2,       /* raw + txid stored; not yet known to the node */
    OS_TX_BROADCAST = 3,    /* the node has accepted it */
    OS_TX_CONFIRMED = 4,    /* in a block (confirmations column) */
    OS_TX_RELEASED = 5,     /* never committed by the signer: its coins and payouts were released */
    OS_TX_REPLACED = 6,     /* a replacement of it confirmed, or it can never confirm */
    OS_TX_AWAITING = 7,     /* draft stored; the signer waits for the operator */
} os_tx_state;

/* Coin states. */
enum { OS_COIN_AVAILABLE = 0, OS_COIN_RESERVED = 1, OS_COIN_SPENT = 2 };

#endif /* ONCESIGN_HOST_LEDGER_H */
