/* log: formats one line per call and writes it with a single write(2) so
 * that lines from worker threads never interleave. Knows no protocol. */
#include "core/log.h"
#include "core/log_syslog.h"
#include "core/utf8.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = LOG_INFO;
static atomic_int log_target = LOG_TO_STDERR;

void log_set_target(enum log_target target)
{
	if (target == LOG_TO_SYSLOG && atomic_load(&log_target) != LOG_TO_SYSLOG)
		log_syslog_open();
	else if (target == LOG_TO_STDERR && atomic_load(&log_target) == LOG_TO_SYSLOG)
		log_syslog_close();
	atomic_store(&log_target, (int)target);
}

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
	atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&log_level);
}

void log_msg(enum log_level level, const char *sid, const char *fmt, ...)
{
	if ((int)level > atomic_load(&log_level))
		return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	(void)gettimeofday(&tv, NULL);
	(void)gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s%s%s", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (int)(tv.tv_usec / 1000), level_names[level], sid ? "[" : "",
			 sid ? sid : "", sid ? "] " : "");
	if (n < 0)
		return;
	size_t used = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + used, sizeof(line) - used, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	used += (size_t)m;
	if (used > sizeof(line) - 2)
		used = sizeof(line) - 2;
	if (atomic_load(&log_target) == LOG_TO_SYSLOG) {
		/* Without the timestamp: syslog has its own. */
		size_t skip = (size_t)strcspn(line, " ") + 1;
		log_syslog_write((int)level, line + skip, used - skip);
		return;
	}
	line[used++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, used);
	(void)w;
}

/* Both escapers: with utf8, a well-formed sequence of a shown character
 * is kept whole; anything else outside printable ASCII, '"' and '\\' is
 * \xNN. The cut ("...") never splits a kept sequence or an escape. */
static char *escape(char *dst, size_t dst_size, const char *src, size_t len, bool utf8)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (dst_size == 0)
		return dst;
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)src[i];
		size_t take = 1, need = 1;
		uint32_t cp;
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			need = 4;
			if (utf8 && c >= 0x80) {
				size_t n = utf8_decode(src + i, len - i, &cp);
				if (n > 1 && !utf8_is_hidden(cp))
					take = need = n;
			}
		}
		if (o + need + 4 > dst_size) {
			if (o + 4 <= dst_size) {
				memcpy(dst + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (need == 4 && take == 1) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else {
			memcpy(dst + o, src + i, take);
			o += take;
		}
		i += take;
	}
	dst[o] = '\0';
	return dst;
}

char *log_escape(char *dst, size_t dst_size, const char *src, size_t len)
{
	return escape(dst, dst_size, src, len, false);
}

char *log_escape_utf8(char *dst, size_t dst_size, const char *src, size_t len)
{
	return escape(dst, dst_size, src, len, true);
}

void fatal(const char *fmt, ...)
{
	va_list ap;
	fputs("konvert: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}
