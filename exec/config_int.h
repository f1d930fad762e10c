/* SPDX-License-Identifier: MIT */
/* The config loader's parts (config.c, config_scan.c, config_backend.c,
 * config_file.c): the schema's types and the walk's context. */
#ifndef TETHER_CONFIG_INT_H
#define TETHER_CONFIG_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define TIMEOUT_MAX_S (30u * 86400u) /* 30 days; also fits uint32_t ms */
#define PATH_CAP      256	     /* longer JSON paths are cut in errors */
#define MSG_CAP	      512

/* The schema. Each object kind is a table of known keys; cfg_scan rejects any
 * other key and any value of the wrong JSON type, and stores the accepted
 * values (borrowed from the tree) into a flat "raw" struct of json_t
 * pointers (cfg_scan). A row with sub set is a nested object scanned into the same raw
 * struct. To accept a new key: add a row and a slot, then read the slot. */
enum kind { K_STRING, K_NUMBER, K_OBJECT, K_ARRAY, K_SCALAR };

struct field {
	const char *key;
	enum kind kind;
	size_t slot;		 /* offsetof the json_t * in the raw struct */
	const struct field *sub; /* K_OBJECT scanned in place, or NULL */
};

#define SLOT(type, member) offsetof(struct type, member)

struct ctx {
	struct exec_config *c;
	char *err;
	size_t errlen;
	json_t *nodes;	  /* the "nodes" object, once checked; or NULL */
	json_t *backends; /* the "backends" object, once checked; or NULL */
	char path[PATH_CAP];
	size_t plen;
};

/* config_scan.c: the walk, errors, and values every part reads. */
void cfg_one_line(char *s);
size_t cfg_path_push(struct ctx *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends ".key" (or "key" first); the mark for cfg_path_pop. */
size_t cfg_path_key(struct ctx *x, const char *key);
void cfg_path_pop(struct ctx *x, size_t mark);
/* Writes "ORIGIN: PATH[.key]: message" to the error; returns -EINVAL. */
int cfg_fail(struct ctx *x, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int cfg_fail_oom(struct ctx *x);
int cfg_dup(struct ctx *x, const char *s, char **ret);
/* obj (at the current path) against fields; accepted values into raw. */
int cfg_scan(struct ctx *x, json_t *obj, const struct field *fields, void *raw);
int cfg_check_url(struct ctx *x, const char *key, const char *url);
/* The url of node name (checked by cfg_parse_node), or NULL. */
const char *cfg_node_url(struct ctx *x, const char *name);
int cfg_parse_seconds(struct ctx *x, const char *key, json_t *v, uint32_t *ret);
int cfg_parse_file(struct ctx *x, const char *key, json_t *v, char **out);
int cfg_parse_timeout(struct ctx *x, json_t *v, uint32_t *ret_ms);
int cfg_parse_name(struct ctx *x, const char *key, json_t *v, char **out);

/* config_backend.c: "backends" and "nodes" entries, and the settings
 * backends and agents share. */
int cfg_parse_node(struct ctx *x, const char *name, json_t *v, void *out);
int cfg_parse_backend(struct ctx *x, const char *name, json_t *v, void *out);
int cfg_check_backend_name(struct ctx *x, const char *name);
int cfg_sbx_set(struct ctx *x, const char *key, json_t *v,
		struct exec_sbx_conf *s);
int cfg_parse_sbx(struct ctx *x, json_t *limits, json_t *network, json_t *mount,
		  struct exec_sbx_conf *s);
int cfg_parse_scope(struct ctx *x, json_t *v, int *ret);
int cfg_parse_docker(struct ctx *x, json_t *image, json_t *host, json_t *scope,
		     struct exec_docker_conf *d);
/* The gateway form's sandbox.ssh object: an ssh backend's keys. */
int cfg_parse_ssh_object(struct ctx *x, json_t *obj, struct exec_ssh_conf *s);
/* "resources" of a vm: cpu (1 to 64), memory (at least 64m). */
int cfg_parse_resources(struct ctx *x, json_t *res, struct exec_vm_conf *v);

#endif
