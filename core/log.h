/*
 * log.h - leveled log lines to stderr, safe from any thread:
 *   2026-11-25T08:34:26.123Z [INF] nats: listening on 127.0.0.1:4222
 * One write(2) per line so lines from threads never interleave.
 */
#ifndef JN_LOG_H
#define JN_LOG_H

enum jn_log_level { JN_LOG_TRACE = 0, JN_LOG_DEBUG, JN_LOG_INFO, JN_LOG_WARN, JN_LOG_ERROR };

void jn_log_set_level(enum jn_log_level lvl);
enum jn_log_level jn_log_get_level(void);
int jn_log_parse_level(const char *s);   /* "trace".."error", or -1 */

void jn_log(enum jn_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define jn_trace(...) do { if (jn_log_get_level() <= JN_LOG_TRACE) jn_log(JN_LOG_TRACE, __VA_ARGS__); } while (0)
#define jn_debug(...) do { if (jn_log_get_level() <= JN_LOG_DEBUG) jn_log(JN_LOG_DEBUG, __VA_ARGS__); } while (0)
#define jn_info(...)  jn_log(JN_LOG_INFO, __VA_ARGS__)
#define jn_warn(...)  jn_log(JN_LOG_WARN, __VA_ARGS__)
#define jn_error(...) jn_log(JN_LOG_ERROR, __VA_ARGS__)

#endif
