/* SPDX-License-Identifier: MIT */
/* The audit log (docs/audit.md): every tether exec is appended before the
 * command starts (who, where, what, with which limits, and the policy's
 * word) and completed after (how it ended, what it used), one JSON object
 * a line. Each line carries the SHA-256 of the previous line's hash and
 * its own text: an edited line breaks the chain after it, and a head file
 * beside the log (the last line's number and hash) tells a truncated log.
 * Appends hold a lock on the log, so concurrent commands interleave whole
 * lines. */
#ifndef TETHER_AUDIT_H
#define TETHER_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define EXEC_AUDIT_HASH_HEX 64

/* The log: $TETHER_AUDIT, else config_path (the config's "audit"), else
 * $XDG_STATE_HOME/tether/audit.log, else ~/.local/state/tether/audit.log.
 * 0, or -errno with err (no HOME, a relative path, too long). */
int exec_audit_path(const char *config_path, char *out, size_t cap, char *err,
		    size_t errlen);

/* Append rec (an object; "seq", "prev" and "hash" are added) under the
 * lock, and move the head. Not fsynced (each command would wait about
 * 10 ms on a journal; a crash may lose the last lines, which the check
 * then tells). 0, or -errno with err naming the log and the cause. */
int exec_audit_append(const char *path, json_t *rec, char *err, size_t errlen);

/* A fresh id tying a command's "start" to its "end": 16 hex digits. */
void exec_audit_id(char out[17]);

struct exec_audit_check {
	uint64_t records;  /* lines that verified */
	uint64_t bad_line; /* 1-based line of the first problem, 0: none */
	char what[256];	   /* the problem, or empty */
};

/* Walk the chain and compare its end with the head file. 0 when intact;
 * 1 with c->bad_line and c->what when not; -errno with err when the log
 * cannot be read. */
int exec_audit_verify(const char *path, struct exec_audit_check *c, char *err,
		      size_t errlen);

#endif
