# SPDX-License-Identifier: MIT
# --detach prints an id and leaves the command running; ps lists it; attach
# replays what it printed before and follows it to its exit code; kill
# signals it and ps then shows how it ended.  Usage: detach.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"
S=$MARK_SLEEP

# ps_line ID: the ps line of command ID ("" when it is not listed).
ps_line()
{
	tx ps --node "$NODE_URL" 2>"$T/ps.err" | grep -E "^$1 " || true
}
ps_has() { ps_line "$1" | grep -Eq "$2"; }

# 1. A detached command that waits for a go file (at most 40 s), printing a
# line before and one after.
out=$(tx exec --node "$NODE_URL" --detach -- sh -c \
	'echo before; echo before-err >&2; n=0
	 while [ ! -e "$1" ] && [ $n -lt 800 ]; do n=$((n + 1)); sleep 0.05; done
	 echo after; exit 7' sh "$T/go" 2>"$T/detach.err")
rc=$?
assert_eq 0 "$rc" "exit code of exec --detach ($(show "$T/detach.err"))"
assert_match '^[1-9][0-9]*$' "$out" "output of exec --detach (an id)"
id=$out
log "--detach printed id $id: ok"

ps_has "$id" "^$id +[0-9]+ +running +detached .*sh -c" ||
	fail "ps does not list $id as running and detached: '$(ps_line "$id")' ($(show "$T/ps.err"))"
log "ps lists $id running, detached: ok"

bg "$TETHER" attach --node "$NODE_URL" "$id" >"$T/attach.out" 2>"$T/attach.err"
attach=$BG_PID
wait_until 20 grep -qx before "$T/attach.out" ||
	fail "attach did not replay the output printed before it (got '$(show "$T/attach.out")')"
pid_gone "$attach" && fail "attach exited before the command did"
touch "$T/go"
wait_exit "$attach" 30
rc=$?
assert_eq 7 "$rc" "exit code of attach (the command's)"
assert_eq "before
after" "$(cat "$T/attach.out")" "stdout seen by attach"
assert_eq before-err "$(cat "$T/attach.err")" "stderr seen by attach"
log "attach replayed and followed to exit 7: ok"

wait_until 10 ps_has "$id" "^$id +[0-9]+ +exit 7 +detached " ||
	fail "ps does not show $id ended with exit 7: '$(ps_line "$id")'"
log "ps shows $id exit 7: ok"

# 2. kill ID KILL ends a detached sleep.
id=$(tx exec --node "$NODE_URL" --detach -- "$S" 5001 2>"$T/detach.err")
assert_match '^[1-9][0-9]*$' "$id" "id of the detached sleep ($(show "$T/detach.err"))"
wait_until 10 ps_has "$id" "^$id +[0-9]+ +running +detached .*$S 5001" ||
	fail "ps does not list the detached sleep $id: '$(ps_line "$id")'"
# The detach client is gone, the command is not.
[ -n "$(pids_matching "$S 5001")" ] ||
	fail "the detached sleep does not run after its client exited"
tx kill --node "$NODE_URL" "$id" KILL 2>"$T/kill.err"
rc=$?
assert_eq 0 "$rc" "exit code of tether kill ($(show "$T/kill.err"))"
wait_until 10 ps_has "$id" "^$id +[0-9]+ +signal 9 +detached " ||
	fail "ps does not show $id killed by signal 9: '$(ps_line "$id")'"
wait_until 10 no_procs "$S 5001" || fail "the killed sleep still runs"
tx attach --node "$NODE_URL" "$id" >"$T/attach2.out" 2>"$T/attach2.err"
rc=$?
assert_eq 137 "$rc" "exit code of attach to a command killed by KILL ($(show "$T/attach2.err"))"
log "kill $id KILL, ps shows signal 9: ok"

# 3. kill with the default signal (TERM).
id=$(tx exec --node "$NODE_URL" --detach -- "$S" 5002 2>"$T/detach.err")
assert_match '^[1-9][0-9]*$' "$id" "id of the second detached sleep ($(show "$T/detach.err"))"
tx kill --node "$NODE_URL" "$id" 2>"$T/kill.err" ||
	fail "tether kill $id (default signal) failed: $(show "$T/kill.err")"
wait_until 10 ps_has "$id" "^$id +[0-9]+ +signal 15 +detached " ||
	fail "ps does not show $id killed by signal 15: '$(ps_line "$id")'"
log "kill $id (TERM), ps shows signal 15: ok"

# 4. Ids the node does not know: one line, exit 255.
tx attach --node "$NODE_URL" 999999 >"$T/out" 2>"$T/unknown.err"
rc=$?
assert_eq 255 "$rc" "exit code of attach to an unknown id"
assert_match '^tether: .*999999.*$' "$(cat "$T/unknown.err")" "stderr of attach to an unknown id"
assert_eq 1 "$(wc -l <"$T/unknown.err")" "lines of stderr of attach to an unknown id"
tx kill --node "$NODE_URL" 999999 KILL >"$T/out" 2>"$T/unknown.err"
rc=$?
assert_eq 255 "$rc" "exit code of kill of an unknown id"
assert_match '999999' "$(cat "$T/unknown.err")" "stderr of kill of an unknown id"
log "unknown ids refused: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
