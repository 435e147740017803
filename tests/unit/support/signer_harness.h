/* oncesign tests — the whole signer core in-process, on the memory board, behind the real host client.
 *
 * The host side (host/lib/client.c, host/lib/signing.c) talks to the signer through an
 * os_transport whose send queues the report on board_mem and runs signer_poll, so tests exercise
 * exactly the code the simulator and the USB device run, minus the socket. A power cut armed with
 * board_mem_set_power_cut fires inside signer code only: the transport catches it, reports the
 * device dead (OS_ERR_IO) from then on, and harness_reboot brings the signer back up from the
 * flash as the cut left it.
 */
#ifndef ONCESIGN_TEST_SIGNER_HARNESS_H
#define ONCESIGN_TEST_SIGNER_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "nonce_tree.h"
#include "oncesign/protocol.h"
#include "oncesign/status.h"
#include "signing.h"

#define HARNESS_MNEMONIC \
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

/* Fresh memory board (flash_size bytes, 4096-byte sectors), signer booted, client connected.
 * Returns the client (owned by the harness; closed by the next harness_start/harness_stop). */
os_client *harness_start(uint32_t flash_size, uint64_t random_seed);
void harness_stop(void);

/* Reboots the signer from the flash as it is (after a power cut, or to test persistence) and
 * reconnects. Returns the new client. */
os_client *harness_reboot(void);

/* 1 when a power cut fired since the last harness_start/harness_reboot. */
int harness_power_was_cut(void);

/* Sends body as one message on the client's channel, as a hostile host would (no encoding
 * checks), runs the signer on it and drops whatever the signer answered. Returns OS_OK, or
 * OS_ERR_IO when the device is dead. */
int harness_send_raw_message(const uint8_t *body, size_t len);
/* The same, keeping the signer's answer: the body of the one MSG frame it sent back, in
 * answer[0..*answer_len). Returns OS_OK; OS_ERR_IO when the device is dead; OS_ERR_MSG_UNEXPECTED
 * when it answered no message (or one longer than cap, or a frame of another command). */
int harness_exchange_raw_message(const uint8_t *body, size_t len, uint8_t *answer, size_t cap, size_t *answer_len);

/* What the operator does when the signer asks: approve, reject, or nothing (the host times out). */
typedef enum { OPERATOR_APPROVE, OPERATOR_REJECT, OPERATOR_ABSENT } harness_operator;
void harness_set_operator(harness_operator op);
/* on_pending callback for os_client_call_wait / os_sign_run: the operator presses the configured
 * button on every screen of the prompt (each after BOARD_PRESS_SETTLE_MS of the memory board's
 * clock), until the host sends its next request other than POLL. */
void harness_on_pending(void *ctx);

/* A generous policy (nothing needs the operator) and a strict one. */
os_policy harness_policy_open(void);

/* Restores HARNESS_MNEMONIC on regtest with the given policy and receive script type, pressing
 * approve. Returns OS_OK or the device's refusal. */
int harness_init_device(os_client *c, const os_policy *policy, uint8_t script_type);
/* The same with another mnemonic. */
int harness_restore_device(os_client *c, const os_policy *policy, uint8_t script_type, const char *mnemonic);

/* Plain GET_INFO. */
int harness_info(os_client *c, os_msg_info *info);

/* LOG_READ of entry seq: OS_OK when the device answered LOG_ENTRY (in *reply; its entry points into
 * a buffer of the harness, valid until the next harness_log_read), else the device's error or
 * OS_ERR_MSG_UNEXPECTED. */
int harness_log_read(os_client *c, uint64_t seq, os_msg *reply);
/* LOG_ACK up to seq (the host archived the log so far): OS_OK when the device answered SUCCESS,
 * else as harness_log_read. */
int harness_log_ack(os_client *c, uint64_t seq);

/* A coin of the signer's: a made-up previous transaction paying amount to the key at
 * m/purpose'/1'/0'/change/index of HARNESS_MNEMONIC, with the given script type. salt makes the
 * previous transaction (and so the outpoint) unique. */
typedef struct {
    uint8_t prev_tx[128];
    size_t prev_tx_len;
    os_sign_input input;        /* points into prev_tx: keep the coin where it is */
    uint64_t amount;
} harness_coin;
int harness_make_coin(harness_coin *coin, uint8_t script_type, uint8_t change, uint32_t index, uint64_t amount,
                      uint32_t salt);

/* The scriptPubKey of the signer's key at that path (for change outputs and checks). */
int harness_script(uint8_t script_type, uint8_t change, uint32_t index, uint8_t *script, size_t *len);

/* A P2PKH destination script made from a number (not the signer's). */
void harness_destination(uint32_t n, uint8_t script[25]);

/* Outputs and a transaction for the signing tests. A payout of amount to harness_destination(dest)
 * for the nonce made from nonce_id; a change output of amount to the signer's change key
 * (script_type, account 0, index), asserted derivable; a version-2, locktime-0 transaction over
 * the caller's inputs and outputs (not copied: they must outlive it). */
void harness_payout(os_sign_output *o, uint32_t dest, uint64_t amount, uint32_t nonce_id);
void harness_change(os_sign_output *o, uint8_t script_type, uint32_t index, uint64_t amount);
os_sign_tx harness_tx(const os_sign_input *in, size_t n_in, const os_sign_output *out, size_t n_out);

/* One payout of amount (nonce nonce_id, to harness_destination(dest)) plus change (index 0, the rest
 * less a 10000 fee) from a fresh P2PKH coin of 1 MONA (salt: harness_make_coin); tx.approvals points
 * at approvals, none counted (a quorum test adds them). */
typedef struct {
    harness_coin coin;
    os_sign_output out[2];
    os_sign_tx tx;
    os_approval approvals[4];
} harness_one_payout;
void harness_one_payout_make(harness_one_payout *p, uint32_t dest, uint64_t amount, uint32_t nonce_id, uint32_t salt);

/* The helpers below fail the running cmocka test when a call they make fails. */

/* harness_start, then HARNESS_MNEMONIC restored with the open policy and P2PKH coins (the operator
 * approving); *attestation the signer's attestation key and *tree an empty host nonce tree, each when
 * not NULL. */
os_client *harness_start_initialized(uint32_t flash_size, uint64_t random_seed, uint8_t attestation[32],
                                     nonce_tree **tree);

/* The x-only public key of priv (an issuer's or an operator's). */
void harness_xonly(const uint8_t priv[32], uint8_t out[32]);

/* Fails the running test unless needle is on a screen the signer showed since harness_start (naming
 * the screens). */
void harness_assert_shown(const char *needle);

/* The newest entry of the signer's log (type at entry[AUDIT_LOG_OFF_TYPE]); *seq its number when seq
 * is not NULL. */
void harness_newest_entry(os_client *c, uint8_t entry[OS_LOG_ENTRY_BYTES], uint64_t *seq);

/* SET_ISSUERS (keys: n x 32 bytes, sorted, the wire order; flags) and SET_OPERATORS (k of n keys above
 * threshold), the operator pressing as harness_set_operator says. Return the reply's type, and its
 * error code in *code (0 for another type) when code is not NULL. */
uint8_t harness_set_issuers(os_client *c, uint8_t flags, const uint8_t *keys, uint8_t n, uint16_t *code);
uint8_t harness_set_operators(os_client *c, uint8_t k, const uint8_t *keys, uint8_t n, uint64_t threshold,
                              uint16_t *code);

#endif /* ONCESIGN_TEST_SIGNER_HARNESS_H */
