/* libFuzzer target: the auditor's raw-transaction parser (host/lib/audit.c, os_audit_match_raw:
 * `oncesign log match --raw HEX` hands it bytes from anyone) on arbitrary bytes, against a one-entry
 * log whose SIGN payload holds the first 64 input bytes. Checked: no crash or out-of-bounds access
 * (the input is copied to an exact-size heap buffer), the only failure is OS_ERR_TX_PARSE, and a
 * transaction that parses is found exactly when the entry holds its hashPrevouts and digest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_log.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t entries[1][OS_LOG_ENTRY_BYTES];
    uint8_t *entry = entries[0];
    uint8_t hp[32], digest[32];
    uint64_t seq = 99;
    os_audit_log log;
    memset(&log, 0, sizeof log);
    memset(entries, 0, sizeof entries);
    entry[AUDIT_LOG_OFF_TYPE] = OS_LOG_SIGN;
    memcpy(entry + AUDIT_LOG_OFF_PAYLOAD, data, size < 64 ? size : 64);
    log.entries = entries;
    log.n = 1;
    log.first = 1;
    uint8_t *raw = malloc(size ? size : 1);
    CHECK(raw != NULL);
    if (size) memcpy(raw, data, size);
    int rc = os_audit_match_raw(&log, raw, size, &seq, hp, digest);
    CHECK(rc == OS_OK || rc == OS_ERR_TX_PARSE);
    if (rc == OS_OK) {
        int holds = memcmp(entry + AUDIT_LOG_OFF_PAYLOAD, hp, 32) == 0 &&
                    memcmp(entry + AUDIT_LOG_OFF_PAYLOAD + 32, digest, 32) == 0;
        CHECK(seq == (holds ? 1u : 0u));
    } else {
        CHECK(seq == 0);
    }
    free(raw);
    return 0;
}
