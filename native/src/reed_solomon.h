// Systematic Reed-Solomon erasure coding over GF(2^8): k data shards and m parity shards, k + m ≤ 255;
// any k of the k + m shards rebuild the others.
//
// The code (fixed: shards written by one version must decode in every later one)
//   Field: GF(2^8) with polynomial x^8+x^4+x^3+x^2+1 (0x11D).
//   Generator: the (k+m) × k matrix of ISA-L's gf_gen_cauchy1_matrix — the identity on top (data
//   shard j is stored as is), then parity row i (0 ≤ i < m), column j (0 ≤ j < k) = 1 / ((k + i) XOR j).
//   It is a Cauchy matrix with x_i = k + i and y_j = j, so every k × k submatrix of the generator is
//   invertible. Parity shard i, byte b = Σ_j G[k+i][j] · data_j[b] in GF(2^8): byte for byte what
//   ISA-L's ec_encode_data writes with that matrix.
//
// Kernels (GfKernelName): chosen once per process, the best the CPU runs out of gfni-avx512
// (GFNI + AVX-512BW), gfni-avx2 (GFNI + AVX2), avx2, ssse3, scalar. The environment variable
// HIVE_GF_KERNEL, read at that moment, names a lower one to use instead; a name above what the CPU
// runs, or unknown, leaves the choice as it was. Every kernel writes the same bytes. Kernels are
// compiled with function-level target attributes, so the build needs no -m flags.
//
// Shards are caller-owned buffers of `len` bytes each, any len (not only multiples of 64), any
// alignment. Output buffers must not overlap inputs. All methods are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "gf256.h"

namespace hive {

class ReedSolomon {
 public:
  // nullptr and *error set when not 1 ≤ data_shards, 1 ≤ parity_shards, data_shards + parity_shards ≤ 255.
  static std::unique_ptr<ReedSolomon> Create(int data_shards, int parity_shards, std::string* error);
  // Create on the kernel named `kernel` instead of the selected one, so that tests and benchmarks
  // can compare kernels in one process; nullptr and *error when it is unknown or this CPU lacks it.
  static std::unique_ptr<ReedSolomon> CreateWithKernel(int data_shards, int parity_shards, const char* kernel,
                                                       std::string* error);

  int data_shards() const { return k_; }
  int parity_shards() const { return m_; }
  const char* kernel_name() const { return kernel_.name; }

  // data: k pointers to input shards; parity: m pointers to the output shards.
  void Encode(const uint8_t* const* data, uint8_t* const* parity, size_t len) const;

  // shards: k + m pointers, data shards first; present[i] says whether shard i holds its bytes, and
  // each missing one points at a writable buffer that receives them. Rebuilds every missing shard,
  // data and parity; false and *error when more than m are missing (no buffer is written then).
  // The decode matrix of each set of missing shards is cached (LRU, kDecodeCacheEntries), so a
  // repeated pattern costs no matrix inversion.
  bool Reconstruct(uint8_t* const* shards, const bool* present, size_t len, std::string* error) const;

  // shards: k + m pointers, data shards first. True when every parity shard matches the data.
  bool Verify(const uint8_t* const* shards, size_t len) const;

  static constexpr size_t kDecodeCacheEntries = 64;

 private:
  // How to rebuild one set of missing shards: from the first k present shards (`inputs`), the rows of
  // `matrix` give the missing shards (`outputs`) in index order.
  struct DecodePlan {
    std::vector<int> inputs;
    std::vector<int> outputs;
    std::unique_ptr<gf::Matrix> matrix;
  };

  ReedSolomon(int k, int m, const gf::Kernel& kernel);
  std::shared_ptr<const DecodePlan> PlanFor(const bool* present) const;
  std::shared_ptr<const DecodePlan> BuildPlan(const bool* present) const;

  const int k_;
  const int m_;
  const gf::Kernel& kernel_;
  std::vector<uint8_t> generator_;  // (k + m) × k, row-major
  gf::Matrix encode_;

  // LRU of decode plans keyed by the present flags as bytes; most recently used first.
  mutable std::mutex cache_mu_;
  mutable std::list<std::pair<std::string, std::shared_ptr<const DecodePlan>>> cache_lru_;
  mutable std::unordered_map<std::string, decltype(cache_lru_)::iterator> cache_index_;
};

// The kernel that ReedSolomon::Create uses in this process.
const char* GfKernelName();

}  // namespace hive
