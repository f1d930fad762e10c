/* SPDX-License-Identifier: MIT */
/* Per-agent routing: an agent id to the backend instance its config names,
 * with the agent's timeout. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "codec.h"

static const struct exec_agent_conf *find_agent(const struct exec_config *c,
						const char *id)
{
	for (size_t i = 0; i < c->n_agents; i++)
		if (strcmp(c->agents[i].id, id) == 0)
			return &c->agents[i];
	return NULL;
}

static const struct exec_backend_conf *find_backend(const struct exec_config *c,
						    const char *name)
{
	for (size_t i = 0; i < c->n_backends; i++)
		if (strcmp(c->backends[i].name, name) == 0)
			return &c->backends[i];
	return NULL;
}

static const char *find_node_url(const struct exec_config *c, const char *name)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return c->nodes[i].url;
	return NULL;
}

/* agent's entry and *route (itself, or the defaults when it names no
 * backend: backend and node go together, both from the agent or both
 * from the defaults); NULL with err (may be NULL) for an unknown agent. */
static const struct exec_agent_conf *known(const struct exec_config *c,
					   const char *agent,
					   const struct exec_agent_conf **route,
					   char *err, size_t errlen)
{
	const struct exec_agent_conf *a = agent ? find_agent(c, agent) : NULL;

	if (!a) {
		if (err && errlen)
			snprintf(err, errlen, "%s: unknown agent '%s'",
				 c->origin, agent ? agent : "");
		return NULL;
	}
	*route = a->backend ? a : &c->defaults;
	return a;
}

int exec_router_resolve(const struct exec_config *c, const char *agent,
			struct exec_backend **ret, uint32_t *timeout_ms,
			char *err, size_t errlen)
{
	const struct exec_agent_conf *route;
	const struct exec_agent_conf *a = known(c, agent, &route, err, errlen);
	const struct exec_backend_conf *b = NULL;
	const char *type, *name, *url = NULL;
	char id[512], vmurl[PATH_MAX + 32];
	struct exec_ssh_conf own_ssh = { 0 };
	struct exec_backend *be;
	int r;

	if (!a)
		return -ENOENT;
	if (route->node) {
		type = "node";
		name = route->node;
		url = find_node_url(c, route->node);
	} else if ((b = find_backend(c, route->backend))) {
		type = b->type;
		name = b->name;
		url = b->url;
	} else {
		type = name = route->backend;
	}
	if (!url && exec_backend_lookup(type) == &exec_backend_ssh_ops &&
	    exec_router_ssh(c, agent, &own_ssh, NULL, 0) > 0) {
		/* The gateway form's sandbox.mode ssh: sandbox.ssh's host. */
		r = exec_ssh_url(&own_ssh, vmurl, sizeof(vmurl), err, errlen);
		if (r < 0)
			return r;
		url = vmurl;
	}
	if (!url && exec_backend_lookup(type) == &exec_backend_vm_ops) {
		/* The gateway form's sandbox.mode vm: a VM of the agent's. */
		snprintf(id, sizeof(id), "agent:%s", agent);
		r = exec_vm_url(id, vmurl, sizeof(vmurl), err, errlen);
		if (r < 0)
			return r;
		url = vmurl;
	}
	r = exec_backend_new(type, name, url, &be);
	if (r >= 0 && be->ops == &exec_backend_vm_ops) {
		struct exec_vm_conf v;

		(void)exec_router_vm(c, agent, &v, NULL, 0);
		r = exec_backend_set_vm(be, &v);
		if (r < 0)
			exec_backend_free(be);
	}
	if (r >= 0 && be->ops == &exec_backend_plugin_ops && b) {
		r = exec_backend_set_plugin(be, b->plugin_path,
					    b->plugin_options);
		if (r < 0)
			exec_backend_free(be);
	}
	if (r >= 0 && be->ops == &exec_backend_ssh_ops) {
		r = exec_backend_set_ssh(be, b ? &b->ssh : &own_ssh);
		if (r < 0)
			exec_backend_free(be);
	}
	if (r >= 0 && be->ops == &exec_backend_docker_ops) {
		struct exec_docker_conf d;

		(void)exec_router_docker(c, agent, &d, NULL, 0);
		r = exec_backend_set_docker(be, agent, &d);
		if (r < 0)
			exec_backend_free(be);
	}
	if (r < 0) {
		if (err && errlen)
			snprintf(err, errlen,
				 "%s: agent '%s': backend '%s': %s", c->origin,
				 agent, name ? name : "(none)", strerror(-r));
		return r;
	}
	*ret = be;
	if (timeout_ms)
		*timeout_ms = a->timeout_ms ? a->timeout_ms
					    : c->defaults.timeout_ms;
	return 0;
}

int exec_router_writeback(const struct exec_config *c, const char *agent,
			  enum exec_writeback *mode, const char **dir,
			  char *err, size_t errlen)
{
	const struct exec_agent_conf *route;
	const struct exec_agent_conf *a = known(c, agent, &route, err, errlen);
	const struct exec_backend_conf *b;

	if (!a)
		return -ENOENT;
	b = route->node ? NULL : find_backend(c, route->backend);
	*mode = b ? b->writeback : EXEC_WRITEBACK_REVIEW;
	*dir = a->dir;
	return 0;
}

int exec_router_workspace(const struct exec_config *c, const char *agent,
			  const char **url, const char **workspace,
			  const char **domain, char *err, size_t errlen)
{
	const struct exec_agent_conf *route;
	const struct exec_agent_conf *a = known(c, agent, &route, err, errlen);
	const struct exec_backend_conf *b;

	if (!a)
		return -ENOENT;
	*url = NULL;
	b = route->node ? NULL : find_backend(c, route->backend);
	if (route->node)
		*url = find_node_url(c, route->node);
	else if (b &&
		 (strcmp(b->type, "node") == 0 || strcmp(b->type, "ssh") == 0 ||
		  strcmp(b->type, "vm") == 0))
		*url = b->url;
	else if (!b && strcmp(route->backend, "ssh") == 0) {
		static __thread char sshurl[PATH_MAX + 32];
		struct exec_ssh_conf own;

		if (exec_router_ssh(c, agent, &own, err, errlen) <= 0 ||
		    exec_ssh_url(&own, sshurl, sizeof(sshurl), err, errlen) < 0)
			return -EINVAL;
		*url = sshurl;
	} else if (!b && strcmp(route->backend, "vm") == 0) {
		/* A VM of the agent's own (sandbox.mode vm): its url is
		 * kept here, valid until the next call of this thread. */
		static __thread char vmurl[PATH_MAX + 32];
		char id[512];

		snprintf(id, sizeof(id), "agent:%s", agent);
		if (exec_vm_url(id, vmurl, sizeof(vmurl), err, errlen) < 0)
			return -EINVAL;
		*url = vmurl;
	} else if (exec_backend_lookup(b ? b->type : route->backend) &&
		   (exec_backend_lookup(b ? b->type : route->backend)->caps &
		    EXEC_CAP_LOCAL)) {
		*url = c->local_url;
		if (!*url) {
			snprintf(err, errlen,
				 "%s: agent '%s': no place for the sandbox's "
				 "node (no HOME: set TETHER_SANDBOX_HOME)",
				 c->origin, agent);
			return -EINVAL;
		}
	}
	if (!*url) {
		snprintf(err, errlen,
			 "%s: agent '%s' runs on this host (backend '%s'): "
			 "its workspace is already there, nothing to sync",
			 c->origin, agent,
			 route->backend ? route->backend : "host");
		return -EINVAL;
	}
	*workspace = a->workspace ? a->workspace : a->id;
	if (!tp_name_ok((const uint8_t *)*workspace, strlen(*workspace))) {
		snprintf(err, errlen,
			 "%s: agent '%s': its id is no workspace name; give "
			 "it a \"workspace\"",
			 c->origin, agent);
		return -EINVAL;
	}
	*domain = a->domain ? a->domain : c->defaults.domain;
	return 0;
}

int exec_router_sandbox(const struct exec_config *c, const char *agent,
			struct exec_sandbox_req *req, char *err, size_t errlen)
{
	const struct exec_agent_conf *route;
	const struct exec_agent_conf *a = known(c, agent, &route, err, errlen);
	const struct exec_backend_conf *b;
	const struct exec_sbx_conf *layers[3];
	bool given = false;

	if (!a)
		return -ENOENT;
	b = route->node ? NULL : find_backend(c, route->backend);
	layers[0] = b ? &b->sbx : NULL;
	layers[1] = &c->defaults.sbx;
	layers[2] = a != &c->defaults ? &a->sbx : NULL;
	memset(req, 0, sizeof(*req));
	req->mode = EXEC_WS_COW;
	for (int i = 0; i < 3; i++) {
		if (!layers[i] || !exec_sbx_conf_given(layers[i]))
			continue;
		exec_sbx_conf_apply(req, layers[i]);
		given = true;
	}
	return given ? 1 : 0;
}

int exec_router_policy(const struct exec_config *c, const char *agent,
		       const struct exec_policy **ret, char *err, size_t errlen)
{
	const struct exec_agent_conf *route;
	const struct exec_agent_conf *a = known(c, agent, &route, err, errlen);

	if (!a)
		return -ENOENT;
	*ret = a->policy.set ? &a->policy : &c->defaults.policy;
	return 0;
}

/* The three layers of an agent's settings, in order: its backend's entry
 * (or NULL), the defaults', its own (or NULL for the defaults). The ops
 * of its route's type in *ops. NULL agent entry when unknown. */
static const struct exec_agent_conf *
layers(const struct exec_config *c, const char *agent,
       const struct exec_backend_conf **b, const struct exec_agent_conf **own,
       const struct exec_backend_ops **ops, char *err, size_t errlen)
{
	const struct exec_agent_conf *route;
	const struct exec_agent_conf *a = known(c, agent, &route, err, errlen);

	if (!a)
		return NULL;
	*b = route->node ? NULL : find_backend(c, route->backend);
	*own = a != &c->defaults ? a : NULL;
	*ops = exec_backend_lookup(*b ? (*b)->type : route->backend);
	return a;
}

int exec_router_docker(const struct exec_config *c, const char *agent,
		       struct exec_docker_conf *ret, char *err, size_t errlen)
{
	const struct exec_backend_conf *b;
	const struct exec_agent_conf *own;
	const struct exec_backend_ops *ops;

	if (!layers(c, agent, &b, &own, &ops, err, errlen))
		return -ENOENT;
	if (ops != &exec_backend_docker_ops)
		return 0;
	memset(ret, 0, sizeof(*ret));
	ret->scope = EXEC_SCOPE_SESSION;
	if (b)
		exec_docker_conf_layer(ret, &b->docker);
	exec_docker_conf_layer(ret, &c->defaults.docker);
	if (own)
		exec_docker_conf_layer(ret, &own->docker);
	return 1;
}

int exec_router_scope(const struct exec_config *c, const char *agent)
{
	struct exec_docker_conf d = { .scope = EXEC_SCOPE_SESSION };
	const struct exec_backend_conf *b;
	const struct exec_agent_conf *own;
	const struct exec_backend_ops *ops;

	if (!layers(c, agent, &b, &own, &ops, NULL, 0))
		return EXEC_SCOPE_SESSION;
	if (b)
		exec_docker_conf_layer(&d, &b->docker);
	exec_docker_conf_layer(&d, &c->defaults.docker);
	if (own)
		exec_docker_conf_layer(&d, &own->docker);
	return d.scope;
}

int exec_router_vm(const struct exec_config *c, const char *agent,
		   struct exec_vm_conf *ret, char *err, size_t errlen)
{
	const struct exec_backend_conf *b;
	const struct exec_agent_conf *own;
	const struct exec_backend_ops *ops;

	if (!layers(c, agent, &b, &own, &ops, err, errlen))
		return -ENOENT;
	if (ops != &exec_backend_vm_ops)
		return 0;
	memset(ret, 0, sizeof(*ret));
	if (b)
		exec_vm_conf_layer(ret, &b->vm);
	exec_vm_conf_layer(ret, &c->defaults.vm);
	if (own)
		exec_vm_conf_layer(ret, &own->vm);
	return 1;
}

int exec_router_ssh(const struct exec_config *c, const char *agent,
		    struct exec_ssh_conf *ret, char *err, size_t errlen)
{
	const struct exec_backend_conf *b;
	const struct exec_agent_conf *own;
	const struct exec_backend_ops *ops;

	if (!layers(c, agent, &b, &own, &ops, err, errlen))
		return -ENOENT;
	if (ops != &exec_backend_ssh_ops || b)
		return 0;
	if (own && own->ssh.host)
		*ret = own->ssh;
	else if (c->defaults.ssh.host)
		*ret = c->defaults.ssh;
	else
		return 0;
	return 1;
}
