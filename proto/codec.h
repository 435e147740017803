/* oncesign — the one message codec, compiled into firmware and host.
 *
 * Layout of every message: version(1) type(1) request_id(4, LE) body. Bodies are defined in
 * proto/PROTOCOL.md and mirrored by the structs of include/oncesign/protocol.h. The decoder checks
 * every length and range before it reads (a body must be exactly as long as its fields say: no
 * short bodies, no trailing bytes) and never allocates: variable-length fields in the decoded
 * os_msg point into the input buffer.
 */
#ifndef ONCESIGN_CODEC_H
#define ONCESIGN_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

/* Encodes msg (msg->version must be OS_PROTOCOL_VERSION).
 * Returns: OS_OK; OS_ERR_BUFFER when cap is too small; OS_ERR_MSG_TYPE for an unknown type;
 *          OS_ERR_MSG_MALFORMED when a field is out of range (e.g. script_len > OS_MAX_PAYOUT_SCRIPT,
 *          proof with more than NONCE_PROOF_MAX_SIBLINGS siblings); OS_ERR_ARG for NULL pointers.
 * In:      msg: the message; its pointer fields must be valid for their lengths.
 * Out:     buf[0..*out_len): the encoding, written only on OS_OK. */
int os_msg_encode(const os_msg *msg, uint8_t *buf, size_t cap, size_t *out_len);

/* Decodes one message.
 * Returns: OS_OK; OS_ERR_MSG_VERSION; OS_ERR_MSG_TYPE; OS_ERR_MSG_MALFORMED (length or range);
 *          OS_ERR_PROOF_TOO_LARGE for a proof above the sibling limit; OS_ERR_ARG.
 * In:      buf[0..len).
 * Out:     msg: filled on OS_OK; its pointer fields point into buf (caller keeps buf alive). */
int os_msg_decode(const uint8_t *buf, size_t len, os_msg *msg);

/* Encodes / decodes a nonce-set proof on its own (used inside SIGN_OUTPUT and by the host's
 * ledger). Wire form: depth(1) terminal_is_leaf(1) bitmap(32) siblings(32*n) [leaf_key(32)
 * leaf_value(32)]. Bits of the bitmap at or above depth must be zero.
 * Returns: as os_msg_encode / os_msg_decode. *consumed: bytes read by decode. */
int os_nonce_proof_encode(const os_nonce_proof *proof, uint8_t *buf, size_t cap, size_t *out_len);
int os_nonce_proof_decode(const uint8_t *buf, size_t len, os_nonce_proof *proof, size_t *consumed);

/* Wire sizes of the fixed structs. */
int os_policy_encode(const os_policy *policy, uint8_t out[OS_POLICY_BYTES]);
int os_policy_decode(const uint8_t in[OS_POLICY_BYTES], os_policy *policy);

#endif /* ONCESIGN_CODEC_H */
