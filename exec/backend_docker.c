/* SPDX-License-Identifier: MIT */
/* Backend "docker": commands run by exec in a container of the agent's
 * image, created through the Docker Engine API (docker_api.h; Docker or
 * Podman's compatible service): no network unless asked, the root
 * read-only with a private /tmp, every capability dropped, no new
 * privileges, memory, cpus, pids and rlimits from the sandbox settings,
 * and the workspace (the local node's view of the agent's directory,
 * synced by the barrier, or the directory itself) bound where the agent
 * has it. Containers are labelled with their owner and found again by
 * those labels: a session container serves the agent's commands until it
 * is idle; a command's is removed after it; the reaper removes what a
 * crash left (docker_reap.c). Signals go to the exec's process group on
 * this host (the API has none to send), which also ends a timed-out
 * command with all it started. */
#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cgroup.h"
#include "clock.h"
#include "codec.h"
#include "docker.h"
#include "docker_api.h"
#include "local_node.h"
#include "log.h"
#include "mkdirs.h"
#include "writeall.h"

#define KILL_GRACE_MS 2000 /* after the kill, the stream's end waited for */

struct docker {
	struct dk_engine *e;
	char home[PATH_MAX]; /* the local node's */
	char tag[17];	     /* tether.home: hash of home */
};

static void docker_release(struct exec_backend *b);

/* Connect, check the engine answers, start the local node. On failure
 * nothing is kept (release is not called for a failed prepare). */
static int prepare(struct exec_backend *b, struct docker *d)
{
	char url[PATH_MAX + 16], err[512];
	int r;

	r = dk_open(b->docker->host, &d->e, err, sizeof(err));
	if (r < 0) {
		log_error("sandbox connection failed: %s", err);
		return r;
	}
	/* _ping: /version makes Podman ask every runtime (a quarter of a
	 * second). */
	r = dk_call(d->e, "GET", "/_ping", NULL, NULL, err, sizeof(err));
	if (r != 200) {
		log_error("sandbox connection failed: docker engine %s%s%s",
			  r < 0 ? "" : dk_host(d->e), r < 0 ? "" : ": ", err);
		return r < 0 ? r : -EIO;
	}
	/* The workspace's view lives on the local node. */
	r = exec_local_node_paths(d->home, sizeof(d->home), url, sizeof(url),
				  err, sizeof(err));
	if (r == 0)
		r = exec_local_node_ensure(d->home, url, err, sizeof(err));
	if (r < 0) {
		log_error("docker sandbox failed to start: %s", err);
		return r;
	}
	snprintf(d->tag, sizeof(d->tag), "%016llx",
		 (unsigned long long)XXH3_64bits(d->home, strlen(d->home)));
	exec_docker_reap(d->e, d->home, d->tag, false);
	return 0;
}

static int docker_prepare(struct exec_backend *b)
{
	int r;

	if (!b->docker || !b->docker->image) {
		log_error("backend %s: docker needs an \"image\"", b->name);
		return -EINVAL;
	}
	b->priv = calloc(1, sizeof(struct docker));
	if (!b->priv)
		return -ENOMEM;
	r = prepare(b, b->priv);
	if (r < 0)
		docker_release(b);
	return r;
}

/* "K=V" strings as a JSON array. */
static json_t *strings(char *const *v)
{
	json_t *a = json_array();

	for (; a && v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

/* Where the command starts, inside: an absolute cwd as it is, a relative
 * one under the workspace. */
static const char *workdir(const struct exec_spec *spec, const char *at,
			   char *buf, size_t cap)
{
	if (spec->cwd && spec->cwd[0] == '/')
		return spec->cwd;
	if (!at)
		return spec->cwd ? spec->cwd : "/";
	if (!spec->cwd || !*spec->cwd)
		return at;
	snprintf(buf, cap, "%s/%s", at, spec->cwd);
	return buf;
}

static int failed_start(const char *image, const char *what, const char *err)
{
	log_error("docker sandbox failed to start: image %s: %s: %s", image,
		  what, err);
	return -EIO;
}

/* The container for this command, running: the session's (made again
 * when its settings changed) or a new one of its own. Its name in name. */
static int container(struct exec_backend *b, const struct exec_spec *spec,
		     char *name, size_t cap, int *lock)
{
	struct docker *d = b->priv;
	const struct exec_docker_conf *c = b->docker;
	char err[512], path[PATH_MAX + 64], stamp[PATH_MAX + 160];
	json_t *body, *info = NULL;
	const char *have;
	int r, tries = 0;

	r = exec_docker_create_body(b->agent, c, spec, d->home, d->tag, &body,
				    err, sizeof(err));
	if (r < 0) {
		log_error("docker sandbox failed to start: %s", err);
		return r;
	}
	exec_docker_name(d->tag, b->agent, c->scope == EXEC_SCOPE_COMMAND, name,
			 cap);
	snprintf(stamp, sizeof(stamp), "%s/docker", d->home);
	if (util_mkdirs(stamp, 0700) < 0)
		return log_error_errno(-errno, "%s", stamp);
	snprintf(stamp, sizeof(stamp), "%s/docker/%s", d->home, name);
	/* Held while the command runs: the reaper leaves a locked one. */
	*lock = open(stamp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lock < 0 || flock(*lock, LOCK_SH) < 0)
		return log_error_errno(-errno, "%s", stamp);
	(void)futimens(*lock, NULL);
	for (;;) {
		const char *want = json_string_value(json_object_get(
			json_object_get(body, "Labels"), "tether.spec"));

		snprintf(path, sizeof(path), "/containers/%s/json", name);
		r = dk_call(d->e, "GET", path, NULL, &info, err, sizeof(err));
		if (r < 0)
			break;
		have = json_string_value(json_object_get(
			json_object_get(json_object_get(info, "Config"),
					"Labels"),
			"tether.spec"));
		if (r == 200 && have && strcmp(have, want) == 0 &&
		    json_is_true(json_object_get(json_object_get(info, "State"),
						 "Running"))) {
			r = 0;
			break;
		}
		json_decref(info);
		info = NULL;
		if (r == 200) {
			/* Settings changed, or it stopped: made again. */
			log_debug("docker: %s: made again", name);
			snprintf(path, sizeof(path),
				 "/containers/%s?force=true&v=true", name);
			(void)dk_call(d->e, "DELETE", path, NULL, NULL, err,
				      sizeof(err));
		}
		snprintf(path, sizeof(path), "/containers/create?name=%s",
			 name);
		r = dk_call(d->e, "POST", path, body, NULL, err, sizeof(err));
		if (r == 409 && ++tries < 5)
			continue; /* another command made it first */
		if (r < 0)
			break;
		if (r >= 300) {
			r = failed_start(c->image, "create", err);
			break;
		}
		snprintf(path, sizeof(path), "/containers/%s/start", name);
		r = dk_call(d->e, "POST", path, NULL, NULL, err, sizeof(err));
		if (r >= 0 && r >= 300 && r != 304)
			r = failed_start(c->image, "start", err);
		else if (r >= 0)
			r = 0;
		break;
	}
	json_decref(info);
	json_decref(body);
	if (r < 0 && r != -EIO)
		log_error("sandbox connection failed: %s", err);
	return r;
}

struct run {
	struct exec_backend *b;
	const struct exec_io *io;
	struct exec_result *res; /* its byte counts */
	struct dk_demux dm;
	char id[128]; /* the exec's */
	pid_t pid;    /* its process (group) on this host, once known */
};

static int to_caller(void *opaque, int stream, const uint8_t *p, size_t n)
{
	struct run *x = opaque;

	if (stream == 2)
		x->res->err_bytes += n;
	else
		x->res->out_bytes += n;
	/* A closed stdout of ours must not end the command early. */
	(void)util_write_all(stream == 2 ? x->io->err_fd : x->io->out_fd, p, n);
	return 0;
}

/* The exec's inspection: its host pid while it runs, its exit code once
 * done (*running false). */
static int inspect(struct run *x, bool *running, int *code, char *err,
		   size_t errlen)
{
	struct docker *d = x->b->priv;
	char path[192];
	json_t *j = NULL;
	int r;

	snprintf(path, sizeof(path), "/exec/%s/json", x->id);
	r = dk_call(d->e, "GET", path, NULL, &j, err, errlen);
	if (r == 200) {
		*running = json_is_true(json_object_get(j, "Running"));
		*code = (int)json_integer_value(json_object_get(j, "ExitCode"));
		if (*running && !x->pid)
			x->pid = (pid_t)json_integer_value(
				json_object_get(j, "Pid"));
		r = 0;
	} else if (r >= 0) {
		r = -EIO;
	}
	json_decref(j);
	return r;
}

/* sig to the command's process group (it is a session leader). */
static void deliver(struct run *x, int sig)
{
	struct docker *d = x->b->priv;
	char err[256];
	bool running;
	int code;

	if (!dk_local(d->e)) {
		log_warn("docker: signal %d not delivered: the engine %s is "
			 "not on this host",
			 sig, dk_host(d->e));
		return;
	}
	if (!x->pid &&
	    (inspect(x, &running, &code, err, sizeof(err)) < 0 || !running))
		return;
	if (x->pid > 1)
		(void)kill(-x->pid, sig);
}

static void resize(struct run *x)
{
	struct docker *d = x->b->priv;
	struct winsize ws;
	char path[192], err[256];

	if (ioctl(x->io->in_fd, TIOCGWINSZ, &ws) < 0 || !ws.ws_row)
		return;
	snprintf(path, sizeof(path), "/exec/%s/resize?h=%u&w=%u", x->id,
		 ws.ws_row, ws.ws_col);
	(void)dk_call(d->e, "POST", path, NULL, NULL, err, sizeof(err));
}

/* Bytes from the stream to the caller: false at its end. */
static bool from_stream(struct run *x, int fd, bool tty)
{
	uint8_t buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (tty) {
		x->res->out_bytes += (uint64_t)n;
		(void)util_write_all(x->io->out_fd, buf, (size_t)n);
	} else if (dk_demux_feed(&x->dm, buf, (size_t)n, to_caller, x) < 0)
		return false;
	return true;
}

/* The caller's stdin to the stream: false at its end. */
static bool to_stream(struct run *x, int fd, bool tty)
{
	uint8_t buf[65536];
	ssize_t n = read(x->io->in_fd, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n > 0 && util_write_all(fd, buf, (size_t)n) == 0)
		return true;
	if (tty)
		(void)util_write_all(fd, (const uint8_t *)"\004", 1);
	else
		(void)shutdown(fd, SHUT_WR);
	return false;
}

/* Exec create and start: 0 with the stream, or -errno logged. */
static int exec_start(struct run *x, const struct exec_spec *spec,
		      const char *name, struct dk_stream *s)
{
	struct docker *d = x->b->priv;
	const struct exec_sandbox_req *q = spec->sandbox;
	char path[PATH_MAX], err[512], wd[PATH_MAX];
	json_t *body, *out = NULL;
	int r;

	body = json_pack(
		"{s:o, s:o, s:s, s:b, s:b, s:b, s:b}", "Cmd",
		strings(spec->argv), "Env", strings(spec->env), "WorkingDir",
		workdir(spec, q && q->mode != EXEC_WS_NONE ? q->ws_at : NULL,
			wd, sizeof(wd)),
		"AttachStdin", spec->forward_stdin, "AttachStdout", true,
		"AttachStderr", true, "Tty", spec->tty);
	if (!body)
		return log_error_errno(-ENOMEM, "docker");
	snprintf(path, sizeof(path), "/containers/%s/exec", name);
	r = dk_call(d->e, "POST", path, body, &out, err, sizeof(err));
	json_decref(body);
	if (r == 201 || r == 200) {
		const char *id = json_string_value(json_object_get(out, "Id"));

		snprintf(x->id, sizeof(x->id), "%s", id ? id : "");
		r = id ? 0 : -EIO;
	} else if (r >= 0) {
		log_error("docker sandbox failed to start: exec in %s: %s",
			  name, err);
		r = -EIO;
	} else {
		log_error("sandbox connection failed: %s", err);
	}
	json_decref(out);
	if (r < 0)
		return r;
	body = json_pack("{s:b, s:b}", "Detach", false, "Tty", spec->tty);
	snprintf(path, sizeof(path), "/exec/%s/start", x->id);
	r = body ? dk_hijack(d->e, path, body, s, err, sizeof(err)) : -ENOMEM;
	json_decref(body);
	if (r < 0)
		log_error("docker sandbox failed to start: exec in %s: %s",
			  name, err);
	return r;
}

/* The exit code, once the engine has it. */
static int exit_code(struct run *x, int *code)
{
	char err[256];
	bool running = true;
	int r = 0;

	for (int i = 0; i < 200 && running; i++) {
		r = inspect(x, &running, code, err, sizeof(err));
		if (r < 0)
			break;
		if (running)
			usleep(5000);
	}
	if (r < 0 || running)
		log_error("docker: exec %.12s: no exit code: %s", x->id,
			  r < 0 ? err : "still running");
	return r < 0 ? r : running ? -ETIMEDOUT : 0;
}

/* The container's init on this host, and its cgroup's counters now: what
 * the command runs into shows as their growth. 0 when not known (a remote
 * engine, no such controller). */
static pid_t counters(struct docker *d, const char *name,
		      struct exec_cgroup_counters *c)
{
	char path[192], err[256];
	json_t *j = NULL;
	pid_t pid = 0;

	if (!dk_local(d->e))
		return 0;
	snprintf(path, sizeof(path), "/containers/%s/json", name);
	if (dk_call(d->e, "GET", path, NULL, &j, err, sizeof(err)) == 200)
		pid = (pid_t)json_integer_value(
			json_object_get(json_object_get(j, "State"), "Pid"));
	json_decref(j);
	return pid > 0 && exec_cgroup_counters(pid, c) == 0 ? pid : 0;
}

static int docker_run(struct exec_backend *b, const struct exec_spec *spec,
		      const struct exec_io *io, struct exec_result *res)
{
	struct docker *d = b->priv;
	struct run x = { .b = b, .io = io, .res = res };
	struct dk_stream s = { .fd = -1 };
	struct exec_sandbox_req plain = { .mode = EXEC_WS_COW };
	struct exec_spec sp = *spec;
	char name[128], path[256], err[256];
	bool in_open = spec->forward_stdin, out_open = true, killed = false;
	int64_t start = util_now_ms(), due = 0, grace = 0;
	struct exec_cgroup_counters before, after;
	pid_t cpid = 0;
	int r, lock = -1, code = 0;

	if (spec->detach)
		return log_error_errno(-ENOTSUP, "backend %s: --detach",
				       b->name);
	if (!sp.sandbox)
		sp.sandbox = &plain;
	memset(res, 0, sizeof(*res));
	res->counted = true;
	r = container(b, &sp, name, sizeof(name), &lock);
	if (r == 0 && (sp.sandbox->lim.memory || sp.sandbox->lim.pids))
		cpid = counters(d, name, &before);
	if (r == 0)
		r = exec_start(&x, &sp, name, &s);
	if (r < 0)
		goto out;
	if (spec->tty)
		resize(&x);
	if (s.npending && spec->tty) {
		res->out_bytes += s.npending;
		(void)util_write_all(io->out_fd, s.pending, s.npending);
	} else if (s.npending)
		(void)dk_demux_feed(&x.dm, s.pending, s.npending, to_caller,
				    &x);
	if (spec->timeout_ms)
		due = start + spec->timeout_ms;
	while (out_open) {
		struct pollfd fds[3] = {
			{ .fd = s.fd, .events = POLLIN },
			{ .fd = io->sig_fd, .events = POLLIN },
			{ .fd = in_open ? io->in_fd : -1, .events = POLLIN },
		};
		int64_t now = util_now_ms(), until = grace ? grace : due;
		int wait = until ? (int)(until > now ? until - now : 0) : -1;

		if (poll(fds, 3, wait) < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			out_open = from_stream(&x, s.fd, spec->tty);
		if (fds[2].revents)
			in_open = to_stream(&x, s.fd, spec->tty);
		if (fds[1].revents) {
			struct signalfd_siginfo si;

			if (read(io->sig_fd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH)
					resize(&x);
				else
					deliver(&x, (int)si.ssi_signo);
			}
		}
		now = util_now_ms();
		if (grace && now >= grace)
			break; /* what it started keeps the stream open */
		if (due && now >= due && !killed) {
			killed = res->timed_out = true;
			deliver(&x, SIGKILL);
			grace = now + KILL_GRACE_MS;
		}
	}
	dk_stream_close(&s);
	if (killed) {
		res->status.signal = SIGKILL;
	} else {
		r = exit_code(&x, &code);
		res->status.code = code;
	}
	if (cpid > 0 && exec_cgroup_counters(cpid, &after) == 0) {
		if (after.oom_kills > before.oom_kills)
			res->limits |= TP_LIMIT_MEMORY;
		if (after.pids_max > before.pids_max)
			res->limits |= TP_LIMIT_PIDS;
	}
	res->status.wall_us = (uint64_t)(util_now_ms() - start) * 1000;
out:
	dk_stream_close(&s);
	if (b->docker->scope == EXEC_SCOPE_COMMAND && name[0]) {
		snprintf(path, sizeof(path), "/containers/%s?force=true&v=true",
			 name);
		(void)dk_call(d->e, "DELETE", path, NULL, NULL, err,
			      sizeof(err));
		exec_docker_forget(d->home, name);
	}
	if (lock >= 0) {
		(void)futimens(lock, NULL); /* idle from now */
		close(lock);
	}
	return r < 0 ? r : 0;
}

int exec_docker_ping(const struct exec_docker_conf *c, char *err, size_t errlen)
{
	struct dk_engine *e;
	int r = dk_open(c ? c->host : NULL, &e, err, errlen);

	if (r < 0)
		return r;
	r = dk_call(e, "GET", "/_ping", NULL, NULL, err, errlen);
	dk_close(e);
	return r == 200 ? 0 : r < 0 ? r : -EIO;
}

/* s, percent-encoded for a URL's query, into out. */
static void url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s && n + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.') {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
}

int exec_docker_running(const struct exec_docker_conf *c, const char *agent)
{
	char home[PATH_MAX], url[PATH_MAX + 16], err[512], tag[17];
	char filter[1024], esc[3200], path[3400];
	struct dk_engine *e;
	json_t *list = NULL, *ct;
	size_t i;
	int r, n = 0;

	r = exec_local_node_paths(home, sizeof(home), url, sizeof(url), err,
				  sizeof(err));
	if (r < 0)
		return r;
	snprintf(tag, sizeof(tag), "%016llx",
		 (unsigned long long)XXH3_64bits(home, strlen(home)));
	r = dk_open(c ? c->host : NULL, &e, err, sizeof(err));
	if (r < 0)
		return r;
	snprintf(filter, sizeof(filter),
		 "{\"label\":[\"" DK_LABEL_HOME "=%s\",\"" DK_LABEL_AGENT
		 "=%s\"]}",
		 tag, agent);
	url_escape(filter, esc, sizeof(esc));
	snprintf(path, sizeof(path), "/containers/json?filters=%s", esc);
	r = dk_call(e, "GET", path, NULL, &list, err, sizeof(err));
	json_array_foreach(r == 200 ? list : NULL, i, ct)
	{
		const char *id = json_string_value(json_object_get(ct, "Id"));
		json_t *info = NULL, *execs, *x;
		size_t k;

		snprintf(path, sizeof(path), "/containers/%s/json",
			 id ? id : "");
		if (!id || dk_call(e, "GET", path, NULL, &info, err,
				   sizeof(err)) != 200) {
			json_decref(info);
			continue;
		}
		execs = json_object_get(info, "ExecIDs");
		json_array_foreach(execs, k, x)
		{
			json_t *ex = NULL;

			snprintf(path, sizeof(path), "/exec/%s/json",
				 json_string_value(x) ? json_string_value(x)
						      : "");
			if (dk_call(e, "GET", path, NULL, &ex, err,
				    sizeof(err)) == 200 &&
			    json_is_true(json_object_get(ex, "Running")))
				n++;
			json_decref(ex);
		}
		json_decref(info);
	}
	json_decref(list);
	dk_close(e);
	return r == 200 ? n : r < 0 ? r : -EIO;
}

static void docker_release(struct exec_backend *b)
{
	struct docker *d = b->priv;

	if (d)
		dk_close(d->e);
	free(d);
	b->priv = NULL;
}

static int docker_health(struct exec_backend *b)
{
	char err[256];

	return exec_docker_ping(b->docker, err, sizeof(err));
}

const struct exec_backend_ops exec_backend_docker_ops = {
	.type = "docker",
	.caps = EXEC_CAP_TTY | EXEC_CAP_REMOTE | EXEC_CAP_SANDBOX |
		EXEC_CAP_LOCAL,
	.prepare = docker_prepare,
	.run = docker_run,
	.release = docker_release,
	.health = docker_health,
};
