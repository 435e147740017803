/* oncesign — issuer voucher layout. See voucher.h. */
#include "voucher.h"

#include <string.h>

#include "bytes.h"
#include "mbedtls/sha256.h"
#include "oncesign/check.h"

#define VOUCHER_MAX_MONEY 10512000000000000ull   /* firmware/policy.h's OS_MAX_MONEY */

static int fields_valid(const os_voucher *v) {
    size_t i;
    if (v->network > OS_NET_REGTEST) return 0;
    if (v->flags & (uint8_t)~OS_VOUCHER_DESTINATION) return 0;
    if (v->flags & OS_VOUCHER_DESTINATION) {
        if (v->script_len < 1 || v->script_len > OS_MAX_PAYOUT_SCRIPT) return 0;
    } else if (v->script_len != 0) {
        return 0;
    }
    for (i = v->script_len; i < OS_MAX_PAYOUT_SCRIPT; i++)
        if (v->script[i] != 0) return 0;
    return v->amount > 0 && v->amount <= VOUCHER_MAX_MONEY && v->expiry_seq > 0;
}

int os_voucher_encode(const os_voucher *v, uint8_t out[OS_VOUCHER_BYTES]) {
    uint8_t *p = out;
    ARG_CHECK(v != NULL && out != NULL);
    if (!fields_valid(v)) return OS_ERR_MSG_MALFORMED;
    *p++ = OS_VOUCHER_VERSION;
    *p++ = v->network;
    *p++ = v->flags;
    *p++ = v->script_len;
    memcpy(p, v->nonce, 32); p += 32;
    os_write_le64(p, v->amount); p += 8;
    os_write_le64(p, v->expiry_seq); p += 8;
    memcpy(p, v->signer, 32); p += 32;
    memcpy(p, v->script, OS_MAX_PAYOUT_SCRIPT); p += OS_MAX_PAYOUT_SCRIPT;
    memcpy(p, v->issuer, 32); p += 32;
    VERIFY_CHECK((size_t)(p - out) == OS_VOUCHER_SIGNED_BYTES);
    memcpy(p, v->sig, 64);
    return OS_OK;
}

int os_voucher_decode(const uint8_t in[OS_VOUCHER_BYTES], os_voucher *v) {
    const uint8_t *p = in;
    ARG_CHECK(in != NULL && v != NULL);
    memset(v, 0, sizeof *v);
    if (*p++ != OS_VOUCHER_VERSION) return OS_ERR_MSG_MALFORMED;
    v->network = *p++;
    v->flags = *p++;
    v->script_len = *p++;
    memcpy(v->nonce, p, 32); p += 32;
    v->amount = os_read_le64(p); p += 8;
    v->expiry_seq = os_read_le64(p); p += 8;
    memcpy(v->signer, p, 32); p += 32;
    memcpy(v->script, p, OS_MAX_PAYOUT_SCRIPT); p += OS_MAX_PAYOUT_SCRIPT;
    memcpy(v->issuer, p, 32); p += 32;
    memcpy(v->sig, p, 64);
    if (!fields_valid(v)) {
        memset(v, 0, sizeof *v);
        return OS_ERR_MSG_MALFORMED;
    }
    return OS_OK;
}

/* TH(tag, a ‖ b): BIP340's tagged hash of two pieces. */
static int tagged_hash(const char *tag, size_t tag_len, const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
                       uint8_t out32[32]) {
    uint8_t tag_hash[32];
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    int ok = mbedtls_sha256_ret((const unsigned char *)tag, tag_len, tag_hash, 0) == 0 &&
             mbedtls_sha256_starts_ret(&ctx, 0) == 0 &&
             mbedtls_sha256_update_ret(&ctx, tag_hash, sizeof tag_hash) == 0 &&
             mbedtls_sha256_update_ret(&ctx, tag_hash, sizeof tag_hash) == 0 &&
             mbedtls_sha256_update_ret(&ctx, a, a_len) == 0 &&
             (b_len == 0 || mbedtls_sha256_update_ret(&ctx, b, b_len) == 0) &&
             mbedtls_sha256_finish_ret(&ctx, out32) == 0;
    mbedtls_sha256_free(&ctx);
    return ok ? OS_OK : OS_ERR_INTERNAL;
}

int os_voucher_id(const os_voucher *v, uint8_t id32[32]) {
    static const char tag[] = "oncesign/voucher";
    uint8_t buf[OS_VOUCHER_BYTES];
    ARG_CHECK(v != NULL && id32 != NULL);
    CHECK_OK(os_voucher_encode(v, buf));
    return tagged_hash(tag, sizeof tag - 1, buf, OS_VOUCHER_SIGNED_BYTES, NULL, 0, id32);
}

int os_approval_hash(const uint8_t tx_digest[32], uint64_t expiry_seq, const uint8_t signer[32], uint8_t out32[32]) {
    static const char tag[] = "oncesign/approval";
    uint8_t buf[32 + 8 + 32];
    ARG_CHECK(tx_digest != NULL && signer != NULL && out32 != NULL);
    memcpy(buf, tx_digest, 32);
    os_write_le64(buf + 32, expiry_seq);
    memcpy(buf + 40, signer, 32);
    return tagged_hash(tag, sizeof tag - 1, buf, sizeof buf, NULL, 0, out32);
}

int os_approval_encode(const os_approval *a, uint8_t out[OS_APPROVAL_BYTES]) {
    ARG_CHECK(a != NULL && out != NULL);
    if (a->expiry_seq == 0) return OS_ERR_MSG_MALFORMED;
    memcpy(out, a->operator_key, 32);
    os_write_le64(out + 32, a->expiry_seq);
    memcpy(out + 40, a->sig, 64);
    return OS_OK;
}

int os_approval_decode(const uint8_t in[OS_APPROVAL_BYTES], os_approval *a) {
    ARG_CHECK(in != NULL && a != NULL);
    memcpy(a->operator_key, in, 32);
    a->expiry_seq = os_read_le64(in + 32);
    memcpy(a->sig, in + 40, 64);
    if (a->expiry_seq == 0) {
        memset(a, 0, sizeof *a);
        return OS_ERR_MSG_MALFORMED;
    }
    return OS_OK;
}

int os_quorum_required(uint8_t n_operators, uint64_t threshold, uint64_t total_payout) {
    return n_operators > 0 && total_payout > threshold;
}
