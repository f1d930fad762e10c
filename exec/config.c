/* SPDX-License-Identifier: MIT */
/* The tether.json loader: a strict, table-driven walk of the JSON tree that
 * names every bad key by its full path, then cross-reference checks. */
#include "config.h"

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

#define TIMEOUT_MAX_S (30u * 86400u) /* 30 days; also fits uint32_t ms */
#define PATH_CAP      256	     /* longer JSON paths are cut in errors */
#define MSG_CAP	      512

/* The schema. Each object kind is a table of known keys; scan() rejects any
 * other key and any value of the wrong JSON type, and stores the accepted
 * values (borrowed from the tree) into a flat "raw" struct of json_t
 * pointers. A row with sub set is a nested object scanned into the same raw
 * struct. To accept a new key: add a row and a slot, then read the slot. */
enum kind { K_STRING, K_NUMBER, K_OBJECT, K_ARRAY, K_SCALAR };

struct field {
	const char *key;
	enum kind kind;
	size_t slot;		 /* offsetof the json_t * in the raw struct */
	const struct field *sub; /* K_OBJECT scanned in place, or NULL */
};

#define SLOT(type, member) offsetof(struct type, member)

struct top_raw {
	json_t *backends, *nodes, *agents, *audit;
};
struct agents_raw {
	json_t *defaults, *list;
};
struct backend_raw {
	json_t *type, *url, *node, *writeback, *limits, *network, *mount;
	json_t *image, *host, *scope, *idle, *max_age; /* docker */
	json_t *port, *user, *key, *known_hosts, *strict, *connect_timeout,
		*remote_dir; /* ssh (and host) */
};
struct node_raw {
	json_t *url;
};
struct agent_raw {
	json_t *id, *backend, *timeout, *exec_host, *exec_node, *workspace,
		*domain, *dir, *limits, *network, *mount, *policy, *allow,
		*sandbox;
};
/* The agent-gateway form's "sandbox" of an agent. */
struct sandbox_raw {
	json_t *mode, *scope, *docker, *vm;
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
	{ "port", K_NUMBER, SLOT(backend_raw, port) },
	{ "user", K_STRING, SLOT(backend_raw, user) },
	{ "key", K_STRING, SLOT(backend_raw, key) },
	{ "known_hosts", K_STRING, SLOT(backend_raw, known_hosts) },
	{ "strict_host_key", K_STRING, SLOT(backend_raw, strict) },
	{ "connect_timeout", K_NUMBER, SLOT(backend_raw, connect_timeout) },
	{ "remote_dir", K_STRING, SLOT(backend_raw, remote_dir) },
	{ 0 },
};

static const struct field node_fields[] = {
	{ "url", K_STRING, SLOT(node_raw, url) },
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

static const char *const url_schemes[] = { "tcp://", "ipc://", "tls+tcp://" };

struct ctx {
	struct exec_config *c;
	char *err;
	size_t errlen;
	json_t *nodes;	  /* the "nodes" object, once checked; or NULL */
	json_t *backends; /* the "backends" object, once checked; or NULL */
	char path[PATH_CAP];
	size_t plen;
};

/* One line, whatever the input held: names and values come from the file. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Appends to the path; returns the mark for path_pop. Cuts at PATH_CAP. */
static __attribute__((format(printf, 2, 3))) size_t
path_push(struct ctx *x, const char *fmt, ...)
{
	size_t mark = x->plen, room = sizeof(x->path) - x->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(x->path + x->plen, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->plen += (size_t)n < room ? (size_t)n : room - 1;
	return mark;
}

static size_t path_key(struct ctx *x, const char *key)
{
	return path_push(x, x->plen ? ".%s" : "%s", key);
}

static void path_pop(struct ctx *x, size_t mark)
{
	x->plen = mark;
	x->path[mark] = '\0';
}

/* Writes "ORIGIN: PATH[.key]: message" and returns -EINVAL. */
static __attribute__((format(printf, 3, 4))) int
fail(struct ctx *x, const char *key, const char *fmt, ...)
{
	char msg[MSG_CAP];
	size_t mark = x->plen;
	va_list ap;

	if (!x->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		path_key(x, key);
	if (x->plen)
		snprintf(x->err, x->errlen, "%s: %s: %s", x->c->origin, x->path,
			 msg);
	else
		snprintf(x->err, x->errlen, "%s: %s", x->c->origin, msg);
	path_pop(x, mark);
	one_line(x->err);
	return -EINVAL;
}

static int fail_oom(struct ctx *x)
{
	if (x->errlen)
		snprintf(x->err, x->errlen, "%s: out of memory", x->c->origin);
	return -ENOMEM;
}

static int dup_str(struct ctx *x, const char *s, char **ret)
{
	*ret = strdup(s);
	return *ret ? 0 : fail_oom(x);
}

static const struct field *field_find(const struct field *f, const char *key)
{
	for (; f->key; f++)
		if (strcmp(f->key, key) == 0)
			return f;
	return NULL;
}

static int check_kind(struct ctx *x, json_t *v, enum kind kind)
{
	static const char *const expected[] = {
		[K_STRING] = "expected a string",
		[K_NUMBER] = "expected a number",
		[K_OBJECT] = "expected an object",
		[K_ARRAY] = "expected an array",
		[K_SCALAR] = "expected a string or a number",
	};
	bool ok =
		(kind == K_STRING && json_is_string(v)) ||
		(kind == K_NUMBER && json_is_number(v)) ||
		(kind == K_OBJECT && json_is_object(v)) ||
		(kind == K_ARRAY && json_is_array(v)) ||
		(kind == K_SCALAR && (json_is_string(v) || json_is_number(v)));

	return ok ? 0 : fail(x, NULL, "%s", expected[kind]);
}

/* obj (at the current path) against fields; accepted values into raw. */
static int scan(struct ctx *x, json_t *obj, const struct field *fields,
		void *raw)
{
	const struct field *f;
	const char *key;
	json_t *v;
	size_t mark;
	int r;

	r = check_kind(x, obj, K_OBJECT);
	if (r < 0)
		return r;
	json_object_foreach(obj, key, v)
	{
		f = field_find(fields, key);
		if (!f)
			return fail(x, key, "unknown key");
		mark = path_key(x, key);
		r = check_kind(x, v, f->kind);
		if (r >= 0 && f->sub)
			r = scan(x, v, f->sub, raw);
		else if (r >= 0)
			*(json_t **)(void *)((char *)raw + f->slot) = v;
		path_pop(x, mark);
		if (r < 0)
			return r;
	}
	return 0;
}

static int check_url(struct ctx *x, const char *key, const char *url)
{
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(url_schemes); i++) {
		size_t n = strlen(url_schemes[i]);

		if (strncmp(url, url_schemes[i], n) == 0 && url[n])
			return 0;
	}
	return fail(x, key,
		    "bad url '%s' (expected tcp://, ipc:// or "
		    "tls+tcp://ADDRESS)",
		    url);
}

/* The url of node name (checked by parse_node), or NULL. */
static const char *node_url(struct ctx *x, const char *name)
{
	json_t *n = x->nodes ? json_object_get(x->nodes, name) : NULL;

	return n ? json_string_value(json_object_get(n, "url")) : NULL;
}

static int parse_node(struct ctx *x, const char *name, json_t *v, void *out)
{
	struct exec_node_conf *n = out;
	struct node_raw raw = { 0 };
	int r;

	r = scan(x, v, node_fields, &raw);
	if (r < 0)
		return r;
	if (!raw.url)
		return fail(x, NULL, "missing 'url'");
	r = check_url(x, "url", json_string_value(raw.url));
	if (r >= 0)
		r = dup_str(x, name, &n->name);
	return r < 0 ? r : dup_str(x, json_string_value(raw.url), &n->url);
}

/* One sandbox setting, a string or a number, into s. */
static int sbx_set(struct ctx *x, const char *key, json_t *v,
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
		return fail(x, key, "expected a string or a number, 0 or more");
	r = exec_sbx_conf_set(s, key, text, err, sizeof(err));
	if (r == -ENOENT)
		return fail(x, key, "unknown key");
	return r < 0 ? fail(x, key, "'%s': %s", text, err) : 0;
}

/* "limits", "network" and "mount" of a backend or an agent. */
static int parse_sbx(struct ctx *x, json_t *limits, json_t *network,
		     json_t *mount, struct exec_sbx_conf *s)
{
	const char *key;
	json_t *v;
	size_t mark;
	int r = 0;

	s->req.mode = EXEC_WS_COW;
	if (limits) {
		mark = path_key(x, "limits");
		json_object_foreach(limits, key, v)
		{
			if (strcmp(key, "network") == 0 ||
			    strcmp(key, "mount") == 0)
				r = fail(x, key, "unknown key");
			else
				r = sbx_set(x, key, v, s);
			if (r < 0)
				break;
		}
		path_pop(x, mark);
	}
	if (r >= 0 && network)
		r = sbx_set(x, "network", network, s);
	if (r >= 0 && mount)
		r = sbx_set(x, "mount", mount, s);
	return r;
}

/* A number of seconds, 1 to TIMEOUT_MAX_S, whole. */
static int parse_seconds(struct ctx *x, const char *key, json_t *v,
			 uint32_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > TIMEOUT_MAX_S)
		return fail(x, key, "whole seconds, 1 to %u", TIMEOUT_MAX_S);
	*ret = (uint32_t)json_integer_value(v);
	return 0;
}

/* "scope": "session" or "command". */
static int parse_scope(struct ctx *x, json_t *v, int *ret)
{
	const char *s = json_string_value(v);

	if (strcmp(s, "session") == 0)
		*ret = EXEC_SCOPE_SESSION;
	else if (strcmp(s, "command") == 0)
		*ret = EXEC_SCOPE_COMMAND;
	else
		return fail(x, "scope", "'%s': one of session, command", s);
	return 0;
}

/* An absolute path, or "~/..." (this user's home), into *out. */
static int parse_file(struct ctx *x, const char *key, json_t *v, char **out)
{
	const char *p = json_string_value(v), *home = getenv("HOME");

	if (p[0] == '~' && p[1] == '/' && home && home[0] == '/') {
		if (asprintf(out, "%s%s", home, p + 1) < 0) {
			*out = NULL;
			return fail_oom(x);
		}
		return 0;
	}
	if (p[0] != '/')
		return fail(x, key, "'%s': an absolute path, or ~/...", p);
	return dup_str(x, p, out);
}

/* The settings of an ssh backend, and its url. */
static int parse_ssh(struct ctx *x, const struct backend_raw *raw,
		     struct exec_ssh_conf *s, char *url, size_t cap)
{
	char err[512];
	int r = 0;

	if (!raw->host)
		return fail(x, NULL, "type 'ssh' needs 'host'");
	if (!*json_string_value(raw->host))
		return fail(x, "host", "must not be empty");
	r = dup_str(x, json_string_value(raw->host), &s->host);
	if (r >= 0 && raw->port) {
		json_int_t p = json_integer_value(raw->port);

		if (!json_is_integer(raw->port) || p < 1 || p > 65535)
			return fail(x, "port", "1 to 65535");
		s->port = (uint32_t)p;
	}
	if (r >= 0 && raw->user)
		r = dup_str(x, json_string_value(raw->user), &s->user);
	if (r >= 0 && raw->key)
		r = parse_file(x, "key", raw->key, &s->key);
	if (r >= 0 && raw->known_hosts)
		r = parse_file(x, "known_hosts", raw->known_hosts,
			       &s->known_hosts);
	if (r >= 0 && raw->remote_dir)
		r = dup_str(x, json_string_value(raw->remote_dir),
			    &s->remote_dir);
	if (r >= 0 && raw->connect_timeout)
		r = parse_seconds(x, "connect_timeout", raw->connect_timeout,
				  &s->timeout_s);
	if (r >= 0 && raw->strict) {
		const char *v = json_string_value(raw->strict);

		if (strcmp(v, "accept-new") == 0)
			s->accept_new = true;
		else if (strcmp(v, "yes") != 0)
			return fail(x, "strict_host_key",
				    "'%s': yes or accept-new", v);
	}
	if (r < 0)
		return r;
	r = exec_ssh_url(s, url, cap, err, sizeof(err));
	if (r < 0)
		return fail(x, NULL, "%s", err);
	return 0;
}

/* The docker settings of a backend or of sandbox.docker. */
static int parse_docker(struct ctx *x, json_t *image, json_t *host,
			json_t *scope, struct exec_docker_conf *d)
{
	int r = 0;

	if (image && !*json_string_value(image))
		return fail(x, "image", "must not be empty");
	if (host) {
		const char *h = json_string_value(host);

		if (strncmp(h, "unix:///", 8) != 0 &&
		    strncmp(h, "tcp://", 6) != 0)
			return fail(x, "host",
				    "'%s': expected unix:///PATH or "
				    "tcp://HOST:PORT",
				    h);
		r = dup_str(x, h, &d->host);
	}
	if (r >= 0 && image)
		r = dup_str(x, json_string_value(image), &d->image);
	if (r >= 0 && scope)
		r = parse_scope(x, scope, &d->scope);
	return r;
}

static int parse_backend(struct ctx *x, const char *name, json_t *v, void *out)
{
	const struct exec_backend_ops *ops, *same;
	struct exec_backend_conf *b = out;
	struct backend_raw raw = { 0 };
	const char *type, *url = NULL;
	char ssh_url[PATH_MAX + 32];
	int r;

	r = scan(x, v, backend_fields, &raw);
	if (r < 0)
		return r;
	if (!raw.type)
		return fail(x, NULL, "missing 'type'");
	type = json_string_value(raw.type);
	ops = exec_backend_lookup(type);
	if (!ops)
		return fail(x, "type", "unknown backend type '%s'", type);
	/* A name that is also a type name must be of that type, so "host"
	 * (and tools.exec.host "gateway") always means a host backend. */
	same = exec_backend_lookup(name);
	if (same && same != ops)
		return fail(x, "type", "backend '%s' must have type '%s'", name,
			    name);
	if (ops == &exec_backend_ssh_ops) {
		r = parse_ssh(x, &raw, &b->ssh, ssh_url, sizeof(ssh_url));
		if (r < 0)
			return r;
		url = ssh_url;
		if (raw.url || raw.node)
			return fail(x, raw.url ? "url" : "node",
				    "not allowed for type 'ssh' (give 'host')");
	} else if (raw.port || raw.user || raw.key || raw.known_hosts ||
		   raw.strict || raw.connect_timeout || raw.remote_dir) {
		return fail(x,
			    raw.port	      ? "port"
			    : raw.user	      ? "user"
			    : raw.key	      ? "key"
			    : raw.known_hosts ? "known_hosts"
			    : raw.strict      ? "strict_host_key"
			    : raw.remote_dir  ? "remote_dir"
					      : "connect_timeout",
			    "not allowed for type '%s' (only 'ssh')", type);
	} else if ((ops->caps & EXEC_CAP_REMOTE) &&
		   !(ops->caps & EXEC_CAP_LOCAL)) {
		if (!raw.url == !raw.node)
			return fail(x, NULL,
				    "type '%s' needs one of 'url' "
				    "or 'node'%s",
				    type, raw.url ? ", not both" : "");
		url = json_string_value(raw.url);
		r = url ? check_url(x, "url", url) : 0;
		if (r < 0)
			return r;
		if (!url && !(url = node_url(x, json_string_value(raw.node))))
			return fail(x, "node", "unknown node '%s'",
				    json_string_value(raw.node));
	} else if (raw.url || raw.node ||
		   (raw.writeback && !(ops->caps & EXEC_CAP_REMOTE))) {
		return fail(x,
			    raw.url    ? "url"
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
			return fail(x, "writeback",
				    "'%s': one of none, review, sync", w);
	}
	b->docker.scope = -1;
	if (ops == &exec_backend_ssh_ops) {
		/* "host" is the ssh host's, read by parse_ssh. */
	} else if (ops == &exec_backend_docker_ops) {
		r = parse_docker(x, raw.image, raw.host, raw.scope, &b->docker);
		if (r >= 0 && raw.idle)
			r = parse_seconds(x, "idle", raw.idle,
					  &b->docker.idle_s);
		if (r >= 0 && raw.max_age)
			r = parse_seconds(x, "max_age", raw.max_age,
					  &b->docker.max_age_s);
		if (r < 0)
			return r;
	} else if (raw.image || raw.host || raw.scope || raw.idle ||
		   raw.max_age) {
		return fail(x,
			    raw.image	? "image"
			    : raw.host	? "host"
			    : raw.scope ? "scope"
			    : raw.idle	? "idle"
					: "max_age",
			    "not allowed for type '%s' (only 'docker')", type);
	}
	r = parse_sbx(x, raw.limits, raw.network, raw.mount, &b->sbx);
	if (r < 0)
		return r;
	if (exec_sbx_conf_given(&b->sbx) && !(ops->caps & EXEC_CAP_SANDBOX))
		return fail(x,
			    raw.limits	  ? "limits"
			    : raw.network ? "network"
					  : "mount",
			    "type '%s' runs commands without a sandbox", type);
	r = dup_str(x, name, &b->name);
	if (r >= 0)
		r = dup_str(x, type, &b->type);
	if (r >= 0 && url)
		r = dup_str(x, url, &b->url);
	return r;
}

/* Checks a backend name an agent gives: a backends key, or a type that
 * needs no url. */
static int check_backend_name(struct ctx *x, const char *name)
{
	const struct exec_backend_ops *ops;

	if (x->backends && json_object_get(x->backends, name))
		return 0;
	ops = exec_backend_lookup(name);
	if (!ops)
		return fail(x, "backend", "unknown backend '%s'", name);
	if ((ops->caps & EXEC_CAP_REMOTE) && !(ops->caps & EXEC_CAP_LOCAL))
		return fail(x, "backend",
			    "type '%s' needs a url: define a "
			    "backend of that type under 'backends'",
			    name);
	return 0;
}

static int parse_timeout(struct ctx *x, json_t *v, uint32_t *ret_ms)
{
	double s = json_number_value(v);
	uint64_t ms;

	/* Integers compared as integers: a huge one must not round into
	 * range through a double. */
	if (json_is_integer(v) ? json_integer_value(v) <= 0 ||
					 json_integer_value(v) > TIMEOUT_MAX_S
			       : !(s > 0 && s <= TIMEOUT_MAX_S))
		return fail(x, "timeout",
			    "must be more than 0 and at most %u "
			    "seconds (30 days)",
			    TIMEOUT_MAX_S);
	/* Rounded to the millisecond, but never down to 0 ("none"). */
	ms = (uint64_t)(s * 1000.0 + 0.5);
	*ret_ms = ms ? (uint32_t)ms : 1;
	return 0;
}

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
		return fail(x, "tools.exec",
			    "conflicts with 'backend': use one");
	if (!host)
		return fail(x, "tools.exec.node",
			    "needs tools.exec.host 'node'");
	if (strcmp(host, "gateway") == 0) {
		a->exec_host = EXEC_HOST_GATEWAY;
		if (node)
			return fail(x, "tools.exec.node",
				    "needs tools.exec.host 'node', not '%s'",
				    host);
		return dup_str(x, "host", &a->backend);
	}
	if (strcmp(host, "node") == 0) {
		if (!node)
			return fail(x, "tools.exec.node",
				    "required when tools.exec.host is 'node'");
		if (!node_url(x, node))
			return fail(x, "tools.exec.node", "unknown node '%s'",
				    node);
		a->exec_host = EXEC_HOST_NODE;
		r = dup_str(x, "node", &a->backend);
		return r < 0 ? r : dup_str(x, node, &a->node);
	}
	if (node)
		return fail(x, "tools.exec.node",
			    "needs tools.exec.host 'node', not '%s'", host);
	if (strcmp(host, "sandbox") == 0) {
		a->exec_host = EXEC_HOST_SANDBOX;
		return 0;
	}
	if (strcmp(host, "auto") == 0) {
		a->exec_host = EXEC_HOST_AUTO;
		return 0;
	}
	return fail(x, "tools.exec.host",
		    "unknown value '%s' (expected gateway, sandbox, node or "
		    "auto)",
		    host);
}

/* The agent-gateway form's "sandbox": mode, scope, docker.* (vm.* is not
 * built yet). timeout: whether the agent gave "timeout" itself. */
static int parse_agent_sandbox(struct ctx *x, json_t *v, bool timeout,
			       struct exec_agent_conf *a)
{
	static const char *const later[] = { "vm", "node", "ssh" };
	struct sandbox_raw raw = { 0 };
	struct docker_raw d = { 0 };
	size_t mark = path_key(x, "sandbox"), inner;
	int r;

	r = scan(x, v, sandbox_fields, &raw);
	if (r >= 0 && raw.mode) {
		const char *m = json_string_value(raw.mode);

		for (size_t i = 0; i < UTIL_ARRAY_SIZE(later); i++)
			if (strcmp(m, later[i]) == 0)
				r = fail(x, "mode",
					 "'%s' is not supported yet (docker "
					 "and off are)",
					 m);
		if (r >= 0 && strcmp(m, "docker") != 0 && strcmp(m, "off") != 0)
			r = fail(x, "mode",
				 "unknown mode '%s' (expected docker, vm, "
				 "node, ssh or off)",
				 m);
		if (r >= 0)
			r = dup_str(x, m, &a->sandbox_mode);
	}
	if (r >= 0 && raw.vm)
		r = fail(x, "vm", "not supported yet");
	if (r >= 0 && raw.scope)
		r = parse_scope(x, raw.scope, &a->docker.scope);
	if (r >= 0 && raw.docker) {
		inner = path_key(x, "docker");
		r = scan(x, raw.docker, docker_fields, &d);
		if (r >= 0)
			r = parse_docker(x, d.image, d.host, NULL, &a->docker);
		if (r >= 0 && d.memory)
			r = sbx_set(x, "memory", d.memory, &a->sbx);
		if (r >= 0 && d.cpus)
			r = sbx_set(x, "cpus", d.cpus, &a->sbx);
		if (r >= 0 && d.pids)
			r = sbx_set(x, "pids", d.pids, &a->sbx);
		if (r >= 0 && d.network)
			r = sbx_set(x, "network", d.network, &a->sbx);
		if (r >= 0 && d.timeout && timeout)
			r = fail(x, "timeout",
				 "conflicts with the agent's 'timeout': use "
				 "one");
		if (r >= 0 && d.timeout)
			r = parse_timeout(x, d.timeout, &a->timeout_ms);
		path_pop(x, inner);
	}
	path_pop(x, mark);
	return r;
}

/* Where sandbox.mode and tools.exec.host "sandbox" / "auto" send an agent
 * (or the defaults) that names no backend itself; dmode: the defaults'
 * sandbox.mode (NULL for the defaults themselves). */
static int route_sandbox(struct ctx *x, struct exec_agent_conf *a,
			 const char *dmode)
{
	const char *mode = a->sandbox_mode ? a->sandbox_mode : dmode;
	bool off = !mode || strcmp(mode, "off") == 0;

	if (a->backend)
		return 0;
	switch (a->exec_host) {
	case EXEC_HOST_SANDBOX:
		if (off)
			return fail(x, "tools.exec.host",
				    "'sandbox', but sandbox.mode is %s: set "
				    "sandbox.mode (docker)",
				    mode ? "'off'" : "not set");
		return dup_str(x, mode, &a->backend);
	case EXEC_HOST_AUTO:
		return dup_str(x, off ? "host" : mode, &a->backend);
	default:
		/* Its own sandbox.mode alone routes it, as gateways do. */
		if (!a->sandbox_mode)
			return 0;
		return dup_str(x, off ? "host" : mode, &a->backend);
	}
}

/* A workspace or domain name (see docs/protocol.md). */
static int parse_name(struct ctx *x, const char *key, json_t *v, char **out)
{
	const char *name = json_string_value(v);

	if (!tp_name_ok((const uint8_t *)name, strlen(name)))
		return fail(x, key,
			    "'%s' is not a name (1-%u of A-Z a-z 0-9 _ - ., "
			    "not starting with '.')",
			    name, TP_NAME_MAX);
	return dup_str(x, name, out);
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
			return fail(x, "policy",
				    "'%s': one of full, allowlist, deny", m);
		p->set = true;
	}
	if (allow && p->mode != EXEC_POLICY_ALLOWLIST)
		return fail(x, "allow", "needs \"policy\": \"allowlist\"");
	if (p->mode == EXEC_POLICY_ALLOWLIST && !json_array_size(allow))
		return fail(x, "policy",
			    "allowlist needs \"allow\": the programs, by "
			    "absolute path");
	if (!allow)
		return 0;
	p->allow = calloc(json_array_size(allow), sizeof(*p->allow));
	if (!p->allow)
		return fail_oom(x);
	json_array_foreach(allow, i, v)
	{
		const char *s = json_string_value(v);
		size_t mark;
		int r = 0;

		mark = path_key(x, "allow");
		path_push(x, "[%zu]", i);
		if (!s)
			r = fail(x, NULL, "expected a string");
		else if (s[0] != '/')
			r = fail(x, NULL,
				 "'%s': an absolute path (a pattern: "
				 "/usr/bin/*)",
				 s);
		else
			r = dup_str(x, s, &p->allow[p->nallow++]);
		path_pop(x, mark);
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
	r = scan(x, v, agent_fields, &raw);
	if (r < 0)
		return r;
	if (defaults && raw.id)
		return fail(x, "id", "unknown key");
	if (defaults && raw.workspace)
		return fail(x, "workspace",
			    "not allowed in the defaults: each agent has a "
			    "workspace of its own");
	if (!defaults) {
		const char *id = json_string_value(raw.id);

		if (!id)
			return fail(x, NULL, "missing 'id'");
		if (!*id)
			return fail(x, "id", "must not be empty");
		prev = json_object_get(seen, id);
		if (prev)
			return fail(x, "id",
				    "duplicate id '%s' (also "
				    "agents.list[%" JSON_INTEGER_FORMAT "])",
				    id, json_integer_value(prev));
		if (json_object_set_new(seen, id,
					json_integer((json_int_t)index)) < 0)
			return fail_oom(x);
		r = dup_str(x, id, &a->id);
		if (r < 0)
			return r;
	}
	r = raw.backend ? check_backend_name(x, json_string_value(raw.backend))
			: 0;
	if (r >= 0 && raw.backend)
		r = dup_str(x, json_string_value(raw.backend), &a->backend);
	if (r >= 0)
		r = parse_tools_exec(x, &raw, a);
	if (r >= 0 && raw.timeout)
		r = parse_timeout(x, raw.timeout, &a->timeout_ms);
	if (r >= 0 && raw.workspace)
		r = parse_name(x, "workspace", raw.workspace, &a->workspace);
	if (r >= 0 && raw.domain)
		r = parse_name(x, "domain", raw.domain, &a->domain);
	if (r >= 0 && raw.dir) {
		const char *d = json_string_value(raw.dir);

		if (defaults)
			return fail(x, "dir",
				    "not allowed in the defaults: each agent "
				    "has a directory of its own");
		if (d[0] != '/')
			return fail(x, "dir", "'%s': must be an absolute path",
				    d);
		r = dup_str(x, d, &a->dir);
	}
	if (r >= 0)
		r = parse_sbx(x, raw.limits, raw.network, raw.mount, &a->sbx);
	if (r >= 0)
		r = parse_policy(x, raw.policy, raw.allow, &a->policy);
	if (r >= 0 && raw.sandbox)
		r = parse_agent_sandbox(x, raw.sandbox, raw.timeout != NULL, a);
	if (r >= 0)
		r = route_sandbox(
			x, a, defaults ? NULL : x->c->defaults.sandbox_mode);
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
		r = scan(x, v, agents_fields, &raw);
		if (r < 0)
			return r;
	}
	if (raw.defaults) {
		mark = path_key(x, "defaults");
		r = parse_agent(x, raw.defaults, true, NULL, 0, &c->defaults);
		path_pop(x, mark);
		if (r < 0)
			return r;
	}
	if (!c->defaults.backend && dup_str(x, "host", &c->defaults.backend))
		return -ENOMEM;
	if (!raw.list || !json_array_size(raw.list))
		return 0;
	c->agents = calloc(json_array_size(raw.list), sizeof(*c->agents));
	seen = json_object();
	if (!c->agents || !seen) {
		json_decref(seen);
		return fail_oom(x);
	}
	r = 0;
	json_array_foreach(raw.list, i, entry)
	{
		mark = path_key(x, "list");
		path_push(x, "[%zu]", i);
		r = parse_agent(x, entry, false, seen, i, &c->agents[i]);
		path_pop(x, mark);
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
		return fail_oom(x);
	mark = path_key(x, what);
	inner = x->plen;
	json_object_foreach(obj, name, v)
	{
		if (!*name) {
			r = fail(x, NULL, "empty name");
			break;
		}
		path_key(x, name);
		r = one(x, name, v, (char *)*arr + *n * size);
		path_pop(x, inner);
		(*n)++; /* freed by exec_config_free from here */
		if (r < 0)
			break;
	}
	path_pop(x, mark);
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
		mark = path_push(x, ".list[%zu]", i);
		fail(x, NULL,
		     "limits, network and mount need a backend that "
		     "sandboxes (a node): backend '%s' (type %s) runs "
		     "commands without one",
		     route->backend, type);
		path_pop(x, mark);
		return -EINVAL;
	}
	return 0;
}

/* Every agent routed to docker has an image to run in. */
static int check_docker(struct ctx *x)
{
	const struct exec_config *c = x->c;
	struct exec_docker_conf d;
	size_t mark;

	for (size_t i = 0; i < c->n_agents; i++) {
		if (exec_router_docker(c, c->agents[i].id, &d, NULL, 0) <= 0 ||
		    d.image)
			continue;
		mark = path_push(x, ".list[%zu]", i);
		fail(x, NULL,
		     "runs in docker without an image: give "
		     "sandbox.docker.image (or \"image\" on the backend)");
		path_pop(x, mark);
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

	r = scan(x, root, top_fields, &raw);
	if (r < 0)
		return r;
	if (raw.audit) {
		const char *a = json_string_value(raw.audit);

		if (a[0] != '/')
			return fail(x, "audit",
				    "'%s': must be an absolute path", a);
		r = dup_str(x, a, &c->audit_path);
		if (r < 0)
			return r;
	}
	r = parse_named(x, raw.nodes, "nodes", sizeof(*c->nodes), &arr,
			&c->n_nodes, parse_node);
	c->nodes = arr;
	if (r < 0)
		return r;
	x->nodes = raw.nodes;
	arr = NULL;
	r = parse_named(x, raw.backends, "backends", sizeof(*c->backends), &arr,
			&c->n_backends, parse_backend);
	c->backends = arr;
	if (r < 0)
		return r;
	x->backends = raw.backends;
	mark = path_key(x, "agents");
	r = parse_agents(x, raw.agents);
	if (r >= 0)
		r = check_sandboxes(x);
	if (r >= 0)
		r = check_docker(x);
	path_pop(x, mark);
	if (r >= 0) {
		char home[PATH_MAX], url[PATH_MAX + 16], err[256];

		if (exec_local_node_paths(home, sizeof(home), url, sizeof(url),
					  err, sizeof(err)) == 0)
			r = dup_str(x, url, &c->local_url);
	}
	return r;
}

/* jansson's error as "ORIGIN:LINE:COL: text", or -ENOMEM. */
static int fail_json(struct ctx *x, const json_error_t *jerr)
{
	if (json_error_code(jerr) == json_error_out_of_memory)
		return fail_oom(x);
	if (x->errlen) {
		snprintf(x->err, x->errlen, "%s:%d:%d: %s", x->c->origin,
			 jerr->line, jerr->column, jerr->text);
		one_line(x->err);
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
		r = fail(&x, NULL, "empty file (expected a JSON object)");
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

/* The whole file into *ret (len in *ret_len); -EFBIG past the cap. One
 * allocation of the cap, whose pages are touched only as far as the file
 * goes; st_size is not trusted (a pipe, a file still growing). */
static int read_capped(int fd, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = malloc(EXEC_CONFIG_FILE_MAX + 1);
	size_t len = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	while (len <= EXEC_CONFIG_FILE_MAX) {
		n = read(fd, buf + len, EXEC_CONFIG_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > EXEC_CONFIG_FILE_MAX)
		return -EFBIG;
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

int exec_config_load(const char *path, struct exec_config **ret, char *err,
		     size_t errlen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	r = fd < 0 ? -errno : read_capped(fd, &text, &len);
	if (r >= 0)
		return exec_config_parse(text, len, path, ret, err, errlen);
	if (err && errlen) {
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		one_line(err);
	}
	return r;
}

static void agent_fini(struct exec_agent_conf *a)
{
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

/* buf = a + b, or -ENAMETOOLONG. */
static int join(char *buf, size_t len, const char *a, const char *b)
{
	int n = snprintf(buf, len, "%s%s", a, b);

	return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int exec_config_find(char *buf, size_t len)
{
	const char *env = getenv("TETHER_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	int r;

	if (env && *env)
		return join(buf, len, env, "");
	if (access("tether.json", F_OK) == 0)
		return join(buf, len, "tether.json", "");
	/* XDG: a relative XDG_CONFIG_HOME is invalid and ignored. */
	if (xdg && xdg[0] == '/')
		r = join(buf, len, xdg, "/tether/tether.json");
	else if (home && *home)
		r = join(buf, len, home, "/.config/tether/tether.json");
	else
		return -ENOENT;
	if (r < 0)
		return r;
	return access(buf, F_OK) == 0 ? 0 : -ENOENT;
}
