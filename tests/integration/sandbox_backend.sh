# SPDX-License-Identifier: MIT
# The sandbox backend, the embedded default: tether exec --agent starts
# the user's own node on this host when none answers (one, however many
# start at once), syncs the agent's directory to it (its "dir", else the
# current one) and runs the command in the namespace sandbox, in the
# node's copy-on-write view of the directory, at the directory's own path
# and in the same subdirectory; the agent's edits are there, the command's
# writes are the view's changes and not the directory's. mount "ro" binds
# the directory itself read-only. The node stops itself when idle, and the
# next command starts it again. Without a config file, tether exec takes
# its backend from SANDBOX_BACKEND, the sandbox when unset.
# Usage: sandbox_backend.sh
. "$(dirname "$0")/lib.sh"

[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || { log "not root: skipped"; exit 77; }
export TETHER_SANDBOX_HOME=$T/sbx TETHER_SANDBOX_IDLE=4 TETHER_CACHE=$T/cache
sock=$T/sbx/node.sock
# The node runs detached from us: find it by its socket, end it at exit.
node_pids() { pids_matching "--listen ipc://$sock"; }
trap '_rc=$?; stop_detached_node "$sock" "$T/sbx/root"; (exit $_rc); _teardown' EXIT
mkdir -p "$T/src/sub" "$T/other" || fail "mkdir"
printf 'hello\n' >"$T/src/a.txt"
printf 'elsewhere\n' >"$T/other/o.txt"
cat >"$T/tether.json" <<EOF
{
  "agents": {
    "defaults": { "backend": "sandbox" },
    "list": [
      { "id": "dev", "dir": "$T/src" },
      { "id": "reader", "dir": "$T/src", "mount": "ro" },
      { "id": "loose" },
      { "id": "once", "dir": "$T/src", "workspace": "once",
        "sandbox": { "scope": "command" } }
    ]
  }
}
EOF
ax() { tx exec --config "$T/tether.json" -n "$@"; }
listening() { grep -c '^tether node: listening on ' "$T/sbx/node.log" 2>/dev/null || echo 0; }

# ---- first command: the node starts; the view at the dir's path ----
out=$(cd "$T/src/sub" && ax --agent dev -- sh -c 'pwd; cat ../a.txt; echo $$; echo new >n.txt' 2>"$T/e.err") ||
	fail "exec --agent dev: $(show "$T/e.err")"
assert_eq "$T/src/sub hello 2" "$(echo $out)" "cwd, a file of the dir, pid in the sandbox"
[ -S "$sock" ] || fail "no node socket at $sock"
assert_eq 1 "$(listening)" "nodes started"
[ ! -e "$T/src/sub/n.txt" ] || fail "the command wrote into the agent's directory"
tx changes --config "$T/tether.json" --agent dev >"$T/ch.out" 2>"$T/ch.err" ||
	fail "tether changes --agent: $(show "$T/ch.err")"
grep -q "created .* sub/n.txt" "$T/ch.out" || fail "the view's changes lack sub/n.txt: $(show "$T/ch.out")"
tx changes --node "ipc://$sock" --workspace dev >"$T/ch2.out" 2>&1 && cmp -s "$T/ch.out" "$T/ch2.out" ||
	fail "changes by --agent and by --node differ: $(show "$T/ch2.out")"
grep -q '"event":"end".*"agent":"dev".*"files_changed":1' "$TETHER_AUDIT" ||
	fail "the audit's end record lacks the one file changed: $(tail -n 1 "$TETHER_AUDIT")"
log "first command: node started, the view at the directory's path, writes kept apart: ok"

# ---- the barrier: an edit made before a command is in it ----
printf 'edited\n' >"$T/src/a.txt"
out=$(cd "$T/src" && ax --agent dev -- cat a.txt sub/n.txt 2>"$T/e.err") ||
	fail "exec after an edit: $(show "$T/e.err")"
assert_eq "edited new" "$(echo $out)" "the edit, and the view's own file"
tx reset --config "$T/tether.json" --agent dev >/dev/null 2>"$T/r.err" || fail "tether reset --agent: $(show "$T/r.err")"
out=$(cd "$T/src" && ax --agent dev -- sh -c 'ls sub; cat a.txt' 2>"$T/e.err")
assert_eq "edited" "$(echo $out)" "the view after tether reset --agent"
assert_eq 1 "$(listening)" "nodes started after a second command"
log "the agent's edits reach the next command: ok"

# ---- tether status: each agent, its backend, its workspace ----
tx status --config "$T/tether.json" --json >"$T/st.json" 2>"$T/st.err" ||
	fail "tether status: $(show "$T/st.err")"
grep -q '{"agent":"dev","backend":"sandbox","type":"sandbox","reachable":"yes","running":0,"version":[1-9][0-9]*,' "$T/st.json" ||
	fail "tether status does not show dev's sandbox and workspace: $(show "$T/st.json")"
log "tether status: the agent, its backend reachable, its workspace's version: ok"

# ---- ro: the directory itself, read-only ----
ax --agent reader -- sh -c "echo x >'$T/src/a.txt'" 2>/dev/null && fail "a write through mount ro"
printf 'live\n' >"$T/src/live.txt"
out=$(ax --agent reader -- cat "$T/src/live.txt" 2>"$T/e.err")
assert_eq live "$out" "a file of the directory through mount ro (no sync)"
log "mount ro: the directory, read-only: ok"

# ---- no dir: the current directory ----
out=$(cd "$T/other" && ax --agent loose -- sh -c 'pwd; cat o.txt' 2>"$T/e.err") ||
	fail "exec --agent loose: $(show "$T/e.err")"
assert_eq "$T/other elsewhere" "$(echo $out)" "an agent without a dir, from another directory"
log "no dir: the current directory is the workspace: ok"

# ---- scope command: what a command writes goes with it ----
out=$(ax --agent once -- sh -c 'echo x >left.txt; cat left.txt' 2>"$T/e.err") ||
	fail "scope command: $(show "$T/e.err")"
assert_eq x "$out" "a command-scoped command sees its own file"
tx changes --config "$T/tether.json" --agent once >"$T/ch.out" 2>"$T/ch.err" ||
	fail "tether changes --agent once: $(show "$T/ch.err")"
[ ! -s "$T/ch.out" ] || fail "changes left by a command-scoped command: $(show "$T/ch.out")"
ax --agent once -- test -e left.txt 2>/dev/null && fail "the next command saw a command-scoped file"
log "scope command: the view's changes go with each command: ok"

# ---- no config file: the environment form ----
envx()
{
	(unset TETHER_CONFIG XDG_CONFIG_HOME
	export HOME=$T/home
	cd "$T/other" && tx exec -n "$@")
}
mkdir -p "$T/home"
out=$(envx -- sh -c 'pwd; echo $$; cat o.txt' 2>"$T/e.err") ||
	fail "exec without a config: $(show "$T/e.err")"
assert_eq "$T/other 2 elsewhere" "$(echo $out)" "the environment form's default: the sandbox, here"
out=$(SANDBOX_BACKEND=none envx -- sh -c 'echo $$' 2>"$T/e.err")
[ -n "$out" ] && [ "$out" != 2 ] || fail "SANDBOX_BACKEND=none ran '$out' ($(show "$T/e.err"))"
SANDBOX_BACKEND=lxc envx -- true 2>"$T/e.err"
assert_eq 255 $? "exit of a backend tether does not know"
grep -q "SANDBOX_BACKEND=lxc: unknown backend" "$T/e.err" ||
	fail "no line about SANDBOX_BACKEND=lxc: $(show "$T/e.err")"
log "no config file: SANDBOX_BACKEND, the sandbox by default: ok"

# ---- idle: the node stops; the next command starts one, once ----
wait_until 30 no_procs "--listen ipc://$sock" ||
	fail "the node still runs $((TETHER_SANDBOX_IDLE + 26)) s after its last request"
tx status --config "$T/tether.json" >"$T/st.txt" 2>&1 || fail "tether status: $(show "$T/st.txt")"
grep -q "^dev .* sandbox  *not running" "$T/st.txt" ||
	fail "tether status of a stopped sandbox node: $(show "$T/st.txt")"
[ -z "$(node_pids)" ] || fail "tether status started the sandbox's node"
for i in 1 2 3; do
	(cd "$T/src" && ax --agent dev -- cat a.txt >"$T/par$i.out" 2>"$T/par$i.err") &
done
wait
for i in 1 2 3; do
	assert_eq edited "$(cat "$T/par$i.out")" "command $i of three started at once"
done
assert_eq 2 "$(listening)" "nodes started, after the idle exit and three at once"
log "idle exit; three commands at once start one node: ok"
