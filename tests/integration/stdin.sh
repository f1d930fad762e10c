# SPDX-License-Identifier: MIT
# The client's stdin reaches the command: small and 20 MB intact, EOF
# delivered so the command finishes, and -n gives it /dev/null.
# Usage: stdin.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"

out=$(echo hello | tx exec --node "$NODE_URL" -- cat 2>"$T/echo.err")
rc=$?
assert_eq 0 "$rc" "exit code of echo hello | cat ($(show "$T/echo.err"))"
assert_eq hello "$out" "echo hello | cat"
log "echo hello | cat: ok"

head -c 20M /dev/urandom >"$T/in" || fail "writing $T/in"
want=$(sha256sum <"$T/in")
got=$(tx exec --node "$NODE_URL" -- cat <"$T/in" 2>"$T/cat.err" | sha256sum)
rc=$?
assert_eq 0 "$rc" "exit code of cat < 20 MB ($(show "$T/cat.err"))"
assert_eq "$want" "$got" "sha256 of 20 MB through cat"
log "20 MB through cat: ok"

# EOF must arrive: wc only prints once its stdin closes.
out=$(head -c 1234567 /dev/zero | tx exec --node "$NODE_URL" -- wc -c 2>"$T/wc.err")
rc=$?
assert_eq 0 "$rc" "exit code of wc -c ($(show "$T/wc.err"))"
assert_eq 1234567 "$out" "wc -c of 1234567 bytes"
out=$(tx exec --node "$NODE_URL" -- wc -c </dev/null 2>"$T/wc.err")
assert_eq 0 "$out" "wc -c of an empty stdin"
log "EOF delivered: ok"

# A command that never reads its stdin still finishes.
yes | tx exec --node "$NODE_URL" -- sh -c 'echo done' >"$T/out" 2>"$T/yes.err"
rc=${PIPESTATUS[1]}
out=$(cat "$T/out")
assert_eq 0 "$rc" "exit code of a command ignoring endless stdin ($(show "$T/yes.err"))"
assert_eq done "$out" "output of a command ignoring endless stdin"
# A command that closes stdin early: the client still gets its exit.
yes | tx exec --node "$NODE_URL" -- head -n 3 >"$T/out" 2>"$T/head.err"
rc=${PIPESTATUS[1]}
out=$(cat "$T/out")
assert_eq 0 "$rc" "exit code of head -n 3 on endless stdin ($(show "$T/head.err"))"
assert_eq "y
y
y" "$out" "head -n 3 of yes"
log "unread and closed stdin: ok"

# -n: the command reads /dev/null even when the client's stdin has data,
# and that data is left unread.
out=$( (echo secret | tx exec --node "$NODE_URL" -n -- sh -c 'cat; readlink /proc/self/fd/0') 2>"$T/n.err")
rc=$?
assert_eq 0 "$rc" "exit code with -n ($(show "$T/n.err"))"
assert_eq /dev/null "$out" "stdin of the command with -n"
log "-n gives /dev/null: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"

# A command that exits before its client's stdin ends: the node must drop
# that stdin, not keep polling a pipe nobody reads (it spun a core once).
node_cpu_ticks() { awk '{print $14 + $15}' "/proc/$NODE_PID/stat"; }
out=$(sleep 1 | tx exec --node "$NODE_URL" -- true 2>"$T/early.err")
rc=$?
assert_eq 0 "$rc" "exit code of sleep 1 | true ($(show "$T/early.err"))"
before=$(node_cpu_ticks)
sleep 2
after=$(node_cpu_ticks)
# An idle node uses next to no CPU; a spinning one about 100 ticks a second.
[ $((after - before)) -lt 50 ] ||
	fail "idle node used $((after - before)) CPU ticks in 2 s after an early exit"
log "stdin of an exited command is dropped: ok"
