/* Unit tests for proto/codec.c and proto/status.c: layouts and sizes from proto/PROTOCOL.md,
 * encode/decode round trips with edge values for every message type, every malformed case the
 * decoder must refuse, and a name and sentence for every status code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bytes.h"
#include "codec.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

static const uint8_t ALL_TYPES[] = {
    OS_MSG_GET_INFO, OS_MSG_INIT_DEVICE, OS_MSG_GET_XPUB, OS_MSG_GET_ADDRESS, OS_MSG_WIPE,
    OS_MSG_POLL, OS_MSG_CANCEL, OS_MSG_SET_POLICY, OS_MSG_LOG_READ, OS_MSG_LOG_ACK,
    OS_MSG_NONCE_RESET, OS_MSG_SIGN_BEGIN, OS_MSG_SIGN_INPUT, OS_MSG_SIGN_PREVTX, OS_MSG_SIGN_OUTPUT,
    OS_MSG_SIGN_FINISH, OS_MSG_SIGN_GET_SIGS, OS_MSG_SUCCESS, OS_MSG_ERROR, OS_MSG_PENDING,
    OS_MSG_INFO, OS_MSG_XPUB, OS_MSG_ADDRESS, OS_MSG_LOG_ENTRY, OS_MSG_SIGN_DONE, OS_MSG_SIGNATURES,
    OS_MSG_SET_ISSUERS, OS_MSG_SIGN_VOUCHER, OS_MSG_SET_OPERATORS, OS_MSG_SIGN_APPROVAL,
};
#define N_TYPES (sizeof ALL_TYPES / sizeof ALL_TYPES[0])
#define N_VARIANTS 3

static uint8_t g_mnemonic[OS_MAX_MNEMONIC];
static uint8_t g_prevtx[OS_MAX_PREVTX_CHUNK];
static uint8_t g_script[OS_MAX_PAYOUT_SCRIPT];
static uint8_t g_siblings[NONCE_PROOF_MAX_SIBLINGS * 32];
static const uint8_t g_issuer_keys[OS_MAX_ISSUERS * 32] = { 0x01, [32] = 0x02 };   /* increasing */
static const uint8_t g_operator_keys[OS_MAX_OPERATORS * 32] = { 0x01, [32] = 0x02, [64] = 0x03 };   /* increasing */
static uint8_t g_detail[OS_ERROR_DETAIL_MAX];
static uint8_t g_entry[OS_LOG_ENTRY_BYTES];
static uint8_t g_records[OS_SIGS_PER_MESSAGE * (1 + OS_MAX_DER_SIG + 33)];

static void fill(uint8_t *p, size_t n, uint8_t seed) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
}

static void fill_policy(os_policy *p, int max) {
    p->per_payout_cap = max ? UINT64_MAX : 0;
    p->velocity_cap = max ? UINT64_MAX : 0;
    p->velocity_window_s = max ? UINT32_MAX : 0;
    p->fee_cap = max ? UINT64_MAX : 0;
    p->fee_rate_cap = max ? UINT64_MAX : 0;
    p->fee_budget = max ? UINT64_MAX : 0;
}

/* count signature records with lengths alternating between the two extremes 9 and 73. */
static uint16_t build_records(uint16_t count) {
    size_t pos = 0;
    uint16_t k;
    for (k = 0; k < count; k++) {
        uint8_t len = (k % 2) ? 9 : OS_MAX_DER_SIG;
        g_records[pos++] = len;
        fill(g_records + pos, (size_t)len + 33, (uint8_t)k);
        pos += (size_t)len + 33;
    }
    return (uint16_t)pos;
}

/* Bitmap with bits 0..n-1 set (siblings on the first n levels). */
static void proof_bits(os_nonce_proof *p, unsigned n) {
    unsigned i;
    memset(p->bitmap, 0, sizeof p->bitmap);
    for (i = 0; i < n; i++) p->bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
    p->n_siblings = (uint8_t)n;
    p->siblings = n ? g_siblings : NULL;
}

/* A valid message of every type: variant 0 takes the smallest values, 1 the largest, 2 others. */
static void sample(os_msg *m, uint8_t type, int variant) {
    int max = variant == 1;
    memset(m, 0, sizeof *m);
    m->version = OS_PROTOCOL_VERSION;
    m->type = type;
    m->request_id = variant == 0 ? 0 : variant == 1 ? UINT32_MAX : 0x01020304u;
    switch (type) {
    case OS_MSG_INIT_DEVICE: {
        os_msg_init_device *b = &m->u.init_device;
        b->network = (uint8_t)variant;
        b->script_type = (uint8_t)variant;
        b->word_count = variant == 0 ? 12 : variant == 1 ? 24 : 0;
        b->restore = variant != 0;
        fill_policy(&b->policy, max);
        b->mnemonic_len = variant == 0 ? 0 : variant == 1 ? OS_MAX_MNEMONIC : 1;
        b->mnemonic = variant == 0 ? NULL : g_mnemonic;
        break;
    }
    case OS_MSG_GET_XPUB:
        m->u.get_xpub.script_type = (uint8_t)variant;
        m->u.get_xpub.account = max ? UINT32_MAX : 0;
        break;
    case OS_MSG_GET_ADDRESS:
        m->u.get_address.script_type = (uint8_t)variant;
        m->u.get_address.account = max ? UINT32_MAX : 0;
        m->u.get_address.change = variant != 0;
        m->u.get_address.index = max ? UINT32_MAX : 5;
        m->u.get_address.show = max;
        break;
    case OS_MSG_SET_POLICY:
        fill_policy(&m->u.set_policy, max);
        break;
    case OS_MSG_LOG_READ: case OS_MSG_LOG_ACK:
        m->u.log_read.seq = max ? UINT64_MAX : (uint64_t)variant;
        break;
    case OS_MSG_NONCE_RESET:
        memset(m->u.nonce_reset.fingerprint, 0xA0 + variant, 4);
        m->u.nonce_reset.device_log_seq = max ? UINT64_MAX : (uint64_t)variant + 7;
        memset(m->u.nonce_reset.device_log_head, 0x11 * (variant + 1), 32);
        memset(m->u.nonce_reset.prev_attestation_key, 0x22 + variant, 32);
        m->u.nonce_reset.prev_log_seq = max ? UINT64_MAX : (uint64_t)variant + 3;
        memset(m->u.nonce_reset.prev_log_head, 0x33 + variant, 32);
        break;
    case OS_MSG_SIGN_BEGIN:
        m->u.sign_begin.version = max ? UINT32_MAX : 2;
        m->u.sign_begin.locktime = max ? UINT32_MAX : 0;
        m->u.sign_begin.n_inputs = max ? OS_MAX_INPUTS : 1;
        m->u.sign_begin.n_outputs = max ? OS_MAX_OUTPUTS : 1;
        m->u.sign_begin.n_anchored = max ? OS_MAX_OUTPUTS : 1;
        break;
    case OS_MSG_SIGN_INPUT: {
        os_msg_sign_input *b = &m->u.sign_input;
        b->index = max ? UINT16_MAX : 0;
        fill(b->prevout.txid, 32, 0x11);
        b->prevout.vout = max ? UINT32_MAX : 0;
        b->sequence = max ? UINT32_MAX : 0xfffffffdu;
        b->script_type = (uint8_t)variant;
        b->account = max ? UINT32_MAX : 0;
        b->change = variant != 0;
        b->addr_index = max ? UINT32_MAX : 0;
        b->prev_tx_len = max ? OS_MAX_PREVTX_BYTES : 1;
        if (max) {  /* the anchor of committed payouts: membership proof, deepest accepted */
            b->anchor_proof.depth = NONCE_PROOF_MAX_DEPTH;
            b->anchor_proof.terminal_is_leaf = 1;
            proof_bits(&b->anchor_proof, NONCE_PROOF_MAX_SIBLINGS);
            fill(b->anchor_proof.leaf_key, 32, 0x66);
            fill(b->anchor_proof.leaf_value, 32, 0x77);
        }           /* else an ordinary coin in an empty tree */
        break;
    }
    case OS_MSG_SIGN_PREVTX:
        m->u.sign_prevtx.input_index = max ? UINT16_MAX : 0;
        m->u.sign_prevtx.offset = max ? UINT32_MAX : 0;
        m->u.sign_prevtx.len = max ? OS_MAX_PREVTX_CHUNK : 1;
        m->u.sign_prevtx.data = g_prevtx;
        break;
    case OS_MSG_SIGN_OUTPUT: {
        os_msg_sign_output *b = &m->u.sign_output;
        b->index = max ? UINT16_MAX : 0;
        b->amount = max ? UINT64_MAX : 0;
        if (variant == 0) {
            b->kind = OS_OUTPUT_CHANGE;
            b->change_script_type = OS_SCRIPT_P2WPKH;
            b->change_index = 7;
            break;
        }
        b->kind = OS_OUTPUT_PAYOUT;
        b->script_len = max ? OS_MAX_PAYOUT_SCRIPT : 1;
        b->script = g_script;
        fill(b->nonce, 32, 0x22);
        if (max) {  /* replacement: membership proof ending at a leaf, deepest accepted */
            b->proof_kind = OS_PROOF_REPLACE;
            b->proof.depth = NONCE_PROOF_MAX_DEPTH;
            b->proof.terminal_is_leaf = 1;
            proof_bits(&b->proof, NONCE_PROOF_MAX_SIBLINGS);
            fill(b->proof.leaf_key, 32, 0x33);
            fill(b->proof.leaf_value, 32, 0x44);
            fill(b->anchor.txid, 32, 0x55);
            b->anchor.vout = UINT32_MAX;
        } else {    /* new nonce in an empty tree */
            b->proof_kind = OS_PROOF_NEW;
        }
        break;
    }
    case OS_MSG_SIGN_GET_SIGS:
        m->u.sign_get_sigs.start = max ? UINT16_MAX : 0;
        break;
    case OS_MSG_SET_ISSUERS:
        m->u.set_issuers.flags = variant == 0 ? 0 : OS_VOUCHERS_REQUIRED;
        m->u.set_issuers.n_issuers = variant == 0 ? 0 : max ? OS_MAX_ISSUERS : 1;
        m->u.set_issuers.keys = variant == 0 ? NULL : g_issuer_keys;
        break;
    case OS_MSG_SET_OPERATORS:
        m->u.set_operators.n_operators = variant == 0 ? 0 : max ? OS_MAX_OPERATORS : 1;
        m->u.set_operators.k = variant == 0 ? 0 : max ? OS_MAX_OPERATORS : 1;
        m->u.set_operators.threshold = variant == 0 ? 0 : max ? UINT64_MAX : 5;
        m->u.set_operators.keys = variant == 0 ? NULL : g_operator_keys;
        break;
    case OS_MSG_SIGN_APPROVAL: {
        os_approval *a = &m->u.sign_approval.approval;
        memset(a->operator_key, 0xA0 + variant, 32);
        a->expiry_seq = max ? UINT64_MAX : 1;
        memset(a->sig, 0xD0 + variant, 64);
        break;
    }
    case OS_MSG_SIGN_VOUCHER: {
        os_voucher *v = &m->u.sign_voucher.voucher;
        m->u.sign_voucher.index = max ? UINT16_MAX : (uint16_t)variant;
        v->network = (uint8_t)variant;
        v->amount = max ? 10512000000000000ull : 1;
        v->expiry_seq = max ? UINT64_MAX : 1;
        memset(v->nonce, 0xA0 + variant, 32);
        memset(v->signer, 0xB0 + variant, 32);
        memset(v->issuer, 0xC0 + variant, 32);
        memset(v->sig, 0xD0 + variant, 64);
        if (variant != 0) {
            v->flags = OS_VOUCHER_DESTINATION;
            v->script_len = max ? OS_MAX_PAYOUT_SCRIPT : 22;
            memset(v->script, 0xE0, v->script_len);
        }
        break;
    }
    case OS_MSG_ERROR:
        m->u.error.code = variant == 0 ? OS_ERR_ARG : variant == 1 ? UINT16_MAX : OS_ERR_NONCE_COMMITTED;
        m->u.error.index = variant == 0 ? 0xFFFF : (uint16_t)variant;
        m->u.error.detail_len = variant == 0 ? 0 : variant == 1 ? OS_ERROR_DETAIL_MAX : 68;
        m->u.error.detail = variant == 0 ? NULL : g_detail;
        break;
    case OS_MSG_PENDING:
        m->u.pending.reason = OS_PENDING_OPERATOR;
        m->u.pending.poll_after_ms = max ? UINT32_MAX : 0;
        break;
    case OS_MSG_INFO: {
        os_msg_info *b = &m->u.info;
        b->protocol_version = OS_PROTOCOL_VERSION;
        if (max) memcpy(b->firmware_version, "0123456789abcdef", 16);
        else if (variant == 2) memcpy(b->firmware_version, "0.1.0", 5);
        b->initialized = variant != 0;
        b->network = (uint8_t)variant;
        b->script_type = (uint8_t)variant;
        b->test_only_rng = max;
        fill(b->nonce_root, 32, 1);
        b->log_seq = max ? UINT64_MAX : 0;
        fill(b->log_head, 32, 2);
        b->log_acked_seq = max ? UINT64_MAX : 0;
        b->log_capacity = max ? UINT32_MAX : 0;
        fill(b->attestation_pubkey, 32, 3);
        fill_policy(&b->policy, max);
        b->state_seq = max ? UINT64_MAX : 0;
        break;
    }
    case OS_MSG_XPUB:
        fill(m->u.xpub.data, OS_XPUB_BYTES, (uint8_t)variant);
        break;
    case OS_MSG_ADDRESS: {
        size_t n = variant == 0 ? 1 : variant == 1 ? OS_MAX_ADDRESS : 34, i;
        m->u.address.len = (uint8_t)n;
        for (i = 0; i < n; i++) m->u.address.text[i] = (char)(0x21 + (i * 13) % 94);
        break;
    }
    case OS_MSG_LOG_ENTRY:
        m->u.log_entry.len = OS_LOG_ENTRY_BYTES;
        m->u.log_entry.entry = g_entry;
        break;
    case OS_MSG_SIGN_DONE:
        m->u.sign_done.n_signatures = max ? OS_MAX_INPUTS : 1;
        m->u.sign_done.log_seq = max ? UINT64_MAX : 1;
        fill(m->u.sign_done.nonce_root, 32, 9);
        break;
    case OS_MSG_SIGNATURES: {
        uint16_t count = variant == 0 ? 0 : variant == 1 ? OS_SIGS_PER_MESSAGE : 2;
        m->u.signatures.start = max ? UINT16_MAX : 0;
        m->u.signatures.count = count;
        m->u.signatures.records_len = build_records(count);
        m->u.signatures.records = count ? g_records : NULL;
        break;
    }
    default:
        break;
    }
}

static size_t encode_ok(const os_msg *m, uint8_t *buf, size_t cap) {
    size_t len = 0;
    assert_int_equal(os_msg_encode(m, buf, cap, &len), OS_OK);
    assert_true(len >= OS_MSG_HEADER && len <= OS_MAX_MESSAGE);
    return len;
}

static void assert_policy_equal(const os_policy *a, const os_policy *b) {
    assert_true(a->per_payout_cap == b->per_payout_cap);
    assert_true(a->velocity_cap == b->velocity_cap);
    assert_int_equal(a->velocity_window_s, b->velocity_window_s);
    assert_true(a->fee_cap == b->fee_cap);
    assert_true(a->fee_rate_cap == b->fee_rate_cap);
    assert_true(a->fee_budget == b->fee_budget);
}

static void assert_view_equal(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n == 0) return;
    assert_non_null(a);
    assert_non_null(b);
    assert_memory_equal(a, b, n);
}

static void assert_proof_equal(const os_nonce_proof *x, const os_nonce_proof *y) {
    assert_int_equal(x->depth, y->depth);
    assert_int_equal(x->terminal_is_leaf, y->terminal_is_leaf);
    assert_memory_equal(x->bitmap, y->bitmap, 32);
    assert_int_equal(x->n_siblings, y->n_siblings);
    assert_view_equal(x->siblings, y->siblings, (size_t)x->n_siblings * 32);
    if (x->terminal_is_leaf) {
        assert_memory_equal(x->leaf_key, y->leaf_key, 32);
        assert_memory_equal(x->leaf_value, y->leaf_value, 32);
    }
}

/* Field-by-field comparison of an original message with its decoded copy. */
static void assert_msg_equal(const os_msg *a, const os_msg *b) {
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->request_id, b->request_id);
    switch (a->type) {
    case OS_MSG_INIT_DEVICE: {
        const os_msg_init_device *x = &a->u.init_device, *y = &b->u.init_device;
        assert_int_equal(x->network, y->network);
        assert_int_equal(x->script_type, y->script_type);
        assert_int_equal(x->word_count, y->word_count);
        assert_int_equal(x->restore, y->restore);
        assert_policy_equal(&x->policy, &y->policy);
        assert_int_equal(x->mnemonic_len, y->mnemonic_len);
        assert_view_equal(x->mnemonic, y->mnemonic, x->mnemonic_len);
        break;
    }
    case OS_MSG_GET_XPUB:
        assert_int_equal(a->u.get_xpub.script_type, b->u.get_xpub.script_type);
        assert_int_equal(a->u.get_xpub.account, b->u.get_xpub.account);
        break;
    case OS_MSG_GET_ADDRESS:
        assert_int_equal(a->u.get_address.script_type, b->u.get_address.script_type);
        assert_int_equal(a->u.get_address.account, b->u.get_address.account);
        assert_int_equal(a->u.get_address.change, b->u.get_address.change);
        assert_int_equal(a->u.get_address.index, b->u.get_address.index);
        assert_int_equal(a->u.get_address.show, b->u.get_address.show);
        break;
    case OS_MSG_SET_POLICY:
        assert_policy_equal(&a->u.set_policy, &b->u.set_policy);
        break;
    case OS_MSG_LOG_READ: case OS_MSG_LOG_ACK:
        assert_true(a->u.log_read.seq == b->u.log_read.seq);
        break;
    case OS_MSG_NONCE_RESET:
        assert_memory_equal(&a->u.nonce_reset.fingerprint, &b->u.nonce_reset.fingerprint, 4);
        assert_true(a->u.nonce_reset.device_log_seq == b->u.nonce_reset.device_log_seq);
        assert_memory_equal(a->u.nonce_reset.device_log_head, b->u.nonce_reset.device_log_head, 32);
        assert_memory_equal(a->u.nonce_reset.prev_attestation_key, b->u.nonce_reset.prev_attestation_key, 32);
        assert_true(a->u.nonce_reset.prev_log_seq == b->u.nonce_reset.prev_log_seq);
        assert_memory_equal(a->u.nonce_reset.prev_log_head, b->u.nonce_reset.prev_log_head, 32);
        break;
    case OS_MSG_SIGN_BEGIN:
        assert_int_equal(a->u.sign_begin.version, b->u.sign_begin.version);
        assert_int_equal(a->u.sign_begin.locktime, b->u.sign_begin.locktime);
        assert_int_equal(a->u.sign_begin.n_inputs, b->u.sign_begin.n_inputs);
        assert_int_equal(a->u.sign_begin.n_outputs, b->u.sign_begin.n_outputs);
        assert_int_equal(a->u.sign_begin.n_anchored, b->u.sign_begin.n_anchored);
        break;
    case OS_MSG_SIGN_INPUT: {
        const os_msg_sign_input *x = &a->u.sign_input, *y = &b->u.sign_input;
        assert_int_equal(x->index, y->index);
        assert_memory_equal(x->prevout.txid, y->prevout.txid, 32);
        assert_int_equal(x->prevout.vout, y->prevout.vout);
        assert_int_equal(x->sequence, y->sequence);
        assert_int_equal(x->script_type, y->script_type);
        assert_int_equal(x->account, y->account);
        assert_int_equal(x->change, y->change);
        assert_int_equal(x->addr_index, y->addr_index);
        assert_int_equal(x->prev_tx_len, y->prev_tx_len);
        assert_proof_equal(&x->anchor_proof, &y->anchor_proof);
        break;
    }
    case OS_MSG_SIGN_PREVTX:
        assert_int_equal(a->u.sign_prevtx.input_index, b->u.sign_prevtx.input_index);
        assert_int_equal(a->u.sign_prevtx.offset, b->u.sign_prevtx.offset);
        assert_int_equal(a->u.sign_prevtx.len, b->u.sign_prevtx.len);
        assert_view_equal(a->u.sign_prevtx.data, b->u.sign_prevtx.data, a->u.sign_prevtx.len);
        break;
    case OS_MSG_SIGN_OUTPUT: {
        const os_msg_sign_output *x = &a->u.sign_output, *y = &b->u.sign_output;
        assert_int_equal(x->index, y->index);
        assert_int_equal(x->kind, y->kind);
        assert_true(x->amount == y->amount);
        if (x->kind == OS_OUTPUT_CHANGE) {
            assert_int_equal(x->change_script_type, y->change_script_type);
            assert_int_equal(x->change_account, y->change_account);
            assert_int_equal(x->change_index, y->change_index);
            break;
        }
        assert_int_equal(x->script_len, y->script_len);
        assert_view_equal(x->script, y->script, x->script_len);
        assert_memory_equal(x->nonce, y->nonce, 32);
        assert_int_equal(x->proof_kind, y->proof_kind);
        assert_proof_equal(&x->proof, &y->proof);
        if (x->proof_kind == OS_PROOF_REPLACE || x->proof_kind == OS_PROOF_REANCHOR) {
            assert_memory_equal(x->anchor.txid, y->anchor.txid, 32);
            assert_int_equal(x->anchor.vout, y->anchor.vout);
        }
        break;
    }
    case OS_MSG_SIGN_GET_SIGS:
        assert_int_equal(a->u.sign_get_sigs.start, b->u.sign_get_sigs.start);
        break;
    case OS_MSG_SET_ISSUERS:
        assert_int_equal(a->u.set_issuers.flags, b->u.set_issuers.flags);
        assert_int_equal(a->u.set_issuers.n_issuers, b->u.set_issuers.n_issuers);
        if (a->u.set_issuers.n_issuers > 0)
            assert_memory_equal(a->u.set_issuers.keys, b->u.set_issuers.keys, 32u * a->u.set_issuers.n_issuers);
        break;
    case OS_MSG_SET_OPERATORS:
        assert_int_equal(a->u.set_operators.k, b->u.set_operators.k);
        assert_int_equal(a->u.set_operators.n_operators, b->u.set_operators.n_operators);
        assert_true(a->u.set_operators.threshold == b->u.set_operators.threshold);
        if (a->u.set_operators.n_operators > 0)
            assert_memory_equal(a->u.set_operators.keys, b->u.set_operators.keys, 32u * a->u.set_operators.n_operators);
        break;
    case OS_MSG_SIGN_APPROVAL:
        assert_memory_equal(&a->u.sign_approval.approval, &b->u.sign_approval.approval, sizeof(os_approval));
        break;
    case OS_MSG_SIGN_VOUCHER:
        assert_int_equal(a->u.sign_voucher.index, b->u.sign_voucher.index);
        assert_memory_equal(&a->u.sign_voucher.voucher, &b->u.sign_voucher.voucher, sizeof(os_voucher));
        break;
    case OS_MSG_ERROR:
        assert_int_equal(a->u.error.code, b->u.error.code);
        assert_int_equal(a->u.error.index, b->u.error.index);
        assert_int_equal(a->u.error.detail_len, b->u.error.detail_len);
        assert_view_equal(a->u.error.detail, b->u.error.detail, a->u.error.detail_len);
        break;
    case OS_MSG_PENDING:
        assert_int_equal(a->u.pending.reason, b->u.pending.reason);
        assert_int_equal(a->u.pending.poll_after_ms, b->u.pending.poll_after_ms);
        break;
    case OS_MSG_INFO: {
        const os_msg_info *x = &a->u.info, *y = &b->u.info;
        assert_int_equal(x->protocol_version, y->protocol_version);
        assert_memory_equal(x->firmware_version, y->firmware_version, 16);
        assert_int_equal(x->initialized, y->initialized);
        assert_int_equal(x->network, y->network);
        assert_int_equal(x->script_type, y->script_type);
        assert_int_equal(x->test_only_rng, y->test_only_rng);
        assert_memory_equal(x->nonce_root, y->nonce_root, 32);
        assert_true(x->log_seq == y->log_seq);
        assert_memory_equal(x->log_head, y->log_head, 32);
        assert_true(x->log_acked_seq == y->log_acked_seq);
        assert_int_equal(x->log_capacity, y->log_capacity);
        assert_memory_equal(x->attestation_pubkey, y->attestation_pubkey, 32);
        assert_policy_equal(&x->policy, &y->policy);
        assert_true(x->state_seq == y->state_seq);
        break;
    }
    case OS_MSG_XPUB:
        assert_memory_equal(a->u.xpub.data, b->u.xpub.data, OS_XPUB_BYTES);
        break;
    case OS_MSG_ADDRESS:
        assert_int_equal(a->u.address.len, b->u.address.len);
        assert_memory_equal(a->u.address.text, b->u.address.text, a->u.address.len);
        assert_int_equal(b->u.address.text[b->u.address.len], '\0');
        break;
    case OS_MSG_LOG_ENTRY:
        assert_int_equal(a->u.log_entry.len, b->u.log_entry.len);
        assert_view_equal(a->u.log_entry.entry, b->u.log_entry.entry, a->u.log_entry.len);
        break;
    case OS_MSG_SIGN_DONE:
        assert_int_equal(a->u.sign_done.n_signatures, b->u.sign_done.n_signatures);
        assert_true(a->u.sign_done.log_seq == b->u.sign_done.log_seq);
        assert_memory_equal(a->u.sign_done.nonce_root, b->u.sign_done.nonce_root, 32);
        break;
    case OS_MSG_SIGNATURES:
        assert_int_equal(a->u.signatures.start, b->u.signatures.start);
        assert_int_equal(a->u.signatures.count, b->u.signatures.count);
        assert_int_equal(a->u.signatures.records_len, b->u.signatures.records_len);
        assert_view_equal(a->u.signatures.records, b->u.signatures.records, a->u.signatures.records_len);
        break;
    default:
        break;
    }
}

static void setup_buffers(void) {
    fill(g_mnemonic, sizeof g_mnemonic, 0x61);
    fill(g_prevtx, sizeof g_prevtx, 0x70);
    fill(g_script, sizeof g_script, 0x00);
    fill(g_siblings, sizeof g_siblings, 0x80);
    fill(g_detail, sizeof g_detail, 0x90);
    fill(g_entry, sizeof g_entry, 0xA0);
}

static void test_round_trip_every_type(void **state) {
    static uint8_t buf[OS_MAX_MESSAGE], again[OS_MAX_MESSAGE];
    size_t t;
    int v;
    (void)state;
    setup_buffers();
    for (t = 0; t < N_TYPES; t++) {
        for (v = 0; v < N_VARIANTS; v++) {
            os_msg m, d;
            size_t len, len2;
            sample(&m, ALL_TYPES[t], v);
            len = encode_ok(&m, buf, sizeof buf);
            assert_int_equal(buf[0], OS_PROTOCOL_VERSION);
            assert_int_equal(buf[1], ALL_TYPES[t]);
            assert_int_equal(os_read_le32(buf + 2), m.request_id);
            assert_int_equal(os_msg_decode(buf, len, &d), OS_OK);
            assert_msg_equal(&m, &d);
            len2 = encode_ok(&d, again, sizeof again);
            assert_int_equal(len, len2);
            assert_memory_equal(buf, again, len);
        }
    }
}

/* Wire sizes of the smallest variant of each type, from the layouts in PROTOCOL.md. */
static void test_wire_sizes(void **state) {
    static const struct { uint8_t type; size_t len; } sizes[] = {
        { OS_MSG_GET_INFO, 6 }, { OS_MSG_INIT_DEVICE, 6 + 4 + 44 + 2 }, { OS_MSG_GET_XPUB, 6 + 5 },
        { OS_MSG_GET_ADDRESS, 6 + 11 }, { OS_MSG_WIPE, 6 }, { OS_MSG_POLL, 6 }, { OS_MSG_CANCEL, 6 },
        { OS_MSG_SET_POLICY, 6 + 44 }, { OS_MSG_LOG_READ, 14 }, { OS_MSG_LOG_ACK, 14 },
        { OS_MSG_NONCE_RESET, 6 + OS_NONCE_RESET_BYTES },
        { OS_MSG_SIGN_BEGIN, 6 + 14 }, { OS_MSG_SIGN_INPUT, 6 + 56 + 34 }, { OS_MSG_SIGN_PREVTX, 6 + 8 + 1 },
        { OS_MSG_SIGN_OUTPUT, 6 + 2 + 1 + 8 + 9 }, { OS_MSG_SIGN_FINISH, 6 }, { OS_MSG_SIGN_GET_SIGS, 8 },
        { OS_MSG_SUCCESS, 6 }, { OS_MSG_ERROR, 6 + 5 }, { OS_MSG_PENDING, 6 + 5 },
        { OS_MSG_INFO, 6 + 1 + 16 + 4 + 32 + 8 + 32 + 8 + 4 + 32 + 44 + 8 }, { OS_MSG_XPUB, 6 + 78 },
        { OS_MSG_ADDRESS, 6 + 2 }, { OS_MSG_LOG_ENTRY, 6 + 2 + 256 }, { OS_MSG_SIGN_DONE, 6 + 42 },
        { OS_MSG_SIGNATURES, 6 + 4 }, { OS_MSG_SET_ISSUERS, 6 + 2 }, { OS_MSG_SIGN_VOUCHER, 6 + 2 + 214 },
        { OS_MSG_SET_OPERATORS, 6 + 10 }, { OS_MSG_SIGN_APPROVAL, 6 + 104 },
    };
    static uint8_t buf[OS_MAX_MESSAGE];
    size_t i;
    os_msg m;
    (void)state;
    setup_buffers();
    assert_int_equal(sizeof sizes / sizeof sizes[0], N_TYPES);
    for (i = 0; i < N_TYPES; i++) {
        sample(&m, sizes[i].type, 0);
        assert_int_equal(encode_ok(&m, buf, sizeof buf), sizes[i].len);
    }
    /* The largest SIGN_OUTPUT (34-byte script, 64 siblings, leaf, anchor) still fits a message. */
    sample(&m, OS_MSG_SIGN_OUTPUT, 1);
    assert_int_equal(encode_ok(&m, buf, sizeof buf),
                     6 + 2 + 1 + 8 + 1 + 34 + 32 + 1 + 34 + 64 * 32 + 64 + 36);
    /* ... and the largest SIGN_INPUT (the anchor's membership proof, 64 siblings). */
    sample(&m, OS_MSG_SIGN_INPUT, 1);
    assert_int_equal(encode_ok(&m, buf, sizeof buf), 6 + 56 + 34 + 64 * 32 + 64);
    sample(&m, OS_MSG_SIGNATURES, 1);
    assert_int_equal(encode_ok(&m, buf, sizeof buf), 6 + 4 + 12 * (1 + 73 + 33) + 12 * (1 + 9 + 33));
}

/* Byte-exact encodings: the header, a policy and a GET_ADDRESS. */
static void test_known_bytes(void **state) {
    static const uint8_t get_info[] = { 0x02, 0x01, 0x04, 0x03, 0x02, 0x01 };
    static const uint8_t get_address[] = {
        0x02, 0x04, 0x2a, 0x00, 0x00, 0x00,   /* v2, GET_ADDRESS, request 42 */
        0x02, 0x01, 0x00, 0x00, 0x80,         /* P2WPKH, account 0x80000001 */
        0x01, 0x10, 0x00, 0x00, 0x00, 0x01,   /* change, index 16, show */
    };
    static const uint8_t policy_bytes[OS_POLICY_BYTES] = {
        1, 0, 0, 0, 0, 0, 0, 0,   2, 0, 0, 0, 0, 0, 0, 0,   3, 0, 0, 0,
        4, 0, 0, 0, 0, 0, 0, 0,   0xe8, 0x03, 0, 0, 0, 0, 0, 0,
        0x40, 0x42, 0x0f, 0, 0, 0, 0, 0,   /* fee budget 1,000,000 */
    };
    uint8_t buf[64], pol[OS_POLICY_BYTES];
    os_msg m;
    os_policy p = { 1, 2, 3, 4, 1000, 1000000 }, q;
    size_t len;
    (void)state;
    memset(&m, 0, sizeof m);
    m.version = 2;
    m.type = OS_MSG_GET_INFO;
    m.request_id = 0x01020304u;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_OK);
    assert_int_equal(len, sizeof get_info);
    assert_memory_equal(buf, get_info, len);

    memset(&m, 0, sizeof m);
    m.version = 2;
    m.type = OS_MSG_GET_ADDRESS;
    m.request_id = 42;
    m.u.get_address.script_type = OS_SCRIPT_P2WPKH;
    m.u.get_address.account = 0x80000001u;
    m.u.get_address.change = 1;
    m.u.get_address.index = 16;
    m.u.get_address.show = 1;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_OK);
    assert_int_equal(len, sizeof get_address);
    assert_memory_equal(buf, get_address, len);

    assert_int_equal(os_policy_encode(&p, pol), OS_OK);
    assert_memory_equal(pol, policy_bytes, OS_POLICY_BYTES);
    assert_int_equal(os_policy_decode(policy_bytes, &q), OS_OK);
    assert_policy_equal(&p, &q);
    assert_int_equal(os_policy_encode(NULL, pol), OS_ERR_ARG);
    assert_int_equal(os_policy_decode(policy_bytes, NULL), OS_ERR_ARG);
}

/* Every strict prefix of every valid encoding, and every encoding plus one byte, is malformed. */
static void test_truncated_and_trailing(void **state) {
    static uint8_t buf[OS_MAX_MESSAGE + 1];
    size_t t, cut;
    int v;
    (void)state;
    setup_buffers();
    for (t = 0; t < N_TYPES; t++) {
        for (v = 0; v < N_VARIANTS; v++) {
            os_msg m, d;
            size_t len;
            sample(&m, ALL_TYPES[t], v);
            len = encode_ok(&m, buf, OS_MAX_MESSAGE);
            for (cut = 0; cut < len; cut++) {
                assert_int_equal(os_msg_decode(buf, cut, &d), OS_ERR_MSG_MALFORMED);
            }
            buf[len] = 0;
            assert_int_equal(os_msg_decode(buf, len + 1, &d), OS_ERR_MSG_MALFORMED);
        }
    }
}

static void test_version_and_type(void **state) {
    uint8_t buf[16] = { OS_PROTOCOL_VERSION, 0x00, 1, 2, 3, 4 };
    os_msg d;
    unsigned type, v;
    size_t t;
    (void)state;
    for (type = 0; type < 256; type++) {
        int known = 0;
        for (t = 0; t < N_TYPES; t++) known |= ALL_TYPES[t] == type;
        if (known) continue;
        buf[1] = (uint8_t)type;
        assert_int_equal(os_msg_decode(buf, 6, &d), OS_ERR_MSG_TYPE);
        assert_int_equal(os_msg_decode(buf, 2, &d), OS_ERR_MSG_TYPE);
    }
    buf[1] = OS_MSG_GET_INFO;
    for (v = 0; v < 256; v++) {
        if (v == OS_PROTOCOL_VERSION) continue;
        buf[0] = (uint8_t)v;
        assert_int_equal(os_msg_decode(buf, 6, &d), OS_ERR_MSG_VERSION);
        assert_int_equal(os_msg_decode(buf, 1, &d), OS_ERR_MSG_VERSION);
    }
    assert_int_equal(os_msg_decode(buf, 0, &d), OS_ERR_MSG_MALFORMED);
    assert_int_equal(os_msg_decode(NULL, 0, &d), OS_ERR_MSG_MALFORMED);
    assert_int_equal(os_msg_decode(NULL, 6, &d), OS_ERR_ARG);
    assert_int_equal(os_msg_decode(buf, 6, NULL), OS_ERR_ARG);
}

/* One-byte corruptions of valid encodings that must be refused: (type, variant, offset, value). */
static void test_out_of_range_fields(void **state) {
    static const struct { uint8_t type; int variant; size_t off; uint8_t value; int expect; } cases[] = {
        { OS_MSG_INIT_DEVICE, 0, 6, 3, OS_ERR_MSG_MALFORMED },      /* network */
        { OS_MSG_INIT_DEVICE, 0, 7, 3, OS_ERR_MSG_MALFORMED },      /* script_type */
        { OS_MSG_INIT_DEVICE, 0, 8, 0, OS_ERR_MSG_MALFORMED },      /* word_count 0 without restore */
        { OS_MSG_INIT_DEVICE, 0, 8, 13, OS_ERR_MSG_MALFORMED },
        { OS_MSG_INIT_DEVICE, 1, 8, 18, OS_ERR_MSG_MALFORMED },     /* restoring: 0, 12, 24 only */
        { OS_MSG_INIT_DEVICE, 0, 9, 2, OS_ERR_MSG_MALFORMED },      /* restore */
        { OS_MSG_INIT_DEVICE, 1, 9, 0, OS_ERR_MSG_MALFORMED },      /* mnemonic without restore */
        { OS_MSG_GET_XPUB, 0, 6, 3, OS_ERR_MSG_MALFORMED },
        { OS_MSG_GET_ADDRESS, 0, 6, 3, OS_ERR_MSG_MALFORMED },
        { OS_MSG_GET_ADDRESS, 0, 11, 2, OS_ERR_MSG_MALFORMED },     /* change */
        { OS_MSG_GET_ADDRESS, 0, 16, 2, OS_ERR_MSG_MALFORMED },     /* show */
        { OS_MSG_SIGN_BEGIN, 0, 14, 0, OS_ERR_MSG_MALFORMED },      /* n_inputs 0 */
        { OS_MSG_SIGN_BEGIN, 0, 14, OS_MAX_INPUTS + 1, OS_ERR_MSG_MALFORMED },
        { OS_MSG_SIGN_BEGIN, 0, 16, 0, OS_ERR_MSG_MALFORMED },      /* n_outputs 0 */
        { OS_MSG_SIGN_BEGIN, 1, 17, 0x01 + 1, OS_ERR_MSG_MALFORMED }, /* n_outputs 512 */
        { OS_MSG_SIGN_BEGIN, 0, 18, 2, OS_ERR_MSG_MALFORMED },      /* n_anchored above n_outputs */
        { OS_MSG_SIGN_INPUT, 0, 48, 3, OS_ERR_MSG_MALFORMED },      /* script_type */
        { OS_MSG_SIGN_INPUT, 0, 53, 2, OS_ERR_MSG_MALFORMED },      /* change */
        { OS_MSG_SIGN_INPUT, 0, 58, 0, OS_ERR_MSG_MALFORMED },      /* prev_tx_len 0 */
        { OS_MSG_SIGN_INPUT, 1, 58, 0x81, OS_ERR_MSG_MALFORMED },   /* prev_tx_len 400001 */
        { OS_MSG_SIGN_INPUT, 0, 63, 2, OS_ERR_MSG_MALFORMED },      /* anchor proof: terminal_is_leaf */
        { OS_MSG_SIGN_INPUT, 0, 64, 0x01, OS_ERR_MSG_MALFORMED },   /* anchor proof: bit 0 at depth 0 */
        { OS_MSG_SIGN_OUTPUT, 0, 8, 2, OS_ERR_MSG_MALFORMED },      /* kind */
        { OS_MSG_SIGN_OUTPUT, 0, 17, 3, OS_ERR_MSG_MALFORMED },     /* change script_type */
        { OS_MSG_SIGN_OUTPUT, 2, 51, 3, OS_ERR_MSG_MALFORMED },     /* proof_kind (2 is REANCHOR) */
        { OS_MSG_SIGN_OUTPUT, 2, 53, 2, OS_ERR_MSG_MALFORMED },     /* terminal_is_leaf */
        { OS_MSG_SIGN_OUTPUT, 2, 54, 0x01, OS_ERR_MSG_MALFORMED },  /* bitmap bit 0 at depth 0 */
        { OS_MSG_SIGN_OUTPUT, 1, 118, 0x80, OS_ERR_MSG_MALFORMED },  /* bitmap bit 255 at depth 255 */
        { OS_MSG_SIGN_OUTPUT, 1, 95, 0x01, OS_ERR_PROOF_TOO_LARGE },/* 65th sibling */
        { OS_MSG_ERROR, 0, 6, 0, OS_ERR_MSG_MALFORMED },            /* code 0 (OS_OK) */
        { OS_MSG_ERROR, 2, 10, 67, OS_ERR_MSG_MALFORMED },          /* NONCE_COMMITTED detail 67 */
        { OS_MSG_PENDING, 0, 6, 0, OS_ERR_MSG_MALFORMED },
        { OS_MSG_PENDING, 0, 6, 2, OS_ERR_MSG_MALFORMED },
        { OS_MSG_INFO, 2, 7 + 6, 'x', OS_ERR_MSG_MALFORMED },      /* text after the NUL padding */
        { OS_MSG_INFO, 2, 23, 2, OS_ERR_MSG_MALFORMED },            /* initialized */
        { OS_MSG_INFO, 2, 24, 3, OS_ERR_MSG_MALFORMED },            /* network */
        { OS_MSG_INFO, 2, 25, 3, OS_ERR_MSG_MALFORMED },            /* script_type */
        { OS_MSG_INFO, 2, 26, 2, OS_ERR_MSG_MALFORMED },            /* test_only_rng */
        { OS_MSG_ADDRESS, 2, 6, 0, OS_ERR_MSG_MALFORMED },          /* len 0 */
        { OS_MSG_ADDRESS, 2, 10, ' ', OS_ERR_MSG_MALFORMED },
        { OS_MSG_ADDRESS, 2, 10, 0, OS_ERR_MSG_MALFORMED },
        { OS_MSG_ADDRESS, 2, 10, 0x7f, OS_ERR_MSG_MALFORMED },
        { OS_MSG_LOG_ENTRY, 0, 6, 0xff, OS_ERR_MSG_MALFORMED },     /* len 511 */
        { OS_MSG_SIGN_DONE, 0, 6, 0, OS_ERR_MSG_MALFORMED },        /* n_signatures 0 */
        { OS_MSG_SIGN_DONE, 0, 6, OS_MAX_INPUTS + 1, OS_ERR_MSG_MALFORMED },
        { OS_MSG_SIGNATURES, 1, 8, OS_SIGS_PER_MESSAGE + 1, OS_ERR_MSG_MALFORMED },
        { OS_MSG_SIGNATURES, 2, 10, 8, OS_ERR_MSG_MALFORMED },      /* sig_len 8 */
        { OS_MSG_SIGNATURES, 2, 10, 74, OS_ERR_MSG_MALFORMED },     /* sig_len 74 */
        { OS_MSG_SIGNATURES, 2, 10, 72, OS_ERR_MSG_MALFORMED },     /* record boundaries shift */
    };
    static uint8_t buf[OS_MAX_MESSAGE];
    size_t i;
    (void)state;
    setup_buffers();
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        os_msg m, d;
        size_t len;
        sample(&m, cases[i].type, cases[i].variant);
        len = encode_ok(&m, buf, sizeof buf);
        assert_int_equal(os_msg_decode(buf, len, &d), OS_OK);
        assert_true(cases[i].off < len);
        assert_int_not_equal(buf[cases[i].off], cases[i].value);
        buf[cases[i].off] = cases[i].value;
        assert_int_equal(os_msg_decode(buf, len, &d), cases[i].expect);
    }
}

/* Bodies whose length field is out of range and whose size agrees with it. */
static size_t put_header(uint8_t *buf, uint8_t type) {
    buf[0] = OS_PROTOCOL_VERSION;
    buf[1] = type;
    os_write_le32(buf + 2, 7);
    return OS_MSG_HEADER;
}

static void test_oversized_variable_fields(void **state) {
    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg d;
    size_t n;
    (void)state;
    memset(buf, 'a', sizeof buf);

    n = put_header(buf, OS_MSG_INIT_DEVICE);   /* mnemonic 241 bytes */
    buf[n++] = 0; buf[n++] = 0; buf[n++] = 24; buf[n++] = 1;
    memset(buf + n, 0, OS_POLICY_BYTES); n += OS_POLICY_BYTES;
    os_write_le16(buf + n, OS_MAX_MNEMONIC + 1); n += 2;
    memset(buf + n, 'a', OS_MAX_MNEMONIC + 1);
    assert_int_equal(os_msg_decode(buf, n + OS_MAX_MNEMONIC + 1, &d), OS_ERR_MSG_MALFORMED);
    os_write_le16(buf + n - 2, 0);            /* restoring needs a mnemonic */
    assert_int_equal(os_msg_decode(buf, n, &d), OS_ERR_MSG_MALFORMED);
    os_write_le16(buf + n - 2, OS_MAX_MNEMONIC);
    assert_int_equal(os_msg_decode(buf, n + OS_MAX_MNEMONIC, &d), OS_OK);

    n = put_header(buf, OS_MSG_SIGN_PREVTX);  /* chunk 2049 and 0 */
    memset(buf + n, 0, 6); n += 6;
    os_write_le16(buf + n, OS_MAX_PREVTX_CHUNK + 1); n += 2;
    assert_int_equal(os_msg_decode(buf, n + OS_MAX_PREVTX_CHUNK + 1, &d), OS_ERR_MSG_MALFORMED);
    os_write_le16(buf + n - 2, 0);
    assert_int_equal(os_msg_decode(buf, n, &d), OS_ERR_MSG_MALFORMED);

    n = put_header(buf, OS_MSG_ERROR);        /* detail 129 */
    os_write_le16(buf + n, OS_ERR_TX_PARSE); n += 2;
    os_write_le16(buf + n, 0xFFFF); n += 2;
    buf[n++] = OS_ERROR_DETAIL_MAX + 1;
    assert_int_equal(os_msg_decode(buf, n + OS_ERROR_DETAIL_MAX + 1, &d), OS_ERR_MSG_MALFORMED);
    buf[n - 1] = OS_ERROR_DETAIL_MAX;
    assert_int_equal(os_msg_decode(buf, n + OS_ERROR_DETAIL_MAX, &d), OS_OK);

    n = put_header(buf, OS_MSG_ADDRESS);      /* 91 characters */
    buf[n++] = OS_MAX_ADDRESS + 1;
    assert_int_equal(os_msg_decode(buf, n + OS_MAX_ADDRESS + 1, &d), OS_ERR_MSG_MALFORMED);

    n = put_header(buf, OS_MSG_LOG_ENTRY);    /* 255-byte entry */
    os_write_le16(buf + n, OS_LOG_ENTRY_BYTES - 1); n += 2;
    assert_int_equal(os_msg_decode(buf, n + OS_LOG_ENTRY_BYTES - 1, &d), OS_ERR_MSG_MALFORMED);

    n = put_header(buf, OS_MSG_SIGN_OUTPUT);  /* payout script 35 and 0 */
    memset(buf + n, 0, 2); n += 2;
    buf[n++] = OS_OUTPUT_PAYOUT;
    memset(buf + n, 0, 8); n += 8;
    buf[n++] = OS_MAX_PAYOUT_SCRIPT + 1;
    memset(buf + n, 0, sizeof buf - n);
    assert_int_equal(os_msg_decode(buf, n + OS_MAX_PAYOUT_SCRIPT + 1 + 32 + 1 + 34, &d),
                     OS_ERR_MSG_MALFORMED);
    buf[n - 1] = 0;
    assert_int_equal(os_msg_decode(buf, n + 32 + 1 + 34, &d), OS_ERR_MSG_MALFORMED);
    buf[n - 1] = 1;
    assert_int_equal(os_msg_decode(buf, n + 1 + 32 + 1 + 34, &d), OS_OK);
}

/* Proofs on their own: sibling count from the bitmap, the 64-sibling limit, bits above depth. */
static void test_proof_codec(void **state) {
    static uint8_t buf[2 + 32 + 65 * 32 + 64];
    os_nonce_proof p, q;
    size_t len, used;
    unsigned i;
    (void)state;
    setup_buffers();
    memset(&p, 0, sizeof p);
    p.depth = 200;
    p.terminal_is_leaf = 1;
    for (i = 0; i < 200; i += 5) p.bitmap[i / 8] |= (uint8_t)(1u << (i % 8));   /* 40 siblings */
    p.n_siblings = 40;
    p.siblings = g_siblings;
    fill(p.leaf_key, 32, 1);
    fill(p.leaf_value, 32, 2);
    assert_int_equal(os_nonce_proof_encode(&p, buf, sizeof buf, &len), OS_OK);
    assert_int_equal(len, 34 + 40 * 32 + 64);
    buf[len] = 0xEE;   /* decode reads a prefix and reports how much it used */
    assert_int_equal(os_nonce_proof_decode(buf, len + 1, &q, &used), OS_OK);
    assert_int_equal(used, len);
    assert_int_equal(q.n_siblings, 40);
    assert_ptr_equal(q.siblings, buf + 34);
    assert_memory_equal(q.leaf_value, p.leaf_value, 32);
    assert_int_equal(os_nonce_proof_decode(buf, len - 1, &q, &used), OS_ERR_MSG_MALFORMED);
    assert_int_equal(os_nonce_proof_encode(&p, buf, len - 1, &len), OS_ERR_BUFFER);

    p.n_siblings = 39;  /* must equal the popcount */
    assert_int_equal(os_nonce_proof_encode(&p, buf, sizeof buf, &len), OS_ERR_MSG_MALFORMED);
    p.n_siblings = 40;
    p.depth = 195;      /* bit 195 is set: at depth, not below it */
    assert_int_equal(os_nonce_proof_encode(&p, buf, sizeof buf, &len), OS_ERR_MSG_MALFORMED);
    p.siblings = NULL;
    p.depth = 200;
    assert_int_equal(os_nonce_proof_encode(&p, buf, sizeof buf, &len), OS_ERR_ARG);

    memset(&p, 0, sizeof p);   /* 65 siblings is refused as too large in both directions */
    p.depth = 65;
    proof_bits(&p, 65);
    assert_int_equal(os_nonce_proof_encode(&p, buf, sizeof buf, &len), OS_ERR_PROOF_TOO_LARGE);
    memset(buf, 0, sizeof buf);
    buf[0] = 65;
    memcpy(buf + 2, p.bitmap, 32);
    assert_int_equal(os_nonce_proof_decode(buf, sizeof buf, &q, &used), OS_ERR_PROOF_TOO_LARGE);
    proof_bits(&p, 64);
    memcpy(buf + 2, p.bitmap, 32);
    assert_int_equal(os_nonce_proof_decode(buf, sizeof buf, &q, &used), OS_OK);
    assert_int_equal(used, 34 + 64 * 32);
    assert_int_equal(os_nonce_proof_decode(NULL, 0, &q, &used), OS_ERR_MSG_MALFORMED);
    assert_int_equal(os_nonce_proof_decode(buf, sizeof buf, NULL, &used), OS_ERR_ARG);
}

/* The encoder refuses what the decoder refuses, checks its buffer and leaves it alone on error. */
static void test_encode_errors(void **state) {
    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg m;
    size_t len = 12345, need;
    (void)state;
    setup_buffers();
    sample(&m, OS_MSG_SIGN_OUTPUT, 1);
    need = encode_ok(&m, buf, sizeof buf);
    memset(buf, 0xAB, sizeof buf);
    len = 12345;
    assert_int_equal(os_msg_encode(&m, buf, need - 1, &len), OS_ERR_BUFFER);
    assert_int_equal(len, 12345);
    assert_int_equal(buf[0], 0xAB);
    assert_int_equal(os_msg_encode(NULL, buf, sizeof buf, &len), OS_ERR_ARG);
    assert_int_equal(os_msg_encode(&m, NULL, sizeof buf, &len), OS_ERR_ARG);
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, NULL), OS_ERR_ARG);
    m.version = OS_PROTOCOL_VERSION + 1;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_ARG);
    m.version = OS_PROTOCOL_VERSION;
    m.u.sign_output.script_len = OS_MAX_PAYOUT_SCRIPT + 1;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_MSG_MALFORMED);
    m.u.sign_output.script_len = 10;
    m.u.sign_output.script = NULL;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_ARG);
    m.type = 0x7f;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_MSG_TYPE);

    sample(&m, OS_MSG_INIT_DEVICE, 0);
    m.u.init_device.mnemonic_len = 3;   /* a mnemonic only when restoring */
    m.u.init_device.mnemonic = g_mnemonic;
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_MSG_MALFORMED);
    sample(&m, OS_MSG_SIGNATURES, 2);
    m.u.signatures.records_len++;       /* records_len must match the records */
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_MSG_MALFORMED);
    sample(&m, OS_MSG_ERROR, 0);
    m.u.error.detail_len = 4;           /* detail without data */
    assert_int_equal(os_msg_encode(&m, buf, sizeof buf, &len), OS_ERR_ARG);
}

/* Decoded views point into the input, and a refused decode leaves the output alone. */
static void test_views_and_untouched_output(void **state) {
    static uint8_t buf[OS_MAX_MESSAGE];
    os_msg m, d;
    size_t len;
    (void)state;
    setup_buffers();
    sample(&m, OS_MSG_SIGN_PREVTX, 2);
    len = encode_ok(&m, buf, sizeof buf);
    assert_int_equal(os_msg_decode(buf, len, &d), OS_OK);
    assert_ptr_equal(d.u.sign_prevtx.data, buf + 14);
    memset(&d, 0x5A, sizeof d);
    assert_int_equal(os_msg_decode(buf, len - 1, &d), OS_ERR_MSG_MALFORMED);
    assert_int_equal(d.version, 0x5A);
    assert_int_equal(d.type, 0x5A);
}

static const int ALL_CODES[] = {
    OS_OK, OS_ERR_ARG, OS_ERR_INTERNAL, OS_ERR_BUFFER, OS_ERR_IO, OS_ERR_TIMEOUT, OS_ERR_CRYPTO,
    OS_ERR_UNSUPPORTED, OS_ERR_FRAME_CHANNEL, OS_ERR_FRAME_SEQ, OS_ERR_FRAME_LENGTH,
    OS_ERR_FRAME_UNEXPECTED, OS_ERR_FRAME_COMMAND, OS_ERR_MSG_VERSION, OS_ERR_MSG_TYPE,
    OS_ERR_MSG_MALFORMED, OS_ERR_MSG_UNEXPECTED, OS_ERR_SERIAL_CRC, OS_ERR_NOT_INITIALIZED,
    OS_ERR_ALREADY_INITIALIZED, OS_ERR_USER_REJECTED, OS_ERR_BUSY, OS_ERR_CANCELLED,
    OS_ERR_BAD_MNEMONIC, OS_ERR_BAD_PATH, OS_ERR_NO_PENDING, OS_ERR_TX_PARSE, OS_ERR_TX_PREV_TXID,
    OS_ERR_TX_PREV_VOUT, OS_ERR_TX_NOT_OURS, OS_ERR_TX_LIMITS, OS_ERR_TX_AMOUNT,
    OS_ERR_TX_FEE_NEGATIVE, OS_ERR_TX_CHANGE, OS_ERR_TX_SCRIPT, OS_ERR_TX_ORDER, OS_ERR_TX_DUST,
    OS_ERR_NONCE_COMMITTED, OS_ERR_PROOF_INVALID, OS_ERR_PROOF_TOO_LARGE, OS_ERR_NONCE_ORDER,
    OS_ERR_PROOF_KIND, OS_ERR_POLICY_PAYOUT_CAP, OS_ERR_POLICY_VELOCITY, OS_ERR_POLICY_FEE,
    OS_ERR_POLICY_DESTINATION, OS_ERR_STORAGE_CORRUPT, OS_ERR_STORAGE_WRITE, OS_ERR_LOG_FULL,
    OS_ERR_LOG_RANGE, OS_ERR_LOG_FORMAT, OS_ERR_LOG_SEQ, OS_ERR_LOG_CHAIN, OS_ERR_LOG_SIGNATURE,
    OS_ERR_NONCE_ABSENT, OS_ERR_NOT_FOUND, OS_ERR_IDEMPOTENCY, OS_ERR_CODE_EXPIRED, OS_ERR_DB, OS_ERR_RPC,
    OS_ERR_RPC_TRANSPORT, OS_ERR_ADDRESS, OS_ERR_AMOUNT, OS_ERR_FUNDS, OS_ERR_SIGNER_MISMATCH, OS_ERR_AUTH,
    OS_ERR_TOO_LARGE, OS_ERR_BAD_REQUEST, OS_ERR_QUORUM_MISSING, OS_ERR_APPROVAL_OPERATOR,
    OS_ERR_APPROVAL_DUPLICATE, OS_ERR_APPROVAL_EXPIRED, OS_ERR_APPROVAL_MISMATCH,
};

static void test_status_names(void **state) {
    size_t i, j, n = sizeof ALL_CODES / sizeof ALL_CODES[0];
    (void)state;
    for (i = 0; i < n; i++) {
        const char *name = os_status_name(ALL_CODES[i]);
        const char *msg = os_status_message(ALL_CODES[i]);
        assert_non_null(name);
        assert_non_null(msg);
        assert_string_not_equal(name, "unknown");
        assert_string_not_equal(msg, "unknown error");
        assert_true(strlen(name) > 0 && strlen(msg) > 0);
        for (j = 0; j < i; j++) assert_string_not_equal(name, os_status_name(ALL_CODES[j]));
    }
    assert_string_equal(os_status_name(OS_ERR_NONCE_COMMITTED), "nonce-committed");
    assert_string_equal(os_status_name(0x7777), "unknown");
    assert_string_equal(os_status_message(0x7777), "unknown error");
    assert_string_equal(os_status_name(-1), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_type),
        cmocka_unit_test(test_wire_sizes),
        cmocka_unit_test(test_known_bytes),
        cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_version_and_type),
        cmocka_unit_test(test_out_of_range_fields),
        cmocka_unit_test(test_oversized_variable_fields),
        cmocka_unit_test(test_proof_codec),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_views_and_untouched_output),
        cmocka_unit_test(test_status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
