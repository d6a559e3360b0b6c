#include "tensorrt/library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "tensorrt/logger.h"
#include "tensorrt/plugin_common.h"

namespace lotus_trt {
namespace {

std::string soname(const char* base) { return std::string(base) + ".so." + std::to_string(NV_TENSORRT_MAJOR); }

// LOTUS_TENSORRT_LIB_DIR first (a TensorRT tarball not on the loader path), then the loader's search.
void* openLibrary(const std::string& name) {
  std::string reasons;
  if (const char* dir = std::getenv("LOTUS_TENSORRT_LIB_DIR"); dir && *dir) {
    const std::string path = std::string(dir) + "/" + name;
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
    reasons = std::string(dlerror()) + "; ";
  }
  if (void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
  throw Failure(LOTUS_TRT_FAILED, reasons + dlerror());
}

template <typename Fn>
Fn symbol(void* handle, const std::string& library, const char* name) {
  dlerror();
  void* address = dlsym(handle, name);
  if (!address) {
    const char* reason = dlerror();
    throw Failure(LOTUS_TRT_FAILED, library + ": no symbol " + name + (reason ? std::string(" (") + reason + ")" : ""));
  }
  return reinterpret_cast<Fn>(address);
}

// The outcome of a one-time load: the value or the failure message, kept for every later call.
template <typename T>
struct LoadOnce {
  std::once_flag once;
  T value;
  std::string failure;
};

InferLibrary loadInfer() {
  const std::string name = soname("libnvinfer");
  void* handle = openLibrary(name);  // never dlclosed: engines and loggers refer into it
  InferLibrary library;
  library.createBuilderInternal = symbol<void* (*)(void*, int32_t)>(handle, name, "createInferBuilder_INTERNAL");
  library.createRuntimeInternal = symbol<void* (*)(void*, int32_t)>(handle, name, "createInferRuntime_INTERNAL");
  auto getVersion = symbol<int32_t (*)()>(handle, name, "getInferLibVersion");
  library.version = getVersion();
  if (library.version / 10000 != NV_TENSORRT_MAJOR) {
    throw Failure(LOTUS_TRT_FAILED, name + " reports version " + std::to_string(library.version) +
                                        ", this plugin was compiled for TensorRT " + std::to_string(NV_TENSORRT_MAJOR));
  }
  return library;
}

ParserLibrary loadParser() {
  inferLibrary();  // the parser needs libnvinfer of the same major first
  const std::string name = soname("libnvonnxparser");
  void* handle = openLibrary(name);
  ParserLibrary library;
  library.createParserInternal = symbol<void* (*)(void*, void*, int)>(handle, name, "createNvOnnxParser_INTERNAL");
  return library;
}

PluginLibrary loadPlugins() {
  inferLibrary();  // the plugins register into libnvinfer of the same major
  const std::string name = soname("libnvinfer_plugin");
  void* handle = openLibrary(name);  // never dlclosed: registered creators point into it
  auto init = symbol<bool (*)(void*, const char*)>(handle, name, "initLibNvInferPlugins");
  LogCapture capture;  // its errors become the failure message
  if (!init(&logger(), "")) {
    throw Failure(LOTUS_TRT_FAILED, capture.describe(name + ": initLibNvInferPlugins returned false"));
  }
  PluginLibrary library;
  library.initialized = true;
  return library;
}

template <typename T>
const T& loadOnce(LoadOnce<T>& state, T (*load)()) {
  std::call_once(state.once, [&] {
    try {
      state.value = load();
    } catch (const std::exception& error) {
      state.failure = error.what();
    }
  });
  if (!state.failure.empty()) throw Failure(LOTUS_TRT_FAILED, state.failure);
  return state.value;
}

}  // namespace

nvinfer1::IBuilder* InferLibrary::createBuilder(nvinfer1::ILogger& logger) const {
  return static_cast<nvinfer1::IBuilder*>(createBuilderInternal(&logger, static_cast<int32_t>(NV_TENSORRT_VERSION)));
}

nvinfer1::IRuntime* InferLibrary::createRuntime(nvinfer1::ILogger& logger) const {
  return static_cast<nvinfer1::IRuntime*>(createRuntimeInternal(&logger, static_cast<int32_t>(NV_TENSORRT_VERSION)));
}

nvonnxparser::IParser* ParserLibrary::createParser(nvinfer1::INetworkDefinition& network,
                                                   nvinfer1::ILogger& logger) const {
  return static_cast<nvonnxparser::IParser*>(createParserInternal(&network, &logger, NV_ONNX_PARSER_VERSION));
}

const InferLibrary& inferLibrary() {
  static LoadOnce<InferLibrary> state;
  return loadOnce(state, &loadInfer);
}

const ParserLibrary& parserLibrary() {
  static LoadOnce<ParserLibrary> state;
  return loadOnce(state, &loadParser);
}

const PluginLibrary& pluginLibrary() {
  static LoadOnce<PluginLibrary> state;
  return loadOnce(state, &loadPlugins);
}

}  // namespace lotus_trt
