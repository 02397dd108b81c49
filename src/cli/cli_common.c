/* cli_common: the one error printer of the command-line tools. */
#include "cli/cli_common.h"

#include <stdarg.h>
#include <stdio.h>

void cli_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	(void)fputs("konvert: ", stderr);
	(void)vfprintf(stderr, fmt, ap);
	(void)fputc('\n', stderr);
	va_end(ap);
}
