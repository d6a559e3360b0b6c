// preprocess / postprocess / colorizeDepth / gaussianNoise: the host pixel math for the CPU backend.
// preprocess and postprocess run on the libuv pool (Napi::AsyncWorker); arguments are checked and
// copied on the JS thread so the worker never touches JS memory.
#include <memory>
#include <utility>
#include <vector>

#include "addon/arg_parse.h"
#include "addon/bindings.h"
#include "addon/external_buffer.h"
#include "addon/js_errors.h"
#include "addon/promise_worker.h"
#include "core/host_pipeline.h"
#include "core/pipeline_geometry.h"

namespace lotus::addon {
namespace {

class PreprocessWorker : public PromiseWorker {
 public:
  PreprocessWorker(Napi::Env env, PreprocessPlan plan, std::vector<uint8_t> pixels)
      : PromiseWorker(env), plan_(plan), pixels_(std::move(pixels)) {}

 protected:
  void Run() override { tensor_ = hostPreprocess(plan_, pixels_.data(), pixels_.size()); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object result = Napi::Object::New(env);
    result.Set("tensor", floatVectorToJs(env, std::move(tensor_)));
    Napi::Array shape = Napi::Array::New(env, 4);
    shape.Set(0u, 1);
    shape.Set(1u, 3);
    shape.Set(2u, plan_.networkHeight);
    shape.Set(3u, plan_.networkWidth);
    result.Set("shape", shape);
    return result;
  }

 private:
  PreprocessPlan plan_;
  std::vector<uint8_t> pixels_;
  std::vector<float> tensor_;
};

class PostprocessWorker : public PromiseWorker {
 public:
  PostprocessWorker(Napi::Env env, PostprocessPlan plan, std::vector<float> prediction)
      : PromiseWorker(env), plan_(plan), prediction_(std::move(prediction)) {}

 protected:
  void Run() override { output_ = hostPostprocess(plan_, prediction_.data(), prediction_.size()); }
  Napi::Value Result(Napi::Env env) override { return floatVectorToJs(env, std::move(output_)); }

 private:
  PostprocessPlan plan_;
  std::vector<float> prediction_;
  std::vector<float> output_;
};

Napi::Value Preprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    int64_t width = requireInteger(info[1], "width", 1, kMaxDimension);
    int64_t height = requireInteger(info[2], "height", 1, kMaxDimension);
    int64_t channels = requireInteger(info[3], "channels", 3, 4);
    Napi::Object options = requireObject(info[4], "options");
    int64_t resolution = requireInteger(options.Get("processingResolution"), "processingResolution", 0, kMaxDimension);
    PreprocessPlan plan = planPreprocess(width, height, channels, resolution);
    return (new PreprocessWorker(env, plan, copyPixels(info[0], plan)))->queue();
  });
}

Napi::Value Postprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Napi::Float32Array prediction = requireFloat32Array(info[0], "prediction");
    if (!info[1].IsArray() || info[1].As<Napi::Array>().Length() != 4) {
      throw ArgumentError("shape", "[1, 3, height, width]");
    }
    Napi::Array shape = info[1].As<Napi::Array>();
    requireInteger(shape.Get(0u), "shape[0]", 1, 1);
    requireInteger(shape.Get(1u), "shape[1]", 3, 3);
    int64_t predictionHeight = requireInteger(shape.Get(2u), "shape[2]", 1, kMaxDimension);
    int64_t predictionWidth = requireInteger(shape.Get(3u), "shape[3]", 1, kMaxDimension);
    Napi::Object options = requireObject(info[2], "options");
    Task task = requireTask(options.Get("task"));
    Resample resample = requireResample(options.Get("resample"));
    int64_t outputWidth = requireInteger(options.Get("outputWidth"), "outputWidth", 1, kMaxDimension);
    int64_t outputHeight = requireInteger(options.Get("outputHeight"), "outputHeight", 1, kMaxDimension);
    PostprocessPlan plan = planPostprocess(task, resample, predictionWidth, predictionHeight, outputWidth, outputHeight);
    if (prediction.ElementLength() != plan.predictionElements()) {
      throw ArgumentError("prediction", "3 * shape[2] * shape[3] = " + std::to_string(plan.predictionElements()) +
                                            " elements, got " + std::to_string(prediction.ElementLength()));
    }
    return (new PostprocessWorker(env, plan, copyFloat32Array(prediction, "prediction")))->queue();
  });
}

Napi::Value ColorizeDepth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    Napi::Float32Array depth = requireFloat32Array(info[0], "depth");
    int64_t width = requireInteger(info[1], "width", 1, kMaxDimension);
    int64_t height = requireInteger(info[2], "height", 1, kMaxDimension);
    bool reverse = requireBoolean(info[3], "reverse");
    // Synchronous: one pass over H*W floats, cheaper than a thread hop.
    return byteVectorToJs(env, hostColorizeDepth(depth.Data(), depth.ElementLength(), width, height, reverse));
  });
}

Napi::Value GaussianNoise(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    // Seeds are JS integers: 0 .. 2^53 - 1 map to the 64-bit Philox key.
    uint64_t seed = static_cast<uint64_t>(requireInteger(info[0], "seed", 0, (int64_t{1} << 53) - 1));
    // Synchronous on the JS thread: at most the noise of one image at the largest network input
    // (about 17 M values, under a second), not the core's 2^30 that blocked for most of a minute.
    constexpr int64_t kMaxSide = kMaxDimension / kLatentFactor;
    constexpr int64_t kMaxJsNoise = 4 * kMaxSide * kMaxSide;
    static_assert(kMaxJsNoise <= static_cast<int64_t>(kMaxNoiseElements), "within the core's limit");
    int64_t count = requireInteger(info[1], "count", 0, kMaxJsNoise);
    std::vector<float> samples(static_cast<size_t>(count));
    hostGaussianNoise(seed, samples.data(), samples.size());
    return floatVectorToJs(env, std::move(samples));
  });
}

}  // namespace

void InitHostPipeline(Napi::Env env, Napi::Object exports) {
  exports.Set("preprocess", Napi::Function::New(env, Preprocess, "preprocess"));
  exports.Set("postprocess", Napi::Function::New(env, Postprocess, "postprocess"));
  exports.Set("colorizeDepth", Napi::Function::New(env, ColorizeDepth, "colorizeDepth"));
  exports.Set("gaussianNoise", Napi::Function::New(env, GaussianNoise, "gaussianNoise"));
}

}  // namespace lotus::addon
