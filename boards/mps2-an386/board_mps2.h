/* oncesign mps2-an386 — what the board offers beyond boards/board.h (startup code and main.c). */
#ifndef ONCESIGN_BOARD_MPS2_H
#define ONCESIGN_BOARD_MPS2_H

#include <stdint.h>

/* Deepest stack use since reset in bytes: the stack is painted with MPS2_STACK_PAINT at reset and
 * this counts down from the top to the first word still holding the paint. */
uint32_t board_stack_used(void);

/* Interrupt handlers, placed in the vector table by startup.c. */
void SysTick_Handler(void);
void Uart0Rx_Handler(void);
void Uart1Rx_Handler(void);

#endif /* ONCESIGN_BOARD_MPS2_H */
