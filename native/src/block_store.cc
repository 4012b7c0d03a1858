#include "block_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "crc32c.h"
#include "wal_format.h"
#include "wal_reader.h"

namespace hive {

using block_map::kBlockBytes;
using block_store_internal::BlockCache;
using block_store_internal::DirtyExtent;
using block_store_internal::MapExtent;
using block_store_internal::Record;
using block_store_internal::RecordRef;
using wal::GetLe;
using wal::PutLe;

namespace {

// Slots are u32 (block_map_format.h), so a chunk, and so a take, holds at most this many blocks.
constexpr uint64_t kMaxSlots = uint64_t{1} << 32;
constexpr uint64_t kZeroRun = UINT64_MAX;  // TakenRun::slot of a run of zeros

std::string ErrnoMessage(const std::string& what, int err) { return what + ": " + std::system_category().message(err); }

bool WriteAll(int fd, const uint8_t* data, size_t len) {
  for (size_t done = 0; done < len;) {
    const ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

// Appends the map format's encoding of `map`.
void EncodeMap(const block_store_internal::ExtentMap<MapExtent>& map, std::vector<uint8_t>* out) {
  const size_t start = out->size();
  out->resize(start + block_map::kMapHeaderBytes + map.size() * block_map::kExtentBytes + block_map::kCrcBytes);
  uint8_t* p = out->data() + start;
  std::memcpy(p, block_map::kMapMagic, 4);
  PutLe(p + 4, block_map::kMapVersion, 4);
  PutLe(p + 8, map.size(), 8);
  p += block_map::kMapHeaderBytes;
  for (const auto& [first, e] : map) {
    PutLe(p, first, 8);
    PutLe(p + 8, e.count, 4);
    PutLe(p + 12, e.slot, 4);
    PutLe(p + 16, e.chunk, 8);
    p += block_map::kExtentBytes;
  }
  const size_t covered = static_cast<size_t>(p - (out->data() + start));
  PutLe(p, Crc32c(out->data() + start, covered), 4);
}

// True when a run of `count` blocks at (chunk, slot) from block `first` continues `prev`.
bool Continues(const std::pair<const uint64_t, MapExtent>& prev, uint64_t first, uint64_t count, uint64_t chunk,
               uint64_t slot) {
  const MapExtent& p = prev.second;
  return prev.first + p.count == first && p.chunk == chunk && p.slot + p.count == slot &&
         p.count + count <= UINT32_MAX;
}

// Decodes a map (block_map_format.h) into *out, which must be empty, merging runs that continue each other.
bool DecodeMap(const uint8_t* p, size_t len, block_store_internal::ExtentMap<MapExtent>* out, std::string* error) {
  if (len < block_map::kMapHeaderBytes + block_map::kCrcBytes || std::memcmp(p, block_map::kMapMagic, 4) != 0) {
    *error = "not a block map (no HVBM header)";
    return false;
  }
  if (GetLe(p + 4, 4) != block_map::kMapVersion) {
    *error = "block map version " + std::to_string(GetLe(p + 4, 4)) + " is not supported";
    return false;
  }
  const uint64_t count = GetLe(p + 8, 8);
  const uint64_t room = (len - block_map::kMapHeaderBytes - block_map::kCrcBytes) / block_map::kExtentBytes;
  if (count > room || block_map::kMapHeaderBytes + count * block_map::kExtentBytes + block_map::kCrcBytes != len) {
    *error = "block map of " + std::to_string(len) + " bytes cannot hold " + std::to_string(count) + " extents";
    return false;
  }
  const size_t covered = len - block_map::kCrcBytes;
  if (Crc32c(p, covered) != GetLe(p + covered, 4)) {
    *error = "block map checksum mismatch";
    return false;
  }
  uint64_t next_free = 0;  // the first block after the previous extent
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* e = p + block_map::kMapHeaderBytes + i * block_map::kExtentBytes;
    const uint64_t first = GetLe(e, 8), n = GetLe(e + 8, 4), slot = GetLe(e + 12, 4), chunk = GetLe(e + 16, 8);
    if (n == 0 || first > UINT64_MAX - n || slot + n > kMaxSlots || (i > 0 && first < next_free)) {
      *error = "block map extent " + std::to_string(i) + " is empty, overflows or is out of order";
      out->Clear();
      return false;
    }
    next_free = first + n;
    if (out->size() > 0 && Continues(*std::prev(out->end()), first, n, chunk, slot)) {
      out->Extend(std::prev(out->end()), n);
      continue;
    }
    out->Insert(out->end(), first, MapExtent{n, chunk, static_cast<uint32_t>(slot)});
  }
  return true;
}

}  // namespace

namespace block_store_internal {

Record* Record::New(size_t payload_bytes) { return new (::operator new(sizeof(Record) + payload_bytes)) Record(); }

void Record::Unref() {
  if (--refs_ > 0) return;
  this->~Record();
  ::operator delete(this);
}

BlockCache::BlockCache(uint64_t capacity_bytes)
    : capacity_(static_cast<size_t>(std::min<uint64_t>(capacity_bytes / kBlockBytes, kNone - 1))) {
  if (capacity_ == 0) return;
  slab_.reset(new uint8_t[capacity_ * kBlockBytes]);  // not zeroed: pages are touched only as slots fill
  entries_.reserve(capacity_);
  size_t cells = 2;
  while (cells < 2 * capacity_) cells *= 2;  // at most half full, so every probe ends at an empty cell
  table_.assign(cells, 0);
  mask_ = cells - 1;
}

size_t BlockCache::Home(uint64_t chunk, uint32_t slot) const {
  uint64_t x = (chunk * 0x9E3779B97F4A7C15ull) ^ slot;
  x ^= x >> 32;
  x *= 0xD6E8FEB86659FD93ull;
  x ^= x >> 32;
  return static_cast<size_t>(x) & mask_;
}

size_t BlockCache::Position(uint64_t chunk, uint32_t slot) const {
  size_t i = Home(chunk, slot);
  while (table_[i] != 0) {
    const Entry& e = entries_[table_[i] - 1];
    if (e.chunk == chunk && e.slot == slot) return i;
    i = (i + 1) & mask_;
  }
  return i;
}

// Linear probing's deletion without tombstones: later entries of the probe run move back into the hole
// when the hole lies between their home cell and where they are.
void BlockCache::EraseAt(size_t i) {
  for (size_t j = (i + 1) & mask_; table_[j] != 0; j = (j + 1) & mask_) {
    const Entry& e = entries_[table_[j] - 1];
    const size_t home = Home(e.chunk, e.slot);
    const bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      table_[i] = table_[j];
      i = j;
    }
  }
  table_[i] = 0;
}

void BlockCache::Unlink(uint32_t e) {
  Entry& x = entries_[e];
  (x.prev == kNone ? head_ : entries_[x.prev].next) = x.next;
  (x.next == kNone ? tail_ : entries_[x.next].prev) = x.prev;
}

void BlockCache::PushFront(uint32_t e) {
  entries_[e].prev = kNone;
  entries_[e].next = head_;
  (head_ == kNone ? tail_ : entries_[head_].prev) = e;
  head_ = e;
}

const uint8_t* BlockCache::Find(uint64_t chunk, uint32_t slot) {
  if (capacity_ == 0) return nullptr;
  const uint32_t cell = table_[Position(chunk, slot)];
  if (cell == 0) return nullptr;
  const uint32_t e = cell - 1;
  if (head_ != e) {
    Unlink(e);
    PushFront(e);
  }
  return slab_.get() + size_t{e} * kBlockBytes;
}

void BlockCache::Insert(uint64_t chunk, uint32_t slot, const uint8_t* data) {
  if (capacity_ == 0) return;
  size_t position = Position(chunk, slot);
  if (table_[position] != 0) {  // chunks are immutable: the bytes are the same, only recency changes
    const uint32_t e = table_[position] - 1;
    Unlink(e);
    PushFront(e);
    return;
  }
  uint32_t e;
  if (entries_.size() < capacity_) {
    e = static_cast<uint32_t>(entries_.size());
    entries_.push_back({chunk, slot, kNone, kNone});
  } else {
    e = tail_;
    Unlink(e);
    EraseAt(Position(entries_[e].chunk, entries_[e].slot));
    entries_[e].chunk = chunk;
    entries_[e].slot = slot;
    position = Position(chunk, slot);  // the erase may have moved cells
  }
  table_[position] = e + 1;
  std::memcpy(slab_.get() + size_t{e} * kBlockBytes, data, kBlockBytes);
  PushFront(e);
}

}  // namespace block_store_internal

struct BlockStore::PendingCheckpoint::Shared {
  std::string dir;
  std::mutex mu;  // serializes writers, so the newest checkpoint is the one left on disk
  uint64_t written = 0;  // guarded by mu: the generation of the checkpoint on disk
};

BlockStore::BlockStore(std::string dir, const BlockStoreOptions& options)
    : dir_(std::move(dir)), options_(options), cache_(options.cache_bytes),
      checkpoint_shared_(std::make_shared<PendingCheckpoint::Shared>()) {
  checkpoint_shared_->dir = dir_;
}

BlockStore::~BlockStore() { Close(); }

std::unique_ptr<BlockStore> BlockStore::Open(const std::string& dir, const BlockStoreOptions& options,
                                             std::string* error) {
  std::unique_ptr<BlockStore> store(new BlockStore(dir, options));
  WalOptions wal_options;
  wal_options.segment_bytes = options.wal_segment_bytes;
  // The WAL first: it creates the directory and its lock keeps a second process off the whole store.
  std::unique_ptr<WalWriter> wal = WalWriter::Open(dir + "/wal", wal_options, error);
  if (!wal) return nullptr;
  store->wal_ = std::move(wal);
  if (!store->LoadCheckpoint(error)) return nullptr;

  // Every record the WAL still holds is replayed, oldest first, even those whose blocks were put in a
  // chunk after it (they are simply taken and stored again). That yields each block's latest state:
  // a checkpoint only removes a prefix of the log, records ≤ s where s is below every sequence that
  // was still dirty when its map was taken. So a block whose latest record is gone had that record
  // committed into the checkpoint's map, and a block with any record left gets its latest one last.
  std::unique_ptr<WalReader> reader = WalReader::Open(dir + "/wal", 0, error);
  if (!reader) return nullptr;
  WalRecord record;
  while (reader->Next(&record)) {
    if (!store->Replay(record, error)) return nullptr;
  }
  if (reader->end().kind == WalEnd::kCorrupt || reader->end().kind == WalEnd::kIoError) {
    *error = "replay " + dir + "/wal: " + reader->end().message;
    return nullptr;
  }
  store->last_sequence_ = store->wal_->last_sequence();
  store->durable_.store(store->last_sequence_);
  return store;
}

bool BlockStore::LoadCheckpoint(std::string* error) {
  const std::string path = dir_ + "/checkpoint";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return true;
    *error = ErrnoMessage("open " + path, errno);
    return false;
  }
  std::vector<uint8_t> bytes;
  uint8_t buffer[1 << 16];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = ErrnoMessage("read " + path, errno);
      close(fd);
      return false;
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buffer, buffer + n);
  }
  close(fd);
  if (bytes.size() < block_map::kCheckpointHeaderBytes || std::memcmp(bytes.data(), block_map::kCheckpointMagic, 4) != 0 ||
      GetLe(bytes.data() + 4, 4) != block_map::kCheckpointVersion) {
    *error = "checkpoint " + path + " is corrupt: no HVCP version 1 header";
    return false;
  }
  std::string why;
  if (!DecodeMap(bytes.data() + block_map::kCheckpointHeaderBytes, bytes.size() - block_map::kCheckpointHeaderBytes,
                 &map_, &why)) {
    *error = "checkpoint " + path + " is corrupt: " + why;
    return false;
  }
  return true;
}

bool BlockStore::Replay(const WalRecord& record, std::string* error) {
  const std::vector<uint8_t>& d = record.data;
  const uint64_t first = d.size() >= 8 ? GetLe(d.data(), 8) : 0;
  if (record.type == block_map::kWriteRecord && d.size() >= block_map::kWriteHeaderBytes) {
    const uint64_t count = GetLe(d.data() + 8, 4);
    if (count > 0 && first <= UINT64_MAX - count && d.size() == block_map::kWriteHeaderBytes + count * kBlockBytes) {
      Record* r = Record::New(d.size());
      std::memcpy(r->payload(), d.data(), d.size());
      SetDirty(first, DirtyExtent{count, record.sequence, RecordRef(r), 0, 0});
      return true;
    }
  } else if (record.type == block_map::kZeroRecord && d.size() == block_map::kZeroRecordBytes) {
    const uint64_t count = GetLe(d.data() + 8, 8);
    if (count > 0 && first <= UINT64_MAX - count) {
      SetDirty(first, DirtyExtent{count, record.sequence, RecordRef(), 0, 0});
      return true;
    }
  }
  *error = "replay " + dir_ + "/wal: record " + std::to_string(record.sequence) + " (type " +
           std::to_string(record.type) + ", " + std::to_string(d.size()) + " bytes) is not a block store write or zero";
  return false;
}

bool BlockStore::Usable(std::string* error) const {
  if (closed_) {
    *error = "the block store " + dir_ + " is closed";
    return false;
  }
  if (failed_.load()) {
    *error = failure();
    return false;
  }
  return true;
}

uint64_t BlockStore::Write(uint64_t first, const uint8_t* data, uint64_t count, std::string* error) {
  if (!Usable(error)) return 0;
  if (count == 0 || count > UINT32_MAX || first > UINT64_MAX - count) {
    *error = "a write needs 1 to 2^32-1 blocks within the 64-bit block range";
    return 0;
  }
  const size_t bytes = block_map::kWriteHeaderBytes + count * kBlockBytes;
  RecordRef record(Record::New(bytes));
  uint8_t* payload = record.get()->payload();
  PutLe(payload, first, 8);
  PutLe(payload + 8, count, 4);
  std::memcpy(payload + block_map::kWriteHeaderBytes, data, count * kBlockBytes);
  const uint64_t sequence = wal_->Append(block_map::kWriteRecord, payload, bytes,
                                         [this](uint64_t s, const std::string& e, const WalLocation&) { OnWalDone(s, e); });
  if (sequence == 0) {
    *error = failed_.load() ? failure() : "the write-ahead log of " + dir_ + " has failed";
    return 0;
  }
  last_sequence_ = sequence;
  SetDirty(first, DirtyExtent{count, sequence, std::move(record), 0, 0});
  return sequence;
}

uint64_t BlockStore::Zero(uint64_t first, uint64_t count, std::string* error) {
  if (!Usable(error)) return 0;
  if (count == 0 || first > UINT64_MAX - count) {
    *error = "a zero needs at least 1 block within the 64-bit block range";
    return 0;
  }
  uint8_t payload[block_map::kZeroRecordBytes];
  PutLe(payload, first, 8);
  PutLe(payload + 8, count, 8);
  const uint64_t sequence = wal_->Append(block_map::kZeroRecord, payload, sizeof payload,
                                         [this](uint64_t s, const std::string& e, const WalLocation&) { OnWalDone(s, e); });
  if (sequence == 0) {
    *error = failed_.load() ? failure() : "the write-ahead log of " + dir_ + " has failed";
    return 0;
  }
  last_sequence_ = sequence;
  SetDirty(first, DirtyExtent{count, sequence, RecordRef(), 0, 0});
  return sequence;
}

void BlockStore::SetDirty(uint64_t first, DirtyExtent extent) {
  const uint64_t end = first + extent.count;
  auto it = dirty_.SplitAt(first);
  dirty_.SplitAt(end);
  while (it != dirty_.end() && it->first < end) it = EraseDirty(it);
  if (extent.record.get() != nullptr) dirty_data_blocks_ += extent.count;
  dirty_.Insert(it, first, std::move(extent));
}

block_store_internal::ExtentMap<DirtyExtent>::iterator BlockStore::EraseDirty(
    block_store_internal::ExtentMap<DirtyExtent>::iterator it) {
  if (it->second.record.get() != nullptr) dirty_data_blocks_ -= it->second.count;
  return dirty_.Erase(it);
}

void BlockStore::Unmap(uint64_t first, uint64_t count) {
  const uint64_t end = first + count;
  auto it = map_.SplitAt(first);
  map_.SplitAt(end);
  while (it != map_.end() && it->first < end) it = map_.Erase(it);
}

void BlockStore::Map(uint64_t first, uint64_t count, uint64_t chunk, uint32_t slot) {
  Unmap(first, count);
  auto next = map_.Find(first + count);
  uint64_t start = first;
  MapExtent extent{count, chunk, slot};
  if (next != map_.begin()) {
    auto prev = std::prev(next);
    if (Continues(*prev, first, count, chunk, slot)) {
      start = prev->first;
      extent = MapExtent{prev->second.count + count, chunk, prev->second.slot};
      map_.Erase(prev);
    }
  }
  if (next != map_.end() && Continues({start, extent}, next->first, next->second.count, next->second.chunk,
                                      next->second.slot)) {
    extent.count += next->second.count;
    next = map_.Erase(next);
  }
  map_.Insert(next, start, extent);
}

const std::vector<uint64_t>& BlockStore::Read(uint64_t first, uint64_t count, uint8_t* out) {
  misses_.clear();
  const uint64_t end = first + count;
  auto d = dirty_.Find(first);
  auto m = map_.Find(first);
  for (uint64_t b = first; b < end;) {
    uint8_t* o = out + (b - first) * kBlockBytes;
    while (d != dirty_.end() && d->first + d->second.count <= b) ++d;
    if (d != dirty_.end() && d->first <= b) {
      const uint64_t n = std::min(end, d->first + d->second.count) - b;
      const Record* r = d->second.record.get();
      if (r != nullptr) std::memcpy(o, r->block(d->second.offset + (b - d->first)), n * kBlockBytes);
      else std::memset(o, 0, n * kBlockBytes);
      b += n;
      continue;
    }
    const uint64_t clean_end = d != dirty_.end() ? std::min(end, d->first) : end;
    while (m != map_.end() && m->first + m->second.count <= b) ++m;
    if (m != map_.end() && m->first <= b) {
      const uint64_t n = std::min(clean_end, m->first + m->second.count) - b;
      const uint64_t chunk = m->second.chunk;
      const uint32_t slot = static_cast<uint32_t>(m->second.slot + (b - m->first));
      for (uint64_t i = 0; i < n; ++i) {
        const uint8_t* cached = cache_.Find(chunk, static_cast<uint32_t>(slot + i));
        if (cached != nullptr) {
          std::memcpy(o + i * kBlockBytes, cached, kBlockBytes);
          ++cache_hits_;
        } else {
          misses_.insert(misses_.end(), {b + i, chunk, slot + i});
          ++cache_misses_;
        }
      }
      b += n;
    } else {
      const uint64_t n = (m != map_.end() ? std::min(clean_end, m->first) : clean_end) - b;
      std::memset(o, 0, n * kBlockBytes);
      b += n;
    }
  }
  return misses_;
}

void BlockStore::Fill(uint64_t chunk, uint32_t slot, const uint8_t* data, uint64_t count) {
  count = std::min(count, kMaxSlots - slot);
  for (uint64_t i = 0; i < count; ++i) cache_.Insert(chunk, static_cast<uint32_t>(slot + i), data + i * kBlockBytes);
}

bool BlockStore::Take(uint64_t max_entries, bool all, TakenBlocks* out) {
  if (closed_) return false;
  std::vector<TakenRun> runs;
  std::vector<const uint8_t*> sources;  // each data run's first block in its record
  uint64_t data_blocks = 0, entries = 0;
  for (auto it = dirty_.begin(); it != dirty_.end(); ++it) {
    DirtyExtent& e = it->second;
    if (!all && e.taken > 0) continue;
    if (!all && entries >= max_entries) break;
    if (e.record.get() == nullptr) {
      runs.push_back({it->first, e.count, e.sequence, kZeroRun});
      ++entries;
    } else {
      uint64_t n = std::min(e.count, kMaxSlots - 1 - data_blocks);
      if (!all) n = std::min(n, max_entries - entries);
      if (n == 0) break;
      if (n < e.count) dirty_.SplitAt(it->first + n);
      runs.push_back({it->first, n, e.sequence, data_blocks});
      sources.push_back(e.record.get()->block(e.offset));
      data_blocks += n;
      entries += n;
    }
    ++e.taken;
  }
  if (runs.empty()) return false;

  out->id = next_take_++;
  out->blocks.clear();
  out->zeros.clear();
  out->blocks.reserve(data_blocks);
  out->data.reset(data_blocks > 0 ? new uint8_t[data_blocks * kBlockBytes] : nullptr);
  size_t source = 0;
  for (const TakenRun& run : runs) {
    if (run.slot == kZeroRun) {
      out->zeros.insert(out->zeros.end(), {run.first, run.count});
      continue;
    }
    for (uint64_t i = 0; i < run.count; ++i) out->blocks.push_back(run.first + i);
    std::memcpy(out->data.get() + run.slot * kBlockBytes, sources[source++], run.count * kBlockBytes);
  }
  takes_.emplace(out->id, std::move(runs));
  return true;
}

template <typename Fn>
void BlockStore::ForEachStillTaken(const TakenRun& run, bool split, Fn&& fn) {
  const uint64_t end = run.first + run.count;
  auto it = dirty_.Find(run.first);
  while (it != dirty_.end() && it->first < end) {
    if (it->second.sequence != run.sequence) {
      ++it;
      continue;
    }
    if (split) {
      if (it->first < run.first) it = dirty_.SplitAt(run.first);
      if (it->first + it->second.count > end) dirty_.SplitAt(end);
    }
    it = fn(it);
  }
}

bool BlockStore::Commit(uint64_t id, uint64_t chunk, std::string* error) {
  auto take = takes_.find(id);
  if (take == takes_.end()) {
    *error = "no take " + std::to_string(id) + " (already committed or abandoned)";
    return false;
  }
  for (const TakenRun& run : take->second) {
    ForEachStillTaken(run, true, [&](auto it) {
      const uint64_t first = it->first, count = it->second.count;
      if (run.slot == kZeroRun) {
        Unmap(first, count);
      } else {
        const uint64_t slot = run.slot + (first - run.first);
        Map(first, count, chunk, static_cast<uint32_t>(slot));
        const Record* r = it->second.record.get();
        for (uint64_t i = 0; i < count; ++i) {
          cache_.Insert(chunk, static_cast<uint32_t>(slot + i), r->block(it->second.offset + i));
        }
      }
      return EraseDirty(it);
    });
  }
  takes_.erase(take);
  return true;
}

bool BlockStore::Abandon(uint64_t id, std::string* error) {
  auto take = takes_.find(id);
  if (take == takes_.end()) {
    *error = "no take " + std::to_string(id) + " (already committed or abandoned)";
    return false;
  }
  for (const TakenRun& run : take->second) {
    ForEachStillTaken(run, false, [](auto it) {
      if (it->second.taken > 0) --it->second.taken;
      return std::next(it);
    });
  }
  takes_.erase(take);
  return true;
}

void BlockStore::OnWalDone(uint64_t sequence, const std::string& error) {
  if (!error.empty()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failure_.empty()) failure_ = "the write-ahead log of " + dir_ + " failed: " + error;
    }
    failed_.store(true);
  } else {
    durable_.store(sequence);
  }
  if (sleepers_.load() > 0) {
    std::lock_guard<std::mutex> lock(mu_);
    durable_cv_.notify_all();
  }
  // At most one call per request: whoever swaps the threshold out makes it.
  uint64_t at = notify_at_.load();
  if ((failed_.load() || sequence >= at) && at != UINT64_MAX && notify_at_.compare_exchange_strong(at, UINT64_MAX) &&
      options_.on_durable) {
    options_.on_durable();
  }
}

std::string BlockStore::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

bool BlockStore::NotifyWhenDurable(uint64_t sequence) {
  // Pairs with OnWalDone's store of durable_ then load of notify_at_: one of the two sees the other.
  notify_at_.store(sequence);
  return durable_.load() >= sequence || failed_.load();
}

bool BlockStore::Flush(std::string* error) {
  const uint64_t target = last_sequence_;
  std::unique_lock<std::mutex> lock(mu_);
  ++sleepers_;
  durable_cv_.wait(lock, [&] { return durable_.load() >= target || failed_.load(); });
  --sleepers_;
  if (durable_.load() >= target) return true;
  *error = failure_;
  return false;
}

std::unique_ptr<BlockStore::PendingCheckpoint> BlockStore::PrepareCheckpoint() {
  std::unique_ptr<PendingCheckpoint> checkpoint(new PendingCheckpoint());
  checkpoint->shared_ = checkpoint_shared_;
  checkpoint->wal_ = wal_;
  checkpoint->generation_ = ++checkpoint_generation_;
  uint64_t lowest = UINT64_MAX;
  for (const auto& [first, e] : dirty_) lowest = std::min(lowest, e.sequence);
  checkpoint->delete_up_to_ = lowest == UINT64_MAX ? last_sequence_ : lowest - 1;
  std::vector<uint8_t>& bytes = checkpoint->bytes_;
  bytes.resize(block_map::kCheckpointHeaderBytes);
  std::memcpy(bytes.data(), block_map::kCheckpointMagic, 4);
  PutLe(bytes.data() + 4, block_map::kCheckpointVersion, 4);
  PutLe(bytes.data() + 8, last_sequence_, 8);
  EncodeMap(map_, &bytes);
  return checkpoint;
}

bool BlockStore::PendingCheckpoint::Write(std::string* error) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  if (generation_ <= shared_->written) return true;
  const std::string path = shared_->dir + "/checkpoint", tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = ErrnoMessage("create " + tmp, errno);
    return false;
  }
  if (!WriteAll(fd, bytes_.data(), bytes_.size()) || fsync(fd) != 0) {
    *error = ErrnoMessage("write " + tmp, errno);
    close(fd);
    return false;
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    *error = ErrnoMessage("rename " + tmp, errno);
    return false;
  }
  const int dir = open(shared_->dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0 || fsync(dir) != 0) {
    *error = ErrnoMessage("fsync directory " + shared_->dir, errno);
    if (dir >= 0) close(dir);
    return false;
  }
  close(dir);
  shared_->written = generation_;
  return wal_->DeleteUpTo(delete_up_to_, error);
}

std::vector<uint8_t> BlockStore::ExportMap() const {
  std::vector<uint8_t> out;
  EncodeMap(map_, &out);
  return out;
}

bool BlockStore::ImportMap(const uint8_t* map, size_t len, std::string* error) {
  if (!Usable(error)) return false;
  if (map_.blocks() > 0 || dirty_.blocks() > 0) {
    *error = "importing a block map needs an empty store; this one has " + std::to_string(map_.blocks()) +
             " mapped and " + std::to_string(dirty_.blocks()) + " dirty blocks";
    return false;
  }
  map_.Clear();
  return DecodeMap(map, len, &map_, error);
}

BlockStoreStats BlockStore::stats() const {
  BlockStoreStats s;
  s.dirty_blocks = dirty_.blocks();
  s.dirty_bytes = dirty_data_blocks_ * kBlockBytes;
  s.mapped_blocks = map_.blocks();
  s.cache_bytes = cache_.bytes();
  s.cache_hits = cache_hits_;
  s.cache_misses = cache_misses_;
  s.wal_sequence = last_sequence_;
  s.durable_sequence = durable_.load();
  return s;
}

void BlockStore::Close() {
  if (closed_) return;
  closed_ = true;
  if (wal_) wal_->Close();
}

}  // namespace hive
