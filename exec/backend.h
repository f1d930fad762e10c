/* SPDX-License-Identifier: MIT */
/* The backend interface: one const ops table per backend (host, node, and
 * later sandbox, docker, ssh, vm), selected by the router per agent. */
#ifndef TETHER_BACKEND_H
#define TETHER_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "runner.h"
#include "sandbox.h"

/* Capability mask: what a backend can do beyond run-and-wait. */
enum {
	EXEC_CAP_TTY = 1u << 0,	    /* -t: a pty with window size */
	EXEC_CAP_DETACH = 1u << 1,  /* --detach, ps, attach, kill */
	EXEC_CAP_REMOTE = 1u << 2,  /* runs off this host */
	EXEC_CAP_SANDBOX = 1u << 3, /* exec_spec.sandbox */
	/* runs on this user's own node on this host, which it starts: no
	 * url to give (local_node.h) */
	EXEC_CAP_LOCAL = 1u << 4,
};

/* One command to run. Everything is borrowed for the duration of run(). */
struct exec_spec {
	char *const *argv;     /* NULL-terminated, at least one element */
	char *const *env;      /* "K=V" added to the backend's environment */
	const char *cwd;       /* NULL: the backend's default */
	const char *workspace; /* a synced workspace to run in, or NULL */
	bool tty;
	bool detach;
	bool forward_stdin;  /* false: the command's stdin is /dev/null */
	uint32_t timeout_ms; /* 0: none */
	uint16_t rows, cols; /* initial window size for tty */
	/* in a namespace sandbox with these limits; NULL: none */
	const struct exec_sandbox_req *sandbox;
};

/* The caller's side of the streams. sig_fd, when >= 0, is a signalfd that
 * delivers SIGINT/SIGTERM/SIGHUP (forwarded to the command's process group)
 * and SIGWINCH (window size re-read from in_fd's terminal). */
struct exec_io {
	int in_fd, out_fd, err_fd;
	int sig_fd;
};

struct exec_result {
	struct exec_status status;
	bool timed_out; /* the timeout killed it (status.signal is the kill) */
	uint8_t limits; /* TP_LIMIT_*: the sandbox limits it ran into */
	uint64_t id;	/* detach: the command id on the backend */
	/* Output the command wrote, as it reached the caller; counted by
	 * backends that carry it (not host's and plugins', whose commands
	 * write to the caller's descriptors themselves). */
	bool counted;
	uint64_t out_bytes, err_bytes;
	/* Files the command changed in the workspace's view, when it ran in
	 * one: the node's count (exit block), or for docker, whose view is
	 * the local node's, counted here (upper_count.h) */
	bool files_known;
	uint32_t files_changed;
};

/* How long a docker backend's container lives. */
enum exec_scope {
	EXEC_SCOPE_SESSION = 0, /* across the agent's commands, until idle */
	EXEC_SCOPE_COMMAND = 1, /* one command: removed after it */
};

/* A docker backend's settings ("docker" in the config; docs/config.md).
 * Layered: the backend's, then the defaults', then the agent's, each
 * given field over the one before. */
struct exec_docker_conf {
	char *image;	    /* required */
	char *host;	    /* the engine: unix:///PATH, tcp://; NULL:
			     * $DOCKER_HOST, else /var/run/docker.sock */
	int scope;	    /* enum exec_scope, or -1: not given */
	uint32_t idle_s;    /* session scope: removed after this long
			     * unused; 0: not given (600) */
	uint32_t max_age_s; /* removed once this old; 0: not given (1 day) */
};

/* An ssh backend's settings (docs/config.md, "The ssh backend"). */
struct exec_ssh_conf {
	char *host;	    /* required */
	char *user;	    /* NULL: this user's name */
	char *key;	    /* a private key file; NULL: the agent, ~/.ssh */
	char *known_hosts;  /* NULL: ~/.ssh/known_hosts */
	char *remote_dir;   /* NULL: ~/.cache/tether on the remote */
	uint32_t port;	    /* 0: 22 */
	uint32_t timeout_s; /* connect; 0: 10 */
	bool accept_new;    /* strict_host_key "accept-new" */
};

/* A vm backend's settings (docs/config.md, "The vm backend"). Layered as
 * docker's: the backend's, the defaults', the agent's sandbox.vm. */
struct exec_vm_conf {
	char *provider;	 /* "qemu" (NULL: qemu) or "command" */
	char *image;	 /* qemu: what tether vm image made; NULL: the
			  * default, HOME/vm/image */
	uint32_t cpus;	 /* 0: not given (1) */
	uint64_t memory; /* bytes; 0: not given (1 GiB) */
	char *start;	 /* command: run (sh -c) before connecting */
	char *stop; /* command: run (sh -c) once the VM is idle or pruned */
	struct exec_ssh_conf ssh; /* command: the SSH endpoint it gives */
};

struct exec_backend;

struct exec_backend_ops {
	const char *type; /* "host", "node" */
	unsigned caps;	  /* EXEC_CAP_* */
	/* Create or connect; make the workspace visible. 0 or -errno, with
	 * the reason logged once. */
	int (*prepare)(struct exec_backend *b);
	/* Run one command to completion (or until detached): streams stdio,
	 * forwards signals, enforces spec->timeout_ms. Returns 0 with *res
	 * filled, or -errno for a failure of tether itself (logged once):
	 * -ENOENT when the program does not exist. */
	int (*run)(struct exec_backend *b, const struct exec_spec *spec,
		   const struct exec_io *io, struct exec_result *res);
	/* Undo prepare (ephemeral backends destroy their sandbox). */
	void (*release)(struct exec_backend *b);
	/* 0 when usable, -errno otherwise. */
	int (*health)(struct exec_backend *b);
};

struct exec_backend {
	const struct exec_backend_ops *ops;
	char *name; /* the config's name for it, or the type */
	char *url;  /* node: the node's URL; else NULL */
	void *priv; /* the backend's own state */
	bool prepared;
	/* docker: the agent it runs for (names and labels its container)
	 * and its settings; else NULL */
	char *agent;
	struct exec_docker_conf *docker;
	struct exec_ssh_conf *ssh; /* ssh: its settings; else NULL */
	/* plugin: the shared object, and its "options" as JSON text */
	char *plugin_path, *plugin_options;
	struct exec_vm_conf *vm; /* vm: its settings; else NULL */
	int hold_fd; /* vm: its lease, held while prepared; else -1 */
};

/* The built-in ops tables. */
extern const struct exec_backend_ops exec_backend_host_ops;
extern const struct exec_backend_ops exec_backend_node_ops;
extern const struct exec_backend_ops exec_backend_sandbox_ops;
extern const struct exec_backend_ops exec_backend_docker_ops;
extern const struct exec_backend_ops exec_backend_ssh_ops;
extern const struct exec_backend_ops exec_backend_plugin_ops;
extern const struct exec_backend_ops exec_backend_vm_ops;

/* The node backend's operations, for the backends that end in a node (the
 * sandbox's local one, an ssh host's, a VM's) once they have reached it. */
int exec_node_prepare(struct exec_backend *b);
int exec_node_run(struct exec_backend *b, const struct exec_spec *spec,
		  const struct exec_io *io, struct exec_result *res);
void exec_node_release(struct exec_backend *b);
int exec_node_health(struct exec_backend *b);

/* Look up a type name, with aliases ("off" and "none" are "host").
 * Returns the table or NULL. */
const struct exec_backend_ops *exec_backend_lookup(const char *type);

/* Make a backend instance of a type. name and url are copied (url required
 * for "node"; a "sandbox" gets its local node's). Returns 0 and *ret,
 * -EINVAL for an unknown type or missing url, -ENOMEM (-ENAMETOOLONG,
 * -ENOENT: no place for the local node). Does not prepare. */
int exec_backend_new(const char *type, const char *name, const char *url,
		     struct exec_backend **ret);

/* Give a docker backend its agent and settings (copied). 0, -ENOMEM. */
int exec_backend_set_docker(struct exec_backend *b, const char *agent,
			    const struct exec_docker_conf *conf);

/* Give an ssh backend its settings (copied). 0, -ENOMEM. */
int exec_backend_set_ssh(struct exec_backend *b,
			 const struct exec_ssh_conf *conf);

/* Frees the strings of c. */
void exec_ssh_conf_clear(struct exec_ssh_conf *c);

/* Give a plugin backend its shared object and options (copied; options
 * may be NULL). 0, -ENOMEM. */
int exec_backend_set_plugin(struct exec_backend *b, const char *path,
			    const char *options);

/* The url an ssh backend's commands reach its remote node at: the local
 * socket of its proxy (tether-ssh), ipc://HOME/ssh/HASH.sock, HOME the
 * local node's (local_node.h), HASH of the user, host, port, key and
 * remote directory. 0, or -errno with err. */
int exec_ssh_url(const struct exec_ssh_conf *c, char *url, size_t cap,
		 char *err, size_t errlen);

/* Give a vm backend its settings (copied). 0, -ENOMEM. */
int exec_backend_set_vm(struct exec_backend *b, const struct exec_vm_conf *c);
/* over onto base, each given field (strings borrowed). */
void exec_vm_conf_layer(struct exec_vm_conf *base,
			const struct exec_vm_conf *over);
void exec_vm_conf_clear(struct exec_vm_conf *c);
/* The url of vm id's node (through its ssh proxy): ipc://HOME/ssh/
 * vm-HASH.sock, the same across the VM's boots. 0, or -errno with err. */
int exec_vm_url(const char *id, char *url, size_t cap, char *err,
		size_t errlen);

#define EXEC_VM_IDLE_S 600 /* a VM nobody used this long is stopped */

/* Stop the VMs of either provider under HOME/vm whose lease is older than
 * idle_s (all with 0) and that no command holds. How many it stopped. */
int exec_vm_reap(const char *home, unsigned idle_s);

/* The ssh backend's proxy (tether-ssh) for c, answering at url (its
 * exec_ssh_url, or a vm backend's): started unless it answers. name is
 * the backend's, for errors. 0, or -errno logged. */
int exec_ssh_proxy_ensure(const struct exec_ssh_conf *c, const char *url,
			  const char *name);

/* over onto base: each field over gives. Strings borrowed from over. */
void exec_docker_conf_layer(struct exec_docker_conf *base,
			    const struct exec_docker_conf *over);

/* Frees the strings of c. */
void exec_docker_conf_clear(struct exec_docker_conf *c);

/* Run ops->prepare once; release then happens in exec_backend_free. */
int exec_backend_prepare(struct exec_backend *b);

/* Release (if prepared) and free. Accepts NULL. */
void exec_backend_free(struct exec_backend *b);

#endif
