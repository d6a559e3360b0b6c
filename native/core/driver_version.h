// NVIDIA driver facts that need no CUDA: the installed driver release (from the kernel module) and
// the oldest driver a CUDA runtime major accepts. Host-only, so CPU-only builds report them too.
#pragma once
#include <string>

namespace lotus {

// "580.65.06" from /sys/module/nvidia/version or /proc/driver/nvidia/version; "" without a driver.
std::string nvidiaDriverRelease();

struct DriverRequirement {
  int cudaVersion = 0;  // the CUDA version the driver must support, e.g. 13000
  std::string release;  // the oldest Linux driver release that does, e.g. "580.65.06"
};

// What a binary linked with CUDA runtime `runtimeVersion` (e.g. 13000) needs: CUDA's minor-version
// compatibility lets any 13.x runtime run on a 13.0 driver. Empty release for an unknown major.
DriverRequirement driverRequirement(int runtimeVersion);

// "13.0" for 13000.
std::string cudaVersionNumber(int version);
// "CUDA 13.0" for 13000.
std::string cudaVersionText(int version);

}  // namespace lotus
