/* oncesign tests — see engine_fixture.h. */
#include "engine_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oncesign/status.h"

int engine_fixture_open(engine_fixture *f, const char *tag, const char *token, uint64_t max_payout) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/oncesign-%s-XXXXXX", tag);
    if (mkdtemp(f->dir) == NULL) return -1;
    snprintf(f->db, sizeof f->db, "%s/ledger.db", f->dir);
    snprintf(f->token_file, sizeof f->token_file, "%s/token", f->dir);
    FILE *t = fopen(f->token_file, "w");
    if (t == NULL) return -1;
    fprintf(t, "%s\n", token);
    fclose(t);
    if (chmod(f->token_file, 0600) != 0) return -1;
    os_engine_config ec;
    memset(&ec, 0, sizeof ec);
    ec.db_path = f->db;
    ec.network = OS_NET_TEST;
    ec.max_payout = max_payout;
    char err[256] = "";
    if (os_engine_open(&ec, &f->engine, err, sizeof err) != OS_OK) {
        fprintf(stderr, "engine: %s\n", err);
        return -1;
    }
    return 0;
}

int engine_fixture_close(engine_fixture *f) {
    os_engine_close(f->engine);
    f->engine = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    return system(cmd) == 0 ? 0 : -1;
}
