/* oncesign — message codec (contract in proto/codec.h, wire layouts in proto/PROTOCOL.md).
 *
 * Each message layout is written once, as a "walk" over its fields that either reads them from a
 * buffer or writes them to one. Encoding and decoding therefore cannot disagree about a layout or
 * a range check: a check that rejects a decoded field rejects the same field before it is encoded,
 * which is what makes decode -> encode reproduce the input byte for byte.
 */
#include "codec.h"

#include <string.h>

#include "bytes.h"
#include "oncesign/check.h"
#include "voucher.h"

typedef struct {
    int writing;            /* 0: fields are read from in; 1: fields are written to out */
    const uint8_t *in;
    size_t in_len;
    uint8_t *out;           /* writing: NULL only measures (and validates) */
    size_t pos;
    int short_input;        /* reading: a field ran past the end of the input */
    int null_view;          /* writing: a variable-length field of nonzero length had no data */
} io;

/* Reading: 1 if n more bytes exist. Once the input ran short every later read fails too, so
 * fields after a truncation read as zero and the walk ends in OS_ERR_MSG_MALFORMED. */
static int io_room(io *s, size_t n) {
    if (s->writing) return 1;
    if (s->short_input || n > s->in_len - s->pos) {
        s->short_input = 1;
        return 0;
    }
    return 1;
}

static void io_raw(io *s, uint8_t *p, size_t n) {
    if (!io_room(s, n)) {
        memset(p, 0, n);
        return;
    }
    if (n > 0) {
        if (!s->writing) memcpy(p, s->in + s->pos, n);
        else if (s->out != NULL) memcpy(s->out + s->pos, p, n);
    }
    s->pos += n;
}

static void io_u8(io *s, uint8_t *v) { io_raw(s, v, 1); }

static void io_u16(io *s, uint16_t *v) {
    uint8_t b[2];
    if (s->writing) os_write_le16(b, *v);
    io_raw(s, b, sizeof b);
    if (!s->writing) *v = os_read_le16(b);
}

static void io_u32(io *s, uint32_t *v) {
    uint8_t b[4];
    if (s->writing) os_write_le32(b, *v);
    io_raw(s, b, sizeof b);
    if (!s->writing) *v = os_read_le32(b);
}

static void io_u64(io *s, uint64_t *v) {
    uint8_t b[8];
    if (s->writing) os_write_le64(b, *v);
    io_raw(s, b, sizeof b);
    if (!s->writing) *v = os_read_le64(b);
}

/* A variable-length field: reading points *p into the input (NULL for an empty field), writing
 * copies n bytes from *p. */
static void io_view(io *s, const uint8_t **p, size_t n) {
    if (s->writing) {
        if (n > 0 && *p == NULL) {
            s->null_view = 1;
            return;
        }
        if (s->out != NULL && n > 0) memcpy(s->out + s->pos, *p, n);
        s->pos += n;
        return;
    }
    if (!io_room(s, n)) {
        *p = NULL;
        return;
    }
    *p = n > 0 ? s->in + s->pos : NULL;
    s->pos += n;
}

#define REQUIRE(cond) do { if (!(cond)) return OS_ERR_MSG_MALFORMED; } while (0)

static int is_bool(uint8_t v) { return v <= 1; }
static int is_script_type(uint8_t v) { return v <= OS_SCRIPT_P2WPKH; }

static void io_policy(io *s, os_policy *p) {
    io_u64(s, &p->per_payout_cap);
    io_u64(s, &p->velocity_cap);
    io_u32(s, &p->velocity_window_s);
    io_u64(s, &p->fee_cap);
    io_u64(s, &p->fee_rate_cap);
    io_u64(s, &p->fee_budget);
}

/* A voucher: its fixed layout (proto/voucher.h), checked in both directions like every field. */
static int io_voucher(io *s, os_voucher *v) {
    uint8_t buf[OS_VOUCHER_BYTES];
    if (s->writing) CHECK_OK(os_voucher_encode(v, buf));
    io_raw(s, buf, sizeof buf);
    if (!s->writing) {
        if (s->short_input) return OS_ERR_MSG_MALFORMED;
        CHECK_OK(os_voucher_decode(buf, v));
    }
    return OS_OK;
}

static unsigned popcount8(uint8_t b) {
    unsigned n = 0;
    while (b != 0) {
        n += b & 1u;
        b >>= 1;
    }
    return n;
}

static int io_proof(io *s, os_nonce_proof *p) {
    unsigned i, siblings = 0;
    io_u8(s, &p->depth);
    io_u8(s, &p->terminal_is_leaf);
    REQUIRE(is_bool(p->terminal_is_leaf));
    io_raw(s, p->bitmap, sizeof p->bitmap);
    if (s->short_input) return OS_ERR_MSG_MALFORMED;
    /* Bitmap bit i is byte i/8, bit i%8 (LSB first); levels at or below depth have no sibling. */
    for (i = p->depth; i < 256; i++) {
        REQUIRE(((p->bitmap[i / 8] >> (i % 8)) & 1u) == 0);
    }
    for (i = 0; i < sizeof p->bitmap; i++) siblings += popcount8(p->bitmap[i]);
    if (siblings > NONCE_PROOF_MAX_SIBLINGS) return OS_ERR_PROOF_TOO_LARGE;
    if (s->writing) REQUIRE(p->n_siblings == siblings);
    else p->n_siblings = (uint8_t)siblings;
    io_view(s, &p->siblings, (size_t)siblings * 32);
    if (p->terminal_is_leaf) {
        io_raw(s, p->leaf_key, sizeof p->leaf_key);
        io_raw(s, p->leaf_value, sizeof p->leaf_value);
    }
    return OS_OK;
}

/* Length of count SIGNATURES records at p (at most avail bytes); MALFORMED when a record's
 * sig_len is out of range or the records run past avail. */
static int scan_sig_records(const uint8_t *p, size_t avail, uint16_t count, size_t *used) {
    size_t pos = 0;
    uint16_t k;
    for (k = 0; k < count; k++) {
        uint8_t sig_len;
        REQUIRE(avail - pos >= 1);
        sig_len = p[pos];
        REQUIRE(sig_len >= 9 && sig_len <= OS_MAX_DER_SIG);
        REQUIRE(avail - pos - 1 >= (size_t)sig_len + 33);
        pos += 1 + (size_t)sig_len + 33;
    }
    *used = pos;
    return OS_OK;
}

static int io_signatures(io *s, os_msg_signatures *m) {
    size_t used = 0;
    io_u16(s, &m->start);
    io_u16(s, &m->count);
    REQUIRE(m->count <= OS_SIGS_PER_MESSAGE);
    if (s->writing) {
        if (m->count > 0 && m->records == NULL) {
            s->null_view = 1;
            return OS_OK;
        }
        CHECK_OK(scan_sig_records(m->records, m->records_len, m->count, &used));
        REQUIRE(used == m->records_len);
    } else {
        if (s->short_input) return OS_ERR_MSG_MALFORMED;
        CHECK_OK(scan_sig_records(s->in + s->pos, s->in_len - s->pos, m->count, &used));
        m->records_len = (uint16_t)used;
    }
    io_view(s, &m->records, used);
    return OS_OK;
}

static int io_body(io *s, os_msg *m) {
    switch (m->type) {
    case OS_MSG_GET_INFO: case OS_MSG_WIPE: case OS_MSG_POLL: case OS_MSG_CANCEL:
    case OS_MSG_SIGN_FINISH: case OS_MSG_SUCCESS:
        return OS_OK;

    case OS_MSG_INIT_DEVICE: {
        os_msg_init_device *b = &m->u.init_device;
        io_u8(s, &b->network);
        REQUIRE(b->network <= OS_NET_REGTEST);
        io_u8(s, &b->script_type);
        REQUIRE(is_script_type(b->script_type));
        io_u8(s, &b->word_count);
        io_u8(s, &b->restore);
        REQUIRE(is_bool(b->restore));
        /* Restoring, 0 leaves the word count to the mnemonic. */
        REQUIRE(b->word_count == 12 || b->word_count == 24 || (b->restore && b->word_count == 0));
        io_policy(s, &b->policy);
        io_u16(s, &b->mnemonic_len);
        if (b->restore) REQUIRE(b->mnemonic_len >= 1 && b->mnemonic_len <= OS_MAX_MNEMONIC);
        else REQUIRE(b->mnemonic_len == 0);
        io_view(s, &b->mnemonic, b->mnemonic_len);
        return OS_OK;
    }
    case OS_MSG_GET_XPUB:
        io_u8(s, &m->u.get_xpub.script_type);
        REQUIRE(is_script_type(m->u.get_xpub.script_type));
        io_u32(s, &m->u.get_xpub.account);
        return OS_OK;

    case OS_MSG_GET_ADDRESS: {
        os_msg_get_address *b = &m->u.get_address;
        io_u8(s, &b->script_type);
        REQUIRE(is_script_type(b->script_type));
        io_u32(s, &b->account);
        io_u8(s, &b->change);
        REQUIRE(is_bool(b->change));
        io_u32(s, &b->index);
        io_u8(s, &b->show);
        REQUIRE(is_bool(b->show));
        return OS_OK;
    }
    case OS_MSG_SET_POLICY:
        io_policy(s, &m->u.set_policy);
        return OS_OK;

    case OS_MSG_LOG_READ: case OS_MSG_LOG_ACK:
        io_u64(s, &m->u.log_read.seq);
        return OS_OK;

    case OS_MSG_NONCE_RESET: {
        os_msg_nonce_reset *b = &m->u.nonce_reset;
        io_raw(s, b->fingerprint, sizeof b->fingerprint);
        io_u64(s, &b->device_log_seq);
        io_raw(s, b->device_log_head, sizeof b->device_log_head);
        io_raw(s, b->prev_attestation_key, sizeof b->prev_attestation_key);
        io_u64(s, &b->prev_log_seq);
        io_raw(s, b->prev_log_head, sizeof b->prev_log_head);
        return OS_OK;
    }

    case OS_MSG_SIGN_BEGIN: {
        os_msg_sign_begin *b = &m->u.sign_begin;
        io_u32(s, &b->version);
        io_u32(s, &b->locktime);
        io_u16(s, &b->n_inputs);
        REQUIRE(b->n_inputs >= 1 && b->n_inputs <= OS_MAX_INPUTS);
        io_u16(s, &b->n_outputs);
        REQUIRE(b->n_outputs >= 1 && b->n_outputs <= OS_MAX_OUTPUTS);
        io_u16(s, &b->n_anchored);
        REQUIRE(b->n_anchored <= b->n_outputs);
        return OS_OK;
    }
    case OS_MSG_SIGN_INPUT: {
        os_msg_sign_input *b = &m->u.sign_input;
        io_u16(s, &b->index);
        io_raw(s, b->prevout.txid, sizeof b->prevout.txid);
        io_u32(s, &b->prevout.vout);
        io_u32(s, &b->sequence);
        io_u8(s, &b->script_type);
        REQUIRE(is_script_type(b->script_type));
        io_u32(s, &b->account);
        io_u8(s, &b->change);
        REQUIRE(is_bool(b->change));
        io_u32(s, &b->addr_index);
        io_u32(s, &b->prev_tx_len);
        REQUIRE(b->prev_tx_len >= 1 && b->prev_tx_len <= OS_MAX_PREVTX_BYTES);
        return io_proof(s, &b->anchor_proof);
    }
    case OS_MSG_SIGN_PREVTX: {
        os_msg_sign_prevtx *b = &m->u.sign_prevtx;
        io_u16(s, &b->input_index);
        io_u32(s, &b->offset);
        io_u16(s, &b->len);
        REQUIRE(b->len >= 1 && b->len <= OS_MAX_PREVTX_CHUNK);
        io_view(s, &b->data, b->len);
        return OS_OK;
    }
    case OS_MSG_SIGN_OUTPUT: {
        os_msg_sign_output *b = &m->u.sign_output;
        io_u16(s, &b->index);
        io_u8(s, &b->kind);
        REQUIRE(b->kind <= OS_OUTPUT_PAYOUT);
        io_u64(s, &b->amount);
        if (b->kind == OS_OUTPUT_CHANGE) {
            io_u8(s, &b->change_script_type);
            REQUIRE(is_script_type(b->change_script_type));
            io_u32(s, &b->change_account);
            io_u32(s, &b->change_index);
            return OS_OK;
        }
        io_u8(s, &b->script_len);
        REQUIRE(b->script_len >= 1 && b->script_len <= OS_MAX_PAYOUT_SCRIPT);
        io_view(s, &b->script, b->script_len);
        io_raw(s, b->nonce, sizeof b->nonce);
        io_u8(s, &b->proof_kind);
        REQUIRE(b->proof_kind <= OS_PROOF_REANCHOR);
        CHECK_OK(io_proof(s, &b->proof));
        if (b->proof_kind == OS_PROOF_REPLACE || b->proof_kind == OS_PROOF_REANCHOR) {
            io_raw(s, b->anchor.txid, sizeof b->anchor.txid);
            io_u32(s, &b->anchor.vout);
        }
        return OS_OK;
    }
    case OS_MSG_SIGN_GET_SIGS:
        io_u16(s, &m->u.sign_get_sigs.start);
        return OS_OK;

    case OS_MSG_SET_ISSUERS: {
        os_msg_set_issuers *b = &m->u.set_issuers;
        uint8_t i;
        io_u8(s, &b->flags);
        REQUIRE((b->flags & (uint8_t)~OS_VOUCHERS_REQUIRED) == 0);
        io_u8(s, &b->n_issuers);
        REQUIRE(b->n_issuers <= OS_MAX_ISSUERS);
        /* requiring vouchers with no issuer would refuse every new payout: a mistake, not a policy */
        REQUIRE(b->n_issuers > 0 || b->flags == 0);
        io_view(s, &b->keys, (size_t)b->n_issuers * 32u);
        /* strictly increasing: one encoding per set, no key twice */
        if (b->keys != NULL)
            for (i = 1; i < b->n_issuers; i++) REQUIRE(memcmp(b->keys + 32u * (i - 1u), b->keys + 32u * i, 32) < 0);
        return OS_OK;
    }
    case OS_MSG_SIGN_VOUCHER:
        io_u16(s, &m->u.sign_voucher.index);
        return io_voucher(s, &m->u.sign_voucher.voucher);

    case OS_MSG_SET_OPERATORS: {
        os_msg_set_operators *b = &m->u.set_operators;
        uint8_t i;
        io_u8(s, &b->k);
        io_u8(s, &b->n_operators);
        io_u64(s, &b->threshold);
        REQUIRE(b->n_operators <= OS_MAX_OPERATORS);
        /* a quorum of none, or more than the keys, is a mistake, not a policy; no keys, no quorum */
        REQUIRE(b->n_operators == 0 ? b->k == 0 && b->threshold == 0 : b->k >= 1 && b->k <= b->n_operators);
        io_view(s, &b->keys, (size_t)b->n_operators * 32u);
        /* strictly increasing: one encoding per set, no key twice (k distinct keys are k people) */
        if (b->keys != NULL)
            for (i = 1; i < b->n_operators; i++)
                REQUIRE(memcmp(b->keys + 32u * (i - 1u), b->keys + 32u * i, 32) < 0);
        return OS_OK;
    }
    case OS_MSG_SIGN_APPROVAL: {
        /* its fixed layout (proto/voucher.h), checked in both directions like the voucher */
        uint8_t buf[OS_APPROVAL_BYTES];
        if (s->writing) CHECK_OK(os_approval_encode(&m->u.sign_approval.approval, buf));
        io_raw(s, buf, sizeof buf);
        if (!s->writing) {
            if (s->short_input) return OS_ERR_MSG_MALFORMED;
            CHECK_OK(os_approval_decode(buf, &m->u.sign_approval.approval));
        }
        return OS_OK;
    }

    case OS_MSG_ERROR: {
        os_msg_error *b = &m->u.error;
        io_u16(s, &b->code);
        REQUIRE(b->code != OS_OK);
        io_u16(s, &b->index);
        io_u8(s, &b->detail_len);
        REQUIRE(b->detail_len <= OS_ERROR_DETAIL_MAX);
        if (b->code == OS_ERR_NONCE_COMMITTED) REQUIRE(b->detail_len == 32 + 32 + 4);
        io_view(s, &b->detail, b->detail_len);
        return OS_OK;
    }
    case OS_MSG_PENDING:
        io_u8(s, &m->u.pending.reason);
        REQUIRE(m->u.pending.reason == OS_PENDING_OPERATOR);
        io_u32(s, &m->u.pending.poll_after_ms);
        return OS_OK;

    case OS_MSG_INFO: {
        os_msg_info *b = &m->u.info;
        size_t i;
        int padding = 0;
        io_u8(s, &b->protocol_version);
        io_raw(s, (uint8_t *)b->firmware_version, sizeof b->firmware_version);
        /* NUL padding is canonical only if nothing but NULs follows the first NUL. */
        for (i = 0; i < sizeof b->firmware_version; i++) {
            if (b->firmware_version[i] == '\0') padding = 1;
            else REQUIRE(!padding);
        }
        io_u8(s, &b->initialized);
        REQUIRE(is_bool(b->initialized));
        io_u8(s, &b->network);
        REQUIRE(b->network <= OS_NET_REGTEST);
        io_u8(s, &b->script_type);
        REQUIRE(is_script_type(b->script_type));
        io_u8(s, &b->test_only_rng);
        REQUIRE(is_bool(b->test_only_rng));
        io_raw(s, b->nonce_root, sizeof b->nonce_root);
        io_u64(s, &b->log_seq);
        io_raw(s, b->log_head, sizeof b->log_head);
        io_u64(s, &b->log_acked_seq);
        io_u32(s, &b->log_capacity);
        io_raw(s, b->attestation_pubkey, sizeof b->attestation_pubkey);
        io_policy(s, &b->policy);
        io_u64(s, &b->state_seq);
        return OS_OK;
    }
    case OS_MSG_XPUB:
        io_raw(s, m->u.xpub.data, sizeof m->u.xpub.data);
        return OS_OK;

    case OS_MSG_ADDRESS: {
        os_msg_address *b = &m->u.address;
        size_t i;
        io_u8(s, &b->len);
        REQUIRE(b->len >= 1 && b->len <= OS_MAX_ADDRESS);
        io_raw(s, (uint8_t *)b->text, b->len);
        /* Addresses are base58 or bech32: printable ASCII without spaces, never a NUL. */
        for (i = 0; i < b->len; i++) {
            REQUIRE((uint8_t)b->text[i] >= 0x21 && (uint8_t)b->text[i] <= 0x7E);
        }
        if (!s->writing) b->text[b->len] = '\0';
        return OS_OK;
    }
    case OS_MSG_LOG_ENTRY:
        io_u16(s, &m->u.log_entry.len);
        REQUIRE(m->u.log_entry.len == OS_LOG_ENTRY_BYTES);
        io_view(s, &m->u.log_entry.entry, m->u.log_entry.len);
        return OS_OK;

    case OS_MSG_SIGN_DONE: {
        os_msg_sign_done *b = &m->u.sign_done;
        io_u16(s, &b->n_signatures);
        REQUIRE(b->n_signatures >= 1 && b->n_signatures <= OS_MAX_INPUTS);
        io_u64(s, &b->log_seq);
        io_raw(s, b->nonce_root, sizeof b->nonce_root);
        return OS_OK;
    }
    case OS_MSG_SIGNATURES:
        return io_signatures(s, &m->u.signatures);

    default:
        return OS_ERR_MSG_TYPE;
    }
}

static int io_message(io *s, os_msg *m) {
    io_u8(s, &m->version);
    if (s->short_input) return OS_ERR_MSG_MALFORMED;
    if (m->version != OS_PROTOCOL_VERSION) return OS_ERR_MSG_VERSION;
    io_u8(s, &m->type);
    if (s->short_input) return OS_ERR_MSG_MALFORMED;
    io_u32(s, &m->request_id);
    return io_body(s, m);
}

int os_msg_encode(const os_msg *msg, uint8_t *buf, size_t cap, size_t *out_len) {
    os_msg copy;
    io s;
    int status;
    ARG_CHECK(msg != NULL && buf != NULL && out_len != NULL);
    ARG_CHECK(msg->version == OS_PROTOCOL_VERSION);
    copy = *msg;
    /* First pass measures and validates, so buf is written only when the whole encoding fits. */
    memset(&s, 0, sizeof s);
    s.writing = 1;
    status = io_message(&s, &copy);
    if (status != OS_OK) return status;
    if (s.null_view) return OS_ERR_ARG;
    if (s.pos > cap) return OS_ERR_BUFFER;
    memset(&s, 0, sizeof s);
    s.writing = 1;
    s.out = buf;
    status = io_message(&s, &copy);
    VERIFY_CHECK(status == OS_OK && !s.null_view);
    *out_len = s.pos;
    return OS_OK;
}

int os_msg_decode(const uint8_t *buf, size_t len, os_msg *msg) {
    os_msg tmp;
    io s;
    int status;
    ARG_CHECK(msg != NULL && (buf != NULL || len == 0));
    memset(&tmp, 0, sizeof tmp);
    memset(&s, 0, sizeof s);
    s.in = buf;
    s.in_len = len;
    status = io_message(&s, &tmp);
    if (status != OS_OK) return status;
    if (s.short_input || s.pos != len) return OS_ERR_MSG_MALFORMED;
    *msg = tmp;
    return OS_OK;
}

int os_nonce_proof_encode(const os_nonce_proof *proof, uint8_t *buf, size_t cap, size_t *out_len) {
    os_nonce_proof copy;
    io s;
    int status;
    ARG_CHECK(proof != NULL && buf != NULL && out_len != NULL);
    copy = *proof;
    memset(&s, 0, sizeof s);
    s.writing = 1;
    status = io_proof(&s, &copy);
    if (status != OS_OK) return status;
    if (s.null_view) return OS_ERR_ARG;
    if (s.pos > cap) return OS_ERR_BUFFER;
    memset(&s, 0, sizeof s);
    s.writing = 1;
    s.out = buf;
    status = io_proof(&s, &copy);
    VERIFY_CHECK(status == OS_OK && !s.null_view);
    *out_len = s.pos;
    return OS_OK;
}

int os_nonce_proof_decode(const uint8_t *buf, size_t len, os_nonce_proof *proof, size_t *consumed) {
    os_nonce_proof tmp;
    io s;
    int status;
    ARG_CHECK(proof != NULL && consumed != NULL && (buf != NULL || len == 0));
    memset(&tmp, 0, sizeof tmp);
    memset(&s, 0, sizeof s);
    s.in = buf;
    s.in_len = len;
    status = io_proof(&s, &tmp);
    if (status != OS_OK) return status;
    if (s.short_input) return OS_ERR_MSG_MALFORMED;
    *proof = tmp;
    *consumed = s.pos;
    return OS_OK;
}

int os_policy_encode(const os_policy *policy, uint8_t out[OS_POLICY_BYTES]) {
    os_policy copy;
    io s;
    ARG_CHECK(policy != NULL && out != NULL);
    copy = *policy;
    memset(&s, 0, sizeof s);
    s.writing = 1;
    s.out = out;
    io_policy(&s, &copy);
    VERIFY_CHECK(s.pos == OS_POLICY_BYTES);
    return OS_OK;
}

int os_policy_decode(const uint8_t in[OS_POLICY_BYTES], os_policy *policy) {
    io s;
    ARG_CHECK(in != NULL && policy != NULL);
    memset(&s, 0, sizeof s);
    s.in = in;
    s.in_len = OS_POLICY_BYTES;
    io_policy(&s, policy);
    VERIFY_CHECK(!s.short_input && s.pos == OS_POLICY_BYTES);
    return OS_OK;
}
