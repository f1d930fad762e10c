/* SPDX-License-Identifier: MIT */
/* Client side of the exec protocol: start a command on a node, stream its
 * stdio both ways, forward signals and window size, list, signal. */
#ifndef TETHER_REMOTE_H
#define TETHER_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "codec.h"

struct exec_remote;

/* Connect to a node. On failure logs "sandbox connection failed: URL:
 * reason" and returns -errno. */
int exec_remote_open(const char *url, struct exec_remote **ret);
void exec_remote_close(struct exec_remote *r);

/* The EXEC_START that asks for spec (its strings borrowed). */
void exec_spec_start_msg(const struct exec_spec *spec, struct tp_msg *req);

/* Start spec on the node. Returns 0 and *id; on failure logs the node's
 * one-line reason and returns -errno (-ENOENT: no such program). */
int exec_remote_start(struct exec_remote *r, const struct exec_spec *spec,
		      uint64_t *id);

/* Stream command id until it exits: its stdout/stderr to io->out_fd and
 * io->err_fd. With interactive, also forward io->in_fd as stdin (when
 * forward_stdin), and signals and window changes from io->sig_fd; without
 * it (attach), SIGINT/SIGTERM/SIGHUP on sig_fd just stop following and
 * return -EINTR. Returns 0 with *res, or -errno (logged once): -ECONNRESET
 * when the link to the node is lost. Blocks; uses two helper threads. */
int exec_remote_follow(struct exec_remote *r, uint64_t id,
		       const struct exec_io *io, bool interactive,
		       bool forward_stdin, struct exec_result *res);

/* Start spec in the foreground and follow it, as exec_remote_start then
 * exec_remote_follow(interactive) do, in one round trip when the command
 * is short and has no stdin to forward (TP_EXEC_F_FIRST). Returns 0 with
 * *res (res->id set), or -errno (logged once). */
int exec_remote_run(struct exec_remote *r, const struct exec_spec *spec,
		    const struct exec_io *io, struct exec_result *res);

/* Signal command id's process group. 0 or -errno (logged). */
int exec_remote_signal(struct exec_remote *r, uint64_t id, int signo);

typedef void (*exec_remote_list_fn)(const struct tp_exec_entry *e,
				    void *opaque);

/* Call fn for each command the node lists. 0 or -errno (logged). */
int exec_remote_list(struct exec_remote *r, exec_remote_list_fn fn,
		     void *opaque);

#endif
