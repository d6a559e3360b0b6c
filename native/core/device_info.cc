#include "core/device_info.h"

#include <cuda_runtime_api.h>

#include <cstdio>

#include "core/cuda_driver.h"
#include "core/driver_version.h"
#include "core/errors.h"
#include "core/memory_pool.h"  // ScopedDevice
#include "core/nvml.h"

namespace lotus {
namespace {

std::string formatUuid(const CUuuid& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  char text[64];
  std::snprintf(text, sizeof(text), "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

// Everything comes from attributes of the device handle: none of these calls creates a context.
bool describeDevice(const CudaDriver& driver, int index, DeviceProperties& device) {
  CUdevice handle = 0;
  if (driver.deviceGet(&handle, index) != CUDA_SUCCESS) return false;
  char name[256] = {};
  CUuuid uuid{};
  size_t total = 0;
  int major = 0, minor = 0, sms = 0;
  if (driver.deviceGetName(name, sizeof(name) - 1, handle) != CUDA_SUCCESS ||
      driver.deviceGetUuid(&uuid, handle) != CUDA_SUCCESS || driver.deviceTotalMem(&total, handle) != CUDA_SUCCESS ||
      driver.deviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, handle) != CUDA_SUCCESS ||
      driver.deviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, handle) != CUDA_SUCCESS ||
      driver.deviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, handle) != CUDA_SUCCESS) {
    return false;
  }
  device.index = index;
  device.name = name;
  device.uuid = formatUuid(uuid);
  device.computeMajor = major;
  device.computeMinor = minor;
  device.totalMemory = total;
  device.multiProcessorCount = sms;
  return true;
}

}  // namespace

DeviceInfo queryDeviceInfo() {
  DeviceInfo info;
  info.runtimeVersion = CUDART_VERSION;  // linked statically: asking cudart would start it up
  const CudaDriver& driver = cudaDriver();
  if (!driver.loaded()) {
    info.reason = "no NVIDIA driver found (libcuda.so.1 could not be loaded: " + driver.failure + ")";
    return info;
  }
  if (driver.driverGetVersion(&info.driverVersion) != CUDA_SUCCESS) info.driverVersion = 0;
  CUresult status = driver.init(0);
  if (status == CUDA_ERROR_NO_DEVICE) {
    info.reason = "the NVIDIA driver reports no CUDA device";
    return info;
  }
  if (status != CUDA_SUCCESS) {
    info.reason = "cuInit failed: " + driver.describe(status);
    return info;
  }
  int count = 0;
  status = driver.deviceGetCount(&count);
  if (status != CUDA_SUCCESS) {
    info.reason = "cuDeviceGetCount failed: " + driver.describe(status);
    return info;
  }
  if (count == 0) {
    info.reason = "the NVIDIA driver reports no CUDA device";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    DeviceProperties device;
    if (describeDevice(driver, i, device)) info.devices.push_back(device);
  }
  if (info.devices.empty()) {
    info.reason = "no CUDA device could be queried";
  } else if (info.driverVersion < driverRequirement(info.runtimeVersion).cudaVersion) {
    // What the runtime would say at its first call (cudaErrorInsufficientDriver), said here.
    info.reason = "CUDA driver version is insufficient for CUDA runtime version (driver CUDA " +
                  cudaVersionNumber(info.driverVersion) + ", runtime " + cudaVersionNumber(info.runtimeVersion) + ")";
  }
  return info;
}

DeviceProperties requireUsableDevice(int device) {
  DeviceInfo info = queryDeviceInfo();
  if (!info.usable()) throw Error(ErrorCode::BackendUnavailable, "no usable CUDA device: " + info.reason);
  if (device < 0 || device >= static_cast<int>(info.devices.size())) {
    throw ArgumentError("device", "a CUDA device index in [0, " + std::to_string(info.devices.size()) + "), got " +
                                      std::to_string(device));
  }
  return info.devices[device];
}

DeviceMemory queryDeviceMemory(int device, bool allowContext) {
  const DeviceProperties properties = requireUsableDevice(device);
  DeviceMemory memory;
  const NvmlMemory nvml = nvmlMemoryByUuid(properties.uuid);
  if (nvml.ok) {
    memory.known = true;
    memory.free = nvml.free;
    memory.total = nvml.total;
    memory.source = "nvml";
    return memory;
  }
  if (!allowContext) {
    memory.reason = "NVML is unavailable (" + nvml.failure + ") and reading it through CUDA would create a context";
    return memory;
  }
  ScopedDevice current(device);
  size_t freeBytes = 0, totalBytes = 0;
  const cudaError_t status = cudaMemGetInfo(&freeBytes, &totalBytes);
  if (status != cudaSuccess) {
    cudaGetLastError();
    memory.reason = "NVML is unavailable (" + nvml.failure + ") and cudaMemGetInfo failed: " +
                    cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
    return memory;
  }
  memory.known = true;
  memory.free = freeBytes;
  memory.total = totalBytes;
  memory.source = "cuda";
  return memory;
}

}  // namespace lotus
