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

/* Hear every workspace's committed versions: fn is called at once for each
 * workspace that has one, then after each commit (before the client hears
 * of it), under that workspace's commit lock, with the chunk store the
 * version's files are in. Set once, before any client is served. */
struct sd_manifest;
struct sd_store;
typedef void (*sd_sink_version_fn)(void *opaque, const char *name,
				   const struct sd_manifest *cur,
				   struct sd_store *store);
void sd_sink_on_version(struct sd_sink *s, sd_sink_version_fn fn, void *opaque);

/* Stop the workers (queued requests are dropped unanswered: their server
 * is gone), close the stores, free. Accepts NULL. */
void sd_sink_free(struct sd_sink *s);

#endif
