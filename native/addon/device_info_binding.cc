// deviceInfo(): the CUDA runtime/driver state and every visible device, or why none is usable.
#include "addon/bindings.h"
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
    entry.Set("freeMemory", static_cast<double>(d.freeMemory));
    entry.Set("multiProcessorCount", d.multiProcessorCount);
    devices.Set(static_cast<uint32_t>(i), entry);
  }
  result.Set("devices", devices);
  return result;
}

}  // namespace

void InitDeviceInfo(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceInfo", Napi::Function::New(env, DeviceInfoBinding, "deviceInfo"));
}

}  // namespace lotus::addon
