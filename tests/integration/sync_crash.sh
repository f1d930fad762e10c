# SPDX-License-Identifier: MIT
# Interrupted syncs end in a correct tree: a node killed (-9) at each step of
# a commit comes back with the old version or the new one, never a mix, and
# the next sync completes without resending stored chunks; a client killed
# mid-transfer resumes; a node killed at a random moment of a big sync comes
# back consistent.
# Usage: sync_crash.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache

json_field() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }

sync_json()
{
	tx sync "$src" --node "$NODE_URL" --workspace w --json 2>"$T/sync.err"
}

src=$T/src
mkdir -p "$src/dir/sub" "$src/gone/deep" || fail mkdir
head -c 3000000 /dev/urandom >"$src/big.bin"
printf 'one\n' >"$src/dir/a.txt"
printf 'keep\n' >"$src/dir/sub/keep"
printf 'x\n' >"$src/gone/deep/x"
ln -s dir/a.txt "$src/link"
chmod 755 "$src/dir/a.txt"

base=$T/base
mkdir -p "$base" || fail mkdir
start_node "$tr" "$base"
out=$(sync_json) || fail "first sync: $(show "$T/sync.err")"
assert_eq 1 "$(json_field version "$out")" "first version"
stop_node "$NODE_PID" TERM
v1=$(tree_digest "$base/workspaces/w")
[ "$v1" = "$(tree_digest "$src")" ] || fail "version 1 differs from the source"
# A node stopped with SIGTERM folded its log: its restart redoes nothing.
start_node "$tr" "$base"
! grep -q redoing "$NODE_LOG" ||
	fail "a node stopped with SIGTERM redid a commit at restart: $(show "$NODE_LOG")"
stop_node "$NODE_PID" TERM
log "a node stopped with SIGTERM restarts with nothing to redo: ok"

# Version 2: edits, a deletion of a whole directory, a new file, a rename, a
# mode change, a file turned into a directory.
head -c 1000000 /dev/urandom >>"$src/big.bin"
printf 'two\n' >"$src/dir/a.txt"
rm -rf "$src/gone"
head -c 500000 /dev/urandom >"$src/new.bin"
mv "$src/dir/sub/keep" "$src/dir/kept"
chmod 700 "$src/dir"
rm "$src/link"
mkdir "$src/link" && printf 'in\n' >"$src/link/f"
v2=$(tree_digest "$src")

# Each failpoint: the node dies there during the commit of version 2.
# Before the journal the old version must survive; from the journal on,
# the restarted node finishes the new one.
for fp in tree-staging tree-journaled tree-deleted tree-applied; do
	root=$T/root-$fp
	cp -a "$base" "$root" || fail "copy of the node's root"
	TETHER_FAILPOINT=$fp start_node "$tr" "$root"
	sync_json >/dev/null
	rc=$?
	assert_eq 255 "$rc" "sync against a node dying at $fp"
	wait_until 20 pid_gone "$NODE_PID" ||
		fail "node with failpoint $fp still runs"
	stop_node "$NODE_PID" KILL
	start_node "$tr" "$root"
	if [ "$fp" = tree-staging ]; then
		! grep -q redoing "$NODE_LOG" ||
			fail "$fp: a commit that never reached the log was redone"
	else
		grep -q 'redoing version 2' "$NODE_LOG" ||
			fail "$fp: the restarted node did not redo version 2: $(show "$NODE_LOG")"
	fi
	got=$(tree_digest "$root/workspaces/w")
	st=$(tx status --node "$NODE_URL" --json 2>"$T/status.err")
	if [ "$fp" = tree-staging ]; then
		[ "$got" = "$v1" ] ||
			fail "$fp: the tree is not version 1 after the crash"
		assert_match '"version":1,' "$st" "$fp: status"
	else
		[ "$got" = "$v2" ] ||
			fail "$fp: the tree is not version 2 after recovery: $(diff <(echo "$v2") <(echo "$got") | head -5)"
		assert_match '"version":2,' "$st" "$fp: status"
	fi
	[ -z "$(ls -A "$root/workspaces/.stage-w" 2>/dev/null)" ] ||
		fail "$fp: staged files left behind"
	out=$(sync_json) || fail "$fp: sync after restart: $(show "$T/sync.err")"
	assert_eq 0 "$(json_field chunks_sent "$out")" \
		"$fp: chunks sent again after restart"
	[ "$(tree_digest "$root/workspaces/w")" = "$v2" ] ||
		fail "$fp: the tree differs from the source after the next sync"
	stop_node "$NODE_PID" TERM
	rm -rf "$root"
	log "node killed at $fp: ok"
done

# A client killed in the middle of a transfer: the next sync resumes and
# sends only what the node had not stored.
big=$T/big
mkdir -p "$big" || fail mkdir
for i in $(seq 1 24); do
	head -c 4000000 /dev/urandom >"$big/f$i" || fail "writing $big/f$i"
done
root=$T/root-client
mkdir -p "$root" || fail mkdir
start_node "$tr" "$root"
"$TETHER" sync "$big" --node "$NODE_URL" --workspace b --json \
	>"$T/killed.out" 2>"$T/killed.err" &
client=$!
_PIDS+=("$client")
stored() { du -sk "$root/.tether/stores/b" 2>/dev/null | cut -f1; }
enough() { [ "$(stored)" -ge 20000 ] 2>/dev/null; }
wait_until 60 enough || fail "no chunks stored within 60 s ($(stored) KiB)"
kill -KILL "$client"
wait "$client" 2>/dev/null
out=$(tx sync "$big" --node "$NODE_URL" --workspace b --json 2>"$T/sync.err") ||
	fail "sync after the client was killed: $(show "$T/sync.err")"
sent=$(json_field bytes_sent_raw "$out")
[ "$sent" -lt 96000000 ] ||
	fail "the resumed sync sent $sent bytes: everything again"
[ "$(tree_digest "$root/workspaces/b")" = "$(tree_digest "$big")" ] ||
	fail "the tree differs after the resumed sync"
log "client killed mid-transfer: resumed sending $sent of 96000000 bytes"

# The node killed at a random moment of a big sync (here: once some chunks
# are stored): after a restart the tree is the old version (none) or the
# new one, and the next sync completes it.
printf 'changed\n' >"$big/f1"
head -c 4000000 /dev/urandom >"$big/f25"
before=$(tree_digest "$root/workspaces/b")
mark=$(stored)
"$TETHER" sync "$big" --node "$NODE_URL" --workspace b >/dev/null 2>&1 &
client=$!
_PIDS+=("$client")
grown() { [ "$(stored)" -gt "$mark" ] 2>/dev/null; }
wait_until 60 grown || fail "no new chunks stored within 60 s"
stop_node "$NODE_PID" KILL
wait "$client" 2>/dev/null
start_node "$tr" "$root"
got=$(tree_digest "$root/workspaces/b")
[ "$got" = "$before" ] || [ "$got" = "$(tree_digest "$big")" ] ||
	fail "after kill -9 the tree is neither the old nor the new version"
out=$(tx sync "$big" --node "$NODE_URL" --workspace b --json 2>"$T/sync.err") ||
	fail "sync after the node was killed: $(show "$T/sync.err")"
[ "$(tree_digest "$root/workspaces/b")" = "$(tree_digest "$big")" ] ||
	fail "the tree differs after the sync that followed kill -9"
log "node killed mid-sync: ok"
