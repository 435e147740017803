/* libFuzzer target: the streaming previous-transaction parser (firmware/tx.c) on arbitrary bytes.
 *
 * Input layout: byte 0 picks vout, byte 1 how total_len relates to the payload, byte 2 an amount
 * for that, byte 3 seeds the chunk sizes; the rest is the payload, fed in chunks each copied to its
 * own exact-size heap buffer so ASan sees any read past a chunk. Checked: no crash or out-of-bounds
 * access, failures are sticky, results are within their bounds, and a legacy transaction's txid is
 * the double SHA-256 of all its bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/sha256.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "tx.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tx_prev_parser p;
    const uint8_t *payload;
    size_t payload_len, pos = 0;
    uint32_t total_len, vout, rng;
    uint8_t txid[32], script[TX_SCRIPT_CAPTURE_MAX];
    uint64_t amount = 0;
    size_t script_len = 0;
    int r, failed = 0;

    if (size < 4 || size - 4 > OS_MAX_PREVTX_BYTES) return 0;
    payload = data + 4;
    payload_len = size - 4;
    vout = data[0] == 0xff ? UINT32_MAX : data[0] % 8u;
    switch (data[1] % 4) {
    case 0: total_len = (uint32_t)payload_len; break;                 /* the honest case */
    case 1: total_len = (uint32_t)payload_len + data[2]; break;       /* announced longer: truncated */
    case 2: total_len = (uint32_t)(payload_len > data[2] ? payload_len - data[2] : 0); break; /* overfed */
    default: total_len = data[2] & 1 ? OS_MAX_PREVTX_BYTES + 1u : (uint32_t)payload_len; break;
    }
    rng = 0x9e3779b9u ^ data[3];

    r = tx_prev_init(&p, total_len, vout);
    if (total_len == 0 || total_len > OS_MAX_PREVTX_BYTES) {
        CHECK(r == OS_ERR_TX_LIMITS);
        return 0;
    }
    CHECK(r == OS_OK);

    while (pos < payload_len) {
        size_t n;
        uint8_t *chunk;
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        n = 1 + (data[3] & 0x80 ? rng % 2048u : rng % 16u);
        if (n > payload_len - pos) n = payload_len - pos;
        chunk = malloc(n);
        CHECK(chunk != NULL);
        memcpy(chunk, payload + pos, n);
        r = tx_prev_feed(&p, chunk, n);
        free(chunk);
        if (failed) CHECK(r == OS_ERR_TX_PARSE);
        else CHECK(r == OS_OK || r == OS_ERR_TX_PARSE);
        if (r != OS_OK) failed = 1;
        pos += n;
    }
    r = tx_prev_finish(&p, txid, &amount, script, &script_len);
    CHECK(r == OS_OK || r == OS_ERR_TX_PARSE || r == OS_ERR_TX_PREV_VOUT || r == OS_ERR_TX_NOT_OURS);
    if (failed || total_len != payload_len) CHECK(r == OS_ERR_TX_PARSE);
    if (r == OS_OK) {
        CHECK(script_len <= TX_SCRIPT_CAPTURE_MAX);
        CHECK(vout != UINT32_MAX);
        if (payload_len > 4 && payload[4] != 0x00) {  /* legacy serialization */
            uint8_t first[32], want[32];
            CHECK(mbedtls_sha256_ret(payload, payload_len, first, 0) == 0);
            CHECK(mbedtls_sha256_ret(first, 32, want, 0) == 0);
            CHECK(memcmp(txid, want, 32) == 0);
        }
    }
    return 0;
}
