/* oncesign — wire protocol constants and decoded message types, shared by firmware and host.
 *
 * The normative description is proto/PROTOCOL.md; this header is its machine-readable half. Two
 * layers:
 *   1. Framing (proto/frame.h): a message of up to OS_MAX_MESSAGE bytes travels as one init report
 *      and up to OS_FRAME_MAX_CONT continuation reports of BOARD_REPORT_SIZE (64) bytes each.
 *   2. Messages (proto/codec.h): version, type, request id, then a type-specific body. All integers
 *      little-endian. A reply echoes the request id of the request it answers.
 *
 * Decoded messages never own memory: variable-length fields are (pointer, length) views into the
 * buffer that was decoded, valid as long as that buffer is.
 */
#ifndef ONCESIGN_PROTOCOL_H
#define ONCESIGN_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- framing */

#define OS_REPORT_SIZE          64
#define OS_FRAME_INIT_HEADER    7     /* cid(4) cmd(1) length(2, big-endian) */
#define OS_FRAME_CONT_HEADER    5     /* cid(4) seq(1, 0..127) */
#define OS_FRAME_INIT_DATA      (OS_REPORT_SIZE - OS_FRAME_INIT_HEADER)   /* 57 */
#define OS_FRAME_CONT_DATA      (OS_REPORT_SIZE - OS_FRAME_CONT_HEADER)   /* 59 */
#define OS_MAX_MESSAGE          3072  /* the device's receive buffer; bounds every message */
#define OS_FRAME_MAX_CONT       ((OS_MAX_MESSAGE - OS_FRAME_INIT_DATA + OS_FRAME_CONT_DATA - 1) / OS_FRAME_CONT_DATA)

#define OS_CID_BROADCAST        0xFFFFFFFFu

/* USB ids of oncesign devices (docs/DECISIONS.md, docs/USB.md): pid.codes' open-source vendor id and
 * a product id chosen for oncesign ('O','S'), provisional until pid.codes assigns one. */
#define OS_USB_VENDOR_ID        0x1209
#define OS_USB_PRODUCT_ID       0x4F53

/* Frame commands (bit 7 set marks an init report). */
#define OS_FRAME_CMD_PING       0x81  /* echo, for link tests */
#define OS_FRAME_CMD_MSG        0x83  /* carries one protocol message */
#define OS_FRAME_CMD_INIT       0x86  /* allocate a channel: 8-byte nonce in, nonce+cid+version out */
#define OS_FRAME_CMD_ERROR      0xBF  /* framing error: 2-byte status code (big-endian) */

/* ---------------------------------------------------------------- messages */

#define OS_PROTOCOL_VERSION     2
#define OS_MSG_HEADER           6     /* version(1) type(1) request_id(4) */

/* Host to device. */
#define OS_MSG_GET_INFO         0x01
#define OS_MSG_INIT_DEVICE      0x02
#define OS_MSG_GET_XPUB         0x03
#define OS_MSG_GET_ADDRESS      0x04
#define OS_MSG_WIPE             0x05
#define OS_MSG_POLL             0x06
#define OS_MSG_CANCEL           0x07
#define OS_MSG_SET_POLICY       0x08
#define OS_MSG_LOG_READ         0x09
#define OS_MSG_LOG_ACK          0x0A
#define OS_MSG_NONCE_RESET      0x0B  /* operator-approved: empty the nonce set, log what it continues from */
#define OS_MSG_SIGN_BEGIN       0x10
#define OS_MSG_SIGN_INPUT       0x11
#define OS_MSG_SIGN_PREVTX      0x12
#define OS_MSG_SIGN_OUTPUT      0x13
#define OS_MSG_SIGN_FINISH      0x14
#define OS_MSG_SIGN_GET_SIGS    0x15
#define OS_MSG_SET_ISSUERS      0x1A  /* register issuer keys and "vouchers required" (operator approves) */
#define OS_MSG_SIGN_VOUCHER     0x1B  /* the issuer's voucher for the next SIGN_OUTPUT (a NEW payout) */
#define OS_MSG_SET_OPERATORS    0x1C  /* register operator keys, k and the quorum threshold (operator approves) */
#define OS_MSG_SIGN_APPROVAL    0x1D  /* one operator's approval of the transaction, after its outputs */
/* Replies 0x4F..0x52: reserved for k-of-n operator approvals (docs/DESIGN.md §8). */

/* Device to host. */
#define OS_MSG_SUCCESS          0x40
#define OS_MSG_ERROR            0x41
#define OS_MSG_PENDING          0x42
#define OS_MSG_INFO             0x43
#define OS_MSG_XPUB             0x44
#define OS_MSG_ADDRESS          0x45
#define OS_MSG_LOG_ENTRY        0x46
#define OS_MSG_SIGN_DONE        0x47
#define OS_MSG_SIGNATURES       0x48

/* ---------------------------------------------------------------- limits */

#define OS_MAX_INPUTS           64
#define OS_MAX_OUTPUTS          256
#define OS_MAX_PAYOUT_SCRIPT    34      /* P2WSH is the longest standard destination */
#define OS_MAX_PREVTX_BYTES     400000u /* a standard transaction's weight limit bounds its size */
#define OS_MAX_PREVTX_CHUNK     2048
#define OS_MAX_MNEMONIC         240     /* 24 words of at most 8 letters plus separators */
#define OS_MAX_ADDRESS          90
#define OS_XPUB_BYTES           78      /* BIP32 serialization without the base58 checksum */
#define OS_LOG_ENTRY_BYTES      256
#define OS_LOG_PAYLOAD_MAX      136     /* 256 - 56 header - 64 signature */
#define OS_MAX_DER_SIG          73      /* 72-byte DER + sighash type byte */
#define OS_SIGS_PER_MESSAGE     24      /* SIGNATURES page: 24 * (1+73+33) + 4 < OS_MAX_MESSAGE */
#define OS_ERROR_DETAIL_MAX     128
#define OS_MAX_ISSUERS          2       /* issuer keys the device holds: two keep 6 state records a 4 KiB
                                           sector (DESIGN.md §8), room for a backend key and an offline
                                           gift-card key, or one key and its successor */

#define OS_MAX_OPERATORS        3       /* operator keys the device holds: 2-of-3 is the smallest quorum
                                           that survives one lost key; the state record slot is 768 bytes
                                           (5 per 4 KiB sector, DESIGN.md §8) */

#define NONCE_PROOF_MAX_SIBLINGS 64     /* non-empty siblings; deeper proofs are refused */
#define NONCE_PROOF_MAX_DEPTH    255

/* ---------------------------------------------------------------- enums */

typedef enum { OS_NET_MAIN = 0, OS_NET_TEST = 1, OS_NET_REGTEST = 2 } os_network;

typedef enum {
    OS_SCRIPT_P2PKH = 0,        /* BIP44 purpose 44' */
    OS_SCRIPT_P2SH_P2WPKH = 1,  /* BIP49 purpose 49' */
    OS_SCRIPT_P2WPKH = 2,       /* BIP84 purpose 84' */
} os_script_type;

typedef enum { OS_OUTPUT_CHANGE = 0, OS_OUTPUT_PAYOUT = 1 } os_output_kind;
/* REANCHOR: a committed nonce whose anchor was spent by another transaction gets input 0 of this
 * transaction as its new anchor; needs the operator (PROTOCOL.md §5). */
typedef enum { OS_PROOF_NEW = 0, OS_PROOF_REPLACE = 1, OS_PROOF_REANCHOR = 2 } os_proof_kind;
typedef enum { OS_PENDING_OPERATOR = 1 } os_pending_reason;

/* Audit log entry types. */
typedef enum {
    OS_LOG_BOOT = 1,
    OS_LOG_SETUP = 2,            /* device initialised (payload: network, script type, policy) */
    OS_LOG_SIGN = 3,             /* signatures released (payload: see PROTOCOL.md) */
    OS_LOG_REFUSE_COMMITTED = 4, /* refused a committed nonce (payload: nonce, committed anchor) */
    OS_LOG_APPROVAL = 5,         /* operator approved or rejected (payload: what) */
    OS_LOG_POLICY = 6,           /* policy changed */
    OS_LOG_WIPE = 7,             /* device wiped (payload: see PROTOCOL.md; kept in RAM, linked by the next SETUP) */
    OS_LOG_ACK = 8,              /* host acknowledged entries up to a seq (payload: acked seq, previous acked seq) */
    OS_LOG_REFUSE_ANCHOR = 9,    /* refused a transaction spending the anchor of committed payouts it does
                                    not replace (payload: anchor, input, counts, hash_prevouts) */
    OS_LOG_NONCE_RESET = 10,     /* nonce set emptied by the operator (payload: the key, seq and head it continues
                                    from, the root it retired; PROTOCOL.md) */
    OS_LOG_ISSUERS = 11,         /* issuer keys / vouchers-required changed (payload: the new set) */
    OS_LOG_VOUCHERS = 12,        /* the vouchers a SIGN entry's new payouts were paid under (precedes it) */
    OS_LOG_REFUSE_VOUCHER = 13,  /* refused a NEW payout for its voucher (payload: reason, output, nonce, voucher id) */
    OS_LOG_REFUSE_APPROVAL = 14, /* refused a transaction for an operator approval or the lack of a quorum
                                    (payload: reason, approvals held, tx digest, operator key, expiry_seq) */
    OS_LOG_APPROVALS = 15,       /* the operator approvals a SIGN entry was released under (precedes it) */
    OS_LOG_OPERATORS = 16,       /* operator keys / k / quorum threshold changed (payload: the new set) */
} os_log_type;
#define OS_LOG_TYPES 17          /* one more than the highest os_log_type */
/* Where the SETUP payload holds the master key's fingerprint: after network, script type, restore,
 * test-RNG flag and the policy (PROTOCOL.md §6). */
#define OS_LOG_SETUP_FINGERPRINT_OFF (4u + OS_POLICY_BYTES)

/* ---------------------------------------------------------------- shared structs */

typedef struct {
    uint8_t txid[32];           /* internal byte order (as hashed), not the reversed display order */
    uint32_t vout;
} os_outpoint;

/* The spending policy (I4). Amounts in satoshi. Wire size: OS_POLICY_BYTES. */
typedef struct {
    uint64_t per_payout_cap;        /* payouts above this need operator approval */
    uint64_t velocity_cap;          /* new payouts per window above this need approval */
    uint32_t velocity_window_s;     /* the budget refills linearly over this many seconds */
    uint64_t fee_cap;               /* absolute fee cap per transaction */
    uint64_t fee_rate_cap;          /* sat per 1000 virtual bytes */
    uint64_t fee_budget;            /* fees of all transactions per velocity window above this need
                                       approval (consolidations too: their fees leave the wallet) */
} os_policy;
#define OS_POLICY_BYTES 44

/* An issuer's voucher (proto/voucher.h, PROTOCOL.md §2.7): the backend's word that a payout for
 * nonce may be made, of at most amount, by one signer, until the signer's log reaches expiry_seq,
 * and, when OS_VOUCHER_DESTINATION is set, only to script. Wire size: OS_VOUCHER_BYTES. */
#define OS_VOUCHER_VERSION      1
#define OS_VOUCHER_DESTINATION  0x01    /* flags: script binds the destination (a withdrawal) */
#define OS_VOUCHERS_REQUIRED    0x01    /* SET_ISSUERS flags: a NEW payout needs a voucher */
typedef struct {
    uint8_t network;            /* os_network */
    uint8_t flags;              /* OS_VOUCHER_DESTINATION or 0 */
    uint8_t script_len;         /* 0 unless OS_VOUCHER_DESTINATION */
    uint8_t nonce[32];          /* the payout nonce: the key in the nonce set */
    uint64_t amount;            /* the most the payout may be, satoshi */
    uint64_t expiry_seq;        /* valid while the signer's log_seq is below this */
    uint8_t signer[32];         /* the attestation key (x-only) of the one signer that may pay it */
    uint8_t script[OS_MAX_PAYOUT_SCRIPT];   /* destination, zero-padded */
    uint8_t issuer[32];         /* x-only key of the issuer that signed */
    uint8_t sig[64];            /* BIP340 over os_voucher_id */
} os_voucher;
#define OS_VOUCHER_SIGNED_BYTES (4 + 32 + 8 + 8 + 32 + OS_MAX_PAYOUT_SCRIPT + 32)  /* 150 */
#define OS_VOUCHER_BYTES        (OS_VOUCHER_SIGNED_BYTES + 64)                   /* 214 */

/* Sparse-Merkle-tree proof (proto/nonce_set.h). Level 0 is just below the root. */
typedef struct {
    uint8_t depth;              /* levels walked from the root to the terminal node */
    uint8_t terminal_is_leaf;   /* 0: the path ends at an empty subtree; 1: at a leaf */
    uint8_t bitmap[32];         /* bit i (byte i/8, bit i%8 LSB first): sibling at level i non-empty */
    uint8_t n_siblings;         /* popcount of bitmap below depth, <= NONCE_PROOF_MAX_SIBLINGS */
    const uint8_t *siblings;    /* n_siblings * 32 bytes, level 0 first */
    uint8_t leaf_key[32];       /* terminal leaf's key and value hash, when terminal_is_leaf */
    uint8_t leaf_value[32];
} os_nonce_proof;

/* ---------------------------------------------------------------- message bodies */

typedef struct {
    uint8_t network, script_type, word_count, restore;   /* word_count 12 or 24; restore 0/1 */
    os_policy policy;
    uint16_t mnemonic_len;      /* restore only */
    const uint8_t *mnemonic;    /* words separated by single spaces, not NUL-terminated */
} os_msg_init_device;

typedef struct { uint8_t script_type; uint32_t account; } os_msg_get_xpub;
typedef struct { uint8_t script_type; uint32_t account; uint8_t change; uint32_t index; uint8_t show; } os_msg_get_address;
typedef struct { uint64_t seq; } os_msg_log_read;   /* also LOG_ACK: everything up to seq archived */
typedef struct {
    uint32_t version, locktime;
    uint16_t n_inputs, n_outputs;
    uint16_t n_anchored;        /* payouts this transaction anchors at its input 0: its NEW and REANCHOR
                                   outputs (the anchor entry inserted for input 0 counts them) */
} os_msg_sign_begin;

/* NONCE_RESET (PROTOCOL.md §2.5, §5): the wallet the host means (its master fingerprint), the device's
 * own newest log entry as the host read it (a reset is bound to one moment of the device's log: a
 * replay finds the head moved on), and the log it continues from: its own (a ledger restore) or a
 * dead device's (a replacement from the mnemonic). */
typedef struct {
    uint8_t fingerprint[4];
    uint64_t device_log_seq;
    uint8_t device_log_head[32];
    uint8_t prev_attestation_key[32];
    uint64_t prev_log_seq;
    uint8_t prev_log_head[32];
} os_msg_nonce_reset;
#define OS_NONCE_RESET_BYTES 116
#define OS_NONCE_RESET_LOG_BYTES 104   /* prev key, prev seq, prev head, retired root */

typedef struct {
    uint16_t index;
    os_outpoint prevout;
    uint32_t sequence;
    uint8_t script_type;
    uint32_t account;           /* hardened implicitly */
    uint8_t change;             /* 0 receive chain, 1 change chain */
    uint32_t addr_index;
    uint32_t prev_tx_len;       /* length of the full previous transaction streamed next */
    os_nonce_proof anchor_proof; /* for nonce_set_anchor_key(prevout): absence (an ordinary coin) or
                                    membership (the anchor of committed payouts), against the root the
                                    session has reached (proto/PROTOCOL.md §2.5) */
} os_msg_sign_input;

typedef struct {
    uint16_t input_index;
    uint32_t offset;            /* must equal the bytes already received for this input */
    uint16_t len;
    const uint8_t *data;
} os_msg_sign_prevtx;

typedef struct {
    uint16_t index;
    uint8_t kind;               /* os_output_kind */
    uint64_t amount;
    /* CHANGE */
    uint8_t change_script_type;
    uint32_t change_account;
    uint32_t change_index;
    /* PAYOUT */
    uint8_t script_len;
    const uint8_t *script;
    uint8_t nonce[32];
    uint8_t proof_kind;         /* os_proof_kind */
    os_nonce_proof proof;
    os_outpoint anchor;         /* REPLACE, REANCHOR: the leaf preimage is (anchor, script, amount) */
} os_msg_sign_output;

typedef struct { uint16_t start; } os_msg_sign_get_sigs;

typedef struct {
    uint8_t flags;              /* OS_VOUCHERS_REQUIRED or 0 */
    uint8_t n_issuers;          /* 0 .. OS_MAX_ISSUERS */
    const uint8_t *keys;        /* n_issuers * 32: BIP340 x-only keys, strictly increasing */
} os_msg_set_issuers;

typedef struct {
    uint16_t index;             /* the output it is for: the next SIGN_OUTPUT's index */
    os_voucher voucher;
} os_msg_sign_voucher;

typedef struct {
    uint8_t k;                  /* approvals a transaction above threshold needs: 1 .. n_operators, 0 with none */
    uint8_t n_operators;        /* 0 .. OS_MAX_OPERATORS (0: no quorum) */
    uint64_t threshold;         /* satoshi: a transaction whose payouts total more needs the quorum */
    const uint8_t *keys;        /* n_operators * 32: BIP340 x-only keys, strictly increasing */
} os_msg_set_operators;

/* An operator's approval of one transaction (PROTOCOL.md §2.8): BIP340 by operator over
 * os_approval_hash(tx digest, expiry_seq, the signer's attestation key). Wire size: OS_APPROVAL_BYTES. */
typedef struct {
    uint8_t operator_key[32];   /* x-only key of the operator that signed */
    uint64_t expiry_seq;        /* valid while the signer's log_seq is below it; > 0 */
    uint8_t sig[64];
} os_approval;
#define OS_APPROVAL_BYTES       (32 + 8 + 64)

typedef struct { os_approval approval; } os_msg_sign_approval;

typedef struct {
    uint16_t code;              /* os_status */
    uint16_t index;             /* input/output index it concerns, or 0xFFFF */
    uint8_t detail_len;
    const uint8_t *detail;      /* NONCE_COMMITTED: nonce(32) anchor txid(32) anchor vout(4) */
} os_msg_error;

typedef struct { uint8_t reason; uint32_t poll_after_ms; } os_msg_pending;

typedef struct {
    uint8_t protocol_version;
    char firmware_version[16];  /* NUL-padded */
    uint8_t initialized, network, script_type, test_only_rng;
    uint8_t nonce_root[32];
    uint64_t log_seq;           /* sequence number of the newest entry (entries start at 1) */
    uint8_t log_head[32];       /* hash of the newest entry; zero before the first */
    uint64_t log_acked_seq;
    uint32_t log_capacity;      /* entries the device keeps before it needs LOG_ACK */
    uint8_t attestation_pubkey[32];  /* BIP340 x-only key that signs log entries */
    os_policy policy;
    uint64_t state_seq;         /* A/B record sequence number */
} os_msg_info;

typedef struct { uint8_t data[OS_XPUB_BYTES]; } os_msg_xpub;
typedef struct { uint8_t len; char text[OS_MAX_ADDRESS + 1]; } os_msg_address;
typedef struct { uint16_t len; const uint8_t *entry; } os_msg_log_entry;

typedef struct {
    uint16_t n_signatures;      /* one per input */
    uint64_t log_seq;           /* the SIGN entry that recorded this release */
    uint8_t nonce_root[32];     /* root after the commit */
} os_msg_sign_done;

typedef struct {
    uint16_t start, count;
    const uint8_t *records;     /* count * { sig_len(1) sig(sig_len, DER + hashtype) pubkey(33) } */
    uint16_t records_len;
} os_msg_signatures;

typedef struct {
    uint8_t version;
    uint8_t type;
    uint32_t request_id;
    union {
        os_msg_init_device init_device;
        os_policy set_policy;
        os_msg_nonce_reset nonce_reset;
        os_msg_get_xpub get_xpub;
        os_msg_get_address get_address;
        os_msg_log_read log_read;
        os_msg_sign_begin sign_begin;
        os_msg_sign_input sign_input;
        os_msg_sign_prevtx sign_prevtx;
        os_msg_sign_output sign_output;
        os_msg_sign_get_sigs sign_get_sigs;
        os_msg_set_issuers set_issuers;
        os_msg_sign_voucher sign_voucher;
        os_msg_set_operators set_operators;
        os_msg_sign_approval sign_approval;
        os_msg_error error;
        os_msg_pending pending;
        os_msg_info info;
        os_msg_xpub xpub;
        os_msg_address address;
        os_msg_log_entry log_entry;
        os_msg_sign_done sign_done;
        os_msg_signatures signatures;
    } u;
} os_msg;

#endif /* ONCESIGN_PROTOCOL_H */
