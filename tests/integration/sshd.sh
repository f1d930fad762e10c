# SPDX-License-Identifier: MIT
# OpenSSH's sshd on 127.0.0.1 for the ssh backend's tests, sourced after
# lib.sh: start_sshd runs it on a free port with a host key and an
# authorized client key of its own (in $T/ssh), and sets SSH_PORT,
# SSH_HOST_PUB (the host key's "type base64") and SSH_CLIENT_KEY.

start_sshd()
{
	local d=$T/ssh port sshd
	sshd=$(command -v sshd || echo /usr/sbin/sshd)
	[ -x "$sshd" ] || { log "no sshd: skipped"; exit 77; }
	mkdir -p "$d" /run/sshd && chmod 700 "$d" || fail "mkdir $d"
	ssh-keygen -q -t ed25519 -N '' -C tether-test-host -f "$d/host" || fail "ssh-keygen"
	ssh-keygen -q -t ed25519 -N '' -C tether-test-client -f "$d/client" || fail "ssh-keygen"
	cp "$d/client.pub" "$d/authorized_keys"
	for _ in $(seq 20); do
		port=$((20000 + RANDOM % 40000))
		cat >"$d/sshd_config" <<-EOF
			ListenAddress 127.0.0.1
			Port $port
			HostKey $d/host
			AuthorizedKeysFile $d/authorized_keys
			PidFile none
			StrictModes no
			UsePAM no
			PasswordAuthentication no
			KbdInteractiveAuthentication no
			PermitRootLogin prohibit-password
			AllowStreamLocalForwarding yes
			UseDNS no
			MaxSessions 100
			MaxStartups 100
			LogLevel INFO
		EOF
		"$sshd" -D -e -f "$d/sshd_config" >"$d/sshd.log" 2>&1 </dev/null &
		_PIDS+=($!)
		SSHD_PID=$!
		wait_until 10 grep -q 'Server listening' "$d/sshd.log" && break
		kill -KILL "$SSHD_PID" 2>/dev/null
		grep -q 'Address already in use' "$d/sshd.log" || fail "sshd: $(show "$d/sshd.log")"
	done
	grep -q 'Server listening' "$d/sshd.log" || fail "sshd: no free port"
	SSH_PORT=$port
	SSH_HOST_PUB=$(cut -d' ' -f1,2 "$d/host.pub")
	SSH_CLIENT_KEY=$d/client
}
