/* tlsscope identify: reading a capture into the matcher's input, through the
 * observe engine. */
#ifndef TLSSCOPE_IDENTIFY_INPUT_H
#define TLSSCOPE_IDENTIFY_INPUT_H

#include "tlsscope/error.h"
#include "tlsscope/identify.h"

/* Reads the pcap or pcapng file at path and appends its TLS connections to in. */
int identify_input_capture(const char *path, struct ts_id_input *in, struct ts_error *err);

#endif
