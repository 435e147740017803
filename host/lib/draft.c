/* oncesign host — the stored draft's codec (see draft.h). Little-endian, fixed field order; every
 * length is checked against what remains before it is used. */
#include "draft.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "oncesign/status.h"
#include "tx.h"

void os_draft_free(os_draft *d) {
    free(d->in);
    free(d->out);
    free(d->blob);
    memset(d, 0, sizeof *d);
}

int os_draft_encode(const os_sign_tx *tx, uint8_t **out, size_t *len) {
    if (!tx || !out || !len || tx->n_inputs > OS_MAX_INPUTS || tx->n_outputs > OS_MAX_OUTPUTS) return OS_ERR_ARG;
    size_t n = 12;
    for (size_t i = 0; i < tx->n_inputs; i++) n += 32 + 4 + 4 + 1 + 4 + 1 + 4 + 4 + tx->inputs[i].prev_tx_len;
    n += tx->n_outputs * (1 + 8 + 1 + OS_MAX_PAYOUT_SCRIPT + 1 + 4 + 4 + 32 + 1 + 36);
    uint8_t *b = malloc(n), *p = b;
    if (!b) return OS_ERR_IO;
    os_write_le32(p, tx->version), p += 4;
    os_write_le32(p, tx->locktime), p += 4;
    os_write_le16(p, (uint16_t)tx->n_inputs), p += 2;
    os_write_le16(p, (uint16_t)tx->n_outputs), p += 2;
    for (size_t i = 0; i < tx->n_inputs; i++) {
        const os_sign_input *in = &tx->inputs[i];
        memcpy(p, in->prevout.txid, 32), p += 32;
        os_write_le32(p, in->prevout.vout), p += 4;
        os_write_le32(p, in->sequence), p += 4;
        *p++ = in->script_type;
        os_write_le32(p, in->account), p += 4;
        *p++ = in->change;
        os_write_le32(p, in->addr_index), p += 4;
        os_write_le32(p, (uint32_t)in->prev_tx_len), p += 4;
        memcpy(p, in->prev_tx, in->prev_tx_len), p += in->prev_tx_len;
    }
    for (size_t i = 0; i < tx->n_outputs; i++) {
        const os_sign_output *o = &tx->outputs[i];
        *p++ = o->kind;
        os_write_le64(p, o->amount), p += 8;
        *p++ = o->script_len;
        memcpy(p, o->script, o->script_len), p += o->script_len;
        *p++ = o->change_script_type;
        os_write_le32(p, o->change_account), p += 4;
        os_write_le32(p, o->change_index), p += 4;
        memcpy(p, o->nonce, 32), p += 32;
        /* bit 0 replace, bit 1 re-anchor (drafts stored before re-anchors existed hold 0 or 1) */
        *p++ = (uint8_t)((o->replace ? 1u : 0u) | (o->reanchor ? 2u : 0u));
        memcpy(p, o->anchor.txid, 32), p += 32;
        os_write_le32(p, o->anchor.vout), p += 4;
    }
    *out = b;
    *len = (size_t)(p - b);
    return OS_OK;
}

int os_draft_decode(const uint8_t *blob, size_t len, os_draft *d) {
    memset(d, 0, sizeof *d);
    d->blob = malloc(len ? len : 1);
    if (!d->blob) return OS_ERR_IO;
    memcpy(d->blob, blob, len);
    d->blob_len = len;
    const uint8_t *p = d->blob, *end = d->blob + len;
#define NEED(k)                          \
    do {                                 \
        if ((size_t)(end - p) < (k)) goto bad; \
    } while (0)
    NEED(12);
    d->tx.version = os_read_le32(p), p += 4;
    d->tx.locktime = os_read_le32(p), p += 4;
    d->tx.n_inputs = os_read_le16(p), p += 2;
    d->tx.n_outputs = os_read_le16(p), p += 2;
    if (!d->tx.n_inputs || d->tx.n_inputs > OS_MAX_INPUTS || !d->tx.n_outputs || d->tx.n_outputs > OS_MAX_OUTPUTS)
        goto bad;
    d->in = calloc(d->tx.n_inputs, sizeof *d->in);
    d->out = calloc(d->tx.n_outputs, sizeof *d->out);
    if (!d->in || !d->out) goto bad;
    for (size_t i = 0; i < d->tx.n_inputs; i++) {
        os_sign_input *in = &d->in[i];
        NEED(54);
        memcpy(in->prevout.txid, p, 32), p += 32;
        in->prevout.vout = os_read_le32(p), p += 4;
        in->sequence = os_read_le32(p), p += 4;
        in->script_type = *p++;
        in->account = os_read_le32(p), p += 4;
        in->change = *p++;
        in->addr_index = os_read_le32(p), p += 4;
        in->prev_tx_len = os_read_le32(p), p += 4;
        NEED(in->prev_tx_len);
        in->prev_tx = p;
        p += in->prev_tx_len;
    }
    for (size_t i = 0; i < d->tx.n_outputs; i++) {
        os_sign_output *o = &d->out[i];
        NEED(10);
        o->kind = *p++;
        o->amount = os_read_le64(p), p += 8;
        o->script_len = *p++;
        if (o->script_len > OS_MAX_PAYOUT_SCRIPT) goto bad;
        NEED((size_t)o->script_len + 78);
        memcpy(o->script, p, o->script_len), p += o->script_len;
        o->change_script_type = *p++;
        o->change_account = os_read_le32(p), p += 4;
        o->change_index = os_read_le32(p), p += 4;
        memcpy(o->nonce, p, 32), p += 32;
        if (*p > 3) goto bad;
        o->replace = *p & 1u;
        o->reanchor = (uint8_t)((*p++ >> 1) & 1u);
        memcpy(o->anchor.txid, p, 32), p += 32;
        o->anchor.vout = os_read_le32(p), p += 4;
    }
    if (p != end) goto bad;
#undef NEED
    d->tx.inputs = d->in;
    d->tx.outputs = d->out;
    return OS_OK;
bad:
    os_draft_free(d);
    return OS_ERR_DB;
}

int os_draft_commitment(const os_sign_tx *tx, uint8_t hp[32], uint8_t digest[32]) {
    tx_sighasher *h = malloc(sizeof *h);
    if (!h) return OS_ERR_IO;
    int rc = tx_sighasher_begin(h, tx->version, tx->locktime, (uint16_t)tx->n_inputs, (uint16_t)tx->n_outputs);
    for (size_t i = 0; rc == OS_OK && i < tx->n_inputs; i++)
        rc = tx_sighasher_add_input(h, (uint16_t)i, &tx->inputs[i].prevout, tx->inputs[i].sequence, NULL, 0);
    for (size_t i = 0; rc == OS_OK && i < tx->n_outputs; i++)
        rc = tx_sighasher_add_output(h, tx->outputs[i].amount, tx->outputs[i].script, tx->outputs[i].script_len);
    if (rc == OS_OK) rc = tx_sighasher_hash_prevouts(h, hp);
    if (rc == OS_OK) rc = tx_sighasher_tx_digest(h, digest);
    free(h);
    return rc;
}

