// hive_crc32c_fast.node: crc32c(bytes, prev) as a V8 Fast API call, the one hot path of issue 3 where
// the binding costs as much as the work. A 4 KiB CRC takes ~125 ns in C++; through N-API the call
// adds 50–60 ns (napi_get_cb_info, napi_get_typedarray_info, napi_create_uint32, the handle scope),
// which a Fast API call removes: once TurboFan optimizes the caller it calls Crc32cFast directly,
// with the Uint8Array's pointer and length unpacked in generated code and the uint32 result boxed
// there too. Until then, and whenever the arguments do not fit the fast signature, V8 calls
// Crc32cSlow, which returns the same value.
//
// Why a second module rather than one more export of hive_native (addon.cc): that module is pure
// N-API, so it loads on any Node with N-API 8; this one uses the classic V8 API (a FunctionTemplate
// with a CFunction), which N-API does not expose, so it is bound to the Node ABI it was built for.
// Kept apart, a build or load failure here costs only speed: core/native.ts then falls back to
// hive_native's N-API crc32c. Both link the same crc32c.cc, so both return the same CRC.
#include <node.h>
#include <v8-version.h>
#include <v8.h>

#include <atomic>
#include <cstdint>

#include "crc32c.h"

// v8-fast-api-calls.h is part of V8's public API, but the header set Node 20 installs (what node-gyp
// compiles against) leaves it out. So the few declarations this file needs are restated below
// exactly as V8 11.3 (Node 20) lays them out; the constructors of CFunctionInfo and CFunction are
// not restated but called, exported by the node binary. Only the layouts and the type enum must
// match, and the JS tests check it: after warm-up V8 must take the fast path and return the right
// CRC. Later V8 versions change these types (CFunctionInfo gains a field, FastApiTypedArray goes), so
// there this module builds without the fast path: the slow callback alone, still cheaper than N-API.
#if V8_MAJOR_VERSION == 11 && V8_MINOR_VERSION == 3
#define HIVE_FAST_API 1
namespace v8 {

class CTypeInfo {
 public:
  enum class Type : uint8_t {
    kVoid, kBool, kUint8, kInt32, kUint32, kInt64, kUint64, kFloat32, kFloat64, kPointer,
    kV8Value, kSeqOneByteString, kApiObject, kAny,
  };
  enum class SequenceType : uint8_t { kScalar, kIsSequence, kIsTypedArray, kIsArrayBuffer };
  enum class Flags : uint8_t { kNone = 0 };

  explicit constexpr CTypeInfo(Type type, SequenceType sequence = SequenceType::kScalar,
                               Flags flags = Flags::kNone)
      : type_(type), sequence_type_(sequence), flags_(flags) {}

 private:
  Type type_;
  SequenceType sequence_type_;
  Flags flags_;
};

// What V8 passes for a TypedArray argument: element count, then the data pointer (byte offset
// already applied).
struct FastApiTypedArrayBase {
 protected:
  size_t length_ = 0;
};

template <typename T>
struct FastApiTypedArray : public FastApiTypedArrayBase {
  size_t length() const { return length_; }
  bool getStorageIfAligned(T** elements) const {
    if (reinterpret_cast<uintptr_t>(data_) % alignof(T) != 0) return false;
    *elements = static_cast<T*>(data_);
    return true;
  }

 private:
  void* data_;
};

class V8_EXPORT CFunctionInfo {
 public:
  CFunctionInfo(const CTypeInfo& return_info, unsigned int arg_count, const CTypeInfo* arg_info);

 private:
  const CTypeInfo return_info_;
  const unsigned int arg_count_;
  const CTypeInfo* arg_info_;
};

class V8_EXPORT CFunction {
 public:
  CFunction(const void* address, const CFunctionInfo* type_info);

 private:
  const void* address_;
  const CFunctionInfo* type_info_;
};

}  // namespace v8
#else
#define HIVE_FAST_API 0
#endif

namespace {

// How many calls took the fast path: the tests read it to know V8 really used it. A relaxed load
// and store, not an atomic increment, so it costs a cycle; a lost count between two worker
// threads does not matter.
std::atomic<uint64_t> fast_calls{0};

void Crc32cSlow(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  if (info.Length() < 2 || !info[0]->IsUint8Array() || !info[1]->IsNumber()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "crc32c(Uint8Array, number)")));
    return;
  }
  const auto view = info[0].As<v8::Uint8Array>();
  const uint32_t prev = info[1]->Uint32Value(isolate->GetCurrentContext()).FromJust();
  const size_t length = view->ByteLength();
  uint8_t small[64];
  uint32_t crc;
  if (!view->HasBuffer() && length <= sizeof small) {
    // A small array whose bytes live on the V8 heap (V8 keeps up to 64 there): copy them out
    // rather than make V8 move them into an ArrayBuffer of their own.
    crc = hive::Crc32c(small, view->CopyContents(small, sizeof small), prev);
  } else {
    // Detached or out of bounds (a shrunk resizable buffer), the length reads as 0.
    const auto* base = static_cast<const uint8_t*>(view->Buffer()->Data());
    crc = hive::Crc32c(length == 0 ? nullptr : base + view->ByteOffset(), length, prev);
  }
  info.GetReturnValue().Set(crc);
}

#if HIVE_FAST_API
uint32_t Crc32cFast(v8::Local<v8::Value> /*receiver*/, const v8::FastApiTypedArray<uint8_t>& data,
                    uint32_t prev) {
  fast_calls.store(fast_calls.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  uint8_t* bytes = nullptr;
  data.getStorageIfAligned(&bytes);  // One-byte elements: always aligned.
  return hive::Crc32c(bytes, data.length(), prev);
}

const v8::CFunction& FastCrc32c() {
  using T = v8::CTypeInfo;
  static const T kArgs[] = {T(T::Type::kV8Value),
                            T(T::Type::kUint8, T::SequenceType::kIsTypedArray),
                            T(T::Type::kUint32)};
  static const v8::CFunctionInfo kInfo(T(T::Type::kUint32), 3, kArgs);
  static const v8::CFunction kFunction(reinterpret_cast<const void*>(&Crc32cFast), &kInfo);
  return kFunction;
}
#endif

void FastCalls(const v8::FunctionCallbackInfo<v8::Value>& info) {
  info.GetReturnValue().Set(static_cast<double>(fast_calls.load(std::memory_order_relaxed)));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  v8::Isolate* isolate = context->GetIsolate();
  auto set = [&](const char* name, v8::Local<v8::Value> value) {
    exports->Set(context, v8::String::NewFromUtf8(isolate, name).ToLocalChecked(), value).Check();
  };
  const v8::CFunction* fast = nullptr;
#if HIVE_FAST_API
  fast = &FastCrc32c();
#endif
  const auto crc32c = v8::FunctionTemplate::New(
      isolate, Crc32cSlow, v8::Local<v8::Value>(), v8::Local<v8::Signature>(), 2,
      v8::ConstructorBehavior::kThrow, v8::SideEffectType::kHasNoSideEffect, fast);
  set("crc32c", crc32c->GetFunction(context).ToLocalChecked());
  set("fastApi", v8::Boolean::New(isolate, HIVE_FAST_API != 0));
  set("fastCalls", v8::FunctionTemplate::New(isolate, FastCalls)->GetFunction(context).ToLocalChecked());
}
