/* SPDX-License-Identifier: MIT */
/* Unit tests for the config shapes operators of agent gateways write
 * (tools.exec.host, sandbox.mode and its settings) and for the environment
 * form (SANDBOX_BACKEND, SANDBOX_DOCKER_*, SSH_*): what they route to, and
 * every error line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "config.h"
#include "config_fixture.h"

static void test_route_tools_exec(void **state)
{
	struct exec_config *c;

	c = parse_ok("{'nodes': {'Coding VM': {'url': 'tcp://10.0.0.2:7001'},"
		     "           'gpu': {'url': 'tcp://10.0.0.3:7001'}},"
		     " 'agents': {'defaults': {'tools': {'exec':"
		     "    {'host': 'node', 'node': 'gpu'}}},"
		     "  'list': [{'id': 'gw',"
		     "    'tools': {'exec': {'host': 'gateway'}}},"
		     "   {'id': 'vm', 'timeout': 2, 'tools': {'exec':"
		     "    {'host': 'node', 'node': 'Coding VM'}}},"
		     "   {'id': 'dflt'}]}}");
	assert_string_equal(c->agents[1].backend, "node");
	assert_string_equal(c->agents[1].node, "Coding VM");
	expect_route(c, "gw", &exec_backend_host_ops, "host", NULL, 0);
	expect_route(c, "vm", &exec_backend_node_ops, "Coding VM",
		     "tcp://10.0.0.2:7001", 2000);
	expect_route(c, "dflt", &exec_backend_node_ops, "gpu",
		     "tcp://10.0.0.3:7001", 0);
	exec_config_free(c);

	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'host': 'sandbox'}}}]}}",
		     "agents.list[0].tools.exec.host", "'sandbox'",
		     "sandbox.mode is not set", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'host': 'moon'}}}]}}",
		     "agents.list[0].tools.exec.host", "'moon'", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'host': 'node'}}}]}}",
		     "agents.list[0].tools.exec.node", "required", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'host': 'node', 'node': 'nope'}}}]}}",
		     "agents.list[0].tools.exec.node", "unknown node 'nope'",
		     NULL);
	expect_error("{'nodes': {'n': {'url': 'tcp://h:1'}},"
		     " 'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'node': 'n'}}}]}}",
		     "agents.list[0].tools.exec.node", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'backend': 'host',"
		     " 'tools': {'exec': {'host': 'gateway'}}}]}}",
		     "agents.list[0].tools.exec", "backend", NULL);
	/* Only tools.exec.host/node for now: the rest of that shape is
	 * refused until it is implemented. */
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'exec': {'security': 'full'}}}]}}",
		     "agents.list[0].tools.exec.security: unknown key", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'mode': 'docker'}}]}}",
		     "agents.list[0]: runs in docker without an image", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'tools': {'web': {}}}]}}",
		     "agents.list[0].tools.web: unknown key", NULL);
}

/* The example, as operators of agent gateways write it. */
static void test_route_gateway_sandbox(void **state)
{
	struct exec_config *c;
	struct exec_backend *b = NULL;
	struct exec_sandbox_req q;
	char err[ERR_CAP] = "";

	c = parse_ok("{'nodes': {'Coding VM': {'url': 'tcp://127.0.0.1:7000'}},"
		     " 'agents': {'defaults': {'sandbox': {'mode': 'off'}},"
		     "  'list': [{'id': 'main',"
		     "    'tools': {'exec': {'host': 'gateway'}}},"
		     "   {'id': 'reader-agent', 'sandbox': {'mode': 'docker',"
		     "     'docker': {'image': 'localhost/mini:latest',"
		     "      'memory': '256m', 'cpus': 1, 'network': 'none',"
		     "      'timeout': 30}},"
		     "    'tools': {'exec': {'host': 'sandbox'}}},"
		     "   {'id': 'coding-agent', 'tools': {'exec':"
		     "    {'host': 'node', 'node': 'Coding VM'}}},"
		     "   {'id': 'auto', 'tools': {'exec': {'host': 'auto'}}},"
		     "   {'id': 'own', 'sandbox': {'mode': 'docker',"
		     "     'scope': 'command', 'docker': {'image': 'x'}}}]}}");
	expect_route(c, "main", &exec_backend_host_ops, "host", NULL, 0);
	expect_route(c, "coding-agent", &exec_backend_node_ops, "Coding VM",
		     "tcp://127.0.0.1:7000", 0);
	expect_route(c, "auto", &exec_backend_host_ops, "host", NULL, 0);
	assert_int_equal(exec_router_resolve(c, "reader-agent", &b, NULL, err,
					     sizeof(err)),
			 0);
	assert_ptr_equal(b->ops, &exec_backend_docker_ops);
	assert_string_equal(b->agent, "reader-agent");
	assert_string_equal(b->docker->image, "localhost/mini:latest");
	assert_int_equal(b->docker->scope, EXEC_SCOPE_SESSION);
	exec_backend_free(b);
	assert_int_equal(exec_router_sandbox(c, "reader-agent", &q, err,
					     sizeof(err)),
			 1);
	assert_int_equal(q.lim.memory, 256u << 20);
	assert_int_equal(q.lim.cpu_milli, 1000);
	assert_false(q.net_host);
	assert_int_equal(c->agents[1].timeout_ms, 30000);
	assert_int_equal(
		exec_router_resolve(c, "own", &b, NULL, err, sizeof(err)), 0);
	assert_int_equal(b->docker->scope, EXEC_SCOPE_COMMAND);
	exec_backend_free(b);
	exec_config_free(c);

	/* The defaults' docker settings under the agent's, and a backend's
	 * under both. */
	c = parse_ok("{'backends': {'box': {'type': 'docker', 'image': 'a',"
		     "   'host': 'unix:///run/podman.sock', 'scope': 'command',"
		     "   'idle': 60}},"
		     " 'agents': {'defaults': {'backend': 'box',"
		     "   'sandbox': {'docker': {'image': 'b'}}},"
		     "  'list': [{'id': 'x'}, {'id': 'y',"
		     "   'sandbox': {'docker': {'image': 'c'}}}]}}");
	assert_int_equal(
		exec_router_resolve(c, "x", &b, NULL, err, sizeof(err)), 0);
	assert_string_equal(b->docker->image, "b");
	assert_string_equal(b->docker->host, "unix:///run/podman.sock");
	assert_int_equal(b->docker->scope, EXEC_SCOPE_COMMAND);
	assert_int_equal(b->docker->idle_s, 60);
	exec_backend_free(b);
	assert_int_equal(
		exec_router_resolve(c, "y", &b, NULL, err, sizeof(err)), 0);
	assert_string_equal(b->docker->image, "c");
	exec_backend_free(b);
	exec_config_free(c);

	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'mode': 'moon'}}]}}",
		     "agents.list[0].sandbox.mode", "unknown mode 'moon'",
		     NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'timeout': 3,"
		     " 'sandbox': {'mode': 'docker', 'docker': {'image': 'i',"
		     " 'timeout': 4}}}]}}",
		     "agents.list[0].sandbox.docker.timeout", "conflicts",
		     NULL);
	expect_error(
		"{'agents': {'list': [{'id': 'a',"
		" 'sandbox': {'docker': {'image': 'i', 'memory': 'lots'}}}]}}",
		"agents.list[0].sandbox.docker.memory", "'lots'", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'docker': {'imag': 'i'}}}]}}",
		     "agents.list[0].sandbox.docker.imag: unknown key", NULL);
	expect_error("{'agents': {'defaults': {'sandbox': {'mode': 'off'}},"
		     " 'list': [{'id': 'a',"
		     " 'tools': {'exec': {'host': 'sandbox'}}}]}}",
		     "agents.list[0].tools.exec.host", "sandbox.mode is 'off'",
		     NULL);
	expect_error("{'backends': {'h': {'type': 'host', 'image': 'x'}}}",
		     "backends.h.image", "only 'docker'", NULL);
	expect_error("{'backends': {'d': {'type': 'docker', 'image': 'x',"
		     " 'host': 'http://x'}}}",
		     "backends.d.host", "expected unix:///PATH", NULL);
	expect_error("{'backends': {'d': {'type': 'docker', 'image': 'x',"
		     " 'scope': 'forever'}}}",
		     "backends.d.scope", "one of session, command", NULL);
	/* scope */
	{
		struct exec_config *c4 = parse_ok(
			"{'backends': {'s': {'type': 'sandbox',"
			" 'scope': 'command'}},"
			" 'agents': {'defaults': {'backend': 's'},"
			" 'list': [{'id': 'a'}, {'id': 'b',"
			" 'sandbox': {'scope': 'session'}}, {'id': 'h',"
			" 'backend': 'host'}]}}");

		assert_int_equal(exec_router_scope(c4, "a"),
				 EXEC_SCOPE_COMMAND);
		assert_int_equal(exec_router_scope(c4, "b"),
				 EXEC_SCOPE_SESSION);
		assert_int_equal(exec_router_scope(c4, "h"),
				 EXEC_SCOPE_SESSION);
		assert_int_equal(exec_router_scope(c4, "nobody"),
				 EXEC_SCOPE_SESSION);
		exec_config_free(c4);
	}
	expect_error(
		"{'backends': {'h': {'type': 'host', 'scope': 'command'}}}",
		"backends.h.scope", "only 'docker' and 'sandbox'", NULL);
	/* the gateway form's sandbox.mode ssh and node */
	{
		struct exec_config *c6;
		const char *url, *ws, *domain;

		setenv("TETHER_SANDBOX_HOME", "/run/t", 1);
		c6 = parse_ok(
			"{'nodes': {'big': {'url': 'tls+tcp://big:7443'}},"
			" 'agents': {'defaults': {'sandbox': {'node': 'big'}},"
			" 'list': [{'id': 's', 'sandbox': {'mode': 'ssh',"
			"  'ssh': {'host': 'build.lan', 'port': 2222,"
			"   'user': 'ci', 'strict_host_key': 'accept-new'}}},"
			"  {'id': 'n', 'sandbox': {'mode': 'node'}}]}}");
		assert_int_equal(exec_router_resolve(c6, "s", &b, NULL, err,
						     sizeof(err)),
				 0);
		assert_ptr_equal(b->ops, &exec_backend_ssh_ops);
		assert_string_equal(b->ssh->host, "build.lan");
		assert_int_equal(b->ssh->port, 2222);
		assert_true(b->ssh->accept_new);
		assert_int_equal(exec_router_workspace(c6, "s", &url, &ws,
						       &domain, err,
						       sizeof(err)),
				 0);
		assert_string_equal(url, b->url);
		exec_backend_free(b);
		expect_route(c6, "n", &exec_backend_node_ops, "big",
			     "tls+tcp://big:7443", 0);
		exec_config_free(c6);
		unsetenv("TETHER_SANDBOX_HOME");
	}
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'mode': 'ssh'}}]}}",
		     "agents.list[0]", "without a host", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'mode': 'node'}}]}}",
		     "agents.list[0].sandbox.node", "required", NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'node': 'nope'}}]}}",
		     "agents.list[0].sandbox.node", "unknown node 'nope'",
		     NULL);
	expect_error("{'agents': {'list': [{'id': 'a',"
		     " 'sandbox': {'ssh': {'hots': 'x'}}}]}}",
		     "agents.list[0].sandbox.ssh.hots: unknown key", NULL);
	/* vm backends: named, and the gateway form's sandbox.mode vm */
	{
		struct exec_config *c5;
		struct exec_vm_conf v;
		const char *url, *ws, *domain;

		setenv("TETHER_SANDBOX_HOME", "/run/t", 1);
		c5 = parse_ok(
			"{'backends': {'q': {'type': 'vm', 'image': '/img',"
			"  'resources': {'cpu': 2, 'memory': '2g'}},"
			" 'l': {'type': 'vm', 'provider': 'command',"
			"  'start': 'limactl start x', 'stop': 'limactl stop x',"
			"  'host': '127.0.0.1',"
			"  'port': 60022, 'user': 'me'}},"
			" 'agents': {'list': [{'id': 'a', 'backend': 'q'},"
			"  {'id': 'b', 'backend': 'l'},"
			"  {'id': 'g', 'sandbox': {'mode': 'vm', 'vm':"
			"   {'provider': 'qemu', 'resources': {'memory': 536870912}}},"
			"   'tools': {'exec': {'host': 'sandbox'}}}]}}");
		assert_int_equal(exec_router_vm(c5, "a", &v, err, sizeof(err)),
				 1);
		assert_string_equal(v.image, "/img");
		assert_int_equal(v.cpus, 2);
		assert_int_equal(v.memory, 2ull << 30);
		assert_int_equal(exec_router_vm(c5, "b", &v, err, sizeof(err)),
				 1);
		assert_string_equal(v.provider, "command");
		assert_string_equal(v.start, "limactl start x");
		assert_string_equal(v.stop, "limactl stop x");
		assert_string_equal(v.ssh.host, "127.0.0.1");
		assert_int_equal(v.ssh.port, 60022);
		assert_int_equal(exec_router_vm(c5, "g", &v, err, sizeof(err)),
				 1);
		assert_int_equal(v.memory, 512u << 20);
		assert_int_equal(exec_router_resolve(c5, "g", &b, NULL, err,
						     sizeof(err)),
				 0);
		assert_ptr_equal(b->ops, &exec_backend_vm_ops);
		assert_int_equal(exec_router_workspace(c5, "g", &url, &ws,
						       &domain, err,
						       sizeof(err)),
				 0);
		assert_string_equal(url, b->url);
		assert_int_equal(strncmp(url, "ipc:///run/t/ssh/vm-", 20), 0);
		exec_backend_free(b);
		exec_config_free(c5);
		unsetenv("TETHER_SANDBOX_HOME");
	}
	expect_error("{'backends': {'v': {'type': 'vm', 'provider': 'xen'}}}",
		     "backends.v.provider", "qemu or command", NULL);
	expect_error("{'backends': {'v': {'type': 'vm', 'start': 'x'}}}",
		     "backends.v.start", "only for provider 'command'", NULL);
	expect_error("{'backends': {'v': {'type': 'vm', 'stop': 'x'}}}",
		     "backends.v.stop", "only for provider 'command'", NULL);
	expect_error("{'backends': {'v': {'type': 'host', 'stop': 'x'}}}",
		     "backends.v.stop", "only 'vm'", NULL);
	expect_error(
		"{'backends': {'v': {'type': 'vm', 'provider': 'command'}}}",
		"backends.v", "needs 'host'", NULL);
	expect_error("{'backends': {'v': {'type': 'vm',"
		     " 'resources': {'cpu': 0}}}}",
		     "backends.v.resources.cpu", "1 to 64", NULL);
	expect_error("{'backends': {'v': {'type': 'vm',"
		     " 'resources': {'memory': '1m'}}}}",
		     "backends.v.resources.memory", "at least 64m", NULL);
	expect_error("{'backends': {'v': {'type': 'vm',"
		     " 'resources': {'disk': 1}}}}",
		     "backends.v.resources.disk: unknown key", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'sandbox':"
		     " {'mode': 'vm', 'vm': {'provider': 'lima'}}}]}}",
		     "agents.list[0].sandbox.vm.provider", "'lima'", NULL);
	/* custom backends */
	expect_error("{'backends': {'p': {'type': 'plugin'}}}", "backends.p",
		     "needs 'path'", NULL);
	expect_error("{'backends': {'p': {'type': 'plugin', 'path': 'x.so'}}}",
		     "backends.p.path", "an absolute path", NULL);
	expect_error("{'backends': {'h': {'type': 'host', 'options': {}}}}",
		     "backends.h.options", "only 'plugin'", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'backend': 'plugin'}]}}",
		     "agents.list[0].backend", "its 'path'", NULL);
	{
		struct exec_config *c3 = parse_ok(
			"{'backends': {'p': {'type': 'plugin', 'path': '/x.so',"
			" 'options': {'k': [1, 'v']}}},"
			" 'agents': {'list': [{'id': 'a', 'backend': 'p'}]}}");

		assert_int_equal(exec_router_resolve(c3, "a", &b, NULL, err,
						     sizeof(err)),
				 0);
		assert_ptr_equal(b->ops, &exec_backend_plugin_ops);
		assert_string_equal(b->plugin_path, "/x.so");
		assert_string_equal(b->plugin_options, "{\"k\":[1,\"v\"]}");
		exec_backend_free(b);
		exec_config_free(c3);
	}
	/* ssh backends */
	expect_error("{'backends': {'s': {'type': 'ssh'}}}", "backends.s",
		     "needs 'host'", NULL);
	expect_error("{'backends': {'s': {'type': 'ssh', 'host': 'h',"
		     " 'port': 70000}}}",
		     "backends.s.port", "1 to 65535", NULL);
	expect_error("{'backends': {'s': {'type': 'ssh', 'host': 'h',"
		     " 'strict_host_key': 'no'}}}",
		     "backends.s.strict_host_key", "yes or accept-new", NULL);
	expect_error("{'backends': {'s': {'type': 'ssh', 'host': 'h',"
		     " 'key': 'id_ed25519'}}}",
		     "backends.s.key", "an absolute path", NULL);
	expect_error("{'backends': {'s': {'type': 'ssh', 'host': 'h',"
		     " 'url': 'tcp://h:1'}}}",
		     "backends.s.url", "not allowed for type 'ssh'", NULL);
	expect_error("{'backends': {'n': {'type': 'node', 'url': 'tcp://h:1',"
		     " 'port': 22}}}",
		     "backends.n.port", "only 'ssh'", NULL);
	expect_error("{'agents': {'list': [{'id': 'a', 'backend': 'ssh'}]}}",
		     "agents.list[0].backend", "define a backend", NULL);
	{
		struct exec_config *c2;
		const char *url, *ws, *domain;

		setenv("TETHER_SANDBOX_HOME", "/run/t", 1);
		c2 = parse_ok(
			"{'backends': {'s': {'type': 'ssh', 'host': 'h',"
			" 'port': 2222, 'user': 'u',"
			" 'strict_host_key': 'accept-new',"
			" 'connect_timeout': 3}},"
			" 'agents': {'list': [{'id': 'a', 'backend': 's'}]}}");
		assert_int_equal(exec_router_resolve(c2, "a", &b, NULL, err,
						     sizeof(err)),
				 0);
		assert_ptr_equal(b->ops, &exec_backend_ssh_ops);
		assert_string_equal(b->ssh->host, "h");
		assert_int_equal(b->ssh->port, 2222);
		assert_true(b->ssh->accept_new);
		assert_int_equal(b->ssh->timeout_s, 3);
		assert_int_equal(exec_router_workspace(c2, "a", &url, &ws,
						       &domain, err,
						       sizeof(err)),
				 0);
		assert_string_equal(url, b->url);
		exec_backend_free(b);
		exec_config_free(c2);
		unsetenv("TETHER_SANDBOX_HOME");
	}
}

/* The environment form: SANDBOX_BACKEND to the agent EXEC_ENV_AGENT on
 * that backend, a workspace per directory; refusals name the variable. */
static void test_env_form(void **state)
{
	static const struct {
		const char *value, *type;
	} ok[] = { { NULL, "sandbox" },
		   { "", "sandbox" },
		   { "sandbox", "sandbox" },
		   { "none", "host" },
		   { "off", "host" } };
	struct exec_config *c, *d;
	struct exec_backend *b;
	const char *url, *ws, *ws2, *domain;
	char err[ERR_CAP];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (ok[i].value)
			setenv("SANDBOX_BACKEND", ok[i].value, 1);
		else
			unsetenv("SANDBOX_BACKEND");
		assert_int_equal(exec_config_from_env("/srv/a", &c, err,
						      sizeof(err)),
				 0);
		assert_int_equal(exec_router_resolve(c, EXEC_ENV_AGENT, &b,
						     NULL, err, sizeof(err)),
				 0);
		assert_string_equal(b->ops->type, ok[i].type);
		exec_backend_free(b);
		exec_config_free(c);
	}
	setenv("SANDBOX_BACKEND", "sandbox", 1);
	setenv("TETHER_SANDBOX_HOME", "/run/t", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 0);
	assert_int_equal(exec_config_from_env("/srv/b", &d, err, sizeof(err)),
			 0);
	assert_int_equal(exec_router_workspace(c, EXEC_ENV_AGENT, &url, &ws,
					       &domain, err, sizeof(err)),
			 0);
	assert_string_equal(url, "ipc:///run/t/node.sock");
	assert_int_equal(strncmp(ws, "cwd-", 4), 0);
	assert_int_equal(strlen(ws), 20);
	assert_int_equal(exec_router_workspace(d, EXEC_ENV_AGENT, &url, &ws2,
					       &domain, err, sizeof(err)),
			 0);
	assert_string_not_equal(ws, ws2);
	exec_config_free(c);
	exec_config_free(d);
	unsetenv("TETHER_SANDBOX_HOME");

	setenv("SANDBOX_BACKEND", "vm", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 0);
	{
		struct exec_vm_conf v;

		assert_int_equal(exec_router_vm(c, EXEC_ENV_AGENT, &v, err,
						sizeof(err)),
				 1);
		assert_null(v.image);
	}
	exec_config_free(c);
	setenv("SANDBOX_BACKEND", "ssh", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "needs SSH_HOST"));
	setenv("SSH_HOST", "build.example", 1);
	setenv("SSH_PORT", "2222", 1);
	setenv("SSH_USER", "ci", 1);
	setenv("SSH_KEY_PATH", "/keys/ci", 1);
	setenv("SSH_TIMEOUT", "5", 1);
	setenv("TETHER_SANDBOX_HOME", "/run/t", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 0);
	assert_string_equal(c->backends[0].type, "ssh");
	assert_string_equal(c->backends[0].ssh.host, "build.example");
	assert_int_equal(c->backends[0].ssh.port, 2222);
	assert_string_equal(c->backends[0].ssh.user, "ci");
	assert_string_equal(c->backends[0].ssh.key, "/keys/ci");
	assert_int_equal(c->backends[0].ssh.timeout_s, 5);
	assert_false(c->backends[0].ssh.accept_new);
	assert_int_equal(strncmp(c->backends[0].url, "ipc:///run/t/ssh/", 17),
			 0);
	exec_config_free(c);
	setenv("SSH_PORT", "ssh", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "SSH_PORT=ssh"));
	unsetenv("SSH_HOST");
	unsetenv("SSH_PORT");
	unsetenv("SSH_USER");
	unsetenv("SSH_KEY_PATH");
	unsetenv("SSH_TIMEOUT");
	unsetenv("TETHER_SANDBOX_HOME");
	setenv("SANDBOX_BACKEND", "docker", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "needs SANDBOX_DOCKER_IMAGE"));
	setenv("SANDBOX_DOCKER_IMAGE", "localhost/mini:latest", 1);
	setenv("SANDBOX_DOCKER_MEMORY", "128m", 1);
	setenv("SANDBOX_DOCKER_TIMEOUT", "2.5", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 0);
	{
		struct exec_docker_conf dc;
		struct exec_sandbox_req q;

		assert_int_equal(exec_router_docker(c, EXEC_ENV_AGENT, &dc, err,
						    sizeof(err)),
				 1);
		assert_string_equal(dc.image, "localhost/mini:latest");
		assert_int_equal(exec_router_sandbox(c, EXEC_ENV_AGENT, &q, err,
						     sizeof(err)),
				 1);
		assert_int_equal(q.lim.memory, 128u << 20);
		assert_int_equal(c->agents[0].timeout_ms, 2500);
	}
	exec_config_free(c);
	setenv("SANDBOX_DOCKER_TIMEOUT", "soon", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "SANDBOX_DOCKER_TIMEOUT=soon"));
	unsetenv("SANDBOX_DOCKER_IMAGE");
	unsetenv("SANDBOX_DOCKER_MEMORY");
	unsetenv("SANDBOX_DOCKER_TIMEOUT");
	setenv("SANDBOX_BACKEND", "lxc", 1);
	assert_int_equal(exec_config_from_env("/srv/a", &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "SANDBOX_BACKEND=lxc: unknown backend"));
	unsetenv("SANDBOX_BACKEND");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_tools_exec),
		cmocka_unit_test(test_route_gateway_sandbox),
		cmocka_unit_test(test_env_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
