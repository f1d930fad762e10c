/* SPDX-License-Identifier: MIT */
/* The Docker Engine API client (docker_api.h): one connection per request
 * ("Connection: close"), the answer read to its end and parsed by
 * docker_http.c; an exec's stream is a request whose answer is 101 (or
 * 200) and then raw bytes both ways on the same socket. */
#include "docker_api.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "writeall.h"

#define DEFAULT_HOST  "unix:///var/run/docker.sock"
#define HEAD_MAX      16384  /* a hijack's response head */
#define IO_TIMEOUT_MS 120000 /* a request that gets no answer */

struct dk_engine {
	char *host;   /* as given */
	char *socket; /* unix: the socket's path; else NULL */
	char *node;   /* tcp: host and port */
	char *port;
};

int dk_open(const char *host, struct dk_engine **ret, char *err, size_t errlen)
{
	struct dk_engine *e;
	char *colon;

	if (!host || !*host)
		host = getenv("DOCKER_HOST");
	if (!host || !*host)
		host = DEFAULT_HOST;
	e = calloc(1, sizeof(*e));
	if (!e || !(e->host = strdup(host)))
		goto oom;
	if (strncmp(host, "unix://", 7) == 0 && host[7] == '/') {
		struct sockaddr_un sa;

		if (strlen(host + 7) >= sizeof(sa.sun_path)) {
			snprintf(err, errlen,
				 "docker host '%s': the socket's path is too "
				 "long",
				 host);
			dk_close(e);
			return -ENAMETOOLONG;
		}
		if (!(e->socket = strdup(host + 7)))
			goto oom;
	} else if (strncmp(host, "tcp://", 6) == 0 &&
		   (colon = strrchr(host + 6, ':')) && colon > host + 6 &&
		   colon[1]) {
		e->node = strndup(host + 6, (size_t)(colon - (host + 6)));
		e->port = strdup(colon + 1);
		if (!e->node || !e->port)
			goto oom;
	} else {
		snprintf(err, errlen,
			 "docker host '%s': expected unix:///PATH or "
			 "tcp://HOST:PORT",
			 host);
		dk_close(e);
		return -EINVAL;
	}
	*ret = e;
	return 0;
oom:
	dk_close(e);
	snprintf(err, errlen, "out of memory");
	return -ENOMEM;
}

void dk_close(struct dk_engine *e)
{
	if (!e)
		return;
	free(e->host);
	free(e->socket);
	free(e->node);
	free(e->port);
	free(e);
}

const char *dk_host(const struct dk_engine *e)
{
	return e->host;
}

bool dk_local(const struct dk_engine *e)
{
	return e->socket != NULL;
}

/* A connected socket to the engine, or -errno with err. */
static int dial(struct dk_engine *e, char *err, size_t errlen)
{
	int fd = -1, r;

	if (e->socket) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		memcpy(sa.sun_path, e->socket, strlen(e->socket) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		r = -errno;
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai, *a;
		int g = getaddrinfo(e->node, e->port, &hints, &ai);

		if (g != 0) {
			snprintf(err, errlen, "%s: %s", e->host,
				 gai_strerror(g));
			return -EHOSTUNREACH;
		}
		r = -ECONNREFUSED;
		for (a = ai; a; a = a->ai_next) {
			fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
				    a->ai_protocol);
			if (fd >= 0 &&
			    connect(fd, a->ai_addr, a->ai_addrlen) == 0)
				break;
			r = -errno;
			if (fd >= 0)
				close(fd);
			fd = -1;
		}
		freeaddrinfo(ai);
		if (fd >= 0)
			return fd;
	}
	if (fd >= 0)
		close(fd);
	snprintf(err, errlen, "%s: %s", e->host, strerror(-r));
	return r;
}

/* The engine's message of an error answer, else the status's. */
static void engine_message(const void *body, size_t n, int status, char *err,
			   size_t errlen)
{
	json_t *j = body && n ? json_loadb(body, n, 0, NULL) : NULL;
	const char *m = json_string_value(json_object_get(j, "message"));

	if (m && *m)
		snprintf(err, errlen, "%s", m);
	else
		snprintf(err, errlen, "HTTP status %d", status);
	json_decref(j);
}

/* Sends METHOD path with body (NULL: none); the socket, or -errno. */
static int send_request(struct dk_engine *e, const char *method,
			const char *path, json_t *body, const char *extra,
			char *err, size_t errlen)
{
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT)
					 : NULL;
	_cleanup_free_ char *req = NULL;
	int fd, r;

	if ((body && !text) ||
	    asprintf(&req,
		     "%s %s%s HTTP/1.1\r\nHost: docker\r\n%s"
		     "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     method, DK_API, path, extra, text ? strlen(text) : 0,
		     text ? text : "") < 0) {
		req = NULL;
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	fd = dial(e, err, errlen);
	if (fd < 0)
		return fd;
	r = util_write_all(fd, req, strlen(req));
	if (r < 0) {
		close(fd);
		snprintf(err, errlen, "%s: %s", e->host, strerror(-r));
		return r;
	}
	return fd;
}

int dk_call(struct dk_engine *e, const char *method, const char *path,
	    json_t *body, json_t **out, char *err, size_t errlen)
{
	struct dk_http_resp resp = { 0 };
	_cleanup_close_ int fd = -1;
	uint8_t *buf = NULL;
	size_t n = 0, cap = 0;
	const void *b;
	size_t nb;
	int r = 0;

	if (out)
		*out = NULL;
	fd = send_request(e, method, path, body, "Connection: close\r\n", err,
			  errlen);
	if (fd < 0)
		return fd;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t k;

		if (n + 65536 > cap) {
			uint8_t *q = realloc(buf, cap = (n + 65536) * 2);

			if (!q) {
				r = -ENOMEM;
				break;
			}
			buf = q;
		}
		if (poll(&p, 1, IO_TIMEOUT_MS) == 0) {
			r = -ETIMEDOUT;
			break;
		}
		k = read(fd, buf + n, cap - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			break;
		}
		n += (size_t)k;
		r = dk_http_parse(buf, n, k == 0, &resp);
		if (r != 0)
			break;
	}
	if (r < 0) {
		snprintf(err, errlen, "%s: %s %s: %s", e->host, method, path,
			 r == -EPROTO ? "not an HTTP answer" : strerror(-r));
		free(buf);
		free(resp.body);
		return r == -EPROTO ? -EIO : r;
	}
	b = resp.chunked ? (const void *)resp.body : buf + resp.head;
	nb = resp.chunked   ? resp.nbody
	     : resp.has_len ? (size_t)resp.len
			    : n - resp.head;
	r = resp.status;
	if (r >= 400)
		engine_message(b, nb, r, err, errlen);
	else if (out && nb)
		*out = json_loadb(b, nb, 0, NULL);
	free(buf);
	free(resp.body);
	return r;
}

/* Reads until the blank line ending the head, within the deadline; the
 * head's length, with what followed it left in buf after it. */
static ssize_t read_head(int fd, char *buf, size_t cap, size_t *got)
{
	*got = 0;
	while (*got < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *end;
		ssize_t k;

		if (poll(&p, 1, IO_TIMEOUT_MS) <= 0)
			return -ETIMEDOUT;
		k = read(fd, buf + *got, cap - 1 - *got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -ECONNRESET;
		*got += (size_t)k;
		buf[*got] = '\0';
		end = strstr(buf, "\r\n\r\n");
		if (end)
			return end + 4 - buf;
	}
	return -EPROTO;
}

int dk_hijack(struct dk_engine *e, const char *path, json_t *body,
	      struct dk_stream *s, char *err, size_t errlen)
{
	char head[HEAD_MAX];
	size_t got;
	ssize_t hl;
	int status = 0;

	memset(s, 0, sizeof(*s));
	s->fd = send_request(e, "POST", path, body,
			     "Connection: Upgrade\r\nUpgrade: tcp\r\n", err,
			     errlen);
	if (s->fd < 0)
		return s->fd;
	hl = read_head(s->fd, head, sizeof(head), &got);
	if (hl < 0) {
		snprintf(err, errlen, "%s: exec stream: %s", e->host,
			 hl == -EPROTO ? "not an HTTP answer"
				       : strerror((int)-hl));
		dk_stream_close(s);
		return (int)hl;
	}
	if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
		snprintf(err, errlen, "%s: exec stream: not an HTTP answer",
			 e->host);
		dk_stream_close(s);
		return -EPROTO;
	}
	if (status != 101 && status != 200) {
		engine_message(head + hl, got - (size_t)hl, status, err,
			       errlen);
		dk_stream_close(s);
		return status == 404 ? -ENOENT : -EIO;
	}
	if (got > (size_t)hl) {
		s->npending = got - (size_t)hl;
		s->pending = malloc(s->npending);
		if (!s->pending) {
			dk_stream_close(s);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		memcpy(s->pending, head + hl, s->npending);
	}
	return 0;
}

void dk_stream_close(struct dk_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->pending);
	memset(s, 0, sizeof(*s));
	s->fd = -1;
}

int dk_demux_feed(struct dk_demux *d, const uint8_t *p, size_t n,
		  int (*out)(void *opaque, int stream, const uint8_t *p,
			     size_t n),
		  void *opaque)
{
	while (n) {
		if (d->left) {
			size_t k = n < d->left ? n : d->left;
			int r = out(opaque, d->stream, p, k);

			if (r)
				return r;
			d->left -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		while (n && d->nhdr < sizeof(d->hdr)) {
			d->hdr[d->nhdr++] = *p++;
			n--;
		}
		if (d->nhdr < sizeof(d->hdr))
			break;
		d->nhdr = 0;
		if (d->hdr[0] > 2)
			return -EPROTO;
		d->stream = d->hdr[0];
		d->left = (uint32_t)d->hdr[4] << 24 |
			  (uint32_t)d->hdr[5] << 16 | (uint32_t)d->hdr[6] << 8 |
			  d->hdr[7];
	}
	return 0;
}
