/* SPDX-License-Identifier: MIT */
/* nng error codes to errno, so callers above transport/ see one error
 * system and strerror() gives the user-facing text. */
#include "error.h"

#include <errno.h>
#include <nng/nng.h>

int tp_errno_from_nng(int rv)
{
	if (rv == 0)
		return 0;
	if (rv & NNG_ESYSERR)
		return -(rv & ~NNG_ESYSERR);
	switch (rv) {
	case NNG_EINTR: return -EINTR;
	case NNG_ENOMEM: return -ENOMEM;
	case NNG_EINVAL: return -EINVAL;
	case NNG_EBUSY: return -EBUSY;
	case NNG_ETIMEDOUT: return -ETIMEDOUT;
	case NNG_ECONNREFUSED: return -ECONNREFUSED;
	case NNG_ECLOSED: return -ECONNRESET;
	case NNG_EAGAIN: return -EAGAIN;
	case NNG_ENOTSUP: return -ENOTSUP;
	case NNG_EADDRINUSE: return -EADDRINUSE;
	case NNG_ESTATE: return -EINVAL;
	case NNG_ENOENT: return -ENOENT;
	case NNG_EPROTO: return -EPROTO;
	case NNG_EUNREACHABLE: return -EHOSTUNREACH;
	case NNG_EADDRINVAL: return -EADDRNOTAVAIL;
	case NNG_EPERM: return -EPERM;
	case NNG_EMSGSIZE: return -EMSGSIZE;
	case NNG_ECONNABORTED: return -ECONNABORTED;
	case NNG_ECONNRESET: return -ECONNRESET;
	case NNG_ECANCELED: return -ECANCELED;
	case NNG_ENOFILES: return -EMFILE;
	case NNG_ENOSPC: return -ENOSPC;
	case NNG_EEXIST: return -EEXIST;
	case NNG_EREADONLY: return -EROFS;
	case NNG_EWRITEONLY: return -EBADF;
	case NNG_ECRYPTO: return -EKEYREJECTED; /* a TLS handshake failed */
	case NNG_EPEERAUTH: return -EKEYREJECTED;
	case NNG_ENOARG: return -EINVAL;
	case NNG_EAMBIGUOUS: return -EINVAL;
	case NNG_EBADTYPE: return -EINVAL;
	case NNG_ECONNSHUT: return -ECONNRESET;
	case NNG_EINTERNAL: return -EIO;
	default: return -EIO;
	}
}
