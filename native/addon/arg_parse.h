// Checking JS arguments of the data-path bindings. Each helper throws lotus::ArgumentError (turned
// into a TypeError with `code` and `parameter` by addon/js_errors.h) naming the parameter.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/pipeline_geometry.h"

namespace lotus::addon {

inline int64_t requireInteger(const Napi::Value& value, const char* parameter, int64_t minValue, int64_t maxValue) {
  if (!value.IsNumber()) throw ArgumentError(parameter, "an integer");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number || number < static_cast<double>(minValue) ||
      number > static_cast<double>(maxValue)) {
    throw ArgumentError(parameter, "an integer in [" + std::to_string(minValue) + ", " + std::to_string(maxValue) + "]");
  }
  return static_cast<int64_t>(number);
}

inline bool requireBoolean(const Napi::Value& value, const char* parameter) {
  if (!value.IsBoolean()) throw ArgumentError(parameter, "a boolean");
  return value.As<Napi::Boolean>().Value();
}

inline Napi::Object requireObject(const Napi::Value& value, const char* parameter) {
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) throw ArgumentError(parameter, "an object");
  return value.As<Napi::Object>();
}

inline std::string requireOneOf(const Napi::Value& value, const char* parameter,
                                 std::initializer_list<const char*> choices) {
  std::string expected;
  for (const char* choice : choices) expected += (expected.empty() ? "'" : " | '") + std::string(choice) + "'";
  if (!value.IsString()) throw ArgumentError(parameter, expected);
  std::string text = value.As<Napi::String>().Utf8Value();
  for (const char* choice : choices) {
    if (text == choice) return text;
  }
  throw ArgumentError(parameter, expected + ", got '" + text + "'");
}

// Bytes of a Uint8Array (Buffer included), copied: JS may detach, resize or change the original
// while a worker reads it.
inline std::vector<uint8_t> copyUint8Array(const Napi::Value& value, const char* parameter) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw ArgumentError(parameter, "a Uint8Array");
  }
  Napi::Uint8Array array = value.As<Napi::Uint8Array>();
  std::vector<uint8_t> bytes(array.ByteLength());
  if (!bytes.empty()) std::memcpy(bytes.data(), array.Data(), bytes.size());
  return bytes;
}

inline Napi::Float32Array requireFloat32Array(const Napi::Value& value, const char* parameter) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw ArgumentError(parameter, "a Float32Array");
  }
  return value.As<Napi::Float32Array>();
}

inline std::vector<float> copyFloat32Array(const Napi::Value& value, const char* parameter) {
  Napi::Float32Array array = requireFloat32Array(value, parameter);
  std::vector<float> values(array.ElementLength());
  if (!values.empty()) std::memcpy(values.data(), array.Data(), values.size() * sizeof(float));
  return values;
}

inline Task requireTask(const Napi::Value& value) {
  return requireOneOf(value, "task", {"depth", "normal"}) == "depth" ? Task::Depth : Task::Normal;
}

inline Resample requireResample(const Napi::Value& value) {
  return requireOneOf(value, "resample", {"nearest", "bilinear"}) == "nearest" ? Resample::Nearest : Resample::Bilinear;
}

// The pixels of a request: a Uint8Array holding exactly the planned image, copied so the worker
// thread never touches JS memory.
inline std::vector<uint8_t> copyPixels(const Napi::Value& value, const PreprocessPlan& plan,
                                       const std::string& parameter = "pixels") {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw ArgumentError(parameter, "a Uint8Array");
  }
  const size_t byteLength = value.As<Napi::Uint8Array>().ByteLength();
  if (byteLength != plan.pixelBytes()) {
    throw ArgumentError(parameter, "width * height * channels = " + std::to_string(plan.pixelBytes()) +
                                       " bytes, got " + std::to_string(byteLength));
  }
  return copyUint8Array(value, parameter.c_str());
}

}  // namespace lotus::addon
