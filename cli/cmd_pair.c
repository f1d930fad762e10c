/* SPDX-License-Identifier: MIT */
/* tether pair: pair this client with a node on tls+tcp:// using the
 * one-time token tether node pair printed there (docs/protocol.md,
 * "Pairing"). The token's secret stays here: the request carries this
 * client's public key and an HMAC of it under the secret; the node's
 * answer, its authority and a certificate for the key, carries its own
 * HMAC, so a node that does not know the token cannot be pinned. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "codec.h"
#include "link.h"
#include "log.h"
#include "mkdirs.h"
#include "tlsclient.h"
#include "tlsid.h"

static const char usage[] =
	"usage: tether pair --node tls+tcp://HOST:PORT --token TOKEN\n"
	"  pair this client with the node (TOKEN from tether node pair\n"
	"  there): its authority is pinned, and this client's key gets a\n"
	"  certificate of it; later links to URL show that and trust only\n"
	"  the node's authority.\n";

/* text to dir/file, 0600. */
static int save(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	FILE *f;
	int fd, r = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (fputs(text, f) < 0)
		r = -EIO;
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	return r;
}

int cli_pair(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "token", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *url = NULL, *token = NULL, *dot;
	char home[PATH_MAX], dir[PATH_MAX + 300], err[TP_ERRMSG_MAX + 64] = "";
	char *key = NULL, *ca_pem = NULL, *cert_pem = NULL;
	uint8_t pub[TP_TLS_DER_MAX], mac[TP_TLS_MAC_SIZE];
	struct tp_link *link = NULL;
	struct tp_chan *ch = NULL;
	struct tp_msg req = { .type = TP_PAIR }, rep;
	int c, n, r, code = CLI_EXIT_FAILURE;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n': url = optarg; break;
		case 't': token = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return CLI_EXIT_USAGE;
		}
	}
	if (!url || !token || optind != argc) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	dot = strchr(token, '.');
	if (strncmp(url, "tls+tcp://", 10) != 0 || !dot || dot == token ||
	    strlen(dot + 1) != 32) {
		log_error("pair: %s", strncmp(url, "tls+tcp://", 10) != 0
					      ? "the node's url must be "
						"tls+tcp://HOST:PORT"
					      : "the token is ID.SECRET, as "
						"tether node pair printed it");
		return CLI_EXIT_USAGE;
	}
	r = tp_tls_home(home, sizeof(home));
	if (r == 0)
		r = tp_tls_identity(home, 0, &key, NULL, err, sizeof(err));
	if (r < 0) {
		log_error("pair: %s", err[0] ? err : "no HOME for the key");
		return CLI_EXIT_FAILURE;
	}
	n = tp_tls_pubkey_der(key, pub, sizeof(pub));
	free(key);
	if (n < 0 || tp_tls_mac((const uint8_t *)dot + 1, 32, pub, (size_t)n,
				NULL, 0, mac) < 0) {
		log_error("pair: %s/key.pem: not a key", home);
		return CLI_EXIT_FAILURE;
	}
	req.pair.token = (struct tp_bytes){ (const uint8_t *)token,
					    (uint32_t)(dot - token) };
	req.pair.key = (struct tp_bytes){ pub, (uint32_t)n };
	req.pair.mac = (struct tp_bytes){ mac, sizeof(mac) };
	tp_tls_pairing(true);
	r = tp_link_open(url, &link);
	if (r == 0)
		r = tp_chan_open(link, &ch);
	if (r == 0)
		r = tp_chan_call(ch, &req, &rep, 30000, err, sizeof(err));
	if (r < 0) {
		bool lost = r == -ECONNREFUSED || r == -ETIMEDOUT ||
			    r == -ECONNRESET || r == -EHOSTUNREACH;

		log_error("pair: %s%s: %s",
			  lost ? "sandbox connection failed: " : "", url,
			  err[0] ? err : strerror(-r));
		goto out;
	}
	if (rep.type != TP_PAIRED ||
	    tp_tls_mac((const uint8_t *)dot + 1, 32, rep.paired.ca.ptr,
		       rep.paired.ca.len, rep.paired.cert.ptr,
		       rep.paired.cert.len, mac) < 0 ||
	    !tp_tls_mac_eq(mac, rep.paired.mac.ptr)) {
		log_error("pair: %s: the answer does not prove the token: not "
			  "the node that printed it? Nothing was pinned",
			  url);
		goto out;
	}
	ca_pem = tp_tls_cert_pem(rep.paired.ca.ptr, rep.paired.ca.len);
	cert_pem = tp_tls_cert_pem(rep.paired.cert.ptr, rep.paired.cert.len);
	r = ca_pem && cert_pem ? tp_tls_node_dir(url, dir, sizeof(dir))
			       : -ENOMEM;
	if (r == 0)
		r = util_mkdirs(dir, 0700);
	if (r == 0)
		r = save(dir, "cert.pem", cert_pem);
	if (r == 0)
		r = save(dir, "ca.pem", ca_pem);
	if (r < 0) {
		log_error_errno(r, "pair: %s", dir);
		goto out;
	}
	printf("tether: paired with %s (its authority pinned in %s)\n", url,
	       dir);
	code = 0;
out:
	free(ca_pem);
	free(cert_pem);
	tp_chan_close(ch);
	tp_link_close(link);
	return code;
}
