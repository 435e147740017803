/* oncesign — framing of messages into 64-byte reports (CTAPHID-like), both directions.
 *
 * Init report:         cid(4, BE) | cmd(1, bit 7 set) | length(2, BE) | data(57)
 * Continuation report: cid(4, BE) | seq(1, 0..127, bit 7 clear) | data(59)
 * Unused bytes at the end of the last report are zero. proto/PROTOCOL.md is normative.
 *
 * The receiver (os_frame_rx) reassembles one message at a time on one channel. Any lost,
 * duplicated or reordered continuation, a continuation with no message open, an init report in the
 * middle of a message, a length above OS_MAX_MESSAGE or a report for another channel mid-message is
 * reported as an error and the partial message is discarded: nothing is ever half-processed.
 */
#ifndef ONCESIGN_FRAME_H
#define ONCESIGN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"
#include "oncesign/status.h"

typedef struct {
    uint32_t cid;               /* channel of the message being assembled / just completed */
    uint8_t cmd;                /* frame command of that message */
    uint16_t length;            /* declared total length */
    uint16_t received;          /* bytes of data received so far */
    uint8_t next_seq;           /* expected continuation sequence number */
    uint8_t assembling;         /* 1 while a message is open */
    uint8_t data[OS_MAX_MESSAGE];
} os_frame_rx;

/* Resets the receiver: no message open. Args: rx (not NULL). */
void os_frame_rx_init(os_frame_rx *rx);

/* Feeds one report to the receiver.
 * Returns: OS_OK (check *complete), or a framing error:
 *          OS_ERR_FRAME_LENGTH     declared length > OS_MAX_MESSAGE
 *          OS_ERR_FRAME_SEQ        continuation out of sequence (lost, duplicated, reordered)
 *          OS_ERR_FRAME_UNEXPECTED continuation without init, or init while a message is open
 *          OS_ERR_FRAME_CHANNEL    report for another channel while a message is open
 *          OS_ERR_ARG              NULL arguments
 *          On every error the open message is discarded; rx->cid holds the channel of the
 *          offending report so the caller can address an ERROR frame to it. An init report that
 *          arrives while a message is open is an error AND starts the new message (the host gave up
 *          on the old one), so the next continuations of the new message are accepted.
 * Out:     *complete = 1 when a whole message is in rx->data[0..rx->length) with rx->cid and
 *          rx->cmd; it stays there until the next call to os_frame_rx_feed. Else 0.
 */
int os_frame_rx_feed(os_frame_rx *rx, const uint8_t report[OS_REPORT_SIZE], int *complete);

typedef struct {
    uint32_t cid;
    uint8_t cmd;
    const uint8_t *data;        /* borrowed: must stay valid until the last report is produced */
    uint16_t length;
    uint16_t sent;
    uint8_t seq;
    uint8_t started;
} os_frame_tx;

/* Prepares to split a message into reports.
 * Returns: OS_OK, OS_ERR_FRAME_LENGTH when len > OS_MAX_MESSAGE, OS_ERR_ARG (NULL tx, data NULL
 *          with len > 0, cmd without bit 7). */
int os_frame_tx_init(os_frame_tx *tx, uint32_t cid, uint8_t cmd, const uint8_t *data, size_t len);

/* Produces the next report.
 * Returns: 1 when report was filled, 0 when the message is complete (report untouched).
 *          A zero-length message produces exactly one init report. */
int os_frame_tx_next(os_frame_tx *tx, uint8_t report[OS_REPORT_SIZE]);

/* Number of reports a message of len bytes takes (1 + continuations). */
size_t os_frame_report_count(size_t len);

#endif /* ONCESIGN_FRAME_H */
