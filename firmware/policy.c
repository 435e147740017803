/* oncesign — spending policy arithmetic. See policy.h. */
#include "policy.h"

#include "address.h"
#include "oncesign/check.h"

int policy_validate(const os_policy *policy) {
    ARG_CHECK(policy != NULL);
    ARG_CHECK(policy->per_payout_cap > 0 && policy->per_payout_cap <= OS_MAX_MONEY);
    ARG_CHECK(policy->velocity_cap > 0 && policy->velocity_cap <= OS_MAX_MONEY);
    ARG_CHECK(policy->velocity_window_s > 0 && policy->velocity_window_s <= POLICY_MAX_WINDOW_S);
    ARG_CHECK(policy->fee_cap > 0 && policy->fee_cap <= OS_MAX_MONEY);
    ARG_CHECK(policy->fee_rate_cap > 0 && policy->fee_rate_cap <= POLICY_MAX_FEE_RATE);
    return OS_OK;
}

uint64_t policy_dust_threshold(int script_kind) {
    /* (output size + size of the input that would spend it) * 3 sat/byte, as Core's GetDustThreshold. */
    switch (script_kind) {
    case SCRIPT_KIND_P2PKH: return (34 + 148) * 3;
    case SCRIPT_KIND_P2SH: return (32 + 148) * 3;
    case SCRIPT_KIND_P2WPKH: return (31 + 67) * 3;
    case SCRIPT_KIND_P2WSH: return (43 + 67) * 3;
    default: return 0;
    }
}

uint64_t policy_velocity_refill(const os_policy *policy, uint64_t spent, uint64_t elapsed_ms) {
    if (policy == NULL || policy->velocity_window_s == 0) return spent;
    /* refill = cap * elapsed / window without 128-bit arithmetic (none on Cortex-M4): split cap into
     * whole multiples of the window and a remainder. window_ms < 2^31 (POLICY_MAX_WINDOW_S), so
     * rest * elapsed < 2^62. */
    uint64_t window_ms = (uint64_t)policy->velocity_window_s * 1000u;
    if (elapsed_ms >= window_ms) return 0;
    uint64_t whole = policy->velocity_cap / window_ms;
    uint64_t rest = policy->velocity_cap % window_ms;
    uint64_t refill = whole * elapsed_ms + rest * elapsed_ms / window_ms;
    return refill >= spent ? 0 : spent - refill;
}

uint32_t policy_evaluate(const os_policy *policy, uint64_t max_payout, uint64_t velocity_amount,
                         uint64_t velocity_spent, uint64_t fee, uint32_t vsize) {
    uint32_t needs = 0;
    if (max_payout > policy->per_payout_cap) needs |= POLICY_NEEDS_PAYOUT_CAP;
    if (velocity_amount > 0 && (velocity_spent > policy->velocity_cap ||
                                velocity_amount > policy->velocity_cap - velocity_spent))
        needs |= POLICY_NEEDS_VELOCITY;
    if (fee > policy->fee_cap) needs |= POLICY_NEEDS_FEE;
    /* fee * 1000 / vsize > cap, without division rounding in the signer's favour */
    /* fee < 2^54 so fee * 1000 < 2^64; fee_rate_cap <= 10^8 and vsize < 2^32 keep the right side
     * below 2^60. */
    if (vsize == 0 || fee > OS_MAX_MONEY || fee * 1000u > policy->fee_rate_cap * (uint64_t)vsize)
        needs |= POLICY_NEEDS_FEE_RATE;
    return needs;
}
