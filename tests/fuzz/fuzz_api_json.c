/* libFuzzer target for the API's request-body parser, os_api_parse_request (host/lib/api.c).
 *
 * Input: byte 0 picks the body kind (issue code, redeem, payout); byte 1 says whether an
 * Idempotency-Key header is present (bit 0) and its length (bits 1..7); that many bytes follow as
 * the header value (cut at a NUL, as an HTTP header would be); the rest is the body.
 * Properties: no crash, leak or sanitizer report on any input; on OS_OK every field is within the
 * contract (amount 1..2^53-1, address and key 1.. printable ASCII, expires_at >= 0, what the kind
 * needs present); on refusal the output is all zeros and the reason is a NUL-terminated sentence;
 * the same input gives the same answer twice.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "oncesign/status.h"

static void check(int cond) {
    if (!cond) abort();
}

static int printable(const char *s) {
    size_t n = strlen(s);
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    os_api_body_kind kind = (os_api_body_kind)(OS_API_BODY_ISSUE_CODE + data[0] % 4);
    int has_key = data[1] & 1;
    size_t key_len = data[1] >> 1;
    data += 2;
    size -= 2;
    if (key_len > size) key_len = size;
    char key[128];
    memcpy(key, data, key_len);
    key[key_len] = '\0';
    data += key_len;
    size -= key_len;

    /* A copy of exactly size bytes, so ASan sees any read past the body. */
    char *body = malloc(size ? size : 1);
    if (body == NULL) return 0;
    if (size) memcpy(body, data, size);

    os_api_request out, again;
    char why[160], why2[160];
    int rc = os_api_parse_request(kind, size ? body : NULL, size, has_key ? key : NULL, &out, why, sizeof why);
    int rc2 = os_api_parse_request(kind, size ? body : NULL, size, has_key ? key : NULL, &again, why2, sizeof why2);
    check(rc == rc2);
    check(memcmp(&out, &again, sizeof out) == 0);
    check(memchr(why, '\0', sizeof why) != NULL);

    if (rc == OS_OK) {
        check(out.expires_at >= 0);
        if (kind == OS_API_BODY_ISSUE_CODE || kind == OS_API_BODY_PAYOUT) {
            check(out.amount >= 1 && out.amount < ((uint64_t)1 << 53));
        }
        if (kind == OS_API_BODY_REDEEM || kind == OS_API_BODY_PAYOUT) {
            check(printable(out.address) && strlen(out.address) <= OS_MAX_ADDRESS);
        } else {
            check(out.address[0] == '\0');
        }
        if (kind == OS_API_BODY_PAYOUT) {
            check(printable(out.idempotency_key) && strlen(out.idempotency_key) <= 128);
            if (has_key) check(strcmp(out.idempotency_key, key) == 0);
        } else {
            check(out.idempotency_key[0] == '\0');
        }
        if (kind != OS_API_BODY_ISSUE_CODE) check(out.expires_at == 0);
        if (kind == OS_API_BODY_REDEEM || kind == OS_API_BODY_APPROVAL) check(out.amount == 0);
        /* an approval's layout: its expiry is never 0 (os_approval_decode) */
        if (kind == OS_API_BODY_APPROVAL) check(out.approval.expiry_seq != 0);
        else check(out.approval.expiry_seq == 0);
        /* Valid JSON never holds a raw NUL byte. */
        check(memchr(body, '\0', size) == NULL);
    } else {
        check(rc == OS_ERR_BAD_REQUEST || rc == OS_ERR_AMOUNT || rc == OS_ERR_ADDRESS);
        static const os_api_request zero;
        check(memcmp(&out, &zero, sizeof out) == 0);
        check(why[0] != '\0');
    }
    free(body);
    return 0;
}
