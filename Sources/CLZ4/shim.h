// The system lz4 frame API (apt: liblz4-dev), for lz4-compressed record batches (Kafka codec 3) in LogStore.
#ifndef LOGD_CLZ4_SHIM_H
#define LOGD_CLZ4_SHIM_H
#include <lz4frame.h>
#endif
