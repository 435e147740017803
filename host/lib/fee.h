/* oncesign host — what a payout transaction pays: the rate from the node's estimate within the
 * host's floor and cap and the signer's policy (fee-rate cap, absolute fee cap), and whether a fee
 * stays inside the signer's policy by the signer's own size (proto/tx_size.h). A transaction the
 * host builds within these never goes to the operator for its fee. Pure functions, unit-tested. */
#ifndef ONCESIGN_HOST_FEE_H
#define ONCESIGN_HOST_FEE_H

#include <stdint.h>

typedef struct {
    uint64_t rate;          /* sat per 1000 vbytes the host aims for */
    uint64_t rate_cap;      /* the lower of the host's --fee-cap and the signer's fee-rate cap */
    uint64_t fee_cap;       /* the signer's absolute fee cap (sat), 0: unknown, no bound */
    int estimate_capped;    /* the node's estimate was above rate_cap */
} os_fee_caps;

/* Returns: the caps and the rate: estimate (0: none, use floor) raised to floor, lowered to rate_cap.
 * In:      floor, host_rate_cap: the daemon's settings (sat/kB); signer_rate_cap, signer_fee_cap: the
 *          signer's policy from GET_INFO (0: not known yet). */
os_fee_caps os_fee_caps_make(uint64_t floor, uint64_t host_rate_cap, uint64_t signer_rate_cap, uint64_t signer_fee_cap,
                             uint64_t estimate);

/* Returns: the fee for a transaction of vsize vbytes (os_tx_vsize_max): vsize * rate / 1000 rounded
 *          up, but never above what the signer's fee-rate check accepts for that size. */
uint64_t os_fee_for(const os_fee_caps *caps, uint32_t vsize);

/* Returns: 1 when fee passes the signer's fee and fee-rate checks for a transaction of vsize vbytes
 *          (fee * 1000 <= rate_cap * vsize, fee <= fee_cap), else 0. */
int os_fee_fits(const os_fee_caps *caps, uint64_t fee, uint32_t vsize);

#endif /* ONCESIGN_HOST_FEE_H */
