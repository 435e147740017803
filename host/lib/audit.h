/* oncesign host — the auditor's tools (docs/DESIGN.md I5): export the signer's hash-chained log (from the
 * device or from the ledger's archive) to a text file, and verify such a file with only the
 * attestation public key, optionally against the device's log head, the ledger and the chain.
 *
 * Export file (docs/AUDITING.md), ASCII, lines ended by '\n':
 *   oncesign-log v1 attestation=<64 hex> first=<seq> last=<seq>
 *   <512 lowercase hex: entry first>
 *   ...
 *   <512 lowercase hex: entry last>
 * The header is not signed: it is a convenience. Every claim the verifier makes rests on the entries
 * and on the key and head the auditor supplies.
 *
 * The verifier links firmware/audit_log_verify.c (audit_log_verify_entry): the same code the host
 * uses when archiving. crypto_init must have been called.
 */
#ifndef ONCESIGN_HOST_AUDIT_H
#define ONCESIGN_HOST_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "client.h"
#include "ledger.h"
#include "oncesign/protocol.h"
#include "rpc.h"

#define OS_AUDIT_HEADER_MAGIC "oncesign-log v1"

/* An exported log: entries[i] is the entry with seq first + i in an honest export. */
typedef struct {
    uint8_t attestation[32];        /* the key the source named (device INFO, ledger meta, file header) */
    uint64_t first, last;           /* as the header says (0, 0 for an empty log) */
    size_t n;
    uint8_t (*entries)[OS_LOG_ENTRY_BYTES]; /* malloc'ed, n entries */
} os_audit_log;

void os_audit_log_free(os_audit_log *log);  /* frees entries; NULL and a zeroed log are fine */

/* Reads every entry the device still holds: GET_INFO for log_seq and log_capacity, then LOG_READ
 * from the oldest seq the ring can hold (skipping forward over OS_ERR_LOG_RANGE while nothing was
 * read yet) up to log_seq. Does not acknowledge anything.
 * Returns: OS_OK; OS_ERR_IO and client errors (err says which call); OS_ERR_LOG_RANGE when an entry
 *          after the first read one is missing; OS_ERR_MSG_UNEXPECTED for a wrong reply type.
 * Out:     log (zeroed first; free with os_audit_log_free). info: when not NULL, the GET_INFO
 *          read before the entries (log_head for --head). */
int os_audit_export_device(os_client *c, int timeout_ms, os_audit_log *log, os_msg_info *info, char *err,
                           size_t cap);

/* Reads every archived entry from the ledger (signer_log, by seq) and the pinned attestation key
 * (meta "attestation_key"). Entries are exported as stored; gaps in the archive show up in verify.
 * Returns: OS_OK; OS_ERR_NOT_FOUND when the ledger has pinned no key; OS_ERR_DB. */
int os_audit_export_ledger(os_ledger *l, os_audit_log *log, char *err, size_t cap);

/* Writes the export file format. first/last come from the log struct.
 * Returns: OS_OK; OS_ERR_IO on a write error. */
int os_audit_write(FILE *f, const os_audit_log *log);

/* Parses the export file format strictly (header, then only lines of exactly 512 hex digits; a
 * final line without '\n' is accepted; nothing else).
 * Returns: OS_OK; OS_ERR_LOG_FORMAT with err saying which line; OS_ERR_IO on a read error. */
int os_audit_read(FILE *f, os_audit_log *log, char *err, size_t cap);

/* What os_audit_check_authority can find, each named by its status code (os_audit_finding_status). */
typedef enum {
    OS_AUDIT_FINDING_VOUCHERS_MISSING,    /* OS_ERR_AUDIT_VOUCHERS_MISSING */
    OS_AUDIT_FINDING_VOUCHERS_LEDGER,     /* OS_ERR_AUDIT_VOUCHERS_LEDGER */
    OS_AUDIT_FINDING_VOUCHER_ISSUER,      /* OS_ERR_AUDIT_VOUCHER_ISSUER */
    OS_AUDIT_FINDING_UNPAIRED,            /* OS_ERR_AUDIT_UNPAIRED */
    OS_AUDIT_FINDING_APPROVALS_OPERATOR,  /* OS_ERR_AUDIT_APPROVALS_OPERATOR */
    OS_AUDIT_FINDING_APPROVALS_DUPLICATE, /* OS_ERR_AUDIT_APPROVALS_DUPLICATE */
    OS_AUDIT_FINDING_APPROVALS_FEW,       /* OS_ERR_AUDIT_APPROVALS_FEW */
    OS_AUDIT_FINDING_QUORUM_MISSING,      /* OS_ERR_AUDIT_QUORUM_MISSING */
    OS_AUDIT_FINDINGS
} os_audit_finding;

/* The status code (and so, by os_status_name, the name) of a finding; OS_ERR_ARG out of range. */
int os_audit_finding_status(os_audit_finding f);

/* Counts and the verdict of a verification. */
typedef struct {
    int status;                     /* OS_OK or the first failure's code */
    uint64_t bad_seq;               /* the seq the failing entry should have had (0 if not entry-specific) */
    size_t bad_index;               /* its line among the entries (0-based) */
    char reason[384];               /* human text of the first failure */
    size_t n_entries;
    uint64_t first, last;           /* seqs actually verified */
    uint64_t by_type[OS_LOG_TYPES]; /* index os_log_type (0: unknown types) */
    uint64_t signatures_released;   /* SIGN entries */
    uint64_t refusals;              /* REFUSE_COMMITTED and REFUSE_ANCHOR entries */
    uint64_t approvals;             /* SIGN entries with approved = 1 and APPROVAL entries approved */
    uint64_t rejections;            /* APPROVAL entries rejected (the device logs a rejection alone) */
    uint64_t reanchors;             /* APPROVAL entries of kind 4: a committed payout moved to a new anchor */
    uint64_t boots;
    uint64_t payout_total, fee_total; /* sums over SIGN entries (satoshi) */
    int chain_anchored;             /* 1 when the first entry's prev_hash was checked (zero at SETUP, or --from) */
    int head_checked;               /* 1 when a head was given and matched */
    uint8_t head[32];               /* hash of the last verified entry */
    /* ledger cross-check (os_audit_crosscheck_ledger) */
    int ledger_checked;
    uint64_t ledger_sign_matched, ledger_refusals_known, ledger_root_steps;
    int ledger_roots_replayed;      /* 1 when the nonce-set roots were replayed (from seq 1 or a reset) */
    uint64_t ledger_replay_from;    /* the seq they were replayed from: 1, or the newest NONCE_RESET */
    uint64_t ledger_sign_recovered; /* SIGN entries before that reset a restore's recovery recorded */
    /* the signer's authority entries (os_audit_check_authority) */
    int authority_checked, authority_ledger;
    uint64_t findings[OS_AUDIT_FINDINGS];  /* counted, index os_audit_finding; any fails the verdict */
    uint64_t vouchered_signs;       /* SIGN entries with their VOUCHERS entry */
    uint64_t quorum_signs;          /* SIGN entries with their APPROVALS entry */
    uint64_t interrupted;           /* VOUCHERS/APPROVALS entries a power cut (BOOT) left without their SIGN */
    uint64_t ledger_vouchers_matched; /* VOUCHERS entries whose ids the ledger's vouchers reproduce */
    uint64_t unchecked_issuers;     /* SIGN entries before the file shows the issuer set in force */
    uint64_t unchecked_operators;   /* SIGN and APPROVALS entries before it shows the operator set */
    uint64_t unchecked_ledger;      /* SIGN entries before the newest NONCE_RESET (the ledger forgot their leaves) */
    /* chain report (os_audit_chain_report): never a failure */
    int chain_checked;
    uint64_t chain_confirmed, chain_mempool, chain_missing, chain_unsigned, chain_inconsistent;
} os_audit_report;

/* Verifies the entries: for each, audit_log_verify_entry with expected seq first, first+1, ... and
 * the previous entry's hash. The chain must be anchored: a file starting at seq 1 must start with
 * the SETUP entry (prev_hash zero); a file starting later must be given `from`, the hash of entry
 * first - 1 (the head an earlier verified export ended at), which the first entry's prev_hash must
 * equal. Then that the header's first/last match the entries (last beyond the entries:
 * OS_ERR_LOG_HEAD, truncation), and, when head is not NULL, that the last entry's hash equals head.
 * An empty file verifies only against a head (zero, or `from` when given).
 * Returns: OS_OK when everything verifies, else the first failure's code: OS_ERR_LOG_START (not
 *          starting at SETUP and no `from`; empty without a head), OS_ERR_LOG_FORMAT,
 *          OS_ERR_LOG_SEQ, OS_ERR_LOG_CHAIN (also: the first entry does not continue `from`),
 *          OS_ERR_LOG_SIGNATURE (entry bad_seq, as audit_log_verify_entry), OS_ERR_LOG_HEAD
 *          (truncated or not ending at head); OS_ERR_ARG on NULL. The same code is in
 *          report->status with reason and bad_seq.
 * In:      pubkey: the attestation x-only key the AUDITOR trusts (not the header's, unless the
 *          caller deliberately passes log->attestation). from, head: 32 bytes or NULL.
 * Out:     report (zeroed first). */
int os_audit_verify(const os_audit_log *log, const uint8_t pubkey[32], const uint8_t *from, const uint8_t *head,
                    os_audit_report *report);

/* Cross-checks verified entries against a ledger: each SIGN entry names a ledger transaction whose
 * stored raw transaction (when signed) hashes to the entry's hashPrevouts and transaction digest (recomputed
 * with firmware/tx.h's sighasher, not only the stored columns) and whose stored root_after, when
 * set, equals the entry's; when the log starts at seq 1, or holds a NONCE_RESET (the set emptied after a
 * restore, docs/RECOVERY.md), the nonce set is replayed from the ledger's tree_leaves in log order from
 * there and must reach each later SIGN entry's root_after; a SIGN entry before that reset may instead
 * be one the restore's recovery recorded (signed after the backup: counted, not replayed); each
 * REFUSE_COMMITTED entry names a nonce the ledger knows (payouts or tree_leaves).
 * Call after os_audit_verify returned OS_OK.
 * Returns: OS_OK; OS_ERR_SIGNER_MISMATCH (report status/reason/bad_seq set); OS_ERR_DB. */
int os_audit_crosscheck_ledger(const os_audit_log *log, os_ledger *l, os_audit_report *report);

/* Checks the signer's authority entries (issue 14; docs/AUDITING.md, "Vouchers and approvals") with
 * the issuer and operator sets in force at each entry (the newest ISSUERS / OPERATORS entry before
 * it; none at SETUP; unknown before the first such entry of a file that starts after seq 1:
 * counted as unchecked):
 *   - a VOUCHERS or APPROVALS entry is followed by the SIGN entry of its tx_digest (other entries of
 *     the same signing may sit between; a BOOT after it is a power cut: counted, not a finding);
 *   - while vouchers are required, a SIGN entry with new payouts has its VOUCHERS entry, covering
 *     all of them (n_vouchers = n_new);
 *   - an APPROVALS entry names only keys of the operator set, each once, at least k of them;
 *   - a SIGN entry whose payout total is above the threshold (operators registered) has its
 *     APPROVALS entry;
 *   with a ledger (l not NULL), for each SIGN entry after the newest NONCE_RESET:
 *   - the ledger's vouchers for the transaction's new payouts (os_ledger_vouchers_of_commitment),
 *     chained in output order, give the VOUCHERS entry's count and vouchers_digest (none when there
 *     is no VOUCHERS entry), and each is signed (valid signature) by an issuer key in force.
 * Every finding is counted in report->findings; the first also sets status, bad_seq and reason
 * (unless a failure is there already). Call after os_audit_verify returned OS_OK.
 * Returns: OS_OK; the first finding's status code; OS_ERR_DB (ledger); OS_ERR_ARG. */
int os_audit_check_authority(const os_audit_log *log, os_ledger *l, os_audit_report *report);

/* Finds the SIGN entry that names a raw transaction (legacy or segwit serialization, e.g. from
 * getrawtransaction): its hashPrevouts and transaction digest (proto/tx_digest.h), which ignore
 * scriptSigs and witnesses, equal the entry's. Only locates: verify the log first (os_audit_verify).
 * Returns: OS_OK (*seq the first such entry's seq, 0 when none); OS_ERR_TX_PARSE (raw does not
 *          parse as one transaction); OS_ERR_ARG; OS_ERR_IO (no memory).
 * Out:     seq; hash_prevouts, tx_digest: the raw transaction's (each may be NULL). */
int os_audit_match_raw(const os_audit_log *log, const uint8_t *raw, size_t raw_len, uint64_t *seq,
                       uint8_t *hash_prevouts, uint8_t *tx_digest);

/* The hashPrevouts and transaction digest of a raw transaction, as os_audit_match_raw computes them;
 * on_output (may be NULL) is called with each output in order (what an operator approving the digest
 * is shown: `oncesign approve --from`).
 * Returns: OS_OK; OS_ERR_TX_PARSE; OS_ERR_ARG; OS_ERR_IO (no memory). */
int os_audit_raw_commitment(const uint8_t *raw, size_t raw_len, uint8_t hash_prevouts[32], uint8_t tx_digest[32],
                            void (*on_output)(void *ctx, uint64_t amount, const uint8_t *script, size_t script_len),
                            void *ctx);

/* One line per SIGN entry's transaction describing where the chain has it (confirmed / mempool /
 * not found) and whether that agrees with the ledger's state; counts go into report. Never fails
 * the verdict. line(ctx, text) is called for each transaction (may be NULL).
 * Returns: OS_OK; OS_ERR_DB; an RPC transport error only when no query at all succeeded. */
int os_audit_chain_report(const os_audit_log *log, os_ledger *l, os_rpc *rpc, os_audit_report *report,
                          void (*line)(void *ctx, const char *text), void *ctx);

#endif /* ONCESIGN_HOST_AUDIT_H */
