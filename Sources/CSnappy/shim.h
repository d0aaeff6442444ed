// The system snappy's C API (apt: libsnappy-dev), for snappy-compressed record batches (Kafka codec 2) in LogStore.
#ifndef LOGD_CSNAPPY_SHIM_H
#define LOGD_CSNAPPY_SHIM_H
#include <snappy-c.h>
#endif
