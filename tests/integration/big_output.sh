# SPDX-License-Identifier: MIT
# 100 MB on stdout and 100 MB on stderr from one command, written at the
# same time, arrive intact and each on its own stream.
# Usage: big_output.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
MB=${BIG_MB:-100}
start_node "$tr"

head -c "${MB}M" /dev/urandom >"$T/src.out" || fail "writing $T/src.out"
head -c "${MB}M" /dev/urandom >"$T/src.err" || fail "writing $T/src.err"
want_out=$(sha256sum <"$T/src.out")
want_err=$(sha256sum <"$T/src.err")

# Hash the streams as they arrive rather than store another 200 MB.
mkfifo "$T/out.fifo" "$T/err.fifo" || fail mkfifo
sha256sum <"$T/out.fifo" >"$T/got.out" &
h1=$!
sha256sum <"$T/err.fifo" >"$T/got.err" &
h2=$!
_PIDS+=("$h1" "$h2")

tx exec --node "$NODE_URL" -n -- sh -c 'cat "$1" & cat "$2" >&2; wait' sh \
	"$T/src.out" "$T/src.err" >"$T/out.fifo" 2>"$T/err.fifo"
rc=$?
wait_exit "$h1" 30
wait_exit "$h2" 30
assert_eq 0 "$rc" "exit code of the 2 x ${MB} MB command"
assert_eq "$want_out" "$(cat "$T/got.out")" "sha256 of ${MB} MB of stdout"
assert_eq "$want_err" "$(cat "$T/got.err")" "sha256 of ${MB} MB of stderr"
log "2 x ${MB} MB, stdout and stderr: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
