/* oncesign host — the stored draft: the exact os_sign_tx of a ledger transaction, encoded so that a
 * crash at any point can be replayed (the signer's SIGN log entries name it by hashPrevouts and
 * its transaction digest). The ledger layer stores and decodes it; nothing else reads the blob. */
#ifndef ONCESIGN_HOST_DRAFT_H
#define ONCESIGN_HOST_DRAFT_H

#include <stddef.h>
#include <stdint.h>

#include "signing.h"

/* A decoded draft: tx points into in/out, and each input's prev_tx points into blob. */
typedef struct {
    os_sign_tx tx;
    os_sign_input *in;
    os_sign_output *out;
    uint8_t *blob;
    size_t blob_len;
} os_draft;

/* Encodes tx into a fresh heap buffer (*out, freed by the caller).
 * Returns: OS_OK; OS_ERR_ARG (more inputs or outputs than a draft holds); OS_ERR_IO (no memory). */
int os_draft_encode(const os_sign_tx *tx, uint8_t **out, size_t *len);

/* Decodes blob (copied: d owns its memory until os_draft_free).
 * Returns: OS_OK; OS_ERR_DB (the blob is not a well-formed draft); OS_ERR_IO (no memory). */
int os_draft_decode(const uint8_t *blob, size_t len, os_draft *d);

void os_draft_free(os_draft *d);

/* BIP143 hashPrevouts and the transaction digest (proto/tx_digest.h) of tx: how the signer's SIGN
 * log entry names a transaction (version, locktime, sequences, inputs, outputs; no signatures).
 * Returns: OS_OK or the hasher's status. */
int os_draft_commitment(const os_sign_tx *tx, uint8_t hash_prevouts[32], uint8_t tx_digest[32]);

#endif /* ONCESIGN_HOST_DRAFT_H */
