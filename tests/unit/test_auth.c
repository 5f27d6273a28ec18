/*
 * test_auth.c - credentials (plain, bcrypt, token, no_auth_user), config
 * validation, and tables of publish/subscribe/delivery decisions. Every
 * row marked "observed" was checked against nats-server 2.9.10 on loopback
 * with the same configuration.
 */
#include <crypt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/auth.h"
#include "core/err.h"

/* Verified against nats-server 2.9.10: user with this password hash logs
 * in with "s3cret" (and with the $2b$ spelling of the same hash). */
#define S3CRET_2A "$2a$10$SODU.7ioQRPxcOiXFNTp8uVk9JiuhlSvRIFW/.whfyRTDGafAS4Uu"
#define S3CRET_2B "$2b$10$SODU.7ioQRPxcOiXFNTp8uVk9JiuhlSvRIFW/.whfyRTDGafAS4Uu"
#define S3CRET_2Y "$2y$10$SODU.7ioQRPxcOiXFNTp8uVk9JiuhlSvRIFW/.whfyRTDGafAS4Uu"

static void test_no_auth(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	assert_false(a.required);
	assert_int_equal(a.timeout_ns, 2000000000LL);
	const struct jn_user *u = (const struct jn_user *)&a;   /* must be reset */
	assert_int_equal(jn_auth_check(&a, NULL, NULL, NULL, &u), 0);
	assert_null(u);
	assert_int_equal(jn_auth_check(&a, "x", "y", "z", &u), 0);
	assert_null(u);
	assert_int_equal(jn_auth_check(NULL, "x", "y", "z", NULL), 0);
	assert_int_equal(jn_auth_validate(&a, NULL), 0);
	/* Required with nothing to check against fails closed. */
	a.required = true;
	assert_int_equal(jn_auth_check(&a, NULL, NULL, NULL, &u), -JN_EAUTH);
	jn_auth_fini(&a);
}

static void test_users_plain(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	struct jn_user *alice, *nopw;
	assert_int_equal(jn_auth_add_user(&a, "alice", "pw1", &alice), 0);
	assert_true(a.required);
	assert_int_equal(jn_auth_add_user(&a, "bob", "pw2", NULL), 0);
	assert_int_equal(jn_auth_add_user(&a, "nopw", NULL, &nopw), 0);
	assert_int_equal(jn_auth_add_user(&a, "alice", "other", NULL), -JN_EEXIST);
	assert_int_equal(jn_auth_add_user(&a, "", "x", NULL), -JN_EINVAL);
	assert_int_equal(jn_auth_add_user(&a, NULL, "x", NULL), -JN_EINVAL);
	assert_int_equal(a.nusers, 3);

	static const struct { const char *user, *pass, *token; int rc; const char *who; } rows[] = {
		{ "alice", "pw1", NULL, 0, "alice" },
		{ "bob", "pw2", NULL, 0, "bob" },
		{ "alice", "pw2", NULL, -JN_EAUTH, NULL },   /* another user's password */
		{ "alice", "pw", NULL, -JN_EAUTH, NULL },    /* prefix */
		{ "alice", "pw11", NULL, -JN_EAUTH, NULL },  /* longer */
		{ "alice", "PW1", NULL, -JN_EAUTH, NULL },
		{ "alice", NULL, NULL, -JN_EAUTH, NULL },    /* observed */
		{ "alice", "", NULL, -JN_EAUTH, NULL },
		{ "Alice", "pw1", NULL, -JN_EAUTH, NULL },   /* names are exact */
		{ "carol", "pw1", NULL, -JN_EAUTH, NULL },
		{ "", "pw1", NULL, -JN_EAUTH, NULL },        /* observed */
		{ NULL, NULL, NULL, -JN_EAUTH, NULL },       /* observed */
		{ NULL, NULL, "pw1", -JN_EAUTH, NULL },
		{ "alice", "pw1", "junk", 0, "alice" },      /* token ignored */
		{ "nopw", NULL, NULL, 0, "nopw" },           /* observed */
		{ "nopw", "", NULL, 0, "nopw" },
		{ "nopw", "x", NULL, -JN_EAUTH, NULL },      /* observed */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct jn_user *u = (const struct jn_user *)&a;
		int rc = jn_auth_check(&a, rows[i].user, rows[i].pass, rows[i].token, &u);
		if (rc != rows[i].rc)
			fail_msg("row %zu: rc %d, want %d", i, rc, rows[i].rc);
		if (rows[i].who) {
			assert_non_null(u);
			assert_string_equal(u->name, rows[i].who);
		} else {
			assert_null(u);
		}
	}
	jn_auth_fini(&a);
}

static void test_bcrypt(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	assert_int_equal(jn_auth_add_user(&a, "h2a", S3CRET_2A, NULL), 0);
	assert_int_equal(jn_auth_add_user(&a, "h2b", S3CRET_2B, NULL), 0);
	assert_int_equal(jn_auth_add_user(&a, "h2y", S3CRET_2Y, NULL), 0);
	assert_int_equal(jn_auth_add_user(&a, "broken", "$2a$10$tooshort", NULL), 0);

	/* A fresh $2b$ hash, cost 4, made here with libxcrypt. */
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, setting, sizeof setting));
	struct crypt_data *cd = calloc(1, sizeof *cd);
	assert_non_null(cd);
	const char *h = crypt_r("fresh pass", setting, cd);
	assert_non_null(h);
	assert_memory_equal(h, "$2b$04$", 7);
	assert_int_equal(jn_auth_add_user(&a, "fresh", h, NULL), 0);
	free(cd);

	const struct jn_user *u;
	assert_int_equal(jn_auth_check(&a, "h2a", "s3cret", NULL, &u), 0);   /* observed */
	assert_string_equal(u->name, "h2a");
	assert_int_equal(jn_auth_check(&a, "h2a", "s3creT", NULL, &u), -JN_EAUTH); /* observed */
	assert_null(u);
	assert_int_equal(jn_auth_check(&a, "h2b", "s3cret", NULL, &u), 0);   /* observed */
	assert_int_equal(jn_auth_check(&a, "h2y", "s3cret", NULL, &u), 0);
	assert_int_equal(jn_auth_check(&a, "h2a", "", NULL, &u), -JN_EAUTH);
	assert_int_equal(jn_auth_check(&a, "h2a", NULL, NULL, &u), -JN_EAUTH);
	/* The hash itself is not the password (observed). */
	assert_int_equal(jn_auth_check(&a, "h2b", S3CRET_2B, NULL, &u), -JN_EAUTH);
	assert_int_equal(jn_auth_check(&a, "fresh", "fresh pass", NULL, &u), 0);
	assert_int_equal(jn_auth_check(&a, "fresh", "fresh pas", NULL, &u), -JN_EAUTH);
	assert_int_equal(jn_auth_check(&a, "fresh", "fresh pass ", NULL, &u), -JN_EAUTH);
	/* A malformed hash never matches, not even itself. */
	assert_int_equal(jn_auth_check(&a, "broken", "", NULL, &u), -JN_EAUTH);
	assert_int_equal(jn_auth_check(&a, "broken", "$2a$10$tooshort", NULL, &u), -JN_EAUTH);
	jn_auth_fini(&a);
}

static void test_token(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	assert_int_equal(jn_auth_set_token(&a, "s3cr3t"), 0);
	assert_true(a.required);
	static const struct { const char *user, *pass, *token; int rc; } rows[] = {
		{ NULL, NULL, "s3cr3t", 0 },          /* observed */
		{ "x", "y", "s3cr3t", 0 },            /* observed: user/pass ignored */
		{ NULL, NULL, "s3cr3", -JN_EAUTH },
		{ NULL, NULL, "s3cr3tt", -JN_EAUTH },
		{ NULL, NULL, "", -JN_EAUTH },
		{ NULL, NULL, NULL, -JN_EAUTH },      /* observed */
		{ "", "s3cr3t", NULL, -JN_EAUTH },    /* observed: not in pass */
		{ "s3cr3t", "", NULL, -JN_EAUTH },    /* observed: not in user */
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct jn_user *u = (const struct jn_user *)&a;
		int rc = jn_auth_check(&a, rows[i].user, rows[i].pass, rows[i].token, &u);
		if (rc != rows[i].rc)
			fail_msg("row %zu: rc %d, want %d", i, rc, rows[i].rc);
		assert_null(u);   /* a token names no user */
	}
	/* A bcrypted token. */
	assert_int_equal(jn_auth_set_token(&a, S3CRET_2A), 0);
	assert_int_equal(jn_auth_check(&a, NULL, NULL, "s3cret", NULL), 0);
	assert_int_equal(jn_auth_check(&a, NULL, NULL, S3CRET_2A, NULL), -JN_EAUTH);
	/* Clearing it. */
	assert_int_equal(jn_auth_set_token(&a, NULL), 0);
	assert_null(a.token);
	jn_auth_fini(&a);
}

static void test_no_auth_user(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	struct jn_user *ua;
	assert_int_equal(jn_auth_add_user(&a, "a", "pa", &ua), 0);
	assert_int_equal(jn_perm_add(&ua->publish, true, "foo.>"), 0);
	ua->has_permissions = true;
	assert_int_equal(jn_auth_add_user(&a, "b", "pb", NULL), 0);
	assert_int_equal(jn_auth_set_no_auth_user(&a, "a"), 0);
	assert_int_equal(jn_auth_validate(&a, NULL), 0);

	static const struct { const char *user, *pass, *token; int rc; const char *who; } rows[] = {
		{ NULL, NULL, NULL, 0, "a" },           /* observed */
		{ "", "", "", 0, "a" },
		{ NULL, "pa", NULL, -JN_EAUTH, NULL },  /* observed ("" user + pass) */
		{ "a", "zz", NULL, -JN_EAUTH, NULL },   /* observed: no fallback */
		{ "a", NULL, NULL, -JN_EAUTH, NULL },   /* observed */
		{ NULL, NULL, "tok", -JN_EAUTH, NULL }, /* observed */
		{ "b", "pb", NULL, 0, "b" },
		{ "a", "pa", NULL, 0, "a" },
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		const struct jn_user *u = (const struct jn_user *)&a;
		int rc = jn_auth_check(&a, rows[i].user, rows[i].pass, rows[i].token, &u);
		if (rc != rows[i].rc)
			fail_msg("row %zu: rc %d, want %d", i, rc, rows[i].rc);
		if (rows[i].who) {
			assert_non_null(u);
			assert_string_equal(u->name, rows[i].who);
		} else {
			assert_null(u);
		}
	}
	/* The assumed user keeps its permissions (observed: PUB bar refused). */
	const struct jn_user *u;
	assert_int_equal(jn_auth_check(&a, NULL, NULL, NULL, &u), 0);
	assert_false(jn_auth_can_publish(u, "bar", 3));
	assert_true(jn_auth_can_publish(u, "foo.x", 5));
	jn_auth_fini(&a);
}

static void test_validate(void **state)
{
	(void)state;
	struct jn_auth a;
	const char *why;
	jn_auth_init(&a);
	assert_int_equal(jn_auth_add_user(&a, "u", "p", NULL), 0);
	assert_int_equal(jn_auth_set_token(&a, "t"), 0);
	assert_int_equal(jn_auth_validate(&a, &why), -JN_ECONFIG);
	assert_string_equal(why, "Can not have a token and a users array");
	jn_auth_fini(&a);

	jn_auth_init(&a);
	assert_int_equal(jn_auth_add_user(&a, "u", "p", NULL), 0);
	assert_int_equal(jn_auth_set_no_auth_user(&a, "ghost"), 0);
	assert_int_equal(jn_auth_validate(&a, &why), -JN_ECONFIG);
	assert_non_null(why);
	assert_int_equal(jn_auth_set_no_auth_user(&a, "u"), 0);
	assert_int_equal(jn_auth_validate(&a, &why), 0);
	assert_null(why);
	/* An unknown no_auth_user that slipped through fails closed. */
	assert_int_equal(jn_auth_set_no_auth_user(&a, "ghost"), 0);
	assert_int_equal(jn_auth_check(&a, NULL, NULL, NULL, NULL), -JN_EAUTH);
	jn_auth_fini(&a);

	/* Permission subjects must be valid filters. */
	struct jn_perm_list p;
	memset(&p, 0, sizeof p);
	assert_int_equal(jn_perm_add(&p, true, "foo..bar"), -JN_EBADSUBJECT);
	assert_int_equal(jn_perm_add(&p, false, "foo.>.bar"), -JN_EBADSUBJECT);
	assert_int_equal(jn_perm_add(&p, true, ""), -JN_EBADSUBJECT);
	assert_int_equal(jn_perm_add(&p, true, NULL), -JN_EBADSUBJECT);
	assert_int_equal(jn_perm_add(&p, true, "foo bar"), -JN_EBADSUBJECT);
	assert_false(p.has_allow);
	assert_int_equal(p.nallow + p.ndeny, 0);
}

/* ---- permission tables ------------------------------------------------- */

enum { PUB, SUB, FILT, DELIV };

struct perm_row {
	int kind;         /* PUB: can_publish, SUB: can_subscribe,
	                   * FILT: sub_needs_filter, DELIV: deliver_denied */
	const char *subj;
	bool want;
};

static void run_rows(const struct jn_user *u, const struct perm_row *rows, size_t n,
                     const char *name)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = rows[i].subj;
		size_t l = strlen(s);
		bool got = false;
		switch (rows[i].kind) {
		case PUB: got = jn_auth_can_publish(u, s, l); break;
		case SUB: got = jn_auth_can_subscribe(u, s, l); break;
		case FILT: got = jn_auth_sub_needs_filter(u, s, l); break;
		case DELIV: got = jn_auth_deliver_denied(u, s, l); break;
		}
		static const char *kinds[] = { "publish", "subscribe", "needs_filter", "deliver_denied" };
		if (got != rows[i].want)
			fail_msg("%s: %s \"%s\": got %d want %d", name, kinds[rows[i].kind], s,
			         got, rows[i].want);
	}
}

static struct jn_user *user_with(struct jn_auth *a, const char *name,
                                 const char **pub_allow, const char **pub_deny,
                                 const char **sub_allow, const char **sub_deny)
{
	struct jn_user *u;
	assert_int_equal(jn_auth_add_user(a, name, "pw", &u), 0);
	u->has_permissions = true;
	for (; pub_allow && *pub_allow; pub_allow++)
		assert_int_equal(jn_perm_add(&u->publish, true, *pub_allow), 0);
	for (; pub_deny && *pub_deny; pub_deny++)
		assert_int_equal(jn_perm_add(&u->publish, false, *pub_deny), 0);
	for (; sub_allow && *sub_allow; sub_allow++)
		assert_int_equal(jn_perm_add(&u->subscribe, true, *sub_allow), 0);
	for (; sub_deny && *sub_deny; sub_deny++)
		assert_int_equal(jn_perm_add(&u->subscribe, false, *sub_deny), 0);
	return u;
}

#define LIST(...) ((const char *[]){ __VA_ARGS__, NULL })

/* shared/spec/nats-protocol.md §8: publish.allow=[foo.>,_INBOX.>],
 * subscribe.deny=[foo.secret]. */
static void test_spec_example(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	struct jn_user *u = user_with(&a, "a", LIST("foo.>", "_INBOX.>"), NULL, NULL,
	                              LIST("foo.secret"));
	static const struct perm_row rows[] = {
		{ PUB, "foo.x", true },
		{ PUB, "foo.x.y", true },
		{ PUB, "foo.secret", true },      /* deny is for subscribe only */
		{ PUB, "_INBOX.abc.def", true },
		{ PUB, "bar", false },            /* observed */
		{ PUB, "foo", false },            /* foo.> needs a token after foo */
		{ PUB, "_INBOX", false },
		{ SUB, "foo.secret", false },     /* observed */
		{ SUB, "bar", true },             /* observed: no subscribe allow list */
		{ SUB, "foo.x", true },
		{ SUB, "foo.secret.x", true },
		{ SUB, "foo.*", true },           /* observed: allowed, filtered */
		{ SUB, ">", true },               /* observed: allowed, filtered */
		{ SUB, "foo.>", true },
		{ FILT, "foo.*", true },
		{ FILT, ">", true },
		{ FILT, "foo.>", true },
		{ FILT, "*.secret", true },
		{ FILT, "foo.x", false },         /* literal: nothing to filter */
		{ FILT, "bar.*", false },
		{ FILT, "foo.*.x", false },
		{ DELIV, "foo.secret", true },    /* observed: not delivered to foo.* / > */
		{ DELIV, "foo.x", false },
		{ DELIV, "foo.secret.x", false }, /* observed: delivered to > and foo.> */
	};
	run_rows(u, rows, sizeof rows / sizeof rows[0], "spec example");

	/* With a subscribe allow list too, SUB bar is refused: the -ERR lines the
	 * spec lists (observed with subscribe.allow=[foo.>,_INBOX.>]). */
	struct jn_user *v = user_with(&a, "b", LIST("foo.>", "_INBOX.>"), NULL,
	                              LIST("foo.>", "_INBOX.>"), LIST("foo.secret"));
	static const struct perm_row rows2[] = {
		{ SUB, "bar", false },            /* observed */
		{ SUB, "foo.secret", false },     /* observed */
		{ SUB, "foo.*", true },           /* observed */
		{ SUB, "_INBOX.x.*", true },
		{ SUB, ">", false },
		{ PUB, "bar", false },            /* observed */
		{ PUB, "foo.a", true },           /* observed */
	};
	run_rows(v, rows2, sizeof rows2 / sizeof rows2[0], "spec example + sub allow");
	jn_auth_fini(&a);
}

static void test_subscribe_rules(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);

	/* subscribe.allow=[foo.*], deny=[bar.*] (user b of the observation). */
	struct jn_user *b = user_with(&a, "b", NULL, NULL, LIST("foo.*"), LIST("bar.*"));
	static const struct perm_row rb[] = {
		{ SUB, "foo.x", true },
		{ SUB, "foo.*", true },
		{ SUB, "foo", false },
		{ SUB, "foo.x.y", false },
		/* nats-server 2.9.10 accepts this and then delivers foo.a.b
		 * (observed); we refuse it: foo.> is not within foo.*. */
		{ SUB, "foo.>", false },
		{ SUB, "*", false },              /* observed */
		{ SUB, ">", false },              /* observed */
		{ SUB, "bar.*", false },          /* observed */
		{ SUB, "bar.>", false },          /* observed */
		{ PUB, "anything", true },        /* no publish lists */
	};
	run_rows(b, rb, sizeof rb / sizeof rb[0], "allow foo.* deny bar.*");

	/* Only a deny list. */
	struct jn_user *d = user_with(&a, "d", NULL, NULL, NULL, LIST("foo.*"));
	static const struct perm_row rd[] = {
		{ SUB, "foo.x", false },
		{ SUB, "foo.*", false },
		{ SUB, "foo.>", false },          /* nats-server: deny's * matches > */
		{ SUB, "foo.x.y", true },
		{ SUB, "foo", true },
		{ SUB, "*", true },
		{ SUB, ">", true },
		{ SUB, "*.x", true },
		{ SUB, "*.*.*", true },
		{ FILT, ">", true },
		{ FILT, "*.x", true },            /* overlaps foo.x */
		{ FILT, "*.*", true },
		{ FILT, "*", false },             /* one token never matches foo.* */
		{ FILT, "*.*.*", false },
		{ FILT, "foo.x.y", false },
		{ DELIV, "foo.x", true },
		{ DELIV, "foo.x.y", false },
		{ DELIV, "foo", false },
	};
	run_rows(d, rd, sizeof rd / sizeof rd[0], "deny foo.*");

	/* Deny everything / allow everything. */
	struct jn_user *all_deny = user_with(&a, "nd", LIST(">"), LIST(">"), NULL, LIST(">"));
	static const struct perm_row rn[] = {
		{ SUB, "a", false }, { SUB, ">", false }, { SUB, "*", false },
		{ PUB, "a", false }, { PUB, "a.b.c", false },
		{ DELIV, "x.y", true },
	};
	run_rows(all_deny, rn, sizeof rn / sizeof rn[0], "deny >");
	struct jn_user *all = user_with(&a, "all", LIST(">"), NULL, LIST(">"), NULL);
	static const struct perm_row ra[] = {
		{ SUB, "a", true }, { SUB, ">", true }, { SUB, "*.b.>", true },
		{ PUB, "a", true }, { PUB, "$JS.API.INFO", true },
		{ FILT, ">", false }, { DELIV, "a", false },
	};
	run_rows(all, ra, sizeof ra / sizeof ra[0], "allow >");

	/* Subset rules for allow lists. */
	struct jn_user *s = user_with(&a, "s", NULL, NULL, LIST("foo.>", "*.x"), NULL);
	static const struct perm_row rs[] = {
		{ SUB, "foo.>", true },
		{ SUB, "foo.*", true },
		{ SUB, "foo.*.bar", true },
		{ SUB, "foo.a.b.c", true },
		{ SUB, "foo", false },
		{ SUB, ">", false },
		{ SUB, "*.x", true },
		{ SUB, "bar.x", true },
		{ SUB, "*.y", false },
		{ SUB, "*.*", false },
		{ SUB, "bar.>", false },
	};
	run_rows(s, rs, sizeof rs / sizeof rs[0], "allow foo.> *.x");
	jn_auth_fini(&a);
}

static void test_publish_rules(void **state)
{
	(void)state;
	struct jn_auth a;
	jn_auth_init(&a);
	struct jn_user *u = user_with(&a, "p", LIST("orders.*", "$JS.API.>"),
	                              LIST("orders.secret", "$JS.API.STREAM.DELETE.>"),
	                              NULL, NULL);
	static const struct perm_row rows[] = {
		{ PUB, "orders.new", true },
		{ PUB, "orders.secret", false },   /* deny wins over allow */
		{ PUB, "orders.new.x", false },
		{ PUB, "orders", false },
		{ PUB, "$JS.API.INFO", true },
		{ PUB, "$JS.API.STREAM.DELETE.X", false },
		{ PUB, "$JS.API.STREAM.INFO.X", true },
		{ PUB, "Orders.new", false },      /* case-sensitive */
		/* Wildcard-looking subjects (non-pedantic PUB) are judged token
		 * by token as the literals they are, like nats-server. */
		{ PUB, "orders.*", true },
		{ PUB, "orders.>", true },
		{ SUB, "anything.>", true },       /* no subscribe lists */
	};
	run_rows(u, rows, sizeof rows / sizeof rows[0], "publish");

	/* A present but empty allow list allows nothing. */
	struct jn_user *e = user_with(&a, "e", NULL, NULL, NULL, NULL);
	u = &a.users[0];   /* adding a user may move the array */
	e->publish.has_allow = true;
	e->subscribe.has_allow = true;
	assert_false(jn_auth_can_publish(e, "a", 1));
	assert_false(jn_auth_can_subscribe(e, "a", 1));

	/* No user: no restriction. */
	assert_true(jn_auth_can_publish(NULL, "a", 1));
	assert_true(jn_auth_can_subscribe(NULL, ">", 1));
	assert_false(jn_auth_sub_needs_filter(NULL, ">", 1));
	assert_false(jn_auth_deliver_denied(NULL, "a", 1));

	/* The length is honoured: the subject need not be NUL-terminated. */
	assert_true(jn_auth_can_publish(u, "orders.newXYZ", 10));
	assert_false(jn_auth_can_publish(u, "orders.secretXYZ", 13));
	jn_auth_fini(&a);
}

static void test_fini_frees_everything(void **state)
{
	(void)state;
	size_t used = jn_mem_used(), allocs = jn_mem_allocs();
	struct jn_auth a;
	jn_auth_init(&a);
	for (int i = 0; i < 50; i++) {
		char name[16];
		snprintf(name, sizeof name, "user%d", i);
		struct jn_user *u = user_with(&a, name, LIST("a.>", "b"), LIST("a.x"),
		                              LIST("c.*"), LIST("c.d"));
		(void)u;
	}
	assert_int_equal(jn_auth_set_token(&a, "t"), 0);
	assert_int_equal(jn_auth_set_no_auth_user(&a, "user3"), 0);
	assert_true(jn_mem_used() > used);
	jn_auth_fini(&a);
	assert_int_equal(jn_mem_used(), used);
	assert_int_equal(jn_mem_allocs(), allocs);
	assert_int_equal(a.nusers, 0);
	assert_null(a.users);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_auth),
		cmocka_unit_test(test_users_plain),
		cmocka_unit_test(test_bcrypt),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_no_auth_user),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_subscribe_rules),
		cmocka_unit_test(test_publish_rules),
		cmocka_unit_test(test_fini_frees_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
