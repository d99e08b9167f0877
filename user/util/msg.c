// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>

#include "util/msg.h"

void pm_err(const char *fmt, ...)
{
	va_list ap;

	fputs("pymac: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
