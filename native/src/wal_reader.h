// Reads a write-ahead log directory (format: wal_format.h) record by record, in sequence order.
//
// What a reader returns is exactly what a writer wrote: every fragment's checksum, kind, sequence and
// place in its block are checked, so it never returns garbage. It stops at the first record that fails
// a check — the "bad record" — and says where and why; it never skips a bad record to read on.
//
// A bad record is either a torn tail or corruption. A crash can only tear what was written but not
// yet synced, and a writer syncs a segment before it creates the next one, so a crash's damage is
// always at the end of the log: whatever follows a bad record was never acknowledged. Hence:
//   torn tail  — no later segment begins with an intact record. Normal after a crash, and at the end
//                of a recycled segment (wal_format.h); the records before it are the whole durable
//                log, and WalWriter::Open truncates the rest away.
//   corruption — an intact record follows in a later segment, so the damage is inside the durable log
//                (media error, a segment deleted by hand). Reading fails, and WalWriter::Open refuses
//                the directory rather than drop records that may have been acknowledged.
// The limit of this: damage inside the last segment always reads as a torn tail, even a media error in
// an acknowledged record, since nothing on disk tells the two apart there.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hive {

// Where a record lies (wal_format.h): what an index of the log keeps to read one record back later.
struct WalLocation {
  uint64_t segment = 0;  // the segment's first sequence, i.e. its file name; 0 is no segment
  uint64_t offset = 0;   // the byte offset of the record's first fragment header in that segment
};

struct WalRecord {
  uint64_t sequence = 0;
  uint8_t type = 0;
  std::vector<uint8_t> data;
  WalLocation location;
};

// How a read ended, and where the intact log ends (where a writer continues).
struct WalEnd {
  enum Kind {
    kClean,      // reached the end of the log
    kTornTail,   // stopped at a bad record with nothing intact after it (a crash's leftover)
    kCorrupt,    // stopped at a bad record followed by intact records
    kIoError,    // a segment could not be listed, opened or read
  };
  Kind kind = kClean;
  std::string message;         // "<segment> at byte <n>: <reason>"; empty when kClean
  uint64_t next_sequence = 1;  // the sequence after the last intact record
  std::string segment;         // segment file name holding the end of the intact log; "" if none read
  uint64_t offset = 0;         // the byte just past its last intact record
};

class WalReader {
 public:
  // Lists the segments of `dir` and prepares to return the records with sequence > after. Segments
  // wholly ≤ after are not read at all. nullptr and *error when the directory cannot be listed.
  static std::unique_ptr<WalReader> Open(const std::string& dir, uint64_t after, std::string* error);

  // Every intact record with sequence > after, in order, appended to *out. True when the log ended
  // cleanly or at a torn tail; false, with *error saying where, on corruption or an I/O error (*out
  // then holds the records before the bad one). *end, when given, says how the read ended.
  static bool ReadAll(const std::string& dir, uint64_t after, std::vector<WalRecord>* out, std::string* error,
                      WalEnd* end = nullptr);

  // Fills *record with the next intact record and returns true; false once the log is over: end() says why.
  bool Next(WalRecord* record);
  const WalEnd& end() const { return end_; }

  ~WalReader();
  WalReader(const WalReader&) = delete;
  WalReader& operator=(const WalReader&) = delete;

 private:
  enum class Step { kRecord, kSegmentEnd, kBad, kIoError };

  WalReader(std::string dir, uint64_t after, std::vector<uint64_t> segments, size_t first);
  bool OpenSegment();
  Step ReadRecord(WalRecord* record, std::string* reason, uint64_t* bad_offset);
  bool LoadBlock(uint64_t offset, std::string* error);
  void StopAtBadRecord(const std::string& segment, uint64_t offset, const std::string& reason,
                       size_t first_later_segment);
  void StopWithIoError(const std::string& message);

  const std::string dir_;
  const uint64_t after_;
  const std::vector<uint64_t> segments_;  // first sequences of the segment files, ascending
  size_t next_segment_;                   // index in segments_ of the segment to open next
  bool done_ = false;
  uint64_t expected_ = 0;                 // the sequence the next record must carry

  int fd_ = -1;  // the segment being read
  std::string name_;
  uint64_t segment_ = 0;  // its first sequence
  std::vector<uint8_t> block_;  // the block at block_offset_ of that segment; shorter at its end
  uint64_t block_offset_ = 0;
  size_t pos_ = 0;  // read position in block_

  WalEnd end_;
};

enum class WalReadResult {
  kOk,
  kMissing,  // the segment file is gone (checkpointed by DeleteUpTo, recycled) or ends before the record
  kCorrupt,  // the bytes there are not that record: a checksum, kind, length, type or sequence is wrong
  kIoError,  // the segment could not be opened or read for another reason
  kNotCached,  // ReadRecordAtIfCached only: some of its bytes are not in the page cache (or the file ends
               // before it): ReadRecordAt reads it, or says what is wrong
  kCannotTell,  // ReadRecordAtIfCached only: this filesystem (tmpfs, some network filesystems) or kernel
                // cannot read without waiting, so asking again is wasted
};

// Reads the record `sequence` of `length` payload bytes at `at` alone, with one pread, checking every
// fragment as WalReader does, and sets *out to its payload; otherwise *error says what went wrong. The
// caller's index supplies sequence and length, so a stale or damaged location never passes for another
// record. Safe while a WalWriter appends to the same log: once a record's Append callback has reported
// success its bytes never change, until a checkpoint removes its segment (then kMissing, even part way).
WalReadResult ReadRecordAt(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                           std::vector<uint8_t>* out, std::string* error);

// As above, into the caller's `room` bytes at `out`, which must hold WalRecordSpan(at.offset, length)
// bytes (else kIoError): the record is read there whole, headers included, and its payload moved to the
// front, so a reader that reuses its buffers allocates nothing. The first `length` bytes are the payload.
WalReadResult ReadRecordAt(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                           uint8_t* out, size_t room, std::string* error);

// As the above, but never waiting for the disk: kNotCached unless every byte of the record is in the page
// cache, which makes it cheap enough to run on an event loop (a few microseconds for a small record,
// where handing the read to another thread costs more than the read). Any result but kOk, kNotCached and
// kCannotTell is as ReadRecordAt's.
WalReadResult ReadRecordAtIfCached(const std::string& dir, const WalLocation& at, uint64_t sequence, size_t length,
                                   uint8_t* out, size_t room, std::string* error);

// The bytes a record of `length` payload bytes at segment offset `offset` spans, fragment headers included.
size_t WalRecordSpan(uint64_t offset, size_t length);

// The first sequences of the segment files in `dir`, ascending. False and *error if it can't be listed.
bool ListWalSegments(const std::string& dir, std::vector<uint64_t>* first_sequences, std::string* error);

}  // namespace hive
