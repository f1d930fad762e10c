/* SPDX-License-Identifier: MIT */
/* tether node: serve the exec protocol in the foreground until SIGINT or
 * SIGTERM. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "node_pair.h"
#include "clock.h"
#include "link.h"
#include "log.h"
#include "serve.h"
#include "parse.h"
#include "server.h"
#include "service.h"
#include "sink.h"
#include "spcall.h"
#include "term.h"
#ifdef TETHER_HAVE_FUSE
#include "views.h"
#endif

static const char usage[] =
	"usage: tether node --listen URL [--root DIR] [--view [--fetch-timeout S]]\n"
	"                   [--idle-exit S] [--insecure-remote]\n"
	"       tether node pair [--root DIR] [--ttl S]\n"
	"  --listen URL       tcp://127.0.0.1:PORT (port 0 picks one), ipc:///PATH,\n"
	"                     or tls+tcp://HOST:PORT: paired clients only (the\n"
	"                     node's authority in DIR/.tls; tether node pair prints\n"
	"                     a one-time token for tether pair on a client)\n"
	"  --root DIR         default and base directory for commands' cwd (default: .);\n"
	"                     synced workspaces live in DIR/workspaces, state in DIR/.tether\n"
	"  --fetch-timeout S  a read in a view waits this long for a chunk a lazy\n"
	"                     sync has not brought yet, then fails with EIO\n"
	"                     (default 10)\n"
	"  --view             also mount each workspace's current version at\n"
	"                     DIR/views/NAME (FUSE), following every commit; commands\n"
	"                     of the workspace run there, their writes kept apart\n"
	"                     (copy-on-write; tether changes, tether reset)\n"
	"  --idle-exit S      stop after S seconds without a request (pings aside)\n"
	"                     while no command runs: the sandbox backend's own node\n"
	"  --insecure-remote  allow a tcp address other than loopback: anyone who\n"
	"                     reaches it can run commands as this user (no pairing yet)\n";

/* One node, two services: workspace sync and exec; and the workspaces'
 * FUSE views when asked for. */
struct node {
	struct exec_service *exec;
	struct sd_sink *sink;
	_Atomic int64_t last_ms; /* the last request but a PING */
	struct node_tls *tls;	 /* tls+tcp: its authority; else NULL */
#ifdef TETHER_HAVE_FUSE
	struct fs_views *views;
#endif
};

/* --view: mount every committed workspace, and follow the commits. */
static int node_views(struct node *n, const char *root, unsigned fetch_ms)
{
#ifdef TETHER_HAVE_FUSE
	int r = fs_views_new(root, n->sink, fetch_ms, &n->views);

	if (r == 0)
		sd_sink_on_version(n->sink, fs_views_on_version, n->views);
	return r;
#else
	(void)n;
	(void)root;
	(void)fetch_ms;
	log_error("--view: this tether was built without FUSE (libfuse3-dev)");
	return -ENOTSUP;
#endif
}

/* Where a command of a workspace runs: in its view when it has one (its
 * writes land in the upper layer), else in the synced directory. */
static int node_workspace_dir(void *opaque, const char *name, char *out,
			      size_t cap, char *err, size_t errcap)
{
	struct node *n = opaque;

#ifdef TETHER_HAVE_FUSE
	if (n->views && fs_views_dir(n->views, name, out, cap) == 0)
		return 0;
#endif
	return sd_sink_workspace_dir(n->sink, name, out, cap, err, errcap);
}

static void node_handle(struct tp_req *req, const struct tp_msg *msg,
			void *opaque)
{
	struct node *n = opaque;

	if (msg->type != TP_PING)
		atomic_store_explicit(&n->last_ms, util_now_ms(),
				      memory_order_relaxed);
	if (msg->type == TP_PAIR) {
		node_pair_handle(req, msg, n->tls);
		return;
	}
	/* On tls+tcp only paired clients, whose certificates the node's
	 * authority issued, get more than a PING and pairing. */
	if (n->tls && msg->type != TP_PING && !tp_req_verified(req)) {
		tp_req_reply_error(req, EACCES,
				   "this client is not paired with the node: "
				   "run tether node pair there, then tether "
				   "pair --node URL --token TOKEN here");
		return;
	}
	if (fs_serve_owns(msg->type))
#ifdef TETHER_HAVE_FUSE
		fs_serve_handle(req, msg, n->views);
#else
		fs_serve_handle(req, msg, NULL);
#endif
	else if (sd_sink_owns(msg->type))
		sd_sink_handle(req, msg, n->sink);
	else
		exec_service_handle(req, msg, n->exec);
}

static void node_pipe_gone(uint32_t pipe_id, void *opaque)
{
	struct node *n = opaque;

	sd_sink_pipe_gone(pipe_id, n->sink);
	exec_service_pipe_gone(pipe_id, n->exec);
}

/* The node runs whatever a client sends: on tcp:// it authenticates no
 * one (tls+tcp:// is for other hosts: paired clients only), so refuse
 * what would expose that. */
static int check_listen_url(const char *url, bool insecure_remote)
{
	if (strncmp(url, "tcp://", 6) == 0 && !tp_url_loopback(url) &&
	    !insecure_remote) {
		log_error(
			"node %s: not a loopback address, and a node on tcp:// authenticates no one; listen on tls+tcp:// (paired clients only), or pass --insecure-remote",
			url);
		return -EPERM;
	}
	return 0;
}

/* Whether a node already serves the ipc socket at url. Asked with a PING
 * over a whole SP handshake, never a bare connect: nng 1.5 stops accepting
 * on an ipc listener whose peer leaves in the middle of the handshake
 * (nanomsg/nng#1518; see transport/guard.h), and nng's own "is it stale?"
 * probe, when a second node tries to listen, is such a connect. */
static bool ipc_in_use(const char *url)
{
	int r = tp_sp_ping(url, 2000);

	/* Someone accepted the connection: in use, whatever followed. */
	return r == 0 || r == -ETIMEDOUT || r == -ECONNRESET || r == -EPROTO;
}

int cli_node(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "root", required_argument, NULL, 'r' },
		{ "insecure-remote", no_argument, NULL, 'I' },
		{ "view", no_argument, NULL, 'V' },
		{ "fetch-timeout", required_argument, NULL, 'F' },
		{ "idle-exit", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *url = NULL, *root = ".";
	bool insecure_remote = false, view = false;
	uint32_t fetch_ms = 10000, idle_ms = 0;
	char rootbuf[PATH_MAX];
	struct node node = { 0 };
	struct tp_server *srv = NULL;
	struct signalfd_siginfo si;
	int c, r, sfd;

	if (argc > 1 && strcmp(argv[1], "pair") == 0)
		return cli_node_pair(argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "+l:r:h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': url = optarg; break;
		case 'r': root = optarg; break;
		case 'I': insecure_remote = true; break;
		case 'V': view = true; break;
		case 'F':
			if (util_parse_seconds_ms(optarg, &fetch_ms) < 0 ||
			    fetch_ms == 0) {
				log_error(
					"--fetch-timeout %s: expected seconds, "
					"more than 0",
					optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'E':
			if (util_parse_seconds_ms(optarg, &idle_ms) < 0 ||
			    idle_ms == 0) {
				log_error("--idle-exit %s: expected seconds, "
					  "more than 0",
					  optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return CLI_EXIT_USAGE;
		}
	}
	if (!url || optind != argc) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (check_listen_url(url, insecure_remote) < 0)
		return CLI_EXIT_USAGE;
	if (strncmp(url, "ipc://", 6) == 0 && ipc_in_use(url)) {
		log_error("node %s: another node is listening there", url);
		return CLI_EXIT_FAILURE;
	}
	if (!realpath(root, rootbuf)) {
		log_error_errno(-errno, "node root %s", root);
		return CLI_EXIT_FAILURE;
	}
	/* A command that exits or closes its stdin while the node still has
	 * bytes for it makes write() fail: that must be EPIPE for the service
	 * to handle, not a SIGPIPE that kills the node and every command. */
	signal(SIGPIPE, SIG_IGN);
	sfd = cli_signals_open();
	if (sfd < 0) {
		log_error_errno(sfd, "signalfd");
		return CLI_EXIT_FAILURE;
	}
	r = sd_sink_new(rootbuf, view, &node.sink);
	if (r < 0)
		goto out;
	r = exec_service_new(rootbuf, &node.exec);
	if (r < 0) {
		log_error_errno(r, "starting the exec service");
		goto out;
	}
	exec_service_set_workspaces(node.exec, node_workspace_dir, &node);
	if (view) {
		r = node_views(&node, rootbuf, fetch_ms);
		if (r < 0)
			goto out;
	}
	if (strncmp(url, "tls+tcp://", 10) == 0) {
		char err[512];

		r = node_tls_open(rootbuf, &node.tls, err, sizeof(err));
		if (r < 0) {
			log_error("node %s: %s", url, err);
			goto out;
		}
	}
	r = tp_server_new_tls(url, node.tls ? node_tls_config(node.tls) : NULL,
			      node_handle, node_pipe_gone, &node, &srv);
	if (r < 0) {
		log_error_errno(r, "node cannot listen on %s", url);
		goto out;
	}
	printf("tether node: listening on %s\n", tp_server_url(srv));
	fflush(stdout);
	atomic_store(&node.last_ms, util_now_ms());
	/* SIGWINCH and SIGHUP do not stop a node. */
	for (;;) {
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };

		if (poll(&pfd, 1, idle_ms ? 1000 : -1) > 0) {
			if (read(sfd, &si, sizeof(si)) != sizeof(si) ||
			    si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM)
				break;
			continue;
		}
		if (idle_ms && exec_service_running(node.exec) == 0 &&
		    util_now_ms() - atomic_load(&node.last_ms) >= idle_ms) {
			log_info("node on %s: idle for %u s",
				 tp_server_url(srv), idle_ms / 1000);
			break;
		}
	}
	log_info("node on %s stopping", tp_server_url(srv));
	r = 0;
out:
	/* Readers of a view waiting for a chunk, and the sources' polls for
	 * them, are answered first; the views go before the sink they read
	 * from. */
	if (node.sink)
		sd_sink_quiesce(node.sink);
	/* The sink's workers use request frames the server owns. */
	sd_sink_stop(node.sink);
	tp_server_free(srv);
	node_tls_free(node.tls);
	exec_service_free(node.exec);
#ifdef TETHER_HAVE_FUSE
	fs_views_free(node.views);
#endif
	sd_sink_free(node.sink);
	close(sfd);
	return r < 0 ? CLI_EXIT_FAILURE : 0;
}
