/* oncesign host — the payout engine: the service the HTTP API (host/lib/api.c) and the operator
 * CLI call, and the worker and reconciler that move payouts through their lifecycle.
 *
 * Payout lifecycle (docs/DESIGN.md, I3, I6). Every arrow but the first is an event of the
 * transaction carrying the payout, applied by one table (os_ledger_tx_transition, ledger.h):
 *
 *   requested ──(batch picked, coins reserved, draft stored)──▶ signing
 *   requested ──(the coins cannot cover it)──▶ requested (steps aside; the others go on)
 *   signing ──(signer asks the operator)──▶ awaiting_approval
 *   signing ──(above the quorum threshold, fewer than k operator approvals: held, not sent)──▶
 *                                  awaiting_approval (sent once k are stored; DESIGN.md §8 "Host flow")
 *   awaiting_approval (held for approvals, never sent) ──(cancel)──▶ failed (the others: requested)
 *   signing, awaiting_approval ──(signer commits; raw tx + txid stored durably)──▶ signed
 *   signing, awaiting_approval ──(signer refused BEFORE committing)──▶ requested (retry), or failed
 *                                  (the output it refused; all of them when the operator rejected)
 *   signed ──(sendrawtransaction: sent, or seen in the node's mempool)──▶ broadcast
 *   signed ──(not sent, unknown, fee too low)──▶ signed (the reconciler asks the node later)
 *   signed, broadcast ──(refused for its fee: a replacement drafted)──▶ signing (the fee bump)
 *   signed, broadcast ──(a transaction carrying it is in a block)──▶ confirmed(n), n updated
 *   signed, broadcast ──(a foreign transaction spent an input in a block: it can never confirm)──▶ failed
 *
 * Nothing is ever rolled back on an ambiguous answer: the signed transaction is stored before the
 * first broadcast, and only chain evidence (the node's mempool, blocks and UTXO set) moves it on.
 * A redeem is a compare-and-set on the code's row: one code, one payout, the same answer every
 * time. All state lives in the ledger (SQLite); the engine can be killed at any instant and
 * resumes from the ledger, after checking the signer's root and log head against it.
 */
#ifndef ONCESIGN_HOST_ENGINE_H
#define ONCESIGN_HOST_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"

typedef struct os_engine os_engine;

typedef struct {
    const char *db_path;            /* the ledger (default ./oncesign.db) */
    int ledger_must_exist;          /* 1: a missing ledger file is refused (OS_ERR_DB) rather than created
                                     * empty: a mistyped path must not start a new, empty ledger
                                     * (oncesignd without --init, the CLI but `ledger init`) */
    const char *device;             /* signer spec: "sim:PATH", "hid", "serial:PATH" */
    int wait_for_signer;            /* 1 (the daemon): a signer that cannot be reached at open is not an
                                     * error: the engine opens, refuses writes (OS_ERR_SIGNER_UNAVAILABLE)
                                     * and retries it with the reconnect's backoff, running the full
                                     * start-up check (I6) once it answers. 0 (the CLI): OS_ERR_IO. */
    const char *rpc_url;            /* monacoind */
    const char *rpc_user, *rpc_password, *rpc_cookie_file;
    int rpc_timeout_ms;
    uint8_t network;                /* OS_NET_* the addresses must belong to */
    uint32_t batch_max;             /* payouts per transaction (<= OS_MAX_OUTPUTS - 1) */
    uint32_t batch_delay_ms;        /* how long the worker waits to fill a batch */
    uint64_t fee_floor;             /* sat per kvB */
    uint64_t fee_cap;               /* sat per kvB */
    uint64_t max_payout;            /* API-level cap per payout, satoshi */
    uint32_t confirmations_final;   /* confirmations after which a payout is final */
    uint32_t reconcile_interval_ms;
    uint32_t operator_wait_ms;      /* how long a signing session waits for the operator's button before
                                       the payout steps aside and the others go on (0: 60,000) */
    /* Called (from the worker thread, may be NULL) when the signer waits for the operator's decision
     * on a transaction: the daemon logs it; in-process tests press the simulated button. */
    void (*on_operator_wait)(void *ctx, int64_t tx_row);
    void *on_operator_wait_ctx;
    int vouchers_required;          /* 1: codes and withdrawals are taken only with an issuer's voucher
                                       (issue 14; the signer's SET_ISSUERS says the same to the device) */
} os_engine_config;

typedef enum {
    OS_PAYOUT_REQUESTED = 1,
    OS_PAYOUT_AWAITING_APPROVAL,
    OS_PAYOUT_SIGNING,
    OS_PAYOUT_SIGNED,
    OS_PAYOUT_BROADCAST,
    OS_PAYOUT_CONFIRMED,
    OS_PAYOUT_FAILED,
    OS_PAYOUT_AWAITING_REANCHOR,    /* its anchor was spent elsewhere, conclusively: no transaction of it
                                       can confirm; it waits to be re-anchored (operator on the signer) */
} os_payout_status;
#define OS_PAYOUT_STATUS_LAST OS_PAYOUT_AWAITING_REANCHOR

/* The payouts still owed, from counts by status: requested to broadcast, and those waiting for their
 * re-anchor (their old transaction can never confirm; a new one will). */
static inline uint64_t os_payouts_pending(const uint64_t counts[OS_PAYOUT_STATUS_LAST + 1]) {
    uint64_t n = counts[OS_PAYOUT_AWAITING_REANCHOR];
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_BROADCAST; s++) n += counts[s];
    return n;
}

const char *os_payout_status_name(os_payout_status s);    /* "requested", ... */
int os_payout_status_parse(const char *name, os_payout_status *out);

typedef struct {
    int64_t id;
    os_payout_status status;
    uint64_t amount;
    char address[OS_MAX_ADDRESS + 1];
    char idempotency_key[129];      /* "" for code redemptions */
    char code_id[33];               /* public code id (hex), "" for API payouts */
    uint8_t txid[32];               /* current transaction, valid when has_txid */
    int has_txid;
    uint32_t confirmations;
    int64_t created_at, updated_at; /* unix seconds */
    char error[128];                /* for failed: why */
} os_payout_info;

typedef struct {
    char code_id[33];               /* public id: hex of the first 16 bytes of SHA-256(code) */
    uint64_t amount;
    int64_t created_at, expires_at; /* expires_at 0 = never */
    int redeemed;
    int64_t payout_id;              /* when redeemed */
} os_code_info;

/* Opens the ledger (creating or migrating it) and, unless cfg->device is NULL (ledger-only use by
 * the CLI and tests of the service calls), connects the signer and monacoind and checks the
 * signer's root and log head against the ledger (I6).
 * Returns: OS_OK; OS_ERR_DB; OS_ERR_SIGNER_MISMATCH; OS_ERR_IO / OS_ERR_RPC_TRANSPORT with err.
 *          On OS_ERR_SIGNER_MISMATCH *out is still set (err says why): the engine answers the service
 *          calls but never signs (fail closed, I6); the caller may serve read-only or close it. */
int os_engine_open(const os_engine_config *cfg, os_engine **out, char *err, size_t cap);
void os_engine_close(os_engine *e);

/* Like os_engine_open with an already open signer client instead of cfg->device (tests run the
 * signer in-process). The client is lent: the engine uses it until os_engine_close and never closes it.
 * Returns: as os_engine_open. */
#include "client.h"
int os_engine_open_client(const os_engine_config *cfg, os_client *client, os_engine **out, char *err, size_t cap);

/* Starts / stops the worker and reconciler threads. */
int os_engine_start(os_engine *e);
void os_engine_stop(os_engine *e);

/* ---- service calls (thread-safe; each is one ledger transaction) ---- */

/* Issues a gift code: a fresh random secret shown once (code_out, NUL-terminated, <= 64 chars)
 * and its nonce; the ledger keeps only SHA-256 of the code. */
int os_engine_issue_code(os_engine *e, uint64_t amount, int64_t expires_at, char code_out[65], os_code_info *info);
/* The same for a code the issuer vouched for (PROTOCOL.md §2.7): its nonce and amount are the
 * voucher's, and the voucher is stored with it and forwarded to the signer when it is paid.
 * os_engine_issue_code is this without a voucher, refused with OS_ERR_VOUCHER_MISSING when the
 * engine requires vouchers.
 * Returns: as os_engine_issue_code; OS_ERR_VOUCHER_ISSUER (the signature does not verify under the
 *          voucher's issuer key: registration is the signer's to check); OS_ERR_VOUCHER_MISMATCH
 *          (another network); OS_ERR_IDEMPOTENCY (the voucher's nonce was used already). */
int os_engine_issue_voucher_code(os_engine *e, const os_voucher *v, int64_t expires_at, char code_out[65],
                                 os_code_info *info);
int os_engine_code_lookup(os_engine *e, const char *code, os_code_info *info);

/* Redeems a code to an address: compare-and-set. The first redeem creates the payout; every later
 * or concurrent redeem of the same code returns that same payout (*created = 0).
 * Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_CODE_EXPIRED; OS_ERR_ADDRESS; OS_ERR_DB. */
int os_engine_redeem(os_engine *e, const char *code, const char *address, os_payout_info *out, int *created);

/* Creates a payout with an idempotency key: the same key with the same parameters returns the same
 * payout (*created = 0); with different parameters OS_ERR_IDEMPOTENCY.
 * Returns: OS_OK; OS_ERR_IDEMPOTENCY; OS_ERR_ADDRESS; OS_ERR_AMOUNT; OS_ERR_DB. */
/* os_engine_payout_create_vouched: the same with the issuer's voucher, whose nonce the payout takes:
 * amount at most the voucher's (OS_ERR_VOUCHER_AMOUNT), address its destination when it binds one
 * (OS_ERR_VOUCHER_DESTINATION), and the errors of os_engine_issue_voucher_code. Without a voucher
 * (os_engine_payout_create) the host makes the nonce, refused with OS_ERR_VOUCHER_MISSING when the
 * engine requires vouchers. */
int os_engine_payout_create_vouched(os_engine *e, const char *idempotency_key, const char *address, uint64_t amount,
                                    const os_voucher *v, os_payout_info *out, int *created);
int os_engine_payout_create(os_engine *e, const char *idempotency_key, const char *address, uint64_t amount,
                            os_payout_info *out, int *created);

int os_engine_payout_get(os_engine *e, int64_t id, os_payout_info *out);

/* An operator cancels a payout no transaction has taken yet (status requested): it ends failed with
 * the error "cancelled by the operator" and is never paid. Safe beside a running daemon: the worker's
 * draft takes only payouts still requested, in the same transaction.
 * Returns: OS_OK; OS_ERR_NOT_FOUND; OS_ERR_BUSY (signing has started: the signer and the chain decide
 *          now); OS_ERR_DB. */
int os_engine_payout_cancel(os_engine *e, int64_t id);

/* Lists payouts with id > after_id (0: from the start), optionally only one status (0: all). */
int os_engine_payout_list(os_engine *e, os_payout_status status, int64_t after_id, size_t limit,
                          os_payout_info *out, size_t *n);

typedef struct {
    int ledger_ok, signer_ok, node_ok;
    uint64_t payouts_pending, payouts_confirmed;
    uint64_t payouts_waiting_for_funds; /* requested payouts the last batch left aside: the coins cannot
                                           cover them (they are listed with status requested) */
    uint64_t payouts_awaiting_approval; /* payouts whose transaction waits for the operator's decision */
    uint64_t payouts_awaiting_reanchor; /* payouts whose anchor a foreign transaction spent (issue 10) */
    uint64_t payouts_awaiting_replacement; /* payouts of a transaction another input of which a foreign
                                           transaction spent: a replacement on the same anchor pays them
                                           (they wait here while the wallet cannot fund it) */
    uint64_t payouts_awaiting_quorum;   /* of payouts_awaiting_approval: those whose transaction waits for
                                           k operator approvals (DESIGN.md §8), not for the button */
    uint64_t node_height;
    uint64_t signer_log_seq;
    uint8_t signer_attestation_key[32]; /* the pinned key (once the signer passed the start-up check): what
                                           an issuer names as a voucher's signer (PROTOCOL.md §2.7) */
    int signer_attestation_known;
    int vouchers_required;          /* the engine's setting */
    int signing_disabled;           /* fail closed (I6): the signer does not match the ledger */
    char signer_error[320];         /* why signer_ok is 0 ("" when it is 1) */
    int wallet_ok;                  /* 0: monacoind's wallet calls fail (importmulti, listunspent) */
    char wallet_error[600];         /* why wallet_ok is 0 ("" when it is 1): the call, kind and error */
    int fee_capped;                 /* the node's fee estimate is above the cap: transactions pay the cap */
    uint64_t fee_estimate;          /* the node's last estimate, sat/kB (0: none) */
    int recovering;                 /* a restored ledger is recovering (docs/RECOVERY.md): writes refused */
    char recovery[256];             /* while recovering: the phase and what it waits for */
} os_engine_health;
int os_engine_health_get(os_engine *e, os_engine_health *out);

/* ---- operator approvals (k-of-n, docs/DESIGN.md §8 "Host flow"; docs/API.md) ---- */

typedef struct {
    uint64_t amount;
    char address[OS_MAX_ADDRESS + 1];
    int change;                     /* 1: the wallet's own change */
    int64_t payout_id;              /* the payout it pays (0 for change) */
} os_quorum_output;

/* What operators approve: the transaction a payout waits in, as the signer will see it. */
typedef struct {
    int64_t tx_row, payout_id;
    uint8_t tx_digest[32];          /* proto/tx_digest.h; what an approval signs (with expiry and signer) */
    uint8_t *unsigned_tx;           /* heap (os_quorum_commitment_free): no scriptSigs, no witnesses */
    size_t unsigned_len;
    size_t n_outputs;
    os_quorum_output outputs[OS_MAX_OUTPUTS];
    uint64_t fee;
    uint8_t signer[32];             /* the pinned attestation key */
    uint64_t log_seq;               /* the signer's log as the host last archived it */
    uint8_t k, n;
    uint64_t threshold;
    uint8_t operators[OS_MAX_OPERATORS][32];
    size_t n_held;                  /* approvals held that the worker would send now */
    os_approval held[OS_MAX_OPERATORS];
} os_quorum_commitment;

/* The transaction payout_id waits in for the operators' approvals.
 * Returns: OS_OK (*out; free with os_quorum_commitment_free); OS_ERR_NOT_FOUND (no such payout);
 *          OS_ERR_QUORUM_NOT_WAITING (its transaction does not wait for approvals); OS_ERR_DB. */
int os_engine_payout_commitment(os_engine *e, int64_t payout_id, os_quorum_commitment *out);
void os_quorum_commitment_free(os_quorum_commitment *c);

/* Checks and stores an operator's approval of the transaction payout_id waits in (durable when it
 * returns), and wakes the worker. The same approval twice is stored once (*added 0).
 * Returns: OS_OK (*held: valid approvals now held, *needed: k); OS_ERR_NOT_FOUND;
 *          OS_ERR_QUORUM_NOT_WAITING; OS_ERR_APPROVAL_OPERATOR (the key is not in the signer's set);
 *          OS_ERR_APPROVAL_EXPIRED (expiry_seq at or below the signer's log_seq); OS_ERR_APPROVAL_MISMATCH
 *          (the signature does not verify over this transaction's digest, this signer and its
 *          expiry); OS_ERR_DB.
 * In:      api_key_id: the API key that posted it (0: none). */
int os_engine_approval_add(os_engine *e, int64_t payout_id, const os_approval *a, int64_t api_key_id, size_t *held,
                           size_t *needed, int *added);

/* The phases of a restored ledger's recovery (docs/RECOVERY.md, "Restore"), stored as meta
 * recovery_phase so a restart resumes it. In order: REPLAY, CONFIRM, RESET, SWEEP (the numbers are
 * stored values, not the order). */
typedef enum {
    OS_RECOVERY_NONE = 0,
    OS_RECOVERY_REPLAY = 1,     /* matching the signer's SIGN entries the backup lacks to the chain */
    OS_RECOVERY_CONFIRM = 2,    /* waiting for the transactions found to confirm */
    OS_RECOVERY_SWEEP = 3,      /* the set is reset: every coin swept to the wallet itself under the empty
                                   set; waiting for it to confirm */
    OS_RECOVERY_RESET = 4,      /* waiting for the operator to reset the nonce set on the device */
} os_recovery_phase;
const char *os_recovery_phase_name(int phase);

/* What GET /v1/recovery shows: each output a recovered transaction paid (f, with what it was
 * matched to) and each code held. Returns: OS_OK; OS_ERR_DB; f's answer when not OS_OK. */
typedef struct {
    uint64_t log_seq;
    char txid[65];                  /* display order */
    uint32_t vout, confirmations;
    char address[OS_MAX_ADDRESS + 1];
    uint64_t amount;
    int64_t payout_id;              /* 0: no payout of the ledger (its key was only in the lost copy) */
    char code_id[33];               /* "" unless a code was proven paid by it */
    char how[96];
} os_recovered_payout;
int os_engine_recovery_list(os_engine *e, int *phase, char *why, size_t why_cap,
                            int (*payout)(void *ctx, const os_recovered_payout *p),
                            int (*held)(void *ctx, const char code_id[33], uint64_t amount), void *ctx);

/* POST /v1/recovery/held/{code_id}: the backend (its operator) says a held code was not redeemed after
 * the backup, so no recovered payout paid it: its redeem is accepted again. The ledger cannot check
 * this (that is why the code is held); a wrong release can pay the code twice, which is why it takes
 * the operator scope and is logged. Returns: OS_OK; OS_ERR_ARG (code_id not 32 hex digits);
 * OS_ERR_NOT_FOUND (no held code has that id); OS_ERR_DB. */
int os_engine_recovery_release_held(os_engine *e, const char *code_id);

/* Whether signing is disabled: fail closed after a signer mismatch (I6; cleared by `tree rebuild`), or
 * the signer has not passed the start-up check yet (cfg.wait_for_signer: absent when the engine
 * opened; cleared once it answers and agrees). Cheap: the API asks it before every write.
 * Returns: OS_OK (signing enabled), OS_ERR_SIGNER_MISMATCH, OS_ERR_SIGNER_UNAVAILABLE or
 *          OS_ERR_RECOVERING (a restored ledger recovers: docs/RECOVERY.md).
 * Out:     why (cap bytes, may be NULL): one line for the caller's error, unless OS_OK. */
int os_engine_signing_disabled(os_engine *e, char *why, size_t cap);

/* The engine's ledger, for the API's keys (os_ledger_apikey_*); owned by the engine. */
typedef struct os_ledger os_ledger;
os_ledger *os_engine_ledger(os_engine *e);

/* Creates an API key: a fresh random secret ("osk_" and 64 hex digits, shown once in secret_out),
 * stored as its SHA-256 with the name and scopes (OS_SCOPE_*, ledger.h).
 * Returns: OS_OK; OS_ERR_IDEMPOTENCY (the name exists); OS_ERR_ARG (bad name or scopes);
 *          OS_ERR_IO (no randomness); OS_ERR_DB. */
int os_engine_apikey_create(os_engine *e, const char *name, uint32_t scopes, char secret_out[69], int64_t *id);

/* Prometheus text exposition of the engine's counters. Returns OS_OK or OS_ERR_BUFFER. */
int os_engine_metrics(os_engine *e, char *buf, size_t cap, size_t *len);

/* Lends the engine's signer client to fn while nothing else talks to the signer: signing sessions,
 * the reconciler's log reads and other callers take turns on one lock (sign_mu), so an operator's
 * request beside a running daemon (`oncesign device address --show` through its admin socket)
 * never interleaves with a signing session's messages (docs/DESIGN.md §4b).
 * Returns: fn's result; OS_ERR_BUSY when a session still held the signer after wait_ms (one waiting
 *          for the operator's button can hold it for operator_wait_ms: retry then);
 *          OS_ERR_SIGNER_UNAVAILABLE when no signer is attached (a ledger-only engine, or the daemon
 *          still waits for the signer to appear). */
int os_engine_with_signer(os_engine *e, unsigned wait_ms, int (*fn)(void *ctx, os_client *c), void *ctx);

/* What `oncesign status` shows, from whichever process holds the signer (docs/OPERATING.md). */
typedef struct {
    uint64_t counts[OS_PAYOUT_STATUS_LAST + 1];  /* payouts by status (index os_payout_status) */
    uint64_t payouts_pending, payouts_confirmed;
    int ledger_ok;
    int with_signer;                /* the signer's part below was read */
    uint8_t nonce_root[32], log_head[32];
    uint64_t log_seq;
    int matches_ledger;             /* 0: signing is disabled, mismatch says why (I6) */
    char mismatch[320];
} os_engine_status;

/* Fills st from the ledger and, when with_signer, from the signer (GET_INFO through
 * os_engine_with_signer, waiting at most wait_ms) and the engine's start-up check.
 * Returns: OS_OK; OS_ERR_DB; with_signer: as os_engine_with_signer, or the client's error. */
int os_engine_status_get(os_engine *e, int with_signer, unsigned wait_ms, os_engine_status *st);

/* Runs one reconciliation pass now (the CLI's "reconcile now"). */
int os_engine_reconcile_now(os_engine *e);

/* The hot wallet: a fresh receive address of the signer (funding goes there; the engine watches
 * it) and the balance the node has on the wallet's addresses now (listunspent, mempool included:
 * confirmed and unconfirmed, satoshi; coins spent outside oncesignd are not in it), or, when no node can be
 * asked, the balance of the coins the ledger holds. */
int os_engine_receive_address(os_engine *e, char address[OS_MAX_ADDRESS + 1]);
int os_engine_balance(os_engine *e, uint64_t *confirmed, uint64_t *unconfirmed);

/* Rebuilds the ledger's nonce tree by replaying the archived signer log: for each SIGN entry the
 * ledger transaction with the same hashPrevouts and transaction digest supplies the leaves it inserted, and
 * the tree's root must equal the entry's root_after at every step and the signer's root at the
 * end (the log chain, verified with the attestation key, ends at the signer's own log head).
 * The rebuilt tree replaces the ledger's (its leaves, each transaction's root_after, tree_seq) in one
 * ledger transaction: on OS_OK it is stored, on any error nothing was written.
 * Returns: OS_OK (*n_leaves set); OS_ERR_SIGNER_MISMATCH with err saying at which entry; OS_ERR_DB. */
int os_engine_rebuild_tree(os_engine *e, size_t *n_leaves, char *err, size_t cap);

/* Signs a transaction built outside the payout table (the CLI's `oncesign sign FILE.psbt`) with
 * the engine's signer and tree, and records the nonces it committed in the ledger, so the tree
 * stays the signer's. Types from host/lib/signing.h. */
#include "signing.h"
int os_engine_sign_external(os_engine *e, const os_sign_tx *tx, os_input_sig *sigs, os_sign_outcome *outcome);

/* What a ledger backup holds, as recorded in it (its meta "backup_marker") and recomputed when it is
 * verified (docs/RECOVERY.md). */
typedef struct {
    int64_t taken_at;           /* unix seconds when the copy was made */
    uint64_t log_seq;           /* newest archived signer log entry in the copy (0: none) */
    uint8_t log_head[32];       /* its hash (zeros when log_seq is 0) */
    int64_t payouts, redeemed_codes, txs, last_payout_id;
} os_backup_marker;

/* Writes a verified online backup of the engine's ledger to out_path (os_ledger_backup in
 * host/lib/ledger.h: VACUUM INTO, integrity_check, marker, fsync, rename); payouts go on meanwhile.
 * From then on the signer's log is acknowledged only up to the newest backup's log_seq.
 * Returns: OS_OK (*marker filled); OS_ERR_ARG (out_path exists); OS_ERR_DB / OS_ERR_IO with err. */
int os_engine_backup(os_engine *e, const char *out_path, os_backup_marker *marker, char *err, size_t cap);

/* Verifies a backup file read-only (os_ledger_backup_verify). Returns: OS_OK (*marker filled);
 * OS_ERR_DB with err. */
int os_engine_backup_verify(const char *path, os_backup_marker *marker, char *err, size_t cap);

#endif /* ONCESIGN_HOST_ENGINE_H */
