# SPDX-License-Identifier: MIT
# A node on tls+tcp:// serves paired clients only. tether node pair prints
# a one-time token; tether pair spends it: the node's authority is pinned
# and the client's key gets its certificate. Unpaired clients, a wrong
# proof, a spent or expired token are refused in one line; a second
# client stays unpaired; another node on the same address (another
# authority) is refused by the paired client.
# Usage: pair.sh
. "$(dirname "$0")/lib.sh"

export TETHER_TLS_HOME=$T/tls
mkdir -p "$T/root" "$T/root2" || fail "mkdir"
start_node tls "$T/root"
url=$NODE_URL
pid=$NODE_PID

# ---- unpaired: refused, in one line ----
tx exec --node "$url" -n -- echo hi >"$T/o" 2>"$T/e.err"
assert_eq 126 $? "exit of an unpaired client's command"
grep -q "^tether: this client is not paired with the node: run tether node pair there" "$T/e.err" ||
	fail "no line about pairing: $(show "$T/e.err")"
[ ! -s "$T/o" ] || fail "an unpaired client's command ran"

# ---- a wrong proof spends the token ----
tok=$(tx node pair --root "$T/root") || fail "tether node pair"
assert_match '^[a-z2-9]{8}\.[0-9a-f]{32}$' "$tok" "a token"
bad=${tok%%.*}.00000000000000000000000000000000
tx pair --node "$url" --token "$bad" 2>"$T/e.err" && fail "paired with a wrong secret"
grep -q "the proof of the token does not match" "$T/e.err" || fail "wrong proof: $(show "$T/e.err")"
tx pair --node "$url" --token "$tok" 2>"$T/e.err" && fail "paired with a token a wrong proof spent"
grep -q "an unknown token" "$T/e.err" || fail "spent token: $(show "$T/e.err")"
[ ! -e "$T/tls/nodes" ] || fail "a refused pairing pinned something"
log "unpaired and wrongly proved clients refused; a token is spent once: ok"

# ---- pairing ----
tok=$(tx node pair --root "$T/root") || fail "tether node pair"
out=$(tx pair --node "$url" --token "$tok" 2>"$T/e.err") || fail "tether pair: $(show "$T/e.err")"
assert_match "^tether: paired with ${url/+/\\+} " "$out" "tether pair's line"
out=$(tx exec --node "$url" -n -- sh -c 'echo hi; exit 5' 2>"$T/e.err")
assert_eq 5 $? "exit code of a paired client's command"
assert_eq hi "$out" "output of a paired client's command"
tx ps --node "$url" >/dev/null 2>"$T/e.err" || fail "tether ps when paired: $(show "$T/e.err")"
tx pair --node "$url" --token "$tok" 2>"$T/e.err" && fail "a token paired twice"
log "paired: commands run; the token is gone: ok"

# ---- expired tokens; another client stays out ----
tok=$(tx node pair --root "$T/root" --ttl 1) || fail "tether node pair --ttl"
sleep 2
TETHER_TLS_HOME=$T/tls2 tx pair --node "$url" --token "$tok" 2>"$T/e.err" && fail "paired with an expired token"
grep -q "an expired token" "$T/e.err" || fail "expired: $(show "$T/e.err")"
TETHER_TLS_HOME=$T/tls2 tx exec --node "$url" -n -- true 2>"$T/e.err"
assert_eq 126 $? "exit of another, unpaired client"
log "expired tokens refused; another client is not paired by ours: ok"

# ---- another node on the address: the pin refuses it ----
stop_node "$pid" TERM >/dev/null
start_node tls "$T/root2" "$url"
tx exec --node "$url" -n -- echo hi >"$T/o" 2>"$T/e.err"
assert_eq 255 $? "exit against another node on the paired address"
grep -q "the TLS handshake failed: the node's key is not the one this client paired with" "$T/e.err" ||
	fail "no line about the key: $(show "$T/e.err")"
[ ! -s "$T/o" ] || fail "a command ran on a node that is not the paired one"
log "another node on the same address: refused by the pin: ok"
