/* Unit tests: the nonce-set verifier (proto/nonce_set.c) against the host tree (host/lib/nonce_tree.c).
 *
 * The hashing rules are pinned by an independent one-shot implementation of the BIP340 tagged hash
 * below (no midstates), so a wrong tag, wrong order or wrong shortcut rule in either file shows up as a
 * root mismatch in the hand-built cases, not only as the two files agreeing with each other. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mbedtls/sha256.h"
#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

/* ---------------------------------------------------------------- reference hashing */

static void ref_tagged(const char *tag, const uint8_t *msg, size_t len, uint8_t out[32]) {
    uint8_t tag_hash[32];
    assert_int_equal(mbedtls_sha256_ret((const unsigned char *)tag, strlen(tag), tag_hash, 0), 0);
    uint8_t *buf = malloc(64 + len);
    assert_non_null(buf);
    memcpy(buf, tag_hash, 32);
    memcpy(buf + 32, tag_hash, 32);
    if (len) memcpy(buf + 64, msg, len);
    assert_int_equal(mbedtls_sha256_ret(buf, 64 + len, out, 0), 0);
    free(buf);
}

static void ref_pair(const char *tag, const uint8_t a[32], const uint8_t b[32], uint8_t out[32]) {
    uint8_t m[64];
    memcpy(m, a, 32);
    memcpy(m + 32, b, 32);
    ref_tagged(tag, m, 64, out);
}

static void ref_leaf(const uint8_t k[32], const uint8_t v[32], uint8_t out[32]) {
    ref_pair("oncesign/leaf", k, v, out);
}

static void ref_node(const uint8_t l[32], const uint8_t r[32], uint8_t out[32]) {
    ref_pair("oncesign/node", l, r, out);
}

static const uint8_t ZERO[32];

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;
static uint64_t rng_next(void) { /* splitmix64: deterministic, so failures reproduce */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static void rng_bytes(uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = (uint8_t)rng_next();
}

static void flip_bit(uint8_t *key, unsigned i) { key[i >> 3] ^= (uint8_t)(0x80u >> (i & 7u)); }

typedef struct {
    os_nonce_proof proof;
    uint8_t siblings[NONCE_PROOF_MAX_SIBLINGS * 32];
    int present;
} owned_proof;

static void prove(const nonce_tree *t, const uint8_t key[32], owned_proof *p) {
    assert_int_equal(nonce_tree_prove(t, key, &p->proof, p->siblings, &p->present), OS_OK);
}

/* A deep copy that can be mutated freely (its own sibling buffer, room for one extra sibling). */
typedef struct {
    os_nonce_proof proof;
    uint8_t siblings[(NONCE_PROOF_MAX_SIBLINGS + 1) * 32];
} mutable_proof;

static void copy_proof(const os_nonce_proof *src, mutable_proof *dst) {
    dst->proof = *src;
    memcpy(dst->siblings, src->siblings, 32u * src->n_siblings);
    dst->proof.siblings = dst->siblings;
}

static unsigned bm_get(const os_nonce_proof *p, unsigned level) {
    return (p->bitmap[level >> 3] >> (level & 7u)) & 1u;
}
static void bm_set(os_nonce_proof *p, unsigned level, unsigned on) {
    if (on) p->bitmap[level >> 3] |= (uint8_t)(1u << (level & 7u));
    else p->bitmap[level >> 3] &= (uint8_t)~(1u << (level & 7u));
}
/* Index in the sibling list of the sibling at `level` (counting flagged levels above it). */
static unsigned sibling_index(const os_nonce_proof *p, unsigned level) {
    unsigned n = 0;
    for (unsigned l = 0; l < level; l++) n += bm_get(p, l);
    return n;
}

static void insert_checked(nonce_tree *t, const uint8_t key[32], const uint8_t value[32]) {
    uint8_t old_root[32], new_root[32], tree_root[32];
    owned_proof p;
    nonce_tree_root(t, old_root);
    prove(t, key, &p);
    assert_int_equal(p.present, 0);
    assert_int_equal(nonce_set_verify_insert(old_root, key, value, &p.proof, new_root), OS_OK);
    assert_int_equal(nonce_set_verify_member(old_root, key, value, &p.proof), OS_ERR_PROOF_KIND);
    assert_int_equal(nonce_tree_insert(t, key, value), OS_OK);
    nonce_tree_root(t, tree_root);
    assert_memory_equal(new_root, tree_root, 32);
}

static void check_member(const nonce_tree *t, const uint8_t key[32], const uint8_t value[32]) {
    uint8_t root[32], wrong[32], got[32], out[32];
    owned_proof p;
    nonce_tree_root(t, root);
    prove(t, key, &p);
    assert_int_equal(p.present, 1);
    assert_int_equal(nonce_set_verify_member(root, key, value, &p.proof), OS_OK);
    memcpy(wrong, value, 32);
    wrong[rng_next() % 32] ^= (uint8_t)(1u << (rng_next() % 8));
    assert_int_equal(nonce_set_verify_member(root, key, wrong, &p.proof), OS_ERR_PROOF_INVALID);
    assert_int_equal(nonce_set_verify_insert(root, key, value, &p.proof, out), OS_ERR_PROOF_KIND);
    assert_int_equal(nonce_set_verify_insert(root, key, wrong, &p.proof, out), OS_ERR_PROOF_KIND);
    assert_int_equal(nonce_tree_get(t, key, got), OS_OK);
    assert_memory_equal(got, value, 32);
}

static void check_absent(const nonce_tree *t, const uint8_t key[32]) {
    uint8_t root[32], value[32], out[32];
    owned_proof p;
    nonce_tree_root(t, root);
    prove(t, key, &p);
    assert_int_equal(p.present, 0);
    rng_bytes(value, 32);
    assert_int_equal(nonce_set_verify_member(root, key, value, &p.proof), OS_ERR_PROOF_KIND);
    assert_int_equal(nonce_set_verify_insert(root, key, value, &p.proof, out), OS_OK);
    assert_int_equal(nonce_tree_get(t, key, out), OS_ERR_NONCE_ABSENT);
}

/* ---------------------------------------------------------------- hashing and tiny trees */

static void test_empty(void **state) {
    (void)state;
    uint8_t root[32], key[32], value[32], new_root[32], expect[32];
    memset(root, 0xAA, 32);
    nonce_set_empty_root(root);
    assert_memory_equal(root, ZERO, 32);

    nonce_tree *t;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    assert_int_equal(nonce_tree_count(t), 0);
    nonce_tree_root(t, root);
    assert_memory_equal(root, ZERO, 32);

    rng_state = 1;
    rng_bytes(key, 32);
    rng_bytes(value, 32);
    owned_proof p;
    prove(t, key, &p);
    assert_int_equal(p.present, 0);
    assert_int_equal(p.proof.depth, 0);
    assert_int_equal(p.proof.terminal_is_leaf, 0);
    assert_int_equal(p.proof.n_siblings, 0);
    assert_int_equal(nonce_set_verify_insert(root, key, value, &p.proof, new_root), OS_OK);
    ref_leaf(key, value, expect);
    assert_memory_equal(new_root, expect, 32);
    assert_int_equal(nonce_tree_get(t, key, value), OS_ERR_NONCE_ABSENT);
    nonce_tree_free(t);
}

static void test_key_and_value_hashes(void **state) {
    (void)state;
    uint8_t nonce[32], key[32], expect[32];
    for (unsigned i = 0; i < 32; i++) nonce[i] = (uint8_t)i;
    assert_int_equal(nonce_set_key(nonce, key), OS_OK);
    ref_tagged("oncesign/key", nonce, 32, expect);
    assert_memory_equal(key, expect, 32);
    /* Midstate reuse must not leak state between calls. */
    assert_int_equal(nonce_set_key(nonce, key), OS_OK);
    assert_memory_equal(key, expect, 32);

    os_outpoint anchor;
    for (unsigned i = 0; i < 32; i++) anchor.txid[i] = (uint8_t)(0xF0 ^ i);
    anchor.vout = 0x01020304u;
    const uint8_t script[25] = {0x76, 0xA9, 0x14, [23] = 0x88, [24] = 0xAC};
    uint64_t amount = 0x1122334455667788ull;
    uint8_t pre[32 + 4 + 8 + 1 + 25];
    memcpy(pre, anchor.txid, 32);
    const uint8_t vout_le[4] = {0x04, 0x03, 0x02, 0x01};
    const uint8_t amount_le[8] = {0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    memcpy(pre + 32, vout_le, 4);
    memcpy(pre + 36, amount_le, 8);
    pre[44] = 25;
    memcpy(pre + 45, script, 25);
    uint8_t value[32];
    assert_int_equal(nonce_set_leaf_value(&anchor, script, sizeof script, amount, value), OS_OK);
    ref_tagged("oncesign/value", pre, sizeof pre, expect);
    assert_memory_equal(value, expect, 32);

    /* Empty script: the length byte still commits. */
    assert_int_equal(nonce_set_leaf_value(&anchor, NULL, 0, amount, value), OS_OK);
    pre[44] = 0;
    ref_tagged("oncesign/value", pre, 45, expect);
    assert_memory_equal(value, expect, 32);

    uint8_t h[32];
    assert_int_equal(nonce_set_leaf_hash(key, value, h), OS_OK);
    ref_leaf(key, value, expect);
    assert_memory_equal(h, expect, 32);
    assert_int_equal(nonce_set_node_hash(key, value, h), OS_OK);
    ref_node(key, value, expect);
    assert_memory_equal(h, expect, 32);

    /* Each call is one counted tagged hash. */
    uint32_t before = nonce_set_hash_count();
    assert_int_equal(nonce_set_key(nonce, key), OS_OK);
    assert_int_equal(nonce_set_node_hash(key, key, h), OS_OK);
    assert_int_equal(nonce_set_hash_count() - before, 2);

    assert_int_equal(nonce_set_key(NULL, key), OS_ERR_ARG);
    assert_int_equal(nonce_set_leaf_value(&anchor, NULL, 3, amount, value), OS_ERR_ARG);
    assert_int_equal(nonce_set_leaf_value(&anchor, script, 256, amount, value), OS_ERR_ARG);
    assert_int_equal(nonce_set_leaf_value(NULL, script, 25, amount, value), OS_ERR_ARG);
}

/* Anchor entries: key = TH("oncesign/anchor", txid | vout LE32), against an independent tagged hash;
 * the value is the count, LE16 then zeros, and reads back only in that form. */
static void test_anchor_key_and_value(void **state) {
    (void)state;
    os_outpoint anchor;
    for (unsigned i = 0; i < 32; i++) anchor.txid[i] = (uint8_t)(0xC0 + i);
    anchor.vout = 0x01020304u;
    uint8_t pre[36], key[32], expect[32];
    memcpy(pre, anchor.txid, 32);
    pre[32] = 0x04, pre[33] = 0x03, pre[34] = 0x02, pre[35] = 0x01;
    assert_int_equal(nonce_set_anchor_key(&anchor, key), OS_OK);
    ref_tagged("oncesign/anchor", pre, sizeof pre, expect);
    assert_memory_equal(key, expect, 32);
    /* another tag than a nonce's key: the same 32 bytes as a nonce give another key */
    uint8_t nonce_key[32];
    assert_int_equal(nonce_set_key(anchor.txid, nonce_key), OS_OK);
    ref_tagged("oncesign/anchor", anchor.txid, 32, expect);
    assert_memory_not_equal(nonce_key, expect, 32);

    uint8_t value[32];
    uint16_t count = 0;
    assert_int_equal(nonce_set_anchor_value(0x0102, value), OS_OK);
    assert_int_equal(value[0], 0x02);
    assert_int_equal(value[1], 0x01);
    for (unsigned i = 2; i < 32; i++) assert_int_equal(value[i], 0);
    assert_int_equal(nonce_set_anchor_count(value, &count), OS_OK);
    assert_int_equal(count, 0x0102);
    value[31] = 1;   /* not a count: refused */
    assert_int_equal(nonce_set_anchor_count(value, &count), OS_ERR_PROOF_INVALID);
    memset(value, 0, 32);   /* count 0: no entry has it */
    assert_int_equal(nonce_set_anchor_count(value, &count), OS_ERR_PROOF_INVALID);
    assert_int_equal(nonce_set_anchor_value(0, value), OS_ERR_ARG);
    assert_int_equal(nonce_set_anchor_key(NULL, key), OS_ERR_ARG);
}

static void test_single_insert(void **state) {
    (void)state;
    nonce_tree *t;
    uint8_t key[32], value[32], root[32], expect[32];
    rng_state = 2;
    rng_bytes(key, 32);
    rng_bytes(value, 32);
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    insert_checked(t, key, value);
    nonce_tree_root(t, root);
    ref_leaf(key, value, expect);
    assert_memory_equal(root, expect, 32);
    assert_int_equal(nonce_tree_count(t), 1);
    assert_int_equal(nonce_tree_insert(t, key, value), OS_ERR_NONCE_COMMITTED);
    check_member(t, key, value);
    owned_proof p;
    prove(t, key, &p);
    assert_int_equal(p.proof.depth, 0); /* a lone leaf is the root */
    assert_int_equal(p.proof.terminal_is_leaf, 1);
    uint8_t other[32];
    memcpy(other, key, 32);
    flip_bit(other, 200);
    check_absent(t, other);
    nonce_tree_free(t);
}

/* Three keys built bit by bit, the root computed from the rules with the reference hash:
 *   a = 000…, b = 001… (first differ at bit 2), c = 11…
 *   {a, b} alone: node(node(node(La, Lb), 0), 0)      (two one-sided levels above the split)
 *   {a, b, c}:    node(node(node(La, Lb), 0), Lc)     (c is a shortcut leaf at depth 1) */
static void test_hand_computed(void **state) {
    (void)state;
    uint8_t a[32] = {0x00, 0x11}, b[32] = {0x20, 0x22}, c[32] = {0xC0, 0x33};
    uint8_t va[32] = {1}, vb[32] = {2}, vc[32] = {3};
    uint8_t la[32], lb[32], lc[32], n2[32], n1[32], expect[32], root[32];
    ref_leaf(a, va, la);
    ref_leaf(b, vb, lb);
    ref_leaf(c, vc, lc);
    ref_node(la, lb, n2);
    ref_node(n2, ZERO, n1);

    nonce_tree *t;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    insert_checked(t, a, va);
    insert_checked(t, b, vb);
    ref_node(n1, ZERO, expect);
    nonce_tree_root(t, root);
    assert_memory_equal(root, expect, 32);

    /* b's membership proof: depth 3, one sibling (La at level 2), levels 0 and 1 empty. */
    owned_proof p;
    prove(t, b, &p);
    assert_int_equal(p.proof.depth, 3);
    assert_int_equal(p.proof.n_siblings, 1);
    assert_int_equal(p.proof.bitmap[0], 0x04);
    assert_memory_equal(p.proof.siblings, la, 32);

    insert_checked(t, c, vc);
    ref_node(n1, lc, expect);
    nonce_tree_root(t, root);
    assert_memory_equal(root, expect, 32);

    /* Absence of d = 01…: the path ends empty at depth 2 beside node(La, Lb) at level 1. */
    uint8_t d[32] = {0x40};
    prove(t, d, &p);
    assert_int_equal(p.present, 0);
    assert_int_equal(p.proof.terminal_is_leaf, 0);
    assert_int_equal(p.proof.depth, 2);
    assert_int_equal(p.proof.bitmap[0], 0x03);
    assert_memory_equal(p.proof.siblings, lc, 32);
    assert_memory_equal(p.proof.siblings + 32, n2, 32);
    /* Absence of e = 10…: the path ends at c's leaf (depth 1), which shares e's first bit. */
    uint8_t e[32] = {0x80};
    prove(t, e, &p);
    assert_int_equal(p.proof.terminal_is_leaf, 1);
    assert_int_equal(p.proof.depth, 1);
    assert_memory_equal(p.proof.leaf_key, c, 32);
    /* Inserting e puts node(Le, Lc) where Lc was. */
    uint8_t ve[32] = {5}, le[32], ne[32];
    ref_leaf(e, ve, le);
    ref_node(le, lc, ne);
    ref_node(n1, ne, expect);
    uint8_t new_root[32];
    assert_int_equal(nonce_set_verify_insert(root, e, ve, &p.proof, new_root), OS_OK);
    assert_memory_equal(new_root, expect, 32);
    nonce_tree_free(t);
}

/* ---------------------------------------------------------------- property test */

#define N_KEYS 3000

static void test_random_operations(void **state) {
    (void)state;
    rng_state = 0x5EED;
    uint8_t (*keys)[32] = malloc(N_KEYS * 32);
    uint8_t (*values)[32] = malloc(N_KEYS * 32);
    assert_non_null(keys);
    assert_non_null(values);
    nonce_tree *t;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    size_t n = 0;
    for (unsigned op = 0; n < N_KEYS; op++) {
        uint64_t r = rng_next() % 10;
        if (r < 6 || n == 0) {
            /* fresh random key (a nonce through nonce_set_key, as the signer sees them) */
            uint8_t nonce[32];
            rng_bytes(nonce, 32);
            assert_int_equal(nonce_set_key(nonce, keys[n]), OS_OK);
        } else if (r < 9) {
            /* a near neighbour of an existing key: long shared prefixes and one-sided levels */
            memcpy(keys[n], keys[rng_next() % n], 32);
            flip_bit(keys[n], (unsigned)(8 + rng_next() % 120));
            if (nonce_tree_get(t, keys[n], values[n]) == OS_OK) continue;
        } else {
            /* re-insert of a committed key is refused and changes nothing */
            size_t i = rng_next() % n;
            uint8_t before[32], after[32], out[32];
            nonce_tree_root(t, before);
            owned_proof p;
            prove(t, keys[i], &p);
            assert_int_equal(p.present, 1);
            assert_int_equal(nonce_set_verify_insert(before, keys[i], values[i], &p.proof, out),
                             OS_ERR_PROOF_KIND);
            assert_int_equal(nonce_tree_insert(t, keys[i], values[i]), OS_ERR_NONCE_COMMITTED);
            nonce_tree_root(t, after);
            assert_memory_equal(before, after, 32);
            continue;
        }
        rng_bytes(values[n], 32);
        insert_checked(t, keys[n], values[n]);
        n++;
        assert_int_equal(nonce_tree_count(t), n);
        check_member(t, keys[n - 1], values[n - 1]);
        if (n % 8 == 0) {
            size_t old = rng_next() % n;
            check_member(t, keys[old], values[old]);
        }
        if (n == 1 || n == 2 || n == 3 || n == 10 || n == 100 || n == N_KEYS) {
            for (size_t i = 0; i < n; i++) check_member(t, keys[i], values[i]);
            for (unsigned i = 0; i < 200; i++) {
                uint8_t absent[32];
                rng_bytes(absent, 32);
                check_absent(t, absent);
            }
        }
    }
    nonce_tree_free(t);
    free(keys);
    free(values);
}

/* ---------------------------------------------------------------- forgeries */

/* A forged proof must never verify, and must never pass as a valid proof of the opposite fact. */
static void expect_rejected(const uint8_t root[32], const uint8_t key[32], const uint8_t value[32],
                            const os_nonce_proof *proof) {
    uint8_t out[32];
    int rc = nonce_set_verify_insert(root, key, value, proof, out);
    assert_true(rc != OS_OK && rc != OS_ERR_PROOF_KIND);
    rc = nonce_set_verify_member(root, key, value, proof);
    assert_true(rc != OS_OK && rc != OS_ERR_PROOF_KIND);
}

static void forge_all(const uint8_t root[32], const uint8_t key[32], const uint8_t value[32],
                      const os_nonce_proof *honest) {
    mutable_proof m;
    /* bits of every sibling: all 256 of the first and last (the terminal's neighbour and the root's
     * child), every 8th (at a varying offset) of the rest, to keep the run short */
    for (unsigned s = 0; s < honest->n_siblings; s++) {
        unsigned step = (s == 0 || s + 1 == honest->n_siblings) ? 1 : 8;
        for (unsigned bit = (unsigned)(rng_next() % step); bit < 256; bit += step) {
            copy_proof(honest, &m);
            m.siblings[32 * s + bit / 8] ^= (uint8_t)(1u << (bit % 8));
            expect_rejected(root, key, value, &m.proof);
        }
    }
    /* depth +1 / -1, bitmap unchanged */
    copy_proof(honest, &m);
    m.proof.depth++;
    expect_rejected(root, key, value, &m.proof);
    if (honest->depth > 0) {
        copy_proof(honest, &m);
        m.proof.depth--;
        expect_rejected(root, key, value, &m.proof);
    }
    /* drop each sibling */
    for (unsigned level = 0; level < honest->depth; level++) {
        if (!bm_get(honest, level)) continue;
        copy_proof(honest, &m);
        unsigned idx = sibling_index(honest, level);
        memmove(m.siblings + 32 * idx, m.siblings + 32 * (idx + 1), 32u * (honest->n_siblings - idx - 1));
        m.proof.n_siblings--;
        bm_set(&m.proof, level, 0);
        expect_rejected(root, key, value, &m.proof);
    }
    /* add a sibling at each empty level, and one just past the terminal (depth+1) */
    for (unsigned level = 0; level <= honest->depth && level < 255; level++) {
        if (level < honest->depth && bm_get(honest, level)) continue;
        copy_proof(honest, &m);
        unsigned idx = sibling_index(honest, level);
        memmove(m.siblings + 32 * (idx + 1), m.siblings + 32 * idx, 32u * (honest->n_siblings - idx));
        rng_bytes(m.siblings + 32 * idx, 32);
        m.proof.n_siblings++;
        bm_set(&m.proof, level, 1);
        if (level == honest->depth) m.proof.depth++;
        expect_rejected(root, key, value, &m.proof);
    }
    /* a flagged sibling beyond depth, count adjusted */
    if (honest->depth < 255 && honest->n_siblings < NONCE_PROOF_MAX_SIBLINGS) {
        copy_proof(honest, &m);
        rng_bytes(m.siblings + 32 * honest->n_siblings, 32);
        m.proof.n_siblings++;
        bm_set(&m.proof, honest->depth, 1);
        expect_rejected(root, key, value, &m.proof);
    }
    /* n_siblings disagreeing with the bitmap */
    copy_proof(honest, &m);
    m.proof.n_siblings++;
    expect_rejected(root, key, value, &m.proof);
    /* change the terminal: flip its kind (an empty terminal claimed where a leaf is, and back) */
    copy_proof(honest, &m);
    m.proof.terminal_is_leaf ^= 1;
    if (m.proof.terminal_is_leaf) {
        memcpy(m.proof.leaf_key, key, 32);
        memcpy(m.proof.leaf_value, value, 32);
    }
    expect_rejected(root, key, value, &m.proof);
    copy_proof(honest, &m);
    m.proof.terminal_is_leaf = 2;
    expect_rejected(root, key, value, &m.proof);
    if (honest->terminal_is_leaf) {
        for (unsigned bit = 0; bit < 256; bit += 7) {
            copy_proof(honest, &m);
            flip_bit(m.proof.leaf_key, bit);
            expect_rejected(root, key, value, &m.proof);
            copy_proof(honest, &m);
            flip_bit(m.proof.leaf_value, bit);
            expect_rejected(root, key, value, &m.proof);
        }
    }
    /* a zero sibling flagged as non-empty */
    if (honest->n_siblings > 0) {
        copy_proof(honest, &m);
        memset(m.siblings, 0, 32);
        expect_rejected(root, key, value, &m.proof);
    }
}

static void test_forged_proofs(void **state) {
    (void)state;
    rng_state = 77;
    enum { N = 300 };
    static uint8_t keys[N][32], values[N][32];
    nonce_tree *t;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    for (unsigned i = 0; i < N; i++) {
        rng_bytes(keys[i], 32);
        if (i % 5 == 4) { /* some close pairs */
            memcpy(keys[i], keys[i - 1], 32);
            flip_bit(keys[i], 20 + i % 60);
        }
        rng_bytes(values[i], 32);
        assert_int_equal(nonce_tree_insert(t, keys[i], values[i]), OS_OK);
    }
    uint8_t root[32];
    nonce_tree_root(t, root);
    owned_proof p;
    for (unsigned i = 0; i < 12; i++) {
        /* members */
        unsigned k = (unsigned)(rng_next() % N);
        prove(t, keys[k], &p);
        assert_int_equal(p.present, 1);
        forge_all(root, keys[k], values[k], &p.proof);
        /* absent: random keys (empty or leaf terminals) and near misses (leaf terminals) */
        uint8_t absent[32], value[32];
        rng_bytes(absent, 32);
        if (i % 2) {
            memcpy(absent, keys[k], 32);
            flip_bit(absent, 40 + i);
        }
        rng_bytes(value, 32);
        prove(t, absent, &p);
        assert_int_equal(p.present, 0);
        forge_all(root, absent, value, &p.proof);
    }
    /* Another key's leaf offered as membership: never a member proof for this key. */
    for (unsigned i = 0; i + 1 < N; i += 37) {
        prove(t, keys[i], &p);
        assert_int_not_equal(nonce_set_verify_member(root, keys[i + 1], values[i], &p.proof), OS_OK);
        assert_int_not_equal(nonce_set_verify_member(root, keys[i + 1], values[i + 1], &p.proof), OS_OK);
        mutable_proof m;
        copy_proof(&p.proof, &m);
        memcpy(m.proof.leaf_key, keys[i + 1], 32);
        memcpy(m.proof.leaf_value, values[i + 1], 32);
        expect_rejected(root, keys[i + 1], values[i + 1], &m.proof);
    }
    /* A proof against the wrong root. */
    prove(t, keys[0], &p);
    uint8_t other_root[32];
    memcpy(other_root, root, 32);
    other_root[31] ^= 1;
    expect_rejected(other_root, keys[0], values[0], &p.proof);
    nonce_tree_free(t);
}

/* Proofs that hash to the right root but are not in canonical form (R4, R5): the shortcut and
 * empty rules make them reach the root, so only the shape rules stop them. */
static void test_non_canonical(void **state) {
    (void)state;
    uint8_t a[32] = {0x00}, b[32] = {0x80}, va[32] = {1}, vb[32] = {2}, root[32], out[32];
    nonce_tree *t;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    assert_int_equal(nonce_tree_insert(t, a, va), OS_OK);
    nonce_tree_root(t, root);
    owned_proof p;
    mutable_proof m;

    /* R5: a's leaf claimed one level deeper than the root (empty sibling at level 0). */
    prove(t, a, &p);
    copy_proof(&p.proof, &m);
    m.proof.depth = 1;
    assert_int_equal(nonce_set_verify_member(root, a, va, &m.proof), OS_ERR_PROOF_INVALID);
    uint8_t c[32] = {0x40};
    prove(t, c, &p); /* absence via a's leaf at depth 0 */
    copy_proof(&p.proof, &m);
    m.proof.depth = 2;
    assert_int_equal(nonce_set_verify_insert(root, c, va, &m.proof, out), OS_ERR_PROOF_INVALID);

    /* R4: with {a, b}, key 0x40 ends at a's leaf; key 0x20 too. An empty terminal needs a
     * non-empty last sibling: build d's path one level past an empty one. */
    assert_int_equal(nonce_tree_insert(t, b, vb), OS_OK);
    uint8_t e[32] = {0x00, 0x01}, ve[32] = {3};
    assert_int_equal(nonce_tree_insert(t, e, ve), OS_OK); /* a, e split deep at bit 15 */
    nonce_tree_root(t, root);
    uint8_t d[32] = {0x40};  /* 01…: path ends empty at depth 2 beside the {a,e} subtree */
    prove(t, d, &p);
    assert_int_equal(p.proof.terminal_is_leaf, 0);
    assert_int_equal(p.proof.depth, 2);
    assert_int_equal(nonce_set_verify_insert(root, d, ve, &p.proof, out), OS_OK);
    copy_proof(&p.proof, &m);
    m.proof.depth = 3; /* one more level, its sibling empty: same root, not canonical */
    assert_int_equal(nonce_set_verify_insert(root, d, ve, &m.proof, out), OS_ERR_PROOF_INVALID);
    assert_int_equal(nonce_set_verify_member(root, d, ve, &m.proof), OS_ERR_PROOF_INVALID);

    /* R6: a leaf terminal whose key leaves the proven key's prefix. */
    uint8_t f[32] = {0xC0};
    prove(t, f, &p); /* ends at b's leaf, depth 1 */
    assert_int_equal(p.proof.terminal_is_leaf, 1);
    copy_proof(&p.proof, &m);
    memcpy(m.proof.leaf_key, a, 32);
    memcpy(m.proof.leaf_value, va, 32);
    assert_int_equal(nonce_set_verify_insert(root, f, ve, &m.proof, out), OS_ERR_PROOF_INVALID);

    /* R2: a bitmap bit at or below depth; R1: terminal kind out of range; R7: too many siblings. */
    prove(t, a, &p);
    copy_proof(&p.proof, &m);
    m.proof.bitmap[31] |= 0x80;
    assert_int_equal(nonce_set_verify_member(root, a, va, &m.proof), OS_ERR_PROOF_INVALID);
    copy_proof(&p.proof, &m);
    m.proof.terminal_is_leaf = 3;
    assert_int_equal(nonce_set_verify_member(root, a, va, &m.proof), OS_ERR_PROOF_INVALID);
    copy_proof(&p.proof, &m);
    m.proof.n_siblings = NONCE_PROOF_MAX_SIBLINGS + 1;
    assert_int_equal(nonce_set_verify_member(root, a, va, &m.proof), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_set_verify_insert(root, a, va, &m.proof, out), OS_ERR_PROOF_TOO_LARGE);

    /* R2 precisely: a flagged sibling past depth (count adjusted), and counts off by one. */
    prove(t, b, &p);
    assert_int_equal(p.proof.depth, 1);
    copy_proof(&p.proof, &m);
    rng_bytes(m.siblings + 32, 32);
    m.proof.n_siblings = 2;
    bm_set(&m.proof, 1, 1);
    assert_int_equal(nonce_set_verify_member(root, b, vb, &m.proof), OS_ERR_PROOF_INVALID);
    copy_proof(&p.proof, &m);
    m.proof.n_siblings = 2;
    assert_int_equal(nonce_set_verify_member(root, b, vb, &m.proof), OS_ERR_PROOF_INVALID);
    copy_proof(&p.proof, &m);
    m.proof.n_siblings = 0;
    assert_int_equal(nonce_set_verify_member(root, b, vb, &m.proof), OS_ERR_PROOF_INVALID);

    /* R3: e's path has one-sided levels above the {a, e} split (bit 15). Above the split the
     * node is internal, so "empty sibling" and "flagged sibling of 32 zero bytes" would hash the same;
     * only the zero-sibling rule keeps the proof unique. */
    prove(t, e, &p);
    assert_int_equal(p.proof.depth, 16);
    assert_int_equal(nonce_set_verify_member(root, e, ve, &p.proof), OS_OK);
    assert_int_equal(bm_get(&p.proof, 5), 0);
    copy_proof(&p.proof, &m);
    unsigned idx = sibling_index(&p.proof, 5);
    memmove(m.siblings + 32 * (idx + 1), m.siblings + 32 * idx, 32u * (p.proof.n_siblings - idx));
    memset(m.siblings + 32 * idx, 0, 32);
    m.proof.n_siblings++;
    bm_set(&m.proof, 5, 1);
    assert_int_equal(nonce_set_verify_member(root, e, ve, &m.proof), OS_ERR_PROOF_INVALID);

    /* Misuse. */
    assert_int_equal(nonce_set_verify_member(NULL, a, va, &p.proof), OS_ERR_ARG);
    assert_int_equal(nonce_set_verify_insert(root, a, va, NULL, out), OS_ERR_ARG);
    copy_proof(&p.proof, &m);
    m.proof.siblings = NULL;
    assert_int_equal(nonce_set_verify_member(root, a, va, &m.proof), OS_ERR_ARG);
    assert_int_equal(nonce_tree_insert(t, NULL, va), OS_ERR_ARG);
    nonce_tree_free(t);
}

/* ---------------------------------------------------------------- limits */

static void test_deep_pair_and_limits(void **state) {
    (void)state;
    uint8_t base[32], v[32] = {9}, root[32], out[32];
    rng_state = 4242;
    rng_bytes(base, 32);
    nonce_tree *t;
    owned_proof p;

    /* Depth: two keys equal in their first 254 bits sit at depth 255, the deepest provable. */
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    uint8_t deep[32];
    memcpy(deep, base, 32);
    flip_bit(deep, 254);
    insert_checked(t, base, v);
    insert_checked(t, deep, v);
    prove(t, deep, &p);
    assert_int_equal(p.proof.depth, 255);
    assert_int_equal(p.proof.n_siblings, 1);
    check_member(t, deep, v);
    check_member(t, base, v);
    /* Equal in 255 bits: the new leaf would sit at depth 256; both sides refuse it. */
    uint8_t deeper[32];
    memcpy(deeper, base, 32);
    flip_bit(deeper, 255);
    prove(t, deeper, &p);
    assert_int_equal(p.present, 0);
    assert_int_equal(p.proof.depth, 255);
    nonce_tree_root(t, root);
    assert_int_equal(nonce_set_verify_insert(root, deeper, v, &p.proof, out), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_insert(t, deeper, v), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_count(t), 2);
    /* The far-apart split above it still works and is pinned by the reference hash. */
    uint8_t far[32];
    memcpy(far, base, 32);
    flip_bit(far, 0);
    insert_checked(t, far, v);
    check_member(t, deep, v);
    nonce_tree_free(t);

    /* Siblings: k_i = base with bit i flipped has i non-empty siblings when inserted in order. */
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    uint8_t k[NONCE_PROOF_MAX_SIBLINGS + 2][32];
    for (unsigned i = 0; i <= NONCE_PROOF_MAX_SIBLINGS + 1; i++) {
        memcpy(k[i], base, 32);
        flip_bit(k[i], i);
    }
    for (unsigned i = 0; i <= NONCE_PROOF_MAX_SIBLINGS; i++) insert_checked(t, k[i], v);
    prove(t, k[NONCE_PROOF_MAX_SIBLINGS], &p);
    assert_int_equal(p.proof.n_siblings, NONCE_PROOF_MAX_SIBLINGS);
    check_member(t, k[NONCE_PROOF_MAX_SIBLINGS], v);
    check_member(t, k[NONCE_PROOF_MAX_SIBLINGS - 1], v);
    /* base's path ends at k_64's leaf with 64 siblings: inserting base (or k_65) would need 65. */
    prove(t, base, &p);
    assert_int_equal(p.proof.terminal_is_leaf, 1);
    assert_memory_equal(p.proof.leaf_key, k[NONCE_PROOF_MAX_SIBLINGS], 32);
    assert_int_equal(p.proof.n_siblings, NONCE_PROOF_MAX_SIBLINGS);
    nonce_tree_root(t, root);
    assert_int_equal(nonce_set_verify_insert(root, base, v, &p.proof, out), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_insert(t, base, v), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_insert(t, k[NONCE_PROOF_MAX_SIBLINGS + 1], v), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_count(t), NONCE_PROOF_MAX_SIBLINGS + 1);
    nonce_tree_free(t);

    /* An insert may push an OLDER leaf past the limit (nonce_set.h, "Limits of an insert"): k_63 and a
     * neighbour x hold 64 siblings each; base then lands beside them at level 63 and gives them 65.
     * Their proofs are then refused as too large (the nonces are stuck, never paid twice). */
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    for (unsigned i = 0; i < NONCE_PROOF_MAX_SIBLINGS; i++) insert_checked(t, k[i], v);
    uint8_t x[32];
    memcpy(x, k[NONCE_PROOF_MAX_SIBLINGS - 1], 32);
    flip_bit(x, 100);
    insert_checked(t, x, v);
    check_member(t, x, v);
    insert_checked(t, base, v);
    check_member(t, base, v);
    int present = -1;
    assert_int_equal(nonce_tree_prove(t, x, &p.proof, p.siblings, &present), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_prove(t, k[NONCE_PROOF_MAX_SIBLINGS - 1], &p.proof, p.siblings, &present),
                     OS_ERR_PROOF_TOO_LARGE);
    nonce_tree_free(t);

    /* verify_insert's own sibling bound on a leaf terminal: with k_0..k_63, a neighbour of k_63
     * (63 siblings) may still go in (64), but a neighbour of that neighbour would need 65. */
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    for (unsigned i = 0; i < NONCE_PROOF_MAX_SIBLINGS; i++) insert_checked(t, k[i], v);
    uint8_t near63[32];
    memcpy(near63, k[NONCE_PROOF_MAX_SIBLINGS - 1], 32);
    flip_bit(near63, 200);
    prove(t, near63, &p);
    assert_int_equal(p.proof.terminal_is_leaf, 1);
    assert_int_equal(p.proof.n_siblings, NONCE_PROOF_MAX_SIBLINGS - 1);
    insert_checked(t, near63, v); /* new leaf: exactly 64 siblings */
    uint8_t near63b[32];
    memcpy(near63b, near63, 32);
    flip_bit(near63b, 230);
    prove(t, near63b, &p); /* ends at near63's leaf with 64 siblings: inserting needs 65 */
    assert_int_equal(p.proof.terminal_is_leaf, 1);
    assert_int_equal(p.proof.n_siblings, NONCE_PROOF_MAX_SIBLINGS);
    nonce_tree_root(t, root);
    assert_int_equal(nonce_set_verify_insert(root, near63b, v, &p.proof, out), OS_ERR_PROOF_TOO_LARGE);
    assert_int_equal(nonce_tree_insert(t, near63b, v), OS_ERR_PROOF_TOO_LARGE);
    nonce_tree_free(t);
}

/* The batch insert (tree rebuild) gives the same root as one-by-one inserts, stops at a repeated key
 * with the root consistent with what went in, and leaves a tree whose proofs still verify. */
static void test_insert_many(void **state) {
    (void)state;
    enum { N = 2000 };
    static uint8_t keys[N][32], values[N][32];
    rng_state = 99;
    for (unsigned i = 0; i < N; i++) {
        rng_bytes(keys[i], 32);
        if (i % 3 == 2) {
            memcpy(keys[i], keys[i - 1], 32);
            flip_bit(keys[i], 10 + i % 200);
        }
        rng_bytes(values[i], 32);
    }
    nonce_tree *one, *many;
    uint8_t root_one[32], root_many[32];
    size_t inserted = 0;
    assert_int_equal(nonce_tree_create(&one), OS_OK);
    assert_int_equal(nonce_tree_create(&many), OS_OK);
    for (unsigned i = 0; i < N; i++) assert_int_equal(nonce_tree_insert(one, keys[i], values[i]), OS_OK);
    /* in three batches, so later batches rehash nodes that earlier ones left clean */
    assert_int_equal(nonce_tree_insert_many(many, 700, keys, values, &inserted), OS_OK);
    assert_int_equal(inserted, 700);
    assert_int_equal(nonce_tree_insert_many(many, 1, keys + 700, values + 700, &inserted), OS_OK);
    assert_int_equal(nonce_tree_insert_many(many, N - 701, keys + 701, values + 701, &inserted), OS_OK);
    assert_int_equal(inserted, N - 701);
    nonce_tree_root(one, root_one);
    nonce_tree_root(many, root_many);
    assert_memory_equal(root_one, root_many, 32);
    assert_int_equal(nonce_tree_count(many), N);
    for (unsigned i = 0; i < N; i += 97) check_member(many, keys[i], values[i]);

    /* A batch with a committed key stops there. */
    uint8_t batch_keys[3][32], batch_values[3][32] = {{1}, {2}, {3}};
    rng_bytes(batch_keys[0], 32);
    memcpy(batch_keys[1], keys[5], 32);
    rng_bytes(batch_keys[2], 32);
    assert_int_equal(nonce_tree_insert_many(many, 3, batch_keys, batch_values, &inserted),
                     OS_ERR_NONCE_COMMITTED);
    assert_int_equal(inserted, 1);
    assert_int_equal(nonce_tree_insert(one, batch_keys[0], batch_values[0]), OS_OK);
    nonce_tree_root(one, root_one);
    nonce_tree_root(many, root_many);
    assert_memory_equal(root_one, root_many, 32);
    check_member(many, batch_keys[0], batch_values[0]);
    check_absent(many, batch_keys[2]);
    assert_int_equal(nonce_tree_insert_many(many, 0, NULL, NULL, &inserted), OS_OK);
    assert_int_equal(inserted, 0);
    nonce_tree_free(one);
    nonce_tree_free(many);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_key_and_value_hashes),
        cmocka_unit_test(test_anchor_key_and_value),
        cmocka_unit_test(test_single_insert),
        cmocka_unit_test(test_hand_computed),
        cmocka_unit_test(test_random_operations),
        cmocka_unit_test(test_forged_proofs),
        cmocka_unit_test(test_non_canonical),
        cmocka_unit_test(test_deep_pair_and_limits),
        cmocka_unit_test(test_insert_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
