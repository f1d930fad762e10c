/* SPDX-License-Identifier: MIT */
/* Backend "ssh": commands run on a tether node on an SSH host, reached
 * through tether-ssh (cli/tether_ssh.c), a proxy of this user that tether
 * starts when nothing answers at its socket: it logs in once (key
 * authentication, the host's key checked against known_hosts), puts this
 * tether binary on the host when it lacks it, starts the node there, and
 * carries each connection to it through the SSH session; no port is
 * opened on the host. From there on this is the node backend: the
 * workspace is that node's view, and limits are its sandbox's. */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "daemon.h"
#include "local_node.h"
#include "log.h"
#include "mkdirs.h"
#include "selfexe.h"

#define START_MS 30000 /* login, upload, the remote node: up by then */

int exec_ssh_url(const struct exec_ssh_conf *c, char *url, size_t cap,
		 char *err, size_t errlen)
{
	char home[PATH_MAX], local[PATH_MAX + 16], id[PATH_MAX * 2];
	int r = exec_local_node_paths(home, sizeof(home), local, sizeof(local),
				      err, errlen);

	if (r < 0)
		return r;
	snprintf(id, sizeof(id), "%s@%s:%u|%s|%s|%s", c->user ? c->user : "",
		 c->host, c->port ? c->port : 22, c->key ? c->key : "",
		 c->remote_dir ? c->remote_dir : "",
		 c->known_hosts ? c->known_hosts : "");
	r = snprintf(url, cap, "ipc://%s/ssh/%016llx.sock", home,
		     (unsigned long long)XXH3_64bits(id, strlen(id)));
	if (r < 0 || (size_t)r >= cap || (size_t)r - 6 >= 108) {
		snprintf(err, errlen,
			 "the ssh proxy's socket under %s is too long (set "
			 "TETHER_SANDBOX_HOME to a shorter directory)",
			 home);
		return -ENAMETOOLONG;
	}
	return 0;
}

int exec_ssh_proxy_ensure(const struct exec_ssh_conf *c, const char *url,
			  const char *name)
{
	const char *sock = url + strlen("ipc://");
	const char *idle = getenv("TETHER_SANDBOX_IDLE");
	char exe[PATH_MAX], self[PATH_MAX], dir[PATH_MAX], log[PATH_MAX];
	char lock[PATH_MAX], port[16], timeout[16], err[1024];
	char *argv[32];
	size_t n = 0;
	int r;

	if (!c || !c->host) {
		log_error("backend %s: ssh needs a \"host\"", name);
		return -EINVAL;
	}
	r = util_sibling_exe("tether-ssh", exe, sizeof(exe));
	if (r >= 0)
		r = util_self_exe(self, sizeof(self));
	if (r < 0) {
		log_error("sandbox connection failed: %s: tether-ssh, the ssh "
			  "backend's proxy, is not next to tether (built "
			  "without libssh?)",
			  c->host);
		return r;
	}
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(sock, '/') - sock),
		 sock);
	r = util_mkdirs(dir, 0700);
	if (r < 0)
		return log_error_errno(r, "%s", dir);
	snprintf(log, sizeof(log), "%.*s.log", (int)(strlen(sock) - 5), sock);
	snprintf(lock, sizeof(lock), "%.*s.lock", (int)(strlen(sock) - 5),
		 sock);
	snprintf(port, sizeof(port), "%u", c->port ? c->port : 22);
	snprintf(timeout, sizeof(timeout), "%u",
		 c->timeout_s ? c->timeout_s : 10);
	argv[n++] = "tether-ssh";
	argv[n++] = "--listen";
	argv[n++] = (char *)sock;
	argv[n++] = "--host";
	argv[n++] = c->host;
	argv[n++] = "--port";
	argv[n++] = port;
	argv[n++] = "--timeout";
	argv[n++] = timeout;
	argv[n++] = "--tether";
	argv[n++] = self;
	if (c->user) {
		argv[n++] = "--user";
		argv[n++] = c->user;
	}
	if (c->key) {
		argv[n++] = "--key";
		argv[n++] = c->key;
	}
	if (c->known_hosts) {
		argv[n++] = "--known-hosts";
		argv[n++] = c->known_hosts;
	}
	if (c->remote_dir) {
		argv[n++] = "--remote-dir";
		argv[n++] = c->remote_dir;
	}
	if (c->accept_new)
		argv[n++] = "--accept-new";
	if (idle && *idle) {
		argv[n++] = "--idle";
		argv[n++] = (char *)idle;
	}
	argv[n] = NULL;
	{
		char what[300];
		const struct exec_daemon d = {
			.what = what,
			.exe = exe,
			.argv = argv,
			.url = url,
			.log = log,
			.lock = lock,
			.start_ms = START_MS,
		};

		snprintf(what, sizeof(what), "the ssh proxy to %s", c->host);
		r = exec_daemon_ensure(&d, err, sizeof(err));
	}
	if (r < 0) {
		/* The proxy's own line says "sandbox connection failed". */
		const char *m = strstr(err, "sandbox connection failed: ");

		log_error("%s", m ? m : err);
		return r;
	}
	log_info("SSH backend connected to %s", c->host);
	return 0;
}

static int ssh_prepare(struct exec_backend *b)
{
	int r = exec_ssh_proxy_ensure(b->ssh, b->url, b->name);

	return r < 0 ? r : exec_node_prepare(b);
}

const struct exec_backend_ops exec_backend_ssh_ops = {
	.type = "ssh",
	.caps = EXEC_CAP_TTY | EXEC_CAP_DETACH | EXEC_CAP_REMOTE |
		EXEC_CAP_SANDBOX,
	.prepare = ssh_prepare,
	.run = exec_node_run,
	.release = exec_node_release,
	.health = exec_node_health,
};
