# SPDX-License-Identifier: MIT
# The audit log: every tether exec appends "start" before its command runs
# (agent, backend, argv, cwd, env names but no values, sandbox, policy)
# and "end" after (exit, signal, timeout, usage, limits hit); tether audit
# shows them, per agent, or as JSON; tether audit verify finds a one-byte
# edit, a removed line and a cut log; commands at once interleave whole
# lines; a log that cannot be written keeps the command from running;
# an agent's policy (allowlist on the resolved path, deny) is decided
# before the command starts and recorded.
# Usage: audit.sh
. "$(dirname "$0")/lib.sh"

export TETHER_AUDIT=$T/audit/log
start_node ipc
cat >"$T/tether.json" <<EOF
{
  "backends": { "n": { "type": "node", "url": "$NODE_URL" } },
  "agents": { "list": [ { "id": "a", "backend": "host" },
                        { "id": "b", "backend": "n" },
                        { "id": "p", "backend": "host", "policy": "allowlist",
                          "allow": [ "$(readlink -f "$(type -P true)")" ] },
                        { "id": "none", "backend": "n", "policy": "deny" } ] }
}
EOF
ax() { tx exec --config "$T/tether.json" -n "$@"; }

ax --agent a --env TOKEN=hunter2 -- sh -c 'exit 3' 2>/dev/null
assert_eq 3 $? "exit of agent a's command"
ax --agent b -- true || fail "agent b's command"
ax --agent b --timeout 0.5 -- sleep 30 2>/dev/null
assert_eq 124 $? "a timed-out command"
tx exec --node "$NODE_URL" -n -- echo plain >/dev/null || fail "exec --node"

tx audit --json >"$T/all.json" 2>"$T/a.err" || fail "tether audit --json: $(show "$T/a.err")"
assert_eq 8 "$(wc -l <"$T/all.json")" "records of four commands"
grep -q '"event":"start".*"agent":"a","backend":"host".*"argv":\["sh","-c","exit 3"\].*"env":\["TOKEN"\]' "$T/all.json" ||
	fail "no start record of agent a with its argv and env names: $(show "$T/all.json")"
grep -q hunter2 "$T/all.json" && fail "an environment value is in the audit log"
grep -q '"event":"end".*"agent":"a".*"exit":3.*"out_bytes":null,"err_bytes":null' "$T/all.json" ||
	fail "no end record with exit 3 (and no byte counts on the host)"
grep -q '"event":"end".*"agent":null.*"out_bytes":6,"err_bytes":0' "$T/all.json" ||
	fail "no byte counts of 'echo plain' through the node: $(show "$T/all.json")"
grep -q '"event":"end".*"agent":"b".*"exit":124,"signal":[0-9]*,"timed_out":true' "$T/all.json" ||
	fail "no end record of the timeout"
tx audit --agent b >"$T/b.txt" || fail "tether audit --agent b"
assert_eq 4 "$(wc -l <"$T/b.txt")" "lines of agent b"
grep -q " b .* start sleep 30" "$T/b.txt" || fail "tether audit --agent b: $(show "$T/b.txt")"
out=$(tx audit verify) || fail "verify of an intact log: $out"
assert_match "8 records, the chain and its head agree" "$out" "verify"
log "start and end records, per agent, env names only, verify: ok"

# ---- commands at once: whole lines, one chain ----
pids=()
for i in $(seq 8); do
	ax --agent a -- true &
	pids+=($!)
done
wait "${pids[@]}" # not the node, a job of this shell too
out=$(tx audit verify) || fail "verify after 8 commands at once: $out"
assert_match "24 records" "$out" "records after 8 more commands"
log "eight commands at once: one intact chain: ok"

# ---- tampering ----
cp "$TETHER_AUDIT" "$T/log.bak"
edited=$(grep -n '"exit":124' "$TETHER_AUDIT" | cut -d: -f1)
sed -i 's/"exit":124/"exit":125/' "$TETHER_AUDIT" # one byte
tx audit verify 2>"$T/v.err"
assert_eq 1 $? "verify of an edited log"
grep -q "line $edited: its hash does not match: the line was edited" "$T/v.err" ||
	fail "verify did not name line $edited: $(show "$T/v.err")"
cp "$T/log.bak" "$TETHER_AUDIT"
head -n 23 "$T/log.bak" >"$TETHER_AUDIT"
tx audit verify 2>"$T/v.err"
assert_eq 1 $? "verify of a cut log"
grep -q "truncated: the head says 24 records, the log holds 23" "$T/v.err" ||
	fail "verify did not see the cut: $(show "$T/v.err")"
cp "$T/log.bak" "$TETHER_AUDIT"
sed -i '10d' "$TETHER_AUDIT"
tx audit verify 2>"$T/v.err"
assert_eq 1 $? "verify of a log with a line removed"
grep -q "line 10: out of sequence" "$T/v.err" || fail "verify: $(show "$T/v.err")"
cp "$T/log.bak" "$TETHER_AUDIT"
tx audit verify >/dev/null || fail "the restored log does not verify"
log "a one-byte edit, a cut log, a removed line: each found: ok"

# ---- the command policy: decided before, in the record ----
ax --agent p -- true || fail "an allowed program did not run"
ax --agent p -- cat /dev/null 2>"$T/p.err"
assert_eq 126 $? "exit of a program the allowlist does not hold"
grep -q "permission denied in sandbox: agent p: the allowlist does not hold $(readlink -f "$(type -P cat)")" "$T/p.err" ||
	fail "no policy line: $(show "$T/p.err")"
ax --agent none -- true 2>"$T/p.err"
assert_eq 126 $? "exit under policy deny"
tx audit --json --agent p >"$T/p.json"
grep -q '"policy":"allow: .*true"' "$T/p.json" && grep -q '"policy":"deny: the allowlist does not hold' "$T/p.json" ||
	fail "the decisions are not in the log: $(show "$T/p.json")"
tx audit verify >/dev/null || fail "the log after denials does not verify"
log "the command policy: allowlist and deny, decided before and recorded: ok"

# ---- a log that cannot be written: nothing runs ----
TETHER_AUDIT=/proc/tether-audit-test/log ax --agent a -- touch "$T/ran" 2>"$T/f.err"
assert_eq 255 $? "exit when the audit log cannot be written"
[ -e "$T/ran" ] && fail "the command ran without its audit record"
grep -q "audit log /proc/tether-audit-test/log" "$T/f.err" || fail "no line naming the log: $(show "$T/f.err")"
log "an unwritable audit log keeps the command from running: ok"
