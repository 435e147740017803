/* oncesign host — the payout engine's pure decisions (see engine_decide.h). */
#include "engine_decide.h"

#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "tx_size.h"

/* ------------------------------------------------------------------ fee and size */

uint64_t os_decide_vsize(const uint8_t *input_script_types, size_t n_inputs, const size_t *output_script_lens,
                         size_t n_outputs, size_t change_script_len) {
    uint16_t n_type[3] = {0, 0, 0};
    uint32_t script_bytes = (uint32_t)change_script_len;
    for (size_t i = 0; i < n_inputs; i++) n_type[input_script_types[i] < 3 ? input_script_types[i] : 0]++;
    for (size_t i = 0; i < n_outputs; i++) script_bytes += (uint32_t)output_script_lens[i];
    return os_tx_vsize_max(n_type[OS_SCRIPT_P2PKH], n_type[OS_SCRIPT_P2SH_P2WPKH], n_type[OS_SCRIPT_P2WPKH],
                           (uint16_t)(n_outputs + (change_script_len ? 1 : 0)), script_bytes);
}

uint64_t os_decide_fee(uint64_t vsize, uint64_t rate) { return (vsize * rate + 999) / 1000; }

uint64_t os_decide_bump_fee(uint64_t old_fee, uint64_t vsize, uint64_t rate) {
    uint64_t fee = os_decide_fee(vsize, rate);
    uint64_t floor_fee = old_fee + vsize + old_fee / 4;
    return fee < floor_fee ? floor_fee : fee;
}

/* ------------------------------------------------------------------ coin selection */

/* Coins largest first until they cover out_sum plus the fee; the fee depends on the inputs taken, so
 * it is recomputed per coin, by the signer's size (proto/tx_size.h) and within its caps. Returns 1 with
 * *choice filled when the coins cover it. */
static int cover(const os_decide_coin *c, size_t nc, uint64_t out_sum, uint16_t n_out, uint32_t out_script_bytes,
                 const os_fee_caps *caps, size_t change_len, os_coin_choice *choice) {
    uint64_t in_sum = 0;
    uint16_t n_type[3] = {0, 0, 0};
    for (size_t k = 0; k < nc; k++) {
        in_sum += c[k].amount;
        n_type[c[k].script_type < 3 ? c[k].script_type : 0]++;
        uint32_t vb_change = os_tx_vsize_max(n_type[0], n_type[1], n_type[2], (uint16_t)(n_out + 1),
                                             out_script_bytes + (uint32_t)change_len);
        uint32_t vb_plain = os_tx_vsize_max(n_type[0], n_type[1], n_type[2], n_out, out_script_bytes);
        uint64_t fee_change = os_fee_for(caps, vb_change);
        /* more coins only make it larger: past the signer's fee cap no choice of coins fits */
        if (!os_fee_fits(caps, fee_change, vb_change)) return 0;
        if (in_sum >= out_sum + fee_change + OS_DUST) {
            choice->n_coins = k + 1;
            choice->with_change = 1;
            choice->fee = fee_change;
            choice->change = in_sum - out_sum - fee_change;
            return 1;
        }
        if (in_sum >= out_sum + os_fee_for(caps, vb_plain) && os_fee_fits(caps, in_sum - out_sum, vb_plain)) {
            choice->n_coins = k + 1;
            choice->with_change = 0;
            choice->fee = in_sum - out_sum;
            choice->change = 0;
            return 1;
        }
    }
    return 0;
}

int os_decide_coins(const os_decide_payout *p, size_t np, const os_decide_coin *c, size_t nc,
                    const os_fee_caps *caps, size_t change_script_len, uint8_t *take, os_coin_choice *out) {
    if ((np && (!p || !take)) || (nc && !c) || !out || !caps) return OS_ERR_ARG;
    os_coin_choice best = {0}, trial;
    uint64_t out_sum = 0;
    uint32_t out_script_bytes = 0;
    size_t n_taken = 0;
    /* Oldest first: each payout joins when the coins still cover everything taken with it. */
    for (size_t i = 0; i < np; i++) {
        take[i] = 0;
        if (n_taken >= OS_MAX_OUTPUTS - 1) continue;
        uint64_t sum = out_sum + p[i].amount;
        uint32_t bytes = out_script_bytes + (uint32_t)p[i].script_len;
        if (sum < out_sum || !cover(c, nc, sum, (uint16_t)(n_taken + 1), bytes, caps, change_script_len, &trial))
            continue;
        take[i] = 1;
        n_taken++;
        out_sum = sum;
        out_script_bytes = bytes;
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

os_sign_failure_action os_decide_sign_failure(int status, int signer_committed, int committed, int replacement) {
    if (signer_committed) return OS_SIGNFAIL_KEEP_COMMITTED;
    if (status == OS_ERR_INTERNAL || status == OS_ERR_PROOF_INVALID || status == OS_ERR_NONCE_COMMITTED ||
        status == OS_ERR_PROOF_KIND)
        return OS_SIGNFAIL_MISMATCH;
    /* an approval the signer would not take heals by fresher approvals, never by failing payouts */
    if (status == OS_ERR_QUORUM_MISSING || status == OS_ERR_APPROVAL_OPERATOR || status == OS_ERR_APPROVAL_DUPLICATE ||
        status == OS_ERR_APPROVAL_EXPIRED || status == OS_ERR_APPROVAL_MISMATCH)
        return OS_SIGNFAIL_AWAIT_QUORUM;
    if (committed || transient(status)) return OS_SIGNFAIL_RETRY;
    return replacement ? OS_SIGNFAIL_ABANDON_BUMP : OS_SIGNFAIL_RELEASE;
}

int os_decide_refusal_fails_all(int status) {
    return status == OS_ERR_USER_REJECTED || status == OS_ERR_POLICY_FEE;
}

/* ------------------------------------------------------------------ reconciliation */

os_recon_action os_decide_reconcile(const os_recon_view *v) {
    if (!v) return OS_RECON_NOTHING;
    if (v->found && v->confirmations >= 1) {
        if (v->state == OS_TX_CONFIRMED && v->stored_confirmations == v->confirmations) return OS_RECON_NOTHING;
        return OS_RECON_CONFIRMED;
    }
    if (v->found) return OS_RECON_SEEN;
    if (!v->inputs_asked) return OS_RECON_ASK_INPUTS;
    /* Sending it again is for a transaction the node lost, not one it refused for its fee: that one
     * waits for its fee bump (the worker's), which a rebroadcast would otherwise race. */
    if (v->all_inputs_unspent)
        return v->live_replacement || v->needs_bump ? OS_RECON_NOTHING : OS_RECON_REBROADCAST;
    if (!v->input_spent_in_chain) return OS_RECON_WAIT;
    if (!v->family_asked) return OS_RECON_ASK_FAMILY;
    if (v->family_confirmed) return OS_RECON_REPLACED_BY_OURS;
    /* Nothing new is signed for these payouts before a reorg could no longer bring the spent input
     * (and with it this transaction) back. */
    if (!v->spent_deep) return OS_RECON_WAIT;
    /* The anchor gone means no transaction for these payouts can ever confirm: they wait for a
     * re-anchor. */
    if (v->anchor_spent_in_chain) return OS_RECON_ANCHOR_LOST;
    /* Another input gone: the anchor is still ours, so a replacement spending it pays them (their
     * nonces are committed: failing them would lose them for good). Once recorded, or while a
     * replacement is in flight, there is nothing more to do here. */
    return v->input_lost_recorded || v->live_replacement ? OS_RECON_NOTHING : OS_RECON_INPUT_LOST;
}

int os_decide_reconcile_due(uint64_t height, uint64_t last_height, int64_t now_ms, int64_t last_ms,
                            uint32_t recheck_ms, int work_since, int forced) {
    if (forced || work_since || last_ms == 0) return 1;
    if (height != last_height) return 1;
    return now_ms - last_ms >= (int64_t)recheck_ms;
}
