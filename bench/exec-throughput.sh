#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Stdout throughput of one large command: through tether exec on a local
# node, through ssh (a fresh connection per run), and locally.
set -euo pipefail

usage() {
	cat <<EOF
usage: ${0##*/} [-s BYTES] [-n ROUNDS] [-c CIPHER]... [-C] [-u] [-k]
  Starts a tether node and a private sshd on 127.0.0.1 (ephemeral ports),
  writes an incompressible file of BYTES from /dev/urandom, then streams
  BYTES of stdout from each source through each path into bench/thru, which
  counts every byte (a run with a wrong count fails the benchmark):
    sources  zero:   head -c BYTES /dev/zero
             random: cat FILE (the pre-generated file, page-cached)
    paths    local   the command itself
             tether  tether exec --node tcp://127.0.0.1:PORT -- CMD
             ssh     ssh (new connection, default cipher) ... CMD
             ssh-CIPHER  the same with -c CIPHER, for each -c given
  -s BYTES   default 1073741824 (1 GiB)
  -n ROUNDS  rounds of every source x path, interleaved (default 3);
             the table gives the median and the best round
  -c CIPHER  add an ssh row with this cipher (default: aes128-gcm@openssh.com;
             give -C to add none)
  -u         let ssh run the login user's real ~/.bashrc (see exec-latency.sh)
  -k         keep the temp dir
  client cpu: user+sys of the command bench/thru ran (head/cat, tether, ssh).
  server cpu: user+sys of the node, or of the sshd listener, plus everything
  they forked and reaped (session processes, shells, the command itself).
  Binaries: \$TETHER_BIN, \$BENCH_THRU, or \$BENCH_BUILD/{cli/tether,bench/thru}
  (default build dir: build-rel, a release build).
EOF
}

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

size=1073741824
rounds=3
ciphers=()
no_extra=""
while getopts "s:n:c:Cukh" opt; do
	case $opt in
	s) size=$OPTARG ;;
	n) rounds=$OPTARG ;;
	c) ciphers+=("$OPTARG") ;;
	C) no_extra=1 ;;
	u) BENCH_SSH_USER_RC=1 ;;
	k) BENCH_KEEP=1 ;;
	h) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done
[[ $size =~ ^[0-9]+$ && $size -ge 1 ]] || bench_die "-s $size: expected a byte count"
[[ $rounds =~ ^[0-9]+$ && $rounds -ge 1 ]] || bench_die "-n $rounds: expected a round count"
if [ -n "$no_extra" ]; then
	ciphers=()
elif [ ${#ciphers[@]} -eq 0 ]; then
	ciphers=(aes128-gcm@openssh.com)
fi

bench_need_ssh
bench_find_bins thru
bench_setup

root=$BENCH_DIR/root
mkdir -p "$root"
need_kb=$((size / 1024 + 65536))
avail_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 { print $4 }')
[ "$avail_kb" -ge "$need_kb" ] ||
	bench_die "$BENCH_DIR: ${avail_kb} KiB free, need ${need_kb} KiB for the random file"

bench_machine
bench_start_node "$root"
bench_start_sshd
echo "node:    $BENCH_NODE_URL"
echo "sshd:    127.0.0.1:$BENCH_SSH_PORT (ed25519 host and client keys, $(bench_ssh_rc_note))"
echo "bytes:   $size per run, $rounds interleaved rounds; MB = 10^6 bytes"

file=$root/random.bin
head -c "$size" /dev/urandom >"$file"
[ "$(stat -c %s "$file")" -eq "$size" ] || bench_die "$file: short write"
cat "$file" >/dev/null # into the page cache, for every path alike
echo "random:  $file ($(stat -c %s "$file") bytes from /dev/urandom)"
echo

ssh_base=(ssh "${BENCH_SSH_OPTS[@]}" -o ControlMaster=no -o ControlPath=none)

# run_path LABEL SOURCE: one thru run of SOURCE's command through LABEL's
# path; appends "label source seconds client_cpu server_cpu" to the results.
run_path() {
	local path=$1 src=$2 cmd out line server="" c0=0 c1=0

	case $src in
	zero) cmd=(head -c "$size" /dev/zero) ;;
	random) cmd=(cat "$file") ;;
	esac
	case $path in
	local) ;;
	tether)
		cmd=("$TETHER_BIN" exec --node "$BENCH_NODE_URL" -- "${cmd[@]}")
		server=$BENCH_NODE_PID ;;
	ssh)
		cmd=("${ssh_base[@]}" "$BENCH_SSH_DEST" "${cmd[*]}")
		server=$BENCH_SSHD_PID ;;
	ssh-*)
		cmd=("${ssh_base[@]}" -c "${path#ssh-}" "$BENCH_SSH_DEST" "${cmd[*]}")
		server=$BENCH_SSHD_PID ;;
	esac
	[ -z "$server" ] || c0=$(bench_tree_cpu "$server")
	out=$("$BENCH_THRU" -n 1 -b "$size" "$path/$src" -- "${cmd[@]}" 2>"$BENCH_DIR/thru.err") || {
		cat "$BENCH_DIR/thru.err" >&2
		bench_die "$path/$src failed"
	}
	if [ -n "$server" ]; then
		# The sshd session process may still be exiting: let the
		# listener reap it so its CPU is counted.
		sleep 0.2
		c1=$(bench_tree_cpu "$server")
	fi
	line=$(sed -n 's/.* best_s=\([0-9.]*\) .* client_cpu_s=\([0-9.]*\)$/\1 \2/p' <<<"$out")
	echo "$path $src $line $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }')" >>"$BENCH_DIR/results"
	echo "  round $r: $path/$src $(sed 's/^thru: [^ ]* run 1: //' "$BENCH_DIR/thru.err")${server:+, server cpu $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }') s}"
}

paths=(local tether ssh)
for c in "${ciphers[@]}"; do
	paths+=("ssh-$c")
done
: >"$BENCH_DIR/results"
for ((r = 1; r <= rounds; r++)); do
	for src in zero random; do
		for p in "${paths[@]}"; do
			run_path "$p" "$src"
		done
	done
done
echo

# Median (upper, for even counts) and best of each path/source, in the
# order they ran, then ratios.
awk -v size="$size" '
{
	key = $1 " " $2
	if (!(key in n)) order[++k] = key
	j = ++n[key]
	# insertion sort by seconds, carrying the client cpu along
	while (j > 1 && s[key, j - 1] > $3) {
		s[key, j] = s[key, j - 1]; cpu[key, j] = cpu[key, j - 1]
		srv[key, j] = srv[key, j - 1]; j--
	}
	s[key, j] = $3; cpu[key, j] = $4; srv[key, j] = $5
}
END {
	printf "%-28s %-7s %11s %10s %9s %13s %13s\n", "path", "source", "median MB/s", "best MB/s", "median s", "client cpu s", "server cpu s"
	for (i = 1; i <= k; i++) {
		key = order[i]
		m = int(n[key] / 2) + 1
		split(key, f, " ")
		mbps[key] = size / s[key, m] / 1e6
		printf "%-28s %-7s %11.1f %10.1f %9.3f %13.3f %13s\n", f[1], f[2],
		       mbps[key], size / s[key, 1] / 1e6, s[key, m], cpu[key, m],
		       f[1] == "local" ? "-" : sprintf("%.2f", srv[key, m])
	}
	print ""
	printf "%-32s %8s %8s\n", "ratios of median MB/s", "zero", "random"
	for (i = 1; i <= k; i++) {
		split(order[i], f, " ")
		if (f[2] != "zero" || f[1] == "tether") continue
		printf "  tether / %-21s %7.2fx %7.2fx\n", f[1],
		       mbps["tether zero"] / mbps[f[1] " zero"],
		       mbps["tether random"] / mbps[f[1] " random"]
	}
}' "$BENCH_DIR/results"
