/* SPDX-License-Identifier: MIT */
/* The tether config file (JSON, docs/config.md): backends, nodes, and which
 * backend runs each agent's commands. */
#ifndef TETHER_CONFIG_H
#define TETHER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "policy.h"
#include "sandbox.h"

#define EXEC_CONFIG_FILE_MAX (4u << 20) /* refuse larger config files */

/* Whether what commands change in a node's view of the workspace flows
 * back to the agent's directory (DESIGN.md, "Consistency"). */
enum exec_writeback {
	EXEC_WRITEBACK_REVIEW = 0, /* only through tether apply (default) */
	EXEC_WRITEBACK_NONE = 1,   /* never: tether apply refuses */
	EXEC_WRITEBACK_SYNC = 2,   /* after every tether exec, then synced */
};

struct exec_backend_conf {
	char *name; /* key in "backends" */
	char *type; /* "host" | "off" | "none" | "node" */
	char *url;  /* node: "url", or the url of "node" in "nodes" */
	enum exec_writeback writeback; /* node: "writeback" */
	struct exec_sbx_conf sbx;
	struct exec_docker_conf docker; /* docker: image, host, scope, ... */
	struct exec_ssh_conf ssh;	/* ssh: host, port, user, key, ... */
	char *plugin_path;		/* plugin: "path" */
	char *plugin_options;		/* plugin: "options", as JSON text */
	struct exec_vm_conf vm;		/* vm: provider, image, resources */
};

struct exec_node_conf {
	char *name; /* key in "nodes" */
	char *url;
};

/* tools.exec.host of the agent-gateway form. */
enum exec_host_sel {
	EXEC_HOST_UNSET = 0,
	EXEC_HOST_GATEWAY, /* this host */
	EXEC_HOST_NODE,	   /* tools.exec.node */
	EXEC_HOST_SANDBOX, /* the agent's sandbox.mode */
	EXEC_HOST_AUTO,	   /* its sandbox when it has one, else this host */
};

struct exec_agent_conf {
	char *id;
	char *backend;	     /* a name in backends, or a type name;
			    * NULL: the default's */
	char *node;	     /* tools.exec.node: a name in nodes, with backend
			    * "node"; else NULL */
	uint32_t timeout_ms; /* 0: none */
	char *workspace;     /* its synced workspace on a node, or NULL */
	char *domain;	     /* the chunk store it shares, or NULL: its own */
	char *dir; /* "dir": its workspace directory here (absolute), or
		    * NULL; writeback "sync" writes there */
	struct exec_sbx_conf sbx;
	struct exec_policy policy; /* "policy", "allow" */
	/* the gateway form: sandbox.docker.* (and sandbox.scope) */
	struct exec_docker_conf docker;
	char *sandbox_mode; /* sandbox.mode: "docker", "vm", "off"; or NULL */
	struct exec_vm_conf vm;	  /* the gateway form: sandbox.vm.* */
	struct exec_ssh_conf ssh; /* the gateway form: sandbox.ssh.* */
	char *sandbox_node;	  /* the gateway form: sandbox.node */
	int exec_host;		  /* enum exec_host_sel */
};

struct exec_config {
	char *origin; /* file path, for messages */
	struct exec_backend_conf *backends;
	size_t n_backends;
	struct exec_node_conf *nodes;
	size_t n_nodes;
	struct exec_agent_conf defaults; /* agents.defaults (id NULL; backend
					  * never NULL after parse: "host"
					  * when the file names none) */
	struct exec_agent_conf *agents;
	size_t n_agents;
	/* The sandbox backend's node (local_node.h), or NULL when there is
	 * no place for it (the router says why). */
	char *local_url;
	char *audit_path; /* "audit": the audit log, or NULL (audit.h) */
};

/* Parse JSON text (untrusted: any bytes, len of them; no NUL needed).
 * origin names it in errors (NULL: "<config>"). On failure returns -EINVAL
 * (or -ENOMEM) and writes one line to err (when errlen > 0) such as
 * "tether.json: agents.list[2].backnd: unknown key" or, for JSON syntax,
 * "tether.json:3:7: message". Unknown keys at any level are errors. Every
 * backend and node an agent names is checked to exist. Returns 0 and *ret
 * (free with exec_config_free) on success; *ret untouched on failure. */
int exec_config_parse(const char *text, size_t len, const char *origin,
		      struct exec_config **ret, char *err, size_t errlen);

/* Read and parse a file (capped at EXEC_CONFIG_FILE_MAX: -EFBIG beyond).
 * -ENOENT etc. from the read, with err set to "PATH: reason"; parse errors
 * as exec_config_parse with PATH as origin. Blocks on the read. */
int exec_config_load(const char *path, struct exec_config **ret, char *err,
		     size_t errlen);

/* Accepts NULL. */
void exec_config_free(struct exec_config *c);

/* The agent of the environment form. */
#define EXEC_ENV_AGENT "env"

/* The environment form, for tether exec without a config file: one agent,
 * EXEC_ENV_AGENT, on the backend SANDBOX_BACKEND names ("sandbox" when
 * unset: the embedded default; "none" or "off": this host; "docker",
 * "ssh" with their SANDBOX_DOCKER_* and SSH_*; "vm"), in a workspace of
 * cwd's own (exec/config_env.c, docs/config.md). 0 and *ret, or -EINVAL
 * with err for an unknown backend or a bad setting. */
int exec_config_from_env(const char *cwd, struct exec_config **ret, char *err,
			 size_t errlen);

/* Find the config file when no --config was given, first match wins:
 * $TETHER_CONFIG (when set and non-empty, returned even if it does not
 * exist, so the load names it), ./tether.json, then
 * $XDG_CONFIG_HOME/tether/tether.json (XDG_CONFIG_HOME set and absolute)
 * or else $HOME/.config/tether/tether.json. The last two count only when
 * they exist. Returns 0 with the path in buf; -ENOENT when none;
 * -ENAMETOOLONG when the path does not fit in len. Reads the environment:
 * not thread-safe against setenv. */
int exec_config_find(char *buf, size_t len);

/* Resolve an agent to a backend instance (not yet prepared; free with
 * exec_backend_free). The agent's backend (or node), else the default's.
 * Returns 0, *ret and the agent's timeout (or else the default's; 0: none)
 * in *timeout_ms (may be NULL); -ENOENT with err "ORIGIN: unknown agent 'x'"
 * when the agent is not listed; -ENOMEM. c is borrowed for the call only. */
struct exec_backend;
/* Where an agent's workspace syncs: the node URL its backend reaches, the
 * workspace name (the agent's "workspace", else its id) and the trust
 * domain (the agent's "domain", else the defaults', else NULL: a store of
 * its own). Pointers borrow from c. -ENOENT (unknown agent), -EINVAL (a
 * backend that is not a node, or an id that is no workspace name) with
 * err. */
int exec_router_workspace(const struct exec_config *c, const char *agent,
			  const char **url, const char **workspace,
			  const char **domain, char *err, size_t errlen);

/* An agent's writeback: its backend's policy (review for a node named
 * through tools.exec.node, and for host backends, which have nothing to
 * write back) and its "dir" (NULL when it has none). 0, or -ENOENT with
 * err for an unknown agent. Pointers borrow from c. */
int exec_router_writeback(const struct exec_config *c, const char *agent,
			  enum exec_writeback *mode, const char **dir,
			  char *err, size_t errlen);

int exec_router_resolve(const struct exec_config *c, const char *agent,
			struct exec_backend **ret, uint32_t *timeout_ms,
			char *err, size_t errlen);

/* An agent's docker settings, when its commands run on a docker backend:
 * 1 with *ret (the backend's, then the defaults', then its own; strings
 * borrowed from c), 0 when they do not, -ENOENT with err for an unknown
 * agent. */
int exec_router_docker(const struct exec_config *c, const char *agent,
		       struct exec_docker_conf *ret, char *err, size_t errlen);

/* An agent's scope (docker and sandbox backends: "scope", sandbox.scope;
 * its backend's, then the defaults', then its own): EXEC_SCOPE_COMMAND
 * when what its commands leave (a container, the view's changes) goes
 * after each, else EXEC_SCOPE_SESSION. An unknown agent: session. */
int exec_router_scope(const struct exec_config *c, const char *agent);

/* An agent's ssh settings when its commands run on an ssh backend of its
 * own (sandbox.mode ssh): 1 with *ret (its sandbox.ssh, else the
 * defaults'; strings borrowed), 0 when they do not, -ENOENT. */
int exec_router_ssh(const struct exec_config *c, const char *agent,
		    struct exec_ssh_conf *ret, char *err, size_t errlen);

/* An agent's vm settings, when its commands run on a vm backend: 1 with
 * *ret (layered as docker's), 0 when they do not, -ENOENT. */
int exec_router_vm(const struct exec_config *c, const char *agent,
		   struct exec_vm_conf *ret, char *err, size_t errlen);

/* An agent's command policy: its own, else the defaults' (full when
 * neither gives one). -ENOENT with err for an unknown agent. */
int exec_router_policy(const struct exec_config *c, const char *agent,
		       const struct exec_policy **ret, char *err,
		       size_t errlen);

/* The sandbox of an agent's commands: 1 with *req (its backend's
 * settings, then the defaults', then its own), 0 when its commands run
 * without one, -ENOENT with err for an unknown agent. */
int exec_router_sandbox(const struct exec_config *c, const char *agent,
			struct exec_sandbox_req *req, char *err, size_t errlen);

#endif
