/* SPDX-License-Identifier: MIT */
/* The SSH session of tether-ssh (ssh.h). */
#include "ssh.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failed(ssh_session s, const struct tssh_opts *o, int r, char *err,
		  size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s:%u: %s%s%s", o->host, o->port ? o->port : 22,
		 what, s ? ": " : "", s ? ssh_get_error(s) : "");
	return r;
}

/* The server's key against the known hosts. */
static int verify(ssh_session s, const struct tssh_opts *o, char *err,
		  size_t errlen)
{
	const char *file = o->known_hosts ? o->known_hosts
					  : "~/.ssh/known_hosts";
	unsigned port = o->port ? o->port : 22;

	switch (ssh_session_is_known_server(s)) {
	case SSH_KNOWN_HOSTS_OK: return 0;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		snprintf(err, errlen,
			 "%s:%u: the host key does not match the one in %s "
			 "(someone may be in between; if the host's key "
			 "changed, remove its line)",
			 o->host, port, file);
		return -EPERM;
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		if (!o->accept_new) {
			snprintf(err, errlen,
				 "%s:%u: the host is not in %s (strict host "
				 "key checking; add its key, or set "
				 "strict_host_key \"accept-new\")",
				 o->host, port, file);
			return -EPERM;
		}
		if (ssh_session_update_known_hosts(s) != SSH_OK)
			return failed(s, o, -EIO, err, errlen,
				      "adding the host to the known hosts");
		return 0;
	default:
		return failed(s, o, -EIO, err, errlen, "checking the host key");
	}
}

int tssh_connect(const struct tssh_opts *o, ssh_session *ret, char *err,
		 size_t errlen)
{
	ssh_session s = ssh_new();
	long timeout = o->timeout_s ? (long)o->timeout_s : 10;
	int port = o->port ? (int)o->port : 22, r;

	if (!s)
		return failed(NULL, o, -ENOMEM, err, errlen, "out of memory");
	if (ssh_options_set(s, SSH_OPTIONS_HOST, o->host) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
	    (o->user && ssh_options_set(s, SSH_OPTIONS_USER, o->user) < 0) ||
	    (o->known_hosts &&
	     ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, o->known_hosts) < 0) ||
	    ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &(int){ 0 }) < 0 ||
	    /* Small requests and replies: Nagle would hold each ~40 ms. */
	    ssh_options_set(s, SSH_OPTIONS_NODELAY, &(int){ 1 }) < 0) {
		r = failed(s, o, -EINVAL, err, errlen, "options");
		ssh_free(s);
		return r;
	}
	if (ssh_connect(s) != SSH_OK) {
		r = failed(s, o, -ECONNREFUSED, err, errlen, "connect");
		ssh_free(s);
		return r;
	}
	r = verify(s, o, err, errlen);
	if (r == 0) {
		int a;

		if (o->key) {
			ssh_key key = NULL;

			if (ssh_pki_import_privkey_file(o->key, NULL, NULL,
							NULL, &key) != SSH_OK) {
				snprintf(err, errlen,
					 "%s:%u: key %s: cannot "
					 "read it (a private key without a "
					 "passphrase)",
					 o->host, (unsigned)port, o->key);
				tssh_close(s);
				return -ENOKEY;
			}
			a = ssh_userauth_publickey(s, NULL, key);
			ssh_key_free(key);
		} else {
			a = ssh_userauth_publickey_auto(s, NULL, NULL);
		}
		if (a != SSH_AUTH_SUCCESS) {
			char what[256];

			snprintf(what, sizeof(what),
				 "authentication%s%s refused",
				 o->user ? " as " : "", o->user ? o->user : "");
			r = failed(s, o, -EACCES, err, errlen, what);
		}
	}
	if (r < 0) {
		tssh_close(s);
		return r;
	}
	*ret = s;
	return 0;
}

int tssh_run(ssh_session s, const char *cmd, const void *in, size_t n,
	     char *out, size_t cap, char *err, size_t errlen)
{
	ssh_channel ch = ssh_channel_new(s);
	const char *p = in;
	size_t got = 0;
	char buf[16384];
	int k, status;

	if (!ch || ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, cmd) != SSH_OK) {
		snprintf(err, errlen, "running '%.60s': %s", cmd,
			 ssh_get_error(s));
		if (ch)
			ssh_channel_free(ch);
		return -EIO;
	}
	while (n) {
		uint32_t step = n > 65536 ? 65536 : (uint32_t)n;

		k = ssh_channel_write(ch, p, step);
		if (k <= 0) {
			snprintf(err, errlen, "sending to '%.60s': %s", cmd,
				 ssh_get_error(s));
			ssh_channel_free(ch);
			return -EIO;
		}
		p += k;
		n -= (size_t)k;
	}
	ssh_channel_send_eof(ch);
	while ((k = ssh_channel_read(ch, buf, sizeof(buf), 0)) > 0) {
		size_t take = cap && got < cap - 1 ? cap - 1 - got : 0;

		if (take > (size_t)k)
			take = (size_t)k;
		memcpy(out + got, buf, take);
		got += take;
	}
	if (cap)
		out[got] = '\0';
	/* What it wrote to stderr, for the error. */
	while ((k = ssh_channel_read(ch, buf, sizeof(buf) - 1, 1)) > 0) {
		buf[k] = '\0';
		snprintf(err, errlen, "%.*s", (int)strcspn(buf, "\n"), buf);
	}
	status = ssh_channel_get_exit_status(ch);
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return status < 0 ? -EIO : status;
}

void tssh_close(ssh_session s)
{
	if (!s)
		return;
	ssh_disconnect(s);
	ssh_free(s);
}
