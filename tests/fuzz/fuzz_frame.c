/* libFuzzer target: the input is a sequence of 64-byte reports fed to one receiver.
 * Invariants: no message completes with a length above OS_MAX_MESSAGE; a completed message is
 * exactly the data of the init report and the continuations accepted after it, and took exactly
 * os_frame_report_count(length) reports; every error leaves no message open unless it is an
 * init mid-message (which opens the new one); re-framing a completed message reproduces the data
 * parts of the reports that carried it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "frame.h"

static void require(int cond) {
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static os_frame_rx rx;
    static uint8_t shadow[OS_FRAME_INIT_DATA + (OS_FRAME_MAX_CONT + 1) * OS_FRAME_CONT_DATA];
    static uint8_t fed[1 + OS_FRAME_MAX_CONT][OS_REPORT_SIZE];
    size_t shadow_len = 0, n_fed = 0, off;
    int open = 0;

    os_frame_rx_init(&rx);
    for (off = 0; off < size; off += OS_REPORT_SIZE) {
        uint8_t report[OS_REPORT_SIZE];
        size_t chunk = size - off < OS_REPORT_SIZE ? size - off : OS_REPORT_SIZE;
        int complete = 0, status, is_init;
        memset(report, 0, sizeof report);
        memcpy(report, data + off, chunk);
        is_init = (report[4] & 0x80) != 0;

        status = os_frame_rx_feed(&rx, report, &complete);
        require(status == OS_OK || status == OS_ERR_FRAME_LENGTH || status == OS_ERR_FRAME_SEQ ||
                status == OS_ERR_FRAME_UNEXPECTED || status == OS_ERR_FRAME_CHANNEL);
        require(rx.cid == os_read_be32(report));
        if (status != OS_OK) require(!complete);

        if (status == OS_OK || (status == OS_ERR_FRAME_UNEXPECTED && is_init && rx.assembling)) {
            if (is_init) {
                shadow_len = 0;
                n_fed = 0;
                memcpy(shadow, report + OS_FRAME_INIT_HEADER, OS_FRAME_INIT_DATA);
                shadow_len = OS_FRAME_INIT_DATA;
            } else {
                require(open && n_fed < 1 + OS_FRAME_MAX_CONT);
                memcpy(shadow + shadow_len, report + OS_FRAME_CONT_HEADER, OS_FRAME_CONT_DATA);
                shadow_len += OS_FRAME_CONT_DATA;
            }
            memcpy(fed[n_fed++], report, OS_REPORT_SIZE);
            open = rx.assembling;
        } else {
            require(!rx.assembling);
            open = 0;
        }

        if (complete) {
            os_frame_tx tx;
            uint8_t again[OS_REPORT_SIZE];
            size_t i = 0, dlen;
            require(rx.length <= OS_MAX_MESSAGE && rx.received == rx.length);
            require((rx.cmd & 0x80) != 0 && !rx.assembling);
            require(n_fed == os_frame_report_count(rx.length));
            require(rx.length <= shadow_len);
            require(rx.length == 0 || memcmp(rx.data, shadow, rx.length) == 0);
            require(os_frame_tx_init(&tx, rx.cid, rx.cmd, rx.data, rx.length) == OS_OK);
            while (os_frame_tx_next(&tx, again)) {
                require(i < n_fed);
                if (i == 0) {
                    require(memcmp(again, fed[0], OS_FRAME_INIT_HEADER) == 0);
                    dlen = rx.length < OS_FRAME_INIT_DATA ? rx.length : OS_FRAME_INIT_DATA;
                    require(memcmp(again + OS_FRAME_INIT_HEADER, fed[0] + OS_FRAME_INIT_HEADER, dlen) == 0);
                } else {
                    require(memcmp(again, fed[i], OS_FRAME_CONT_HEADER) == 0);
                }
                i++;
            }
            require(i == n_fed);
            n_fed = 0;
            shadow_len = 0;
        }
    }
    return 0;
}
