/* oncesign tests — the fixture of the API tests: a temporary directory holding a private token file
 * and a ledger-only engine (no signer, no node) on the testnet. */
#ifndef ONCESIGN_TEST_ENGINE_FIXTURE_H
#define ONCESIGN_TEST_ENGINE_FIXTURE_H

#include <stdint.h>

#include "engine.h"

typedef struct {
    char dir[48], db[96], token_file[96];   /* /tmp/oncesign-TAG-XXXXXX, DIR/ledger.db, DIR/token */
    os_engine *engine;
} engine_fixture;

/* Zeroes f, makes the directory /tmp/oncesign-TAG-XXXXXX, writes token and a newline to DIR/token
 * (mode 0600: os_api_start refuses a token others can read) and opens the engine on DIR/ledger.db
 * with OS_NET_TEST and max_payout. Returns 0, or -1 (said on stderr) for a cmocka setup. */
int engine_fixture_open(engine_fixture *f, const char *tag, const char *token, uint64_t max_payout);

/* Closes the engine and removes the directory. Returns 0, or -1 for a cmocka teardown. */
int engine_fixture_close(engine_fixture *f);

#endif /* ONCESIGN_TEST_ENGINE_FIXTURE_H */
