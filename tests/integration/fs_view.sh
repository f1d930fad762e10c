# SPDX-License-Identifier: MIT
# tetherfs, the view's lower layer (tether node --view): a random tree synced
# to a node appears through FUSE at ROOT/views/NAME with exactly the
# source's treegen digest (types, modes, sizes, mtimes, content, symlink
# targets, hard-link groups); it follows every new version although the
# kernel may cache answers for a day (the node invalidates what changed);
# a file open across a version keeps reading the version it opened (writes
# to the view are fs_cow.sh's); a node killed with -9 leaves a dead mount that its restart
# detaches and mounts again; a node stopped with SIGTERM unmounts.
# Usage: fs_view.sh   (SYNC_SEED=N replays a failed run)
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
TREEGEN=$(readlink -f "$TREEGEN")
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
view=$T/root/views/v
# A failed run must not leave a mount behind; treegen's 0555 directories
# need opening up for lib.sh's rm -rf.
trap '_rc=$?; exec 3<&-; umount -l "$view" 2>/dev/null; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
use_seed
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" || fail "mkdir"
NODE_ARGS=(--view)
start_node ipc "$T/root"

sync_it()
{
	tx sync "$T/src" --node "$NODE_URL" --workspace v >/dev/null \
		2>"$T/sync.err" || fail "sync: $(show "$T/sync.err")"
}
# same_view WHAT: the view has the source's digest.
same_view()
{
	"$TREEGEN" digest "$T/src" >"$T/src.digest" 2>"$T/d.err" ||
		fail "treegen digest src: $(show "$T/d.err")"
	"$TREEGEN" digest "$view" >"$T/view.digest" 2>"$T/d.err" ||
		fail "$1: treegen digest of the view: $(show "$T/d.err")"
	cmp -s "$T/src.digest" "$T/view.digest" ||
		fail "$1: the view differs from the source: $(diff "$T/src.digest" "$T/view.digest" | head -n 6 | tr '\n' '|')"
}

"$TREEGEN" gen "$T/src" "$SEED" --files 120 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
sync_it
mountpoint -q "$view" || fail "no mount at $view after the first sync: $(show "$NODE_LOG")"
same_view "first sync"
log "first version through the view: $(wc -l <"$T/view.digest") entries: ok"

f=$(cd "$view" && find . -type f -size +0 | head -n 1)
[ -n "$f" ] || fail "the tree has no non-empty file"

# A file open across a version keeps its bytes; the view shows the new.
chmod u+w "$T/src/$f" "$(dirname "$T/src/$f")" 2>/dev/null
cp "$T/src/$f" "$T/old" || fail "copying $f"
exec 3<"$view/$f" || fail "opening $f in the view"
printf 'new content\n' >"$T/src/$f" || fail "rewriting $f"
sync_it
cmp -s "$T/old" <(cat <&3) ||
	fail "$f opened before the new version: its bytes changed"
exec 3<&-
[ "$(cat "$view/$f")" = "new content" ] ||
	fail "$f through the view after the new version: $(head -c 100 "$view/$f")"
log "open file keeps its version, the view shows the new one: ok"

# Random edits, a version each: the kernel's cached answers follow.
for round in 1 2 3; do
	"$TREEGEN" mutate "$T/src" $((SEED + round)) >"$T/mutate.log" \
		2>"$T/mutate.err" || fail "treegen mutate: $(show "$T/mutate.err")"
	sync_it
	same_view "round $round (edits: $(tr '\n' ';' <"$T/mutate.log" | head -c 800))"
done
log "three rounds of random edits through the view: ok"

# kill -9: the mount is left, dead; a restart detaches it and mounts again.
stop_node "$NODE_PID" KILL
stat "$view/." >/dev/null 2>&1 && fail "the view still answers after the node was killed"
start_node ipc "$T/root"
wait_until 20 mountpoint -q "$view" || fail "no view after the restart: $(show "$NODE_LOG")"
same_view "after a restart"
grep -q "detached a stale view" "$NODE_LOG" ||
	fail "the restarted node did not say it detached the stale view: $(show "$NODE_LOG")"
log "kill -9, restart: the stale mount is replaced: ok"

stop_node "$NODE_PID" TERM
mountpoint -q "$view" && fail "the view is still mounted after SIGTERM"
log "SIGTERM unmounts: ok"
