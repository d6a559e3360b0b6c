// Reusable device or pinned host buffers. Requests are rounded up to a size class (at most 1/4
// waste), idle buffers of a class are reused, and idle bytes above `maxCachedBytes` are freed
// (oldest first) by the next acquire: returning a buffer never calls CUDA. Thread-safe. A Lease returns its buffer on destruction; it keeps the pool alive,
// so a buffer handed to JS (zero-copy result) can outlive the session that produced it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace lotus {

enum class MemoryKind { Device, Pinned };

// Makes `device` current for a scope and restores the caller's device after. Used where frees and
// destructors may run on any thread (the JS thread's finalizers, a libuv worker): each thread has
// its own current device, and cudaFree/TensorRT teardown must run with the owning device current.
// Errors are ignored (destructors; CUDA may already be unloading at process exit).
class ScopedDevice {
 public:
  explicit ScopedDevice(int device);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;

 private:
  int previous_ = -1;
  int device_;
};

struct PoolStats {
  size_t bytesInUse = 0;    // leased out now
  size_t bytesCached = 0;   // idle, kept for reuse
  size_t peakBytes = 0;     // max of in use + cached
  uint64_t allocations = 0; // cudaMalloc / cudaHostAlloc calls
  uint64_t reuses = 0;      // leases served from the cache
  uint64_t frees = 0;       // buffers given back to CUDA (trim, close)
};

class MemoryPool;

class Lease {
 public:
  Lease() = default;
  Lease(std::shared_ptr<MemoryPool> pool, void* data, size_t bytes) : pool_(std::move(pool)), data_(data), bytes_(bytes) {}
  Lease(Lease&& other) noexcept { *this = std::move(other); }
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { reset(); }

  void reset();  // returns the buffer now
  void* data() const { return data_; }
  template <typename T>
  T* as() const { return static_cast<T*>(data_); }
  size_t bytes() const { return bytes_; }  // the size class, >= the request
  explicit operator bool() const { return data_ != nullptr; }

 private:
  std::shared_ptr<MemoryPool> pool_;
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class MemoryPool : public std::enable_shared_from_this<MemoryPool> {
 public:
  static std::shared_ptr<MemoryPool> create(MemoryKind kind, int device, size_t maxCachedBytes);
  ~MemoryPool();
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;

  // Throws lotus::Error (ERR_LOTUS_CUDA) when CUDA cannot allocate even after dropping the cache.
  Lease acquire(size_t bytes);
  PoolStats stats() const;
  // Frees idle buffers until at most `maxCachedBytes` stay cached.
  void trim(size_t maxCachedBytes);
  MemoryKind kind() const { return kind_; }

  static size_t sizeClass(size_t bytes);

 private:
  friend class Lease;
  MemoryPool(MemoryKind kind, int device, size_t maxCachedBytes)
      : kind_(kind), device_(device), maxCachedBytes_(maxCachedBytes) {}
  void release(void* data, size_t bytes);
  void* allocate(size_t bytes);
  void free(void* data);
  // Unlinks idle buffers, oldest first, until at most `maxCachedBytes` stay cached; the caller frees
  // them after dropping the lock.
  std::vector<void*> takeIdleOverLocked(size_t maxCachedBytes);
  void freeBuffers(const std::vector<void*>& buffers);

  const MemoryKind kind_;
  const int device_;
  const size_t maxCachedBytes_;
  mutable std::mutex mutex_;
  // Idle buffers in release order (front = oldest) and an index by size class into that list.
  std::list<std::pair<size_t, void*>> idle_;
  std::multimap<size_t, std::list<std::pair<size_t, void*>>::iterator> idleBySize_;
  PoolStats stats_;
};

}  // namespace lotus
