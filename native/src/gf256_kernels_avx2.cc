// The AVX2 kernel: each coefficient's products of the 16 low and the 16 high nibble values sit in
// the two 128-bit halves of a table, broadcast to both lanes, so one multiply of 32 bytes is two
// PSHUFB lookups XORed into the accumulator. A block of 64 bytes loads each input once, accumulates
// up to four outputs in registers (8 accumulators + 4 nibble vectors + 2 tables + mask: the 16 ymm
// registers, near enough) and stores each output once; a coefficient's tables are loaded once per
// block and serve both of its vectors.
#include "gf256.h"

#if defined(HIVE_GF_X86)
#include <immintrin.h>

namespace hive {
namespace gf {
namespace {

template <int G, int U>
__attribute__((target("avx2"))) void Blocks(const uint8_t* tables, int k, const uint8_t* const* in,
                                            uint8_t* const* out, size_t pos, size_t count) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  for (; count != 0; --count, pos += 32 * U) {
    __m256i acc[G][U];
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) acc[r][u] = _mm256_setzero_si256();
    const uint8_t* t = tables;
    for (int j = 0; j < k; ++j) {
      __m256i lo[U], hi[U];
      for (int u = 0; u < U; ++u) {
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[j] + pos + 32 * u));
        lo[u] = _mm256_and_si256(x, mask);
        hi[u] = _mm256_and_si256(_mm256_srli_epi16(x, 4), mask);
      }
      for (int r = 0; r < G; ++r, t += 32) {
        const __m256i tlo = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
        const __m256i thi = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 16)));
        for (int u = 0; u < U; ++u) {
          acc[r][u] = _mm256_xor_si256(acc[r][u], _mm256_shuffle_epi8(tlo, lo[u]));
          acc[r][u] = _mm256_xor_si256(acc[r][u], _mm256_shuffle_epi8(thi, hi[u]));
        }
      }
    }
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[r] + pos + 32 * u), acc[r][u]);
  }
}

}  // namespace

const Kernel kAvx2Kernel = {
    "avx2", kAvx2, 32, 4, 32, PrepareNibbles,
    {{Blocks<1, 1>, Blocks<1, 2>}, {Blocks<2, 1>, Blocks<2, 2>}, {Blocks<3, 1>, Blocks<3, 2>}, {Blocks<4, 1>, Blocks<4, 2>}},
};

}  // namespace gf
}  // namespace hive
#endif
