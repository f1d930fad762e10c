/* SPDX-License-Identifier: MIT */
/* Backend registry: type names (with aliases) to ops tables, and instance
 * lifetime shared by every backend. */
#include "backend.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "local_node.h"

static const struct {
	const char *name;
	const struct exec_backend_ops *ops;
} types[] = {
	{ "host", &exec_backend_host_ops },
	{ "off", &exec_backend_host_ops },
	{ "none", &exec_backend_host_ops },
	{ "node", &exec_backend_node_ops },
	{ "sandbox", &exec_backend_sandbox_ops },
	{ "docker", &exec_backend_docker_ops },
	{ "ssh", &exec_backend_ssh_ops },
	{ "plugin", &exec_backend_plugin_ops },
	{ "vm", &exec_backend_vm_ops },
};

const struct exec_backend_ops *exec_backend_lookup(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; i < UTIL_ARRAY_SIZE(types); i++)
		if (strcmp(types[i].name, type) == 0)
			return types[i].ops;
	return NULL;
}

int exec_backend_new(const char *type, const char *name, const char *url,
		     struct exec_backend **ret)
{
	const struct exec_backend_ops *ops = exec_backend_lookup(type);
	char home[PATH_MAX], local[PATH_MAX + 16], err[512];
	struct exec_backend *b;
	int r;

	if (!ops)
		return -EINVAL;
	if ((ops->caps & EXEC_CAP_LOCAL) && !url) {
		r = exec_local_node_paths(home, sizeof(home), local,
					  sizeof(local), err, sizeof(err));
		if (r < 0)
			return r;
		url = local;
	}
	if ((ops->caps & EXEC_CAP_REMOTE) && !url)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->ops = ops;
	b->hold_fd = -1;
	b->name = strdup(name ? name : ops->type);
	b->url = url ? strdup(url) : NULL;
	if (!b->name || (url && !b->url)) {
		exec_backend_free(b);
		return -ENOMEM;
	}
	*ret = b;
	return 0;
}

int exec_backend_prepare(struct exec_backend *b)
{
	int r;

	if (b->prepared)
		return 0;
	r = b->ops->prepare(b);
	if (r >= 0)
		b->prepared = true;
	return r;
}

void exec_docker_conf_layer(struct exec_docker_conf *base,
			    const struct exec_docker_conf *over)
{
	if (over->image)
		base->image = over->image;
	if (over->host)
		base->host = over->host;
	if (over->scope >= 0)
		base->scope = over->scope;
	if (over->idle_s)
		base->idle_s = over->idle_s;
	if (over->max_age_s)
		base->max_age_s = over->max_age_s;
}

void exec_docker_conf_clear(struct exec_docker_conf *c)
{
	if (!c)
		return;
	free(c->image);
	free(c->host);
	c->image = c->host = NULL;
}

int exec_backend_set_docker(struct exec_backend *b, const char *agent,
			    const struct exec_docker_conf *conf)
{
	struct exec_docker_conf *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	*d = *conf;
	d->image = conf->image ? strdup(conf->image) : NULL;
	d->host = conf->host ? strdup(conf->host) : NULL;
	free(b->agent);
	b->agent = agent ? strdup(agent) : NULL;
	if ((conf->image && !d->image) || (conf->host && !d->host) ||
	    (agent && !b->agent)) {
		exec_docker_conf_clear(d);
		free(d);
		return -ENOMEM;
	}
	if (b->docker)
		exec_docker_conf_clear(b->docker);
	free(b->docker);
	b->docker = d;
	return 0;
}

void exec_ssh_conf_clear(struct exec_ssh_conf *c)
{
	if (!c)
		return;
	free(c->host);
	free(c->user);
	free(c->key);
	free(c->known_hosts);
	free(c->remote_dir);
	c->host = c->user = c->key = c->known_hosts = c->remote_dir = NULL;
}

static int dup_opt(const char *s, char **out)
{
	*out = s ? strdup(s) : NULL;
	return s && !*out ? -ENOMEM : 0;
}

int exec_backend_set_ssh(struct exec_backend *b,
			 const struct exec_ssh_conf *conf)
{
	struct exec_ssh_conf *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->port = conf->port;
	c->timeout_s = conf->timeout_s;
	c->accept_new = conf->accept_new;
	if (dup_opt(conf->host, &c->host) < 0 ||
	    dup_opt(conf->user, &c->user) < 0 ||
	    dup_opt(conf->key, &c->key) < 0 ||
	    dup_opt(conf->known_hosts, &c->known_hosts) < 0 ||
	    dup_opt(conf->remote_dir, &c->remote_dir) < 0) {
		exec_ssh_conf_clear(c);
		free(c);
		return -ENOMEM;
	}
	exec_ssh_conf_clear(b->ssh);
	free(b->ssh);
	b->ssh = c;
	return 0;
}

int exec_backend_set_plugin(struct exec_backend *b, const char *path,
			    const char *options)
{
	free(b->plugin_path);
	free(b->plugin_options);
	b->plugin_path = NULL;
	b->plugin_options = NULL;
	if (dup_opt(path, &b->plugin_path) < 0 ||
	    dup_opt(options, &b->plugin_options) < 0)
		return -ENOMEM;
	return 0;
}

void exec_vm_conf_clear(struct exec_vm_conf *c)
{
	if (!c)
		return;
	free(c->provider);
	free(c->image);
	free(c->start);
	free(c->stop);
	c->provider = c->image = c->start = c->stop = NULL;
	exec_ssh_conf_clear(&c->ssh);
}

void exec_vm_conf_layer(struct exec_vm_conf *base,
			const struct exec_vm_conf *over)
{
	if (over->provider)
		base->provider = over->provider;
	if (over->image)
		base->image = over->image;
	if (over->cpus)
		base->cpus = over->cpus;
	if (over->memory)
		base->memory = over->memory;
	if (over->start)
		base->start = over->start;
	if (over->stop)
		base->stop = over->stop;
	if (over->ssh.host)
		base->ssh = over->ssh;
}

int exec_backend_set_vm(struct exec_backend *b, const struct exec_vm_conf *c)
{
	struct exec_vm_conf *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->cpus = c->cpus;
	v->memory = c->memory;
	v->ssh.port = c->ssh.port;
	v->ssh.timeout_s = c->ssh.timeout_s;
	v->ssh.accept_new = c->ssh.accept_new;
	if (dup_opt(c->provider, &v->provider) < 0 ||
	    dup_opt(c->image, &v->image) < 0 ||
	    dup_opt(c->start, &v->start) < 0 ||
	    dup_opt(c->stop, &v->stop) < 0 ||
	    dup_opt(c->ssh.host, &v->ssh.host) < 0 ||
	    dup_opt(c->ssh.user, &v->ssh.user) < 0 ||
	    dup_opt(c->ssh.key, &v->ssh.key) < 0 ||
	    dup_opt(c->ssh.known_hosts, &v->ssh.known_hosts) < 0) {
		exec_vm_conf_clear(v);
		free(v);
		return -ENOMEM;
	}
	exec_vm_conf_clear(b->vm);
	free(b->vm);
	b->vm = v;
	return 0;
}

void exec_backend_free(struct exec_backend *b)
{
	if (!b)
		return;
	if (b->prepared)
		b->ops->release(b);
	exec_vm_conf_clear(b->vm);
	free(b->vm);
	free(b->plugin_path);
	free(b->plugin_options);
	exec_ssh_conf_clear(b->ssh);
	free(b->ssh);
	exec_docker_conf_clear(b->docker);
	free(b->docker);
	free(b->agent);
	free(b->name);
	free(b->url);
	free(b);
}
