# SPDX-License-Identifier: MIT
# Property round trip of workspace sync: a random tree with every entry kind
# (treegen gen: odd names, modes, mtimes, symlinks, hard links, empty files
# and directories) is synced, then edited at random (treegen mutate) and
# synced again, six times; after every sync the node's copy has exactly the
# source's treegen digest (type, mode, size, mtime, content hash or symlink
# target, hard-link group). Also: a sync without changes sends nothing,
# `tether exec --workspace` runs in the tree, `tether status` counts it, a
# 2 GiB sparse file stays sparse on the node, and (a fixed case the random
# rounds meet only now and then) a hard-link group edited in place keeps the
# mtime of the directory that holds its other name.
# Usage: sync_roundtrip.sh ipc|tcp
# SYNC_SEED=N replays a failed run; SYNC_ROUNDS=N and SYNC_FILES=N make a
# longer one.
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
TREEGEN=$(readlink -f "$TREEGEN")
# treegen makes read-only (0555) directories, which lib.sh's rm -rf cannot
# empty unless it runs as root: open them up before its teardown.
trap '_rc=$?; chmod -R u+rwX "$T" 2>/dev/null; (exit $_rc); _teardown' EXIT
tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache
ROUNDS=${SYNC_ROUNDS:-6}
FILES=${SYNC_FILES:-150}

use_seed

mkdir -p "$T/root" || fail "mkdir $T/root"
start_node "$tr" "$T/root"
WS=$T/root/workspaces

# do_sync DIR WS [ARGS...]: tether sync --json; its one JSON line is in
# $T/sync.json, read with field NAME.
do_sync()
{
	local dir=$1 ws=$2 rc
	shift 2
	tx sync "$dir" --node "$NODE_URL" --workspace "$ws" --json "$@" \
		>"$T/sync.json" 2>"$T/sync.err"
	rc=$?
	[ $rc -eq 0 ] || fail "sync $dir -> $ws: exit $rc: $(show "$T/sync.err")"
	[ "$(wc -l <"$T/sync.json")" -eq 1 ] ||
		fail "sync $ws: expected one JSON line, got: $(show "$T/sync.json")"
}
field()
{
	local v
	v=$(sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$T/sync.json")
	[ -n "$v" ] || fail "sync --json has no field $1: $(show "$T/sync.json")"
	printf '%s' "$v"
}

# digest DIR OUT
digest()
{
	"$TREEGEN" digest "$1" >"$2" 2>"$T/digest.err" ||
		fail "treegen digest $1: $(show "$T/digest.err")"
}

# same_tree SRC WS WHAT: the node's copy of workspace WS has SRC's digest.
same_tree()
{
	digest "$1" "$T/src.digest"
	digest "$WS/$2" "$T/node.digest"
	if ! cmp -s "$T/src.digest" "$T/node.digest"; then
		echo "--- source $1, +++ node $WS/$2 (first differences):" >&2
		diff "$T/src.digest" "$T/node.digest" | head -n 40 >&2
		fail "$3: the node's tree differs from the source"
	fi
}

# status_of WS: the workspace's object from `tether status --json`.
status_of()
{
	local out
	out=$(tx status --node "$NODE_URL" --json 2>"$T/status.err") ||
		fail "tether status: $(show "$T/status.err")"
	printf '%s' "$out" | grep -o "{\"workspace\":\"$1\"[^}]*}" ||
		fail "tether status lists no workspace $1: $out"
}
sfield() { printf '%s' "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p"; }

# What status must count for a digest: entries that are not directories,
# and the bytes of each file once (hard links share theirs).
count_files() { awk '$2 != "d"' "$1" | wc -l; }
count_bytes()
{
	awk '$2 == "f" && ($7 == "-" || $7 == $1) { s += $4 } END { print s + 0 }' "$1"
}

# ---- a hard-link group edited in place ----
# Deterministic, before the random rounds (which meet it only now and
# then): the node relinks the group's other names, and their directories
# must keep the source's mtimes like every other directory.
mkdir -p "$T/hl/a" "$T/hl/b" && echo one >"$T/hl/a/f" &&
	ln "$T/hl/a/f" "$T/hl/b/g" && touch -d @1000000000 "$T/hl/a" "$T/hl/b" ||
	fail "making hl/"
do_sync "$T/hl" hl
same_tree "$T/hl" hl "a hard-link group"
echo two >>"$T/hl/a/f" || fail "appending to hl/a/f"
do_sync "$T/hl" hl
same_tree "$T/hl" hl "a hard-link group edited in place through a/f (b holds its other name b/g)"

# ---- the first sync ----
"$TREEGEN" gen "$T/src" "$SEED" --files "$FILES" 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
do_sync "$T/src" rt
assert_eq 1 "$(field version)" "version after the first sync"
assert_eq false "$(field up_to_date)" "up_to_date of the first sync"
[ "$(field chunks_sent)" -gt 0 ] || fail "the first sync sent no chunks"
same_tree "$T/src" rt "first sync"
[ "$(wc -l <"$T/src.digest")" -gt "$FILES" ] ||
	fail "treegen gen made only $(wc -l <"$T/src.digest") entries"
log "first sync: $(cat "$T/sync.json")"

# ---- nothing changed: nothing sent ----
do_sync "$T/src" rt
assert_eq true "$(field up_to_date)" "up_to_date of a sync without changes"
assert_eq 0 "$(field chunks_sent)" "chunks_sent of a sync without changes"
assert_eq 0 "$(field bytes_sent_raw)" "bytes_sent_raw of a sync without changes"
assert_eq 1 "$(field version)" "version after a sync without changes"
same_tree "$T/src" rt "sync without changes"
# The node's last manifest is not written again. (The stat cache is: the
# tree has files with mtimes in the future, which it never vouches for.)
lasts() { stat -c '%n %i %Y' "$T"/cache/*.last; }
lasts >"$T/lasts.before" || fail "no last manifest in $T/cache"
do_sync "$T/src" rt
lasts >"$T/lasts.after"
cmp -s "$T/lasts.before" "$T/lasts.after" ||
	fail "a sync without changes rewrote the last manifest: $(show "$T/lasts.before") then $(show "$T/lasts.after")"

# ---- exec runs in the workspace and sees every entry ----
tx exec --node "$NODE_URL" --workspace rt -- "$TREEGEN" digest . \
	>"$T/exec.digest" 2>"$T/exec.err" ||
	fail "exec --workspace rt: $(show "$T/exec.err")"
cmp -s "$T/src.digest" "$T/exec.digest" ||
	fail "exec --workspace rt: its cwd's digest differs from the source's: $(diff "$T/src.digest" "$T/exec.digest" | head -n 6 | tr '\n' '|')"

# ---- status: version, files, bytes ----
st=$(status_of rt)
assert_eq 1 "$(sfield "$st" version)" "status version of rt"
assert_eq "$(count_files "$T/src.digest")" "$(sfield "$st" files)" "status files of rt"
assert_eq "$(count_bytes "$T/src.digest")" "$(sfield "$st" bytes)" "status bytes of rt"

# ---- rounds of random edits ----
version=1
cp "$T/src.digest" "$T/prev.digest"
for round in $(seq 1 $ROUNDS); do
	"$TREEGEN" mutate "$T/src" $((SEED + round)) >"$T/mutate.$round.log" \
		2>"$T/mutate.err" || fail "treegen mutate: $(show "$T/mutate.err")"
	digest "$T/src" "$T/now.digest"
	do_sync "$T/src" rt
	if cmp -s "$T/prev.digest" "$T/now.digest"; then
		assert_eq true "$(field up_to_date)" "round $round: up_to_date (no edit took effect)"
	else
		version=$((version + 1))
		assert_eq false "$(field up_to_date)" "round $round: up_to_date"
		# The client knows what the node holds: a delta, not a snapshot.
		assert_eq false "$(field full)" "round $round: full snapshot sent"
	fi
	assert_eq $version "$(field version)" "round $round: version"
	same_tree "$T/src" rt "round $round (edits: $(tr '\n' ';' <"$T/mutate.$round.log" | head -c 1500))"
	cp "$T/src.digest" "$T/prev.digest"
	log "round $round: $(wc -l <"$T/mutate.$round.log") edits, $(field changed) entries changed, $(field chunks_sent) chunks sent"
done
st=$(status_of rt)
assert_eq $version "$(sfield "$st" version)" "status version of rt after $ROUNDS rounds"
assert_eq "$(count_files "$T/src.digest")" "$(sfield "$st" files)" "status files of rt after $ROUNDS rounds"
do_sync "$T/src" rt
assert_eq true "$(field up_to_date)" "up_to_date after the last round"
assert_eq 0 "$(field chunks_sent)" "chunks_sent after the last round"

# ---- a 2 GiB sparse file stays sparse ----
# allocated_kb FILE
allocated_kb() { du -k -- "$1" | cut -f1; }
"$TREEGEN" gen "$T/sparse" $((SEED + 1000)) --files 20 --sparse 2>"$T/gen.err" ||
	fail "treegen gen --sparse: $(show "$T/gen.err")"
src_kb=$(allocated_kb "$T/sparse/sparse-2g.img")
if [ "$src_kb" -ge 65536 ]; then
	log "this file system does not keep sparse files ($src_kb KiB allocated): sparse checks skipped"
	sparse_fs=false
else
	sparse_fs=true
fi
: >"$T/mutate.sparse.0.log"
for round in 0 1 2; do
	if [ $round -gt 0 ]; then
		"$TREEGEN" mutate "$T/sparse" $((SEED + 1000 + round)) \
			>"$T/mutate.sparse.$round.log" 2>"$T/mutate.err" ||
			fail "treegen mutate: $(show "$T/mutate.err")"
	fi
	do_sync "$T/sparse" sparse
	same_tree "$T/sparse" sparse "sparse tree, round $round (edits: $(tr '\n' ';' <"$T/mutate.sparse.$round.log" | head -c 1000))"
	# The sparse file, wherever the edits moved it.
	found=0
	while IFS= read -r -d '' f; do
		found=$((found + 1))
		kb=$(allocated_kb "$f")
		$sparse_fs && [ "$kb" -ge 65536 ] &&
			fail "sparse tree, round $round: the node's copy $f takes $kb KiB on disk (the source's takes $src_kb)"
		log "sparse round $round: node copy of the 2 GiB file takes $kb KiB"
	done < <(find "$WS/sparse" -type f -size +1G -print0)
	[ $round -gt 0 ] || [ $found -eq 1 ] ||
		fail "the node has $found files over 1 GiB after the first sparse sync"
done
do_sync "$T/sparse" sparse
assert_eq true "$(field up_to_date)" "up_to_date of the sparse tree resynced"
assert_eq 0 "$(field chunks_sent)" "chunks_sent of the sparse tree resynced"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving: $(tail -n 20 "$NODE_LOG")"
log "ok"
