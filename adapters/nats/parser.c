/*
 * parser.c - the NATS client protocol as a resumable state machine.
 *
 * Owns: framing of client -> server commands (spec nats-protocol.md §1, §3)
 * and the -ERR text of each framing failure. Promises:
 *
 * - Split invariance. Every check is made on what has arrived so far and is
 *   monotonic in it (a check that fails on a prefix of a line fails on the
 *   whole line, with the same code), so the commands delivered and the final
 *   result do not depend on where recv() cut the stream.
 * - Zero copy when a command lies wholly in the caller's buffer; otherwise
 *   the partial control line (and payload) is copied into `scratch`, which
 *   is freed when parse() returns with nothing pending. No allocation for a
 *   command that is not split.
 * - Bounded memory: a control line is given up after max_control_line
 *   argument bytes (plus LINE_SLACK for the op name and separators), even
 *   when it arrives a byte at a time; a payload after its size was checked
 *   against max_payload. PING/PONG/+OK ignore the rest of their line as
 *   nats-server does, so their tail is skipped, not stored.
 *
 * States:
 *   START    at a command boundary, nothing held
 *   LINE     scratch holds the beginning of a control line (no '\n' yet)
 *   SKIP     PING/PONG/+OK recognised; skipping to '\n'
 *   PAYLOAD  scratch holds [control line][part of payload]; `need` to go
 *   FAILED   a protocol error was reported; nothing more is parsed
 *
 * Two switches belong to the connection engine (parser.h): hpub_off refuses
 * HPUB at its control line and connect_first refuses, at its first byte, a
 * command other than CONNECT while authentication is pending; nats-server
 * makes both checks there, before any payload, and so do we.
 *
 * Edge cases follow nats-server 2.9 (server/parser.go, client.go
 * processPub/processHeaderPub/parseSub/processUnsub): sizes are 1..9 decimal
 * digits; a wrong argument count or a bad size closes silently; UNSUB's
 * max that is not a number counts as absent; an empty line or a line
 * starting with a separator is an unknown operation; a payload not followed
 * by "\r\n" is an unknown operation.
 */
#include "adapters/nats/parser.h"

#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"

enum { P_START = 0, P_LINE, P_SKIP, P_PAYLOAD, P_FAILED };

/* Room for the op name and separators on top of max_control_line, which
 * (like nats-server) limits only the argument bytes. */
#define LINE_SLACK 256

enum kind {
	K_ARGS,   /* arguments follow after at least one separator */
	K_TEXT,   /* CONNECT/INFO: optional separators, then text */
	K_BARE,   /* PING/PONG/+OK: the rest of the line is ignored */
};

struct opname {
	char name[8];     /* lower case */
	uint8_t len;
	uint8_t op;
	uint8_t kind;
};

/* No name is a prefix of another, so a prefix identifies at most one op. */
static const struct opname opnames[] = {
	{ "pub",     3, JN_NATS_PUB,     K_ARGS },
	{ "hpub",    4, JN_NATS_HPUB,    K_ARGS },
	{ "sub",     3, JN_NATS_SUB,     K_ARGS },
	{ "unsub",   5, JN_NATS_UNSUB,   K_ARGS },
	{ "ping",    4, JN_NATS_PING,    K_BARE },
	{ "pong",    4, JN_NATS_PONG,    K_BARE },
	{ "connect", 7, JN_NATS_CONNECT, K_TEXT },
	{ "info",    4, JN_NATS_INFO,    K_TEXT },
	{ "+ok",     3, JN_NATS_OK,      K_BARE },
	{ "-err",    4, JN_NATS_ERR,     K_ARGS },
};

enum { OPN_PUB, OPN_HPUB, OPN_SUB, OPN_UNSUB, OPN_PING, OPN_PONG, OPN_CONNECT,
       OPN_INFO, OPN_OK, OPN_ERR };

#define CLS_BAD  (-1)
#define CLS_NEED (-2)

static inline bool is_sep(uint8_t c) { return c == ' ' || c == '\t'; }
static inline uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static int fail(struct jn_nats_parser *p, int code)
{
	p->err = jn_err_info(code)->nats_err;
	p->state = P_FAILED;
	return -code;
}

static int fail_silent(struct jn_nats_parser *p)
{
	p->err = NULL;
	p->state = P_FAILED;
	return -JN_EPROTO;
}

/* Which op does the line starting with s[0..n) name? An index into
 * opnames, CLS_NEED when n is too short to tell, CLS_BAD when none. */
static int classify(const uint8_t *s, size_t n)
{
	if (n == 0)
		return CLS_NEED;
	int i;
	switch (lower(s[0])) {
	case 'p':
		if (n < 2)
			return CLS_NEED;
		switch (lower(s[1])) {
		case 'u': i = OPN_PUB; break;
		case 'i': i = OPN_PING; break;
		case 'o': i = OPN_PONG; break;
		default: return CLS_BAD;
		}
		break;
	case 'h': i = OPN_HPUB; break;
	case 's': i = OPN_SUB; break;
	case 'u': i = OPN_UNSUB; break;
	case 'c': i = OPN_CONNECT; break;
	case 'i': i = OPN_INFO; break;
	case '+': i = OPN_OK; break;
	case '-': i = OPN_ERR; break;
	default: return CLS_BAD;
	}
	const struct opname *o = &opnames[i];
	size_t m = n < o->len ? n : o->len;
	for (size_t k = 1; k < m; k++)
		if (lower(s[k]) != (uint8_t)o->name[k])
			return CLS_BAD;
	return n < o->len ? CLS_NEED : i;
}

static size_t line_cap(const struct jn_nats_parser *p)
{
	return (size_t)p->max_control_line + LINE_SLACK;
}

/*
 * The checks shared by partial and complete lines. s[0..n) is the raw line
 * without '\n'. For a partial line returns 0 with *opi = CLS_NEED when the
 * op is not known yet. On success *opi is the op and, unless it is K_BARE,
 * args and eff delimit the arguments (eff drops one trailing '\r').
 */
static int check_line(struct jn_nats_parser *p, const uint8_t *s, size_t n, bool complete,
                      int *opi, size_t *args, size_t *eff)
{
	int i = classify(s, n);
	*opi = i;
	if (i == CLS_BAD || (i == CLS_NEED && complete))
		return fail(p, JN_EPROTO);
	if (i == CLS_NEED)
		return 0;
	const struct opname *o = &opnames[i];
	if (o->kind == K_BARE)
		return 0;
	if (o->kind == K_ARGS) {
		if (n > o->len) {
			if (!is_sep(s[o->len]))
				return fail(p, JN_EPROTO);
		} else if (complete) {
			return fail(p, JN_EPROTO);
		}
	}
	size_t e = (n > 0 && s[n - 1] == '\r') ? n - 1 : n;
	size_t a = o->len;
	while (a < e && is_sep(s[a]))
		a++;
	if (e - a > p->max_control_line || e > line_cap(p))
		return fail(p, JN_EMAXCTRL);
	*args = a;
	*eff = e;
	return 0;
}

/* Split s[0..n) at separators into at most max tokens; returns the count,
 * or max + 1 when there are more. cr: '\r' separates too (nats-server's
 * splitArg for SUB and UNSUB; PUB and HPUB split on blanks only). */
static int split(const uint8_t *s, size_t n, struct jn_nats_str *tok, int max, bool cr)
{
	int k = 0;
	size_t i = 0;
	for (;;) {
		while (i < n && (is_sep(s[i]) || (cr && s[i] == '\r')))
			i++;
		if (i == n)
			return k;
		size_t st = i;
		while (i < n && !is_sep(s[i]) && !(cr && s[i] == '\r'))
			i++;
		if (k == max)
			return max + 1;
		tok[k].p = (const char *)s + st;
		tok[k].len = (uint32_t)(i - st);
		k++;
	}
}

/* nats-server's parseSize: 1..9 decimal digits, else -1. */
static int64_t parse_size(const struct jn_nats_str *t)
{
	if (t->len == 0 || t->len > 9)
		return -1;
	int64_t v = 0;
	for (uint32_t i = 0; i < t->len; i++) {
		uint8_t c = (uint8_t)t->p[i];
		if (c < '0' || c > '9')
			return -1;
		v = v * 10 + (c - '0');
	}
	return v;
}

/* Turn a complete control line into a command (payload not attached). */
static int build_cmd(struct jn_nats_parser *p, const uint8_t *s, size_t n,
                     struct jn_nats_cmd *cmd)
{
	int opi;
	size_t a = 0, e = 0;
	int rc = check_line(p, s, n, true, &opi, &a, &e);
	if (rc < 0)
		return rc;
	const struct opname *o = &opnames[opi];
	if (o->op == JN_NATS_HPUB && p->hpub_off)
		return fail_silent(p);
	memset(cmd, 0, sizeof *cmd);
	cmd->op = (enum jn_nats_op)o->op;
	cmd->max_msgs = -1;
	if (o->kind == K_BARE)
		return 0;

	struct jn_nats_str t[4];
	int k;
	int64_t sz, hsz;
	switch (o->op) {
	case JN_NATS_PUB:
		k = split(s + a, e - a, t, 3, false);
		if (k != 2 && k != 3)
			return fail_silent(p);
		cmd->subject = t[0];
		if (k == 3)
			cmd->reply = t[1];
		sz = parse_size(&t[k - 1]);
		if (sz < 0)
			return fail_silent(p);
		if (sz > p->max_payload)
			return fail(p, JN_EMAXPAYLOAD);
		cmd->total_len = (uint32_t)sz;
		return 0;
	case JN_NATS_HPUB:
		k = split(s + a, e - a, t, 4, false);
		if (k != 3 && k != 4)
			return fail_silent(p);
		cmd->subject = t[0];
		if (k == 4)
			cmd->reply = t[1];
		hsz = parse_size(&t[k - 2]);
		sz = parse_size(&t[k - 1]);
		if (hsz < 0 || sz < 0 || hsz > sz)
			return fail_silent(p);
		if (sz > p->max_payload)
			return fail(p, JN_EMAXPAYLOAD);
		cmd->hdr_len = (uint32_t)hsz;
		cmd->total_len = (uint32_t)sz;
		return 0;
	case JN_NATS_SUB:
		k = split(s + a, e - a, t, 3, true);
		if (k != 2 && k != 3)
			return fail_silent(p);
		cmd->subject = t[0];
		if (k == 3)
			cmd->queue = t[1];
		cmd->sid = t[k - 1];
		return 0;
	case JN_NATS_UNSUB:
		k = split(s + a, e - a, t, 2, true);
		if (k != 1 && k != 2)
			return fail_silent(p);
		cmd->sid = t[0];
		if (k == 2)
			cmd->max_msgs = parse_size(&t[1]);
		return 0;
	default:   /* CONNECT, INFO, -ERR: the rest of the line */
		cmd->json.p = e > a ? (const char *)s + a : NULL;
		cmd->json.len = (uint32_t)(e - a);
		return 0;
	}
}

/* Make room for `want` bytes in scratch, growing geometrically but never
 * beyond `limit` (the largest size this command can need). */
static int reserve(struct jn_nats_parser *p, size_t want, size_t limit)
{
	if (want <= p->scratch_cap)
		return 0;
	size_t cap = p->scratch_cap ? (size_t)p->scratch_cap * 2 : 256;
	if (cap > limit)
		cap = limit;
	if (cap < want)
		cap = want;
	uint8_t *n = jn_realloc(p->scratch, cap);
	if (!n) {
		p->err = NULL;
		p->state = P_FAILED;
		return -JN_ENOMEM;
	}
	p->scratch = n;
	p->scratch_cap = (uint32_t)cap;
	return 0;
}

static void release(struct jn_nats_parser *p)
{
	jn_free(p->scratch);
	p->scratch = NULL;
	p->scratch_len = p->scratch_cap = 0;
	p->line_len = 0;
	p->need = 0;
}

/* The two bytes after a payload must be "\r\n"; checked as they arrive. */
static bool tail_ok(const uint8_t *body, size_t have, size_t total)
{
	if (have > total && body[total] != '\r')
		return false;
	if (have > total + 1 && body[total + 1] != '\n')
		return false;
	return true;
}

static int dispatch(struct jn_nats_parser *p, const struct jn_nats_cmd *cmd,
                    jn_nats_cmd_fn on_cmd, void *ctx)
{
	int rc = on_cmd(ctx, cmd);
	if (rc < 0)
		p->state = P_FAILED;
	return rc;
}

/*
 * A complete control line s[0..n): build the command and, for PUB/HPUB,
 * attach the payload that follows in buf[*i..len) or start stashing it.
 * in_scratch: s is the parser's scratch (the line arrived split).
 */
static int complete_line(struct jn_nats_parser *p, const uint8_t *s, size_t n, bool in_scratch,
                         const uint8_t *buf, size_t len, size_t *i,
                         jn_nats_cmd_fn on_cmd, void *ctx)
{
	struct jn_nats_cmd cmd;
	int rc = build_cmd(p, s, n, &cmd);
	if (rc < 0)
		return rc;
	if (cmd.op != JN_NATS_PUB && cmd.op != JN_NATS_HPUB) {
		if (in_scratch)
			p->scratch_len = 0;
		p->state = P_START;
		return dispatch(p, &cmd, on_cmd, ctx);
	}
	const uint8_t *body = buf + *i;
	size_t have = len - *i;
	size_t total = cmd.total_len;
	if (have >= total + 2) {
		if (!tail_ok(body, have, total))
			return fail(p, JN_EPROTO);
		cmd.payload = body;
		*i += total + 2;
		if (in_scratch)
			p->scratch_len = 0;
		p->state = P_START;
		return dispatch(p, &cmd, on_cmd, ctx);
	}
	if (!tail_ok(body, have, total))
		return fail(p, JN_EPROTO);
	/* Stash [line][payload so far]; the command is rebuilt from the copy
	 * when the payload is complete. */
	size_t limit = n + total + 2;
	rc = reserve(p, n + have, limit);
	if (rc < 0)
		return rc;
	if (!in_scratch)
		memcpy(p->scratch, s, n);
	memcpy(p->scratch + n, body, have);
	p->scratch_len = (uint32_t)(n + have);
	p->line_len = (uint32_t)n;
	p->need = (uint32_t)(total + 2 - have);
	p->state = P_PAYLOAD;
	*i = len;
	return 0;
}

/* Scratch is empty; the buffer is at a command boundary. */
static int step_start(struct jn_nats_parser *p, const uint8_t *buf, size_t len, size_t *i,
                      jn_nats_cmd_fn on_cmd, void *ctx)
{
	const uint8_t *s = buf + *i;
	size_t avail = len - *i;
	if (p->connect_first && s[0] != 'C' && s[0] != 'c')
		return fail(p, JN_EAUTH);
	size_t win = line_cap(p) + 2;
	if (win > avail)
		win = avail;
	const uint8_t *nl = memchr(s, '\n', win);
	if (nl) {
		size_t n = (size_t)(nl - s);
		*i += n + 1;
		return complete_line(p, s, n, false, buf, len, i, on_cmd, ctx);
	}
	int opi;
	size_t a, e;
	int rc = check_line(p, s, win, false, &opi, &a, &e);
	if (rc < 0)
		return rc;
	if (opi >= 0 && opnames[opi].kind == K_BARE) {
		p->skip_op = opnames[opi].op;
		p->state = P_SKIP;
		*i += opnames[opi].len;
		return 0;
	}
	/* A legitimate partial line: win == avail here (a longer one failed). */
	rc = reserve(p, avail, line_cap(p) + 2);
	if (rc < 0)
		return rc;
	memcpy(p->scratch, s, avail);
	p->scratch_len = (uint32_t)avail;
	p->state = P_LINE;
	*i = len;
	return 0;
}

/* Scratch holds the beginning of a control line. */
static int step_line(struct jn_nats_parser *p, const uint8_t *buf, size_t len, size_t *i,
                     jn_nats_cmd_fn on_cmd, void *ctx)
{
	size_t have = p->scratch_len;
	size_t room = line_cap(p) + 2 > have ? line_cap(p) + 2 - have : 0;
	size_t avail = len - *i;
	size_t win = avail < room ? avail : room;
	const uint8_t *nl = memchr(buf + *i, '\n', win);
	size_t take = nl ? (size_t)(nl - (buf + *i)) : win;
	int rc = reserve(p, have + take, line_cap(p) + 2);
	if (rc < 0)
		return rc;
	memcpy(p->scratch + have, buf + *i, take);
	p->scratch_len = (uint32_t)(have + take);
	*i += take;
	if (nl) {
		*i += 1;
		return complete_line(p, p->scratch, p->scratch_len, true, buf, len, i, on_cmd, ctx);
	}
	int opi;
	size_t a, e;
	rc = check_line(p, p->scratch, p->scratch_len, false, &opi, &a, &e);
	if (rc < 0)
		return rc;
	if (opi >= 0 && opnames[opi].kind == K_BARE) {
		p->skip_op = opnames[opi].op;
		p->state = P_SKIP;
		p->scratch_len = 0;
	}
	return 0;
}

static int step_skip(struct jn_nats_parser *p, const uint8_t *buf, size_t len, size_t *i,
                     jn_nats_cmd_fn on_cmd, void *ctx)
{
	const uint8_t *nl = memchr(buf + *i, '\n', len - *i);
	if (!nl) {
		*i = len;
		return 0;
	}
	*i = (size_t)(nl - buf) + 1;
	struct jn_nats_cmd cmd;
	memset(&cmd, 0, sizeof cmd);
	cmd.op = (enum jn_nats_op)p->skip_op;
	cmd.max_msgs = -1;
	p->state = P_START;
	return dispatch(p, &cmd, on_cmd, ctx);
}

static int step_payload(struct jn_nats_parser *p, const uint8_t *buf, size_t len, size_t *i,
                        jn_nats_cmd_fn on_cmd, void *ctx)
{
	size_t k = len - *i;
	if (k > p->need)
		k = p->need;
	size_t body_have = p->scratch_len - p->line_len;
	size_t total = body_have + p->need - 2;
	int rc = reserve(p, p->scratch_len + k, (size_t)p->line_len + total + 2);
	if (rc < 0)
		return rc;
	memcpy(p->scratch + p->scratch_len, buf + *i, k);
	p->scratch_len += (uint32_t)k;
	p->need -= (uint32_t)k;
	*i += k;
	if (!tail_ok(p->scratch + p->line_len, body_have + k, total))
		return fail(p, JN_EPROTO);
	if (p->need > 0)
		return 0;
	struct jn_nats_cmd cmd;
	rc = build_cmd(p, p->scratch, p->line_len, &cmd);
	if (rc < 0)
		return rc;
	cmd.payload = p->scratch + p->line_len;
	p->scratch_len = 0;
	p->line_len = 0;
	p->state = P_START;
	return dispatch(p, &cmd, on_cmd, ctx);
}

void jn_nats_parser_init(struct jn_nats_parser *p, uint32_t max_control_line,
                         uint32_t max_payload)
{
	memset(p, 0, sizeof *p);
	p->max_control_line = max_control_line;
	p->max_payload = max_payload;
}

void jn_nats_parser_fini(struct jn_nats_parser *p)
{
	release(p);
}

int jn_nats_parse(struct jn_nats_parser *p, const uint8_t *buf, size_t len,
                  jn_nats_cmd_fn on_cmd, void *ctx)
{
	if (p->state == P_FAILED)
		return -JN_EPROTO;
	size_t i = 0;
	int rc = 0;
	while (i < len && rc >= 0) {
		switch (p->state) {
		case P_START:   rc = step_start(p, buf, len, &i, on_cmd, ctx); break;
		case P_LINE:    rc = step_line(p, buf, len, &i, on_cmd, ctx); break;
		case P_SKIP:    rc = step_skip(p, buf, len, &i, on_cmd, ctx); break;
		case P_PAYLOAD: rc = step_payload(p, buf, len, &i, on_cmd, ctx); break;
		default:        rc = -JN_EPROTO; break;
		}
	}
	if (p->state == P_START || p->state == P_SKIP || p->state == P_FAILED)
		release(p);
	return rc;
}

size_t jn_nats_parser_held(const struct jn_nats_parser *p)
{
	return p->scratch_cap;
}
