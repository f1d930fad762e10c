/* SPDX-License-Identifier: MIT */
/* The node's side of workspace sync: the SYNC_* messages (docs/protocol.md)
 * over per-domain chunk stores, committing each version into a plain
 * directory tree. Work that touches the disk runs on the sink's own
 * threads, never on nng's. Layout under the node's root:
 *   .tether/ws/NAME/{manifest,domain,journal}  per workspace
 *   .tether/stores/DOMAIN/                     chunk store (store.h)
 *   workspaces/NAME/                           the tree commands run in
 *   workspaces/.stage-NAME/                    files being committed
 * A node that serves views (FUSE) keeps no trees: its views are the
 * workspaces, and it takes lazy commits, whose chunks arrive after. */
#ifndef TETHER_SINK_H
#define TETHER_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct sd_sink;

/* Load every workspace under root (finishing an interrupted commit) and
 * start the worker threads. views: the node serves every workspace
 * through a view (no trees kept, lazy commits taken); without, a tree a
 * view node left behind is rebuilt. 0 or -errno (logged). */
int sd_sink_new(const char *root, bool views, struct sd_sink **ret);

/* A view's reader needs chunk ids[0] of workspace name, which the store
 * lacks, and would like ids[1..n-1] next (readahead): hand them to the
 * source's SYNC_SERVE polls and wait until ids[0] is stored. 0, or
 * -ETIMEDOUT after timeout_ms, -ENOENT for an unknown workspace,
 * -ESHUTDOWN once the sink stops serving. */
struct sd_id;
int sd_sink_await(struct sd_sink *s, const char *name, const struct sd_id *ids,
		  size_t n, unsigned timeout_ms);

/* A view's reader needs the bytes of a pending file of workspace name
 * (path, size and mtime as its version has them), whose chunk list is not
 * known yet: its chunk list from the source's definition (SYNC_DEFINE) or
 * from a later version that has it hashed; else ask the source for it
 * (SYNC_ASK) and wait. 0 with *chunks (malloc'd, the caller frees it) and
 * *n; -EIO with why when the source could not read it; -ETIMEDOUT after
 * timeout_ms; -ENOENT; -ESHUTDOWN; -ENOMEM. */
struct sd_chunkref;
struct sd_err;
int sd_sink_define_await(struct sd_sink *s, const char *name, const char *path,
			 uint64_t size, int64_t mtime_ns, unsigned timeout_ms,
			 struct sd_chunkref **chunks, uint32_t *n,
			 struct sd_err *why);

/* Whether workspace name reads its file bytes from its source's directory
 * on this host (passthrough): 1 with the directory in out (cap bytes), or
 * 0. */
int sd_sink_passthrough(struct sd_sink *s, const char *name, char *out,
			size_t cap);

/* Answer every held SYNC_SERVE poll (with no ids) and hold no more, and
 * wake every sd_sink_await(): call before the server goes away. */
void sd_sink_quiesce(struct sd_sink *s);

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
/* Stop the worker threads once the jobs they run are done (their replies
 * go out; queued jobs are dropped): before the server whose requests they
 * answer goes. sd_sink_free() does it too. */
void sd_sink_stop(struct sd_sink *s);

void sd_sink_free(struct sd_sink *s);

#endif
