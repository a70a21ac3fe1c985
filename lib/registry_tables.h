/* Private: the generated tables (registry_tables.c, from lib/registry/gen_registry.py),
 * each sorted by code. */
#ifndef TLSSCOPE_REGISTRY_TABLES_H
#define TLSSCOPE_REGISTRY_TABLES_H

#include "tlsscope/registry.h"
#include "tlsscope/wire.h"

extern const struct ts_suite_info ts_registry_suites[];
extern const size_t ts_registry_suites_count;
extern const struct ts_group_info ts_registry_groups[];
extern const size_t ts_registry_groups_count;
extern const struct ts_sigscheme_info ts_registry_sigschemes[];
extern const size_t ts_registry_sigschemes_count;
extern const struct ts_named_value ts_registry_extensions[];
extern const size_t ts_registry_extensions_count;
extern const struct ts_named_value ts_registry_alerts[];
extern const size_t ts_registry_alerts_count;

#endif
