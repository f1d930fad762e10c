/* SPDX-License-Identifier: MIT */
/* treegen helpers every command uses: fatal errors, paths with every byte
 * shown, lists of paths, and joining, measuring and relating paths. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "treegen.h"

/* ---- errors ---- */

__attribute__((format(printf, 1, 2), noreturn)) void die(const char *fmt, ...)
{
	va_list ap;

	fputs("treegen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* A path for messages and the digest: every byte visible. */
void put_escaped(FILE *f, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c > 0x20 && c < 0x7f && c != '\\')
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

const char *shown(const char *p)
{
	static char buf[4][1200];
	static unsigned k;
	char *out = buf[k++ % 4];
	size_t o = 0;

	for (; *p && o + 5 < sizeof(buf[0]); p++) {
		unsigned char c = (unsigned char)*p;

		if (c > 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* ---- path lists ---- */

void strs_push(struct strs *s, const char *p)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("out of memory");
	}
	s->v[s->n] = strdup(p);
	if (!s->v[s->n])
		die("out of memory");
	s->n++;
}

void strs_free(struct strs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* parent "" + name -> "name"; else "parent/name". */
char *join(const char *parent, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", parent, *parent ? "/" : "", name) < 0)
		die("out of memory");
	return p;
}

int depth_of(const char *p)
{
	int d = *p ? 1 : 0;

	for (; *p; p++)
		d += *p == '/';
	return d;
}

/* The relative symlink target that names `to` from a link placed in
 * directory `from` (both relative to the root). */
char *rel_target(const char *from, const char *to)
{
	int d = depth_of(from);
	size_t n = strlen(to) + 3 * (size_t)d + 1;
	char *p = malloc(n);

	if (!p)
		die("out of memory");
	p[0] = '\0';
	for (int i = 0; i < d; i++)
		strcat(p, "../");
	strcat(p, to);
	return p;
}

char *parent_of(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? strndup(path, (size_t)(s - path)) : strdup("");
}
