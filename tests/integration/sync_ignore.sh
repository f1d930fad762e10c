# SPDX-License-Identifier: MIT
# Ignore rules in a real sync, and in tether watch: nested .gitignore files
# with negation and directory-only patterns, a .tetherignore, the rule files
# themselves synced; a rule that changes takes effect on the next sync.
# Usage: sync_ignore.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache
src=$T/src
mkdir -p "$T/root" "$src/sub/deep" "$src/build" "$src/sub/build.d" ||
	fail mkdir
start_node "$tr" "$T/root"
node=$T/root/workspaces/w

printf '*.o\nbuild/\n' >"$src/.gitignore"
printf '!keep.o\nsecret\n' >"$src/sub/.gitignore"
printf 'big.bin\n' >"$src/.tetherignore"
for f in a.c a.o build/out sub/keep.o sub/drop.o sub/secret sub/deep/secret \
	sub/build.d/x big.bin sub/big.bin; do
	printf '%s\n' "$f" >"$src/$f" || fail "writing $f"
done

sync_it()
{
	tx sync "$src" --node "$NODE_URL" --workspace w >/dev/null 2>"$T/sync.err" ||
		fail "sync: $(show "$T/sync.err")"
}
# present PATH... / absent PATH...: on the node.
present() { for p; do [ -e "$node/$p" ] || fail "$p is missing on the node"; done; }
absent() { for p; do [ ! -e "$node/$p" ] || fail "$p reached the node"; done; }

sync_it
present a.c .gitignore .tetherignore sub/.gitignore sub/keep.o sub/build.d/x
absent a.o build sub/drop.o sub/secret sub/deep/secret big.bin sub/big.bin
log "nested .gitignore, negation, directory-only, .tetherignore: ok"

# An ignored file that changes is still not sent; a rule that goes away
# lets what it hid through.
printf 'changed\n' >"$src/a.o"
printf '*.o\n' >"$src/.gitignore"
sync_it
present build/out
absent a.o
rm "$src/.tetherignore"
sync_it
present big.bin sub/big.bin
absent .tetherignore a.o
log "changed rules take effect: ok"

# The same through tether watch: a new ignored file stays away, a new
# rule file is honoured.
"$TETHER" watch "$src" --node "$NODE_URL" --workspace w --json \
	>"$T/watch.out" 2>"$T/watch.err" &
watch_pid=$!
first_sync() { [ -s "$T/watch.out" ]; }
wait_until 30 first_sync || fail "tether watch did not sync: $(show "$T/watch.err")"
printf 'x\n' >"$src/new.o"
printf 'y\n' >"$src/new.c"
arrived() { [ -e "$node/new.c" ]; }
wait_until 30 arrived || fail "new.c did not reach the node through watch"
absent new.o
printf 'z\n' >"$src/sub/deep/later.tmp"
printf '*.tmp\n' >"$src/sub/deep/.gitignore"
printf 'w\n' >"$src/sub/deep/after.c"
rule_arrived() { [ -e "$node/sub/deep/.gitignore" ] && [ -e "$node/sub/deep/after.c" ]; }
wait_until 30 rule_arrived || fail "the new rule file did not reach the node"
gone_tmp() { [ ! -e "$node/sub/deep/later.tmp" ]; }
wait_until 30 gone_tmp || fail "a file a new rule ignores stayed on the node"
kill -TERM "$watch_pid"
wait_exit "$watch_pid" 10 || fail "tether watch exited $? on SIGTERM"
log "watch: ignored files stay away, a new rule file applies: ok"
