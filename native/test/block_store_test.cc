// The block store: reads see writes at once, dirty blocks move into chunks through take/commit,
// checkpoints and WAL replay bring a store back after a restart or a crash, and the extent maps agree
// with a per-block model under random operations. Each test works in its own temporary directory.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>

#include "block_map_format.h"
#include "block_store.h"
#include "check.h"
#include "crc32c.h"
#include "wal_format.h"
#include "wal_reader.h"

using hive::BlockStore;
using hive::BlockStoreOptions;
using hive::TakenBlocks;
using hive::block_map::kBlockBytes;
using Bytes = std::vector<uint8_t>;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    const char* env = getenv("TMPDIR");
    std::string tmpl = std::string(env != nullptr ? env : "/tmp") + "/block_store_test.XXXXXX";
    path = mkdtemp(&tmpl[0]);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::unique_ptr<BlockStore> OpenStore(const std::string& dir, uint64_t cache_bytes = 1 << 20,
                                      uint64_t segment_bytes = 1 << 20) {
  BlockStoreOptions options;
  options.cache_bytes = cache_bytes;
  options.wal_segment_bytes = segment_bytes;
  std::string error;
  std::unique_ptr<BlockStore> store = BlockStore::Open(dir, options, &error);
  if (!store) throw check::Failure{"BlockStore::Open(" + dir + "): " + error};
  return store;
}

// Block contents that name their version and block, so a stale or misplaced block cannot pass.
Bytes Blocks(uint32_t version, uint64_t first, uint64_t count) {
  Bytes b(count * kBlockBytes);
  for (uint64_t i = 0; i < count; ++i) {
    uint8_t* p = b.data() + i * kBlockBytes;
    for (size_t j = 0; j < kBlockBytes; ++j) p[j] = static_cast<uint8_t>(version * 131 + (first + i) * 7 + j);
    hive::wal::PutLe(p, version, 4);
    hive::wal::PutLe(p + 4, first + i, 8);
  }
  return b;
}

uint64_t Write(BlockStore& store, uint64_t first, const Bytes& data) {
  std::string error;
  const uint64_t sequence = store.Write(first, data.data(), data.size() / kBlockBytes, &error);
  if (sequence == 0) throw check::Failure{"Write: " + error};
  return sequence;
}

uint64_t Zero(BlockStore& store, uint64_t first, uint64_t count) {
  std::string error;
  const uint64_t sequence = store.Zero(first, count, &error);
  if (sequence == 0) throw check::Failure{"Zero: " + error};
  return sequence;
}

// Reads, and expects no misses.
Bytes Read(BlockStore& store, uint64_t first, uint64_t count) {
  Bytes out(count * kBlockBytes, 0xEE);
  const std::vector<uint64_t>& misses = store.Read(first, count, out.data());
  CHECK_EQ(misses.size(), 0u);
  return out;
}

void Commit(BlockStore& store, uint64_t id, uint64_t chunk) {
  std::string error;
  if (!store.Commit(id, chunk, &error)) throw check::Failure{"Commit: " + error};
}

void Flush(BlockStore& store) {
  std::string error;
  if (!store.Flush(&error)) throw check::Failure{"Flush: " + error};
}

void Checkpoint(BlockStore& store) {
  std::string error;
  if (!store.Checkpoint(&error)) throw check::Failure{"Checkpoint: " + error};
}

size_t SegmentCount(const std::string& dir) {
  std::vector<uint64_t> segments;
  std::string error;
  CHECK(hive::ListWalSegments(dir + "/wal", &segments, &error));
  return segments.size();
}

struct Extent {
  uint64_t first, count, slot, chunk;
};

std::vector<Extent> DecodeMap(const Bytes& map) {
  CHECK(map.size() >= 20);
  CHECK_EQ(hive::wal::GetLe(map.data() + 4, 4), 1u);
  const uint64_t n = hive::wal::GetLe(map.data() + 8, 8);
  CHECK_EQ(map.size(), 16 + n * 24 + 4);
  CHECK_EQ(hive::Crc32c(map.data(), map.size() - 4), hive::wal::GetLe(map.data() + map.size() - 4, 4));
  std::vector<Extent> out;
  for (uint64_t i = 0; i < n; ++i) {
    const uint8_t* e = map.data() + 16 + i * 24;
    out.push_back({hive::wal::GetLe(e, 8), hive::wal::GetLe(e + 8, 4), hive::wal::GetLe(e + 12, 4), hive::wal::GetLe(e + 16, 8)});
  }
  return out;
}

}  // namespace

TEST(WorkedExampleInBlockMapFormatHImportsAndExportsByteForByte) {
  const Bytes documented = {
      0x48, 0x56, 0x42, 0x4d, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0,
      10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0,
      0x7d, 0x57, 0x4e, 0xf1};
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  std::string error;
  CHECK(store->ImportMap(documented.data(), documented.size(), &error));
  CHECK(store->ExportMap() == documented);
  CHECK_EQ(store->stats().mapped_blocks, 4u);
}

TEST(WrittenBlocksReadBackAtOnce) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  CHECK_EQ(Write(*store, 10, Blocks(1, 10, 5)), 1u);
  CHECK_EQ(Write(*store, 12, Blocks(2, 12, 1)), 2u);
  Bytes want = Blocks(1, 10, 5);
  const Bytes newer = Blocks(2, 12, 1);
  std::copy(newer.begin(), newer.end(), want.begin() + 2 * kBlockBytes);
  CHECK(Read(*store, 10, 5) == want);
  CHECK_EQ(store->stats().dirty_blocks, 5u);
  CHECK_EQ(store->stats().dirty_bytes, 5 * kBlockBytes);
  Flush(*store);
  CHECK_EQ(store->durable_sequence(), 2u);
}

TEST(UnwrittenBlocksReadAsZeros) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  Write(*store, 3, Blocks(1, 3, 1));
  const Bytes got = Read(*store, 0, 8);
  CHECK(std::all_of(got.begin(), got.begin() + 3 * kBlockBytes, [](uint8_t b) { return b == 0; }));
  CHECK(std::all_of(got.begin() + 4 * kBlockBytes, got.end(), [](uint8_t b) { return b == 0; }));
  CHECK(Bytes(got.begin() + 3 * kBlockBytes, got.begin() + 4 * kBlockBytes) == Blocks(1, 3, 1));
}

TEST(TakeHandsOverDirtyBlocksInSlotOrderAndCommitMapsThem) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path, 0);  // no cache: committed blocks miss
  Write(*store, 20, Blocks(1, 20, 2));
  Write(*store, 5, Blocks(1, 5, 3));
  Zero(*store, 8, 4);
  TakenBlocks taken;
  CHECK(store->Take(100, false, &taken));
  CHECK(taken.blocks == (std::vector<uint64_t>{5, 6, 7, 20, 21}));
  CHECK(taken.zeros == (std::vector<uint64_t>{8, 4}));
  CHECK(Bytes(taken.data.get(), taken.data.get() + 3 * kBlockBytes) == Blocks(1, 5, 3));
  CHECK(Bytes(taken.data.get() + 3 * kBlockBytes, taken.data.get() + 5 * kBlockBytes) == Blocks(1, 20, 2));
  TakenBlocks again;
  CHECK(!store->Take(100, false, &again));  // everything is taken already
  Commit(*store, taken.id, 42);
  CHECK_EQ(store->stats().dirty_blocks, 0u);
  CHECK_EQ(store->stats().mapped_blocks, 5u);

  Bytes out(4 * kBlockBytes);
  const std::vector<uint64_t> misses = store->Read(6, 4, out.data());
  CHECK(misses == (std::vector<uint64_t>{6, 42, 1, 7, 42, 2}));  // 8 and 9 are zeros, 6 and 7 in slots 1, 2
  CHECK_EQ(store->stats().cache_misses, 2u);
  std::string error;
  CHECK(!store->Commit(taken.id, 42, &error));  // a take commits once
}

TEST(ReadReportsMissesUntilTheChunkIsFilled) {
  TempDir a, b;
  std::unique_ptr<BlockStore> source = OpenStore(a.path);
  Write(*source, 0, Blocks(1, 0, 4));
  TakenBlocks taken;
  CHECK(source->Take(100, false, &taken));
  Commit(*source, taken.id, 9);
  CHECK(Read(*source, 0, 4) == Blocks(1, 0, 4));  // commit caches what it maps
  const Bytes map = source->ExportMap();

  std::unique_ptr<BlockStore> store = OpenStore(b.path);  // a volume from a snapshot: nothing cached
  std::string error;
  CHECK(store->ImportMap(map.data(), map.size(), &error));
  Bytes out(4 * kBlockBytes, 0xEE);
  CHECK(store->Read(0, 4, out.data()) == (std::vector<uint64_t>{0, 9, 0, 1, 9, 1, 2, 9, 2, 3, 9, 3}));
  CHECK(std::all_of(out.begin(), out.end(), [](uint8_t x) { return x == 0xEE; }));
  const Bytes chunk = Blocks(1, 0, 4);
  store->Fill(9, 1, chunk.data() + kBlockBytes, 2);
  CHECK(store->Read(0, 4, out.data()) == (std::vector<uint64_t>{0, 9, 0, 3, 9, 3}));
  store->Fill(9, 0, chunk.data(), 4);
  CHECK(Read(*store, 0, 4) == chunk);
  CHECK_EQ(store->stats().cache_hits, 6u);
  CHECK_EQ(store->stats().cache_misses, 6u);
}

TEST(RewriteDuringATakeKeepsTheNewerDataDirty) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  Write(*store, 0, Blocks(1, 0, 4));
  TakenBlocks taken;
  CHECK(store->Take(100, false, &taken));
  Write(*store, 1, Blocks(2, 1, 1));  // while the chunk uploads
  TakenBlocks second;
  CHECK(store->Take(100, false, &second));  // only the rewrite is new
  CHECK(second.blocks == (std::vector<uint64_t>{1}));
  Commit(*store, taken.id, 1);
  CHECK_EQ(store->stats().dirty_blocks, 1u);
  CHECK_EQ(store->stats().mapped_blocks, 3u);
  Bytes want = Blocks(1, 0, 4);
  const Bytes newer = Blocks(2, 1, 1);
  std::copy(newer.begin(), newer.end(), want.begin() + kBlockBytes);
  CHECK(Read(*store, 0, 4) == want);
  Commit(*store, second.id, 2);
  CHECK_EQ(store->stats().dirty_blocks, 0u);
  CHECK(Read(*store, 0, 4) == want);
  CHECK_EQ(DecodeMap(store->ExportMap()).size(), 3u);  // 0 and 2–3 in chunk 1, 1 in chunk 2
}

TEST(AbandonedTakeLeavesBlocksDirtyToBeTakenAgain) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  Write(*store, 0, Blocks(1, 0, 10));
  TakenBlocks first, rest;
  CHECK(store->Take(4, false, &first));
  CHECK_EQ(first.blocks.size(), 4u);
  CHECK(store->Take(100, false, &rest));
  CHECK(rest.blocks == (std::vector<uint64_t>{4, 5, 6, 7, 8, 9}));
  std::string error;
  CHECK(store->Abandon(first.id, &error));
  TakenBlocks retry;
  CHECK(store->Take(100, false, &retry));
  CHECK(retry.blocks == (std::vector<uint64_t>{0, 1, 2, 3}));
  TakenBlocks snapshot;
  CHECK(store->Take(1, true, &snapshot));  // all: taken or not, whatever the limit
  CHECK_EQ(snapshot.blocks.size(), 10u);
}

TEST(ZeroUnmapsCommittedBlocks) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  Write(*store, 0, Blocks(1, 0, 8));
  TakenBlocks taken;
  CHECK(store->Take(100, false, &taken));
  Commit(*store, taken.id, 3);
  Zero(*store, 2, 3);
  Bytes want = Blocks(1, 0, 8);
  std::fill(want.begin() + 2 * kBlockBytes, want.begin() + 5 * kBlockBytes, 0);
  CHECK(Read(*store, 0, 8) == want);
  CHECK(store->Take(100, false, &taken));
  CHECK(taken.blocks.empty());
  CHECK(taken.zeros == (std::vector<uint64_t>{2, 3}));
  Commit(*store, taken.id, 0);
  CHECK_EQ(store->stats().mapped_blocks, 5u);
  const std::vector<Extent> map = DecodeMap(store->ExportMap());
  CHECK_EQ(map.size(), 2u);
  CHECK_EQ(map[1].first, 5u);
  CHECK_EQ(map[1].slot, 5u);
  CHECK(Read(*store, 0, 8) == want);
}

TEST(ZeroOfAWholeTebibyteIsOneRun) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  const uint64_t tib = (uint64_t{1} << 40) / kBlockBytes;
  Write(*store, 1000, Blocks(1, 1000, 1));
  Zero(*store, 0, tib);
  CHECK_EQ(store->stats().dirty_blocks, tib);
  CHECK_EQ(store->stats().dirty_bytes, 0u);
  const Bytes got = Read(*store, 999, 3);
  CHECK(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0; }));
  TakenBlocks taken;
  CHECK(store->Take(16, false, &taken));
  CHECK(taken.zeros == (std::vector<uint64_t>{0, tib}));
  Commit(*store, taken.id, 0);
  CHECK_EQ(store->stats().dirty_blocks, 0u);
}

TEST(CheckpointAndReopenRestoreTheMap) {
  TempDir dir;
  Bytes map;
  {
    std::unique_ptr<BlockStore> store = OpenStore(dir.path);
    Write(*store, 0, Blocks(1, 0, 64));
    Write(*store, 100, Blocks(1, 100, 3));
    TakenBlocks taken;
    CHECK(store->Take(1000, false, &taken));
    Commit(*store, taken.id, 77);
    Write(*store, 200, Blocks(2, 200, 1));  // dirty at the checkpoint: comes back from the WAL
    Checkpoint(*store);
    map = store->ExportMap();
  }
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  CHECK(store->ExportMap() == map);
  CHECK_EQ(store->stats().mapped_blocks, 67u);
  // The three records share the WAL's only segment, so all come back dirty, committed or not.
  CHECK_EQ(store->stats().dirty_blocks, 68u);
  CHECK(Read(*store, 0, 64) == Blocks(1, 0, 64));
  CHECK(Read(*store, 100, 3) == Blocks(1, 100, 3));
  CHECK(Read(*store, 200, 1) == Blocks(2, 200, 1));
  CHECK_EQ(store->last_sequence(), 3u);
  CHECK_EQ(Write(*store, 300, Blocks(3, 300, 1)), 4u);  // the sequence goes on
}

TEST(CrashAfterFlushLosesNothing) {
  TempDir dir;
  const pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    // No destructor, no Close, no checkpoint: what a SIGKILL leaves.
    BlockStoreOptions options;
    std::string error;
    BlockStore* store = BlockStore::Open(dir.path, options, &error).release();
    if (store == nullptr) _exit(2);
    const Bytes a = Blocks(1, 0, 16), b = Blocks(2, 4, 2);
    store->Write(0, a.data(), 16, &error);
    store->Zero(8, 2, &error);
    store->Write(4, b.data(), 2, &error);
    _exit(store->Flush(&error) ? 0 : 3);
  }
  int status = 0;
  CHECK_EQ(waitpid(child, &status, 0), child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::unique_ptr<BlockStore> store = OpenStore(dir.path);
  Bytes want = Blocks(1, 0, 16);
  const Bytes b = Blocks(2, 4, 2);
  std::copy(b.begin(), b.end(), want.begin() + 4 * kBlockBytes);
  std::fill(want.begin() + 8 * kBlockBytes, want.begin() + 10 * kBlockBytes, 0);
  CHECK(Read(*store, 0, 16) == want);
  CHECK_EQ(store->durable_sequence(), 3u);
}

TEST(CheckpointTrimsTheWalOnceEverythingIsCommitted) {
  TempDir dir;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path, 1 << 20, 64 << 10);
  for (uint64_t i = 0; i < 100; ++i) Write(*store, i, Blocks(1, i, 1));
  Flush(*store);
  CHECK(SegmentCount(dir.path) > 4);
  Checkpoint(*store);  // everything is dirty: nothing can go
  CHECK(SegmentCount(dir.path) > 4);
  TakenBlocks taken;
  CHECK(store->Take(50, false, &taken));
  Commit(*store, taken.id, 1);
  Checkpoint(*store);  // the first half is in a chunk: its segments go
  const size_t half = SegmentCount(dir.path);
  CHECK(half > 1);
  CHECK(store->Take(50, false, &taken));
  Commit(*store, taken.id, 2);
  Checkpoint(*store);
  CHECK(SegmentCount(dir.path) < half);
  CHECK_EQ(SegmentCount(dir.path), 1u);  // only the one being written
  store.reset();
  std::vector<hive::WalRecord> left;
  std::string error;
  CHECK(hive::WalReader::ReadAll(dir.path + "/wal", 0, &left, &error));
  CHECK(left.size() < 20);
  store = OpenStore(dir.path);
  CHECK_EQ(store->stats().dirty_blocks, left.size());  // what the kept segment still holds comes back
  CHECK_EQ(store->stats().mapped_blocks, 100u);
  CHECK_EQ(DecodeMap(store->ExportMap()).size(), 2u);
  for (uint64_t i = 0; i < 100; i += 10) {
    Bytes out(kBlockBytes);
    if (store->Read(i, 1, out.data()).empty()) CHECK(out == Blocks(1, i, 1));
  }
}

TEST(CorruptCheckpointRefusesToOpen) {
  TempDir dir;
  {
    std::unique_ptr<BlockStore> store = OpenStore(dir.path);
    Write(*store, 0, Blocks(1, 0, 2));
    TakenBlocks taken;
    CHECK(store->Take(10, false, &taken));
    Commit(*store, taken.id, 5);
    Checkpoint(*store);
  }
  const std::string path = dir.path + "/checkpoint";
  const int fd = open(path.c_str(), O_RDWR);
  CHECK(fd >= 0);
  uint8_t byte = 0;
  CHECK_EQ(pread(fd, &byte, 1, 40), 1);
  byte ^= 1;
  CHECK_EQ(pwrite(fd, &byte, 1, 40), 1);
  close(fd);
  BlockStoreOptions options;
  std::string error;
  CHECK(!BlockStore::Open(dir.path, options, &error));
  CHECK(error.find("corrupt") != std::string::npos);
  CHECK(error.find("checksum") != std::string::npos);
}

TEST(ExportedMapImportsIntoAnEmptyStoreOnly) {
  TempDir a, b;
  std::unique_ptr<BlockStore> source = OpenStore(a.path);
  Write(*source, 0, Blocks(1, 0, 8));
  Write(*source, 50, Blocks(1, 50, 8));
  TakenBlocks taken;
  CHECK(source->Take(100, false, &taken));
  Commit(*source, taken.id, 11);
  const Bytes map = source->ExportMap();
  CHECK_EQ(DecodeMap(map).size(), 2u);

  std::string error;
  CHECK(!source->ImportMap(map.data(), map.size(), &error));  // not empty
  std::unique_ptr<BlockStore> copy = OpenStore(b.path, 0);
  Bytes damaged = map;
  damaged[20] ^= 1;
  CHECK(!copy->ImportMap(damaged.data(), damaged.size(), &error));
  CHECK(error.find("checksum") != std::string::npos);
  CHECK(copy->ImportMap(map.data(), map.size(), &error));
  CHECK(copy->ExportMap() == map);
  Bytes out(kBlockBytes);
  CHECK(copy->Read(52, 1, out.data()) == (std::vector<uint64_t>{52, 11, 10}));
  Checkpoint(*copy);
  copy.reset();
  CHECK(OpenStore(b.path)->ExportMap() == map);
}

TEST(DurabilityIsReportedThroughOnDurable) {
  TempDir dir;
  std::atomic<int> calls{0};
  BlockStoreOptions options;
  options.on_durable = [&] { calls.fetch_add(1); };
  std::string error;
  std::unique_ptr<BlockStore> store = BlockStore::Open(dir.path, options, &error);
  CHECK(store != nullptr);
  const uint64_t sequence = Write(*store, 0, Blocks(1, 0, 1));
  if (!store->NotifyWhenDurable(sequence)) {
    while (calls.load() == 0) usleep(100);
  }
  CHECK(store->durable_sequence() >= sequence);
  CHECK(store->NotifyWhenDurable(sequence));  // already durable
  store->Close();
  CHECK_EQ(store->Write(1, Blocks(1, 1, 1).data(), 1, &error), 0u);
  CHECK(error.find("closed") != std::string::npos);
}

// Random writes, zeros, takes, commits, abandons, checkpoints and reopens against a per-block model;
// after each step every block reads as the model says and the exported map is sorted and merged.
TEST(ExtentMapsAgreeWithAPerBlockModel) {
  TempDir dir;
  std::mt19937_64 rng(12345);
  auto below = [&](uint64_t n) { return rng() % n; };
  constexpr uint64_t kBlocks = 160;
  std::unique_ptr<BlockStore> store = OpenStore(dir.path, 32 * kBlockBytes, 64 << 10);
  std::map<uint64_t, Bytes> model;  // block → contents; absent: zeros
  std::map<uint64_t, Bytes> chunks;  // what each take's chunk holds, committed or not
  std::vector<std::pair<TakenBlocks, uint64_t>> open_takes;  // with the chunk each would become
  uint32_t version = 0;
  uint64_t next_chunk = 1;

  for (int step = 0; step < 3000; ++step) {
    const uint64_t op = below(100);
    if (op < 45) {
      const uint64_t first = below(kBlocks), count = 1 + below(std::min<uint64_t>(12, kBlocks - first));
      const Bytes data = Blocks(++version, first, count);
      Write(*store, first, data);
      for (uint64_t i = 0; i < count; ++i) {
        model[first + i] = Bytes(data.begin() + i * kBlockBytes, data.begin() + (i + 1) * kBlockBytes);
      }
    } else if (op < 55) {
      const uint64_t first = below(kBlocks), count = 1 + below(kBlocks - first);
      Zero(*store, first, count);
      for (uint64_t i = 0; i < count; ++i) model.erase(first + i);
    } else if (op < 75) {
      TakenBlocks taken;
      if (store->Take(1 + below(40), below(10) == 0, &taken)) {
        const uint64_t chunk = next_chunk++;
        chunks[chunk] = Bytes(taken.data.get(), taken.data.get() + taken.blocks.size() * kBlockBytes);
        open_takes.emplace_back(std::move(taken), chunk);
      }
    } else if (op < 92) {
      if (!open_takes.empty()) {
        const size_t i = below(open_takes.size());
        std::string error;
        if (below(5) == 0) CHECK(store->Abandon(open_takes[i].first.id, &error));
        else CHECK(store->Commit(open_takes[i].first.id, open_takes[i].second, &error));
        open_takes.erase(open_takes.begin() + static_cast<long>(i));
      }
    } else if (op < 97) {
      Checkpoint(*store);
    } else {
      open_takes.clear();  // a restart forgets the takes in flight: their chunks are never committed
      store.reset();
      store = OpenStore(dir.path, 32 * kBlockBytes, 64 << 10);
    }

    // Windows of 16 blocks, so the misses of one fit in the 32-block cache once filled.
    for (uint64_t w = 0; w < kBlocks; w += 16) {
      Bytes out(16 * kBlockBytes, 0xEE);
      std::vector<uint64_t> misses = store->Read(w, 16, out.data());
      for (size_t m = 0; m < misses.size(); m += 3) {
        const Bytes& chunk = chunks.at(misses[m + 1]);
        CHECK((misses[m + 2] + 1) * kBlockBytes <= chunk.size());
        store->Fill(misses[m + 1], static_cast<uint32_t>(misses[m + 2]), chunk.data() + misses[m + 2] * kBlockBytes, 1);
      }
      if (!misses.empty()) CHECK_EQ(store->Read(w, 16, out.data()).size(), 0u);
      for (uint64_t b = w; b < w + 16; ++b) {
        auto want = model.find(b);
        const uint8_t* got = out.data() + (b - w) * kBlockBytes;
        if (want == model.end()) CHECK(std::all_of(got, got + kBlockBytes, [](uint8_t x) { return x == 0; }));
        else CHECK(std::equal(got, got + kBlockBytes, want->second.begin()));
      }
    }
    const std::vector<Extent> map = DecodeMap(store->ExportMap());
    uint64_t mapped = 0;
    for (size_t i = 0; i < map.size(); ++i) {
      CHECK(map[i].count >= 1);
      mapped += map[i].count;
      if (i == 0) continue;
      const Extent& p = map[i - 1];
      CHECK(p.first + p.count <= map[i].first);
      CHECK(!(p.first + p.count == map[i].first && p.chunk == map[i].chunk && p.slot + p.count == map[i].slot));
    }
    CHECK_EQ(mapped, store->stats().mapped_blocks);
  }
}
