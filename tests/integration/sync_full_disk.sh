# SPDX-License-Identifier: MIT
# A full disk on the node is one clear error and loses nothing: the node
# runs on a 48 MiB tmpfs (in a private mount namespace, so nothing outside
# the test sees it); a sync whose chunks do not fit, and one whose files do
# not, each fail with "No space left on device", the previous version stays
# intact, and the node keeps serving: once the source shrinks, the next sync
# succeeds, the node having collected the chunks nothing needs.
# Usage: sync_full_disk.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache

command -v unshare >/dev/null || { echo "SKIP: no unshare" >&2; exit 77; }
unshare --mount true 2>/dev/null ||
	{ echo "SKIP: cannot create a mount namespace" >&2; exit 77; }

# The node, in its own mount namespace with a small tmpfs as its root.
root=$T/root
mkdir -p "$root" || fail mkdir
cat >"$T/node-on-tmpfs" <<EOF
#!/bin/sh
exec unshare --mount --propagation private sh -c \
	'mount -t tmpfs -o size=48m tmpfs "$root" && exec "\$0" "\$@"' \
	"$TETHER" "\$@"
EOF
chmod +x "$T/node-on-tmpfs"
real_tether=$TETHER
TETHER_LOG=info TETHER=$T/node-on-tmpfs start_node "$tr" "$root"
TETHER=$real_tether
# The node's view of its root (the host sees the empty directory below).
view=/proc/$NODE_PID/root$root/workspaces/w

src=$T/src
mkdir -p "$src/d" || fail mkdir
head -c 2000000 /dev/urandom >"$src/d/data"
printf 'v1\n' >"$src/note"
tx sync "$src" --node "$NODE_URL" --workspace w >/dev/null 2>"$T/sync.err" ||
	fail "first sync: $(show "$T/sync.err")"
v1=$(tree_digest "$view")
[ "$v1" = "$(tree_digest "$src")" ] ||
	fail "version 1 differs from the source: $(diff <(tree_digest "$src") <(echo "$v1") | head -5 | tr "\n" " ")"

check_refused()
{
	local what=$1 rc
	tx sync "$src" --node "$NODE_URL" --workspace w >/dev/null 2>"$T/full.err"
	rc=$?
	assert_eq 255 "$rc" "exit code of a sync that $what"
	assert_eq 1 "$(wc -l <"$T/full.err")" "error lines ($(show "$T/full.err"))"
	assert_match 'No space left on device' "$(cat "$T/full.err")" \
		"error of a sync that $what"
	node_alive "$NODE_PID" "$NODE_URL" || fail "the node died: $what"
	[ "$(tree_digest "$view")" = "$v1" ] ||
		fail "the committed version changed after a sync that $what"
	[ -z "$(ls -A "$view/../.stage-w" 2>/dev/null)" ] ||
		fail "staged files left behind after a sync that $what"
	assert_match '"version":1,' \
		"$(tx status --node "$NODE_URL" --json 2>&1)" "status after: $what"
	log "refused: $what ($(cat "$T/full.err"))"
}

# Chunks that do not fit in the store. What the refused sync stored stays
# (a resumed sync would not send it again) until the node needs the room.
printf 'v2\n' >"$src/note"
head -c 80000000 /dev/urandom >"$src/d/huge"
check_refused "stores more than the disk holds"

# Chunks that fit (a repeated line compresses a thousandfold) but files
# that do not (not zeros, so no holes). The node first collects the chunks
# of the refused sync above to make room for these.
rm "$src/d/huge"
head -c 60000000 <(yes 'the same line, again and again') >"$src/d/text" ||
	fail "writing text"
check_refused "writes more files than the disk holds"

# The source shrinks: the next sync fits, and nothing was left behind.
rm "$src/d/text"
printf 'v3\n' >"$src/note"
tx sync "$src" --node "$NODE_URL" --workspace w >/dev/null 2>"$T/sync.err" ||
	fail "sync after freeing space: $(show "$T/sync.err")"
[ "$(tree_digest "$view")" = "$(tree_digest "$src")" ] ||
	fail "the tree differs from the source after space was freed"
assert_match '"version":2,' "$(tx status --node "$NODE_URL" --json 2>&1)" \
	"status after the sync that fit"
grep -q 'garbage collection: [1-9][0-9]* chunks dropped' "$NODE_LOG" ||
	fail "the node never collected the refused sync's chunks: $(show "$NODE_LOG")"
log "sync after freeing space: ok ($(grep -m1 'garbage collection' "$NODE_LOG"))"
