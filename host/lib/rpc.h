/* oncesign host — the monacoind JSON-RPC client (libcurl + jansson).
 *
 * One os_rpc per thread (a curl easy handle with its connection kept alive). Every call has a
 * timeout; a call that times out, loses its connection or gets an HTTP error without a JSON-RPC
 * error body says NOTHING about what the node did (docs/DESIGN.md §5): such results are reported as
 * OS_ERR_RPC_TRANSPORT and, for sendrawtransaction, classified UNKNOWN — never "not sent".
 *
 * Auth: user/password (HTTP Basic) or monacoind's cookie file (re-read on every 401, because the
 * node writes a new cookie at each start).
 */
#ifndef ONCESIGN_HOST_RPC_H
#define ONCESIGN_HOST_RPC_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "oncesign/protocol.h"

typedef struct os_rpc os_rpc;

typedef struct {
    const char *url;            /* "http://127.0.0.1:19443/" */
    const char *user;           /* with password; NULL when cookie_file is used */
    const char *password;
    const char *cookie_file;    /* monacoind's .cookie; NULL when user/password are used */
    int timeout_ms;             /* per call, connect included (> 0) */
} os_rpc_config;

/* What went wrong with a call, when something did. */
typedef struct {
    int status;                 /* OS_OK, OS_ERR_RPC (the node answered an error) or OS_ERR_RPC_TRANSPORT */
    int code;                   /* JSON-RPC error code (OS_ERR_RPC), e.g. -26 */
    char message[512];          /* JSON-RPC error message, or a description of the transport failure */
    long http_status;           /* 0 when no HTTP answer arrived */
    int timed_out;              /* 1 when the call hit its timeout */
} os_rpc_error;

/* Opens a client. Copies what it needs from cfg.
 * Returns: OS_OK; OS_ERR_ARG (bad config); OS_ERR_IO (curl init, unreadable cookie file: err says). */
int os_rpc_open(const os_rpc_config *cfg, os_rpc **out, char *err, size_t cap);
void os_rpc_close(os_rpc *rpc);

/* Calls method with params (a JSON array; the reference is stolen, NULL means []).
 * Returns: OS_OK with *result (new reference, may be JSON null; caller decrefs), or OS_ERR_RPC /
 *          OS_ERR_RPC_TRANSPORT with *error filled (and *result NULL). */
int os_rpc_call(os_rpc *rpc, const char *method, json_t *params, json_t **result, os_rpc_error *error);

/* Failed calls of every os_rpc in the process, by kind, for /metrics. */
typedef enum {
    OS_RPC_FAIL_CONNECT = 0,    /* no connection, or it broke (curl failed, not a timeout) */
    OS_RPC_FAIL_TIMEOUT,        /* no whole answer within rpc_timeout_ms */
    OS_RPC_FAIL_AUTH,           /* HTTP 401/403: the node refused the credentials */
    OS_RPC_FAIL_MALFORMED,      /* an answer that is not a JSON-RPC result or error */
    OS_RPC_FAIL_NODE,           /* the node's own JSON-RPC error (e.g. -26 rejected, -5 not found) */
    OS_RPC_FAIL_KINDS
} os_rpc_fail_kind;
const char *os_rpc_fail_kind_name(os_rpc_fail_kind kind);     /* "connect", ... */
/* The kind of a failed call (rc != OS_OK, e filled by it): what the counts below count it as. */
os_rpc_fail_kind os_rpc_error_kind(int rc, const os_rpc_error *e);
void os_rpc_fail_counts(uint64_t out[OS_RPC_FAIL_KINDS]);

/* ------------------------------------------------------------------ broadcasting */

typedef enum {
    OS_BROADCAST_SENT = 1,          /* the node has it: in its mempool (or confirmed, see below) */
    OS_BROADCAST_NOT_SENT = 2,      /* the node definitely did not accept it (policy, decode) */
    OS_BROADCAST_UNKNOWN = 3,       /* no trustworthy answer: keep the transaction, ask again later */
    OS_BROADCAST_CHECK_CHAIN = 4,   /* -25 inputs missing or spent: confirmed already, or conflicted;
                                       only the chain can tell (docs/DESIGN.md §5) */
} os_broadcast_class;

typedef struct {
    os_broadcast_class cls;
    int already_confirmed;          /* -27 "Transaction already in block chain" (SENT) */
    int conflict;                   /* -26 txn-mempool-conflict / replacement refused (NOT_SENT) */
    int fee_too_low;                /* -26 min relay fee not met / insufficient fee (NOT_SENT) */
    os_rpc_error error;             /* what the node or the transport said */
} os_broadcast_result;

/* Pure classification of a sendrawtransaction outcome, from the real codes and messages of
 * Monacoin Core 0.20.3 (docs/DESIGN.md §5). err->status OS_OK means the node returned the txid. */
void os_rpc_classify_broadcast(const os_rpc_error *err, os_broadcast_result *out);

/* sendrawtransaction with the raw bytes; always fills *res (never fails without classifying).
 * Returns: OS_OK when the call was made and classified (look at res->cls), OS_ERR_ARG. */
int os_rpc_sendrawtransaction(os_rpc *rpc, const uint8_t *raw, size_t len, os_broadcast_result *res);

/* ------------------------------------------------------------------ chain queries */

typedef struct {
    int found;                      /* in the mempool or the chain */
    int in_mempool;
    uint32_t confirmations;         /* 0 while in the mempool */
    uint64_t block_height;          /* when confirmed */
} os_rpc_txstatus;

/* getrawtransaction (verbose): where a transaction is. Not found is OS_OK with found = 0.
 * Without -txindex the chain half comes from the wallet (gettransaction, watch-only included); a
 * transaction neither can see is OS_ERR_RPC (-5), never found = 0 (docs/MONACOIND.md).
 * raw/raw_len: when not NULL, the transaction's bytes (malloc'ed, caller frees). */
int os_rpc_get_transaction(os_rpc *rpc, const uint8_t txid[32], os_rpc_txstatus *st, uint8_t **raw,
                           size_t *raw_len, os_rpc_error *error);

/* gettxout: *unspent = 1 with amount/confirmations when the output exists and is unspent
 * (include_mempool: a mempool spend counts as spent). */
int os_rpc_gettxout(os_rpc *rpc, const os_outpoint *out, int include_mempool, int *unspent, uint64_t *amount,
                    uint32_t *confirmations, os_rpc_error *error);

/* estimatesmartfee conf_target: *available = 0 when the node has no estimate. sat per 1000 vbytes. */
int os_rpc_estimatesmartfee(os_rpc *rpc, int conf_target, uint64_t *sat_per_kvb, int *available,
                            os_rpc_error *error);

int os_rpc_getblockcount(os_rpc *rpc, uint64_t *height, os_rpc_error *error);

/* Every transaction in the blocks from from_height to the tip (getblock verbosity 2) and then in the
 * mempool (getrawmempool, getrawtransaction), each given to f with its height (0: mempool); f returns
 * non-zero to stop. A mempool transaction that could not be read (gone meanwhile, or the node did not
 * answer) is skipped and counted in *unread.
 * Returns: OS_OK (*tip: the height scanned to); the node's failure. */
int os_rpc_scan_transactions(os_rpc *rpc, uint64_t from_height, uint64_t *tip, size_t *unread,
                             int (*f)(void *ctx, const uint8_t *raw, size_t len, uint64_t height), void *ctx,
                             os_rpc_error *error);

/* importmulti of watch-only addresses (timestamp "now"), so listunspent reports their coins. */
int os_rpc_import_addresses(os_rpc *rpc, const char *const *addresses, size_t n, os_rpc_error *error);

typedef struct {
    os_outpoint outpoint;
    uint64_t amount;
    uint32_t confirmations;
    char address[OS_MAX_ADDRESS + 1];
    uint8_t script[64];
    size_t script_len;
} os_rpc_utxo;

/* listunspent minconf 9999999 [addresses]: *out malloc'ed (caller frees), *n entries. */
int os_rpc_listunspent(os_rpc *rpc, uint32_t minconf, const char *const *addresses, size_t n_addresses,
                       os_rpc_utxo **out, size_t *n, os_rpc_error *error);

/* Hex helpers shared by the host: txids are shown reversed (display order). */
void os_hex_encode(const uint8_t *data, size_t len, char *out);            /* out: 2*len+1 */
int os_hex_decode(const char *hex, uint8_t *out, size_t cap, size_t *len); /* OS_ERR_ARG on bad hex */
void os_txid_to_hex(const uint8_t txid[32], char out[65]);                 /* display order */
int os_txid_from_hex(const char *hex, uint8_t txid[32]);

#endif /* ONCESIGN_HOST_RPC_H */
