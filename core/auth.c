/*
 * auth.c - who may connect, and what each user may publish and subscribe.
 *
 * Owns: the user table, password/token checks, and the permission rules.
 * A jn_auth is built once at load (single thread), then shared read-only by
 * every thread; nothing here locks.
 *
 * Credentials (nats-server 2.9 auth.go isClientAuthorized and
 * processClientOrLeafAuthentication; each point observed on 2.9.10):
 *  - No credentials at all (no user, no password, no token; "" counts as
 *    absent) and no_auth_user set: the client is that user, no password.
 *  - Users configured: the user must exist and the password must match.
 *    A user configured without a password accepts an empty password.
 *    A token presented alongside is ignored.
 *  - Token configured: the client's auth_token must match; user/password are
 *    ignored, and the token is NOT accepted in the password field.
 *  - A token together with users is refused at load (nats-server: "Can not
 *    have a token and a users array"); see jn_auth_validate().
 *  - Passwords and the token may be bcrypt hashes ($2a$, $2b$, $2y$; 2.9.10
 *    accepts $2b$ too); anything else is compared as plain text in constant
 *    time (only the length of the longer string leaks).
 * bcrypt runs in the caller's thread and costs ~2^cost rounds (tens of ms at
 * cost 10), like nats-server's check at CONNECT.
 *
 * Permissions (nats-server client.go pubAllowedFullCheck, canSubscribe,
 * checkDenySub). The lists are what counts: an absent allow list allows
 * everything, a present one (even empty) allows only what it matches; deny
 * always wins. `has_permissions` is informational.
 *  - Publish to S: (no allow list, or S matches an allow pattern) and S
 *    matches no deny pattern. Matching is nats-server's: each token of S is
 *    taken literally, so a wildcard-looking subject published without
 *    pedantic ("foo.*") is judged as the literal it is delivered as.
 *  - Subscribe to F:
 *    allow: F must be a subset of an allow pattern (jn_subject_subset).
 *      DELIBERATE DIFFERENCE: nats-server matches F's tokens literally
 *      against the allow list, so with allow ["foo.*"] it accepts SUB
 *      "foo.>" and then delivers foo.a.b (observed on 2.9.10) - a leak.
 *      We refuse that SUB. For every other case the two rules agree.
 *    deny: refused when a deny pattern matches F taken literally (as
 *      nats-server: deny "foo.*" refuses SUB "foo.>" and SUB "foo.*"; deny
 *      "foo.>" refuses SUB "foo.*") or when F is a subset of a deny pattern.
 *    A wildcard SUB that merely overlaps a deny pattern (SUB "foo.*", deny
 *      "foo.secret") is accepted, and the denied subjects are filtered at
 *      delivery: jn_auth_sub_needs_filter / jn_auth_deliver_denied (observed:
 *      foo.secret is not delivered to SUB "foo.*" nor to SUB ">").
 *      nats-server turns its filter on only when a deny pattern is a subset of
 *      the SUB; we use overlap, which also covers SUB "*.bar" with deny
 *      "foo.*" (foo.bar must not be delivered).
 * Not implemented: queue-group permission entries ("foo.> q"),
 * allow_responses, nkeys/JWT.
 */
#include "core/auth.h"

#include <crypt.h>
#include <string.h>

#include "core/alloc.h"
#include "core/err.h"
#include "core/subject.h"

void jn_auth_init(struct jn_auth *a)
{
	memset(a, 0, sizeof *a);
	a->timeout_ns = 2000000000LL;
}

static void perm_list_fini(struct jn_perm_list *p)
{
	for (uint32_t i = 0; i < p->nallow; i++)
		jn_free(p->allow[i]);
	for (uint32_t i = 0; i < p->ndeny; i++)
		jn_free(p->deny[i]);
	jn_free(p->allow);
	jn_free(p->deny);
	memset(p, 0, sizeof *p);
}

void jn_auth_fini(struct jn_auth *a)
{
	for (uint32_t i = 0; i < a->nusers; i++) {
		struct jn_user *u = &a->users[i];
		jn_free(u->name);
		jn_free(u->password);
		perm_list_fini(&u->publish);
		perm_list_fini(&u->subscribe);
	}
	jn_free(a->users);
	jn_free(a->token);
	jn_free(a->no_auth_user);
	jn_auth_init(a);
}

static const struct jn_user *find_user(const struct jn_auth *a, const char *name)
{
	for (uint32_t i = 0; i < a->nusers; i++)
		if (strcmp(a->users[i].name, name) == 0)
			return &a->users[i];
	return NULL;
}

/* *out points into a->users: valid until the next jn_auth_add_user. */
int jn_auth_add_user(struct jn_auth *a, const char *name, const char *password,
                     struct jn_user **out)
{
	if (!name || !*name)
		return -JN_EINVAL;
	if (find_user(a, name))
		return -JN_EEXIST;
	if (a->nusers == UINT32_MAX)
		return -JN_ENOMEM;
	char *n = jn_strdup(name);
	char *p = password ? jn_strdup(password) : NULL;
	struct jn_user *users = n && (p || !password)
		? jn_realloc(a->users, ((size_t)a->nusers + 1) * sizeof *users) : NULL;
	if (!users) {
		jn_free(n);
		jn_free(p);
		return -JN_ENOMEM;
	}
	a->users = users;
	struct jn_user *u = &users[a->nusers++];
	memset(u, 0, sizeof *u);
	u->name = n;
	u->password = p;
	a->required = true;
	if (out)
		*out = u;
	return 0;
}

/* The subject is copied. */
int jn_perm_add(struct jn_perm_list *p, bool allow, const char *subject)
{
	if (!subject || !jn_subject_valid_filter(subject, strlen(subject)))
		return -JN_EBADSUBJECT;
	char ***arr = allow ? &p->allow : &p->deny;
	uint32_t *n = allow ? &p->nallow : &p->ndeny;
	if (*n == UINT32_MAX)
		return -JN_ENOMEM;
	char *s = jn_strdup(subject);
	char **na = s ? jn_realloc(*arr, ((size_t)*n + 1) * sizeof *na) : NULL;
	if (!na) {
		jn_free(s);
		return -JN_ENOMEM;
	}
	na[(*n)++] = s;
	*arr = na;
	if (allow)
		p->has_allow = true;
	return 0;
}

static int set_str(char **dst, const char *src)
{
	char *c = NULL;
	if (src && !(c = jn_strdup(src)))
		return -JN_ENOMEM;
	jn_free(*dst);
	*dst = c;
	return 0;
}

int jn_auth_set_token(struct jn_auth *a, const char *token)
{
	int rc = set_str(&a->token, token && *token ? token : NULL);
	if (rc == 0 && a->token)
		a->required = true;
	return rc;
}

int jn_auth_set_no_auth_user(struct jn_auth *a, const char *name)
{
	return set_str(&a->no_auth_user, name && *name ? name : NULL);
}

int jn_auth_validate(const struct jn_auth *a, const char **why)
{
	const char *w = NULL;
	if (a->token && a->nusers)
		w = "Can not have a token and a users array";
	else if (a->no_auth_user && !find_user(a, a->no_auth_user))
		w = "no_auth_user is not present as a user";
	if (why)
		*why = w;
	return w ? -JN_ECONFIG : 0;
}

/* ---- credentials ------------------------------------------------------- */

static bool empty(const char *s) { return !s || !*s; }

/* Compares every byte up to the longer length whatever the contents. */
static bool ct_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t n = la > lb ? la : lb;
	unsigned diff = la != lb;
	for (size_t i = 0; i < n; i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		unsigned char cb = i < lb ? (unsigned char)b[i] : 0;
		diff |= (unsigned)(ca ^ cb);
	}
	return diff == 0;
}

static bool is_bcrypt(const char *s)
{
	return s[0] == '$' && s[1] == '2' &&
	       (s[2] == 'a' || s[2] == 'b' || s[2] == 'y') && s[3] == '$';
}

/* stored: plain text or bcrypt hash (NULL = no password); given may be NULL. */
static bool password_ok(const char *stored, const char *given)
{
	if (!given)
		given = "";
	if (!stored)
		stored = "";
	if (!is_bcrypt(stored))
		return ct_equal(stored, given);
	/* struct crypt_data is large (~32 KiB in libxcrypt): keep it off the
	 * worker's stack. It must start zeroed. */
	struct crypt_data *cd = jn_calloc(1, sizeof *cd);
	if (!cd)
		return false;
	const char *h = crypt_r(given, stored, cd);
	/* Failure is NULL or a string starting with '*' (never a valid hash). */
	bool ok = h && h[0] == '$' && ct_equal(h, stored);
	jn_free(cd);
	return ok;
}

int jn_auth_check(const struct jn_auth *a, const char *user, const char *pass,
                  const char *token, const struct jn_user **out)
{
	const struct jn_user *u = NULL;
	int rc = 0;
	if (!a)
		goto done;
	if (a->no_auth_user && empty(user) && empty(pass) && empty(token)) {
		u = find_user(a, a->no_auth_user);
		rc = u ? 0 : -JN_EAUTH;
		goto done;
	}
	if (a->nusers) {
		u = empty(user) ? NULL : find_user(a, user);
		if (!u || !password_ok(u->password, pass)) {
			u = NULL;
			rc = -JN_EAUTH;
		}
		goto done;
	}
	if (a->token) {
		if (empty(token) || !password_ok(a->token, token))
			rc = -JN_EAUTH;
		goto done;
	}
	if (a->required)   /* required but nothing to check against: fail closed */
		rc = -JN_EAUTH;
done:
	if (out)
		*out = rc == 0 ? u : NULL;
	return rc;
}

/* ---- permissions ------------------------------------------------------- */

/* Does some pattern match subject s, s's tokens taken literally? That is
 * jn_subject_match, which compares s token by token without interpreting
 * "*" or ">" in s. */
static bool any_match(char *const *pats, uint32_t n, const char *s, size_t len)
{
	for (uint32_t i = 0; i < n; i++)
		if (jn_subject_match(pats[i], strlen(pats[i]), s, len))
			return true;
	return false;
}

bool jn_auth_can_publish(const struct jn_user *u, const char *subj, size_t len)
{
	if (!u)
		return true;
	const struct jn_perm_list *p = &u->publish;
	if (p->has_allow && !any_match(p->allow, p->nallow, subj, len))
		return false;
	return !any_match(p->deny, p->ndeny, subj, len);
}

bool jn_auth_can_subscribe(const struct jn_user *u, const char *subj, size_t len)
{
	if (!u)
		return true;
	const struct jn_perm_list *p = &u->subscribe;
	if (p->has_allow) {
		bool ok = false;
		for (uint32_t i = 0; i < p->nallow && !ok; i++)
			ok = jn_subject_subset(subj, len, p->allow[i], strlen(p->allow[i]));
		if (!ok)
			return false;
	}
	for (uint32_t i = 0; i < p->ndeny; i++) {
		size_t dl = strlen(p->deny[i]);
		if (jn_subject_match(p->deny[i], dl, subj, len) ||
		    jn_subject_subset(subj, len, p->deny[i], dl))
			return false;
	}
	return true;
}

bool jn_auth_sub_needs_filter(const struct jn_user *u, const char *filter, size_t len)
{
	if (!u || !u->subscribe.ndeny || !jn_subject_has_wildcard(filter, len))
		return false;
	const struct jn_perm_list *p = &u->subscribe;
	for (uint32_t i = 0; i < p->ndeny; i++)
		if (jn_subject_overlap(p->deny[i], strlen(p->deny[i]), filter, len))
			return true;
	return false;
}

bool jn_auth_deliver_denied(const struct jn_user *u, const char *subj, size_t len)
{
	return u && any_match(u->subscribe.deny, u->subscribe.ndeny, subj, len);
}
