/* SPDX-License-Identifier: MIT */
/* Keys and certificates of paired nodes (mbedTLS): a node is its own
 * certificate authority ("CN=tether-node", its TLS server certificate
 * too); pairing issues a client a certificate of that authority for the
 * client's own key, so the node's TLS accepts exactly the clients it
 * paired, and the client pins the node by trusting that authority only.
 * The one-time token of a pairing never crosses the wire: each side
 * proves it with an HMAC over what it sends. */
#ifndef TETHER_TLSID_H
#define TETHER_TLSID_H

#include <stddef.h>
#include <stdint.h>

#define TP_TLS_NODE_CN	 "tether-node"
#define TP_TLS_CLIENT_CN "tether-client"
#define TP_TLS_MAC_SIZE	 32u /* HMAC-SHA256 */
#define TP_TLS_DER_MAX	 4096u

/* A key (and, for a node, its authority's certificate) in dir: loaded,
 * or made (EC P-256, files 0600) when absent. key_pem and cert_pem are
 * malloc'd NUL-ended PEM (cert_pem NULL when cert is false). 0, or
 * -errno with err. */
int tp_tls_identity(const char *dir, int cert, char **key_pem, char **cert_pem,
		    char *err, size_t errlen);

/* The public key of key_pem, DER, into der (cap bytes): its length, or
 * -errno. */
int tp_tls_pubkey_der(const char *key_pem, uint8_t *der, size_t cap);

/* Issue a client certificate for the public key pub (DER) under the
 * node's authority (ca_key_pem, ca_cert_pem): DER into out, its length,
 * or -errno (-EINVAL: not a key). */
int tp_tls_issue(const char *ca_key_pem, const char *ca_cert_pem,
		 const uint8_t *pub, size_t npub, uint8_t *out, size_t cap);

/* DER of the first certificate in pem, into out: its length, or -errno. */
int tp_tls_cert_der(const char *pem, uint8_t *out, size_t cap);

/* A certificate's DER as PEM (malloc'd), or NULL. */
char *tp_tls_cert_pem(const uint8_t *der, size_t n);

/* HMAC-SHA256 of a then b under key: 0, or -EIO. */
int tp_tls_mac(const uint8_t *key, size_t nkey, const uint8_t *a, size_t na,
	       const uint8_t *b, size_t nb, uint8_t out[TP_TLS_MAC_SIZE]);

/* Whether two MACs are equal, in constant time. */
int tp_tls_mac_eq(const uint8_t *a, const uint8_t *b);

/* n random bytes. 0 or -EIO. */
int tp_tls_random(uint8_t *out, size_t n);

#endif
