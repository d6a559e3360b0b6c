// The plugin's only exported symbol: the C table of plugin_api.h for the compiled TensorRT major.
#include <NvInferVersion.h>

#include <cstdlib>

#include "tensorrt/build.h"
#include "tensorrt/library.h"
#include "tensorrt/logger.h"
#include "tensorrt/plugin_api.h"
#include "tensorrt/plugin_common.h"
#include "tensorrt/runtime.h"

namespace lotus_trt {
namespace {

void freeMemory(void* pointer) noexcept { std::free(pointer); }

int probe(int32_t* libraryVersion, char** error) noexcept {
  return guarded(error, [&] {
    const int32_t version = inferLibrary().version;
    if (libraryVersion) *libraryVersion = version;
  });
}

int probeParser(char** error) noexcept {
  return guarded(error, [] { parserLibrary(); });
}

int probePluginLibrary(char** error) noexcept {
  return guarded(error, [] { pluginLibrary(); });
}

int build(const LotusTrtBuildOptions* options, void** plan, size_t* planSize, char** error) noexcept {
  return guarded(error, [&] {
    if (!options || !plan || !planSize) throw Failure(LOTUS_TRT_INVALID, "buildEngine: null argument");
    *plan = nullptr;
    *planSize = 0;
    buildEngine(*options, plan, planSize);
  });
}

void setLogCallback(LotusTrtLogFn log, void* user, int32_t maxSeverity) noexcept {
  logger().setFallback(log, user, maxSeverity);
}

const LotusTrtPluginApi kApi = {
    LOTUS_TRT_PLUGIN_ABI,
    sizeof(LotusTrtPluginApi),
    static_cast<int32_t>(NV_TENSORRT_VERSION),
    &freeMemory,
    &probe,
    &build,
    &deserializeEngine,
    &destroyEngine,
    &tensorCount,
    &tensorInfo,
    &profileCount,
    &profileShape,
    &createContext,
    &destroyContext,
    &setInputShape,
    &tensorShape,
    &setTensorAddress,
    &enqueue,
    &setLogCallback,
    &probeParser,
    &probePluginLibrary,
};

}  // namespace
}  // namespace lotus_trt

extern "C" __attribute__((visibility("default"))) const LotusTrtPluginApi* lotus_tensorrt_plugin_api(void) {
  return &lotus_trt::kApi;
}
