/* SPDX-License-Identifier: MIT */
/* The tether wire codec: frames to and from struct tp_msg, and the bodies of
 * the exec messages (codec_sync.c and codec_ws.c have the others). Decoding
 * treats every byte as hostile; encoding refuses what the decoder would
 * refuse. */
#include "codec.h"
#include "codec_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[TP_TYPE_MAX_] = {
	[TP_ERROR] = "ERROR",
	[TP_OK] = "OK",
	[TP_EXEC_START] = "EXEC_START",
	[TP_EXEC_STARTED] = "EXEC_STARTED",
	[TP_EXEC_READ] = "EXEC_READ",
	[TP_EXEC_OUTPUT] = "EXEC_OUTPUT",
	[TP_EXEC_WRITE] = "EXEC_WRITE",
	[TP_EXEC_SIGNAL] = "EXEC_SIGNAL",
	[TP_EXEC_RESIZE] = "EXEC_RESIZE",
	[TP_EXEC_LIST] = "EXEC_LIST",
	[TP_EXEC_TABLE] = "EXEC_TABLE",
	[TP_SYNC_BEGIN] = "SYNC_BEGIN",
	[TP_SYNC_STATE] = "SYNC_STATE",
	[TP_SYNC_OFFER] = "SYNC_OFFER",
	[TP_SYNC_NEED] = "SYNC_NEED",
	[TP_SYNC_WANT] = "SYNC_WANT",
	[TP_SYNC_PUT] = "SYNC_PUT",
	[TP_SYNC_COMMIT] = "SYNC_COMMIT",
	[TP_SYNC_STATUS] = "SYNC_STATUS",
	[TP_SYNC_TABLE] = "SYNC_TABLE",
	[TP_PING] = "PING",
	[TP_SYNC_FETCH] = "SYNC_FETCH",
	[TP_SYNC_MANIFEST] = "SYNC_MANIFEST",
	[TP_SYNC_GET] = "SYNC_GET",
	[TP_SYNC_CHUNKS] = "SYNC_CHUNKS",
	[TP_WS_CHANGES] = "WS_CHANGES",
	[TP_WS_CHANGED] = "WS_CHANGED",
	[TP_WS_RESET] = "WS_RESET",
	[TP_WS_READ] = "WS_READ",
	[TP_WS_DATA] = "WS_DATA",
	[TP_SYNC_SERVE] = "SYNC_SERVE",
	[TP_SYNC_FILL] = "SYNC_FILL",
	[TP_SYNC_ASK] = "SYNC_ASK",
	[TP_SYNC_DEFINE] = "SYNC_DEFINE",
	[TP_PAIR] = "PAIR",
	[TP_PAIRED] = "PAIRED",
};

/* Signals the node may deliver: Linux numbers 1..SIGRTMAX (64). */
#define SIGNO_MIN 1
#define SIGNO_MAX 64

const char *tp_type_name(uint16_t type)
{
	if (type < TP_TYPE_MAX_ && type_names[type])
		return type_names[type];
	return "unknown";
}

/* Byte assembly rather than casts: frames sit at any alignment and the
 * wire order is little-endian whatever the host is. */
static uint64_t load_le(const uint8_t *p, unsigned width)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < width; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static int32_t to_i32(uint32_t u)
{
	int32_t v;

	/* memcpy keeps the two's-complement reinterpretation well defined. */
	memcpy(&v, &u, sizeof(v));
	return v;
}

/* ---- decoding ---- */

static void appendf(char *buf, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void appendf(char *buf, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*n >= cap)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n += (size_t)k;
}

/* Formatting only happens on failure, so the success path costs nothing. */
int tpc_fail(struct rd *r, int code, const char *field, int idx,
	     const char *fmt, ...)
{
	char *w;
	size_t cap, n = 0;
	va_list ap;

	if (!r->err)
		return code;
	w = r->err->what;
	cap = sizeof(r->err->what);
	appendf(w, cap, &n, "%s", r->msg);
	if (r->entry >= 0)
		appendf(w, cap, &n, "[%d]", r->entry);
	if (field)
		appendf(w, cap, &n, ".%s", field);
	if (idx >= 0)
		appendf(w, cap, &n, "[%d]", idx);
	appendf(w, cap, &n, ": ");
	if (n < cap) {
		va_start(ap, fmt);
		vsnprintf(w + n, cap - n, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int get_le(struct rd *r, const char *field, unsigned width,
		  uint64_t *out)
{
	/* *out is written even on failure: callers test k < 0, and the
	 * compiler cannot see that tpc_fail() never returns 0. */
	*out = 0;
	if (width > r->len - r->pos)
		return tpc_fail(r, -EPROTO, field, -1,
				"truncated (needs %u bytes, %" PRIu32 " left)",
				width, r->len - r->pos);
	*out = load_le(r->p + r->pos, width);
	r->pos += width;
	return 0;
}

int tpc_get_u8(struct rd *r, const char *field, uint8_t *out)
{
	uint64_t v;
	int k = get_le(r, field, 1, &v);

	*out = (uint8_t)v;
	return k;
}

static int get_u16(struct rd *r, const char *field, uint16_t *out)
{
	uint64_t v;
	int k = get_le(r, field, 2, &v);

	*out = (uint16_t)v;
	return k;
}

int tpc_get_u32(struct rd *r, const char *field, uint32_t *out)
{
	uint64_t v;
	int k = get_le(r, field, 4, &v);

	*out = (uint32_t)v;
	return k;
}

static int get_i32(struct rd *r, const char *field, int32_t *out)
{
	uint64_t v;
	int k = get_le(r, field, 4, &v);

	*out = to_i32((uint32_t)v);
	return k;
}

int tpc_get_u64(struct rd *r, const char *field, uint64_t *out)
{
	return get_le(r, field, 8, out);
}

int tpc_get_bool(struct rd *r, const char *field, uint8_t *out)
{
	int k = tpc_get_u8(r, field, out);

	if (k == 0 && *out > 1)
		return tpc_fail(r, -EPROTO, field, -1, "%u is not 0 or 1",
				*out);
	return k;
}

/* u32 length + bytes. The cap is checked on the length alone, before the
 * bytes are looked at, so an oversized field is -EMSGSIZE even when the
 * frame is cut short. Text fields (nul_ok false) may not contain NUL. */
int tpc_get_blob(struct rd *r, const char *field, int idx, uint32_t cap,
		 bool nul_ok, struct tp_bytes *out)
{
	uint64_t n;

	if (4 > r->len - r->pos)
		return tpc_fail(r, -EPROTO, field, idx, "truncated length");
	n = load_le(r->p + r->pos, 4);
	if (n > cap)
		return tpc_fail(r, -EMSGSIZE, field, idx,
				"%" PRIu64 " bytes, over the %" PRIu32
				"-byte cap",
				n, cap);
	if (n > r->len - r->pos - 4)
		return tpc_fail(r, -EPROTO, field, idx,
				"%" PRIu64 " bytes claimed, %" PRIu32 " left",
				n, r->len - r->pos - 4);
	r->pos += 4;
	out->ptr = r->p + r->pos;
	out->len = (uint32_t)n;
	r->pos += (uint32_t)n;
	if (!nul_ok && n > 0 && memchr(out->ptr, 0, n))
		return tpc_fail(r, -EPROTO, field, idx, "string contains NUL");
	return 0;
}

int tpc_get_str(struct rd *r, const char *field, int idx, uint32_t cap,
		struct tp_bytes *out)
{
	return tpc_get_blob(r, field, idx, cap, false, out);
}

enum strv_kind {
	STRV_ARGV, /* at least one element, none empty */
	STRV_ENV,  /* each "NAME=value" with a non-empty NAME */
};

static int get_strv(struct rd *r, const char *field, enum strv_kind kind,
		    struct tp_strv *out)
{
	uint32_t count, start;
	struct tp_bytes s = { 0 }; /* -O3 cannot see get_str sets it */
	const uint8_t *eq;
	int k;

	k = tpc_get_u32(r, field, &count);
	if (k < 0)
		return k;
	if (count > TP_STRV_MAX)
		return tpc_fail(r, -EMSGSIZE, field, -1,
				"%" PRIu32 " strings over the %u cap", count,
				TP_STRV_MAX);
	if (kind == STRV_ARGV && count == 0)
		return tpc_fail(r, -EPROTO, field, -1,
				"empty list (no program)");
	start = r->pos;
	for (uint32_t i = 0; i < count; i++) {
		k = tpc_get_str(r, field, (int)i, TP_STR_MAX, &s);
		if (k < 0)
			return k;
		if (kind == STRV_ARGV && s.len == 0)
			return tpc_fail(r, -EPROTO, field, (int)i,
					"empty string");
		if (kind == STRV_ENV) {
			eq = s.len ? memchr(s.ptr, '=', s.len) : NULL;
			if (!eq || eq == s.ptr)
				return tpc_fail(r, -EPROTO, field, (int)i,
						"not NAME=value");
		}
	}
	out->ptr = r->p + start;
	out->size = r->pos - start;
	out->count = count;
	return 0;
}

static int get_exit(struct rd *r, struct tp_exit *e)
{
	int k;

	if ((k = get_i32(r, "exit.code", &e->code)) < 0 ||
	    (k = get_i32(r, "exit.signal", &e->signal)) < 0 ||
	    (k = tpc_get_bool(r, "exit.timed_out", &e->timed_out)) < 0 ||
	    (k = tpc_get_u64(r, "exit.wall_us", &e->wall_us)) < 0 ||
	    (k = tpc_get_u64(r, "exit.user_us", &e->user_us)) < 0 ||
	    (k = tpc_get_u64(r, "exit.sys_us", &e->sys_us)) < 0 ||
	    (k = tpc_get_u64(r, "exit.maxrss_kb", &e->maxrss_kb)) < 0 ||
	    (k = tpc_get_u8(r, "exit.limits", &e->limits)) < 0)
		return k;
	if (e->limits & ~TP_LIMIT_ALL_)
		return tpc_fail(r, -EPROTO, "exit.limits", -1,
				"unknown bits 0x%x",
				(unsigned)(e->limits & ~TP_LIMIT_ALL_));
	return tpc_get_u32(r, "exit.files_changed", &e->files_changed);
}

static int get_flags(struct rd *r, const char *field, uint32_t *out)
{
	int k = tpc_get_u32(r, field, out);

	if (k == 0 && (*out & ~(uint32_t)TP_EXEC_F_ALL_))
		return tpc_fail(r, -EPROTO, field, -1,
				"unknown bits 0x%" PRIx32,
				*out & ~(uint32_t)TP_EXEC_F_ALL_);
	return k;
}

static int get_state(struct rd *r, uint8_t *out)
{
	int k = tpc_get_u8(r, "state", out);

	if (k == 0 && *out != TP_STATE_RUNNING && *out != TP_STATE_EXITED)
		return tpc_fail(r, -EPROTO, "state", -1, "unknown state %u",
				*out);
	return k;
}

static bool exit_is_zero(const struct tp_exit *e)
{
	return !e->code && !e->signal && !e->timed_out && !e->wall_us &&
	       !e->user_us && !e->sys_us && !e->maxrss_kb && !e->limits &&
	       !e->files_changed;
}

/* One EXEC_TABLE entry. The exit block is always on the wire and must be
 * all zeros for a running command: one canonical encoding per table. */
static int get_entry(struct rd *r, struct tp_exec_entry *e)
{
	int k;

	if ((k = tpc_get_u64(r, "id", &e->id)) < 0 ||
	    (k = get_i32(r, "pid", &e->pid)) < 0 ||
	    (k = get_flags(r, "flags", &e->flags)) < 0 ||
	    (k = get_state(r, &e->state)) < 0 ||
	    (k = get_exit(r, &e->exit)) < 0)
		return k;
	if (e->state == TP_STATE_RUNNING && !exit_is_zero(&e->exit))
		return tpc_fail(r, -EPROTO, "exit", -1,
				"set on a running command");
	if ((k = tpc_get_u64(r, "started_ms", &e->started_ms)) < 0 ||
	    (k = tpc_get_str(r, "cmdline", -1, TP_STR_MAX, &e->cmdline)) < 0)
		return k;
	return 0;
}

/* A table: u32 count (at most cap), then count entries, each checked with
 * get() and left raw in the frame for the caller to iterate. */
int tpc_get_rows(struct rd *r, uint32_t cap, tpc_entry_fn get, void *scratch,
		 uint32_t *count, const uint8_t **ptr, uint32_t *size)
{
	uint32_t start;
	int k;

	k = tpc_get_u32(r, "count", count);
	if (k < 0)
		return k;
	if (*count > cap)
		return tpc_fail(r, -EMSGSIZE, "count", -1,
				"%" PRIu32 " entries over the %u cap", *count,
				cap);
	start = r->pos;
	for (uint32_t i = 0; i < *count; i++) {
		r->entry = (int)i;
		k = get(r, scratch);
		if (k < 0)
			return k;
	}
	r->entry = -1;
	*ptr = r->p + start;
	*size = r->pos - start;
	return 0;
}

/* The next row of a table decoded by tpc_get_rows(). */
bool tpc_next_row(const uint8_t *ptr, uint32_t size, const char *msg,
		  tpc_entry_fn get, uint32_t *pos, void *out)
{
	struct rd r;

	if (!pos || !out || !ptr || *pos >= size)
		return false;
	r = (struct rd){
		.p = ptr, .len = size, .pos = *pos, .msg = msg, .entry = -1
	};
	if (get(&r, out) < 0)
		return false;
	*pos = r.pos;
	return true;
}

static int get_entry_any(struct rd *r, void *out)
{
	return get_entry(r, out);
}

static int get_table(struct rd *r, struct tp_exec_table *t)
{
	struct tp_exec_entry e;

	t->entries = NULL;
	return tpc_get_rows(r, TP_TABLE_MAX, get_entry_any, &e, &t->count,
			    &t->ptr, &t->size);
}

bool tp_name_ok(const uint8_t *p, size_t n)
{
	if (n == 0 || n > TP_NAME_MAX || p[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return false;
	}
	return true;
}

/* A workspace or domain name; empty only where allowed. */
int tpc_get_name(struct rd *r, const char *field, bool empty_ok,
		 struct tp_bytes *out)
{
	int k = tpc_get_str(r, field, -1, TP_NAME_MAX, out);

	if (k < 0 || (empty_ok && out->len == 0))
		return k;
	if (!tp_name_ok(out->ptr, out->len))
		return tpc_fail(r, -EPROTO, field, -1,
				"not a name (1-%u of A-Z a-z 0-9 _ - ., not "
				"starting with '.')",
				TP_NAME_MAX);
	return 0;
}

int tpc_get_id(struct rd *r, const char *field, uint8_t out[TP_ID_SIZE])
{
	if (TP_ID_SIZE > r->len - r->pos)
		return tpc_fail(r, -EPROTO, field, -1, "truncated id");
	memcpy(out, r->p + r->pos, TP_ID_SIZE);
	r->pos += TP_ID_SIZE;
	return 0;
}

/* A path of a sandbox: empty, or absolute. */
static int get_sbx_path(struct rd *r, const char *field, struct tp_bytes *out)
{
	int k = tpc_get_str(r, field, -1, TP_STR_MAX, out);

	if (k == 0 && out->len && out->ptr[0] != '/')
		return tpc_fail(r, -EPROTO, field, -1, "not an absolute path");
	return k;
}

static int get_sandbox(struct rd *r, struct tp_sandbox *b)
{
	int k;

	if ((k = tpc_get_bool(r, "sandbox.net_host", &b->net_host)) < 0 ||
	    (k = tpc_get_u8(r, "sandbox.ws_mode", &b->ws_mode)) < 0)
		return k;
	if (b->ws_mode >= TP_SBX_WS_N_)
		return tpc_fail(r, -EPROTO, "sandbox.ws_mode", -1,
				"%u is not a mode (0..%u)", b->ws_mode,
				TP_SBX_WS_N_ - 1);
	if ((k = get_sbx_path(r, "sandbox.ws_src", &b->ws_src)) < 0 ||
	    (k = get_sbx_path(r, "sandbox.ws_at", &b->ws_at)) < 0 ||
	    (k = tpc_get_u64(r, "sandbox.memory", &b->memory)) < 0 ||
	    (k = tpc_get_u32(r, "sandbox.cpu_milli", &b->cpu_milli)) < 0 ||
	    (k = tpc_get_u32(r, "sandbox.pids", &b->pids)) < 0 ||
	    (k = tpc_get_u32(r, "sandbox.rl_set", &b->rl_set)) < 0)
		return k;
	if (b->cpu_milli > TP_SBX_CPU_MAX)
		return tpc_fail(r, -EPROTO, "sandbox.cpu_milli", -1,
				"%" PRIu32 " is over %u", b->cpu_milli,
				TP_SBX_CPU_MAX);
	if (b->rl_set >> TP_SBX_RL_N)
		return tpc_fail(r, -EPROTO, "sandbox.rl_set", -1,
				"unknown bits 0x%" PRIx32, b->rl_set);
	for (unsigned i = 0; i < TP_SBX_RL_N; i++)
		if ((k = tpc_get_u64(r, "sandbox.rl", &b->rl[i])) < 0)
			return k;
	return 0;
}

static int get_output(struct rd *r, struct tp_exec_output *o)
{
	int k;

	if ((k = tpc_get_u64(r, "out_off", &o->out_off)) < 0 ||
	    (k = tpc_get_blob(r, "out", -1, TP_DATA_MAX, true, &o->out)) < 0 ||
	    (k = tpc_get_u64(r, "err_off", &o->err_off)) < 0 ||
	    (k = tpc_get_blob(r, "err", -1, TP_DATA_MAX, true, &o->err)) < 0 ||
	    (k = get_state(r, &o->state)) < 0)
		return k;
	if (o->state == TP_STATE_EXITED)
		k = get_exit(r, &o->exit);
	return k;
}

static int decode_body(struct rd *r, struct tp_msg *m)
{
	int k = 0;

	switch (m->type) {
	case TP_ERROR:
		if ((k = get_i32(r, "code", &m->error.code)) < 0 ||
		    (k = tpc_get_str(r, "message", -1, TP_ERRMSG_MAX,
				     &m->error.message)) < 0)
			return k;
		break;
	case TP_OK: k = tpc_get_u64(r, "value", &m->ok); break;
	case TP_EXEC_START: {
		struct tp_exec_start *s = &m->start;

		if ((k = get_flags(r, "flags", &s->flags)) < 0 ||
		    (k = tpc_get_u32(r, "timeout_ms", &s->timeout_ms)) < 0 ||
		    (k = get_u16(r, "rows", &s->rows)) < 0 ||
		    (k = get_u16(r, "cols", &s->cols)) < 0 ||
		    (k = tpc_get_str(r, "cwd", -1, TP_STR_MAX, &s->cwd)) < 0 ||
		    (k = tpc_get_name(r, "workspace", true, &s->workspace)) <
			    0 ||
		    (k = get_strv(r, "argv", STRV_ARGV, &s->argv)) < 0 ||
		    (k = get_strv(r, "env", STRV_ENV, &s->env)) < 0)
			return k;
		if (s->flags & TP_EXEC_F_SANDBOX)
			k = get_sandbox(r, &s->sandbox);
		break;
	}
	case TP_EXEC_STARTED:
		if ((k = tpc_get_u64(r, "id", &m->started.id)) < 0 ||
		    (k = get_i32(r, "pid", &m->started.pid)) < 0)
			return k;
		/* The first output, when the START asked for it. */
		if ((k = tpc_get_bool(r, "has_output",
				      &m->started.has_output)) == 0 &&
		    m->started.has_output)
			k = get_output(r, &m->started.output);
		break;
	case TP_EXEC_READ: {
		struct tp_exec_read *q = &m->read;

		if ((k = tpc_get_u64(r, "id", &q->id)) < 0 ||
		    (k = tpc_get_u64(r, "out_off", &q->out_off)) < 0 ||
		    (k = tpc_get_u64(r, "err_off", &q->err_off)) < 0 ||
		    (k = tpc_get_u32(r, "wait_ms", &q->wait_ms)) < 0)
			return k;
		break;
	}
	case TP_EXEC_OUTPUT: k = get_output(r, &m->output); break;
	case TP_EXEC_WRITE: {
		struct tp_exec_write *w = &m->write;

		if ((k = tpc_get_u64(r, "id", &w->id)) < 0 ||
		    (k = tpc_get_u64(r, "in_off", &w->in_off)) < 0 ||
		    (k = tpc_get_blob(r, "data", -1, TP_DATA_MAX, true,
				      &w->data)) < 0 ||
		    (k = tpc_get_bool(r, "eof", &w->eof)) < 0)
			return k;
		break;
	}
	case TP_EXEC_SIGNAL:
		if ((k = tpc_get_u64(r, "id", &m->signal.id)) < 0 ||
		    (k = get_i32(r, "signo", &m->signal.signo)) < 0)
			return k;
		if (m->signal.signo < SIGNO_MIN || m->signal.signo > SIGNO_MAX)
			return tpc_fail(r, -EPROTO, "signo", -1,
					"%" PRId32 " is not a signal (%d..%d)",
					m->signal.signo, SIGNO_MIN, SIGNO_MAX);
		break;
	case TP_EXEC_RESIZE:
		if ((k = tpc_get_u64(r, "id", &m->resize.id)) < 0 ||
		    (k = get_u16(r, "rows", &m->resize.rows)) < 0 ||
		    (k = get_u16(r, "cols", &m->resize.cols)) < 0)
			return k;
		break;
	case TP_EXEC_LIST:
	case TP_PING: break;
	case TP_EXEC_TABLE: k = get_table(r, &m->table); break;
	case TP_WS_CHANGES:
	case TP_WS_CHANGED:
	case TP_WS_RESET:
	case TP_WS_READ:
	case TP_WS_DATA: k = tpc_decode_ws(r, m); break;
	case TP_PAIR:
	case TP_PAIRED: k = tpc_decode_pair(r, m); break;
	default: k = tpc_decode_sync(r, m); break;
	}
	return k;
}

int tp_msg_decode(const void *buf, size_t len, struct tp_msg *m,
		  struct tp_decode_err *err)
{
	const uint8_t *p = buf;
	struct rd r = { .msg = "frame", .entry = -1, .err = err };
	uint16_t version, type;
	uint32_t body;
	int k;

	if (!m)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	if (err) {
		err->peer_version = 0;
		err->what[0] = '\0';
	}
	if (!p || len < TP_HEADER_SIZE)
		return tpc_fail(&r, -EPROTO, NULL, -1,
				"%zu bytes, shorter than the %u-byte header",
				len, TP_HEADER_SIZE);
	if (memcmp(p, TP_MAGIC, 4) != 0)
		return tpc_fail(&r, -EPROTO, NULL, -1, "bad magic");

	/* The version comes before every other check on purpose: a newer peer
	 * may have changed anything after the header, and what it needs to
	 * hear is "version mismatch", not some confusing field error. */
	version = (uint16_t)load_le(p + 4, 2);
	if (version != TP_VERSION) {
		if (err) {
			err->peer_version = version;
			snprintf(err->what, sizeof(err->what),
				 "version %u (this side speaks %u)", version,
				 TP_VERSION);
		}
		return -EPROTONOSUPPORT;
	}
	if (len > TP_FRAME_MAX)
		return tpc_fail(&r, -EMSGSIZE, NULL, -1,
				"%zu bytes, over the %u-byte cap", len,
				TP_FRAME_MAX);
	type = (uint16_t)load_le(p + 6, 2);
	body = (uint32_t)load_le(p + 8, 4);
	if (body != len - TP_HEADER_SIZE)
		return tpc_fail(&r, -EPROTO, NULL, -1,
				"header says %" PRIu32
				" body bytes, frame has %zu",
				body, len - TP_HEADER_SIZE);
	if (type == 0 || type >= TP_TYPE_MAX_)
		return tpc_fail(&r, -EPROTO, NULL, -1,
				"unknown message type %u", type);

	m->version = version;
	m->type = type;
	r.p = p + TP_HEADER_SIZE;
	r.len = body;
	r.pos = 0;
	r.msg = type_names[type];
	k = decode_body(&r, m);
	if (k < 0)
		return k;
	if (r.pos != r.len)
		return tpc_fail(&r, -EPROTO, NULL, -1,
				"%" PRIu32
				" trailing bytes after the last field",
				r.len - r.pos);
	return 0;
}

bool tp_strv_next(const struct tp_strv *v, uint32_t *pos, struct tp_bytes *out)
{
	uint32_t n;

	if (!v || !pos || !out || !v->ptr || *pos > v->size ||
	    4 > v->size - *pos)
		return false;
	n = (uint32_t)load_le(v->ptr + *pos, 4);
	if (n > v->size - *pos - 4)
		return false;
	out->ptr = v->ptr + *pos + 4;
	out->len = n;
	*pos += 4 + n;
	return true;
}

char **tp_strv_dup(const struct tp_strv *v)
{
	struct tp_bytes s = { 0 }; /* -O3 cannot see get_str sets it */
	uint32_t pos = 0, n = 0;
	size_t bytes = 0;
	char **out, *dst;

	/* Sizes are bounded by the frame cap, so size_t cannot overflow. */
	while (n < v->count && tp_strv_next(v, &pos, &s)) {
		bytes += (size_t)s.len + 1;
		n++;
	}
	out = malloc(((size_t)n + 1) * sizeof(char *) + bytes);
	if (!out)
		return NULL;
	dst = (char *)(out + n + 1);
	pos = 0;
	for (uint32_t i = 0; i < n; i++) {
		tp_strv_next(v, &pos, &s);
		out[i] = dst;
		if (s.len)
			memcpy(dst, s.ptr, s.len);
		dst[s.len] = '\0';
		dst += (size_t)s.len + 1;
	}
	out[n] = NULL;
	return out;
}

bool tp_table_next(const struct tp_exec_table *t, uint32_t *pos,
		   struct tp_exec_entry *out)
{
	return t && tpc_next_row(t->ptr, t->size, "EXEC_TABLE", get_entry_any,
				 pos, out);
}

/* ---- encoding ---- */

static bool wr_room(struct wr *w, size_t n)
{
	if (w->r)
		return false;
	/* Stopping at the frame cap also keeps len far from SIZE_MAX. */
	if (n > TP_FRAME_MAX || w->len > TP_FRAME_MAX - n) {
		w->r = -EMSGSIZE;
		return false;
	}
	/* Only if the caller changed the message between the two passes. */
	if (w->p && n > w->cap - w->len) {
		w->r = -EINVAL;
		return false;
	}
	return true;
}

void tpc_put_raw(struct wr *w, const void *src, size_t n)
{
	if (!wr_room(w, n))
		return;
	if (w->p && n)
		memcpy(w->p + w->len, src, n);
	w->len += n;
}

bool tpc_list_ok(struct wr *w, uint32_t count, uint32_t cap, const void *items)
{
	if (w->r)
		return false;
	if (count > cap)
		w->r = -EMSGSIZE;
	else if (count && !items)
		w->r = -EINVAL;
	return !w->r;
}

void tpc_put_le(struct wr *w, uint64_t v, unsigned width)
{
	uint8_t b[8];

	for (unsigned i = 0; i < width; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	tpc_put_raw(w, b, width);
}

static void put_i32(struct wr *w, int32_t v)
{
	uint32_t u;

	memcpy(&u, &v, sizeof(u));
	tpc_put_le(w, u, 4);
}

static void put_blob(struct wr *w, const void *ptr, size_t n, uint32_t cap)
{
	if (w->r)
		return;
	if (n > cap) {
		w->r = -EMSGSIZE;
		return;
	}
	if (n && !ptr) {
		w->r = -EINVAL;
		return;
	}
	tpc_put_le(w, n, 4);
	tpc_put_raw(w, ptr, n);
}

void tpc_put_bytes(struct wr *w, const struct tp_bytes *b, uint32_t cap)
{
	put_blob(w, b->ptr, b->len, cap);
}

static void put_cstr(struct wr *w, const char *s, uint32_t cap)
{
	if (!s) {
		if (!w->r)
			w->r = -EINVAL;
		return;
	}
	/* strnlen: never walk further than one byte past the cap. */
	put_blob(w, s, strnlen(s, (size_t)cap + 1), cap);
}

static void put_cstrv(struct wr *w, const struct tp_cstrv *v)
{
	if (!tpc_list_ok(w, v->count, TP_STRV_MAX, v->v))
		return;
	tpc_put_le(w, v->count, 4);
	for (uint32_t i = 0; i < v->count; i++)
		put_cstr(w, v->v[i], TP_STR_MAX);
}

static void put_exit(struct wr *w, const struct tp_exit *e)
{
	put_i32(w, e->code);
	put_i32(w, e->signal);
	tpc_put_le(w, e->timed_out, 1);
	tpc_put_le(w, e->wall_us, 8);
	tpc_put_le(w, e->user_us, 8);
	tpc_put_le(w, e->sys_us, 8);
	tpc_put_le(w, e->maxrss_kb, 8);
	tpc_put_le(w, e->limits, 1);
	tpc_put_le(w, e->files_changed, 4);
}

static void put_sandbox(struct wr *w, const struct tp_sandbox *b)
{
	tpc_put_le(w, b->net_host, 1);
	tpc_put_le(w, b->ws_mode, 1);
	tpc_put_bytes(w, &b->ws_src, TP_STR_MAX);
	tpc_put_bytes(w, &b->ws_at, TP_STR_MAX);
	tpc_put_le(w, b->memory, 8);
	tpc_put_le(w, b->cpu_milli, 4);
	tpc_put_le(w, b->pids, 4);
	tpc_put_le(w, b->rl_set, 4);
	for (unsigned i = 0; i < TP_SBX_RL_N; i++)
		tpc_put_le(w, b->rl[i], 8);
}

static void put_table(struct wr *w, const struct tp_exec_table *t)
{
	static const struct tp_exit zero_exit;

	if (!tpc_list_ok(w, t->count, TP_TABLE_MAX, t->entries))
		return;
	tpc_put_le(w, t->count, 4);
	for (uint32_t i = 0; i < t->count && !w->r; i++) {
		const struct tp_exec_entry *e = &t->entries[i];

		tpc_put_le(w, e->id, 8);
		put_i32(w, e->pid);
		tpc_put_le(w, e->flags, 4);
		tpc_put_le(w, e->state, 1);
		/* The exit block of a running entry is zeros on the wire,
		 * whatever the caller left in it. */
		put_exit(w,
			 e->state == TP_STATE_RUNNING ? &zero_exit : &e->exit);
		tpc_put_le(w, e->started_ms, 8);
		tpc_put_bytes(w, &e->cmdline, TP_STR_MAX);
	}
}

static void put_output(struct wr *w, const struct tp_exec_output *o)
{
	tpc_put_le(w, o->out_off, 8);
	tpc_put_bytes(w, &o->out, TP_DATA_MAX);
	tpc_put_le(w, o->err_off, 8);
	tpc_put_bytes(w, &o->err, TP_DATA_MAX);
	tpc_put_le(w, o->state, 1);
	if (o->state == TP_STATE_EXITED)
		put_exit(w, &o->exit);
}

static void put_body(struct wr *w, const struct tp_msg *m)
{
	switch (m->type) {
	case TP_ERROR:
		put_i32(w, m->error.code);
		tpc_put_bytes(w, &m->error.message, TP_ERRMSG_MAX);
		break;
	case TP_OK: tpc_put_le(w, m->ok, 8); break;
	case TP_EXEC_START:
		tpc_put_le(w, m->start.flags, 4);
		tpc_put_le(w, m->start.timeout_ms, 4);
		tpc_put_le(w, m->start.rows, 2);
		tpc_put_le(w, m->start.cols, 2);
		tpc_put_bytes(w, &m->start.cwd, TP_STR_MAX);
		tpc_put_bytes(w, &m->start.workspace, TP_NAME_MAX);
		put_cstrv(w, &m->argv_c);
		put_cstrv(w, &m->env_c);
		if (m->start.flags & TP_EXEC_F_SANDBOX)
			put_sandbox(w, &m->start.sandbox);
		break;
	case TP_EXEC_STARTED:
		tpc_put_le(w, m->started.id, 8);
		put_i32(w, m->started.pid);
		tpc_put_le(w, m->started.has_output, 1);
		if (m->started.has_output)
			put_output(w, &m->started.output);
		break;
	case TP_EXEC_READ:
		tpc_put_le(w, m->read.id, 8);
		tpc_put_le(w, m->read.out_off, 8);
		tpc_put_le(w, m->read.err_off, 8);
		tpc_put_le(w, m->read.wait_ms, 4);
		break;
	case TP_EXEC_OUTPUT: put_output(w, &m->output); break;
	case TP_EXEC_WRITE:
		tpc_put_le(w, m->write.id, 8);
		tpc_put_le(w, m->write.in_off, 8);
		tpc_put_bytes(w, &m->write.data, TP_DATA_MAX);
		tpc_put_le(w, m->write.eof, 1);
		break;
	case TP_EXEC_SIGNAL:
		tpc_put_le(w, m->signal.id, 8);
		put_i32(w, m->signal.signo);
		break;
	case TP_EXEC_RESIZE:
		tpc_put_le(w, m->resize.id, 8);
		tpc_put_le(w, m->resize.rows, 2);
		tpc_put_le(w, m->resize.cols, 2);
		break;
	case TP_EXEC_LIST:
	case TP_PING: break;
	case TP_EXEC_TABLE: put_table(w, &m->table); break;
	case TP_WS_CHANGES:
	case TP_WS_CHANGED:
	case TP_WS_RESET:
	case TP_WS_READ:
	case TP_WS_DATA: tpc_put_ws(w, m); break;
	case TP_PAIR:
	case TP_PAIRED: tpc_put_pair(w, m); break;
	default: tpc_put_sync(w, m); break;
	}
}

ssize_t tp_msg_size(const struct tp_msg *m)
{
	struct wr measure = { .len = TP_HEADER_SIZE };

	if (!m || m->type == 0 || m->type >= TP_TYPE_MAX_)
		return -EINVAL;
	put_body(&measure, m);
	return measure.r ? measure.r : (ssize_t)measure.len;
}

int tp_msg_write(const struct tp_msg *m, uint8_t *buf, size_t len)
{
	struct wr out = { .p = buf, .cap = len };
	struct tp_msg check;
	int k;

	if (!m || !buf || len < TP_HEADER_SIZE)
		return -EINVAL;
	tpc_put_raw(&out, TP_MAGIC, 4);
	tpc_put_le(&out, TP_VERSION, 2);
	tpc_put_le(&out, m->type, 2);
	tpc_put_le(&out, len - TP_HEADER_SIZE, 4);
	put_body(&out, m);
	if (!out.r && out.len != len)
		out.r = -EINVAL;
	if (out.r)
		return out.r;

	/* The decoder is the single definition of a valid frame (flag bits,
	 * states, signals, NUL in text, argv and env shapes): run it rather
	 * than restate its rules, so a peer never receives a frame it must
	 * refuse. Sizes were refused by tp_msg_size, so what remains is
	 * -EINVAL. */
	k = tp_msg_decode(buf, len, &check, NULL);
	if (k < 0)
		return k == -EMSGSIZE ? -EMSGSIZE : -EINVAL;
	return 0;
}

ssize_t tp_msg_encode(const struct tp_msg *m, uint8_t **ret)
{
	ssize_t len = tp_msg_size(m);
	uint8_t *buf;
	int k;

	if (len < 0)
		return len;
	if (!ret)
		return -EINVAL;
	buf = malloc((size_t)len);
	if (!buf)
		return -ENOMEM;
	k = tp_msg_write(m, buf, (size_t)len);
	if (k < 0) {
		free(buf);
		return k;
	}
	*ret = buf;
	return len;
}

ssize_t tp_error_encode(int code, const char *message, uint8_t **ret)
{
	struct tp_msg m = { .type = TP_ERROR };
	size_t n;

	if (!message)
		message = "";
	/* A C string holds no NUL, so stripping NUL is done by strnlen;
	 * cutting at the cap backs off to a UTF-8 boundary (at most three
	 * continuation bytes) so the reader gets no half character. */
	n = strnlen(message, TP_ERRMSG_MAX);
	if (n == TP_ERRMSG_MAX && message[n] != '\0')
		for (int i = 0; i < 3 && n > 0 &&
				((unsigned char)message[n] & 0xc0) == 0x80;
		     i++)
			n--;
	/* The house convention returns -errno; the wire carries it positive. */
	m.error.code = code < 0 && code != INT32_MIN ? -code : code;
	m.error.message =
		(struct tp_bytes){ (const uint8_t *)message, (uint32_t)n };
	return tp_msg_encode(&m, ret);
}

ssize_t tp_error_vencode(int code, uint8_t **ret, const char *fmt, va_list ap)
{
	char text[TP_ERRMSG_MAX + 1];

	vsnprintf(text, sizeof(text), fmt, ap);
	return tp_error_encode(code, text, ret);
}
