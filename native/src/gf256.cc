#include "gf256.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(HIVE_GF_X86)
#include <cpuid.h>
#endif

namespace hive {
namespace gf {
namespace {

struct Field {
  uint8_t exp[512];  // doubled so that exp[log a + log b] needs no modulo
  uint8_t log[256];
  uint8_t mul[256][256];
};

Field BuildField() {
  Field f{};
  unsigned x = 1;
  for (int i = 0; i < 255; ++i) {
    f.exp[i] = f.exp[i + 255] = static_cast<uint8_t>(x);
    f.log[x] = static_cast<uint8_t>(i);
    x <<= 1;
    if (x & 0x100) x ^= 0x11D;
  }
  for (int a = 1; a < 256; ++a)
    for (int b = 1; b < 256; ++b) f.mul[a][b] = f.exp[f.log[a] + f.log[b]];
  return f;
}

const Field& F() {
  static const Field field = BuildField();
  return field;
}

// Bits of the cpuid leaves and of XCR0, spelled out rather than taken from <cpuid.h>, whose older
// versions lack some of them.
constexpr unsigned kCpuid1EcxSsse3 = 1u << 9;
constexpr unsigned kCpuid1EcxOsxsave = 1u << 27;
constexpr unsigned kCpuid1EcxAvx = 1u << 28;
constexpr unsigned kCpuid7EbxAvx2 = 1u << 5;
constexpr unsigned kCpuid7EbxAvx512f = 1u << 16;
constexpr unsigned kCpuid7EbxAvx512bw = 1u << 30;
constexpr unsigned kCpuid7EcxGfni = 1u << 8;
constexpr uint64_t kXcr0Ymm = 0x6;     // SSE and AVX state
constexpr uint64_t kXcr0Zmm = 0xE0;    // opmask and both halves of the zmm registers

unsigned DetectCpu() {
  unsigned features = 0;
#if defined(HIVE_GF_X86)
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  if (c & kCpuid1EcxSsse3) features |= kSsse3;
  if (!(c & kCpuid1EcxOsxsave) || !(c & kCpuid1EcxAvx)) return features;
  // The OS must save the wider registers on context switch, or using them corrupts state.
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const uint64_t xcr0 = (static_cast<uint64_t>(xcr0_hi) << 32) | xcr0_lo;
  if ((xcr0 & kXcr0Ymm) != kXcr0Ymm || __get_cpuid_max(0, nullptr) < 7) return features;
  __cpuid_count(7, 0, a, b, c, d);
  if (b & kCpuid7EbxAvx2) features |= kAvx2;
  if (c & kCpuid7EcxGfni) features |= kGfni;
  if ((b & kCpuid7EbxAvx512f) && (b & kCpuid7EbxAvx512bw) && (xcr0 & kXcr0Zmm) == kXcr0Zmm)
    features |= kAvx512bw;
#endif
  return features;
}

unsigned CpuFeatures() {
  static const unsigned features = DetectCpu();
  return features;
}

const Kernel kScalarKernel = {"scalar", 0, 0, 0, 0, nullptr, {}};

const Kernel& Select() {
  const Kernel* best = nullptr;
  for (const Kernel* k : AllKernels()) {
    if (CpuSupports(*k)) {
      best = k;
      break;
    }
  }
  const char* forced = std::getenv("HIVE_GF_KERNEL");
  if (forced == nullptr) return *best;
  // Only a kernel at or below the best one counts, and an unknown name changes nothing.
  bool at_or_below = false;
  for (const Kernel* k : AllKernels()) {
    at_or_below = at_or_below || k == best;
    if (at_or_below && std::strcmp(k->name, forced) == 0) return *k;
  }
  return *best;
}

}  // namespace

uint8_t Mul(uint8_t a, uint8_t b) { return F().mul[a][b]; }

uint8_t Inv(uint8_t a) { return F().exp[255 - F().log[a]]; }

const uint8_t* MulRow(uint8_t c) { return F().mul[c]; }

bool Invert(std::vector<uint8_t>* m, int n) {
  std::vector<uint8_t>& a = *m;
  std::vector<uint8_t> inv(static_cast<size_t>(n) * n, 0);
  for (int i = 0; i < n; ++i) inv[static_cast<size_t>(i) * n + i] = 1;
  auto row = [n](std::vector<uint8_t>& v, int r) { return v.data() + static_cast<size_t>(r) * n; };
  for (int c = 0; c < n; ++c) {
    int p = c;
    while (p < n && row(a, p)[c] == 0) ++p;
    if (p == n) return false;
    if (p != c) {
      std::swap_ranges(row(a, p), row(a, p) + n, row(a, c));
      std::swap_ranges(row(inv, p), row(inv, p) + n, row(inv, c));
    }
    const uint8_t* scale = MulRow(Inv(row(a, c)[c]));
    for (int x = 0; x < n; ++x) {
      row(a, c)[x] = scale[row(a, c)[x]];
      row(inv, c)[x] = scale[row(inv, c)[x]];
    }
    for (int r = 0; r < n; ++r) {
      const uint8_t f = row(a, r)[c];
      if (r == c || f == 0) continue;
      const uint8_t* mul = MulRow(f);
      for (int x = 0; x < n; ++x) {
        row(a, r)[x] ^= mul[row(a, c)[x]];
        row(inv, r)[x] ^= mul[row(inv, c)[x]];
      }
    }
  }
  a.swap(inv);
  return true;
}

uint64_t AffineMatrix(uint8_t c) {
  uint64_t matrix = 0;
  for (int i = 0; i < 8; ++i) {
    unsigned row = 0;
    for (int j = 0; j < 8; ++j) row |= ((Mul(c, static_cast<uint8_t>(1u << j)) >> i) & 1u) << j;
    matrix |= static_cast<uint64_t>(row) << (8 * (7 - i));
  }
  return matrix;
}

void PrepareNibbles(uint8_t c, uint8_t* table) {
  for (unsigned i = 0; i < 16; ++i) {
    table[i] = Mul(c, static_cast<uint8_t>(i));
    table[16 + i] = Mul(c, static_cast<uint8_t>(i << 4));
  }
}

void PrepareAffine(uint8_t c, uint8_t* table) {
  const uint64_t matrix = AffineMatrix(c);
  for (int i = 0; i < 8; ++i) table[i] = static_cast<uint8_t>(matrix >> (8 * i));
}

const std::vector<const Kernel*>& AllKernels() {
  static const std::vector<const Kernel*> kernels = {
#if defined(HIVE_GF_X86)
      &kGfniAvx512Kernel, &kGfniAvx2Kernel, &kAvx2Kernel, &kSsse3Kernel,
#endif
      &kScalarKernel,
  };
  return kernels;
}

bool CpuSupports(const Kernel& kernel) {
  return (CpuFeatures() & kernel.cpu_features) == kernel.cpu_features;
}

const Kernel& SelectedKernel() {
  static const Kernel& kernel = Select();
  return kernel;
}

const Kernel* FindKernel(const char* name) {
  for (const Kernel* k : AllKernels())
    if (std::strcmp(k->name, name) == 0) return CpuSupports(*k) ? k : nullptr;
  return nullptr;
}

Matrix::Matrix(const Kernel& kernel, int rows, int k, const uint8_t* coefs)
    : kernel_(kernel), rows_(rows), k_(k), coefs_(coefs, coefs + static_cast<size_t>(rows) * k) {
  if (kernel.width == 0 || rows == 0) return;
  // Balanced passes (5 rows → 3 + 2, not 4 + 1): each pass costs the same per input, so fewer rows in
  // the last pass would only leave registers idle.
  const int passes = (rows + kernel.max_rows - 1) / kernel.max_rows;
  tables_.reserve(static_cast<size_t>(rows) * k * kernel.table_bytes);
  for (int p = 0, r0 = 0; p < passes; ++p) {
    const int g = rows / passes + (p < rows % passes ? 1 : 0);
    pass_rows_.push_back(g);
    pass_offsets_.push_back(tables_.size());
    for (int j = 0; j < k; ++j) {
      for (int r = r0; r < r0 + g; ++r) {
        tables_.resize(tables_.size() + kernel.table_bytes);
        kernel.prepare(coefs_[static_cast<size_t>(r) * k + j], tables_.data() + tables_.size() - kernel.table_bytes);
      }
    }
    r0 += g;
  }
}

void Matrix::ApplyScalar(const uint8_t* const* in, uint8_t* const* out, size_t pos, size_t len) const {
  for (int r = 0; r < rows_; ++r) {
    uint8_t* o = out[r] + pos;
    const uint8_t* mul = MulRow(coefs_[static_cast<size_t>(r) * k_]);
    const uint8_t* x = in[0] + pos;
    for (size_t i = 0; i < len; ++i) o[i] = mul[x[i]];
    for (int j = 1; j < k_; ++j) {
      mul = MulRow(coefs_[static_cast<size_t>(r) * k_ + j]);
      x = in[j] + pos;
      for (size_t i = 0; i < len; ++i) o[i] ^= mul[x[i]];
    }
  }
}

void Matrix::Apply(const uint8_t* const* in, uint8_t* const* out, size_t len) const {
  const size_t width = kernel_.width;
  if (width == 0 || len < width) {
    ApplyScalar(in, out, 0, len);
    return;
  }
  const size_t block = 2 * width;
  // With several passes each rereads the inputs, so they run chunk by chunk with the inputs' chunks
  // (k × chunk bytes) small enough to still be in L2 for the next pass.
  constexpr size_t kL2Budget = 256 * 1024;
  size_t chunk = len;
  if (pass_rows_.size() > 1) chunk = std::max(4 * block, kL2Budget / k_ / block * block);
  for (size_t pos = 0; pos < len;) {
    // The last chunk takes the remainder, so every chunk holds at least one vector.
    const size_t n = len - pos < 2 * chunk ? len - pos : chunk;
    uint8_t* const* o = out;
    for (size_t p = 0; p < pass_rows_.size(); ++p) {
      const int g = pass_rows_[p];
      const uint8_t* t = tables_.data() + pass_offsets_[p];
      const BlocksFn one = kernel_.blocks[g - 1][0];
      const BlocksFn two = kernel_.blocks[g - 1][1];
      if (n < block) {
        one(t, k_, in, o, pos, 1);
        if (n > width) one(t, k_, in, o, pos + n - width, 1);
      } else {
        two(t, k_, in, o, pos, n / block);
        if (n % block != 0) two(t, k_, in, o, pos + n - block, 1);
      }
      o += g;
    }
    pos += n;
  }
}

}  // namespace gf
}  // namespace hive
