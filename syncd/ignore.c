/* SPDX-License-Identifier: MIT */
/* Ignore rules: patterns compiled to small programs when a rule file is
 * read, matched without allocation or recursion, in git's precedence. */
#include "ignore.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "manifest.h" /* SD_PATH_MAX */

typedef unsigned char uchar;

enum {
	PAT_NEGATIVE = 1 << 0,
	PAT_MUSTBEDIR = 1 << 1,
	PAT_NODIR = 1 << 2,    /* no '/': matched against the last component */
	PAT_LITERAL = 1 << 3,  /* no wildcard: a compare */
	PAT_ENDSWITH = 1 << 4, /* '*' then no wildcard: a suffix compare */
};

struct pat {
	/* NUL-terminated. Anchored patterns lose their leading '/', and
	 * directory-only ones their trailing '/'. */
	const uchar *p;
	/* The compiled part after the prefix; NULL for "literal" and, without
	 * a '/', "*literal", which are compares. */
	const uchar *prog;
	uint16_t len;
	uint16_t prefix; /* bytes before the first of * ? [ \ (git's
			  * nowildcardlen) */
	/* The literal bytes every matching subject ends with (see
	 * pat_parse()), and the last of them or 0: most patterns are rejected
	 * by one compare of the subject's last byte. */
	uint16_t suffix;
	uint8_t last;
	uint8_t flags;
};

struct level {
	uint32_t baselen; /* bytes of "dir/" before names in this directory:
			   * 0 for the root */
	uint32_t npats;
	struct pat *pats; /* NULL if the directory has no rules */
	/* pats by their last byte: the indices of the patterns whose last is
	 * c are by[at[c] .. at[c + 1]), those with last 0 (any subject)
	 * by[at[256] .. at[257]); each run in decreasing order, which is the
	 * order of precedence. */
	uint32_t *at, *by;
	uchar *code;   /* the programs */
	char *text[2]; /* the rule files' bytes, which pats point into */
};

struct sd_ignore {
	bool keep_dot_git;
	struct level extra; /* config patterns, relative to the root */
	struct level *levels;
	size_t depth, cap;
	char *root_name;
	size_t path_len; /* the current directory's path, in path */
	char path[SD_PATH_MAX];
};

/* ---- the matcher ----
 *
 * The part of a pattern after its literal prefix is compiled once, when
 * its file is read, into a byte program in which a class is a 256-bit set.
 * The semantics are git's (wildmatch() with WM_PATHNAME), pinned down by
 * comparing with git itself in tests/unit/test_ignore.c:
 *  - '?' and a class match one byte other than '/', '*' any bytes other
 *    than '/';
 *  - a run of two or more '*' that starts the compiled part or follows a
 *    '/': followed by '/' it matches nothing or anything that ends with a
 *    '/' (and takes that '/'), at the end it matches all that is left,
 *    before an escaped '/' anything; any other run is a '*';
 *  - a class: '!' or '^' first negates, ']' first is a member, "a-z" a
 *    range (not after a range or a [:name:]), '\' escapes, "[:name:]" one
 *    of the POSIX classes over ASCII, a "[:" without its ":]" a plain '[';
 *  - an unterminated class, an unknown [:name:] or a trailing '\' make a
 *    pattern that matches nothing (dropped when it is compiled).
 * A basename has no '/', so the same program serves basename patterns.
 */

enum {
	OP_END,	 /* the text must be used up */
	OP_LIT,	 /* the byte that follows */
	OP_ONE,	 /* one byte, not '/' */
	OP_SET,	 /* one byte of the 32-byte set that follows */
	OP_STAR, /* bytes, none of them '/' */
	OP_ANY,	 /* any bytes */
	OP_DIRS, /* nothing, or any bytes that end with '/' */
	OP_ALL,	 /* whatever is left */
};

#define SET_BYTES 32

static bool is_special(uchar c)
{
	return c == '*' || c == '?' || c == '[' || c == '\\';
}

/* git's ctype (its own table, not the C library's): ASCII only, and
 * "space" is \t \n \r and ' ' (no \v, \f). */
static int class_has(const uchar *name, size_t n, unsigned c)
{
	bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z';
	bool digit = c >= '0' && c <= '9';

#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
	if (IS("alnum"))
		return upper || lower || digit;
	if (IS("alpha"))
		return upper || lower;
	if (IS("blank"))
		return c == ' ' || c == '\t';
	if (IS("cntrl"))
		return c < 32 || c == 127;
	if (IS("digit"))
		return digit;
	if (IS("graph"))
		return c > 32 && c < 127;
	if (IS("lower"))
		return lower;
	if (IS("print"))
		return c >= 32 && c < 127;
	if (IS("punct"))
		return c > 32 && c < 127 && !upper && !lower && !digit;
	if (IS("space"))
		return c == ' ' || c == '\t' || c == '\n' || c == '\r';
	if (IS("upper"))
		return upper;
	if (IS("xdigit"))
		return digit || (c >= 'a' && c <= 'f') ||
		       (c >= 'A' && c <= 'F');
#undef IS
	return -1;
}

static void set_add(uint8_t *set, unsigned c)
{
	set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

static bool set_has(const uint8_t *set, unsigned c)
{
	return set[c >> 3] >> (c & 7) & 1;
}

/* The class that starts after the '[' at q, into set (may be NULL).
 * Returns the byte after its ']', or NULL if it is malformed. */
static const uchar *compile_class(const uchar *q, uint8_t *set)
{
	uint8_t in[SET_BYTES] = { 0 };
	unsigned prev = 0; /* the last plain member; 0 after a range */
	bool neg = false;

	if (*q == '!' || *q == '^') {
		neg = true;
		q++;
	}
	for (bool first = true;; first = false) {
		unsigned c = *q;

		if (!c)
			return NULL;
		if (c == ']' && !first)
			break;
		if (c == '\\') {
			c = *++q;
			if (!c)
				return NULL;
		} else if (c == '-' && prev && q[1] && q[1] != ']') {
			unsigned hi = *++q;

			if (hi == '\\' && !(hi = *++q))
				return NULL;
			for (unsigned b = prev; b <= hi; b++)
				set_add(in, b);
			prev = 0;
			q++;
			continue;
		} else if (c == '[' && q[1] == ':') {
			const uchar *name = q + 2, *e = name;

			while (*e && *e != ']')
				e++;
			if (!*e)
				return NULL;
			if (e > name && e[-1] == ':') {
				for (unsigned b = 1; b < 256; b++) {
					int r = class_has(
						name, (size_t)(e - name - 1),
						b);

					if (r < 0)
						return NULL;
					if (r)
						set_add(in, b);
				}
				prev = 0;
				q = e + 1;
				continue;
			}
			/* No ":]" before the ']': the '[' is a member. */
		}
		set_add(in, c);
		prev = c;
		q++;
	}
	if (set) {
		for (int i = 0; i < SET_BYTES; i++)
			set[i] = neg ? (uint8_t)~in[i] : in[i];
		set['/' >> 3] &= (uint8_t) ~(1u << ('/' & 7));
	}
	return q + 1;
}

/* The program of p (NUL-terminated) into out, or only its size if out is
 * NULL. Returns the size, or 0 if the pattern can never match. */
static size_t compile(const uchar *p, uchar *out)
{
	const uchar *start = p;
	size_t n = 0;

#define EMIT(b)                              \
	do {                                 \
		if (out)                     \
			out[n] = (uchar)(b); \
		n++;                         \
	} while (0)
	while (*p) {
		const uchar *run = p;

		switch (*p) {
		case '*':
			while (*p == '*')
				p++;
			if (p - run >= 2 && (run == start || run[-1] == '/')) {
				if (!*p) {
					EMIT(OP_ALL);
					return n;
				}
				if (*p == '/') {
					EMIT(OP_DIRS);
					p++;
					continue;
				}
				if (p[0] == '\\' && p[1] == '/') {
					EMIT(OP_ANY);
					continue;
				}
			}
			EMIT(OP_STAR);
			continue;
		case '?':
			EMIT(OP_ONE);
			p++;
			continue;
		case '[':
			EMIT(OP_SET);
			p = compile_class(p + 1, out ? out + n : NULL);
			if (!p)
				return 0;
			n += SET_BYTES;
			continue;
		case '\\':
			if (!*++p)
				return 0;
			/* fall through */
		default:
			EMIT(OP_LIT);
			EMIT(*p);
			p++;
		}
	}
	EMIT(OP_END);
#undef EMIT
	return n;
}

/* Does program pc match all of [t, te)? Backtracking keeps two points:
 * the last '*', which may grow by a byte other than '/', and the last
 * slash-crossing "**", which may grow by a byte (by a directory for "** /",
 * space added). A later point replaces an earlier one of its kind: a later
 * "**" can absorb whatever an earlier one would, and a '*' cannot reach
 * past the '/' that ends its component, so once that '/' is matched its
 * other lengths change nothing. No recursion; time O(text * (text + pc)). */
static bool run_prog(const uchar *pc, const uchar *t, const uchar *te)
{
	const uchar *star_pc = NULL, *star_t = NULL;
	const uchar *any_pc = NULL, *any_t = NULL;
	bool dirs = false;

	for (;;) {
		switch (*pc) {
		case OP_END:
			if (t == te)
				return true;
			break;
		case OP_LIT:
			if (t < te && *t == pc[1]) {
				t++;
				pc += 2;
				continue;
			}
			break;
		case OP_ONE:
			if (t < te && *t != '/') {
				t++;
				pc++;
				continue;
			}
			break;
		case OP_SET:
			if (t < te && set_has(pc + 1, *t)) {
				t++;
				pc += 1 + SET_BYTES;
				continue;
			}
			break;
		case OP_STAR:
			star_pc = ++pc;
			star_t = t;
			continue;
		case OP_ANY:
		case OP_DIRS:
			dirs = *pc == OP_DIRS;
			any_pc = ++pc;
			any_t = t;
			star_pc = NULL;
			continue;
		case OP_ALL: return true;
		}
		/* Mismatch: grow the last '*', else the last "**". */
		if (star_pc && star_t < te && *star_t != '/') {
			t = ++star_t;
			pc = star_pc;
			continue;
		}
		if (!any_pc || any_t == te)
			return false;
		if (dirs) {
			any_t = memchr(any_t, '/', (size_t)(te - any_t));
			if (!any_t)
				return false;
		}
		t = ++any_t;
		pc = any_pc;
		star_pc = NULL;
	}
}

/* ---- patterns ---- */

static size_t simple_length(const uchar *s, size_t len)
{
	size_t i = 0;

	while (i < len && !is_special(s[i]))
		i++;
	return i;
}

/* One pattern, or false if it can never match: git's parse_path_pattern()
 * and the fixed parts of match_basename() / match_pathname(). s[len] is
 * writable and becomes the pattern's NUL. */
static bool pat_parse(struct pat *pt, uchar *s, size_t len)
{
	unsigned flags = 0;
	size_t prefix, suffix;

	if (len && *s == '!') {
		flags |= PAT_NEGATIVE;
		s++;
		len--;
	}
	if (len && s[len - 1] == '/') {
		flags |= PAT_MUSTBEDIR;
		len--;
	}
	if (!memchr(s, '/', len))
		flags |= PAT_NODIR;
	prefix = simple_length(s, len);
	if (flags & PAT_NODIR) {
		if (len && s[0] == '*' &&
		    simple_length(s + 1, len - 1) == len - 1)
			flags |= PAT_ENDSWITH;
	} else if (s[0] == '/') {
		/* Anchoring is implied: patterns that hold a '/' are matched
		 * against the path below their directory. Only one '/' goes;
		 * "//a" keeps one and never matches, as in git. */
		s++;
		len--;
		prefix--;
	}
	/* An empty pattern matches no name. */
	if (len == 0)
		return false;
	if (prefix == len)
		flags |= PAT_LITERAL;
	s[len] = '\0';
	/* The bytes after the last of * ? [ ] \ / are matched literally
	 * against the end of any subject the pattern matches. Sound for every
	 * pattern that can match: the byte before that run ends a wildcard, a
	 * class or an escape ("\c" is a literal c), or opens a class that is
	 * never closed, which matches nothing. The run stops at '/' because
	 * the '/' of "** /" (without the space) can match nothing. */
	for (suffix = 0;
	     suffix < len && !strchr("*?[]\\/", s[len - 1 - suffix]); suffix++)
		;
	pt->p = s;
	pt->len = (uint16_t)len;
	pt->prefix = (uint16_t)prefix;
	pt->flags = (uint8_t)flags;
	pt->suffix = (uint16_t)suffix;
	pt->last = suffix ? s[len - 1] : 0;
	return true;
}

/* The display form of a path for a warning: control bytes as \xNN. */
static void display(char *out, size_t outsz, const char *root, const char *dir,
		    size_t dirlen, const char *file)
{
	size_t o = 0;
	const char *parts[3] = { root, dir, file };
	size_t lens[3] = { strlen(root), dirlen, file ? strlen(file) : 0 };

	for (int i = 0; i < 3; i++) {
		if (i > 0 && lens[i] == 0)
			continue;
		if (i > 0 && o + 1 < outsz)
			out[o++] = '/';
		for (size_t j = 0; j < lens[i] && o + 5 < outsz; j++) {
			uchar c = (uchar)parts[i][j];

			if (c < 0x20 || c == 0x7f)
				o += (size_t)snprintf(out + o, outsz - o,
						      "\\x%02x", c);
			else
				out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

/* The lines of buf (size bytes, with one writable byte after them) as
 * patterns appended to pats[*n]: git's add_patterns_from_buffer() and
 * trim_trailing_spaces(). Modifies buf. what names the source in warnings,
 * NULL to stay quiet. Returns the number of over-long lines skipped. */
static unsigned parse_text(char *buf, size_t size, struct pat *pats,
			   uint32_t *n, const char *what)
{
	uchar *s = (uchar *)buf, *end = (uchar *)buf + size;
	unsigned lineno = 0, skipped = 0;

	if (size >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (s < end) {
		uchar *nl = memchr(s, '\n', (size_t)(end - s));
		uchar *e = nl ? nl : end, *next = e + 1, *z, *sp = NULL;

		lineno++;
		if (e == s || *s == '#')
			goto next;
		if (e[-1] == '\r')
			e--;
		z = memchr(s, '\0', (size_t)(e - s));
		if (z)
			e = z;
		for (uchar *q = s; q < e; q++) {
			if (*q == ' ') {
				if (!sp)
					sp = q;
				continue;
			}
			if (*q == '\\' && ++q == e) {
				/* A trailing backslash: nothing to trim. */
				sp = NULL;
				break;
			}
			sp = NULL;
		}
		if (sp)
			e = sp;
		if ((size_t)(e - s) > SD_IGNORE_PATTERN_MAX) {
			if (what)
				log_warn("ignore file %s line %u: pattern "
					 "longer than %u bytes, skipped",
					 what, lineno, SD_IGNORE_PATTERN_MAX);
			skipped++;
			goto next;
		}
		if (pat_parse(&pats[*n], s, (size_t)(e - s)))
			(*n)++;
next:
		s = next;
	}
	return skipped;
}

static size_t count_lines(const char *buf, size_t size)
{
	size_t n = 1;

	for (const char *p = buf;
	     (p = memchr(p, '\n', size - (size_t)(p - buf))); p++)
		n++;
	return n;
}

static bool fatal_errno(int e)
{
	return e == ENOMEM || e == EMFILE || e == ENFILE;
}

/* Reads fname in dirfd into *out (malloc'd, one spare byte) and its size.
 * Absent or unusable: 0 with *out NULL (unusable ones warn). */
static int read_rule_file(const struct sd_ignore *ig, int dirfd,
			  const char *rel_dir, size_t len, const char *fname,
			  char **out, size_t *outsize)
{
	char what[512];
	struct stat st;
	const char *why = NULL;
	char *buf = NULL;
	size_t got = 0;
	int fd, e = 0;

	*out = NULL;
	*outsize = 0;
	/* O_NONBLOCK: a FIFO planted as .gitignore must not hang the scan.
	 * O_NOFOLLOW: git refuses in-tree rule files that are symlinks too,
	 * and a link could point anywhere outside the workspace. */
	fd = openat(dirfd, fname,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENOTDIR)
			return 0;
		if (fatal_errno(e))
			return -e;
		if (e == ELOOP)
			why = "is a symbolic link";
		goto warn;
	}
	if (fstat(fd, &st) < 0) {
		e = errno;
		goto warn_close;
	}
	if (!S_ISREG(st.st_mode)) {
		why = "not a regular file";
		goto warn_close;
	}
	if (st.st_size > (off_t)SD_IGNORE_FILE_MAX) {
		why = "larger than 1 MiB";
		goto warn_close;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	/* A file that grows meanwhile is cut at the size fstat saw. */
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			free(buf);
			goto warn_close;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	*out = buf;
	*outsize = got;
	return 0;

warn_close:
	close(fd);
warn:
	display(what, sizeof(what), ig->root_name, rel_dir, len, fname);
	if (why)
		log_warn("ignore file %s: %s, its rules are not applied", what,
			 why);
	else
		log_warn("ignore file %s: %s, its rules are not applied", what,
			 strerror(e));
	return 0;
}

static bool needs_prog(const struct pat *pt)
{
	return !(pt->flags & PAT_LITERAL) &&
	       !((pt->flags & PAT_NODIR) && (pt->flags & PAT_ENDSWITH));
}

/* Compiles lvl's patterns (dropping those that can never match), then
 * builds lvl->at and lvl->by (a counting sort on the last byte). */
static int level_finish(struct level *lvl)
{
	size_t total = 0, off = 0;
	uint32_t *at, n = 0;

	for (uint32_t i = 0; i < lvl->npats; i++) {
		struct pat *pt = &lvl->pats[i];
		size_t size = 0;

		if (needs_prog(pt)) {
			size = compile(pt->p + pt->prefix, NULL);
			if (!size)
				continue;
			total += size;
		}
		lvl->pats[n++] = *pt;
	}
	lvl->npats = n;
	if (total) {
		lvl->code = malloc(total);
		if (!lvl->code)
			return -ENOMEM;
		for (uint32_t i = 0; i < n; i++) {
			struct pat *pt = &lvl->pats[i];

			if (needs_prog(pt)) {
				pt->prog = lvl->code + off;
				off += compile(pt->p + pt->prefix,
					       lvl->code + off);
			}
		}
	}
	if (!lvl->npats) {
		free(lvl->pats);
		lvl->pats = NULL;
		return 0;
	}
	at = calloc(258 + (size_t)lvl->npats, sizeof(*at));
	if (!at)
		return -ENOMEM;
	for (uint32_t i = 0; i < lvl->npats; i++)
		at[(lvl->pats[i].last ? lvl->pats[i].last : 256) + 1]++;
	for (int c = 0; c < 257; c++)
		at[c + 1] += at[c];
	lvl->at = at;
	lvl->by = at + 258;
	/* Fill from the top of each run, so that runs decrease. */
	{
		uint32_t fill[257];

		memcpy(fill, at + 1, sizeof(fill));
		for (uint32_t i = 0; i < lvl->npats; i++) {
			unsigned b = lvl->pats[i].last ? lvl->pats[i].last
						       : 256u;

			lvl->by[--fill[b]] = i;
		}
	}
	return 0;
}

static void level_fini(struct level *lvl)
{
	free(lvl->pats);
	free(lvl->at);
	free(lvl->code);
	free(lvl->text[0]);
	free(lvl->text[1]);
	memset(lvl, 0, sizeof(*lvl));
}

static int level_load(const struct sd_ignore *ig, struct level *lvl,
		      const char *rel_dir, size_t len, int dirfd,
		      unsigned present)
{
	static const char *const files[2] = { SD_IGNORE_GITIGNORE,
					      SD_IGNORE_TETHERIGNORE };
	size_t size[2], lines = 0;
	int r;

	for (int i = 0; i < 2; i++) {
		size[i] = 0;
		if (!(present & (1u << i)))
			continue;
		r = read_rule_file(ig, dirfd, rel_dir, len, files[i],
				   &lvl->text[i], &size[i]);
		if (r < 0)
			return r;
		if (lvl->text[i])
			lines += count_lines(lvl->text[i], size[i]);
	}
	if (!lines)
		return 0;
	if (lines > UINT32_MAX)
		return -ENOMEM;
	lvl->pats = malloc(lines * sizeof(*lvl->pats));
	if (!lvl->pats)
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		char what[512];

		if (!lvl->text[i])
			continue;
		display(what, sizeof(what), ig->root_name, rel_dir, len,
			files[i]);
		parse_text(lvl->text[i], size[i], lvl->pats, &lvl->npats, what);
	}
	return level_finish(lvl);
}

/* ---- the stack ---- */

void sd_ignore_config_init(struct sd_ignore_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

int sd_ignore_new(const struct sd_ignore_config *cfg, struct sd_ignore **ret)
{
	struct sd_ignore *ig;
	size_t total = 0, lines = 0, off = 0;
	char *text;

	ig = calloc(1, sizeof(*ig));
	if (!ig)
		return -ENOMEM;
	ig->keep_dot_git = cfg->keep_dot_git;
	ig->root_name = strdup(cfg->root_name ? cfg->root_name : ".");
	if (!ig->root_name)
		goto oom;
	for (size_t i = 0; i < cfg->npatterns; i++) {
		size_t l = strlen(cfg->patterns[i]);

		total += l + 1;
		lines += count_lines(cfg->patterns[i], l);
	}
	if (total) {
		text = malloc(total);
		ig->extra.text[0] = text;
		ig->extra.pats = malloc(lines * sizeof(*ig->extra.pats));
		if (!text || !ig->extra.pats)
			goto oom;
		for (size_t i = 0; i < cfg->npatterns; i++) {
			size_t l = strlen(cfg->patterns[i]);

			memcpy(text + off, cfg->patterns[i], l + 1);
			if (parse_text(text + off, l, ig->extra.pats,
				       &ig->extra.npats, NULL)) {
				sd_ignore_free(ig);
				return -EINVAL;
			}
			off += l + 1;
		}
		if (level_finish(&ig->extra) < 0)
			goto oom;
	}
	*ret = ig;
	return 0;
oom:
	sd_ignore_free(ig);
	return -ENOMEM;
}

void sd_ignore_free(struct sd_ignore *ig)
{
	if (!ig)
		return;
	while (ig->depth)
		sd_ignore_leave_dir(ig);
	free(ig->levels);
	level_fini(&ig->extra);
	free(ig->root_name);
	free(ig);
}

unsigned sd_ignore_rule_file(const char *name, size_t len)
{
	if (len == sizeof(SD_IGNORE_GITIGNORE) - 1 &&
	    memcmp(name, SD_IGNORE_GITIGNORE, len) == 0)
		return SD_IGNORE_HAS_GITIGNORE;
	if (len == sizeof(SD_IGNORE_TETHERIGNORE) - 1 &&
	    memcmp(name, SD_IGNORE_TETHERIGNORE, len) == 0)
		return SD_IGNORE_HAS_TETHERIGNORE;
	return 0;
}

int sd_ignore_enter_dir(struct sd_ignore *ig, const char *rel_dir, size_t len,
			int dirfd)
{
	return sd_ignore_enter_dir_listed(ig, rel_dir, len, dirfd,
					  SD_IGNORE_HAS_GITIGNORE |
						  SD_IGNORE_HAS_TETHERIGNORE);
}

int sd_ignore_enter_dir_listed(struct sd_ignore *ig, const char *rel_dir,
			       size_t len, int dirfd, unsigned present)
{
	struct level lvl = { 0 };
	size_t start = ig->path_len ? ig->path_len + 1 : 0;
	int r;

	if (ig->depth == 0) {
		if (len != 0)
			return -EINVAL;
	} else {
		/* A child of the current directory: one more component. */
		const char *name = rel_dir + start;
		size_t nlen;

		if (len <= start ||
		    (ig->path_len && (memcmp(rel_dir, ig->path, ig->path_len) ||
				      rel_dir[ig->path_len] != '/')))
			return -EINVAL;
		nlen = len - start;
		if (memchr(name, '/', nlen) || memchr(name, '\0', nlen) ||
		    (nlen == 1 && name[0] == '.') ||
		    (nlen == 2 && name[0] == '.' && name[1] == '.'))
			return -EINVAL;
	}
	if (len >= SD_PATH_MAX)
		return -ENAMETOOLONG;
	if (ig->depth == ig->cap) {
		size_t cap = ig->cap ? 2 * ig->cap : 16;
		struct level *l = realloc(ig->levels, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		ig->levels = l;
		ig->cap = cap;
	}
	lvl.baselen = len ? (uint32_t)len + 1 : 0;
	if (dirfd >= 0 && present) {
		r = level_load(ig, &lvl, rel_dir, len, dirfd, present);
		if (r < 0) {
			level_fini(&lvl);
			return r;
		}
	}
	memcpy(ig->path, rel_dir, len);
	ig->path_len = len;
	ig->levels[ig->depth++] = lvl;
	return 0;
}

void sd_ignore_leave_dir(struct sd_ignore *ig)
{
	assert(ig->depth > 0);
	if (!ig->depth)
		return;
	level_fini(&ig->levels[--ig->depth]);
	ig->path_len = ig->depth && ig->levels[ig->depth - 1].baselen
			       ? ig->levels[ig->depth - 1].baselen - 1
			       : 0;
}

size_t sd_ignore_depth(const struct sd_ignore *ig)
{
	return ig->depth;
}

/* n bytes equal? Inline: the compares here are a few bytes, where a call
 * to memcmp() costs more than the loop. */
static inline bool same(const uchar *a, const uchar *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* Does pt match? name is the path below pt's directory, base the entry's
 * own name; the subject's last byte is already known to fit pt->last. */
static inline bool pat_match(const struct pat *pt, const uchar *name,
			     size_t nlen, const uchar *base, size_t blen,
			     bool is_dir)
{
	size_t suf = pt->suffix, pre = pt->prefix, len = pt->len;

	if ((pt->flags & PAT_MUSTBEDIR) && !is_dir)
		return false;
	if (suf > blen || !same(base + blen - suf, pt->p + len - suf, suf))
		return false;
	if (pt->flags & PAT_NODIR) {
		/* The suffix compare did the end of "literal" and of
		 * "*literal", all of it unless a ']' stopped it. */
		if (pt->flags & PAT_LITERAL)
			return blen == len && same(base, pt->p, len - suf);
		if (pt->flags & PAT_ENDSWITH)
			return blen + 1 >= len &&
			       same(base + blen - (len - 1), pt->p + 1,
				    len - 1 - suf);
		if (blen < pre || !same(base, pt->p, pre))
			return false;
		return run_prog(pt->prog, base + pre, base + blen);
	}
	if (pre > nlen || !same(pt->p, name, pre))
		return false;
	if (pt->flags & PAT_LITERAL)
		return nlen == len;
	/* As in git, the program starts after the prefix, and a "**" there
	 * counts as at the start: "a**" + "/b" matches "ax/y/b". */
	return run_prog(pt->prog, name + pre, name + nlen);
}

/* git's last_matching_pattern_from_list(): 1 ignored, 0 re-included by a
 * negation, -1 no pattern of lvl matches. The last matching pattern is the
 * higher of the first match in the run of patterns ending in the subject's
 * last byte and the first in the run of those that end in anything. */
static int level_match(const struct level *lvl, const uchar *name, size_t nlen,
		       const uchar *base, size_t blen, uchar last, bool is_dir)
{
	const uint32_t *a = lvl->by + lvl->at[last];
	const uint32_t *ae = lvl->by + lvl->at[last + 1];
	const uint32_t *b = lvl->by + lvl->at[256];
	const uint32_t *be = lvl->by + lvl->at[257];
	int64_t best = -1;

	for (; a < ae; a++)
		if (pat_match(&lvl->pats[*a], name, nlen, base, blen, is_dir)) {
			best = *a;
			break;
		}
	for (; b < be && (int64_t)*b > best; b++)
		if (pat_match(&lvl->pats[*b], name, nlen, base, blen, is_dir)) {
			best = *b;
			break;
		}
	if (best < 0)
		return -1;
	return !(lvl->pats[best].flags & PAT_NEGATIVE);
}

bool sd_ignore_match(const struct sd_ignore *ig, const char *rel_path,
		     size_t len, bool is_dir)
{
	const uchar *path = (const uchar *)rel_path;
	const struct level *top;
	const uchar *base;
	size_t blen;
	uchar last;
	int r;

	assert(ig->depth > 0);
	top = &ig->levels[ig->depth - 1];
	assert(len > top->baselen);
	assert(memcmp(rel_path, ig->path, ig->path_len) == 0);
	assert(!memchr(rel_path + top->baselen, '/', len - top->baselen));
	base = path + top->baselen;
	blen = len - top->baselen;
	if (!ig->keep_dot_git && blen == 4 && memcmp(base, ".git", 4) == 0)
		return true;
	last = path[len - 1];
	for (size_t i = ig->depth; i-- > 0;) {
		const struct level *lvl = &ig->levels[i];

		if (!lvl->npats)
			continue;
		r = level_match(lvl, path + lvl->baselen, len - lvl->baselen,
				base, blen, last, is_dir);
		if (r >= 0)
			return r;
	}
	if (!ig->extra.npats)
		return false;
	return level_match(&ig->extra, path, len, base, blen, last, is_dir) > 0;
}

void sd_ignore_reset(struct sd_ignore *ig)
{
	while (ig->depth)
		sd_ignore_leave_dir(ig);
}

static bool component_ok(const char *s, size_t n)
{
	return n > 0 && n <= SD_NAME_MAX && !memchr(s, '\0', n) &&
	       !(n == 1 && s[0] == '.') &&
	       !(n == 2 && s[0] == '.' && s[1] == '.');
}

/* An O_PATH descriptor of rel (len bytes, already checked) below rootfd,
 * one component at a time so that no symlink is followed, or -errno. */
static int open_below(int rootfd, const char *rel, size_t len)
{
	char name[SD_NAME_MAX + 1];
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	size_t i = 0;

	if (fd < 0)
		return -errno;
	while (i < len) {
		const char *e = memchr(rel + i, '/', len - i);
		size_t n = e ? (size_t)(e - rel) - i : len - i;
		int nfd;

		memcpy(name, rel + i, n);
		name[n] = '\0';
		nfd = openat(fd, name,
			     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			int e2 = errno;

			close(fd);
			/* O_PATH|O_NOFOLLOW on a symlink gives ENOTDIR. */
			return -e2;
		}
		close(fd);
		fd = nfd;
		i += n + 1;
	}
	return fd;
}

int sd_ignore_check(struct sd_ignore *ig, int rootfd, const char *rel_path,
		    size_t len, bool is_dir)
{
	const char *slash;
	size_t dirlen, i;
	int fd = -1, r;

	if (len >= SD_PATH_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < len;) {
		const char *e = memchr(rel_path + i, '/', len - i);
		size_t n = e ? (size_t)(e - rel_path) - i : len - i;

		if (!component_ok(rel_path + i, n))
			return n > SD_NAME_MAX ? -ENAMETOOLONG : -EINVAL;
		i += n + 1;
	}
	if (len == 0 || rel_path[len - 1] == '/')
		return -EINVAL;
	slash = memrchr(rel_path, '/', len);
	dirlen = slash ? (size_t)(slash - rel_path) : 0;

	/* Leave what is not above rel_path; the root stays. */
	while (ig->depth > 1 &&
	       !(ig->path_len <= dirlen &&
		 memcmp(ig->path, rel_path, ig->path_len) == 0 &&
		 (ig->path_len == dirlen || rel_path[ig->path_len] == '/')))
		sd_ignore_leave_dir(ig);
	if (ig->depth == 0) {
		r = sd_ignore_enter_dir(ig, "", 0, rootfd);
		if (r < 0)
			return r;
	}
	while (ig->path_len < dirlen) {
		size_t start = ig->path_len ? ig->path_len + 1 : 0;
		const char *e = memchr(rel_path + start, '/', dirlen - start);
		size_t end = e ? (size_t)(e - rel_path) : dirlen;
		char name[SD_NAME_MAX + 1];
		int nfd;

		if (sd_ignore_match(ig, rel_path, end, true)) {
			r = 1;
			goto out;
		}
		if (fd < 0) {
			fd = open_below(rootfd, ig->path, ig->path_len);
			if (fd < 0)
				return fd;
		}
		memcpy(name, rel_path + start, end - start);
		name[end - start] = '\0';
		nfd = openat(fd, name,
			     O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0) {
			r = -errno;
			goto out;
		}
		close(fd);
		fd = nfd;
		r = sd_ignore_enter_dir(ig, rel_path, end, fd);
		if (r < 0)
			goto out;
	}
	r = sd_ignore_match(ig, rel_path, len, is_dir);
out:
	if (fd >= 0)
		close(fd);
	return r;
}
