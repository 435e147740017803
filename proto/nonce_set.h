/* oncesign — the nonce set: a sparse Merkle tree with shortcut leaves (docs/DESIGN.md §3 "Nonce set").
 *
 * The signer keeps only the 32-byte root; the host keeps the tree (host/lib/nonce_tree.h) and sends a
 * proof with every payout. This file is the verifier, compiled into the firmware and the host: no heap,
 * no recursion, no stdio, bounded stack (a few hundred bytes).
 *
 * Hashing (TH is the BIP340 tagged hash, TH(tag, m) = SHA256(SHA256(tag) | SHA256(tag) | m)):
 *   key      = TH("oncesign/key",   nonce32)
 *   value    = TH("oncesign/value", anchor_txid(32) | anchor_vout(u32 LE) | amount(u64 LE) |
 *                                   script_len(u8) | script)
 *   leaf     = TH("oncesign/leaf",  key | value)
 *   anchor key   = TH("oncesign/anchor", anchor_txid(32) | anchor_vout(u32 LE))
 *   anchor value = count(u16 LE) | 30 zero bytes: how many committed nonces have this outpoint as
 *                  their anchor (docs/DESIGN.md §3 "Anchors"); never 0
 *   internal = TH("oncesign/node",  left | right)
 *   empty subtree = 32 zero bytes
 *
 * Shape: key bit i = (key[i/8] >> (7 - i%8)) & 1, 0 goes left. A position at depth t is a t-bit key
 * prefix (the root is depth 0); "level i" is the step from depth i to depth i+1, chosen by bit i, so
 * level 0 holds the root's children. The tree is canonical: a subtree with no leaf is empty (zero), a
 * subtree with exactly one leaf IS that leaf's hash, wherever it sits (a "shortcut leaf"), a subtree
 * with two or more leaves is internal(left, right). So each set has exactly one tree and one root.
 *
 * Proof (os_nonce_proof in include/oncesign/protocol.h): walk from the root along the key's bits until
 * the subtree reached is empty or a single leaf; that terminal sits at depth `depth`. bitmap bit i
 * (byte i/8, bit i%8, LSB first) says whether the sibling at level i is non-empty; only non-empty
 * siblings are carried, level 0 first. A leaf terminal carries its key and value hash; an empty
 * terminal's leaf_key/leaf_value are ignored.
 *
 * Verification recomputes bottom-up from the terminal. At level i, node N and sibling S combine as:
 * both empty -> empty; S empty and N still a single leaf -> N (the shortcut); otherwise
 * internal(N, S) or internal(S, N) by bit i of the key being proven.
 *
 * Canonical-form rules and why each one matters. Soundness rests on: (a) the tags separate leaves from
 * internal nodes, so a leaf hash never equals an internal hash, (b) one set has one tree, so a proof
 * that reproduces the root describes the real path of that key, and (c) one proof per (tree, key), so
 * nothing in a proof is unbound by the root. The verifier refuses (OS_ERR_PROOF_INVALID):
 *   R1 terminal_is_leaf not 0 or 1 — no third kind exists; a stray value must not be read as either.
 *   R2 a bitmap bit set at a level >= depth, or n_siblings != popcount(bitmap below depth) — those
 *      bytes would be bound by nothing: they could smuggle data past the root check, make two encodings
 *      of one proof, or make the verifier read siblings that are not there.
 *   R3 a sibling flagged non-empty that is 32 zero bytes — it is an empty sibling spelled a second way,
 *      and it would flip the shortcut rule (a leaf combined with it would become internal).
 *   R4 an empty terminal at depth d > 0 whose level d-1 sibling is empty — that parent subtree is
 *      empty, so the walk should have stopped one level higher; allowing it gives the same absence many
 *      depths, and, for an insert, a place for the new leaf that the canonical tree would not use.
 *   R5 a leaf terminal at depth d > 0 whose level d-1 sibling is empty — the leaf should have been
 *      collapsed higher. The shortcut rule makes such a proof hash to the same root as the honest one,
 *      so without R5 a leaf could be claimed at any depth below its real one, and an insert next to it
 *      would be built at the wrong level.
 *   R6 a leaf terminal whose key does not share the first `depth` bits with the key being proven —
 *      such a leaf cannot lie on this key's path. Absence is shown by "the path ends at another key's
 *      leaf"; an unrelated leaf proves nothing about this key, and inserting next to it would put the
 *      new pair under the wrong prefix (a non-canonical tree, after which proofs stop being unique).
 *      With R5 a wrong-prefix leaf also fails the root check (its hash would have to sit where the
 *      canonical tree has something else); R6 is checked first anyway, because the insert builds
 *      on the leaf's key before the root comparison is known.
 *   R7 more than NONCE_PROOF_MAX_SIBLINGS siblings: OS_ERR_PROOF_TOO_LARGE (bounded work on the device).
 *
 * Limits of an insert: the new leaf lands at depth d (empty terminal) or j+1 (next to leaf k', where j
 * is the first bit at or below depth where the keys differ). The verifier refuses with
 * OS_ERR_PROOF_TOO_LARGE an insert whose new leaf could never be proven again: depth above
 * NONCE_PROOF_MAX_DEPTH (keys equal in their first 255 bits) or more than NONCE_PROOF_MAX_SIBLINGS
 * non-empty siblings. Keys are hashes, so reaching either takes about 2^64 work or more; the same
 * limits apply in nonce_tree_insert so host and signer never disagree. An insert can also push an
 * OLDER leaf's proof past NONCE_PROOF_MAX_SIBLINGS (its path gains the new sibling); its nonce then
 * cannot be replaced — stuck, never paid twice (I1 holds, I6 fails closed).
 */
#ifndef ONCESIGN_NONCE_SET_H
#define ONCESIGN_NONCE_SET_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"

#define NONCE_SET_HASH_BYTES 32

/* Computes the tree key of a gift-code nonce: TH("oncesign/key", nonce).
 * Returns: OS_OK; OS_ERR_CRYPTO when mbedtls fails; OS_ERR_ARG for NULL.
 * In:      nonce: 32 bytes.
 * Out:     key: 32 bytes (may alias nonce). */
int nonce_set_key(const uint8_t nonce[32], uint8_t key[32]);

/* Computes the value committed for a nonce: TH("oncesign/value", anchor txid | vout LE32 | amount LE64
 * | script_len | script).
 * Returns: OS_OK; OS_ERR_ARG for NULL pointers or script_len > 255 (the length is one byte);
 *          OS_ERR_CRYPTO when mbedtls fails.
 * In:      anchor: the anchor outpoint (txid in internal byte order). script: script_len bytes (may be
 *          NULL when script_len is 0). amount: satoshi.
 * Out:     value: 32 bytes. */
int nonce_set_leaf_value(const os_outpoint *anchor, const uint8_t *script, size_t script_len,
                         uint64_t amount, uint8_t value[32]);

/* The key of an anchor entry: TH("oncesign/anchor", txid | vout LE32). The tag keeps anchor keys
 * apart from nonce keys, so one tree holds both and a proof for one kind never speaks of the other.
 * Returns: OS_OK; OS_ERR_ARG for NULL; OS_ERR_CRYPTO when mbedtls fails.
 * In:      anchor: the outpoint (txid in internal byte order). Out: key: 32 bytes. */
int nonce_set_anchor_key(const os_outpoint *anchor, uint8_t key[32]);

/* The value of an anchor entry: count as u16 LE, then 30 zero bytes. Not a hash: the leaf hash
 * binds it to its key, and the signer reads the count straight from a membership proof.
 * Returns: OS_OK; OS_ERR_ARG for NULL or count 0 (an anchor of nothing is no entry).
 * In: count: 1..OS_MAX_OUTPUTS. Out: value: 32 bytes. */
int nonce_set_anchor_value(uint16_t count, uint8_t value[32]);

/* Reads an anchor entry's count back.
 * Returns: OS_OK; OS_ERR_PROOF_INVALID when value is not nonce_set_anchor_value of a count >= 1;
 *          OS_ERR_ARG for NULL. */
int nonce_set_anchor_count(const uint8_t value[32], uint16_t *count);

/* Leaf hash TH("oncesign/leaf", key | value), the node of a subtree holding just this pair.
 * Returns: OS_OK; OS_ERR_ARG for NULL; OS_ERR_CRYPTO. Out: out: 32 bytes (may alias inputs). */
int nonce_set_leaf_hash(const uint8_t key[32], const uint8_t value[32], uint8_t out[32]);

/* Internal node hash TH("oncesign/node", left | right). Callers apply the shortcut and empty rules
 * themselves; this only hashes.
 * Returns: OS_OK; OS_ERR_ARG for NULL; OS_ERR_CRYPTO. Out: out: 32 bytes (may alias inputs). */
int nonce_set_node_hash(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);

/* Bit i (0..255) of a key, 0 meaning left: (key[i/8] >> (7 - i%8)) & 1. */
static inline unsigned nonce_set_key_bit(const uint8_t key[32], unsigned i) {
    return (unsigned)(key[i >> 3] >> (7u - (i & 7u))) & 1u;
}

/* Verifies a non-membership proof for key and computes the root with (key, value) inserted.
 * Returns: OS_OK: key is absent under root; new_root is root with (key, value) added.
 *          OS_ERR_PROOF_INVALID: the proof does not lead to root or breaks a rule R1-R6 above.
 *          OS_ERR_PROOF_KIND: a valid proof that shows key PRESENT (the nonce is committed).
 *          OS_ERR_PROOF_TOO_LARGE: more than NONCE_PROOF_MAX_SIBLINGS siblings, or the inserted leaf
 *          would exceed the depth or sibling limit (see "Limits of an insert").
 *          OS_ERR_ARG for NULL pointers (proof->siblings may be NULL only when n_siblings is 0);
 *          OS_ERR_CRYPTO when mbedtls fails.
 * In:      root: the current root. key: the new key (nonce_set_key). value: its value hash.
 *          proof: decoded proof for key.
 * Out:     new_root: 32 bytes, written only on OS_OK (may alias root).
 * Cost:    about 2*depth + (j - depth) + 3 tagged hashes (nonce_set_hash_count). */
int nonce_set_verify_insert(const uint8_t root[32], const uint8_t key[32], const uint8_t value[32],
                            const os_nonce_proof *proof, uint8_t new_root[32]);

/* Verifies a membership proof: key is in the set under root with exactly this value.
 * Returns: OS_OK: present with this value.
 *          OS_ERR_PROOF_INVALID: the proof does not lead to root, breaks a rule R1-R6, or shows key
 *          present with a DIFFERENT value (the value is part of the leaf hash, so a proof carrying
 *          the caller's value cannot reach the root; one carrying another value shows a mismatch).
 *          OS_ERR_PROOF_KIND: a valid proof of ABSENCE.
 *          OS_ERR_PROOF_TOO_LARGE: more than NONCE_PROOF_MAX_SIBLINGS siblings.
 *          OS_ERR_ARG for NULL pointers; OS_ERR_CRYPTO when mbedtls fails.
 * In:      root, key, value: 32 bytes each. proof: decoded proof for key. */
int nonce_set_verify_member(const uint8_t root[32], const uint8_t key[32], const uint8_t value[32],
                            const os_nonce_proof *proof);

/* Verifies a membership proof of (key, old_value) and computes the root with key's value replaced
 * by new_value (same position, same siblings): the re-anchoring of a committed nonce.
 * Returns: as nonce_set_verify_member; OS_OK with new_root written.
 * In:      root, key, old_value, new_value: 32 bytes each. proof: decoded membership proof for key.
 * Out:     new_root: 32 bytes, written only on OS_OK (may alias root). */
int nonce_set_verify_update(const uint8_t root[32], const uint8_t key[32], const uint8_t old_value[32],
                            const uint8_t new_value[32], const os_nonce_proof *proof, uint8_t new_root[32]);

/* Root of the empty set: 32 zero bytes. */
void nonce_set_empty_root(uint8_t root[32]);

/* Counts tagged-hash evaluations done by this file since the process (or device) started: one per
 * key, value, leaf or internal node hash, whoever asked (the host tree hashes through here too, so a
 * benchmark reads the counter before and after the call it measures). The one-time computation of the
 * four tag midstates is not counted. On SHA-256 compressions: with the tag midstate cached, a leaf or
 * internal hash (64-byte message) costs 2 compressions, a key hash 1, a value hash 1 (scripts up to
 * 10 bytes) or 2 (up to 74 bytes). Wraps around at 2^32; updated atomically (relaxed), so concurrent host threads are safe. */
uint32_t nonce_set_hash_count(void);

#endif /* ONCESIGN_NONCE_SET_H */
