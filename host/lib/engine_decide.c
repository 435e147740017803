/* oncesign host — the payout engine's pure decisions (see engine_decide.h). */
#include "engine_decide.h"

#include "oncesign/protocol.h"
#include "oncesign/status.h"

/* ------------------------------------------------------------------ fee and size */

/* Segwit inputs weigh their witness at a quarter: P2WPKH 68 vB (+1 for a high-S free 72-byte
 * signature), P2SH-P2WPKH 91 (+1); legacy P2PKH 148 (+1). */
static uint64_t input_vbytes(uint8_t script_type) {
    switch (script_type) {
    case OS_SCRIPT_P2WPKH: return 69;
    case OS_SCRIPT_P2SH_P2WPKH: return 92;
    default: return 149;
    }
}

#define TX_OVERHEAD_VB 11u     /* version, locktime, counts, segwit marker */
#define OUTPUT_OVERHEAD_VB 9u  /* amount and script length */
#define CHANGE_OUTPUT_VB 34u

uint64_t os_decide_vsize(const uint8_t *input_script_types, size_t n_inputs, const size_t *output_script_lens,
                         size_t n_outputs, int with_change) {
    uint64_t v = TX_OVERHEAD_VB;
    for (size_t i = 0; i < n_inputs; i++) v += input_vbytes(input_script_types[i]);
    for (size_t i = 0; i < n_outputs; i++) v += OUTPUT_OVERHEAD_VB + output_script_lens[i];
    if (with_change) v += CHANGE_OUTPUT_VB;
    return v;
}

uint64_t os_decide_fee(uint64_t vsize, uint64_t rate) { return (vsize * rate + 999) / 1000; }

uint64_t os_decide_fee_rate(uint64_t floor, uint64_t cap, int have_estimate, uint64_t estimate) {
    uint64_t rate = have_estimate ? estimate : floor;
    if (rate < floor) rate = floor;
    if (rate > cap) rate = cap;
    return rate;
}

uint64_t os_decide_bump_fee(uint64_t old_fee, uint64_t vsize, uint64_t rate) {
    uint64_t fee = os_decide_fee(vsize, rate);
    uint64_t floor_fee = old_fee + vsize + old_fee / 4;
    return fee < floor_fee ? floor_fee : fee;
}

/* ------------------------------------------------------------------ coin selection */

/* Coins largest first until they cover out_sum plus the fee; the fee depends on the inputs taken, so
 * it is recomputed per coin. Returns 1 with *choice filled when the coins cover it. */
static int cover(const os_decide_coin *c, size_t nc, uint64_t out_sum, uint64_t out_vb, uint64_t rate,
                 os_coin_choice *choice) {
    uint64_t in_sum = 0, in_vb = 0;
    for (size_t k = 0; k < nc; k++) {
        in_sum += c[k].amount;
        in_vb += input_vbytes(c[k].script_type);
        uint64_t fee_change = os_decide_fee(TX_OVERHEAD_VB + in_vb + out_vb + CHANGE_OUTPUT_VB, rate);
        uint64_t fee_plain = os_decide_fee(TX_OVERHEAD_VB + in_vb + out_vb, rate);
        if (in_sum >= out_sum + fee_change + OS_DUST) {
            choice->n_coins = k + 1;
            choice->with_change = 1;
            choice->fee = fee_change;
            choice->change = in_sum - out_sum - fee_change;
            return 1;
        }
        if (in_sum >= out_sum + fee_plain) {
            choice->n_coins = k + 1;
            choice->with_change = 0;
            choice->fee = in_sum - out_sum;
            choice->change = 0;
            return 1;
        }
    }
    return 0;
}

int os_decide_coins(const os_decide_payout *p, size_t np, const os_decide_coin *c, size_t nc, uint64_t rate,
                    uint8_t *take, os_coin_choice *out) {
    if ((np && (!p || !take)) || (nc && !c) || !out) return OS_ERR_ARG;
    os_coin_choice best = {0}, trial;
    uint64_t out_sum = 0, out_vb = 0;
    size_t n_taken = 0;
    /* Oldest first: each payout joins when the coins still cover everything taken with it. */
    for (size_t i = 0; i < np; i++) {
        take[i] = 0;
        if (n_taken >= OS_MAX_OUTPUTS - 1) continue;
        uint64_t sum = out_sum + p[i].amount, vb = out_vb + OUTPUT_OVERHEAD_VB + p[i].script_len;
        if (sum < out_sum || !cover(c, nc, sum, vb, rate, &trial)) continue;
        take[i] = 1;
        n_taken++;
        out_sum = sum;
        out_vb = vb;
        best = trial;
    }
    if (!n_taken) return OS_ERR_FUNDS;
    best.n_taken = n_taken;
    *out = best;
    return OS_OK;
}

/* ------------------------------------------------------------------ broadcast */

os_tx_event os_decide_broadcast(const os_broadcast_result *br) {
    if (!br) return OS_TXEV_UNKNOWN;
    switch (br->cls) {
    case OS_BROADCAST_SENT: return OS_TXEV_SENT;
    case OS_BROADCAST_NOT_SENT: return br->fee_too_low ? OS_TXEV_FEE_TOO_LOW : OS_TXEV_NOT_SENT;
    case OS_BROADCAST_UNKNOWN: return OS_TXEV_UNKNOWN;
    default: return OS_TXEV_UNKNOWN; /* CHECK_CHAIN: the reconciler reads the chain */
    }
}

/* ------------------------------------------------------------------ signing failures */

static int transient(int status) {
    return status == OS_ERR_TIMEOUT || status == OS_ERR_IO || status == OS_ERR_BUSY || status == OS_ERR_CANCELLED ||
           status == OS_ERR_LOG_FULL || (status >= 0x0100 && status < 0x0200);
}

os_sign_failure_action os_decide_sign_failure(int status, int root_changed, int committed, int replacement) {
    if (root_changed) return OS_SIGNFAIL_KEEP_COMMITTED;
    if (status == OS_ERR_INTERNAL || status == OS_ERR_PROOF_INVALID || status == OS_ERR_NONCE_COMMITTED ||
        status == OS_ERR_PROOF_KIND)
        return OS_SIGNFAIL_MISMATCH;
    if (committed || transient(status)) return OS_SIGNFAIL_RETRY;
    return replacement ? OS_SIGNFAIL_ABANDON_BUMP : OS_SIGNFAIL_RELEASE;
}

int os_decide_refusal_fails_all(int status) { return status == OS_ERR_USER_REJECTED || status == OS_ERR_POLICY_FEE; }

/* ------------------------------------------------------------------ reconciliation */

os_recon_action os_decide_reconcile(const os_recon_view *v) {
    if (!v) return OS_RECON_NOTHING;
    if (v->found && v->confirmations >= 1) {
        if (v->state == OS_TX_CONFIRMED && v->stored_confirmations == v->confirmations) return OS_RECON_NOTHING;
        return OS_RECON_CONFIRMED;
    }
    if (v->found) return OS_RECON_SEEN;
    if (!v->inputs_asked) return OS_RECON_ASK_INPUTS;
    if (v->all_inputs_unspent) return v->live_replacement ? OS_RECON_NOTHING : OS_RECON_REBROADCAST;
    if (!v->input_spent_in_chain) return OS_RECON_WAIT;
    if (!v->family_asked) return OS_RECON_ASK_FAMILY;
    return v->family_confirmed ? OS_RECON_REPLACED_BY_OURS : OS_RECON_CONFLICTED;
}

int os_decide_reconcile_due(uint64_t height, uint64_t last_height, int64_t now_ms, int64_t last_ms,
                            uint32_t recheck_ms, int work_since, int forced) {
    if (forced || work_since || last_ms == 0) return 1;
    if (height != last_height) return 1;
    return now_ms - last_ms >= (int64_t)recheck_ms;
}
