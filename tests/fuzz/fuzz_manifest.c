/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the manifest and delta decoders: any bytes decode
 * safely or are refused with a reason; whatever decodes re-encodes to the
 * same bytes; a decoded delta is applied to a small fixed base. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "manifest_fixture.h"

/* Called by libFuzzer; declared here for -Wmissing-prototypes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is the fuzzer's signal for a finding: every check below is a
 * property of the code, never of the input. */
static void check(bool ok)
{
	if (!ok)
		abort();
}

static const struct sd_manifest *base(void)
{
	static struct sd_manifest m;
	static bool built;

	if (!built) {
		check(fuzz_manifest_variant(&m, 0) == 0);
		built = true;
	}
	return &m;
}

static void check_refusal(int r, const struct sd_err *why)
{
	check(r == -EINVAL || r == -EMSGSIZE || r == -EPROTONOSUPPORT ||
	      r == -ENOMEM);
	check(why->what[0] != '\0' &&
	      memchr(why->what, '\0', sizeof(why->what)));
}

static void check_same_bytes(int r, uint8_t *buf, size_t len,
			     const uint8_t *data, size_t size)
{
	check(r == 0 && len == size && memcmp(buf, data, size) == 0);
	free(buf);
}

/* A sealed manifest is what it claims: sorted, every path found where it
 * is, every hardlink resolving to a file, and sealing again changes
 * nothing. */
static void check_sealed(struct sd_manifest *m)
{
	struct sd_id root = m->root;

	check(m->sealed);
	for (size_t i = 0; i < m->count; i++) {
		const struct sd_entry *e = &m->e[i], *p;

		check(sd_manifest_find(m, e->path, e->path_len) == e);
		check(sd_manifest_lower_bound(m, e->path, e->path_len) == i);
		p = sd_manifest_resolve(m, e);
		check(p && (e->type != SD_T_HARDLINK || p->type == SD_T_FILE));
	}
	check(sd_manifest_seal(m, NULL) == 0 && sd_id_eq(&root, &m->root));
}

static void fuzz_manifest(const uint8_t *data, size_t size)
{
	struct sd_err why = { "" };
	struct sd_manifest m;
	uint8_t *buf = NULL;
	size_t len = 0;
	uint64_t version;
	struct sd_id root;
	int r, peek;

	/* The header alone: whatever decodes states its version and root. */
	peek = sd_manifest_peek(data, size, &version, &root);
	check(peek == 0 || peek == -EINVAL || peek == -EPROTONOSUPPORT);
	r = sd_manifest_decode(data, size, &m, &why);
	check(r < 0 ||
	      (peek == 0 && version == m.version && sd_id_eq(&root, &m.root)));
	if (r < 0) {
		check_refusal(r, &why);
		check(m.count == 0);
		/* The decision does not depend on why being there. */
		check(sd_manifest_decode(data, size, &m, NULL) == r);
		return;
	}
	r = sd_manifest_encode(&m, &buf, &len);
	check_same_bytes(r, buf, len, data, size);
	check_sealed(&m);
	sd_manifest_free(&m);
}

/* out came from applying d to b: it is d's version and root, and the diff
 * of b and out, through the encoder and decoder, gives out again. */
static void check_applied(const struct sd_manifest *b, const struct sd_delta *d,
			  struct sd_manifest *out)
{
	struct sd_manifest again;
	struct sd_delta dd, dec;
	uint8_t *buf = NULL;
	size_t len = 0;

	check(out->version == d->version && sd_id_eq(&out->root, &d->root));
	check_sealed(out);
	check(sd_delta_diff(b, out, &dd) == 0);
	check(sd_delta_encode(&dd, &buf, &len) == 0);
	check(sd_delta_decode(buf, len, &dec, NULL) == 0);
	check(sd_delta_apply(b, &dec, &again, NULL) == 0);
	check(again.count == out->count && sd_id_eq(&again.root, &out->root));
	for (size_t i = 0; i < out->count; i++)
		check(sd_entry_equal(&again.e[i], &out->e[i]));
	sd_manifest_free(&again);
	sd_delta_free(&dec);
	sd_delta_free(&dd);
	free(buf);
}

/* Apply d to b; when only the promised root is wrong, learn the real one
 * from the refusal and apply again, so that the success path is reached
 * from arbitrary puts and deletes too. */
static void apply(const struct sd_manifest *b, struct sd_delta *d)
{
	static const char mismatch[] = "root hash mismatch: expected ";
	struct sd_err why = { "" };
	struct sd_manifest out;
	const char *got;
	int r;

	r = sd_delta_apply(b, d, &out, &why);
	if (r == -EINVAL &&
	    !strncmp(why.what, mismatch, sizeof(mismatch) - 1)) {
		got = strstr(why.what, ", got ");
		check(got && sd_id_parse(got + 6, &d->root) == 0);
		r = sd_delta_apply(b, d, &out, &why);
		check(r == 0);
	}
	if (r < 0) {
		check(r == -EINVAL || r == -ESTALE || r == -ENOMEM);
		check(why.what[0] != '\0');
		check(out.count == 0);
		return;
	}
	check_applied(b, d, &out);
	sd_manifest_free(&out);
}

static void fuzz_delta(const uint8_t *data, size_t size)
{
	const struct sd_manifest *b = base();
	struct sd_err why = { "" };
	struct sd_delta d;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	r = sd_delta_decode(data, size, &d, &why);
	if (r < 0) {
		check_refusal(r, &why);
		check(d.ndel == 0 && d.put.count == 0);
		check(sd_delta_decode(data, size, &d, NULL) == r);
		return;
	}
	r = sd_delta_encode(&d, &buf, &len);
	check_same_bytes(r, buf, len, data, size);
	apply(b, &d);
	/* As if it were meant for the base: the deletes and puts are what
	 * is being tested. */
	if (d.base_version != b->version || !sd_id_eq(&d.base_root, &b->root)) {
		d.base_version = b->version;
		d.base_root = b->root;
		if (d.version <= d.base_version)
			d.version = d.base_version + 1;
		apply(b, &d);
	}
	sd_delta_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_manifest(data, size);
	fuzz_delta(data, size);
	return 0;
}
