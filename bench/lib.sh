# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by bench/exec-*.sh (sourced, bash): find the binaries, start a tether
# node and a private sshd on 127.0.0.1, and undo all of it on exit.
# Only ever listens on or connects to 127.0.0.1; installs nothing.

BENCH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_DIR=""            # private temp dir, removed on exit
BENCH_NODE_PID=""
BENCH_NODE_URL=""
BENCH_SSHD_PID=""
BENCH_SSH_PORT=""
BENCH_MASTER_PID=""
BENCH_SSH_OPTS=()       # client options for a fresh connection
BENCH_SSH_DEST=""

bench_die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

bench_cleanup() {
	local rc=$?

	trap - EXIT INT TERM HUP
	if [ -n "$BENCH_MASTER_PID" ]; then
		kill "$BENCH_MASTER_PID" 2>/dev/null
		wait "$BENCH_MASTER_PID" 2>/dev/null
	fi
	if [ -n "$BENCH_NODE_PID" ]; then
		kill "$BENCH_NODE_PID" 2>/dev/null
		wait "$BENCH_NODE_PID" 2>/dev/null
	fi
	if [ -n "$BENCH_SSHD_PID" ]; then
		# sshd -D: the listener; its per-connection children die with
		# their clients, which are all gone by now.
		kill "$BENCH_SSHD_PID" 2>/dev/null
		wait "$BENCH_SSHD_PID" 2>/dev/null
	fi
	if [ -n "$BENCH_DIR" ] && [ -z "${BENCH_KEEP:-}" ]; then
		rm -rf "$BENCH_DIR"
	elif [ -n "$BENCH_DIR" ]; then
		echo "${0##*/}: kept $BENCH_DIR" >&2
	fi
	exit "$rc"
}

# bench_setup: temp dir + traps. Call once, first.
bench_setup() {
	BENCH_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tether-bench.XXXXXX") ||
		bench_die "cannot create a temp dir"
	# tether exec's audit records go to the run's own log (their cost
	# is in every figure, as in real use).
	export TETHER_AUDIT=$BENCH_DIR/audit.log
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

# bench_find_bins NAME...: sets TETHER_BIN and BENCH_<NAME> (lat, thru) from
# the environment or the release build dir (BENCH_BUILD, default build-rel).
bench_find_bins() {
	local build=${BENCH_BUILD:-$BENCH_TOP/build-rel} name var bt

	TETHER_BIN=${TETHER_BIN:-$build/cli/tether}
	[ -x "$TETHER_BIN" ] || bench_die "no tether binary at $TETHER_BIN; build a release first:
  cd $BENCH_TOP && meson setup build-rel -Dbuildtype=release -Dtests=disabled && ninja -C build-rel"
	for name in "$@"; do
		var=BENCH_${name^^}
		var=${var//-/_}
		printf -v "$var" '%s' "${!var:-$build/bench/$name}"
		[ -x "${!var}" ] || bench_die "no $name helper at ${!var}: ninja -C $build"
	done
	# Warn (do not refuse) when the binary is not from a release build.
	bt=$(grep -o '"name": "buildtype", "value": "[a-z]*"' \
		"$(dirname "$(dirname "$TETHER_BIN")")/meson-info/intro-buildoptions.json" \
		2>/dev/null | sed 's/.*"value": "//; s/"$//')
	BENCH_BUILDTYPE=${bt:-unknown}
	[ "$BENCH_BUILDTYPE" = release ] ||
		echo "${0##*/}: warning: $TETHER_BIN is a '$BENCH_BUILDTYPE' build, not release" >&2
}

# bench_need_ssh: openssh-server and -client present, or say how to get them.
bench_need_ssh() {
	local sshd

	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	if [ ! -x "$sshd" ] || ! command -v ssh >/dev/null ||
	   ! command -v ssh-keygen >/dev/null; then
		echo "${0##*/}: openssh-server/openssh-client is missing." >&2
		echo "  Install it with: apt-get install openssh-server openssh-client" >&2
		echo "  (./build.sh demo or ./build.sh test installs it). Nothing was run." >&2
		exit 77
	fi
	BENCH_SSHD=$sshd
}

# bench_wait_for SECONDS CMD...: poll CMD until it succeeds or the deadline.
bench_wait_for() {
	local deadline=$((SECONDS + $1))

	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.02
	done
}

bench_machine() {
	echo "date:    $(date '+%Y-%m-%d %H:%M:%S %Z')"
	echo "cpu:     $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "kernel:  $(uname -sr)"
	echo "load:    $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, before the run)"
	# Whatever else is burning CPU skews every row: name it.
	ps -eo pid=,pcpu=,etime=,args= --sort=-pcpu 2>/dev/null |
		awk '$2 >= 20 { $0 = substr($0, 1, 110); print "busy:    " $0 }' | head -n 3
	echo "tether:  $TETHER_BIN ($BENCH_BUILDTYPE build)"
	echo "ssh:     $(ssh -V 2>&1)"
}

node_listening() {
	grep -q 'listening on' "$BENCH_DIR/node.log" 2>/dev/null ||
		! kill -0 "$BENCH_NODE_PID" 2>/dev/null
}

# bench_make_tree DEST SRC_DIR SEED FILES BYTES: the tree a benchmark works
# on, in DEST: a copy of SRC_DIR when given, else bench/gen-tree's (FILES
# and BYTES empty: its defaults). Says which on stdout.
bench_make_tree() {
	local dest=$1 src_dir=$2 seed=$3 files=$4 bytes=$5

	if [ -n "$src_dir" ]; then
		cp -a "$src_dir" "$dest"
		echo "tree:    a copy of $src_dir"
		return
	fi
	"$BENCH_GEN_TREE" "$dest" --seed "$seed" ${files:+--files "$files"} \
		${bytes:+--bytes "$bytes"} 2>"$BENCH_DIR/gen.log" ||
		{ cat "$BENCH_DIR/gen.log" >&2; bench_die "gen-tree failed"; }
	echo "tree:    $(sed 's/^gen-tree: //' "$BENCH_DIR/gen.log")"
}

# bench_start_node ROOT: a tether node on an ephemeral 127.0.0.1 port (the
# array BENCH_NODE_ARGS holds more options for it).
bench_start_node() {
	mkdir -p "$1"
	"$TETHER_BIN" node --listen tcp://127.0.0.1:0 --root "$1" \
		${BENCH_NODE_ARGS[@]+"${BENCH_NODE_ARGS[@]}"} \
		>"$BENCH_DIR/node.log" 2>&1 </dev/null &
	BENCH_NODE_PID=$!
	bench_wait_for 10 node_listening || true
	BENCH_NODE_URL=$(awk '/listening on/ { print $NF; exit }' "$BENCH_DIR/node.log")
	if [ -z "$BENCH_NODE_URL" ]; then
		cat "$BENCH_DIR/node.log" >&2
		bench_die "tether node did not start"
	fi
	case $BENCH_NODE_URL in
	tcp://127.0.0.1:*) ;;
	*) bench_die "node listens on $BENCH_NODE_URL, expected tcp://127.0.0.1:PORT" ;;
	esac
}

# bench_node_cpu: the node's user+sys CPU so far, in seconds.
bench_node_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
		"/proc/$BENCH_NODE_PID/stat" 2>/dev/null || echo 0
}

# bench_tree_cpu PID: user+sys CPU of PID plus its reaped descendants, in
# seconds: a server's whole cost (the node and the commands it ran; the sshd
# listener and the session processes, shells and commands it forked).
bench_tree_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15 + $16 + $17) / hz }' \
		"/proc/$1/stat" 2>/dev/null || echo 0
}

sshd_settled() {
	grep -q 'Server listening on 127.0.0.1' "$BENCH_DIR/sshd.log" 2>/dev/null ||
		! kill -0 "$BENCH_SSHD_PID" 2>/dev/null
}

# sshd_launch CONFIG: exec sshd -D, by default in a private mount namespace
# where the login user's ~/.bashrc reads as empty. bash sources ~/.bashrc
# for every command sshd runs (it sees SSH_CLIENT), and a heavy one (root's
# here runs `pyenv init`: about 165 ms) would be charged to ssh, not to the
# transport. BENCH_SSH_USER_RC=1 keeps the real one. Nothing outside the
# namespace changes; the pid stays sshd's (unshare and sh exec it).
sshd_launch() {
	local rc

	rc=$(getent passwd "$(id -un)" | cut -d: -f6)/.bashrc
	if [ -n "${BENCH_SSH_USER_RC:-}" ] || [ ! -f "$rc" ]; then
		exec "$BENCH_SSHD" -D -e -f "$1"
	fi
	# shellcheck disable=SC2016 # $1 and $@ are the inner sh's
	exec unshare --mount --propagation private -- sh -c '
		mount --bind /dev/null "$1" || exit 1
		shift
		exec "$@"' sh "$rc" "$BENCH_SSHD" -D -e -f "$1"
}

bench_ssh_rc_note() {
	if [ -n "${BENCH_SSH_USER_RC:-}" ]; then
		echo "login user's real ~/.bashrc"
	else
		echo "the login user's .bashrc masked as empty"
	fi
}

# bench_start_sshd: a private sshd on a free 127.0.0.1 port, its own host
# key and authorized_keys (a fresh client key), and client options for it.
bench_start_sshd() {
	local d=$BENCH_DIR/ssh user port

	user=$(id -un)
	mkdir -p "$d" /run/sshd
	chmod 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -C tether-bench-host -f "$d/host_ed25519" ||
		bench_die "ssh-keygen failed"
	ssh-keygen -q -t ed25519 -N '' -C tether-bench-client -f "$d/client_ed25519" ||
		bench_die "ssh-keygen failed"
	cp "$d/client_ed25519.pub" "$d/authorized_keys"
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		ss -Hltn "sport = :$port" 2>/dev/null | grep -q . && continue
		cat >"$d/sshd_config" <<-EOF
			ListenAddress 127.0.0.1
			Port $port
			HostKey $d/host_ed25519
			AuthorizedKeysFile $d/authorized_keys
			PidFile none
			StrictModes no
			UsePAM no
			PubkeyAuthentication yes
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			PermitRootLogin prohibit-password
			AllowUsers $user
			UseDNS no
			PrintMotd no
			PrintLastLog no
			X11Forwarding no
			MaxStartups 100
			Subsystem sftp internal-sftp
			LogLevel INFO
		EOF
		sshd_launch "$d/sshd_config" >"$BENCH_DIR/sshd.log" 2>&1 </dev/null &
		BENCH_SSHD_PID=$!
		bench_wait_for 10 sshd_settled || true
		if kill -0 "$BENCH_SSHD_PID" 2>/dev/null &&
		   grep -q 'Server listening' "$BENCH_DIR/sshd.log"; then
			BENCH_SSH_PORT=$port
			break
		fi
		wait "$BENCH_SSHD_PID" 2>/dev/null
		BENCH_SSHD_PID=""
		grep -q 'Address already in use' "$BENCH_DIR/sshd.log" ||
			{ cat "$BENCH_DIR/sshd.log" >&2; bench_die "sshd did not start"; }
	done
	[ -n "$BENCH_SSH_PORT" ] || bench_die "no free port for sshd after 20 tries"
	# Known host up front: no run writes known_hosts.
	echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$d/host_ed25519.pub")" >"$d/known_hosts"
	BENCH_SSH_OPTS=(-F none -p "$port" -i "$d/client_ed25519"
		-o IdentitiesOnly=yes -o BatchMode=yes
		-o UserKnownHostsFile="$d/known_hosts"
		-o GlobalKnownHostsFile=/dev/null
		-o StrictHostKeyChecking=no -o LogLevel=ERROR)
	BENCH_SSH_DEST=$user@127.0.0.1
	ssh "${BENCH_SSH_OPTS[@]}" -o ControlPath=none "$BENCH_SSH_DEST" true </dev/null ||
		{ cat "$BENCH_DIR/sshd.log" >&2; bench_die "ssh login to 127.0.0.1:$port failed"; }
}

master_ready() {
	ssh "${BENCH_SSH_OPTS[@]}" -o ControlPath="$BENCH_DIR/ssh/ctl" \
		-O check "$BENCH_SSH_DEST" 2>/dev/null ||
		! kill -0 "$BENCH_MASTER_PID" 2>/dev/null
}

# bench_start_master: one ControlMaster connection, in the foreground of a
# background job (so its pid is known), socket $BENCH_DIR/ssh/ctl.
bench_start_master() {
	ssh "${BENCH_SSH_OPTS[@]}" -M -N -o ControlPath="$BENCH_DIR/ssh/ctl" \
		-o ControlPersist=no "$BENCH_SSH_DEST" </dev/null \
		>"$BENCH_DIR/master.log" 2>&1 &
	BENCH_MASTER_PID=$!
	bench_wait_for 10 master_ready || true
	if ! kill -0 "$BENCH_MASTER_PID" 2>/dev/null || [ ! -S "$BENCH_DIR/ssh/ctl" ]; then
		cat "$BENCH_DIR/master.log" >&2
		bench_die "ssh ControlMaster did not start"
	fi
}
