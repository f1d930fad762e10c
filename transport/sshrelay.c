/* SPDX-License-Identifier: MIT */
/* The relay of tether-ssh (sshrelay.h): one libssh event loop over the
 * session, the listening socket and each accepted connection; channel data
 * goes to its connection from the channel's callback, a connection's bytes
 * go to its channel from the descriptor's. */
#include "sshrelay.h"

#include <errno.h>
#include <libssh/callbacks.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "writeall.h"

struct conn {
	struct relay *r;
	struct conn *next;
	int fd;
	ssh_channel ch;
	struct ssh_channel_callbacks_struct cb;
	bool fd_eof, ch_eof, dead;
	bool polled; /* fd is in the event */
};

struct relay {
	ssh_session s;
	ssh_event ev;
	const char *remote;
	struct conn *list;
	int64_t last_ms; /* when the last connection ended */
};

static ssh_channel open_channel(ssh_session s, const char *remote)
{
	ssh_channel ch = ssh_channel_new(s);

	if (ch &&
	    ssh_channel_open_forward_unix(ch, remote, "127.0.0.1", 0) == SSH_OK)
		return ch;
	if (ch)
		ssh_channel_free(ch);
	return NULL;
}

int tssh_probe(ssh_session s, const char *remote_sock)
{
	/* A whole SP handshake (req0, docs/protocol.md "Transport"): nng 1.5
	 * stops accepting on an ipc listener whose peer leaves in the middle
	 * of one (nanomsg/nng#1518), and a bare open and close is such a
	 * peer. */
	static const uint8_t hello[8] = { 0, 'S', 'P', 0, 0x00, 0x30, 0, 0 };
	ssh_channel ch = open_channel(s, remote_sock);
	uint8_t reply[8];
	int got = 0, k;

	if (!ch)
		return -ECONNREFUSED;
	if (ssh_channel_write(ch, hello, sizeof(hello)) == sizeof(hello))
		while (got < (int)sizeof(reply) &&
		       (k = ssh_channel_read_timeout(ch, reply + got,
						     sizeof(reply) - got, 0,
						     2000)) > 0)
			got += k;
	ssh_channel_close(ch);
	ssh_channel_free(ch);
	return got == sizeof(reply) && reply[1] == 'S' ? 0 : -EPROTO;
}

static int ch_data(ssh_session s, ssh_channel ch, void *data, uint32_t len,
		   int is_stderr, void *u)
{
	struct conn *c = u;

	if (!c->dead && util_write_all(c->fd, data, len) < 0)
		c->dead = true;
	return (int)len;
}

static void ch_eof(ssh_session s, ssh_channel ch, void *u)
{
	struct conn *c = u;

	c->ch_eof = true;
	(void)shutdown(c->fd, SHUT_WR);
}

static void ch_close(ssh_session s, ssh_channel ch, void *u)
{
	struct conn *c = u;

	c->dead = true;
}

static int on_conn(socket_t fd, int revents, void *u)
{
	struct conn *c = u;
	char buf[65536];
	ssize_t n;

	if (c->fd_eof || c->dead)
		return 0;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (n > 0) {
		if (ssh_channel_write(c->ch, buf, (uint32_t)n) != n)
			c->dead = true;
		return 0;
	}
	c->fd_eof = true;
	if (n < 0 || ssh_channel_send_eof(c->ch) != SSH_OK)
		c->dead = true;
	return 0;
}

static int on_listen(socket_t lfd, int revents, void *u)
{
	struct relay *r = u;
	struct conn *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return 0;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->ch = open_channel(r->s, r->remote))) {
		log_warn("tether-ssh: a channel to %s: %s", r->remote,
			 ssh_get_error(r->s));
		free(c);
		close(fd);
		return 0;
	}
	c->r = r;
	c->fd = fd;
	c->cb.userdata = c;
	c->cb.channel_data_function = ch_data;
	c->cb.channel_eof_function = ch_eof;
	c->cb.channel_close_function = ch_close;
	ssh_callbacks_init(&c->cb);
	ssh_set_channel_callbacks(c->ch, &c->cb);
	/* What came with the open, before the callbacks were set (a node
	 * greets first: its SP header), waits in the channel's buffer. */
	for (;;) {
		char buf[16384];
		int k = ssh_channel_read_nonblocking(c->ch, buf, sizeof(buf),
						     0);

		if (k <= 0)
			break;
		if (util_write_all(fd, buf, (size_t)k) < 0) {
			c->dead = true;
			break;
		}
	}
	c->polled = ssh_event_add_fd(r->ev, fd, POLLIN, on_conn, c) == SSH_OK;
	c->dead = !c->polled;
	c->next = r->list;
	r->list = c;
	return 0;
}

static void conn_free(struct relay *r, struct conn *c)
{
	if (c->polled)
		ssh_event_remove_fd(r->ev, c->fd);
	close(c->fd);
	ssh_remove_channel_callbacks(c->ch, &c->cb);
	ssh_channel_close(c->ch);
	ssh_channel_free(c->ch);
	free(c);
}

/* Ends what is over: both directions closed, or one broken. */
static void sweep(struct relay *r)
{
	struct conn **p = &r->list;

	while (*p) {
		struct conn *c = *p;

		if (c->fd_eof && c->polled) {
			/* No more to read from it: stop polling it. */
			ssh_event_remove_fd(r->ev, c->fd);
			c->polled = false;
		}
		if (c->dead || (c->fd_eof && c->ch_eof) ||
		    ssh_channel_is_closed(c->ch)) {
			*p = c->next;
			conn_free(r, c);
			r->last_ms = util_now_ms();
			continue;
		}
		p = &c->next;
	}
}

/* Whether path is still the socket file it was (*was): another proxy
 * started on the same path replaces it, and this one then goes. */
static bool still_ours(const char *path, const struct stat *was)
{
	struct stat now;

	return stat(path, &now) == 0 && now.st_ino == was->st_ino &&
	       now.st_dev == was->st_dev;
}

int tssh_relay(ssh_session s, int listen_fd, const char *path,
	       const char *remote_sock, unsigned idle_s)
{
	struct relay r = { .s = s, .remote = remote_sock };
	struct stat was;
	int rc = 0;

	if (stat(path, &was) < 0)
		return -errno;

	r.ev = ssh_event_new();
	if (!r.ev || ssh_event_add_session(r.ev, s) != SSH_OK ||
	    ssh_event_add_fd(r.ev, listen_fd, POLLIN, on_listen, &r) !=
		    SSH_OK) {
		if (r.ev)
			ssh_event_free(r.ev);
		return -ENOMEM;
	}
	r.last_ms = util_now_ms();
	for (;;) {
		if (ssh_event_dopoll(r.ev, 1000) == SSH_ERROR ||
		    !ssh_is_connected(s)) {
			log_error("tether-ssh: the SSH session was lost: %s",
				  ssh_get_error(s));
			rc = -ECONNRESET;
			break;
		}
		sweep(&r);
		if (!r.list && !still_ours(path, &was)) {
			log_info("tether-ssh: %s now belongs to another proxy",
				 path);
			break;
		}
		if (!r.list && idle_s &&
		    util_now_ms() - r.last_ms >= (int64_t)idle_s * 1000)
			break;
	}
	while (r.list) {
		struct conn *c = r.list;

		r.list = c->next;
		conn_free(&r, c);
	}
	ssh_event_remove_fd(r.ev, listen_fd);
	ssh_event_remove_session(r.ev, s);
	ssh_event_free(r.ev);
	return rc;
}
