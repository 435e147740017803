/* oncesign host — the HTTP/JSON API for the service backend (libmicrohttpd), in front of the
 * payout engine (host/lib/engine.h). docs/API.md documents every endpoint with a curl example.
 *
 * Loopback by default. Every call that moves money (issuing codes, redeeming, creating payouts)
 * needs `Authorization: Bearer <token>` with the token read from a file at start; health and
 * metrics do not. Every error is JSON: {"error":{"code":"<stable name>","message":"<sentence>"}}
 * with the stable names of os_status_name (include/oncesign/status.h). A request that is refused
 * changes nothing in the ledger.
 */
#ifndef ONCESIGN_HOST_API_H
#define ONCESIGN_HOST_API_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

typedef struct os_api os_api;

typedef struct {
    const char *bind;           /* "127.0.0.1" (default when NULL) */
    uint16_t port;              /* 0: any free port (see os_api_port) */
    const char *token_file;     /* bearer token (first line); required */
    size_t max_body;            /* request bodies above this are refused (default 16 KiB when 0) */
    unsigned threads;           /* worker threads (default 4 when 0) */
} os_api_config;

/* Starts serving. The engine must outlive the API.
 * Returns: OS_OK; OS_ERR_ARG; OS_ERR_IO (bind failed, token file unreadable: err says). */
int os_api_start(os_engine *engine, const os_api_config *cfg, os_api **out, char *err, size_t cap);

/* The port actually bound. */
uint16_t os_api_port(const os_api *api);

/* Stops serving (in-flight requests finish) and frees the server. NULL is ignored. */
void os_api_stop(os_api *api);

#endif /* ONCESIGN_HOST_API_H */
