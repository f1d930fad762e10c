#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Per backend: the warm exec round trip (`true`, the sandbox already up)
# and the cold start (the first command in a new sandbox), against the
# engine's own `exec` through Podman's API and plain ssh, in one run.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-n RUNS] [-c COLD] [-k]
  Starts Podman's Docker-compatible API service (tests/tools/podman-service:
  its own storage, the image localhost/mini:latest built from busybox), a
  tether node and a private sshd on 127.0.0.1, then measures:
  warm, RUNS runs each (default 200), interleaved (bench/lat):
    host          tether exec --agent (backend host) -- true
    node          tether exec --node tcp://127.0.0.1:PORT -- true
    sandbox       tether exec --agent (backend sandbox; its node running,
                  a 3-file directory synced by the barrier) -- true
    docker        tether exec --agent (docker, session scope: the
                  container up, the directory synced) -- true
    ssh           tether exec --agent (the ssh backend to the private
                  sshd: its proxy up, the remote node running) -- true
    vm            tether exec --agent (the vm backend: a qemu microvm of
                  tether vm image, booted) -- true
    plugin        tether exec --agent (a custom backend: tests/tools/
                  plugin_run.c, built here, run by tether-plugin) -- true
    podman_exec   podman --remote exec CTR true (the engine's own client,
                  through the same API socket)
    ssh_master    ssh through a ControlMaster ... true
  cold, COLD runs each (default 10), one after another:
    sandbox_cold  the sandbox's node stopped first: it starts, syncs, runs
    docker_cold   docker, command scope: create, start, exec, remove
    podman_run    podman --remote run --rm IMAGE true
    ssh_fresh     ssh, a new connection ... true
    vm_cold       the VM stopped first (tether vm prune): boot, login,
                  the node, the command (at most 3 runs: each is a boot)
  -k  keep the temp dir
  Binaries: \$TETHER_BIN and \$BENCH_LAT, or \$BENCH_BUILD/{cli/tether,bench/lat}.
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

runs=200
cold=10
while getopts "n:c:kh" opt; do
	case $opt in
	n) runs=$OPTARG ;;
	c) cold=$OPTARG ;;
	k) BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || bench_die "-n $runs: expected a run count"
[[ $cold =~ ^[0-9]+$ && $cold -ge 1 ]] || bench_die "-c $cold: expected a run count"

bench_need_ssh
bench_find_bins lat
bench_setup
podsvc=$BENCH_TOP/tests/tools/podman-service
pd=$BENCH_DIR/pd
mkdir -p "$pd"
stop_podman() { "$podsvc" stop "$pd" >/dev/null 2>&1 || true; }
sbx_stop() {
	local p
	for p in $(pgrep -f "listen ipc://$BENCH_DIR/sbx/node.sock" || true); do
		kill "$p" 2>/dev/null || true
	done
	for _ in $(seq 100); do
		pgrep -f "listen ipc://$BENCH_DIR/sbx/node.sock" >/dev/null || break
		sleep 0.05
	done
	umount -l "$BENCH_DIR"/sbx/root/views/* 2>/dev/null || true
}
trap '"$TETHER_BIN" vm prune >/dev/null 2>&1
	pkill -f "tether-ssh --listen $BENCH_DIR" 2>/dev/null
	sbx_stop; stop_podman; bench_cleanup' EXIT
sock=$("$podsvc" start "$pd") || bench_die "podman service did not start"
remote=(podman --remote --url "unix://$sock")
# Podman's default rlimits exceed what this machine lets the runtime set
# (MACHINE-NOTES): explicit ones, as tether's containers get.
ulimits=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

bench_machine
echo "podman:  $(podman --version) (runc, vfs, cgroupfs), API at unix://$sock"
bench_start_node "$BENCH_DIR/root"
bench_start_sshd
bench_start_master
ws=$BENCH_DIR/ws
mkdir -p "$ws"
for f in a b c; do echo "$f" >"$ws/$f.txt"; done
export TETHER_SANDBOX_HOME=$BENCH_DIR/sbx DOCKER_HOST=unix://$sock
cfg=$BENCH_DIR/tether.json
cat >"$cfg" <<EOF
{
  "agents": {
    "list": [
      { "id": "host", "backend": "host", "dir": "$ws" },
      { "id": "sbx", "backend": "sandbox", "dir": "$ws" },
      { "id": "dock", "dir": "$ws", "sandbox": { "mode": "docker",
        "docker": { "image": "localhost/mini:latest" } } },
      { "id": "dock1", "dir": "$ws", "sandbox": { "mode": "docker",
        "scope": "command", "docker": { "image": "localhost/mini:latest" } } },
      { "id": "sshb", "backend": "sshb", "dir": "$ws" },
      { "id": "vmb", "backend": "vmb", "dir": "$ws" },
      { "id": "plg", "backend": "plg", "dir": "$ws" }
    ]
  },
  "backends": {
    "sshb": { "type": "ssh", "host": "127.0.0.1", "port": $BENCH_SSH_PORT,
              "user": "$(id -un)", "key": "$BENCH_DIR/ssh/client_ed25519",
              "known_hosts": "$BENCH_DIR/ssh/known_hosts" },
    "vmb": { "type": "vm", "image": "$BENCH_DIR/vmimg",
             "resources": { "cpu": 2, "memory": "1g" } },
    "plg": { "type": "plugin", "path": "$BENCH_DIR/plugin_run.so" }
  }
}
EOF
cc -O2 -shared -fPIC -I"$BENCH_TOP/exec" -o "$BENCH_DIR/plugin_run.so" \
	"$BENCH_TOP/tests/tools/plugin_run.c" || bench_die "cc plugin_run.c failed"
"$TETHER_BIN" vm image --out "$BENCH_DIR/vmimg" >/dev/null ||
	bench_die "tether vm image failed"
tx() { "$TETHER_BIN" exec --config "$cfg" -n "$@"; }
cd "$ws"
# Up and warm: the sandbox's node, the docker session's container, and a
# container for podman's own exec.
tx --agent sbx -- true
tx --agent dock -- true
tx --agent sshb -- true
tx --agent vmb -- true
tx --agent plg -- true
echo "vm:      $(cat "$BENCH_DIR/vmimg/kernel.txt"), $(cat "$BENCH_DIR/sbx/vm/accel")"
"${remote[@]}" run -d --name warm --network none "${ulimits[@]}" \
	localhost/mini:latest sleep 1000000 >/dev/null
echo "runs:    $runs warm per command, interleaved; $cold cold each"
echo

ctl=$BENCH_DIR/ssh/ctl
out=$BENCH_DIR/lat.out
"$BENCH_LAT" -n "$runs" -w 5 -t 20000 \
	-- host "$TETHER_BIN" exec --config "$cfg" -n --agent host -- true \
	--- node "$TETHER_BIN" exec -n --node "$BENCH_NODE_URL" -- true \
	--- sandbox "$TETHER_BIN" exec --config "$cfg" -n --agent sbx -- true \
	--- docker "$TETHER_BIN" exec --config "$cfg" -n --agent dock -- true \
	--- ssh "$TETHER_BIN" exec --config "$cfg" -n --agent sshb -- true \
	--- vm "$TETHER_BIN" exec --config "$cfg" -n --agent vmb -- true \
	--- plugin "$TETHER_BIN" exec --config "$cfg" -n --agent plg -- true \
	--- podman_exec "${remote[@]}" exec warm true \
	--- ssh_master ssh "${BENCH_SSH_OPTS[@]}" -o ControlMaster=no \
	-o ControlPath="$ctl" "$BENCH_SSH_DEST" true >"$out"

# cold LABEL CMD...: COLD runs, one at a time, wall ms each; PRE (a
# function name, or "") runs untimed before each.
declare -A cold_ms
cold_run() {
	local label=$1 pre=$2 t0 t1 i
	shift 2
	for i in $(seq "$cold"); do
		[ -z "$pre" ] || "$pre"
		t0=${EPOCHREALTIME/./}
		"$@" >/dev/null 2>&1 </dev/null || bench_die "$label: $* failed"
		t1=${EPOCHREALTIME/./}
		cold_ms[$label]+="$(((t1 - t0) / 1000)) "
	done
}
cold_run sandbox_cold sbx_stop tx --agent sbx -- true
cold_run docker_cold "" tx --agent dock1 -- true
cold_run podman_run "" "${remote[@]}" run --rm --network none \
	"${ulimits[@]}" localhost/mini:latest true
cold_run ssh_fresh "" ssh "${BENCH_SSH_OPTS[@]}" -o ControlMaster=no \
	-o ControlPath=none "$BENCH_SSH_DEST" true
vm_stop() { "$TETHER_BIN" vm prune >/dev/null; }
cold=$((cold < 3 ? cold : 3))
cold_run vm_cold vm_stop tx --agent vmb -- true

awk '
function get(label,    i, kv) {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[label, kv[1]] = kv[2] }
}
{ get($1); labels[++n] = $1 }
END {
	printf "warm round trip  %6s %9s %9s %9s\n", "runs", "p50 ms", "p90 ms", "p99 ms"
	for (i = 1; i <= n; i++) {
		l = labels[i]
		printf "%-16s %6d %9.2f %9.2f %9.2f\n", l, v[l, "n"], v[l, "p50"],
		       v[l, "p90"], v[l, "p99"]
	}
	printf "\n  podman exec / tether docker  %6.2fx at p50\n",
	       v["podman_exec", "p50"] / v["docker", "p50"]
	printf "  ssh master / tether node     %6.2fx at p50\n",
	       v["ssh_master", "p50"] / v["node", "p50"]
}' "$out"
echo
printf "cold start        %6s %9s %9s %9s\n" runs "p50 ms" min max
for l in sandbox_cold docker_cold podman_run ssh_fresh vm_cold; do
	# shellcheck disable=SC2086
	printf '%s\n' ${cold_ms[$l]} | sort -n | awk -v l="$l" '
		{ a[NR] = $1 }
		END { printf "%-16s %6d %9d %9d %9d\n", l, NR, a[int((NR + 1) / 2)], a[1], a[NR] }'
done
