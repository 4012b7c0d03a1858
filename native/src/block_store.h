// The block store of one EBS volume ("viperblock"): 4096-byte blocks kept in memory and on local disk,
// while the EBS plugin moves their bytes to and from chunk objects in S3. It never does network I/O.
//
// State (formats: block_map_format.h):
//   dirty map — blocks written (or zeroed) since they were last put in a chunk: for each, the WAL
//               record holding its latest state (its sequence) and the bytes, or "zeros". Every write
//               and zero request is appended to the WAL (<dir>/wal) before it lands here.
//   block map — where each clean block's bytes live: (chunk, slot), kept as extents so a sequentially
//               written volume costs a few entries, not one per block. Unmapped and clean reads as zeros.
//   cache     — an LRU of chunk slots' bytes, keyed by (chunk, slot); chunks are immutable, so an
//               entry never goes stale.
// Moving dirty blocks into a chunk: Take picks dirty blocks and copies their bytes out; the caller
// uploads them as a chunk and then Commits the take (or Abandons it). A block rewritten meanwhile
// stays dirty, since its take remembered the sequence it had.
// Checkpoint writes the block map to <dir>/checkpoint and drops the WAL segments it makes redundant.
//
// Threads: one thread (the JS thread) makes every call, except PendingCheckpoint::Write, which runs
// anywhere. The WAL's I/O thread reports durability through atomics and options.on_durable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "block_map_format.h"
#include "wal_writer.h"

namespace hive {

struct BlockStoreOptions {
  // Bytes of chunk slots the cache holds; 0 caches nothing (every mapped block is a miss until filled).
  uint64_t cache_bytes = 64 << 20;
  uint64_t wal_segment_bytes = 64 << 20;
  // Called on the WAL's I/O thread, once per NotifyWhenDurable that returned false, when the durable
  // sequence reaches the one asked for or the WAL fails. Must not block or call into the store.
  std::function<void()> on_durable;
};

struct BlockStoreStats {
  uint64_t dirty_blocks = 0;   // written or zeroed blocks not yet committed to a chunk
  uint64_t dirty_bytes = 0;    // 4096 per dirty block holding data (zeroed ones hold none)
  uint64_t mapped_blocks = 0;
  uint64_t cache_bytes = 0;
  uint64_t cache_hits = 0;     // blocks read from the cache
  uint64_t cache_misses = 0;   // mapped blocks read that were not in it
  uint64_t wal_sequence = 0;   // the last WAL record appended
  uint64_t durable_sequence = 0;
};

// What Take hands over: the dirty blocks to put in one chunk.
struct TakenBlocks {
  uint64_t id = 0;
  std::vector<uint64_t> blocks;  // data blocks, ascending; blocks[i] goes in slot i
  std::vector<uint64_t> zeros;   // zeroed blocks as runs: first, count, first, count, …
  std::unique_ptr<uint8_t[]> data;  // blocks.size() × 4096 bytes, slot i at i × 4096
};

namespace block_store_internal {

// A write request's bytes as they go to the WAL (block_map_format.h's write payload): the dirty
// extents cut from one request share them, and the last one to go frees them. Owner thread only.
class Record {
 public:
  static Record* New(size_t payload_bytes);
  uint8_t* payload() { return reinterpret_cast<uint8_t*>(this + 1); }
  const uint8_t* block(uint64_t i) const {
    return reinterpret_cast<const uint8_t*>(this + 1) + block_map::kWriteHeaderBytes + i * block_map::kBlockBytes;
  }
  void Ref() { ++refs_; }
  void Unref();

 private:
  uint64_t refs_ = 1;
};

class RecordRef {
 public:
  RecordRef() = default;
  explicit RecordRef(Record* adopt) : r_(adopt) {}
  RecordRef(const RecordRef& o) : r_(o.r_) { if (r_ != nullptr) r_->Ref(); }
  RecordRef(RecordRef&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  RecordRef& operator=(RecordRef o) noexcept { std::swap(r_, o.r_); return *this; }
  ~RecordRef() { if (r_ != nullptr) r_->Unref(); }
  Record* get() const { return r_; }

 private:
  Record* r_ = nullptr;
};

// A dirty run: `count` blocks from one WAL record. record == nullptr: zeros.
struct DirtyExtent {
  uint64_t count = 0;
  uint64_t sequence = 0;
  RecordRef record;
  uint64_t offset = 0;  // index in record of this run's first block
  uint32_t taken = 0;   // takes holding this run (same sequence) that have not committed or abandoned
  DirtyExtent Tail(uint64_t skip) const { return {count - skip, sequence, record, offset + skip, taken}; }
};

// A mapped run: `count` blocks in consecutive slots of one chunk.
struct MapExtent {
  uint64_t count = 0;
  uint64_t chunk = 0;
  uint32_t slot = 0;
  MapExtent Tail(uint64_t skip) const { return {count - skip, chunk, static_cast<uint32_t>(slot + skip)}; }
};

// Non-overlapping extents keyed by first block; V has `count` and Tail(skip). Erased nodes are kept
// for the next insert, so a steady stream of writes does not allocate map nodes.
template <typename V>
class ExtentMap {
 public:
  using Map = std::map<uint64_t, V>;
  using iterator = typename Map::iterator;

  iterator begin() { return map_.begin(); }
  iterator end() { return map_.end(); }
  typename Map::const_iterator begin() const { return map_.begin(); }
  typename Map::const_iterator end() const { return map_.end(); }
  size_t size() const { return map_.size(); }
  uint64_t blocks() const { return blocks_; }

  // The extent holding `block`, or else the first one after it.
  iterator Find(uint64_t block) {
    auto it = map_.upper_bound(block);
    if (it != map_.begin()) {
      auto prev = std::prev(it);
      if (block - prev->first < prev->second.count) return prev;
    }
    return it;
  }

  // Cuts the extent holding `block` in two so that one starts there; returns the extent starting at
  // `block`, or the first after it.
  iterator SplitAt(uint64_t block) {
    auto it = Find(block);
    if (it == map_.end() || it->first >= block) return it;
    const uint64_t skip = block - it->first;
    V tail = it->second.Tail(skip);
    it->second.count = skip;
    blocks_ -= tail.count;
    return Insert(std::next(it), block, std::move(tail));
  }

  iterator Insert(iterator hint, uint64_t first, V value) {
    blocks_ += value.count;
    if (spare_.empty()) return map_.emplace_hint(hint, first, std::move(value));
    auto node = std::move(spare_.back());
    spare_.pop_back();
    node.key() = first;
    node.mapped() = std::move(value);
    return map_.insert(hint, std::move(node));
  }

  // Lengthens an extent in place (a run that continues it).
  void Extend(iterator it, uint64_t blocks) {
    it->second.count += blocks;
    blocks_ += blocks;
  }

  iterator Erase(iterator it) {
    blocks_ -= it->second.count;
    auto next = std::next(it);
    auto node = map_.extract(it);
    node.mapped() = V{};
    if (spare_.size() < kSpareNodes) spare_.push_back(std::move(node));
    return next;
  }

  void Clear() {
    map_.clear();
    blocks_ = 0;
  }

 private:
  static constexpr size_t kSpareNodes = 256;
  Map map_;
  std::vector<typename Map::node_type> spare_;
  uint64_t blocks_ = 0;
};

// LRU of chunk slots, all memory allocated at construction: a slab of capacity × 4096 bytes, an entry
// per slab block on a doubly linked list (most recent first), and an open-addressing table.
class BlockCache {
 public:
  explicit BlockCache(uint64_t capacity_bytes);
  // The slot's bytes, now most recently used; nullptr if absent.
  const uint8_t* Find(uint64_t chunk, uint32_t slot);
  void Insert(uint64_t chunk, uint32_t slot, const uint8_t* data);
  uint64_t bytes() const { return entries_.size() * block_map::kBlockBytes; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Entry {
    uint64_t chunk;
    uint32_t slot;
    uint32_t prev, next;
  };
  size_t Home(uint64_t chunk, uint32_t slot) const;
  size_t Position(uint64_t chunk, uint32_t slot) const;  // table index holding it, or of the empty cell ending its probe
  void EraseAt(size_t position);
  void Unlink(uint32_t e);
  void PushFront(uint32_t e);

  size_t capacity_;
  std::unique_ptr<uint8_t[]> slab_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> table_;  // entry index + 1; 0 is an empty cell
  size_t mask_ = 0;
  uint32_t head_ = kNone, tail_ = kNone;
};

}  // namespace block_store_internal

class BlockStore {
 public:
  // Opens (creating) the store in `dir`: loads <dir>/checkpoint if there is one, then replays every
  // record left in the WAL into the dirty map. nullptr and *error on failure (a corrupt checkpoint,
  // a corrupt WAL, another process holding the store).
  static std::unique_ptr<BlockStore> Open(const std::string& dir, const BlockStoreOptions& options, std::string* error);

  // Appends one WAL record for `count` blocks from `data` (count × 4096 bytes) starting at `first`
  // and makes them dirty, so reads see them at once. Returns the record's sequence: the write is
  // durable once durable_sequence() reaches it. 0 and *error once the WAL has failed or is closed.
  uint64_t Write(uint64_t first, const uint8_t* data, uint64_t count, std::string* error);
  // As Write, for `count` blocks of zeros (TRIM, WRITE_ZEROES): one run, whatever the count.
  uint64_t Zero(uint64_t first, uint64_t count, std::string* error);

  // Fills out (count × 4096 bytes) with blocks first… from the dirty map, else the cache, else zeros
  // if unmapped. Returns the blocks it could not fill (mapped to a slot not in the cache, `out` left
  // as it was there) as triples block, chunk, slot; empty when out is complete. The vector is reused
  // by the next call.
  const std::vector<uint64_t>& Read(uint64_t first, uint64_t count, uint8_t* out);
  // Caches `count` slots of `chunk` from `slot` on, from data (count × 4096 bytes).
  void Fill(uint64_t chunk, uint32_t slot, const uint8_t* data, uint64_t count);

  // Picks dirty runs not already taken, ascending, until max_entries entries (a data block is one
  // entry, a run of zeroed blocks is one), or, with all, every dirty run, taken or not. False when
  // there is nothing to take.
  bool Take(uint64_t max_entries, bool all, TakenBlocks* out);
  // The take's blocks that still have the state they were taken with move to the block map: data
  // blocks to (chunk, their slot), into the cache too; zeroed blocks are unmapped. False and *error
  // for an unknown take (already committed or abandoned).
  bool Commit(uint64_t id, uint64_t chunk, std::string* error);
  bool Abandon(uint64_t id, std::string* error);

  // Durability. Sequences are the WAL's: one per Write or Zero, consecutive from 1.
  uint64_t last_sequence() const { return last_sequence_; }
  uint64_t durable_sequence() const { return durable_.load(); }
  // The WAL's I/O error, "" while it works. Thread-safe.
  std::string failure() const;
  // Asks for options.on_durable once `sequence` is durable or the WAL fails. True if that is already
  // so (then on_durable may or may not run). Only the latest request counts.
  bool NotifyWhenDurable(uint64_t sequence);
  // Blocks until every record appended so far is durable; false and *error if the WAL failed.
  bool Flush(std::string* error);

  // A checkpoint's contents, taken on the owning thread; Write stores it from any thread.
  class PendingCheckpoint {
   public:
    // Writes <dir>/checkpoint atomically, then deletes the WAL segments it covers. A checkpoint
    // taken earlier than one already written does nothing, so out-of-order completion is harmless.
    bool Write(std::string* error);

   private:
    friend class BlockStore;
    struct Shared;
    std::shared_ptr<Shared> shared_;
    std::shared_ptr<WalWriter> wal_;
    std::vector<uint8_t> bytes_;
    uint64_t delete_up_to_ = 0;
    uint64_t generation_ = 0;
  };
  std::unique_ptr<PendingCheckpoint> PrepareCheckpoint();
  bool Checkpoint(std::string* error) { return PrepareCheckpoint()->Write(error); }

  // The block map in the map format.
  std::vector<uint8_t> ExportMap() const;
  // Replaces the map of a store with no mapped and no dirty blocks (a volume from a snapshot).
  bool ImportMap(const uint8_t* map, size_t len, std::string* error);

  BlockStoreStats stats() const;

  // Makes every appended record durable and closes the WAL; later calls fail. Idempotent.
  void Close();
  bool closed() const { return closed_; }
  ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

 private:
  struct TakenRun {
    uint64_t first, count, sequence;
    uint64_t slot;  // of the run's first block; UINT64_MAX for zeros
  };

  BlockStore(std::string dir, const BlockStoreOptions& options);
  bool LoadCheckpoint(std::string* error);
  bool Replay(const WalRecord& record, std::string* error);
  void OnWalDone(uint64_t sequence, const std::string& error);
  bool Usable(std::string* error) const;
  void SetDirty(uint64_t first, block_store_internal::DirtyExtent extent);
  block_store_internal::ExtentMap<block_store_internal::DirtyExtent>::iterator EraseDirty(
      block_store_internal::ExtentMap<block_store_internal::DirtyExtent>::iterator it);
  void Map(uint64_t first, uint64_t count, uint64_t chunk, uint32_t slot);
  void Unmap(uint64_t first, uint64_t count);
  // Calls fn(it) for each dirty extent in [run.first, +count) still holding the run's sequence,
  // split to fit the run when `split`; fn returns the iterator to go on from.
  template <typename Fn>
  void ForEachStillTaken(const TakenRun& run, bool split, Fn&& fn);

  const std::string dir_;
  const BlockStoreOptions options_;
  std::shared_ptr<WalWriter> wal_;
  bool closed_ = false;

  block_store_internal::ExtentMap<block_store_internal::DirtyExtent> dirty_;
  uint64_t dirty_data_blocks_ = 0;
  block_store_internal::ExtentMap<block_store_internal::MapExtent> map_;
  block_store_internal::BlockCache cache_;
  uint64_t cache_hits_ = 0, cache_misses_ = 0;
  std::vector<uint64_t> misses_;

  std::unordered_map<uint64_t, std::vector<TakenRun>> takes_;
  uint64_t next_take_ = 1;

  uint64_t last_sequence_ = 0;
  std::atomic<uint64_t> durable_{0};
  std::atomic<uint64_t> notify_at_{UINT64_MAX};
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;  // guards failure_; the condition variable's
  std::condition_variable durable_cv_;
  std::atomic<int> sleepers_{0};
  std::string failure_;

  std::shared_ptr<PendingCheckpoint::Shared> checkpoint_shared_;
  uint64_t checkpoint_generation_ = 0;
};

}  // namespace hive
