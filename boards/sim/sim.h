/* oncesign — configuration and lifecycle of the simulator board (boards/sim/board_sim.c).
 *
 * The simulator implements boards/board.h on Linux: reports over a Unix SOCK_SEQPACKET socket, flash
 * in a file, the display on the terminal, buttons from the keyboard and from a control socket.
 * docs/OPERATING.md describes the command line and the control protocol.
 *
 *   sim_config cfg = { .socket_path = "...", .flash_path = "..." };
 *   sim_configure(&cfg); board_init(); signer_boot(); while (!sim_stop_requested()) signer_poll(50);
 *   sim_shutdown();
 */
#ifndef ONCESIGN_SIM_H
#define ONCESIGN_SIM_H

#include <stddef.h>
#include <stdint.h>

#define SIM_DEFAULT_FLASH_SIZE 262144u
#define SIM_FLASH_SECTOR       4096u
/* Exit status of the process when the power-cut fault fires. */
#define SIM_CUT_EXIT_STATUS    99

/* A host transport other than the SOCK_SEQPACKET socket (boards/sim/usbredir.h): the board polls fd
 * while it waits and calls serve when it is readable, takes the host's reports with take, and sends
 * with send. Every function returns as board.h's transport functions do. */
typedef struct sim_link sim_link;
struct sim_link {
    int fd;                                     /* polled for input; -1 when closed */
    int (*serve)(sim_link *link);               /* fd is readable: OS_OK, or OS_ERR_IO (link is dead) */
    int (*take)(sim_link *link, uint8_t report[64]);        /* 1 with a host report, else 0 */
    int (*send)(sim_link *link, const uint8_t report[64]);  /* OS_OK or OS_ERR_IO */
};

typedef struct {
    const char *socket_path;    /* host transport (SOCK_SEQPACKET), required unless link is set */
    sim_link *link;             /* or this host transport (owned by the caller), else NULL */
    const char *flash_path;     /* flash image, created blank (0xFF) when missing, required */
    const char *control_path;   /* control socket (SOCK_STREAM, line protocol), or NULL */
    uint32_t flash_size;        /* 0: the existing file's size, else SIM_DEFAULT_FLASH_SIZE */
    uint64_t cut_at_write;      /* 1-based flash operation at which power is cut; 0: never */
    int seeded;                 /* 1: board_random is a DRBG from seed (test only) */
    uint64_t seed;
    int use_tty;                /* 1: draw the display on stderr and read keys from stdin when
                                   they are terminals */
} sim_config;

/* Stores the configuration (the strings are copied). Call before board_init.
 * Returns: OS_OK, OS_ERR_ARG (missing path or link, path too long for a Unix socket, flash size not a
 *          non-zero multiple of SIM_FLASH_SECTOR). */
int sim_configure(const sim_config *cfg);

/* Writes a one-line reason for the last failure of sim_configure/board_init into buf. */
void sim_last_error(char *buf, size_t cap);

/* Asks the board to stop: board_transport_recv returns 0 at once from then on. Async-signal-safe. */
void sim_request_stop(void);
int sim_stop_requested(void);

/* Closes the sockets (removing their paths), the flash file, and restores the terminal. */
void sim_shutdown(void);

/* Control-socket client used by `oncesign-sim --send`: connects to path, sends command, copies the
 * reply (one line, or for "screen" every line up to and including ".") into out, NUL-terminated.
 * Returns: OS_OK, OS_ERR_IO (connect/read failed, errno-based text in out), OS_ERR_BUFFER. */
int sim_control_send(const char *path, const char *command, char *out, size_t cap, int timeout_ms);

#ifdef ONCESIGN_TEST_RNG
/* The test-only DRBG behind --seed (build/oncesign-sim-test only): fills buf with SHA-256(seed ||
 * counter) blocks. Global so the linked image names it (tests/e2e/test_sim_rng.sh looks with nm).
 * Returns: OS_OK, or OS_ERR_IO when hashing failed. */
int sim_test_rng_fill(uint8_t *buf, size_t len);
#endif

#endif /* ONCESIGN_SIM_H */
