# SPDX-License-Identifier: MIT
# A custom backend: a shared object (tests/tools/plugin_run.c) for a
# backend of type "plugin", set up from the backend's "options", and loaded
# by tether-plugin, a process of its own (so a static tether runs it too).
# Commands of its agent go through it (exit code, streams, environment,
# timeout, SIGTERM forwarded to the command); a missing file, a shared
# object without the entry point, a plugin refusing its options and a
# plugin that crashes are each one line, and leave no process behind.
# Usage: plugin.sh
. "$(dirname "$0")/lib.sh"

: "${PLUGIN_RUN:?PLUGIN_RUN must name the test plugin}"
nozlib=$(ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib/x86_64-linux-gnu/libz.so.1 2>/dev/null | head -n 1)
cat >"$T/tether.json" <<EOF
{
  "backends": {
    "mine": { "type": "plugin", "path": "$PLUGIN_RUN", "options": { "tag": "from-options" } },
    "gone": { "type": "plugin", "path": "$T/nothing.so" },
    "notone": { "type": "plugin", "path": "$nozlib" },
    "picky": { "type": "plugin", "path": "$PLUGIN_RUN", "options": { "fail": "no licence" } },
    "buggy": { "type": "plugin", "path": "$PLUGIN_RUN", "options": { "crash": "run" } }
  },
  "agents": {
    "list": [
      { "id": "a", "backend": "mine" },
      { "id": "b", "backend": "gone" },
      { "id": "c", "backend": "notone" },
      { "id": "d", "backend": "picky" },
      { "id": "e", "backend": "buggy" }
    ]
  }
}
EOF
ax() { tx exec --config "$T/tether.json" "$@"; }

ax --agent a -n -- true 2>"$T/e.err" || fail "exec through the plugin: $(show "$T/e.err")"
out=$(ax --agent a -n --env X=1 -- sh -c 'echo "$TETHER_PLUGIN_TAG $X"; echo err >&2; exit 4' 2>"$T/e.err")
assert_eq 4 $? "exit code through the plugin"
assert_eq "from-options 1" "$out" "the plugin's options and the command's environment"
grep -q '^err$' "$T/e.err" || fail "stderr through the plugin: $(show "$T/e.err")"
out=$(printf 'in\n' | ax --agent a -- cat 2>"$T/e.err")
assert_eq in "$out" "stdin through the plugin"
ax --agent a -n --timeout 1 -- sleep 30 2>"$T/e.err"
assert_eq 124 $? "exit on timeout through the plugin"
(exec "$TETHER" exec --config "$T/tether.json" -n --agent a -- "$MARK_SLEEP" 300) 2>"$T/s.err" &
pid=$!
_PIDS+=($pid)
wait_until 20 pgrep -f "^$MARK_SLEEP 300" >/dev/null || fail "the command never started"
kill -TERM $pid
wait_exit $pid 20
assert_eq 143 $? "exit of a command whose client got SIGTERM ($(show "$T/s.err"))"
wait_until 10 no_procs "$MARK_SLEEP 300" || fail "the plugin's command outlived SIGTERM"
log "commands through the plugin: exit, streams, environment, timeout, SIGTERM: ok"

ax --agent b -n -- true 2>"$T/e.err"
assert_eq 255 $? "exit for a missing plugin"
grep -q "^tether: backend gone: $T/nothing.so: cannot open shared object file" "$T/e.err" ||
	fail "no line about the missing plugin: $(show "$T/e.err")"
if [ -n "$nozlib" ]; then
	ax --agent c -n -- true 2>"$T/e.err"
	assert_eq 255 $? "exit for a shared object that is no plugin"
	grep -q "^tether: backend notone: $nozlib: no tether_backend_plugin() in it" "$T/e.err" ||
		fail "no line about the missing entry point: $(show "$T/e.err")"
fi
ax --agent d -n -- true 2>"$T/e.err"
assert_eq 255 $? "exit when the plugin refuses its options"
grep -q "^tether: backend picky: run (test plugin): refused: no licence" "$T/e.err" ||
	fail "no line from the plugin's refusal: $(show "$T/e.err")"
ax --agent e -n -- true 2>"$T/e.err"
assert_eq 255 $? "exit when the plugin crashes"
grep -q "^tether: backend buggy: tether-plugin, which runs $PLUGIN_RUN, ended: it was killed by signal 6 (Aborted)$" "$T/e.err" ||
	fail "no line about the crashed plugin: $(show "$T/e.err")"
[ "$(wc -l <"$T/e.err")" -eq 1 ] || fail "more than one line for a crashed plugin: $(show "$T/e.err")"
no_procs "tether-plugin $PLUGIN_RUN" || fail "tether-plugin outlived its tether: $(procs_matching "tether-plugin")"
log "a missing plugin, no entry point, a refusal, a crash: one line each: ok"
