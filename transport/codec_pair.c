/* SPDX-License-Identifier: MIT */
/* PAIR and PAIRED (codec.h, docs/protocol.md "Pairing"): a client's public
 * key for a node's one-time token, and the certificate the node issues. */
#include <errno.h>
#include <string.h>

#include "codec.h"
#include "codec_int.h"

static int get_mac(struct rd *r, struct tp_bytes *mac)
{
	int k = tpc_get_blob(r, "mac", -1, TP_PAIR_MAC, true, mac);

	if (k < 0)
		return k;
	if (mac->len != TP_PAIR_MAC)
		return tpc_fail(r, -EPROTO, "mac", -1, "%u bytes, not %u",
				mac->len, TP_PAIR_MAC);
	return 0;
}

static int get_der(struct rd *r, const char *field, struct tp_bytes *out)
{
	int k = tpc_get_blob(r, field, -1, TP_PAIR_DER_MAX, true, out);

	if (k < 0)
		return k;
	if (!out->len)
		return tpc_fail(r, -EPROTO, field, -1, "empty");
	return 0;
}

int tpc_decode_pair(struct rd *r, struct tp_msg *m)
{
	int k;

	if (m->type == TP_PAIR) {
		if ((k = tpc_get_name(r, "token", false, &m->pair.token)) < 0 ||
		    (k = get_der(r, "key", &m->pair.key)) < 0)
			return k;
		return get_mac(r, &m->pair.mac);
	}
	if ((k = get_der(r, "ca", &m->paired.ca)) < 0 ||
	    (k = get_der(r, "cert", &m->paired.cert)) < 0)
		return k;
	return get_mac(r, &m->paired.mac);
}

static void put_mac(struct wr *w, const struct tp_bytes *mac)
{
	if (!w->r && mac->len != TP_PAIR_MAC)
		w->r = -EINVAL;
	tpc_put_bytes(w, mac, TP_PAIR_MAC);
}

void tpc_put_pair(struct wr *w, const struct tp_msg *m)
{
	if (m->type == TP_PAIR) {
		tpc_put_bytes(w, &m->pair.token, TP_PAIR_ID_MAX);
		tpc_put_bytes(w, &m->pair.key, TP_PAIR_DER_MAX);
		put_mac(w, &m->pair.mac);
		return;
	}
	tpc_put_bytes(w, &m->paired.ca, TP_PAIR_DER_MAX);
	tpc_put_bytes(w, &m->paired.cert, TP_PAIR_DER_MAX);
	put_mac(w, &m->paired.mac);
}
