/* Unit tests for proto/serial_frame.c: the CRC-32 check value, the exact frame layout, round
 * trips, and resynchronisation after garbage, cut frames, merged frames, overlong frames and every
 * single-bit error in a frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "serial_frame.h"

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

/* Feeds bytes; copies each delivered report into out (up to max); returns how many. */
static size_t feed(os_serial_rx *rx, const uint8_t *bytes, size_t n, uint8_t (*out)[OS_REPORT_SIZE], size_t max) {
    size_t got = 0;
    uint8_t report[OS_REPORT_SIZE];
    for (size_t i = 0; i < n; i++) {
        if (os_serial_rx_feed(rx, bytes[i], report) == 1) {
            assert_true(got < max);
            memcpy(out[got++], report, OS_REPORT_SIZE);
        }
    }
    return got;
}

static void test_crc32_check_value(void **state) {
    (void)state;
    /* The catalogue check value of CRC-32/ISO-HDLC (the zlib/PNG CRC) over "123456789". */
    assert_int_equal(os_crc32((const uint8_t *)"123456789", 9), 0xCBF43926u);
    assert_int_equal(os_crc32(NULL, 0), 0u);
    uint8_t zeros[64] = { 0 };
    assert_int_equal(os_crc32(zeros, sizeof zeros), 0x758D6336u);   /* as zlib.crc32(bytes(64)) */
}

static void test_layout_all_zero_report(void **state) {
    (void)state;
    uint8_t report[OS_REPORT_SIZE] = { 0 }, frame[OS_SERIAL_FRAME_BYTES];
    assert_int_equal(os_serial_frame_encode(report, frame), OS_SERIAL_FRAME_BYTES);
    /* 0x00 marker, 64 zero bytes each become code 0x01, then one block of the 4 CRC bytes
     * (0x758D6336 little-endian) with code 0x05, then the 0x00 delimiter. */
    assert_int_equal(frame[0], 0x00);
    for (int i = 1; i <= 64; i++) assert_int_equal(frame[i], 0x01);
    const uint8_t tail[] = { 0x05, 0x36, 0x63, 0x8D, 0x75, 0x00 };
    assert_memory_equal(frame + 65, tail, sizeof tail);
}

static void test_layout_no_zero_report(void **state) {
    (void)state;
    uint8_t report[OS_REPORT_SIZE], frame[OS_SERIAL_FRAME_BYTES];
    for (int i = 0; i < OS_REPORT_SIZE; i++) report[i] = (uint8_t)(i + 1);
    assert_int_equal(os_serial_frame_encode(report, frame), OS_SERIAL_FRAME_BYTES);
    uint32_t crc = os_crc32(report, sizeof report);
    /* No zero in the report and none in its CRC: one block of 68 bytes, code 69. */
    assert_true((crc & 0xFFu) && (crc & 0xFF00u) && (crc & 0xFF0000u) && (crc & 0xFF000000u));
    assert_int_equal(frame[0], 0x00);
    assert_int_equal(frame[1], 69);
    assert_memory_equal(frame + 2, report, OS_REPORT_SIZE);
    assert_int_equal(frame[66], (uint8_t)crc);
    assert_int_equal(frame[70], 0x00);
}

static void test_round_trips(void **state) {
    (void)state;
    os_serial_rx rx;
    os_serial_rx_init(&rx);
    for (uint32_t seed = 0; seed < 500; seed++) {
        uint8_t report[OS_REPORT_SIZE], frame[OS_SERIAL_FRAME_BYTES], got[1][OS_REPORT_SIZE];
        fill(report, sizeof report, seed);
        /* Sprinkle zeros, runs of them and 0xFF bytes: COBS's edge cases. */
        for (int i = 0; i < OS_REPORT_SIZE; i++) {
            if ((report[i] & 7) == 0) report[i] = 0;
            if ((report[i] & 0x1F) == 3) report[i] = 0xFF;
        }
        if (seed % 7 == 0) memset(report + (seed % 50), 0, 10);
        assert_int_equal(os_serial_frame_encode(report, frame), OS_SERIAL_FRAME_BYTES);
        for (int i = 1; i < OS_SERIAL_FRAME_BYTES - 1; i++) assert_int_not_equal(frame[i], 0x00);
        assert_int_equal(feed(&rx, frame, sizeof frame, got, 1), 1);
        assert_memory_equal(got[0], report, OS_REPORT_SIZE);
    }
    assert_int_equal(rx.stats.frames_ok, 500);
    assert_int_equal(rx.stats.bad_crc + rx.stats.bad_length + rx.stats.bad_cobs, 0);
}

static void test_back_to_back_without_markers(void **state) {
    (void)state;
    /* A sender may omit the leading 0x00: the previous frame's delimiter is enough. */
    uint8_t a[OS_REPORT_SIZE], b[OS_REPORT_SIZE], fa[OS_SERIAL_FRAME_BYTES], fb[OS_SERIAL_FRAME_BYTES];
    uint8_t stream[2 * OS_SERIAL_FRAME_BYTES], got[2][OS_REPORT_SIZE];
    fill(a, sizeof a, 1);
    fill(b, sizeof b, 2);
    os_serial_frame_encode(a, fa);
    os_serial_frame_encode(b, fb);
    memcpy(stream, fa, sizeof fa);
    memcpy(stream + sizeof fa, fb + 1, sizeof fb - 1);
    os_serial_rx rx;
    os_serial_rx_init(&rx);
    assert_int_equal(feed(&rx, stream, sizeof stream - 1, got, 2), 2);
    assert_memory_equal(got[0], a, OS_REPORT_SIZE);
    assert_memory_equal(got[1], b, OS_REPORT_SIZE);
}

static void test_resync_after_garbage_and_cut_frames(void **state) {
    (void)state;
    uint8_t a[OS_REPORT_SIZE], b[OS_REPORT_SIZE], fa[OS_SERIAL_FRAME_BYTES], fb[OS_SERIAL_FRAME_BYTES];
    uint8_t got[4][OS_REPORT_SIZE];
    fill(a, sizeof a, 10);
    fill(b, sizeof b, 11);
    os_serial_frame_encode(a, fa);
    os_serial_frame_encode(b, fb);
    os_serial_rx rx;
    os_serial_rx_init(&rx);

    /* Line noise before anything: dropped at the first frame's leading 0x00. */
    uint8_t noise[37];
    fill(noise, sizeof noise, 99);
    for (size_t i = 0; i < sizeof noise; i++) if (noise[i] == 0) noise[i] = 0x5A;   /* one frame of noise */
    assert_int_equal(feed(&rx, noise, sizeof noise, got, 4), 0);
    assert_int_equal(feed(&rx, fa, sizeof fa, got, 4), 1);
    assert_memory_equal(got[0], a, OS_REPORT_SIZE);

    /* A frame cut after 30 bytes (the host went away), then a whole frame. */
    assert_int_equal(feed(&rx, fb, 30, got, 4), 0);
    assert_int_equal(feed(&rx, fa, sizeof fa, got, 4), 1);
    assert_memory_equal(got[0], a, OS_REPORT_SIZE);
    assert_int_equal(rx.stats.bad_length + rx.stats.bad_cobs, 2);   /* the noise and the cut frame */

    /* Far too long a run of non-zero bytes: dropped as one overlong frame. */
    uint8_t longrun[300];
    memset(longrun, 0x42, sizeof longrun);
    uint32_t before = rx.stats.bad_length;
    assert_int_equal(feed(&rx, longrun, sizeof longrun, got, 4), 0);
    assert_int_equal(feed(&rx, fb, sizeof fb, got, 4), 1);
    assert_memory_equal(got[0], b, OS_REPORT_SIZE);
    assert_int_equal(rx.stats.bad_length, before + 1);

    /* Empty frames are not errors. */
    uint8_t zeros[10] = { 0 };
    uint32_t errors = rx.stats.bad_length + rx.stats.bad_cobs + rx.stats.bad_crc;
    assert_int_equal(feed(&rx, zeros, sizeof zeros, got, 4), 0);
    assert_int_equal(rx.stats.bad_length + rx.stats.bad_cobs + rx.stats.bad_crc, errors);
}

static void test_every_single_bit_error_is_dropped(void **state) {
    (void)state;
    uint8_t a[OS_REPORT_SIZE], b[OS_REPORT_SIZE], fa[OS_SERIAL_FRAME_BYTES], fb[OS_SERIAL_FRAME_BYTES];
    uint8_t got[4][OS_REPORT_SIZE];
    fill(a, sizeof a, 20);
    for (int i = 0; i < OS_REPORT_SIZE; i += 9) a[i] = 0;
    fill(b, sizeof b, 21);
    os_serial_frame_encode(a, fa);
    os_serial_frame_encode(b, fb);
    for (size_t byte = 1; byte < OS_SERIAL_FRAME_BYTES - 1; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t bad[OS_SERIAL_FRAME_BYTES];
            memcpy(bad, fa, sizeof bad);
            bad[byte] ^= (uint8_t)(1u << bit);
            os_serial_rx rx;
            os_serial_rx_init(&rx);
            /* The damaged frame never yields a report; the next good frame always does. */
            assert_int_equal(feed(&rx, bad, sizeof bad, got, 4), 0);
            assert_int_equal(feed(&rx, fb, sizeof fb, got, 4), 1);
            assert_memory_equal(got[0], b, OS_REPORT_SIZE);
            assert_true(rx.stats.bad_crc + rx.stats.bad_length + rx.stats.bad_cobs >= 1);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32_check_value),
        cmocka_unit_test(test_layout_all_zero_report),
        cmocka_unit_test(test_layout_no_zero_report),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_back_to_back_without_markers),
        cmocka_unit_test(test_resync_after_garbage_and_cut_frames),
        cmocka_unit_test(test_every_single_bit_error_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
