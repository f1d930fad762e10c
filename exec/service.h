/* SPDX-License-Identifier: MIT */
/* The node's exec service: the command table behind the EXEC_* messages,
 * with one IO thread (epoll) that moves bytes between command pipes and
 * per-stream rings and answers held long polls. */
#ifndef TETHER_SERVICE_H
#define TETHER_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "server.h"

struct exec_service;

/* root: the default cwd of commands and the base of relative cwds
 * (borrowed, copied). Starts the IO thread. 0 or -errno. */
int exec_service_new(const char *root, struct exec_service **ret);

/* Where a workspace's tree is on this node: fills out (cap bytes) with its
 * directory and returns 0, or returns -ENOENT (no such workspace, or none
 * committed yet) with err filled. */
typedef int (*exec_workspace_fn)(void *opaque, const char *name, char *out,
				 size_t cap, char *err, size_t errcap);

/* Let EXEC_START name a workspace (before serving). Without a resolver a
 * workspace is refused. */
void exec_service_set_workspaces(struct exec_service *s, exec_workspace_fn fn,
				 void *opaque);

/* tp_handler_fn / tp_pipe_gone_fn for a tp_server (opaque = service). */
void exec_service_handle(struct tp_req *req, const struct tp_msg *msg,
			 void *opaque);
void exec_service_pipe_gone(uint32_t pipe_id, void *opaque);

/* Commands still running (detached ones included). */
unsigned exec_service_running(struct exec_service *s);

/* Forget held requests without replying (their server is already freed),
 * kill every command's tree (TERM, a grace, KILL), stop the thread, free.
 * Accepts NULL. */
void exec_service_free(struct exec_service *s);

#endif
