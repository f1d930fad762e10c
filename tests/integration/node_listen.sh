# SPDX-License-Identifier: MIT
# What a node refuses to expose on tcp://, which authenticates no one: a
# non-loopback address without --insecure-remote (tls+tcp:// is for other
# hosts: pair.sh); and an ipc socket only its owner can connect to,
# whatever the umask. Nothing here listens beyond loopback.
. "$(dirname "$0")/lib.sh"

refused()
{
	local url=$1 want=$2 rc
	tx node --listen "$url" >"$T/refuse.out" 2>"$T/refuse.err"
	rc=$?
	assert_eq 2 "$rc" "exit code of tether node --listen $url"
	assert_match "$want" "$(cat "$T/refuse.err")" "error of node --listen $url"
	[ ! -s "$T/refuse.out" ] || fail "node --listen $url said: $(show "$T/refuse.out")"
}

refused tcp://0.0.0.0:0 \
	"^tether: node tcp://0.0.0.0:0: not a loopback address.*--insecure-remote"
refused tcp://:0 "not a loopback address"
log "non-loopback tcp refused: ok"

# umask 000 would leave a world-writable socket: anyone could connect.
old_umask=$(umask)
umask 000
start_node ipc
umask "$old_umask"
assert_eq 600 "$(stat -c %a "${NODE_URL#ipc://}")" \
	"mode of the node's ipc socket under umask 000"
out=$(tx exec --node "$NODE_URL" -n -- echo ok 2>"$T/ok.err")
assert_eq ok "$out" "a command through the 0600 socket ($(show "$T/ok.err"))"
log "ipc socket is 0600: ok"

# A second node on the same socket is refused and leaves the first one
# serving (nng 1.5 alone would have probed it half-way, which stops its
# listener: nanomsg/nng#1518); a socket left by a killed node is reused.
first_url=$NODE_URL
first_pid=$NODE_PID
tx node --listen "$first_url" --root "$T" >"$T/second.out" 2>"$T/second.err"
assert_eq 255 "$?" "exit code of a second node on $first_url"
assert_eq "tether: node $first_url: another node is listening there" \
	"$(cat "$T/second.err")" "error of a second node"
out=$(tx exec --node "$first_url" -n -- echo still 2>"$T/still.err")
assert_eq still "$out" "the first node after a second tried ($(show "$T/still.err"))"
stop_node "$first_pid" KILL
[ -S "${first_url#ipc://}" ] || fail "no socket left behind by kill -9"
start_node ipc "$T" "$first_url"
out=$(tx exec --node "$NODE_URL" -n -- echo reused 2>"$T/reused.err")
assert_eq reused "$out" "a node on a stale socket ($(show "$T/reused.err"))"
log "one node per ipc socket, stale sockets reused: ok"
