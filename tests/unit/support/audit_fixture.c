/* oncesign tests — see audit_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit_fixture.h"
#include "audit_log.h"
#include "nonce_set.h"
#include "oncesign/status.h"
#include "signer_harness.h"

int audit_fixture_export(os_client *c, os_audit_log *log, os_msg_info *info) {
    char err[256] = "";
    if (os_audit_export_device(c, 5000, log, info, err, sizeof err) != OS_OK) {
        fprintf(stderr, "export: %s\n", err);
        return -1;
    }
    harness_stop();
    return 0;
}

os_audit_log audit_fixture_copy(const os_audit_log *log) {
    os_audit_log l = *log;
    l.entries = malloc(log->n * OS_LOG_ENTRY_BYTES);
    assert_non_null(l.entries);
    memcpy(l.entries, log->entries, log->n * OS_LOG_ENTRY_BYTES);
    return l;
}

size_t audit_fixture_index_of(const os_audit_log *l, uint8_t type, size_t nth) {
    for (size_t i = 0; i < l->n; i++)
        if (l->entries[i][AUDIT_LOG_OFF_TYPE] == type && nth-- == 0) return i;
    fail_msg("no entry of type %u", type);
    return 0;
}

os_ledger *audit_fixture_ledger(char *path, size_t cap, const char *prefix) {
    assert_true((size_t)snprintf(path, cap, "%s-XXXXXX", prefix) < cap);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    os_ledger *l = NULL;
    char err[256];
    assert_int_equal(os_ledger_open(path, &l, err, sizeof err), OS_OK);
    return l;
}

void audit_fixture_drop_ledger(os_ledger *l, const char *path) {
    os_ledger_close(l);
    char companion[96];
    unlink(path);
    snprintf(companion, sizeof companion, "%s-wal", path);
    unlink(companion);
    snprintf(companion, sizeof companion, "%s-shm", path);
    unlink(companion);
}

void audit_fixture_exec(os_ledger *l, const char *sql) {
    os_ledger_lock(l);
    assert_int_equal(os_ledger_exec(l, sql), OS_OK);
    os_ledger_unlock(l);
}

void audit_fixture_put_leaf(sqlite3 *db, const os_sign_output *o, const os_outpoint *anchor, int64_t tx_row) {
    uint8_t key[32], value[32];
    sqlite3_stmt *st = NULL;
    assert_int_equal(nonce_set_key(o->nonce, key), OS_OK);
    assert_int_equal(nonce_set_leaf_value(anchor, o->script, o->script_len, o->amount, value), OS_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO tree_leaves (key, value, nonce, anchor_txid, anchor_vout, script,"
                                        " amount, tx_row) VALUES (?,?,?,?,?,?,?,?)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_blob(st, 1, key, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, value, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, o->nonce, 32, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, anchor->txid, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, anchor->vout);
    sqlite3_bind_blob(st, 6, o->script, o->script_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (int64_t)o->amount);
    sqlite3_bind_int64(st, 8, tx_row);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}
