/* SPDX-License-Identifier: MIT */
/* The inodes the kernel holds in a tetherfs mount: what each needs once it
 * may have left the view (a file open across a new version, or any file
 * when the kernel opens files without asking, FUSE's no-open mode): its
 * attributes and its chunk list, kept from the lookup that handed it out
 * until the kernel forgets it. A lower inode's bytes never change
 * (view.h), so the chunk list taken at the first lookup stays right.
 *
 * In a writable view (overlay.c) a record also knows where it is (the
 * directory and name of its last lookup, kept current by renames) and
 * whether it lives in the upper layer. Upper objects get inode numbers
 * from FS_UPPER_INO_BASE up, one per upper file (st_ino) for as long as
 * the kernel holds it, so hard links in the upper share theirs; a lower
 * file copied up keeps the number the kernel knows it by. */
#ifndef TETHER_FS_INODES_H
#define TETHER_FS_INODES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "view.h"

/* Above any number the lower view hands out (it counts from 2). */
#define FS_UPPER_INO_BASE (1ull << 62)

struct tfs_inode {
	uint64_t ino;
	uint64_t nlookup; /* the kernel's references (table lock) */
	struct fs_attr attr;
	bool is_file;
	struct fs_file f; /* a lower file: its chunks */
	/* f pending: f with its chunk list once a read had it defined
	 * (under lock), or NULL. */
	struct fs_file *def;
	/* Writable views. parent and name under the table lock. */
	uint64_t parent; /* directory of the last lookup; 0 for the root */
	char *name;	 /* NULL in read-only views */
	bool upper;	 /* in the upper layer (table lock) */
	bool indexed;	 /* up_ino finds it (table lock) */
	uint64_t up_ino; /* upper: its upper file's st_ino */
	/* Reads: the last chunk read, so reads smaller than a chunk decode
	 * it once; for an upper file read without a handle, fd. */
	pthread_mutex_t lock;
	uint32_t cached; /* chunk index in buf, or UINT32_MAX */
	uint8_t *buf;
	size_t cap;
	int fd; /* -1 until needed */
	struct tfs_inode *next, *up_next;
};

/* Where a lookup found an inode, in a writable view. */
struct tfs_at {
	uint64_t parent;
	const char *name;
	size_t name_len;
	bool upper;	 /* in the upper: a->ino is found or allocated */
	uint64_t up_ino; /* upper: st_ino of the upper object */
};

struct tfs_inodes;

int tfs_inodes_new(struct tfs_inodes **ret);
void tfs_inodes_free(struct tfs_inodes *t);

/* The kernel gets one more reference to an inode (a LOOKUP or READDIRPLUS
 * entry): its record, made on the first (a lower file's chunk list from
 * v), its attributes refreshed. at is NULL in a read-only view; in a
 * writable one it says where, and for an upper object a->ino (and
 * a->st.st_ino) is filled here. 0, -ENOMEM, or -ENOENT when v lost the
 * file in the meantime (then the reply must not hand the inode out). */
int tfs_inodes_ref(struct tfs_inodes *t, struct fs_view *v, struct fs_attr *a,
		   const struct tfs_at *at);

/* The inode number an upper object (st_ino up_ino) has for the kernel
 * now, or 0 when the kernel holds none for it. */
uint64_t tfs_inodes_upper_ino(struct tfs_inodes *t, uint64_t up_ino);

/* FORGET: the kernel drops n references; the record goes at 0. */
void tfs_inodes_forget(struct tfs_inodes *t, uint64_t ino, uint64_t n);

/* ino's record, or NULL. It stays while the kernel holds ino, which it
 * does during any request on it. */
struct tfs_inode *tfs_inodes_find(struct tfs_inodes *t, uint64_t ino);

/* ino's path in the view into buf (cap bytes, NUL-terminated; "" for the
 * root), from the records of its directories: its length, -ESTALE when
 * a directory on the way was forgotten, -ENAMETOOLONG. */
int tfs_inodes_path(struct tfs_inodes *t, uint64_t ino, char *buf, size_t cap);

/* x now lives in the upper, as the upper file up_ino. */
void tfs_inodes_set_upper(struct tfs_inodes *t, struct tfs_inode *x,
			  uint64_t up_ino);

/* The upper file up_ino lost its last name: whoever holds it keeps it,
 * but a new file that reuses the number is another inode. */
void tfs_inodes_unindex(struct tfs_inodes *t, uint64_t up_ino);

/* A rename moved ino to (parent, name). */
void tfs_inodes_move(struct tfs_inodes *t, uint64_t ino, uint64_t parent,
		     const char *name);

/* The upper was discarded: every record is a lower one again (a file the
 * kernel still holds is read from its lower chunks, or fails with EIO
 * when it has none). fn (may be NULL) hears each record's ino, parent
 * and name, under the table lock: it must not call back in. */
typedef void (*tfs_inodes_fn)(void *opaque, const struct tfs_inode *x);
void tfs_inodes_reset(struct tfs_inodes *t, tfs_inodes_fn fn, void *opaque);

#endif
