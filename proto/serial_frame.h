/* oncesign — 64-byte reports over a byte stream (a UART), both directions.
 *
 * USB HID and the simulator's SOCK_SEQPACKET socket deliver whole reports; a UART delivers bytes
 * that can be lost, corrupted or cut mid-report (a host that reconnects, a line glitch). Each report
 * travels as one serial frame (proto/PROTOCOL.md, "Byte-stream transport (UART)", is normative):
 *
 *   0x00 | COBS( report(64) | CRC-32(report)(4, little-endian) ) | 0x00
 *
 * COBS (consistent overhead byte stuffing) removes every 0x00 from the body, so 0x00 only ever
 * marks a frame boundary: a receiver that lost track resynchronises at the next 0x00, without
 * scanning back. The body of 68 bytes encodes to exactly 69 bytes (68 < 254: one code byte per run
 * of non-zero bytes, no 0xFF blocks), so a frame is always OS_SERIAL_FRAME_BYTES = 71 bytes long.
 * Empty frames (consecutive 0x00) are ignored, which makes the leading 0x00 a cheap resync marker.
 * CRC-32 is the IEEE 802.3 one (reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF).
 *
 * The same code runs in the firmware (boards/mps2-an386) and in the host (host/lib/transport_serial.c).
 * No heap, no stdio; the receiver is a byte-at-a-time state machine with a 68-byte buffer.
 */
#ifndef ONCESIGN_SERIAL_FRAME_H
#define ONCESIGN_SERIAL_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/protocol.h"

#define OS_SERIAL_CRC_BYTES   4
#define OS_SERIAL_BODY_BYTES  (OS_REPORT_SIZE + OS_SERIAL_CRC_BYTES)   /* 68 */
#define OS_SERIAL_FRAME_BYTES (OS_SERIAL_BODY_BYTES + 3)              /* 0x00, 69 COBS bytes, 0x00 */

/* CRC-32/IEEE (the zlib/PNG one) of len bytes; check value of "123456789" is 0xCBF43926.
 * In: data (may be NULL only when len is 0). */
uint32_t os_crc32(const uint8_t *data, size_t len);

/* Encodes one report as a serial frame.
 * In:  report: OS_REPORT_SIZE bytes.
 * Out: frame: OS_SERIAL_FRAME_BYTES bytes, all written.
 * Returns: OS_SERIAL_FRAME_BYTES (the number of bytes to send). */
size_t os_serial_frame_encode(const uint8_t report[OS_REPORT_SIZE], uint8_t frame[OS_SERIAL_FRAME_BYTES]);

/* Why the receiver dropped bytes; counted in os_serial_rx for diagnostics. */
typedef struct {
    uint32_t frames_ok;       /* reports delivered */
    uint32_t bad_crc;         /* a complete 68-byte body whose CRC did not match */
    uint32_t bad_length;      /* a frame that decoded to another length than 68 (cut, merged) */
    uint32_t bad_cobs;        /* a frame that ended inside a COBS block */
} os_serial_rx_stats;

typedef struct {
    uint8_t body[OS_SERIAL_BODY_BYTES];
    uint8_t used;             /* decoded bytes in body */
    uint8_t block_left;       /* data bytes still expected in the current COBS block */
    uint8_t zero_pending;     /* the current block ends with an implicit 0x00 (code < 0xFF) */
    uint8_t overflow;         /* frame too long: drop everything up to the next 0x00 */
    uint8_t in_frame;         /* at least one byte of the current frame has been seen */
    os_serial_rx_stats stats;
} os_serial_rx;

/* Resets the receiver to "between frames" and clears its statistics. Args: rx (not NULL). */
void os_serial_rx_init(os_serial_rx *rx);

/* Feeds one received byte.
 * Returns: 1 when byte closed a valid frame: report then holds the 64 bytes it carried;
 *          0 otherwise (more bytes needed, an empty frame, or a damaged frame that was dropped and
 *            counted in rx->stats; the receiver is then resynchronised at this 0x00).
 * Args:    rx (not NULL, initialised).
 * Out:     report: OS_REPORT_SIZE bytes, written only when 1 is returned. */
int os_serial_rx_feed(os_serial_rx *rx, uint8_t byte, uint8_t report[OS_REPORT_SIZE]);

#endif /* ONCESIGN_SERIAL_FRAME_H */
