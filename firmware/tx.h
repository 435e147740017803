/* oncesign — Monacoin (= Bitcoin format, no fork id) transaction parsing and signature hashes.
 *
 * Two streaming engines with memory fixed at compile time, whatever the size of the data fed:
 *
 *   tx_prev_parser  checks a previous transaction streamed in chunks (up to OS_MAX_PREVTX_BYTES):
 *                   its txid and the amount/script of one output. Input amounts are taken only from
 *                   here, never from the host (I4, the 2020 segwit fee attack).
 *   tx_sighasher    sees the transaction being signed once (inputs, then outputs) and afterwards
 *                   answers the legacy and BIP143 SIGHASH_ALL hash of any input.
 *
 * Hashes are 32-byte double-SHA256 digests in the order they leave SHA-256 ("internal" order);
 * display order (block explorers, RPC) is the reverse.
 */
#ifndef ONCESIGN_TX_H
#define ONCESIGN_TX_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/sha256.h"
#include "oncesign/protocol.h"

#define TX_SCRIPT_CAPTURE_MAX 40   /* the prevout script we keep; longer ones are never ours */
#define TX_MAX_SCRIPT_SIZE 10000   /* consensus MAX_SCRIPT_SIZE: bound for scripts the sighasher hashes */

/* ---------------------------------------------------------------- previous transaction */

/* Streaming parser of one previous transaction. All fields are private; the struct holds no
 * pointer, so it can be copied or kept in a session struct. */
typedef struct {
    mbedtls_sha256_context sha;     /* first SHA-256 over the witness-free serialization */
    uint32_t total_len;             /* bytes the caller announced */
    uint32_t consumed;              /* bytes accepted so far */
    uint32_t vout;                  /* the output to capture */
    uint32_t field_left;            /* bytes left in the current fixed or sized field */
    uint32_t n_inputs;              /* input count (needed again for the witness section) */
    uint32_t list_left;             /* inputs / outputs / witness stacks still to come */
    uint32_t items_left;            /* witness items left in the current stack */
    uint32_t out_index;             /* index of the output being parsed */
    uint32_t found_script_len;      /* full length of output vout's script */
    uint64_t found_amount;
    uint64_t varint_value;
    uint8_t found_script[TX_SCRIPT_CAPTURE_MAX];
    uint8_t field[8];               /* the amount being read */
    uint8_t txid[32];               /* valid once state is done */
    uint8_t state;
    uint8_t varint_need;            /* bytes still to read of the current CompactSize; 0: none begun */
    uint8_t varint_size;            /* total payload bytes of the current CompactSize (0, 2, 4, 8) */
    uint8_t segwit;                 /* marker/flag serialization */
    uint8_t has_witness;            /* some input has a non-empty witness stack */
    uint8_t found;                  /* output vout was seen */
} tx_prev_parser;

/* Starts parsing a previous transaction of total_len bytes and chooses the output to capture.
 * Returns: OS_OK; OS_ERR_TX_LIMITS when total_len is 0 or > OS_MAX_PREVTX_BYTES; OS_ERR_ARG.
 * Args:    p: not NULL; overwritten entirely.
 * In:      total_len: exact byte count that will be fed. vout: output index whose amount and script
 *          tx_prev_finish reports.
 */
int tx_prev_init(tx_prev_parser *p, uint32_t total_len, uint32_t vout);

/* Feeds the next chunk (any size, including 0).
 * Returns: OS_OK; OS_ERR_TX_PARSE on malformed data — non-minimal or oversized CompactSize, a count
 *          or length that cannot fit in the bytes left, zero inputs, a segwit flag other than 1, a
 *          segwit serialization without any witness, bytes after the transaction ended, or more than
 *          total_len bytes in all. The parser then stays failed (every later feed/finish fails).
 *          OS_ERR_ARG when p is NULL or data is NULL with len > 0 (the parser is left unchanged).
 * In:      data: len bytes.
 */
int tx_prev_feed(tx_prev_parser *p, const uint8_t *data, size_t len);

/* Reports the result after exactly total_len bytes were fed.
 * Returns: OS_OK; OS_ERR_TX_PARSE if failed, incomplete, or the transaction ended before total_len;
 *          OS_ERR_TX_PREV_VOUT if vout >= number of outputs; OS_ERR_TX_NOT_OURS if that output's
 *          script is longer than TX_SCRIPT_CAPTURE_MAX; OS_ERR_ARG.
 * Args:    p: not NULL; not modified (finish can be called again).
 * Out:     txid: internal byte order (double SHA-256 of the serialization without witness).
 *          amount: satoshi of output vout (not range-checked here: policy does that).
 *          script, script_len: output vout's scriptPubKey. All written only on OS_OK.
 */
int tx_prev_finish(tx_prev_parser *p, uint8_t txid[32], uint64_t *amount,
                   uint8_t script[TX_SCRIPT_CAPTURE_MAX], size_t *script_len);

/* ---------------------------------------------------------------- sighash of the transaction signed */

/* Everything needed for every input's legacy and BIP143 sighash, filled in one pass.
 * legacy[i] holds the legacy preimage of input i up to (excluding) nLockTime; it saw its own
 * scriptCode in slot i and empty scripts in the other slots. */
typedef struct {
    mbedtls_sha256_context legacy[OS_MAX_INPUTS];
    mbedtls_sha256_context bip143;  /* hashPrevouts, hashSequence, hashOutputs in turn (below) */
    mbedtls_sha256_context bip143_seq; /* hashSequence, alongside hashPrevouts */
    uint8_t hash_prevouts[32];
    uint8_t hash_sequence[32];
    uint8_t hash_outputs[32];
    uint32_t version, locktime;
    uint16_t n_inputs, n_outputs;
    uint16_t next_input, next_output;
    uint8_t state;
} tx_sighasher;

/* Starts a transaction.
 * Returns: OS_OK; OS_ERR_TX_LIMITS when n_inputs is 0 or > OS_MAX_INPUTS, or n_outputs is 0 or
 *          > OS_MAX_OUTPUTS; OS_ERR_ARG when h is NULL.
 * Args:    h: overwritten entirely.
 */
int tx_sighasher_begin(tx_sighasher *h, uint32_t version, uint32_t locktime, uint16_t n_inputs,
                       uint16_t n_outputs);

/* Adds input `index` (which must be the next one).
 * Returns: OS_OK; OS_ERR_TX_ORDER when index is not the next input or all inputs are in;
 *          OS_ERR_TX_LIMITS when script_code_len > TX_MAX_SCRIPT_SIZE; OS_ERR_ARG. On error h is
 *          unchanged.
 * In:      prevout: the outpoint spent. sequence: nSequence. script_code: what this input's legacy
 *          preimage puts in its own scriptSig slot (the P2PKH scriptPubKey; for segwit inputs the
 *          same, unused), without length prefix; NULL allowed when script_code_len is 0.
 */
int tx_sighasher_add_input(tx_sighasher *h, uint16_t index, const os_outpoint *prevout,
                           uint32_t sequence, const uint8_t *script_code, size_t script_code_len);

/* Adds the next output (only after all inputs).
 * Returns: OS_OK; OS_ERR_TX_ORDER before all inputs or after all outputs; OS_ERR_TX_LIMITS when
 *          len > TX_MAX_SCRIPT_SIZE; OS_ERR_ARG. On error h is unchanged.
 * In:      amount: satoshi (hashed as 8 LE bytes, not range-checked). script: len bytes, NULL
 *          allowed when len is 0.
 */
int tx_sighasher_add_output(tx_sighasher *h, uint64_t amount, const uint8_t *script, size_t len);

/* Legacy (pre-segwit) signature hash of input `index`, SIGHASH_ALL semantics.
 * Returns: OS_OK; OS_ERR_TX_ORDER before all outputs were added; OS_ERR_ARG when index is out of
 *          range; OS_ERR_UNSUPPORTED when hashtype does not mean ALL ((hashtype & 0x1f) is NONE (2)
 *          or SINGLE (3), or the ANYONECANPAY bit 0x80 is set).
 * Args:    h: not modified (can be asked for every input, in any order, any number of times).
 * In:      hashtype: appended to the preimage as 4 LE bytes.
 * Out:     sighash: the double SHA-256 digest that is signed.
 */
int tx_sighasher_legacy(const tx_sighasher *h, uint16_t index, uint32_t hashtype, uint8_t sighash[32]);

/* BIP143 (segwit v0) signature hash, SIGHASH_ALL semantics.
 * Returns: as tx_sighasher_legacy; OS_ERR_TX_LIMITS when script_code_len > TX_MAX_SCRIPT_SIZE.
 * In:      prevout, sequence: those of the input being signed, exactly as passed to add_input (not
 *          checked here: the caller holds them). script_code: the BIP143 scriptCode without its
 *          length prefix (for P2WPKH / P2SH-P2WPKH the 25-byte P2PKH script of the key hash).
 *          amount: the spent output's amount, from tx_prev_finish.
 * Out:     sighash: the double SHA-256 digest that is signed.
 */
int tx_sighasher_bip143(const tx_sighasher *h, const os_outpoint *prevout, const uint8_t *script_code,
                        size_t script_code_len, uint64_t amount, uint32_t sequence, uint32_t hashtype,
                        uint8_t sighash[32]);

/* BIP143 hashPrevouts and hashOutputs of the transaction (checked against the BIP143 vectors; the
 * audit log records hashPrevouts and tx_sighasher_tx_digest).
 * Returns: OS_OK; OS_ERR_TX_ORDER before all outputs were added; OS_ERR_ARG.
 */
int tx_sighasher_commitment(const tx_sighasher *h, uint8_t hash_prevouts[32], uint8_t hash_outputs[32]);

/* The transaction digest (proto/tx_digest.h) of the transaction: version, locktime, every input's
 * outpoint and sequence, every output. The SIGN log entry records it and an approval binds it.
 * Returns: OS_OK; OS_ERR_TX_ORDER before all outputs were added; OS_ERR_ARG; OS_ERR_CRYPTO.
 */
int tx_sighasher_tx_digest(const tx_sighasher *h, uint8_t tx_digest[32]);

/* BIP143 hashPrevouts alone, final as soon as every input was added: a refusal in the middle of
 * the outputs still names the inputs the refused transaction tried to spend.
 * Returns: OS_OK; OS_ERR_TX_ORDER before all inputs were added; OS_ERR_ARG. */
int tx_sighasher_hash_prevouts(const tx_sighasher *h, uint8_t hash_prevouts[32]);

/* BIP143 hashSequence (for tests and diagnostics).
 * Returns: OS_OK; OS_ERR_TX_ORDER before all outputs were added; OS_ERR_ARG.
 */
int tx_sighasher_hash_sequence(const tx_sighasher *h, uint8_t hash_sequence[32]);

/* ---------------------------------------------------------------- serialization helpers */

/* Bytes of v as a CompactSize (1, 3, 5 or 9). */
size_t tx_varint_size(uint64_t v);

/* Writes v as a minimal CompactSize; returns the bytes written (tx_varint_size(v)).
 * out has room for 9 bytes. */
size_t tx_write_varint(uint8_t *out, uint64_t v);

#endif /* ONCESIGN_TX_H */
