/* SPDX-License-Identifier: MIT */
/* The config's "backends" and "nodes" entries (config_int.h): each type's
 * keys (a node's url, docker's image and engine, ssh's host and login),
 * and the sandbox settings backends and agents share. */
#include "config_int.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cleanup.h"

struct backend_raw {
	json_t *type, *url, *node, *writeback, *limits, *network, *mount;
	json_t *image, *host, *scope, *idle, *max_age; /* docker */
	json_t *port, *user, *key, *known_hosts, *strict, *connect_timeout,
		*remote_dir;			     /* ssh (and host) */
	json_t *path, *options;			     /* plugin */
	json_t *provider, *resources, *start, *stop; /* vm */
};
struct node_raw {
	json_t *url;
};
/* The keys of an ssh login ("host" aside: docker has one too). */
/* clang-format off */
#define SSH_FIELDS \
	{ "port", K_NUMBER, SLOT(backend_raw, port) }, \
	{ "user", K_STRING, SLOT(backend_raw, user) }, \
	{ "key", K_STRING, SLOT(backend_raw, key) }, \
	{ "known_hosts", K_STRING, SLOT(backend_raw, known_hosts) }, \
	{ "strict_host_key", K_STRING, SLOT(backend_raw, strict) }, \
	{ "connect_timeout", K_NUMBER, SLOT(backend_raw, connect_timeout) }, \
	{ "remote_dir", K_STRING, SLOT(backend_raw, remote_dir) }
/* clang-format on */

static const struct field backend_fields[] = {
	{ "type", K_STRING, SLOT(backend_raw, type) },
	{ "url", K_STRING, SLOT(backend_raw, url) },
	{ "node", K_STRING, SLOT(backend_raw, node) },
	{ "writeback", K_STRING, SLOT(backend_raw, writeback) },
	{ "limits", K_OBJECT, SLOT(backend_raw, limits) },
	{ "network", K_STRING, SLOT(backend_raw, network) },
	{ "mount", K_STRING, SLOT(backend_raw, mount) },
	{ "image", K_STRING, SLOT(backend_raw, image) },
	{ "host", K_STRING, SLOT(backend_raw, host) },
	{ "scope", K_STRING, SLOT(backend_raw, scope) },
	{ "idle", K_NUMBER, SLOT(backend_raw, idle) },
	{ "max_age", K_NUMBER, SLOT(backend_raw, max_age) },
	SSH_FIELDS,
	{ "path", K_STRING, SLOT(backend_raw, path) },
	{ "options", K_OBJECT, SLOT(backend_raw, options) },
	{ "provider", K_STRING, SLOT(backend_raw, provider) },
	{ "resources", K_OBJECT, SLOT(backend_raw, resources) },
	{ "start", K_STRING, SLOT(backend_raw, start) },
	{ "stop", K_STRING, SLOT(backend_raw, stop) },
	{ 0 },
};

/* The gateway form's sandbox.ssh: an ssh backend's keys alone. */
static const struct field ssh_fields_table[] = {
	{ "host", K_STRING, SLOT(backend_raw, host) },
	SSH_FIELDS,
	{ 0 },
};

static const struct field node_fields[] = {
	{ "url", K_STRING, SLOT(node_raw, url) },
	{ 0 },
};

int cfg_parse_node(struct ctx *x, const char *name, json_t *v, void *out)
{
	struct exec_node_conf *n = out;
	struct node_raw raw = { 0 };
	int r;

	r = cfg_scan(x, v, node_fields, &raw);
	if (r < 0)
		return r;
	if (!raw.url)
		return cfg_fail(x, NULL, "missing 'url'");
	r = cfg_check_url(x, "url", json_string_value(raw.url));
	if (r >= 0)
		r = cfg_dup(x, name, &n->name);
	return r < 0 ? r : cfg_dup(x, json_string_value(raw.url), &n->url);
}

/* One sandbox setting, a string or a number, into s. */
int cfg_sbx_set(struct ctx *x, const char *key, json_t *v,
		struct exec_sbx_conf *s)
{
	char text[64], err[128];
	int r;

	if (json_is_string(v))
		snprintf(text, sizeof(text), "%s", json_string_value(v));
	else if (json_is_integer(v) && json_integer_value(v) >= 0)
		snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	else if (json_is_real(v) && json_real_value(v) >= 0)
		snprintf(text, sizeof(text), "%.3f", json_real_value(v));
	else
		return cfg_fail(x, key,
				"expected a string or a number, 0 or more");
	r = exec_sbx_conf_set(s, key, text, err, sizeof(err));
	if (r == -ENOENT)
		return cfg_fail(x, key, "unknown key");
	return r < 0 ? cfg_fail(x, key, "'%s': %s", text, err) : 0;
}

/* "limits", "network" and "mount" of a backend or an agent. */
int cfg_parse_sbx(struct ctx *x, json_t *limits, json_t *network, json_t *mount,
		  struct exec_sbx_conf *s)
{
	const char *key;
	json_t *v;
	size_t mark;
	int r = 0;

	s->req.mode = EXEC_WS_COW;
	if (limits) {
		mark = cfg_path_key(x, "limits");
		json_object_foreach(limits, key, v)
		{
			if (strcmp(key, "network") == 0 ||
			    strcmp(key, "mount") == 0)
				r = cfg_fail(x, key, "unknown key");
			else
				r = cfg_sbx_set(x, key, v, s);
			if (r < 0)
				break;
		}
		cfg_path_pop(x, mark);
	}
	if (r >= 0 && network)
		r = cfg_sbx_set(x, "network", network, s);
	if (r >= 0 && mount)
		r = cfg_sbx_set(x, "mount", mount, s);
	return r;
}

/* "scope": "session" or "command". */
int cfg_parse_scope(struct ctx *x, json_t *v, int *ret)
{
	const char *s = json_string_value(v);

	if (strcmp(s, "session") == 0)
		*ret = EXEC_SCOPE_SESSION;
	else if (strcmp(s, "command") == 0)
		*ret = EXEC_SCOPE_COMMAND;
	else
		return cfg_fail(x, "scope", "'%s': one of session, command", s);
	return 0;
}

/* The settings of an ssh backend, and its url. */
static int ssh_fields(struct ctx *x, const struct backend_raw *raw,
		      struct exec_ssh_conf *s, const char *type)
{
	int r = 0;

	if (!raw->host)
		return cfg_fail(x, NULL, "type '%s' needs 'host'", type);
	if (!*json_string_value(raw->host))
		return cfg_fail(x, "host", "must not be empty");
	r = cfg_dup(x, json_string_value(raw->host), &s->host);
	if (r >= 0 && raw->port) {
		json_int_t p = json_integer_value(raw->port);

		if (!json_is_integer(raw->port) || p < 1 || p > 65535)
			return cfg_fail(x, "port", "1 to 65535");
		s->port = (uint32_t)p;
	}
	if (r >= 0 && raw->user)
		r = cfg_dup(x, json_string_value(raw->user), &s->user);
	if (r >= 0 && raw->key)
		r = cfg_parse_file(x, "key", raw->key, &s->key);
	if (r >= 0 && raw->known_hosts)
		r = cfg_parse_file(x, "known_hosts", raw->known_hosts,
				   &s->known_hosts);
	if (r >= 0 && raw->remote_dir)
		r = cfg_dup(x, json_string_value(raw->remote_dir),
			    &s->remote_dir);
	if (r >= 0 && raw->connect_timeout)
		r = cfg_parse_seconds(x, "connect_timeout",
				      raw->connect_timeout, &s->timeout_s);
	if (r >= 0 && raw->strict) {
		const char *v = json_string_value(raw->strict);

		if (strcmp(v, "accept-new") == 0)
			s->accept_new = true;
		else if (strcmp(v, "yes") != 0)
			return cfg_fail(x, "strict_host_key",
					"'%s': yes or accept-new", v);
	}
	return r;
}

static int parse_ssh(struct ctx *x, const struct backend_raw *raw,
		     struct exec_ssh_conf *s, char *url, size_t cap)
{
	char err[512];
	int r = ssh_fields(x, raw, s, "ssh");

	if (r < 0)
		return r;
	r = exec_ssh_url(s, url, cap, err, sizeof(err));
	if (r < 0)
		return cfg_fail(x, NULL, "%s", err);
	return 0;
}

int cfg_parse_ssh_object(struct ctx *x, json_t *obj, struct exec_ssh_conf *s)
{
	struct backend_raw raw = { 0 };
	int r = cfg_scan(x, obj, ssh_fields_table, &raw);

	return r < 0 ? r : ssh_fields(x, &raw, s, "ssh");
}

int cfg_parse_resources(struct ctx *x, json_t *res, struct exec_vm_conf *v)
{
	const char *key;
	json_t *val;
	size_t mark;
	int r = 0;

	if (!res)
		return 0;
	mark = cfg_path_key(x, "resources");
	json_object_foreach(res, key, val)
	{
		if (strcmp(key, "cpu") == 0) {
			if (!json_is_integer(val) ||
			    json_integer_value(val) < 1 ||
			    json_integer_value(val) > 64)
				r = cfg_fail(x, key, "a whole number, 1 to 64");
			else
				v->cpus = (uint32_t)json_integer_value(val);
		} else if (strcmp(key, "memory") == 0) {
			struct exec_sbx_conf tmp = { 0 };

			r = cfg_sbx_set(x, "memory", val, &tmp);
			if (r >= 0 && tmp.req.lim.memory < (64u << 20))
				r = cfg_fail(x, key, "at least 64m");
			if (r >= 0)
				v->memory = tmp.req.lim.memory;
		} else {
			r = cfg_fail(x, key, "unknown key");
		}
		if (r < 0)
			break;
	}
	cfg_path_pop(x, mark);
	return r;
}

/* A vm backend: its provider's settings, and its url. */
static int parse_vm(struct ctx *x, const char *name,
		    const struct backend_raw *raw, struct exec_vm_conf *v,
		    char *url, size_t cap)
{
	const char *prov = raw->provider ? json_string_value(raw->provider)
					 : "qemu";
	bool command = strcmp(prov, "command") == 0;
	char id[512], err[512];
	int r = 0;

	if (!command && strcmp(prov, "qemu") != 0)
		return cfg_fail(x, "provider", "'%s': qemu or command", prov);
	if (!command && (raw->start || raw->stop || raw->host))
		return cfg_fail(x,
				raw->start  ? "start"
				: raw->stop ? "stop"
					    : "host",
				"only for provider 'command'");
	if (command && raw->image)
		return cfg_fail(x, "image", "only for provider 'qemu'");
	r = cfg_dup(x, prov, &v->provider);
	if (r >= 0 && raw->image)
		r = cfg_parse_file(x, "image", raw->image, &v->image);
	if (r >= 0)
		r = cfg_parse_resources(x, raw->resources, v);
	if (r >= 0 && raw->start)
		r = cfg_dup(x, json_string_value(raw->start), &v->start);
	if (r >= 0 && raw->stop)
		r = cfg_dup(x, json_string_value(raw->stop), &v->stop);
	if (r >= 0 && command)
		r = ssh_fields(x, raw, &v->ssh, "vm");
	if (r < 0)
		return r;
	snprintf(id, sizeof(id), "backend:%s", name);
	r = exec_vm_url(id, url, cap, err, sizeof(err));
	return r < 0 ? cfg_fail(x, NULL, "%s", err) : 0;
}

/* The docker settings of a backend or of sandbox.docker. */
int cfg_parse_docker(struct ctx *x, json_t *image, json_t *host, json_t *scope,
		     struct exec_docker_conf *d)
{
	int r = 0;

	if (image && !*json_string_value(image))
		return cfg_fail(x, "image", "must not be empty");
	if (host) {
		const char *h = json_string_value(host);

		if (strncmp(h, "unix:///", 8) != 0 &&
		    strncmp(h, "tcp://", 6) != 0)
			return cfg_fail(x, "host",
					"'%s': expected unix:///PATH or "
					"tcp://HOST:PORT",
					h);
		r = cfg_dup(x, h, &d->host);
	}
	if (r >= 0 && image)
		r = cfg_dup(x, json_string_value(image), &d->image);
	if (r >= 0 && scope)
		r = cfg_parse_scope(x, scope, &d->scope);
	return r;
}

int cfg_parse_backend(struct ctx *x, const char *name, json_t *v, void *out)
{
	const struct exec_backend_ops *ops, *same;
	struct exec_backend_conf *b = out;
	struct backend_raw raw = { 0 };
	const char *type, *url = NULL;
	char ssh_url[PATH_MAX + 32];
	int r;

	r = cfg_scan(x, v, backend_fields, &raw);
	if (r < 0)
		return r;
	if (!raw.type)
		return cfg_fail(x, NULL, "missing 'type'");
	type = json_string_value(raw.type);
	ops = exec_backend_lookup(type);
	if (!ops)
		return cfg_fail(x, "type", "unknown backend type '%s'", type);
	/* A name that is also a type name must be of that type, so "host"
	 * (and tools.exec.host "gateway") always means a host backend. */
	same = exec_backend_lookup(name);
	if (same && same != ops)
		return cfg_fail(x, "type", "backend '%s' must have type '%s'",
				name, name);
	if (ops == &exec_backend_ssh_ops || ops == &exec_backend_vm_ops) {
		r = ops == &exec_backend_ssh_ops
			    ? parse_ssh(x, &raw, &b->ssh, ssh_url,
					sizeof(ssh_url))
			    : parse_vm(x, name, &raw, &b->vm, ssh_url,
				       sizeof(ssh_url));
		if (r < 0)
			return r;
		url = ssh_url;
		if (raw.url || raw.node)
			return cfg_fail(x, raw.url ? "url" : "node",
					"not allowed for type '%s'", type);
	} else if (raw.provider || raw.resources || raw.start || raw.stop) {
		return cfg_fail(x,
				raw.provider	? "provider"
				: raw.resources ? "resources"
				: raw.start	? "start"
						: "stop",
				"not allowed for type '%s' (only 'vm')", type);
	} else if (raw.port || raw.user || raw.key || raw.known_hosts ||
		   raw.strict || raw.connect_timeout || raw.remote_dir) {
		return cfg_fail(x,
				raw.port	  ? "port"
				: raw.user	  ? "user"
				: raw.key	  ? "key"
				: raw.known_hosts ? "known_hosts"
				: raw.strict	  ? "strict_host_key"
				: raw.remote_dir  ? "remote_dir"
						  : "connect_timeout",
				"not allowed for type '%s' (only 'ssh')", type);
	} else if ((ops->caps & EXEC_CAP_REMOTE) &&
		   !(ops->caps & EXEC_CAP_LOCAL)) {
		if (!raw.url == !raw.node)
			return cfg_fail(x, NULL,
					"type '%s' needs one of 'url' "
					"or 'node'%s",
					type, raw.url ? ", not both" : "");
		url = json_string_value(raw.url);
		r = url ? cfg_check_url(x, "url", url) : 0;
		if (r < 0)
			return r;
		if (!url &&
		    !(url = cfg_node_url(x, json_string_value(raw.node))))
			return cfg_fail(x, "node", "unknown node '%s'",
					json_string_value(raw.node));
	} else if (raw.url || raw.node ||
		   (raw.writeback && !(ops->caps & EXEC_CAP_REMOTE))) {
		return cfg_fail(x,
				raw.url	   ? "url"
				: raw.node ? "node"
					   : "writeback",
				"not allowed for type '%s'", type);
	}
	if (raw.writeback) {
		const char *w = json_string_value(raw.writeback);

		if (strcmp(w, "review") == 0)
			b->writeback = EXEC_WRITEBACK_REVIEW;
		else if (strcmp(w, "none") == 0)
			b->writeback = EXEC_WRITEBACK_NONE;
		else if (strcmp(w, "sync") == 0)
			b->writeback = EXEC_WRITEBACK_SYNC;
		else
			return cfg_fail(x, "writeback",
					"'%s': one of none, review, sync", w);
	}
	b->docker.scope = -1;
	if (ops == &exec_backend_ssh_ops || ops == &exec_backend_vm_ops) {
		/* "host" is the ssh host's, "image" the vm's: read above. */
	} else if (ops == &exec_backend_sandbox_ops &&
		   !(raw.image || raw.host || raw.idle || raw.max_age)) {
		/* scope: what its commands write in the view, kept or not */
		r = raw.scope ? cfg_parse_scope(x, raw.scope, &b->docker.scope)
			      : 0;
		if (r < 0)
			return r;
	} else if (ops == &exec_backend_docker_ops) {
		r = cfg_parse_docker(x, raw.image, raw.host, raw.scope,
				     &b->docker);
		if (r >= 0 && raw.idle)
			r = cfg_parse_seconds(x, "idle", raw.idle,
					      &b->docker.idle_s);
		if (r >= 0 && raw.max_age)
			r = cfg_parse_seconds(x, "max_age", raw.max_age,
					      &b->docker.max_age_s);
		if (r < 0)
			return r;
	} else if (raw.image || raw.host || raw.scope || raw.idle ||
		   raw.max_age) {
		return cfg_fail(x,
				raw.image   ? "image"
				: raw.host  ? "host"
				: raw.scope ? "scope"
				: raw.idle  ? "idle"
					    : "max_age",
				"not allowed for type '%s' (only 'docker'%s)",
				type, raw.scope ? " and 'sandbox'" : "");
	}
	if (ops == &exec_backend_plugin_ops) {
		if (!raw.path)
			return cfg_fail(x, NULL, "type 'plugin' needs 'path'");
		r = cfg_parse_file(x, "path", raw.path, &b->plugin_path);
		if (r >= 0 && raw.options) {
			b->plugin_options =
				json_dumps(raw.options, JSON_COMPACT);
			if (!b->plugin_options)
				r = cfg_fail_oom(x);
		}
		if (r < 0)
			return r;
	} else if (raw.path || raw.options) {
		return cfg_fail(x, raw.path ? "path" : "options",
				"not allowed for type '%s' (only 'plugin')",
				type);
	}
	r = cfg_parse_sbx(x, raw.limits, raw.network, raw.mount, &b->sbx);
	if (r < 0)
		return r;
	if (exec_sbx_conf_given(&b->sbx) && !(ops->caps & EXEC_CAP_SANDBOX))
		return cfg_fail(x,
				raw.limits    ? "limits"
				: raw.network ? "network"
					      : "mount",
				"type '%s' runs commands without a sandbox",
				type);
	r = cfg_dup(x, name, &b->name);
	if (r >= 0)
		r = cfg_dup(x, type, &b->type);
	if (r >= 0 && url)
		r = cfg_dup(x, url, &b->url);
	return r;
}

/* Checks a backend name an agent gives: a backends key, or a type that
 * needs no url. */
int cfg_check_backend_name(struct ctx *x, const char *name)
{
	const struct exec_backend_ops *ops;

	if (x->backends && json_object_get(x->backends, name))
		return 0;
	ops = exec_backend_lookup(name);
	if (!ops)
		return cfg_fail(x, "backend", "unknown backend '%s'", name);
	if (ops == &exec_backend_plugin_ops)
		return cfg_fail(x, "backend",
				"type 'plugin' needs its shared object: "
				"define a backend of that type under "
				"'backends', with its 'path'");
	if ((ops->caps & EXEC_CAP_REMOTE) && !(ops->caps & EXEC_CAP_LOCAL))
		return cfg_fail(x, "backend",
				"type '%s' needs a url: define a "
				"backend of that type under 'backends'",
				name);
	return 0;
}
