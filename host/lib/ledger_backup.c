/* oncesign host — online backups of the ledger and their verification (ledger.h, docs/RECOVERY.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger_internal.h"
#include "oncesign/status.h"
#include "rpc.h"

#define MARKER_KEY "backup_marker"

static int one_row(sqlite3 *db, const char *sql, sqlite3_stmt **st) {
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) return OS_ERR_DB;
    if (sqlite3_step(*st) != SQLITE_ROW) {
        sqlite3_finalize(*st);
        *st = NULL;
        return OS_ERR_DB;
    }
    return OS_OK;
}

/* The marker's contents as the copy's rows say (taken_at is left as it is). A gap in the archived log
 * is refused: a backup must carry the whole archived chain up to its head. */
static int marker_compute(sqlite3 *db, os_backup_marker *m, char *err, size_t cap) {
    sqlite3_stmt *st = NULL;
    if (one_row(db, "SELECT coalesce(max(seq), 0), coalesce(min(seq), 0), count(*) FROM signer_log", &st) != OS_OK)
        goto db_fail;
    int64_t max_seq = sqlite3_column_int64(st, 0), min_seq = sqlite3_column_int64(st, 1),
            n = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    if (n > 0 && max_seq - min_seq + 1 != n) {
        if (err && cap) snprintf(err, cap, "the archived signer log has gaps (%" PRId64 " entries in %" PRId64 "..%" PRId64 ")",
                                 n, min_seq, max_seq);
        return OS_ERR_DB;
    }
    m->log_seq = (uint64_t)max_seq;
    memset(m->log_head, 0, 32);
    if (n > 0) {
        if (one_row(db, "SELECT entry_hash FROM signer_log ORDER BY seq DESC LIMIT 1", &st) != OS_OK) goto db_fail;
        int ok = sqlite3_column_bytes(st, 0) == 32;
        if (ok) memcpy(m->log_head, sqlite3_column_blob(st, 0), 32);
        sqlite3_finalize(st);
        if (!ok) goto db_fail;
    }
    if (one_row(db, "SELECT count(*), coalesce(max(id), 0) FROM payouts", &st) != OS_OK) goto db_fail;
    m->payouts = sqlite3_column_int64(st, 0);
    m->last_payout_id = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    if (one_row(db, "SELECT count(*) FROM codes WHERE payout_id IS NOT NULL", &st) != OS_OK) goto db_fail;
    m->redeemed_codes = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (one_row(db, "SELECT count(*) FROM txs", &st) != OS_OK) goto db_fail;
    m->txs = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return OS_OK;
db_fail:
    if (err && cap) snprintf(err, cap, "reading the copy: %s", sqlite3_errmsg(db));
    return OS_ERR_DB;
}

static void marker_format(const os_backup_marker *m, char *out, size_t cap) {
    char head[65];
    os_hex_encode(m->log_head, 32, head);
    snprintf(out, cap,
             "oncesign-backup v1 taken_at=%" PRId64 " log_seq=%" PRIu64 " log_head=%s payouts=%" PRId64
             " redeemed_codes=%" PRId64 " txs=%" PRId64 " last_payout_id=%" PRId64,
             m->taken_at, m->log_seq, head, m->payouts, m->redeemed_codes, m->txs, m->last_payout_id);
}

/* PRAGMA integrity_check: the full check (indexes against their tables too), affordable on a copy. */
static int integrity(sqlite3 *db, char *err, size_t cap) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check(3)", -1, &st, NULL) != SQLITE_OK) {
        if (err && cap) snprintf(err, cap, "integrity_check: %s", sqlite3_errmsg(db));
        return OS_ERR_DB;
    }
    int r = sqlite3_step(st);
    const char *line = r == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int ok = line && strcmp(line, "ok") == 0;
    if (!ok && err && cap) snprintf(err, cap, "integrity_check: %s", line ? line : sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ok ? OS_OK : OS_ERR_DB;
}

/* fsync of a file, then of its directory (the rename must survive a power cut too). */
static int sync_path(const char *path, int is_dir) {
    int fd = open(path, is_dir ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) return OS_ERR_IO;
    int rc = fsync(fd) == 0 ? OS_OK : OS_ERR_IO;
    close(fd);
    return rc;
}

int os_ledger_backup(os_ledger *l, const char *out_path, int64_t now, os_backup_marker *marker, char *err,
                     size_t cap) {
    if (!l || !out_path || !marker) return OS_ERR_ARG;
    if (err && cap) err[0] = '\0';
    if (access(out_path, F_OK) == 0) {
        if (err && cap) snprintf(err, cap, "%s exists: a backup never overwrites a file", out_path);
        return OS_ERR_ARG;
    }
    char partial[4096];
    if ((size_t)snprintf(partial, sizeof partial, "%s.partial", out_path) >= sizeof partial) return OS_ERR_ARG;
    (void)unlink(partial); /* left by a backup that died before its rename: never a backup */

    /* The first backup turns the acknowledgement rule on before the snapshot, at what is archived now:
     * an entry the daemon acknowledged meanwhile was archived before this write, so the copy holds it
     * (a failed backup leaves the rule on: the device then keeps more, never less). */
    uint64_t gate = 0, archived = 0;
    uint8_t head[32];
    int rc = os_ledger_meta_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, &gate);
    if (rc == OS_OK && gate == 0) {
        rc = os_ledger_signer_log_head(l, &archived, head);
        if (rc == OS_OK && archived > 0) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, archived);
        else if (rc == OS_ERR_NOT_FOUND) rc = OS_OK;
    }
    if (rc != OS_OK) {
        if (err && cap) snprintf(err, cap, "reading the ledger's backup state failed");
        return rc;
    }

    /* VACUUM INTO reads one snapshot (WAL: writers of other connections go on); this handle's lock
     * keeps its own composed transactions out, since VACUUM cannot run inside one. */
    sqlite3_stmt *st = NULL;
    os_ledger_lock(l);
    rc = sqlite3_prepare_v2(l->db, "VACUUM INTO ?", -1, &st, NULL) == SQLITE_OK ? OS_OK : OS_ERR_DB;
    if (rc == OS_OK) {
        sqlite3_bind_text(st, 1, partial, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = OS_ERR_DB;
    }
    if (rc != OS_OK && err && cap) snprintf(err, cap, "VACUUM INTO %s: %s", partial, sqlite3_errmsg(l->db));
    sqlite3_finalize(st);
    os_ledger_unlock(l);
    if (rc != OS_OK) {
        (void)unlink(partial);
        return rc;
    }

    sqlite3 *copy = NULL;
    if (sqlite3_open_v2(partial, &copy, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        if (err && cap) snprintf(err, cap, "opening the copy %s: %s", partial, copy ? sqlite3_errmsg(copy) : "no memory");
        rc = OS_ERR_DB;
    }
    os_backup_marker m;
    memset(&m, 0, sizeof m);
    m.taken_at = now;
    /* A copy of a WAL ledger says WAL in its header: one self-contained file is what gets archived. */
    if (rc == OS_OK && sqlite3_exec(copy, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        if (err && cap) snprintf(err, cap, "the copy's journal mode: %s", sqlite3_errmsg(copy));
        rc = OS_ERR_DB;
    }
    if (rc == OS_OK) rc = integrity(copy, err, cap);
    if (rc == OS_OK) rc = marker_compute(copy, &m, err, cap);
    if (rc == OS_OK) {
        char text[512];
        marker_format(&m, text, sizeof text);
        if (sqlite3_prepare_v2(copy, "INSERT OR REPLACE INTO meta (k, v) VALUES ('" MARKER_KEY "', ?)", -1, &st,
                               NULL) != SQLITE_OK) {
            rc = OS_ERR_DB;
        } else {
            sqlite3_bind_blob(st, 1, text, (int)strlen(text), SQLITE_TRANSIENT);
            if (sqlite3_step(st) != SQLITE_DONE) rc = OS_ERR_DB;
            sqlite3_finalize(st);
        }
        if (rc != OS_OK && err && cap) snprintf(err, cap, "writing the marker: %s", sqlite3_errmsg(copy));
    }
    if (copy && sqlite3_close(copy) != SQLITE_OK && rc == OS_OK) rc = OS_ERR_DB;
    if (rc == OS_OK && sync_path(partial, 0) != OS_OK) {
        if (err && cap) snprintf(err, cap, "fsync %s: %s", partial, strerror(errno));
        rc = OS_ERR_IO;
    }
    if (rc == OS_OK && rename(partial, out_path) != 0) {
        if (err && cap) snprintf(err, cap, "rename to %s: %s", out_path, strerror(errno));
        rc = OS_ERR_IO;
    }
    if (rc != OS_OK) {
        (void)unlink(partial);
        return rc;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out_path);
    if (sync_path(dirname(dir), 1) != OS_OK) {
        if (err && cap) snprintf(err, cap, "fsync of the directory of %s: %s", out_path, strerror(errno));
        return OS_ERR_IO;
    }

    /* Only now may the signer forget entries up to the copy's head (engine_chain.c's log_sync). */
    uint64_t acked_before = 0;
    rc = os_ledger_meta_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, &acked_before);
    if (rc == OS_OK && m.log_seq > acked_before) rc = os_ledger_meta_put_u64(l, OS_LEDGER_META_BACKUP_LOG_SEQ, m.log_seq);
    if (rc != OS_OK) {
        if (err && cap) snprintf(err, cap, "the backup %s is written, but recording it in the ledger failed", out_path);
        return rc;
    }
    *marker = m;
    return OS_OK;
}

int os_ledger_backup_verify(const char *path, os_backup_marker *marker, char *err, size_t cap) {
    if (!path || !marker) return OS_ERR_ARG;
    if (err && cap) err[0] = '\0';
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        if (err && cap) snprintf(err, cap, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return OS_ERR_DB;
    }
    int rc = integrity(db, err, cap);
    char stored[512] = "";
    sqlite3_stmt *st = NULL;
    if (rc == OS_OK) {
        rc = one_row(db, "SELECT v FROM meta WHERE k = '" MARKER_KEY "'", &st);
        if (rc == OS_OK) {
            int n = sqlite3_column_bytes(st, 0);
            if (n > 0 && (size_t)n < sizeof stored) memcpy(stored, sqlite3_column_blob(st, 0), (size_t)n);
            sqlite3_finalize(st);
        }
        if (rc != OS_OK || !stored[0]) {
            if (err && cap) snprintf(err, cap, "%s has no backup marker: not a verified oncesign backup", path);
            rc = OS_ERR_DB;
        }
    }
    os_backup_marker m;
    memset(&m, 0, sizeof m);
    if (rc == OS_OK) {
        const char *t = strstr(stored, " taken_at=");
        if (!t || sscanf(t, " taken_at=%" SCNd64, &m.taken_at) != 1) {
            if (err && cap) snprintf(err, cap, "%s: the backup marker is malformed", path);
            rc = OS_ERR_DB;
        }
    }
    if (rc == OS_OK) rc = marker_compute(db, &m, err, cap);
    if (rc == OS_OK) {
        char expect[512];
        marker_format(&m, expect, sizeof expect);
        if (strcmp(expect, stored) != 0) {
            if (err && cap) snprintf(err, cap, "%s: the contents do not match the backup marker (marker: %s)", path, stored);
            rc = OS_ERR_DB;
        }
    }
    sqlite3_close(db);
    if (rc == OS_OK) *marker = m;
    return rc;
}
