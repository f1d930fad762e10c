# SPDX-License-Identifier: MIT
# The vm backend with a real VM: tether vm image builds a kernel and
# initramfs from Debian packages, and an agent routed by the gateway form
# (sandbox.mode vm, sandbox.vm.resources) gets a qemu microvm (TCG here:
# the probe finds no working KVM) with its resources, reached over SSH:
# tether is uploaded into it, a node started there, and the command runs
# in that node's view of the agent's directory, synced by the barrier.
# A "command" provider (lifecycle templates: start ends in an SSH
# endpoint) reaches the same VM. tether vm prune stops the VMs nobody
# uses, the command provider's through its stop template.
# Usage: vm.sh
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { log "not root: skipped"; exit 77; }
command -v qemu-system-x86_64 >/dev/null || { log "no qemu-system-x86_64: skipped"; exit 77; }
command -v lz4 >/dev/null || { log "no lz4: skipped"; exit 77; }
[ -x "$(dirname "$TETHER")/tether-ssh" ] || { log "no tether-ssh: skipped"; exit 77; }
export TETHER_SANDBOX_HOME=$T/sbx TETHER_CACHE=$T/cache
cleanup()
{
	local p
	for p in $(pids_matching "$T/sbx/vm/") $(pids_matching "tether-ssh --listen $T/"); do
		kill -KILL "$p" 2>/dev/null
	done
}
trap '_rc=$?; cleanup; (exit $_rc); _teardown' EXIT
mkdir -p "$T/src/sub" || fail "mkdir"
printf 'hello\n' >"$T/src/a.txt"

# ---- the image ----
TX_DEADLINE=300 tx vm image >"$T/img.out" 2>"$T/img.err" || fail "tether vm image: $(show "$T/img.err")"
img=$T/sbx/vm/image
for f in vmlinux initrd.gz host.pub client; do
	[ -s "$img/$f" ] || fail "tether vm image made no $f: $(show "$T/img.out")"
done
kver=$(cut -d' ' -f2 "$img/kernel.txt")
log "tether vm image: $(cat "$T/img.out")"

cat >"$T/tether.json" <<EOF
{
  "agents": {
    "defaults": { "sandbox": { "mode": "off" } },
    "list": [
      { "id": "boxed", "dir": "$T/src",
        "sandbox": { "mode": "vm",
                     "vm": { "provider": "qemu", "resources": { "cpu": 2, "memory": "768m" } } },
        "tools": { "exec": { "host": "sandbox" } } }
    ]
  }
}
EOF
ax() { (cd "$T/src" && tx exec --config "$T/tether.json" -n "$@"); }

# ---- first command: boot, upload, node, view; resources ----
out=$(cd "$T/src/sub" && TX_DEADLINE=400 tx exec --config "$T/tether.json" -n --agent boxed -- \
	sh -c 'nproc; grep MemTotal /proc/meminfo | tr -s " " | cut -d" " -f2; pwd; cat ../a.txt; uname -r; exit 3' 2>"$T/e.err")
assert_eq 3 $? "exit code from the VM ($(show "$T/e.err"))"
set -- $out
assert_eq 2 "$1" "the VM's CPUs (resources.cpu)"
[ "$2" -gt $((640 * 1024)) ] && [ "$2" -le $((768 * 1024)) ] ||
	fail "the VM's memory: MemTotal $2 kB for resources.memory 768m"
assert_eq "/root/.cache/tether/root/views/boxed/sub" "$3" "the command's directory: the VM node's view"
assert_eq hello "$4" "the agent's file in the VM"
assert_eq "$kver" "$5" "the VM's kernel: the image's"
vmdir=$(ls -d "$T"/sbx/vm/vm-* | head -n 1)
[ -n "$(pids_matching "$vmdir")" ] || fail "no qemu for the VM"
grep -qi "tcg\|kvm" "$T/sbx/vm/accel" || fail "no accelerator decision"
log "the VM: booted ($(cat "$T/sbx/vm/accel")), resources, the view, exit code: ok"

# ---- warm: the same VM; an edit is in the next command ----
printf 'edited\n' >"$T/src/a.txt"
out=$(TX_DEADLINE=120 ax --agent boxed -- cat a.txt 2>"$T/e.err") || fail "a second command: $(show "$T/e.err")"
assert_eq edited "$out" "the agent's edit in the VM"
assert_eq 1 "$(ls -d "$T"/sbx/vm/vm-* | wc -l)" "VMs after two commands"
log "the VM kept; the barrier through its SSH: ok"

# ---- signals, timeouts, the sandbox's limits in the VM ----
(cd "$T/src" && exec "$TETHER" exec --config "$T/tether.json" -n --agent boxed -- \
	sh -c 'sleep 300 & sleep 301') 2>/dev/null &
pid=$!
_PIDS+=($pid)

sleep 3
kill -TERM $pid
wait_exit $pid 60
assert_eq 143 $? "exit of a VM command whose client got SIGTERM"
TX_DEADLINE=120 ax --agent boxed --timeout 2 -- sleep 30 2>"$T/t.err"
assert_eq 124 $? "exit on timeout in the VM"
grep -q "sandbox timeout exceeded after 2s" "$T/t.err" || fail "no timeout line: $(show "$T/t.err")"
out=$(TX_DEADLINE=120 ax --agent boxed -- sh -c 'ps | grep -c "[s]leep 30"' 2>&1)
assert_eq 0 "$out" "sleeps left in the VM after SIGTERM and the timeout"
TX_DEADLINE=120 ax --agent boxed --sandbox --memory 64m -- sh -c 'x=a; while :; do x=$x$x; done' 2>"$T/m.err"
assert_eq 137 $? "exit of a memory hog under --memory 64m in the VM ($(show "$T/m.err"))"
out=$(TX_DEADLINE=120 ax --agent boxed --sandbox --pids 16 -- sh -c 'for i in $(seq 40); do sleep 1 & done; wait' 2>&1)
assert_match "(can't fork|Cannot fork|Resource temporarily unavailable)" "$out" "a fork past --pids 16 in the VM"
out=$(TX_DEADLINE=120 ax --agent boxed --sandbox -- sh -c 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "' 2>&1)
assert_eq lo "$out" "the VM sandbox's network (none: lo only)"
log "signals, timeouts, memory, pids and network limits in the VM: ok"

# ---- a command provider: a template that gives an SSH endpoint ----
port=$(cat "$vmdir/port")
cat >"$T/tether2.json" <<EOF
{
  "backends": {
    "lima-like": { "type": "vm", "provider": "command",
                   "start": "echo \\"\$TETHER_VM_ID\\" >'$T/started'",
                   "stop": "echo \\"\$TETHER_VM_ID\\" >>'$T/stopped'",
                   "host": "127.0.0.1", "port": $port, "user": "root",
                   "key": "$img/client", "known_hosts": "$vmdir/known_hosts" }
  },
  "agents": { "list": [ { "id": "tmpl", "backend": "lima-like", "dir": "$T/src" } ] }
}
EOF
out=$(cd "$T/src" && TX_DEADLINE=120 tx exec --config "$T/tether2.json" -n --agent tmpl -- uname -r 2>"$T/e.err") ||
	fail "the command provider: $(show "$T/e.err")"
assert_eq "$kver" "$out" "a command through the command provider's endpoint"
assert_match '^vm-[0-9a-f]{16}$' "$(cat "$T/started" 2>&1)" "TETHER_VM_ID of the provider's start command"
[ ! -e "$T/stopped" ] || fail "the provider's stop command ran while the VM was in use"
log "a command provider: its start ran, its SSH endpoint served: ok"

# ---- prune: the VMs nobody uses stop: qemu's, and the command provider's
# through its stop command ----
out=$(tx vm prune 2>"$T/e.err") || fail "tether vm prune: $(show "$T/e.err")"
assert_match "stopped 2 VM" "$out" "tether vm prune"
wait_until 10 no_procs "$vmdir" || fail "the VM still runs after tether vm prune"
assert_eq "$(cat "$T/started")" "$(cat "$T/stopped" 2>&1)" "the provider's stop command, for the VM it started"
out=$(tx vm prune 2>"$T/e.err") || fail "tether vm prune: $(show "$T/e.err")"
assert_match "stopped 0 VM" "$out" "a second tether vm prune"
log "tether vm prune: the qemu VM, and the command provider's stop: ok"
