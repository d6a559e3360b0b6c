// What CUDA can see on this machine, gathered without ever throwing: the addon must load and
// report on machines with no driver or no GPU.
#pragma once
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
  size_t freeMemory = 0;
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

// Throws ERR_LOTUS_BACKEND_UNAVAILABLE with the reason when `device` cannot be used.
void requireUsableDevice(int device);

}  // namespace lotus
