/* oncesign — the host's copy of the nonce set: the whole tree in memory, building the proofs the
 * signer verifies with proto/nonce_set.h (hashing, shape and proof rules are defined there).
 *
 * Representation: a crit-bit (PATRICIA) trie. Every internal node is a position where the set really
 * splits in two (both children non-empty); the one-sided levels between two such positions are not
 * stored, and a subtree holding a single leaf is just that leaf: exactly the canonical tree's shortcut
 * leaves. Each node caches the hash of its subtree as seen from its parent's child slot (the one-sided
 * levels above it already folded in), so a proof is read off the path and an insert rehashes only the
 * path (nonce_tree_insert_many defers that and rehashes each touched node once). Nodes live in two growable arrays addressed by 32-bit index: about 140 bytes per key plus the
 * arrays' spare capacity (nonce_tree_memory_bytes).
 *
 * Not thread-safe: callers serialise access to one tree (readers may run concurrently with each other).
 */
#ifndef ONCESIGN_NONCE_TREE_H
#define ONCESIGN_NONCE_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"

typedef struct nonce_tree nonce_tree;

/* Creates an empty tree.
 * Returns: OS_OK; OS_ERR_IO when memory cannot be allocated; OS_ERR_ARG for NULL.
 * Out:     *out: the tree, to be released with nonce_tree_free. */
int nonce_tree_create(nonce_tree **out);

/* Releases a tree and everything it holds. NULL is allowed. */
void nonce_tree_free(nonce_tree *t);

/* Copies the current root (32 zero bytes for the empty tree) into root. t, root: not NULL. */
void nonce_tree_root(const nonce_tree *t, uint8_t root[32]);

/* Number of keys in the set. */
size_t nonce_tree_count(const nonce_tree *t);

/* Bytes of heap the tree holds (node arrays at their current capacity plus the handle). */
size_t nonce_tree_memory_bytes(const nonce_tree *t);

/* Looks a key up.
 * Returns: OS_OK: present, value written; OS_ERR_NONCE_ABSENT: not in the set (value untouched);
 *          OS_ERR_ARG for NULL.
 * In:      key: 32 bytes (nonce_set_key of the nonce).
 * Out:     value: its 32-byte value hash (nonce_set_leaf_value), only on OS_OK. */
int nonce_tree_get(const nonce_tree *t, const uint8_t key[32], uint8_t value[32]);

/* Builds the proof for key under the current root: a membership proof when the key is present, an
 * absence proof otherwise; either verifies with nonce_set_verify_member / nonce_set_verify_insert.
 * Returns: OS_OK; OS_ERR_PROOF_TOO_LARGE when the path has more than NONCE_PROOF_MAX_SIBLINGS
 *          non-empty siblings (the signer would refuse it; the key cannot be inserted or replaced);
 *          OS_ERR_ARG for NULL; OS_ERR_CRYPTO when hashing fails.
 * Out:     proof: filled on OS_OK; proof->siblings points into siblings_buf, which must outlive it.
 *          siblings_buf: NONCE_PROOF_MAX_SIBLINGS * 32 bytes. *present: 1 when key is in the set. */
int nonce_tree_prove(const nonce_tree *t, const uint8_t key[32], os_nonce_proof *proof,
                     uint8_t siblings_buf[NONCE_PROOF_MAX_SIBLINGS * 32], int *present);

/* Adds (key, value) and updates the root the way nonce_set_verify_insert computes it.
 * Returns: OS_OK; OS_ERR_NONCE_COMMITTED when key is already present (tree unchanged);
 *          OS_ERR_PROOF_TOO_LARGE when the new leaf could never be proven (depth above
 *          NONCE_PROOF_MAX_DEPTH or more than NONCE_PROOF_MAX_SIBLINGS siblings), which the signer
 *          refuses too (tree unchanged); OS_ERR_IO when memory runs out (tree unchanged);
 *          OS_ERR_CRYPTO when hashing fails (the tree is then inconsistent: discard it);
 *          OS_ERR_ARG for NULL. */
int nonce_tree_insert(nonce_tree *t, const uint8_t key[32], const uint8_t value[32]);

/* Takes key out of the set (the host undoes inserts the signer did not commit).
 * Returns: OS_OK; OS_ERR_NONCE_ABSENT when key is not in the set; OS_ERR_CRYPTO when hashing fails
 *          (the tree is then inconsistent: discard it); OS_ERR_ARG for NULL.
 *          After OS_OK the root equals the root of a tree built without key. */
int nonce_tree_remove(nonce_tree *t, const uint8_t key[32]);

/* Adds many pairs, rehashing each touched node once at the end instead of the whole path per key:
 * the way to rebuild a tree (from the archived audit log). Same result as inserting one by one.
 * Returns: OS_OK when all n went in; otherwise the first failure as nonce_tree_insert reports it
 *          (OS_ERR_NONCE_COMMITTED for a key present or repeated in the batch, ...), with the pairs
 *          before it inserted and the root consistent with them.
 * In:      keys, values: n entries each (may be NULL when n is 0).
 * Out:     *inserted: how many pairs, from the start, are now in the tree. */
int nonce_tree_insert_many(nonce_tree *t, size_t n, const uint8_t (*keys)[32], const uint8_t (*values)[32],
                           size_t *inserted);

#endif /* ONCESIGN_NONCE_TREE_H */
