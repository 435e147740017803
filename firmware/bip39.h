/* oncesign — BIP39 mnemonics, English wordlist only.
 *
 * Mnemonics are lowercase ASCII words separated by single spaces; the length is always passed, so
 * a mnemonic inside a wire message needs no NUL. Unicode normalisation (NFKD) is not implemented:
 * the English list is ASCII, and passphrases with bytes above 0x7f are refused rather than hashed
 * unnormalised into a seed no other wallet would reproduce.
 */
#ifndef ONCESIGN_BIP39_H
#define ONCESIGN_BIP39_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/status.h"

#define BIP39_MIN_ENTROPY 16
#define BIP39_MAX_ENTROPY 32
#define BIP39_MAX_WORDS 24
#define BIP39_MAX_MNEMONIC (BIP39_MAX_WORDS * 9)   /* 24 words of <= 8 letters, spaces, NUL */
#define BIP39_MAX_PASSPHRASE 256
#define BIP39_PBKDF2_ROUNDS 2048

/* Encodes entropy as a mnemonic (checksum = first entropy_len/4 bits of SHA-256(entropy)).
 * Returns: OS_OK; OS_ERR_ARG on NULL or an entropy_len other than 16, 20, 24, 28, 32;
 *          OS_ERR_BUFFER when cap cannot hold the words and the NUL (out is then wiped).
 * In:      entropy, entropy_len.
 * Out:     out: words separated by ' ', NUL-terminated. out_len: strlen(out) (may be NULL).
 */
int bip39_mnemonic_from_entropy(const uint8_t *entropy, size_t entropy_len,
                                char *out, size_t cap, size_t *out_len);

/* Decodes and checks a mnemonic. Word lookup scans the whole list for every word, so timing does
 * not depend on which words the mnemonic holds.
 * Returns: OS_OK; OS_ERR_BAD_MNEMONIC for an unknown word, a word count other than 12, 15, 18,
 *          21, 24, a separator other than one space (leading, trailing, doubled), uppercase, or a
 *          checksum mismatch; OS_ERR_ARG on NULL; OS_ERR_BUFFER when cap is below the entropy.
 * In:      mnemonic, len: the words (no NUL needed; len excludes any NUL).
 * Out:     entropy: entropy_len bytes (16..32). entropy_len: written on OS_OK.
 */
int bip39_mnemonic_to_entropy(const char *mnemonic, size_t len, uint8_t *entropy, size_t cap,
                              size_t *entropy_len);

/* The BIP39 seed: PBKDF2-HMAC-SHA512(password = mnemonic, salt = "mnemonic" || passphrase,
 * 2048 rounds, 64 bytes). As BIP39 specifies, the mnemonic's checksum is not checked here;
 * call bip39_mnemonic_to_entropy first to validate it.
 * Returns: OS_OK; OS_ERR_ARG on NULL mnemonic or seed, a mnemonic with a NUL or non-ASCII byte,
 *          or a passphrase longer than BIP39_MAX_PASSPHRASE or with a byte above 0x7f.
 * In:      mnemonic, len. passphrase: NUL-terminated, NULL means "".
 * Out:     seed: 64 bytes (wiped on failure).
 */
int bip39_seed(const char *mnemonic, size_t len, const char *passphrase, uint8_t seed[64]);

/* Returns: the English word at index (0..2047), NUL-terminated, static; NULL otherwise. */
const char *bip39_word(uint16_t index);

#endif /* ONCESIGN_BIP39_H */
