/* SPDX-License-Identifier: MIT */
/* The tether command: dispatch to subcommands. */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "codec.h"
#include "log.h"
#include "sandbox.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
	bool keeps_heap; /* long-lived: see keep_heap() */
} commands[] = {
	{ "node", cli_node,
	  "serve commands: tether node --listen URL [--root DIR]", true },
	{ "exec", cli_exec, "run a command on a node or an agent's backend" },
	{ "vm", cli_vm,
	  "the vm backend's image and VMs: tether vm image, tether vm prune" },
	{ "pair", cli_pair,
	  "pair with a node on tls+tcp: tether pair --node URL --token TOKEN" },
	{ "ps", cli_ps, "list a node's commands: tether ps --node URL" },
	{ "attach", cli_attach,
	  "follow a command's output: tether attach --node URL ID" },
	{ "kill", cli_kill,
	  "signal a command: tether kill --node URL ID [SIG]" },
	{ "sync", cli_sync,
	  "mirror a directory: tether sync DIR --node URL --workspace NAME" },
	{ "watch", cli_watch,
	  "keep a node's copy current: tether watch DIR --node URL --workspace NAME",
	  true },
	{ "status", cli_status,
	  "a node's workspaces: tether status --node URL" },
	{ "mount", cli_mount,
	  "a node's workspace here, read-only: tether mount --node URL --workspace NAME DIR",
	  true },
	{ "changes", cli_changes,
	  "what commands changed in a workspace's view: tether changes --node URL --workspace NAME" },
	{ "reset", cli_reset,
	  "discard the changes in a workspace's view: tether reset --node URL --workspace NAME" },
	{ "apply", cli_apply,
	  "write a view's changes into the workspace: tether apply --node URL --workspace NAME DIR" },
	{ "audit", cli_audit,
	  "what tether exec ran, hash-chained: tether audit [--agent ID]; tether audit verify" },
};

/* Every sync builds a manifest of the whole tree (about 100 bytes an
 * entry, 10 MB at 87k files) and frees the previous one. glibc serves
 * blocks that size with a fresh mmap and gives them back on free, so each
 * sync paid a page fault per 4 KiB touched: 1.5 ms of work took 7 ms on
 * the 80k-file tree (bench/manifest-ops). A node or a watcher keeps such
 * blocks in its heap instead. */
static void keep_heap(void)
{
	mallopt(M_MMAP_THRESHOLD, 64 << 20);
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tether COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].help);
	fprintf(f,
		"\n'tether COMMAND --help' describes each. TETHER_LOG=debug logs more.\n");
}

int main(int argc, char **argv)
{
	log_init_from_env();
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	/* The sandbox helper a node starts (exec/sandbox.h): not for
	 * people, so not in the list. */
	if (strcmp(argv[1], "__sandbox") == 0)
		return exec_sandbox_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "--version") == 0) {
		printf("tether %s (protocol %u)\n", TETHER_VERSION, TP_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			if (commands[i].keeps_heap)
				keep_heap();
			/* No nng_fini(): it only joins nng's threads, which
			 * exit() ends anyway, and costs about 0.5 ms. */
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	log_error("unknown command '%s' (try tether --help)", argv[1]);
	return CLI_EXIT_USAGE;
}
