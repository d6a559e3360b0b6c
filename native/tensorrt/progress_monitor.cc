#include "tensorrt/progress_monitor.h"

namespace lotus_trt {

bool ProgressMonitor::report(const char* phase, int32_t step, int32_t steps) noexcept {
  if (cancelled_.load()) return false;
  if (callback_ && callback_(user_, phase ? phase : "", step, steps) == 0) cancelled_.store(true);
  return !cancelled_.load();
}

void ProgressMonitor::phaseStart(const char* phaseName, const char*, int32_t nbSteps) noexcept {
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    steps_[phaseName ? phaseName : ""] = nbSteps;
  } catch (...) {
  }
  report(phaseName, 0, nbSteps);
}

bool ProgressMonitor::stepComplete(const char* phaseName, int32_t step) noexcept {
  int32_t steps = 0;
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    steps = steps_[phaseName ? phaseName : ""];
  } catch (...) {
  }
  return report(phaseName, step + 1, steps);  // TensorRT counts completed steps from 0
}

void ProgressMonitor::phaseFinish(const char* phaseName) noexcept {
  int32_t steps = 0;
  try {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = steps_.find(phaseName ? phaseName : "");
    if (found != steps_.end()) {
      steps = found->second;
      steps_.erase(found);
    }
  } catch (...) {
  }
  report(phaseName, steps, steps);
}

}  // namespace lotus_trt
