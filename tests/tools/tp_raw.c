/* SPDX-License-Identifier: MIT */
/* tp-raw: send one raw (usually hostile) frame to a tether node and print
 * the decoded reply, for the integration tests.
 *
 * It speaks the SP wire format itself over a plain socket (RFC-style: the
 * 8-byte SP header each way, then per message an 8-byte big-endian length,
 * preceded on ipc by a type byte 1, and a 4-byte request id): exactly one
 * connection and one frame. An nng REQ socket would redial and resend the
 * frame after the node drops the connection, and quit in the middle of a
 * later handshake, which is a different test. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "parse.h"

/* A hex file is a test fixture, not a payload generator. */
#define HEX_MAX (4u << 20)
/* Past what any node accepts (it drops the connection over 8 MiB). */
#define RAW_MAX (64u << 20)

static const char usage[] =
	"usage: tp-raw URL (HEXFILE | --garbage N | --oversize N | --version V |\n"
	"              --truncated-start K) [--wait-ms MS]\n"
	"  HEXFILE             send the bytes written in hex (whitespace ignored)\n"
	"  --garbage N         send N random bytes\n"
	"  --oversize N        send an N-byte frame: a valid EXEC_LIST header, zeros\n"
	"  --version V         send an empty EXEC_LIST frame marked version V\n"
	"  --truncated-start K send a valid EXEC_START less its last K bytes, with\n"
	"                      the header's body length matching what is sent\n"
	"  --wait-ms MS        how long to wait for the reply (default 5000)\n"
	"Prints the reply ('TYPE', or 'ERROR CODE TEXT'); exit 0 when a reply\n"
	"arrived, 1 when none did, 2 on bad usage or a local failure.\n";

static void put_le(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void header(uint8_t *p, uint16_t version, uint16_t type, uint32_t len)
{
	memcpy(p, TP_MAGIC, 4);
	put_le(p + 4, version, 2);
	put_le(p + 6, type, 2);
	put_le(p + 8, len, 4);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int load_hex(const char *path, uint8_t **ret, size_t *len)
{
	FILE *f = fopen(path, "r");
	uint8_t *buf;
	size_t n = 0;
	int c, hi = -1;

	if (!f)
		return -errno;
	buf = malloc(HEX_MAX);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	while ((c = fgetc(f)) != EOF) {
		int v = hexval(c);

		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		if (v < 0 || (hi >= 0 && n == HEX_MAX)) {
			fclose(f);
			free(buf);
			return -EINVAL;
		}
		if (hi < 0) {
			hi = v;
		} else {
			buf[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	fclose(f);
	if (hi >= 0) {
		free(buf);
		return -EINVAL;
	}
	*ret = buf;
	*len = n;
	return 0;
}

static int make_garbage(size_t n, uint8_t **ret)
{
	uint8_t *buf = malloc(n ? n : 1);
	FILE *f;

	if (!buf)
		return -ENOMEM;
	f = fopen("/dev/urandom", "r");
	if (!f || fread(buf, 1, n, f) != n) {
		if (f)
			fclose(f);
		free(buf);
		return -EIO;
	}
	fclose(f);
	/* Random bytes that happen to start like a frame would test less. */
	if (n >= 4 && memcmp(buf, TP_MAGIC, 4) == 0)
		buf[0] ^= 0xff;
	*ret = buf;
	return 0;
}

static int make_truncated_start(size_t cut, uint8_t **ret, size_t *len)
{
	static const char *const argv[] = { "echo", "truncated" };
	static const char *const env[] = { "A=B" };
	struct tp_msg m = { .type = TP_EXEC_START };
	uint8_t *frame;
	ssize_t n;

	m.start.flags = TP_EXEC_F_STDIN;
	m.argv_c = (struct tp_cstrv){ argv, 2 };
	m.env_c = (struct tp_cstrv){ env, 1 };
	n = tp_msg_encode(&m, &frame);
	if (n < 0)
		return (int)n;
	if (cut == 0 || cut > (size_t)n - TP_HEADER_SIZE) {
		free(frame);
		return -EINVAL;
	}
	n -= (ssize_t)cut;
	put_le(frame + 8, (uint64_t)n - TP_HEADER_SIZE, 4);
	*ret = frame;
	*len = (size_t)n;
	return 0;
}

static void print_reply(const uint8_t *p, size_t n)
{
	struct tp_decode_err derr = { 0 };
	struct tp_msg m;
	int r = tp_msg_decode(p, n, &m, &derr);

	if (r < 0) {
		printf("undecodable reply (%zu bytes): %s\n", n, derr.what);
		return;
	}
	if (m.type == TP_ERROR) {
		printf("ERROR %" PRId32 " %.*s\n", m.error.code,
		       (int)m.error.message.len,
		       (const char *)m.error.message.ptr);
		return;
	}
	printf("%s\n", tp_type_name(m.type));
}

static int parse_size(const char *s, size_t max, size_t *out)
{
	uint64_t v;

	if (util_parse_u64(s, &v) < 0 || v > max)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A connected, non-blocking socket to an ipc:// or tcp://HOST:PORT url, or
 * -errno. */
static int dial(const char *url)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	char host[256];
	const char *colon;
	int fd, r;

	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(url + 6) >= sizeof(sa.sun_path))
			return -ENAMETOOLONG;
		strcpy(sa.sun_path, url + 6);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			r = -errno;
			close(fd);
			return r;
		}
		return fd;
	}
	if (strncmp(url, "tcp://", 6) != 0 || !(colon = strrchr(url + 6, ':')) ||
	    (size_t)(colon - (url + 6)) >= sizeof(host))
		return -EINVAL;
	memcpy(host, url + 6, (size_t)(colon - (url + 6)));
	host[colon - (url + 6)] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || !ai)
		return -EHOSTUNREACH;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
	} else if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		r = -errno;
		close(fd);
	} else {
		r = fd;
	}
	freeaddrinfo(ai);
	return r;
}

/* Move n bytes in direction out (send) or in (recv) before deadline:
 * 0, -ETIMEDOUT, -ECONNRESET when the peer closed, or -errno. */
static int move_all(int fd, bool out, void *buf, size_t n, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = out ? POLLOUT : POLLIN };
	uint8_t *p = buf;
	ssize_t k;
	int left;

	while (n > 0) {
		left = (int)(deadline > now_ms() ? deadline - now_ms() : 0);
		if (left == 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		k = out ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT)
			: recv(fd, p, n, MSG_DONTWAIT);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void put_be(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static uint64_t get_be(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

#define SP_REQ0 0x30
#define SP_REP0 0x31
#define SP_REQ_ID 0x80000001u

/* Send frame as one REQ message on a fresh connection and read the reply
 * into *reply (malloc'd): 0, -ECONNRESET when the node dropped the
 * connection, -ETIMEDOUT, -EPROTO, or -errno. */
static int exchange(const char *url, const uint8_t *frame, size_t len,
		    uint64_t wait_ms, uint8_t **reply, size_t *reply_len)
{
	const uint8_t mine[8] = { 0, 'S', 'P', 0, 0, SP_REQ0, 0, 0 };
	uint64_t deadline = now_ms() + wait_ms;
	bool ipc = strncmp(url, "ipc://", 6) == 0;
	size_t hlen = ipc ? 9 : 8;
	uint8_t peer[8], head[9 + 4], *body;
	uint64_t n;
	int fd, r;

	fd = dial(url);
	if (fd < 0)
		return fd;
	/* The whole handshake, both ways, before anything else. */
	r = move_all(fd, true, (void *)mine, sizeof(mine), deadline);
	if (r == 0)
		r = move_all(fd, false, peer, sizeof(peer), deadline);
	if (r == 0 && (memcmp(peer, "\0SP\0", 4) != 0 ||
		       get_be(peer + 4, 2) != SP_REP0))
		r = -EPROTO;
	if (r == 0) {
		head[0] = 1;
		put_be(head + hlen - 8, len + 4, 8);
		put_be(head + hlen, SP_REQ_ID, 4);
		r = move_all(fd, true, head, hlen + 4, deadline);
	}
	if (r == 0)
		r = move_all(fd, true, (void *)frame, len, deadline);
	if (r == 0)
		r = move_all(fd, false, head, hlen, deadline);
	if (r == 0) {
		n = get_be(head + hlen - 8, 8);
		if ((ipc && head[0] != 1) || n < 4 || n > 4 + 2 * TP_FRAME_MAX)
			r = -EPROTO;
	}
	if (r == 0) {
		body = malloc((size_t)n);
		if (!body)
			r = -ENOMEM;
		else
			r = move_all(fd, false, body, (size_t)n, deadline);
		if (r == 0 && get_be(body, 4) != SP_REQ_ID)
			r = -EPROTO;
		if (r == 0) {
			*reply = body;
			*reply_len = (size_t)n;
		} else {
			free(body);
		}
	}
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	const char *mode;
	uint8_t *frame = NULL, *reply = NULL;
	size_t len = 0, n = 0, reply_len = 0;
	uint64_t wait_ms = 5000, v;
	int r;

	if (argc == 6 && strcmp(argv[4], "--wait-ms") == 0) {
		if (util_parse_u64(argv[5], &wait_ms) < 0 || wait_ms > 600000) {
			fputs(usage, stderr);
			return 2;
		}
		argc -= 2;
	}
	if (argc < 3 || argc > 4) {
		fputs(usage, stderr);
		return 2;
	}
	mode = argv[2];
	if (argc == 3) {
		r = load_hex(mode, &frame, &len);
	} else if (strcmp(mode, "--garbage") == 0) {
		r = parse_size(argv[3], RAW_MAX, &n);
		if (r == 0)
			r = make_garbage(n, &frame);
		len = n;
	} else if (strcmp(mode, "--oversize") == 0) {
		r = parse_size(argv[3], RAW_MAX, &n);
		if (r == 0 && n < TP_HEADER_SIZE)
			r = -EINVAL;
		if (r == 0 && !(frame = calloc(1, n)))
			r = -ENOMEM;
		if (r == 0)
			header(frame, TP_VERSION, TP_EXEC_LIST,
			       (uint32_t)(n - TP_HEADER_SIZE));
		len = n;
	} else if (strcmp(mode, "--version") == 0) {
		r = util_parse_u64(argv[3], &v);
		if (r == 0 && v > UINT16_MAX)
			r = -EINVAL;
		if (r == 0 && !(frame = malloc(TP_HEADER_SIZE)))
			r = -ENOMEM;
		if (r == 0)
			header(frame, (uint16_t)v, TP_EXEC_LIST, 0);
		len = TP_HEADER_SIZE;
	} else if (strcmp(mode, "--truncated-start") == 0) {
		r = parse_size(argv[3], TP_FRAME_MAX, &n);
		if (r == 0)
			r = make_truncated_start(n, &frame, &len);
	} else {
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "tp-raw: %s: %s\n", mode, strerror(-r));
		fputs(usage, stderr);
		return 2;
	}

	r = exchange(argv[1], frame, len, wait_ms, &reply, &reply_len);
	free(frame);
	if (r == -ECONNRESET || r == -ETIMEDOUT) {
		fprintf(stderr, "tp-raw: no reply: %s\n",
			r == -ECONNRESET ? "the node dropped the connection"
					 : "timed out");
		return 1;
	}
	if (r < 0) {
		fprintf(stderr, "tp-raw: %s: %s\n", argv[1], strerror(-r));
		return 2;
	}
	print_reply(reply + 4, reply_len - 4);
	free(reply);
	return 0;
}
