# SPDX-License-Identifier: MIT
# Hostile sync input (sync-evil speaks SYNC_* itself): paths with '..', an
# absolute path, an empty or NUL-containing name, a name over 255 bytes,
# duplicate entries, a missing parent, a file below a symlink, hard links out
# of the tree or to nothing, a chunk whose bytes do not match its id, root
# hashes that do not match, a commit before the chunks, offer pieces out of
# order; and symlinks a command plants in the workspace. Each is refused with one line naming the cause, nothing escapes the
# workspace, the workspace and its version stay exactly as they were, the
# chunk store takes nothing from a refused put, and the node keeps serving.
# Usage: sync_hostile.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

: "${SYNC_EVIL:?SYNC_EVIL must name the sync-evil tool}"
: "${TREEGEN:?TREEGEN must name the treegen tool}"
SYNC_EVIL=$(readlink -f "$SYNC_EVIL")
TREEGEN=$(readlink -f "$TREEGEN")
# treegen makes read-only (0555) directories, which lib.sh's rm -rf cannot
# empty unless it runs as root: open them up before its teardown.
trap '_rc=$?; chmod -R u+rwX "$T" 2>/dev/null; (exit $_rc); _teardown' EXIT
tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" "$T/outside" || fail "mkdir"
start_node "$tr" "$T/root"
WS=$T/root/workspaces

# do_sync DIR WS: tether sync --json into $T/sync.json.
do_sync()
{
	local rc
	tx sync "$1" --node "$NODE_URL" --workspace "$2" --json \
		>"$T/sync.json" 2>"$T/sync.err"
	rc=$?
	[ $rc -eq 0 ] || fail "sync $1 -> $2: exit $rc: $(show "$T/sync.err")"
}
digest()
{
	"$TREEGEN" digest "$1" >"$2" 2>"$T/digest.err" ||
		fail "treegen digest $1: $(show "$T/digest.err")"
}
# status_field NAME: a field of workspace ev in `tether status --json`.
status_field()
{
	local out
	out=$(tx status --node "$NODE_URL" --json 2>"$T/status.err") ||
		fail "tether status: $(show "$T/status.err")"
	printf '%s' "$out" | grep -o '{"workspace":"ev"[^}]*}' |
		sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p"
}
store_state()
{
	find "$T/root/.tether/stores" -type f -printf '%P %s\n' | sort
}

"$TREEGEN" gen "$T/src" 4242 --files 30 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
# Plain names for the planted-symlink case at the end.
mkdir -p "$T/src/plain/sub" && echo a >"$T/src/plain/a" &&
	echo c >"$T/src/plain/sub/c" || fail "making plain/"
do_sync "$T/src" ev
digest "$T/src" "$T/src.digest"
digest "$WS/ev" "$T/before.digest"
cmp -s "$T/src.digest" "$T/before.digest" || fail "the first sync is not exact"
version=$(status_field version)
assert_eq 1 "$version" "version after the first sync"
[ -n "$(store_state)" ] ||
	fail "no chunk store under $T/root/.tether/stores after a sync (layout changed?)"

# unchanged CASE STORE_TOO: the node serves, the workspace has the same
# digest and version, nothing was written outside it, and (STORE_TOO=1)
# the chunk store holds the same bytes.
unchanged()
{
	node_alive "$NODE_PID" "$NODE_URL" ||
		fail "$1: the node stopped serving: $(tail -n 20 "$NODE_LOG")"
	digest "$WS/ev" "$T/after.digest"
	cmp -s "$T/before.digest" "$T/after.digest" ||
		fail "$1: the workspace changed: $(diff "$T/before.digest" "$T/after.digest" | head -n 6 | tr '\n' '|')"
	assert_eq "$version" "$(status_field version)" "$1: the workspace's version"
	local f
	for f in "$WS/sync-evil-escape" "$T/root/sync-evil-escape" \
		"$T/escape-abs" "$T/outside/pwned" "$WS/no-such-dir"; do
		[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$1: $f was created"
	done
	if [ "$2" = 1 ]; then
		store_state >"$T/store.after"
		cmp -s "$T/store.before" "$T/store.after" ||
			fail "$1: the chunk store changed: $(diff "$T/store.before" "$T/store.after" | tr '\n' '|')"
	fi
}

# evil CASE ARG STORE_TOO REGEX...: run the case; every REGEX must match a
# line of its output, and every line must be one step's reply.
evil()
{
	local c=$1 arg=$2 store=$3 rc re
	shift 3
	store_state >"$T/store.before"
	timeout -k 5 90 "$SYNC_EVIL" "$NODE_URL" ev "$c" ${arg:+"$arg"} \
		>"$T/evil.out" 2>"$T/evil.err"
	rc=$?
	[ $rc -eq 0 ] || fail "$c: sync-evil exit $rc: $(show "$T/evil.err") $(show "$T/evil.out")"
	for re in "$@"; do
		grep -Eq -- "$re" "$T/evil.out" ||
			fail "$c: expected a line matching /$re/, got: $(show "$T/evil.out")"
	done
	! grep -Evq '^SYNC_(OFFER|PUT|COMMIT): ' "$T/evil.out" ||
		fail "$c: a reply that is not one line: $(show "$T/evil.out")"
	unchanged "$c" "$store"
	log "$c: $(tr '\n' '|' <"$T/evil.out")"
}

# A refused offer leaves no session to commit.
gone='^SYNC_COMMIT: ERROR ENOENT .*unknown or not offered'

# The control: the same encoder's well-formed offer is accepted (and never
# committed), so the refusals below are about what each case changes.
evil valid '' 1 '^SYNC_OFFER: SYNC_WANT total=2$'

evil dotdot '' 1 "^SYNC_OFFER: ERROR EINVAL .*'\.\.' component" "$gone"
evil absolute "$T/escape-abs" 1 '^SYNC_OFFER: ERROR EINVAL .*absolute' "$gone"
evil empty-name '' 1 '^SYNC_OFFER: ERROR EINVAL .*empty component' "$gone"
evil nul '' 1 '^SYNC_OFFER: ERROR EINVAL .*contains NUL' "$gone"
evil long-name '' 1 '^SYNC_OFFER: ERROR EINVAL .*component of 256 bytes, over 255' "$gone"
evil duplicate '' 1 '^SYNC_OFFER: ERROR EINVAL .*duplicate path' "$gone"
evil no-parent '' 1 '^SYNC_OFFER: ERROR EINVAL .*parent directory .* is missing' "$gone"
evil through-symlink "$T/outside" 1 '^SYNC_OFFER: ERROR EINVAL .*parent .* is not a directory' "$gone"
evil hardlink-dotdot '' 1 "^SYNC_OFFER: ERROR EINVAL .*hardlink target: .*'\.\.' component" "$gone"
evil hardlink-missing '' 1 '^SYNC_OFFER: ERROR EINVAL .*target .* is missing' "$gone"
evil del-dotdot '' 1 "^SYNC_OFFER: ERROR EINVAL .*'\.\.' component" "$gone"
evil root-offer '' 1 '^SYNC_OFFER: ERROR EINVAL .*root hash mismatch' "$gone"
evil offer-order '' 1 '^SYNC_OFFER: ERROR EPROTO .*does not continue' \
	'^SYNC_COMMIT: ERROR ENOENT '
evil offer-start '' 1 '^SYNC_OFFER: ERROR EPROTO .*does not continue' \
	'^SYNC_COMMIT: ERROR ENOENT '
# A chunk whose bytes do not match its id: the whole pack is refused, so
# its good chunk is not stored either and the commit misses both.
evil bad-chunk '' 1 '^SYNC_PUT: ERROR EBADMSG .*pack record 1: .*do not match' \
	'^SYNC_COMMIT: ERROR ENOENT .*2 of 2 chunks still missing'
evil early-commit '' 1 '^SYNC_COMMIT: ERROR ENOENT .*2 of 2 chunks still missing'
# A COMMIT whose root hash is not the offer's: refused, naming both.
evil root-commit '' 0 '^SYNC_COMMIT: ERROR EINVAL .*commit of root [0-9a-f]{32} refused: the offer gives root [0-9a-f]{32}'

# No offer outlives its client: nothing is pending once they are gone.
lag_zero() { [ "$(status_field lag_ms)" = 0 ]; }
wait_until 20 lag_zero || fail "workspace ev still has a pending offer: lag_ms $(status_field lag_ms)"

# A command on the node plants symlinks out of the workspace where the
# tree has a file and a directory; the next sync replaces them and writes
# nothing through them.
echo untouched >"$T/outside/victim" || fail "making the victim"
tx exec --node "$NODE_URL" --workspace ev -- sh -c \
	'rm -rf plain/a plain/sub && ln -s "$1/victim" plain/a && ln -s "$1" plain/sub' \
	sh "$T/outside" >"$T/exec.out" 2>&1 ||
	fail "planting symlinks: $(show "$T/exec.out")"
[ -L "$WS/ev/plain/sub" ] || fail "the command did not plant its symlink"
echo changed >"$T/src/plain/a" && echo new >"$T/src/plain/sub/new" ||
	fail "editing plain/"
do_sync "$T/src" ev
assert_eq untouched "$(cat "$T/outside/victim")" "the file a planted symlink named"
[ ! -e "$T/outside/new" ] || fail "the sync wrote through a planted directory symlink"
[ -f "$WS/ev/plain/a" ] && [ ! -L "$WS/ev/plain/a" ] ||
	fail "plain/a on the node is not a regular file"
assert_eq changed "$(cat "$WS/ev/plain/a")" "plain/a on the node"
[ -d "$WS/ev/plain/sub" ] && [ ! -L "$WS/ev/plain/sub" ] ||
	fail "plain/sub on the node is not a directory"
assert_eq new "$(cat "$WS/ev/plain/sub/new")" "plain/sub/new on the node"
version=$((version + 1))

# The workspace still syncs, exactly.
"$TREEGEN" mutate "$T/src" 4243 >"$T/mutate.log" 2>"$T/mutate.err" ||
	fail "treegen mutate: $(show "$T/mutate.err")"
do_sync "$T/src" ev
digest "$T/src" "$T/src.digest"
digest "$WS/ev" "$T/node.digest"
cmp -s "$T/src.digest" "$T/node.digest" ||
	fail "sync after the hostile cases is not exact: $(diff "$T/src.digest" "$T/node.digest" | head -n 6 | tr '\n' '|')"
assert_eq $((version + 1)) "$(status_field version)" "version after the last sync"
log "ok"
