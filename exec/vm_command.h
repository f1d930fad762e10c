/* SPDX-License-Identifier: MIT */
/* The vm backend's command provider: a VM that lifecycle templates of the
 * config start and stop (lima, orbstack, exe.dev, any VM with SSH). Each
 * runs through sh -c with TETHER_VM_ID set. "start" runs before each
 * connection (so it must be idempotent) and must leave the SSH endpoint
 * answering. "stop", when given, runs once the VM has been idle as long
 * as a qemu one may be, or at tether vm prune. HOME/vm/ID keeps the VM's
 * lease (as a qemu VM's) and, while it is up, its stop template. */
#ifndef TETHER_VM_COMMAND_H
#define TETHER_VM_COMMAND_H

#include <stdbool.h>

#include "backend.h"

/* Run c's start template for VM id, its state in dir (made), and
 * remember its stop template. 0, or -errno with the line logged
 * ("sandbox connection failed: vm ID: its start command failed ..."). */
int exec_vm_command_up(const char *dir, const char *id,
		       const struct exec_vm_conf *c);

/* Whether dir is a command provider's VM that is up, with a stop to run. */
bool exec_vm_command_running(const char *dir);

/* Run dir's stop template for VM id: 0 (it is down, and forgotten), or
 * -errno with the line logged (it stays, to be tried again). */
int exec_vm_command_stop(const char *dir, const char *id);

#endif
