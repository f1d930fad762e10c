/* SPDX-License-Identifier: MIT */
/* A client of the Docker Engine API (Docker, and Podman's compatible
 * service) over its unix socket, or plain tcp: JSON requests, one
 * connection each, and exec streams taken over as raw sockets (the API
 * "hijacks" the connection of POST /exec/ID/start). Blocking.
 *
 * The HTTP/1.1 it needs is small and written here (docker_http.c): libcurl
 * cannot be linked into the static tether (Debian ships no archives of
 * its nghttp2, rtmp, ssh2, psl, gssapi and ldap dependencies), nng's HTTP
 * client dials only tcp and tls, and the hijack is outside what either
 * offers anyway. */
#ifndef TETHER_DOCKER_API_H
#define TETHER_DOCKER_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* API paths are under this version: Docker 20.10+ and Podman 3+. */
#define DK_API "/v1.41"

struct dk_engine;

/* host: "unix:///path" or "tcp://HOST:PORT"; NULL: $DOCKER_HOST, else
 * unix:///var/run/docker.sock. 0 and *ret, or -EINVAL (a scheme this does
 * not speak) / -ENOMEM with err. Connects nothing yet. */
int dk_open(const char *host, struct dk_engine **ret, char *err, size_t errlen);
void dk_close(struct dk_engine *e);

/* The engine's address as given ("unix:///run/podman.sock"). */
const char *dk_host(const struct dk_engine *e);
/* Whether it runs on this host (a unix socket): process ids it reports
 * are this host's. */
bool dk_local(const struct dk_engine *e);

/* One request: METHOD path (under DK_API; the query already escaped),
 * with body as JSON (NULL: none). Returns the HTTP status and *out (the
 * response parsed as JSON, or NULL when empty or not JSON; may be NULL
 * to ignore it), or -errno with err "ENGINE: cause" when the engine could
 * not be reached or the answer was cut. For a status >= 400, err holds
 * the engine's own message. */
int dk_call(struct dk_engine *e, const char *method, const char *path,
	    json_t *body, json_t **out, char *err, size_t errlen);

/* A hijacked connection: the raw stream of an exec. */
struct dk_stream {
	int fd;		  /* the socket, blocking; read and write freely */
	uint8_t *pending; /* stream bytes read with the response head */
	size_t npending;
};

/* POST path with body, asking to take the connection over; on 101 or 200
 * returns 0 with *s (close with dk_stream_close), else -errno (the
 * status's meaning: -ENOENT for 404, -EIO otherwise) with err. */
int dk_hijack(struct dk_engine *e, const char *path, json_t *body,
	      struct dk_stream *s, char *err, size_t errlen);
void dk_stream_close(struct dk_stream *s);

/* The multiplexed stream of a non-tty exec: 8-byte headers (stream 1
 * stdout, 2 stderr; 32-bit big-endian length) before each payload. Feed
 * it bytes as they come; it calls out for each payload piece. */
struct dk_demux {
	uint8_t hdr[8];
	size_t nhdr;	/* bytes of hdr filled */
	uint32_t left;	/* payload bytes left of the current frame */
	uint8_t stream; /* of the current frame */
};

/* Returns 0, or the first non-zero out() returned, or -EPROTO for a
 * stream number other than 0-2. */
int dk_demux_feed(struct dk_demux *d, const uint8_t *p, size_t n,
		  int (*out)(void *opaque, int stream, const uint8_t *p,
			     size_t n),
		  void *opaque);

/* An HTTP/1.1 response being read (docker_http.c). */
struct dk_http_resp {
	int status;
	size_t head;   /* bytes of the head, its blank line included */
	bool chunked;  /* Transfer-Encoding: chunked */
	bool has_len;  /* Content-Length given */
	uint64_t len;  /* its value */
	size_t scan;   /* chunked: where the next chunk's size line is */
	uint8_t *body; /* chunked: the decoded body so far (malloc) */
	size_t nbody;
};

/* Parse what has been read of a response, buf[0..n) (the same buffer,
 * grown, at each call; r zeroed before the first). eof: the peer closed.
 * 1 when complete (the body is body/nbody when chunked, else buf + head
 * for len bytes, or to n without a length), 0 when more is needed,
 * -EPROTO when it is not HTTP/1.x or is malformed, -EFBIG when a length
 * is absurd. Free r->body after. */
int dk_http_parse(const uint8_t *buf, size_t n, bool eof,
		  struct dk_http_resp *r);

#endif
