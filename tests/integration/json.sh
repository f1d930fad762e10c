# SPDX-License-Identifier: MIT
# --json prints one JSON object on stderr with the exit status and resource
# usage (exit_code, signal, timed_out, wall_s, user_s, sys_s, max_rss_kb),
# and --stats one line of the same.  Usage: json.sh ipc|tcp
. "$(dirname "$0")/lib.sh"

tr=${1:?transport: ipc or tcp}
start_node "$tr"

# json_fields FILE: check FILE is exactly one JSON object with the fields
# and their types, and print them as "key=value" lines (booleans as
# true/false, numbers as written).
if command -v python3 >/dev/null; then
	json_fields()
	{
		python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
if len(lines) != 1:
    sys.exit("expected one line, got %d: %r" % (len(lines), lines))
o = json.loads(lines[0])
types = {"exit_code": int, "signal": int, "timed_out": bool, "wall_s": (int, float),
         "user_s": (int, float), "sys_s": (int, float), "max_rss_kb": int}
for k, t in types.items():
    if k not in o:
        sys.exit("missing key %s in %s" % (k, lines[0]))
    if not isinstance(o[k], t) or (t is int and isinstance(o[k], bool)):
        sys.exit("%s has the wrong type in %s" % (k, lines[0]))
    if t is not bool and o[k] < 0:
        sys.exit("%s is negative in %s" % (k, lines[0]))
    v = o[k]
    print("%s=%s" % (k, str(v).lower() if t is bool else v))
' "$1"
	}
elif command -v jq >/dev/null; then
	json_fields()
	{
		[ "$(wc -l <"$1")" -eq 1 ] || { echo "expected one line" >&2; return 1; }
		jq -er 'to_entries[] | select(.key | IN("exit_code","signal",
			"timed_out","wall_s","user_s","sys_s","max_rss_kb"))
			| "\(.key)=\(.value)"' "$1"
	}
else
	json_fields()
	{
		[ "$(wc -l <"$1")" -eq 1 ] || { echo "expected one line" >&2; return 1; }
		grep -oE '"(exit_code|signal|timed_out|wall_s|user_s|sys_s|max_rss_kb)": ?[^,}]+' "$1" |
			sed -E 's/^"([a-z_]+)": ?/\1=/'
	}
fi

# field NAME: a value from $T/fields.
field() { sed -n "s/^$1=//p" "$T/fields"; }
# ge A B: A >= B, decimals allowed.
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }

# run_json WANT_RC ARGS...: tether exec --json ARGS, stdout to $T/json.out,
# the parsed fields in $T/fields. The JSON is the last line of stderr; only
# the timeout's own message may come before it.
run_json()
{
	local want=$1 rc before=
	shift
	tx exec --node "$NODE_URL" -n --json "$@" >"$T/json.out" 2>"$T/json.err"
	rc=$?
	assert_eq "$want" "$rc" "exit code of exec --json $* ($(show "$T/json.err"))"
	[ "$want" = 124 ] && before="tether: sandbox timeout exceeded after 1s"
	assert_eq "$before" "$(head -n -1 "$T/json.err")" \
		"stderr before the JSON line of --json $*"
	tail -n 1 "$T/json.err" >"$T/json.line"
	json_fields "$T/json.line" >"$T/fields" 2>"$T/fields.err" ||
		fail "--json $*: not one JSON object with the fields: $(show "$T/fields.err") (stderr: $(show "$T/json.err"))"
	[ "$(wc -l <"$T/fields")" -eq 7 ] ||
		fail "--json $*: expected 7 fields, got $(show "$T/fields")"
}

run_json 3 -- sh -c 'echo out; exit 3'
assert_eq out "$(cat "$T/json.out")" "stdout with --json (untouched)"
assert_eq 3 "$(field exit_code)" "exit_code of exit 3"
assert_eq 0 "$(field signal)" "signal of exit 3"
assert_eq false "$(field timed_out)" "timed_out of exit 3"
log "--json, exit 3: ok"

run_json 137 -- sh -c 'kill -9 $$'
assert_eq 137 "$(field exit_code)" "exit_code of kill -9"
assert_eq 9 "$(field signal)" "signal of kill -9"
log "--json, kill -9: ok"

run_json 124 --timeout 1 -- sleep 30
assert_eq 124 "$(field exit_code)" "exit_code after --timeout"
assert_eq true "$(field timed_out)" "timed_out after --timeout"
ge "$(field wall_s)" 0.9 || fail "wall_s $(field wall_s) after --timeout 1"
log "--json, timeout: ok"

# Usage is measured: sleep shows in wall time, a busy loop in CPU time,
# a 64 MiB buffer in max RSS.
run_json 0 -- sleep 0.3
ge "$(field wall_s)" 0.29 || fail "wall_s $(field wall_s) for sleep 0.3"
run_json 0 -- sh -c 'i=0; while [ $i -lt 300000 ]; do i=$((i + 1)); done'
ge "$(awk -v u="$(field user_s)" -v s="$(field sys_s)" 'BEGIN { print u + s }')" 0.02 ||
	fail "user_s $(field user_s) + sys_s $(field sys_s) for a busy loop"
ge "$(field wall_s)" "$(field user_s)" ||
	fail "wall_s $(field wall_s) below user_s $(field user_s) for a one-thread loop"
run_json 0 -- dd if=/dev/zero of=/dev/null bs=64M count=1 status=none
ge "$(field max_rss_kb)" 60000 ||
	fail "max_rss_kb $(field max_rss_kb) for a 64 MiB buffer"
log "--json, wall, CPU and RSS measured: ok"

tx exec --node "$NODE_URL" -n --stats -- sh -c 'exit 4' >/dev/null 2>"$T/stats.err"
rc=$?
assert_eq 4 "$rc" "exit code with --stats"
assert_match '^tether: exit 4, wall [0-9.]+s, user [0-9.]+s, sys [0-9.]+s, max rss [0-9]+ KiB$' \
	"$(cat "$T/stats.err")" "the --stats line"
assert_eq 1 "$(wc -l <"$T/stats.err")" "lines printed by --stats"
log "--stats: ok"

node_alive "$NODE_PID" "$NODE_URL" || fail "the node stopped serving"
