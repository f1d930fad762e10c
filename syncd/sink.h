/* SPDX-License-Identifier: MIT */
/* The node's side of workspace sync: the SYNC_* messages (docs/protocol.md)
 * over per-domain chunk stores, committing each version into a plain
 * directory tree. Work that touches the disk runs on the sink's own
 * threads, never on nng's. Layout under the node's root:
 *   .tether/ws/NAME/{manifest,domain,journal}  per workspace
 *   .tether/stores/DOMAIN/                     chunk store (store.h)
 *   workspaces/NAME/                           the tree commands run in
 *   workspaces/.stage-NAME/                    files being committed */
#ifndef TETHER_SINK_H
#define TETHER_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct sd_sink;

/* Load every workspace under root (finishing an interrupted commit) and
 * start the worker threads. 0 or -errno (logged). */
int sd_sink_new(const char *root, struct sd_sink **ret);

/* Whether a message type is the sink's. */
int sd_sink_owns(uint16_t type);

/* tp_handler_fn / tp_pipe_gone_fn (opaque = the sink). */
void sd_sink_handle(struct tp_req *req, const struct tp_msg *msg, void *opaque);
void sd_sink_pipe_gone(uint32_t pipe_id, void *opaque);

/* exec_workspace_fn: a committed workspace's tree. */
int sd_sink_workspace_dir(void *opaque, const char *name, char *out, size_t cap,
			  char *err, size_t errcap);

/* Stop the workers (queued requests are dropped unanswered: their server
 * is gone), close the stores, free. Accepts NULL. */
void sd_sink_free(struct sd_sink *s);

#endif
