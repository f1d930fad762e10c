/* SPDX-License-Identifier: MIT */
/* The chunk store suites' fixture (store_fixture.h). */
#include "store_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static struct sd_zctx z;

/* Chunk seed's bytes: text-like (compresses) or random (does not). */
void make_chunk(uint8_t *p, size_t n, uint32_t seed, bool text)
{
	uint64_t x = (uint64_t)seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = text ? (uint8_t)("abcdefgh \n"[x % 10]) : (uint8_t)x;
	}
	if (text && n >= 4)
		memcpy(p, &seed, 4);
}

/* A pack of chunks seeds[0..n), each len bytes. */
void build(struct sd_pack_writer *w, const uint32_t *seeds, size_t n,
	   size_t len, bool text, struct sd_id *ids)
{
	uint8_t *buf = malloc(len ? len : 1);

	assert_non_null(buf);
	sd_pack_writer_init(w, SD_STORE_BATCH_MAX);
	for (size_t i = 0; i < n; i++) {
		make_chunk(buf, len, seeds[i], text);
		assert_int_equal(sd_pack_add(w, &z, 1, buf, len,
					     ids ? &ids[i] : NULL),
				 0);
	}
	free(buf);
}

void check_get(struct sd_store *s, uint32_t seed, size_t len, bool text)
{
	uint8_t *want = malloc(len ? len : 1), *got = malloc(SD_CHUNK_MAX);
	struct sd_err why = { "" };
	struct sd_id id;
	size_t raw_len = 0;

	make_chunk(want, len, seed, text);
	sd_id_of(&id, want, len);
	assert_true(sd_store_has(s, &id));
	if (sd_store_get(s, &id, got, SD_CHUNK_MAX, &raw_len, &why) != 0)
		fail_msg("get of chunk %u: %s", seed, why.what);
	assert_int_equal(raw_len, len);
	assert_memory_equal(got, want, len);
	free(want);
	free(got);
}

char *tmpdir(void)
{
	char *d = strdup("/tmp/tether-store-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *f)
{
	return remove(p);
}

void rmtree(char *d)
{
	nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(d);
}

char *path(const char *dir, const char *rel)
{
	static char p[4096];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return p;
}

off_t fsize(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_size;
}

struct sd_store *open_ok(const char *dir)
{
	struct sd_store *s = NULL;
	struct sd_err why = { "" };

	if (sd_store_open(dir, &s, &why) != 0)
		fail_msg("open %s: %s", dir, why.what);
	return s;
}

ssize_t put(struct sd_store *s, const struct sd_pack_writer *w)
{
	struct sd_err why = { "" };
	ssize_t r = sd_store_put_batch(s, w->buf, w->len, &why);

	if (r < 0 && r != -ENOSPC)
		fail_msg("put: %s", why.what);
	return r;
}

int store_setup(void **state)
{
	return sd_zctx_init(&z);
}

int store_teardown(void **state)
{
	sd_zctx_fini(&z);
	return 0;
}

void flip_byte(const char *p, off_t off)
{
	uint8_t c;
	int fd = open(p, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x10;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

int mount_tmpfs(char *dir, const char *size)
{
	char opt[64];

	snprintf(opt, sizeof(opt), "size=%s", size);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, opt) < 0) {
		print_message("skipping: cannot mount a tmpfs in a private "
			      "mount namespace: %s\n",
			      strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- garbage collection ---- */

const struct sd_store_opts l_opts = { .pack_roll = L_ROLL };

bool layout_live(uint32_t i)
{
	switch (i / 10) {
	case 0:
	case 4: return false;
	case 1: return i % 5 == 0;
	case 2: return true;
	case 3: return i % 10 < 7;
	default: return i % 10 < 3;
	}
}

int known_cmp(const void *a, const void *b)
{
	return sd_id_cmp(&((const struct known *)a)->id,
			 &((const struct known *)b)->id);
}

struct sd_id seed_id(uint32_t seed, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct sd_id id;

	assert_non_null(buf);
	make_chunk(buf, len, seed, false);
	sd_id_of(&id, buf, len);
	free(buf);
	return id;
}

void judge_init(struct judge *j)
{
	*j = (struct judge){ .k = calloc(L_N, sizeof(*j->k)), .n = L_N };
	assert_non_null(j->k);
	for (uint32_t i = 0; i < L_N; i++)
		j->k[i] = (struct known){ .id = seed_id(L_SEED + i, L_LEN),
					  .seed = L_SEED + i,
					  .live = layout_live(i) };
	qsort(j->k, j->n, sizeof(*j->k), known_cmp);
}

static struct known *judge_find(struct judge *j, const struct sd_id *id)
{
	struct known key = { .id = *id };

	return bsearch(&key, j->k, j->n, sizeof(*j->k), known_cmp);
}

bool judge_live(void *opaque, const struct sd_id *id)
{
	struct judge *j = opaque;
	struct known *k = judge_find(j, id);

	if (!j->started) {
		j->started = true;
		if (j->first)
			j->first(j);
	}
	if (j->delay_us)
		usleep(j->delay_us);
	if (!k) {
		j->unknown++;
		return false;
	}
	k->calls++;
	return k->live;
}

void layout_put(struct sd_store *s)
{
	struct sd_pack_writer w;
	uint32_t seeds[10];

	for (uint32_t p = 0; p < L_N / 10; p++) {
		for (uint32_t i = 0; i < 10; i++)
			seeds[i] = L_SEED + p * 10 + i;
		build(&w, seeds, 10, L_LEN, false, NULL);
		assert_int_equal(put(s, &w), 10);
		sd_pack_writer_fini(&w);
	}
}

char *layout_new(void)
{
	char *dir = tmpdir();
	struct sd_store *s = NULL;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	layout_put(s);
	sd_store_close(s);
	return dir;
}

/* The pack files in dir/packs: how many, and their bytes. */
uint32_t disk_packs(const char *dir, uint64_t *bytes)
{
	char p[4096];
	struct dirent *de;
	struct stat st;
	uint32_t n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/packs", dir);
	d = opendir(p);
	assert_non_null(d);
	*bytes = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, ".pack"))
			continue;
		snprintf(p, sizeof(p), "%s/packs/%s", dir, de->d_name);
		assert_int_equal(stat(p, &st), 0);
		*bytes += (uint64_t)st.st_size;
		n++;
	}
	closedir(d);
	return n;
}

/* The store s on dir holds every live chunk of the layout, verified, and
 * only pack files its index references. With exact, nothing else of the
 * layout either; without (after a crash), a dead chunk still held must
 * read back right. */
void layout_check(struct sd_store *s, const char *dir, bool exact)
{
	struct sd_store_stats st;
	uint64_t bytes;

	for (uint32_t i = 0; i < L_N; i++) {
		struct sd_id id = seed_id(L_SEED + i, L_LEN);

		if (layout_live(i) || sd_store_has(s, &id))
			check_get(s, L_SEED + i, L_LEN, false);
		else if (!layout_live(i) && exact)
			assert_false(sd_store_has(s, &id));
	}
	sd_store_stats(s, &st);
	assert_int_equal(st.index_dropped, 0);
	if (exact)
		assert_int_equal(st.chunks, L_LIVE);
	assert_int_equal(disk_packs(dir, &bytes), st.packs);
	assert_int_equal(bytes, st.pack_bytes);
	assert_int_equal(access(path(dir, "index.new"), F_OK), -1);
}

int gc_ok(struct sd_store *s, struct judge *j, struct sd_store_gc_stats *st)
{
	struct sd_err why = { "" };
	int r = sd_store_gc(s, judge_live, j, st, &why);

	if (r < 0 && r != -ENOSPC)
		fail_msg("gc: %s", why.what);
	return r;
}
