#include "core/memory_pool.h"

#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "core/errors.h"
#include "core/offload.h"

namespace lotus {

ScopedDevice::ScopedDevice(int device) : device_(device) {
  if (cudaGetDevice(&previous_) != cudaSuccess) {
    previous_ = -1;
    cudaGetLastError();
  }
  if (previous_ != device_ && cudaSetDevice(device_) != cudaSuccess) cudaGetLastError();
}

ScopedDevice::~ScopedDevice() {
  if (previous_ >= 0 && previous_ != device_ && cudaSetDevice(previous_) != cudaSuccess) cudaGetLastError();
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::move(other.pool_);
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

void Lease::reset() {
  if (data_ != nullptr && pool_) pool_->release(data_, bytes_);
  data_ = nullptr;
  bytes_ = 0;
  pool_.reset();
}

std::shared_ptr<MemoryPool> MemoryPool::create(MemoryKind kind, int device, size_t maxCachedBytes) {
  // The last lease may be a zero-copy result's finalizer on the JS thread: the frees then run on the
  // thread's offloader (core/offload.h), not on the event loop.
  return shareOffloaded(new MemoryPool(kind, device, maxCachedBytes));
}

MemoryPool::~MemoryPool() {
  // Every lease holds a reference, so only idle buffers remain here. Runs on a worker thread, or on
  // whichever thread dropped the last reference where that thread has no offloader.
  ScopedDevice current(device_);
  for (auto& entry : idle_) free(entry.second);
}

size_t MemoryPool::sizeClass(size_t bytes) {
  // 256-byte granularity (TensorRT's alignment), then 4 to 8 classes per power of two.
  size_t rounded = bytes < 256 ? 256 : (bytes + 255) / 256 * 256;
  size_t top = 256;
  while (top < rounded / 8 && top < (size_t{1} << 62)) top <<= 1;
  size_t step = top;  // rounded is within (4 * step, 8 * step]: steps of 1/4 to 1/8 of it
  return (rounded + step - 1) / step * step;
}

void* MemoryPool::allocate(size_t bytes) {
  void* data = nullptr;
  LOTUS_CUDA_CHECK(cudaSetDevice(device_));
  cudaError_t status = kind_ == MemoryKind::Device ? cudaMalloc(&data, bytes)
                                                   : cudaHostAlloc(&data, bytes, cudaHostAllocPortable);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so the retry is not poisoned
    return nullptr;
  }
  return data;
}

void MemoryPool::free(void* data) {
  // Errors on free are ignored: the memory is gone either way and destructors must not throw.
  // Frees run on whichever thread drops the last lease (JS finalizer, worker): make our device current.
  ScopedDevice current(device_);
  if (kind_ == MemoryKind::Device) {
    cudaFree(data);
  } else {
    cudaFreeHost(data);
  }
  cudaGetLastError();
}

Lease MemoryPool::acquire(size_t bytes) {
  if (bytes > (size_t{1} << 40)) throw ArgumentError("bytes", "at most 1 TiB per buffer");
  size_t size = sizeClass(bytes);
  void* reused = nullptr;
  std::vector<void*> excess;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = idleBySize_.find(size);
    if (found != idleBySize_.end()) {
      reused = found->second->second;
      idle_.erase(found->second);
      idleBySize_.erase(found);
      stats_.bytesCached -= size;
      stats_.bytesInUse += size;
      stats_.reuses += 1;
    }
    excess = takeIdleOverLocked(maxCachedBytes_);
  }
  // CUDA calls run outside the lock: cudaFree synchronizes the device, and other lanes must still
  // be able to lease and return buffers meanwhile.
  freeBuffers(excess);
  if (reused != nullptr) return Lease(shared_from_this(), reused, size);
  void* data = allocate(size);
  if (data == nullptr) {
    // Out of memory: give every idle buffer back and try once more.
    trim(0);
    data = allocate(size);
    if (data == nullptr) {
      throw Error(ErrorCode::Cuda, std::string(kind_ == MemoryKind::Device ? "device" : "pinned host") +
                                       " allocation of " + std::to_string(size) + " bytes failed (out of memory)");
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocations += 1;
  stats_.bytesInUse += size;
  if (stats_.bytesInUse + stats_.bytesCached > stats_.peakBytes) stats_.peakBytes = stats_.bytesInUse + stats_.bytesCached;
  return Lease(shared_from_this(), data, size);
}

void MemoryPool::release(void* data, size_t bytes) {
  // Bookkeeping only, no CUDA call: a lease may be dropped on the JS thread (a zero-copy result's
  // finalizer), and cudaFree/cudaFreeHost would stall it on a device-wide synchronization. Idle
  // bytes over the limit are freed by the next acquire(), on a worker thread.
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.bytesInUse -= bytes;
  stats_.bytesCached += bytes;
  idle_.emplace_back(bytes, data);
  idleBySize_.emplace(bytes, std::prev(idle_.end()));
}

void MemoryPool::trim(size_t maxCachedBytes) {
  std::vector<void*> excess;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    excess = takeIdleOverLocked(maxCachedBytes);
  }
  freeBuffers(excess);
}

std::vector<void*> MemoryPool::takeIdleOverLocked(size_t maxCachedBytes) {
  std::vector<void*> taken;
  while (stats_.bytesCached > maxCachedBytes && !idle_.empty()) {
    auto oldest = idle_.begin();
    auto range = idleBySize_.equal_range(oldest->first);
    for (auto it = range.first; it != range.second; ++it) {
      if (it->second == oldest) {
        idleBySize_.erase(it);
        break;
      }
    }
    stats_.bytesCached -= oldest->first;
    stats_.frees += 1;
    taken.push_back(oldest->second);
    idle_.erase(oldest);
  }
  return taken;
}

void MemoryPool::freeBuffers(const std::vector<void*>& buffers) {
  for (void* data : buffers) free(data);
}

PoolStats MemoryPool::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace lotus
