// Handing native memory to JS without a copy: an external ArrayBuffer whose finalizer releases the
// memory. Runtimes that forbid external buffers (Electron with the V8 sandbox answers
// napi_no_external_buffers_allowed) get one copy into a JS-owned buffer instead.
#pragma once
#include <napi.h>

#include <cstring>
#include <utility>
#include <vector>

namespace lotus::addon {

struct ExternalResult {
  Napi::ArrayBuffer buffer;
  bool zeroCopy;
};

// `owner` is moved to the heap and deleted by the finalizer (or right after the copy).
template <typename Owner>
ExternalResult makeExternalArrayBuffer(Napi::Env env, Owner&& owner, void* data, size_t byteLength) {
  auto* held = new std::decay_t<Owner>(std::forward<Owner>(owner));
  napi_value value = nullptr;
  napi_status status = napi_create_external_arraybuffer(
      env, data, byteLength,
      [](napi_env, void*, void* hint) { delete static_cast<std::decay_t<Owner>*>(hint); }, held, &value);
  if (status == napi_ok) return {Napi::ArrayBuffer(env, value), true};
  // Not allowed (or failed): copy, then free the native memory now.
  Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, byteLength);
  if (byteLength > 0) std::memcpy(copy.Data(), data, byteLength);
  delete held;
  return {copy, false};
}

// A std::vector's contents as a typed array of the matching kind, zero-copy where allowed.
inline Napi::Float32Array floatVectorToJs(Napi::Env env, std::vector<float>&& values) {
  float* data = values.data();
  size_t length = values.size();
  ExternalResult result = makeExternalArrayBuffer(env, std::move(values), data, length * sizeof(float));
  return Napi::Float32Array::New(env, length, result.buffer, 0);
}

inline Napi::Uint8Array byteVectorToJs(Napi::Env env, std::vector<uint8_t>&& values) {
  uint8_t* data = values.data();
  size_t length = values.size();
  ExternalResult result = makeExternalArrayBuffer(env, std::move(values), data, length);
  return Napi::Uint8Array::New(env, length, result.buffer, 0);
}

}  // namespace lotus::addon
