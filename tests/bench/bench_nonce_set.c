/* Benchmark: nonce-set proof size and device-side verification cost at 10^3, 10^5 and 10^6 keys, and
 * the host tree's insert rate and memory at 10^6 keys.
 *
 * One tree grows from 0 to 10^6 random keys; at each checkpoint SAMPLES fresh keys (not inserted) get
 * an absence proof from the tree and are verified with nonce_set_verify_insert, as the signer would:
 *   bench proof_bytes_1eN N bytes          mean encoded proof: 2 + 32 (bitmap) + 32 per sibling,
 *                                          + 64 (leaf key and value) for a leaf terminal
 *   bench hashes_per_insert_1eN N hashes   mean tagged hashes (nonce_set_hash_count) per verify_insert
 *   bench nonce_tree_inserts_per_s_1e6 N inserts/s   nonce_tree_insert one key at a time (root updated
 *                                          after each, as for a payout), the last SINGLE keys to 10^6
 *   bench nonce_tree_bulk_inserts_per_s_1e6 N inserts/s   nonce_tree_insert_many (a rebuild), 10^5 ->
 *                                          10^6 - SINGLE
 *   bench nonce_tree_bytes_per_key_1e6 N bytes       nonce_tree_memory_bytes / keys at 10^6
 * Deterministic keys (splitmix64), so runs compare. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

#define SAMPLES 2000
#define BATCH 65536
#define SINGLE 20000

static uint64_t rng_state = 0xB3AC4u;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static void rng_bytes(uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i += 8) { /* little-endian bytes of each 64-bit draw */
        uint64_t v = rng_next();
        for (size_t j = 0; j < 8 && i + j < n; j++) out[i + j] = (uint8_t)(v >> (8 * j));
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void fail(const char *what, int rc) {
    fprintf(stderr, "bench_nonce_set: %s failed: 0x%04x\n", what, (unsigned)rc);
    exit(1);
}

static void measure(const nonce_tree *t, const char *suffix) {
    uint8_t root[32], key[32], value[32], new_root[32];
    uint8_t siblings[NONCE_PROOF_MAX_SIBLINGS * 32];
    os_nonce_proof proof;
    nonce_tree_root(t, root);
    uint64_t bytes = 0, hashes = 0;
    unsigned done = 0;
    while (done < SAMPLES) {
        int present = 0;
        rng_bytes(key, 32);
        rng_bytes(value, 32);
        int rc = nonce_tree_prove(t, key, &proof, siblings, &present);
        if (rc != OS_OK) fail("nonce_tree_prove", rc);
        if (present) continue;
        bytes += 2u + 32u + 32u * proof.n_siblings + (proof.terminal_is_leaf ? 64u : 0u);
        uint32_t before = nonce_set_hash_count();
        rc = nonce_set_verify_insert(root, key, value, &proof, new_root);
        hashes += nonce_set_hash_count() - before;
        if (rc != OS_OK) fail("nonce_set_verify_insert", rc);
        done++;
    }
    printf("bench proof_bytes_%s %.1f bytes\n", suffix, (double)bytes / SAMPLES);
    printf("bench hashes_per_insert_%s %.2f hashes\n", suffix, (double)hashes / SAMPLES);
    fflush(stdout);
}

/* Adds random pairs until the tree holds `target` keys, in batches (the rebuild path). */
static void grow_to(nonce_tree *t, size_t target, uint8_t (*keys)[32], uint8_t (*values)[32]) {
    while (nonce_tree_count(t) < target) {
        size_t n = target - nonce_tree_count(t), inserted = 0;
        if (n > BATCH) n = BATCH;
        rng_bytes(&keys[0][0], 32 * n);
        rng_bytes(&values[0][0], 32 * n);
        int rc = nonce_tree_insert_many(t, n, (const uint8_t (*)[32])keys, (const uint8_t (*)[32])values,
                                        &inserted);
        if (rc != OS_OK && rc != OS_ERR_NONCE_COMMITTED) fail("nonce_tree_insert_many", rc);
    }
}

int main(void) {
    nonce_tree *t;
    int rc = nonce_tree_create(&t);
    if (rc != OS_OK) fail("nonce_tree_create", rc);
    uint8_t (*keys)[32] = malloc(BATCH * 32), (*values)[32] = malloc(BATCH * 32);
    if (keys == NULL || values == NULL) fail("malloc", OS_ERR_IO);

    grow_to(t, 1000, keys, values);
    measure(t, "1e3");
    grow_to(t, 100000, keys, values);
    measure(t, "1e5");

    /* 10^6: batches up to 10^6 - SINGLE keys, then SINGLE one-at-a-time inserts (each rehashes its
     * path, as a payout does), so both rates are taken near 10^6 keys. */
    double start = now_s();
    size_t before = nonce_tree_count(t);
    grow_to(t, 1000000 - SINGLE, keys, values);
    double bulk_rate = (double)(nonce_tree_count(t) - before) / (now_s() - start);
    start = now_s();
    while (nonce_tree_count(t) < 1000000) {
        rng_bytes(keys[0], 32);
        rng_bytes(values[0], 32);
        rc = nonce_tree_insert(t, keys[0], values[0]);
        if (rc != OS_OK && rc != OS_ERR_NONCE_COMMITTED) fail("nonce_tree_insert", rc);
    }
    double single_rate = SINGLE / (now_s() - start);
    measure(t, "1e6");
    printf("bench nonce_tree_inserts_per_s_1e6 %.0f inserts/s\n", single_rate);
    printf("bench nonce_tree_bulk_inserts_per_s_1e6 %.0f inserts/s\n", bulk_rate);
    printf("bench nonce_tree_bytes_per_key_1e6 %.1f bytes\n",
           (double)nonce_tree_memory_bytes(t) / (double)nonce_tree_count(t));
    nonce_tree_free(t);
    free(keys);
    free(values);
    return 0;
}
