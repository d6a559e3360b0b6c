#include "core/gpu_pipeline.h"

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstring>

#include "core/cuda_check.h"
#include "core/errors.h"
#include "core/pixel_kernels.h"

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
  cudaEvent_t events[kStageCount] = {};
  Lease image, noise, prediction;
  int shapeWidth = 0, shapeHeight = 0;  // padded shape the lane's buffers and graph are for
  int plainRunsAtShape = 0;             // TensorRT's first enqueue at a shape may allocate: not capturable
  cudaGraphExec_t graph = nullptr;
  bool graphFailedAtShape = false;

  void dropGraph() {
    if (graph != nullptr) cudaGraphExecDestroy(graph);
    graph = nullptr;
  }
  ~Lane() {
    if (stream != nullptr) cudaStreamSynchronize(stream);
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
  checkDimension("sizeMultiple", options_.sizeMultiple, kMaxSizeMultiple);
  if (options_.sizeMultiple % 8 != 0) throw ArgumentError("sizeMultiple", "a multiple of 8 (the latent is 1/8 size)");
  if (options_.lanes < 1 || options_.lanes > engine_->maxLanes()) {
    throw ArgumentError("lanes", "1.." + std::to_string(engine_->maxLanes()) + " (the engine's optimization profiles)");
  }
  for (const TensorDesc& tensor : engine_->tensors()) {
    if (tensor.isInput && tensor.name == "image") imageType_ = tensor.dtype, imageName_ = tensor.name;
    if (tensor.isInput && tensor.name == "noise") noiseType_ = tensor.dtype, noiseName_ = tensor.name;
    if (!tensor.isInput && tensor.name == "prediction") predictionType_ = tensor.dtype, predictionName_ = tensor.name;
  }
  if (imageName_.empty() || predictionName_.empty()) {
    throw Error(ErrorCode::Model, "engine lacks the `image` input or the `prediction` output");
  }
  if (options_.generation && noiseName_.empty()) throw Error(ErrorCode::Model, "generation model without a `noise` input");
  if (!options_.generation && !noiseName_.empty()) throw Error(ErrorCode::Model, "regression model with a `noise` input");

  LOTUS_CUDA_CHECK(cudaSetDevice(options_.device));
  devicePool_ = MemoryPool::create(MemoryKind::Device, options_.device, options_.maxPoolBytes);
  pinnedPool_ = MemoryPool::create(MemoryKind::Pinned, options_.device, options_.maxPoolBytes);
  for (int i = 0; i < options_.lanes; ++i) {
    auto lane = std::make_unique<Lane>();
    LOTUS_CUDA_CHECK(cudaStreamCreateWithFlags(&lane->stream, cudaStreamNonBlocking));
    for (cudaEvent_t& event : lane->events) LOTUS_CUDA_CHECK(cudaEventCreate(&event));
    lane->engineLane = engine_->createLane(i);
    freeLanes_.push_back(lane.get());
    lanes_.push_back(std::move(lane));
  }
}

GpuPipeline::~GpuPipeline() {
  // Owners keep the pipeline alive while requests run (shared_ptr), so every lane is free here.
  // The last owner may be the JS thread (close()) or a worker whose request failed before run()'s
  // cudaSetDevice: stream/graph/context/engine teardown must run with our device current.
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

void GpuPipeline::infer(Lane& lane, const PreprocessPlan& plan) {
  if (!options_.cudaGraphs || lane.graphFailedAtShape || lane.plainRunsAtShape == 0) {
    lane.engineLane->enqueue(lane.stream);
    lane.plainRunsAtShape += 1;
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
  (void)plan;
  LOTUS_CUDA_CHECK(cudaGraphLaunch(lane.graph, lane.stream));
}

GpuResult GpuPipeline::run(const GpuRequest& request) {
  PreprocessPlan plan = planPreprocess(request.width, request.height, request.channels, request.processingResolution,
                                       options_.sizeMultiple);
  checkPixelBytes(plan, request.byteLength);
  if (request.pixels == nullptr) throw ArgumentError("pixels", "a buffer");
  const int latentW = plan.paddedWidth / 8, latentH = plan.paddedHeight / 8;
  const size_t noiseElements = static_cast<size_t>(4) * latentW * latentH;
  if (request.noise != nullptr) {
    if (!options_.generation) throw ArgumentError("noise", "no noise: this is a regression model");
    if (request.noiseElements != noiseElements) {
      throw ArgumentError("noise", "[1, 4, " + std::to_string(latentH) + ", " + std::to_string(latentW) + "] = " +
                                       std::to_string(noiseElements) + " floats, got " +
                                       std::to_string(request.noiseElements));
    }
  }
  PostprocessPlan post = planPostprocess(options_.task, request.resample, plan.paddedWidth, plan.paddedHeight,
                                         plan.resizedWidth, plan.resizedHeight, plan.width, plan.height);

  Lane& lane = acquireLane();
  struct LaneReturn {
    GpuPipeline* self;
    Lane* lane;
    ~LaneReturn() { self->releaseLane(*lane); }
  } laneReturn{this, &lane};
  LOTUS_CUDA_CHECK(cudaSetDevice(options_.device));

  // Engine I/O for this shape (lane-owned; a new shape replaces them and drops the graph).
  if (lane.shapeWidth != plan.paddedWidth || lane.shapeHeight != plan.paddedHeight) {
    LOTUS_CUDA_CHECK(cudaStreamSynchronize(lane.stream));
    lane.dropGraph();
    lane.graphFailedAtShape = false;
    lane.plainRunsAtShape = 0;
    // Invalidate first: if anything below throws (shape outside the profile, output shape check,
    // out of memory), the context may already hold the new shapes while the buffers are still the
    // old (maybe smaller) ones. A later request at the old shape must reconfigure, not enqueue a
    // half-updated context (out-of-bounds reads/writes).
    lane.shapeWidth = 0;
    lane.shapeHeight = 0;
    // The stream is drained: give the old-shape buffers back before leasing the new ones.
    lane.image.reset();
    lane.noise.reset();
    lane.prediction.reset();
    lane.engineLane->setInputShape(imageName_, {1, 3, plan.paddedHeight, plan.paddedWidth});
    if (options_.generation) lane.engineLane->setInputShape(noiseName_, {1, 4, latentH, latentW});
    std::vector<int64_t> outputShape = lane.engineLane->tensorShape(predictionName_);
    if (outputShape != std::vector<int64_t>{1, 3, plan.paddedHeight, plan.paddedWidth}) {
      throw Error(ErrorCode::Model, "engine output `prediction` does not have the input's [1, 3, H, W] shape");
    }
    lane.image = devicePool_->acquire(plan.tensorElements() * dtypeBytes(imageType_));
    lane.prediction = devicePool_->acquire(elementCount(outputShape) * dtypeBytes(predictionType_));
    lane.engineLane->setTensorAddress(imageName_, lane.image.data());
    lane.engineLane->setTensorAddress(predictionName_, lane.prediction.data());
    if (options_.generation) {
      lane.noise = devicePool_->acquire(noiseElements * dtypeBytes(noiseType_));
      lane.engineLane->setTensorAddress(noiseName_, lane.noise.data());
    }
    lane.shapeWidth = plan.paddedWidth;
    lane.shapeHeight = plan.paddedHeight;
  }

  // Per-request buffers. The guard below is declared after them so it is destroyed first: on any
  // error, the stream drains before these buffers go back to the pools.
  Lease pixelsHost = pinnedPool_->acquire(plan.pixelBytes());
  Lease pixels = devicePool_->acquire(plan.pixelBytes());
  Lease scratch = devicePool_->acquire(preprocessScratchElements(plan) * sizeof(float));
  Lease noiseHost;
  Lease output = devicePool_->acquire(post.outputElements() * sizeof(float));
  Lease outputHost = pinnedPool_->acquire(post.outputElements() * sizeof(float));
  struct StreamDrain {
    cudaStream_t stream;
    ~StreamDrain() {
      if (cudaStreamSynchronize(stream) != cudaSuccess) cudaGetLastError();
    }
  } drain{lane.stream};

  cudaStream_t stream = lane.stream;
  std::memcpy(pixelsHost.data(), request.pixels, plan.pixelBytes());
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kStart], stream));
  LOTUS_CUDA_CHECK(cudaMemcpyAsync(pixels.data(), pixelsHost.data(), plan.pixelBytes(), cudaMemcpyHostToDevice, stream));
  if (request.noise != nullptr) {
    noiseHost = pinnedPool_->acquire(noiseElements * dtypeBytes(noiseType_));
    if (noiseType_ == DType::Float16) {
      for (size_t i = 0; i < noiseElements; ++i) noiseHost.as<__half>()[i] = __float2half_rn(request.noise[i]);
    } else {
      std::memcpy(noiseHost.data(), request.noise, noiseElements * sizeof(float));
    }
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(lane.noise.data(), noiseHost.data(), noiseElements * dtypeBytes(noiseType_),
                                     cudaMemcpyHostToDevice, stream));
  }
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kUploaded], stream));
  launchPreprocess(plan, pixels.as<uint8_t>(), scratch.as<float>(), lane.image.data(), imageType_, stream);
  if (options_.generation && request.noise == nullptr) {
    launchGaussianNoise(request.seed, lane.noise.data(), noiseType_, noiseElements, stream);
  }
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kPreprocessed], stream));
  infer(lane, plan);
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kInferred], stream));
  launchPostprocess(post, lane.prediction.data(), predictionType_, output.as<float>(), stream);
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kPostprocessed], stream));
  LOTUS_CUDA_CHECK(cudaMemcpyAsync(outputHost.data(), output.data(), post.outputElements() * sizeof(float),
                                   cudaMemcpyDeviceToHost, stream));
  LOTUS_CUDA_CHECK(cudaEventRecord(lane.events[kDownloaded], stream));
  LOTUS_CUDA_CHECK(cudaStreamSynchronize(stream));

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
  result.output = std::move(outputHost);
  result.elements = post.outputElements();
  result.width = plan.width;
  result.height = plan.height;
  return result;
}

}  // namespace lotus
