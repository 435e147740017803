/* oncesign — main loop of the stm32f405 image: bring the board up, boot the signer, serve. */
#include "board.h"
#include "oncesign/status.h"
#include "signer.h"

int main(void) {
    if (board_init() != OS_OK) {
        /* No clock, RNG, display or USB: nothing safe can run. The display may be what failed, so
         * the only signal is that the device never enumerates. */
        for (;;) {
        }
    }
    int boot = signer_boot();
    /* A failed boot keeps answering every request with its error (fail closed, I6). */
    (void)boot;
    for (;;) {
        (void)signer_poll(50);
    }
}
