#include "core/cuda_driver.h"

#include <dlfcn.h>

namespace lotus {
namespace {

template <typename Fn>
bool bind(void* handle, const char* name, Fn& out, std::string& failure) {
  dlerror();
  out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (out == nullptr && failure.empty()) failure = std::string("libcuda.so.1 has no ") + name;
  return out != nullptr;
}

CudaDriver load() {
  CudaDriver driver;
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = dlerror();
    driver.failure = reason ? reason : "libcuda.so.1: cannot be loaded";
    return driver;
  }
  std::string failure;
  bind(handle, "cuInit", driver.init, failure);
  bind(handle, "cuDriverGetVersion", driver.driverGetVersion, failure);
  bind(handle, "cuDeviceGetCount", driver.deviceGetCount, failure);
  bind(handle, "cuDeviceGet", driver.deviceGet, failure);
  bind(handle, "cuDeviceGetName", driver.deviceGetName, failure);
  bind(handle, "cuDeviceGetUuid_v2", driver.deviceGetUuid, failure);
  bind(handle, "cuDeviceTotalMem_v2", driver.deviceTotalMem, failure);
  bind(handle, "cuDeviceGetAttribute", driver.deviceGetAttribute, failure);
  bind(handle, "cuGetErrorName", driver.getErrorName, failure);
  bind(handle, "cuGetErrorString", driver.getErrorString, failure);
  driver.failure = failure;
  return driver;
}

}  // namespace

std::string CudaDriver::describe(CUresult status) const {
  const char* name = nullptr;
  const char* text = nullptr;
  if (getErrorName == nullptr || getErrorName(status, &name) != CUDA_SUCCESS || name == nullptr) {
    return "CUDA driver error " + std::to_string(static_cast<int>(status));
  }
  if (getErrorString == nullptr || getErrorString(status, &text) != CUDA_SUCCESS || text == nullptr) return name;
  return std::string(name) + ": " + text;
}

const CudaDriver& cudaDriver() {
  static const CudaDriver driver = load();
  return driver;
}

}  // namespace lotus
