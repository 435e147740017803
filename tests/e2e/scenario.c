/* oncesign — the signer scenario the demo and the QEMU check run against a real device process
 * (the simulator over its socket, the Cortex-M4 image over its UART):
 *
 *   phase1: a payout for a fresh code nonce is signed and its signatures verified with the host's
 *           libsecp256k1; a second, non-conflicting transaction for the same nonce is refused; a
 *           (no more: tests/e2e/test_sim_power_cut.sh knows every state phase1 can leave)
 *   phase2: (after the device rebooted from its flash) the host rebuilds its tree, checks it against
 *           the device's root, the non-conflicting transaction is refused again, and a retry of the
 *           committed payout (it spends the anchor) is signed with the very same signatures.
 *   phase3: (after phase2, same boot) a payout for a second code: the device's steady state, its
 *           key caches warm, which qemu_check.sh measures besides the first payout after boot.
 *
 * Coins are made-up previous transactions paying the device's own keys (derived here from its
 * xpub): the device verifies previous transactions by txid, not against a chain, so no node is
 * needed for this scenario. Exit status 0 only when every expectation held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "bip32.h"
#include "bytes.h"
#include "client.h"
#include "crypto.h"
#include "nonce_set.h"
#include "nonce_tree.h"
#include "oncesign/status.h"
#include "signing.h"

#define TIMEOUT_MS 20000

typedef struct {
    uint8_t prev_tx[128];
    size_t prev_tx_len;
    os_sign_input input;
} coin;

static int fail(const char *what, int rc) {
    fprintf(stderr, "scenario: FAILED: %s (%s: %s)\n", what, os_status_name(rc), os_status_message(rc));
    return 1;
}

static int call(os_client *c, uint8_t type, os_msg *req, os_msg *reply, uint8_t *buf) {
    req->version = OS_PROTOCOL_VERSION;
    req->type = type;
    int rc = os_client_call(c, req, reply, buf, TIMEOUT_MS);
    if (rc != OS_OK) return rc;
    if (reply->type == OS_MSG_ERROR) return reply->u.error.code;
    return OS_OK;
}

/* The device's P2PKH key at m/44'/1'/0'/change/index, from its account xpub. */
static int device_script(const bip32_node *account, uint32_t change, uint32_t index, uint8_t script[25]) {
    bip32_node chain, leaf;
    size_t len = 0;
    int rc = bip32_derive_child(account, change, &chain);
    if (rc == OS_OK) rc = bip32_derive_child(&chain, index, &leaf);
    if (rc == OS_OK) rc = script_for_pubkey(OS_SCRIPT_P2PKH, leaf.public_key, script, 25, &len);
    return rc;
}

static int make_coin(coin *k, const bip32_node *account, uint32_t index, uint64_t amount, uint32_t salt) {
    uint8_t script[25];
    int rc = device_script(account, 0, index, script);
    if (rc != OS_OK) return rc;
    uint8_t *p = k->prev_tx;
    memset(k, 0, sizeof *k);
    p = k->prev_tx;
    os_write_le32(p, 2); p += 4;
    *p++ = 1;
    memset(p, 0x5c, 32); os_write_le32(p, salt); p += 32;
    os_write_le32(p, 0); p += 4;
    *p++ = 0;
    os_write_le32(p, 0xffffffffu); p += 4;
    *p++ = 1;
    os_write_le64(p, amount); p += 8;
    *p++ = 25;
    memcpy(p, script, 25); p += 25;
    os_write_le32(p, 0); p += 4;
    k->prev_tx_len = (size_t)(p - k->prev_tx);
    crypto_sha256d(k->prev_tx, k->prev_tx_len, k->input.prevout.txid);
    k->input.prevout.vout = 0;
    k->input.sequence = 0xfffffffdu;
    k->input.script_type = OS_SCRIPT_P2PKH;
    k->input.addr_index = index;
    k->input.prev_tx = k->prev_tx;
    k->input.prev_tx_len = k->prev_tx_len;
    return OS_OK;
}

static const char *const NONCE_FIRST = "gift-code-0001 / demo nonce ....";
static const char *const NONCE_SECOND = "gift-code-0002 / demo nonce ....";

static void the_payout(os_sign_output out[2], const bip32_node *account, const char *nonce, int replace,
                       const os_outpoint *anchor) {
    memset(out, 0, 2 * sizeof out[0]);
    out[0].kind = OS_OUTPUT_PAYOUT;
    out[0].amount = 12500000;   /* 0.125 MONA to a gift-code redeemer */
    out[0].script[0] = 0x76; out[0].script[1] = 0xa9; out[0].script[2] = 0x14;
    memset(out[0].script + 3, 0x3c, 20);
    out[0].script[23] = 0x88; out[0].script[24] = 0xac;
    out[0].script_len = 25;
    memcpy(out[0].nonce, nonce, 32);
    out[0].replace = (uint8_t)replace;
    if (anchor) out[0].anchor = *anchor;
    out[1].kind = OS_OUTPUT_CHANGE;
    out[1].amount = 100000000 - 12500000 - 4000;
    out[1].change_script_type = OS_SCRIPT_P2PKH;
    out[1].change_index = 0;
    (void)device_script(account, 1, 0, out[1].script);
    out[1].script_len = 25;
}

static void print_hex(const char *label, const uint8_t *p, size_t n, int reversed) {
    size_t i;
    printf("%s", label);
    for (i = 0; i < n; i++) printf("%02x", p[reversed ? n - 1 - i : i]);
    printf("\n");
}

int main(int argc, char **argv) {
    const char *device = NULL, *phase = NULL;
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) device = argv[++i];
        else phase = argv[i];
    }
    if (!device || !phase ||
        (strcmp(phase, "phase1") != 0 && strcmp(phase, "phase2") != 0 && strcmp(phase, "phase3") != 0)) {
        fprintf(stderr, "usage: oncesign-scenario --device SPEC phase1|phase2|phase3\n");
        return 2;
    }
    uint8_t seed[32] = { 0 };
    if (crypto_init(seed) != OS_OK) return fail("crypto_init", OS_ERR_INTERNAL);
    char err[256];
    os_client *c = NULL;
    int rc = os_client_open(device, &c, err, sizeof err);
    if (rc != OS_OK) { fprintf(stderr, "scenario: %s\n", err); return 2; }

    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg req, reply;
    memset(&req, 0, sizeof req);
    if ((rc = call(c, OS_MSG_GET_INFO, &req, &reply, buf)) != OS_OK) return fail("device info", rc);
    os_msg_info info = reply.u.info;
    if (!info.initialized) return fail("device is not initialised", OS_ERR_NOT_INITIALIZED);
    memset(&req, 0, sizeof req);
    req.u.get_xpub.script_type = OS_SCRIPT_P2PKH;
    if ((rc = call(c, OS_MSG_GET_XPUB, &req, &reply, buf)) != OS_OK) return fail("xpub", rc);
    bip32_node account;
    uint32_t version;
    if ((rc = bip32_parse(reply.u.xpub.data, &version, &account)) != OS_OK) return fail("xpub parse", rc);

    coin a, b;
    if ((rc = make_coin(&a, &account, 0, 100000000, 1)) != OS_OK) return fail("coin", rc);
    if ((rc = make_coin(&b, &account, 1, 100000000, 2)) != OS_OK) return fail("coin", rc);
    nonce_tree *tree = NULL;
    if (nonce_tree_create(&tree) != OS_OK) return fail("tree", OS_ERR_IO);
    os_sign_output out[2];
    os_input_sig sigs[1];
    os_sign_outcome oc;
    uint8_t raw[512], txid[32];
    size_t raw_len = 0, bad = 0;

    if (strcmp(phase, "phase1") == 0) {
        the_payout(out, &account, NONCE_FIRST, 0, NULL);
        os_sign_tx tx = { 2, 0, 1, 2, &a.input, out, 0, NULL };
        rc = os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL);
        if (rc != OS_OK) return fail("signing the payout for a fresh nonce", rc);
        if ((rc = os_sign_verify(&tx, sigs, &bad)) != OS_OK) return fail("host verification of the signatures", rc);
        if ((rc = os_sign_serialize(&tx, sigs, raw, sizeof raw, &raw_len, txid)) != OS_OK) return fail("serialize", rc);
        printf("scenario: payout signed, signatures verified on the host (log entry #%llu)\n",
               (unsigned long long)oc.log_seq);
        print_hex("scenario: txid ", txid, 32, 1);
        print_hex("scenario: raw ", raw, raw_len, 0);
    } else {
        /* The host rebuilds its tree and checks it against the device before anything new (I6). */
        uint8_t key[32], value[32], root[32];
        the_payout(out, &account, NONCE_FIRST, 1, &a.input.prevout);
        if (nonce_set_key(out[0].nonce, key) != OS_OK ||
            nonce_set_leaf_value(&a.input.prevout, out[0].script, 25, out[0].amount, value) != OS_OK ||
            nonce_tree_insert(tree, key, value) != OS_OK ||
            /* coin a anchors that one payout (docs/DESIGN.md §3 "Anchors") */
            nonce_set_anchor_key(&a.input.prevout, key) != OS_OK || nonce_set_anchor_value(1, value) != OS_OK ||
            nonce_tree_insert(tree, key, value) != OS_OK)
            return fail("rebuilding the tree", OS_ERR_INTERNAL);
        nonce_tree_root(tree, root);
        if (memcmp(root, info.nonce_root, 32) != 0) return fail("device root differs from the host's tree", OS_ERR_INTERNAL);
        printf("scenario: the device's nonce root matches the host's rebuilt tree\n");
    }

    if (strcmp(phase, "phase3") == 0) {
        os_sign_output next[2];
        the_payout(next, &account, NONCE_SECOND, 0, NULL);
        os_sign_tx tx = { 2, 0, 1, 2, &b.input, next, 0, NULL };
        rc = os_sign_run(c, tree, &tx, sigs, &oc, NULL, NULL);
        if (rc != OS_OK) return fail("signing the payout for a second code", rc);
        if ((rc = os_sign_verify(&tx, sigs, &bad)) != OS_OK) return fail("host verification of the signatures", rc);
        printf("scenario: payout for a second code signed and verified (log entry #%llu)\n",
               (unsigned long long)oc.log_seq);
        nonce_tree_free(tree);
        os_client_close(c);
        printf("scenario: %s ok\n", phase);
        return 0;
    }

    /* The Monappy failure: the host "forgets" and pays the same code from another coin. */
    the_payout(out, &account, NONCE_FIRST, 1, &a.input.prevout);
    os_sign_tx second = { 2, 0, 1, 2, &b.input, out, 0, NULL };
    rc = os_sign_run(c, tree, &second, sigs, &oc, NULL, NULL);
    if (rc != OS_ERR_NONCE_COMMITTED) return fail("expected the second transaction to be refused", rc);
    printf("scenario: second transaction for the same code refused: %s (committed anchor %02x%02x%02x…:%u)\n",
           os_status_message(rc), oc.detail[63], oc.detail[62], oc.detail[61],
           (unsigned)os_read_le32(oc.detail + 64));

    if (strcmp(phase, "phase2") == 0) {
        os_sign_tx retry = { 2, 0, 1, 2, &a.input, out, 0, NULL };
        rc = os_sign_run(c, tree, &retry, sigs, &oc, NULL, NULL);
        if (rc != OS_OK) return fail("retrying the committed payout", rc);
        if ((rc = os_sign_verify(&retry, sigs, &bad)) != OS_OK) return fail("host verification", rc);
        if ((rc = os_sign_serialize(&retry, sigs, raw, sizeof raw, &raw_len, txid)) != OS_OK) return fail("serialize", rc);
        printf("scenario: retry of the committed payout signed again (same transaction, conflicts with itself)\n");
        print_hex("scenario: txid ", txid, 32, 1);
    }
    nonce_tree_free(tree);
    os_client_close(c);
    printf("scenario: %s ok\n", phase);
    return 0;
}
