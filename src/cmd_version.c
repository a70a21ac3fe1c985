/* tlsscope version */
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <uv.h>

#include "cli.h"

int cmd_version(int argc, char **argv)
{
	if (argc > 1)
		return cli_usage_error("version", "takes no arguments");
	printf("tlsscope %s\n", TS_VERSION);
	printf("  %s\n", OpenSSL_version(OPENSSL_VERSION));
	printf("  %s\n", pcap_lib_version());
	printf("  libuv %s\n", uv_version_string());
	printf("  %s\n", curl_version());
	printf("  jansson %s\n", jansson_version_str());
	return CLI_OK;
}
