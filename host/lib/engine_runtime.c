/* oncesign host — what both halves of the engine use at run time: the clock, the crash points the
 * e2e tests kill the daemon at, and the worker's wake-up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "engine_internal.h"
#include "oncesign/status.h"

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

void engine_wake_worker(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    e->work_pending = 1;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->mu);
}

int engine_params_hash(const char *address, uint64_t amount, uint8_t out[32]) {
    uint8_t buf[8 + OS_MAX_ADDRESS + 1];
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(amount >> (8 * i));
    size_t n = strnlen(address, OS_MAX_ADDRESS + 1);
    if (n > OS_MAX_ADDRESS) return OS_ERR_ARG;
    memcpy(buf + 8, address, n);
    crypto_sha256(buf, 8 + n, out);
    return OS_OK;
}
