#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# One entry point for a fresh Debian 12 machine (as root): installs what is
# missing, builds, then runs the demo or every test suite.
#   ./build.sh demo    a real build through tether exec in the sandbox backend
#   ./build.sh test    format check; -Dwerror, ASan+UBSan: unit + integration;
#                      clang: fuzz
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

# Build and test dependencies, all Debian 12 packages.
PKGS=(gcc clang clang-format libclang-rt-14-dev meson ninja-build pkg-config
      libnng-dev libmbedtls-dev libjansson-dev libcmocka-dev libzstd-dev libxxhash-dev
      libfuse3-dev fuse3 libssh-dev openssh-client openssh-server
      podman runc catatonit busybox-static qemu-system-x86 lz4 python3
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
	local t cfg
	meson setup build -Dbuildtype=release >/dev/null 2>&1 ||
		meson setup --reconfigure build -Dbuildtype=release >/dev/null
	ninja -C build >/dev/null
	t=$top/build/cli/tether
	dir=$(mktemp -d /tmp/tether-demo.XXXXXX)
	# The sandbox backend's own node lives here for the demo (by default
	# in ~/.local/state/tether/sandbox) and goes with it.
	export TETHER_SANDBOX_HOME=$dir/sbx TETHER_CACHE=$dir/cache \
		TETHER_AUDIT=$dir/audit.log
	sock=$dir/sbx/node.sock
	trap 'pkill -TERM -f "listen ipc://$sock"
		for _ in $(seq 50); do
			pgrep -f "listen ipc://$sock" >/dev/null || break
			sleep 0.2
		done
		rm -rf "$dir"' EXIT
	# (dir and sock stay global: the EXIT trap runs after demo returns)
	# The agent's workspace: a copy of this tree, so the demo can edit it.
	mkdir -p "$dir/ws"
	tar -C "$top" --exclude='./build*' --exclude=./.git -cf - . |
		tar -C "$dir/ws" -xf -
	cfg=$dir/tether.json
	cat >"$cfg" <<EOF
{
  "agents": {
    "defaults": { "backend": "sandbox",
                  "limits": { "memory": "2g", "pids": 1024, "cpus": 2 } },
    "list": [ { "id": "demo", "dir": "$dir/ws" } ]
  }
}
EOF
	echo "==> $cfg: agent 'demo' runs its commands in the namespace sandbox"
	echo "    of a local tether node that tether starts itself"
	cat "$cfg"
	step() {
		echo
		echo "==> tether exec --agent demo --stats -- $*"
		(cd "$dir/ws" && "$t" exec --config "$cfg" --agent demo --stats -n -- "$@")
	}
	step sh -c 'echo "pid $$ on $(hostname), uid $(id -u); network: $(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " ")"'
	step sh -c 'cc --version | head -n 1'
	step meson setup demo-build -Dtests=disabled
	step ninja -C demo-build
	step demo-build/cli/tether --version
	echo
	echo "==> an edit by the agent is in the next command (the barrier syncs it)"
	printf '\nedited by the demo\n' >>"$dir/ws/README.md"
	step tail -n 1 README.md
	echo
	echo "==> what the commands wrote stayed in the node's view of the workspace:"
	"$t" changes --node "ipc://$sock" --workspace demo >"$dir/changes"
	sed -n 1,5p "$dir/changes"
	echo "    ... ($(wc -l <"$dir/changes") entries;" \
		"the agent's directory has no demo-build: $([ -e "$dir/ws/demo-build" ] && echo WRONG || echo right))"
	echo
	echo "==> every command is in the audit log, hash-chained:"
	"$t" audit | tail -n 4
	"$t" audit verify
	echo
	echo "==> the tree was synced by content-addressed sync to a local node and"
	echo "    built there in a namespace sandbox (pid 2, no network, 2 GiB):"
	echo "    every step above was streamed back with its exit status and"
	echo "    resource usage."
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
