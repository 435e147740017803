/* oncesign — reports over a byte stream: COBS + CRC-32 frames (contract in proto/serial_frame.h). */
#include "serial_frame.h"

#include <string.h>

#include "bytes.h"

uint32_t os_crc32(const uint8_t *data, size_t len) {
    /* Bitwise: 68 bytes a report does not justify a 1 KiB table in 128 KiB of flash. */
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) {
        crc ^= data[i];
        for (int bit = 0; bit < 8; bit++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return crc ^ 0xFFFFFFFFu;
}

size_t os_serial_frame_encode(const uint8_t report[OS_REPORT_SIZE], uint8_t frame[OS_SERIAL_FRAME_BYTES]) {
    uint8_t body[OS_SERIAL_BODY_BYTES];
    memcpy(body, report, OS_REPORT_SIZE);
    os_write_le32(body + OS_REPORT_SIZE, os_crc32(report, OS_REPORT_SIZE));

    /* COBS: each run of non-zero bytes is preceded by a code byte = run length + 1, and the code
     * stands in for the 0x00 that ends the run. The body is shorter than 254 bytes, so no run
     * needs the 0xFF "no zero follows" code and the output is always body length + 1. */
    size_t code_at = 1, out = 2;
    uint8_t code = 1;
    frame[0] = 0x00;
    for (size_t i = 0; i < OS_SERIAL_BODY_BYTES; i++) {
        if (body[i] == 0x00) {
            frame[code_at] = code;
            code_at = out++;
            code = 1;
        } else {
            frame[out++] = body[i];
            code++;
        }
    }
    frame[code_at] = code;
    frame[out++] = 0x00;
    return out;
}

static void rx_reset_frame(os_serial_rx *rx) {
    rx->used = 0;
    rx->block_left = 0;
    rx->zero_pending = 0;
    rx->overflow = 0;
    rx->in_frame = 0;
}

void os_serial_rx_init(os_serial_rx *rx) {
    if (rx == NULL) return;
    rx_reset_frame(rx);
    memset(&rx->stats, 0, sizeof rx->stats);
}

static void rx_append(os_serial_rx *rx, uint8_t b) {
    if (rx->used >= OS_SERIAL_BODY_BYTES) {
        rx->overflow = 1;
        return;
    }
    rx->body[rx->used++] = b;
}

int os_serial_rx_feed(os_serial_rx *rx, uint8_t byte, uint8_t report[OS_REPORT_SIZE]) {
    if (rx == NULL || report == NULL) return 0;
    if (byte != 0x00) {
        rx->in_frame = 1;
        if (rx->overflow) return 0;
        if (rx->block_left == 0) {
            /* A code byte: the zero the previous block stood for is data only now that another
             * block follows (the last block's implicit zero is not part of the body). */
            if (rx->zero_pending) rx_append(rx, 0x00);
            rx->block_left = (uint8_t)(byte - 1);
            rx->zero_pending = byte != 0xFF;
        } else {
            rx_append(rx, byte);
            rx->block_left--;
        }
        return 0;
    }

    /* 0x00: the frame ends here, whatever state it was in. */
    int delivered = 0;
    if (!rx->in_frame) {
        /* empty frame: the resync marker in front of every frame */
    } else if (!rx->overflow && rx->block_left != 0) {
        rx->stats.bad_cobs++;
    } else if (rx->overflow || rx->used != OS_SERIAL_BODY_BYTES) {
        rx->stats.bad_length++;
    } else if (os_crc32(rx->body, OS_REPORT_SIZE) != os_read_le32(rx->body + OS_REPORT_SIZE)) {
        rx->stats.bad_crc++;
    } else {
        memcpy(report, rx->body, OS_REPORT_SIZE);
        rx->stats.frames_ok++;
        delivered = 1;
    }
    rx_reset_frame(rx);
    return delivered;
}
