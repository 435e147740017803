/* oncesign — BIP39 (contracts in bip39.h). */
#include "bip39.h"

#include <string.h>

#include "bip39_english.h"
#include "crypto.h"
#include "oncesign/check.h"

const char *bip39_word(uint16_t index) {
    if (index >= BIP39_WORDS) return NULL;
    return bip39_english[index];
}

static int entropy_len_valid(size_t n) {
    return n >= BIP39_MIN_ENTROPY && n <= BIP39_MAX_ENTROPY && n % 4 == 0;
}

/* Bit i (MSB first) of the entropy || checksum stream. */
static unsigned stream_bit(const uint8_t *entropy, size_t entropy_len, const uint8_t *hash,
                           size_t i) {
    size_t byte = i / 8;
    unsigned shift = 7u - (unsigned)(i % 8);
    uint8_t b = byte < entropy_len ? entropy[byte] : hash[byte - entropy_len];
    return (b >> shift) & 1u;
}

int bip39_mnemonic_from_entropy(const uint8_t *entropy, size_t entropy_len,
                                char *out, size_t cap, size_t *out_len) {
    uint8_t hash[32];
    size_t words, w, pos = 0, bit = 0;
    int rc = OS_OK;
    ARG_CHECK(entropy != NULL && out != NULL);
    ARG_CHECK(entropy_len_valid(entropy_len));

    crypto_sha256(entropy, entropy_len, hash);
    words = (entropy_len * 8 + entropy_len / 4) / 11;
    for (w = 0; w < words && rc == OS_OK; w++) {
        unsigned index = 0, k;
        size_t wl;
        for (k = 0; k < 11; k++) index = (index << 1) | stream_bit(entropy, entropy_len, hash, bit++);
        wl = strlen(bip39_english[index]);
        /* room for the word, a following space or the final NUL */
        if (pos + wl + 1 > cap) {
            rc = OS_ERR_BUFFER;
            break;
        }
        memcpy(out + pos, bip39_english[index], wl);
        pos += wl;
        out[pos] = (w + 1 < words) ? ' ' : '\0';
        pos++;
    }
    crypto_wipe(hash, sizeof(hash));
    if (rc != OS_OK) {
        crypto_wipe(out, cap);
        return rc;
    }
    if (out_len != NULL) *out_len = pos - 1;
    return OS_OK;
}

/* Index of word (len letters) in the list, or -1. Compares all 2048 rows byte for byte so the
 * time spent does not tell which word was looked up. */
static int word_index_ct(const char *word, size_t len) {
    char padded[BIP39_WORD_MAX + 1];
    uint32_t found = 0, result = 0, i;
    memset(padded, 0, sizeof(padded));
    memcpy(padded, word, len);   /* len <= BIP39_WORD_MAX checked by the caller */
    for (i = 0; i < BIP39_WORDS; i++) {
        uint8_t diff = 0;
        uint32_t k, eq;
        for (k = 0; k < sizeof(padded); k++) diff |= (uint8_t)(padded[k] ^ bip39_english[i][k]);
        eq = (((uint32_t)diff - 1u) >> 8) & 1u;      /* 1 when diff == 0 */
        result |= i & (0u - eq);
        found |= eq;
    }
    crypto_wipe(padded, sizeof(padded));
    return found ? (int)result : -1;
}

int bip39_mnemonic_to_entropy(const char *mnemonic, size_t len, uint8_t *entropy, size_t cap,
                              size_t *entropy_len) {
    uint8_t bits[33];        /* 24 words * 11 bits = 264 bits = 33 bytes */
    uint8_t hash[32];
    size_t pos = 0, words = 0, nbits, ent_bytes, cs_bits, k;
    int rc = OS_OK;
    ARG_CHECK(mnemonic != NULL && entropy != NULL && entropy_len != NULL);

    memset(bits, 0, sizeof(bits));
    while (pos < len && rc == OS_OK) {
        size_t start = pos, wl;
        int index;
        while (pos < len && mnemonic[pos] != ' ') {
            if (mnemonic[pos] < 'a' || mnemonic[pos] > 'z') rc = OS_ERR_BAD_MNEMONIC;
            pos++;
        }
        wl = pos - start;
        if (rc != OS_OK || wl == 0 || wl > BIP39_WORD_MAX || words >= BIP39_MAX_WORDS) {
            rc = OS_ERR_BAD_MNEMONIC;
            break;
        }
        index = word_index_ct(mnemonic + start, wl);
        if (index < 0) {
            rc = OS_ERR_BAD_MNEMONIC;
            break;
        }
        for (k = 0; k < 11; k++) {
            size_t b = words * 11 + k;
            if (((unsigned)index >> (10 - k)) & 1u) bits[b / 8] |= (uint8_t)(0x80u >> (b % 8));
        }
        words++;
        if (pos < len) {             /* at a space: exactly one, and a word must follow */
            pos++;
            if (pos == len) rc = OS_ERR_BAD_MNEMONIC;
        }
    }
    if (rc == OS_OK && (words < 12 || words % 3 != 0)) rc = OS_ERR_BAD_MNEMONIC;
    if (rc == OS_OK) {
        nbits = words * 11;
        cs_bits = nbits / 33;
        ent_bytes = (nbits - cs_bits) / 8;
        if (ent_bytes > cap) {
            rc = OS_ERR_BUFFER;
        } else {
            uint8_t want = 0, got = 0;
            crypto_sha256(bits, ent_bytes, hash);
            /* checksum bits (at most 8) follow the entropy, left-aligned in bits[ent_bytes] */
            want = (uint8_t)(hash[0] & (uint8_t)(0xFFu << (8 - cs_bits)));
            got = bits[ent_bytes];
            if (!crypto_ct_equal(&want, &got, 1)) {
                rc = OS_ERR_BAD_MNEMONIC;
            } else {
                memcpy(entropy, bits, ent_bytes);
                *entropy_len = ent_bytes;
            }
        }
    }
    crypto_wipe(bits, sizeof(bits));
    crypto_wipe(hash, sizeof(hash));
    return rc;
}

int bip39_seed(const char *mnemonic, size_t len, const char *passphrase, uint8_t seed[64]) {
    static const char salt_prefix[] = "mnemonic";
    size_t pass_len = 0, i;
    ARG_CHECK(mnemonic != NULL && seed != NULL);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)mnemonic[i];
        ARG_CHECK(c != 0 && c < 0x80);
    }
    if (passphrase != NULL) {
        while (pass_len <= BIP39_MAX_PASSPHRASE && passphrase[pass_len] != '\0') {
            ARG_CHECK((unsigned char)passphrase[pass_len] < 0x80);
            pass_len++;
        }
        ARG_CHECK(pass_len <= BIP39_MAX_PASSPHRASE);
    }
    return crypto_pbkdf2_hmac_sha512((const uint8_t *)mnemonic, len,
                                     (const uint8_t *)salt_prefix, sizeof(salt_prefix) - 1,
                                     (const uint8_t *)passphrase, pass_len,
                                     BIP39_PBKDF2_ROUNDS, seed, 64);
}
