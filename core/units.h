/*
 * units.h - durations and byte sizes given as strings: the two value
 * syntaxes of the configuration file that are not plain JSON, and the
 * durations the HTTP API accepts (one parser, so "1.5s" means the same in
 * a config file and in ?wait=).
 *
 * Duration: Go's time.ParseDuration syntax without a sign: one or more
 * "<number><unit>" groups, number = digits with an optional fraction, unit =
 * ns, us (or µs), ms, s, m, h. "0" alone is zero. Examples: "500ms", "2m",
 * "1h30m", "1.5s".
 *
 * Size: "<digits>[unit]", unit case-insensitive, as nats-server's config
 * parser reads numbers with units: none or B = bytes; K = 1000, KB = KI =
 * KIB = 1024; M = 1000^2, MB = MI = MIB = 1024^2; G, GB/GI/GIB; T, TB/TI/TIB.
 * Examples: "64MiB", "1MB" (= 1048576), "512K" (= 512000).
 */
#ifndef JN_UNITS_H
#define JN_UNITS_H

#include <stdint.h>

/* 0 and *ns set, or -JN_EINVAL (syntax, or over INT64_MAX nanoseconds). */
int jn_parse_duration(const char *s, int64_t *ns);
/* 0 and *bytes set, or -JN_EINVAL (syntax, or over INT64_MAX bytes). */
int jn_parse_size(const char *s, int64_t *bytes);

#endif
