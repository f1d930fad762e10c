/* SPDX-License-Identifier: MIT */
/* tether changes and tether reset: what commands changed in a node's view
 * of a workspace, and discarding it; the paging and path display that
 * tether apply shares (cli.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "codec.h"
#include "link.h"
#include "log.h"

static const char changes_usage[] =
	"usage: tether changes (--node URL --workspace NAME | [--config FILE] --agent ID)\n"
	"                      [--json]\n"
	"  what commands changed in the node's view of workspace NAME, against\n"
	"  the version it shows; one line each, in path order:\n"
	"    created|modified|deleted  SIZE  PATH[ (conflict)]\n"
	"  SIZE in bytes (a symlink: its target's length; a directory: 0; deleted:\n"
	"  what it was). A directory's PATH ends in '/'. Bytes that are not\n"
	"  printable UTF-8, and '\\', are shown as \\xNN. A conflict is a path the\n"
	"  workspace changed too: tether apply leaves it as the workspace has it.\n"
	"  --json  one object: {\"workspace\":NAME,\"changes\":[{\"kind\",\"type\",\n"
	"          \"size\",\"path\",\"conflict\"},...]}; a path that is not UTF-8\n"
	"          has its bytes in \"path_hex\" too, and U+FFFD for each stray\n"
	"          byte in \"path\"\n";

static const char reset_usage[] =
	"usage: tether reset (--node URL --workspace NAME | [--config FILE] --agent ID)\n"
	"  discard what commands changed in the node's view of workspace NAME:\n"
	"  it shows its synced version again\n";

/* One page walks the view's whole upper layer on the node. */
#define CALL_MS 60000

const char *const cli_change_kinds[4] = {
	[TP_CHANGE_CREATED] = "created",
	[TP_CHANGE_MODIFIED] = "modified",
	[TP_CHANGE_DELETED] = "deleted",
};

const char *const cli_change_types[4] = {
	[TP_CHANGE_FILE] = "file",
	[TP_CHANGE_DIR] = "dir",
	[TP_CHANGE_SYMLINK] = "symlink",
};

struct opts {
	const char *url;
	const char *name;
	bool json;
	/* --agent: where the config routes it */
	char url_buf[PATH_MAX + 16];
	char name_buf[TP_NAME_MAX + 1];
};

/* 0, 1 (--help shown) or -EINVAL (usage shown or the name refused). */
static int parse(int argc, char **argv, const char *usage, bool json_ok,
		 struct opts *o)
{
	static const struct option opts[] = {
		{ "node", required_argument, NULL, 'N' },
		{ "workspace", required_argument, NULL, 'W' },
		{ "json", no_argument, NULL, 'J' },
		{ "config", required_argument, NULL, 'C' },
		{ "agent", required_argument, NULL, 'A' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = NULL, *agent = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'N': o->url = optarg; break;
		case 'W': o->name = optarg; break;
		case 'C': config = optarg; break;
		case 'A': agent = optarg; break;
		case 'J':
			if (json_ok) {
				o->json = true;
				break;
			}
			fputs(usage, stderr);
			return -EINVAL;
		case 'h': fputs(usage, stdout); return 1;
		default: fputs(usage, stderr); return -EINVAL;
		}
	}
	if (agent && (o->url || o->name)) {
		log_error("--agent and --node/--workspace exclude each other");
		return -EINVAL;
	}
	if (agent) {
		if (cli_agent_route(argv[0], config, agent, o->url_buf,
				    sizeof(o->url_buf), o->name_buf,
				    sizeof(o->name_buf)) < 0)
			return -EINVAL;
		o->url = o->url_buf;
		o->name = o->name_buf;
	}
	if (!o->url || !o->name || optind != argc) {
		fputs(usage, stderr);
		return -EINVAL;
	}
	if (!tp_name_ok((const uint8_t *)o->name, strlen(o->name))) {
		log_error("--workspace %s: not a name (1-%u of A-Z a-z 0-9 _ - "
			  "., not starting with '.')",
			  o->name, TP_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* The length of the well-formed UTF-8 sequence at p (n bytes left): no
 * overlong form, no surrogate, nothing past U+10FFFF; 0 if there is
 * none. Sets *cp. */
static size_t utf8_len(const uint8_t *p, size_t n, uint32_t *cp)
{
	size_t len;
	uint32_t c;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		c = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

void cli_path_show(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0;
	uint32_t cp;

	if (n > TP_PATH_MAX)
		n = TP_PATH_MAX;
	while (n) {
		size_t k = utf8_len(p, n, &cp);

		if (k == 0 || cp < 0x20 || cp == '\\' ||
		    (cp >= 0x7f && cp < 0xa0)) {
			snprintf(out + o, 5, "\\x%02x", p[0]);
			o += 4;
			k = 1;
		} else {
			memcpy(out + o, p, k);
			o += k;
		}
		p += k;
		n -= k;
	}
	out[o] = '\0';
}

static void print_row(const struct tp_ws_change *c)
{
	static char shown[CLI_PATH_SHOWN];

	cli_path_show(c->path.ptr, c->path.len, shown);
	printf("%-8s %12" PRIu64 "  %s%s%s\n", cli_change_kinds[c->kind],
	       c->size, shown, c->type == TP_CHANGE_DIR ? "/" : "",
	       c->conflict ? " (conflict)" : "");
}

int cli_json_path(json_t *o, const struct tp_bytes *path)
{
	/* Zeroed: -O2 cannot see that a path is never empty. */
	char text[TP_PATH_MAX * 3] = "", hex[TP_PATH_MAX * 2 + 1];
	const uint8_t *p = path->ptr;
	size_t n = path->len, t = 0;
	bool clean = true;
	uint32_t cp;

	while (n) {
		size_t k = utf8_len(p, n, &cp);

		if (k == 0) {
			memcpy(text + t, "\xef\xbf\xbd", 3);
			t += 3;
			k = 1;
			clean = false;
		} else {
			memcpy(text + t, p, k);
			t += k;
		}
		p += k;
		n -= k;
	}
	if (json_object_set_new(o, "path", json_stringn(text, t)) < 0)
		return -ENOMEM;
	if (clean)
		return 0;
	for (uint32_t i = 0; i < path->len; i++)
		snprintf(hex + 2 * i, 3, "%02x", path->ptr[i]);
	return json_object_set_new(o, "path_hex",
				   json_stringn(hex, 2 * (size_t)path->len)) < 0
		       ? -ENOMEM
		       : 0;
}

static int json_row(json_t *list, const struct tp_ws_change *c)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "kind",
			      cli_change_kinds[c->kind], "type",
			      cli_change_types[c->type], "size",
			      (json_int_t)c->size);

	if (!o || cli_json_path(o, &c->path) < 0 ||
	    json_object_set_new(o, "conflict", json_boolean(c->conflict)) < 0 ||
	    json_array_append_new(list, o) < 0) {
		json_decref(o);
		return -ENOMEM;
	}
	return 0;
}

/* tether changes: each row printed, or added to the JSON list. */
static int take_row(void *opaque, const struct tp_ws_change *c)
{
	json_t *list = opaque;

	if (list)
		return json_row(list, c);
	print_row(c);
	return 0;
}

static int bytes_cmp(const struct tp_bytes *a, const uint8_t *b, uint32_t blen)
{
	uint32_t n = a->len < blen ? a->len : blen;
	int c = n ? memcmp(a->ptr, b, n) : 0;

	return c ? c : (a->len > blen) - (a->len < blen);
}

int cli_changes_fetch(struct tp_chan *ch, const char *name, cli_change_fn fn,
		      void *opaque, char *err, size_t errlen)
{
	uint8_t after[TP_PATH_MAX];
	struct tp_msg req = { .type = TP_WS_CHANGES }, rep;
	uint32_t after_len = 0;
	struct tp_ws_change c;
	int r;

	req.changes.workspace = (struct tp_bytes){ (const uint8_t *)name,
						   (uint32_t)strlen(name) };
	for (;;) {
		uint32_t pos = 0;
		bool first = true;

		req.changes.after = (struct tp_bytes){ after, after_len };
		r = tp_chan_call(ch, &req, &rep, CALL_MS, err, errlen);
		if (r < 0)
			return r;
		if (rep.type != TP_WS_CHANGED) {
			snprintf(err, errlen,
				 "the node answered %s to WS_CHANGES",
				 tp_type_name(rep.type));
			return -EPROTO;
		}
		while (tp_changed_next(&rep.changed, &pos, &c)) {
			/* The decoder checked the order within the page;
			 * across pages is ours to check, or a node that
			 * repeats itself would keep us here forever. */
			if (first && after_len &&
			    bytes_cmp(&c.path, after, after_len) <= 0) {
				snprintf(err, errlen,
					 "the node's page does not start after "
					 "the one before");
				return -EPROTO;
			}
			r = fn(opaque, &c);
			if (r < 0) {
				if (!err[0])
					snprintf(err, errlen, "%s",
						 strerror(-r));
				return r;
			}
			first = false;
		}
		if (!rep.changed.more)
			return 0;
		/* The frame goes with the next call: keep where it ended. */
		memcpy(after, c.path.ptr, c.path.len);
		after_len = c.path.len;
	}
}

static int open_chan(const char *url, struct tp_link **link,
		     struct tp_chan **ch)
{
	int r = tp_link_open(url, link);

	if (r == 0)
		r = tp_chan_open(*link, ch);
	return r;
}

static int fail(const char *what, const struct opts *o, int r, const char *err)
{
	log_error("%s %s: %s", what, o->url,
		  err[0]	       ? err
		  : r == -ECONNREFUSED ? "connection refused"
				       : strerror(-r));
	return CLI_EXIT_FAILURE;
}

int cli_changes(int argc, char **argv)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	struct tp_link *link = NULL;
	struct tp_chan *ch = NULL;
	struct opts o = { 0 };
	json_t *top = NULL, *list = NULL;
	int r;

	r = parse(argc, argv, changes_usage, true, &o);
	if (r)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	if (o.json) {
		list = json_array();
		top = json_pack("{s:s, s:o}", "workspace", o.name, "changes",
				list);
		if (!top) {
			log_error("out of memory");
			return CLI_EXIT_FAILURE;
		}
	}
	r = open_chan(o.url, &link, &ch);
	if (r == 0)
		r = cli_changes_fetch(ch, o.name, take_row, list, err,
				      sizeof(err));
	tp_chan_close(ch);
	tp_link_close(link);
	if (r < 0) {
		json_decref(top);
		return fail("changes", &o, r, err);
	}
	if (top) {
		r = json_dumpf(top, stdout, JSON_COMPACT);
		json_decref(top);
		if (r < 0) {
			log_error("changes %s: writing the JSON failed",
				  o.name);
			return CLI_EXIT_FAILURE;
		}
		putchar('\n');
	}
	return 0;
}

int cli_reset_view(const char *url, const char *name, char *err, size_t errlen)
{
	struct tp_msg req = { .type = TP_WS_RESET }, rep;
	struct tp_link *link = NULL;
	struct tp_chan *ch = NULL;
	int r;

	req.reset.workspace = (struct tp_bytes){ (const uint8_t *)name,
						 (uint32_t)strlen(name) };
	r = open_chan(url, &link, &ch);
	if (r == 0)
		r = tp_chan_call(ch, &req, &rep, CALL_MS, err, errlen);
	if (r == 0 && rep.type != TP_OK) {
		snprintf(err, errlen, "the node answered %s to WS_RESET",
			 tp_type_name(rep.type));
		r = -EPROTO;
	}
	tp_chan_close(ch);
	tp_link_close(link);
	return r;
}

int cli_reset(int argc, char **argv)
{
	char err[TP_ERRMSG_MAX + 64] = "";
	struct opts o = { 0 };
	int r;

	r = parse(argc, argv, reset_usage, false, &o);
	if (r)
		return r > 0 ? 0 : CLI_EXIT_USAGE;
	r = cli_reset_view(o.url, o.name, err, sizeof(err));
	if (r < 0)
		return fail("reset", &o, r, err);
	printf("tether: workspace %s: changes discarded\n", o.name);
	return 0;
}
