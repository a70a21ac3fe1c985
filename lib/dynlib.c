/* Opening libpcap, libcurl and libxml2 on first use: see dynlib_internal.h. */
#include "dynlib_internal.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

struct ts_pcap_lib ts_pcap;
struct ts_curl_lib ts_curl;
struct ts_xml_lib ts_xml;

/* Each library's outcome: an empty error once it is loaded. */
struct outcome {
	pthread_once_t once;
	const char *soname;
	char error[TS_ERROR_MSG_MAX];
};
static struct outcome pcap_outcome = { PTHREAD_ONCE_INIT, "libpcap.so.0.8", "" };
static struct outcome curl_outcome = { PTHREAD_ONCE_INIT, "libcurl.so.4", "" };
static struct outcome xml_outcome = { PTHREAD_ONCE_INIT, "libxml2.so.2", "" };

static void *open_lib(struct outcome *o)
{
	void *h = dlopen(o->soname, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		snprintf(o->error, sizeof o->error, "cannot load %s: %s", o->soname, dlerror());
	return h;
}

/* The dlsym(3) idiom: a function pointer is written through a void **.
 * Nothing is looked up once the library failed to open or lacked one. */
static void load_sym(void *h, const char *name, void **slot, struct outcome *o)
{
	if (o->error[0] != '\0')
		return;
	*slot = dlsym(h, name);
	if (*slot == NULL)
		snprintf(o->error, sizeof o->error, "%s has no function %s", o->soname, name);
}

/* One load function per table, as each expands its own list of names. */
#define LOAD(f) load_sym(h, #f, (void **)&lib->f, o);

static void load_pcap(void)
{
	struct ts_pcap_lib *lib = &ts_pcap;
	struct outcome *o = &pcap_outcome;
	void *h = open_lib(o);
	TS_PCAP_FUNCS(LOAD)
}

static void load_curl(void)
{
	struct ts_curl_lib *lib = &ts_curl;
	struct outcome *o = &curl_outcome;
	void *h = open_lib(o);
	TS_CURL_FUNCS(LOAD)
	if (o->error[0] == '\0' && lib->curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		snprintf(o->error, sizeof o->error, "libcurl failed to initialise");
}

static void load_xml(void)
{
	struct ts_xml_lib *lib = &ts_xml;
	struct outcome *o = &xml_outcome;
	void *h = open_lib(o);
	TS_XML_FUNCS(LOAD)
}

static int loaded(struct outcome *o, void (*load)(void), struct ts_error *err)
{
	pthread_once(&o->once, load);
	if (o->error[0] != '\0')
		return ts_error_set(err, TS_E_INTERNAL, "%s", o->error);
	return TS_OK;
}

int ts_pcap_load(struct ts_error *err)
{
	return loaded(&pcap_outcome, load_pcap, err);
}

int ts_curl_load(struct ts_error *err)
{
	return loaded(&curl_outcome, load_curl, err);
}

int ts_xml_load(struct ts_error *err)
{
	return loaded(&xml_outcome, load_xml, err);
}
