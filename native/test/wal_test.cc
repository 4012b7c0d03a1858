// The write-ahead log: format edge cases, recovery after torn writes and bit flips, group commit,
// rotation and checkpoint deletion. Each test works in its own temporary directory.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "check.h"
#include "wal_format.h"
#include "wal_reader.h"
#include "wal_writer.h"

using hive::WalEnd;
using hive::WalLocation;
using hive::WalReadResult;
using hive::WalOptions;
using hive::WalReader;
using hive::WalRecord;
using hive::WalWriter;
using hive::wal::kBlockSize;
using hive::wal::kHeaderSize;
using Bytes = std::vector<uint8_t>;

namespace {

struct TempDir {
  std::string path;
  // in_memory: on tmpfs when there is one, for tests that reopen a log hundreds of times and would
  // otherwise spend minutes in directory fsyncs that prove nothing about their subject.
  explicit TempDir(bool in_memory = false) {
    const char* env = getenv("TMPDIR");
    std::string base = env != nullptr ? env : "/tmp";
    if (in_memory && access("/dev/shm", W_OK) == 0) base = "/dev/shm";
    std::string tmpl = base + "/wal_test.XXXXXX";
    path = mkdtemp(&tmpl[0]);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Distinct, position-dependent bytes, so a record shifted or spliced from another cannot compare equal.
Bytes Payload(uint64_t seed, size_t len) {
  Bytes b(len);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < len; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b[i] = static_cast<uint8_t>(x);
  }
  return b;
}

// Counts callbacks and keeps the locations they report; Wait returns once `n` have fired.
struct Acks {
  std::mutex mu;
  std::condition_variable cv;
  size_t fired = 0;
  std::vector<std::string> errors;
  std::vector<WalLocation> locations;
  WalWriter::Callback Callback() {
    return [this](uint64_t, const std::string& error, const WalLocation& location) {
      std::lock_guard<std::mutex> lock(mu);
      ++fired;
      if (!error.empty()) errors.push_back(error);
      locations.push_back(location);
      cv.notify_all();
    };
  }
  void Wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return fired >= n; });
  }
};

std::unique_ptr<WalWriter> OpenWriter(const std::string& dir, uint64_t segment_bytes = 1 << 20) {
  WalOptions options;
  options.segment_bytes = segment_bytes;
  std::string error;
  std::unique_ptr<WalWriter> writer = WalWriter::Open(dir, options, &error);
  if (!writer) throw check::Failure{"WalWriter::Open(" + dir + "): " + error};
  return writer;
}

// Appends and waits until the record is durable; returns its sequence.
uint64_t AppendDurably(WalWriter& writer, uint8_t type, const Bytes& data) {
  Acks acks;
  const uint64_t sequence = writer.Append(type, data.data(), data.size(), acks.Callback());
  acks.Wait(1);
  CHECK(acks.errors.empty());
  return sequence;
}

std::vector<WalRecord> ReadLog(const std::string& dir, uint64_t after = 0, WalEnd* end = nullptr) {
  std::vector<WalRecord> records;
  std::string error;
  WalEnd local;
  if (!WalReader::ReadAll(dir, after, &records, &error, &local)) throw check::Failure{"ReadAll: " + error};
  if (end != nullptr) *end = local;
  return records;
}

struct Expected {
  uint64_t sequence;
  uint8_t type;
  Bytes data;
};

void CheckRecords(const std::vector<WalRecord>& got, const std::vector<Expected>& want, size_t count) {
  CHECK_EQ(got.size(), count);
  for (size_t i = 0; i < count; ++i) {
    CHECK_EQ(got[i].sequence, want[i].sequence);
    CHECK_EQ(got[i].type, want[i].type);
    CHECK(got[i].data == want[i].data);
  }
}

std::vector<std::string> SegmentFiles(const std::string& dir) {
  std::vector<uint64_t> firsts;
  std::string error;
  CHECK(hive::ListWalSegments(dir, &firsts, &error));
  std::vector<std::string> names;
  for (uint64_t first : firsts) names.push_back(hive::wal::SegmentName(first));
  return names;
}

Bytes ReadFile(const std::string& path) {
  Bytes b(std::filesystem::file_size(path));
  const int fd = open(path.c_str(), O_RDONLY);
  CHECK(fd >= 0);
  CHECK_EQ(pread(fd, b.data(), b.size(), 0), static_cast<ssize_t>(b.size()));
  close(fd);
  return b;
}

void WriteFile(const std::string& path, const uint8_t* data, size_t len) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  CHECK_EQ(write(fd, data, len), static_cast<ssize_t>(len));
  close(fd);
}

// Writes records of the given payload sizes through a writer; returns what they should read back as
// and, in *ends, the segment offset just past each record (all in the first segment).
std::vector<Expected> WriteRecords(const std::string& dir, const std::vector<size_t>& sizes,
                                   std::vector<uint64_t>* ends = nullptr) {
  std::unique_ptr<WalWriter> writer = OpenWriter(dir);
  std::vector<Expected> want;
  uint64_t offset = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    Expected e{i + 1, static_cast<uint8_t>(i * 37), Payload(i, sizes[i])};
    CHECK_EQ(AppendDurably(*writer, e.type, e.data), e.sequence);
    offset = hive::wal::RecordEnd(offset, sizes[i]);
    if (ends != nullptr) ends->push_back(offset);
    want.push_back(std::move(e));
  }
  return want;
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

}  // namespace

TEST(WorkedExampleInWalFormatHMatchesTheEncoder) {
  Bytes out;
  const Bytes hi = {'h', 'i'};
  hive::wal::AppendRecord(&out, 0, 1, 7, hi.data(), hi.size());
  const Bytes documented = {0x97, 0x80, 0xdc, 0x23, 0x02, 0x00, 0x01, 0x07, 0x01, 0, 0, 0, 0, 0, 0, 0, 'h', 'i'};
  CHECK(out == documented);
  const Bytes big = Payload(2, 40000);
  hive::wal::AppendRecord(&out, 0, 2, 0, big.data(), big.size());
  CHECK_EQ(out.size(), 40050u);
  CHECK_EQ(hive::wal::GetLe(&out[18 + 4], 2), 32734u);
  CHECK_EQ(out[18 + 6], hive::wal::kFirst);
  CHECK_EQ(hive::wal::GetLe(&out[32768 + 4], 2), 7266u);
  CHECK_EQ(out[32768 + 6], hive::wal::kLast);
}

TEST(EmptyAndOneByteRecordsRoundTrip) {
  TempDir dir;
  const std::vector<Expected> want = WriteRecords(dir.path, {0, 1, 0, 1});
  CheckRecords(ReadLog(dir.path), want, 4);
}

TEST(RecordExactlyFillingABlockLeavesNoTrailer) {
  TempDir dir;
  const std::vector<Expected> want = WriteRecords(dir.path, {kBlockSize - kHeaderSize, 5});
  const Bytes file = ReadFile(dir.path + "/" + SegmentFiles(dir.path)[0]);
  CHECK_EQ(file[6], hive::wal::kFull);
  CHECK_EQ(file[kBlockSize + 6], hive::wal::kFull);
  CheckRecords(ReadLog(dir.path), want, 2);
}

TEST(HeaderThatWouldStraddleABlockStartsAfterAZeroTrailer) {
  TempDir dir;
  // Record 1 ends 10 bytes short of the block: too few for a header, so record 2 starts at the next block.
  const std::vector<Expected> want = WriteRecords(dir.path, {kBlockSize - kHeaderSize - 10, 100});
  const Bytes file = ReadFile(dir.path + "/" + SegmentFiles(dir.path)[0]);
  CHECK(AllZero(&file[kBlockSize - 10], 10));
  CHECK_EQ(file[kBlockSize + 6], hive::wal::kFull);
  CheckRecords(ReadLog(dir.path), want, 2);
}

TEST(ExactlyAHeaderLeftInABlockHoldsAnEmptyFirstFragment) {
  TempDir dir;
  const std::vector<Expected> want = WriteRecords(dir.path, {kBlockSize - 2 * kHeaderSize, 100});
  const Bytes file = ReadFile(dir.path + "/" + SegmentFiles(dir.path)[0]);
  const size_t at = kBlockSize - kHeaderSize;
  CHECK_EQ(file[at + 6], hive::wal::kFirst);
  CHECK_EQ(hive::wal::GetLe(&file[at + 4], 2), 0u);
  CHECK_EQ(file[kBlockSize + 6], hive::wal::kLast);
  CheckRecords(ReadLog(dir.path), want, 2);
}

TEST(EmptyMiddleOrLastFragmentIsNotARecord) {
  // A writer never emits one (a record's later fragments each start a block and carry what is left),
  // so FIRST filling its block then an empty LAST is not a record: as one it would be a FULL record
  // re-encoded. Found by wal_reader_fuzz.
  using hive::wal::PutLe;
  for (const uint8_t second : {hive::wal::kMiddle, hive::wal::kLast}) {
    TempDir dir;
    Bytes file(kBlockSize + kHeaderSize, 0);
    const auto fragment = [&](size_t at, uint8_t kind, size_t n) {
      uint8_t* h = &file[at];
      PutLe(h + 4, n, 2);
      h[6] = kind;
      h[7] = 0;
      PutLe(h + 8, 1, 8);
      PutLe(h, hive::wal::FragmentChecksum(h, h + kHeaderSize, n), 4);
    };
    fragment(0, hive::wal::kFirst, kBlockSize - kHeaderSize);
    fragment(kBlockSize, second, 0);
    WriteFile(dir.path + "/" + hive::wal::SegmentName(1), file.data(), file.size());
    WalEnd end;
    CHECK(ReadLog(dir.path, 0, &end).empty());
    CHECK_EQ(end.offset, 0u);
    CHECK_EQ(end.next_sequence, 1u);
  }
}

TEST(FourMiBRecordSpansBlocksAndGetsASegmentOfItsOwn) {
  TempDir dir;
  std::vector<Expected> want;
  {
    std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 1 << 20);
    for (size_t len : {size_t{10}, size_t{4 << 20}, size_t{(4 << 20) + 7}, size_t{10}}) {
      Expected e{want.size() + 1, 9, Payload(len, len)};
      CHECK_EQ(AppendDurably(*writer, e.type, e.data), e.sequence);
      want.push_back(std::move(e));
    }
  }
  CheckRecords(ReadLog(dir.path), want, 4);
  const std::vector<std::string> segments = SegmentFiles(dir.path);
  CHECK_EQ(segments.size(), 4u);
  CHECK(segments[1] == hive::wal::SegmentName(2));
  CHECK(segments[3] == hive::wal::SegmentName(4));
}

TEST(ManyRecordsRotateAcrossSegmentsInOrder) {
  TempDir dir;
  const uint64_t segment_bytes = 64 << 10;
  std::vector<Expected> want;
  {
    std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, segment_bytes);
    Acks acks;
    for (size_t i = 0; i < 600; ++i) {
      Expected e{i + 1, static_cast<uint8_t>(i), Payload(i, (i * 7919) % 3000)};
      CHECK_EQ(writer->Append(e.type, e.data.data(), e.data.size(), acks.Callback()), e.sequence);
      want.push_back(std::move(e));
    }
    acks.Wait(want.size());
    CHECK(acks.errors.empty());
  }
  const std::vector<std::string> segments = SegmentFiles(dir.path);
  CHECK(segments.size() > 10);
  for (const std::string& name : segments)
    CHECK(std::filesystem::file_size(dir.path + "/" + name) <= segment_bytes);
  CheckRecords(ReadLog(dir.path), want, want.size());
  const std::vector<WalRecord> tail = ReadLog(dir.path, 450);
  CHECK_EQ(tail.size(), 150u);
  CHECK_EQ(tail.front().sequence, 451u);
}

TEST(ReopenContinuesTheSequence) {
  TempDir dir;
  WriteRecords(dir.path, {1, 2, 3});
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  CHECK_EQ(writer->last_sequence(), 3u);
  CHECK_EQ(AppendDurably(*writer, 1, Payload(4, 4)), 4u);
  writer.reset();
  const std::vector<WalRecord> records = ReadLog(dir.path);
  CHECK_EQ(records.size(), 4u);
  CHECK_EQ(records[3].sequence, 4u);
}

// Simulates a crash part way through writing the last record: the file ends at byte `cut`.
void CheckTruncationAt(const Bytes& file, size_t cut, const std::vector<Expected>& want,
                       const std::vector<uint64_t>& ends, bool reopen) {
  TempDir dir(true);
  WriteFile(dir.path + "/" + hive::wal::SegmentName(1), file.data(), cut);
  size_t intact = 0;
  while (intact < ends.size() && ends[intact] <= cut) ++intact;
  WalEnd end;
  CheckRecords(ReadLog(dir.path, 0, &end), want, intact);
  const uint64_t last_end = intact == 0 ? 0 : ends[intact - 1];
  CHECK_EQ(end.offset, last_end);
  CHECK_EQ(end.kind, AllZero(&file[last_end], cut - last_end) ? WalEnd::kClean : WalEnd::kTornTail);
  if (!reopen) return;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  CHECK_EQ(writer->last_sequence(), intact);
  const Bytes next = Payload(1000 + cut, 50);
  CHECK_EQ(AppendDurably(*writer, 3, next), intact + 1);
  writer.reset();
  std::vector<WalRecord> records = ReadLog(dir.path, 0, &end);
  CHECK_EQ(end.kind, WalEnd::kClean);
  CHECK_EQ(records.size(), intact + 1);
  CHECK(records.back().data == next);
  records.pop_back();
  CheckRecords(records, want, intact);
}

TEST(TruncationAtEveryByteOfTheLastRecordReturnsOnlyTheEarlierOnes) {
  TempDir dir;
  // The last record starts 300 bytes before a block boundary, so cuts land in its FIRST header, its
  // FIRST payload, the next block's LAST header and its LAST payload.
  std::vector<uint64_t> ends;
  const std::vector<Expected> want = WriteRecords(dir.path, {0, 1, kBlockSize - 300 - 33 - kHeaderSize, 700}, &ends);
  const Bytes file = ReadFile(dir.path + "/" + SegmentFiles(dir.path)[0]);
  CHECK_EQ(ends[2], kBlockSize - 300);
  for (size_t cut = ends[2]; cut < ends[3]; ++cut) CheckTruncationAt(file, cut, want, ends, true);
}

TEST(TruncationInsideAMultiBlockRecordReturnsOnlyTheEarlierOnes) {
  TempDir dir;
  std::vector<uint64_t> ends;
  const std::vector<Expected> want = WriteRecords(dir.path, {100, 3 * kBlockSize + 500}, &ends);
  const Bytes file = ReadFile(dir.path + "/" + SegmentFiles(dir.path)[0]);
  for (size_t cut = ends[0]; cut < ends[1]; ++cut) {
    const size_t in_block = cut % kBlockSize;
    const bool near_boundary = in_block < 2 * kHeaderSize || in_block > kBlockSize - 2 * kHeaderSize;
    if (near_boundary || cut % 101 == 0) CheckTruncationAt(file, cut, want, ends, true);
  }
}

TEST(FlippedBitInAnyByteOfAnyRecordIsDetected) {
  TempDir dir(true);
  // FULL records of 0, 1 and 200 bytes, one that leaves a 10-byte trailer, and one spanning FIRST,
  // MIDDLE and LAST fragments.
  std::vector<uint64_t> ends;
  const std::vector<Expected> want =
      WriteRecords(dir.path, {0, 1, 200, kBlockSize - 249 - kHeaderSize - 10, 2 * kBlockSize + 100}, &ends);
  const std::string path = dir.path + "/" + SegmentFiles(dir.path)[0];
  const Bytes file = ReadFile(path);
  const int fd = open(path.c_str(), O_WRONLY);
  CHECK(fd >= 0);
  // Every byte of every record, and of the zero header-to-be after the last one.
  for (size_t at = 0; at < ends.back() + kHeaderSize; ++at) {
    const uint8_t flipped = file[at] ^ static_cast<uint8_t>(1u << (at % 8));
    CHECK_EQ(pwrite(fd, &flipped, 1, at), 1);
    size_t intact = 0;
    while (intact < ends.size() && ends[intact] <= at) ++intact;
    WalEnd end;
    CheckRecords(ReadLog(dir.path, 0, &end), want, intact);
    CHECK_EQ(end.kind, WalEnd::kTornTail);
    CHECK_EQ(end.offset, intact == 0 ? 0 : ends[intact - 1]);
    CHECK_EQ(pwrite(fd, &file[at], 1, at), 1);
  }
  close(fd);
}

TEST(FlippedBitBeforeIntactSegmentsIsCorruptionAndOpenRefusesTheLog) {
  TempDir dir;
  {
    std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 4096);
    for (int i = 0; i < 20; ++i) AppendDurably(*writer, 1, Payload(i, 1000));
  }
  const std::vector<std::string> segments = SegmentFiles(dir.path);
  CHECK(segments.size() >= 3);
  const std::string victim = dir.path + "/" + segments[1];
  Bytes file = ReadFile(victim);
  file[kHeaderSize + 1500] ^= 0x20;  // inside the segment's second record
  WriteFile(victim, file.data(), file.size());

  std::vector<WalRecord> records;
  std::string error;
  WalEnd end;
  CHECK(!WalReader::ReadAll(dir.path, 0, &records, &error, &end));
  CHECK_EQ(end.kind, WalEnd::kCorrupt);
  CHECK(error.find(segments[1]) != std::string::npos);
  uint64_t second_start = 0;
  hive::wal::ParseSegmentName(segments[1], &second_start);
  CHECK_EQ(records.size(), second_start);  // everything before the damaged record, nothing after

  CHECK(WalWriter::Open(dir.path, WalOptions{}, &error) == nullptr);
  CHECK(error.find("checksum mismatch") != std::string::npos);
  CHECK(SegmentFiles(dir.path) == segments);
  CHECK(ReadFile(victim) == file);
}

TEST(MissingMiddleSegmentIsCorruption) {
  TempDir dir;
  {
    std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 4096);
    for (int i = 0; i < 20; ++i) AppendDurably(*writer, 1, Payload(i, 1000));
  }
  const std::vector<std::string> segments = SegmentFiles(dir.path);
  CHECK(segments.size() >= 3);
  std::filesystem::remove(dir.path + "/" + segments[1]);
  std::vector<WalRecord> records;
  std::string error;
  CHECK(!WalReader::ReadAll(dir.path, 0, &records, &error));
  CHECK(error.find("was expected") != std::string::npos);
  CHECK(WalWriter::Open(dir.path, WalOptions{}, &error) == nullptr);
}

TEST(JunkSegmentAfterATornTailIsDeletedOnOpen) {
  TempDir dir;
  std::vector<uint64_t> ends;
  const std::vector<Expected> want = WriteRecords(dir.path, {10, 20, 30}, &ends);
  const std::string first = dir.path + "/" + hive::wal::SegmentName(1);
  Bytes file = ReadFile(first);
  file.resize(ends[2] - 5);  // record 3 torn
  WriteFile(first, file.data(), file.size());
  const Bytes junk = Payload(7, 5000);
  WriteFile(dir.path + "/" + hive::wal::SegmentName(3), junk.data(), junk.size());
  WriteFile(dir.path + "/" + hive::wal::SegmentName(9), junk.data(), 0);

  WalEnd end;
  CheckRecords(ReadLog(dir.path, 0, &end), want, 2);
  CHECK_EQ(end.kind, WalEnd::kTornTail);
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  CHECK_EQ(writer->last_sequence(), 2u);
  CHECK(SegmentFiles(dir.path) == std::vector<std::string>{hive::wal::SegmentName(1)});
  CHECK_EQ(AppendDurably(*writer, 5, Payload(3, 30)), 3u);
  writer.reset();
  CHECK_EQ(ReadLog(dir.path).size(), 3u);
}

TEST(ConcurrentAppendsShareOneFdatasyncPerBatch) {
  TempDir dir;
  constexpr int kThreads = 8, kPerThread = 250;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 64 << 20);
  std::vector<uint64_t> returned(kThreads * kPerThread);
  std::vector<std::atomic<uint64_t>> acknowledged(kThreads * kPerThread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const Bytes data = Payload(t * 1000 + i, 64 + i);
        const uint64_t syncs_before = writer->syncs();
        const size_t slot = t * kPerThread + i;
        returned[slot] = writer->Append(static_cast<uint8_t>(t), data.data(), data.size(),
                                        [&, syncs_before, slot](uint64_t sequence, const std::string& error,
                                                                const WalLocation&) {
                                          // Acknowledged only after a sync that began after the append.
                                          if (!error.empty() || writer->syncs() <= syncs_before) ++failures;
                                          acknowledged[slot] = sequence;
                                        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  writer->Close();
  CHECK_EQ(failures.load(), 0);
  for (size_t slot = 0; slot < returned.size(); ++slot) CHECK_EQ(acknowledged[slot].load(), returned[slot]);
  CHECK_EQ(writer->syncs(), writer->batches());
  CHECK(writer->batches() < returned.size());

  const std::vector<WalRecord> records = ReadLog(dir.path);
  CHECK_EQ(records.size(), returned.size());
  std::vector<int> next(kThreads, 0);
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK_EQ(records[i].sequence, i + 1);
    const int t = records[i].type;
    CHECK_EQ(returned[t * kPerThread + next[t]], i + 1);
    CHECK(records[i].data == Payload(t * 1000 + next[t], 64 + next[t]));
    ++next[t];
  }
}

TEST(DeleteUpToRemovesOnlyWholeOldSegments) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 8192);
  for (int i = 0; i < 100; ++i) AppendDurably(*writer, 1, Payload(i, 1000));
  std::vector<uint64_t> firsts;
  std::string error;
  CHECK(hive::ListWalSegments(dir.path, &firsts, &error));
  CHECK(firsts.size() > 5);
  // A checkpoint in the middle of segment 3 deletes segments 0..2 and keeps 3, which still holds later records.
  const uint64_t checkpoint = firsts[3] + 1;
  CHECK(writer->DeleteUpTo(checkpoint, &error));
  std::vector<uint64_t> left;
  CHECK(hive::ListWalSegments(dir.path, &left, &error));
  CHECK(left == std::vector<uint64_t>(firsts.begin() + 3, firsts.end()));
  const std::vector<WalRecord> records = ReadLog(dir.path);
  CHECK_EQ(records.front().sequence, firsts[3]);
  CHECK_EQ(records.back().sequence, 100u);
  CHECK_EQ(ReadLog(dir.path, checkpoint).front().sequence, checkpoint + 1);
  // A checkpoint at the last record keeps the segment being written.
  CHECK(writer->DeleteUpTo(100, &error));
  CHECK(hive::ListWalSegments(dir.path, &left, &error));
  CHECK(left == std::vector<uint64_t>{firsts.back()});
  writer.reset();
  writer = OpenWriter(dir.path, 8192);
  CHECK_EQ(writer->last_sequence(), 100u);
}

size_t FreeFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    uint64_t first;
    n += hive::wal::ParseSegmentName(entry.path().filename().string(), &first, hive::wal::kFreeSuffix);
  }
  return n;
}

TEST(CheckpointedSegmentsAreRecycledAndTheirOldRecordsNeverRead) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 8192);
  for (int i = 1; i <= 60; ++i) CHECK_EQ(AppendDurably(*writer, 1, Payload(i, 1000)), static_cast<uint64_t>(i));
  std::string error;
  CHECK(writer->DeleteUpTo(40, &error));
  const size_t recycled = FreeFiles(dir.path);
  CHECK(recycled > 0);
  // Rotations take the recycled files: the new segments are old files full of old records.
  for (int i = 61; i <= 120; ++i) CHECK_EQ(AppendDurably(*writer, 1, Payload(i, 1000 + i)), static_cast<uint64_t>(i));
  CHECK(FreeFiles(dir.path) < recycled);
  auto check_log = [&](uint64_t last) {
    const std::vector<WalRecord> records = ReadLog(dir.path);
    CHECK_EQ(records.back().sequence, last);
    for (size_t i = 0; i < records.size(); ++i) {
      const uint64_t s = records[i].sequence;
      CHECK_EQ(s, records.front().sequence + i);
      CHECK(records[i].data == Payload(s, s <= 60 ? 1000 : 1000 + s));
    }
  };
  check_log(120);
  writer.reset();
  writer = OpenWriter(dir.path, 8192);
  CHECK_EQ(writer->last_sequence(), 120u);
  CHECK_EQ(AppendDurably(*writer, 1, Payload(121, 1121)), 121u);
  check_log(121);
}

TEST(RecycledFileRenamedBeforeItsFirstWriteReadsAsATornTail) {
  TempDir dir;
  {
    std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 8192);
    for (int i = 1; i <= 30; ++i) AppendDurably(*writer, 1, Payload(i, 1000));
    std::string error;
    CHECK(writer->DeleteUpTo(20, &error));
  }
  // As if the writer crashed right after renaming a recycled file to the next segment's name.
  std::string free_name;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path))
    if (entry.path().extension() == ".free") free_name = entry.path().string();
  CHECK(!free_name.empty());
  std::filesystem::rename(free_name, dir.path + "/" + hive::wal::SegmentName(31));
  WalEnd end;
  const std::vector<WalRecord> records = ReadLog(dir.path, 0, &end);
  CHECK_EQ(records.back().sequence, 30u);
  CHECK_EQ(end.kind, WalEnd::kTornTail);
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 8192);
  CHECK_EQ(AppendDurably(*writer, 1, Payload(31, 5)), 31u);
  writer.reset();
  CHECK_EQ(ReadLog(dir.path).back().sequence, 31u);
}

TEST(CheckpointsDuringRotationLeaveAContiguousLog) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 4096);
  std::atomic<uint64_t> durable{0};
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::thread checkpointer([&] {
    std::string error;
    while (!done)
      if (!writer->DeleteUpTo(durable.load() / 2, &error)) ++failures;
  });
  for (int i = 0; i < 400; ++i) {
    const Bytes data = Payload(i, 700);
    writer->Append(1, data.data(), data.size(),
                   [&](uint64_t sequence, const std::string&, const WalLocation&) { durable = sequence; });
    if (i % 4 == 0) AppendDurably(*writer, 2, Payload(i, 10));
  }
  writer->Close();
  done = true;
  checkpointer.join();
  CHECK_EQ(failures.load(), 0);
  const std::vector<WalRecord> records = ReadLog(dir.path);
  CHECK(!records.empty());
  CHECK_EQ(records.back().sequence, 500u);
  for (size_t i = 1; i < records.size(); ++i) CHECK_EQ(records[i].sequence, records[i - 1].sequence + 1);
}

TEST(ZeroFilledTailIsTheEndOfTheLogNotCorruption) {
  TempDir dir;
  const std::vector<Expected> want = WriteRecords(dir.path, {10, 5000, 0});
  const std::string path = dir.path + "/" + hive::wal::SegmentName(1);
  CHECK_EQ(std::filesystem::file_size(path), uint64_t{1} << 20);  // preallocated, mostly zeros
  WalEnd end;
  CheckRecords(ReadLog(dir.path, 0, &end), want, 3);
  CHECK_EQ(end.kind, WalEnd::kClean);
  // Zeros reaching into a short last block, too.
  std::filesystem::resize_file(path, end.offset + 3 * kBlockSize + 11);
  CheckRecords(ReadLog(dir.path, 0, &end), want, 3);
  CHECK_EQ(end.kind, WalEnd::kClean);
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  CHECK_EQ(AppendDurably(*writer, 0, Payload(4, 4)), 4u);
}

TEST(WriteErrorFailsPendingAppendsAndKeepsAcknowledgedOnes) {
  TempDir dir;
  // A file size limit makes writes past 64 KiB fail (EFBIG) the way a full disk does (ENOSPC).
  signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit;
  getrlimit(RLIMIT_FSIZE, &old_limit);
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 256 << 10);
  rlimit limit = old_limit;
  limit.rlim_cur = 64 << 10;
  setrlimit(RLIMIT_FSIZE, &limit);
  std::vector<Expected> acknowledged;
  std::string first_error;
  for (uint64_t i = 0; i < 100 && first_error.empty(); ++i) {
    Expected e{i + 1, 2, Payload(i, 1000)};
    Acks acks;
    writer->Append(e.type, e.data.data(), e.data.size(), acks.Callback());
    acks.Wait(1);
    if (acks.errors.empty()) acknowledged.push_back(std::move(e));
    else first_error = acks.errors[0];
  }
  CHECK(!first_error.empty());
  CHECK(first_error.find("write") != std::string::npos);
  // Failed for good: later appends get the error too, and no sequence.
  Acks later;
  CHECK_EQ(writer->Append(2, nullptr, 0, later.Callback()), 0u);
  later.Wait(1);
  CHECK_EQ(later.errors.size(), 1u);
  CHECK_EQ(later.locations[0].segment, 0u);
  writer.reset();
  setrlimit(RLIMIT_FSIZE, &old_limit);
  WalEnd end;
  CheckRecords(ReadLog(dir.path, 0, &end), acknowledged, acknowledged.size());
  writer = OpenWriter(dir.path, 256 << 10);
  CHECK_EQ(writer->last_sequence(), acknowledged.size());
}

TEST(AppendAfterCloseFailsAtOnce) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  writer->Close();
  std::string error;
  uint64_t sequence = 99;
  WalLocation location{7, 7};
  CHECK_EQ(writer->Append(1, nullptr, 0,
                          [&](uint64_t s, const std::string& e, const WalLocation& l) { sequence = s, error = e, location = l; }),
           0u);
  CHECK_EQ(sequence, 0u);
  CHECK(!error.empty());
  CHECK_EQ(location.segment, 0u);
}

TEST(OpenCreatesMissingParentDirectories) {
  TempDir dir;
  const std::string nested = dir.path + "/a/b/wal";
  {
    std::unique_ptr<WalWriter> writer = OpenWriter(nested);
    AppendDurably(*writer, 1, Payload(1, 1));
  }
  CHECK_EQ(ReadLog(nested).size(), 1u);
}

TEST(SecondWriterOnTheSameDirectoryIsRefused) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  std::string error;
  CHECK(WalWriter::Open(dir.path, WalOptions{}, &error) == nullptr);
  CHECK(error.find("LOCK") != std::string::npos);
  writer.reset();
  CHECK(WalWriter::Open(dir.path, WalOptions{}, &error) != nullptr);
}

TEST(StreamingReaderReturnsWhatReadAllDoes) {
  TempDir dir;
  const std::vector<Expected> want = WriteRecords(dir.path, {3, 40000, 0, 7});
  std::string error;
  std::unique_ptr<WalReader> reader = WalReader::Open(dir.path, 1, &error);
  CHECK(reader != nullptr);
  std::vector<WalRecord> got;
  WalRecord record;
  while (reader->Next(&record)) got.push_back(record);
  CHECK_EQ(reader->end().kind, WalEnd::kClean);
  CHECK_EQ(reader->end().next_sequence, 5u);
  CheckRecords(got, std::vector<Expected>(want.begin() + 1, want.end()), 3);
}

TEST(WithoutSyncNothingIsFdatasynced) {
  TempDir dir;
  WalOptions options;
  options.sync = false;
  std::string error;
  std::unique_ptr<WalWriter> writer = WalWriter::Open(dir.path, options, &error);
  CHECK(writer != nullptr);
  for (int i = 0; i < 10; ++i) AppendDurably(*writer, 1, Payload(i, 10));
  CHECK_EQ(writer->syncs(), 0u);
  CHECK_EQ(writer->batches(), 10u);
  writer.reset();
  CHECK_EQ(ReadLog(dir.path).size(), 10u);
}

TEST(ReadingAMissingDirectoryIsAnError) {
  std::vector<WalRecord> records;
  std::string error;
  WalEnd end;
  CHECK(!WalReader::ReadAll("/nonexistent/wal", 0, &records, &error, &end));
  CHECK_EQ(end.kind, WalEnd::kIoError);
  CHECK(!error.empty());
}

// ---------------------------------------------------------------------------------------------
// Record locations and ReadRecordAt.
// ---------------------------------------------------------------------------------------------

namespace {

struct Located {
  uint64_t sequence;
  WalLocation location;
  Bytes data;
};

// Appends and waits until the record is durable; returns its sequence and where it landed.
Located AppendLocated(WalWriter& writer, const Bytes& data) {
  Acks acks;
  const uint64_t sequence = writer.Append(4, data.data(), data.size(), acks.Callback());
  acks.Wait(1);
  CHECK(acks.errors.empty());
  return {sequence, acks.locations[0], data};
}

WalReadResult ReadAt(const std::string& dir, const Located& r, Bytes* out = nullptr) {
  Bytes local;
  std::string error;
  return hive::ReadRecordAt(dir, r.location, r.sequence, r.data.size(), out != nullptr ? out : &local, &error);
}

void CheckReadsBack(const std::string& dir, const Located& r) {
  Bytes got;
  std::string error;
  const WalReadResult result = hive::ReadRecordAt(dir, r.location, r.sequence, r.data.size(), &got, &error);
  if (result != WalReadResult::kOk) throw check::Failure{"ReadRecordAt " + std::to_string(r.sequence) + ": " + error};
  CHECK(got == r.data);
  // Into the caller's buffer: the record's span is room enough, and nothing past it is written; a
  // byte less is refused.
  const size_t span = hive::WalRecordSpan(r.location.offset, r.data.size());
  Bytes room(span + 1, 0xee);
  CHECK(hive::ReadRecordAt(dir, r.location, r.sequence, r.data.size(), room.data(), span, &error) == WalReadResult::kOk);
  CHECK(std::equal(r.data.begin(), r.data.end(), room.begin()));
  CHECK_EQ(room[span], 0xee);
  CHECK(hive::ReadRecordAt(dir, r.location, r.sequence, r.data.size(), room.data(), span - 1, &error) ==
        WalReadResult::kIoError);
}

bool SameLocation(const WalLocation& a, const WalLocation& b) { return a.segment == b.segment && a.offset == b.offset; }

}  // namespace

TEST(WriterReportsWhereEachRecordLandsAndReadRecordAtReadsItThere) {
  TempDir dir;
  const uint64_t segment_bytes = 256 << 10;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, segment_bytes);
  std::vector<Located> records;
  // 0 B at 0; 10 B at 16; one ending 10 bytes short of the block, so the next starts past a zero
  // trailer, at kBlockSize; one spanning four blocks; one too big for what is left of the segment,
  // which starts the next segment, named after it; a small one behind it.
  const size_t sizes[] = {0, 10, kBlockSize - 10 - 42 - kHeaderSize, 3 * kBlockSize + 500, 200 << 10, 7};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    records.push_back(AppendLocated(*writer, Payload(i, sizes[i])));
    CheckReadsBack(dir.path, records.back());  // readable as soon as it is acknowledged
  }
  const uint64_t after_multi_block = hive::wal::RecordEnd(kBlockSize, sizes[3]);
  const WalLocation want[] = {{1, 0}, {1, 16}, {1, 42}, {1, kBlockSize}, {5, 0}, {5, hive::wal::RecordEnd(0, sizes[4])}};
  CHECK(after_multi_block + kHeaderSize + sizes[4] > segment_bytes);
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK_EQ(records[i].sequence, i + 1);
    CHECK_EQ(records[i].location.segment, want[i].segment);
    CHECK_EQ(records[i].location.offset, want[i].offset);
  }
  writer.reset();
  // A recovery scan finds each record where the writer said it put it.
  const std::vector<WalRecord> scanned = ReadLog(dir.path);
  CHECK_EQ(scanned.size(), records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    CHECK(SameLocation(scanned[i].location, records[i].location));
    CheckReadsBack(dir.path, records[i]);
  }
  // Reopened, the writer goes on reporting locations in the recovered tail segment.
  writer = OpenWriter(dir.path, segment_bytes);
  const Located next = AppendLocated(*writer, Payload(99, 3));
  CHECK_EQ(next.location.segment, 5u);
  CHECK_EQ(next.location.offset, hive::wal::RecordEnd(want[5].offset, sizes[5]));
  CheckReadsBack(dir.path, next);
}

TEST(LocationsOfConcurrentAppendsMatchTheScanAcrossRotations) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 64 << 10);
  constexpr size_t kCount = 600;
  std::vector<WalLocation> reported(kCount + 1);
  Acks acks;
  for (size_t i = 0; i < kCount; ++i) {
    const Bytes data = Payload(i, (i * 7919) % 5000);
    writer->Append(1, data.data(), data.size(),
                   [&, inner = acks.Callback()](uint64_t sequence, const std::string& error, const WalLocation& at) {
                     reported[sequence] = at;
                     inner(sequence, error, at);
                   });
  }
  acks.Wait(kCount);
  CHECK(acks.errors.empty());
  writer.reset();
  const std::vector<WalRecord> scanned = ReadLog(dir.path);
  CHECK_EQ(scanned.size(), kCount);
  CHECK(SegmentFiles(dir.path).size() > 10);
  for (const WalRecord& r : scanned) CHECK(SameLocation(r.location, reported[r.sequence]));
}

TEST(ReadRecordAtWhileTheWriterAppendsOtherRecords) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 64 << 10);
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Located> durable;
  constexpr size_t kCount = 2000;
  std::thread appender([&] {
    for (size_t i = 0; i < kCount; ++i) {
      const Bytes data = Payload(i, (i * 7919) % 9000);
      writer->Append(2, data.data(), data.size(),
                     [&, size = data.size()](uint64_t sequence, const std::string& error, const WalLocation& at) {
                       std::lock_guard<std::mutex> lock(mu);
                       if (error.empty()) durable.push_back({sequence, at, Bytes(size)});
                       cv.notify_all();
                     });
    }
  });
  size_t read = 0, failures = 0;
  while (read < kCount) {
    Located r;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return durable.size() > read; });
      r = durable[read];
    }
    r.data = Payload(r.sequence - 1, r.data.size());
    Bytes got;
    failures += ReadAt(dir.path, r, &got) != WalReadResult::kOk || got != r.data;
    ++read;
  }
  appender.join();
  CHECK_EQ(failures, 0u);
}

TEST(FlippedBitAnywhereInALocatedRecordReadsAsCorrupt) {
  TempDir dir(true);
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  // The second record starts 100 bytes before a block's end: FIRST, MIDDLE and LAST fragments.
  AppendLocated(*writer, Payload(0, kBlockSize - 100 - kHeaderSize));
  const Located r = AppendLocated(*writer, Payload(1, 84 + (kBlockSize - kHeaderSize) + 50));
  AppendLocated(*writer, Payload(2, 5));
  writer.reset();
  CHECK_EQ(r.location.offset, kBlockSize - 100);
  const std::string path = dir.path + "/" + hive::wal::SegmentName(1);
  const Bytes file = ReadFile(path);
  const int fd = open(path.c_str(), O_WRONLY);
  CHECK(fd >= 0);
  const uint64_t end = hive::wal::RecordEnd(r.location.offset, r.data.size());
  for (uint64_t at = r.location.offset; at < end; ++at) {
    const uint8_t flipped = file[at] ^ static_cast<uint8_t>(1u << (at % 8));
    CHECK_EQ(pwrite(fd, &flipped, 1, at), 1);
    if (ReadAt(dir.path, r) != WalReadResult::kCorrupt) throw check::Failure{"flip at " + std::to_string(at) + " not detected"};
    CHECK_EQ(pwrite(fd, &file[at], 1, at), 1);
  }
  close(fd);
  CheckReadsBack(dir.path, r);
}

TEST(WrongSequenceLengthOrOffsetReadsAsCorrupt) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
  const Located small = AppendLocated(*writer, Payload(0, 100));
  const Located big = AppendLocated(*writer, Payload(1, 2 * kBlockSize + 300));
  const Located same_size = AppendLocated(*writer, Payload(2, 100));
  auto read = [&](const WalLocation& at, uint64_t sequence, size_t length) {
    Bytes out;
    std::string error;
    const WalReadResult result = hive::ReadRecordAt(dir.path, at, sequence, length, &out, &error);
    CHECK(result == WalReadResult::kOk || !error.empty());
    return result;
  };
  for (const Located* r : {&small, &big}) {
    CHECK(read(r->location, r->sequence + 1, r->data.size()) == WalReadResult::kCorrupt);
    CHECK(read(r->location, r->sequence - 1, r->data.size()) == WalReadResult::kCorrupt);
    CHECK(read(r->location, r->sequence, r->data.size() + 1) == WalReadResult::kCorrupt);
    CHECK(read(r->location, r->sequence, r->data.size() - 1) == WalReadResult::kCorrupt);
    CHECK(read({1, r->location.offset + 1}, r->sequence, r->data.size()) == WalReadResult::kCorrupt);
    CHECK(read({2, r->location.offset}, r->sequence, r->data.size()) == WalReadResult::kMissing);
  }
  // An intact record of the same size is not the one asked for.
  CHECK(read(same_size.location, small.sequence, small.data.size()) == WalReadResult::kCorrupt);
  // Preallocated zeros past the end of the log are no record either.
  const uint64_t past = hive::wal::RecordEnd(same_size.location.offset, same_size.data.size());
  CHECK(read({1, past}, 4, 10) == WalReadResult::kCorrupt);
}

TEST(CheckpointedTruncatedOrAbsurdLocationsReadAsMissing) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 8192);
  std::vector<Located> records;
  for (int i = 0; i < 60; ++i) records.push_back(AppendLocated(*writer, Payload(i, 1000)));
  std::string error;
  // Recycles the first few segments (*.free) and deletes the rest: either way their records are gone.
  CHECK(writer->DeleteUpTo(45, &error));
  std::vector<uint64_t> left;
  CHECK(hive::ListWalSegments(dir.path, &left, &error));
  CHECK(FreeFiles(dir.path) > 0);
  auto check_all = [&] {
    for (const Located& r : records) {
      if (r.location.segment < left.front()) CHECK(ReadAt(dir.path, r) == WalReadResult::kMissing);
      else CheckReadsBack(dir.path, r);
    }
  };
  check_all();
  // Rotations reuse the recycled files under new names, full of the old records' bytes.
  for (int i = 60; i < 90; ++i) records.push_back(AppendLocated(*writer, Payload(i, 1000)));
  CHECK_EQ(FreeFiles(dir.path), 0u);
  check_all();
  writer.reset();

  const Located& last = records.back();
  const std::string path = dir.path + "/" + hive::wal::SegmentName(last.location.segment);
  std::filesystem::resize_file(path, hive::wal::RecordEnd(last.location.offset, last.data.size()) - 1);
  CHECK(ReadAt(dir.path, last) == WalReadResult::kMissing);
  Bytes out;
  CHECK(hive::ReadRecordAt(dir.path, {last.location.segment, 0}, last.sequence, SIZE_MAX / 2, &out, &error) ==
        WalReadResult::kMissing);
  CHECK(hive::ReadRecordAt(dir.path, {last.location.segment, UINT64_MAX - 5}, last.sequence, 10, &out, &error) ==
        WalReadResult::kMissing);
  CHECK(hive::ReadRecordAt("/nonexistent/wal", last.location, last.sequence, 10, &out, &error) ==
        WalReadResult::kMissing);
}

TEST(CachedOnlyReadsAgreeWithReadRecordAtOrSayNotCached) {
  for (const bool in_memory : {false, true}) {
    TempDir dir(in_memory);
    std::unique_ptr<WalWriter> writer = OpenWriter(dir.path);
    std::vector<Located> records;
    for (const size_t size : {size_t{0}, size_t{100}, size_t{4096}, 3 * kBlockSize + 500}) {
      records.push_back(AppendLocated(*writer, Payload(records.size(), size)));
    }
    writer.reset();
    auto cached = [&](const Located& r, const WalLocation& at) {
      const size_t span = hive::WalRecordSpan(at.offset, r.data.size());
      Bytes room(span);
      std::string error;
      const WalReadResult result = hive::ReadRecordAtIfCached(dir.path, at, r.sequence, r.data.size(), room.data(), span, &error);
      if (result == WalReadResult::kOk) CHECK(std::equal(r.data.begin(), r.data.end(), room.begin()));
      else CHECK(!error.empty());
      return result;
    };
    // Just written, so in the page cache: read from there, on any filesystem that can tell (tmpfs cannot).
    const bool can_tell = cached(records[0], records[0].location) != WalReadResult::kCannotTell;
    for (const Located& r : records) CHECK(cached(r, r.location) == (can_tell ? WalReadResult::kOk : WalReadResult::kCannotTell));
    // Dropped from the cache (where the filesystem honours the advice): not read, or read intact.
    const std::string path = dir.path + "/" + hive::wal::SegmentName(1);
    const int fd = open(path.c_str(), O_RDWR);
    CHECK(fd >= 0);
    CHECK_EQ(fdatasync(fd), 0);
    CHECK_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    for (const Located& r : records) {
      const WalReadResult result = cached(r, r.location);
      CHECK(result == WalReadResult::kOk || result == (can_tell ? WalReadResult::kNotCached : WalReadResult::kCannotTell));
      CheckReadsBack(dir.path, r);
    }
    // Damaged, elsewhere or gone: never kOk.
    const Located& r = records[2];
    uint8_t byte;
    CHECK_EQ(pread(fd, &byte, 1, r.location.offset + kHeaderSize + 7), 1);
    const uint8_t flipped = byte ^ 0x10;
    CHECK_EQ(pwrite(fd, &flipped, 1, r.location.offset + kHeaderSize + 7), 1);
    const WalReadResult damaged = can_tell ? WalReadResult::kCorrupt : WalReadResult::kCannotTell;
    CHECK(cached(r, r.location) == damaged);
    CHECK_EQ(pwrite(fd, &byte, 1, r.location.offset + kHeaderSize + 7), 1);
    close(fd);
    CHECK(cached(r, {r.location.segment, r.location.offset + 1}) == damaged);
    CHECK(cached(r, {2, r.location.offset}) == WalReadResult::kMissing);
    CHECK(cached(r, {1, UINT64_MAX - 5}) == WalReadResult::kMissing);
  }
}

TEST(RecordsReadDuringCheckpointsAreIntactOrMissingNeverCorrupt) {
  TempDir dir;
  std::unique_ptr<WalWriter> writer = OpenWriter(dir.path, 4096);
  std::mutex mu;
  std::vector<Located> durable;
  std::atomic<bool> done{false};
  std::thread appender([&] {
    for (size_t i = 0; i < 3000; ++i) {
      const Bytes data = Payload(i, 300 + i % 700);
      writer->Append(3, data.data(), data.size(),
                     [&, size = data.size()](uint64_t sequence, const std::string& error, const WalLocation& at) {
                       std::lock_guard<std::mutex> lock(mu);
                       if (error.empty()) durable.push_back({sequence, at, Bytes(size)});
                     });
    }
    writer->Close();
    done = true;
  });
  std::thread checkpointer([&] {
    std::string error;
    while (!done) {
      uint64_t last = 0;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!durable.empty()) last = durable.back().sequence;
      }
      if (last > 10) writer->DeleteUpTo(last - 10, &error);
    }
  });
  size_t ok = 0, missing = 0, failures = 0;
  uint64_t x = 1;
  while (!done || ok + missing < 3000) {
    Located r;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (durable.empty()) continue;
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      // Mostly the newest records, whose segments are the ones being recycled and rewritten.
      r = durable[durable.size() - 1 - x % std::min<size_t>(durable.size(), 40)];
    }
    r.data = Payload(r.sequence - 1, r.data.size());
    Bytes got;
    const WalReadResult result = ReadAt(dir.path, r, &got);
    ok += result == WalReadResult::kOk;
    missing += result == WalReadResult::kMissing;
    failures += result == WalReadResult::kOk ? got != r.data : result != WalReadResult::kMissing;
  }
  appender.join();
  checkpointer.join();
  CHECK_EQ(failures, 0u);
  CHECK(ok > 0);
}
