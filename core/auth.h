/*
 * auth.h - users, passwords, tokens and per-subject permissions, shared by
 * every adapter (NATS CONNECT, MQTT username/password, HTTP Bearer/Basic).
 *
 * Permissions follow nats-server: a subject is allowed if it matches an
 * allow pattern (or the allow list is absent) and matches no deny pattern.
 * For subscriptions the pattern itself must be a subset of an allow pattern
 * (SUB ">" is not allowed by allow "foo.>"); a SUB that is a subset of a deny
 * pattern is refused (see auth.c for the exact rules and their source).
 * Passwords are plain text or bcrypt ("$2a$", "$2b$", "$2y$" via crypt(3)).
 *
 * Ownership: a jn_auth owns its users and every string in them; it is
 * immutable after load and shared read-only by all threads.
 */
#ifndef JN_AUTH_H
#define JN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct jn_perm_list {
	char **allow;      /* NULL when absent: everything allowed */
	uint32_t nallow;
	bool has_allow;
	char **deny;
	uint32_t ndeny;
};

struct jn_user {
	char *name;
	char *password;           /* plain or bcrypt hash; NULL for a token user */
	bool has_permissions;
	struct jn_perm_list publish;
	struct jn_perm_list subscribe;
};

struct jn_auth {
	bool required;            /* any users or a token configured */
	char *token;              /* server-wide token, or NULL */
	struct jn_user *users;
	uint32_t nusers;
	char *no_auth_user;       /* user assumed when a client sends no credentials */
	int64_t timeout_ns;       /* auth timeout, default 2 s */
};

void jn_auth_init(struct jn_auth *a);
void jn_auth_fini(struct jn_auth *a);

/* Add a user (strings copied). 0 or -JN_ENOMEM / -JN_EEXIST / -JN_EINVAL
 * (empty name). *out points into a->users and is valid only until the next
 * jn_auth_add_user (the array may move). */
int jn_auth_add_user(struct jn_auth *a, const char *name, const char *password,
                     struct jn_user **out);
int jn_perm_add(struct jn_perm_list *p, bool allow, const char *subject);

/* Check credentials. Returns 0 and sets *user (NULL when the token matched or
 * no auth is required), or -JN_EAUTH. Any argument may be NULL. */
int jn_auth_check(const struct jn_auth *a, const char *user, const char *pass,
                  const char *token, const struct jn_user **out);

/* NULL user = no restrictions. */
bool jn_auth_can_publish(const struct jn_user *u, const char *subj, size_t len);
bool jn_auth_can_subscribe(const struct jn_user *u, const char *subj, size_t len);

/* Added by core2. */

/* Server-wide token (copied; NULL clears) / user assumed without credentials
 * (copied; NULL clears). 0 or -JN_ENOMEM. */
int jn_auth_set_token(struct jn_auth *a, const char *token);
int jn_auth_set_no_auth_user(struct jn_auth *a, const char *name);

/* Call once after loading: refuses what nats-server refuses (a token together
 * with users; a no_auth_user that is not a user). 0 or -JN_ECONFIG with *why
 * (may be NULL) set to a static message. */
int jn_auth_validate(const struct jn_auth *a, const char **why);

/* Delivery-time filter for wildcard subscriptions. A SUB "foo.*" is allowed
 * under subscribe.deny=["foo.secret"], but messages on foo.secret must not
 * reach it (nats-server 2.9, observed). jn_auth_sub_needs_filter() says, once
 * at SUB time, whether a subscription can receive denied subjects at all;
 * for those the adapter calls jn_auth_deliver_denied() per message and drops
 * the message when it returns true. NULL user: false. */
bool jn_auth_sub_needs_filter(const struct jn_user *u, const char *filter, size_t len);
bool jn_auth_deliver_denied(const struct jn_user *u, const char *subj, size_t len);

#endif
