#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Streaming latency: how long a line a command writes takes to reach the
# client, while the command keeps running. The command prints its own
# wall-clock time in microseconds (one process takes the time and writes:
# python3) and sleeps; the reader takes the time it
# got the line (bash's EPOCHREALTIME, no fork). Loopback tcp node.
# Usage: bench/exec-first-byte.sh [RUNS]   (TETHER_BIN: the tether binary)
set -euo pipefail
runs=${1:-50}
t=${TETHER_BIN:-$(dirname "$0")/../build-rel/cli/tether}
dir=$(mktemp -d /tmp/tether-fb.XXXXXX)
"$t" node --listen tcp://127.0.0.1:0 --root "$dir" >"$dir/node.out" 2>&1 &
node=$!
trap 'kill $node 2>/dev/null; wait $node 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do grep -q listening "$dir/node.out" && break; sleep 0.05; done
url=$(awk '/listening on/ {print $NF}' "$dir/node.out")
: >"$dir/lat"
for _ in $(seq "$runs"); do
	# The sleep first lets the client's READ be held at the node, as
	# it is for output that comes while a command runs.
	"$t" exec -n --node "$url" -- python3 -c 'import sys, time
time.sleep(0.05)
sys.stdout.write("%d\n" % (time.time_ns() // 1000)); sys.stdout.flush()
time.sleep(0.3)' |
		{ read -r sent; got=${EPOCHREALTIME/./}; echo $((got - sent)) >>"$dir/lat"; cat >/dev/null; }
done
sort -n "$dir/lat" | awk '{v[NR]=$1} END {
	printf "runs %d  p50 %.3f ms  p90 %.3f ms  min %.3f ms  max %.3f ms\n",
		NR, v[int(NR*0.5+0.5)]/1000, v[int(NR*0.9+0.5)]/1000, v[1]/1000, v[NR]/1000 }'
