/* oncesign host — the auditor's tools: export and verify the signer's audit log (audit.h). */
#include "audit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_log.h"
#include "bytes.h"
#include "crypto.h"
#include "errtext.h"
#include "issuer.h"
#include "nonce_tree.h"
#include "oncesign/check.h"
#include "oncesign/status.h"
#include "tx.h"
#include "voucher.h"

void os_audit_log_free(os_audit_log *log) {
    if (log == NULL) return;
    free(log->entries);
    log->entries = NULL;
    log->n = 0;
}

/* Appends one entry, growing the array geometrically. */
static int log_push(os_audit_log *log, size_t *cap_entries, const uint8_t entry[OS_LOG_ENTRY_BYTES]) {
    if (log->n == *cap_entries) {
        size_t want = *cap_entries ? *cap_entries * 2 : 64;
        void *p = realloc(log->entries, want * OS_LOG_ENTRY_BYTES);
        if (p == NULL) return OS_ERR_IO;
        log->entries = p;
        *cap_entries = want;
    }
    memcpy(log->entries[log->n++], entry, OS_LOG_ENTRY_BYTES);
    return OS_OK;
}

/* ------------------------------------------------------------------ export */

static int call(os_client *c, int timeout_ms, const os_msg *req, os_msg *reply, uint8_t *buf) {
    int rc = os_client_call(c, req, reply, buf, timeout_ms);
    /* a channel error means the device dropped the request unread: one retry is safe */
    if (rc == OS_ERR_FRAME_CHANNEL) rc = os_client_call(c, req, reply, buf, timeout_ms);
    if (rc != OS_OK) return rc;
    if (reply->type == OS_MSG_ERROR) return reply->u.error.code ? reply->u.error.code : OS_ERR_INTERNAL;
    return OS_OK;
}

int os_audit_export_device(os_client *c, int timeout_ms, os_audit_log *log, os_msg_info *info_out, char *err,
                           size_t cap) {
    ARG_CHECK(c != NULL && log != NULL);
    memset(log, 0, sizeof *log);
    static __thread uint8_t buf[OS_MAX_MESSAGE];
    os_msg req, reply;
    memset(&req, 0, sizeof req);
    req.type = OS_MSG_GET_INFO;
    int rc = call(c, timeout_ms, &req, &reply, buf);
    if (rc == OS_OK && reply.type != OS_MSG_INFO) rc = OS_ERR_MSG_UNEXPECTED;
    if (rc != OS_OK) {
        os_errf(err, cap, "GET_INFO: %s", os_status_name(rc));
        return rc;
    }
    os_msg_info info = reply.u.info;
    if (info_out != NULL) *info_out = info;
    memcpy(log->attestation, info.attestation_pubkey, 32);
    if (info.log_seq == 0) return OS_OK;
    /* The ring keeps at most log_capacity entries; the oldest may be fewer (a sector erased ahead). */
    uint64_t start = info.log_capacity > 0 && info.log_seq > info.log_capacity ? info.log_seq - info.log_capacity + 1 : 1;
    size_t cap_entries = 0;
    for (uint64_t seq = start; seq <= info.log_seq; seq++) {
        memset(&req, 0, sizeof req);
        req.type = OS_MSG_LOG_READ;
        req.u.log_read.seq = seq;
        rc = call(c, timeout_ms, &req, &reply, buf);
        if (rc == OS_OK && (reply.type != OS_MSG_LOG_ENTRY || reply.u.log_entry.len != OS_LOG_ENTRY_BYTES))
            rc = OS_ERR_MSG_UNEXPECTED;
        if (rc == OS_ERR_LOG_RANGE && log->n == 0 && seq < info.log_seq) continue; /* older than the ring keeps */
        if (rc != OS_OK) {
            os_errf(err, cap, "LOG_READ %llu: %s", (unsigned long long)seq, os_status_name(rc));
            os_audit_log_free(log);
            return rc;
        }
        if (log->n == 0) log->first = seq;
        if ((rc = log_push(log, &cap_entries, reply.u.log_entry.entry)) != OS_OK) {
            os_errf(err, cap, "out of memory");
            os_audit_log_free(log);
            return rc;
        }
        log->last = seq;
    }
    return OS_OK;
}

typedef struct {
    os_audit_log *log;
    size_t cap_entries;
    char *err;
    size_t err_cap;
} export_ctx;

static int export_entry(void *arg, uint64_t seq, const uint8_t *entry, size_t len) {
    export_ctx *x = arg;
    if (len != OS_LOG_ENTRY_BYTES) {
        os_errf(x->err, x->err_cap, "ledger: archived entry %llu is %zu bytes, not %d", (unsigned long long)seq, len,
             OS_LOG_ENTRY_BYTES);
        return OS_ERR_DB;
    }
    if (x->log->n == 0) x->log->first = seq;
    x->log->last = seq;
    return log_push(x->log, &x->cap_entries, entry);
}

int os_audit_export_ledger(os_ledger *l, os_audit_log *log, char *err, size_t cap) {
    ARG_CHECK(l != NULL && log != NULL);
    memset(log, 0, sizeof *log);
    os_ledger_lock(l);
    size_t n = 0;
    int rc = os_ledger_meta_get(l, "attestation_key", log->attestation, 32, &n);
    if (rc == OS_OK && n != 32) rc = OS_ERR_DB;
    if (rc != OS_OK) {
        os_ledger_unlock(l);
        os_errf(err, cap, rc == OS_ERR_NOT_FOUND ? "the ledger has no attestation key (never connected to a signer)"
                                              : "reading the ledger's attestation key failed");
        return rc == OS_ERR_NOT_FOUND ? OS_ERR_NOT_FOUND : OS_ERR_DB;
    }
    export_ctx ctx = {log, 0, err, cap};
    rc = os_ledger_signer_log_each(l, export_entry, &ctx);
    if (rc == OS_ERR_DB && !(err && cap && err[0])) os_errf(err, cap, "ledger: reading the signer log archive failed");
    os_ledger_unlock(l);
    if (rc != OS_OK) os_audit_log_free(log);
    return rc;
}

/* ------------------------------------------------------------------ file format */

static void to_hex(char *out, const uint8_t *data, size_t len) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_digit(char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static int from_hex(const char *s, size_t digits, uint8_t *out) {
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
}

int os_audit_write(FILE *f, const os_audit_log *log) {
    ARG_CHECK(f != NULL && log != NULL);
    char att[65], line[2 * OS_LOG_ENTRY_BYTES + 2];
    to_hex(att, log->attestation, 32);
    if (fprintf(f, OS_AUDIT_HEADER_MAGIC " attestation=%s first=%llu last=%llu\n", att,
                (unsigned long long)log->first, (unsigned long long)log->last) < 0)
        return OS_ERR_IO;
    for (size_t i = 0; i < log->n; i++) {
        to_hex(line, log->entries[i], OS_LOG_ENTRY_BYTES);
        strcat(line, "\n");
        if (fputs(line, f) == EOF) return OS_ERR_IO;
    }
    return fflush(f) == 0 && !ferror(f) ? OS_OK : OS_ERR_IO;
}

/* Reads one line (without its '\n') into buf; *len = -1 at end of file. Lines longer than cap-1
 * are reported as cap (too long). */
static int read_line(FILE *f, char *buf, size_t cap, long *len) {
    size_t n = 0;
    int ch, any = 0;
    while ((ch = fgetc(f)) != EOF) {
        any = 1;
        if (ch == '\n') break;
        if (n + 1 < cap) buf[n] = (char)ch;
        n++;
    }
    if (ferror(f)) return OS_ERR_IO;
    buf[n + 1 < cap ? n : cap - 1] = '\0';
    *len = any ? (long)(n < cap ? n : cap) : -1;
    return OS_OK;
}

static int parse_u64_field(const char *s, const char *name, uint64_t *out, const char **rest) {
    size_t nl = strlen(name);
    if (strncmp(s, name, nl) != 0) return 0;
    s += nl;
    if (*s < '0' || *s > '9') return 0;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        if (v > (UINT64_MAX - 9) / 10) return 0;
        v = v * 10 + (uint64_t)(*s++ - '0');
    }
    *out = v;
    *rest = s;
    return 1;
}

int os_audit_read(FILE *f, os_audit_log *log, char *err, size_t cap) {
    ARG_CHECK(f != NULL && log != NULL);
    memset(log, 0, sizeof *log);
    char line[2 * OS_LOG_ENTRY_BYTES + 8];
    long len;
    int rc = read_line(f, line, sizeof line, &len);
    if (rc != OS_OK) {
        os_errf(err, cap, "read error");
        return rc;
    }
    const char *p = line;
    static const char magic[] = OS_AUDIT_HEADER_MAGIC " attestation=";
    if (len < 0 || strncmp(p, magic, sizeof magic - 1) != 0) {
        os_errf(err, cap, "line 1: not an oncesign log export (expected '%s attestation=...')", OS_AUDIT_HEADER_MAGIC);
        return OS_ERR_LOG_FORMAT;
    }
    p += sizeof magic - 1;
    if (strlen(p) < 64 || !from_hex(p, 64, log->attestation) || p[64] != ' ' ||
        !parse_u64_field(p + 65, "first=", &log->first, &p) || *p != ' ' ||
        !parse_u64_field(p + 1, "last=", &log->last, &p) || *p != '\0') {
        os_errf(err, cap, "line 1: malformed header (attestation=<64 hex> first=<seq> last=<seq>)");
        return OS_ERR_LOG_FORMAT;
    }
    size_t cap_entries = 0;
    for (size_t lineno = 2;; lineno++) {
        if ((rc = read_line(f, line, sizeof line, &len)) != OS_OK) {
            os_errf(err, cap, "read error at line %zu", lineno);
            break;
        }
        if (len < 0) break;
        uint8_t entry[OS_LOG_ENTRY_BYTES];
        if (len != 2 * OS_LOG_ENTRY_BYTES || !from_hex(line, 2 * OS_LOG_ENTRY_BYTES, entry)) {
            os_errf(err, cap, "line %zu: not %d hex digits", lineno, 2 * OS_LOG_ENTRY_BYTES);
            rc = OS_ERR_LOG_FORMAT;
            break;
        }
        if ((rc = log_push(log, &cap_entries, entry)) != OS_OK) {
            os_errf(err, cap, "out of memory");
            break;
        }
    }
    if (rc != OS_OK) os_audit_log_free(log);
    return rc;
}

/* ------------------------------------------------------------------ verification */

static int fail(os_audit_report *r, int status, uint64_t seq, size_t index, const char *fmt, ...) {
    r->status = status;
    r->bad_seq = seq;
    r->bad_index = index;
    va_list ap;
    va_start(ap, fmt);
    os_verrf(r->reason, sizeof r->reason, fmt, ap);
    va_end(ap);
    return status;
}

static void count_entry(os_audit_report *r, const uint8_t *e) {
    uint8_t type = e[AUDIT_LOG_OFF_TYPE];
    const uint8_t *pl = e + AUDIT_LOG_OFF_PAYLOAD;
    r->by_type[type < OS_LOG_TYPES ? type : 0]++;
    switch (type) {
    case OS_LOG_SIGN:
        r->signatures_released++;
        r->fee_total += os_read_le64(pl + 96);
        r->payout_total += os_read_le64(pl + 104);
        if (pl[116]) r->approvals++;   /* signed after the operator approved on the device */
        break;
    case OS_LOG_REFUSE_COMMITTED: r->refusals++; break;
    case OS_LOG_REFUSE_ANCHOR: r->refusals++; break;
    case OS_LOG_REFUSE_VOUCHER: r->refusals++; break;
    case OS_LOG_REFUSE_APPROVAL: r->refusals++; break;
    case OS_LOG_APPROVAL:
        if (pl[0] == 4) r->reanchors++;   /* its SIGN entry (approved) counts the approval */
        else if (pl[1]) r->approvals++;
        else r->rejections++;
        break;
    case OS_LOG_BOOT: r->boots++; break;
    default: break;
    }
}

int os_audit_verify(const os_audit_log *log, const uint8_t pubkey[32], const uint8_t *from, const uint8_t *head,
                    os_audit_report *r) {
    static const uint8_t zero[32];
    ARG_CHECK(log != NULL && pubkey != NULL && r != NULL);
    ARG_CHECK(log->n == 0 || log->entries != NULL);
    memset(r, 0, sizeof *r);
    if (log->n == 0) {
        if (log->first != 0 || log->last != 0)
            return fail(r, OS_ERR_LOG_HEAD, log->first, 0, "the header names entries %llu..%llu but the file holds none",
                        (unsigned long long)log->first, (unsigned long long)log->last);
        /* An empty file is what a cut log looks like too: it proves something only against a head
         * from outside it (zero for a blank device, or the head a previous audit ended at). */
        if (head == NULL)
            return fail(r, OS_ERR_LOG_START, 0, 0,
                        "log-start: the file holds no entries: give --head (the device's log_head; zero for a blank device)");
        if (memcmp(head, from != NULL ? from : zero, 32) != 0)
            return fail(r, OS_ERR_LOG_HEAD, 0, 0, "the file holds no entries but the given head is not where it %s",
                        from != NULL ? "continues from (--from)" : "starts (zero)");
        r->head_checked = 1;
        return OS_OK;
    }
    if (log->first == 0)
        return fail(r, OS_ERR_LOG_FORMAT, 0, 0, "the header says first=0 (entries start at seq 1)");
    uint8_t prev[32] = { 0 }, hash[32];
    if (log->first == 1) {
        /* A device's log begins with its SETUP entry (seq 1, prev_hash zero). */
        if (log->entries[0][AUDIT_LOG_OFF_TYPE] != OS_LOG_SETUP)
            return fail(r, OS_ERR_LOG_START, 1, 0, "log-start: entry 1 is not a SETUP entry: this is not the start of a device's log");
        if (from != NULL && memcmp(from, zero, 32) != 0)
            return fail(r, OS_ERR_LOG_START, 1, 0, "log-start: --from names a head, but the file starts at seq 1 (prev_hash zero)");
    } else {
        /* Entries before `first` are not in the file: without the signed head they continue from,
         * a file with its front cut off would pass as a complete log. */
        if (from == NULL)
            return fail(r, OS_ERR_LOG_START, log->first, 0,
                        "log-start: the file starts at entry %llu, not at SETUP: give --from HASH (the hash of entry %llu, the"
                        " head an earlier verified export ended at)",
                        (unsigned long long)log->first, (unsigned long long)(log->first - 1));
        memcpy(prev, from, 32);
    }
    r->chain_anchored = 1;
    for (size_t i = 0; i < log->n; i++) {
        uint64_t seq = log->first + i;
        int rc = audit_log_verify_entry(pubkey, log->entries[i], seq, prev, hash);
        if (rc == OS_ERR_LOG_VERSION)
            return fail(r, rc, seq, i, "entry %llu (line %zu): log format version %u; this verifier reads version %u"
                        " only (the firmware that wrote it is newer or older than this oncesign): %s",
                        (unsigned long long)seq, i + 2, (unsigned)log->entries[i][AUDIT_LOG_OFF_FORMAT],
                        (unsigned)AUDIT_LOG_FORMAT, os_status_name(rc));
        if (rc != OS_OK) {
            uint64_t got = os_read_le64(log->entries[i] + AUDIT_LOG_OFF_SEQ);
            return fail(r, rc, seq, i, "entry %llu (line %zu, claims seq %llu): %s: %s", (unsigned long long)seq, i + 2,
                        (unsigned long long)got, os_status_name(rc), os_status_message(rc));
        }
        memcpy(prev, hash, 32);
        count_entry(r, log->entries[i]);
        r->n_entries++;
        r->last = seq;
    }
    r->first = log->first;
    memcpy(r->head, prev, 32);
    if (log->last != r->last)
        return fail(r, OS_ERR_LOG_HEAD, r->last + 1, log->n,
                    "the header says last=%llu but the entries end at %llu%s", (unsigned long long)log->last,
                    (unsigned long long)r->last, log->last > r->last ? " (truncated)" : "");
    if (head != NULL) {
        if (memcmp(head, r->head, 32) != 0) {
            char want[65], got[65];
            to_hex(want, head, 32);
            to_hex(got, r->head, 32);
            return fail(r, OS_ERR_LOG_HEAD, r->last, log->n - 1,
                        "the last entry (%llu) hashes to %s, not the given head %s: entries are missing at the end,"
                        " or this is not that device's log",
                        (unsigned long long)r->last, got, want);
        }
        r->head_checked = 1;
    }
    return OS_OK;
}

/* ------------------------------------------------------------------ ledger cross-check */

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    if (*p >= end) return 0;
    uint8_t b = *(*p)++;
    size_t n = b < 0xfd ? 0 : b == 0xfd ? 2 : b == 0xfe ? 4 : 8;
    if ((size_t)(end - *p) < n) return 0;
    if (n == 0) *v = b;
    else if (n == 2) *v = (uint64_t)(*p)[0] | (uint64_t)(*p)[1] << 8;
    else if (n == 4) *v = os_read_le32(*p);
    else *v = os_read_le64(*p);
    *p += n;
    return 1;
}

/* BIP143 hashPrevouts and the transaction digest (proto/tx_digest.h) of a serialized transaction
 * (legacy or segwit form): scriptSigs and witnesses are parsed over and left out. */
static int raw_commitment(const uint8_t *raw, size_t len, uint8_t hp[32], uint8_t digest[32],
                          void (*on_output)(void *ctx, uint64_t amount, const uint8_t *script, size_t script_len),
                          void *ctx) {
    const uint8_t *p = raw, *end = raw + len;
    if (len < 10) return OS_ERR_TX_PARSE;
    uint32_t version = os_read_le32(p);
    p += 4;
    int segwit = p[0] == 0 && p[1] == 1;
    if (segwit) p += 2;
    uint64_t n_in, n_out, slen;
    const uint8_t *ins;
    if (!read_varint(&p, end, &n_in) || n_in == 0 || n_in > OS_MAX_INPUTS) return OS_ERR_TX_PARSE;
    ins = p;
    for (uint64_t i = 0; i < n_in; i++) {
        if ((size_t)(end - p) < 36) return OS_ERR_TX_PARSE;
        p += 36;
        /* slen + 4 could wrap for a hostile length: compare without adding to it */
        if (!read_varint(&p, end, &slen) || (uint64_t)(end - p) < 4 || (uint64_t)(end - p) - 4 < slen)
            return OS_ERR_TX_PARSE;
        p += slen + 4;
    }
    if (!read_varint(&p, end, &n_out) || n_out == 0 || n_out > OS_MAX_OUTPUTS) return OS_ERR_TX_PARSE;
    const uint8_t *outs = p;
    for (uint64_t i = 0; i < n_out; i++) {
        if ((size_t)(end - p) < 8) return OS_ERR_TX_PARSE;
        p += 8;
        if (!read_varint(&p, end, &slen) || (uint64_t)(end - p) < slen) return OS_ERR_TX_PARSE;
        p += slen;
    }
    if (segwit) {
        for (uint64_t i = 0; i < n_in; i++) {
            uint64_t items, ilen;
            if (!read_varint(&p, end, &items)) return OS_ERR_TX_PARSE;
            for (uint64_t k = 0; k < items; k++) {
                if (!read_varint(&p, end, &ilen) || (uint64_t)(end - p) < ilen) return OS_ERR_TX_PARSE;
                p += ilen;
            }
        }
    }
    if (end - p != 4) return OS_ERR_TX_PARSE;
    uint32_t locktime = os_read_le32(p);
    tx_sighasher *h = malloc(sizeof *h);
    if (h == NULL) return OS_ERR_IO;
    int rc = tx_sighasher_begin(h, version, locktime, (uint16_t)n_in, (uint16_t)n_out);
    p = ins;
    for (uint64_t i = 0; rc == OS_OK && i < n_in; i++) {
        os_outpoint op;
        memcpy(op.txid, p, 32);
        op.vout = os_read_le32(p + 32);
        p += 36;
        (void)read_varint(&p, end, &slen);
        p += slen;
        rc = tx_sighasher_add_input(h, (uint16_t)i, &op, os_read_le32(p), NULL, 0);
        p += 4;
    }
    p = outs;
    for (uint64_t i = 0; rc == OS_OK && i < n_out; i++) {
        uint64_t amount = os_read_le64(p);
        p += 8;
        (void)read_varint(&p, end, &slen);
        rc = tx_sighasher_add_output(h, amount, p, (size_t)slen);
        if (rc == OS_OK && on_output != NULL) on_output(ctx, amount, p, (size_t)slen);
        p += slen;
    }
    if (rc == OS_OK) rc = tx_sighasher_hash_prevouts(h, hp);
    if (rc == OS_OK) rc = tx_sighasher_tx_digest(h, digest);
    free(h);
    return rc;
}

int os_audit_raw_commitment(const uint8_t *raw, size_t raw_len, uint8_t hash_prevouts[32], uint8_t tx_digest[32],
                            void (*on_output)(void *ctx, uint64_t amount, const uint8_t *script, size_t script_len),
                            void *ctx) {
    ARG_CHECK(raw != NULL && hash_prevouts != NULL && tx_digest != NULL);
    return raw_commitment(raw, raw_len, hash_prevouts, tx_digest, on_output, ctx);
}

int os_audit_match_raw(const os_audit_log *log, const uint8_t *raw, size_t raw_len, uint64_t *seq,
                       uint8_t *hash_prevouts, uint8_t *tx_digest) {
    ARG_CHECK(log != NULL && raw != NULL && seq != NULL);
    ARG_CHECK(log->n == 0 || log->entries != NULL);
    uint8_t hp[32], digest[32];
    *seq = 0;
    int rc = raw_commitment(raw, raw_len, hp, digest, NULL, NULL);
    if (rc != OS_OK) return rc;
    if (hash_prevouts != NULL) memcpy(hash_prevouts, hp, 32);
    if (tx_digest != NULL) memcpy(tx_digest, digest, 32);
    for (size_t i = 0; i < log->n; i++) {
        const uint8_t *e = log->entries[i], *pl = e + AUDIT_LOG_OFF_PAYLOAD;
        if (e[AUDIT_LOG_OFF_TYPE] == OS_LOG_SIGN && memcmp(pl, hp, 32) == 0 && memcmp(pl + 32, digest, 32) == 0) {
            *seq = log->first + i;
            break;
        }
    }
    return OS_OK;
}

static int replay_leaf(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value, size_t value_len,
                       int moved) {
    nonce_tree *tree = ctx;
    if (key_len != 32 || value_len != 32) return OS_ERR_DB;
    uint8_t have[32];
    int present = nonce_tree_get(tree, key, have) == OS_OK;
    if (moved) {
        /* a re-anchor: the key must be there; it takes its new value (the root check follows) */
        if (!present) return OS_ERR_NONCE_ABSENT;
        if (memcmp(have, value, 32) == 0) return OS_OK;
        int rc = nonce_tree_remove(tree, key);
        return rc == OS_OK ? nonce_tree_insert(tree, key, value) : rc;
    }
    if (present) return OS_OK;
    return nonce_tree_insert(tree, key, value);
}

/* Inserts the tree_leaves the tree lacks that were recorded for any ledger transaction with the SIGN
 * payload's commitment (an identical retry may sit in another row). */
static int replay_leaves(os_ledger *l, nonce_tree *tree, const uint8_t *pl) {
    return os_ledger_leaves_of_commitment(l, pl, pl + 32, replay_leaf, tree);
}

typedef struct {
    const uint8_t *pl;
    int64_t *row;
    int *raw_checked, *has_root;
    uint8_t *root_after;
    char *why;
    size_t cap;
} find_ctx;

static int find_candidate(void *arg, int64_t id, const uint8_t *raw, size_t raw_len, const uint8_t *root, size_t root_len) {
    find_ctx *f = arg;
    if (raw_len > 0) {
        uint8_t hp[32], digest[32];
        int rc = raw_commitment(raw, raw_len, hp, digest, NULL, NULL);
        if (rc != OS_OK || memcmp(hp, f->pl, 32) != 0 || memcmp(digest, f->pl + 32, 32) != 0) {
            snprintf(f->why, f->cap, "ledger transaction %lld's stored raw transaction does not hash to the entry's"
                                     " hashPrevouts/transaction digest (%s)", (long long)id,
                     rc != OS_OK ? os_status_name(rc) : "different transaction");
            return 0;
        }
    }
    *f->row = id;
    *f->raw_checked = raw_len > 0;
    *f->has_root = root_len == 32;
    if (*f->has_root) memcpy(f->root_after, root, 32);
    return 1;
}

/* The ledger transaction a SIGN entry names (the first whose stored raw, when present, hashes to the
 * entry's commitment). *row = 0 when none. */
static int find_signed_tx(os_ledger *l, const uint8_t *pl, int64_t *row, int *raw_checked, uint8_t root_after[32],
                          int *has_root, char *why, size_t cap) {
    *row = 0;
    why[0] = '\0';
    find_ctx f = {pl, row, raw_checked, has_root, root_after, why, cap};
    return os_ledger_txs_of_commitment(l, pl, pl + 32, find_candidate, &f);
}

static int nonce_known(os_ledger *l, const uint8_t nonce[32], int *known) {
    return os_ledger_nonce_known(l, nonce, known);
}

int os_audit_crosscheck_ledger(const os_audit_log *log, os_ledger *l, os_audit_report *r) {
    ARG_CHECK(log != NULL && l != NULL && r != NULL);
    ARG_CHECK(log->n == 0 || log->entries != NULL);
    nonce_tree *tree = NULL;
    /* The set the signer holds began at its newest NONCE_RESET (empty: docs/RECOVERY.md), or at setup:
     * the roots are replayed from there; before it, the ledger forgot the leaves with the set. */
    size_t reset_at = SIZE_MAX;
    for (size_t i = 0; i < log->n; i++)
        if (log->entries[i][AUDIT_LOG_OFF_TYPE] == OS_LOG_NONCE_RESET) reset_at = i;
    int replay = log->n > 0 && (log->first == 1 || reset_at != SIZE_MAX);
    if (replay && nonce_tree_create(&tree) != OS_OK) return OS_ERR_IO;
    r->ledger_checked = 1;
    r->ledger_roots_replayed = replay;
    r->ledger_replay_from = reset_at != SIZE_MAX ? log->first + reset_at : 1;
    int rc = OS_OK;
    os_ledger_lock(l);
    for (size_t i = 0; rc == OS_OK && i < log->n; i++) {
        const uint8_t *e = log->entries[i], *pl = e + AUDIT_LOG_OFF_PAYLOAD;
        uint64_t seq = log->first + i;
        char hex[65], why[256];
        if (e[AUDIT_LOG_OFF_TYPE] == OS_LOG_SIGN) {
            int64_t row = 0;
            int raw_checked = 0, has_root = 0;
            uint8_t root[32];
            if ((rc = find_signed_tx(l, pl, &row, &raw_checked, root, &has_root, why, sizeof why)) != OS_OK) break;
            int recovered = 0;
            /* signed after a restored backup and recorded by its recovery: the old set, retired */
            if (row == 0 && reset_at != SIZE_MAX && i < reset_at &&
                (rc = os_ledger_recovery_tx_recorded(l, seq, pl + 32, &recovered)) != OS_OK)
                break;
            if (recovered) {
                r->ledger_sign_recovered++;
                continue;
            }
            if (row == 0) {
                rc = fail(r, OS_ERR_SIGNER_MISMATCH, seq, i,
                          "entry %llu (SIGN): no ledger transaction has its hashPrevouts/transaction digest%s%s",
                          (unsigned long long)seq, why[0] ? ": " : "", why);
                break;
            }
            if (has_root && memcmp(root, pl + 64, 32) != 0) {
                rc = fail(r, OS_ERR_SIGNER_MISMATCH, seq, i,
                          "entry %llu (SIGN): ledger transaction %lld records another root_after", (unsigned long long)seq,
                          (long long)row);
                break;
            }
            if (replay && (reset_at == SIZE_MAX || i > reset_at)) {
                uint8_t now[32];
                rc = replay_leaves(l, tree, pl);
                if (rc != OS_OK) break;
                nonce_tree_root(tree, now);
                if (memcmp(now, pl + 64, 32) != 0) {
                    to_hex(hex, pl + 64, 32);
                    rc = fail(r, OS_ERR_SIGNER_MISMATCH, seq, i,
                              "entry %llu (SIGN): replaying the ledger's leaves of transaction %lld on the previous"
                              " root does not give the entry's root_after %s", (unsigned long long)seq, (long long)row, hex);
                    break;
                }
                r->ledger_root_steps++;
            }
            r->ledger_sign_matched++;
        } else if (e[AUDIT_LOG_OFF_TYPE] == OS_LOG_REFUSE_COMMITTED) {
            int known = 0;
            if ((rc = nonce_known(l, pl, &known)) != OS_OK) break;
            if (!known) {
                to_hex(hex, pl, 32);
                rc = fail(r, OS_ERR_SIGNER_MISMATCH, seq, i,
                          "entry %llu (REFUSE_COMMITTED): the ledger knows no payout with nonce %s", (unsigned long long)seq,
                          hex);
                break;
            }
            r->ledger_refusals_known++;
        } else if (e[AUDIT_LOG_OFF_TYPE] == OS_LOG_REFUSE_ANCHOR) {
            /* the anchor it protected was one the ledger committed payouts at */
            os_outpoint anchor;
            int known = 0;
            memcpy(anchor.txid, pl, 32);
            anchor.vout = os_read_le32(pl + 32);
            if ((rc = os_ledger_anchor_known(l, &anchor, &known)) != OS_OK) break;
            if (!known) {
                to_hex(hex, pl, 32);
                rc = fail(r, OS_ERR_SIGNER_MISMATCH, seq, i,
                          "entry %llu (REFUSE_ANCHOR): the ledger knows no anchor %s:%u", (unsigned long long)seq, hex,
                          (unsigned)anchor.vout);
                break;
            }
            r->ledger_refusals_known++;
        }
    }
    os_ledger_unlock(l);
    nonce_tree_free(tree);
    if (rc == OS_ERR_DB && r->status == OS_OK) fail(r, OS_ERR_DB, 0, 0, "ledger query failed");
    return rc;
}

/* ------------------------------------------------------------------ authority entries (issue 14) */

static const int FINDING_STATUS[OS_AUDIT_FINDINGS] = {
    OS_ERR_AUDIT_VOUCHERS_MISSING,   OS_ERR_AUDIT_VOUCHERS_LEDGER,      OS_ERR_AUDIT_VOUCHER_ISSUER,
    OS_ERR_AUDIT_UNPAIRED,           OS_ERR_AUDIT_APPROVALS_OPERATOR,   OS_ERR_AUDIT_APPROVALS_DUPLICATE,
    OS_ERR_AUDIT_APPROVALS_FEW,      OS_ERR_AUDIT_QUORUM_MISSING,
};

int os_audit_finding_status(os_audit_finding f) {
    return (unsigned)f < OS_AUDIT_FINDINGS ? FINDING_STATUS[f] : OS_ERR_ARG;
}

/* Counts a finding; the first failure of the report keeps its place in status and reason. */
static void finding(os_audit_report *r, os_audit_finding f, uint64_t seq, size_t index, const char *fmt, ...) {
    r->findings[f]++;
    if (r->status != OS_OK) return;
    va_list ap;
    va_start(ap, fmt);
    char text[sizeof r->reason];
    os_verrf(text, sizeof text, fmt, ap);
    va_end(ap);
    fail(r, FINDING_STATUS[f], seq, index, "%s", text);
}

/* The sets in force as the walk reaches an entry. */
typedef struct {
    int issuers_known, operators_known;
    uint8_t voucher_flags, n_issuers, issuers[OS_MAX_ISSUERS][32];
    uint8_t k, n_operators, operators[OS_MAX_OPERATORS][32];
    uint64_t threshold;
} authority_sets;

static int issuer_registered(const authority_sets *a, const uint8_t key[32]) {
    for (size_t i = 0; i < a->n_issuers && i < OS_MAX_ISSUERS; i++)
        if (memcmp(a->issuers[i], key, 32) == 0) return 1;
    return 0;
}

static int operator_registered(const authority_sets *a, const uint8_t key[32]) {
    for (size_t i = 0; i < a->n_operators && i < OS_MAX_OPERATORS; i++)
        if (memcmp(a->operators[i], key, 32) == 0) return 1;
    return 0;
}

/* The ledger's side of one SIGN entry's vouchers: the chained ids of the vouchers it holds for the
 * transaction's new payouts, in output order, and the first one no issuer in force signed. */
typedef struct {
    const authority_sets *sets;
    uint16_t n;
    uint8_t digest[32];
    uint64_t n_new_leaves;
    int bad_issuer;
    uint8_t bad_nonce[32];
} ledger_vouchers;

static int ledger_voucher(void *ctx, const uint8_t nonce[32], const os_voucher *v) {
    ledger_vouchers *lv = ctx;
    lv->n_new_leaves++;
    if (v == NULL) return OS_OK;
    uint8_t chain[64];
    memcpy(chain, lv->digest, 32);
    int rc = os_voucher_id(v, chain + 32);
    if (rc != OS_OK) return OS_ERR_DB;
    crypto_sha256(chain, sizeof chain, lv->digest);
    lv->n++;
    if (!lv->bad_issuer && lv->sets->issuers_known &&
        (!issuer_registered(lv->sets, v->issuer) || os_voucher_check(v, NULL) != OS_OK)) {
        lv->bad_issuer = 1;
        memcpy(lv->bad_nonce, nonce, 32);
    }
    return OS_OK;
}

/* The ledger check of one SIGN entry (payload pl) whose VOUCHERS entry is vpl (NULL: none came). */
static int check_ledger_vouchers(os_ledger *l, const authority_sets *sets, const uint8_t *pl, const uint8_t *vpl,
                                 uint64_t seq, size_t i, os_audit_report *r) {
    ledger_vouchers lv;
    memset(&lv, 0, sizeof lv);
    lv.sets = sets;
    int rc = os_ledger_vouchers_of_commitment(l, pl, pl + 32, ledger_voucher, &lv);
    if (rc != OS_OK) return rc;
    char hex[65];
    uint16_t logged = vpl != NULL ? os_read_le16(vpl + 32) : 0;
    static const uint8_t zero[32];
    const uint8_t *want = vpl != NULL ? vpl + 34 : zero;
    if (lv.n != logged || memcmp(lv.digest, want, 32) != 0) {
        to_hex(hex, pl + 32, 32);
        if (vpl == NULL)
            finding(r, OS_AUDIT_FINDING_VOUCHERS_LEDGER, seq, i,
                    "entry %llu (SIGN, tx_digest %s): the ledger holds %u voucher(s) for its new payouts, the log shows"
                    " them paid under none", (unsigned long long)seq, hex, (unsigned)lv.n);
        else
            finding(r, OS_AUDIT_FINDING_VOUCHERS_LEDGER, seq, i,
                    "entry %llu (SIGN, tx_digest %s): its VOUCHERS entry names %u voucher(s); the ledger's %u voucher(s)"
                    " for the transaction's %llu new payout(s) %s", (unsigned long long)seq, hex, (unsigned)logged,
                    (unsigned)lv.n, (unsigned long long)lv.n_new_leaves,
                    lv.n == logged ? "are other vouchers (their ids chain to another digest)"
                                   : "are not that many (a voucher missing from the ledger, or one the log does not name)");
        return OS_OK;
    }
    if (vpl != NULL) r->ledger_vouchers_matched++;
    if (lv.bad_issuer) {
        to_hex(hex, lv.bad_nonce, 32);
        finding(r, OS_AUDIT_FINDING_VOUCHER_ISSUER, seq, i,
                "entry %llu (SIGN): the payout with nonce %s was paid under a voucher not signed by an issuer key"
                " registered then", (unsigned long long)seq, hex);
    }
    return OS_OK;
}

int os_audit_check_authority(const os_audit_log *log, os_ledger *l, os_audit_report *r) {
    ARG_CHECK(log != NULL && r != NULL);
    ARG_CHECK(log->n == 0 || log->entries != NULL);
    authority_sets sets;
    memset(&sets, 0, sizeof sets);
    /* a device's log starts at SETUP with neither set; a file starting later shows them only from
     * its first ISSUERS / OPERATORS entry */
    sets.issuers_known = sets.operators_known = log->first == 1;
    size_t reset_at = SIZE_MAX;
    for (size_t i = 0; i < log->n; i++)
        if (log->entries[i][AUDIT_LOG_OFF_TYPE] == OS_LOG_NONCE_RESET) reset_at = i;
    r->authority_checked = 1;
    r->authority_ledger = l != NULL;
    /* the VOUCHERS and APPROVALS entries waiting for their SIGN entry (index+1; 0: none) */
    size_t pending_v = 0, pending_a = 0;
    char hex[65];
    int rc = OS_OK;
    if (l != NULL) os_ledger_lock(l);
    for (size_t i = 0; rc == OS_OK && i < log->n; i++) {
        const uint8_t *e = log->entries[i], *pl = e + AUDIT_LOG_OFF_PAYLOAD;
        uint8_t type = e[AUDIT_LOG_OFF_TYPE];
        uint64_t seq = log->first + i;
        /* Between a VOUCHERS or APPROVALS entry and its SIGN entry the signer writes only the other
         * one and a re-anchor's APPROVAL (what 4), in one session; a BOOT there is a power cut. */
        int in_signing = type == OS_LOG_SIGN || type == OS_LOG_VOUCHERS || type == OS_LOG_APPROVALS ||
                         (type == OS_LOG_APPROVAL && pl[0] == 4);
        if (!in_signing && (pending_v || pending_a)) {
            for (int w = 0; w < 2; w++) {
                size_t p = w == 0 ? pending_v : pending_a;
                if (p == 0) continue;
                if (type == OS_LOG_BOOT) {
                    r->interrupted++;
                } else {
                    to_hex(hex, log->entries[p - 1] + AUDIT_LOG_OFF_PAYLOAD, 32);
                    finding(r, OS_AUDIT_FINDING_UNPAIRED, log->first + p - 1, p - 1,
                            "entry %llu (%s, tx_digest %s) is followed by entry %llu (type %u), not by the SIGN entry"
                            " of its transaction", (unsigned long long)(log->first + p - 1),
                            w == 0 ? "VOUCHERS" : "APPROVALS", hex, (unsigned long long)seq, (unsigned)type);
                }
            }
            pending_v = pending_a = 0;
        }
        switch (type) {
        case OS_LOG_SETUP:
            memset(&sets, 0, sizeof sets);
            sets.issuers_known = sets.operators_known = 1;
            break;
        case OS_LOG_ISSUERS:
            sets.issuers_known = 1;
            sets.voucher_flags = pl[0];
            sets.n_issuers = pl[1] <= OS_MAX_ISSUERS ? pl[1] : OS_MAX_ISSUERS;
            memcpy(sets.issuers, pl + 2, sizeof sets.issuers);
            break;
        case OS_LOG_OPERATORS:
            sets.operators_known = 1;
            sets.k = pl[0];
            sets.n_operators = pl[1] <= OS_MAX_OPERATORS ? pl[1] : OS_MAX_OPERATORS;
            sets.threshold = os_read_le64(pl + 2);
            memcpy(sets.operators, pl + 10, sizeof sets.operators);
            break;
        case OS_LOG_VOUCHERS:
        case OS_LOG_APPROVALS: {
            size_t *slot = type == OS_LOG_VOUCHERS ? &pending_v : &pending_a;
            if (*slot) {
                to_hex(hex, log->entries[*slot - 1] + AUDIT_LOG_OFF_PAYLOAD, 32);
                finding(r, OS_AUDIT_FINDING_UNPAIRED, log->first + *slot - 1, *slot - 1,
                        "entry %llu (%s, tx_digest %s) is followed by another one, not by the SIGN entry of its"
                        " transaction", (unsigned long long)(log->first + *slot - 1),
                        type == OS_LOG_VOUCHERS ? "VOUCHERS" : "APPROVALS", hex);
            }
            *slot = i + 1;
            if (type == OS_LOG_VOUCHERS) break;
            if (!sets.operators_known) {
                r->unchecked_operators++;
                break;
            }
            unsigned n = pl[32];
            for (unsigned a = 0; a < n && a < OS_MAX_OPERATORS; a++) {
                const uint8_t *key = pl + 33 + 32 * a;
                if (!operator_registered(&sets, key)) {
                    to_hex(hex, key, 32);
                    finding(r, OS_AUDIT_FINDING_APPROVALS_OPERATOR, seq, i,
                            "entry %llu (APPROVALS): key %s is not in the operator set in force", (unsigned long long)seq,
                            hex);
                }
                for (unsigned b = 0; b < a; b++)
                    if (memcmp(pl + 33 + 32 * b, key, 32) == 0) {
                        to_hex(hex, key, 32);
                        finding(r, OS_AUDIT_FINDING_APPROVALS_DUPLICATE, seq, i,
                                "entry %llu (APPROVALS): key %s approved twice", (unsigned long long)seq, hex);
                    }
            }
            if (n > OS_MAX_OPERATORS)
                finding(r, OS_AUDIT_FINDING_APPROVALS_OPERATOR, seq, i,
                        "entry %llu (APPROVALS): it counts %u approvers, more than an operator set holds (%u)",
                        (unsigned long long)seq, n, (unsigned)OS_MAX_OPERATORS);
            if (n < sets.k || n == 0)
                finding(r, OS_AUDIT_FINDING_APPROVALS_FEW, seq, i,
                        "entry %llu (APPROVALS): %u approver(s), the operator set in force needs %u",
                        (unsigned long long)seq, n, (unsigned)sets.k);
            break;
        }
        case OS_LOG_SIGN: {
            const uint8_t *vpl = NULL, *apl = NULL;
            for (int w = 0; w < 2; w++) {
                size_t p = w == 0 ? pending_v : pending_a;
                if (p == 0) continue;
                const uint8_t *ppl = log->entries[p - 1] + AUDIT_LOG_OFF_PAYLOAD;
                if (memcmp(ppl, pl + 32, 32) == 0) {
                    *(w == 0 ? &vpl : &apl) = ppl;
                } else {
                    to_hex(hex, ppl, 32);
                    finding(r, OS_AUDIT_FINDING_UNPAIRED, log->first + p - 1, p - 1,
                            "entry %llu (%s, tx_digest %s) is followed by the SIGN entry %llu of another transaction",
                            (unsigned long long)(log->first + p - 1), w == 0 ? "VOUCHERS" : "APPROVALS", hex,
                            (unsigned long long)seq);
                }
            }
            pending_v = pending_a = 0;
            uint16_t n_new = os_read_le16(pl + 112);
            uint64_t total = os_read_le64(pl + 104);
            if (vpl != NULL) r->vouchered_signs++;
            if (apl != NULL) r->quorum_signs++;
            if (!sets.issuers_known) {
                r->unchecked_issuers++;
            } else if ((sets.voucher_flags & OS_VOUCHERS_REQUIRED) && n_new > 0 &&
                       (vpl == NULL || os_read_le16(vpl + 32) < n_new)) {
                finding(r, OS_AUDIT_FINDING_VOUCHERS_MISSING, seq, i,
                        "entry %llu (SIGN): vouchers were required and it commits %u new payout(s) under %u voucher(s)",
                        (unsigned long long)seq, (unsigned)n_new, vpl != NULL ? (unsigned)os_read_le16(vpl + 32) : 0u);
            }
            if (!sets.operators_known) {
                r->unchecked_operators++;
            } else if (sets.n_operators > 0 && total > sets.threshold && apl == NULL) {
                finding(r, OS_AUDIT_FINDING_QUORUM_MISSING, seq, i,
                        "entry %llu (SIGN): its payouts total %llu sat, above the quorum threshold %llu sat, and no"
                        " APPROVALS entry came before it", (unsigned long long)seq, (unsigned long long)total,
                        (unsigned long long)sets.threshold);
            }
            if (l != NULL) {
                /* before the newest reset the ledger forgot the leaves with the set (docs/RECOVERY.md) */
                if (reset_at != SIZE_MAX && i < reset_at) r->unchecked_ledger++;
                else rc = check_ledger_vouchers(l, &sets, pl, vpl, seq, i, r);
            }
            break;
        }
        default: break;
        }
    }
    if (l != NULL) os_ledger_unlock(l);
    /* A file may end inside a signing (exported between two commits): nothing was signed yet, and
     * the next export shows how it ended. */
    if (rc == OS_ERR_DB && r->status == OS_OK) fail(r, OS_ERR_DB, 0, 0, "ledger query failed");
    if (rc != OS_OK) return rc;
    for (int f = 0; f < OS_AUDIT_FINDINGS; f++)
        if (r->findings[f] != 0) return r->status;
    return OS_OK;
}

/* ------------------------------------------------------------------ chain report */

int os_audit_chain_report(const os_audit_log *log, os_ledger *l, os_rpc *rpc, os_audit_report *r,
                          void (*line)(void *ctx, const char *text), void *ctx) {
    ARG_CHECK(log != NULL && l != NULL && rpc != NULL && r != NULL);
    r->chain_checked = 1;
    int any_ok = 0, last_rc = OS_OK;
    for (size_t i = 0; i < log->n; i++) {
        const uint8_t *e = log->entries[i], *pl = e + AUDIT_LOG_OFF_PAYLOAD;
        if (e[AUDIT_LOG_OFF_TYPE] != OS_LOG_SIGN) continue;
        uint64_t seq = log->first + i;
        int64_t row = 0;
        os_tx_state state = 0;
        uint8_t txid[32];
        int rc = os_ledger_signed_tx_of_commitment(l, pl, pl + 32, &row, txid, &state);
        if (rc == OS_ERR_NOT_FOUND) {
            row = 0;
            rc = OS_OK;
        }
        if (rc != OS_OK) return rc;
        char text[768], txhex[65];
        if (row == 0) {
            r->chain_unsigned++;
            snprintf(text, sizeof text, "entry %llu: no signed transaction in the ledger to look up",
                     (unsigned long long)seq);
            if (line) line(ctx, text);
            continue;
        }
        os_txid_to_hex(txid, txhex);
        os_rpc_txstatus ts;
        os_rpc_error er;
        memset(&er, 0, sizeof er);
        rc = os_rpc_get_transaction(rpc, txid, &ts, NULL, NULL, &er);
        const char *where;
        int consistent;
        if (rc == OS_OK || (rc == OS_ERR_RPC && er.code == -5)) {
            any_ok = 1;
            if (rc != OS_OK) ts.found = 0;
            if (ts.found && !ts.in_mempool) {
                where = "confirmed";
                r->chain_confirmed++;
                consistent = state == OS_TX_CONFIRMED || state == OS_TX_BROADCAST || state == OS_TX_SIGNED;
            } else if (ts.found) {
                where = "mempool";
                r->chain_mempool++;
                consistent = state == OS_TX_BROADCAST || state == OS_TX_SIGNED;
            } else {
                where = "not found (conflicted, replaced or never broadcast)";
                r->chain_missing++;
                consistent = state != OS_TX_CONFIRMED && state != OS_TX_BROADCAST;
            }
            if (!consistent) r->chain_inconsistent++;
            snprintf(text, sizeof text, "entry %llu: tx %s (ledger tx %lld, state %lld): %s%s", (unsigned long long)seq,
                     txhex, (long long)row, (long long)state, where, consistent ? "" : "  <-- differs from the ledger");
        } else {
            last_rc = rc;
            snprintf(text, sizeof text, "entry %llu: tx %s: node query failed: %s", (unsigned long long)seq, txhex,
                     er.message[0] ? er.message : os_status_name(rc));
        }
        if (line) line(ctx, text);
    }
    return any_ok || last_rc == OS_OK ? OS_OK : last_rc;
}
