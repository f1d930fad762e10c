# SPDX-License-Identifier: MIT
# -t: the command runs on a terminal sized like the client's, stderr joins
# stdout, the exit code comes through, and a resize of the client's
# terminal reaches the command (SIGWINCH, new size).
# The client runs under a real pty made by util-linux script(1).
# Usage: tty.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}

start_node "$tr"
export T TETHER NODE_URL

# EOF on the client's stdin reaches a command on a pty (as VEOF), also when
# that stdin is /dev/null and when the last line has no newline (a
# terminal needs a second VEOF then).
out=$(tx exec --node "$NODE_URL" -t -- sh -c 'cat; echo end' </dev/null 2>"$T/eof.err")
rc=$?
assert_eq 0 "$rc" "exit code of cat under -t with stdin /dev/null ($(show "$T/eof.err"))"
assert_eq end "$(printf '%s' "$out" | tr -d '\r')" "output of cat under -t with stdin /dev/null"
out=$(printf abc | tx exec --node "$NODE_URL" -t -- wc -c 2>"$T/eof.err")
rc=$?
assert_eq 0 "$rc" "exit code of wc -c under -t on 'abc' without a newline ($(show "$T/eof.err"))"
assert_match '3$' "$(printf '%s' "$out" | tr -d '\r')" "wc -c under -t of 'abc' (echo, then the count)"
log "-t: EOF from /dev/null and after a partial line: ok"

if ! command -v script >/dev/null || ! timeout 10 script -qec true /dev/null \
	</dev/null >/dev/null 2>&1; then
	echo "SKIP: script(1) cannot run a command under a pty here" >&2
	exit 77
fi

# Runs inside script's pty. Every wait is bounded; results go to files.
cat >"$T/inner.sh" <<'INNER'
stty rows 40 cols 100 || exit 90
"$TETHER" exec --node "$NODE_URL" -t -- sh -c '
	if test -t 0 && test -t 1; then echo tty-yes; else echo tty-no; fi
	stty size; echo to-stderr >&2; exit 5' >"$T/t1.out" 2>"$T/t1.err"
echo $? >"$T/t1.rc"

# A resize while the command runs: bash's background job keeps the pty as
# stdin (<&0) and the terminal's foreground group, so it gets SIGWINCH.
# stty sets rows and cols one at a time: each is a SIGWINCH of its own, so
# the command prints every size it sees and stops at the final one.
"$TETHER" exec --node "$NODE_URL" -t -- sh -c '
	stty size
	trap "s=\$(stty size); echo \$s; [ \"\$s\" != \"50 120\" ] || exit 0" WINCH
	echo ready
	i=0; while [ $i -lt 600 ]; do i=$((i + 1)); sleep 0.05; done; exit 9' \
	<&0 >"$T/t2.out" 2>"$T/t2.err" &
p=$!
i=0
until grep -q ready "$T/t2.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 400 ] || break; sleep 0.05
done
stty rows 50 cols 120
wait $p
echo $? >"$T/t2.rc"
INNER

# stdin is a fifo opened read-write: it never reaches EOF, so script never
# types ^D into the pty while tether switches it to raw mode.
mkfifo "$T/stdin.fifo" || fail mkfifo
timeout -k 5 90 script -qec "bash $T/inner.sh" /dev/null <>"$T/stdin.fifo" \
	>"$T/script.out" 2>&1
rc=$?
[ $rc -eq 0 ] || fail "script exited $rc: $(show "$T/script.out")"

[ -e "$T/t1.rc" ] || fail "the -t command did not finish: $(show "$T/script.out")"
assert_eq 5 "$(cat "$T/t1.rc")" "exit code under -t ($(show "$T/t1.err"))"
assert_eq "tty-yes
40 100
to-stderr" "$(tr -d '\r' <"$T/t1.out")" "output under -t (terminal, size, stderr)"
assert_eq "" "$(cat "$T/t1.err")" "stderr under -t (joins stdout)"
log "-t: a terminal of 40x100, stderr joined, exit 5: ok"

[ -e "$T/t2.rc" ] || fail "the resized command did not finish: $(show "$T/script.out")"
assert_eq 0 "$(cat "$T/t2.rc")" "exit code after a resize (the WINCH trap's; $(show "$T/t2.err"))"
sizes=$(tr -d '\r' <"$T/t2.out")
assert_eq "40 100
ready" "$(echo "$sizes" | head -n 2)" "size seen before a resize"
assert_eq "50 120" "$(echo "$sizes" | tail -n 1)" "size seen after a resize"
log "-t: resize to 50x120 reached the command: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
