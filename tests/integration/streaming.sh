# SPDX-License-Identifier: MIT
# Output streams live: the first line of a command that then sleeps reaches
# the client's stdout (and stderr) while the command still runs.
# A functional check with a deadline, not a timed benchmark.
# Usage: streaming.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"

bg "$TETHER" exec --node "$NODE_URL" -n -- sh -c \
	'echo first; echo first-err >&2; exec "$0" 30' "$MARK_SLEEP" \
	>"$T/stream.out" 2>"$T/stream.err"
client=$BG_PID

wait_until 5 grep -qx first "$T/stream.out" ||
	fail "the first stdout line did not reach the client within 5 s (got '$(show "$T/stream.out")')"
wait_until 5 grep -qx first-err "$T/stream.err" ||
	fail "the first stderr line did not reach the client within 5 s (got '$(show "$T/stream.err")')"
[ -n "$(pids_matching "$MARK_SLEEP 30")" ] ||
	fail "the command is not running any more"
pid_gone "$client" && fail "the client exited while the command runs"
assert_eq first "$(cat "$T/stream.out")" "streamed stdout"
assert_eq first-err "$(cat "$T/stream.err")" "streamed stderr"
log "first line streamed while the command runs: ok"

kill_wait "$client"
# The node notices the client is gone and kills the command.
wait_until 10 no_procs "$MARK_SLEEP 30" ||
	fail "the command outlived its killed client by 10 s"
node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
