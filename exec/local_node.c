/* SPDX-License-Identifier: MIT */
/* The sandbox backend's node on this host (local_node.h). */
#include "local_node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "mkdirs.h"
#include "spcall.h"

#define START_MS 15000 /* a node that does not answer by then failed */

static int fail(char *err, size_t errlen, int r, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return r;
}

int exec_local_node_paths(char *home, size_t home_cap, char *url,
			  size_t url_cap, char *err, size_t errlen)
{
	const char *h = getenv("TETHER_SANDBOX_HOME");
	const char *x = getenv("XDG_STATE_HOME"), *u = getenv("HOME");
	struct sockaddr_un a;
	int n;

	if (h && *h)
		n = snprintf(home, home_cap, "%s", h);
	else if (x && x[0] == '/')
		n = snprintf(home, home_cap, "%s/tether/sandbox", x);
	else if (u && u[0] == '/')
		n = snprintf(home, home_cap, "%s/.local/state/tether/sandbox",
			     u);
	else
		return fail(err, errlen, -ENOENT,
			    "the sandbox's node: no HOME to keep it in (set "
			    "TETHER_SANDBOX_HOME)");
	if (home[0] != '/')
		return fail(err, errlen, -EINVAL,
			    "TETHER_SANDBOX_HOME: not an absolute path");
	if (n < 0 || (size_t)n >= home_cap ||
	    strlen(home) + strlen("/node.sock") >= sizeof(a.sun_path)) {
		snprintf(err, errlen,
			 "the sandbox's node: %s/node.sock is too long for a "
			 "unix socket (set TETHER_SANDBOX_HOME to a shorter "
			 "directory)",
			 home);
		return -ENAMETOOLONG;
	}
	n = snprintf(url, url_cap, "ipc://%s/node.sock", home);
	return n < 0 || (size_t)n >= url_cap
		       ? fail(err, errlen, -ENAMETOOLONG, "url too long")
		       : 0;
}

/* The node, detached from us: a session of its own, its output to the
 * log. The grandchild is the node; the child only forks it and says its
 * pid. 0 with *node, or -errno. */
static int spawn(const char *home, const char *url, pid_t *node)
{
	char root[PATH_MAX], log[PATH_MAX], idle[32];
	const char *env = getenv("TETHER_SANDBOX_IDLE");
	int st, p[2];
	pid_t pid;

	snprintf(root, sizeof(root), "%s/root", home);
	snprintf(log, sizeof(log), "%s/node.log", home);
	snprintf(idle, sizeof(idle), "%s", env && *env ? env : "600");
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		char *argv[] = { "tether", "node", "--listen", (char *)url,
				 "--root", root,   "--view",   "--idle-exit",
				 idle,	   NULL };
		pid_t g;
		int fd;

		if (setsid() < 0)
			_exit(0);
		g = fork();
		if (g != 0) {
			(void)!write(p[1], &g, sizeof(g));
			_exit(0);
		}
		fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
			_exit(126);
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], node, sizeof(*node)) != sizeof(*node) || *node <= 0)
		*node = 0;
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return *node ? 0 : -ECHILD;
}

/* The last line the node wrote to its log from offset on, into err. */
static void log_tail(const char *home, off_t from, char *err, size_t errlen)
{
	char path[PATH_MAX], buf[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *end, *line;

	snprintf(path, sizeof(path), "%s/node.log", home);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || lseek(fd, from, SEEK_SET) < 0 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		snprintf(err, errlen,
			 "the sandbox's node did not start (see %s)", path);
		return;
	}
	buf[n] = '\0';
	end = buf + strlen(buf);
	while (end > buf && end[-1] == '\n')
		*--end = '\0';
	line = strrchr(buf, '\n');
	snprintf(err, errlen, "the sandbox's node did not start: %s",
		 line ? line + 1 : buf);
}

int exec_local_node_ensure(const char *home, const char *url, char *err,
			   size_t errlen)
{
	char path[PATH_MAX];
	_cleanup_close_ int lock = -1;
	struct stat st;
	off_t from = 0;
	int64_t until;
	pid_t node;
	int r;

	if (tp_sp_ping(url, 1000) == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/root", home);
	r = util_mkdirs(path, 0700);
	if (r < 0) {
		snprintf(err, errlen, "the sandbox's node: %s: %s", path,
			 strerror(-r));
		return r;
	}
	/* One starter at a time; a second finds the first's node. */
	snprintf(path, sizeof(path), "%s/start.lock", home);
	lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		snprintf(err, errlen, "the sandbox's node: %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	if (tp_sp_ping(url, 1000) == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/node.log", home);
	if (stat(path, &st) == 0)
		from = st.st_size;
	r = spawn(home, url, &node);
	if (r < 0) {
		snprintf(err, errlen, "the sandbox's node: fork: %s",
			 strerror(-r));
		return r;
	}
	until = util_now_ms() + START_MS;
	while (util_now_ms() < until) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };

		if (tp_sp_ping(url, 1000) == 0)
			return 0;
		if (kill(node, 0) < 0 && errno == ESRCH)
			break; /* gone: its log says why */
		nanosleep(&pause, NULL);
	}
	log_tail(home, from, err, errlen);
	return -ETIMEDOUT;
}
