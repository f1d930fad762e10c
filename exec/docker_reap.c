/* SPDX-License-Identifier: MIT */
/* The docker backend's reaper (docker.h). Each container has a stamp,
 * HOME/docker/NAME, that a command holds locked (shared) while it runs
 * and touches when it ends: a container whose stamp nobody holds is a
 * command's left by a crash, or a session's idle since the stamp's
 * mtime. */
#include "docker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

void exec_docker_forget(const char *home, const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/docker/%s", home, name);
	(void)unlink(path);
}

static unsigned label_u(json_t *labels, const char *key, unsigned dflt)
{
	const char *v = json_string_value(json_object_get(labels, key));
	char *end;
	unsigned long n;

	if (!v)
		return dflt;
	n = strtoul(v, &end, 10);
	return *end || !n || n > UINT32_MAX ? dflt : (unsigned)n;
}

/* Whether c (an entry of GET /containers/json) goes; the stamp's fd,
 * locked, in *fd when it does. */
static bool expired(json_t *c, const char *home, const char *name, bool all,
		    time_t now, int *fd)
{
	json_t *labels = json_object_get(c, "Labels");
	const char *scope =
		json_string_value(json_object_get(labels, DK_LABEL_SCOPE));
	const char *state = json_string_value(json_object_get(c, "State"));
	json_int_t created = json_integer_value(json_object_get(c, "Created"));
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/docker/%s", home, name);
	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd < 0)
		/* No stamp: made by hand, or its stamp is gone. A fresh
		 * one may be another client's between its stamp and its
		 * create: left alone for a minute. */
		return all || now - (time_t)created > 60;
	if (flock(*fd, LOCK_EX | LOCK_NB) < 0 || fstat(*fd, &st) < 0)
		return false; /* a command runs in it */
	if (all || !scope || strcmp(scope, "session") != 0)
		return true;
	if (state && strcmp(state, "running") != 0)
		return true;
	if (now - st.st_mtime >=
	    (time_t)label_u(labels, DK_LABEL_IDLE, DK_IDLE_S))
		return true;
	return now - (time_t)created >=
	       (time_t)label_u(labels, DK_LABEL_AGE, DK_MAX_AGE_S);
}

int exec_docker_reap(struct dk_engine *e, const char *home, const char *tag,
		     bool all)
{
	char path[512], err[256];
	json_t *list = NULL, *c;
	time_t now = time(NULL);
	size_t i;
	int r, n = 0;

	/* filters={"label":["tether.home=TAG"]} */
	snprintf(path, sizeof(path),
		 "/containers/json?all=true&filters=%%7B%%22label%%22%%3A%%5B"
		 "%%22" DK_LABEL_HOME "%%3D%s%%22%%5D%%7D",
		 tag);
	r = dk_call(e, "GET", path, NULL, &list, err, sizeof(err));
	if (r != 200) {
		log_debug("docker: reaper: %s", r < 0 ? err : "list refused");
		json_decref(list);
		return 0;
	}
	json_array_foreach(list, i, c)
	{
		const char *name = json_string_value(
			json_array_get(json_object_get(c, "Names"), 0));
		int fd = -1;

		if (name && name[0] == '/')
			name++;
		if (!name || strncmp(name, "tether-", 7) != 0 ||
		    strchr(name, '/')) {
			continue;
		}
		if (expired(c, home, name, all, now, &fd)) {
			snprintf(path, sizeof(path),
				 "/containers/%s?force=true&v=true", name);
			r = dk_call(e, "DELETE", path, NULL, NULL, err,
				    sizeof(err));
			if (r >= 200 && r < 300) {
				exec_docker_forget(home, name);
				n++;
				log_debug("docker: reaped %s", name);
			} else {
				log_debug("docker: reaper: %s: %s", name,
					  r < 0 ? err : err);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	json_decref(list);
	return n;
}
