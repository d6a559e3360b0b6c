#include "core/nvml.h"

#include <dlfcn.h>

namespace lotus {
namespace {

// The few NVML declarations used (nvml.h is not part of the CUDA toolkit everywhere); stable ABI.
using NvmlReturn = int;  // nvmlReturn_t: 0 = NVML_SUCCESS
struct NvmlDeviceHandle;
struct NvmlMemoryInfo {  // nvmlMemory_t
  unsigned long long total, free, used;
};

struct Nvml {
  std::string failure;
  NvmlReturn (*getHandleByUuid)(const char*, NvmlDeviceHandle**) = nullptr;
  NvmlReturn (*getMemoryInfo)(NvmlDeviceHandle*, NvmlMemoryInfo*) = nullptr;
  const char* (*errorString)(NvmlReturn) = nullptr;

  std::string describe(NvmlReturn status) const {
    const char* text = errorString ? errorString(status) : nullptr;
    return "NVML error " + std::to_string(status) + (text ? std::string(": ") + text : "");
  }
};

Nvml load() {
  Nvml nvml;
  void* handle = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    nvml.failure = reason ? reason : "libnvidia-ml.so.1: cannot be loaded";
    return nvml;
  }
  auto init = reinterpret_cast<NvmlReturn (*)()>(dlsym(handle, "nvmlInit_v2"));
  nvml.getHandleByUuid = reinterpret_cast<decltype(nvml.getHandleByUuid)>(dlsym(handle, "nvmlDeviceGetHandleByUUID"));
  nvml.getMemoryInfo = reinterpret_cast<decltype(nvml.getMemoryInfo)>(dlsym(handle, "nvmlDeviceGetMemoryInfo"));
  nvml.errorString = reinterpret_cast<decltype(nvml.errorString)>(dlsym(handle, "nvmlErrorString"));
  if (!init || !nvml.getHandleByUuid || !nvml.getMemoryInfo) {
    nvml.failure = "libnvidia-ml.so.1 lacks nvmlInit_v2, nvmlDeviceGetHandleByUUID or nvmlDeviceGetMemoryInfo";
    return nvml;
  }
  const NvmlReturn status = init();  // kept initialised for the process (NVML counts init/shutdown)
  if (status != 0) nvml.failure = "nvmlInit failed: " + nvml.describe(status);
  return nvml;
}

}  // namespace

NvmlMemory nvmlMemoryByUuid(const std::string& uuid) {
  static const Nvml nvml = load();  // thread-safe once
  NvmlMemory memory;
  if (!nvml.failure.empty()) {
    memory.failure = nvml.failure;
    return memory;
  }
  NvmlDeviceHandle* device = nullptr;
  NvmlReturn status = nvml.getHandleByUuid(uuid.c_str(), &device);
  if (status != 0) {
    memory.failure = "nvmlDeviceGetHandleByUUID(" + uuid + ") failed: " + nvml.describe(status);
    return memory;
  }
  NvmlMemoryInfo info{};
  status = nvml.getMemoryInfo(device, &info);
  if (status != 0) {
    memory.failure = "nvmlDeviceGetMemoryInfo failed: " + nvml.describe(status);
    return memory;
  }
  memory.ok = true;
  memory.free = info.free;
  memory.total = info.total;
  return memory;
}

}  // namespace lotus
