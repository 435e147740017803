/* oncesign host — the payout engine's decisions, as pure functions: no ledger, no node, no signer,
 * no clock. The worker and the reconciler (engine_chain.c) gather what the world says, ask one of
 * these what it means, and apply the answer through the ledger layer (ledger.h). Each is unit-tested
 * with a table of cases (tests/unit/test_engine_decide.c). */
#ifndef ONCESIGN_HOST_ENGINE_DECIDE_H
#define ONCESIGN_HOST_ENGINE_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "fee.h"
#include "ledger.h"
#include "rpc.h"

#define OS_DUST 546u

/* ---- fee and size ---- */

/* Virtual size of a transaction spending inputs of the given script types to outputs with the given
 * script lengths, plus a change output of change_script_len bytes when that is not 0: the signer's own
 * upper bound (proto/tx_size.h), so a fee the host computes from it is the fee the signer checks. */
uint64_t os_decide_vsize(const uint8_t *input_script_types, size_t n_inputs, const size_t *output_script_lens,
                         size_t n_outputs, size_t change_script_len);

/* The fee for vsize at rate (satoshi per 1,000 vbytes), rounded up. */
uint64_t os_decide_fee(uint64_t vsize, uint64_t rate);

/* A fee bump's fee (BIP125: more absolute fee than the original by at least the replacement's relay
 * fee at 1 sat/vB, and a quarter more, so repeated bumps do not crawl; at least the rate's fee). */
uint64_t os_decide_bump_fee(uint64_t old_fee, uint64_t vsize, uint64_t rate);

/* ---- coin selection ---- */

typedef struct {
    uint64_t amount;
    size_t script_len;
} os_decide_payout;

typedef struct {
    uint64_t amount;
    uint8_t script_type;
} os_decide_coin;

typedef struct {
    size_t n_coins;         /* the coins used: the first n_coins (largest first, as given) */
    uint64_t fee, change;   /* change 0: no change output (the remainder below dust goes to fee) */
    int with_change;
    size_t n_taken;         /* how many payouts take[] marks */
} os_coin_choice;

/* Chooses which of the payouts (oldest first) go into one transaction and which coins (given largest
 * first) pay for them at caps->rate, within the signer's fee and fee-rate caps (fee.h), so the fee never
 * sends the transaction to the operator; a change output has change_script_len bytes of script. A payout the coins cannot cover together with those already taken
 * steps aside (take[i] = 0) and the rest go on, so one payout larger than the funds never holds the
 * queue. take has np entries.
 * Returns: OS_OK (at least one payout taken); OS_ERR_FUNDS (none can be paid); OS_ERR_ARG. */
int os_decide_coins(const os_decide_payout *p, size_t np, const os_decide_coin *c, size_t nc,
                    const os_fee_caps *caps, size_t change_script_len, uint8_t *take, os_coin_choice *out);

/* ---- broadcast ---- */

/* The event a broadcast's classified answer (os_rpc_classify_broadcast) is for the transaction. */
os_tx_event os_decide_broadcast(const os_broadcast_result *br);

/* ---- signing failures ---- */

typedef enum {
    OS_SIGNFAIL_KEEP_COMMITTED = 1, /* the signer committed (root moved): keep the leaves, ask again */
    OS_SIGNFAIL_MISMATCH,           /* the signer's set is not the ledger's: stop signing (I6) */
    OS_SIGNFAIL_RETRY,              /* transient, or an already committed draft: the draft stays */
    OS_SIGNFAIL_ABANDON_BUMP,       /* a fee bump refused: the original stays the payouts' transaction */
    OS_SIGNFAIL_RELEASE,            /* refused before committing: payouts back, or failed when refused */
    OS_SIGNFAIL_AWAIT_QUORUM,       /* the signer refused an approval or found the quorum short: the
                                       approvals it refused go and the draft waits for fresh ones */
} os_sign_failure_action;

/* What a failed signing session (status != OS_OK) means. signer_committed: the signer said, in this
 * session, that it committed (os_sign_outcome.committed: its own root, never the host's guess);
 * committed: the ledger already knew the draft was committed; replacement: the draft replaces a signed
 * transaction of ours. */
os_sign_failure_action os_decide_sign_failure(int status, int signer_committed, int committed, int replacement);

/* Whether a refusal fails every payout of the draft (the operator said no, or the fee is above the
 * signer's policy) rather than only the output the signer named. A lack of the operators' quorum
 * fails none: the draft waits for approvals (OS_SIGNFAIL_AWAIT_QUORUM). */
int os_decide_refusal_fails_all(int status);

/* ---- reconciliation ---- */

/* What the reconciler knows about one of our signed transactions. Fields after `found` are filled
 * only when a previous answer asked for them. */
typedef struct {
    os_tx_state state;              /* as the ledger has it */
    uint32_t stored_confirmations;  /* as the ledger has it */
    int found;                      /* the node knows it (mempool or chain) */
    uint32_t confirmations;         /* when found */
    int inputs_asked;               /* the inputs' view below is filled */
    int all_inputs_unspent;         /* every input is in the UTXO set (mempool included) */
    int input_spent_in_chain;       /* an input is spent in a block (its parent confirmed) */
    int anchor_spent_in_chain;      /* that input is input 0, the anchor of the transaction's payouts */
    int spent_deep;                 /* the input seen spent in a block has been spent for
                                       confirmations_final blocks (the reorg depth the engine trusts
                                       for a confirmation) */
    int input_lost_recorded;        /* the ledger already took a spent input out (os_ledger_tx_input_lost):
                                       the replacement is the worker's */
    int live_replacement;           /* a replacement of ours is still in flight */
    int needs_bump;                 /* the node refused it for its fee: the worker builds a replacement */
    int family_asked;               /* family_confirmed below is filled */
    int family_confirmed;           /* another transaction of ours on the same anchor is confirmed */
} os_recon_view;

typedef enum {
    OS_RECON_NOTHING = 1,       /* nothing changed: write nothing */
    OS_RECON_CONFIRMED,         /* apply CONFIRMED (new confirmations) */
    OS_RECON_SEEN,              /* in the mempool: apply SEEN (when still signed) and add its change */
    OS_RECON_ASK_INPUTS,        /* not found: ask about its inputs, then decide again */
    OS_RECON_REBROADCAST,       /* not found, every input unspent: the same transaction goes out again */
    OS_RECON_ASK_FAMILY,        /* an input spent in a block: ask whether ours spent it, then decide again */
    OS_RECON_REPLACED_BY_OURS,  /* a transaction of ours on the same anchor confirmed */
    OS_RECON_INPUT_LOST,        /* a foreign transaction spent an input other than the anchor,
                                   conclusively (deep enough): it can never confirm; the spent coin
                                   leaves the ledger and the worker replaces it on the same anchor */
    OS_RECON_ANCHOR_LOST,       /* a foreign transaction spent the anchor, conclusively (deep enough):
                                   the payouts wait to be re-anchored, never dropped */
    OS_RECON_WAIT,              /* an input spent in the mempool only, or in a block not yet deep
                                   enough: the chain will decide */
} os_recon_action;

os_recon_action os_decide_reconcile(const os_recon_view *v);

/* Whether the reconciler has reason to ask the node about the transactions now: a new block, work
 * since the last pass (a transaction signed or broadcast), an operator's request, or recheck_ms
 * since the last pass (a mempool can drop a transaction without a block). */
int os_decide_reconcile_due(uint64_t height, uint64_t last_height, int64_t now_ms, int64_t last_ms,
                            uint32_t recheck_ms, int work_since, int forced);

#endif /* ONCESIGN_HOST_ENGINE_DECIDE_H */
