/* oncesign host — the HTTP/JSON API for the service backend (libmicrohttpd), in front of the
 * payout engine (host/lib/engine.h). docs/API.md documents every endpoint with a curl example.
 *
 * Loopback by default. Every call but health and metrics needs `Authorization: Bearer <secret>`:
 * the token read from a file at start (every scope), or an API key from the ledger (its scopes,
 * OS_SCOPE_*; a revoked key or a call outside its scopes is 403 forbidden, and every state-changing
 * call made with a key is recorded with it in the ledger). Every error is JSON: {"error":{"code":"<stable name>","message":"<sentence>"}}
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
    int no_tcp;                 /* 1: no TCP listener (then unix_path is required) */
    const char *unix_path;      /* a Unix-socket listener at this path (mode 0660), or NULL. An
                                 * existing socket there is replaced; anything else is refused. */
    const char *admin_path;     /* the admin socket at this path (mode 0600), or NULL: no bearer, the
                                 * operator's and auditor's calls (OS_SCOPE_OPERATOR, _READ, _AUDIT)
                                 * and tree rebuild for whoever may open the file (docs/DESIGN.md §4b) */
    const char *token_file;     /* a bearer token with every scope (first line), or NULL: API keys
                                 * only (os_ledger_apikey_*). A regular file that only its owner
                                 * (and group, read-only) may access */
    size_t max_body;            /* request bodies above this are refused (default 16 KiB when 0) */
    unsigned threads;           /* worker threads (default 4 when 0) */
    unsigned connection_limit;  /* open connections in total per listener (default 256 when 0) */
    unsigned per_client_limit;  /* open TCP connections per client address (default 32 when 0) */
    const char *disk_path;      /* health and metrics report this directory's file system (the
                                 * ledger's); NULL: not reported */
    uint64_t disk_min_free;     /* bytes free below which health says disk false (default 100 MiB) */
    unsigned request_timeout_ms;/* a connection that has not delivered a whole request (headers and
                                 * body) this long after it opened or after its previous answer is
                                 * closed, however steadily it sends (default 10000 when 0) */
} os_api_config;

/* Starts serving. The engine must outlive the API.
 * Returns: OS_OK; OS_ERR_ARG; OS_ERR_IO (bind failed, token file unreadable: err says). */
int os_api_start(os_engine *engine, const os_api_config *cfg, os_api **out, char *err, size_t cap);

/* The port actually bound. */
uint16_t os_api_port(const os_api *api);

/* Stops serving (in-flight requests finish) and frees the server. NULL is ignored. */
void os_api_stop(os_api *api);

/* ---- request bodies (exposed so tests/fuzz/fuzz_api_json.c can drive them directly) ---- */

typedef enum {
    OS_API_BODY_ISSUE_CODE = 1,     /* POST /v1/codes           {"amount", "expires_at"?, "voucher"?} */
    OS_API_BODY_REDEEM,             /* POST /v1/codes/{c}/redeem {"address"} */
    OS_API_BODY_PAYOUT,             /* POST /v1/payouts          {"address", "amount", "idempotency_key"?, "voucher"?} */
    OS_API_BODY_APPROVAL,           /* POST /v1/payouts/{id}/approvals {"approval"} */
} os_api_body_kind;

typedef struct {
    uint64_t amount;                        /* 1 .. 2^53-1 */
    int64_t expires_at;                     /* 0: none (issue) */
    char address[OS_MAX_ADDRESS + 1];       /* printable ASCII, no spaces (redeem, payout) */
    char idempotency_key[129];              /* printable ASCII, 1..128 chars (payout) */
    int has_voucher;                        /* issue, payout: "voucher" (428 hex digits, PROTOCOL.md §2.7) */
    os_voucher voucher;                     /* its layout checked, not its signature (the engine's) */
    os_approval approval;                   /* approval: 208 hex digits (PROTOCOL.md §2.8), its layout checked */
} os_api_request;

/* Parses and validates one request body: a single JSON object (no trailing data, no duplicate or
 * unknown keys, no NUL bytes), every required field present with its JSON type. The idempotency
 * key of a payout comes from header_key (the Idempotency-Key header, NULL when absent) or the
 * body; both present and different is an error. Checks only what needs no ledger: the engine
 * checks the address's network and checksum and the configured cap.
 * Returns: OS_OK; OS_ERR_BAD_REQUEST (malformed JSON, missing/unknown/ill-typed field);
 *          OS_ERR_AMOUNT (integer amount <= 0 or >= 2^53); OS_ERR_ADDRESS (empty, too long, or
 *          characters no address has); OS_ERR_ARG (NULL out, unknown kind).
 * In:      body: len bytes (may be NULL when len is 0).
 * Out:     out: filled on OS_OK (zeroed otherwise). why: a NUL-terminated sentence for the error
 *          message (may be NULL when cap is 0).
 */
int os_api_parse_request(os_api_body_kind kind, const char *body, size_t len, const char *header_key,
                         os_api_request *out, char *why, size_t cap);

/* The HTTP status the API answers for an os_status (400 bad-request, 401 auth, 404 not-found,
 * 409 idempotency-conflict, 410 code-expired, 413 too-large, 422 address/amount, 503 when the
 * signer, the node or the hot wallet's funds are not available right now, 500 otherwise). */
unsigned os_api_http_status(int status);

#endif /* ONCESIGN_HOST_API_H */
