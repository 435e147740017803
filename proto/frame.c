/* oncesign — framing of messages into 64-byte reports (contract in proto/frame.h). */
#include "frame.h"

#include <string.h>

#include "bytes.h"
#include "oncesign/check.h"

void os_frame_rx_init(os_frame_rx *rx) {
    if (rx == NULL) return;
    rx->cid = 0;
    rx->cmd = 0;
    rx->length = 0;
    rx->received = 0;
    rx->next_seq = 0;
    rx->assembling = 0;
}

static void rx_discard(os_frame_rx *rx, uint32_t offending_cid) {
    rx->assembling = 0;
    rx->length = 0;
    rx->received = 0;
    rx->next_seq = 0;
    rx->cid = offending_cid;
}

static void rx_append(os_frame_rx *rx, const uint8_t *data, size_t room, int *complete) {
    size_t n = (size_t)(rx->length - rx->received);
    if (n > room) n = room;
    memcpy(rx->data + rx->received, data, n);
    rx->received = (uint16_t)(rx->received + n);
    if (rx->received == rx->length) {
        rx->assembling = 0;
        *complete = 1;
    } else {
        rx->assembling = 1;
    }
}

int os_frame_rx_feed(os_frame_rx *rx, const uint8_t report[OS_REPORT_SIZE], int *complete) {
    uint32_t cid;
    ARG_CHECK(complete != NULL);
    *complete = 0;
    ARG_CHECK(rx != NULL && report != NULL);
    cid = os_read_be32(report);

    if (report[4] & 0x80) {
        uint16_t length = os_read_be16(report + 5);
        int status = OS_OK;
        if (rx->assembling) {
            if (cid != rx->cid) {
                /* Another channel cut into an open message: both are dropped, the newcomer is
                 * told its channel is busy and retries. */
                rx_discard(rx, cid);
                return OS_ERR_FRAME_CHANNEL;
            }
            status = OS_ERR_FRAME_UNEXPECTED;
        }
        if (length > OS_MAX_MESSAGE) {
            rx_discard(rx, cid);
            return OS_ERR_FRAME_LENGTH;
        }
        rx->cid = cid;
        rx->cmd = report[4];
        rx->length = length;
        rx->received = 0;
        rx->next_seq = 0;
        rx_append(rx, report + OS_FRAME_INIT_HEADER, OS_FRAME_INIT_DATA, complete);
        if (status != OS_OK) {
            /* The host gave up on the old message; the new one stays open, but one that already
             * ended in this report is dropped so that the caller never processes a message it
             * also answered with an error. */
            if (*complete) rx_discard(rx, cid);
            *complete = 0;
        }
        return status;
    }

    if (!rx->assembling) {
        rx_discard(rx, cid);
        return OS_ERR_FRAME_UNEXPECTED;
    }
    if (cid != rx->cid) {
        rx_discard(rx, cid);
        return OS_ERR_FRAME_CHANNEL;
    }
    if (report[4] != rx->next_seq) {
        rx_discard(rx, cid);
        return OS_ERR_FRAME_SEQ;
    }
    rx->next_seq++;
    rx_append(rx, report + OS_FRAME_CONT_HEADER, OS_FRAME_CONT_DATA, complete);
    return OS_OK;
}

int os_frame_tx_init(os_frame_tx *tx, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len) {
    ARG_CHECK(tx != NULL);
    ARG_CHECK(data != NULL || len == 0);
    ARG_CHECK((cmd & 0x80) != 0);
    if (len > OS_MAX_MESSAGE) return OS_ERR_FRAME_LENGTH;
    tx->cid = cid;
    tx->cmd = cmd;
    tx->data = data;
    tx->length = (uint16_t)len;
    tx->sent = 0;
    tx->seq = 0;
    tx->started = 0;
    return OS_OK;
}

int os_frame_tx_next(os_frame_tx *tx, uint8_t report[OS_REPORT_SIZE]) {
    size_t n, header;
    if (tx == NULL || report == NULL) return 0;
    if (tx->started && tx->sent >= tx->length) return 0;
    memset(report, 0, OS_REPORT_SIZE);
    os_write_be32(report, tx->cid);
    if (!tx->started) {
        report[4] = tx->cmd;
        os_write_be16(report + 5, tx->length);
        header = OS_FRAME_INIT_HEADER;
        tx->started = 1;
    } else {
        report[4] = tx->seq++;
        header = OS_FRAME_CONT_HEADER;
    }
    n = (size_t)(tx->length - tx->sent);
    if (n > OS_REPORT_SIZE - header) n = OS_REPORT_SIZE - header;
    if (n > 0) memcpy(report + header, tx->data + tx->sent, n);
    tx->sent = (uint16_t)(tx->sent + n);
    return 1;
}

size_t os_frame_report_count(size_t len) {
    if (len <= OS_FRAME_INIT_DATA) return 1;
    return 1 + (len - OS_FRAME_INIT_DATA + OS_FRAME_CONT_DATA - 1) / OS_FRAME_CONT_DATA;
}
