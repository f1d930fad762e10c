/* SPDX-License-Identifier: MIT */
/* The node's command table: EXEC_* requests on nng threads, pipe and exit
 * events on one epoll thread, one mutex between them. Held long polls are
 * answered by whichever side makes them ready. */
#include "service.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "ring.h"
#include "runner.h"
#include "sandbox_run.h"
#include "upper_count.h"

#define RING_CAP    (1u << 20) /* per output stream: replay depth of attach */
#define STDIN_CAP   (1u << 20) /* stdin bytes accepted ahead of the command */
#define LINGER_MS   1000       /* output drain after exit, see drain_linger() */
#define WAIT_MAX_MS 60000      /* longest a request is held */
/* Longest a START with TP_EXEC_F_FIRST waits for output or the exit: long
 * enough for a short command to finish, short enough that the client
 * learns the id (for signals) soon. */
#define FIRST_WAIT_MS 20
#define MAX_COMMANDS  1024 /* running at once */
#define MAX_FINISHED  64   /* finished records kept for ps and attach */
#define CMDLINE_MAX   256
/* Cork: a held READ whose stream is busy (output sent within CORK_BUSY_US)
 * waits up to CORK_US for CORK_BYTES before it is answered, so a fast
 * producer's 4 KiB writes leave in large replies rather than one round trip
 * each; output after an idle spell leaves at once. */
#define CORK_US	     200
#define CORK_BUSY_US 1000
#define CORK_BYTES   (64u << 10)

enum tag_kind { K_WAKE, K_OUT, K_ERR, K_IN, K_PID };

struct cmd;

struct tag {
	struct cmd *c;
	enum tag_kind kind;
};

struct waiter {
	struct tp_req *req;
	uint32_t pipe;
	bool start; /* a START with TP_EXEC_F_FIRST: reply STARTED */
	int64_t deadline;
	struct tp_exec_read rd;	 /* readers */
	struct tp_exec_write wr; /* writers: views into req's frame */
	struct waiter *next;
};

struct stream {
	struct exec_ring ring;
	uint64_t ack; /* highest offset a reader says it has */
	int fd;	      /* -1 once at EOF */
	bool paused;  /* out of epoll interest: the client lags a full ring */
	struct tag tag;
};

struct cmd {
	uint64_t id;
	uint32_t flags;
	uint32_t owner; /* pipe that started it */
	struct exec_proc *proc;
	struct stream out, err;
	struct exec_ring in;	 /* stdin: start = written to the command */
	bool in_eof;		 /* client sent EOF */
	bool in_closed;		 /* stdin closed (EOF delivered or EPIPE) */
	bool in_armed;		 /* EPOLLOUT interest on */
	bool in_midline;	 /* tty: the last byte sent was not a newline */
	bool exited;		 /* reaped */
	bool delivered;		 /* a reader got the exit */
	struct exec_timer timer; /* timeout and kill sequence */
	int64_t linger_until;	 /* monotonic ms, 0 = none */
	int64_t cork_until;	 /* monotonic us, 0 = none; see CORK_US */
	int64_t last_out_us;	 /* when a reply last carried output */
	uint64_t started_ms;	 /* unix epoch */
	struct exec_cgroup *cg;	 /* a sandbox's limits, or NULL */
	uint8_t limits;		 /* TP_LIMIT_*: what it ran into */
	/* In a workspace's view: its upper layer, the command's start
	 * (CLOCK_REALTIME ns), and at the exit the files it changed there
	 * (upper_count.h); else NULL and TP_FILES_UNKNOWN. */
	char *upper;
	int64_t began_ns;
	uint32_t files_changed;
	char *cmdline;
	struct tag t_in, t_pid;
	struct waiter *readers, *writers;
	struct cmd *next;
};

struct exec_service {
	char *root;
	exec_workspace_fn ws_fn;
	void *ws_opaque;
	int ep, wake_fd;
	struct tag t_wake;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* everything below, and every cmd */
	bool stopping;
	struct cmd *cmds; /* oldest first */
	uint64_t next_id;
	uint64_t sandboxes; /* names their cgroups: one per sandboxed START */
	unsigned n_running;
};

static void wake(struct exec_service *s)
{
	uint64_t one = 1;

	/* A full counter already means "wake up": EAGAIN is fine. */
	(void)!write(s->wake_fd, &one, sizeof(one));
}

static void ep_set(struct exec_service *s, int fd, struct tag *t,
		   uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = t };

	if (epoll_ctl(s->ep, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL)
		log_warn_errno(-errno, "epoll_ctl on a command descriptor");
}

static struct cmd *cmd_find(struct exec_service *s, uint64_t id)
{
	for (struct cmd *c = s->cmds; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static bool cmd_done(const struct cmd *c)
{
	return c->exited && c->out.fd < 0 && c->err.fd < 0;
}

/* Bytes the node may still read into a stream before a foreground client
 * would lose output; detached commands overwrite instead. */
static size_t stream_room(const struct cmd *c, const struct stream *st)
{
	if (c->flags & TP_EXEC_F_DETACH)
		return st->ring.cap;
	return st->ring.cap - (size_t)(st->ring.end - st->ack);
}

static void stream_close(struct exec_service *s, struct stream *st)
{
	if (st->fd < 0)
		return;
	ep_set(s, st->fd, &st->tag, 0, EPOLL_CTL_DEL);
	close(st->fd);
	st->fd = -1;
}

/* Pull what the pipe has into the ring, within the room the client gives
 * us. At EOF (or EIO: a pty whose last slave closed) the stream ends. */
static void stream_pump(struct exec_service *s, struct cmd *c,
			struct stream *st)
{
	for (int i = 0; i < 8 && st->fd >= 0; i++) {
		size_t room = stream_room(c, st);
		uint8_t *p;
		size_t n;
		ssize_t k;

		if (room == 0) {
			if (!st->paused) {
				ep_set(s, st->fd, &st->tag, 0, EPOLL_CTL_MOD);
				st->paused = true;
			}
			return;
		}
		n = exec_ring_write_ptr(&st->ring, room, &p);
		k = read(st->fd, p, n);
		if (k > 0) {
			exec_ring_commit(&st->ring, (size_t)k);
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		stream_close(s, st);
	}
}

static void stream_resume(struct exec_service *s, struct cmd *c,
			  struct stream *st)
{
	if (st->fd >= 0 && st->paused && stream_room(c, st) > 0) {
		st->paused = false;
		ep_set(s, st->fd, &st->tag, EPOLLIN, EPOLL_CTL_MOD);
	}
}

/* How a finished command ended, as the wire reports it. */
static struct tp_exit cmd_exit(const struct cmd *c)
{
	const struct exec_status *st = &c->proc->status;

	return (struct tp_exit){
		.code = st->code,
		.signal = st->signal,
		.timed_out = c->timer.timed_out,
		.wall_us = st->wall_us,
		.user_us = st->user_us,
		.sys_us = st->sys_us,
		.maxrss_kb = st->maxrss_kb,
		.limits = c->limits,
		.files_changed = c->files_changed,
	};
}

/* Answer a READ, or with start a START that asked for its first output,
 * with the output from rd's offsets. */
static void reply_output(struct cmd *c, struct tp_req *req,
			 const struct tp_exec_read *rd, bool start)
{
	struct tp_msg m = { .type = start ? TP_EXEC_STARTED : TP_EXEC_OUTPUT };
	struct tp_exec_output *o = start ? &m.started.output : &m.output;
	size_t on, en;

	if (start) {
		m.started.id = c->id;
		m.started.pid = c->proc->pid;
		m.started.has_output = 1;
	}
	/* Views into the rings, encoded straight into the reply: the lock is
	 * held, so the bytes cannot move underneath. */
	on = exec_ring_view(&c->out.ring, rd->out_off, TP_DATA_MAX, &o->out.ptr,
			    &o->out_off);
	en = exec_ring_view(&c->err.ring, rd->err_off, TP_DATA_MAX, &o->err.ptr,
			    &o->err_off);
	o->out.len = (uint32_t)on;
	o->err.len = (uint32_t)en;
	if (on + en)
		c->last_out_us = util_now_us();
	if (cmd_done(c) && o->out_off + on == c->out.ring.end &&
	    o->err_off + en == c->err.ring.end) {
		o->state = TP_STATE_EXITED;
		o->exit = cmd_exit(c);
		c->delivered = true;
	}
	tp_req_reply(req, &m);
}

static bool read_ready(const struct cmd *c, const struct tp_exec_read *rd)
{
	return cmd_done(c) || c->out.ring.end > rd->out_off ||
	       c->err.ring.end > rd->err_off;
}

/* Take stdin bytes of a WRITE into the buffer. Returns true when the
 * request is answered (OK or ERROR), false to hold it for room. */
static bool write_try(struct exec_service *s, struct cmd *c, struct tp_req *req,
		      const struct tp_exec_write *w)
{
	uint64_t have = c->in.end;
	size_t skip, n, room;

	if (c->in_closed || c->in_eof || c->exited) {
		tp_req_reply_error(req, EPIPE,
				   "stdin of command %" PRIu64 " is closed",
				   c->id);
		return true;
	}
	if (w->in_off > have) {
		tp_req_reply_error(req, EPROTO,
				   "stdin offset %" PRIu64 " past the %" PRIu64
				   " bytes received",
				   w->in_off, have);
		return true;
	}
	skip = (size_t)(have - w->in_off);
	if (skip > w->data.len)
		skip = w->data.len;
	n = w->data.len - skip;
	room = exec_ring_room(&c->in);
	if (n > 0 && room == 0)
		return false;
	if (n > room)
		n = room;
	exec_ring_write(&c->in, w->data.ptr + skip, n);
	if (w->eof && skip + n == w->data.len)
		c->in_eof = true;
	if (!c->in_armed && (c->in.end > c->in.start || c->in_eof)) {
		c->in_armed = true;
		ep_set(s, c->proc->in_fd, &c->t_in, EPOLLOUT, EPOLL_CTL_MOD);
	}
	tp_req_reply_ok(req, c->in.end);
	return true;
}

static void stdin_close(struct exec_service *s, struct cmd *c)
{
	if (c->in_closed)
		return;
	c->in_closed = true;
	c->in_armed = false;
	if (c->flags & TP_EXEC_F_TTY) {
		/* The master is also the output side: send the terminal's EOF
		 * character instead of closing it. */
		static const char veof[2] = { 4, 4 };

		/* Mid-line, the first VEOF only hands over the pending bytes
		 * (as typing "abc^D" does): a second one is the EOF. */
		ep_set(s, c->proc->in_fd, &c->t_in, 0, EPOLL_CTL_DEL);
		(void)!write(c->proc->in_fd, veof, c->in_midline ? 2 : 1);
		return;
	}
	ep_set(s, c->proc->in_fd, &c->t_in, 0, EPOLL_CTL_DEL);
	exec_proc_close_stdin(c->proc);
}

static void stdin_pump(struct exec_service *s, struct cmd *c)
{
	while (!c->in_closed && c->in.end > c->in.start) {
		const uint8_t *p;
		size_t n = exec_ring_read_ptr(&c->in, &p);
		ssize_t k = write(c->proc->in_fd, p, n);

		if (k > 0) {
			c->in_midline = p[k - 1] != '\n';
			exec_ring_consume(&c->in, (size_t)k);
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EPIPE: the command closed its stdin; drop what is left. */
		c->in.start = c->in.end;
		stdin_close(s, c);
		return;
	}
	if (c->in_closed)
		return;
	if (c->in_eof) {
		stdin_close(s, c);
	} else if (c->in_armed) {
		c->in_armed = false;
		ep_set(s, c->proc->in_fd, &c->t_in, 0, EPOLL_CTL_MOD);
	}
}

static uint64_t stream_unread(const struct stream *st, uint64_t off)
{
	return st->ring.end - (off > st->ring.start ? off : st->ring.start);
}

/* True while a ready reader should wait for more bytes (see CORK_US). */
static bool corked(struct cmd *c, const struct waiter *w, int64_t now_us)
{
	if (now_us - c->last_out_us > CORK_BUSY_US || cmd_done(c) ||
	    stream_unread(&c->out, w->rd.out_off) +
			    stream_unread(&c->err, w->rd.err_off) >=
		    CORK_BYTES)
		return false;
	if (!c->cork_until)
		c->cork_until = now_us + CORK_US;
	return now_us < c->cork_until;
}

/* Answer held requests that are ready or due. */
static void cmd_serve_waiters(struct exec_service *s, struct cmd *c,
			      int64_t now, int64_t now_us)
{
	struct waiter **pp, *w;

	for (pp = &c->readers; (w = *pp);) {
		bool ready = read_ready(c, &w->rd);

		if (now >= w->deadline || (ready && !corked(c, w, now_us))) {
			*pp = w->next;
			reply_output(c, w->req, &w->rd, w->start);
			c->cork_until = 0;
			free(w);
		} else {
			pp = &w->next;
		}
	}
	for (pp = &c->writers; (w = *pp);) {
		bool answered = write_try(s, c, w->req, &w->wr);

		if (!answered && now >= w->deadline) {
			tp_req_reply_ok(w->req, c->in.end);
			answered = true;
		}
		if (answered) {
			*pp = w->next;
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

static int park(struct exec_service *s, struct waiter **list,
		struct tp_req *req, uint32_t wait_ms, struct waiter **ret)
{
	struct waiter *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->req = req;
	w->pipe = tp_req_pipe(req);
	w->deadline =
		util_now_ms() + (wait_ms > WAIT_MAX_MS ? WAIT_MAX_MS : wait_ms);
	w->next = *list;
	*list = w;
	*ret = w;
	wake(s);
	return 0;
}

static char *join_cmdline(char **argv)
{
	char *line = malloc(CMDLINE_MAX + 1);
	size_t n = 0;

	if (!line)
		return NULL;
	for (size_t i = 0; argv[i] && n < CMDLINE_MAX; i++) {
		if (i)
			line[n++] = ' ';
		for (const char *p = argv[i]; *p && n < CMDLINE_MAX; p++)
			line[n++] = *p;
	}
	line[n] = 0;
	return line;
}

static void cmd_free(struct exec_service *s, struct cmd *c)
{
	stream_close(s, &c->out);
	stream_close(s, &c->err);
	if (c->proc) {
		ep_set(s, c->proc->pidfd, &c->t_pid, 0, EPOLL_CTL_DEL);
		if (c->proc->in_fd >= 0)
			ep_set(s, c->proc->in_fd, &c->t_in, 0, EPOLL_CTL_DEL);
		exec_proc_free(c->proc);
	}
	exec_cgroup_free(c->cg);
	exec_ring_fini(&c->out.ring);
	exec_ring_fini(&c->err.ring);
	exec_ring_fini(&c->in);
	free(c->cmdline);
	free(c->upper);
	free(c);
}

unsigned exec_service_running(struct exec_service *s)
{
	unsigned n;

	pthread_mutex_lock(&s->lock);
	n = s->n_running;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void exec_service_set_workspaces(struct exec_service *s, exec_workspace_fn fn,
				 void *opaque)
{
	s->ws_fn = fn;
	s->ws_opaque = opaque;
}

/* A command's cwd without a workspace: the root, a path relative to it, or
 * an absolute path. */
static char *root_cwd(const struct exec_service *s, struct tp_bytes cwd)
{
	char *path;

	if (cwd.len == 0)
		return strdup(s->root);
	if (cwd.ptr[0] == '/') {
		if (asprintf(&path, "%.*s", (int)cwd.len, cwd.ptr) < 0)
			return NULL;
	} else if (asprintf(&path, "%s/%.*s", s->root, (int)cwd.len, cwd.ptr) <
		   0) {
		return NULL;
	}
	return path;
}

/* Within a workspace, cwd is relative to its tree and, symlinks resolved,
 * may not leave it. Returns the directory or NULL with the reply sent. */
static char *workspace_cwd(const struct exec_service *s, struct tp_req *req,
			   const struct tp_exec_start *st, char base[PATH_MAX])
{
	char name[TP_NAME_MAX + 1], err[256];
	_cleanup_free_ char *joined = NULL;
	char *real;
	size_t n;
	int r;

	snprintf(name, sizeof(name), "%.*s", (int)st->workspace.len,
		 st->workspace.ptr);
	if (!s->ws_fn) {
		tp_req_reply_error(
			req, ENOENT,
			"workspace %s: this node keeps no workspaces", name);
		return NULL;
	}
	r = s->ws_fn(s->ws_opaque, name, base, PATH_MAX, err, sizeof(err));
	if (r < 0) {
		tp_req_reply_error(req, -r, "%s", err);
		return NULL;
	}
	if (st->cwd.len && st->cwd.ptr[0] == '/') {
		tp_req_reply_error(req, EINVAL,
				   "cwd %.*s: must be relative to workspace %s",
				   (int)st->cwd.len, st->cwd.ptr, name);
		return NULL;
	}
	if (asprintf(&joined, "%s/%.*s", base, (int)st->cwd.len, st->cwd.ptr) <
	    0) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return NULL;
	}
	real = realpath(joined, NULL);
	if (!real) {
		tp_req_reply_error(req, ENOTDIR, "cwd %.*s in workspace %s: %s",
				   (int)st->cwd.len, st->cwd.ptr, name,
				   strerror(errno));
		return NULL;
	}
	n = strlen(base);
	if (strncmp(real, base, n) != 0 || (real[n] != '/' && real[n])) {
		tp_req_reply_error(req, EACCES, "cwd %.*s: leaves workspace %s",
				   (int)st->cwd.len, st->cwd.ptr, name);
		free(real);
		return NULL;
	}
	return real;
}

/* Hold a START's reply as a READ from offset 0 (TP_EXEC_F_FIRST): 0, or
 * -ENOMEM to answer at once. */
static int first_wait(struct exec_service *s, struct cmd *c, struct tp_req *req)
{
	struct waiter *w;

	if (park(s, &c->readers, req, FIRST_WAIT_MS, &w) < 0)
		return -ENOMEM;
	w->start = true;
	w->rd.id = c->id;
	return 0;
}

static void handle_start(struct exec_service *s, struct tp_req *req,
			 const struct tp_exec_start *st)
{
	_cleanup_free_ char **argv = tp_strv_dup(&st->argv);
	_cleanup_free_ char **env = tp_strv_dup(&st->env);
	_cleanup_free_ char *cwd = NULL;
	struct exec_proc_spec spec = { 0 };
	struct exec_sandbox_run run = { 0 };
	struct tp_msg m = { .type = TP_EXEC_STARTED };
	char base[PATH_MAX];
	struct stat sb;
	struct cmd *c;
	int r;

	if (st->workspace.len) {
		cwd = workspace_cwd(s, req, st, base);
		if (!cwd)
			return;
	} else {
		cwd = root_cwd(s, st->cwd);
	}
	if (!argv || !env || !cwd) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	r = stat(cwd, &sb) < 0 ? errno : S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
	if (r) {
		tp_req_reply_error(req, ENOTDIR, "cwd %s: %s", cwd,
				   strerror(r));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->out.fd = c->err.fd = -1;
	if (!c || exec_ring_init(&c->out.ring, RING_CAP) < 0 ||
	    exec_ring_init(&c->err.ring, RING_CAP) < 0 ||
	    ((st->flags & TP_EXEC_F_STDIN) &&
	     exec_ring_init(&c->in, STDIN_CAP) < 0) ||
	    !(c->cmdline = join_cmdline(argv))) {
		if (c)
			cmd_free(s, c);
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	c->flags = st->flags;
	c->owner = tp_req_pipe(req);
	c->files_changed = TP_FILES_UNKNOWN;
	if (st->workspace.len) {
		/* The view's upper layer (fs/views.c): there only on a node
		 * with views, where the command runs in one. */
		struct timespec now;
		struct stat ut;

		if (asprintf(&c->upper, "%s/.tether/upper/%.*s", s->root,
			     (int)st->workspace.len, st->workspace.ptr) < 0)
			c->upper = NULL;
		else if (stat(c->upper, &ut) < 0 ||
			 strncmp(base, s->root, strlen(s->root)) != 0 ||
			 !strstr(base, "/views/")) {
			free(c->upper);
			c->upper = NULL;
		}
		clock_gettime(CLOCK_REALTIME, &now);
		c->began_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	}
	/* Without stdin a pty still needs its EOF typed in (ssh -n -t). */
	c->in_closed = !(st->flags & (TP_EXEC_F_STDIN | TP_EXEC_F_TTY));
	c->in_eof = (st->flags & TP_EXEC_F_TTY) &&
		    !(st->flags & TP_EXEC_F_STDIN);

	spec.argv = argv;
	spec.env_add = env;
	spec.cwd = cwd;
	spec.tty = st->flags & TP_EXEC_F_TTY;
	spec.rows = st->rows;
	spec.cols = st->cols;
	spec.stdin_fd = (st->flags & TP_EXEC_F_STDIN) ? EXEC_FD_PIPE
						      : EXEC_FD_NULL;
	spec.stdout_fd = EXEC_FD_PIPE;
	spec.stderr_fd = EXEC_FD_PIPE;
	/* nng's worker threads live as long as the node: a node killed with
	 * -9 takes its commands' leaders with it. */
	spec.die_with_parent = true;
	if (st->flags & TP_EXEC_F_SANDBOX) {
		char name[64], err[512];

		/* Not the command's id: that comes after the spawn, and
		 * STARTs run on several threads at once. */
		pthread_mutex_lock(&s->lock);
		snprintf(name, sizeof(name), "cmd-%d-%" PRIu64, (int)getpid(),
			 ++s->sandboxes);
		pthread_mutex_unlock(&s->lock);
		r = exec_sandbox_run_prepare(
			&run, &st->sandbox, s->root,
			st->workspace.len ? base : NULL,
			st->workspace.len || st->cwd.len ? cwd : NULL, argv,
			name, err, sizeof(err));
		if (r < 0) {
			cmd_free(s, c);
			tp_req_reply_error(req, -r, "sandbox: %s", err);
			return;
		}
		spec.argv = run.argv;
		spec.rlimits = run.rl;
		spec.n_rlimits = run.nrl;
		spec.cwd = NULL; /* the helper's chdir is inside */
		c->cg = TAKE_PTR(run.cg);
	}

	pthread_mutex_lock(&s->lock);
	if (s->n_running >= MAX_COMMANDS) {
		pthread_mutex_unlock(&s->lock);
		cmd_free(s, c);
		tp_req_reply_error(req, EAGAIN,
				   "node busy: %u commands running",
				   MAX_COMMANDS);
		return;
	}
	s->n_running++; /* reserve the slot; fork without the lock */
	pthread_mutex_unlock(&s->lock);
	r = exec_proc_spawn(&spec, &c->proc);
	exec_sandbox_run_fini(&run);
	pthread_mutex_lock(&s->lock);
	if (r < 0) {
		s->n_running--;
		pthread_mutex_unlock(&s->lock);
		cmd_free(s, c);
		if (r == -ENOENT)
			tp_req_reply_error(req, ENOENT, "%s: command not found",
					   argv[0]);
		else
			tp_req_reply_error(req, -r, "%s: %s", argv[0],
					   strerror(-r));
		return;
	}
	c->id = ++s->next_id;
	c->started_ms = (uint64_t)time(NULL) * 1000;
	exec_timer_start(&c->timer, st->timeout_ms, util_now_ms());

	c->out.tag = (struct tag){ c, K_OUT };
	c->err.tag = (struct tag){ c, K_ERR };
	c->t_in = (struct tag){ c, K_IN };
	c->t_pid = (struct tag){ c, K_PID };
	c->out.fd = c->proc->out_fd;
	c->err.fd = c->proc->err_fd;
	c->proc->out_fd = c->proc->err_fd = -1; /* the streams own them now */
	if (c->out.fd >= 0)
		ep_set(s, c->out.fd, &c->out.tag, EPOLLIN, EPOLL_CTL_ADD);
	if (c->err.fd >= 0)
		ep_set(s, c->err.fd, &c->err.tag, EPOLLIN, EPOLL_CTL_ADD);
	if (c->proc->in_fd >= 0 && !c->in_closed) {
		c->in_armed = c->in_eof;
		ep_set(s, c->proc->in_fd, &c->t_in, c->in_armed ? EPOLLOUT : 0,
		       EPOLL_CTL_ADD);
	}
	ep_set(s, c->proc->pidfd, &c->t_pid, EPOLLIN, EPOLL_CTL_ADD);

	/* Append: the list stays oldest first for eviction. */
	struct cmd **pp = &s->cmds;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	log_debug("command %" PRIu64 " started: pid %d: %s", c->id,
		  c->proc->pid, c->cmdline);
	if ((st->flags & TP_EXEC_F_FIRST) && first_wait(s, c, req) == 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	m.started.id = c->id;
	m.started.pid = c->proc->pid;
	tp_req_reply(req, &m);
	pthread_mutex_unlock(&s->lock);
	wake(s);
}

static void handle_read(struct exec_service *s, struct cmd *c,
			struct tp_req *req, const struct tp_exec_read *rd)
{
	struct waiter *w;

	if (rd->out_off > c->out.ack && rd->out_off <= c->out.ring.end)
		c->out.ack = rd->out_off;
	if (rd->err_off > c->err.ack && rd->err_off <= c->err.ring.end)
		c->err.ack = rd->err_off;
	stream_resume(s, c, &c->out);
	stream_resume(s, c, &c->err);
	if (read_ready(c, rd) || rd->wait_ms == 0) {
		reply_output(c, req, rd, false);
		return;
	}
	if (park(s, &c->readers, req, rd->wait_ms, &w) < 0) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	w->rd = *rd;
}

static void handle_write(struct exec_service *s, struct cmd *c,
			 struct tp_req *req, const struct tp_exec_write *wr)
{
	struct waiter *w;

	if (!(c->flags & TP_EXEC_F_STDIN) && !(c->flags & TP_EXEC_F_TTY)) {
		tp_req_reply_error(req, EBADF,
				   "command %" PRIu64
				   " was started without stdin",
				   c->id);
		return;
	}
	if (write_try(s, c, req, wr))
		return;
	if (park(s, &c->writers, req, WAIT_MAX_MS, &w) < 0) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	w->wr = *wr;
}

static void handle_list(struct exec_service *s, struct tp_req *req)
{
	struct tp_exec_entry *e;
	struct tp_msg m = { .type = TP_EXEC_TABLE };
	uint32_t n = 0;

	e = calloc(TP_TABLE_MAX, sizeof(*e));
	if (!e) {
		tp_req_reply_error(req, ENOMEM, "out of memory");
		return;
	}
	for (struct cmd *c = s->cmds; c && n < TP_TABLE_MAX; c = c->next, n++) {
		e[n].id = c->id;
		e[n].pid = c->proc->pid;
		e[n].flags = c->flags;
		e[n].state = cmd_done(c) ? TP_STATE_EXITED : TP_STATE_RUNNING;
		if (e[n].state == TP_STATE_EXITED)
			e[n].exit = cmd_exit(c);
		e[n].started_ms = c->started_ms;
		e[n].cmdline =
			(struct tp_bytes){ (const uint8_t *)c->cmdline,
					   (uint32_t)strlen(c->cmdline) };
	}
	m.table.count = n;
	m.table.entries = e;
	tp_req_reply(req, &m);
	free(e);
}

void exec_service_handle(struct tp_req *req, const struct tp_msg *m,
			 void *opaque)
{
	struct exec_service *s = opaque;
	struct cmd *c = NULL;
	uint64_t id = 0;
	int r;

	switch (m->type) {
	case TP_EXEC_START: handle_start(s, req, &m->start); return;
	case TP_EXEC_LIST:
		pthread_mutex_lock(&s->lock);
		handle_list(s, req);
		pthread_mutex_unlock(&s->lock);
		return;
	case TP_EXEC_READ: id = m->read.id; break;
	case TP_EXEC_WRITE: id = m->write.id; break;
	case TP_EXEC_SIGNAL: id = m->signal.id; break;
	case TP_EXEC_RESIZE: id = m->resize.id; break;
	default:
		tp_req_reply_error(req, EPROTO, "%s is not a request",
				   tp_type_name(m->type));
		return;
	}

	pthread_mutex_lock(&s->lock);
	c = cmd_find(s, id);
	if (!c) {
		tp_req_reply_error(req, ENOENT,
				   "no command %" PRIu64 " on this node", id);
		goto out;
	}
	switch (m->type) {
	case TP_EXEC_READ: handle_read(s, c, req, &m->read); break;
	case TP_EXEC_WRITE: handle_write(s, c, req, &m->write); break;
	case TP_EXEC_SIGNAL:
		r = cmd_done(c) ? -ESRCH
				: exec_proc_signal(c->proc, m->signal.signo);
		if (r < 0)
			tp_req_reply_error(
				req, -r, "command %" PRIu64 " has exited", id);
		else
			tp_req_reply_ok(req, 0);
		break;
	case TP_EXEC_RESIZE:
		r = exec_proc_resize(c->proc, m->resize.rows, m->resize.cols);
		if (r < 0)
			tp_req_reply_error(req, -r, "command %" PRIu64 ": %s",
					   id,
					   r == -ENOTTY ? "not on a terminal"
							: strerror(-r));
		else
			tp_req_reply_ok(req, 0);
		break;
	}
out:
	pthread_mutex_unlock(&s->lock);
}

static void answer_pipe(struct waiter **list, uint32_t pipe)
{
	struct waiter **pp, *w;

	for (pp = list; (w = *pp);) {
		if (w->pipe == pipe) {
			*pp = w->next;
			/* The connection is gone: this only frees the context. */
			tp_req_reply_error(w->req, ECONNRESET, "client gone");
			free(w);
		} else {
			pp = &w->next;
		}
	}
}

void exec_service_pipe_gone(uint32_t pipe, void *opaque)
{
	struct exec_service *s = opaque;
	int64_t now = util_now_ms();

	pthread_mutex_lock(&s->lock);
	for (struct cmd *c = s->cmds; c; c = c->next) {
		answer_pipe(&c->readers, pipe);
		answer_pipe(&c->writers, pipe);
		if (c->owner != pipe || (c->flags & TP_EXEC_F_DETACH) ||
		    c->exited)
			continue;
		log_info("command %" PRIu64 " lost its client: killing it",
			 c->id);
		c->delivered = true; /* nobody will read it: evict when done */
		exec_timer_kill(&c->timer, c->proc, now);
	}
	pthread_mutex_unlock(&s->lock);
	wake(s);
}

static void on_exit_event(struct exec_service *s, struct cmd *c, int64_t now)
{
	if (c->exited || exec_proc_reap(c->proc, false) <= 0)
		return;
	c->exited = true;
	s->n_running--;
	if (c->cg) {
		c->limits = exec_sandbox_run_limits(c->cg);
		exec_cgroup_free(c->cg);
		c->cg = NULL;
	}
	if (c->upper)
		c->files_changed =
			exec_upper_changed_since(c->upper, c->began_ns);
	ep_set(s, c->proc->pidfd, &c->t_pid, 0, EPOLL_CTL_DEL);
	/* Background children may hold the pipes open: give output a moment
	 * to drain, then stop reading (ssh would hang here forever). */
	if (c->out.fd >= 0 || c->err.fd >= 0)
		c->linger_until = now + LINGER_MS;
	log_debug("command %" PRIu64 " exited: code %d signal %d", c->id,
		  c->proc->status.code, c->proc->status.signal);
}

static int64_t min_deadline(int64_t a, int64_t b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

/* Returns the next time something of c's is due, 0 if nothing. */
static int64_t cmd_timers(struct exec_service *s, struct cmd *c, int64_t now)
{
	bool was = c->timer.timed_out;
	int64_t next = exec_timer_tick(&c->timer, c->proc, now);

	if (c->timer.timed_out && !was)
		log_info("command %" PRIu64 " timed out: killing its tree",
			 c->id);
	if (c->linger_until && now >= c->linger_until) {
		c->linger_until = 0;
		stream_pump(s, c, &c->out);
		stream_pump(s, c, &c->err);
		/* A paused stream keeps its pipe: the client will take it. */
		if (!c->out.paused)
			stream_close(s, &c->out);
		if (!c->err.paused)
			stream_close(s, &c->err);
	}
	return min_deadline(next, c->linger_until);
}

static void evict(struct exec_service *s)
{
	unsigned finished = 0;
	struct cmd **pp, *c;

	for (c = s->cmds; c; c = c->next)
		finished += cmd_done(c);
	for (pp = &s->cmds; (c = *pp) && finished > MAX_FINISHED;) {
		if (cmd_done(c) && !c->readers && !c->writers) {
			*pp = c->next;
			cmd_free(s, c);
			finished--;
		} else {
			pp = &c->next;
		}
	}
}

static void *io_thread(void *arg)
{
	struct exec_service *s = arg;
	struct epoll_event evs[64];
	struct timespec ts = { 0 };
	int64_t timeout_us = -1;

	for (;;) {
		int n = epoll_pwait2(s->ep, evs, 64,
				     timeout_us < 0 ? NULL : &ts, NULL);
		int64_t now, now_us, next = 0, cork = 0;

		if (n < 0 && errno != EINTR) {
			log_error_errno(-errno, "node IO loop");
			return NULL;
		}
		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		now = util_now_ms();
		now_us = util_now_us();
		for (int i = 0; i < n; i++) {
			struct tag *t = evs[i].data.ptr;
			uint64_t v;

			switch (t->kind) {
			case K_WAKE:
				(void)!read(s->wake_fd, &v, sizeof(v));
				break;
			case K_OUT: stream_pump(s, t->c, &t->c->out); break;
			case K_ERR: stream_pump(s, t->c, &t->c->err); break;
			case K_IN:
				/* epoll reports ERR/HUP even with no events
				 * asked: the reader is gone, so stdin is over
				 * (left registered, it would spin this loop). */
				if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
					t->c->in.start = t->c->in.end;
					stdin_close(s, t->c);
				} else {
					stdin_pump(s, t->c);
				}
				break;
			case K_PID: on_exit_event(s, t->c, now); break;
			}
		}
		for (struct cmd *c = s->cmds; c; c = c->next) {
			next = min_deadline(next, cmd_timers(s, c, now));
			cmd_serve_waiters(s, c, now, now_us);
			if (c->cork_until && c->readers &&
			    (!cork || c->cork_until < cork))
				cork = c->cork_until;
			for (struct waiter *w = c->readers; w; w = w->next)
				next = min_deadline(next, w->deadline);
			for (struct waiter *w = c->writers; w; w = w->next)
				next = min_deadline(next, w->deadline);
		}
		evict(s);
		pthread_mutex_unlock(&s->lock);
		timeout_us = next ? (next > now ? next - now : 0) * 1000 : -1;
		if (cork && (timeout_us < 0 || cork - now_us < timeout_us))
			timeout_us = cork > now_us ? cork - now_us : 0;
		ts.tv_sec = timeout_us / 1000000;
		ts.tv_nsec = (timeout_us % 1000000) * 1000;
	}
}

int exec_service_new(const char *root, struct exec_service **ret)
{
	struct exec_service *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	s->root = strdup(root);
	if (s->ep < 0 || s->wake_fd < 0 || !s->root) {
		r = s->root ? -errno : -ENOMEM;
		goto fail;
	}
	s->t_wake = (struct tag){ NULL, K_WAKE };
	ep_set(s, s->wake_fd, &s->t_wake, EPOLLIN, EPOLL_CTL_ADD);
	r = -pthread_create(&s->thread, NULL, io_thread, s);
	if (r < 0)
		goto fail;
	s->thread_started = true;
	*ret = s;
	return 0;
fail:
	exec_service_free(s);
	return r;
}

void exec_service_free(struct exec_service *s)
{
	struct cmd *c;

	if (!s)
		return;
	if (s->thread_started) {
		pthread_mutex_lock(&s->lock);
		s->stopping = true;
		pthread_mutex_unlock(&s->lock);
		wake(s);
		pthread_join(s->thread, NULL);
	}
	/* Held requests died with their server: free without replying. */
	while ((c = s->cmds)) {
		s->cmds = c->next;
		for (struct waiter *w = c->readers, *nx; w; w = nx) {
			nx = w->next;
			free(w);
		}
		for (struct waiter *w = c->writers, *nx; w; w = nx) {
			nx = w->next;
			free(w);
		}
		if (!c->exited) {
			exec_proc_kill_tree(c->proc, SIGTERM);
			for (int i = 0;
			     i < 20 && exec_proc_reap(c->proc, false) == 0; i++)
				usleep(100 * 1000);
			exec_proc_kill_tree(c->proc, SIGKILL);
			exec_proc_reap(c->proc, true);
		}
		cmd_free(s, c);
	}
	if (s->ep >= 0)
		close(s->ep);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_mutex_destroy(&s->lock);
	free(s->root);
	free(s);
}
