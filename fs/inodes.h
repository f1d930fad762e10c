/* SPDX-License-Identifier: MIT */
/* The inodes the kernel holds in a tetherfs mount: what each needs once it
 * may have left the view (a file open across a new version, or any file
 * when the kernel opens files without asking, FUSE's no-open mode): its
 * attributes and its chunk list, kept from the lookup that handed it out
 * until the kernel forgets it. An inode's bytes never change (view.h), so
 * the chunk list taken at the first lookup stays right. */
#ifndef TETHER_FS_INODES_H
#define TETHER_FS_INODES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "view.h"

struct tfs_inode {
	uint64_t ino;
	uint64_t nlookup; /* the kernel's references (table lock) */
	struct fs_attr attr;
	bool is_file;
	struct fs_file f; /* is_file: its chunks */
	/* Reads: the last chunk read, so reads smaller than a chunk decode
	 * it once. */
	pthread_mutex_t lock;
	uint32_t cached; /* chunk index in buf, or UINT32_MAX */
	uint8_t *buf;
	size_t cap;
	struct tfs_inode *next;
};

struct tfs_inodes;

int tfs_inodes_new(struct tfs_inodes **ret);
void tfs_inodes_free(struct tfs_inodes *t);

/* The kernel gets one more reference to a->ino (a LOOKUP or READDIRPLUS
 * entry): its record, made on the first (a file's chunk list from v), its
 * attributes refreshed. 0, -ENOMEM, or -ENOENT when v lost the file in
 * the meantime (then the reply must not hand the inode out). */
int tfs_inodes_ref(struct tfs_inodes *t, struct fs_view *v,
		   const struct fs_attr *a);

/* FORGET: the kernel drops n references; the record goes at 0. */
void tfs_inodes_forget(struct tfs_inodes *t, uint64_t ino, uint64_t n);

/* ino's record, or NULL. It stays while the kernel holds ino, which it
 * does during any request on it. */
struct tfs_inode *tfs_inodes_find(struct tfs_inodes *t, uint64_t ino);

#endif
