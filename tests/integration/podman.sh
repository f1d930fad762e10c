# SPDX-License-Identifier: MIT
# Podman's Docker-compatible API service for the docker backend's tests,
# sourced after lib.sh: start_podman starts tests/tools/podman-service in
# the test's temp dir (storage of its own, the image localhost/mini:latest
# built from busybox) and sets DOCKER_HOST; stop_podman removes every
# container and stops it. PODMAN is the podman CLI on the same storage.

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

# The names of tether's containers of an agent (label tether.agent).
containers_of()
{
	"${PODMAN[@]}" ps -a --filter "label=tether.agent=$1" --format '{{.Names}}'
}
