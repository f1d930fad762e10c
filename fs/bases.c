/* SPDX-License-Identifier: MIT */
/* A view's bases (bases.h): a hash table in memory, and an append-only
 * file of records: u32 path length (little-endian), u8 had (2: the path
 * is forgotten), 16 bytes of the entry's hash (zeros when not had), the
 * path. */
#include "bases.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manifest.h"

#define HEAD 21u /* u32 length, u8 had, 16-byte id */

struct base {
	struct base *next;
	bool had;
	struct sd_id id;
	size_t len;
	char path[]; /* len bytes */
};

struct fs_bases {
	pthread_mutex_t lock;
	int fd;
	struct base **b;
	size_t mask, n;
};

static size_t hash(const char *p, size_t len)
{
	struct sd_id id;

	sd_id_of(&id, p, len);
	return (size_t)id.b[0] | (size_t)id.b[1] << 8 | (size_t)id.b[2] << 16 |
	       (size_t)id.b[3] << 24;
}

static struct base **find(struct fs_bases *b, const char *p, size_t len)
{
	struct base **pp = &b->b[hash(p, len) & b->mask];

	while (*pp && ((*pp)->len != len || memcmp((*pp)->path, p, len)))
		pp = &(*pp)->next;
	return pp;
}

static int grow(struct fs_bases *b)
{
	size_t cap = (b->mask + 1) * 2;
	struct base **nb = calloc(cap, sizeof(*nb));

	if (!nb)
		return -ENOMEM;
	for (size_t i = 0; i <= b->mask; i++)
		while (b->b[i]) {
			struct base *x = b->b[i];
			size_t h = hash(x->path, x->len) & (cap - 1);

			b->b[i] = x->next;
			x->next = nb[h];
			nb[h] = x;
		}
	free(b->b);
	b->b = nb;
	b->mask = cap - 1;
	return 0;
}

/* Add (lock held). 0 (also when it was there), -ENOMEM. */
static int add(struct fs_bases *b, const char *p, size_t len, bool had,
	       const struct sd_id *id, bool *added)
{
	struct base **pp = find(b, p, len), *x;

	*added = false;
	if (*pp)
		return 0;
	if (b->n > b->mask && grow(b) == 0)
		pp = find(b, p, len);
	x = malloc(sizeof(*x) + len);
	if (!x)
		return -ENOMEM;
	x->next = NULL;
	x->had = had;
	memset(&x->id, 0, sizeof(x->id));
	if (had)
		x->id = *id;
	x->len = len;
	memcpy(x->path, p, len);
	*pp = x;
	b->n++;
	*added = true;
	return 0;
}

static void drop(struct fs_bases *b, const char *p, size_t len)
{
	struct base **pp = find(b, p, len), *x = *pp;

	if (x) {
		*pp = x->next;
		free(x);
		b->n--;
	}
}

static void drop_all(struct fs_bases *b)
{
	for (size_t i = 0; i <= b->mask; i++)
		while (b->b[i]) {
			struct base *x = b->b[i];

			b->b[i] = x->next;
			free(x);
		}
	b->n = 0;
}

/* The whole records of buf into b: 0 and *used (their bytes: a record cut
 * short by a crash ends them), -EBADMSG, or -ENOMEM. */
static int parse(struct fs_bases *b, const uint8_t *buf, size_t size,
		 size_t *used)
{
	size_t off = 0;
	int r = 0;

	while (r == 0 && size - off >= HEAD) {
		uint32_t len = (uint32_t)buf[off] |
			       (uint32_t)buf[off + 1] << 8 |
			       (uint32_t)buf[off + 2] << 16 |
			       (uint32_t)buf[off + 3] << 24;
		struct sd_id id;
		bool added;

		if (len == 0 || len > SD_PATH_MAX || buf[off + 4] > 2)
			return -EBADMSG;
		if (size - off - HEAD < len)
			break; /* cut short by a crash */
		memcpy(id.b, buf + off + 5, sizeof(id.b));
		if (buf[off + 4] == 2)
			drop(b, (const char *)buf + off + HEAD, len);
		else
			r = add(b, (const char *)buf + off + HEAD, len,
				buf[off + 4], &id, &added);
		off += HEAD + len;
	}
	*used = off;
	return r;
}

static int load(struct fs_bases *b)
{
	struct stat st;
	uint8_t *buf;
	size_t size, used = 0;
	int r;

	if (fstat(b->fd, &st) < 0)
		return -errno;
	size = (size_t)st.st_size;
	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	if (size && pread(b->fd, buf, size, 0) != (ssize_t)size) {
		free(buf);
		return errno ? -errno : -EIO;
	}
	r = parse(b, buf, size, &used);
	free(buf);
	if (r == 0 && used < size && ftruncate(b->fd, (off_t)used) < 0)
		r = -errno;
	return r;
}

static struct fs_bases *bases_new(void)
{
	struct fs_bases *b = calloc(1, sizeof(*b));

	if (!b || !(b->b = calloc(256, sizeof(*b->b)))) {
		free(b);
		return NULL;
	}
	b->mask = 255;
	b->fd = -1;
	pthread_mutex_init(&b->lock, NULL);
	return b;
}

int fs_bases_open(const char *path, struct fs_bases **ret)
{
	struct fs_bases *b = bases_new();
	int r;

	if (!b)
		return -ENOMEM;
	b->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	r = b->fd < 0 ? -errno : load(b);
	if (r < 0) {
		fs_bases_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

int fs_bases_parse(const uint8_t *buf, size_t size, struct fs_bases **ret,
		   size_t *used)
{
	struct fs_bases *b = bases_new();
	int r;

	if (!b)
		return -ENOMEM;
	r = parse(b, buf, size, used);
	if (r < 0) {
		fs_bases_free(b);
		return r;
	}
	*ret = b;
	return 0;
}

size_t fs_bases_count(struct fs_bases *b)
{
	size_t n;

	pthread_mutex_lock(&b->lock);
	n = b->n;
	pthread_mutex_unlock(&b->lock);
	return n;
}

void fs_bases_free(struct fs_bases *b)
{
	if (!b)
		return;
	drop_all(b);
	if (b->fd >= 0)
		close(b->fd);
	pthread_mutex_destroy(&b->lock);
	free(b->b);
	free(b);
}

/* Append a record (lock held), in one write: a record is whole, or cut
 * at the end of the file by a crash. */
static int append(struct fs_bases *b, const char *path, size_t len, uint8_t had,
		  const struct sd_id *id)
{
	uint8_t *rec;
	int r = 0;

	if (b->fd < 0)
		return 0; /* parsed in memory (fs_bases_parse) */
	rec = malloc(HEAD + len);
	if (!rec)
		return -ENOMEM;
	rec[0] = (uint8_t)len;
	rec[1] = (uint8_t)(len >> 8);
	rec[2] = (uint8_t)(len >> 16);
	rec[3] = (uint8_t)(len >> 24);
	rec[4] = had;
	memset(rec + 5, 0, 16);
	if (id)
		memcpy(rec + 5, id->b, 16);
	memcpy(rec + HEAD, path, len);
	if (write(b->fd, rec, HEAD + len) != (ssize_t)(HEAD + len))
		r = errno ? -errno : -EIO;
	free(rec);
	return r;
}

int fs_bases_note(struct fs_bases *b, const char *path, size_t len,
		  const struct sd_id *id)
{
	bool added;
	int r;

	if (len == 0 || len > SD_PATH_MAX)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	r = add(b, path, len, id != NULL, id, &added);
	if (r == 0 && added)
		r = append(b, path, len, id != NULL, id);
	pthread_mutex_unlock(&b->lock);
	return r;
}

int fs_bases_forget(struct fs_bases *b, const char *path, size_t len)
{
	int r = 0;

	if (len == 0 || len > SD_PATH_MAX)
		return -EINVAL;
	pthread_mutex_lock(&b->lock);
	if (*find(b, path, len)) {
		drop(b, path, len);
		r = append(b, path, len, 2, NULL);
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

int fs_bases_get(struct fs_bases *b, const char *path, size_t len, bool *had,
		 struct sd_id *id)
{
	struct base *x;

	pthread_mutex_lock(&b->lock);
	x = *find(b, path, len);
	if (x) {
		*had = x->had;
		*id = x->id;
	}
	pthread_mutex_unlock(&b->lock);
	return x != NULL;
}

int fs_bases_clear(struct fs_bases *b)
{
	int r = 0;

	pthread_mutex_lock(&b->lock);
	drop_all(b);
	if (ftruncate(b->fd, 0) < 0)
		r = -errno;
	pthread_mutex_unlock(&b->lock);
	return r;
}
