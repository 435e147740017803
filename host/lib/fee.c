/* oncesign host — fee decisions. See fee.h. */
#include "fee.h"

#include "tx_size.h"

os_fee_caps os_fee_caps_make(uint64_t floor, uint64_t host_rate_cap, uint64_t signer_rate_cap, uint64_t signer_fee_cap,
                             uint64_t estimate) {
    os_fee_caps c;
    c.rate_cap = host_rate_cap;
    if (signer_rate_cap != 0 && signer_rate_cap < c.rate_cap) c.rate_cap = signer_rate_cap;
    c.fee_cap = signer_fee_cap;
    c.estimate_capped = estimate > c.rate_cap;
    c.rate = estimate > floor ? estimate : floor;
    if (c.rate > c.rate_cap) c.rate = c.rate_cap;
    return c;
}

uint64_t os_fee_for(const os_fee_caps *caps, uint32_t vsize) {
    uint64_t fee = ((uint64_t)vsize * caps->rate + 999u) / 1000u;
    uint64_t most = os_tx_fee_at_rate_cap(caps->rate_cap, vsize);
    return fee < most ? fee : most;
}

int os_fee_fits(const os_fee_caps *caps, uint64_t fee, uint32_t vsize) {
    if (fee > os_tx_fee_at_rate_cap(caps->rate_cap, vsize)) return 0;
    return caps->fee_cap == 0 || fee <= caps->fee_cap;
}
