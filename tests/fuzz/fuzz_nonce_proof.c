/* libFuzzer target: the nonce-set verifiers (proto/nonce_set.c) on proofs built straight from the
 * input bytes, against a small host tree (host/lib/nonce_tree.c) also built from the input.
 *
 * Nothing is decoded: the input fills an os_nonce_proof field by field. Siblings and leaf fields are
 * either raw input bytes or picked from hashes of the real tree (its honest proofs' siblings and
 * leaves), so forged proofs get close to valid ones. Two shapes of input:
 *   - raw: depth, kind, bitmap, sibling count and contents all from the input;
 *   - edited: the honest proof for the key, then a few input-chosen edits (flip a bit, move the depth,
 *     toggle a bitmap bit, swap in a tree hash, change the kind, the count or the leaf).
 * Oracles, from the host tree that knows the truth (abort on violation):
 *   verify_insert OK     -> key absent, and the new root equals the tree's root after inserting it;
 *   verify_insert KIND   -> key present;
 *   verify_member OK     -> key present with exactly this value;
 *   verify_member KIND   -> key absent;
 *   verify_update        -> the same verdict as verify_member (same checks); when OK, the new root
 *                           equals the tree's root with key's value replaced;
 *   verify_member with the proof's own leaf_value (how the signer classifies an input's anchor key:
 *                           the host names the value) OK -> key present with that value; KIND -> absent;
 *   nonce_set_anchor_count of the leaf value OK -> nonce_set_anchor_value of that count gives it back;
 * and the honest proof itself always verifies (absent: insert OK; present: member OK). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

typedef struct {
    const uint8_t *p;
    size_t left;
} reader;

static uint8_t take(reader *r) {
    if (r->left == 0) return 0;
    r->left--;
    return *r->p++;
}

static void take_bytes(reader *r, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = take(r);
}

static void flip_bit(uint8_t *key, unsigned i) { key[i >> 3] ^= (uint8_t)(0x80u >> (i & 7u)); }

/* Keys near a fixed base: two input-chosen bit flips each, so prefixes are shared for long stretches
 * and one-sided levels, deep pairs and shortcut leaves all occur in trees of a handful of keys. */
static void make_key(reader *r, uint8_t key[32]) {
    for (unsigned i = 0; i < 32; i++) key[i] = (uint8_t)(0xA5 ^ (i * 29));
    flip_bit(key, take(r));
    flip_bit(key, take(r));
}

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)
#define MAX_KEYS 8
#define POOL_MAX (2 * MAX_KEYS + NONCE_PROOF_MAX_SIBLINGS + 2)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    reader r = {data, size};
    nonce_tree *t;
    if (nonce_tree_create(&t) != OS_OK) abort();

    uint8_t pool[POOL_MAX][32]; /* hashes a forger could know: leaves, keys, honest siblings */
    unsigned n_pool = 0;
    memset(pool[n_pool++], 0, 32);

    unsigned n_keys = take(&r) % (MAX_KEYS + 1);
    for (unsigned i = 0; i < n_keys; i++) {
        uint8_t key[32], value[32] = {(uint8_t)i, 0x77};
        make_key(&r, key);
        int rc = nonce_tree_insert(t, key, value);
        CHECK(rc == OS_OK || rc == OS_ERR_NONCE_COMMITTED || rc == OS_ERR_PROOF_TOO_LARGE);
        if (rc == OS_OK) {
            CHECK(nonce_set_leaf_hash(key, value, pool[n_pool++]) == OS_OK);
            memcpy(pool[n_pool++], key, 32);
        }
    }
    uint8_t root[32];
    nonce_tree_root(t, root);

    uint8_t key[32], value[32], tree_value[32];
    make_key(&r, key);
    uint8_t mode = take(&r);
    memset(value, 0, 32);
    value[0] = mode;
    if (mode & 0x40) (void)nonce_tree_get(t, key, value); /* the stored value, when there is one */
    int present = nonce_tree_get(t, key, tree_value) == OS_OK;

    /* The honest proof, and the oracle that it verifies. */
    os_nonce_proof honest;
    uint8_t honest_siblings[NONCE_PROOF_MAX_SIBLINGS * 32];
    int honest_present = 0;
    int prove_rc = nonce_tree_prove(t, key, &honest, honest_siblings, &honest_present);
    CHECK(prove_rc == OS_OK || prove_rc == OS_ERR_PROOF_TOO_LARGE);
    if (prove_rc == OS_OK) {
        CHECK(honest_present == present);
        uint8_t out[32];
        if (present) {
            CHECK(nonce_set_verify_member(root, key, tree_value, &honest) == OS_OK);
            CHECK(nonce_set_verify_insert(root, key, value, &honest, out) == OS_ERR_PROOF_KIND);
        } else {
            CHECK(nonce_set_verify_member(root, key, value, &honest) == OS_ERR_PROOF_KIND);
            int rc = nonce_set_verify_insert(root, key, value, &honest, out);
            CHECK(rc == OS_OK || rc == OS_ERR_PROOF_TOO_LARGE);
        }
        for (unsigned i = 0; i < honest.n_siblings && n_pool < POOL_MAX; i++) {
            memcpy(pool[n_pool++], honest_siblings + 32 * i, 32);
        }
    }

    /* The proof under test. */
    os_nonce_proof proof;
    uint8_t siblings[NONCE_PROOF_MAX_SIBLINGS * 32];
    memset(&proof, 0, sizeof proof);
    memset(siblings, 0x11, sizeof siblings);
    if ((mode & 0x80) && prove_rc == OS_OK) {
        proof = honest;
        memcpy(siblings, honest_siblings, 32u * honest.n_siblings);
        unsigned edits = 1 + take(&r) % 4;
        for (unsigned e = 0; e < edits; e++) {
            uint8_t op = take(&r), arg = take(&r);
            /* edit 5 may claim more siblings than the buffer holds (the verifier must refuse that);
             * the edits of sibling bytes stay inside the buffer */
            unsigned in_buffer = proof.n_siblings < NONCE_PROOF_MAX_SIBLINGS ? proof.n_siblings : NONCE_PROOF_MAX_SIBLINGS;
            switch (op % 8) {
            case 0: /* flip one bit of a sibling */
                if (in_buffer) siblings[32u * (arg % in_buffer) + take(&r) % 32] ^= (uint8_t)(1u << (arg % 8));
                break;
            case 1: proof.depth = (uint8_t)(proof.depth + (arg & 1 ? 1 : -1)); break;
            case 2: proof.bitmap[(arg >> 3) & 31] ^= (uint8_t)(1u << (arg & 7)); break;
            case 3: if (in_buffer) memcpy(siblings + 32u * (arg % in_buffer), pool[take(&r) % n_pool], 32); break;
            case 4: proof.terminal_is_leaf = (uint8_t)(arg % 3); break;
            case 5: proof.n_siblings = (uint8_t)(arg % (NONCE_PROOF_MAX_SIBLINGS + 2)); break;
            case 6: memcpy(arg & 1 ? proof.leaf_value : proof.leaf_key, pool[take(&r) % n_pool], 32); break;
            default: flip_bit(arg & 1 ? proof.leaf_value : proof.leaf_key, take(&r)); break;
            }
        }
    } else {
        proof.depth = take(&r);
        proof.terminal_is_leaf = take(&r) % 3;
        take_bytes(&r, proof.bitmap, 32);
        if (take(&r) & 1) { /* mostly keep the bitmap within depth and the count consistent */
            for (unsigned level = proof.depth; level < 256; level++) {
                proof.bitmap[level >> 3] &= (uint8_t)~(1u << (level & 7u));
            }
        }
        unsigned count = 0;
        for (unsigned level = 0; level < 256; level++) count += (proof.bitmap[level >> 3] >> (level & 7u)) & 1u;
        proof.n_siblings = (uint8_t)(count > 255 ? 255 : count);
        if (take(&r) == 0xFF) proof.n_siblings = take(&r);
        unsigned usable = proof.n_siblings < NONCE_PROOF_MAX_SIBLINGS ? proof.n_siblings : NONCE_PROOF_MAX_SIBLINGS;
        for (unsigned i = 0; i < usable; i++) {
            uint8_t sel = take(&r);
            if (sel & 0x80) take_bytes(&r, siblings + 32 * i, 32);
            else memcpy(siblings + 32 * i, pool[sel % n_pool], 32);
        }
        uint8_t sel = take(&r);
        memcpy(proof.leaf_key, sel & 0x80 ? key : pool[sel % n_pool], 32);
        sel = take(&r);
        memcpy(proof.leaf_value, sel & 0x80 ? value : pool[sel % n_pool], 32);
    }
    if (proof.n_siblings > NONCE_PROOF_MAX_SIBLINGS) {
        /* The decoder never hands over more than the limit; the verifier must still refuse it
         * before reading any sibling, so give it a pointer to too little memory on purpose. */
        proof.siblings = siblings;
        uint8_t out[32];
        int expect = proof.terminal_is_leaf > 1 ? OS_ERR_PROOF_INVALID : OS_ERR_PROOF_TOO_LARGE; /* R1 first */
        CHECK(nonce_set_verify_insert(root, key, value, &proof, out) == expect);
        CHECK(nonce_set_verify_member(root, key, value, &proof) == expect);
        CHECK(nonce_set_verify_update(root, key, value, value, &proof, out) == expect);
        nonce_tree_free(t);
        return 0;
    }
    proof.siblings = siblings;

    /* The signer's anchor question: is key present, with whatever value the proof names? */
    int classify_rc = nonce_set_verify_member(root, key, proof.leaf_value, &proof);
    if (classify_rc == OS_OK) CHECK(present && memcmp(proof.leaf_value, tree_value, 32) == 0);
    if (classify_rc == OS_ERR_PROOF_KIND) CHECK(!present);
    uint16_t count = 0;
    if (nonce_set_anchor_count(proof.leaf_value, &count) == OS_OK) {
        uint8_t again[32];
        CHECK(count >= 1 && nonce_set_anchor_value(count, again) == OS_OK);
        CHECK(memcmp(again, proof.leaf_value, 32) == 0);
    }

    int member_rc = nonce_set_verify_member(root, key, value, &proof);
    if (member_rc == OS_OK) CHECK(present && memcmp(value, tree_value, 32) == 0);
    if (member_rc == OS_ERR_PROOF_KIND) CHECK(!present);

    uint8_t new_root[32], new_value[32];
    memcpy(new_value, value, 32);
    new_value[31] ^= 0x5a;
    int update_rc = nonce_set_verify_update(root, key, value, new_value, &proof, new_root);
    CHECK(update_rc == member_rc);
    if (update_rc == OS_OK) {
        /* the tree's root after the update, built by the host's own code */
        CHECK(nonce_tree_remove(t, key) == OS_OK);
        CHECK(nonce_tree_insert(t, key, new_value) == OS_OK);
        uint8_t tree_root[32];
        nonce_tree_root(t, tree_root);
        CHECK(memcmp(new_root, tree_root, 32) == 0);
        nonce_tree_free(t);
        return 0;
    }

    int insert_rc = nonce_set_verify_insert(root, key, value, &proof, new_root);
    if (insert_rc == OS_ERR_PROOF_KIND) CHECK(present);
    if (insert_rc == OS_OK) {
        CHECK(!present);
        CHECK(nonce_tree_insert(t, key, value) == OS_OK);
        uint8_t tree_root[32];
        nonce_tree_root(t, tree_root);
        CHECK(memcmp(new_root, tree_root, 32) == 0);
    }
    nonce_tree_free(t);
    return 0;
}
