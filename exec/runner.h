/* SPDX-License-Identifier: MIT */
/* The process runner every backend uses: fork/exec with pipes or a pty, a
 * new session per command, rlimits, reaping with rusage, tree kill. */
#ifndef TETHER_RUNNER_H
#define TETHER_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Where a standard stream of the child comes from or goes to. */
enum {
	EXEC_FD_PIPE = -2, /* a new pipe; the parent end lands in the proc */
	EXEC_FD_NULL = -1, /* /dev/null */
	/* >= 0: this descriptor of the caller, dup2'ed into the child */
};

struct exec_rlimit {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};

struct exec_proc_spec {
	char *const *argv;    /* borrowed; argv[0] searched in PATH */
	char *const *env_add; /* "K=V" over the parent's environ; may be NULL */
	const char *cwd;      /* NULL: inherit */
	bool tty;	      /* child on a new pty; stdio fields ignored */
	uint16_t rows, cols;  /* pty window size (0: 24x80) */
	int stdin_fd, stdout_fd, stderr_fd; /* EXEC_FD_* or a descriptor */
	const struct exec_rlimit *rlimits;
	size_t n_rlimits;
	/* SIGKILL the child when the thread that spawned it dies (including
	 * a kill -9 of the whole process): PR_SET_PDEATHSIG. Only for
	 * spawning threads that live as long as their commands should. */
	bool die_with_parent;
};

struct exec_status {
	int code;   /* exit status when signal == 0 */
	int signal; /* terminating signal or 0 */
	uint64_t wall_us, user_us, sys_us, maxrss_kb;
};

struct exec_proc {
	pid_t pid;  /* also the process group and session id */
	int pidfd;  /* readable when the child exits; for poll/epoll */
	int in_fd;  /* parent end: stdin pipe, or the pty master */
	int out_fd; /* parent end: stdout pipe, or the pty master dup */
	int err_fd; /* parent end: stderr pipe; -1 under a pty */
	struct timespec started; /* CLOCK_MONOTONIC */
	bool reaped;
	struct exec_status status; /* valid once reaped */
};

/* exec_proc_spawn: start spec->argv in a new session (setsid; under a pty it
 * is the controlling terminal). The child gets default signal dispositions,
 * an empty signal mask, only fds 0-2, the rlimits, and cwd. PATH lookup and
 * the environment are prepared before fork (the parent may be threaded).
 * Parent ends are O_CLOEXEC and O_NONBLOCK.
 * Returns 0 and *ret (free with exec_proc_free), or -errno: -ENOENT when the
 * program is not found, -EACCES not executable, -ENOENT/-ENOTDIR for a bad
 * cwd (reported from the child through a cloexec pipe), -EMFILE, ... */
int exec_proc_spawn(const struct exec_proc_spec *spec, struct exec_proc **ret);

/* Signal the command's process group. Returns 0, -ESRCH when gone. */
int exec_proc_signal(struct exec_proc *p, int sig);

/* Signal the whole tree: the process group, every process of the session,
 * and every descendant found through /proc (covers children that changed
 * their group). Returns the number of processes signalled (>= 0). */
int exec_proc_kill_tree(struct exec_proc *p, int sig);

/* True while any process of the tree (as above) is alive. */
bool exec_proc_tree_alive(struct exec_proc *p);

/* Reap if exited: returns 1 and fills p->status (wall time measured from
 * p->started), 0 if still running (or block to wait), -errno on error.
 * Idempotent once reaped. */
int exec_proc_reap(struct exec_proc *p, bool block);

/* Set the pty window size (TIOCSWINSZ; the kernel sends SIGWINCH).
 * -ENOTTY when the command has no pty. */
int exec_proc_resize(struct exec_proc *p, uint16_t rows, uint16_t cols);

/* Close the stdin end (EOF for the child). */
void exec_proc_close_stdin(struct exec_proc *p);

/* Close every parent fd; does not kill or reap. Accepts NULL. */
void exec_proc_free(struct exec_proc *p);

/* The kill policy every backend shares: at the timeout, SIGTERM to the
 * whole tree; EXEC_GRACE_MS later, SIGKILL. Times are util_now_ms(). */
#define EXEC_GRACE_MS 2000

struct exec_timer {
	int64_t deadline; /* timeout, 0 = none or passed */
	int64_t kill_at;  /* SIGKILL due, 0 = none */
	bool timed_out;	  /* the timeout fired while the command ran */
};

/* Arm the timeout (0 = none). */
void exec_timer_start(struct exec_timer *t, uint32_t timeout_ms, int64_t now);

/* Start the kill sequence now (client gone, shutdown): TERM the tree and
 * schedule KILL. Does not count as a timeout. */
void exec_timer_kill(struct exec_timer *t, struct exec_proc *p, int64_t now);

/* Act on what is due at now; returns the next due time, 0 if none. */
int64_t exec_timer_tick(struct exec_timer *t, struct exec_proc *p, int64_t now);

/* 128+N for a signal, the code otherwise: the shell/ssh convention. */
int exec_status_to_exit_code(const struct exec_status *st);

#endif
