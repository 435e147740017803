/* oncesign — the one size estimate of a signed transaction, compiled into the signer (its fee-rate
 * check, firmware/signer.c with firmware/policy.c) and the host (its fee computation,
 * host/lib/engine_chain.c), so both sides compute the same number by construction: a host fee at
 * or below the signer's fee-rate cap by this size never asks the operator for the fee rate.
 * No heap, no stdio. */
#ifndef ONCESIGN_PROTO_TX_SIZE_H
#define ONCESIGN_PROTO_TX_SIZE_H

#include <stdint.h>

/* Upper bound of the signed transaction's virtual size in vbytes (BIP141: weight / 4, rounded up).
 * Signatures are counted at 72 bytes + the sighash type, the longest low-S DER signature, so the rate
 * computed from it never overstates what the fee buys by more than a rounding byte.
 * Returns: the size (never 0: version, counts and locktime alone are 10 bytes).
 * In:      counts of inputs by script type (OS_SCRIPT_P2PKH, OS_SCRIPT_P2SH_P2WPKH, OS_SCRIPT_P2WPKH),
 *          the number of outputs and the total bytes of their scriptPubKeys. */
uint32_t os_tx_vsize_max(uint16_t n_p2pkh, uint16_t n_p2sh_p2wpkh, uint16_t n_p2wpkh, uint16_t n_outputs,
                         uint32_t output_script_bytes);

/* The largest fee (satoshi) that a transaction of vsize vbytes may pay without exceeding
 * fee_rate_cap (satoshi per 1000 vbytes) in the signer's check (fee * 1000 <= cap * vsize).
 * Returns: floor(fee_rate_cap * vsize / 1000). */
uint64_t os_tx_fee_at_rate_cap(uint64_t fee_rate_cap, uint32_t vsize);

#endif /* ONCESIGN_PROTO_TX_SIZE_H */
