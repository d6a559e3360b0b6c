// GpuSession: a deserialized TensorRT engine + GpuPipeline, driven from JS. run() executes on the
// libuv pool (it may wait for a free lane there, never on the event loop). Results are the pinned
// pool buffer itself (external ArrayBuffer, returned to the pool by its finalizer) where allowed.
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "addon/arg_parse.h"
#include "addon/bindings.h"
#include "addon/external_buffer.h"
#include "addon/js_errors.h"
#include "core/device_info.h"
#include "core/gpu_pipeline.h"
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

class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, std::shared_ptr<GpuPipeline> pipeline, GpuRequest request, std::vector<uint8_t> pixels,
            std::vector<float> noise, std::shared_ptr<std::atomic<int>> inFlight)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        pipeline_(std::move(pipeline)),
        request_(request),
        pixels_(std::move(pixels)),
        noise_(std::move(noise)),
        inFlight_(std::move(inFlight)) {
    inFlight_->fetch_add(1);
  }
  ~RunWorker() override { inFlight_->fetch_sub(1); }
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      request_.pixels = pixels_.data();
      request_.byteLength = pixels_.size();
      if (!noise_.empty()) {
        request_.noise = noise_.data();
        request_.noiseElements = noise_.size();
      }
      result_ = pipeline_->run(request_);
    } catch (const ArgumentError& error) {
      argumentError_ = std::make_unique<ArgumentError>(error);
      SetError(error.what());
    } catch (const Error& error) {
      error_ = std::make_unique<Error>(error);
      SetError(error.what());
    } catch (const std::exception& error) {
      SetError(error.what());
    }
    pipeline_.reset();  // a closed session's pipeline is freed by its last request, on this thread
  }
  void OnOK() override {
    // A JS exception here (e.g. out of JS heap) would otherwise leave the promise pending forever.
    try {
      Resolve();
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }
  void Resolve() {
    Napi::Env env = Env();
    float* data = result_.output.as<float>();
    size_t elements = result_.elements;
    ExternalResult buffer = makeExternalArrayBuffer(env, std::move(result_.output), data, elements * sizeof(float));
    Napi::Object out = Napi::Object::New(env);
    out.Set("data", Napi::Float32Array::New(env, elements, buffer.buffer, 0));
    out.Set("width", result_.width);
    out.Set("height", result_.height);
    out.Set("zeroCopy", buffer.zeroCopy);
    Napi::Object timings = Napi::Object::New(env);
    timings.Set("upload", result_.timings.upload);
    timings.Set("preprocess", result_.timings.preprocess);
    timings.Set("inference", result_.timings.inference);
    timings.Set("postprocess", result_.timings.postprocess);
    timings.Set("download", result_.timings.download);
    timings.Set("total", result_.timings.total);
    out.Set("timings", timings);
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& error) override {
    Napi::Env env = Env();
    if (argumentError_) {
      deferred_.Reject(toJsError(env, *argumentError_).Value());
    } else if (error_) {
      deferred_.Reject(toJsError(env, *error_).Value());
    } else {
      deferred_.Reject(error.Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<GpuPipeline> pipeline_;
  GpuRequest request_;
  std::vector<uint8_t> pixels_;
  std::vector<float> noise_;
  std::shared_ptr<std::atomic<int>> inFlight_;
  GpuResult result_;
  std::unique_ptr<Error> error_;
  std::unique_ptr<ArgumentError> argumentError_;
};

class GpuSession : public Napi::ObjectWrap<GpuSession> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "GpuSession",
                       {InstanceMethod<&GpuSession::Run>("run"), InstanceMethod<&GpuSession::MemoryStats>("memoryStats"),
                        InstanceMethod<&GpuSession::Close>("close")});
  }

  explicit GpuSession(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GpuSession>(info) {
    guard(info.Env(), [&] {
      if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw ArgumentError("plan", "a Uint8Array (serialized TensorRT engine)");
      }
      Napi::Uint8Array plan = info[0].As<Napi::Uint8Array>();
      Napi::Object options = requireObject(info[1], "options");
      GpuPipelineOptions pipelineOptions;
      pipelineOptions.device = static_cast<int>(requireInteger(options.Get("device"), "device", 0, 1024));
      pipelineOptions.lanes = static_cast<int>(requireInteger(options.Get("lanes"), "lanes", 1, 64));
      pipelineOptions.cudaGraphs = requireBoolean(options.Get("cudaGraphs"), "cudaGraphs");
      pipelineOptions.task = requireOneOf(options.Get("task"), "task", {"depth", "normal"}) == "depth" ? Task::Depth
                                                                                                     : Task::Normal;
      pipelineOptions.generation =
          requireOneOf(options.Get("mode"), "mode", {"generation", "regression"}) == "generation";
      pipelineOptions.sizeMultiple =
          static_cast<int>(requireInteger(options.Get("sizeMultiple"), "sizeMultiple", 8, kMaxSizeMultiple));
      Napi::Value maxPool = options.Get("maxPoolBytes");
      if (!maxPool.IsUndefined()) {
        pipelineOptions.maxPoolBytes =
            static_cast<size_t>(requireInteger(maxPool, "maxPoolBytes", 0, (int64_t{1} << 53) - 1));
      }
      requireUsableDevice(pipelineOptions.device);
      // Deserialization runs here, synchronously (seconds for large plans): the TS layer constructs
      // sessions once per estimator, off the per-request path.
      std::shared_ptr<Engine> engine = deserializeTensorRTEngine(plan.Data(), plan.ByteLength(), pipelineOptions.device);
      pipeline_ = std::make_shared<GpuPipeline>(std::move(engine), pipelineOptions);
      generation_ = pipelineOptions.generation;
    });
  }

 private:
  // Every failure, a closed session (ERR_LOTUS_DISPOSED) included, is a rejection, as binding.d.ts
  // promises: a synchronous throw would escape the TS backend's .then(fromNativeError) mapping.
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      return StartRun(info);
    } catch (const Napi::Error& error) {
      return rejected(env, error.Value());
    } catch (const std::exception& error) {
      return rejected(env, toJsError(env, error).Value());
    }
  }

  static Napi::Value rejected(Napi::Env env, Napi::Value error) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(error);
    return deferred.Promise();
  }

  Napi::Value StartRun(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (!pipeline_) throw Error(ErrorCode::Disposed, "GpuSession is closed");
      GpuRequest request;
      request.width = static_cast<int>(requireInteger(info[1], "width", 1, kMaxDimension));
      request.height = static_cast<int>(requireInteger(info[2], "height", 1, kMaxDimension));
      request.channels = static_cast<int>(requireInteger(info[3], "channels", 3, 4));
      Napi::Object options = requireObject(info[4], "options");
      request.processingResolution =
          static_cast<int>(requireInteger(options.Get("processingResolution"), "processingResolution", 0, kMaxDimension));
      request.resample = requireOneOf(options.Get("resample"), "resample", {"nearest", "bilinear"}) == "nearest"
                             ? Resample::Nearest
                             : Resample::Bilinear;
      request.seed = static_cast<uint64_t>(requireInteger(options.Get("seed"), "seed", 0, (int64_t{1} << 53) - 1));
      std::vector<float> noise;
      Napi::Value noiseValue = options.Get("noise");
      if (!noiseValue.IsUndefined() && !noiseValue.IsNull()) {
        if (!generation_) throw ArgumentError("noise", "no noise: this is a regression model");
        noise = copyFloat32Array(noiseValue, "noise");
      }
      PreprocessPlan plan = planPreprocess(request.width, request.height, request.channels,
                                           request.processingResolution, 8);
      auto* worker = new RunWorker(env, pipeline_, request, copyPixels(info[0], plan), std::move(noise),
                                   inFlight_);
      Napi::Promise promise = worker->promise();
      worker->Queue();
      return promise;
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
  // the last of them frees it on its worker thread. Never blocks the event loop.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    pipeline_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<GpuPipeline> pipeline_;
  std::shared_ptr<std::atomic<int>> inFlight_ = std::make_shared<std::atomic<int>>(0);
  bool generation_ = true;
};

}  // namespace

void InitGpuSession(Napi::Env env, Napi::Object exports) { exports.Set("GpuSession", GpuSession::Define(env)); }

}  // namespace lotus::addon
