# SPDX-License-Identifier: MIT
# tether exec exits like the command: its code, 128+N for signal N, signals
# sent to the client forwarded, 127 for a missing program, 255 (one line)
# when the node cannot be reached.  Usage: exit_status.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"

# run_rc EXPECTED CMD...: a command through the node exits EXPECTED.
run_rc()
{
	local want=$1 rc
	shift
	tx exec --node "$NODE_URL" -n -- "$@" >"$T/out" 2>"$T/run.err"
	rc=$?
	assert_eq "$want" "$rc" "exit code of '$*' (stderr: $(show "$T/run.err"))"
}

run_rc 0 true
run_rc 3 sh -c 'exit 3'
run_rc 255 sh -c 'exit 255'
run_rc 137 sh -c 'kill -9 $$'
run_rc 143 sh -c 'kill -TERM $$'
run_rc 134 sh -c 'kill -ABRT $$'
log "exit codes and signals: ok"

# Signals sent to the client (not the command) reach the command's process
# group: the command's trap decides the exit code.
for sig in INT TERM HUP; do
	want=$((40 + ${#sig}))
	bg "$TETHER" exec --node "$NODE_URL" -n -- sh -c \
		"trap 'echo caught; exit $want' $sig; echo ready; while :; do sleep 0.1; done" \
		>"$T/sig.out" 2>"$T/sig.err"
	pid=$BG_PID
	wait_until 20 grep -qx ready "$T/sig.out" ||
		fail "SIG$sig: the command printed nothing within 20 s: $(show "$T/sig.err")"
	kill -"$sig" "$pid"
	wait_exit "$pid" 20
	rc=$?
	assert_eq "$want" "$rc" "exit code after SIG$sig to the client"
	assert_eq "ready
caught" "$(cat "$T/sig.out")" "output after SIG$sig"
done
# Without a trap the command dies of the signal: 128 + 2.
bg "$TETHER" exec --node "$NODE_URL" -n -- sh -c 'echo ready; exec "$0" 60' \
	"$MARK_SLEEP" >"$T/sig.out" 2>"$T/sig.err"
pid=$BG_PID
wait_until 20 grep -qx ready "$T/sig.out" ||
	fail "SIGINT: the command printed nothing within 20 s: $(show "$T/sig.err")"
kill -INT "$pid"
wait_exit "$pid" 20
rc=$?
assert_eq 130 "$rc" "exit code after SIGINT to the client of an untrapping command"
wait_until 10 no_procs "$MARK_SLEEP 60" || fail "the command survived SIGINT"
log "SIGINT, SIGTERM, SIGHUP forwarded: ok"

tx exec --node "$NODE_URL" -- tether-no-such-program-x arg >"$T/out" \
	2>"$T/nf.err"
rc=$?
assert_eq 127 "$rc" "exit code of a missing program"
assert_eq "tether: tether-no-such-program-x: command not found" \
	"$(cat "$T/nf.err")" "stderr for a missing program"
assert_eq "" "$(cat "$T/out")" "stdout for a missing program"
log "command not found: ok"

tx exec --node tcp://127.0.0.1:1 -- true >"$T/out" 2>"$T/unreach.err"
rc=$?
assert_eq 255 "$rc" "exit code for an unreachable node"
assert_eq "tether: sandbox connection failed: tcp://127.0.0.1:1: connection refused" \
	"$(cat "$T/unreach.err")" "stderr for an unreachable node"

tx exec --node "ipc://$T/nobody.sock" -- true >"$T/out" 2>"$T/unreach.err"
rc=$?
assert_eq 255 "$rc" "exit code for a missing ipc socket"
assert_eq "tether: sandbox connection failed: ipc://$T/nobody.sock: connection refused" \
	"$(cat "$T/unreach.err")" "stderr for a missing ipc socket"
log "unreachable node: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
