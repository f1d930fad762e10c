#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Round-trip latency of running `true`: tether exec on a local node, ssh with
# a fresh connection, ssh through a ControlMaster, and a local fork/exec.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-n RUNS] [-w WARMUP] [-T MS] [-b] [-r RAWDIR] [-u] [-k]
  Starts a tether node and a private sshd on 127.0.0.1 (ephemeral ports),
  then runs each command RUNS times (default 300, at least 200 for the
  report), interleaved round-robin, in one process (bench/lat):
    tether        tether exec --node tcp://127.0.0.1:PORT -- true
    ssh_fresh     ssh (new connection each run) ... true
    ssh_master    ssh -o ControlPath=... (one ControlMaster) ... true
    local         fork/exec of true
  -w WARMUP  unmeasured rounds first (default 10)
  -T MS      a run still going after MS (default 10000) is killed and
             counted in the hangs column, then run again
  -b         breakdown too: rows for 'tether exec -n' (no stdin forwarding)
             and 'tether --version' (process startup and exit only), then
             bench/exec-phases: the client's time per phase, same node
  -r RAWDIR  keep every sample (ms) in RAWDIR/LABEL.txt
  -u         let ssh run the login user's real ~/.bashrc (by default sshd
             runs in a private mount namespace where it reads as empty:
             bash sources it for every ssh command, see bench/lib.sh)
  -k         keep the temp dir (node, sshd logs)
  Binaries: \$TETHER_BIN, \$BENCH_LAT, \$BENCH_EXEC_PHASES, or
  \$BENCH_BUILD/{cli/tether,bench/lat,bench/exec-phases}
  (default build dir: build-rel, a release build).
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

runs=300
warmup=10
timeout_ms=10000
breakdown=""
rawdir=""
while getopts "n:w:T:br:ukh" opt; do
	case $opt in
	n) runs=$OPTARG ;;
	w) warmup=$OPTARG ;;
	T) timeout_ms=$OPTARG ;;
	b) breakdown=1 ;;
	r) rawdir=$OPTARG ;;
	u) BENCH_SSH_USER_RC=1 ;;
	k) BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ $runs =~ ^[0-9]+$ && $runs -ge 1 ]] || bench_die "-n $runs: expected a run count"
[[ $warmup =~ ^[0-9]+$ ]] || bench_die "-w $warmup: expected a run count"
[[ $timeout_ms =~ ^[0-9]+$ && $timeout_ms -ge 1 ]] || bench_die "-T $timeout_ms: expected milliseconds"
[ "$runs" -ge 200 ] || echo "${0##*/}: note: -n $runs is below the 200 runs the report asks for" >&2

bench_need_ssh
if [ -n "$breakdown" ]; then
	bench_find_bins lat exec-phases
else
	bench_find_bins lat
fi
bench_setup
[ -z "$rawdir" ] || mkdir -p "$rawdir"

bench_machine
bench_start_node "$BENCH_DIR/root"
bench_start_sshd
bench_start_master
echo "node:    $BENCH_NODE_URL"
echo "sshd:    127.0.0.1:$BENCH_SSH_PORT (ed25519 host and client keys, $(bench_ssh_rc_note))"
echo "runs:    $runs per command after $warmup warm-up rounds, interleaved"
echo

ctl=$BENCH_DIR/ssh/ctl
cmds=(
	-- tether "$TETHER_BIN" exec --node "$BENCH_NODE_URL" -- true
	--- ssh_fresh ssh "${BENCH_SSH_OPTS[@]}" -o ControlMaster=no
		-o ControlPath=none "$BENCH_SSH_DEST" true
	--- ssh_master ssh "${BENCH_SSH_OPTS[@]}" -o ControlMaster=no
		-o ControlPath="$ctl" "$BENCH_SSH_DEST" true
	--- local true
)
if [ -n "$breakdown" ]; then
	cmds+=(
		--- tether_nostdin "$TETHER_BIN" exec -n --node "$BENCH_NODE_URL" -- true
		--- tether_version "$TETHER_BIN" --version
	)
fi

out=$BENCH_DIR/lat.out
cpu0=$(bench_node_cpu)
t0=$SECONDS
"$BENCH_LAT" -n "$runs" -w "$warmup" -t "$timeout_ms" ${rawdir:+-r "$rawdir"} "${cmds[@]}" >"$out"

cpu1=$(bench_node_cpu)
n_tether=$(( (runs + warmup) * (breakdown ? 2 : 1) ))

# lat aborts on any run that does not exit 0 (tether exits 255 on its own
# failures), so every figure below is of a completed round trip.
awk -v runs="$runs" -v warm="$warmup" -v bd="$breakdown" '
function get(label, key,    i, kv) {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[label, kv[1]] = kv[2] }
}
{ get($1); labels[++n] = $1 }
END {
	printf "%-16s %6s %9s %9s %9s %9s %6s\n", "command", "runs", "p50 ms", "p90 ms", "p99 ms", "mean ms", "hangs"
	for (i = 1; i <= n; i++) {
		l = labels[i]
		printf "%-16s %6d %9.3f %9.3f %9.3f %9.3f %6d\n", l, v[l, "n"],
		       v[l, "p50"], v[l, "p90"], v[l, "p99"], v[l, "mean"], v[l, "hangs"]
	}
	t50 = v["tether", "p50"]; t99 = v["tether", "p99"]
	print ""
	printf "ratios (other / tether)      p50        p99\n"
	printf "  ssh fresh / tether    %8.1fx  %8.1fx   target >= 20x at p50: %s\n",
	       v["ssh_fresh", "p50"] / t50, v["ssh_fresh", "p99"] / t99,
	       ((v["ssh_fresh", "p50"] / t50 >= 20) ? "MET" : "MISSED")
	printf "  ssh master / tether   %8.1fx  %8.1fx   target >= 3x at p50:  %s\n",
	       v["ssh_master", "p50"] / t50, v["ssh_master", "p99"] / t99,
	       ((v["ssh_master", "p50"] / t50 >= 3) ? "MET" : "MISSED")
	printf "  tether / local        %8.1fx  %8.1fx   (tether overhead over a bare fork/exec)\n",
	       t50 / v["local", "p50"], t99 / v["local", "p99"]
	printf "  tether p50 %.3f ms                  target <= 2 ms:       %s\n",
	       t50, ((t50 <= 2) ? "MET" : "MISSED")
}' "$out"

# A node that burns CPU between requests slows every row: show its share.
echo
awk -v c0="$cpu0" -v c1="$cpu1" -v s="$((SECONDS - t0))" -v n="$n_tether" 'BEGIN {
	printf "tether node CPU during the run: %.2f s in about %d s of wall time (%.2f ms per tether exec)\n",
	       c1 - c0, s, (c1 - c0) * 1000 / n }'

if [ -n "$breakdown" ]; then
	# A fresh node, and no stdin forwarding (compare the tether_nostdin
	# row): nothing left over from the runs above weighs on this one.
	kill "$BENCH_NODE_PID" 2>/dev/null
	wait "$BENCH_NODE_PID" 2>/dev/null || true
	bench_start_node "$BENCH_DIR/root"
	echo
	echo "phases of one 'tether exec -n' round trip (bench/exec-phases -s, fresh node, $runs fresh processes):"
	"$BENCH_EXEC_PHASES" -s -n "$runs" "$BENCH_NODE_URL" true
fi
