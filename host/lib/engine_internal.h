/* oncesign host — the payout engine's state, shared by engine.c (service calls on the ledger),
 * engine_chain.c (signer, monacoind, worker, reconciler) and engine_runtime.c (clock, crash points,
 * wake-ups). engine.c calls engine_chain.c; engine_chain.c never calls engine.c. Not a public contract. */
#ifndef ONCESIGN_HOST_ENGINE_INTERNAL_H
#define ONCESIGN_HOST_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "bip32.h"
#include "client.h"
#include "engine.h"
#include "ledger.h"
#include "nonce_tree.h"
#include "rpc.h"

struct os_rpc;

/* The monacoind wallet calls whose failures health reports (engine_chain.c wallet_outcome). */
enum { ENGINE_WALLET_IMPORT = 0, ENGINE_WALLET_LISTUNSPENT, ENGINE_WALLET_CALLS };
extern const char *const engine_wallet_call_names[ENGINE_WALLET_CALLS];

struct os_engine {
    os_engine_config cfg;           /* strings owned (copied at open) */
    os_ledger *ledger;

    pthread_mutex_t mu;             /* guards the fields below down to the counters */
    pthread_cond_t wake;            /* worker: new payouts, stop */
    int work_pending, stopping, running;
    int operator_waiting;           /* the worker's signing session waits for the operator's button */
    int device_attached, signer_mismatch, signer_reachable, node_ok;
    uint64_t node_height, signer_log_seq;
    char mismatch_reason[256];
    int signer_checked;             /* the signer passed the start-up check (I6) once since open */
    int recovering;                 /* a restored ledger recovers (engine_recovery.c): writes refused */
    int recovery_phase;             /* os_recovery_phase */
    char recovery_reason[256];      /* what it waits for, for health and the 503 */
    int recovery_clean_scans;       /* worker: complete scans in a row that found nothing missing */
    int64_t recovery_next_ms;       /* worker: the recovery's next step, monotonic ms */
    char signer_wait_reason[256];   /* while it has not: why (the last failure to reach or check it) */
    /* by wallet call (importmulti, listunspent): its last attempt failed, and why (the kind, the node's
     * error); addresses handed out may then not be watched, coins not seen (issue 11) */
    int wallet_failing[ENGINE_WALLET_CALLS];
    char wallet_error[ENGINE_WALLET_CALLS][600];
    uint64_t m_wallet_errors[ENGINE_WALLET_CALLS];  /* failed wallet calls by call (wallet_call_names) */
    int fee_capped;                 /* the node's fee estimate is above the cap the host pays */
    uint64_t fee_estimate;          /* the last estimate (sat/kB), 0: none */
    pthread_t worker, reconciler;

    /* Signing: one session at a time; the tree mirrors the signer's set (I6). */
    pthread_mutex_t sign_mu;
    os_client *client;
    nonce_tree *tree;
    uint8_t attestation_key[32];
    uint8_t signer_script_type;
    uint64_t per_payout_cap;        /* the signer's policy: payouts above it wait for the operator */
    uint64_t signer_fee_rate_cap, signer_fee_cap;   /* the signer's policy (mu): what fees may be */
    uint8_t log_head[32];           /* hash of the newest archived signer log entry */
    uint64_t log_archived_seq;

    int client_owned;               /* 0 when the caller lent the client (os_engine_open_client) */
    /* The link (engine_link.c, under sign_mu): when it died, the next reconnect, the last idle probe. */
    int64_t link_lost_at_ms, link_next_try_ms, link_last_probe_ms;
    uint32_t link_backoff_ms;
    bip32_node account;             /* the signer's account node m/purpose'/coin'/0' (public) */
    int have_account;               /* mu: the account is loaded */

    pthread_mutex_t rpc_mu;         /* one monacoind client, shared by the threads in turn */
    struct os_rpc *rpc;
    pthread_mutex_t recon_mu;       /* one reconciliation pass at a time */
    int64_t batch_wait_since_ms;
    int64_t aside_logged_id;        /* the newest payout logged as stepping aside (worker only) */
    int64_t operator_aside_row;     /* worker: a draft the operator did not decide on in time ... */
    int64_t operator_aside_until_ms; /* ... is asked again from this monotonic time on */
    int64_t reanchor_after_ms;      /* worker: payouts awaiting a re-anchor are drafted from this monotonic
                                       time on (after a refusal or a lack of funds: operator_wait_ms) */
    int64_t respend_after_ms;       /* worker: replacements after a lost input are built from this
                                       monotonic time on (after the signer refused one: operator_wait_ms) */
    int64_t respend_short_row;      /* worker: the transaction last logged as awaiting funds for its
                                       replacement (logged once per transaction) */

    /* reconciler: when it last asked the node (recon_mu), and whether work happened since (mu) */
    uint64_t recon_height;
    int64_t recon_last_ms;
    int recon_work;
    /* reconciler (recon_mu): the chain height at which an input of a transaction (its anchor or
     * another) was first seen spent in a block by a foreign transaction; its payouts wait
     * confirmations_final blocks from there (not persisted: after a restart the wait starts again,
     * which only delays) */
    struct { int64_t row; uint64_t height; } input_spent[32];
    size_t n_input_spent, next_input_slot;
    int funds_short;                /* mu: the last batch found no payout the coins could cover */
    uint64_t payouts_aside;         /* mu: requested payouts the last batch left for want of funds */

    long crash_hits;
    uint64_t m_recon_passes;
    uint64_t m_codes_issued, m_redeems, m_payouts_created, m_tx_signed, m_payouts_signed;
    uint64_t m_bc_sent, m_bc_not_sent, m_bc_unknown, m_bc_check_chain, m_sign_refused;
    uint64_t m_anchor_lost;         /* payouts whose anchor a foreign transaction spent */
    uint64_t m_inputs_lost;         /* transactions an input of which (not the anchor) a foreign
                                       transaction spent, replaced on their anchor */
};

/* engine_runtime.c */
int64_t engine_now(void);
/* ONCESIGN_CRASH_AT=<point>[:<n>]: _exit(137) at the n-th (default first) time point is reached. */
void engine_crash_point(os_engine *e, const char *point);
void engine_wake_worker(os_engine *e);
/* SHA-256 of (amount, address): what a payout's idempotency key or a code's redeem is bound to. */
int engine_params_hash(const char *address, uint64_t amount, uint8_t out[32]);

/* engine_chain.c: connect the signer and monacoind and run the start-up check (I6). */
int engine_attach(os_engine *e, os_client *lent_client, char *err, size_t cap);
void engine_detach(os_engine *e);
/* engine_chain.c, sign_mu held: GET_INFO (updates signer_reachable); the full start-up check again
 * (log sync, log replay, roots; sets the mismatch on OS_ERR_SIGNER_MISMATCH). */
int engine_signer_probe(os_engine *e);
int engine_signer_recheck(os_engine *e, char *err, size_t cap);

/* engine_link.c: milliseconds of CLOCK_MONOTONIC (every wait and timeout); one log line on stderr with
 * UTC time and level ("info", "warn", "error"). */
int64_t engine_mono_ms(void);
void engine_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* engine_link.c, called by the worker between rounds (takes sign_mu unless a session holds it): probes
 * an idle signer every second; a dead link is reopened with backoff (100 ms doubling to 5 s) and the
 * start-up check run again before signing resumes. Logs the loss, each failed attempt, the recovery. */
void engine_link_tick(os_engine *e);
/* engine_chain.c: the balance the node has on the wallet's addresses now (listunspent, mempool
 * included). Returns OS_OK, OS_ERR_UNSUPPORTED (no node), or the node's failure. */
int engine_chain_balance(os_engine *e, uint64_t *confirmed, uint64_t *unconfirmed);

/* engine_chain.c, for engine_recovery.c: the device's INFO (sign_mu held); the log sync; the script
 * of the wallet's key change/index; signing a stored draft (sign_mu held) and broadcasting it; the
 * wallet's coins from the node into the ledger; the fee rate to pay now; a transaction of the ledger
 * the signer signed that was found on chain (raw), stored as signed (its SIGN entry payload pl). */
int engine_device_info(os_engine *e, os_msg_info *info);
int engine_log_sync(os_engine *e, char *err, size_t cap);
int engine_derive_script(os_engine *e, uint8_t change, uint32_t index, uint8_t *script, size_t *len);
int engine_sign_row(os_engine *e, int64_t row);
void engine_broadcast_row(os_engine *e, int64_t row);
void engine_wallet_sync(os_engine *e);
/* The node's unspent outputs with at least minconf confirmations (0: mempool included) on every
 * address of the wallet; the outcome counts toward the wallet's health. Returns: OS_OK with *u (heap,
 * freed by the caller; NULL and 0 when the wallet has no address yet), or the node's failure. */
int engine_wallet_unspent(os_engine *e, unsigned minconf, os_rpc_utxo **u, size_t *nu);
uint64_t engine_fee_rate(os_engine *e);
int engine_next_change_address(os_engine *e, uint32_t *index, uint8_t script[64], size_t *script_len);
int engine_store_found(os_engine *e, int64_t row, const uint8_t *raw, size_t raw_len, const uint8_t txid[32],
                       const uint8_t *pl, uint64_t log_seq);
/* The tree from the ledger's leaves (sign_mu held). */
int engine_tree_load(os_engine *e);
/* The newest archived NONCE_RESET entry after seq `after` (*seq 0: none). Returns OS_OK or OS_ERR_DB. */
int engine_newest_reset(os_engine *e, uint64_t after, uint64_t *seq);

/* engine_recovery.c. begin: the start-up settlement met SIGN entry from_seq the ledger cannot explain;
 * a restored backup starts (or resumes) its recovery and the engine refuses writes
 * (OS_ERR_RECOVERING); any other ledger answers OS_ERR_SIGNER_MISMATCH (err says why). sign_mu held.
 * step: one step of the recovery, from the worker; returns 1 when it did something. */
int engine_recovery_begin(os_engine *e, uint64_t from_seq, char *err, size_t cap);
int engine_recovery_step(os_engine *e);
/* replacement_begin: the device (info; its account loaded) has another attestation key than the pinned
 * one: when it holds the same wallet (the ledger's first receive address), the ledger moves to it and
 * recovers (OS_OK); otherwise OS_ERR_SIGNER_MISMATCH. resume: a recovery a restart interrupted goes
 * on (its phase is in the ledger). sign_mu held. */
int engine_replacement_begin(os_engine *e, const os_msg_info *info, char *err, size_t cap);
int engine_recovery_resume(os_engine *e);
int engine_recovering(os_engine *e);
/* The outpoints a raw transaction spends, at most max (*n: how many were written).
 * Returns: OS_OK; OS_ERR_TX_PARSE. */
int engine_raw_inputs(const uint8_t *raw, size_t len, os_outpoint *ops, size_t max, size_t *n);

/* engine_quorum.c (docs/DESIGN.md §8 "Host flow"). payout_total: what a transaction's payout outputs
 * sum to (os_quorum_required's total). gather, before a signing session of row (tx its draft,
 * log_seq the signer's): OS_OK with the approvals to send in out[0..*n) (0 when tx needs no quorum),
 * or OS_ERR_QUORUM_MISSING when fewer than k usable approvals are held: row is then held in AWAITING
 * with quorum_wait 1 (expired and unregistered approvals dropped, logged). refused: the signer refused
 * an approval or the quorum (status) at log_seq: what it refused is dropped and row is held again.
 * Both return the ledger's failure otherwise. */
uint64_t engine_payout_total(const os_sign_tx *tx);
int engine_quorum_gather(os_engine *e, int64_t row, const os_sign_tx *tx, uint64_t log_seq,
                         os_approval out[OS_MAX_OPERATORS], size_t *n);
int engine_quorum_refused(os_engine *e, int64_t row, int status, uint64_t log_seq);

#endif /* ONCESIGN_HOST_ENGINE_INTERNAL_H */
