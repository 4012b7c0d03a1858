// CRC32C: known answers, every kernel against an independent bitwise CRC, streaming.
//
// Crc32c() picks its kernel once per process, so the case EveryKernelTheCpuRunsPassesThisSuite
// re-runs this executable with HIVE_CRC32C_KERNEL set to each kernel name; every other case then
// runs once per kernel. The alignment cases put the bytes in heap blocks that end exactly where
// they do, so an AddressSanitizer build catches a kernel that reads past the end.
#include "crc32c.h"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "check.h"

extern char** environ;

namespace {

const char* const kKernelNames[] = {"scalar", "sse42", "vpclmul"};

// One bit at a time straight from the reflected polynomial: shares no table, constant or
// instruction with the kernels under test.
uint32_t BitwiseCrc32c(const uint8_t* p, size_t n, uint32_t prev = 0) {
  uint32_t crc = ~prev;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> bytes(n);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : bytes) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    b = static_cast<uint8_t>(s >> 24);
  }
  return bytes;
}

// A copy of some bytes at `offset` past a 64-byte boundary, in a heap block that ends exactly where
// they do: a read past the end lands in AddressSanitizer's redzone.
class Placed {
 public:
  Placed(const std::vector<uint8_t>& bytes, size_t offset)
      : block_(static_cast<uint8_t*>(::operator new(offset + bytes.size(), std::align_val_t{64}))),
        data_(block_ + offset) {
    if (!bytes.empty()) std::memcpy(block_ + offset, bytes.data(), bytes.size());
  }
  ~Placed() { ::operator delete(block_, std::align_val_t{64}); }
  Placed(const Placed&) = delete;
  Placed& operator=(const Placed&) = delete;

  const uint8_t* data() const { return data_; }

 private:
  uint8_t* const block_;
  const uint8_t* const data_;
};

int BestKernelForThisCpu() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("sse4.2") || !__builtin_cpu_supports("pclmul")) return 0;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq") ? 2 : 1;
#else
  return 0;
#endif
}

uint32_t Crc32cOf(const std::string& s) { return hive::Crc32c(s.data(), s.size()); }

check::Failure Mismatch(size_t len, size_t offset, uint32_t got, uint32_t want) {
  return check::Failure{"len " + std::to_string(len) + " offset " + std::to_string(offset) + ": " +
                        std::to_string(got) + " != " + std::to_string(want)};
}

}  // namespace

TEST(CheckValueCatchesAWrongPresetOrFinalXor) { CHECK_EQ(Crc32cOf("123456789"), 0xE3069283u); }

// RFC 3720 (iSCSI) appendix B.4, as register values (the RFC lists the CRC's bytes as sent).
TEST(Rfc3720VectorsCatchAWrongPolynomialOrBitOrder) {
  std::vector<uint8_t> b(32, 0x00);
  CHECK_EQ(hive::Crc32c(b.data(), b.size()), 0x8A9136AAu);
  b.assign(32, 0xFF);
  CHECK_EQ(hive::Crc32c(b.data(), b.size()), 0x62A8AB43u);
  for (int i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(i);
  CHECK_EQ(hive::Crc32c(b.data(), b.size()), 0x46DD794Eu);
  for (int i = 0; i < 32; ++i) b[i] = static_cast<uint8_t>(31 - i);
  CHECK_EQ(hive::Crc32c(b.data(), b.size()), 0x113FDB5Cu);
  const uint8_t read_command_pdu[48] = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
      0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  CHECK_EQ(hive::Crc32c(read_command_pdu, sizeof read_command_pdu), 0xD9963A56u);
}

TEST(BitwiseReferenceIsItselfRight) {
  const std::string check = "123456789";
  const auto* bytes = reinterpret_cast<const uint8_t*>(check.data());
  CHECK_EQ(BitwiseCrc32c(bytes, check.size()), 0xE3069283u);
  const std::vector<uint8_t> zeros(32, 0x00);
  CHECK_EQ(BitwiseCrc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(EmptyInputLeavesPrevUnchanged) {
  const uint8_t byte = 0x5A;
  for (uint32_t prev : {0u, 1u, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u}) {
    CHECK_EQ(hive::Crc32c(nullptr, 0, prev), prev);
    CHECK_EQ(hive::Crc32c(&byte, 0, prev), prev);
  }
}

// Every length up to 1024 crosses each kernel's serial, 3-way and fused thresholds and every tail
// size; every offset 0..63 covers each alignment of a 32-byte load against a cache line.
TEST(NoKernelDiffersFromBitwiseAtAnyLengthTo1024OrAnyAlignment) {
  const std::vector<uint8_t> bytes = RandomBytes(1024, 1);
  for (size_t len = 0; len <= 1024; ++len) {
    const uint32_t prev = static_cast<uint32_t>(len * 0x9E3779B9u);
    const std::vector<uint8_t> slice(bytes.begin(), bytes.begin() + static_cast<long>(len));
    const uint32_t want = BitwiseCrc32c(slice.data(), len, prev);
    for (size_t offset = 0; offset < 64; ++offset) {
      const Placed placed(slice, offset);
      const uint32_t got = hive::Crc32c(placed.data(), len, prev);
      if (got != want)
        throw Mismatch(len, offset, got, want);
    }
  }
}

// Every length to 16 KiB and then every 97th to 96 KiB: past the largest fused block several times
// over, so each head size and block count meets each tail size.
TEST(NoKernelDiffersFromBitwiseOnAnyPrefixTo96KiB) {
  const std::vector<uint8_t> bytes = RandomBytes(96 * 1024, 2);
  std::vector<uint32_t> want(bytes.size() + 1);
  want[0] = 0;
  for (size_t len = 0; len < bytes.size(); ++len)
    want[len + 1] = BitwiseCrc32c(&bytes[len], 1, want[len]);
  for (size_t len = 0; len <= bytes.size(); len += len < 16 * 1024 ? 1 : 97) {
    const uint32_t got = hive::Crc32c(bytes.data(), len);
    if (got != want[len])
      throw Mismatch(len, 0, got, want[len]);
  }
}

// Large odd lengths in exactly-sized blocks at every alignment, so a read past the end of a long
// buffer is caught too.
TEST(NoKernelDiffersOrOverreadsOnLargeOddLengthsAtAnyAlignment) {
  const size_t lengths[] = {1025,  2047,  4095,  4097,   6145,         12289,
                            16383, 28801, 65537, 100003, (1u << 20) + 7};
  for (size_t len : lengths) {
    const std::vector<uint8_t> bytes = RandomBytes(len, len);
    const uint32_t want = BitwiseCrc32c(bytes.data(), len, 0x12345678u);
    for (size_t offset = 0; offset < 64; ++offset) {
      const Placed placed(bytes, offset);
      const uint32_t got = hive::Crc32c(placed.data(), len, 0x12345678u);
      if (got != want)
        throw Mismatch(len, offset, got, want);
    }
  }
}

// 12.5 KiB: longer than one fused block, so the pieces take every path on both sides of each split.
TEST(StreamingSplitAtAnyPointMatchesOneShot) {
  const std::vector<uint8_t> bytes = RandomBytes(12800, 7);
  const uint32_t whole = hive::Crc32c(bytes.data(), bytes.size());
  CHECK_EQ(whole, BitwiseCrc32c(bytes.data(), bytes.size()));
  for (size_t split = 0; split <= bytes.size(); ++split) {
    const uint32_t head = hive::Crc32c(bytes.data(), split);
    const uint32_t joined = hive::Crc32c(bytes.data() + split, bytes.size() - split, head);
    if (joined != whole) throw check::Failure{"split at " + std::to_string(split)};
  }
}

TEST(BytesOutsideTheRangeDoNotLeakIn) {
  std::vector<uint8_t> a = RandomBytes(3000, 3);
  std::vector<uint8_t> b = a;
  for (size_t i = 0; i < 64; ++i) {
    b[i] ^= 0xFF;
    b[b.size() - 1 - i] ^= 0xFF;
  }
  for (size_t len : {0, 1, 7, 100, 300, 1500, 2000, 2872}) {
    CHECK_EQ(hive::Crc32c(a.data() + 64, len), hive::Crc32c(b.data() + 64, len));
  }
}

TEST(ForcedKernelIsUsedButNeverOneAboveTheCpu) {
  const int best = BestKernelForThisCpu();
  int want = best;
  if (const char* forced = std::getenv("HIVE_CRC32C_KERNEL"))
    for (int i = 0; i < best; ++i)
      if (std::strcmp(forced, kKernelNames[i]) == 0) want = i;
  CHECK(std::strcmp(hive::Crc32cKernel(), kKernelNames[want]) == 0);
}

TEST(EveryKernelTheCpuRunsPassesThisSuite) {
  if (std::getenv("HIVE_CRC32C_KERNEL") != nullptr) return;  // A forced run: this is a child.
  // "bogus" checks that an unknown name falls back to the best kernel.
  for (const char* name : {"scalar", "sse42", "vpclmul", "bogus"}) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) env_strings.emplace_back(*e);
    env_strings.push_back(std::string("HIVE_CRC32C_KERNEL=") + name);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    char exe[] = "/proc/self/exe";
    char* argv[] = {exe, nullptr};
    std::printf("# re-running with HIVE_CRC32C_KERNEL=%s\n", name);
    std::fflush(stdout);
    pid_t pid;
    CHECK_EQ(posix_spawn(&pid, exe, nullptr, nullptr, argv, envp.data()), 0);
    int status = 0;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw check::Failure{std::string("the suite failed with HIVE_CRC32C_KERNEL=") + name};
  }
}
