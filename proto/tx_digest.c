/* oncesign — the transaction digest (see tx_digest.h). */
#include "tx_digest.h"

#include <stddef.h>
#include <string.h>

#include "bytes.h"
#include "mbedtls/sha256.h"
#include "oncesign/status.h"

int os_tx_digest(uint32_t version, const uint8_t hash_prevouts[32], const uint8_t hash_sequence[32],
                 const uint8_t hash_outputs[32], uint32_t locktime, uint8_t out[32]) {
    if (hash_prevouts == NULL || hash_sequence == NULL || hash_outputs == NULL || out == NULL) return OS_ERR_ARG;
    uint8_t tag[32], pre[4 + 3 * 32 + 4], digest[32];
    os_write_le32(pre, version);
    memcpy(pre + 4, hash_prevouts, 32);
    memcpy(pre + 36, hash_sequence, 32);
    memcpy(pre + 68, hash_outputs, 32);
    os_write_le32(pre + 100, locktime);
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    int status = OS_OK;
    if (mbedtls_sha256_ret((const unsigned char *)OS_TX_DIGEST_TAG, strlen(OS_TX_DIGEST_TAG), tag, 0) != 0 ||
        mbedtls_sha256_starts_ret(&ctx, 0) != 0 || mbedtls_sha256_update_ret(&ctx, tag, 32) != 0 ||
        mbedtls_sha256_update_ret(&ctx, tag, 32) != 0 || mbedtls_sha256_update_ret(&ctx, pre, sizeof pre) != 0 ||
        mbedtls_sha256_finish_ret(&ctx, digest) != 0)
        status = OS_ERR_CRYPTO;
    mbedtls_sha256_free(&ctx);
    if (status == OS_OK) memcpy(out, digest, 32);
    return status;
}
