/* libFuzzer target: the input is a byte stream fed to one serial-frame receiver.
 * Invariants: every delivered report re-encodes to a frame that a fresh receiver decodes to the same
 * report (nothing is delivered that the encoder could not have produced); the statistics account
 * for every non-empty frame; encoding the first 64 input bytes and decoding the frame round-trips. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serial_frame.h"

static void require(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    os_serial_rx rx, check;
    uint8_t report[OS_REPORT_SIZE], again[OS_REPORT_SIZE], frame[OS_SERIAL_FRAME_BYTES];
    uint32_t delivered = 0, frames = 0;
    int in_frame = 0;

    os_serial_rx_init(&rx);
    for (size_t i = 0; i < size; i++) {
        int got = os_serial_rx_feed(&rx, data[i], report);
        require(got == 0 || got == 1);
        if (data[i] != 0) in_frame = 1;
        else if (in_frame) { frames++; in_frame = 0; }
        require(got == 0 || data[i] == 0);
        if (got) {
            delivered++;
            require(os_serial_frame_encode(report, frame) == OS_SERIAL_FRAME_BYTES);
            os_serial_rx_init(&check);
            int n = 0;
            for (size_t j = 0; j < sizeof frame; j++) n += os_serial_rx_feed(&check, frame[j], again);
            require(n == 1 && memcmp(report, again, sizeof report) == 0);
        }
    }
    require(rx.stats.frames_ok == delivered);
    require(rx.stats.frames_ok + rx.stats.bad_crc + rx.stats.bad_length + rx.stats.bad_cobs == frames);

    if (size >= OS_REPORT_SIZE) {
        require(os_serial_frame_encode(data, frame) == OS_SERIAL_FRAME_BYTES);
        for (size_t j = 1; j + 1 < sizeof frame; j++) require(frame[j] != 0);
        os_serial_rx_init(&check);
        int n = 0;
        for (size_t j = 0; j < sizeof frame; j++) n += os_serial_rx_feed(&check, frame[j], again);
        require(n == 1 && memcmp(data, again, OS_REPORT_SIZE) == 0);
    }
    return 0;
}
