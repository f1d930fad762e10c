/* SPDX-License-Identifier: MIT */
/* tp-raw: send one raw (usually hostile) frame to a tether node and print
 * the decoded reply, for the integration tests. One connection, one frame
 * (tp_sp_call): an nng REQ socket would redial and resend the frame after
 * the node drops the connection.
 *
 * --connect-only connects and leaves at once, before the SP handshake: the
 * peer that wedges an nng 1.5 ipc listener (nanomsg/nng#1518). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "parse.h"
#include "spcall.h"
#include "spwire.h"

/* A hex file is a test fixture, not a payload generator. */
#define HEX_MAX (4u << 20)
/* Past what any node accepts (it drops the connection over 8 MiB). */
#define RAW_MAX (64u << 20)

static const char usage[] =
	"usage: tp-raw URL (HEXFILE | --garbage N | --oversize N | --version V |\n"
	"              --truncated-start K | --connect-only N) [--wait-ms MS]\n"
	"  HEXFILE             send the bytes written in hex (whitespace ignored)\n"
	"  --garbage N         send N random bytes\n"
	"  --oversize N        send an N-byte frame: a valid EXEC_LIST header, zeros\n"
	"  --version V         send an empty EXEC_LIST frame marked version V\n"
	"  --truncated-start K send a valid EXEC_START less its last K bytes, with\n"
	"                      the header's body length matching what is sent\n"
	"  --connect-only N    connect and close at once, N times 150 ms apart\n"
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
	} else if (strcmp(mode, "--connect-only") == 0) {
		r = parse_size(argv[3], 1000000, &n);
		for (size_t i = 0; r == 0 && i < n; i++) {
			int fd = tp_sp_dial(argv[1]);

			if (fd < 0)
				r = fd;
			else
				close(fd);
			/* Past nng's 100 ms cool-down after a failed
			 * handshake, so each one meets a waiting listener. */
			if (i + 1 < n)
				usleep(150 * 1000);
		}
		if (r == 0)
			return 0;
		fprintf(stderr, "tp-raw: %s: %s\n", argv[1], strerror(-r));
		return 2;
	} else {
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "tp-raw: %s: %s\n", mode, strerror(-r));
		fputs(usage, stderr);
		return 2;
	}

	r = tp_sp_call(argv[1], frame, len, (unsigned)wait_ms, &reply,
		       &reply_len);
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
	print_reply(reply, reply_len);
	free(reply);
	return 0;
}
