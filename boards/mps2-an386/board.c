/* oncesign — the mps2-an386 board (Cortex-M4 under QEMU): boards/board.h on bare metal.
 *
 *   transport  UART0: 64-byte reports as COBS + CRC-32 frames (proto/serial_frame.h)
 *   buttons,   UART1: a line protocol like the simulator's control socket (ping, approve, reject,
 *   display           screen, stats, stats-reset); see README.md
 *   flash      a 256 KiB file on the QEMU host through ARM semihosting, with NOR semantics emulated
 *              here (erase sets 0xFF, a write can only clear bits)
 *   random     TEST ONLY: HMAC_DRBG (mbedtls, SHA-256) seeded from a host-provided seed file; there
 *              is no TRNG on this board. board_random_is_test_only() is 1, and this file refuses to
 *              compile unless the build says it targets QEMU (ONCESIGN_QEMU_TEST_RNG).
 *   time       SysTick every millisecond
 *
 * Single-threaded: the interrupt handlers only acknowledge (they wake the WFI in wait_for_event);
 * every byte is read by the main loop, and QEMU holds further input while the one-byte receive
 * register is full, so nothing is lost and nothing is shared with an interrupt but the tick count.
 */
#include <stdint.h>
#include <string.h>

#include <mbedtls/hmac_drbg.h>
#include <mbedtls/md.h>
#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/platform_util.h>

#include "board.h"
#include "board_mps2.h"
#include "crypto.h"
#include "mps2.h"
#include "oncesign/status.h"
#include "semihost.h"
#include "serial_frame.h"

#if !defined(ONCESIGN_QEMU_TEST_RNG) || ONCESIGN_QEMU_TEST_RNG != 1
#error "boards/mps2-an386 has no TRNG: its random source is a test-only DRBG from a seed file. \
It is built only for QEMU (mk/qemu.mk defines ONCESIGN_QEMU_TEST_RNG=1); never flash it to hardware."
#endif

#define FLASH_FILE        "oncesign-flash.img"
#define SEED_FILE         "oncesign-rng-seed.bin"
#define FLASH_SECTOR      4096u
#define FLASH_SIZE        (64u * FLASH_SECTOR)
#define FLASH_CHUNK       256u
#define SEED_MIN          32
#define SEED_MAX          64
#define TX_TIMEOUT_MS     1000u
#define CONTROL_LINE_MAX  64
#define RECORDS           64

/* ---------------------------------------------------------------- time */

static volatile uint32_t g_ms_lo, g_ms_hi;

void SysTick_Handler(void) {
    uint32_t lo = g_ms_lo + 1;
    if (lo == 0) g_ms_hi++;
    g_ms_lo = lo;
}

uint64_t board_millis(void) {
    uint32_t hi, lo;
    do {
        hi = g_ms_hi;
        lo = g_ms_lo;
    } while (hi != g_ms_hi);
    return ((uint64_t)hi << 32) | lo;
}

/* Busy time in timer ticks: everything except the WFI sleeps of wait_for_event. The 32-bit timer
 * wraps every 171 s; it is read far more often than that (every wait, every report). */
static uint32_t g_tick_last;
static uint64_t g_ticks, g_idle_ticks;

static uint64_t ticks_now(void) {
    uint32_t t = ~TIMER_VALUE(MPS2_TIMER0_BASE);   /* a down-counter, so count up */
    g_ticks += (uint32_t)(t - g_tick_last);
    g_tick_last = t;
    return g_ticks;
}

static uint64_t busy_now(void) { return ticks_now() - g_idle_ticks; }

static int rx_pending(void) {
    return (UART_STATE(MPS2_UART0_BASE) & UART_STATE_RXFULL) || (UART_STATE(MPS2_UART1_BASE) & UART_STATE_RXFULL);
}

/* Sleeps until an interrupt (a received byte, or the next millisecond tick). Interrupts are masked
 * around the check so a byte arriving just before the WFI still wakes it. */
static void wait_for_event(void) {
    __asm__ volatile("cpsid i" ::: "memory");
    if (!rx_pending()) {
        uint64_t before = ticks_now();
        __asm__ volatile("dsb\n\twfi" ::: "memory");
        g_idle_ticks += ticks_now() - before;
    }
    __asm__ volatile("cpsie i" ::: "memory");
}

void Uart0Rx_Handler(void) { UART_INTSTATUS(MPS2_UART0_BASE) = UART_INT_RX; }
void Uart1Rx_Handler(void) { UART_INTSTATUS(MPS2_UART1_BASE) = UART_INT_RX; }

/* ---------------------------------------------------------------- UARTs */

static void uart_init(uint32_t base) {
    UART_BAUDDIV(base) = MPS2_SYSCLK_HZ / 115200u;   /* QEMU ignores the rate but wants >= 16 */
    UART_CTRL(base) = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXINTEN;
}

static int uart_getc(uint32_t base, uint8_t *c) {
    if (!(UART_STATE(base) & UART_STATE_RXFULL)) return 0;
    *c = (uint8_t)UART_DATA(base);
    return 1;
}

static int uart_write(uint32_t base, const uint8_t *p, size_t n) {
    uint64_t deadline = board_millis() + TX_TIMEOUT_MS;
    for (size_t i = 0; i < n; i++) {
        while (UART_STATE(base) & UART_STATE_TXFULL) {
            if (board_millis() > deadline) return OS_ERR_IO;   /* nobody drains the line */
        }
        UART_DATA(base) = p[i];
    }
    return OS_OK;
}

static void uart_puts(uint32_t base, const char *s) { (void)uart_write(base, (const uint8_t *)s, strlen(s)); }

static void uart_put_u64(uint32_t base, uint64_t v) {
    char digits[21];
    size_t n = sizeof digits;
    digits[--n] = '\0';
    do {
        digits[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    uart_puts(base, digits + n);
}

/* ---------------------------------------------------------------- measurements */

typedef struct {
    uint8_t cmd;        /* frame command of the init report */
    uint8_t type;       /* message type for OS_FRAME_CMD_MSG, else 0 */
    uint32_t ticks;     /* busy ticks from this init report to the next one */
} busy_record;

static struct {
    busy_record rec[RECORDS];
    uint32_t count;     /* records started since the last reset (the ring keeps the last RECORDS) */
    uint64_t start;     /* busy_now() when the newest record started */
    uint32_t calib_insns, calib_ticks;
} g_meas;

static void record_close(void) {
    if (g_meas.count == 0) return;
    busy_record *r = &g_meas.rec[(g_meas.count - 1) % RECORDS];
    uint64_t t = busy_now() - g_meas.start;
    r->ticks = t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

static void record_report(const uint8_t report[BOARD_REPORT_SIZE]) {
    if (!(report[4] & 0x80)) return;   /* continuation: same message */
    record_close();
    busy_record *r = &g_meas.rec[g_meas.count % RECORDS];
    r->cmd = report[4];
    r->type = report[4] == OS_FRAME_CMD_MSG ? report[OS_FRAME_INIT_HEADER + 1] : 0;
    r->ticks = 0;
    g_meas.count++;
    g_meas.start = busy_now();
}

/* Times a loop of known length: 2 instructions an iteration (subs, bne). Under -icount shift=0 this
 * gives the instructions a timer tick stands for, so the figures do not rest on an assumption. */
static void calibrate(void) {
    uint32_t n = 100000;
    uint64_t before = ticks_now();
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    g_meas.calib_ticks = (uint32_t)(ticks_now() - before);
    g_meas.calib_insns = 2u * 100000u;
}

uint32_t board_stack_used(void) {
    extern uint32_t _sstack[], _estack[];
    const uint32_t *p = _sstack;
    while (p < _estack && *p == MPS2_STACK_PAINT) p++;
    return (uint32_t)((uintptr_t)_estack - (uintptr_t)p);
}

/* ---------------------------------------------------------------- display and buttons (UART1) */

static os_serial_rx g_serial_rx;   /* UART0's receiver (transport below); `stats` shows its counters */
static char g_screen[BOARD_DISPLAY_ROWS][BOARD_DISPLAY_COLS + 1];
static int g_screen_rows;
static board_button g_button;
static uint32_t g_button_screen;       /* g_screen_generation when the press arrived */
static uint32_t g_screen_generation;   /* counts board_display_show calls */
static uint64_t g_screen_shown_ms;
static char g_line[CONTROL_LINE_MAX];
static size_t g_line_len;
static int g_line_too_long;

void board_display_show(const char *text) {
    int row = 0;
    size_t col = 0;
    memset(g_screen, 0, sizeof g_screen);
    g_screen_generation++;
    g_screen_shown_ms = board_millis();
    if (text == NULL) text = "";
    for (const char *p = text; *p != '\0' && row < BOARD_DISPLAY_ROWS; p++) {
        if (*p == '\n') {
            row++;
            col = 0;
        } else if (col < BOARD_DISPLAY_COLS) {
            unsigned char ch = (unsigned char)*p;
            g_screen[row][col++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
    }
    if (row < BOARD_DISPLAY_ROWS && col > 0) row++;
    g_screen_rows = row;
}

/* Times the core's crypto primitives once each (in timer ticks; qemu_check.sh converts them with the
 * calibration) so the payout's instruction count can be split into what dominates it. The key is a
 * fixed test value, never a device key. */
static void bench_one(const char *name, uint64_t before, int status) {
    uint64_t t = ticks_now() - before;
    uart_puts(MPS2_UART1_BASE, "prim ");
    uart_puts(MPS2_UART1_BASE, name);
    uart_puts(MPS2_UART1_BASE, status == OS_OK ? " " : " failed ");
    uart_put_u64(MPS2_UART1_BASE, t);
    uart_puts(MPS2_UART1_BASE, "\n");
}

static void bench_primitives(void) {
    uint8_t priv[32], msg[32], pub[33], der[CRYPTO_DER_MAX], sig[64], xonly[32], aux[32] = { 0 };
    uint8_t block[64] = { 0 };
    crypto_schnorr_key key;
    size_t der_len = sizeof der;
    uint64_t t;
    crypto_sha256((const uint8_t *)"oncesign bench key", 18, priv);
    crypto_sha256((const uint8_t *)"oncesign bench msg", 18, msg);
    t = ticks_now(); crypto_sha256(block, sizeof block, msg); bench_one("sha256_64B", t, OS_OK);
    t = ticks_now(); bench_one("pubkey_create", t, crypto_pubkey_from_priv(priv, pub));
    t = ticks_now(); bench_one("ecdsa_sign_and_check", t, crypto_ecdsa_sign(priv, pub, msg, der, &der_len));
    t = ticks_now(); bench_one("ecdsa_verify", t, crypto_ecdsa_verify(pub, msg, der, der_len));
    t = ticks_now(); bench_one("xonly_create", t, crypto_xonly_from_priv(priv, xonly));
    t = ticks_now(); bench_one("schnorr_key_load", t, crypto_schnorr_key_load(priv, &key));
    t = ticks_now(); bench_one("schnorr_sign_and_check", t, crypto_schnorr_sign(&key, msg, aux, sig));
    t = ticks_now(); bench_one("schnorr_verify", t, crypto_schnorr_verify(xonly, msg, sig));
    crypto_wipe(priv, sizeof priv);
    crypto_schnorr_key_wipe(&key);
    uart_puts(MPS2_UART1_BASE, ".\n");
}

/* String equality without newlib's strcmp (700 bytes of flash, and flash is what this image lacks). */
static int line_is(const char *line, const char *command) {
    while (*line != '\0' && *line == *command) {
        line++;
        command++;
    }
    return *line == *command;
}

static void control_command(const char *line) {
    const uint32_t u1 = MPS2_UART1_BASE;
    if (line_is(line, "ping")) {
        uart_puts(u1, "pong\n");
    } else if (line_is(line, "approve") || line_is(line, "reject")) {
        g_button = line[0] == 'a' ? BOARD_BUTTON_APPROVE : BOARD_BUTTON_REJECT;
        g_button_screen = g_screen_generation;
        uart_puts(u1, "ok\n");
    } else if (line_is(line, "screen")) {
        for (int r = 0; r < g_screen_rows; r++) {
            if (g_screen[r][0] == '.') uart_puts(u1, ".");   /* dot-stuffing, as the simulator */
            uart_puts(u1, g_screen[r]);
            uart_puts(u1, "\n");
        }
        uart_puts(u1, ".\n");
    } else if (line_is(line, "bench")) {
        bench_primitives();
    } else if (line_is(line, "stats-reset")) {
        g_meas.count = 0;
        uart_puts(u1, "ok\n");
    } else if (line_is(line, "stats")) {
        record_close();
        uart_puts(u1, "stack_used ");
        uart_put_u64(u1, board_stack_used());
        uart_puts(u1, "\ntimer_hz ");
        uart_put_u64(u1, MPS2_SYSCLK_HZ);
        uart_puts(u1, "\ncalib_insns ");
        uart_put_u64(u1, g_meas.calib_insns);
        uart_puts(u1, " calib_ticks ");
        uart_put_u64(u1, g_meas.calib_ticks);
        uart_puts(u1, "\nserial_rx ok ");
        uart_put_u64(u1, g_serial_rx.stats.frames_ok);
        uart_puts(u1, " bad_crc ");
        uart_put_u64(u1, g_serial_rx.stats.bad_crc);
        uart_puts(u1, " bad_length ");
        uart_put_u64(u1, g_serial_rx.stats.bad_length);
        uart_puts(u1, " bad_cobs ");
        uart_put_u64(u1, g_serial_rx.stats.bad_cobs);
        uart_puts(u1, "\n");
        uint32_t first = g_meas.count > RECORDS ? g_meas.count - RECORDS : 0;
        for (uint32_t i = first; i < g_meas.count; i++) {
            const busy_record *r = &g_meas.rec[i % RECORDS];
            uart_puts(u1, "msg ");
            uart_put_u64(u1, i);
            uart_puts(u1, " ");
            uart_put_u64(u1, r->cmd);
            uart_puts(u1, " ");
            uart_put_u64(u1, r->type);
            uart_puts(u1, " ");
            uart_put_u64(u1, r->ticks);
            uart_puts(u1, "\n");
        }
        uart_puts(u1, ".\n");
    } else {
        uart_puts(u1, "error: unknown command (ping, approve, reject, screen, stats, stats-reset, bench)\n");
    }
}

static void control_service(void) {
    uint8_t c;
    while (uart_getc(MPS2_UART1_BASE, &c)) {
        if (c == '\n') {
            g_line[g_line_len] = '\0';
            while (g_line_len > 0 && (g_line[g_line_len - 1] == '\r' || g_line[g_line_len - 1] == ' '))
                g_line[--g_line_len] = '\0';
            /* An empty line is ignored: clients send one first to end a half line left behind. */
            if (g_line_too_long) uart_puts(MPS2_UART1_BASE, "error: line too long\n");
            else if (g_line_len > 0) control_command(g_line);
            g_line_len = 0;
            g_line_too_long = 0;
        } else if (g_line_len + 1 < sizeof g_line) {
            g_line[g_line_len++] = (char)c;
        } else {
            g_line_too_long = 1;
        }
    }
}

board_button board_button_poll(void) {
    control_service();
    board_button b = g_button;
    if (b == BOARD_BUTTON_NONE) return b;
    /* board.h, BOARD_PRESS_SETTLE_MS: the press answers the screen shown when it arrived. */
    if (g_button_screen != g_screen_generation) {
        g_button = BOARD_BUTTON_NONE;
        return BOARD_BUTTON_NONE;
    }
    if (board_millis() - g_screen_shown_ms < BOARD_PRESS_SETTLE_MS) return BOARD_BUTTON_NONE;
    g_button = BOARD_BUTTON_NONE;
    return b;
}

/* ---------------------------------------------------------------- transport (UART0) */

int board_transport_recv(uint8_t report[BOARD_REPORT_SIZE], uint32_t timeout_ms) {
    if (report == NULL) return OS_ERR_ARG;
    uint64_t deadline = board_millis() + timeout_ms;
    for (;;) {
        uint8_t c;
        control_service();
        while (uart_getc(MPS2_UART0_BASE, &c)) {
            if (os_serial_rx_feed(&g_serial_rx, c, report) == 1) {
                record_report(report);
                return 1;
            }
        }
        if (board_millis() >= deadline) return 0;
        wait_for_event();
    }
}

int board_transport_send(const uint8_t report[BOARD_REPORT_SIZE]) {
    uint8_t frame[OS_SERIAL_FRAME_BYTES];
    if (report == NULL) return OS_ERR_ARG;
    size_t n = os_serial_frame_encode(report, frame);
    return uart_write(MPS2_UART0_BASE, frame, n);
}

/* ---------------------------------------------------------------- flash (semihosting file) */

static int g_flash_fd = -1;

uint32_t board_flash_size(void) { return FLASH_SIZE; }
uint32_t board_flash_sector_size(void) { return FLASH_SECTOR; }

static int range_ok(uint32_t offset, size_t len) {
    return g_flash_fd >= 0 && offset <= FLASH_SIZE && len <= (size_t)(FLASH_SIZE - offset);
}

static int file_read(uint32_t offset, void *buf, size_t len) {
    if (len == 0) return OS_OK;
    if (sh_seek(g_flash_fd, offset) != 0 || sh_read(g_flash_fd, buf, len) != 0) return OS_ERR_IO;
    return OS_OK;
}

static int file_write(uint32_t offset, const void *buf, size_t len) {
    if (len == 0) return OS_OK;
    if (sh_seek(g_flash_fd, offset) != 0 || sh_write(g_flash_fd, buf, len) != 0) return OS_ERR_IO;
    return OS_OK;
}

int board_flash_read(uint32_t offset, void *buf, size_t len) {
    if ((buf == NULL && len > 0) || !range_ok(offset, len)) return OS_ERR_ARG;
    return file_read(offset, buf, len);
}

static int fill_ff(uint32_t offset, uint32_t len) {
    uint8_t ff[FLASH_CHUNK];
    memset(ff, 0xFF, sizeof ff);
    for (uint32_t done = 0; done < len; done += FLASH_CHUNK) {
        if (file_write(offset + done, ff, FLASH_CHUNK) != OS_OK) return OS_ERR_IO;
    }
    return OS_OK;
}

int board_flash_erase(uint32_t sector) {
    if (g_flash_fd < 0 || sector >= FLASH_SIZE / FLASH_SECTOR) return OS_ERR_ARG;
    return fill_ff(sector * FLASH_SECTOR, FLASH_SECTOR);
}

int board_flash_write(uint32_t offset, const void *buf, size_t len) {
    uint8_t chunk[FLASH_CHUNK];
    const uint8_t *in = buf;
    if ((buf == NULL && len > 0) || !range_ok(offset, len)) return OS_ERR_ARG;
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof chunk ? len - done : sizeof chunk;
        uint32_t at = (uint32_t)(offset + done);
        if (file_read(at, chunk, n) != OS_OK) return OS_ERR_IO;
        for (size_t i = 0; i < n; i++) chunk[i] &= in[done + i];   /* NOR: bits only clear */
        if (file_write(at, chunk, n) != OS_OK) return OS_ERR_IO;
        done += n;
    }
    return OS_OK;
}

/* Opens the flash file, creating it blank (all 0xFF) the first time. A file of another size is an
 * error, not something to repair: it is not this board's flash. */
static int flash_open(void) {
    g_flash_fd = sh_open(FLASH_FILE, SH_MODE_RPB);
    if (g_flash_fd >= 0) {
        if (sh_flen(g_flash_fd) != (long)FLASH_SIZE) {
            sh_puts("oncesign mps2-an386: " FLASH_FILE " is not 262144 bytes\n");
            return OS_ERR_IO;
        }
        return OS_OK;
    }
    g_flash_fd = sh_open(FLASH_FILE, SH_MODE_WPB);
    if (g_flash_fd < 0) {
        sh_puts("oncesign mps2-an386: cannot create " FLASH_FILE "\n");
        return OS_ERR_IO;
    }
    sh_puts("oncesign mps2-an386: new blank flash " FLASH_FILE "\n");
    return fill_ff(0, FLASH_SIZE);
}

/* ---------------------------------------------------------------- random: TEST ONLY */

static unsigned char g_alloc_pool[640];   /* mbedtls' MD layer allocates its two contexts here */
static mbedtls_hmac_drbg_context g_drbg;
static int g_drbg_ready;

/* Seeds the DRBG from the seed file, then overwrites the file with fresh DRBG output at once (as
 * systemd-random-seed does), so the next boot never replays this boot's stream even when the host
 * supplied the seed only once. Missing or short seed file: no randomness (board_random fails). */
static int rng_init(void) {
    static const char personalization[] = "oncesign mps2-an386 TEST-ONLY DRBG, not a TRNG";
    uint8_t seed[SEED_MAX + sizeof personalization + 4];
    int status = OS_ERR_IO;

    mbedtls_memory_buffer_alloc_init(g_alloc_pool, sizeof g_alloc_pool);
    mbedtls_hmac_drbg_init(&g_drbg);
    int fd = sh_open(SEED_FILE, SH_MODE_RB);
    if (fd < 0) {
        sh_puts("oncesign mps2-an386: no " SEED_FILE ": random bytes unavailable\n");
        return OS_ERR_IO;
    }
    long len = sh_flen(fd);
    if (len > SEED_MAX) len = SEED_MAX;
    if (len < SEED_MIN || sh_read(fd, seed, (size_t)len) != 0) {
        sh_close(fd);
        sh_puts("oncesign mps2-an386: " SEED_FILE " shorter than 32 bytes\n");
        goto out;
    }
    sh_close(fd);
    memcpy(seed + len, personalization, sizeof personalization);
    uint32_t now = sh_time();
    memcpy(seed + len + sizeof personalization, &now, sizeof now);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (md == NULL || mbedtls_hmac_drbg_seed_buf(&g_drbg, md, seed, (size_t)len + sizeof personalization + 4) != 0)
        goto out;

    uint8_t next[SEED_MIN];
    fd = sh_open(SEED_FILE, SH_MODE_WB);
    int ok = fd >= 0 && mbedtls_hmac_drbg_random(&g_drbg, next, sizeof next) == 0 &&
             sh_write(fd, next, sizeof next) == 0;
    if (fd >= 0) sh_close(fd);
    mbedtls_platform_zeroize(next, sizeof next);
    if (!ok) {
        sh_puts("oncesign mps2-an386: cannot rewrite " SEED_FILE ": random bytes unavailable\n");
        goto out;
    }
    g_drbg_ready = 1;
    status = OS_OK;
out:
    mbedtls_platform_zeroize(seed, sizeof seed);
    return status;
}

int board_random(uint8_t *buf, size_t len) {
    if (buf == NULL && len > 0) return OS_ERR_ARG;
    if (!g_drbg_ready) return OS_ERR_IO;
    while (len > 0) {
        size_t n = len < MBEDTLS_HMAC_DRBG_MAX_REQUEST ? len : MBEDTLS_HMAC_DRBG_MAX_REQUEST;
        /* Fails once the reseed interval is spent: there is no entropy to reseed from. */
        if (mbedtls_hmac_drbg_random(&g_drbg, buf, n) != 0) return OS_ERR_IO;
        buf += n;
        len -= n;
    }
    return OS_OK;
}

int board_random_is_test_only(void) { return 1; }

/* ---------------------------------------------------------------- init */

int board_init(void) {
    TIMER_RELOAD(MPS2_TIMER0_BASE) = 0xFFFFFFFFu;
    TIMER_VALUE(MPS2_TIMER0_BASE) = 0xFFFFFFFFu;
    TIMER_CTRL(MPS2_TIMER0_BASE) = TIMER_CTRL_EN;
    g_tick_last = ~TIMER_VALUE(MPS2_TIMER0_BASE);

    SYST_RVR = MPS2_SYSCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;

    uart_init(MPS2_UART0_BASE);
    uart_init(MPS2_UART1_BASE);
    NVIC_ISER0 = (1u << MPS2_IRQ_UART0_RX) | (1u << MPS2_IRQ_UART1_RX);
    os_serial_rx_init(&g_serial_rx);
    calibrate();

    board_display_show("oncesign mps2-an386\nTEST-ONLY RANDOM");
    if (flash_open() != OS_OK) return OS_ERR_IO;
    /* Without a seed file board_random fails closed, and so does signer_boot (it seeds the
     * secp256k1 context's blinding from it): the device then answers every request with an error. */
    (void)rng_init();
    sh_puts("oncesign mps2-an386: up (TEST-ONLY RNG: a DRBG from " SEED_FILE ", no TRNG)\n");
    return OS_OK;
}
