# SPDX-License-Identifier: MIT
# exec options reach the command: --env adds variables, --cwd is relative
# to the node's root (or absolute), and a missing --cwd is one error line.
# Usage: options.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
mkdir -p "$T/root/sub dir" || fail mkdir
start_node "$tr" "$T/root"
root=$(realpath "$T/root")

out=$(tx exec --node "$NODE_URL" -n --env FOO=bar --env 'SP=a b=c' \
	-- sh -c 'printf "%s|%s|%s\n" "$FOO" "$SP" "${TETHER_UNSET-unset}"' 2>"$T/env.err")
assert_eq "bar|a b=c|unset" "$out" "variables given with --env ($(show "$T/env.err"))"
log "--env: ok"

out=$(tx exec --node "$NODE_URL" -n -- pwd 2>"$T/cwd.err")
assert_eq "$root" "$out" "default cwd (the node's root; $(show "$T/cwd.err"))"
out=$(tx exec --node "$NODE_URL" -n --cwd "sub dir" -- pwd 2>"$T/cwd.err")
assert_eq "$root/sub dir" "$out" "relative --cwd ($(show "$T/cwd.err"))"
out=$(tx exec --node "$NODE_URL" -n --cwd / -- pwd 2>"$T/cwd.err")
assert_eq / "$out" "absolute --cwd ($(show "$T/cwd.err"))"

tx exec --node "$NODE_URL" -n --cwd nosuch -- pwd >"$T/out" 2>"$T/cwd.err"
rc=$?
assert_eq 255 "$rc" "exit code for a missing --cwd"
assert_eq "tether: cwd $root/nosuch: No such file or directory" \
	"$(cat "$T/cwd.err")" "error for a missing --cwd"
assert_eq "" "$(cat "$T/out")" "stdout for a missing --cwd"
log "--cwd: ok"

tx exec --node "$NODE_URL" --env =x -- true >"$T/out" 2>"$T/usage.err"
rc=$?
assert_eq 2 "$rc" "exit code for a malformed --env"
assert_eq "tether: --env =x: expected NAME=VALUE" "$(head -n 1 "$T/usage.err")" \
	"error for a malformed --env"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
