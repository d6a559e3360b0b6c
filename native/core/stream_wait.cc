#include "core/stream_wait.h"

#include "core/cuda_check.h"

namespace lotus {

StreamWaiter::StreamWaiter() {
  LOTUS_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventBlockingSync | cudaEventDisableTiming));
}

StreamWaiter::~StreamWaiter() {
  if (event_ != nullptr && cudaEventDestroy(event_) != cudaSuccess) cudaGetLastError();
}

void StreamWaiter::wait(cudaStream_t stream) {
  LOTUS_CUDA_CHECK(cudaEventRecord(event_, stream));
  LOTUS_CUDA_CHECK(cudaEventSynchronize(event_));
}

bool StreamWaiter::waitNoThrow(cudaStream_t stream) noexcept {
  if (cudaEventRecord(event_, stream) == cudaSuccess && cudaEventSynchronize(event_) == cudaSuccess) return true;
  cudaGetLastError();
  return false;
}

}  // namespace lotus
