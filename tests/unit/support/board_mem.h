/* oncesign — an in-memory board (boards/board.h) for unit tests, linked into every unit test.
 *
 *  - Flash with NOR semantics: erase sets a sector to 0xFF, write ANDs the data into it. A fresh
 *    blank flash of BOARD_MEM_DEFAULT_FLASH_SIZE / BOARD_MEM_DEFAULT_SECTOR_SIZE exists before any
 *    board_mem_reset.
 *  - Power cuts: board_mem_set_power_cut(n) makes the n-th flash write or erase from now a torn
 *    operation (deterministic, see below) that then longjmps to the jmp_buf registered with
 *    board_mem_on_power_cut. The flash image survives the jump, so a test "reboots" by calling
 *    storage_load again:
 *
 *        static jmp_buf cut;
 *        board_mem_on_power_cut(&cut);
 *        board_mem_set_power_cut(k);
 *        if (setjmp(cut) == 0) { do_commits(); board_mem_set_power_cut(0); }
 *        storage_load(&st, &seq);   // after the cut, or after a run that never reached op k
 *
 *    A torn write leaves every byte of the range at old & (new or a random subset of new's zero
 *    bits): a written prefix of pseudo-random length (possibly all of it), then a random bit mix
 *    or the old contents. A torn erase leaves the sector as random garbage, as old | random bits,
 *    or with an erased prefix. Which one is chosen follows board_mem_seed_random's generator.
 *    Locals modified between setjmp and longjmp must be volatile (C11 7.13.2.1).
 *  - Buttons: a queue filled by board_mem_push_button, drained by board_button_poll.
 *  - Display: board_mem_display_text returns the last text shown ("" before any), and
 *    board_mem_display_count how many times board_display_show was called.
 *  - Transport: two queues of BOARD_REPORT_SIZE reports. board_mem_push_report queues a report
 *    from the host to the device (board_transport_recv returns it); board_mem_pop_report takes
 *    what the device sent (board_transport_send). board_transport_recv on an empty queue returns 0
 *    (timeout) at once and advances the clock by timeout_ms.
 *  - Random: deterministic from board_mem_seed_random (splitmix64); board_random_is_test_only
 *    returns 1. board_mem_fail_random(1) makes board_random return OS_ERR_IO.
 *  - Time: board_millis returns a settable clock (board_mem_set_millis / board_mem_advance_millis).
 */
#ifndef ONCESIGN_BOARD_MEM_H
#define ONCESIGN_BOARD_MEM_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "board.h"

#define BOARD_MEM_MAX_FLASH           (1024u * 1024u)
#define BOARD_MEM_DEFAULT_FLASH_SIZE  (16u * 4096u)
#define BOARD_MEM_DEFAULT_SECTOR_SIZE 4096u
#define BOARD_MEM_REPORT_QUEUE        256

/* Fresh board: blank flash of flash_size bytes in sectors of sector_size (flash_size a multiple
 * of sector_size, at most BOARD_MEM_MAX_FLASH; aborts otherwise), empty queues, clock 0, blank
 * display, power cut disarmed, flash op counter 0, random seeded with 0, random failure off. */
void board_mem_reset(uint32_t flash_size, uint32_t sector_size);

/* The flash contents, writable so tests can flip bits or plant garbage. */
uint8_t *board_mem_flash_image(void);
uint32_t board_mem_flash_size(void);

/* Arms a power cut at the nth (1 = the next) flash write or erase from now; 0 disarms. The cut
 * disarms itself when it fires. Aborts the test if it fires with no jmp_buf registered. */
void board_mem_set_power_cut(uint32_t nth_write_or_erase);
void board_mem_on_power_cut(jmp_buf *target);
/* Writes and erases performed (including a torn one) since board_mem_reset. */
uint32_t board_mem_flash_ops(void);

/* Runs fn(ctx) with its own jmp_buf registered: returns 1 when an armed power cut fired inside
 * fn (fn was abandoned mid-way), 0 when fn returned (the cut, if any, is then disarmed). The
 * previously registered jmp_buf is restored either way. The simplest way to use power cuts:
 *     board_mem_set_power_cut(k);
 *     int cut = board_mem_run_until_cut(do_commits, &ctx);   // then reboot: storage_load(...)
 */
int board_mem_run_until_cut(void (*fn)(void *ctx), void *ctx);

/* Flash faults, a bit set: 1 every write, 2 every erase fails with OS_ERR_IO without touching the
 * flash; 4 every erase reports OS_OK but leaves the sector as it was (a worn sector, caught only
 * by reading back). 0 restores normal operation. */
void board_mem_fail_flash(int which);

void board_mem_push_button(board_button button);

const char *board_mem_display_text(void);
/* Every text shown since board_mem_reset or the last clear, each followed by "\n--\n" (bounded:
 * 64 KiB, then cut). */
const char *board_mem_display_transcript(void);
void board_mem_display_transcript_clear(void);
uint32_t board_mem_display_count(void);

/* Host → device. Returns 0, or -1 when the queue is full. */
int board_mem_push_report(const uint8_t report[BOARD_REPORT_SIZE]);
/* Device → host. Returns 1 when a report was taken, 0 when none is queued. */
int board_mem_pop_report(uint8_t report[BOARD_REPORT_SIZE]);

void board_mem_seed_random(uint64_t seed);
void board_mem_fail_random(int fail);

void board_mem_set_millis(uint64_t ms);
void board_mem_advance_millis(uint64_t ms);

#endif /* ONCESIGN_BOARD_MEM_H */
