/* oncesign — names and operator sentences for every os_status (include/oncesign/status.h). */
#include "oncesign/status.h"

#include <stddef.h>

typedef struct {
    int code;
    const char *name;
    const char *message;
} status_text;

static const status_text STATUS_TEXTS[] = {
    { OS_OK, "ok", "success" },
    { OS_ERR_ARG, "arg", "a function was called with an invalid argument" },
    { OS_ERR_INTERNAL, "internal", "an internal consistency check failed; the signer refused to guess" },
    { OS_ERR_BUFFER, "buffer", "the output buffer is too small" },
    { OS_ERR_IO, "io", "a device or operating-system I/O operation failed" },
    { OS_ERR_TIMEOUT, "timeout", "no answer arrived within the allowed time" },
    { OS_ERR_CRYPTO, "crypto", "a cryptographic operation failed (invalid key or tweak)" },
    { OS_ERR_UNSUPPORTED, "unsupported", "this build does not support the request" },
    { OS_ERR_FRAME_CHANNEL, "frame-channel", "a report arrived for another channel, or the channel is busy" },
    { OS_ERR_FRAME_SEQ, "frame-seq", "a continuation report was lost, duplicated or reordered" },
    { OS_ERR_FRAME_LENGTH, "frame-length", "the declared message length exceeds the maximum message size" },
    { OS_ERR_FRAME_UNEXPECTED, "frame-unexpected",
      "a continuation arrived with no message open, or a new message started in the middle of one" },
    { OS_ERR_FRAME_COMMAND, "frame-command", "the frame command is unknown" },
    { OS_ERR_MSG_VERSION, "msg-version", "the message uses a protocol version this side does not speak" },
    { OS_ERR_MSG_TYPE, "msg-type", "the message type is unknown" },
    { OS_ERR_MSG_MALFORMED, "msg-malformed",
      "the message is too short, too long, or has a field out of range" },
    { OS_ERR_MSG_UNEXPECTED, "msg-unexpected", "the message is valid but not expected at this point" },
    { OS_ERR_SERIAL_CRC, "serial-crc", "a report on the serial line failed its checksum" },
    { OS_ERR_NOT_INITIALIZED, "not-initialized", "the signer has not been set up" },
    { OS_ERR_ALREADY_INITIALIZED, "already-initialized", "the signer is already set up; wipe it first" },
    { OS_ERR_USER_REJECTED, "user-rejected", "the operator rejected the request on the device" },
    { OS_ERR_BUSY, "busy", "an operation is waiting for the operator; poll or cancel it first" },
    { OS_ERR_CANCELLED, "cancelled", "the host cancelled the operation" },
    { OS_ERR_BAD_MNEMONIC, "bad-mnemonic", "the mnemonic has an unknown word or a wrong checksum" },
    { OS_ERR_BAD_PATH, "bad-path", "the derivation path is outside what the signer signs for" },
    { OS_ERR_NO_PENDING, "no-pending", "there is no pending operation to poll" },
    { OS_ERR_TX_PARSE, "tx-parse", "the previous transaction does not parse or has trailing bytes" },
    { OS_ERR_TX_PREV_TXID, "tx-prev-txid",
      "the streamed previous transaction does not hash to the txid of the spent outpoint" },
    { OS_ERR_TX_PREV_VOUT, "tx-prev-vout", "the previous transaction has no output with that index" },
    { OS_ERR_TX_NOT_OURS, "tx-not-ours",
      "the spent output's script is not the key its derivation path gives" },
    { OS_ERR_TX_LIMITS, "tx-limits", "the transaction has too many inputs or outputs, or is too large" },
    { OS_ERR_TX_AMOUNT, "tx-amount", "an amount is zero, above the money supply, or the sum overflows" },
    { OS_ERR_TX_FEE_NEGATIVE, "tx-fee-negative", "the outputs spend more than the inputs hold" },
    { OS_ERR_TX_CHANGE, "tx-change", "a change output does not derive from the signer's change chain" },
    { OS_ERR_TX_SCRIPT, "tx-script", "the destination script is of a type the signer will not pay" },
    { OS_ERR_TX_ORDER, "tx-order",
      "transaction parts were sent out of order or do not match the counts announced" },
    { OS_ERR_TX_DUST, "tx-dust", "an output is below the dust threshold" },
    { OS_ERR_NONCE_COMMITTED, "nonce-committed",
      "the nonce is already committed to another transaction; refused" },
    { OS_ERR_PROOF_INVALID, "proof-invalid", "the nonce proof does not verify against the signer's root" },
    { OS_ERR_PROOF_TOO_LARGE, "proof-too-large", "the nonce proof has more siblings than the signer accepts" },
    { OS_ERR_NONCE_ORDER, "nonce-order", "payout outputs are not in strictly increasing nonce-key order" },
    { OS_ERR_PROOF_KIND, "proof-kind",
      "a membership proof came with a new nonce, or a non-membership proof with a replacement" },
    { OS_ERR_POLICY_PAYOUT_CAP, "policy-payout-cap", "a payout exceeds the per-payout cap and was not approved" },
    { OS_ERR_POLICY_VELOCITY, "policy-velocity", "payouts exceed the rolling velocity budget and were not approved" },
    { OS_ERR_POLICY_FEE, "policy-fee", "the fee exceeds the absolute or rate cap and was not approved" },
    { OS_ERR_POLICY_DESTINATION, "policy-destination", "the destination breaks a destination rule" },
    { OS_ERR_STORAGE_CORRUPT, "storage-corrupt", "no valid state record was found; the signer fails closed" },
    { OS_ERR_STORAGE_WRITE, "storage-write", "a flash write or its read-back verification failed" },
    { OS_ERR_LOG_FULL, "log-full",
      "the audit log holds only unacknowledged entries; archive and acknowledge them first" },
    { OS_ERR_LOG_RANGE, "log-range", "the requested log entry is not (or no longer) on the device" },
    { OS_ERR_LOG_FORMAT, "log-format", "a log entry has a bad format byte, type, reserved field, length or padding" },
    { OS_ERR_LOG_SEQ, "log-seq", "a log entry is out of sequence (gap, reordering or repeat)" },
    { OS_ERR_LOG_CHAIN, "log-chain", "a log entry does not chain to the previous one" },
    { OS_ERR_LOG_SIGNATURE, "log-signature", "a log entry's signature does not verify under the attestation key" },
    { OS_ERR_LOG_HEAD, "log-head", "the log does not end at the expected head: entries are missing at its end" },
    { OS_ERR_TEST_RNG, "test-rng", "the device's random source is test-only: it refuses to set up mainnet" },
    { OS_ERR_LOG_START, "log-start", "the log does not start at SETUP and no signed head it continues from was given" },
    { OS_ERR_WRONG_WALLET, "wrong-wallet", "the request names another wallet than the device's (master fingerprint)" },
    { OS_ERR_RECOVERING, "recovering",
      "the ledger is recovering (a restored backup or a replaced signer): writes wait until it ends" },
    { OS_ERR_SIGNER_UNAVAILABLE, "signer-unavailable",
      "the signer has not yet answered and passed the start-up check since the daemon started" },
    { OS_ERR_NONCE_ABSENT, "nonce-absent", "the nonce is not in the set" },
    { OS_ERR_LOG_VERSION, "log-version",
      "the log entry is in a format version this verifier does not read; use a verifier that knows it" },
    { OS_ERR_ANCHOR_SPENT, "anchor-spent",
      "the transaction spends the anchor of committed payouts without replacing all of them" },
    { OS_ERR_VOUCHER_MISSING, "voucher-missing",
      "a new payout needs a voucher from a registered issuer and came without one" },
    { OS_ERR_VOUCHER_ISSUER, "voucher-issuer",
      "the voucher is not signed by an issuer key registered on the signer" },
    { OS_ERR_VOUCHER_MISMATCH, "voucher-mismatch",
      "the voucher is for another nonce, network or signer" },
    { OS_ERR_VOUCHER_AMOUNT, "voucher-amount", "the payout is larger than its voucher allows" },
    { OS_ERR_VOUCHER_DESTINATION, "voucher-destination",
      "the payout goes to another destination than its voucher names" },
    { OS_ERR_VOUCHER_EXPIRED, "voucher-expired", "the voucher expired (the signer's log passed its expiry)" },
    { OS_ERR_QUORUM_MISSING, "quorum-missing",
      "the payouts need the operators' quorum and fewer than k valid approvals arrived" },
    { OS_ERR_APPROVAL_OPERATOR, "approval-operator", "the approval is not by a registered operator key" },
    { OS_ERR_APPROVAL_DUPLICATE, "approval-duplicate", "the same operator approved twice" },
    { OS_ERR_APPROVAL_EXPIRED, "approval-expired", "the approval expired (the signer's log passed its expiry)" },
    { OS_ERR_APPROVAL_MISMATCH, "approval-mismatch",
      "the approval does not verify over this transaction's commitment on this signer" },
    { OS_ERR_VOUCHER_KEY, "voucher-key",
      "the issuer key file is missing, malformed or readable by other users" },
    { OS_ERR_QUORUM_NOT_WAITING, "quorum-not-waiting",
      "the payout's transaction does not wait for the operators' approvals" },
    { OS_ERR_NOT_FOUND, "not-found", "no such code, payout, transaction or coin" },
    { OS_ERR_IDEMPOTENCY, "idempotency-conflict", "the idempotency key was used before with different parameters" },
    { OS_ERR_CODE_EXPIRED, "code-expired", "the gift code has expired" },
    { OS_ERR_DB, "db", "the ledger database failed; nothing was changed" },
    { OS_ERR_RPC, "rpc", "monacoind answered with an error" },
    { OS_ERR_RPC_TRANSPORT, "rpc-transport", "monacoind could not be reached or did not answer in time" },
    { OS_ERR_ADDRESS, "address", "the address is invalid, for another network, or has a bad checksum" },
    { OS_ERR_AMOUNT, "amount", "the amount is zero, negative, dust, or above the cap" },
    { OS_ERR_FUNDS, "funds", "the hot wallet's coins cannot cover the payouts" },
    { OS_ERR_SIGNER_MISMATCH, "signer-mismatch",
      "the signer's nonce root or log disagrees with the ledger; nothing new is signed until they agree" },
    { OS_ERR_AUTH, "auth", "missing or wrong bearer token" },
    { OS_ERR_TOO_LARGE, "too-large", "the request body is too large" },
    { OS_ERR_BAD_REQUEST, "bad-request", "malformed JSON, or a missing or ill-typed field" },
    { OS_ERR_PSBT, "psbt-malformed", "the PSBT is malformed or inconsistent" },
    { OS_ERR_PSBT_UNSIGNABLE, "psbt-unsignable", "the PSBT is not a transaction this signer can sign" },
    { OS_ERR_FORBIDDEN, "forbidden", "this API key may not make this call (scope), or it was revoked" },
    { OS_ERR_DEVICE_REFUSED, "device-refused", "the signer refused the request" },
    { OS_ERR_HELD_BY_DAEMON, "held-by-daemon",
      "a running oncesignd holds the signer and cannot carry this request; see docs/OPERATING.md" },
};

static const status_text *find_status(int status) {
    size_t i;
    for (i = 0; i < sizeof STATUS_TEXTS / sizeof STATUS_TEXTS[0]; i++) {
        if (STATUS_TEXTS[i].code == status) return &STATUS_TEXTS[i];
    }
    return NULL;
}

const char *os_status_name(int status) {
    const status_text *t = find_status(status);
    return t != NULL ? t->name : "unknown";
}

const char *os_status_message(int status) {
    const status_text *t = find_status(status);
    return t != NULL ? t->message : "unknown error";
}
