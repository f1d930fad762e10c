/* SPDX-License-Identifier: MIT */
/* The process runner: fork/exec in a new session with pipes or a pty,
 * reaping with rusage, and a /proc walk that signals a command's whole tree. */
#include "runner.h"

#include "cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
/* The default /proc/sys/fs/pipe-max-size: large outputs need fewer wakeups. */
#define PIPE_CAPACITY (1 << 20)
/* pid_max can be at most 2^22 (PID_MAX_LIMIT on 64-bit). */
#define PROC_SCAN_CAP (1 << 22)
/* A tree that keeps forking between our scans is a fork bomb: give up. */
#define KILL_ROUNDS 16

/* Everything the child needs, prepared before fork so that the child only
 * makes async-signal-safe calls. Fds the child uses are >= 3 and cloexec, so
 * dup2 onto 0-2 never clobbers a source that is still needed. */
struct spawn_ctx {
	char **envp;
	char *path; /* what execve gets (relative: resolved after chdir) */
	int src[3]; /* child side of stdin/stdout/stderr */
	int own[4]; /* child-side fds the parent closes after fork */
	size_t n_own;
	int parent[3];	  /* parent ends: in, out, err */
	int err_r, err_w; /* the child's exec error report; err_w is owned */
	pid_t parent_pid; /* getpid() before vfork, for die_with_parent */
};

static bool same_key(const char *a, const char *b)
{
	size_t n = strcspn(a, "=");

	return n == strcspn(b, "=") && memcmp(a, b, n) == 0;
}

/* The parent's environ with env_add overriding same-named keys (the last
 * env_add entry wins). Pointers are borrowed: the child gets its own copy of
 * the address space at fork. */
static int env_merge(char *const *add, char ***ret)
{
	size_t n_env = 0, n_add = 0, n = 0;
	char **envp;

	for (char **e = environ; e && *e; e++)
		n_env++;
	for (char *const *a = add; a && *a; a++, n_add++)
		if (!strchr(*a, '=') || **a == '=')
			return -EINVAL;
	envp = calloc(n_env + n_add + 1, sizeof(*envp));
	if (!envp)
		return -ENOMEM;
	for (size_t i = 0; i < n_env; i++) {
		bool overridden = false;

		for (size_t j = 0; j < n_add && !overridden; j++)
			overridden = same_key(environ[i], add[j]);
		if (!overridden)
			envp[n++] = environ[i];
	}
	for (size_t i = 0; i < n_add; i++) {
		bool later = false;

		for (size_t j = i + 1; j < n_add && !later; j++)
			later = same_key(add[i], add[j]);
		if (!later)
			envp[n++] = add[i];
	}
	*ret = envp;
	return 0;
}

/* 0 when path is a regular file we may execute, else -errno the way execve
 * would report it. A relative path is checked against cwd, where the child
 * will be when it calls execve. */
static int check_exec(const char *path, const char *cwd)
{
	char *full = NULL;
	const char *p = path;
	struct stat st;
	int r = 0;

	if (cwd && path[0] != '/') {
		if (asprintf(&full, "%s/%s", cwd, path) < 0)
			return -ENOMEM;
		p = full;
	}
	if (stat(p, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -EACCES;
	else if (faccessat(AT_FDCWD, p, X_OK, AT_EACCESS) < 0)
		r = -errno;
	free(full);
	return r;
}

/* execvp's rules: a name with '/' is used as is; otherwise each PATH entry is
 * tried (empty means "."), and -EACCES wins over -ENOENT if any candidate
 * existed but could not be executed. */
static int path_resolve(const char *name, char *const *envp, const char *cwd,
			char **ret)
{
	const char *search = DEFAULT_PATH, *s, *end;
	bool denied = false;
	char *cand;
	int r;

	if (strchr(name, '/')) {
		r = check_exec(name, cwd);
		if (r == 0 && !(*ret = strdup(name)))
			r = -ENOMEM;
		return r;
	}
	if (!*name)
		return -ENOENT;
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	for (char *const *e = envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			search = *e + 5;
	for (s = search;; s = end + 1) {
		end = strchrnul(s, ':');
		if (asprintf(&cand, "%.*s/%s", end == s ? 1 : (int)(end - s),
			     end == s ? "." : s, name) < 0)
			return -ENOMEM;
		r = check_exec(cand, cwd);
		if (r == 0) {
			*ret = cand;
			return 0;
		}
		free(cand);
		if (r == -ENOMEM)
			return r;
		denied |= r == -EACCES || r == -EPERM;
		if (!*end)
			return denied ? -EACCES : -ENOENT;
	}
}

/* Keeps a child-side fd for the parent to close after fork, moved above the
 * standard streams (cloexec) so that dup2 onto 0-2 cannot clobber it.
 * Consumes fd. */
static int own_fd(struct spawn_ctx *c, int fd)
{
	int e, n = fd;

	if (fd <= 2) {
		n = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		e = errno;
		close(fd);
		if (n < 0)
			return -e;
	}
	c->own[c->n_own++] = n;
	return n;
}

/* A pty whose ends are cloexec from the start: libutil's openpty() leaves a
 * window in which another thread's fork inherits them. */
static int pty_open(struct spawn_ctx *c, uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = rows ? rows : 24,
			      .ws_col = cols ? cols : 80 };
	int m, slave;

	m = c->parent[0] = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0 || unlockpt(m) < 0 || ioctl(m, TIOCSWINSZ, &ws) < 0)
		return -errno;
	/* TIOCGPTPEER (Linux 4.13) opens the peer without a path lookup. */
	slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0)
		return -errno;
	slave = own_fd(c, slave);
	if (slave < 0)
		return slave;
	c->src[0] = c->src[1] = c->src[2] = slave;
	c->parent[1] = fcntl(m, F_DUPFD_CLOEXEC, 3);
	if (c->parent[1] < 0)
		return -errno;
	/* F_SETFL replaces the status flags: a fresh fd has no others. */
	return fcntl(m, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
}

static int stdio_open(struct spawn_ctx *c, const struct exec_proc_spec *spec)
{
	const int want[3] = { spec->stdin_fd, spec->stdout_fd,
			      spec->stderr_fd };
	int fds[2];

	for (int i = 0; i < 3; i++) {
		int fd;

		if (want[i] == EXEC_FD_PIPE) {
			/* The child reads fds[0] (stdin) or writes fds[1];
			 * its end is made blocking again below. */
			if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
				return -errno;
			c->parent[i] = fds[i == 0];
			fd = fds[i != 0];
			if (i > 0)
				(void)fcntl(c->parent[i], F_SETPIPE_SZ,
					    PIPE_CAPACITY);
		} else if (want[i] == EXEC_FD_NULL) {
			fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
		} else if (want[i] >= 0) {
			/* A private copy >= 3 makes any mix of caller fds,
			 * 0-2 themselves or one fd for several streams, safe
			 * to dup2 in any order. */
			fd = fcntl(want[i], F_DUPFD_CLOEXEC, 3);
		} else {
			return -EINVAL;
		}
		if (fd < 0)
			return -errno;
		c->src[i] = own_fd(c, fd);
		if (c->src[i] < 0)
			return c->src[i];
		if (want[i] == EXEC_FD_PIPE && fcntl(c->src[i], F_SETFL, 0) < 0)
			return -errno;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void ctx_fini(struct spawn_ctx *c)
{
	for (size_t i = 0; i < c->n_own; i++)
		close(c->own[i]);
	c->n_own = 0;
	for (int i = 0; i < 3; i++)
		close_fd(&c->parent[i]);
	close_fd(&c->err_r);
	free(c->envp);
	free(c->path);
}

static _Noreturn void child_fail(int fd)
{
	int e = errno;

	(void)!write(fd, &e, sizeof(e));
	_exit(127);
}

/* Runs between vfork and execve, in the parent's memory: system calls on
 * prepared data only, nothing that allocates or writes shared state. */
static _Noreturn void child_exec(const struct spawn_ctx *c,
				 const struct exec_proc_spec *spec)
{
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigset_t none;

	if (setsid() < 0)
		child_fail(c->err_w);
	/* A parent killed before prctl took effect would go unnoticed: check
	 * that it is still ours afterwards. */
	if (spec->die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
				      getppid() != c->parent_pid))
		child_fail(c->err_w);
	/* Handlers were copied from the parent; every signal is still blocked
	 * (see exec_proc_spawn), so none of them can run here. */
	for (int sig = 1; sig < NSIG; sig++)
		(void)sigaction(sig, &sa, NULL);
	if (spec->tty && ioctl(c->src[0], TIOCSCTTY, 0) < 0)
		child_fail(c->err_w);
	for (int i = 0; i < 3; i++)
		if (dup2(c->src[i], i) < 0)
			child_fail(c->err_w);
	for (size_t i = 0; i < spec->n_rlimits; i++) {
		struct rlimit rl = { .rlim_cur = spec->rlimits[i].soft,
				     .rlim_max = spec->rlimits[i].hard };

		if (setrlimit(spec->rlimits[i].resource, &rl) < 0)
			child_fail(c->err_w);
	}
	if (spec->cwd && chdir(spec->cwd) < 0)
		child_fail(c->err_w);
	/* Cloexec rather than close: err_w must stay open until execve. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(c->err_w);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(c->path, spec->argv, c->envp);
	child_fail(c->err_w);
}

/* vfork in a frame of its own: the child never returns from it, and the
 * caller's locals are not live across it (no -Wclobbered hazard). */
static __attribute__((noinline)) pid_t
vfork_exec(const struct spawn_ctx *c, const struct exec_proc_spec *spec)
{
	pid_t pid = vfork();

	if (pid == 0)
		child_exec(c, spec);
	return pid;
}

static int wait_eintr(pid_t pid, int *status, int flags, struct rusage *ru)
{
	pid_t r;

	do
		r = wait4(pid, status, flags, ru);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : (int)r;
}

/* 0 when execve succeeded (EOF, the pipe was cloexec), else the child's
 * -errno. Four bytes are written and read atomically on a pipe. */
static int read_child_error(int fd)
{
	ssize_t n;
	int e = 0;

	do
		n = read(fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	return n == sizeof(e) && e > 0 ? -e : -EIO;
}

int exec_proc_spawn(const struct exec_proc_spec *spec, struct exec_proc **ret)
{
	struct spawn_ctx c = { .parent = { -1, -1, -1 },
			       .src = { -1, -1, -1 },
			       .err_r = -1,
			       .err_w = -1 };
	struct exec_proc *p = NULL;
	sigset_t all, old;
	pid_t pid;
	int fds[2], r;

	if (!spec || !spec->argv || !spec->argv[0] || !ret ||
	    (spec->n_rlimits && !spec->rlimits))
		return -EINVAL;
	r = env_merge(spec->env_add, &c.envp);
	if (r >= 0)
		r = path_resolve(spec->argv[0], c.envp, spec->cwd, &c.path);
	if (r >= 0)
		r = spec->tty ? pty_open(&c, spec->rows, spec->cols)
			      : stdio_open(&c, spec);
	if (r >= 0 && pipe2(fds, O_CLOEXEC) < 0)
		r = -errno;
	if (r < 0)
		goto out;
	c.err_r = fds[0];
	c.err_w = r = own_fd(&c, fds[1]);
	if (r >= 0 && !(p = calloc(1, sizeof(*p))))
		r = -ENOMEM;
	if (r < 0)
		goto out;

	/* Blocked across vfork so that no parent handler runs in the child
	 * before the child has reset the dispositions. vfork, not fork: the
	 * child only makes system calls on prepared data (child_exec), and a
	 * node with many threads and mappings would otherwise pay for copying
	 * its page tables on every command (measured: 1.9 ms vs 0.9 ms per
	 * spawn of true with 15 threads and 64 MiB touched). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	clock_gettime(CLOCK_MONOTONIC, &p->started);
	c.parent_pid = getpid();
	pid = vfork_exec(&c, spec);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto out;

	for (; c.n_own > 0; c.n_own--)
		close(c.own[c.n_own - 1]);
	p->pid = pid;
	p->pidfd = pidfd_open(pid, 0);
	r = p->pidfd < 0 ? -errno : read_child_error(c.err_r);
	if (r < 0) {
		/* Unreaped, so the pid is still ours; the child may not have
		 * reached setsid(), hence the pid and not the group. */
		kill(pid, SIGKILL);
		wait_eintr(pid, NULL, 0, NULL);
		close_fd(&p->pidfd);
		goto out;
	}
	p->in_fd = c.parent[0];
	p->out_fd = c.parent[1];
	p->err_fd = c.parent[2];
	c.parent[0] = c.parent[1] = c.parent[2] = -1;
	*ret = TAKE_PTR(p);
out:
	free(p);
	ctx_fini(&c);
	return r;
}

static uint64_t tv_us(struct timeval tv)
{
	return (uint64_t)tv.tv_sec * 1000000 + (uint64_t)tv.tv_usec;
}

int exec_proc_reap(struct exec_proc *p, bool block)
{
	struct rusage ru;
	struct timespec now;
	int64_t wall_ns;
	int status, r;

	if (p->reaped)
		return 1;
	r = wait_eintr(p->pid, &status, block ? 0 : WNOHANG, &ru);
	if (r <= 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &now);
	/* Signed: the nanosecond part of the difference may be negative. */
	wall_ns = ((int64_t)now.tv_sec - p->started.tv_sec) * 1000000000 +
		  (now.tv_nsec - p->started.tv_nsec);
	p->status = (struct exec_status){
		.wall_us = (uint64_t)wall_ns / 1000,
		.user_us = tv_us(ru.ru_utime),
		.sys_us = tv_us(ru.ru_stime),
		.maxrss_kb = (uint64_t)ru.ru_maxrss,
	};
	if (WIFSIGNALED(status)) {
		p->status.signal = WTERMSIG(status);
		/* Unspecified by the contract; 128+N keeps a careless
		 * "code == 0" check from calling a killed command a success. */
		p->status.code = 128 + p->status.signal;
	} else {
		p->status.code = WEXITSTATUS(status);
	}
	p->reaped = true;
	return 1;
}

int exec_proc_signal(struct exec_proc *p, int sig)
{
	/* Safe after reaping too: a pid number stays reserved while it names
	 * a live process group, so -pid is still ours or ESRCH. */
	return kill(-p->pid, sig) < 0 ? -errno : 0;
}

struct proc_ent {
	pid_t pid, ppid, pgid, sid;
	unsigned long long start; /* clock ticks since boot: tells reuse */
	char state;
	bool member;
};

static int stat_read(pid_t pid, struct proc_ent *e)
{
	char path[32], buf[1024];
	const char *s;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* procfs reads never sleep, so never fail with EINTR. */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	/* An exited-and-reaped process reads as ESRCH or empty. */
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	/* comm is free text that may hold spaces and ')'; the fields after
	 * it are numbers, so the last ')' ends it. */
	s = strrchr(buf, ')');
	if (!s)
		return -EBADMSG;
	e->pid = pid;
	e->member = false;
	if (sscanf(s + 1,
		   " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u %*u %*u"
		   " %*d %*d %*d %*d %*d %*d %llu",
		   &e->state, &e->ppid, &e->pgid, &e->sid, &e->start) != 5)
		return -EBADMSG;
	return 0;
}

static int ent_cmp(const void *a, const void *b)
{
	const struct proc_ent *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Room for element n of *v; capped at one entry per possible pid. */
static int grow(struct proc_ent **v, size_t *cap, size_t n)
{
	size_t nc = *cap ? *cap * 2 : 64;
	struct proc_ent *nv;

	if (n < *cap)
		return 0;
	nv = nc <= PROC_SCAN_CAP ? reallocarray(*v, nc, sizeof(*nv)) : NULL;
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = nc;
	return 0;
}

/* Every process in /proc, sorted by pid. Processes that vanish between
 * readdir and reading their stat are simply left out. */
static int proc_scan(struct proc_ent **ret, size_t *n_ret)
{
	struct proc_ent *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end ||
		    pid > INT_MAX)
			continue;
		if (grow(&v, &cap, n) < 0) {
			free(v);
			closedir(d);
			return -ENOMEM;
		}
		if (stat_read((pid_t)pid, &v[n]) == 0)
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), ent_cmp);
	*ret = v;
	*n_ret = n;
	return 0;
}

/* Marks the tree: the session and the group of p, the leader while it is
 * unreaped (after that its pid may belong to someone else), and every
 * descendant of those through the ppid chain. */
static void tree_mark(struct proc_ent *v, size_t n, const struct exec_proc *p)
{
	bool changed;

	for (size_t i = 0; i < n; i++)
		v[i].member = v[i].sid == p->pid || v[i].pgid == p->pid ||
			      (!p->reaped && v[i].pid == p->pid);
	do {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			struct proc_ent key = { .pid = v[i].ppid }, *parent;

			if (v[i].member)
				continue;
			parent = bsearch(&key, v, n, sizeof(*v), ent_cmp);
			if (parent && parent->member) {
				v[i].member = true;
				changed = true;
			}
		}
	} while (changed);
}

static bool ent_alive(const struct proc_ent *e)
{
	return e->member && e->state != 'Z' && e->state != 'X';
}

/* Signals e only if its pid still names the process we scanned: the pidfd
 * pins whatever process holds the pid now, and an equal start time proves
 * it is the same one. */
static int signal_one(const struct proc_ent *e, int sig)
{
	struct proc_ent now;
	int fd, r;

	fd = pidfd_open(e->pid, 0);
	if (fd < 0)
		return -errno;
	r = stat_read(e->pid, &now);
	if (r == 0 && now.start != e->start)
		r = -ESRCH;
	if (r == 0 && pidfd_send_signal(fd, sig, NULL, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

int exec_proc_kill_tree(struct exec_proc *p, int sig)
{
	struct proc_ent *v = NULL, *done = NULL;
	size_t n, n_done = 0, cap_done = 0, fresh = 1;
	bool group_ok = false;
	int count = 0, r = 0;

	/* Scan before killing the group: once a parent dies its children are
	 * reparented and the ppid link to them is lost. Later rounds catch
	 * what was forked meanwhile. */
	for (int round = 0; round < KILL_ROUNDS && fresh && r >= 0; round++) {
		r = proc_scan(&v, &n);
		if (round == 0)
			group_ok = kill(-p->pid, sig) == 0;
		if (r < 0)
			break;
		tree_mark(v, n, p);
		fresh = 0;
		for (size_t i = 0; i < n && r >= 0; i++) {
			bool seen = !ent_alive(&v[i]);

			for (size_t j = 0; j < n_done && !seen; j++)
				seen = done[j].pid == v[i].pid &&
				       done[j].start == v[i].start;
			if (seen)
				continue;
			r = grow(&done, &cap_done, n_done);
			if (r < 0)
				break;
			done[n_done++] = v[i];
			fresh++;
			/* Signal each process once: a second SIGTERM or
			 * SIGINT would run a handler twice. */
			if (round == 0 && group_ok && v[i].pgid == p->pid)
				count++;
			else
				count += signal_one(&v[i], sig) == 0;
		}
		free(v);
	}
	free(done);
	return count > 0 || r >= 0 ? count : r;
}

bool exec_proc_tree_alive(struct exec_proc *p)
{
	struct proc_ent *v;
	bool alive = false;
	size_t n;

	if (proc_scan(&v, &n) < 0)
		return !p->reaped || kill(-p->pid, 0) == 0;
	tree_mark(v, n, p);
	for (size_t i = 0; i < n && !alive; i++)
		alive = ent_alive(&v[i]);
	free(v);
	return alive;
}

int exec_proc_resize(struct exec_proc *p, uint16_t rows, uint16_t cols)
{
	struct winsize ws = { .ws_row = rows, .ws_col = cols };

	if (p->in_fd < 0)
		return -ENOTTY;
	/* On a master the kernel applies this to the slave and sends SIGWINCH
	 * to its foreground group; a pipe answers ENOTTY. */
	return ioctl(p->in_fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

void exec_proc_close_stdin(struct exec_proc *p)
{
	struct termios t;

	if (p->in_fd < 0)
		return;
	if (isatty(p->in_fd)) {
		/* The master stays open (out_fd shares it, resize needs it);
		 * a terminal's EOF is the VEOF character at line start. */
		if (tcgetattr(p->in_fd, &t) == 0 && (t.c_lflag & ICANON))
			(void)!write(p->in_fd, &t.c_cc[VEOF], 1);
		return;
	}
	close_fd(&p->in_fd);
}

void exec_proc_free(struct exec_proc *p)
{
	if (!p)
		return;
	close_fd(&p->pidfd);
	close_fd(&p->in_fd);
	close_fd(&p->out_fd);
	close_fd(&p->err_fd);
	free(p);
}

int exec_status_to_exit_code(const struct exec_status *st)
{
	return st->signal ? 128 + st->signal : st->code;
}

void exec_timer_start(struct exec_timer *t, uint32_t timeout_ms, int64_t now)
{
	*t = (struct exec_timer){ .deadline = timeout_ms ? now + timeout_ms
							 : 0 };
}

void exec_timer_kill(struct exec_timer *t, struct exec_proc *p, int64_t now)
{
	exec_proc_kill_tree(p, SIGTERM);
	if (!t->kill_at)
		t->kill_at = now + EXEC_GRACE_MS;
}

int64_t exec_timer_tick(struct exec_timer *t, struct exec_proc *p, int64_t now)
{
	if (t->deadline && now >= t->deadline) {
		t->deadline = 0;
		if (!p->reaped) {
			t->timed_out = true;
			exec_timer_kill(t, p, now);
		}
	}
	if (t->kill_at && now >= t->kill_at) {
		t->kill_at = 0;
		exec_proc_kill_tree(p, SIGKILL);
	}
	if (t->deadline && t->kill_at)
		return t->deadline < t->kill_at ? t->deadline : t->kill_at;
	return t->deadline ? t->deadline : t->kill_at;
}
