// The system zstd (apt: libzstd-dev), for zstd-compressed record batches (Kafka codec 4) in LogStore.
#ifndef LOGD_CZSTD_SHIM_H
#define LOGD_CZSTD_SHIM_H
#include <zstd.h>
#endif
