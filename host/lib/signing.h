/* oncesign host — drives one signing session on the signer and assembles the signed transaction.
 *
 * The host side of the flow drawn at the top of firmware/signer.c:
 *
 *   SIGN_BEGIN → per input: SIGN_INPUT + the full previous transaction in SIGN_PREVTX chunks
 *   → per output: SIGN_OUTPUT (payouts carry their nonce and a proof built from the host's tree:
 *     absence for a new nonce — proven against the root that includes the payouts before it in
 *     this transaction — or presence plus the anchor for a replacement)
 *   → SIGN_FINISH (PENDING while the operator decides) → SIGN_DONE → SIGN_GET_SIGS pages.
 *
 * The host's tree follows the signer's: new nonces are inserted while the outputs are sent and
 * taken out again when the signer refuses before its commit. When the answer to SIGN_FINISH is
 * lost (transport error, timeout), the commit may or may not have happened: the session asks the
 * device for its root and keeps or rolls back its inserts to match (I6: fail closed on anything
 * else).
 */
#ifndef ONCESIGN_HOST_SIGNING_H
#define ONCESIGN_HOST_SIGNING_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "nonce_tree.h"
#include "oncesign/protocol.h"

typedef struct {
    os_outpoint prevout;
    uint32_t sequence;
    uint8_t script_type;        /* os_script_type of the coin being spent */
    uint32_t account;
    uint8_t change;
    uint32_t addr_index;
    const uint8_t *prev_tx;     /* the full previous transaction (borrowed) */
    size_t prev_tx_len;
} os_sign_input;

typedef struct {
    uint8_t kind;               /* OS_OUTPUT_CHANGE or OS_OUTPUT_PAYOUT */
    uint64_t amount;
    uint8_t script[OS_MAX_PAYOUT_SCRIPT];   /* the output script, for both kinds (serialization) */
    uint8_t script_len;
    /* CHANGE: the signer derives the script from this path and compares */
    uint8_t change_script_type;
    uint32_t change_account, change_index;
    /* PAYOUT */
    uint8_t nonce[32];
    uint8_t replace;            /* 1: the nonce is committed and anchor names its anchor */
    uint8_t reanchor;           /* 1: the nonce is committed with anchor, which another transaction
                                   spent: the signer moves it to input 0 once the operator approves
                                   (at most one per transaction; PROTOCOL.md §5) */
    os_outpoint anchor;
    const os_voucher *voucher;  /* a new payout's issuer voucher (borrowed), sent as SIGN_VOUCHER before
                                   its SIGN_OUTPUT; NULL for none (refused when the signer requires
                                   vouchers). Ignored for replacements and re-anchors: the leaf binds those */
} os_sign_output;

typedef struct {
    uint32_t version, locktime;
    size_t n_inputs, n_outputs;
    const os_sign_input *inputs;
    const os_sign_output *outputs;
    size_t n_approvals;         /* operator approvals (borrowed), sent as SIGN_APPROVAL after the last
                                   output and before SIGN_FINISH; a transaction whose payouts total above
                                   the signer's quorum threshold needs k of them (PROTOCOL.md §2.8) */
    const os_approval *approvals;
} os_sign_tx;

typedef struct {
    uint8_t sig[OS_MAX_DER_SIG];    /* DER + sighash type byte */
    uint8_t sig_len;
    uint8_t pubkey[33];
} os_input_sig;

typedef struct {
    int status;                 /* OS_OK, the device's refusal code, or a host/transport error */
    int device_refused;         /* 1 when status is the signer's own answer (its ERROR reply); 0 when the
                                 * host refused or failed before or without the device's word */
    uint16_t index;             /* input/output the refusal concerns, 0xFFFF for none */
    uint8_t detail[OS_ERROR_DETAIL_MAX];
    uint8_t detail_len;         /* NONCE_COMMITTED: nonce(32) anchor txid(32) anchor vout(4) */
    uint64_t log_seq;           /* the signer's SIGN entry, on success */
    uint8_t nonce_root[32];     /* the signer's root after the commit, on success */
    int committed;              /* 1 when the signer is known to have committed this transaction's nonces
                                 * (SIGN_DONE arrived, or after a lost answer its root is the tree's with
                                 * them): only then does the tree keep the new leaves */
} os_sign_outcome;

/* Sorts the payout outputs among the payout positions by nonce key (the order the signer
 * requires), leaving change outputs where they are.
 * Returns: OS_OK, OS_ERR_ARG; OS_ERR_NONCE_ORDER when two payouts share a nonce. */
int os_sign_sort_payouts(os_sign_output *outputs, size_t n_outputs);

/* How many payouts tx anchors at its input 0: its new and re-anchored payouts (SIGN_BEGIN's
 * n_anchored; the count in the anchor entry the signer inserts for input 0). tx may be NULL (0). */
uint16_t os_sign_anchored(const os_sign_tx *tx);

/* Runs one signing session.
 * Returns: OS_OK when every input is signed (sigs[0..n_inputs) filled, outcome->log_seq and
 *          nonce_root set, and the tree now equals the signer's set); otherwise the refusal or
 *          error, also in outcome->status, with the tree back in the state the signer holds.
 *          The tree keeps this transaction's new leaves exactly when outcome->committed is 1
 *          (OS_OK, or OS_ERR_TIMEOUT when the signatures' answer was lost after a commit the signer
 *          confirmed). OS_ERR_IO when the answer to SIGN_FINISH was lost and the signer cannot be
 *          asked (e.g. its power was cut during the commit): it may or may not have committed, and
 *          only its log can tell (the engine's start-up check replays it).
 *          OS_ERR_INTERNAL when the signer's root matches neither the tree before nor after this
 *          transaction: the host must stop and rebuild its tree from the signer's log.
 *          OS_ERR_ANCHOR_SPENT (outcome->index: the input) when an input is the anchor of committed
 *          payouts tx does not all replace, or input 0 is one and tx anchors payouts: refused, logged.
 * Args:    c: an open client. tree: the host's copy of the signer's nonce set.
 * In:      tx: the transaction; payout outputs must already be in key order.
 *          on_pending (may be NULL): called when the signer waits for the operator.
 * Out:     sigs: n_inputs entries. outcome: always filled. */
int os_sign_run(os_client *c, nonce_tree *tree, const os_sign_tx *tx, os_input_sig *sigs,
                os_sign_outcome *outcome, void (*on_pending)(void *ctx), void *ctx);

/* Serializes the signed transaction (segwit serialization when any input is segwit).
 * Returns: OS_OK, OS_ERR_BUFFER, OS_ERR_ARG.
 * Out:     out[0..*len); txid (internal byte order) when not NULL. */
int os_sign_serialize(const os_sign_tx *tx, const os_input_sig *sigs, uint8_t *out, size_t cap, size_t *len,
                      uint8_t txid[32]);

/* Serializes tx unsigned: every scriptSig empty, no witnesses (legacy serialization): what an
 * operator's tool parses to recompute the transaction digest it approves (docs/API.md).
 * Returns: OS_OK, OS_ERR_BUFFER, OS_ERR_ARG. Out: out[0..*len). */
int os_sign_serialize_unsigned(const os_sign_tx *tx, uint8_t *out, size_t cap, size_t *len);

/* Checks every signature against the sighash the host computes itself with its own copy of the
 * previous outputs (libsecp256k1 verify, low-S required).
 * Returns: OS_OK, or OS_ERR_CRYPTO with *bad_input set. */
int os_sign_verify(const os_sign_tx *tx, const os_input_sig *sigs, size_t *bad_input);

#endif /* ONCESIGN_HOST_SIGNING_H */
