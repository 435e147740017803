/* oncesign host — the ledger: one SQLite file holding everything the payout engine must not forget
 * (docs/DESIGN.md I3, I6): gift codes (only SHA-256 of the secret), payouts with their idempotency keys,
 * the hot wallet's coins and their reservations, every transaction from its draft to its
 * confirmations (with the replacement chain), the nonce tree's leaves, and the signer's log entries.
 *
 * Durability: WAL journal, PRAGMA synchronous=FULL (a commit is on disk when it returns: the engine
 * acts on a state only after committing it), foreign keys on. Schema versions are migrations in
 * code (migrations[] in ledger.c), applied in order inside one transaction each, recorded in the
 * schema_version table; a file from any earlier version migrates to the current one, and a file from
 * a LATER version is refused (OS_ERR_DB) rather than guessed at.
 *
 * This layer owns every SQL statement of the host (a unit test in test_ledger.c fails when a host
 * source outside host/lib/ledger*.c names sqlite3_): the engine, the audit and the CLI call the named
 * operations below and never see a statement.
 *
 * Thread-safety: one os_ledger may be used from many threads; every function takes the handle's
 * (recursive) mutex, and functions that change several rows do so in one transaction (BEGIN
 * IMMEDIATE, or a savepoint inside a transaction the caller opened with os_ledger_begin), so another
 * process on the same file (the CLI beside the daemon) sees all or nothing (busy timeout 5 s).
 * A caller composes several operations into one transaction with os_ledger_lock, os_ledger_begin,
 * the operations, os_ledger_commit (or os_ledger_rollback), os_ledger_unlock.
 */
#ifndef ONCESIGN_HOST_LEDGER_H
#define ONCESIGN_HOST_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "draft.h"
#include "engine.h"
#include "oncesign/protocol.h"

#define OS_LEDGER_SCHEMA_VERSION 11

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

/* The raw connection, for tests that inspect or damage the file; host code never calls it. */
sqlite3 *os_ledger_db(os_ledger *l);

/* The handle's mutex (recursive), held around a composed transaction. */
void os_ledger_lock(os_ledger *l);
void os_ledger_unlock(os_ledger *l);

/* A composed transaction: begin is BEGIN IMMEDIATE (the write lock up front, so a compare-and-set
 * cannot lose to another writer between its read and its write), or a savepoint when one is already
 * open; it takes the handle's lock until the matching commit or rollback.
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
int os_ledger_meta_put(os_ledger *l, const char *key, const uint8_t *val, size_t len);
/* A little-endian 64-bit meta value; a missing key reads as 0. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_meta_u64(os_ledger *l, const char *key, uint64_t *v);
int os_ledger_meta_put_u64(os_ledger *l, const char *key, uint64_t v);

/* ---- the payout / transaction state machine -------------------------------------------------
 *
 * Status numbers stored in the transactions table (payout statuses: os_payout_status, engine.h). */
typedef enum {
    OS_TX_SIGNING = 1,      /* draft stored; the signer may or may not have committed it */
    OS_TX_SIGNED = 2,       /* raw + txid stored; not yet known to the node */
    OS_TX_BROADCAST = 3,    /* the node has accepted it */
    OS_TX_CONFIRMED = 4,    /* in a block (confirmations column) */
    OS_TX_RELEASED = 5,     /* never committed by the signer: its coins and payouts were released */
    OS_TX_REPLACED = 6,     /* a replacement of it confirmed, or it can never confirm */
    OS_TX_AWAITING = 7,     /* draft stored; the signer waits for the operator */
} os_tx_state;

/* What happened to a transaction. Every change of a transaction's state, and of the status of the
 * payouts it carries, is one event applied by os_ledger_tx_transition from one table
 * (tx_transitions[] in ledger_chain.c), which reads:
 *
 *   event             tx from                    tx to       payouts of the tx: from -> to
 *   ----------------  -------------------------  ----------  ----------------------------------------
 *   OPERATOR_WAIT     SIGNING                    AWAITING    signing -> awaiting_approval
 *   SIGNED            SIGNING, AWAITING          SIGNED      signing, awaiting_approval -> signed
 *                       + raw, txid, root_after, log_seq, leaves, tree_seq stored
 *   REFUSED           SIGNING, AWAITING          RELEASED    any -> requested (tx cleared), or failed
 *                       + coins released               for the outputs the signer refused; a payout
 *                                                      whose nonce is committed (a re-anchor) ->
 *                                                      awaiting_reanchor, never requested or failed
 *   BUMP_REFUSED      SIGNING, AWAITING          RELEASED    any -> signed, back on the replaced tx
 *                       + coins back to the replaced tx
 *   SENT              SIGNED, BROADCAST          BROADCAST   signed, broadcast -> broadcast
 *   SEEN              SIGNED, BROADCAST          BROADCAST   signed, broadcast -> broadcast
 *   NOT_SENT          SIGNED, BROADCAST          SIGNED      (unchanged)
 *   FEE_TOO_LOW       SIGNED, BROADCAST          SIGNED      (unchanged)  + needs_bump = 1
 *   UNKNOWN           SIGNED, BROADCAST          SIGNED      (unchanged)
 *   CONFIRMED         SIGNED, BROADCAST,         CONFIRMED   every payout it carries -> confirmed(n)
 *                     CONFIRMED                    + coins of its family spent, family -> REPLACED
 *   INPUT_LOST        SIGNED, BROADCAST          SIGNED      (unchanged: a replacement on the same
 *                       + the lost coins spent (still                  anchor carries them, built from
 *                       its), the others but the anchor released       the worker's NEXT_TO_RESPEND)
 *                       (a foreign transaction spent an input other than the anchor, confirmations_final deep)
 *   REPLACED_BY_OURS  SIGNED, BROADCAST          REPLACED    (unchanged: the confirmed one carries them)
 *   ANCHOR_LOST       SIGNED, BROADCAST          REPLACED    signing, signed, broadcast -> awaiting_reanchor
 *                       (a foreign transaction spent the anchor, confirmations_final deep)
 *   SUPERSEDED        SIGNING, AWAITING          REPLACED    (unchanged: the confirmed sibling carries them)
 *                       (a draft whose family has a CONFIRMED member: it spends the same anchor, so it
 *                       can never confirm) + quorum_wait 0, its approvals dropped, its coins the sibling
 *                       spent -> spent, the others -> available (a respend's new coins come back)
 *
 * Two arrows are not events of an existing transaction: a new draft (os_ledger_tx_draft_create)
 * takes requested payouts to signing, and a replacement (os_ledger_tx_replacement_create) takes the
 * signed/broadcast payouts of the transaction it replaces to signing on the replacement (a fee bump on
 * the same coins, or, after INPUT_LOST, a replacement on the same anchor and other coins).
 * SENT, NOT_SENT, FEE_TOO_LOW and UNKNOWN count a broadcast attempt; every event but FEE_TOO_LOW
 * clears needs_bump (the fee-bump signal is this column, never text). */
typedef enum {
    OS_TXEV_OPERATOR_WAIT = 1,
    OS_TXEV_SIGNED,
    OS_TXEV_REFUSED,
    OS_TXEV_BUMP_REFUSED,
    OS_TXEV_SENT,
    OS_TXEV_SEEN,
    OS_TXEV_NOT_SENT,
    OS_TXEV_FEE_TOO_LOW,
    OS_TXEV_UNKNOWN,
    OS_TXEV_CONFIRMED,
    OS_TXEV_INPUT_LOST,
    OS_TXEV_REPLACED_BY_OURS,
    OS_TXEV_ANCHOR_LOST,
    OS_TXEV_SUPERSEDED,
} os_tx_event;

/* Coin states. */
enum { OS_COIN_AVAILABLE = 0, OS_COIN_RESERVED = 1, OS_COIN_SPENT = 2 };

/* A leaf a committed transaction added to the nonce tree (the engine computes it; the ledger keeps it
 * and records the payout's anchor). script points into the caller's memory. An anchor entry
 * (docs/DESIGN.md §3 "Anchors") is a leaf too: nonce all zero, anchor its outpoint, script empty,
 * amount the number of payouts anchored there. */
typedef struct {
    uint8_t key[32], value[32], nonce[32];
    os_outpoint anchor;
    const uint8_t *script;
    size_t script_len;
    uint64_t amount;
    uint8_t moved;              /* 1: a re-anchored payout: key is committed already, value and anchor
                                   are what it has from this transaction on (a tree_moves row) */
} os_ledger_leaf;

/* What an event carries beyond its name; fields an event does not use are ignored. */
typedef struct {
    int64_t now;                        /* unix seconds: updated_at */
    const char *note;                   /* the transaction's last_error, for the operator ("" clears) */
    /* SIGNED */
    const uint8_t *raw;
    size_t raw_len;
    const uint8_t *txid, *root_after;   /* 32 bytes each */
    uint64_t log_seq;
    const os_ledger_leaf *leaves;
    size_t n_leaves;
    /* REFUSED: the payouts to fail (by nonce), or all of them */
    const uint8_t (*failed_nonces)[32];
    size_t n_failed;
    int fail_all;
    const char *payout_error;           /* REFUSED, ANCHOR_LOST: the payouts' error */
    /* INPUT_LOST: the inputs a foreign transaction spent (never the anchor: input 0) */
    const os_outpoint *lost;
    size_t n_lost;
    /* CONFIRMED */
    uint32_t confirmations;
    uint64_t block_height;
    /* SUPERSEDED: the CONFIRMED transaction of the same family (same anchor) */
    int64_t sibling;
} os_tx_event_data;

/* Applies event ev to transaction row, with the table above, in one transaction.
 * Returns: OS_OK; OS_ERR_NOT_FOUND (no such transaction, or not in a state ev applies to: nothing
 *          changed); OS_ERR_ARG (unknown event, or data missing for it); OS_ERR_DB. */
int os_ledger_tx_transition(os_ledger *l, int64_t row, os_tx_event ev, const os_tx_event_data *d);

/* The table itself, for the documentation test: for event ev, the mask (1 << state) of the states it
 * applies to and the state it leads to. Returns OS_OK or OS_ERR_ARG for an unknown event. */
int os_ledger_tx_event_rule(os_tx_event ev, uint32_t *from_mask, os_tx_state *to);

/* ---- codes and payouts (the service calls) ---- */

typedef struct {
    int64_t row, payout_id, created_at, expires_at;     /* payout_id 0: not redeemed */
    uint64_t amount;
    uint8_t nonce[32];
} os_ledger_code;

int os_ledger_code_insert(os_ledger *l, const uint8_t hash[32], const uint8_t nonce[32], uint64_t amount,
                          int64_t now, int64_t expires_at);
/* Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_code_find(os_ledger *l, const uint8_t hash[32], os_ledger_code *c);
/* The redeem's compare-and-set: binds the code to payout_id only if it has no payout yet.
 * Returns: OS_OK; OS_ERR_DB (already bound, or SQLite failed). */
int os_ledger_code_claim(os_ledger *l, int64_t code_row, int64_t payout_id);

/* Issuer vouchers (issue 14, schema v8), keyed by the nonce they are for.
 * put: stores v for v->nonce inside the caller's transaction. Returns: OS_OK; OS_ERR_DB (also when
 *      the nonce has a voucher already); OS_ERR_MSG_MALFORMED for a voucher out of range.
 * get: Returns: OS_OK with *v; OS_ERR_NOT_FOUND (none for nonce); OS_ERR_DB (also for a stored
 *      blob that does not decode). */
int os_ledger_voucher_put(os_ledger *l, const os_voucher *v);
int os_ledger_voucher_get(os_ledger *l, const uint8_t nonce[32], os_voucher *v);
/* The auditor's view of a signed transaction's vouchers: calls f for each payout leaf a transaction with
 * this commitment inserted (its NEW payouts), in nonce-key order (the signer's output order), with the
 * ledger's voucher for that nonce (NULL when it holds none); f returns OS_OK to go on, anything else
 * stops and is returned.
 * Returns: OS_OK; OS_ERR_DB (also for a stored voucher that does not decode or names another nonce). */
int os_ledger_vouchers_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                     int (*f)(void *ctx, const uint8_t nonce[32], const os_voucher *v), void *ctx);

typedef struct {
    const char *idem_key;               /* NULL for a redemption */
    int64_t code_row;                   /* 0 for an API payout */
    uint8_t params_hash[32], nonce[32];
    uint64_t amount;
    const uint8_t *script;
    size_t script_len;
    const char *address;
    int64_t now;
} os_ledger_new_payout;

/* Inserts a payout in status requested. Returns: OS_OK (*id set); OS_ERR_DB. */
int os_ledger_payout_insert(os_ledger *l, const os_ledger_new_payout *p, int64_t *id);
/* Returns: OS_OK (*id and params_hash set); OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_payout_by_idem(os_ledger *l, const char *idem_key, int64_t *id, uint8_t params_hash[32]);
/* Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_payout_get(os_ledger *l, int64_t id, os_payout_info *out);
/* Payouts with id > after_id, optionally only one status (0: all), at most limit. */
int os_ledger_payout_list(os_ledger *l, os_payout_status status, int64_t after_id, size_t limit,
                          os_payout_info *out, size_t *n);
int os_ledger_payout_counts(os_ledger *l, uint64_t counts[OS_PAYOUT_STATUS_LAST + 1]);
/* An operator cancels a payout that is still waiting for a transaction (requested -> failed, with
 * why as its error), or whose draft is held for the operators' approvals and was never signed (the
 * draft is released: its coins free, its other payouts requested again); one a signing session has
 * started on is the signer's and the chain's to finish.
 * Returns: OS_OK; OS_ERR_NOT_FOUND (no such payout); OS_ERR_BUSY (past requested and not such a
 *          draft: nothing changed); OS_ERR_DB. */
int os_ledger_payout_cancel(os_ledger *l, int64_t id, const char *why, int64_t now);
/* How many payouts are in one status (an index lookup, unlike the counts above). */
int os_ledger_payouts_count(os_ledger *l, os_payout_status status, uint64_t *n);

/* A payout waiting for a transaction, as the worker batches it. */
typedef struct {
    int64_t id;
    uint64_t amount;
    uint8_t nonce[32];
    uint8_t script[OS_MAX_PAYOUT_SCRIPT];
    size_t script_len;
    os_outpoint anchor;         /* awaiting_reanchor: the anchor its nonce is committed with */
} os_ledger_payout_req;

/* The oldest payouts with this status (requested, or awaiting_reanchor), at most max. */
int os_ledger_payouts_waiting(os_ledger *l, os_payout_status status, size_t max, os_ledger_payout_req *out,
                              size_t *n);

/* ---- the hot wallet: addresses and coins ---- */

typedef struct {
    int64_t id;
    os_outpoint op;
    uint64_t amount;
    uint8_t script_type, change;
    uint32_t index;
    uint8_t *prev;                      /* the funding transaction (heap: os_ledger_coins_free) */
    size_t prev_len;
} os_ledger_coin;

/* Available coins that may fund a transaction (confirmed, or our own unconfirmed change), largest
 * first, at most max. */
int os_ledger_coins_spendable(os_ledger *l, size_t max, os_ledger_coin *out, size_t *n);
void os_ledger_coins_free(os_ledger_coin *c, size_t n);
/* Balance of the available coins (confirmed: height > 0). */
int os_ledger_balance(os_ledger *l, uint64_t *confirmed, uint64_t *unconfirmed);

typedef struct {
    os_outpoint op;
    uint64_t amount;
    const uint8_t *script;
    size_t script_len;
    uint8_t script_type, change;
    uint32_t index;
    const uint8_t *prev;
    size_t prev_len;
    uint64_t height;                    /* 0: unconfirmed */
} os_ledger_new_coin;

/* Records a coin (no-op when known) and, when height > 0, its height if it had none. */
int os_ledger_coin_add(os_ledger *l, const os_ledger_new_coin *c);
/* Whether the coin is known; when it is and height > 0, records its height if it had none. */
int os_ledger_coin_seen(os_ledger *l, const os_outpoint *op, uint64_t height, int *known);
/* An available coin the node says is spent, by a transaction oncesignd did not make: it leaves the
 * spendable set. Returns: OS_OK; OS_ERR_NOT_FOUND (no such available coin); OS_ERR_DB. */
int os_ledger_coin_spent_elsewhere(os_ledger *l, int64_t coin_id);

/* The next unused index of a chain (0 receive, 1 change), counted up: call inside a composed
 * transaction with os_ledger_address_add. Returns: OS_OK; OS_ERR_BAD_PATH (chain exhausted); OS_ERR_DB. */
int os_ledger_address_take_index(os_ledger *l, uint8_t change, uint32_t *index);
int os_ledger_address_add(os_ledger *l, uint8_t change, uint32_t index, uint8_t script_type, const char *address,
                          const uint8_t *script, size_t script_len);
/* The newest address of a chain when no coin has ever paid it (a spent coin counts: the ledger keeps
 * spent coins), so a receive address is handed out again until it is used instead of moving the
 * index past a restored wallet's gap limit.
 * Returns: OS_OK with address written; OS_ERR_NOT_FOUND (none yet, or the newest was paid); OS_ERR_DB. */
int os_ledger_address_newest_unused(os_ledger *l, uint8_t change, char address[OS_MAX_ADDRESS + 1]);
/* Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_address_find(os_ledger *l, const char *address, uint8_t *change, uint32_t *index);
typedef char os_ledger_address[OS_MAX_ADDRESS + 1];
/* Addresses not yet imported into the node, at most max. */
int os_ledger_addresses_unimported(os_ledger *l, size_t max, os_ledger_address *out, size_t *n);
int os_ledger_address_mark_imported(os_ledger *l, const char *address);
/* Every address (heap array, freed by the caller), ordered by chain and index. */
int os_ledger_addresses_all(os_ledger *l, os_ledger_address **out, size_t *n);

/* ---- transactions ---- */

/* Stores a new draft in SIGNING with its fee, links the payouts (from -> signing: requested, or
 * awaiting_reanchor for a re-anchor) and reserves the coins, all or nothing. Returns: OS_OK (*row
 * set); OS_ERR_NOT_FOUND (a payout or coin was taken meanwhile: nothing stored); OS_ERR_DB. */
int os_ledger_tx_draft_create(os_ledger *l, const os_sign_tx *tx, uint64_t fee, os_payout_status from,
                              const int64_t *payout_ids, size_t n_payouts, const int64_t *coin_ids, size_t n_coins,
                              int64_t now, int64_t *row);
/* Stores a replacement of old carrying its payouts (signed, broadcast -> signing); the original's
 * change is never spent, old's needs_bump is cleared. coin_ids NULL: a fee bump (same inputs), old's
 * coins move to the replacement. Otherwise the replacement's coins after INPUT_LOST (its input 0 is
 * old's anchor, still reserved by old): the coins old still reserves are released, then these n_coins
 * are reserved (the anchor from old, the others available), all or nothing.
 * Returns: OS_OK (*row set); OS_ERR_NOT_FOUND (a coin was taken meanwhile: nothing stored); OS_ERR_ARG;
 *          OS_ERR_DB. */
int os_ledger_tx_replacement_create(os_ledger *l, int64_t old, const os_sign_tx *tx, uint64_t fee,
                                    const int64_t *coin_ids, size_t n_coins, int64_t now, int64_t *row);
/* Stores a transaction signed outside the payout table (the CLI's PSBT signing) as RELEASED, so a
 * crash mid-signing is explained at start. */
int os_ledger_tx_external_create(os_ledger *l, const os_sign_tx *tx, int64_t now, int64_t *row);

/* The stored draft, decoded (the one place a draft is read). committed: the signer is known to
 * have committed it (root_after stored). Either out pointer may be NULL.
 * Returns: OS_OK (d owned by the caller: os_draft_free); OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_tx_draft(os_ledger *l, int64_t row, os_draft *d, int *committed, uint64_t *fee);
/* The first transaction whose draft has the given commitment (hashPrevouts, transaction digest: a
 * SIGN entry's first 64 payload bytes), with its draft.
 * Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_tx_by_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                               int64_t *row, os_draft *d);
/* The signed raw transaction (heap, freed by the caller) and txid. Returns: OS_OK; OS_ERR_NOT_FOUND. */
int os_ledger_tx_raw(os_ledger *l, int64_t row, uint8_t **raw, size_t *len, uint8_t txid[32]);
/* The signer committed row (its root after; log_seq its SIGN entry, 0 when not known): keeps the
 * leaves and moves the tree's log position (meta tree_seq) to at least tree_seq, in one transaction. */
int os_ledger_tx_committed(os_ledger *l, int64_t row, const uint8_t root_after[32], uint64_t log_seq,
                           uint64_t tree_seq, const os_ledger_leaf *leaves, size_t n_leaves);
/* A fee bump cannot be built (no change to raise it from): note why and clear needs_bump. */
int os_ledger_tx_bump_impossible(os_ledger *l, int64_t row, const char *note, int64_t now);

/* The txids of the other signed transactions spending the same anchor (newest first, at most max). */
int os_ledger_tx_family_txids(os_ledger *l, int64_t row, const os_outpoint *anchor, uint8_t (*txids)[32],
                              size_t max, size_t *n);
/* Whether a replacement of row is still in flight (signing, signed or broadcast). */
int os_ledger_tx_has_live_replacement(os_ledger *l, int64_t row, int *yes);
/* Whether a foreign transaction spent one of row's inputs (INPUT_LOST recorded: a coin it reserved is
 * spent). Returns: OS_OK; OS_ERR_DB. */
int os_ledger_tx_input_lost(os_ledger *l, int64_t row, int *yes);
/* How many payouts the transactions awaiting a replacement after INPUT_LOST (NEXT_TO_RESPEND's queue)
 * carry. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_payouts_awaiting_respend(os_ledger *l, uint64_t *n);
/* Whether row waits for a fee bump (the node refused it for its fee, needs_bump). Returns: OS_OK;
 * OS_ERR_NOT_FOUND (no such row); OS_ERR_DB. */
int os_ledger_tx_needs_bump(os_ledger *l, int64_t row, int *yes);

typedef enum {
    OS_LEDGER_NEXT_TO_SIGN = 1,     /* oldest draft in SIGNING */
    OS_LEDGER_NEXT_AWAITING,        /* oldest draft in AWAITING (the operator was asked), except those
                                       held short of the operators' approvals (quorum_wait 1); neither
                                       queue offers a draft whose family has a CONFIRMED member */
    OS_LEDGER_NEXT_TO_BUMP,         /* oldest SIGNED with needs_bump, no live replacement, change unspent */
    OS_LEDGER_NEXT_UNSENT,          /* oldest SIGNED never offered to the node */
    OS_LEDGER_NEXT_TO_RESPEND,      /* oldest SIGNED after INPUT_LOST, its anchor still reserved by it, no
                                       live replacement */
} os_ledger_queue;
/* The next transaction of a queue. Returns: OS_OK (*row set, 0 when the queue is empty); OS_ERR_DB. */
int os_ledger_tx_next(os_ledger *l, os_ledger_queue q, int64_t *row);

typedef struct {
    int64_t row;
    os_tx_state state;
    uint32_t confirmations;     /* as stored */
} os_ledger_tx_ref;
/* The transactions the reconciler follows: signed, broadcast, or confirmed fewer than final times
 * (heap array, freed by the caller). */
int os_ledger_txs_unsettled(os_ledger *l, uint32_t final_confirmations, os_ledger_tx_ref **out, size_t *n);

/* A draft that can never be signed usefully: a transaction of its family (the same anchor) confirmed. */
typedef struct {
    int64_t row;        /* in SIGNING or AWAITING */
    int64_t sibling;    /* CONFIRMED, the same anchor */
} os_ledger_superseded;

/* Every draft (SIGNING or AWAITING) whose family has a CONFIRMED member, oldest first, each with one
 * such member (heap array, free it; *out NULL when none): what OS_TXEV_SUPERSEDED settles.
 * Returns: OS_OK; OS_ERR_ARG; OS_ERR_IO (no memory); OS_ERR_DB. */
int os_ledger_txs_superseded(os_ledger *l, os_ledger_superseded **out, size_t *n);

/* ---- the nonce tree's leaves and the signer's log archive ---- */

/* Forgets what the ledger records of the signer's nonce set before a rebuild from the archived log:
 * every leaf, the root_after of every draft the signer never signed, and tree_seq (0). Call inside a
 * composed transaction that then records the replayed entries (os_ledger_tx_committed), so a failed
 * rebuild leaves the ledger as it was. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_tree_forget(os_ledger *l);

/* Every leaf at its current value (a re-anchored key's newest move) (two heap arrays, freed by the
 * caller). */
int os_ledger_leaves_load(os_ledger *l, uint8_t (**keys)[32], uint8_t (**values)[32], size_t *n);
/* Calls f for each leaf recorded for a transaction with the given commitment, its inserts first
 * (moved 0), then its re-anchors (moved 1: key is committed, value is its value from then on);
 * f returns OS_OK to go on, anything else stops and is returned. */
int os_ledger_leaves_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                   int (*f)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                                            size_t value_len, int moved),
                                   void *ctx);
/* Calls f for each transaction with the given commitment (oldest first) with its stored raw (NULL
 * when unsigned) and root_after (NULL when unknown); f returns 1 to stop, 0 to go on. */
int os_ledger_txs_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                int (*f)(void *ctx, int64_t row, const uint8_t *raw, size_t raw_len,
                                         const uint8_t *root_after, size_t root_len),
                                void *ctx);
/* The oldest signed transaction with the given commitment. Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_signed_tx_of_commitment(os_ledger *l, const uint8_t hash_prevouts[32], const uint8_t tx_digest[32],
                                      int64_t *row, uint8_t txid[32], os_tx_state *state);
/* Whether a payout or a tree leaf carries this nonce. */
int os_ledger_nonce_known(os_ledger *l, const uint8_t nonce[32], int *known);
/* Whether the tree's leaves hold an anchor entry for this outpoint (a transaction that anchored
 * payouts there was committed). */
int os_ledger_anchor_known(os_ledger *l, const os_outpoint *anchor, int *known);

int os_ledger_signer_log_put(os_ledger *l, uint64_t seq, const uint8_t entry[OS_LOG_ENTRY_BYTES],
                             const uint8_t hash[32]);
/* The newest archived entry's seq and hash. Returns: OS_OK; OS_ERR_NOT_FOUND (empty); OS_ERR_DB. */
int os_ledger_signer_log_head(os_ledger *l, uint64_t *seq, uint8_t hash[32]);
/* The first archived entry after seq `after`. Returns: OS_OK; OS_ERR_NOT_FOUND (none); OS_ERR_DB
 * (also for an entry of the wrong size). */
int os_ledger_signer_log_next(os_ledger *l, uint64_t after, uint64_t *seq, uint8_t entry[OS_LOG_ENTRY_BYTES]);
/* Calls f for every archived entry in order, with its stored size; f returns OS_OK to go on. */
int os_ledger_signer_log_each(os_ledger *l, int (*f)(void *ctx, uint64_t seq, const uint8_t *entry, size_t len),
                              void *ctx);

/* ---- backups (docs/RECOVERY.md) ---- */

/* The marker type, os_backup_marker, is engine.h's. */
/* The meta key naming the newest signer log entry a verified backup holds: the signer's log is
 * acknowledged (LOG_ACK) only up to it once a first backup was taken (docs/RECOVERY.md, "Backup"). */
#define OS_LEDGER_META_BACKUP_LOG_SEQ "backup_log_seq"

/* Writes an online, consistent copy of the ledger to out_path (VACUUM INTO a sibling file ending in
 * ".partial": one read snapshot, writers go on), checks the copy (PRAGMA integrity_check), records
 * the marker in it, syncs it and renames it to out_path; then raises the live ledger's
 * OS_LEDGER_META_BACKUP_LOG_SEQ to the copy's log_seq. The first backup sets that key to the archived
 * head before the snapshot, so no entry the copy lacks is acknowledged meanwhile.
 * Returns: OS_OK (*marker filled); OS_ERR_ARG (out_path exists: never overwritten); OS_ERR_DB or
 *          OS_ERR_IO with err saying why (nothing is left at out_path).
 * In:      now: unix seconds to record. */
int os_ledger_backup(os_ledger *l, const char *out_path, int64_t now, os_backup_marker *marker, char *err,
                     size_t cap);

/* Verifies a backup file without changing it: opens it read-only, PRAGMA integrity_check, reads its
 * marker and recomputes it from the copy's rows and archived log.
 * Returns: OS_OK (*marker filled); OS_ERR_DB with err (unreadable, corrupt, no marker, or a marker
 *          that does not match the contents). */
int os_ledger_backup_verify(const char *path, os_backup_marker *marker, char *err, size_t cap);

/* ---- recovery of a restored ledger (schema v6; docs/RECOVERY.md "Restore") ---- */

/* Meta keys: the recovery's phase (os_recovery_phase, engine.h; 0 none), the first SIGN entry the
 * restored ledger could not explain, the sweep's transaction row. */
#define OS_LEDGER_META_RECOVERY_PHASE "recovery_phase"
#define OS_LEDGER_META_RECOVERY_FROM "recovery_from_seq"
#define OS_LEDGER_META_RECOVERY_SWEEP "recovery_sweep_tx"
/* A replaced signer: the dead device's attestation key, newest archived seq (u64 LE) and head (72 bytes). */
#define OS_LEDGER_META_REPLACED_FROM "replaced_from"
/* Scenario (d), a restored backup on a replaced signer: the dead device's signatures after the backup
 * are found on chain, not in a log: the backup's newest block height + 1 (0: not this scenario). */
#define OS_LEDGER_META_RECOVERY_CHAIN "recovery_from_chain"
/* Scenario (d): the height after the last block the chain scan read to the end (0: none yet); the next
 * pass starts a reorg's depth below it instead of at the backup's height again. */
#define OS_LEDGER_META_RECOVERY_CHAIN_SCANNED "recovery_chain_scanned"
/* The key of a transaction scenario (d) found on chain in recovery_txs (it has no SIGN entry): from
 * this value up, in the order found, above any log seq a device can reach. */
#define OS_LEDGER_RECOVERY_CHAIN_SEQ ((uint64_t)1 << 62)

/* Whether this file is a backup put in place: it carries the marker `ledger backup` wrote (a live
 * ledger never does). Returns: OS_OK; OS_ERR_DB. */
int os_ledger_is_restored_backup(os_ledger *l, int *yes);
/* Forgets that this file was a backup (the signer's log explained it: it is the live ledger now). */
int os_ledger_backup_marker_drop(os_ledger *l);

/* Records a SIGN entry (log_seq, its transaction digest) the restored ledger had no transaction for,
 * and, when txid is not NULL, the transaction found for it on chain or in a mempool (kept once found).
 * Returns: OS_OK; OS_ERR_ARG; OS_ERR_DB. */
int os_ledger_recovery_tx_put(os_ledger *l, uint64_t log_seq, const uint8_t digest[32], const uint8_t *txid,
                              const uint8_t *raw, size_t raw_len, int64_t now);
int os_ledger_recovery_tx_confirmations(os_ledger *l, uint64_t log_seq, uint32_t confirmations);
/* Scenario (d)'s chain scan. txid_known: txid is a transaction of the ledger or one the recovery
 * recorded. coin_known: op is a coin of the ledger, in any state. raw_by_txid: the signed raw of such
 * a transaction (heap, free()), OS_ERR_NOT_FOUND when none. chain_next: the key for the next
 * transaction found on chain (OS_LEDGER_RECOVERY_CHAIN_SEQ up).
 * Returns: OS_OK; OS_ERR_ARG; OS_ERR_DB; OS_ERR_IO (no memory). */
int os_ledger_recovery_txid_known(os_ledger *l, const uint8_t txid[32], int *yes);
int os_ledger_recovery_coin_known(os_ledger *l, const os_outpoint *op, int *yes);
int os_ledger_recovery_raw_by_txid(os_ledger *l, const uint8_t txid[32], uint8_t **raw, size_t *len);
int os_ledger_recovery_chain_next(os_ledger *l, uint64_t *log_seq);
/* Scenario (d)'s deposits (schema v10): a wallet output of a transaction that paid the wallet without
 * spending from it, seen by any pass of the chain scan. deposit_add records op (no-op when recorded);
 * deposit_known: op is one. Returns: OS_OK; OS_ERR_ARG; OS_ERR_DB. */
int os_ledger_recovery_deposit_add(os_ledger *l, const os_outpoint *op);
int os_ledger_recovery_deposit_known(os_ledger *l, const os_outpoint *op, int *yes);
/* Whether a recovery recorded SIGN entry log_seq with that transaction digest (the auditor's cross-check). */
int os_ledger_recovery_tx_recorded(os_ledger *l, uint64_t log_seq, const uint8_t digest[32], int *yes);

typedef struct {
    uint64_t log_seq;
    uint8_t tx_digest[32];
    int found;                          /* txid and raw known */
    uint8_t txid[32];
    uint8_t *raw;                       /* heap (os_ledger_recovery_txs_free) */
    size_t raw_len;
    uint32_t confirmations;
} os_ledger_recovery_tx;
/* Every recorded entry in log order (heap array: os_ledger_recovery_txs_free). */
int os_ledger_recovery_txs(os_ledger *l, os_ledger_recovery_tx **out, size_t *n);
void os_ledger_recovery_txs_free(os_ledger_recovery_tx *t, size_t n);

/* An output of a recovered transaction that pays someone: what it was matched to (payout_id, a
 * payout of the backup or a code's; code_row), 0 when nothing (its key was only in the lost ledger). */
typedef struct {
    uint64_t log_seq;
    uint8_t txid[32];
    uint32_t vout;
    const char *address;
    const uint8_t *script;
    size_t script_len;
    uint64_t amount;
    int64_t payout_id, code_row;
    const char *how;                    /* how it was matched, for the operator */
} os_ledger_recovery_output;
/* Records o (no-op when its outpoint is recorded). Returns: OS_OK; OS_ERR_ARG; OS_ERR_DB. */
int os_ledger_recovery_output_add(os_ledger *l, const os_ledger_recovery_output *o);
int os_ledger_recovery_output_known(os_ledger *l, const uint8_t txid[32], uint32_t vout, int *known);
/* Calls f for each recorded output in log order with its transaction's confirmations; f returns OS_OK
 * to go on. */
int os_ledger_recovery_outputs_each(os_ledger *l,
                                    int (*f)(void *ctx, const os_ledger_recovery_output *o, uint32_t confirmations),
                                    void *ctx);

/* A code the backup holds unredeemed that a recovered payout of its amount may have paid, without
 * proof either way: its redeem is refused (it could pay twice) and it is listed for the backend. */
int os_ledger_recovery_hold_code(os_ledger *l, int64_t code_row, uint64_t log_seq, uint64_t amount);
int os_ledger_code_held(os_ledger *l, int64_t code_row, int *held);
/* Releases the hold on the code whose public id (the first 16 bytes of its SHA-256) is code_id: the
 * backend, which knows whether it redeemed the code after the backup, says it did not.
 * Returns: OS_OK; OS_ERR_NOT_FOUND (no held code has that id); OS_ERR_DB. */
int os_ledger_recovery_release_held(os_ledger *l, const uint8_t code_id[16]);
/* A code's SHA-256 (its public id is the hex of the first 16 bytes). Returns: OS_OK; OS_ERR_NOT_FOUND. */
int os_ledger_code_hash(os_ledger *l, int64_t code_row, uint8_t hash[32]);
/* Calls f for each held code still unredeemed (its hash: the API names it by it). */
int os_ledger_recovery_held_each(os_ledger *l,
                                 int (*f)(void *ctx, const uint8_t code_hash[32], uint64_t amount, uint64_t log_seq),
                                 void *ctx);

/* Candidates for a recovered payout output: unredeemed codes of that amount (not yet matched), and
 * payouts of the backup to that script and amount neither paid nor failed (not yet matched). */
int os_ledger_codes_unredeemed_with_amount(os_ledger *l, uint64_t amount, size_t max, os_ledger_code *out,
                                           size_t *n);
typedef struct {
    int64_t id;
    uint8_t nonce[32];
} os_ledger_payout_candidate;
int os_ledger_payouts_unpaid_to(os_ledger *l, const uint8_t *script, size_t script_len, uint64_t amount, size_t max,
                                os_ledger_payout_candidate *out, size_t *n);

/* A code proven paid by a recovered output o: its payout (confirmed, with the code's nonce) is
 * inserted and bound to the code, and o recorded as paying it, all or nothing.
 * Returns: OS_OK (*payout_id set); OS_ERR_NOT_FOUND (the code was redeemed meanwhile); OS_ERR_DB. */
int os_ledger_recovery_code_paid(os_ledger *l, int64_t code_row, const uint8_t params_hash[32],
                                 const uint8_t nonce[32], const os_ledger_recovery_output *o, int64_t now,
                                 int64_t *payout_id);

/* The block height from which a transaction signed after the backup can be in the chain: the highest
 * the backup recorded (0 when none). */
int os_ledger_recovery_scan_from(os_ledger *l, uint64_t *height);

/* The transactions in SIGNING, AWAITING, SIGNED or BROADCAST other than except_row (heap array). */
int os_ledger_txs_in_flight(os_ledger *l, int64_t except_row, int64_t **rows, size_t *n);

/* The coin at op unless spent (available or reserved), with its funding transaction (free out->prev
 * with os_ledger_coins_free(out, 1)). Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_coin_by_outpoint(os_ledger *l, const os_outpoint *op, os_ledger_coin *out);

/* Stores the sweep's draft (no payouts) over coin_ids, taking each coin from whatever transaction of
 * the old nonce set reserved it, and records it as the recovery's sweep.
 * Returns: OS_OK (*row); OS_ERR_NOT_FOUND (a coin is spent); OS_ERR_DB. */
int os_ledger_recovery_sweep_create(os_ledger *l, const os_sign_tx *tx, uint64_t fee, const int64_t *coin_ids,
                                    size_t n_coins, int64_t now, int64_t *row);

/* The script of the wallet's address change/index. Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_BUFFER. */
int os_ledger_address_script(os_ledger *l, uint8_t change, uint32_t index, uint8_t *script, size_t cap, size_t *len);

/* A device restored from the mnemonic replaces the pinned one (docs/RECOVERY.md, "Replacing the
 * signer"), in one transaction: the archived log moves to signer_log_retired under the old key, the
 * tree's leaves go (the new device's set is empty), new_key is pinned, the backup gate restarts, meta
 * replaced_from records the old key and its newest archived entry, and the recovery starts (confirm).
 * Returns: OS_OK (old_key, *old_seq, old_head: what the new device's NONCE_RESET continues); OS_ERR_DB. */
int os_ledger_signer_replace(os_ledger *l, const uint8_t new_key[32], uint8_t old_key[32], uint64_t *old_seq,
                             uint8_t old_head[32]);

/* Records that the device emptied its set (its NONCE_RESET entry is reset_seq), in one transaction:
 * the tree's leaves and moves go (the tree starts at reset_seq, as the device's does), no sweep is
 * recorded yet, and the phase is SWEEP. The sweep is signed after this, under the empty set: before it
 * the host could not prove the anchors of the signatures the backup lost (PROTOCOL.md "Anchors").
 * Returns: OS_OK; OS_ERR_DB. */
int os_ledger_recovery_reset(os_ledger *l, uint64_t reset_seq);

/* Ends a recovery once the sweep (sweep_row) confirmed, in one transaction: the backup's payouts a
 * recovered output paid are confirmed; every other transaction still in flight is REPLACED (the sweep
 * spent its coins: it can never confirm), its coins spent, and its payouts are requested again
 * (*requeued counts them); the backup marker goes and the phase is 0.
 * Returns: OS_OK; OS_ERR_DB. */
int os_ledger_recovery_finish(os_ledger *l, int64_t sweep_row, int64_t now, uint64_t *requeued);

/* ---- what /metrics reads (docs/API.md "GET /metrics") ---- */
typedef struct {
    int64_t oldest_queued_at;       /* created_at of the oldest payout not yet broadcast; 0: none */
    int64_t oldest_awaiting_since;  /* updated_at of the oldest payout awaiting the operator; 0: none */
    int64_t nonce_set_size;         /* leaves of the ledger's nonce tree: the committed nonces */
} os_ledger_backlog;
/* Returns: OS_OK; OS_ERR_DB. */
int os_ledger_backlog_get(os_ledger *l, os_ledger_backlog *out);

/* ---- API keys (schema v4; docs/API.md "API keys") ---- */

/* What a key may do: one bit per family of endpoints. */
#define OS_SCOPE_ISSUE     0x01u   /* POST /v1/codes */
#define OS_SCOPE_REDEEM    0x02u   /* POST /v1/codes/{code}/redeem, GET /v1/codes/{code} */
#define OS_SCOPE_WITHDRAW  0x04u   /* POST /v1/payouts */
#define OS_SCOPE_READ      0x08u   /* GET /v1/payouts, /v1/payouts/{id}, /v1/wallet, /v1/codes/{code},
                                      /v1/status */
#define OS_SCOPE_OPERATOR  0x10u   /* GET /v1/approvals, POST /v1/payouts/{id}/cancel, GET /v1/device,
                                      POST /v1/device/address, POST /v1/reconcile, GET /v1/status */
#define OS_SCOPE_AUDIT     0x20u   /* GET /v1/log, /v1/log/head, /v1/device, /v1/status */
#define OS_SCOPE_ALL       0x3Fu
/* Not a key's scope: what only the daemon's admin socket may do (POST /v1/tree/rebuild). */
#define OS_SCOPE_ADMIN_ONLY 0x80000000u

typedef struct {
    int64_t id;
    char name[65];
    uint32_t scopes;
    int64_t created_at, revoked_at;     /* revoked_at 0: active */
    uint64_t uses;
} os_apikey_info;

/* Stores a new key by the SHA-256 of its secret. Returns: OS_OK (*id set); OS_ERR_IDEMPOTENCY (the
 * name or the hash exists already); OS_ERR_ARG; OS_ERR_DB. */
int os_ledger_apikey_create(os_ledger *l, const char *name, const uint8_t hash[32], uint32_t scopes, int64_t now,
                            int64_t *id);
/* Revokes the active key with this name. Returns: OS_OK; OS_ERR_NOT_FOUND (no active key by that
 * name); OS_ERR_DB. */
int os_ledger_apikey_revoke(os_ledger *l, const char *name, int64_t now);
/* The key whose secret hashes to hash (revoked ones too: the caller refuses them). Returns: OS_OK;
 * OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_apikey_find(os_ledger *l, const uint8_t hash[32], os_apikey_info *out);
/* Calls f for every key (oldest first) with its number of recorded uses; f returns 0 to go on. */
int os_ledger_apikey_each(os_ledger *l, int (*f)(void *ctx, const os_apikey_info *k), void *ctx);
/* Records one use of a key: the action (e.g. "payout_create"), the object it concerned (a payout
 * id, a code id) and the HTTP status answered. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_apikey_use(os_ledger *l, int64_t key_id, int64_t now, const char *action, const char *object,
                         unsigned http_status);

/* ---- the webhook outbox (docs/API.md "Webhooks"; rows are written by the v6 trigger) ---- */
typedef struct {
    int64_t row;                    /* the outbox row */
    char event_id[33];              /* 32 hex digits, unique: receivers dedupe by it */
    int64_t payout_id;
    os_payout_status status;        /* the status the payout changed to */
    uint64_t amount;
    char address[OS_MAX_ADDRESS + 1];
    char code_id[33];               /* "" for API payouts */
    char idempotency_key[129];      /* "" for code redemptions */
    uint8_t txid[32];               /* internal byte order, valid when has_txid */
    int has_txid;
    uint32_t confirmations;
    char error[128];
    int64_t created_at;             /* unix seconds of the change */
    uint32_t attempts;              /* failed deliveries so far */
} os_webhook_event;

/* Turns the outbox on or off: while off, payout changes queue nothing (a ledger never used with
 * webhooks must not grow). Rows already queued stay. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_webhooks_enable(os_ledger *l, int on);
/* The queued event due first (next attempt at or before now_ms, unix milliseconds; oldest first).
 * Returns: OS_OK (*ev filled); OS_ERR_NOT_FOUND (none due); OS_ERR_DB. */
int os_ledger_webhook_next(os_ledger *l, int64_t now_ms, os_webhook_event *ev);
/* The receiver took the event: it leaves the outbox. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_webhook_delivered(os_ledger *l, int64_t row);
/* A delivery failed: one more attempt counted, the next one not before next_at_ms, why kept for the
 * operator. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_webhook_failed(os_ledger *l, int64_t row, int64_t next_at_ms, const char *why);
/* Events queued, and created_at of the oldest (0 when none). Returns: OS_OK; OS_ERR_DB. */
int os_ledger_webhook_depth(os_ledger *l, uint64_t *depth, int64_t *oldest_created_at);

/* ---- operator approvals (schema v11; docs/DESIGN.md §8 "Host flow") ---- */

/* The operator set the signer holds, as its own signed log says (the newest archived OPERATORS entry). */
typedef struct {
    uint8_t k, n;                           /* n 0: no operators registered (no quorum) */
    uint64_t threshold;                     /* sat: transactions whose payouts total more need k approvals */
    uint8_t keys[OS_MAX_OPERATORS][32];     /* keys[0..n) */
    uint64_t seq;                           /* the entry's log seq (0: none) */
} os_operator_set;

/* Returns: OS_OK (*out; n 0 and seq 0 when the archive holds no OPERATORS entry); OS_ERR_DB. */
int os_ledger_operator_set(os_ledger *l, os_operator_set *out);

/* Stores an approval of tx_digest (durable when it returns). *added (may be NULL): 0 when the same
 * operator's approval with the same expiry was there already (kept as it was: idempotent), 1 when
 * stored or when it replaced that operator's approval with another expiry.
 * Returns: OS_OK; OS_ERR_ARG; OS_ERR_DB. */
int os_ledger_approval_put(os_ledger *l, const uint8_t tx_digest[32], const os_approval *a, int64_t api_key_id,
                           int64_t now, int *added);
/* The approvals held for tx_digest, oldest first, at most cap. Returns: OS_OK (*n); OS_ERR_DB. */
int os_ledger_approvals_of(os_ledger *l, const uint8_t tx_digest[32], os_approval *out, size_t cap, size_t *n);
/* Forgets one operator's approval of tx_digest. Returns: OS_OK (also when none); OS_ERR_DB. */
/* A held row (AWAITING, quorum_wait 1) of tx_digest is looked at again (quorum_wait 2): an approval
 * arrived. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_quorum_wake(os_ledger *l, const uint8_t tx_digest[32]);
/* Every held row is looked at again (quorum_wait 1 -> 2): the operator set changed (a new OPERATORS
 * entry was archived), so what each needs may have. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_quorum_wake_all(os_ledger *l);
int os_ledger_approval_drop(os_ledger *l, const uint8_t tx_digest[32], const uint8_t operator_key[32]);

/* The draft row's transaction digest, state and quorum_wait (0 none, 1 held short of approvals, 2
 * held, approvals arrived since). Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_tx_quorum(os_ledger *l, int64_t row, uint8_t tx_digest[32], os_tx_state *state, int *quorum_wait);
/* Holds row for approvals in one transaction: the event OPERATOR_WAIT (SIGNING -> AWAITING, its
 * payouts awaiting_approval) when it is in SIGNING, and quorum_wait 1, so nobody sees the payouts
 * awaiting_approval before the row is known to wait for approvals.
 * Returns: OS_OK; OS_ERR_NOT_FOUND (no such row in SIGNING or AWAITING); OS_ERR_DB. */
int os_ledger_tx_quorum_hold(os_ledger *l, int64_t row, int64_t now);
/* Sets row's quorum_wait (0: the session starts; 2: look again).
 * Returns: OS_OK; OS_ERR_NOT_FOUND (no such row in SIGNING or AWAITING: a cancel released it);
 *          OS_ERR_ARG; OS_ERR_DB. */
int os_ledger_tx_quorum_set(os_ledger *l, int64_t row, int quorum_wait);
/* The pending transaction the payout id is carried by (0 when none). Returns: OS_OK; OS_ERR_NOT_FOUND
 * (no such payout); OS_ERR_DB. */
int os_ledger_payout_tx_row(os_ledger *l, int64_t id, int64_t *row);
/* The payout whose nonce this is. Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_DB. */
int os_ledger_payout_id_by_nonce(os_ledger *l, const uint8_t nonce[32], int64_t *id);
/* Payouts whose transaction is held for the operators' approvals. Returns: OS_OK; OS_ERR_DB. */
int os_ledger_payouts_awaiting_quorum(os_ledger *l, uint64_t *n);

#endif /* ONCESIGN_HOST_LEDGER_H */
