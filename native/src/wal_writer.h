// Appends records to a write-ahead log directory (format: wal_format.h) with group commit: appends from
// any thread join an in-memory batch, and one I/O thread writes each batch with one pwrite and makes it
// durable with one fdatasync before acknowledging every record in it. While it syncs, new appends gather
// into the next batch, so the cost of a sync is shared by everything that arrived during the previous one.
//
// Durability contract: a record whose callback reported success survives a crash of the process or the
// machine; a record whose callback has not fired, or fired with an error, may or may not be in the log
// after recovery (if it is, it is intact and in sequence).
//
// Files: segments and recycled segments as wal_format.h describes, plus LOCK, which an open writer holds
// with flock so that a second writer on the same directory (in this process or another) fails to open
// instead of interleaving.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "wal_reader.h"

namespace hive {

struct WalOptions {
  // A segment is closed when the next record would take it past this size; a record bigger than this
  // gets a segment of its own. New segments are preallocated to this size.
  uint64_t segment_bytes = 64 << 20;
  // fdatasync each batch before acknowledging it. false acknowledges once the batch is in the page
  // cache: records then survive a process crash but not a machine crash.
  bool sync = true;
};

class WalWriter {
 public:
  // Called once per append, on the writer's I/O thread, with the record's sequence, "" and where it
  // landed once the record is durable (from then on ReadRecordAt can read it there), or an error message
  // and no location ({0, 0}). It must not throw or call Close.
  using Callback = std::function<void(uint64_t sequence, const std::string& error, const WalLocation& location)>;

  // Opens `dir`, creating it (and its parents) if needed, and recovers it: reads every segment,
  // truncates a torn tail (see wal_reader.h) and deletes segments that hold nothing but what followed
  // it, then continues the sequence after the last intact record. Fails, changing nothing, if the log is
  // corrupt before its tail or another writer holds the directory. nullptr and *error on failure.
  static std::unique_ptr<WalWriter> Open(const std::string& dir, const WalOptions& options, std::string* error);

  // Thread-safe and never waits for I/O: copies the payload, assigns the next sequence and returns it,
  // and later calls done(sequence, "") once the record is durable. An I/O error fails the writer for
  // good: the records of the batch it hit complete with their sequence and the error, every later
  // append with sequence 0 (also returned) and the error. After Close, done(0, error, {}) runs at once
  // on the calling thread.
  uint64_t Append(uint8_t type, const uint8_t* data, size_t len, Callback done);
  // As above, taking the payload it would otherwise copy.
  uint64_t Append(uint8_t type, std::vector<uint8_t> payload, Callback done);

  // Removes from the log, oldest first, each segment whose records all have sequence ≤ `sequence` (a
  // checkpoint); never the segment being written. A few removed files are kept as *.free for new
  // segments to reuse (wal_format.h says why), the rest are deleted. False and *error on a file error.
  bool DeleteUpTo(uint64_t sequence, std::string* error);

  // The sequence of the last record appended (durable or not); after Open, the last intact record's.
  uint64_t last_sequence() const;
  // fdatasync calls and batches written so far: with group commit, records ÷ batches is the batching factor.
  uint64_t syncs() const { return syncs_.load(std::memory_order_relaxed); }
  uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }

  // Writes and acknowledges every pending append, stops the I/O thread and closes the files. Idempotent.
  void Close();
  ~WalWriter();
  WalWriter(const WalWriter&) = delete;
  WalWriter& operator=(const WalWriter&) = delete;

 private:
  struct Pending {
    uint64_t sequence;
    uint8_t type;
    std::vector<uint8_t> data;
    Callback done;
    WalLocation location;  // set by WriteBatch
  };

  WalWriter(std::string dir, const WalOptions& options);
  bool Recover(std::string* error);
  void Run();
  size_t WriteBatch(std::vector<Pending>* batch, std::string* error);
  bool Flush(std::string* error);
  bool StartSegment(uint64_t first_sequence, uint64_t min_bytes, std::string* error);
  bool CollectFreeSegments(std::string* error);

  const std::string dir_;
  const WalOptions options_;
  int lock_fd_ = -1;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Pending> pending_;  // guarded by mu_: the batch gathering for the next write
  uint64_t last_sequence_ = 0;    // guarded by mu_
  bool failed_ = false;           // guarded by mu_
  bool closing_ = false;          // guarded by mu_

  // The I/O thread's own; Open sets them before it starts.
  int fd_ = -1;                   // the segment being written
  std::string path_;              // its path
  uint64_t segment_ = 0;          // its first sequence
  uint64_t offset_ = 0;           // where its next record goes
  std::vector<uint8_t> buffer_;   // encoded records not yet written, which belong at offset_
  std::string failure_;           // the first I/O error: once set, nothing more is written

  std::mutex segments_mu_;
  std::vector<uint64_t> segments_;  // guarded by segments_mu_: first sequences; back() is being written
  std::vector<std::string> free_;   // guarded by segments_mu_: paths of recycled segments

  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> batches_{0};
  std::mutex close_mu_;
  std::thread thread_;
};

}  // namespace hive
