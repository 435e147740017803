/* oncesign host — the operator's device operations and their admin-socket JSON (contract in
 * device_ops.h). */
#include "device_ops.h"

#include <stdio.h>
#include <string.h>

#include "oncesign/status.h"
#include "rpc.h"

static int failed(os_client *c, int rc, const os_msg *reply, os_device_failure *why) {
    memset(why, 0, sizeof *why);
    if (reply != NULL && reply->type == OS_MSG_ERROR) {
        why->refused = 1;
        why->code = reply->u.error.code;
        why->index = reply->u.error.index;
        os_client_error_text(reply, why->text, sizeof why->text);
        return OS_ERR_DEVICE_REFUSED;
    }
    why->code = rc;
    why->index = 0xFFFF;
    const char *last = os_client_last_error(c);
    if (last[0] != '\0') snprintf(why->text, sizeof why->text, "%s [%s]", last, os_status_name(rc));
    else snprintf(why->text, sizeof why->text, "%s: %s [%s]", os_client_description(c), os_status_message(rc),
                  os_status_name(rc));
    return rc;
}

/* One exchange whose final reply must be of type expect; a refusal or anything else is a failure. */
static int exchange(os_client *c, int timeout_ms, const os_msg *req, os_msg *reply, uint8_t *buf, uint8_t expect,
                    int may_wait, void (*on_wait)(void *), void *ctx, os_device_failure *why) {
    int rc = may_wait ? os_client_call_wait(c, req, reply, buf, timeout_ms, on_wait, ctx)
                 : os_client_call(c, req, reply, buf, timeout_ms);
    if (rc != OS_OK) return failed(c, rc, NULL, why);
    if (reply->type == OS_MSG_ERROR) return failed(c, rc, reply, why);
    if (reply->type != expect) return failed(c, OS_ERR_MSG_UNEXPECTED, NULL, why);
    return OS_OK;
}

int os_device_info(os_client *c, int timeout_ms, os_msg_info *info, os_device_failure *why) {
    if (c == NULL || info == NULL || why == NULL || timeout_ms <= 0) return OS_ERR_ARG;
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    int rc = exchange(c, timeout_ms, &req, &reply, buf, OS_MSG_INFO, 0, NULL, NULL, why);
    if (rc == OS_OK) *info = reply.u.info;
    return rc;
}

int os_device_address(os_client *c, int timeout_ms, const os_device_address_req *q, void (*on_wait)(void *ctx),
                      void *ctx, os_device_address_out *out, os_device_failure *why) {
    if (c == NULL || q == NULL || out == NULL || why == NULL || timeout_ms <= 0) return OS_ERR_ARG;
    os_msg_info info;
    int rc = os_device_info(c, timeout_ms, &info, why);
    if (rc != OS_OK) return rc;
    if (!info.initialized) {
        memset(why, 0, sizeof *why);
        why->refused = 1;
        why->code = OS_ERR_NOT_INITIALIZED;
        why->index = 0xFFFF;
        snprintf(why->text, sizeof why->text, "%s [%s]", os_status_message(OS_ERR_NOT_INITIALIZED),
                 os_status_name(OS_ERR_NOT_INITIALIZED));
        return OS_ERR_DEVICE_REFUSED;
    }
    memset(out, 0, sizeof *out);
    out->network = info.network;
    out->script_type = q->have_script_type ? q->script_type : info.script_type;
    os_msg req, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_ADDRESS;
    req.u.get_address = (os_msg_get_address){ out->script_type, q->account, q->change, q->index, q->show };
    rc = exchange(c, timeout_ms, &req, &reply, buf, OS_MSG_ADDRESS, q->show, on_wait, ctx, why);
    if (rc != OS_OK) return rc;
    size_t len = reply.u.address.len <= OS_MAX_ADDRESS ? reply.u.address.len : OS_MAX_ADDRESS;
    memcpy(out->address, reply.u.address.text, len);
    out->address[len] = '\0';
    return OS_OK;
}

/* ---------------------------------------------------------------- JSON */

static json_t *hex_json(const uint8_t *data, size_t len) {
    char text[2 * 32 + 1];
    if (len > 32) return NULL;
    os_hex_encode(data, len, text);
    return json_string(text);
}

static int hex_field(const json_t *o, const char *key, uint8_t *out, size_t len) {
    const char *s = json_string_value(json_object_get(o, key));
    size_t got = 0;
    if (s == NULL || strlen(s) != 2 * len || os_hex_decode(s, out, len, &got) != OS_OK || got != len) return 0;
    return 1;
}

static int u64_field(const json_t *o, const char *key, uint64_t *out) {
    const json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (uint64_t)json_integer_value(v);
    return 1;
}

static int u8_field(const json_t *o, const char *key, uint8_t *out) {
    uint64_t v = 0;
    if (!u64_field(o, key, &v) || v > 0xFF) return 0;
    *out = (uint8_t)v;
    return 1;
}

json_t *os_device_info_json(const os_msg_info *i) {
    char fw[sizeof i->firmware_version + 1];
    memcpy(fw, i->firmware_version, sizeof i->firmware_version);
    fw[sizeof i->firmware_version] = '\0';
    return json_pack("{s:i,s:s,s:i,s:i,s:i,s:i,s:o,s:I,s:o,s:I,s:I,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I}",
                     "protocol_version", i->protocol_version, "firmware_version", fw, "initialized", i->initialized,
                     "network", i->network, "script_type", i->script_type, "test_only_rng", i->test_only_rng,
                     "nonce_root", hex_json(i->nonce_root, 32), "log_seq", (json_int_t)i->log_seq, "log_head",
                     hex_json(i->log_head, 32), "log_acked_seq", (json_int_t)i->log_acked_seq, "log_capacity",
                     (json_int_t)i->log_capacity, "attestation_pubkey", hex_json(i->attestation_pubkey, 32), "policy",
                     "per_payout_cap", (json_int_t)i->policy.per_payout_cap, "velocity_cap",
                     (json_int_t)i->policy.velocity_cap, "velocity_window_s", (json_int_t)i->policy.velocity_window_s,
                     "fee_cap", (json_int_t)i->policy.fee_cap, "fee_rate_cap", (json_int_t)i->policy.fee_rate_cap,
                     "fee_budget", (json_int_t)i->policy.fee_budget, "state_seq", (json_int_t)i->state_seq);
}

int os_device_info_from_json(const json_t *o, os_msg_info *i) {
    if (!json_is_object(o) || i == NULL) return OS_ERR_MSG_MALFORMED;
    memset(i, 0, sizeof *i);
    const char *fw = json_string_value(json_object_get(o, "firmware_version"));
    const json_t *p = json_object_get(o, "policy");
    uint64_t capacity = 0, window = 0;
    if (fw == NULL || !json_is_object(p) || !u8_field(o, "protocol_version", &i->protocol_version) ||
        !u8_field(o, "initialized", &i->initialized) || !u8_field(o, "network", &i->network) ||
        !u8_field(o, "script_type", &i->script_type) || !u8_field(o, "test_only_rng", &i->test_only_rng) ||
        !hex_field(o, "nonce_root", i->nonce_root, 32) || !u64_field(o, "log_seq", &i->log_seq) ||
        !hex_field(o, "log_head", i->log_head, 32) || !u64_field(o, "log_acked_seq", &i->log_acked_seq) ||
        !u64_field(o, "log_capacity", &capacity) || capacity > UINT32_MAX ||
        !hex_field(o, "attestation_pubkey", i->attestation_pubkey, 32) || !u64_field(o, "state_seq", &i->state_seq) ||
        !u64_field(p, "per_payout_cap", &i->policy.per_payout_cap) || !u64_field(p, "velocity_cap", &i->policy.velocity_cap) ||
        !u64_field(p, "velocity_window_s", &window) || window > UINT32_MAX || !u64_field(p, "fee_cap", &i->policy.fee_cap) ||
        !u64_field(p, "fee_rate_cap", &i->policy.fee_rate_cap) || !u64_field(p, "fee_budget", &i->policy.fee_budget))
        return OS_ERR_MSG_MALFORMED;
    i->log_capacity = (uint32_t)capacity;
    i->policy.velocity_window_s = (uint32_t)window;
    size_t n = strnlen(fw, sizeof i->firmware_version);
    memcpy(i->firmware_version, fw, n);
    return OS_OK;
}

json_t *os_device_address_json(const os_device_address_out *a) {
    return json_pack("{s:s,s:i,s:i}", "address", a->address, "network", a->network, "script_type", a->script_type);
}

int os_device_address_from_json(const json_t *o, os_device_address_out *a) {
    if (!json_is_object(o) || a == NULL) return OS_ERR_MSG_MALFORMED;
    memset(a, 0, sizeof *a);
    const char *s = json_string_value(json_object_get(o, "address"));
    if (s == NULL || strlen(s) > OS_MAX_ADDRESS || !u8_field(o, "network", &a->network) ||
        !u8_field(o, "script_type", &a->script_type))
        return OS_ERR_MSG_MALFORMED;
    memcpy(a->address, s, strlen(s) + 1);
    return OS_OK;
}

json_t *os_device_failure_json(const os_device_failure *why) {
    return json_pack("{s:b,s:i,s:s,s:i,s:s}", "refused", why->refused, "device_code", why->code, "name",
                     os_status_name(why->code), "index", why->index, "text", why->text);
}

int os_device_failure_from_json(const json_t *o, os_device_failure *why) {
    if (!json_is_object(o) || why == NULL) return OS_ERR_MSG_MALFORMED;
    memset(why, 0, sizeof *why);
    const json_t *refused = json_object_get(o, "refused");
    const char *text = json_string_value(json_object_get(o, "text"));
    uint64_t code = 0, index = 0;
    if (!json_is_boolean(refused) || text == NULL || !u64_field(o, "device_code", &code) || code > 0xFFFF ||
        !u64_field(o, "index", &index) || index > 0xFFFF)
        return OS_ERR_MSG_MALFORMED;
    why->refused = json_is_true(refused);
    why->code = (int)code;
    why->index = (uint16_t)index;
    snprintf(why->text, sizeof why->text, "%s", text);
    return OS_OK;
}

json_t *os_engine_status_json(const os_engine_status *st) {
    json_t *counts = json_object();
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST && counts != NULL; s++)
        json_object_set_new(counts, os_payout_status_name((os_payout_status)s), json_integer((json_int_t)st->counts[s]));
    json_t *o = json_pack("{s:o,s:I,s:I,s:b,s:b}", "payouts", counts, "payouts_pending",
                          (json_int_t)st->payouts_pending, "payouts_confirmed", (json_int_t)st->payouts_confirmed,
                          "ledger_ok", st->ledger_ok, "with_signer", st->with_signer);
    if (o != NULL && st->with_signer) {
        json_object_set_new(o, "signer", json_pack("{s:o,s:I,s:o,s:b,s:s}", "nonce_root", hex_json(st->nonce_root, 32),
                                                   "log_seq", (json_int_t)st->log_seq, "log_head",
                                                   hex_json(st->log_head, 32), "matches_ledger", st->matches_ledger,
                                                   "mismatch", st->mismatch));
    }
    return o;
}

int os_engine_status_from_json(const json_t *o, os_engine_status *st) {
    if (!json_is_object(o) || st == NULL) return OS_ERR_MSG_MALFORMED;
    memset(st, 0, sizeof *st);
    const json_t *counts = json_object_get(o, "payouts");
    const json_t *ledger_ok = json_object_get(o, "ledger_ok"), *with_signer = json_object_get(o, "with_signer");
    if (!json_is_object(counts) || !json_is_boolean(ledger_ok) || !json_is_boolean(with_signer) ||
        !u64_field(o, "payouts_pending", &st->payouts_pending) || !u64_field(o, "payouts_confirmed", &st->payouts_confirmed))
        return OS_ERR_MSG_MALFORMED;
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++) {
        if (!u64_field(counts, os_payout_status_name((os_payout_status)s), &st->counts[s])) return OS_ERR_MSG_MALFORMED;
    }
    st->ledger_ok = json_is_true(ledger_ok);
    st->with_signer = json_is_true(with_signer);
    if (!st->with_signer) return OS_OK;
    const json_t *sg = json_object_get(o, "signer");
    const json_t *matches = json_object_get(sg, "matches_ledger");
    const char *why = json_string_value(json_object_get(sg, "mismatch"));
    if (!json_is_object(sg) || !json_is_boolean(matches) || why == NULL || !hex_field(sg, "nonce_root", st->nonce_root, 32) ||
        !hex_field(sg, "log_head", st->log_head, 32) || !u64_field(sg, "log_seq", &st->log_seq))
        return OS_ERR_MSG_MALFORMED;
    st->matches_ledger = json_is_true(matches);
    snprintf(st->mismatch, sizeof st->mismatch, "%s", why);
    return OS_OK;
}
