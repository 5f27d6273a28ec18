/*
 * test_nats_parser.c - the NATS client-protocol parser (adapters/nats/parser.c).
 *
 * Every case is checked three ways: parsed whole, split at every byte
 * boundary (and, for short inputs, at every pair of boundaries), and fed one
 * byte at a time. All must yield the same command sequence, the same return
 * code and the same -ERR text, and an idle parser must hold no memory.
 * Commands are recorded in a small text form:
 *   PUB <subj> <reply|-> <size> [<payload>]
 *   HPUB <subj> <reply|-> <hdr> <total> [<payload>]
 *   SUB <subj> <queue|-> <sid>      UNSUB <sid> <max>
 *   PING  PONG  +OK  CONNECT [<json>]  INFO [<json>]  -ERR [<text>]
 * followed by the outcome: "= JN_OK" or "= JN_EPROTO 'text'" / "= JN_EPROTO -".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "adapters/nats/parser.h"
#include "core/err.h"

#define MCL 4096u
#define MP (1024u * 1024u)

struct rec {
	char *buf;
	size_t len, cap;
	int stop_after;     /* callback returns -1 after this many commands (0: never) */
	int ncmd;
	const uint8_t *in;  /* for the zero-copy check */
	size_t in_len;
	int zero_copy;      /* payloads that pointed into `in` */
};

static void put(struct rec *r, const void *p, size_t n)
{
	if (r->len + n + 1 > r->cap) {
		r->cap = (r->len + n + 1) * 2;
		r->buf = realloc(r->buf, r->cap);
		assert_non_null(r->buf);
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
	r->buf[r->len] = '\0';
}

static void putf(struct rec *r, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	put(r, tmp, (size_t)n);
}

static void put_str(struct rec *r, const struct jn_nats_str *s)
{
	if (!s->p) {
		assert_int_equal(s->len, 0);
		put(r, "-", 1);
	} else {
		put(r, s->p, s->len);
	}
}

static void put_bracket(struct rec *r, const void *p, size_t n)
{
	put(r, "[", 1);
	if (n)
		put(r, p, n);
	put(r, "]", 1);
}

static int rec_cb(void *ctx, const struct jn_nats_cmd *c)
{
	struct rec *r = ctx;
	switch (c->op) {
	case JN_NATS_PUB:
	case JN_NATS_HPUB:
		put(r, c->op == JN_NATS_PUB ? "PUB " : "HPUB ", c->op == JN_NATS_PUB ? 4 : 5);
		put_str(r, &c->subject);
		put(r, " ", 1);
		put_str(r, &c->reply);
		if (c->op == JN_NATS_HPUB)
			putf(r, " %u", c->hdr_len);
		putf(r, " %u ", c->total_len);
		put_bracket(r, c->payload, c->total_len);
		if (c->payload >= r->in && c->payload < r->in + r->in_len)
			r->zero_copy++;
		break;
	case JN_NATS_SUB:
		put(r, "SUB ", 4);
		put_str(r, &c->subject);
		put(r, " ", 1);
		put_str(r, &c->queue);
		put(r, " ", 1);
		put_str(r, &c->sid);
		break;
	case JN_NATS_UNSUB:
		put(r, "UNSUB ", 6);
		put_str(r, &c->sid);
		putf(r, " %lld", (long long)c->max_msgs);
		break;
	case JN_NATS_PING: put(r, "PING", 4); break;
	case JN_NATS_PONG: put(r, "PONG", 4); break;
	case JN_NATS_OK: put(r, "+OK", 3); break;
	case JN_NATS_CONNECT:
		put(r, "CONNECT ", 8);
		put_bracket(r, c->json.p, c->json.len);
		break;
	case JN_NATS_INFO:
		put(r, "INFO ", 5);
		put_bracket(r, c->json.p, c->json.len);
		break;
	case JN_NATS_ERR:
		put(r, "-ERR ", 5);
		put_bracket(r, c->json.p, c->json.len);
		break;
	default:
		fail_msg("unknown op %d", c->op);
	}
	put(r, "\n", 1);
	r->ncmd++;
	if (r->stop_after && r->ncmd >= r->stop_after)
		return -1;
	return 0;
}

struct limits {
	uint32_t mcl, mp;
	int stop_after;
	uint8_t hpub_off, connect_first;
};
static const struct limits deflim = { MCL, MP, 0, 0, 0 };

/* Feed in[0..len) cut at cuts[0..ncuts) (ascending); returns the record
 * (caller frees) ending with the outcome line. */
static char *run(const uint8_t *in, size_t len, const size_t *cuts, int ncuts,
                 const struct limits *lim, int *zero_copy)
{
	struct jn_nats_parser p;
	jn_nats_parser_init(&p, lim->mcl, lim->mp);
	p.hpub_off = lim->hpub_off;
	p.connect_first = lim->connect_first;
	struct rec r = { .stop_after = lim->stop_after, .in = in, .in_len = len };
	put(&r, "", 0);
	int rc = 0;
	size_t at = 0;
	for (int k = 0; k <= ncuts && rc >= 0; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		/* Copy each piece so that a pointer kept into an earlier piece
		 * (a zero-copy bug) reads freed memory under ASan. */
		size_t n = end - at;
		uint8_t *piece = malloc(n ? n : 1);
		memcpy(piece, in + at, n);
		if (ncuts == 0) {
			r.in = piece;
			r.in_len = n;
		}
		rc = jn_nats_parse(&p, piece, n, rec_cb, &r);
		free(piece);
		at = end;
	}
	if (rc == 0) {
		putf(&r, "= JN_OK");
	} else if (rc == -1) {
		putf(&r, "= STOP");
	} else {
		putf(&r, "= %s ", jn_err_info(rc)->name);
		if (p.err)
			putf(&r, "'%s'", p.err);
		else
			putf(&r, "-");
	}
	/* Idle means no memory: whatever ended at a command boundary or in
	 * an error holds nothing. */
	if (rc != 0)
		assert_int_equal(jn_nats_parser_held(&p), 0);
	jn_nats_parser_fini(&p);
	assert_int_equal(jn_nats_parser_held(&p), 0);
	if (zero_copy)
		*zero_copy = r.zero_copy;
	return r.buf;
}

/* The split-invariance check shared by every case. */
static void check_lim(const char *in, size_t len, const char *expect, const struct limits *lim)
{
	const uint8_t *u = (const uint8_t *)in;
	char *whole = run(u, len, NULL, 0, lim, NULL);
	if (expect && strcmp(whole, expect) != 0)
		fail_msg("whole parse of %zu bytes:\n got: %s\nwant: %s", len, whole, expect);
	for (size_t k = 1; k < len; k++) {
		char *s = run(u, len, &k, 1, lim, NULL);
		if (strcmp(s, whole) != 0)
			fail_msg("split at %zu:\n got: %s\nwant: %s", k, s, whole);
		free(s);
	}
	if (len <= 160) {
		for (size_t a = 1; a < len; a++)
			for (size_t b = a + 1; b < len; b++) {
				size_t cuts[2] = { a, b };
				char *s = run(u, len, cuts, 2, lim, NULL);
				if (strcmp(s, whole) != 0)
					fail_msg("split at %zu,%zu:\n got: %s\nwant: %s", a, b, s, whole);
				free(s);
			}
	}
	size_t *cuts = malloc((len ? len : 1) * sizeof *cuts);
	for (size_t k = 0; k + 1 < len; k++)
		cuts[k] = k + 1;
	char *s = run(u, len, cuts, len ? (int)len - 1 : 0, lim, NULL);
	if (strcmp(s, whole) != 0)
		fail_msg("byte at a time:\n got: %s\nwant: %s", s, whole);
	free(s);
	free(cuts);
	free(whole);
}

static void check_with(const char *in, const char *expect, const struct limits *lim)
{
	check_lim(in, strlen(in), expect, lim);
}

static void check(const char *in, const char *expect)
{
	check_lim(in, strlen(in), expect, &deflim);
}

/* ---- every command form ---------------------------------------------------- */

static void test_all_forms(void **state)
{
	(void)state;
	check("PUB foo 5\r\nhello\r\n", "PUB foo - 5 [hello]\n= JN_OK");
	check("PUB foo bar.reply 5\r\nhello\r\n", "PUB foo bar.reply 5 [hello]\n= JN_OK");
	check("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	      "HPUB foo - 12 14 [NATS/1.0\r\n\r\nhi]\n= JN_OK");
	check("HPUB foo r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	      "HPUB foo r 12 14 [NATS/1.0\r\n\r\nhi]\n= JN_OK");
	check("HPUB $KV.b.k _INBOX.x 0 2\r\nv1\r\n", "HPUB $KV.b.k _INBOX.x 0 2 [v1]\n= JN_OK");
	check("SUB foo 1\r\n", "SUB foo - 1\n= JN_OK");
	check("SUB foo.* workers 22\r\n", "SUB foo.* workers 22\n= JN_OK");
	check("UNSUB 1\r\n", "UNSUB 1 -1\n= JN_OK");
	check("UNSUB 1 10\r\n", "UNSUB 1 10\n= JN_OK");
	check("UNSUB 1 0\r\n", "UNSUB 1 0\n= JN_OK");
	check("PING\r\nPONG\r\n", "PING\nPONG\n= JN_OK");
	check("CONNECT {\"verbose\":false,\"name\":\"a b\"}\r\n",
	      "CONNECT [{\"verbose\":false,\"name\":\"a b\"}]\n= JN_OK");
	check("INFO {\"x\":1}\r\n", "INFO [{\"x\":1}]\n= JN_OK");
	check("+OK\r\n", "+OK\n= JN_OK");
	check("-ERR 'Unknown Protocol Operation'\r\n", "-ERR ['Unknown Protocol Operation']\n= JN_OK");
}

static void test_case_and_whitespace(void **state)
{
	(void)state;
	check("pub foo 1\r\nx\r\nPub foo 1\r\ny\r\npUb foo 1\r\nz\r\n",
	      "PUB foo - 1 [x]\nPUB foo - 1 [y]\nPUB foo - 1 [z]\n= JN_OK");
	check("sub\tfoo\t1\r\nSUB foo   q\t \t2\r\nSuB  \tfoo 3 \r\n",
	      "SUB foo - 1\nSUB foo q 2\nSUB foo - 3\n= JN_OK");
	/* nats.go sends two spaces when the queue is empty. */
	check("SUB _INBOX.x.*  1\r\n", "SUB _INBOX.x.* - 1\n= JN_OK");
	check("ping\r\nPoNg\r\n+ok\r\nconnect {}\r\ninfo {}\r\nhpub a 0 0\r\n\r\nunsub 5\r\n-err x\r\n",
	      "PING\nPONG\n+OK\nCONNECT [{}]\nINFO [{}]\nHPUB a - 0 0 []\nUNSUB 5 -1\n-ERR [x]\n= JN_OK");
	check("PUB\tfoo\t\trep\t 3\r\nabc\r\n", "PUB foo rep 3 [abc]\n= JN_OK");
	/* CONNECT/INFO need no separator; their text may hold spaces. */
	check("CONNECT{}\r\nCONNECT   \t{ \"a\" : 1 }\r\n",
	      "CONNECT [{}]\nCONNECT [{ \"a\" : 1 }]\n= JN_OK");
	/* A bare "\n" ends a control line too (nats-server tolerates it). */
	check("PING\nSUB foo 1\nPUB foo 2\nhi\r\n", "PING\nSUB foo - 1\nPUB foo - 2 [hi]\n= JN_OK");
	/* SUB and UNSUB split on '\r' too (nats-server splitArg); PUB does not. */
	check("SUB foo\r1\r\nUNSUB 1\r5\r\n", "SUB foo - 1\nUNSUB 1 5\n= JN_OK");
	check("PUB a\rb 1\r\nx\r\n", "PUB a\rb - 1 [x]\n= JN_OK");
	/* PING/PONG/+OK ignore the rest of their line, however long. */
	check("PING foo\r\nPINGx\r\nPONG  \r\n+OKAY\r\n", "PING\nPING\nPONG\n+OK\n= JN_OK");
}

static void test_payload_edges(void **state)
{
	(void)state;
	check("PUB foo 0\r\n\r\n", "PUB foo - 0 []\n= JN_OK");
	check("PUB foo 4\r\n\r\n\r\n\r\n", "PUB foo - 4 [\r\n\r\n]\n= JN_OK");
	check("PUB foo 6\r\nPING\r\n\r\nPING\r\n", "PUB foo - 6 [PING\r\n]\nPING\n= JN_OK");
	check("PUB foo 3\r\n\n\n\n\r\n", "PUB foo - 3 [\n\n\n]\n= JN_OK");
	check("HPUB foo 2 2\r\n\r\n\r\n", "HPUB foo - 2 2 [\r\n]\n= JN_OK");
}

static void test_sequence(void **state)
{
	(void)state;
	const char *in =
		"CONNECT {\"verbose\":false}\r\n"
		"SUB foo 1\r\n"
		"SUB bar q 2\r\n"
		"PUB foo 5\r\nhello\r\n"
		"PUB foo _INBOX.a 0\r\n\r\n"
		"HPUB bar 17 19\r\nNATS/1.0\r\nA:b\r\n\r\nhi\r\n"
		"UNSUB 1 3\r\n"
		"PING\r\n"
		"pong\n";
	check(in,
	      "CONNECT [{\"verbose\":false}]\n"
	      "SUB foo - 1\n"
	      "SUB bar q 2\n"
	      "PUB foo - 5 [hello]\n"
	      "PUB foo _INBOX.a 0 []\n"
	      "HPUB bar - 17 19 [NATS/1.0\r\nA:b\r\n\r\nhi]\n"
	      "UNSUB 1 3\n"
	      "PING\n"
	      "PONG\n"
	      "= JN_OK");
}

/* Whole commands are handed over without a copy and without holding
 * memory; a split one is copied and released once complete. */
static void test_zero_copy_and_memory(void **state)
{
	(void)state;
	const char *in = "PUB foo 5\r\nhello\r\nPUB bar 3\r\nabc\r\n";
	int zc = 0;
	char *s = run((const uint8_t *)in, strlen(in), NULL, 0, &deflim, &zc);
	assert_int_equal(zc, 2);
	free(s);

	struct jn_nats_parser p;
	jn_nats_parser_init(&p, MCL, MP);
	struct rec r = { 0 };
	put(&r, "", 0);
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"PUB foo 5\r\nhel", 14, rec_cb, &r), 0);
	assert_true(jn_nats_parser_held(&p) > 0);
	assert_int_equal(r.ncmd, 0);
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"lo\r\nPI", 6, rec_cb, &r), 0);
	assert_int_equal(r.ncmd, 1);
	assert_true(jn_nats_parser_held(&p) > 0);   /* "PI" pending */
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"NG\r\n", 4, rec_cb, &r), 0);
	assert_int_equal(jn_nats_parser_held(&p), 0);
	assert_string_equal(r.buf, "PUB foo - 5 [hello]\nPING\n");
	/* A split PING tail is skipped, not stored. */
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"PING ", 5, rec_cb, &r), 0);
	for (int i = 0; i < 10000; i++)
		assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"x", 1, rec_cb, &r), 0);
	assert_int_equal(jn_nats_parser_held(&p), 0);
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"\r\n", 2, rec_cb, &r), 0);
	assert_string_equal(r.buf, "PUB foo - 5 [hello]\nPING\nPING\n");
	jn_nats_parser_fini(&p);
	free(r.buf);
}

static void test_callback_stop(void **state)
{
	(void)state;
	struct limits lim = deflim;
	lim.stop_after = 2;
	check_with("PING\r\nSUB a 1\r\nPING\r\n", "PING\nSUB a - 1\n= STOP", &lim);
}

/* ---- errors ---------------------------------------------------------------- */

#define UNKNOWN "= JN_EPROTO 'Unknown Protocol Operation'"

static void test_unknown_op(void **state)
{
	(void)state;
	check("FOO\r\n", UNKNOWN);
	check("x", UNKNOWN);                  /* detected before the line ends */
	check("PING\r\nFOO bar\r\n", "PING\n" UNKNOWN);
	check("\r\n", UNKNOWN);
	check("\n", UNKNOWN);
	check(" PING\r\n", UNKNOWN);
	check("PUBX foo 1\r\n", UNKNOWN);
	check("PUB\r\n", UNKNOWN);
	check("PUB\n", UNKNOWN);
	check("UNSUB\r\n", UNKNOWN);
	check("-ERR\r\n", UNKNOWN);
	check("PIN\r\n", UNKNOWN);
	check("MSG foo 1 1\r\nx\r\n", UNKNOWN);   /* server-to-client ops */
	check("HMSG foo 1 0 1\r\nx\r\n", UNKNOWN);
	check("RS+ foo\r\n", UNKNOWN);
	check("LS+ foo\r\n", UNKNOWN);
}

static void test_payload_framing(void **state)
{
	(void)state;
	/* Longer than announced (observed on nats-server). */
	check("PUB foo 3\r\nabcdef\r\n", UNKNOWN);
	check("PUB foo 3\r\nabc\n\r\n", UNKNOWN);
	check("PUB foo 3\r\nabc\rx", UNKNOWN);
	check("SUB foo 1\r\nPUB foo 2\r\nhi\n", "SUB foo - 1\n" UNKNOWN);
	check("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhiX\r\n", UNKNOWN);
	/* A payload not yet complete is no error. */
	check("PUB foo 3\r\nab", "= JN_OK");
	check("PUB foo 3\r\nabc\r", "= JN_OK");
}

static void test_max_payload(void **state)
{
	(void)state;
	struct limits lim = { MCL, 1024, 0, 0, 0 };
	const char *mpv = "= JN_EMAXPAYLOAD 'Maximum Payload Violation'";
	char in[64];
	snprintf(in, sizeof in, "PUB foo 1025\r\n");
	check_lim(in, strlen(in), mpv, &lim);
	snprintf(in, sizeof in, "PUB foo 1024\r\n");
	check_lim(in, strlen(in), "= JN_OK", &lim);
	snprintf(in, sizeof in, "HPUB foo 10 1025\r\n");
	check_lim(in, strlen(in), mpv, &lim);
	snprintf(in, sizeof in, "PING\r\nPUB foo r 999999999\r\n");
	check_lim(in, strlen(in), "PING\n= JN_EMAXPAYLOAD 'Maximum Payload Violation'", &lim);
	/* Checked on the size, before any payload byte arrives. */
	check_with("PUB foo 2000\r\n", mpv, &lim);
	/* A payload at the limit, split anywhere, parses. */
	char *big = malloc(1100);
	int n = snprintf(big, 1100, "PUB foo 1024\r\n");
	memset(big + n, 'z', 1024);
	memcpy(big + n + 1024, "\r\n", 2);
	char *s = run((const uint8_t *)big, (size_t)n + 1026, NULL, 0, &lim, NULL);
	assert_non_null(strstr(s, "= JN_OK"));
	free(s);
	check_lim(big, (size_t)n + 1026, NULL, &lim);
	free(big);
}

static void test_max_control_line(void **state)
{
	(void)state;
	const char *mcl = "= JN_EMAXCTRL 'maximum control line exceeded'";
	/* nats-server counts the argument bytes: 4096 pass, 4097 fail. */
	size_t cap = 8192;
	char *in = malloc(cap);
	char *want = malloc(cap);
	for (int extra = 0; extra <= 1; extra++) {
		size_t subj = MCL - 2 + (size_t)extra;   /* args = subj + " 1" */
		int n = sprintf(in, "SUB ");
		memset(in + n, 'a', subj);
		n += (int)subj;
		n += sprintf(in + n, " 1\r\n");
		if (extra) {
			check_lim(in, (size_t)n, mcl, &deflim);
		} else {
			int w = sprintf(want, "SUB ");
			memset(want + w, 'a', subj);
			w += (int)subj;
			sprintf(want + w, " - 1\n= JN_OK");
			check_lim(in, (size_t)n, want, &deflim);
		}
	}
	/* Too long without any newline: detected while it streams in. */
	memset(in, 'a', 6000);
	memcpy(in, "PUB ", 4);
	check_lim(in, 6000, mcl, &deflim);
	/* CONNECT's JSON is a control line too. */
	int n = sprintf(in, "CONNECT {\"name\":\"");
	memset(in + n, 'n', 5000);
	n += 5000;
	n += sprintf(in + n, "\"}\r\n");
	check_lim(in, (size_t)n, mcl, &deflim);
	/* Separators before the arguments do not count, within reason... */
	n = sprintf(in, "SUB");
	memset(in + n, ' ', 200);
	n += 200;
	n += sprintf(in + n, "foo 1\r\n");
	check_lim(in, (size_t)n, "SUB foo - 1\n= JN_OK", &deflim);
	/* ...but an endless run of them is cut off. */
	n = sprintf(in, "SUB");
	memset(in + n, ' ', 5000);
	check_lim(in, (size_t)n + 5000, mcl, &deflim);
	/* PING's tail is not a control line (nats-server ignores it). */
	n = sprintf(in, "PING");
	memset(in + n, ' ', 6000);
	n += 6000;
	n += sprintf(in + n, "\r\nPONG\r\n");
	check_lim(in, (size_t)n, "PING\nPONG\n= JN_OK", &deflim);
	/* A small limit applies as well. */
	struct limits small = { 8, MP, 0, 0, 0 };
	check_with("SUB foo 1234\r\n", "SUB foo - 1234\n= JN_OK", &small);
	check_with("SUB foo 12345\r\n", mcl, &small);
	check_with("SUB foo 12345\r", mcl, &small);
	check_with("SUB foo 1234\r", "= JN_OK", &small);
	free(in);
	free(want);
}

#define SILENT "= JN_EPROTO -"

static void test_malformed_args(void **state)
{
	(void)state;
	check("PUB foo abc\r\nx\r\n", SILENT);
	check("PUB foo -1\r\n", SILENT);
	check("PUB foo +1\r\n", SILENT);
	check("PUB foo 1x\r\n", SILENT);
	check("PUB foo 1234567890\r\n", SILENT);   /* more than 9 digits */
	check("PUB foo\r\n", SILENT);
	check("PUB \r\n", SILENT);
	check("PUB a b c 1\r\nx\r\n", SILENT);
	check("HPUB foo 5 3\r\n", SILENT);          /* headers larger than total */
	check("HPUB foo x 3\r\n", SILENT);
	check("HPUB foo 3\r\n", SILENT);
	check("HPUB a b c d e\r\n", SILENT);
	check("SUB foo\r\n", SILENT);
	check("SUB a b c d\r\n", SILENT);
	check("UNSUB \r\n", SILENT);
	check("UNSUB 1 2 3\r\n", SILENT);
	check("SUB fo\rx q 1\r\n", SILENT);
	check("PING\r\nPUB foo x\r\nPING\r\n", "PING\n" SILENT);
	/* UNSUB's max that is not a number counts as absent (nats-server). */
	check("UNSUB 1 x\r\n", "UNSUB 1 -1\n= JN_OK");
	/* Sizes with 9 digits are numbers (and then too large). */
	check("PUB foo 999999999\r\n", "= JN_EMAXPAYLOAD 'Maximum Payload Violation'");
	check("PUB foo 000000003\r\nabc\r\n", "PUB foo - 3 [abc]\n= JN_OK");
}

/* The engine's two switches, checked on the control line like nats-server. */
static void test_engine_flags(void **state)
{
	(void)state;
	struct limits lim = deflim;
	lim.hpub_off = 1;
	/* HPUB refused at its line: silent, whatever follows. */
	check_with("PING\r\nHPUB foo 12 14\r\nxx", "PING\n= JN_EPROTO -", &lim);
	check_with("HPUB foo 2 4\r\nabcdefgh\r\n", "= JN_EPROTO -", &lim);
	check_with("PUB foo 1\r\nx\r\n", "PUB foo - 1 [x]\n= JN_OK", &lim);
	lim = deflim;
	lim.connect_first = 1;
	const char *av = "= JN_EAUTH 'Authorization Violation'";
	check_with("P", av, &lim);   /* at the first byte */
	check_with("SUB foo 1\r\n", av, &lim);
	check_with("\r\n", av, &lim);
	check_with("CONNECT {}\r\n", "CONNECT [{}]\n= JN_OK", &lim);
	check_with("connect {}\r\nPING\r\n", "CONNECT [{}]\n" "= JN_EAUTH 'Authorization Violation'", &lim);
	check_with("CONNEXT\r\n", UNKNOWN, &lim);
}

static void test_fed_after_error(void **state)
{
	(void)state;
	struct jn_nats_parser p;
	jn_nats_parser_init(&p, MCL, MP);
	struct rec r = { 0 };
	put(&r, "", 0);
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"BAD\r\n", 5, rec_cb, &r), -JN_EPROTO);
	assert_int_equal(jn_nats_parse(&p, (const uint8_t *)"PING\r\n", 6, rec_cb, &r), -JN_EPROTO);
	assert_int_equal(r.ncmd, 0);
	jn_nats_parser_fini(&p);
	free(r.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_all_forms),
		cmocka_unit_test(test_case_and_whitespace),
		cmocka_unit_test(test_payload_edges),
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_zero_copy_and_memory),
		cmocka_unit_test(test_callback_stop),
		cmocka_unit_test(test_unknown_op),
		cmocka_unit_test(test_payload_framing),
		cmocka_unit_test(test_max_payload),
		cmocka_unit_test(test_max_control_line),
		cmocka_unit_test(test_malformed_args),
		cmocka_unit_test(test_engine_flags),
		cmocka_unit_test(test_fed_after_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
