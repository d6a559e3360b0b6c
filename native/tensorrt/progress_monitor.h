// IProgressMonitor -> the C progress callback; a zero return from it cancels the build.
#pragma once
#include <NvInfer.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "tensorrt/plugin_api.h"

namespace lotus_trt {

class ProgressMonitor final : public nvinfer1::IProgressMonitor {
 public:
  ProgressMonitor(LotusTrtProgressFn callback, void* user) : callback_(callback), user_(user) {}

  void phaseStart(const char* phaseName, const char* parentPhase, int32_t nbSteps) noexcept override;
  bool stepComplete(const char* phaseName, int32_t step) noexcept override;
  void phaseFinish(const char* phaseName) noexcept override;

  bool cancelled() const { return cancelled_.load(); }

 private:
  bool report(const char* phase, int32_t step, int32_t steps) noexcept;

  LotusTrtProgressFn callback_;
  void* user_;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;  // TensorRT may report phases from several threads
  std::map<std::string, int32_t> steps_;
};

}  // namespace lotus_trt
