/* SPDX-License-Identifier: MIT */
/* A node's answers about its workspaces' views (docs/protocol.md, "Changes
 * in a view"): what commands changed in one, a page at a time
 * (WS_CHANGES), what one of those changes holds (WS_READ, for tether
 * apply), and discarding them (WS_RESET). */
#ifndef TETHER_FS_SERVE_H
#define TETHER_FS_SERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "server.h"

struct fs_views;

/* Whether type is a request fs_serve_handle() answers. */
bool fs_serve_owns(uint16_t type);

/* Answer req with exactly one reply before returning, on the calling
 * thread (a server thread: it blocks for one walk of the view's upper
 * layer, see fs_changes_walk(), or one read of at most TP_READ_MAX bytes
 * from it). msg: a request fs_serve_owns(), borrowed
 * for the call. views: the node's views (borrowed), or NULL for a node
 * without them (started without --view, or built without FUSE): every
 * request is then an ERROR ENOENT that says so. */
void fs_serve_handle(struct tp_req *req, const struct tp_msg *msg,
		     struct fs_views *views);

#endif
