# SPDX-License-Identifier: MIT
# The namespace sandbox of a node run by a user who is not root: the
# sandbox makes a user namespace first (its own id mapped to itself) and
# everything else inside it: pid 2, no capability, a read-only root, a
# private /tmp, lo only, rlimits. A cgroup limit the user may not set is
# refused in one line that names the cgroup and the cause.
# Usage: sandbox_userns.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { log "not root (needed to become another user): skipped"; exit 77; }
command -v setpriv >/dev/null || { log "no setpriv: skipped"; exit 77; }
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- env HOME="$T/nr" TETHER_AUDIT="$T/nr/audit.log" "$@"; }
nobody unshare -U -r true 2>/dev/null || { log "no unprivileged user namespaces here: skipped"; exit 77; }
chmod 711 "$T" && mkdir -p "$T/nr" && chmod 777 "$T/nr" || fail "mkdir"
# The tether binary and its directory must be reachable by that user.
nobody test -x "$TETHER" || { log "$TETHER is not executable by nobody: skipped"; exit 77; }
sock=$T/nr/node.sock
nobody "$TETHER" node --listen "ipc://$sock" --root "$T/nr" >"$T/nr/node.log" 2>&1 </dev/null &
_PIDS+=($!)
wait_until 20 grep -q '^tether node: listening on ' "$T/nr/node.log" ||
	fail "a node as nobody: $(show "$T/nr/node.log")"
nx() { nobody timeout 60 "$TETHER" exec --node "ipc://$sock" -n --sandbox "$@"; }

out=$(nx -- sh -c 'id -u; echo $$; grep CapEff /proc/self/status; touch /x 2>/dev/null || echo ro; echo t >/tmp/t && echo tmp; tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "' 2>"$T/e.err") ||
	fail "a sandboxed command as nobody: $(show "$T/e.err")"
assert_eq "65534 2 CapEff: 0000000000000000 ro tmp lo" "$(echo $out)" \
	"uid, pid 2, no capability, read-only root, private /tmp, lo only"
[ ! -e /tmp/t ] || fail "the sandbox's /tmp was the host's"
out=$(nx --nofile 64 -- sh -c 'ulimit -n' 2>"$T/e.err")
assert_eq 64 "$out" "nofile in a user namespace"
nx --memory 64m -- true 2>"$T/e.err"
[ $? -ne 0 ] || { log "this machine lets nobody make cgroups: the refusal is not checked"; exit 0; }
grep -q "^tether: sandbox: cgroup .*: Permission denied" "$T/e.err" ||
	fail "no line naming the cgroup nobody may not make: $(show "$T/e.err")"
log "a node as nobody: the sandbox in a user namespace; a cgroup limit refused in one line: ok"
