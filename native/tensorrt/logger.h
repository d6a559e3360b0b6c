// The plugin's one ILogger (TensorRT keeps the first logger it is given process-wide, so there is
// exactly one, and it is never destroyed: it must outlive every builder, runtime and engine).
// Errors logged on a thread while a LogCapture is alive on it are recorded there, so each failing
// entry point returns TensorRT's own messages.
#pragma once
#include <NvInfer.h>

#include <mutex>
#include <string>
#include <vector>

#include "tensorrt/plugin_api.h"

namespace lotus_trt {

class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* message) noexcept override;
  // Messages no capture took (warnings where no scope has a warnings callback, everything on
  // TensorRT's own threads) go here, if set and at or below maxSeverity.
  void setFallback(LotusTrtLogFn log, void* user, int32_t maxSeverity) noexcept;

 private:
  std::mutex mutex_;
  LotusTrtLogFn fallback_ = nullptr;
  void* fallbackUser_ = nullptr;
  int32_t fallbackMaxSeverity_ = 1;
};

Logger& logger() noexcept;

// Scope in which this thread's TensorRT errors are collected (and its warnings forwarded).
class LogCapture {
 public:
  explicit LogCapture(LotusTrtLogFn warnings = nullptr, void* user = nullptr) noexcept;
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  // "what: error1; error2" or "what" when TensorRT logged nothing.
  std::string describe(const std::string& what) const;
  bool empty() const { return errors_.empty(); }

 private:
  friend class Logger;
  LogCapture* previous_;
  LotusTrtLogFn warnings_;
  void* user_;
  std::vector<std::string> errors_;
};

}  // namespace lotus_trt
