/* SPDX-License-Identifier: MIT */
/* The docker backend's containers: what one is made of (docker_spec.c)
 * and the reaper that removes those no command holds (docker_reap.c). */
#ifndef TETHER_DOCKER_H
#define TETHER_DOCKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "backend.h"
#include "docker_api.h"

/* Labels every container of tether carries. */
#define DK_LABEL_OWNER "tether.owner" /* uid of the user it runs for */
#define DK_LABEL_HOME  "tether.home"  /* hash of the local node's home */
#define DK_LABEL_AGENT "tether.agent"
#define DK_LABEL_SCOPE "tether.scope" /* "session" | "command" */
#define DK_LABEL_SPEC  "tether.spec"  /* hash of the rest of the body */
#define DK_LABEL_IDLE  "tether.idle"  /* seconds */
#define DK_LABEL_AGE   "tether.max-age"

#define DK_IDLE_S    600u   /* session scope: idle this long, removed */
#define DK_MAX_AGE_S 86400u /* any: this old, removed */

/* The body of POST /containers/create for spec (its sandbox settings
 * given) in c's image, with tether's labels; the workspace's view is
 * under home. 0 and *ret, or -errno with err. */
int exec_docker_create_body(const char *agent, const struct exec_docker_conf *c,
			    const struct exec_spec *spec, const char *home,
			    const char *tag, json_t **ret, char *err,
			    size_t errlen);

/* The container's name: "tether-TAG-HASH" of the agent, with "-PID" for
 * a command's own. */
void exec_docker_name(const char *tag, const char *agent, bool command,
		      char *out, size_t cap);

/* Remove tether's containers of home (tag) that no command holds: a
 * command's that outlived its client, a session's idle or old enough,
 * and (all) every one. Failures are logged at debug level only. Returns
 * how many it removed. */
int exec_docker_reap(struct dk_engine *e, const char *home, const char *tag,
		     bool all);

/* Whether the engine of c answers: 0, or -errno with err. */
int exec_docker_ping(const struct exec_docker_conf *c, char *err,
		     size_t errlen);

/* Commands of agent running in its containers (exec sessions the engine
 * reports running) of the local node's home: a count, or -errno. */
int exec_docker_running(const struct exec_docker_conf *c, const char *agent);

/* Drop the stamp of a removed container. */
void exec_docker_forget(const char *home, const char *name);

#endif
