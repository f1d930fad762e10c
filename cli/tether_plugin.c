/* SPDX-License-Identifier: MIT */
/* tether-plugin: runs a custom backend (exec/tether_backend.h) for tether,
 * which starts it for a backend of type "plugin" (exec/backend_plugin.c).
 * The shared object is loaded here, with dlopen, so that no tether loads
 * foreign code into itself: a static tether (which has no dynamic loader)
 * runs plugins too, and a plugin that crashes takes only this process.
 *
 *   tether-plugin PLUGIN.so   (fd 3: the channel to tether)
 *
 * TETHER_PLUGIN_OPTIONS is the backend's "options" as JSON text; it is
 * taken out of the environment before the plugin is loaded. On the channel
 * (transport/fdframe.h) this sends OK once the plugin is open, or ERROR
 * with the line that says why not. Then, per command, tether sends an
 * EXEC_START with the command's stdout and stderr (and stdin when it has
 * TP_EXEC_F_STDIN) attached, and this answers EXEC_OUTPUT with the exit,
 * or ERROR. SIGINT, SIGTERM and SIGHUP that tether forwards here reach the
 * plugin through its command's signalfd. At the channel's end the plugin
 * is closed and this exits 0. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "codec.h"
#include "fdframe.h"
#include "tether_backend.h"

#define CHANNEL_FD 3

static int send_error(int sock, int code, const char *line)
{
	struct tp_msg m = { .type = TP_ERROR };

	m.error.code = code < 0 ? -code : code;
	m.error.message.ptr = (const uint8_t *)line;
	m.error.message.len = (uint32_t)strnlen(line, TP_ERRMSG_MAX);
	return tp_fd_send(sock, &m, NULL, 0);
}

/* dlopen, the entry point, the table, open(): 0, or -errno with the line
 * (after "backend NAME: ") in err. */
static int load(const char *path, const char *options,
		const struct tether_backend_plugin **t, void **state, char *err,
		size_t errlen)
{
	const struct tether_backend_plugin *(*entry)(void);
	char why[512] = "";
	void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	int r;

	if (!dl) {
		snprintf(err, errlen, "%s", dlerror());
		return -ENOENT;
	}
	*(void **)&entry = dlsym(dl, "tether_backend_plugin");
	*t = entry ? entry() : NULL;
	if (!*t || (*t)->abi != TETHER_BACKEND_ABI || !(*t)->open ||
	    !(*t)->run) {
		snprintf(err, errlen, "%s: %s", path,
			 !entry ? "no tether_backend_plugin() in it"
			 : !*t	? "tether_backend_plugin() gave no table"
				: "not a tether backend of ABI version 1");
		return -EINVAL;
	}
	r = (*t)->open(options, state, why, sizeof(why));
	if (r < 0)
		snprintf(err, errlen, "%s: %s", (*t)->name ? (*t)->name : path,
			 why[0] ? why : strerror(-r));
	return r < 0 ? r : 0;
}

/* Signals of an earlier command that the plugin did not read. */
static void drain(int sig_fd)
{
	struct signalfd_siginfo si;

	while (read(sig_fd, &si, sizeof(si)) == sizeof(si))
		;
}

/* One EXEC_START frame with its descriptors: run it, answer. 0 to go on,
 * or -errno when the channel is broken. */
static int serve(int sock, int sig_fd, const struct tether_backend_plugin *t,
		 void *state, const uint8_t *frame, size_t len, const int *fds,
		 unsigned nfds)
{
	struct tp_msg m, reply = { .type = TP_EXEC_OUTPUT };
	struct tp_decode_err de;
	struct tether_plugin_result res = { 0 };
	struct tether_plugin_cmd cmd = { .sig_fd = sig_fd };
	char **argv = NULL, **env = NULL, *cwd = NULL, err[512] = "";
	unsigned want;
	int r;

	r = tp_msg_decode(frame, len, &m, &de);
	if (r < 0)
		return send_error(sock, r, de.what), -EPROTO;
	want = m.type == TP_EXEC_START && (m.start.flags & TP_EXEC_F_STDIN) ? 3
									    : 2;
	if (m.type != TP_EXEC_START || nfds != want)
		return send_error(sock, EPROTO,
				  "tether-plugin: expected EXEC_START with "
				  "the command's descriptors"),
		       -EPROTO;
	argv = tp_strv_dup(&m.start.argv);
	env = tp_strv_dup(&m.start.env);
	if (m.start.cwd.len)
		cwd = strndup((const char *)m.start.cwd.ptr, m.start.cwd.len);
	if (!argv || !env || (m.start.cwd.len && !cwd)) {
		r = send_error(sock, ENOMEM, "tether-plugin: out of memory");
		goto out;
	}
	cmd.argv = argv;
	cmd.env = env;
	cmd.cwd = cwd;
	cmd.timeout_ms = m.start.timeout_ms;
	cmd.out_fd = fds[0];
	cmd.err_fd = fds[1];
	cmd.in_fd = want == 3 ? fds[2] : -1;
	drain(sig_fd);
	r = t->run(state, &cmd, &res, err, sizeof(err));
	if (r < 0) {
		r = send_error(sock, r, err[0] ? err : strerror(-r));
		goto out;
	}
	reply.output.state = TP_STATE_EXITED;
	reply.output.exit.code = res.exit_code;
	reply.output.exit.signal = res.signal;
	reply.output.exit.timed_out = res.timed_out != 0;
	reply.output.exit.wall_us = res.wall_us;
	reply.output.exit.user_us = res.user_us;
	reply.output.exit.sys_us = res.sys_us;
	reply.output.exit.maxrss_kb = res.maxrss_kb;
	reply.output.exit.files_changed = TP_FILES_UNKNOWN;
	r = tp_fd_send(sock, &reply, NULL, 0);
out:
	free(argv);
	free(env);
	free(cwd);
	return r;
}

int main(int argc, char **argv)
{
	const struct tether_backend_plugin *t = NULL;
	struct tp_msg ok = { .type = TP_OK };
	const char *o = getenv("TETHER_PLUGIN_OPTIONS");
	char *options = strdup(o ? o : "{}"), err[1024] = "";
	int sock = CHANNEL_FD, sig_fd, fds[TP_FD_MAX], r;
	void *state = NULL;
	unsigned nfds;
	uint8_t *frame;
	size_t len;
	sigset_t set;

	if (argc != 2 || fcntl(sock, F_SETFD, FD_CLOEXEC) < 0) {
		fprintf(stderr, "usage: tether-plugin PLUGIN.so (tether starts "
				"it, with its channel on fd 3)\n");
		return 2;
	}
	unsetenv("TETHER_PLUGIN_OPTIONS");
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGWINCH);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (!options || sig_fd < 0) {
		send_error(sock, errno, "tether-plugin: cannot start");
		return 1;
	}
	r = load(argv[1], options, &t, &state, err, sizeof(err));
	free(options);
	if (r < 0) {
		send_error(sock, r, err);
		return 1;
	}
	r = tp_fd_send(sock, &ok, NULL, 0);
	while (r >= 0) {
		r = tp_fd_recv(sock, &frame, &len, fds, &nfds, TP_FD_MAX);
		if (r < 0)
			break;
		r = serve(sock, sig_fd, t, state, frame, len, fds, nfds);
		free(frame);
		while (nfds > 0)
			close(fds[--nfds]);
	}
	if (t->close)
		t->close(state);
	if (r == -ECONNRESET)
		return 0;
	fprintf(stderr,
		"tether: tether-plugin: %s: the channel to tether: "
		"%s\n",
		argv[1], strerror(-r));
	return 1;
}
