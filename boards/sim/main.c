/* oncesign-sim — the signer core as a Linux process (docs/OPERATING.md, "The simulator"). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "oncesign/status.h"
#include "oncesign/version.h"
#include "signer.h"
#include "sim.h"
#include "usbredir.h"

static void usage(FILE *f) {
    fputs("usage: oncesign-sim (--socket PATH | --usbredir PATH [--usb-serial SERIAL]) --flash FILE\n"
          "                    [--control PATH] [--flash-size BYTES]\n"
          "                    [--cut-at-write N] [--seed N] [--no-tty]\n"
          "       oncesign-sim --control PATH --send COMMAND\n"
          "       oncesign-sim --help | --version\n"
          "\n"
          "  --socket PATH      Unix SOCK_SEQPACKET socket the host connects to (one 64-byte report a packet)\n"
          "  --usbredir PATH    instead of --socket: be a USB device (firmware/usb_device.c) for QEMU's\n"
          "                     -device usb-redir, whose chardev connects to this Unix socket (docs/USB.md)\n"
          "  --usb-serial S     the USB serial number string (1-24 of 0-9 A-Z; default SIM0000001)\n"
          "  --flash FILE       flash image; created blank (0xFF) when missing\n"
          "  --control PATH     control socket (line protocol: ping, approve, reject, screen, flash-ops,\n"
          "                     cut-at-write N)\n"
          "  --flash-size BYTES flash size for a new image, multiple of 4096 (default 262144)\n"
          "  --cut-at-write N   cut the power during the Nth flash write or erase (exit status 99)\n"
          "  --seed N           oncesign-sim-test only: deterministic test-only random source (the\n"
          "                     device reports test_only_rng and refuses mainnet setup)\n"
          "  --no-tty           do not draw the display on stderr nor read keys from stdin\n"
          "  --send COMMAND     send one control command to a running simulator and print the answer\n",
          f);
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out) {
    char *end = NULL;
    if (s == NULL) {
        fprintf(stderr, "oncesign-sim: %s needs a value\n", opt);
        return 0;
    }
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0 || v > max) {
        fprintf(stderr, "oncesign-sim: %s: '%s' is not a number in 0..%llu\n", opt, s, (unsigned long long)max);
        return 0;
    }
    *out = v;
    return 1;
}

static void on_signal(int sig) {
    (void)sig;
    sim_request_stop();
}

int main(int argc, char **argv) {
    sim_config cfg = { .use_tty = 1 };
    const char *send = NULL;
    const char *usbredir_path = NULL, *usb_serial = "SIM0000001";
    sim_link *usb_link = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--version") == 0) {
            printf("oncesign-sim %s\n", ONCESIGN_VERSION);
            return 0;
        } else if (strcmp(a, "--no-tty") == 0) {
            cfg.use_tty = 0;
            continue;
        } else if (v == NULL) {
            fprintf(stderr, "oncesign-sim: %s needs a value (or is unknown)\n\n", a);
            usage(stderr);
            return 1;
        } else if (strcmp(a, "--socket") == 0) {
            cfg.socket_path = v;
        } else if (strcmp(a, "--usbredir") == 0) {
            usbredir_path = v;
        } else if (strcmp(a, "--usb-serial") == 0) {
            usb_serial = v;
        } else if (strcmp(a, "--flash") == 0) {
            cfg.flash_path = v;
        } else if (strcmp(a, "--control") == 0) {
            cfg.control_path = v;
        } else if (strcmp(a, "--send") == 0) {
            send = v;
        } else if (strcmp(a, "--flash-size") == 0) {
            if (!parse_u64(a, v, UINT32_MAX, &n)) return 1;
            if (n == 0 || n % SIM_FLASH_SECTOR != 0) {
                fprintf(stderr, "oncesign-sim: --flash-size must be a non-zero multiple of %u\n", SIM_FLASH_SECTOR);
                return 1;
            }
            cfg.flash_size = (uint32_t)n;
        } else if (strcmp(a, "--cut-at-write") == 0) {
            if (!parse_u64(a, v, UINT64_MAX, &n)) return 1;
            cfg.cut_at_write = n;
        } else if (strcmp(a, "--seed") == 0) {
#ifndef ONCESIGN_TEST_RNG
            /* The production simulator has no test RNG to seed (docs/DECISIONS.md, issue 10). */
            fprintf(stderr, "oncesign-sim: --seed: this build has no test-only random source; use"
                            " oncesign-sim-test for reproducible tests\n");
            return 1;
#endif
            if (!parse_u64(a, v, UINT64_MAX, &n)) return 1;
            cfg.seeded = 1;
            cfg.seed = n;
        } else {
            fprintf(stderr, "oncesign-sim: unknown option %s\n\n", a);
            usage(stderr);
            return 1;
        }
        i++;
    }

    if (send != NULL) {
        char answer[4096];
        if (cfg.control_path == NULL) {
            fputs("oncesign-sim: --send needs --control PATH\n", stderr);
            return 1;
        }
        if (sim_control_send(cfg.control_path, send, answer, sizeof answer, 5000) != OS_OK) {
            fprintf(stderr, "oncesign-sim: %s\n", answer);
            return 2;
        }
        fputs(answer, stdout);
        return strncmp(answer, "error", 5) == 0 ? 3 : 0;
    }

    if ((cfg.socket_path == NULL) == (usbredir_path == NULL) || cfg.flash_path == NULL) {
        fputs("oncesign-sim: one of --socket and --usbredir, and --flash, are required\n\n", stderr);
        usage(stderr);
        return 1;
    }
    char why[256];
    if (usbredir_path != NULL) {
        if (sim_usbredir_open(usbredir_path, usb_serial, &usb_link, why, sizeof why) != OS_OK) {
            fprintf(stderr, "oncesign-sim: %s\n", why);
            return 1;
        }
        cfg.link = usb_link;
    }
    if (sim_configure(&cfg) != OS_OK) {
        sim_last_error(why, sizeof why);
        fprintf(stderr, "oncesign-sim: %s\n", why);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);   /* no SA_RESTART: a signal wakes the board's poll() */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);   /* its terminal closed */
    signal(SIGPIPE, SIG_IGN);

    if (board_init() != OS_OK) {
        sim_last_error(why, sizeof why);
        fprintf(stderr, "oncesign-sim: cannot start: %s\n", why);
        sim_shutdown();
        sim_usbredir_close(usb_link);
        return 2;
    }
    int boot = signer_boot();
    if (boot != OS_OK) {
        /* The signer keeps answering, with this error, to every request (fail closed, I6). */
        fprintf(stderr, "oncesign-sim: signer_boot failed: %s (%s); serving errors\n", os_status_name(boot),
                os_status_message(boot));
    }
    fprintf(stderr, "oncesign-sim: listening on %s%s%s%s\n", usbredir_path != NULL ? "usbredir " : "",
            usbredir_path != NULL ? usbredir_path : cfg.socket_path,
            cfg.control_path != NULL ? ", control " : "", cfg.control_path != NULL ? cfg.control_path : "");
    while (!sim_stop_requested()) {
        /* OS_ERR_IO means the host went away; the board waits for the next one. */
        (void)signer_poll(50);
    }
    fputs("oncesign-sim: stopping\n", stderr);
    sim_shutdown();
    sim_usbredir_close(usb_link);
    return 0;
}
