#include "core/gpu_pipeline.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>

#include "core/cuda_check.h"
#include "core/engine_io.h"
#include "core/errors.h"
#include "core/pixel_kernels.h"
#include "core/pixel_math.h"
#include "core/saturating.h"
#include "core/stream_wait.h"

namespace lotus {
namespace {

size_t dtypeBytes(DType type) { return type == DType::Float16 ? 2 : 4; }

size_t elementCount(const std::vector<int64_t>& dims) {
  size_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) throw Error(ErrorCode::TensorRT, "engine reported an unresolved dynamic dimension");
    count *= static_cast<size_t>(d);
  }
  return count;
}

enum Stage { kStart, kUploaded, kPreprocessed, kInferred, kPostprocessed, kDownloaded, kStageCount };

}  // namespace

// Engine I/O buffers belong to the lane (not leased per request) so a captured CUDA graph's
// addresses stay valid; they are replaced, and the graph re-captured, when the shape changes.
struct GpuPipeline::Lane {
  std::unique_ptr<EngineLane> engineLane;
  cudaStream_t stream = nullptr;
  cudaEvent_t events[kStageCount] = {};  // timing
  std::unique_ptr<StreamWaiter> waiter;  // every wait for the stream: sleeps, never spins a core
  Lease image, noise, prediction;
  int shapeBatch = 0, shapeWidth = 0, shapeHeight = 0;  // the lane's buffers and graph are for this shape
  int plainRunsAtShape = 0;  // saturating; TensorRT's first enqueue at a shape may allocate: not capturable
  cudaGraphExec_t graph = nullptr;
  bool graphFailedAtShape = false;

  void dropGraph() {
    if (graph != nullptr) cudaGraphExecDestroy(graph);
    graph = nullptr;
  }
  ~Lane() {
    if (stream != nullptr && waiter) waiter->waitNoThrow(stream);  // no work is queued without a waiter
    dropGraph();
    for (cudaEvent_t event : events) {
      if (event != nullptr) cudaEventDestroy(event);
    }
    if (stream != nullptr) cudaStreamDestroy(stream);
    cudaGetLastError();
  }
};

GpuPipeline::GpuPipeline(std::shared_ptr<Engine> engine, const GpuPipelineOptions& options)
    : engine_(std::move(engine)), options_(options) {
  if (!engine_) throw ArgumentError("engine", "a deserialized engine");
  if (options_.sizeMultiple != kLatentFactor) {
    throw ArgumentError("sizeMultiple", std::to_string(kLatentFactor) + " (the SD VAE's downscale factor), got " +
                                            std::to_string(options_.sizeMultiple));
  }
  if (options_.lanes < 1 || options_.lanes > engine_->maxLanes()) {
    throw ArgumentError("lanes", "1.." + std::to_string(engine_->maxLanes()) + " (the engine's optimization profiles)");
  }
  // Before any CUDA call: an engine that does not fit the contract fails here, not at its first enqueue.
  const EngineIo io = checkEngineIo(engine_->tensors(), options_.generation);
  imageName_ = io.image.name, imageType_ = io.image.dtype;
  noiseName_ = io.noise.name, noiseType_ = io.noise.dtype;
  predictionName_ = io.prediction.name, predictionType_ = io.prediction.dtype;
  std::vector<int64_t> imageOpt;
  engine_->inputShapeRange(imageName_, 0, imageMin_, imageOpt, imageMax_);  // every lane's profile is the same
  if (imageMin_.size() != 4 || imageMax_.size() != 4 || imageMax_[0] < 1) {
    throw Error(ErrorCode::Model, "engine's `image` profile is not a [N, 3, H, W] range");
  }

  LOTUS_CUDA_CHECK(cudaSetDevice(options_.device));
  devicePool_ = MemoryPool::create(MemoryKind::Device, options_.device, options_.maxPoolBytes);
  pinnedPool_ = MemoryPool::create(MemoryKind::Pinned, options_.device, options_.maxPoolBytes);
  for (int i = 0; i < options_.lanes; ++i) {
    auto lane = std::make_unique<Lane>();
    LOTUS_CUDA_CHECK(cudaStreamCreateWithFlags(&lane->stream, cudaStreamNonBlocking));
    for (cudaEvent_t& event : lane->events) LOTUS_CUDA_CHECK(cudaEventCreate(&event));
    lane->waiter = std::make_unique<StreamWaiter>();
    lane->engineLane = engine_->createLane(i);
    freeLanes_.push_back(lane.get());
    lanes_.push_back(std::move(lane));
  }
}

GpuPipeline::~GpuPipeline() {
  // Owners keep the pipeline alive while requests run (shared_ptr), so every lane is free here.
  // The addon shares it through shareOffloaded() (core/offload.h): this runs on a worker thread,
  // whose current device may be another one: stream/graph/context/engine teardown must run with
  // our device current.
  ScopedDevice current(options_.device);
  lanes_.clear();
  engine_.reset();  // TensorRT engine teardown, inside the device scope too
}

GpuPipeline::Lane& GpuPipeline::acquireLane() {
  std::unique_lock<std::mutex> lock(mutex_);
  laneFreed_.wait(lock, [&] { return !freeLanes_.empty(); });
  Lane* lane = freeLanes_.back();
  freeLanes_.pop_back();
  return *lane;
}

void GpuPipeline::releaseLane(Lane& lane) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    freeLanes_.push_back(&lane);
  }
  laneFreed_.notify_one();
}

void GpuPipeline::infer(Lane& lane) {
  if (!options_.cudaGraphs || lane.graphFailedAtShape || lane.plainRunsAtShape == 0) {
    lane.engineLane->enqueue(lane.stream);
    saturatingIncrement(lane.plainRunsAtShape);
    return;
  }
  if (lane.graph == nullptr) {
    cudaGraph_t graph = nullptr;
    LOTUS_CUDA_CHECK(cudaStreamBeginCapture(lane.stream, cudaStreamCaptureModeThreadLocal));
    bool captured = true;
    try {
      lane.engineLane->enqueue(lane.stream);
    } catch (const std::exception&) {
      captured = false;
    }
    cudaError_t ended = cudaStreamEndCapture(lane.stream, &graph);
    if (captured && ended == cudaSuccess && graph != nullptr &&
        cudaGraphInstantiate(&lane.graph, graph, 0) == cudaSuccess) {
      cudaGraphDestroy(graph);
    } else {
      // Not capturable (plugin, allocation...): remember, clear the error, run it plainly.
      if (graph != nullptr) cudaGraphDestroy(graph);
      cudaGetLastError();
      lane.graph = nullptr;
      lane.graphFailedAtShape = true;
      lane.engineLane->enqueue(lane.stream);
      return;
    }
  }
  LOTUS_CUDA_CHECK(cudaGraphLaunch(lane.graph, lane.stream));
}

void GpuPipeline::checkProfile(size_t batch, const PreprocessPlan& plan) const {
  if (batch < static_cast<size_t>(imageMin_[0]) || batch > static_cast<size_t>(imageMax_[0])) {
    throw ArgumentError("images", std::to_string(imageMin_[0]) + " to " + std::to_string(imageMax_[0]) +
                                      " images per call (the engine's batch range; build it with a larger maxBatch), got " +
                                      std::to_string(batch));
  }
  if (plan.networkHeight < imageMin_[2] || plan.networkHeight > imageMax_[2] || plan.networkWidth < imageMin_[3] ||
      plan.networkWidth > imageMax_[3]) {
    throw ArgumentError("processingResolution",
                        "a network input within the engine's profile, height " + std::to_string(imageMin_[2]) + ".." +
                            std::to_string(imageMax_[2]) + " and width " + std::to_string(imageMin_[3]) + ".." +
                            std::to_string(imageMax_[3]) + "; this image needs " + std::to_string(plan.networkHeight) +
                            "x" + std::to_string(plan.networkWidth) +
                            " (choose another processingResolution or build the engine with other minSize/maxSize)");
  }
}

void GpuPipeline::configureLane(Lane& lane, int batch, const PreprocessPlan& plan) {
  if (lane.shapeBatch == batch && lane.shapeWidth == plan.networkWidth && lane.shapeHeight == plan.networkHeight) return;
  lane.waiter->wait(lane.stream);
  lane.dropGraph();
  lane.graphFailedAtShape = false;
  lane.plainRunsAtShape = 0;
  // Invalidate first: if anything below throws (shape outside the profile, output shape check,
  // out of memory), the context may already hold the new shapes while the buffers are still the
  // old (maybe smaller) ones. A later request at the old shape must reconfigure, not enqueue a
  // half-updated context (out-of-bounds reads/writes).
  lane.shapeBatch = lane.shapeWidth = lane.shapeHeight = 0;
  // The stream is drained: give the old-shape buffers back before leasing the new ones.
  lane.image.reset();
  lane.noise.reset();
  lane.prediction.reset();
  const int latentW = plan.networkWidth / kLatentFactor, latentH = plan.networkHeight / kLatentFactor;
  lane.engineLane->setInputShape(imageName_, {batch, 3, plan.networkHeight, plan.networkWidth});
  if (options_.generation) lane.engineLane->setInputShape(noiseName_, {batch, 4, latentH, latentW});
  std::vector<int64_t> outputShape = lane.engineLane->tensorShape(predictionName_);
  const std::vector<int64_t> expected{batch, 3, px::predictionSize(plan.networkHeight, kLatentFactor),
                                      px::predictionSize(plan.networkWidth, kLatentFactor)};
  if (outputShape != expected) {
    throw Error(ErrorCode::Model, "engine output `prediction` is not [N, 3, 8 * floor(H / 8), 8 * floor(W / 8)] of its input");
  }
  lane.image = devicePool_->acquire(batch * plan.tensorElements() * dtypeBytes(imageType_));
  lane.prediction = devicePool_->acquire(elementCount(outputShape) * dtypeBytes(predictionType_));
  lane.engineLane->setTensorAddress(imageName_, lane.image.data());
  lane.engineLane->setTensorAddress(predictionName_, lane.prediction.data());
  if (options_.generation) {
    lane.noise = devicePool_->acquire(static_cast<size_t>(batch) * 4 * latentW * latentH * dtypeBytes(noiseType_));
    lane.engineLane->setTensorAddress(noiseName_, lane.noise.data());
  }
  lane.shapeBatch = batch;
  lane.shapeWidth = plan.networkWidth;
  lane.shapeHeight = plan.networkHeight;
}

GpuResult GpuPipeline::run(const GpuRequest& request) {
  const size_t batch = request.images.size();
  if (batch == 0) throw ArgumentError("images", "at least one image");
  std::vector<PreprocessPlan> plans;
  std::vector<PostprocessPlan> posts;
  size_t scratchElements = 0;
  for (size_t n = 0; n < batch; ++n) {
    const GpuImage& image = request.images[n];
    const std::string name = "images[" + std::to_string(n) + "]";
    PreprocessPlan plan = planPreprocess(image.width, image.height, image.channels, request.processingResolution);
    if (image.pixels == nullptr) throw ArgumentError(name, "a pixel buffer");
    checkPixelBytes(plan, image.byteLength);
    if (plan.networkWidth < kLatentFactor || plan.networkHeight < kLatentFactor) {
      throw ArgumentError(name, "a network input of at least " + std::to_string(kLatentFactor) + "x" +
                                    std::to_string(kLatentFactor) + " pixels, got " + std::to_string(plan.networkWidth) +
                                    "x" + std::to_string(plan.networkHeight));
    }
    if (n > 0 && (plan.networkWidth != plans[0].networkWidth || plan.networkHeight != plans[0].networkHeight)) {
      throw ArgumentError(name, "the network size of images[0] (" + std::to_string(plans[0].networkWidth) + "x" +
                                    std::to_string(plans[0].networkHeight) + "), got " +
                                    std::to_string(plan.networkWidth) + "x" + std::to_string(plan.networkHeight));
    }
    posts.push_back(planPostprocess(options_.task, request.resample,
                                    px::predictionSize(plan.networkWidth, kLatentFactor),
                                    px::predictionSize(plan.networkHeight, kLatentFactor), plan.width, plan.height));
    scratchElements = std::max(scratchElements, preprocessScratchElements(plan));
    plans.push_back(plan);
  }
  const PreprocessPlan& shape = plans[0];
  checkProfile(batch, shape);
  const int latentW = shape.networkWidth / kLatentFactor, latentH = shape.networkHeight / kLatentFactor;
  const size_t noiseElements = static_cast<size_t>(4) * latentW * latentH;  // per image
  bool explicitNoise = false;
  for (size_t n = 0; n < batch; ++n) {
    const GpuImage& image = request.images[n];
    if (image.noise == nullptr) continue;
    const std::string name = "images[" + std::to_string(n) + "].noise";
    if (!options_.generation) throw ArgumentError(name, "no noise: this is a regression model");
    if (image.noiseElements != noiseElements) {
      throw ArgumentError(name, "[1, 4, " + std::to_string(latentH) + ", " + std::to_string(latentW) + "] = " +
                                    std::to_string(noiseElements) + " floats, got " + std::to_string(image.noiseElements));
    }
    explicitNoise = true;
  }

  Lane& lane = acquireLane();
  struct LaneReturn {
    GpuPipeline* self;
    Lane* lane;
    ~LaneReturn() { self->releaseLane(*lane); }
  } laneReturn{this, &lane};
  LOTUS_CUDA_CHECK(cudaSetDevice(options_.device));
  configureLane(lane, static_cast<int>(batch), shape);

  // Per-request buffers. The guard below is declared after them so it is destroyed first: on any
  // error, the stream drains before these buffers go back to the pools.
  std::vector<Lease> pixelsHost(batch), pixels(batch), output(batch), outputHost(batch);
  for (size_t n = 0; n < batch; ++n) {
    pixelsHost[n] = pinnedPool_->acquire(plans[n].pixelBytes());
    pixels[n] = devicePool_->acquire(plans[n].pixelBytes());
    output[n] = devicePool_->acquire(posts[n].outputElements() * sizeof(float));
    outputHost[n] = pinnedPool_->acquire(posts[n].outputElements() * sizeof(float));
  }
  Lease scratch = devicePool_->acquire(scratchElements * sizeof(float));  // reused in stream order
  Lease noiseHost;
  struct StreamDrain {
    StreamWaiter& waiter;
    cudaStream_t stream;
    ~StreamDrain() { waiter.waitNoThrow(stream); }
  } drain{*lane.waiter, lane.stream};

  cudaStream_t stream = lane.stream;
  auto* imageSlices = static_cast<char*>(lane.image.data());
  auto* noiseSlices = static_cast<char*>(lane.noise.data());
  const auto* predictionSlices = static_cast<const char*>(lane.prediction.data());
  const size_t imageSliceBytes = shape.tensorElements() * dtypeBytes(imageType_);
  const size_t noiseSliceBytes = noiseElements * dtypeBytes(noiseType_);
  const size_t predictionSliceBytes = posts[0].predictionElements() * dtypeBytes(predictionType_);

  for (size_t n = 0; n < batch; ++n) std::memcpy(pixelsHost[n].data(), request.images[n].pixels, plans[n].pixelBytes());
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kStart], stream));
  for (size_t n = 0; n < batch; ++n) {
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(pixels[n].data(), pixelsHost[n].data(), plans[n].pixelBytes(),
                                     cudaMemcpyHostToDevice, stream));
  }
  if (explicitNoise) {
    noiseHost = pinnedPool_->acquire(batch * noiseSliceBytes);
    for (size_t n = 0; n < batch; ++n) {
      const float* values = request.images[n].noise;
      if (values == nullptr) continue;
      char* slice = noiseHost.as<char>() + n * noiseSliceBytes;
      if (noiseType_ == DType::Float16) {
        for (size_t i = 0; i < noiseElements; ++i) reinterpret_cast<__half*>(slice)[i] = __float2half_rn(values[i]);
      } else {
        std::memcpy(slice, values, noiseElements * sizeof(float));
      }
      LOTUS_CUDA_CHECK(cudaMemcpyAsync(noiseSlices + n * noiseSliceBytes, slice, noiseSliceBytes,
                                       cudaMemcpyHostToDevice, stream));
    }
  }
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kUploaded], stream));
  for (size_t n = 0; n < batch; ++n) {
    launchPreprocess(plans[n], pixels[n].as<uint8_t>(), scratch.as<float>(), imageSlices + n * imageSliceBytes,
                     imageType_, stream);
    if (options_.generation && request.images[n].noise == nullptr) {
      launchGaussianNoise(request.images[n].seed, noiseSlices + n * noiseSliceBytes, noiseType_, noiseElements, stream);
    }
  }
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kPreprocessed], stream));
  infer(lane);
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kInferred], stream));
  for (size_t n = 0; n < batch; ++n) {
    launchPostprocess(posts[n], predictionSlices + n * predictionSliceBytes, predictionType_, output[n].as<float>(),
                      stream);
  }
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kPostprocessed], stream));
  for (size_t n = 0; n < batch; ++n) {
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(outputHost[n].data(), output[n].data(), posts[n].outputElements() * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
  }
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kDownloaded], stream));
  lane.waiter->wait(stream);  // sleeps until the download lands (cudaStreamSynchronize would spin)

  GpuResult result;
  auto elapsed = [&](Stage from, Stage to) {
    float ms = 0;
    LOTUS_CUDA_CHECK(cudaEventElapsedTime(&ms, lane.events[from], lane.events[to]));
    return static_cast<double>(ms);
  };
  result.timings.upload = elapsed(kStart, kUploaded);
  result.timings.preprocess = elapsed(kUploaded, kPreprocessed);
  result.timings.inference = elapsed(kPreprocessed, kInferred);
  result.timings.postprocess = elapsed(kInferred, kPostprocessed);
  result.timings.download = elapsed(kPostprocessed, kDownloaded);
  result.timings.total = elapsed(kStart, kDownloaded);
  for (size_t n = 0; n < batch; ++n) {
    GpuOutput out;
    out.output = std::move(outputHost[n]);
    out.elements = posts[n].outputElements();
    out.width = plans[n].width;
    out.height = plans[n].height;
    result.outputs.push_back(std::move(out));
  }
  return result;
}

}  // namespace lotus
