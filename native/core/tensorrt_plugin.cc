// Finding the TensorRT plugin next to lotus.node, newest major first, and building engines with it.
#include "core/tensorrt_plugin.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "core/cuda_check.h"
#include "core/device_info.h"
#include "core/errors.h"
#include "core/tensorrt_plugin_api.h"

namespace lotus {
namespace {

struct PluginState {
  TensorRTAvailability availability;
  const LotusTrtPluginApi* api = nullptr;
};

// The directory of the shared object holding this code (lotus.node): plugins sit beside it.
std::string addonDirectory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&tensorrtAvailability), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string baseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// TensorRT messages that no plugin call captured (warnings, and everything logged on TensorRT's own
// worker threads) come here. Warnings on a thread with a TensorRTWarnings scope go to it (and from
// there to onWarning); the rest is printed to stderr as TensorRT's sample logger does: errors by
// default, LOTUS_TENSORRT_LOG=warning|info|verbose for more.
int32_t readStderrLogLevel() {
  const char* level = std::getenv("LOTUS_TENSORRT_LOG");
  if (!level) return 1;
  if (std::strcmp(level, "warning") == 0) return 2;
  if (std::strcmp(level, "info") == 0) return 3;
  if (std::strcmp(level, "verbose") == 0) return 4;
  return 1;
}

// Read once: the level the plugin is loaded with is the level its messages are filtered by.
int32_t stderrLogLevel() {
  static const int32_t level = readStderrLogLevel();
  return level;
}

constexpr int32_t kWarning = 2;  // ILogger::Severity::kWARNING

int32_t routedLogLevel() { return std::max(stderrLogLevel(), kWarning); }

void routeLog(void*, int32_t severity, const char* message) {
  if (severity == kWarning) {
    if (TensorRTWarnings* scope = TensorRTWarnings::current()) {
      scope->add(message);
      return;
    }
  }
  if (severity > stderrLogLevel()) return;
  static const char* const names[] = {"internal error", "error", "warning", "info", "verbose"};
  const char* name = severity >= 0 && severity <= 4 ? names[severity] : "message";
  std::fprintf(stderr, "lotus-trt: TensorRT %s: %s\n", name, message ? message : "");
}

// A build's warnings (build.log): the plugin calls it on the building thread.
void forwardBuildWarning(void* user, int32_t, const char* message) {
  try {
    (*static_cast<const BuildWarning*>(user))(message ? message : "");
  } catch (...) {
    // A warning lost to a throwing callback must not unwind through TensorRT.
  }
}

thread_local TensorRTWarnings* currentWarnings = nullptr;

// Loads one plugin; on failure returns false with `why`. A plugin that failed is not dlclosed: it
// may hold a half-initialised TensorRT handle, and a few KiB mapped once is harmless.
bool tryPlugin(const std::string& path, PluginState& state, std::string& why) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    why = dlerror();
    return false;
  }
  dlerror();
  auto entry = reinterpret_cast<LotusTrtPluginEntryFn>(dlsym(handle, LOTUS_TRT_PLUGIN_ENTRY));
  if (!entry) {
    why = std::string("no symbol ") + LOTUS_TRT_PLUGIN_ENTRY;
    return false;
  }
  const LotusTrtPluginApi* api = entry();
  if (!api || api->abiVersion != LOTUS_TRT_PLUGIN_ABI || api->structSize < sizeof(LotusTrtPluginApi)) {
    why = "plugin ABI " + std::to_string(api ? api->abiVersion : 0) + ", this addon needs " +
          std::to_string(LOTUS_TRT_PLUGIN_ABI) + " (rebuild the plugin with this addon)";
    return false;
  }
  int32_t libraryVersion = 0;
  char* error = nullptr;
  if (api->probe(&libraryVersion, &error) != LOTUS_TRT_OK) {
    why = error ? error : "probe failed";
    api->freeMemory(error);
    return false;
  }
  state.api = api;
  api->setLogCallback(&routeLog, nullptr, routedLogLevel());
  state.availability.available = true;
  state.availability.pluginPath = path;
  state.availability.compiledMajor = api->compiledVersion / 10000;
  state.availability.compiledVersion = tensorrt::versionString(api->compiledVersion);
  state.availability.libraryVersion = tensorrt::versionString(libraryVersion);
  // TensorRT's standard plugins before any parse or deserialization that may use them.
  char* pluginLibraryError = nullptr;
  state.availability.pluginLibraryAvailable = api->probePluginLibrary(&pluginLibraryError) == LOTUS_TRT_OK;
  if (!state.availability.pluginLibraryAvailable) {
    state.availability.pluginLibraryReason = pluginLibraryError ? pluginLibraryError : "libnvinfer_plugin probe failed";
  }
  api->freeMemory(pluginLibraryError);
  char* parserError = nullptr;
  state.availability.onnxParserAvailable = api->probeParser(&parserError) == LOTUS_TRT_OK;
  if (!state.availability.onnxParserAvailable) {
    state.availability.onnxParserReason = parserError ? parserError : "libnvonnxparser probe failed";
  }
  api->freeMemory(parserError);
  return true;
}

PluginState loadPlugin() noexcept {
  PluginState state;
  try {
    std::vector<std::string> candidates;
    // LOTUS_TENSORRT_PLUGIN names one plugin explicitly (tests, unusual layouts).
    if (const char* forced = std::getenv("LOTUS_TENSORRT_PLUGIN"); forced && *forced) {
      candidates.push_back(forced);
    } else {
      const std::string dir = addonDirectory();
      candidates = {dir + "/lotus_tensorrt11.so", dir + "/lotus_tensorrt10.so"};
    }
    std::string reasons;
    bool anyPresent = false;
    for (const std::string& path : candidates) {
      std::string why;
      if (::access(path.c_str(), F_OK) != 0) {
        why = "not present";
      } else {
        anyPresent = true;
        if (tryPlugin(path, state, why)) return state;
      }
      reasons += (reasons.empty() ? "" : "; ") + baseName(path) + ": " + why;
    }
    state.availability.reason =
        anyPresent ? "TensorRT unavailable: " + reasons
                   : "built without TensorRT headers: no TensorRT plugin next to the addon (" + reasons +
                         "); rebuild with TENSORRT_ROOT pointing at a TensorRT 10 or 11 install";
  } catch (const std::exception& error) {
    state.availability.reason = std::string("TensorRT plugin lookup failed: ") + error.what();
  } catch (...) {
    state.availability.reason = "TensorRT plugin lookup failed";
  }
  return state;
}

const PluginState& pluginState() {
  static const PluginState state = loadPlugin();  // thread-safe once; loadPlugin never throws
  return state;
}

int progressTrampoline(void* user, const char* phase, int32_t step, int32_t steps) {
  const auto* progress = static_cast<const BuildProgress*>(user);
  try {
    return (*progress)(phase ? phase : "", step, steps) ? 1 : 0;
  } catch (...) {
    return 0;  // a throwing callback cancels the build rather than unwinding through TensorRT
  }
}

}  // namespace

namespace tensorrt {

const LotusTrtPluginApi& requirePlugin() {
  const PluginState& state = pluginState();
  if (!state.api) throw Error(ErrorCode::BackendUnavailable, state.availability.reason);
  return *state.api;
}

void check(const LotusTrtPluginApi& api, int status, char* error, const char* what) {
  if (status == LOTUS_TRT_OK) return;
  std::string message = error ? error : "";
  api.freeMemory(error);
  // Plugin messages already name the TensorRT call; add ours only when it said nothing.
  if (message.empty()) message = std::string(what) + " failed";
  // Callers (lib/cache/engine-cache.ts) recognise a stale plan by this prefix.
  if (status == LOTUS_TRT_DESERIALIZE && message.rfind("deserialize failed", 0) != 0) {
    message = "deserialize failed: " + message;
  }
  throw Error(ErrorCode::TensorRT, message);
}

LotusTrtDims toDims(const std::vector<int64_t>& dims, const std::string& what) {
  if (dims.size() > LOTUS_TRT_MAX_DIMS) throw ArgumentError(what, "at most 8 dimensions");
  LotusTrtDims out{};
  out.nbDims = static_cast<int32_t>(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) out.d[i] = dims[i];
  return out;
}

std::vector<int64_t> fromDims(const LotusTrtDims& dims) {
  std::vector<int64_t> out;
  for (int32_t i = 0; i < dims.nbDims && i < LOTUS_TRT_MAX_DIMS; ++i) out.push_back(dims.d[i]);
  return out;
}

std::string versionString(int32_t version) {
  return std::to_string(version / 10000) + "." + std::to_string((version / 100) % 100) + "." +
         std::to_string(version % 100);
}

}  // namespace tensorrt

const TensorRTAvailability& tensorrtAvailability() { return pluginState().availability; }

TensorRTWarnings::TensorRTWarnings() noexcept : previous_(currentWarnings) { currentWarnings = this; }

TensorRTWarnings::~TensorRTWarnings() { currentWarnings = previous_; }

TensorRTWarnings* TensorRTWarnings::current() noexcept { return currentWarnings; }

void TensorRTWarnings::add(const char* message) noexcept {
  try {
    messages_.emplace_back(message ? message : "");
  } catch (...) {
    // Out of memory: the warning is lost, the call goes on.
  }
}

std::vector<uint8_t> tensorrt::buildWithPlugin(const LotusTrtPluginApi& api, const TensorRTBuildOptions& options,
                                               const BuildProgress& progress, const BuildWarning& warning) {
  std::vector<LotusTrtProfileInput> inputs;
  for (const ShapeProfile& profile : options.profiles) {
    LotusTrtProfileInput input{};
    input.name = profile.input.c_str();
    input.min = tensorrt::toDims(profile.min, "profiles." + profile.input + ".min");
    input.opt = tensorrt::toDims(profile.opt, "profiles." + profile.input + ".opt");
    input.max = tensorrt::toDims(profile.max, "profiles." + profile.input + ".max");
    inputs.push_back(input);
  }
  LotusTrtBuildOptions build{};
  build.onnxPath = options.onnxPath.c_str();
  build.inputs = inputs.data();
  build.inputCount = static_cast<int32_t>(inputs.size());
  build.lanes = options.lanes;
  build.workspaceBytes = options.workspaceBytes;
  build.optimizationLevel = options.optimizationLevel;
  build.fp16 = options.fp16 ? 1 : 0;
  build.timingCachePath = options.timingCachePath.c_str();
  if (progress) {
    build.progress = &progressTrampoline;
    build.progressUser = const_cast<BuildProgress*>(&progress);
  }
  // TensorRT's warnings on this thread and the plugin's own (timing cache) reach the caller; without
  // a callback they are routed like any other uncaptured warning (a TensorRTWarnings scope, stderr).
  if (warning) {
    build.log = &forwardBuildWarning;
    build.logUser = const_cast<BuildWarning*>(&warning);
  }

  void* plan = nullptr;
  size_t planSize = 0;
  char* error = nullptr;
  const int status = api.buildEngine(&build, &plan, &planSize, &error);
  tensorrt::check(api, status, error, "buildEngine");
  std::unique_ptr<void, void (*)(void*)> owned(plan, api.freeMemory);
  return std::vector<uint8_t>(static_cast<uint8_t*>(plan), static_cast<uint8_t*>(plan) + planSize);
}

std::vector<uint8_t> buildTensorRTEngine(const TensorRTBuildOptions& options, const BuildProgress& progress,
                                         const BuildWarning& warning) {
  const LotusTrtPluginApi& api = tensorrt::requirePlugin();
  if (options.onnxPath.empty()) throw ArgumentError("onnxPath", "a path to an ONNX file");
  if (options.lanes < 1) throw ArgumentError("lanes", "an integer >= 1");
  if (options.profiles.empty()) throw ArgumentError("profiles", "a shape range for every input");
  requireUsableDevice(options.device);
  LOTUS_CUDA_CHECK(cudaSetDevice(options.device));  // TensorRT builds for the current device
  return tensorrt::buildWithPlugin(api, options, progress, warning);
}

}  // namespace lotus
