// What CUDA can see on this machine, gathered without ever throwing (the addon must load and
// report on machines with no driver or no GPU) and without creating a CUDA context on any device
// (driver API attributes only: core/cuda_driver.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lotus {

struct DeviceProperties {
  int index = 0;
  std::string name;
  std::string uuid;  // "GPU-xxxxxxxx-...", as nvidia-smi prints it
  int computeMajor = 0;
  int computeMinor = 0;
  size_t totalMemory = 0;
  int multiProcessorCount = 0;
};

struct DeviceInfo {
  int runtimeVersion = 0;  // the statically linked cudart, e.g. 13000
  int driverVersion = 0;   // 0 when no driver is installed
  std::vector<DeviceProperties> devices;
  std::string reason;      // empty when at least one device is usable
  bool usable() const { return !devices.empty() && reason.empty(); }
};

DeviceInfo queryDeviceInfo();

// Throws ERR_LOTUS_BACKEND_UNAVAILABLE with the reason when `device` cannot be used; else its properties.
DeviceProperties requireUsableDevice(int device);

struct DeviceMemory {
  bool known = false;
  uint64_t free = 0, total = 0;
  std::string source;  // "nvml" or "cuda" (the device's own context)
  std::string reason;  // why unknown
};

// Free and total memory of one device: from NVML when it loads (no CUDA context), else, when
// allowContext, from cudaMemGetInfo in the device's primary context (created if it does not exist:
// ask for the device you use). Blocks for up to seconds (NVML or context start-up): not for the JS
// thread. Throws ArgumentError for a device index that does not exist.
DeviceMemory queryDeviceMemory(int device, bool allowContext);

}  // namespace lotus
