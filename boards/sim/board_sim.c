/* oncesign — the simulator board: boards/board.h on Linux (see boards/sim/sim.h, docs/OPERATING.md).
 *
 * Everything happens on the signer's single thread: board_transport_recv is the place where the
 * signer waits, so it also serves the control socket and the keyboard while it waits (and
 * board_button_poll serves them without waiting), which keeps button presses and host reports in
 * one order and needs no locks.
 */
#define _GNU_SOURCE 1   /* accept4 */
#include "sim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "board.h"
#include "oncesign/status.h"

#define SIM_MAX_CONTROL_CLIENTS 4
#define SIM_CONTROL_LINE_MAX    256
#define SIM_SEND_TIMEOUT_MS     2000

typedef struct {
    int fd;
    size_t used;
    char line[SIM_CONTROL_LINE_MAX];
} control_client;

static struct {
    int configured;
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char control_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char flash_path[4096];
    uint32_t flash_size;
    int flash_size_given;
    uint64_t cut_at_op;         /* absolute 1-based operation number, 0: never */
    int seeded;
    uint64_t seed;
    uint64_t drbg_counter;
    int use_tty;

    int flash_fd;
    uint64_t flash_ops;
    int listen_fd, host_fd;
    sim_link *link;             /* the host transport when not the SOCK_SEQPACKET socket */
    int control_fd;
    control_client clients[SIM_MAX_CONTROL_CLIENTS];
    int keyboard;               /* stdin is a terminal in raw mode */
    struct termios saved_termios;
    int draw;                   /* stderr is a terminal and drawing is on */
    struct timespec start;

    char screen[BOARD_DISPLAY_ROWS][BOARD_DISPLAY_COLS + 1];
    int screen_rows;
    board_button pending_button;
    uint32_t pending_button_screen;     /* screen_generation when the press arrived */
    uint32_t screen_generation;         /* counts board_display_show calls */
    uint64_t screen_shown_ms;
    char last_error[256];
} sim = { .flash_fd = -1, .listen_fd = -1, .host_fd = -1, .control_fd = -1 };

static volatile sig_atomic_t stop_requested;

static void set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sim.last_error, sizeof sim.last_error, fmt, ap);
    va_end(ap);
}

static void sim_log(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("oncesign-sim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void sim_last_error(char *buf, size_t cap) {
    if (buf != NULL && cap > 0) snprintf(buf, cap, "%s", sim.last_error);
}

void sim_request_stop(void) { stop_requested = 1; }
int sim_stop_requested(void) { return stop_requested != 0; }

int sim_configure(const sim_config *cfg) {
    if (cfg == NULL || (cfg->socket_path == NULL && cfg->link == NULL) || cfg->flash_path == NULL) {
        set_error("--socket (or another host transport) and --flash are required");
        return OS_ERR_ARG;
    }
    if ((cfg->socket_path != NULL && strlen(cfg->socket_path) >= sizeof sim.socket_path) ||
        (cfg->control_path != NULL && strlen(cfg->control_path) >= sizeof sim.control_path)) {
        set_error("socket path longer than %zu bytes (the Unix socket limit)", sizeof sim.socket_path - 1);
        return OS_ERR_ARG;
    }
    if (strlen(cfg->flash_path) >= sizeof sim.flash_path) {
        set_error("flash path too long");
        return OS_ERR_ARG;
    }
    if (cfg->flash_size != 0 && cfg->flash_size % SIM_FLASH_SECTOR != 0) {
        set_error("--flash-size %u is not a multiple of the %u-byte sector", cfg->flash_size, SIM_FLASH_SECTOR);
        return OS_ERR_ARG;
    }
    if (cfg->socket_path != NULL) strcpy(sim.socket_path, cfg->socket_path);
    else sim.socket_path[0] = '\0';
    sim.link = cfg->link;
    strcpy(sim.flash_path, cfg->flash_path);
    if (cfg->control_path != NULL) strcpy(sim.control_path, cfg->control_path);
    else sim.control_path[0] = '\0';
    sim.flash_size_given = cfg->flash_size != 0;
    sim.flash_size = cfg->flash_size != 0 ? cfg->flash_size : SIM_DEFAULT_FLASH_SIZE;
    sim.cut_at_op = cfg->cut_at_write;
    sim.seeded = cfg->seeded;
    sim.seed = cfg->seed;
    sim.use_tty = cfg->use_tty;
    sim.configured = 1;
    return OS_OK;
}

/* ---------------------------------------------------------------- sockets */

/* Binds a listening Unix socket at path, replacing a stale socket a killed simulator left behind
 * (but never a file that is not a socket). */
static int listen_unix(const char *path, int type, const char *what) {
    struct sockaddr_un addr;
    struct stat st;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            set_error("%s path %s exists and is not a socket", what, path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        set_error("socket(%s): %s", what, strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 4) != 0) {
        set_error("bind/listen(%s): %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void close_host(const char *why) {
    if (sim.host_fd >= 0) {
        close(sim.host_fd);
        sim.host_fd = -1;
        sim_log("host disconnected (%s)", why);
    }
}

/* The current host connection is alive unless the peer closed it and nothing is left to read. */
static int host_alive(void) {
    uint8_t probe;
    if (sim.host_fd < 0) return 0;
    ssize_t n = recv(sim.host_fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 1;
    return 0;
}

static void accept_host(void) {
    int fd = accept4(sim.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    if (host_alive()) {
        /* One host at a time: the newcomer sees the connection closed at once. */
        sim_log("refused a second host connection (one host at a time)");
        close(fd);
        return;
    }
    close_host("replaced by a new connection");
    sim.host_fd = fd;
    sim_log("host connected");
}

/* ---------------------------------------------------------------- control socket */

static int write_all(int fd, const char *s, size_t len) {
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd p = { .fd = fd, .events = POLLOUT };
                if (poll(&p, 1, SIM_SEND_TIMEOUT_MS) <= 0) return -1;
                continue;
            }
            return -1;
        }
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

static int reply_line(int fd, const char *fmt, ...) {
    char line[SIM_CONTROL_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    size_t len = strlen(line);
    line[len++] = '\n';
    return write_all(fd, line, len);
}

static int control_command(int fd, char *line) {
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
    char *arg = strchr(line, ' ');
    if (arg != NULL) {
        *arg++ = '\0';
        while (*arg == ' ') arg++;
    }
    if (strcmp(line, "ping") == 0) return reply_line(fd, "pong");
    if (strcmp(line, "approve") == 0 || strcmp(line, "reject") == 0) {
        sim.pending_button = line[0] == 'a' ? BOARD_BUTTON_APPROVE : BOARD_BUTTON_REJECT;
        sim.pending_button_screen = sim.screen_generation;
        sim_log("control: %s", line);
        return reply_line(fd, "ok");
    }
    if (strcmp(line, "screen") == 0) {
        for (int r = 0; r < sim.screen_rows; r++) {
            /* Dot-stuffing (as SMTP): a screen line that starts with '.' gets one more. */
            if (reply_line(fd, "%s%s", sim.screen[r][0] == '.' ? "." : "", sim.screen[r]) != 0) return -1;
        }
        return reply_line(fd, ".");
    }
    if (strcmp(line, "flash-ops") == 0) return reply_line(fd, "%llu", (unsigned long long)sim.flash_ops);
    if (strcmp(line, "cut-at-write") == 0) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = arg != NULL ? strtoull(arg, &end, 10) : 0;
        if (arg == NULL || *arg == '\0' || *arg == '-' || errno != 0 || *end != '\0')
            return reply_line(fd, "error: usage: cut-at-write N (N >= 1, or 0 to disarm)");
        sim.cut_at_op = n == 0 ? 0 : sim.flash_ops + n;
        sim_log("control: power cut armed at flash operation %llu", (unsigned long long)sim.cut_at_op);
        return reply_line(fd, "ok");
    }
    return reply_line(fd, "error: unknown command '%s' (ping, approve, reject, screen, flash-ops, cut-at-write N)",
                      line);
}

static void close_client(control_client *c) {
    close(c->fd);
    c->fd = -1;
    c->used = 0;
}

static void serve_client(control_client *c) {
    char buf[512];
    ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        close_client(c);
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            c->line[c->used] = '\0';
            c->used = 0;
            if (control_command(c->fd, c->line) != 0) {
                close_client(c);
                return;
            }
        } else if (c->used + 1 < sizeof c->line) {
            c->line[c->used++] = buf[i];
        } else {
            reply_line(c->fd, "error: line too long");
            close_client(c);
            return;
        }
    }
}

static void accept_control(void) {
    int fd = accept4(sim.control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    for (int i = 0; i < SIM_MAX_CONTROL_CLIENTS; i++) {
        if (sim.clients[i].fd < 0) {
            sim.clients[i].fd = fd;
            sim.clients[i].used = 0;
            return;
        }
    }
    reply_line(fd, "error: too many control connections");
    close(fd);
}

/* ---------------------------------------------------------------- keyboard */

static void restore_terminal(void) {
    if (sim.keyboard) {
        tcsetattr(STDIN_FILENO, TCSANOW, &sim.saved_termios);
        sim.keyboard = 0;
    }
}

static void setup_terminal(void) {
    sim.draw = sim.use_tty && isatty(STDERR_FILENO);
    if (!sim.use_tty || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &sim.saved_termios) != 0) return;
    struct termios raw = sim.saved_termios;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
        sim.keyboard = 1;
        atexit(restore_terminal);
    }
}

static void serve_keyboard(void) {
    char keys[16];
    ssize_t n = read(STDIN_FILENO, keys, sizeof keys);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        /* The terminal went away: stop polling it rather than spin on its hang-up. */
        restore_terminal();
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        char k = keys[i];
        if (k == 'y' || k == 'Y' || k == '\n' || k == '\r') sim.pending_button = BOARD_BUTTON_APPROVE;
        else if (k == 'n' || k == 'N' || k == 0x1b) sim.pending_button = BOARD_BUTTON_REJECT;
        sim.pending_button_screen = sim.screen_generation;
    }
}

/* ---------------------------------------------------------------- the wait loop */

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Serves sockets and keyboard for up to timeout_ms. With report != NULL, returns 1 as soon as a
 * host report was read into it; otherwise returns 0 at the deadline (or at once on stop). */
static int sim_wait(uint8_t *report, int timeout_ms) {
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        struct pollfd fds[5 + SIM_MAX_CONTROL_CLIENTS];
        int kinds[5 + SIM_MAX_CONTROL_CLIENTS];   /* 0 listen, 1 host, 2 control, 3 keyboard, 4 link, 10+i client */
        nfds_t n = 0;
        if (stop_requested) return 0;
        if (report != NULL && sim.link != NULL && sim.link->take(sim.link, report) == 1) return 1;
        if (sim.link != NULL && sim.link->fd >= 0) { fds[n] = (struct pollfd){ sim.link->fd, POLLIN, 0 }; kinds[n++] = 4; }
        if (sim.listen_fd >= 0) { fds[n] = (struct pollfd){ sim.listen_fd, POLLIN, 0 }; kinds[n++] = 0; }
        if (report != NULL && sim.host_fd >= 0) { fds[n] = (struct pollfd){ sim.host_fd, POLLIN, 0 }; kinds[n++] = 1; }
        if (sim.control_fd >= 0) { fds[n] = (struct pollfd){ sim.control_fd, POLLIN, 0 }; kinds[n++] = 2; }
        if (sim.keyboard) { fds[n] = (struct pollfd){ STDIN_FILENO, POLLIN, 0 }; kinds[n++] = 3; }
        for (int i = 0; i < SIM_MAX_CONTROL_CLIENTS; i++) {
            if (sim.clients[i].fd >= 0) { fds[n] = (struct pollfd){ sim.clients[i].fd, POLLIN, 0 }; kinds[n++] = 10 + i; }
        }
        int64_t left = deadline - now_ms();
        if (left < 0) left = 0;
        int ready = poll(fds, n, (int)left);
        if (ready < 0 && errno != EINTR) {
            sim_log("poll: %s", strerror(errno));
            return 0;
        }
        for (nfds_t i = 0; ready > 0 && i < n; i++) {
            if (fds[i].revents == 0) continue;
            switch (kinds[i]) {
            case 0: accept_host(); break;
            case 2: accept_control(); break;
            case 3: serve_keyboard(); break;
            case 4:
                /* A dead link (QEMU went away) is closed by its serve; the signer keeps running. */
                if (sim.link->serve(sim.link) != OS_OK) sim_log("host transport closed");
                break;
            case 1: {
                uint8_t buf[BOARD_REPORT_SIZE + 1];
                if (sim.host_fd < 0) break;
                ssize_t got = recv(sim.host_fd, buf, sizeof buf, MSG_DONTWAIT);
                if (got == 0) {
                    close_host("closed by the host");
                } else if (got < 0) {
                    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) close_host(strerror(errno));
                } else if (got != BOARD_REPORT_SIZE) {
                    sim_log("dropped a %zd-byte packet: reports are exactly %d bytes", got, BOARD_REPORT_SIZE);
                } else {
                    memcpy(report, buf, BOARD_REPORT_SIZE);
                    return 1;
                }
                break;
            }
            default: {
                control_client *c = &sim.clients[kinds[i] - 10];
                if (c->fd >= 0) serve_client(c);
                break;
            }
            }
        }
        if (now_ms() >= deadline) return 0;
    }
}

/* ---------------------------------------------------------------- flash */

static int flash_pwrite_sync(const uint8_t *buf, size_t len, uint32_t offset) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(sim.flash_fd, buf + done, len - done, (off_t)(offset + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            sim_log("flash pwrite: %s", strerror(errno));
            return OS_ERR_IO;
        }
        done += (size_t)n;
    }
    if (fdatasync(sim.flash_fd) != 0) {
        sim_log("flash fdatasync: %s", strerror(errno));
        return OS_ERR_IO;
    }
    return OS_OK;
}

static int flash_pread(uint8_t *buf, size_t len, uint32_t offset) {
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(sim.flash_fd, buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            sim_log("flash pread: %s", n < 0 ? strerror(errno) : "short file");
            return OS_ERR_IO;
        }
        done += (size_t)n;
    }
    return OS_OK;
}

static int open_flash(void) {
    struct stat st;
    int created = 0;
    sim.flash_fd = open(sim.flash_path, O_RDWR | O_CLOEXEC);
    if (sim.flash_fd < 0 && errno == ENOENT) {
        sim.flash_fd = open(sim.flash_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        created = 1;
    }
    if (sim.flash_fd < 0 || fstat(sim.flash_fd, &st) != 0) {
        set_error("flash file %s: %s", sim.flash_path, strerror(errno));
        return OS_ERR_IO;
    }
    if (!created && st.st_size > 0) {
        if (!sim.flash_size_given && st.st_size % SIM_FLASH_SECTOR == 0 && st.st_size <= UINT32_MAX) {
            sim.flash_size = (uint32_t)st.st_size;
        } else if ((uint64_t)st.st_size != sim.flash_size) {
            set_error("flash file %s is %lld bytes but --flash-size is %u", sim.flash_path,
                      (long long)st.st_size, sim.flash_size);
            return OS_ERR_IO;
        }
        return OS_OK;
    }
    uint8_t blank[SIM_FLASH_SECTOR];
    memset(blank, 0xFF, sizeof blank);
    for (uint32_t off = 0; off < sim.flash_size; off += SIM_FLASH_SECTOR) {
        if (flash_pwrite_sync(blank, sizeof blank, off) != OS_OK) {
            set_error("cannot write blank flash file %s", sim.flash_path);
            return OS_ERR_IO;
        }
    }
    return OS_OK;
}

/* Counts one flash operation; returns how many of its len bytes take effect: len normally, a
 * deterministic prefix shorter than len when this is the operation where the power is cut. */
static size_t flash_op_begin(size_t len, int *cut) {
    sim.flash_ops++;
    *cut = sim.cut_at_op != 0 && sim.flash_ops == sim.cut_at_op;
    if (!*cut || len == 0) return len;
    /* splitmix64 of (seed, op number): the same run cuts at the same byte. */
    uint64_t z = sim.seed ^ (sim.flash_ops * 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (size_t)(z % len);
}

static void power_cut(size_t kept, size_t len) {
    sim_log("POWER CUT at flash operation %llu (%zu of %zu bytes written)", (unsigned long long)sim.flash_ops,
            kept, len);
    restore_terminal();
    _exit(SIM_CUT_EXIT_STATUS);
}

uint32_t board_flash_size(void) { return sim.flash_size; }
uint32_t board_flash_sector_size(void) { return SIM_FLASH_SECTOR; }

static int range_ok(uint32_t offset, size_t len) {
    return sim.flash_fd >= 0 && offset <= sim.flash_size && len <= (size_t)(sim.flash_size - offset);
}

int board_flash_read(uint32_t offset, void *buf, size_t len) {
    if (buf == NULL || !range_ok(offset, len)) return OS_ERR_ARG;
    return flash_pread(buf, len, offset);
}

int board_flash_erase(uint32_t sector) {
    uint8_t data[SIM_FLASH_SECTOR];
    int cut;
    if (sim.flash_fd < 0 || sector >= sim.flash_size / SIM_FLASH_SECTOR) return OS_ERR_ARG;
    uint32_t offset = sector * SIM_FLASH_SECTOR;
    size_t kept = flash_op_begin(sizeof data, &cut);
    if (cut) {
        /* The erase got through the first `kept` bytes; the rest keeps its old content. */
        if (flash_pread(data, sizeof data, offset) != OS_OK) return OS_ERR_IO;
        memset(data, 0xFF, kept);
        flash_pwrite_sync(data, sizeof data, offset);
        power_cut(kept, sizeof data);
    }
    memset(data, 0xFF, sizeof data);
    return flash_pwrite_sync(data, sizeof data, offset);
}

int board_flash_write(uint32_t offset, const void *buf, size_t len) {
    uint8_t chunk[SIM_FLASH_SECTOR];
    const uint8_t *in = buf;
    int cut;
    if ((buf == NULL && len > 0) || !range_ok(offset, len)) return OS_ERR_ARG;
    size_t effective = flash_op_begin(len, &cut);
    for (size_t done = 0; done < effective;) {
        size_t n = effective - done < sizeof chunk ? effective - done : sizeof chunk;
        if (flash_pread(chunk, n, (uint32_t)(offset + done)) != OS_OK) return OS_ERR_IO;
        for (size_t i = 0; i < n; i++) chunk[i] &= in[done + i];   /* NOR: bits only clear */
        int rc = flash_pwrite_sync(chunk, n, (uint32_t)(offset + done));
        if (rc != OS_OK && !cut) return rc;
        done += n;
    }
    if (cut) power_cut(effective, len);
    return OS_OK;
}

/* ---------------------------------------------------------------- random, time */

#ifdef ONCESIGN_TEST_RNG
/* Test-only DRBG: SHA-256(seed || counter) blocks, reproducible for a given --seed. Compiled only
 * into build/oncesign-sim-test (mk/device.mk); tests/e2e/test_sim_rng.sh checks with nm that the
 * production simulator does not contain it. */
int sim_test_rng_fill(uint8_t *buf, size_t len) {
    uint8_t in[16], block[32];
    for (size_t done = 0; done < len;) {
        for (int i = 0; i < 8; i++) {
            in[i] = (uint8_t)(sim.seed >> (8 * i));
            in[8 + i] = (uint8_t)(sim.drbg_counter >> (8 * i));
        }
        sim.drbg_counter++;
        if (mbedtls_sha256_ret(in, sizeof in, block, 0) != 0) return OS_ERR_IO;
        size_t n = len - done < sizeof block ? len - done : sizeof block;
        memcpy(buf + done, block, n);
        done += n;
    }
    return OS_OK;
}
#endif

int board_random(uint8_t *buf, size_t len) {
    if (buf == NULL && len > 0) return OS_ERR_ARG;
#ifdef ONCESIGN_TEST_RNG
    if (sim.seeded) return sim_test_rng_fill(buf, len);
#endif
    for (size_t done = 0; done < len;) {
        ssize_t n = getrandom(buf + done, len - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            sim_log("getrandom: %s", strerror(errno));
            return OS_ERR_IO;
        }
        done += (size_t)n;
    }
    return OS_OK;
}

int board_random_is_test_only(void) {
#ifdef ONCESIGN_TEST_RNG
    return sim.seeded ? 1 : 0;
#else
    return 0;
#endif
}

uint64_t board_millis(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ms = (int64_t)(ts.tv_sec - sim.start.tv_sec) * 1000 + (ts.tv_nsec - sim.start.tv_nsec) / 1000000;
    return ms > 0 ? (uint64_t)ms : 0;
}

/* ---------------------------------------------------------------- display, buttons */

void board_display_show(const char *text) {
    int row = 0;
    size_t col = 0;
    memset(sim.screen, 0, sizeof sim.screen);
    sim.screen_generation++;
    sim.screen_shown_ms = board_millis();
    if (text == NULL) text = "";
    for (const char *p = text; *p != '\0' && row < BOARD_DISPLAY_ROWS; p++) {
        if (*p == '\n') {
            row++;
            col = 0;
        } else if (col < BOARD_DISPLAY_COLS) {
            unsigned char ch = (unsigned char)*p;
            sim.screen[row][col++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
        }
    }
    if (row < BOARD_DISPLAY_ROWS && (col > 0 || (text[0] != '\0' && text[strlen(text) - 1] != '\n'))) row++;
    sim.screen_rows = row;
    if (sim.draw) {
        char border[BOARD_DISPLAY_COLS + 3];
        border[0] = '+';
        memset(border + 1, '-', BOARD_DISPLAY_COLS);
        border[BOARD_DISPLAY_COLS + 1] = '+';
        border[BOARD_DISPLAY_COLS + 2] = '\0';
        fprintf(stderr, "\n%s\n", border);
        for (int r = 0; r < sim.screen_rows; r++) fprintf(stderr, "|%-*s|\n", BOARD_DISPLAY_COLS, sim.screen[r]);
        fprintf(stderr, "%s\n%s", border, sim.keyboard ? "  [y/Enter] approve   [n/Esc] reject\n" : "");
    }
}

board_button board_button_poll(void) {
    sim_wait(NULL, 0);
    board_button b = sim.pending_button;
    if (b == BOARD_BUTTON_NONE) return b;
    /* board.h, BOARD_PRESS_SETTLE_MS: the press answers the screen shown when it arrived. */
    if (sim.pending_button_screen != sim.screen_generation) {
        sim_log("button: press dropped, the screen changed before it settled");
        sim.pending_button = BOARD_BUTTON_NONE;
        return BOARD_BUTTON_NONE;
    }
    if (board_millis() - sim.screen_shown_ms < BOARD_PRESS_SETTLE_MS) return BOARD_BUTTON_NONE;
    sim.pending_button = BOARD_BUTTON_NONE;
    return b;
}

/* ---------------------------------------------------------------- transport */

int board_transport_recv(uint8_t report[BOARD_REPORT_SIZE], uint32_t timeout_ms) {
    if (report == NULL) return OS_ERR_ARG;
    return sim_wait(report, timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms);
}

int board_transport_send(const uint8_t report[BOARD_REPORT_SIZE]) {
    if (report == NULL) return OS_ERR_ARG;
    if (sim.link != NULL) return sim.link->send(sim.link, report);
    if (sim.host_fd < 0) return OS_ERR_IO;
    for (;;) {
        ssize_t n = send(sim.host_fd, report, BOARD_REPORT_SIZE, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n == BOARD_REPORT_SIZE) return OS_OK;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* A host that stops reading must not freeze the signer forever. */
            struct pollfd p = { .fd = sim.host_fd, .events = POLLOUT };
            if (poll(&p, 1, SIM_SEND_TIMEOUT_MS) > 0 && !(p.revents & (POLLHUP | POLLERR))) continue;
            close_host("host stopped reading");
            return OS_ERR_IO;
        }
        close_host(n < 0 ? strerror(errno) : "short send");
        return OS_ERR_IO;
    }
}

/* ---------------------------------------------------------------- lifecycle */

int board_init(void) {
    if (!sim.configured) {
        set_error("sim_configure was not called");
        return OS_ERR_IO;
    }
    clock_gettime(CLOCK_MONOTONIC, &sim.start);
    for (int i = 0; i < SIM_MAX_CONTROL_CLIENTS; i++) sim.clients[i].fd = -1;
    if (open_flash() != OS_OK) return OS_ERR_IO;
    if (sim.socket_path[0] != '\0') {
        sim.listen_fd = listen_unix(sim.socket_path, SOCK_SEQPACKET, "host socket");
        if (sim.listen_fd < 0) return OS_ERR_IO;
    }
    if (sim.control_path[0] != '\0') {
        sim.control_fd = listen_unix(sim.control_path, SOCK_STREAM, "control socket");
        if (sim.control_fd < 0) return OS_ERR_IO;
    }
    setup_terminal();
    board_display_show(board_random_is_test_only() ? "oncesign simulator\nTEST-ONLY RANDOM" : "oncesign simulator");
    return OS_OK;
}

void sim_shutdown(void) {
    close_host("simulator stopping");
    for (int i = 0; i < SIM_MAX_CONTROL_CLIENTS; i++) {
        if (sim.clients[i].fd >= 0) close_client(&sim.clients[i]);
    }
    if (sim.listen_fd >= 0) {
        close(sim.listen_fd);
        sim.listen_fd = -1;
        unlink(sim.socket_path);
    }
    if (sim.control_fd >= 0) {
        close(sim.control_fd);
        sim.control_fd = -1;
        unlink(sim.control_path);
    }
    if (sim.flash_fd >= 0) {
        close(sim.flash_fd);
        sim.flash_fd = -1;
    }
    restore_terminal();
}

int sim_control_send(const char *path, const char *command, char *out, size_t cap, int timeout_ms) {
    struct sockaddr_un addr;
    if (path == NULL || command == NULL || out == NULL || cap == 0) return OS_ERR_ARG;
    out[0] = '\0';
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(out, cap, "control path too long");
        return OS_ERR_ARG;
    }
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        snprintf(out, cap, "connect(%s): %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return OS_ERR_IO;
    }
    char line[SIM_CONTROL_LINE_MAX + 2];
    int len = snprintf(line, sizeof line, "%s\n", command);
    if (len < 0 || (size_t)len >= sizeof line || write_all(fd, line, (size_t)len) != 0) {
        snprintf(out, cap, "cannot send the command");
        close(fd);
        return OS_ERR_IO;
    }
    int multi = strcmp(command, "screen") == 0;
    size_t used = 0, line_start = 0;
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            snprintf(out, cap, "no answer from %s", path);
            close(fd);
            return OS_ERR_IO;
        }
        if (used + 1 >= cap) {
            close(fd);
            return OS_ERR_BUFFER;
        }
        ssize_t n = read(fd, out + used, 1);
        if (n <= 0) {
            snprintf(out, cap, "control connection closed");
            close(fd);
            return OS_ERR_IO;
        }
        used++;
        out[used] = '\0';
        if (out[used - 1] != '\n') continue;
        int done = !multi || strcmp(out + line_start, ".\n") == 0;
        line_start = used;
        if (done) break;
    }
    close(fd);
    return OS_OK;
}
