/* oncesign — nonce-set hashing and proof verification (contracts and rules in nonce_set.h). */
#include "nonce_set.h"

#include <stdatomic.h>
#include <string.h>

#include "mbedtls/sha256.h"
#include "oncesign/check.h"
#include "oncesign/status.h"

/* ---------------------------------------------------------------- tagged hashes */

enum { TAG_KEY, TAG_VALUE, TAG_LEAF, TAG_NODE, TAG_ANCHOR, TAG_COUNT };

static const char *const tag_names[TAG_COUNT] = {
    "oncesign/key", "oncesign/value", "oncesign/leaf", "oncesign/node", "oncesign/anchor",
};

/* SHA256 state after SHA256(tag) | SHA256(tag): one compression saved on every hash. Filled once;
 * tag_state goes 0 (empty) -> 1 (one caller is filling it) -> 2 (ready, read-only from then on). A
 * caller that finds it not ready computes the midstate itself, so the host's threads never wait and
 * never read a half-written context; the firmware simply fills it on first use. */
static mbedtls_sha256_context tag_midstate[TAG_COUNT];
static atomic_int tag_state[TAG_COUNT];
static _Atomic uint32_t hash_counter;

static const uint8_t zero32[32];

static int tag_begin(int tag, mbedtls_sha256_context *ctx) {
    if (atomic_load_explicit(&tag_state[tag], memory_order_acquire) == 2) {
        mbedtls_sha256_clone(ctx, &tag_midstate[tag]);
        return OS_OK;
    }
    uint8_t tag_hash[32];
    const char *name = tag_names[tag];
    if (mbedtls_sha256_ret((const unsigned char *)name, strlen(name), tag_hash, 0) != 0 ||
        mbedtls_sha256_starts_ret(ctx, 0) != 0 ||
        mbedtls_sha256_update_ret(ctx, tag_hash, sizeof tag_hash) != 0 ||
        mbedtls_sha256_update_ret(ctx, tag_hash, sizeof tag_hash) != 0) {
        return OS_ERR_CRYPTO;
    }
    int expected = 0;
    if (atomic_compare_exchange_strong(&tag_state[tag], &expected, 1)) {
        mbedtls_sha256_clone(&tag_midstate[tag], ctx);
        atomic_store_explicit(&tag_state[tag], 2, memory_order_release);
    }
    return OS_OK;
}

/* TH(tag, a | b); b may be NULL with b_len 0. */
static int tagged_hash2(int tag, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                        uint8_t out[32]) {
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    int status = tag_begin(tag, &ctx);
    if (status == OS_OK &&
        (mbedtls_sha256_update_ret(&ctx, a, a_len) != 0 ||
         (b_len > 0 && mbedtls_sha256_update_ret(&ctx, b, b_len) != 0) ||
         mbedtls_sha256_finish_ret(&ctx, out) != 0)) {
        status = OS_ERR_CRYPTO;
    }
    mbedtls_sha256_free(&ctx);
    atomic_fetch_add_explicit(&hash_counter, 1u, memory_order_relaxed);
    return status;
}

uint32_t nonce_set_hash_count(void) {
    return atomic_load_explicit(&hash_counter, memory_order_relaxed);
}

void nonce_set_empty_root(uint8_t root[32]) {
    if (root != NULL) memset(root, 0, 32);
}

int nonce_set_key(const uint8_t nonce[32], uint8_t key[32]) {
    ARG_CHECK(nonce != NULL && key != NULL);
    return tagged_hash2(TAG_KEY, nonce, 32, NULL, 0, key);
}

int nonce_set_leaf_value(const os_outpoint *anchor, const uint8_t *script, size_t script_len,
                         uint64_t amount, uint8_t value[32]) {
    ARG_CHECK(anchor != NULL && value != NULL);
    ARG_CHECK(script_len <= 255);
    ARG_CHECK(script != NULL || script_len == 0);
    uint8_t fixed[32 + 4 + 8 + 1];
    memcpy(fixed, anchor->txid, 32);
    for (unsigned i = 0; i < 4; i++) fixed[32 + i] = (uint8_t)(anchor->vout >> (8 * i));
    for (unsigned i = 0; i < 8; i++) fixed[36 + i] = (uint8_t)(amount >> (8 * i));
    fixed[44] = (uint8_t)script_len;
    return tagged_hash2(TAG_VALUE, fixed, sizeof fixed, script, script_len, value);
}

int nonce_set_anchor_key(const os_outpoint *anchor, uint8_t key[32]) {
    ARG_CHECK(anchor != NULL && key != NULL);
    uint8_t outpoint[32 + 4];
    memcpy(outpoint, anchor->txid, 32);
    for (unsigned i = 0; i < 4; i++) outpoint[32 + i] = (uint8_t)(anchor->vout >> (8 * i));
    return tagged_hash2(TAG_ANCHOR, outpoint, sizeof outpoint, NULL, 0, key);
}

int nonce_set_anchor_value(uint16_t count, uint8_t value[32]) {
    ARG_CHECK(value != NULL && count != 0);
    memset(value, 0, 32);
    value[0] = (uint8_t)count;
    value[1] = (uint8_t)(count >> 8);
    return OS_OK;
}

int nonce_set_anchor_count(const uint8_t value[32], uint16_t *count) {
    ARG_CHECK(value != NULL && count != NULL);
    uint8_t padding = 0;
    for (unsigned i = 2; i < 32; i++) padding |= value[i];
    uint16_t n = (uint16_t)(value[0] | (value[1] << 8));
    if (padding != 0 || n == 0) return OS_ERR_PROOF_INVALID;
    *count = n;
    return OS_OK;
}

int nonce_set_leaf_hash(const uint8_t key[32], const uint8_t value[32], uint8_t out[32]) {
    ARG_CHECK(key != NULL && value != NULL && out != NULL);
    return tagged_hash2(TAG_LEAF, key, 32, value, 32, out);
}

int nonce_set_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]) {
    ARG_CHECK(left != NULL && right != NULL && out != NULL);
    return tagged_hash2(TAG_NODE, left, 32, right, 32, out);
}

/* ---------------------------------------------------------------- proof walking */

typedef enum { SUB_EMPTY, SUB_LEAF, SUB_INTERNAL } subtree_kind;

/* The subtree computed so far at one position of the path. */
typedef struct {
    uint8_t hash[32];
    subtree_kind kind;
} subtree;

static unsigned bitmap_bit(const uint8_t bitmap[32], unsigned level) {
    return (unsigned)(bitmap[level >> 3] >> (level & 7u)) & 1u;
}

/* Moves node one level up: sibling (NULL = empty) sits on the other side of key bit `bit`. The
 * shortcut branch is the normative rule; in a proof that passes R4/R5 it never fires (the terminal's
 * last sibling is non-empty), it is kept so this function is the rule and not a special case of it. */
static int combine(subtree *node, const uint8_t *sibling, unsigned bit) {
    if (sibling == NULL && node->kind != SUB_INTERNAL) {
        return OS_OK; /* empty stays empty; a single leaf stays itself (the shortcut) */
    }
    const uint8_t *other = sibling != NULL ? sibling : zero32;
    int status = bit == 0 ? nonce_set_node_hash(node->hash, other, node->hash)
                          : nonce_set_node_hash(other, node->hash, node->hash);
    CHECK_OK(status);
    node->kind = SUB_INTERNAL;
    return OS_OK;
}

/* Rules R1-R7 of nonce_set.h that need no hashing. */
static int check_proof_shape(const uint8_t key[32], const os_nonce_proof *proof) {
    if (proof->terminal_is_leaf > 1) return OS_ERR_PROOF_INVALID;              /* R1 */
    if (proof->n_siblings > NONCE_PROOF_MAX_SIBLINGS) return OS_ERR_PROOF_TOO_LARGE; /* R7 */
    ARG_CHECK(proof->n_siblings == 0 || proof->siblings != NULL);
    unsigned depth = proof->depth;
    unsigned flagged = 0;
    for (unsigned level = 0; level < 256; level++) {
        if (!bitmap_bit(proof->bitmap, level)) continue;
        if (level >= depth) return OS_ERR_PROOF_INVALID;                       /* R2 */
        flagged++;
    }
    if (flagged != proof->n_siblings) return OS_ERR_PROOF_INVALID;            /* R2 */
    for (unsigned i = 0; i < flagged; i++) {
        if (memcmp(proof->siblings + 32 * i, zero32, 32) == 0) return OS_ERR_PROOF_INVALID; /* R3 */
    }
    if (depth > 0 && !bitmap_bit(proof->bitmap, depth - 1)) return OS_ERR_PROOF_INVALID; /* R4, R5 */
    if (proof->terminal_is_leaf) {
        for (unsigned i = 0; i < depth; i++) {                                 /* R6 */
            if (nonce_set_key_bit(proof->leaf_key, i) != nonce_set_key_bit(key, i)) {
                return OS_ERR_PROOF_INVALID;
            }
        }
    }
    return OS_OK;
}

/* The proof's terminal as the tree had it. */
static int terminal_subtree(const os_nonce_proof *proof, subtree *out) {
    if (!proof->terminal_is_leaf) {
        memset(out->hash, 0, 32);
        out->kind = SUB_EMPTY;
        return OS_OK;
    }
    out->kind = SUB_LEAF;
    return nonce_set_leaf_hash(proof->leaf_key, proof->leaf_value, out->hash);
}

/* Carries old (and, when new_side is not NULL, new) from depth proof->depth up to the root. */
static int climb(const uint8_t key[32], const os_nonce_proof *proof, subtree *old_side,
                 subtree *new_side) {
    unsigned next = proof->n_siblings;
    for (unsigned level = proof->depth; level-- > 0;) {
        const uint8_t *sibling = NULL;
        if (bitmap_bit(proof->bitmap, level)) {
            VERIFY_CHECK(next > 0); /* check_proof_shape matched the count */
            next--;
            sibling = proof->siblings + 32 * next;
        }
        unsigned bit = nonce_set_key_bit(key, level);
        CHECK_OK(combine(old_side, sibling, bit));
        if (new_side != NULL) CHECK_OK(combine(new_side, sibling, bit));
    }
    VERIFY_CHECK(next == 0);
    return OS_OK;
}

int nonce_set_verify_insert(const uint8_t root[32], const uint8_t key[32], const uint8_t value[32],
                            const os_nonce_proof *proof, uint8_t new_root[32]) {
    ARG_CHECK(root != NULL && key != NULL && value != NULL && proof != NULL && new_root != NULL);
    CHECK_OK(check_proof_shape(key, proof));

    subtree old_side;
    CHECK_OK(terminal_subtree(proof, &old_side));
    int present = proof->terminal_is_leaf && memcmp(proof->leaf_key, key, 32) == 0;

    /* Where the new leaf goes, and whether it stays provable (nonce_set.h, "Limits of an insert"). */
    int too_large = 0;
    subtree new_side;
    if (!present) {
        new_side.kind = SUB_LEAF;
        CHECK_OK(nonce_set_leaf_hash(key, value, new_side.hash));
        if (proof->terminal_is_leaf) {
            unsigned split = proof->depth; /* R6 holds: the keys agree on every bit above depth */
            while (split < 256 && nonce_set_key_bit(key, split) == nonce_set_key_bit(proof->leaf_key, split)) {
                split++;
            }
            VERIFY_CHECK(split < 256); /* the keys differ */
            if (split + 1 > NONCE_PROOF_MAX_DEPTH || proof->n_siblings + 1u > NONCE_PROOF_MAX_SIBLINGS) {
                too_large = 1;
            } else {
                /* Both leaves, side by side below the position at depth `split`. */
                CHECK_OK(combine(&new_side, old_side.hash, nonce_set_key_bit(key, split)));
                for (unsigned level = split; level-- > proof->depth;) {
                    CHECK_OK(combine(&new_side, NULL, nonce_set_key_bit(key, level)));
                }
            }
        }
    }

    CHECK_OK(climb(key, proof, &old_side, present || too_large ? NULL : &new_side));
    if (memcmp(old_side.hash, root, 32) != 0) return OS_ERR_PROOF_INVALID;
    if (present) return OS_ERR_PROOF_KIND;
    if (too_large) return OS_ERR_PROOF_TOO_LARGE;
    memcpy(new_root, new_side.hash, 32);
    return OS_OK;
}

int nonce_set_verify_member(const uint8_t root[32], const uint8_t key[32], const uint8_t value[32],
                            const os_nonce_proof *proof) {
    ARG_CHECK(root != NULL && key != NULL && value != NULL && proof != NULL);
    CHECK_OK(check_proof_shape(key, proof));
    subtree node;
    CHECK_OK(terminal_subtree(proof, &node));
    CHECK_OK(climb(key, proof, &node, NULL));
    if (memcmp(node.hash, root, 32) != 0) return OS_ERR_PROOF_INVALID;
    if (!proof->terminal_is_leaf || memcmp(proof->leaf_key, key, 32) != 0) return OS_ERR_PROOF_KIND;
    if (memcmp(proof->leaf_value, value, 32) != 0) return OS_ERR_PROOF_INVALID;
    return OS_OK;
}

int nonce_set_verify_update(const uint8_t root[32], const uint8_t key[32], const uint8_t old_value[32],
                            const uint8_t new_value[32], const os_nonce_proof *proof, uint8_t new_root[32]) {
    ARG_CHECK(root != NULL && key != NULL && old_value != NULL && new_value != NULL && proof != NULL &&
              new_root != NULL);
    CHECK_OK(check_proof_shape(key, proof));
    subtree old_side, new_side;
    CHECK_OK(terminal_subtree(proof, &old_side));
    new_side.kind = SUB_LEAF;
    CHECK_OK(nonce_set_leaf_hash(key, new_value, new_side.hash));
    CHECK_OK(climb(key, proof, &old_side, &new_side));
    if (memcmp(old_side.hash, root, 32) != 0) return OS_ERR_PROOF_INVALID;
    if (!proof->terminal_is_leaf || memcmp(proof->leaf_key, key, 32) != 0) return OS_ERR_PROOF_KIND;
    if (memcmp(proof->leaf_value, old_value, 32) != 0) return OS_ERR_PROOF_INVALID;
    memcpy(new_root, new_side.hash, 32);
    return OS_OK;
}
