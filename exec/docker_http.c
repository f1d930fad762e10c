/* SPDX-License-Identifier: MIT */
/* The HTTP/1.1 responses of the Docker Engine API (docker_api.h): a status
 * line, headers, and a body given by Content-Length, chunked, or ended by
 * the close. Input is untrusted (fuzz-http): every length is checked. */
#include "docker_api.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BODY_MAX (64u << 20) /* a longer body is refused */

/* The end of the line starting at p (its "\r\n"), or NULL. */
static const uint8_t *line_end(const uint8_t *p, const uint8_t *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

/* Whether the header line [p, e) is NAME: and where its value starts. */
static const uint8_t *header(const uint8_t *p, const uint8_t *e,
			     const char *name)
{
	size_t k = strlen(name);

	if ((size_t)(e - p) <= k ||
	    strncasecmp((const char *)p, name, k) != 0 || p[k] != ':')
		return NULL;
	for (p += k + 1; p < e && (*p == ' ' || *p == '\t'); p++)
		;
	return p;
}

/* A decimal (base 10) or hex (16) number of [p, e), all of it but
 * trailing blanks (and, for chunk sizes, extensions after ';'). */
static int number(const uint8_t *p, const uint8_t *e, int base, uint64_t *v)
{
	bool any = false;

	*v = 0;
	for (; p < e; p++) {
		int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		if (*v > (BODY_MAX - (uint64_t)d) / (uint64_t)base)
			return -EFBIG;
		*v = *v * (uint64_t)base + (uint64_t)d;
		any = true;
	}
	for (; p < e && (*p == ' ' || *p == '\t'); p++)
		;
	if (p < e && !(base == 16 && *p == ';'))
		return -EPROTO;
	return any ? 0 : -EPROTO;
}

static int parse_head(const uint8_t *buf, size_t n, struct dk_http_resp *r)
{
	const uint8_t *p = buf, *end = buf + n, *e, *v;
	uint64_t code;
	int k;

	e = line_end(p, end);
	if (!e)
		return n > 16384 ? -EPROTO : 0;
	if (e - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' ||
	    number(p + 9, p + 12, 10, &code) < 0 || code < 100 || code > 999 ||
	    (e - p > 12 && p[12] != ' '))
		return -EPROTO;
	r->status = (int)code;
	for (p = e + 2;; p = e + 2) {
		e = line_end(p, end);
		if (!e)
			return n > 16384 ? -EPROTO : 0;
		if (e == p)
			break;
		if ((v = header(p, e, "Content-Length"))) {
			k = number(v, e, 10, &r->len);
			if (k < 0)
				return k;
			r->has_len = true;
		} else if ((v = header(p, e, "Transfer-Encoding"))) {
			if ((size_t)(e - v) < 7 ||
			    strncasecmp((const char *)v, "chunked", 7) != 0)
				return -EPROTO;
			r->chunked = true;
		}
	}
	r->head = (size_t)(e + 2 - buf);
	r->scan = r->head;
	return 1;
}

/* Chunks from r->scan on: 1 at the last one, 0 for more. */
static int parse_chunks(const uint8_t *buf, size_t n, struct dk_http_resp *r)
{
	const uint8_t *end = buf + n;

	for (;;) {
		const uint8_t *p = buf + r->scan, *e = line_end(p, end);
		uint64_t size;
		uint8_t *b;
		int k;

		if (!e)
			return (size_t)(end - p) > 1024 ? -EPROTO : 0;
		k = number(p, e, 16, &size);
		if (k < 0)
			return k;
		if (size == 0)
			return 1; /* trailers, if any, are not waited for */
		if ((uint64_t)(end - (e + 2)) < size + 2)
			return 0;
		if (e[2 + size] != '\r' || e[3 + size] != '\n')
			return -EPROTO;
		if (r->nbody + size > BODY_MAX)
			return -EFBIG;
		b = realloc(r->body, r->nbody + size + 1);
		if (!b)
			return -ENOMEM;
		memcpy(b + r->nbody, e + 2, size);
		r->body = b;
		r->nbody += size;
		r->body[r->nbody] = '\0';
		r->scan = (size_t)(e + 4 + size - buf);
	}
}

int dk_http_parse(const uint8_t *buf, size_t n, bool eof,
		  struct dk_http_resp *r)
{
	int k;

	if (!r->head) {
		k = parse_head(buf, n, r);
		if (k <= 0)
			return k == 0 && eof ? -EPROTO : k;
	}
	/* No body at all: 1xx, 204 and 304. */
	if (r->status < 200 || r->status == 204 || r->status == 304)
		return 1;
	if (r->chunked) {
		k = parse_chunks(buf, n, r);
		return k == 0 && eof ? -EPROTO : k;
	}
	if (r->has_len) {
		if (r->len > BODY_MAX)
			return -EFBIG;
		if (n - r->head >= r->len)
			return 1;
		return eof ? -EPROTO : 0;
	}
	if (n - r->head > BODY_MAX)
		return -EFBIG;
	return eof ? 1 : 0;
}
