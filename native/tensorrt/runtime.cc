#include "tensorrt/runtime.h"

#include <cuda_runtime_api.h>  // cudaStream_t only: the plugin makes no CUDA runtime calls

#include <memory>
#include <string>

#include "tensorrt/library.h"
#include "tensorrt/logger.h"
#include "tensorrt/plugin_common.h"

// The opaque handles. Members are declared so that destruction runs context -> engine -> runtime.
struct EngineState {
  lotus_trt::TrtPtr<nvinfer1::IRuntime> runtime;
  lotus_trt::TrtPtr<nvinfer1::ICudaEngine> engine;
  ~EngineState() {
    engine.reset();
    runtime.reset();
  }
};

struct LotusTrtEngine {
  std::shared_ptr<EngineState> state;
};

struct LotusTrtContext {
  std::shared_ptr<EngineState> state;  // contexts keep their engine alive
  lotus_trt::TrtPtr<nvinfer1::IExecutionContext> context;
  ~LotusTrtContext() { context.reset(); }
};

namespace lotus_trt {
namespace {

using nvinfer1::OptProfileSelector;

void require(bool condition, const char* what) {
  if (!condition) throw Failure(LOTUS_TRT_INVALID, what);
}

int32_t dtypeCode(nvinfer1::DataType type) {
  switch (type) {
    case nvinfer1::DataType::kFLOAT: return LOTUS_TRT_DTYPE_FLOAT32;
    case nvinfer1::DataType::kHALF: return LOTUS_TRT_DTYPE_FLOAT16;
    default: return LOTUS_TRT_DTYPE_OTHER;
  }
}

}  // namespace

int deserializeEngine(const void* plan, size_t size, LotusTrtEngine** engine, char** error) noexcept {
  return guarded(error, [&] {
    require(plan && size > 0 && engine, "deserializeEngine: empty plan");
    LogCapture capture;
    auto state = std::make_shared<EngineState>();
    state->runtime.reset(inferLibrary().createRuntime(logger()));
    if (!state->runtime) throw Failure(LOTUS_TRT_FAILED, capture.describe("createInferRuntime failed"));
    state->engine.reset(state->runtime->deserializeCudaEngine(plan, size));
    if (!state->engine) {
      throw Failure(LOTUS_TRT_DESERIALIZE,
                    capture.describe("deserialize failed: TensorRT " + std::to_string(inferLibrary().version) +
                                     " returned no engine (stale or corrupt plan)"));
    }
    *engine = new LotusTrtEngine{std::move(state)};
  });
}

void destroyEngine(LotusTrtEngine* engine) noexcept { delete engine; }

int32_t tensorCount(const LotusTrtEngine* engine) noexcept {
  return engine ? engine->state->engine->getNbIOTensors() : 0;
}

int tensorInfo(const LotusTrtEngine* engine, int32_t index, LotusTrtTensorInfo* info, char** error) noexcept {
  return guarded(error, [&] {
    require(engine && info, "tensorInfo: null argument");
    const nvinfer1::ICudaEngine& trt = *engine->state->engine;
    require(index >= 0 && index < trt.getNbIOTensors(), "tensorInfo: index out of range");
    const char* name = trt.getIOTensorName(index);
    info->name = name;
    info->dtype = dtypeCode(trt.getTensorDataType(name));
    info->isInput = trt.getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT ? 1 : 0;
    info->dims = fromTrtDims(trt.getTensorShape(name));
  });
}

int32_t profileCount(const LotusTrtEngine* engine) noexcept {
  return engine ? engine->state->engine->getNbOptimizationProfiles() : 0;
}

int profileShape(const LotusTrtEngine* engine, const char* input, int32_t profile, LotusTrtDims* min,
                 LotusTrtDims* opt, LotusTrtDims* max, char** error) noexcept {
  return guarded(error, [&] {
    require(engine && input && min && opt && max, "profileShape: null argument");
    LogCapture capture;
    const nvinfer1::ICudaEngine& trt = *engine->state->engine;
    const nvinfer1::Dims lo = trt.getProfileShape(input, profile, OptProfileSelector::kMIN);
    const nvinfer1::Dims mid = trt.getProfileShape(input, profile, OptProfileSelector::kOPT);
    const nvinfer1::Dims hi = trt.getProfileShape(input, profile, OptProfileSelector::kMAX);
    if (lo.nbDims < 0 || mid.nbDims < 0 || hi.nbDims < 0) {
      throw Failure(LOTUS_TRT_INVALID, capture.describe(std::string("no profile ") + std::to_string(profile) +
                                                        " shape for input " + input));
    }
    *min = fromTrtDims(lo);
    *opt = fromTrtDims(mid);
    *max = fromTrtDims(hi);
  });
}

int createContext(LotusTrtEngine* engine, int32_t profile, void* stream, LotusTrtContext** context,
                  char** error) noexcept {
  return guarded(error, [&] {
    require(engine && context, "createContext: null argument");
    LogCapture capture;
    auto created = std::make_unique<LotusTrtContext>();
    created->state = engine->state;
    created->context.reset(engine->state->engine->createExecutionContext());
    if (!created->context) throw Failure(LOTUS_TRT_FAILED, capture.describe("createExecutionContext failed"));
    if (!created->context->setOptimizationProfileAsync(profile, static_cast<cudaStream_t>(stream))) {
      throw Failure(LOTUS_TRT_FAILED,
                    capture.describe("setOptimizationProfileAsync(" + std::to_string(profile) + ") failed"));
    }
    *context = created.release();
  });
}

void destroyContext(LotusTrtContext* context) noexcept { delete context; }

int setInputShape(LotusTrtContext* context, const char* name, const LotusTrtDims* dims, char** error) noexcept {
  return guarded(error, [&] {
    require(context && name && dims, "setInputShape: null argument");
    LogCapture capture;
    const nvinfer1::Dims shape = toTrtDims(*dims, name);
    if (!context->context->setInputShape(name, shape)) {
      throw Failure(LOTUS_TRT_INVALID,
                    capture.describe(std::string("setInputShape ") + name + " " + dimsToString(shape) + " failed"));
    }
  });
}

int tensorShape(LotusTrtContext* context, const char* name, LotusTrtDims* dims, char** error) noexcept {
  return guarded(error, [&] {
    require(context && name && dims, "tensorShape: null argument");
    LogCapture capture;
    nvinfer1::IExecutionContext& trt = *context->context;
    const nvinfer1::Dims shape = trt.getTensorShape(name);
    if (shape.nbDims < 0) throw Failure(LOTUS_TRT_FAILED, capture.describe(std::string("getTensorShape ") + name + " failed"));
    for (int32_t i = 0; i < shape.nbDims; ++i) {
      if (shape.d[i] >= 0) continue;
      // A wildcard left after setInputShape: name the inputs still unset (inferShapes is the
      // name-based check; allInputDimensionsSpecified does not work with setInputShape).
      const char* unset[LOTUS_TRT_MAX_DIMS] = {};
      const int32_t count = trt.inferShapes(LOTUS_TRT_MAX_DIMS, unset);
      std::string detail;
      for (int32_t k = 0; k < count && k < LOTUS_TRT_MAX_DIMS; ++k) {
        detail += (detail.empty() ? "" : ", ") + std::string(unset[k] ? unset[k] : "?");
      }
      throw Failure(LOTUS_TRT_INVALID,
                    capture.describe(std::string("getTensorShape ") + name + " " + dimsToString(shape) + " is not fully known" +
                                     (detail.empty() ? "" : " (input shapes not set: " + detail + ")")));
    }
    *dims = fromTrtDims(shape);
  });
}

int setTensorAddress(LotusTrtContext* context, const char* name, void* address, char** error) noexcept {
  return guarded(error, [&] {
    require(context && name, "setTensorAddress: null argument");
    LogCapture capture;
    if (!context->context->setTensorAddress(name, address)) {
      throw Failure(LOTUS_TRT_FAILED, capture.describe(std::string("setTensorAddress ") + name + " failed"));
    }
  });
}

int enqueue(LotusTrtContext* context, void* stream, char** error) noexcept {
  return guarded(error, [&] {
    require(context, "enqueue: null context");
    LogCapture capture;
    if (!context->context->enqueueV3(static_cast<cudaStream_t>(stream))) {
      throw Failure(LOTUS_TRT_FAILED, capture.describe("enqueueV3 failed"));
    }
  });
}

}  // namespace lotus_trt
