/* SPDX-License-Identifier: MIT */
/* Exec protocol client. Following a command uses three threads, each with
 * its own nng context: output (long-poll READs), stdin (WRITEs the node may
 * hold while its buffer is full) and the caller's (signals, resize). */
#include "remote.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "cleanup.h"
#include "link.h"
#include "log.h"
#include "writeall.h"

/* A READ is held by the node up to POLL_MS; the call gives up CALL_SLACK_MS
 * later, so a node that stops answering (without dropping the connection)
 * is noticed within a minute. */
#define POLL_MS	      30000
#define CALL_SLACK_MS 15000
#define CTL_MS	      15000
#define STDIN_CHUNK   (128u << 10)

struct exec_remote {
	struct tp_link *link;
	struct tp_chan *ctl;
};

int exec_remote_open(const char *url, struct exec_remote **ret)
{
	struct exec_remote *r = calloc(1, sizeof(*r));
	int e;

	if (!r)
		return -ENOMEM;
	e = tp_link_open(url, &r->link);
	if (e == 0)
		e = tp_chan_open(r->link, &r->ctl);
	if (e < 0) {
		log_error("sandbox connection failed: %s: %s", url,
			  e == -ECONNREFUSED ? "connection refused"
			  : e == -EKEYREJECTED
				  ? "the TLS handshake failed: the node's key "
				    "is not the one this client paired with "
				    "(another node there, or it was set up "
				    "again: pair again), or this client's is "
				    "not its"
				  : strerror(-e));
		exec_remote_close(r);
		return e;
	}
	*ret = r;
	return 0;
}

void exec_remote_close(struct exec_remote *r)
{
	if (!r)
		return;
	tp_chan_close(r->ctl);
	tp_link_close(r->link);
	free(r);
}

/* One place that words a failed call for the user. */
static int call_failed(struct exec_remote *r, int e, const char *err)
{
	const char *url = tp_link_url(r->link);

	if (e == -ECONNRESET)
		log_error("sandbox connection failed: %s: connection lost",
			  url);
	else if (e == -ETIMEDOUT)
		log_error("sandbox connection failed: %s: node not answering",
			  url);
	else if (err && *err)
		log_error("%s: %s", url, err);
	else
		log_error("%s: %s", url, strerror(-e));
	return e;
}

static uint32_t strv_count(char *const *v)
{
	uint32_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

void exec_spec_start_msg(const struct exec_spec *spec, struct tp_msg *req)
{
	memset(req, 0, sizeof(*req));
	req->type = TP_EXEC_START;
	req->start.flags = (spec->tty ? TP_EXEC_F_TTY : 0) |
			   (spec->detach ? TP_EXEC_F_DETACH : 0) |
			   (spec->forward_stdin ? TP_EXEC_F_STDIN : 0);
	req->start.timeout_ms = spec->timeout_ms;
	req->start.rows = spec->rows;
	req->start.cols = spec->cols;
	if (spec->cwd)
		req->start.cwd =
			(struct tp_bytes){ (const uint8_t *)spec->cwd,
					   (uint32_t)strlen(spec->cwd) };
	if (spec->workspace)
		req->start.workspace =
			(struct tp_bytes){ (const uint8_t *)spec->workspace,
					   (uint32_t)strlen(spec->workspace) };
	if (spec->sandbox) {
		const struct exec_sandbox_req *q = spec->sandbox;
		struct tp_sandbox *b = &req->start.sandbox;

		req->start.flags |= TP_EXEC_F_SANDBOX;
		b->net_host = q->net_host;
		b->ws_mode = (uint8_t)q->mode;
		if (q->ws_src)
			b->ws_src = (struct tp_bytes){
				(const uint8_t *)q->ws_src,
				(uint32_t)strlen(q->ws_src)
			};
		if (q->ws_at)
			b->ws_at =
				(struct tp_bytes){ (const uint8_t *)q->ws_at,
						   (uint32_t)strlen(q->ws_at) };
		b->memory = q->lim.memory;
		b->cpu_milli = q->lim.cpu_milli;
		b->pids = q->lim.pids;
		b->rl_set = q->lim.rl_set;
		memcpy(b->rl, q->lim.rl, sizeof(b->rl));
	}
	req->argv_c = (struct tp_cstrv){ (const char *const *)spec->argv,
					 strv_count(spec->argv) };
	req->env_c = (struct tp_cstrv){ (const char *const *)spec->env,
					strv_count(spec->env) };
}

/* START spec with extra flags: 0 and the STARTED reply in *rep (views
 * valid until the next call on r->ctl), or -errno (logged). */
static int start_call(struct exec_remote *r, const struct exec_spec *spec,
		      uint32_t flags, struct tp_msg *rep)
{
	struct tp_msg req;
	char err[TP_ERRMSG_MAX + 64];
	int e;

	exec_spec_start_msg(spec, &req);
	req.start.flags |= flags;
	e = tp_chan_call(r->ctl, &req, rep, CTL_MS, err, sizeof(err));
	if (e == -ENOENT || e == -EACCES || e == -ENOTDIR || e == -EMSGSIZE) {
		/* The node's own words ("make: command not found"). */
		log_error("%s", err[0] ? err : strerror(-e));
		return e;
	}
	if (e < 0)
		return call_failed(r, e, err);
	if (rep->type != TP_EXEC_STARTED ||
	    rep->started.has_output != !!(flags & TP_EXEC_F_FIRST))
		return call_failed(r, -EPROTO,
				   "unexpected reply to EXEC_START");
	return 0;
}

int exec_remote_start(struct exec_remote *r, const struct exec_spec *spec,
		      uint64_t *id)
{
	struct tp_msg rep;
	int e = start_call(r, spec, 0, &rep);

	if (e == 0)
		*id = rep.started.id;
	return e;
}

int exec_remote_signal(struct exec_remote *r, uint64_t id, int signo)
{
	struct tp_msg req = { .type = TP_EXEC_SIGNAL }, rep;
	char err[TP_ERRMSG_MAX + 64];
	int e;

	req.signal.id = id;
	req.signal.signo = signo;
	e = tp_chan_call(r->ctl, &req, &rep, CTL_MS, err, sizeof(err));
	return e < 0 ? call_failed(r, e, err) : 0;
}

int exec_remote_list(struct exec_remote *r, exec_remote_list_fn fn,
		     void *opaque)
{
	struct tp_msg req = { .type = TP_EXEC_LIST }, rep;
	char err[TP_ERRMSG_MAX + 64];
	struct tp_exec_entry e;
	uint32_t pos = 0;
	int rv;

	rv = tp_chan_call(r->ctl, &req, &rep, CTL_MS, err, sizeof(err));
	if (rv < 0)
		return call_failed(r, rv, err);
	if (rep.type != TP_EXEC_TABLE)
		return call_failed(r, -EPROTO, "unexpected reply to EXEC_LIST");
	while (tp_table_next(&rep.table, &pos, &e))
		fn(&e, opaque);
	return 0;
}

/* Write a reply's output out; at the exit, fill *res and return 1. 0, 1,
 * or -errno of a failed write. */
static int deliver(const struct exec_io *io, const struct tp_exec_output *o,
		   struct exec_result *res)
{
	int e = util_write_all(io->out_fd, o->out.ptr, o->out.len);

	if (e == 0)
		e = util_write_all(io->err_fd, o->err.ptr, o->err.len);
	res->counted = true;
	res->out_bytes += o->out.len;
	res->err_bytes += o->err.len;
	if (e < 0 || o->state != TP_STATE_EXITED)
		return e;
	res->status = (struct exec_status){
		.code = o->exit.code,
		.signal = o->exit.signal,
		.wall_us = o->exit.wall_us,
		.user_us = o->exit.user_us,
		.sys_us = o->exit.sys_us,
		.maxrss_kb = o->exit.maxrss_kb,
	};
	res->timed_out = o->exit.timed_out;
	res->limits = o->exit.limits;
	res->files_known = o->exit.files_changed != TP_FILES_UNKNOWN;
	res->files_changed = res->files_known ? o->exit.files_changed : 0;
	return 1;
}

struct follow {
	struct exec_remote *r;
	uint64_t id;
	uint64_t out_off, err_off; /* where the output thread starts */
	const struct exec_io *io;
	int done_fd; /* eventfd: the output thread finished */
	int stop_fd; /* eventfd: tell the stdin thread to stop */
	struct tp_chan *out_chan[2], *in_chan;
	/* Results of the output thread. */
	int error;
	char errtext[TP_ERRMSG_MAX + 64];
	struct exec_result res;
};

/* Two READs overlap: the next one is sent as soon as a reply gives its
 * offsets, before that reply's bytes are written out, so the node can fill
 * it while we write (one round trip per chunk otherwise caps throughput). */
static void *output_thread(void *arg)
{
	struct follow *f = arg;
	struct tp_msg req = { .type = TP_EXEC_READ }, rep;
	struct tp_chan *cur = f->out_chan[0], *next = f->out_chan[1], *t;
	uint64_t one = 1, asked_out, asked_err;
	bool warned = false;
	int e;

	req.read.id = f->id;
	req.read.out_off = f->out_off;
	req.read.err_off = f->err_off;
	req.read.wait_ms = POLL_MS;
	e = tp_chan_begin(cur, &req, POLL_MS + CALL_SLACK_MS);
	while (e == 0) {
		const struct tp_exec_output *o = &rep.output;

		asked_out = req.read.out_off;
		asked_err = req.read.err_off;
		e = tp_chan_finish(cur, &rep, f->errtext, sizeof(f->errtext));
		if (e == 0 && rep.type != TP_EXEC_OUTPUT) {
			e = -EPROTO;
			snprintf(f->errtext, sizeof(f->errtext),
				 "unexpected reply to EXEC_READ");
		}
		if (e < 0)
			break;
		if (!warned &&
		    (o->out_off > asked_out || o->err_off > asked_err)) {
			log_warn(
				"command %" PRIu64
				": older output was dropped from the node's buffer",
				f->id);
			warned = true;
		}
		req.read.out_off = o->out_off + o->out.len;
		req.read.err_off = o->err_off + o->err.len;
		if (o->state != TP_STATE_EXITED) {
			e = tp_chan_begin(next, &req, POLL_MS + CALL_SLACK_MS);
			if (e < 0)
				break;
		}
		e = deliver(f->io, o, &f->res);
		if (e < 0) {
			snprintf(f->errtext, sizeof(f->errtext),
				 "writing output: %s", strerror(-e));
			break;
		}
		if (e == 1) {
			e = 0;
			break;
		}
		t = cur;
		cur = next;
		next = t;
	}
	f->error = e;
	(void)!write(f->done_fd, &one, sizeof(one));
	return NULL;
}

/* Send [data, data+n) at offset *off, resending what the node did not take
 * yet (it holds the request while its buffer is full). */
static int send_stdin(struct follow *f, const uint8_t *data, size_t n,
		      uint64_t *off, bool eof)
{
	struct tp_msg req = { .type = TP_EXEC_WRITE }, rep;
	const uint64_t start = *off, end = start + n;
	int e;

	do {
		size_t done = (size_t)(*off - start);

		req.write.id = f->id;
		req.write.in_off = *off;
		req.write.data =
			(struct tp_bytes){ data + done, (uint32_t)(n - done) };
		req.write.eof = eof;
		e = tp_chan_call(f->in_chan, &req, &rep, 0, NULL, 0);
		if (e < 0)
			return e;
		if (rep.ok > *off)
			*off = rep.ok > end ? end : rep.ok;
	} while (*off < end);
	return 0;
}

static void *stdin_thread(void *arg)
{
	struct follow *f = arg;
	_cleanup_free_ uint8_t *buf = malloc(STDIN_CHUNK);
	uint64_t off = 0;

	if (!buf)
		return NULL;
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = f->io->in_fd, .events = POLLIN },
			{ .fd = f->stop_fd, .events = POLLIN },
		};
		ssize_t k;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!p[0].revents)
			continue;
		k = read(f->io->in_fd, buf, STDIN_CHUNK);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		/* EPIPE or ECANCELED: the command closed its stdin or is
		 * finishing; the output thread reports how it ended. */
		if (send_stdin(f, buf, k > 0 ? (size_t)k : 0, &off, k <= 0) < 0)
			return NULL;
		if (k <= 0)
			return NULL;
	}
}

static void forward_winsize(struct follow *f)
{
	struct tp_msg req = { .type = TP_EXEC_RESIZE }, rep;
	struct winsize ws;

	if (ioctl(f->io->in_fd, TIOCGWINSZ, &ws) < 0 &&
	    ioctl(f->io->out_fd, TIOCGWINSZ, &ws) < 0)
		return;
	req.resize.id = f->id;
	req.resize.rows = ws.ws_row;
	req.resize.cols = ws.ws_col;
	(void)tp_chan_call(f->r->ctl, &req, &rep, CTL_MS, NULL, 0);
}

/* Returns true to stop following. */
static bool on_signal(struct follow *f, bool interactive)
{
	struct signalfd_siginfo si;

	if (read(f->io->sig_fd, &si, sizeof(si)) != sizeof(si))
		return false;
	if (si.ssi_signo == SIGWINCH) {
		if (interactive)
			forward_winsize(f);
		return false;
	}
	if (!interactive)
		return true;
	log_debug("forwarding signal %u to command %" PRIu64, si.ssi_signo,
		  f->id);
	(void)exec_remote_signal(f->r, f->id, (int)si.ssi_signo);
	return false;
}

static int follow_from(struct exec_remote *r, uint64_t id,
		       const struct exec_io *io, bool interactive,
		       bool forward_stdin, uint64_t out_off, uint64_t err_off,
		       struct exec_result *res)
{
	struct follow f = { .r = r,
			    .id = id,
			    .io = io,
			    .out_off = out_off,
			    .err_off = err_off };
	pthread_t out_t, in_t;
	bool in_started = false, stopped = false;
	int e;

	f.done_fd = eventfd(0, EFD_CLOEXEC);
	f.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (f.done_fd < 0 || f.stop_fd < 0) {
		e = -errno;
		goto out;
	}
	e = tp_chan_open(r->link, &f.out_chan[0]);
	if (e == 0)
		e = tp_chan_open(r->link, &f.out_chan[1]);
	if (e == 0 && interactive && forward_stdin)
		e = tp_chan_open(r->link, &f.in_chan);
	if (e < 0)
		goto out;
	e = -pthread_create(&out_t, NULL, output_thread, &f);
	if (e < 0)
		goto out;
	if (f.in_chan && pthread_create(&in_t, NULL, stdin_thread, &f) == 0)
		in_started = true;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = f.done_fd, .events = POLLIN },
			{ .fd = io->sig_fd, .events = POLLIN },
		};

		if (poll(p, io->sig_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents && on_signal(&f, interactive)) {
			stopped = true;
			tp_chan_abort(f.out_chan[0]);
			tp_chan_abort(f.out_chan[1]);
			break;
		}
	}
	pthread_join(out_t, NULL);
	if (in_started) {
		uint64_t one = 1;

		/* No abort of a call in flight: nng 1.5 can deadlock the
		 * socket's close after one (nanomsg/nng#1813). The node
		 * answers a held WRITE itself once the command has exited. */
		(void)!write(f.stop_fd, &one, sizeof(one));
		pthread_join(in_t, NULL);
	}
	if (stopped) {
		e = -EINTR;
	} else if (f.error < 0) {
		e = call_failed(r, f.error, f.errtext);
	} else {
		/* What was written before (a STARTED's first output) counts
		 * too. */
		f.res.out_bytes += res->out_bytes;
		f.res.err_bytes += res->err_bytes;
		*res = f.res;
		e = 0;
	}
out:
	tp_chan_close(f.in_chan);
	tp_chan_close(f.out_chan[1]);
	tp_chan_close(f.out_chan[0]);
	if (f.done_fd >= 0)
		close(f.done_fd);
	if (f.stop_fd >= 0)
		close(f.stop_fd);
	return e;
}

int exec_remote_follow(struct exec_remote *r, uint64_t id,
		       const struct exec_io *io, bool interactive,
		       bool forward_stdin, struct exec_result *res)
{
	return follow_from(r, id, io, interactive, forward_stdin, 0, 0, res);
}

int exec_remote_run(struct exec_remote *r, const struct exec_spec *spec,
		    const struct exec_io *io, struct exec_result *res)
{
	/* With stdin to forward, the START may not wait: the command may be
	 * waiting for that input. */
	uint32_t flags = spec->forward_stdin ? 0 : TP_EXEC_F_FIRST;
	const struct tp_exec_output *o;
	struct tp_msg rep;
	int e = start_call(r, spec, flags, &rep);

	if (e < 0)
		return e;
	res->id = rep.started.id;
	if (!flags)
		return follow_from(r, res->id, io, true, spec->forward_stdin, 0,
				   0, res);
	o = &rep.started.output;
	e = deliver(io, o, res);
	if (e < 0) {
		log_error("writing output: %s", strerror(-e));
		return e;
	}
	if (e == 1)
		return 0;
	return follow_from(r, res->id, io, true, false, o->out_off + o->out.len,
			   o->err_off + o->err.len, res);
}
