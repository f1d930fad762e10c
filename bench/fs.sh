#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The same tree served five ways, the same walks over each, side by side.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-d DIR | -f FILES -b BYTES -s SEED] [-n ROUNDS] [-w WAYS] [-t TASKS] [-k]
  Serves one tree five ways and times the same walks over each, the ways
  interleaved (the order rotates every round):
    native    the directory itself
    tetherfs  a tether node's --view of it after tether sync (the node on
              tcp://127.0.0.1; chunks read from the node's store)
    mount     tether mount of that node's workspace (lazy: the first cold
              read fetches every chunk over the link; later rounds read
              the local chunk cache)
    sshfs     sshfs of the directory, over ssh to a private sshd on
              127.0.0.1
    overlay   fuse-overlayfs with the directory as its only lower layer
  walks, each -n ROUNDS times (default 3; the median is reported):
    meta       find -printf '%s %T@' of every entry (a stat of each), after
               dropping the kernel's caches
    read-cold  cat of every file, after dropping the kernel's caches
    read-warm  the same again, caches kept
  more tasks, with -t:
    git        git status of the tree, with the tree's .git (a new repo
               of it when it has none) kept aside, one copy per way, each
               primed with one git status first
    build      meson setup and ninja of the tree (a meson project, such as
               this repository: -d .), the build directory outside it, so
               the way serves every source and header the compiler reads
    build-in   the same with the build directory inside the tree, as an
               agent builds in its workspace: the way also takes every
               object the build writes (removed after each run)
  -w WAYS    a subset, e.g. "native tetherfs" (default: all five)
  -t TASKS   e.g. "meta git build" (default: "meta cold warm")
  -d DIR     a copy of DIR (cp -a) instead of a tree from bench/gen-tree
  -f -b -s   gen-tree --files, --bytes, --seed (default 80000 files,
             1.3 GB, seed 1)
  -k         keep the temp dir
  Needs root (drop_caches, FUSE), sshfs, fuse-overlayfs and openssh-server
  (exit 77 without them). Binaries: \$TETHER_BIN, \$BENCH_GEN_TREE, or
  \$BENCH_BUILD/{cli/tether,bench/gen-tree} (default build dir: build-rel).
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

src_dir=""
files=""
bytes=""
seed=1
rounds=3
ways=(native tetherfs mount sshfs overlay)
tasks=(meta cold warm)
while getopts "d:f:b:s:n:w:t:kh" opt; do
	case $opt in
	d) src_dir=$OPTARG ;;
	f) files=$OPTARG ;;
	b) bytes=$OPTARG ;;
	s) seed=$OPTARG ;;
	n) rounds=$OPTARG ;;
	w) read -r -a ways <<<"$OPTARG" ;;
	t) read -r -a tasks <<<"$OPTARG" ;;
	k) BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || bench_die "needs root (drop_caches, FUSE mounts)"
for t in sshfs fuse-overlayfs; do
	command -v "$t" >/dev/null || {
		echo "${0##*/}: $t is missing (apt-get install $t)" >&2
		exit 77
	}
done
bench_need_ssh
bench_find_bins gen-tree
bench_setup
bench_machine

src=$BENCH_DIR/src
bench_make_tree "$src" "$src_dir" "$seed" "$files" "$bytes"
# .git is not synced: every way serves the tree without it; git status
# gets its own copy of it per way.
if [[ " ${tasks[*]} " == *" git "* ]]; then
	[ -d "$src/.git" ] || (cd "$src" && git init -q && git add -A &&
		git -c user.name=b -c user.email=b@b commit -qm tree) ||
		bench_die "git init of the tree failed"
	mv "$src/.git" "$BENCH_DIR/git.orig"
fi
rm -rf "$src/.git"
echo "files:   $(find "$src" -type f | wc -l), $(du -sb "$src" | cut -f1) bytes"

declare -A dir
mnts=()
mount_pid=""
# Unmount everything, stop tether mount, then bench_cleanup (the node, sshd,
# the temp dir) with the script's own exit status. set +e: a trap that
# stops at its first failing command would leave the node running.
fs_cleanup() {
	local rc=$? m
	set +e
	for m in "${mnts[@]}"; do
		fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	[ -z "$mount_pid" ] || { kill "$mount_pid" 2>/dev/null; wait "$mount_pid" 2>/dev/null; }
	(exit "$rc")
	bench_cleanup
}
trap fs_cleanup EXIT
dir[native]=$src

# tetherfs: a node with views, the tree synced to it.
export TETHER_CACHE=$BENCH_DIR/cache
BENCH_NODE_ARGS=(--view)
bench_start_node "$BENCH_DIR/root"
"$TETHER_BIN" sync "$src" --node "$BENCH_NODE_URL" --workspace b >/dev/null ||
	bench_die "tether sync failed"
dir[tetherfs]=$BENCH_DIR/root/views/b
mountpoint -q "${dir[tetherfs]}" || bench_die "no view at ${dir[tetherfs]}"
mnts+=("${dir[tetherfs]}")

# mount: tether mount of the same workspace.
mkdir -p "$BENCH_DIR/mnt"
"$TETHER_BIN" mount --node "$BENCH_NODE_URL" --workspace b "$BENCH_DIR/mnt" \
	>"$BENCH_DIR/mount.out" 2>"$BENCH_DIR/mount.err" &
mount_pid=$!
mounted() { grep -q '^tether mount: ' "$BENCH_DIR/mount.out"; }
bench_wait_for 30 mounted || { cat "$BENCH_DIR/mount.err" >&2; bench_die "tether mount failed"; }
dir[mount]=$BENCH_DIR/mnt
mnts+=("${dir[mount]}")

# sshfs over a private sshd.
bench_start_sshd
mkdir -p "$BENCH_DIR/sshfs"
sshfs -p "$BENCH_SSH_PORT" -o IdentityFile="$BENCH_DIR/ssh/client_ed25519" \
	-o IdentitiesOnly=yes -o UserKnownHostsFile="$BENCH_DIR/ssh/known_hosts" \
	-o StrictHostKeyChecking=no "$BENCH_SSH_DEST:$src" "$BENCH_DIR/sshfs" ||
	bench_die "sshfs failed"
dir[sshfs]=$BENCH_DIR/sshfs
mnts+=("${dir[sshfs]}")

# fuse-overlayfs, the tree as its lower layer.
mkdir -p "$BENCH_DIR/ovl/upper" "$BENCH_DIR/ovl/work" "$BENCH_DIR/ovl/mnt"
fuse-overlayfs -o "lowerdir=$src,upperdir=$BENCH_DIR/ovl/upper,workdir=$BENCH_DIR/ovl/work" \
	"$BENCH_DIR/ovl/mnt" || bench_die "fuse-overlayfs failed"
dir[overlay]=$BENCH_DIR/ovl/mnt
mnts+=("${dir[overlay]}")
echo "sshfs:   $(sshfs --version 2>&1 | head -n 1)"
echo "overlay: $(fuse-overlayfs --version 2>&1 | head -n 1)"
echo "rounds:  $rounds, the order of the ways rotating"
echo

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
ms_of() { # CMD...: wall ms
	local a b
	a=$(date +%s%N)
	"$@" >/dev/null 2>"$BENCH_DIR/walk.err" ||
		{ cat "$BENCH_DIR/walk.err" >&2; bench_die "$*: failed"; }
	b=$(date +%s%N)
	echo $(((b - a) / 1000000))
}
meta() { find "$1" -printf '%s %T@\n'; }
readall() { find "$1" -type f -print0 | xargs -0 -P 1 -n 2000 cat; }
gitst() { GIT_DIR=$BENCH_DIR/git-$2 git --work-tree="$1" status --porcelain; }
build() {
	rm -rf "$BENCH_DIR/build-$2"
	meson setup "$BENCH_DIR/build-$2" "$1" -Dtests=disabled &&
		ninja -C "$BENCH_DIR/build-$2"
}
build_in() {
	meson setup "$1/build-in" "$1" -Dtests=disabled &&
		ninja -C "$1/build-in"
}
for w in "${ways[@]}"; do
	[ -d "$BENCH_DIR/git.orig" ] || break
	cp -a "$BENCH_DIR/git.orig" "$BENCH_DIR/git-$w"
	gitst "${dir[$w]}" "$w" >/dev/null || bench_die "git status on $w failed"
done

# task -> how it runs: the cold ones drop the kernel's caches first.
run_task() { # TASK WAY
	case $1 in
	meta) drop; ms_of meta "${dir[$2]}" ;;
	cold) drop; ms_of readall "${dir[$2]}" ;;
	warm) ms_of readall "${dir[$2]}" ;;
	git) ms_of gitst "${dir[$2]}" "$2" ;;
	build) ms_of build "${dir[$2]}" "$2" ;;
	build-in)
		[ "$2" != mount ] || bench_die "build-in: the mount way is read-only"
		rm -rf "${dir[$2]}/build-in"
		ms_of build_in "${dir[$2]}"
		rm -rf "${dir[$2]}/build-in" ;;
	*) bench_die "unknown task $1 (meta cold warm git build build-in)" ;;
	esac
}
declare -A res
for r in $(seq 1 "$rounds"); do
	n=${#ways[@]}
	for i in $(seq 0 $((n - 1))); do
		w=${ways[$(((i + r) % n))]}
		for s in "${tasks[@]}"; do
			res[$w.$s]+="$(run_task "$s" "$w") "
		done
	done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-10s' way
printf ' %10s' "${tasks[@]}"
printf '   (median ms of %s rounds)\n' "$rounds"
declare -A med
for w in "${ways[@]}"; do
	printf '%-10s' "$w"
	for s in "${tasks[@]}"; do
		med[$w.$s]=$(echo "${res[$w.$s]}" | median)
		printf ' %10s' "${med[$w.$s]}"
	done
	echo
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", (b > 0 ? a / b : 0) }'; }
# ratios A B TITLE: A's time over B's, per task, when both ran.
ratios() {
	[ -n "${med[$1.${tasks[0]}]:-}" ] && [ -n "${med[$2.${tasks[0]}]:-}" ] || return 0
	echo "$3"
	for s in "${tasks[@]}"; do
		echo "  $s: $(ratio "${med[$1.$s]}" "${med[$2.$s]}")"
	done
}
ratios tetherfs native "tetherfs against native (time ratio; lower is better):"
ratios sshfs tetherfs "sshfs against tetherfs (how many times slower sshfs is):"
ratios overlay tetherfs "fuse-overlayfs against tetherfs (how many times slower it is):"
[ -z "${res[mount.cold]:-}" ] ||
	echo "first raw round of tether mount (cold, fetched over the link): ${res[mount.cold]%% *} ms"
echo "tether node CPU: $(bench_node_cpu)"
