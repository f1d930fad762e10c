/* SPDX-License-Identifier: MIT */
/* Seed corpus for fuzz-http: answers as Docker and Podman give them (a
 * length, chunked, to the close, an upgrade, an error) and an exec stream.
 * Usage: gen-http-corpus DIR */
#include <stdio.h>
#include <string.h>

#include "docker_api.h"

static const char *const seeds[] = {
	("HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: "
	 "application/json\r\nContent-Length: 15\r\n\r\n{\"Id\":\"abc123\"}"),
	("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	 "Transfer-Encoding: chunked\r\n\r\n6\r\n{\"Id\":\r\n9;x=y\r\n\"abc123\"}"
	 "\r\n0\r\n\r\n"),
	"HTTP/1.0 200 OK\r\n\r\nOK",
	("HTTP/1.1 101 UPGRADED\r\nContent-Type: "
	 "application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n"
	 "Upgrade: tcp\r\n\r\n\x01\0\0\0\0\0\0\x03out"),
	("HTTP/1.1 404 Not Found\r\nContent-Length: 58\r\n\r\n{\"cause\":"
	 "\"no such container\",\"message\":\"no such x\",\"response\":404}"),
	"HTTP/1.1 204 No Content\r\n\r\n",
};

int main(int argc, char **argv)
{
	static const unsigned char stream[] = { 1, 0,	0,   0, 0,  0, 0,
						2, 'h', 'i', 2, 0,  0, 0,
						0, 0,	0,   1, '!' };
	char path[4096];
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: gen-http-corpus DIR\n");
		return 2;
	}
	for (size_t i = 0; i <= sizeof(seeds) / sizeof(seeds[0]); i++) {
		const void *p = i < sizeof(seeds) / sizeof(seeds[0])
					? (const void *)seeds[i]
					: stream;
		size_t n = i < sizeof(seeds) / sizeof(seeds[0])
				   ? strlen(seeds[i])
				   : sizeof(stream);

		snprintf(path, sizeof(path), "%s/seed-%zu", argv[1], i);
		f = fopen(path, "wb");
		if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
			perror(path);
			return 1;
		}
	}
	return 0;
}
