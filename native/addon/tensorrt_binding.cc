// tensorrtInfo(): which TensorRT plugin loaded (or why none did), and whether it can build engines.
// buildEngine(options, onProgress): ONNX -> plan on a worker thread, with progress and cancel().
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "addon/arg_parse.h"
#include "addon/bindings.h"
#include "addon/js_errors.h"
#include "addon/warning_reporter.h"
#include "core/tensorrt_plugin.h"

namespace lotus::addon {
namespace {

Napi::Value nullOr(Napi::Env env, const std::string& text) {
  return text.empty() ? env.Null() : Napi::String::New(env, text);
}

Napi::Value TensorRTInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const TensorRTAvailability& trt = tensorrtAvailability();
  Napi::Object result = Napi::Object::New(env);
  result.Set("available", trt.available);
  result.Set("reason", nullOr(env, trt.reason));
  result.Set("pluginPath", nullOr(env, trt.pluginPath));
  result.Set("compiledVersion", nullOr(env, trt.compiledVersion));
  result.Set("libraryVersion", nullOr(env, trt.libraryVersion));
  Napi::Object parser = Napi::Object::New(env);
  parser.Set("available", trt.onnxParserAvailable);
  parser.Set("reason", trt.onnxParserAvailable ? env.Null()
                                               : Napi::String::New(env, trt.available ? trt.onnxParserReason : trt.reason));
  result.Set("onnxParser", parser);
  Napi::Object plugins = Napi::Object::New(env);
  plugins.Set("available", trt.pluginLibraryAvailable);
  plugins.Set("reason", trt.pluginLibraryAvailable
                            ? env.Null()
                            : Napi::String::New(env, trt.available ? trt.pluginLibraryReason : trt.reason));
  result.Set("pluginLibrary", plugins);
  return result;
}

std::vector<int64_t> requireDims(const Napi::Value& value, const std::string& parameter) {
  if (!value.IsArray()) throw ArgumentError(parameter, "an array of dimensions");
  Napi::Array array = value.As<Napi::Array>();
  if (array.Length() == 0 || array.Length() > 8) throw ArgumentError(parameter, "1 to 8 dimensions");
  std::vector<int64_t> dims;
  for (uint32_t i = 0; i < array.Length(); ++i) {
    dims.push_back(requireInteger(array.Get(i), parameter.c_str(), 1, int64_t{1} << 31));
  }
  return dims;
}

TensorRTBuildOptions parseBuildOptions(const Napi::Value& value) {
  Napi::Object object = requireObject(value, "options");
  TensorRTBuildOptions options;
  Napi::Value onnxPath = object.Get("onnxPath");
  if (!onnxPath.IsString()) throw ArgumentError("options.onnxPath", "a path string");
  options.onnxPath = onnxPath.As<Napi::String>().Utf8Value();
  if (object.Has("device")) options.device = static_cast<int>(requireInteger(object.Get("device"), "options.device", 0, 1024));
  Napi::Value profiles = object.Get("profiles");
  if (!profiles.IsArray()) throw ArgumentError("options.profiles", "an array of {input, min, opt, max}");
  Napi::Array list = profiles.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string where = "options.profiles[" + std::to_string(i) + "]";
    Napi::Object entry = requireObject(list.Get(i), where.c_str());
    ShapeProfile profile;
    if (!entry.Get("input").IsString()) throw ArgumentError(where + ".input", "an input tensor name");
    profile.input = entry.Get("input").As<Napi::String>().Utf8Value();
    profile.min = requireDims(entry.Get("min"), where + ".min");
    profile.opt = requireDims(entry.Get("opt"), where + ".opt");
    profile.max = requireDims(entry.Get("max"), where + ".max");
    options.profiles.push_back(std::move(profile));
  }
  if (object.Has("lanes")) options.lanes = static_cast<int>(requireInteger(object.Get("lanes"), "options.lanes", 1, 16));
  if (object.Has("workspaceBytes")) {
    options.workspaceBytes =
        static_cast<uint64_t>(requireInteger(object.Get("workspaceBytes"), "options.workspaceBytes", 0, int64_t{1} << 50));
  }
  if (object.Has("optimizationLevel")) {
    options.optimizationLevel =
        static_cast<int>(requireInteger(object.Get("optimizationLevel"), "options.optimizationLevel", 0, 5));
  }
  if (object.Has("fp16")) options.fp16 = requireBoolean(object.Get("fp16"), "options.fp16");
  Napi::Value timingCache = object.Get("timingCachePath");
  if (timingCache.IsString()) {
    options.timingCachePath = timingCache.As<Napi::String>().Utf8Value();
  } else if (!timingCache.IsUndefined() && !timingCache.IsNull()) {
    throw ArgumentError("options.timingCachePath", "a path string");
  }
  return options;
}

// The cancel flags of the builds running in each environment (main thread, workers). Tearing an
// environment down (a worker's exit) waits for its builds' pool threads, which can take minutes:
// its cleanup hook cancels them instead, and the builds stop at TensorRT's next progress step.
// (process.exit() runs no cleanup hooks: lib/backends/active-builds.ts cancels from an 'exit' handler.)
class ActiveBuilds {
 public:
  using Flag = std::shared_ptr<std::atomic<bool>>;
  static void add(napi_env env, const Flag& flag) {
    std::lock_guard<std::mutex> lock(mutex());
    flags()[env].insert(flag);
  }
  static void remove(napi_env env, const Flag& flag) {
    std::lock_guard<std::mutex> lock(mutex());
    auto found = flags().find(env);
    if (found == flags().end()) return;
    found->second.erase(flag);
    if (found->second.empty()) flags().erase(found);
  }
  static void cancelAll(napi_env env) {
    std::lock_guard<std::mutex> lock(mutex());
    auto found = flags().find(env);
    if (found == flags().end()) return;
    for (const Flag& flag : found->second) flag->store(true);
    flags().erase(found);
  }

 private:
  static std::mutex& mutex() {
    static std::mutex instance;
    return instance;
  }
  static std::map<napi_env, std::set<Flag>>& flags() {
    static auto* instance = new std::map<napi_env, std::set<Flag>>();  // never destroyed: used at exit
    return *instance;
  }
};

// A progress step, or (warning = true) a warning of TensorRT or the plugin in `phase`.
struct ProgressEvent {
  std::string phase;
  int step = 0;
  int steps = 0;
  bool warning = false;
};

class BuildWorker final : public Napi::AsyncProgressQueueWorker<ProgressEvent> {
 public:
  BuildWorker(Napi::Env env, TensorRTBuildOptions options, Napi::Value onProgress, Napi::Value onWarning,
              std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncProgressQueueWorker<ProgressEvent>(env, "lotus:tensorrtBuild"),
        deferred_(Napi::Promise::Deferred::New(env)),
        options_(std::move(options)),
        cancel_(std::move(cancel)),
        warnings_(onWarning) {
    if (onProgress.IsFunction()) onProgress_ = Napi::Persistent(onProgress.As<Napi::Function>());
    ActiveBuilds::add(env, cancel_);
  }

  ~BuildWorker() override { ActiveBuilds::remove(Env(), cancel_); }

  Napi::Promise promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    try {
      BuildWarning warning;
      if (warnings_.wanted()) {
        warning = [&](const std::string& message) {
          ProgressEvent event{message, 0, 0, true};
          progress.Send(&event, 1);
        };
      }
      plan_ = buildTensorRTEngine(
          options_,
          [&](const std::string& phase, int step, int steps) {
            ProgressEvent event{phase, step, steps};
            progress.Send(&event, 1);
            return !cancel_->load();
          },
          warning);
    } catch (const Error& error) {
      fail(error.code(), error.what());
    } catch (const std::bad_alloc&) {
      fail(ErrorCode::TensorRT, "out of host memory while building the engine");
    } catch (const std::exception& error) {
      fail(ErrorCode::TensorRT, error.what());
    } catch (...) {
      // Nothing may escape Execute (a worker thread): it would std::terminate the process.
      fail(ErrorCode::TensorRT, "unknown error while building the engine");
    }
  }

  void OnProgress(const ProgressEvent* events, size_t count) override {
    if (!events) return;
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; ++i) {
      if (events[i].warning) {
        warnings_.report(env, events[i].phase);
        continue;
      }
      if (onProgress_.IsEmpty()) continue;
      try {
        onProgress_.Call({Napi::String::New(env, events[i].phase), Napi::Number::New(env, events[i].step),
                          Napi::Number::New(env, events[i].steps)});
      } catch (const Napi::Error& error) {
        // A throwing progress callback cancels the build; the promise rejects with its error.
        if (callbackError_.IsEmpty()) callbackError_ = Napi::Persistent(error.Value());
        cancel_->store(true);
      }
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (!callbackError_.IsEmpty()) {
      deferred_.Reject(callbackError_.Value());
    } else if (failed_) {
      deferred_.Reject(makeJsError(env, code_, message_).Value());
    } else {
      // Plans are hundreds of MiB: hand the vector to JS without a copy where the runtime allows it.
      auto* plan = new std::vector<uint8_t>(std::move(plan_));
      deferred_.Resolve(Napi::Buffer<uint8_t>::NewOrCopy(
          env, plan->data(), plan->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* owner) { delete owner; },
          plan));
    }
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  void fail(ErrorCode code, const std::string& message) {
    failed_ = true;
    code_ = code;
    message_ = message;
  }

  Napi::Promise::Deferred deferred_;
  TensorRTBuildOptions options_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  Napi::FunctionReference onProgress_;
  WarningReporter warnings_;
  Napi::ObjectReference callbackError_;
  std::vector<uint8_t> plan_;
  bool failed_ = false;
  ErrorCode code_ = ErrorCode::TensorRT;
  std::string message_;
};

Napi::Value BuildEngine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    TensorRTBuildOptions options = parseBuildOptions(info[0]);
    if (!info[1].IsUndefined() && !info[1].IsNull() && !info[1].IsFunction()) {
      throw ArgumentError("onProgress", "a function");
    }
    if (!info[2].IsUndefined() && !info[2].IsNull() && !info[2].IsFunction()) {
      throw ArgumentError("onWarning", "a function");
    }
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    auto* worker = new BuildWorker(env, std::move(options), info[1], info[2], cancel);  // deletes itself when done
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("promise", worker->promise());
    handle.Set("cancel", Napi::Function::New(
                             env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }, "cancel"));
    worker->Queue();
    return handle;
  });
}

}  // namespace

void InitTensorRT(Napi::Env env, Napi::Object exports) {
  exports.Set("tensorrtInfo", Napi::Function::New(env, TensorRTInfo, "tensorrtInfo"));
  exports.Set("buildEngine", Napi::Function::New(env, BuildEngine, "buildEngine"));
  napi_env raw = env;
  env.AddCleanupHook([raw]() { ActiveBuilds::cancelAll(raw); });
}

}  // namespace lotus::addon
