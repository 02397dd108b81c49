/* log_syslog: the syslog(3) side of core/log, apart because <syslog.h>
 * defines LOG_INFO and LOG_DEBUG, which core/log.h uses as its own level
 * names. Facility mail, identity "konvert", the process id in each line. */
#ifndef KONVERT_CORE_LOG_SYSLOG_H
#define KONVERT_CORE_LOG_SYSLOG_H

#include <stddef.h>

void log_syslog_open(void);
void log_syslog_close(void);
/* level: 0 error, 1 warning, 2 info, 3 debug (enum log_level's order). */
void log_syslog_write(int level, const char *line, size_t len);

#endif
