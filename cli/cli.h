/* SPDX-License-Identifier: MIT */
/* The tether command's subcommands: each parses its options and calls the
 * subsystem APIs; the return value is the process exit code. */
#ifndef TETHER_CLI_H
#define TETHER_CLI_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "codec.h"

/* A failure of tether itself, as ssh uses it. */
#define CLI_EXIT_FAILURE 255
/* Bad usage. */
#define CLI_EXIT_USAGE 2

int cli_node(int argc, char **argv);
int cli_exec(int argc, char **argv);
int cli_ps(int argc, char **argv);
int cli_attach(int argc, char **argv);
int cli_kill(int argc, char **argv);
int cli_sync(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_watch(int argc, char **argv);
int cli_mount(int argc, char **argv);
int cli_changes(int argc, char **argv);
int cli_pair(int argc, char **argv);
int cli_vm(int argc, char **argv);
int cli_reset(int argc, char **argv);
int cli_apply(int argc, char **argv);
int cli_audit(int argc, char **argv);

/* The config a command without --agent routing of its own reads: config
 * (--config), else the file where tether looks, else the environment
 * form. 0 with *ret, or -errno with err. */
struct exec_config;
int cli_config_open(const char *config, struct exec_config **ret, char *err,
		    size_t errlen);

/* The node URL and workspace the config (or the environment form) routes
 * agent to, copied out: --agent of tether changes and reset. 0, or
 * -errno said on stderr, as "CMD --agent ID: why". */
int cli_agent_route(const char *cmd, const char *config, const char *agent,
		    char *url, size_t ucap, char *ws, size_t wcap);

/* tether status without --node (status_agents.c): every agent of c and
 * its backend. 0 or -errno. */
int cli_status_agents(const struct exec_config *c, bool json);

/* tether exec's audit records (exec_audit.c): "start" before the command
 * runs, "end" after; a failure to write "start" keeps the command from
 * running. config_path: the config's "audit", or NULL. Each returns 0 or
 * -errno (said on stderr). */
struct cli_audit {
	char path[PATH_MAX];
	char id[17];
	const char *agent, *backend;
};
int cli_audit_start(struct cli_audit *a, const char *config_path,
		    const char *agent, const struct exec_backend *b,
		    const struct exec_spec *spec, const char *policy);
int cli_audit_end(const struct cli_audit *a, const struct exec_result *res,
		  int run_error, int exit_code);

/* Around a command of agent in workspace (exec --agent --workspace), when
 * it is the agent's own and the config gives the agent a "dir", else
 * dir_else when not NULL (the sandbox backend's: the current directory)
 * (agent_sync.c). Before: sync the dir, so the command sees every edit
 * made before it started (the barrier): committed lazily where the node
 * has views, its chunks following in *bg (NULL: nothing follows) while
 * the command runs; cli_sync_end(*bg) after the command.
 * After, when the agent's backend has writeback "sync": apply the view's
 * changes to the dir and sync it.
 * 0 (also: nothing to do), 1 (conflicts, named on stderr), or -errno
 * (said on stderr). */
struct exec_config;
struct cli_sync_bg;
int cli_barrier(const struct exec_config *cfg, const char *agent,
		const char *workspace, const char *dir_else,
		struct cli_sync_bg **bg);
int cli_writeback(const struct exec_config *cfg, const char *agent,
		  const char *workspace, const char *dir_else);

/* tether sync ARGS up to its commit, for the barrier: after a lazy one
 * (--lazy) the chunks keep going, and the node's views get the ones they
 * wait for first, while the command runs; cli_sync_end() leaves what is
 * left to a tether sync in the background. 0 with *ret, or an exit code
 * (said on stderr). */
int cli_sync_begin(int argc, char **argv, struct cli_sync_bg **ret);
void cli_sync_end(struct cli_sync_bg *bg);

/* The barrier through a running tether watch (watch_barrier.c). The
 * watcher serves url (sd_source_watch_url()): cli_barrier_srv_fd() becomes
 * readable when a request waits; the watcher then commits what changed
 * and answers every waiting one with cli_barrier_srv_answer() (st: the
 * committed state; NULL: the error err). -EADDRINUSE when another watcher
 * serves url. */
struct cli_barrier_srv;
struct tp_sync_state;
int cli_barrier_serve(const char *url, struct cli_barrier_srv **ret);
int cli_barrier_srv_fd(const struct cli_barrier_srv *b);
/* Accept and read what the fd said is there: true when requests wait. */
bool cli_barrier_srv_take(struct cli_barrier_srv *b);
void cli_barrier_srv_answer(struct cli_barrier_srv *b, const char *ws,
			    const struct tp_sync_state *st, const char *err);
void cli_barrier_srv_free(struct cli_barrier_srv *b);
/* Ask the watcher at url, waiting up to ms: 0 with the version it
 * committed, or -errno (-ECONNREFUSED, -ENOENT: no watcher). */
int cli_barrier_ask(const char *url, unsigned ms, uint64_t *version);

/* tether mount (mount_upper.c): lower, the node's version of workspace
 * name, with the changes its view holds on top (WS_CHANGES, WS_READ over link):
 * *out (sealed, version lower->version + 1, initialised here) and the
 * pieces of the files commands wrote (fs/fetch.h), read by path when the
 * mount's reader asks. A node without a view: lower as it is. 0, or
 * -errno with err (errlen bytes) filled. */
struct tp_link;
struct sd_manifest;
struct fs_piece;
int cli_mount_merge(struct tp_link *link, const char *name,
		    const struct sd_manifest *lower, struct sd_manifest *out,
		    struct fs_piece **pieces, size_t *npieces, char *err,
		    size_t errlen);

/* ---- a view's changes (cmd_changes.c), shared with tether apply ---- */

struct tp_chan;
struct json_t;

/* Names of enum tp_change_kind and enum tp_change_type values. */
extern const char *const cli_change_kinds[4];
extern const char *const cli_change_types[4];

/* Bytes cli_path_show() may write: each byte as \xNN at worst, and NUL. */
#define CLI_PATH_SHOWN (TP_PATH_MAX * 4 + 1)

/* A path for a person, into out (CLI_PATH_SHOWN bytes): printable UTF-8 as
 * it is; control characters (C0, DEL, C1), bytes that are not UTF-8, and
 * the backslash as \xNN. Paths past TP_PATH_MAX bytes are cut there. */
void cli_path_show(const uint8_t *p, size_t n, char *out);

/* Set "path" in JSON object o; for a path that is not UTF-8 (JSON strings
 * must be), each stray byte becomes U+FFFD there and "path_hex" holds the
 * bytes, two lowercase hex digits each. 0 or -ENOMEM. */
int cli_json_path(struct json_t *o, const struct tp_bytes *path);

/* Called once per change, in path order; c (and its path) is valid for
 * the call only. 0 goes on; -errno stops the listing with that code. */
typedef int (*cli_change_fn)(void *opaque, const struct tp_ws_change *c);

/* Page through WS_CHANGES for workspace name on ch until the node says
 * there are no more, calling fn for each row. Checks each page starts
 * after the one before. 0, or -errno with err (errlen bytes) filled: a
 * link error, an ERROR reply (-its code), -EPROTO for a reply of the
 * wrong kind, or fn's code. Blocks: one node call per page. */
int cli_changes_fetch(struct tp_chan *ch, const char *name, cli_change_fn fn,
		      void *opaque, char *err, size_t errlen);

/* Discard what commands changed in workspace name's view on the node at
 * url (WS_RESET). 0, or -errno with err. */
int cli_reset_view(const char *url, const char *name, char *err, size_t errlen);

/* The exit code and messages for a finished command: 124 on timeout (with
 * "sandbox timeout exceeded after Ns"), 128+N for signal N, else its code.
 * With json, one JSON object with the status and usage goes to stderr;
 * with stats, a human line. */
int cli_report_result(const struct exec_result *res, uint32_t timeout_ms,
		      const char *backend, bool json, bool stats);

#endif
