// Arithmetic in GF(2^8) with the polynomial x^8+x^4+x^3+x^2+1 (0x11D) and generator 2 — the field of
// ISA-L's erasure codes — and the SIMD kernels that multiply a coefficient matrix into shards.
// Internal to the engines: reed_solomon.h is the public surface, its tests reach in here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hive {
namespace gf {

uint8_t Mul(uint8_t a, uint8_t b);
// a must not be 0.
uint8_t Inv(uint8_t a);
// The 256-byte row x -> c·x.
const uint8_t* MulRow(uint8_t c);

// Inverts the n × n row-major matrix *m in place; false (and *m garbage) when it is singular.
bool Invert(std::vector<uint8_t>* m, int n);

// The 8 × 8 bit matrix A with GF2P8AFFINEQB(x, A, 0) == Mul(c, x) for every byte x: the qword's byte
// 7 - i is the row giving bit i of the product, and bit j of that row is bit i of c·2^j.
uint64_t AffineMatrix(uint8_t c);

// Runs `count` consecutive blocks starting at byte `pos` of every shard: out[r] = Σ_j c[r][j]·in[j]
// for the group's rows, a block being `unroll` vectors. `tables` holds, per input j, the prepared
// table of each of the group's rows in turn.
using BlocksFn = void (*)(const uint8_t* tables, int k, const uint8_t* const* in, uint8_t* const* out,
                          size_t pos, size_t count);

constexpr int kMaxGroupRows = 8;

enum CpuFeature : unsigned {
  kSsse3 = 1u << 0,
  kAvx2 = 1u << 1,
  kAvx512bw = 1u << 2,  // with AVX512F and the OS saving zmm state
  kGfni = 1u << 3,
};

// One implementation of the matrix product. The scalar kernel has width 0 and no blocks; the
// others handle any length ≥ width and leave shorter shards to the scalar kernel.
struct Kernel {
  const char* name;
  unsigned cpu_features;  // all required
  size_t width;           // bytes per vector
  int max_rows;           // outputs accumulated in registers per pass over the inputs
  size_t table_bytes;     // prepared table per coefficient
  void (*prepare)(uint8_t coef, uint8_t* table);
  BlocksFn blocks[kMaxGroupRows][2];  // [rows - 1][unroll - 1]
};

// Table preparations shared by kernels: 32 bytes of c·i then c·(i << 4) for i < 16 (PSHUFB nibble
// lookups), or the 8 bytes of AffineMatrix(c), little-endian (GFNI).
void PrepareNibbles(uint8_t c, uint8_t* table);
void PrepareAffine(uint8_t c, uint8_t* table);

#if defined(__x86_64__) || defined(__i386__)
#define HIVE_GF_X86 1
extern const Kernel kGfniAvx512Kernel;  // gf256_kernels_gfni.cc
extern const Kernel kGfniAvx2Kernel;    // gf256_kernels_gfni.cc
extern const Kernel kAvx2Kernel;        // gf256_kernels_avx2.cc
extern const Kernel kSsse3Kernel;       // gf256_kernels_ssse3.cc
#endif

// Every kernel, best first; the list ends with the scalar kernel.
const std::vector<const Kernel*>& AllKernels();
bool CpuSupports(const Kernel& kernel);
// The best kernel this CPU runs, lowered to HIVE_GF_KERNEL when that names one it also runs.
const Kernel& SelectedKernel();
// nullptr when the name is unknown or this CPU cannot run it.
const Kernel* FindKernel(const char* name);

// A rows × k coefficient matrix prepared for one kernel.
class Matrix {
 public:
  // coefs: rows × k, row-major.
  Matrix(const Kernel& kernel, int rows, int k, const uint8_t* coefs);
  // out[r][i] = Σ_j coefs[r][j]·in[j][i] for i < len. Outputs must not overlap inputs: the last
  // block of a shard is recomputed overlapping the one before it rather than run on a short tail.
  void Apply(const uint8_t* const* in, uint8_t* const* out, size_t len) const;

 private:
  void ApplyScalar(const uint8_t* const* in, uint8_t* const* out, size_t pos, size_t len) const;

  const Kernel& kernel_;
  int rows_;
  int k_;
  std::vector<uint8_t> coefs_;
  // Rows are split into passes of at most kernel.max_rows; pass p's tables start at
  // pass_offsets_[p] and run input by input.
  std::vector<uint8_t> tables_;
  std::vector<int> pass_rows_;
  std::vector<size_t> pass_offsets_;
};

}  // namespace gf
}  // namespace hive
