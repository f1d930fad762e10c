# SPDX-License-Identifier: MIT
# The ssh backend against OpenSSH's sshd on 127.0.0.1 (sshd.sh: its own
# host and client keys and config). The first command logs in (key
# authentication, the host key checked against known_hosts), says
# "tether: SSH backend connected to HOST", puts this tether binary on the
# host (once: named by its content hash), starts a tether node there on a
# unix socket (no port), and runs in that node's view of the agent's
# directory, synced by the barrier through the SSH session. Exit codes,
# signals, the sandbox's limits on the remote; a host key that does not
# match, and an unknown host under strict checking, are refused in one
# line; accept-new adds it. SANDBOX_BACKEND=ssh with SSH_* does the same
# without a file.
# Usage: ssh.sh
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/sshd.sh"

[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
[ "$(id -u)" = 0 ] || { log "not root: skipped"; exit 77; }
[ -x "$(dirname "$TETHER")/tether-ssh" ] || { log "no tether-ssh (built without libssh): skipped"; exit 77; }
export TETHER_SANDBOX_HOME=$T/sbx TETHER_CACHE=$T/cache
cleanup()
{
	local p
	for p in $(pids_matching "tether-ssh --listen $T/"); do kill -TERM "$p" 2>/dev/null; done
	stop_detached_node "$T/remote/" "$T/remote/root"
}
trap '_rc=$?; cleanup; (exit $_rc); _teardown' EXIT
start_sshd
echo "[127.0.0.1]:$SSH_PORT $SSH_HOST_PUB" >"$T/known_hosts"
mkdir -p "$T/src/sub" || fail "mkdir"
printf 'hello\n' >"$T/src/a.txt"
# conf NAME KNOWN_HOSTS [MORE JSON]: an ssh backend's settings
conf()
{
	printf '"%s": { "type": "ssh", "host": "127.0.0.1", "port": %s, "user": "root", "key": "%s", "known_hosts": "%s", "remote_dir": "%s/remote"%s }' \
		"$1" "$SSH_PORT" "$SSH_CLIENT_KEY" "$2" "$T" "${3:-}"
}
ssh-keygen -q -t ed25519 -N '' -f "$T/other" || fail "ssh-keygen"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$T/other.pub")" >"$T/wrong_hosts"
: >"$T/empty_hosts"
cat >"$T/tether.json" <<EOF
{
  "backends": {
    $(conf box "$T/known_hosts"),
    $(conf wrong "$T/wrong_hosts"),
    $(conf strict "$T/empty_hosts"),
    $(conf lenient "$T/new_hosts" ', "strict_host_key": "accept-new"')
  },
  "agents": {
    "list": [
      { "id": "dev", "backend": "box", "dir": "$T/src" },
      { "id": "mitm", "backend": "wrong", "dir": "$T/src" },
      { "id": "stranger", "backend": "strict", "dir": "$T/src" },
      { "id": "newcomer", "backend": "lenient", "dir": "$T/src" },
      { "id": "gw", "dir": "$T/src", "workspace": "gw",
        "sandbox": { "mode": "ssh",
                     "ssh": { "host": "127.0.0.1", "port": $SSH_PORT, "user": "root",
                              "key": "$SSH_CLIENT_KEY", "known_hosts": "$T/known_hosts",
                              "remote_dir": "$T/remote" } } }
    ]
  }
}
EOF
ax() { (cd "$T/src" && tx exec --config "$T/tether.json" -n "$@"); }

# ---- first command: login, upload, the remote node, its view ----
out=$(cd "$T/src/sub" && LOG_LEVEL=info tx exec --config "$T/tether.json" -n --agent dev -- \
	sh -c 'pwd; cat ../a.txt; exit 3' 2>"$T/e.err")
assert_eq 3 $? "exit code through ssh"
assert_eq "$T/remote/root/views/dev/sub hello" "$(echo $out)" "the remote node's view, in the same subdirectory"
grep -q "^tether: SSH backend connected to 127.0.0.1$" "$T/e.err" ||
	fail "no 'SSH backend connected' line: $(show "$T/e.err")"
# The proxy's own log (next to its socket) tells of the upload.
cat "$T"/sbx/ssh/*.log >"$T/proxy.log" 2>/dev/null
grep -q "^tether: uploaded tether" "$T/proxy.log" || fail "no upload on a host without tether: $(show "$T/proxy.log")"
assert_eq 1 "$(ls "$T/remote" | grep -c '^tether-[0-9a-f]*$')" "tether binaries on the remote"
procs_matching "node --listen ipc://$T/remote/" | grep -q . || fail "no remote node on a unix socket"
log "login, upload, the remote node, its view of the directory: ok"

# ---- again: no upload; an edit is in it; writes stay in the view ----
printf 'edited\n' >"$T/src/a.txt"
out=$(LOG_LEVEL=info ax --agent dev -- sh -c 'cat a.txt; echo made >made.txt' 2>"$T/e.err") ||
	fail "second command: $(show "$T/e.err")"
assert_eq edited "$out" "the agent's edit, through the barrier over ssh"
assert_eq 1 "$(cat "$T"/sbx/ssh/*.log | grep -c 'uploaded tether')" "uploads after two commands"
[ ! -e "$T/src/made.txt" ] || fail "the command wrote into the agent's directory"
[ -e "$T/remote/root/views/dev/made.txt" ] || fail "the command's file is not in the remote view"
grep -q '"event":"end".*"agent":"dev".*"files_changed":1' "$TETHER_AUDIT" ||
	fail "the audit's end record lacks the file changed on the remote node"

log "no second upload; the edit is there; writes stay in the view: ok"

# ---- signals; the sandbox's limits on the remote ----
(cd "$T/src" && exec "$TETHER" exec --config "$T/tether.json" -n --agent dev -- "$MARK_SLEEP" 300) 2>/dev/null &
pid=$!
_PIDS+=($pid)
wait_until 20 pgrep -f "^$MARK_SLEEP 300" >/dev/null || fail "the command never started"
kill -TERM $pid
wait_exit $pid 20
assert_eq 143 $? "exit of a command whose client got SIGTERM"
wait_until 10 no_procs "$MARK_SLEEP 300" || fail "the remote command outlived SIGTERM"
ax --agent dev --sandbox --memory 64m -- sh -c 'x=a; while :; do x=$x$x; done' 2>"$T/m.err"
assert_eq 137 $? "exit of a memory hog under --memory 64m on the remote"
grep -q "sandbox memory limit exceeded" "$T/m.err" || fail "no memory limit line: $(show "$T/m.err")"
out=$(ax --agent dev --sandbox --pids 16 -- sh -c 'for i in $(seq 40); do sleep 1 & done; wait' 2>&1)
assert_match "(can't fork|Cannot fork|Resource temporarily unavailable)" "$out" "a fork past --pids 16 on the remote"
out=$(ax --agent dev --sandbox -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "' 2>"$T/e.err")
assert_eq lo "$out" "the remote sandbox's network (none: lo only)"
ax --agent dev --timeout 1 -- "$MARK_SLEEP" 301 2>"$T/t.err"
assert_eq 124 $? "exit on timeout on the remote"
grep -q "sandbox timeout exceeded after 1s" "$T/t.err" || fail "no timeout line: $(show "$T/t.err")"
wait_until 10 no_procs "$MARK_SLEEP 301" || fail "the timed-out remote command is left"
log "SIGTERM and the timeout reach the remote command; memory, pids and network limits hold there: ok"

# ---- host keys ----
ax --agent mitm -- true 2>"$T/e.err"
assert_eq 255 $? "exit when the host key does not match"
grep -q "^tether: sandbox connection failed: SSH 127.0.0.1:$SSH_PORT: the host key does not match the one in $T/wrong_hosts" "$T/e.err" ||
	fail "no line about the mismatched key: $(show "$T/e.err")"
ax --agent stranger -- true 2>"$T/e.err"
assert_eq 255 $? "exit for an unknown host under strict checking"
grep -q "^tether: sandbox connection failed: SSH 127.0.0.1:$SSH_PORT: the host is not in $T/empty_hosts (strict" "$T/e.err" ||
	fail "no line about the unknown host: $(show "$T/e.err")"
out=$(ax --agent newcomer -- cat a.txt 2>"$T/e.err") || fail "accept-new: $(show "$T/e.err")"
assert_eq edited "$out" "a command on a host accepted as new"
grep -q "$SSH_HOST_PUB" "$T/new_hosts" || fail "accept-new did not record the host key"
log "a mismatched host key and an unknown host refused; accept-new adds it: ok"

# ---- the gateway form: sandbox.mode ssh with sandbox.ssh ----
out=$(ax --agent gw -- sh -c 'pwd; cat a.txt' 2>"$T/e.err") || fail "sandbox.mode ssh: $(show "$T/e.err")"
assert_eq "$T/remote/root/views/gw edited" "$(echo $out)" "an agent on sandbox.mode ssh"
log "the gateway form's sandbox.mode ssh: ok"

# ---- the environment form ----
out=$(unset TETHER_CONFIG; cd "$T/src" && HOME=$T/home SANDBOX_BACKEND=ssh SSH_HOST=127.0.0.1 \
	SSH_PORT=$SSH_PORT SSH_USER=root SSH_KEY_PATH=$SSH_CLIENT_KEY SSH_KNOWN_HOSTS=$T/known_hosts SSH_REMOTE_DIR=$T/remote \
	tx exec -n -- sh -c 'cat a.txt' 2>"$T/e.err") || fail "SANDBOX_BACKEND=ssh: $(show "$T/e.err")"
assert_eq edited "$out" "the environment form's ssh backend"
(unset TETHER_CONFIG; cd "$T/src" && HOME=$T/home SANDBOX_BACKEND=ssh tx exec -n -- true) 2>"$T/e.err"
grep -q "SANDBOX_BACKEND=ssh needs SSH_HOST" "$T/e.err" || fail "no line about SSH_HOST: $(show "$T/e.err")"
log "SANDBOX_BACKEND=ssh with SSH_*: ok"
