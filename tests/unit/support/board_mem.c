/* oncesign — in-memory board for unit tests. Contract in board_mem.h. */
#include "board_mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DISPLAY_MAX ((BOARD_DISPLAY_COLS + 1) * BOARD_DISPLAY_ROWS + 1)
#define BUTTON_QUEUE 64

static uint8_t flash[BOARD_MEM_MAX_FLASH];
static int flash_ready;
static uint32_t flash_size, sector_size;
static uint32_t flash_ops, cut_at;       /* cut_at: absolute op number that tears, 0 = none */
static jmp_buf *cut_target;
static int flash_fail;

static uint64_t rng_state, tear_state;
static int random_fail;
static uint64_t millis;

static char display[DISPLAY_MAX];
static uint32_t display_count;
static char transcript[65536];      /* every screen since the last reset, separated by "\n--\n" */
static size_t transcript_len;

static board_button buttons[BUTTON_QUEUE];
static size_t buttons_head, buttons_len;

typedef struct {
    uint8_t reports[BOARD_MEM_REPORT_QUEUE][BOARD_REPORT_SIZE];
    size_t head, len;
} report_queue;
static report_queue to_device, to_host;

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void board_mem_seed_random(uint64_t seed) {
    rng_state = seed;
    tear_state = seed ^ 0x746F726E63757473ull;
}

void board_mem_reset(uint32_t new_flash_size, uint32_t new_sector_size) {
    if (new_sector_size == 0 || new_flash_size == 0 || new_flash_size % new_sector_size != 0 ||
        new_flash_size > BOARD_MEM_MAX_FLASH) {
        fprintf(stderr, "board_mem_reset: bad geometry %u/%u\n", new_flash_size, new_sector_size);
        abort();
    }
    flash_size = new_flash_size;
    sector_size = new_sector_size;
    memset(flash, 0xFF, sizeof flash);
    flash_ready = 1;
    flash_ops = 0;
    cut_at = 0;
    flash_fail = 0;
    board_mem_seed_random(0);
    random_fail = 0;
    millis = 0;
    display[0] = '\0';
    display_count = 0;
    board_mem_display_transcript_clear();
    buttons_head = buttons_len = 0;
    memset(&to_device, 0, sizeof to_device);
    memset(&to_host, 0, sizeof to_host);
}

static void ensure_flash(void) {
    if (!flash_ready) board_mem_reset(BOARD_MEM_DEFAULT_FLASH_SIZE, BOARD_MEM_DEFAULT_SECTOR_SIZE);
}

uint8_t *board_mem_flash_image(void) { ensure_flash(); return flash; }
uint32_t board_mem_flash_size(void) { ensure_flash(); return flash_size; }

void board_mem_set_power_cut(uint32_t nth) { cut_at = nth ? flash_ops + nth : 0; }
void board_mem_on_power_cut(jmp_buf *target) { cut_target = target; }
uint32_t board_mem_flash_ops(void) { return flash_ops; }
void board_mem_fail_flash(int which) { flash_fail = which; }

/* Counts one write or erase; returns 1 when this one must tear. */
static int next_op_tears(void) {
    flash_ops++;
    if (cut_at != 0 && flash_ops == cut_at) {
        cut_at = 0;
        if (cut_target == NULL) {
            fprintf(stderr, "board_mem: power cut with no jmp_buf registered\n");
            abort();
        }
        return 1;
    }
    return 0;
}

int board_mem_run_until_cut(void (*fn)(void *ctx), void *ctx) {
    jmp_buf here;
    jmp_buf *volatile saved = cut_target;
    cut_target = &here;
    if (setjmp(here) != 0) {
        cut_target = saved;
        return 1;
    }
    fn(ctx);
    cut_at = 0;
    cut_target = saved;
    return 0;
}

static void power_off(void) {
    longjmp(*cut_target, 1);
}

/* ---- board.h ---- */

int board_init(void) { ensure_flash(); return OS_OK; }

uint32_t board_flash_size(void) { ensure_flash(); return flash_size; }
uint32_t board_flash_sector_size(void) { ensure_flash(); return sector_size; }

int board_flash_read(uint32_t offset, void *buf, size_t len) {
    ensure_flash();
    if (buf == NULL || offset > flash_size || len > flash_size - offset) return OS_ERR_ARG;
    memcpy(buf, flash + offset, len);
    return OS_OK;
}

int board_flash_erase(uint32_t sector) {
    ensure_flash();
    if (sector >= flash_size / sector_size) return OS_ERR_ARG;
    if (flash_fail & 2) return OS_ERR_IO;
    if (flash_fail & 4) return OS_OK;
    uint8_t *p = flash + (size_t)sector * sector_size;
    if (next_op_tears()) {
        uint64_t mode = splitmix64(&tear_state) % 3, prefix = splitmix64(&tear_state) % (sector_size + 1);
        for (uint32_t i = 0; i < sector_size; i++) {
            uint8_t r = (uint8_t)splitmix64(&tear_state);
            if (mode == 0) p[i] = r;                                  /* garbage */
            else if (mode == 1) p[i] = (uint8_t)(p[i] | r);           /* partly erased bits */
            else if (i < prefix) p[i] = 0xFF;                          /* erased prefix */
        }
        power_off();
    }
    memset(p, 0xFF, sector_size);
    return OS_OK;
}

int board_flash_write(uint32_t offset, const void *buf, size_t len) {
    ensure_flash();
    if (buf == NULL || offset > flash_size || len > flash_size - offset) return OS_ERR_ARG;
    if (flash_fail & 1) return OS_ERR_IO;
    const uint8_t *data = buf;
    uint8_t *p = flash + offset;
    if (next_op_tears()) {
        uint64_t mode = splitmix64(&tear_state) % 2, prefix = splitmix64(&tear_state) % (len + 1);
        for (size_t i = 0; i < len; i++) {
            if (i < prefix) p[i] &= data[i];
            else if (mode == 1) p[i] &= (uint8_t)(data[i] | (uint8_t)splitmix64(&tear_state));
        }
        power_off();
    }
    for (size_t i = 0; i < len; i++) p[i] &= data[i];
    return OS_OK;
}

int board_random(uint8_t *buf, size_t len) {
    if (buf == NULL && len != 0) return OS_ERR_ARG;
    if (random_fail) return OS_ERR_IO;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = splitmix64(&rng_state);
        for (size_t j = 0; j < 8 && i + j < len; j++) buf[i + j] = (uint8_t)(v >> (8 * j));
    }
    return OS_OK;
}

int board_random_is_test_only(void) { return 1; }
void board_mem_fail_random(int fail) { random_fail = fail; }

uint64_t board_millis(void) { return millis; }
void board_mem_set_millis(uint64_t ms) { millis = ms; }
void board_mem_advance_millis(uint64_t ms) { millis += ms; }

void board_display_show(const char *text) {
    if (text == NULL) text = "";
    snprintf(display, sizeof display, "%s", text);
    display_count++;
    int n = snprintf(transcript + transcript_len, sizeof transcript - transcript_len, "%s\n--\n", text);
    if (n > 0) {
        transcript_len += (size_t)n;
        if (transcript_len >= sizeof transcript) transcript_len = sizeof transcript - 1;   /* full: kept cut */
    }
}
const char *board_mem_display_transcript(void) { return transcript; }
void board_mem_display_transcript_clear(void) {
    transcript_len = 0;
    transcript[0] = '\0';
}
const char *board_mem_display_text(void) { return display; }
uint32_t board_mem_display_count(void) { return display_count; }

void board_mem_push_button(board_button button) {
    if (buttons_len == BUTTON_QUEUE) return;
    buttons[(buttons_head + buttons_len) % BUTTON_QUEUE] = button;
    buttons_len++;
}

board_button board_button_poll(void) {
    board_button b;
    if (buttons_len == 0) return BOARD_BUTTON_NONE;
    b = buttons[buttons_head];
    buttons_head = (buttons_head + 1) % BUTTON_QUEUE;
    buttons_len--;
    return b;
}

static int queue_push(report_queue *q, const uint8_t report[BOARD_REPORT_SIZE]) {
    if (q->len == BOARD_MEM_REPORT_QUEUE) return -1;
    memcpy(q->reports[(q->head + q->len) % BOARD_MEM_REPORT_QUEUE], report, BOARD_REPORT_SIZE);
    q->len++;
    return 0;
}

static int queue_pop(report_queue *q, uint8_t report[BOARD_REPORT_SIZE]) {
    if (q->len == 0) return 0;
    memcpy(report, q->reports[q->head], BOARD_REPORT_SIZE);
    q->head = (q->head + 1) % BOARD_MEM_REPORT_QUEUE;
    q->len--;
    return 1;
}

int board_mem_push_report(const uint8_t report[BOARD_REPORT_SIZE]) {
    return queue_push(&to_device, report);
}

int board_mem_pop_report(uint8_t report[BOARD_REPORT_SIZE]) { return queue_pop(&to_host, report); }

int board_transport_recv(uint8_t report[BOARD_REPORT_SIZE], uint32_t timeout_ms) {
    if (report == NULL) return OS_ERR_ARG;
    if (queue_pop(&to_device, report)) return 1;
    millis += timeout_ms;
    return 0;
}

int board_transport_send(const uint8_t report[BOARD_REPORT_SIZE]) {
    if (report == NULL) return OS_ERR_ARG;
    return queue_push(&to_host, report) == 0 ? OS_OK : OS_ERR_IO;
}
