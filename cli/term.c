/* SPDX-License-Identifier: MIT */
/* Signals arrive on a signalfd so the exec loops can poll them with their
 * streams; -t sets the local terminal raw, as ssh -t does. */
#include "term.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

static void forwarded_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGWINCH);
}

int cli_signals_open(void)
{
	sigset_t set;
	int fd;

	forwarded_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void cli_signals_close(int fd)
{
	sigset_t set;

	if (fd < 0)
		return;
	close(fd);
	forwarded_set(&set);
	/* Only this thread's mask: nng's threads keep theirs, so a signal
	 * still lands here and takes the default action. */
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

bool cli_term_size(int fd, uint16_t *rows, uint16_t *cols)
{
	struct winsize ws;

	if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0)
		return false;
	*rows = ws.ws_row;
	*cols = ws.ws_col;
	return true;
}

int cli_term_raw(int fd, struct termios *saved)
{
	struct termios t;

	if (tcgetattr(fd, saved) < 0)
		return -errno;
	t = *saved;
	cfmakeraw(&t);
	return tcsetattr(fd, TCSADRAIN, &t) < 0 ? -errno : 0;
}

void cli_term_restore(int fd, const struct termios *saved)
{
	(void)tcsetattr(fd, TCSADRAIN, saved);
}
