/* oncesign stm32f405 — the SSD1306 OLED behind board_display_show (display.c). */
#ifndef ONCESIGN_STM32F405_DISPLAY_H
#define ONCESIGN_STM32F405_DISPLAY_H

#include <stdint.h>

#include "oncesign/status.h"

/* I2C1 and the controller. Returns: OS_OK, OS_ERR_IO (no acknowledge: no display on the bus). */
int display_init(void);

/* Draws 8 rows of at most 21 characters (NUL-terminated; outside 0x20..0x7E drawn as '?').
 * Returns: OS_OK, OS_ERR_IO. */
int display_text(const char rows[8][22]);

#endif /* ONCESIGN_STM32F405_DISPLAY_H */
