# SPDX-License-Identifier: MIT
# Passthrough (docs/protocol.md, "Passthrough"): `tether sync --passthrough`
# to a node on this host with views sends no chunks; the view reads the
# files from the source directory itself, each chunk checked against its
# id, so a file changed since the sync fails with EIO (and the node says
# why) until the next sync. It survives a node restart. A plain sync turns
# it off and the node asks for every chunk. A node without views ignores
# it. Commands' writes still land in the upper layer, never in the source.
# Usage: fs_pass.sh   (SYNC_SEED=N replays a failed run)
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
TREEGEN=$(readlink -f "$TREEGEN")
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
view=$T/root/views/p
trap '_rc=$?; umount -l "$view" 2>/dev/null; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
use_seed
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" || fail "mkdir"
NODE_ARGS=(--view)
start_node ipc "$T/root"

field()
{
	local out
	out=$(tx status --node "$NODE_URL" --json 2>"$T/status.err") ||
		fail "tether status: $(show "$T/status.err")"
	printf '%s' "$out" | grep -o '{"workspace":"p"[^}]*}' |
		grep -o "\"$1\":[0-9]*" | cut -d: -f2
}
digest_of() { "$TREEGEN" digest "$1" 2>"$T/d.err"; }
same_view() { [ "$(digest_of "$T/src")" = "$(digest_of "$view")" ]; }
# Bytes of chunks in the node's stores.
stored() { find "$T/root/.tether/stores" -path '*/packs/*' -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
sync_json() # OUT ARGS...
{
	local out=$1
	shift
	tx sync "$T/src" --node "$NODE_URL" --workspace p --json "$@" \
		>"$out" 2>"$T/sync.err" || fail "sync $*: $(show "$T/sync.err")"
}
sent() { grep -o '"chunks_sent":[0-9]*' "$1" | cut -d: -f2; }

"$TREEGEN" gen "$T/src" "$SEED" --files 150 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
chmod u+w "$T/src"
head -c $((2 << 20)) /dev/urandom >"$T/src/big" || fail "big"

sync_json "$T/s1.json" --passthrough
assert_eq 0 "$(sent "$T/s1.json")" "chunks sent with --passthrough"
assert_eq 0 "$(stored)" "chunk bytes stored with --passthrough"
assert_eq 0 "$(field missing)" "missing chunks with --passthrough"
same_view || fail "the passthrough view differs from the source: $(diff <(digest_of "$T/src") <(digest_of "$view") | head -n 6 | tr '\n' '|')"
log "passthrough: no chunk sent or stored, the view reads the source: ok"

# A file changed since the sync (and never read through the view, whose
# page cache would have its bytes): EIO with a reason, until the next sync.
head -c $((2 << 20)) /dev/urandom >"$T/src/fresh" || fail "fresh"
sync_json "$T/s2.json" --passthrough
head -c $((2 << 20)) /dev/urandom >"$T/src/fresh" || fail "rewriting fresh"
cat "$view/fresh" >/dev/null 2>"$T/cat.err" && fail "fresh read through the view after it changed unsynced"
grep -q "Input/output error" "$T/cat.err" || fail "not EIO: $(show "$T/cat.err")"
grep -q "not the bytes synced" "$NODE_LOG" || fail "the node did not say why: $(show "$NODE_LOG")"
sync_json "$T/s3.json" --passthrough
cmp -s "$view/fresh" "$T/src/fresh" || fail "fresh through the view after the next sync"
log "changed since the sync: EIO and why, then the new bytes after a sync: ok"

# Commands write to the upper layer, not to the source.
tx exec --node "$NODE_URL" --workspace p -- sh -c 'echo cmd >big && echo new >made' \
	2>"$T/exec.err" || fail "exec: $(show "$T/exec.err")"
cmp -s "$view/big" - <<<"cmd" || fail "the command's write is not in the view"
[ ! -e "$T/src/made" ] && ! cmp -s "$T/src/big" - <<<"cmd" ||
	fail "a command's write reached the source directory"
tx reset --node "$NODE_URL" --workspace p >/dev/null 2>&1 || fail "tether reset"
log "a command's writes in the upper layer, not in the source: ok"

# It survives a restart.
stop_node "$NODE_PID" TERM
start_node ipc "$T/root"
wait_until 20 mountpoint -q "$view" || fail "no view after the restart: $(show "$NODE_LOG")"
assert_eq 0 "$(field missing)" "missing chunks after a restart"
same_view || fail "the view after a restart differs from the source"
log "passthrough kept across a restart: ok"

# A plain sync turns it off: every chunk is asked for and stored.
head -c 100000 /dev/urandom >"$T/src/fresh2" || fail "fresh2"
sync_json "$T/s4.json"
[ "$(sent "$T/s4.json")" -gt 0 ] || fail "a plain sync after passthrough sent no chunks"
assert_eq 0 "$(field missing)" "missing chunks after a plain sync"
[ "$(stored)" -gt $((2 << 20)) ] || fail "the store holds $(stored) bytes after a plain sync"
cp "$T/src/fresh2" "$T/fresh2.synced"
head -c 1000 /dev/urandom >"$T/src/fresh2"
cmp -s "$view/fresh2" "$T/fresh2.synced" ||
	fail "without passthrough the view does not read the synced bytes from the store"
log "a plain sync turns it off, chunks stored: ok"

# A node without views takes --passthrough as a plain sync.
stop_node "$NODE_PID" TERM
NODE_ARGS=()
mkdir -p "$T/root2" || fail "mkdir root2"
start_node ipc "$T/root2"
sync_json "$T/s5.json" --passthrough
[ "$(sent "$T/s5.json")" -gt 0 ] || fail "a node without views took a passthrough"
cmp -s "$T/root2/workspaces/p/big" "$T/src/big" || fail "the tree of a node without views"
log "a node without views ignores --passthrough: ok"
