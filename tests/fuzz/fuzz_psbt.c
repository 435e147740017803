/* libFuzzer target: the PSBT parser (host/lib/psbt.c) on arbitrary bytes.
 *
 * Checked: no crash or out-of-bounds access; a PSBT that parses serializes to exactly the bytes it
 * came from (maps are kept verbatim, CompactSizes must be minimal), and those bytes parse again to
 * the same transaction; the typed readers (input coin, BIP32 derivations, oncesign fields: nonce,
 * voucher, approvals) never fail in a way the parser should have caught; the commitment computes
 * or says the signer could not sign it; the Base64 path agrees with the binary one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oncesign/status.h"
#include "psbt.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    psbt *p = NULL, *q = NULL;
    char err[256];
    int rc = psbt_parse(data, size, &p, err, sizeof err);
    CHECK(rc == OS_OK || rc == OS_ERR_PSBT || rc == OS_ERR_IO);
    if (rc != OS_OK) {
        CHECK(p == NULL);
        /* Text that is not a PSBT must fail the same way through psbt_decode. */
        rc = psbt_decode(data, size, &q, err, sizeof err);
        CHECK(rc == OS_OK || rc == OS_ERR_PSBT || rc == OS_ERR_IO);
        psbt_free(q);
        return 0;
    }
    uint8_t *out = NULL;
    size_t out_len = 0;
    CHECK(psbt_serialize(p, &out, &out_len) == OS_OK);
    CHECK(out_len == size && memcmp(out, data, size) == 0);
    CHECK(psbt_parse(out, out_len, &q, err, sizeof err) == OS_OK);
    CHECK(q->tx.n_inputs == p->tx.n_inputs && q->tx.n_outputs == p->tx.n_outputs);
    CHECK(memcmp(q->tx.txid, p->tx.txid, 32) == 0);
    for (size_t i = 0; i < p->tx.n_inputs; i++) {
        uint64_t amount;
        const uint8_t *script;
        size_t script_len;
        rc = psbt_input_coin(p, i, &amount, &script, &script_len);
        CHECK(rc == OS_OK || rc == OS_ERR_NOT_FOUND);   /* the parser validated both UTXO forms */
        for (size_t k = 0; k < p->inputs[i].n; k++) {
            psbt_bip32 d;
            if (p->inputs[i].pairs[k].key[0] == PSBT_IN_BIP32_DERIVATION) (void)psbt_bip32_decode(&p->inputs[i].pairs[k], &d);
        }
    }
    for (size_t i = 0; i < p->tx.n_outputs; i++) {
        uint8_t nonce[32];
        int replace;
        os_outpoint anchor;
        rc = psbt_output_nonce(p, i, nonce, &replace, &anchor);
        CHECK(rc == OS_OK || rc == OS_ERR_NOT_FOUND);
        int bound = rc == OS_OK;
        os_voucher v;
        rc = psbt_output_voucher(p, i, &v);
        CHECK(rc == OS_OK || rc == OS_ERR_NOT_FOUND);
        /* the parser admits a voucher only for its own new payout */
        if (rc == OS_OK) CHECK(bound && !replace && memcmp(v.nonce, nonce, 32) == 0);
    }
    os_approval approvals[OS_MAX_OPERATORS];
    size_t n_approvals = 0;
    CHECK(psbt_approvals(p, approvals, &n_approvals) == OS_OK && n_approvals <= OS_MAX_OPERATORS);
    uint8_t digest[32];
    rc = psbt_tx_digest(p, digest);
    CHECK(rc == OS_OK || rc == OS_ERR_PSBT_UNSIGNABLE || rc == OS_ERR_IO);
    char *text = NULL;
    CHECK(psbt_to_base64(p, &text) == OS_OK);
    psbt *r = NULL;
    CHECK(psbt_decode((const uint8_t *)text, strlen(text), &r, err, sizeof err) == OS_OK);
    CHECK(memcmp(r->tx.txid, p->tx.txid, 32) == 0);
    psbt_free(r);
    free(text);
    psbt_free(q);
    free(out);
    psbt_free(p);
    return 0;
}
