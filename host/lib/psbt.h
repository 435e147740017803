/* oncesign host — PSBT (BIP174, version 0): parser, serializer, oncesign's proprietary output
 * field, and the mapping of a PSBT onto a signing request (host/lib/signing.h). docs/PSBT.md.
 *
 * Representation: every map (global, one per input, one per output) is the ordered list of its
 * key-value pairs exactly as read, so unknown and proprietary entries survive verbatim and
 * parse -> serialize is byte-identical. The parser validates every known key type (key length,
 * value form) on the way in; typed readers below decode on demand. Pairs added later are inserted
 * in key order (BIP174 canonical order), replacing a pair with the same key.
 *
 * oncesign's proprietary output field (key type 0xFC, identifier "oncesign"):
 *   key  fc 08 "oncesign" 01          value: the 32-byte code nonce of a payout output
 *   key  fc 08 "oncesign" 02          value: replacement anchor txid(32, internal order) vout(u32 LE)
 *   key  fc 08 "oncesign" 03          value: the payout's issuer voucher, its 214-byte wire form
 *                                            (proto/voucher.h; for a NEW payout: its nonce is the output's)
 * and its global field, one per operator (at most OS_MAX_OPERATORS):
 *   key  fc 08 "oncesign" 04 <key 32> value: that operator's approval of the transaction, its 104-byte
 *                                            wire form (operator_key | expiry_seq | sig; operator_key = key)
 */
#ifndef ONCESIGN_HOST_PSBT_H
#define ONCESIGN_HOST_PSBT_H

#include <stddef.h>
#include <stdint.h>

#include "bip32.h"
#include "oncesign/protocol.h"
#include "signing.h"

/* Key types of BIP174 version 0. */
#define PSBT_GLOBAL_UNSIGNED_TX   0x00
#define PSBT_GLOBAL_XPUB          0x01
#define PSBT_GLOBAL_VERSION       0xFB
#define PSBT_IN_NON_WITNESS_UTXO  0x00
#define PSBT_IN_WITNESS_UTXO      0x01
#define PSBT_IN_PARTIAL_SIG       0x02
#define PSBT_IN_SIGHASH_TYPE      0x03
#define PSBT_IN_REDEEM_SCRIPT     0x04
#define PSBT_IN_WITNESS_SCRIPT    0x05
#define PSBT_IN_BIP32_DERIVATION  0x06
#define PSBT_IN_FINAL_SCRIPTSIG   0x07
#define PSBT_IN_FINAL_WITNESS     0x08
#define PSBT_OUT_REDEEM_SCRIPT    0x00
#define PSBT_OUT_WITNESS_SCRIPT   0x01
#define PSBT_OUT_BIP32_DERIVATION 0x02
#define PSBT_PROPRIETARY          0xFC

#define PSBT_ONCESIGN_ID          "oncesign"
#define PSBT_ONCESIGN_NONCE       0x01
#define PSBT_ONCESIGN_ANCHOR      0x02
#define PSBT_ONCESIGN_VOUCHER     0x03
#define PSBT_ONCESIGN_APPROVAL    0x04

#define PSBT_MAX_BYTES   (16u * 1024 * 1024)   /* refuse larger inputs outright */
#define PSBT_MAX_IO      10000                 /* inputs or outputs of the unsigned tx */
#define PSBT_MAX_PATH    32                    /* BIP32 derivation depth we decode */

typedef struct {
    uint8_t *key;           /* key type byte first; key_len >= 1 */
    size_t key_len;
    uint8_t *value;
    size_t value_len;
} psbt_pair;

typedef struct {
    psbt_pair *pairs;
    size_t n, cap;
} psbt_map;

typedef struct {
    os_outpoint prevout;
    uint32_t sequence;
} psbt_txin;

typedef struct {
    uint64_t amount;
    const uint8_t *script;  /* points into the unsigned tx's bytes (or the creator's buffer) */
    size_t script_len;
} psbt_txout;

typedef struct {
    uint32_t version, locktime;
    size_t n_inputs, n_outputs;
    psbt_txin *in;
    psbt_txout *out;
    uint8_t txid[32];       /* of the unsigned transaction, internal order */
} psbt_unsigned_tx;

typedef struct {
    psbt_unsigned_tx tx;
    psbt_map global;
    psbt_map *inputs;       /* tx.n_inputs maps */
    psbt_map *outputs;      /* tx.n_outputs maps */
} psbt;

typedef struct {
    uint8_t pubkey[33];
    uint8_t fingerprint[4];
    uint32_t path[PSBT_MAX_PATH];
    size_t depth;
} psbt_bip32;

/* Parses a binary PSBT.
 * Returns: OS_OK; OS_ERR_PSBT with err saying what and where (bad magic, truncated or oversized
 *          field, non-minimal CompactSize, duplicate key, bad key length or value of a known type,
 *          missing/duplicate unsigned tx, scriptSig or witness in the unsigned tx, fewer or more
 *          maps than inputs/outputs, trailing bytes, unsupported PSBT_GLOBAL_VERSION, a non-witness
 *          UTXO whose txid is not the prevout's or that has no such output);
 *          OS_ERR_IO out of memory; OS_ERR_ARG.
 * Out:     *out: released with psbt_free. err: cap bytes, NUL-terminated (may be NULL). */
int psbt_parse(const uint8_t *data, size_t len, psbt **out, char *err, size_t cap);

/* Accepts a binary PSBT or its Base64 text (whitespace around and between lines ignored).
 * Returns: as psbt_parse; OS_ERR_PSBT for text that is not Base64. */
int psbt_decode(const uint8_t *data, size_t len, psbt **out, char *err, size_t cap);

/* Serializes (magic, global map, one map per input, one per output).
 * Returns: OS_OK; OS_ERR_IO out of memory; OS_ERR_ARG. Out: *out malloc'ed (caller frees), *len. */
int psbt_serialize(const psbt *p, uint8_t **out, size_t *len);

/* Base64 of the serialization, NUL-terminated, malloc'ed (caller frees). */
int psbt_to_base64(const psbt *p, char **out);

void psbt_free(psbt *p);

/* A PSBT for an unsigned transaction, with empty maps.
 * Returns: OS_OK; OS_ERR_ARG (NULL, counts above PSBT_MAX_IO, output script NULL with a length);
 *          OS_ERR_IO. */
int psbt_create(uint32_t version, uint32_t locktime, const psbt_txin *in, size_t n_in, const psbt_txout *out,
                size_t n_out, psbt **result);

/* Inserts (key, value) in key order, replacing the value of an equal key.
 * Returns: OS_OK; OS_ERR_ARG (empty key); OS_ERR_IO. */
int psbt_map_set(psbt_map *m, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len);

/* Index of the pair with exactly this key, or -1. */
long psbt_map_find(const psbt_map *m, const uint8_t *key, size_t key_len);

/* Decodes a BIP32 derivation pair (input type 0x06, output type 0x02, both checked by the parser).
 * Returns: OS_OK; OS_ERR_PSBT (not a derivation, or deeper than PSBT_MAX_PATH). */
int psbt_bip32_decode(const psbt_pair *pair, psbt_bip32 *out);

/* The coin input i spends, from its non-witness UTXO (preferred: checked against the prevout) or
 * its witness UTXO.
 * Returns: OS_OK; OS_ERR_NOT_FOUND when the input has neither; OS_ERR_PSBT for a malformed one.
 * Out:     amount; script points into the PSBT (valid while it is unchanged), script_len. */
int psbt_input_coin(const psbt *p, size_t i, uint64_t *amount, const uint8_t **script, size_t *script_len);

/* oncesign's fields on output i.
 * Returns: OS_OK (nonce set; *replace = 1 and anchor set when the anchor subtype is present);
 *          OS_ERR_NOT_FOUND when output i has no nonce; OS_ERR_PSBT when a field is malformed
 *          (value length) or an anchor comes without a nonce; OS_ERR_ARG. */
int psbt_output_nonce(const psbt *p, size_t i, uint8_t nonce[32], int *replace, os_outpoint *anchor);

/* Binds output i to a code nonce (and, when anchor is not NULL, marks it a replacement spending that
 * anchor). Returns: OS_OK; OS_ERR_ARG (index); OS_ERR_IO. */
int psbt_output_bind(psbt *p, size_t i, const uint8_t nonce[32], const os_outpoint *anchor);

/* The voucher output i carries (PSBT_ONCESIGN_VOUCHER).
 * Returns: OS_OK; OS_ERR_NOT_FOUND when it carries none; OS_ERR_PSBT when it does not decode; OS_ERR_ARG. */
int psbt_output_voucher(const psbt *p, size_t i, os_voucher *v);

/* Adds v to output i, which must already be bound to v's nonce as a new payout (psbt_output_bind
 * without anchor), replacing any voucher it carried.
 * Returns: OS_OK; OS_ERR_PSBT_UNSIGNABLE with err when output i is not bound, is a replacement or is
 *          bound to another nonce; OS_ERR_MSG_MALFORMED for a voucher out of range; OS_ERR_ARG; OS_ERR_IO. */
int psbt_output_set_voucher(psbt *p, size_t i, const os_voucher *v, char *err, size_t cap);

/* The operator approvals the PSBT carries (PSBT_ONCESIGN_APPROVAL), in key order.
 * Returns: OS_OK; OS_ERR_PSBT when one does not decode (the parser refuses such a PSBT); OS_ERR_ARG.
 * Out:     out: up to OS_MAX_OPERATORS approvals; *n their count. */
int psbt_approvals(const psbt *p, os_approval out[OS_MAX_OPERATORS], size_t *n);

/* Adds an approval (replacing one by the same operator key).
 * Returns: OS_OK; OS_ERR_PSBT_UNSIGNABLE with err when OS_MAX_OPERATORS other operators' approvals
 *          are there already; OS_ERR_MSG_MALFORMED (expiry_seq 0); OS_ERR_ARG; OS_ERR_IO. */
int psbt_add_approval(psbt *p, const os_approval *a, char *err, size_t cap);

/* The transaction digest (proto/tx_digest.h) of the unsigned transaction: what the SIGN entry and
 * an operator's approval (`oncesign approve --commitment`) bind.
 * Returns: OS_OK; OS_ERR_PSBT_UNSIGNABLE when the signer could not sign it anyway (more than
 *          OS_MAX_INPUTS / OS_MAX_OUTPUTS, or an output script longer than OS_MAX_PAYOUT_SCRIPT);
 *          OS_ERR_IO; OS_ERR_ARG. */
int psbt_tx_digest(const psbt *p, uint8_t digest[32]);

/* Parses a whole transaction (either serialization) and reports its txid and one output.
 * Returns: OS_OK; OS_ERR_TX_PARSE (malformed, trailing bytes); OS_ERR_TX_PREV_VOUT (no such output);
 *          OS_ERR_ARG.
 * Out:     txid (internal order); amount, script (points into tx), script_len of output vout. */
int psbt_tx_output(const uint8_t *tx, size_t len, uint32_t vout, uint8_t txid[32], uint64_t *amount,
                   const uint8_t **script, size_t *script_len);

/* Makes sure the secp256k1 context exists (crypto_init with fresh random bytes) before BIP32 work on
 * the host. Returns: OS_OK; OS_ERR_IO when no randomness; crypto_init's errors. */
int psbt_crypto_ready(void);

/* ---------------------------------------------------------------- PSBT -> signing request */

typedef struct {
    uint8_t network;        /* OS_NET_*: the coin type' the derivation paths must carry */
    /* The signer's account node m/purpose'/coin'/account' (public), e.g. from GET_XPUB.
     * Returns OS_OK or an error that ends the mapping. */
    int (*account_xpub)(void *ctx, uint8_t script_type, uint32_t account, bip32_node *out);
    /* The full previous transaction txid (internal order), malloc'ed; NULL when none is
     * available (then inputs with only a witness UTXO are refused). Returns OS_OK or an error. */
    int (*fetch_prev_tx)(void *ctx, const uint8_t txid[32], uint8_t **raw, size_t *len);
    void *ctx;
} psbt_signer;

typedef struct {
    os_sign_tx tx;                  /* inputs/outputs point at the arrays below */
    os_sign_input *inputs;
    os_sign_output *outputs;
    uint8_t (*pubkeys)[33];         /* per input: the signer's key that signs it */
    os_voucher *vouchers;           /* per output: the voucher outputs[i].voucher points at */
    os_approval approvals[OS_MAX_OPERATORS]; /* tx.approvals points here */
    uint8_t **fetched;              /* previous transactions fetched (owned) */
    size_t n_fetched;
    size_t n_payouts, n_change;
    uint64_t input_total, output_total;
} psbt_sign_request;

/* Maps a PSBT onto os_sign_tx (docs/PSBT.md, "Signing"):
 *   input  -> a PSBT_IN_BIP32_DERIVATION with path m/purpose'/coin'/account'/change/index whose
 *             pubkey is account_xpub(purpose, account)/change/index (the fingerprint is not used:
 *             the device does not tell its master fingerprint), purpose 44'/49'/84' giving the
 *             script type, coin' the network's; the UTXO's script must pay that key; the full
 *             previous transaction from the non-witness UTXO or fetch_prev_tx.
 *   output -> PAYOUT when it carries the oncesign nonce; CHANGE when it has a derivation on the
 *             signer's change chain (.../1/i) whose key's script is the output's; anything else
 *             is refused. Payout outputs must already be in nonce-key order. A payout's voucher
 *             (PSBT_ONCESIGN_VOUCHER) goes with it (os_sign_output.voucher), the approvals
 *             (PSBT_ONCESIGN_APPROVAL) with the transaction (os_sign_tx.approvals).
 * Returns: OS_OK; OS_ERR_PSBT_UNSIGNABLE with err naming the input/output and why;
 *          OS_ERR_NONCE_ORDER when payouts are out of nonce-key order or share a nonce;
 *          OS_ERR_TX_LIMITS above OS_MAX_INPUTS/OS_MAX_OUTPUTS; OS_ERR_PSBT for malformed fields;
 *          the callbacks' errors; OS_ERR_IO.
 * Out:     req: release with psbt_sign_request_free (also after a failure). */
int psbt_to_sign_request(const psbt *p, const psbt_signer *s, psbt_sign_request *req, char *err, size_t cap);
void psbt_sign_request_free(psbt_sign_request *req);

/* Adds the signer's signatures as PSBT_IN_PARTIAL_SIG (pubkey -> DER||sighash byte).
 * Returns: OS_OK; OS_ERR_ARG (counts do not match); OS_ERR_IO. */
int psbt_add_partial_sigs(psbt *p, const psbt_sign_request *req, const os_input_sig *sigs);

#endif /* ONCESIGN_HOST_PSBT_H */
