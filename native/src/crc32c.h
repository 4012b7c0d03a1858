// CRC32C (Castagnoli, polynomial 0x1EDC6F41 reflected 0x82F63B78), the checksum of every WAL record
// and every stored shard. Streaming: Crc32c(b, n2, Crc32c(a, n1)) == Crc32c(a ++ b, n1 + n2), and
// Crc32c(nullptr, 0, prev) == prev. The standard check value: Crc32c("123456789", 9) == 0xE3069283.
// Register preset and final XOR ~0, as in RFC 3720 (iSCSI). Reads exactly data[0, len) at any
// alignment, allocates nothing, and is safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace hive {

uint32_t Crc32c(const void* data, size_t len, uint32_t prev = 0);

// Which implementation Crc32c dispatches to on this CPU: "vpclmul" (AVX2 + VPCLMULQDQ), "sse42"
// (SSE4.2 + PCLMULQDQ) or "scalar". The environment variable HIVE_CRC32C_KERNEL, read once at the
// first call, forces a lower one so tests cover each path; an unknown name, or one above what the
// CPU runs, is ignored. Every kernel returns the same value for the same input.
const char* Crc32cKernel();

}  // namespace hive
