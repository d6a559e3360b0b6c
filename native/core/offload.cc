#include "core/offload.h"

namespace lotus {
namespace {

thread_local OffloadFn threadOffload = nullptr;
thread_local void* threadOffloadContext = nullptr;

}  // namespace

void setThreadOffloader(OffloadFn offload, void* context) noexcept {
  threadOffload = offload;
  threadOffloadContext = context;
}

void runOffThisThread(void (*task)(void*), void* argument) noexcept {
  if (threadOffload != nullptr && threadOffload(threadOffloadContext, task, argument)) return;
  task(argument);
}

}  // namespace lotus
