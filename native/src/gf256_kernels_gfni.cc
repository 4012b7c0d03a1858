// The GFNI kernels: GF2P8AFFINEQB multiplies every byte of a vector by the 8 × 8 bit matrix of a
// coefficient (AffineMatrix in gf256.h), so one multiply-accumulate is one affine op and one XOR.
// The instruction's built-in polynomial (GF2P8MULB's 0x11B) is never used, so the field stays 0x11D.
// Block structure as in the AVX2 kernel: every input loaded once per block, up to 8 (zmm) or 6 (ymm)
// outputs accumulated in registers, one store per output.
#include "gf256.h"

#if defined(HIVE_GF_X86)
#include <immintrin.h>

#include <cstring>

namespace hive {
namespace gf {
namespace {

uint64_t LoadMatrix(const uint8_t* t) {
  uint64_t m;
  std::memcpy(&m, t, sizeof m);
  return m;
}

template <int G, int U>
__attribute__((target("avx512f,avx512bw,gfni"))) void Blocks512(const uint8_t* tables, int k, const uint8_t* const* in,
                                                               uint8_t* const* out, size_t pos, size_t count) {
  for (; count != 0; --count, pos += 64 * U) {
    __m512i acc[G][U];
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) acc[r][u] = _mm512_setzero_si512();
    const uint8_t* t = tables;
    for (int j = 0; j < k; ++j) {
      __m512i x[U];
      for (int u = 0; u < U; ++u) x[u] = _mm512_loadu_si512(in[j] + pos + 64 * u);
      for (int r = 0; r < G; ++r, t += 8) {
        const __m512i matrix = _mm512_set1_epi64(static_cast<long long>(LoadMatrix(t)));
        for (int u = 0; u < U; ++u)
          acc[r][u] = _mm512_xor_si512(acc[r][u], _mm512_gf2p8affine_epi64_epi8(x[u], matrix, 0));
      }
    }
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) _mm512_storeu_si512(out[r] + pos + 64 * u, acc[r][u]);
  }
}

template <int G, int U>
__attribute__((target("avx2,gfni"))) void Blocks256(const uint8_t* tables, int k, const uint8_t* const* in,
                                                   uint8_t* const* out, size_t pos, size_t count) {
  for (; count != 0; --count, pos += 32 * U) {
    __m256i acc[G][U];
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) acc[r][u] = _mm256_setzero_si256();
    const uint8_t* t = tables;
    for (int j = 0; j < k; ++j) {
      __m256i x[U];
      for (int u = 0; u < U; ++u) x[u] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in[j] + pos + 32 * u));
      for (int r = 0; r < G; ++r, t += 8) {
        const __m256i matrix = _mm256_set1_epi64x(static_cast<long long>(LoadMatrix(t)));
        for (int u = 0; u < U; ++u)
          acc[r][u] = _mm256_xor_si256(acc[r][u], _mm256_gf2p8affine_epi64_epi8(x[u], matrix, 0));
      }
    }
    for (int r = 0; r < G; ++r)
      for (int u = 0; u < U; ++u) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[r] + pos + 32 * u), acc[r][u]);
  }
}

}  // namespace

const Kernel kGfniAvx512Kernel = {
    "gfni-avx512", kAvx512bw | kGfni, 64, 8, 8, PrepareAffine,
    {{Blocks512<1, 1>, Blocks512<1, 2>}, {Blocks512<2, 1>, Blocks512<2, 2>}, {Blocks512<3, 1>, Blocks512<3, 2>},
     {Blocks512<4, 1>, Blocks512<4, 2>}, {Blocks512<5, 1>, Blocks512<5, 2>}, {Blocks512<6, 1>, Blocks512<6, 2>},
     {Blocks512<7, 1>, Blocks512<7, 2>}, {Blocks512<8, 1>, Blocks512<8, 2>}},
};

const Kernel kGfniAvx2Kernel = {
    "gfni-avx2", kAvx2 | kGfni, 32, 6, 8, PrepareAffine,
    {{Blocks256<1, 1>, Blocks256<1, 2>}, {Blocks256<2, 1>, Blocks256<2, 2>}, {Blocks256<3, 1>, Blocks256<3, 2>},
     {Blocks256<4, 1>, Blocks256<4, 2>}, {Blocks256<5, 1>, Blocks256<5, 2>}, {Blocks256<6, 1>, Blocks256<6, 2>}},
};

}  // namespace gf
}  // namespace hive
#endif
