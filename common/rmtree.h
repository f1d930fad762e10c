/* SPDX-License-Identifier: MIT */
/* Remove a tree without following anything in it: the node's workspace
 * trees and views' upper layers, which commands may have filled with
 * symlinks and read-only directories. */
#ifndef TETHER_RMTREE_H
#define TETHER_RMTREE_H

/* Remove name under dfd, whatever it is (a directory with everything in
 * it); absent is fine. 0 or -errno. */
int util_rm_rf_at(int dfd, const char *name);

/* Remove everything in the directory open at fd, which is consumed (a
 * dup of a descriptor still in use is fine: it is rewound first). 0 or
 * -errno. */
int util_rm_dir_contents(int fd);

#endif
