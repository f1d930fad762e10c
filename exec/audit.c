/* SPDX-License-Identifier: MIT */
/* The hash-chained audit log (audit.h). A line is the compact JSON of a
 * record whose last two keys are "prev" (the previous line's hash) and
 * "hash": SHA-256 of prev's hex and of the line as it is without its
 * "hash" key, so the check needs no re-serialisation: it cuts the line. */
#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/sha256.h>

#include "cleanup.h"
#include "mkdirs.h"

#define TAIL	 ",\"hash\":\""
#define TAIL_LEN (sizeof(TAIL) - 1)
#define ZERO_HASH \
	"0000000000000000000000000000000000000000000000000000000000000000"
#define HEAD_MAX 128

int exec_audit_path(const char *config_path, char *out, size_t cap, char *err,
		    size_t errlen)
{
	const char *e = getenv("TETHER_AUDIT"), *x = getenv("XDG_STATE_HOME");
	const char *h = getenv("HOME");
	int n;

	if (e && *e)
		n = snprintf(out, cap, "%s", e);
	else if (config_path)
		n = snprintf(out, cap, "%s", config_path);
	else if (x && x[0] == '/')
		n = snprintf(out, cap, "%s/tether/audit.log", x);
	else if (h && h[0] == '/')
		n = snprintf(out, cap, "%s/.local/state/tether/audit.log", h);
	else {
		snprintf(err, errlen,
			 "audit log: no HOME to keep it in (set "
			 "TETHER_AUDIT)");
		return -ENOENT;
	}
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, errlen, "audit log: path too long");
		return -ENAMETOOLONG;
	}
	if (out[0] != '/') {
		snprintf(err, errlen, "audit log %s: not an absolute path",
			 out);
		return -EINVAL;
	}
	return 0;
}

void exec_audit_id(char out[17])
{
	uint64_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
	snprintf(out, 17, "%016llx", (unsigned long long)v);
}

static void sha_hex(const char *prev, const char *text, size_t len,
		    char out[EXEC_AUDIT_HASH_HEX + 1])
{
	mbedtls_sha256_context c;
	unsigned char d[32];

	mbedtls_sha256_init(&c);
	mbedtls_sha256_starts_ret(&c, 0);
	mbedtls_sha256_update_ret(&c, (const unsigned char *)prev,
				  EXEC_AUDIT_HASH_HEX);
	mbedtls_sha256_update_ret(&c, (const unsigned char *)text, len);
	mbedtls_sha256_finish_ret(&c, d);
	mbedtls_sha256_free(&c);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || !s[i])
			return false;
	return true;
}

/* Line (no newline) split into its record text (the line without its
 * hash, "}"-terminated, into text) and its hash. 0 or -EINVAL. */
static int cut(const char *line, size_t len, char **text,
	       char hash[EXEC_AUDIT_HASH_HEX + 1])
{
	size_t body;

	if (len < TAIL_LEN + EXEC_AUDIT_HASH_HEX + 3 || line[0] != '{' ||
	    memcmp(line + len - 2, "\"}", 2) != 0)
		return -EINVAL;
	body = len - 2 - EXEC_AUDIT_HASH_HEX - TAIL_LEN;
	if (memcmp(line + body, TAIL, TAIL_LEN) != 0 ||
	    !is_hex(line + body + TAIL_LEN, EXEC_AUDIT_HASH_HEX))
		return -EINVAL;
	memcpy(hash, line + body + TAIL_LEN, EXEC_AUDIT_HASH_HEX);
	hash[EXEC_AUDIT_HASH_HEX] = '\0';
	*text = malloc(body + 2);
	if (!*text)
		return -ENOMEM;
	memcpy(*text, line, body);
	(*text)[body] = '}';
	(*text)[body + 1] = '\0';
	return 0;
}

/* The head file: "SEQ HASH\n". 0, -ENOENT, or -EINVAL. */
static int head_read(const char *path, uint64_t *seq,
		     char hash[EXEC_AUDIT_HASH_HEX + 1])
{
	char name[PATH_MAX + 8], buf[HEAD_MAX];
	_cleanup_close_ int fd = -1;
	unsigned long long s;
	ssize_t n;

	snprintf(name, sizeof(name), "%s.head", path);
	fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %64s", &s, hash) != 2 ||
	    strlen(hash) != EXEC_AUDIT_HASH_HEX ||
	    !is_hex(hash, EXEC_AUDIT_HASH_HEX))
		return -EINVAL;
	*seq = s;
	return 0;
}

/* In place, one write of a fixed size: no file made or renamed per
 * command (that, with fsyncs, cost 19 ms a command on this disk). */
static int head_write(const char *path, uint64_t seq, const char *hash)
{
	char name[PATH_MAX + 8], buf[HEAD_MAX];
	int fd, r = 0;

	snprintf(name, sizeof(name), "%s.head", path);
	memset(buf, ' ', sizeof(buf));
	snprintf(buf, sizeof(buf) - 1, "%020llu %s", (unsigned long long)seq,
		 hash);
	buf[strlen(buf)] = ' ';
	buf[sizeof(buf) - 1] = '\n';
	fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		r = errno ? -errno : -EIO;
	close(fd);
	return r;
}

/* The last line's seq and hash from the log itself (the head file was
 * lost): 0 with both, 0 with seq 0 for an empty log, -errno. */
static int last_line(int fd, uint64_t *seq, char hash[EXEC_AUDIT_HASH_HEX + 1])
{
	_cleanup_free_ char *text = NULL;
	char buf[65536], line_hash[EXEC_AUDIT_HASH_HEX + 1];
	off_t end = lseek(fd, 0, SEEK_END), from;
	ssize_t n;
	char *nl, *start;
	json_t *o;

	*seq = 0;
	strcpy(hash, ZERO_HASH);
	if (end <= 0)
		return end < 0 ? -errno : 0;
	from = end > (off_t)sizeof(buf) - 1 ? end - (off_t)sizeof(buf) + 1 : 0;
	n = pread(fd, buf, (size_t)(end - from), from);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	nl = strrchr(buf, '\n');
	start = nl ? nl + 1 : buf;
	if (cut(start, strlen(start), &text, line_hash) < 0)
		return -EINVAL;
	o = json_loads(text, 0, NULL);
	if (!o || !json_is_integer(json_object_get(o, "seq"))) {
		json_decref(o);
		return -EINVAL;
	}
	*seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
	json_decref(o);
	strcpy(hash, line_hash);
	return 0;
}

int exec_audit_append(const char *path, json_t *rec, char *err, size_t errlen)
{
	char dir[PATH_MAX], prev[EXEC_AUDIT_HASH_HEX + 1],
		hash[EXEC_AUDIT_HASH_HEX + 1];
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL, *line = NULL;
	uint64_t seq;
	json_t *o = NULL;
	size_t len;
	char *slash;
	int r;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT) {
		/* The first record: its directory too. */
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if ((r = util_mkdirs(dir, 0700)) < 0)
				goto fail;
		}
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
			  0600);
	}
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		r = -errno;
		goto fail;
	}
	r = head_read(path, &seq, prev);
	if (r == -ENOENT) {
		_cleanup_close_ int rd = open(path, O_RDONLY | O_CLOEXEC);

		r = rd < 0 ? -errno : last_line(rd, &seq, prev);
	}
	if (r < 0) {
		snprintf(err, errlen,
			 "audit log %s: its head (the last record) does not "
			 "read: run tether audit verify",
			 path);
		return r;
	}
	o = json_pack("{s:I}", "seq", (json_int_t)(seq + 1));
	if (!o || json_object_update(o, rec) < 0 ||
	    json_object_set_new(o, "prev", json_string(prev)) < 0) {
		r = -ENOMEM;
		goto fail;
	}
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	o = NULL;
	if (!text) {
		r = -ENOMEM;
		goto fail;
	}
	len = strlen(text);
	sha_hex(prev, text, len, hash);
	if (asprintf(&line, "%.*s%s%s\"}\n", (int)(len - 1), text, TAIL, hash) <
	    0) {
		line = NULL;
		r = -ENOMEM;
		goto fail;
	}
	/* Not fsynced: a crash may lose the last lines, as any log's, and
	 * the check then says the head is ahead of the log. */
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		r = errno ? -errno : -EIO;
		goto fail;
	}
	r = head_write(path, seq + 1, hash);
	if (r < 0)
		goto fail;
	return 0;
fail:
	json_decref(o);
	snprintf(err, errlen, "audit log %s: %s", path, strerror(-r));
	return r;
}

static int bad(struct exec_audit_check *c, uint64_t line, const char *what)
{
	c->bad_line = line;
	snprintf(c->what, sizeof(c->what), "%s", what);
	return 1;
}

int exec_audit_verify(const char *path, struct exec_audit_check *c, char *err,
		      size_t errlen)
{
	char prev[EXEC_AUDIT_HASH_HEX + 1] = ZERO_HASH,
					hash[EXEC_AUDIT_HASH_HEX + 1],
					want[EXEC_AUDIT_HASH_HEX + 1], msg[128];
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t hseq;
	int r = 0, h;

	memset(c, 0, sizeof(*c));
	if (!f) {
		snprintf(err, errlen, "audit log %s: %s", path,
			 strerror(errno));
		return -errno;
	}
	while (r == 0 && (n = getline(&line, &cap, f)) >= 0) {
		uint64_t no = c->records + 1;
		char *text = NULL;
		json_t *o;

		if (n == 0 || line[n - 1] != '\n') {
			r = bad(c, no, "the last line is cut short");
			break;
		}
		line[--n] = '\0';
		if (cut(line, (size_t)n, &text, hash) < 0) {
			r = bad(c, no, "not a record of an audit log");
			break;
		}
		o = json_loads(text, 0, NULL);
		if (!o || !json_is_integer(json_object_get(o, "seq")) ||
		    (uint64_t)json_integer_value(json_object_get(o, "seq")) !=
			    no)
			r = bad(c, no,
				"out of sequence: a line was removed, added or "
				"edited");
		else if (!json_is_string(json_object_get(o, "prev")) ||
			 strcmp(json_string_value(json_object_get(o, "prev")),
				prev) != 0)
			r = bad(c, no,
				"does not follow the line before: a line was "
				"removed, added or edited");
		json_decref(o);
		if (r == 0) {
			sha_hex(prev, text, strlen(text), want);
			if (strcmp(want, hash) != 0)
				r = bad(c, no,
					"its hash does not match: the line "
					"was edited");
		}
		free(text);
		if (r == 0) {
			strcpy(prev, hash);
			c->records = no;
		}
	}
	free(line);
	fclose(f);
	if (r)
		return r;
	h = head_read(path, &hseq, hash);
	if (h == -ENOENT && c->records == 0)
		return 0;
	if (h < 0)
		return bad(c, c->records + 1,
			   h == -ENOENT
				   ? "its head file is gone: a cut log cannot "
				     "be told"
				   : "its head file does not read");
	if (hseq != c->records) {
		snprintf(msg, sizeof(msg),
			 "truncated: the head says %llu records, the log "
			 "holds %llu",
			 (unsigned long long)hseq,
			 (unsigned long long)c->records);
		return bad(c, c->records + 1, msg);
	}
	if (strcmp(hash, prev) != 0)
		return bad(c, c->records,
			   "the head's hash is not the last line's: the end "
			   "was replaced");
	return 0;
}
