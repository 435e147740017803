/* oncesign stm32f405 — reset, vector table and fault handling of our own (no vendor SDK).
 *
 * Reset: copy .data from flash, zero .bss, then main(). A fault stops the signer for good (I6): the
 * handler disconnects from USB (soft disconnect) so the host sees the device gone rather than
 * hanging on it, and spins until a reset.
 */
#include <stdint.h>
#include <string.h>

#include "stm32f405.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);

static void halt(void) {
    OTG_DCTL |= OTG_DCTL_SDIS;
    for (;;) {
    }
}

static void Fault_Handler(void) { halt(); }

void Reset_Handler(void) {
    memcpy(_sdata, _sidata, (size_t)((uintptr_t)_edata - (uintptr_t)_sdata));
    memset(_sbss, 0, (size_t)((uintptr_t)_ebss - (uintptr_t)_sbss));
    (void)main();
    halt();
}

typedef void (*vector)(void);

/* 16 system exceptions and the 82 interrupts of the STM32F405 (RM0090 table 61): none is enabled,
 * so every interrupt slot points at the fault handler. */
__attribute__((section(".vectors"), used)) static const vector g_vectors[16 + 82] = {
    [0] = (vector)_estack,
    [1] = Reset_Handler,
    [2 ... 14] = Fault_Handler,
    [15] = SysTick_Handler,
    [16 ... 16 + 81] = Fault_Handler,
};
