/* SPDX-License-Identifier: MIT */
/* tether sync (one-shot mirror of a directory into a node's workspace) and
 * tether watch (keep it current until stopped). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "cli.h"
#include "clock.h"
#include "codec.h"
#include "config.h"
#include "link.h"
#include "log.h"
#include "parse.h"
#include "selfexe.h"
#include "source.h"
#include "term.h"
#include "watch.h"
#include "zchunk.h"

extern char **environ;

static const char sync_usage[] =
	"usage: tether sync DIR (--node URL --workspace NAME | --agent ID) [OPTIONS]\n"
	"  --node URL         the tether node to mirror DIR to\n"
	"  --workspace NAME   the workspace's name on the node\n"
	"  --agent ID         the node, workspace and domain the config gives agent ID\n"
	"                     (and DIR, when omitted: the agent's \"dir\")\n"
	"  --config FILE      the config for --agent (default: $TETHER_CONFIG, ./tether.json,\n"
	"                     ~/.config/tether/tether.json)\n"
	"  --domain NAME      the node's chunk store to use (default: the workspace's own);\n"
	"                     workspaces that trust each other may share one\n"
	"  --json             print the summary as one JSON object on stdout\n"
	"  --level N          zstd level for chunks (default 1; negative: faster)\n"
	"  --chunk MIN:AVG:MAX  chunk sizes in bytes (default 16384:65536:262144)\n"
	"  --ignore PATTERN   also ignore PATTERN (.gitignore syntax; repeatable)\n"
	"  --cache DIR        stat cache directory (default: $TETHER_CACHE or\n"
	"                     ~/.cache/tether)\n"
	"  --lazy             commit first, then send the chunks: a node with views\n"
	"                     shows the new version at once and its commands' reads\n"
	"                     ask for the chunks they need first; files the stat\n"
	"                     cache does not know go ahead unread (metadata ahead\n"
	"                     of content), read on demand, then all hashed\n"
	"  --bwlimit RATE     send chunks in bulk at RATE bytes a second at most\n"
	"                     (k, M, G suffixes); chunks a view waits for go at once\n"
	"  --passthrough      to a node on this host (ipc://, loopback) with views:\n"
	"                     send no chunks, its views read the files from DIR\n"
	"                     itself (a file changed since the last sync then\n"
	"                     fails to read until the next)\n";

#define IGNORE_MAX 256

static void human_bytes(char *buf, size_t cap, double b)
{
	static const char *const unit[] = { "B", "kB", "MB", "GB", "TB" };
	int u = 0;

	while (b >= 1000 && u < 4) {
		b /= 1000;
		u++;
	}
	snprintf(buf, cap, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

struct progress {
	uint64_t t0;
	bool shown;
};

static void show_progress(void *opaque, uint64_t done, uint64_t total,
			  uint64_t raw_done, uint64_t raw_total)
{
	struct progress *p = opaque;
	double secs = (double)(util_now_ms() - p->t0) / 1000.0;
	double rate = secs > 0 ? (double)raw_done / secs : 0;
	char a[32], b[32], r[32];

	human_bytes(a, sizeof(a), (double)raw_done);
	human_bytes(b, sizeof(b), (double)raw_total);
	human_bytes(r, sizeof(r), rate);
	fprintf(stderr,
		"\r\033[Ksending %" PRIu64 "/%" PRIu64 " chunks, %s/%s, %s/s",
		done, total, a, b, r);
	if (rate > 0 && raw_done < raw_total)
		fprintf(stderr, ", ETA %.0fs",
			(double)(raw_total - raw_done) / rate);
	p->shown = true;
}

static int parse_chunk(const char *s, struct sd_scan_opts *so)
{
	struct sd_cdc_params p;
	struct sd_err why;
	char extra;

	if (sscanf(s, "%" SCNu32 ":%" SCNu32 ":%" SCNu32 "%c", &p.min, &p.avg,
		   &p.max, &extra) != 3) {
		log_error("--chunk %s: expected MIN:AVG:MAX in bytes", s);
		return -EINVAL;
	}
	if (sd_cdc_init(&so->cdc, &p, &why) < 0) {
		log_error("--chunk %s: %s", s, why.what);
		return -EINVAL;
	}
	return 0;
}

static void print_json(const struct sd_source_report *r, const char *ws)
{
	printf("{\"workspace\":\"%s\",\"version\":%" PRIu64
	       ",\"up_to_date\":%s,\"full\":%s,\"files_scanned\":%" PRIu64
	       ",\"dirs_scanned\":%" PRIu64 ",\"bytes_scanned\":%" PRIu64
	       ",\"files_hashed\":%" PRIu64 ",\"bytes_hashed\":%" PRIu64
	       ",\"changed\":%" PRIu64 ",\"chunks_sent\":%" PRIu64
	       ",\"bytes_sent_raw\":%" PRIu64 ",\"bytes_sent_zstd\":%" PRIu64
	       ",\"offer_bytes\":%" PRIu64 ",\"scan_ms\":%" PRIu64
	       ",\"lazy\":%s,\"files_ahead\":%" PRIu64 ",\"commit_ms\":%" PRIu64
	       ",\"ms\":%" PRIu64 "}\n",
	       ws, r->version, r->up_to_date ? "true" : "false",
	       r->full ? "true" : "false",
	       r->scan.files + r->scan.symlinks + r->scan.hardlinks,
	       r->scan.dirs, r->scan.bytes, r->scan.hashed_files,
	       r->scan.hashed_bytes, r->changed, r->chunks_sent, r->raw_bytes,
	       r->wire_bytes, r->offer_bytes, r->scan.ms,
	       r->lazy ? "true" : "false", r->scan.pending, r->commit_ms,
	       r->ms);
}

static void print_summary(const struct sd_source_report *r, const char *dir,
			  const char *ws, const char *url)
{
	char scanned[32], raw[32], wire[32];

	human_bytes(scanned, sizeof(scanned), (double)r->scan.bytes);
	human_bytes(raw, sizeof(raw), (double)r->raw_bytes);
	human_bytes(wire, sizeof(wire), (double)r->wire_bytes);
	if (r->up_to_date) {
		printf("tether sync: %s -> %s on %s: up to date at version %" PRIu64
		       " (%" PRIu64 " files, %s scanned in %.2f s)\n",
		       dir, ws, url, r->version,
		       r->scan.files + r->scan.symlinks + r->scan.hardlinks,
		       scanned, (double)r->ms / 1000);
		return;
	}
	printf("tether sync: %s -> %s on %s: version %" PRIu64 "%s\n"
	       "  scanned %" PRIu64 " files (%s), %" PRIu64
	       " read%s; changed: %" PRIu64 "\n"
	       "  sent %" PRIu64 " chunks: %s, %s with zstd; in %.2f s\n",
	       dir, ws, url, r->version, r->full ? " (full snapshot)" : "",
	       r->scan.files + r->scan.symlinks + r->scan.hardlinks, scanned,
	       r->scan.hashed_files,
	       r->scan.pending ? " (after a commit of their metadata)" : "",
	       r->changed, r->chunks_sent, raw, wire, (double)r->ms / 1000);
}

/* A rate in bytes a second: digits, then k, M or G (powers of 1024). */
static int parse_rate(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'M')
		shift = 20;
	else if (*end == 'G')
		shift = 30;
	else if (*end)
		return -EINVAL;
	if (shift && end[1])
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

/* The options sync and watch share. */
struct sync_cli {
	struct exec_config *cfg; /* with --agent */
	const char *url;
	struct sd_source_opts o;
	char cache[PATH_MAX];
	const char *ignore[IGNORE_MAX];
	bool json;
	unsigned coalesce_ms; /* watch */
};

static void sync_cli_fini(struct sync_cli *c)
{
	exec_config_free(c->cfg);
}

static const struct option sync_opts[] = {
	{ "node", required_argument, NULL, 'N' },
	{ "workspace", required_argument, NULL, 'W' },
	{ "domain", required_argument, NULL, 'D' },
	{ "json", no_argument, NULL, 'J' },
	{ "level", required_argument, NULL, 'L' },
	{ "chunk", required_argument, NULL, 'C' },
	{ "ignore", required_argument, NULL, 'I' },
	{ "cache", required_argument, NULL, 'c' },
	{ "coalesce", required_argument, NULL, 'M' },
	{ "agent", required_argument, NULL, 'A' },
	{ "config", required_argument, NULL, 'F' },
	{ "lazy", no_argument, NULL, 'Z' },
	{ "bwlimit", required_argument, NULL, 'B' },
	{ "passthrough", no_argument, NULL, 'P' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

/* --agent: the node, workspace and domain the config gives the agent;
 * --node, --workspace and --domain given as well win. */
static int resolve_agent(struct sync_cli *c, const char *agent,
			 const char *config)
{
	const char *url, *ws, *domain;
	char path[PATH_MAX], err[512];
	int r;

	if (!config) {
		r = exec_config_find(path, sizeof(path));
		if (r < 0) {
			log_error("--agent %s: no config (--config FILE, "
				  "$TETHER_CONFIG or ./tether.json)",
				  agent);
			return r;
		}
		config = path;
	}
	r = exec_config_load(config, &c->cfg, err, sizeof(err));
	if (r == 0)
		r = exec_router_workspace(c->cfg, agent, &url, &ws, &domain,
					  err, sizeof(err));
	if (r < 0) {
		log_error("%s", err);
		return r;
	}
	if (!c->url)
		c->url = url;
	if (!c->o.workspace)
		c->o.workspace = ws;
	if (!c->o.domain)
		c->o.domain = domain;
	return 0;
}

/* 0, 1 (help shown), -EINVAL (bad usage) or -ENOENT (the agent's route);
 * reported. */
static int parse_sync(int argc, char **argv, const char *usage, bool watch,
		      struct sync_cli *c)
{
	struct sd_err why = { "" };
	const char *agent = NULL, *config = NULL;
	size_t nignore = 0;
	bool pass = false;
	int opt, level;
	uint32_t ms;

	c->o.level = SD_Z_LEVEL_DEFAULT;
	c->coalesce_ms = 1;
	if (sd_cdc_init(&c->o.scan.cdc, &SD_CDC_PARAMS_DEFAULT, &why) < 0)
		return -EINVAL;
	/* DIR may come before or after the options. */
	while ((opt = getopt_long(argc, argv, "h", sync_opts, NULL)) != -1) {
		switch (opt) {
		case 'N': c->url = optarg; break;
		case 'W': c->o.workspace = optarg; break;
		case 'D': c->o.domain = optarg; break;
		case 'J': c->json = true; break;
		case 'c':
			snprintf(c->cache, sizeof(c->cache), "%s", optarg);
			break;
		case 'L':
			if (util_parse_int(optarg, &level) < 0 ||
			    sd_z_level_check(level) < 0) {
				log_error("--level %s: not a zstd level",
					  optarg);
				return -EINVAL;
			}
			c->o.level = level;
			break;
		case 'C':
			if (parse_chunk(optarg, &c->o.scan) < 0)
				return -EINVAL;
			break;
		case 'I':
			if (nignore == IGNORE_MAX) {
				log_error("--ignore: more than %d patterns",
					  IGNORE_MAX);
				return -EINVAL;
			}
			c->ignore[nignore++] = optarg;
			break;
		case 'M':
			if (!watch || util_parse_u32(optarg, &ms) < 0 ||
			    ms > 1000) {
				log_error("--coalesce %s: milliseconds, at "
					  "most 1000 (tether watch only)",
					  optarg);
				return -EINVAL;
			}
			c->coalesce_ms = ms;
			break;
		case 'A': agent = optarg; break;
		case 'F': config = optarg; break;
		case 'Z': c->o.lazy = true; break;
		case 'P': pass = true; break;
		case 'B':
			if (parse_rate(optarg, &c->o.bwlimit) < 0) {
				log_error("--bwlimit %s: expected bytes a "
					  "second, more than 0 (k, M, G "
					  "suffixes)",
					  optarg);
				return -EINVAL;
			}
			break;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	/* A config that does not route the agent is tether failing, not a
	 * usage error. */
	if (agent && resolve_agent(c, agent, config) < 0)
		return -ENOENT;
	/* With --agent, DIR defaults to the agent's "dir". */
	if (argc - optind == 0 && agent && c->cfg) {
		enum exec_writeback wb;
		const char *dir = NULL;
		char err[512];

		if (exec_router_writeback(c->cfg, agent, &wb, &dir, err,
					  sizeof(err)) == 0 &&
		    dir)
			c->o.dir = dir;
	}
	if (!c->url || !c->o.workspace || argc - optind != (c->o.dir ? 0 : 1)) {
		fputs(usage, stderr);
		return -EINVAL;
	}
	if (!c->o.dir)
		c->o.dir = argv[optind];
	for (const char *n = c->o.workspace, *what = "--workspace"; n;
	     n = n == c->o.workspace ? c->o.domain : NULL, what = "--domain") {
		if (!tp_name_ok((const uint8_t *)n, strlen(n))) {
			log_error("%s %s: not a name (1-%u of A-Z a-z 0-9 _ - "
				  "., not starting with '.')",
				  what, n, TP_NAME_MAX);
			return -EINVAL;
		}
	}
	if (!c->cache[0] &&
	    sd_source_cache_dir(c->cache, sizeof(c->cache)) < 0) {
		log_error("cache directory: path too long");
		return -EINVAL;
	}
	c->o.cache_dir = c->cache;
	if (pass && strncmp(c->url, "ipc://", 6) != 0 &&
	    !tp_url_loopback(c->url)) {
		log_error("--passthrough: %s is not on this host (ipc://, or "
			  "tcp:// to a loopback address)",
			  c->url);
		return -EINVAL;
	}
	c->o.passthrough = pass;
	/* Lazy: what the stat cache does not know goes ahead as metadata. */
	c->o.meta_first = c->o.lazy;
	c->o.scan.ignore = c->ignore;
	c->o.scan.nignore = nignore;
	return 0;
}

static int open_link(const char *url, struct tp_link **link)
{
	int r = tp_link_open(url, link);

	if (r < 0)
		log_error("sandbox connection failed: %s: %s", url,
			  r == -ECONNREFUSED ? "connection refused"
					     : strerror(-r));
	return r;
}

struct cli_sync_bg {
	struct sync_cli c;
	struct tp_link *link;
	struct sd_source *src;
};

/* A tether sync of the same directory, workspace and cache, on its own,
 * in the background: after a lazy barrier, it sends what the node still
 * lacks (its want lists every missing chunk) while tether exec returns. */
static void sync_behind(const struct sync_cli *c)
{
	char exe[PATH_MAX];
	const char *argv[16];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int k = 0;
	pid_t pid;

	if (util_self_exe(exe, sizeof(exe)) < 0)
		return;
	argv[k++] = exe;
	argv[k++] = "sync";
	argv[k++] = c->o.dir;
	argv[k++] = "--node";
	argv[k++] = c->url;
	argv[k++] = "--workspace";
	argv[k++] = c->o.workspace;
	argv[k++] = "--cache";
	argv[k++] = c->cache;
	if (c->o.domain) {
		argv[k++] = "--domain";
		argv[k++] = c->o.domain;
	}
	argv[k] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at,
				 POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
	{
		sigset_t none;

		sigemptyset(&none);
		posix_spawnattr_setsigmask(&at, &none);
	}
	if (posix_spawn(&pid, exe, &fa, &at, (char *const *)argv, environ) == 0)
		log_info("sync %s -> %s: the rest of the chunks goes on in "
			 "the background (tether sync, pid %d)",
			 c->o.dir, c->o.workspace, (int)pid);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
}

void cli_sync_end(struct cli_sync_bg *bg)
{
	if (!bg)
		return;
	/* What the lazy barrier has not sent yet goes on without us, so
	 * that a later command on the node never waits for a source that
	 * is gone, and tether exec need not wait either. */
	if (bg->src && sd_source_filling(bg->src)) {
		sd_source_fill_wait(bg->src, true, NULL,
				    &(struct sd_err){ "" });
		sync_behind(&bg->c);
	}
	sd_source_close(bg->src);
	tp_link_close(bg->link);
	sync_cli_fini(&bg->c);
	free(bg);
}

int cli_sync_begin(int argc, char **argv, struct cli_sync_bg **ret)
{
	struct cli_sync_bg *bg = calloc(1, sizeof(*bg));
	struct sd_source_report rep = { 0 };
	struct sd_err why = { "" };
	int r;

	*ret = NULL;
	if (!bg)
		return CLI_EXIT_FAILURE;
	r = parse_sync(argc, argv, sync_usage, false, &bg->c);
	if (r != 0) {
		sync_cli_fini(&bg->c);
		free(bg);
		return r > 0	      ? 0
		       : r == -EINVAL ? CLI_EXIT_USAGE
				      : CLI_EXIT_FAILURE;
	}
	if (open_link(bg->c.url, &bg->link) < 0) {
		cli_sync_end(bg);
		return CLI_EXIT_FAILURE;
	}
	r = sd_source_open(bg->link, &bg->c.o, &bg->src, &why);
	if (r == 0)
		r = sd_source_scan_push(bg->src, &rep, &why);
	if (r < 0) {
		log_error("sync %s -> %s on %s: %s", bg->c.o.dir,
			  bg->c.o.workspace, bg->c.url,
			  why.what[0] ? why.what : strerror(-r));
		cli_sync_end(bg);
		return CLI_EXIT_FAILURE;
	}
	if (rep.lazy && rep.scan.pending)
		log_info("sync %s -> %s: version %" PRIu64
			 " committed ahead of the content of %" PRIu64
			 " files (the node asks for those it reads)",
			 bg->c.o.dir, bg->c.o.workspace, rep.version,
			 rep.scan.pending);
	*ret = bg;
	return 0;
}

int cli_sync(int argc, char **argv)
{
	_cleanup_(sync_cli_fini) struct sync_cli c = { 0 };
	struct sd_source_report rep;
	struct progress prog = { .t0 = util_now_ms() };
	struct sd_err why = { "" };
	struct tp_link *link = NULL;
	int r;

	r = parse_sync(argc, argv, sync_usage, false, &c);
	if (r != 0)
		return r > 0	      ? 0
		       : r == -EINVAL ? CLI_EXIT_USAGE
				      : CLI_EXIT_FAILURE;
	if (isatty(STDERR_FILENO) && !c.json) {
		c.o.progress = show_progress;
		c.o.progress_opaque = &prog;
	}
	if (open_link(c.url, &link) < 0)
		return CLI_EXIT_FAILURE;
	r = sd_source_sync(link, &c.o, &rep, &why);
	if (prog.shown)
		fputs("\r\033[K", stderr);
	tp_link_close(link);
	if (r < 0) {
		log_error("sync %s -> %s on %s: %s", c.o.dir, c.o.workspace,
			  c.url, why.what[0] ? why.what : strerror(-r));
		return CLI_EXIT_FAILURE;
	}
	if (c.json)
		print_json(&rep, c.o.workspace);
	else
		print_summary(&rep, c.o.dir, c.o.workspace, c.url);
	fflush(stdout);
	return 0;
}

static const char watch_usage[] =
	"usage: tether watch DIR (--node URL --workspace NAME | --agent ID) [OPTIONS]\n"
	"  (with --agent, DIR may be left out: the agent's \"dir\")\n"
	"  keeps the node's copy of DIR current until SIGINT or SIGTERM:\n"
	"  inotify on every directory, a full rescan when events were lost.\n"
	"  Options as for tether sync, and:\n"
	"  --coalesce MS      wait for MS quiet milliseconds before a sync (default 1)\n"
	"  --json             one JSON object per sync on stdout\n"
	"  tether exec --agent's barrier asks the watcher (a socket in the cache)\n"
	"  instead of scanning DIR itself.\n";

struct watcher {
	struct sync_cli *c;
	char dir[PATH_MAX]; /* DIR, resolved: the watcher outlives a link */
	struct tp_link *link;
	struct sd_source *src;
	bool announced_loss;
};

static bool skip_dir(const char *rel, size_t len, void *opaque)
{
	struct watcher *w = opaque;

	return sd_scan_ignored(w->dir, &w->c->o.scan, rel, len, true);
}

static void watch_close(struct watcher *w)
{
	sd_source_close(w->src);
	tp_link_close(w->link);
	w->src = NULL;
	w->link = NULL;
}

static int watch_connect(struct watcher *w, struct sd_err *why)
{
	int r = tp_link_open(w->c->url, &w->link);

	if (r == 0)
		r = sd_source_open(w->link, &w->c->o, &w->src, why);
	if (r < 0) {
		if (!why->what[0])
			snprintf(why->what, sizeof(why->what), "%s: %s",
				 w->c->url,
				 r == -ECONNREFUSED ? "connection refused"
						    : strerror(-r));
		watch_close(w);
		return r;
	}
	sd_source_set_lazy_save(w->src, true);
	return 0;
}

static void report(const struct watcher *w, const struct sd_source_report *r)
{
	if (w->c->json) {
		print_json(r, w->c->o.workspace);
	} else if (!r->up_to_date) {
		char raw[32], wire[32];

		human_bytes(raw, sizeof(raw), (double)r->raw_bytes);
		human_bytes(wire, sizeof(wire), (double)r->wire_bytes);
		printf("tether watch: %s version %" PRIu64 ": changed %" PRIu64
		       ", sent %" PRIu64
		       " chunks (%s, %s with zstd) in %" PRIu64 " ms\n",
		       w->c->o.workspace, r->version, r->changed,
		       r->chunks_sent, raw, wire, r->ms);
	}
	fflush(stdout);
}

/* One round: update (or rescan) and push. */
static int watch_sync(struct watcher *w, const struct sd_watch_batch *b,
		      bool full, struct sd_err *why)
{
	struct sd_source_report rep = { 0 };
	const struct sd_manifest *last;
	struct sd_manifest m;
	struct sd_delta d;
	uint64_t t0 = util_now_ms();
	int r = 1;

	sd_delta_init(&d);

	if (!w->src) {
		r = watch_connect(w, why);
		if (r < 0)
			return r;
		if (w->announced_loss)
			log_warn("watch: %s is back: syncing", w->c->url);
		w->announced_loss = false;
		full = true;
	}
	last = sd_source_last(w->src);
	if (!full && last && b && b->count)
		r = sd_scan_update(sd_source_dir(w->src), &w->c->o.scan, last,
				   b->paths, b->count, &m, &d, &rep.scan, why);
	else if (!full && b && !b->count && !b->rescan)
		return 0;
	if (r < 0)
		return r;
	if (r == 1) {
		/* A full scan: with --lazy, the files it does not know go
		 * ahead as metadata, read right after. */
		r = sd_source_scan_push(w->src, &rep, why);
		if (r == 0)
			r = sd_source_define(w->src, &rep, why);
	} else {
		r = sd_source_push_delta(w->src, &m, &d, &rep, why);
		sd_manifest_free(&m);
	}
	sd_delta_free(&d);
	rep.ms = util_now_ms() - t0;
	if (r == 0)
		report(w, &rep);
	return r;
}

/* The barrier (watch_barrier.c): commit every change queued before the
 * requests arrived, then answer them. */
static void barrier(struct watcher *w, struct sd_watch *wt,
		    struct sd_watch_batch *b, struct cli_barrier_srv *srv,
		    bool *pending)
{
	struct sd_err why = { "" };
	const struct sd_manifest *last;
	int r = 0;

	while (!*pending && r >= 0 &&
	       (r = sd_watch_read(wt, b, 0, &why)) == 1) {
		r = watch_sync(w, b, b->rescan, &why);
		if (r < 0)
			*pending = true;
	}
	if (*pending && w->src && watch_sync(w, NULL, true, &why) == 0)
		*pending = false;
	last = w->src ? sd_source_last(w->src) : NULL;
	if (!*pending && last) {
		struct tp_sync_state st = { .version = last->version,
					    .files = last->nfiles,
					    .bytes = last->nbytes };

		memcpy(st.root, last->root.b, TP_ID_SIZE);
		cli_barrier_srv_answer(srv, w->c->o.workspace, &st, NULL);
	} else {
		cli_barrier_srv_answer(srv, w->c->o.workspace, NULL,
				       why.what[0] ? why.what
						   : "the watcher cannot sync");
	}
}

int cli_watch(int argc, char **argv)
{
	_cleanup_(sync_cli_fini) struct sync_cli c = { 0 };
	struct watcher w = { .c = &c };
	struct sd_watch *wt = NULL;
	struct sd_watch_batch b;
	struct sd_err why = { "" };
	struct cli_barrier_srv *srv = NULL;
	char burl[PATH_MAX + 32];
	bool pending = true; /* the first sync, or a failed one */
	int r, sfd, code = CLI_EXIT_FAILURE;

	r = parse_sync(argc, argv, watch_usage, true, &c);
	if (r != 0)
		return r > 0	      ? 0
		       : r == -EINVAL ? CLI_EXIT_USAGE
				      : CLI_EXIT_FAILURE;
	sfd = cli_signals_open();
	if (sfd < 0) {
		log_error_errno(sfd, "signalfd");
		return CLI_EXIT_FAILURE;
	}
	sd_watch_batch_init(&b);
	if (!realpath(c.o.dir, w.dir)) {
		log_error_errno(-errno, "watch %s", c.o.dir);
		goto out;
	}
	if (watch_connect(&w, &why) < 0) {
		log_error("watch %s -> %s: %s", c.o.dir, c.o.workspace,
			  why.what);
		goto out;
	}
	/* Watch first, then scan: a change made during the first scan is
	 * then an event, not a loss. */
	r = sd_watch_new(w.dir, skip_dir, &w, &wt, &why);
	if (r < 0) {
		log_error("watch %s: %s", c.o.dir, why.what);
		goto out;
	}
	r = sd_source_watch_url(c.cache, w.dir, c.url, c.o.workspace, burl,
				sizeof(burl));
	if (r == 0)
		r = cli_barrier_serve(burl, &srv);
	if (r < 0)
		log_warn("watch %s: no barrier socket (%s): tether exec "
			 "--agent scans the tree instead",
			 c.o.dir,
			 r == -EADDRINUSE ? "another tether watch of it serves "
					    "one"
					  : strerror(-r));
	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = sd_watch_fd(wt), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = cli_barrier_srv_fd(srv), .events = POLLIN },
		};
		int timeout = sd_watch_timeout_ms(wt);

		if (pending) {
			memset(&why, 0, sizeof(why));
			r = watch_sync(&w, NULL, true, &why);
			if (r < 0) {
				if (!w.announced_loss)
					log_error("watch %s -> %s on %s: %s "
						  "(retrying every second)",
						  c.o.dir, c.o.workspace, c.url,
						  why.what);
				w.announced_loss = true;
				if (r == -ECONNRESET || r == -ECONNREFUSED ||
				    r == -ETIMEDOUT)
					watch_close(&w);
				timeout = 1000;
			} else {
				pending = false;
			}
		}
		r = poll(pfd, 3, timeout);
		if (r < 0 && errno != EINTR) {
			log_error_errno(-errno, "poll");
			goto out;
		}
		if (pfd[1].revents & POLLIN)
			break;
		if (pfd[2].revents & POLLIN) {
			if (cli_barrier_srv_take(srv))
				barrier(&w, wt, &b, srv, &pending);
			continue;
		}
		if (pending && !(pfd[0].revents & POLLIN))
			continue;
		memset(&why, 0, sizeof(why));
		r = sd_watch_read(wt, &b, c.coalesce_ms, &why);
		if (r < 0) {
			log_error("watch %s: %s", c.o.dir, why.what);
			goto out;
		}
		if (pending)
			continue; /* the next round rescans anyway */
		memset(&why, 0, sizeof(why));
		r = watch_sync(&w, &b, b.rescan, &why);
		if (r < 0) {
			pending = true;
			if (r == -ECONNRESET || r == -ECONNREFUSED ||
			    r == -ETIMEDOUT)
				watch_close(&w);
		}
	}
	code = 0;
out:
	cli_barrier_srv_free(srv);
	sd_watch_batch_fini(&b);
	sd_watch_free(wt);
	watch_close(&w);
	close(sfd);
	return code;
}
