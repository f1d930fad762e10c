/* SPDX-License-Identifier: MIT */
/* tether vm: the vm backend's image and VMs.
 *   tether vm image [--out DIR]   build the qemu provider's image from
 *                                 Debian packages (cli/tether-vm-image)
 *   tether vm prune               stop every VM no command holds */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "local_node.h"
#include "log.h"
#include "selfexe.h"
#include "vm_qemu.h"

static const char usage[] =
	"usage: tether vm image [--out DIR] [--kernel PACKAGE]\n"
	"       tether vm prune\n"
	"  image: a kernel and initramfs for the vm backend's qemu provider,\n"
	"         from Debian packages (default DIR: the sandbox home's\n"
	"         vm/image, where the backend looks)\n"
	"  prune: stop the VMs no command is using\n";

int cli_vm(int argc, char **argv)
{
	char home[PATH_MAX], url[PATH_MAX + 16], err[512], self[PATH_MAX];
	char script[PATH_MAX + 32] = "", out[PATH_MAX + 16];
	char *args[16];
	int k = 0, r;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	if (exec_local_node_paths(home, sizeof(home), url, sizeof(url), err,
				  sizeof(err)) < 0) {
		log_error("vm: %s", err);
		return CLI_EXIT_FAILURE;
	}
	if (strcmp(argv[1], "prune") == 0 && argc == 2) {
		printf("tether: vm: stopped %d VM(s)\n", exec_vm_reap(home, 0));
		return 0;
	}
	if (strcmp(argv[1], "image") != 0 || argc > 12) {
		fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	r = util_self_exe(self, sizeof(self));
	if (r >= 0)
		r = util_sibling_exe("tether-vm-image", script, sizeof(script));
	if (r < 0)
		return log_error_errno(r, "vm image: %s",
				       script[0] ? script : "/proc/self/exe"),
		       CLI_EXIT_FAILURE;
	snprintf(out, sizeof(out), "%s/vm/image", home);
	args[k++] = script;
	args[k++] = "--tether";
	args[k++] = self;
	args[k++] = "--out";
	args[k++] = out; /* a later --out wins */
	for (int i = 2; i < argc; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	execv(script, args);
	log_error_errno(-errno, "vm image: %s", script);
	return CLI_EXIT_FAILURE;
}
