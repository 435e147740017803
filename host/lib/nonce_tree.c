/* oncesign — host nonce tree (contracts in nonce_tree.h, hashing rules in proto/nonce_set.h). */
#include "nonce_tree.h"

#include <stdlib.h>
#include <string.h>

#include "nonce_set.h"
#include "oncesign/check.h"
#include "oncesign/status.h"

/* A node reference: an index into the leaf array when REF_LEAF is set, else into the inner array. */
#define REF_LEAF  0x80000000u
#define REF_NONE  0xFFFFFFFFu
#define REF_INDEX_MAX 0x7FFFFFFEu
#define INITIAL_CAPACITY 1024

/* Two keys first differ at bit `split`; everything below differs nowhere above it. */
typedef struct {
    uint8_t slot_hash[32];  /* subtree hash at the parent's child slot (depth parent.split+1, or 0) */
    uint32_t child[2];      /* bit `split` of the key: 0 left, 1 right; both non-empty */
    uint8_t split;          /* 0..254 (a leaf below sits at depth split+1 <= NONCE_PROOF_MAX_DEPTH) */
    uint8_t stale;          /* slot_hash awaits rehash_stale(); every ancestor of a stale node is stale */
} inner_node;

typedef struct {
    uint8_t key[32];
    uint8_t value[32];
    uint8_t hash[32];       /* nonce_set_leaf_hash(key, value): a leaf needs no folding (shortcut) */
} leaf_node;

struct nonce_tree {
    inner_node *inner;
    size_t n_inner, cap_inner;
    leaf_node *leaves;
    size_t n_leaves, cap_leaves;
    uint32_t root;
    uint8_t root_hash[32];
};

/* Inner nodes on the way from the root to a leaf; splits strictly increase and stay below 255, so at
 * most 255, plus room for the node an insert adds. */
typedef struct {
    uint32_t node[NONCE_PROOF_MAX_DEPTH + 1];
    unsigned n;
    uint32_t leaf;
} tree_path;

static int is_leaf(uint32_t ref) { return (ref & REF_LEAF) != 0; }

static const uint8_t *ref_hash(const nonce_tree *t, uint32_t ref) {
    return is_leaf(ref) ? t->leaves[ref & ~REF_LEAF].hash : t->inner[ref].slot_hash;
}

/* First bit where a and b differ, 256 when equal. */
static unsigned first_difference(const uint8_t a[32], const uint8_t b[32]) {
    for (unsigned byte = 0; byte < 32; byte++) {
        uint8_t diff = (uint8_t)(a[byte] ^ b[byte]);
        if (diff == 0) continue;
        unsigned bit = 0;
        while (!(diff & (0x80u >> bit))) bit++;
        return byte * 8 + bit;
    }
    return 256;
}

/* Follows key's bits at each split down to the one leaf a crit-bit walk ends at. t must be non-empty. */
static void descend(const nonce_tree *t, const uint8_t key[32], tree_path *path) {
    uint32_t ref = t->root;
    path->n = 0;
    while (!is_leaf(ref)) {
        const inner_node *node = &t->inner[ref];
        path->node[path->n++] = ref;
        ref = node->child[nonce_set_key_bit(key, node->split)];
    }
    path->leaf = ref;
}

/* Hash of an inner node's subtree at depth `depth` (<= split): internal(left, right) at depth split,
 * then one internal(x, empty)/(empty, x) per one-sided level above it. prefix_key: any key below. */
static int subtree_hash_at(const nonce_tree *t, uint32_t ref, unsigned depth, const uint8_t prefix_key[32],
                           uint8_t out[32]) {
    static const uint8_t empty[32];
    const inner_node *node = &t->inner[ref];
    VERIFY_CHECK(depth <= node->split);
    CHECK_OK(nonce_set_node_hash(ref_hash(t, node->child[0]), ref_hash(t, node->child[1]), out));
    for (unsigned level = node->split; level-- > depth;) {
        if (nonce_set_key_bit(prefix_key, level) == 0) {
            CHECK_OK(nonce_set_node_hash(out, empty, out));
        } else {
            CHECK_OK(nonce_set_node_hash(empty, out, out));
        }
    }
    return OS_OK;
}

static int grow(void **array, size_t *cap, size_t needed, size_t elem_size) {
    if (needed <= *cap) return OS_OK;
    if (needed > REF_INDEX_MAX) return OS_ERR_IO;
    size_t new_cap = *cap ? *cap * 2 : INITIAL_CAPACITY;
    if (new_cap > REF_INDEX_MAX + 1u) new_cap = REF_INDEX_MAX + 1u;
    void *p = realloc(*array, new_cap * elem_size);
    if (p == NULL) return OS_ERR_IO;
    *array = p;
    *cap = new_cap;
    return OS_OK;
}

int nonce_tree_create(nonce_tree **out) {
    ARG_CHECK(out != NULL);
    nonce_tree *t = calloc(1, sizeof *t);
    if (t == NULL) return OS_ERR_IO;
    t->root = REF_NONE;
    *out = t;
    return OS_OK;
}

void nonce_tree_free(nonce_tree *t) {
    if (t == NULL) return;
    free(t->inner);
    free(t->leaves);
    free(t);
}

void nonce_tree_root(const nonce_tree *t, uint8_t root[32]) {
    memcpy(root, t->root_hash, 32);
}

size_t nonce_tree_count(const nonce_tree *t) {
    return t->n_leaves;
}

size_t nonce_tree_memory_bytes(const nonce_tree *t) {
    return sizeof *t + t->cap_inner * sizeof(inner_node) + t->cap_leaves * sizeof(leaf_node);
}

int nonce_tree_get(const nonce_tree *t, const uint8_t key[32], uint8_t value[32]) {
    ARG_CHECK(t != NULL && key != NULL && value != NULL);
    if (t->root == REF_NONE) return OS_ERR_NONCE_ABSENT;
    tree_path path;
    descend(t, key, &path);
    const leaf_node *leaf = &t->leaves[path.leaf & ~REF_LEAF];
    if (memcmp(leaf->key, key, 32) != 0) return OS_ERR_NONCE_ABSENT;
    memcpy(value, leaf->value, 32);
    return OS_OK;
}

int nonce_tree_prove(const nonce_tree *t, const uint8_t key[32], os_nonce_proof *proof,
                     uint8_t siblings_buf[NONCE_PROOF_MAX_SIBLINGS * 32], int *present) {
    ARG_CHECK(t != NULL && key != NULL && proof != NULL && siblings_buf != NULL && present != NULL);
    memset(proof, 0, sizeof *proof);
    proof->siblings = siblings_buf;
    *present = 0;
    if (t->root == REF_NONE) return OS_OK; /* depth 0, empty terminal: the empty root */

    tree_path path;
    descend(t, key, &path);
    const leaf_node *leaf = &t->leaves[path.leaf & ~REF_LEAF];
    /* Every node on the path whose split comes before `diverge` lies on key's own path. */
    unsigned diverge = first_difference(key, leaf->key);
    unsigned n_siblings = 0, depth = 0, i;
    for (i = 0; i < path.n; i++) {
        const inner_node *node = &t->inner[path.node[i]];
        if (node->split > diverge) break;
        if (n_siblings == NONCE_PROOF_MAX_SIBLINGS) return OS_ERR_PROOF_TOO_LARGE;
        uint32_t sibling = node->child[1 - nonce_set_key_bit(key, node->split)];
        memcpy(siblings_buf + 32 * n_siblings++, ref_hash(t, sibling), 32);
        proof->bitmap[node->split >> 3] |= (uint8_t)(1u << (node->split & 7u));
        depth = node->split + 1u;
    }
    if (i == path.n) {
        /* The walk ends at the leaf itself: key's own leaf, or another key's shortcut leaf. */
        proof->terminal_is_leaf = 1;
        memcpy(proof->leaf_key, leaf->key, 32);
        memcpy(proof->leaf_value, leaf->value, 32);
        *present = diverge == 256;
    } else {
        /* key leaves the subtree of path.node[i] at bit `diverge`, above that node's split: the
         * position at depth diverge+1 on key's side is empty, the other side holds the whole subtree. */
        if (n_siblings == NONCE_PROOF_MAX_SIBLINGS) return OS_ERR_PROOF_TOO_LARGE;
        CHECK_OK(subtree_hash_at(t, path.node[i], diverge + 1u, leaf->key, siblings_buf + 32 * n_siblings));
        n_siblings++;
        proof->bitmap[diverge >> 3] |= (uint8_t)(1u << (diverge & 7u));
        depth = diverge + 1u;
    }
    VERIFY_CHECK(depth <= NONCE_PROOF_MAX_DEPTH);
    proof->depth = (uint8_t)depth;
    proof->n_siblings = (uint8_t)n_siblings;
    return OS_OK;
}

/* Some key below ref: its bits spell the one-sided levels above ref's split. */
static const uint8_t *any_key_below(const nonce_tree *t, uint32_t ref) {
    while (!is_leaf(ref)) ref = t->inner[ref].child[0];
    return t->leaves[ref & ~REF_LEAF].key;
}

/* Recomputes the slot hashes of the stale nodes under ref (which sits at depth slot_depth), children
 * before parents, so an insert rehashes its path once and a batch rehashes each touched node once.
 * Recursion depth is bounded by the 255 possible splits. *key_below: some key under ref. */
static int rehash_stale(nonce_tree *t, uint32_t ref, unsigned slot_depth, const uint8_t **key_below) {
    if (is_leaf(ref)) {
        *key_below = t->leaves[ref & ~REF_LEAF].key;
        return OS_OK;
    }
    *key_below = NULL;
    if (!t->inner[ref].stale) return OS_OK;
    const uint8_t *keys[2];
    unsigned below = t->inner[ref].split + 1u;
    CHECK_OK(rehash_stale(t, t->inner[ref].child[0], below, &keys[0]));
    CHECK_OK(rehash_stale(t, t->inner[ref].child[1], below, &keys[1]));
    const uint8_t *key = keys[0] ? keys[0] : keys[1] ? keys[1] : any_key_below(t, ref);
    CHECK_OK(subtree_hash_at(t, ref, slot_depth, key, t->inner[ref].slot_hash));
    t->inner[ref].stale = 0;
    *key_below = key;
    return OS_OK;
}

static int rehash_root(nonce_tree *t) {
    if (t->root == REF_NONE) {
        memset(t->root_hash, 0, 32);
        return OS_OK;
    }
    const uint8_t *unused;
    CHECK_OK(rehash_stale(t, t->root, 0, &unused));
    memcpy(t->root_hash, ref_hash(t, t->root), 32);
    return OS_OK;
}

/* Links (key, value) into the trie and marks what needs rehashing; the root is stale afterwards. */
static int link_leaf(nonce_tree *t, const uint8_t key[32], const uint8_t value[32]) {
    leaf_node new_leaf;
    memcpy(new_leaf.key, key, 32);
    memcpy(new_leaf.value, value, 32);

    if (t->root == REF_NONE) {
        CHECK_OK(nonce_set_leaf_hash(key, value, new_leaf.hash));
        CHECK_OK(grow((void **)&t->leaves, &t->cap_leaves, t->n_leaves + 1, sizeof(leaf_node)));
        t->leaves[t->n_leaves] = new_leaf;
        t->root = REF_LEAF | (uint32_t)t->n_leaves++;
        return OS_OK;
    }

    tree_path path;
    descend(t, key, &path);
    unsigned split = first_difference(key, t->leaves[path.leaf & ~REF_LEAF].key);
    if (split == 256) return OS_ERR_NONCE_COMMITTED;

    /* The new inner node goes above the first path node that splits later than the keys do. */
    unsigned above = 0;
    while (above < path.n && t->inner[path.node[above]].split < split) above++;
    VERIFY_CHECK(above == path.n || t->inner[path.node[above]].split > split);
    /* The new leaf sits at depth split+1 with one non-empty sibling per split above it, plus the
     * displaced subtree: the same limits nonce_set_verify_insert enforces. */
    if (split + 1u > NONCE_PROOF_MAX_DEPTH || above + 1u > NONCE_PROOF_MAX_SIBLINGS) {
        return OS_ERR_PROOF_TOO_LARGE;
    }

    CHECK_OK(nonce_set_leaf_hash(key, value, new_leaf.hash));
    CHECK_OK(grow((void **)&t->leaves, &t->cap_leaves, t->n_leaves + 1, sizeof(leaf_node)));
    CHECK_OK(grow((void **)&t->inner, &t->cap_inner, t->n_inner + 1, sizeof(inner_node)));
    uint32_t leaf_ref = REF_LEAF | (uint32_t)t->n_leaves;
    uint32_t inner_ref = (uint32_t)t->n_inner;
    t->leaves[t->n_leaves++] = new_leaf;

    uint32_t displaced = above < path.n ? path.node[above] : path.leaf;
    inner_node *node = &t->inner[t->n_inner++];
    memset(node, 0, sizeof *node);
    node->split = (uint8_t)split;
    node->stale = 1;
    node->child[nonce_set_key_bit(key, split)] = leaf_ref;
    node->child[1 - nonce_set_key_bit(key, split)] = displaced;
    if (above == 0) {
        t->root = inner_ref;
    } else {
        inner_node *parent = &t->inner[path.node[above - 1]];
        parent->child[nonce_set_key_bit(key, parent->split)] = inner_ref;
    }
    /* The displaced subtree now hangs one slot deeper: its folded one-sided levels change. */
    if (!is_leaf(displaced)) t->inner[displaced].stale = 1;
    for (unsigned i = 0; i < above; i++) t->inner[path.node[i]].stale = 1;
    return OS_OK;
}

int nonce_tree_insert(nonce_tree *t, const uint8_t key[32], const uint8_t value[32]) {
    ARG_CHECK(t != NULL && key != NULL && value != NULL);
    CHECK_OK(link_leaf(t, key, value));
    return rehash_root(t);
}

int nonce_tree_insert_many(nonce_tree *t, size_t n, const uint8_t (*keys)[32], const uint8_t (*values)[32],
                           size_t *inserted) {
    ARG_CHECK(t != NULL && inserted != NULL);
    ARG_CHECK(n == 0 || (keys != NULL && values != NULL));
    size_t done = 0;
    int status = OS_OK;
    while (done < n && (status = link_leaf(t, keys[done], values[done])) == OS_OK) done++;
    *inserted = done;
    CHECK_OK(rehash_root(t));
    return status;
}

/* The slot that holds ref: the root, or a child slot of an inner node found by walking down with a
 * key stored below ref. */
static uint32_t *slot_of(nonce_tree *t, uint32_t ref) {
    const uint8_t *key = any_key_below(t, ref);
    uint32_t *slot = &t->root;
    while (*slot != ref) {
        inner_node *node = &t->inner[*slot];
        slot = &node->child[nonce_set_key_bit(key, node->split)];
    }
    return slot;
}

int nonce_tree_remove(nonce_tree *t, const uint8_t key[32]) {
    ARG_CHECK(t != NULL && key != NULL);
    if (t->root == REF_NONE) return OS_ERR_NONCE_ABSENT;
    tree_path path;
    descend(t, key, &path);
    uint32_t leaf_index = path.leaf & ~REF_LEAF;
    if (memcmp(t->leaves[leaf_index].key, key, 32) != 0) return OS_ERR_NONCE_ABSENT;

    uint32_t freed_inner = REF_NONE;
    if (path.n == 0) {
        t->root = REF_NONE;
    } else {
        /* The leaf's parent disappears: its other child takes the parent's slot, one level up, so
         * its folded one-sided levels and every ancestor's hash change. */
        uint32_t parent = path.node[path.n - 1];
        uint32_t sibling = t->inner[parent].child[1 - nonce_set_key_bit(key, t->inner[parent].split)];
        if (path.n == 1) {
            t->root = sibling;
        } else {
            inner_node *grand = &t->inner[path.node[path.n - 2]];
            grand->child[nonce_set_key_bit(key, grand->split)] = sibling;
        }
        freed_inner = parent;
        if (!is_leaf(sibling)) t->inner[sibling].stale = 1;
        for (unsigned i = 0; i + 1 < path.n; i++) t->inner[path.node[i]].stale = 1;
    }

    /* Keep the arrays dense: the last leaf and the last inner node move into the freed slots. */
    uint32_t last_leaf = (uint32_t)t->n_leaves - 1;
    if (leaf_index != last_leaf) {
        uint32_t *slot = slot_of(t, REF_LEAF | last_leaf);
        t->leaves[leaf_index] = t->leaves[last_leaf];
        *slot = REF_LEAF | leaf_index;
    }
    t->n_leaves--;
    if (freed_inner != REF_NONE) {
        uint32_t last_inner = (uint32_t)t->n_inner - 1;
        if (freed_inner != last_inner) {
            uint32_t *slot = slot_of(t, last_inner);
            t->inner[freed_inner] = t->inner[last_inner];
            *slot = freed_inner;
        }
        t->n_inner--;
    }
    return rehash_root(t);
}
