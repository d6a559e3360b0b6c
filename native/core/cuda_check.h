// CUDA status -> lotus::Error (code ERR_LOTUS_CUDA) with the call site and CUDA's own message.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "core/errors.h"

namespace lotus {

[[noreturn]] void throwCudaError(cudaError_t status, const char* expr, const char* file, int line);

}  // namespace lotus

#define LOTUS_CUDA_CHECK(expr)                                                   \
  do {                                                                           \
    cudaError_t lotus_status_ = (expr);                                          \
    if (lotus_status_ != cudaSuccess) {                                          \
      ::lotus::throwCudaError(lotus_status_, #expr, __FILE__, __LINE__);         \
    }                                                                            \
  } while (0)
