// dlopen of libnvinfer / libnvonnxparser of the compiled major, and the factories the headers'
// inline createInferBuilder() etc. would call. The plugin has no link-time TensorRT dependency.
#pragma once
#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <cstdint>

namespace lotus_trt {

struct InferLibrary {
  int32_t version = 0;  // getInferLibVersion(), e.g. 110100
  nvinfer1::IBuilder* createBuilder(nvinfer1::ILogger& logger) const;
  nvinfer1::IRuntime* createRuntime(nvinfer1::ILogger& logger) const;

  void* (*createBuilderInternal)(void*, int32_t) = nullptr;
  void* (*createRuntimeInternal)(void*, int32_t) = nullptr;
};

struct ParserLibrary {
  nvonnxparser::IParser* createParser(nvinfer1::INetworkDefinition& network, nvinfer1::ILogger& logger) const;
  void* (*createParserInternal)(void*, void*, int) = nullptr;
};

// TensorRT's standard plugins (libnvinfer_plugin.so.<MAJOR>), registered with
// initLibNvInferPlugins(logger, "") as trtexec does, so engines and ONNX graphs that use them work.
struct PluginLibrary {
  bool initialized = false;
};

// Loaded once; later calls return the same result. Throws Failure with dlerror()'s reason.
const InferLibrary& inferLibrary();
const ParserLibrary& parserLibrary();
const PluginLibrary& pluginLibrary();

}  // namespace lotus_trt
