/* oncesign — the shared transaction size estimate. See tx_size.h. */
#include "tx_size.h"

uint32_t os_tx_vsize_max(uint16_t n_p2pkh, uint16_t n_p2sh_p2wpkh, uint16_t n_p2wpkh, uint16_t n_outputs,
                         uint32_t output_script_bytes) {
    /* Weight units. Non-witness bytes count 4, witness bytes 1. */
    uint32_t n_inputs = (uint32_t)n_p2pkh + n_p2sh_p2wpkh + n_p2wpkh;
    uint32_t varint_in = n_inputs < 0xfd ? 1 : 3;
    uint32_t varint_out = n_outputs < 0xfd ? 1 : 3;
    uint64_t base = 4 + varint_in + varint_out + 4;            /* version, counts, locktime */
    /* outpoint 36 + sequence 4 + scriptSig length byte */
    base += (uint64_t)n_p2pkh * (36 + 4 + 1 + 1 + 73 + 1 + 33);  /* push sig, push pubkey */
    base += (uint64_t)n_p2sh_p2wpkh * (36 + 4 + 1 + 23);        /* push of the 22-byte redeem script */
    base += (uint64_t)n_p2wpkh * (36 + 4 + 1);
    base += (uint64_t)n_outputs * (8 + 1) + output_script_bytes;
    uint64_t weight = base * 4;
    uint32_t n_segwit = (uint32_t)n_p2sh_p2wpkh + n_p2wpkh;
    if (n_segwit > 0) {
        weight += 2;                                             /* marker and flag */
        weight += n_p2pkh;                                       /* empty witness of legacy inputs */
        weight += (uint64_t)n_segwit * (1 + 1 + 73 + 1 + 33);    /* item count, sig, pubkey */
    }
    return (uint32_t)((weight + 3) / 4);
}

uint64_t os_tx_fee_at_rate_cap(uint64_t fee_rate_cap, uint32_t vsize) {
    return fee_rate_cap * (uint64_t)vsize / 1000u;
}
