/* SPDX-License-Identifier: MIT */
/* The vm backend's qemu provider: a microvm of the image tether vm image
 * made, booted by qemu in the background (KVM when a short probe shows
 * it works, TCG otherwise), its SSH on a port of 127.0.0.1 that qemu
 * forwards; one VM per id, kept while used and stopped once idle. */
#ifndef TETHER_VM_QEMU_H
#define TETHER_VM_QEMU_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

/* Where a running VM is reached. */
struct exec_vm_up {
	unsigned port;			 /* its sshd, on 127.0.0.1 */
	char key[PATH_MAX + 16];	 /* the client key to log in with */
	char known_hosts[PATH_MAX + 16]; /* a file with its host key */
};

/* VM id (HOME/vm/ID: its pid, port, console and logs) running with c's
 * image and resources: found running, or booted and waited for. Touches
 * its lease. 0 with *up, or -errno with err naming the cause (the image
 * missing, qemu failing, the console's last line). */
int exec_vm_qemu_up(const char *home, const char *id,
		    const struct exec_vm_conf *c, struct exec_vm_up *up,
		    char *err, size_t errlen);

/* Whether dir (HOME/vm/ID) has a qemu running; stop it. */
bool exec_vm_qemu_running(const char *dir);
void exec_vm_qemu_stop(const char *dir);

#endif
