// The engine interface the GPU pipeline runs on. TensorRT implements it (core/tensorrt_plugin.*);
// the pipeline (pre/post kernels, pools, streams) never sees TensorRT types.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lotus {

enum class DType { Float32, Float16 };

struct TensorDesc {
  std::string name;
  DType dtype = DType::Float32;
  bool isInput = false;
  std::vector<int64_t> dims;  // -1 for dynamic dimensions
};

// One execution context: used by one request at a time, on the stream passed to enqueue.
class EngineLane {
 public:
  virtual ~EngineLane() = default;
  virtual void setInputShape(const std::string& name, const std::vector<int64_t>& dims) = 0;
  // Shape of a tensor after all input shapes are set (outputs are resolved by the engine).
  virtual std::vector<int64_t> tensorShape(const std::string& name) = 0;
  // Device addresses must be 256-byte aligned.
  virtual void setTensorAddress(const std::string& name, void* address) = 0;
  // Queues the inference on `stream`; throws lotus::Error (ERR_LOTUS_TENSORRT) on failure.
  virtual void enqueue(cudaStream_t stream) = 0;
};

// A deserialized engine, shared by all lanes. Lanes may run concurrently, each on its own stream.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::vector<TensorDesc> tensors() const = 0;
  // How many lanes may exist at once (TensorRT: one optimization profile per lane).
  virtual int maxLanes() const = 0;
  virtual std::unique_ptr<EngineLane> createLane(int index) = 0;
  // Shape range of an input for the profile of `lane` (min, opt, max), for validation.
  virtual void inputShapeRange(const std::string& name, int lane, std::vector<int64_t>& min,
                               std::vector<int64_t>& opt, std::vector<int64_t>& max) const = 0;
};

}  // namespace lotus
