#include "wal_reader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "wal_format.h"

namespace hive {

using wal::kBlockSize;
using wal::kHeaderSize;

namespace {

std::string ErrnoMessage(const std::string& what, int err) {
  return what + ": " + std::system_category().message(err);
}

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// Reads up to n bytes at offset, stopping early only at end of file. -1 (errno set) on error.
// With `cached_only`, the read never waits for the disk (preadv2 RWF_NOWAIT): it stops early, as at the
// end of the file, at the first byte not in the page cache (EAGAIN); -1 with errno EOPNOTSUPP where the
// filesystem cannot read that way (or ENOSYS, EINVAL, EPERM where the kernel or a seccomp filter will not).
ssize_t ReadFully(int fd, uint8_t* buf, size_t n, uint64_t offset, bool cached_only = false) {
  size_t got = 0;
  while (got < n) {
    ssize_t r;
    if (cached_only) {
      iovec iov{buf + got, n - got};
      r = preadv2(fd, &iov, 1, static_cast<off_t>(offset + got), RWF_NOWAIT);
      if (r < 0 && errno == EAGAIN) break;
    } else {
      r = pread(fd, buf + got, n - got, static_cast<off_t>(offset + got));
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(got);
}

// Whether the segment begins with an intact fragment of its own (not a recycled file's old bytes): the
// test that tells corruption from a torn tail. 1 intact, 0 not, -1 unreadable (*error set).
int SegmentStartsIntact(const std::string& path, uint64_t first_sequence, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoMessage("open " + path, errno);
    return -1;
  }
  std::vector<uint8_t> block(kBlockSize);
  const ssize_t n = ReadFully(fd, block.data(), block.size(), 0);
  const int err = errno;
  close(fd);
  if (n < 0) {
    *error = ErrnoMessage("read " + path, err);
    return -1;
  }
  if (static_cast<size_t>(n) < kHeaderSize) return 0;
  const uint8_t* h = block.data();
  const size_t length = wal::GetLe(h + 4, 2);
  const bool starts = h[6] == wal::kFull || h[6] == wal::kFirst;
  return starts && wal::GetLe(h + 8, 8) == first_sequence && kHeaderSize + length <= static_cast<size_t>(n) &&
         wal::GetLe(h, 4) == wal::FragmentChecksum(h, h + kHeaderSize, length);
}

// The fragments of record `sequence` as ForEachFragment lays out `length` payload bytes from `first`,
// given `bytes` read from there to the record's end: "" with the payload moved to the front of `bytes`,
// or why they are not that record (the bytes are then scrambled). Moving in place is safe: a payload
// only ever moves towards the front, past the headers already read, never over a fragment not yet read.
std::string CheckRecord(uint8_t* bytes, uint64_t first, uint64_t sequence, size_t length) {
  std::string reason;
  uint64_t bad = 0;
  uint8_t type = 0;
  size_t moved = 0;
  wal::ForEachFragment(first, length, [&](uint64_t at, wal::Kind kind, size_t, size_t n) {
    if (!reason.empty()) return;
    uint8_t* h = bytes + (at - first);
    const uint64_t got_length = wal::GetLe(h + 4, 2), got_sequence = wal::GetLe(h + 8, 8);
    if (wal::GetLe(h, 4) != wal::FragmentChecksum(h, h + kHeaderSize, n)) {
      reason = "checksum mismatch";
    } else if (got_length != n) {
      reason = "length " + std::to_string(got_length) + " where " + std::to_string(n) + " was expected";
    } else if (h[6] != kind) {
      reason = "kind " + std::to_string(h[6]) + " where " + std::to_string(kind) + " was expected";
    } else if (got_sequence != sequence) {
      reason = "sequence " + std::to_string(got_sequence) + " where " + std::to_string(sequence) + " was expected";
    } else if (at != first && h[7] != type) {
      reason = "type changes within the record";
    } else {
      type = h[7];
      if (n > 0) std::memmove(bytes + moved, h + kHeaderSize, n);
      moved += n;
      return;
    }
    bad = at;
  });
  if (reason.empty()) return reason;
  return "fragment at byte " + std::to_string(bad) + ": " + reason;
}

// ReadRecordAt with the buffer left to the caller: room(span) is asked, once the record is known to lie
// within the file, for `span` bytes to read it into (nullptr: there is none, an I/O error).
// `cached_only`: kNotCached rather than wait for the disk, kCannotTell where reads cannot be made not to.
template <typename Room>
WalReadResult ReadRecordInto(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                             Room&& room, std::string* error, bool cached_only = false) {
  const std::string name = wal::SegmentName(at.segment);
  const std::string path = dir + "/" + name;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    *error = ErrnoMessage("open " + path, err);
    return err == ENOENT ? WalReadResult::kMissing : WalReadResult::kIoError;
  }
  struct stat opened;
  if (fstat(fd, &opened) != 0) {
    *error = ErrnoMessage("stat " + path, errno);
    close(fd);
    return WalReadResult::kIoError;
  }
  const uint64_t size = static_cast<uint64_t>(opened.st_size);
  // Compared with the file size before anything is computed from them or allocated, so that an absurd
  // offset or length can neither overflow nor exhaust memory.
  const bool fits = at.offset <= size && length <= size - at.offset && wal::RecordEnd(at.offset, length) <= size;
  const uint64_t first = fits ? wal::FragmentStart(at.offset) : 0;
  const size_t span = fits ? static_cast<size_t>(wal::RecordEnd(first, length) - first) : 0;
  uint8_t* bytes = fits ? room(span) : nullptr;
  if (fits && bytes == nullptr) {
    close(fd);
    *error = name + " at byte " + std::to_string(at.offset) + ": no room for its " + std::to_string(span) + " bytes";
    return WalReadResult::kIoError;
  }
  const ssize_t n = fits ? ReadFully(fd, bytes, span, first, cached_only) : 0;
  const int read_errno = errno;
  std::string reason;
  WalReadResult result = WalReadResult::kOk;
  if (cached_only && n < 0 &&
      (read_errno == EOPNOTSUPP || read_errno == ENOSYS || read_errno == EINVAL || read_errno == EPERM)) {
    close(fd);
    *error = ErrnoMessage("read " + path + " without waiting", read_errno);
    return WalReadResult::kCannotTell;
  }
  if (cached_only && fits && n >= 0 && static_cast<size_t>(n) < span) {
    // Not all cached, or the file ended early: the waiting read tells which.
    close(fd);
    *error = name + " at byte " + std::to_string(at.offset) + ": not all in the page cache";
    return WalReadResult::kNotCached;
  }
  if (n < 0) {
    reason = ErrnoMessage("read", read_errno);
    result = WalReadResult::kIoError;
  } else if (!fits || static_cast<size_t>(n) < span) {
    const uint64_t file_end = fits ? first + static_cast<uint64_t>(n) : size;
    reason = "the segment ends at byte " + std::to_string(file_end) + ", before the record does";
    result = WalReadResult::kMissing;
  } else {
    reason = CheckRecord(bytes, first, sequence, length);
    if (!reason.empty()) result = WalReadResult::kCorrupt;
  }
  // A checkpoint may have recycled the segment while it was read, and a new segment's records then
  // overwritten the ones asked for: that is a record gone, not damage, and the name no longer leads
  // to the file read.
  if (result == WalReadResult::kCorrupt || result == WalReadResult::kMissing) {
    struct stat now;
    if (stat(path.c_str(), &now) != 0 || now.st_ino != opened.st_ino || now.st_dev != opened.st_dev) {
      reason = "the segment was removed while being read";
      result = WalReadResult::kMissing;
    }
  }
  close(fd);
  if (result != WalReadResult::kOk) *error = name + " at byte " + std::to_string(at.offset) + ": " + reason;
  return result;
}

}  // namespace

size_t WalRecordSpan(uint64_t offset, size_t length) {
  const uint64_t first = wal::FragmentStart(offset);
  return static_cast<size_t>(wal::RecordEnd(first, length) - first);
}

WalReadResult ReadRecordAt(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                           std::vector<uint8_t>* out, std::string* error) {
  const auto room = [out](size_t span) {
    out->resize(span);
    return out->data();
  };
  const WalReadResult result = ReadRecordInto(dir, at, sequence, length, room, error);
  out->resize(result == WalReadResult::kOk ? length : 0);
  return result;
}

WalReadResult ReadRecordAt(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                           uint8_t* out, size_t room, std::string* error) {
  return ReadRecordInto(dir, at, sequence, length, [out, room](size_t span) { return span <= room ? out : nullptr; },
                        error);
}

WalReadResult ReadRecordAtIfCached(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                                   uint8_t* out, size_t room, std::string* error) {
  return ReadRecordInto(dir, at, sequence, length, [out, room](size_t span) { return span <= room ? out : nullptr; },
                        error, true);
}

bool ListWalSegments(const std::string& dir, std::vector<uint64_t>* first_sequences, std::string* error) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    *error = ErrnoMessage("open directory " + dir, errno);
    return false;
  }
  first_sequences->clear();
  while (const dirent* entry = readdir(d)) {
    uint64_t first;
    if (wal::ParseSegmentName(entry->d_name, &first)) first_sequences->push_back(first);
  }
  closedir(d);
  std::sort(first_sequences->begin(), first_sequences->end());
  return true;
}

WalReader::WalReader(std::string dir, uint64_t after, std::vector<uint64_t> segments, size_t first)
    : dir_(std::move(dir)), after_(after), segments_(std::move(segments)), next_segment_(first) {}

WalReader::~WalReader() {
  if (fd_ >= 0) close(fd_);
}

std::unique_ptr<WalReader> WalReader::Open(const std::string& dir, uint64_t after, std::string* error) {
  std::vector<uint64_t> segments;
  if (!ListWalSegments(dir, &segments, error)) return nullptr;
  // Segment i holds sequences from segments[i] up to segments[i + 1] - 1, so the last segment whose
  // first sequence is ≤ after + 1 is where records > after begin.
  size_t first = 0;
  while (first + 1 < segments.size() && segments[first + 1] - 1 <= after) ++first;
  return std::unique_ptr<WalReader>(new WalReader(dir, after, std::move(segments), first));
}

bool WalReader::ReadAll(const std::string& dir, uint64_t after, std::vector<WalRecord>* out, std::string* error,
                        WalEnd* end) {
  std::unique_ptr<WalReader> reader = Open(dir, after, error);
  if (!reader) {
    if (end != nullptr) {
      end->kind = WalEnd::kIoError;
      end->message = *error;
    }
    return false;
  }
  WalRecord record;
  while (reader->Next(&record)) out->push_back(std::move(record));
  if (end != nullptr) *end = reader->end();
  const WalEnd::Kind kind = reader->end().kind;
  if (kind == WalEnd::kCorrupt || kind == WalEnd::kIoError) {
    *error = reader->end().message;
    return false;
  }
  return true;
}

bool WalReader::Next(WalRecord* record) {
  while (!done_) {
    if (fd_ < 0 && !OpenSegment()) continue;
    std::string reason;
    uint64_t bad_offset = 0;
    switch (ReadRecord(record, &reason, &bad_offset)) {
      case Step::kRecord:
        end_.next_sequence = ++expected_;
        end_.offset = block_offset_ + pos_;
        if (record->sequence > after_) return true;
        break;
      case Step::kSegmentEnd:
        close(fd_);
        fd_ = -1;
        break;
      case Step::kBad:
        StopAtBadRecord(name_, bad_offset, reason, next_segment_);
        break;
      case Step::kIoError:
        StopWithIoError(reason);
        break;
    }
  }
  return false;
}

bool WalReader::OpenSegment() {
  if (next_segment_ == segments_.size()) {
    done_ = true;
    return false;
  }
  const uint64_t first = segments_[next_segment_];
  const std::string name = wal::SegmentName(first);
  if (expected_ == 0) {
    expected_ = first;
  } else if (first != expected_) {
    StopAtBadRecord(name, 0, "segment starts at sequence " + std::to_string(first) + " where " +
                                 std::to_string(expected_) + " was expected",
                    next_segment_);
    return false;
  }
  const std::string path = dir_ + "/" + name;
  fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    StopWithIoError(ErrnoMessage("open " + path, errno));
    return false;
  }
  ++next_segment_;
  name_ = name;
  segment_ = first;
  end_.segment = name;
  end_.offset = 0;
  end_.next_sequence = expected_;
  std::string error;
  if (!LoadBlock(0, &error)) {
    StopWithIoError(error);
    return false;
  }
  return true;
}

bool WalReader::LoadBlock(uint64_t offset, std::string* error) {
  block_.resize(kBlockSize);
  const ssize_t n = ReadFully(fd_, block_.data(), kBlockSize, offset);
  if (n < 0) {
    *error = ErrnoMessage("read " + dir_ + "/" + name_, errno);
    return false;
  }
  block_.resize(static_cast<size_t>(n));
  block_offset_ = offset;
  pos_ = 0;
  return true;
}

WalReader::Step WalReader::ReadRecord(WalRecord* record, std::string* reason, uint64_t* bad_offset) {
  record->data.clear();
  bool in_record = false, keep = false;
  uint64_t start = 0;
  for (;;) {
    const size_t left = block_.size() - pos_;
    const uint64_t here = block_offset_ + pos_;
    *bad_offset = in_record ? start : here;
    if (left < kHeaderSize) {
      if (!AllZero(block_.data() + pos_, left)) {
        *reason = block_.size() == kBlockSize ? "nonzero block trailer" : "truncated fragment header";
        return Step::kBad;
      }
      if (block_.size() == kBlockSize) {
        if (!LoadBlock(block_offset_ + kBlockSize, reason)) return Step::kIoError;
        continue;
      }
      if (!in_record) return Step::kSegmentEnd;
      *reason = "record cut short by the end of the file";
      return Step::kBad;
    }
    const uint8_t* h = block_.data() + pos_;
    if (AllZero(h, kHeaderSize)) {
      if (!in_record) return Step::kSegmentEnd;
      *reason = "record cut short by zeros";
      return Step::kBad;
    }
    const size_t length = wal::GetLe(h + 4, 2);
    const uint8_t kind = h[6], type = h[7];
    const uint64_t sequence = wal::GetLe(h + 8, 8);
    if (kind < wal::kFull || kind > wal::kLast) {
      *reason = "bad fragment kind " + std::to_string(kind);
    } else if (length > left - kHeaderSize) {
      *reason = pos_ + kHeaderSize + length > kBlockSize ? "fragment overruns its block"
                                                          : "fragment cut short by the end of the file";
    } else if (wal::GetLe(h, 4) != wal::FragmentChecksum(h, h + kHeaderSize, length)) {
      *reason = "checksum mismatch";
    } else if (sequence != expected_) {
      *reason = "sequence " + std::to_string(sequence) + " where " + std::to_string(expected_) + " was expected";
    } else if (in_record != (kind == wal::kMiddle || kind == wal::kLast)) {
      *reason = in_record ? "record restarts before its LAST fragment" : "MIDDLE or LAST fragment without a FIRST";
    } else if (in_record && type != record->type) {
      *reason = "type changes within the record";
    } else if ((kind == wal::kFirst || kind == wal::kMiddle) && pos_ + kHeaderSize + length != kBlockSize) {
      *reason = "FIRST or MIDDLE fragment ends before its block";
    } else if ((kind == wal::kMiddle || kind == wal::kLast) && length == 0) {
      // Each later fragment starts a block and carries what is left: a writer never makes one empty.
      *reason = "empty MIDDLE or LAST fragment";
    } else {
      if (!in_record) {
        in_record = true;
        start = here;
        record->sequence = sequence;
        record->type = type;
        record->location = {segment_, here};
        keep = sequence > after_;
      }
      if (keep) record->data.insert(record->data.end(), h + kHeaderSize, h + kHeaderSize + length);
      pos_ += kHeaderSize + length;
      if (kind == wal::kFull || kind == wal::kLast) return Step::kRecord;
      continue;
    }
    return Step::kBad;
  }
}

void WalReader::StopAtBadRecord(const std::string& segment, uint64_t offset, const std::string& reason,
                                size_t first_later_segment) {
  done_ = true;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  end_.message = segment + " at byte " + std::to_string(offset) + ": " + reason;
  for (size_t i = first_later_segment; i < segments_.size(); ++i) {
    std::string error;
    const std::string later = wal::SegmentName(segments_[i]);
    const int intact = SegmentStartsIntact(dir_ + "/" + later, segments_[i], &error);
    if (intact < 0) return StopWithIoError(error);
    if (intact == 1) {
      end_.kind = WalEnd::kCorrupt;
      end_.message += ", yet " + later + " holds intact records after it";
      return;
    }
  }
  end_.kind = WalEnd::kTornTail;
}

void WalReader::StopWithIoError(const std::string& message) {
  done_ = true;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  end_.kind = WalEnd::kIoError;
  end_.message = message;
}

}  // namespace hive
