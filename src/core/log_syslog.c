/* log_syslog: maps konvert's levels to syslog priorities. */
#include "core/log_syslog.h"

#include <syslog.h>

void log_syslog_open(void)
{
	openlog("konvert", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_syslog_close(void)
{
	closelog();
}

void log_syslog_write(int level, const char *line, size_t len)
{
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
	int p = level >= 0 && level < 4 ? prio[level] : LOG_INFO;
	syslog(p, "%.*s", (int)len, line);
}
