/* oncesign mps2-an386 — reset, vector table and fault handlers of our own (no vendor SDK).
 *
 * Reset: copy .data from the image, zero .bss, paint the stack with a known word so the board can
 * report the deepest stack use (board_stack_used), then main(). Faults print a line through
 * semihosting and end QEMU with an error status: a signer that faulted must not go on (I6).
 */
#include <stdint.h>
#include <string.h>

#include "board_mps2.h"
#include "mps2.h"
#include "semihost.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _sstack[], _estack[];

int main(void);
void Reset_Handler(void);

static void fault(const char *what) {
    sh_puts("oncesign mps2-an386: ");
    sh_puts(what);
    sh_puts(": halted\n");
    sh_exit(3);
}

static void NMI_Handler(void) { fault("NMI"); }
static void HardFault_Handler(void) { fault("HardFault"); }
static void MemManage_Handler(void) { fault("MemManage fault"); }
static void BusFault_Handler(void) { fault("BusFault"); }
static void UsageFault_Handler(void) { fault("UsageFault"); }
static void Unexpected_Handler(void) { fault("unexpected exception"); }

void Reset_Handler(void) {
    /* Every pointer below comes from the linker script; memcpy/memset are newlib's, which need
     * neither .data nor .bss. */
    memcpy(_sdata, _sidata, (size_t)((uintptr_t)_edata - (uintptr_t)_sdata));
    memset(_sbss, 0, (size_t)((uintptr_t)_ebss - (uintptr_t)_sbss));
    /* Paint the stack up to a little below where this function's own frame lives. */
    uintptr_t sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (volatile uint32_t *p = _sstack; (uintptr_t)p < sp - 64; p++) *p = MPS2_STACK_PAINT;
    (void)main();
    fault("main returned");
}

typedef void (*vector)(void);

/* 16 system exceptions, then the 32 external interrupts of the AN386 (UART0 RX is IRQ 0, UART1 RX
 * is IRQ 2: QEMU hw/arm/mps2.c). The first word is the initial stack pointer. */
__attribute__((section(".vectors"), used)) static const vector g_vectors[16 + 32] = {
    [0] = (vector)_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [7] = Unexpected_Handler, [8] = Unexpected_Handler, [9] = Unexpected_Handler, [10] = Unexpected_Handler,
    [11] = Unexpected_Handler,   /* SVCall */
    [12] = Unexpected_Handler,   /* DebugMonitor */
    [13] = Unexpected_Handler,
    [14] = Unexpected_Handler,   /* PendSV */
    [15] = SysTick_Handler,
    [16 + MPS2_IRQ_UART0_RX] = Uart0Rx_Handler,
    [16 + MPS2_IRQ_UART1_RX] = Uart1Rx_Handler,
    [16 + 1] = Unexpected_Handler, [16 + 3] = Unexpected_Handler,
    [16 + 4] = Unexpected_Handler, [16 + 5] = Unexpected_Handler, [16 + 6] = Unexpected_Handler,
    [16 + 7] = Unexpected_Handler, [16 + 8] = Unexpected_Handler, [16 + 9] = Unexpected_Handler,
    [16 + 10] = Unexpected_Handler, [16 + 11] = Unexpected_Handler, [16 + 12] = Unexpected_Handler,
    [16 + 13] = Unexpected_Handler, [16 + 14] = Unexpected_Handler, [16 + 15] = Unexpected_Handler,
    [16 + 16] = Unexpected_Handler, [16 + 17] = Unexpected_Handler, [16 + 18] = Unexpected_Handler,
    [16 + 19] = Unexpected_Handler, [16 + 20] = Unexpected_Handler, [16 + 21] = Unexpected_Handler,
    [16 + 22] = Unexpected_Handler, [16 + 23] = Unexpected_Handler, [16 + 24] = Unexpected_Handler,
    [16 + 25] = Unexpected_Handler, [16 + 26] = Unexpected_Handler, [16 + 27] = Unexpected_Handler,
    [16 + 28] = Unexpected_Handler, [16 + 29] = Unexpected_Handler, [16 + 30] = Unexpected_Handler,
    [16 + 31] = Unexpected_Handler,
};
