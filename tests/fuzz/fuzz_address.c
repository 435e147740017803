/* libFuzzer target for firmware/address.c.
 *
 * Input: byte 0 picks the network (and a mode bit), the rest is either
 *  - an address string: address_to_script and base58check_decode must not crash; when they accept
 *    it, re-encoding must give back the same script (address) or the very same string (base58check
 *    is a bijection); or
 *  - the material of a standard script: it is encoded, decoded back to the same script, and a
 *    single-character substitution in a bech32 address must be refused (BIP173 guarantees that).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

#define MAX_INPUT 256

static void check(int cond) {
    if (!cond) abort();
}

static int equal_ignoring_case(const char *a, const char *b) {
    size_t i;
    for (i = 0; a[i] != '\0' && b[i] != '\0'; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) return 0;
    }
    return a[i] == b[i];
}

static void fuzz_string(uint8_t network, const char *s) {
    const os_network_params *net = address_network(network);
    uint8_t script[64], script2[64], payload[BASE58_MAX_DATA];
    char back[BASE58_MAX_STRING + 1];
    size_t len = 0, len2 = 0, plen = 0;

    if (address_to_script(network, s, script, sizeof(script), &len) == OS_OK) {
        check(script_classify(script, len) != SCRIPT_KIND_OTHER);
        check(address_from_script(network, script, len, back, sizeof(back)) == OS_OK);
        check(address_to_script(network, back, script2, sizeof(script2), &len2) == OS_OK);
        check(len2 == len && memcmp(script, script2, len) == 0);
        if (strcmp(back, s) != 0) {
            /* only an uppercase bech32 address or the legacy P2SH version re-encode differently */
            int legacy = base58check_decode(s, payload, sizeof(payload), &plen) == OS_OK && plen == 21 &&
                         payload[0] == net->p2sh_version_legacy;
            check(legacy || equal_ignoring_case(back, s));
        }
    }
    if (base58check_decode(s, payload, sizeof(payload), &plen) == OS_OK) {
        check(base58check_encode(payload, plen, back, sizeof(back)) == OS_OK);
        check(strcmp(back, s) == 0);
    }
}

static void fuzz_script(uint8_t network, const uint8_t *data, size_t size) {
    uint8_t script[40], decoded[40];
    size_t len, dlen = 0, i;
    char addr[BECH32_MAX_STRING + 1];
    uint8_t kind;
    if (size < 1 + 32 + 2) return;
    kind = data[0] % 4;
    data++;
    memset(script, 0, sizeof(script));
    if (kind == 0) {            /* P2PKH */
        script[0] = 0x76; script[1] = 0xa9; script[2] = 0x14;
        memcpy(script + 3, data, 20);
        script[23] = 0x88; script[24] = 0xac;
        len = 25;
    } else if (kind == 1) {     /* P2SH */
        script[0] = 0xa9; script[1] = 0x14;
        memcpy(script + 2, data, 20);
        script[22] = 0x87;
        len = 23;
    } else if (kind == 2) {     /* P2WPKH */
        script[0] = 0x00; script[1] = 0x14;
        memcpy(script + 2, data, 20);
        len = 22;
    } else {                    /* P2WSH */
        script[0] = 0x00; script[1] = 0x20;
        memcpy(script + 2, data, 32);
        len = 34;
    }
    check(address_from_script(network, script, len, addr, sizeof(addr)) == OS_OK);
    check(address_to_script(network, addr, decoded, sizeof(decoded), &dlen) == OS_OK);
    check(dlen == len && memcmp(decoded, script, len) == 0);

    if (kind >= 2) {
        /* one substituted data character (after "hrp1") must be caught by the checksum */
        size_t hrp_len = strlen(address_network(network)->bech32_hrp), pos, n = strlen(addr);
        static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        pos = hrp_len + 1 + data[32] % (n - hrp_len - 1);
        for (i = 0; i < 32; i++) {
            if (charset[i] != addr[pos]) break;
        }
        i = (i + data[33]) % 32;
        if (charset[i] != addr[pos]) {
            addr[pos] = charset[i];
            check(address_to_script(network, addr, decoded, sizeof(decoded), &dlen) == OS_ERR_ARG);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char s[MAX_INPUT + 1];
    uint8_t network;
    size_t n;
    if (size < 1) return 0;
    network = (uint8_t)(data[0] % 3);
    if (data[0] & 0x80) {
        fuzz_script(network, data + 1, size - 1);
        return 0;
    }
    n = size - 1 < MAX_INPUT ? size - 1 : MAX_INPUT;
    memcpy(s, data + 1, n);
    s[n] = '\0';             /* an embedded NUL just shortens the string */
    fuzz_string(network, s);
    /* the unknown network must be refused, never crash */
    {
        uint8_t script[64];
        size_t len;
        check(address_to_script(3, s, script, sizeof(script), &len) == OS_ERR_ARG);
    }
    return 0;
}
