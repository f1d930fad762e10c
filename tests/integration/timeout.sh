# SPDX-License-Identifier: MIT
# --timeout kills the command's whole process tree (background jobs and
# orphans included) and exits 124; a command that ignores or traps SIGTERM
# is killed after the grace period all the same.
# Usage: timeout.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"

# A tree whose every process runs $MARK_SLEEP, with an argument per role so
# a failure says which one survived.
S=$MARK_SLEEP

# check_timeout NAME SCRIPT: the script run with --timeout 1 prints ready,
# exits 124 with the timeout line, and leaves no process behind.
check_timeout()
{
	local name=$1 script=$2 rc left
	tx exec --node "$NODE_URL" -n --timeout 1 -- sh -c "$script" sh "$S" \
		>"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	assert_eq 124 "$rc" "$name: exit code after --timeout 1 (stderr: $(show "$T/$name.err"))"
	assert_eq "tether: sandbox timeout exceeded after 1s" \
		"$(cat "$T/$name.err")" "$name: stderr after --timeout 1"
	assert_eq ready "$(cat "$T/$name.out")" "$name: output before the timeout"
	if ! wait_until 10 no_procs "$S "; then
		left=$(procs_matching "$S " | tr '\n' '|')
		fail "$name: processes of the tree still run 10 s after the timeout: $left"
	fi
	log "$name: exit 124, whole tree gone: ok"
}

check_timeout tree \
	'"$1" 3001 & "$1" 3002 & ("$1" 3003 &); echo ready; "$1" 3004'

# SIG_IGN for TERM is inherited: nothing in this tree dies of SIGTERM.
check_timeout ignores-term \
	'trap "" TERM; "$1" 3011 & ("$1" 3012 &); echo ready; "$1" 3013'

# A TERM handler that carries on: the KILL after the grace ends it.
check_timeout traps-term \
	'exec 3>&1 >/dev/null 2>&1; trap "echo term" TERM; echo ready >&3
	 while :; do "$1" 0.2; done'

# A command that finishes in time is not touched by its timeout.
out=$(tx exec --node "$NODE_URL" -n --timeout 30 -- sh -c 'echo quick; exit 5' \
	2>"$T/quick.err")
rc=$?
assert_eq 5 "$rc" "exit code of a command well within its timeout ($(show "$T/quick.err"))"
assert_eq quick "$out" "output of a command well within its timeout"
log "command within its timeout: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
