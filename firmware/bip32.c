/* oncesign — BIP32 (contracts in bip32.h). */
#include "bip32.h"

#include <string.h>

#include <secp256k1.h>

#include "bytes.h"
#include "crypto.h"
#include "oncesign/check.h"

void bip32_wipe(bip32_node *node) {
    if (node != NULL) crypto_wipe(node, sizeof(*node));
}

void bip32_neuter(bip32_node *node) {
    if (node == NULL) return;
    crypto_wipe(node->private_key, sizeof(node->private_key));
    node->has_private = 0;
}

void bip32_fingerprint(const bip32_node *node, uint8_t fp[4]) {
    uint8_t h[20];
    if (node == NULL || fp == NULL) return;
    crypto_hash160(node->public_key, sizeof(node->public_key), h);
    memcpy(fp, h, 4);
}

int bip32_from_seed(const uint8_t *seed, size_t seed_len, bip32_node *out) {
    static const uint8_t key[] = "Bitcoin seed";
    uint8_t I[64];
    int rc;
    ARG_CHECK(seed != NULL && out != NULL);
    ARG_CHECK(seed_len >= 16 && seed_len <= 64);
    if (crypto_ctx() == NULL) return OS_ERR_NOT_INITIALIZED;

    bip32_wipe(out);
    rc = crypto_hmac_sha512(key, sizeof(key) - 1, seed, seed_len, I);
    if (rc == OS_OK) {
        memcpy(out->private_key, I, 32);
        memcpy(out->chain_code, I + 32, 32);
        out->has_private = 1;
        rc = crypto_pubkey_from_priv(out->private_key, out->public_key);
    }
    crypto_wipe(I, sizeof(I));
    if (rc != OS_OK) bip32_wipe(out);
    return rc;
}

/* I = HMAC-SHA512(c_par, 0x00||k_par||i) for hardened i, HMAC-SHA512(c_par, K_par||i) otherwise:
 * the step CKDpriv and CKDpub share. I is wiped by the callers. */
static int ckd_hmac(const bip32_node *parent, uint32_t index, uint8_t I[64]) {
    crypto_hmac_sha512_ctx hmac;
    uint8_t ser_index[4];
    int rc, frc;

    os_write_be32(ser_index, index);
    rc = crypto_hmac_sha512_init(&hmac, parent->chain_code, sizeof(parent->chain_code));
    if (rc != OS_OK) return rc;
    if (index >= BIP32_HARDENED) {
        static const uint8_t zero = 0;
        rc = crypto_hmac_sha512_update(&hmac, &zero, 1);
        if (rc == OS_OK) rc = crypto_hmac_sha512_update(&hmac, parent->private_key, 32);
    } else {
        rc = crypto_hmac_sha512_update(&hmac, parent->public_key, 33);
    }
    if (rc == OS_OK) rc = crypto_hmac_sha512_update(&hmac, ser_index, sizeof(ser_index));
    /* final also wipes the HMAC state when an update failed */
    frc = crypto_hmac_sha512_final(&hmac, I);
    return rc == OS_OK ? frc : rc;
}

/* k_i = I_L + k_par mod n; tweak_add fails when I_L >= n or the sum is zero. */
static int ckd_private_key(const secp256k1_context *ctx, const bip32_node *parent, const uint8_t I[64],
                           uint8_t child_key[32]) {
    memcpy(child_key, parent->private_key, 32);
    if (!secp256k1_ec_seckey_tweak_add(ctx, child_key, I)) {
        crypto_wipe(child_key, 32);
        return OS_ERR_CRYPTO;
    }
    return OS_OK;
}

int bip32_derive_child(const bip32_node *parent, uint32_t index, bip32_node *out) {
    const secp256k1_context *ctx = crypto_ctx();
    bip32_node child;
    uint8_t I[64];
    int rc;
    ARG_CHECK(parent != NULL && out != NULL);
    ARG_CHECK(parent->depth < BIP32_MAX_DEPTH);
    ARG_CHECK(parent->has_private || index < BIP32_HARDENED);
    if (ctx == NULL) return OS_ERR_NOT_INITIALIZED;

    memset(&child, 0, sizeof(child));
    rc = ckd_hmac(parent, index, I);
    if (rc == OS_OK) {
        memcpy(child.chain_code, I + 32, 32);
        if (parent->has_private) {
            rc = ckd_private_key(ctx, parent, I, child.private_key);
            if (rc == OS_OK) {
                child.has_private = 1;
                rc = crypto_pubkey_from_priv(child.private_key, child.public_key);
            }
        } else {
            /* K_i = point(I_L) + K_par; tweak_add fails when I_L >= n or the sum is infinity */
            secp256k1_pubkey pub;
            size_t len = 33;
            if (!secp256k1_ec_pubkey_parse(ctx, &pub, parent->public_key, 33) ||
                !secp256k1_ec_pubkey_tweak_add(ctx, &pub, I)) {
                rc = OS_ERR_CRYPTO;
            } else if (!secp256k1_ec_pubkey_serialize(ctx, child.public_key, &len, &pub,
                                                      SECP256K1_EC_COMPRESSED) || len != 33) {
                rc = OS_ERR_INTERNAL;
            }
        }
    }
    if (rc == OS_OK) {
        child.depth = (uint8_t)(parent->depth + 1);
        child.child_number = index;
        bip32_fingerprint(parent, child.parent_fingerprint);
        memcpy(out, &child, sizeof(child));   /* out may alias parent: written last */
    } else {
        bip32_wipe(out);
    }
    crypto_wipe(I, sizeof(I));
    bip32_wipe(&child);
    return rc;
}

int bip32_derive_private_key(const bip32_node *parent, uint32_t index, uint8_t child_key[32]) {
    const secp256k1_context *ctx = crypto_ctx();
    uint8_t I[64];
    int rc;
    ARG_CHECK(parent != NULL && child_key != NULL);
    ARG_CHECK(parent->has_private);
    if (ctx == NULL) return OS_ERR_NOT_INITIALIZED;

    rc = ckd_hmac(parent, index, I);
    if (rc == OS_OK) rc = ckd_private_key(ctx, parent, I, child_key);
    if (rc != OS_OK) crypto_wipe(child_key, 32);
    crypto_wipe(I, sizeof(I));
    return rc;
}

int bip32_derive_path(const bip32_node *root, const uint32_t *path, size_t depth, bip32_node *out) {
    bip32_node node;
    size_t i;
    int rc = OS_OK;
    ARG_CHECK(root != NULL && out != NULL);
    ARG_CHECK(path != NULL || depth == 0);
    ARG_CHECK(depth <= (size_t)(BIP32_MAX_DEPTH - root->depth));

    memcpy(&node, root, sizeof(node));
    for (i = 0; i < depth && rc == OS_OK; i++) rc = bip32_derive_child(&node, path[i], &node);
    if (rc == OS_OK) {
        memcpy(out, &node, sizeof(node));
    } else {
        bip32_wipe(out);
    }
    bip32_wipe(&node);
    return rc;
}

static int version_is_private(uint32_t version) {
    return version == BIP32_VERSION_XPRV || version == BIP32_VERSION_TPRV;
}

static int version_is_public(uint32_t version) {
    return version == BIP32_VERSION_XPUB || version == BIP32_VERSION_TPUB;
}

int bip32_serialize(const bip32_node *node, uint32_t version, uint8_t out[78]) {
    ARG_CHECK(node != NULL && out != NULL);
    ARG_CHECK(!version_is_private(version) || node->has_private);

    os_write_be32(out, version);
    out[4] = node->depth;
    memcpy(out + 5, node->parent_fingerprint, 4);
    os_write_be32(out + 9, node->child_number);
    memcpy(out + 13, node->chain_code, 32);
    if (version_is_private(version)) {
        out[45] = 0x00;
        memcpy(out + 46, node->private_key, 32);
    } else {
        memcpy(out + 45, node->public_key, 33);
    }
    return OS_OK;
}

int bip32_parse(const uint8_t in[78], uint32_t *version, bip32_node *out) {
    const secp256k1_context *ctx = crypto_ctx();
    bip32_node node;
    uint32_t ver;
    int rc = OS_OK;
    ARG_CHECK(in != NULL && version != NULL && out != NULL);
    if (ctx == NULL) return OS_ERR_NOT_INITIALIZED;

    memset(&node, 0, sizeof(node));
    ver = os_read_be32(in);
    node.depth = in[4];
    memcpy(node.parent_fingerprint, in + 5, 4);
    node.child_number = os_read_be32(in + 9);
    memcpy(node.chain_code, in + 13, 32);

    if (node.depth == 0) {
        static const uint8_t zero_fp[4] = {0, 0, 0, 0};
        if (memcmp(node.parent_fingerprint, zero_fp, 4) != 0 || node.child_number != 0) {
            rc = OS_ERR_ARG;
        }
    }
    if (rc == OS_OK && in[45] == 0x00) {
        if (version_is_public(ver)) {
            rc = OS_ERR_ARG;
        } else {
            memcpy(node.private_key, in + 46, 32);
            if (!crypto_seckey_valid(node.private_key)) {
                rc = OS_ERR_ARG;
            } else {
                node.has_private = 1;
                rc = crypto_pubkey_from_priv(node.private_key, node.public_key);
            }
        }
    } else if (rc == OS_OK && (in[45] == 0x02 || in[45] == 0x03)) {
        secp256k1_pubkey pub;
        if (version_is_private(ver) || !secp256k1_ec_pubkey_parse(ctx, &pub, in + 45, 33)) {
            rc = OS_ERR_ARG;
        } else {
            memcpy(node.public_key, in + 45, 33);
        }
    } else if (rc == OS_OK) {
        rc = OS_ERR_ARG;
    }

    if (rc == OS_OK) {
        *version = ver;
        memcpy(out, &node, sizeof(node));
    } else {
        bip32_wipe(out);
    }
    bip32_wipe(&node);
    return rc;
}
