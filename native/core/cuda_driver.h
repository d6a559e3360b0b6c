// The CUDA driver API calls that describe devices without creating a context (libcuda.so.1, loaded
// with dlopen: the addon links cudart statically and never libcuda). cudaSetDevice and every runtime
// call that needs a device create its primary context: hundreds of MiB on each GPU touched, and an
// EXCLUSIVE_PROCESS GPU taken from other processes. Device queries go through this instead.
#pragma once
#include <cuda.h>

#include <string>

namespace lotus {

struct CudaDriver {
  std::string failure;  // why libcuda.so.1 (or a symbol) is unusable; empty when loaded
  decltype(&::cuInit) init = nullptr;
  decltype(&::cuDriverGetVersion) driverGetVersion = nullptr;
  decltype(&::cuDeviceGetCount) deviceGetCount = nullptr;
  decltype(&::cuDeviceGet) deviceGet = nullptr;
  decltype(&::cuDeviceGetName) deviceGetName = nullptr;
  decltype(&::cuDeviceGetUuid) deviceGetUuid = nullptr;          // cuDeviceGetUuid_v2
  decltype(&::cuDeviceTotalMem) deviceTotalMem = nullptr;        // cuDeviceTotalMem_v2
  decltype(&::cuDeviceGetAttribute) deviceGetAttribute = nullptr;
  decltype(&::cuGetErrorName) getErrorName = nullptr;
  decltype(&::cuGetErrorString) getErrorString = nullptr;

  bool loaded() const { return failure.empty(); }
  // "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"
  std::string describe(CUresult status) const;
};

// Loaded once per process (never unloaded: cudart uses the same library).
const CudaDriver& cudaDriver();

}  // namespace lotus
