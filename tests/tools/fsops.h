/* SPDX-License-Identifier: MIT */
/* fsops: what its files share: message and I/O helpers (fsops_util.c) and
 * the entry points of the posix and random commands. Single-threaded. */
#ifndef TETHER_FSOPS_H
#define TETHER_FSOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FSOPS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The most STEPS (and --check-every N) that random accepts. */
#define FSOPS_STEPS_MAX 100000000ull

/* ---- fsops_util.c ---- */

/* Prints "fsops: MESSAGE" to stderr and exits with status 2: for a
 * directory that cannot be used, or out of memory. */
__attribute__((format(printf, 1, 2), noreturn)) void fsops_die(const char *fmt,
							       ...);

/* n bytes of p with every byte visible (others as \xHH), for messages.
 * Returns a static buffer that stays valid for the next three calls of
 * fsops_shown_n or fsops_shown, so that four may appear in one message;
 * the result is cut at about 1,200 characters. */
const char *fsops_shown_n(const void *p, size_t n);

/* fsops_shown_n of the string p, without its NUL. */
const char *fsops_shown(const char *p);

/* "ENOENT (No such file or directory)", or "errno N (...)" for a code
 * without a name here. Returns a static buffer valid for the next three
 * calls. */
const char *fsops_err_name(int e);

/* Writes all n bytes of p to fd, retrying short writes and EINTR.
 * Returns 0, or -1 with errno set (EIO when write returned 0). */
int fsops_write_all(int fd, const void *p, size_t n);

/* Reads up to n bytes at off into p, short only at the end of the file.
 * Returns the bytes read, or -1 with errno set. */
ssize_t fsops_pread_full(int fd, void *p, size_t n, off_t off);

/* ---- fsops_posix.c ---- */

/* The name of the k-th posix check, in the order they run; NULL when k is
 * past the last. Names are static. */
const char *fsops_posix_check_name(size_t k);

/* Runs the posix checks named in names[0, nnames) (every check when nnames
 * is 0; names that match no check select nothing) in a fresh
 * DIR/.fsops-posix-PID, printing "ok NAME" or "FAIL NAME: ..." for each to
 * stdout; removes that directory when all passed. Returns 0 when all
 * passed, 1 when any failed; exits with status 2 (fsops_die) when dir or
 * the work directory cannot be opened or made. names are borrowed. */
int fsops_posix_run(const char *dir, char *const *names, int nnames);

/* ---- fsops_random.c ---- */

/* Applies steps SEED-determined random operations to the trees dir_a and
 * dir_b, which must start identical, comparing each operation's outcome,
 * and both whole trees every `every` (>= 1) steps and at the end; prints
 * each step when verbose, then the first difference or a summary line, to
 * stdout. Returns 0 when the trees agreed throughout, 1 at the first
 * difference; exits with status 2 (fsops_die) when a directory cannot be
 * opened, both are the same directory, or memory runs out. */
int fsops_random_run(const char *dir_a, const char *dir_b, uint64_t seed,
		     uint64_t steps, uint64_t every, bool verbose);

#endif
