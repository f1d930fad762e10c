/* SPDX-License-Identifier: MIT */
/* Encoding into the nng message body saves a copy of every frame, which is
 * most of the bytes a link moves (stdout, stderr, stdin chunks). */
#include "nngmsg.h"

#include "error.h"

int tp_msg_to_nng(const struct tp_msg *m, nng_msg **ret)
{
	ssize_t n = tp_msg_size(m);
	nng_msg *msg;
	int r;

	if (n < 0)
		return (int)n;
	r = nng_msg_alloc(&msg, (size_t)n);
	if (r)
		return tp_errno_from_nng(r);
	r = tp_msg_write(m, nng_msg_body(msg), (size_t)n);
	if (r < 0) {
		nng_msg_free(msg);
		return r;
	}
	*ret = msg;
	return 0;
}
