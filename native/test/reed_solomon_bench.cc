// Reed-Solomon micro-benchmark: GB/s of data bytes for encode and for rebuilding two missing data
// shards (one for RS(2,1)), 1 MiB shards (or argv[1] bytes), one thread, every kernel this CPU runs;
// best of 15 runs of thread CPU time, interleaved.
// Not built by CMake (it is not a test). Built beside the engines, optionally with ISA-L
// (Debian libisal-dev) as the rival in the same process, whose parity every kernel must equal:
//
//   g++ -O3 -std=c++17 -Inative/src native/test/reed_solomon_bench.cc native/src/gf256*.cc
//     native/src/reed_solomon.cc -o /tmp/rs_bench [-DHIVE_BENCH_ISAL -lisal] && /tmp/rs_bench
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reed_solomon.h"

#if defined(HIVE_BENCH_ISAL)
#include <isa-l/erasure_code.h>
#endif

namespace {

size_t shard_bytes = 1 << 20;

struct Shards {
  std::vector<std::vector<uint8_t>> bytes;
  std::vector<uint8_t*> ptrs;
  Shards(int n, size_t len) : bytes(n, std::vector<uint8_t>(len)), ptrs(n) {
    for (int i = 0; i < n; ++i) {
      for (auto& b : bytes[i]) b = static_cast<uint8_t>(std::rand());
      ptrs[i] = bytes[i].data();
    }
  }
};

// One implementation's encode and rebuild of one code; best seconds per call so far.
struct Contender {
  std::string name;
  std::function<void()> encode;
  std::function<void()> rebuild;
  double encode_s = 1e9;
  double rebuild_s = 1e9;
};

// CPU time of this thread, not wall time: on a shared 2-vCPU machine the time spent descheduled
// would otherwise dominate the spread.
double ThreadSeconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double TimeOnce(const std::function<void()>& run) {
  int iterations = 0;
  const double start = ThreadSeconds();
  double elapsed;
  do {
    run();
    ++iterations;
    elapsed = ThreadSeconds() - start;
  } while (elapsed < 0.03);
  return elapsed / iterations;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) shard_bytes = std::strtoul(argv[1], nullptr, 10);
  const int codes[][2] = {{2, 1}, {4, 2}, {8, 4}, {10, 4}};
  std::printf("selected kernel: %s, shards of %zu bytes\n", hive::GfKernelName(), shard_bytes);
  for (const auto& code : codes) {
    const int k = code[0], m = code[1], lost = std::min(2, m);
    Shards s(k + m, shard_bytes);
    Shards rebuilt(lost, shard_bytes);
    std::vector<Contender> contenders;
    std::vector<std::unique_ptr<hive::ReedSolomon>> codecs;
    bool present[255];
    for (int i = 0; i < k + m; ++i) present[i] = i >= lost;
    // The lost shards are data shards 0 .. lost-1; Reconstruct writes them into `rebuilt`.
    std::vector<uint8_t*> shards = s.ptrs;
    for (int i = 0; i < lost; ++i) shards[i] = rebuilt.ptrs[i];
#if defined(HIVE_BENCH_ISAL)
    // ISA-L with the same matrix; its decode tables are built once, as Hive's plan cache does.
    std::vector<uint8_t> a((k + m) * k), tables(32 * k * m), sub(k * k), inv(k * k), dtables(32 * k * lost);
    gf_gen_cauchy1_matrix(a.data(), k + m, k);
    ec_init_tables(k, m, &a[k * k], tables.data());
    for (int r = 0; r < k; ++r) std::memcpy(&sub[r * k], &a[(lost + r) * k], k);
    gf_invert_matrix(sub.data(), inv.data(), k);
    ec_init_tables(k, lost, inv.data(), dtables.data());
    Shards isal_parity(m, shard_bytes);
    ec_encode_data(shard_bytes, k, m, tables.data(), s.ptrs.data(), isal_parity.ptrs.data());
    contenders.push_back({"isa-l",
                          [&] { ec_encode_data(shard_bytes, k, m, tables.data(), s.ptrs.data(), s.ptrs.data() + k); },
                          [&] { ec_encode_data(shard_bytes, k, lost, dtables.data(), s.ptrs.data() + lost, rebuilt.ptrs.data()); }});
#endif
    for (const char* name : {"gfni-avx512", "gfni-avx2", "avx2", "ssse3", "scalar"}) {
      std::string error;
      auto rs = hive::ReedSolomon::CreateWithKernel(k, m, name, &error);
      if (!rs) continue;
      const hive::ReedSolomon* codec = rs.get();
      codecs.push_back(std::move(rs));
#if defined(HIVE_BENCH_ISAL)
      Shards parity(m, shard_bytes);
      codec->Encode(s.ptrs.data(), parity.ptrs.data(), shard_bytes);
      if (parity.bytes != isal_parity.bytes) std::printf("%s parity differs from ISA-L's!\n", name);
#endif
      contenders.push_back({name,
                            [&s, codec, k] { codec->Encode(s.ptrs.data(), s.ptrs.data() + k, shard_bytes); },
                            [&shards, &present, codec] {
                              std::string e;
                              codec->Reconstruct(shards.data(), present, shard_bytes, &e);
                            }});
    }
    // Runs alternate between contenders so that a busy moment of a shared machine hits them alike.
    for (int rep = 0; rep < 15; ++rep) {
      for (Contender& c : contenders) {
        c.encode_s = std::min(c.encode_s, TimeOnce(c.encode));
        c.rebuild_s = std::min(c.rebuild_s, TimeOnce(c.rebuild));
        for (int i = 0; i < lost; ++i)
          if (std::memcmp(rebuilt.ptrs[i], s.ptrs[i], shard_bytes) != 0)
            std::printf("%s rebuilt wrong bytes!\n", c.name.c_str());
      }
    }
    const double data_bytes = static_cast<double>(k) * shard_bytes;
    for (const Contender& c : contenders) {
      std::printf("Encode%dx%d   %-12s %6.2f GB/s", k, m, c.name.c_str(), data_bytes / c.encode_s / 1e9);
      if (contenders[0].name == "isa-l") std::printf("  %.2fx isa-l", contenders[0].encode_s / c.encode_s);
      std::printf("\nRebuild%dx%d  %-12s %6.2f GB/s", k, m, c.name.c_str(), data_bytes / c.rebuild_s / 1e9);
      if (contenders[0].name == "isa-l") std::printf("  %.2fx isa-l", contenders[0].rebuild_s / c.rebuild_s);
      std::printf("  (%d missing)\n", lost);
    }
  }
  return 0;
}
