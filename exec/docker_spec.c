/* SPDX-License-Identifier: MIT */
/* What a docker backend's container is made of (docker.h): the create
 * body, from the agent's image and sandbox settings, and its name. */
#include "docker.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

void exec_docker_name(const char *tag, const char *agent, bool command,
		      char *out, size_t cap)
{
	const char *a = agent ? agent : "";
	unsigned long long h = XXH3_64bits(a, strlen(a));

	if (command)
		snprintf(out, cap, "tether-%s-%08llx-%ld", tag, h & 0xffffffffu,
			 (long)getpid());
	else
		snprintf(out, cap, "tether-%s-%08llx", tag, h & 0xffffffffu);
}

/* One Ulimits entry: the sandbox's, else (nofile, nproc) ours, capped:
 * the engines' defaults (Podman's 1048576 open files, 4194304
 * processes) can exceed what the host lets the runtime raise to, which
 * then fails to start the container. A limit above the engine's own hard
 * limit fails the same way: set limits.nofile and limits.nproc then. */
static int ulimit(json_t *arr, const struct exec_limits *lim, unsigned i,
		  const char *name, int res, rlim_t cap)
{
	struct rlimit rl;
	json_int_t soft, hard;

	if (lim->rl_set & (1u << i)) {
		soft = hard = (json_int_t)lim->rl[i];
	} else if (res >= 0 && getrlimit(res, &rl) == 0) {
		soft = hard =
			(json_int_t)(rl.rlim_cur < cap ? rl.rlim_cur : cap);
	} else {
		return 0;
	}
	return json_array_append_new(arr,
				     json_pack("{s:s, s:I, s:I}", "Name", name,
					       "Soft", soft, "Hard", hard));
}

static const char *scope_name(int scope)
{
	return scope == EXEC_SCOPE_COMMAND ? "command" : "session";
}

int exec_docker_create_body(const char *agent, const struct exec_docker_conf *c,
			    const struct exec_spec *spec, const char *home,
			    const char *tag, json_t **ret, char *err,
			    size_t errlen)
{
	const struct exec_sandbox_req *q = spec->sandbox;
	const struct exec_limits *lim = &q->lim;
	char src[PATH_MAX], bind[2 * PATH_MAX + 8], num[32];
	json_t *body, *hc, *labels, *ul, *binds;
	struct stat st;
	unsigned long long h;
	char *text;

	labels = json_pack("{s:s, s:s, s:s}", DK_LABEL_HOME, tag,
			   DK_LABEL_AGENT, agent ? agent : "", DK_LABEL_SCOPE,
			   scope_name(c->scope));
	snprintf(num, sizeof(num), "%u", (unsigned)getuid());
	json_object_set_new(labels, DK_LABEL_OWNER, json_string(num));
	snprintf(num, sizeof(num), "%u", c->idle_s ? c->idle_s : DK_IDLE_S);
	json_object_set_new(labels, DK_LABEL_IDLE, json_string(num));
	snprintf(num, sizeof(num), "%u",
		 c->max_age_s ? c->max_age_s : DK_MAX_AGE_S);
	json_object_set_new(labels, DK_LABEL_AGE, json_string(num));
	ul = json_array();
	binds = json_array();
	hc = json_pack("{s:s, s:b, s:[s], s:[s], s:b, s:{s:s}}", "NetworkMode",
		       q->net_host ? "host" : "none", "ReadonlyRootfs", true,
		       "CapDrop", "ALL", "SecurityOpt", "no-new-privileges",
		       "Init", true, "Tmpfs", "/tmp", "rw,nosuid,nodev");
	body = json_pack("{s:s, s:[s], s:[s], s:o}", "Image", c->image,
			 "Entrypoint", "sleep", "Cmd", "2147483647", "Labels",
			 labels);
	if (!ul || !binds || !hc || !body) {
		json_decref(ul);
		json_decref(binds);
		json_decref(hc);
		json_decref(body);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (lim->memory) {
		json_object_set_new(hc, "Memory",
				    json_integer((json_int_t)lim->memory));
		/* No swap on top: the limit is the limit. */
		json_object_set_new(hc, "MemorySwap",
				    json_integer((json_int_t)lim->memory));
	}
	if (lim->cpu_milli)
		json_object_set_new(
			hc, "NanoCpus",
			json_integer((json_int_t)lim->cpu_milli * 1000000));
	if (lim->pids)
		json_object_set_new(hc, "PidsLimit",
				    json_integer((json_int_t)lim->pids));
	ulimit(ul, lim, EXEC_RL_NOFILE, "nofile", RLIMIT_NOFILE, 65536);
	ulimit(ul, lim, EXEC_RL_NPROC, "nproc", RLIMIT_NPROC, 16384);
	ulimit(ul, lim, EXEC_RL_FSIZE, "fsize", -1, 0);
	ulimit(ul, lim, EXEC_RL_CORE, "core", -1, 0);
	json_object_set_new(hc, "Ulimits", ul);
	if (q->mode != EXEC_WS_NONE) {
		if (q->mode == EXEC_WS_COW)
			snprintf(src, sizeof(src), "%s/root/views/%s", home,
				 spec->workspace ? spec->workspace : "");
		else
			snprintf(src, sizeof(src), "%s",
				 q->ws_src ? q->ws_src : "");
		if (!q->ws_at || q->ws_at[0] != '/' || !src[0] ||
		    stat(src, &st) < 0) {
			json_decref(binds);
			json_decref(hc);
			json_decref(body);
			snprintf(err, errlen, "the workspace %s: %s", src,
				 src[0] && q->ws_at ? strerror(errno)
						    : "none to bind");
			return -ENOENT;
		}
		snprintf(bind, sizeof(bind), "%s:%s:%s", src, q->ws_at,
			 q->mode == EXEC_WS_RO ? "ro" : "rw");
		json_array_append_new(binds, json_string(bind));
		/* A view mounted again (its node restarted) is another
		 * file system: the container gets it bound afresh. */
		snprintf(num, sizeof(num), "%ju", (uintmax_t)st.st_dev);
		json_object_set_new(labels, "tether.view", json_string(num));
		json_object_set_new(body, "WorkingDir", json_string(q->ws_at));
	}
	json_object_set_new(hc, "Binds", binds);
	json_object_set_new(body, "HostConfig", hc);
	text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		json_decref(body);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h = XXH3_64bits(text, strlen(text));
	free(text);
	snprintf(num, sizeof(num), "%016llx", h);
	json_object_set_new(labels, DK_LABEL_SPEC, json_string(num));
	*ret = body;
	return 0;
}
