#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Time to the first command on a fresh node: from nothing on the node to a
# command there that has read one file of the tree, side by side.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-d DIR | -f FILES -b BYTES -s SEED] [-n ROUNDS] [-w WAYS] [-H] [-k]
  Each round starts fresh nodes (empty roots) and times, from the start to
  the exit of a command on the node that cats one file of the tree (a file
  of about 1 MB, the same every round):
    barrier        tether exec --agent A --workspace A -- cat FILE, the
                   agent's dir being the tree: the exec's barrier syncs it
                   lazily (commit first) to a node with --view, and the
                   command reads FILE through the view, its chunks asked
                   for first
    lazy-sync      tether sync --lazy in the background, and tether exec
                   --workspace -- cat FILE as soon as the version is there
                   (tried every 10 ms)
    sync-then-run  tether sync (every chunk, then the commit) to a node
                   without views, then tether exec --workspace -- cat FILE
    rsync-then-run rsync -a of the tree over ssh to a private sshd on
                   127.0.0.1, then ssh cat FILE
  Each tether way runs twice: with the source's stat cache warm (it synced
  the tree before, to another node: only stat), and cold (an empty cache:
  every file read and hashed). The kernel's caches are dropped before
  every run, unless -H: the tree then stays hot in memory, as an agent's
  working tree is. -n ROUNDS (default 3; medians reported), -w WAYS a
  subset (e.g. "barrier rsync-then-run"), -k keeps the temp dir.
  Needs root (drop_caches, FUSE), rsync and openssh-server (exit 77
  without). Binaries: \$TETHER_BIN, \$BENCH_GEN_TREE, or
  \$BENCH_BUILD/{cli/tether,bench/gen-tree} (default build dir: build-rel).
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

src_dir=""
files=""
bytes=""
seed=1
rounds=3
hot=""
only=""
while getopts "d:f:b:s:n:w:Hkh" opt; do
	case $opt in
	d) src_dir=$OPTARG ;;
	f) files=$OPTARG ;;
	b) bytes=$OPTARG ;;
	s) seed=$OPTARG ;;
	n) rounds=$OPTARG ;;
	H) hot=1 ;;
	w) only=$OPTARG ;;
	k) export BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || { echo "${0##*/}: needs root and /dev/fuse" >&2; exit 77; }
command -v rsync >/dev/null || { echo "${0##*/}: needs rsync" >&2; exit 77; }
bench_need_ssh
bench_find_bins gen-tree
bench_setup
bench_machine
bench_start_sshd

tree=$BENCH_DIR/tree
bench_make_tree "$tree" "$src_dir" "$seed" "$files" "$bytes"
# A file of about 1 MB, deterministic: the first in sorted order.
file=$(cd "$tree" && find . -path ./.git -prune -o -type f -size +900k -size -2M -print |
	LC_ALL=C sort | head -n 1)
[ -n "$file" ] || bench_die "no file of about 1 MB in the tree"
file=${file#./}
sum=$(md5sum <"$tree/$file")
echo "file:    $file ($(stat -c %s "$tree/$file") bytes)"
echo "caches:  $([ -n "$hot" ] && echo "kept (-H): the tree hot in memory" || echo "dropped before every run")"

now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
drop() {
	sync
	if [ -n "$hot" ]; then
		cat "$tree/$file" >/dev/null # rsync reads it; so may tether
	else
		echo 3 >/proc/sys/vm/drop_caches
	fi
}
check() { [ "$(md5sum <"$1")" = "$sum" ] || bench_die "$2: the file read differs"; }

# fresh_node VIEW: a node on an empty root (its own), URL in NODE.
node_n=0
fresh_node() {
	node_n=$((node_n + 1))
	BENCH_NODE_ARGS=()
	[ "$1" = view ] && BENCH_NODE_ARGS=(--view)
	bench_start_node "$BENCH_DIR/root$node_n"
	NODE=$BENCH_NODE_URL
}
stop_node() {
	kill "$BENCH_NODE_PID" 2>/dev/null || true
	wait "$BENCH_NODE_PID" 2>/dev/null || true
	BENCH_NODE_PID=""
	for v in "$BENCH_DIR/root$node_n"/views/*; do
		umount -l "$v" 2>/dev/null || true
	done
	rm -rf "$BENCH_DIR/root$node_n"
}

# cache MODE: TETHER_CACHE warm (the tree synced before) or cold (empty).
warm=$BENCH_DIR/cache-warm
fresh_node plain
TETHER_CACHE=$warm "$TETHER_BIN" sync "$tree" --node "$NODE" --workspace w >/dev/null
stop_node
cache() {
	if [ "$1" = warm ]; then
		echo "$warm"
	else
		rm -rf "$BENCH_DIR/cache-cold"
		echo "$BENCH_DIR/cache-cold"
	fi
}

run_barrier() {
	local c
	fresh_node view
	c=$(cache "$1")
	cat >"$BENCH_DIR/agents.json" <<-EOF
		{ "backends": { "n": { "type": "node", "url": "$NODE" } },
		  "agents": { "list": [ { "id": "a", "backend": "n", "dir": "$tree" } ] } }
	EOF
	drop
	t0=$(now_ms)
	TETHER_CACHE=$c "$TETHER_BIN" exec --config "$BENCH_DIR/agents.json" \
		--agent a --workspace a -- cat "$file" >"$BENCH_DIR/out"
	ms=$(($(now_ms) - t0))
	check "$BENCH_DIR/out" barrier
	stop_node
}

run_lazy() {
	local c pid
	fresh_node view
	c=$(cache "$1")
	drop
	t0=$(now_ms)
	TETHER_CACHE=$c "$TETHER_BIN" sync "$tree" --node "$NODE" --workspace w \
		--lazy >/dev/null 2>&1 &
	pid=$!
	until "$TETHER_BIN" exec --node "$NODE" --workspace w -- cat "$file" \
		>"$BENCH_DIR/out" 2>/dev/null; do
		sleep 0.01
	done
	ms=$(($(now_ms) - t0))
	check "$BENCH_DIR/out" lazy-sync
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	stop_node
}

run_sync() {
	local c
	fresh_node plain
	c=$(cache "$1")
	drop
	t0=$(now_ms)
	TETHER_CACHE=$c "$TETHER_BIN" sync "$tree" --node "$NODE" --workspace w >/dev/null
	"$TETHER_BIN" exec --node "$NODE" --workspace w -- cat "$file" >"$BENCH_DIR/out"
	ms=$(($(now_ms) - t0))
	check "$BENCH_DIR/out" sync-then-run
	stop_node
}

run_rsync() {
	local dest=$BENCH_DIR/rsync-dest
	rm -rf "$dest"
	drop
	t0=$(now_ms)
	rsync -a -e "ssh ${BENCH_SSH_OPTS[*]}" "$tree/" "$BENCH_SSH_DEST:$dest/"
	ssh "${BENCH_SSH_OPTS[@]}" "$BENCH_SSH_DEST" cat "$dest/$file" >"$BENCH_DIR/out"
	ms=$(($(now_ms) - t0))
	check "$BENCH_DIR/out" rsync-then-run
	rm -rf "$dest"
}

ways=("barrier warm" "barrier cold" "lazy-sync warm" "lazy-sync cold"
	"sync-then-run warm" "sync-then-run cold" "rsync-then-run -")
if [ -n "$only" ]; then
	all=("${ways[@]}")
	ways=()
	for w in "${all[@]}"; do
		[[ " $only " == *" ${w%% *} "* ]] && ways+=("$w")
	done
	[[ " $only " == *" rsync-then-run "* ]] ||
		bench_die "-w: rsync-then-run is the reference: include it"
fi
declare -A times
for ((r = 1; r <= rounds; r++)); do
	for w in "${ways[@]}"; do
		set -- $w
		case $1 in
		barrier) run_barrier "$2" ;;
		lazy-sync) run_lazy "$2" ;;
		sync-then-run) run_sync "$2" ;;
		rsync-then-run) run_rsync ;;
		esac
		times[$w]="${times[$w]:-} $ms"
		echo "round $r: $w: $ms ms" >&2
	done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
rs=$(echo "${times[rsync-then-run -]}" | median)
echo
echo "| way | stat cache | median ms | runs (ms) | / rsync-then-run |"
echo "|---|---|---:|---|---:|"
for w in "${ways[@]}"; do
	set -- $w
	m=$(echo "${times[$w]}" | median)
	printf '| %s | %s | %s | %s | %.3fx |\n' "$1" "$2" "$m" "${times[$w]# }" \
		"$(echo "$m / $rs" | bc -l)"
done
