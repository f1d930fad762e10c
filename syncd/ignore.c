/* SPDX-License-Identifier: MIT */
/* Ignore rules: a port of git's wildmatch() and of the exclude-list order of
 * its dir.c, over byte strings with explicit lengths, allocation-free. */
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
	uint16_t len;
	uint16_t prefix; /* bytes before the first of * ? [ \ (git's
			  * nowildcardlen) */
	uint8_t flags;
	/* The byte every matching subject ends with, 0 if unknown: a pattern
	 * whose last byte is a plain literal can only match a subject that
	 * ends with it, which rejects most patterns in one compare. */
	uint8_t last;
};

struct level {
	uint32_t baselen; /* bytes of "dir/" before names in this directory:
			   * 0 for the root */
	uint32_t npats;
	struct pat *pats; /* NULL if the directory has no rules */
	char *text[2];	  /* the rule files' bytes, which pats point into */
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

/* ---- wildmatch: git's wildmatch.c (Rich $alz, Wayne Davison), with the
 * text bounded by an end pointer instead of a NUL. Return values and their
 * use to cut the search short are git's. */

enum {
	WM_MATCH = 0,
	WM_NOMATCH = 1,
	WM_ABORT_ALL = -1,
	WM_ABORT_TO_STARSTAR = -2,
};

/* git's ctype (ctype.c, git-compat-util.h): ASCII only, locale-free. */
static bool is_glob_special(uchar c)
{
	return c == '*' || c == '?' || c == '[' || c == '\\';
}

static bool is_alpha(uchar c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(uchar c)
{
	return c >= '0' && c <= '9';
}

static bool is_punct(uchar c)
{
	return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) ||
	       (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/* [:name:] of n bytes against c: 1 or 0, or -1 for an unknown class, which
 * makes git's whole pattern fail. */
static int class_match(const uchar *name, size_t n, uchar c)
{
#define CC(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
	if (CC("alnum"))
		return is_alpha(c) || is_digit(c);
	if (CC("alpha"))
		return is_alpha(c);
	if (CC("blank"))
		return c == ' ' || c == '\t';
	if (CC("cntrl"))
		return c < 32 || c == 127;
	if (CC("digit"))
		return is_digit(c);
	if (CC("graph"))
		return c > 32 && c < 127;
	if (CC("lower"))
		return c >= 'a' && c <= 'z';
	if (CC("print"))
		return c >= 32 && c < 127;
	if (CC("punct"))
		return is_punct(c);
	if (CC("space")) /* git's isspace: no \v or \f */
		return c == ' ' || c == '\t' || c == '\n' || c == '\r';
	if (CC("upper"))
		return c >= 'A' && c <= 'Z';
	if (CC("xdigit"))
		return is_digit(c) || (c >= 'a' && c <= 'f') ||
		       (c >= 'A' && c <= 'F');
#undef CC
	return -1;
}

/* A pattern's class at p (just after '['), against t_ch. Returns WM_MATCH
 * or WM_NOMATCH with *pp at the closing ']', or WM_ABORT_ALL. */
static int match_class(const uchar **pp, uchar t_ch, bool pathname)
{
	const uchar *p = *pp;
	uchar p_ch = *p, prev_ch = 0;
	int matched = 0, negated;

	if (p_ch == '^')
		p_ch = '!';
	negated = p_ch == '!';
	if (negated)
		p_ch = *++p;
	do {
		if (!p_ch)
			return WM_ABORT_ALL;
		if (p_ch == '\\') {
			p_ch = *++p;
			if (!p_ch)
				return WM_ABORT_ALL;
			if (t_ch == p_ch)
				matched = 1;
		} else if (p_ch == '-' && prev_ch && p[1] && p[1] != ']') {
			p_ch = *++p;
			if (p_ch == '\\') {
				p_ch = *++p;
				if (!p_ch)
					return WM_ABORT_ALL;
			}
			if (t_ch <= p_ch && t_ch >= prev_ch)
				matched = 1;
			p_ch = 0; /* so that prev_ch becomes 0 */
		} else if (p_ch == '[' && p[1] == ':') {
			const uchar *s;
			int r;

			for (s = p += 2; (p_ch = *p) && p_ch != ']'; p++)
				;
			if (!p_ch)
				return WM_ABORT_ALL;
			if (p - s < 1 || p[-1] != ':') {
				/* No ":]": the '[' was a plain member. */
				p = s - 2;
				p_ch = '[';
				if (t_ch == p_ch)
					matched = 1;
				continue;
			}
			r = class_match(s, (size_t)(p - s - 1), t_ch);
			if (r < 0)
				return WM_ABORT_ALL;
			if (r)
				matched = 1;
			p_ch = 0;
		} else if (t_ch == p_ch) {
			matched = 1;
		}
	} while (prev_ch = p_ch, (p_ch = *++p) != ']');
	*pp = p;
	if (matched == negated || (pathname && t_ch == '/'))
		return WM_NOMATCH;
	return WM_MATCH;
}

/* Pattern p (NUL-terminated) against text [t, te). pathname is git's
 * WM_PATHNAME: '*', '?' and classes do not match '/', "**" does. The depth
 * of recursion is at most the number of '*' runs in p. */
static int dowild(const uchar *p, const uchar *t, const uchar *te,
		  bool pathname)
{
	const uchar *pattern = p;
	uchar p_ch;

	for (; (p_ch = *p) != '\0'; t++, p++) {
		int matched, match_slash;
		uchar t_ch;

		if (t == te) {
			if (p_ch != '*')
				return WM_ABORT_ALL;
			t_ch = 0;
		} else {
			t_ch = *t;
		}
		switch (p_ch) {
		case '\\':
			/* A trailing '\\' matches nothing (and p must not
			 * step past its NUL). */
			p_ch = *++p;
			if (!p_ch || t_ch != p_ch)
				return WM_NOMATCH;
			continue;
		default:
			if (t_ch != p_ch)
				return WM_NOMATCH;
			continue;
		case '?':
			if (pathname && t_ch == '/')
				return WM_NOMATCH;
			continue;
		case '[':
			++p;
			matched = match_class(&p, t_ch, pathname);
			if (matched != WM_MATCH)
				return matched;
			continue;
		case '*':
			if (*++p == '*') {
				const uchar *prev_p = p - 2;

				while (*++p == '*')
					;
				if (!pathname) {
					match_slash = 1;
				} else if ((prev_p < pattern ||
					    *prev_p == '/') &&
					   (*p == '\0' || *p == '/' ||
					    (p[0] == '\\' && p[1] == '/'))) {
					/* "**" as a whole component: "a/ ** /b"
					 * (without the spaces) also matches
					 * "a/b", so first try it as nothing. */
					if (p[0] == '/' &&
					    dowild(p + 1, t, te, pathname) ==
						    WM_MATCH)
						return WM_MATCH;
					match_slash = 1;
				} else {
					/* Elsewhere "**" is a plain '*'. */
					match_slash = 0;
				}
			} else {
				match_slash = !pathname;
			}
			if (*p == '\0') {
				/* A trailing "**" matches everything, a
				 * trailing '*' the rest of a component. */
				if (!match_slash &&
				    memchr(t, '/', (size_t)(te - t)))
					return WM_NOMATCH;
				return WM_MATCH;
			} else if (!match_slash && *p == '/') {
				/* "* /" (without the space): the rest of this
				 * component; the loop consumes both slashes. */
				const uchar *slash =
					memchr(t, '/', (size_t)(te - t));

				if (!slash)
					return WM_NOMATCH;
				t = slash;
				break;
			}
			for (;;) {
				if (t == te)
					break;
				/* A literal after the star: skip to its next
				 * occurrence (never past a '/' the star cannot
				 * match). */
				if (!is_glob_special(*p)) {
					p_ch = *p;
					while (t < te &&
					       (match_slash || *t != '/') &&
					       *t != p_ch)
						t++;
					if (t == te || *t != p_ch)
						return WM_NOMATCH;
				}
				t_ch = *t;
				matched = dowild(p, t, te, pathname);
				if (matched != WM_NOMATCH) {
					if (!match_slash ||
					    matched != WM_ABORT_TO_STARSTAR)
						return matched;
				} else if (!match_slash && t_ch == '/') {
					return WM_ABORT_TO_STARSTAR;
				}
				t++;
			}
			return WM_ABORT_ALL;
		}
	}
	return t == te ? WM_MATCH : WM_NOMATCH;
}

/* ---- patterns ---- */

static size_t simple_length(const uchar *s, size_t len)
{
	size_t i = 0;

	while (i < len && !is_glob_special(s[i]))
		i++;
	return i;
}

/* One pattern, or false if it can never match: git's parse_path_pattern()
 * and the fixed parts of match_basename() / match_pathname(). s[len] is
 * writable and becomes the pattern's NUL. */
static bool pat_parse(struct pat *pt, uchar *s, size_t len)
{
	unsigned flags = 0;
	size_t prefix;
	uchar c;

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
	c = s[len - 1];
	pt->p = s;
	pt->len = (uint16_t)len;
	pt->prefix = (uint16_t)prefix;
	pt->flags = (uint8_t)flags;
	/* A last byte that is not part of a wildcard, a class or an escape
	 * must match the subject's last byte ("\c" and "\\c" end in a literal
	 * c too; an unterminated class never matches). */
	pt->last = (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
			   ? 0
			   : c;
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

static void level_fini(struct level *lvl)
{
	free(lvl->pats);
	free(lvl->text[0]);
	free(lvl->text[1]);
	memset(lvl, 0, sizeof(*lvl));
}

static int level_load(const struct sd_ignore *ig, struct level *lvl,
		      const char *rel_dir, size_t len, int dirfd)
{
	static const char *const files[2] = { SD_IGNORE_GITIGNORE,
					      SD_IGNORE_TETHERIGNORE };
	size_t size[2], lines = 0;
	int r;

	for (int i = 0; i < 2; i++) {
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
	if (lvl->npats == 0) {
		free(lvl->pats);
		lvl->pats = NULL;
	}
	return 0;
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

int sd_ignore_enter_dir(struct sd_ignore *ig, const char *rel_dir, size_t len,
			int dirfd)
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
	if (dirfd >= 0) {
		r = level_load(ig, &lvl, rel_dir, len, dirfd);
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

/* git's last_matching_pattern_from_list(): 1 ignored, 0 re-included by a
 * negation, -1 no pattern of lvl matches. name is the path below lvl's
 * directory, base the entry's own name, last the path's last byte. */
static int level_match(const struct level *lvl, const uchar *name, size_t nlen,
		       const uchar *base, size_t blen, uchar last, bool is_dir)
{
	for (uint32_t i = lvl->npats; i-- > 0;) {
		const struct pat *pt = &lvl->pats[i];
		bool m;

		if (pt->last && pt->last != last)
			continue;
		if ((pt->flags & PAT_MUSTBEDIR) && !is_dir)
			continue;
		if (pt->flags & PAT_NODIR) {
			if (pt->flags & PAT_LITERAL)
				m = blen == pt->len &&
				    memcmp(base, pt->p, blen) == 0;
			else if (pt->flags & PAT_ENDSWITH)
				m = blen >= pt->len - 1u &&
				    memcmp(base + blen - (pt->len - 1u),
					   pt->p + 1, pt->len - 1u) == 0;
			else
				m = dowild(pt->p, base, base + blen, false) ==
				    WM_MATCH;
		} else if (pt->prefix > nlen ||
			   memcmp(pt->p, name, pt->prefix) != 0) {
			m = false;
		} else if (pt->flags & PAT_LITERAL) {
			m = nlen == pt->len;
		} else {
			/* As git, the wildcard part starts a new pattern:
			 * after the literal "a" of "a**b", "**" counts as at
			 * the start. */
			m = dowild(pt->p + pt->prefix, name + pt->prefix,
				   name + nlen, true) == WM_MATCH;
		}
		if (m)
			return !(pt->flags & PAT_NEGATIVE);
	}
	return -1;
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
