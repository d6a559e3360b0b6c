#include "core/cuda_check.h"

#include <string>

namespace lotus {

void throwCudaError(cudaError_t status, const char* expr, const char* file, int line) {
  // Clear the sticky "last error" so one failed call does not poison the next request.
  cudaGetLastError();
  std::string message = std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status) + " (" + expr +
                        " at " + file + ":" + std::to_string(line) + ")";
  throw Error(ErrorCode::Cuda, message);
}

}  // namespace lotus
