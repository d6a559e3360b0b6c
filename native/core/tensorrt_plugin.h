// Finding and using the TensorRT plugin (lotus_tensorrt<MAJOR>.so next to lotus.node).
// The plugin dlopens libnvinfer itself, so none of this needs TensorRT to load or link.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"

namespace lotus {

struct TensorRTAvailability {
  bool available = false;
  std::string reason;           // why not, naming each plugin tried and its dlopen/dlsym error
  std::string pluginPath;       // the plugin that loaded
  int compiledMajor = 0;        // NV_TENSORRT_MAJOR the plugin was compiled with
  std::string compiledVersion;  // "11.1.0"
  std::string libraryVersion;   // from getInferLibVersion() of the loaded libnvinfer
  bool onnxParserAvailable = false;  // libnvonnxparser loaded: engines can be built, not only run
  std::string onnxParserReason;      // why not
  bool pluginLibraryAvailable = false;  // libnvinfer_plugin loaded and its plugins registered
  std::string pluginLibraryReason;      // why not (optional: only graphs with TensorRT plugin layers need it)
};

// Cached after the first call; never throws.
const TensorRTAvailability& tensorrtAvailability();

struct ShapeProfile {  // one optimization profile, the same for every lane
  std::string input;   // input tensor name
  std::vector<int64_t> min, opt, max;
};

struct TensorRTBuildOptions {
  std::string onnxPath;          // external data next to it is found by the parser
  int device = 0;
  std::vector<ShapeProfile> profiles;  // entries for every input
  int lanes = 1;                 // identical profiles to build (one per concurrent context)
  uint64_t workspaceBytes = 0;   // 0 = TensorRT's default
  int optimizationLevel = 3;
  bool fp16 = true;              // TensorRT 10 + FP32 ONNX: set the FP16 flag; TensorRT 11: must be FP16 ONNX
  std::string timingCachePath;   // read if present, written back after the build; "" = none
};

// Progress of a build: phase name, step, number of steps (from IProgressMonitor). Return false to cancel.
using BuildProgress = std::function<bool(const std::string& phase, int step, int steps)>;
// A warning of TensorRT or of the plugin (e.g. "lotus-trt: building without the timing cache: ..."),
// on the building thread, as it is logged.
using BuildWarning = std::function<void(const std::string& message)>;

// Builds a serialized engine (plan). Throws lotus::Error with TensorRT's logged errors in the message.
std::vector<uint8_t> buildTensorRTEngine(const TensorRTBuildOptions& options, const BuildProgress& progress,
                                         const BuildWarning& warning = nullptr);

// TensorRT warnings logged on this thread while a scope lives (deserializing, creating contexts,
// enqueueing) are collected in it, for the caller to hand to onWarning. Without a scope they go to
// stderr when LOTUS_TENSORRT_LOG=warning (or info, verbose). Scopes nest; the innermost collects.
class TensorRTWarnings {
 public:
  TensorRTWarnings() noexcept;
  ~TensorRTWarnings();
  TensorRTWarnings(const TensorRTWarnings&) = delete;
  TensorRTWarnings& operator=(const TensorRTWarnings&) = delete;

  std::vector<std::string> take() { return std::move(messages_); }

  // The innermost scope of this thread, or nullptr.
  static TensorRTWarnings* current() noexcept;
  void add(const char* message) noexcept;

 private:
  TensorRTWarnings* previous_;
  std::vector<std::string> messages_;
};

// Deserializes a plan. A stale/corrupt plan throws lotus::Error (ERR_LOTUS_TENSORRT) whose message
// starts with "deserialize failed"; the caller deletes it and rebuilds.
std::shared_ptr<Engine> deserializeTensorRTEngine(const void* plan, size_t size, int device);

}  // namespace lotus
