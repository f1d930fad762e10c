/* SPDX-License-Identifier: MIT */
/* fsops posix: POSIX behaviour checks through any directory, each in its
 * own subdirectory, and the table that names them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "fsops.h"

/* Non-zero bytes that differ with the offset and the seed, so that a hole,
 * a shifted or a stale block all show. */
static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(1 + (i * 131 + (i >> 9) + seed * 29) % 251);
}

/* Removes name below dfd and everything in it. */
static int rm_rf(int dfd, const char *name)
{
	DIR *d;
	struct dirent *de;
	int fd, rc = 0;

	if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -errno;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (geteuid() != 0)
		fchmod(fd, 0700);
	d = fdopendir(fd);
	if (!d) {
		rc = -errno;
		close(fd);
		return rc;
	}
	while (!rc && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rc = rm_rf(dirfd(d), de->d_name);
	closedir(d);
	if (!rc && unlinkat(dfd, name, AT_REMOVEDIR) < 0)
		rc = -errno;
	return rc;
}

#define CTX_FDS 16

struct ctx {
	int top;	      /* DIR */
	const char *top_path; /* DIR as given */
	int dir;	      /* this check's own directory in DIR */
	char msg[1024];	      /* the first failure */
	int fds[CTX_FDS];     /* closed when the check ends */
	size_t nfds;
	void *map; /* unmapped when the check ends */
	size_t map_len;
};

__attribute__((format(printf, 2, 3))) static int fail(struct ctx *c,
						      const char *fmt, ...)
{
	va_list ap;

	if (!c->msg[0]) {
		va_start(ap, fmt);
		vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
		va_end(ap);
	}
	return -1;
}

__attribute__((format(printf, 3, 4))) static int
fail_errno(struct ctx *c, int e, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return fail(c, "%s: expected success, got %s", what, fsops_err_name(e));
}

__attribute__((format(printf, 6, 7))) static int
fail_want(struct ctx *c, long r, int e, int e1, int e2, const char *fmt, ...)
{
	char what[512], want[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e1 == e2)
		snprintf(want, sizeof(want), "%s", fsops_err_name(e1));
	else
		snprintf(want, sizeof(want), "%s or %s", fsops_err_name(e1),
			 fsops_err_name(e2));
	if (r >= 0)
		return fail(c, "%s: expected %s, got success (%ld)", what, want,
			    r);
	return fail(c, "%s: expected %s, got %s", what, want,
		    fsops_err_name(e));
}

/* Inside a check (c in scope): fail unless cond holds; a call that must
 * succeed (returns >= 0); a call that must fail with e1 or e2. */
#define EXPECT(cond, ...)                            \
	do {                                         \
		if (!(cond))                         \
			return fail(c, __VA_ARGS__); \
	} while (0)
#define MUST(call, ...)                                           \
	do {                                                      \
		if ((call) < 0)                                   \
			return fail_errno(c, errno, __VA_ARGS__); \
	} while (0)
#define MUST_FAIL(call, e1, e2, ...)                                      \
	do {                                                              \
		long r_ = (long)(call);                                   \
		int e_ = errno;                                           \
		if (r_ >= 0 || (e_ != (e1) && e_ != (e2)))                \
			return fail_want(c, r_, e_, e1, e2, __VA_ARGS__); \
	} while (0)
/* A helper that has already said what failed. */
#define TRY(call)                  \
	do {                       \
		if ((call) < 0)    \
			return -1; \
	} while (0)

static int xopen(struct ctx *c, const char *path, int flags, mode_t mode)
{
	int fd = openat(c->dir, path, flags | O_CLOEXEC, mode);

	if (fd < 0)
		return fail_errno(c, errno, "open %s", path);
	if (c->nfds == CTX_FDS) {
		close(fd);
		return fail(c, "more than %d fds open (a bug in fsops)",
			    CTX_FDS);
	}
	c->fds[c->nfds++] = fd;
	return fd;
}

static void xclose(struct ctx *c, int fd)
{
	for (size_t i = 0; i < c->nfds; i++)
		if (c->fds[i] == fd) {
			c->fds[i] = c->fds[--c->nfds];
			break;
		}
	close(fd);
}

static int xstat(struct ctx *c, const char *path, struct stat *st)
{
	if (fstatat(c->dir, path, st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_errno(c, errno, "stat %s", path);
	return 0;
}

static int expect_gone(struct ctx *c, const char *path)
{
	struct stat st;

	MUST_FAIL(fstatat(c->dir, path, &st, AT_SYMLINK_NOFOLLOW), ENOENT,
		  ENOENT, "stat %s (the name should be gone)", path);
	return 0;
}

static int expect_bytes(struct ctx *c, const char *what, const uint8_t *got,
			size_t gotn, const uint8_t *want, size_t n)
{
	size_t i = 0;

	while (i < gotn && i < n && got[i] == want[i])
		i++;
	if (i == n && gotn == n)
		return 0;
	if (n <= 48 && gotn <= 48)
		return fail(c,
			    "%s: expected \"%s\" (%zu bytes), got \"%s\" "
			    "(%zu bytes)",
			    what, fsops_shown_n(want, n), n,
			    fsops_shown_n(got, gotn), gotn);
	if (i < gotn && i < n)
		return fail(c,
			    "%s: expected %zu bytes, byte %zu is 0x%02x "
			    "instead of 0x%02x",
			    what, n, i, got[i], want[i]);
	return fail(c, "%s: expected %zu bytes, got %zu (the first %zu agree)",
		    what, n, gotn, i);
}

/* fd holds exactly want[0, n) (read with pread from offset 0). */
static int expect_fd(struct ctx *c, int fd, const char *what, const void *want,
		     size_t n)
{
	uint8_t *got = malloc(n + 1);
	ssize_t k;
	int rc;

	if (!got)
		return fail(c, "out of memory");
	k = fsops_pread_full(fd, got, n + 1, 0);
	if (k < 0)
		rc = fail_errno(c, errno, "read %s", what);
	else
		rc = expect_bytes(c, what, got, (size_t)k, want, n);
	free(got);
	return rc;
}

static int expect_file(struct ctx *c, const char *path, const void *want,
		       size_t n)
{
	int fd = xopen(c, path, O_RDONLY, 0), rc;

	if (fd < 0)
		return -1;
	rc = expect_fd(c, fd, path, want, n);
	xclose(c, fd);
	return rc;
}

/* Creates or truncates path and writes p[0, n) to it. */
static int put_file(struct ctx *c, const char *path, const void *p, size_t n)
{
	int fd = xopen(c, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0)
		return -1;
	if (fsops_write_all(fd, p, n) < 0)
		return fail_errno(c, errno, "write %s", path);
	xclose(c, fd);
	return 0;
}

static int xpwrite(struct ctx *c, int fd, const void *p, size_t n, off_t off,
		   const char *what)
{
	ssize_t k = pwrite(fd, p, n, off);

	if (k < 0)
		return fail_errno(c, errno, "write %s", what);
	if ((size_t)k != n)
		return fail(c, "write %s: expected %zu bytes written, got %zd",
			    what, n, k);
	return 0;
}

static int expect_size(struct ctx *c, int fd, off_t size, const char *what)
{
	struct stat st;

	MUST(fstat(fd, &st), "fstat %s", what);
	EXPECT(st.st_size == size, "%s: expected size %jd, got %jd", what,
	       (intmax_t)size, (intmax_t)st.st_size);
	return 0;
}

/* ---- the checks ---- */

static int check_create(struct ctx *c)
{
	uint8_t data[5000];
	struct stat st;
	int fd;

	pattern(data, sizeof(data), 1);
	TRY(fd = xopen(c, "f", O_RDWR | O_CREAT | O_EXCL, 0640));
	MUST(fstat(fd, &st), "fstat f");
	EXPECT(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0640 &&
		       st.st_size == 0 && st.st_nlink == 1,
	       "new f: expected a regular file, mode 0640, size 0, 1 link, "
	       "got type 0%o mode 0%o size %jd links %ju",
	       (unsigned)(st.st_mode & S_IFMT), (unsigned)(st.st_mode & 07777),
	       (intmax_t)st.st_size, (uintmax_t)st.st_nlink);
	MUST(fsops_write_all(fd, data, sizeof(data)), "write f");
	TRY(expect_fd(c, fd, "f read through the fd that wrote it", data,
		      sizeof(data)));
	xclose(c, fd);
	TRY(expect_file(c, "f", data, sizeof(data)));
	MUST_FAIL(openat(c->dir, "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			 0600),
		  EEXIST, EEXIST, "open existing f with O_CREAT|O_EXCL");
	TRY(fd = xopen(c, "f", O_RDWR | O_CREAT, 0600));
	TRY(expect_fd(c, fd, "f after O_CREAT without O_TRUNC", data,
		      sizeof(data)));
	TRY(xstat(c, "f", &st));
	EXPECT((st.st_mode & 07777) == 0640,
	       "f: an open with O_CREAT changed the mode of the existing file "
	       "from 0640 to 0%o",
	       (unsigned)(st.st_mode & 07777));
	return 0;
}

static int check_append(struct ctx *c)
{
	char want[512], line[32];
	size_t n = 6;
	int a, b;

	memcpy(want, "start\n", n);
	TRY(put_file(c, "log", want, n));
	TRY(a = xopen(c, "log", O_WRONLY | O_APPEND, 0));
	TRY(b = xopen(c, "log", O_WRONLY | O_APPEND, 0));
	for (int i = 0; i < 10; i++) {
		size_t k = (size_t)snprintf(line, sizeof(line), "a%d\n", i);

		/* An O_APPEND write goes to the end wherever the offset is. */
		if (i == 5)
			MUST(lseek(a, 0, SEEK_SET), "lseek log");
		MUST(fsops_write_all(a, line, k), "write log (fd a)");
		memcpy(want + n, line, k);
		n += k;
		k = (size_t)snprintf(line, sizeof(line), "b%d-longer\n", i);
		MUST(fsops_write_all(b, line, k), "write log (fd b)");
		memcpy(want + n, line, k);
		n += k;
	}
	TRY(expect_file(c, "log", want, n));
	TRY(expect_size(c, a, (off_t)n, "log (fd a)"));
	return 0;
}

static int check_truncate(struct ctx *c)
{
	uint8_t data[1000], want[5000] = { 0 };
	int fd;

	pattern(data, sizeof(data), 2);
	TRY(put_file(c, "f", data, sizeof(data)));
	TRY(fd = xopen(c, "f", O_RDWR | O_TRUNC, 0));
	TRY(expect_size(c, fd, 0, "f after open with O_TRUNC"));
	TRY(expect_file(c, "f", NULL, 0));
	MUST(fsops_write_all(fd, data, 100), "write f");
	MUST(ftruncate(fd, 5000), "ftruncate f to 5000");
	memcpy(want, data, 100);
	TRY(expect_file(c, "f", want, 5000));
	MUST(ftruncate(fd, 10), "ftruncate f to 10");
	TRY(expect_file(c, "f", data, 10));
	/* Growing again: the cut bytes must not come back. */
	MUST(ftruncate(fd, 20), "ftruncate f to 20");
	memset(want + 10, 0, 90);
	TRY(expect_file(c, "f", want, 20));
	TRY(expect_size(c, fd, 20, "f"));
	return 0;
}

#define SPARSE_AT (8 << 20)

static int check_sparse(struct ctx *c)
{
	static uint8_t buf[1 << 16];
	static const char tail[] = "tail-bytes";
	off_t end = SPARSE_AT + (off_t)sizeof(tail);
	int fd;

	TRY(fd = xopen(c, "s", O_RDWR | O_CREAT | O_EXCL, 0644));
	TRY(xpwrite(c, fd, "head", 4, 0, "s at 0"));
	TRY(xpwrite(c, fd, tail, sizeof(tail), SPARSE_AT, "s at 8 MiB"));
	TRY(expect_size(c, fd, end, "s"));
	for (off_t off = 0; off < end;) {
		ssize_t k = fsops_pread_full(fd, buf, sizeof(buf), off);

		MUST(k, "read s at %jd", (intmax_t)off);
		EXPECT(k > 0, "read s at %jd: expected data up to %jd, got EOF",
		       (intmax_t)off, (intmax_t)end);
		for (ssize_t i = 0; i < k; i++) {
			off_t at = off + i;
			uint8_t want = at < 4 ? (uint8_t) "head"[at]
				       : at < SPARSE_AT
					       ? 0
					       : (uint8_t)tail[at - SPARSE_AT];

			EXPECT(buf[i] == want,
			       "s: byte %jd: expected 0x%02x, got 0x%02x",
			       (intmax_t)at, want, buf[i]);
		}
		off += k;
	}
	EXPECT(pread(fd, buf, 1, end) == 0,
	       "s: expected EOF reading at its size %jd", (intmax_t)end);

	/* Nothing but a hole. */
	TRY(fd = xopen(c, "h", O_RDWR | O_CREAT | O_EXCL, 0644));
	MUST(ftruncate(fd, 1 << 20), "ftruncate h to 1 MiB");
	for (off_t off = 0; off < (1 << 20); off += (off_t)sizeof(buf)) {
		ssize_t k = fsops_pread_full(fd, buf, sizeof(buf), off);

		EXPECT(k == (ssize_t)sizeof(buf),
		       "read h at %jd: expected %zu bytes, got %zd",
		       (intmax_t)off, sizeof(buf), k);
		for (size_t i = 0; i < sizeof(buf); i++)
			EXPECT(!buf[i], "h: byte %jd: expected 0, got 0x%02x",
			       (intmax_t)off + (intmax_t)i, buf[i]);
	}
	return 0;
}

static int check_unlink_open(struct ctx *c)
{
	struct stat st, st2;
	int fd, fd2;

	TRY(put_file(c, "f", "old", 3));
	TRY(fd = xopen(c, "f", O_RDWR, 0));
	MUST(unlinkat(c->dir, "f", 0), "unlink f");
	TRY(expect_gone(c, "f"));
	TRY(expect_fd(c, fd, "the unlinked f through its open fd", "old", 3));
	TRY(xpwrite(c, fd, "NEW", 3, 3, "the unlinked f"));
	TRY(expect_fd(c, fd, "the unlinked f after a write", "oldNEW", 6));
	MUST(fstat(fd, &st), "fstat the unlinked f");
	EXPECT(st.st_nlink == 0 && st.st_size == 6,
	       "the unlinked f: expected 0 links and size 6, got %ju links "
	       "size %jd",
	       (uintmax_t)st.st_nlink, (intmax_t)st.st_size);

	TRY(fd2 = xopen(c, "f", O_RDWR | O_CREAT | O_EXCL, 0644));
	MUST(fsops_write_all(fd2, "fresh", 5), "write the new f");
	MUST(fstat(fd2, &st2), "fstat the new f");
	EXPECT(st2.st_ino != st.st_ino,
	       "the new f has the inode of the unlinked one (%ju)",
	       (uintmax_t)st.st_ino);
	TRY(xpwrite(c, fd, "X", 1, 0, "the unlinked f"));
	TRY(expect_file(c, "f", "fresh", 5));
	TRY(expect_fd(c, fd, "the unlinked f", "XldNEW", 6));
	return 0;
}

static int check_rename_file(struct ctx *c)
{
	int fd;

	TRY(put_file(c, "a", "AAAA", 4));
	TRY(put_file(c, "b", "BB", 2));
	TRY(fd = xopen(c, "b", O_RDONLY, 0));
	MUST(renameat(c->dir, "a", c->dir, "b"), "rename a over b");
	TRY(expect_gone(c, "a"));
	TRY(expect_file(c, "b", "AAAA", 4));
	TRY(expect_fd(c, fd, "an fd open on b before it was replaced", "BB",
		      2));
	MUST(renameat(c->dir, "b", c->dir, "b"), "rename b to itself");
	TRY(expect_file(c, "b", "AAAA", 4));

	TRY(put_file(c, "c", "CCC", 3));
	MUST_FAIL(renameat2(c->dir, "c", c->dir, "b", RENAME_NOREPLACE), EEXIST,
		  EEXIST, "rename c over b with RENAME_NOREPLACE");
	TRY(expect_file(c, "b", "AAAA", 4));
	TRY(expect_file(c, "c", "CCC", 3));
	MUST(renameat2(c->dir, "c", c->dir, "d", RENAME_NOREPLACE),
	     "rename c to a free name with RENAME_NOREPLACE");
	TRY(expect_gone(c, "c"));
	TRY(expect_file(c, "d", "CCC", 3));
	MUST_FAIL(renameat(c->dir, "missing", c->dir, "e"), ENOENT, ENOENT,
		  "rename a missing name");
	MUST(mkdirat(c->dir, "sub", 0755), "mkdir sub");
	MUST(renameat(c->dir, "d", c->dir, "sub/d"), "rename d to sub/d");
	TRY(expect_gone(c, "d"));
	TRY(expect_file(c, "sub/d", "CCC", 3));
	return 0;
}

static int check_rename_dir(struct ctx *c)
{
	MUST(mkdirat(c->dir, "d", 0755), "mkdir d");
	MUST(mkdirat(c->dir, "d/sub", 0755), "mkdir d/sub");
	TRY(put_file(c, "d/x", "x", 1));
	TRY(put_file(c, "d/sub/y", "yy", 2));
	MUST(renameat(c->dir, "d", c->dir, "e"), "rename directory d to e");
	TRY(expect_gone(c, "d"));
	TRY(expect_file(c, "e/x", "x", 1));
	TRY(expect_file(c, "e/sub/y", "yy", 2));

	MUST(mkdirat(c->dir, "empty", 0755), "mkdir empty");
	MUST(renameat(c->dir, "e", c->dir, "empty"),
	     "rename directory e over the empty directory empty");
	TRY(expect_gone(c, "e"));
	TRY(expect_file(c, "empty/x", "x", 1));
	TRY(expect_file(c, "empty/sub/y", "yy", 2));

	MUST(mkdirat(c->dir, "full", 0755), "mkdir full");
	TRY(put_file(c, "full/z", "z", 1));
	MUST_FAIL(renameat(c->dir, "empty", c->dir, "full"), ENOTEMPTY, EEXIST,
		  "rename directory empty over the non-empty directory full");
	TRY(expect_file(c, "empty/x", "x", 1));
	TRY(expect_file(c, "full/z", "z", 1));
	MUST_FAIL(renameat(c->dir, "empty", c->dir, "empty/sub/in"), EINVAL,
		  EINVAL, "rename directory empty into its own subdirectory");
	MUST_FAIL(renameat(c->dir, "empty", c->dir, "empty/in"), EINVAL, EINVAL,
		  "rename directory empty into itself");
	MUST_FAIL(renameat(c->dir, "empty/x", c->dir, "full"), EISDIR, EISDIR,
		  "rename file empty/x over directory full");
	MUST_FAIL(renameat(c->dir, "empty/sub", c->dir, "full/z"), ENOTDIR,
		  ENOTDIR, "rename directory empty/sub over file full/z");
	TRY(expect_file(c, "empty/sub/y", "yy", 2));
	TRY(expect_file(c, "full/z", "z", 1));
	return 0;
}

static int check_mkdir_rmdir(struct ctx *c)
{
	struct stat st;

	MUST(mkdirat(c->dir, "d", 0750), "mkdir d");
	TRY(xstat(c, "d", &st));
	EXPECT(S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750,
	       "d: expected a directory of mode 0750, got type 0%o mode 0%o",
	       (unsigned)(st.st_mode & S_IFMT), (unsigned)(st.st_mode & 07777));
	MUST_FAIL(mkdirat(c->dir, "d", 0755), EEXIST, EEXIST, "mkdir d again");
	MUST(unlinkat(c->dir, "d", AT_REMOVEDIR), "rmdir d");
	TRY(expect_gone(c, "d"));
	MUST(mkdirat(c->dir, "d", 0755), "mkdir d after rmdir");
	TRY(put_file(c, "d/f", "f", 1));
	MUST_FAIL(unlinkat(c->dir, "d", AT_REMOVEDIR), ENOTEMPTY, ENOTEMPTY,
		  "rmdir the non-empty d");
	TRY(expect_file(c, "d/f", "f", 1));
	MUST_FAIL(unlinkat(c->dir, "d", 0), EISDIR, EISDIR,
		  "unlink the directory d");
	MUST_FAIL(unlinkat(c->dir, "d/f", AT_REMOVEDIR), ENOTDIR, ENOTDIR,
		  "rmdir the file d/f");
	MUST_FAIL(unlinkat(c->dir, "missing", AT_REMOVEDIR), ENOENT, ENOENT,
		  "rmdir a missing name");
	MUST(unlinkat(c->dir, "d/f", 0), "unlink d/f");
	MUST(unlinkat(c->dir, "d", AT_REMOVEDIR), "rmdir the emptied d");
	TRY(expect_gone(c, "d"));
	return 0;
}

static int check_symlink(struct ctx *c)
{
	static const char *const targets[] = {
		"dangling-target",
		"/nonexistent-fsops/absolute target",
		"../odd \x01 name/../x",
		"f",
	};
	char name[16], buf[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < FSOPS_ARRAY_SIZE(targets); i++) {
		const char *t = targets[i];
		ssize_t k;

		snprintf(name, sizeof(name), "l%zu", i);
		MUST(symlinkat(t, c->dir, name), "symlink %s -> %s", name,
		     fsops_shown(t));
		k = readlinkat(c->dir, name, buf, sizeof(buf));
		MUST(k, "readlink %s", name);
		TRY(expect_bytes(c, name, (const uint8_t *)buf, (size_t)k,
				 (const uint8_t *)t, strlen(t)));
		TRY(xstat(c, name, &st));
		EXPECT(S_ISLNK(st.st_mode) && st.st_size == (off_t)strlen(t),
		       "lstat %s: expected a symlink of size %zu, got type 0%o "
		       "size %jd",
		       name, strlen(t), (unsigned)(st.st_mode & S_IFMT),
		       (intmax_t)st.st_size);
	}
	MUST_FAIL(fstatat(c->dir, "l0", &st, 0), ENOENT, ENOENT,
		  "stat through the dangling l0");
	TRY(put_file(c, "f", "content", 7));
	TRY(expect_file(c, "l3", "content", 7));
	MUST_FAIL(openat(c->dir, "l3", O_RDONLY | O_NOFOLLOW | O_CLOEXEC),
		  ELOOP, ELOOP, "open the symlink l3 with O_NOFOLLOW");
	MUST_FAIL(symlinkat("x", c->dir, "l0"), EEXIST, EEXIST,
		  "symlink over the existing l0");
	MUST_FAIL(readlinkat(c->dir, "f", buf, sizeof(buf)), EINVAL, EINVAL,
		  "readlink the file f");
	MUST(unlinkat(c->dir, "l3", 0), "unlink l3");
	TRY(expect_gone(c, "l3"));
	TRY(expect_file(c, "f", "content", 7));
	return 0;
}

static int check_hardlink(struct ctx *c)
{
	struct stat a, b;
	int fd;

	TRY(put_file(c, "f", "one", 3));
	MUST(linkat(c->dir, "f", c->dir, "g", 0), "link f to g");
	TRY(xstat(c, "f", &a));
	TRY(xstat(c, "g", &b));
	EXPECT(a.st_nlink == 2 && b.st_nlink == 2,
	       "f and g: expected 2 links each, got %ju and %ju",
	       (uintmax_t)a.st_nlink, (uintmax_t)b.st_nlink);
	EXPECT(a.st_ino == b.st_ino && a.st_dev == b.st_dev,
	       "f and g: expected one inode, got %ju and %ju",
	       (uintmax_t)a.st_ino, (uintmax_t)b.st_ino);
	TRY(fd = xopen(c, "g", O_WRONLY | O_TRUNC, 0));
	MUST(fsops_write_all(fd, "two-two", 7), "write g");
	xclose(c, fd);
	TRY(expect_file(c, "f", "two-two", 7));
	MUST_FAIL(linkat(c->dir, "f", c->dir, "g", 0), EEXIST, EEXIST,
		  "link f to the existing g");
	MUST(mkdirat(c->dir, "d", 0755), "mkdir d");
	MUST_FAIL(linkat(c->dir, "d", c->dir, "d2", 0), EPERM, EPERM,
		  "link the directory d");
	MUST(unlinkat(c->dir, "f", 0), "unlink f");
	TRY(expect_gone(c, "f"));
	TRY(xstat(c, "g", &b));
	EXPECT(b.st_nlink == 1, "g after unlink f: expected 1 link, got %ju",
	       (uintmax_t)b.st_nlink);
	TRY(expect_file(c, "g", "two-two", 7));
	return 0;
}

static int expect_mtime(struct ctx *c, const char *path, struct timespec want)
{
	struct stat st;

	TRY(xstat(c, path, &st));
	EXPECT(st.st_mtim.tv_sec == want.tv_sec &&
		       st.st_mtim.tv_nsec == want.tv_nsec,
	       "%s: expected mtime %jd.%09ld, got %jd.%09ld", path,
	       (intmax_t)want.tv_sec, want.tv_nsec, (intmax_t)st.st_mtim.tv_sec,
	       st.st_mtim.tv_nsec);
	return 0;
}

static int check_chmod_utimes(struct ctx *c)
{
	struct timespec ts[2] = { { 1000000000, 5 },
				  { 1234567890, 123456789 } };
	struct timespec before, after;
	struct stat st;
	int fd;

	TRY(put_file(c, "f", "x", 1));
	MUST(fchmodat(c->dir, "f", 0755, 0), "chmod f 0755");
	TRY(xstat(c, "f", &st));
	EXPECT((st.st_mode & 07777) == 0755,
	       "f: expected mode 0755 after chmod, got 0%o",
	       (unsigned)(st.st_mode & 07777));
	MUST(fchmodat(c->dir, "f", 0640, 0), "chmod f 0640");
	TRY(xstat(c, "f", &st));
	EXPECT((st.st_mode & 07777) == 0640,
	       "f: expected mode 0640 (no exec bit) after chmod, got 0%o",
	       (unsigned)(st.st_mode & 07777));
	TRY(fd = xopen(c, "f", O_RDONLY, 0));
	MUST(fchmod(fd, 0700), "fchmod f 0700");
	TRY(xstat(c, "f", &st));
	EXPECT((st.st_mode & 07777) == 0700,
	       "f: expected mode 0700 after fchmod, got 0%o",
	       (unsigned)(st.st_mode & 07777));

	MUST(utimensat(c->dir, "f", ts, 0), "utimensat f");
	TRY(expect_mtime(c, "f", ts[1]));
	TRY(xstat(c, "f", &st));
	EXPECT(st.st_atim.tv_sec == ts[0].tv_sec &&
		       st.st_atim.tv_nsec == ts[0].tv_nsec,
	       "f: expected atime %jd.%09ld, got %jd.%09ld",
	       (intmax_t)ts[0].tv_sec, ts[0].tv_nsec,
	       (intmax_t)st.st_atim.tv_sec, st.st_atim.tv_nsec);
	MUST(mkdirat(c->dir, "d", 0755), "mkdir d");
	MUST(symlinkat("f", c->dir, "l"), "symlink l -> f");
	ts[1].tv_nsec = 999999999;
	MUST(utimensat(c->dir, "d", ts, 0), "utimensat d");
	TRY(expect_mtime(c, "d", ts[1]));
	ts[1].tv_sec = 1500000000;
	MUST(utimensat(c->dir, "l", ts, AT_SYMLINK_NOFOLLOW),
	     "utimensat the symlink l");
	TRY(expect_mtime(c, "l", ts[1]));
	TRY(expect_mtime(c, "f", (struct timespec){ 1234567890, 123456789 }));

	/* UTIME_OMIT keeps the mtime; UTIME_NOW sets about now (file times
	 * come from a coarse clock, hence the second of slack). */
	ts[0].tv_nsec = UTIME_NOW;
	ts[1].tv_nsec = UTIME_OMIT;
	MUST(utimensat(c->dir, "f", ts, 0), "utimensat f with UTIME_OMIT");
	TRY(expect_mtime(c, "f", (struct timespec){ 1234567890, 123456789 }));
	ts[1].tv_nsec = UTIME_NOW;
	clock_gettime(CLOCK_REALTIME, &before);
	MUST(utimensat(c->dir, "f", ts, 0), "utimensat f with UTIME_NOW");
	clock_gettime(CLOCK_REALTIME, &after);
	TRY(xstat(c, "f", &st));
	EXPECT(st.st_mtim.tv_sec >= before.tv_sec - 1 &&
		       st.st_mtim.tv_sec <= after.tv_sec + 1,
	       "f: expected an mtime of about %jd after UTIME_NOW, got %jd",
	       (intmax_t)before.tv_sec, (intmax_t)st.st_mtim.tv_sec);
	return 0;
}

static int map_file(struct ctx *c, int fd, size_t len, int prot,
		    const char *what)
{
	void *p = mmap(NULL, len, prot, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return fail_errno(c, errno, "mmap %s", what);
	c->map = p;
	c->map_len = len;
	return 0;
}

static int unmap_file(struct ctx *c, const char *what)
{
	void *p = c->map;

	c->map = NULL;
	if (msync(p, c->map_len, MS_SYNC) < 0) {
		int e = errno;

		munmap(p, c->map_len);
		return fail_errno(c, e, "msync %s", what);
	}
	MUST(munmap(p, c->map_len), "munmap %s", what);
	return 0;
}

static int check_mmap(struct ctx *c)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = 3 * pg + 100;
	size_t at[4] = { 0, pg - 1, 2 * pg + 7, n - 1 };
	uint8_t *data = malloc(2 * n);
	int fd, reader, rc = -1;

	if (!data)
		return fail(c, "out of memory");
	pattern(data, n, 3);
	if (put_file(c, "m", data, n) < 0 ||
	    (fd = xopen(c, "m", O_RDWR, 0)) < 0 ||
	    (reader = xopen(c, "m", O_RDONLY, 0)) < 0 ||
	    map_file(c, fd, n, PROT_READ, "m read-only") < 0)
		goto out;
	if (memcmp(c->map, data, n)) {
		fail(c, "m: a PROT_READ MAP_SHARED mapping differs from the "
			"bytes written");
		goto out;
	}
	munmap(c->map, c->map_len);
	c->map = NULL;
	if (map_file(c, fd, n, PROT_READ | PROT_WRITE, "m read-write") < 0)
		goto out;
	for (size_t i = 0; i < FSOPS_ARRAY_SIZE(at); i++) {
		data[at[i]] = (uint8_t)(0xa0 + i);
		((uint8_t *)c->map)[at[i]] = (uint8_t)(0xa0 + i);
	}
	if (unmap_file(c, "m") < 0 ||
	    expect_fd(c, reader,
		      "m after mmap writes, through an fd opened "
		      "before",
		      data, n) < 0 ||
	    expect_file(c, "m", data, n) < 0)
		goto out;

	/* A file grown with ftruncate, then written only through mmap. */
	pattern(data, 2 * n, 4);
	if ((fd = xopen(c, "g", O_RDWR | O_CREAT | O_EXCL, 0644)) < 0)
		goto out;
	if (ftruncate(fd, (off_t)(2 * n)) < 0) {
		fail_errno(c, errno, "ftruncate g to %zu", 2 * n);
		goto out;
	}
	if (map_file(c, fd, 2 * n, PROT_READ | PROT_WRITE, "g") < 0)
		goto out;
	memcpy(c->map, data, 2 * n);
	xclose(c, fd);
	if (unmap_file(c, "g") < 0 || expect_file(c, "g", data, 2 * n) < 0)
		goto out;
	rc = 0;
out:
	free(data);
	return rc;
}

#define RD_OLD 200
#define RD_NEW 10

static int name_index(const char *name, const char *prefix, unsigned n)
{
	size_t k = strlen(prefix);
	char *end;
	unsigned long v;

	if (strncmp(name, prefix, k) || strlen(name) != k + 3)
		return -1;
	v = strtoul(name + k, &end, 10);
	return *end || v >= n ? -1 : (int)v;
}

/* getdents64 with a small buffer, so that the kernel and the filesystem are
 * asked again after the changes (readdir() would have buffered them all). */
static int check_readdir_changes(struct ctx *c)
{
	unsigned old_seen[RD_OLD] = { 0 }, new_seen[RD_NEW] = { 0 },
		 dots[2] = { 0 };
	bool removed[RD_OLD] = { false };
	_Alignas(8) char buf[1024];
	char name[32];
	size_t seen = 0;
	bool changed = false;
	int fd;

	for (unsigned i = 0; i < RD_OLD; i++) {
		snprintf(name, sizeof(name), "old%03u", i);
		TRY(put_file(c, name, "", 0));
	}
	TRY(fd = xopen(c, ".", O_RDONLY | O_DIRECTORY, 0));
	for (;;) {
		ssize_t n = getdents64(fd, buf, sizeof(buf));

		MUST(n, "getdents64");
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			unsigned short reclen;
			const char *nm =
				buf + off + offsetof(struct dirent64, d_name);
			unsigned *count;
			int k;

			memcpy(&reclen,
			       buf + off + offsetof(struct dirent64, d_reclen),
			       sizeof(reclen));
			EXPECT(reclen > 0 && reclen <= n - off,
			       "getdents64: a record of length %u at %zd of %zd",
			       reclen, off, n);
			off += reclen;
			if (!strcmp(nm, "."))
				count = &dots[0];
			else if (!strcmp(nm, ".."))
				count = &dots[1];
			else if ((k = name_index(nm, "old", RD_OLD)) >= 0)
				count = &old_seen[k];
			else if ((k = name_index(nm, "new", RD_NEW)) >= 0)
				count = &new_seen[k];
			else
				return fail(c,
					    "readdir: an entry \"%s\" that "
					    "was never created",
					    fsops_shown(nm));
			EXPECT(++*count == 1, "readdir: %s returned twice",
			       fsops_shown(nm));
			seen++;
		}
		if (changed || seen < RD_OLD / 2)
			continue;
		/* Half read: unlink entries not returned yet, make new. */
		changed = true;
		for (unsigned i = RD_OLD, k = 0; i-- > 0 && k < RD_NEW;) {
			if (old_seen[i])
				continue;
			snprintf(name, sizeof(name), "old%03u", i);
			MUST(unlinkat(c->dir, name, 0), "unlink %s", name);
			removed[i] = true;
			k++;
		}
		for (unsigned i = 0; i < RD_NEW; i++) {
			snprintf(name, sizeof(name), "new%03u", i);
			TRY(put_file(c, name, "", 0));
		}
	}
	EXPECT(changed, "readdir: expected %u entries, got %zu", RD_OLD + 2,
	       seen);
	for (unsigned i = 0; i < RD_OLD; i++)
		EXPECT(removed[i] || old_seen[i] == 1,
		       "readdir: old%03u, present and untouched throughout, "
		       "was not returned",
		       i);
	EXPECT(dots[0] == 1 && dots[1] == 1,
	       "readdir: expected . and .. once each, got %u and %u", dots[0],
	       dots[1]);
	return 0;
}

#define LIST_MAX 32

struct listing {
	size_t n;
	struct {
		char name[32];
		unsigned char type;
	} v[LIST_MAX];
};

static int list_cmp(const void *a, const void *b)
{
	return strcmp((const char *)a, (const char *)b);
}

static int list_dir(struct ctx *c, const char *path, struct listing *l)
{
	int fd = openat(c->dir, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0 || !(d = fdopendir(fd))) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return fail_errno(c, e, "opendir %s", path);
	}
	l->n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (l->n == LIST_MAX || strlen(de->d_name) >= 32) {
			closedir(d);
			return fail(c, "%s: more entries than made, or %s",
				    path, fsops_shown(de->d_name));
		}
		strcpy(l->v[l->n].name, de->d_name);
		l->v[l->n++].type = de->d_type;
	}
	closedir(d);
	qsort(l->v, l->n, sizeof(l->v[0]), list_cmp);
	return 0;
}

static int expect_listing(struct ctx *c, const char *path,
			  const char *const *names, const unsigned char *types,
			  size_t n)
{
	struct listing l;
	char want[512] = "", got[512] = "";
	bool same;

	TRY(list_dir(c, path, &l));
	same = l.n == n;
	for (size_t i = 0; i < n && same; i++)
		same = !strcmp(l.v[i].name, names[i]) &&
		       (l.v[i].type == DT_UNKNOWN || l.v[i].type == types[i]);
	if (same)
		return 0;
	for (size_t i = 0; i < n; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
			 " %s(%u)", names[i], types[i]);
	for (size_t i = 0; i < l.n; i++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got),
			 " %s(%u)", fsops_shown(l.v[i].name), l.v[i].type);
	return fail(c, "listing of %s (name(d_type)): expected%s, got%s", path,
		    want, got);
}

static int check_readdir_exact(struct ctx *c)
{
	static const char *const top[] = { "d1", "d3", "f1", "f6", "f7",
					   "f8", "f9", "h6", "s1", "s2" };
	static const unsigned char top_types[] = { DT_DIR, DT_DIR, DT_REG,
						   DT_REG, DT_REG, DT_REG,
						   DT_REG, DT_REG, DT_LNK,
						   DT_LNK };
	static const char *const in_d1[] = { "f5" }, *const in_d3[] = { "x" };
	static const unsigned char reg[] = { DT_REG };
	char name[8];

	for (int i = 1; i <= 8; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		TRY(put_file(c, name, name, 2));
	}
	MUST(mkdirat(c->dir, "d1", 0755), "mkdir d1");
	MUST(mkdirat(c->dir, "d2", 0755), "mkdir d2");
	TRY(put_file(c, "d2/x", "x", 1));
	MUST(symlinkat("f1", c->dir, "s1"), "symlink s1");
	MUST(unlinkat(c->dir, "f2", 0), "unlink f2");
	MUST(renameat(c->dir, "f3", c->dir, "f9"), "rename f3 f9");
	MUST(renameat(c->dir, "f4", c->dir, "f1"), "rename f4 over f1");
	MUST(renameat(c->dir, "f5", c->dir, "d1/f5"), "rename f5 d1/f5");
	MUST(renameat(c->dir, "d2", c->dir, "d3"), "rename d2 d3");
	MUST(mkdirat(c->dir, "d4", 0755), "mkdir d4");
	MUST(unlinkat(c->dir, "d4", AT_REMOVEDIR), "rmdir d4");
	MUST(symlinkat("f6", c->dir, "s2"), "symlink s2");
	MUST(linkat(c->dir, "f6", c->dir, "h6", 0), "link f6 h6");
	MUST(unlinkat(c->dir, "f7", 0), "unlink f7");
	TRY(put_file(c, "f7", "new", 3));
	TRY(expect_listing(c, ".", top, top_types, FSOPS_ARRAY_SIZE(top)));
	TRY(expect_listing(c, "d1", in_d1, reg, 1));
	TRY(expect_listing(c, "d3", in_d3, reg, 1));
	TRY(expect_file(c, "f1", "f4", 2));
	TRY(expect_file(c, "f9", "f3", 2));
	return 0;
}

static int check_fsync_statvfs(struct ctx *c)
{
	uint8_t data[65536];
	struct statvfs sv;
	int fd;

	pattern(data, sizeof(data), 5);
	TRY(fd = xopen(c, "f", O_WRONLY | O_CREAT | O_EXCL, 0644));
	MUST(fsops_write_all(fd, data, sizeof(data)), "write f");
	MUST(fsync(fd), "fsync f");
	TRY(xpwrite(c, fd, "rewritten", 9, 1000, "f"));
	memcpy(data + 1000, "rewritten", 9);
	MUST(fdatasync(fd), "fdatasync f");
	TRY(expect_file(c, "f", data, sizeof(data)));
	MUST(fstatvfs(c->top, &sv), "fstatvfs %s", c->top_path);
	EXPECT(sv.f_bavail > 0, "fstatvfs %s: expected f_bavail > 0, got 0",
	       c->top_path);
	MUST(statvfs(c->top_path, &sv), "statvfs %s", c->top_path);
	EXPECT(sv.f_bavail > 0 && sv.f_blocks > 0 && sv.f_bsize > 0,
	       "statvfs %s: expected f_bavail, f_blocks and f_bsize > 0, got "
	       "%ju, %ju and %lu",
	       c->top_path, (uintmax_t)sv.f_bavail, (uintmax_t)sv.f_blocks,
	       sv.f_bsize);
	return 0;
}

static int check_nested(struct ctx *c)
{
	struct stat b, dotdot, top, st;
	int fd;

	MUST(mkdirat(c->dir, "a", 0755), "mkdir a");
	MUST(mkdirat(c->dir, "a/b", 0755), "mkdir a/b");
	MUST(mkdirat(c->dir, "a/b/c", 0755), "mkdir a/b/c");
	TRY(put_file(c, "a/b/c/f", "deep", 4));
	TRY(expect_file(c, "a/b/c/f", "deep", 4));
	TRY(expect_file(c, "a/b/c/../../b/c/f", "deep", 4));
	TRY(xstat(c, "a/b", &b));
	TRY(xstat(c, "a/b/c/..", &dotdot));
	EXPECT(b.st_ino == dotdot.st_ino && b.st_dev == dotdot.st_dev,
	       "a/b/c/..: expected the inode of a/b (%ju), got %ju",
	       (uintmax_t)b.st_ino, (uintmax_t)dotdot.st_ino);
	TRY(fd = xopen(c, "a/b/c", O_RDONLY | O_DIRECTORY, 0));
	MUST(fstatat(fd, "..", &st, 0), "stat .. of an fd on a/b/c");
	EXPECT(st.st_ino == b.st_ino,
	       "..  of an fd on a/b/c: expected the inode of a/b (%ju), got "
	       "%ju",
	       (uintmax_t)b.st_ino, (uintmax_t)st.st_ino);
	MUST(fstat(c->dir, &top), "fstat the check directory");
	TRY(xstat(c, "a/..", &st));
	EXPECT(st.st_ino == top.st_ino,
	       "a/..: expected the inode of the check directory (%ju), got %ju",
	       (uintmax_t)top.st_ino, (uintmax_t)st.st_ino);
	return 0;
}

static const struct check {
	const char *name;
	int (*fn)(struct ctx *c);
} checks[] = {
	{ "create", check_create },
	{ "append", check_append },
	{ "truncate", check_truncate },
	{ "sparse", check_sparse },
	{ "unlink-open", check_unlink_open },
	{ "rename-file", check_rename_file },
	{ "rename-dir", check_rename_dir },
	{ "mkdir-rmdir", check_mkdir_rmdir },
	{ "symlink", check_symlink },
	{ "hardlink", check_hardlink },
	{ "chmod-utimes", check_chmod_utimes },
	{ "mmap", check_mmap },
	{ "readdir-changes", check_readdir_changes },
	{ "readdir-exact", check_readdir_exact },
	{ "fsync-statvfs", check_fsync_statvfs },
	{ "nested", check_nested },
};

/* Runs one check in its own new directory work/NAME; removes that when it
 * passed. */
static bool run_check(const struct check *k, int top, const char *top_path,
		      int work)
{
	struct ctx c = { .top = top, .top_path = top_path, .dir = -1 };
	int rc;

	if (mkdirat(work, k->name, 0755) < 0)
		fail_errno(&c, errno, "mkdir %s", k->name);
	else if ((c.dir = openat(work, k->name,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fail_errno(&c, errno, "open %s", k->name);
	else if (k->fn(&c) == 0 && c.msg[0])
		fail(&c, "(a check returned success after a failure)");
	if (c.map)
		munmap(c.map, c.map_len);
	while (c.nfds)
		close(c.fds[--c.nfds]);
	if (c.dir >= 0)
		close(c.dir);
	if (!c.msg[0] && (rc = rm_rf(work, k->name)) < 0)
		fail(&c, "removing its directory: %s", fsops_err_name(-rc));
	if (c.msg[0])
		printf("FAIL %s: %s\n", k->name, c.msg);
	else
		printf("ok %s\n", k->name);
	fflush(stdout);
	return !c.msg[0];
}

const char *fsops_posix_check_name(size_t k)
{
	return k < FSOPS_ARRAY_SIZE(checks) ? checks[k].name : NULL;
}

int fsops_posix_run(const char *dir, char *const *names, int nnames)
{
	char work_name[64];
	int top, work, failed = 0, run = 0, rc;

	top = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0)
		fsops_die("%s: %s", dir, fsops_err_name(errno));
	snprintf(work_name, sizeof(work_name), ".fsops-posix-%ld",
		 (long)getpid());
	if (mkdirat(top, work_name, 0755) < 0 ||
	    (work = openat(top, work_name,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fsops_die("%s/%s: %s", dir, work_name, fsops_err_name(errno));
	for (size_t k = 0; k < FSOPS_ARRAY_SIZE(checks); k++) {
		bool wanted = !nnames;

		for (int i = 0; i < nnames; i++)
			wanted |= !strcmp(checks[k].name, names[i]);
		if (!wanted)
			continue;
		run++;
		failed += !run_check(&checks[k], top, dir, work);
	}
	close(work);
	if (!failed && (rc = rm_rf(top, work_name)) < 0) {
		fprintf(stderr, "fsops: removing %s/%s: %s\n", dir, work_name,
			fsops_err_name(-rc));
		failed++;
	}
	if (failed)
		fprintf(stderr,
			"fsops posix: %d of %d checks failed; their "
			"files are left in %s/%s\n",
			failed, run, dir, work_name);
	close(top);
	return failed ? 1 : 0;
}
