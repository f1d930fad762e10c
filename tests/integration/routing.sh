# SPDX-License-Identifier: MIT
# Routing by agent: one config sends agent a to this host, b to a node on
# ipc and c to a node on tcp (each with its own root), d to the default;
# an unknown agent and an unknown config key are refused in one line that
# names them.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/root1" "$T/root2" "$T/client" || fail "mkdir"
start_node ipc "$T/root1"
url1=$NODE_URL
pid1=$NODE_PID
start_node tcp "$T/root2"
url2=$NODE_URL
pid2=$NODE_PID

cat >"$T/tether.json" <<JSON
{
	"backends": {
		"local": { "type": "host" },
		"one": { "type": "node", "url": "$url1" },
		"two": { "type": "node", "url": "$url2" }
	},
	"agents": {
		"defaults": { "backend": "local" },
		"list": [
			{ "id": "a", "backend": "local" },
			{ "id": "b", "backend": "one" },
			{ "id": "c", "backend": "two" },
			{ "id": "d" },
			{ "id": "slow", "backend": "two", "timeout": 1 }
		]
	}
}
JSON

# agent_run AGENT ARGS...: tether exec for AGENT from the client's own
# directory; stdout in $T/agent.out, stderr in $T/agent.err, status in rc.
agent_run()
{
	local agent=$1
	shift
	(cd "$T/client" && tx exec --config "$T/tether.json" --agent "$agent" "$@") \
		>"$T/agent.out" 2>"$T/agent.err"
	rc=$?
}

# Nodes resolve their root; the host backend keeps the client's cwd.
want_a=$(cd "$T/client" && pwd)
want_b=$(realpath "$T/root1")
want_c=$(realpath "$T/root2")
for agent in a b c d; do
	case $agent in
	a | d) want=$want_a ;;
	b) want=$want_b ;;
	c) want=$want_c ;;
	esac
	agent_run "$agent" -- pwd
	assert_eq 0 "$rc" "exit code of pwd for agent $agent ($(show "$T/agent.err"))"
	assert_eq "$want" "$(cat "$T/agent.out")" "pwd of agent $agent"
	assert_eq "" "$(cat "$T/agent.err")" "stderr of pwd for agent $agent"
done
log "agents a (host), b (ipc node), c (tcp node), d (default): ok"

# Each route carries exit codes, stdin and the agent's timeout.
agent_run a -- sh -c 'exit 3'
assert_eq 3 "$rc" "exit code of exit 3 on the host backend"
agent_run c -- sh -c 'kill -TERM $$'
assert_eq 143 "$rc" "exit code of kill -TERM on the tcp node"
out=$(echo hi | (cd "$T/client" && tx exec --config "$T/tether.json" --agent a -- cat) 2>"$T/agent.err")
assert_eq hi "$out" "stdin through the host backend ($(show "$T/agent.err"))"
yes | (cd "$T/client" && tx exec --config "$T/tether.json" --agent a -- head -n 2) \
	>"$T/agent.out" 2>"$T/agent.err"
rc=${PIPESTATUS[1]}
assert_eq 0 "$rc" "exit code of head -n 2 on endless stdin, host backend ($(show "$T/agent.err"))"
assert_eq "y
y" "$(cat "$T/agent.out")" "head -n 2 of endless stdin, host backend"
agent_run slow -n -- sleep 30
assert_eq 124 "$rc" "exit code of an agent over its configured timeout"
assert_eq "tether: sandbox timeout exceeded after 1s" "$(cat "$T/agent.err")" \
	"stderr of an agent over its configured timeout"
# The host backend kills the whole tree on timeout, as a node does.
S=$MARK_SLEEP
agent_run a -n --timeout 1 -- sh -c '"$1" 6001 & ("$1" 6002 &); "$1" 6003' sh "$S"
assert_eq 124 "$rc" "exit code of the host backend over --timeout ($(show "$T/agent.err"))"
assert_eq "tether: sandbox timeout exceeded after 1s" "$(cat "$T/agent.err")" \
	"stderr of the host backend over --timeout"
wait_until 10 no_procs "$S 600" ||
	fail "processes of the host command's tree outlived its timeout: $(procs_matching "$S 600" | tr '\n' '|')"
log "exit codes, stdin and timeouts through the routes: ok"

agent_run nobody -- pwd
assert_eq 255 "$rc" "exit code for an unknown agent"
assert_eq 1 "$(wc -l <"$T/agent.err")" "lines of the unknown-agent error"
assert_match "^tether: .*unknown agent 'nobody'\$" "$(cat "$T/agent.err")" \
	"error for an unknown agent"
assert_eq "" "$(cat "$T/agent.out")" "stdout for an unknown agent"
log "unknown agent refused: ok"

# A misspelt key anywhere is an error naming its path, never a fallback.
printf '%s\n' '{ "agents": { "list": [ { "id": "a", "backnd": "one" } ] } }' \
	>"$T/bad-key.json"
(cd "$T/client" && tx exec --config "$T/bad-key.json" --agent a -- pwd) \
	>"$T/agent.out" 2>"$T/agent.err"
rc=$?
assert_eq 255 "$rc" "exit code for an unknown config key"
assert_eq 1 "$(wc -l <"$T/agent.err")" "lines of the unknown-key error"
assert_match "^tether: .*bad-key\.json: agents\.list\[0\]\.backnd: unknown key\$" \
	"$(cat "$T/agent.err")" "error for an unknown config key"
assert_eq "" "$(cat "$T/agent.out")" "stdout for an unknown config key"
printf '%s\n' '{ "agents": { "list": [ { "id": "a" } ] }, "colour": true }' \
	>"$T/bad-top.json"
(cd "$T/client" && tx exec --config "$T/bad-top.json" --agent a -- pwd) \
	>"$T/agent.out" 2>"$T/agent.err"
rc=$?
assert_eq 255 "$rc" "exit code for an unknown top-level key"
assert_match "^tether: .*bad-top\.json: colour: unknown key\$" \
	"$(cat "$T/agent.err")" "error for an unknown top-level key"
log "unknown config keys refused: ok"

node_alive "$pid1" "$url1" || fail "node 1 stopped serving"
node_alive "$pid2" "$url2" || fail "node 2 stopped serving"
