// lotus::Engine / EngineLane over the plugin's engine and context handles.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/cuda_check.h"
#include "core/device_info.h"
#include "core/errors.h"
#include "core/memory_pool.h"  // ScopedDevice
#include "core/tensorrt_plugin.h"
#include "core/tensorrt_plugin_api.h"

namespace lotus {
namespace {

using tensorrt::check;

// The plugin's engine handle; lanes share it so the engine outlives every context made from it.
using EngineHandle = std::shared_ptr<LotusTrtEngine>;

class TensorRTLane final : public EngineLane {
 public:
  TensorRTLane(const LotusTrtPluginApi& api, EngineHandle engine, LotusTrtContext* context, int device)
      : api_(api), engine_(std::move(engine)), context_(context), device_(device) {}
  ~TensorRTLane() override {
    // Context before its engine; TensorRT frees the context's device memory, so our device must be
    // current (the destroying thread may have another one).
    ScopedDevice current(device_);
    api_.destroyContext(context_);
  }

  void setInputShape(const std::string& name, const std::vector<int64_t>& dims) override {
    const LotusTrtDims shape = tensorrt::toDims(dims, name);
    char* error = nullptr;
    check(api_, api_.setInputShape(context_, name.c_str(), &shape, &error), error, "setInputShape");
  }

  std::vector<int64_t> tensorShape(const std::string& name) override {
    LotusTrtDims shape{};
    char* error = nullptr;
    check(api_, api_.tensorShape(context_, name.c_str(), &shape, &error), error, "getTensorShape");
    return tensorrt::fromDims(shape);
  }

  void setTensorAddress(const std::string& name, void* address) override {
    if (reinterpret_cast<uintptr_t>(address) % 256 != 0) throw ArgumentError(name, "a 256-byte aligned device address");
    char* error = nullptr;
    check(api_, api_.setTensorAddress(context_, name.c_str(), address, &error), error, "setTensorAddress");
  }

  void enqueue(cudaStream_t stream) override {
    LOTUS_CUDA_CHECK(cudaSetDevice(device_));  // the calling thread may have another device current
    char* error = nullptr;
    check(api_, api_.enqueue(context_, stream, &error), error, "enqueueV3");
  }

 private:
  const LotusTrtPluginApi& api_;
  EngineHandle engine_;
  LotusTrtContext* context_;
  int device_;
};

// A stream used once to queue a new context's profile switch, synchronized and destroyed before the
// lane is handed out (the lane's own requests then run on the pipeline's streams).
class ScratchStream {
 public:
  ScratchStream() { LOTUS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~ScratchStream() { cudaStreamDestroy(stream_); }
  ScratchStream(const ScratchStream&) = delete;
  ScratchStream& operator=(const ScratchStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

class TensorRTEngine final : public Engine {
 public:
  TensorRTEngine(const LotusTrtPluginApi& api, EngineHandle engine, int device)
      : api_(api), engine_(std::move(engine)), device_(device) {
    const int32_t count = api_.tensorCount(engine_.get());
    for (int32_t i = 0; i < count; ++i) {
      LotusTrtTensorInfo info{};
      char* error = nullptr;
      check(api_, api_.tensorInfo(engine_.get(), i, &info, &error), error, "tensorInfo");
      if (info.dtype == LOTUS_TRT_DTYPE_OTHER) {
        throw Error(ErrorCode::Model, std::string("engine tensor ") + info.name +
                                          " has a data type other than float32/float16");
      }
      TensorDesc desc;
      desc.name = info.name;
      desc.dtype = info.dtype == LOTUS_TRT_DTYPE_FLOAT16 ? DType::Float16 : DType::Float32;
      desc.isInput = info.isInput != 0;
      desc.dims = tensorrt::fromDims(info.dims);
      tensors_.push_back(std::move(desc));
    }
    lanes_ = api_.profileCount(engine_.get());
  }

  std::vector<TensorDesc> tensors() const override { return tensors_; }
  int maxLanes() const override { return lanes_; }

  std::unique_ptr<EngineLane> createLane(int index) override {
    if (index < 0 || index >= lanes_) {
      throw ArgumentError("lane", "0.." + std::to_string(lanes_ - 1) + " (one per optimization profile)");
    }
    LOTUS_CUDA_CHECK(cudaSetDevice(device_));
    ScratchStream stream;
    LotusTrtContext* context = nullptr;
    char* error = nullptr;
    check(api_, api_.createContext(engine_.get(), index, stream.get(), &context, &error), error,
          "createExecutionContext");
    auto lane = std::make_unique<TensorRTLane>(api_, engine_, context, device_);
    LOTUS_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
    return lane;
  }

  void inputShapeRange(const std::string& name, int lane, std::vector<int64_t>& min, std::vector<int64_t>& opt,
                       std::vector<int64_t>& max) const override {
    LotusTrtDims lo{}, mid{}, hi{};
    char* error = nullptr;
    check(api_, api_.profileShape(engine_.get(), name.c_str(), lane, &lo, &mid, &hi, &error), error,
          "getProfileShape");
    min = tensorrt::fromDims(lo);
    opt = tensorrt::fromDims(mid);
    max = tensorrt::fromDims(hi);
  }

 private:
  const LotusTrtPluginApi& api_;
  EngineHandle engine_;
  int device_;
  int lanes_ = 0;
  std::vector<TensorDesc> tensors_;
};

}  // namespace

std::shared_ptr<Engine> tensorrt::deserializeWithPlugin(const LotusTrtPluginApi& api, const void* plan, size_t size,
                                                       int device) {
  LotusTrtEngine* raw = nullptr;
  char* error = nullptr;
  const int status = api.deserializeEngine(plan, size, &raw, &error);
  check(api, status, error, "deserializeCudaEngine");  // message starts "deserialize failed"
  // The last lane or session may drop the engine on any thread: destroy it with its device current.
  EngineHandle engine(raw, [destroy = api.destroyEngine, device](LotusTrtEngine* handle) {
    ScopedDevice current(device);
    destroy(handle);
  });
  return std::make_shared<TensorRTEngine>(api, std::move(engine), device);
}

std::shared_ptr<Engine> deserializeTensorRTEngine(const void* plan, size_t size, int device) {
  const LotusTrtPluginApi& api = tensorrt::requirePlugin();
  if (!plan || size == 0) throw ArgumentError("plan", "a non-empty serialized engine");
  requireUsableDevice(device);
  LOTUS_CUDA_CHECK(cudaSetDevice(device));  // the engine's memory lives on the current device
  return tensorrt::deserializeWithPlugin(api, plan, size, device);
}

}  // namespace lotus
