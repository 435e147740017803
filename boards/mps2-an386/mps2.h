/* oncesign mps2-an386 — the few registers of the AN386 FPGA image (Cortex-M4) this board uses,
 * from ARM's "Application Note AN386" memory map and the CMSDK APB UART/timer register layouts, as
 * QEMU's hw/arm/mps2.c, hw/char/cmsdk-apb-uart.c and hw/timer/cmsdk-apb-timer.c model them. */
#ifndef ONCESIGN_MPS2_H
#define ONCESIGN_MPS2_H

#include <stdint.h>

#define MPS2_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* The system clock of the FPGA image; SysTick (CLKSOURCE = processor) and the APB timers run on it. */
#define MPS2_SYSCLK_HZ 25000000u

/* CMSDK APB UARTs: UART0 carries the host reports, UART1 the buttons/display line protocol. */
#define MPS2_UART0_BASE 0x40004000u
#define MPS2_UART1_BASE 0x40005000u
#define UART_DATA(b)      MPS2_REG((b) + 0x00)
#define UART_STATE(b)     MPS2_REG((b) + 0x04)
#define UART_CTRL(b)      MPS2_REG((b) + 0x08)
#define UART_INTSTATUS(b) MPS2_REG((b) + 0x0C)
#define UART_BAUDDIV(b)   MPS2_REG((b) + 0x10)
#define UART_STATE_TXFULL  (1u << 0)
#define UART_STATE_RXFULL  (1u << 1)
#define UART_CTRL_TXEN     (1u << 0)
#define UART_CTRL_RXEN     (1u << 1)
#define UART_CTRL_RXINTEN  (1u << 3)
#define UART_INT_RX        (1u << 1)

#define MPS2_IRQ_UART0_RX 0
#define MPS2_IRQ_UART1_RX 2

/* CMSDK APB timer 0: a free-running 32-bit down-counter at MPS2_SYSCLK_HZ, used to count busy time
 * (under QEMU -icount shift=0 one instruction is one nanosecond: 40 instructions a tick). */
#define MPS2_TIMER0_BASE 0x40000000u
#define TIMER_CTRL(b)   MPS2_REG((b) + 0x00)
#define TIMER_VALUE(b)  MPS2_REG((b) + 0x04)
#define TIMER_RELOAD(b) MPS2_REG((b) + 0x08)
#define TIMER_CTRL_EN   (1u << 0)

/* System control space. */
#define SYST_CSR  MPS2_REG(0xE000E010u)
#define SYST_RVR  MPS2_REG(0xE000E014u)
#define SYST_CVR  MPS2_REG(0xE000E018u)
#define SYST_CSR_ENABLE    (1u << 0)
#define SYST_CSR_TICKINT   (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define NVIC_ISER0 MPS2_REG(0xE000E100u)

/* Word written over the whole stack at reset; the deepest changed word is the stack high-water. */
#define MPS2_STACK_PAINT 0xA5C3A5C3u

#endif /* ONCESIGN_MPS2_H */
