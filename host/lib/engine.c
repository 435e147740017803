/* oncesign host — the payout engine: service calls on the ledger (this part), and with a signer
 * attached the worker, the reconciler and the start-up check (engine_chain.c). Lifecycle and
 * durability argument: docs/LIFECYCLE.md. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <mbedtls/platform_util.h>

#include "address.h"
#include "engine_internal.h"
#include "errtext.h"
#include "issuer.h"
#include "ledger.h"
#include "log.h"
#include "oncesign/status.h"
#include "random.h"
#include "rpc.h"

#define DUST_LIMIT 546u
#define MAX_MONEY (105120000ull * 100000000ull)

static const char *const status_names[] = {"", "requested", "awaiting_approval", "signing", "signed",
                                           "broadcast", "confirmed", "failed", "awaiting_reanchor"};

const char *os_payout_status_name(os_payout_status s) {
    if (s < OS_PAYOUT_REQUESTED || s > OS_PAYOUT_STATUS_LAST) return "unknown";
    return status_names[s];
}

int os_payout_status_parse(const char *name, os_payout_status *out) {
    if (!name || !out) return OS_ERR_ARG;
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++)
        if (strcmp(name, status_names[s]) == 0) {
            *out = (os_payout_status)s;
            return OS_OK;
        }
    return OS_ERR_ARG;
}

static int sha256(const void *data, size_t len, uint8_t out[32]) {
    return mbedtls_sha256_ret(data, len, out, 0) == 0 ? OS_OK : OS_ERR_CRYPTO;
}

/* ------------------------------------------------------------------ open / close */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static int engine_open_impl(const os_engine_config *cfg, os_client *lent, os_engine **out, char *err,
                            size_t cap) {
    if (!cfg || !out) return OS_ERR_ARG;
    if (err && cap) err[0] = '\0';
    *out = NULL;
    os_engine *e = calloc(1, sizeof *e);
    if (!e) return OS_ERR_IO;
    e->cfg = *cfg;
    e->cfg.db_path = dup_or_null(cfg->db_path ? cfg->db_path : "oncesign.db");
    e->cfg.device = dup_or_null(cfg->device);
    e->cfg.rpc_url = dup_or_null(cfg->rpc_url);
    e->cfg.rpc_user = dup_or_null(cfg->rpc_user);
    e->cfg.rpc_password = dup_or_null(cfg->rpc_password);
    e->cfg.rpc_cookie_file = dup_or_null(cfg->rpc_cookie_file);
    if (!e->cfg.batch_max || e->cfg.batch_max > OS_MAX_OUTPUTS - 1) e->cfg.batch_max = e->cfg.batch_max ? OS_MAX_OUTPUTS - 1 : 50;
    if (!e->cfg.fee_floor) e->cfg.fee_floor = 1000;
    if (!e->cfg.fee_cap) e->cfg.fee_cap = 100000;
    if (e->cfg.fee_cap < e->cfg.fee_floor) e->cfg.fee_cap = e->cfg.fee_floor;
    if (!e->cfg.confirmations_final) e->cfg.confirmations_final = 6;
    if (!e->cfg.reconcile_interval_ms) e->cfg.reconcile_interval_ms = 2000;
    if (!e->cfg.operator_wait_ms) e->cfg.operator_wait_ms = 60000;
    if (!e->cfg.rpc_timeout_ms) e->cfg.rpc_timeout_ms = 5000;
    pthread_mutex_init(&e->mu, NULL);
    /* Waits are timed on CLOCK_MONOTONIC: a step of the wall clock must not stall the worker. */
    pthread_condattr_t wake_attr;
    pthread_condattr_init(&wake_attr);
    pthread_condattr_setclock(&wake_attr, CLOCK_MONOTONIC);
    pthread_cond_init(&e->wake, &wake_attr);
    pthread_condattr_destroy(&wake_attr);
    pthread_mutex_init(&e->sign_mu, NULL);
    pthread_mutex_init(&e->rpc_mu, NULL);
    pthread_mutex_init(&e->recon_mu, NULL);
    if (e->cfg.ledger_must_exist && access(e->cfg.db_path, F_OK) != 0) {
        if (err && cap)
            snprintf(err, cap, "no ledger at %s (%s); a new ledger is created only when asked: oncesignd --init,"
                               " or oncesign ledger init --db PATH", e->cfg.db_path, strerror(errno));
        os_engine_close(e);
        return OS_ERR_DB;
    }
    int rc = os_ledger_open(e->cfg.db_path, &e->ledger, err, cap);
    if (rc != OS_OK) {
        os_engine_close(e);
        return rc;
    }
    if (e->cfg.device || lent) {
        rc = engine_attach(e, lent, err, cap);
        if (rc != OS_OK && rc != OS_ERR_SIGNER_MISMATCH) {
            os_engine_close(e);
            return rc;
        }
        if (rc == OS_ERR_SIGNER_MISMATCH) {
            /* Fail closed but stay inspectable: the caller decides whether to serve read-only. */
            *out = e;
            return rc;
        }
    }
    *out = e;
    return OS_OK;
}

int os_engine_open(const os_engine_config *cfg, os_engine **out, char *err, size_t cap) {
    return engine_open_impl(cfg, NULL, out, err, cap);
}

int os_engine_open_client(const os_engine_config *cfg, os_client *client, os_engine **out, char *err, size_t cap) {
    if (!client) return OS_ERR_ARG;
    return engine_open_impl(cfg, client, out, err, cap);
}

void os_engine_close(os_engine *e) {
    if (!e) return;
    os_engine_stop(e);
    engine_detach(e);
    os_ledger_close(e->ledger);
    free((char *)e->cfg.db_path);
    free((char *)e->cfg.device);
    free((char *)e->cfg.rpc_url);
    free((char *)e->cfg.rpc_user);
    free((char *)e->cfg.rpc_password);
    free((char *)e->cfg.rpc_cookie_file);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->wake);
    pthread_mutex_destroy(&e->sign_mu);
    pthread_mutex_destroy(&e->rpc_mu);
    pthread_mutex_destroy(&e->recon_mu);
    free(e);
}

/* ------------------------------------------------------------------ validation */

static int check_amount(const os_engine *e, uint64_t amount) {
    if (amount == 0 || amount < DUST_LIMIT || amount > MAX_MONEY) return OS_ERR_AMOUNT;
    if (e->cfg.max_payout && amount > e->cfg.max_payout) return OS_ERR_AMOUNT;
    return OS_OK;
}

static int check_address(const os_engine *e, const char *address, uint8_t script[OS_MAX_PAYOUT_SCRIPT],
                         size_t *script_len) {
    if (!address) return OS_ERR_ARG;
    size_t n = strnlen(address, OS_MAX_ADDRESS + 1);
    if (n == 0 || n > OS_MAX_ADDRESS) return OS_ERR_ADDRESS;
    if (address_to_script(e->cfg.network, address, script, OS_MAX_PAYOUT_SCRIPT, script_len) != OS_OK)
        return OS_ERR_ADDRESS;
    return OS_OK;
}

/* params hash of a payout request: what an idempotency key is bound to. */

/* ------------------------------------------------------------------ codes */

static int code_hash_of(const char *code, uint8_t hash[32]) {
    if (!code) return OS_ERR_ARG;
    size_t n = strnlen(code, 65);
    if (n == 0 || n > 64) return OS_ERR_NOT_FOUND;
    return sha256(code, n, hash);
}

/* What the host can check of a voucher before storing it: its signature under its own issuer key,
 * its network, and that its nonce is not taken. Registration, the signer key and expiry are the
 * signer's to judge (it refuses and logs). */
static int voucher_acceptable(os_engine *e, const os_voucher *v) {
    int rc = os_voucher_check(v, NULL);
    if (rc != OS_OK) return rc;
    if (v->network != e->cfg.network) return OS_ERR_VOUCHER_MISMATCH;
    os_voucher stored;
    rc = os_ledger_voucher_get(e->ledger, v->nonce, &stored);
    if (rc != OS_ERR_NOT_FOUND) return rc == OS_OK ? OS_ERR_IDEMPOTENCY : rc;
    int known = 0;
    if ((rc = os_ledger_nonce_known(e->ledger, v->nonce, &known)) != OS_OK) return rc;
    return known ? OS_ERR_IDEMPOTENCY : OS_OK;
}

static int issue_code(os_engine *e, uint64_t amount, const os_voucher *v, int64_t expires_at, char code_out[65],
                      os_code_info *info) {
    if (!e || !code_out) return OS_ERR_ARG;
    int rc = check_amount(e, amount);
    if (rc != OS_OK) return rc;
    if (expires_at < 0) return OS_ERR_ARG;
    if (v == NULL && e->cfg.vouchers_required) return OS_ERR_VOUCHER_MISSING;
    if (v != NULL && (rc = voucher_acceptable(e, v)) != OS_OK) return rc;
    uint8_t secret[16], hash[32], nonce[32];
    if (os_random_bytes(secret, sizeof secret) != OS_OK || os_random_bytes(nonce, sizeof nonce) != OS_OK) return OS_ERR_IO;
    /* With a voucher the issuer made the nonce: the host invents none. */
    if (v != NULL) memcpy(nonce, v->nonce, 32);
    char code[33];
    os_hex_encode(secret, sizeof secret, code);
    mbedtls_platform_zeroize(secret, sizeof secret);
    if (sha256(code, 32, hash) != OS_OK) return OS_ERR_CRYPTO;
    int64_t now = engine_now();
    os_ledger_lock(e->ledger);
    rc = os_ledger_begin(e->ledger);
    if (rc == OS_OK) rc = os_ledger_code_insert(e->ledger, hash, nonce, amount, now, expires_at);
    if (rc == OS_OK && v != NULL) rc = os_ledger_voucher_put(e->ledger, v);
    if (rc == OS_OK) rc = os_ledger_commit(e->ledger);
    else os_ledger_rollback(e->ledger);
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) {
        mbedtls_platform_zeroize(code, sizeof code);
        return rc;
    }
    memcpy(code_out, code, 33);
    mbedtls_platform_zeroize(code, sizeof code);
    __atomic_add_fetch(&e->m_codes_issued, 1, __ATOMIC_RELAXED);
    if (info) {
        memset(info, 0, sizeof *info);
        os_hex_encode(hash, 16, info->code_id);
        info->amount = amount;
        info->created_at = now;
        info->expires_at = expires_at;
    }
    return OS_OK;
}

int os_engine_issue_code(os_engine *e, uint64_t amount, int64_t expires_at, char code_out[65], os_code_info *info) {
    return issue_code(e, amount, NULL, expires_at, code_out, info);
}

int os_engine_issue_voucher_code(os_engine *e, const os_voucher *v, int64_t expires_at, char code_out[65],
                                 os_code_info *info) {
    if (!v) return OS_ERR_ARG;
    return issue_code(e, v->amount, v, expires_at, code_out, info);
}

int os_engine_code_lookup(os_engine *e, const char *code, os_code_info *info) {
    if (!e || !code || !info) return OS_ERR_ARG;
    uint8_t hash[32];
    int rc = code_hash_of(code, hash);
    if (rc != OS_OK) return rc;
    os_ledger_code c;
    rc = os_ledger_code_find(e->ledger, hash, &c);
    if (rc != OS_OK) return rc;
    memset(info, 0, sizeof *info);
    os_hex_encode(hash, 16, info->code_id);
    info->amount = c.amount;
    info->created_at = c.created_at;
    info->expires_at = c.expires_at;
    info->redeemed = c.payout_id != 0;
    info->payout_id = c.payout_id;
    return OS_OK;
}

int os_engine_redeem(os_engine *e, const char *code, const char *address, os_payout_info *out, int *created) {
    if (!e || !code || !address || !out) return OS_ERR_ARG;
    if (created) *created = 0;
    uint8_t hash[32], script[OS_MAX_PAYOUT_SCRIPT], ph[32];
    size_t script_len = 0;
    int rc = code_hash_of(code, hash);
    if (rc != OS_OK) return rc;
    rc = check_address(e, address, script, &script_len);
    if (rc != OS_OK) return rc;
    os_ledger_code c;
    int64_t payout_id = 0;
    int made = 0;
    os_ledger_lock(e->ledger);
    if ((rc = os_ledger_begin(e->ledger)) != OS_OK) goto out;
    if ((rc = os_ledger_code_find(e->ledger, hash, &c)) != OS_OK) goto rollback;
    if (c.payout_id) {
        /* Already redeemed: the same payout, whatever address this caller gave. */
        payout_id = c.payout_id;
        os_ledger_rollback(e->ledger);
        rc = os_ledger_payout_get(e->ledger, payout_id, out);
        goto out;
    }
    if (c.expires_at && engine_now() >= c.expires_at) {
        rc = OS_ERR_CODE_EXPIRED;
        goto rollback;
    }
    /* a restore could not tell whether a payout after the backup paid this code: redeeming it could
     * pay twice (docs/RECOVERY.md; GET /v1/recovery lists it) */
    int held = 0;
    if ((rc = os_ledger_code_held(e->ledger, c.row, &held)) != OS_OK) goto rollback;
    if (held) {
        rc = OS_ERR_RECOVERING;
        goto rollback;
    }
    {
        /* A voucher that names a destination is paid there only (the signer refuses any other). */
        os_voucher v;
        int vrc = os_ledger_voucher_get(e->ledger, c.nonce, &v);
        if (vrc != OS_OK && vrc != OS_ERR_NOT_FOUND) {
            rc = vrc;
            goto rollback;
        }
        if (vrc == OS_OK && (v.flags & OS_VOUCHER_DESTINATION) &&
            (script_len != v.script_len || memcmp(script, v.script, script_len) != 0)) {
            rc = OS_ERR_VOUCHER_DESTINATION;
            goto rollback;
        }
    }
    if ((rc = engine_params_hash(address, c.amount, ph)) != OS_OK) goto rollback;
    os_ledger_new_payout np = {.code_row = c.row, .amount = c.amount, .script = script, .script_len = script_len,
                               .address = address, .now = engine_now()};
    memcpy(np.params_hash, ph, 32);
    memcpy(np.nonce, c.nonce, 32);
    if ((rc = os_ledger_payout_insert(e->ledger, &np, &payout_id)) != OS_OK) goto rollback;
    engine_crash_point(e, "mid-redeem");
    /* The compare-and-set: only a row still without a payout takes this one. */
    if ((rc = os_ledger_code_claim(e->ledger, c.row, payout_id)) != OS_OK) goto rollback;
    if ((rc = os_ledger_commit(e->ledger)) != OS_OK) goto out;
    made = 1;
    rc = os_ledger_payout_get(e->ledger, payout_id, out);
    goto out;
rollback:
    os_ledger_rollback(e->ledger);
out:
    os_ledger_unlock(e->ledger);
    if (rc == OS_OK) {
        __atomic_add_fetch(&e->m_redeems, 1, __ATOMIC_RELAXED);
        if (made) {
            if (created) *created = 1;
            engine_wake_worker(e);
        }
    }
    return rc;
}

int os_engine_payout_create(os_engine *e, const char *idempotency_key, const char *address, uint64_t amount,
                            os_payout_info *out, int *created) {
    return os_engine_payout_create_vouched(e, idempotency_key, address, amount, NULL, out, created);
}

int os_engine_payout_create_vouched(os_engine *e, const char *idempotency_key, const char *address, uint64_t amount,
                                    const os_voucher *v, os_payout_info *out, int *created) {
    if (!e || !idempotency_key || !address || !out) return OS_ERR_ARG;
    if (created) *created = 0;
    size_t klen = strnlen(idempotency_key, 129);
    if (klen == 0 || klen > 128) return OS_ERR_ARG;
    uint8_t script[OS_MAX_PAYOUT_SCRIPT], ph[32], nonce[32];
    size_t script_len = 0;
    int rc = check_address(e, address, script, &script_len);
    if (rc != OS_OK) return rc;
    if ((rc = check_amount(e, amount)) != OS_OK) return rc;
    if ((rc = engine_params_hash(address, amount, ph)) != OS_OK) return rc;
    if (os_random_bytes(nonce, sizeof nonce) != OS_OK) return OS_ERR_IO;
    if (v == NULL && e->cfg.vouchers_required) return OS_ERR_VOUCHER_MISSING;
    if (v != NULL) {
        if (amount > v->amount) return OS_ERR_VOUCHER_AMOUNT;
        if ((v->flags & OS_VOUCHER_DESTINATION) &&
            (script_len != v->script_len || memcmp(script, v->script, script_len) != 0))
            return OS_ERR_VOUCHER_DESTINATION;
        if ((rc = voucher_acceptable(e, v)) != OS_OK) return rc;
        memcpy(nonce, v->nonce, 32);
    }
    int64_t payout_id = 0;
    int made = 0;
    uint8_t have_ph[32];
    os_ledger_lock(e->ledger);
    if ((rc = os_ledger_begin(e->ledger)) != OS_OK) goto out;
    rc = os_ledger_payout_by_idem(e->ledger, idempotency_key, &payout_id, have_ph);
    if (rc != OS_ERR_NOT_FOUND) {
        /* the key was used: the same payout when the parameters match */
        os_ledger_rollback(e->ledger);
        if (rc == OS_OK && memcmp(have_ph, ph, 32) != 0) rc = OS_ERR_IDEMPOTENCY;
        if (rc == OS_OK) rc = os_ledger_payout_get(e->ledger, payout_id, out);
        goto out;
    }
    os_ledger_new_payout np = {.idem_key = idempotency_key, .amount = amount, .script = script,
                               .script_len = script_len, .address = address, .now = engine_now()};
    memcpy(np.params_hash, ph, 32);
    memcpy(np.nonce, nonce, 32);
    rc = OS_OK;   /* the key is new (OS_ERR_NOT_FOUND above) */
    if (v != NULL) {
        /* checked inside the transaction: a voucher's nonce pays one payout */
        int known = 0;
        rc = os_ledger_nonce_known(e->ledger, nonce, &known);
        if (rc == OS_OK && known) rc = OS_ERR_IDEMPOTENCY;
    }
    if (rc == OS_OK) rc = os_ledger_payout_insert(e->ledger, &np, &payout_id);
    if (rc == OS_OK && v != NULL) rc = os_ledger_voucher_put(e->ledger, v);
    if (rc != OS_OK) {
        os_ledger_rollback(e->ledger);
        goto out;
    }
    if ((rc = os_ledger_commit(e->ledger)) != OS_OK) goto out;
    made = 1;
    rc = os_ledger_payout_get(e->ledger, payout_id, out);
out:
    os_ledger_unlock(e->ledger);
    if (rc == OS_OK && made) {
        if (created) *created = 1;
        __atomic_add_fetch(&e->m_payouts_created, 1, __ATOMIC_RELAXED);
        engine_wake_worker(e);
    }
    return rc;
}

os_ledger *os_engine_ledger(os_engine *e) {
    return e != NULL ? e->ledger : NULL;
}

int os_engine_apikey_create(os_engine *e, const char *name, uint32_t scopes, char secret_out[69], int64_t *id) {
    if (!e || !name || !secret_out || !id) return OS_ERR_ARG;
    uint8_t raw[32], hash[32];
    int rc = os_random_bytes(raw, sizeof raw);
    if (rc != OS_OK) return rc;
    memcpy(secret_out, "osk_", 4);
    os_hex_encode(raw, sizeof raw, secret_out + 4);
    rc = sha256(secret_out, 68, hash);
    if (rc == OS_OK) rc = os_ledger_apikey_create(e->ledger, name, hash, scopes, (int64_t)time(NULL), id);
    mbedtls_platform_zeroize(raw, sizeof raw);
    if (rc != OS_OK) mbedtls_platform_zeroize(secret_out, 69);
    return rc;
}

int os_engine_payout_get(os_engine *e, int64_t id, os_payout_info *out) {
    if (!e || !out) return OS_ERR_ARG;
    return os_ledger_payout_get(e->ledger, id, out);
}

int os_engine_payout_cancel(os_engine *e, int64_t id) {
    if (!e) return OS_ERR_ARG;
    int rc = os_ledger_payout_cancel(e->ledger, id, "cancelled by the operator", engine_now());
    if (rc == OS_OK) {
        os_log_field f[] = { OS_LOG_INT("payout_id", id) };
        os_log(OS_LOG_NOTICE, "payout.cancelled", f, 1, "payout %lld cancelled by the operator", (long long)id);
    }
    return rc;
}

int os_engine_payout_list(os_engine *e, os_payout_status status, int64_t after_id, size_t limit,
                          os_payout_info *out, size_t *n) {
    if (!e || !n || (limit && !out)) return OS_ERR_ARG;
    *n = 0;
    if (status && (status < OS_PAYOUT_REQUESTED || status > OS_PAYOUT_STATUS_LAST)) return OS_ERR_ARG;
    return os_ledger_payout_list(e->ledger, status, after_id, limit, out, n);
}

int os_engine_health_get(os_engine *e, os_engine_health *out) {
    if (!e || !out) return OS_ERR_ARG;
    memset(out, 0, sizeof *out);
    uint64_t counts[OS_PAYOUT_STATUS_LAST + 1] = {0};
    int rc = os_ledger_payout_counts(e->ledger, counts);
    out->payouts_pending = os_payouts_pending(counts);
    out->payouts_confirmed = counts[OS_PAYOUT_CONFIRMED];
    out->payouts_awaiting_approval = counts[OS_PAYOUT_AWAITING_APPROVAL];
    out->payouts_awaiting_reanchor = counts[OS_PAYOUT_AWAITING_REANCHOR];
    if (rc == OS_OK) rc = os_ledger_payouts_awaiting_quorum(e->ledger, &out->payouts_awaiting_quorum);
    if (rc == OS_OK) rc = os_ledger_payouts_awaiting_respend(e->ledger, &out->payouts_awaiting_replacement);
    out->ledger_ok = rc == OS_OK;
    pthread_mutex_lock(&e->mu);
    out->signer_ok = e->device_attached && !e->signer_mismatch && e->signer_reachable && e->signer_checked;
    out->signing_disabled = e->signer_mismatch || e->recovering;
    out->recovering = e->recovering;
    if (e->recovering)
        os_errf(out->recovery, sizeof out->recovery, "%s: %s", os_recovery_phase_name(e->recovery_phase),
                e->recovery_reason);
    out->fee_capped = e->fee_capped;
    out->fee_estimate = e->fee_estimate;
    out->wallet_ok = 1;
    for (int k = ENGINE_WALLET_CALLS - 1; k >= 0; k--) {
        if (!e->wallet_failing[k]) continue;
        out->wallet_ok = 0;
        snprintf(out->wallet_error, sizeof out->wallet_error, "%s", e->wallet_error[k]);
    }
    if (e->signer_mismatch)
        snprintf(out->signer_error, sizeof out->signer_error, "signer mismatch: %s", e->mismatch_reason);
    else if (!e->device_attached)
        snprintf(out->signer_error, sizeof out->signer_error, "no signer attached");
    else if (!e->signer_checked)
        snprintf(out->signer_error, sizeof out->signer_error, "signer not checked since start-up (retrying): %s",
                 e->signer_wait_reason);
    else if (!e->signer_reachable)
        snprintf(out->signer_error, sizeof out->signer_error, "signer unreachable (reconnecting)");
    out->node_ok = e->node_ok;
    out->node_height = e->node_height;
    out->payouts_waiting_for_funds = e->payouts_aside;
    out->signer_log_seq = e->signer_log_seq;
    /* written once, at the first start-up check, before signer_checked is set */
    out->signer_attestation_known = e->signer_checked;
    if (e->signer_checked) memcpy(out->signer_attestation_key, e->attestation_key, 32);
    out->vouchers_required = e->cfg.vouchers_required;
    pthread_mutex_unlock(&e->mu);
    return OS_OK;
}

int os_engine_signing_disabled(os_engine *e, char *why, size_t cap) {
    if (!e) return 0;
    pthread_mutex_lock(&e->mu);
    int rc = OS_OK;
    if (e->signer_mismatch) {
        rc = OS_ERR_SIGNER_MISMATCH;
        if (why && cap) snprintf(why, cap, "signing is disabled: signer mismatch: %s", e->mismatch_reason);
    } else if (e->recovering) {
        /* nothing is answered from a restored ledger before it caught up with the signer and the chain */
        rc = OS_ERR_RECOVERING;
        if (why && cap)
            snprintf(why, cap, "the ledger is recovering from a restore (%s: %s); GET /v1/recovery",
                     os_recovery_phase_name(e->recovery_phase), e->recovery_reason);
    } else if (e->device_attached && !e->signer_checked) {
        /* Nothing is accepted before the start-up check says this ledger belongs to this signer (I6). */
        rc = OS_ERR_SIGNER_UNAVAILABLE;
        if (why && cap)
            snprintf(why, cap, "signing is not yet enabled: the signer has not passed the start-up check (%s);"
                               " retrying", e->signer_wait_reason);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int os_engine_metrics(os_engine *e, char *buf, size_t cap, size_t *len) {
    if (!e || !buf || !len) return OS_ERR_ARG;
    uint64_t counts[OS_PAYOUT_STATUS_LAST + 1];
    int rc = os_ledger_payout_counts(e->ledger, counts);
    uint64_t commits = os_ledger_commits(e->ledger);
    if (rc != OS_OK) return rc;
    os_engine_health h;
    os_engine_health_get(e, &h);
    size_t off = 0;
#define EMIT(...)                                                                \
    do {                                                                         \
        int w_ = snprintf(buf + off, off < cap ? cap - off : 0, __VA_ARGS__);    \
        if (w_ < 0 || (size_t)w_ >= (off < cap ? cap - off : 0)) return OS_ERR_BUFFER; \
        off += (size_t)w_;                                                       \
    } while (0)
    EMIT("# HELP oncesign_payouts Payouts in the ledger by status.\n# TYPE oncesign_payouts gauge\n");
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_STATUS_LAST; s++)
        EMIT("oncesign_payouts{status=\"%s\"} %llu\n", status_names[s], (unsigned long long)counts[s]);
    EMIT("# TYPE oncesign_ledger_commits_total counter\noncesign_ledger_commits_total %llu\n",
         (unsigned long long)commits);
    EMIT("# TYPE oncesign_codes_issued_total counter\noncesign_codes_issued_total %llu\n",
         (unsigned long long)e->m_codes_issued);
    EMIT("# TYPE oncesign_redeems_total counter\noncesign_redeems_total %llu\n", (unsigned long long)e->m_redeems);
    EMIT("# TYPE oncesign_payout_requests_total counter\noncesign_payout_requests_total %llu\n",
         (unsigned long long)e->m_payouts_created);
    EMIT("# TYPE oncesign_transactions_signed_total counter\noncesign_transactions_signed_total %llu\n",
         (unsigned long long)e->m_tx_signed);
    EMIT("# TYPE oncesign_payouts_signed_total counter\noncesign_payouts_signed_total %llu\n",
         (unsigned long long)e->m_payouts_signed);
    EMIT("# TYPE oncesign_broadcasts_total counter\n");
    EMIT("oncesign_broadcasts_total{result=\"sent\"} %llu\n", (unsigned long long)e->m_bc_sent);
    EMIT("oncesign_broadcasts_total{result=\"not_sent\"} %llu\n", (unsigned long long)e->m_bc_not_sent);
    EMIT("oncesign_broadcasts_total{result=\"unknown\"} %llu\n", (unsigned long long)e->m_bc_unknown);
    EMIT("oncesign_broadcasts_total{result=\"check_chain\"} %llu\n", (unsigned long long)e->m_bc_check_chain);
    EMIT("# TYPE oncesign_signer_refusals_total counter\noncesign_signer_refusals_total %llu\n",
         (unsigned long long)e->m_sign_refused);
    EMIT("# TYPE oncesign_reconcile_passes_total counter\noncesign_reconcile_passes_total %llu\n",
         (unsigned long long)e->m_recon_passes);
    EMIT("# HELP oncesign_anchors_lost_total transactions whose anchor a foreign transaction spent (payouts"
         " awaiting_reanchor)\n# TYPE oncesign_anchors_lost_total counter\noncesign_anchors_lost_total %llu\n",
         (unsigned long long)e->m_anchor_lost);
    EMIT("# HELP oncesign_inputs_spent_elsewhere_total transactions an input of which (not the anchor) a foreign"
         " transaction spent, replaced on their anchor\n# TYPE oncesign_inputs_spent_elsewhere_total counter\n"
         "oncesign_inputs_spent_elsewhere_total %llu\n",
         (unsigned long long)e->m_inputs_lost);
    EMIT("# TYPE oncesign_up gauge\noncesign_up{part=\"ledger\"} %d\noncesign_up{part=\"signer\"} %d\n"
         "oncesign_up{part=\"node\"} %d\n",
         h.ledger_ok, h.signer_ok, h.node_ok);
    EMIT("oncesign_up{part=\"wallet\"} %d\n", h.wallet_ok);
    EMIT("# HELP oncesign_wallet_errors_total failed monacoind wallet calls by call (health: wallet)\n"
         "# TYPE oncesign_wallet_errors_total counter\n");
    pthread_mutex_lock(&e->mu);
    uint64_t wallet_errors[ENGINE_WALLET_CALLS];
    memcpy(wallet_errors, e->m_wallet_errors, sizeof wallet_errors);
    pthread_mutex_unlock(&e->mu);
    for (int k = 0; k < ENGINE_WALLET_CALLS; k++)
        EMIT("oncesign_wallet_errors_total{call=\"%s\"} %llu\n", engine_wallet_call_names[k],
             (unsigned long long)wallet_errors[k]);
    EMIT("# TYPE oncesign_node_height gauge\noncesign_node_height %llu\n", (unsigned long long)h.node_height);
    EMIT("# TYPE oncesign_signer_log_seq gauge\noncesign_signer_log_seq %llu\n",
         (unsigned long long)h.signer_log_seq);
#undef EMIT
    *len = off;
    return OS_OK;
}

int os_engine_balance(os_engine *e, uint64_t *confirmed, uint64_t *unconfirmed) {
    if (!e || !confirmed || !unconfirmed) return OS_ERR_ARG;
    /* the chain's balance (issue 9, defect 4): coins spent outside oncesignd are not in it; without a
     * node to ask, the ledger's coins are all there is */
    if (e->device_attached && engine_chain_balance(e, confirmed, unconfirmed) == OS_OK) return OS_OK;
    return os_ledger_balance(e->ledger, confirmed, unconfirmed);
}

int os_engine_backup(os_engine *e, const char *out_path, os_backup_marker *marker, char *err, size_t cap) {
    if (!e || !out_path || !marker) return OS_ERR_ARG;
    int rc = os_ledger_backup(e->ledger, out_path, engine_now(), marker, err, cap);
    if (rc != OS_OK)
        engine_log("error", "ledger backup to %s failed (%s): %s", out_path, os_status_name(rc), err ? err : "");
    return rc;
}

int os_engine_backup_verify(const char *path, os_backup_marker *marker, char *err, size_t cap) {
    return os_ledger_backup_verify(path, marker, err, cap);
}
