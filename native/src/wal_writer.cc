#include "wal_writer.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "wal_format.h"
#include "wal_reader.h"

namespace hive {

namespace {

const std::string kNoError;

// Recycled segments kept for reuse; more would only hold disk space, as a checkpoint usually frees a
// segment or two and each rotation takes one.
constexpr size_t kMaxFreeSegments = 4;

std::string ErrnoMessage(const std::string& what, int err) {
  return what + ": " + std::system_category().message(err);
}

// A created, renamed or deleted file is durable only once its directory is synced.
bool SyncDir(const std::string& dir, std::string* error) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = ErrnoMessage("open directory " + dir, errno);
    return false;
  }
  const bool ok = fsync(fd) == 0;
  if (!ok) *error = ErrnoMessage("fsync directory " + dir, errno);
  close(fd);
  return ok;
}

// Creates `dir` and its missing parents, syncing the parent of each one it creates: a new directory
// survives a crash only once the directory holding its name does.
bool MakeDirs(const std::string& dir, std::string* error) {
  for (size_t end = 1; end <= dir.size(); ++end) {
    if (end < dir.size() && dir[end] != '/') continue;
    const std::string path = dir.substr(0, end);
    if (mkdir(path.c_str(), 0755) == 0) {
      const size_t slash = path.find_last_of('/');
      if (!SyncDir(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash), error)) return false;
    } else if (errno != EEXIST) {
      *error = ErrnoMessage("create directory " + path, errno);
      return false;
    }
  }
  return true;
}

// Allocating the segment up front means a batch's fdatasync never has to persist a new file size (on
// ext4 it still commits the blocks' change to written, which recycling avoids: wal_format.h).
// Filesystems without fallocate just grow the file as it is written.
bool Preallocate(int fd, uint64_t bytes, const std::string& path, std::string* error) {
  if (bytes == 0) return true;
  int r;
  do r = fallocate(fd, 0, 0, static_cast<off_t>(bytes));
  while (r != 0 && errno == EINTR);
  if (r == 0 || errno == EOPNOTSUPP) return true;
  *error = ErrnoMessage("preallocate " + path, errno);
  return false;
}

}  // namespace

WalWriter::WalWriter(std::string dir, const WalOptions& options) : dir_(std::move(dir)), options_(options) {}

WalWriter::~WalWriter() { Close(); }

std::unique_ptr<WalWriter> WalWriter::Open(const std::string& dir, const WalOptions& options, std::string* error) {
  std::unique_ptr<WalWriter> writer(new WalWriter(dir, options));
  if (!writer->Recover(error)) return nullptr;
  try {
    writer->thread_ = std::thread(&WalWriter::Run, writer.get());
  } catch (const std::system_error& e) {
    *error = std::string("start the write-ahead log thread: ") + e.what();
    return nullptr;
  }
  return writer;
}

bool WalWriter::Recover(std::string* error) {
  if (!MakeDirs(dir_, error)) return false;
  const std::string lock_path = dir_ + "/LOCK";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    *error = ErrnoMessage("open " + lock_path, errno);
    return false;
  }
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = errno == EWOULDBLOCK ? lock_path + " is held by another writer" : ErrnoMessage("lock " + lock_path, errno);
    return false;
  }

  std::unique_ptr<WalReader> reader = WalReader::Open(dir_, 0, error);
  if (!reader) return false;
  WalRecord record;
  while (reader->Next(&record)) {
  }
  const WalEnd& end = reader->end();
  if (end.kind == WalEnd::kCorrupt || end.kind == WalEnd::kIoError) {
    *error = "recover " + dir_ + ": " + end.message;
    return false;
  }
  last_sequence_ = end.next_sequence - 1;
  if (end.segment.empty()) return CollectFreeSegments(error) && StartSegment(end.next_sequence, 0, error);

  std::vector<uint64_t> segments;
  uint64_t tail_first = 0;
  if (!ListWalSegments(dir_, &segments, error)) return false;
  wal::ParseSegmentName(end.segment, &tail_first);
  // Segments after the tail hold no intact record (the reader would have called that corruption):
  // they are what a crash left of a batch that was never acknowledged.
  while (!segments.empty() && segments.back() > tail_first) {
    const std::string path = dir_ + "/" + wal::SegmentName(segments.back());
    if (unlink(path.c_str()) != 0) {
      *error = ErrnoMessage("delete " + path, errno);
      return false;
    }
    segments.pop_back();
  }
  segments_ = segments;
  if (!CollectFreeSegments(error)) return false;

  path_ = dir_ + "/" + end.segment;
  segment_ = tail_first;
  fd_ = open(path_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd_ < 0) {
    *error = ErrnoMessage("open " + path_, errno);
    return false;
  }
  // Cut at the end of the intact log: a torn record, a recycled file's old bytes, and anything beyond a
  // zero hole, which new records could otherwise end up adjoining. Synced before anything is written.
  if (ftruncate(fd_, static_cast<off_t>(end.offset)) != 0) {
    *error = ErrnoMessage("truncate " + path_, errno);
    return false;
  }
  if (!Preallocate(fd_, std::max(options_.segment_bytes, end.offset), path_, error)) return false;
  if (fsync(fd_) != 0) {
    *error = ErrnoMessage("fsync " + path_, errno);
    return false;
  }
  offset_ = end.offset;
  return SyncDir(dir_, error);
}

uint64_t WalWriter::Append(uint8_t type, const uint8_t* data, size_t len, Callback done) {
  return Append(type, std::vector<uint8_t>(data, data + len), std::move(done));
}

uint64_t WalWriter::Append(uint8_t type, std::vector<uint8_t> payload, Callback done) {
  Pending pending{0, type, std::move(payload), std::move(done), {}};
  bool queued = false;
  uint64_t sequence = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!closing_) {
      if (!failed_) sequence = ++last_sequence_;
      pending.sequence = sequence;
      pending_.push_back(std::move(pending));
      queued = true;
    }
  }
  if (!queued) {
    pending.done(0, "the write-ahead log " + dir_ + " is closed", WalLocation{});
    return 0;
  }
  wake_.notify_one();
  return sequence;
}

void WalWriter::Run() {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait(lock, [this] { return !pending_.empty() || closing_; });
      if (pending_.empty()) return;
      batch.swap(pending_);
    }
    size_t durable = 0;
    if (failure_.empty()) {
      durable = WriteBatch(&batch, &failure_);
      batches_.fetch_add(1, std::memory_order_relaxed);
      if (!failure_.empty()) {
        buffer_.clear();
        std::lock_guard<std::mutex> lock(mu_);
        failed_ = true;
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const Pending& p = batch[i];
      p.done(p.sequence, i < durable ? kNoError : failure_, i < durable ? p.location : WalLocation{});
    }
    batch.clear();
  }
}

size_t WalWriter::WriteBatch(std::vector<Pending>* batch, std::string* error) {
  size_t durable = 0;
  for (size_t i = 0; i < batch->size(); ++i) {
    Pending& p = (*batch)[i];
    const uint64_t at = offset_ + buffer_.size();
    if (at > 0 && wal::RecordEnd(at, p.data.size()) > options_.segment_bytes) {
      if (!Flush(error)) return durable;
      durable = i;
      if (!StartSegment(p.sequence, wal::RecordEnd(0, p.data.size()), error)) return durable;
    }
    p.location = {segment_, wal::FragmentStart(offset_ + buffer_.size())};
    wal::AppendRecord(&buffer_, offset_, p.sequence, p.type, p.data.data(), p.data.size());
  }
  return Flush(error) ? batch->size() : durable;
}

bool WalWriter::Flush(std::string* error) {
  for (size_t done = 0; done < buffer_.size();) {
    const ssize_t n = pwrite(fd_, buffer_.data() + done, buffer_.size() - done, static_cast<off_t>(offset_ + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = n < 0 ? ErrnoMessage("write " + path_, errno) : "write " + path_ + ": no progress";
      return false;
    }
    done += static_cast<size_t>(n);
  }
  if (options_.sync && !buffer_.empty()) {
    if (fdatasync(fd_) != 0) {
      *error = ErrnoMessage("fdatasync " + path_, errno);
      return false;
    }
    syncs_.fetch_add(1, std::memory_order_relaxed);
  }
  offset_ += buffer_.size();
  buffer_.clear();
  return true;
}

bool WalWriter::StartSegment(uint64_t first_sequence, uint64_t min_bytes, std::string* error) {
  if (fd_ >= 0) {
    // Cut the finished segment at its last record, durably, before the next one holds anything: in a
    // recycled file what lies beyond is an older segment's bytes, which only the last segment may have.
    if (ftruncate(fd_, static_cast<off_t>(offset_)) != 0 || fsync(fd_) != 0) {
      *error = ErrnoMessage("truncate " + path_, errno);
      return false;
    }
    close(fd_);
    fd_ = -1;
  }
  path_ = dir_ + "/" + wal::SegmentName(first_sequence);
  segment_ = first_sequence;
  std::string recycled;
  {
    std::lock_guard<std::mutex> lock(segments_mu_);
    if (!free_.empty()) {
      recycled = free_.back();
      free_.pop_back();
    }
  }
  // A recycled file that has gone missing just means a new file.
  if (!recycled.empty() && rename(recycled.c_str(), path_.c_str()) != 0 && errno != ENOENT) {
    *error = ErrnoMessage("reuse " + recycled, errno);
    return false;
  }
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    *error = ErrnoMessage("create " + path_, errno);
    return false;
  }
  offset_ = 0;
  if (!Preallocate(fd_, std::max(options_.segment_bytes, min_bytes), path_, error)) return false;
  // The segment's size and name must be durable before a record in it is acknowledged.
  if (fsync(fd_) != 0) {
    *error = ErrnoMessage("fsync " + path_, errno);
    return false;
  }
  if (!SyncDir(dir_, error)) return false;
  std::lock_guard<std::mutex> lock(segments_mu_);
  segments_.push_back(first_sequence);
  return true;
}

bool WalWriter::DeleteUpTo(uint64_t sequence, std::string* error) {
  std::lock_guard<std::mutex> lock(segments_mu_);
  // Segment i holds sequences up to segments_[i + 1] - 1. Oldest first, each removal synced before the
  // next, so a crash part way leaves a contiguous log rather than one with a hole the reader rejects.
  while (segments_.size() > 1 && segments_[1] - 1 <= sequence) {
    const std::string path = dir_ + "/" + wal::SegmentName(segments_.front());
    const std::string free_path = dir_ + "/" + wal::SegmentName(segments_.front(), wal::kFreeSuffix);
    const bool keep = free_.size() < kMaxFreeSegments;
    if (keep ? rename(path.c_str(), free_path.c_str()) != 0 : unlink(path.c_str()) != 0 && errno != ENOENT) {
      *error = ErrnoMessage((keep ? "recycle " : "delete ") + path, errno);
      return false;
    }
    if (!SyncDir(dir_, error)) return false;
    if (keep) free_.push_back(free_path);
    segments_.erase(segments_.begin());
  }
  return true;
}

bool WalWriter::CollectFreeSegments(std::string* error) {
  DIR* d = opendir(dir_.c_str());
  if (d == nullptr) {
    *error = ErrnoMessage("open directory " + dir_, errno);
    return false;
  }
  std::vector<std::string> extra;
  while (const dirent* entry = readdir(d)) {
    uint64_t first;
    if (!wal::ParseSegmentName(entry->d_name, &first, wal::kFreeSuffix)) continue;
    (free_.size() < kMaxFreeSegments ? free_ : extra).push_back(dir_ + "/" + entry->d_name);
  }
  closedir(d);
  for (const std::string& path : extra) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      *error = ErrnoMessage("delete " + path, errno);
      return false;
    }
  }
  return true;
}

uint64_t WalWriter::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_sequence_;
}

void WalWriter::Close() {
  std::lock_guard<std::mutex> close_lock(close_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (lock_fd_ >= 0) close(lock_fd_);
  lock_fd_ = -1;
}

}  // namespace hive
