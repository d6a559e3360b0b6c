// A device's memory from NVML (libnvidia-ml.so.1, loaded with dlopen; it ships with the driver but a
// container may lack it). NVML reads it from the driver without a CUDA context.
#pragma once
#include <cstdint>
#include <string>

namespace lotus {

struct NvmlMemory {
  bool ok = false;
  uint64_t free = 0, total = 0;
  std::string failure;  // why not, when !ok
};

// `uuid` as deviceInfo() reports it ("GPU-xxxxxxxx-..."). Loads and initialises NVML on first use
// (seconds on some machines): call it off the JS thread.
NvmlMemory nvmlMemoryByUuid(const std::string& uuid);

}  // namespace lotus
