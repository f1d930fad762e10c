/* SPDX-License-Identifier: MIT */
/* Backend "plugin": a custom backend, a shared object (tether_backend.h)
 * set up from the backend's "options". tether never loads it into itself:
 * tether-plugin (cli/tether_plugin.c), a dynamically linked program next
 * to tether, does, in a process of its own for the backend's lifetime.
 * So a static tether runs plugins too, and a plugin that crashes is one
 * error line. Each command goes to it as an EXEC_START on a socketpair
 * with the command's descriptors attached (transport/fdframe.h): the
 * plugin's commands write to the caller's stdout and stderr directly. The
 * signals the caller gets are forwarded to tether-plugin, which hands them
 * to the plugin. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdframe.h"
#include "log.h"
#include "remote.h"
#include "selfexe.h"

extern char **environ;

#define OPTIONS_VAR    "TETHER_PLUGIN_OPTIONS"
#define HELPER_EXIT_MS 5000 /* after the channel's end, or it is killed */

struct plugin {
	pid_t pid;
	int sock;
};

/* Start tether-plugin (exe) for the shared object path, its channel chan
 * on fd 3 and options in OPTIONS_VAR: the pid, or -errno. */
static pid_t spawn_helper(const char *exe, const char *path,
			  const char *options, int chan)
{
	char *argv[] = { "tether-plugin", (char *)path, NULL }, **env, *var;
	size_t n = 0, k = 0;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	int r;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env || asprintf(&var, OPTIONS_VAR "=%s", options) < 0) {
		free(env);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], OPTIONS_VAR "=",
			    strlen(OPTIONS_VAR "=")) != 0)
			env[k++] = environ[i];
	env[k] = var;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* A process group of its own: a terminal's signals reach it once,
	 * forwarded by tether, not a second time from the terminal. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, chan, 3);
	r = posix_spawn(&pid, exe, &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(var);
	free(env);
	return r ? -r : pid;
}

/* How the helper ended, for an error line: it is reaped here. */
static void helper_end(pid_t pid, char *out, size_t cap)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		snprintf(out, cap, "it is gone");
	else if (WIFSIGNALED(st))
		snprintf(out, cap, "it was killed by signal %d (%s)",
			 WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(out, cap, "it exited %d", WEXITSTATUS(st));
}

/* The helper's next reply, decoded into *m from *frame (free it). 0;
 * -ECONNRESET when the helper ended (reaped, the line logged), or the
 * channel's -errno (logged). */
static int reply(struct exec_backend *b, struct plugin *p, uint8_t **frame,
		 struct tp_msg *m)
{
	struct tp_decode_err de = { 0 };
	char why[128];
	unsigned nfds;
	size_t len;
	int r = tp_fd_recv(p->sock, frame, &len, NULL, &nfds, 0);

	if (r == -ECONNRESET) {
		helper_end(p->pid, why, sizeof(why));
		p->pid = -1;
		log_error("backend %s: tether-plugin, which runs %s, ended: %s",
			  b->name, b->plugin_path, why);
		return r;
	}
	if (r >= 0)
		r = tp_msg_decode(*frame, len, m, &de);
	if (r >= 0 && m->type != TP_OK && m->type != TP_ERROR &&
	    m->type != TP_EXEC_OUTPUT) {
		r = -EPROTO;
		snprintf(de.what, sizeof(de.what), "message type %u", m->type);
	}
	if (r < 0)
		log_error("backend %s: tether-plugin's channel: %s%s%s",
			  b->name, strerror(-r), de.what[0] ? ": " : "",
			  de.what);
	return r;
}

/* End the channel and give the helper a while to close the plugin and
 * exit (its end of the channel closes then); then kill it. */
static void stop_helper(struct plugin *p)
{
	struct pollfd pf = { .fd = p->sock, .events = POLLIN };
	char c;

	if (p->pid > 0) {
		(void)shutdown(p->sock, SHUT_WR);
		while (poll(&pf, 1, HELPER_EXIT_MS) < 0 && errno == EINTR)
			;
		if (pf.revents == 0 || recv(p->sock, &c, 1, MSG_DONTWAIT) != 0)
			kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	close(p->sock);
}

static int plugin_prepare(struct exec_backend *b)
{
	char exe[PATH_MAX] = "tether-plugin";
	struct plugin *p;
	struct tp_msg m;
	uint8_t *frame = NULL;
	int sv[2], r;

	r = util_sibling_exe("tether-plugin", exe, sizeof(exe));
	if (r < 0)
		return log_error_errno(r,
				       "backend %s: %s (the program that runs "
				       "custom backends, next to tether)",
				       b->name, exe);
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		free(p);
		return log_error_errno(r, "backend %s: socketpair", b->name);
	}
	p->sock = sv[0];
	p->pid = spawn_helper(exe, b->plugin_path,
			      b->plugin_options ? b->plugin_options : "{}",
			      sv[1]);
	close(sv[1]);
	if (p->pid < 0) {
		r = p->pid;
		log_error_errno(r, "backend %s: %s", b->name, exe);
	} else {
		r = reply(b, p, &frame, &m);
	}
	if (r >= 0 && m.type == TP_ERROR) {
		log_error("backend %s: %.*s", b->name, (int)m.error.message.len,
			  (const char *)m.error.message.ptr);
		r = -m.error.code;
	} else if (r >= 0 && m.type != TP_OK) {
		log_error("backend %s: tether-plugin's channel: no OK first",
			  b->name);
		r = -EPROTO;
	}
	free(frame);
	if (r < 0) {
		stop_helper(p);
		free(p);
		return r;
	}
	b->priv = p;
	return 0;
}

/* Until the helper's reply is in, the caller's signals go to it. */
static void forward_signals(const struct plugin *p, int sig_fd)
{
	struct pollfd pf[2] = { { .fd = p->sock, .events = POLLIN },
				{ .fd = sig_fd, .events = POLLIN } };
	struct signalfd_siginfo si;

	for (;;) {
		if (poll(pf, sig_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pf[0].revents)
			return;
		if ((pf[1].revents & POLLIN) &&
		    read(sig_fd, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_signo != SIGWINCH)
			kill(p->pid, (int)si.ssi_signo);
	}
}

static int plugin_run(struct exec_backend *b, const struct exec_spec *spec,
		      const struct exec_io *io, struct exec_result *res)
{
	struct plugin *p = b->priv;
	struct exec_spec s = *spec;
	struct tp_msg m;
	const int fds[3] = { io->out_fd, io->err_fd, io->in_fd };
	uint8_t *frame = NULL;
	int r;

	if (spec->detach || spec->tty)
		return log_error_errno(-ENOTSUP, "backend %s: %s", b->name,
				       spec->tty ? "-t" : "--detach");
	/* What a plugin is given: no workspace, no sandbox of tether's. */
	s.workspace = NULL;
	s.sandbox = NULL;
	s.forward_stdin = spec->forward_stdin && io->in_fd >= 0;
	exec_spec_start_msg(&s, &m);
	r = tp_fd_send(p->sock, &m, fds,
		       m.start.flags & TP_EXEC_F_STDIN ? 3 : 2);
	if (r == -EMSGSIZE)
		return log_error_errno(r,
				       "backend %s: the command's argv and "
				       "environment are too large",
				       b->name);
	if (r < 0)
		return log_error_errno(r, "backend %s: tether-plugin", b->name);
	forward_signals(p, io->sig_fd);
	r = reply(b, p, &frame, &m);
	if (r >= 0 && m.type == TP_ERROR) {
		r = -m.error.code;
		if (r == -ENOENT)
			log_error("%s: command not found", spec->argv[0]);
		else
			log_error("backend %s: %.*s", b->name,
				  (int)m.error.message.len,
				  (const char *)m.error.message.ptr);
	} else if (r >= 0 && m.type == TP_EXEC_OUTPUT) {
		memset(res, 0, sizeof(*res));
		res->status.code = m.output.exit.code;
		res->status.signal = m.output.exit.signal;
		res->status.wall_us = m.output.exit.wall_us;
		res->status.user_us = m.output.exit.user_us;
		res->status.sys_us = m.output.exit.sys_us;
		res->status.maxrss_kb = m.output.exit.maxrss_kb;
		res->timed_out = m.output.exit.timed_out != 0;
	} else if (r >= 0) {
		log_error("backend %s: tether-plugin's channel: an OK for a "
			  "command",
			  b->name);
		r = -EPROTO;
	}
	free(frame);
	return r;
}

static void plugin_release(struct exec_backend *b)
{
	struct plugin *p = b->priv;

	if (!p)
		return;
	stop_helper(p);
	free(p);
	b->priv = NULL;
}

static int plugin_health(struct exec_backend *b)
{
	struct plugin *p = b->priv;

	return p && p->pid > 0 && kill(p->pid, 0) == 0 ? 0 : -ENOTCONN;
}

const struct exec_backend_ops exec_backend_plugin_ops = {
	.type = "plugin",
	.caps = 0,
	.prepare = plugin_prepare,
	.run = plugin_run,
	.release = plugin_release,
	.health = plugin_health,
};
