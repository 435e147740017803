/* oncesign — main loop of the mps2-an386 image (QEMU): bring the board up, boot the signer, serve. */
#include "board.h"
#include "oncesign/status.h"
#include "semihost.h"
#include "signer.h"

int main(void) {
    if (board_init() != OS_OK) {
        sh_puts("oncesign mps2-an386: board_init failed\n");
        sh_exit(2);
    }
    int boot = signer_boot();
    if (boot != OS_OK) {
        /* The signer keeps answering, with this error, to every request (fail closed, I6). */
        sh_puts("oncesign mps2-an386: signer_boot failed; serving errors\n");
        sh_puts(os_status_name(boot));
        sh_puts("\n");
    }
    for (;;) {
        /* OS_ERR_IO would mean a dead link; a UART has no such state, so it is only retried. */
        (void)signer_poll(50);
    }
}
