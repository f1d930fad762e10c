/* SPDX-License-Identifier: MIT */
/* Backend "host" (aliases "off", "none"): commands run on this machine
 * without isolation, through the process runner, with the caller's own
 * descriptors as stdio (or a pty pumped to them with -t). */
#include "backend.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static int host_prepare(struct exec_backend *b)
{
	return 0;
}

/* Copy what is readable from one fd to another; false at EOF or error. */
static bool pump(int from, int to)
{
	char buf[65536];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	for (ssize_t off = 0; off < n;) {
		ssize_t k = write(to, buf + off, (size_t)(n - off));

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			struct pollfd p = { .fd = to, .events = POLLOUT };

			if (errno != EAGAIN || poll(&p, 1, 1000) < 0)
				return false;
			continue;
		}
		off += k;
	}
	return true;
}

/* After exit: what the pty still holds, without waiting on background
 * processes that keep it open. */
static void drain(int from, int to)
{
	struct pollfd p = { .fd = from, .events = POLLIN };

	while (poll(&p, 1, 100) > 0 && pump(from, to))
		;
}

static void on_signal(struct exec_proc *p, const struct exec_io *io)
{
	struct signalfd_siginfo si;
	struct winsize ws;

	if (read(io->sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		if (ioctl(io->in_fd, TIOCGWINSZ, &ws) == 0)
			(void)exec_proc_resize(p, ws.ws_row, ws.ws_col);
		return;
	}
	(void)exec_proc_signal(p, (int)si.ssi_signo);
}

static int host_run(struct exec_backend *b, const struct exec_spec *spec,
		    const struct exec_io *io, struct exec_result *res)
{
	struct exec_proc_spec ps = {
		.argv = spec->argv,
		.env_add = spec->env,
		.cwd = spec->cwd,
		.tty = spec->tty,
		.rows = spec->rows,
		.cols = spec->cols,
		.stdin_fd = spec->forward_stdin ? io->in_fd : EXEC_FD_NULL,
		.stdout_fd = io->out_fd,
		.stderr_fd = io->err_fd,
		.die_with_parent = true, /* a client killed with -9: same end */
	};
	struct exec_timer timer;
	int64_t due = 0;
	bool in_open = spec->tty && spec->forward_stdin, out_open = spec->tty;
	struct exec_proc *p;
	int e;

	if (spec->detach)
		return log_error_errno(-ENOTSUP, "backend %s: --detach",
				       b->name);
	e = exec_proc_spawn(&ps, &p);
	if (e < 0) {
		if (e == -ENOENT)
			log_error("%s: command not found", spec->argv[0]);
		else
			log_error_errno(e, "%s", spec->argv[0]);
		return e;
	}
	memset(res, 0, sizeof(*res));
	exec_timer_start(&timer, spec->timeout_ms, util_now_ms());
	due = timer.deadline;
	for (;;) {
		struct pollfd fds[4] = {
			{ .fd = p->pidfd, .events = POLLIN },
			{ .fd = io->sig_fd, .events = POLLIN },
			{ .fd = in_open ? io->in_fd : -1, .events = POLLIN },
			{ .fd = out_open ? p->out_fd : -1, .events = POLLIN },
		};
		int64_t now = util_now_ms();
		int timeout = due ? (int)(due > now ? due - now : 0) : -1;

		if (poll(fds, 4, timeout) < 0 && errno != EINTR)
			break;
		if (fds[3].revents)
			out_open = pump(p->out_fd, io->out_fd);
		if (fds[2].revents && !pump(io->in_fd, p->in_fd)) {
			in_open = false;
			/* EOF on a terminal's stdin: pass the EOF character. */
			(void)!write(p->in_fd, "\004", 1);
		}
		if (fds[1].revents)
			on_signal(p, io);
		if (fds[0].revents && exec_proc_reap(p, false) > 0) {
			if (out_open)
				drain(p->out_fd, io->out_fd);
			break;
		}
		due = exec_timer_tick(&timer, p, util_now_ms());
	}
	if (!p->reaped)
		exec_proc_reap(p, true);
	res->timed_out = timer.timed_out;
	if (res->timed_out)
		exec_proc_kill_tree(p, SIGKILL);
	res->status = p->status;
	exec_proc_free(p);
	return 0;
}

static void host_release(struct exec_backend *b)
{
}

static int host_health(struct exec_backend *b)
{
	return 0;
}

const struct exec_backend_ops exec_backend_host_ops = {
	.type = "host",
	.caps = EXEC_CAP_TTY,
	.prepare = host_prepare,
	.run = host_run,
	.release = host_release,
	.health = host_health,
};
