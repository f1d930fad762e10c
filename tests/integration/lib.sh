# SPDX-License-Identifier: MIT
# Shared helpers of the integration tests: a private temp dir, real nodes
# started in the background, deadlines on every wait, teardown that kills.
#
# A test script sources this file, then calls start_node and the tx wrapper.
# Environment (set by meson): TETHER, the tether binary; TP_RAW, tp-raw.
# Everything the test starts is killed, and its temp dir removed, on exit.

set -u
set -o pipefail

: "${TETHER:?TETHER must name the tether binary}"
# Tests change directory: make the tools' paths absolute.
TETHER=$(readlink -f "$TETHER")
[ -z "${TP_RAW:-}" ] || TP_RAW=$(readlink -f "$TP_RAW")
[ -x "$TETHER" ] || { echo "FAIL: $TETHER is not executable" >&2; exit 1; }
TEST_NAME=$(basename "$0" .sh)${1:+-$1}

# Sockets live in the temp dir: keep its path well inside sun_path's 108.
_tmpbase=${TMPDIR:-/tmp}
[ ${#_tmpbase} -le 60 ] || _tmpbase=/tmp
T=$(mktemp -d "$_tmpbase/tether-it.XXXXXX") || {
	echo "FAIL: $TEST_NAME: mktemp -d" >&2
	exit 1
}
unset _tmpbase
# Every tether exec appends to an audit log: the test's own, never the
# user's (a test may point it elsewhere).
export TETHER_AUDIT=$T/audit.log

_PIDS=()       # helpers and clients in the background: killed at exit
_NODE_PIDS=()  # nodes: stopped with TERM (they kill their commands), then KILL
_NODE_LOGS=()
_NODE_N=0
NODE_ARGS=()

# Tether and the sanitizers may be slow on a loaded 2-core machine: deadlines
# are generous, since a deadline only decides when a hang becomes a failure.
TX_DEADLINE=${TX_DEADLINE:-60}

log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }

fail()
{
	printf 'FAIL: %s: %s%s\n' "$TEST_NAME" "$*" \
		"${SEED:+ (seed $SEED: rerun with SYNC_SEED=$SEED)}" >&2
	exit 1
}

# use_seed: a random SEED for a test driven by treegen (SYNC_SEED=N replays
# one), logged, and named by every failure from then on.
use_seed()
{
	SEED=${SYNC_SEED:-$((RANDOM * 32768 + RANDOM))}
	log "seed $SEED"
}

# assert_eq EXPECTED ACTUAL WHAT
assert_eq()
{
	[ "$1" = "$2" ] ||
		fail "$3: expected '$1', got '$2'"
}

# assert_match REGEX TEXT WHAT (extended regex, matched against the whole text)
assert_match()
{
	printf '%s' "$2" | grep -Eq -- "$1" ||
		fail "$3: expected to match /$1/, got '$2'"
}

# tree_digest DIR: every entry's path, type, mode, size (but a directory's,
# which is the file system's business), mtime, link target and content hash,
# sorted: what the sync tests compare trees by. (treegen digest does the same
# for names no shell handles well.)
tree_digest()
{
	(cd "$1" && find . -mindepth 1 -printf '%P|%y|%m|%s|%T@|%l\n' |
		awk -F'|' -v OFS='|' '$2 == "d" { $4 = 0 } 1' |
		LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z |
		xargs -0r md5sum) 2>/dev/null || echo "no tree at $1"
}

# One line of a file, for messages: what a tether call said on stderr.
show() { [ -s "$1" ] && tr '\n' '|' <"$1" | head -c 600; }

_now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

# "1.5" -> 1500
_secs_ms()
{
	local i=${1%%.*} f=
	[[ $1 == *.* ]] && f=${1#*.}
	f=${f}000
	echo $((10#${i:-0} * 1000 + 10#${f:0:3}))
}

# wait_until TIMEOUT CMD...: poll CMD every 50 ms until it succeeds (0) or
# TIMEOUT seconds (fractions allowed) pass (1).
wait_until()
{
	local end=$(($(_now_ms) + $(_secs_ms "$1")))
	shift
	while :; do
		"$@" && return 0
		[ "$(_now_ms)" -lt "$end" ] || return 1
		sleep 0.05
	done
}

# True when PID is a child of this shell: teardown never signals a pid that
# was reaped and then reused by someone else.
own_child()
{
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
	set -- $st
	[ "$2" = "$$" ]
}

# True when PID is gone or a zombie.
pid_gone()
{
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$st" ] || [ "${st%% *}" = Z ]
}

# wait_exit PID SECS: wait for a child of this shell at most SECS seconds and
# return its exit status; a child still running then is killed and fails
# the test.
wait_exit()
{
	if ! wait_until "$2" pid_gone "$1"; then
		kill -KILL "$1" 2>/dev/null
		fail "process $1 did not exit within $2 s"
	fi
	wait "$1"
}

# kill_wait PID: SIGKILL a child of this shell and reap it, quietly.
kill_wait()
{
	kill -KILL "$1" 2>/dev/null
	{ wait "$1"; } 2>/dev/null
	return 0
}

# bg CMD...: run CMD in the background (stdin kept), record it for teardown;
# its pid is in BG_PID.
bg()
{
	"$@" <&0 &
	BG_PID=$!
	_PIDS+=("$BG_PID")
}

# tx ARGS...: run tether with a deadline of TX_DEADLINE seconds. A call that
# hits the deadline prints why and returns 250, which no assertion expects;
# tether's own 124 (its --timeout) is told apart by the time it took.
tx()
{
	local start rc
	start=$(_now_ms)
	timeout -k 5 "$TX_DEADLINE" "$TETHER" "$@"
	rc=$?
	if [ $rc -eq 124 ] || [ $rc -eq 137 ] &&
		[ $(($(_now_ms) - start)) -ge $((TX_DEADLINE * 1000)) ]; then
		printf 'DEADLINE: tether %s: no exit within %s s\n' "$*" \
			"$TX_DEADLINE" >&2
		return 250
	fi
	return $rc
}

# start_node TRANSPORT [ROOT [URL]]: start a node on ipc (a socket in the
# temp dir) or tcp (127.0.0.1, port 0), or on URL when given, wait for its
# "listening on" line and set NODE_URL, NODE_PID and NODE_LOG. ROOT
# defaults to $T. The array NODE_ARGS holds more options for the node.
start_node()
{
	local tr=$1 root=${2:-$T} url=${3:-} line
	_NODE_N=$((_NODE_N + 1))
	case $tr in
	ipc) url=${url:-ipc://$T/node$_NODE_N.sock} ;;
	tcp) url=${url:-tcp://127.0.0.1:0} ;;
	tls) url=${url:-tls+tcp://127.0.0.1:0} ;;
	*) fail "start_node: unknown transport '$tr' (ipc, tcp or tls)" ;;
	esac
	NODE_LOG=$T/node$_NODE_N.log
	"$TETHER" node --listen "$url" --root "$root" "${NODE_ARGS[@]}" \
		>"$NODE_LOG" 2>&1 </dev/null &
	NODE_PID=$!
	_NODE_PIDS+=("$NODE_PID")
	_NODE_LOGS+=("$NODE_LOG")
	if ! wait_until 20 grep -q '^tether node: listening on ' "$NODE_LOG"; then
		pid_gone "$NODE_PID" &&
			fail "node on $url exited before listening: $(show "$NODE_LOG")"
		fail "node on $url printed no listening line within 20 s: $(show "$NODE_LOG")"
	fi
	line=$(grep -c '^tether node: listening on ' "$NODE_LOG")
	assert_eq 1 "$line" "listening lines of the node"
	NODE_URL=$(sed -n 's/^tether node: listening on //p' "$NODE_LOG")
	case $url in
	*:0) assert_match '^(tls\+)?tcp://127\.0\.0\.1:[1-9][0-9]*$' "$NODE_URL" "node URL" ;;
	*) assert_eq "$url" "$NODE_URL" "node URL" ;;
	esac
	export NODE_URL
}

# stop_node PID SIGNAL: signal a node started by start_node, wait for it
# (20 s at most) and return its exit status; teardown then leaves it be.
stop_node()
{
	local pid=$1 i
	kill -"$2" "$pid" 2>/dev/null
	for i in "${!_NODE_PIDS[@]}"; do
		[ "${_NODE_PIDS[$i]}" = "$pid" ] && unset '_NODE_PIDS[i]'
	done
	# Braces: bash's "Killed" notice for the job goes to /dev/null.
	{ wait_until 20 pid_gone "$pid"; } 2>/dev/null ||
		fail "node $pid still runs 20 s after SIG$2"
	{ wait "$pid"; } 2>/dev/null
}

# The node is still serving: its process runs and it answers ps.
node_alive()
{
	pid_gone "$1" && return 1
	tx ps --node "$2" >/dev/null 2>&1
}

# procs_matching STRING: "PID ARGV..." of every process whose command line
# (arguments joined by spaces) contains STRING. Reads /proc with builtins
# only: no dependency on procps, no fork per process.
procs_matching()
{
	local d args
	for d in /proc/[1-9]*; do
		[ "${d#/proc/}" = "$BASHPID" ] && continue
		mapfile -d '' args 2>/dev/null <"$d/cmdline" || continue
		[[ " ${args[*]} " == *"$1"* ]] && echo "${d#/proc/} ${args[*]}"
	done
	return 0
}

pids_matching()
{
	local line
	procs_matching "$1" | while read -r line; do echo "${line%% *}"; done
}

# True when no process's command line contains the string (for wait_until).
no_procs() { [ -z "$(pids_matching "$1")" ]; }

# stop_detached_node SOCK ROOT: a node tether started by itself, detached
# from us, found by its socket (any whose socket path starts with SOCK):
# TERM, then KILL after 15 s; then unmounts the views left under ROOT.
stop_detached_node()
{
	local p m
	for p in $(pids_matching "--listen ipc://$1"); do kill -TERM "$p" 2>/dev/null; done
	wait_until 15 no_procs "--listen ipc://$1" ||
		for p in $(pids_matching "--listen ipc://$1"); do kill -KILL "$p" 2>/dev/null; done
	for m in "$2"/views/*; do umount -l "$m" 2>/dev/null; done
}

# Commands that must be found again (is the tree gone?) run MARK_SLEEP, a
# link to sleep in the temp dir: no process outside this test matches it.
mkdir -p "$T/bin" && ln -s "$(command -v sleep)" "$T/bin/sleep" ||
	fail "cannot link sleep into $T/bin"
MARK_SLEEP=$T/bin/sleep

_teardown()
{
	local rc=$? pid i st
	trap - EXIT
	set +e
	for pid in "${_PIDS[@]}"; do
		own_child "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	for pid in "${_NODE_PIDS[@]}"; do
		own_child "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for i in "${!_NODE_PIDS[@]}"; do
		pid=${_NODE_PIDS[$i]}
		if ! wait_until 15 pid_gone "$pid"; then
			echo "FAIL: $TEST_NAME: node $pid ignored SIGTERM for 15 s" >&2
			own_child "$pid" && kill -KILL "$pid" 2>/dev/null
			rc=1
		fi
		wait "$pid"
		st=$?
		# A node stopped by TERM exits 0: anything else is a leak report,
		# a crash or a failed shutdown.
		if [ $st -ne 0 ] && [ $rc -eq 0 ]; then
			echo "FAIL: $TEST_NAME: node $pid exited $st on SIGTERM: $(tail -n 30 "${_NODE_LOGS[$i]}")" >&2
			rc=1
		fi
	done
	# Commands of a node that died without killing them.
	for pid in $(pids_matching "$T/"); do
		kill -KILL "$pid" 2>/dev/null
	done
	if grep -rlsE 'ERROR: (Address|Leak)Sanitizer|runtime error:' \
		--include='*.log' --include='*.err' "$T" >"$T/.san" &&
		[ -s "$T/.san" ]; then
		echo "FAIL: $TEST_NAME: sanitizer reports:" >&2
		while read -r f; do
			echo "== $f" >&2
			head -n 60 "$f" >&2
		done <"$T/.san"
		rc=1
	fi
	if [ $rc -ne 0 ] && [ -n "${KEEP_TMP:-}" ]; then
		echo "$TEST_NAME: kept $T" >&2
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap _teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
