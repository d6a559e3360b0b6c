// The GPU request path over lotus::Engine: N lanes, each an EngineLane + its own stream + events.
// One request (a batch of images) runs on one stream from upload to download and synchronises only
// that stream: pinned staging -> H2D -> preprocess kernels into the batch's engine input -> (G)
// noise kernels -> enqueue (optionally a CUDA graph per lane and shape) -> postprocess kernels ->
// D2H into one pinned lease per image.
// run() blocks until a lane is free: call it from a worker thread, never the JS thread.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/memory_pool.h"
#include "core/pipeline_geometry.h"

namespace lotus {

struct GpuPipelineOptions {
  int device = 0;
  int lanes = 1;
  bool cudaGraphs = false;
  Task task = Task::Depth;
  bool generation = true;  // G models take `noise`
  int sizeMultiple = kLatentFactor;  // must be 8: the VAE's downscale factor (lotus.size_multiple)
  size_t maxPoolBytes = size_t{1} << 30;  // idle bytes kept per pool (device, pinned)
};

struct GpuImage {  // 8-bit RGB/RGBA HWC pixels
  const uint8_t* pixels = nullptr;
  size_t byteLength = 0;
  int width = 0, height = 0, channels = 3;
  // G models: this image's own noise (requests batched together keep theirs): explicit
  // [1, 4, h/8, w/8] values, else generated from `seed`, as when the image runs alone.
  uint64_t seed = 0;
  const float* noise = nullptr;
  size_t noiseElements = 0;
};

// One network call over a batch. Every image must reach the same network input size (the size after
// the processing-resolution resize); each is predicted exactly as it would be alone.
struct GpuRequest {
  std::vector<GpuImage> images;
  int processingResolution = 0;
  Resample resample = Resample::Nearest;
};

struct StageTimings {  // milliseconds of the whole batch, from CUDA events on the request's stream
  double upload = 0, preprocess = 0, inference = 0, postprocess = 0, download = 0, total = 0;
};

struct GpuOutput {
  Lease output;  // pinned float32: depth H*W or normals H*W*3
  size_t elements = 0;
  int width = 0, height = 0;
};

struct GpuResult {
  std::vector<GpuOutput> outputs;  // one per image, in order
  StageTimings timings;
};

class GpuPipeline {
 public:
  GpuPipeline(std::shared_ptr<Engine> engine, const GpuPipelineOptions& options);
  ~GpuPipeline();
  GpuPipeline(const GpuPipeline&) = delete;
  GpuPipeline& operator=(const GpuPipeline&) = delete;

  GpuResult run(const GpuRequest& request);
  // The engine's profile: images per call and network input height/width it accepts.
  int maxBatch() const { return static_cast<int>(imageMax_[0]); }
  PoolStats devicePoolStats() const { return devicePool_->stats(); }
  PoolStats pinnedPoolStats() const { return pinnedPool_->stats(); }

 private:
  struct Lane;
  Lane& acquireLane();
  void releaseLane(Lane& lane);
  void infer(Lane& lane);
  // Fits the lane's engine shapes and I/O buffers to (batch, network size); drops a stale graph.
  void configureLane(Lane& lane, int batch, const PreprocessPlan& plan);
  void checkProfile(size_t batch, const PreprocessPlan& plan) const;

  std::shared_ptr<Engine> engine_;
  GpuPipelineOptions options_;
  std::string imageName_, noiseName_, predictionName_;
  DType imageType_ = DType::Float32, noiseType_ = DType::Float32, predictionType_ = DType::Float32;
  std::vector<int64_t> imageMin_, imageMax_;  // [N, 3, H, W] range of the optimization profile
  std::shared_ptr<MemoryPool> devicePool_, pinnedPool_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::mutex mutex_;
  std::condition_variable laneFreed_;
  std::vector<Lane*> freeLanes_;
};

}  // namespace lotus
