/* oncesign — taking keys back out of the host's nonce tree (the host undoes inserts the signer
 * refused): after every removal the root equals the root of a tree built from the remaining keys
 * alone, proofs keep verifying, and removing an absent key changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/status.h"

#define N 300

static uint64_t state = 12345;
static uint64_t next(void) {
    state += 0x9e3779b97f4a7c15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void random_bytes(uint8_t *p, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)next();
}

static void rebuilt_root(uint8_t keys[][32], uint8_t values[][32], const int *alive, int n, uint8_t root[32]) {
    nonce_tree *t = NULL;
    int i;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    for (i = 0; i < n; i++)
        if (alive[i]) assert_int_equal(nonce_tree_insert(t, keys[i], values[i]), OS_OK);
    nonce_tree_root(t, root);
    nonce_tree_free(t);
}

static void test_remove_matches_rebuild(void **s) {
    (void)s;
    static uint8_t keys[N][32], values[N][32];
    static int alive[N];
    nonce_tree *t = NULL;
    int i, round;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    for (i = 0; i < N; i++) {
        random_bytes(keys[i], 32);
        random_bytes(values[i], 32);
        /* a few keys sharing long prefixes, so removals collapse deep paths */
        if (i % 10 == 1) { memcpy(keys[i], keys[i - 1], 30); keys[i][30] = (uint8_t)(keys[i - 1][30] ^ 1); }
        assert_int_equal(nonce_tree_insert(t, keys[i], values[i]), OS_OK);
        alive[i] = 1;
    }
    for (round = 0; round < N; round++) {
        int victim = (int)(next() % N);
        uint8_t root[32], expect[32];
        if (!alive[victim]) {
            assert_int_equal(nonce_tree_remove(t, keys[victim]), OS_ERR_NONCE_ABSENT);
            continue;
        }
        assert_int_equal(nonce_tree_remove(t, keys[victim]), OS_OK);
        alive[victim] = 0;
        nonce_tree_root(t, root);
        if (round % 15 == 0 || nonce_tree_count(t) < 5) {
            rebuilt_root(keys, values, alive, N, expect);
            assert_memory_equal(root, expect, 32);
        }
        /* membership of a survivor and absence of the victim still verify against the root */
        uint8_t sib[NONCE_PROOF_MAX_SIBLINGS * 32], v[32];
        os_nonce_proof proof;
        int present = 0;
        assert_int_equal(nonce_tree_prove(t, keys[victim], &proof, sib, &present), OS_OK);
        assert_int_equal(present, 0);
        uint8_t new_root[32];
        assert_int_equal(nonce_set_verify_insert(root, keys[victim], values[victim], &proof, new_root), OS_OK);
        for (i = 0; i < N; i++) {
            if (!alive[i]) continue;
            assert_int_equal(nonce_tree_prove(t, keys[i], &proof, sib, &present), OS_OK);
            assert_int_equal(present, 1);
            assert_int_equal(nonce_set_verify_member(root, keys[i], values[i], &proof), OS_OK);
            assert_int_equal(nonce_tree_get(t, keys[i], v), OS_OK);
            assert_memory_equal(v, values[i], 32);
            break;
        }
    }
    /* everything removed: the empty root */
    for (i = 0; i < N; i++)
        if (alive[i]) assert_int_equal(nonce_tree_remove(t, keys[i]), OS_OK);
    uint8_t root[32], zero[32] = { 0 };
    nonce_tree_root(t, root);
    assert_memory_equal(root, zero, 32);
    assert_int_equal(nonce_tree_count(t), 0);
    nonce_tree_free(t);
}

static void test_insert_then_remove_restores_root(void **s) {
    (void)s;
    nonce_tree *t = NULL;
    uint8_t k[32], v[32], before[32], after[32];
    int i;
    assert_int_equal(nonce_tree_create(&t), OS_OK);
    for (i = 0; i < 50; i++) {
        random_bytes(k, 32);
        random_bytes(v, 32);
        assert_int_equal(nonce_tree_insert(t, k, v), OS_OK);
    }
    for (i = 0; i < 50; i++) {
        nonce_tree_root(t, before);
        random_bytes(k, 32);
        random_bytes(v, 32);
        assert_int_equal(nonce_tree_insert(t, k, v), OS_OK);
        nonce_tree_root(t, after);
        assert_memory_not_equal(before, after, 32);
        assert_int_equal(nonce_tree_remove(t, k), OS_OK);
        nonce_tree_root(t, after);
        assert_memory_equal(before, after, 32);
    }
    nonce_tree_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remove_matches_rebuild),
        cmocka_unit_test(test_insert_then_remove_restores_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
