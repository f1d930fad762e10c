/* SPDX-License-Identifier: MIT */
/* A custom backend for the tests (exec/tether_backend.h): runs commands on
 * this host, with TETHER_PLUGIN_TAG set to the "tag" of its options, so a
 * test sees that the command went through it. Options {"fail": "why"}
 * make open() refuse with that reason; {"crash": "run"} make run() abort,
 * as a plugin with a bug would. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tether_backend.h"

struct state {
	char tag[128];
	int crash; /* in run() */
};

/* The string value of "key" in flat JSON text, or NULL (enough here). */
static const char *value(const char *json, const char *key, char *out,
			 size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(json, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	e = strchr(p, '"');
	if (!e)
		return NULL;
	snprintf(out, cap, "%.*s", (int)(e - p), p);
	return out;
}

static int run_open(const char *options, void **state, char *err, size_t errlen)
{
	struct state *s = calloc(1, sizeof(*s));
	char why[128];

	if (!s)
		return -ENOMEM;
	if (value(options, "fail", why, sizeof(why))) {
		snprintf(err, errlen, "refused: %s", why);
		free(s);
		return -EINVAL;
	}
	if (!value(options, "tag", s->tag, sizeof(s->tag)))
		snprintf(s->tag, sizeof(s->tag), "none");
	s->crash = value(options, "crash", why, sizeof(why)) != NULL;
	*state = s;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int run_run(void *state, const struct tether_plugin_cmd *cmd,
		   struct tether_plugin_result *res, char *err, size_t errlen)
{
	struct state *s = state;
	int64_t start = now_ms();
	struct pollfd pfd[2];
	int st, in = cmd->in_fd;
	pid_t pid;

	if (s->crash)
		abort();
	if (in < 0)
		in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -errno;
	}
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (dup2(in, 0) < 0 || dup2(cmd->out_fd, 1) < 0 ||
		    dup2(cmd->err_fd, 2) < 0)
			_exit(126);
		for (char *const *e = cmd->env; *e; e++)
			putenv(*e);
		setenv("TETHER_PLUGIN_TAG", s->tag, 1);
		if (cmd->cwd && chdir(cmd->cwd) < 0)
			_exit(126);
		execvp(cmd->argv[0], cmd->argv);
		_exit(127);
	}
	if (in != cmd->in_fd)
		close(in);
	/* The command's end, its timeout and the caller's signals, at once. */
	pfd[0].fd = (int)syscall(SYS_pidfd_open, pid, 0);
	pfd[0].events = POLLIN;
	pfd[1].fd = cmd->sig_fd;
	pfd[1].events = POLLIN;
	while (waitpid(pid, &st, WNOHANG) != pid) {
		int64_t left = cmd->timeout_ms
				       ? start + cmd->timeout_ms - now_ms()
				       : -1;

		if (cmd->timeout_ms && left <= 0 && !res->timed_out) {
			res->timed_out = 1;
			kill(-pid, SIGKILL);
		}
		if (res->timed_out || pfd[0].fd < 0)
			left = 10;
		if (poll(pfd, cmd->sig_fd >= 0 ? 2 : 1, (int)left) > 0 &&
		    (pfd[1].revents & POLLIN)) {
			struct signalfd_siginfo si;

			if (read(cmd->sig_fd, &si, sizeof(si)) == sizeof(si) &&
			    si.ssi_signo != SIGWINCH)
				kill(-pid, (int)si.ssi_signo);
		}
	}
	if (pfd[0].fd >= 0)
		close(pfd[0].fd);
	res->wall_us = (uint64_t)(now_ms() - start) * 1000;
	if (WIFSIGNALED(st))
		res->signal = WTERMSIG(st);
	else
		res->exit_code = WEXITSTATUS(st);
	return 0;
}

static void run_close(void *state)
{
	free(state);
}

static const struct tether_backend_plugin table = {
	.abi = TETHER_BACKEND_ABI,
	.name = "run (test plugin)",
	.open = run_open,
	.run = run_run,
	.close = run_close,
};

__attribute__((visibility("default"))) const struct tether_backend_plugin *
tether_backend_plugin(void)
{
	return &table;
}
