#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tether sync's chunk sizes compared on one tree: chunk count, manifest size,
# bytes sent for edits, and initial sync time for several MIN:AVG:MAX sets.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-d DIR | -f FILES -b BYTES -s SEED] [-c "MIN:AVG:MAX ..."] [-k]
  Starts a tether node on 127.0.0.1 and, for every chunk-size set (each in
  its own workspace, chunk store and stat cache, interleaved, the order
  rotating each step), syncs:
    full     the whole tree into an empty workspace
    edit1pct after 1% of the files were edited (gen-tree --edit --fraction
             0.01: small replacements that shift the rest of each file)
    insert1  after one byte was inserted in the middle of the largest file
  and reports, from tether sync --json: chunks sent, manifest size (the
  offer's bytes), bytes sent raw and after zstd, and the sync's wall time;
  plus the chunk store's size on disk after the full sync.
  -c SETS    default "4096:16384:65536 8192:32768:131072 16384:65536:262144
             32768:131072:524288" (bytes)
  -d DIR     use a copy of DIR (cp -a; DIR itself is never modified)
  -f -b -s   gen-tree --files, --bytes, --seed (default 80000 files, 1.3 GB,
             seed 1)
  -k         keep the temp dir
  Binaries: \$TETHER_BIN, \$BENCH_GEN_TREE, or \$BENCH_BUILD/{cli/tether,bench/*}.
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

src_dir=""
files=""
bytes=""
seed=1
sets="4096:16384:65536 8192:32768:131072 16384:65536:262144 32768:131072:524288"
while getopts "d:f:b:s:c:kh" opt; do
	case $opt in
	d) src_dir=$OPTARG ;;
	f) files=$OPTARG ;;
	b) bytes=$OPTARG ;;
	s) seed=$OPTARG ;;
	c) sets=$OPTARG ;;
	k) BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in seed ${files:+files} ${bytes:+bytes}; do
	[[ ${!v} =~ ^[0-9]+$ ]] || bench_die "$v: ${!v}: expected a number"
done
for c in $sets; do
	[[ $c =~ ^[0-9]+:[0-9]+:[0-9]+$ ]] || bench_die "-c $c: expected MIN:AVG:MAX"
done
[ -z "$src_dir" ] || [ -d "$src_dir" ] || bench_die "-d $src_dir: not a directory"

bench_find_bins gen-tree
bench_setup
bench_machine

src=$BENCH_DIR/src
bench_make_tree "$src" "$src_dir" "$seed" "$files" "$bytes"
find "$src" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true # page cache
bench_start_node "$BENCH_DIR/node"
echo "node:    $BENCH_NODE_URL"
echo

read -ra set_list <<<"$sets"
n=${#set_list[@]}
res=$BENCH_DIR/results
: >"$res"
step_no=0

# sync_all STEP: every set once, rotating the order; appends
# "step set wall_s node_cpu_s json" to $res.
sync_all() {
	local step=$1 i k c out w0 w1 c0 c1

	for ((i = 0; i < n; i++)); do
		k=$(((i + step_no) % n))
		c=${set_list[$k]}
		sync -f "$BENCH_DIR" 2>/dev/null || sync
		c0=$(bench_node_cpu)
		w0=$(date +%s.%N)
		out=$("$TETHER_BIN" sync "$src" --node "$BENCH_NODE_URL" --workspace "c$k" \
			--chunk "$c" --json --cache "$BENCH_DIR/cache-$k" 2>"$BENCH_DIR/sync.err") ||
			{ cat "$BENCH_DIR/sync.err" >&2; bench_die "tether sync --chunk $c ($step) failed"; }
		w1=$(date +%s.%N)
		c1=$(bench_node_cpu)
		echo "$step $k $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", b - a }')" \
			"$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }') $out" >>"$res"
		echo "  $step $c: $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }') s $out"
	done
	step_no=$((step_no + 1))
}

sync_all full
for ((k = 0; k < n; k++)); do
	echo "store c$k $(du -sb "$BENCH_DIR/node/.tether/stores/c$k" 2>/dev/null | cut -f1)" >>"$BENCH_DIR/stores"
done
"$BENCH_GEN_TREE" --edit "$src" --seed 201 --fraction 0.01 2>&1 | sed 's/^gen-tree: [^:]*: /  edit: /'
sync_all edit1pct
big=$(cd "$src" && find . -name .git -prune -o -type f -printf '%s %P\n' | sort -n | tail -n 1)
size=${big%% *}
big=${big#* }
off=$((size / 2))
# In place (same inode), as an editor that rewrites the file would.
{ head -c "$off" "$src/$big"; printf 'X'; tail -c +$((off + 1)) "$src/$big"; } >"$BENCH_DIR/insert.tmp"
cat "$BENCH_DIR/insert.tmp" >"$src/$big"
rm -f "$BENCH_DIR/insert.tmp"
echo "  insert: one byte at offset $off of $big ($size bytes)"
sync_all insert1
for ((k = 0; k < n; k++)); do
	diff -r --no-dereference -x .git "$src" "$BENCH_DIR/node/workspaces/c$k" >/dev/null 2>&1 ||
		echo "${0##*/}: workspace c$k (--chunk ${set_list[$k]}) differs from the source" >&2
done

echo
awk -v sets="$sets" '
function get(k) { return match($0, "\"" k "\":[0-9]+") ? substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) + 0 : 0 }
FILENAME ~ /stores$/ { store[substr($2, 2)] = $3; next }
{
	k = $2
	ch[$1, k] = get("chunks_sent"); off[$1, k] = get("offer_bytes")
	raw[$1, k] = get("bytes_sent_raw"); z[$1, k] = get("bytes_sent_zstd")
	wall[$1, k] = $3; cpu[$1, k] = $4; ms[$1, k] = get("ms")
}
END {
	n = split(sets, s, " ")
	print "| chunk min:avg:max (KiB) | chunks | manifest KB | store MB | full sync s | node cpu s |"
	print "|---|---:|---:|---:|---:|---:|"
	for (k = 0; k < n; k++) {
		split(s[k + 1], p, ":")
		printf "| %d/%d/%d | %d | %.0f | %.1f | %.2f | %.2f |\n", p[1] / 1024, p[2] / 1024, p[3] / 1024,
		       ch["full", k], off["full", k] / 1e3, store[k] / 1e6, wall["full", k], cpu["full", k]
	}
	print ""
	print "| chunk min:avg:max (KiB) | 1% edit: chunks | raw KB | zstd KB | offer KB | 1-byte insert: chunks | raw KB | zstd KB | offer KB |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for (k = 0; k < n; k++) {
		split(s[k + 1], p, ":")
		printf "| %d/%d/%d | %d | %.0f | %.0f | %.1f | %d | %.0f | %.0f | %.1f |\n", p[1] / 1024, p[2] / 1024, p[3] / 1024,
		       ch["edit1pct", k], raw["edit1pct", k] / 1e3, z["edit1pct", k] / 1e3, off["edit1pct", k] / 1e3,
		       ch["insert1", k], raw["insert1", k] / 1e3, z["insert1", k] / 1e3, off["insert1", k] / 1e3
	}
}' "$BENCH_DIR/stores" "$res"
