/* libFuzzer target: one DNS message through ts_dns_parse, and its answers
 * through the address-to-name table. */
#include <stddef.h>
#include <stdint.h>

#include "tlsscope/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ts_dns_message msg;
	struct ts_error err;
	if (ts_dns_parse(data, size, &msg, &err) != 0)
		return 0;
	struct ts_dns_names *names = ts_dns_names_new(4);
	if (names == NULL)
		return 0;
	for (size_t i = 0; i < msg.answer_count; i++)
		if (msg.answers[i].addr.family != 0)
			ts_dns_names_add(names, &msg.answers[i].addr, msg.qname);
	for (size_t i = 0; i < msg.answer_count; i++)
		(void)ts_dns_names_lookup(names, &msg.answers[i].addr);
	ts_dns_names_free(names);
	return 0;
}
