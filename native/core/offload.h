// Where GPU resource owners die. The last reference to a GpuPipeline or a MemoryPool may be dropped
// on a JS thread (GpuSession.close(), the finalizer of a session or of a zero-copy result), and
// their destructors make CUDA calls that synchronize the device or the host (stream and context
// teardown, cudaFree, cudaFreeHost): milliseconds to seconds with the event loop stopped. A thread
// that must not block registers an offloader; an object shared through shareOffloaded() whose last
// reference goes on that thread is handed to the offloader and destroyed on another thread.
#pragma once
#include <memory>

namespace lotus {

// Runs task(argument) on another thread; returns false when it cannot (the caller then runs it).
using OffloadFn = bool (*)(void* context, void (*task)(void* argument), void* argument);

// This thread's offloader (nullptr: destructors run where the last reference goes, the default).
void setThreadOffloader(OffloadFn offload, void* context) noexcept;

// task(argument) through this thread's offloader, or right here when it has none or it refuses.
void runOffThisThread(void (*task)(void* argument), void* argument) noexcept;

// shared_ptr whose deleter runs through runOffThisThread() of the thread that drops it last.
template <typename T>
std::shared_ptr<T> shareOffloaded(T* object) {
  return std::shared_ptr<T>(object, [](T* dying) {
    runOffThisThread([](void* argument) { delete static_cast<T*>(argument); }, dying);
  });
}

}  // namespace lotus
