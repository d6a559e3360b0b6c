// Memory readings the native stress tests compare before and after thousands of requests.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdio>

#include "core/cuda_check.h"

namespace lotus::testing {

// Device memory in use on the current device (all processes), bytes.
inline size_t gpuUsedBytes() {
  size_t free = 0, total = 0;
  LOTUS_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return total - free;
}

// This process's resident set (Linux /proc/self/statm; 0 elsewhere), bytes.
inline size_t residentBytes() {
  FILE* file = std::fopen("/proc/self/statm", "r");
  if (!file) return 0;
  unsigned long pages = 0, resident = 0;
  if (std::fscanf(file, "%lu %lu", &pages, &resident) != 2) resident = 0;
  std::fclose(file);
  return static_cast<size_t>(resident) * 4096;
}

}  // namespace lotus::testing
