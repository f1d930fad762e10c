/* SPDX-License-Identifier: MIT */
/* Unit tests for the tether.json loader (exec/config.c) and the per-agent
 * router (exec/router.c): accepted shapes, routing, and every error line. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"
#include "config.h"
#include "config_fixture.h"

/* The example of the brief, in the ' for " notation of parse_q(). */
static const char example[] =
	"{\n"
	"  'backends': {\n"
	"    'local':  { 'type': 'host' },\n"
	"    'build':  { 'type': 'node', 'url': 'tcp://127.0.0.1:7000' },\n"
	"    'vmnode': { 'type': 'node', 'node': 'Coding VM' }\n"
	"  },\n"
	"  'nodes': { 'Coding VM': { 'url': 'tcp://127.0.0.1:7001' } },\n"
	"  'agents': {\n"
	"    'defaults': { 'backend': 'local', 'timeout': 600 },\n"
	"    'list': [\n"
	"      { 'id': 'coding-agent', 'backend': 'build', 'timeout': 30.5 },\n"
	"      { 'id': 'reader', 'backend': 'host' }\n"
	"    ]\n"
	"  }\n"
	"}\n";

static void test_example(void **state)
{
	struct exec_config *c = parse_ok(example);

	assert_string_equal(c->origin, "tether.json");

	assert_int_equal(c->n_nodes, 1);
	assert_string_equal(c->nodes[0].name, "Coding VM");
	assert_string_equal(c->nodes[0].url, "tcp://127.0.0.1:7001");

	/* In file order. */
	assert_int_equal(c->n_backends, 3);
	assert_string_equal(c->backends[0].name, "local");
	assert_string_equal(c->backends[0].type, "host");
	assert_null(c->backends[0].url);
	assert_string_equal(c->backends[1].name, "build");
	assert_string_equal(c->backends[1].type, "node");
	assert_string_equal(c->backends[1].url, "tcp://127.0.0.1:7000");
	assert_string_equal(c->backends[2].name, "vmnode");
	assert_string_equal(c->backends[2].type, "node");
	assert_string_equal(c->backends[2].url, "tcp://127.0.0.1:7001");

	assert_null(c->defaults.id);
	assert_string_equal(c->defaults.backend, "local");
	assert_null(c->defaults.node);
	assert_int_equal(c->defaults.timeout_ms, 600000);

	assert_int_equal(c->n_agents, 2);
	assert_string_equal(c->agents[0].id, "coding-agent");
	assert_string_equal(c->agents[0].backend, "build");
	assert_int_equal(c->agents[0].timeout_ms, 30500);
	assert_string_equal(c->agents[1].id, "reader");
	assert_string_equal(c->agents[1].backend, "host");
	assert_int_equal(c->agents[1].timeout_ms, 0);
	exec_config_free(c);
}

static void test_empty_object(void **state)
{
	struct exec_config *c = parse_ok("{}");

	assert_int_equal(c->n_backends, 0);
	assert_int_equal(c->n_nodes, 0);
	assert_int_equal(c->n_agents, 0);
	assert_string_equal(c->defaults.backend, "host");
	assert_int_equal(c->defaults.timeout_ms, 0);
	exec_config_free(c);
	exec_config_free(NULL);
}

static void test_route_three_backends(void **state)
{
	struct exec_config *c;

	c = parse_ok("{'backends': {"
		     "  'local': {'type': 'host'},"
		     "  'build': {'type': 'node', 'url': 'tcp://10.1.1.1:70'},"
		     "  'vmnode': {'type': 'node', 'node': 'Coding VM'}},"
		     " 'nodes': {'Coding VM': {'url': 'ipc:///run/vm.sock'}},"
		     " 'agents': {'defaults': {'timeout': 600}, 'list': ["
		     "  {'id': 'a', 'backend': 'local'},"
		     "  {'id': 'b', 'backend': 'build', 'timeout': 1.25},"
		     "  {'id': 'c', 'backend': 'vmnode'},"
		     "  {'id': 'd', 'backend': 'off'}]}}");
	expect_route(c, "a", &exec_backend_host_ops, "local", NULL, 600000);
	expect_route(c, "b", &exec_backend_node_ops, "build",
		     "tcp://10.1.1.1:70", 1250);
	expect_route(c, "c", &exec_backend_node_ops, "vmnode",
		     "ipc:///run/vm.sock", 600000);
	/* A bare type name is used directly, named after itself. */
	expect_route(c, "d", &exec_backend_host_ops, "off", NULL, 600000);
	exec_config_free(c);
}

static void test_route_default(void **state)
{
	struct exec_config *c;

	/* The default backend applies to an agent that names none. */
	c = parse_ok("{'backends': {'build': {'type': 'node',"
		     "   'url': 'tls+tcp://build.example:7000'}},"
		     " 'agents': {'defaults': {'backend': 'build'},"
		     "  'list': [{'id': 'plain', 'timeout': 5},"
		     "           {'id': 'local', 'backend': 'host'}]}}");
	expect_route(c, "plain", &exec_backend_node_ops, "build",
		     "tls+tcp://build.example:7000", 5000);
	expect_route(c, "local", &exec_backend_host_ops, "host", NULL, 0);
	exec_config_free(c);

	/* No defaults at all: host. */
	c = parse_ok("{'agents': {'list': [{'id': 'x'}]}}");
	expect_route(c, "x", &exec_backend_host_ops, "host", NULL, 0);
	exec_config_free(c);
}

static void test_unknown_agent(void **state)
{
	struct exec_config *c = parse_ok("{'agents': {'list': [{'id': 'a'}]}}");
	struct exec_backend *b = NULL;
	char err[ERR_CAP] = "";

	assert_int_equal(exec_router_resolve(c, "stranger", &b, NULL, err,
					     sizeof(err)),
			 -ENOENT);
	assert_null(b);
	assert_string_equal(err, "tether.json: unknown agent 'stranger'");
	exec_config_free(c);
}

static void test_unknown_backend(void **state)
{
	struct exec_config *c = NULL;
	char err[ERR_CAP];

	assert_int_equal(parse_q("{'backends': {'build': {'type': 'node',"
				 "  'url': 'tcp://h:1'}},"
				 " 'agents': {'list': ["
				 "  {'id': 'a', 'backend': 'build'},"
				 "  {'id': 'b', 'backend': 'bild'}]}}",
				 &c, err),
			 -EINVAL);
	assert_string_equal(err, "tether.json: agents.list[1].backend: "
				 "unknown backend 'bild'");
	expect_error("{'agents': {'defaults': {'backend': 'bild'}}}",
		     "agents.defaults.backend", "unknown backend 'bild'", NULL);
	/* "node" as a bare type has no url to go to. */
	expect_error("{'agents': {'list': [{'id': 'a', 'backend': 'node'}]}}",
		     "agents.list[0].backend", "'node'", "url", NULL);
}

static void test_unknown_keys(void **state)
{
	struct exec_config *c = NULL;
	char err[ERR_CAP];

	assert_int_equal(parse_q("{'agents': {'list': [{'id': 'a'},"
				 " {'id': 'b'},"
				 " {'id': 'c', 'backnd': 'host'}]}}",
				 &c, err),
			 -EINVAL);
	assert_string_equal(err,
			    "tether.json: agents.list[2].backnd: unknown key");
	expect_error("{'backend': {}}", "tether.json: backend: unknown key",
		     NULL);
	expect_error("{'backends': {'b': {'type': 'host', 'imag': 'x'}}}",
		     "backends.b.imag: unknown key", NULL);
	expect_error("{'nodes': {'n': {'url': 'tcp://h:1', 'token': 'x'}}}",
		     "nodes.n.token: unknown key", NULL);
	expect_error("{'agents': {'default': {}}}",
		     "agents.default: unknown key", NULL);
	expect_error("{'agents': {'defaults': {'timout': 3}}}",
		     "agents.defaults.timout: unknown key", NULL);
	expect_error("{'agents': {'defaults': {'id': 'x'}}}",
		     "agents.defaults.id: unknown key", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'name': 'x'}]}}",
		     "agents.list[0].name: unknown key", NULL);
}

static void test_wrong_types(void **state)
{
	expect_error("{'backends': {'build': {'type': 'node', 'url': 7000}}}",
		     "tether.json: backends.build.url: expected a string",
		     NULL);
	expect_error("{'backends': []}", "backends: expected an object", NULL);
	expect_error("{'backends': {'b': 'host'}}",
		     "backends.b: expected an object", NULL);
	expect_error("{'backends': {'b': {'type': true}}}",
		     "backends.b.type: expected a string", NULL);
	expect_error("{'nodes': {'n': {'url': null}}}",
		     "nodes.n.url: expected a string", NULL);
	expect_error("{'agents': []}", "agents: expected an object", NULL);
	expect_error("{'agents': {'list': {}}}",
		     "agents.list: expected an array", NULL);
	expect_error("{'agents': {'list': ['a']}}",
		     "agents.list[0]: expected an object", NULL);
	expect_error("{'agents': {'list': [{'id': 1}]}}",
		     "agents.list[0].id: expected a string", NULL);
	expect_error("{'agents': {'defaults': {'backend': ['host']}}}",
		     "agents.defaults.backend: expected a string", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'tools': []}]}}",
		     "agents.list[0].tools: expected an object", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'host': 1}}}]}}",
		     "agents.list[0].tools.exec.host: expected a string", NULL);
}

static void test_backend_errors(void **state)
{
	expect_error("{'backends': {'b': {'url': 'tcp://h:1'}}}", "backends.b",
		     "missing 'type'", NULL);
	expect_error("{'backends': {'b': {'type': 'lxc'}}}", "backends.b.type",
		     "unknown backend type 'lxc'", NULL);
	expect_error("{'backends': {'b': {'type': 'node'}}}", "backends.b",
		     "'url'", "'node'", NULL);
	expect_error("{'nodes': {'n': {'url': 'tcp://h:1'}},"
		     " 'backends': {'b': {'type': 'node', 'url': 'tcp://h:1',"
		     "  'node': 'n'}}}",
		     "backends.b", "both", NULL);
	expect_error("{'backends': {'b': {'type': 'node', 'node': 'n'}}}",
		     "backends.b.node", "unknown node 'n'", NULL);
	expect_error("{'backends': {'b': {'type': 'node',"
		     " 'url': 'http://h:1'}}}",
		     "backends.b.url", "'http://h:1'", NULL);
	expect_error("{'backends': {'b': {'type': 'node', 'url': 'tcp://'}}}",
		     "backends.b.url", "'tcp://'", NULL);
	expect_error("{'nodes': {'n': {'url': 'ssh://h'}}}", "nodes.n.url",
		     "'ssh://h'", NULL);
	expect_error("{'nodes': {'n': {}}}", "nodes.n", "missing 'url'", NULL);
	expect_error("{'backends': {'b': {'type': 'host',"
		     " 'url': 'tcp://h:1'}}}",
		     "backends.b.url", "not allowed", NULL);
	expect_error("{'backends': {'': {'type': 'host'}}}", "backends",
		     "empty name", NULL);
	/* A name that is a type must be of that type, so that "host" always
	 * means the host. */
	expect_error("{'backends': {'host': {'type': 'node',"
		     " 'url': 'tcp://h:1'}}}",
		     "backends.host.type", NULL);
	exec_config_free(parse_ok("{'backends': {'host': {'type': 'off'}}}"));
}

static void test_agent_errors(void **state)
{
	expect_error("{'agents': {'list': [{'backend': 'host'}]}}",
		     "agents.list[0]", "missing 'id'", NULL);
	expect_error("{'agents': {'list': [{'id': ''}]}}", "agents.list[0].id",
		     "empty", NULL);
	expect_error("{'agents': {'list': [{'id': 'a'}, {'id': 'b'},"
		     " {'id': 'a'}]}}",
		     "agents.list[2].id", "duplicate id 'a'", "agents.list[0]",
		     NULL);
}

/* Sync: each agent's node, workspace and trust domain. */
static void test_workspaces(void **state)
{
	const char *url, *ws, *domain;
	struct exec_config *c;
	char err[ERR_CAP];

	assert_int_equal(
		parse_q("{ 'backends': { 'b': { 'type': 'node', "
			"'url': 'tcp://127.0.0.1:7000' } },"
			"  'agents': { 'defaults': { 'backend': 'b' },"
			"    'list': [ { 'id': 'a1', 'domain': 'team' },"
			"              { 'id': 'a2', 'domain': 'team',"
			"                'workspace': 'second' },"
			"              { 'id': 'a3' },"
			"              { 'id': 'not a name' },"
			"              { 'id': 'local', 'backend': 'host' } ] } }",
			&c, err),
		0);
	assert_int_equal(exec_router_workspace(c, "a1", &url, &ws, &domain, err,
					       sizeof(err)),
			 0);
	assert_string_equal(url, "tcp://127.0.0.1:7000");
	assert_string_equal(ws, "a1");
	assert_string_equal(domain, "team");
	assert_int_equal(exec_router_workspace(c, "a2", &url, &ws, &domain, err,
					       sizeof(err)),
			 0);
	assert_string_equal(ws, "second");
	assert_string_equal(domain, "team");
	assert_int_equal(exec_router_workspace(c, "a3", &url, &ws, &domain, err,
					       sizeof(err)),
			 0);
	assert_string_equal(ws, "a3");
	assert_null(domain);
	assert_int_equal(exec_router_workspace(c, "not a name", &url, &ws,
					       &domain, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "give it a \"workspace\""));
	assert_int_equal(exec_router_workspace(c, "local", &url, &ws, &domain,
					       err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "runs on this host"));
	assert_int_equal(exec_router_workspace(c, "nobody", &url, &ws, &domain,
					       err, sizeof(err)),
			 -ENOENT);
	exec_config_free(c);

	/* A bad name, and a workspace shared through the defaults. */
	assert_int_equal(parse_q("{ 'agents': { 'list': [ { 'id': 'a', "
				 "'domain': '../x' } ] } }",
				 &c, err),
			 -EINVAL);
	assert_string_equal(err, "tether.json: agents.list[0].domain: '../x' "
				 "is not a name (1-64 of A-Z a-z 0-9 _ - ., "
				 "not starting with '.')");
	assert_int_equal(parse_q("{ 'agents': { 'defaults': { 'workspace': "
				 "'w' } } }",
				 &c, err),
			 -EINVAL);
	assert_non_null(strstr(err, "agents.defaults.workspace"));
}

static void test_timeouts(void **state)
{
	static const char *const bad[] = { "0",		"-1",	"0.0",
					   "-0.5",	"'30'", "2592001",
					   "2592000.5", "1e12", "true",
					   "null" };
	char q[128];
	struct exec_config *c;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(q, sizeof(q),
			 "{'agents': {'list': [{'id': 'a',"
			 " 'timeout': %s}]}}",
			 bad[i]);
		expect_error(q, "agents.list[0].timeout", NULL);
	}
	expect_error("{'agents': {'defaults': {'timeout': 'x'}}}",
		     "agents.defaults.timeout: expected a number", NULL);
	expect_error("{'agents': {'defaults': {'timeout': 0}}}",
		     "agents.defaults.timeout", "30 days", NULL);

	c = parse_ok("{'agents': {'defaults': {'timeout': 2592000},"
		     " 'list': [{'id': 'a', 'timeout': 0.0004},"
		     "  {'id': 'b', 'timeout': 1.1},"
		     "  {'id': 'c', 'timeout': 1e2}]}}");
	assert_int_equal(c->defaults.timeout_ms, 2592000000u);
	assert_int_equal(c->agents[0].timeout_ms, 1); /* never rounds to none */
	assert_int_equal(c->agents[1].timeout_ms, 1100);
	assert_int_equal(c->agents[2].timeout_ms, 100000);
	exec_config_free(c);
}

static void test_json_errors(void **state)
{
	struct exec_config *c = NULL;
	char err[ERR_CAP];

	/* Line and column from jansson. */
	assert_int_equal(parse_q("{\n  'agents': {\n    'list': [,]\n  }\n}",
				 &c, err),
			 -EINVAL);
	if (strncmp(err, "tether.json:3:", 14) != 0)
		fail_msg("no line:col in '%s'", err);
	expect_error("{'a': 1,}", "tether.json:1:", NULL);
	expect_error("{'agents': {}, 'agents': {}}",
		     "tether.json:1:", "duplicate", NULL);
	expect_error("{'backends': {'b': {'type': 'host'},"
		     " 'b': {'type': 'host'}}}",
		     "duplicate", NULL);
	expect_error("", "empty", NULL);
	expect_error(" \n\t ", "empty", NULL);
	expect_error("[]", "tether.json: expected an object", NULL);
	expect_error("'host'", "tether.json: expected an object", NULL);
	expect_error("{} {}", "tether.json:1:", NULL);
	/* Embedded NUL: len counts, never strlen. */
	assert_int_equal(exec_config_parse("{}\0{", 4, "x", &c, err,
					   sizeof(err)),
			 -EINVAL);
	assert_null(c);
	/* Errors stay on one line whatever the file holds. */
	expect_error("{'backends': {'a\\nb': {'type': 'host', 'x\\ny': 1}}}",
		     "unknown key", NULL);
	/* No err buffer is fine. */
	assert_int_equal(exec_config_parse("[", 1, "x", &c, NULL, 0), -EINVAL);
}

static void make_tmpdir(char *dir, size_t len)
{
	const char *base = getenv("TMPDIR");

	snprintf(dir, len, "%s/tether-config-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_load(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], err[ERR_CAP];
	struct exec_config *c = NULL;
	char *big, *text;

	make_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/missing.json", dir);
	assert_int_equal(exec_config_load(path, &c, err, sizeof(err)), -ENOENT);
	assert_null(c);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file"));

	assert_int_equal(exec_config_load(dir, &c, err, sizeof(err)), -EISDIR);
	assert_non_null(strstr(err, dir));

	snprintf(path, sizeof(path), "%s/tether.json", dir);
	text = dq(example);
	write_file(path, text, strlen(text));
	free(text);
	assert_int_equal(exec_config_load(path, &c, err, sizeof(err)), 0);
	assert_string_equal(c->origin, path);
	assert_int_equal(c->n_agents, 2);
	exec_config_free(c);
	c = NULL;

	/* Parse errors name the file as origin. */
	write_file(path, "{\"x\": 1}", 8);
	assert_int_equal(exec_config_load(path, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "x: unknown key"));

	/* Past the cap, whatever it holds. */
	big = malloc(EXEC_CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, ' ', EXEC_CONFIG_FILE_MAX + 1);
	big[0] = '{';
	big[EXEC_CONFIG_FILE_MAX] = '}';
	write_file(path, big, EXEC_CONFIG_FILE_MAX + 1);
	free(big);
	assert_int_equal(exec_config_load(path, &c, err, sizeof(err)), -EFBIG);
	assert_non_null(strstr(err, path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_find(void **state)
{
	char dir[PATH_MAX], cwd[PATH_MAX], buf[PATH_MAX + 64];
	char want[PATH_MAX + 64], xdg[PATH_MAX + 16], small[8];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	make_tmpdir(dir, sizeof(dir));
	assert_int_equal(chdir(dir), 0);
	setenv("HOME", dir, 1);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("TETHER_CONFIG");
	assert_int_equal(exec_config_find(buf, sizeof(buf)), -ENOENT);

	/* ~/.config/tether/tether.json */
	snprintf(want, sizeof(want), "%s/.config", dir);
	assert_int_equal(mkdir(want, 0700), 0);
	snprintf(want, sizeof(want), "%s/.config/tether", dir);
	assert_int_equal(mkdir(want, 0700), 0);
	snprintf(want, sizeof(want), "%s/.config/tether/tether.json", dir);
	write_file(want, "{}", 2);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
	assert_int_equal(exec_config_find(small, sizeof(small)), -ENAMETOOLONG);

	/* $XDG_CONFIG_HOME replaces ~/.config; relative is ignored. */
	setenv("XDG_CONFIG_HOME", dir, 1);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), -ENOENT);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
	snprintf(xdg, sizeof(xdg), "%s/.config", dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);

	/* ./tether.json before those. */
	write_file("tether.json", "{}", 2);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tether.json");

	/* $TETHER_CONFIG first, even when it does not exist. */
	setenv("TETHER_CONFIG", "/nonexistent/t.json", 1);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/nonexistent/t.json");
	setenv("TETHER_CONFIG", "", 1);
	assert_int_equal(exec_config_find(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tether.json");

	unsetenv("TETHER_CONFIG");
	unsetenv("XDG_CONFIG_HOME");
	assert_int_equal(unlink("tether.json"), 0);
	assert_int_equal(unlink(want), 0);
	snprintf(want, sizeof(want), "%s/.config/tether", dir);
	assert_int_equal(rmdir(want), 0);
	snprintf(want, sizeof(want), "%s/.config", dir);
	assert_int_equal(rmdir(want), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* writeback per backend, dir per agent, and what the router makes of
 * them. */
static void test_writeback(void **state)
{
	struct exec_config *c = parse_ok(
		"{'backends': {'s': {'type': 'node', 'url': 'tcp://h:1',"
		" 'writeback': 'sync'}, 'n': {'type': 'node', 'url':"
		" 'tcp://h:2', 'writeback': 'none'}, 'r': {'type': 'node',"
		" 'url': 'tcp://h:3'}},"
		" 'nodes': {'x': {'url': 'tcp://h:4'}},"
		" 'agents': {'list': [{'id': 'a', 'backend': 's',"
		" 'dir': '/w/a'}, {'id': 'b', 'backend': 'n'},"
		" {'id': 'c', 'backend': 'r'}, {'id': 'd',"
		" 'tools': {'exec': {'host': 'node', 'node': 'x'}}},"
		" {'id': 'e'}]}}");
	enum exec_writeback m;
	const char *dir;
	char err[ERR_CAP];

	(void)state;
	assert_int_equal(exec_router_writeback(c, "a", &m, &dir, err, ERR_CAP),
			 0);
	assert_int_equal(m, EXEC_WRITEBACK_SYNC);
	assert_string_equal(dir, "/w/a");
	assert_int_equal(exec_router_writeback(c, "b", &m, &dir, err, ERR_CAP),
			 0);
	assert_int_equal(m, EXEC_WRITEBACK_NONE);
	assert_null(dir);
	assert_int_equal(exec_router_writeback(c, "c", &m, &dir, err, ERR_CAP),
			 0);
	assert_int_equal(m, EXEC_WRITEBACK_REVIEW);
	assert_int_equal(exec_router_writeback(c, "d", &m, &dir, err, ERR_CAP),
			 0);
	assert_int_equal(m, EXEC_WRITEBACK_REVIEW);
	assert_int_equal(exec_router_writeback(c, "e", &m, &dir, err, ERR_CAP),
			 0);
	assert_int_equal(m, EXEC_WRITEBACK_REVIEW);
	assert_int_equal(exec_router_writeback(c, "z", &m, &dir, err, ERR_CAP),
			 -ENOENT);
	assert_non_null(strstr(err, "unknown agent 'z'"));
	exec_config_free(c);

	expect_error("{'backends': {'s': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'writeback': 'always'}}}",
		     "backends.s.writeback",
		     "'always': one of none, review, sync", NULL);
	expect_error("{'backends': {'s': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'writeback': 1}}}",
		     "backends.s.writeback", NULL);
	expect_error(
		"{'backends': {'h': {'type': 'host', 'writeback': 'sync'}}}",
		"backends.h.writeback", "not allowed for type 'host'", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'dir': 'rel/dir'}]}}",
		     "agents.list[0].dir", "must be an absolute path", NULL);
	expect_error("{'agents': {'defaults': {'dir': '/w'}}}",
		     "agents.defaults.dir", "not allowed in the defaults",
		     NULL);
}

/* "limits", "network" and "mount": on a node backend, in the defaults and
 * per agent, each layer over the one before; refused where nothing
 * sandboxes, and with a reason for a bad value. */
static void test_sandbox_settings(void **state)
{
	struct exec_config *c = parse_ok(
		"{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		"  'limits': {'memory': '1g', 'pids': 100, 'nofile': 512},"
		"  'network': 'host'}},"
		" 'agents': {'defaults': {'backend': 'n',"
		"  'limits': {'cpus': 1.5, 'memory': 268435456}},"
		"  'list': [{'id': 'a'},"
		"   {'id': 'b', 'mount': 'ro', 'network': 'none',"
		"    'limits': {'core': 0, 'fsize': '64m', 'pids': 8}}]}}");
	struct exec_sandbox_req q;
	char err[ERR_CAP];

	assert_int_equal(exec_router_sandbox(c, "a", &q, err, sizeof(err)), 1);
	assert_int_equal(q.lim.memory, 256u << 20); /* the defaults' */
	assert_int_equal(q.lim.cpu_milli, 1500);
	assert_int_equal(q.lim.pids, 100); /* the backend's */
	assert_true(q.net_host);
	assert_int_equal(q.mode, EXEC_WS_COW);
	assert_int_equal(q.lim.rl_set, 1u << EXEC_RL_NOFILE);
	assert_int_equal(q.lim.rl[EXEC_RL_NOFILE], 512);

	assert_int_equal(exec_router_sandbox(c, "b", &q, err, sizeof(err)), 1);
	assert_int_equal(q.lim.pids, 8);
	assert_false(q.net_host);
	assert_int_equal(q.mode, EXEC_WS_RO);
	assert_int_equal(q.lim.rl_set, (1u << EXEC_RL_NOFILE) |
					       (1u << EXEC_RL_CORE) |
					       (1u << EXEC_RL_FSIZE));
	assert_int_equal(q.lim.rl[EXEC_RL_CORE], 0);
	assert_int_equal(q.lim.rl[EXEC_RL_FSIZE], 64u << 20);
	assert_int_equal(exec_router_sandbox(c, "x", &q, err, sizeof(err)),
			 -ENOENT);
	exec_config_free(c);

	c = parse_ok("{'agents': {'list': [{'id': 'a'}]}}");
	assert_int_equal(exec_router_sandbox(c, "a", &q, err, sizeof(err)), 0);
	exec_config_free(c);

	expect_error("{'agents': {'list': [{'id': 'a', 'limits': "
		     "{'memory': '1g'}}]}}",
		     "tether.json: agents.list[0]: limits, network and mount "
		     "need a backend that sandboxes",
		     "'host' (type host)", NULL);
	/* The defaults' limits reach an agent that runs on this host. */
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1'}},"
		     " 'agents': {'defaults': {'backend': 'n', 'limits': "
		     "{'pids': 5}}, 'list': [{'id': 'ok'}, {'id': 'h', "
		     "'backend': 'host'}]}}",
		     "tether.json: agents.list[1]: limits", NULL);
	expect_error("{'backends': {'l': {'type': 'host', 'network': 'none'}}}",
		     "tether.json: backends.l.network: type 'host' runs "
		     "commands without a sandbox",
		     NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'limits': {'memroy': '1g'}}}}",
		     "tether.json: backends.n.limits.memroy: unknown key",
		     NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'limits': {'memory': '1x'}}}}",
		     "tether.json: backends.n.limits.memory: '1x': expected "
		     "bytes",
		     NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'limits': {'cpus': -1}}}}",
		     "backends.n.limits.cpus: expected a string or a number",
		     NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'network': 'bridge'}}}",
		     "backends.n.network: 'bridge': expected \"none\" or "
		     "\"host\"",
		     NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'limits': {'network': 'none'}}}}",
		     "backends.n.limits.network: unknown key", NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1'}},"
		     " 'agents': {'list': [{'id': 'a', 'backend': 'n',"
		     " 'mount': 'cow2'}]}}",
		     "agents.list[0].mount: 'cow2': expected", NULL);
}

/* "policy" and "allow": the agent's over the defaults'; each refusal. */
static void test_policy(void **state)
{
	struct exec_config *c = parse_ok(
		"{'agents': {'defaults': {'policy': 'allowlist', 'allow': "
		"['/usr/bin/*', '/bin/true']},"
		" 'list': [{'id': 'a'}, {'id': 'f', 'policy': 'full'},"
		"  {'id': 'd', 'policy': 'deny'}]}}");
	const struct exec_policy *p;
	char err[ERR_CAP], res[256], why[256];

	assert_int_equal(exec_router_policy(c, "a", &p, err, sizeof(err)), 0);
	assert_int_equal(p->mode, EXEC_POLICY_ALLOWLIST);
	assert_int_equal(p->nallow, 2);
	/* Off this host only absolute paths can be matched, as given. */
	assert_int_equal(exec_policy_check(p, "/usr/bin/make", NULL, false, res,
					   sizeof(res), why, sizeof(why)),
			 0);
	assert_string_equal(res, "/usr/bin/make");
	assert_int_equal(exec_policy_check(p, "/usr/bin/x/y", NULL, false, res,
					   sizeof(res), why, sizeof(why)),
			 -EACCES);
	assert_int_equal(exec_policy_check(p, "make", NULL, false, res,
					   sizeof(res), why, sizeof(why)),
			 -EACCES);
	assert_non_null(strstr(why, "absolute path"));
	assert_int_equal(exec_router_policy(c, "f", &p, err, sizeof(err)), 0);
	assert_int_equal(p->mode, EXEC_POLICY_FULL);
	assert_int_equal(exec_router_policy(c, "d", &p, err, sizeof(err)), 0);
	assert_int_equal(exec_policy_check(p, "/bin/true", NULL, true, res,
					   sizeof(res), why, sizeof(why)),
			 -EACCES);
	assert_int_equal(exec_router_policy(c, "x", &p, err, sizeof(err)),
			 -ENOENT);
	exec_config_free(c);

	expect_error(
		"{'agents': {'defaults': {'policy': 'some'}}}",
		"tether.json: agents.defaults.policy: 'some': one of full, "
		"allowlist, deny",
		NULL);
	expect_error("{'agents': {'defaults': {'policy': 'allowlist'}}}",
		     "agents.defaults.policy: allowlist needs \"allow\"", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'allow': ['/bin/x']}]}}",
		     "agents.list[0].allow: needs \"policy\": \"allowlist\"",
		     NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'policy': 'allowlist', "
		     "'allow': ['make']}]}}",
		     "agents.list[0].allow[0]: 'make': an absolute path", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'policy': 'allowlist', "
		     "'allow': [3]}]}}",
		     "agents.list[0].allow[0]: expected a string", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_empty_object),
		cmocka_unit_test(test_route_three_backends),
		cmocka_unit_test(test_route_default),
		cmocka_unit_test(test_unknown_agent),
		cmocka_unit_test(test_unknown_backend),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_backend_errors),
		cmocka_unit_test(test_agent_errors),
		cmocka_unit_test(test_workspaces),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_writeback),
		cmocka_unit_test(test_sandbox_settings),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
