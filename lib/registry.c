/* Lookups in the IANA tables generated from the CSV files in lib/registry/. */
#include "tlsscope/registry.h"

#include <stdio.h>
#include <strings.h>

#include "registry_tables.h"

/* Binary search over a table sorted by its leading uint16_t code. */
#define FIND_BY_CODE(table, count, code) do { \
		size_t lo = 0, hi = (count); \
		while (lo < hi) { \
			size_t mid = lo + (hi - lo) / 2; \
			if ((table)[mid].code == (code)) \
				return &(table)[mid]; \
			if ((table)[mid].code < (code)) \
				lo = mid + 1; \
			else \
				hi = mid; \
		} \
		return NULL; \
	} while (0)

#define FIND_BY_NAME(table, count, nm) do { \
		if ((nm) == NULL) \
			return NULL; \
		for (size_t i = 0; i < (count); i++) \
			if (strcasecmp((table)[i].name, (nm)) == 0) \
				return &(table)[i]; \
		return NULL; \
	} while (0)

const struct ts_suite_info *ts_suite_by_code(uint16_t code)
{
	FIND_BY_CODE(ts_registry_suites, ts_registry_suites_count, code);
}

const struct ts_suite_info *ts_suite_by_name(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < ts_registry_suites_count; i++) {
		const struct ts_suite_info *s = &ts_registry_suites[i];
		if (strcasecmp(s->name, name) == 0 ||
		    (s->openssl_name != NULL && strcasecmp(s->openssl_name, name) == 0))
			return s;
	}
	return NULL;
}

const struct ts_group_info *ts_group_by_code(uint16_t code)
{
	FIND_BY_CODE(ts_registry_groups, ts_registry_groups_count, code);
}

const struct ts_group_info *ts_group_by_name(const char *name)
{
	FIND_BY_NAME(ts_registry_groups, ts_registry_groups_count, name);
}

const struct ts_sigscheme_info *ts_sigscheme_by_code(uint16_t code)
{
	FIND_BY_CODE(ts_registry_sigschemes, ts_registry_sigschemes_count, code);
}

const struct ts_sigscheme_info *ts_sigscheme_by_name(const char *name)
{
	FIND_BY_NAME(ts_registry_sigschemes, ts_registry_sigschemes_count, name);
}

const struct ts_named_value *ts_extension_by_code(uint16_t code)
{
	FIND_BY_CODE(ts_registry_extensions, ts_registry_extensions_count, code);
}

const struct ts_named_value *ts_extension_by_name(const char *name)
{
	FIND_BY_NAME(ts_registry_extensions, ts_registry_extensions_count, name);
}

const struct ts_named_value *ts_alert_by_code(uint8_t code)
{
	FIND_BY_CODE(ts_registry_alerts, ts_registry_alerts_count, code);
}

const struct ts_named_value *ts_alert_by_name(const char *name)
{
	FIND_BY_NAME(ts_registry_alerts, ts_registry_alerts_count, name);
}

const struct ts_suite_info *ts_suites(size_t *count)
{
	*count = ts_registry_suites_count;
	return ts_registry_suites;
}

const struct ts_group_info *ts_groups(size_t *count)
{
	*count = ts_registry_groups_count;
	return ts_registry_groups;
}

const struct ts_sigscheme_info *ts_sigschemes(size_t *count)
{
	*count = ts_registry_sigschemes_count;
	return ts_registry_sigschemes;
}

const struct ts_named_value *ts_extensions(size_t *count)
{
	*count = ts_registry_extensions_count;
	return ts_registry_extensions;
}

const struct ts_named_value *ts_alerts(size_t *count)
{
	*count = ts_registry_alerts_count;
	return ts_registry_alerts;
}

static _Thread_local char unknown_buf[16];

static const char *unknown16(uint16_t code)
{
	if (ts_is_grease(code))
		return "GREASE";
	snprintf(unknown_buf, sizeof unknown_buf, "0x%04x", code);
	return unknown_buf;
}

const char *ts_suite_name(uint16_t code)
{
	const struct ts_suite_info *s = ts_suite_by_code(code);
	return s != NULL ? s->name : unknown16(code);
}

const char *ts_group_name(uint16_t code)
{
	const struct ts_group_info *g = ts_group_by_code(code);
	return g != NULL ? g->name : unknown16(code);
}

const char *ts_sigscheme_name(uint16_t code)
{
	const struct ts_sigscheme_info *s = ts_sigscheme_by_code(code);
	return s != NULL ? s->name : unknown16(code);
}

const char *ts_extension_name(uint16_t code)
{
	const struct ts_named_value *e = ts_extension_by_code(code);
	return e != NULL ? e->name : unknown16(code);
}

const char *ts_alert_name(uint8_t code)
{
	const struct ts_named_value *a = ts_alert_by_code(code);
	if (a != NULL)
		return a->name;
	snprintf(unknown_buf, sizeof unknown_buf, "unknown_%u", code);
	return unknown_buf;
}

const char *ts_alert_level_name(uint8_t level)
{
	return level == 1 ? "warning" : level == 2 ? "fatal" : "unknown";
}

const char *ts_kx_name(enum ts_kx kx)
{
	static const char *const names[] = {
		[TS_KX_NONE] = "any", [TS_KX_NULL] = "NULL", [TS_KX_RSA] = "RSA", [TS_KX_DH] = "DH",
		[TS_KX_DHE] = "DHE", [TS_KX_ECDH] = "ECDH", [TS_KX_ECDHE] = "ECDHE",
		[TS_KX_PSK] = "PSK", [TS_KX_DHE_PSK] = "DHE_PSK", [TS_KX_ECDHE_PSK] = "ECDHE_PSK",
		[TS_KX_RSA_PSK] = "RSA_PSK", [TS_KX_SRP] = "SRP", [TS_KX_KRB5] = "KRB5",
		[TS_KX_GOST] = "GOST", [TS_KX_ECCPWD] = "ECCPWD", [TS_KX_SCSV] = "SCSV",
		[TS_KX_OTHER] = "other",
	};
	return (unsigned)kx < sizeof names / sizeof names[0] ? names[kx] : "other";
}

const char *ts_auth_name(enum ts_auth auth)
{
	static const char *const names[] = {
		[TS_AUTH_NONE] = "any", [TS_AUTH_ANON] = "anonymous", [TS_AUTH_RSA] = "RSA",
		[TS_AUTH_DSS] = "DSS", [TS_AUTH_ECDSA] = "ECDSA", [TS_AUTH_PSK] = "PSK",
		[TS_AUTH_KRB5] = "KRB5", [TS_AUTH_GOST] = "GOST", [TS_AUTH_OTHER] = "other",
	};
	return (unsigned)auth < sizeof names / sizeof names[0] ? names[auth] : "other";
}

const char *ts_mac_name(enum ts_mac mac)
{
	static const char *const names[] = {
		[TS_MAC_NONE] = "NULL", [TS_MAC_AEAD] = "AEAD", [TS_MAC_MD5] = "MD5",
		[TS_MAC_SHA1] = "SHA1", [TS_MAC_SHA256] = "SHA256", [TS_MAC_SHA384] = "SHA384",
		[TS_MAC_SM3] = "SM3", [TS_MAC_GOST] = "GOST", [TS_MAC_OTHER] = "other",
	};
	return (unsigned)mac < sizeof names / sizeof names[0] ? names[mac] : "other";
}
