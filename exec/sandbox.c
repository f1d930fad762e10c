/* SPDX-License-Identifier: MIT */
/* The sandbox helper (sandbox.h). `tether __sandbox` runs as the runner's
 * child, in the command's session and process group. It joins the cgroups,
 * then clones a child into new user, mount, pid, ipc, uts and (network
 * none) net namespaces, writes the child's id maps from outside (so root
 * keeps every uid, mapped to itself), and waits. The child is pid 1 there:
 * it builds the root (bwrap's way: a tmpfs, pivot into it, bind the old
 * root read-only, then pivot to that), starts the command without any
 * capability, reaps every orphan, and hands the command's wait status back
 * to the helper, which exits the same way. Mounts made before the command
 * starts belong to a user namespace the command has no capability in, so
 * it cannot take them apart. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>

#define EXIT_SANDBOX 125 /* the sandbox could not be made */
#define HOSTNAME     "tether-sandbox"
#define ARGS_MAX     64 /* hide and cgroup paths, each */

static const struct {
	int resource;
	const char *name;
} rls[EXEC_RL_N] = {
	[EXEC_RL_NOFILE] = { RLIMIT_NOFILE, "nofile" },
	[EXEC_RL_NPROC] = { RLIMIT_NPROC, "nproc" },
	[EXEC_RL_FSIZE] = { RLIMIT_FSIZE, "fsize" },
	[EXEC_RL_CORE] = { RLIMIT_CORE, "core" },
};

int exec_rl_resource(unsigned i)
{
	return i < EXEC_RL_N ? rls[i].resource : -1;
}

const char *exec_rl_name(unsigned i)
{
	return i < EXEC_RL_N ? rls[i].name : "?";
}

static const char *const mode_names[] = {
	[EXEC_WS_COW] = "cow",
	[EXEC_WS_RO] = "ro",
	[EXEC_WS_RW] = "rw",
	[EXEC_WS_NONE] = "none",
};

const char *exec_ws_mode_name(enum exec_ws_mode m)
{
	return (unsigned)m < 4 ? mode_names[m] : "?";
}

char **exec_sandbox_argv(const struct exec_sandbox *sb, char *const *argv)
{
	size_t n = 0, na = 0, k = 0;
	char **v;

	while (argv[na])
		na++;
	/* /proc/self/exe __sandbox, flags, the pairs, --, argv, NULL */
	n = 2 + 1 + 6 + 2 + 2 * (sb->nhide + sb->ncgroups) + 1 + na + 1;
	v = calloc(n, sizeof(*v));
	if (!v)
		return NULL;
	v[k++] = (char *)"/proc/self/exe";
	v[k++] = (char *)"__sandbox";
	if (sb->net_host)
		v[k++] = (char *)"--net-host";
	if (sb->ws_src && sb->mode != EXEC_WS_NONE) {
		v[k++] = (char *)"--ws";
		v[k++] = (char *)sb->ws_src;
		v[k++] = (char *)"--at";
		v[k++] = (char *)(sb->ws_at ? sb->ws_at : sb->ws_src);
		v[k++] = (char *)"--mode";
		v[k++] = (char *)mode_names[sb->mode];
	}
	if (sb->cwd) {
		v[k++] = (char *)"--cwd";
		v[k++] = (char *)sb->cwd;
	}
	for (size_t i = 0; i < sb->nhide; i++) {
		v[k++] = (char *)"--hide";
		v[k++] = (char *)sb->hide[i];
	}
	for (size_t i = 0; i < sb->ncgroups; i++) {
		v[k++] = (char *)"--cgroup";
		v[k++] = (char *)sb->cgroups[i];
	}
	v[k++] = (char *)"--";
	for (size_t i = 0; i < na; i++)
		v[k++] = argv[i];
	v[k] = NULL;
	return v;
}

/* ---- the helper ---- */

struct opts {
	bool net_host;
	const char *ws, *at, *cwd;
	enum exec_ws_mode mode;
	const char *hide[ARGS_MAX], *cgroup[ARGS_MAX];
	size_t nhide, ncgroup;
	char **argv;
};

static _Noreturn void die(const char *fmt, ...)
{
	char line[PATH_MAX + 256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* One write: the line arrives whole on the command's stderr. */
	(void)!write(STDERR_FILENO, "tether: sandbox: ", 17);
	(void)!write(STDERR_FILENO, line, (size_t)n);
	_exit(EXIT_SANDBOX);
}

static int parse(int argc, char **argv, struct opts *o)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--") == 0)
			break;
		if (strcmp(a, "--net-host") == 0) {
			o->net_host = true;
			continue;
		}
		if (!v)
			die("%s: needs a value", a);
		i++;
		if (strcmp(a, "--ws") == 0) {
			o->ws = v;
		} else if (strcmp(a, "--at") == 0) {
			o->at = v;
		} else if (strcmp(a, "--cwd") == 0) {
			o->cwd = v;
		} else if (strcmp(a, "--mode") == 0) {
			size_t m = 0;

			while (m < 4 && strcmp(v, mode_names[m]) != 0)
				m++;
			if (m == 4)
				die("--mode %s: expected cow, ro, rw or none",
				    v);
			o->mode = (enum exec_ws_mode)m;
		} else if (strcmp(a, "--hide") == 0 && o->nhide < ARGS_MAX) {
			o->hide[o->nhide++] = v;
		} else if (strcmp(a, "--cgroup") == 0 &&
			   o->ncgroup < ARGS_MAX) {
			o->cgroup[o->ncgroup++] = v;
		} else {
			die("unknown option %s", a);
		}
	}
	if (i + 1 >= argc)
		die("no command");
	if ((o->ws && (o->ws[0] != '/' || !o->at || o->at[0] != '/')) ||
	    (o->cwd && o->cwd[0] != '/'))
		die("paths must be absolute");
	o->argv = argv + i + 1;
	return 0;
}

static void write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : write(fd, s, strlen(s));
	int e = errno;

	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)strlen(s))
		die("%s: %s", path, strerror(e));
}

/* From outside: child's ids are its creator's, all of them for root. */
static void map_ids(pid_t child, uid_t uid, gid_t gid)
{
	char path[64], map[64];

	snprintf(map, sizeof(map), "%u %u %s\n", uid, uid,
		 uid == 0 ? "4294967295" : "1");
	snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)child);
	write_file(path, map);
	if (uid != 0) {
		snprintf(path, sizeof(path), "/proc/%d/setgroups", (int)child);
		write_file(path, "deny\n");
	}
	snprintf(map, sizeof(map), "%u %u %s\n", gid, gid,
		 uid == 0 ? "4294967295" : "1");
	snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)child);
	write_file(path, map);
}

static void do_mount(const char *src, const char *dst, const char *type,
		     unsigned long flags, const char *data)
{
	if (mount(src, dst, type, flags, data) < 0)
		die("mount %s on %s: %s", type ? type : src, dst,
		    strerror(errno));
}

static void make_ro(const char *path)
{
	struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };

	if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &a, sizeof(a)) < 0)
		die("read-only %s: %s", path, strerror(errno));
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* /newroot + p, p absolute. */
static void in_new(char *out, size_t cap, const char *p)
{
	if ((size_t)snprintf(out, cap, "/newroot%s", p) >= cap)
		die("%s: path too long", p);
}

/* The mount point for the workspace: there already, or made inside a
 * hidden path's tmpfs (the only writable place of the root so far). */
static void ws_mountpoint(const char *at)
{
	char p[PATH_MAX + 16];

	in_new(p, sizeof(p), at);
	if (is_dir(p))
		return;
	for (char *s = p + 9; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (!is_dir(p) && mkdir(p, 0755) < 0)
			die("workspace mount point %s: %s", at,
			    strerror(errno));
		*s = '/';
	}
	if (mkdir(p, 0755) < 0)
		die("workspace mount point %s: %s", at, strerror(errno));
}

static void tmpfs_on(const char *p, const char *mode)
{
	char dst[PATH_MAX + 16], data[32];

	in_new(dst, sizeof(dst), p);
	if (!is_dir(dst))
		return;
	snprintf(data, sizeof(data), "mode=%s", mode);
	do_mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, data);
}

static void build_root(const struct opts *o)
{
	char src[PATH_MAX + 16], dst[PATH_MAX + 16];

	do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	do_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700");
	if (chdir("/tmp") < 0 || mkdir("newroot", 0755) < 0 ||
	    mkdir("oldroot", 0755) < 0)
		die("/tmp: %s", strerror(errno));
	if (syscall(SYS_pivot_root, "/tmp", "/tmp/oldroot") < 0)
		die("pivot_root: %s", strerror(errno));
	if (chdir("/") < 0)
		die("chdir /: %s", strerror(errno));
	do_mount("/oldroot", "/newroot", NULL, MS_BIND | MS_REC, NULL);
	make_ro("/newroot");
	tmpfs_on("/tmp", "1777");
	tmpfs_on("/var/tmp", "1777");
	tmpfs_on("/dev/shm", "1777");
	for (size_t i = 0; i < o->nhide; i++)
		tmpfs_on(o->hide[i], "0755");
	in_new(dst, sizeof(dst), "/proc");
	do_mount("proc", dst, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	if (o->ws && o->mode != EXEC_WS_NONE) {
		if ((size_t)snprintf(src, sizeof(src), "/oldroot%s", o->ws) >=
		    sizeof(src))
			die("%s: path too long", o->ws);
		ws_mountpoint(o->at);
		in_new(dst, sizeof(dst), o->at);
		do_mount(src, dst, NULL, MS_BIND | MS_REC, NULL);
		if (o->mode == EXEC_WS_RO)
			make_ro(dst);
	}
	/* The root becomes /newroot; the tmpfs with /oldroot goes. */
	if (chdir("/newroot") < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		die("pivot_root: %s", strerror(errno));
}

static void lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		die("lo: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		die("lo up: %s", strerror(errno));
	close(fd);
}

/* No capability survives the execve, not even as root of the namespace. */
static void drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = { { 0 } };

	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die("dropping capability %d: %s", c, strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
	    syscall(SYS_capset, &h, d) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("dropping capabilities: %s", strerror(errno));
}

static _Noreturn void run_command(const struct opts *o, const sigset_t *old)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	int e;

	drop_caps();
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &dfl, NULL);
	sigprocmask(SIG_SETMASK, old, NULL);
	execvp(o->argv[0], o->argv);
	e = errno;
	dprintf(STDERR_FILENO, "tether: sandbox: %s: %s\n", o->argv[0],
		e == ENOENT ? "command not found" : strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

/* pid 1: set up, run the command, reap until it exits, then end everyone
 * left (the namespace goes with us anyway) and report its status. */
static _Noreturn void init_main(const struct opts *o, int go_fd, int st_fd,
				const sigset_t *old)
{
	pid_t cmd;
	char c;
	int status = 0;

	if (read(go_fd, &c, 1) != 1)
		_exit(EXIT_SANDBOX); /* the helper said why */
	close(go_fd);
	/* The helper outlives us unless killed, and a kill of the tree
	 * finds us anyway: no check of getppid() (0 from in here). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(EXIT_SANDBOX);
	build_root(o);
	if (sethostname(HOSTNAME, strlen(HOSTNAME)) < 0)
		die("hostname: %s", strerror(errno));
	if (!o->net_host)
		lo_up();
	if (chdir(o->cwd ? o->cwd : o->at ? o->at : "/") < 0)
		die("cwd %s: %s", o->cwd ? o->cwd : o->at, strerror(errno));
	cmd = fork();
	if (cmd < 0)
		die("fork: %s", strerror(errno));
	if (cmd == 0) {
		close(st_fd);
		run_command(o, old);
	}
	for (;;) {
		pid_t p = waitpid(-1, &status, 0);

		if (p == cmd)
			break;
		if (p < 0 && errno != EINTR)
			die("wait: %s", strerror(errno));
	}
	kill(-1, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
	(void)!write(st_fd, &status, sizeof(status));
	_exit(0);
}

static _Noreturn void exit_as(int status)
{
	struct rlimit none = { 0, 0 };
	sigset_t only;

	if (!WIFSIGNALED(status))
		_exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_SANDBOX);
	/* The same death: the runner reports 128+N as for any command. */
	setrlimit(RLIMIT_CORE, &none);
	signal(WTERMSIG(status), SIG_DFL);
	sigemptyset(&only);
	sigaddset(&only, WTERMSIG(status));
	sigprocmask(SIG_UNBLOCK, &only, NULL);
	kill(getpid(), WTERMSIG(status));
	_exit(128 + WTERMSIG(status));
}

int exec_sandbox_main(int argc, char **argv)
{
	struct opts o = { .mode = EXEC_WS_COW };
	unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID |
			      CLONE_NEWIPC | CLONE_NEWUTS;
	int go[2], st[2], status = 0, cmd_status;
	sigset_t all, old;
	uid_t uid = getuid();
	gid_t gid = getgid();
	pid_t child;
	ssize_t n;

	parse(argc, argv, &o);
	if (!o.net_host)
		flags |= CLONE_NEWNET;
	for (size_t i = 0; i < o.ncgroup; i++)
		write_file(o.cgroup[i], "0\n");
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	/* Signals for the command reach it through its process group; the
	 * helper and pid 1 only wait (a default TERM would end pid 1 and the
	 * whole namespace with it, before the command could clean up). */
	sigfillset(&all);
	sigdelset(&all, SIGCHLD);
	sigprocmask(SIG_SETMASK, &all, &old);
	child = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL,
			       NULL);
	if (child < 0)
		die("namespaces: %s", strerror(errno));
	if (child == 0) {
		close(go[1]);
		close(st[0]);
		init_main(&o, go[0], st[1], &old);
	}
	close(go[0]);
	close(st[1]);
	map_ids(child, uid, gid);
	if (write(go[1], "g", 1) != 1)
		die("start: %s", strerror(errno));
	close(go[1]);
	n = read(st[0], &cmd_status, sizeof(cmd_status));
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	exit_as(n == (ssize_t)sizeof(cmd_status) ? cmd_status : status);
}
