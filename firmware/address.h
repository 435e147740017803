/* oncesign — Monacoin networks, output scripts and their address encodings (base58check, bech32
 * segwit v0). Pure functions of their arguments: no secp256k1 context needed.
 *
 * Network constants are those of Monacoin Core 0.20.3 (src/chainparams.cpp), checked against
 * addresses published by Electrum-MONA and Trust Wallet Core in tests/unit/test_address.c.
 * Taproot does not exist on Monacoin 0.20.3, so bech32m and witness versions above 0 are refused.
 */
#ifndef ONCESIGN_ADDRESS_H
#define ONCESIGN_ADDRESS_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

#define SCRIPT_P2PKH_LEN 25
#define SCRIPT_P2SH_LEN 23
#define SCRIPT_P2WPKH_LEN 22
#define SCRIPT_P2WSH_LEN 34
#define BASE58_MAX_DATA 128     /* payload bytes (without checksum) base58check handles */
#define BASE58_MAX_STRING 184   /* > (BASE58_MAX_DATA + 4) * log(256) / log(58) = 180.3 */
#define BECH32_MAX_STRING 90    /* BIP173 length limit; also OS_MAX_ADDRESS */

typedef struct {
    uint8_t p2pkh_version;         /* 50 / 111 / 111 */
    uint8_t p2sh_version;          /* 55 / 117 / 117 (written) */
    uint8_t p2sh_version_legacy;   /* 5 / 196 / 196 (also read) */
    const char *bech32_hrp;        /* "mona" / "tmona" / "rmona" */
    uint32_t xpub_version, xprv_version;   /* as Bitcoin: xpub/xprv mainnet, tpub/tprv test+regtest */
    uint32_t coin_type;            /* SLIP-44: 22 mainnet, 1 test and regtest */
} os_network_params;

/* Returns: the parameters of OS_NET_MAIN, OS_NET_TEST or OS_NET_REGTEST (static); NULL for any
 *          other value. */
const os_network_params *address_network(uint8_t network);

/* Returns: the BIP43 purpose of a script type: 44 (P2PKH), 49 (P2SH-P2WPKH), 84 (P2WPKH); 0 for
 *          an unknown type. */
uint32_t address_purpose(uint8_t script_type);

/* The account path purpose'/coin_type'/account' (all hardened).
 * Returns: OS_OK; OS_ERR_ARG on NULL path, unknown network or script type, or
 *          account >= 2^31.
 * Out:     path: 3 indices.
 */
int address_account_path(uint8_t network, uint8_t script_type, uint32_t account, uint32_t path[3]);

typedef enum {
    SCRIPT_KIND_OTHER = 0,
    SCRIPT_KIND_P2PKH,     /* OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG */
    SCRIPT_KIND_P2SH,      /* OP_HASH160 <20> OP_EQUAL */
    SCRIPT_KIND_P2WPKH,    /* OP_0 <20> */
    SCRIPT_KIND_P2WSH      /* OP_0 <32> */
} script_kind;

/* Returns: the kind of an output script by exact template match; SCRIPT_KIND_OTHER for
 *          anything else, including NULL. */
script_kind script_classify(const uint8_t *script, size_t len);

/* The scriptPubKey paying pub33 as script_type: P2PKH (25 bytes), P2SH-P2WPKH (23), P2WPKH (22).
 * Returns: OS_OK; OS_ERR_ARG on NULL, an unknown script type or a pub33 whose prefix is not
 *          02/03; OS_ERR_BUFFER when cap is too small.
 * Out:     script, len.
 */
int script_for_pubkey(uint8_t script_type, const uint8_t pub33[33], uint8_t *script, size_t cap,
                      size_t *len);

/* The P2PKH-form scriptCode 76 a9 14 {hash160(pub)} 88 ac, used by the legacy sighash of P2PKH
 * and by the BIP143 sighash of P2WPKH and P2SH-P2WPKH.
 * Returns: OS_OK; OS_ERR_ARG on NULL or a prefix other than 02/03. Out: script_code: 25 bytes. */
int script_code_for_pubkey(const uint8_t pub33[33], uint8_t script_code[25]);

/* The scriptSig of a P2SH-P2WPKH spend: one push 16 00 14 {hash160(pub)}.
 * Returns: OS_OK; OS_ERR_ARG on NULL or a prefix other than 02/03. Out: out: 23 bytes. */
int script_sig_redeem_p2sh_p2wpkh(const uint8_t pub33[33], uint8_t out[23]);

/* Base58 of data || first 4 bytes of SHA256d(data).
 * Returns: OS_OK; OS_ERR_ARG on NULL or len above BASE58_MAX_DATA; OS_ERR_BUFFER when cap cannot
 *          hold the string and its NUL.
 * Out:     out: NUL-terminated string.
 */
int base58check_encode(const uint8_t *data, size_t len, char *out, size_t cap);

/* Decodes base58check; leading '1's are zero bytes.
 * Returns: OS_OK; OS_ERR_ARG on NULL, a character outside the base58 alphabet, a string longer
 *          than BASE58_MAX_STRING, fewer than 4 decoded bytes or a checksum mismatch;
 *          OS_ERR_BUFFER when the payload exceeds cap.
 * In:      str: NUL-terminated.
 * Out:     out: the payload without checksum. out_len: its length.
 */
int base58check_decode(const char *str, uint8_t *out, size_t cap, size_t *out_len);

/* The address of an output script on network: base58check for P2PKH and P2SH (new P2SH version
 * byte), lowercase bech32 for P2WPKH and P2WSH.
 * Returns: OS_OK; OS_ERR_ARG on NULL or an unknown network; OS_ERR_UNSUPPORTED for a script
 *          without an address form (SCRIPT_KIND_OTHER); OS_ERR_BUFFER when cap is too small.
 * Out:     out: NUL-terminated address.
 */
int address_from_script(uint8_t network, const uint8_t *script, size_t len, char *out, size_t cap);

/* The output script of an address of network: P2PKH, P2SH (written and legacy version bytes),
 * bech32 v0 P2WPKH and P2WSH (all-lowercase or all-uppercase).
 * Returns: OS_OK; OS_ERR_ARG on NULL, an unknown network, an address of another network, a bad
 *          checksum, mixed case, a wrong length, bech32m or witness version 1 and above;
 *          OS_ERR_BUFFER when cap is below the script's length.
 * In:      address: NUL-terminated.
 * Out:     script, len.
 */
int address_to_script(uint8_t network, const char *address, uint8_t *script, size_t cap,
                      size_t *len);

#endif /* ONCESIGN_ADDRESS_H */
