/* oncesign host — what the ledger's files (ledger.c, ledger_payouts.c, ledger_chain.c) share: the
 * handle and the statement helpers. Not a contract outside host/lib/ledger*.c. */
#ifndef ONCESIGN_HOST_LEDGER_INTERNAL_H
#define ONCESIGN_HOST_LEDGER_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ledger.h"

struct os_ledger {
    sqlite3 *db;
    pthread_mutex_t mu;     /* recursive: an operation may run inside a caller's composed transaction */
    uint64_t commits;       /* every commit that wrote: a transaction's, or a lone statement's */
    int op_depth;           /* operations open inside one another (ledger_op_begin) */
    uint32_t op_top;        /* bit d: the operation at depth d opened the transaction itself */
};

/* Prepares sql; logs SQLite's message and returns NULL on failure. */
sqlite3_stmt *ledger_prep(os_ledger *l, const char *sql);

/* Binds values to st from a format, one letter a parameter: i int64, I int64 where 0 binds NULL (a missing reference), b blob (pointer, int length;
 * NULL pointer binds NULL), t text (NULL binds NULL). */
void ledger_bind(sqlite3_stmt *st, const char *fmt, va_list ap);

/* Runs one statement to completion with bindings as ledger_bind. *changes (may be NULL) receives the
 * rows it changed. Returns: OS_OK; OS_ERR_DB. */
int ledger_run(os_ledger *l, int *changes, const char *sql, const char *fmt, ...);

/* Opens a query: takes the lock, prepares sql, binds as ledger_bind and steps to the first row.
 * Returns: OS_OK (*st on the first row: read it, sqlite3_step on for more, then ledger_query_end);
 *          OS_ERR_NOT_FOUND (no row) or OS_ERR_DB, with nothing left open. */
int ledger_query(os_ledger *l, sqlite3_stmt **st, const char *sql, const char *fmt, ...);
/* Closes a query ledger_query opened. Returns OS_OK, or OS_ERR_DB when stepping on failed (last_step
 * is the last sqlite3_step result, SQLITE_ROW or SQLITE_DONE when all went well). */
int ledger_query_end(os_ledger *l, sqlite3_stmt *st, int last_step);

/* Reads one int64 from the first row of a query. Returns: OS_OK; OS_ERR_NOT_FOUND (no row); OS_ERR_DB. */
int ledger_int(os_ledger *l, int64_t *out, const char *sql, const char *fmt, ...);

/* An operation's transaction: takes the lock and opens BEGIN IMMEDIATE, or a savepoint inside a
 * transaction the caller composed. ledger_op_end commits (rc == OS_OK) or rolls back, unlocks, and
 * returns rc (or OS_ERR_DB when the commit failed). */
int ledger_op_begin(os_ledger *l);
int ledger_op_end(os_ledger *l, int rc);

#endif /* ONCESIGN_HOST_LEDGER_INTERNAL_H */
