/* The ClientHello builder: any version from SSLv2 to TLS 1.3, any lists. */
#include "tlsscope/wire.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "tlsscope/registry.h"

#define GROUP_X25519 29
#define GROUP_X448 30
#define GROUP_P256 23
#define GROUP_P384 24
#define GROUP_P521 25
#define GROUP_MLKEM768 513
#define GROUP_P256_MLKEM768 4587
#define GROUP_X25519_MLKEM768 4588
#define MLKEM768_EK_LEN 1184

static const uint16_t suites_tls13[] = {
	0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
	0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
};
static const uint16_t suites_tls12[] = {
	0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0x009e, 0x009f,
	0xc013, 0xc014, 0x0033, 0x0039, 0x009c, 0x009d, 0x002f, 0x0035, 0x000a,
};
static const uint16_t suites_tls10[] = {
	0xc009, 0xc013, 0xc00a, 0xc014, 0x0033, 0x0039, 0x002f, 0x0035, 0x000a,
};
static const uint16_t suites_ssl3[] = {
	0x0039, 0x0033, 0x0035, 0x002f, 0x000a, 0x0016, 0x0005, 0x0004,
};
static const uint16_t default_groups[] = { GROUP_X25519, GROUP_P256, GROUP_P384 };
static const uint16_t default_sigalgs[] = {
	0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0203, 0x0201,
};
/* The seven SSLv2 cipher kinds. */
static const uint32_t ssl2_default_specs[] = {
	0x010080, 0x020080, 0x030080, 0x040080, 0x050080, 0x060040, 0x0700c0,
};

/* From the kernel: OpenSSL's generator would be set up afresh in every
 * thread that builds a hello (the scanner's are short-lived). */
static int random_bytes(uint8_t *p, size_t n, struct ts_error *err)
{
	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);
		if (got < 0 && errno != EINTR)
			return ts_error_errno(err, TS_E_INTERNAL, errno, "random bytes");
		if (got > 0) {
			p += got;
			n -= (size_t)got;
		}
	}
	return 0;
}

/* ML-KEM-768 encapsulation key: t-hat (3 x 256 coefficients < q = 3329, packed
 * two per three bytes, little-endian 12-bit) followed by the 32-byte rho. A
 * server checks exactly this (FIPS 203 "modulus check"); the key need not
 * decapsulate since the scanner never finishes the handshake. */
static int mlkem768_ek(uint8_t out[MLKEM768_EK_LEN], struct ts_error *err)
{
	uint16_t coeff[768];
	size_t n = 0;
	uint8_t rnd[256];
	while (n < 768) {
		if (random_bytes(rnd, sizeof rnd, err) != 0)
			return TS_E_INTERNAL;
		for (size_t i = 0; i + 3 <= sizeof rnd && n < 768; i += 3) {
			uint16_t d1 = (uint16_t)(rnd[i] | (rnd[i + 1] & 0x0f) << 8);
			uint16_t d2 = (uint16_t)(rnd[i + 1] >> 4 | rnd[i + 2] << 4);
			if (d1 < 3329)
				coeff[n++] = d1;
			if (d2 < 3329 && n < 768)
				coeff[n++] = d2;
		}
	}
	for (size_t i = 0; i < 768; i += 2) {
		uint8_t *p = out + i / 2 * 3;
		p[0] = (uint8_t)coeff[i];
		p[1] = (uint8_t)(coeff[i] >> 8 | (coeff[i + 1] & 0x0f) << 4);
		p[2] = (uint8_t)(coeff[i + 1] >> 4);
	}
	return random_bytes(out + 1152, 32, err);
}

/* Appends the public key of a fresh key pair on curve (OpenSSL name). */
static int ec_share(struct ts_buf *out, const char *type, const char *curve,
                    struct ts_error *err)
{
	EVP_PKEY *pkey = curve != NULL ? EVP_PKEY_Q_keygen(NULL, NULL, type, curve)
	                               : EVP_PKEY_Q_keygen(NULL, NULL, type);
	if (pkey == NULL)
		return ts_error_openssl(err, TS_E_INTERNAL, "generating a %s key", curve ? curve : type);
	uint8_t pub[160];
	size_t len = 0;
	int ok = curve != NULL
	       ? EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub,
	                                         sizeof pub, &len)
	       : (len = sizeof pub, EVP_PKEY_get_raw_public_key(pkey, pub, &len));
	EVP_PKEY_free(pkey);
	if (ok != 1)
		return ts_error_openssl(err, TS_E_INTERNAL, "reading a %s public key",
		                        curve ? curve : type);
	ts_buf_put(out, pub, len);
	return 0;
}

int ts_build_mlkem768_x25519_share(struct ts_buf *out, struct ts_error *err)
{
	uint8_t ek[MLKEM768_EK_LEN];
	if (mlkem768_ek(ek, err) != 0)
		return TS_E_INTERNAL;
	ts_buf_put(out, ek, sizeof ek);
	return ec_share(out, "X25519", NULL, err);
}

static int new_key_share(struct ts_buf *out, uint16_t group, struct ts_error *err)
{
	uint8_t ek[MLKEM768_EK_LEN];
	switch (group) {
	case GROUP_X25519: return ec_share(out, "X25519", NULL, err);
	case GROUP_X448: return ec_share(out, "X448", NULL, err);
	case GROUP_P256: return ec_share(out, "EC", "P-256", err);
	case GROUP_P384: return ec_share(out, "EC", "P-384", err);
	case GROUP_P521: return ec_share(out, "EC", "P-521", err);
	case GROUP_X25519_MLKEM768: return ts_build_mlkem768_x25519_share(out, err);
	case GROUP_MLKEM768:
		if (mlkem768_ek(ek, err) != 0)
			return TS_E_INTERNAL;
		ts_buf_put(out, ek, sizeof ek);
		return 0;
	case GROUP_P256_MLKEM768:
		if (ec_share(out, "EC", "P-256", err) != 0 || mlkem768_ek(ek, err) != 0)
			return TS_E_INTERNAL;
		ts_buf_put(out, ek, sizeof ek);
		return 0;
	default:
		return ts_error_set(err, TS_E_INVALID,
		                    "key share for group %s: cannot make one (x25519, x448, secp256r1, "
		                    "secp384r1, secp521r1, MLKEM768, SecP256r1MLKEM768, X25519MLKEM768 can)",
		                    ts_group_name(group));
	}
}

/* A hello's key share is a public key whose private half is thrown away, as
 * the handshake is never completed: one per group serves every hello of the
 * process as well as a fresh one, and saves a key generation per hello. */
static struct {
	uint16_t group;
	size_t len;
	uint8_t key[MLKEM768_EK_LEN + 65];   /* the largest: SecP256r1MLKEM768 */
} shares[8];
static size_t n_shares;
static pthread_mutex_t shares_lock = PTHREAD_MUTEX_INITIALIZER;

static int key_share(struct ts_buf *out, uint16_t group, struct ts_error *err)
{
	pthread_mutex_lock(&shares_lock);
	size_t i = 0;
	while (i < n_shares && shares[i].group != group)
		i++;
	int rc = TS_OK;
	if (i == n_shares) {
		struct ts_buf fresh;
		ts_buf_init(&fresh);
		rc = new_key_share(&fresh, group, err);
		if (rc == TS_OK && !fresh.oom && fresh.len <= sizeof shares[i].key &&
		    i < sizeof shares / sizeof shares[0]) {
			shares[i].group = group;
			shares[i].len = fresh.len;
			memcpy(shares[i].key, fresh.data, fresh.len);
			n_shares++;
		} else if (rc == TS_OK) {
			rc = ts_error_set(err, TS_E_NOMEM, "no room for a %s key share", ts_group_name(group));
		}
		ts_buf_clear(&fresh);
	}
	if (rc == TS_OK)
		ts_buf_put(out, shares[i].key, shares[i].len);
	pthread_mutex_unlock(&shares_lock);
	return rc;
}

static bool has_ecc_suite(const uint16_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct ts_suite_info *si = ts_suite_by_code(s[i]);
		if (si != NULL && (si->kx == TS_KX_ECDH || si->kx == TS_KX_ECDHE ||
		                   si->kx == TS_KX_ECDHE_PSK || si->min_version == TS_TLS13))
			return true;
	}
	return false;
}

static void put_u16_list(struct ts_buf *b, int lb, const uint16_t *v, size_t n)
{
	size_t m = ts_buf_open_vector(b, lb);
	for (size_t i = 0; i < n; i++)
		ts_buf_put_u16(b, v[i]);
	ts_buf_close_vector(b, m, lb);
}

static size_t ext_open(struct ts_buf *b, uint16_t type)
{
	ts_buf_put_u16(b, type);
	return ts_buf_open_vector(b, 2);
}

static void ext_close(struct ts_buf *b, size_t m)
{
	ts_buf_close_vector(b, m, 2);
}

static void default_suites(uint16_t version, const uint16_t **s, size_t *n)
{
	if (version >= TS_TLS13) {
		*s = suites_tls13;
		*n = sizeof suites_tls13 / sizeof suites_tls13[0];
	} else if (version == TS_TLS12) {
		*s = suites_tls12;
		*n = sizeof suites_tls12 / sizeof suites_tls12[0];
	} else if (version >= TS_TLS10) {
		*s = suites_tls10;
		*n = sizeof suites_tls10 / sizeof suites_tls10[0];
	} else {
		*s = suites_ssl3;
		*n = sizeof suites_ssl3 / sizeof suites_ssl3[0];
	}
}

/* Writes the extensions (without the block's length) into b. */
static int put_extensions(const struct ts_hello_spec *sp, const uint16_t *suites,
                          size_t n_suites, struct ts_buf *b, struct ts_error *err)
{
	size_t m, m2;
	bool tls13 = sp->version >= TS_TLS13;
	const uint16_t *groups = sp->groups;
	size_t n_groups = sp->n_groups;
	if (groups == NULL && sp->version >= TS_TLS10 && has_ecc_suite(suites, n_suites)) {
		groups = default_groups;
		n_groups = sizeof default_groups / sizeof default_groups[0];
	}
	if (sp->server_name != NULL) {
		size_t len = strlen(sp->server_name);
		if (len == 0 || len > 255)
			return ts_error_set(err, TS_E_INVALID,
			                    "server name: wanted 1..255 characters, got %zu", len);
		m = ext_open(b, TS_EXT_SERVER_NAME);
		m2 = ts_buf_open_vector(b, 2);
		ts_buf_put_u8(b, 0);
		ts_buf_put_u16(b, (uint16_t)len);
		ts_buf_put(b, sp->server_name, len);
		ts_buf_close_vector(b, m2, 2);
		ext_close(b, m);
	}
	if (sp->ems) {
		ts_buf_put_u16(b, TS_EXT_EXTENDED_MASTER_SECRET);
		ts_buf_put_u16(b, 0);
	}
	if (sp->renegotiation_info) {
		m = ext_open(b, TS_EXT_RENEGOTIATION_INFO);
		ts_buf_put_u8(b, 0);
		ext_close(b, m);
	}
	if (n_groups > 0) {
		m = ext_open(b, TS_EXT_SUPPORTED_GROUPS);
		put_u16_list(b, 2, groups, n_groups);
		ext_close(b, m);
		m = ext_open(b, TS_EXT_EC_POINT_FORMATS);
		ts_buf_put_u8(b, 1);
		ts_buf_put_u8(b, 0);   /* uncompressed */
		ext_close(b, m);
	}
	if (sp->session_ticket) {
		ts_buf_put_u16(b, TS_EXT_SESSION_TICKET);
		ts_buf_put_u16(b, 0);
	}
	if (sp->n_alpn > 0 && sp->alpn != NULL) {
		m = ext_open(b, TS_EXT_ALPN);
		m2 = ts_buf_open_vector(b, 2);
		for (size_t i = 0; i < sp->n_alpn; i++) {
			size_t len = strlen(sp->alpn[i]);
			if (len == 0 || len > 255)
				return ts_error_set(err, TS_E_INVALID,
				                    "ALPN protocol %zu: wanted 1..255 bytes, got %zu", i, len);
			ts_buf_put_u8(b, (uint8_t)len);
			ts_buf_put(b, sp->alpn[i], len);
		}
		ts_buf_close_vector(b, m2, 2);
		ext_close(b, m);
	}
	if (sp->status_request) {
		m = ext_open(b, TS_EXT_STATUS_REQUEST);
		ts_buf_put_u8(b, 1);      /* ocsp */
		ts_buf_put_u16(b, 0);     /* responder_id_list */
		ts_buf_put_u16(b, 0);     /* request_extensions */
		ext_close(b, m);
	}
	if (sp->sct) {
		ts_buf_put_u16(b, TS_EXT_SCT);
		ts_buf_put_u16(b, 0);
	}
	if (sp->etm) {
		ts_buf_put_u16(b, TS_EXT_ENCRYPT_THEN_MAC);
		ts_buf_put_u16(b, 0);
	}
	if (sp->version >= TS_TLS12) {
		const uint16_t *sig = sp->sigalgs != NULL ? sp->sigalgs : default_sigalgs;
		size_t n = sp->sigalgs != NULL ? sp->n_sigalgs
		                               : sizeof default_sigalgs / sizeof default_sigalgs[0];
		if (n > 0) {
			m = ext_open(b, TS_EXT_SIGNATURE_ALGORITHMS);
			put_u16_list(b, 2, sig, n);
			ext_close(b, m);
		}
	}
	if (tls13) {
		const uint16_t *ks = sp->key_shares;
		size_t n_ks = sp->n_key_shares;
		if (ks == NULL && n_groups > 0) {
			ks = groups;
			n_ks = 1;
		}
		m = ext_open(b, TS_EXT_KEY_SHARE);
		m2 = ts_buf_open_vector(b, 2);
		for (size_t i = 0; i < n_ks; i++) {
			ts_buf_put_u16(b, ks[i]);
			size_t m3 = ts_buf_open_vector(b, 2);
			if (key_share(b, ks[i], err) != 0)
				return err != NULL ? err->code : TS_E_INVALID;
			ts_buf_close_vector(b, m3, 2);
		}
		ts_buf_close_vector(b, m2, 2);
		ext_close(b, m);
		m = ext_open(b, TS_EXT_PSK_KEY_EXCHANGE_MODES);
		ts_buf_put_u8(b, 1);
		ts_buf_put_u8(b, 1);   /* psk_dhe_ke */
		ext_close(b, m);
	}
	if (sp->versions != NULL || tls13) {
		m = ext_open(b, TS_EXT_SUPPORTED_VERSIONS);
		m2 = ts_buf_open_vector(b, 1);
		if (sp->versions != NULL) {
			for (size_t i = 0; i < sp->n_versions; i++)
				ts_buf_put_u16(b, sp->versions[i]);
		} else {
			for (uint16_t v = sp->version; v >= TS_TLS12; v--)
				ts_buf_put_u16(b, v);
		}
		ts_buf_close_vector(b, m2, 1);
		ext_close(b, m);
	}
	if (sp->heartbeat) {
		m = ext_open(b, TS_EXT_HEARTBEAT);
		ts_buf_put_u8(b, 1);
		ext_close(b, m);
	}
	for (size_t i = 0; i < sp->n_extra; i++) {
		if (sp->extra[i].type == TS_EXT_PRE_SHARED_KEY)
			continue;   /* must be last: after the padding */
		ts_buf_put_u16(b, sp->extra[i].type);
		ts_buf_put_u16(b, sp->extra[i].len);
		ts_buf_put(b, sp->extra[i].data, sp->extra[i].len);
	}
	return 0;
}

static void put_records(struct ts_buf *out, uint16_t record_version, const uint8_t *msg,
                        size_t len)
{
	size_t off = 0;
	do {
		size_t n = len - off > 16384 ? 16384 : len - off;
		ts_buf_put_u8(out, TS_CT_HANDSHAKE);
		ts_buf_put_u16(out, record_version);
		ts_buf_put_u16(out, (uint16_t)n);
		ts_buf_put(out, msg + off, n);
		off += n;
	} while (off < len);
}

int ts_build_client_hello(const struct ts_hello_spec *sp, struct ts_buf *out, struct ts_error *err)
{
	if (sp->version == TS_SSL2)
		return ts_build_ssl2_client_hello(sp, out, err);
	if (sp->version < TS_SSL3 || sp->version > TS_TLS13)
		return ts_error_set(err, TS_E_INVALID,
		                    "ClientHello version: wanted SSLv2 .. TLSv1.3, got 0x%04x", sp->version);
	if (sp->session_id != NULL && sp->session_id_len > 32)
		return ts_error_set(err, TS_E_INVALID,
		                    "session id: wanted at most 32 bytes, got %zu", sp->session_id_len);
	if (sp->compressions != NULL && (sp->n_compressions == 0 || sp->n_compressions > 255))
		return ts_error_set(err, TS_E_INVALID,
		                    "compression methods: wanted 1..255, got %zu", sp->n_compressions);
	const uint16_t *suites = sp->suites;
	size_t n_suites = sp->n_suites;
	if (suites == NULL)
		default_suites(sp->version, &suites, &n_suites);
	if (n_suites == 0 || n_suites > 32767)
		return ts_error_set(err, TS_E_INVALID,
		                    "cipher suites: wanted 1..32767, got %zu", n_suites);

	struct ts_buf h;
	ts_buf_init(&h);
	h.max = 1 << 24;
	int rc = 0;
	ts_buf_put_u8(&h, TS_HS_CLIENT_HELLO);
	size_t mlen = ts_buf_open_vector(&h, 3);
	ts_buf_put_u16(&h, sp->version > TS_TLS12 ? TS_TLS12 : sp->version);
	uint8_t rnd[32];
	if (sp->random != NULL)
		memcpy(rnd, sp->random, 32);
	else if ((rc = random_bytes(rnd, 32, err)) != 0)
		goto out;
	ts_buf_put(&h, rnd, 32);
	if (sp->session_id != NULL) {
		ts_buf_put_u8(&h, (uint8_t)sp->session_id_len);
		ts_buf_put(&h, sp->session_id, sp->session_id_len);
	} else if (sp->version >= TS_TLS13) {
		uint8_t sid[32];
		if ((rc = random_bytes(sid, 32, err)) != 0)
			goto out;
		ts_buf_put_u8(&h, 32);
		ts_buf_put(&h, sid, 32);
	} else {
		ts_buf_put_u8(&h, 0);
	}
	put_u16_list(&h, 2, suites, n_suites);
	if (sp->compressions != NULL) {
		ts_buf_put_u8(&h, (uint8_t)sp->n_compressions);
		ts_buf_put(&h, sp->compressions, sp->n_compressions);
	} else {
		ts_buf_put_u8(&h, 1);
		ts_buf_put_u8(&h, 0);   /* null compression */
	}
	if (!sp->no_extensions) {
		size_t mext = ts_buf_open_vector(&h, 2);
		if ((rc = put_extensions(sp, suites, n_suites, &h, err)) != 0)
			goto out;
		const struct ts_ext *psk = NULL;
		for (size_t i = 0; i < sp->n_extra; i++)
			if (sp->extra[i].type == TS_EXT_PRE_SHARED_KEY)
				psk = &sp->extra[i];
		size_t final = h.len + (psk != NULL ? 4u + psk->len : 0u);
		/* an empty block is left out below: the hello is then 2 bytes shorter */
		size_t sent = final == mext + 2 ? mext : final;
		if (!sp->no_padding && sent >= 256 && sent <= 511) {
			/* RFC 7685: some servers hang on hellos of 256..511 bytes. */
			size_t pad = final + 4 >= 512 ? 0 : 512 - final - 4;
			ts_buf_put_u16(&h, TS_EXT_PADDING);
			ts_buf_put_u16(&h, (uint16_t)pad);
			ts_buf_put_zeros(&h, pad);
		}
		if (psk != NULL) {
			ts_buf_put_u16(&h, psk->type);
			ts_buf_put_u16(&h, psk->len);
			ts_buf_put(&h, psk->data, psk->len);
		}
		if (h.len == mext + 2 && !h.oom) {
			h.len = mext;   /* nothing to say: no block at all, as SSLv3 clients sent */
		} else if (!ts_buf_close_vector(&h, mext, 2)) {
			rc = ts_error_set(err, TS_E_INVALID, "extensions: more than 65535 bytes");
			goto out;
		}
	}
	if (!ts_buf_close_vector(&h, mlen, 3) || h.oom) {
		rc = ts_error_set(err, TS_E_NOMEM, "ClientHello: out of memory or too large");
		goto out;
	}
	uint16_t rv = sp->record_version != 0 ? sp->record_version
	            : sp->version == TS_SSL3 ? TS_SSL3 : TS_TLS10;
	put_records(out, rv, h.data, h.len);
	if (out->oom)
		rc = ts_error_set(err, TS_E_NOMEM, "ClientHello: out of memory");
out:
	ts_buf_clear(&h);
	return rc;
}

int ts_build_ssl2_client_hello(const struct ts_hello_spec *sp, struct ts_buf *out,
                               struct ts_error *err)
{
	uint16_t version = sp->version == 0 ? TS_SSL2 : sp->version;
	const uint32_t *specs = sp->ssl2_specs;
	size_t n_specs = sp->n_ssl2_specs;
	if (specs == NULL) {
		specs = ssl2_default_specs;
		n_specs = sizeof ssl2_default_specs / sizeof ssl2_default_specs[0];
	}
	const uint16_t *suites = NULL;
	size_t n_suites = 0;
	if (version > TS_SSL2) {
		suites = sp->suites;
		n_suites = sp->n_suites;
		if (suites == NULL)
			default_suites(version, &suites, &n_suites);
	}
	size_t specs_len = 3 * (n_specs + n_suites);
	size_t body = 9 + specs_len + 16;
	if (body > 0x7fff)
		return ts_error_set(err, TS_E_INVALID,
		                    "SSLv2 CLIENT-HELLO: %zu bytes is over the 32767 a record holds", body);
	uint8_t challenge[16];
	if (random_bytes(challenge, sizeof challenge, err) != 0)
		return TS_E_INTERNAL;
	ts_buf_put_u16(out, (uint16_t)(0x8000 | body));
	ts_buf_put_u8(out, 1);   /* CLIENT-HELLO */
	ts_buf_put_u16(out, version);
	ts_buf_put_u16(out, (uint16_t)specs_len);
	ts_buf_put_u16(out, 0);  /* session id */
	ts_buf_put_u16(out, sizeof challenge);
	for (size_t i = 0; i < n_specs; i++)
		ts_buf_put_u24(out, specs[i]);
	for (size_t i = 0; i < n_suites; i++)
		ts_buf_put_u24(out, suites[i]);
	ts_buf_put(out, challenge, sizeof challenge);
	if (out->oom)
		return ts_error_set(err, TS_E_NOMEM, "SSLv2 CLIENT-HELLO: out of memory");
	return 0;
}
