/* SPDX-License-Identifier: MIT */
/* Seed corpus for fuzz-config: configs of every shape docs/config.md
 * shows (backends, nodes, agents, the gateway form, sandbox settings,
 * policy, audit). Usage: gen-config-corpus DIR */
#include <stdio.h>
#include <string.h>

static const char *const seeds[] = {
	"{}",
	"{\"backends\": {\"local\": {\"type\": \"host\"}, \"build\": {\"type\": "
	"\"node\", \"url\": \"tcp://127.0.0.1:7000\"}, \"vmnode\": {\"type\": "
	"\"node\", \"node\": \"Coding VM\"}}, \"nodes\": {\"Coding VM\": "
	"{\"url\": \"tcp://127.0.0.1:7001\"}}, \"agents\": {\"defaults\": "
	"{\"backend\": \"local\", \"timeout\": 600}, \"list\": [{\"id\": "
	"\"coding-agent\", \"backend\": \"build\", \"timeout\": 30.5}, "
	"{\"id\": \"tester\", \"backend\": \"vmnode\"}, {\"id\": \"reader\"}]}}",
	"{\"nodes\": {\"Coding VM\": {\"url\": \"tcp://127.0.0.1:7000\"}}, "
	"\"agents\": {\"list\": [{\"id\": \"main\", \"tools\": {\"exec\": "
	"{\"host\": \"gateway\"}}}, {\"id\": \"coding-agent\", \"tools\": "
	"{\"exec\": {\"host\": \"node\", \"node\": \"Coding VM\"}}}]}}",
	"{\"backends\": {\"n\": {\"type\": \"node\", \"url\": \"ipc:///run/t\","
	" \"writeback\": \"sync\", \"limits\": {\"memory\": \"1g\", \"pids\": "
	"100, \"nofile\": 512, \"core\": 0}, \"network\": \"host\", \"mount\":"
	" \"ro\"}}, \"agents\": {\"defaults\": {\"backend\": \"n\", \"limits\":"
	" {\"cpus\": 1.5}}, \"list\": [{\"id\": \"a\", \"dir\": \"/srv/a\", "
	"\"workspace\": \"ws-a\", \"domain\": \"team\"}]}}",
	"{\"audit\": \"/var/log/tether/audit.log\", \"agents\": {\"defaults\":"
	" {\"backend\": \"sandbox\", \"policy\": \"allowlist\", \"allow\": "
	"[\"/usr/bin/*\", \"/bin/true\"]}, \"list\": [{\"id\": \"d\", "
	"\"policy\": \"deny\"}, {\"id\": \"f\", \"policy\": \"full\", "
	"\"mount\": \"none\"}]}}",
};

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen-config-corpus DIR\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/seed-%zu.json", argv[1], i);
		f = fopen(path, "wb");
		if (!f || fwrite(seeds[i], 1, strlen(seeds[i]), f) !=
				  strlen(seeds[i])) {
			perror(path);
			return 1;
		}
		fclose(f);
	}
	return 0;
}
