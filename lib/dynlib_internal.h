/* libpcap, libcurl and libxml2, opened the first time a module needs them.
 *
 * Only live capture and capture filters use libpcap, and only the site
 * catalog uses libcurl and libxml2.  Linked at start-up, the three and the
 * forty libraries they pull in (GnuTLS, Kerberos, LDAP, ICU ...) cost every
 * command about 15 ms before main() even starts.  So they are opened with
 * dlopen() on first use and called through the tables below:
 *
 *     if (ts_pcap_load(err) != TS_OK) return err->code;
 *     pcap_t *p = ts_pcap.pcap_create(iface, ebuf);
 *
 * A table's functions may be called once its load function returned TS_OK
 * (in this thread, or in any thread started after that). */
#ifndef TLSSCOPE_DYNLIB_INTERNAL_H
#define TLSSCOPE_DYNLIB_INTERNAL_H

/* curl's type-checking macros would rewrite ts_curl.curl_easy_setopt(...) */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <pcap/pcap.h>

#include "tlsscope/error.h"

#define TS_PCAP_FUNCS(X) X(pcap_lib_version) X(pcap_create) X(pcap_set_snaplen) \
	X(pcap_set_promisc) X(pcap_set_timeout) X(pcap_set_immediate_mode) X(pcap_activate) \
	X(pcap_geterr) X(pcap_statustostr) X(pcap_close) X(pcap_open_dead) X(pcap_compile) \
	X(pcap_setfilter) X(pcap_freecode) X(pcap_offline_filter) X(pcap_datalink) \
	X(pcap_datalink_val_to_name) X(pcap_dispatch) X(pcap_breakloop) X(pcap_stats)

#define TS_CURL_FUNCS(X) X(curl_version) X(curl_global_init) X(curl_free) \
	X(curl_easy_init) X(curl_easy_setopt) X(curl_easy_getinfo) X(curl_easy_strerror) \
	X(curl_easy_cleanup) X(curl_multi_init) X(curl_multi_setopt) X(curl_multi_add_handle) \
	X(curl_multi_remove_handle) X(curl_multi_perform) X(curl_multi_poll) \
	X(curl_multi_info_read) X(curl_multi_cleanup) X(curl_slist_append) \
	X(curl_slist_free_all) X(curl_url) X(curl_url_set) X(curl_url_get) X(curl_url_cleanup)

/* xmlFree is a variable holding a function: its slot holds its address. */
#define TS_XML_FUNCS(X) X(htmlReadMemory) X(xmlDocGetRootElement) X(xmlGetProp) \
	X(xmlNodeGetContent) X(xmlFreeDoc) X(xmlFree)

#define TS_DYNLIB_SLOT(f) __typeof__(f) *f;
struct ts_pcap_lib { TS_PCAP_FUNCS(TS_DYNLIB_SLOT) };
struct ts_curl_lib { TS_CURL_FUNCS(TS_DYNLIB_SLOT) };
struct ts_xml_lib { TS_XML_FUNCS(TS_DYNLIB_SLOT) };

extern struct ts_pcap_lib ts_pcap;
extern struct ts_curl_lib ts_curl;   /* curl_global_init() done */
extern struct ts_xml_lib ts_xml;

/* Open the library (once; thread-safe): TS_OK, or TS_E_INTERNAL with a
 * message that names the file and what dlopen() said. */
int ts_pcap_load(struct ts_error *err);
int ts_curl_load(struct ts_error *err);
int ts_xml_load(struct ts_error *err);

#endif
