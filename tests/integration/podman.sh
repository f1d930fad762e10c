# SPDX-License-Identifier: MIT
# Podman's Docker-compatible API service for the docker backend's tests,
# sourced after lib.sh: start_podman runs `podman system service` on a
# socket in the test's temp dir, with storage of its own there (vfs, runc,
# cgroupfs: what this machine's hybrid cgroups allow), and imports
# localhost/mini:latest, a busybox rootfs built here: no registry is
# reachable. It sets DOCKER_HOST and PODMAN (the CLI on the same storage);
# stop_podman removes every container and stops the service.

PODMAN=()

start_podman()
{
	local pd=$T/pd rootfs=$T/pd/rootfs a
	command -v podman >/dev/null || { log "no podman: skipped"; exit 77; }
	[ -x /bin/busybox ] || { log "no busybox-static: skipped"; exit 77; }
	[ "$(id -u)" = 0 ] || { log "not root: skipped"; exit 77; }
	PODMAN=(podman --root "$pd/st" --runroot "$pd/run" --storage-driver vfs
		--runtime runc --cgroup-manager cgroupfs --events-backend file)
	mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" || fail "mkdir rootfs"
	cp /bin/busybox "$rootfs/bin/" || fail "cp busybox"
	for a in $("$rootfs/bin/busybox" --list); do
		[ "$a" = busybox ] || ln -s busybox "$rootfs/bin/$a"
	done
	echo 'root:x:0:0:root:/:/bin/sh' >"$rootfs/etc/passwd"
	tar -C "$rootfs" -cf "$pd/mini.tar" . || fail "tar rootfs"
	"${PODMAN[@]}" import -q "$pd/mini.tar" localhost/mini:latest \
		>"$pd/import.log" 2>&1 || fail "podman import: $(show "$pd/import.log")"
	"${PODMAN[@]}" system service --time=0 "unix://$pd/podman.sock" \
		>"$pd/service.log" 2>&1 &
	_PIDS+=($!)
	PODMAN_PID=$!
	export DOCKER_HOST=unix://$pd/podman.sock
	wait_until 30 test -S "$pd/podman.sock" ||
		fail "podman service: no socket: $(show "$pd/service.log")"
}

stop_podman()
{
	local m
	[ ${#PODMAN[@]} -gt 0 ] || return 0
	local c
	"${PODMAN[@]}" rm -af -t 0 >/dev/null 2>&1
	kill -TERM "$PODMAN_PID" 2>/dev/null
	wait_until 15 pid_gone "$PODMAN_PID" || kill -KILL "$PODMAN_PID" 2>/dev/null
	# What outlived its container's removal: each container's and each
	# exec's conmon (execs' wait 300 s before they go), with what runs
	# under it (a container's init ends its whole pid namespace).
	for c in $(pids_matching "$T/pd/st/vfs-containers/"); do
		pkill -KILL -P "$c" 2>/dev/null
		kill -KILL "$c" 2>/dev/null
	done
	# What the runtime mounted under the temp dir (shm, overlays).
	for m in $(awk -v t="$T/pd" '$2 ~ "^"t {print $2}' /proc/mounts | sort -r); do
		umount -l "$m" 2>/dev/null
	done
}

# The names of tether's containers of an agent (label tether.agent).
containers_of()
{
	"${PODMAN[@]}" ps -a --filter "label=tether.agent=$1" --format '{{.Names}}'
}
