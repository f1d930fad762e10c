/* SPDX-License-Identifier: MIT */
/* Keys and certificates of paired nodes (tlsid.h), with mbedTLS 2.28. */
#include "tlsid.h"

#include <errno.h>
#include <fcntl.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "mkdirs.h"

#define PEM_MAX 8192

static int rng(void *ctx, unsigned char *out, size_t n)
{
	(void)ctx;
	return tp_tls_random(out, n) == 0 ? 0 : -1;
}

int tp_tls_random(uint8_t *out, size_t n)
{
	while (n) {
		ssize_t k = getrandom(out, n, 0);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;
		out += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The whole file as a NUL-ended string, or NULL (errno set). */
static char *slurp(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	ssize_t n;

	if (fd < 0)
		return NULL;
	buf = malloc(PEM_MAX + 1);
	if (!buf)
		return NULL;
	n = read(fd, buf, PEM_MAX);
	if (n <= 0) {
		free(buf);
		errno = n < 0 ? errno : EINVAL;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* text to path, 0600, through a temp file and rename. */
static int store(const char *path, const char *text)
{
	char tmp[4096];
	int fd, r = 0;
	size_t n = strlen(text);

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) < 0)
		r = -errno ? -errno : -EIO;
	close(fd);
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* A self-signed or issued certificate of subject for key subj, signed by
 * issuer (its key and name). DER at the end of buf; its start in *der. */
static int write_cert(mbedtls_pk_context *subj, const char *subject,
		      mbedtls_pk_context *issuer, const char *issuer_name,
		      int is_ca, unsigned char *buf, size_t cap,
		      unsigned char **der)
{
	mbedtls_x509write_cert c;
	mbedtls_mpi serial;
	uint8_t sn[16];
	int n;

	mbedtls_x509write_crt_init(&c);
	mbedtls_mpi_init(&serial);
	if (tp_tls_random(sn, sizeof(sn)) < 0)
		return -EIO;
	sn[0] &= 0x7f; /* positive */
	sn[0] |= 0x01;
	mbedtls_x509write_crt_set_version(&c, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&c, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&c, subj);
	mbedtls_x509write_crt_set_issuer_key(&c, issuer);
	n = mbedtls_mpi_read_binary(&serial, sn, sizeof(sn));
	if (n == 0)
		n = mbedtls_x509write_crt_set_serial(&c, &serial);
	if (n == 0)
		n = mbedtls_x509write_crt_set_subject_name(&c, subject);
	if (n == 0)
		n = mbedtls_x509write_crt_set_issuer_name(&c, issuer_name);
	if (n == 0)
		n = mbedtls_x509write_crt_set_validity(&c, "20250101000000",
						       "20491231235959");
	if (n == 0)
		n = mbedtls_x509write_crt_set_basic_constraints(&c, is_ca, -1);
	if (n == 0)
		n = mbedtls_x509write_crt_der(&c, buf, cap, rng, NULL);
	mbedtls_x509write_crt_free(&c);
	mbedtls_mpi_free(&serial);
	if (n <= 0)
		return -EINVAL;
	*der = buf + cap - (size_t)n;
	return n;
}

char *tp_tls_cert_pem(const uint8_t *der, size_t n)
{
	char *pem = malloc(PEM_MAX);
	size_t olen;

	if (pem && mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n",
					    "-----END CERTIFICATE-----\n", der,
					    n, (unsigned char *)pem, PEM_MAX,
					    &olen) != 0) {
		free(pem);
		return NULL;
	}
	return pem;
}

int tp_tls_identity(const char *dir, int cert, char **key_pem, char **cert_pem,
		    char *err, size_t errlen)
{
	char kpath[4096], cpath[4096];
	mbedtls_pk_context pk;
	unsigned char buf[TP_TLS_DER_MAX], *der;
	int r, n;

	*key_pem = NULL;
	if (cert_pem)
		*cert_pem = NULL;
	snprintf(kpath, sizeof(kpath), "%s/key.pem", dir);
	snprintf(cpath, sizeof(cpath), "%s/ca.pem", dir);
	*key_pem = slurp(kpath);
	if (*key_pem && (!cert || (*cert_pem = slurp(cpath))))
		return 0;
	if (*key_pem) {
		snprintf(err, errlen, "%s: missing beside %s", cpath, kpath);
		free(*key_pem);
		*key_pem = NULL;
		return -ENOENT;
	}
	r = util_mkdirs(dir, 0700);
	if (r < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(-r));
		return r;
	}
	mbedtls_pk_init(&pk);
	*key_pem = malloc(PEM_MAX);
	r = !*key_pem ? -ENOMEM : 0;
	if (r == 0 &&
	    (mbedtls_pk_setup(&pk,
			      mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	     mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
				 rng, NULL) ||
	     mbedtls_pk_write_key_pem(&pk, (unsigned char *)*key_pem, PEM_MAX)))
		r = -EIO;
	if (r == 0 && cert) {
		n = write_cert(&pk, "CN=" TP_TLS_NODE_CN, &pk,
			       "CN=" TP_TLS_NODE_CN, 1, buf, sizeof(buf), &der);
		*cert_pem = n > 0 ? tp_tls_cert_pem(der, (size_t)n) : NULL;
		r = *cert_pem ? 0 : -EIO;
	}
	mbedtls_pk_free(&pk);
	if (r == 0 && cert)
		r = store(cpath, *cert_pem);
	if (r == 0)
		r = store(kpath, *key_pem); /* last: its presence means both */
	if (r < 0) {
		snprintf(err, errlen, "%s: making a key: %s", dir,
			 strerror(-r));
		free(*key_pem);
		*key_pem = NULL;
		if (cert_pem) {
			free(*cert_pem);
			*cert_pem = NULL;
		}
	}
	return r;
}

int tp_tls_pubkey_der(const char *key_pem, uint8_t *der, size_t cap)
{
	mbedtls_pk_context pk;
	unsigned char buf[TP_TLS_DER_MAX];
	int n;

	mbedtls_pk_init(&pk);
	n = mbedtls_pk_parse_key(&pk, (const unsigned char *)key_pem,
				 strlen(key_pem) + 1, NULL, 0);
	if (n == 0)
		n = mbedtls_pk_write_pubkey_der(&pk, buf, sizeof(buf));
	mbedtls_pk_free(&pk);
	if (n <= 0 || (size_t)n > cap)
		return -EINVAL;
	memcpy(der, buf + sizeof(buf) - n, (size_t)n);
	return n;
}

int tp_tls_issue(const char *ca_key_pem, const char *ca_cert_pem,
		 const uint8_t *pub, size_t npub, uint8_t *out, size_t cap)
{
	mbedtls_pk_context ca, client;
	unsigned char buf[TP_TLS_DER_MAX], *der;
	int n;

	(void)ca_cert_pem; /* the issuer's name is fixed: CN=tether-node */
	mbedtls_pk_init(&ca);
	mbedtls_pk_init(&client);
	n = mbedtls_pk_parse_key(&ca, (const unsigned char *)ca_key_pem,
				 strlen(ca_key_pem) + 1, NULL, 0);
	if (n == 0)
		n = mbedtls_pk_parse_public_key(&client, pub, npub) ? -EINVAL
								    : 0;
	else
		n = -EIO;
	if (n == 0)
		n = write_cert(&client, "CN=" TP_TLS_CLIENT_CN, &ca,
			       "CN=" TP_TLS_NODE_CN, 0, buf, sizeof(buf), &der);
	mbedtls_pk_free(&ca);
	mbedtls_pk_free(&client);
	if (n < 0)
		return n;
	if ((size_t)n > cap)
		return -EMSGSIZE;
	memcpy(out, der, (size_t)n);
	return n;
}

int tp_tls_cert_der(const char *pem, uint8_t *out, size_t cap)
{
	mbedtls_x509_crt crt;
	int n;

	mbedtls_x509_crt_init(&crt);
	n = mbedtls_x509_crt_parse(&crt, (const unsigned char *)pem,
				   strlen(pem) + 1);
	if (n == 0 && crt.raw.len <= cap) {
		memcpy(out, crt.raw.p, crt.raw.len);
		n = (int)crt.raw.len;
	} else {
		n = n == 0 ? -EMSGSIZE : -EINVAL;
	}
	mbedtls_x509_crt_free(&crt);
	return n;
}

int tp_tls_mac(const uint8_t *key, size_t nkey, const uint8_t *a, size_t na,
	       const uint8_t *b, size_t nb, uint8_t out[TP_TLS_MAC_SIZE])
{
	const mbedtls_md_info_t *md =
		mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	mbedtls_md_context_t c;
	int r = 0;

	mbedtls_md_init(&c);
	if (!md || mbedtls_md_setup(&c, md, 1) != 0 ||
	    mbedtls_md_hmac_starts(&c, key, nkey) != 0 ||
	    mbedtls_md_hmac_update(&c, a, na) != 0 ||
	    (nb && mbedtls_md_hmac_update(&c, b, nb) != 0) ||
	    mbedtls_md_hmac_finish(&c, out) != 0)
		r = -EIO;
	mbedtls_md_free(&c);
	return r;
}

int tp_tls_mac_eq(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (unsigned i = 0; i < TP_TLS_MAC_SIZE; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}
