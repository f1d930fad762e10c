# SPDX-License-Identifier: MIT
# The seed issue's three agents, in the config shape agent gateways write
# (nodes map, agents.defaults sandbox off, sandbox.mode docker,
# tools.exec.host gateway / sandbox / node): main runs on this host,
# reader-agent in a container of podman's API service (podman.sh), and
# coding-agent on a tether node on 127.0.0.1; each command runs where its
# agent is routed, and only there. tether status lists the three.
# Usage: gateway.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"

podman_agents_setup
mkdir -p "$T/agent" "$T/noderoot" || fail "mkdir"
printf 'from the agent\n' >"$T/agent/notes.txt"
start_node tcp "$T/noderoot"
cat >"$T/tether.json" <<EOF
{
  "nodes": { "Coding VM": { "url": "$NODE_URL" } },
  "agents": {
    "defaults": { "sandbox": { "mode": "off" } },
    "list": [
      { "id": "main", "tools": { "exec": { "host": "gateway" } } },
      { "id": "reader-agent",
        "sandbox": { "mode": "docker",
                     "docker": { "image": "localhost/mini:latest", "memory": "256m", "cpus": 1, "network": "none" } },
        "tools": { "exec": { "host": "sandbox" } } },
      { "id": "coding-agent", "tools": { "exec": { "host": "node", "node": "Coding VM" } } }
    ]
  }
}
EOF
run() { (cd "$T/agent" && tx exec --config "$T/tether.json" -n --agent "$@"); }
# Where a command ran: its pid namespace, cgroup and working directory.
where='readlink /proc/self/ns/pid; head -n 1 /proc/self/cgroup | cut -d: -f3; pwd'

host=$(readlink /proc/self/ns/pid)
out=$(run main -- sh -c "$where" 2>"$T/e.err") || fail "main: $(show "$T/e.err")"
set -- $out
assert_eq "$host" "$1" "main's pid namespace (this host's)"
assert_eq "$(cd "$T/agent" && pwd)" "$3" "main's directory"

out=$(run reader-agent -- sh -c "$where; cat notes.txt; cat /sys/fs/cgroup/memory/memory.limit_in_bytes" 2>"$T/e.err") ||
	fail "reader-agent: $(show "$T/e.err")"
set -- $out
[ "$1" != "$host" ] || fail "reader-agent ran in this host's pid namespace"
assert_match libpod "$2" "reader-agent's cgroup (a podman container's)"
assert_eq "$T/agent" "$3" "reader-agent's directory (the agent's, bound in)"
assert_eq "from the agent" "$4 $5 $6" "the agent's file, in the container"
assert_eq $((256 << 20)) "$7" "reader-agent's memory limit"
[ -n "$(containers_of reader-agent)" ] || fail "no container labelled for reader-agent"

out=$(run coding-agent -- sh -c "$where" 2>"$T/e.err") || fail "coding-agent: $(show "$T/e.err")"
set -- $out
assert_eq "$host" "$1" "coding-agent's pid namespace (the node's, on this host)"
assert_eq "$(realpath "$T/noderoot")" "$3" "coding-agent's directory (the node's root)"
log "main on this host, reader-agent in a container, coding-agent on the node: ok"

tx status --config "$T/tether.json" >"$T/st.txt" 2>"$T/st.err" || fail "tether status: $(show "$T/st.err")"
grep -q "^main  *host  *host  *this host" "$T/st.txt" || fail "status: main: $(show "$T/st.txt")"
grep -q "^reader-agent  *docker  *docker  *yes" "$T/st.txt" || fail "status: reader-agent: $(show "$T/st.txt")"
grep -q "^coding-agent  *Coding VM  *node  *yes" "$T/st.txt" || fail "status: coding-agent: $(show "$T/st.txt")"
log "tether status: the three agents and their backends, reachable: ok"
