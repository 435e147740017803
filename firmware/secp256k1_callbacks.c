/* oncesign — libsecp256k1's default callbacks for the firmware build.
 *
 * The ARM build of libsecp256k1 is compiled with USE_EXTERNAL_DEFAULT_CALLBACKS, so the library does
 * not bring its own handlers (which print to stderr and call abort, neither of which exists on the
 * board). These are called on an API contract violation (illegal callback) or an internal error
 * such as a failed self-test (error callback) when no context-specific callback is set.
 *
 * A signer must not continue after either: the state that led here is not one the core was proven
 * against, and any signature produced afterwards could be wrong or leak key material. So both halt
 * for good. The watchdog, if a board has one, resets the device; the A/B durable state then comes up
 * in the last committed state (I2).
 *
 * ARM only: the host build excludes this file (Debian's libsecp256k1 defines its own handlers).
 */

/* Prototypes as documented in secp256k1.h next to secp256k1_context_set_illegal_callback. */
void secp256k1_default_illegal_callback_fn(const char *message, void *data);
void secp256k1_default_error_callback_fn(const char *message, void *data);

static void halt_forever(void) {
    /* The empty asm keeps the compiler from treating the loop as removable. */
    for (;;) {
        __asm__ volatile("" ::: "memory");
    }
}

void secp256k1_default_illegal_callback_fn(const char *message, void *data) {
    (void)message;
    (void)data;
    halt_forever();
}

void secp256k1_default_error_callback_fn(const char *message, void *data) {
    (void)message;
    (void)data;
    halt_forever();
}
