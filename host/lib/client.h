/* oncesign host — the client: one request, one reply, over any transport (host/lib/transport.h).
 *
 * Everything above "send or receive one 64-byte report" lives here, so the simulator socket, hidapi
 * and the serial line all run this same code: channel allocation (INIT with a random nonce),
 * request ids, framing (proto/frame.h), reassembly, the codec (proto/codec.h), and the PENDING/POLL
 * loop of operations that wait for the operator.
 *
 * Channel INIT (frame command OS_FRAME_CMD_INIT on OS_CID_BROADCAST): the host sends an 8-byte nonce,
 * the device answers on the broadcast channel with nonce(8) cid(4, big-endian) protocol_version(1).
 * Replies whose nonce differs (meant for another host) are ignored.
 *
 * Not thread-safe: one os_client per thread.
 */
#ifndef ONCESIGN_HOST_CLIENT_H
#define ONCESIGN_HOST_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"
#include "transport.h"

typedef struct os_client os_client;

/* Opens the transport named by spec (see os_transport_open). The channel is allocated on the first
 * call, not here.
 * Returns: OS_OK; OS_ERR_ARG (NULL out, unknown spec); OS_ERR_IO (device cannot be opened);
 *          OS_ERR_UNSUPPORTED (transport not built in). err (cap bytes, may be NULL) then holds a
 *          one-line reason.
 * Out:     *out: released with os_client_close. */
int os_client_open(const char *spec, os_client **out, char *err, size_t cap);

/* Wraps an already open transport (tests use scripted fakes). The client takes ownership: it calls
 * transport->close in os_client_close, also when this function fails.
 * Returns: OS_OK, OS_ERR_ARG, OS_ERR_IO (out of memory). */
int os_client_open_transport(os_transport *transport, os_client **out);

/* Opens the device spec the client was opened from again (a replugged or restarted device, whose
 * old link died) and, only when that succeeded, closes the old transport and drops the channel: the
 * next call allocates a new one. Request ids go on counting.
 * Returns: OS_OK; OS_ERR_IO (the device cannot be opened yet: the old transport stays, err says
 *          why); OS_ERR_UNSUPPORTED for a client made by os_client_open_transport; OS_ERR_ARG. */
int os_client_reopen(os_client *c, char *err, size_t cap);

/* Closes the transport and frees the client. NULL is ignored. */
void os_client_close(os_client *c);

/* Sends request and waits for its reply.
 * The client sets request's version and a fresh request id (the caller's request_id is ignored),
 * allocates the channel first when there is none, and accepts only a reply that echoes the id:
 * stale replies (other ids, other channels, other frame commands) are discarded.
 * Returns: OS_OK with *reply decoded: reply->type may be OS_MSG_ERROR (a refusal; see
 *          os_client_error_text) or OS_MSG_PENDING (see os_client_call_wait);
 *          a framing status (OS_ERR_FRAME_*, OS_ERR_MSG_*, ...) when the device answered with an
 *          ERROR frame (after OS_ERR_FRAME_CHANNEL the next call allocates a new channel);
 *          a decoder status (OS_ERR_MSG_MALFORMED, OS_ERR_MSG_TYPE, OS_ERR_MSG_VERSION, ...) when
 *          the reply with our id does not decode; an encoder status for a bad request;
 *          OS_ERR_TIMEOUT (or, when broken reports for our channel arrived meanwhile, the framing
 *          error they caused) after timeout_ms without a reply; OS_ERR_IO when the link died.
 *          os_client_last_error then describes the failure.
 * In:      request: decoded message to send (pointer fields valid for their lengths).
 *          timeout_ms: bound for the whole exchange, channel allocation included (> 0).
 * Out:     reply: pointer fields point into reply_buf (OS_MAX_MESSAGE bytes), valid until reuse. */
int os_client_call(os_client *c, const os_msg *request, os_msg *reply, uint8_t *reply_buf, int timeout_ms);

/* Like os_client_call, and while the reply is PENDING waits poll_after_ms (clamped to 10..2000) and
 * sends POLL, until a final reply arrives. on_pending (may be NULL) is called once, with ctx, at the
 * first PENDING (e.g. to print "Confirm on the device"). Each exchange is bounded by timeout_ms;
 * the wait for the operator is bounded by os_client_set_operator_timeout (default: no bound).
 * Returns: as os_client_call (the final reply is never PENDING on OS_OK); OS_ERR_CANCELLED after
 *          os_client_request_cancel, OS_ERR_TIMEOUT when the operator timeout passed (in both
 *          cases a CANCEL was sent to the device, best effort). */
int os_client_call_wait(os_client *c, const os_msg *request, os_msg *reply, uint8_t *reply_buf, int timeout_ms,
                        void (*on_pending)(void *ctx), void *ctx);

/* Bounds the time os_client_call_wait waits for the operator; 0 means no bound. */
void os_client_set_operator_timeout(os_client *c, int timeout_ms);

/* Makes a running or the next os_client_call_wait stop waiting, send CANCEL and return
 * OS_ERR_CANCELLED. Async-signal-safe (for a SIGINT handler). */
void os_client_request_cancel(os_client *c);

/* A one-line description of the last failure of this client (transport, framing, decoding,
 * timeout), "" when there was none. Never NULL. */
const char *os_client_last_error(const os_client *c);

/* The transport's description ("sim:/tmp/x.sock"). */
const char *os_client_description(const os_client *c);

/* Renders an ERROR reply for an operator: the status sentence, its stable name and number, the
 * input/output it concerns, and its detail. For OS_ERR_NONCE_COMMITTED the detail is decoded:
 * "… nonce <hex> is committed to anchor <txid in display order>:<vout>".
 * Returns: buf (always NUL-terminated when cap > 0; cut when too small). */
const char *os_client_error_text(const os_msg *error_reply, char *buf, size_t cap);

#endif /* ONCESIGN_HOST_CLIENT_H */
