// The only file that includes napi.h: it converts arguments and schedules work. The engines (Reed-
// Solomon, CRC32C, the WAL, the block store) arrive as plain C++ classes beside it in later issues.
#include <napi.h>

namespace {

// Bumped whenever the JS-visible surface of the addon changes, so core/native.ts can refuse a stale build.
constexpr uint32_t kAbiVersion = 1;

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  return exports;
}

}  // namespace

NODE_API_MODULE(hive_native, Init)
