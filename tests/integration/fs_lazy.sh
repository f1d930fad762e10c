# SPDX-License-Identifier: MIT
# Lazy workspaces (docs/protocol.md, "Lazy workspaces"): `tether sync
# --lazy` to a node with views commits before its chunks. A command on
# the node reading one file gets it on demand while the rest is still
# arriving (held back with --bwlimit). A view read whose chunk cannot come
# (its source stopped, then killed mid-read) fails with EIO within the
# node's --fetch-timeout, with the reason in the node's log, and works
# again once a sync brings the chunk. Missing chunks survive a node
# restart. The barrier of tether exec --agent leaves what its command did
# not wait for to a background sync. A node started without --view
# rebuilds the workspace's tree from its store. A node without views takes --lazy as a plain sync.
# Metadata ahead of content: from a cold stat cache the barrier commits
# files unread, a command reads one on demand, and one changed since its
# commit fails with EIO and the reason.
# Usage: fs_lazy.sh   (SYNC_SEED=N replays a failed run)
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
TREEGEN=$(readlink -f "$TREEGEN")
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
view=$T/root/views/l
trap '_rc=$?; for m in "$T"/root/views/*; do umount -l "$m" 2>/dev/null; done; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
use_seed
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" || fail "mkdir"
NODE_ARGS=(--view --fetch-timeout 3)
start_node ipc "$T/root"

# field WS NAME: a field of workspace WS in `tether status --json`.
field()
{
	local out
	out=$(tx status --node "$NODE_URL" --json 2>"$T/status.err") ||
		fail "tether status: $(show "$T/status.err")"
	printf '%s' "$out" | grep -o "{\"workspace\":\"$1\"[^}]*}" |
		grep -o "\"$2\":[0-9]*" | cut -d: -f2
}
committed() { local v; v=$(field "$1" version); [ -n "$v" ] && [ "$v" -ge "$2" ]; }
complete() { [ "$(field "$1" missing)" = 0 ]; }

# A random tree, and files of random bytes big enough that the bulk
# sending, held at 256 KiB/s, cannot have sent them by the time a command
# reads them: 8 x 3 MiB, each some 12 chunks.
"$TREEGEN" gen "$T/src" "$SEED" --files 150 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
chmod u+w "$T/src"
mkdir "$T/src/big" || fail "mkdir big"
for i in 1 2 3 4 5 6 7 8; do
	head -c $((3 << 20)) /dev/urandom >"$T/src/big/b$i" || fail "big file $i"
done
"$TREEGEN" digest "$T/src" >"$T/src.digest" 2>"$T/d.err" ||
	fail "treegen digest src: $(show "$T/d.err")"

# The version is there before its chunks; a command reads one file.
bg "$TETHER" sync "$T/src" --node "$NODE_URL" --workspace l --lazy \
	--bwlimit 256k --json >"$T/sync1.out" 2>"$T/sync1.err"
src1=$BG_PID
wait_until 30 committed l 1 ||
	fail "no lazy commit within 30 s: $(show "$T/sync1.err") $(show "$NODE_LOG")"
missing=$(field l missing)
[ "$missing" -gt 0 ] || fail "a lazy commit held back at 256 KiB/s has no chunks missing"
tx exec --node "$NODE_URL" --workspace l -- cat big/b8 >"$T/b8" \
	2>"$T/exec.err" || fail "cat big/b8 in the view: $(show "$T/exec.err")"
cmp -s "$T/b8" "$T/src/big/b8" || fail "big/b8 read in the view differs"
left=$(field l missing)
[ "$left" -gt 0 ] ||
	fail "every chunk had arrived by the time the command finished: nothing was lazy"
log "lazy commit with $missing chunks missing; a command read big/b8 on demand, $left still to come: ok"

# Everything through the view, on demand, matches the source; then the
# sync ends (what was sent on demand is not sent again) and has sent all.
"$TREEGEN" digest "$view" >"$T/view.digest" 2>"$T/d.err" ||
	fail "treegen digest of the view: $(show "$T/d.err")"
cmp -s "$T/src.digest" "$T/view.digest" ||
	fail "the lazy view differs from the source: $(diff "$T/src.digest" "$T/view.digest" | head -n 6 | tr '\n' '|')"
wait_exit "$src1" 60 || fail "the lazy sync failed: $(show "$T/sync1.err")"
grep -q '"lazy":true' "$T/sync1.out" || fail "sync --json does not say it was lazy: $(show "$T/sync1.out")"
wait_until 10 complete l || fail "chunks still missing after the sync ended: $(field l missing)"
log "the whole tree through the view on demand, then the sync ended complete: ok"

# The source stops mid-fill, then is killed while a read waits: EIO
# within the fetch timeout (3 s here), not a hang, and the node says why.
chmod u+w "$T/src/big"
for i in 1 2 3 4; do
	head -c $((3 << 20)) /dev/urandom >"$T/src/big/b$i" || fail "big file $i"
done
v1=$(field l version)
bg "$TETHER" sync "$T/src" --node "$NODE_URL" --workspace l --lazy \
	--bwlimit 64k >/dev/null 2>"$T/sync2.err"
src2=$BG_PID
wait_until 30 committed l $((v1 + 1)) ||
	fail "no second lazy commit within 30 s: $(show "$T/sync2.err")"
kill -STOP "$src2"
bg timeout -k 5 30 cat "$view/big/b4" >/dev/null 2>"$T/cat.err"
reader=$BG_PID
sleep 0.5
kill_wait "$src2"
wait_exit "$reader" 40
rc=$?
[ $rc -ne 124 ] && [ $rc -ne 137 ] || fail "the read hit its 30 s deadline: a hang, not EIO"
[ $rc -ne 0 ] || fail "big/b4 read in full with its source killed before sending it"
grep -q "Input/output error" "$T/cat.err" || fail "the read failed, but not with EIO: $(show "$T/cat.err")"
grep -q "did not arrive within 3.0 s" "$NODE_LOG" ||
	fail "the node did not log why the read failed: $(show "$NODE_LOG")"
log "source killed mid-read: EIO within the fetch timeout, reason logged: ok"

# Missing chunks survive a restart; a sync brings them; the read works.
stop_node "$NODE_PID" TERM
start_node ipc "$T/root"
wait_until 20 mountpoint -q "$view" || fail "no view after the restart: $(show "$NODE_LOG")"
[ "$(field l missing)" -gt 0 ] || fail "the restarted node forgot the missing chunks"
tx sync "$T/src" --node "$NODE_URL" --workspace l >/dev/null 2>"$T/sync3.err" ||
	fail "sync after the restart: $(show "$T/sync3.err")"
complete l || fail "chunks still missing after a full sync: $(field l missing)"
cmp -s "$view/big/b4" "$T/src/big/b4" || fail "big/b4 differs after the sync brought it"
"$TREEGEN" digest "$T/src" >"$T/src.digest" 2>"$T/d.err" &&
	"$TREEGEN" digest "$view" >"$T/view.digest" 2>"$T/d.err" ||
	fail "treegen digest: $(show "$T/d.err")"
cmp -s "$T/src.digest" "$T/view.digest" || fail "the view differs from the source after the sync"
log "missing chunks kept across a restart, brought by the next sync: ok"

# The barrier of tether exec --agent commits lazily; a command that ends
# before the chunks are all there leaves them to a tether sync that exec
# starts in the background, and the workspace fills without any other
# source.
cat >"$T/agents.json" <<EOF || fail "writing the config"
{ "backends": { "n": { "type": "node", "url": "$NODE_URL" } },
  "agents": { "list": [ { "id": "ag", "backend": "n", "dir": "$T/src" } ] } }
EOF
TETHER_LOG=info tx exec --config "$T/agents.json" --agent ag --workspace ag -- \
	cat big/b2 >"$T/b2" 2>"$T/ag.err" || fail "exec --agent: $(show "$T/ag.err")"
cmp -s "$T/b2" "$T/src/big/b2" || fail "big/b2 read by the barrier's command differs"
grep -q "goes on in the background" "$T/ag.err" ||
	fail "exec left no background sync, though its command ended first: $(show "$T/ag.err")"
wait_until 60 complete ag || fail "the workspace did not fill after exec returned: $(field ag missing) missing"
log "exec's barrier: lazy commit, the rest filled in the background after exec returned: ok"

# Metadata ahead of content: with a cold stat cache, the barrier commits
# files it has not read (pending), and the command reads one that the
# source reads and defines on demand (SYNC_ASK, SYNC_DEFINE). A pending
# file changed after the commit fails with EIO, and the node says why.
mkdir -p "$T/cold/sub" "$T/cold2" || fail "mkdir cold"
for i in 1 2 3; do
	head -c $((2 << 20)) /dev/urandom >"$T/cold/sub/f$i" || fail "cold file $i"
done
printf 'before\n' >"$T/cold2/edit.txt" || fail "writing edit.txt"
cat >"$T/cold.json" <<EOF || fail "writing the config"
{ "backends": { "n": { "type": "node", "url": "$NODE_URL" } },
  "agents": { "list": [ { "id": "c1", "backend": "n", "dir": "$T/cold" },
                        { "id": "c2", "backend": "n", "dir": "$T/cold2" } ] } }
EOF
TETHER_CACHE=$T/cache-cold TETHER_LOG=info tx exec --config "$T/cold.json" \
	--agent c1 --workspace c1 -- sh -c "cat sub/f2 &&
	'$TETHER' status --node '$NODE_URL' --json >'$T/cold-status.json'" \
	>"$T/f2" 2>"$T/c1.err" || fail "exec --agent c1: $(show "$T/c1.err")"
cmp -s "$T/f2" "$T/cold/sub/f2" || fail "sub/f2, read ahead of its content, differs"
grep -q "committed ahead of the content of 3 files" "$T/c1.err" ||
	fail "the barrier did not commit the 3 unread files ahead of their content: $(show "$T/c1.err")"
grep -o '{"workspace":"c1"[^}]*}' "$T/cold-status.json" | grep -q '"missing":[1-9]' ||
	fail "nothing was missing while the command ran: $(show "$T/cold-status.json")"
wait_until 60 complete c1 || fail "c1 did not fill after exec returned: $(field c1 missing) missing"
"$TREEGEN" digest "$T/cold" >"$T/cold.digest" 2>"$T/d.err" &&
	"$TREEGEN" digest "$T/root/views/c1" >"$T/cold-view.digest" 2>"$T/d.err" ||
	fail "treegen digest: $(show "$T/d.err")"
cmp -s "$T/cold.digest" "$T/cold-view.digest" || fail "the view of c1 differs from its source once filled"
TETHER_CACHE=$T/cache-cold tx exec --config "$T/cold.json" --agent c2 --workspace c2 \
	-- sh -c "printf 'after\n' >>'$T/cold2/edit.txt'; cat edit.txt" \
	>"$T/edit.out" 2>"$T/c2.err" && fail "a pending file changed after the commit was read: $(show "$T/edit.out")"
grep -q "Input/output error" "$T/c2.err" || fail "the read failed, but not with EIO: $(show "$T/c2.err")"
grep -q "edit.txt: the source: changed since it was synced" "$NODE_LOG" ||
	fail "the node did not log why edit.txt could not be read: $(show "$NODE_LOG")"
log "metadata ahead of content: a file read on demand, then filled; one changed since its commit: EIO with the reason: ok"

# A pending file's chunk list in pages, from sync-evil as its source: a
# page out of order and a list that does not sum to the size are refused
# (EPROTO); the right one, then the chunks, serve the read.
: "${SYNC_EVIL:?SYNC_EVIL must name the sync-evil tool}"
bg "$SYNC_EVIL" "$NODE_URL" pg define-pages 30 >"$T/pages.out" 2>"$T/pages.err"
evil=$BG_PID
wait_until 20 committed pg 1 || fail "sync-evil's lazy commit of pg: $(show "$T/pages.err")"
wait_until 20 test -e "$T/root/views/pg/pending-file" || fail "no pending-file in the view of pg"
timeout -k 5 30 cat "$T/root/views/pg/pending-file" >"$T/pg.out" 2>"$T/pg.err" ||
	fail "reading pending-file, defined in pages: $(show "$T/pg.err") $(show "$T/pages.out")"
[ "$(stat -c %s "$T/pg.out")" = 3000 ] || fail "pending-file read as $(stat -c %s "$T/pg.out") bytes, not 3000"
wait_exit "$evil" 30 || fail "sync-evil define-pages: $(show "$T/pages.err") $(show "$T/pages.out")"
for re in '^SYNC_SERVE: SYNC_ASK pending-file size=3000$' \
	'^page 1 first: ERROR EPROTO .*pending-file: a page of its chunk list at 1 of 2, not the next one' \
	'^wrong page 0: SYNC_WANT total=1$' \
	'^wrong page 1: ERROR EPROTO .*pending-file: chunks of 2000 bytes, size 3000' \
	'^page 0: SYNC_WANT total=1$' '^page 1: SYNC_WANT total=1$' '^SYNC_FILL: OK 2$'; do
	grep -Eq -- "$re" "$T/pages.out" || fail "sync-evil define-pages: no line /$re/: $(show "$T/pages.out")"
done
log "a pending file's chunk list in pages: out of order and wrong sums refused, the right one read: ok"

# Without --view, the node builds the tree the view node did not keep.
stop_node "$NODE_PID" TERM
NODE_ARGS=()
start_node ipc "$T/root"
"$TREEGEN" digest "$T/root/workspaces/l" >"$T/tree.digest" 2>"$T/d.err" ||
	fail "treegen digest of the tree: $(show "$T/d.err")"
cmp -s "$T/src.digest" "$T/tree.digest" ||
	fail "the rebuilt tree differs from the source: $(diff "$T/src.digest" "$T/tree.digest" | head -n 6 | tr '\n' '|')"
grep -q "building its tree" "$NODE_LOG" || fail "the node did not say it rebuilt the tree"
# ... and takes --lazy as a plain sync.
printf 'after\n' >"$T/src/big/after" || fail "writing big/after"
tx sync "$T/src" --node "$NODE_URL" --workspace l --lazy --json \
	>"$T/sync4.out" 2>"$T/sync4.err" || fail "lazy sync to a node without views: $(show "$T/sync4.err")"
grep -q '"lazy":false' "$T/sync4.out" || fail "a node without views took a lazy commit: $(show "$T/sync4.out")"
[ "$(cat "$T/root/workspaces/l/big/after")" = after ] ||
	fail "the tree lacks big/after after a --lazy sync to a node without views"
log "a node without views rebuilds the tree, and takes --lazy as a plain sync: ok"
