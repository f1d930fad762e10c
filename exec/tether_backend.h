/* SPDX-License-Identifier: MIT */
/* The interface of a custom backend: a shared object that tether loads
 * with dlopen for a backend of type "plugin" (docs/config.md, "Custom
 * backends"). It exports one function, tether_backend_plugin(), returning
 * a table of this ABI version. Plain C types only: a plugin needs nothing
 * of tether but this file. */
#ifndef TETHER_BACKEND_PLUGIN_H
#define TETHER_BACKEND_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#define TETHER_BACKEND_ABI 1

/* One command. Everything is borrowed for the duration of run(). */
struct tether_plugin_cmd {
	char *const *argv;   /* NULL-terminated, at least one element */
	char *const *env;    /* "K=V" to add to the environment; may be empty */
	const char *cwd;     /* NULL: the plugin's default */
	uint32_t timeout_ms; /* 0: none; else the plugin ends the command */
	/* The caller's stdio: read the command's stdin from in_fd (-1: none,
	 * /dev/null), write its output to out_fd and err_fd. */
	int in_fd, out_fd, err_fd;
	/* A signalfd of SIGINT, SIGTERM and SIGHUP for the command (and
	 * SIGWINCH to ignore), or -1; poll it while the command runs. */
	int sig_fd;
};

struct tether_plugin_result {
	int exit_code;	  /* when signal is 0 */
	int signal;	  /* the signal that ended it, or 0 */
	int timed_out;	  /* non-zero: the timeout ended it */
	uint64_t wall_us; /* 0 when unknown */
	uint64_t user_us, sys_us, maxrss_kb;
};

struct tether_backend_plugin {
	uint32_t abi; /* TETHER_BACKEND_ABI */
	const char *name;
	/* Set up from the backend's "options" (JSON text, "{}" when none).
	 * 0 with *state, or a negative errno with one line in err. */
	int (*open)(const char *options, void **state, char *err,
		    size_t errlen);
	/* Run cmd to its end: 0 with *res filled, or a negative errno with
	 * one line in err (-ENOENT: no such program). */
	int (*run)(void *state, const struct tether_plugin_cmd *cmd,
		   struct tether_plugin_result *res, char *err, size_t errlen);
	void (*close)(void *state);
};

/* Exported by the plugin. */
const struct tether_backend_plugin *tether_backend_plugin(void);

#endif
