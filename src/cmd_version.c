/* tlsscope version */
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <uv.h>

#include "cli.h"
#include "tlsscope/capture.h"
#include "tlsscope/catalog.h"

int cmd_version(int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("version", "takes no arguments");
	printf("tlsscope %s\n", TS_VERSION);
	printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
	struct ts_error err = { 0 };
	const char *pcap = ts_capture_libpcap_version(&err);
	printf("  %s\n", pcap != NULL ? pcap : err.msg);
	printf("  libuv %s\n", uv_version_string());
	const char *curl = ts_catalog_libcurl_version(&err);
	printf("  %s\n", curl != NULL ? curl : err.msg);
	printf("  jansson %s\n", jansson_version_str());
	return CLI_OK;
}
