/* oncesign host — output descriptors (contract in descriptor.h). The checksum follows BIP380's
 * specification: a BCH code over GF(32) of the descriptor's characters expanded into symbols. */
#include "descriptor.h"

#include <stdio.h>
#include <string.h>

#include "oncesign/check.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

/* BIP380's input character set: the position of a character gives its symbol (low 5 bits) and
 * its group (high bits); the order is part of the algorithm. */
static const char input_charset[] = "0123456789()[],'/*abcdefgh@:$%{}"
                                    "IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~"
                                    "ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";
static const char checksum_charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint64_t polymod(uint64_t chk, unsigned value) {
    static const uint64_t generator[5] = { 0xf5dee51989ull, 0xa9fdca3312ull, 0x1bab10e32dull, 0x3706b1677aull,
                                           0x644d626ffdull };
    uint64_t top = chk >> 35;
    chk = ((chk & 0x7ffffffffull) << 5) ^ value;
    for (int i = 0; i < 5; i++) {
        if ((top >> i) & 1u) chk ^= generator[i];
    }
    return chk;
}

int os_descriptor_add_checksum(const char *desc, char *out, size_t cap) {
    ARG_CHECK(desc != NULL && out != NULL);
    size_t len = strlen(desc);
    ARG_CHECK(cap >= len + 10);
    uint64_t chk = 1;
    unsigned groups[3], n_groups = 0;
    for (size_t i = 0; i < len; i++) {
        const char *pos = desc[i] != '\0' ? strchr(input_charset, desc[i]) : NULL;
        if (pos == NULL) return OS_ERR_ARG;
        unsigned v = (unsigned)(pos - input_charset);
        chk = polymod(chk, v & 31u);
        groups[n_groups++] = v >> 5;
        if (n_groups == 3) {
            chk = polymod(chk, groups[0] * 9u + groups[1] * 3u + groups[2]);
            n_groups = 0;
        }
    }
    if (n_groups == 1) chk = polymod(chk, groups[0]);
    if (n_groups == 2) chk = polymod(chk, groups[0] * 3u + groups[1]);
    for (int i = 0; i < 8; i++) chk = polymod(chk, 0);
    chk ^= 1;
    memcpy(out, desc, len);
    out[len] = '#';
    for (int i = 0; i < 8; i++) out[len + 1 + (size_t)i] = checksum_charset[(chk >> (5 * (7 - i))) & 31u];
    out[len + 9] = '\0';
    return OS_OK;
}

/* Hardened steps are written "h" (BIP380 allows "h" or "'"): the descriptors then survive being
 * pasted into single-quoted shell arguments. */
int os_descriptor_account(const uint8_t fingerprint[4], uint32_t purpose, uint32_t coin, uint32_t account,
                          uint8_t script_type, const char *xpub, unsigned change, char *out, size_t cap) {
    ARG_CHECK(fingerprint != NULL && xpub != NULL && xpub[0] != '\0' && out != NULL && change <= 1);
    const char *open, *close;
    switch (script_type) {
    case OS_SCRIPT_P2PKH: open = "pkh("; close = ")"; break;
    case OS_SCRIPT_P2SH_P2WPKH: open = "sh(wpkh("; close = "))"; break;
    case OS_SCRIPT_P2WPKH: open = "wpkh("; close = ")"; break;
    default: return OS_ERR_ARG;
    }
    char plain[OS_DESCRIPTOR_MAX];
    int n = snprintf(plain, sizeof plain, "%s[%02x%02x%02x%02x/%uh/%uh/%uh]%s/%u/*%s", open, fingerprint[0],
                     fingerprint[1], fingerprint[2], fingerprint[3], (unsigned)purpose, (unsigned)coin,
                     (unsigned)account, xpub, change, close);
    if (n < 0 || (size_t)n >= sizeof plain) return OS_ERR_ARG;
    return os_descriptor_add_checksum(plain, out, cap);
}
