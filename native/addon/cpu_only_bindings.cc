// The GPU half of the addon's surface in a CPU-only build (no CUDA toolkit at build time): the same
// functions, which report or throw why the GPU is out of reach and how to get a build that has it.
#include <string>

#include "addon/bindings.h"
#include "addon/js_errors.h"
#include "core/driver_version.h"

namespace lotus::addon {
namespace {

const std::string& cpuOnlyReason() {
  static const std::string reason =
      std::string("this lotus-trt binary is CPU-only (") + LOTUS_CPU_ONLY_REASON +
      "): use a prebuilt binary (linux-x64: reinstall without --build-from-source) or rebuild with the CUDA "
      "toolkit: `npm rebuild lotus-trt --build-from-source` with nvcc on PATH or CUDACXX set (docs/install.md)";
  return reason;
}

Napi::Value DeviceInfoBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string release = nvidiaDriverRelease();
  Napi::Object result = Napi::Object::New(env);
  result.Set("cudaRuntimeVersion", 0);
  result.Set("cudaDriverVersion", 0);
  result.Set("driverRelease", release.empty() ? env.Null() : Napi::String::New(env, release));
  result.Set("requiredDriver", env.Null());
  result.Set("usable", false);
  result.Set("reason", cpuOnlyReason());
  result.Set("devices", Napi::Array::New(env));
  return result;
}

Napi::Value TensorRTInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object result = Napi::Object::New(env);
  result.Set("available", false);
  result.Set("reason", cpuOnlyReason());
  result.Set("pluginPath", env.Null());
  result.Set("compiledVersion", env.Null());
  result.Set("libraryVersion", env.Null());
  Napi::Object parser = Napi::Object::New(env);
  parser.Set("available", false);
  parser.Set("reason", cpuOnlyReason());
  result.Set("onnxParser", parser);
  Napi::Object plugins = Napi::Object::New(env);
  plugins.Set("available", false);
  plugins.Set("reason", cpuOnlyReason());
  result.Set("pluginLibrary", plugins);
  return result;
}

Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  throw makeJsError(info.Env(), ErrorCode::BackendUnavailable, cpuOnlyReason());
}

Napi::Value UnavailablePromise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(makeJsError(env, ErrorCode::BackendUnavailable, cpuOnlyReason()).Value());
  return deferred.Promise();
}

}  // namespace

void InitDeviceInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfoBinding, "deviceInfo"));
  exports.Set("deviceMemory", Napi::Function::New(env, UnavailablePromise, "deviceMemory"));
}

void InitTensorRT(Napi::Env env, Napi::Object exports) {
  exports.Set("tensorrtInfo", Napi::Function::New(env, TensorRTInfo, "tensorrtInfo"));
  exports.Set("buildEngine", Napi::Function::New(env, Unavailable, "buildEngine"));
}

// openGpuSession rejects like the GPU build's does without a usable GPU; GpuSession is never made.
void InitGpuSession(Napi::Env env, Napi::Object exports) {
  exports.Set("openGpuSession", Napi::Function::New(env, UnavailablePromise, "openGpuSession"));
}

}  // namespace lotus::addon
