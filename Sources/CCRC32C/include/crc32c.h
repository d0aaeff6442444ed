#ifndef LOGD_CRC32C_H
#define LOGD_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) over
/// `length` bytes. Start with `crc = 0`; the function applies the standard
/// pre- and post-inversion, so `logd_crc32c_extend(logd_crc32c_extend(0, a), b)`
/// equals the CRC of `a` followed by `b`.
uint32_t logd_crc32c_extend(uint32_t crc, const void *bytes, size_t length);

/// 1 when the hardware CRC-32C instruction is in use, 0 for the table fallback.
int logd_crc32c_is_hardware(void);

/// The implementation in use, for tests and diagnostics: "avx512-vpclmulqdq",
/// "sse4.2", "armv8" or "table".
const char *logd_crc32c_implementation(void);

/// `logd_crc32c_extend` on the portable table path whatever the CPU, for
/// checking the fast paths against.
uint32_t logd_crc32c_extend_portable(uint32_t crc, const void *bytes, size_t length);

#endif
