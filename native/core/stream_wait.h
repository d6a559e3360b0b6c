// Waiting for a stream without burning a CPU core. cudaStreamSynchronize follows the device's
// schedule flag, and under the default cudaDeviceScheduleAuto (fewer active contexts than cores)
// that is a spin: one core at 100 % for every request in flight. A wait on an event created with
// cudaEventBlockingSync sleeps the thread until the GPU reaches the event, whatever the device flag.
#pragma once
#include <cuda_runtime_api.h>

namespace lotus {

class StreamWaiter {
 public:
  StreamWaiter();  // throws lotus::Error (ERR_LOTUS_CUDA)
  ~StreamWaiter();
  StreamWaiter(const StreamWaiter&) = delete;
  StreamWaiter& operator=(const StreamWaiter&) = delete;

  // Blocks (sleeping) until all work queued on `stream` so far has finished. Throws on a CUDA error.
  void wait(cudaStream_t stream);
  // The same for destructors and error paths: returns false instead of throwing (error cleared).
  bool waitNoThrow(cudaStream_t stream) noexcept;

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace lotus
