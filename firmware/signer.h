/* oncesign — the signer core's entry points, called by every board's main loop.
 *
 *   int main(void) { if (board_init() != OS_OK) halt(); signer_boot(); for (;;) signer_poll(50); }
 *
 * The signer owns all protocol state (channel, framing, signing session, pending operator
 * decisions); boards only move reports, bytes of flash and button presses.
 */
#ifndef ONCESIGN_SIGNER_H
#define ONCESIGN_SIGNER_H

#include <stdint.h>

/* Loads the durable state (A/B records), repairs the log ring, seeds the crypto context and
 * appends a BOOT entry when initialised.
 * Returns: OS_OK; OS_ERR_STORAGE_CORRUPT when no valid state record exists on non-blank flash
 *          (the signer then answers every request with that error: fail closed, I6). */
int signer_boot(void);

/* Waits up to timeout_ms for one report, handles it, and polls the buttons.
 * Returns: OS_OK (also on timeout), or OS_ERR_IO when the transport is dead (the board decides
 *          whether to wait for a new host or stop). */
int signer_poll(uint32_t timeout_ms);

#endif /* ONCESIGN_SIGNER_H */
