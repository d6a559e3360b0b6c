#include "core/device_info.h"

#include <cuda_runtime_api.h>

#include <cstdio>

#include "core/errors.h"

namespace lotus {
namespace {

std::string formatUuid(const cudaUUID_t& uuid) {
  const auto* b = reinterpret_cast<const unsigned char*>(uuid.bytes);
  char text[64];
  std::snprintf(text, sizeof(text), "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
                b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
  return text;
}

std::string describe(cudaError_t status) {
  return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
}

}  // namespace

DeviceInfo queryDeviceInfo() {
  DeviceInfo info;
  cudaRuntimeGetVersion(&info.runtimeVersion);
  if (cudaDriverGetVersion(&info.driverVersion) != cudaSuccess) info.driverVersion = 0;
  if (info.driverVersion == 0) {
    info.reason = "no NVIDIA driver found (libcuda.so.1 could not be loaded)";
    cudaGetLastError();
    return info;
  }
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    info.reason = "cudaGetDeviceCount failed: " + describe(status);
    cudaGetLastError();
    return info;
  }
  if (count == 0) {
    info.reason = "the NVIDIA driver reports no CUDA device";
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    DeviceProperties device;
    device.index = i;
    device.name = prop.name;
    device.uuid = formatUuid(prop.uuid);
    device.computeMajor = prop.major;
    device.computeMinor = prop.minor;
    device.totalMemory = prop.totalGlobalMem;
    device.multiProcessorCount = prop.multiProcessorCount;
    int previous = 0;
    if (cudaGetDevice(&previous) == cudaSuccess && cudaSetDevice(i) == cudaSuccess) {
      size_t freeBytes = 0, totalBytes = 0;
      if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) device.freeMemory = freeBytes;
      cudaSetDevice(previous);
    }
    cudaGetLastError();
    info.devices.push_back(device);
  }
  if (info.devices.empty()) info.reason = "no CUDA device could be queried";
  return info;
}

void requireUsableDevice(int device) {
  DeviceInfo info = queryDeviceInfo();
  if (!info.usable()) throw Error(ErrorCode::BackendUnavailable, "no usable CUDA device: " + info.reason);
  if (device < 0 || device >= static_cast<int>(info.devices.size())) {
    throw ArgumentError("device", "a CUDA device index in [0, " + std::to_string(info.devices.size()) + "), got " +
                                      std::to_string(device));
  }
}

}  // namespace lotus
