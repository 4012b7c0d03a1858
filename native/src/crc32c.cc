// CRC32C kernels and the run-time choice between them.
//
//   scalar   slicing-by-8 tables; any CPU.
//   sse42    the SSE4.2 crc32 instruction: one chain up to kSerialMax bytes, above that three
//            chains over three lanes joined with one PCLMULQDQ each (Intel's and Linux's
//            crc32c-pcl approach).
//   vpclmul  AVX2 + VPCLMULQDQ: from kFuseMin bytes, 256-bit carry-less folding of the front of the
//            buffer while three crc32 chains cover its back, in the same loop; the two mostly use
//            different execution units, so together they outrun either (on Zen 3, 8 bytes a cycle
//            each alone, 11-12 together). Shorter buffers take the sse42 paths.
//
// Notation. Every CRC register and every 64-bit lane below is a bit-reflected polynomial over
// GF(2): bit i of a w-bit word is the coefficient of x^(w-1-i), because the first bit on the wire
// (the low bit of the first byte) is the highest power. P = x^32 + 0x1EDC6F41, whose reflected low
// 32 bits are kPoly = 0x82F63B78. With a raw register s, the CRC of message M is (s·x^|M| + M·x^32)
// mod P; Crc32c() inverts the register on the way in and out (init ~0, xorout ~0: the iSCSI
// convention).
//
// Three hardware facts carry every kernel (each derived again where it is used):
//   crc32 (SSE4.2)  crc32_u64(s, d) = (s·x^64 + d·x^32) mod P, d the 64-bit reflected lane.
//   pclmulqdq       a 64-bit lane d times a constant k held in the low 32 bits gives a 128-bit
//                   product that, read as one 128-bit reflected value, is x^33·d·k.
//   linearity       the raw CRC of A ++ B is crc(A)·x^|B| + crc0(B), crc0 = with register 0.
//
// Every folding and merging constant is x^n mod P for some n, computed at compile time by XPowModP
// below from kPoly alone; the tests check each kernel against an independent bitwise CRC.
#include "crc32c.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HIVE_CRC32C_X86 1
#include <immintrin.h>
#endif

namespace hive {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // P without its x^32 term, reflected.

// a·b mod P, both reflected.
constexpr uint32_t MulModP(uint32_t a, uint32_t b) {
  uint32_t product = 0;
  for (int i = 0; i < 32; ++i) {
    if (a & (0x80000000u >> i)) product ^= b;  // a has x^i: add b·x^i.
    b = (b >> 1) ^ ((b & 1) ? kPoly : 0);      // b·x: the x^31 term overflows into x^32 ≡ kPoly.
  }
  return product;
}

// x^n mod P, reflected, by square-and-multiply; the generator of every constant in this file.
constexpr uint32_t XPowModP(uint64_t n) {
  uint32_t result = 0x80000000u;  // x^0
  uint32_t square = 0x40000000u;  // x^1, x^2, x^4, ...
  for (; n != 0; n >>= 1) {
    if (n & 1) result = MulModP(result, square);
    square = MulModP(square, square);
  }
  return result;
}

static_assert(XPowModP(32) == kPoly, "x^32 ≡ P - x^32");
static_assert(XPowModP(31) == 0x00000001u, "x^31 is below the modulus: the register's lowest bit");

// Raw (register-in, register-out) kernels; Crc32c() does the inversions.
using Kernel = uint32_t (*)(uint32_t crc, const uint8_t* p, size_t n);

// ---- scalar: slicing-by-8 -----------------------------------------------------------------------
// t[0][b] is the raw CRC of the single byte b; t[k][b] is that of b followed by k zero
// bytes, so eight table lookups advance the register over eight bytes at once.
struct SliceTables {
  uint32_t t[8][256];
};

constexpr SliceTables MakeSliceTables() {
  SliceTables s{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) ? kPoly : 0);
    s.t[0][b] = crc;
  }
  for (int k = 1; k < 8; ++k)
    for (uint32_t b = 0; b < 256; ++b)
      s.t[k][b] = (s.t[k - 1][b] >> 8) ^ s.t[0][s.t[k - 1][b] & 0xFF];
  return s;
}

constexpr SliceTables kSlice = MakeSliceTables();

// Assembled byte by byte so the fallback stays right on big-endian hosts; compilers fuse it into
// one load on little-endian ones.
inline uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint32_t ScalarKernel(uint32_t crc, const uint8_t* p, size_t n) {
  const auto& t = kSlice.t;
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo = LoadLe32(p) ^ crc;
    const uint32_t hi = LoadLe32(p + 4);
    // Summed as a tree so the loop-carried chain holds the four crc-dependent lookups and three
    // XORs rather than eight XORs in a row: 15% faster.
    const uint32_t from_hi =
        (t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF]) ^ (t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24]);
    const uint32_t from_lo =
        (t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF]) ^ (t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24]);
    crc = from_lo ^ from_hi;
  }
  for (; n != 0; ++p, --n) crc = (crc >> 8) ^ t[0][(crc ^ *p) & 0xFF];
  return crc;
}

#if HIVE_CRC32C_X86

#define HIVE_TARGET_SSE42 __attribute__((target("sse4.2,pclmul")))
#define HIVE_TARGET_VPCLMUL __attribute__((target("sse4.2,pclmul,avx2,vpclmulqdq")))

inline uint64_t Load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// ---- sse42: the crc32 instruction ---------------------------------------------------------------
// One dependent chain: latency-bound (3 cycles per 8 bytes on Zen 3) but with no merge to pay.
HIVE_TARGET_SSE42 inline uint32_t Crc32Serial(uint32_t crc, const uint8_t* p, size_t n) {
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) c = _mm_crc32_u64(c, Load64(p));
  uint32_t c32 = static_cast<uint32_t>(c);
  if (n & 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    c32 = _mm_crc32_u32(c32, v);
    p += 4;
  }
  if (n & 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    c32 = _mm_crc32_u16(c32, v);
    p += 2;
  }
  if (n & 1) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}

// Shifting a register c forward over N zero bits, c·x^N mod P, takes one pclmulqdq and one crc32:
// with k = x^(N-33) mod P in a low 32 bits, the low 64 bits of clmul(c, k) hold x·c·k as a 64-bit
// reflected lane (a 32-bit and a 32-bit operand give bits 0..62, with bit m ↔ x^(62-m)), and
// crc32_u64(0, lane) multiplies by x^32 and reduces: x^33·c·x^(N-33) = c·x^N.
HIVE_TARGET_SSE42 inline __m128i ClmulLow32(uint32_t c, uint32_t k) {
  return _mm_clmulepi64_si128(_mm_cvtsi32_si128(static_cast<int>(c)),
                              _mm_cvtsi32_si128(static_cast<int>(k)), 0x00);
}

HIVE_TARGET_SSE42 inline uint32_t ReduceLane(__m128i lane) {
  return static_cast<uint32_t>(_mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(lane))));
}

// Both kernels below run three crc32 chains over three adjacent lanes of equal length and join
// them by linearity, crc(A ++ B ++ C) = A·x^(2·lane) + B·x^lane + C; the vpclmul kernel also folds
// a region in front of the lanes, shifted over all three. kMerge[j] holds the shift constants for
// lanes of 8·(j+1) bytes. Lanes stop at kMaxLane so the table stays at 3 KiB.
constexpr size_t kMaxLane = 2048;

struct MergeConsts {
  uint32_t over_three_lanes, over_two_lanes, over_one_lane;
};

// Built incrementally (entry j+1 is entry j times x^192, x^128 and x^64) rather than by XPowModP
// per entry, which would exceed clang's constexpr step limit.
constexpr std::array<MergeConsts, kMaxLane / 8> MakeMergeTable() {
  std::array<MergeConsts, kMaxLane / 8> table{};
  const uint32_t x64 = XPowModP(64), x128 = XPowModP(128), x192 = XPowModP(192);
  MergeConsts k = {XPowModP(192 - 33), XPowModP(128 - 33), XPowModP(64 - 33)};
  for (MergeConsts& entry : table) {
    entry = k;
    k = {MulModP(k.over_three_lanes, x192), MulModP(k.over_two_lanes, x128),
         MulModP(k.over_one_lane, x64)};
  }
  return table;
}

constexpr std::array<MergeConsts, kMaxLane / 8> kMerge = MakeMergeTable();
static_assert(kMerge.back().over_three_lanes == XPowModP(3 * 8 * kMaxLane - 33) &&
                  kMerge.back().over_two_lanes == XPowModP(2 * 8 * kMaxLane - 33) &&
                  kMerge.back().over_one_lane == XPowModP(8 * kMaxLane - 33),
              "the incremental table agrees with XPowModP");

// Three chains keep the crc32 unit busy every cycle (3 cycles latency, one per cycle throughput).
// The merge adds about 15 cycles to chain A per 6 KiB, under 3%.
HIVE_TARGET_SSE42 uint32_t Crc32ThreeWay(uint32_t crc, const uint8_t* p, size_t n) {
  while (n >= 24) {
    const size_t lane = std::min(n / 24 * 8, kMaxLane);
    const uint8_t* const end = p + lane;
    uint64_t a = crc, b = 0, c = 0;
    for (; p != end; p += 8) {
      a = _mm_crc32_u64(a, Load64(p));
      b = _mm_crc32_u64(b, Load64(p + lane));
      c = _mm_crc32_u64(c, Load64(p + 2 * lane));
    }
    const MergeConsts& k = kMerge[lane / 8 - 1];
    crc = ReduceLane(_mm_xor_si128(ClmulLow32(static_cast<uint32_t>(a), k.over_two_lanes),
                                   ClmulLow32(static_cast<uint32_t>(b), k.over_one_lane))) ^
          static_cast<uint32_t>(c);
    p += 2 * lane;
    n -= 3 * lane;
  }
  return Crc32Serial(crc, p, n);
}

// Up to here the single chain wins: the 3-way split's merge (~10 cycles) costs as much as it saves.
// Measured with crc32c_bench's method: equal at 72-80 bytes, the 3-way 15% faster at 96.
constexpr size_t kSerialMax = 80;

HIVE_TARGET_SSE42 uint32_t Sse42Kernel(uint32_t crc, const uint8_t* p, size_t n) {
  return n <= kSerialMax ? Crc32Serial(crc, p, n) : Crc32ThreeWay(crc, p, n);
}

// ---- vpclmul: folding 256-bit vectors beside three crc32 chains ---------------------------------
// Folding. A 128-bit block X that still has F message bits after it contributes X·x^F·x^32 to the
// CRC, so X may be replaced by any Y ≡ X·x^F (mod P) placed F bits later. Split X = H·x^64 + L, H
// the low qword (the earlier 8 bytes, higher powers) and L the high one. By the pclmulqdq fact,
// clmul(H, k) read as a 128-bit block is x^33·H·k, so k_H = x^(F+64-33) gives H·x^(64+F) and
// k_L = x^(F-33) gives L·x^F; both products fit in 127 bits, and their XOR is Y.
struct FoldConsts {
  uint64_t for_low_qword, for_high_qword;
};

constexpr FoldConsts FoldOver(uint64_t bytes) {
  return {XPowModP(8 * bytes + 31), XPowModP(8 * bytes - 33)};
}

HIVE_TARGET_VPCLMUL inline __m256i Broadcast(FoldConsts k) {
  const auto lo = static_cast<long long>(k.for_low_qword);
  const auto hi = static_cast<long long>(k.for_high_qword);
  return _mm256_set_epi64x(hi, lo, hi, lo);
}

// Y for X in each 128-bit lane, independently.
HIVE_TARGET_VPCLMUL inline __m256i Fold(__m256i x, __m256i k) {
  return _mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x00),
                          _mm256_clmulepi64_epi128(x, k, 0x11));
}

// vlddqu, not vmovdqu: GCC's generic tuning splits an unaligned 256-bit load it cannot fold into an
// instruction into two 128-bit halves, which at the start of FusedBlock became a store and reload
// through the stack (a failed store-to-load forward, ~25 ns on 1 KiB); vlddqu is never split and
// is as fast as vmovdqu on every AVX2 CPU.
HIVE_TARGET_VPCLMUL inline __m256i Load256(const uint8_t* p) {
  return _mm256_lddqu_si256(reinterpret_cast<const __m256i*>(p));
}

// The joint step. On Zen 3 a 256-bit vpclmulqdq issues every other cycle, so folding alone peaks at
// 8 bytes a cycle, as does the crc32 instruction (one per cycle); mixed, they contend for issue
// slots, and a sweep of accumulators (2..12) against crc32s per lane per step (1..12) peaked at
// about 12 bytes a cycle for 4 accumulators and 6 crc32s per lane (2 ≈ 4 ≈ 6 accumulators within
// noise). Four are plenty for latency: a fold's chain is ~6 cycles, a step takes ~23.
constexpr int kVecRegs = 4;
constexpr size_t kVecStep = 32 * kVecRegs;
constexpr size_t kLaneStep = 48;
constexpr size_t kJointStep = kVecStep + 3 * kLaneStep;

// CRC of p[0, n) for kFuseMin <= n <= kBlock: a vector region [p, lanes) is folded while three
// crc32 chains cover the three lanes after it, each lane a whole number of steps. What the steps
// leave of the vector region (under kJointStep bytes) is folded 32 bytes at a time afterwards.
// (Giving part of that remainder to the lanes instead measured no faster.)
HIVE_TARGET_VPCLMUL uint32_t FusedBlock(uint32_t crc, const uint8_t* p, size_t n) {
  const size_t steps = (n - kVecStep) / kJointStep;
  const size_t lane = steps * kLaneStep;
  const uint8_t* const lanes = p + n - 3 * lane;

  // The register joins the message by XOR into its first 32 bits: (s·x^|M| + M·x^32) is the
  // CRC with register 0 of M with s added to its first four bytes.
  __m256i x[kVecRegs];
  for (int i = 0; i < kVecRegs; ++i) x[i] = Load256(p + 32 * i);
  x[0] = _mm256_xor_si256(x[0], _mm256_set_epi32(0, 0, 0, 0, 0, 0, 0, static_cast<int>(crc)));
  p += kVecStep;

  const __m256i over_step = Broadcast(FoldOver(kVecStep));
  uint64_t a = 0, b = 0, c = 0;
  for (const uint8_t* s = lanes; s != lanes + lane; s += kLaneStep, p += kVecStep) {
    for (int i = 0; i < kVecRegs; ++i)
      x[i] = _mm256_xor_si256(Fold(x[i], over_step), Load256(p + 32 * i));
    for (size_t i = 0; i < kLaneStep; i += 8) {
      a = _mm_crc32_u64(a, Load64(s + i));
      b = _mm_crc32_u64(b, Load64(s + lane + i));
      c = _mm_crc32_u64(c, Load64(s + 2 * lane + i));
    }
  }

  // Accumulator i sits 32·(kVecRegs-1-i) bytes before the last one: fold each onto it.
  constexpr std::array<FoldConsts, kVecRegs - 1> kOnto = [] {
    std::array<FoldConsts, kVecRegs - 1> k{};
    for (int i = 0; i < kVecRegs - 1; ++i) k[i] = FoldOver(32 * (kVecRegs - 1 - i));
    return k;
  }();
  __m256i acc = x[kVecRegs - 1];
  for (int i = 0; i < kVecRegs - 1; ++i)
    acc = _mm256_xor_si256(acc, Fold(x[i], Broadcast(kOnto[i])));

  const __m256i over_32 = Broadcast(FoldOver(32));
  for (; lanes - p >= 32; p += 32) acc = _mm256_xor_si256(Fold(acc, over_32), Load256(p));

  // The low 128-bit half sits 16 bytes before the high one.
  const __m256i over_16 = Broadcast(FoldOver(16));
  __m128i v = _mm_xor_si128(_mm256_castsi256_si128(Fold(acc, over_16)),
                            _mm256_extracti128_si256(acc, 1));
  if (lanes - p >= 16) {
    v = _mm_xor_si128(_mm256_castsi256_si128(Fold(_mm256_castsi128_si256(v), over_16)),
                      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    p += 16;
  }

  // v = H·x^64 + L with nothing after it: its CRC is H·x^96 + L·x^32, two crc32 steps from 0.
  uint64_t folded = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(v)));
  folded = _mm_crc32_u64(folded, static_cast<uint64_t>(_mm_extract_epi64(v, 1)));
  const uint32_t vector_crc =
      Crc32Serial(static_cast<uint32_t>(folded), p, static_cast<size_t>(lanes - p));

  const MergeConsts& k = kMerge[lane / 8 - 1];
  const __m128i shifted_a = ClmulLow32(static_cast<uint32_t>(a), k.over_two_lanes);
  const __m128i shifted_b = ClmulLow32(static_cast<uint32_t>(b), k.over_one_lane);
  const __m128i shifted_v = ClmulLow32(vector_crc, k.over_three_lanes);
  return ReduceLane(_mm_xor_si128(_mm_xor_si128(shifted_v, shifted_a), shifted_b)) ^
         static_cast<uint32_t>(c);
}

// Long buffers go in blocks whose lanes are as long as kMerge allows. Blocks are independent (each
// starts from register 0) and joined by a shift over one block, so a block's tail work overlaps the
// next block's start instead of delaying it.
constexpr size_t kBlockSteps = kMaxLane / kLaneStep;
constexpr size_t kBlock = kVecStep + kBlockSteps * kJointStep;
constexpr uint32_t kOverBlock = XPowModP(8 * kBlock - 33);

// Below this the fold's set-up and final reduction do not pay for themselves and the 3-way crc32
// path is faster (measured: equal at 640 bytes, the fused path 12% faster at 704).
constexpr size_t kFuseMin = 704;
static_assert(kFuseMin >= kVecStep + kJointStep, "FusedBlock needs one joint step");

HIVE_TARGET_VPCLMUL uint32_t VpclmulKernel(uint32_t crc, const uint8_t* p, size_t n) {
  if (n < kFuseMin) return Sse42Kernel(crc, p, n);
  const size_t head = n % kBlock;
  crc = head >= kFuseMin ? FusedBlock(crc, p, head) : Sse42Kernel(crc, p, head);
  for (p += head, n -= head; n != 0; p += kBlock, n -= kBlock)
    crc = ReduceLane(ClmulLow32(crc, kOverBlock)) ^ FusedBlock(0, p, kBlock);
  return crc;
}

#endif  // HIVE_CRC32C_X86

struct Choice {
  const char* name;
  Kernel kernel;
};

// Ordered from least to most demanding; HIVE_CRC32C_KERNEL may pick any entry up to the best one
// the CPU runs, and an unknown or unsupported name leaves that best one. sse42 also needs PCLMULQDQ
// for its merge (every SSE4.2 CPU since 2010 has it); avx2 implies the OS saves ymm state.
Choice Choose() {
  static constexpr const char* kNames[] = {"scalar", "sse42", "vpclmul"};
  static constexpr Kernel kKernels[] = {
      ScalarKernel,
#if HIVE_CRC32C_X86
      Sse42Kernel, VpclmulKernel,
#endif
  };
  int best = 0;
#if HIVE_CRC32C_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("pclmul")) {
    best = 1;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq")) best = 2;
  }
#endif
  int chosen = best;
  if (const char* forced = std::getenv("HIVE_CRC32C_KERNEL")) {
    for (int i = 0; i < best; ++i)
      if (std::strcmp(forced, kNames[i]) == 0) chosen = i;
  }
  return {kNames[chosen], kKernels[chosen]};
}

const Choice& Chosen() {
  static const Choice choice = Choose();
  return choice;
}

}  // namespace

uint32_t Crc32c(const void* data, size_t len, uint32_t prev) {
  return ~Chosen().kernel(~prev, static_cast<const uint8_t*>(data), len);
}

const char* Crc32cKernel() { return Chosen().name; }

}  // namespace hive
