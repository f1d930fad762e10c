/* SPDX-License-Identifier: MIT */
/* tether-ssh: the ssh backend's proxy (exec/backend_ssh.c starts it). It
 * logs in to the host once, makes sure this tether binary is there
 * (uploaded, named by its content hash, when the remote lacks it or has
 * another build), starts a tether node on the remote listening on a unix
 * socket there, and then relays each connection to its own socket (the
 * backend's url) to that node through the SSH session. It stops when
 * nothing has used it for --idle seconds, or when the session is lost.
 * A program of its own because libssh cannot be linked into the static
 * tether. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "log.h"
#include "ssh.h"
#include "sshrelay.h"

#define START_MS 15000 /* the remote node answers within this */

struct opts {
	struct tssh_opts ssh;
	const char *listen;	/* the local socket */
	const char *remote_dir; /* NULL: $HOME/.cache/tether on the remote */
	const char *binary;	/* this tether, to run there */
	unsigned idle_s;
};

static const char usage[] =
	"usage: tether-ssh --listen SOCKET --host HOST --tether BINARY\n"
	"                  [--port N] [--user U] [--key FILE]\n"
	"                  [--known-hosts FILE] [--accept-new] [--timeout S]\n"
	"                  [--remote-dir DIR] [--idle S]\n";

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "user", required_argument, NULL, 'u' },
		{ "key", required_argument, NULL, 'k' },
		{ "known-hosts", required_argument, NULL, 'K' },
		{ "accept-new", no_argument, NULL, 'a' },
		{ "timeout", required_argument, NULL, 't' },
		{ "remote-dir", required_argument, NULL, 'd' },
		{ "tether", required_argument, NULL, 'b' },
		{ "idle", required_argument, NULL, 'i' },
		{ 0 },
	};
	int c;

	o->idle_s = 600;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'l': o->listen = optarg; break;
		case 'H': o->ssh.host = optarg; break;
		case 'p': o->ssh.port = (unsigned)atoi(optarg); break;
		case 'u': o->ssh.user = optarg; break;
		case 'k': o->ssh.key = optarg; break;
		case 'K': o->ssh.known_hosts = optarg; break;
		case 'a': o->ssh.accept_new = true; break;
		case 't': o->ssh.timeout_s = (unsigned)atoi(optarg); break;
		case 'd': o->remote_dir = optarg; break;
		case 'b': o->binary = optarg; break;
		case 'i': o->idle_s = (unsigned)atoi(optarg); break;
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	if (!o->listen || !o->ssh.host || !o->binary || optind != argc) {
		fputs(usage, stderr);
		return -EINVAL;
	}
	return 0;
}

/* A path for a remote shell's single quotes. */
static bool quotable(const char *s)
{
	return !strchr(s, '\'') && !strchr(s, '\n');
}

/* The remote directory, made and absolute, into dir. */
static int remote_dir(ssh_session s, const struct opts *o, char *dir,
		      size_t cap)
{
	char cmd[PATH_MAX + 128], err[512] = "";
	int r;

	if (o->remote_dir && !quotable(o->remote_dir)) {
		log_error("sandbox connection failed: remote dir %s: a quote "
			  "in its name",
			  o->remote_dir);
		return -EINVAL;
	}
	if (o->remote_dir)
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s' && cd '%s' && pwd",
			 o->remote_dir, o->remote_dir);
	else
		snprintf(cmd, sizeof(cmd),
			 "mkdir -p \"$HOME/.cache/tether\" && "
			 "cd \"$HOME/.cache/tether\" && pwd");
	r = tssh_run(s, cmd, NULL, 0, dir, cap, err, sizeof(err));
	dir[strcspn(dir, "\n")] = '\0';
	if (r != 0 || dir[0] != '/' || !quotable(dir)) {
		log_error(
			"sandbox connection failed: %s: the remote directory: "
			"%s",
			o->ssh.host, r < 0 || err[0] ? err : "no such path");
		return -EIO;
	}
	return 0;
}

/* This tether on the remote, as DIR/tether-HASH: uploaded unless there. */
static int ensure_binary(ssh_session s, const struct opts *o, const char *dir,
			 char *path, size_t cap)
{
	char cmd[5 * PATH_MAX + 256], err[512] = "", out[16];
	struct stat st;
	void *map;
	int fd, r;

	fd = open(o->binary, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("tether-ssh: %s: %s", o->binary, strerror(errno));
		return -errno;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		log_error("tether-ssh: %s: %s", o->binary, strerror(errno));
		return -errno;
	}
	snprintf(path, cap, "%s/tether-%016llx", dir,
		 (unsigned long long)XXH3_64bits(map, (size_t)st.st_size));
	snprintf(cmd, sizeof(cmd), "test -x '%s' && echo yes", path);
	r = tssh_run(s, cmd, NULL, 0, out, sizeof(out), err, sizeof(err));
	if (r == 0 && strncmp(out, "yes", 3) == 0) {
		munmap(map, (size_t)st.st_size);
		return 0;
	}
	snprintf(cmd, sizeof(cmd),
		 "cat >'%s.up' && chmod 755 '%s.up' && mv -f '%s.up' '%s'",
		 path, path, path, path);
	r = tssh_run(s, cmd, map, (size_t)st.st_size, NULL, 0, err,
		     sizeof(err));
	munmap(map, (size_t)st.st_size);
	if (r != 0) {
		log_error("sandbox connection failed: %s: uploading tether to "
			  "%s: %s",
			  o->ssh.host, path, err[0] ? err : "failed");
		return -EIO;
	}
	log_info("uploaded tether (%lld bytes) to %s:%s", (long long)st.st_size,
		 o->ssh.host, path);
	return 0;
}

/* The remote node answering at sock: started unless it does. */
/* "env NAME='value' ..." of the sanitizer options set here, or "". */
static const char *sanitizer_env(char *out, size_t cap)
{
	static const char *const names[] = { "ASAN_OPTIONS", "LSAN_OPTIONS",
					     "UBSAN_OPTIONS" };
	size_t n = 0;

	out[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = getenv(names[i]);
		int k;

		if (!v || !*v || !quotable(v))
			continue;
		k = snprintf(out + n, cap - n, "%s%s='%s'", n ? " " : "env ",
			     names[i], v);
		if (k < 0 || (size_t)k >= cap - n) {
			out[0] = '\0';
			return out;
		}
		n += (size_t)k;
	}
	return out;
}

static int ensure_node(ssh_session s, const struct opts *o, const char *dir,
		       const char *bin, const char *sock)
{
	char cmd[6 * PATH_MAX + 2048], err[512] = "", env[1536];
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	time_t until;
	int r;

	if (tssh_probe(s, sock) == 0)
		return 0;
	/* --view where the remote has FUSE; its own idle exit. A
	 * sanitizer build's options go along (the suites' suppressions). */
	snprintf(
		cmd, sizeof(cmd),
		"mkdir -p '%s/root' && cd / && v= && { [ -c /dev/fuse ] && v=--view; }; "
		"%s setsid '%s' node --listen 'ipc://%s' --root '%s/root' $v "
		"--idle-exit %u >>'%s/node.log' 2>&1 </dev/null &",
		dir, sanitizer_env(env, sizeof(env)), bin, sock, dir,
		o->idle_s ? o->idle_s : 600, dir);
	r = tssh_run(s, cmd, NULL, 0, NULL, 0, err, sizeof(err));
	if (r != 0) {
		log_error("sandbox connection failed: %s: starting the remote "
			  "node: %s",
			  o->ssh.host, err[0] ? err : "failed");
		return -EIO;
	}
	until = time(NULL) + START_MS / 1000;
	while (time(NULL) < until) {
		if (tssh_probe(s, sock) == 0)
			return 0;
		nanosleep(&pause, NULL);
	}
	snprintf(cmd, sizeof(cmd), "tail -n 1 '%s/node.log'", dir);
	err[0] = '\0';
	(void)tssh_run(s, cmd, NULL, 0, err, sizeof(err), cmd, sizeof(cmd));
	err[strcspn(err, "\n")] = '\0';
	log_error("sandbox connection failed: %s: the remote node did not "
		  "start: %s",
		  o->ssh.host, err);
	return -ETIMEDOUT;
}

static int listen_on(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 64) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct opts o = { 0 };
	char dir[PATH_MAX], bin[PATH_MAX + 32], sock[PATH_MAX + 32];
	char err[1024];
	ssh_session s = NULL;
	struct stat st, st2;
	int r, lfd;

	log_init_from_env();
	umask(077);
	if (parse(argc, argv, &o) < 0)
		return 2;
	r = tssh_connect(&o.ssh, &s, err, sizeof(err));
	if (r < 0) {
		log_error("sandbox connection failed: SSH %s", err);
		return 1;
	}
	log_info("SSH backend connected to %s", o.ssh.host);
	if (remote_dir(s, &o, dir, sizeof(dir)) < 0 ||
	    ensure_binary(s, &o, dir, bin, sizeof(bin)) < 0)
		goto fail;
	/* One node per build: its socket is named by the binary's hash. */
	snprintf(sock, sizeof(sock), "%s/node-%s.sock", dir,
		 strrchr(bin, '-') + 1);
	if (ensure_node(s, &o, dir, bin, sock) < 0)
		goto fail;
	lfd = listen_on(o.listen);
	if (lfd < 0) {
		log_error("tether-ssh: %s: %s", o.listen, strerror(-lfd));
		goto fail;
	}
	log_info("tether-ssh: relaying %s to %s:%s", o.listen, o.ssh.host,
		 sock);
	if (stat(o.listen, &st) < 0) {
		log_error("tether-ssh: %s: %s", o.listen, strerror(errno));
		goto fail;
	}
	r = tssh_relay(s, lfd, o.listen, sock, o.idle_s);
	if (stat(o.listen, &st2) == 0 && st.st_ino == st2.st_ino &&
	    st.st_dev == st2.st_dev)
		(void)unlink(o.listen); /* ours, not a successor's */
	close(lfd);
	tssh_close(s);
	return r < 0 ? 1 : 0;
fail:
	tssh_close(s);
	return 1;
}
