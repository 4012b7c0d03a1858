// The N-API boundary, and the only file that includes napi.h: it converts arguments and schedules
// work, nothing else. The engines are plain C++ (reed_solomon.h, crc32c.h, wal_writer.h,
// wal_reader.h, block_store.h); core/native.ts validates every argument before it reaches this file, which still
// checks what would otherwise corrupt memory (counts and lengths of shard buffers).
//
// Buffers are used in place: sync calls read them during the call; async work keeps a reference to
// each buffer until it completes, so the GC cannot move or free them meanwhile.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "block_store.h"
#include "crc32c.h"
#include "reed_solomon.h"
#include "wal_reader.h"
#include "wal_writer.h"

namespace {

// Bumped whenever the JS-visible surface of the addon changes, so core/native.ts can refuse a stale build.
constexpr uint32_t kAbiVersion = 6;

// ---------------------------------------------------------------------------------------------
// Shard lists: JS arrays of Uint8Array, all of one length.
// ---------------------------------------------------------------------------------------------

struct Shards {
  std::vector<uint8_t*> ptrs;
  std::vector<Napi::Reference<Napi::Uint8Array>> refs;  // held only by async work
  size_t len = 0;
};

bool ReadShards(Napi::Env env, Napi::Value value, size_t count, bool keep, Shards* out, size_t expect_len) {
  if (!value.IsArray() || value.As<Napi::Array>().Length() != count) {
    Napi::TypeError::New(env, "wrong number of shards").ThrowAsJavaScriptException();
    return false;
  }
  auto array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < count; i++) {
    Napi::Value v = array[i];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      Napi::TypeError::New(env, "shards must be Uint8Arrays").ThrowAsJavaScriptException();
      return false;
    }
    auto shard = v.As<Napi::Uint8Array>();
    if (shard.ByteLength() != expect_len) {
      Napi::RangeError::New(env, "shards must all have the same length").ThrowAsJavaScriptException();
      return false;
    }
    out->ptrs.push_back(shard.Data());
    if (keep) out->refs.push_back(Napi::Persistent(shard));
  }
  out->len = expect_len;
  return true;
}

size_t FirstLength(Napi::Value value) {
  if (!value.IsArray() || value.As<Napi::Array>().Length() == 0) return 0;
  Napi::Value first = value.As<Napi::Array>()[uint32_t{0}];
  return first.IsTypedArray() ? first.As<Napi::TypedArray>().ByteLength() : 0;
}

// ---------------------------------------------------------------------------------------------
// Reed-Solomon: new ReedSolomon(k, m[, kernel]); encode/reconstruct, sync or with a callback.
// ---------------------------------------------------------------------------------------------

class RsWork : public Napi::AsyncWorker {
 public:
  enum class Op { kEncode, kReconstruct };
  RsWork(Napi::Function cb, std::shared_ptr<hive::ReedSolomon> rs, Op op, Shards a, Shards b, std::vector<uint8_t> present)
      : Napi::AsyncWorker(cb, "hive.reedSolomon"), rs_(std::move(rs)), op_(op), a_(std::move(a)), b_(std::move(b)),
        present_(std::move(present)) {}

  void Execute() override {
    if (op_ == Op::kEncode) {
      rs_->Encode(a_.ptrs.data(), b_.ptrs.data(), a_.len);
      return;
    }
    std::string error;
    if (!rs_->Reconstruct(a_.ptrs.data(), reinterpret_cast<const bool*>(present_.data()), a_.len, &error)) SetError(error);
  }
  void OnOK() override { Callback().Call({Env().Null()}); }

 private:
  std::shared_ptr<hive::ReedSolomon> rs_;
  Op op_;
  Shards a_, b_;
  std::vector<uint8_t> present_;
};

class RsCodec : public Napi::ObjectWrap<RsCodec> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ReedSolomon", {
      InstanceMethod<&RsCodec::EncodeSync>("encodeSync"),
      InstanceMethod<&RsCodec::Encode>("encode"),
      InstanceMethod<&RsCodec::ReconstructSync>("reconstructSync"),
      InstanceMethod<&RsCodec::Reconstruct>("reconstruct"),
      InstanceMethod<&RsCodec::Verify>("verify"),
      InstanceAccessor<&RsCodec::Kernel>("kernel"),
    });
  }

  explicit RsCodec(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RsCodec>(info) {
    std::string error;
    int k = info[0].As<Napi::Number>().Int32Value();
    int m = info[1].As<Napi::Number>().Int32Value();
    std::unique_ptr<hive::ReedSolomon> rs = info[2].IsString()
        ? hive::ReedSolomon::CreateWithKernel(k, m, info[2].As<Napi::String>().Utf8Value().c_str(), &error)
        : hive::ReedSolomon::Create(k, m, &error);
    if (!rs) {
      Napi::RangeError::New(info.Env(), error).ThrowAsJavaScriptException();
      return;
    }
    rs_ = std::move(rs);
  }

 private:
  // (data[k], parity[m])
  bool ReadEncode(const Napi::CallbackInfo& info, bool keep, Shards* data, Shards* parity) {
    size_t len = FirstLength(info[0]);
    return ReadShards(info.Env(), info[0], rs_->data_shards(), keep, data, len) &&
           ReadShards(info.Env(), info[1], rs_->parity_shards(), keep, parity, len);
  }

  // (shards[k+m], present: Uint8Array of k+m 0/1 bytes)
  bool ReadReconstruct(const Napi::CallbackInfo& info, bool keep, Shards* shards, std::vector<uint8_t>* present) {
    size_t n = rs_->data_shards() + rs_->parity_shards();
    if (!ReadShards(info.Env(), info[0], n, keep, shards, FirstLength(info[0]))) return false;
    if (!info[1].IsTypedArray() || info[1].As<Napi::Uint8Array>().ByteLength() != n) {
      Napi::TypeError::New(info.Env(), "present must be a Uint8Array of one flag per shard").ThrowAsJavaScriptException();
      return false;
    }
    auto flags = info[1].As<Napi::Uint8Array>();
    for (size_t i = 0; i < n; i++) present->push_back(flags[i] != 0 ? 1 : 0);
    return true;
  }

  Napi::Value EncodeSync(const Napi::CallbackInfo& info) {
    Shards data, parity;
    if (ReadEncode(info, false, &data, &parity)) rs_->Encode(data.ptrs.data(), parity.ptrs.data(), data.len);
    return info.Env().Undefined();
  }

  Napi::Value Encode(const Napi::CallbackInfo& info) {
    Shards data, parity;
    if (ReadEncode(info, true, &data, &parity)) {
      (new RsWork(info[2].As<Napi::Function>(), rs_, RsWork::Op::kEncode, std::move(data), std::move(parity), {}))->Queue();
    }
    return info.Env().Undefined();
  }

  Napi::Value ReconstructSync(const Napi::CallbackInfo& info) {
    Shards shards;
    std::vector<uint8_t> present;
    std::string error;
    if (ReadReconstruct(info, false, &shards, &present) &&
        !rs_->Reconstruct(shards.ptrs.data(), reinterpret_cast<const bool*>(present.data()), shards.len, &error)) {
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value Reconstruct(const Napi::CallbackInfo& info) {
    Shards shards;
    std::vector<uint8_t> present;
    if (ReadReconstruct(info, true, &shards, &present)) {
      (new RsWork(info[2].As<Napi::Function>(), rs_, RsWork::Op::kReconstruct, std::move(shards), {}, std::move(present)))->Queue();
    }
    return info.Env().Undefined();
  }

  Napi::Value Verify(const Napi::CallbackInfo& info) {
    Shards shards;
    size_t n = rs_->data_shards() + rs_->parity_shards();
    if (!ReadShards(info.Env(), info[0], n, false, &shards, FirstLength(info[0]))) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), rs_->Verify(shards.ptrs.data(), shards.len));
  }

  Napi::Value Kernel(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), rs_->kernel_name()); }

  std::shared_ptr<hive::ReedSolomon> rs_;
};

// ---------------------------------------------------------------------------------------------
// CRC32C: crc32c(bytes, prev) — sync: a 4 KiB checksum costs less than a hop off the loop.
// ---------------------------------------------------------------------------------------------

// Plain N-API here, not node-addon-api's CallbackInfo: for a 4 KiB buffer the wrapper's bookkeeping
// cost as much as the checksum itself.
napi_value Crc32c(napi_env env, napi_callback_info cbinfo) {
  size_t argc = 2;
  napi_value argv[2];
  void* data = nullptr;
  size_t length = 0;
  uint32_t prev = 0;
  napi_value out = nullptr;
  if (napi_get_cb_info(env, cbinfo, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2 ||
      napi_get_typedarray_info(env, argv[0], nullptr, &length, &data, nullptr, nullptr) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &prev) != napi_ok) {
    napi_throw_type_error(env, nullptr, "crc32c(Uint8Array, number)");
    return nullptr;
  }
  napi_create_uint32(env, hive::Crc32c(data, length, prev), &out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// WAL: new Wal(dir, segmentBytes, sync, onDurable(sequence, error, segment, offset));
// append(type, bytes) → sequence. Durability is reported from the writer's I/O thread through one
// thread-safe function. Sequences and offsets stay below 2^53, so they travel as plain numbers.
// ---------------------------------------------------------------------------------------------

struct Durable {
  uint64_t sequence;
  std::string error;
  hive::WalLocation location;
};

void CallOnDurable(Napi::Env env, Napi::Function fn, void* /*context*/, Durable* d) {
  if (env != nullptr && fn != nullptr) {
    fn.Call({Napi::Number::New(env, static_cast<double>(d->sequence)),
             d->error.empty() ? env.Null() : Napi::String::New(env, d->error),
             Napi::Number::New(env, static_cast<double>(d->location.segment)),
             Napi::Number::New(env, static_cast<double>(d->location.offset))});
  }
  delete d;
}

using OnDurable = Napi::TypedThreadSafeFunction<void, Durable, CallOnDurable>;

class CloseWork : public Napi::AsyncWorker {
 public:
  CloseWork(Napi::Function cb, std::shared_ptr<hive::WalWriter> wal, OnDurable tsfn)
      : Napi::AsyncWorker(cb, "hive.wal.close"), wal_(std::move(wal)), tsfn_(tsfn) {}
  void Execute() override { wal_->Close(); }
  void OnOK() override {
    tsfn_.Release();
    Callback().Call({Env().Null()});
  }

 private:
  std::shared_ptr<hive::WalWriter> wal_;
  OnDurable tsfn_;
};

class Wal : public Napi::ObjectWrap<Wal> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Wal", {
      InstanceMethod<&Wal::Append>("append"),
      InstanceMethod<&Wal::DeleteUpTo>("deleteUpTo"),
      InstanceMethod<&Wal::Close>("close"),
      InstanceMethod<&Wal::Ref>("ref"),
      InstanceMethod<&Wal::Unref>("unref"),
      InstanceAccessor<&Wal::LastSequence>("lastSequence"),
      InstanceAccessor<&Wal::Syncs>("syncs"),
      InstanceAccessor<&Wal::Batches>("batches"),
    });
  }

  explicit Wal(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Wal>(info) {
    hive::WalOptions options;
    options.segment_bytes = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    options.sync = info[2].As<Napi::Boolean>().Value();
    std::string error;
    std::unique_ptr<hive::WalWriter> wal = hive::WalWriter::Open(info[0].As<Napi::String>().Utf8Value(), options, &error);
    if (!wal) {
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
      return;
    }
    wal_ = std::move(wal);
    tsfn_ = OnDurable::New(info.Env(), info[3].As<Napi::Function>(), "hive.wal.durable", 0, 1);
    tsfn_.Unref(info.Env());
  }

 private:
  // The durability callback keeps the event loop alive only while appends are waiting for it.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!closed_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!closed_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Append(const Napi::CallbackInfo& info) {
    if (closed_) {
      Napi::Error::New(info.Env(), "the WAL is closed").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    auto type = static_cast<uint8_t>(info[0].As<Napi::Number>().Uint32Value());
    auto bytes = info[1].As<Napi::Uint8Array>();
    // An optional head goes before the data in the one payload: a caller's header needs no JS copy.
    std::vector<uint8_t> payload;
    if (info.Length() > 2 && info[2].IsTypedArray()) {
      auto head = info[2].As<Napi::Uint8Array>();
      payload.reserve(head.ByteLength() + bytes.ByteLength());
      payload.insert(payload.end(), head.Data(), head.Data() + head.ByteLength());
    }
    payload.insert(payload.end(), bytes.Data(), bytes.Data() + bytes.ByteLength());
    OnDurable tsfn = tsfn_;
    uint64_t seq = wal_->Append(type, std::move(payload),
                                [tsfn](uint64_t sequence, const std::string& error, const hive::WalLocation& at) mutable {
                                  tsfn.NonBlockingCall(new Durable{sequence, error, at});
                                });
    return Napi::Number::New(info.Env(), static_cast<double>(seq));
  }

  Napi::Value DeleteUpTo(const Napi::CallbackInfo& info) {
    std::string error;
    if (!wal_->DeleteUpTo(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()), &error)) {
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (closed_) {
      info[0].As<Napi::Function>().Call({info.Env().Null()});
      return info.Env().Undefined();
    }
    closed_ = true;
    (new CloseWork(info[0].As<Napi::Function>(), wal_, tsfn_))->Queue();
    return info.Env().Undefined();
  }

  Napi::Value LastSequence(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(wal_->last_sequence())); }
  Napi::Value Syncs(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(wal_->syncs())); }
  Napi::Value Batches(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(wal_->batches())); }

  std::shared_ptr<hive::WalWriter> wal_;
  OnDurable tsfn_;
  bool closed_ = false;
};

// readWal(dir, after, callback(err, records)) — the whole log off the loop.
class ReadWork : public Napi::AsyncWorker {
 public:
  ReadWork(Napi::Function cb, std::string dir, uint64_t after)
      : Napi::AsyncWorker(cb, "hive.wal.read"), dir_(std::move(dir)), after_(after) {}
  void Execute() override {
    std::string error;
    if (!hive::WalReader::ReadAll(dir_, after_, &records_, &error)) SetError(error);
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, records_.size());
    for (size_t i = 0; i < records_.size(); i++) {
      auto& r = records_[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("sequence", Napi::Number::New(env, static_cast<double>(r.sequence)));
      o.Set("type", Napi::Number::New(env, r.type));
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, r.data.data(), r.data.size()));
      o.Set("segment", Napi::Number::New(env, static_cast<double>(r.location.segment)));
      o.Set("offset", Napi::Number::New(env, static_cast<double>(r.location.offset)));
      out[static_cast<uint32_t>(i)] = o;
    }
    Callback().Call({env.Null(), out});
  }

 private:
  std::string dir_;
  uint64_t after_;
  std::vector<hive::WalRecord> records_;
};

Napi::Value ReadWal(const Napi::CallbackInfo& info) {
  (new ReadWork(info[2].As<Napi::Function>(), info[0].As<Napi::String>().Utf8Value(),
                static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value())))->Queue();
  return info.Env().Undefined();
}

// readWalRecord(dir, segment, offset, sequence, length, callback(err, buffer)) — one record, off the
// loop; err.code tells a record that is gone (WAL_MISSING) from one that is damaged (WAL_CORRUPT).
// readWalRecordInto(dir, segment, offset, sequence, length, buffer, callback(err)) — the same into the
// caller's buffer (walRecordSpan bytes at least; the payload ends up at its front), held for the read:
// a reader that reuses buffers makes no garbage.
class ReadAtWork : public Napi::AsyncWorker {
 public:
  ReadAtWork(Napi::Function cb, std::string dir, hive::WalLocation at, uint64_t sequence, size_t length)
      : Napi::AsyncWorker(cb, "hive.wal.readAt"), dir_(std::move(dir)), at_(at), sequence_(sequence), length_(length) {}
  ReadAtWork(Napi::Function cb, std::string dir, hive::WalLocation at, uint64_t sequence, size_t length,
             Napi::Buffer<uint8_t> into)
      : ReadAtWork(cb, std::move(dir), at, sequence, length) {
    into_ = Napi::Persistent(into);
    into_data_ = into.Data();
    into_room_ = into.Length();
  }
  void Execute() override {
    std::string error;
    result_ = into_data_ != nullptr
                  ? hive::ReadRecordAt(dir_, at_, sequence_, length_, into_data_, into_room_, &error)
                  : hive::ReadRecordAt(dir_, at_, sequence_, length_, &data_, &error);
    if (result_ != hive::WalReadResult::kOk) SetError(error);
  }
  void OnOK() override {
    if (into_data_ != nullptr) {
      Callback().Call({Env().Null()});
    } else if (data_.empty()) {
      Callback().Call({Env().Null(), Napi::Buffer<uint8_t>::New(Env(), 0)});
    } else {
      // Handed over, not copied: a shard record is megabytes.
      auto* data = new std::vector<uint8_t>(std::move(data_));
      auto free = [](Napi::Env, uint8_t*, std::vector<uint8_t>* d) { delete d; };
      Callback().Call({Env().Null(), Napi::Buffer<uint8_t>::NewOrCopy(Env(), data->data(), data->size(), free, data)});
    }
  }
  void OnError(const Napi::Error& e) override {
    const char* code = result_ == hive::WalReadResult::kMissing   ? "WAL_MISSING"
                       : result_ == hive::WalReadResult::kCorrupt ? "WAL_CORRUPT"
                                                                  : "WAL_IO";
    e.Set("code", Napi::String::New(Env(), code));
    Callback().Call({e.Value()});
  }

 private:
  std::string dir_;
  hive::WalLocation at_;
  uint64_t sequence_;
  size_t length_;
  std::vector<uint8_t> data_;
  Napi::Reference<Napi::Buffer<uint8_t>> into_;
  uint8_t* into_data_ = nullptr;
  size_t into_room_ = 0;
  hive::WalReadResult result_ = hive::WalReadResult::kOk;
};

Napi::Value ReadWalRecord(const Napi::CallbackInfo& info) {
  auto number = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value()); };
  (new ReadAtWork(info[5].As<Napi::Function>(), info[0].As<Napi::String>().Utf8Value(), {number(1), number(2)},
                  number(3), static_cast<size_t>(number(4))))->Queue();
  return info.Env().Undefined();
}

Napi::Value ReadWalRecordInto(const Napi::CallbackInfo& info) {
  auto number = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value()); };
  (new ReadAtWork(info[6].As<Napi::Function>(), info[0].As<Napi::String>().Utf8Value(), {number(1), number(2)},
                  number(3), static_cast<size_t>(number(4)), info[5].As<Napi::Buffer<uint8_t>>()))->Queue();
  return info.Env().Undefined();
}

// readWalRecordCached(dir, segment, offset, sequence, length) — the record's payload if all of it is in
// the page cache, else undefined (the caller then reads it off the loop, which also reports any error),
// or null where the filesystem cannot read without waiting. The one read here that runs on the event
// loop: it never waits for the disk, and for a small record queueing the work cost more than the read.
Napi::Value ReadWalRecordCached(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto number = [&](size_t i) { return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value()); };
  const hive::WalLocation at{number(1), number(2)};
  const auto length = static_cast<size_t>(number(4));
  const size_t span = hive::WalRecordSpan(at.offset, length);
  Napi::Buffer<uint8_t> out = Napi::Buffer<uint8_t>::New(env, span);
  std::string error;
  const auto result = hive::ReadRecordAtIfCached(info[0].As<Napi::String>().Utf8Value(), at, number(3), length,
                                                 out.Data(), span, &error);
  if (result == hive::WalReadResult::kCannotTell) return env.Null();
  if (result != hive::WalReadResult::kOk) return env.Undefined();
  return out;
}

Napi::Value WalRecordSpan(const Napi::CallbackInfo& info) {
  const auto offset = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  const auto length = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  return Napi::Number::New(info.Env(), static_cast<double>(hive::WalRecordSpan(offset, length)));
}

// ---------------------------------------------------------------------------------------------
// Block store: new BlockStore(dir, cacheBytes, walSegmentBytes, onDurable()); write/zero return the
// WAL sequence at once; notifyAt(sequence) asks for onDurable once it is durable (true: it already
// is). Everything but checkpoint and close runs on the calling thread: it is memory work.
// ---------------------------------------------------------------------------------------------

void CallOnStoreDurable(Napi::Env env, Napi::Function fn, void* /*context*/, void* /*data*/) {
  if (env != nullptr && fn != nullptr) fn.Call({});
}

using OnStoreDurable = Napi::TypedThreadSafeFunction<void, void, CallOnStoreDurable>;

constexpr size_t kBlockBytes = hive::block_map::kBlockBytes;

Napi::Float64Array ToFloat64Array(Napi::Env env, const std::vector<uint64_t>& values) {
  Napi::Float64Array out = Napi::Float64Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) out[i] = static_cast<double>(values[i]);
  return out;
}

class CheckpointWork : public Napi::AsyncWorker {
 public:
  CheckpointWork(Napi::Function cb, std::unique_ptr<hive::BlockStore::PendingCheckpoint> checkpoint)
      : Napi::AsyncWorker(cb, "hive.blockStore.checkpoint"), checkpoint_(std::move(checkpoint)) {}
  void Execute() override {
    std::string error;
    if (!checkpoint_->Write(&error)) SetError(error);
  }
  void OnOK() override { Callback().Call({Env().Null()}); }

 private:
  std::unique_ptr<hive::BlockStore::PendingCheckpoint> checkpoint_;
};

class StoreCloseWork : public Napi::AsyncWorker {
 public:
  StoreCloseWork(Napi::Function cb, std::shared_ptr<hive::BlockStore> store, OnStoreDurable tsfn)
      : Napi::AsyncWorker(cb, "hive.blockStore.close"), store_(std::move(store)), tsfn_(tsfn) {}
  void Execute() override { store_->Close(); }
  void OnOK() override {
    tsfn_.Release();
    Callback().Call({Env().Null()});
  }

 private:
  std::shared_ptr<hive::BlockStore> store_;
  OnStoreDurable tsfn_;
};

class BlockStoreWrap : public Napi::ObjectWrap<BlockStoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "BlockStore", {
      InstanceMethod<&BlockStoreWrap::Write>("write"),
      InstanceMethod<&BlockStoreWrap::Zero>("zero"),
      InstanceMethod<&BlockStoreWrap::NotifyAt>("notifyAt"),
      InstanceMethod<&BlockStoreWrap::Read>("read"),
      InstanceMethod<&BlockStoreWrap::Fill>("fill"),
      InstanceMethod<&BlockStoreWrap::Take>("take"),
      InstanceMethod<&BlockStoreWrap::Commit>("commit"),
      InstanceMethod<&BlockStoreWrap::Abandon>("abandon"),
      InstanceMethod<&BlockStoreWrap::Checkpoint>("checkpoint"),
      InstanceMethod<&BlockStoreWrap::ExportMap>("exportMap"),
      InstanceMethod<&BlockStoreWrap::ImportMap>("importMap"),
      InstanceMethod<&BlockStoreWrap::Stats>("stats"),
      InstanceMethod<&BlockStoreWrap::Close>("close"),
      InstanceMethod<&BlockStoreWrap::Ref>("ref"),
      InstanceMethod<&BlockStoreWrap::Unref>("unref"),
      InstanceAccessor<&BlockStoreWrap::DurableSequence>("durableSequence"),
      InstanceAccessor<&BlockStoreWrap::LastSequence>("lastSequence"),
      InstanceAccessor<&BlockStoreWrap::Failure>("failure"),
    });
  }

  explicit BlockStoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BlockStoreWrap>(info) {
    tsfn_ = OnStoreDurable::New(info.Env(), info[3].As<Napi::Function>(), "hive.blockStore.durable", 0, 1);
    tsfn_.Unref(info.Env());
    hive::BlockStoreOptions options;
    options.cache_bytes = static_cast<uint64_t>(info[1].As<Napi::Number>().Int64Value());
    options.wal_segment_bytes = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
    OnStoreDurable tsfn = tsfn_;
    options.on_durable = [tsfn]() mutable { tsfn.NonBlockingCall(); };
    std::string error;
    std::unique_ptr<hive::BlockStore> store = hive::BlockStore::Open(info[0].As<Napi::String>().Utf8Value(), options, &error);
    if (!store) {
      tsfn_.Release();
      closed_ = true;
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
      return;
    }
    store_ = std::move(store);
  }

  // Collected without close(): the store's destructor makes pending appends durable, then the
  // durability callback can go.
  ~BlockStoreWrap() override {
    if (closed_) return;
    store_.reset();
    tsfn_.Release();
  }

 private:
  bool CheckOpen(Napi::Env env) {
    if (!closed_) return true;
    Napi::Error::New(env, "the block store is closed").ThrowAsJavaScriptException();
    return false;
  }

  static uint64_t U64(const Napi::Value& v) { return static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()); }

  Napi::Value Sequence(Napi::Env env, uint64_t sequence, const std::string& error) {
    if (sequence == 0) {
      Napi::Error::New(env, error).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return Napi::Number::New(env, static_cast<double>(sequence));
  }

  // (block, data: n × 4096 bytes) → sequence
  Napi::Value Write(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    auto data = info[1].As<Napi::Uint8Array>();
    if (data.ByteLength() == 0 || data.ByteLength() % kBlockBytes != 0) {
      Napi::RangeError::New(info.Env(), "data must be a non-empty multiple of 4096 bytes").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    std::string error;
    return Sequence(info.Env(), store_->Write(U64(info[0]), data.Data(), data.ByteLength() / kBlockBytes, &error), error);
  }

  // (block, count) → sequence
  Napi::Value Zero(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    std::string error;
    return Sequence(info.Env(), store_->Zero(U64(info[0]), U64(info[1]), &error), error);
  }

  Napi::Value NotifyAt(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    return Napi::Boolean::New(info.Env(), store_->NotifyWhenDurable(U64(info[0])));
  }

  // (block, count, out) → null when out is complete, else the misses as triples
  Napi::Value Read(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    const uint64_t count = U64(info[1]);
    auto out = info[2].As<Napi::Uint8Array>();
    if (out.ByteLength() / kBlockBytes < count) {
      Napi::RangeError::New(info.Env(), "out is shorter than count × 4096 bytes").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    const std::vector<uint64_t>& misses = store_->Read(U64(info[0]), count, out.Data());
    return misses.empty() ? info.Env().Null() : Napi::Value(ToFloat64Array(info.Env(), misses));
  }

  // (chunk, slot, data: n × 4096 bytes)
  Napi::Value Fill(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    auto data = info[2].As<Napi::Uint8Array>();
    if (data.ByteLength() % kBlockBytes != 0) {
      Napi::RangeError::New(info.Env(), "data must be a multiple of 4096 bytes").ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
    store_->Fill(U64(info[0]), info[1].As<Napi::Number>().Uint32Value(), data.Data(), data.ByteLength() / kBlockBytes);
    return info.Env().Undefined();
  }

  // (maxBlocks, all) → { id, blocks, zeros, data } | null
  Napi::Value Take(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    hive::TakenBlocks taken;
    if (!store_->Take(U64(info[0]), info[1].As<Napi::Boolean>().Value(), &taken)) return env.Null();
    Napi::Object out = Napi::Object::New(env);
    out.Set("id", Napi::Number::New(env, static_cast<double>(taken.id)));
    out.Set("blocks", ToFloat64Array(env, taken.blocks));
    out.Set("zeros", ToFloat64Array(env, taken.zeros));
    const size_t bytes = taken.blocks.size() * kBlockBytes;
    if (bytes == 0) {
      out.Set("data", Napi::Buffer<uint8_t>::New(env, 0));
    } else {
      // Handed over, not copied: a take is a whole chunk.
      auto free = [](Napi::Env, uint8_t* data) { delete[] data; };
      out.Set("data", Napi::Buffer<uint8_t>::NewOrCopy(env, taken.data.release(), bytes, free));
    }
    return out;
  }

  Napi::Value Commit(const Napi::CallbackInfo& info) {
    std::string error;
    if (CheckOpen(info.Env()) && !store_->Commit(U64(info[0]), U64(info[1]), &error)) {
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  Napi::Value Abandon(const Napi::CallbackInfo& info) {
    std::string error;
    if (CheckOpen(info.Env()) && !store_->Abandon(U64(info[0]), &error)) {
      Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
    }
    return info.Env().Undefined();
  }

  // (done(err)): the map is copied here, on the calling thread, so it is consistent; written off it.
  Napi::Value Checkpoint(const Napi::CallbackInfo& info) {
    if (CheckOpen(info.Env())) (new CheckpointWork(info[0].As<Napi::Function>(), store_->PrepareCheckpoint()))->Queue();
    return info.Env().Undefined();
  }

  Napi::Value ExportMap(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    const std::vector<uint8_t> map = store_->ExportMap();
    return Napi::Buffer<uint8_t>::Copy(info.Env(), map.data(), map.size());
  }

  Napi::Value ImportMap(const Napi::CallbackInfo& info) {
    if (!CheckOpen(info.Env())) return info.Env().Undefined();
    auto map = info[0].As<Napi::Uint8Array>();
    std::string error;
    if (!store_->ImportMap(map.Data(), map.ByteLength(), &error)) Napi::Error::New(info.Env(), error).ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!CheckOpen(env)) return env.Undefined();
    const hive::BlockStoreStats s = store_->stats();
    Napi::Object out = Napi::Object::New(env);
    auto set = [&](const char* name, uint64_t v) { out.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
    set("dirtyBlocks", s.dirty_blocks);
    set("dirtyBytes", s.dirty_bytes);
    set("mappedBlocks", s.mapped_blocks);
    set("cacheBytes", s.cache_bytes);
    set("cacheHits", s.cache_hits);
    set("cacheMisses", s.cache_misses);
    set("walSequence", s.wal_sequence);
    set("durableSequence", s.durable_sequence);
    return out;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (closed_) {
      info[0].As<Napi::Function>().Call({info.Env().Null()});
      return info.Env().Undefined();
    }
    closed_ = true;
    (new StoreCloseWork(info[0].As<Napi::Function>(), store_, tsfn_))->Queue();
    return info.Env().Undefined();
  }

  // The durability callback keeps the event loop alive only while something waits for it.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (!closed_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (!closed_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value DurableSequence(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_ ? store_->durable_sequence() : 0));
  }
  Napi::Value LastSequence(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(store_ ? store_->last_sequence() : 0));
  }
  Napi::Value Failure(const Napi::CallbackInfo& info) {
    const std::string failure = store_ ? store_->failure() : std::string();
    return failure.empty() ? info.Env().Null() : Napi::String::New(info.Env(), failure);
  }

  std::shared_ptr<hive::BlockStore> store_;
  OnStoreDurable tsfn_;
  bool closed_ = false;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("ReedSolomon", RsCodec::Define(env));
  exports.Set("gfKernel", Napi::String::New(env, hive::GfKernelName()));
  napi_value crc32c = nullptr;
  napi_create_function(env, "crc32c", NAPI_AUTO_LENGTH, Crc32c, nullptr, &crc32c);
  exports.Set("crc32c", Napi::Value(env, crc32c));
  exports.Set("crc32cKernel", Napi::String::New(env, hive::Crc32cKernel()));
  exports.Set("Wal", Wal::Define(env));
  exports.Set("readWal", Napi::Function::New<ReadWal>(env, "readWal"));
  exports.Set("readWalRecord", Napi::Function::New<ReadWalRecord>(env, "readWalRecord"));
  exports.Set("readWalRecordInto", Napi::Function::New<ReadWalRecordInto>(env, "readWalRecordInto"));
  exports.Set("readWalRecordCached", Napi::Function::New<ReadWalRecordCached>(env, "readWalRecordCached"));
  exports.Set("walRecordSpan", Napi::Function::New<WalRecordSpan>(env, "walRecordSpan"));
  exports.Set("BlockStore", BlockStoreWrap::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(hive_native, Init)
