/* oncesign host — the payout engine: service calls on the ledger (this part), and with a signer
 * attached the worker, the reconciler and the start-up check (engine_chain.c). Lifecycle and
 * durability argument: docs/LIFECYCLE.md. */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <mbedtls/platform_util.h>

#include "address.h"
#include "engine_internal.h"
#include "ledger.h"
#include "oncesign/status.h"

#define DUST_LIMIT 546u
#define MAX_MONEY (105120000ull * 100000000ull)

static const char *const status_names[] = {"", "requested", "awaiting_approval", "signing", "signed",
                                           "broadcast", "confirmed", "failed"};

const char *os_payout_status_name(os_payout_status s) {
    if (s < OS_PAYOUT_REQUESTED || s > OS_PAYOUT_FAILED) return "unknown";
    return status_names[s];
}

int os_payout_status_parse(const char *name, os_payout_status *out) {
    if (!name || !out) return OS_ERR_ARG;
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_FAILED; s++)
        if (strcmp(name, status_names[s]) == 0) {
            *out = (os_payout_status)s;
            return OS_OK;
        }
    return OS_ERR_ARG;
}

int64_t engine_now(void) { return (int64_t)time(NULL); }

void engine_crash_point(os_engine *e, const char *point) {
    const char *spec = getenv("ONCESIGN_CRASH_AT");
    if (!spec || !*spec) return;
    size_t n = strlen(point);
    if (strncmp(spec, point, n) != 0 || (spec[n] != '\0' && spec[n] != ':')) return;
    long want = spec[n] == ':' ? strtol(spec + n + 1, NULL, 10) : 1;
    long seen = __atomic_add_fetch(&e->crash_hits, 1, __ATOMIC_SEQ_CST);
    if (seen >= want) {
        fprintf(stderr, "oncesignd: ONCESIGN_CRASH_AT=%s: exiting at %s\n", spec, point);
        _exit(137);
    }
}

static int random_bytes(uint8_t *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n <= 0) return OS_ERR_IO;
        done += (size_t)n;
    }
    return OS_OK;
}

static int sha256(const void *data, size_t len, uint8_t out[32]) {
    return mbedtls_sha256_ret(data, len, out, 0) == 0 ? OS_OK : OS_ERR_CRYPTO;
}

static void hex(const uint8_t *d, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
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

void engine_wake_worker(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->work_pending = 1;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

/* ------------------------------------------------------------------ rows → structs */

#define PAYOUT_SELECT                                                                                         \
    "SELECT p.id, p.status, p.amount, p.address, coalesce(p.idem_key, ''), c.code_hash, t.txid,"             \
    " p.confirmations, p.created_at, p.updated_at, p.error FROM payouts p"                                   \
    " LEFT JOIN codes c ON c.id = p.code_row LEFT JOIN txs t ON t.id = p.tx_row "

static void payout_from_row(sqlite3_stmt *st, os_payout_info *o) {
    memset(o, 0, sizeof *o);
    o->id = sqlite3_column_int64(st, 0);
    o->status = (os_payout_status)sqlite3_column_int(st, 1);
    o->amount = (uint64_t)sqlite3_column_int64(st, 2);
    snprintf(o->address, sizeof o->address, "%s", (const char *)sqlite3_column_text(st, 3));
    snprintf(o->idempotency_key, sizeof o->idempotency_key, "%s", (const char *)sqlite3_column_text(st, 4));
    if (sqlite3_column_bytes(st, 5) == 32) hex(sqlite3_column_blob(st, 5), 16, o->code_id);
    if (sqlite3_column_bytes(st, 6) == 32) {
        memcpy(o->txid, sqlite3_column_blob(st, 6), 32);
        o->has_txid = 1;
    }
    o->confirmations = (uint32_t)sqlite3_column_int64(st, 7);
    o->created_at = sqlite3_column_int64(st, 8);
    o->updated_at = sqlite3_column_int64(st, 9);
    snprintf(o->error, sizeof o->error, "%s", (const char *)sqlite3_column_text(st, 10));
}

/* On a locked ledger. */
static int payout_get_locked(os_engine *e, int64_t id, os_payout_info *out) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(os_ledger_db(e->ledger), PAYOUT_SELECT "WHERE p.id = ?", -1, &st, NULL) != SQLITE_OK)
        return OS_ERR_DB;
    sqlite3_bind_int64(st, 1, id);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW) {
        payout_from_row(st, out);
        rc = OS_OK;
    } else {
        rc = r == SQLITE_DONE ? OS_ERR_NOT_FOUND : OS_ERR_DB;
    }
    sqlite3_finalize(st);
    return rc;
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
static int params_hash(const char *address, uint64_t amount, uint8_t out[32]) {
    uint8_t buf[8 + OS_MAX_ADDRESS + 1];
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(amount >> (8 * i));
    size_t n = strlen(address);
    memcpy(buf + 8, address, n);
    return sha256(buf, 8 + n, out);
}

/* ------------------------------------------------------------------ codes */

static int code_hash_of(const char *code, uint8_t hash[32]) {
    if (!code) return OS_ERR_ARG;
    size_t n = strnlen(code, 65);
    if (n == 0 || n > 64) return OS_ERR_NOT_FOUND;
    return sha256(code, n, hash);
}

int os_engine_issue_code(os_engine *e, uint64_t amount, int64_t expires_at, char code_out[65], os_code_info *info) {
    if (!e || !code_out) return OS_ERR_ARG;
    int rc = check_amount(e, amount);
    if (rc != OS_OK) return rc;
    if (expires_at < 0) return OS_ERR_ARG;
    uint8_t secret[16], hash[32], nonce[32];
    if (random_bytes(secret, sizeof secret) != OS_OK || random_bytes(nonce, sizeof nonce) != OS_OK) return OS_ERR_IO;
    char code[33];
    hex(secret, sizeof secret, code);
    mbedtls_platform_zeroize(secret, sizeof secret);
    if (sha256(code, 32, hash) != OS_OK) return OS_ERR_CRYPTO;
    int64_t now = engine_now();
    os_ledger_lock(e->ledger);
    sqlite3 *db = os_ledger_db(e->ledger);
    sqlite3_stmt *st = NULL;
    rc = OS_ERR_DB;
    if (sqlite3_prepare_v2(db, "INSERT INTO codes (code_hash, nonce, amount, created_at, expires_at) VALUES (?,?,?,?,?)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, nonce, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)amount);
        sqlite3_bind_int64(st, 4, now);
        sqlite3_bind_int64(st, 5, expires_at);
        if (sqlite3_step(st) == SQLITE_DONE) rc = OS_OK;
    }
    sqlite3_finalize(st);
    if (rc == OS_OK) e->ledger_commits_autocommit++;
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) return rc;
    memcpy(code_out, code, 33);
    mbedtls_platform_zeroize(code, sizeof code);
    __atomic_add_fetch(&e->m_codes_issued, 1, __ATOMIC_RELAXED);
    if (info) {
        memset(info, 0, sizeof *info);
        hex(hash, 16, info->code_id);
        info->amount = amount;
        info->created_at = now;
        info->expires_at = expires_at;
    }
    return OS_OK;
}

/* On a locked ledger: the code's row. */
typedef struct {
    int64_t row, payout_id, created_at, expires_at;
    uint64_t amount;
    uint8_t nonce[32];
} code_row;

static int code_find_locked(os_engine *e, const uint8_t hash[32], code_row *c) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(os_ledger_db(e->ledger),
                           "SELECT id, coalesce(payout_id, 0), created_at, expires_at, amount, nonce FROM codes"
                           " WHERE code_hash = ?",
                           -1, &st, NULL) != SQLITE_OK)
        return OS_ERR_DB;
    sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
    int r = sqlite3_step(st), rc;
    if (r == SQLITE_ROW) {
        c->row = sqlite3_column_int64(st, 0);
        c->payout_id = sqlite3_column_int64(st, 1);
        c->created_at = sqlite3_column_int64(st, 2);
        c->expires_at = sqlite3_column_int64(st, 3);
        c->amount = (uint64_t)sqlite3_column_int64(st, 4);
        memcpy(c->nonce, sqlite3_column_blob(st, 5), 32);
        rc = OS_OK;
    } else {
        rc = r == SQLITE_DONE ? OS_ERR_NOT_FOUND : OS_ERR_DB;
    }
    sqlite3_finalize(st);
    return rc;
}

int os_engine_code_lookup(os_engine *e, const char *code, os_code_info *info) {
    if (!e || !code || !info) return OS_ERR_ARG;
    uint8_t hash[32];
    int rc = code_hash_of(code, hash);
    if (rc != OS_OK) return rc;
    code_row c;
    os_ledger_lock(e->ledger);
    rc = code_find_locked(e, hash, &c);
    os_ledger_unlock(e->ledger);
    if (rc != OS_OK) return rc;
    memset(info, 0, sizeof *info);
    hex(hash, 16, info->code_id);
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
    os_ledger_lock(e->ledger);
    sqlite3 *db = os_ledger_db(e->ledger);
    code_row c;
    int64_t payout_id = 0;
    int made = 0;
    if ((rc = os_ledger_begin(e->ledger)) != OS_OK) goto out;
    if ((rc = code_find_locked(e, hash, &c)) != OS_OK) goto rollback;
    if (c.payout_id) {
        /* Already redeemed: the same payout, whatever address this caller gave. */
        payout_id = c.payout_id;
        os_ledger_rollback(e->ledger);
        rc = payout_get_locked(e, payout_id, out);
        goto out;
    }
    if (c.expires_at && engine_now() >= c.expires_at) {
        rc = OS_ERR_CODE_EXPIRED;
        goto rollback;
    }
    if ((rc = params_hash(address, c.amount, ph)) != OS_OK) goto rollback;
    {
        sqlite3_stmt *st = NULL;
        int64_t now = engine_now();
        rc = OS_ERR_DB;
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO payouts (params_hash, code_row, nonce, amount, script, address, status,"
                               " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_blob(st, 1, ph, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, c.row);
            sqlite3_bind_blob(st, 3, c.nonce, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, (int64_t)c.amount);
            sqlite3_bind_blob(st, 5, script, (int)script_len, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, address, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 7, OS_PAYOUT_REQUESTED);
            sqlite3_bind_int64(st, 8, now);
            sqlite3_bind_int64(st, 9, now);
            if (sqlite3_step(st) == SQLITE_DONE) rc = OS_OK;
        }
        sqlite3_finalize(st);
        if (rc != OS_OK) goto rollback;
        payout_id = sqlite3_last_insert_rowid(db);
        engine_crash_point(e, "mid-redeem");
        /* The compare-and-set: only a row still without a payout takes this one. */
        rc = OS_ERR_DB;
        if (sqlite3_prepare_v2(db, "UPDATE codes SET payout_id = ? WHERE id = ? AND payout_id IS NULL", -1, &st,
                               NULL) == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, payout_id);
            sqlite3_bind_int64(st, 2, c.row);
            if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1) rc = OS_OK;
        }
        sqlite3_finalize(st);
        if (rc != OS_OK) goto rollback;
    }
    if ((rc = os_ledger_commit(e->ledger)) != OS_OK) goto out;
    made = 1;
    rc = payout_get_locked(e, payout_id, out);
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
    if (!e || !idempotency_key || !address || !out) return OS_ERR_ARG;
    if (created) *created = 0;
    size_t klen = strnlen(idempotency_key, 129);
    if (klen == 0 || klen > 128) return OS_ERR_ARG;
    uint8_t script[OS_MAX_PAYOUT_SCRIPT], ph[32], nonce[32];
    size_t script_len = 0;
    int rc = check_address(e, address, script, &script_len);
    if (rc != OS_OK) return rc;
    if ((rc = check_amount(e, amount)) != OS_OK) return rc;
    if ((rc = params_hash(address, amount, ph)) != OS_OK) return rc;
    if (random_bytes(nonce, sizeof nonce) != OS_OK) return OS_ERR_IO;
    os_ledger_lock(e->ledger);
    sqlite3 *db = os_ledger_db(e->ledger);
    sqlite3_stmt *st = NULL;
    int64_t payout_id = 0;
    int made = 0;
    if ((rc = os_ledger_begin(e->ledger)) != OS_OK) goto out;
    rc = OS_ERR_DB;
    if (sqlite3_prepare_v2(db, "SELECT id, params_hash FROM payouts WHERE idem_key = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, idempotency_key, -1, SQLITE_STATIC);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            payout_id = sqlite3_column_int64(st, 0);
            rc = sqlite3_column_bytes(st, 1) == 32 && memcmp(sqlite3_column_blob(st, 1), ph, 32) == 0
                     ? OS_OK
                     : OS_ERR_IDEMPOTENCY;
        } else if (r == SQLITE_DONE) {
            rc = OS_OK;
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc != OS_OK || payout_id) {
        os_ledger_rollback(e->ledger);
        if (rc == OS_OK) rc = payout_get_locked(e, payout_id, out);
        goto out;
    }
    {
        int64_t now = engine_now();
        rc = OS_ERR_DB;
        if (sqlite3_prepare_v2(db,
                               "INSERT INTO payouts (idem_key, params_hash, nonce, amount, script, address, status,"
                               " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, idempotency_key, -1, SQLITE_STATIC);
            sqlite3_bind_blob(st, 2, ph, 32, SQLITE_STATIC);
            sqlite3_bind_blob(st, 3, nonce, 32, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, (int64_t)amount);
            sqlite3_bind_blob(st, 5, script, (int)script_len, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, address, -1, SQLITE_STATIC);
            sqlite3_bind_int(st, 7, OS_PAYOUT_REQUESTED);
            sqlite3_bind_int64(st, 8, now);
            sqlite3_bind_int64(st, 9, now);
            if (sqlite3_step(st) == SQLITE_DONE) rc = OS_OK;
        }
        sqlite3_finalize(st);
        if (rc != OS_OK) {
            os_ledger_rollback(e->ledger);
            goto out;
        }
        payout_id = sqlite3_last_insert_rowid(db);
    }
    if ((rc = os_ledger_commit(e->ledger)) != OS_OK) goto out;
    made = 1;
    rc = payout_get_locked(e, payout_id, out);
out:
    os_ledger_unlock(e->ledger);
    if (rc == OS_OK && made) {
        if (created) *created = 1;
        __atomic_add_fetch(&e->m_payouts_created, 1, __ATOMIC_RELAXED);
        engine_wake_worker(e);
    }
    return rc;
}

int os_engine_payout_get(os_engine *e, int64_t id, os_payout_info *out) {
    if (!e || !out) return OS_ERR_ARG;
    os_ledger_lock(e->ledger);
    int rc = payout_get_locked(e, id, out);
    os_ledger_unlock(e->ledger);
    return rc;
}

int os_engine_payout_list(os_engine *e, os_payout_status status, int64_t after_id, size_t limit,
                          os_payout_info *out, size_t *n) {
    if (!e || !n || (limit && !out)) return OS_ERR_ARG;
    *n = 0;
    if (status && (status < OS_PAYOUT_REQUESTED || status > OS_PAYOUT_FAILED)) return OS_ERR_ARG;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = NULL;
    int rc = OS_ERR_DB;
    if (sqlite3_prepare_v2(os_ledger_db(e->ledger),
                           PAYOUT_SELECT "WHERE p.id > ? AND (? = 0 OR p.status = ?) ORDER BY p.id LIMIT ?", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, after_id);
        sqlite3_bind_int(st, 2, (int)status);
        sqlite3_bind_int(st, 3, (int)status);
        sqlite3_bind_int64(st, 4, (int64_t)limit);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW && *n < limit) payout_from_row(st, &out[(*n)++]);
        rc = r == SQLITE_DONE || r == SQLITE_ROW ? OS_OK : OS_ERR_DB;
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    return rc;
}

/* On a locked ledger: payouts per status. */
static int count_by_status(os_engine *e, uint64_t counts[OS_PAYOUT_FAILED + 1]) {
    memset(counts, 0, sizeof(uint64_t) * (OS_PAYOUT_FAILED + 1));
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(os_ledger_db(e->ledger), "SELECT status, count(*) FROM payouts GROUP BY status", -1, &st,
                           NULL) != SQLITE_OK)
        return OS_ERR_DB;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0);
        if (s >= OS_PAYOUT_REQUESTED && s <= OS_PAYOUT_FAILED) counts[s] = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return r == SQLITE_DONE ? OS_OK : OS_ERR_DB;
}

int os_engine_health_get(os_engine *e, os_engine_health *out) {
    if (!e || !out) return OS_ERR_ARG;
    memset(out, 0, sizeof *out);
    uint64_t counts[OS_PAYOUT_FAILED + 1];
    os_ledger_lock(e->ledger);
    int rc = count_by_status(e, counts);
    os_ledger_unlock(e->ledger);
    out->ledger_ok = rc == OS_OK;
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_BROADCAST; s++) out->payouts_pending += counts[s];
    out->payouts_confirmed = counts[OS_PAYOUT_CONFIRMED];
    pthread_mutex_lock(&e->mu);
    out->signer_ok = e->device_attached && !e->signer_mismatch && e->signer_reachable;
    out->signing_disabled = e->signer_mismatch;
    out->fee_capped = e->fee_capped;
    out->fee_estimate = e->fee_estimate;
    if (e->signer_mismatch)
        snprintf(out->signer_error, sizeof out->signer_error, "signer mismatch: %s", e->mismatch_reason);
    else if (!e->device_attached)
        snprintf(out->signer_error, sizeof out->signer_error, "no signer attached");
    else if (!e->signer_reachable)
        snprintf(out->signer_error, sizeof out->signer_error, "signer unreachable (reconnecting)");
    out->node_ok = e->node_ok;
    out->node_height = e->node_height;
    out->signer_log_seq = e->signer_log_seq;
    pthread_mutex_unlock(&e->mu);
    return OS_OK;
}

int os_engine_signing_disabled(os_engine *e, char *why, size_t cap) {
    if (!e) return 0;
    pthread_mutex_lock(&e->mu);
    int disabled = e->signer_mismatch;
    if (disabled && why && cap) snprintf(why, cap, "%s", e->mismatch_reason);
    pthread_mutex_unlock(&e->mu);
    return disabled;
}

int os_engine_metrics(os_engine *e, char *buf, size_t cap, size_t *len) {
    if (!e || !buf || !len) return OS_ERR_ARG;
    uint64_t counts[OS_PAYOUT_FAILED + 1];
    os_ledger_lock(e->ledger);
    int rc = count_by_status(e, counts);
    uint64_t commits = os_ledger_commits(e->ledger) + e->ledger_commits_autocommit;
    os_ledger_unlock(e->ledger);
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
    for (int s = OS_PAYOUT_REQUESTED; s <= OS_PAYOUT_FAILED; s++)
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
    EMIT("# TYPE oncesign_up gauge\noncesign_up{part=\"ledger\"} %d\noncesign_up{part=\"signer\"} %d\n"
         "oncesign_up{part=\"node\"} %d\n",
         h.ledger_ok, h.signer_ok, h.node_ok);
    EMIT("# TYPE oncesign_node_height gauge\noncesign_node_height %llu\n", (unsigned long long)h.node_height);
    EMIT("# TYPE oncesign_signer_log_seq gauge\noncesign_signer_log_seq %llu\n",
         (unsigned long long)h.signer_log_seq);
#undef EMIT
    *len = off;
    return OS_OK;
}

int os_engine_balance(os_engine *e, uint64_t *confirmed, uint64_t *unconfirmed) {
    if (!e || !confirmed || !unconfirmed) return OS_ERR_ARG;
    *confirmed = *unconfirmed = 0;
    os_ledger_lock(e->ledger);
    sqlite3_stmt *st = NULL;
    int rc = OS_ERR_DB;
    if (sqlite3_prepare_v2(os_ledger_db(e->ledger),
                           "SELECT coalesce(sum(CASE WHEN height > 0 THEN amount END), 0),"
                           " coalesce(sum(CASE WHEN height = 0 THEN amount END), 0) FROM coins WHERE state = 0",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *confirmed = (uint64_t)sqlite3_column_int64(st, 0);
        *unconfirmed = (uint64_t)sqlite3_column_int64(st, 1);
        rc = OS_OK;
    }
    sqlite3_finalize(st);
    os_ledger_unlock(e->ledger);
    return rc;
}
