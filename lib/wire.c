/* The TLS wire codec: message parsers and the incremental stream parser.
 * The builder is in wire_build.c (see wire_internal.h). */
#include "tlsscope/wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlsscope/registry.h"

/* ------------------------------------------------------------------------ */
/* Errors */

/* Turns the reader's sticky failure into the message of err. */
static int malformed(const struct ts_reader *rd, struct ts_error *err, const char *msg,
                     const char *why)
{
	return ts_error_set(err, TS_E_MALFORMED, "%s: %s %s at offset %zu", msg,
	                    rd->field != NULL ? rd->field : "field",
	                    why != NULL ? why : "runs past the end of its container",
	                    rd->error_off);
}

/* Marks a semantic failure in rd (first failure wins) and remembers why. */
static void bad(struct ts_reader *rd, const char *field, const char **why, const char *reason)
{
	if (rd->error)
		return;
	ts_reader_fail(rd, field);
	*why = reason;
}

/* ------------------------------------------------------------------------ */
/* Names */

const char *ts_hs_type_name(int type)
{
	switch (type) {
	case TS_HS_HELLO_REQUEST: return "hello_request";
	case TS_HS_CLIENT_HELLO: return "client_hello";
	case TS_HS_SERVER_HELLO: return "server_hello";
	case TS_HS_NEW_SESSION_TICKET: return "new_session_ticket";
	case TS_HS_END_OF_EARLY_DATA: return "end_of_early_data";
	case TS_HS_HELLO_RETRY_REQUEST: return "hello_retry_request";
	case TS_HS_ENCRYPTED_EXTENSIONS: return "encrypted_extensions";
	case TS_HS_CERTIFICATE: return "certificate";
	case TS_HS_SERVER_KEY_EXCHANGE: return "server_key_exchange";
	case TS_HS_CERTIFICATE_REQUEST: return "certificate_request";
	case TS_HS_SERVER_HELLO_DONE: return "server_hello_done";
	case TS_HS_CERTIFICATE_VERIFY: return "certificate_verify";
	case TS_HS_CLIENT_KEY_EXCHANGE: return "client_key_exchange";
	case TS_HS_FINISHED: return "finished";
	case TS_HS_CERTIFICATE_STATUS: return "certificate_status";
	case TS_HS_KEY_UPDATE: return "key_update";
	case TS_HS_COMPRESSED_CERTIFICATE: return "compressed_certificate";
	case TS_HS_MESSAGE_HASH: return "message_hash";
	case TS_SSL2_MT_CLIENT_HELLO: return "ssl2_client_hello";
	case TS_SSL2_MT_SERVER_HELLO: return "ssl2_server_hello";
	case 0x102: return "ssl2_client_master_key";
	default: return "unknown";
	}
}

const char *ts_content_type_name(int type)
{
	switch (type) {
	case TS_CT_CHANGE_CIPHER_SPEC: return "change_cipher_spec";
	case TS_CT_ALERT: return "alert";
	case TS_CT_HANDSHAKE: return "handshake";
	case TS_CT_APPLICATION_DATA: return "application_data";
	case TS_CT_HEARTBEAT: return "heartbeat";
	case TS_CT_SSL2: return "ssl2";
	default: return "unknown";
	}
}

const char *ts_version_name(uint16_t version)
{
	static _Thread_local char buf[8];
	switch (version) {
	case TS_SSL2: return "SSLv2";
	case TS_SSL3: return "SSLv3";
	case TS_TLS10: return "TLSv1.0";
	case TS_TLS11: return "TLSv1.1";
	case TS_TLS12: return "TLSv1.2";
	case TS_TLS13: return "TLSv1.3";
	default:
		snprintf(buf, sizeof buf, "0x%04x", version);
		return buf;
	}
}

/* ------------------------------------------------------------------------ */
/* ClientHello */

/* Reads a vector of u16 values (length prefix of `lb` bytes) into out[cap]. */
static size_t read_u16_list(struct ts_reader *rd, int lb, uint16_t *out, size_t cap,
                            bool *truncated, bool *grease, const char *field,
                            const char **why)
{
	struct ts_reader sub;
	size_t n = 0;
	if (!ts_read_vector(rd, lb, &sub, field))
		return 0;
	if (sub.len % 2 != 0) {
		bad(&sub, field, why, "has an odd length");
		ts_reader_propagate(rd, &sub);
		return 0;
	}
	/* The whole vector is inside the message (checked by ts_read_vector):
	 * decode it in one pass rather than one reader call per value. */
	size_t count = sub.len / 2;
	if (count > cap) {
		count = cap;
		*truncated = true;
	}
	for (size_t i = 0; i < count; i++) {
		uint16_t v = (uint16_t)(sub.data[2 * i] << 8 | sub.data[2 * i + 1]);
		if (grease != NULL && ts_is_grease(v))
			*grease = true;
		out[n++] = v;
	}
	if (grease != NULL)
		for (size_t i = count; i < sub.len / 2; i++)
			if (ts_is_grease((uint16_t)(sub.data[2 * i] << 8 | sub.data[2 * i + 1])))
				*grease = true;
	return n;
}

static size_t read_u8_list(struct ts_reader *rd, uint8_t *out, size_t cap, bool *truncated,
                           const char *field)
{
	struct ts_reader sub;
	size_t n = 0;
	if (!ts_read_vector(rd, 1, &sub, field))
		return 0;
	while (ts_reader_left(&sub) > 0) {
		uint8_t v = ts_read_u8(&sub, field);
		if (n < cap)
			out[n++] = v;
		else
			*truncated = true;
	}
	return n;
}

static void ch_sni(struct ts_reader *e, struct ts_client_hello *ch, const char **why)
{
	struct ts_reader list;
	ch->has_sni = true;
	if (e->len == 0)
		return;   /* a server's empty acknowledgement; tolerated in hellos too */
	ts_read_vector(e, 2, &list, "server_name.list");
	bool first = true;
	while (ts_reader_left(&list) > 0) {
		uint8_t type = ts_read_u8(&list, "server_name.name_type");
		struct ts_reader name;
		ts_read_vector(&list, 2, &name, "server_name.host_name");
		if (type == 0 && first && !name.error) {
			ch->sni.p = name.data;
			ch->sni.len = name.len;
			first = false;
		}
	}
	ts_reader_propagate(e, &list);
}

static void ch_alpn(struct ts_reader *e, struct ts_client_hello *ch, const char **why)
{
	struct ts_reader list;
	ch->has_alpn = true;
	ts_read_vector(e, 2, &list, "alpn.protocol_name_list");
	while (ts_reader_left(&list) > 0) {
		struct ts_reader name;
		if (!ts_read_vector(&list, 1, &name, "alpn.protocol_name"))
			break;
		if (ch->n_alpn < TS_MAX_ALPN) {
			ch->alpn[ch->n_alpn].p = name.data;
			ch->alpn[ch->n_alpn].len = name.len;
			ch->n_alpn++;
		} else {
			ch->truncated = true;
		}
	}
	ts_reader_propagate(e, &list);
}

static void ch_key_share(struct ts_reader *e, struct ts_client_hello *ch, const char **why)
{
	struct ts_reader list;
	ch->has_key_share = true;
	ts_read_vector(e, 2, &list, "key_share.client_shares");
	while (ts_reader_left(&list) > 0) {
		uint16_t group = ts_read_u16(&list, "key_share.group");
		struct ts_reader key;
		if (!ts_read_vector(&list, 2, &key, "key_share.key_exchange"))
			break;
		if (ts_is_grease(group))
			ch->has_grease = true;
		if (ch->n_key_shares < TS_MAX_KEY_SHARES) {
			struct ts_key_share *ks = &ch->key_shares[ch->n_key_shares++];
			ks->group = group;
			ks->key.p = key.data;
			ks->key.len = key.len;
		} else {
			ch->truncated = true;
		}
	}
	ts_reader_propagate(e, &list);
}

static void ch_psk(struct ts_reader *e, struct ts_client_hello *ch, const char **why)
{
	struct ts_reader ids, binders;
	ch->has_psk = true;
	ts_read_vector(e, 2, &ids, "pre_shared_key.identities");
	while (ts_reader_left(&ids) > 0) {
		struct ts_reader id;
		if (!ts_read_vector(&ids, 2, &id, "pre_shared_key.identity"))
			break;
		ts_read_u32(&ids, "pre_shared_key.obfuscated_ticket_age");
		if (ch->n_psk_identities < TS_MAX_PSK_IDENTITIES) {
			ch->psk_identities[ch->n_psk_identities].p = id.data;
			ch->psk_identities[ch->n_psk_identities].len = id.len;
			ch->n_psk_identities++;
		} else {
			ch->truncated = true;
		}
	}
	ts_reader_propagate(e, &ids);
	ts_read_vector(e, 2, &binders, "pre_shared_key.binders");
	while (ts_reader_left(&binders) > 0) {
		struct ts_reader b;
		if (!ts_read_vector(&binders, 1, &b, "pre_shared_key.binder"))
			break;
		ch->n_psk_binders++;
	}
	ts_reader_propagate(e, &binders);
}

static void ch_ech(struct ts_reader *e, struct ts_client_hello *ch, const char **why)
{
	ch->has_ech = true;
	ch->ech_type = ts_read_u8(e, "encrypted_client_hello.type");
	if (e->error || ch->ech_type != 0)
		return;   /* inner: nothing more in it */
	struct ts_reader enc, payload;
	ch->ech_kdf = ts_read_u16(e, "encrypted_client_hello.kdf_id");
	ch->ech_aead = ts_read_u16(e, "encrypted_client_hello.aead_id");
	ch->ech_config_id = ts_read_u8(e, "encrypted_client_hello.config_id");
	if (ts_read_vector(e, 2, &enc, "encrypted_client_hello.enc")) {
		ch->ech_enc.p = enc.data;
		ch->ech_enc.len = enc.len;
	}
	if (ts_read_vector(e, 2, &payload, "encrypted_client_hello.payload")) {
		ch->ech_payload.p = payload.data;
		ch->ech_payload.len = payload.len;
	}
}

static void ch_esni(struct ts_reader *e, struct ts_client_hello *ch, const char **why)
{
	struct ts_reader ks, digest, sni;
	ch->has_esni = true;
	ch->esni_suite = ts_read_u16(e, "encrypted_server_name.suite");
	ch->esni_group = ts_read_u16(e, "encrypted_server_name.key_share.group");
	ts_read_vector(e, 2, &ks, "encrypted_server_name.key_share.key_exchange");
	if (ts_read_vector(e, 2, &digest, "encrypted_server_name.record_digest")) {
		ch->esni_record_digest.p = digest.data;
		ch->esni_record_digest.len = digest.len;
	}
	if (ts_read_vector(e, 2, &sni, "encrypted_server_name.encrypted_sni")) {
		ch->esni_encrypted_sni.p = sni.data;
		ch->esni_encrypted_sni.len = sni.len;
	}
}

/* Decodes one extension body into ch.  Leaves e failed when malformed. */
static void ch_extension(uint16_t type, struct ts_reader *e, struct ts_client_hello *ch,
                         const char **why)
{
	struct ts_reader sub;
	switch (type) {
	case TS_EXT_SERVER_NAME:
		ch_sni(e, ch, why);
		break;
	case TS_EXT_ALPN:
		ch_alpn(e, ch, why);
		break;
	case TS_EXT_SUPPORTED_VERSIONS:
		ch->has_versions = true;
		ch->n_versions = read_u16_list(e, 1, ch->versions, TS_MAX_VERSIONS, &ch->truncated,
		                               &ch->has_grease, "supported_versions.versions", why);
		break;
	case TS_EXT_SUPPORTED_GROUPS:
		ch->has_groups = true;
		ch->n_groups = read_u16_list(e, 2, ch->groups, TS_MAX_GROUPS, &ch->truncated,
		                             &ch->has_grease, "supported_groups.named_group_list", why);
		break;
	case TS_EXT_EC_POINT_FORMATS:
		ch->has_point_formats = true;
		ch->n_point_formats = read_u8_list(e, ch->point_formats, TS_MAX_POINT_FORMATS,
		                                   &ch->truncated, "ec_point_formats.list");
		break;
	case TS_EXT_SIGNATURE_ALGORITHMS:
		ch->has_sigalgs = true;
		ch->n_sigalgs = read_u16_list(e, 2, ch->sigalgs, TS_MAX_SIGALGS, &ch->truncated,
		                              &ch->has_grease, "signature_algorithms.list", why);
		break;
	case TS_EXT_SIGNATURE_ALGORITHMS_CERT:
		ch->has_sigalgs_cert = true;
		ch->n_sigalgs_cert = read_u16_list(e, 2, ch->sigalgs_cert, TS_MAX_SIGALGS,
		                                   &ch->truncated, &ch->has_grease,
		                                   "signature_algorithms_cert.list", why);
		break;
	case TS_EXT_KEY_SHARE:
		ch_key_share(e, ch, why);
		break;
	case TS_EXT_SESSION_TICKET:
		ch->has_session_ticket = true;
		ch->session_ticket.p = e->data;
		ch->session_ticket.len = e->len;
		ts_read_skip(e, e->len, "session_ticket");
		break;
	case TS_EXT_STATUS_REQUEST:
		ch->has_status_request = true;
		if (e->len > 0) {
			ch->status_type = ts_read_u8(e, "status_request.status_type");
			ts_read_skip(e, ts_reader_left(e), "status_request.request");
		}
		break;
	case TS_EXT_SCT:
		ch->has_sct = true;
		ts_read_skip(e, ts_reader_left(e), "signed_certificate_timestamp");
		break;
	case TS_EXT_PADDING:
		ch->has_padding = true;
		ch->padding_len = e->len;
		ts_read_skip(e, e->len, "padding");
		break;
	case TS_EXT_RENEGOTIATION_INFO:
		ch->has_renegotiation_info = true;
		if (ts_read_vector(e, 1, &sub, "renegotiation_info.renegotiated_connection")) {
			ch->renegotiation_info.p = sub.data;
			ch->renegotiation_info.len = sub.len;
		}
		break;
	case TS_EXT_HEARTBEAT:
		ch->has_heartbeat = true;
		ch->heartbeat_mode = ts_read_u8(e, "heartbeat.mode");
		break;
	case TS_EXT_EARLY_DATA:
		ch->has_early_data = true;
		break;
	case TS_EXT_EXTENDED_MASTER_SECRET:
		ch->has_ems = true;
		break;
	case TS_EXT_ENCRYPT_THEN_MAC:
		ch->has_etm = true;
		break;
	case TS_EXT_PRE_SHARED_KEY:
		ch_psk(e, ch, why);
		break;
	case TS_EXT_PSK_KEY_EXCHANGE_MODES:
		ch->has_psk_modes = true;
		ch->n_psk_modes = read_u8_list(e, ch->psk_modes, sizeof ch->psk_modes, &ch->truncated,
		                               "psk_key_exchange_modes.ke_modes");
		break;
	case TS_EXT_COMPRESS_CERTIFICATE:
		ch->has_cert_compression = true;
		ch->n_cert_compression = read_u16_list(e, 1, ch->cert_compression,
		                                       TS_MAX_CERT_COMPRESSION, &ch->truncated,
		                                       NULL, "compress_certificate.algorithms", why);
		break;
	case TS_EXT_ENCRYPTED_CLIENT_HELLO:
		ch_ech(e, ch, why);
		break;
	case TS_EXT_ENCRYPTED_SERVER_NAME:
		ch_esni(e, ch, why);
		break;
	default:
		ts_read_skip(e, e->len, "extension_data");
		return;   /* unknown: kept in ch->ext only */
	}
	if (!e->error && ts_reader_left(e) != 0)
		bad(e, "extension_data", why, "has bytes after its contents");
}

/* Reads the extension block into ext[]; calls decode(type, reader) per entry.
 * A malformed extension body fails rd (first failure wins) but the loop goes
 * on, so the caller still gets every extension's type. */
static void read_extensions(struct ts_reader *rd, struct ts_ext *ext, size_t *n_ext,
                            bool *truncated, bool *grease, const char **why,
                            void (*decode)(uint16_t, struct ts_reader *, void *, const char **),
                            void *ctx)
{
	struct ts_reader list;
	if (!ts_read_vector(rd, 2, &list, "extensions"))
		return;
	while (ts_reader_left(&list) > 0) {
		uint16_t type = ts_read_u16(&list, "extension_type");
		struct ts_reader e;
		if (!ts_read_vector(&list, 2, &e, "extension_data"))
			break;
		if (grease != NULL && ts_is_grease(type))
			*grease = true;
		if (*n_ext < TS_MAX_EXTENSIONS) {
			ext[*n_ext] = (struct ts_ext){ .type = type, .len = (uint16_t)e.len,
			                               .data = e.data, .off = (uint32_t)e.base };
			(*n_ext)++;
		} else {
			*truncated = true;
		}
		decode(type, &e, ctx, why);
		ts_reader_propagate(rd, &e);
	}
	ts_reader_propagate(rd, &list);
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "extensions", why, "are followed by trailing bytes");
}

static void ch_decode(uint16_t type, struct ts_reader *e, void *ctx, const char **why)
{
	ch_extension(type, e, ctx, why);
}

int ts_parse_client_hello(struct ts_reader *rd, struct ts_client_hello *ch, struct ts_error *err)
{
	const char *why = NULL;
	struct ts_reader sub;
	/* Zero only the scalars: the arrays are filled up to their counts. */
	memset(ch, 0, offsetof(struct ts_client_hello, suites));
	ch->version = ts_read_u16(rd, "client_hello.version");
	ch->random = ts_read_bytes(rd, 32, "client_hello.random");
	if (ts_read_vector(rd, 1, &sub, "client_hello.session_id")) {
		ch->session_id.p = sub.data;
		ch->session_id.len = sub.len;
		if (sub.len > 32)
			bad(rd, "client_hello.session_id", &why, "is longer than 32 bytes");
	}
	ch->n_suites = read_u16_list(rd, 2, ch->suites, TS_MAX_SUITES, &ch->truncated,
	                             &ch->has_grease, "client_hello.cipher_suites", &why);
	ch->n_compressions = read_u8_list(rd, ch->compressions, TS_MAX_COMPRESSIONS,
	                                  &ch->truncated, "client_hello.compression_methods");
	if (rd->error)
		return malformed(rd, err, "malformed ClientHello", why);
	if (ts_reader_left(rd) > 0) {
		ch->has_extensions = true;
		read_extensions(rd, ch->ext, &ch->n_ext, &ch->truncated, &ch->has_grease, &why,
		                ch_decode, ch);
	}
	if (rd->error)
		return malformed(rd, err, "malformed ClientHello", why);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* ServerHello / HelloRetryRequest */

static const uint8_t hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

static void sh_decode(uint16_t type, struct ts_reader *e, void *ctx, const char **why)
{
	struct ts_server_hello *sh = ctx;
	struct ts_reader sub;
	switch (type) {
	case TS_EXT_SUPPORTED_VERSIONS:
		sh->selected_version = ts_read_u16(e, "supported_versions.selected_version");
		break;
	case TS_EXT_KEY_SHARE:
		sh->group = ts_read_u16(e, "key_share.group");
		if (!sh->is_hrr && ts_read_vector(e, 2, &sub, "key_share.key_exchange")) {
			sh->key_share.p = sub.data;
			sh->key_share.len = sub.len;
		}
		break;
	case TS_EXT_ALPN:
		sh->has_alpn = true;
		ts_read_vector(e, 2, &sub, "alpn.protocol_name_list");
		{
			struct ts_reader name;
			if (ts_read_vector(&sub, 1, &name, "alpn.protocol_name")) {
				sh->alpn.p = name.data;
				sh->alpn.len = name.len;
			}
			if (!sub.error && ts_reader_left(&sub) != 0)
				bad(&sub, "alpn.protocol_name_list", why, "names more than one protocol");
		}
		ts_reader_propagate(e, &sub);
		break;
	case TS_EXT_EXTENDED_MASTER_SECRET: sh->has_ems = true; break;
	case TS_EXT_ENCRYPT_THEN_MAC: sh->has_etm = true; break;
	case TS_EXT_RENEGOTIATION_INFO:
		sh->has_renegotiation_info = true;
		ts_read_vector(e, 1, &sub, "renegotiation_info.renegotiated_connection");
		break;
	case TS_EXT_SESSION_TICKET:
		sh->has_session_ticket = true;
		ts_read_skip(e, e->len, "session_ticket");
		break;
	case TS_EXT_STATUS_REQUEST:
		sh->has_status_request = true;
		ts_read_skip(e, e->len, "status_request");
		break;
	case TS_EXT_SCT:
		sh->has_sct = true;
		ts_read_skip(e, e->len, "signed_certificate_timestamp");
		break;
	case TS_EXT_HEARTBEAT:
		sh->has_heartbeat = true;
		ts_read_u8(e, "heartbeat.mode");
		break;
	case TS_EXT_PRE_SHARED_KEY:
		sh->has_psk = true;
		sh->psk_identity = ts_read_u16(e, "pre_shared_key.selected_identity");
		break;
	case TS_EXT_EC_POINT_FORMATS:
		sh->has_point_formats = true;
		sh->n_point_formats = read_u8_list(e, sh->point_formats, TS_MAX_POINT_FORMATS,
		                                   &sh->truncated, "ec_point_formats.list");
		break;
	case TS_EXT_COOKIE:
		if (ts_read_vector(e, 2, &sub, "cookie")) {
			sh->cookie.p = sub.data;
			sh->cookie.len = sub.len;
		}
		break;
	default:
		ts_read_skip(e, e->len, "extension_data");
		return;
	}
	if (!e->error && ts_reader_left(e) != 0)
		bad(e, "extension_data", why, "has bytes after its contents");
}

int ts_parse_server_hello(struct ts_reader *rd, struct ts_server_hello *sh, struct ts_error *err)
{
	const char *why = NULL;
	struct ts_reader sub;
	memset(sh, 0, offsetof(struct ts_server_hello, point_formats));
	sh->version = ts_read_u16(rd, "server_hello.version");
	sh->random = ts_read_bytes(rd, 32, "server_hello.random");
	if (sh->random != NULL && memcmp(sh->random, hrr_random, 32) == 0)
		sh->is_hrr = true;
	if (ts_read_vector(rd, 1, &sub, "server_hello.session_id")) {
		sh->session_id.p = sub.data;
		sh->session_id.len = sub.len;
		if (sub.len > 32)
			bad(rd, "server_hello.session_id", &why, "is longer than 32 bytes");
	}
	sh->suite = ts_read_u16(rd, "server_hello.cipher_suite");
	sh->compression = ts_read_u8(rd, "server_hello.compression_method");
	if (rd->error)
		return malformed(rd, err, "malformed ServerHello", why);
	if (ts_reader_left(rd) > 0) {
		sh->has_extensions = true;
		read_extensions(rd, sh->ext, &sh->n_ext, &sh->truncated, NULL, &why, sh_decode, sh);
	}
	if (sh->selected_version == 0)
		sh->selected_version = sh->version;
	if (rd->error)
		return malformed(rd, err, sh->is_hrr ? "malformed HelloRetryRequest"
		                                     : "malformed ServerHello", why);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Certificate, ServerKeyExchange, ServerHelloDone, Alert, CCS */

int ts_parse_certificate(struct ts_reader *rd, bool tls13, struct ts_certificate_msg *cm,
                         struct ts_error *err)
{
	const char *why = NULL;
	struct ts_reader list, sub;
	memset(cm, 0, sizeof *cm);
	if (tls13 && ts_read_vector(rd, 1, &sub, "certificate.request_context")) {
		cm->context.p = sub.data;
		cm->context.len = sub.len;
	}
	ts_read_vector(rd, 3, &list, "certificate.certificate_list");
	while (ts_reader_left(&list) > 0) {
		struct ts_reader der;
		if (!ts_read_vector(&list, 3, &der, "certificate.cert_data"))
			break;
		if (der.len == 0)
			bad(&list, "certificate.cert_data", &why, "is empty");
		if (tls13) {
			struct ts_reader exts;
			ts_read_vector(&list, 2, &exts, "certificate.extensions");
		}
		if (cm->n_certs < TS_MAX_CERTS) {
			cm->certs[cm->n_certs].p = der.data;
			cm->certs[cm->n_certs].len = der.len;
			cm->n_certs++;
		} else {
			cm->truncated = true;
		}
	}
	ts_reader_propagate(rd, &list);
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "certificate", &why, "has bytes after the certificate list");
	if (rd->error)
		return malformed(rd, err, "malformed Certificate", why);
	return 0;
}

static int bignum_bits(struct ts_bytes b)
{
	size_t i = 0;
	while (i < b.len && b.p[i] == 0)
		i++;
	if (i == b.len)
		return 0;
	int bits = (int)(b.len - i - 1) * 8;
	for (uint8_t top = b.p[i]; top != 0; top >>= 1)
		bits++;
	return bits;
}

static struct ts_bytes read_opaque(struct ts_reader *rd, int lb, const char *field)
{
	struct ts_reader sub;
	struct ts_bytes b = { 0 };
	if (ts_read_vector(rd, lb, &sub, field)) {
		b.p = sub.data;
		b.len = sub.len;
	}
	return b;
}

int ts_parse_server_key_exchange(struct ts_reader *rd, uint16_t version, uint16_t suite,
                                 struct ts_server_key_exchange *ske, struct ts_error *err)
{
	const char *why = NULL;
	memset(ske, 0, sizeof *ske);
	const struct ts_suite_info *si = ts_suite_by_code(suite);
	if (si == NULL)
		return ts_error_set(err, TS_E_INVALID,
		                    "ServerKeyExchange: cipher suite 0x%04x is unknown, so its "
		                    "layout is too", suite);
	bool signed_params = !si->anonymous;
	switch (si->kx) {
	case TS_KX_PSK: case TS_KX_RSA_PSK: case TS_KX_DHE_PSK: case TS_KX_ECDHE_PSK:
		read_opaque(rd, 2, "server_key_exchange.psk_identity_hint");
		signed_params = false;
		break;
	default:
		break;
	}
	switch (si->kx) {
	case TS_KX_ECDHE: case TS_KX_ECDHE_PSK:
		ske->kind = TS_SKE_ECDHE;
		ske->curve_type = ts_read_u8(rd, "server_key_exchange.curve_type");
		if (!rd->error && ske->curve_type != 3)
			bad(rd, "server_key_exchange.curve_type", &why,
			    "is not named_curve (3): explicit curves are not supported");
		ske->group = ts_read_u16(rd, "server_key_exchange.named_curve");
		ske->point = read_opaque(rd, 1, "server_key_exchange.public");
		break;
	case TS_KX_DHE: case TS_KX_DHE_PSK:
		ske->kind = TS_SKE_DHE;
		ske->dh_p = read_opaque(rd, 2, "server_key_exchange.dh_p");
		ske->dh_g = read_opaque(rd, 2, "server_key_exchange.dh_g");
		ske->dh_ys = read_opaque(rd, 2, "server_key_exchange.dh_Ys");
		ske->dh_bits = bignum_bits(ske->dh_p);
		break;
	case TS_KX_RSA:
		ske->kind = TS_SKE_RSA;
		ske->rsa_modulus = read_opaque(rd, 2, "server_key_exchange.rsa_modulus");
		ske->rsa_exponent = read_opaque(rd, 2, "server_key_exchange.rsa_exponent");
		ske->rsa_bits = bignum_bits(ske->rsa_modulus);
		break;
	case TS_KX_PSK: case TS_KX_RSA_PSK:
		break;
	default:
		return ts_error_set(err, TS_E_INVALID,
		                    "ServerKeyExchange: cipher suite %s has no ServerKeyExchange "
		                    "this parser knows", si->name);
	}
	if (signed_params && !rd->error) {
		if (version >= TS_TLS12) {
			ske->has_sigalg = true;
			ske->sigalg = ts_read_u16(rd, "server_key_exchange.signature_algorithm");
		}
		ske->signature = read_opaque(rd, 2, "server_key_exchange.signature");
	}
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "server_key_exchange", &why, "has bytes after its contents");
	if (rd->error)
		return malformed(rd, err, "malformed ServerKeyExchange", why);
	return 0;
}

int ts_parse_server_hello_done(struct ts_reader *rd, struct ts_error *err)
{
	if (ts_reader_left(rd) != 0) {
		ts_reader_fail(rd, "server_hello_done");
		return malformed(rd, err, "malformed ServerHelloDone", "is not empty");
	}
	return 0;
}

int ts_parse_alert(struct ts_reader *rd, struct ts_alert *al, struct ts_error *err)
{
	const char *why = NULL;
	al->level = ts_read_u8(rd, "alert.level");
	al->description = ts_read_u8(rd, "alert.description");
	if (!rd->error && al->level != 1 && al->level != 2) {
		rd->off--;
		rd->off--;
		bad(rd, "alert.level", &why, "is neither warning (1) nor fatal (2)");
	}
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "alert", &why, "is longer than 2 bytes");
	if (rd->error)
		return malformed(rd, err, "malformed Alert", why);
	return 0;
}

int ts_parse_change_cipher_spec(struct ts_reader *rd, struct ts_error *err)
{
	const char *why = NULL;
	uint8_t v = ts_read_u8(rd, "change_cipher_spec.type");
	if (!rd->error && v != 1) {
		rd->off--;
		bad(rd, "change_cipher_spec.type", &why, "is not 1");
	}
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "change_cipher_spec", &why, "is longer than 1 byte");
	if (rd->error)
		return malformed(rd, err, "malformed ChangeCipherSpec", why);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* SSLv2 */

static void read_ssl2_specs(struct ts_reader *rd, size_t len, uint32_t *specs, size_t *n,
                            bool *truncated, const char **why)
{
	if (len % 3 != 0) {
		bad(rd, "ssl2.cipher_specs_length", why, "is not a multiple of 3");
		return;
	}
	for (size_t i = 0; i < len / 3 && !rd->error; i++) {
		uint32_t v = ts_read_u24(rd, "ssl2.cipher_specs");
		if (*n < TS_MAX_SSL2_SPECS)
			specs[(*n)++] = v;
		else
			*truncated = true;
	}
}

int ts_parse_ssl2_client_hello(struct ts_reader *rd, struct ts_ssl2_client_hello *ch,
                               struct ts_error *err)
{
	const char *why = NULL;
	memset(ch, 0, offsetof(struct ts_ssl2_client_hello, specs));
	ch->n_specs = 0;
	ch->truncated = false;
	memset(&ch->session_id, 0, sizeof ch->session_id);
	memset(&ch->challenge, 0, sizeof ch->challenge);
	uint8_t mt = ts_read_u8(rd, "ssl2.msg_type");
	if (!rd->error && mt != 1) {
		rd->off--;
		bad(rd, "ssl2.msg_type", &why, "is not CLIENT-HELLO (1)");
	}
	ch->version = ts_read_u16(rd, "ssl2.client_hello.version");
	size_t specs_len = ts_read_u16(rd, "ssl2.client_hello.cipher_specs_length");
	size_t sid_len = ts_read_u16(rd, "ssl2.client_hello.session_id_length");
	size_t ch_len = ts_read_u16(rd, "ssl2.client_hello.challenge_length");
	if (!rd->error && sid_len != 0 && sid_len != 16 && sid_len != 32)
		bad(rd, "ssl2.client_hello.session_id_length", &why, "is not 0, 16 or 32");
	if (!rd->error && (ch_len < 16 || ch_len > 32))
		bad(rd, "ssl2.client_hello.challenge_length", &why, "is not 16..32");
	read_ssl2_specs(rd, specs_len, ch->specs, &ch->n_specs, &ch->truncated, &why);
	ch->session_id.p = ts_read_bytes(rd, sid_len, "ssl2.client_hello.session_id");
	ch->session_id.len = sid_len;
	ch->challenge.p = ts_read_bytes(rd, ch_len, "ssl2.client_hello.challenge");
	ch->challenge.len = ch_len;
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "ssl2.client_hello", &why, "has bytes after the challenge");
	if (rd->error)
		return malformed(rd, err, "malformed SSLv2 CLIENT-HELLO", why);
	return 0;
}

int ts_parse_ssl2_server_hello(struct ts_reader *rd, struct ts_ssl2_server_hello *sh,
                               struct ts_error *err)
{
	const char *why = NULL;
	memset(sh, 0, offsetof(struct ts_ssl2_server_hello, specs));
	sh->n_specs = 0;
	sh->truncated = false;
	memset(&sh->connection_id, 0, sizeof sh->connection_id);
	uint8_t mt = ts_read_u8(rd, "ssl2.msg_type");
	if (!rd->error && mt != 4) {
		rd->off--;
		bad(rd, "ssl2.msg_type", &why, "is not SERVER-HELLO (4)");
	}
	sh->session_id_hit = ts_read_u8(rd, "ssl2.server_hello.session_id_hit");
	sh->certificate_type = ts_read_u8(rd, "ssl2.server_hello.certificate_type");
	sh->version = ts_read_u16(rd, "ssl2.server_hello.version");
	size_t cert_len = ts_read_u16(rd, "ssl2.server_hello.certificate_length");
	size_t specs_len = ts_read_u16(rd, "ssl2.server_hello.cipher_specs_length");
	size_t cid_len = ts_read_u16(rd, "ssl2.server_hello.connection_id_length");
	sh->certificate.p = ts_read_bytes(rd, cert_len, "ssl2.server_hello.certificate");
	sh->certificate.len = cert_len;
	read_ssl2_specs(rd, specs_len, sh->specs, &sh->n_specs, &sh->truncated, &why);
	sh->connection_id.p = ts_read_bytes(rd, cid_len, "ssl2.server_hello.connection_id");
	sh->connection_id.len = cid_len;
	if (!rd->error && ts_reader_left(rd) != 0)
		bad(rd, "ssl2.server_hello", &why, "has bytes after the connection id");
	if (rd->error)
		return malformed(rd, err, "malformed SSLv2 SERVER-HELLO", why);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Recognising TLS */

#define MAX_RECORD_DEFAULT (16384 + 2048)

static bool plausible_hs_type(uint8_t t)
{
	switch (t) {
	case 0: case 1: case 2: case 4: case 5: case 8: case 11: case 12: case 13: case 14:
	case 15: case 16: case 20: case 22: case 24: case 25:
		return true;
	default:
		return false;
	}
}

enum ts_looks ts_tls_looks_like(const uint8_t *p, size_t n)
{
	if (n == 0)
		return TS_LOOKS_MAYBE;
	if (p[0] >= 20 && p[0] <= 24) {
		if (n >= 2 && p[1] != 3)
			return TS_LOOKS_NO;
		if (n >= 3 && p[2] > 4)
			return TS_LOOKS_NO;
		if (n < 5)
			return TS_LOOKS_MAYBE;
		size_t len = (size_t)p[3] << 8 | p[4];
		if (len == 0 || len > MAX_RECORD_DEFAULT)
			return TS_LOOKS_NO;
		if (p[0] == TS_CT_ALERT)
			return len == 2 && (n < 6 || p[5] == 1 || p[5] == 2) ? TS_LOOKS_TLS : TS_LOOKS_NO;
		if (p[0] == TS_CT_CHANGE_CIPHER_SPEC)
			return len == 1 && (n < 6 || p[5] == 1) ? TS_LOOKS_TLS : TS_LOOKS_NO;
		if (p[0] != TS_CT_HANDSHAKE)
			return TS_LOOKS_TLS;
		if (n < 6)
			return TS_LOOKS_MAYBE;
		if (!plausible_hs_type(p[5]))
			return TS_LOOKS_NO;
		if ((p[5] == 1 || p[5] == 2) && n >= 11) {
			if (p[6] != 0 || p[9] != 3 || p[10] > 4)
				return TS_LOOKS_NO;
		}
		return TS_LOOKS_TLS;
	}
	if (p[0] & 0x80) {
		if (n < 5)
			return TS_LOOKS_MAYBE;
		size_t len = (size_t)(p[0] & 0x7f) << 8 | p[1];
		if (p[2] == 1) {
			uint16_t v = (uint16_t)(p[3] << 8 | p[4]);
			if (len >= 9 + 16 && (v == TS_SSL2 || (v >= TS_SSL3 && v <= TS_TLS13)))
				return TS_LOOKS_SSL2;
		} else if (p[2] == 4) {
			if (n < 7)
				return TS_LOOKS_MAYBE;
			if (len >= 11 && p[3] <= 1 && p[4] == 1 && p[5] == 0 && p[6] == 2)
				return TS_LOOKS_SSL2;
		}
		return TS_LOOKS_NO;
	}
	return TS_LOOKS_NO;
}

/* A strict record-header test for resynchronisation. */
static bool header_plausible(const uint8_t *p)
{
	size_t len = (size_t)p[3] << 8 | p[4];
	return p[0] >= 20 && p[0] <= 24 && p[1] == 3 && p[2] <= 4 && len > 0 &&
	       len <= MAX_RECORD_DEFAULT;
}

size_t ts_tls_resync(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 5 <= n; i++) {
		if (!header_plausible(p + i))
			continue;
		size_t next = i + 5 + ((size_t)p[i + 3] << 8 | p[i + 4]);
		if (next + 5 <= n && !header_plausible(p + next))
			continue;
		return i;
	}
	return n;
}

/* ------------------------------------------------------------------------ */
/* The stream */

enum {
	ST_START,        /* nothing parsed yet: SSLv2 or TLS */
	ST_RECORDS,      /* TLS records */
	ST_RESYNC,       /* after a gap: looking for a record header */
	ST_FAILED,
};

enum { PEND_NONE, PEND_ALERT, PEND_CCS, PEND_SSL2 };

void ts_wire_limits_default(struct ts_wire_limits *lim)
{
	lim->max_handshake = 65536;
	lim->max_record = MAX_RECORD_DEFAULT;
	lim->max_buffered = 0;
}

void ts_tls_stream_init(struct ts_tls_stream *s, const struct ts_wire_limits *lim)
{
	memset(s, 0, sizeof *s);
	ts_wire_limits_default(&s->lim);
	if (lim != NULL) {
		if (lim->max_handshake != 0)
			s->lim.max_handshake = lim->max_handshake;
		if (lim->max_record != 0)
			s->lim.max_record = lim->max_record;
		s->lim.max_buffered = lim->max_buffered;
	}
	if (s->lim.max_buffered == 0)
		s->lim.max_buffered = s->lim.max_handshake + s->lim.max_record + 5;
	ts_buf_init(&s->in);
	ts_buf_init(&s->hs);
	s->state = ST_START;
}

void ts_tls_stream_clear(struct ts_tls_stream *s)
{
	ts_buf_clear(&s->in);
	ts_buf_clear(&s->hs);
	memset(s, 0, sizeof *s);
}

/* The unparsed input: the caller's bytes while they are borrowed (s->ext),
 * else the copy in s->in.  in_pos indexes whichever it is. */
static const uint8_t *in_at(const struct ts_tls_stream *s)
{
	const uint8_t *base = s->ext != NULL ? s->ext : s->in.data;
	return base != NULL ? base + s->in_pos : base;
}

static size_t in_avail(const struct ts_tls_stream *s)
{
	return (s->ext != NULL ? s->ext_len : s->in.len) - s->in_pos;
}

/* Drops the bytes before in_pos (the caller is done with the last event);
 * an emptied buffer is freed, so that a stream between records holds no
 * memory. */
static void compact_input(struct ts_tls_stream *s)
{
	if (s->ext != NULL || s->in_pos == 0)
		return;
	ts_buf_consume(&s->in, s->in_pos);
	s->in_pos = 0;
	if (s->in.len == 0)
		ts_buf_clear(&s->in);
}

/* Copies what is left of the borrowed bytes: the caller may reuse them now. */
static void stash_input(struct ts_tls_stream *s)
{
	if (s->ext == NULL)
		return;
	const uint8_t *rest = s->ext + s->in_pos;
	size_t n = s->ext_len - s->in_pos;
	s->ext = NULL;
	s->in_pos = 0;
	ts_buf_put(&s->in, rest, n);
}

int ts_tls_stream_feed(struct ts_tls_stream *s, const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0;
	stash_input(s);
	compact_input(s);
	if (s->in.len + len > s->lim.max_buffered)
		return ts_error_set(&s->err, TS_E_NOMEM,
		                    "TLS stream: %zu bytes would be buffered, over the limit of %zu",
		                    s->in.len + len, s->lim.max_buffered);
	if (s->in.len == 0) {
		/* Nothing waits: parse the caller's bytes where they are, and copy
		 * only what is left of them when more is needed. */
		s->ext = data;
		s->ext_len = len;
		s->in_pos = 0;
		return 0;
	}
	ts_buf_put(&s->in, data, len);
	if (s->in.oom)
		return ts_error_set(&s->err, TS_E_NOMEM, "TLS stream: out of memory");
	return 0;
}

void ts_tls_stream_gap(struct ts_tls_stream *s, size_t missing)
{
	s->offset += in_avail(s) + missing;
	s->ext = NULL;
	ts_buf_clear(&s->in);
	ts_buf_clear(&s->hs);
	s->in_pos = 0;
	s->hs_pos = 0;
	s->pending = PEND_NONE;
	if (missing != 0 && missing <= s->skip) {
		s->skip -= missing;   /* still inside the same application_data record */
	} else {
		s->skip = 0;
		s->state = ST_RESYNC;
	}
	ts_error_clear(&s->err);
}

void ts_tls_stream_set_encrypted(struct ts_tls_stream *s, bool encrypted)
{
	s->encrypted = encrypted;
}

void ts_tls_stream_set_version(struct ts_tls_stream *s, uint16_t version)
{
	s->version = version;
}

static int stream_fail(struct ts_tls_stream *s)
{
	s->state = ST_FAILED;
	return s->err.code;
}

/* Learns version and suite from a ServerHello going by. */
static void learn_server_hello(struct ts_tls_stream *s, const uint8_t *body, size_t len)
{
	static _Thread_local struct ts_server_hello sh;
	struct ts_reader rd;
	ts_reader_init(&rd, body, len);
	if (ts_parse_server_hello(&rd, &sh, NULL) != 0)
		return;
	/* A HelloRetryRequest already settles TLS 1.3, so the compatibility CCS
	 * that may follow it does not start encryption; the real ServerHello does. */
	s->version = sh.selected_version;
	if (!sh.is_hrr)
		s->suite = sh.suite;
}

/* The next complete handshake message in s->hs, if any. */
static int next_handshake(struct ts_tls_stream *s, struct ts_tls_event *ev)
{
	size_t avail = s->hs.len - s->hs_pos;
	if (avail < 4)
		return TS_E_NEED_MORE;
	const uint8_t *h = s->hs.data + s->hs_pos;
	size_t len = (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	if (len > s->lim.max_handshake) {
		ts_error_set(&s->err, TS_E_MALFORMED,
		             "handshake message %s at offset %llu: length %zu is over the limit of %zu",
		             ts_hs_type_name(h[0]), (unsigned long long)(s->hs_off + s->hs_pos), len,
		             s->lim.max_handshake);
		return stream_fail(s);
	}
	if (avail < 4 + len)
		return TS_E_NEED_MORE;
	*ev = s->rec;
	ev->kind = TS_EV_HANDSHAKE;
	ev->hs_type = h[0];
	ev->body = h + 4;
	ev->body_len = len;
	ev->body_off = s->hs_off + s->hs_pos + 4;
	s->hs_pos += 4 + len;
	if (h[0] == TS_HS_SERVER_HELLO) {
		learn_server_hello(s, ev->body, len);
		if (len >= 34 && memcmp(ev->body + 2, hrr_random, 32) == 0)
			ev->hs_type = TS_HS_HELLO_RETRY_REQUEST;
		else if (s->version == TS_TLS13)
			s->encrypted = true;   /* everything after a TLS 1.3 ServerHello */
	}
	return 1;
}

/* After CCS a handshake record is normally ciphertext; but a TLS 1.3 client
 * may send its compatibility CCS before a second, plaintext ClientHello. */
static bool plaintext_after_ccs(const uint8_t *p, size_t len)
{
	return len >= 4 && p[0] == TS_HS_CLIENT_HELLO &&
	       ((size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]) + 4 == len;
}

static int next_ssl2_record(struct ts_tls_stream *s, struct ts_tls_event *ev)
{
	const uint8_t *p = in_at(s);
	size_t avail = in_avail(s);
	if (avail < 3)
		return TS_E_NEED_MORE;
	size_t len = (size_t)(p[0] & 0x7f) << 8 | p[1];
	if (len == 0) {
		ts_error_set(&s->err, TS_E_MALFORMED, "SSLv2 record at offset %llu is empty",
		             (unsigned long long)s->offset);
		return stream_fail(s);
	}
	if (avail < 2 + len)
		return TS_E_NEED_MORE;
	memset(ev, 0, sizeof *ev);
	ev->kind = TS_EV_RECORD;
	ev->content_type = TS_CT_SSL2;
	ev->record_version = TS_SSL2;
	ev->record_len = len;
	ev->record_off = s->offset;
	ev->encrypted = s->encrypted;
	ev->hs_type = 0x100 | p[2];
	ev->body = p + 2;
	ev->body_len = len;
	ev->body_off = s->offset + 2;
	s->rec = *ev;
	s->in_pos += 2 + len;
	s->offset += 2 + len;
	if (!s->encrypted) {
		s->pending = PEND_SSL2;
		if (p[2] == 2 || p[2] == 4)
			s->encrypted = true;   /* after CLIENT-MASTER-KEY / SERVER-HELLO */
		if (p[2] == 4)
			s->version = TS_SSL2;
	}
	return 1;
}

static int next_record(struct ts_tls_stream *s, struct ts_tls_event *ev)
{
	const uint8_t *p = in_at(s);
	size_t avail = in_avail(s);
	if (avail < 5)
		return TS_E_NEED_MORE;
	size_t len = (size_t)p[3] << 8 | p[4];
	if (p[0] < 20 || p[0] > 24) {
		ts_error_set(&s->err, TS_E_MALFORMED,
		             "record.content_type at offset %llu: 0x%02x is not a TLS content type (20..24)",
		             (unsigned long long)s->offset, p[0]);
		return stream_fail(s);
	}
	if (p[1] != 3) {
		ts_error_set(&s->err, TS_E_MALFORMED,
		             "record.version at offset %llu: 0x%02x%02x is not SSLv3/TLS (0x03xx)",
		             (unsigned long long)s->offset + 1, p[1], p[2]);
		return stream_fail(s);
	}
	/* RFC 8446 5.2 / RFC 5246 6.2: ciphertext up to 2^14 + 256 in TLS 1.3 and
	 * 2^14 + 2048 before; plaintext handshake, alert and CCS up to 2^14. */
	size_t limit = s->lim.max_record;
	const char *which = "the limit";
	if (s->version == TS_TLS13 && limit > 16384 + 256) {
		limit = 16384 + 256;
		which = "the TLS 1.3 limit";
	}
	if (!s->encrypted && p[0] != TS_CT_APPLICATION_DATA && limit > 16384) {
		limit = 16384;
		which = "the plaintext limit";
	}
	if (len > limit) {
		ts_error_set(&s->err, TS_E_MALFORMED,
		             "record.length at offset %llu: %zu is over %s of %zu",
		             (unsigned long long)s->offset + 3, len, which, limit);
		return stream_fail(s);
	}
	if (p[0] == TS_CT_APPLICATION_DATA) {
		/* Report it now and skip the ciphertext as it comes: bulk data is
		 * never buffered. */
		memset(ev, 0, sizeof *ev);
		ev->kind = TS_EV_RECORD;
		ev->content_type = p[0];
		ev->record_version = (uint16_t)(p[1] << 8 | p[2]);
		ev->record_len = len;
		ev->record_off = s->offset;
		ev->encrypted = true;
		ev->body_off = s->offset + 5;
		s->rec = *ev;
		size_t now = avail - 5 < len ? avail - 5 : len;
		s->in_pos += 5 + now;
		s->offset += 5 + now;
		s->skip = len - now;
		return 1;
	}
	if (avail < 5 + len)
		return TS_E_NEED_MORE;
	memset(ev, 0, sizeof *ev);
	ev->kind = TS_EV_RECORD;
	ev->content_type = p[0];
	ev->record_version = (uint16_t)(p[1] << 8 | p[2]);
	ev->record_len = len;
	ev->record_off = s->offset;
	ev->body = p + 5;
	ev->body_len = len;
	ev->body_off = s->offset + 5;
	const uint8_t *payload = p + 5;
	switch (p[0]) {
	case TS_CT_HANDSHAKE:
		ev->encrypted = s->encrypted && !plaintext_after_ccs(payload, len);
		if (!ev->encrypted) {
			if (s->hs_pos == s->hs.len) {
				ts_buf_reset(&s->hs);
				s->hs_pos = 0;
				s->hs_off = s->offset + 5;
			}
			if (s->hs.len - s->hs_pos + len > s->lim.max_handshake + 4) {
				ts_error_set(&s->err, TS_E_MALFORMED,
				             "handshake at offset %llu: more than %zu bytes of an unfinished message",
				             (unsigned long long)s->hs_off, s->lim.max_handshake);
				return stream_fail(s);
			}
			if (s->hs_pos > 0) {
				ts_buf_consume(&s->hs, s->hs_pos);
				s->hs_off += s->hs_pos;
				s->hs_pos = 0;
			}
			ts_buf_put(&s->hs, payload, len);
			if (s->hs.oom) {
				ts_error_set(&s->err, TS_E_NOMEM, "TLS stream: out of memory");
				return stream_fail(s);
			}
		}
		break;
	case TS_CT_ALERT:
		/* Two bytes with a valid level cannot be ciphertext (too short for a MAC). */
		ev->encrypted = len != 2 || (payload[0] != 1 && payload[0] != 2);
		if (!ev->encrypted) {
			s->pending = PEND_ALERT;
			ev->alert.level = payload[0];
			ev->alert.description = payload[1];
		}
		break;
	case TS_CT_CHANGE_CIPHER_SPEC:
		if (len == 1 && payload[0] == 1) {
			s->pending = PEND_CCS;
			if (s->version != TS_TLS13)
				s->encrypted = true;
		}
		break;
	default:
		ev->encrypted = true;
		break;
	}
	s->rec = *ev;
	s->in_pos += 5 + len;
	s->offset += 5 + len;
	return 1;
}

static int next_event(struct ts_tls_stream *s, struct ts_tls_event *ev)
{
	if (s->state == ST_FAILED)
		return s->err.code != 0 ? s->err.code : TS_E_MALFORMED;
	/* A record reported last time may carry one more event. */
	if (s->pending != PEND_NONE) {
		int pend = s->pending;
		s->pending = PEND_NONE;
		*ev = s->rec;
		ev->kind = pend == PEND_ALERT ? TS_EV_ALERT
		         : pend == PEND_CCS ? TS_EV_CHANGE_CIPHER_SPEC : TS_EV_SSL2;
		return 1;
	}
	int rc = next_handshake(s, ev);
	if (rc != TS_E_NEED_MORE)
		return rc;
	if (s->hs.cap != 0 && s->hs_pos == s->hs.len) {
		ts_buf_clear(&s->hs);   /* every message was reported: hold no memory */
		s->hs_pos = 0;
	}
	compact_input(s);
	if (s->skip > 0) {
		size_t avail = in_avail(s);
		size_t now = avail < s->skip ? avail : s->skip;
		s->in_pos += now;
		s->offset += now;
		s->skip -= now;
		if (s->skip > 0)
			return TS_E_NEED_MORE;
	}
	if (s->state == ST_RESYNC) {
		size_t avail = in_avail(s);
		size_t at = ts_tls_resync(in_at(s), avail);
		if (at == avail) {
			/* Keep the last 4 bytes: a header may straddle what comes next. */
			size_t drop = avail > 4 ? avail - 4 : 0;
			s->in_pos += drop;
			s->offset += drop;
			return TS_E_NEED_MORE;
		}
		s->in_pos += at;
		s->offset += at;
		s->state = ST_RECORDS;
	}
	if (s->state == ST_START) {
		if (in_avail(s) == 0)
			return TS_E_NEED_MORE;
		if (in_at(s)[0] & 0x80) {
			enum ts_looks l = ts_tls_looks_like(in_at(s), in_avail(s));
			if (l == TS_LOOKS_MAYBE)
				return TS_E_NEED_MORE;
			if (l != TS_LOOKS_SSL2) {
				ts_error_set(&s->err, TS_E_MALFORMED,
				             "record at offset %llu: neither a TLS record nor an SSLv2 hello",
				             (unsigned long long)s->offset);
				return stream_fail(s);
			}
			s->ssl2 = true;
		}
		s->state = ST_RECORDS;
	}
	if (s->ssl2 && in_avail(s) > 0 && (in_at(s)[0] & 0x80))
		return next_ssl2_record(s, ev);
	return next_record(s, ev);
}

int ts_tls_stream_next(struct ts_tls_stream *s, struct ts_tls_event *ev)
{
	int rc = next_event(s, ev);
	if (rc != 1)
		stash_input(s);
	return rc;
}

size_t ts_tls_stream_held(const struct ts_tls_stream *s)
{
	return s->in.cap + s->hs.cap;
}
