/* oncesign test node — transactions, scripts, addresses and signature hashes.
 *
 * Written independently of firmware/ and proto/ on purpose: the test node checks the signer's
 * transactions, so the two must not share a sighash bug. Everything here is plain host C.
 */
#ifndef ONCESIGN_TESTNODE_TX_H
#define ONCESIGN_TESTNODE_TX_H

#include <stddef.h>
#include <stdint.h>

#define TN_COIN ((int64_t)100000000)
#define TN_MAX_MONEY ((int64_t)105120000 * TN_COIN)

/* Growable byte buffer. All functions abort() on out-of-memory: this is a test tool. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} tn_buf;

void tn_buf_put(tn_buf *b, const void *data, size_t n);
void tn_buf_u8(tn_buf *b, uint8_t v);
void tn_buf_u32(tn_buf *b, uint32_t v);
void tn_buf_u64(tn_buf *b, uint64_t v);
void tn_buf_varint(tn_buf *b, uint64_t v);
/* varint length then bytes */
void tn_buf_varbytes(tn_buf *b, const uint8_t *data, size_t n);
/* a script push of data with the minimal opcode */
void tn_buf_push(tn_buf *b, const uint8_t *data, size_t n);
void tn_buf_free(tn_buf *b);

void *tn_xmalloc(size_t n);
void *tn_xcalloc(size_t n, size_t m);
uint8_t *tn_memdup(const uint8_t *p, size_t n);

/* Hex: decode returns the byte count, or -1 if not hex of even length or longer than cap. */
long tn_hex_decode(const char *hex, uint8_t *out, size_t cap);
/* Allocates; caller frees. */
uint8_t *tn_hex_decode_alloc(const char *hex, size_t *len_out);
/* out needs 2n+1 bytes */
void tn_hex_encode(const uint8_t *in, size_t n, char *out);
char *tn_hex_encode_alloc(const uint8_t *in, size_t n);
/* Display order (reversed) of a 32-byte hash, 65 bytes out. */
void tn_hash_to_hex(const uint8_t hash[32], char out[65]);
/* Parses display-order hex into internal order; 0 on success. */
int tn_hash_from_hex(const char *hex, uint8_t hash[32]);

void tn_sha256(const uint8_t *in, size_t n, uint8_t out[32]);
void tn_sha256d(const uint8_t *in, size_t n, uint8_t out[32]);
void tn_hash160(const uint8_t *in, size_t n, uint8_t out[20]);

typedef struct {
    uint8_t hash[32];
    uint32_t n;
} tn_outpoint;

typedef struct {
    tn_outpoint prev;
    uint8_t *script;
    size_t script_len;
    uint32_t sequence;
    size_t nwit;
    uint8_t **wit;
    size_t *wit_len;
} tn_txin;

typedef struct {
    int64_t value;
    uint8_t *script;
    size_t script_len;
} tn_txout;

typedef struct {
    int32_t version;
    uint32_t locktime;
    size_t nin, nout;
    tn_txin *in;
    tn_txout *out;
} tn_tx;

/* Parses a whole serialized transaction (with or without BIP144 witness) as Core's deserializer does:
 * an empty input list followed by a zero flag byte is a transaction with no inputs and no outputs (left
 * for the mempool checks to refuse). Returns 0 on success, -1 on malformed data or trailing bytes. */
int tn_tx_parse(const uint8_t *raw, size_t len, tn_tx *tx);
/* Legacy-only parse (no witness marker detection), for tests/vectors/node_sighash.json. */
int tn_tx_parse_legacy(const uint8_t *raw, size_t len, tn_tx *tx);
void tn_tx_free(tn_tx *tx);
int tn_tx_has_witness(const tn_tx *tx);
void tn_tx_serialize(const tn_tx *tx, int with_witness, tn_buf *out);
void tn_tx_txid(const tn_tx *tx, uint8_t txid[32]);
void tn_tx_wtxid(const tn_tx *tx, uint8_t wtxid[32]);
/* size = serialized with witness; weight = 3*stripped + size; vsize = ceil(weight/4) */
void tn_tx_sizes(const tn_tx *tx, size_t *size, size_t *vsize, size_t *weight);
int tn_tx_is_coinbase(const tn_tx *tx);
/* Adds an input or output (copies data). Witness stacks are set with tn_txin_set_witness. */
void tn_tx_add_input(tn_tx *tx, const uint8_t prev_hash[32], uint32_t n, const uint8_t *script,
                     size_t script_len, uint32_t sequence);
void tn_tx_add_output(tn_tx *tx, int64_t value, const uint8_t *script, size_t script_len);
void tn_txin_set_script(tn_txin *in, const uint8_t *script, size_t len);
void tn_txin_set_witness(tn_txin *in, size_t n, const uint8_t *const *items, const size_t *lens);

/* Legacy signature hash (the original algorithm, all hash types, OP_CODESEPARATOR removed from the
 * script code). Returns the hash in internal byte order; SIGHASH_SINGLE without a matching output
 * yields 1 as Core does. */
void tn_sighash_legacy(const tn_tx *tx, size_t in_index, const uint8_t *script_code, size_t sc_len,
                       int32_t hash_type, uint8_t out[32]);
/* BIP143 signature hash for witness v0. script_code is the bare script (no length prefix). */
void tn_sighash_bip143(const tn_tx *tx, size_t in_index, const uint8_t *script_code, size_t sc_len,
                       int64_t amount, int32_t hash_type, uint8_t out[32]);

/* Script templates. */
typedef enum {
    TN_SPK_NONSTANDARD = 0,
    TN_SPK_P2PKH,
    TN_SPK_P2SH,
    TN_SPK_P2WPKH,
    TN_SPK_P2WSH,
    TN_SPK_P2PK,
    TN_SPK_MULTISIG,
    TN_SPK_NULLDATA,
    TN_SPK_WITNESS_UNKNOWN
} tn_spk_type;

/* Classifies; hash (when not NULL, 32 bytes) receives the 20/32-byte program or key hash. */
tn_spk_type tn_spk_classify(const uint8_t *spk, size_t len, uint8_t *hash, size_t *hash_len);
const char *tn_spk_type_name(tn_spk_type t);
/* Builds P2PKH/P2SH/P2WPKH scripts into out (25/23/22 bytes); returns the length. */
size_t tn_spk_p2pkh(const uint8_t h[20], uint8_t out[25]);
size_t tn_spk_p2sh(const uint8_t h[20], uint8_t out[23]);
size_t tn_spk_p2wpkh(const uint8_t h[20], uint8_t out[22]);
/* Script asm like Core's ScriptToAsmStr; with_sighash decodes signatures ([ALL]). Allocates. */
char *tn_script_asm(const uint8_t *s, size_t len, int with_sighash);
/* Iterates pushes of a push-only script. Returns number of pushes or -1 if not push-only or
 * malformed; fills up to max items (pointers into s). */
int tn_script_pushes(const uint8_t *s, size_t len, const uint8_t **items, size_t *lens, int max);

/* Monacoin regtest addresses (docs/DESIGN.md §5): P2PKH 111, P2SH 117 (196 also read), HRP "rmona". */
#define TN_P2PKH_VER 111
#define TN_P2SH_VER 117
#define TN_P2SH_VER_OLD 196
#define TN_HRP "rmona"

/* Decodes an address into a scriptPubKey (max 42 bytes). Returns the length or -1. */
long tn_address_to_spk(const char *addr, uint8_t spk[42]);
/* Encodes the address of a scriptPubKey; returns 0, or -1 if it has none. out >= 100 bytes. */
int tn_spk_to_address(const uint8_t *spk, size_t len, char *out);

/* Input script verification of P2PKH, P2SH-P2WPKH and P2WPKH, with Core 0.20's standard flags.
 * Returns 0 when valid. On failure writes Core's reject string ("non-mandatory-script-verify-flag
 * (...)" or "mandatory-script-verify-flag-failed (...)") into err; nonstandard types give
 * "bad-txns-nonstandard-inputs". */
int tn_verify_input(const tn_tx *tx, size_t in_index, const uint8_t *spk, size_t spk_len,
                    int64_t amount, char *err, size_t errlen);

/* DER encode a (low-S) signature of hash with seckey; returns DER length (<=72). */
size_t tn_sign(const uint8_t seckey[32], const uint8_t hash[32], uint8_t der[72]);
/* Compressed pubkey of seckey; 0 on success. */
int tn_pubkey(const uint8_t seckey[32], uint8_t pub[33]);

#endif
