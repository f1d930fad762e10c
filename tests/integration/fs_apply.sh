# SPDX-License-Identifier: MIT
# tether apply: what commands changed in a workspace's view (tether node
# --view) written back into the agent's directory. Files (empty, several
# WS_READ pieces, odd bytes in the name) in new nested directories, a
# modified file, a chmod, deletions of a file and a whole directory, a file
# replaced by a symlink: afterwards the directory is the view, entry for
# entry (treegen digest: types, modes, sizes, mtimes, bytes, targets), and
# a sparse file stays sparse.
# --dry-run changes nothing; a path the agent changed too, synced or not,
# is a conflict, left as the agent has it while the rest is applied; a
# deleted directory that holds a file the node never saw stays; a symlink
# the agent put on the way is not followed. Applied and synced, nothing is
# a change any more. With the config: writeback "sync" after tether exec
# --agent, apply --agent (refused for writeback "none"), and the barrier
# (a command sees the agent's unsynced edits; --no-barrier skips it).
# Usage: fs_apply.sh   (SYNC_SEED=N replays a failed run)
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
TREEGEN=$(readlink -f "$TREEGEN")
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
view=$T/root/views/w
trap '_rc=$?; umount -l "$view" 2>/dev/null; chmod -R u+rwX "$T/src" 2>/dev/null; (exit $_rc); _teardown' EXIT
use_seed
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" "$T/outside" || fail "mkdir"
NODE_ARGS=(--view)
start_node ipc "$T/root"

sync_it()
{
	tx sync "$T/src" --node "$NODE_URL" --workspace w >/dev/null \
		2>"$T/sync.err" || fail "sync: $(show "$T/sync.err")"
}
in_view() { tx exec --node "$NODE_URL" --workspace w -- "$@"; }
digest()
{
	"$TREEGEN" digest "$1" 2>"$T/d.err" ||
		fail "treegen digest $1: $(show "$T/d.err")"
}
changes()
{
	tx changes --node "$NODE_URL" --workspace w "$@" 2>"$T/ch.err" ||
		fail "tether changes: $(show "$T/ch.err")"
}
# apply ARGS...: tether apply into $T/src; its status in rc, its output in
# $T/apply.out and $T/apply.err.
apply()
{
	tx apply --node "$NODE_URL" --workspace w "$@" "$T/src" \
		>"$T/apply.out" 2>"$T/apply.err"
	rc=$?
}
# same_as_view WHAT: the agent's directory is the view, entry for entry.
same_as_view()
{
	digest "$T/src" >"$T/src.digest"
	digest "$view" >"$T/view.digest"
	cmp -s "$T/src.digest" "$T/view.digest" ||
		fail "$1: the directory differs from the view: $(diff "$T/src.digest" "$T/view.digest" | head -n 8 | tr '\n' '|')"
}

"$TREEGEN" gen "$T/src" "$SEED" --files 120 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
# What the commands change is ours, beside the random tree (whose hard
# links a rename would split).
mkdir -p "$T/src/ap/gone/deep" "$T/src/ap/sub" "$T/src/ap/keep" || fail "mkdir ap"
printf 'old\n' >"$T/src/ap/mod.txt"
printf '#!/bin/sh\nexit 0\n' >"$T/src/ap/run.sh"
printf 'bye\n' >"$T/src/ap/del.txt"
printf 'a\n' >"$T/src/ap/gone/a"
printf 'b\n' >"$T/src/ap/gone/deep/b"
printf 'to be a link\n' >"$T/src/ap/tolink.txt"
printf 'agent and command\n' >"$T/src/ap/both.txt"
printf 'command only\n' >"$T/src/ap/other.txt"
printf 'agent, not synced\n' >"$T/src/ap/unsynced.txt"
printf 'f\n' >"$T/src/ap/keep/f"
chmod 644 "$T/src/ap/run.sh"
sync_it
wait_until 20 mountpoint -q "$view" || fail "no view at $view: $(show "$NODE_LOG")"

# One command makes every kind of change.
odd=$'odd \x01 \xc3\xa9 \xff\\ name'
big=$((3 * 1024 * 1024 + 12345))
in_view bash -c 'set -e; cd ap
	mkdir -p new/nested/deeper
	: >new/empty
	touch -d @1000000000 new/empty
	# Bytes that are not zeros (zeros would be holes) and not all alike.
	awk "BEGIN { for (i = 0; i < $2 / 8; i++) printf \"%07d\n\", i }" |
		head -c "$2" >new/nested/big.bin
	# Mostly a hole.
	head -c 1500000 /dev/zero >new/holes
	printf end >>new/holes
	printf "x" >"new/$1"
	chmod 750 new/nested
	printf "new\n" >>mod.txt
	chmod 755 run.sh
	rm del.txt
	rm -r gone
	rm tolink.txt
	ln -s ../somewhere/else tolink.txt' bash "$odd" "$big" \
	>"$T/cmd.out" 2>&1 || fail "the command in the view: $(show "$T/cmd.out")"
[ "$(stat -c %s "$view/ap/new/nested/big.bin")" = "$big" ] ||
	fail "big.bin in the view is not $big bytes"
changes >"$T/changes.out"
grep -q ' (conflict)$' "$T/changes.out" &&
	fail "a conflict nobody made: $(grep ' (conflict)$' "$T/changes.out" | tr '\n' '|')"

# --dry-run: says what, changes nothing.
digest "$T/src" >"$T/before.digest"
apply --dry-run
[ $rc -eq 0 ] || fail "apply --dry-run exited $rc: $(show "$T/apply.err")"
digest "$T/src" | cmp -s - "$T/before.digest" ||
	fail "apply --dry-run changed the directory"
grep -q '^create .* ap/new/nested/big\.bin$' "$T/apply.out" ||
	fail "apply --dry-run does not list big.bin: $(show "$T/apply.out")"
grep -q '^delete .* ap/gone/$' "$T/apply.out" ||
	fail "apply --dry-run does not list ap/gone/: $(show "$T/apply.out")"
assert_match '^tether apply \(dry run\): 7 created, 3 modified, 5 deleted, 0 conflicts' \
	"$(tail -n 1 "$T/apply.out")" "the dry run's summary"
log "apply --dry-run lists the changes and changes nothing: ok"

# The real thing.
apply
[ $rc -eq 0 ] || fail "apply exited $rc: $(show "$T/apply.err")"
bytes=$((big + 1500003 + 1 + 8 + 17))
assert_eq "tether apply: 7 created, 3 modified, 5 deleted, 0 conflicts ($bytes bytes)" \
	"$(cat "$T/apply.out")" "apply's summary"
[ -s "$T/apply.err" ] && fail "apply said something on stderr: $(show "$T/apply.err")"
same_as_view "after apply"
[ "$(cat "$T/src/ap/new/$odd")" = x ] || fail "the file with an odd name"
[ $(($(stat -c '%b * %B' "$T/src/ap/new/holes"))) -lt 1048576 ] ||
	fail "ap/new/holes is not sparse: $(stat -c '%b blocks of %B' "$T/src/ap/new/holes")"
[ "$(readlink "$T/src/ap/tolink.txt")" = ../somewhere/else ] ||
	fail "ap/tolink.txt is not the symlink"
[ -e "$T/src/ap/gone" ] && fail "ap/gone is still there"
[ -z "$(find "$T/src" -name '.tether-apply-*')" ] ||
	fail "temporary files left behind: $(find "$T/src" -name '.tether-apply-*' | head -n 3)"
log "apply makes the directory the view ($(wc -l <"$T/src.digest") entries): ok"

# Applied and synced, what apply wrote is the version's: nothing is a
# change any more (files, the symlink, deletions, and the directories a
# command made: the view's upper layer lets go of all of it).
sync_it
changes >"$T/changes.out"
[ ! -s "$T/changes.out" ] ||
	fail "changes written back and synced are still listed: $(show "$T/changes.out")"
same_as_view "after apply and sync"
log "applied and synced, the changes are the version's: ok"

# Conflicts: a command changes both.txt, unsynced.txt and other.txt,
# makes fresh.txt and deletes keep/; the agent then edits both.txt and
# syncs, then edits unsynced.txt and adds keep/mine.txt without syncing.
in_view sh -c 'cd ap && printf "by the command\n" >both.txt &&
	printf "by the command\n" >unsynced.txt &&
	printf "command was here\n" >>other.txt && printf "fresh\n" >fresh.txt &&
	rm -r keep' \
	>"$T/cmd.out" 2>&1 || fail "the second command: $(show "$T/cmd.out")"
printf 'by the agent\n' >"$T/src/ap/both.txt"
sync_it
printf 'by the agent, not synced\n' >"$T/src/ap/unsynced.txt"
printf 'mine\n' >"$T/src/ap/keep/mine.txt"
changes >"$T/changes.out"
grep -q '^modified .* ap/both\.txt (conflict)$' "$T/changes.out" ||
	fail "tether changes does not show ap/both.txt as a conflict: $(show "$T/changes.out")"
grep -q '^modified .* ap/other\.txt$' "$T/changes.out" ||
	fail "tether changes does not show ap/other.txt as a plain change: $(show "$T/changes.out")"
changes --json >"$T/changes.json"
grep -q '"path": *"ap/both.txt", *"conflict": *true' "$T/changes.json" ||
	fail "tether changes --json: no conflict on ap/both.txt: $(head -c 600 "$T/changes.json")"
grep -q '"path": *"ap/other.txt", *"conflict": *false' "$T/changes.json" ||
	fail "tether changes --json: ap/other.txt: $(head -c 600 "$T/changes.json")"
log "tether changes shows the conflict: ok"

digest "$T/src" >"$T/before.digest"
apply --dry-run --json
[ $rc -eq 1 ] || fail "apply --dry-run with a conflict exited $rc, not 1"
digest "$T/src" | cmp -s - "$T/before.digest" ||
	fail "apply --dry-run --json changed the directory"
grep -q '"conflicts": *2' "$T/apply.out" ||
	fail "apply --dry-run --json: $(head -c 600 "$T/apply.out")"

apply
[ $rc -eq 1 ] || fail "apply with a conflict exited $rc, not 1: $(show "$T/apply.err")"
for f in both.txt unsynced.txt; do
	grep -qxF "tether: conflict: ap/$f: changed in the workspace and by a command; left as it is" \
		"$T/apply.err" || fail "apply does not name the conflict ap/$f: $(show "$T/apply.err")"
done
grep -q '^tether: apply: ap/keep: not removed: it holds what the node never saw' \
	"$T/apply.err" || fail "apply does not say why ap/keep stays: $(show "$T/apply.err")"
assert_eq 'by the agent' "$(cat "$T/src/ap/both.txt")" "the agent's ap/both.txt after apply"
assert_eq 'by the agent, not synced' "$(cat "$T/src/ap/unsynced.txt")" \
	"the agent's unsynced ap/unsynced.txt after apply"
assert_eq mine "$(cat "$T/src/ap/keep/mine.txt")" "ap/keep/mine.txt after apply"
[ -e "$T/src/ap/keep/f" ] && fail "ap/keep/f was not deleted"
assert_eq "command only|command was here" "$(tr '\n' '|' <"$T/src/ap/other.txt" | sed 's/|$//')" \
	"ap/other.txt after apply"
assert_eq fresh "$(cat "$T/src/ap/fresh.txt")" "ap/fresh.txt after apply"
assert_match '^tether apply: 1 created, 1 modified, 1 deleted, 2 conflicts, 1 failed \([0-9]+ bytes\)$' \
	"$(cat "$T/apply.out")" "apply's summary with a conflict"
log "conflicts (synced or not) are named and left alone, the rest applied: ok"

# A symlink the agent put where a directory was is not followed.
tx reset --node "$NODE_URL" --workspace w >"$T/reset.out" 2>&1 ||
	fail "tether reset: $(show "$T/reset.out")"
in_view sh -c 'printf "in sub\n" >ap/sub/f' >"$T/cmd.out" 2>&1 ||
	fail "the third command: $(show "$T/cmd.out")"
rm -r "$T/src/ap/sub" && ln -s "$T/outside" "$T/src/ap/sub" || fail "ln -s"
apply
[ $rc -eq 1 ] || fail "apply through a symlink exited $rc, not 1: $(show "$T/apply.err")"
grep -q '^tether: apply: ap/sub/f: a symlink in .* on the way' "$T/apply.err" ||
	fail "apply does not name the path it refused: $(show "$T/apply.err")"
[ -z "$(ls -A "$T/outside")" ] || fail "apply wrote through the symlink: $(ls -A "$T/outside")"
log "a symlink on the way is not followed: ok"

# Writeback "sync" (tether.json): after each tether exec --agent in the
# workspace, its changes are in the agent's directory, synced, and no
# longer changes of the view; the command's stdout stays its own.
rm "$T/src/ap/sub" && mkdir "$T/src/ap/sub" || fail "undoing the symlink"
sync_it
tx reset --node "$NODE_URL" --workspace w >"$T/reset.out" 2>&1 ||
	fail "tether reset: $(show "$T/reset.out")"
cat >"$T/tether.json" <<JSON
{
  "backends": { "n": { "type": "node", "url": "$NODE_URL", "writeback": "sync" } },
  "agents": { "list": [ { "id": "w", "backend": "n", "dir": "$T/src" } ] }
}
JSON
out=$(tx exec --config "$T/tether.json" --agent w --workspace w -n -- \
	sh -c 'mkdir -p wb/d && printf "written back\n" >wb/d/f && echo done' \
	2>"$T/wb.err") || fail "exec with writeback sync: $(show "$T/wb.err")"
assert_eq done "$out" "the command's stdout with writeback"
assert_eq "written back" "$(cat "$T/src/wb/d/f" 2>/dev/null)" \
	"wb/d/f in the agent's directory after the exec"
changes >"$T/wb.changes"
[ ! -s "$T/wb.changes" ] ||
	fail "changes left after writeback sync: $(show "$T/wb.changes")"
same_as_view "after writeback sync"
log "writeback sync: the command's changes are the agent's, synced: ok"

# tether apply --agent: the config's node, workspace and dir; refused when
# the backend's writeback is none.
in_view sh -c 'printf "by agent route\n" >wb/routed' >"$T/cmd.out" 2>&1 ||
	fail "the command for apply --agent: $(show "$T/cmd.out")"
sed -i 's/"writeback": "sync"/"writeback": "none"/' "$T/tether.json"
tx apply --config "$T/tether.json" --agent w >"$T/none.out" 2>&1
assert_eq 255 "$?" "apply --agent with writeback none"
assert_match "writeback is none" "$(cat "$T/none.out")" "apply --agent's refusal"
[ -e "$T/src/wb/routed" ] && fail "apply wrote with writeback none"
sed -i 's/"writeback": "none"/"writeback": "review"/' "$T/tether.json"
tx apply --config "$T/tether.json" --agent w >"$T/review.out" 2>&1 ||
	fail "apply --agent with writeback review: $(show "$T/review.out")"
assert_eq "by agent route" "$(cat "$T/src/wb/routed" 2>/dev/null)" \
	"wb/routed after apply --agent"
log "apply --agent: routed by the config, refused for writeback none: ok"

# The barrier: with the agent's dir in the config, tether exec --agent in
# its workspace syncs it first: the command sees an edit made just
# before, without a tether sync; --no-barrier skips that.
printf 'edited before the command\n' >"$T/src/wb/barrier"
out=$(tx exec --config "$T/tether.json" --agent w --workspace w -n -- \
	cat wb/barrier 2>"$T/barrier.err") ||
	fail "exec after an unsynced edit: $(show "$T/barrier.err")"
assert_eq "edited before the command" "$out" "what the command saw"
[ -s "$T/barrier.err" ] && fail "the barrier said something: $(show "$T/barrier.err")"
# The barrier committed the new file ahead of its content: a tether sync
# exec left behind reads it and commits that. Once it is done, nothing
# syncs the directory behind the agent's back.
no_sync_behind() { [ -z "$(procs_matching "sync $T/src --node")" ]; }
wait_until 30 no_sync_behind || fail "the background sync after the barrier did not end"
printf 'edited again\n' >"$T/src/wb/barrier"
out=$(tx exec --config "$T/tether.json" --agent w --workspace w -n \
	--no-barrier -- cat wb/barrier 2>"$T/barrier.err")
assert_eq "edited before the command" "$out" "what a command saw with --no-barrier"
log "the barrier: a command sees the agent's edits made before it: ok"

# With a tether watch of the dir running, the barrier asks the watcher to
# commit what changed instead of syncing the tree itself.
bg "$TETHER" watch --config "$T/tether.json" --agent w >"$T/watch.out" 2>"$T/watch.err"
wpid=$BG_PID
watch_socket() { compgen -G "$TETHER_CACHE/*.watch" >/dev/null; }
wait_until 20 watch_socket ||
	fail "tether watch serves no barrier socket: $(show "$T/watch.err")"
# Its socket takes bad peers in its stride: clients that leave before the
# handshake, garbage, a request it does not serve (answered with an error).
wsock=ipc://$(compgen -G "$TETHER_CACHE/*.watch" | head -n 1)
"$TP_RAW" "$wsock" --connect-only 3 2>"$T/raw.err" ||
	fail "tp-raw --connect-only: $(show "$T/raw.err")"
"$TP_RAW" "$wsock" --garbage 100 --wait-ms 2000 >/dev/null 2>&1 || true
proto=$("$TETHER" --version | sed -n 's/.*(protocol \([0-9]*\)).*/\1/p')
reply=$("$TP_RAW" "$wsock" --version "$proto" 2>"$T/raw.err") ||
	fail "the watcher did not answer an EXEC_LIST: $(show "$T/raw.err")"
case $reply in
"ERROR 95 "*) ;;
*) fail "the watcher answered an EXEC_LIST with: $reply" ;;
esac
for i in 1 2 3; do
	printf 'watched edit %s\n' "$i" >"$T/src/wb/barrier"
	out=$(TETHER_LOG=info tx exec --config "$T/tether.json" --agent w \
		--workspace w -n -- cat wb/barrier 2>"$T/barrier.err") ||
		fail "exec with a watcher: $(show "$T/barrier.err")"
	assert_eq "watched edit $i" "$out" "what the command saw with a watcher"
	grep -q "barrier: the watcher of .* committed version" "$T/barrier.err" ||
		fail "the barrier did not go through the watcher: $(show "$T/barrier.err")"
done
kill -TERM "$wpid"
wait_until 15 pid_gone "$wpid" || fail "tether watch ignored SIGTERM"
log "the barrier through a running tether watch: ok"
