/* oncesign host — the ledger's connection, pragmas and versioned migrations (see ledger.h). */
#include "ledger.h"

#include <pthread.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "ledger_internal.h"
#include "oncesign/status.h"

/* v1: the tables the payout lifecycle needs. */
static const char MIGRATION_V1[] =
    "CREATE TABLE codes ("
    "  id INTEGER PRIMARY KEY,"
    "  code_hash BLOB NOT NULL UNIQUE CHECK (length(code_hash) = 32),"   /* SHA-256 of the secret */
    "  nonce BLOB NOT NULL UNIQUE CHECK (length(nonce) = 32),"
    "  amount INTEGER NOT NULL CHECK (amount > 0),"
    "  created_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL DEFAULT 0,"
    "  payout_id INTEGER UNIQUE REFERENCES payouts(id)"                  /* set once: the CAS */
    ");"
    "CREATE TABLE payouts ("
    "  id INTEGER PRIMARY KEY,"
    "  idem_key TEXT UNIQUE,"                                            /* NULL for redemptions */
    "  params_hash BLOB NOT NULL,"
    "  code_row INTEGER UNIQUE REFERENCES codes(id),"
    "  nonce BLOB NOT NULL UNIQUE CHECK (length(nonce) = 32),"
    "  amount INTEGER NOT NULL CHECK (amount > 0),"
    "  script BLOB NOT NULL,"
    "  address TEXT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  tx_row INTEGER REFERENCES txs(id),"                               /* current transaction */
    "  anchor_txid BLOB, anchor_vout INTEGER,"                           /* once committed */
    "  confirmations INTEGER NOT NULL DEFAULT 0,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE txs ("
    "  id INTEGER PRIMARY KEY,"
    "  state INTEGER NOT NULL,"
    "  draft BLOB NOT NULL,"                   /* the exact os_sign_tx, replayable after a crash */
    "  raw BLOB, txid BLOB,"                   /* once signed: stored before the first broadcast */
    "  replaces INTEGER REFERENCES txs(id),"
    "  anchor_txid BLOB NOT NULL, anchor_vout INTEGER NOT NULL,"
    "  fee INTEGER NOT NULL, n_payouts INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '',"
    "  confirmations INTEGER NOT NULL DEFAULT 0, block_height INTEGER NOT NULL DEFAULT 0,"
    "  log_seq INTEGER, root_after BLOB, root_before BLOB,"
    "  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE tx_payouts ("
    "  tx_row INTEGER NOT NULL REFERENCES txs(id),"
    "  payout_id INTEGER NOT NULL REFERENCES payouts(id),"
    "  PRIMARY KEY (tx_row, payout_id)"
    ");"
    "CREATE TABLE coins ("
    "  id INTEGER PRIMARY KEY,"
    "  txid BLOB NOT NULL, vout INTEGER NOT NULL,"
    "  amount INTEGER NOT NULL, script BLOB NOT NULL, script_type INTEGER NOT NULL,"
    "  change INTEGER NOT NULL, addr_index INTEGER NOT NULL,"
    "  prev_tx BLOB NOT NULL,"                 /* the signer verifies every input against it (I4) */
    "  height INTEGER NOT NULL DEFAULT 0,"     /* 0: unconfirmed */
    "  state INTEGER NOT NULL DEFAULT 0,"
    "  reserved_by INTEGER REFERENCES txs(id),"
    "  UNIQUE (txid, vout)"
    ");"
    "CREATE TABLE tree_leaves ("
    "  key BLOB PRIMARY KEY, value BLOB NOT NULL, nonce BLOB NOT NULL,"
    "  anchor_txid BLOB NOT NULL, anchor_vout INTEGER NOT NULL,"
    "  script BLOB NOT NULL, amount INTEGER NOT NULL,"
    "  tx_row INTEGER REFERENCES txs(id)"
    ");"
    "CREATE TABLE signer_log ("
    "  seq INTEGER PRIMARY KEY, entry BLOB NOT NULL, entry_hash BLOB NOT NULL,"
    "  verified INTEGER NOT NULL, acked INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE TABLE addresses ("
    "  change INTEGER NOT NULL, addr_index INTEGER NOT NULL, script_type INTEGER NOT NULL,"
    "  address TEXT NOT NULL, script BLOB NOT NULL, imported INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (change, addr_index)"
    ");";

/* v2: named values (the attestation key pinned at first start, the log position the tree accounts
 * for, address counters), each transaction's BIP143 hashPrevouts/hashOutputs (how the signer's SIGN
 * log entries named it until v5), and the indexes the worker and the API list by. */
static const char MIGRATION_V2[] =
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);"
    "ALTER TABLE txs ADD COLUMN hash_prevouts BLOB;"
    "ALTER TABLE txs ADD COLUMN hash_outputs BLOB;"
    "CREATE INDEX payouts_status ON payouts(status, id);"
    "CREATE INDEX txs_state ON txs(state);"
    "CREATE INDEX coins_state ON coins(state, height);";

/* v3: the fee-bump signal as data (it travelled as last_error text), carried over from v2's text. */
static const char MIGRATION_V3[] =
    "ALTER TABLE txs ADD COLUMN needs_bump INTEGER NOT NULL DEFAULT 0;"
    "UPDATE txs SET needs_bump = 1 WHERE state = 2 AND last_error LIKE 'fee-too-low:%';";

/* v4: scoped API keys (only SHA-256 of each secret), and every use of one: who did what, when. */
static const char MIGRATION_V4[] =
    "CREATE TABLE api_keys ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, key_hash BLOB NOT NULL UNIQUE,"
    "  scopes INTEGER NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);"
    "CREATE TABLE api_key_uses ("
    "  id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL REFERENCES api_keys(id), at INTEGER NOT NULL,"
    "  action TEXT NOT NULL, object TEXT NOT NULL, http_status INTEGER NOT NULL);"
    "CREATE INDEX api_key_uses_key ON api_key_uses(key_id, id);";

/* v5: the signer's SIGN entry names a transaction by hashPrevouts and its transaction digest
 * (proto/tx_digest.h: version, locktime, sequences, inputs, outputs) instead of hashOutputs. The
 * column is renamed and every row's digest recomputed from its draft (fill_tx_digests below). */
static const char MIGRATION_V5[] = "ALTER TABLE txs RENAME COLUMN hash_outputs TO tx_digest;"
                                   "UPDATE txs SET tx_digest = NULL;";   /* no row keeps a hashOutputs */

/* v6: the webhook outbox (docs/API.md "Webhooks"). A trigger writes an event row in the same
 * transaction as the payout status change it reports, whichever code path made it, so an event can
 * neither be lost by a crash after the change nor exist for a change that rolled back. Only while
 * meta "webhooks" is 1 (oncesignd with a webhook-url sets it): a ledger without webhooks collects
 * nothing. Each row is a snapshot of the payout at the change: a retry sends the same body. Payout
 * status values: 2 awaiting_approval, 5 broadcast, 6 confirmed, 7 failed, 8 awaiting_reanchor
 * (os_payout_status). */
static const char MIGRATION_V6[] =
    "CREATE TABLE webhook_outbox ("
    "  id INTEGER PRIMARY KEY,"
    "  event_id TEXT NOT NULL UNIQUE,"                                   /* 32 hex digits, random */
    "  payout_id INTEGER NOT NULL, status INTEGER NOT NULL,"
    "  amount INTEGER NOT NULL, address TEXT NOT NULL,"
    "  code_id BLOB, idem_key TEXT, txid BLOB,"
    "  confirmations INTEGER NOT NULL, error TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at_ms INTEGER NOT NULL DEFAULT 0,"                          /* not before (unix ms) */
    "  last_error TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX webhook_outbox_due ON webhook_outbox(next_at_ms, id);"
    "CREATE TRIGGER webhook_payout_status AFTER UPDATE OF status ON payouts"
    " WHEN NEW.status <> OLD.status AND NEW.status IN (2, 5, 6, 7, 8)"
    "  AND EXISTS (SELECT 1 FROM meta WHERE k = 'webhooks' AND v = X'01')"
    " BEGIN"
    "  INSERT INTO webhook_outbox (event_id, payout_id, status, amount, address, code_id, idem_key, txid,"
    "                              confirmations, error, created_at)"
    "  VALUES (lower(hex(randomblob(16))), NEW.id, NEW.status, NEW.amount, NEW.address,"
    "          (SELECT substr(code_hash, 1, 16) FROM codes WHERE id = NEW.code_row), NEW.idem_key,"
    "          (SELECT txid FROM txs WHERE id = NEW.tx_row), NEW.confirmations, NEW.error, NEW.updated_at);"
    " END;";

/* v7: re-anchored leaves (issue 10). A committed payout moved to a new anchor keeps its tree_leaves
 * row as first committed (the audit replay inserts it at that transaction's SIGN entry) and gets a
 * row here per move, with the value it has from the moving transaction's SIGN entry on; the current
 * value of a key is its newest move, else its leaf. */
static const char MIGRATION_V7[] =
    "CREATE TABLE tree_moves ("
    "  id INTEGER PRIMARY KEY, key BLOB NOT NULL, value BLOB NOT NULL,"
    "  anchor_txid BLOB NOT NULL, anchor_vout INTEGER NOT NULL,"
    "  tx_row INTEGER NOT NULL REFERENCES txs(id), UNIQUE (key, tx_row));"
    "CREATE INDEX tree_moves_tx ON tree_moves(tx_row);";

/* v8: recovery of a ledger restored from a backup older than the signer's last signature, and of a
 * replaced signer (docs/RECOVERY.md): each SIGN entry the backup lacked and the transaction found for it
 * on chain or in the mempool (NULL txid: never seen), each output of such a transaction that pays
 * someone, what it was matched to (a payout of the backup, a code the backup held unredeemed), and
 * the codes held because a payout of their amount cannot be told apart from them; the archived log of
 * a replaced device, under its attestation key. */
static const char MIGRATION_V8[] =
    "CREATE TABLE recovery_txs ("
    "  log_seq INTEGER PRIMARY KEY, tx_digest BLOB NOT NULL, txid BLOB, raw BLOB,"
    "  confirmations INTEGER NOT NULL DEFAULT 0, found_at INTEGER NOT NULL);"
    "CREATE TABLE recovery_outputs ("
    "  id INTEGER PRIMARY KEY, log_seq INTEGER NOT NULL REFERENCES recovery_txs(log_seq),"
    "  txid BLOB NOT NULL, vout INTEGER NOT NULL, address TEXT NOT NULL, script BLOB NOT NULL,"
    "  amount INTEGER NOT NULL, payout_id INTEGER REFERENCES payouts(id), code_row INTEGER REFERENCES codes(id),"
    "  how TEXT NOT NULL DEFAULT '', UNIQUE (txid, vout));"
    "CREATE TABLE recovery_held_codes ("
    "  code_row INTEGER PRIMARY KEY REFERENCES codes(id), log_seq INTEGER NOT NULL, amount INTEGER NOT NULL);"
    "CREATE TABLE signer_log_retired ("
    "  device_key BLOB NOT NULL, seq INTEGER NOT NULL, entry BLOB NOT NULL, entry_hash BLOB NOT NULL,"
    "  PRIMARY KEY (device_key, seq));";

/* v9: issuer vouchers (issue 14). The voucher a code was issued with, or a withdrawal asked with,
 * keyed by its nonce (the code's and its payout's): the engine forwards it with the payout's first
 * SIGN_OUTPUT, and again on every replay of that draft. Stored as the 214 bytes of PROTOCOL.md §2.7. */
static const char MIGRATION_V9[] =
    "CREATE TABLE vouchers ("
    "  nonce BLOB PRIMARY KEY CHECK (length(nonce) = 32),"
    "  voucher BLOB NOT NULL CHECK (length(voucher) = 214)"
    ");";

/* v10: scenario (d)'s chain scan resumes where the last pass ended (meta recovery_chain_scanned):
 * the wallet outputs of transactions that paid the wallet without spending from it (deposits to an
 * address the lost ledger handed out) are kept here, so a spend of one in a block a later pass reads
 * is still known as the dead device's. */
static const char MIGRATION_V10[] =
    "CREATE TABLE recovery_chain_deposits ("
    "  txid BLOB NOT NULL CHECK (length(txid) = 32), vout INTEGER NOT NULL, PRIMARY KEY (txid, vout));";

/* v11: operator approvals (issue 14, DESIGN.md §8 "Host flow"), and an index of the archived log by
 * entry type (the newest OPERATORS entry is the operator set). Each approval an operator posted for a
 * transaction digest, kept until it is used, expires, or its key leaves the signer's set: a re-sign of
 * the same draft (same digest) uses them again. txs.quorum_wait: 0 the draft is not held for approvals;
 * 1 it is, and holds fewer than k (the worker passes it by); 2 an approval arrived since (the worker
 * looks again). */
static const char MIGRATION_V11[] =
    "CREATE TABLE approvals ("
    "  tx_digest BLOB NOT NULL CHECK (length(tx_digest) = 32),"
    "  operator_key BLOB NOT NULL CHECK (length(operator_key) = 32),"
    "  expiry_seq INTEGER NOT NULL, sig BLOB NOT NULL CHECK (length(sig) = 64),"
    "  received_at INTEGER NOT NULL, api_key_id INTEGER REFERENCES api_keys(id),"
    "  PRIMARY KEY (tx_digest, operator_key));"
    "ALTER TABLE txs ADD COLUMN quorum_wait INTEGER NOT NULL DEFAULT 0;"
    /* the newest entry of a type (the operator set: OPERATORS) without scanning the archive; the
     * expression is the entry's type byte (AUDIT_LOG_OFF_TYPE 1, substr counts from 1) */
    "CREATE INDEX signer_log_type ON signer_log(substr(entry, 2, 1), seq);";

static const char *const migrations[OS_LEDGER_SCHEMA_VERSION] = {MIGRATION_V1, MIGRATION_V2, MIGRATION_V3,
                                                                  MIGRATION_V4, MIGRATION_V5, MIGRATION_V6,
                                                                  MIGRATION_V7, MIGRATION_V8, MIGRATION_V9,
                                                                  MIGRATION_V10, MIGRATION_V11};

static void set_err(char *err, size_t cap, const char *what, sqlite3 *db) {
    if (err && cap) snprintf(err, cap, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

static int exec_raw(sqlite3 *db, const char *sql) {
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? OS_OK : OS_ERR_DB;
}

static int read_version(sqlite3 *db, int *version) {
    sqlite3_stmt *st = NULL;
    *version = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'",
                           -1, &st, NULL) != SQLITE_OK)
        return OS_ERR_DB;
    int has = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1;
    sqlite3_finalize(st);
    if (!has) return OS_OK;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_version", -1, &st, NULL) != SQLITE_OK)
        return OS_ERR_DB;
    int rc = OS_ERR_DB;
    if (sqlite3_step(st) == SQLITE_ROW) {
        *version = sqlite3_column_int(st, 0);
        rc = OS_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* PRAGMA quick_check (every page and b-tree's structure, no index-content cross check; its cost on a
 * large ledger is in docs/OPERATING.md): a ledger that fails it is refused with the first problems
 * it names, before anything reads or writes it. */
/* The one message for a ledger SQLite finds damaged, wherever it is found (what: the step, found:
 * what SQLite said). */
static void corrupt_err(char *err, size_t cap, const char *path, const char *what, const char *found) {
    if (err && cap)
        snprintf(err, cap, "the ledger %s is corrupt (%s: %s): restore it from a backup (a ledger.db"
                           " and its -wal belong together)", path, what, found);
}

static int check_integrity(sqlite3 *db, const char *path, char *err, size_t cap) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check(3)", -1, &st, NULL) != SQLITE_OK) {
        corrupt_err(err, cap, path, "PRAGMA quick_check", sqlite3_errmsg(db));
        return OS_ERR_DB;
    }
    char found[384] = "";
    size_t used = 0;
    int r, ok = 0;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") == 0) ok = 1;
        else if (line && used < sizeof found)
            used += (size_t)snprintf(found + used, sizeof found - used, "%s%s", used ? "; " : "", line);
    }
    if (r != SQLITE_DONE && !found[0]) snprintf(found, sizeof found, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (ok && r == SQLITE_DONE) return OS_OK;
    for (char *p = found; *p; p++)
        if (*p == '\n') *p = ' ';   /* one log line */
    corrupt_err(err, cap, path, "PRAGMA quick_check", found);
    return OS_ERR_DB;
}

/* Migration v5's data step, in its transaction: each row's tx_digest from its stored draft (the
 * exact os_sign_tx, so the digest is the one the signer computed). A draft that does not decode
 * (OS_ERR_DB) keeps a NULL digest: such a row can be neither signed nor replayed (os_ledger_tx_draft
 * refuses it too), so no SIGN entry can name it, and the auditor's cross-check reports any entry
 * that names it as unmatched. Any other failure (memory, SQLite) fails the migration. */
static int fill_tx_digests(sqlite3 *db) {
    sqlite3_stmt *sel = NULL, *upd = NULL;
    int rc = OS_OK;
    if (sqlite3_prepare_v2(db, "SELECT id, draft FROM txs ORDER BY id", -1, &sel, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "UPDATE txs SET tx_digest = ? WHERE id = ?", -1, &upd, NULL) != SQLITE_OK) {
        rc = OS_ERR_DB;
        goto done;
    }
    int step;
    while (rc == OS_OK && (step = sqlite3_step(sel)) == SQLITE_ROW) {
        os_draft d;
        uint8_t hp[32], digest[32];
        const void *blob = sqlite3_column_blob(sel, 1);
        int len = sqlite3_column_bytes(sel, 1);
        if (blob == NULL || len <= 0) continue;   /* NOT NULL in the schema; an empty one decodes to nothing */
        rc = os_draft_decode(blob, (size_t)len, &d);
        if (rc == OS_ERR_DB) {
            rc = OS_OK;
            continue;
        }
        if (rc != OS_OK) break;
        rc = os_draft_commitment(&d.tx, hp, digest);
        os_draft_free(&d);
        if (rc != OS_OK) break;
        sqlite3_reset(upd);
        sqlite3_bind_blob(upd, 1, digest, 32, SQLITE_STATIC);
        sqlite3_bind_int64(upd, 2, sqlite3_column_int64(sel, 0));
        if (sqlite3_step(upd) != SQLITE_DONE) rc = OS_ERR_DB;
    }
    if (rc == OS_OK && step != SQLITE_DONE) rc = OS_ERR_DB;
done:
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    return rc;
}

static int migrate(sqlite3 *db, int target, char *err, size_t cap) {
    /* The version check and each step happen under the write lock, so two processes opening a fresh
     * file at once cannot both apply a step. */
    for (;;) {
        if (exec_raw(db, "BEGIN IMMEDIATE") != OS_OK) {
            set_err(err, cap, "migrate: begin", db);
            return OS_ERR_DB;
        }
        int v = 0;
        if (read_version(db, &v) != OS_OK) goto fail;
        if (v > OS_LEDGER_SCHEMA_VERSION) {
            exec_raw(db, "ROLLBACK");
            if (err && cap)
                snprintf(err, cap, "ledger schema version %d is newer than this build (%d)", v,
                         OS_LEDGER_SCHEMA_VERSION);
            return OS_ERR_DB;
        }
        if (v >= target) {
            exec_raw(db, "ROLLBACK");
            return OS_OK;
        }
        if (v == 0 && exec_raw(db, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY,"
                                   " applied_at INTEGER NOT NULL)") != OS_OK)
            goto fail;
        if (exec_raw(db, migrations[v]) != OS_OK) goto fail;
        if (v + 1 == 5 && fill_tx_digests(db) != OS_OK) goto fail;
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d, strftime('%%s','now'))", v + 1);
        if (exec_raw(db, sql) != OS_OK) goto fail;
        if (exec_raw(db, "COMMIT") != OS_OK) goto fail;
        continue;
    fail:
        set_err(err, cap, "migrate", db);
        exec_raw(db, "ROLLBACK");
        return OS_ERR_DB;
    }
}

int os_ledger_open_version(const char *path, int target_version, os_ledger **out, char *err, size_t cap) {
    if (!path || !out || target_version < 1 || target_version > OS_LEDGER_SCHEMA_VERSION) return OS_ERR_ARG;
    *out = NULL;
    os_ledger *l = calloc(1, sizeof *l);
    if (!l) return OS_ERR_IO;
    /* It holds every payout address and code hash: a new ledger is the owner's alone, whatever the
     * umask (SQLite gives its -wal and -shm files the main file's mode). */
    if (path[0] != '\0' && path[0] != ':') {
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0) close(fd);
    }
    if (sqlite3_open_v2(path, &l->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        set_err(err, cap, "open", l->db);
        sqlite3_close(l->db);
        free(l);
        return OS_ERR_DB;
    }
    sqlite3_busy_timeout(l->db, 5000);
    if (exec_raw(l->db, "PRAGMA journal_mode=WAL") != OS_OK || exec_raw(l->db, "PRAGMA synchronous=FULL") != OS_OK ||
        exec_raw(l->db, "PRAGMA foreign_keys=ON") != OS_OK) {
        /* journal_mode reads the schema: a damaged schema page is found here, before quick_check */
        int code = sqlite3_errcode(l->db);
        if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) corrupt_err(err, cap, path, "pragma", sqlite3_errmsg(l->db));
        else set_err(err, cap, "pragma", l->db);
        sqlite3_close(l->db);
        free(l);
        return OS_ERR_DB;
    }
    int rc = check_integrity(l->db, path, err, cap);
    if (rc == OS_OK) rc = migrate(l->db, target_version, err, cap);
    if (rc != OS_OK) {
        sqlite3_close(l->db);
        free(l);
        return rc;
    }
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&l->mu, &attr);
    pthread_mutexattr_destroy(&attr);
    *out = l;
    return OS_OK;
}

int os_ledger_open(const char *path, os_ledger **out, char *err, size_t cap) {
    return os_ledger_open_version(path, OS_LEDGER_SCHEMA_VERSION, out, err, cap);
}

void os_ledger_close(os_ledger *l) {
    if (!l) return;
    sqlite3_close(l->db);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

int os_ledger_schema_version(os_ledger *l, int *version) {
    if (!l || !version) return OS_ERR_ARG;
    os_ledger_lock(l);
    int rc = read_version(l->db, version);
    os_ledger_unlock(l);
    return rc;
}

sqlite3 *os_ledger_db(os_ledger *l) { return l->db; }
void os_ledger_lock(os_ledger *l) { pthread_mutex_lock(&l->mu); }
void os_ledger_unlock(os_ledger *l) { pthread_mutex_unlock(&l->mu); }

static int commit_raw(os_ledger *l) {
    if (exec_raw(l->db, "COMMIT") != OS_OK) {
        exec_raw(l->db, "ROLLBACK");
        return OS_ERR_DB;
    }
    l->commits++;
    return OS_OK;
}

/* A composed transaction is an operation like any other: begun inside another it is a savepoint. */
int os_ledger_begin(os_ledger *l) { return ledger_op_begin(l); }
int os_ledger_commit(os_ledger *l) { return ledger_op_end(l, OS_OK); }
void os_ledger_rollback(os_ledger *l) { (void)ledger_op_end(l, OS_ERR_DB); }

int os_ledger_exec(os_ledger *l, const char *sql) { return exec_raw(l->db, sql); }

uint64_t os_ledger_commits(os_ledger *l) { return l->commits; }

/* ------------------------------------------------------------------ statement helpers */

sqlite3_stmt *ledger_prep(os_ledger *l, const char *sql) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "oncesign: ledger: %s: %s\n", sqlite3_errmsg(l->db), sql);
        return NULL;
    }
    return st;
}

void ledger_bind(sqlite3_stmt *st, const char *fmt, va_list ap) {
    for (int i = 1; fmt && *fmt; fmt++, i++) {
        if (*fmt == 'i') {
            sqlite3_bind_int64(st, i, va_arg(ap, int64_t));
        } else if (*fmt == 'I') {
            int64_t v = va_arg(ap, int64_t);
            if (v)
                sqlite3_bind_int64(st, i, v);
            else
                sqlite3_bind_null(st, i);
        } else if (*fmt == 'b') {
            const void *p = va_arg(ap, const void *);
            int n = va_arg(ap, int);
            if (p)
                sqlite3_bind_blob(st, i, p, n, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i);
        } else if (*fmt == 't') {
            const char *t = va_arg(ap, const char *);
            if (t)
                sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, i);
        }
    }
}

int ledger_run(os_ledger *l, int *changes, const char *sql, const char *fmt, ...) {
    if (changes) *changes = 0;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, sql);
    if (!st) {
        os_ledger_unlock(l);
        return OS_ERR_DB;
    }
    va_list ap;
    va_start(ap, fmt);
    ledger_bind(st, fmt, ap);
    va_end(ap);
    int autocommit = sqlite3_get_autocommit(l->db), writes = !sqlite3_stmt_readonly(st);
    int r = sqlite3_step(st);
    sqlite3_finalize(st);
    int rc = r == SQLITE_DONE || r == SQLITE_ROW ? OS_OK : OS_ERR_DB;
    if (rc == OS_OK && changes) *changes = sqlite3_changes(l->db);
    if (rc == OS_OK && autocommit && writes && sqlite3_changes(l->db) > 0) l->commits++;
    os_ledger_unlock(l);
    return rc;
}

static int query_va(os_ledger *l, sqlite3_stmt **out, const char *sql, const char *fmt, va_list ap) {
    *out = NULL;
    os_ledger_lock(l);
    sqlite3_stmt *st = ledger_prep(l, sql);
    if (!st) {
        os_ledger_unlock(l);
        return OS_ERR_DB;
    }
    ledger_bind(st, fmt, ap);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        *out = st;
        return OS_OK;
    }
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return r == SQLITE_DONE ? OS_ERR_NOT_FOUND : OS_ERR_DB;
}

int ledger_query(os_ledger *l, sqlite3_stmt **st, const char *sql, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = query_va(l, st, sql, fmt, ap);
    va_end(ap);
    return rc;
}

int ledger_query_end(os_ledger *l, sqlite3_stmt *st, int last_step) {
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return last_step == SQLITE_ROW || last_step == SQLITE_DONE ? OS_OK : OS_ERR_DB;
}

int ledger_int(os_ledger *l, int64_t *out, const char *sql, const char *fmt, ...) {
    sqlite3_stmt *st = NULL;
    va_list ap;
    va_start(ap, fmt);
    int rc = query_va(l, &st, sql, fmt, ap);
    va_end(ap);
    if (rc != OS_OK) return rc;
    *out = sqlite3_column_int64(st, 0);
    return ledger_query_end(l, st, SQLITE_ROW);
}

/* Savepoints nest inside a caller's BEGIN; a top-level operation takes the write lock up front.
 * op_top records, per nesting depth, which of the two this operation opened (the lock is held from
 * begin to end, so the stack is the holder's alone). */
int ledger_op_begin(os_ledger *l) {
    os_ledger_lock(l);
    if (l->op_depth >= 32) {
        os_ledger_unlock(l);
        return OS_ERR_INTERNAL;
    }
    int top = sqlite3_get_autocommit(l->db);
    int rc = top ? exec_raw(l->db, "BEGIN IMMEDIATE") : exec_raw(l->db, "SAVEPOINT op");
    if (rc != OS_OK) {
        os_ledger_unlock(l);
        return rc;
    }
    if (top)
        l->op_top |= 1u << l->op_depth;
    else
        l->op_top &= ~(1u << l->op_depth);
    l->op_depth++;
    return OS_OK;
}

int ledger_op_end(os_ledger *l, int rc) {
    if (l->op_depth <= 0) return OS_ERR_INTERNAL;
    l->op_depth--;
    int top = (l->op_top >> l->op_depth) & 1u;
    if (top) {
        if (rc == OS_OK)
            rc = commit_raw(l);
        else if (!sqlite3_get_autocommit(l->db))
            exec_raw(l->db, "ROLLBACK");
    } else if (rc == OS_OK) {
        if (exec_raw(l->db, "RELEASE op") != OS_OK) rc = OS_ERR_DB;
    } else {
        exec_raw(l->db, "ROLLBACK TO op");
        exec_raw(l->db, "RELEASE op");
    }
    os_ledger_unlock(l);
    return rc;
}

int os_ledger_meta_get(os_ledger *l, const char *key, uint8_t *val, size_t cap, size_t *len) {
    if (!l || !key || !len) return OS_ERR_ARG;
    sqlite3_stmt *st = NULL;
    os_ledger_lock(l);
    if (sqlite3_prepare_v2(l->db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK) {
        os_ledger_unlock(l);
        return OS_ERR_DB;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (n > cap) {
            rc = OS_ERR_BUFFER;
        } else {
            if (n) memcpy(val, sqlite3_column_blob(st, 0), n);
            *len = n;
            rc = OS_OK;
        }
    } else {
        rc = rc == SQLITE_DONE ? OS_ERR_NOT_FOUND : OS_ERR_DB;
    }
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    return rc;
}

int os_ledger_meta_put(os_ledger *l, const char *key, const uint8_t *val, size_t len) {
    if (!l || !key || (!val && len)) return OS_ERR_ARG;
    return ledger_run(l, NULL, "INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", "tb", key,
                      len ? (const void *)val : (const void *)"", (int)len);
}

int os_ledger_meta_u64(os_ledger *l, const char *key, uint64_t *v) {
    if (!l || !key || !v) return OS_ERR_ARG;
    uint8_t buf[8];
    size_t n = 0;
    int rc = os_ledger_meta_get(l, key, buf, sizeof buf, &n);
    *v = 0;
    if (rc == OS_ERR_NOT_FOUND) return OS_OK;
    if (rc != OS_OK || n != 8) return OS_ERR_DB;
    *v = os_read_le64(buf);
    return OS_OK;
}

int os_ledger_meta_put_u64(os_ledger *l, const char *key, uint64_t v) {
    if (!l || !key) return OS_ERR_ARG;
    uint8_t buf[8];
    os_write_le64(buf, v);
    return os_ledger_meta_put(l, key, buf, 8);
}
