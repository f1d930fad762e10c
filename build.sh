#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One entry point for a fresh Debian 12 machine (as root): installs what is
# missing, builds, then runs the demo or every test suite.
#   ./build.sh demo    a local tether node running a real build via tether exec
#   ./build.sh test    format check; -Dwerror, ASan+UBSan: unit + integration;
#                      clang: fuzz
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

# Build and test dependencies, all Debian 12 packages.
PKGS=(gcc clang clang-format libclang-rt-14-dev meson ninja-build pkg-config
      libnng-dev libmbedtls-dev libjansson-dev libcmocka-dev libzstd-dev libxxhash-dev
      libfuse3-dev fuse3 libssh-dev openssh-client openssh-server
      procps psmisc coreutils util-linux git)

install_deps() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "==> installing: ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "build.sh: need root to apt-get install ${missing[*]}" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

demo() {
	local url t
	meson setup build -Dbuildtype=release >/dev/null 2>&1 ||
		meson setup --reconfigure build -Dbuildtype=release >/dev/null
	ninja -C build >/dev/null
	t=$top/build/cli/tether
	dir=$(mktemp -d /tmp/tether-demo.XXXXXX)
	mkdir -p "$dir/node"
	"$t" node --listen tcp://127.0.0.1:0 --root "$dir/node" >"$dir/node.out" 2>&1 &
	node_pid=$!
	trap 'kill $node_pid 2>/dev/null; wait $node_pid 2>/dev/null; rm -rf "$dir"' EXIT
	# (dir and node_pid stay global: the EXIT trap runs after demo returns)
	for _ in $(seq 100); do
		grep -q listening "$dir/node.out" && break
		sleep 0.05
	done
	url=$(awk '/listening on/ {print $NF}' "$dir/node.out")
	[ -n "$url" ] || { cat "$dir/node.out"; exit 1; }
	echo "==> tether node: listening on $url (root $dir/node)"
	export TETHER_CACHE=$dir/cache
	# The agent's workspace: a copy of this tree, so the demo can edit it.
	mkdir -p "$dir/ws"
	tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . |
		tar -C "$dir/ws" -xf -
	echo
	echo "==> tether sync $dir/ws --node $url --workspace tether"
	"$t" sync "$dir/ws" --node "$url" --workspace tether
	step() {
		echo
		echo "==> tether exec --node $url --workspace tether --stats -- $*"
		"$t" exec --node "$url" --workspace tether --stats -n -- "$@"
	}
	step uname -srm
	step sh -c 'cc --version | head -n 1'
	step meson setup demo-build -Dtests=disabled
	step ninja -C demo-build
	step demo-build/cli/tether --version
	echo
	echo "==> an edit, synced again: only what changed travels"
	printf '\nedited by the demo\n' >>"$dir/ws/README.md"
	"$t" sync "$dir/ws" --node "$url" --workspace tether
	"$t" status --node "$url"
	echo
	echo "==> the tree was mirrored to $url by content-addressed sync and"
	echo "    built there: every step above was streamed back with its exit"
	echo "    status and resource usage."
}

# House style (.clang-format, kernel style): a tree that is not formatted
# fails the run, naming the files.
check_format() {
	local bad
	bad=$(git ls-files '*.c' '*.h' | while read -r f; do
		clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || echo "$f"
	done)
	if [ -n "$bad" ]; then
		echo "build.sh: not formatted (run clang-format -i on them):" $bad >&2
		return 1
	fi
}

run_tests() {
	local failed=0 passed=0 n
	check_format
	# Sanitized, warnings-as-errors build: the suites run under it.
	[ -d build-ci ] || meson setup build-ci -Dwerror=true \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	ninja -C build-ci
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0
	meson test -C build-ci --suite unit --suite integration \
		--print-errorlogs || true
	# Fuzz targets: clang + libFuzzer, bounded time.
	[ -d build-fuzz ] || CC=clang meson setup build-fuzz -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
	ninja -C build-fuzz
	TETHER_FUZZ_SECONDS=${TETHER_FUZZ_SECONDS:-60} \
		meson test -C build-fuzz --suite fuzz --print-errorlogs || true
	for log in build-ci/meson-logs/testlog.json build-fuzz/meson-logs/testlog.json; do
		n=$(grep -c '"result": "OK"' "$log" || true); passed=$((passed + n))
		n=$(grep -c '"result": "SKIP"' "$log" || true); skipped=$((${skipped:-0} + n))
		n=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log" || true)
		failed=$((failed + n))
	done
	echo
	echo "tests: $passed passed, $failed failed, ${skipped:-0} skipped"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

case "${1:-}" in
demo) install_deps; demo ;;
test) install_deps; run_tests ;;
*) echo "usage: ./build.sh demo|test" >&2; exit 2 ;;
esac
