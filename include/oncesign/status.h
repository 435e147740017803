/* oncesign — return codes shared by the firmware, the boards, the wire protocol and the host.
 *
 * One enum for everything: a function returns OS_OK (0) or one of these codes, and the same
 * number travels on the wire in an ERROR reply (proto/PROTOCOL.md, "Error codes"). Codes are
 * stable: never renumber, only append. Ranges:
 *   0x00xx  generic / caller misuse          0x03xx  transaction and input checks
 *   0x01xx  framing and message codec        0x04xx  nonce set (I1)
 *   0x02xx  device state and user action     0x05xx  policy (I4)
 *                                            0x06xx  storage and audit log (I2, I5)
 */
#ifndef ONCESIGN_STATUS_H
#define ONCESIGN_STATUS_H

typedef enum {
    OS_OK = 0x0000,

    /* generic */
    OS_ERR_ARG          = 0x0001, /* caller passed an invalid argument (ARG_CHECK failed) */
    OS_ERR_INTERNAL     = 0x0002, /* an internal invariant failed (VERIFY_CHECK); fail closed */
    OS_ERR_BUFFER       = 0x0003, /* output buffer too small */
    OS_ERR_IO           = 0x0004, /* board or OS I/O failed */
    OS_ERR_TIMEOUT      = 0x0005, /* no answer within the allowed time */
    OS_ERR_CRYPTO       = 0x0006, /* a crypto library call failed (invalid key, tweak out of range) */
    OS_ERR_UNSUPPORTED  = 0x0007, /* valid request this build does not support */

    /* framing and codec (proto/) */
    OS_ERR_FRAME_CHANNEL   = 0x0101, /* report for another channel, or channel busy */
    OS_ERR_FRAME_SEQ       = 0x0102, /* continuation lost, duplicated or reordered */
    OS_ERR_FRAME_LENGTH    = 0x0103, /* declared length above the maximum message size */
    OS_ERR_FRAME_UNEXPECTED= 0x0104, /* continuation without an init frame, or init mid-message */
    OS_ERR_FRAME_COMMAND   = 0x0105, /* unknown frame command */
    OS_ERR_MSG_VERSION     = 0x0110, /* message version not spoken here */
    OS_ERR_MSG_TYPE        = 0x0111, /* unknown message type */
    OS_ERR_MSG_MALFORMED   = 0x0112, /* body too short, too long or a field out of range */
    OS_ERR_MSG_UNEXPECTED  = 0x0113, /* valid message, wrong moment (e.g. SIGN_OUTPUT before inputs) */
    OS_ERR_SERIAL_CRC      = 0x0120, /* byte-stream transport: report checksum mismatch */

    /* device state and user action */
    OS_ERR_NOT_INITIALIZED = 0x0201,
    OS_ERR_ALREADY_INITIALIZED = 0x0202,
    OS_ERR_USER_REJECTED   = 0x0203, /* the operator pressed reject */
    OS_ERR_BUSY            = 0x0204, /* an operation awaits the operator; poll or cancel */
    OS_ERR_CANCELLED       = 0x0205, /* the host cancelled the session */
    OS_ERR_BAD_MNEMONIC    = 0x0206, /* unknown word or checksum mismatch */
    OS_ERR_BAD_PATH        = 0x0207, /* derivation path outside what the signer signs for */
    OS_ERR_NO_PENDING      = 0x0208, /* POLL with nothing pending */

    /* transaction and inputs */
    OS_ERR_TX_PARSE        = 0x0301, /* previous transaction does not parse, or trailing bytes */
    OS_ERR_TX_PREV_TXID    = 0x0302, /* streamed previous transaction hashes to another txid */
    OS_ERR_TX_PREV_VOUT    = 0x0303, /* previous transaction has no such output */
    OS_ERR_TX_NOT_OURS     = 0x0304, /* spent output's script is not the key the path derives */
    OS_ERR_TX_LIMITS       = 0x0305, /* too many inputs/outputs, script or tx too large */
    OS_ERR_TX_AMOUNT       = 0x0306, /* amount out of range (0, > MAX_MONEY, or sum overflow) */
    OS_ERR_TX_FEE_NEGATIVE = 0x0307, /* outputs exceed inputs */
    OS_ERR_TX_CHANGE       = 0x0308, /* change output does not derive from the signer's change chain */
    OS_ERR_TX_SCRIPT       = 0x0309, /* destination script of a type the signer will not pay */
    OS_ERR_TX_ORDER        = 0x030A, /* parts sent out of order, or a count does not match SIGN_BEGIN */
    OS_ERR_TX_DUST         = 0x030B, /* output below the dust threshold */

    /* nonce set */
    OS_ERR_NONCE_COMMITTED = 0x0401, /* nonce already committed and this tx does not spend its anchor
                                        or does not pay the committed script and amount: REFUSED */
    OS_ERR_PROOF_INVALID   = 0x0402, /* proof does not verify against the signer's root */
    OS_ERR_PROOF_TOO_LARGE = 0x0403, /* proof deeper than NONCE_PROOF_MAX_SIBLINGS */
    OS_ERR_NONCE_ORDER     = 0x0404, /* payout outputs not in strictly increasing nonce-key order */
    OS_ERR_PROOF_KIND      = 0x0405, /* membership proof sent as new, or non-membership as replacement */
    OS_ERR_NONCE_ABSENT    = 0x0406, /* host nonce tree: no such key (nonce never committed) */

    /* policy */
    OS_ERR_POLICY_PAYOUT_CAP = 0x0501, /* over the per-payout cap and not approved */
    OS_ERR_POLICY_VELOCITY   = 0x0502, /* over the rolling velocity budget and not approved */
    OS_ERR_POLICY_FEE        = 0x0503, /* fee above the absolute or rate cap and not approved */
    OS_ERR_POLICY_DESTINATION= 0x0504, /* destination rule (script type) */

    /* storage and log */
    OS_ERR_STORAGE_CORRUPT  = 0x0601, /* no valid state record: fail closed */
    OS_ERR_STORAGE_WRITE    = 0x0602, /* flash write or read-back verification failed */
    OS_ERR_LOG_FULL         = 0x0603, /* log ring holds only unacknowledged entries: archive first */
    OS_ERR_LOG_RANGE        = 0x0604, /* log entry requested that is not (or no longer) on the device */
    OS_ERR_LOG_FORMAT       = 0x0605, /* log entry: bad format byte, type, reserved field, length or padding */
    OS_ERR_LOG_SEQ          = 0x0606, /* log entry: seq is not the expected one (gap, reorder, repeat) */
    OS_ERR_LOG_CHAIN        = 0x0607, /* log entry: prev_hash does not match the previous entry */
    OS_ERR_LOG_SIGNATURE    = 0x0608, /* log entry: signature invalid under the attestation key */

    /* host: ledger, payout engine, monacoind, API (never on the wire to the signer) */
    OS_ERR_NOT_FOUND        = 0x0701, /* no such code, payout, transaction or coin */
    OS_ERR_IDEMPOTENCY      = 0x0702, /* idempotency key reused with different parameters */
    OS_ERR_CODE_EXPIRED     = 0x0703, /* gift code past its expiry */
    OS_ERR_DB               = 0x0704, /* SQLite failed (disk full, I/O, corruption): nothing was changed */
    OS_ERR_RPC              = 0x0705, /* monacoind answered with a JSON-RPC error */
    OS_ERR_RPC_TRANSPORT    = 0x0706, /* monacoind unreachable, timed out or answered without JSON */
    OS_ERR_ADDRESS          = 0x0707, /* destination address invalid, wrong network or bad checksum */
    OS_ERR_AMOUNT           = 0x0708, /* amount zero, negative, below dust, or above the configured cap */
    OS_ERR_FUNDS            = 0x0709, /* the hot wallet's coins cannot cover the batch */
    OS_ERR_SIGNER_MISMATCH  = 0x070A, /* the signer's root or log head disagrees with the ledger (I6) */
    OS_ERR_AUTH             = 0x070B, /* missing or wrong bearer token */
    OS_ERR_TOO_LARGE        = 0x070C, /* request body above the limit */
    OS_ERR_BAD_REQUEST      = 0x070D, /* malformed JSON or a missing/ill-typed field */
    OS_ERR_PSBT             = 0x070E, /* PSBT (BIP174) malformed: bad key/value, duplicate key, counts,
                                         trailing data, non-witness UTXO not matching its prevout */
    OS_ERR_PSBT_UNSIGNABLE  = 0x070F, /* PSBT valid but not a request the signer can take: input without
                                         the signer's derivation or previous tx, foreign output, ... */
    OS_ERR_LOG_HEAD         = 0x0609, /* log: the entries do not end at the expected head (truncated) */
    OS_ERR_TEST_RNG         = 0x0209, /* mainnet setup refused: the board's random source is test-only */
    OS_ERR_LOG_START        = 0x060A, /* log: does not start at SETUP, and no signed head it continues
                                         from was given (entries are missing at its start) */
    OS_ERR_FORBIDDEN        = 0x0710, /* a valid API key without the scope this call needs, or revoked */
    OS_ERR_SIGNER_UNAVAILABLE = 0x0711, /* host: the signer has not passed the start-up check (I6) since
                                         the daemon started (absent, not yet answering): writes wait */
    OS_ERR_ANCHOR_SPENT     = 0x0407, /* the transaction spends the anchor of committed payouts and is not
                                         the replacement of all of them (nor their re-anchor), or anchors new
                                         payouts at an input that already is an anchor: REFUSED and logged
                                         (REFUSE_ANCHOR) */
    OS_ERR_LOG_VERSION      = 0x060B, /* log entry: a format version (byte 0) this verifier does not read */
    OS_ERR_DEVICE_REFUSED   = 0x0730, /* host: the signer answered an operator's request with a refusal
                                         (its own code travels beside this one) */
    OS_ERR_HELD_BY_DAEMON   = 0x0731, /* host: a running oncesignd holds the signer and cannot carry this
                                         request for the CLI (no route, or it does not answer) */
    OS_ERR_WRONG_WALLET     = 0x020A, /* a request names another wallet (master fingerprint) than the device's */
    OS_ERR_RECOVERING       = 0x0750, /* host: the ledger is recovering from a restore or a replaced signer
                                         (docs/RECOVERY.md): writes wait until it ends */
    OS_ERR_VOUCHER_MISSING  = 0x0505, /* a NEW payout without a voucher while vouchers are required: REFUSED, logged */
    OS_ERR_VOUCHER_ISSUER   = 0x0506, /* voucher not signed by a registered issuer (unknown key or bad
                                         signature): REFUSED, logged */
    OS_ERR_VOUCHER_MISMATCH = 0x0507, /* voucher for another nonce, network or signer: REFUSED, logged */
    OS_ERR_VOUCHER_AMOUNT   = 0x0508, /* payout above the voucher's amount: REFUSED, logged */
    OS_ERR_VOUCHER_DESTINATION = 0x0509, /* payout to another script than the voucher binds: REFUSED, logged */
    OS_ERR_VOUCHER_EXPIRED  = 0x050A, /* the signer's log reached the voucher's expiry_seq: REFUSED, logged */
    OS_ERR_QUORUM_MISSING   = 0x050B, /* the payouts total above the quorum threshold and fewer than k valid
                                         operator approvals arrived: REFUSED, logged (REFUSE_APPROVAL) */
    OS_ERR_APPROVAL_OPERATOR = 0x050C, /* an approval by a key that is not a registered operator: REFUSED, logged */
    OS_ERR_APPROVAL_DUPLICATE = 0x050D, /* a second approval by the same operator key: REFUSED, logged */
    OS_ERR_APPROVAL_EXPIRED = 0x050E, /* the signer's log reached the approval's expiry_seq: REFUSED, logged */
    OS_ERR_APPROVAL_MISMATCH = 0x050F, /* the approval's signature does not verify over THIS transaction's
                                         commitment (another transaction, signer or expiry, or forged):
                                         REFUSED, logged */
    OS_ERR_VOUCHER_KEY      = 0x0760, /* host: issuer key file missing, malformed or readable by others */
    /* the auditor's findings in the signer's authority entries (host/lib/audit.h os_audit_check_authority) */
    OS_ERR_VOUCHER_CONFLICT = 0x0780, /* host: a PSBT's voucher for a nonce the ledger holds another voucher for */
    OS_ERR_AUDIT_VOUCHERS_MISSING = 0x060C, /* log: vouchers were required and a SIGN entry commits new payouts
                                         its VOUCHERS entry does not cover */
    OS_ERR_AUDIT_VOUCHERS_LEDGER = 0x060D, /* log vs ledger: a VOUCHERS entry's ids are not the ledger's vouchers
                                         for the transaction's new payouts (one missing, another, or extra) */
    OS_ERR_AUDIT_VOUCHER_ISSUER = 0x060E, /* log vs ledger: a voucher a payout was paid under is not signed by an
                                         issuer key the log had registered then */
    OS_ERR_AUDIT_UNPAIRED   = 0x060F, /* log: a VOUCHERS or APPROVALS entry not followed by the SIGN entry of
                                         its transaction (nor cut off by a power cut: a BOOT entry) */
    OS_ERR_AUDIT_APPROVALS_OPERATOR = 0x0610, /* log: an APPROVALS entry names a key outside the operator set in force */
    OS_ERR_AUDIT_APPROVALS_DUPLICATE = 0x0611, /* log: an APPROVALS entry names one operator key twice */
    OS_ERR_AUDIT_APPROVALS_FEW = 0x0612, /* log: an APPROVALS entry names fewer than k operators */
    OS_ERR_AUDIT_QUORUM_MISSING = 0x0613, /* log: a SIGN entry's payouts total above the quorum threshold in
                                         force and no APPROVALS entry came before it */
    OS_ERR_QUORUM_NOT_WAITING = 0x0770, /* host: the payout's transaction does not wait for the operators'
                                         approvals (none needed, not drafted yet, or already signed) */
} os_status;

/* Returns a short stable identifier ("nonce-committed") for a code, or "unknown". Never NULL. */
const char *os_status_name(int status);

/* Returns one human sentence for an operator ("the nonce is already committed to another
 * transaction"), or "unknown error". Never NULL. */
const char *os_status_message(int status);

#endif /* ONCESIGN_STATUS_H */
