# SPDX-License-Identifier: MIT
# tetherfs, the writable view (tether node --view): `tether exec
# --workspace` runs in the view; every write a command makes lands in the
# view's upper layer, never in the agent's workspace nor in the synced
# version: POSIX checks through the view (fsops posix), a seeded random
# exerciser against a plain copy (fsops random), git, and a real C build
# of this project; `tether changes` lists what commands changed, a new
# version of the workspace shows under the changes, the changes survive a
# node restart, a change the agent synced as it is stops being one, and
# `tether reset` discards them.
# Usage: fs_cow.sh   (SYNC_SEED=N replays a failed run)
. "$(dirname "$0")/lib.sh"

: "${TREEGEN:?TREEGEN must name the treegen tool}"
: "${FSOPS:?FSOPS must name the fsops tool}"
TREEGEN=$(readlink -f "$TREEGEN")
FSOPS=$(readlink -f "$FSOPS")
SRCROOT=$(readlink -f "$(dirname "$0")/../..")
[ -c /dev/fuse ] || { log "no /dev/fuse: skipped"; exit 77; }
view=$T/root/views/w
trap '_rc=$?; umount -l "$view" 2>/dev/null; chmod -R u+rwX "$T/src" "$T/plain" 2>/dev/null; (exit $_rc); _teardown' EXIT
use_seed
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" || fail "mkdir"
NODE_ARGS=(--view)
start_node ipc "$T/root"

sync_it()
{
	tx sync "$T/src" --node "$NODE_URL" --workspace w >/dev/null \
		2>"$T/sync.err" || fail "sync: $(show "$T/sync.err")"
}
# in_view CMD...: run CMD through tether exec in the workspace.
in_view()
{
	tx exec --node "$NODE_URL" --workspace w -- "$@"
}
digest() { "$TREEGEN" digest "$1" 2>"$T/d.err" || fail "treegen digest $1: $(show "$T/d.err")"; }
changes() { tx changes --node "$NODE_URL" --workspace w 2>"$T/ch.err" || fail "tether changes: $(show "$T/ch.err")"; }

"$TREEGEN" gen "$T/src" "$SEED" --files 150 2>"$T/gen.err" ||
	fail "treegen gen: $(show "$T/gen.err")"
sync_it
digest "$T/src" >"$T/src.digest"
wait_until 20 mountpoint -q "$view" || fail "no view at $view: $(show "$NODE_LOG")"

# Commands run in the view.
where=$(in_view pwd) || fail "exec pwd: $where"
assert_eq "$view" "$where" "the cwd of a command of workspace w"
log "commands run in the view: ok"

# POSIX behaviour through the view, from a command run by tether exec.
in_view "$FSOPS" posix . >"$T/posix.out" 2>&1 ||
	fail "fsops posix in the view: $(grep -v '^ok' "$T/posix.out" | tr '\n' '|' | head -c 1500)"
log "POSIX checks through the view: $(grep -c '^ok' "$T/posix.out") passed"

# The same random operations in the view and in a plain copy of the tree,
# compared after every step.
cp -a "$T/src" "$T/plain" || fail "cp -a src plain"
"$FSOPS" random "$view" "$T/plain" "$SEED" 1500 >"$T/random.out" 2>&1 ||
	fail "fsops random: $(tail -n 4 "$T/random.out" | tr '\n' '|')"
log "$(tail -n 1 "$T/random.out")"

# None of it reached the agent's workspace.
digest "$T/src" | cmp -s - "$T/src.digest" ||
	fail "the agent's workspace changed under the commands' writes"
log "the agent's workspace is untouched: ok"

# git inside the view.
in_view sh -c 'set -e; mkdir repo.t; cd repo.t; git init -q; git config user.email t@t;
	git config user.name t; echo one >a; mkdir d; echo two >d/b; git add .;
	git commit -qm first; echo three >>a; git commit -qam second;
	git status --porcelain; git log --oneline | wc -l' >"$T/git.out" 2>&1 ||
	fail "git in the view: $(show "$T/git.out")"
assert_eq "2" "$(cat "$T/git.out")" "git status (clean) and log length in the view"
log "git init, add, commit, status, log in the view: ok"

# A real C build of this project, in the view.
mkdir -p "$T/src/proj"
tar -C "$SRCROOT" --exclude='./build*' --exclude=./.git -cf - . |
	tar -C "$T/src/proj" -xf - || fail "copying the project's sources"
sync_it
TX_DEADLINE=600 in_view sh -c 'cd proj && meson setup -Dtests=disabled b >/dev/null &&
	ninja -C b cli/tether >/dev/null && b/cli/tether --version' \
	>"$T/build.out" 2>&1 || fail "building tether in the view: $(tail -n 5 "$T/build.out" | tr '\n' '|')"
assert_match '^tether ' "$(cat "$T/build.out")" "the tether built in the view"
[ -e "$T/src/proj/b" ] && fail "the build's outputs appeared in the agent's workspace"
changes >"$T/changes.out"
grep -q '^created .* proj/b/cli/tether$' "$T/changes.out" ||
	fail "tether changes does not list the built binary: $(grep proj/b "$T/changes.out" | head -n 5 | tr '\n' '|')"
grep -q '^created .* repo.t/a$' "$T/changes.out" ||
	fail "tether changes does not list repo.t/a: $(head -n 5 "$T/changes.out" | tr '\n' '|')"
log "a C build in the view; its outputs are in tether changes only: ok"

# The agent edits and syncs: the view shows the new version under the
# commands' changes.
printf 'agent edit\n' >"$T/src/agent-new"
sync_it
[ "$(cat "$view/agent-new")" = "agent edit" ] ||
	fail "a file the agent added after the commands is not in the view"
[ -x "$view/proj/b/cli/tether" ] || fail "the build output left the view after a new version"
log "a new version shows under the changes: ok"

# A change the agent takes over as it is (written back, then synced)
# leaves the changes.
in_view sh -c 'printf same >taken.t && chmod 644 taken.t' ||
	fail "writing taken.t in the view"
# (Whole lists into files: grep -q stopping early would cut the pipe.)
changes >"$T/c1.out"
grep -q ' taken\.t$' "$T/c1.out" || fail "tether changes does not list taken.t"
printf same >"$T/src/taken.t" && chmod 644 "$T/src/taken.t"
sync_it
changes >"$T/c2.out"
grep -q ' taken\.t$' "$T/c2.out" &&
	fail "taken.t is still a change after the agent synced the same bytes"
[ "$(cat "$view/taken.t")" = same ] || fail "taken.t left the view"
log "a change the agent synced as it is is no longer a change: ok"

# The upper layer survives a node restart.
stop_node "$NODE_PID" TERM
start_node ipc "$T/root"
wait_until 20 mountpoint -q "$view" || fail "no view after the restart: $(show "$NODE_LOG")"
[ -x "$view/proj/b/cli/tether" ] || fail "the changes were lost in a node restart"
log "changes survive a restart: ok"

# tether reset: the view is the workspace again.
tx reset --node "$NODE_URL" --workspace w >"$T/reset.out" 2>&1 ||
	fail "tether reset: $(show "$T/reset.out")"
digest "$T/src" >"$T/src.digest"
digest "$view" | cmp -s - "$T/src.digest" ||
	fail "after tether reset the view differs from the workspace: $(digest "$view" | diff - "$T/src.digest" | head -n 6 | tr '\n' '|')"
changes >"$T/c3.out"
[ ! -s "$T/c3.out" ] || fail "tether changes after a reset: $(head -n 3 "$T/c3.out" | tr '\n' '|')"
log "tether reset discards every change: ok"

# Copy-up keeps the times of the directories it puts things in (as
# overlayfs does): only what a command does to a directory changes them.
# Checked in the upper layer itself: the kernel may cache the view's.
# (A plain name: the random tree's names hold quotes, newlines, any byte.)
f=
while IFS= read -r -d '' p; do
	[[ $p =~ ^\./[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+){2,}$ ]] && { f=$p; break; }
done < <(cd "$T/src" && find . -mindepth 3 -type f -perm -u+w -print0)
[ -n "$f" ] || fail "no writable file three levels down in the tree"
f=${f#./}
d1=${f%/*}
d0=${d1%/*}
in_view sh -c 'printf x >>"$1"' sh "$f" || fail "appending to $f in the view"
upper=$T/root/.tether/upper/w/tree
[ -f "$upper/$f" ] || fail "$f was not copied up to $upper"
assert_eq "$(stat -c %Y.%y "$T/src/$d1" "$T/src/$d0")" \
	"$(stat -c %Y.%y "$upper/$d1" "$upper/$d0")" \
	"the times of $d1 and $d0 in the upper after a copy-up of $f"
log "copy-up keeps its directories' times: ok"
