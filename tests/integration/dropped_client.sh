# SPDX-License-Identifier: MIT
# A client killed with SIGKILL takes its command with it: the node sees the
# connection drop and kills the command's whole tree, TERM-proof ones too.
# Usage: dropped_client.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"
S=$MARK_SLEEP

# check_dropped NAME SCRIPT: run SCRIPT (which prints ready), SIGKILL the
# client, and expect every $S process gone within 15 s.
check_dropped()
{
	local name=$1 script=$2 client left
	bg "$TETHER" exec --node "$NODE_URL" -- sh -c "$script" sh "$S" \
		>"$T/$name.out" 2>"$T/$name.err"
	client=$BG_PID
	wait_until 20 grep -qx ready "$T/$name.out" ||
		fail "$name: the command printed nothing within 20 s: $(show "$T/$name.err")"
	[ -n "$(pids_matching "$S ")" ] || fail "$name: the command is not running"
	kill_wait "$client"
	if ! wait_until 15 no_procs "$S "; then
		left=$(procs_matching "$S " | tr '\n' '|')
		fail "$name: processes outlived their SIGKILLed client by 15 s: $left"
	fi
	log "$name: command gone after its client was killed: ok"
}

check_dropped tree '"$1" 4001 & ("$1" 4002 &); echo ready; "$1" 4003'
check_dropped ignores-term 'trap "" TERM; "$1" 4011 & echo ready; "$1" 4012'

# Dropping one client leaves the node serving the others.
out=$(tx exec --node "$NODE_URL" -n -- echo ok 2>"$T/ok.err")
assert_eq ok "$out" "a command after dropped clients ($(show "$T/ok.err"))"
node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
