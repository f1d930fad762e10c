/* SPDX-License-Identifier: MIT */
/* The client side of tls+tcp (tlsclient.h). */
#include "tlsclient.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "tlsid.h"

static atomic_bool pairing;

void tp_tls_pairing(bool on)
{
	atomic_store(&pairing, on);
}

int tp_tls_home(char *out, size_t cap)
{
	const char *t = getenv("TETHER_TLS_HOME"),
		   *x = getenv("XDG_CONFIG_HOME");
	const char *h = getenv("HOME");
	int n;

	if (t && *t)
		n = snprintf(out, cap, "%s", t);
	else if (x && x[0] == '/')
		n = snprintf(out, cap, "%s/tether/tls", x);
	else if (h && h[0] == '/')
		n = snprintf(out, cap, "%s/.config/tether/tls", h);
	else
		return -ENOENT;
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int tp_tls_node_dir(const char *url, char *out, size_t cap)
{
	char home[4096], name[256];
	size_t i, k = 0;
	int n;

	if (strncmp(url, "tls+tcp://", 10) != 0)
		return -EINVAL;
	for (i = 10; url[i] && k < sizeof(name) - 1; i++) {
		char c = url[i];

		name[k++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					    (c >= '0' && c <= '9') ||
					    c == '.' || c == '-'
				    ? c
				    : '_';
	}
	name[k] = '\0';
	n = tp_tls_home(home, sizeof(home));
	if (n < 0)
		return n;
	n = snprintf(out, cap, "%s/nodes/%s", home, name);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static char *slurp(const char *dir, const char *file)
{
	char path[8448];
	_cleanup_close_ int fd = -1;
	char *buf;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	buf = malloc(16384);
	n = buf ? read(fd, buf, 16383) : -1;
	if (n <= 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

int tp_tls_client_config(const char *url, void **ret, bool *paired)
{
	char dir[4200], home[4096];
	char *ca = NULL, *cert = NULL, *key = NULL;
	nng_tls_config *cfg;
	int r = 0;

	*paired = false;
	if (nng_tls_config_alloc(&cfg, NNG_TLS_MODE_CLIENT) != 0)
		return -ENOMEM;
	if (!atomic_load(&pairing) &&
	    tp_tls_node_dir(url, dir, sizeof(dir)) == 0 &&
	    tp_tls_home(home, sizeof(home)) == 0) {
		ca = slurp(dir, "ca.pem");
		cert = slurp(dir, "cert.pem");
		key = slurp(home, "key.pem");
	}
	if (ca && cert && key) {
		if (nng_tls_config_ca_chain(cfg, ca, NULL) != 0 ||
		    nng_tls_config_own_cert(cfg, cert, key, NULL) != 0 ||
		    nng_tls_config_server_name(cfg, TP_TLS_NODE_CN) != 0 ||
		    nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED) !=
			    0)
			r = -EINVAL;
		*paired = r == 0;
	} else if (nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE) != 0) {
		r = -EINVAL;
	}
	free(ca);
	free(cert);
	free(key);
	if (r < 0) {
		nng_tls_config_free(cfg);
		return r;
	}
	*ret = cfg;
	return 0;
}
