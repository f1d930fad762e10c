# SPDX-License-Identifier: MIT
# A command silent for longer than one long poll (the client's READ is held
# 30 s) still delivers what it prints afterwards, reads stdin late, and
# reports its exit code. Both transports at once, to take 33 s, not 66.
. "$(dirname "$0")/lib.sh"

start_node ipc
url_ipc=$NODE_URL
pid_ipc=$NODE_PID
start_node tcp
url_tcp=$NODE_URL
pid_tcp=$NODE_PID

echo late-stdin >"$T/stdin"
pids=()
for tr in ipc tcp; do
	url=url_$tr
	bg "$TETHER" exec --node "${!url}" -- sh -c \
		'echo early; sleep 33; cat; echo late; exit 6' \
		<"$T/stdin" >"$T/$tr.out" 2>"$T/$tr.err"
	pids+=("$BG_PID")
done
for i in 0 1; do
	tr=$([ $i -eq 0 ] && echo ipc || echo tcp)
	wait_exit "${pids[$i]}" 90
	rc=$?
	assert_eq 6 "$rc" "$tr: exit code after 33 s of silence ($(show "$T/$tr.err"))"
	assert_eq "early
late-stdin
late" "$(cat "$T/$tr.out")" "$tr: output around 33 s of silence"
	assert_eq "" "$(cat "$T/$tr.err")" "$tr: stderr around 33 s of silence"
	log "$tr: 33 s of silence, then output, stdin and exit 6: ok"
done

node_alive "$pid_ipc" "$url_ipc" || fail "the ipc node stopped serving"
node_alive "$pid_tcp" "$url_tcp" || fail "the tcp node stopped serving"
