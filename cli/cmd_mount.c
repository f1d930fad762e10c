/* SPDX-License-Identifier: MIT */
/* tether mount: a node's workspace as a local read-only directory, fetched
 * lazily, following the node's commits until unmounted. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "chunkid.h"
#include "cli.h"
#include "log.h"
#include "source.h"
#include "term.h"
#ifdef TETHER_HAVE_FUSE
#include "codec.h"
#include "fetch.h"
#include "link.h"
#include "tetherfs.h"
#endif

static const char usage[] =
	"usage: tether mount --node URL --workspace NAME [--cache DIR] DIR\n"
	"  Mount the node's copy of workspace NAME read-only at DIR (FUSE). Files\n"
	"  are fetched when read and kept in a local chunk cache; the mount\n"
	"  follows the node's new versions. fusermount3 -u DIR, Ctrl-C or SIGTERM\n"
	"  unmounts.\n"
	"  --cache DIR   chunk cache (default: $TETHER_CACHE or ~/.cache/tether,\n"
	"                under mounts/)\n";

#ifdef TETHER_HAVE_FUSE
/* How often the node is asked for a new version. */
#define POLL_MS 1000

/* DIR/mounts/NAME-<hash of the url>: one cache per node and workspace. */
static int default_cache(const char *url, const char *name, char *buf,
			 size_t cap)
{
	char base[4096];
	struct sd_id id;
	char hex[SD_ID_HEX];

	if (sd_source_cache_dir(base, sizeof(base)) < 0)
		return -ENAMETOOLONG;
	sd_id_of(&id, url, strlen(url));
	sd_id_hex(&id, hex);
	hex[16] = '\0';
	return snprintf(buf, cap, "%s/mounts/%s-%s", base, name, hex) < (int)cap
		       ? 0
		       : -ENAMETOOLONG;
}

/* Install the node's current version. 0 or -errno (logged once while
 * the node stays away, and again when it is back). */
/* What the mount shows, and how it gets it. */
struct mnt {
	const char *url, *name;
	struct fs_fetch *r;
	struct tfs *t;
	/* The node's version (from fs_fetch), and a link of the mount's own
	 * for the view's changes on top. */
	struct sd_manifest lower;
	struct tp_link *link;
	struct sd_id shown; /* root hash of what the view shows */
	bool away;
};

/* The view's changes over m->lower, installed when they moved. */
static int refresh_upper(struct mnt *m)
{
	struct fs_piece *pieces = NULL;
	struct sd_manifest merged;
	size_t n = 0;
	char err[TP_ERRMSG_MAX + 64] = "";
	int e = 0;

	if (!m->link)
		e = tp_link_open(m->url, &m->link);
	if (e == 0)
		e = cli_mount_merge(m->link, m->name, &m->lower, &merged,
				    &pieces, &n, err, sizeof(err));
	if (e < 0) {
		/* Dial again next time: the node may have restarted. */
		tp_link_close(m->link);
		m->link = NULL;
		log_error("mount: the view's changes: %s",
			  err[0] ? err : strerror(-e));
		return e;
	}
	if (sd_id_eq(&merged.root, &m->shown)) {
		fs_pieces_free(pieces, n);
		sd_manifest_free(&merged);
		return 0;
	}
	/* The pieces first: a reader of the new version finds them. */
	fs_fetch_set_pieces(m->r, pieces, n);
	e = tfs_set(m->t, &merged);
	if (e == 0) {
		m->shown = merged.root;
		log_info("mount: version %" PRIu64 " with %zu pieces written "
			 "on the node",
			 m->lower.version, n);
	}
	sd_manifest_free(&merged);
	return e;
}

static int refresh(struct mnt *m)
{
	struct sd_err why = { "" };
	uint64_t v = 0;
	int e = fs_fetch_version(m->r, &v, &why);

	if (e < 0 && !m->away)
		log_error("mount: %s (the mount stays; reads of files not "
			  "fetched yet fail meanwhile)",
			  why.what);
	if (e == 0 && m->away)
		log_info("mount: the node answers again");
	m->away = e < 0;
	if (e < 0)
		return e;
	if (v != m->lower.version) {
		struct sd_manifest low;

		e = fs_fetch_manifest(m->r, &low, &why);
		if (e < 0) {
			log_error("mount: fetching version %" PRIu64 ": %s", v,
				  why.what);
			return e;
		}
		sd_manifest_free(&m->lower);
		m->lower = low;
		/* Before the view shows it: a read waiting for a pending
		 * file's content finds it here. */
		e = fs_fetch_set_lower(m->r, &m->lower);
		if (e < 0)
			return e;
	}
	return refresh_upper(m);
}

static int run(const char *url, const char *name, const char *cache,
	       const char *dir)
{
	struct sd_err why = { "" };
	struct mnt m = { .url = url, .name = name };
	int e, sfd;

	sd_manifest_init(&m.lower);
	e = fs_fetch_open(url, name, cache, &m.r, &why);
	if (e < 0) {
		log_error("mount: %s", why.what);
		return CLI_EXIT_FAILURE;
	}
	sfd = cli_signals_open();
	{
		struct tfs_source src = { fs_fetch_get, m.r, fs_fetch_define };

		e = sfd < 0 ? sfd
			    : tfs_mount(dir, name, &src, NULL, &m.t, &why);
	}
	if (e == 0)
		e = refresh(&m);
	if (e < 0) {
		if (why.what[0])
			log_error("mount: %s", why.what);
		goto out;
	}
	printf("tether mount: %s of %s at %s\n", name, url, dir);
	fflush(stdout);
	/* Until a signal, or someone unmounts DIR. A node that is away for
	 * a while is no reason to stop: reads fail with EIO meanwhile. */
	while (tfs_alive(m.t)) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		struct signalfd_siginfo si;

		if (poll(&p, 1, POLL_MS) > 0 &&
		    read(sfd, &si, sizeof(si)) == sizeof(si) &&
		    si.ssi_signo != SIGWINCH)
			break;
		(void)refresh(&m);
	}
	e = 0;
out:
	tfs_unmount(m.t);
	fs_fetch_close(m.r);
	tp_link_close(m.link);
	sd_manifest_free(&m.lower);
	if (sfd >= 0)
		cli_signals_close(sfd);
	return e < 0 ? CLI_EXIT_FAILURE : 0;
}
#endif

int cli_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'N' },
		{ "workspace", required_argument, NULL, 'w' },
		{ "cache", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *url = NULL, *name = NULL, *cache = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': url = optarg; break;
		case 'w': name = optarg; break;
		case 'c': cache = optarg; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return CLI_EXIT_USAGE;
		}
	}
	if (!url || !name || optind + 1 != argc) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
#ifdef TETHER_HAVE_FUSE
	char cbuf[4096];

	if (!cache) {
		if (default_cache(url, name, cbuf, sizeof(cbuf)) < 0) {
			log_error(
				"mount: no cache directory (set TETHER_CACHE)");
			return CLI_EXIT_FAILURE;
		}
		cache = cbuf;
	}
	return run(url, name, cache, argv[optind]);
#else
	(void)cache;
	log_error("mount: this tether was built without FUSE (libfuse3-dev)");
	return CLI_EXIT_FAILURE;
#endif
}
