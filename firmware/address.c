/* oncesign — Monacoin scripts and addresses (contracts in address.h). */
#include "address.h"

#include <string.h>

#include "bip32.h"
#include "crypto.h"
#include "oncesign/check.h"

static const os_network_params networks[] = {
    [OS_NET_MAIN] = {50, 55, 5, "mona", BIP32_VERSION_XPUB, BIP32_VERSION_XPRV, 22},
    [OS_NET_TEST] = {111, 117, 196, "tmona", BIP32_VERSION_TPUB, BIP32_VERSION_TPRV, 1},
    [OS_NET_REGTEST] = {111, 117, 196, "rmona", BIP32_VERSION_TPUB, BIP32_VERSION_TPRV, 1},
};

const os_network_params *address_network(uint8_t network) {
    if (network >= sizeof(networks) / sizeof(networks[0])) return NULL;
    return &networks[network];
}

uint32_t address_purpose(uint8_t script_type) {
    switch (script_type) {
    case OS_SCRIPT_P2PKH: return 44;
    case OS_SCRIPT_P2SH_P2WPKH: return 49;
    case OS_SCRIPT_P2WPKH: return 84;
    default: return 0;
    }
}

int address_account_path(uint8_t network, uint8_t script_type, uint32_t account, uint32_t path[3]) {
    const os_network_params *net = address_network(network);
    uint32_t purpose = address_purpose(script_type);
    ARG_CHECK(path != NULL && net != NULL && purpose != 0);
    ARG_CHECK(account < BIP32_HARDENED);
    path[0] = purpose | BIP32_HARDENED;
    path[1] = net->coin_type | BIP32_HARDENED;
    path[2] = account | BIP32_HARDENED;
    return OS_OK;
}

/* ------------------------------------------------------------------ scripts */

script_kind script_classify(const uint8_t *script, size_t len) {
    if (script == NULL) return SCRIPT_KIND_OTHER;
    if (len == SCRIPT_P2PKH_LEN && script[0] == 0x76 && script[1] == 0xa9 && script[2] == 0x14 &&
        script[23] == 0x88 && script[24] == 0xac) {
        return SCRIPT_KIND_P2PKH;
    }
    if (len == SCRIPT_P2SH_LEN && script[0] == 0xa9 && script[1] == 0x14 && script[22] == 0x87) {
        return SCRIPT_KIND_P2SH;
    }
    if (len == SCRIPT_P2WPKH_LEN && script[0] == 0x00 && script[1] == 0x14) return SCRIPT_KIND_P2WPKH;
    if (len == SCRIPT_P2WSH_LEN && script[0] == 0x00 && script[1] == 0x20) return SCRIPT_KIND_P2WSH;
    return SCRIPT_KIND_OTHER;
}

static int pubkey_prefix_ok(const uint8_t *pub33) {
    return pub33 != NULL && (pub33[0] == 0x02 || pub33[0] == 0x03);
}

static void write_p2pkh(const uint8_t h160[20], uint8_t out[25]) {
    out[0] = 0x76;
    out[1] = 0xa9;
    out[2] = 0x14;
    memcpy(out + 3, h160, 20);
    out[23] = 0x88;
    out[24] = 0xac;
}

static void write_p2sh(const uint8_t h160[20], uint8_t out[23]) {
    out[0] = 0xa9;
    out[1] = 0x14;
    memcpy(out + 2, h160, 20);
    out[22] = 0x87;
}

static void write_witness_v0(const uint8_t *program, size_t program_len, uint8_t *out) {
    out[0] = 0x00;
    out[1] = (uint8_t)program_len;
    memcpy(out + 2, program, program_len);
}

int script_code_for_pubkey(const uint8_t pub33[33], uint8_t script_code[25]) {
    uint8_t h160[20];
    ARG_CHECK(pubkey_prefix_ok(pub33) && script_code != NULL);
    crypto_hash160(pub33, 33, h160);
    write_p2pkh(h160, script_code);
    return OS_OK;
}

int script_sig_redeem_p2sh_p2wpkh(const uint8_t pub33[33], uint8_t out[23]) {
    uint8_t h160[20];
    ARG_CHECK(pubkey_prefix_ok(pub33) && out != NULL);
    crypto_hash160(pub33, 33, h160);
    out[0] = 0x16;                         /* push of the 22-byte redeem script */
    write_witness_v0(h160, sizeof(h160), out + 1);
    return OS_OK;
}

int script_for_pubkey(uint8_t script_type, const uint8_t pub33[33], uint8_t *script, size_t cap,
                      size_t *len) {
    uint8_t h160[20], redeem[SCRIPT_P2WPKH_LEN];
    size_t need;
    ARG_CHECK(pubkey_prefix_ok(pub33) && script != NULL && len != NULL);
    switch (script_type) {
    case OS_SCRIPT_P2PKH: need = SCRIPT_P2PKH_LEN; break;
    case OS_SCRIPT_P2SH_P2WPKH: need = SCRIPT_P2SH_LEN; break;
    case OS_SCRIPT_P2WPKH: need = SCRIPT_P2WPKH_LEN; break;
    default: return OS_ERR_ARG;
    }
    if (cap < need) return OS_ERR_BUFFER;
    crypto_hash160(pub33, 33, h160);
    if (script_type == OS_SCRIPT_P2PKH) {
        write_p2pkh(h160, script);
    } else if (script_type == OS_SCRIPT_P2WPKH) {
        write_witness_v0(h160, sizeof(h160), script);
    } else {
        write_witness_v0(h160, sizeof(h160), redeem);
        crypto_hash160(redeem, sizeof(redeem), h160);
        write_p2sh(h160, script);
    }
    *len = need;
    return OS_OK;
}

/* ------------------------------------------------------------------ base58check */

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static int b58_digit(char c) {
    const char *p;
    if (c == '\0') return -1;
    p = strchr(b58_alphabet, c);
    return p == NULL ? -1 : (int)(p - b58_alphabet);
}

/* strlen bounded by max: returns max + 1 when no NUL comes within max characters. */
static size_t bounded_strlen(const char *s, size_t max) {
    size_t n = 0;
    while (n <= max && s[n] != '\0') n++;
    return n;
}

int base58check_encode(const uint8_t *data, size_t len, char *out, size_t cap) {
    uint8_t buf[BASE58_MAX_DATA + 4];
    uint8_t digits[BASE58_MAX_STRING];   /* base58 digits, least significant first */
    uint8_t check[32];
    size_t total = len + 4, zeros = 0, ndigits = 0, i, j, need;
    ARG_CHECK(data != NULL || len == 0);
    ARG_CHECK(out != NULL);
    ARG_CHECK(len <= BASE58_MAX_DATA);

    if (len > 0) memcpy(buf, data, len);
    crypto_sha256d(buf, len, check);
    memcpy(buf + len, check, 4);
    while (zeros < total && buf[zeros] == 0) zeros++;

    for (i = zeros; i < total; i++) {
        uint32_t carry = buf[i];
        for (j = 0; j < ndigits; j++) {
            carry += (uint32_t)digits[j] << 8;
            digits[j] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry > 0) {
            VERIFY_CHECK(ndigits < sizeof(digits));
            digits[ndigits++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    need = zeros + ndigits + 1;
    if (need > cap) return OS_ERR_BUFFER;
    for (i = 0; i < zeros; i++) out[i] = '1';
    for (i = 0; i < ndigits; i++) out[zeros + i] = b58_alphabet[digits[ndigits - 1 - i]];
    out[zeros + ndigits] = '\0';
    return OS_OK;
}

int base58check_decode(const char *str, uint8_t *out, size_t cap, size_t *out_len) {
    uint8_t bytes[BASE58_MAX_STRING];    /* big-endian value, bytes[0] least significant */
    uint8_t check[32];
    uint8_t decoded[BASE58_MAX_STRING];
    size_t slen, zeros = 0, nbytes = 0, i, j, total;
    ARG_CHECK(str != NULL && out != NULL && out_len != NULL);
    slen = bounded_strlen(str, BASE58_MAX_STRING);
    ARG_CHECK(slen <= BASE58_MAX_STRING);

    while (zeros < slen && str[zeros] == '1') zeros++;
    for (i = zeros; i < slen; i++) {
        int d = b58_digit(str[i]);
        uint32_t carry;
        ARG_CHECK(d >= 0);
        carry = (uint32_t)d;
        for (j = 0; j < nbytes; j++) {
            carry += (uint32_t)bytes[j] * 58u;
            bytes[j] = (uint8_t)carry;
            carry >>= 8;
        }
        while (carry > 0) {
            VERIFY_CHECK(nbytes < sizeof(bytes));
            bytes[nbytes++] = (uint8_t)carry;
            carry >>= 8;
        }
    }
    total = zeros + nbytes;
    ARG_CHECK(total >= 4 && total <= sizeof(decoded));
    memset(decoded, 0, zeros);
    for (i = 0; i < nbytes; i++) decoded[zeros + i] = bytes[nbytes - 1 - i];

    crypto_sha256d(decoded, total - 4, check);
    ARG_CHECK(memcmp(check, decoded + total - 4, 4) == 0);
    if (total - 4 > cap) return OS_ERR_BUFFER;
    memcpy(out, decoded, total - 4);
    *out_len = total - 4;
    return OS_OK;
}

/* ------------------------------------------------------------------ bech32 (BIP173), v0 only */

static const char bech32_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
#define BECH32_CONST 1u   /* bech32m (BIP350) uses 0x2bc830a3 and is refused here */

static uint32_t bech32_polymod_step(uint32_t pre) {
    static const uint32_t gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu, 0x2a1462b3u};
    uint32_t b = pre >> 25, chk = (pre & 0x1FFFFFFu) << 5;
    unsigned i;
    for (i = 0; i < 5; i++) chk ^= (0u - ((b >> i) & 1u)) & gen[i];
    return chk;
}

/* Polymod over the expanded hrp (given lowercase) and the 5-bit values. */
static uint32_t bech32_polymod(const char *hrp, size_t hrp_len, const uint8_t *values, size_t n) {
    uint32_t chk = 1;
    size_t i;
    for (i = 0; i < hrp_len; i++) chk = bech32_polymod_step(chk) ^ ((uint8_t)hrp[i] >> 5);
    chk = bech32_polymod_step(chk);
    for (i = 0; i < hrp_len; i++) chk = bech32_polymod_step(chk) ^ ((uint8_t)hrp[i] & 31u);
    for (i = 0; i < n; i++) chk = bech32_polymod_step(chk) ^ values[i];
    return chk;
}

static int segwit_v0_encode(const char *hrp, const uint8_t *program, size_t program_len,
                            char *out, size_t cap) {
    uint8_t values[1 + 52 + 6];          /* version, 32 bytes in 5-bit groups (52), checksum */
    size_t n = 0, hrp_len = strlen(hrp), i;
    uint32_t acc = 0, bits = 0, chk;
    values[n++] = 0;
    for (i = 0; i < program_len; i++) {
        acc = (acc << 8) | program[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            values[n++] = (uint8_t)((acc >> bits) & 31u);
        }
    }
    if (bits > 0) values[n++] = (uint8_t)((acc << (5 - bits)) & 31u);
    memset(values + n, 0, 6);
    chk = bech32_polymod(hrp, hrp_len, values, n + 6) ^ BECH32_CONST;
    for (i = 0; i < 6; i++) values[n + i] = (uint8_t)((chk >> (5 * (5 - i))) & 31u);
    n += 6;
    if (hrp_len + 1 + n + 1 > cap) return OS_ERR_BUFFER;
    memcpy(out, hrp, hrp_len);
    out[hrp_len] = '1';
    for (i = 0; i < n; i++) out[hrp_len + 1 + i] = bech32_charset[values[i]];
    out[hrp_len + 1 + n] = '\0';
    return OS_OK;
}

static int bech32_value(char c) {
    const char *p;
    if (c == '\0') return -1;
    p = strchr(bech32_charset, c);
    return p == NULL ? -1 : (int)(p - bech32_charset);
}

/* Decodes a segwit v0 address of hrp into its program. OS_ERR_ARG for everything invalid. */
static int segwit_v0_decode(const char *hrp, const char *addr, size_t addr_len,
                            uint8_t *program, size_t *program_len) {
    char lower[BECH32_MAX_STRING];
    uint8_t values[BECH32_MAX_STRING];
    size_t hrp_len = strlen(hrp), i, n, plen = 0;
    int has_lower = 0, has_upper = 0;
    uint32_t acc = 0, bits = 0;

    ARG_CHECK(addr_len <= BECH32_MAX_STRING && addr_len >= hrp_len + 1 + 1 + 6);
    for (i = 0; i < addr_len; i++) {
        char c = addr[i];
        ARG_CHECK(c >= 33 && c <= 126);
        if (c >= 'a' && c <= 'z') has_lower = 1;
        if (c >= 'A' && c <= 'Z') {
            has_upper = 1;
            c = (char)(c - 'A' + 'a');
        }
        lower[i] = c;
    }
    ARG_CHECK(!(has_lower && has_upper));
    /* the separator is the last '1'; the hrp must be this network's */
    ARG_CHECK(memcmp(lower, hrp, hrp_len) == 0 && lower[hrp_len] == '1');
    for (i = hrp_len + 1; i < addr_len; i++) ARG_CHECK(lower[i] != '1');
    n = addr_len - hrp_len - 1;
    for (i = 0; i < n; i++) {
        int v = bech32_value(lower[hrp_len + 1 + i]);
        ARG_CHECK(v >= 0);
        values[i] = (uint8_t)v;
    }
    ARG_CHECK(bech32_polymod(hrp, hrp_len, values, n) == BECH32_CONST);
    ARG_CHECK(values[0] == 0);           /* v1+ (taproot) does not exist on Monacoin 0.20 */
    for (i = 1; i < n - 6; i++) {
        acc = (acc << 5) | values[i];
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            ARG_CHECK(plen < 40);
            program[plen++] = (uint8_t)((acc >> bits) & 0xFFu);
        }
    }
    ARG_CHECK(bits <= 4 && ((acc << (8 - bits)) & 0xFFu) == 0);   /* BIP173 padding rules */
    ARG_CHECK(plen == 20 || plen == 32);
    *program_len = plen;
    return OS_OK;
}

/* ------------------------------------------------------------------ addresses */

static int base58_address(uint8_t version, const uint8_t h160[20], char *out, size_t cap) {
    uint8_t payload[21];
    payload[0] = version;
    memcpy(payload + 1, h160, 20);
    return base58check_encode(payload, sizeof(payload), out, cap);
}

int address_from_script(uint8_t network, const uint8_t *script, size_t len, char *out, size_t cap) {
    const os_network_params *net = address_network(network);
    ARG_CHECK(net != NULL && script != NULL && out != NULL);
    switch (script_classify(script, len)) {
    case SCRIPT_KIND_P2PKH: return base58_address(net->p2pkh_version, script + 3, out, cap);
    case SCRIPT_KIND_P2SH: return base58_address(net->p2sh_version, script + 2, out, cap);
    case SCRIPT_KIND_P2WPKH:
    case SCRIPT_KIND_P2WSH: return segwit_v0_encode(net->bech32_hrp, script + 2, len - 2, out, cap);
    default: return OS_ERR_UNSUPPORTED;
    }
}

static int starts_with_hrp(const char *addr, size_t addr_len, const char *hrp) {
    size_t hrp_len = strlen(hrp), i;
    if (addr_len <= hrp_len || addr[hrp_len] != '1') return 0;
    for (i = 0; i < hrp_len; i++) {
        char c = addr[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != hrp[i]) return 0;
    }
    return 1;
}

int address_to_script(uint8_t network, const char *address, uint8_t *script, size_t cap,
                      size_t *len) {
    const os_network_params *net = address_network(network);
    size_t addr_len;
    ARG_CHECK(net != NULL && address != NULL && script != NULL && len != NULL);
    addr_len = bounded_strlen(address, BECH32_MAX_STRING);
    ARG_CHECK(addr_len >= 1 && addr_len <= BECH32_MAX_STRING);

    if (starts_with_hrp(address, addr_len, net->bech32_hrp)) {
        uint8_t program[40];
        size_t plen = 0;
        CHECK_OK(segwit_v0_decode(net->bech32_hrp, address, addr_len, program, &plen));
        if (cap < plen + 2) return OS_ERR_BUFFER;
        write_witness_v0(program, plen, script);
        *len = plen + 2;
        return OS_OK;
    } else {
        uint8_t payload[BASE58_MAX_DATA];
        size_t plen = 0;
        int rc = base58check_decode(address, payload, sizeof(payload), &plen);
        if (rc == OS_ERR_BUFFER) rc = OS_ERR_ARG;     /* too long to be an address */
        CHECK_OK(rc);
        ARG_CHECK(plen == 21);
        if (payload[0] == net->p2pkh_version) {
            if (cap < SCRIPT_P2PKH_LEN) return OS_ERR_BUFFER;
            write_p2pkh(payload + 1, script);
            *len = SCRIPT_P2PKH_LEN;
            return OS_OK;
        }
        if (payload[0] == net->p2sh_version || payload[0] == net->p2sh_version_legacy) {
            if (cap < SCRIPT_P2SH_LEN) return OS_ERR_BUFFER;
            write_p2sh(payload + 1, script);
            *len = SCRIPT_P2SH_LEN;
            return OS_OK;
        }
        return OS_ERR_ARG;
    }
}
