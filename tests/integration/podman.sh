# SPDX-License-Identifier: MIT
# Podman's Docker-compatible API service for the docker backend's tests,
# sourced after lib.sh: start_podman starts tests/tools/podman-service in
# the test's temp dir (storage of its own, the image localhost/mini:latest
# built from busybox) and sets DOCKER_HOST; stop_podman removes every
# container and stops it; podman_agents_setup does both for a test of
# tether's docker backend. PODMAN is the podman CLI on the same storage.

PODMAN_SERVICE=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../tools/podman-service
PODMAN=()

start_podman()
{
	local rc=0
	mkdir -p "$T/pd" || fail "mkdir $T/pd"
	"$PODMAN_SERVICE" start "$T/pd" >"$T/pd/start.out" 2>"$T/pd/start.err" || rc=$?
	[ $rc -ne 77 ] || { log "$(cat "$T/pd/start.err"): skipped"; exit 77; }
	[ $rc -eq 0 ] || fail "podman service: $(show "$T/pd/start.err")"
	PODMAN=("$PODMAN_SERVICE" cli "$T/pd")
	export DOCKER_HOST=unix://$(cat "$T/pd/start.out")
}

stop_podman()
{
	[ ${#PODMAN[@]} -gt 0 ] || return 0
	"$PODMAN_SERVICE" stop "$T/pd"
}

# podman_agents_setup: for a test whose agents run in containers of the
# service: skipped without /dev/fuse (the local node's views), the service
# started, the sandbox backend's node given a home in $T/sbx; at exit the
# service and that node (which tether started, detached) are stopped.
podman_agents_setup()
{
	[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
	start_podman
	export TETHER_SANDBOX_HOME=$T/sbx TETHER_CACHE=$T/cache
	trap '_rc=$?; stop_podman; stop_detached_node "$T/sbx/node.sock" "$T/sbx/root"; (exit $_rc); _teardown' EXIT
}

# The names of tether's containers of an agent (label tether.agent).
containers_of()
{
	"${PODMAN[@]}" ps -a --filter "label=tether.agent=$1" --format '{{.Names}}'
}
