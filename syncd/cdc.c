/* SPDX-License-Identifier: MIT */
/* FastCDC (Xia et al., "The Design of Fast Content-Defined Chunking for Data
 * Deduplication Based Storage Systems", 2020) over a fixed gear table. */
#include "cdc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* splitmix64 seeded with 0x7465746865726364 ("tethercd"): x += 0x9e3779b9
 * 7f4a7c15; z = x; z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9; z = (z ^ z >> 27)
 * * 0x94d049bb133111eb; output z ^ z >> 31. Frozen: see cdc.h. */
const uint64_t sd_cdc_gear[256] = {
	0x2b21ee9cbf56e3dbull, 0xb872aab18b785375ull, 0xe80aea700466e2ceull,
	0x085cbbaae4adb847ull, 0x7a5b96ae11aa19c7ull, 0x0865c6d0f2ef39beull,
	0x6ddda4bdce56dadeull, 0xf78e9b13ec944de1ull, 0x540c09eeab27f24bull,
	0x2bac010905de94ddull, 0x735b6090bc81c460ull, 0xab3ed94fca55a08full,
	0x9a2136fb82d83eb1ull, 0x7d354d2664d33429ull, 0xb195e36aaae8668aull,
	0xde25416ed764be66ull, 0xc9b9d531809a71e9ull, 0xc7964365d7db6b91ull,
	0x3ee93c0448cc8e7aull, 0x6d63670ef4dced67ull, 0x48d29bf8e2ec421eull,
	0x8693c6cb6c337e50ull, 0x1b9673c9b07bd5d3ull, 0x2f4fed10eb128ae5ull,
	0xb757972d0940f552ull, 0x481e15fdf1b6b92bull, 0x3e03aece6e28fba1ull,
	0xb42d6fdf49bac626ull, 0x75a0c21bbdb74c4eull, 0x60b10005e9f72a37ull,
	0xdcad35153273b074ull, 0x9e60b2fac516f931ull, 0xd93748a5d98dc8a0ull,
	0x1efa8b1581c60641ull, 0xf8c2be175ac6be1cull, 0xd7137aaaa3e5a65bull,
	0x1a7f3ad098132925ull, 0xd0b2df50dff33f51ull, 0xfda9c3dc5771a4c6ull,
	0x7bb51559f0f6b101ull, 0x436220d0ad0d3308ull, 0x6f695fb089601cf7ull,
	0x1b4cb74b26af97baull, 0x474c47077438e182ull, 0x672adf7c96d01bf7ull,
	0x5f4a7c5599d525f9ull, 0xe1243db96ab608dbull, 0x3d61c82b240c5377ull,
	0x574f9218763a2d49ull, 0x96e716873da95923ull, 0x6e122970b1ec701aull,
	0xb985c38ea5111d39ull, 0x9142c44586af402aull, 0xd46ebae666cc2e84ull,
	0xe172c649ca6af398ull, 0xf7d312d0cb3b0b08ull, 0xc163a3838bda1ab7ull,
	0x33d1800426465efbull, 0x18df63210a36b27eull, 0x0386a545e994b670ull,
	0x088a8042ad43ef27ull, 0xd3d28269e8b78711ull, 0x69f8c5a1786d7d21ull,
	0x48cbbe55817680bcull, 0xa1419f06e058d922ull, 0xd336b1badb8115c4ull,
	0xf281a86e532101f2ull, 0xff620602fe984a22ull, 0x32756f9dcd0f9f9aull,
	0xf53dee0ff2deb651ull, 0x6758f34c642d0657ull, 0x8b3270f80f46786full,
	0x3a93d35178f026a7ull, 0xf888ed156fbd5ab4ull, 0xd74c5de046d898e1ull,
	0x292d612a8abd965full, 0x88e50fbd2e946bcbull, 0x5396cab3507cf74eull,
	0x5016b35ce2bc438eull, 0x9652e6fb3d4edf91ull, 0x2698e41dad2e34f2ull,
	0xbde45103f0c660e5ull, 0xaec2a2aac567408bull, 0x77054d6ed753950dull,
	0x5362104561dc1385ull, 0x4d65a05d4b451e97ull, 0x051f31e5d150a514ull,
	0x7daa59c1229897cbull, 0xa5dd22ebcab91448ull, 0xc5bb218c47459d07ull,
	0xf778d07eded93373ull, 0x579992eb7efff67aull, 0x490704d4688356c7ull,
	0xae66e4966c9c90dcull, 0xf360a5aa8da56b6aull, 0xd10f11a58cb7b858ull,
	0x971adac942ec25d7ull, 0xfcc1e15cfa61627full, 0x14a8bc393c1598f0ull,
	0x79a6b80884be6427ull, 0xd0617c0a35e8cf0full, 0x72f153d4b39f86a9ull,
	0x47708317b738712cull, 0x03876b29bff06ad5ull, 0x37305bd4cf2b1c34ull,
	0xcc7354a88eca7f4eull, 0xb2113f585a31fa53ull, 0x28f02bc73a9a750dull,
	0x6fb17797fa50c933ull, 0x746a700de7943206ull, 0xaa1ce02a1eb84d6bull,
	0x419dd91d1d37bfc3ull, 0x04758baab5a0038eull, 0x96cad37c71d429dcull,
	0x8918a24115137a65ull, 0xc960cb09104b49f2ull, 0x27359e7c220fac1aull,
	0x2d2cadc74a5010c0ull, 0xd1e43b8c5b8e0b60ull, 0x93883e79c0c4a37bull,
	0x3be0b73269de7854ull, 0x4714277451b775a2ull, 0x92000c46cb7900faull,
	0xfb76134f5cb1e595ull, 0x3cfeefa8b7837952ull, 0x5f6bc3c284cb8408ull,
	0xce7ecd3d3baf20beull, 0x3916b0a38a9369f9ull, 0x29c2e84770c8c76aull,
	0x2bd2aeda74cce6c1ull, 0xe7906b59d364a9fcull, 0x18ae85a7c935155cull,
	0x36dbe2c9e6b46046ull, 0x0d3b55596016e906ull, 0xd46835c69e21072eull,
	0x4cb04e7066390a30ull, 0x80082cabba945f3dull, 0xfe5145e9e2ca16f9ull,
	0x6cb079b69aa3d135ull, 0x9fb7dee1c2dae1fdull, 0x15b4815719646833ull,
	0xbfe722eabab267d3ull, 0xb1825a1a6f2bbfd0ull, 0xaebb990525e960d4ull,
	0x213cabc8e29abf64ull, 0x2e214c2155a06e07ull, 0x176e4154751f093full,
	0x9926fd89f6c30b3cull, 0x24f6c2fb4a96d925ull, 0x0330578f04077821ull,
	0x1e40de4766175164ull, 0xe3afa9d3bd263fc7ull, 0xe841303ebb1b558cull,
	0xb12b25362155f4e3ull, 0x84d7a29f8d93d6deull, 0xc6fc5ea6a7120e65ull,
	0xbc98f10f578ba2e3ull, 0xc91351c57e0ea6b3ull, 0xfa52ca83e1e10095ull,
	0x69f4259169ec2a88ull, 0x4c74cb77e6cc8365ull, 0x117bbdad8d116956ull,
	0x3231c5dd032e9811ull, 0x9fb55d70503cb9b2ull, 0x2bb1e63077545fdfull,
	0xc8bcf8aad2a79394ull, 0x7445428c153e686eull, 0xcd4cfb86aad8127dull,
	0x96d8ff3a2df6691full, 0x567db000ceab29b5ull, 0xef0aedea099f117cull,
	0xefbf1ef49283a170ull, 0x8e1b2f2bac43741full, 0x1dd934dfbd4b7906ull,
	0x43c450ef03c8c597ull, 0xd9e7abb823f5c532ull, 0x501c12ad7dd6c255ull,
	0x5049bebdebcabcb9ull, 0xf8d47ac9296e4cb5ull, 0x84a95ec6c785b0d0ull,
	0x859d167995cb3ceaull, 0xb361e933bffa1b86ull, 0x48e59fb4825cfd2cull,
	0x00baf4f5e3ca2f8bull, 0x4c929c0d6a30ba71ull, 0xc36ecc8276b1e648ull,
	0x4140412ae267db43ull, 0x3a1697527d48b5fbull, 0xba2fdc3ab5fe275eull,
	0x4bc9911e7cd8ac23ull, 0x563f1c5344ebf9e3ull, 0xe85980a7b6419087ull,
	0xb28746be64ad69c4ull, 0x41c04382f0abf771ull, 0x41f6e35be14417f0ull,
	0x4cc2726934f61469ull, 0x4cdfbc592947c53eull, 0x97bba560608ed05bull,
	0x32c7b92b0968e015ull, 0xa6ce77a86e9bd11cull, 0xa4baddbe982ad3bcull,
	0x30c797d5851a00c2ull, 0x4533ffdc8184c99cull, 0x1de0c2e43b839820ull,
	0xe93801a89aedc0d2ull, 0xb0026ced9e637753ull, 0x9cfb752451083d36ull,
	0x5d98c3ca0ec0222dull, 0xb3f3d3abb3b92cf4ull, 0x0b9959ef84a53d5cull,
	0xb110b354ef55a66full, 0xceb488306e2f6232ull, 0x82000dbf7cb63a4dull,
	0xcb7d924352fc32b9ull, 0x657850f1881e0babull, 0xcc821d2b7bf6673cull,
	0x382cb4f5623f2a2cull, 0x9a4730294a58ddeeull, 0x0f4a01e6b86ff108ull,
	0x67f065c6135385e5ull, 0x323be9563f19f8b3ull, 0x520e39256bac37f2ull,
	0xc9c005f5298ff392ull, 0xc2d37fe7cddbb3ccull, 0x97678631ac81547cull,
	0xad38de251bf04eb5ull, 0x405495ec79787e6bull, 0x33e31ae7fe3cad89ull,
	0x305356a89b585d33ull, 0x37f90ee70f3a2d4eull, 0x530715d90cd10793ull,
	0x914859b57b575372ull, 0x1213140331a0323dull, 0x34b72946bd9d3322ull,
	0xfc7a463acd84cd75ull, 0xd63dc2d4a761cb41ull, 0x4890cc94852edbadull,
	0x43b1e17b9e22d21eull, 0x47e5be209ea89a74ull, 0xa5b5a4655f0ac6a4ull,
	0x0b764d280db8ea09ull, 0x3f7e1cb2ae2d697cull, 0xe5aa84fe3e219259ull,
	0x62b2261325d9bab3ull, 0x31bf2874f8450179ull, 0x0bc3088a76ac756dull,
	0xd6b8bf7b7f561f03ull, 0x247197cd85121bb0ull, 0x0f82f1fed7517bd8ull,
	0xd5c7933e8794b865ull, 0xcdd05535645bd93dull, 0x9020ee8a6e631d1bull,
	0xe509472680f381d8ull, 0x692b4fbde4ce75f9ull, 0x967c6ca9670241a2ull,
	0x26b5d593372d2a66ull,
};

/* The top bits set: the gear hash shifts left, so bit k of fp depends on
 * the last k + 1 bytes, and the top bits see the widest window (64 bytes). */
static uint64_t top_bits(unsigned bits)
{
	return ~UINT64_C(0) << (64 - bits);
}

static void fail(struct sd_err *why, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct sd_err *why, const char *fmt, ...)
{
	va_list ap;

	if (!why)
		return;
	va_start(ap, fmt);
	vsnprintf(why->what, sizeof(why->what), fmt, ap);
	va_end(ap);
}

int sd_cdc_init(struct sd_cdc *c, const struct sd_cdc_params *p,
		struct sd_err *why)
{
	const struct sd_cdc_params def = SD_CDC_PARAMS_DEFAULT;
	unsigned bits;

	if (!p)
		p = &def;
	if (p->min < SD_CDC_MIN_FLOOR) {
		fail(why, "cdc: min %u is below %u", p->min, SD_CDC_MIN_FLOOR);
		return -EINVAL;
	}
	if (p->max > SD_CDC_MAX_LIMIT) {
		fail(why, "cdc: max %u is above %u", p->max, SD_CDC_MAX_LIMIT);
		return -EINVAL;
	}
	if (p->avg == 0 || (p->avg & (p->avg - 1)) != 0) {
		fail(why, "cdc: avg %u is not a power of two", p->avg);
		return -EINVAL;
	}
	if (p->min >= p->avg) {
		fail(why, "cdc: min %u is not below avg %u", p->min, p->avg);
		return -EINVAL;
	}
	if (p->avg >= p->max) {
		fail(why, "cdc: avg %u is not below max %u", p->avg, p->max);
		return -EINVAL;
	}
	/* 128 <= avg <= 256 Ki, so 7 <= bits <= 18: both masks fit. */
	bits = (unsigned)__builtin_ctz(p->avg);
	c->min = p->min;
	c->avg = p->avg;
	c->max = p->max;
	c->mask_s = top_bits(bits + 2);
	c->mask_l = top_bits(bits - 2);
	return 0;
}

/* Roll the gear hash over p[i..end): the length of the chunk (i + 1) at the
 * first i where (fp & mask) == 0, or 0 with *fpp updated to carry on. */
static inline size_t scan(const uint8_t *p, size_t i, size_t end, uint64_t mask,
			  uint64_t *fpp)
{
	uint64_t fp = *fpp;

	/* Two bytes a step (after FastCDC 2020's rolling two bytes): the hash
	 * two bytes on is fp * 4 + (g0 * 2 + g1), one shift-add on the chain
	 * from step to step; the one in between, fp * 2 + g0, is only tested.
	 * Four steps a loop test. Measured with -O3 on x86-64 against one
	 * byte a step unrolled alike: gcc 4.25 -> 4.5 GB/s, clang 2.3 -> 2.8
	 * (clang does the one-byte step as two dependent adds). */
#define STEP2(k)                                           \
	do {                                               \
		uint64_t g0 = sd_cdc_gear[p[i + (k)]];     \
		uint64_t g1 = sd_cdc_gear[p[i + (k) + 1]]; \
		uint64_t half = (fp << 1) + g0;            \
		fp = (fp << 2) + ((g0 << 1) + g1);         \
		if (!(half & mask))                        \
			return i + (k) + 1;                \
		if (!(fp & mask))                          \
			return i + (k) + 2;                \
	} while (0)
	for (; end - i >= 8; i += 8) {
		STEP2(0);
		STEP2(2);
		STEP2(4);
		STEP2(6);
	}
#undef STEP2
	for (; i < end; i++) {
		fp = (fp << 1) + sd_cdc_gear[p[i]];
		if (!(fp & mask))
			return i + 1;
	}
	*fpp = fp;
	return 0;
}

size_t sd_cdc_cut(const struct sd_cdc *c, const uint8_t *p, size_t n, bool eof)
{
	size_t end, mid, r;
	uint64_t fp = 0;

	/* The first min bytes are never a cut: not even hashed. */
	if (n <= c->min)
		return eof ? n : 0;
	end = n < c->max ? n : c->max;
	mid = end < c->avg ? end : c->avg;
	r = scan(p, c->min, mid, c->mask_s, &fp);
	if (r)
		return r;
	r = scan(p, mid, end, c->mask_l, &fp);
	if (r)
		return r;
	if (end == c->max)
		return end;
	return eof ? n : 0;
}

struct reader {
	int fd;
	uint64_t hint;
	uint8_t *buf;
	size_t cap;   /* allocated */
	size_t start; /* the next chunk starts here */
	size_t have;  /* bytes held from buf[0] */
	uint64_t off; /* file offset of buf[have] */
	bool eof;
};

/* Move what is left to the front, then read until the buffer is full or the
 * file ends. A buffer sized for a small file grows to SD_CDC_BUF_SIZE when
 * the file turns out larger. */
static int fill(struct reader *rd)
{
	if (rd->start) {
		memmove(rd->buf, rd->buf + rd->start, rd->have - rd->start);
		rd->have -= rd->start;
		rd->start = 0;
	}
	while (!rd->eof) {
		size_t want;
		ssize_t k;

		if (rd->have == rd->cap) {
			uint8_t *nb;

			if (rd->cap >= SD_CDC_BUF_SIZE)
				break;
			nb = realloc(rd->buf, SD_CDC_BUF_SIZE);
			if (!nb)
				return -ENOMEM;
			rd->buf = nb;
			rd->cap = SD_CDC_BUF_SIZE;
		}
		want = rd->cap - rd->have;
		k = pread(rd->fd, rd->buf + rd->have, want, (off_t)rd->off);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		rd->have += (size_t)k;
		rd->off += (uint64_t)k;
		/* A short read that reaches the expected size is the end:
		 * it saves small files a second pread() that returns 0. */
		if (k == 0 || ((size_t)k < want && rd->off >= rd->hint))
			rd->eof = true;
	}
	return 0;
}

int sd_cdc_file(const struct sd_cdc *c, int fd, uint64_t size_hint,
		sd_cdc_chunk_fn fn, void *opaque)
{
	struct reader rd = { .fd = fd, .hint = size_hint };
	int r = 0;

	/* One byte more than the hint, so that the first read comes back
	 * short at the end of a file of the expected size. */
	if (size_hint < SD_CDC_BUF_SIZE)
		rd.cap = ((size_t)size_hint + 1 + 4095) & ~(size_t)4095;
	else
		rd.cap = SD_CDC_BUF_SIZE;
	rd.buf = malloc(rd.cap);
	if (!rd.buf)
		return -ENOMEM;
	for (;;) {
		size_t n;

		/* Refilled while less than max is held, so that a cut never
		 * asks for more. */
		if (!rd.eof && rd.have - rd.start < c->max) {
			r = fill(&rd);
			if (r)
				break;
		}
		n = sd_cdc_cut(c, rd.buf + rd.start, rd.have - rd.start,
			       rd.eof);
		if (n == 0)
			break;
		r = fn(opaque, rd.buf + rd.start, n);
		if (r)
			break;
		rd.start += n;
	}
	free(rd.buf);
	return r;
}

struct ids_ctx {
	sd_cdc_ref_fn fn;
	void *opaque;
};

static int ids_chunk(void *opaque, const uint8_t *data, size_t len)
{
	struct ids_ctx *x = opaque;
	struct sd_chunkref ref = { .len = (uint32_t)len };

	sd_id_of(&ref.id, data, len);
	return x->fn(x->opaque, &ref, data);
}

int sd_cdc_file_ids(const struct sd_cdc *c, int fd, uint64_t size_hint,
		    sd_cdc_ref_fn fn, void *opaque)
{
	struct ids_ctx x = { .fn = fn, .opaque = opaque };

	return sd_cdc_file(c, fd, size_hint, ids_chunk, &x);
}

struct refs_ctx {
	struct sd_chunkref *v;
	uint32_t n, cap;
	uint64_t size;
};

static int refs_chunk(void *opaque, const struct sd_chunkref *ref,
		      const uint8_t *data)
{
	struct refs_ctx *x = opaque;

	if (x->n == x->cap) {
		uint32_t cap = x->cap ? 2 * x->cap : 16;
		struct sd_chunkref *v;

		if (x->n >= SD_CHUNKS_MAX)
			return -EFBIG;
		if (cap > SD_CHUNKS_MAX)
			cap = SD_CHUNKS_MAX;
		v = realloc(x->v, (size_t)cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		x->v = v;
		x->cap = cap;
	}
	x->v[x->n++] = *ref;
	x->size += ref->len;
	return 0;
}

int sd_cdc_file_refs(const struct sd_cdc *c, int fd, uint64_t size_hint,
		     struct sd_chunkref **refs, uint32_t *nrefs, uint64_t *size)
{
	struct refs_ctx x = { 0 };
	int r;

	r = sd_cdc_file_ids(c, fd, size_hint, refs_chunk, &x);
	if (r) {
		free(x.v);
		return r;
	}
	*refs = x.v;
	*nrefs = x.n;
	*size = x.size;
	return 0;
}
