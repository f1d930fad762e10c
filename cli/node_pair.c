/* SPDX-License-Identifier: MIT */
/* A node's tls+tcp and pairing (node_pair.h). */
#include "node_pair.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "mkdirs.h"
#include "tlsid.h"

#define ID_LEN	   8
#define SECRET_LEN 32 /* hex digits: 128 bits */

struct node_tls {
	char dir[PATH_MAX];
	char *key_pem, *ca_pem;
	uint8_t ca_der[TP_TLS_DER_MAX];
	int ca_len;
	nng_tls_config *cfg;
};

int node_tls_open(const char *root, struct node_tls **ret, char *err,
		  size_t errlen)
{
	struct node_tls *t = calloc(1, sizeof(*t));
	int r;

	if (!t)
		return -ENOMEM;
	snprintf(t->dir, sizeof(t->dir), "%s/.tls", root);
	r = tp_tls_identity(t->dir, 1, &t->key_pem, &t->ca_pem, err, errlen);
	if (r == 0) {
		t->ca_len = tp_tls_cert_der(t->ca_pem, t->ca_der,
					    sizeof(t->ca_der));
		r = t->ca_len > 0 ? 0 : -EINVAL;
		if (r < 0)
			snprintf(err, errlen, "%s/ca.pem: not a certificate",
				 t->dir);
	}
	if (r == 0 &&
	    (nng_tls_config_alloc(&t->cfg, NNG_TLS_MODE_SERVER) != 0 ||
	     nng_tls_config_own_cert(t->cfg, t->ca_pem, t->key_pem, NULL) !=
		     0 ||
	     nng_tls_config_ca_chain(t->cfg, t->ca_pem, NULL) != 0 ||
	     nng_tls_config_auth_mode(t->cfg, NNG_TLS_AUTH_MODE_OPTIONAL) !=
		     0)) {
		snprintf(err, errlen, "%s: the TLS configuration failed",
			 t->dir);
		r = -EINVAL;
	}
	if (r < 0) {
		node_tls_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void *node_tls_config(struct node_tls *t)
{
	return t->cfg;
}

void node_tls_free(struct node_tls *t)
{
	if (!t)
		return;
	if (t->cfg)
		nng_tls_config_free(t->cfg);
	free(t->key_pem);
	free(t->ca_pem);
	free(t);
}

/* Spend token id: its secret into secret (SECRET_LEN + 1), 0; -ENOENT
 * when there is none, -ETIME when it expired. Renamed away first, so two
 * requests never both spend it. */
static int spend(const struct node_tls *t, const struct tp_bytes *id,
		 char *secret)
{
	char path[PATH_MAX + 80], used[PATH_MAX + 96], buf[128];
	long long expiry = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/tokens/%.*s", t->dir, (int)id->len,
		 (const char *)id->ptr);
	snprintf(used, sizeof(used), "%s.spent", path);
	if (rename(path, used) < 0)
		return -ENOENT;
	fd = open(used, O_RDONLY | O_CLOEXEC);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (fd >= 0)
		close(fd);
	unlink(used);
	if (n <= 0)
		return -ENOENT;
	buf[n] = '\0';
	if (sscanf(buf, "%32s %lld", secret, &expiry) != 2 ||
	    strlen(secret) != SECRET_LEN)
		return -ENOENT;
	return (long long)time(NULL) > expiry ? -ETIME : 0;
}

void node_pair_handle(struct tp_req *req, const struct tp_msg *msg,
		      struct node_tls *t)
{
	const struct tp_pair *p = &msg->pair;
	uint8_t mac[TP_TLS_MAC_SIZE], cert[TP_TLS_DER_MAX];
	char secret[SECRET_LEN + 1];
	struct tp_msg rep = { .type = TP_PAIRED };
	int r, n;

	if (!t) {
		tp_req_reply_error(req, EPROTO,
				   "pairing is for a node on tls+tcp");
		return;
	}
	r = spend(t, &p->token, secret);
	if (r < 0) {
		log_warn("node: a pairing with %s token refused",
			 r == -ETIME ? "an expired" : "an unknown");
		tp_req_reply_error(req, EACCES,
				   "pairing refused: %s token (make a new one "
				   "with tether node pair)",
				   r == -ETIME ? "an expired" : "an unknown");
		return;
	}
	if (tp_tls_mac((const uint8_t *)secret, SECRET_LEN, p->key.ptr,
		       p->key.len, NULL, 0, mac) < 0 ||
	    !tp_tls_mac_eq(mac, p->mac.ptr)) {
		log_warn("node: a pairing whose proof of its token failed");
		tp_req_reply_error(req, EACCES,
				   "pairing refused: the proof of the token "
				   "does not match (the token is spent)");
		return;
	}
	n = tp_tls_issue(t->key_pem, t->ca_pem, p->key.ptr, p->key.len, cert,
			 sizeof(cert));
	if (n < 0) {
		tp_req_reply_error(req, EINVAL,
				   "pairing refused: not a public key");
		return;
	}
	if (tp_tls_mac((const uint8_t *)secret, SECRET_LEN, t->ca_der,
		       (size_t)t->ca_len, cert, (size_t)n, mac) < 0) {
		tp_req_reply_error(req, EIO, "pairing: the proof failed");
		return;
	}
	rep.paired.ca = (struct tp_bytes){ t->ca_der, (uint32_t)t->ca_len };
	rep.paired.cert = (struct tp_bytes){ cert, (uint32_t)n };
	rep.paired.mac = (struct tp_bytes){ mac, TP_TLS_MAC_SIZE };
	log_info("node: paired a client (token %.*s)", (int)p->token.len,
		 (const char *)p->token.ptr);
	tp_req_reply(req, &rep);
}

static const char pair_usage[] =
	"usage: tether node pair [--root DIR] [--ttl S]\n"
	"  print a one-time token that pairs one client with the node at DIR\n"
	"  (its tls+tcp listener): on the client, tether pair --node URL\n"
	"  --token TOKEN. It expires after S seconds (600).\n";

int cli_node_pair(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "ttl", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char abc[] = "abcdefghijkmnpqrstuvwxyz23456789";
	const char *root = ".";
	char dir[PATH_MAX], path[PATH_MAX + 32], id[ID_LEN + 1];
	char secret[SECRET_LEN + 1], line[128], err[512];
	char *key = NULL, *ca = NULL;
	uint8_t rnd[ID_LEN + SECRET_LEN / 2];
	long ttl = NODE_PAIR_TTL_S;
	int c, fd, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': root = optarg; break;
		case 't':
			ttl = atol(optarg);
			if (ttl <= 0 || ttl > 86400 * 30) {
				log_error("--ttl %s: seconds, 1 to 2592000",
					  optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': fputs(pair_usage, stdout); return 0;
		default: fputs(pair_usage, stderr); return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc || !realpath(root, dir)) {
		if (optind != argc)
			fputs(pair_usage, stderr);
		else
			log_error_errno(-errno, "node root %s", root);
		return optind != argc ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
	}
	/* The authority now, so the node and its clients agree on it. */
	snprintf(path, sizeof(path), "%s/.tls", dir);
	r = tp_tls_identity(path, 1, &key, &ca, err, sizeof(err));
	free(key);
	free(ca);
	if (r < 0) {
		log_error("node pair: %s", err);
		return CLI_EXIT_FAILURE;
	}
	snprintf(path, sizeof(path), "%s/.tls/tokens", dir);
	if (util_mkdirs(path, 0700) < 0 || tp_tls_random(rnd, sizeof(rnd))) {
		log_error_errno(-errno, "node pair: %s", path);
		return CLI_EXIT_FAILURE;
	}
	for (int i = 0; i < ID_LEN; i++)
		id[i] = abc[rnd[i] % (sizeof(abc) - 1)];
	id[ID_LEN] = '\0';
	for (int i = 0; i < SECRET_LEN / 2; i++)
		snprintf(secret + 2 * i, 3, "%02x", rnd[ID_LEN + i]);
	snprintf(path, sizeof(path), "%s/.tls/tokens/%s", dir, id);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	snprintf(line, sizeof(line), "%s %lld\n", secret,
		 (long long)time(NULL) + ttl);
	if (fd < 0 || write(fd, line, strlen(line)) != (ssize_t)strlen(line) ||
	    close(fd) < 0) {
		log_error_errno(-errno, "node pair: %s", path);
		return CLI_EXIT_FAILURE;
	}
	printf("%s.%s\n", id, secret);
	return 0;
}
