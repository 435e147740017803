/* oncesign test node — --datadir: an append-only event log (one JSON object per line) that a restart
 * replays through the same code paths, so the chain, mempool, wallet keys, watched scripts and fee
 * settings come back with the same hashes. */
#include "persist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node_internal.h"

#define LOG_NAME "testnode.log"

static const char *str_or(json_t *ev, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : dflt;
}

static int replay_line(tn_node *n, json_t *ev, char *err, size_t errlen)
{
    const char *e = json_string_value(json_object_get(ev, "e"));
    if (!e) return -1;
    n->time_override = json_integer_value(json_object_get(ev, "time"));
    int rc = 0;
    if (strcmp(e, "tx") == 0) {
        size_t len;
        uint8_t *raw = tn_hex_decode_alloc(str_or(ev, "hex", ""), &len);
        tn_tx tx;
        if (!raw || tn_tx_parse(raw, len, &tx) != 0) {
            free(raw);
            rc = -1;
        } else {
            free(raw);
            int code = 0;
            char *msg = NULL;
            /* it was accepted once under whatever maxfeerate its sender chose */
            if (!accept_tx(n, &tx, 0, 0, &code, &msg)) {
                snprintf(err, errlen, "replayed transaction refused: %s", msg ? msg : "?");
                free(msg);
                rc = -2;
            }
        }
    } else if (strcmp(e, "block") == 0) {
        uint8_t spk[10000];
        long l = tn_hex_decode(str_or(ev, "spk", "zz"), spk, sizeof spk);
        if (l < 0)
            rc = -1;
        else
            mine_block(n, spk, (size_t)l, 0);
    } else if (strcmp(e, "key") == 0) {
        wallet_new_key(n);
    } else if (strcmp(e, "watch") == 0) {
        uint8_t spk[10000];
        long l = tn_hex_decode(str_or(ev, "spk", "zz"), spk, sizeof spk);
        if (l < 0)
            rc = -1;
        else
            node_watch(n, spk, (size_t)l);
    } else if (strcmp(e, "evict") == 0 || strcmp(e, "wallet") == 0) {
        uint8_t h[32];
        txrec *r = NULL;
        if (tn_hash_from_hex(str_or(ev, "txid", ""), h) == 0) r = hm_get(&n->txs, h);
        if (!r || r->height >= 0) {
            rc = -1;
        } else if (e[0] == 'e') {
            mempool_evict(n, r);
        } else {
            r->wallet = 1;
        }
    } else if (strcmp(e, "feerate") == 0) {
        n->est_feerate = json_integer_value(json_object_get(ev, "est"));
        n->wallet_feerate = json_integer_value(json_object_get(ev, "wallet"));
    } else {
        rc = -1;
    }
    n->time_override = 0;
    if (rc == -1) snprintf(err, errlen, "unknown or malformed event \"%s\"", e);
    return rc;
}

tn_node *tn_node_open(const char *datadir, const char *seed, char *err, size_t errlen)
{
    if (!datadir) return tn_node_new(seed);
    if (mkdir(datadir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", datadir, strerror(errno));
        return NULL;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", datadir, LOG_NAME);
    FILE *f = fopen(path, "r");
    tn_node *n = NULL;
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        long lineno = 0;
        while (getline(&line, &cap, f) > 0) {
            lineno++;
            json_t *ev = json_loads(line, 0, NULL);
            if (!ev) {
                /* a torn last line (killed mid-write) is dropped; anything else is corruption */
                int last = fgetc(f) == EOF;
                if (last && lineno > 1) break;
                snprintf(err, errlen, "%s line %ld: not JSON", path, lineno);
                goto fail;
            }
            if (lineno == 1) {
                const char *s = json_string_value(json_object_get(ev, "seed"));
                if (!s) {
                    json_decref(ev);
                    snprintf(err, errlen, "%s: first line holds no seed", path);
                    goto fail;
                }
                if (seed && strcmp(seed, s) != 0)
                    fprintf(stderr, "testnode: %s was made with --seed %s; using that seed\n", path, s);
                n = tn_node_new(s);
                n->replaying = 1;
            } else {
                char why[300] = "";
                if (replay_line(n, ev, why, sizeof why) != 0) {
                    json_decref(ev);
                    snprintf(err, errlen, "%s line %ld: %s", path, lineno, why);
                    goto fail;
                }
            }
            json_decref(ev);
        }
        free(line);
        fclose(f);
        f = NULL;
        if (!n) {
            snprintf(err, errlen, "%s is empty", path);
            return NULL;
        }
        n->replaying = 0;
        n->log = fopen(path, "a");
    } else {
        n = tn_node_new(seed);
        n->log = fopen(path, "w");
        if (n->log) {
            json_t *s = json_pack("{s:s, s:s}", "e", "seed", "seed", seed ? seed : "");
            char *d = json_dumps(s, JSON_COMPACT);
            fprintf(n->log, "%s\n", d);
            fflush(n->log);
            free(d);
            json_decref(s);
        }
    }
    if (!n->log) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        tn_node_free(n);
        return NULL;
    }
    return n;
fail:
    if (f) fclose(f);
    if (n) tn_node_free(n);
    return NULL;
}
