/* oncesign — the one seam between the portable signer core (firmware/) and hardware.
 *
 * Every board (boards/sim, boards/mps2-an386, a USB board) implements exactly these functions and
 * nothing in firmware/ touches a register, a syscall or libc I/O. All functions are called from the
 * single main loop; none is reentrant and none may be called from an interrupt handler.
 *
 * Flash model (what the core relies on for I2, commit before release):
 *  - The flash is board_flash_size() bytes, split in sectors of board_flash_sector_size() bytes.
 *  - Erase sets a whole sector to 0xFF. Write can only clear bits (new = old & data), as NOR flash.
 *  - A power cut during an erase or write leaves that sector or range in an unknown mix of old and
 *    new bits; everything else is untouched. The core must survive that at any write.
 *  - board_flash_write returns only once the data is durable.
 */
#ifndef ONCESIGN_BOARD_H
#define ONCESIGN_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "oncesign/status.h"

#define BOARD_REPORT_SIZE 64

/* Brings the board up: clocks, UART/USB, flash, RNG, display.
 * Returns: OS_OK, or OS_ERR_IO when a peripheral failed (the core then halts). */
int board_init(void);

/* ---- transport: 64-byte reports, in order, none lost on a healthy link ---- */

/* Waits up to timeout_ms for one report from the host.
 * Returns: 1 when report was filled, 0 on timeout, OS_ERR_IO (>0) on a dead link.
 * Out:     report: BOARD_REPORT_SIZE bytes, valid only when 1 is returned. */
int board_transport_recv(uint8_t report[BOARD_REPORT_SIZE], uint32_t timeout_ms);

/* Sends one report to the host. Returns: OS_OK or OS_ERR_IO. */
int board_transport_send(const uint8_t report[BOARD_REPORT_SIZE]);

/* ---- flash ---- */

uint32_t board_flash_size(void);
uint32_t board_flash_sector_size(void);

/* In: offset, len: range inside the flash.  Out: buf (len bytes).
 * Returns: OS_OK, OS_ERR_ARG for a range outside the flash, OS_ERR_IO. */
int board_flash_read(uint32_t offset, void *buf, size_t len);

/* Erases one sector (sets it to 0xFF). Returns: OS_OK, OS_ERR_ARG, OS_ERR_IO. */
int board_flash_erase(uint32_t sector);

/* Programs len bytes at offset (bits can only be cleared). Durable when it returns OS_OK.
 * Returns: OS_OK, OS_ERR_ARG, OS_ERR_IO. */
int board_flash_write(uint32_t offset, const void *buf, size_t len);

/* ---- random: cryptographic quality or an error, never a silent fallback ---- */

/* Out: buf (len bytes of entropy). Returns: OS_OK, or OS_ERR_IO when no good entropy is available. */
int board_random(uint8_t *buf, size_t len);

/* True when board_random is a test-only source (e.g. the QEMU board's seeded DRBG). The core shows
 * a warning on the display at setup and records it in the audit log. */
int board_random_is_test_only(void);

/* ---- time ---- */

/* Milliseconds since boot, monotonic, wraps after 2^64. Not wall-clock time. */
uint64_t board_millis(void);

/* ---- display: a small text screen ---- */

#define BOARD_DISPLAY_COLS 21
#define BOARD_DISPLAY_ROWS 8

/* Replaces the screen with text: at most BOARD_DISPLAY_ROWS lines separated by '\n', each line at
 * most BOARD_DISPLAY_COLS characters (longer lines are cut by the board). text is NUL-terminated
 * and owned by the caller; the board copies what it needs before returning. */
void board_display_show(const char *text);

/* ---- buttons ---- */

typedef enum {
    BOARD_BUTTON_NONE = 0,
    BOARD_BUTTON_APPROVE = 1,
    BOARD_BUTTON_REJECT = 2,
} board_button;

/* A press counts only once the screen it answers has been shown this long (the core ignores
 * earlier presses): a host that swaps the screen (CANCEL, then a new request) just before the
 * operator presses gets nothing for it. Boards whose buttons are driven by a test tool (the
 * simulator's control socket, the QEMU board's UART1) hold such a press until the screen shown
 * when it arrived has settled, and drop it if that screen changed meanwhile, so tests stay
 * deterministic and still model an operator who reacts to what is on the screen. */
#define BOARD_PRESS_SETTLE_MS 400u

/* Returns the button pressed since the last call (one press is returned once), or BOARD_BUTTON_NONE. */
board_button board_button_poll(void);

#endif /* ONCESIGN_BOARD_H */
