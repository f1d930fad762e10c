/* SPDX-License-Identifier: MIT */
/* The config loader's walk (config_int.h): every key checked against its
 * table, every error named by its full JSON path, and the values (seconds,
 * paths, names, urls) more than one part reads. */
#include "config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cleanup.h"
#include "codec.h"

static const char *const url_schemes[] = { "tcp://", "ipc://", "tls+tcp://" };

/* One line, whatever the input held: names and values come from the file. */
void cfg_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Appends to the path; returns the mark for path_pop. Cuts at PATH_CAP. */
__attribute__((format(printf, 2, 3))) size_t cfg_path_push(struct ctx *x,
							   const char *fmt, ...)
{
	size_t mark = x->plen, room = sizeof(x->path) - x->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(x->path + x->plen, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->plen += (size_t)n < room ? (size_t)n : room - 1;
	return mark;
}

size_t cfg_path_key(struct ctx *x, const char *key)
{
	return cfg_path_push(x, x->plen ? ".%s" : "%s", key);
}

void cfg_path_pop(struct ctx *x, size_t mark)
{
	x->plen = mark;
	x->path[mark] = '\0';
}

/* Writes "ORIGIN: PATH[.key]: message" and returns -EINVAL. */
__attribute__((format(printf, 3, 4))) int
cfg_fail(struct ctx *x, const char *key, const char *fmt, ...)
{
	char msg[MSG_CAP];
	size_t mark = x->plen;
	va_list ap;

	if (!x->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		cfg_path_key(x, key);
	if (x->plen)
		snprintf(x->err, x->errlen, "%s: %s: %s", x->c->origin, x->path,
			 msg);
	else
		snprintf(x->err, x->errlen, "%s: %s", x->c->origin, msg);
	cfg_path_pop(x, mark);
	cfg_one_line(x->err);
	return -EINVAL;
}

int cfg_fail_oom(struct ctx *x)
{
	if (x->errlen)
		snprintf(x->err, x->errlen, "%s: out of memory", x->c->origin);
	return -ENOMEM;
}

int cfg_dup(struct ctx *x, const char *s, char **ret)
{
	*ret = strdup(s);
	return *ret ? 0 : cfg_fail_oom(x);
}

static const struct field *field_find(const struct field *f, const char *key)
{
	for (; f->key; f++)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

static int check_kind(struct ctx *x, json_t *v, enum kind kind)
{
	static const char *const expected[] = {
		[K_STRING] = "expected a string",
		[K_NUMBER] = "expected a number",
		[K_OBJECT] = "expected an object",
		[K_ARRAY] = "expected an array",
		[K_SCALAR] = "expected a string or a number",
	};
	bool ok =
		(kind == K_STRING && json_is_string(v)) ||
		(kind == K_NUMBER && json_is_number(v)) ||
		(kind == K_OBJECT && json_is_object(v)) ||
		(kind == K_ARRAY && json_is_array(v)) ||
		(kind == K_SCALAR && (json_is_string(v) || json_is_number(v)));

	return ok ? 0 : cfg_fail(x, NULL, "%s", expected[kind]);
}

/* obj (at the current path) against fields; accepted values into raw. */
int cfg_scan(struct ctx *x, json_t *obj, const struct field *fields, void *raw)
{
	const struct field *f;
	const char *key;
	json_t *v;
	size_t mark;
	int r;

	r = check_kind(x, obj, K_OBJECT);
	if (r < 0)
		return r;
	json_object_foreach(obj, key, v)
	{
		f = field_find(fields, key);
		if (!f)
			return cfg_fail(x, key, "unknown key");
		mark = cfg_path_key(x, key);
		r = check_kind(x, v, f->kind);
		if (r >= 0 && f->sub)
			r = cfg_scan(x, v, f->sub, raw);
		else if (r >= 0)
			*(json_t **)(void *)((char *)raw + f->slot) = v;
		cfg_path_pop(x, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfg_check_url(struct ctx *x, const char *key, const char *url)
{
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(url_schemes); i++) {
		size_t n = strlen(url_schemes[i]);

		if (strncmp(url, url_schemes[i], n) == 0 && url[n])
			return 0;
	}
	return cfg_fail(x, key,
			"bad url '%s' (expected tcp://, ipc:// or "
			"tls+tcp://ADDRESS)",
			url);
}

/* The url of node name (checked by cfg_parse_node), or NULL. */
const char *cfg_node_url(struct ctx *x, const char *name)
{
	json_t *n = x->nodes ? json_object_get(x->nodes, name) : NULL;

	return n ? json_string_value(json_object_get(n, "url")) : NULL;
}

/* A number of seconds, 1 to TIMEOUT_MAX_S, whole. */
int cfg_parse_seconds(struct ctx *x, const char *key, json_t *v, uint32_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > TIMEOUT_MAX_S)
		return cfg_fail(x, key, "whole seconds, 1 to %u",
				TIMEOUT_MAX_S);
	*ret = (uint32_t)json_integer_value(v);
	return 0;
}

/* An absolute path, or "~/..." (this user's home), into *out. */
int cfg_parse_file(struct ctx *x, const char *key, json_t *v, char **out)
{
	const char *p = json_string_value(v), *home = getenv("HOME");

	if (p[0] == '~' && p[1] == '/' && home && home[0] == '/') {
		if (asprintf(out, "%s%s", home, p + 1) < 0) {
			*out = NULL;
			return cfg_fail_oom(x);
		}
		return 0;
	}
	if (p[0] != '/')
		return cfg_fail(x, key, "'%s': an absolute path, or ~/...", p);
	return cfg_dup(x, p, out);
}

int cfg_parse_timeout(struct ctx *x, json_t *v, uint32_t *ret_ms)
{
	double s = json_number_value(v);
	uint64_t ms;

	/* Integers compared as integers: a huge one must not round into
	 * range through a double. */
	if (json_is_integer(v) ? json_integer_value(v) <= 0 ||
					 json_integer_value(v) > TIMEOUT_MAX_S
			       : !(s > 0 && s <= TIMEOUT_MAX_S))
		return cfg_fail(x, "timeout",
				"must be more than 0 and at most %u "
				"seconds (30 days)",
				TIMEOUT_MAX_S);
	/* Rounded to the millisecond, but never down to 0 ("none"). */
	ms = (uint64_t)(s * 1000.0 + 0.5);
	*ret_ms = ms ? (uint32_t)ms : 1;
	return 0;
}

/* A workspace or domain name (see docs/protocol.md). */
int cfg_parse_name(struct ctx *x, const char *key, json_t *v, char **out)
{
	const char *name = json_string_value(v);

	if (!tp_name_ok((const uint8_t *)name, strlen(name)))
		return cfg_fail(
			x, key,
			"'%s' is not a name (1-%u of A-Z a-z 0-9 _ - ., "
			"not starting with '.')",
			name, TP_NAME_MAX);
	return cfg_dup(x, name, out);
}
