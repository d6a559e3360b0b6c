// Hands TensorRT's warnings to the JS onWarning callback, on the JS thread. Each distinct message
// is reported once per reporter (a session, a build): TensorRT may repeat one at every enqueue.
// Exceptions thrown by the callback are ignored: a warning must not change an outcome.
#pragma once
#include <napi.h>

#include <set>
#include <string>
#include <vector>

namespace lotus::addon {

class WarningReporter {
 public:
  // `callback` may be undefined/null: nothing is reported (and TensorRT's warnings go to stderr with
  // LOTUS_TENSORRT_LOG=warning).
  explicit WarningReporter(const Napi::Value& callback) {
    if (callback.IsFunction()) callback_ = Napi::Persistent(callback.As<Napi::Function>());
  }
  bool wanted() const { return !callback_.IsEmpty(); }

  void report(Napi::Env env, const std::vector<std::string>& messages) {
    for (const std::string& message : messages) report(env, message);
  }
  void report(Napi::Env env, const std::string& message) {
    if (callback_.IsEmpty() || seen_.count(message) || seen_.size() >= kMaxDistinct) return;
    seen_.insert(message);
    Napi::HandleScope scope(env);
    try {
      // The plugin's own warnings carry "lotus-trt: " already; TensorRT's get a prefix naming it.
      const bool ours = message.rfind("lotus-trt: ", 0) == 0;
      callback_.Call({Napi::String::New(env, ours ? message : "lotus-trt: TensorRT warning: " + message)});
    } catch (const Napi::Error&) {
      // Ignored, see above.
    }
  }

 private:
  static constexpr size_t kMaxDistinct = 256;
  Napi::FunctionReference callback_;
  std::set<std::string> seen_;
};

}  // namespace lotus::addon
