/* oncesign — audit log entry hashing and verification, shared by the device and the host's
 * auditor. Contracts in audit_log.h. Kept apart from audit_log.c because that file calls the
 * board's flash functions, and an archive member is linked whole: the host has no board. */
#include "audit_log.h"

#include <string.h>

#include "bytes.h"
#include "crypto.h"
#include "oncesign/check.h"

int audit_log_entry_hash(const uint8_t entry[OS_LOG_ENTRY_BYTES], uint8_t hash[32]) {
    /* BIP340 tagged hash: SHA256(SHA256(tag) | SHA256(tag) | m), one buffer, no streaming API. */
    uint8_t buf[64 + AUDIT_LOG_SIGNED_BYTES];
    ARG_CHECK(entry != NULL && hash != NULL);
    crypto_sha256((const uint8_t *)AUDIT_LOG_TAG, sizeof AUDIT_LOG_TAG - 1, buf);
    memcpy(buf + 32, buf, 32);
    memcpy(buf + 64, entry, AUDIT_LOG_SIGNED_BYTES);
    crypto_sha256(buf, sizeof buf, hash);
    return OS_OK;
}

int audit_log_verify_entry(const uint8_t attestation_xonly[32],
                           const uint8_t entry[OS_LOG_ENTRY_BYTES], uint64_t expected_seq,
                           const uint8_t expected_prev[32], uint8_t entry_hash[32]) {
    uint8_t hash[32];
    uint16_t payload_len;
    uint8_t padding = 0;
    size_t i;
    int status;
    ARG_CHECK(attestation_xonly != NULL && entry != NULL && expected_prev != NULL &&
              entry_hash != NULL);
    payload_len = os_read_le16(entry + AUDIT_LOG_OFF_PAYLOAD_LEN);
    /* First: in another format version no other field can be read as this one. */
    if (entry[AUDIT_LOG_OFF_FORMAT] != AUDIT_LOG_FORMAT) return OS_ERR_LOG_VERSION;
    if (entry[AUDIT_LOG_OFF_TYPE] == 0 ||
        os_read_le32(entry + AUDIT_LOG_OFF_RESERVED) != 0 || payload_len > OS_LOG_PAYLOAD_MAX) {
        return OS_ERR_LOG_FORMAT;
    }
    for (i = AUDIT_LOG_OFF_PAYLOAD + payload_len; i < AUDIT_LOG_OFF_SIG; i++) padding |= entry[i];
    if (padding != 0) return OS_ERR_LOG_FORMAT;
    if (os_read_le64(entry + AUDIT_LOG_OFF_SEQ) != expected_seq) return OS_ERR_LOG_SEQ;
    if (memcmp(entry + AUDIT_LOG_OFF_PREV, expected_prev, 32) != 0) return OS_ERR_LOG_CHAIN;
    CHECK_OK(audit_log_entry_hash(entry, hash));
    status = crypto_schnorr_verify(attestation_xonly, hash, entry + AUDIT_LOG_OFF_SIG);
    if (status == OS_ERR_CRYPTO) return OS_ERR_LOG_SIGNATURE;
    if (status != OS_OK) return status;
    memcpy(entry_hash, hash, 32);
    return OS_OK;
}
