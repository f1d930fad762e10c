/* SPDX-License-Identifier: MIT */
/* Backend "plugin": a custom backend, a shared object loaded with dlopen
 * (tether_backend.h), set up from the backend's "options". A static
 * tether cannot load one (a second C library would come with it): that is
 * refused with a line saying so. */
#include "backend.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tether_backend.h"

struct plugin {
	void *dl;
	const struct tether_backend_plugin *t;
	void *state;
};

static int plugin_prepare(struct exec_backend *b)
{
	const struct tether_backend_plugin *(*entry)(void);
	struct plugin *p;
	char err[512] = "";
	int r;

#ifdef TETHER_STATIC
	log_error(
		"backend %s: this tether is linked statically and cannot "
		"load %s: custom backends need a build with -Dstatic=disabled",
		b->name, b->plugin_path);
	return -ENOTSUP;
#endif
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->dl = dlopen(b->plugin_path, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		log_error("backend %s: %s", b->name, dlerror());
		free(p);
		return -ENOENT;
	}
	*(void **)&entry = dlsym(p->dl, "tether_backend_plugin");
	p->t = entry ? entry() : NULL;
	if (!p->t || p->t->abi != TETHER_BACKEND_ABI || !p->t->open ||
	    !p->t->run) {
		log_error("backend %s: %s: %s", b->name, b->plugin_path,
			  !entry  ? "no tether_backend_plugin() in it"
			  : !p->t ? "tether_backend_plugin() gave no table"
				  : "not a tether backend of ABI version 1");
		dlclose(p->dl);
		free(p);
		return -EINVAL;
	}
	r = p->t->open(b->plugin_options ? b->plugin_options : "{}", &p->state,
		       err, sizeof(err));
	if (r < 0) {
		log_error("backend %s: %s: %s", b->name,
			  p->t->name ? p->t->name : b->plugin_path,
			  err[0] ? err : strerror(-r));
		dlclose(p->dl);
		free(p);
		return r;
	}
	b->priv = p;
	return 0;
}

static int plugin_run(struct exec_backend *b, const struct exec_spec *spec,
		      const struct exec_io *io, struct exec_result *res)
{
	static char *const no_env[] = { NULL };
	struct plugin *p = b->priv;
	const struct tether_plugin_cmd cmd = {
		.argv = spec->argv,
		.env = spec->env ? spec->env : no_env,
		.cwd = spec->cwd,
		.timeout_ms = spec->timeout_ms,
		.in_fd = spec->forward_stdin ? io->in_fd : -1,
		.out_fd = io->out_fd,
		.err_fd = io->err_fd,
		.sig_fd = io->sig_fd,
	};
	struct tether_plugin_result pr = { 0 };
	char err[512] = "";
	int r;

	if (spec->detach || spec->tty)
		return log_error_errno(-ENOTSUP, "backend %s: %s", b->name,
				       spec->tty ? "-t" : "--detach");
	r = p->t->run(p->state, &cmd, &pr, err, sizeof(err));
	if (r < 0) {
		if (r == -ENOENT)
			log_error("%s: command not found", spec->argv[0]);
		else
			log_error("backend %s: %s", b->name,
				  err[0] ? err : strerror(-r));
		return r;
	}
	memset(res, 0, sizeof(*res));
	res->status.code = pr.exit_code;
	res->status.signal = pr.signal;
	res->status.wall_us = pr.wall_us;
	res->status.user_us = pr.user_us;
	res->status.sys_us = pr.sys_us;
	res->status.maxrss_kb = pr.maxrss_kb;
	res->timed_out = pr.timed_out != 0;
	return 0;
}

static void plugin_release(struct exec_backend *b)
{
	struct plugin *p = b->priv;

	if (!p)
		return;
	if (p->t->close)
		p->t->close(p->state);
	dlclose(p->dl);
	free(p);
	b->priv = NULL;
}

static int plugin_health(struct exec_backend *b)
{
	return b->priv ? 0 : -ENOTCONN;
}

const struct exec_backend_ops exec_backend_plugin_ops = {
	.type = "plugin",
	.caps = 0,
	.prepare = plugin_prepare,
	.run = plugin_run,
	.release = plugin_release,
	.health = plugin_health,
};
