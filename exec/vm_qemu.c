/* SPDX-License-Identifier: MIT */
/* The vm backend's qemu provider (vm_qemu.h). */
#include "vm_qemu.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "clock.h"
#include "log.h"
#include "mkdirs.h"

#define BOOT_MS	 180000 /* TCG on a loaded machine: generous */
#define PROBE_MS 5000	/* a KVM boot prints its banner well within */
#define QEMU	 "qemu-system-x86_64"

static int read_text(const char *path, char *buf, size_t cap)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return (int)n;
}

static int write_text(const char *path, const char *text)
{
	_cleanup_close_ int fd =
		open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	return write(fd, text, n) == (ssize_t)n ? 0 : -EIO;
}

/* The qemu of dir, when its pid file names a live qemu. */
static pid_t qemu_pid(const char *dir)
{
	char path[PATH_MAX + 16], buf[64], cmd[256];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/pid", dir);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return 0;
	pid = (pid_t)atoi(buf);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if (pid <= 0 || read_text(path, cmd, sizeof(cmd)) <= 0 ||
	    !strstr(cmd, "qemu-system"))
		return 0;
	return pid;
}

static void stop(pid_t pid)
{
	if (pid <= 0 || kill(pid, SIGTERM) < 0)
		return;
	for (int i = 0; i < 50 && kill(pid, 0) == 0; i++)
		usleep(100 * 1000);
	(void)kill(pid, SIGKILL);
}

/* Whether an sshd greets on 127.0.0.1:port within ms. */
static bool ssh_greets(unsigned port, int ms)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr = { htonl(INADDR_LOOPBACK) } };
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[8];

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return false;
	return poll(&p, 1, ms) > 0 && read(fd, buf, 4) == 4 &&
	       memcmp(buf, "SSH-", 4) == 0;
}

static unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr = { htonl(INADDR_LOOPBACK) } };
	socklen_t n = sizeof(a);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &n) < 0)
		return 0;
	return ntohs(a.sin_port);
}

static long cpu_khz(void)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/cpuinfo", "re");
	char line[256];
	double mhz;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "cpu MHz : %lf", &mhz) == 1)
			return (long)(mhz * 1000);
	return 0;
}

/* Run qemu with argv (it daemonizes itself), output to log. 0 once it
 * returned 0 within ms, else -errno (-ETIMEDOUT: killed, hung). */
static int run_qemu(char *const *argv, const char *log, int64_t ms)
{
	int64_t until = util_now_ms() + ms;
	int st;
	pid_t pid = fork(), w;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			      0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0 || dup2(fd, 0) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	while ((w = waitpid(pid, &st, WNOHANG)) == 0 ||
	       (w < 0 && errno == EINTR)) {
		if (util_now_ms() > until) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -ETIMEDOUT;
		}
		usleep(20 * 1000);
	}
	if (w < 0)
		return -errno;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* The last line of path, into out. */
static void last_line(const char *path, char *out, size_t cap)
{
	char buf[8192];
	int n = read_text(path, buf, sizeof(buf));
	char *end, *line;

	out[0] = '\0';
	if (n <= 0)
		return;
	end = buf + n;
	while (end > buf && (end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	line = strrchr(buf, '\n');
	snprintf(out, cap, "%.*s", (int)(cap - 1), line ? line + 1 : buf);
}

/* Boot the VM of dir: args common to the probe and the real boot. */
static int boot(const char *dir, const char *image, const char *accel,
		unsigned port, const struct exec_vm_conf *c, bool probe)
{
	char mem[32], smp[32], append[256], kernel[PATH_MAX + 16];
	char initrd[PATH_MAX + 16], serial[PATH_MAX + 32], net[128];
	char pidf[PATH_MAX + 16], log[PATH_MAX + 16], machine[128];
	char *argv[40];
	size_t n = 0;

	snprintf(machine, sizeof(machine),
		 "microvm,x-option-roms=off,isa-serial=on,rtc=on");
	snprintf(mem, sizeof(mem), "%llu",
		 (unsigned long long)((c->memory ? c->memory : 1ull << 30) >>
				      20));
	snprintf(smp, sizeof(smp), "%u", c->cpus ? c->cpus : 1);
	snprintf(append, sizeof(append),
		 "console=ttyS0 reboot=t panic=-1 tsc_early_khz=%ld",
		 cpu_khz());
	snprintf(kernel, sizeof(kernel), "%s/vmlinux", image);
	snprintf(initrd, sizeof(initrd), "%s/initrd.gz", image);
	snprintf(serial, sizeof(serial), "file:%s/%s", dir,
		 probe ? "probe.log" : "console.log");
	snprintf(net, sizeof(net), "user,id=n0,hostfwd=tcp:127.0.0.1:%u-:22",
		 port);
	snprintf(pidf, sizeof(pidf), "%s/%s", dir, probe ? "probe.pid" : "pid");
	snprintf(log, sizeof(log), "%s/qemu.log", dir);
	argv[n++] = QEMU;
	argv[n++] = "-M";
	argv[n++] = machine;
	argv[n++] = "-accel";
	argv[n++] = (char *)accel;
	argv[n++] = "-cpu";
	argv[n++] = strcmp(accel, "kvm") == 0 ? "host" : "max";
	argv[n++] = "-m";
	argv[n++] = mem;
	argv[n++] = "-smp";
	argv[n++] = smp;
	argv[n++] = "-nodefaults";
	argv[n++] = "-no-user-config";
	argv[n++] = "-display";
	argv[n++] = "none";
	argv[n++] = "-serial";
	argv[n++] = serial;
	argv[n++] = "-kernel";
	argv[n++] = kernel;
	argv[n++] = "-initrd";
	argv[n++] = initrd;
	argv[n++] = "-append";
	argv[n++] = append;
	if (!probe) {
		argv[n++] = "-netdev";
		argv[n++] = net;
		argv[n++] = "-device";
		argv[n++] = "virtio-net-device,netdev=n0";
	}
	argv[n++] = "-pidfile";
	argv[n++] = pidf;
	argv[n++] = "-daemonize";
	argv[n] = NULL;
	/* A KVM that hangs (a nested device) must not hang us. */
	return run_qemu(argv, log, probe ? PROBE_MS : 60000);
}

/* "kvm" when a short boot under KVM prints the kernel's banner, else
 * "tcg": /dev/kvm alone proves nothing (a nested device may hang). The
 * answer is kept in HOME/vm/accel. */
static const char *accel(const char *home, const char *dir, const char *image,
			 const struct exec_vm_conf *c)
{
	char path[PATH_MAX + 16], buf[16], probe[PATH_MAX + 16];
	char pidf[PATH_MAX + 16], text[4096];
	bool kvm = false;
	int64_t until;

	snprintf(path, sizeof(path), "%s/vm/accel", home);
	if (read_text(path, buf, sizeof(buf)) > 0)
		return strncmp(buf, "kvm", 3) == 0 ? "kvm" : "tcg";
	if (access("/dev/kvm", R_OK | W_OK) == 0) {
		snprintf(probe, sizeof(probe), "%s/probe.log", dir);
		snprintf(pidf, sizeof(pidf), "%s/probe.pid", dir);
		unlink(probe);
		if (boot(dir, image, "kvm", 0, c, true) == 0) {
			until = util_now_ms() + PROBE_MS;
			while (!kvm && util_now_ms() < until) {
				usleep(100 * 1000);
				kvm = read_text(probe, text, sizeof(text)) >
					      0 &&
				      strstr(text, "Linux version");
			}
			if (read_text(pidf, buf, sizeof(buf)) > 0)
				stop((pid_t)atoi(buf));
		}
	}
	(void)write_text(path, kvm ? "kvm\n" : "tcg\n");
	log_info("vm: %s (%s)", kvm ? "KVM" : "TCG, software emulation",
		 kvm ? "a probe booted" : "no working KVM");
	return kvm ? "kvm" : "tcg";
}

int exec_vm_qemu_up(const char *home, const char *id,
		    const struct exec_vm_conf *c, struct exec_vm_up *up,
		    char *err, size_t errlen)
{
	char dir[PATH_MAX], image[PATH_MAX], path[PATH_MAX + 32];
	char hostpub[512], line[640], text[64];
	_cleanup_close_ int lock = -1;
	unsigned port = 0;
	int64_t until;
	pid_t pid;
	int r;

	snprintf(dir, sizeof(dir), "%s/vm/%s", home, id);
	if (c->image)
		snprintf(image, sizeof(image), "%s", c->image);
	else
		snprintf(image, sizeof(image), "%s/vm/image", home);
	snprintf(path, sizeof(path), "%s/host.pub", image);
	if (read_text(path, hostpub, sizeof(hostpub)) <= 0) {
		snprintf(err, errlen,
			 "vm image %s: not there (make it: tether vm image "
			 "--out %s)",
			 image, image);
		return -ENOENT;
	}
	r = util_mkdirs(dir, 0700);
	snprintf(path, sizeof(path), "%s/lock", dir);
	lock = r < 0 ? -1 : open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	snprintf(path, sizeof(path), "%s/port", dir);
	if (read_text(path, text, sizeof(text)) > 0)
		port = (unsigned)atoi(text);
	pid = qemu_pid(dir);
	if (!pid || !port || !ssh_greets(port, 5000)) {
		stop(pid);
		port = free_port();
		snprintf(text, sizeof(text), "%u\n", port);
		if (!port || write_text(path, text) < 0) {
			snprintf(err, errlen, "%s: no port for the VM's ssh",
				 dir);
			return -EADDRNOTAVAIL;
		}
		snprintf(path, sizeof(path), "%s/console.log", dir);
		unlink(path);
		r = boot(dir, image, accel(home, dir, image, c), port, c,
			 false);
		if (r < 0) {
			snprintf(path, sizeof(path), "%s/qemu.log", dir);
			last_line(path, line, sizeof(line));
			snprintf(err, errlen, "qemu: %s",
				 r == -ENOENT ? QEMU " not found (apt-get "
						     "install qemu-system-x86)"
					      : line);
			return r;
		}
		until = util_now_ms() + BOOT_MS;
		while (!ssh_greets(port, 1000)) {
			if (!qemu_pid(dir) || util_now_ms() > until) {
				snprintf(path, sizeof(path), "%s/console.log",
					 dir);
				last_line(path, line, sizeof(line));
				snprintf(err, errlen,
					 "the VM %s %s: its console's last "
					 "line: %s",
					 id,
					 qemu_pid(dir) ? "did not answer on "
							 "ssh in time"
						       : "stopped",
					 line);
				stop(qemu_pid(dir));
				return -ETIMEDOUT;
			}
			usleep(200 * 1000);
		}
	}
	up->port = port;
	snprintf(up->key, sizeof(up->key), "%.*s/client", PATH_MAX - 1, image);
	snprintf(up->known_hosts, sizeof(up->known_hosts), "%.*s/known_hosts",
		 PATH_MAX - 1, dir);
	hostpub[strcspn(hostpub, "\n")] = '\0';
	{
		/* "type base64" of the host key, for this port. */
		char *sp = strchr(hostpub, ' ');
		char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;

		if (sp2)
			*sp2 = '\0';
	}
	snprintf(line, sizeof(line), "[127.0.0.1]:%u %s\n", port, hostpub);
	r = write_text(up->known_hosts, line);
	snprintf(path, sizeof(path), "%s/lease", dir);
	if (r == 0)
		r = write_text(path, id);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

bool exec_vm_qemu_running(const char *dir)
{
	return qemu_pid(dir) != 0;
}

void exec_vm_qemu_stop(const char *dir)
{
	stop(qemu_pid(dir));
}
