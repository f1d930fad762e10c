/* SPDX-License-Identifier: MIT */
/* Unit tests for the chunk store's garbage collection under crashes and
 * concurrency: a GC killed at each failpoint and at random instants leaves
 * a store that opens with every live chunk, and puts and reads from other
 * threads during a GC all succeed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "pack.h"
#include "store.h"
#include "store_fixture.h"

/* The child of the crash tests: GC the layout in argv[2], with whatever
 * TETHER_FAILPOINT says. */
static int gc_child(const char *dir)
{
	struct sd_store *s = NULL;
	struct sd_err why = { "" };
	struct judge j;
	int r;

	judge_init(&j);
	r = sd_store_open_opts(dir, &l_opts, &s, &why);
	if (r == 0)
		r = sd_store_gc(s, judge_live, &j, NULL, &why);
	if (r < 0)
		fprintf(stderr, "gc child: %s\n", why.what);
	sd_store_close(s);
	free(j.k);
	return r < 0 ? 2 : 0;
}

/* After a crash at any point of a GC, the store opens, holds every live
 * chunk, keeps no pack its index does not reference, and a second GC
 * finishes the job. */
static void crash_check(const char *dir)
{
	struct sd_store_gc_stats gst;
	struct sd_store *s = NULL;
	struct judge j;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &s, NULL), 0);
	layout_check(s, dir, false);
	judge_init(&j);
	assert_int_equal(gc_ok(s, &j, &gst), 0);
	layout_check(s, dir, true);
	sd_store_close(s);
	s = open_ok(dir);
	layout_check(s, dir, true);
	sd_store_close(s);
	free(j.k);
}

static void test_gc_crash_failpoints(void **state)
{
	static const char *const fps[] = {
		"store-gc-dead-unlinked", "store-gc-copying",
		"store-gc-packs-synced",  "store-gc-index-written",
		"store-gc-committed",	  "store-gc-source-unlinked",
	};

	for (size_t f = 0; f < sizeof(fps) / sizeof(fps[0]); f++) {
		char *dir = layout_new();
		int status;
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			char *argv[] = { "test-store-gc-crash", "gc-child", dir,
					 NULL };

			setenv("TETHER_FAILPOINT", fps[f], 1);
			execv("/proc/self/exe", argv);
			_exit(127);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("failpoint %s: the GC did not reach it "
				 "(status %#x)",
				 fps[f], status);
		crash_check(dir);
		rmtree(dir);
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A GC in a child, killed after delay_s (or let finish when negative).
 * Returns whether it was killed. */
static bool gc_killed_after(const char *dir, double delay_s)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(gc_child(dir));
	if (delay_s >= 0) {
		struct timespec ts = {
			.tv_sec = (time_t)delay_s,
			.tv_nsec = (long)((delay_s - (double)(time_t)delay_s) *
					  1e9),
		};

		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFEXITED(status))
		assert_int_equal(WEXITSTATUS(status), 0);
	return WIFSIGNALED(status);
}

/* SIGKILL at random instants of a GC (spread over the time one takes). */
static void test_gc_crash_random(void **state)
{
	char *dir = layout_new();
	unsigned int seed = (unsigned int)time(NULL);
	double t0 = now_s(), took;
	int killed = 0;

	assert_false(gc_killed_after(dir, -1));
	took = now_s() - t0;
	rmtree(dir);
	print_message("gc in a child: %.1f ms; random seed %u\n", took * 1e3,
		      seed);
	srand(seed);
	for (int i = 0; i < 24; i++) {
		double d = took * ((double)rand() / RAND_MAX);

		dir = layout_new();
		killed += gc_killed_after(dir, d);
		crash_check(dir);
		rmtree(dir);
	}
	print_message("%d of 24 killed mid-way\n", killed);
}

/* Puts, gets and get_stored from other threads while a GC runs: every
 * read is right (chunks that move included), and no chunk put during the
 * GC is lost, including dead ones put again. */
#define C_WRITERS 2
#define C_READERS 2

struct crowd {
	struct sd_store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool go, done;
	uint32_t during; /* batches put while the GC ran */
	int gc_again;	 /* a second GC started from live(): -EBUSY */
	bool has_ok;	 /* sd_store_has() works from live() */
};

struct crowd_worker {
	struct crowd *c;
	uint32_t no;
	uint32_t *seeds; /* put: all must be held at the end */
	size_t nseeds;
	uint64_t reads;
	int err;
	char what[300];
};

static void crowd_wait(struct crowd *c)
{
	pthread_mutex_lock(&c->mu);
	while (!c->go)
		pthread_cond_wait(&c->cv, &c->mu);
	pthread_mutex_unlock(&c->mu);
}

static bool crowd_done(struct crowd *c)
{
	bool d;

	pthread_mutex_lock(&c->mu);
	d = c->done;
	pthread_mutex_unlock(&c->mu);
	return d;
}

static void crowd_first(struct judge *j)
{
	struct crowd *c = j->user;
	struct sd_id id = seed_id(L_SEED + 20, L_LEN);

	c->gc_again = sd_store_gc(c->s, judge_live, j, NULL, NULL);
	c->has_ok = sd_store_has(c->s, &id);
	pthread_mutex_lock(&c->mu);
	c->go = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* New chunks, and the dead chunks of pack 0 and 4 put again. */
static void *crowd_writer(void *arg)
{
	struct crowd_worker *wk = arg;
	struct sd_pack_writer w;
	struct sd_zctx zc;
	struct sd_err why;
	uint8_t *buf = malloc(L_LEN);
	ssize_t r;

	wk->seeds = calloc(4096, sizeof(*wk->seeds));
	if (!buf || !wk->seeds || sd_zctx_init(&zc) < 0) {
		wk->err = -ENOMEM;
		return NULL;
	}
	sd_pack_writer_init(&w, SD_STORE_BATCH_MAX);
	crowd_wait(wk->c);
	for (uint32_t b = 0; b < 200 && !wk->err; b++) {
		for (uint32_t i = 0; i < 4; i++) {
			uint32_t seed = 20000 + wk->no * 10000 + b * 4 + i;

			if (i == 0 && b < 10)
				seed = L_SEED + (wk->no ? 40 : 0) + b;
			make_chunk(buf, L_LEN, seed, false);
			if (sd_pack_add(&w, &zc, 1, buf, L_LEN, NULL) < 0)
				wk->err = -EINVAL;
			wk->seeds[wk->nseeds++] = seed;
		}
		r = sd_store_put_batch(wk->c->s, w.buf, w.len, &why);
		if (r < 0) {
			wk->err = (int)r;
			snprintf(wk->what, sizeof(wk->what), "%s", why.what);
		}
		sd_pack_writer_reset(&w);
		pthread_mutex_lock(&wk->c->mu);
		wk->c->during += !wk->c->done && r > 0;
		pthread_mutex_unlock(&wk->c->mu);
		if (crowd_done(wk->c) && b >= 10)
			break;
	}
	sd_pack_writer_fini(&w);
	sd_zctx_fini(&zc);
	free(buf);
	return NULL;
}

/* Read every live chunk of the layout, over and over, until the GC ends. */
static void *crowd_reader(void *arg)
{
	struct crowd_worker *wk = arg;
	uint8_t *want = malloc(L_LEN), *got = malloc(SD_PACK_REC_MAX);
	struct sd_err why;
	size_t raw_len;
	ssize_t n;

	if (!want || !got) {
		wk->err = -ENOMEM;
		return NULL;
	}
	crowd_wait(wk->c);
	do {
		for (uint32_t i = 0; i < L_N && !wk->err; i++) {
			struct sd_id id;

			if (!layout_live(i))
				continue;
			make_chunk(want, L_LEN, L_SEED + i, false);
			sd_id_of(&id, want, L_LEN);
			if (wk->no % 2 == 0) {
				if (sd_store_get(wk->c->s, &id, got, L_LEN,
						 &raw_len, &why) != 0 ||
				    raw_len != L_LEN ||
				    memcmp(got, want, L_LEN) != 0)
					wk->err = -EIO;
			} else {
				n = sd_store_get_stored(wk->c->s, &id, got,
							SD_PACK_REC_MAX, &why);
				if (n != L_REC || memcmp(got + SD_PACK_HDR_SIZE,
							 want, L_LEN) != 0)
					wk->err = -EIO;
			}
			if (wk->err)
				snprintf(wk->what, sizeof(wk->what),
					 "chunk %u: %s", i, why.what);
			wk->reads++;
		}
	} while (!wk->err && !crowd_done(wk->c));
	free(want);
	free(got);
	return NULL;
}

static void test_gc_concurrent(void **state)
{
	char *dir = layout_new();
	struct crowd c = { .mu = PTHREAD_MUTEX_INITIALIZER,
			   .cv = PTHREAD_COND_INITIALIZER };
	struct crowd_worker wk[C_WRITERS + C_READERS];
	pthread_t th[C_WRITERS + C_READERS];
	struct sd_store_gc_stats gst;
	struct sd_store_stats st;
	struct judge j;
	uint64_t reads = 0;

	assert_int_equal(sd_store_open_opts(dir, &l_opts, &c.s, NULL), 0);
	judge_init(&j);
	j.first = crowd_first;
	j.user = &c;
	j.delay_us = 2000; /* ~120 ms of judging, with puts arriving */
	for (uint32_t i = 0; i < C_WRITERS + C_READERS; i++) {
		wk[i] = (struct crowd_worker){ .c = &c, .no = i % 2 };
		assert_int_equal(pthread_create(&th[i], NULL,
						i < C_WRITERS ? crowd_writer
							      : crowd_reader,
						&wk[i]),
				 0);
	}
	assert_int_equal(gc_ok(c.s, &j, &gst), 0);
	pthread_mutex_lock(&c.mu);
	c.done = true;
	c.go = true; /* should live() never have run */
	pthread_cond_broadcast(&c.cv);
	pthread_mutex_unlock(&c.mu);
	for (uint32_t i = 0; i < C_WRITERS + C_READERS; i++) {
		pthread_join(th[i], NULL);
		if (wk[i].err)
			fail_msg("worker %u: %d: %s", i, wk[i].err, wk[i].what);
		reads += wk[i].reads;
	}
	assert_int_equal(c.gc_again, -EBUSY);
	assert_true(c.has_ok);
	/* Chunks put during the GC are never judged. */
	assert_int_equal(j.unknown, 0);
	assert_true(reads > 0);
	assert_true(c.during > 0);
	print_message("%u batches put and %llu reads during the GC\n", c.during,
		      (unsigned long long)reads);
	assert_true(gst.packs_deleted + gst.packs_rewritten > 0);

	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < L_N; i++)
			if (layout_live(i))
				check_get(c.s, L_SEED + i, L_LEN, false);
		for (uint32_t w = 0; w < C_WRITERS; w++)
			for (size_t i = 0; i < wk[w].nseeds; i++)
				check_get(c.s, wk[w].seeds[i], L_LEN, false);
		sd_store_stats(c.s, &st);
		assert_int_equal(st.index_dropped, 0);
		sd_store_close(c.s);
		c.s = open_ok(dir);
	}
	sd_store_close(c.s);
	for (uint32_t w = 0; w < C_WRITERS; w++)
		free(wk[w].seeds);
	free(j.k);
	rmtree(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gc_crash_failpoints),
		cmocka_unit_test(test_gc_crash_random),
		cmocka_unit_test(test_gc_concurrent),
	};

	/* The GC crash tests run this binary as the process to kill. */
	if (argc == 3 && strcmp(argv[1], "gc-child") == 0) {
		int r = store_setup(NULL) < 0 ? 2 : gc_child(argv[2]);

		store_teardown(NULL);
		return r;
	}
	return cmocka_run_group_tests(tests, store_setup, store_teardown);
}
