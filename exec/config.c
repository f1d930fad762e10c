/* SPDX-License-Identifier: MIT */
/* The tether.json loader: a strict, table-driven walk of the JSON tree that
 * names every bad key by its full path (config_scan.c), then
 * cross-reference checks. Here: the top level, the agents (with the agent
 * gateways' form: tools.exec, sandbox.*), and the checks; backends and
 * nodes are config_backend.c's. */
#include "config.h"
#include "config_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "backend.h"
#include "cleanup.h"
#include "local_node.h"

struct top_raw {
	json_t *backends, *nodes, *agents, *audit;
};
struct agents_raw {
	json_t *defaults, *list;
};
struct agent_raw {
	json_t *id, *backend, *timeout, *exec_host, *exec_node, *workspace,
		*domain, *dir, *limits, *network, *mount, *policy, *allow,
		*sandbox;
};
/* The agent-gateway form's "sandbox" of an agent. */
struct sandbox_raw {
	json_t *mode, *scope, *docker, *vm, *ssh, *node;
};
struct vm_raw {
	json_t *provider, *image, *resources;
};
struct docker_raw {
	json_t *image, *host, *memory, *cpus, *pids, *network, *timeout;
};

static const struct field top_fields[] = {
	{ "backends", K_OBJECT, SLOT(top_raw, backends) },
	{ "nodes", K_OBJECT, SLOT(top_raw, nodes) },
	{ "agents", K_OBJECT, SLOT(top_raw, agents) },
	{ "audit", K_STRING, SLOT(top_raw, audit) },
	{ 0 },
};

static const struct field agents_fields[] = {
	{ "defaults", K_OBJECT, SLOT(agents_raw, defaults) },
	{ "list", K_ARRAY, SLOT(agents_raw, list) },
	{ 0 },
};

/* The agent-gateway form: tools.exec.host / tools.exec.node. */
static const struct field exec_fields[] = {
	{ "host", K_STRING, SLOT(agent_raw, exec_host) },
	{ "node", K_STRING, SLOT(agent_raw, exec_node) },
	{ 0 },
};

static const struct field tools_fields[] = {
	{ "exec", K_OBJECT, 0, exec_fields },
	{ 0 },
};

/* agents.list[] entries; agents.defaults takes the same keys but "id". */
static const struct field agent_fields[] = {
	{ "id", K_STRING, SLOT(agent_raw, id) },
	{ "backend", K_STRING, SLOT(agent_raw, backend) },
	{ "timeout", K_NUMBER, SLOT(agent_raw, timeout) },
	{ "workspace", K_STRING, SLOT(agent_raw, workspace) },
	{ "domain", K_STRING, SLOT(agent_raw, domain) },
	{ "dir", K_STRING, SLOT(agent_raw, dir) },
	{ "limits", K_OBJECT, SLOT(agent_raw, limits) },
	{ "network", K_STRING, SLOT(agent_raw, network) },
	{ "mount", K_STRING, SLOT(agent_raw, mount) },
	{ "policy", K_STRING, SLOT(agent_raw, policy) },
	{ "allow", K_ARRAY, SLOT(agent_raw, allow) },
	{ "tools", K_OBJECT, 0, tools_fields },
	{ "sandbox", K_OBJECT, SLOT(agent_raw, sandbox) },
	{ 0 },
};

static const struct field sandbox_fields[] = {
	{ "mode", K_STRING, SLOT(sandbox_raw, mode) },
	{ "scope", K_STRING, SLOT(sandbox_raw, scope) },
	{ "docker", K_OBJECT, SLOT(sandbox_raw, docker) },
	{ "vm", K_OBJECT, SLOT(sandbox_raw, vm) },
	{ "ssh", K_OBJECT, SLOT(sandbox_raw, ssh) },
	{ "node", K_STRING, SLOT(sandbox_raw, node) },
	{ 0 },
};

static const struct field vm_fields[] = {
	{ "provider", K_STRING, SLOT(vm_raw, provider) },
	{ "image", K_STRING, SLOT(vm_raw, image) },
	{ "resources", K_OBJECT, SLOT(vm_raw, resources) },
	{ 0 },
};

static const struct field docker_fields[] = {
	{ "image", K_STRING, SLOT(docker_raw, image) },
	{ "host", K_STRING, SLOT(docker_raw, host) },
	{ "memory", K_SCALAR, SLOT(docker_raw, memory) },
	{ "cpus", K_SCALAR, SLOT(docker_raw, cpus) },
	{ "pids", K_SCALAR, SLOT(docker_raw, pids) },
	{ "network", K_STRING, SLOT(docker_raw, network) },
	{ "timeout", K_NUMBER, SLOT(docker_raw, timeout) },
	{ 0 },
};

/* tools.exec.host / tools.exec.node onto backend / node. */
static int parse_tools_exec(struct ctx *x, const struct agent_raw *raw,
			    struct exec_agent_conf *a)
{
	const char *host = json_string_value(raw->exec_host); /* NULL: none */
	const char *node = json_string_value(raw->exec_node);
	int r;

	if (!host && !node)
		return 0;
	if (raw->backend)
		return cfg_fail(x, "tools.exec",
				"conflicts with 'backend': use one");
	if (!host)
		return cfg_fail(x, "tools.exec.node",
				"needs tools.exec.host 'node'");
	if (strcmp(host, "gateway") == 0) {
		a->exec_host = EXEC_HOST_GATEWAY;
		if (node)
			return cfg_fail(
				x, "tools.exec.node",
				"needs tools.exec.host 'node', not '%s'", host);
		return cfg_dup(x, "host", &a->backend);
	}
	if (strcmp(host, "node") == 0) {
		if (!node)
			return cfg_fail(
				x, "tools.exec.node",
				"required when tools.exec.host is 'node'");
		if (!cfg_node_url(x, node))
			return cfg_fail(x, "tools.exec.node",
					"unknown node '%s'", node);
		a->exec_host = EXEC_HOST_NODE;
		r = cfg_dup(x, "node", &a->backend);
		return r < 0 ? r : cfg_dup(x, node, &a->node);
	}
	if (node)
		return cfg_fail(x, "tools.exec.node",
				"needs tools.exec.host 'node', not '%s'", host);
	if (strcmp(host, "sandbox") == 0) {
		a->exec_host = EXEC_HOST_SANDBOX;
		return 0;
	}
	if (strcmp(host, "auto") == 0) {
		a->exec_host = EXEC_HOST_AUTO;
		return 0;
	}
	return cfg_fail(
		x, "tools.exec.host",
		"unknown value '%s' (expected gateway, sandbox, node or "
		"auto)",
		host);
}

/* The agent-gateway form's "sandbox": mode, scope, docker.* (vm.* is not
 * built yet). timeout: whether the agent gave "timeout" itself. */
static int parse_agent_sandbox(struct ctx *x, json_t *v, bool timeout,
			       struct exec_agent_conf *a)
{
	static const char *const modes[] = { "docker", "vm", "ssh", "node",
					     "off" };
	struct sandbox_raw raw = { 0 };
	struct docker_raw d = { 0 };
	size_t mark = cfg_path_key(x, "sandbox"), inner;
	int r;

	r = cfg_scan(x, v, sandbox_fields, &raw);
	if (r >= 0 && raw.mode) {
		const char *m = json_string_value(raw.mode);

		bool known = false;

		for (size_t i = 0; i < UTIL_ARRAY_SIZE(modes); i++)
			known |= strcmp(m, modes[i]) == 0;
		if (!known)
			r = cfg_fail(x, "mode",
				     "unknown mode '%s' (expected docker, vm, "
				     "node, ssh or off)",
				     m);
		if (r >= 0)
			r = cfg_dup(x, m, &a->sandbox_mode);
	}
	if (r >= 0 && raw.vm) {
		struct vm_raw vr = { 0 };

		inner = cfg_path_key(x, "vm");
		r = cfg_scan(x, raw.vm, vm_fields, &vr);
		if (r >= 0 && vr.provider &&
		    strcmp(json_string_value(vr.provider), "qemu") != 0)
			r = cfg_fail(x, "provider",
				     "'%s': qemu here (a command provider is "
				     "a backend of type vm)",
				     json_string_value(vr.provider));
		if (r >= 0 && vr.provider)
			r = cfg_dup(x, "qemu", &a->vm.provider);
		if (r >= 0 && vr.image)
			r = cfg_parse_file(x, "image", vr.image, &a->vm.image);
		if (r >= 0)
			r = cfg_parse_resources(x, vr.resources, &a->vm);
		cfg_path_pop(x, inner);
	}
	if (r >= 0 && raw.ssh) {
		inner = cfg_path_key(x, "ssh");
		r = cfg_parse_ssh_object(x, raw.ssh, &a->ssh);
		cfg_path_pop(x, inner);
	}
	if (r >= 0 && raw.node) {
		const char *n = json_string_value(raw.node);

		if (!cfg_node_url(x, n))
			r = cfg_fail(x, "node", "unknown node '%s'", n);
		else
			r = cfg_dup(x, n, &a->sandbox_node);
	}
	if (r >= 0 && raw.scope)
		r = cfg_parse_scope(x, raw.scope, &a->docker.scope);
	if (r >= 0 && raw.docker) {
		inner = cfg_path_key(x, "docker");
		r = cfg_scan(x, raw.docker, docker_fields, &d);
		if (r >= 0)
			r = cfg_parse_docker(x, d.image, d.host, NULL,
					     &a->docker);
		if (r >= 0 && d.memory)
			r = cfg_sbx_set(x, "memory", d.memory, &a->sbx);
		if (r >= 0 && d.cpus)
			r = cfg_sbx_set(x, "cpus", d.cpus, &a->sbx);
		if (r >= 0 && d.pids)
			r = cfg_sbx_set(x, "pids", d.pids, &a->sbx);
		if (r >= 0 && d.network)
			r = cfg_sbx_set(x, "network", d.network, &a->sbx);
		if (r >= 0 && d.timeout && timeout)
			r = cfg_fail(
				x, "timeout",
				"conflicts with the agent's 'timeout': use "
				"one");
		if (r >= 0 && d.timeout)
			r = cfg_parse_timeout(x, d.timeout, &a->timeout_ms);
		cfg_path_pop(x, inner);
	}
	cfg_path_pop(x, mark);
	return r;
}

/* Where sandbox.mode and tools.exec.host "sandbox" / "auto" send an agent
 * (or the defaults) that names no backend itself; dmode: the defaults'
 * sandbox.mode (NULL for the defaults themselves). */
static int route_sandbox(struct ctx *x, struct exec_agent_conf *a,
			 const char *dmode, const char *dnode)
{
	const char *mode = a->sandbox_mode ? a->sandbox_mode : dmode;
	bool off = !mode || strcmp(mode, "off") == 0;
	bool routed = a->exec_host == EXEC_HOST_SANDBOX ||
		      a->exec_host == EXEC_HOST_AUTO ||
		      (a->exec_host == EXEC_HOST_UNSET && a->sandbox_mode);

	if (a->backend)
		return 0;
	if (routed && mode && strcmp(mode, "node") == 0) {
		/* sandbox.node names the node, as tools.exec.node does. */
		const char *n = a->sandbox_node ? a->sandbox_node : dnode;
		int r;

		if (!n)
			return cfg_fail(x, "sandbox.node",
					"required when sandbox.mode is 'node'");
		r = cfg_dup(x, "node", &a->backend);
		return r < 0 ? r : cfg_dup(x, n, &a->node);
	}
	switch (a->exec_host) {
	case EXEC_HOST_SANDBOX:
		if (off)
			return cfg_fail(
				x, "tools.exec.host",
				"'sandbox', but sandbox.mode is %s: set "
				"sandbox.mode (docker)",
				mode ? "'off'" : "not set");
		return cfg_dup(x, mode, &a->backend);
	case EXEC_HOST_AUTO:
		return cfg_dup(x, off ? "host" : mode, &a->backend);
	default:
		/* Its own sandbox.mode alone routes it, as gateways do. */
		if (!a->sandbox_mode)
			return 0;
		return cfg_dup(x, off ? "host" : mode, &a->backend);
	}
}

/* "policy" and "allow" of an agent or the defaults. */
static int parse_policy(struct ctx *x, json_t *policy, json_t *allow,
			struct exec_policy *p)
{
	const char *m = policy ? json_string_value(policy) : NULL;
	json_t *v;
	size_t i;

	if (m) {
		if (strcmp(m, "full") == 0)
			p->mode = EXEC_POLICY_FULL;
		else if (strcmp(m, "allowlist") == 0)
			p->mode = EXEC_POLICY_ALLOWLIST;
		else if (strcmp(m, "deny") == 0)
			p->mode = EXEC_POLICY_DENY;
		else
			return cfg_fail(x, "policy",
					"'%s': one of full, allowlist, deny",
					m);
		p->set = true;
	}
	if (allow && p->mode != EXEC_POLICY_ALLOWLIST)
		return cfg_fail(x, "allow", "needs \"policy\": \"allowlist\"");
	if (p->mode == EXEC_POLICY_ALLOWLIST && !json_array_size(allow))
		return cfg_fail(x, "policy",
				"allowlist needs \"allow\": the programs, by "
				"absolute path");
	if (!allow)
		return 0;
	p->allow = calloc(json_array_size(allow), sizeof(*p->allow));
	if (!p->allow)
		return cfg_fail_oom(x);
	json_array_foreach(allow, i, v)
	{
		const char *s = json_string_value(v);
		size_t mark;
		int r = 0;

		mark = cfg_path_key(x, "allow");
		cfg_path_push(x, "[%zu]", i);
		if (!s)
			r = cfg_fail(x, NULL, "expected a string");
		else if (s[0] != '/')
			r = cfg_fail(x, NULL,
				     "'%s': an absolute path (a pattern: "
				     "/usr/bin/*)",
				     s);
		else
			r = cfg_dup(x, s, &p->allow[p->nallow++]);
		cfg_path_pop(x, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One agent (or the defaults, when a->id stays NULL) at the current path.
 * seen maps each id already parsed to its index. */
static int parse_agent(struct ctx *x, json_t *v, bool defaults, json_t *seen,
		       size_t index, struct exec_agent_conf *a)
{
	struct agent_raw raw = { 0 };
	json_t *prev;
	int r;

	a->docker.scope = -1;
	r = cfg_scan(x, v, agent_fields, &raw);
	if (r < 0)
		return r;
	if (defaults && raw.id)
		return cfg_fail(x, "id", "unknown key");
	if (defaults && raw.workspace)
		return cfg_fail(x, "workspace",
				"not allowed in the defaults: each agent has a "
				"workspace of its own");
	if (!defaults) {
		const char *id = json_string_value(raw.id);

		if (!id)
			return cfg_fail(x, NULL, "missing 'id'");
		if (!*id)
			return cfg_fail(x, "id", "must not be empty");
		prev = json_object_get(seen, id);
		if (prev)
			return cfg_fail(x, "id",
					"duplicate id '%s' (also "
					"agents.list[%" JSON_INTEGER_FORMAT
					"])",
					id, json_integer_value(prev));
		if (json_object_set_new(seen, id,
					json_integer((json_int_t)index)) < 0)
			return cfg_fail_oom(x);
		r = cfg_dup(x, id, &a->id);
		if (r < 0)
			return r;
	}
	r = raw.backend
		    ? cfg_check_backend_name(x, json_string_value(raw.backend))
		    : 0;
	if (r >= 0 && raw.backend)
		r = cfg_dup(x, json_string_value(raw.backend), &a->backend);
	if (r >= 0)
		r = parse_tools_exec(x, &raw, a);
	if (r >= 0 && raw.timeout)
		r = cfg_parse_timeout(x, raw.timeout, &a->timeout_ms);
	if (r >= 0 && raw.workspace)
		r = cfg_parse_name(x, "workspace", raw.workspace,
				   &a->workspace);
	if (r >= 0 && raw.domain)
		r = cfg_parse_name(x, "domain", raw.domain, &a->domain);
	if (r >= 0 && raw.dir) {
		const char *d = json_string_value(raw.dir);

		if (defaults)
			return cfg_fail(
				x, "dir",
				"not allowed in the defaults: each agent "
				"has a directory of its own");
		if (d[0] != '/')
			return cfg_fail(x, "dir",
					"'%s': must be an absolute path", d);
		r = cfg_dup(x, d, &a->dir);
	}
	if (r >= 0)
		r = cfg_parse_sbx(x, raw.limits, raw.network, raw.mount,
				  &a->sbx);
	if (r >= 0)
		r = parse_policy(x, raw.policy, raw.allow, &a->policy);
	if (r >= 0 && raw.sandbox)
		r = parse_agent_sandbox(x, raw.sandbox, raw.timeout != NULL, a);
	if (r >= 0)
		r = route_sandbox(
			x, a, defaults ? NULL : x->c->defaults.sandbox_mode,
			defaults ? NULL : x->c->defaults.sandbox_node);
	return r;
}

/* "agents" (may be NULL) at the current path. */
static int parse_agents(struct ctx *x, json_t *v)
{
	struct exec_config *c = x->c;
	struct agents_raw raw = { 0 };
	json_t *seen, *entry;
	size_t i, mark;
	int r;

	if (v) {
		r = cfg_scan(x, v, agents_fields, &raw);
		if (r < 0)
			return r;
	}
	if (raw.defaults) {
		mark = cfg_path_key(x, "defaults");
		r = parse_agent(x, raw.defaults, true, NULL, 0, &c->defaults);
		cfg_path_pop(x, mark);
		if (r < 0)
			return r;
	}
	if (!c->defaults.backend && cfg_dup(x, "host", &c->defaults.backend))
		return -ENOMEM;
	if (!raw.list || !json_array_size(raw.list))
		return 0;
	c->agents = calloc(json_array_size(raw.list), sizeof(*c->agents));
	seen = json_object();
	if (!c->agents || !seen) {
		json_decref(seen);
		return cfg_fail_oom(x);
	}
	r = 0;
	json_array_foreach(raw.list, i, entry)
	{
		mark = cfg_path_key(x, "list");
		cfg_path_push(x, "[%zu]", i);
		r = parse_agent(x, entry, false, seen, i, &c->agents[i]);
		cfg_path_pop(x, mark);
		c->n_agents = i + 1; /* freed by exec_config_free from here */
		if (r < 0)
			break;
	}
	json_decref(seen);
	return r;
}

/* backends / nodes: user-named entries of size bytes each, parsed by one. */
static int parse_named(struct ctx *x, json_t *obj, const char *what,
		       size_t size, void **arr, size_t *n,
		       int (*one)(struct ctx *, const char *, json_t *, void *))
{
	size_t mark, inner;
	const char *name;
	json_t *v;
	int r = 0;

	if (!obj || !json_object_size(obj))
		return 0;
	*arr = calloc(json_object_size(obj), size);
	if (!*arr)
		return cfg_fail_oom(x);
	mark = cfg_path_key(x, what);
	inner = x->plen;
	json_object_foreach(obj, name, v)
	{
		if (!*name) {
			r = cfg_fail(x, NULL, "empty name");
			break;
		}
		cfg_path_key(x, name);
		r = one(x, name, v, (char *)*arr + *n * size);
		cfg_path_pop(x, inner);
		(*n)++; /* freed by exec_config_free from here */
		if (r < 0)
			break;
	}
	cfg_path_pop(x, mark);
	return r;
}

static bool blank(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!text[i] || !strchr(" \t\r\n", text[i]))
			return false;
	return true;
}

/* Every agent whose commands get a sandbox (its settings or the
 * defaults') runs on a backend that makes one: the routing of a listed
 * agent never fails later. */
static int check_sandboxes(struct ctx *x)
{
	const struct exec_config *c = x->c;

	for (size_t i = 0; i < c->n_agents; i++) {
		const struct exec_agent_conf *a = &c->agents[i];
		const struct exec_agent_conf *route = a->backend ? a
								 : &c->defaults;
		const struct exec_backend_ops *ops;
		const char *type = route->node ? "node" : route->backend;
		size_t mark;

		for (size_t k = 0; !route->node && k < c->n_backends; k++)
			if (strcmp(c->backends[k].name, route->backend) == 0)
				type = c->backends[k].type;
		ops = exec_backend_lookup(type);
		if (!exec_sbx_conf_given(&a->sbx) &&
		    !exec_sbx_conf_given(&c->defaults.sbx))
			continue;
		if (ops && (ops->caps & EXEC_CAP_SANDBOX))
			continue;
		mark = cfg_path_push(x, ".list[%zu]", i);
		cfg_fail(x, NULL,
			 "limits, network and mount need a backend that "
			 "sandboxes (a node): backend '%s' (type %s) runs "
			 "commands without one",
			 route->backend, type);
		cfg_path_pop(x, mark);
		return -EINVAL;
	}
	return 0;
}

/* Every agent routed to docker has an image to run in, and every one
 * routed to an ssh host of its own (sandbox.mode ssh) has that host. */
static int check_docker(struct ctx *x)
{
	const struct exec_config *c = x->c;
	struct exec_docker_conf d;
	struct exec_ssh_conf h;
	size_t mark;

	for (size_t i = 0; i < c->n_agents; i++) {
		const struct exec_agent_conf *a = &c->agents[i];

		if (a->backend && strcmp(a->backend, "ssh") == 0 &&
		    (!x->backends || !json_object_get(x->backends, "ssh")) &&
		    exec_router_ssh(c, a->id, &h, NULL, 0) <= 0) {
			mark = cfg_path_push(x, ".list[%zu]", i);
			cfg_fail(x, NULL,
				 "runs over ssh without a host: give "
				 "sandbox.ssh.host");
			cfg_path_pop(x, mark);
			return -EINVAL;
		}
		if (exec_router_docker(c, a->id, &d, NULL, 0) <= 0 || d.image)
			continue;
		mark = cfg_path_push(x, ".list[%zu]", i);
		cfg_fail(x, NULL,
			 "runs in docker without an image: give "
			 "sandbox.docker.image (or \"image\" on the backend)");
		cfg_path_pop(x, mark);
		return -EINVAL;
	}
	return 0;
}

/* The JSON tree to the config; nodes first, as backends and agents refer
 * to them, then backends, which agents refer to. */
static int parse_tree(struct ctx *x, json_t *root)
{
	struct exec_config *c = x->c;
	struct top_raw raw = { 0 };
	void *arr = NULL;
	size_t mark;
	int r;

	r = cfg_scan(x, root, top_fields, &raw);
	if (r < 0)
		return r;
	if (raw.audit) {
		const char *a = json_string_value(raw.audit);

		if (a[0] != '/')
			return cfg_fail(x, "audit",
					"'%s': must be an absolute path", a);
		r = cfg_dup(x, a, &c->audit_path);
		if (r < 0)
			return r;
	}
	r = parse_named(x, raw.nodes, "nodes", sizeof(*c->nodes), &arr,
			&c->n_nodes, cfg_parse_node);
	c->nodes = arr;
	if (r < 0)
		return r;
	x->nodes = raw.nodes;
	arr = NULL;
	r = parse_named(x, raw.backends, "backends", sizeof(*c->backends), &arr,
			&c->n_backends, cfg_parse_backend);
	c->backends = arr;
	if (r < 0)
		return r;
	x->backends = raw.backends;
	mark = cfg_path_key(x, "agents");
	r = parse_agents(x, raw.agents);
	if (r >= 0)
		r = check_sandboxes(x);
	if (r >= 0)
		r = check_docker(x);
	cfg_path_pop(x, mark);
	if (r >= 0) {
		char home[PATH_MAX], url[PATH_MAX + 16], err[256];

		if (exec_local_node_paths(home, sizeof(home), url, sizeof(url),
					  err, sizeof(err)) == 0)
			r = cfg_dup(x, url, &c->local_url);
	}
	return r;
}

/* jansson's error as "ORIGIN:LINE:COL: text", or -ENOMEM. */
static int fail_json(struct ctx *x, const json_error_t *jerr)
{
	if (json_error_code(jerr) == json_error_out_of_memory)
		return cfg_fail_oom(x);
	if (x->errlen) {
		snprintf(x->err, x->errlen, "%s:%d:%d: %s", x->c->origin,
			 jerr->line, jerr->column, jerr->text);
		cfg_one_line(x->err);
	}
	return -EINVAL;
}

int exec_config_parse(const char *text, size_t len, const char *origin,
		      struct exec_config **ret, char *err, size_t errlen)
{
	struct ctx x = { .err = err, .errlen = err ? errlen : 0 };
	json_error_t jerr;
	json_t *root;
	int r;

	x.c = calloc(1, sizeof(*x.c));
	if (!x.c)
		return -ENOMEM;
	x.c->defaults.docker.scope = -1;
	x.c->origin = strdup(origin ? origin : "<config>");
	if (!x.c->origin)
		r = -ENOMEM;
	else if (blank(text, len))
		r = cfg_fail(&x, NULL, "empty file (expected a JSON object)");
	else if (!(root = json_loadb(text, len,
				     JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
				     &jerr)))
		r = fail_json(&x, &jerr);
	else {
		r = parse_tree(&x, root);
		json_decref(root);
	}
	if (r < 0) {
		exec_config_free(x.c);
		return r;
	}
	*ret = x.c;
	return 0;
}

static void agent_fini(struct exec_agent_conf *a)
{
	exec_ssh_conf_clear(&a->ssh);
	free(a->sandbox_node);
	exec_vm_conf_clear(&a->vm);
	exec_docker_conf_clear(&a->docker);
	free(a->sandbox_mode);
	free(a->id);
	free(a->backend);
	free(a->node);
	free(a->workspace);
	free(a->dir);
	free(a->domain);
	for (size_t i = 0; i < a->policy.nallow; i++)
		free(a->policy.allow[i]);
	free(a->policy.allow);
}

void exec_config_free(struct exec_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_backends; i++) {
		free(c->backends[i].name);
		free(c->backends[i].type);
		free(c->backends[i].url);
		exec_docker_conf_clear(&c->backends[i].docker);
		exec_ssh_conf_clear(&c->backends[i].ssh);
		exec_vm_conf_clear(&c->backends[i].vm);
		free(c->backends[i].plugin_path);
		free(c->backends[i].plugin_options);
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		free(c->nodes[i].name);
		free(c->nodes[i].url);
	}
	for (size_t i = 0; i < c->n_agents; i++)
		agent_fini(&c->agents[i]);
	agent_fini(&c->defaults);
	free(c->backends);
	free(c->nodes);
	free(c->agents);
	free(c->local_url);
	free(c->audit_path);
	free(c->origin);
	free(c);
}
