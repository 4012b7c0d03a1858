// The SSSE3 kernel: the AVX2 kernel's scheme (see gf256_kernels_avx2.cc) on 16-byte vectors, for
// x86 CPUs without AVX2.
#include "gf256.h"

#if defined(HIVE_GF_X86)
#include <immintrin.h>

namespace hive {
namespace gf {
namespace {

template <int G, int U>
__attribute__((target("ssse3"))) void Blocks(const uint8_t* tables, int k, const uint8_t* const* in,
                                             uint8_t* const* out, size_t pos, size_t count) {
  const __m128i mask = _mm_set1_epi8(0x0f);
  for (; count != 0; --count, pos += 16 * U) {
    __m128i acc[G][U];
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) acc[r][u] = _mm_setzero_si128();
    const uint8_t* t = tables;
    for (int j = 0; j < k; ++j) {
      __m128i lo[U], hi[U];
      for (int u = 0; u < U; ++u) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in[j] + pos + 16 * u));
        lo[u] = _mm_and_si128(x, mask);
        hi[u] = _mm_and_si128(_mm_srli_epi16(x, 4), mask);
      }
      for (int r = 0; r < G; ++r, t += 32) {
        const __m128i tlo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t));
        const __m128i thi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t + 16));
        for (int u = 0; u < U; ++u) {
          acc[r][u] = _mm_xor_si128(acc[r][u], _mm_shuffle_epi8(tlo, lo[u]));
          acc[r][u] = _mm_xor_si128(acc[r][u], _mm_shuffle_epi8(thi, hi[u]));
        }
      }
    }
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) _mm_storeu_si128(reinterpret_cast<__m128i*>(out[r] + pos + 16 * u), acc[r][u]);
  }
}

}  // namespace

const Kernel kSsse3Kernel = {
    "ssse3", kSsse3, 16, 4, 32, PrepareNibbles,
    {{Blocks<1, 1>, Blocks<1, 2>}, {Blocks<2, 1>, Blocks<2, 2>}, {Blocks<3, 1>, Blocks<3, 2>}, {Blocks<4, 1>, Blocks<4, 2>}},
};

}  // namespace gf
}  // namespace hive
#endif
