# SPDX-License-Identifier: MIT
# tether watch keeps the node's copy current: an edit shows up within a
# deadline, a burst of 10,000 new files is all there at the end, deletions
# and renames follow, and a watcher that runs out of inotify watches says so
# once and still delivers changes (by rescanning).
# Usage: sync_watch.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache

same() { [ "$(tree_digest "$1")" = "$(tree_digest "$2")" ]; }

src=$T/src
root=$T/root
mkdir -p "$src/a/b" "$root" || fail mkdir
printf 'hello\n' >"$src/a/b/file"
start_node "$tr" "$root"
node=$root/workspaces/w

"$TETHER" watch "$src" --node "$NODE_URL" --workspace w --json \
	>"$T/watch.out" 2>"$T/watch.err" &
watch_pid=$!
_PIDS+=("$watch_pid")
wait_until 30 grep -q '"version":1,' "$T/watch.out" ||
	fail "no first sync within 30 s: $(show "$T/watch.err")"
same "$src" "$node" || fail "the first sync differs from the source"
log "first sync: ok"

# An edit: visible within the deadline.
printf 'token-%s\n' "$RANDOM" >"$src/a/b/file"
has_token() { cmp -s "$src/a/b/file" "$node/a/b/file"; }
wait_until 10 has_token || fail "an edit did not reach the node within 10 s"
log "edit: ok"

# A burst of 10,000 new files in a new directory.
mkdir "$src/burst" || fail mkdir
(cd "$src/burst" && seq -f 'f%g' 10000 | xargs touch) ||
	fail "creating 10,000 files"
burst_done() { [ "$(find "$node/burst" -type f 2>/dev/null | wc -l)" = 10000 ]; }
wait_until 90 burst_done ||
	fail "$(find "$node/burst" -type f | wc -l) of 10000 files reached the node within 90 s"
wait_until 30 same "$src" "$node" || fail "the tree differs after the burst"
log "burst of 10000 files: ok"

# A rename of a directory, a deletion, a file that becomes a directory.
mv "$src/a" "$src/renamed"
rm -rf "$src/burst"
printf 'x\n' >"$src/turns"
wait_until 30 same "$src" "$node" || fail "the tree differs after renames"
rm "$src/turns" && mkdir "$src/turns" && printf 'in\n' >"$src/turns/f"
wait_until 30 same "$src" "$node" ||
	fail "the tree differs after a file became a directory"
# And back: a directory with contents becomes a file, a symlink a
# directory, and a name sorting between a directory and its children
# ("renamed!" between "renamed" and "renamed/...") appears.
rm -rf "$src/turns" && printf 'file again\n' >"$src/turns"
ln -s nowhere "$src/link" && sleep 0.2 && rm "$src/link" && mkdir "$src/link"
printf 'between\n' >"$src/renamed!"
wait_until 30 same "$src" "$node" ||
	fail "the tree differs after a directory became a file"
log "rename, delete, type changes: ok"
kill -TERM "$watch_pid"
wait_exit "$watch_pid" 10 || fail "tether watch exited $? on SIGTERM"
# The burst may overflow the kernel's event queue: that is said once and
# answered with a rescan. Nothing else may be said.
grep -v 'inotify event queue overflowed' "$T/watch.err" >"$T/watch.other"
[ ! -s "$T/watch.other" ] || fail "tether watch said: $(show "$T/watch.other")"
[ "$(grep -c . "$T/watch.err")" -le 1 ] ||
	fail "tether watch warned more than once: $(show "$T/watch.err")"

# Out of inotify watches: inside a user namespace of its own (where the
# limit is its own: nothing outside changes), a watcher allowed 4 watches
# over 12 directories warns once and still delivers an edit deep inside.
if unshare --user --map-root-user true 2>/dev/null; then
	lim=$T/lim
	mkdir -p "$lim/1/2/3/4/5/6/7/8/9/10/11" || fail mkdir
	printf 'v1\n' >"$lim/1/2/3/4/5/6/7/8/9/10/11/deep"
	unshare --user --map-root-user sh -c \
		'echo 4 >/proc/sys/user/max_inotify_watches && exec "$0" "$@"' \
		"$TETHER" watch "$lim" --node "$NODE_URL" --workspace lim --json \
		>"$T/lim.out" 2>"$T/lim.err" &
	lim_pid=$!
	_PIDS+=("$lim_pid")
	wait_until 30 grep -q '"version":1,' "$T/lim.out" ||
		fail "limited watcher: no first sync: $(show "$T/lim.err")"
	printf 'v2\n' >"$lim/1/2/3/4/5/6/7/8/9/10/11/deep"
	deep_ok() { cmp -s "$lim/1/2/3/4/5/6/7/8/9/10/11/deep" \
		"$root/workspaces/lim/1/2/3/4/5/6/7/8/9/10/11/deep"; }
	wait_until 20 deep_ok ||
		fail "limited watcher: the deep edit did not arrive: $(show "$T/lim.err")"
	assert_eq 1 "$(grep -c 'watch limit' "$T/lim.err")" \
		"warnings about the watch limit ($(show "$T/lim.err"))"
	log "watch limit: $(cat "$T/lim.err")"
	kill -TERM "$lim_pid"
	wait_exit "$lim_pid" 10 >/dev/null
else
	log "no user namespaces here: the watch-limit case is skipped"
fi
