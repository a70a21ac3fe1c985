/* The generated IANA tables: lookups, and properties derived from the names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "tlsscope/registry.h"
#include "tlsscope/wire.h"

static void suites_by_code_and_name(void **state)
{
	const struct ts_suite_info *s = ts_suite_by_code(0xc02f);
	assert_non_null(s);
	assert_string_equal(s->name, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
	assert_string_equal(s->openssl_name, "ECDHE-RSA-AES128-GCM-SHA256");
	assert_int_equal(s->kx, TS_KX_ECDHE);
	assert_int_equal(s->auth, TS_AUTH_RSA);
	assert_string_equal(s->cipher, "AES_128_GCM");
	assert_int_equal(s->bits, 128);
	assert_int_equal(s->mac, TS_MAC_AEAD);
	assert_true(s->aead);
	assert_true(s->forward_secret);
	assert_false(s->export_grade);
	assert_int_equal(s->min_version, TS_TLS12);
	assert_int_equal(s->max_version, TS_TLS12);
	assert_ptr_equal(ts_suite_by_name("tls_ecdhe_rsa_with_aes_128_gcm_sha256"), s);
	assert_ptr_equal(ts_suite_by_name("ECDHE-RSA-AES128-GCM-SHA256"), s);
	assert_null(ts_suite_by_name("NO-SUCH-SUITE"));
	assert_null(ts_suite_by_name(NULL));
	assert_null(ts_suite_by_code(0x0a0a));
	assert_string_equal(ts_suite_name(0x0a0a), "GREASE");
	assert_string_equal(ts_suite_name(0x7f7e), "0x7f7e");
}

static void suite_properties_follow_the_names(void **state)
{
	const struct ts_suite_info *s = ts_suite_by_code(0x0003);  /* RSA_EXPORT_WITH_RC4_40_MD5 */
	assert_non_null(s);
	assert_true(s->export_grade);
	assert_int_equal(s->bits, 40);
	assert_int_equal(s->mac, TS_MAC_MD5);
	assert_int_equal(s->max_version, TS_TLS10);
	assert_false(s->forward_secret);
	s = ts_suite_by_code(0x0018);   /* DH_anon_WITH_RC4_128_MD5 */
	assert_true(s->anonymous);
	assert_int_equal(s->kx, TS_KX_DHE);
	s = ts_suite_by_code(0x0002);   /* RSA_WITH_NULL_SHA */
	assert_true(s->null_cipher);
	assert_int_equal(s->bits, 0);
	assert_int_equal(s->min_version, TS_SSL3);
	s = ts_suite_by_code(0x000a);   /* 3DES */
	assert_int_equal(s->bits, 112);
	assert_false(s->aead);
	s = ts_suite_by_code(0x0009);   /* single DES: gone in TLS 1.2 */
	assert_int_equal(s->max_version, TS_TLS11);
	s = ts_suite_by_code(0x1303);   /* TLS 1.3, added from the README's list */
	assert_non_null(s);
	assert_string_equal(s->name, "TLS_CHACHA20_POLY1305_SHA256");
	assert_int_equal(s->min_version, TS_TLS13);
	assert_int_equal(s->bits, 256);
	assert_true(s->forward_secret);
	/* every suite the shared data's README lists as missing from its CSV */
	for (uint16_t c = 0x1301; c <= 0x1305; c++) {
		s = ts_suite_by_code(c);
		assert_non_null(s);
		assert_int_equal(s->min_version, TS_TLS13);
		assert_int_equal(s->max_version, TS_TLS13);
		assert_true(s->aead && s->forward_secret);
	}
	assert_int_equal(ts_suite_by_code(0x1305)->bits, 128);
	assert_string_equal(ts_suite_name(0x1304), "TLS_AES_128_CCM_SHA256");
	static const uint16_t later[] = { 0x00c6, 0x00c7, 0xc0b0, 0xc0b1, 0xc0b2, 0xc0b3, 0xc100,
	                                  0xc101, 0xc102, 0xc103, 0xc104, 0xc105, 0xc106 };
	for (size_t i = 0; i < sizeof later / sizeof later[0]; i++)
		assert_non_null(ts_suite_by_code(later[i]));
	assert_string_equal(ts_suite_name(0x00c6), "TLS_SM4_GCM_SM3");
	assert_string_equal(ts_suite_name(0xc0b0), "TLS_ECCPWD_WITH_AES_128_GCM_SHA256");
	assert_string_equal(ts_suite_name(0xc100), "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC");
	s = ts_suite_by_code(0x00ff);
	assert_true(s->scsv);
	assert_true(ts_suite_by_code(0x5600)->scsv);
	s = ts_suite_by_code(0xc0aa);   /* the IANA name says PSK_DHE */
	assert_int_equal(s->kx, TS_KX_DHE_PSK);
	assert_true(s->aead);
	s = ts_suite_by_code(0xc024);   /* ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 */
	assert_int_equal(s->mac, TS_MAC_SHA384);
	assert_int_equal(s->auth, TS_AUTH_ECDSA);
	assert_int_equal(s->min_version, TS_TLS12);
	/* Every suite has a name and sane properties, and the table is sorted. */
	size_t n;
	const struct ts_suite_info *all = ts_suites(&n);
	assert_true(n > 330);
	for (size_t i = 0; i < n; i++) {
		assert_true(strncmp(all[i].name, "TLS_", 4) == 0 || strncmp(all[i].name, "OLD_TLS_", 8) == 0);
		if (i > 0)
			assert_true(all[i - 1].code < all[i].code);
		assert_true(all[i].min_version <= all[i].max_version);
		if (all[i].aead)
			assert_int_equal(all[i].mac, TS_MAC_AEAD);
		assert_ptr_equal(ts_suite_by_code(all[i].code), &all[i]);
	}
}

static void groups_sigschemes_extensions_alerts(void **state)
{
	const struct ts_group_info *g = ts_group_by_code(4588);
	assert_non_null(g);
	assert_string_equal(g->name, "X25519MLKEM768");
	assert_string_equal(g->kind, "hybrid");
	assert_ptr_equal(ts_group_by_name("x25519mlkem768"), g);
	g = ts_group_by_code(23);
	assert_string_equal(g->name, "secp256r1");
	assert_int_equal(g->bits, 256);
	assert_true(g->recommended);
	g = ts_group_by_code(256);
	assert_string_equal(g->kind, "ff");
	assert_int_equal(g->bits, 2048);
	assert_string_equal(ts_group_by_code(513)->kind, "pq");
	assert_true(ts_group_by_code(1)->deprecated);
	assert_string_equal(ts_sigscheme_by_code(0x0804)->name, "rsa_pss_rsae_sha256");
	assert_int_equal(ts_sigscheme_by_name("ed25519")->code, 0x0807);
	assert_string_equal(ts_extension_name(0), "server_name");
	assert_string_equal(ts_extension_name(0xfe0d), "encrypted_client_hello");
	assert_string_equal(ts_extension_name(0xff01), "renegotiation_info");
	assert_string_equal(ts_extension_name(0x2a2a), "GREASE");
	assert_int_equal(ts_extension_by_name("key_share")->code, 51);
	assert_string_equal(ts_alert_name(40), "handshake_failure");
	assert_string_equal(ts_alert_name(70), "protocol_version");
	assert_string_equal(ts_alert_name(200), "unknown_200");
	assert_int_equal(ts_alert_by_name("unrecognized_name")->code, 112);
	assert_string_equal(ts_alert_level_name(2), "fatal");
	assert_string_equal(ts_kx_name(TS_KX_ECDHE), "ECDHE");
	assert_string_equal(ts_mac_name(TS_MAC_SHA1), "SHA1");
	assert_string_equal(ts_auth_name(TS_AUTH_ANON), "anonymous");
	size_t n;
	assert_true(ts_groups(&n) != NULL && n >= 50);
	assert_true(ts_sigschemes(&n) != NULL && n >= 35);
	assert_true(ts_extensions(&n) != NULL && n >= 60);
	assert_true(ts_alerts(&n) != NULL && n >= 35);
}

static void grease(void **state)
{
	for (unsigned i = 0; i < 16; i++)
		assert_true(ts_is_grease((uint16_t)(i << 12 | 0x0a00 | i << 4 | 0x0a)));
	assert_false(ts_is_grease(0x0a1a));
	assert_false(ts_is_grease(0x1301));
	assert_false(ts_is_grease(0x0000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(suites_by_code_and_name),
		cmocka_unit_test(suite_properties_follow_the_names),
		cmocka_unit_test(groups_sigschemes_extensions_alerts),
		cmocka_unit_test(grease),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
