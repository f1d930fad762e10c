/* SPDX-License-Identifier: MIT */
/* Helpers tether starts in the background (daemon.h). */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "spcall.h"

/* d, detached from us: a session of its own, its output to its log. The
 * grandchild is the daemon; the child only forks it and says its pid. 0
 * with *pid, or -errno. */
static int spawn(const struct exec_daemon *d, pid_t *daemon)
{
	int st, p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		pid_t g;
		int fd;

		if (setsid() < 0)
			_exit(0);
		g = fork();
		if (g != 0) {
			(void)!write(p[1], &g, sizeof(g));
			_exit(0);
		}
		fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0600);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, STDIN_FILENO) < 0)
			_exit(126);
		execv(d->exe, d->argv);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], daemon, sizeof(*daemon)) != sizeof(*daemon) ||
	    *daemon <= 0)
		*daemon = 0;
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return *daemon ? 0 : -ECHILD;
}

/* The last line its log got from offset on, into err. */
static void log_tail(const struct exec_daemon *d, off_t from, char *err,
		     size_t errlen)
{
	char buf[4096];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	char *end, *line;

	fd = open(d->log, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || lseek(fd, from, SEEK_SET) < 0 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0) {
		snprintf(err, errlen, "%s did not start (see %s)", d->what,
			 d->log);
		return;
	}
	buf[n] = '\0';
	end = buf + strlen(buf);
	while (end > buf && end[-1] == '\n')
		*--end = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	if (strncmp(line, "tether: ", 8) == 0)
		line += 8;
	snprintf(err, errlen, "%s did not start: %s", d->what, line);
}

int exec_daemon_ensure(const struct exec_daemon *d, char *err, size_t errlen)
{
	_cleanup_close_ int lock = -1;
	struct stat st;
	off_t from = 0;
	int64_t until;
	pid_t pid;
	int r;

	if (tp_sp_ping(d->url, 1000) == 0)
		return 0;
	/* One starter at a time; a second finds the first's. */
	lock = open(d->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		snprintf(err, errlen, "%s: %s: %s", d->what, d->lock,
			 strerror(errno));
		return -errno;
	}
	if (tp_sp_ping(d->url, 1000) == 0)
		return 0;
	if (stat(d->log, &st) == 0)
		from = st.st_size;
	r = spawn(d, &pid);
	if (r < 0) {
		snprintf(err, errlen, "%s: fork: %s", d->what, strerror(-r));
		return r;
	}
	until = util_now_ms() + d->start_ms;
	while (util_now_ms() < until) {
		struct timespec pause = { 0, 20 * 1000 * 1000 };

		if (tp_sp_ping(d->url, 1000) == 0)
			return 0;
		if (kill(pid, 0) < 0 && errno == ESRCH)
			break; /* gone: its log says why */
		nanosleep(&pause, NULL);
	}
	log_tail(d, from, err, errlen);
	return -ETIMEDOUT;
}
