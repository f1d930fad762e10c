/* SPDX-License-Identifier: MIT */
/* treegen digest: a byte-exact digest of a tree, one line per entry sorted
 * bytewise by path, to compare a source with its copy on a node. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cleanup.h"
#include "treegen.h"

#define BUF_SIZE (1u << 20) /* digest reads */

/* ---- digest ---- */

/* XXH3-128 of a file's bytes; holes are hashed as zeros without being
 * read, so that a 2 GiB sparse file costs little. */
static void hash_file(int root, const struct ent *e, char out[33])
{
	static const uint8_t zero[BUF_SIZE];
	_cleanup_close_ int fd =
		openat(root, e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_free_ uint8_t *buf = malloc(BUF_SIZE);
	XXH3_state_t *h = XXH3_createState();
	XXH128_canonical_t c;
	off_t off = 0, size = e->st.st_size;

	if (fd < 0)
		die("open %s: %s", shown(e->path), strerror(errno));
	if (!buf || !h || XXH3_128bits_reset(h) != XXH_OK)
		die("out of memory");
	while (off < size) {
		off_t data = lseek(fd, off, SEEK_DATA), end;

		if (data < 0 && errno == ENXIO)
			data = size; /* a hole up to the end */
		else if (data < 0 || data > size)
			data = off; /* no SEEK_DATA: read it all */
		while (off < data) {
			size_t k = data - off < (off_t)sizeof(zero)
					   ? (size_t)(data - off)
					   : sizeof(zero);

			XXH3_128bits_update(h, zero, k);
			off += (off_t)k;
		}
		if (off >= size)
			break;
		end = lseek(fd, off, SEEK_HOLE);
		if (end <= off || end > size)
			end = size;
		while (off < end) {
			size_t want = end - off < (off_t)BUF_SIZE
					      ? (size_t)(end - off)
					      : BUF_SIZE;
			ssize_t k = pread(fd, buf, want, off);

			if (k <= 0)
				die("read %s: %s", shown(e->path),
				    k < 0 ? strerror(errno) : "short file");
			XXH3_128bits_update(h, buf, (size_t)k);
			off += k;
		}
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits_digest(h));
	XXH3_freeState(h);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", c.digest[i]);
}

int cmd_digest(const char *dir)
{
	int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct ents l;

	if (root < 0)
		die("%s: %s", dir, strerror(errno));
	walk_tree(root, &l);
	for (size_t i = 0; i < l.n; i++) {
		const struct ent *e = &l.v[i];
		mode_t fmt = e->st.st_mode & S_IFMT;
		const char *leader = NULL;
		char type = fmt == S_IFREG    ? 'f'
			    : fmt == S_IFDIR  ? 'd'
			    : fmt == S_IFLNK  ? 'l'
			    : fmt == S_IFIFO  ? 'p'
			    : fmt == S_IFSOCK ? 's'
					      : 'c';
		uint64_t size = fmt == S_IFDIR ? 0 : (uint64_t)e->st.st_size;
		int64_t mtime = (int64_t)e->st.st_mtim.tv_sec * 1000000000ll +
				e->st.st_mtim.tv_nsec;

		put_escaped(stdout, e->path, strlen(e->path));
		printf(" %c %04o %" PRIu64 " %" PRId64 " ", type,
		       (unsigned)(e->st.st_mode & 07777), size, mtime);
		if (fmt == S_IFREG) {
			char hex[33];

			hash_file(root, e, hex);
			fputs(hex, stdout);
		} else if (fmt == S_IFLNK) {
			char t[PATH_MAX + 1];
			ssize_t k = readlinkat(root, e->path, t, sizeof(t));

			if (k < 0)
				die("readlink %s: %s", shown(e->path),
				    strerror(errno));
			put_escaped(stdout, t, (size_t)k);
		} else {
			fputc('-', stdout);
		}
		/* The link group: the first of its names in this tree, when
		 * it has more than one here (names outside the tree are not
		 * part of it). */
		if (fmt == S_IFREG && e->st.st_nlink > 1) {
			size_t names = 0;

			for (size_t k = 0; k < l.n; k++) {
				const struct stat *o = &l.v[k].st;

				if (S_ISREG(o->st_mode) &&
				    o->st_dev == e->st.st_dev &&
				    o->st_ino == e->st.st_ino) {
					if (!names)
						leader = l.v[k].path;
					names++;
				}
			}
			if (names < 2)
				leader = NULL;
		}
		fputc(' ', stdout);
		if (leader)
			put_escaped(stdout, leader, strlen(leader));
		else
			fputc('-', stdout);
		fputc('\n', stdout);
	}
	ents_free(&l);
	close(root);
	if (fflush(stdout) != 0 || ferror(stdout))
		die("writing the digest: %s", strerror(errno));
	return 0;
}
