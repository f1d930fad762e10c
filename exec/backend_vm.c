/* SPDX-License-Identifier: MIT */
/* Backend "vm": commands run on a tether node in a VM, reached over SSH as
 * the ssh backend does (tether-ssh: the binary uploaded, the node started,
 * the link carried through the session). Providers behind one interface:
 * "qemu", built in (vm_qemu.h: a microvm of tether vm image's image), and
 * "command": lifecycle command templates of the config (lima, orbstack,
 * any VM with SSH) whose "start" leaves an SSH endpoint up. The VM is
 * leased while a command runs; idle ones are stopped by the next
 * prepare. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "local_node.h"
#include "log.h"
#include "vm_qemu.h"

int exec_vm_url(const char *id, char *url, size_t cap, char *err, size_t errlen)
{
	char home[PATH_MAX], local[PATH_MAX + 16];
	int r = exec_local_node_paths(home, sizeof(home), local, sizeof(local),
				      err, errlen);

	if (r < 0)
		return r;
	r = snprintf(url, cap, "ipc://%s/ssh/vm-%016llx.sock", home,
		     (unsigned long long)XXH3_64bits(id, strlen(id)));
	return r < 0 || (size_t)r >= cap ? -ENAMETOOLONG : 0;
}

/* The VM's id: its url's hash (one VM per backend, or per agent). */
static const char *vm_id(const struct exec_backend *b)
{
	const char *s = strrchr(b->url, '/');

	return s ? s + 1 : b->url;
}

/* command provider: start runs through sh -c, with TETHER_VM_ID set. */
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
		log_error("sandbox connection failed: vm %s: its %s command "
			  "failed (%s %d): %s",
			  id, what, WIFEXITED(st) ? "exit" : "signal",
			  WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), cmd);
		return -EIO;
	}
	return 0;
}

static int vm_prepare(struct exec_backend *b)
{
	const struct exec_vm_conf *c = b->vm;
	char home[PATH_MAX], local[PATH_MAX + 16], err[1024];
	char id[64], path[PATH_MAX + 80];
	struct exec_ssh_conf ssh = { 0 };
	struct exec_vm_up up;
	int r;

	if (!c)
		return -EINVAL;
	snprintf(id, sizeof(id), "%.*s", (int)(strcspn(vm_id(b), ".")),
		 vm_id(b));
	if (c->provider && strcmp(c->provider, "command") == 0) {
		if (c->start && (r = run_template("start", c->start, id)) < 0)
			return r;
		ssh = c->ssh;
	} else {
		r = exec_local_node_paths(home, sizeof(home), local,
					  sizeof(local), err, sizeof(err));
		if (r == 0) {
			exec_vm_qemu_reap(home, EXEC_VM_IDLE_S);
			r = exec_vm_qemu_up(home, id, c, &up, err, sizeof(err));
		}
		if (r < 0) {
			log_error("sandbox connection failed: vm: %s", err);
			return r;
		}
		/* Leased from here: the reaper leaves it while we run. */
		snprintf(path, sizeof(path), "%s/vm/%s/lease", home, id);
		b->hold_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (b->hold_fd >= 0)
			(void)flock(b->hold_fd, LOCK_SH);
		ssh.host = "127.0.0.1";
		ssh.port = up.port;
		ssh.user = "root";
		ssh.key = up.key;
		ssh.known_hosts = up.known_hosts;
		ssh.timeout_s = 30;
	}
	r = exec_ssh_proxy_ensure(&ssh, b->url, b->name);
	if (r >= 0)
		r = exec_node_prepare(b);
	if (r < 0 && b->hold_fd >= 0) {
		close(b->hold_fd); /* release follows no failed prepare */
		b->hold_fd = -1;
	}
	return r;
}

static void vm_release(struct exec_backend *b)
{
	if (b->hold_fd >= 0) {
		(void)futimens(b->hold_fd, NULL); /* idle from now */
		close(b->hold_fd);
		b->hold_fd = -1;
	}
	exec_node_release(b);
}

const struct exec_backend_ops exec_backend_vm_ops = {
	.type = "vm",
	.caps = EXEC_CAP_TTY | EXEC_CAP_DETACH | EXEC_CAP_REMOTE |
		EXEC_CAP_SANDBOX,
	.prepare = vm_prepare,
	.run = exec_node_run,
	.release = vm_release,
	.health = exec_node_health,
};
