/* SPDX-License-Identifier: MIT */
/* sync-evil: a client that speaks the SYNC_* messages itself and sends a
 * node hostile offers, packs and commits (tests/integration/sync_hostile.sh).
 * Deltas are encoded by hand here, since syncd's encoder refuses to write
 * what this tool exists to send. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "link.h"
#include "manifest.h"
#include "pack.h"
#include "zchunk.h"

static const char usage[] =
	"usage: sync-evil URL WORKSPACE CASE [ARG]\n"
	"Sends WORKSPACE on the node at URL one hostile sync and prints each\n"
	"reply that matters as 'STEP: ERROR ENAME message' or 'STEP: TYPE ...'.\n"
	"Offers are full snapshots (base version 0) of the next version, each\n"
	"followed by a SYNC_COMMIT of what it claimed. CASE:\n"
	"  valid            a well-formed snapshot, offered only (the control)\n"
	"  dotdot           a path with '..' (evil-dir/../../sync-evil-escape)\n"
	"  absolute         an absolute path (ARG, default /tmp/sync-evil-abs)\n"
	"  empty-name       an empty component (evil-dir//x)\n"
	"  nul              a NUL in a name\n"
	"  long-name        a 256-byte name\n"
	"  duplicate        the same entry twice\n"
	"  no-parent        a file whose parent directory is not in the tree\n"
	"  through-symlink  a file below a symlink to ARG (a directory)\n"
	"  hardlink-dotdot  a hard link to ../../sync-evil-escape\n"
	"  hardlink-missing a hard link to a path not in the tree\n"
	"  del-dotdot       a delta from the node's version deleting '../x'\n"
	"  root-offer       a delta whose root hash is not its result's\n"
	"  bad-chunk        a SYNC_PUT whose second chunk does not match its id\n"
	"  root-commit      chunks put, then a COMMIT with another root hash\n"
	"  early-commit     a COMMIT before any chunk arrived\n"
	"  offer-order      the second OFFER piece skips a byte\n"
	"  offer-start      a session whose first OFFER piece is not at 0\n"
	"  define-pages     a lazy commit of one pending file, pending-file\n"
	"                   (1000 + 2000 bytes), then, as its source, the\n"
	"                   answer to the node's first SYNC_ASK: its chunk\n"
	"                   list in pages of one chunk, out of order, then\n"
	"                   summing wrong, then right, and the chunks (a node\n"
	"                   with views; ARG: seconds to wait for the ask)\n"
	"Exit 0 when the case ran, 1 when a step that must work did not (the\n"
	"node refused the control, or the link failed), 2 on bad usage.\n";

#define CALL_MS 60000
#define CHUNK_A 1000u
#define CHUNK_B 2000u
#define MTIME	1600000000123456789ll

/* ---- a growing buffer ---- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap - b->len < n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p) {
			fputs("sync-evil: out of memory\n", stderr);
			exit(1);
		}
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_le(struct buf *b, uint64_t v, unsigned n)
{
	uint8_t t[8];

	for (unsigned i = 0; i < n; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	buf_put(b, t, n);
}

static void buf_var(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	unsigned n = 0;

	while (v >= 0x80) {
		t[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	t[n++] = (uint8_t)v;
	buf_put(b, t, n);
}

/* ---- the manifest encoding, by hand (docs/protocol.md) ---- */

/* One entry as the encoding carries it; nothing is checked. */
struct hent {
	const char *path;
	size_t len;
	uint8_t type; /* enum sd_type */
	uint16_t mode;
	int64_t mtime;
	uint64_t size;
	const char *target;
	size_t tlen;
	const struct sd_chunkref *chunks;
	uint32_t nchunks;
};

/* A path as the longest prefix shared with the previous one, then the
 * rest: a duplicate is "all shared, no suffix". */
static void enc_path(struct buf *b, const char *prev, size_t plen,
		     const char *p, size_t len)
{
	size_t s = 0, n = plen < len ? plen : len;

	while (s < n && prev[s] == p[s])
		s++;
	buf_var(b, s);
	buf_var(b, len - s);
	buf_put(b, p + s, len - s);
}

static void enc_entries(struct buf *b, const struct hent *e, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enc_path(b, i ? e[i - 1].path : NULL, i ? e[i - 1].len : 0,
			 e[i].path, e[i].len);
		buf_le(b, e[i].type, 1);
		if (e[i].type != SD_T_HARDLINK) {
			buf_le(b, e[i].mode, 2);
			buf_le(b, (uint64_t)e[i].mtime, 8);
		}
		if (e[i].type == SD_T_FILE) {
			buf_var(b, e[i].size);
			buf_var(b, e[i].nchunks);
			for (uint32_t k = 0; k < e[i].nchunks; k++) {
				buf_put(b, e[i].chunks[k].id.b, SD_ID_SIZE);
				buf_var(b, e[i].chunks[k].len);
			}
		} else if (e[i].type == SD_T_PENDING) {
			buf_var(b, e[i].size);
		} else if (e[i].type == SD_T_SYMLINK ||
			   e[i].type == SD_T_HARDLINK) {
			buf_var(b, e[i].tlen);
			buf_put(b, e[i].target, e[i].tlen);
		}
	}
}

/* The root hash a manifest of exactly these entries would have: XXH3-128
 * of the count (u32) and each entry's hash, the XXH3-128 of its record
 * alone (whole path). */
static void root_of(const struct hent *e, size_t n, struct sd_id *out)
{
	struct buf b = { 0 }, one = { 0 };
	struct sd_id id;

	buf_le(&b, n, 4);
	for (size_t i = 0; i < n; i++) {
		one.len = 0;
		enc_entries(&one, &e[i], 1);
		sd_id_of(&id, one.p, one.len);
		buf_put(&b, id.b, SD_ID_SIZE);
	}
	sd_id_of(out, b.p, b.len);
	free(b.p);
	free(one.p);
}

struct hdelta {
	uint64_t base_version, version;
	struct sd_id base_root, root;
	const struct hent *del, *put;
	size_t ndel, nput;
};

static void enc_delta(struct buf *b, const struct hdelta *d)
{
	buf_put(b, "TDLT", 4);
	buf_le(b, SD_MANIFEST_FORMAT, 2);
	buf_le(b, d->base_version, 8);
	buf_put(b, d->base_root.b, SD_ID_SIZE);
	buf_le(b, d->version, 8);
	buf_put(b, d->root.b, SD_ID_SIZE);
	buf_le(b, d->ndel, 4);
	buf_le(b, d->nput, 4);
	for (size_t i = 0; i < d->ndel; i++)
		enc_path(b, i ? d->del[i - 1].path : NULL,
			 i ? d->del[i - 1].len : 0, d->del[i].path,
			 d->del[i].len);
	enc_entries(b, d->put, d->nput);
}

/* ---- talking to the node ---- */

struct evil {
	struct tp_link *link;
	struct tp_chan *c;
	const char *ws;
	uint64_t version; /* the node's, at SYNC_BEGIN */
	struct sd_id root;
	uint64_t session;
};

static void say(const char *step, int r, const struct tp_msg *rep,
		const char *err)
{
	if (r < 0) {
		const char *name = strerrorname_np(-r);

		printf("%s: ERROR %s %s\n", step, name ? name : "E?",
		       err[0] ? err : strerror(-r));
		return;
	}
	switch (rep->type) {
	case TP_OK: printf("%s: OK %" PRIu64 "\n", step, rep->ok); break;
	case TP_SYNC_WANT:
		printf("%s: SYNC_WANT total=%" PRIu64 "\n", step,
		       rep->want.total);
		break;
	case TP_SYNC_STATE:
		printf("%s: SYNC_STATE version=%" PRIu64 "\n", step,
		       rep->state.version);
		break;
	default: printf("%s: %s\n", step, tp_type_name(rep->type)); break;
	}
	fflush(stdout);
}

/* One request; prints the reply when step is set. Returns tp_chan_call's
 * result (-code of an ERROR). */
static int call(struct evil *ev, const char *step, const struct tp_msg *req,
		struct tp_msg *rep)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	int r = tp_chan_call(ev->c, req, rep, CALL_MS, err, sizeof(err));

	if (step)
		say(step, r, rep, err);
	else if (r < 0)
		fprintf(stderr, "sync-evil: %s: %s\n", tp_type_name(req->type),
			err[0] ? err : strerror(-r));
	return r;
}

static int setup_fail(const char *what)
{
	fprintf(stderr, "sync-evil: setup: %s\n", what);
	return 1;
}

static uint64_t random_u64(void)
{
	uint64_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
		fputs("sync-evil: /dev/urandom unreadable\n", stderr);
		exit(1);
	}
	close(fd);
	return v;
}

static void random_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = random_u64();

		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

static int begin(struct evil *ev)
{
	struct tp_msg req = { .type = TP_SYNC_BEGIN }, rep;

	req.begin.workspace = (struct tp_bytes){ (const uint8_t *)ev->ws,
						 (uint32_t)strlen(ev->ws) };
	if (call(ev, NULL, &req, &rep) < 0 || rep.type != TP_SYNC_STATE)
		return setup_fail("SYNC_BEGIN failed");
	ev->version = rep.state.version;
	memcpy(ev->root.b, rep.state.root, SD_ID_SIZE);
	return 0;
}

/* One OFFER piece of the delta d (len bytes), at off. */
static int offer_piece(struct evil *ev, const char *step, const uint8_t *d,
		       size_t len, size_t off, size_t n, struct tp_msg *rep)
{
	struct tp_msg req = { .type = TP_SYNC_OFFER };

	req.offer.workspace = (struct tp_bytes){ (const uint8_t *)ev->ws,
						 (uint32_t)strlen(ev->ws) };
	req.offer.session = ev->session;
	req.offer.offset = off;
	req.offer.total = len;
	req.offer.data = (struct tp_bytes){ d + off, (uint32_t)n };
	return call(ev, step, &req, rep);
}

static int offer(struct evil *ev, const char *step, const struct buf *b,
		 struct tp_msg *rep)
{
	return offer_piece(ev, step, b->p, b->len, 0, b->len, rep);
}

static int commit(struct evil *ev, const char *step, const struct sd_id *root)
{
	struct tp_msg req = { .type = TP_SYNC_COMMIT }, rep;

	req.commit.session = ev->session;
	req.commit.version = ev->version + 1;
	memcpy(req.commit.root, root->b, SD_ID_SIZE);
	return call(ev, step, &req, &rep);
}

static int put(struct evil *ev, const char *step,
	       const struct sd_pack_writer *w, struct tp_msg *rep)
{
	struct tp_msg req = { .type = TP_SYNC_PUT };

	req.put.session = ev->session;
	req.put.pack = (struct tp_bytes){ w->buf, (uint32_t)w->len };
	return call(ev, step, &req, rep);
}

/* ---- the well-formed tree: a directory and a file of two new chunks ---- */

struct benign {
	uint8_t a[CHUNK_A], b[CHUNK_B];
	struct sd_chunkref ck[2];
	struct hent e[2];
	struct sd_id root;
	struct buf enc; /* the snapshot delta */
};

/* Build it, and check the hand encoder against syncd's own: the same
 * tree must give the same root and the same bytes. */
static int benign_init(struct evil *ev, struct benign *t)
{
	struct sd_manifest m, empty;
	struct sd_delta d;
	struct sd_err why = { "" };
	uint8_t *enc = NULL;
	size_t len = 0;
	int r;

	random_bytes(t->a, sizeof(t->a));
	random_bytes(t->b, sizeof(t->b));
	sd_id_of(&t->ck[0].id, t->a, sizeof(t->a));
	t->ck[0].len = CHUNK_A;
	sd_id_of(&t->ck[1].id, t->b, sizeof(t->b));
	t->ck[1].len = CHUNK_B;
	t->e[0] = (struct hent){ .path = "evil-dir",
				 .len = 8,
				 .type = SD_T_DIR,
				 .mode = 0755,
				 .mtime = MTIME };
	t->e[1] = (struct hent){ .path = "evil-dir/evil-file",
				 .len = 18,
				 .type = SD_T_FILE,
				 .mode = 0644,
				 .mtime = MTIME,
				 .size = CHUNK_A + CHUNK_B,
				 .chunks = t->ck,
				 .nchunks = 2 };
	root_of(t->e, 2, &t->root);

	sd_manifest_init(&empty);
	sd_manifest_init(&m);
	m.version = ev->version + 1;
	for (size_t i = 0; i < 2; i++) {
		struct sd_entry e = {
			.path = (char *)t->e[i].path,
			.path_len = (uint32_t)t->e[i].len,
			.type = t->e[i].type,
			.mode = t->e[i].mode,
			.mtime_ns = t->e[i].mtime,
			.size = t->e[i].size,
			.nchunks = t->e[i].nchunks,
			.chunks = (struct sd_chunkref *)t->e[i].chunks
		};

		if (sd_manifest_add(&m, &e, &why) < 0)
			return setup_fail(why.what);
	}
	if (sd_manifest_seal(&m, &why) < 0)
		return setup_fail(why.what);
	r = sd_delta_diff(&empty, &m, &d);
	if (r == 0)
		r = sd_delta_encode(&d, &enc, &len);
	sd_delta_free(&d);
	{
		struct hdelta hd = { .base_version = 0,
				     .base_root = empty.root,
				     .version = ev->version + 1,
				     .root = t->root,
				     .put = t->e,
				     .nput = 2 };

		enc_delta(&t->enc, &hd);
	}
	if (r < 0 || !sd_id_eq(&m.root, &t->root) || len != t->enc.len ||
	    memcmp(enc, t->enc.p, len)) {
		free(enc);
		sd_manifest_free(&m);
		return setup_fail("the hand encoder disagrees with syncd's");
	}
	free(enc);
	sd_manifest_free(&m);
	return 0;
}

/* Offer the benign tree and expect the node to want both chunks. */
static int benign_offer(struct evil *ev, struct benign *t)
{
	struct tp_msg rep;

	if (offer(ev, "SYNC_OFFER", &t->enc, &rep) < 0 ||
	    rep.type != TP_SYNC_WANT)
		return setup_fail("the node refused a well-formed offer");
	if (rep.want.total != 2)
		return setup_fail("the node does not want exactly the 2 new "
				  "chunks");
	return 0;
}

/* ---- the cases ---- */

/* A snapshot of puts (hostile), offered, then committed as claimed. */
static int hostile_snapshot(struct evil *ev, const struct hent *puts, size_t n)
{
	struct hdelta hd = { .version = ev->version + 1,
			     .put = puts,
			     .nput = n };
	struct sd_manifest empty;
	struct buf b = { 0 };
	struct tp_msg rep;

	sd_manifest_init(&empty);
	hd.base_root = empty.root;
	root_of(puts, n, &hd.root);
	enc_delta(&b, &hd);
	offer(ev, "SYNC_OFFER", &b, &rep);
	commit(ev, "SYNC_COMMIT", &hd.root);
	free(b.p);
	return 0;
}

#define DIR_ENT(p)                                                   \
	{                                                            \
		.path = (p), .len = sizeof(p) - 1, .type = SD_T_DIR, \
		.mode = 0755, .mtime = MTIME                         \
	}
#define FILE_ENT(p, l)                                                    \
	{                                                                 \
		.path = (p), .len = (l), .type = SD_T_FILE, .mode = 0644, \
		.mtime = MTIME                                            \
	}

static int case_paths(struct evil *ev, const char *name, const char *arg)
{
	static const char nul[] = "evil-dir/a\0b";
	char longname[9 + 256 + 1];

	memcpy(longname, "evil-dir/", 9);
	memset(longname + 9, 'n', 256);
	longname[9 + 256] = '\0';

	if (!strcmp(name, "dotdot")) {
		static const char p[] = "evil-dir/../../sync-evil-escape";
		struct hent e[] = { DIR_ENT("evil-dir"),
				    FILE_ENT(p, sizeof(p) - 1) };

		return hostile_snapshot(ev, e, 2);
	}
	if (!strcmp(name, "absolute")) {
		const char *p = arg ? arg : "/tmp/sync-evil-abs";
		struct hent e[] = { FILE_ENT(p, strlen(p)) };

		return hostile_snapshot(ev, e, 1);
	}
	if (!strcmp(name, "empty-name")) {
		static const char p[] = "evil-dir//x";
		struct hent e[] = { DIR_ENT("evil-dir"),
				    FILE_ENT(p, sizeof(p) - 1) };

		return hostile_snapshot(ev, e, 2);
	}
	if (!strcmp(name, "nul")) {
		struct hent e[] = { DIR_ENT("evil-dir"),
				    FILE_ENT(nul, sizeof(nul) - 1) };

		return hostile_snapshot(ev, e, 2);
	}
	if (!strcmp(name, "long-name")) {
		struct hent e[] = { DIR_ENT("evil-dir"),
				    FILE_ENT(longname, strlen(longname)) };

		return hostile_snapshot(ev, e, 2);
	}
	if (!strcmp(name, "duplicate")) {
		static const char p[] = "evil-dir/twice";
		struct hent e[] = { DIR_ENT("evil-dir"),
				    FILE_ENT(p, sizeof(p) - 1),
				    FILE_ENT(p, sizeof(p) - 1) };

		return hostile_snapshot(ev, e, 3);
	}
	if (!strcmp(name, "no-parent")) {
		static const char p[] = "no-such-dir/orphan";
		struct hent e[] = { FILE_ENT(p, sizeof(p) - 1) };

		return hostile_snapshot(ev, e, 1);
	}
	if (!strcmp(name, "through-symlink")) {
		static const char p[] = "evil-link/pwned";
		const char *t = arg ? arg : "/tmp";
		struct hent e[] = { { .path = "evil-link",
				      .len = 9,
				      .type = SD_T_SYMLINK,
				      .mode = 0777,
				      .mtime = MTIME,
				      .size = strlen(t),
				      .target = t,
				      .tlen = strlen(t) },
				    FILE_ENT(p, sizeof(p) - 1) };

		return hostile_snapshot(ev, e, 2);
	}
	if (!strcmp(name, "hardlink-dotdot") ||
	    !strcmp(name, "hardlink-missing")) {
		bool dd = !strcmp(name, "hardlink-dotdot");
		const char *t = dd ? "../../sync-evil-escape" : "no-such-file";
		struct hent e[] = { { .path = "evil-link",
				      .len = 9,
				      .type = SD_T_HARDLINK,
				      .target = t,
				      .tlen = strlen(t) } };

		return hostile_snapshot(ev, e, 1);
	}
	return -1;
}

static int case_del_dotdot(struct evil *ev)
{
	struct hent del[] = { { .path = "../x", .len = 4 } };
	struct hdelta hd = { .base_version = ev->version,
			     .base_root = ev->root,
			     .version = ev->version + 1,
			     .root = ev->root,
			     .del = del,
			     .ndel = 1 };
	struct buf b = { 0 };
	struct tp_msg rep;

	enc_delta(&b, &hd);
	offer(ev, "SYNC_OFFER", &b, &rep);
	commit(ev, "SYNC_COMMIT", &hd.root);
	free(b.p);
	return 0;
}

static int case_root_offer(struct evil *ev, struct benign *t)
{
	struct hdelta hd = { .version = ev->version + 1,
			     .root = t->root,
			     .put = t->e,
			     .nput = 2 };
	struct sd_manifest empty;
	struct buf b = { 0 };
	struct tp_msg rep;

	sd_manifest_init(&empty);
	hd.base_root = empty.root;
	hd.root.b[0] ^= 1;
	enc_delta(&b, &hd);
	offer(ev, "SYNC_OFFER", &b, &rep);
	commit(ev, "SYNC_COMMIT", &hd.root);
	free(b.p);
	return 0;
}

static int case_chunks(struct evil *ev, struct benign *t, const char *name)
{
	struct sd_pack_writer w;
	struct tp_msg rep;
	int r;

	if ((r = benign_offer(ev, t)) != 0)
		return r;
	sd_pack_writer_init(&w, TP_BULK_MAX);
	if (!strcmp(name, "early-commit")) {
		commit(ev, "SYNC_COMMIT", &t->root);
	} else if (!strcmp(name, "bad-chunk")) {
		/* Chunk a intact, chunk b's id over other bytes: neither may
		 * be stored, so the commit still misses both. */
		uint8_t bad[CHUNK_B];

		memcpy(bad, t->b, sizeof(bad));
		bad[CHUNK_B / 2] ^= 0x40;
		if (sd_pack_append(&w, &t->ck[0].id, SD_Z_RAW, CHUNK_A, t->a,
				   CHUNK_A) < 0 ||
		    sd_pack_append(&w, &t->ck[1].id, SD_Z_RAW, CHUNK_B, bad,
				   CHUNK_B) < 0)
			r = setup_fail("building the pack");
		if (r == 0) {
			put(ev, "SYNC_PUT", &w, &rep);
			commit(ev, "SYNC_COMMIT", &t->root);
		}
	} else { /* root-commit */
		struct sd_id other = t->root;

		other.b[SD_ID_SIZE - 1] ^= 1;
		if (sd_pack_append(&w, &t->ck[0].id, SD_Z_RAW, CHUNK_A, t->a,
				   CHUNK_A) < 0 ||
		    sd_pack_append(&w, &t->ck[1].id, SD_Z_RAW, CHUNK_B, t->b,
				   CHUNK_B) < 0)
			r = setup_fail("building the pack");
		if (r == 0 && (put(ev, NULL, &w, &rep) < 0 ||
			       rep.type != TP_OK || rep.ok != 2))
			r = setup_fail("the node refused 2 good chunks");
		if (r == 0)
			commit(ev, "SYNC_COMMIT", &other);
	}
	sd_pack_writer_fini(&w);
	return r;
}

static int case_order(struct evil *ev, struct benign *t, const char *name)
{
	size_t len = t->enc.len, half = len / 2;
	struct tp_msg rep;

	if (!strcmp(name, "offer-start")) {
		offer_piece(ev, "SYNC_OFFER", t->enc.p, len, 10, len - 10,
			    &rep);
	} else {
		if (offer_piece(ev, NULL, t->enc.p, len, 0, half, &rep) < 0 ||
		    rep.type != TP_OK)
			return setup_fail("the node refused a first piece");
		offer_piece(ev, "SYNC_OFFER", t->enc.p, len, half + 1,
			    len - half - 1, &rep);
	}
	commit(ev, "SYNC_COMMIT", &t->root);
	return 0;
}

/* One page of a definition of the pending file (size CHUNK_A + CHUNK_B):
 * n refs from ck, as chunks index.. of total. */
static int define(struct evil *ev, const char *step, const char *path,
		  const struct sd_chunkref *ck, uint32_t total, uint32_t index,
		  uint32_t n, struct tp_msg *rep)
{
	struct tp_msg req = { .type = TP_SYNC_DEFINE };
	uint8_t refs[2 * TP_DEFINE_REF];

	for (uint32_t i = 0; i < n; i++)
		tp_define_ref_put(refs, i, ck[i].id.b, ck[i].len);
	req.define = (struct tp_sync_define){
		.workspace = { (const uint8_t *)ev->ws,
			       (uint32_t)strlen(ev->ws) },
		.session = ev->session,
		.path = { (const uint8_t *)path, (uint32_t)strlen(path) },
		.size = CHUNK_A + CHUNK_B,
		.mtime_ns = MTIME,
		.total = total,
		.index = index,
		.count = n,
		.refs = refs,
	};
	return call(ev, step, &req, rep);
}

static int case_define_pages(struct evil *ev, struct benign *t, const char *arg)
{
	static const char path[] = "pending-file";
	const struct hent e = { .path = path,
				.len = sizeof(path) - 1,
				.type = SD_T_PENDING,
				.mode = 0644,
				.mtime = MTIME,
				.size = CHUNK_A + CHUNK_B };
	struct hdelta hd = { .version = ev->version + 1, .put = &e, .nput = 1 };
	struct tp_msg req = { .type = TP_SYNC_COMMIT }, rep;
	struct sd_chunkref wrong[2] = { t->ck[0], t->ck[0] };
	struct sd_pack_writer w;
	struct sd_manifest empty;
	struct sd_zctx z = { 0 };
	struct buf b = { 0 };
	int secs = arg ? atoi(arg) : 30, r;

	sd_manifest_init(&empty);
	hd.base_root = empty.root;
	root_of(&e, 1, &hd.root);
	enc_delta(&b, &hd);
	r = offer(ev, "SYNC_OFFER", &b, &rep);
	free(b.p);
	if (r < 0)
		return setup_fail("the node refused the pending file's offer");
	req.commit.session = ev->session;
	req.commit.version = ev->version + 1;
	memcpy(req.commit.root, hd.root.b, SD_ID_SIZE);
	req.commit.flags = TP_COMMIT_F_LAZY;
	if (call(ev, "SYNC_COMMIT", &req, &rep) < 0)
		return setup_fail("the node refused the lazy commit");
	/* The source's side: wait for the ask. */
	req = (struct tp_msg){ .type = TP_SYNC_SERVE };
	req.serve.workspace = (struct tp_bytes){ (const uint8_t *)ev->ws,
						 (uint32_t)strlen(ev->ws) };
	req.serve.session = ev->session;
	req.serve.wait_ms = 1000;
	for (r = 0; secs-- > 0; r = 0) {
		r = call(ev, NULL, &req, &rep);
		if (r < 0 || rep.type == TP_SYNC_ASK)
			break;
	}
	if (r < 0 || rep.type != TP_SYNC_ASK)
		return setup_fail("no SYNC_ASK came");
	printf("SYNC_SERVE: SYNC_ASK %.*s size=%" PRIu64 "\n",
	       (int)rep.ask.path.len, rep.ask.path.ptr, rep.ask.size);
	/* Out of order, then a list that sums wrong, then the right one. */
	define(ev, "page 1 first", path, t->ck + 1, 2, 1, 1, &rep);
	define(ev, "wrong page 0", path, wrong, 2, 0, 1, &rep);
	define(ev, "wrong page 1", path, wrong + 1, 2, 1, 1, &rep);
	if (define(ev, "page 0", path, t->ck, 2, 0, 1, &rep) < 0 ||
	    define(ev, "page 1", path, t->ck + 1, 2, 1, 1, &rep) < 0)
		return setup_fail("the node refused the right definition");
	/* The chunks, as a SYNC_FILL. */
	sd_pack_writer_init(&w, TP_BULK_MAX);
	r = sd_zctx_init(&z);
	if (r == 0)
		r = sd_pack_add(&w, &z, 1, t->a, CHUNK_A, NULL);
	if (r == 0)
		r = sd_pack_add(&w, &z, 1, t->b, CHUNK_B, NULL);
	if (r == 0) {
		req = (struct tp_msg){ .type = TP_SYNC_FILL };
		req.fill.workspace =
			(struct tp_bytes){ (const uint8_t *)ev->ws,
					   (uint32_t)strlen(ev->ws) };
		req.fill.pack = (struct tp_bytes){ w.buf, (uint32_t)w.len };
		r = call(ev, "SYNC_FILL", &req, &rep);
	}
	sd_pack_writer_fini(&w);
	sd_zctx_fini(&z);
	return r < 0 ? setup_fail("the fill failed") : 0;
}

static const char *const cases[] = {
	"valid",
	"dotdot",
	"absolute",
	"empty-name",
	"nul",
	"long-name",
	"duplicate",
	"no-parent",
	"through-symlink",
	"hardlink-dotdot",
	"hardlink-missing",
	"del-dotdot",
	"root-offer",
	"bad-chunk",
	"root-commit",
	"early-commit",
	"offer-order",
	"offer-start",
	"define-pages",
};

int main(int argc, char **argv)
{
	struct evil ev = { 0 };
	struct benign t = { 0 };
	const char *name, *arg;
	bool known = false;
	int r;

	if (argc < 4 || argc > 5) {
		fputs(usage, stderr);
		return 2;
	}
	name = argv[3];
	arg = argc == 5 ? argv[4] : NULL;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		known |= !strcmp(cases[i], name);
	if (!known) {
		fprintf(stderr, "sync-evil: unknown case %s\n%s", name, usage);
		return 2;
	}
	ev.ws = argv[2];
	ev.session = random_u64() | 1;
	r = tp_link_open(argv[1], &ev.link);
	if (r == 0)
		r = tp_chan_open(ev.link, &ev.c);
	if (r < 0) {
		fprintf(stderr, "sync-evil: %s: %s\n", argv[1], strerror(-r));
		tp_link_close(ev.link);
		return 1;
	}
	r = begin(&ev);
	if (r == 0)
		r = benign_init(&ev, &t);
	if (r != 0)
		goto out;
	if (!strcmp(name, "valid"))
		r = benign_offer(&ev, &t);
	else if (!strcmp(name, "del-dotdot"))
		r = case_del_dotdot(&ev);
	else if (!strcmp(name, "root-offer"))
		r = case_root_offer(&ev, &t);
	else if (!strcmp(name, "bad-chunk") || !strcmp(name, "root-commit") ||
		 !strcmp(name, "early-commit"))
		r = case_chunks(&ev, &t, name);
	else if (!strncmp(name, "offer-", 6))
		r = case_order(&ev, &t, name);
	else if (!strcmp(name, "define-pages"))
		r = case_define_pages(&ev, &t, arg);
	else
		r = case_paths(&ev, name, arg);
out:
	free(t.enc.p);
	tp_chan_close(ev.c);
	tp_link_close(ev.link);
	return r == 0 ? 0 : 1;
}
