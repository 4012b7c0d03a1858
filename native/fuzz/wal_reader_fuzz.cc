// libFuzzer target for WalReader (how to run: README.md beside this file).
//
// The first input byte picks a mode:
//   0 — the rest of the input is a segment file, as is;
//   1 — the rest describes records and one injury (a truncation or a flipped bit); the target encodes
//       the records as a writer would, injures the bytes, and requires the reader to return exactly the
//       records that end before the injury;
//   2 — the rest describes fragments with any kind, type, sequence and length, placed anywhere, each
//       with a valid checksum: what a checksum alone cannot reject (misordered, misplaced, mis-sequenced).
// In every mode the reader must not crash, must not call a single segment corrupt (only a later intact
// segment makes damage corruption), and every record it returns must re-encode to exactly the bytes at
// its place in the file: it returned nothing that a writer did not write there.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fuzzer/FuzzedDataProvider.h>

#include "wal_format.h"
#include "wal_reader.h"

namespace {

using Bytes = std::vector<uint8_t>;

// A plain array, not a std::string, so that it outlives the exit handler that removes the directory.
// On tmpfs when there is one: the target writes a file per input.
char g_dir[64];

void RemoveDir() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

std::vector<hive::WalRecord> ReadAndCheck(const uint8_t* file, size_t size) {
  const std::string path = std::string(g_dir) + "/" + hive::wal::SegmentName(1);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || write(fd, file, size) != static_cast<ssize_t>(size)) abort();
  close(fd);

  std::vector<hive::WalRecord> records;
  std::string error;
  hive::WalEnd end;
  if (!hive::WalReader::ReadAll(g_dir, 0, &records, &error, &end)) abort();
  Bytes expect;
  for (size_t i = 0; i < records.size(); ++i) {
    const hive::WalRecord& r = records[i];
    if (r.sequence != i + 1) abort();
    hive::wal::AppendRecord(&expect, 0, r.sequence, r.type, r.data.data(), r.data.size());
  }
  if (expect.size() > size || !std::equal(expect.begin(), expect.end(), file)) abort();
  if (end.offset != expect.size() || end.next_sequence != records.size() + 1) abort();
  return records;
}

void Structured(FuzzedDataProvider& in) {
  Bytes file;
  std::vector<size_t> ends;
  std::vector<hive::WalRecord> written;
  const int count = in.ConsumeIntegralInRange<int>(0, 6);
  for (int i = 0; i < count; ++i) {
    hive::WalRecord r;
    r.sequence = i + 1;
    r.type = in.ConsumeIntegral<uint8_t>();
    r.data.resize(in.ConsumeIntegralInRange<size_t>(0, 2 * hive::wal::kBlockSize + 64));  // up to FIRST MIDDLE LAST
    for (size_t j = 0; j < r.data.size(); ++j) r.data[j] = static_cast<uint8_t>(j * 31 + i);
    hive::wal::AppendRecord(&file, 0, r.sequence, r.type, r.data.data(), r.data.size());
    ends.push_back(file.size());
    written.push_back(std::move(r));
  }
  file.resize(file.size() + in.ConsumeIntegralInRange<size_t>(0, 64), 0);  // preallocated zeros

  // Records ending at or before the first injured byte must all come back; none after it.
  size_t injured = file.size();
  switch (in.ConsumeIntegralInRange<int>(0, 2)) {
    case 1:
      injured = in.ConsumeIntegralInRange<size_t>(0, file.size());
      file.resize(injured);
      break;
    case 2:
      if (file.empty()) break;
      injured = in.ConsumeIntegralInRange<size_t>(0, file.size() - 1);
      file[injured] ^= static_cast<uint8_t>(1u << in.ConsumeIntegralInRange<int>(0, 7));
      break;
  }
  size_t intact = 0;
  while (intact < ends.size() && ends[intact] <= injured) ++intact;

  const std::vector<hive::WalRecord> got = ReadAndCheck(file.data(), file.size());
  if (got.size() != intact) abort();
  for (size_t i = 0; i < intact; ++i)
    if (got[i].type != written[i].type || got[i].data != written[i].data) abort();
}

void Fragments(FuzzedDataProvider& in) {
  using hive::wal::kBlockSize;
  using hive::wal::kHeaderSize;
  Bytes file;
  while (in.remaining_bytes() > 0 && file.size() < 4 * kBlockSize) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
      case 0:
        file.resize(file.size() + in.ConsumeIntegralInRange<size_t>(0, 2 * kHeaderSize), 0);
        break;
      case 1:  // to just short of the next block boundary, where trailers and split headers happen
        file.resize((file.size() / kBlockSize + 1) * kBlockSize - in.ConsumeIntegralInRange<size_t>(0, 2 * kHeaderSize), 0);
        break;
      default: {
        const size_t at = file.size();
        const size_t room = kBlockSize - at % kBlockSize;
        // Often exactly filling the block, as FIRST and MIDDLE fragments must.
        const size_t length = room >= kHeaderSize && in.ConsumeBool() ? room - kHeaderSize
                                                                      : in.ConsumeIntegralInRange<size_t>(0, kBlockSize);
        file.resize(at + kHeaderSize + length);
        uint8_t* h = file.data() + at;
        hive::wal::PutLe(h + 4, length, 2);
        h[6] = in.ConsumeIntegralInRange<uint8_t>(0, 5);
        h[7] = in.ConsumeIntegralInRange<uint8_t>(0, 1);
        hive::wal::PutLe(h + 8, in.ConsumeIntegralInRange<uint64_t>(0, 4), 8);
        for (size_t j = 0; j < length; ++j) h[kHeaderSize + j] = static_cast<uint8_t>(j);
        hive::wal::PutLe(h, hive::wal::FragmentChecksum(h, h + kHeaderSize, length), 4);
      }
    }
  }
  ReadAndCheck(file.data(), file.size());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::snprintf(g_dir, sizeof g_dir, "%s/wal_reader_fuzz.XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  if (mkdtemp(g_dir) == nullptr) abort();
  atexit(RemoveDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  FuzzedDataProvider in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      ReadAndCheck(data + 1, size - 1);
      break;
    case 1:
      Structured(in);
      break;
    case 2:
      Fragments(in);
      break;
  }
  return 0;
}
