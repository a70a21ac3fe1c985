#include "identify_input.h"

int identify_input_capture(const char *path, struct ts_id_input *in, struct ts_error *err)
{
	(void)in;
	return ts_error_set(err, TS_E_FILE,
	                    "'%s' is not JSON lines from 'tlsscope observe --json', and this build "
	                    "cannot read captures yet", path);
}
