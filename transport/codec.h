/* SPDX-License-Identifier: MIT */
/* The tether wire codec: every message on a link is one frame, a fixed
 * 12-byte header then a body of typed fields. See docs/protocol.md. */
#ifndef TETHER_CODEC_H
#define TETHER_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

/* Header: magic "TTHR", u16 version, u16 type, u32 body length (all LE).
 * The header layout and the ERROR body are frozen across versions so that a
 * peer of any version can read why it was refused. */
#define TP_MAGIC       "TTHR"
#define TP_VERSION     6
#define TP_HEADER_SIZE 12

/* Hard caps. A frame, string or list past them is refused with -EMSGSIZE
 * before any allocation. */
#define TP_FRAME_MAX	  (1u << 20)	/* whole frame, header included */
#define TP_STR_MAX	  (64u << 10)	/* one string (argv element, path) */
#define TP_STRV_MAX	  4096u		/* strings in one list */
#define TP_DATA_MAX	  (256u << 10)	/* one stream chunk in IO messages */
#define TP_TABLE_MAX	  1024u		/* entries in one EXEC_TABLE */
#define TP_ERRMSG_MAX	  1024u		/* text of an ERROR */
#define TP_BULK_MAX	  (1016u << 10) /* SYNC_OFFER.data, SYNC_PUT.pack */
#define TP_NAME_MAX	  64u		/* workspace and trust-domain names */
#define TP_WANT_MAX	  32768u	/* chunk ids in one SYNC_WANT */
#define TP_WSTAB_MAX	  1024u		/* entries in one SYNC_TABLE */
#define TP_ID_SIZE	  16u		/* a chunk or manifest id (XXH3-128) */
#define TP_GET_MAX	  1024u		/* chunk ids in one SYNC_GET */
#define TP_PATH_MAX	  4096u		/* a workspace path (as SD_PATH_MAX) */
#define TP_WSCHG_MAX	  4096u		/* rows in one WS_CHANGED */
#define TP_SERVE_WAIT_MAX 60000u	/* SYNC_SERVE.wait_ms */
/* WS_READ.max and WS_DATA.data: a piece of a file read back from a view.
 * As TP_BULK_MAX, so that a piece and the reply's other fields always fit
 * one frame (a whole MiB would not). */
#define TP_READ_MAX TP_BULK_MAX
#define TP_COMP_MAX 255u /* one component of a workspace path (NAME_MAX) */

enum tp_type {
	TP_ERROR = 1,	       /* reply: i32 errno, str message */
	TP_OK = 2,	       /* reply: u64 value */
	TP_EXEC_START = 3,     /* req: start a command */
	TP_EXEC_STARTED = 4,   /* reply: u64 id, i32 pid */
	TP_EXEC_READ = 5,      /* req: long poll for output and exit */
	TP_EXEC_OUTPUT = 6,    /* reply to READ */
	TP_EXEC_WRITE = 7,     /* req: stdin bytes; reply OK(accepted offset) */
	TP_EXEC_SIGNAL = 8,    /* req: signal the command's process group */
	TP_EXEC_RESIZE = 9,    /* req: pty window size */
	TP_EXEC_LIST = 10,     /* req: list commands */
	TP_EXEC_TABLE = 11,    /* reply to LIST */
	TP_SYNC_BEGIN = 12,    /* req: open a workspace -> SYNC_STATE */
	TP_SYNC_STATE = 13,    /* reply: a workspace's committed version */
	TP_SYNC_OFFER = 14,    /* req: a piece of a manifest delta */
	TP_SYNC_NEED = 15,     /* req: the next page of SYNC_WANT */
	TP_SYNC_WANT = 16,     /* reply: chunk ids the node lacks */
	TP_SYNC_PUT = 17,      /* req: a chunk pack; reply OK(new chunks) */
	TP_SYNC_COMMIT = 18,   /* req: make the offered version current */
	TP_SYNC_STATUS = 19,   /* req: list workspaces -> SYNC_TABLE */
	TP_SYNC_TABLE = 20,    /* reply to STATUS */
	TP_PING = 21,	       /* req: is the node answering? -> OK(version) */
	TP_SYNC_FETCH = 22,    /* req: a page of a committed manifest */
	TP_SYNC_MANIFEST = 23, /* reply to FETCH */
	TP_SYNC_GET = 24,      /* req: chunks by id -> SYNC_CHUNKS */
	TP_SYNC_CHUNKS = 25,   /* reply to GET: a chunk pack */
	TP_WS_CHANGES = 26,    /* req: a page of a view's changes */
	TP_WS_CHANGED = 27,    /* reply to CHANGES */
	TP_WS_RESET = 28,      /* req: discard a view's changes -> OK */
	TP_WS_READ = 29,       /* req: one changed entry of a view */
	TP_WS_DATA = 30,       /* reply to WS_READ */
	TP_SYNC_SERVE = 31,    /* req: long poll for chunks a view waits on */
	TP_SYNC_FILL = 32,     /* req: chunks for a workspace -> OK(new) */
	TP_SYNC_ASK = 33,      /* reply to SERVE: define this pending file */
	TP_SYNC_DEFINE = 34,   /* req: a pending file's chunks -> SYNC_WANT */
	TP_PAIR = 35,	       /* req: pair this client (tls+tcp) -> PAIRED */
	TP_PAIRED = 36,	       /* reply to PAIR: the node's authority, a cert */
	TP_TYPE_MAX_ = 37,
};

/* A view into a decoded frame: not NUL-terminated, valid while the frame's
 * bytes are. Strings never contain NUL (the decoder refuses them). */
struct tp_bytes {
	const uint8_t *ptr;
	uint32_t len;
};

/* A list of strings as it sits in the frame: count, then (u32 len, bytes)
 * each. The decoder has already checked every element; iterate with
 * tp_strv_next(). */
struct tp_strv {
	const uint8_t *ptr; /* first element's length prefix */
	uint32_t size;	    /* bytes from ptr to the end of the list */
	uint32_t count;
};

/* For encoding, lists are plain arrays of C strings. */
struct tp_cstrv {
	const char *const *v;
	uint32_t count;
};

enum {
	TP_EXEC_F_TTY = 1u << 0,    /* run under a pty; stderr joins stdout */
	TP_EXEC_F_DETACH = 1u << 1, /* survives its client; ring may drop */
	TP_EXEC_F_STDIN = 1u << 2,  /* client sends stdin; else /dev/null */
	/* STARTED waits for the first output or the exit (a short while at
	 * most) and carries them: a short command costs one round trip */
	TP_EXEC_F_FIRST = 1u << 3,
	/* in a namespace sandbox, as .sandbox says */
	TP_EXEC_F_SANDBOX = 1u << 4,
	TP_EXEC_F_ALL_ = 0x1fu,
};

/* Which limit of its sandbox a command ran into (tp_exit.limits). */
enum {
	TP_LIMIT_MEMORY = 1u << 0, /* the cgroup's OOM killer fired */
	TP_LIMIT_PIDS = 1u << 1,   /* a fork failed at the pids limit */
	TP_LIMIT_ALL_ = 0x3u,
};

/* How a sandbox shows the workspace. */
enum {
	TP_SBX_WS_COW = 0,  /* writable; writes land in the view's upper */
	TP_SBX_WS_RO = 1,   /* read-only */
	TP_SBX_WS_RW = 2,   /* writable, writes reach ws_src */
	TP_SBX_WS_NONE = 3, /* absent */
	TP_SBX_WS_N_ = 4,
};

#define TP_SBX_RL_N    4	      /* nofile, nproc, fsize, core */
#define TP_SBX_CPU_MAX (4096u * 1000) /* cpu_milli */

/* EXEC_START's sandbox (TP_EXEC_F_SANDBOX; docs/protocol.md). */
struct tp_sandbox {
	uint8_t net_host; /* 0: a network namespace of its own, lo only */
	uint8_t ws_mode;  /* TP_SBX_WS_* */
	/* empty: the START's workspace (its view or tree), if any; else an
	 * absolute directory on the node */
	struct tp_bytes ws_src;
	struct tp_bytes ws_at; /* empty: where ws_src is; else absolute */
	uint64_t memory;       /* bytes; 0: no limit */
	uint32_t cpu_milli;    /* CPUs x 1000; 0: no limit */
	uint32_t pids;	       /* 0: no limit */
	uint32_t rl_set; /* bit i: rl[i] set (nofile, nproc, fsize, core) */
	uint64_t rl[TP_SBX_RL_N];
};

enum tp_exec_state {
	TP_STATE_RUNNING = 0,
	TP_STATE_EXITED = 1,
};

/* How a finished command ended, with its resource usage. */
struct tp_exit {
	int32_t code;	   /* exit status when signal == 0 */
	int32_t signal;	   /* terminating signal, 0 if it exited */
	uint8_t timed_out; /* killed by the node's timeout */
	uint64_t wall_us;
	uint64_t user_us;
	uint64_t sys_us;
	uint64_t maxrss_kb;
	uint8_t limits; /* TP_LIMIT_*: the sandbox limits it ran into */
	/* Files the command changed in its workspace's view (created,
	 * modified, removed); TP_FILES_UNKNOWN when it ran in no view. */
	uint32_t files_changed;
};

#define TP_FILES_UNKNOWN UINT32_MAX

struct tp_exec_start {
	uint32_t flags;	     /* TP_EXEC_F_* */
	uint32_t timeout_ms; /* 0: none */
	uint16_t rows, cols; /* pty size when TTY */
	struct tp_bytes cwd; /* empty: the node's default */
	/* empty: none; else cwd is relative to this workspace's tree and may
	 * not leave it */
	struct tp_bytes workspace;
	struct tp_strv argv; /* at least one element */
	struct tp_strv env;  /* "K=V" each, added to the node's environment */
	struct tp_sandbox sandbox; /* when flags has TP_EXEC_F_SANDBOX */
};

struct tp_exec_read {
	uint64_t id;
	uint64_t out_off; /* client has stdout bytes [0, out_off) */
	uint64_t err_off;
	uint32_t wait_ms; /* longest the node may hold the request */
};

struct tp_exec_output {
	uint64_t out_off; /* offset of out.ptr[0]; > requested when dropped */
	struct tp_bytes out;
	uint64_t err_off;
	struct tp_bytes err;
	uint8_t state;	     /* enum tp_exec_state; EXITED only once drained */
	struct tp_exit exit; /* valid when state == EXITED */
};

struct tp_exec_write {
	uint64_t id;
	uint64_t in_off; /* offset of data.ptr[0] in the stdin stream */
	struct tp_bytes data;
	uint8_t eof; /* close the command's stdin after data */
};

struct tp_exec_signal {
	uint64_t id;
	int32_t signo;
};

struct tp_exec_resize {
	uint64_t id;
	uint16_t rows, cols;
};

struct tp_exec_started {
	uint64_t id;
	int32_t pid;
	/* Set (and output valid) in a reply to a START with TP_EXEC_F_FIRST:
	 * what an EXEC_READ from offsets 0 would have returned. */
	uint8_t has_output;
	struct tp_exec_output output;
};

struct tp_exec_entry {
	uint64_t id;
	int32_t pid;
	uint32_t flags;
	uint8_t state;
	struct tp_exit exit;	 /* valid when EXITED */
	uint64_t started_ms;	 /* unix epoch milliseconds */
	struct tp_bytes cmdline; /* argv joined by spaces, capped */
};

struct tp_exec_table {
	uint32_t count;
	/* Decode: raw entries, read with tp_table_next(). Encode: entries. */
	const uint8_t *ptr;
	uint32_t size;
	const struct tp_exec_entry *entries;
};

/* ---- sync (docs/protocol.md, "Workspace sync") ---- */

struct tp_sync_begin {
	struct tp_bytes workspace; /* a name: [A-Za-z0-9_.-], not leading '.' */
	struct tp_bytes domain;	   /* chunk store to use; empty: workspace */
	/* The source's directory, absolute, with its st_dev and st_ino: a
	 * node on the same host that sees that very directory there (and
	 * serves views) reads file bytes from it (passthrough) instead of
	 * asking for chunks. Empty: a source elsewhere. */
	struct tp_bytes dir;
	uint64_t dir_dev, dir_ino;
};

struct tp_sync_state {
	uint64_t version; /* 0: nothing committed yet */
	uint8_t root[TP_ID_SIZE];
	uint64_t files;	       /* entries that are not directories */
	uint64_t bytes;	       /* sum of file sizes */
	uint64_t committed_ms; /* unix epoch ms of the commit; 0: never */
	/* Chunks of this version the node does not hold yet (a lazy
	 * commit's, still arriving); 0: every byte is there. */
	uint64_t missing;
};

struct tp_sync_offer {
	struct tp_bytes workspace;
	uint64_t session; /* chosen by the client, nonzero */
	uint64_t offset;  /* of data in the encoded delta */
	uint64_t total;	  /* length of the encoded delta */
	struct tp_bytes data;
};

struct tp_sync_need {
	uint64_t session;
	uint64_t index; /* first wanted id to return */
};

struct tp_sync_want {
	uint64_t session;
	uint64_t total;	    /* ids wanted in all */
	uint64_t index;	    /* of ids[0] in the whole list */
	uint32_t count;	    /* ids here, at most TP_WANT_MAX */
	const uint8_t *ids; /* count * TP_ID_SIZE bytes */
};

struct tp_sync_put {
	uint64_t session;
	struct tp_bytes pack; /* chunk pack (docs/protocol.md) */
};

enum {
	/* Commit before every chunk is there: the node's views fetch the
	 * missing ones on demand (SYNC_SERVE) while SYNC_FILL brings the
	 * rest. A node without views refuses it (EOPNOTSUPP). */
	TP_COMMIT_F_LAZY = 1u << 0,
	TP_COMMIT_F_ALL_ = 0x1u,
};

struct tp_sync_commit {
	uint64_t session;
	uint64_t version;
	uint8_t root[TP_ID_SIZE];
	uint32_t flags; /* TP_COMMIT_F_*; other bits refused */
};

/* The source's side of a lazy workspace: a long poll answered with the
 * chunk ids the node's readers wait for (a SYNC_WANT whose session echoes
 * this one, index 0, total = count; count 0 when wait_ms passed first). */
struct tp_sync_serve {
	struct tp_bytes workspace; /* a name */
	uint64_t session;	   /* chosen by the source, nonzero */
	uint32_t wait_ms;	   /* at most TP_SERVE_WAIT_MAX */
};

/* Chunks for a workspace's domain, outside any session: what a lazy
 * commit left missing, or what SYNC_SERVE asked for. */
struct tp_sync_fill {
	struct tp_bytes workspace; /* a name */
	struct tp_bytes pack;	   /* chunk pack, at most TP_BULK_MAX */
};

/* Metadata ahead of content (docs/protocol.md): the node's answer to a
 * SYNC_SERVE when a view waits for the bytes of a file whose chunk list is
 * not known yet (a pending entry). The source reads that file and defines
 * it with SYNC_DEFINE. */
struct tp_sync_ask {
	uint64_t session;     /* the SYNC_SERVE's */
	struct tp_bytes path; /* a workspace path */
	uint64_t size;	      /* the entry's, as the node has it */
	int64_t mtime_ns;
};

/* Chunk refs in one SYNC_DEFINE (a page), and in one file (as
 * SD_CHUNKS_MAX). */
#define TP_DEFINE_MAX	    49152u
#define TP_DEFINE_TOTAL_MAX (1u << 24)
#define TP_DEFINE_REF	    (TP_ID_SIZE + 4u) /* id, then u32 len */

/* A page of a pending file's chunk list (the ask's path, size and mtime),
 * or why the source cannot give it (err; total, index and count 0). Pages
 * come in order: refs are chunks index .. index + count - 1 of total, no
 * len is 0, and all total sum to size. Reply: a SYNC_WANT (index 0, total
 * = count) of the page's ids the node lacks, which the source sends next
 * as SYNC_FILLs. */
struct tp_sync_define {
	struct tp_bytes workspace; /* a name */
	uint64_t session;	   /* the fill's (SYNC_SERVE's) */
	struct tp_bytes path;
	uint64_t size;
	int64_t mtime_ns;
	struct tp_bytes err; /* text, at most TP_ERRMSG_MAX; empty: chunks */
	uint32_t total; /* chunks of the file, at most TP_DEFINE_TOTAL_MAX */
	uint32_t index; /* of refs' first */
	uint32_t count; /* 1 to TP_DEFINE_MAX; 0 with err */
	const uint8_t *refs; /* count * TP_DEFINE_REF bytes */
};

/* Ref i of a SYNC_DEFINE's refs: its id and len, read or written. */
void tp_define_ref_get(const uint8_t *refs, uint32_t i, uint8_t id[TP_ID_SIZE],
		       uint32_t *len);
void tp_define_ref_put(uint8_t *refs, uint32_t i, const uint8_t id[TP_ID_SIZE],
		       uint32_t len);

struct tp_sync_entry {
	struct tp_bytes name, domain;
	struct tp_sync_state state;
	uint64_t pending_ms; /* an uncommitted offer is this old; 0: none */
};

struct tp_sync_table {
	uint32_t count;
	/* Decode: raw entries, read with tp_wstab_next(). Encode: entries. */
	const uint8_t *ptr;
	uint32_t size;
	const struct tp_sync_entry *entries;
};

/* Reading a committed version (docs/protocol.md, "Reading a workspace"). */

struct tp_sync_fetch {
	struct tp_bytes workspace; /* a name */
	uint64_t version;	   /* 0: whichever is current */
	uint64_t offset;	   /* into the encoded manifest */
};

struct tp_sync_manifest {
	uint64_t version;     /* of the manifest paged; never 0 */
	uint64_t total;	      /* length of its encoding (sd_manifest_encode) */
	uint64_t offset;      /* of data in the encoding */
	struct tp_bytes data; /* at most TP_BULK_MAX bytes */
};

struct tp_sync_get {
	struct tp_bytes workspace; /* a name */
	uint32_t count;		   /* 1 .. TP_GET_MAX */
	const uint8_t *ids;	   /* count * TP_ID_SIZE bytes */
};

struct tp_sync_chunks {
	/* Records in pack, 1 .. TP_GET_MAX: those of the request's first
	 * count ids, in request order. */
	uint32_t count;
	struct tp_bytes pack; /* chunk pack, as in SYNC_PUT */
};

/* ---- a view's changes (docs/protocol.md, "Changes in a view") ---- */

enum tp_change_kind {
	TP_CHANGE_CREATED = 1,	/* not in the lower version */
	TP_CHANGE_MODIFIED = 2, /* in it, and something differs */
	TP_CHANGE_DELETED = 3,	/* in it, gone from the view */
};

/* What a changed path is (DELETED: was): the values of enum sd_type; a
 * hard link is a FILE, a fifo or other special file a FILE too. */
enum tp_change_type {
	TP_CHANGE_FILE = 1,
	TP_CHANGE_DIR = 2,
	TP_CHANGE_SYMLINK = 3,
};

/* A WS_CHANGED row takes this many bytes plus its path: a sender fills a
 * page until the next row would pass TP_FRAME_MAX. */
#define TP_CHANGE_ROW_FIXED 15u
#define TP_CHANGED_HEAD	    5u /* more, count */

struct tp_ws_changes {
	struct tp_bytes workspace; /* a name */
	/* The page starts after this path (memcmp order): the last path of
	 * the page before; empty for the first page. At most TP_PATH_MAX
	 * bytes, no NUL; need not name a change. */
	struct tp_bytes after;
};

struct tp_ws_change {
	uint8_t kind; /* enum tp_change_kind */
	uint8_t type; /* enum tp_change_type */
	/* 1: the agent changed the path too (its workspace no longer has
	 * what the view started from): writing the change back would
	 * overwrite the agent's edit, so a client reports it instead; 0. */
	uint8_t conflict;
	uint64_t size; /* bytes (a symlink: its target's length; a dir: 0) */
	struct tp_bytes path; /* a workspace path (tp_path_ok) */
};

struct tp_ws_changed {
	uint8_t more;	/* 1: changes after the last row remain */
	uint32_t count; /* rows, at most TP_WSCHG_MAX; 0 only when !more */
	/* Decode: raw rows, in strictly increasing path order (memcmp), read
	 * with tp_changed_next(). Encode: rows. */
	const uint8_t *ptr;
	uint32_t size;
	const struct tp_ws_change *rows;
};

struct tp_ws_reset {
	struct tp_bytes workspace; /* a name */
};

/* Reading back what a command wrote (docs/protocol.md, "Writing changes
 * back"): one entry of a view's upper layer. */
struct tp_ws_read {
	struct tp_bytes workspace; /* a name */
	struct tp_bytes path;	   /* a workspace path (tp_path_ok) */
	uint64_t offset;	   /* a file's first byte wanted */
	uint32_t max;		   /* bytes wanted, 0 .. TP_READ_MAX */
};

struct tp_ws_data {
	uint8_t type;	  /* enum tp_change_type */
	uint32_t mode;	  /* permission bits: nothing outside 07777 */
	int64_t mtime_ns; /* nanoseconds since the epoch */
	/* A file's whole size, a symlink's target length (target.len), a
	 * directory's 0. */
	uint64_t size;
	struct tp_bytes target; /* a symlink's, 1 .. TP_PATH_MAX; else empty */
	/* A file's bytes from the request's offset, at most its max (fewer
	 * only at the end of the file); empty for anything else. */
	struct tp_bytes data;
};

/* Pairing a client with a node over tls+tcp (docs/protocol.md,
 * "Pairing"). The one-time token is ID.SECRET; SECRET never crosses. */
#define TP_PAIR_ID_MAX	64u   /* a token's id: a name (tp_name_ok) */
#define TP_PAIR_DER_MAX 4096u /* a public key's or certificate's DER */
#define TP_PAIR_MAC	32u   /* HMAC-SHA256 */

struct tp_pair {
	struct tp_bytes token; /* the token's id */
	struct tp_bytes key;   /* the client's public key, DER */
	struct tp_bytes mac;   /* HMAC(SECRET, key), TP_PAIR_MAC bytes */
};

struct tp_paired {
	struct tp_bytes ca;   /* the node's authority's certificate, DER */
	struct tp_bytes cert; /* the client's certificate, DER */
	struct tp_bytes mac;  /* HMAC(SECRET, ca then cert) */
};

struct tp_error {
	int32_t code; /* positive errno */
	struct tp_bytes message;
};

struct tp_msg {
	uint16_t version;
	uint16_t type; /* enum tp_type */
	union {
		struct tp_error error;
		uint64_t ok;
		struct tp_exec_start start;
		struct tp_exec_started started;
		struct tp_exec_read read;
		struct tp_exec_output output;
		struct tp_exec_write write;
		struct tp_exec_signal signal;
		struct tp_exec_resize resize;
		struct tp_exec_table table;
		struct tp_sync_begin begin;
		struct tp_sync_state state;
		struct tp_sync_offer offer;
		struct tp_sync_need need;
		struct tp_sync_want want;
		struct tp_sync_put put;
		struct tp_sync_commit commit;
		struct tp_sync_serve serve;
		struct tp_sync_fill fill;
		struct tp_sync_ask ask;
		struct tp_sync_define define;
		struct tp_sync_table wstab;
		struct tp_sync_fetch fetch;
		struct tp_sync_manifest manifest;
		struct tp_sync_get get;
		struct tp_sync_chunks chunks;
		struct tp_ws_changes changes;
		struct tp_ws_changed changed;
		struct tp_ws_reset reset;
		struct tp_ws_read wsread;
		struct tp_ws_data wsdata;
		struct tp_pair pair;
		struct tp_paired paired;
	};
	/* Encode-only: the C-string forms of start.argv / start.env. */
	struct tp_cstrv argv_c, env_c;
};

/* Decoding failures carry a precise reason for the error reply. */
struct tp_decode_err {
	uint16_t peer_version; /* set when the code is -EPROTONOSUPPORT */
	char what[128];	       /* e.g. "EXEC_START.argv[3]: string too long" */
};

/* tp_msg_decode: parse one frame of len bytes at buf into *m.
 * Returns 0, or:
 *   -EPROTO            malformed (bad magic, short, trailing bytes, a field
 *                      that runs past the end, NUL in a string, zero argv,
 *                      a SYNC_GET or SYNC_CHUNKS count of 0, unknown type
 *                      or flag bits, WS_CHANGED rows out of path order, a
 *                      path that tp_path_ok() refuses)
 *   -EPROTONOSUPPORT   good magic but version != TP_VERSION (err->peer_version)
 *   -EMSGSIZE          frame or a field (or a list's count) over its cap
 * On error, err->what names the field. *m borrows buf: every tp_bytes and
 * tp_strv points into it. Never allocates; safe on any untrusted input. */
int tp_msg_decode(const void *buf, size_t len, struct tp_msg *m,
		  struct tp_decode_err *err);

/* tp_msg_encode: serialise *m (version ignored: TP_VERSION is written).
 * For EXEC_START the lists come from argv_c / env_c; for EXEC_TABLE from
 * table.entries; for SYNC_TABLE from wstab.entries; for WS_CHANGED from
 * changed.rows. Returns the frame length and stores a malloc'd buffer in
 * *ret (caller frees), or -EMSGSIZE if a cap would be exceeded, -EINVAL for
 * an unknown type or a value the decoder would refuse, -ENOMEM. */
ssize_t tp_msg_encode(const struct tp_msg *m, uint8_t **ret);

/* The two halves of tp_msg_encode, for callers that own the buffer (an
 * nng message): tp_msg_size returns the frame length or the same errors;
 * tp_msg_write fills exactly len bytes (len from tp_msg_size) and returns
 * 0, -EINVAL or -EMSGSIZE. */
ssize_t tp_msg_size(const struct tp_msg *m);
int tp_msg_write(const struct tp_msg *m, uint8_t *buf, size_t len);

/* Iterate a decoded list: *pos starts at 0; returns true and sets *out while
 * elements remain. */
bool tp_strv_next(const struct tp_strv *v, uint32_t *pos, struct tp_bytes *out);

/* A malloc'd, NULL-terminated copy of a list as C strings (one allocation;
 * free() the result). Returns NULL on ENOMEM. */
char **tp_strv_dup(const struct tp_strv *v);

/* Iterate a decoded EXEC_TABLE. */
bool tp_table_next(const struct tp_exec_table *t, uint32_t *pos,
		   struct tp_exec_entry *out);

/* Iterate a decoded SYNC_TABLE. */
bool tp_wstab_next(const struct tp_sync_table *t, uint32_t *pos,
		   struct tp_sync_entry *out);

/* Iterate a decoded WS_CHANGED. */
bool tp_changed_next(const struct tp_ws_changed *t, uint32_t *pos,
		     struct tp_ws_change *out);

/* Whether n bytes at p are a valid workspace or domain name. */
bool tp_name_ok(const uint8_t *p, size_t n);

/* Whether n bytes at p are a workspace path as a manifest has them
 * (docs/protocol.md, "Paths"): relative, 1 to TP_PATH_MAX bytes, no NUL,
 * components separated by one '/', none empty, "." or "..", none over
 * TP_COMP_MAX bytes. Such a path cannot leave the directory it is
 * resolved under unless a symlink on the way leads out. */
bool tp_path_ok(const uint8_t *p, size_t n);

/* "EXEC_START" etc., or "unknown". */
const char *tp_type_name(uint16_t type);

/* Build an ERROR frame (message truncated to TP_ERRMSG_MAX). */
ssize_t tp_error_encode(int code, const char *message, uint8_t **ret);
/* The same, with the message formatted. */
ssize_t tp_error_vencode(int code, uint8_t **ret, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#endif
