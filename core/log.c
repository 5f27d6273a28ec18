/*
 * log.c - leveled log lines. Each line is formatted into a stack buffer and
 * written with a single write(2) to stderr, so concurrent threads never
 * interleave within a line and no lock is needed.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = JN_LOG_INFO;

static const char *const tags[] = { "TRC", "DBG", "INF", "WRN", "ERR" };
static const char *const names[] = { "trace", "debug", "info", "warn", "error" };

void jn_log_set_level(enum jn_log_level lvl) { atomic_store(&log_level, (int)lvl); }
enum jn_log_level jn_log_get_level(void) { return (enum jn_log_level)atomic_load_explicit(&log_level, memory_order_relaxed); }

int jn_log_parse_level(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcasecmp(s, names[i]) == 0)
			return i;
	if (strcasecmp(s, "warning") == 0)
		return JN_LOG_WARN;
	return -1;
}

void jn_log(enum jn_log_level lvl, const char *fmt, ...)
{
	if ((int)lvl < atomic_load_explicit(&log_level, memory_order_relaxed))
		return;
	if ((int)lvl < 0 || lvl > JN_LOG_ERROR)
		lvl = JN_LOG_ERROR;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ [%s] ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, tags[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
