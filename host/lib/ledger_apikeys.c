/* oncesign host — the ledger's API keys and their uses (contract in ledger.h). */
#include <stdio.h>
#include <string.h>

#include "ledger_internal.h"
#include "oncesign/status.h"

static int valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}

int os_ledger_apikey_create(os_ledger *l, const char *name, const uint8_t hash[32], uint32_t scopes, int64_t now,
                            int64_t *id) {
    if (!l || !name || !hash || !id || !valid_name(name) || scopes == 0 || (scopes & ~OS_SCOPE_ALL) != 0)
        return OS_ERR_ARG;
    int rc = ledger_op_begin(l);
    if (rc != OS_OK) return rc;
    int64_t existing = 0;
    rc = ledger_int(l, &existing, "SELECT id FROM api_keys WHERE name = ? OR key_hash = ?", "tb", name, hash, 32);
    if (rc == OS_OK) {
        rc = OS_ERR_IDEMPOTENCY;
    } else if (rc == OS_ERR_NOT_FOUND) {
        rc = ledger_run(l, NULL, "INSERT INTO api_keys (name, key_hash, scopes, created_at) VALUES (?, ?, ?, ?)",
                        "tbii", name, hash, 32, (int64_t)scopes, now);
        if (rc == OS_OK) rc = ledger_int(l, id, "SELECT id FROM api_keys WHERE name = ?", "t", name);
    }
    return ledger_op_end(l, rc);
}

int os_ledger_apikey_revoke(os_ledger *l, const char *name, int64_t now) {
    if (!l || !name) return OS_ERR_ARG;
    int changes = 0;
    int rc = ledger_run(l, &changes, "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", "it",
                        now, name);
    if (rc == OS_OK && changes == 0) rc = OS_ERR_NOT_FOUND;
    return rc;
}

static void read_key(sqlite3_stmt *st, os_apikey_info *k) {
    memset(k, 0, sizeof *k);
    k->id = sqlite3_column_int64(st, 0);
    const unsigned char *name = sqlite3_column_text(st, 1);
    if (name != NULL) snprintf(k->name, sizeof k->name, "%s", (const char *)name);
    k->scopes = (uint32_t)sqlite3_column_int64(st, 2);
    k->created_at = sqlite3_column_int64(st, 3);
    k->revoked_at = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 4);
    k->uses = (uint64_t)sqlite3_column_int64(st, 5);
}

#define KEY_COLUMNS \
    "SELECT id, name, scopes, created_at, revoked_at, (SELECT count(*) FROM api_key_uses u WHERE u.key_id = k.id) " \
    "FROM api_keys k "

int os_ledger_apikey_find(os_ledger *l, const uint8_t hash[32], os_apikey_info *out) {
    if (!l || !hash || !out) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, KEY_COLUMNS "WHERE key_hash = ?", "b", hash, 32);
    if (rc != OS_OK) return rc;
    read_key(st, out);
    return ledger_query_end(l, st, SQLITE_ROW);
}

int os_ledger_apikey_each(os_ledger *l, int (*f)(void *ctx, const os_apikey_info *k), void *ctx) {
    if (!l || !f) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    int rc = ledger_query(l, &st, KEY_COLUMNS "ORDER BY id", "");
    if (rc == OS_ERR_NOT_FOUND) return OS_OK;
    if (rc != OS_OK) return rc;
    int step = SQLITE_ROW;
    while (step == SQLITE_ROW) {
        os_apikey_info k;
        read_key(st, &k);
        if (f(ctx, &k) != 0) break;
        step = sqlite3_step(st);
    }
    return ledger_query_end(l, st, step);
}

int os_ledger_apikey_use(os_ledger *l, int64_t key_id, int64_t now, const char *action, const char *object,
                         unsigned http_status) {
    if (!l || key_id <= 0 || !action || !object) return OS_ERR_ARG;
    return ledger_run(l, NULL, "INSERT INTO api_key_uses (key_id, at, action, object, http_status) VALUES (?, ?, ?, ?, ?)",
                      "iitti", key_id, now, action, object, (int64_t)http_status);
}
