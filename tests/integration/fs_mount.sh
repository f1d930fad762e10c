# SPDX-License-Identifier: MIT
# tether mount: a node's workspace as a local read-only directory. The
# mount shows the source's exact treegen digest; listing it fetches no file
# bytes (lazy); it follows the node's new versions; with the node killed, a
# read of a file not fetched yet fails with EIO instead of hanging, and
# works again once a node serves the workspace again; fusermount3 -u ends
# the mount process, and so does SIGTERM. Of a node with views, the mount
# shows what commands wrote in the view (the view's digest, but for hard
# links), follows more writes, and a tether reset. A read of a file
# committed ahead of its content waits for the version that has it.
# Usage: fs_mount.sh   (SYNC_SEED=N replays a failed run)
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
TREEGEN=$(readlink -f "$TREEGEN")
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
mnt=$T/mnt
trap '_rc=$?; umount -l "$mnt" 2>/dev/null; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
use_seed
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" "$mnt" || fail "mkdir"
start_node ipc "$T/root"
url=$NODE_URL

sync_it()
{
	tx sync "$T/src" --node "$url" --workspace m >/dev/null \
		2>"$T/sync.err" || fail "sync: $(show "$T/sync.err")"
}
digest_of() { "$TREEGEN" digest "$1" 2>"$T/d.err"; }
same_mount() { [ "$(digest_of "$T/src")" = "$(digest_of "$mnt")" ]; }
# Bytes in the mount's chunk cache: what it fetched.
cached() { find "$T/cache/mounts" -path '*/packs/*' -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'; }

"$TREEGEN" gen "$T/src" "$SEED" --files 120 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
sync_it

bg "$TETHER" mount --node "$url" --workspace m "$mnt" >"$T/mount.out" 2>"$T/mount.err"
mpid=$BG_PID
wait_until 20 grep -q '^tether mount: ' "$T/mount.out" ||
	fail "tether mount printed no line: $(show "$T/mount.err")"
mountpoint -q "$mnt" || fail "nothing mounted at $mnt"

# Metadata only: no file bytes cross the link.
ls -laR "$mnt" >/dev/null || fail "listing the mount"
[ "$(cached)" -eq 0 ] || fail "listing the mount fetched $(cached) bytes of chunks"
same_mount || fail "the mount differs from the source: $(diff <(digest_of "$T/src") <(digest_of "$mnt") | head -n 6 | tr '\n' '|')"
[ "$(cached)" -gt 0 ] || fail "reading every file fetched nothing into the cache"
log "the mount has the source's digest, listed without fetching: ok"

# The mount follows new versions.
for round in 1 2; do
	"$TREEGEN" mutate "$T/src" $((SEED + round)) >/dev/null 2>"$T/mutate.err" ||
		fail "treegen mutate: $(show "$T/mutate.err")"
	sync_it
	wait_until 15 same_mount ||
		fail "round $round: the mount did not follow: $(diff <(digest_of "$T/src") <(digest_of "$mnt") | head -n 6 | tr '\n' '|')"
done
log "the mount follows two new versions: ok"

# A file the mount has not fetched, then the node goes away.
head -c 300000 /dev/urandom >"$T/src/late.bin" || fail "writing late.bin"
sync_it
wait_until 15 test -e "$mnt/late.bin" || fail "late.bin did not appear in the mount"
stop_node "$NODE_PID" KILL
timeout -k 5 40 cat "$mnt/late.bin" >/dev/null 2>"$T/cat.err"
rc=$?
[ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "reading late.bin with the node gone hung"
[ $rc -ne 0 ] || fail "reading late.bin with the node gone succeeded"
grep -q "Input/output error" "$T/cat.err" || fail "reading late.bin with the node gone: $(show "$T/cat.err")"
start_node ipc "$T/root" "$url"
cmp -s "$T/src/late.bin" "$mnt/late.bin" || fail "late.bin after the node came back"
log "node gone: EIO, not a hang; node back: the read works: ok"

# Unmounted from outside: the mount process ends by itself.
fusermount3 -u "$mnt" || fail "fusermount3 -u"
wait_until 15 pid_gone "$mpid" || fail "tether mount still runs after fusermount3 -u"
wait "$mpid"
assert_eq 0 $? "exit status of tether mount after fusermount3 -u"

# SIGTERM unmounts.
bg "$TETHER" mount --node "$url" --workspace m "$mnt" >"$T/mount2.out" 2>"$T/mount2.err"
mpid=$BG_PID
wait_until 20 grep -q '^tether mount: ' "$T/mount2.out" ||
	fail "second tether mount printed no line: $(show "$T/mount2.err")"
kill -TERM "$mpid"
wait_until 15 pid_gone "$mpid" || fail "tether mount ignored SIGTERM"
mountpoint -q "$mnt" && fail "still mounted after SIGTERM"
log "fusermount3 -u and SIGTERM end the mount: ok"

# A node with views: the mount shows what commands wrote there too, and
# follows more writes and a reset.
stop_node "$NODE_PID" TERM
NODE_ARGS=(--view)
mkdir -p "$T/vroot" || fail "mkdir vroot"
start_node ipc "$T/vroot"
vurl=$NODE_URL
view=$T/vroot/views/m
mnt=$T/mnt2
mkdir -p "$mnt" || fail "mkdir mnt2"
trap '_rc=$?; umount -l "$T/mnt" 2>/dev/null; umount -l "$mnt" 2>/dev/null; umount -l "$view" 2>/dev/null; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
tx sync "$T/src" --node "$vurl" --workspace m >/dev/null 2>"$T/sync.err" ||
	fail "sync to the view node: $(show "$T/sync.err")"
write_in_view()
{
	tx exec --node "$vurl" --workspace m -- "$TREEGEN" mutate . "$1" \
		>"$T/mutate.log" 2>"$T/mutate.err" ||
		fail "treegen mutate in the view: $(show "$T/mutate.err")"
	tx exec --node "$vurl" --workspace m -- sh -c \
		"mkdir -p out$1/o && head -c 1300000 /dev/urandom >out$1/o/big && ln -sf big out$1/o/l" \
		2>"$T/exec.err" || fail "writing out/ in the view: $(show "$T/exec.err")"
}
# Hard links a command made show as separate files in the mount (WS_DATA
# does not say which names share an inode): the digests' last column, the
# link group, is left out. So are directories' times: a directory whose
# only change is its times is no row of tether changes.
nolinks() { digest_of "$1" | awk '{ if ($(NF - 5) == "d") $(NF - 2) = ""; $NF = ""; print }'; }
same_as_view() { [ "$(nolinks "$view")" = "$(nolinks "$mnt")" ]; }
write_in_view $((SEED + 10))
bg "$TETHER" mount --node "$vurl" --workspace m "$mnt" >"$T/mount3.out" 2>"$T/mount3.err"
mpid=$BG_PID
wait_until 20 grep -q '^tether mount: ' "$T/mount3.out" ||
	fail "tether mount of the view node printed no line: $(show "$T/mount3.err")"
wait_until 15 same_as_view ||
	fail "the mount does not show the view's changes: $(diff <(nolinks "$view") <(nolinks "$mnt") | head -n 6 | tr '\n' '|') $(show "$T/mount3.err")"
o=out$((SEED + 10))/o
cmp -s "$view/$o/big" "$mnt/$o/big" || fail "$o/big differs between the view and the mount"
write_in_view $((SEED + 11))
wait_until 15 same_as_view ||
	fail "the mount did not follow new writes: $(diff <(nolinks "$view") <(nolinks "$mnt") | head -n 6 | tr '\n' '|') $(show "$T/mount3.err")"
tx reset --node "$vurl" --workspace m >/dev/null 2>"$T/reset.err" ||
	fail "tether reset: $(show "$T/reset.err")"
wait_until 15 same_mount ||
	fail "after tether reset the mount is not the synced version: $(diff <(digest_of "$T/src") <(digest_of "$mnt") | head -n 6 | tr '\n' '|')"
kill -TERM "$mpid"
wait_until 15 pid_gone "$mpid" || fail "tether mount ignored SIGTERM"
log "a view node's changes through the mount, followed, and reset: ok"

# A file committed ahead of its content (the barrier of a source with a
# cold stat cache, its command still running): a read in the mount waits
# for the version that has it hashed, which the background sync exec
# starts commits once the command ends.
mkdir -p "$T/cold" "$T/mnt3" || fail "mkdir cold"
head -c $((3 << 20)) /dev/urandom >"$T/cold/f" || fail "writing cold/f"
cat >"$T/cold.json" <<JSON || fail "writing the config"
{ "backends": { "n": { "type": "node", "url": "$vurl" } },
  "agents": { "list": [ { "id": "mc", "backend": "n", "dir": "$T/cold" } ] } }
JSON
bg env TETHER_CACHE="$T/cache-cold" "$TETHER" exec --config "$T/cold.json" \
	--agent mc --workspace mc -- sleep 3 >/dev/null 2>"$T/mc.err"
epid=$BG_PID
mc_pending() { tx status --node "$vurl" --json 2>/dev/null | grep -q '"workspace":"mc","domain":"[^"]*","version":1,'; }
wait_until 20 mc_pending || fail "workspace mc was not committed ahead of its content: $(show "$T/mc.err")"
trap '_rc=$?; for m in "$T"/mnt* "$T"/vroot/views/*; do umount -l "$m" 2>/dev/null; done; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
bg "$TETHER" mount --node "$vurl" --workspace mc "$T/mnt3" >"$T/mount4.out" 2>"$T/mount4.err"
mpid=$BG_PID
wait_until 20 grep -q '^tether mount: ' "$T/mount4.out" ||
	fail "tether mount of mc printed no line: $(show "$T/mount4.err")"
mc_pending || fail "mc was hashed before the mount read it: nothing to wait for"
timeout -k 5 30 cat "$T/mnt3/f" >"$T/f.out" 2>"$T/f.err" ||
	fail "reading f, committed ahead of its content, in the mount: $(show "$T/f.err") $(show "$T/mount4.err")"
cmp -s "$T/f.out" "$T/cold/f" || fail "f read in the mount differs from its source"
wait_exit "$epid" 20 || fail "exec --agent mc: $(show "$T/mc.err")"
kill -TERM "$mpid"
wait_until 15 pid_gone "$mpid" || fail "tether mount ignored SIGTERM"
log "a file committed ahead of its content: the mount's read waits for its chunks: ok"
