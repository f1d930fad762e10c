/* SPDX-License-Identifier: MIT */
/* Backend "vm": commands run on a tether node in a VM, reached over SSH as
 * the ssh backend does (tether-ssh: the binary uploaded, the node started,
 * the link carried through the session). Providers behind one interface:
 * "qemu", built in (vm_qemu.h: a microvm of tether vm image's image), and
 * "command" (vm_command.h: lifecycle command templates of the config,
 * for lima, orbstack, any VM with SSH, whose "start" leaves an SSH
 * endpoint up and whose "stop" ends it). The VM is leased while a command
 * runs; idle ones of either are stopped by the next prepare. */
#include "backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "local_node.h"
#include "log.h"
#include "vm_command.h"
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

int exec_vm_reap(const char *home, unsigned idle_s)
{
	char root[PATH_MAX], dir[PATH_MAX + 256], path[PATH_MAX + 300];
	DIR *d;
	struct dirent *e;
	struct stat st;
	int n = 0;

	snprintf(root, sizeof(root), "%s/vm", home);
	d = opendir(root);
	if (!d)
		return 0;
	while ((e = readdir(d))) {
		bool qemu;
		int lease;

		if (e->d_name[0] == '.' || strcmp(e->d_name, "image") == 0)
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", root, e->d_name);
		snprintf(path, sizeof(path), "%s/lease", dir);
		qemu = exec_vm_qemu_running(dir);
		if ((!qemu && !exec_vm_command_running(dir)) ||
		    (idle_s && stat(path, &st) == 0 &&
		     time(NULL) - st.st_mtime < (time_t)idle_s))
			continue;
		/* A command holds the lease while it runs. */
		lease = open(path, O_RDONLY | O_CLOEXEC);
		if (lease >= 0 && flock(lease, LOCK_EX | LOCK_NB) < 0) {
			close(lease);
			continue;
		}
		if (qemu)
			exec_vm_qemu_stop(dir);
		if (qemu || exec_vm_command_stop(dir, e->d_name) == 0) {
			log_debug("vm: stopped %s, idle", e->d_name);
			n++;
		}
		if (lease >= 0)
			close(lease);
	}
	closedir(d);
	return n;
}

static int vm_prepare(struct exec_backend *b)
{
	const struct exec_vm_conf *c = b->vm;
	char home[PATH_MAX], local[PATH_MAX + 16], err[1024];
	char id[64], path[PATH_MAX + 80];
	struct exec_ssh_conf ssh = { 0 };
	struct exec_vm_up up;
	bool command;
	int r;

	if (!c)
		return -EINVAL;
	command = c->provider && strcmp(c->provider, "command") == 0;
	snprintf(id, sizeof(id), "%.*s", (int)(strcspn(vm_id(b), ".")),
		 vm_id(b));
	r = exec_local_node_paths(home, sizeof(home), local, sizeof(local), err,
				  sizeof(err));
	if (r < 0) {
		log_error("sandbox connection failed: vm: %s", err);
		return r;
	}
	exec_vm_reap(home, EXEC_VM_IDLE_S);
	snprintf(path, sizeof(path), "%s/vm/%s", home, id);
	if (command) {
		r = exec_vm_command_up(path, id, c);
	} else {
		r = exec_vm_qemu_up(home, id, c, &up, err, sizeof(err));
		if (r < 0)
			log_error("sandbox connection failed: vm: %s", err);
	}
	if (r < 0)
		return r;
	/* Leased from here: the reaper leaves it while we run. */
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/lease");
	b->hold_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (b->hold_fd >= 0)
		(void)flock(b->hold_fd, LOCK_SH);
	if (command) {
		ssh = c->ssh;
	} else {
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
