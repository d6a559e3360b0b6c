// Internal to the TensorRT loader (tensorrt_plugin.cc, tensorrt_engine.cc): the loaded plugin's
// C table and the conversion of its failures into lotus::Error.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/tensorrt_plugin.h"
#include "tensorrt/plugin_api.h"

namespace lotus::tensorrt {

// The loaded plugin; throws ERR_LOTUS_BACKEND_UNAVAILABLE with the reason when none loaded.
const LotusTrtPluginApi& requirePlugin();

// Throws ERR_LOTUS_TENSORRT with the plugin's message (TensorRT's own) when status != OK.
void check(const LotusTrtPluginApi& api, int status, char* error, const char* what);

LotusTrtDims toDims(const std::vector<int64_t>& dims, const std::string& what);
std::vector<int64_t> fromDims(const LotusTrtDims& dims);

// 110100 -> "11.1.0"
std::string versionString(int32_t version);

// The plugin calls of buildTensorRTEngine / deserializeTensorRTEngine, after their device checks
// (which need a GPU): the native tests drive them against a stand-in libnvinfer.
std::vector<uint8_t> buildWithPlugin(const LotusTrtPluginApi& api, const TensorRTBuildOptions& options,
                                     const BuildProgress& progress, const BuildWarning& warning);
std::shared_ptr<Engine> deserializeWithPlugin(const LotusTrtPluginApi& api, const void* plan, size_t size, int device);

}  // namespace lotus::tensorrt
