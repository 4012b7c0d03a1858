#include "reed_solomon.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "check.h"
#include "gf256.h"

namespace {

using hive::ReedSolomon;

// The child-process side of KernelOverrideNeverRaisesAboveTheCpu: print the selected kernel and exit
// before any test runs.
const bool kPrintKernelAndExit = [] {
  if (std::getenv("HIVE_RS_TEST_PRINT_KERNEL") != nullptr) {
    std::printf("%s\n", hive::GfKernelName());
    std::exit(0);
  }
  return false;
}();

uint32_t Next(uint32_t* state) {
  *state ^= *state << 13;
  *state ^= *state >> 17;
  *state ^= *state << 5;
  return *state;
}

// k + m shards of `len` bytes, data pseudo-random, each shard starting `misalign` bytes past a fresh
// allocation so that kernels see unaligned pointers (and never null ones, even for len 0).
struct Stripe {
  int k, m;
  size_t len;
  std::vector<std::vector<uint8_t>> storage;
  std::vector<uint8_t*> shards;

  Stripe(int k_, int m_, size_t len_, uint32_t seed, size_t misalign = 0)
      : k(k_), m(m_), len(len_), storage(k_ + m_), shards(k_ + m_) {
    uint32_t state = seed | 1;
    for (int i = 0; i < k + m; ++i) {
      storage[i].assign(len + misalign + i % 7 + 1, 0);
      shards[i] = storage[i].data() + misalign + i % 7;
      if (i < k)
        for (size_t b = 0; b < len; ++b) shards[i][b] = static_cast<uint8_t>(Next(&state));
    }
  }
  const uint8_t* const* data() const { return shards.data(); }
  uint8_t* const* parity() const { return shards.data() + k; }
  std::vector<uint8_t> Bytes(int i) const { return std::vector<uint8_t>(shards[i], shards[i] + len); }
  std::vector<std::vector<uint8_t>> All() const {
    std::vector<std::vector<uint8_t>> all;
    for (int i = 0; i < k + m; ++i) all.push_back(Bytes(i));
    return all;
  }
};

std::vector<std::string> SupportedKernels() {
  std::vector<std::string> names;
  for (const hive::gf::Kernel* k : hive::gf::AllKernels())
    if (hive::gf::CpuSupports(*k)) names.push_back(k->name);
  return names;
}

std::unique_ptr<ReedSolomon> Make(int k, int m, const std::string& kernel = hive::GfKernelName()) {
  std::string error;
  auto rs = ReedSolomon::CreateWithKernel(k, m, kernel.c_str(), &error);
  if (!rs) throw check::Failure{"cannot create " + std::to_string(k) + "+" + std::to_string(m) + ": " + error};
  return rs;
}

// Wipes the shards not in `present` and rebuilds them; true when every shard comes back as `want`.
bool EraseAndRebuild(const ReedSolomon& rs, Stripe* s, const std::vector<bool>& present,
                     const std::vector<std::vector<uint8_t>>& want) {
  bool flags[255];
  for (int i = 0; i < s->k + s->m; ++i) {
    flags[i] = present[i];
    if (!present[i]) std::memset(s->shards[i], 0xA5, s->len);
  }
  std::string error;
  if (!rs.Reconstruct(s->shards.data(), flags, s->len, &error)) throw check::Failure{"reconstruct: " + error};
  return s->All() == want;
}

TEST(InvalidShardCountsAreRejected) {
  const int bad[][2] = {{0, 1}, {1, 0}, {-1, 2}, {3, -1}, {200, 56}, {255, 1}, {1, 255}, {256, 0}};
  for (const auto& c : bad) {
    std::string error;
    CHECK(ReedSolomon::Create(c[0], c[1], &error) == nullptr);
    CHECK(!error.empty());
  }
  std::string error;
  CHECK(ReedSolomon::Create(254, 1, &error) != nullptr);
  CHECK(ReedSolomon::Create(1, 254, &error) != nullptr);
  auto rs = ReedSolomon::Create(10, 4, &error);
  CHECK(rs != nullptr);
  CHECK_EQ(rs->data_shards(), 10);
  CHECK_EQ(rs->parity_shards(), 4);
}

TEST(UnknownOrUnsupportedKernelIsRejected) {
  std::string error;
  CHECK(ReedSolomon::CreateWithKernel(4, 2, "avx3000", &error) == nullptr);
  CHECK(!error.empty());
  for (const hive::gf::Kernel* k : hive::gf::AllKernels()) {
    error.clear();
    const bool created = ReedSolomon::CreateWithKernel(4, 2, k->name, &error) != nullptr;
    CHECK_EQ(created, hive::gf::CpuSupports(*k));
    CHECK_EQ(error.empty(), created);
  }
}

// Pins the matrix construction: these bytes are what ISA-L's ec_encode_data writes with
// gf_gen_cauchy1_matrix (checked against libisal 2.30). If this fails, stored parity no longer decodes.
TEST(ParityMatchesPinnedIsalCauchyBytes) {
  const uint8_t want_4_2[2][8] = {{0xe8, 0xc8, 0xa8, 0x88, 0x68, 0x48, 0x28, 0x08},
                                  {0xd2, 0xf2, 0x92, 0xb2, 0x52, 0x72, 0x12, 0x32}};
  const uint8_t want_10_4[4][4] = {
      {0x6c, 0x6d, 0xb1, 0x11}, {0xb7, 0xa8, 0xdb, 0x94}, {0xc1, 0xb8, 0x90, 0xd9}, {0x48, 0xf5, 0x52, 0xd3}};
  for (const std::string& kernel : SupportedKernels()) {
    Stripe a(4, 2, 8, 1);
    for (int j = 0; j < 4; ++j)
      for (int i = 0; i < 8; ++i) a.shards[j][i] = static_cast<uint8_t>(j * 16 + i);
    Make(4, 2, kernel)->Encode(a.data(), a.parity(), a.len);
    for (int p = 0; p < 2; ++p) CHECK(std::memcmp(a.shards[4 + p], want_4_2[p], 8) == 0);

    Stripe b(10, 4, 4, 1);
    for (int j = 0; j < 10; ++j)
      for (int i = 0; i < 4; ++i) b.shards[j][i] = static_cast<uint8_t>(j * 37 + i * 11 + 1);
    Make(10, 4, kernel)->Encode(b.data(), b.parity(), b.len);
    for (int p = 0; p < 4; ++p) CHECK(std::memcmp(b.shards[10 + p], want_10_4[p], 4) == 0);
  }
}

TEST(RoundTripLosesNoShardAcrossCodesAndLengths) {
  const int codes[][2] = {{1, 1}, {2, 1}, {3, 2}, {4, 2}, {6, 3}, {8, 4}, {10, 4}, {17, 3}, {200, 55}};
  const size_t lengths[] = {0, 1, 63, 64, 65, (1u << 20) + 7};
  uint32_t seed = 7;
  for (const auto& c : codes) {
    const int k = c[0], m = c[1];
    auto rs = Make(k, m);
    for (size_t len : lengths) {
      // 255 shards of 1 MiB would be most of the test's memory for no new coverage.
      if (k + m > 32 && len > 4096) continue;
      Stripe s(k, m, len, ++seed);
      rs->Encode(s.data(), s.parity(), len);
      CHECK(rs->Verify(s.data(), len));
      const auto want = s.All();
      // Lose m shards: alternately data and parity, spread over the stripe.
      std::vector<bool> present(k + m, true);
      for (int lost = 0; lost < m; ++lost) {
        int i = static_cast<int>(Next(&seed) % (k + m));
        while (!present[i]) i = (i + 1) % (k + m);
        present[i] = false;
      }
      CHECK(EraseAndRebuild(*rs, &s, present, want));
    }
  }
}

TEST(EveryErasurePatternOfSmallCodesRebuilds) {
  const int codes[][2] = {{2, 1}, {4, 2}, {5, 3}, {3, 4}};
  for (const auto& c : codes) {
    const int k = c[0], m = c[1], n = k + m;
    auto rs = Make(k, m);
    for (size_t len : {size_t{1}, size_t{100}, size_t{1000}}) {
      Stripe s(k, m, len, static_cast<uint32_t>(len));
      rs->Encode(s.data(), s.parity(), len);
      const auto want = s.All();
      for (unsigned mask = 1; mask < (1u << n); ++mask) {
        if (__builtin_popcount(mask) > m) continue;
        std::vector<bool> present(n);
        for (int i = 0; i < n; ++i) present[i] = !(mask & (1u << i));
        CHECK(EraseAndRebuild(*rs, &s, present, want));
      }
    }
  }
}

// Codes with more parity than a kernel accumulates per pass (several passes, chunked over the length
// once it is long enough), odd lengths around every vector and block size, unaligned pointers.
TEST(EveryKernelWritesTheScalarBytes) {
  const int codes[][2] = {{1, 1}, {2, 1}, {4, 2}, {10, 4}, {5, 5}, {3, 7}, {10, 9}, {20, 13}};
  std::vector<size_t> lengths;
  for (size_t len = 0; len <= 300; ++len) lengths.push_back(len);
  for (size_t len : {4095, 4096, 4097, 100003, 262147}) lengths.push_back(len);
  for (const std::string& kernel : SupportedKernels()) {
    if (kernel == "scalar") continue;
    for (const auto& c : codes) {
      const int k = c[0], m = c[1];
      auto scalar = Make(k, m, "scalar");
      auto simd = Make(k, m, kernel);
      for (size_t len : lengths) {
        if (k * len > (1u << 20) && len != 262147) continue;
        Stripe want(k, m, len, static_cast<uint32_t>(len * 31 + k));
        Stripe got(k, m, len, static_cast<uint32_t>(len * 31 + k), 1 + len % 5);
        scalar->Encode(want.data(), want.parity(), len);
        simd->Encode(got.data(), got.parity(), len);
        for (int p = 0; p < m; ++p) CHECK(got.Bytes(k + p) == want.Bytes(k + p));
        // Lose the first min(m, 3) data shards and the last parity shard when there is room.
        std::vector<bool> present(k + m, true);
        int lost = 0;
        for (int i = 0; i < k && lost < std::min(m, 3); ++i, ++lost) present[i] = false;
        if (lost < m) present[k + m - 1] = false;
        CHECK(EraseAndRebuild(*simd, &got, present, want.All()));
      }
    }
  }
}

TEST(VerifyDetectsAFlippedByte) {
  const size_t len = (1u << 20) + 7;
  Stripe s(8, 4, len, 99);
  auto rs = Make(8, 4);
  rs->Encode(s.data(), s.parity(), len);
  CHECK(rs->Verify(s.data(), len));
  CHECK(rs->Verify(s.data(), 0));
  // A data byte, a parity byte, the very last byte, a byte past Verify's first scratch chunk.
  const std::pair<int, size_t> spots[] = {{0, 0}, {9, 12345}, {11, len - 1}, {3, 700001}};
  for (const auto& spot : spots) {
    s.shards[spot.first][spot.second] ^= 0x10;
    CHECK(!rs->Verify(s.data(), len));
    s.shards[spot.first][spot.second] ^= 0x10;
  }
  CHECK(rs->Verify(s.data(), len));
}

TEST(TooManyMissingFailsWithoutWriting) {
  auto rs = Make(4, 2);
  Stripe s(4, 2, 64, 5);
  rs->Encode(s.data(), s.parity(), 64);
  const auto before = s.All();
  const bool present[6] = {false, true, false, true, true, false};
  std::string error;
  CHECK(!rs->Reconstruct(s.shards.data(), present, 64, &error));
  CHECK(!error.empty());
  CHECK(s.All() == before);
}

TEST(NothingMissingWritesNothing) {
  auto rs = Make(4, 2);
  Stripe s(4, 2, 64, 5);
  const auto before = s.All();  // parity deliberately left stale
  const bool present[6] = {true, true, true, true, true, true};
  std::string error;
  CHECK(rs->Reconstruct(s.shards.data(), present, 64, &error));
  CHECK(s.All() == before);
}

// 10+4 has 1470 erasure patterns; cycling through more of them than the cache holds evicts plans,
// and each pattern seen again must still rebuild the same bytes.
TEST(DecodeCacheEvictionKeepsRebuildsCorrect) {
  auto rs = Make(10, 4);
  Stripe s(10, 4, 333, 11);
  rs->Encode(s.data(), s.parity(), s.len);
  const auto want = s.All();
  for (int round = 0; round < 2; ++round) {
    for (int a = 0; a < 14; ++a) {
      for (int b = a + 1; b < 14; b += 2) {
        std::vector<bool> present(14, true);
        present[a] = present[b] = false;
        CHECK(EraseAndRebuild(*rs, &s, present, want));
      }
    }
  }
}

TEST(ConcurrentReconstructsShareTheCache) {
  auto rs = Make(6, 3);
  const size_t len = 4096 + 3;
  Stripe reference(6, 3, len, 21);
  rs->Encode(reference.data(), reference.parity(), len);
  const auto want = reference.All();
  std::vector<int> failures(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Stripe s(6, 3, len, 21);
      for (int i = 0; i < 9; ++i) std::memcpy(s.shards[i], want[i].data(), len);
      for (int iter = 0; iter < 200; ++iter) {
        std::vector<bool> present(9, true);
        present[(iter + t) % 9] = false;
        present[(iter * 7 + 3) % 9] = false;
        if (!EraseAndRebuild(*rs, &s, present, want)) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) CHECK_EQ(f, 0);
}

// The GFNI kernels cannot run on every machine that runs these tests, so their one piece of field
// arithmetic is checked here against the instruction's definition in Intel's SDM:
// result bit i = parity(matrix.byte[7 - i] AND x).
TEST(AffineMatrixMultipliesAsGf2p8affineqbWould) {
  for (unsigned c = 0; c < 256; ++c) {
    const uint64_t matrix = hive::gf::AffineMatrix(static_cast<uint8_t>(c));
    for (unsigned x = 0; x < 256; ++x) {
      unsigned result = 0;
      for (int i = 0; i < 8; ++i) {
        const unsigned row = static_cast<unsigned>(matrix >> (8 * (7 - i))) & 0xFF;
        result |= static_cast<unsigned>(__builtin_parity(row & x)) << i;
      }
      CHECK_EQ(result, static_cast<unsigned>(hive::gf::Mul(static_cast<uint8_t>(c), static_cast<uint8_t>(x))));
    }
  }
}

TEST(FieldInversesMultiplyToOne) {
  for (unsigned a = 1; a < 256; ++a) CHECK_EQ(hive::gf::Mul(static_cast<uint8_t>(a), hive::gf::Inv(static_cast<uint8_t>(a))), 1);
  CHECK_EQ(hive::gf::Mul(0x80, 2), 0x1D);  // x^7 · x wraps through the polynomial 0x11D
}

// The kernel a fresh process of this test selects with HIVE_GF_KERNEL=value.
std::string SelectedKernelWith(const char* value) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) throw check::Failure{"readlink /proc/self/exe failed"};
  self[n] = '\0';
  const std::string command =
      std::string("HIVE_RS_TEST_PRINT_KERNEL=1 HIVE_GF_KERNEL=") + value + " '" + self + "'";
  FILE* child = popen(command.c_str(), "r");
  if (child == nullptr) throw check::Failure{"popen failed"};
  char line[64] = {0};
  const bool read = std::fgets(line, sizeof line, child) != nullptr;
  pclose(child);
  if (!read) throw check::Failure{"child printed nothing"};
  line[std::strcspn(line, "\n")] = '\0';
  return line;
}

TEST(KernelOverrideNeverRaisesAboveTheCpu) {
  const std::string best = SupportedKernels().front();
  CHECK(best == hive::GfKernelName() || std::getenv("HIVE_GF_KERNEL") != nullptr);
  CHECK(SelectedKernelWith("nonsense") == best);
  for (const hive::gf::Kernel* k : hive::gf::AllKernels())
    CHECK(SelectedKernelWith(k->name) == (hive::gf::CpuSupports(*k) ? std::string(k->name) : best));
}

}  // namespace
