# SPDX-License-Identifier: MIT
# What a node refuses to expose while it cannot authenticate clients: a
# tls+tcp listener without pairing keys, a non-loopback tcp address without
# --insecure-remote; and an ipc socket only its owner can connect to,
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

refused tls+tcp://127.0.0.1:0 \
	"^tether: node tls\+tcp://127.0.0.1:0: tls\+tcp needs keys from pairing"
refused tcp://0.0.0.0:0 \
	"^tether: node tcp://0.0.0.0:0: not a loopback address.*--insecure-remote"
refused tcp://:0 "not a loopback address"
log "tls+tcp and non-loopback tcp refused: ok"

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
