/* oncesign tests — what the auditor's tests (test_audit_export, test_audit_authority) share: the
 * device's exported log, private copies of it to tamper with, and a scratch ledger to fill by hand. */
#ifndef ONCESIGN_AUDIT_FIXTURE_H
#define ONCESIGN_AUDIT_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "audit.h"
#include "ledger.h"
#include "signing.h"

/* Exports the whole log of the signer c into log and info, then stops the signer harness (a
 * cmocka group setup's last step). Returns 0, or -1 with the export's error printed on stderr. */
int audit_fixture_export(os_client *c, os_audit_log *log, os_msg_info *info);

/* A private copy of log (freed with os_audit_log_free); fails the running test when out of memory. */
os_audit_log audit_fixture_copy(const os_audit_log *log);

/* The index in l of the nth (from 0) entry of type; fails the running test when there is none. */
size_t audit_fixture_index_of(const os_audit_log *l, uint8_t type, size_t nth);

/* Opens a new, empty ledger in a fresh file named after prefix ("/tmp/oncesign-TAG-XXXXXX");
 * path (cap bytes) receives its name for audit_fixture_drop_ledger. Fails the running test on error. */
os_ledger *audit_fixture_ledger(char *path, size_t cap, const char *prefix);

/* Closes l and removes its file at path with its -wal and -shm companions. */
void audit_fixture_drop_ledger(os_ledger *l, const char *path);

/* Runs sql on l under its lock; fails the running test unless it succeeds. */
void audit_fixture_exec(os_ledger *l, const char *sql);

/* Inserts into db (the caller holds the ledger's lock) the nonce tree leaf of payout output o
 * anchored at anchor, as the engine stores it for the transaction row tx_row. */
void audit_fixture_put_leaf(sqlite3 *db, const os_sign_output *o, const os_outpoint *anchor, int64_t tx_row);

#endif /* ONCESIGN_AUDIT_FIXTURE_H */
