# SPDX-License-Identifier: MIT
# A node that goes away: a client following a command exits 255 at once
# with "connection lost"; a node stopped with SIGTERM kills its commands
# first; a new node can listen on the same address again (a stale ipc
# socket file, a tcp port just released).  Usage: node_loss.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
S=$MARK_SLEEP

# follow_then SIGNAL ARG: run a command that prints hi and sleeps (S ARG)
# through the current node, send the node SIGNAL, and expect the client to
# exit 255 within 10 s, saying the connection was lost.
follow_then()
{
	local sig=$1 arg=$2 client rc
	bg "$TETHER" exec --node "$NODE_URL" -n -- sh -c 'echo hi; exec "$0" "$1"' \
		"$S" "$arg" >"$T/follow.out" 2>"$T/follow.err"
	client=$BG_PID
	wait_until 20 grep -qx hi "$T/follow.out" ||
		fail "the command printed nothing within 20 s: $(show "$T/follow.err")"
	stop_node "$NODE_PID" "$sig"
	node_rc=$?
	wait_exit "$client" 10
	rc=$?
	assert_eq 255 "$rc" "exit code of a client whose node got SIG$sig"
	assert_eq "tether: sandbox connection failed: $NODE_URL: connection lost" \
		"$(cat "$T/follow.err")" "stderr of a client whose node got SIG$sig"
}

start_node "$tr"
url=$NODE_URL
follow_then TERM 8001
assert_eq 0 "$node_rc" "exit code of a node stopped by SIGTERM"
wait_until 10 no_procs "$S 8001" ||
	fail "a command outlived its node stopped by SIGTERM"
log "node stopped by SIGTERM: client exits 255, command killed: ok"

start_node "$tr" "$T" "$url"
out=$(tx exec --node "$NODE_URL" -n -- echo again 2>"$T/again.err")
assert_eq again "$out" "a command on a node restarted on $url ($(show "$T/again.err"))"
follow_then KILL 8002
assert_eq 137 "$node_rc" "exit status of a node killed by SIGKILL"
# The kernel kills a command whose node died (PR_SET_PDEATHSIG).
wait_until 10 no_procs "$S 8002" ||
	fail "a command outlived its node killed by SIGKILL"
log "node killed by SIGKILL: client exits 255, command killed: ok"

# A node that listens on the same address (the ipc socket file is still
# there) works.
start_node "$tr" "$T" "$url"
out=$(tx exec --node "$NODE_URL" -n -- echo again 2>"$T/again.err")
assert_eq again "$out" "a command on a node restarted after SIGKILL ($(show "$T/again.err"))"
log "restart on $url after SIGTERM and SIGKILL: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
