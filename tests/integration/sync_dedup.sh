# SPDX-License-Identifier: MIT
# Dedup of workspace sync, asserted on the bytes `tether sync --json`
# reports: a copy of a synced 32 MiB file sends no chunk, one byte inserted
# in its middle sends only the chunks around the insertion, a rename sends
# nothing, and workspaces that share a trust domain (--domain) share chunks
# while workspaces that do not, do not.  Usage: sync_dedup.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
export TETHER_CACHE=$T/cache
mkdir -p "$T/root" "$T/src" || fail "mkdir"
start_node "$tr" "$T/root"
WS=$T/root/workspaces

MIB=1048576
# Chunk sizes given explicitly (the defaults may be retuned): 16/64/256 KiB,
# the defaults of issue 3.
CHUNK_MAX=262144
CHUNKS=16384:65536:$CHUNK_MAX

# do_sync DIR WS [ARGS...]: tether sync --json into $T/sync.json.
do_sync()
{
	local dir=$1 ws=$2 rc
	shift 2
	tx sync "$dir" --node "$NODE_URL" --workspace "$ws" --json \
		--chunk "$CHUNKS" "$@" >"$T/sync.json" 2>"$T/sync.err"
	rc=$?
	[ $rc -eq 0 ] || fail "sync $dir -> $ws: exit $rc: $(show "$T/sync.err")"
	[ "$(wc -l <"$T/sync.json")" -eq 1 ] ||
		fail "sync $ws: expected one JSON line, got: $(show "$T/sync.json")"
}
field()
{
	local v
	v=$(sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" "$T/sync.json")
	[ -n "$v" ] || fail "sync --json has no field $1: $(show "$T/sync.json")"
	printf '%s' "$v"
}
# same_file SRC NODE WHAT
same_file()
{
	[ -f "$2" ] || fail "$3: $2 is missing on the node"
	cmp -s "$1" "$2" || fail "$3: $2 on the node differs from $1"
}

head -c $((32 * MIB)) /dev/urandom >"$T/src/big" || fail "making the 32 MiB file"
do_sync "$T/src" dd
chunks0=$(field chunks_sent)
assert_eq $((32 * MIB)) "$(field bytes_sent_raw)" "bytes_sent_raw of the first sync"
# Random data: zstd cannot shrink it, so every chunk goes raw.
[ "$chunks0" -ge $((32 * MIB / CHUNK_MAX)) ] ||
	fail "32 MiB in $chunks0 chunks: some chunk is over $CHUNK_MAX bytes"
same_file "$T/src/big" "$WS/dd/big" "first sync"
log "32 MiB: $chunks0 chunks"

# (a) A copy under another name: every chunk is already there.
cp "$T/src/big" "$T/src/copy of big" || fail "cp"
do_sync "$T/src" dd
assert_eq 0 "$(field chunks_sent)" "(a) chunks_sent for a copy"
assert_eq 0 "$(field bytes_sent_raw)" "(a) bytes_sent_raw for a copy"
assert_eq 2 "$(field version)" "(a) version"
same_file "$T/src/big" "$WS/dd/copy of big" "(a) copy"

# (b) One byte inserted in the middle. Content-defined chunking cuts where
# the gear hash of the last 64 bytes matches a mask, at a distance from the
# chunk's start between the min and the max (normalized: a stricter mask
# before the average size, a looser one after). The chunks before the
# insertion are untouched; the one holding it is cut again, and because a
# cut depends on the distance from the chunk's start, that chunk may end
# at a different candidate than before (one byte moves every candidate
# across the normalization threshold by one), which changes the next
# chunk's start; the first cut that falls on an old cut realigns the rest.
# In random data that is the next candidate: at most the chunk with the
# insertion, its neighbour and one more re-cut chunk, each at most
# CHUNK_MAX bytes.
half=$((16 * MIB + 12345))
{ head -c $half "$T/src/big" && printf 'X' &&
	tail -c +$((half + 1)) "$T/src/big"; } >"$T/big.new" &&
	mv "$T/big.new" "$T/src/big" || fail "inserting a byte"
[ "$(stat -c %s "$T/src/big")" -eq $((32 * MIB + 1)) ] || fail "insert: wrong size"
do_sync "$T/src" dd
sent=$(field bytes_sent_raw)
chunks=$(field chunks_sent)
log "(b) one byte inserted: $chunks chunks, $sent bytes sent (raw)"
[ "$chunks" -ge 1 ] || fail "(b) one byte inserted: no chunk sent"
[ "$chunks" -le 3 ] || fail "(b) one byte inserted: $chunks chunks sent, expected at most 3"
[ "$sent" -le $((3 * CHUNK_MAX)) ] ||
	fail "(b) one byte inserted: $sent bytes sent, expected at most $((3 * CHUNK_MAX))"
same_file "$T/src/big" "$WS/dd/big" "(b) insert"
same_file "$T/src/copy of big" "$WS/dd/copy of big" "(b) the copy"

# (c) A rename is rebuilt from the store on the node.
mv "$T/src/big" "$T/src/renamed" || fail "mv"
do_sync "$T/src" dd
assert_eq 0 "$(field chunks_sent)" "(c) chunks_sent for a rename"
assert_eq 0 "$(field bytes_sent_raw)" "(c) bytes_sent_raw for a rename"
same_file "$T/src/renamed" "$WS/dd/renamed" "(c) rename"
[ ! -e "$WS/dd/big" ] || fail "(c) the old name is still on the node"

# (d) Trust domains: s1 and s2 share "team"; s3 has its own store.
mkdir -p "$T/s1" "$T/s2" || fail "mkdir"
head -c $((8 * MIB)) /dev/urandom >"$T/s1/data" || fail "making the 8 MiB file"
cp "$T/s1/data" "$T/s2/same-data" || fail "cp"
do_sync "$T/s1" s1 --domain team
n1=$(field chunks_sent)
assert_eq $((8 * MIB)) "$(field bytes_sent_raw)" "(d) s1 bytes_sent_raw"
do_sync "$T/s2" s2 --domain team
assert_eq 0 "$(field chunks_sent)" "(d) chunks_sent of s2 sharing s1's domain"
assert_eq 0 "$(field bytes_sent_raw)" "(d) bytes_sent_raw of s2 sharing s1's domain"
same_file "$T/s2/same-data" "$WS/s2/same-data" "(d) s2"
do_sync "$T/s2" s3
assert_eq "$n1" "$(field chunks_sent)" "(d) chunks_sent of s3 (own domain)"
assert_eq $((8 * MIB)) "$(field bytes_sent_raw)" "(d) bytes_sent_raw of s3 (own domain)"
same_file "$T/s2/same-data" "$WS/s3/same-data" "(d) s3"
# A workspace keeps its first domain.
tx sync "$T/s2" --node "$NODE_URL" --workspace s2 --domain other --json \
	--chunk "$CHUNKS" >"$T/sync.json" 2>"$T/sync.err"
rc=$?
assert_eq 255 "$rc" "exit code of a sync into s2 with another domain"
assert_match 'domain team, not other' "$(cat "$T/sync.err")" "sync into s2 with another domain"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving: $(tail -n 20 "$NODE_LOG")"
log "ok"
