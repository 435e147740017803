/* oncesign — the spending policy (I4): what the signer may sign on its own and what needs the
 * operator. Pure functions over integers, so they are tested exhaustively on the host.
 *
 * Policy decisions are made on the device's own figures: input amounts come from the previous
 * transactions the device parsed, the fee is inputs minus outputs, and the virtual size is
 * computed from the input and output types the device checked — never from the host's word.
 */
#ifndef ONCESIGN_POLICY_H
#define ONCESIGN_POLICY_H

#include <stdint.h>

#include "oncesign/protocol.h"
#include "tx_size.h"

#define OS_MAX_MONEY 10512000000000000ull   /* 105,120,000 MONA in satoshi */
#define POLICY_MAX_WINDOW_S 2000000u          /* ~23 days: keeps the refill arithmetic in 64 bits */
#define POLICY_MAX_FEE_RATE 100000000ull      /* 1 MONA per kvB: ten times sendrawtransaction's limit */

/* Reasons a transaction needs the operator (bit set). Zero: the policy allows it. */
#define POLICY_NEEDS_PAYOUT_CAP  0x01u
#define POLICY_NEEDS_VELOCITY    0x02u
#define POLICY_NEEDS_FEE         0x04u
#define POLICY_NEEDS_FEE_RATE    0x08u
#define POLICY_NEEDS_REANCHOR    0x10u   /* set by the signer, not policy_evaluate: always asks */
#define POLICY_NEEDS_FEE_BUDGET  0x20u
#define POLICY_NEEDS_QUORUM      0x40u   /* set by the signer: the operators' quorum approved, the press confirms */

/* Checks a policy for sanity before it is stored.
 * Returns: OS_OK, or OS_ERR_ARG when a cap, the fee budget or the window is zero or above its
 * maximum. */
int policy_validate(const os_policy *policy);

/* The size the fee-rate check divides by is proto/tx_size.h's os_tx_vsize_max, the same function the
 * host's fee computation uses. */

/* Smallest non-dust amount for an output script of the given kind (Core's 3000 sat/kB dust relay
 * fee): 546 for P2PKH, 540 P2SH, 294 P2WPKH, 330 P2WSH. Returns 0 for unknown kinds. */
uint64_t policy_dust_threshold(int script_kind);

/* The velocity budget is a token bucket: velocity_cap satoshi refill linearly over
 * velocity_window_s seconds of device uptime. Time the device was off earns nothing (a signer has
 * no trustworthy clock across power cycles), which errs on the side of asking the operator.
 *
 * Returns the spent amount after refilling for elapsed_ms. */
uint64_t policy_velocity_refill(const os_policy *policy, uint64_t spent, uint64_t elapsed_ms);

/* The fee budget is a second token bucket over the same window: fee_budget satoshi refill
 * linearly over velocity_window_s seconds of uptime.
 * Returns the fees spent after refilling for elapsed_ms. */
uint64_t policy_fee_refill(const os_policy *policy, uint64_t fee_spent, uint64_t elapsed_ms);

/* Decides what a transaction needs.
 * In:  policy; max_payout: the largest payout output; velocity_amount: what this transaction takes
 *      out of the wallet for the velocity budget: payouts for NEW nonces (a replacement re-pays an
 *      already counted payout) plus the fee (every transaction's fee leaves the wallet, a
 *      consolidation's too); velocity_spent: after refill; fee (counted toward the fee budget,
 *      for every transaction); fee_spent: the fee budget's bucket after refill; vsize.
 * Returns: a POLICY_NEEDS_* bit set, 0 when the signer may sign without the operator. */
uint32_t policy_evaluate(const os_policy *policy, uint64_t max_payout, uint64_t velocity_amount,
                         uint64_t velocity_spent, uint64_t fee, uint64_t fee_spent, uint32_t vsize);

#endif /* ONCESIGN_POLICY_H */
