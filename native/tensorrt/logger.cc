#include "tensorrt/logger.h"

namespace lotus_trt {
namespace {

thread_local LogCapture* currentCapture = nullptr;

}  // namespace

Logger& logger() noexcept {
  static Logger* instance = new Logger();  // intentionally leaked: TensorRT may log until exit
  return *instance;
}

void Logger::log(Severity severity, const char* message) noexcept {
  const auto level = static_cast<int32_t>(severity);
  const char* text = message ? message : "";
  try {
    if (LogCapture* capture = currentCapture) {
      if (severity <= Severity::kERROR) {
        capture->errors_.emplace_back(text);
        return;
      }
      if (severity == Severity::kWARNING) {
        // Nested captures (e.g. around parsing) forward to the nearest one that wants warnings;
        // when none does (deserializing, contexts, enqueue), the fallback below gets it.
        for (LogCapture* scope = capture; scope; scope = scope->previous_) {
          if (scope->warnings_) {
            scope->warnings_(scope->user_, level, text);
            return;
          }
        }
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (fallback_ && level <= fallbackMaxSeverity_) fallback_(fallbackUser_, level, text);
  } catch (...) {
    // A logger must not throw into TensorRT; a message lost to out-of-memory is acceptable.
  }
}

void Logger::setFallback(LotusTrtLogFn log, void* user, int32_t maxSeverity) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  fallback_ = log;
  fallbackUser_ = user;
  fallbackMaxSeverity_ = maxSeverity;
}

LogCapture::LogCapture(LotusTrtLogFn warnings, void* user) noexcept
    : previous_(currentCapture), warnings_(warnings), user_(user) {
  currentCapture = this;
}

LogCapture::~LogCapture() { currentCapture = previous_; }

std::string LogCapture::describe(const std::string& what) const {
  if (errors_.empty()) return what;
  std::string text = what + ": ";
  for (size_t i = 0; i < errors_.size(); ++i) text += (i ? "; " : "") + errors_[i];
  return text;
}

}  // namespace lotus_trt
