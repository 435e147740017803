/* oncesign test node — JSON-RPC methods, answering as Monacoin Core 0.20.3 (Bitcoin Core 0.20) does. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node_internal.h"

#define FAIL(c, ...)                                                                                               \
    do {                                                                                                           \
        *code = (c);                                                                                               \
        *msg = xprintf(__VA_ARGS__);                                                                               \
        return NULL;                                                                                               \
    } while (0)

typedef json_t *(*rpc_fn)(tn_node *n, json_t *params, int *code, char **msg);

/* A parameter, or NULL when absent or JSON null (as Core treats null positional arguments). */
static json_t *param(json_t *params, size_t i)
{
    json_t *v = json_is_array(params) && i < json_array_size(params) ? json_array_get(params, i) : NULL;
    return v && !json_is_null(v) ? v : NULL;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "bool";
    default: return "null";
    }
}

#define NEED_STR(v, i)                                                                                             \
    do {                                                                                                           \
        if (!(v)) FAIL(RPC_MISC_ERROR, "missing required parameter %d", (i) + 1);                                  \
        if (!json_is_string(v)) FAIL(RPC_TYPE_ERROR, "Expected type string, got %s", json_type_name(v));           \
    } while (0)

static int get_int(json_t *v, long long *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_true(v) || json_is_false(v)) {
        *out = json_is_true(v);
        return 0;
    }
    return -1;
}

/* ParseHashV: Core's wording for bad txids and block hashes. */
static int parse_hash(json_t *v, const char *name, uint8_t out[32], int *code, char **msg)
{
    if (!v || !json_is_string(v)) {
        *code = RPC_TYPE_ERROR;
        *msg = xprintf("Expected type string, got %s", v ? json_type_name(v) : "null");
        return -1;
    }
    const char *s = json_string_value(v);
    uint8_t tmp[32];
    long r = strlen(s) == 64 ? tn_hex_decode(s, tmp, 32) : -2;
    if (r == -1 || (r == -2 && strspn(s, "0123456789abcdefABCDEF") != strlen(s))) {
        *code = RPC_INVALID_PARAMETER;
        *msg = xprintf("%s must be hexadecimal string (not '%s')", name, s);
        return -1;
    }
    if (r != 32) {
        *code = RPC_INVALID_PARAMETER;
        *msg = xprintf("%s must be of length 64 (not %zu, for '%s')", name, strlen(s), s);
        return -1;
    }
    tn_hash_from_hex(s, out);
    return 0;
}

static json_t *hash_json(const uint8_t h[32])
{
    char s[65];
    tn_hash_to_hex(h, s);
    return json_string(s);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *s = tn_hex_encode_alloc(p, n);
    json_t *j = json_string(s);
    free(s);
    return j;
}

/* ---------- transactions to JSON (Core's ScriptPubKeyToUniv / TxToUniv) ---------- */

static json_t *spk_json(const uint8_t *spk, size_t len, int with_asm)
{
    json_t *o = json_object();
    if (with_asm) {
        char *a = tn_script_asm(spk, len, 0);
        json_object_set_new(o, "asm", json_string(a));
        free(a);
    }
    json_object_set_new(o, "hex", hex_json(spk, len));
    tn_spk_type t = tn_spk_classify(spk, len, NULL, NULL);
    char addr[100];
    if (tn_spk_to_address(spk, len, addr) == 0) {
        json_object_set_new(o, "reqSigs", json_integer(1));
        json_object_set_new(o, "type", json_string(tn_spk_type_name(t)));
        json_t *a = json_array();
        json_array_append_new(a, json_string(addr));
        json_object_set_new(o, "addresses", a);
    } else {
        json_object_set_new(o, "type", json_string(tn_spk_type_name(t)));
    }
    return o;
}

static json_t *tx_json(const txrec *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "txid", hash_json(r->txid));
    json_object_set_new(o, "hash", hash_json(r->wtxid));
    json_object_set_new(o, "version", json_integer(r->tx.version));
    json_object_set_new(o, "size", json_integer((json_int_t)r->size));
    json_object_set_new(o, "vsize", json_integer((json_int_t)r->vsize));
    json_object_set_new(o, "weight", json_integer((json_int_t)r->weight));
    json_object_set_new(o, "locktime", json_integer(r->tx.locktime));
    json_t *vin = json_array();
    for (size_t i = 0; i < r->tx.nin; i++) {
        const tn_txin *in = &r->tx.in[i];
        json_t *x = json_object();
        if (r->coinbase) {
            json_object_set_new(x, "coinbase", hex_json(in->script, in->script_len));
        } else {
            json_object_set_new(x, "txid", hash_json(in->prev.hash));
            json_object_set_new(x, "vout", json_integer(in->prev.n));
            json_t *ss = json_object();
            char *a = tn_script_asm(in->script, in->script_len, 1);
            json_object_set_new(ss, "asm", json_string(a));
            free(a);
            json_object_set_new(ss, "hex", hex_json(in->script, in->script_len));
            json_object_set_new(x, "scriptSig", ss);
        }
        if (in->nwit) {
            json_t *w = json_array();
            for (size_t k = 0; k < in->nwit; k++) json_array_append_new(w, hex_json(in->wit[k], in->wit_len[k]));
            json_object_set_new(x, "txinwitness", w);
        }
        json_object_set_new(x, "sequence", json_integer(in->sequence));
        json_array_append_new(vin, x);
    }
    json_object_set_new(o, "vin", vin);
    json_t *vout = json_array();
    for (size_t i = 0; i < r->tx.nout; i++) {
        json_t *x = json_object();
        json_object_set_new(x, "value", tn_json_amount(r->tx.out[i].value));
        json_object_set_new(x, "n", json_integer((json_int_t)i));
        json_object_set_new(x, "scriptPubKey", spk_json(r->tx.out[i].script, r->tx.out[i].script_len, 1));
        json_array_append_new(vout, x);
    }
    json_object_set_new(o, "vout", vout);
    json_object_set_new(o, "hex", hex_json(r->raw, r->raw_len));
    return o;
}

/* ---------- chain queries ---------- */

static json_t *rpc_getblockcount(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)p, (void)code, (void)msg;
    return json_integer(tip_height(n));
}

static json_t *rpc_getbestblockhash(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)p, (void)code, (void)msg;
    return hash_json(n->blocks[tip_height(n)]->hash);
}

static json_t *rpc_getblockhash(tn_node *n, json_t *p, int *code, char **msg)
{
    long long h;
    json_t *v = param(p, 0);
    if (!v || get_int(v, &h)) FAIL(RPC_TYPE_ERROR, "Expected type number, got %s", v ? json_type_name(v) : "null");
    if (h < 0 || h > tip_height(n)) FAIL(RPC_INVALID_PARAMETER, "Block height out of range");
    return hash_json(n->blocks[h]->hash);
}

static json_t *rpc_getblockchaininfo(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)p, (void)code, (void)msg;
    int h = tip_height(n);
    json_t *o = json_object();
    json_object_set_new(o, "chain", json_string("regtest"));
    json_object_set_new(o, "blocks", json_integer(h));
    json_object_set_new(o, "headers", json_integer(h));
    json_object_set_new(o, "bestblockhash", hash_json(n->blocks[h]->hash));
    json_object_set_new(o, "difficulty", json_real(4.656542373906925e-10));
    json_object_set_new(o, "mediantime", json_integer(median_time_past(n, h)));
    json_object_set_new(o, "verificationprogress", json_integer(1));
    json_object_set_new(o, "initialblockdownload", json_boolean(h == 0));
    char cw[65];
    snprintf(cw, sizeof cw, "%064x", (unsigned)(2 * (h + 1)));
    json_object_set_new(o, "chainwork", json_string(cw));
    json_object_set_new(o, "size_on_disk", json_integer(0));
    json_object_set_new(o, "pruned", json_false());
    json_object_set_new(o, "softforks", json_object());
    json_object_set_new(o, "warnings", json_string(""));
    return o;
}

static json_t *header_json(tn_node *n, const block *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "hash", hash_json(b->hash));
    json_object_set_new(o, "confirmations", json_integer(tip_height(n) - b->height + 1));
    return o;
}

static void header_fields(const block *b, json_t *o)
{
    char vh[16];
    uint32_t ver = b->height == 0 ? 1 : 0x20000000u;
    snprintf(vh, sizeof vh, "%08x", ver);
    json_object_set_new(o, "version", json_integer(ver));
    json_object_set_new(o, "versionHex", json_string(vh));
    json_object_set_new(o, "merkleroot", hash_json(b->merkle));
}

static void header_tail(tn_node *n, const block *b, json_t *o)
{
    char cw[65];
    json_object_set_new(o, "time", json_integer(b->time));
    json_object_set_new(o, "mediantime", json_integer(median_time_past(n, b->height)));
    json_object_set_new(o, "nonce", json_integer(b->height));
    json_object_set_new(o, "bits", json_string("207fffff"));
    json_object_set_new(o, "difficulty", json_real(4.656542373906925e-10));
    snprintf(cw, sizeof cw, "%064x", (unsigned)(2 * (b->height + 1)));
    json_object_set_new(o, "chainwork", json_string(cw));
    json_object_set_new(o, "nTx", json_integer((json_int_t)b->ntx));
    if (b->height > 0) json_object_set_new(o, "previousblockhash", hash_json(b->prev));
    if (b->height < tip_height(n)) json_object_set_new(o, "nextblockhash", hash_json(n->blocks[b->height + 1]->hash));
}

static void block_serialize(const block *b, tn_buf *out, int witness)
{
    tn_buf_put(out, b->header, 80);
    tn_buf_varint(out, b->ntx);
    for (size_t i = 0; i < b->ntx; i++) tn_tx_serialize(&b->txs[i]->tx, witness, out);
}

static json_t *rpc_getblock(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "blockhash", h, code, msg)) return NULL;
    long long verbosity = 1;
    json_t *v = param(p, 1);
    if (v && get_int(v, &verbosity)) FAIL(RPC_TYPE_ERROR, "Expected type number, got %s", json_type_name(v));
    block *b = hm_get(&n->block_by_hash, h);
    if (!b) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Block not found");
    tn_buf raw = {0};
    block_serialize(b, &raw, 1);
    if (verbosity <= 0) {
        json_t *j = hex_json(raw.p, raw.len);
        tn_buf_free(&raw);
        return j;
    }
    tn_buf stripped = {0};
    block_serialize(b, &stripped, 0);
    json_t *o = header_json(n, b);
    json_object_set_new(o, "strippedsize", json_integer((json_int_t)stripped.len));
    json_object_set_new(o, "size", json_integer((json_int_t)raw.len));
    json_object_set_new(o, "weight", json_integer((json_int_t)(stripped.len * 3 + raw.len)));
    json_object_set_new(o, "height", json_integer(b->height));
    header_fields(b, o);
    json_t *txs = json_array();
    for (size_t i = 0; i < b->ntx; i++)
        json_array_append_new(txs, verbosity >= 2 ? tx_json(b->txs[i]) : hash_json(b->txs[i]->txid));
    json_object_set_new(o, "tx", txs);
    header_tail(n, b, o);
    tn_buf_free(&raw);
    tn_buf_free(&stripped);
    return o;
}

static json_t *rpc_getblockheader(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "hash", h, code, msg)) return NULL;
    block *b = hm_get(&n->block_by_hash, h);
    if (!b) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Block not found");
    json_t *v = param(p, 1);
    if (v && json_is_false(v)) return hex_json(b->header, 80);
    json_t *o = header_json(n, b);
    json_object_set_new(o, "height", json_integer(b->height));
    header_fields(b, o);
    header_tail(n, b, o);
    return o;
}

static json_t *rpc_getrawtransaction(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "parameter 1", h, code, msg)) return NULL;
    long long verbose = 0;
    json_t *v = param(p, 1);
    if (v && get_int(v, &verbose)) FAIL(RPC_TYPE_ERROR, "Expected type bool, got %s", json_type_name(v));
    txrec *r = hm_get(&n->txs, h);
    if (!r || r == n->blocks[0]->txs[0]) /* Core does not index the genesis coinbase */
        FAIL(RPC_INVALID_ADDRESS_OR_KEY,
             "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.");
    if (!verbose) return hex_json(r->raw, r->raw_len);
    json_t *o = tx_json(r);
    if (r->height >= 0) {
        json_object_set_new(o, "blockhash", hash_json(r->block_hash));
        json_object_set_new(o, "confirmations", json_integer(tip_height(n) - r->height + 1));
        json_object_set_new(o, "time", json_integer(r->block_time));
        json_object_set_new(o, "blocktime", json_integer(r->block_time));
    }
    return o;
}

static json_t *rpc_decoderawtransaction(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)n;
    json_t *v = param(p, 0);
    NEED_STR(v, 0);
    size_t len;
    uint8_t *raw = tn_hex_decode_alloc(json_string_value(v), &len);
    tn_tx tx;
    if (!raw || tn_tx_parse(raw, len, &tx) != 0) {
        free(raw);
        FAIL(RPC_DESERIALIZATION_ERROR, "TX decode failed");
    }
    free(raw);
    txrec *r = txrec_from_tx(&tx);
    json_t *o = tx_json(r);
    json_object_del(o, "hex");
    txrec_free(r);
    return o;
}

static json_t *rpc_gettxout(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "txid", h, code, msg)) return NULL;
    long long vout, incl = 1;
    json_t *v = param(p, 1);
    if (!v || get_int(v, &vout)) FAIL(RPC_TYPE_ERROR, "Expected type number, got %s", v ? json_type_name(v) : "null");
    if (param(p, 2) && get_int(param(p, 2), &incl)) FAIL(RPC_TYPE_ERROR, "Expected type bool");
    if (vout < 0 || vout > 0xffffffffLL) return json_null();
    tn_outpoint op;
    memcpy(op.hash, h, 32);
    op.n = (uint32_t)vout;
    if (incl && mempool_spender(n, &op)) return json_null();
    txrec *r = coin_source(n, &op, (int)incl);
    if (!r) return json_null();
    const tn_txout *o = &r->tx.out[op.n];
    json_t *j = json_object();
    json_object_set_new(j, "bestblock", hash_json(n->blocks[tip_height(n)]->hash));
    json_object_set_new(j, "confirmations", json_integer(r->height < 0 ? 0 : tip_height(n) - r->height + 1));
    json_object_set_new(j, "value", tn_json_amount(o->value));
    json_object_set_new(j, "scriptPubKey", spk_json(o->script, o->script_len, 1));
    json_object_set_new(j, "coinbase", json_boolean(r->coinbase));
    return j;
}

/* ---------- mempool ---------- */

static void ancestors(tn_node *n, txrec *r, txrec ***set, size_t *count, size_t *cap)
{
    for (size_t i = 0; i < r->tx.nin; i++) {
        txrec *pr = hm_get(&n->txs, r->tx.in[i].prev.hash);
        if (!pr || pr->height >= 0) continue;
        int dup = 0;
        for (size_t k = 0; k < *count; k++)
            if ((*set)[k] == pr) dup = 1;
        if (dup) continue;
        if (*count == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            txrec **s = realloc(*set, *cap * sizeof(txrec *));
            if (!s) abort();
            *set = s;
        }
        (*set)[(*count)++] = pr;
        ancestors(n, pr, set, count, cap);
    }
}

static json_t *mempool_entry_json(tn_node *n, txrec *r)
{
    txrec **anc = NULL, **desc = NULL;
    size_t na = 0, ca = 0, nd = 0, cd = 0;
    ancestors(n, r, &anc, &na, &ca);
    mempool_descendants(n, r, &desc, &nd, &cd);
    int64_t afee = r->fee, dfee = 0;
    size_t asize = r->vsize, dsize = 0;
    int replaceable = signals_rbf(r);
    for (size_t i = 0; i < na; i++) {
        afee += anc[i]->fee;
        asize += anc[i]->vsize;
        if (signals_rbf(anc[i])) replaceable = 1;
    }
    for (size_t i = 0; i < nd; i++) {
        dfee += desc[i]->fee;
        dsize += desc[i]->vsize;
    }
    json_t *fees = json_object();
    json_object_set_new(fees, "base", tn_json_amount(r->fee));
    json_object_set_new(fees, "modified", tn_json_amount(r->fee));
    json_object_set_new(fees, "ancestor", tn_json_amount(afee));
    json_object_set_new(fees, "descendant", tn_json_amount(dfee));
    json_t *o = json_object();
    json_object_set_new(o, "fees", fees);
    json_object_set_new(o, "vsize", json_integer((json_int_t)r->vsize));
    json_object_set_new(o, "weight", json_integer((json_int_t)r->weight));
    json_object_set_new(o, "fee", tn_json_amount(r->fee));
    json_object_set_new(o, "modifiedfee", tn_json_amount(r->fee));
    json_object_set_new(o, "time", json_integer(r->entry_time));
    json_object_set_new(o, "height", json_integer(r->entry_height));
    json_object_set_new(o, "descendantcount", json_integer((json_int_t)nd));
    json_object_set_new(o, "descendantsize", json_integer((json_int_t)dsize));
    json_object_set_new(o, "descendantfees", json_integer(dfee));
    json_object_set_new(o, "ancestorcount", json_integer((json_int_t)na + 1));
    json_object_set_new(o, "ancestorsize", json_integer((json_int_t)asize));
    json_object_set_new(o, "ancestorfees", json_integer(afee));
    json_object_set_new(o, "wtxid", hash_json(r->wtxid));
    json_t *deps = json_array();
    for (size_t i = 0; i < r->tx.nin; i++) {
        txrec *pr = hm_get(&n->txs, r->tx.in[i].prev.hash);
        if (pr && pr->height < 0) json_array_append_new(deps, hash_json(pr->txid));
    }
    json_object_set_new(o, "depends", deps);
    json_t *spent = json_array();
    for (size_t i = 1; i < nd; i++) { /* desc[0] is r itself */
        for (size_t k = 0; k < desc[i]->tx.nin; k++)
            if (memcmp(desc[i]->tx.in[k].prev.hash, r->txid, 32) == 0) {
                json_array_append_new(spent, hash_json(desc[i]->txid));
                break;
            }
    }
    json_object_set_new(o, "spentby", spent);
    json_object_set_new(o, "bip125-replaceable", json_boolean(replaceable));
    free(anc);
    free(desc);
    return o;
}

static json_t *rpc_getmempoolentry(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "parameter 1", h, code, msg)) return NULL;
    txrec *r = hm_get(&n->txs, h);
    if (!r || r->height >= 0) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool");
    return mempool_entry_json(n, r);
}

static json_t *rpc_getrawmempool(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)code, (void)msg;
    json_t *v = param(p, 0);
    int verbose = v && json_is_true(v);
    json_t *o = verbose ? json_object() : json_array();
    for (size_t i = 0; i < n->nmempool; i++) {
        if (verbose) {
            char h[65];
            tn_hash_to_hex(n->mempool[i]->txid, h);
            json_object_set_new(o, h, mempool_entry_json(n, n->mempool[i]));
        } else {
            json_array_append_new(o, hash_json(n->mempool[i]->txid));
        }
    }
    return o;
}

static json_t *rpc_getmempoolinfo(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)p, (void)code, (void)msg;
    size_t bytes = 0;
    for (size_t i = 0; i < n->nmempool; i++) bytes += n->mempool[i]->vsize;
    json_t *o = json_object();
    json_object_set_new(o, "loaded", json_true());
    json_object_set_new(o, "size", json_integer((json_int_t)n->nmempool));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "usage", json_integer((json_int_t)bytes * 4));
    json_object_set_new(o, "maxmempool", json_integer(300000000));
    json_object_set_new(o, "mempoolminfee", tn_json_amount(MIN_RELAY_FEERATE));
    json_object_set_new(o, "minrelaytxfee", tn_json_amount(MIN_RELAY_FEERATE));
    return o;
}

static int parse_feerate_param(json_t *v, int64_t *rate, int *code, char **msg)
{
    *rate = DEFAULT_MAX_FEERATE;
    if (!v) return 0;
    if (!json_is_number(v) && !json_is_string(v)) {
        *code = RPC_TYPE_ERROR;
        *msg = xprintf("Amount is not a number or string");
        return -1;
    }
    if (tn_parse_amount(v, rate) != 0) {
        *code = RPC_TYPE_ERROR;
        *msg = xprintf("Invalid amount");
        return -1;
    }
    return 0;
}

static json_t *rpc_sendrawtransaction(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *v = param(p, 0);
    NEED_STR(v, 0);
    int64_t maxrate;
    if (parse_feerate_param(param(p, 1), &maxrate, code, msg)) return NULL;
    size_t len;
    uint8_t *raw = tn_hex_decode_alloc(json_string_value(v), &len);
    tn_tx tx;
    if (!raw || tn_tx_parse(raw, len, &tx) != 0) {
        free(raw);
        FAIL(RPC_DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at least one input.");
    }
    free(raw);
    txrec *r = accept_tx(n, &tx, maxrate, 0, code, msg);
    if (!r) return NULL;
    return hash_json(r->txid);
}

static json_t *rpc_testmempoolaccept(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *arr = param(p, 0);
    if (!arr || !json_is_array(arr)) FAIL(RPC_TYPE_ERROR, "Expected type array");
    if (json_array_size(arr) != 1) FAIL(RPC_INVALID_PARAMETER, "Array must contain exactly one raw transaction for now");
    int64_t maxrate;
    if (parse_feerate_param(param(p, 1), &maxrate, code, msg)) return NULL;
    json_t *h = json_array_get(arr, 0);
    if (!json_is_string(h)) FAIL(RPC_TYPE_ERROR, "Expected type string");
    size_t len;
    uint8_t *raw = tn_hex_decode_alloc(json_string_value(h), &len);
    tn_tx tx;
    if (!raw || tn_tx_parse(raw, len, &tx) != 0) {
        free(raw);
        FAIL(RPC_DESERIALIZATION_ERROR, "TX decode failed");
    }
    free(raw);
    uint8_t txid[32];
    tn_tx_txid(&tx, txid);
    json_t *o = json_object();
    json_object_set_new(o, "txid", hash_json(txid));
    int c = 0;
    char *m = NULL;
    txrec *r = accept_tx(n, &tx, maxrate, 1, &c, &m);
    if (r) {
        json_object_set_new(o, "allowed", json_false());
        json_object_set_new(o, "reject-reason", json_string("txn-already-in-mempool"));
    } else if (c == 0) {
        json_object_set_new(o, "allowed", json_true());
    } else {
        json_object_set_new(o, "allowed", json_false());
        char *comma = strstr(m, ", ");
        if (comma) *comma = 0;
        json_object_set_new(o, "reject-reason",
                            json_string(strcmp(m, "bad-txns-inputs-missingorspent") == 0 ? "missing-inputs" : m));
    }
    free(m);
    json_t *a = json_array();
    json_array_append_new(a, o);
    return a;
}

static json_t *rpc_estimatesmartfee(tn_node *n, json_t *p, int *code, char **msg)
{
    long long target;
    json_t *v = param(p, 0);
    if (!v || get_int(v, &target)) FAIL(RPC_TYPE_ERROR, "Expected type number, got %s", v ? json_type_name(v) : "null");
    if (target < 1 || target > 1008) FAIL(RPC_INVALID_PARAMETER, "Invalid conf_target, must be between 1 - 1008");
    json_t *o = json_object();
    if (n->est_feerate < 0) {
        json_t *e = json_array();
        json_array_append_new(e, json_string("Insufficient data or no feerate found"));
        json_object_set_new(o, "errors", e);
        json_object_set_new(o, "blocks", json_integer(0));
    } else {
        json_object_set_new(o, "feerate", tn_json_amount(n->est_feerate));
        json_object_set_new(o, "blocks", json_integer(target < 2 ? 2 : target));
    }
    return o;
}

static json_t *rpc_testnode_setfeerate(tn_node *n, json_t *p, int *code, char **msg)
{
    /* [feerate] or [null] / ["none"]: estimatesmartfee answers "Insufficient data"; optional second
     * param sets the wallet's fee rate too (default: same as the estimate). */
    json_t *v = param(p, 0);
    int64_t rate = -1;
    if (v && !(json_is_string(v) && strcmp(json_string_value(v), "none") == 0)) {
        if (tn_parse_amount(v, &rate) != 0) FAIL(RPC_TYPE_ERROR, "Invalid amount");
    }
    n->est_feerate = rate;
    json_t *w = param(p, 1);
    json_t *answer = NULL;
    if (w) {
        int64_t wr;
        if (tn_parse_amount(w, &wr) != 0) FAIL(RPC_TYPE_ERROR, "Invalid amount");
        n->wallet_feerate = wr;
    } else if (rate >= 0) {
        n->wallet_feerate = rate;
    }
    node_log(n, "{\"e\":\"feerate\",\"est\":%" PRId64 ",\"wallet\":%" PRId64 "}", n->est_feerate, n->wallet_feerate);
    answer = json_object();
    json_object_set_new(answer, "feerate", rate < 0 ? json_null() : tn_json_amount(rate));
    json_object_set_new(answer, "walletfeerate", tn_json_amount(n->wallet_feerate));
    return answer;
}

static json_t *rpc_testnode_evict(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "txid", h, code, msg)) return NULL;
    txrec *r = hm_get(&n->txs, h);
    if (!r || r->height >= 0) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool");
    char id[65];
    tn_hash_to_hex(h, id);
    node_log(n, "{\"e\":\"evict\",\"txid\":\"%s\"}", id);
    size_t k = mempool_evict(n, r);
    return json_integer((json_int_t)k);
}

/* ---------- mining ---------- */

static json_t *rpc_generatetoaddress(tn_node *n, json_t *p, int *code, char **msg)
{
    long long nblocks;
    json_t *v = param(p, 0);
    if (!v || get_int(v, &nblocks)) FAIL(RPC_TYPE_ERROR, "Expected type number, got %s", v ? json_type_name(v) : "null");
    json_t *a = param(p, 1);
    NEED_STR(a, 1);
    uint8_t spk[42];
    long l = tn_address_to_spk(json_string_value(a), spk);
    if (l < 0) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Error: Invalid address");
    json_t *out = json_array();
    for (long long i = 0; i < nblocks; i++) {
        block *b = mine_block(n, spk, (size_t)l, 0);
        json_array_append_new(out, hash_json(b->hash));
    }
    return out;
}

/* ---------- wallet and watch-only ---------- */

static int is_watched(tn_node *n, const uint8_t *spk, size_t len)
{
    uint8_t h[32];
    tn_sha256(spk, len, h);
    return hm_get(&n->watched, h) != NULL;
}

void node_watch(tn_node *n, const uint8_t *spk, size_t len)
{
    uint8_t h[32];
    tn_sha256(spk, len, h);
    if (hm_get(&n->watched, h)) return;
    char *hex = tn_hex_encode_alloc(spk, len);
    node_log(n, "{\"e\":\"watch\",\"spk\":\"%s\"}", hex);
    free(hex);
    watch_spk *w = tn_xcalloc(1, sizeof(*w));
    w->spk = tn_memdup(spk, len);
    w->len = len;
    hm_put(&n->watched, h, w);
}

/* One spendable or watched output, for listunspent and coin selection. */
typedef struct {
    txrec *r;
    uint32_t n;
    int confirmations;
    int mine; /* 2 wallet key, 1 watch-only */
    int safe;
} coin;

static int coin_cmp_value_desc(const void *a, const void *b)
{
    const coin *x = a, *y = b;
    int64_t vx = x->r->tx.out[x->n].value, vy = y->r->tx.out[y->n].value;
    if (vx != vy) return vx < vy ? 1 : -1;
    int c = memcmp(x->r->txid, y->r->txid, 32);
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static int coin_cmp_display(const void *a, const void *b)
{
    const coin *x = a, *y = b;
    if (x->confirmations != y->confirmations) return x->confirmations > y->confirmations ? -1 : 1;
    int c = memcmp(x->r->txid, y->r->txid, 32);
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static void coins_add(coin **v, size_t *nv, size_t *cap, coin c)
{
    if (*nv == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        coin *x = realloc(*v, *cap * sizeof(coin));
        if (!x) abort();
        *v = x;
    }
    (*v)[(*nv)++] = c;
}

/* Every unspent output (confirmed, and mempool outputs not spent in the mempool) of a wallet key or a
 * watched script. */
static coin *collect_coins(tn_node *n, size_t *count)
{
    coin *v = NULL;
    size_t nv = 0, cap = 0;
    int tip = tip_height(n);
    for (size_t i = 0; i < n->utxo.cap; i++) {
        hent *e = &n->utxo.e[i];
        if (e->state != 1) continue;
        txrec *r = e->val;
        uint32_t o = (uint32_t)e->key[32] | (uint32_t)e->key[33] << 8 | (uint32_t)e->key[34] << 16 |
                     (uint32_t)e->key[35] << 24;
        tn_outpoint op;
        memcpy(op.hash, r->txid, 32);
        op.n = o;
        if (mempool_spender(n, &op)) continue;
        const tn_txout *out = &r->tx.out[o];
        int mine = wallet_key_for_spk(n, out->script, out->script_len) ? 2 : is_watched(n, out->script, out->script_len);
        if (!mine) continue;
        coins_add(&v, &nv, &cap, (coin){r, o, tip - r->height + 1, mine, 1});
    }
    for (size_t i = 0; i < n->nmempool; i++) {
        txrec *r = n->mempool[i];
        for (uint32_t o = 0; o < r->tx.nout; o++) {
            tn_outpoint op;
            memcpy(op.hash, r->txid, 32);
            op.n = o;
            if (mempool_spender(n, &op)) continue;
            const tn_txout *out = &r->tx.out[o];
            int mine = wallet_key_for_spk(n, out->script, out->script_len) ? 2 : is_watched(n, out->script, out->script_len);
            if (!mine) continue;
            coins_add(&v, &nv, &cap, (coin){r, o, 0, mine, r->wallet});
        }
    }
    *count = nv;
    return v;
}

static int coin_mature(const coin *c)
{
    /* the wallet wants COINBASE_MATURITY+1 confirmations, as Core's GetBlocksToMaturity */
    return !c->r->coinbase || c->confirmations >= COINBASE_MATURITY + 1;
}

static json_t *rpc_getnewaddress(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *t = param(p, 1);
    if (t && (!json_is_string(t) || strcmp(json_string_value(t), "legacy") != 0))
        FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Unknown address type '%s' (this test node's wallet holds P2PKH keys only)",
             json_is_string(t) ? json_string_value(t) : "");
    wallet_key *k = wallet_new_key(n);
    uint8_t spk[25];
    char addr[100];
    tn_spk_p2pkh(k->h160, spk);
    tn_spk_to_address(spk, 25, addr);
    return json_string(addr);
}

static json_t *rpc_getbalance(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)code, (void)msg;
    long long minconf = 0;
    if (param(p, 1)) get_int(param(p, 1), &minconf);
    size_t nc;
    coin *c = collect_coins(n, &nc);
    int64_t total = 0;
    for (size_t i = 0; i < nc; i++)
        if (c[i].mine == 2 && coin_mature(&c[i]) && c[i].safe && c[i].confirmations >= minconf)
            total += c[i].r->tx.out[c[i].n].value;
    free(c);
    return tn_json_amount(total);
}

static json_t *rpc_sendtoaddress(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *a = param(p, 0);
    NEED_STR(a, 0);
    uint8_t dest[42];
    long dl = tn_address_to_spk(json_string_value(a), dest);
    if (dl < 0) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Invalid address");
    json_t *av = param(p, 1);
    if (!av || (!json_is_number(av) && !json_is_string(av))) FAIL(RPC_TYPE_ERROR, "Amount is not a number or string");
    int64_t amount;
    if (tn_parse_amount(av, &amount) != 0) FAIL(RPC_TYPE_ERROR, "Invalid amount");
    if (amount <= 0) FAIL(RPC_TYPE_ERROR, "Invalid amount for send");
    int subtract = param(p, 4) && json_is_true(param(p, 4));
    int replaceable = param(p, 5) && json_is_true(param(p, 5));

    size_t nc;
    coin *c = collect_coins(n, &nc);
    qsort(c, nc, sizeof(coin), coin_cmp_value_desc);
    /* Core's wallet tries confirmed coins first and only then its own unconfirmed change; within a
     * tier, largest coins first until amount + fee is covered */
    int64_t selected = 0, fee = 0;
    size_t nsel = 0;
    coin *sel = tn_xcalloc(nc + 1, sizeof(coin));
    for (int tier = 0; tier < 2; tier++) {
        selected = 0;
        fee = 0;
        nsel = 0;
        for (size_t i = 0; i < nc; i++) {
            if (c[i].mine != 2 || !coin_mature(&c[i]) || !c[i].safe) continue;
            if (tier == 0 && c[i].confirmations < 1) continue;
            sel[nsel++] = c[i];
            selected += c[i].r->tx.out[c[i].n].value;
            fee = fee_for(n->wallet_feerate, 10 + 148 * nsel + 34 * 2);
            if (selected >= amount + (subtract ? 0 : fee)) break;
        }
        if (nsel > 0 && selected >= amount + (subtract ? 0 : fee)) break;
    }
    free(c);
    if (nsel == 0 || selected < amount + (subtract ? 0 : fee)) {
        free(sel);
        FAIL(RPC_WALLET_INSUFFICIENT_FUNDS, "Insufficient funds");
    }
    int64_t pay = subtract ? amount - fee : amount;
    int64_t change = selected - pay - fee;
    if (pay <= 0) {
        free(sel);
        FAIL(RPC_WALLET_ERROR, "The transaction amount is too small to pay the fee");
    }

    tn_tx tx = {0};
    tx.version = 2;
    tx.locktime = (uint32_t)tip_height(n); /* anti fee sniping, as Core's wallet */
    for (size_t i = 0; i < nsel; i++)
        tn_tx_add_input(&tx, sel[i].r->txid, sel[i].n, NULL, 0, replaceable ? 0xfffffffdu : 0xfffffffeu);
    tn_tx_add_output(&tx, pay, dest, (size_t)dl);
    if (change >= 546) {
        wallet_key *ck = wallet_new_key(n);
        uint8_t cspk[25];
        tn_spk_p2pkh(ck->h160, cspk);
        tn_tx_add_output(&tx, change, cspk, 25);
    }
    for (size_t i = 0; i < nsel; i++) {
        const tn_txout *prev = &sel[i].r->tx.out[sel[i].n];
        wallet_key *k = wallet_key_for_spk(n, prev->script, prev->script_len);
        uint8_t h[32], der[73];
        tn_sighash_legacy(&tx, i, prev->script, prev->script_len, 1, h);
        size_t dlen = tn_sign(k->sk, h, der);
        der[dlen++] = 1;
        tn_buf ss = {0};
        tn_buf_push(&ss, der, dlen);
        tn_buf_push(&ss, k->pub, 33);
        tn_txin_set_script(&tx.in[i], ss.p, ss.len);
        tn_buf_free(&ss);
    }
    free(sel);
    int c2 = 0;
    char *m = NULL;
    txrec *r = accept_tx(n, &tx, DEFAULT_MAX_FEERATE, 0, &c2, &m);
    if (!r) {
        *code = RPC_WALLET_ERROR;
        *msg = xprintf("Error: The transaction was rejected! Reason given: %s", m);
        free(m);
        return NULL;
    }
    if (!r->wallet) {
        r->wallet = 1;
        char id[65];
        tn_hash_to_hex(r->txid, id);
        node_log(n, "{\"e\":\"wallet\",\"txid\":\"%s\"}", id);
    }
    return hash_json(r->txid);
}

static const char *desc_charset =
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ ";

static uint64_t desc_polymod(uint64_t c, int val)
{
    uint8_t c0 = (uint8_t)(c >> 35);
    c = ((c & 0x7ffffffffULL) << 5) ^ (uint64_t)val;
    if (c0 & 1) c ^= 0xf5dee51989ULL;
    if (c0 & 2) c ^= 0xa9fdca3312ULL;
    if (c0 & 4) c ^= 0x1bab10e32dULL;
    if (c0 & 8) c ^= 0x3706b1677aULL;
    if (c0 & 16) c ^= 0x644d626ffdULL;
    return c;
}

char *desc_with_checksum(const char *d)
{
    uint64_t c = 1;
    int cls = 0, clscount = 0;
    for (const char *p = d; *p; p++) {
        const char *pos = strchr(desc_charset, *p);
        if (!pos) return strdup(d);
        int v = (int)(pos - desc_charset);
        c = desc_polymod(c, v & 31);
        cls = cls * 3 + (v >> 5);
        if (++clscount == 3) {
            c = desc_polymod(c, cls);
            cls = 0;
            clscount = 0;
        }
    }
    if (clscount > 0) c = desc_polymod(c, cls);
    for (int j = 0; j < 8; j++) c = desc_polymod(c, 0);
    c ^= 1;
    static const char b32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    char sum[9];
    for (int j = 0; j < 8; j++) sum[j] = b32[(c >> (5 * (7 - j))) & 31];
    sum[8] = 0;
    return xprintf("%s#%s", d, sum);
}

static char *infer_desc(tn_node *n, const uint8_t *spk, size_t len)
{
    char addr[100];
    wallet_key *k = wallet_key_for_spk(n, spk, len);
    char *d;
    if (k) {
        char pk[67];
        tn_hex_encode(k->pub, 33, pk);
        d = xprintf("pkh(%s)", pk);
    } else if (tn_spk_to_address(spk, len, addr) == 0) {
        d = xprintf("addr(%s)", addr);
    } else {
        char *h = tn_hex_encode_alloc(spk, len);
        d = xprintf("raw(%s)", h);
        free(h);
    }
    char *r = desc_with_checksum(d);
    free(d);
    return r;
}

static json_t *rpc_listunspent(tn_node *n, json_t *p, int *code, char **msg)
{
    long long minconf = 1, maxconf = 9999999;
    if (param(p, 0) && get_int(param(p, 0), &minconf)) FAIL(RPC_TYPE_ERROR, "Expected type number");
    if (param(p, 1) && get_int(param(p, 1), &maxconf)) FAIL(RPC_TYPE_ERROR, "Expected type number");
    json_t *addrs = param(p, 2);
    if (addrs && !json_is_array(addrs)) FAIL(RPC_TYPE_ERROR, "Expected type array, got %s", json_type_name(addrs));
    uint8_t (*filter)[42] = NULL;
    long *flen = NULL;
    size_t nf = addrs ? json_array_size(addrs) : 0;
    if (nf) {
        filter = tn_xcalloc(nf, 42);
        flen = tn_xcalloc(nf, sizeof(long));
        for (size_t i = 0; i < nf; i++) {
            json_t *s = json_array_get(addrs, i);
            flen[i] = json_is_string(s) ? tn_address_to_spk(json_string_value(s), filter[i]) : -1;
            if (flen[i] < 0) {
                free(filter);
                free(flen);
                FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Invalid Monacoin address: %s", json_is_string(s) ? json_string_value(s) : "");
            }
        }
    }
    int include_unsafe = !param(p, 3) || json_is_true(param(p, 3));
    json_t *q = param(p, 4);
    int64_t min_amount = 0, max_amount = TN_MAX_MONEY, min_sum = -1;
    long long max_count = 0;
    if (q && json_is_object(q)) {
        json_t *x;
        if ((x = json_object_get(q, "minimumAmount"))) tn_parse_amount(x, &min_amount);
        if ((x = json_object_get(q, "maximumAmount"))) tn_parse_amount(x, &max_amount);
        if ((x = json_object_get(q, "minimumSumAmount"))) tn_parse_amount(x, &min_sum);
        if ((x = json_object_get(q, "maximumCount"))) get_int(x, &max_count);
    }
    size_t nc;
    coin *c = collect_coins(n, &nc);
    qsort(c, nc, sizeof(coin), coin_cmp_display);
    json_t *out = json_array();
    int64_t sum = 0;
    long long count = 0;
    for (size_t i = 0; i < nc; i++) {
        const tn_txout *o = &c[i].r->tx.out[c[i].n];
        if (c[i].confirmations < minconf || c[i].confirmations > maxconf) continue;
        if (!coin_mature(&c[i])) continue;
        if (!include_unsafe && !c[i].safe) continue;
        if (o->value < min_amount || o->value > max_amount) continue;
        if (nf) {
            int hit = 0;
            for (size_t k = 0; k < nf; k++)
                if ((size_t)flen[k] == o->script_len && memcmp(filter[k], o->script, o->script_len) == 0) hit = 1;
            if (!hit) continue;
        }
        json_t *x = json_object();
        json_object_set_new(x, "txid", hash_json(c[i].r->txid));
        json_object_set_new(x, "vout", json_integer(c[i].n));
        char addr[100];
        if (tn_spk_to_address(o->script, o->script_len, addr) == 0) {
            json_object_set_new(x, "address", json_string(addr));
            json_object_set_new(x, "label", json_string(""));
        }
        json_object_set_new(x, "scriptPubKey", hex_json(o->script, o->script_len));
        json_object_set_new(x, "amount", tn_json_amount(o->value));
        json_object_set_new(x, "confirmations", json_integer(c[i].confirmations));
        json_object_set_new(x, "spendable", json_boolean(c[i].mine == 2));
        json_object_set_new(x, "solvable", json_boolean(c[i].mine == 2));
        if (c[i].mine == 2) {
            char *d = infer_desc(n, o->script, o->script_len);
            json_object_set_new(x, "desc", json_string(d));
            free(d);
        }
        json_object_set_new(x, "safe", json_boolean(c[i].safe));
        json_array_append_new(out, x);
        sum += o->value;
        count++;
        if (min_sum >= 0 && sum >= min_sum) break;
        if (max_count > 0 && count >= max_count) break;
    }
    free(c);
    free(filter);
    free(flen);
    return out;
}

static json_t *import_error(int c, char *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "success", json_false());
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(c));
    json_object_set_new(e, "message", json_string(m));
    free(m);
    json_object_set_new(o, "error", e);
    return o;
}

/* Parses the descriptors this node understands: addr(A), raw(H), pkh(K), wpkh(K), sh(wpkh(K)) with K a
 * hex public key. Returns the scriptPubKey length or -1 with *err set. */
static long parse_descriptor(const char *desc, uint8_t spk[42], char **err)
{
    char d[512];
    snprintf(d, sizeof d, "%s", desc);
    char *hash = strchr(d, '#');
    if (hash) {
        *hash = 0;
        char *full = desc_with_checksum(d);
        const char *want = strchr(full, '#');
        if (!want || strcmp(want + 1, hash + 1) != 0) {
            *err = xprintf("Provided checksum '%s' does not match computed checksum '%s'", hash + 1, want ? want + 1 : "");
            free(full);
            return -1;
        }
        free(full);
    }
    size_t l = strlen(d);
    uint8_t key[65], h[20];
#define INNER(prefix) (strncmp(d, prefix, strlen(prefix)) == 0 && l > strlen(prefix) && d[l - 1] == ')')
    if (INNER("addr(")) {
        d[l - 1] = 0;
        long r = tn_address_to_spk(d + 5, spk);
        if (r < 0) *err = xprintf("Address is not valid");
        return r;
    }
    if (INNER("raw(")) {
        d[l - 1] = 0;
        long r = tn_hex_decode(d + 4, spk, 42);
        if (r < 0) *err = xprintf("Raw script is not hex");
        return r;
    }
    const char *kh = NULL;
    int type = 0;
    if (INNER("pkh(")) {
        d[l - 1] = 0;
        kh = d + 4;
        type = 1;
    } else if (INNER("wpkh(")) {
        d[l - 1] = 0;
        kh = d + 5;
        type = 2;
    } else if (INNER("sh(wpkh(") && l > 10 && d[l - 2] == ')') {
        d[l - 2] = 0;
        kh = d + 8;
        type = 3;
    }
#undef INNER
    if (!kh) {
        *err = xprintf("'%s' is not a descriptor this test node supports", desc);
        return -1;
    }
    long kl = tn_hex_decode(kh, key, sizeof key);
    if (!((kl == 33 && (key[0] == 2 || key[0] == 3)) || (kl == 65 && key[0] == 4 && type == 1))) {
        *err = xprintf("Key '%s' is not valid", kh);
        return -1;
    }
    tn_hash160(key, (size_t)kl, h);
    if (type == 1) return (long)tn_spk_p2pkh(h, spk);
    if (type == 2) return (long)tn_spk_p2wpkh(h, spk);
    uint8_t redeem[22], rh[20];
    tn_spk_p2wpkh(h, redeem);
    tn_hash160(redeem, 22, rh);
    return (long)tn_spk_p2sh(rh, spk);
}

static json_t *rpc_importmulti(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *reqs = param(p, 0);
    if (!reqs || !json_is_array(reqs)) FAIL(RPC_TYPE_ERROR, "Expected type array, got %s", reqs ? json_type_name(reqs) : "null");
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r)
    {
        if (!json_is_object(r)) {
            json_array_append_new(out, import_error(RPC_TYPE_ERROR, xprintf("Expected type object")));
            continue;
        }
        json_t *ts = json_object_get(r, "timestamp");
        if (!ts) {
            json_array_append_new(out, import_error(RPC_TYPE_ERROR, xprintf("Missing required timestamp field for key")));
            continue;
        }
        uint8_t spk[42];
        long l = -1;
        json_t *s = json_object_get(r, "scriptPubKey");
        json_t *d = json_object_get(r, "desc");
        char *err = NULL;
        if (s && d) {
            json_array_append_new(out, import_error(RPC_INVALID_PARAMETER, xprintf("Both a descriptor and a scriptPubKey should not be provided.")));
            continue;
        } else if (d && json_is_string(d)) {
            l = parse_descriptor(json_string_value(d), spk, &err);
            if (l < 0) {
                json_array_append_new(out, import_error(RPC_INVALID_ADDRESS_OR_KEY, err));
                continue;
            }
        } else if (s && json_is_string(s)) {
            l = tn_hex_decode(json_string_value(s), spk, sizeof spk);
            if (l < 0) {
                json_array_append_new(out, import_error(RPC_INVALID_PARAMETER, xprintf("scriptPubKey must be hex (or too long for this test node)")));
                continue;
            }
        } else if (s && json_is_object(s) && json_is_string(json_object_get(s, "address"))) {
            const char *a = json_string_value(json_object_get(s, "address"));
            l = tn_address_to_spk(a, spk);
            if (l < 0) {
                json_array_append_new(out, import_error(RPC_INVALID_ADDRESS_OR_KEY, xprintf("Invalid address \"%s\"", a)));
                continue;
            }
        } else {
            json_array_append_new(out, import_error(RPC_INVALID_PARAMETER, xprintf("Either a descriptor or scriptPubKey must be provided.")));
            continue;
        }
        node_watch(n, spk, (size_t)l);
        json_t *ok = json_object();
        json_object_set_new(ok, "success", json_true());
        if (!json_is_true(json_object_get(r, "watchonly"))) {
            json_t *w = json_array();
            json_array_append_new(w, json_string("Some private keys are missing, outputs will be considered watchonly. If this is intentional, specify the watchonly flag."));
            json_object_set_new(ok, "warnings", w);
        }
        json_array_append_new(out, ok);
    }
    return out;
}

static json_t *rpc_scantxoutset(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *act = param(p, 0);
    NEED_STR(act, 0);
    const char *a = json_string_value(act);
    if (strcmp(a, "status") == 0) return json_null();
    if (strcmp(a, "abort") == 0) return json_false();
    if (strcmp(a, "start") != 0) FAIL(RPC_INVALID_PARAMETER, "Invalid command");
    json_t *objs = param(p, 1);
    if (!objs || !json_is_array(objs)) FAIL(RPC_MISC_ERROR, "scanobjects argument is required for the start action");
    size_t no = json_array_size(objs);
    uint8_t (*spks)[42] = tn_xcalloc(no ? no : 1, 42);
    long *lens = tn_xcalloc(no ? no : 1, sizeof(long));
    for (size_t i = 0; i < no; i++) {
        json_t *o = json_array_get(objs, i);
        const char *d = json_is_string(o) ? json_string_value(o)
                        : json_is_object(o) && json_is_string(json_object_get(o, "desc"))
                            ? json_string_value(json_object_get(o, "desc"))
                            : NULL;
        char *err = NULL;
        if (!d) {
            free(spks);
            free(lens);
            FAIL(RPC_INVALID_PARAMETER, "Scan object needs to be either a string or an object");
        }
        lens[i] = parse_descriptor(d, spks[i], &err);
        if (lens[i] < 0) {
            free(spks);
            free(lens);
            *code = RPC_INVALID_ADDRESS_OR_KEY;
            *msg = err;
            return NULL;
        }
    }
    json_t *unspents = json_array();
    int64_t total = 0;
    size_t scanned = 0;
    for (size_t i = 0; i < n->utxo.cap; i++) {
        hent *e = &n->utxo.e[i];
        if (e->state != 1) continue;
        scanned++;
        txrec *r = e->val;
        uint32_t o = (uint32_t)e->key[32] | (uint32_t)e->key[33] << 8 | (uint32_t)e->key[34] << 16 |
                     (uint32_t)e->key[35] << 24;
        const tn_txout *out = &r->tx.out[o];
        int hit = 0;
        for (size_t k = 0; k < no && !hit; k++)
            hit = (size_t)lens[k] == out->script_len && memcmp(spks[k], out->script, out->script_len) == 0;
        if (!hit) continue;
        json_t *x = json_object();
        json_object_set_new(x, "txid", hash_json(r->txid));
        json_object_set_new(x, "vout", json_integer(o));
        json_object_set_new(x, "scriptPubKey", hex_json(out->script, out->script_len));
        char addr[100], *d;
        if (tn_spk_to_address(out->script, out->script_len, addr) == 0) {
            char *plain = xprintf("addr(%s)", addr);
            d = desc_with_checksum(plain);
            free(plain);
        } else {
            char *h = tn_hex_encode_alloc(out->script, out->script_len);
            char *plain = xprintf("raw(%s)", h);
            d = desc_with_checksum(plain);
            free(plain);
            free(h);
        }
        json_object_set_new(x, "desc", json_string(d));
        free(d);
        json_object_set_new(x, "amount", tn_json_amount(out->value));
        json_object_set_new(x, "height", json_integer(r->height));
        json_array_append_new(unspents, x);
        total += out->value;
    }
    free(spks);
    free(lens);
    json_t *res = json_object();
    json_object_set_new(res, "success", json_true());
    json_object_set_new(res, "txouts", json_integer((json_int_t)scanned));
    json_object_set_new(res, "height", json_integer(tip_height(n)));
    json_object_set_new(res, "bestblock", hash_json(n->blocks[tip_height(n)]->hash));
    json_object_set_new(res, "unspents", unspents);
    json_object_set_new(res, "total_amount", tn_json_amount(total));
    return res;
}

static json_t *address_common(tn_node *n, const char *addr, const uint8_t *spk, size_t l, int info)
{
    json_t *o = json_object();
    if (!info) json_object_set_new(o, "isvalid", json_true());
    json_object_set_new(o, "address", json_string(addr));
    json_object_set_new(o, "scriptPubKey", hex_json(spk, l));
    tn_spk_type t = tn_spk_classify(spk, l, NULL, NULL);
    if (info) {
        wallet_key *k = wallet_key_for_spk(n, spk, l);
        int w = is_watched(n, spk, l);
        json_object_set_new(o, "ismine", json_boolean(k != NULL));
        json_object_set_new(o, "solvable", json_boolean(k != NULL));
        if (k) {
            char *d = infer_desc(n, spk, l);
            json_object_set_new(o, "desc", json_string(d));
            free(d);
        }
        json_object_set_new(o, "iswatchonly", json_boolean(!k && w));
    }
    json_object_set_new(o, "isscript", json_boolean(t == TN_SPK_P2SH || t == TN_SPK_P2WSH));
    json_object_set_new(o, "iswitness", json_boolean(t == TN_SPK_P2WPKH || t == TN_SPK_P2WSH));
    if (t == TN_SPK_P2WPKH || t == TN_SPK_P2WSH) {
        json_object_set_new(o, "witness_version", json_integer(0));
        json_object_set_new(o, "witness_program", hex_json(spk + 2, l - 2));
    }
    if (info) {
        wallet_key *k = wallet_key_for_spk(n, spk, l);
        if (k) {
            json_object_set_new(o, "pubkey", hex_json(k->pub, 33));
            json_object_set_new(o, "iscompressed", json_true());
        }
        json_object_set_new(o, "label", json_string(""));
        json_object_set_new(o, "ischange", json_false());
        json_object_set_new(o, "labels", json_array());
    }
    return o;
}

static json_t *rpc_validateaddress(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *a = param(p, 0);
    NEED_STR(a, 0);
    uint8_t spk[42];
    long l = tn_address_to_spk(json_string_value(a), spk);
    if (l < 0) {
        json_t *o = json_object();
        json_object_set_new(o, "isvalid", json_false());
        return o;
    }
    return address_common(n, json_string_value(a), spk, (size_t)l, 0);
}

static json_t *rpc_getaddressinfo(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *a = param(p, 0);
    NEED_STR(a, 0);
    uint8_t spk[42];
    long l = tn_address_to_spk(json_string_value(a), spk);
    if (l < 0) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Invalid address");
    return address_common(n, json_string_value(a), spk, (size_t)l, 1);
}

static json_t *rpc_mempool_relatives(tn_node *n, json_t *p, int *code, char **msg, int descendants)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "parameter 1", h, code, msg)) return NULL;
    txrec *r = hm_get(&n->txs, h);
    if (!r || r->height >= 0) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool");
    txrec **set = NULL;
    size_t count = 0, cap = 0;
    if (descendants)
        mempool_descendants(n, r, &set, &count, &cap);
    else
        ancestors(n, r, &set, &count, &cap);
    int verbose = param(p, 1) && json_is_true(param(p, 1));
    json_t *o = verbose ? json_object() : json_array();
    for (size_t i = descendants ? 1 : 0; i < count; i++) { /* the descendants set starts with r */
        if (verbose) {
            char id[65];
            tn_hash_to_hex(set[i]->txid, id);
            json_object_set_new(o, id, mempool_entry_json(n, set[i]));
        } else {
            json_array_append_new(o, hash_json(set[i]->txid));
        }
    }
    free(set);
    return o;
}

static json_t *rpc_getmempoolancestors(tn_node *n, json_t *p, int *code, char **msg)
{
    return rpc_mempool_relatives(n, p, code, msg, 0);
}

static json_t *rpc_getmempooldescendants(tn_node *n, json_t *p, int *code, char **msg)
{
    return rpc_mempool_relatives(n, p, code, msg, 1);
}

/* gettransaction for transactions that touch the wallet's keys (or, with include_watchonly, watched
 * scripts): Core's amount/fee arithmetic (amount = credit - value out when sent from the wallet). */
static json_t *rpc_gettransaction(tn_node *n, json_t *p, int *code, char **msg)
{
    uint8_t h[32];
    if (parse_hash(param(p, 0), "txid", h, code, msg)) return NULL;
    int watch_too = param(p, 1) && json_is_true(param(p, 1));
    txrec *r = hm_get(&n->txs, h);
#define MINE(spk, len) (wallet_key_for_spk(n, spk, len) ? 1 : (watch_too && is_watched(n, spk, len)))
    int64_t credit = 0, debit = 0, out_total = 0;
    int touches = 0;
    if (r) {
        for (size_t o = 0; o < r->tx.nout; o++) {
            out_total += r->tx.out[o].value;
            if (MINE(r->tx.out[o].script, r->tx.out[o].script_len)) {
                credit += r->tx.out[o].value;
                touches = 1;
            }
        }
        for (size_t i = 0; !r->coinbase && i < r->tx.nin; i++) {
            txrec *pr = hm_get(&n->txs, r->tx.in[i].prev.hash);
            if (!pr || r->tx.in[i].prev.n >= pr->tx.nout) continue;
            const tn_txout *po = &pr->tx.out[r->tx.in[i].prev.n];
            if (MINE(po->script, po->script_len)) {
                debit += po->value;
                touches = 1;
            }
        }
    }
    if (!touches) FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id");
    int from_me = debit > 0;
    int64_t fee = from_me ? out_total - debit : 0;
    int conf = r->height < 0 ? 0 : tip_height(n) - r->height + 1;
    json_t *o = json_object();
    json_object_set_new(o, "amount", tn_json_amount(credit - debit - fee));
    if (from_me) json_object_set_new(o, "fee", tn_json_amount(fee));
    json_object_set_new(o, "confirmations", json_integer(conf));
    if (r->coinbase) json_object_set_new(o, "generated", json_true());
    if (conf == 0) json_object_set_new(o, "trusted", json_boolean(r->wallet));
    if (r->height >= 0) {
        json_object_set_new(o, "blockhash", hash_json(r->block_hash));
        json_object_set_new(o, "blockheight", json_integer(r->height));
        block *b = n->blocks[r->height];
        size_t idx = 0;
        for (size_t i = 0; i < b->ntx; i++)
            if (b->txs[i] == r) idx = i;
        json_object_set_new(o, "blockindex", json_integer((json_int_t)idx));
        json_object_set_new(o, "blocktime", json_integer(r->block_time));
    }
    json_object_set_new(o, "txid", hash_json(r->txid));
    json_object_set_new(o, "walletconflicts", json_array());
    int64_t t = r->height >= 0 && !r->entry_time ? r->block_time : r->entry_time;
    json_object_set_new(o, "time", json_integer(t));
    json_object_set_new(o, "timereceived", json_integer(t));
    int rbf = r->height < 0 && signals_rbf(r);
    json_object_set_new(o, "bip125-replaceable", json_string(r->height >= 0 ? "no" : rbf ? "yes" : "no"));
    json_t *details = json_array();
    for (size_t i = 0; i < r->tx.nout; i++) {
        const tn_txout *x = &r->tx.out[i];
        int mine = MINE(x->script, x->script_len);
        char addr[100];
        int has_addr = tn_spk_to_address(x->script, x->script_len, addr) == 0;
        if (from_me && !mine) {
            json_t *d = json_object();
            if (has_addr) json_object_set_new(d, "address", json_string(addr));
            json_object_set_new(d, "category", json_string("send"));
            json_object_set_new(d, "amount", tn_json_amount(-x->value));
            json_object_set_new(d, "vout", json_integer((json_int_t)i));
            json_object_set_new(d, "fee", tn_json_amount(fee));
            json_object_set_new(d, "abandoned", json_false());
            json_array_append_new(details, d);
        }
        if (mine) {
            json_t *d = json_object();
            if (!wallet_key_for_spk(n, x->script, x->script_len)) json_object_set_new(d, "involvesWatchonly", json_true());
            if (has_addr) json_object_set_new(d, "address", json_string(addr));
            const char *cat = !r->coinbase ? "receive" : conf > COINBASE_MATURITY ? "generate" : "immature";
            json_object_set_new(d, "category", json_string(cat));
            json_object_set_new(d, "amount", tn_json_amount(x->value));
            json_object_set_new(d, "vout", json_integer((json_int_t)i));
            json_array_append_new(details, d);
        }
    }
#undef MINE
    json_object_set_new(o, "details", details);
    json_object_set_new(o, "hex", hex_json(r->raw, r->raw_len));
    return o;
}

/* Test-only: everything the chain (and, with minconf 0, the mempool) ever paid to each address, spent
 * or not, so a test can assert "paid exactly once" from the chain itself. */
static json_t *rpc_testnode_received(tn_node *n, json_t *p, int *code, char **msg)
{
    json_t *addrs = param(p, 0);
    if (!addrs || !json_is_array(addrs)) FAIL(RPC_TYPE_ERROR, "Expected type array");
    long long minconf = 1;
    if (param(p, 1) && get_int(param(p, 1), &minconf)) FAIL(RPC_TYPE_ERROR, "Expected type number");
    size_t na = json_array_size(addrs);
    uint8_t (*spks)[42] = tn_xcalloc(na ? na : 1, 42);
    long *lens = tn_xcalloc(na ? na : 1, sizeof(long));
    int64_t *amount = tn_xcalloc(na ? na : 1, sizeof(int64_t));
    json_t **txids = tn_xcalloc(na ? na : 1, sizeof(json_t *));
    for (size_t i = 0; i < na; i++) {
        json_t *a = json_array_get(addrs, i);
        lens[i] = json_is_string(a) ? tn_address_to_spk(json_string_value(a), spks[i]) : -1;
        txids[i] = json_array();
        if (lens[i] < 0) {
            for (size_t k = 0; k <= i; k++) json_decref(txids[k]);
            free(spks), free(lens), free(amount), free(txids);
            FAIL(RPC_INVALID_ADDRESS_OR_KEY, "Invalid address: %s", json_is_string(a) ? json_string_value(a) : "");
        }
    }
    int tip = tip_height(n);
    size_t total = n->nblocks + 1;
    for (size_t b = 0; b < total; b++) {
        txrec **txs;
        size_t ntx;
        if (b < n->nblocks) {
            if (tip - (int)b + 1 < minconf) continue;
            txs = n->blocks[b]->txs;
            ntx = n->blocks[b]->ntx;
        } else {
            if (minconf > 0) continue;
            txs = n->mempool;
            ntx = n->nmempool;
        }
        for (size_t t = 0; t < ntx; t++)
            for (size_t o = 0; o < txs[t]->tx.nout; o++) {
                const tn_txout *x = &txs[t]->tx.out[o];
                for (size_t i = 0; i < na; i++)
                    if ((size_t)lens[i] == x->script_len && memcmp(spks[i], x->script, x->script_len) == 0) {
                        amount[i] += x->value;
                        json_array_append_new(txids[i], hash_json(txs[t]->txid));
                    }
            }
    }
    json_t *out = json_object();
    for (size_t i = 0; i < na; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "amount", tn_json_amount(amount[i]));
        json_object_set_new(e, "count", json_integer((json_int_t)json_array_size(txids[i])));
        json_object_set_new(e, "txids", txids[i]);
        json_object_set_new(out, json_string_value(json_array_get(addrs, i)), e);
    }
    free(spks), free(lens), free(amount), free(txids);
    return out;
}

/* ---------- misc ---------- */

static json_t *rpc_getnetworkinfo(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)n, (void)p, (void)code, (void)msg;
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(200300));
    json_object_set_new(o, "subversion", json_string("/Monacoin:0.20.3(oncesign-testnode)/"));
    json_object_set_new(o, "protocolversion", json_integer(70015));
    json_object_set_new(o, "localservices", json_string("0000000000000409"));
    json_object_set_new(o, "localrelay", json_true());
    json_object_set_new(o, "timeoffset", json_integer(0));
    json_object_set_new(o, "networkactive", json_true());
    json_object_set_new(o, "connections", json_integer(0));
    json_object_set_new(o, "networks", json_array());
    json_object_set_new(o, "relayfee", tn_json_amount(MIN_RELAY_FEERATE));
    json_object_set_new(o, "incrementalfee", tn_json_amount(MIN_RELAY_FEERATE));
    json_object_set_new(o, "localaddresses", json_array());
    json_object_set_new(o, "warnings", json_string(""));
    return o;
}

static json_t *rpc_uptime(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)p, (void)code, (void)msg;
    return json_integer(now_s() - n->start_time);
}

/* ---------- wallets (multiwallet: which requests a wallet method answers) ---------- */

static ssize_t wallet_index(const tn_node *n, const char *name)
{
    for (size_t i = 0; i < n->nwallets; i++)
        if (strcmp(n->wallets[i], name) == 0) return (ssize_t)i;
    return -1;
}

static json_t *rpc_createwallet(tn_node *n, json_t *p, int *code, char **msg)
{
    const char *name = json_string_value(json_array_get(p, 0));
    if (!name) FAIL(RPC_TYPE_ERROR, "Expected type string for wallet_name");
    if (wallet_index(n, name) >= 0) FAIL(RPC_WALLET_ERROR, "Wallet %s already exists.", name);
    if (n->nwallets == TN_MAX_WALLETS) FAIL(RPC_WALLET_ERROR, "Too many wallets loaded (test node limit)");
    n->wallets[n->nwallets] = strdup(name);
    if (!n->wallets[n->nwallets]) abort();
    n->nwallets++;
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "warning", json_string(""));
    return o;
}

static json_t *rpc_unloadwallet(tn_node *n, json_t *p, int *code, char **msg)
{
    const char *name = json_string_value(json_array_get(p, 0));
    if (!name) FAIL(RPC_TYPE_ERROR, "Expected type string for wallet_name");
    ssize_t i = wallet_index(n, name);
    if (i < 0) FAIL(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded");
    free(n->wallets[i]);
    memmove(&n->wallets[i], &n->wallets[i + 1], (n->nwallets - (size_t)i - 1) * sizeof n->wallets[0]);
    n->nwallets--;
    return json_null();
}

static json_t *rpc_listwallets(tn_node *n, json_t *p, int *code, char **msg)
{
    (void)p, (void)code, (void)msg;
    json_t *a = json_array();
    for (size_t i = 0; i < n->nwallets; i++) json_array_append_new(a, json_string(n->wallets[i]));
    return a;
}

/* Which wallet a wallet method's request addresses (Core 0.20's GetWalletForJSONRPCRequest):
 * 0 when one is chosen, else the error Core answers. */
static int wallet_for_request(const tn_node *n, const char *uri_wallet, int *code, char **msg)
{
    if (uri_wallet) {
        if (wallet_index(n, uri_wallet) >= 0) return 0;
        *code = RPC_WALLET_NOT_FOUND;
        *msg = xprintf("Requested wallet does not exist or is not loaded");
        return -1;
    }
    if (n->nwallets == 1) return 0;
    if (n->nwallets == 0) {
        *code = RPC_METHOD_NOT_FOUND;
        *msg = xprintf("Method not found (wallet method is disabled because no wallet is loaded)");
        return -1;
    }
    *code = RPC_WALLET_NOT_SPECIFIED;
    *msg = xprintf("Wallet file not specified (must request wallet RPC through /wallet/<filename> uri-path).");
    return -1;
}

static const struct {
    const char *name;
    rpc_fn fn;
    int wallet;     /* a wallet method: answers only when the request names a loaded wallet, or one is loaded */
} methods[] = {
    {"getblockcount", rpc_getblockcount, 0},
    {"getbestblockhash", rpc_getbestblockhash, 0},
    {"getblockhash", rpc_getblockhash, 0},
    {"getblockchaininfo", rpc_getblockchaininfo, 0},
    {"getblock", rpc_getblock, 0},
    {"getblockheader", rpc_getblockheader, 0},
    {"getrawtransaction", rpc_getrawtransaction, 0},
    {"decoderawtransaction", rpc_decoderawtransaction, 0},
    {"gettxout", rpc_gettxout, 0},
    {"getmempoolentry", rpc_getmempoolentry, 0},
    {"getrawmempool", rpc_getrawmempool, 0},
    {"getmempoolinfo", rpc_getmempoolinfo, 0},
    {"getmempoolancestors", rpc_getmempoolancestors, 0},
    {"getmempooldescendants", rpc_getmempooldescendants, 0},
    {"gettransaction", rpc_gettransaction, 1},
    {"sendrawtransaction", rpc_sendrawtransaction, 0},
    {"testmempoolaccept", rpc_testmempoolaccept, 0},
    {"estimatesmartfee", rpc_estimatesmartfee, 0},
    {"generatetoaddress", rpc_generatetoaddress, 0},
    {"getnewaddress", rpc_getnewaddress, 1},
    {"getrawchangeaddress", rpc_getnewaddress, 1},
    {"getbalance", rpc_getbalance, 1},
    {"sendtoaddress", rpc_sendtoaddress, 1},
    {"listunspent", rpc_listunspent, 1},
    {"importmulti", rpc_importmulti, 1},
    {"scantxoutset", rpc_scantxoutset, 0},
    {"validateaddress", rpc_validateaddress, 0},
    {"getaddressinfo", rpc_getaddressinfo, 1},
    {"createwallet", rpc_createwallet, 0},
    {"unloadwallet", rpc_unloadwallet, 0},
    {"listwallets", rpc_listwallets, 0},
    {"getnetworkinfo", rpc_getnetworkinfo, 0},
    {"uptime", rpc_uptime, 0},
    {"testnode_setfeerate", rpc_testnode_setfeerate, 0},
    {"testnode_evict", rpc_testnode_evict, 0},
    {"testnode_received", rpc_testnode_received, 0},
};

int tn_node_has_method(const char *method)
{
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, method) == 0) return 1;
    return 0;
}

json_t *tn_node_call(tn_node *n, const char *uri_wallet, const char *method, json_t *params, int *err_code,
                     char **err_msg)
{
    *err_msg = NULL;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        if (strcmp(methods[i].name, method) != 0) continue;
        pthread_mutex_lock(&n->lock);
        if (methods[i].wallet && wallet_for_request(n, uri_wallet, err_code, err_msg) != 0) {
            pthread_mutex_unlock(&n->lock);
            return NULL;
        }
        json_t *r = methods[i].fn(n, params, err_code, err_msg);
        pthread_mutex_unlock(&n->lock);
        return r;
    }
    *err_code = RPC_METHOD_NOT_FOUND;
    *err_msg = xprintf("Method not found");
    return NULL;
}
