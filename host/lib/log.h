/* oncesign host — the event log of oncesignd and the host library: one line per event on stderr,
 * with time, level, a stable event name, ids as key=value fields and a sentence.
 *
 *   text (default):  2026-12-03T13:14:00.123Z warning api.deadline closed=3 timeout_ms=1500: closed ...
 *   under systemd:   <4>warning api.deadline closed=3 timeout_ms=1500: closed ...
 *                    (JOURNAL_STREAM is set: journald keeps the <N> level and adds its own time)
 *   json:            {"ts":"2026-12-03T13:14:00.123Z","level":"warning","event":"api.deadline",
 *                     "closed":3,"timeout_ms":1500,"msg":"closed ..."}
 *
 * Control characters in values and messages are escaped, so a request cannot forge a log line.
 * Thread-safe: each event is written whole with one write(2). docs/OPERATING.md "Logs" lists the
 * events.
 */
#ifndef ONCESIGN_HOST_LOG_H
#define ONCESIGN_HOST_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    OS_LOG_ERROR = 3,       /* syslog's numbers: journald and `journalctl -p` use them */
    OS_LOG_WARNING = 4,
    OS_LOG_NOTICE = 5,
    OS_LOG_INFO = 6,
    OS_LOG_DEBUG = 7,
} os_log_level;

typedef enum {
    OS_LOG_FORMAT_AUTO = 0, /* journald's form when JOURNAL_STREAM is set, text otherwise */
    OS_LOG_FORMAT_TEXT,
    OS_LOG_FORMAT_JOURNAL,
    OS_LOG_FORMAT_JSON,
} os_log_format;

typedef struct {
    const char *key;        /* [a-z0-9_]+ */
    const char *str;        /* a string value, or NULL for num */
    int64_t num;
} os_log_field;

#define OS_LOG_STR(k, v) ((os_log_field){ (k), (v) != NULL ? (v) : "", 0 })
#define OS_LOG_INT(k, v) ((os_log_field){ (k), NULL, (int64_t)(v) })

/* Sets the format, the lowest level written (events above it, e.g. debug under info, are dropped)
 * and the file descriptor (2 by default). Call before threads log; not thread-safe itself.
 * Returns: OS_OK; OS_ERR_ARG (level out of range or fd < 0). */
int os_log_configure(os_log_format format, os_log_level min_level, int fd);

/* Parses "text", "journal", "json" or "auto". Returns OS_OK or OS_ERR_ARG. */
int os_log_format_parse(const char *name, os_log_format *out);

/* Writes one event. fields may be NULL when n is 0; msg_fmt is printf-style (may be NULL). A line
 * longer than 4 KiB is cut and ends with "…". Never fails: a write error is ignored (there is
 * nowhere left to report it). */
void os_log(os_log_level level, const char *event, const os_log_field *fields, size_t n, const char *msg_fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif /* ONCESIGN_HOST_LOG_H */
