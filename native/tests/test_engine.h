// A lotus::Engine implemented in CUDA for testing the GPU request path without TensorRT. Its I/O is
// shaped exactly like the exported Lotus network's (docs/design.md, "ONNX model contract"):
//   image      [N, 3, H, W]                      float32 | float16
//   noise      [N, 4, floor(H/8), floor(W/8)]    (G models only)
//   prediction [N, 3, 8*floor(H/8), 8*floor(W/8)]
// and each prediction element is a fixed function of the image and the noise with a known host
// result (testEngineReference), computed in float32 with correctly rounded operations on both
// sides, so the whole pipeline's output can be checked bit for bit:
//   pred[n,c,y,x] = a[c] * image[n,(c+1)%3,y,x] + b[c]
//                 + g[c] * mean of image[n,c] over the 8x8 block of latent cell (y/8, x/8)
//                 + k[c] * (noise[n,c,y/8,x/8] + noise[n,3,y/8,x/8])          (G only)
// The channel rotation catches swapped planes, the block mean catches row/column mix-ups, the
// latent-cell noise catches a wrong noise layout, and the output range (about [-2, 2]) exercises
// the post-processing clamp.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/engine.h"

namespace lotus::testing {

struct TestEngineOptions {
  bool generation = true;
  DType dtype = DType::Float32;  // of every tensor, as an FP32 or FP16 export
  int maxLanes = 4;              // one "optimization profile" per lane, as TensorRT
  int maxBatch = 4;
  int minSize = 8, maxSize = 2048;  // network input height/width range of the profile
  // Each enqueue first runs a one-thread kernel that waits this long on the GPU, so that requests
  // last long enough for concurrent lanes to overlap (it does not change any value).
  unsigned spinMicroseconds = 0;
};

class TestEngine : public Engine {
 public:
  explicit TestEngine(const TestEngineOptions& options) : options_(options) {}

  std::vector<TensorDesc> tensors() const override;
  int maxLanes() const override { return options_.maxLanes; }
  std::unique_ptr<EngineLane> createLane(int index) override;
  void inputShapeRange(const std::string& name, int lane, std::vector<int64_t>& min, std::vector<int64_t>& opt,
                       std::vector<int64_t>& max) const override;

  const TestEngineOptions& options() const { return options_; }
  void setSpinMicroseconds(unsigned value) { spin_.store(value); }
  unsigned spinMicroseconds() const { return spin_.load(); }
  // enqueue() calls over all lanes (a CUDA graph replay calls none).
  uint64_t enqueueCalls() const { return enqueueCalls_.load(); }
  // The next enqueue() throws, as a failing TensorRT enqueue would (ERR_LOTUS_TENSORRT).
  void failNextEnqueue() { failNext_.store(true); }

 private:
  friend class TestEngineLane;
  TestEngineOptions options_;
  std::atomic<unsigned> spin_{options_.spinMicroseconds};
  std::atomic<uint64_t> enqueueCalls_{0};
  std::atomic<bool> failNext_{false};
};

// The engine's prediction on the host: image [batch, 3, height, width], noise [batch, 4, height/8,
// width/8] (ignored unless generation) as float values, already rounded to the engine's dtype.
// Returns [batch, 3, 8*floor(height/8), 8*floor(width/8)], rounded to `dtype`.
std::vector<float> testEngineReference(const float* image, const float* noise, int batch, int height, int width,
                                       bool generation, DType dtype);

}  // namespace lotus::testing
