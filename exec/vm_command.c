/* SPDX-License-Identifier: MIT */
/* The vm backend's command provider (vm_command.h). */
#include "vm_command.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "log.h"
#include "mkdirs.h"
#include "writeall.h"

#define STOP_FILE "stop" /* in the VM's dir: its stop template */

/* cmd through sh -c, with TETHER_VM_ID=id: 0, or -EIO with the line. */
static int run_template(const char *what, const char *cmd, const char *id)
{
	int st;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		setenv("TETHER_VM_ID", id, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_error("%svm %s: its %s command failed (%s %d): %s",
			  strcmp(what, "start") == 0 ? "sandbox connection "
						       "failed: "
						     : "",
			  id, what, WIFEXITED(st) ? "exit" : "signal",
			  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), cmd);
		return -EIO;
	}
	return 0;
}

int exec_vm_command_up(const char *dir, const char *id,
		       const struct exec_vm_conf *c)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	int r;

	r = util_mkdirs(dir, 0700);
	if (r < 0)
		return log_error_errno(r, "vm %s: %s", id, dir);
	snprintf(path, sizeof(path), "%s/lease", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return log_error_errno(-errno, "vm %s: %s", id, path);
	(void)futimens(fd, NULL); /* in use: no reaper stops it now */
	close(fd);
	fd = -1;
	if (c->start && (r = run_template("start", c->start, id)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/" STOP_FILE, dir);
	if (!c->stop) {
		(void)unlink(path);
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	r = fd < 0 ? -errno : util_write_all(fd, c->stop, strlen(c->stop));
	return r < 0 ? log_error_errno(r, "vm %s: %s", id, path) : 0;
}

bool exec_vm_command_running(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/" STOP_FILE, dir);
	return access(path, F_OK) == 0;
}

int exec_vm_command_stop(const char *dir, const char *id)
{
	char path[PATH_MAX], *cmd;
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;
	int r;

	snprintf(path, sizeof(path), "%s/" STOP_FILE, dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		return -errno;
	cmd = calloc(1, (size_t)st.st_size + 1);
	if (!cmd)
		return -ENOMEM;
	n = read(fd, cmd, (size_t)st.st_size);
	r = n == st.st_size ? run_template("stop", cmd, id) : -EIO;
	free(cmd);
	if (r == 0 && unlink(path) < 0)
		r = -errno;
	return r;
}
