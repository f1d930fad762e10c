# SPDX-License-Identifier: MIT
# Chunk stores follow trust domains from the config: agents that share a
# domain share a store (identical content crosses once), an agent without
# one gets a store of its own; `tether sync --agent` finds the node, the
# workspace and the domain in the config.
# Usage: sync_agents.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache

json_field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

root=$T/root
mkdir -p "$root" "$T/src" || fail mkdir
start_node "$tr" "$root"
head -c 3000000 /dev/urandom >"$T/src/data"
printf 'shared\n' >"$T/src/note"
cat >"$T/tether.json" <<JSON
{
  "backends": { "build": { "type": "node", "url": "$NODE_URL" } },
  "agents": {
    "defaults": { "backend": "build" },
    "list": [
      { "id": "a1", "domain": "team" },
      { "id": "a2", "domain": "team", "workspace": "second" },
      { "id": "a3" },
      { "id": "a4", "workspace": "fourth", "dir": "$T/src" },
      { "id": "here", "backend": "host" }
    ]
  }
}
JSON

sync_agent()
{
	tx sync "$T/src" --config "$T/tether.json" --agent "$1" --json \
		2>"$T/$1.err" || fail "sync --agent $1: $(show "$T/$1.err")"
}

out=$(sync_agent a1)
first=$(json_field chunks_sent "$out")
[ "$first" -gt 1 ] || fail "a1 sent $first chunks"
out=$(sync_agent a2)
assert_eq 0 "$(json_field chunks_sent "$out")" \
	"chunks a2 sent (same domain as a1)"
out=$(sync_agent a3)
assert_eq "$first" "$(json_field chunks_sent "$out")" \
	"chunks a3 sent (a domain of its own)"
for d in team a3; do
	[ -d "$root/.tether/stores/$d" ] || fail "no store for domain $d"
done
[ ! -e "$root/.tether/stores/a1" ] || fail "a1 got a store of its own"
log "domains: a1 sent $first chunks, a2 (same domain) 0, a3 (own) $first"

out=$(tx exec --config "$T/tether.json" --agent a2 --workspace second -n \
	-- cat note 2>"$T/exec.err")
assert_eq shared "$out" "a file of a2's workspace ($(show "$T/exec.err"))"

# An agent's "dir": its DIR when sync is given none.
tx sync --config "$T/tether.json" --agent a4 >/dev/null 2>"$T/a4.err" ||
	fail "sync --agent a4 without DIR: $(show "$T/a4.err")"
out=$(tx exec --config "$T/tether.json" --agent a4 --workspace fourth -n \
	-- cat note 2>"$T/exec.err")
assert_eq shared "$out" "a file of a4's workspace, synced from its dir"
tx sync --config "$T/tether.json" --agent a3 >/dev/null 2>&1 &&
	fail "sync --agent a3 (no dir in the config) without DIR succeeded"

tx sync "$T/src" --config "$T/tether.json" --agent here >/dev/null \
	2>"$T/here.err"
assert_eq 255 "$?" "exit code of sync --agent for a host agent"
assert_match "agent 'here' runs on this host" "$(cat "$T/here.err")" \
	"error for a host agent"
tx sync "$T/src" --config "$T/tether.json" --agent nobody >/dev/null \
	2>"$T/nobody.err"
rc=$?
[ "$rc" -ne 0 ] || fail "sync --agent nobody succeeded"
assert_match "unknown agent 'nobody'" "$(cat "$T/nobody.err")" \
	"error for an unknown agent"
log "ok"
