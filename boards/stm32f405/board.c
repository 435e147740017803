/* oncesign stm32f405 — boards/board.h on an STM32F405RG (1 MiB flash, 192 KiB RAM) with a 12 MHz
 * crystal, USB full-speed device on PA11/PA12, an SSD1306 OLED and two buttons (README.md has the
 * wiring). Everything is polled from the main loop; the only interrupt is SysTick's millisecond.
 *
 * Flash for the core (I2): the part's sectors 6..11, six 128 KiB sectors at 0x08040000, presented as
 * board sectors 0..5 (A, B and a log ring of four). Sectors 0..5 (256 KiB) are the image's; its
 * budget is 192 KiB (linker.ld). RM0090 §3.5 rules this file follows: an erase clears a whole
 * sector to 0xFF; programming only clears bits (a programmed byte can be programmed again to clear
 * more, which the commit word relies on); the interface is unlocked only for one operation; every
 * operation waits for BSY to clear and fails on any error flag; the data cache is reset afterwards
 * so reads see the new contents; and every write and erase is read back before OS_OK. */
#include "board.h"

#include <string.h>

#include <mbedtls/platform_util.h>

#include "oncesign/status.h"
#include "stm32f405.h"
#include "display.h"
#include "usb_device.h"
#include "usb_otg.h"

#define HCLK_HZ            168000000u
#define SPIN_LIMIT         2000000u
#define STORAGE_FIRST_MCU_SECTOR 6u
#define STORAGE_SECTORS    6u
#define STORAGE_SECTOR_BYTES (128u * 1024u)
#define STORAGE_BASE       0x08040000u
/* A 128 KiB erase takes 1-2 s (datasheet tERASE128KB, x32); the BSY wait is bounded well above. */
#define ERASE_SPIN_LIMIT   400000000u
#define SEND_TIMEOUT_MS    2000u
#define DEBOUNCE_MS        20u
/* Buttons to ground, internal pull-ups: APPROVE on PB3 (the pyboard's USR switch), REJECT on PC0. */
#define BUTTON_APPROVE_PIN 3u
#define BUTTON_REJECT_PIN  0u

static usb_device g_usb;
static volatile uint32_t g_ms_low, g_ms_high;

void SysTick_Handler(void);
void SysTick_Handler(void) {
    uint32_t next = g_ms_low + 1;
    if (next == 0) g_ms_high++;
    g_ms_low = next;
}

uint64_t board_millis(void) {
    uint32_t hi, lo;
    do {   /* the tick may land between the two reads */
        hi = g_ms_high;
        lo = g_ms_low;
    } while (hi != g_ms_high);
    return ((uint64_t)hi << 32) | lo;
}

static int spin(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t limit) {
    for (uint32_t i = 0; i < limit; i++) if ((*reg & mask) == want) return 1;
    return 0;
}

/* HSE 12 MHz -> PLL: /12 * 336 = 336 MHz VCO, /2 = 168 MHz system clock, /7 = 48 MHz for USB and
 * the RNG. Voltage scale 1 and 5 flash wait states are what 168 MHz at 3.3 V needs (RM0090 §3.5.1). */
static int clock_init(void) {
    RCC_CR |= RCC_CR_HSEON;
    if (!spin(&RCC_CR, RCC_CR_HSERDY, RCC_CR_HSERDY, SPIN_LIMIT)) return OS_ERR_IO;
    RCC_APB1ENR |= RCC_APB1ENR_PWREN;
    PWR_CR |= PWR_CR_VOS;
    FLASH_ACR = FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
    RCC_PLLCFGR = 12u | (336u << 6) | (0u << 16) | RCC_PLLCFGR_SRC_HSE | (7u << 24);
    RCC_CR |= RCC_CR_PLLON;
    if (!spin(&RCC_CR, RCC_CR_PLLRDY, RCC_CR_PLLRDY, SPIN_LIMIT)) return OS_ERR_IO;
    RCC_CFGR = RCC_CFGR_PPRE1_DIV4 | RCC_CFGR_PPRE2_DIV2 | RCC_CFGR_SW_PLL;
    if (!spin(&RCC_CFGR, RCC_CFGR_SWS_MASK, RCC_CFGR_SWS_PLL, SPIN_LIMIT)) return OS_ERR_IO;
    SYST_RVR = HCLK_HZ / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = 7u;   /* processor clock, interrupt, enable */
    return OS_OK;
}

/* ---------------------------------------------------------------- flash */

uint32_t board_flash_size(void) { return STORAGE_SECTORS * STORAGE_SECTOR_BYTES; }
uint32_t board_flash_sector_size(void) { return STORAGE_SECTOR_BYTES; }

static int range_ok(uint32_t offset, size_t len) {
    return offset <= board_flash_size() && len <= board_flash_size() - offset;
}

int board_flash_read(uint32_t offset, void *buf, size_t len) {
    if (buf == NULL || !range_ok(offset, len)) return OS_ERR_ARG;
    memcpy(buf, (const void *)(uintptr_t)(STORAGE_BASE + offset), len);
    return OS_OK;
}

static void flash_unlock(void) {
    if (FLASH_CR & FLASH_CR_LOCK) {
        FLASH_KEYR = FLASH_KEY1;
        FLASH_KEYR = FLASH_KEY2;
    }
}

static void flash_lock_and_flush(void) {
    FLASH_CR = FLASH_CR_LOCK;
    /* The data cache may hold the old contents of what was just erased or programmed. */
    uint32_t acr = FLASH_ACR;
    FLASH_ACR = acr & ~FLASH_ACR_DCEN;
    FLASH_ACR = (acr & ~FLASH_ACR_DCEN) | FLASH_ACR_DCRST;
    FLASH_ACR = acr;
}

int board_flash_erase(uint32_t sector) {
    if (sector >= STORAGE_SECTORS) return OS_ERR_ARG;
    if (!spin(&FLASH_SR, FLASH_SR_BSY, 0, SPIN_LIMIT)) return OS_ERR_IO;
    FLASH_SR = FLASH_SR_ERRORS | FLASH_SR_EOP;
    flash_unlock();
    FLASH_CR = FLASH_CR_SER | FLASH_CR_SNB(STORAGE_FIRST_MCU_SECTOR + sector) | FLASH_CR_PSIZE_X32;
    FLASH_CR |= FLASH_CR_STRT;
    int done = spin(&FLASH_SR, FLASH_SR_BSY, 0, ERASE_SPIN_LIMIT);
    uint32_t sr = FLASH_SR;
    flash_lock_and_flush();
    if (!done || (sr & FLASH_SR_ERRORS)) return OS_ERR_IO;
    const volatile uint32_t *p = (const volatile uint32_t *)(uintptr_t)(STORAGE_BASE + sector * STORAGE_SECTOR_BYTES);
    for (uint32_t i = 0; i < STORAGE_SECTOR_BYTES / 4; i++) if (p[i] != 0xFFFFFFFFu) return OS_ERR_IO;
    return OS_OK;
}

/* Byte programming (PSIZE x8) takes any offset and length the core asks for; a record is ~1 KiB,
 * 16 us a byte. */
int board_flash_write(uint32_t offset, const void *buf, size_t len) {
    const uint8_t *src = buf;
    if (buf == NULL || !range_ok(offset, len)) return OS_ERR_ARG;
    if (!spin(&FLASH_SR, FLASH_SR_BSY, 0, SPIN_LIMIT)) return OS_ERR_IO;
    volatile uint8_t *dst = (volatile uint8_t *)(uintptr_t)(STORAGE_BASE + offset);
    FLASH_SR = FLASH_SR_ERRORS | FLASH_SR_EOP;
    flash_unlock();
    FLASH_CR = FLASH_CR_PG | FLASH_CR_PSIZE_X8;
    int ok = 1;
    for (size_t i = 0; i < len && ok; i++) {
        uint8_t want = (uint8_t)(dst[i] & src[i]);   /* what NOR flash will hold afterwards */
        dst[i] = src[i];
        ok = spin(&FLASH_SR, FLASH_SR_BSY, 0, SPIN_LIMIT) && !(FLASH_SR & FLASH_SR_ERRORS);
        if (ok && dst[i] != want) ok = 0;
    }
    flash_lock_and_flush();
    return ok ? OS_OK : OS_ERR_IO;
}

/* ---------------------------------------------------------------- random */

static uint32_t g_rng_last;

static int rng_word(uint32_t *out) {
    for (uint32_t i = 0; i < SPIN_LIMIT; i++) {
        uint32_t sr = RNG_SR;
        if (sr & (RNG_SR_SECS | RNG_SR_CECS | RNG_SR_SEIS | RNG_SR_CEIS)) return OS_ERR_IO;
        if (sr & RNG_SR_DRDY) {
            uint32_t w = RNG_DR;
            /* RM0090 §24.3.1: software compares each word with the previous one (FIPS PUB 140-2
             * continuous test); a repeat means the source is stuck. */
            if (w == g_rng_last) return OS_ERR_IO;
            g_rng_last = w;
            *out = w;
            return OS_OK;
        }
    }
    return OS_ERR_IO;
}

static int rng_init(void) {
    uint32_t first;
    RCC_AHB2ENR |= RCC_AHB2ENR_RNGEN;
    RNG_CR = RNG_CR_RNGEN;
    /* The first word only seeds the continuous test. */
    return rng_word(&first);
}

int board_random(uint8_t *buf, size_t len) {
    uint32_t w = 0;
    if (buf == NULL && len > 0) return OS_ERR_ARG;
    for (size_t i = 0; i < len; i++) {
        if (i % 4 == 0 && rng_word(&w) != OS_OK) return OS_ERR_IO;
        buf[i] = (uint8_t)(w >> (8 * (i % 4)));
    }
    /* The continuous test keeps the previous word in RAM: make that one a word nobody received. */
    int rc = rng_word(&w);
    mbedtls_platform_zeroize(&w, sizeof w);
    return rc;
}

int board_random_is_test_only(void) { return 0; }

/* ---------------------------------------------------------------- buttons */

static struct {
    uint8_t stable_down, raw_down;
    uint64_t raw_since;
} g_btn[2];

static void buttons_init(void) {
    RCC_AHB1ENR |= RCC_AHB1ENR_GPIOBEN | RCC_AHB1ENR_GPIOCEN;
    GPIO_MODER(GPIOB_BASE) &= ~(3u << (2 * BUTTON_APPROVE_PIN));
    GPIO_PUPDR(GPIOB_BASE) = (GPIO_PUPDR(GPIOB_BASE) & ~(3u << (2 * BUTTON_APPROVE_PIN))) | (1u << (2 * BUTTON_APPROVE_PIN));
    GPIO_MODER(GPIOC_BASE) &= ~(3u << (2 * BUTTON_REJECT_PIN));
    GPIO_PUPDR(GPIOC_BASE) = (GPIO_PUPDR(GPIOC_BASE) & ~(3u << (2 * BUTTON_REJECT_PIN))) | (1u << (2 * BUTTON_REJECT_PIN));
}

/* A press counts once its level held DEBOUNCE_MS; returns 1 on the press edge. */
static int pressed(int k, int down_now) {
    uint64_t now = board_millis();
    if (down_now != g_btn[k].raw_down) {
        g_btn[k].raw_down = (uint8_t)down_now;
        g_btn[k].raw_since = now;
        return 0;
    }
    if (down_now != g_btn[k].stable_down && now - g_btn[k].raw_since >= DEBOUNCE_MS) {
        g_btn[k].stable_down = (uint8_t)down_now;
        return down_now;
    }
    return 0;
}

board_button board_button_poll(void) {
    usb_otg_poll();   /* a screen waiting for the operator must not leave the host unanswered */
    int approve = pressed(0, !(GPIO_IDR(GPIOB_BASE) & (1u << BUTTON_APPROVE_PIN)));
    int reject = pressed(1, !(GPIO_IDR(GPIOC_BASE) & (1u << BUTTON_REJECT_PIN)));
    if (reject) return BOARD_BUTTON_REJECT;
    if (approve) return BOARD_BUTTON_APPROVE;
    return BOARD_BUTTON_NONE;
}

/* ---------------------------------------------------------------- display */

void board_display_show(const char *text) {
    char rows[BOARD_DISPLAY_ROWS][BOARD_DISPLAY_COLS + 1];
    memset(rows, 0, sizeof rows);
    for (int r = 0, c = 0; text != NULL && *text != '\0' && r < BOARD_DISPLAY_ROWS; text++) {
        if (*text == '\n') {
            r++;
            c = 0;
        } else if (c < BOARD_DISPLAY_COLS) {
            rows[r][c++] = *text;
        }
    }
    /* A display that stopped answering cannot be reported on itself; the core's prompts then wait
     * for buttons the operator cannot see the reason for, so the screen is retried at every call. */
    (void)display_text(rows);
}

/* ---------------------------------------------------------------- transport */

int board_transport_recv(uint8_t report[BOARD_REPORT_SIZE], uint32_t timeout_ms) {
    if (report == NULL) return OS_ERR_ARG;
    uint64_t start = board_millis();
    for (;;) {
        usb_otg_poll();
        if (usb_device_take_report(&g_usb, report) == 1) return 1;
        if (board_millis() - start >= timeout_ms) return 0;
    }
}

int board_transport_send(const uint8_t report[BOARD_REPORT_SIZE]) {
    if (report == NULL) return OS_ERR_ARG;
    uint64_t start = board_millis();
    for (;;) {
        int rc = usb_device_send_report(&g_usb, report);
        if (rc == OS_OK) {
            usb_otg_poll();
            return OS_OK;
        }
        if (rc != OS_ERR_BUSY) return OS_ERR_IO;   /* unplugged or unconfigured */
        usb_otg_poll();
        if (board_millis() - start >= SEND_TIMEOUT_MS) return OS_ERR_IO;
    }
}

/* ---------------------------------------------------------------- init */

/* The serial number string: the part's 96-bit unique id in hex, 24 characters. */
static void serial_from_uid(char out[25]) {
    static const char digits[] = "0123456789ABCDEF";
    const volatile uint8_t *uid = (const volatile uint8_t *)(uintptr_t)UID_BASE;
    for (int i = 0; i < 12; i++) {
        out[2 * i] = digits[uid[i] >> 4];
        out[2 * i + 1] = digits[uid[i] & 0xF];
    }
    out[24] = '\0';
}

int board_init(void) {
    char serial[25];
    if (clock_init() != OS_OK) return OS_ERR_IO;
    buttons_init();
    if (rng_init() != OS_OK) return OS_ERR_IO;
    if (display_init() != OS_OK) return OS_ERR_IO;
    serial_from_uid(serial);
    if (usb_device_init(&g_usb, serial) != OS_OK) return OS_ERR_IO;
    if (usb_otg_init(&g_usb) != OS_OK) return OS_ERR_IO;
    board_display_show("oncesign\nstm32f405\nwaiting for host");
    return OS_OK;
}
