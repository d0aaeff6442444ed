// The system zlib (apt: zlib1g-dev), for per-batch gzip compression in LogStore.
#ifndef LOGD_CZLIB_SHIM_H
#define LOGD_CZLIB_SHIM_H
#include <zlib.h>
#endif
