# SPDX-License-Identifier: MIT
# The docker backend against a real engine: Podman's Docker-compatible API
# service, started here with storage of its own and an image built here
# (podman.sh). An agent routed by the gateway form (sandbox.mode docker)
# runs its commands in a container of that image: the agent's directory is
# the local node's copy-on-write view, bound at the directory's own path,
# with the agent's edits in it; exit codes, stdout and stderr apart, stdin,
# signals, timeouts (what the command started ends too), no network, no
# capability, a read-only root, the memory and pids limits. A session's
# container serves the next command; a command-scoped one is removed after
# it, and one a killed client left is reaped by the next command. A missing
# image and an unreachable engine are one clear line each. The environment
# form (SANDBOX_BACKEND=docker) does the same without a file.
# Usage: docker.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/podman.sh"

podman_agents_setup
mkdir -p "$T/src/sub" || fail "mkdir"
printf 'hello\n' >"$T/src/a.txt"
img=localhost/mini:latest
cat >"$T/tether.json" <<EOF
{
  "agents": {
    "defaults": { "sandbox": { "mode": "off" } },
    "list": [
      { "id": "reader", "dir": "$T/src",
        "sandbox": { "mode": "docker",
                     "docker": { "image": "$img", "memory": "64m", "cpus": 1,
                                 "pids": 16, "network": "none" } },
        "tools": { "exec": { "host": "sandbox" } } },
      { "id": "once", "dir": "$T/src",
        "sandbox": { "mode": "docker", "scope": "command",
                     "docker": { "image": "$img" } } },
      { "id": "noimage", "dir": "$T/src",
        "sandbox": { "mode": "docker", "docker": { "image": "localhost/nope:1" } } },
      { "id": "main", "tools": { "exec": { "host": "gateway" } } }
    ]
  }
}
EOF
ax() { (cd "$T/src" && tx exec --config "$T/tether.json" "$@"); }
# A process whose whole command line is $1: the command's, in the
# container, not the client's (whose arguments hold it too).
running() { pgrep -x -f "$1" >/dev/null; }
gone() { ! running "$1"; }

# ---- the workspace, exit code, streams apart ----
out=$(cd "$T/src/sub" && tx exec --config "$T/tether.json" --agent reader -n -- \
	sh -c 'pwd; cat ../a.txt; echo oops >&2; exit 3' 2>"$T/e.err")
assert_eq 3 $? "exit code through the container"
assert_eq "$T/src/sub hello" "$(echo $out)" "cwd and a file of the agent's directory"
grep -q '^oops$' "$T/e.err" || fail "stderr apart: $(show "$T/e.err")"
id1=$("${PODMAN[@]}" ps -q --filter label=tether.agent=reader)
[ -n "$id1" ] || fail "no running container labelled tether.agent=reader"
assert_match '^0$' "$("${PODMAN[@]}" inspect -f '{{index .Config.Labels "tether.owner"}}' "$id1")" "label tether.owner"
log "the view at the directory's path, exit code, stderr apart: ok"

# ---- the barrier: an edit is in the next command; writes stay out ----
printf 'edited\n' >"$T/src/a.txt"
out=$(ax --agent reader -n -- sh -c 'cat a.txt; echo made >made.txt; cat made.txt' 2>"$T/e.err") ||
	fail "exec after an edit: $(show "$T/e.err")"
assert_eq "edited made" "$(echo $out)" "the edit, and the command's own file"
[ ! -e "$T/src/made.txt" ] || fail "the command wrote into the agent's directory"
assert_eq "$id1" "$("${PODMAN[@]}" ps -q --filter label=tether.agent=reader)" "the session's container, again"
log "the agent's edit reaches the next command, in the same container: ok"

# ---- isolation: no network, no capability, read-only root ----
out=$(ax --agent reader -n -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "; grep CapEff /proc/self/status; touch /x 2>/dev/null && echo rootrw; touch /tmp/t && echo tmp' 2>"$T/e.err")
assert_eq "lo CapEff: 0000000000000000 tmp" "$(echo $out)" "network none, no capability, root read-only, /tmp writable"
log "no network, no capability, read-only root: ok"

# ---- stdin, closed at its end ----
out=$(printf 'one\ntwo\n' | ax --agent reader -- sh -c 'wc -l' 2>"$T/e.err")
assert_eq 2 "$(echo $out)" "stdin through the exec stream, then EOF"
log "stdin: ok"

# ---- signals and the timeout end what the command started ----
# (exec: the signal goes to tether itself, not to a shell around it)
(cd "$T/src" && exec "$TETHER" exec --config "$T/tether.json" --agent reader -n -- \
	sh -c "sleep 300 & sleep 301") 2>/dev/null &
pid=$!
_PIDS+=($pid)
wait_until 20 running 'sleep 301' || fail "the command never started"
tx status --config "$T/tether.json" >"$T/st.txt" 2>"$T/st.err" || fail "tether status: $(show "$T/st.err")"
grep -q "^reader  *docker  *docker  *yes  *1 " "$T/st.txt" ||
	fail "tether status does not show reader's running command: $(show "$T/st.txt")"
kill -TERM $pid
wait_exit $pid 20
assert_eq 143 $? "exit of a command whose client got SIGTERM"
wait_until 10 gone "sleep 300" || fail "a process the command started outlived SIGTERM"
ax --agent reader -n --timeout 1 -- sh -c "sleep 302 & sleep 303" 2>"$T/t.err"
assert_eq 124 $? "exit on timeout"
grep -q "sandbox timeout exceeded after 1s" "$T/t.err" || fail "no timeout line: $(show "$T/t.err")"
wait_until 10 gone "sleep 302" || fail "a process the timed-out command started is left"
log "SIGTERM and the timeout reach the command's process group: ok"

# ---- limits: memory, pids ----
ax --agent reader -n --json -- sh -c 'x=a; while :; do x=$x$x; done' 2>"$T/m.err"
assert_eq 137 $? "exit of a memory hog under a 64 MiB limit"
grep -q "^tether: sandbox memory limit exceeded" "$T/m.err" || fail "no memory limit line: $(show "$T/m.err")"
grep -q '"memory_limit_hit":true' "$T/m.err" || fail "--json: memory_limit_hit: $(show "$T/m.err")"
out=$(ax --agent reader -n -- sh -c 'for i in $(seq 40); do sleep 1 & done; wait' 2>&1)
assert_match "(can't fork|Resource temporarily unavailable)" "$out" "a fork past pids 16"
assert_match "sandbox pids limit reached" "$out" "the pids limit's line"
log "memory hog killed, fork stopped at the pids limit: ok"

# ---- scope command: removed after; one a killed client left, reaped ----
out=$(ax --agent once -n -- sh -c 'echo x >once.txt; cat a.txt' 2>"$T/e.err") || fail "scope command: $(show "$T/e.err")"
assert_eq edited "$out" "a command-scoped container's workspace"
grep -q '"event":"end".*"agent":"once".*"files_changed":1' "$TETHER_AUDIT" ||
	fail "the audit's end record lacks the file a container's command wrote"
ax --agent once -n -- test -e once.txt 2>/dev/null && fail "a command-scoped command's file outlived it"
assert_eq "" "$(containers_of once)" "containers left by a command-scoped run"
(cd "$T/src" && exec "$TETHER" exec --config "$T/tether.json" --agent once -n -- \
	sleep 304) 2>/dev/null &
pid=$!
_PIDS+=($pid)
wait_until 20 running 'sleep 304' || fail "the command never started"
kill -KILL $pid
wait $pid 2>/dev/null
[ -n "$(containers_of once)" ] || fail "the killed client's container is already gone (nothing to reap)"
ax --agent reader -n -- true 2>"$T/e.err" || fail "exec: $(show "$T/e.err")"
assert_eq "" "$(containers_of once)" "the orphan, after the next command's reaper"
[ -n "$(containers_of reader)" ] || fail "the reaper removed a session's container in use"
log "scope command: removed after the command; an orphan reaped: ok"

# ---- errors: no such image, no engine ----
ax --agent noimage -n -- true 2>"$T/e.err"
assert_eq 255 $? "exit when the image is missing"
grep -q "^tether: docker sandbox failed to start: image localhost/nope:1: create: .*" "$T/e.err" ||
	fail "no line about the missing image: $(show "$T/e.err")"
DOCKER_HOST=unix://$T/nothing.sock ax --agent reader -n -- true 2>"$T/e.err"
assert_eq 255 $? "exit when the engine is not there"
grep -q "^tether: sandbox connection failed: docker engine unix://$T/nothing.sock: No such file or directory" "$T/e.err" ||
	fail "no line about the engine: $(show "$T/e.err")"
log "a missing image, an unreachable engine: one line each: ok"

# ---- the host agent beside it; the audit names the backend ----
out=$(ax --agent main -n -- sh -c 'echo $$' 2>"$T/e.err")
[ -n "$out" ] && [ "$out" != 2 ] || fail "agent main did not run on this host: '$out'"
tx audit --agent reader --json >"$T/a.json" 2>"$T/a.err" || fail "tether audit: $(show "$T/a.err")"
grep -q '"backend":"docker"' "$T/a.json" || fail "the audit lacks the docker backend: $(show "$T/a.json")"
log "the host agent beside it; audit: ok"

# ---- the environment form ----
out=$(unset TETHER_CONFIG; cd "$T/src" && HOME=$T/home SANDBOX_BACKEND=docker \
	SANDBOX_DOCKER_IMAGE=$img SANDBOX_DOCKER_MEMORY=128m \
	tx exec -n -- sh -c 'cat a.txt; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max' 2>"$T/e.err") ||
	fail "SANDBOX_BACKEND=docker: $(show "$T/e.err")"
assert_eq "edited 134217728" "$(echo $out)" "the environment form's container: workspace and memory"
(unset TETHER_CONFIG; cd "$T/src" && HOME=$T/home SANDBOX_BACKEND=docker tx exec -n -- true) 2>"$T/e.err"
grep -q "SANDBOX_BACKEND=docker needs SANDBOX_DOCKER_IMAGE" "$T/e.err" ||
	fail "no line about the missing image variable: $(show "$T/e.err")"
log "SANDBOX_BACKEND=docker with SANDBOX_DOCKER_*: ok"
