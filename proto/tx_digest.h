/* oncesign — the one digest that names a transaction without its signatures, defined once here and
 * computed alike by the signer (its SIGN log entry and the approval it binds, firmware/signer.c), the
 * host (the ledger row a SIGN entry names, host/lib/draft.c) and the auditor (a raw transaction from
 * the chain, host/lib/audit.c). No heap, no stdio.
 *
 * tx_digest = TH("oncesign/tx", version u32le | hashPrevouts | hashSequence | hashOutputs | locktime u32le)
 * with TH the BIP340 tagged hash and the three hashes BIP143's. It pins the version, the locktime,
 * every input's outpoint and sequence, and every output; it leaves out scriptSigs and witnesses, so the
 * signer can commit to it before it signs (a P2PKH input's txid contains its signature), and an auditor
 * computes it from the raw transaction on chain. Signatures are deterministic (RFC 6979), so it names
 * the one transaction a node sees. The tag keeps it apart from every other hash of the same bytes. */
#ifndef ONCESIGN_PROTO_TX_DIGEST_H
#define ONCESIGN_PROTO_TX_DIGEST_H

#include <stdint.h>

#define OS_TX_DIGEST_TAG "oncesign/tx"

/* Computes the transaction digest above.
 * Returns: OS_OK; OS_ERR_ARG (a NULL pointer); OS_ERR_CRYPTO (the hash failed).
 * In:      version, locktime: the transaction's; hash_prevouts, hash_sequence, hash_outputs: its BIP143 hashes.
 * Out:     out: the digest, written only on OS_OK. */
int os_tx_digest(uint32_t version, const uint8_t hash_prevouts[32], const uint8_t hash_sequence[32],
                 const uint8_t hash_outputs[32], uint32_t locktime, uint8_t out[32]);

#endif /* ONCESIGN_PROTO_TX_DIGEST_H */
