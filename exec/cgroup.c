/* SPDX-License-Identifier: MIT */
/* Cgroups for sandboxed commands (cgroup.h). */
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"

#define CG_MAX	      3	     /* v1: memory, cpu, pids */
#define CPU_PERIOD    100000 /* us */
#define RMDIR_WAIT_MS 2000

enum { C_MEMORY, C_CPU, C_PIDS, C_N };
static const char *const ctl_name[C_N] = { "memory", "cpu", "pids" };

struct exec_cgroup {
	bool v2;
	size_t n;
	char *dir[CG_MAX];
	char *procs[CG_MAX];
	int ctl_dir[C_N]; /* index into dir[] per controller, -1: none */
};

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

/* dir/file opened with flags: an fd, or -errno. */
static int open_in(const char *dir, const char *file, int flags)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int put(const char *dir, const char *file, const char *val)
{
	_cleanup_close_ int fd = open_in(dir, file, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = write(fd, val, strlen(val));
	return n == (ssize_t)strlen(val) ? 0 : n < 0 ? -errno : -EIO;
}

/* The file's contents (at most cap - 1 bytes, NUL-terminated) or -errno. */
static int get(const char *dir, const char *file, char *buf, size_t cap)
{
	_cleanup_close_ int fd = open_in(dir, file, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return fd;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The value after "key " on a line of a flat keyed file, or 0. */
static uint64_t keyed(const char *text, const char *key)
{
	size_t k = strlen(key);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, key, k) == 0 && p[k] == ' ')
			return strtoull(p + k + 1, NULL, 10);
	return 0;
}

/* Where the hierarchy with controller ctl (NULL: the v2 one) is mounted
 * and the cgroup of process pid (0: the node) in it: mountpoint + path
 * into out. */
static bool cgroup_of(pid_t pid, const char *ctl, char *out, size_t cap)
{
	_cleanup_fclose_ FILE *mi = fopen("/proc/self/mountinfo", "re");
	_cleanup_fclose_ FILE *cg = NULL;
	char cgpath[64], line[4096], mnt[PATH_MAX] = "", root[PATH_MAX] = "";
	char path[PATH_MAX] = "";
	bool found = false;

	if (pid)
		snprintf(cgpath, sizeof(cgpath), "/proc/%d/cgroup", (int)pid);
	cg = fopen(pid ? cgpath : "/proc/self/cgroup", "re");
	if (!mi || !cg)
		return false;
	while (fgets(line, sizeof(line), mi)) {
		char r[PATH_MAX], m[PATH_MAX], type[64], opts[1024];
		const char *dash = strstr(line, " - ");

		if (!dash ||
		    sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) != 2 ||
		    sscanf(dash + 3, "%63s %*s %1023s", type, opts) != 2)
			continue;
		if (ctl ? strcmp(type, "cgroup") != 0
			: strcmp(type, "cgroup2") != 0)
			continue;
		if (ctl) {
			bool has = false;

			for (char *t = strtok(opts, ","); t;
			     t = strtok(NULL, ","))
				has |= strcmp(t, ctl) == 0;
			if (!has)
				continue;
		}
		snprintf(mnt, sizeof(mnt), "%s", m);
		snprintf(root, sizeof(root), "%s", r);
		found = true;
		break;
	}
	if (!found)
		return false;
	found = false;
	while (fgets(line, sizeof(line), cg)) {
		char *c1 = strchr(line, ':'),
		     *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		bool match = false;

		if (!c2)
			continue;
		*c2 = '\0';
		line[strcspn(line, "\n")] = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (!ctl) {
			/* "0::PATH": hierarchy 0, no controllers listed */
			match = c1 == line + 1 && line[0] == '0' &&
				c1[1] == '\0';
		} else {
			for (char *t = strtok(c1 + 1, ","); t;
			     t = strtok(NULL, ","))
				match |= strcmp(t, ctl) == 0;
		}
		if (match) {
			snprintf(path, sizeof(path), "%s", c2 + 1);
			found = true;
			break;
		}
	}
	if (!found)
		return false;
	/* The mount shows the hierarchy from root down. */
	if (strcmp(root, "/") != 0 && strncmp(path, root, strlen(root)) == 0)
		memmove(path, path + strlen(root),
			strlen(path + strlen(root)) + 1);
	return (size_t)snprintf(out, cap, "%s%s", mnt,
				strcmp(path, "/") == 0 ? "" : path) < cap;
}

static bool v2_has(const char *dir, const bool need[C_N])
{
	char buf[512];

	if (get(dir, "cgroup.controllers", buf, sizeof(buf)) < 0)
		return false;
	for (int c = 0; c < C_N; c++) {
		char *p = strstr(buf, ctl_name[c]);
		size_t k = strlen(ctl_name[c]);

		if (need[c] && (!p || (p[k] != ' ' && p[k] != '\n' && p[k])))
			return false;
	}
	return true;
}

static int add_dir(struct exec_cgroup *cg, const char *parent, const char *name,
		   char *err, size_t errlen)
{
	char dir[PATH_MAX], procs[PATH_MAX + 16];

	if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", parent, name) >=
	    sizeof(dir))
		return fail(err, errlen, -ENAMETOOLONG,
			    "cgroup %s/%s: too long", parent, name);
	if (mkdir(dir, 0755) < 0)
		return fail(err, errlen, -errno, "cgroup %s: %s", dir,
			    strerror(errno));
	(void)!snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	cg->dir[cg->n] = strdup(dir);
	cg->procs[cg->n] = strdup(procs);
	if (!cg->dir[cg->n] || !cg->procs[cg->n]) {
		free(cg->dir[cg->n]);
		free(cg->procs[cg->n]);
		rmdir(dir);
		return fail(err, errlen, -ENOMEM, "out of memory");
	}
	return (int)cg->n++;
}

/* v2: the node's cgroup hands its controllers down; it may hold no
 * process itself then, so the node moves into a leaf of its own. */
static int v2_enable(const char *own, const bool need[C_N], char *err,
		     size_t errlen)
{
	char ctl[64] = "", leaf[PATH_MAX + 16];
	int r;

	for (int c = 0; c < C_N; c++)
		if (need[c])
			snprintf(ctl + strlen(ctl), sizeof(ctl) - strlen(ctl),
				 "+%s ", ctl_name[c]);
	r = put(own, "cgroup.subtree_control", ctl);
	if (r != -EBUSY)
		return r < 0 ? fail(err, errlen, r,
				    "cgroup %s/cgroup.subtree_control: %s", own,
				    strerror(-r))
			     : 0;
	(void)!snprintf(leaf, sizeof(leaf), "%s/tether-node", own);
	if ((mkdir(leaf, 0755) < 0 && errno != EEXIST) ||
	    (r = put(leaf, "cgroup.procs", "0")) < 0 ||
	    (r = put(own, "cgroup.subtree_control", ctl)) < 0)
		return fail(err, errlen, r < 0 ? r : -errno,
			    "cgroup %s: moving the node into a leaf: %s", own,
			    strerror(r < 0 ? -r : errno));
	return 0;
}

static int set_limits(struct exec_cgroup *cg, const struct exec_limits *lim,
		      char *err, size_t errlen)
{
	char v[64];
	int r = 0;

	if (lim->memory) {
		const char *dir = cg->dir[cg->ctl_dir[C_MEMORY]];

		snprintf(v, sizeof(v), "%llu", (unsigned long long)lim->memory);
		r = put(dir, cg->v2 ? "memory.max" : "memory.limit_in_bytes",
			v);
		if (r < 0)
			return fail(err, errlen, r,
				    "cgroup %s: memory limit: %s", dir,
				    strerror(-r));
		/* No swapping past the limit, where the machine swaps. */
		if (cg->v2)
			(void)put(dir, "memory.swap.max", "0");
		else
			(void)put(dir, "memory.memsw.limit_in_bytes", v);
	}
	if (lim->pids) {
		const char *dir = cg->dir[cg->ctl_dir[C_PIDS]];

		snprintf(v, sizeof(v), "%u", lim->pids);
		r = put(dir, "pids.max", v);
		if (r < 0)
			return fail(err, errlen, r, "cgroup %s: pids limit: %s",
				    dir, strerror(-r));
	}
	if (lim->cpu_milli) {
		const char *dir = cg->dir[cg->ctl_dir[C_CPU]];
		unsigned long long quota =
			(unsigned long long)lim->cpu_milli * CPU_PERIOD / 1000;

		if (cg->v2) {
			snprintf(v, sizeof(v), "%llu %u", quota, CPU_PERIOD);
			r = put(dir, "cpu.max", v);
		} else {
			snprintf(v, sizeof(v), "%u", CPU_PERIOD);
			r = put(dir, "cpu.cfs_period_us", v);
			snprintf(v, sizeof(v), "%llu", quota);
			if (r == 0)
				r = put(dir, "cpu.cfs_quota_us", v);
		}
		if (r < 0)
			return fail(err, errlen, r, "cgroup %s: cpu limit: %s",
				    dir, strerror(-r));
	}
	return 0;
}

int exec_cgroup_new(const char *name, const struct exec_limits *lim,
		    struct exec_cgroup **ret, char *err, size_t errlen)
{
	bool need[C_N] = { lim->memory > 0, lim->cpu_milli > 0, lim->pids > 0 };
	char own[PATH_MAX];
	struct exec_cgroup *cg;
	int r = 0;

	*ret = NULL;
	if (!need[C_MEMORY] && !need[C_CPU] && !need[C_PIDS])
		return 0;
	cg = calloc(1, sizeof(*cg));
	if (!cg)
		return fail(err, errlen, -ENOMEM, "out of memory");
	for (int c = 0; c < C_N; c++)
		cg->ctl_dir[c] = -1;
	if (cgroup_of(0, NULL, own, sizeof(own)) && v2_has(own, need)) {
		cg->v2 = true;
		r = v2_enable(own, need, err, errlen);
		if (r == 0)
			r = add_dir(cg, own, name, err, errlen);
		for (int c = 0; c < C_N && r >= 0; c++)
			cg->ctl_dir[c] = need[c] ? r : -1;
	} else {
		for (int c = 0; c < C_N && r >= 0; c++) {
			char base[PATH_MAX + 8];

			if (!need[c])
				continue;
			if (!cgroup_of(0, ctl_name[c], own, sizeof(own))) {
				r = fail(err, errlen, -ENOTSUP,
					 "no cgroup with the %s controller on "
					 "this machine: a %s limit cannot be "
					 "kept",
					 ctl_name[c], ctl_name[c]);
				break;
			}
			snprintf(base, sizeof(base), "%s/tether", own);
			if (mkdir(base, 0755) < 0 && errno != EEXIST) {
				r = fail(err, errlen, -errno, "cgroup %s: %s",
					 base, strerror(errno));
				break;
			}
			r = add_dir(cg, base, name, err, errlen);
			cg->ctl_dir[c] = r;
		}
	}
	if (r >= 0)
		r = set_limits(cg, lim, err, errlen);
	if (r < 0) {
		exec_cgroup_free(cg);
		return r;
	}
	*ret = cg;
	return 0;
}

const char *const *exec_cgroup_procs(const struct exec_cgroup *cg, size_t *n)
{
	*n = cg ? cg->n : 0;
	return cg ? (const char *const *)cg->procs : NULL;
}

void exec_cgroup_events(const struct exec_cgroup *cg,
			struct exec_cgroup_events *ev)
{
	char buf[2048];

	memset(ev, 0, sizeof(*ev));
	if (!cg)
		return;
	if (cg->ctl_dir[C_MEMORY] >= 0) {
		const char *dir = cg->dir[cg->ctl_dir[C_MEMORY]];

		if (get(dir, cg->v2 ? "memory.events" : "memory.oom_control",
			buf, sizeof(buf)) == 0)
			ev->oom_killed = keyed(buf, "oom_kill") > 0;
		if (get(dir,
			cg->v2 ? "memory.peak" : "memory.max_usage_in_bytes",
			buf, sizeof(buf)) == 0)
			ev->memory_peak = strtoull(buf, NULL, 10);
	}
	if (cg->ctl_dir[C_PIDS] >= 0 &&
	    get(cg->dir[cg->ctl_dir[C_PIDS]], "pids.events", buf,
		sizeof(buf)) == 0)
		ev->pids_max = keyed(buf, "max") > 0;
}

static void kill_all(const char *dir)
{
	char buf[65536];

	if (put(dir, "cgroup.kill", "1") == 0)
		return;
	if (get(dir, "cgroup.procs", buf, sizeof(buf)) < 0)
		return;
	for (char *p = buf; *p;) {
		char *end;
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0)
			kill((pid_t)pid, SIGKILL);
		p = end + (*end != '\0');
	}
}

void exec_cgroup_free(struct exec_cgroup *cg)
{
	if (!cg)
		return;
	for (size_t i = 0; i < cg->n; i++) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		/* Killed tasks leave the cgroup once reaped, a moment later. */
		for (int t = 0; t < RMDIR_WAIT_MS / 10; t++) {
			kill_all(cg->dir[i]);
			if (rmdir(cg->dir[i]) == 0 || errno == ENOENT)
				break;
			nanosleep(&pause, NULL);
		}
		free(cg->dir[i]);
		free(cg->procs[i]);
	}
	free(cg);
}

int exec_cgroup_counters(pid_t pid, struct exec_cgroup_counters *c)
{
	char dir[PATH_MAX], buf[2048];
	bool any = false;

	memset(c, 0, sizeof(*c));
	if ((cgroup_of(pid, "memory", dir, sizeof(dir)) &&
	     get(dir, "memory.oom_control", buf, sizeof(buf)) == 0) ||
	    (cgroup_of(pid, NULL, dir, sizeof(dir)) &&
	     get(dir, "memory.events", buf, sizeof(buf)) == 0)) {
		c->oom_kills = keyed(buf, "oom_kill");
		any = true;
	}
	if ((cgroup_of(pid, "pids", dir, sizeof(dir)) ||
	     cgroup_of(pid, NULL, dir, sizeof(dir))) &&
	    get(dir, "pids.events", buf, sizeof(buf)) == 0) {
		c->pids_max = keyed(buf, "max");
		any = true;
	}
	return any ? 0 : -ENOENT;
}
