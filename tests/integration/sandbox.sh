# SPDX-License-Identifier: MIT
# The namespace sandbox on a node (tether exec --sandbox and its limits):
# exit codes and signals come through the helper and pid 1; the command is
# pid 2 of its own pid namespace, without capabilities, on a read-only root
# with a private /tmp, its node's root hidden; network none is a namespace
# with lo only (a port on the host's 127.0.0.1 is unreachable), host is
# the host's; rlimits apply; a memory hog is killed by the cgroup's OOM
# killer and said so; a fork bomb stops at the pids limit; a timeout ends
# the whole namespace; the workspace is the node's view (cow: writes are
# the view's changes, the agent's directory untouched), or read-only, or
# absent; no cgroup is left behind; an agent's sandbox comes from the
# config (its settings over its backend's), the command line's on top.
# Usage: sandbox.sh
. "$(dirname "$0")/lib.sh"

: "${SBX_PROBE:?SBX_PROBE must name the sbx-probe tool}"
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || { log "not root: skipped"; exit 77; }
mkdir -p "$T/root" "$T/src/sub" "$T/tools" || fail "mkdir"
trap '_rc=$?; umount -l "$T/root/views/w" 2>/dev/null; (exit $_rc); _teardown' EXIT
export TETHER_CACHE=$T/cache
NODE_ARGS=(--view)
start_node tcp "$T/root"
port=${NODE_URL##*:}
# The host's /tmp is not the sandbox's: the tools it runs come in through
# a directory shown to it (--ws-dir, read-only).
cp "$SBX_PROBE" "$T/tools/sbx-probe" && ln -s "$(command -v sleep)" "$T/tools/marksleep" ||
	fail "cannot copy the tools"
tools=(--ws-dir "$T/tools" --mount ro)

sx() { tx exec --node "$NODE_URL" -n --sandbox "$@"; }

# ---- exit codes, signals, pid namespace ----
out=$(sx -- sh -c 'echo $$; exit 7' 2>"$T/e.err")
assert_eq 7 $? "exit code through the sandbox"
assert_eq 2 "$out" "the command's pid in its namespace"
sx -- sh -c 'kill -TERM $$' 2>"$T/e.err"
assert_eq 143 $? "a command killed by SIGTERM"
out=$(sx -- sh -c 'ls /proc | grep -c "^[0-9]"' 2>"$T/e.err")
[ "$out" -le 4 ] || fail "the sandbox sees $out processes: $(show "$T/e.err")"
sx -- no-such-command-xyz 2>"$T/e.err"
assert_eq 127 $? "a command not found in the sandbox"
grep -q "no-such-command-xyz: command not found" "$T/e.err" ||
	fail "no 'command not found' line: $(show "$T/e.err")"
log "exit codes, signals, pid 2 of its own namespace: ok"

# ---- no capabilities, read-only root, private /tmp, hidden node root ----
out=$(sx -- sh -c 'grep CapEff /proc/self/status' 2>"$T/e.err")
assert_match 'CapEff:[[:space:]]*0+$' "$out" "the command's capabilities"
sx -- sh -c 'touch /usr/tether-sandbox-probe' 2>/dev/null &&
	fail "the sandbox wrote to /usr"
[ -e /usr/tether-sandbox-probe ] && fail "a file appeared in the host's /usr"
sx -- sh -c 'mount -t tmpfs none /usr' 2>/dev/null &&
	fail "the sandbox could mount"
touch "$T/host-marker"
out=$(sx -- sh -c "echo x >/tmp/f && cat /tmp/f && ls '$T' 2>&1" 2>"$T/e.err")
assert_match '^x' "$out" "a write to the sandbox's /tmp"
case $out in *host-marker*) fail "the host's /tmp is visible in the sandbox" ;; esac
out=$(sx --ws-dir "$T/tools" --mount ro -- sh -c "ls -A '$T/root' | wc -l" 2>"$T/e.err")
assert_eq 0 "$out" "entries of the node's root seen from the sandbox"
log "no capabilities, read-only root, private /tmp, node root hidden: ok"

# ---- network ----
reach() { sx "$@" -- bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; }
reach && fail "network none reached the host's 127.0.0.1:$port"
reach --network host || fail "network host did not reach 127.0.0.1:$port"
out=$(sx -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "' 2>"$T/e.err")
assert_eq lo "$out" "interfaces with network none"
log "network none: lo only; host: the host's: ok"

# ---- rlimits ----
out=$(sx --nofile 64 -- sh -c 'ulimit -n' 2>"$T/e.err")
assert_eq 64 "$out" "nofile in the sandbox"
out=$(sx --fsize 1m -- sh -c 'head -c 2000000 /dev/zero >/tmp/big; wc -c </tmp/big' 2>"$T/e.err")
assert_eq 1048576 "$out" "bytes written under fsize 1m"
log "rlimits: ok"

# ---- cgroup limits ----
if [ -d /sys/fs/cgroup/memory ] || [ -f /sys/fs/cgroup/cgroup.controllers ]; then
	sx "${tools[@]}" --memory 64m --json -- "$T/tools/sbx-probe" mem 512 \
		>"$T/mem.out" 2>"$T/mem.err"
	rc=$?
	[ "$rc" = 137 ] || fail "a 512 MiB hog under 64m exited $rc: $(show "$T/mem.out") $(show "$T/mem.err")"
	grep -q "sandbox memory limit exceeded" "$T/mem.err" ||
		fail "no memory limit line: $(show "$T/mem.err")"
	grep -q '"memory_limit_hit":true' "$T/mem.err" ||
		fail "--json does not say memory_limit_hit: $(show "$T/mem.err")"
	out=$(sx "${tools[@]}" --memory 64m -- "$T/tools/sbx-probe" mem 16 2>"$T/e.err")
	assert_eq "touched 16" "$out" "16 MiB under a 64m limit"
	out=$(sx "${tools[@]}" --pids 16 --json -- "$T/tools/sbx-probe" fork 200 2>"$T/pids.err")
	assert_match '^forked ([0-9]|1[0-5]): ' "$out" "a fork bomb under pids 16"
	grep -q "sandbox pids limit reached" "$T/pids.err" ||
		fail "no pids limit line: $(show "$T/pids.err")"
	left=$(find /sys/fs/cgroup -depth -path '*/tether/cmd-*' -type d 2>/dev/null | head -n 3)
	[ -z "$left" ] || fail "cgroups left behind: $left"
	log "memory hog killed, fork bomb stopped, cgroups removed: ok"
else
	log "no cgroup controllers: limits not checked"
fi

# ---- timeout ends the namespace ----
sx "${tools[@]}" --timeout 1 -- sh -c "'$T/tools/marksleep' 300 & '$T/tools/marksleep' 300" 2>"$T/to.err"
assert_eq 124 $? "a timed-out sandboxed command"
wait_until 10 no_procs "$T/tools/marksleep" ||
	fail "sleeps left after the timeout: $(procs_matching "$T/tools/marksleep")"
log "timeout: the whole namespace ends: ok"

# ---- the workspace: cow (the view), ro, none ----
printf 'hello\n' >"$T/src/a.txt"
printf 'deep\n' >"$T/src/sub/b.txt"
tx sync "$T/src" --node "$NODE_URL" --workspace w >/dev/null 2>"$T/sync.err" ||
	fail "sync: $(show "$T/sync.err")"
out=$(sx --workspace w --cwd sub -- sh -c 'cat b.txt ../a.txt; echo new >n.txt; rm ../a.txt; ls .. | tr "\n" " "' 2>"$T/e.err") ||
	fail "cow workspace command: $(show "$T/e.err")"
assert_eq "deep hello sub" "$(echo $out)" "what a command did in the cow view"
[ -f "$T/src/a.txt" ] && [ ! -e "$T/src/sub/n.txt" ] ||
	fail "a cow sandbox changed the agent's directory"
tx changes --node "$NODE_URL" --workspace w >"$T/ch.out" 2>"$T/ch.err" ||
	fail "tether changes: $(show "$T/ch.err")"
grep -q "sub/n.txt" "$T/ch.out" && grep -q "a.txt" "$T/ch.out" ||
	fail "tether changes does not show the sandbox's writes: $(show "$T/ch.out")"
tx reset --node "$NODE_URL" --workspace w >/dev/null 2>&1 || fail "tether reset"
sx --workspace w --mount ro -- sh -c 'echo x >a.txt' 2>/dev/null &&
	fail "a write to a read-only workspace succeeded"
out=$(sx --workspace w --mount ro -- cat a.txt 2>"$T/e.err")
assert_eq hello "$out" "a read of the read-only workspace"
out=$(sx --workspace w --mount none -- sh -c "pwd; ls '$T/root/views/w' 2>&1 | wc -l" 2>"$T/e.err")
assert_match '^/tmp' "$out" "the cwd without a workspace"
log "workspace: cow (changes are the view's), ro, none: ok"

# ---- the config: an agent's sandbox over its backend's ----
cat >"$T/tether.json" <<EOF
{
  "backends": { "n": { "type": "node", "url": "$NODE_URL", "network": "host",
                       "limits": { "nofile": 100 } } },
  "agents": {
    "defaults": { "backend": "n" },
    "list": [ { "id": "boxed", "limits": { "nofile": 50 }, "network": "none" },
              { "id": "plain", "backend": "host" } ]
  }
}
EOF
out=$(tx exec --config "$T/tether.json" --agent boxed -n -- sh -c 'echo $$ $(ulimit -n)' 2>"$T/e.err") ||
	fail "exec --agent boxed: $(show "$T/e.err")"
assert_eq "2 50" "$out" "pid and nofile of an agent's sandboxed command"
tx exec --config "$T/tether.json" --agent boxed -n -- bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null &&
	fail "the agent's network none reached 127.0.0.1:$port"
out=$(tx exec --config "$T/tether.json" --agent boxed --nofile 30 -n -- sh -c 'ulimit -n' 2>"$T/e.err")
assert_eq 30 "$out" "--nofile over the config's"
out=$(tx exec --config "$T/tether.json" --agent plain -n -- sh -c 'echo $$' 2>"$T/e.err")
[ "$out" != 2 ] || fail "the host agent ran in a pid namespace"
log "the config's sandbox, per agent, under the command line: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
