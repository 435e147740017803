/* oncesign host — the recovery of a ledger restored from a backup older than the signer's last
 * signature (docs/RECOVERY.md "Restore", DESIGN.md §7).
 *
 * The backup lacks the transactions the signer signed after it, and a payout's nonce lived only in
 * the lost ledger, so the signer's nonce root can no longer be explained. The daemon then refuses
 * every write (OS_ERR_RECOVERING, 503) and, in the worker, in phases stored in the ledger (a restart
 * resumes them):
 *   REPLAY   each SIGN entry after the backup is looked for on chain and in the mempool by its
 *            transaction digest; each output a found transaction pays someone is recorded, matched to
 *            a payout of the backup or to a code the backup holds unredeemed when the signer's root
 *            proves it (the code's nonce is in the backup), or recorded as unknown;
 *   CONFIRM  the found transactions are rebroadcast until each confirmed;
 *   RESET    the operator approves NONCE_RESET on the device (firmware) and the ledger starts a new,
 *            empty tree, as the device does;
 *   SWEEP    every coin of the wallet is spent to the wallet itself and the sweep waits for its final
 *            confirmations: every anchor is then spent, so no transaction signed under the old set
 *            (found or never seen) can confirm any more (I1); then the payouts nothing paid are
 *            requested again, and writes are accepted again.
 * The reset comes before the sweep because the device asks every input for a proof of its anchor
 * entry under its root (PROTOCOL.md "Anchors"), and the entries of the signatures the backup lost are
 * unknown here: under the old root the sweep cannot be proven, under the empty one it can. Nothing is
 * paid between the two: writes stay refused and the worker signs only the sweep.
 * A code the root cannot clear (a payout of its amount after an entry that cannot be explained) is
 * held: its redeem is refused and GET /v1/recovery lists it for the backend. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "audit.h"
#include "audit_log.h"
#include "bytes.h"
#include "engine_decide.h"
#include "engine_internal.h"
#include "errtext.h"
#include "log.h"
#include "nonce_reset.h"
#include "nonce_set.h"
#include "oncesign/status.h"
#include "psbt.h"
#include "rpc.h"

#define MAX_CANDIDATES 8       /* per payout output: codes or payouts of the backup it may be */
#define MAX_COMBINATIONS 4096  /* assignments tried against the entry's root */
#define RESET_RETRY_MS 5000
/* A signature never seen may still be on its way (a late broadcast, a node that was slow to answer):
 * the sweep waits for this many complete scans in a row that found none of the missing ones. */
#define CLEAN_SCANS_BEFORE_SWEEP 3
/* Receive addresses the lost ledger may have handed out after the backup: 20 past the backup's
 * counter (a receive address is handed out again until a coin pays it, so the gap stays small).
 * Change addresses likewise, past the counter and one per transaction found. */
#define RECEIVE_GAP 20
/* Scenario (d): blocks before the backup's newest height the chain scan starts at. */
#define CHAIN_SCAN_MARGIN 12

const char *os_recovery_phase_name(int phase) {
    switch (phase) {
    case OS_RECOVERY_REPLAY: return "replay";
    case OS_RECOVERY_CONFIRM: return "confirm";
    case OS_RECOVERY_SWEEP: return "sweep";
    case OS_RECOVERY_RESET: return "reset";
    default: return "none";
    }
}

int engine_recovering(os_engine *e) {
    pthread_mutex_lock(&e->mu);
    int r = e->recovering;
    pthread_mutex_unlock(&e->mu);
    return r;
}

/* Moves to phase (stored, so a restart resumes it) and says what it waits for, in health and the log. */
static void enter(os_engine *e, int phase, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    (void)os_ledger_meta_put_u64(e->ledger, OS_LEDGER_META_RECOVERY_PHASE, (uint64_t)phase);
    pthread_mutex_lock(&e->mu);
    int changed = e->recovery_phase != phase || strcmp(e->recovery_reason, why) != 0;
    e->recovery_phase = phase;
    snprintf(e->recovery_reason, sizeof e->recovery_reason, "%s", why);
    pthread_mutex_unlock(&e->mu);
    if (changed) {
        os_log_field f[] = { OS_LOG_STR("phase", os_recovery_phase_name(phase)) };
        os_log(OS_LOG_WARNING, "recovery.phase", f, 1, "recovery (%s): %s", os_recovery_phase_name(phase), why);
    }
}

int engine_recovery_begin(os_engine *e, uint64_t from_seq, char *err, size_t cap) {
    int restored = 0;
    uint64_t phase = 0;
    int rc = os_ledger_is_restored_backup(e->ledger, &restored);
    if (rc == OS_OK) rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_PHASE, &phase);
    if (rc != OS_OK) return rc;
    if (!restored && phase == OS_RECOVERY_NONE) {
        /* a copy `ledger backup` did not make (a plain file copy, a rollback): it may be torn, and
         * nothing says which moment it is from; fail closed as before (err already says why) */
        return OS_ERR_SIGNER_MISMATCH;
    }
    if (phase == OS_RECOVERY_NONE) {
        rc = os_ledger_meta_put_u64(e->ledger, OS_LEDGER_META_RECOVERY_FROM, from_seq);
        if (rc != OS_OK) return rc;
        phase = OS_RECOVERY_REPLAY;
        os_log_field f[] = { OS_LOG_INT("log_seq", (int64_t)from_seq) };
        os_log(OS_LOG_ERROR, "recovery.start", f, 1,
               "the ledger is a backup older than the signer's log (entry %llu signed a transaction it has no record"
               " of): recovering; writes are refused until the recovery ends (docs/RECOVERY.md)",
               (unsigned long long)from_seq);
    }
    pthread_mutex_lock(&e->mu);
    int was = e->recovering;
    e->recovering = 1;
    pthread_mutex_unlock(&e->mu);
    if (!was)
        enter(e, (int)phase, "restored from a backup: the signer signed after it (from log entry %llu); %s",
              (unsigned long long)from_seq, "matching its signatures to the chain");
    (void)err;
    (void)cap;
    return OS_ERR_RECOVERING;
}

int engine_recovery_resume(os_engine *e) {
    uint64_t phase = 0;
    int rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_PHASE, &phase);
    if (rc != OS_OK || phase == OS_RECOVERY_NONE) return rc;
    pthread_mutex_lock(&e->mu);
    e->recovering = 1;
    pthread_mutex_unlock(&e->mu);
    enter(e, (int)phase, "resumed after a restart");
    return OS_OK;
}

int engine_replacement_begin(os_engine *e, const os_msg_info *info, char *err, size_t cap) {
    uint8_t want[64], have[64];
    size_t want_len = 0, have_len = 0;
    int restored = 0;
    int rc = os_ledger_is_restored_backup(e->ledger, &restored);
    if (rc != OS_OK) return rc;
    rc = os_ledger_address_script(e->ledger, 0, 0, want, sizeof want, &want_len);
    if (rc == OS_ERR_NOT_FOUND) {
        os_errf(err, cap, "the signer's attestation key differs from the pinned one, and the ledger has no address"
                          " to tell whether it holds the same wallet");
        return OS_ERR_SIGNER_MISMATCH;
    }
    if (rc == OS_OK) rc = engine_derive_script(e, 0, 0, have, &have_len);
    if (rc != OS_OK) return rc;
    if (have_len != want_len || memcmp(have, want, want_len) != 0) {
        os_errf(err, cap, "the signer's attestation key differs from the pinned one and it holds another wallet");
        return OS_ERR_SIGNER_MISMATCH;
    }
    uint8_t old_key[32], old_head[32];
    uint64_t old_seq = 0;
    rc = os_ledger_signer_replace(e->ledger, info->attestation_pubkey, old_key, &old_seq, old_head);
    /* Scenario (d): the ledger is also a restored backup, so the dead device signed after it what
     * neither this ledger nor a device holds: the replay finds those signatures on chain (chain_scan). */
    uint64_t backup_height = 0;
    if (rc == OS_OK && restored) rc = os_ledger_recovery_scan_from(e->ledger, &backup_height);
    /* from a few blocks before it: a deposit confirmed just before the backup that the backup's wallet
     * sync had not adopted yet is seen, so a spend of it is the dead device's too */
    backup_height = backup_height > CHAIN_SCAN_MARGIN ? backup_height - CHAIN_SCAN_MARGIN : 0;
    if (rc == OS_OK && restored) rc = os_ledger_meta_put_u64(e->ledger, OS_LEDGER_META_RECOVERY_CHAIN, backup_height + 1);
    if (rc == OS_OK && restored) rc = os_ledger_meta_put_u64(e->ledger, OS_LEDGER_META_RECOVERY_CHAIN_SCANNED, 0);
    if (rc == OS_OK && restored) rc = os_ledger_meta_put_u64(e->ledger, OS_LEDGER_META_RECOVERY_PHASE, OS_RECOVERY_REPLAY);
    if (rc != OS_OK) return rc;
    char hex[65];
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[old_key[i] >> 4];
        hex[2 * i + 1] = digits[old_key[i] & 15];
    }
    hex[64] = '\0';
    os_log_field f[] = { OS_LOG_STR("old_key", hex), OS_LOG_INT("old_log_seq", (int64_t)old_seq) };
    os_log(OS_LOG_ERROR, "recovery.replaced_signer", f, 2,
           "a device restored from the mnemonic replaces signer %s (its log archived up to %llu): recovering;"
           " writes are refused until every coin is swept and the new device continues the old log"
           " (docs/RECOVERY.md)", hex, (unsigned long long)old_seq);
    pthread_mutex_lock(&e->mu);
    e->recovering = 1;
    pthread_mutex_unlock(&e->mu);
    if (restored) {
        os_log(OS_LOG_ERROR, "recovery.from_chain", f, 2,
               "the ledger is also a restored backup: the dead device's signatures after the backup are looked for"
               " on chain (every transaction spending a coin of the wallet since the backup); codes of an amount"
               " they paid are held for the backend (docs/RECOVERY.md, scenario (d))");
        enter(e, OS_RECOVERY_REPLAY, "restored backup on a replaced signer: finding the dead device's transactions"
                                     " since the backup on chain, then sweeping every coin");
    } else {
        enter(e, OS_RECOVERY_CONFIRM, "replaced signer: waiting for the old device's transactions to confirm, then"
                                      " sweeping every coin");
    }
    return OS_OK;
}

/* ------------------------------------------------------------------ REPLAY: find and match */

typedef struct {
    uint64_t seq;
    uint8_t digest[32];
    int64_t row;                  /* a draft of the ledger the signer signed, without its raw; 0: none */
    uint8_t payload[OS_LOG_PAYLOAD_MAX];
    uint8_t *raw;                 /* set by the scan when found */
    size_t raw_len;
} wanted_tx;

typedef struct {
    wanted_tx *w;
    size_t n, missing;
} scan_ctx;

static int scan_match(void *ctx, const uint8_t *raw, size_t len, uint64_t height) {
    scan_ctx *s = ctx;
    (void)height;
    os_audit_log none = {0};
    uint64_t seq = 0;
    uint8_t hp[32], digest[32];
    if (os_audit_match_raw(&none, raw, len, &seq, hp, digest) != OS_OK) return 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->w[i].raw || memcmp(s->w[i].digest, digest, 32) != 0) continue;
        s->w[i].raw = malloc(len);
        if (!s->w[i].raw) return 0;
        memcpy(s->w[i].raw, raw, len);
        s->w[i].raw_len = len;
        s->missing--;
    }
    return s->missing == 0;
}

/* The txid and input 0 (the anchor of the payouts it added) of a raw transaction. */
static int raw_anchor(const uint8_t *raw, size_t len, uint8_t txid[32], os_outpoint *anchor) {
    uint64_t amount;
    const uint8_t *script;
    size_t slen;
    int rc = psbt_tx_output(raw, len, 0, txid, &amount, &script, &slen);
    if (rc != OS_OK) return rc;
    size_t p = 4;
    if (len > 6 && raw[4] == 0 && raw[5] == 1) p += 2;
    if (p + 1 + 36 > len || raw[p] == 0 || raw[p] >= 0xfd) return OS_ERR_TX_PARSE;
    memcpy(anchor->txid, raw + p + 1, 32);
    anchor->vout = os_read_le32(raw + p + 33);
    return OS_OK;
}

/* Whether script is one of the wallet's change scripts the signer could have signed (index up to
 * its log seq + 20, PROTOCOL.md §4.2); *index when it is. */
static int wallet_change_index(os_engine *e, const uint8_t *script, size_t len, uint64_t limit, uint32_t *index) {
    for (uint64_t i = 0; i <= limit; i++) {
        uint8_t s[64];
        size_t sl = 0;
        if (engine_derive_script(e, 1, (uint32_t)i, s, &sl) != OS_OK) return 0;
        if (sl == len && memcmp(s, script, len) == 0) {
            *index = (uint32_t)i;
            return 1;
        }
    }
    return 0;
}

typedef struct {
    uint32_t vout;
    uint64_t amount;
    const uint8_t *script;
    size_t script_len;
    char address[OS_MAX_ADDRESS + 1];
    /* candidates: codes first, then payouts of the backup */
    size_t n_codes, n_payouts;
    os_ledger_code codes[MAX_CANDIDATES];
    os_ledger_payout_candidate payouts[MAX_CANDIDATES];
    size_t choice;                /* 0: none (a leaf the tree lacks or already holds), 1..: candidate */
} payout_out;

/* The leaf a candidate nonce would add for out o of a transaction anchored at anchor. */
static int candidate_leaf(const payout_out *o, size_t c, const os_outpoint *anchor, uint8_t key[32],
                          uint8_t value[32]) {
    const uint8_t *nonce = c <= o->n_codes ? o->codes[c - 1].nonce : o->payouts[c - 1 - o->n_codes].nonce;
    int rc = nonce_set_key(nonce, key);
    if (rc == OS_OK) rc = nonce_set_leaf_value(anchor, o->script, o->script_len, o->amount, value);
    return rc;
}

/* Tries the assignments of candidates to outs (each output: none or one candidate) until one gives
 * the entry's root_after on the tree; keeps that one's leaves. Returns 1 when proven. */
static int prove_assignment(os_engine *e, payout_out *outs, size_t n, const os_outpoint *anchor,
                            const uint8_t root_after[32]) {
    uint64_t combos = 1;
    for (size_t i = 0; i < n; i++) {
        combos *= (uint64_t)(outs[i].n_codes + outs[i].n_payouts + 1);
        if (combos > MAX_COMBINATIONS) return 0;
    }
    for (uint64_t k = 0; k < combos; k++) {
        uint64_t rest = k;
        uint8_t added[OS_MAX_OUTPUTS][32];
        size_t n_added = 0;
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            size_t m = outs[i].n_codes + outs[i].n_payouts + 1;
            outs[i].choice = (size_t)(rest % m);
            rest /= m;
            if (!outs[i].choice) continue;
            uint8_t key[32], value[32], have[32];
            ok = candidate_leaf(&outs[i], outs[i].choice, anchor, key, value) == OS_OK;
            if (ok && nonce_tree_get(e->tree, key, have) == OS_OK) ok = 0; /* one nonce, one leaf */
            if (ok) ok = nonce_tree_insert(e->tree, key, value) == OS_OK;
            if (ok) memcpy(added[n_added++], key, 32);
        }
        uint8_t root[32];
        nonce_tree_root(e->tree, root);
        if (ok && memcmp(root, root_after, 32) == 0) return 1;
        while (n_added > 0) (void)nonce_tree_remove(e->tree, added[--n_added]);
    }
    return 0;
}

/* Records the outputs of the found transaction of SIGN entry seq (payload pl): the wallet's change
 * (its address, so the coin is adopted and swept), and each payout, matched as well as it can be.
 * *tree_known: the tree still describes the signer's set up to this entry. */
static int record_outputs(os_engine *e, uint64_t seq, const uint8_t *pl, const uint8_t *raw, size_t len,
                          uint64_t change_limit, int *tree_known) {
    uint8_t txid[32];
    os_outpoint anchor;
    int rc = raw_anchor(raw, len, txid, &anchor);
    if (rc != OS_OK) return rc;
    payout_out *outs = calloc(OS_MAX_OUTPUTS, sizeof *outs);
    if (!outs) return OS_ERR_IO;
    size_t n = 0;
    for (uint32_t v = 0; v < OS_MAX_OUTPUTS && rc == OS_OK; v++) {
        uint64_t amount;
        const uint8_t *script;
        size_t slen;
        uint8_t id[32];
        if (psbt_tx_output(raw, len, v, id, &amount, &script, &slen) != OS_OK) break;
        char address[OS_MAX_ADDRESS + 1];
        if (address_from_script(e->cfg.network, script, slen, address, sizeof address) != OS_OK)
            snprintf(address, sizeof address, "(non-standard)");
        uint32_t index = 0;
        if (wallet_change_index(e, script, slen, change_limit, &index)) {
            rc = os_ledger_address_add(e->ledger, 1, index, e->signer_script_type, address, script, slen);
            continue;
        }
        payout_out *o = &outs[n++];
        o->vout = v;
        o->amount = amount;
        o->script = script;
        o->script_len = slen;
        memcpy(o->address, address, sizeof address);
        if (*tree_known) {
            rc = os_ledger_codes_unredeemed_with_amount(e->ledger, amount, MAX_CANDIDATES, o->codes, &o->n_codes);
            if (rc == OS_OK)
                rc = os_ledger_payouts_unpaid_to(e->ledger, script, slen, amount, MAX_CANDIDATES, o->payouts,
                                                 &o->n_payouts);
        }
    }
    int proven = rc == OS_OK && *tree_known && prove_assignment(e, outs, n, &anchor, pl + 64);
    if (!proven) *tree_known = 0;
    for (size_t i = 0; rc == OS_OK && i < n; i++) {
        payout_out *o = &outs[i];
        os_ledger_recovery_output r = {.log_seq = seq, .vout = o->vout, .address = o->address, .script = o->script,
                                       .script_len = o->script_len, .amount = o->amount};
        memcpy(r.txid, txid, 32);
        int known = 0;
        rc = os_ledger_recovery_output_known(e->ledger, txid, o->vout, &known);
        if (rc != OS_OK || known) continue;
        if (proven && o->choice && o->choice <= o->n_codes) {
            const os_ledger_code *c = &o->codes[o->choice - 1];
            uint8_t ph[32];
            int64_t payout_id = 0;
            r.how = "code proven by the signer's root";
            rc = engine_params_hash(o->address, o->amount, ph);
            if (rc == OS_OK) rc = os_ledger_recovery_code_paid(e->ledger, c->row, ph, c->nonce, &r, engine_now(), &payout_id);
            if (rc == OS_OK) {
                os_log_field f[] = { OS_LOG_INT("log_seq", (int64_t)seq), OS_LOG_INT("payout_id", payout_id) };
                os_log(OS_LOG_NOTICE, "recovery.code_paid", f, 2, "a code of the backup was redeemed and paid after it:"
                       " recorded as paid (payout %lld)", (long long)payout_id);
            }
            continue;
        }
        if (proven && o->choice) {
            r.payout_id = o->payouts[o->choice - 1 - o->n_codes].id;
            r.how = "payout of the backup, proven by the signer's root";
        } else if (proven) {
            r.how = "replacement of a committed payout, or none of the backup";
        } else {
            /* Without the root's proof: the same destination and amount as an unpaid payout of the
             * backup is taken as paying it (re-paying it could pay twice); codes of the amount are held. */
            os_ledger_payout_candidate p[1];
            size_t np = 0;
            rc = os_ledger_payouts_unpaid_to(e->ledger, o->script, o->script_len, o->amount, 1, p, &np);
            if (rc == OS_OK && np) {
                r.payout_id = p[0].id;
                r.how = "same destination and amount as a payout of the backup";
            } else if (rc == OS_OK) {
                size_t nc = 0;
                rc = os_ledger_codes_unredeemed_with_amount(e->ledger, o->amount, MAX_CANDIDATES, o->codes, &nc);
                for (size_t k = 0; rc == OS_OK && k < nc; k++)
                    rc = os_ledger_recovery_hold_code(e->ledger, o->codes[k].row, seq, o->amount);
                r.how = nc ? "unproven: the codes of this amount are held" : "not in the backup";
            }
        }
        if (rc == OS_OK) rc = os_ledger_recovery_output_add(e->ledger, &r);
    }
    free(outs);
    return rc;
}


/* ------------------------------------------------------------------ REPLAY from the chain: scenario (d) */

/* The outpoints a raw transaction spends: up to max, *n of them. */
int engine_raw_inputs(const uint8_t *raw, size_t len, os_outpoint *ops, size_t max, size_t *n) {
    size_t p = 4;
    *n = 0;
    if (len > 6 && raw[4] == 0 && raw[5] == 1) p += 2;
    if (p >= len || raw[p] >= 0xfd) return OS_ERR_TX_PARSE;
    size_t count = raw[p++];
    for (size_t i = 0; i < count; i++) {
        if (p + 37 > len) return OS_ERR_TX_PARSE;
        if (*n < max) {
            memcpy(ops[*n].txid, raw + p, 32);
            ops[*n].vout = os_read_le32(raw + p + 32);
            (*n)++;
        }
        p += 36;
        size_t slen = raw[p++];
        if (slen == 0xfd) {
            if (p + 2 > len) return OS_ERR_TX_PARSE;
            slen = (size_t)raw[p] | (size_t)raw[p + 1] << 8;
            p += 2;
        } else if (slen > 0xfd) {
            return OS_ERR_TX_PARSE;
        }
        p += slen + 4;
        if (p > len) return OS_ERR_TX_PARSE;
    }
    return OS_OK;
}

typedef struct {
    os_engine *e;
    int rc;
    size_t found;
    uint8_t (*scripts)[64];       /* the wallet's scripts the lost ledger may have used */
    size_t *script_lens, n_scripts;
    uint32_t next_change;         /* the change index the next transaction found adds */
} chain_ctx;

/* Whether output vout of raw pays one of the wallet's scripts. */
static int wallet_output(const chain_ctx *c, const uint8_t *raw, size_t len, uint32_t vout) {
    uint8_t id[32];
    uint64_t amount;
    const uint8_t *script;
    size_t slen;
    if (psbt_tx_output(raw, len, vout, id, &amount, &script, &slen) != OS_OK) return 0;
    for (size_t i = 0; i < c->n_scripts; i++)
        if (c->script_lens[i] == slen && memcmp(c->scripts[i], script, slen) == 0) return 1;
    return 0;
}

/* Whether an input spends a coin of the wallet: a coin the ledger holds, a wallet output of a
 * transaction of the ledger or of one recorded, or a deposit seen earlier (by this pass or an earlier
 * one). (An output paying someone else is theirs to spend: its spend is not the device's.) */
static int spends_ours(chain_ctx *c, const os_outpoint *ops, size_t n, int *ours) {
    *ours = 0;
    for (size_t i = 0; i < n && !*ours; i++) {
        int rc = os_ledger_recovery_deposit_known(c->e->ledger, &ops[i], ours);
        if (rc == OS_OK && !*ours) rc = os_ledger_recovery_coin_known(c->e->ledger, &ops[i], ours);
        if (rc != OS_OK || *ours) return rc;
        uint8_t *parent = NULL;
        size_t plen = 0;
        rc = os_ledger_recovery_raw_by_txid(c->e->ledger, ops[i].txid, &parent, &plen);
        if (rc == OS_ERR_NOT_FOUND) continue;
        if (rc != OS_OK) return rc;
        *ours = wallet_output(c, parent, plen, ops[i].vout);
        free(parent);
    }
    return OS_OK;
}

/* Remembers, durably (a later pass starts past this block), the wallet outputs of a transaction that
 * pays the wallet without spending from it. */
static int note_deposit(chain_ctx *c, const uint8_t txid[32], const uint8_t *raw, size_t len) {
    for (uint32_t v = 0; v < OS_MAX_OUTPUTS; v++) {
        uint8_t id[32];
        uint64_t amount;
        const uint8_t *script;
        size_t slen;
        if (psbt_tx_output(raw, len, v, id, &amount, &script, &slen) != OS_OK) break;
        if (!wallet_output(c, raw, len, v)) continue;
        os_outpoint op;
        memcpy(op.txid, txid, 32);
        op.vout = v;
        int rc = os_ledger_recovery_deposit_add(c->e->ledger, &op);
        if (rc != OS_OK) return rc;
    }
    return OS_OK;
}

/* One more change script: the wallet's scripts grow by one change address per transaction found. */
static int add_change_script(chain_ctx *c) {
    uint8_t (*scripts)[64] = realloc(c->scripts, (c->n_scripts + 1) * sizeof *scripts);
    if (!scripts) return OS_ERR_IO;
    c->scripts = scripts;
    size_t *lens = realloc(c->script_lens, (c->n_scripts + 1) * sizeof *lens);
    if (!lens) return OS_ERR_IO;
    c->script_lens = lens;
    int rc = engine_derive_script(c->e, 1, c->next_change, c->scripts[c->n_scripts], &c->script_lens[c->n_scripts]);
    if (rc != OS_OK) return rc;
    c->n_scripts++;
    c->next_change++;
    return OS_OK;
}

/* A transaction that spends a coin of the wallet was signed by the wallet's key: after the backup and
 * unknown to the ledger, by the dead device. It is recorded like a signature the replay could not
 * explain (spends_ours says what a coin of the wallet is; a deposit seen earlier in the scan is a
 * payment to a wallet address the lost ledger handed out, which the device may have spent since):
 * blocks come in order from the backup's height, so a chain of them is seen parent first; a mempool child seen before its parent
 * is found by the next scan. A deposit itself is not the device's: its coin is adopted by the sweep. */
static int chain_match(void *ctx, const uint8_t *raw, size_t len, uint64_t height) {
    chain_ctx *c = ctx;
    (void)height;
    os_outpoint ops[OS_MAX_INPUTS];
    size_t n = 0;
    uint8_t txid[32], hp[32], digest[32];
    uint64_t amount, seq = 0;
    const uint8_t *script;
    size_t slen;
    os_audit_log none = {0};
    if (engine_raw_inputs(raw, len, ops, OS_MAX_INPUTS, &n) != OS_OK) return 0;
    if (psbt_tx_output(raw, len, 0, txid, &amount, &script, &slen) != OS_OK) return 0;
    if (os_audit_match_raw(&none, raw, len, &seq, hp, digest) != OS_OK) return 0;
    int known = 0, ours = 0;
    c->rc = os_ledger_recovery_txid_known(c->e->ledger, txid, &known);
    if (c->rc == OS_OK && !known) c->rc = spends_ours(c, ops, n, &ours);
    if (c->rc != OS_OK) return 1;
    if (known) return 0;
    if (!ours) {
        c->rc = note_deposit(c, txid, raw, len);
        return c->rc != OS_OK;
    }
    uint64_t key = 0;
    c->rc = os_ledger_recovery_chain_next(c->e->ledger, &key);
    if (c->rc == OS_OK) c->rc = os_ledger_recovery_tx_put(c->e->ledger, key, digest, txid, raw, len, engine_now());
    if (c->rc != OS_OK) return 1;
    c->found++;
    /* its change may be one index further: known before a spend of it in a later block, which the next
     * pass does not read again */
    c->rc = add_change_script(c);
    if (c->rc != OS_OK) return 1;
    char hex[65];
    os_txid_to_hex(txid, hex);
    os_log_field f[] = { OS_LOG_STR("txid", hex) };
    os_log(OS_LOG_NOTICE, "recovery.found_on_chain", f, 1, "transaction %s spends a coin of the wallet and is not in"
           " the restored ledger: the dead device signed it after the backup", hex);
    return 0;
}

/* The wallet's scripts the lost ledger may have used after the backup: receive and change addresses
 * up to their counters plus the gap (change: plus one per transaction recorded). */
static int wallet_scripts(os_engine *e, chain_ctx *c) {
    uint64_t next_receive = 0, next_change = 0;
    os_ledger_recovery_tx *t = NULL;
    size_t nt = 0;
    int rc = os_ledger_meta_u64(e->ledger, "next_receive_index", &next_receive);
    if (rc == OS_OK) rc = os_ledger_meta_u64(e->ledger, "next_change_index", &next_change);
    if (rc == OS_OK) rc = os_ledger_recovery_txs(e->ledger, &t, &nt);
    if (rc != OS_OK) return rc;
    os_ledger_recovery_txs_free(t, nt);
    uint64_t n_receive = next_receive + RECEIVE_GAP, n_change = next_change + RECEIVE_GAP + nt;
    c->scripts = calloc(n_receive + n_change, sizeof *c->scripts);
    c->script_lens = calloc(n_receive + n_change, sizeof *c->script_lens);
    if (!c->scripts || !c->script_lens) return OS_ERR_IO;
    for (uint64_t i = 0; rc == OS_OK && i < n_receive + n_change; i++) {
        uint8_t change = i >= n_receive;
        uint32_t index = (uint32_t)(change ? i - n_receive : i);
        rc = engine_derive_script(e, change, index, c->scripts[i], &c->script_lens[i]);
    }
    c->n_scripts = n_receive + n_change;
    c->next_change = (uint32_t)n_change;
    return rc;
}

/* Scans the blocks from the backup's newest height (pinned when the recovery began) and the mempool
 * for the dead device's transactions (chain_match). A pass starts where the last one read to, less
 * confirmations_final blocks (the reorg depth the engine trusts: a block replaced meanwhile is read
 * again), not at the backup's height: a days-old backup is thousands of blocks, each a getblock, on
 * every pass. What a pass found and the deposits it saw are in the ledger before the height moves on,
 * so a restart resumes there too. *clean: the scan read everything and found nothing new. */
static int chain_scan(os_engine *e, uint64_t scan_from, int *clean) {
    uint64_t tip = 0, scanned = 0;
    size_t unread = 0;
    chain_ctx c = {.e = e, .rc = OS_OK};
    int rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_CHAIN_SCANNED, &scanned);
    uint64_t from = scanned > scan_from + e->cfg.confirmations_final ? scanned - e->cfg.confirmations_final : scan_from;
    if (rc == OS_OK) rc = wallet_scripts(e, &c);
    if (rc == OS_OK) {
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        rc = os_rpc_scan_transactions(e->rpc, from, &tip, &unread, chain_match, &c, &er);
        pthread_mutex_unlock(&e->rpc_mu);
    }
    if (rc == OS_OK) rc = c.rc;
    if (rc == OS_OK) rc = os_ledger_meta_put_u64(e->ledger, OS_LEDGER_META_RECOVERY_CHAIN_SCANNED, tip + 1);
    *clean = rc == OS_OK && unread == 0 && c.found == 0;
    free(c.scripts);
    free(c.script_lens);
    return rc;
}

/* REPLAY (and the re-look of CONFIRM): records every SIGN entry from the recovery's start, looks for
 * the missing ones on chain and in the mempool, and records what each found one paid, in log order. */
static int replay_entries(os_engine *e, int *all_found, int *clean) {
    uint64_t from = 0, scan_from = 0;
    uint64_t from_chain = 0;
    int chain_clean = 1;
    int rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_FROM, &from);
    if (rc == OS_OK) rc = os_ledger_recovery_scan_from(e->ledger, &scan_from);
    if (rc == OS_OK) rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_CHAIN, &from_chain);
    if (rc == OS_OK && from_chain) rc = chain_scan(e, from_chain - 1, &chain_clean);
    if (rc != OS_OK) return rc;
    /* The entries to explain, from the archive (verified by the log sync): from the recovery's start,
     * those naming no transaction of the ledger; and, from the first, those naming a draft of the
     * ledger that has no signed raw (the backup's drafts the signer signed after it, or just before
     * it): either may have been broadcast by the lost ledger and paid. */
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    uint64_t seq = 0, at = 0, sweep = 0;
    (void)os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_SWEEP, &sweep);
    size_t n_drafts = 0, cap_drafts = 0;
    wanted_tx *drafts = NULL;
    for (;;) {
        rc = os_ledger_signer_log_next(e->ledger, at, &seq, entry);
        if (rc == OS_ERR_NOT_FOUND) break;
        if (rc != OS_OK) break;
        at = seq;
        if (entry[AUDIT_LOG_OFF_TYPE] != OS_LOG_SIGN) continue;
        const uint8_t *pl = entry + AUDIT_LOG_OFF_PAYLOAD;
        int64_t row = 0;
        os_draft d;
        if (os_ledger_tx_by_commitment(e->ledger, pl, pl + 32, &row, &d) == OS_OK) {
            os_draft_free(&d);
            uint8_t *raw = NULL, txid[32];
            size_t len = 0;
            if ((uint64_t)row == sweep || os_ledger_tx_raw(e->ledger, row, &raw, &len, txid) == OS_OK) {
                free(raw);
                continue;
            }
            if (n_drafts == cap_drafts) {
                cap_drafts = cap_drafts ? 2 * cap_drafts : 8;
                wanted_tx *grown = realloc(drafts, cap_drafts * sizeof *drafts);
                if (!grown) { rc = OS_ERR_IO; break; }
                drafts = grown;
            }
            wanted_tx *dw = &drafts[n_drafts++];
            memset(dw, 0, sizeof *dw);
            dw->seq = seq;
            dw->row = row;
            memcpy(dw->digest, pl + 32, 32);
            memcpy(dw->payload, pl, OS_LOG_PAYLOAD_MAX);
            continue;
        }
        if (seq < from) continue;
        rc = os_ledger_recovery_tx_put(e->ledger, seq, pl + 32, NULL, NULL, 0, engine_now());
        if (rc != OS_OK) break;
    }
    if (rc != OS_OK && rc != OS_ERR_NOT_FOUND) {
        free(drafts);
        return rc;
    }
    os_ledger_recovery_tx *t = NULL;
    size_t n = 0;
    rc = os_ledger_recovery_txs(e->ledger, &t, &n);
    if (rc != OS_OK) {
        free(drafts);
        return rc;
    }
    wanted_tx *w = calloc(n + n_drafts + 1, sizeof *w);
    scan_ctx sc = {.w = w, .n = 0, .missing = 0};
    for (size_t i = 0; w && i < n; i++) {
        if (t[i].found) continue;
        w[sc.n].seq = t[i].log_seq;
        memcpy(w[sc.n].digest, t[i].tx_digest, 32);
        sc.n++;
    }
    for (size_t i = 0; w && i < n_drafts; i++) w[sc.n++] = drafts[i];
    free(drafts);
    sc.missing = sc.n;
    if (!w) rc = OS_ERR_IO;
    *clean = 1;
    if (rc == OS_OK && sc.n > 0) {
        uint64_t tip = 0;
        size_t unread = 0;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        rc = os_rpc_scan_transactions(e->rpc, scan_from, &tip, &unread, scan_match, &sc, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        *clean = rc == OS_OK && unread == 0 && sc.missing == sc.n;
    }
    *clean = *clean && chain_clean;
    for (size_t i = 0; rc == OS_OK && i < sc.n; i++) {
        if (!w[i].raw) continue;
        uint8_t txid[32];
        os_outpoint anchor;
        rc = raw_anchor(w[i].raw, w[i].raw_len, txid, &anchor);
        /* a draft of the ledger: now signed, and followed by the reconciler like any other */
        if (rc == OS_OK && w[i].row)
            rc = engine_store_found(e, w[i].row, w[i].raw, w[i].raw_len, txid, w[i].payload, w[i].seq);
        else if (rc == OS_OK)
            rc = os_ledger_recovery_tx_put(e->ledger, w[i].seq, w[i].digest, txid, w[i].raw, w[i].raw_len,
                                           engine_now());
        if (rc == OS_OK) {
            char hex[65];
            os_txid_to_hex(txid, hex);
            os_log_field f[] = { OS_LOG_INT("log_seq", (int64_t)w[i].seq), OS_LOG_STR("txid", hex) };
            os_log(OS_LOG_NOTICE, "recovery.found", f, 2, "the transaction of signer log entry %llu is %s",
                   (unsigned long long)w[i].seq, hex);
        }
    }
    int drafts_missing = 0;
    for (size_t i = 0; i < sc.n; i++) {
        drafts_missing |= w[i].row && !w[i].raw;
        free(w[i].raw);
    }
    free(w);
    os_ledger_recovery_txs_free(t, n);
    if (rc != OS_OK) return rc;

    /* what each found one paid, in log order; the tree proves matches until an entry it cannot explain */
    rc = os_ledger_recovery_txs(e->ledger, &t, &n);
    if (rc != OS_OK) return rc;
    os_msg_info info;
    pthread_mutex_lock(&e->sign_mu);
    int irc = engine_device_info(e, &info);
    pthread_mutex_unlock(&e->sign_mu);
    uint64_t change_limit = irc == OS_OK ? info.log_seq + 20 : 0;
    uint64_t next_change = 0;
    (void)os_ledger_meta_u64(e->ledger, "next_change_index", &next_change);
    if (next_change > change_limit) change_limit = next_change;
    /* (d): the dead device's change after the backup took the indexes from the backup's counter on,
     * about one per transaction; an unrecognised change coin would escape the sweep */
    if (from_chain && next_change + n + 20 > change_limit) change_limit = next_change + n + 20;
    int tree_known = 1;
    *all_found = 1;
    for (size_t i = 0; rc == OS_OK && i < n; i++) {
        if (!t[i].found) {
            *all_found = 0;
            tree_known = 0;
            continue;
        }
        if (t[i].log_seq >= OS_LEDGER_RECOVERY_CHAIN_SEQ) {
            /* found on chain (scenario (d)): no entry, no root to prove anything against */
            uint8_t none[OS_LOG_PAYLOAD_MAX] = {0};
            tree_known = 0;
            pthread_mutex_lock(&e->sign_mu);
            rc = record_outputs(e, t[i].log_seq, none, t[i].raw, t[i].raw_len, change_limit, &tree_known);
            pthread_mutex_unlock(&e->sign_mu);
            continue;
        }
        rc = os_ledger_signer_log_next(e->ledger, t[i].log_seq - 1, &seq, entry);
        if (rc == OS_OK && seq != t[i].log_seq) rc = OS_ERR_DB;
        if (rc == OS_OK) {
            pthread_mutex_lock(&e->sign_mu);
            rc = record_outputs(e, t[i].log_seq, entry + AUDIT_LOG_OFF_PAYLOAD, t[i].raw, t[i].raw_len, change_limit,
                                &tree_known);
            pthread_mutex_unlock(&e->sign_mu);
        }
    }
    os_ledger_recovery_txs_free(t, n);
    if (drafts_missing) *all_found = 0;
    /* (d): no entry says what is missing, so the chain is never known to be complete: the reset waits
     * for CLEAN_SCANS_BEFORE_SWEEP scans in a row that found nothing new */
    if (from_chain) *all_found = 0;
    return rc;
}

/* ------------------------------------------------------------------ CONFIRM */

/* Rebroadcasts the found transactions that have not confirmed and records their confirmations.
 * Returns 1 when every found one confirmed. */
static int follow_found(os_engine *e) {
    os_ledger_recovery_tx *t = NULL;
    size_t n = 0;
    if (os_ledger_recovery_txs(e->ledger, &t, &n) != OS_OK) return 0;
    int all = 1;
    for (size_t i = 0; i < n; i++) {
        if (!t[i].found) continue;
        os_rpc_txstatus ts;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int rc = os_rpc_get_transaction(e->rpc, t[i].txid, &ts, NULL, NULL, &er);
        if (rc == OS_OK && !ts.found) {
            os_broadcast_result br;
            (void)os_rpc_sendrawtransaction(e->rpc, t[i].raw, t[i].raw_len, &br);
        }
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc != OS_OK || !ts.found || ts.confirmations == 0) {
            all = 0;
            continue;
        }
        (void)os_ledger_recovery_tx_confirmations(e->ledger, t[i].log_seq, ts.confirmations);
    }
    os_ledger_recovery_txs_free(t, n);
    return all;
}

/* Whether a transaction of the backup still in flight is in the node's mempool (it may yet confirm:
 * wait for it rather than sweep it away). */
static int backup_tx_in_mempool(os_engine *e, int64_t sweep_row) {
    int64_t *rows = NULL;
    size_t n = 0;
    if (os_ledger_txs_in_flight(e->ledger, sweep_row, &rows, &n) != OS_OK) return 1;
    int any = 0;
    for (size_t i = 0; i < n && !any; i++) {
        uint8_t *raw = NULL, txid[32];
        size_t len = 0;
        if (os_ledger_tx_raw(e->ledger, rows[i], &raw, &len, txid) != OS_OK) continue;
        free(raw);
        os_rpc_txstatus ts;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int rc = os_rpc_get_transaction(e->rpc, txid, &ts, NULL, NULL, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        any = rc != OS_OK || (ts.found && ts.confirmations == 0);
    }
    free(rows);
    return any;
}

/* ------------------------------------------------------------------ SWEEP */

/* Every coin the node shows on the wallet's addresses, spent to a fresh change address of the wallet
 * at a fee rate above the going one. Stored as a draft (no payouts: no nonce), then signed. */

static int register_receive_gap(os_engine *e) {
    uint64_t next = 0;
    int rc = os_ledger_meta_u64(e->ledger, "next_receive_index", &next);
    for (uint64_t i = 0; rc == OS_OK && i < next + RECEIVE_GAP; i++) {
        uint8_t script[64];
        size_t slen = 0;
        char address[OS_MAX_ADDRESS + 1];
        rc = engine_derive_script(e, 0, (uint32_t)i, script, &slen);
        if (rc == OS_OK) rc = address_from_script(e->cfg.network, script, slen, address, sizeof address);
        if (rc == OS_OK) rc = os_ledger_address_add(e->ledger, 0, (uint32_t)i, e->signer_script_type, address, script, slen);
    }
    return rc;
}

static int build_sweep(os_engine *e, int64_t *row) {
    int rc = register_receive_gap(e);
    if (rc != OS_OK) return rc;
    engine_wallet_sync(e);   /* the change of the found transactions, and those receive addresses' coins */
    os_rpc_utxo *u = NULL;
    size_t nu = 0;
    rc = engine_wallet_unspent(e, 1, &u, &nu);
    if (rc != OS_OK) return rc;
    os_ledger_coin *c = calloc(OS_MAX_INPUTS, sizeof *c);
    int64_t ids[OS_MAX_INPUTS];
    os_sign_input in[OS_MAX_INPUTS];
    size_t nc = 0;
    uint64_t total = 0;
    if (!c) rc = OS_ERR_IO;
    for (size_t i = 0; rc == OS_OK && i < nu && nc < OS_MAX_INPUTS; i++) {
        if (os_ledger_coin_by_outpoint(e->ledger, &u[i].outpoint, &c[nc]) != OS_OK) continue;
        memset(&in[nc], 0, sizeof in[nc]);
        in[nc].prevout = c[nc].op;
        in[nc].sequence = 0xfffffffdu;
        in[nc].script_type = c[nc].script_type;
        in[nc].change = c[nc].change;
        in[nc].addr_index = c[nc].index;
        in[nc].prev_tx = c[nc].prev;
        in[nc].prev_tx_len = c[nc].prev_len;
        ids[nc] = c[nc].id;
        total += c[nc].amount;
        nc++;
    }
    free(u);
    if (rc == OS_OK && nu > OS_MAX_INPUTS) {
        os_log_field f[] = { OS_LOG_INT("coins", (int64_t)nu) };
        os_log(OS_LOG_WARNING, "recovery.sweep_partial", f, 1, "the wallet has %zu coins: the sweep takes %d at a time",
               nu, OS_MAX_INPUTS);
    }
    if (rc == OS_OK && nc == 0) rc = OS_ERR_FUNDS;
    os_sign_output out;
    memset(&out, 0, sizeof out);
    uint32_t index = 0;
    size_t slen = 0;
    uint8_t change_script[64];
    if (rc == OS_OK) rc = engine_next_change_address(e, &index, change_script, &slen);
    if (rc == OS_OK && slen > sizeof out.script) rc = OS_ERR_INTERNAL;
    if (rc == OS_OK) {
        memcpy(out.script, change_script, slen);
        uint8_t types[OS_MAX_INPUTS];
        size_t lens[1] = {slen};
        for (size_t i = 0; i < nc; i++) types[i] = in[i].script_type;
        /* twice the going rate: above what the old set's transactions paid at the same estimate */
        uint64_t fee = os_decide_fee(os_decide_vsize(types, nc, lens, 1, 0), 2 * engine_fee_rate(e));
        if (fee + OS_DUST >= total) rc = OS_ERR_FUNDS;
        out.kind = OS_OUTPUT_CHANGE;
        out.amount = total - fee;
        out.change_script_type = e->signer_script_type;
        out.change_account = 0;
        out.change_index = index;
        out.script_len = (uint8_t)slen;
        os_sign_tx tx = {.version = 2, .locktime = 0, .n_inputs = nc, .n_outputs = 1, .inputs = in, .outputs = &out};
        if (rc == OS_OK) rc = os_ledger_recovery_sweep_create(e->ledger, &tx, fee, ids, nc, engine_now(), row);
    }
    os_ledger_coins_free(c, nc);
    free(c);
    return rc;
}

/* How many confirmed or unconfirmed coins the node shows on the wallet's addresses besides the outputs
 * of transaction txid. */
static int coins_besides(os_engine *e, const uint8_t txid[32], size_t *n) {
    *n = 0;
    os_rpc_utxo *u = NULL;
    size_t nu = 0;
    int rc = engine_wallet_unspent(e, 0, &u, &nu);
    for (size_t i = 0; rc == OS_OK && i < nu; i++) *n += memcmp(u[i].outpoint.txid, txid, 32) != 0;
    free(u);
    return rc;
}

/* ------------------------------------------------------------------ RESET */

/* The wallet's master fingerprint, from the archived SETUP entry (PROTOCOL.md §6): what NONCE_RESET
 * names so a device of another seed refuses it. */
static int master_fingerprint(os_engine *e, uint8_t fp[4]) {
    uint8_t entry[OS_LOG_ENTRY_BYTES];
    uint64_t seq = 0;
    int rc = os_ledger_signer_log_next(e->ledger, 0, &seq, entry);
    if (rc == OS_OK && (seq != 1 || entry[AUDIT_LOG_OFF_TYPE] != OS_LOG_SETUP)) rc = OS_ERR_NOT_FOUND;
    if (rc == OS_OK) memcpy(fp, entry + AUDIT_LOG_OFF_PAYLOAD + OS_LOG_SETUP_FINGERPRINT_OFF, 4);
    return rc;
}

static void on_reset_pending(void *ctx) {
    os_engine *e = ctx;
    enter(e, OS_RECOVERY_RESET, "the signer's transactions since the backup are settled: approve the nonce-set reset"
                                " on the signer (it shows the log head it continues from)");
}

/* Asks the device to empty its set (the operator approves), unless an archived NONCE_RESET after the
 * recovery's start shows it already did (a restart after the approval). *reset_seq: that entry. */
static int device_reset(os_engine *e, uint64_t *reset_seq) {
    uint64_t from = 0;
    char err[256] = "";
    int rc = os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_FROM, &from);
    if (rc != OS_OK) return rc;
    pthread_mutex_lock(&e->sign_mu);
    rc = engine_log_sync(e, err, sizeof err);
    if (rc == OS_OK) rc = engine_newest_reset(e, from, reset_seq);
    if (rc == OS_OK && *reset_seq == 0) {
        os_msg_info info;
        uint8_t fp[4];
        rc = engine_device_info(e, &info);
        if (rc == OS_OK) rc = master_fingerprint(e, fp);
        /* a replacement continues the dead device's archived head; a restore, the device's own */
        uint8_t prev[72];
        size_t prev_len = 0;
        int replaced = os_ledger_meta_get(e->ledger, OS_LEDGER_META_REPLACED_FROM, prev, sizeof prev, &prev_len) == OS_OK &&
                       prev_len == sizeof prev;
        os_msg_nonce_reset m;
        if (rc == OS_OK)
            rc = replaced ? os_nonce_reset_make(&info, fp, prev, os_read_le64(prev + 32), prev + 40, &m)
                          : os_nonce_reset_make(&info, fp, info.attestation_pubkey, info.log_seq, info.log_head, &m);
        if (rc == OS_OK) {
            os_client_set_operator_timeout(e->client, (int)e->cfg.operator_wait_ms);
            rc = os_nonce_reset(e->client, &m, 10000, on_reset_pending, e);
        }
        if (rc == OS_OK) rc = engine_log_sync(e, err, sizeof err);
        if (rc == OS_OK) rc = engine_newest_reset(e, from, reset_seq);
        if (rc == OS_OK && *reset_seq == 0) rc = OS_ERR_INTERNAL;
    }
    pthread_mutex_unlock(&e->sign_mu);
    return rc;
}

/* Whether every signed transaction of the old set still in flight is provably unconfirmed: the node
 * answered for each, and none is in a block. One that confirmed pays its payouts: the reconciler must
 * record that before the rest are declared dead and their payouts requested again (else they would
 * be paid twice). Returns OS_OK, or OS_ERR_BUSY (ask again later). */
static int backup_txs_unconfirmed(os_engine *e, int64_t sweep_row) {
    (void)os_engine_reconcile_now(e);
    int64_t *rows = NULL;
    size_t n = 0;
    int rc = os_ledger_txs_in_flight(e->ledger, sweep_row, &rows, &n);
    for (size_t i = 0; rc == OS_OK && i < n; i++) {
        uint8_t *raw = NULL, txid[32];
        size_t len = 0;
        if (os_ledger_tx_raw(e->ledger, rows[i], &raw, &len, txid) != OS_OK) continue; /* never signed */
        free(raw);
        os_rpc_txstatus ts;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        int q = os_rpc_get_transaction(e->rpc, txid, &ts, NULL, NULL, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        /* a node without -txindex answers -5 for a transaction neither its mempool nor its wallet
         * knows (docs/MONACOIND.md): not found */
        int unknown = q == OS_ERR_RPC && er.code == -5;
        if ((q != OS_OK && !unknown) || (q == OS_OK && ts.found)) rc = OS_ERR_BUSY;
    }
    free(rows);
    return rc;
}

/* The device's set is empty (its NONCE_RESET entry is reset_seq): so is the ledger's tree from now
 * on, and the sweep is built under it. */
static int reset_done(os_engine *e, uint64_t reset_seq) {
    int rc = os_ledger_recovery_reset(e->ledger, reset_seq);
    if (rc != OS_OK) return rc;
    pthread_mutex_lock(&e->sign_mu);
    rc = engine_tree_load(e);
    pthread_mutex_unlock(&e->sign_mu);
    if (rc != OS_OK) return rc;
    os_log_field f[] = { OS_LOG_INT("reset_log_seq", (int64_t)reset_seq) };
    os_log(OS_LOG_NOTICE, "recovery.reset", f, 1, "the signer's nonce set was reset (log entry %llu): sweeping the"
           " wallet under the new set", (unsigned long long)reset_seq);
    enter(e, OS_RECOVERY_SWEEP, "the nonce set is reset (log entry %llu): sweeping every coin of the wallet",
          (unsigned long long)reset_seq);
    return OS_OK;
}

static int finish(os_engine *e, int64_t sweep) {
    uint64_t requeued = 0, reset_seq = 0;
    int rc = backup_txs_unconfirmed(e, sweep);
    if (rc == OS_ERR_BUSY) {
        enter(e, OS_RECOVERY_SWEEP, "the sweep confirmed; waiting for the node to confirm what the transactions"
                                    " of the old set became");
        return rc;
    }
    if (rc == OS_OK) rc = os_ledger_meta_u64(e->ledger, "tree_seq", &reset_seq);
    if (rc == OS_OK) rc = os_ledger_recovery_finish(e->ledger, sweep, engine_now(), &requeued);
    if (rc != OS_OK) return rc;
    pthread_mutex_lock(&e->mu);
    e->recovering = 0;
    e->recovery_phase = OS_RECOVERY_NONE;
    e->recovery_reason[0] = '\0';
    pthread_mutex_unlock(&e->mu);
    os_log_field f[] = { OS_LOG_INT("reset_log_seq", (int64_t)reset_seq), OS_LOG_INT("requeued", (int64_t)requeued) };
    os_log(OS_LOG_NOTICE, "recovery.done", f, 2, "recovery done: the signer's nonce set was reset (log entry %llu);"
           " %llu payout(s) whose transactions can never confirm are requested again; writes are accepted again",
           (unsigned long long)reset_seq, (unsigned long long)requeued);
    engine_wake_worker(e);
    return OS_OK;
}

/* ------------------------------------------------------------------ the step */

int engine_recovery_step(os_engine *e) {
    if (!e->rpc) return 0;
    int64_t now = engine_mono_ms();
    if (now < e->recovery_next_ms) return 0;
    e->recovery_next_ms = now + 500;
    uint64_t phase = 0, sweep = 0;
    if (os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_PHASE, &phase) != OS_OK) return 0;
    (void)os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_SWEEP, &sweep);
    int all_found = 0, rc = OS_OK;
    switch (phase) {
    case OS_RECOVERY_REPLAY:
    case OS_RECOVERY_CONFIRM: {
        int clean = 0;
        rc = replay_entries(e, &all_found, &clean);
        if (rc != OS_OK) {
            enter(e, (int)phase, "looking for the signer's transactions on the node failed (%s); retrying",
                  os_status_name(rc));
            return 0;
        }
        e->recovery_clean_scans = all_found ? CLEAN_SCANS_BEFORE_SWEEP : clean ? e->recovery_clean_scans + 1 : 0;
        int confirmed = follow_found(e);
        if (!confirmed || backup_tx_in_mempool(e, 0)) {
            enter(e, OS_RECOVERY_CONFIRM, "waiting for the transactions signed after the backup to confirm");
            return 0;
        }
        if (e->recovery_clean_scans < CLEAN_SCANS_BEFORE_SWEEP) {
            enter(e, OS_RECOVERY_CONFIRM, "looking again for signatures not seen on the node yet (%d of %d clean scans)",
                  e->recovery_clean_scans, CLEAN_SCANS_BEFORE_SWEEP);
            e->recovery_next_ms = engine_mono_ms() + 1000;
            return 0;
        }
        uint64_t from_chain = 0;
        (void)os_ledger_meta_u64(e->ledger, OS_LEDGER_META_RECOVERY_CHAIN, &from_chain);
        enter(e, OS_RECOVERY_RESET, "%s: asking the operator to reset the nonce set on the signer",
              from_chain ? "the dead device's transactions found on chain since the backup are settled (one it"
                           " signed and never broadcast is made unconfirmable by the sweep after the reset)"
              : all_found ? "every signature since the backup is settled"
                        : "some signatures were never seen on the node (the sweep after the reset makes them"
                          " unconfirmable)");
        return 1;
    }
    case OS_RECOVERY_SWEEP: {
        if (sweep == 0) {
            int64_t row = 0;
            rc = build_sweep(e, &row);
            if (rc != OS_OK) {
                enter(e, OS_RECOVERY_SWEEP, "the sweep of the wallet's coins cannot be built yet (%s)", os_status_name(rc));
                return 0;
            }
            enter(e, OS_RECOVERY_SWEEP, "sweeping every coin of the wallet (transaction %lld)", (long long)row);
            return 1;
        }
        int committed = 0;
        os_draft d;
        if (os_ledger_tx_draft(e->ledger, (int64_t)sweep, &d, &committed, NULL) != OS_OK) return 0;
        os_draft_free(&d);
        uint8_t *raw = NULL, txid[32];
        size_t len = 0;
        if (os_ledger_tx_raw(e->ledger, (int64_t)sweep, &raw, &len, txid) != OS_OK) {
            pthread_mutex_lock(&e->sign_mu);
            rc = engine_sign_row(e, (int64_t)sweep);
            pthread_mutex_unlock(&e->sign_mu);
            if (rc == OS_OK) engine_broadcast_row(e, (int64_t)sweep);
            else enter(e, OS_RECOVERY_SWEEP, "signing the sweep: %s; retrying", os_status_name(rc));
            return rc == OS_OK;
        }
        free(raw);
        os_rpc_txstatus ts;
        os_rpc_error er;
        pthread_mutex_lock(&e->rpc_mu);
        rc = os_rpc_get_transaction(e->rpc, txid, &ts, NULL, NULL, &er);
        pthread_mutex_unlock(&e->rpc_mu);
        if (rc != OS_OK) return 0;
        if (!ts.found) {
            engine_broadcast_row(e, (int64_t)sweep);
            return 0;
        }
        if (ts.confirmations < e->cfg.confirmations_final) {
            enter(e, OS_RECOVERY_SWEEP, "waiting for the sweep to confirm (%u of %u confirmations)", ts.confirmations,
                  e->cfg.confirmations_final);
            return 0;
        }
        /* a sweep takes at most OS_MAX_INPUTS coins: another one until no coin but its output is left */
        size_t others = 0;
        rc = coins_besides(e, txid, &others);
        if (rc != OS_OK) return 0;
        if (others > 0) {
            int64_t row = 0;
            rc = build_sweep(e, &row);
            if (rc == OS_OK)
                enter(e, OS_RECOVERY_SWEEP, "%zu coin(s) left after the sweep: sweeping again (transaction %lld)", others,
                      (long long)row);
            return rc == OS_OK;
        }
        return finish(e, (int64_t)sweep) == OS_OK;
    }
    case OS_RECOVERY_RESET: {
        uint64_t reset_seq = 0;
        rc = device_reset(e, &reset_seq);
        if (rc != OS_OK) {
            e->recovery_next_ms = engine_mono_ms() + RESET_RETRY_MS;
            os_log_field f[] = { OS_LOG_STR("status", os_status_name(rc)) };
            os_log(OS_LOG_ERROR, "recovery.reset_refused", f, 1, "the nonce-set reset did not happen: %s; asking again",
                   os_status_name(rc));
            enter(e, OS_RECOVERY_RESET, "the nonce-set reset did not happen (%s): approve it on the signer",
                  os_status_name(rc));
            return 0;
        }
        rc = reset_done(e, reset_seq);
        if (rc != OS_OK) enter(e, OS_RECOVERY_RESET, "recording the reset failed (%s); retrying", os_status_name(rc));
        return rc == OS_OK;
    }
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ GET /v1/recovery */

typedef struct {
    int (*payout)(void *ctx, const os_recovered_payout *p);
    int (*held)(void *ctx, const char code_id[33], uint64_t amount);
    void *ctx;
    os_ledger *ledger;
} list_ctx;

static void code_id_of(const uint8_t hash[32], char out[33]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[32] = '\0';
}

static int list_output(void *arg, const os_ledger_recovery_output *o, uint32_t confirmations) {
    list_ctx *lc = arg;
    os_recovered_payout p;
    memset(&p, 0, sizeof p);
    /* found on chain (scenario (d)): no log entry names it */
    p.log_seq = o->log_seq >= OS_LEDGER_RECOVERY_CHAIN_SEQ ? 0 : o->log_seq;
    os_txid_to_hex(o->txid, p.txid);
    p.vout = o->vout;
    p.confirmations = confirmations;
    snprintf(p.address, sizeof p.address, "%s", o->address);
    p.amount = o->amount;
    p.payout_id = o->payout_id;
    snprintf(p.how, sizeof p.how, "%s", o->how ? o->how : "");
    if (o->code_row) {
        uint8_t hash[32];
        if (os_ledger_code_hash(lc->ledger, o->code_row, hash) == OS_OK) code_id_of(hash, p.code_id);
    }
    return lc->payout(lc->ctx, &p);
}

static int list_held(void *arg, const uint8_t code_hash[32], uint64_t amount, uint64_t log_seq) {
    list_ctx *lc = arg;
    (void)log_seq;
    char id[33];
    code_id_of(code_hash, id);
    return lc->held(lc->ctx, id, amount);
}

int os_engine_recovery_list(os_engine *e, int *phase, char *why, size_t why_cap,
                            int (*payout)(void *ctx, const os_recovered_payout *p),
                            int (*held)(void *ctx, const char code_id[33], uint64_t amount), void *ctx) {
    if (!e || !phase || !payout || !held) return OS_ERR_ARG;
    pthread_mutex_lock(&e->mu);
    *phase = e->recovering ? e->recovery_phase : OS_RECOVERY_NONE;
    if (why && why_cap) snprintf(why, why_cap, "%s", e->recovering ? e->recovery_reason : "");
    pthread_mutex_unlock(&e->mu);
    list_ctx lc = {payout, held, ctx, e->ledger};
    int rc = os_ledger_recovery_outputs_each(e->ledger, list_output, &lc);
    if (rc == OS_OK) rc = os_ledger_recovery_held_each(e->ledger, list_held, &lc);
    return rc;
}

int os_engine_recovery_release_held(os_engine *e, const char *code_id) {
    uint8_t id[16];
    size_t len = 0;
    if (!e || !code_id || strlen(code_id) != 32 || os_hex_decode(code_id, id, sizeof id, &len) != OS_OK || len != 16)
        return OS_ERR_ARG;
    int rc = os_ledger_recovery_release_held(e->ledger, id);
    os_log_field f[] = { OS_LOG_STR("code_id", code_id), OS_LOG_STR("status", os_status_name(rc)) };
    if (rc == OS_OK)
        os_log(OS_LOG_WARNING, "recovery.held_released", f, 2, "held code %s released by the operator: its redeem is"
               " accepted again (the backend says it was not redeemed after the backup)", code_id);
    else
        os_log(OS_LOG_NOTICE, "recovery.held_release_refused", f, 2, "held code %s not released: %s", code_id,
               os_status_name(rc));
    return rc;
}
