#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Workspace sync side by side: tether sync to a node on 127.0.0.1 against
# rsync -a and rsync -az over ssh to a private sshd, then tether watch.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-d DIR | -f FILES -b BYTES -s SEED] [-n ROUNDS] [-i ROUNDS]
                [-L SAMPLES] [-I SECONDS] [-t TOOLS] [-V] [-u] [-k]
  Mirrors a tree to a tether node (tcp://127.0.0.1, ephemeral port) and, over
  ssh to a private sshd on 127.0.0.1, with rsync -a and rsync -az, all three
  interleaved (the order rotates every step), through these steps:
    initial   an empty destination (-i ROUNDS times, default 1)
    noop      nothing changed
    edit1     one file edited        (gen-tree --edit --count 1)
    edit1pct  1% of files edited     (gen-tree --edit --fraction 0.01)
    branch    a branch switch (10%)  (gen-tree --branch: modify, delete,
              rename, add; .git/index rewritten)
  the last four -n ROUNDS times (default 3; each round edits with new seeds).
  Then tether watch on the same tree: save-to-visible latency of a one-file
  edit (bench/watch-lat, -L SAMPLES, default 200) and the watcher's CPU while
  idle for -I SECONDS (default 60).
  -d DIR     sync a copy of DIR (cp -a; DIR itself is never modified)
             instead of a tree from bench/gen-tree
  -f -b -s   gen-tree --files, --bytes, --seed (default 80000 files, 1.3 GB,
             seed 1)
  -t TOOLS   a subset of "tether rsync rsync-z" (default: all three)
  -V         the node serves views (tether node --view): it keeps no
             materialized tree, the workspace is its view (ROOT/views/WS),
             which the checks read; -i more than 1 needs a node without
  -u         keep the login user's real ~/.bashrc for ssh (see exec-latency.sh)
  -k         keep the temp dir (the trees, node and sshd logs, raw results)
  Every run is measured by bench/runstat (client wall, CPU and peak RSS, the
  ssh client included for rsync); server CPU is the node's, or the sshd
  listener's with everything it reaped (sshd sessions, rsync --server);
  server peak RSS is the node's VmHWM (reset before each run) or that of the
  rsync --server processes (runstat as --rsync-path). Bytes on the wire are
  the loopback's tx_bytes (payload and TCP/IP headers): the script runs in
  its own network namespace, so nothing else is counted. "flush" is the
  time of a sync -f of the destination file system after the run: rsync does
  not fsync, tether's node does. rsync runs with --delete (a mirror, as
  tether is) and --exclude=.git plus the .gitignore/.tetherignore files as
  dir-merge filters (tether never syncs .git and honours those files).
  Binaries: \$TETHER_BIN, \$BENCH_GEN_TREE, \$BENCH_RUNSTAT, \$BENCH_WATCH_LAT, or
  \$BENCH_BUILD/{cli/tether,bench/*} (default build dir: build-rel).
  Needs rsync and openssh-server (exit 77 without them) and root (netns).
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

src_dir=""
files=""
bytes=""
seed=1
rounds=3
init_rounds=1
samples=200
idle=60
tools="tether rsync rsync-z"
views=""
while getopts "d:f:b:s:n:i:L:I:t:Vukh" opt; do
	case $opt in
	d) src_dir=$OPTARG ;;
	f) files=$OPTARG ;;
	b) bytes=$OPTARG ;;
	s) seed=$OPTARG ;;
	n) rounds=$OPTARG ;;
	i) init_rounds=$OPTARG ;;
	L) samples=$OPTARG ;;
	I) idle=$OPTARG ;;
	t) tools=$OPTARG ;;
	V) views=1 ;;
	u) BENCH_SSH_USER_RC=1 ;;
	k) BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
for v in rounds init_rounds samples idle seed ${files:+files} ${bytes:+bytes}; do
	[[ ${!v} =~ ^[0-9]+$ ]] || bench_die "$v: ${!v}: expected a number"
done
for t in $tools; do
	case $t in tether | rsync | rsync-z) ;; *) bench_die "-t: unknown tool $t" ;; esac
done
[ -z "$src_dir" ] || [ -d "$src_dir" ] || bench_die "-d $src_dir: not a directory"

if ! command -v rsync >/dev/null; then
	echo "${0##*/}: rsync is missing (needed on both ends, here the same machine)." >&2
	echo "  Install it with: apt-get install rsync. Nothing was run." >&2
	exit 77
fi
bench_need_ssh

# A private network namespace: the loopback counters then count this run
# only (other work on the machine uses the host's lo). Re-exec inside one.
if [ -z "${BENCH_SYNC_NETNS:-}" ]; then
	if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
		export BENCH_SYNC_NETNS=1
		exec unshare --net -- bash -c 'ip link set lo up && exec bash "$@"' \
			bash "$0" "$@"
	fi
	BENCH_SYNC_NETNS=host
	echo "${0##*/}: warning: no private network namespace (needs root):" \
		"loopback bytes include any other traffic on lo" >&2
fi

bench_find_bins gen-tree runstat watch-lat
bench_setup

bench_machine
echo "rsync:   $(rsync --version | head -n 1)"
echo "netns:   $([ "$BENCH_SYNC_NETNS" = 1 ] && echo private || echo "host's (lo counters shared)")"

src=$BENCH_DIR/src
t0=$(date +%s.%N)
bench_make_tree "$src" "$src_dir" "$seed" "$files" "$bytes"
echo "synced:  $(find "$src" -name .git -prune -o -type f -print | wc -l) files," \
	"$(find "$src" -name .git -prune -o -type f -printf '%s\n' | awk '{ s += $1 } END { print s }') bytes" \
	"outside .git ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }') s to make)"
if find "$src" \( -name .gitignore -o -name .tetherignore \) -print -quit | grep -q .; then
	echo "note:    the tree has .gitignore/.tetherignore files: rsync's dir-merge" \
		"filters approximate git's rules; the checks below may then differ"
fi
find "$src" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true # page cache

[ -z "$views" ] || [ "$init_rounds" -le 1 ] || bench_die "-V takes one initial round"
[ -z "$views" ] || BENCH_NODE_ARGS=(--view)
bench_start_node "$BENCH_DIR/node"
bench_start_sshd
echo "node:    $BENCH_NODE_URL${views:+ (--view: the workspace is its view)}"
echo "sshd:    127.0.0.1:$BENCH_SSH_PORT ($(bench_ssh_rc_note))"
echo

ws_root=$BENCH_DIR/node/workspaces
[ -z "$views" ] || ws_root=$BENCH_DIR/node/views
cache=$BENCH_DIR/cache
res=$BENCH_DIR/results
: >"$res"
rsync_ssh="ssh ${BENCH_SSH_OPTS[*]} -o ControlMaster=no -o ControlPath=none"
rsync_filters=(--exclude=.git --filter=':- .gitignore' --filter=':- .tetherignore')

lo_tx() {
	awk '/^ *lo:/ { sub(/^ *lo:/, ""); print $9 }' /proc/net/dev
}

hwm_kb() {
	awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

json_get() { # KEY LINE
	sed -n "s/.*\"$1\":\([0-9a-z]*\).*/\1/p" <<<"$2"
}

sshd_idle() {
	! pgrep -P "$BENCH_SSHD_PID" >/dev/null
}

# tree_sig DIR: what a mirror must reproduce, outside .git: names, types,
# modes, symlink targets, and sizes and mtimes of regular files.
tree_sig() {
	(cd "$1" && {
		find . -mindepth 1 -name .git -prune -o -type f -printf 'f %P %m %s %T@\n'
		find . -mindepth 1 -name .git -prune -o ! -type f -printf '%y %P %m %l\n'
	} | LC_ALL=C sort | md5sum | cut -c1-32)
}

# dest TOOL: the directory TOOL mirrors into (current generation).
dest() {
	case $1 in
	tether) echo "$ws_root/$ws" ;;
	rsync) echo "$BENCH_DIR/rsync-a.$gen" ;;
	rsync-z) echo "$BENCH_DIR/rsync-z.$gen" ;;
	esac
}

# run_tool STEP ROUND TOOL: one measured run; appends to $res:
# step round tool wall cpu_c cpu_s rss_c_kb rss_s_kb lo_bytes app_bytes flush status
run_tool() {
	local step=$1 round=$2 tool=$3 d cmd out rc=0 lo0 lo1 c0 c1 rss_s app=- f0 f1
	local ru=$BENCH_DIR/client.ru sru=$BENCH_DIR/server.ru line

	d=$(dest "$tool")
	: >"$ru"
	: >"$sru"
	case $tool in
	tether)
		cmd=("$TETHER_BIN" sync "$src" --node "$BENCH_NODE_URL"
			--workspace "$ws" --json --cache "$cache")
		echo 5 >"/proc/$BENCH_NODE_PID/clear_refs" 2>/dev/null || true
		c0=$(bench_node_cpu) ;;
	rsync | rsync-z)
		mkdir -p "$d"
		cmd=(rsync -a --delete "${rsync_filters[@]}" -e "$rsync_ssh"
			--rsync-path="$BENCH_RUNSTAT -o $sru -l server -- rsync")
		[ "$tool" = rsync ] || cmd+=(-z)
		cmd+=("$src/" "$BENCH_SSH_DEST:$d/")
		c0=$(bench_tree_cpu "$BENCH_SSHD_PID") ;;
	esac
	lo0=$(lo_tx)
	out=$("$BENCH_RUNSTAT" -o "$ru" -l client -- "${cmd[@]}" 2>"$BENCH_DIR/run.err") || rc=$?
	case $tool in
	tether)
		c1=$(bench_node_cpu)
		rss_s=$(hwm_kb "$BENCH_NODE_PID")
		if [ $rc = 0 ]; then
			app=$(($(json_get bytes_sent_zstd "$out") + $(json_get offer_bytes "$out")))
			echo "$step $round $out" >>"$BENCH_DIR/tether.json"
		fi ;;
	*)
		bench_wait_for 10 sshd_idle || true
		c1=$(bench_tree_cpu "$BENCH_SSHD_PID")
		rss_s=$(sed -n 's/.* maxrss_kb=\([0-9]*\).*/\1/p' "$sru" | sort -n | tail -n 1) ;;
	esac
	lo1=$(lo_tx)
	f0=$(date +%s.%N)
	sync -f "$d" 2>/dev/null || sync
	f1=$(date +%s.%N)
	if [ $rc != 0 ]; then
		echo "  FAILED: $tool ($step, round $round) exited $rc: ${cmd[*]}" >&2
		sed 's/^/    /' "$BENCH_DIR/run.err" | tail -n 5 >&2
	fi
	line=$(awk -v s="$step" -v r="$round" -v t="$tool" -v c0="$c0" -v c1="$c1" \
		-v rs="${rss_s:-0}" -v l0="$lo0" -v l1="$lo1" -v app="$app" \
		-v f0="$f0" -v f1="$f1" -v rc="$rc" '
		{ for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		END {
			printf "%s %s %s %.3f %.2f %.2f %d %d %d %s %.2f %d\n", s, r, t,
			       v["wall_s"], v["user_s"] + v["sys_s"], c1 - c0,
			       v["maxrss_kb"], rs, l1 - l0, app, f1 - f0, rc
		}' "$ru")
	echo "$line" >>"$res"
	# shellcheck disable=SC2086
	set -- $line
	printf '  %-9s r%-2s %-8s %8.2f s  cpu %6.2f + %6.2f s  rss %5d + %5d MB  lo %9.1f MB  flush %5.2f s\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" $(($7 / 1024)) $(($8 / 1024)) \
		"$(awk -v b="$9" 'BEGIN { print b / 1e6 }')" "${11}"
}

step_no=0
# step NAME ROUND: every tool once, in an order that rotates each step, then
# check each destination against the source.
step() {
	local name=$1 round=$2 want got i n t order=()

	read -ra order <<<"$tools"
	n=${#order[@]}
	for ((i = 0; i < n; i++)); do
		t=${order[(i + step_no) % n]}
		run_tool "$name" "$round" "$t"
	done
	step_no=$((step_no + 1))
	want=$(tree_sig "$src")
	for t in "${order[@]}"; do
		got=$(tree_sig "$(dest "$t")")
		if [ "$got" != "$want" ]; then
			echo "  MISMATCH: $t's copy differs from the source after $name round $round" >&2
			echo "$name $round $t" >>"$BENCH_DIR/mismatch"
		fi
	done
}

ws=w1
gen=1
echo "== steps (per run: wall, client + server CPU, client + server peak RSS, loopback bytes, flush)"
for ((r = 1; r <= init_rounds; r++)); do
	# A fresh destination for every tool: a new workspace (and so store),
	# stat cache and rsync directory; the previous ones are removed first.
	if [ "$r" -gt 1 ]; then
		rm -rf "${ws_root:?}/$ws" "$BENCH_DIR/node/.tether/stores/$ws" \
			"$BENCH_DIR/node/.tether/$ws" \
			"$BENCH_DIR/rsync-a.$gen" "$BENCH_DIR/rsync-z.$gen" "$cache"
		sync
	fi
	ws=w$r
	gen=$r
	step initial "$r"
done
for ((r = 1; r <= rounds; r++)); do
	step noop "$r"
	"$BENCH_GEN_TREE" --edit "$src" --seed $((100 + r)) --count 1 2>>"$BENCH_DIR/edits.log"
	step edit1 "$r"
	"$BENCH_GEN_TREE" --edit "$src" --seed $((200 + r)) --fraction 0.01 2>>"$BENCH_DIR/edits.log"
	step edit1pct "$r"
	"$BENCH_GEN_TREE" --branch "$src" --seed $((300 + r)) 2>>"$BENCH_DIR/edits.log"
	step branch "$r"
done
[ ! -s "$BENCH_DIR/edits.log" ] || sed 's/^gen-tree: [^:]*: /  /' "$BENCH_DIR/edits.log"

if [[ " $tools " == *" tether "* ]]; then
	echo
	echo "== content check: diff -r of the source and the node's workspace"
	if diff -r --no-dereference -x .git "$src" "$ws_root/$ws" >"$BENCH_DIR/diff.out" 2>&1; then
		echo "  identical"
	else
		echo "  DIFFERENT: $(wc -l <"$BENCH_DIR/diff.out") lines of diff -r, first:" >&2
		head -n 5 "$BENCH_DIR/diff.out" >&2
		echo "tether content" >>"$BENCH_DIR/mismatch"
	fi
fi

echo
echo "== medians over rounds (wall s; CPU s; peak RSS MB; loopback MB; flush s)"
awk -v tools="$tools" '
function med(key, col,    n, i, j, a, t) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, i, col]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	return a[int((n + 1) / 2)]
}
{
	key = $1 " " $3
	if (!($1 in seen)) { seen[$1] = 1; steps[++ns] = $1 }
	j = ++cnt[key]
	for (c = 4; c <= 12; c++) val[key, j, c] = $c
	if ($12 != 0) failed[key] = 1
}
END {
	nt = split(tools, tl, " ")
	printf "| step | tool | wall s | client cpu s | server cpu s | client rss MB | server rss MB | loopback MB | app MB | flush s |\n"
	printf "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
	for (i = 1; i <= ns; i++) for (k = 1; k <= nt; k++) {
		key = steps[i] " " tl[k]
		if (!(key in cnt)) continue
		name = tl[k] == "tether" ? "tether sync" : tl[k] == "rsync" ? "rsync -a" : "rsync -az"
		app = med(key, 10)
		printf "| %s | %s%s | %.2f | %.2f | %.2f | %.0f | %.0f | %.2f | %s | %.2f |\n",
		       steps[i], name, key in failed ? " (FAILED)" : "", med(key, 4), med(key, 5),
		       med(key, 6), med(key, 7) / 1024, med(key, 8) / 1024, med(key, 9) / 1e6,
		       app == "-" ? "-" : sprintf("%.2f", app / 1e6), med(key, 11)
		w[steps[i], tl[k]] = med(key, 4)
	}
	print ""
	printf "| step | tether / rsync -a | tether / rsync -az | target |\n|---|---:|---:|---|\n"
	for (i = 1; i <= ns; i++) {
		s = steps[i]
		if (!((s, "tether") in w)) continue
		tg = s == "initial" ? "<= 0.5x" : s == "noop" ? "<= 0.1x" : ""
		a = (s, "rsync") in w && w[s, "rsync"] > 0 ? sprintf("%.3fx", w[s, "tether"] / w[s, "rsync"]) : "-"
		b = (s, "rsync-z") in w && w[s, "rsync-z"] > 0 ? sprintf("%.3fx", w[s, "tether"] / w[s, "rsync-z"]) : "-"
		printf "| %s | %s | %s | %s |\n", s, a, b, tg
	}
}' "$res"

if [ -s "$BENCH_DIR/tether.json" ]; then
	echo
	echo "== tether sync --json (medians): where the time goes"
	awk '
	function get(k,    m) { return match($0, "\"" k "\":[0-9]+") ? substr($0, RSTART + length(k) + 3, RLENGTH - length(k) - 3) + 0 : 0 }
	{ s = $1; if (!(s in seen)) { seen[s] = 1; steps[++ns] = s }
	  j = ++n[s]; ms[s, j] = get("ms"); scan[s, j] = get("scan_ms"); hashed[s, j] = get("files_hashed")
	  chunks[s, j] = get("chunks_sent"); raw[s, j] = get("bytes_sent_raw"); z[s, j] = get("bytes_sent_zstd")
	  offer[s, j] = get("offer_bytes"); changed[s, j] = get("changed") }
	function med(arr, s,    i, j, a, t, c) { c = n[s]; for (i = 1; i <= c; i++) a[i] = arr[s, i]
	  for (i = 2; i <= c; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	  return a[int((c + 1) / 2)] }
	END {
		printf "| step | ms | scan_ms | entries changed | files hashed | chunks sent | raw MB | zstd MB | offer KB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
		for (i = 1; i <= ns; i++) { s = steps[i]
			printf "| %s | %d | %d | %d | %d | %d | %.2f | %.2f | %.1f |\n", s, med(ms, s), med(scan, s),
			       med(changed, s), med(hashed, s), med(chunks, s), med(raw, s) / 1e6, med(z, s) / 1e6, med(offer, s) / 1e3 }
	}' "$BENCH_DIR/tether.json"
fi

# ---- tether watch: save-to-visible latency and idle CPU ----
if [[ " $tools " == *" tether "* ]] && { [ "$samples" -gt 0 ] || [ "$idle" -gt 0 ]; }; then
	echo
	echo "== tether watch"
	"$TETHER_BIN" watch "$src" --node "$BENCH_NODE_URL" --workspace "$ws" \
		--json --cache "$cache" >"$BENCH_DIR/watch.out" 2>"$BENCH_DIR/watch.err" </dev/null &
	watch_pid=$!
	watch_ready() { [ -s "$BENCH_DIR/watch.out" ] || ! kill -0 "$watch_pid" 2>/dev/null; }
	bench_wait_for 600 watch_ready || true
	if ! kill -0 "$watch_pid" 2>/dev/null || [ ! -s "$BENCH_DIR/watch.out" ]; then
		cat "$BENCH_DIR/watch.err" >&2
		bench_die "tether watch did not start (or did not report its first sync)"
	fi
	echo "  first sync: $(head -n 1 "$BENCH_DIR/watch.out")"
	if [ "$samples" -gt 0 ]; then
		# Eight small files spread over the tree that the node has.
		mapfile -t probe < <(cd "$src" && find . -name .git -prune -o -type f -size -16k -size +0 -printf '%P\n' |
			LC_ALL=C sort | awk 'NR % 997 == 1' | while read -r f; do
				[ -f "$ws_root/$ws/$f" ] && echo "$f"; done | head -n 8)
		[ ${#probe[@]} -gt 0 ] || bench_die "no small file to probe in $src"
		echo "  probing ${#probe[@]} files, e.g. ${probe[0]}; $samples saves, 25-50 ms apart"
		lines0=$(wc -l <"$BENCH_DIR/watch.out")
		"$BENCH_WATCH_LAT" -n "$samples" -r "$BENCH_DIR/watch-lat.txt" \
			"$src" "$ws_root/$ws" "${probe[@]}" | tee "$BENCH_DIR/watch-lat.out" | sed 's/^/  /'
		echo "  watch reported $(($(wc -l <"$BENCH_DIR/watch.out") - lines0)) syncs; sync ms (from --json) p50/p90/max:" \
			"$(tail -n +$((lines0 + 1)) "$BENCH_DIR/watch.out" | sed -n 's/.*"ms":\([0-9]*\).*/\1/p' | sort -n |
				awk '{ a[NR] = $1 } END { if (NR) printf "%d / %d / %d", a[int((NR + 1) / 2)], a[int(NR * 0.9 + 0.999)], a[NR] }')"
	fi
	if [ "$idle" -gt 0 ]; then
		sleep 2
		sched() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
		w0=$(bench_tree_cpu "$watch_pid"); n0=$(bench_node_cpu)
		ws0=$(sched "$watch_pid"); ns0=$(sched "$BENCH_NODE_PID")
		l0=$(wc -l <"$BENCH_DIR/watch.out")
		sleep "$idle"
		w1=$(bench_tree_cpu "$watch_pid"); n1=$(bench_node_cpu)
		ws1=$(sched "$watch_pid"); ns1=$(sched "$BENCH_NODE_PID")
		echo "  idle ${idle} s on the tree: watcher CPU $(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", b - a }') s" \
			"(/proc stat ticks), $(awk -v a="$ws0" -v b="$ws1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }') ms (schedstat, all threads);" \
			"node $(awk -v a="$n0" -v b="$n1" 'BEGIN { printf "%.2f", b - a }') s, $(awk -v a="$ns0" -v b="$ns1" 'BEGIN { printf "%.3f", (b - a) / 1e6 }') ms;" \
			"syncs reported meanwhile: $(($(wc -l <"$BENCH_DIR/watch.out") - l0))"
		echo "  watcher peak RSS $(($(hwm_kb "$watch_pid") / 1024)) MB;" \
			"inotify watches: $(cat /proc/"$watch_pid"/fdinfo/* 2>/dev/null | grep -c '^inotify wd:')"
	fi
	kill "$watch_pid" 2>/dev/null || true
	wait "$watch_pid" 2>/dev/null || true
fi

if [ -s "$BENCH_DIR/mismatch" ]; then
	echo
	echo "${0##*/}: some copies differ from the source: $(tr '\n' ';' <"$BENCH_DIR/mismatch")" >&2
	exit 1
fi
