#include "reed_solomon.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace hive {
namespace {

constexpr int kMaxShards = 255;

// See reed_solomon.h: ISA-L's gf_gen_cauchy1_matrix.
std::vector<uint8_t> CauchyGenerator(int k, int m) {
  std::vector<uint8_t> g(static_cast<size_t>(k + m) * k, 0);
  for (int j = 0; j < k; ++j) g[static_cast<size_t>(j) * k + j] = 1;
  for (int i = k; i < k + m; ++i)
    for (int j = 0; j < k; ++j) g[static_cast<size_t>(i) * k + j] = gf::Inv(static_cast<uint8_t>(i ^ j));
  return g;
}

void SetError(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
}

}  // namespace

ReedSolomon::ReedSolomon(int k, int m, const gf::Kernel& kernel)
    : k_(k),
      m_(m),
      kernel_(kernel),
      generator_(CauchyGenerator(k, m)),
      encode_(kernel, m, k, generator_.data() + static_cast<size_t>(k) * k) {}

std::unique_ptr<ReedSolomon> ReedSolomon::Create(int data_shards, int parity_shards, std::string* error) {
  return CreateWithKernel(data_shards, parity_shards, gf::SelectedKernel().name, error);
}

std::unique_ptr<ReedSolomon> ReedSolomon::CreateWithKernel(int data_shards, int parity_shards, const char* kernel,
                                                           std::string* error) {
  if (data_shards < 1 || parity_shards < 1 || data_shards > kMaxShards - parity_shards) {
    SetError(error, "reed-solomon: need 1 <= data shards, 1 <= parity shards, data + parity <= 255; got " +
                        std::to_string(data_shards) + " + " + std::to_string(parity_shards));
    return nullptr;
  }
  const gf::Kernel* found = gf::FindKernel(kernel);
  if (found == nullptr) {
    SetError(error, std::string("reed-solomon: kernel '") + kernel + "' is unknown or not supported by this CPU");
    return nullptr;
  }
  return std::unique_ptr<ReedSolomon>(new ReedSolomon(data_shards, parity_shards, *found));
}

void ReedSolomon::Encode(const uint8_t* const* data, uint8_t* const* parity, size_t len) const {
  encode_.Apply(data, parity, len);
}

bool ReedSolomon::Reconstruct(uint8_t* const* shards, const bool* present, size_t len, std::string* error) const {
  const int n = k_ + m_;
  const int missing = static_cast<int>(std::count(present, present + n, false));
  if (missing == 0) return true;
  if (missing > m_) {
    SetError(error, "reed-solomon: " + std::to_string(missing) + " shards missing, at most " + std::to_string(m_) +
                        " can be rebuilt");
    return false;
  }
  const std::shared_ptr<const DecodePlan> plan = PlanFor(present);
  const uint8_t* in[kMaxShards];
  uint8_t* out[kMaxShards];
  for (int j = 0; j < k_; ++j) in[j] = shards[plan->inputs[j]];
  for (int r = 0; r < missing; ++r) out[r] = shards[plan->outputs[r]];
  plan->matrix->Apply(in, out, len);
  return true;
}

bool ReedSolomon::Verify(const uint8_t* const* shards, size_t len) const {
  // Parity is recomputed a chunk at a time into scratch, bounding memory and stopping at the first
  // chunk that differs.
  constexpr size_t kScratchBytes = 1 << 20;
  const size_t chunk = std::min(len, std::max<size_t>(4096, kScratchBytes / m_));
  std::vector<uint8_t> scratch(chunk * m_);
  const uint8_t* in[kMaxShards];
  uint8_t* out[kMaxShards];
  for (size_t pos = 0; pos < len; pos += chunk) {
    const size_t n = std::min(chunk, len - pos);
    for (int j = 0; j < k_; ++j) in[j] = shards[j] + pos;
    for (int i = 0; i < m_; ++i) out[i] = scratch.data() + i * chunk;
    encode_.Apply(in, out, n);
    for (int i = 0; i < m_; ++i)
      if (std::memcmp(out[i], shards[k_ + i] + pos, n) != 0) return false;
  }
  return true;
}

std::shared_ptr<const ReedSolomon::DecodePlan> ReedSolomon::PlanFor(const bool* present) const {
  std::string key(static_cast<size_t>(k_ + m_), '\0');
  for (int i = 0; i < k_ + m_; ++i) key[i] = present[i] ? 1 : 0;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_index_.find(key);
    if (it != cache_index_.end()) {
      cache_lru_.splice(cache_lru_.begin(), cache_lru_, it->second);
      return it->second->second;
    }
  }
  // The inversion runs unlocked; two threads that miss on the same pattern both build it, and the
  // first insert wins.
  std::shared_ptr<const DecodePlan> plan = BuildPlan(present);
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_index_.find(key);
  if (it != cache_index_.end()) return it->second->second;
  cache_lru_.emplace_front(key, plan);
  cache_index_.emplace(std::move(key), cache_lru_.begin());
  if (cache_lru_.size() > kDecodeCacheEntries) {
    cache_index_.erase(cache_lru_.back().first);
    cache_lru_.pop_back();
  }
  return plan;
}

std::shared_ptr<const ReedSolomon::DecodePlan> ReedSolomon::BuildPlan(const bool* present) const {
  auto plan = std::make_shared<DecodePlan>();
  for (int i = 0; i < k_ + m_; ++i) {
    if (!present[i])
      plan->outputs.push_back(i);
    else if (static_cast<int>(plan->inputs.size()) < k_)
      plan->inputs.push_back(i);
  }
  const size_t k = static_cast<size_t>(k_);
  // decode · (generator rows of the inputs) = I, so data = decode · inputs.
  std::vector<uint8_t> decode(k * k);
  for (size_t r = 0; r < k; ++r)
    std::memcpy(&decode[r * k], &generator_[static_cast<size_t>(plan->inputs[r]) * k], k);
  const bool invertible = gf::Invert(&decode, k_);
  assert(invertible && "every k rows of a systematic Cauchy generator are independent");
  (void)invertible;
  // A missing data shard is its row of decode; a missing parity shard is its generator row applied to
  // the rebuilt data, folded into one row so that all missing shards come from one pass.
  std::vector<uint8_t> rows(plan->outputs.size() * k, 0);
  for (size_t r = 0; r < plan->outputs.size(); ++r) {
    const size_t shard = static_cast<size_t>(plan->outputs[r]);
    uint8_t* row = &rows[r * k];
    if (shard < k) {
      std::memcpy(row, &decode[shard * k], k);
      continue;
    }
    for (size_t j = 0; j < k; ++j) {
      const uint8_t* mul = gf::MulRow(generator_[shard * k + j]);
      for (size_t x = 0; x < k; ++x) row[x] ^= mul[decode[j * k + x]];
    }
  }
  plan->matrix = std::make_unique<gf::Matrix>(kernel_, static_cast<int>(plan->outputs.size()), k_, rows.data());
  return plan;
}

const char* GfKernelName() { return gf::SelectedKernel().name; }

}  // namespace hive
