# SPDX-License-Identifier: MIT
# 64 clients at once against one node: each gets its own output and its
# own exit code.  Usage: concurrency.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
N=${CONC_N:-64}
start_node "$tr"

# A barrier: each command waits (at most 40 s, then exits 99) until all N
# have started, so they provably run at the same time on the node.
mkdir "$T/barrier" || fail "mkdir $T/barrier"
script='touch "$2/$1"
n=0
while [ "$(ls "$2" | wc -l)" -lt "$3" ]; do
	n=$((n + 1)); [ $n -lt 800 ] || exit 99; sleep 0.05
done
echo "out $1"; echo "err $1" >&2; exit $(($1 % 7))'
pids=()
for i in $(seq 0 $((N - 1))); do
	bg "$TETHER" exec --node "$NODE_URL" -n -- sh -c "$script" sh "$i" \
		"$T/barrier" "$N" >"$T/c$i.out" 2>"$T/c$i.err"
	pids+=("$BG_PID")
done
bad=0
for i in $(seq 0 $((N - 1))); do
	wait_exit "${pids[$i]}" 60
	rc=$?
	want=$((i % 7))
	if [ "$rc" != "$want" ] || [ "$(cat "$T/c$i.out")" != "out $i" ] ||
		[ "$(cat "$T/c$i.err")" != "err $i" ]; then
		echo "client $i: exit $rc (want $want), stdout '$(show "$T/c$i.out")', stderr '$(show "$T/c$i.err")'" >&2
		bad=$((bad + 1))
	fi
done
[ $bad -eq 0 ] || fail "$bad of $N concurrent clients got a wrong result"
log "$N concurrent clients: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
