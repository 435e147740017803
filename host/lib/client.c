/* oncesign host — the client (contract in client.h). */
#include "client.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "codec.h"
#include "frame.h"
#include "oncesign/status.h"
#include "random.h"

#define INIT_NONCE_BYTES   8
#define INIT_REPLY_BYTES   (INIT_NONCE_BYTES + 4 + 1)
#define POLL_MIN_MS        10
#define POLL_MAX_MS        2000

struct os_client {
    os_transport *transport;
    char *spec;                 /* the device spec it was opened from (os_client_reopen); NULL: lent */
    uint32_t cid;
    int have_channel;
    uint32_t last_request_id;
    int operator_timeout_ms;
    volatile sig_atomic_t cancel_requested;
    char error[256];
    os_frame_rx rx;
    uint8_t tx_buf[OS_MAX_MESSAGE];
};

static void set_error(os_client *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
}

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);       /* EINTR ends it early: the caller rechecks cancel */
}

int os_client_open_transport(os_transport *transport, os_client **out) {
    if (transport == NULL) return OS_ERR_ARG;
    if (out == NULL) {
        transport->close(transport);
        return OS_ERR_ARG;
    }
    *out = NULL;
    os_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        transport->close(transport);
        return OS_ERR_IO;
    }
    c->transport = transport;
    /* Ids start at a random point so that replies meant for an earlier process on a reused
     * channel are unlikely to carry an id this client is waiting for. */
    uint8_t start[4];
    if (os_random_bytes(start, sizeof start) != OS_OK) {
        os_client_close(c);
        return OS_ERR_IO;
    }
    c->last_request_id = os_read_le32(start) & 0x3FFFFFFFu;
    os_frame_rx_init(&c->rx);
    *out = c;
    return OS_OK;
}

int os_client_open(const char *spec, os_client **out, char *err, size_t cap) {
    os_transport *t = NULL;
    if (out == NULL) return OS_ERR_ARG;
    *out = NULL;
    int rc = os_transport_open(spec, &t, err, cap);
    if (rc != OS_OK) return rc;
    rc = os_client_open_transport(t, out);
    if (rc == OS_OK && ((*out)->spec = strdup(spec)) == NULL) {
        os_client_close(*out);
        *out = NULL;
        rc = OS_ERR_IO;
    }
    if (rc != OS_OK && err != NULL && cap > 0) snprintf(err, cap, "cannot set up the client: %s", os_status_message(rc));
    return rc;
}

int os_client_reopen(os_client *c, char *err, size_t cap) {
    if (c == NULL) return OS_ERR_ARG;
    if (c->spec == NULL) {
        if (err != NULL && cap > 0) snprintf(err, cap, "the client was not opened from a device spec");
        return OS_ERR_UNSUPPORTED;
    }
    os_transport *t = NULL;
    int rc = os_transport_open(c->spec, &t, err, cap);
    if (rc != OS_OK) return rc;
    if (c->transport != NULL) c->transport->close(c->transport);
    c->transport = t;
    c->have_channel = 0;
    os_frame_rx_init(&c->rx);
    c->error[0] = '\0';
    return OS_OK;
}

void os_client_close(os_client *c) {
    if (c == NULL) return;
    if (c->transport != NULL) c->transport->close(c->transport);
    free(c->spec);
    free(c);
}

void os_client_set_operator_timeout(os_client *c, int timeout_ms) {
    if (c != NULL) c->operator_timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
}

void os_client_request_cancel(os_client *c) {
    if (c != NULL) c->cancel_requested = 1;
}

const char *os_client_last_error(const os_client *c) { return c != NULL ? c->error : ""; }

const char *os_client_description(const os_client *c) {
    return c != NULL && c->transport != NULL ? c->transport->description : "";
}

/* ---------------------------------------------------------------- reports */

static int send_frames(os_client *c, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    os_frame_tx tx;
    uint8_t report[OS_REPORT_SIZE];
    int rc = os_frame_tx_init(&tx, cid, cmd, data, len);
    if (rc != OS_OK) {
        set_error(c, "cannot frame a %zu-byte message: %s", len, os_status_message(rc));
        return rc;
    }
    while (os_frame_tx_next(&tx, report) == 1) {
        if (c->transport->send(c->transport, report) != OS_OK) {
            set_error(c, "%s: sending a report failed (device gone?)", c->transport->description);
            return OS_ERR_IO;
        }
    }
    return OS_OK;
}

/* Waits for the next complete message on channel cid. Messages for other channels are dropped;
 * framing errors on our channel are remembered and reported if nothing valid arrives in time. */
static int receive_message(os_client *c, uint32_t cid, int64_t deadline) {
    int framing_error = OS_OK;
    uint8_t report[OS_REPORT_SIZE];
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            if (framing_error != OS_OK) {
                set_error(c, "%s: broken reply: %s", c->transport->description, os_status_message(framing_error));
                return framing_error;
            }
            set_error(c, "%s: no answer from the device in time", c->transport->description);
            return OS_ERR_TIMEOUT;
        }
        int rc = c->transport->recv(c->transport, report, (int)left);
        if (rc == 0) continue;
        if (rc != 1) {
            set_error(c, "%s: the connection to the device failed or was closed", c->transport->description);
            return OS_ERR_IO;
        }
        int complete = 0;
        int st = os_frame_rx_feed(&c->rx, report, &complete);
        if (st != OS_OK) {
            if (c->rx.cid == cid) framing_error = st;
            continue;
        }
        if (complete && c->rx.cid == cid) return OS_OK;
    }
}

static int frame_error_status(os_client *c) {
    int status = c->rx.length >= 2 ? os_read_be16(c->rx.data) : OS_ERR_FRAME_COMMAND;
    if (status == OS_OK) status = OS_ERR_INTERNAL;   /* an ERROR frame never means success */
    if (status == OS_ERR_FRAME_CHANNEL) c->have_channel = 0;
    set_error(c, "%s: the device rejected the framing: %s (%s)", c->transport->description, os_status_message(status),
              os_status_name(status));
    return status;
}

static int allocate_channel(os_client *c, int64_t deadline) {
    uint8_t nonce[INIT_NONCE_BYTES];
    int rc = os_random_bytes(nonce, sizeof nonce);
    if (rc != OS_OK) {
        set_error(c, "no random bytes for the channel nonce");
        return rc;
    }
    os_frame_rx_init(&c->rx);
    rc = send_frames(c, OS_CID_BROADCAST, OS_FRAME_CMD_INIT, nonce, sizeof nonce);
    if (rc != OS_OK) return rc;
    for (;;) {
        rc = receive_message(c, OS_CID_BROADCAST, deadline);
        if (rc != OS_OK) return rc;
        if (c->rx.cmd == OS_FRAME_CMD_ERROR) return frame_error_status(c);
        if (c->rx.cmd != OS_FRAME_CMD_INIT || c->rx.length < INIT_REPLY_BYTES ||
            memcmp(c->rx.data, nonce, sizeof nonce) != 0) {
            continue;           /* another host's INIT answer, or a stale one */
        }
        uint32_t cid = os_read_be32(c->rx.data + INIT_NONCE_BYTES);
        uint8_t version = c->rx.data[INIT_NONCE_BYTES + 4];
        if (version != OS_PROTOCOL_VERSION) {
            set_error(c, "%s: the device speaks protocol version %u, this host speaks %u: install the host and the"
                         " firmware of one release (proto/PROTOCOL.md, Compatibility)", c->transport->description,
                      version, OS_PROTOCOL_VERSION);
            return OS_ERR_MSG_VERSION;
        }
        if (cid == 0 || cid == OS_CID_BROADCAST) {
            set_error(c, "%s: the device allocated an invalid channel id 0x%08x", c->transport->description, cid);
            return OS_ERR_FRAME_CHANNEL;
        }
        c->cid = cid;
        c->have_channel = 1;
        return OS_OK;
    }
}

int os_client_call(os_client *c, const os_msg *request, os_msg *reply, uint8_t *reply_buf, int timeout_ms) {
    if (c == NULL || request == NULL || reply == NULL || reply_buf == NULL || timeout_ms <= 0) return OS_ERR_ARG;
    int64_t deadline = mono_ms() + timeout_ms;
    c->error[0] = '\0';
    if (!c->have_channel) {
        int rc = allocate_channel(c, deadline);
        if (rc != OS_OK) return rc;
    }

    os_msg msg = *request;
    msg.version = OS_PROTOCOL_VERSION;
    c->last_request_id++;
    if (c->last_request_id == 0) c->last_request_id = 1;
    msg.request_id = c->last_request_id;
    size_t len = 0;
    int rc = os_msg_encode(&msg, c->tx_buf, sizeof c->tx_buf, &len);
    if (rc != OS_OK) {
        set_error(c, "cannot encode the request (type 0x%02x): %s", msg.type, os_status_message(rc));
        return rc;
    }
    os_frame_rx_init(&c->rx);
    rc = send_frames(c, c->cid, OS_FRAME_CMD_MSG, c->tx_buf, len);
    if (rc != OS_OK) return rc;

    for (;;) {
        rc = receive_message(c, c->cid, deadline);
        if (rc != OS_OK) return rc;
        if (c->rx.cmd == OS_FRAME_CMD_ERROR) return frame_error_status(c);
        if (c->rx.cmd != OS_FRAME_CMD_MSG) continue;
        /* The id is read before decoding, so a stale reply is dropped even when it would not
         * decode; only the reply to this request can fail the call. */
        if (c->rx.length >= OS_MSG_HEADER && os_read_le32(c->rx.data + 2) != msg.request_id) continue;
        memcpy(reply_buf, c->rx.data, c->rx.length);
        rc = os_msg_decode(reply_buf, c->rx.length, reply);
        if (rc != OS_OK) {
            set_error(c, "%s: the reply does not decode: %s (%s)", c->transport->description, os_status_message(rc),
                      os_status_name(rc));
            return rc;
        }
        if (reply->request_id != msg.request_id) continue;
        return OS_OK;
    }
}

static void send_cancel(os_client *c, int timeout_ms) {
    os_msg cancel, reply;
    uint8_t buf[OS_MAX_MESSAGE];
    memset(&cancel, 0, sizeof cancel);
    cancel.type = OS_MSG_CANCEL;
    (void)os_client_call(c, &cancel, &reply, buf, timeout_ms);
}

int os_client_call_wait(os_client *c, const os_msg *request, os_msg *reply, uint8_t *reply_buf, int timeout_ms,
                        void (*on_pending)(void *ctx), void *ctx) {
    if (c == NULL) return OS_ERR_ARG;
    int64_t started = mono_ms();
    int told = 0;
    int rc = os_client_call(c, request, reply, reply_buf, timeout_ms);
    while (rc == OS_OK && reply->type == OS_MSG_PENDING) {
        if (!told && on_pending != NULL) on_pending(ctx);
        told = 1;
        int wait = (int)reply->u.pending.poll_after_ms;
        if (wait < POLL_MIN_MS) wait = POLL_MIN_MS;
        if (wait > POLL_MAX_MS) wait = POLL_MAX_MS;
        if (!c->cancel_requested) sleep_ms(wait);
        if (c->cancel_requested) {
            c->cancel_requested = 0;
            send_cancel(c, timeout_ms);
            set_error(c, "cancelled while waiting for the operator");
            return OS_ERR_CANCELLED;
        }
        if (c->operator_timeout_ms > 0 && mono_ms() - started > c->operator_timeout_ms) {
            send_cancel(c, timeout_ms);
            set_error(c, "the operator did not decide within %d ms; cancelled", c->operator_timeout_ms);
            return OS_ERR_TIMEOUT;
        }
        os_msg poll;
        memset(&poll, 0, sizeof poll);
        poll.type = OS_MSG_POLL;
        rc = os_client_call(c, &poll, reply, reply_buf, timeout_ms);
    }
    return rc;
}

/* ---------------------------------------------------------------- refusal text */

static void append(char *buf, size_t cap, size_t *used, const char *fmt, ...) {
    va_list ap;
    if (*used >= cap) return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *used, cap - *used, fmt, ap);
    va_end(ap);
    if (n > 0) *used += (size_t)n < cap - *used ? (size_t)n : cap - *used - 1;
}

/* What the index of an ERROR reply counts, from the code's range (include/oncesign/status.h). */
static const char *index_kind(uint16_t code) {
    switch (code) {
    case OS_ERR_TX_PARSE: case OS_ERR_TX_PREV_TXID: case OS_ERR_TX_PREV_VOUT: case OS_ERR_TX_NOT_OURS:
        return "input";
    case OS_ERR_TX_CHANGE: case OS_ERR_TX_SCRIPT: case OS_ERR_TX_DUST:
        return "output";
    default:
        return (code >= 0x0400 && code < 0x0600) ? "output" : "item";
    }
}

const char *os_client_error_text(const os_msg *error_reply, char *buf, size_t cap) {
    size_t used = 0;
    if (buf == NULL || cap == 0) return buf;
    buf[0] = '\0';
    if (error_reply == NULL || error_reply->type != OS_MSG_ERROR) {
        append(buf, cap, &used, "not an error reply");
        return buf;
    }
    const os_msg_error *e = &error_reply->u.error;
    append(buf, cap, &used, "%s [%s, 0x%04x]", os_status_message(e->code), os_status_name(e->code), e->code);
    if (e->index != 0xFFFF) append(buf, cap, &used, " (%s %u)", index_kind(e->code), e->index);
    if (e->code == OS_ERR_NONCE_COMMITTED && e->detail_len == 32 + 32 + 4 && e->detail != NULL) {
        append(buf, cap, &used, "; nonce ");
        for (int i = 0; i < 32; i++) append(buf, cap, &used, "%02x", e->detail[i]);
        append(buf, cap, &used, " is committed to anchor ");
        for (int i = 63; i >= 32; i--) append(buf, cap, &used, "%02x", e->detail[i]);   /* display order */
        append(buf, cap, &used, ":%u; only a transaction spending that outpoint and paying the same script and "
               "amount can be signed for it", os_read_le32(e->detail + 64));
    } else if (e->detail_len > 0 && e->detail != NULL) {
        int printable = 1;
        for (uint8_t i = 0; i < e->detail_len; i++) {
            if (e->detail[i] < 0x20 || e->detail[i] > 0x7e) printable = 0;
        }
        if (printable) {
            append(buf, cap, &used, ": %.*s", (int)e->detail_len, (const char *)e->detail);
        } else {
            append(buf, cap, &used, "; detail ");
            for (uint8_t i = 0; i < e->detail_len; i++) append(buf, cap, &used, "%02x", e->detail[i]);
        }
    }
    return buf;
}
