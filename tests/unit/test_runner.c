/* SPDX-License-Identifier: MIT */
/* Unit tests for exec/runner: real processes through pipes and ptys, exit
 * codes and signals, env/cwd/rlimits, rusage, and killing whole trees. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runner.h"

/* Every wait in this file is bounded by this; a hang is a failure. */
#define DEADLINE_MS 10000
/* The watchdog behind it, for a blocking call that wedges anyway. */
#define TEST_ALARM_S 60

#define ARGV(...) ((char *const[]){ __VA_ARGS__, NULL })

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

static int setup_alarm(void **state)
{
	(void)state;
	alarm(TEST_ALARM_S);
	return 0;
}

struct sleeper {
	pid_t pid;
	unsigned long long start;
};

/* What the running test started, so that teardown kills it even after a
 * failed assertion jumped out of the test. */
static struct exec_proc *tracked[4];
static struct sleeper tracked_sleepers[8];
static int n_tracked_sleepers;

static void track(struct exec_proc *p)
{
	for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++) {
		if (!tracked[i]) {
			tracked[i] = p;
			return;
		}
	}
	fail_msg("too many processes in one test");
}

static void proc_free(struct exec_proc *p)
{
	for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++)
		if (tracked[i] == p)
			tracked[i] = NULL;
	exec_proc_free(p);
}

static bool stat_start(pid_t pid, unsigned long long *start);

static int teardown_kill(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++) {
		if (!tracked[i])
			continue;
		exec_proc_kill_tree(tracked[i], SIGKILL);
		exec_proc_reap(tracked[i], true);
		exec_proc_free(tracked[i]);
		tracked[i] = NULL;
	}
	/* Sleepers the tree kill may have missed, if it is what failed. */
	for (int i = 0; i < n_tracked_sleepers; i++) {
		const struct sleeper *sl = &tracked_sleepers[i];
		unsigned long long start;
		int fd = pidfd_open(sl->pid, 0);

		if (fd < 0)
			continue;
		if (stat_start(sl->pid, &start) && start == sl->start)
			pidfd_send_signal(fd, SIGKILL, NULL, 0);
		close(fd);
	}
	n_tracked_sleepers = 0;
	alarm(0);
	return 0;
}

static struct exec_proc_spec spec_pipes(char *const *argv)
{
	return (struct exec_proc_spec){
		.argv = argv,
		.stdin_fd = EXEC_FD_NULL,
		.stdout_fd = EXEC_FD_PIPE,
		.stderr_fd = EXEC_FD_PIPE,
	};
}

static struct exec_proc *spawn_ok(const struct exec_proc_spec *spec)
{
	struct exec_proc *p = NULL;

	assert_int_equal(exec_proc_spawn(spec, &p), 0);
	assert_non_null(p);
	track(p);
	assert_true(p->pid > 0);
	assert_true(p->pidfd >= 0);
	return p;
}

/* Appends what fd has to buf; returns false at EOF (or EIO on a pty master
 * whose slave side is gone). */
static bool read_some(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		assert_true(n == 0 || errno == EIO);
		return false;
	}
	*len += (size_t)n;
	buf[*len] = '\0';
	assert_true(*len < cap - 1);
	return true;
}

/* Reads out_fd and err_fd (those that are >= 0) to EOF. */
static void drain(struct exec_proc *p, char *out, char *err, size_t cap)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	size_t out_len = 0, err_len = 0;
	bool out_open = p->out_fd >= 0, err_open = p->err_fd >= 0;

	out[0] = err[0] = '\0';
	while (out_open || err_open) {
		struct pollfd pfd[2] = {
			{ .fd = out_open ? p->out_fd : -1, .events = POLLIN },
			{ .fd = err_open ? p->err_fd : -1, .events = POLLIN },
		};

		assert_true(remaining_ms(deadline) > 0);
		assert_true(poll(pfd, 2, remaining_ms(deadline)) >= 0);
		if (pfd[0].revents)
			out_open = read_some(p->out_fd, out, cap, &out_len);
		if (pfd[1].revents)
			err_open = read_some(p->err_fd, err, cap, &err_len);
	}
}

/* Reads a pty master until needle shows up or the slave side closes. */
static void read_until(int fd, const char *needle, char *buf, size_t cap)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	size_t len = 0;
	bool open = true;

	buf[0] = '\0';
	while (open && !strstr(buf, needle)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		assert_true(remaining_ms(deadline) > 0);
		assert_true(poll(&pfd, 1, remaining_ms(deadline)) >= 0);
		if (pfd.revents)
			open = read_some(fd, buf, cap, &len);
	}
}

/* Waits on the pidfd, so a child that never exits fails the test. */
static void wait_exit(struct exec_proc *p)
{
	struct pollfd pfd = { .fd = p->pidfd, .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, DEADLINE_MS), 1);
	assert_int_equal(exec_proc_reap(p, false), 1);
	assert_true(p->reaped);
	/* Idempotent once reaped. */
	assert_int_equal(exec_proc_reap(p, true), 1);
}

/* Runs spec to completion; returns the reaped proc (caller frees). */
static struct exec_proc *run(const struct exec_proc_spec *spec, char *out,
			     char *err, size_t cap)
{
	struct exec_proc *p = spawn_ok(spec);

	drain(p, out, err, cap);
	wait_exit(p);
	return p;
}

static void make_tmpdir(char *buf, size_t cap)
{
	snprintf(buf, cap, "/tmp/tether-test-runner.XXXXXX");
	assert_non_null(mkdtemp(buf));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

struct pstat {
	char state;
	pid_t ppid, pgid, sid;
	unsigned long long start;
};

/* Unrelated processes come and go during a scan: never assert in here. */
static bool stat_try(pid_t pid, struct pstat *st)
{
	char path[64], buf[1024];
	const char *s;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	s = strrchr(buf, ')');
	return s && sscanf(s + 1,
			   " %c %d %d %d %*d %*d %*u %*u %*u %*u %*u"
			   " %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			   &st->state, &st->ppid, &st->pgid, &st->sid,
			   &st->start) == 5;
}

static void test_stdout_stderr_separate(void **state)
{
	struct exec_proc_spec spec =
		spec_pipes(ARGV("sh", "-c", "echo out; echo err >&2"));
	char out[256], err[256];
	struct exec_proc *p = run(&spec, out, err, sizeof(out));

	assert_string_equal(out, "out\n");
	assert_string_equal(err, "err\n");
	assert_int_equal(p->status.code, 0);
	assert_int_equal(p->status.signal, 0);
	proc_free(p);
}

static void test_exit_code(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV("sh", "-c", "exit 3"));
	char out[64], err[64];
	struct exec_proc *p = run(&spec, out, err, sizeof(out));

	assert_int_equal(p->status.code, 3);
	assert_int_equal(p->status.signal, 0);
	assert_int_equal(exec_status_to_exit_code(&p->status), 3);
	proc_free(p);
}

static void test_sigkill(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV("sleep", "300"));
	struct exec_proc *p = spawn_ok(&spec);
	struct pstat st;

	/* A new session: the pid is also the group and session id. */
	assert_true(stat_try(p->pid, &st));
	assert_int_equal(st.ppid, getpid());
	assert_int_equal(st.pgid, p->pid);
	assert_int_equal(st.sid, p->pid);
	assert_int_equal(exec_proc_reap(p, false), 0);
	assert_int_equal(exec_proc_signal(p, SIGKILL), 0);
	wait_exit(p);
	assert_int_equal(p->status.signal, SIGKILL);
	assert_int_equal(exec_status_to_exit_code(&p->status), 137);
	/* The group is empty now. */
	assert_int_equal(exec_proc_signal(p, 0), -ESRCH);
	proc_free(p);
}

/* Counts the lines of env(1) output that start with prefix. */
static int env_count(char *out, const char *prefix)
{
	char *save = NULL;
	int n = 0;

	for (char *l = strtok_r(out, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save))
		n += strncmp(l, prefix, strlen(prefix)) == 0;
	return n;
}

static void test_env(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV("env"));
	char out[16384], copy[16384], err[256];
	struct exec_proc *p;

	assert_int_equal(setenv("FOO", "parent", 1), 0);
	assert_int_equal(setenv("TETHER_KEEP", "kept", 1), 0);
	spec.env_add = ARGV("FOO=first", "TETHER_NEW=new", "FOO=child");
	p = run(&spec, out, err, sizeof(out));
	assert_int_equal(p->status.code, 0);
	proc_free(p);
	/* Exactly one FOO, the last env_add one: getenv() takes the first
	 * match, so a leftover duplicate would decide what programs see. */
	memcpy(copy, out, sizeof(out));
	assert_int_equal(env_count(copy, "FOO="), 1);
	memcpy(copy, out, sizeof(out));
	assert_int_equal(env_count(copy, "FOO=child"), 1);
	memcpy(copy, out, sizeof(out));
	assert_int_equal(env_count(copy, "TETHER_NEW=new"), 1);
	memcpy(copy, out, sizeof(out));
	assert_int_equal(env_count(copy, "TETHER_KEEP=kept"), 1);

	spec.argv = ARGV("sh", "-c", "echo \"$FOO\"");
	p = run(&spec, out, err, sizeof(out));
	assert_string_equal(out, "child\n");
	proc_free(p);

	/* The merged PATH is the one searched. */
	spec.env_add = ARGV("PATH=/nonexistent");
	assert_int_equal(exec_proc_spawn(&spec, &p), -ENOENT);
	spec.env_add = ARGV("NO_EQUALS_SIGN");
	assert_int_equal(exec_proc_spawn(&spec, &p), -EINVAL);
	unsetenv("FOO");
	unsetenv("TETHER_KEEP");
}

static void test_cwd(void **state)
{
	char dir[64], real[PATH_MAX], script[128], out[PATH_MAX + 16], err[256],
		want[PATH_MAX + 16];
	struct exec_proc_spec spec = spec_pipes(ARGV("pwd"));
	struct exec_proc *p;

	make_tmpdir(dir, sizeof(dir));
	assert_non_null(realpath(dir, real));
	spec.cwd = dir;
	p = run(&spec, out, err, sizeof(out));
	snprintf(want, sizeof(want), "%s\n", real);
	assert_string_equal(out, want);
	proc_free(p);

	/* A relative program path is relative to the child's cwd. */
	snprintf(script, sizeof(script), "%s/hello", dir);
	write_file(script, "#!/bin/sh\necho hello from cwd\n", 0755);
	spec.argv = ARGV("./hello");
	p = run(&spec, out, err, sizeof(out));
	assert_string_equal(out, "hello from cwd\n");
	assert_int_equal(p->status.code, 0);
	proc_free(p);
	assert_int_equal(unlink(script), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_missing_program(void **state)
{
	struct exec_proc_spec spec =
		spec_pipes(ARGV("tether-test-no-such-program"));
	struct exec_proc *p = NULL;

	assert_int_equal(exec_proc_spawn(&spec, &p), -ENOENT);
	spec.argv = ARGV("/nonexistent/program");
	assert_int_equal(exec_proc_spawn(&spec, &p), -ENOENT);
	spec.argv = ARGV("");
	assert_int_equal(exec_proc_spawn(&spec, &p), -ENOENT);
	assert_null(p);
}

static void test_not_executable(void **state)
{
	char dir[64], file[128], path_var[128];
	struct exec_proc_spec spec = spec_pipes(NULL);
	struct exec_proc *p = NULL;

	make_tmpdir(dir, sizeof(dir));
	snprintf(file, sizeof(file), "%s/script", dir);
	write_file(file, "#!/bin/sh\necho should not run\n", 0644);
	spec.argv = ARGV(file);
	assert_int_equal(exec_proc_spawn(&spec, &p), -EACCES);
	spec.argv = ARGV(dir);
	assert_int_equal(exec_proc_spawn(&spec, &p), -EACCES);
	/* Found only as a non-executable file in PATH: EACCES, as execvp. */
	snprintf(path_var, sizeof(path_var), "PATH=/nonexistent:%s", dir);
	spec.env_add = ARGV(path_var);
	spec.argv = ARGV("script");
	assert_int_equal(exec_proc_spawn(&spec, &p), -EACCES);
	assert_null(p);
	assert_int_equal(unlink(file), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_bad_cwd(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV("true"));
	struct exec_proc *p = NULL;

	spec.cwd = "/nonexistent/dir";
	assert_int_equal(exec_proc_spawn(&spec, &p), -ENOENT);
	spec.cwd = "/etc/passwd";
	assert_int_equal(exec_proc_spawn(&spec, &p), -ENOTDIR);
	assert_null(p);
	/* The child that reported the failure was reaped, not left behind. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

static void test_stdin_pipe(void **state)
{
	static const char msg[] = "hello runner\n";
	struct exec_proc_spec spec = spec_pipes(ARGV("cat"));
	char out[256], err[256];
	struct exec_proc *p;

	spec.stdin_fd = EXEC_FD_PIPE;
	p = spawn_ok(&spec);
	assert_true(p->in_fd >= 0);
	assert_int_equal(write(p->in_fd, msg, strlen(msg)),
			 (ssize_t)strlen(msg));
	exec_proc_close_stdin(p);
	assert_int_equal(p->in_fd, -1);
	drain(p, out, err, sizeof(out));
	wait_exit(p);
	assert_string_equal(out, msg);
	assert_int_equal(p->status.code, 0);
	proc_free(p);
}

static void test_stdin_null(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV(
		"sh", "-c", "if read x; then echo data; else echo eof; fi"));
	char out[64], err[64];
	struct exec_proc *p = run(&spec, out, err, sizeof(out));

	assert_int_equal(p->in_fd, -1);
	assert_string_equal(out, "eof\n");
	proc_free(p);
}

/* One caller fd for two streams, and caller fds 0-2 crossed over: stdout
 * goes to the caller's fd 2 and stderr to its fd 1. */
static void test_caller_fds(void **state)
{
	struct exec_proc_spec spec =
		spec_pipes(ARGV("sh", "-c", "echo out; echo err >&2"));
	int a[2], b[2], saved1, saved2, r;
	char buf[256];
	ssize_t n;
	struct exec_proc *p = NULL;

	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	spec.stdout_fd = spec.stderr_fd = a[1];
	p = spawn_ok(&spec);
	close(a[1]);
	wait_exit(p);
	n = read(a[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "out\nerr\n");
	close(a[0]);
	proc_free(p);

	assert_int_equal(pipe2(a, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b, O_CLOEXEC), 0);
	fflush(stdout);
	fflush(stderr);
	saved1 = dup(1);
	saved2 = dup(2);
	assert_true(saved1 >= 0 && saved2 >= 0);
	dup2(a[1], 2);
	dup2(b[1], 1);
	spec.stdout_fd = 2;
	spec.stderr_fd = 1;
	r = exec_proc_spawn(&spec, &p);
	if (r == 0)
		track(p);
	dup2(saved1, 1);
	dup2(saved2, 2);
	close(saved1);
	close(saved2);
	close(a[1]);
	close(b[1]);
	assert_int_equal(r, 0);
	wait_exit(p);
	n = read(a[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "out\n");
	n = read(b[0], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "err\n");
	close(a[0]);
	close(b[0]);
	proc_free(p);
}

/* The pty is the controlling terminal too: /dev/tty opens. */
static void test_tty(void **state)
{
	struct exec_proc_spec spec = {
		.argv = ARGV("sh", "-c",
			     "test -t 0 && test -t 1 && test -t 2 && "
			     ": >/dev/tty && stty size"),
		.tty = true,
		.rows = 40,
		.cols = 120,
	};
	struct exec_proc *p = spawn_ok(&spec);
	char buf[256];

	assert_true(p->in_fd >= 0);
	assert_true(p->out_fd >= 0);
	assert_int_equal(p->err_fd, -1);
	read_until(p->out_fd, "40 120", buf, sizeof(buf));
	assert_non_null(strstr(buf, "40 120"));
	wait_exit(p);
	assert_int_equal(p->status.code, 0);
	proc_free(p);
}

static void test_tty_resize(void **state)
{
	struct exec_proc_spec spec = {
		.argv = ARGV("sh", "-c", "stty size; read x; stty size"),
		.tty = true,
	};
	struct exec_proc *p = spawn_ok(&spec);
	char buf[256];

	/* rows = cols = 0: the classic 24x80. */
	read_until(p->out_fd, "24 80", buf, sizeof(buf));
	assert_non_null(strstr(buf, "24 80"));
	assert_int_equal(exec_proc_resize(p, 50, 132), 0);
	assert_int_equal(write(p->in_fd, "go\n", 3), 3);
	read_until(p->out_fd, "50 132", buf, sizeof(buf));
	assert_non_null(strstr(buf, "50 132"));
	wait_exit(p);
	assert_int_equal(p->status.code, 0);
	proc_free(p);

	/* Without a pty there is nothing to resize. */
	spec = spec_pipes(ARGV("true"));
	spec.stdin_fd = EXEC_FD_PIPE;
	p = spawn_ok(&spec);
	assert_int_equal(exec_proc_resize(p, 50, 132), -ENOTTY);
	exec_proc_close_stdin(p);
	assert_int_equal(exec_proc_resize(p, 50, 132), -ENOTTY);
	wait_exit(p);
	proc_free(p);
}

/* Under a pty "close stdin" is the terminal's EOF character. */
static void test_tty_close_stdin(void **state)
{
	struct exec_proc_spec spec = { .argv = ARGV("cat"), .tty = true };
	struct exec_proc *p = spawn_ok(&spec);
	char buf[256];

	assert_int_equal(write(p->in_fd, "abc\n", 4), 4);
	exec_proc_close_stdin(p);
	read_until(p->out_fd, "no such output", buf, sizeof(buf));
	wait_exit(p);
	assert_non_null(strstr(buf, "abc"));
	assert_int_equal(p->status.code, 0);
	proc_free(p);
}

static void test_rlimit(void **state)
{
	const struct exec_rlimit rl[] = {
		{ .resource = RLIMIT_NOFILE, .soft = 64, .hard = 64 },
	};
	struct exec_proc_spec spec = spec_pipes(ARGV("sh", "-c", "ulimit -n"));
	char out[64], err[64];
	struct exec_proc *p;

	spec.rlimits = rl;
	spec.n_rlimits = 1;
	p = run(&spec, out, err, sizeof(out));
	assert_string_equal(out, "64\n");
	proc_free(p);
}

static void test_rusage(void **state)
{
	struct exec_proc_spec spec = spec_pipes(
		ARGV("sh", "-c",
		     "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"));
	char out[64], err[64];
	struct exec_proc *p = run(&spec, out, err, sizeof(out));

	assert_int_equal(p->status.code, 0);
	assert_true(p->status.user_us > 0);
	assert_true(p->status.maxrss_kb > 0);
	assert_true(p->status.wall_us >= p->status.user_us / 2);
	proc_free(p);

	spec.argv = ARGV("sleep", "0.2");
	p = run(&spec, out, err, sizeof(out));
	assert_true(p->status.wall_us >= 200000);
	assert_true(p->status.wall_us < DEADLINE_MS * 1000ULL);
	proc_free(p);
}

/* The child starts with default dispositions and an empty mask even when
 * the parent ignores or blocks signals. */
static void test_signal_state(void **state)
{
	struct exec_proc_spec spec = spec_pipes(
		ARGV("grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"));
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int;
	sigset_t usr1, old_mask;
	char out[256], err[64];
	struct exec_proc *p;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	assert_int_equal(sigaction(SIGINT, &ign, &old_int), 0);
	assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
	p = run(&spec, out, err, sizeof(out));
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	assert_string_equal(out, "SigBlk:\t0000000000000000\n"
				 "SigIgn:\t0000000000000000\n");
	proc_free(p);
}

#define THREADS		  4
#define ROUNDS_PER_THREAD 25

/* One cat round trip without cmocka asserts, which must stay on the main
 * thread. Returns 0 when "ping" came back and cat exited 0. */
static int cat_round_trip(void)
{
	struct exec_proc_spec spec = spec_pipes(ARGV("cat"));
	int64_t deadline = now_ms() + DEADLINE_MS;
	struct exec_proc *p = NULL;
	char buf[16];
	size_t len = 0;
	int r = -1;

	spec.stdin_fd = EXEC_FD_PIPE;
	if (exec_proc_spawn(&spec, &p) < 0)
		return -1;
	if (write(p->in_fd, "ping", 4) != 4)
		goto out;
	exec_proc_close_stdin(p);
	/* EOF only comes once no other child holds the write end: a leak of
	 * our pipe into a sibling thread's child shows up as a timeout. */
	for (;;) {
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, remaining_ms(deadline)) <= 0)
			goto out;
		n = read(p->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN)
			goto out;
		len += n > 0 ? (size_t)n : 0;
		if (len == sizeof(buf) - 1)
			goto out;
	}
	if (len == 4 && memcmp(buf, "ping", 4) == 0 &&
	    exec_proc_reap(p, true) == 1 && p->status.code == 0)
		r = 0;
out:
	exec_proc_kill_tree(p, SIGKILL);
	exec_proc_reap(p, true);
	exec_proc_free(p);
	return r;
}

static void *spawn_thread(void *arg)
{
	int *failures = arg;

	for (int i = 0; i < ROUNDS_PER_THREAD; i++)
		*failures += cat_round_trip() != 0;
	return NULL;
}

/* The runner's callers are threaded (nng): spawns racing each other must
 * not leak one command's pipe ends into another's child. */
static void test_threaded_spawn(void **state)
{
	pthread_t t[THREADS];
	int failures[THREADS] = { 0 };

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, spawn_thread,
						&failures[i]),
				 0);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(failures[i], 0);
	}
}

static void test_fds_not_inherited(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV("ls", "/proc/self/fd"));
	char out[1024], err[256], *save = NULL;
	int leak, pfd[2], n = 0;
	struct exec_proc *p;

	/* Deliberately without O_CLOEXEC, at a number ls would not pick. */
	leak = open("/etc/passwd", O_RDONLY);
	assert_true(leak >= 0);
	assert_int_equal(dup2(leak, 40), 40);
	assert_int_equal(pipe(pfd), 0);
	p = run(&spec, out, err, sizeof(out));
	for (char *t = strtok_r(out, " \n", &save); t;
	     t = strtok_r(NULL, " \n", &save), n++) {
		/* 0-2, plus the directory ls has open while listing. */
		assert_true(strcmp(t, "0") == 0 || strcmp(t, "1") == 0 ||
			    strcmp(t, "2") == 0 || strcmp(t, "3") == 0);
	}
	assert_true(n >= 3 && n <= 4);
	proc_free(p);
	close(leak);
	close(40);
	close(pfd[0]);
	close(pfd[1]);
}

static bool stat_start(pid_t pid, unsigned long long *start)
{
	struct pstat st;

	if (!stat_try(pid, &st))
		return false;
	*start = st.start;
	return true;
}

/* Is cmdline (NUL-separated, n bytes) "<anything> 300"? */
static bool is_sleeper(const char *cmd, size_t n)
{
	size_t a0 = strnlen(cmd, n);

	return a0 + 5 == n && memcmp(cmd + a0 + 1, "300", 4) == 0;
}

/* Live descendants of root whose command is "<prog> 300". */
static int find_sleepers(pid_t root, struct sleeper *out, int max)
{
	pid_t tree[256];
	int n_tree = 1, found = 0;
	bool grew = true;

	tree[0] = root;
	while (grew) {
		DIR *d = opendir("/proc");
		struct dirent *de;

		assert_non_null(d);
		grew = false;
		while ((de = readdir(d))) {
			pid_t pid = (pid_t)atoi(de->d_name);
			char path[64], cmd[256];
			bool known = false, child = false;
			struct pstat st;
			ssize_t n;
			int fd;

			if (pid <= 0 || !stat_try(pid, &st) || st.state == 'Z')
				continue;
			for (int i = 0; i < n_tree; i++) {
				known |= tree[i] == pid;
				child |= tree[i] == st.ppid;
			}
			if (known || !child)
				continue;
			assert_true(n_tree < 256);
			tree[n_tree++] = pid;
			grew = true;
			snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, cmd, sizeof(cmd));
			close(fd);
			if (n > 0 && is_sleeper(cmd, (size_t)n) && found < max)
				out[found++] =
					(struct sleeper){ pid, st.start };
		}
		closedir(d);
	}
	return found;
}

static int wait_sleepers(pid_t root, struct sleeper *out, int want)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	int n;

	while ((n = find_sleepers(root, out, want)) < want &&
	       remaining_ms(deadline) > 0)
		poll(NULL, 0, 10);
	for (int i = 0; i < n && n_tracked_sleepers < 8; i++)
		tracked_sleepers[n_tracked_sleepers++] = out[i];
	assert_int_equal(n, want);
	return n;
}

/* Gone, a zombie nobody reaped yet, or its pid reused by someone else. */
static bool sleeper_dead(const struct sleeper *s)
{
	struct pstat st;

	return !stat_try(s->pid, &st) || st.state == 'Z' ||
	       st.start != s->start;
}

static void kill_tree_and_check(struct exec_proc *p, struct sleeper *s, int n,
				int min_count)
{
	int64_t deadline;

	assert_true(exec_proc_tree_alive(p));
	assert_true(exec_proc_kill_tree(p, SIGKILL) >= min_count);
	wait_exit(p);
	assert_int_equal(p->status.signal, SIGKILL);
	deadline = now_ms() + DEADLINE_MS;
	while (exec_proc_tree_alive(p) && remaining_ms(deadline) > 0)
		poll(NULL, 0, 10);
	assert_false(exec_proc_tree_alive(p));
	for (int i = 0; i < n; i++) {
		deadline = now_ms() + DEADLINE_MS;
		while (!sleeper_dead(&s[i]) && remaining_ms(deadline) > 0)
			poll(NULL, 0, 10);
		assert_true(sleeper_dead(&s[i]));
	}
}

static void test_kill_tree_grandchildren(void **state)
{
	struct exec_proc_spec spec = spec_pipes(ARGV(
		"sh", "-c", "sleep 300 & sleep 300 & setsid sleep 300 & wait"));
	struct sleeper s[3];
	struct exec_proc *p = spawn_ok(&spec);
	int n = wait_sleepers(p->pid, s, 3);

	/* sh and its three sleeps. */
	kill_tree_and_check(p, s, n, 4);
	proc_free(p);
}

static void test_kill_tree_own_group(void **state)
{
	/* bash with job control gives the background job its own group. */
	struct exec_proc_spec spec =
		spec_pipes(ARGV("bash", "-c", "set -m; sleep 300 & wait"));
	struct sleeper s[1];
	struct exec_proc *p = spawn_ok(&spec);
	int n = wait_sleepers(p->pid, s, 1);
	struct pstat st;

	assert_true(stat_try(s[0].pid, &st));
	assert_int_not_equal(st.pgid, p->pid);
	assert_int_equal(st.sid, p->pid);
	kill_tree_and_check(p, s, n, 2);
	proc_free(p);
}

/* The leader is reaped but its group lives on: signalling still works. */
static void test_signal_after_reap(void **state)
{
	struct exec_proc_spec spec =
		spec_pipes(ARGV("sh", "-c", "sleep 300 & exit 0"));
	struct exec_proc *p = spawn_ok(&spec);
	int64_t deadline;
	struct sleeper s[1];

	wait_exit(p);
	assert_int_equal(p->status.code, 0);
	assert_true(exec_proc_tree_alive(p));
	assert_int_equal(exec_proc_signal(p, 0), 0);
	assert_int_equal(exec_proc_signal(p, SIGKILL), 0);
	deadline = now_ms() + DEADLINE_MS;
	while (exec_proc_tree_alive(p) && remaining_ms(deadline) > 0)
		poll(NULL, 0, 10);
	assert_false(exec_proc_tree_alive(p));
	assert_int_equal(find_sleepers(p->pid, s, 1), 0);
	proc_free(p);
}

/* Orphaned but still in the session (a job-control shell that exited): only
 * the session id ties it to the command. */
static void test_kill_tree_session_orphan(void **state)
{
	struct exec_proc_spec spec = spec_pipes(
		ARGV("bash", "-c", "set -m; sleep 300 & read x; exit 0"));
	struct sleeper s[1];
	struct exec_proc *p;
	int64_t deadline;

	spec.stdin_fd = EXEC_FD_PIPE;
	p = spawn_ok(&spec);
	wait_sleepers(p->pid, s, 1);
	exec_proc_close_stdin(p);
	wait_exit(p);
	assert_int_equal(p->status.code, 0);
	assert_true(exec_proc_tree_alive(p));
	assert_int_equal(exec_proc_kill_tree(p, SIGKILL), 1);
	deadline = now_ms() + DEADLINE_MS;
	while (exec_proc_tree_alive(p) && remaining_ms(deadline) > 0)
		poll(NULL, 0, 10);
	assert_false(exec_proc_tree_alive(p));
	assert_true(sleeper_dead(&s[0]));
	proc_free(p);
}

/* A process in its own session is found only through its ppid, which in
 * /proc/PID/stat follows a comm that here holds spaces and parentheses. */
static void test_kill_tree_odd_comm(void **state)
{
	char dir[64], prog[128], cmd[256];
	struct exec_proc_spec spec = spec_pipes(NULL);
	struct sleeper s[1];
	struct exec_proc *p;
	int n;

	make_tmpdir(dir, sizeof(dir));
	snprintf(prog, sizeof(prog), "%s/a) b (c) d", dir);
	snprintf(cmd, sizeof(cmd), "cp /bin/sleep '%s'", prog);
	assert_int_equal(system(cmd), 0);
	spec.argv = ARGV("sh", "-c", "setsid \"$0\" 300 & wait", prog);
	p = spawn_ok(&spec);
	n = wait_sleepers(p->pid, s, 1);
	kill_tree_and_check(p, s, n, 2);
	proc_free(p);
	assert_int_equal(unlink(prog), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup_alarm, teardown_kill)
		T(test_stdout_stderr_separate),
		T(test_exit_code),
		T(test_sigkill),
		T(test_env),
		T(test_cwd),
		T(test_missing_program),
		T(test_not_executable),
		T(test_bad_cwd),
		T(test_stdin_pipe),
		T(test_stdin_null),
		T(test_caller_fds),
		T(test_tty),
		T(test_tty_resize),
		T(test_tty_close_stdin),
		T(test_rlimit),
		T(test_rusage),
		T(test_signal_state),
		T(test_fds_not_inherited),
		T(test_threaded_spawn),
		T(test_kill_tree_grandchildren),
		T(test_kill_tree_own_group),
		T(test_signal_after_reap),
		T(test_kill_tree_session_orphan),
		T(test_kill_tree_odd_comm),
#undef T
	};

	/* A write to a child that already exited must fail, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
