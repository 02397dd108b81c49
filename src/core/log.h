/* log: structured log lines on stderr.
 *
 * A line is: "TIMESTAMP LEVEL [SID] key=value ...". Session code passes its
 * session id; process-wide messages pass NULL. Client-supplied text must go
 * through log_escape() first so that it cannot forge log lines. The logger
 * is thread-safe (one write(2) per line). */
#ifndef KONVERT_CORE_LOG_H
#define KONVERT_CORE_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);

/* Where lines go: stderr (the default; journald under systemd) or
 * syslog (facility mail, without the timestamp, which syslog adds). */
enum log_target { LOG_TO_STDERR, LOG_TO_SYSLOG };
void log_set_target(enum log_target target);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *sid, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_error(sid, ...) log_msg(LOG_ERROR, (sid), __VA_ARGS__)
#define log_warn(sid, ...) log_msg(LOG_WARN, (sid), __VA_ARGS__)
#define log_info(sid, ...) log_msg(LOG_INFO, (sid), __VA_ARGS__)
#define log_debug(sid, ...)                                                  \
	do {                                                                 \
		if (log_get_level() >= LOG_DEBUG)                            \
			log_msg(LOG_DEBUG, (sid), __VA_ARGS__);              \
	} while (0)

/* Copies src (len bytes, may contain anything) into dst as printable ASCII:
 * control bytes, '"', '\\' and bytes >= 0x7f become \xNN; the result is
 * truncated to fit dst_size (always NUL-terminated, "..." marks a cut).
 * Returns dst. */
char *log_escape(char *dst, size_t dst_size, const char *src, size_t len);

/* As log_escape, but a well-formed UTF-8 sequence (core/utf8.h) of a
 * character at or above U+00A0 that utf8_is_hidden() lets through is
 * copied as it is, never cut; every other byte >= 0x80 becomes \xNN, one
 * escape per byte. The result is valid UTF-8 without controls. For
 * replies to a client that asked for UTF-8 (SMTPUTF8, POP3 UTF8) and
 * for messages to the administrator; log lines keep log_escape. */
char *log_escape_utf8(char *dst, size_t dst_size, const char *src, size_t len);

/* Prints "konvert: MESSAGE" on stderr and exits with status 1. For startup
 * and configuration errors only, never for client input. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
