// deviceInfo(): the CUDA runtime/driver state and every visible device, or why none is usable,
// without a CUDA context anywhere. deviceMemory(index): one device's free memory, on a pool thread.
#include "addon/arg_parse.h"
#include "addon/bindings.h"
#include "addon/promise_worker.h"
#include "core/device_info.h"
#include "core/driver_version.h"

namespace lotus::addon {
namespace {

Napi::Value DeviceInfoBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DeviceInfo device = queryDeviceInfo();
  const DriverRequirement required = driverRequirement(device.runtimeVersion);
  const std::string release = nvidiaDriverRelease();
  // An old driver fails every CUDA call with "insufficient driver": name the driver and the minimum.
  if (device.driverVersion > 0 && device.driverVersion < required.cudaVersion) {
    device.reason = "the NVIDIA driver " + (release.empty() ? std::string() : release + " ") + "supports up to " +
                    cudaVersionText(device.driverVersion) + "; this binary needs " + cudaVersionText(required.cudaVersion) +
                    ": driver " + required.release + " or newer (" + device.reason + ")";
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("cudaRuntimeVersion", device.runtimeVersion);
  result.Set("cudaDriverVersion", device.driverVersion);
  result.Set("driverRelease", release.empty() ? env.Null() : Napi::String::New(env, release));
  Napi::Object minimum = Napi::Object::New(env);
  minimum.Set("cudaVersion", required.cudaVersion);
  minimum.Set("release", required.release);
  result.Set("requiredDriver", minimum);
  result.Set("usable", device.usable());
  result.Set("reason", device.reason.empty() ? env.Null() : Napi::String::New(env, device.reason));
  Napi::Array devices = Napi::Array::New(env, device.devices.size());
  for (size_t i = 0; i < device.devices.size(); ++i) {
    const DeviceProperties& d = device.devices[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", d.index);
    entry.Set("name", d.name);
    entry.Set("uuid", d.uuid);
    Napi::Array cc = Napi::Array::New(env, 2);
    cc.Set(0u, d.computeMajor);
    cc.Set(1u, d.computeMinor);
    entry.Set("computeCapability", cc);
    entry.Set("totalMemory", static_cast<double>(d.totalMemory));
    entry.Set("multiProcessorCount", d.multiProcessorCount);
    devices.Set(static_cast<uint32_t>(i), entry);
  }
  result.Set("devices", devices);
  return result;
}

class DeviceMemoryWorker : public PromiseWorker {
 public:
  DeviceMemoryWorker(Napi::Env env, int device, bool allowContext)
      : PromiseWorker(env), device_(device), allowContext_(allowContext) {}

 protected:
  void Run() override { memory_ = queryDeviceMemory(device_, allowContext_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object out = Napi::Object::New(env);
    out.Set("device", device_);
    out.Set("free", memory_.known ? Napi::Number::New(env, static_cast<double>(memory_.free)) : env.Null());
    out.Set("total", memory_.known ? Napi::Number::New(env, static_cast<double>(memory_.total)) : env.Null());
    out.Set("source", memory_.known ? Napi::String::New(env, memory_.source) : env.Null());
    out.Set("reason", memory_.known ? env.Null() : Napi::String::New(env, memory_.reason));
    return out;
  }

 private:
  int device_;
  bool allowContext_;
  DeviceMemory memory_;
};

// deviceMemory(device, { allowContext = true }?)
Napi::Value DeviceMemoryBinding(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return promiseOrRejection(env, [&]() -> Napi::Value {
    const int device = static_cast<int>(requireInteger(info[0], "device", 0, 1024));
    bool allowContext = true;
    if (!info[1].IsUndefined() && !info[1].IsNull()) {
      Napi::Value allow = requireObject(info[1], "options").Get("allowContext");
      if (!allow.IsUndefined()) allowContext = requireBoolean(allow, "options.allowContext");
    }
    return (new DeviceMemoryWorker(env, device, allowContext))->queue();
  });
}

}  // namespace

void InitDeviceInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfoBinding, "deviceInfo"));
  exports.Set("deviceMemory", Napi::Function::New(env, DeviceMemoryBinding, "deviceMemory"));
}

}  // namespace lotus::addon
