/* oncesign test node — chain state, mempool, wallet and the JSON-RPC methods.
 *
 * One tn_node holds everything; every RPC call runs under its mutex (tn_node_call takes it), so the
 * HTTP layer can serve connections from many threads.
 */
#ifndef ONCESIGN_TESTNODE_NODE_H
#define ONCESIGN_TESTNODE_NODE_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "tx.h"

/* Core's RPC error codes (src/rpc/protocol.h) that the node answers with. */
#define RPC_MISC_ERROR -1
#define RPC_TYPE_ERROR -3
#define RPC_WALLET_ERROR -4
#define RPC_INVALID_ADDRESS_OR_KEY -5
#define RPC_WALLET_INSUFFICIENT_FUNDS -6
#define RPC_INVALID_PARAMETER -8
#define RPC_WALLET_NOT_FOUND -18
#define RPC_WALLET_NOT_SPECIFIED -19
#define RPC_DESERIALIZATION_ERROR -22
#define RPC_VERIFY_ERROR -25
#define RPC_VERIFY_REJECTED -26
#define RPC_VERIFY_ALREADY_IN_CHAIN -27
#define RPC_INVALID_REQUEST -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_PARSE_ERROR -32700

typedef struct tn_node tn_node;

/* Creates a node with a genesis block; seed makes the wallet keys deterministic. */
tn_node *tn_node_new(const char *seed);
void tn_node_free(tn_node *n);

/* Runs one RPC method under the node's lock. uri_wallet: the <name> of a /wallet/<name> request path,
 * or NULL: a wallet method then picks the one loaded wallet, and with more than one loaded answers
 * Core's -19 "Wallet file not specified" (all loaded wallets share this node's one wallet state: the
 * names only decide which requests are answered). On success returns the result (a new reference,
 * json_null() for a null result) and leaves *err_msg NULL. On failure returns NULL, sets *err_code and
 * *err_msg (malloc'd; caller frees). Control methods (testnode_*) that concern faults are handled by the
 * HTTP layer, not here. */
json_t *tn_node_call(tn_node *n, const char *uri_wallet, const char *method, json_t *params, int *err_code,
                     char **err_msg);

/* Whether tn_node_call knows the method. */
int tn_node_has_method(const char *method);

/* Dumps json like Core: amounts (made by tn_json_amount) come out as plain numbers with 8 decimals. */
char *tn_json_dumps(const json_t *j);
json_t *tn_json_amount(int64_t sats);
/* Parses a JSON amount (number or string) exactly into satoshis; 0 on success. */
int tn_parse_amount(const json_t *v, int64_t *sats);
/* Core's FormatMoney and CFeeRate::ToString. */
void tn_format_money(int64_t sats, char *out, size_t len);

/* Counters for testnode_stats. */
void tn_node_counts(tn_node *n, long *mempool, long *height);

#endif
