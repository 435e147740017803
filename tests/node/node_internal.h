/* oncesign test node — internal structures shared by node.c, accept.c and rpc.c. */
#ifndef ONCESIGN_TESTNODE_NODE_INTERNAL_H
#define ONCESIGN_TESTNODE_NODE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "node.h"
#include "tx.h"

typedef struct {
    uint8_t key[36];
    void *val;
    int state; /* 0 empty, 1 used, 2 deleted */
} hent;

/* Open-addressing map from fixed-size keys (klen <= 36 bytes) to pointers. */
typedef struct {
    hent *e;
    size_t cap, used, tombs, klen;
} hmap;

void *hm_get(const hmap *m, const void *key);
void hm_put(hmap *m, const void *key, void *val);
void hm_del(hmap *m, const void *key);
void hm_free(hmap *m);

typedef struct txrec {
    uint8_t txid[32], wtxid[32];
    tn_tx tx;
    uint8_t *raw;
    size_t raw_len, size, vsize, weight;
    int64_t fee;
    int height;          /* -1 while in the mempool */
    int entry_height;    /* tip height when it entered the mempool */
    int64_t entry_time;  /* when it entered the mempool */
    int64_t block_time;
    uint8_t block_hash[32];
    int coinbase;
    int wallet;          /* made by this node's wallet: its unconfirmed change is trusted */
} txrec;

typedef struct {
    int height;
    int64_t time;
    uint8_t hash[32], prev[32], merkle[32];
    uint8_t header[80];
    size_t ntx;
    txrec **txs;
} block;

typedef struct {
    uint8_t sk[32], pub[33], h160[20];
} wallet_key;

typedef struct {
    uint8_t *spk;
    size_t len;
} watch_spk;

#define TN_MAX_WALLETS 8

struct tn_node {
    pthread_mutex_t lock;
    char *seed;
    hmap txs;           /* txid -> txrec: confirmed (txindex) and mempool */
    hmap utxo;          /* outpoint -> txrec that created it (confirmed, unspent) */
    hmap mp_spent;      /* outpoint -> mempool txrec spending it */
    hmap block_by_hash; /* hash -> block */
    hmap wallet_h160;   /* hash160 -> wallet_key */
    hmap watched;       /* sha256(scriptPubKey) -> watch_spk (importmulti) */
    txrec **mempool;    /* entry order: a parent always precedes its children */
    size_t nmempool, capmempool;
    block **blocks;
    size_t nblocks, capblocks;
    wallet_key **keys;
    size_t nkeys, capkeys;
    int64_t est_feerate;   /* estimatesmartfee answer, sat/kB; <0: "Insufficient data" mode */
    int64_t wallet_feerate;
    int64_t start_time;
    FILE *log;             /* --datadir: the event log that a restart replays (persist.c) */
    int replaying;         /* while replaying: log nothing */
    int64_t time_override; /* while replaying: the logged time instead of now */
    char *wallets[TN_MAX_WALLETS];  /* the loaded wallets' names (createwallet, unloadwallet); "" at start */
    size_t nwallets;
};

void op_key(const uint8_t hash[32], uint32_t n, uint8_t key[36]);
void format_feerate(int64_t per_kb, char *out, size_t len);
int64_t fee_for(int64_t per_kb, size_t bytes);
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t now_s(void);
int tip_height(const tn_node *n);
int64_t median_time_past(const tn_node *n, int height);
txrec *txrec_from_tx(tn_tx *tx);
void txrec_free(txrec *r);
txrec *coin_source(tn_node *n, const tn_outpoint *op, int include_mempool);
txrec *mempool_spender(tn_node *n, const tn_outpoint *op);
int signals_rbf(const txrec *r);
void mempool_descendants(tn_node *n, txrec *r, txrec ***set, size_t *count, size_t *cap);
size_t mempool_evict(tn_node *n, txrec *r);
block *mine_block(tn_node *n, const uint8_t *spk, size_t spk_len, int genesis);
wallet_key *wallet_new_key(tn_node *n);
wallet_key *wallet_key_for_spk(tn_node *n, const uint8_t *spk, size_t len);

/* Mempool acceptance (sendrawtransaction's path). tx is consumed (moved into the record or freed).
 * dry_run (testmempoolaccept): checks only; returns NULL with *code == 0 when it would be accepted.
 * Returns the accepted or already-present record, or NULL with code and msg set (msg is malloc-ed). */
txrec *accept_tx(tn_node *n, tn_tx *tx, int64_t max_feerate, int dry_run, int *code, char **msg);

/* Appends one event line to the node's log (no-op without --datadir or while replaying). */
void node_log(tn_node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int64_t node_now(const tn_node *n);
void node_watch(tn_node *n, const uint8_t *spk, size_t len);

/* Appends Core's 8-character descriptor checksum: "addr(...)" -> "addr(...)#xxxxxxxx" (malloc'd). */
char *desc_with_checksum(const char *desc);

#define COINBASE_MATURITY 100
#define MIN_RELAY_FEERATE 1000
#define DUST_RELAY_FEERATE 3000
#define DEFAULT_MAX_FEERATE (TN_COIN / 10)
#define MAX_STANDARD_WEIGHT 400000

#endif
