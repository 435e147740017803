/* oncesign host — one signing session against the signer. See signing.h. */
#include "signing.h"

#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "bytes.h"
#include "crypto.h"
#include "nonce_set.h"
#include "oncesign/check.h"
#include "tx.h"

#define SIGN_TIMEOUT_MS 10000
#define SIGHASH_ALL 1u

typedef struct {
    os_client *client;
    os_msg reply;
    uint8_t reply_buf[OS_MAX_MESSAGE];
    void (*on_pending)(void *);
    void *ctx;
} session;

static void outcome_from_error(os_sign_outcome *outcome, const os_msg *reply) {
    outcome->status = reply->u.error.code;
    outcome->device_refused = 1;
    outcome->index = reply->u.error.index;
    outcome->detail_len = reply->u.error.detail_len;
    if (outcome->detail_len > sizeof outcome->detail) outcome->detail_len = sizeof outcome->detail;
    if (outcome->detail_len) memcpy(outcome->detail, reply->u.error.detail, outcome->detail_len);
}

/* One request that must be answered with `expect`; anything else is the session's end. */
static int call_expect(session *s, os_msg *req, uint8_t expect, os_sign_outcome *outcome, int wait) {
    int rc = wait ? os_client_call_wait(s->client, req, &s->reply, s->reply_buf, SIGN_TIMEOUT_MS, s->on_pending, s->ctx)
                  : os_client_call(s->client, req, &s->reply, s->reply_buf, SIGN_TIMEOUT_MS);
    if (rc != OS_OK) {
        outcome->status = rc;
        return rc;
    }
    if (s->reply.type == OS_MSG_ERROR) {
        outcome_from_error(outcome, &s->reply);
        return outcome->status ? outcome->status : OS_ERR_INTERNAL;
    }
    if (s->reply.type != expect) {
        outcome->status = OS_ERR_MSG_UNEXPECTED;
        return OS_ERR_MSG_UNEXPECTED;
    }
    return OS_OK;
}

static void msg_init(os_msg *m, uint8_t type) {
    memset(m, 0, sizeof *m);
    m->version = OS_PROTOCOL_VERSION;
    m->type = type;
}

int os_sign_sort_payouts(os_sign_output *outputs, size_t n_outputs) {
    ARG_CHECK(outputs != NULL || n_outputs == 0);
    /* Selection sort over payout positions: batches are at most OS_MAX_OUTPUTS long. */
    size_t i, j;
    for (i = 0; i < n_outputs; i++) {
        if (outputs[i].kind != OS_OUTPUT_PAYOUT) continue;
        uint8_t best_key[32];
        size_t best = i;
        CHECK_OK(nonce_set_key(outputs[i].nonce, best_key));
        for (j = i + 1; j < n_outputs; j++) {
            uint8_t key[32];
            if (outputs[j].kind != OS_OUTPUT_PAYOUT) continue;
            CHECK_OK(nonce_set_key(outputs[j].nonce, key));
            int cmp = memcmp(key, best_key, 32);
            if (cmp == 0) return OS_ERR_NONCE_ORDER;
            if (cmp < 0) { best = j; memcpy(best_key, key, 32); }
        }
        if (best != i) {
            os_sign_output tmp = outputs[i];
            outputs[i] = outputs[best];
            outputs[best] = tmp;
        }
    }
    return OS_OK;
}

uint16_t os_sign_anchored(const os_sign_tx *tx) {
    uint16_t n = 0;
    for (size_t i = 0; tx != NULL && i < tx->n_outputs; i++) {
        const os_sign_output *o = &tx->outputs[i];
        if (o->kind == OS_OUTPUT_PAYOUT && (o->reanchor || !o->replace)) n++;
    }
    return n;
}

/* A re-anchored key's value before this session moved it. */
typedef struct {
    uint8_t key[32], old_value[32];
    int active;
} reanchored_leaf;

/* Takes back the keys this session inserted (the signer did not commit them), and the value of a
 * key it re-anchored. */
static void rollback(nonce_tree *tree, uint8_t (*inserted)[32], size_t n, reanchored_leaf *moved) {
    while (n > 0) {
        n--;
        (void)nonce_tree_remove(tree, inserted[n]);
    }
    if (moved->active) {
        (void)nonce_tree_remove(tree, moved->key);
        (void)nonce_tree_insert(tree, moved->key, moved->old_value);
        moved->active = 0;
    }
}

/* After a lost answer to SIGN_FINISH: only the signer's own root can say the commit happened.
 * Returns OS_OK when it did (the tree keeps the leaves); otherwise the leaves are taken back and the
 * result says why: the session's own error when the signer holds the old root, OS_ERR_IO when it
 * cannot be asked (a power cut during its commit: nothing is settled here; the host's start-up
 * replay of the signer's log settles the draft either way), OS_ERR_INTERNAL when its root is
 * neither. */
static int settle_after_lost_finish(session *s, nonce_tree *tree, uint8_t (*inserted)[32], size_t n_inserted,
                                    reanchored_leaf *moved, const uint8_t root_before[32],
                                    os_sign_outcome *outcome) {
    os_msg req;
    uint8_t root_after[32];
    msg_init(&req, OS_MSG_GET_INFO);
    int rc = os_client_call(s->client, &req, &s->reply, s->reply_buf, SIGN_TIMEOUT_MS);
    nonce_tree_root(tree, root_after);
    if (rc == OS_OK && s->reply.type == OS_MSG_INFO && memcmp(s->reply.u.info.nonce_root, root_after, 32) == 0)
        return OS_OK;
    rollback(tree, inserted, n_inserted, moved);
    if (rc != OS_OK || s->reply.type != OS_MSG_INFO) return OS_ERR_IO;
    if (memcmp(s->reply.u.info.nonce_root, root_before, 32) == 0) return outcome->status;
    return OS_ERR_INTERNAL;
}

int os_sign_run(os_client *c, nonce_tree *tree, const os_sign_tx *tx, os_input_sig *sigs,
                os_sign_outcome *outcome, void (*on_pending)(void *ctx), void *ctx) {
    ARG_CHECK(outcome != NULL);
    memset(outcome, 0, sizeof *outcome);
    outcome->index = 0xFFFF;
    ARG_CHECK(c != NULL && tree != NULL && tx != NULL && sigs != NULL);
    ARG_CHECK(tx->n_inputs >= 1 && tx->n_inputs <= OS_MAX_INPUTS);
    ARG_CHECK(tx->n_outputs >= 1 && tx->n_outputs <= OS_MAX_OUTPUTS);

    session *s = calloc(1, sizeof *s);
    /* the new payouts' keys and the anchor entry of input 0 */
    uint8_t (*inserted)[32] = calloc(tx->n_outputs + 1u, 32);
    uint8_t *siblings = malloc(NONCE_PROOF_MAX_SIBLINGS * 32);
    size_t n_inserted = 0, i;
    reanchored_leaf moved;
    memset(&moved, 0, sizeof moved);
    uint8_t root_before[32];
    int rc = OS_OK;
    if (s == NULL || inserted == NULL || siblings == NULL) { rc = OS_ERR_IO; goto out; }
    s->client = c;
    s->on_pending = on_pending;
    s->ctx = ctx;
    nonce_tree_root(tree, root_before);

    os_msg req;
    msg_init(&req, OS_MSG_SIGN_BEGIN);
    req.u.sign_begin.version = tx->version;
    req.u.sign_begin.locktime = tx->locktime;
    req.u.sign_begin.n_inputs = (uint16_t)tx->n_inputs;
    req.u.sign_begin.n_outputs = (uint16_t)tx->n_outputs;
    req.u.sign_begin.n_anchored = os_sign_anchored(tx);
    if ((rc = call_expect(s, &req, OS_MSG_SUCCESS, outcome, 0)) != OS_OK) goto out;

    for (i = 0; i < tx->n_inputs; i++) {
        const os_sign_input *in = &tx->inputs[i];
        msg_init(&req, OS_MSG_SIGN_INPUT);
        req.u.sign_input.index = (uint16_t)i;
        req.u.sign_input.prevout = in->prevout;
        req.u.sign_input.sequence = in->sequence;
        req.u.sign_input.script_type = in->script_type;
        req.u.sign_input.account = in->account;
        req.u.sign_input.change = in->change;
        req.u.sign_input.addr_index = in->addr_index;
        req.u.sign_input.prev_tx_len = (uint32_t)in->prev_tx_len;
        {
            /* Mirror the signer (docs/DESIGN.md §3 "Anchors"): every input's anchor key proven under
             * the root reached so far; input 0 of a transaction anchoring payouts gets its entry
             * unless it has one (then the signer refuses the transaction at SIGN_FINISH). */
            uint8_t key[32], value[32];
            int present = 0;
            rc = nonce_set_anchor_key(&in->prevout, key);
            if (rc == OS_OK) rc = nonce_tree_prove(tree, key, &req.u.sign_input.anchor_proof, siblings, &present);
            if (rc == OS_OK && i == 0 && !present && os_sign_anchored(tx) > 0) {
                rc = nonce_set_anchor_value(os_sign_anchored(tx), value);
                if (rc == OS_OK) rc = nonce_tree_insert(tree, key, value);
                if (rc == OS_OK) memcpy(inserted[n_inserted++], key, 32);
            }
            if (rc != OS_OK) goto fail_local;
        }
        if ((rc = call_expect(s, &req, OS_MSG_SUCCESS, outcome, 0)) != OS_OK) goto out;
        size_t off = 0;
        while (off < in->prev_tx_len) {
            size_t chunk = in->prev_tx_len - off;
            if (chunk > OS_MAX_PREVTX_CHUNK) chunk = OS_MAX_PREVTX_CHUNK;
            msg_init(&req, OS_MSG_SIGN_PREVTX);
            req.u.sign_prevtx.input_index = (uint16_t)i;
            req.u.sign_prevtx.offset = (uint32_t)off;
            req.u.sign_prevtx.len = (uint16_t)chunk;
            req.u.sign_prevtx.data = in->prev_tx + off;
            if ((rc = call_expect(s, &req, OS_MSG_SUCCESS, outcome, 0)) != OS_OK) goto out;
            off += chunk;
        }
    }

    for (i = 0; i < tx->n_outputs; i++) {
        const os_sign_output *o = &tx->outputs[i];
        if (o->kind == OS_OUTPUT_PAYOUT && o->voucher != NULL && !o->replace && !o->reanchor) {
            msg_init(&req, OS_MSG_SIGN_VOUCHER);
            req.u.sign_voucher.index = (uint16_t)i;
            req.u.sign_voucher.voucher = *o->voucher;
            if ((rc = call_expect(s, &req, OS_MSG_SUCCESS, outcome, 0)) != OS_OK) goto out;
        }
        msg_init(&req, OS_MSG_SIGN_OUTPUT);
        os_msg_sign_output *m = &req.u.sign_output;
        m->index = (uint16_t)i;
        m->kind = o->kind;
        m->amount = o->amount;
        if (o->kind == OS_OUTPUT_CHANGE) {
            m->change_script_type = o->change_script_type;
            m->change_account = o->change_account;
            m->change_index = o->change_index;
        } else {
            uint8_t key[32], value[32];
            int present = 0;
            m->script_len = o->script_len;
            m->script = o->script;
            memcpy(m->nonce, o->nonce, 32);
            if ((rc = nonce_set_key(o->nonce, key)) != OS_OK) goto fail_local;
            if ((rc = nonce_tree_prove(tree, key, &m->proof, siblings, &present)) != OS_OK) goto fail_local;
            if (o->reanchor) {
                m->proof_kind = OS_PROOF_REANCHOR;
                m->anchor = o->anchor;
                /* Mirror the signer: the leaf moves to input 0 (rolled back if nothing commits). */
                uint8_t old_value[32];
                if (moved.active) { rc = OS_ERR_ARG; goto fail_local; }
                rc = nonce_set_leaf_value(&o->anchor, o->script, o->script_len, o->amount, old_value);
                if (rc == OS_OK)
                    rc = nonce_set_leaf_value(&tx->inputs[0].prevout, o->script, o->script_len, o->amount, value);
                if (rc == OS_OK) rc = nonce_tree_remove(tree, key);
                if (rc == OS_OK) {
                    memcpy(moved.key, key, 32);
                    memcpy(moved.old_value, old_value, 32);
                    moved.active = 1;
                    rc = nonce_tree_insert(tree, key, value);
                }
                if (rc != OS_OK) goto fail_local;
            } else if (o->replace) {
                m->proof_kind = OS_PROOF_REPLACE;
                m->anchor = o->anchor;
            } else {
                m->proof_kind = OS_PROOF_NEW;
                /* The signer anchors every new nonce of this transaction at input 0. */
                rc = nonce_set_leaf_value(&tx->inputs[0].prevout, o->script, o->script_len, o->amount, value);
                if (rc == OS_OK) rc = nonce_tree_insert(tree, key, value);
                if (rc != OS_OK) goto fail_local;
                memcpy(inserted[n_inserted++], key, 32);
            }
        }
        if ((rc = call_expect(s, &req, OS_MSG_SUCCESS, outcome, 0)) != OS_OK) goto out;
    }
    for (i = 0; i < tx->n_approvals; i++) {
        msg_init(&req, OS_MSG_SIGN_APPROVAL);
        req.u.sign_approval.approval = tx->approvals[i];
        if ((rc = call_expect(s, &req, OS_MSG_SUCCESS, outcome, 0)) != OS_OK) goto out;
    }

    msg_init(&req, OS_MSG_SIGN_FINISH);
    rc = call_expect(s, &req, OS_MSG_SIGN_DONE, outcome, 1);
    if (rc == OS_ERR_TIMEOUT || rc == OS_ERR_IO) {
        /* The device may have committed; ask it rather than guess. */
        int settled = settle_after_lost_finish(s, tree, inserted, n_inserted, &moved, root_before, outcome);
        n_inserted = 0;   /* kept (committed) or already taken back */
        moved.active = 0;
        outcome->committed = settled == OS_OK;
        rc = settled == OS_OK ? OS_ERR_TIMEOUT : settled;
        outcome->status = rc;
        goto out;
    }
    if (rc != OS_OK) goto out;
    outcome->log_seq = s->reply.u.sign_done.log_seq;
    memcpy(outcome->nonce_root, s->reply.u.sign_done.nonce_root, 32);
    {
        /* A transaction without payouts commits no nonce: the signer's root is not the tree's business
         * then (a recovery's sweep signs while the tree is known to be incomplete, docs/RECOVERY.md). */
        size_t n_payouts = 0;
        for (i = 0; i < tx->n_outputs; i++) n_payouts += tx->outputs[i].kind == OS_OUTPUT_PAYOUT;
        uint8_t root_host[32];
        nonce_tree_root(tree, root_host);
        if (n_payouts > 0 && memcmp(root_host, outcome->nonce_root, 32) != 0) {
            /* The signer committed something the host cannot explain: the tree goes back to what the
             * host knows, and only the signer's log can tell the rest. */
            rc = OS_ERR_INTERNAL;
            outcome->status = rc;
            goto out;
        }
    }
    n_inserted = 0;   /* committed */
    moved.active = 0;
    outcome->committed = 1;

    for (i = 0; i < tx->n_inputs;) {
        msg_init(&req, OS_MSG_SIGN_GET_SIGS);
        req.u.sign_get_sigs.start = (uint16_t)i;
        if ((rc = call_expect(s, &req, OS_MSG_SIGNATURES, outcome, 0)) != OS_OK) goto out;
        const os_msg_signatures *sg = &s->reply.u.signatures;
        if (sg->start != i || sg->count == 0 || i + sg->count > tx->n_inputs) {
            rc = OS_ERR_MSG_MALFORMED;
            outcome->status = rc;
            goto out;
        }
        size_t off = 0, k;
        for (k = 0; k < sg->count; k++) {
            uint8_t sig_len = sg->records[off++];
            if (sig_len > OS_MAX_DER_SIG || off + sig_len + 33u > sg->records_len) {
                rc = OS_ERR_MSG_MALFORMED;
                outcome->status = rc;
                goto out;
            }
            memcpy(sigs[i + k].sig, sg->records + off, sig_len);
            sigs[i + k].sig_len = sig_len;
            off += sig_len;
            memcpy(sigs[i + k].pubkey, sg->records + off, 33);
            off += 33;
        }
        i += sg->count;
    }
    rc = OS_OK;
    goto out;

fail_local:
    outcome->status = rc;
    outcome->index = (uint16_t)i;
    /* The signer keeps its session open until the next SIGN_BEGIN or CANCEL; close it now. */
    msg_init(&req, OS_MSG_CANCEL);
    (void)os_client_call(c, &req, &s->reply, s->reply_buf, SIGN_TIMEOUT_MS);
out:
    if (rc != OS_OK && (n_inserted > 0 || moved.active)) rollback(tree, inserted, n_inserted, &moved);
    outcome->status = rc;
    free(s);
    free(inserted);
    free(siblings);
    return rc;
}

/* ------------------------------------------------------------------ serialization */

static int input_is_segwit(const os_sign_input *in) { return in->script_type != OS_SCRIPT_P2PKH; }

typedef struct { uint8_t *out; size_t cap, len; int overflow; } writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->len + n > w->cap) { w->overflow = 1; return; }
    memcpy(w->out + w->len, p, n);
    w->len += n;
}
static void put_u32(writer *w, uint32_t v) { uint8_t b[4]; os_write_le32(b, v); put(w, b, 4); }
static void put_u64(writer *w, uint64_t v) { uint8_t b[8]; os_write_le64(b, v); put(w, b, 8); }
static void put_varint(writer *w, uint64_t v) { uint8_t b[9]; put(w, b, tx_write_varint(b, v)); }

static int serialize(const os_sign_tx *tx, const os_input_sig *sigs, int with_witness, writer *w) {
    size_t i;
    int any_segwit = 0;
    for (i = 0; i < tx->n_inputs; i++) any_segwit |= input_is_segwit(&tx->inputs[i]);
    with_witness = with_witness && any_segwit;
    put_u32(w, tx->version);
    if (with_witness) { uint8_t mf[2] = { 0, 1 }; put(w, mf, 2); }
    put_varint(w, tx->n_inputs);
    for (i = 0; i < tx->n_inputs; i++) {
        const os_sign_input *in = &tx->inputs[i];
        put(w, in->prevout.txid, 32);
        put_u32(w, in->prevout.vout);
        if (!sigs) {
            put_varint(w, 0);   /* unsigned: what operators see and the transaction digest covers */
        } else if (in->script_type == OS_SCRIPT_P2PKH) {
            uint8_t push_sig = sigs[i].sig_len, push_key = 33;
            put_varint(w, 1u + sigs[i].sig_len + 1u + 33u);
            put(w, &push_sig, 1);
            put(w, sigs[i].sig, sigs[i].sig_len);
            put(w, &push_key, 1);
            put(w, sigs[i].pubkey, 33);
        } else if (in->script_type == OS_SCRIPT_P2SH_P2WPKH) {
            uint8_t redeem[23];
            CHECK_OK(script_sig_redeem_p2sh_p2wpkh(sigs[i].pubkey, redeem));
            put_varint(w, sizeof redeem);
            put(w, redeem, sizeof redeem);
        } else {
            put_varint(w, 0);
        }
        put_u32(w, in->sequence);
    }
    put_varint(w, tx->n_outputs);
    for (i = 0; i < tx->n_outputs; i++) {
        put_u64(w, tx->outputs[i].amount);
        put_varint(w, tx->outputs[i].script_len);
        put(w, tx->outputs[i].script, tx->outputs[i].script_len);
    }
    if (with_witness) {
        for (i = 0; i < tx->n_inputs; i++) {
            if (!input_is_segwit(&tx->inputs[i])) { put_varint(w, 0); continue; }
            put_varint(w, 2);
            put_varint(w, sigs[i].sig_len);
            put(w, sigs[i].sig, sigs[i].sig_len);
            put_varint(w, 33);
            put(w, sigs[i].pubkey, 33);
        }
    }
    put_u32(w, tx->locktime);
    return w->overflow ? OS_ERR_BUFFER : OS_OK;
}

int os_sign_serialize(const os_sign_tx *tx, const os_input_sig *sigs, uint8_t *out, size_t cap, size_t *len,
                      uint8_t txid[32]) {
    ARG_CHECK(tx != NULL && sigs != NULL && out != NULL && len != NULL);
    writer w = { out, cap, 0, 0 };
    CHECK_OK(serialize(tx, sigs, 1, &w));
    *len = w.len;
    if (txid) {
        uint8_t *legacy = malloc(cap);
        if (legacy == NULL) return OS_ERR_IO;
        writer lw = { legacy, cap, 0, 0 };
        int rc = serialize(tx, sigs, 0, &lw);
        if (rc == OS_OK) crypto_sha256d(legacy, lw.len, txid);
        free(legacy);
        CHECK_OK(rc);
    }
    return OS_OK;
}

int os_sign_serialize_unsigned(const os_sign_tx *tx, uint8_t *out, size_t cap, size_t *len) {
    ARG_CHECK(tx != NULL && out != NULL && len != NULL);
    writer w = { out, cap, 0, 0 };
    CHECK_OK(serialize(tx, NULL, 0, &w));
    *len = w.len;
    return OS_OK;
}

int os_sign_verify(const os_sign_tx *tx, const os_input_sig *sigs, size_t *bad_input) {
    ARG_CHECK(tx != NULL && sigs != NULL && bad_input != NULL);
    tx_sighasher *h = malloc(sizeof *h);
    tx_prev_parser *p = malloc(sizeof *p);
    uint64_t *amounts = calloc(tx->n_inputs, sizeof *amounts);
    int rc = OS_OK;
    size_t i;
    *bad_input = 0;
    if (h == NULL || p == NULL || amounts == NULL) { rc = OS_ERR_IO; goto done; }
    rc = tx_sighasher_begin(h, tx->version, tx->locktime, (uint16_t)tx->n_inputs, (uint16_t)tx->n_outputs);
    for (i = 0; rc == OS_OK && i < tx->n_inputs; i++) {
        const os_sign_input *in = &tx->inputs[i];
        uint8_t script_code[25], txid[32], script[TX_SCRIPT_CAPTURE_MAX], expected[25];
        size_t script_len = 0, expected_len = 0;
        *bad_input = i;
        rc = script_code_for_pubkey(sigs[i].pubkey, script_code);
        if (rc == OS_OK) rc = tx_sighasher_add_input(h, (uint16_t)i, &in->prevout, in->sequence, script_code, sizeof script_code);
        if (rc == OS_OK) rc = tx_prev_init(p, (uint32_t)in->prev_tx_len, in->prevout.vout);
        if (rc == OS_OK) rc = tx_prev_feed(p, in->prev_tx, in->prev_tx_len);
        if (rc == OS_OK) rc = tx_prev_finish(p, txid, &amounts[i], script, &script_len);
        if (rc == OS_OK && memcmp(txid, in->prevout.txid, 32) != 0) rc = OS_ERR_TX_PREV_TXID;
        /* The signature's key must be the one the spent output pays. */
        if (rc == OS_OK) rc = script_for_pubkey(in->script_type, sigs[i].pubkey, expected, sizeof expected, &expected_len);
        if (rc == OS_OK && (expected_len != script_len || memcmp(expected, script, script_len) != 0)) rc = OS_ERR_TX_NOT_OURS;
    }
    for (i = 0; rc == OS_OK && i < tx->n_outputs; i++)
        rc = tx_sighasher_add_output(h, tx->outputs[i].amount, tx->outputs[i].script, tx->outputs[i].script_len);
    for (i = 0; rc == OS_OK && i < tx->n_inputs; i++) {
        const os_sign_input *in = &tx->inputs[i];
        uint8_t sighash[32], script_code[25];
        *bad_input = i;
        if (sigs[i].sig_len < 2 || sigs[i].sig[sigs[i].sig_len - 1] != SIGHASH_ALL) { rc = OS_ERR_CRYPTO; break; }
        rc = script_code_for_pubkey(sigs[i].pubkey, script_code);
        if (rc != OS_OK) break;
        if (in->script_type == OS_SCRIPT_P2PKH)
            rc = tx_sighasher_legacy(h, (uint16_t)i, SIGHASH_ALL, sighash);
        else
            rc = tx_sighasher_bip143(h, &in->prevout, script_code, sizeof script_code, amounts[i], in->sequence,
                                     SIGHASH_ALL, sighash);
        if (rc == OS_OK) rc = crypto_ecdsa_verify(sigs[i].pubkey, sighash, sigs[i].sig, sigs[i].sig_len - 1u);
    }
done:
    free(h);
    free(p);
    free(amounts);
    return rc;
}
