// openGpuSession() -> GpuSession: a deserialized TensorRT engine + GpuPipeline, driven from JS.
// Opening and run() execute on the libuv pool (a run may wait for a free lane there, never on the
// event loop). Results are the pinned pool buffer itself (external ArrayBuffer, returned to the pool
// by its finalizer) where allowed.
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "addon/arg_parse.h"
#include "addon/bindings.h"
#include "addon/external_buffer.h"
#include "addon/js_errors.h"
#include "addon/js_thread_offload.h"
#include "addon/promise_worker.h"
#include "addon/warning_reporter.h"
#include "core/device_info.h"
#include "core/gpu_pipeline.h"
#include "core/offload.h"
#include "core/tensorrt_plugin.h"

namespace lotus::addon {
namespace {

Napi::Object poolStatsToJs(Napi::Env env, const PoolStats& stats) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytesInUse", static_cast<double>(stats.bytesInUse));
  out.Set("bytesCached", static_cast<double>(stats.bytesCached));
  out.Set("peakBytes", static_cast<double>(stats.peakBytes));
  out.Set("allocations", static_cast<double>(stats.allocations));
  out.Set("reuses", static_cast<double>(stats.reuses));
  out.Set("frees", static_cast<double>(stats.frees));
  return out;
}

// Moves a Run()'s collected TensorRT warnings out when it ends, however it ends.
struct KeepWarnings {
  TensorRTWarnings& scope;
  std::vector<std::string>& into;
  ~KeepWarnings() { into = scope.take(); }
};

class RunWorker : public PromiseWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<GpuPipeline> pipeline, GpuRequest request,
            std::vector<std::vector<uint8_t>> pixels, std::vector<std::vector<float>> noise,
            std::shared_ptr<std::atomic<int>> inFlight, std::shared_ptr<WarningReporter> warnings)
      : PromiseWorker(env),
        pipeline_(std::move(pipeline)),
        request_(std::move(request)),
        pixels_(std::move(pixels)),
        noise_(std::move(noise)),
        inFlight_(std::move(inFlight)),
        warnings_(std::move(warnings)) {
    inFlight_->fetch_add(1);
  }
  ~RunWorker() override { inFlight_->fetch_sub(1); }

 protected:
  void Run() override {
    TensorRTWarnings scope;  // TensorRT's warnings of this run, reported by BeforeSettle
    KeepWarnings keep{scope, messages_};
    // A closed session's pipeline is freed by its last request, here on the pool thread.
    std::shared_ptr<GpuPipeline> pipeline = std::move(pipeline_);
    for (size_t n = 0; n < pixels_.size(); ++n) {
      request_.images[n].pixels = pixels_[n].data();
      request_.images[n].byteLength = pixels_[n].size();
      if (!noise_[n].empty()) {
        request_.images[n].noise = noise_[n].data();
        request_.images[n].noiseElements = noise_[n].size();
      }
    }
    result_ = pipeline->run(request_);
  }

  void BeforeSettle(Napi::Env env) override { warnings_->report(env, messages_); }

  Napi::Value Result(Napi::Env env) override {
    Napi::Array outputs = Napi::Array::New(env, result_.outputs.size());
    for (size_t n = 0; n < result_.outputs.size(); ++n) {
      GpuOutput& output = result_.outputs[n];
      float* data = output.output.as<float>();
      ExternalResult buffer =
          makeExternalArrayBuffer(env, std::move(output.output), data, output.elements * sizeof(float));
      Napi::Object out = Napi::Object::New(env);
      out.Set("data", Napi::Float32Array::New(env, output.elements, buffer.buffer, 0));
      out.Set("width", output.width);
      out.Set("height", output.height);
      out.Set("zeroCopy", buffer.zeroCopy);
      outputs.Set(static_cast<uint32_t>(n), out);
    }
    Napi::Object timings = Napi::Object::New(env);
    timings.Set("upload", result_.timings.upload);
    timings.Set("preprocess", result_.timings.preprocess);
    timings.Set("inference", result_.timings.inference);
    timings.Set("postprocess", result_.timings.postprocess);
    timings.Set("download", result_.timings.download);
    timings.Set("total", result_.timings.total);
    Napi::Object out = Napi::Object::New(env);
    out.Set("outputs", outputs);
    out.Set("timings", timings);
    return out;
  }

 private:
  std::shared_ptr<GpuPipeline> pipeline_;
  GpuRequest request_;
  std::vector<std::vector<uint8_t>> pixels_;
  std::vector<std::vector<float>> noise_;  // per image; empty: noise from the image's seed
  std::shared_ptr<std::atomic<int>> inFlight_;
  std::shared_ptr<WarningReporter> warnings_;
  std::vector<std::string> messages_;
  GpuResult result_;
};

GpuPipelineOptions parseSessionOptions(const Napi::Value& value) {
  Napi::Object options = requireObject(value, "options");
  GpuPipelineOptions pipelineOptions;
  pipelineOptions.device = static_cast<int>(requireInteger(options.Get("device"), "device", 0, 1024));
  pipelineOptions.lanes = static_cast<int>(requireInteger(options.Get("lanes"), "lanes", 1, 64));
  pipelineOptions.cudaGraphs = requireBoolean(options.Get("cudaGraphs"), "cudaGraphs");
  pipelineOptions.task = requireTask(options.Get("task"));
  pipelineOptions.generation = requireOneOf(options.Get("mode"), "mode", {"generation", "regression"}) == "generation";
  pipelineOptions.sizeMultiple =
      static_cast<int>(requireInteger(options.Get("sizeMultiple"), "sizeMultiple", kLatentFactor, kLatentFactor));
  Napi::Value maxPool = options.Get("maxPoolBytes");
  if (!maxPool.IsUndefined()) {
    pipelineOptions.maxPoolBytes =
        static_cast<size_t>(requireInteger(maxPool, "maxPoolBytes", 0, (int64_t{1} << 53) - 1));
  }
  return pipelineOptions;
}

// Drops a pipeline reference on a libuv pool thread.
class ReleaseWorker : public PromiseWorker {
 public:
  ReleaseWorker(Napi::Env env, std::shared_ptr<GpuPipeline> pipeline) : PromiseWorker(env), pipeline_(std::move(pipeline)) {}

 protected:
  void Run() override { pipeline_.reset(); }
  Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

 private:
  std::shared_ptr<GpuPipeline> pipeline_;
};

// What OpenWorker hands to the GpuSession constructor, in a Napi::External carrying this type tag
// (so no other External reaching the constructor from JS is ever read as one).
struct OpenedPipeline {
  std::shared_ptr<GpuPipeline> pipeline;
  std::shared_ptr<WarningReporter> warnings;
  bool generation = true;
};
constexpr napi_type_tag kOpenedPipelineTag = {0x6c6f7475735f6770ull, 0x4f70656e65645069ull};

class GpuSession : public Napi::ObjectWrap<GpuSession> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GpuSession",
                       {InstanceMethod<&GpuSession::Run>("run"), InstanceMethod<&GpuSession::MemoryStats>("memoryStats"),
                        InstanceMethod<&GpuSession::Close>("close")});
  }

  // Only openGpuSession() constructs sessions: it passes the pipeline it opened off the JS thread.
  explicit GpuSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GpuSession>(info) {
    if (info.Length() != 1 || !info[0].IsExternal() ||
        !info[0].As<Napi::External<OpenedPipeline>>().CheckTypeTag(&kOpenedPipelineTag)) {
      throw toJsError(info.Env(), ArgumentError("GpuSession", "openGpuSession(plan, options): the constructor is internal"));
    }
    OpenedPipeline* opened = info[0].As<Napi::External<OpenedPipeline>>().Data();
    pipeline_ = std::move(opened->pipeline);
    warnings_ = std::move(opened->warnings);
    generation_ = opened->generation;
  }

 private:
  // Every failure, a closed session (ERR_LOTUS_DISPOSED) included, is a rejection, as binding.d.ts
  // promises: a synchronous throw would escape the TS backend's .then(fromNativeError) mapping.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    return promiseOrRejection(info.Env(), [&] { return StartRun(info); });
  }

  // run(images: {pixels, width, height, channels}[], options): one network call over the batch.
  Napi::Value StartRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (!pipeline_) throw Error(ErrorCode::Disposed, "GpuSession is closed");
      if (!info[0].IsArray()) throw ArgumentError("images", "an array of {pixels, width, height, channels}");
      Napi::Array list = info[0].As<Napi::Array>();
      if (list.Length() == 0 || list.Length() > kMaxBatch) {
        throw ArgumentError("images", "1 to " + std::to_string(kMaxBatch) + " images");
      }
      Napi::Object options = requireObject(info[1], "options");
      GpuRequest request;
      request.processingResolution =
          static_cast<int>(requireInteger(options.Get("processingResolution"), "processingResolution", 0, kMaxDimension));
      request.resample = requireResample(options.Get("resample"));
      const int64_t kMaxSeed = (int64_t{1} << 53) - 1;
      const int64_t seed = requireInteger(options.Get("seed"), "seed", 0, kMaxSeed);
      if (!options.Get("noise").IsUndefined()) throw ArgumentError("noise", "noise per image (images[n].noise)");
      std::vector<std::vector<uint8_t>> pixels;
      std::vector<std::vector<float>> noise;
      for (uint32_t n = 0; n < list.Length(); ++n) {
        const std::string where = "images[" + std::to_string(n) + "]";
        Napi::Object entry = requireObject(list.Get(n), where.c_str());
        GpuImage image;
        image.width = static_cast<int>(requireInteger(entry.Get("width"), (where + ".width").c_str(), 1, kMaxDimension));
        image.height = static_cast<int>(requireInteger(entry.Get("height"), (where + ".height").c_str(), 1, kMaxDimension));
        image.channels = static_cast<int>(requireInteger(entry.Get("channels"), (where + ".channels").c_str(), 3, 4));
        // Each image its own noise: an explicit array, else its seed (default: options.seed).
        Napi::Value imageSeed = entry.Get("seed");
        image.seed = static_cast<uint64_t>(
            imageSeed.IsUndefined() ? seed : requireInteger(imageSeed, (where + ".seed").c_str(), 0, kMaxSeed));
        Napi::Value imageNoise = entry.Get("noise");
        noise.emplace_back();
        if (!imageNoise.IsUndefined() && !imageNoise.IsNull()) {
          if (!generation_) throw ArgumentError(where + ".noise", "no noise: this is a regression model");
          noise.back() = copyFloat32Array(imageNoise, (where + ".noise").c_str());
        }
        PreprocessPlan plan = planPreprocess(image.width, image.height, image.channels, request.processingResolution);
        pixels.push_back(copyPixels(entry.Get("pixels"), plan, where + ".pixels"));
        request.images.push_back(image);
      }
      return (new RunWorker(env, pipeline_, std::move(request), std::move(pixels), std::move(noise), inFlight_,
                            warnings_))
          ->queue();
    });
  }

  Napi::Value MemoryStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (!pipeline_) throw Error(ErrorCode::Disposed, "GpuSession is closed");
      Napi::Object out = Napi::Object::New(env);
      out.Set("device", poolStatsToJs(env, pipeline_->devicePoolStats()));
      out.Set("pinned", poolStatsToJs(env, pipeline_->pinnedPoolStats()));
      out.Set("inFlight", inFlight_->load());
      return out;
    });
  }

  // New runs reject with ERR_LOTUS_DISPOSED; runs in flight finish (they hold the pipeline), and
  // the last of them frees it on its worker thread. This reference is dropped on a pool thread too:
  // the teardown (streams, contexts, engine, cudaFree) never runs on the event loop. The promise
  // settles once it is dropped. (A session that is garbage collected unclosed has its pipeline
  // destroyed through the JS thread's offloader: core/offload.h.)
  Napi::Value Close(const Napi::CallbackInfo& info) {
    return (new ReleaseWorker(info.Env(), std::move(pipeline_)))->queue();
  }

  std::shared_ptr<GpuPipeline> pipeline_;
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<WarningReporter> warnings_;
  bool generation_ = true;
};

// Deserialization (seconds for a full-size plan) and lane setup run on a pool thread; the plan's
// bytes are read in place, kept alive by a reference until the worker settles.
class OpenWorker : public PromiseWorker {
 public:
  OpenWorker(Napi::Env env, Napi::Uint8Array plan, GpuPipelineOptions options, std::shared_ptr<WarningReporter> warnings)
      : PromiseWorker(env),
        planRef_(Napi::Persistent(plan)),
        plan_(plan.Data()),
        planBytes_(plan.ByteLength()),
        options_(options) {
    opened_.warnings = std::move(warnings);
  }

 protected:
  void Run() override {
    TensorRTWarnings scope;  // deserialization's and the contexts' warnings, reported by BeforeSettle
    KeepWarnings keep{scope, messages_};
    requireUsableDevice(options_.device);
    std::shared_ptr<Engine> engine = deserializeTensorRTEngine(plan_, planBytes_, options_.device);
    // Whichever thread drops it last, its teardown never runs on the event loop (core/offload.h).
    opened_.pipeline = shareOffloaded(new GpuPipeline(std::move(engine), options_));
    opened_.generation = options_.generation;
  }

  void BeforeSettle(Napi::Env env) override { opened_.warnings->report(env, messages_); }

  Napi::Value Result(Napi::Env env) override {
    planRef_.Reset();
    const Napi::FunctionReference* constructor = env.GetInstanceData<Napi::FunctionReference>();
    Napi::External<OpenedPipeline> token = Napi::External<OpenedPipeline>::New(env, &opened_);
    token.TypeTag(&kOpenedPipelineTag);
    return constructor->New({token});
  }

 private:
  Napi::Reference<Napi::Uint8Array> planRef_;
  const uint8_t* plan_;
  size_t planBytes_;
  GpuPipelineOptions options_;
  OpenedPipeline opened_;
  std::vector<std::string> messages_;
};

Napi::Value OpenGpuSession(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return promiseOrRejection(env, [&]() -> Napi::Value {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
      throw ArgumentError("plan", "a Uint8Array (serialized TensorRT engine)");
    }
    Napi::Uint8Array plan = info[0].As<Napi::Uint8Array>();
    if (plan.ByteLength() == 0) throw ArgumentError("plan", "a non-empty serialized engine");
    GpuPipelineOptions options = parseSessionOptions(info[1]);
    Napi::Value onWarning = info[1].As<Napi::Object>().Get("onWarning");
    if (!onWarning.IsUndefined() && !onWarning.IsNull() && !onWarning.IsFunction()) {
      throw ArgumentError("onWarning", "a function");
    }
    return (new OpenWorker(env, plan, options, std::make_shared<WarningReporter>(onWarning)))->queue();
  });
}

}  // namespace

void InitGpuSession(Napi::Env env, Napi::Object exports) {
  InitJsThreadOffload(env);
  Napi::Function constructor = GpuSession::Define(env);
  env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(constructor)));
  exports.Set("GpuSession", constructor);
  exports.Set("openGpuSession", Napi::Function::New(env, OpenGpuSession, "openGpuSession"));
}

}  // namespace lotus::addon
