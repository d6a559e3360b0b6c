#include "tests/pipeline_reference.h"

#include <cuda_fp16.h>

#include <cmath>
#include <random>

#include "core/host_pipeline.h"
#include "core/pixel_math.h"
#include "tests/test_engine.h"

namespace lotus::testing {
namespace {

void roundTo(DType dtype, std::vector<float>& values) {
  if (dtype != DType::Float16) return;
  for (float& v : values) v = __half2float(__float2half_rn(v));
}

}  // namespace

TestImage randomImage(int width, int height, int channels, uint32_t seed) {
  TestImage image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.resize(static_cast<size_t>(width) * height * channels);
  std::mt19937 rng(seed);
  for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(rng() >> 24);
  return image;
}

std::vector<std::vector<float>> expectedOutputs(const GpuRequest& request, Task task, bool generation, DType dtype) {
  std::vector<std::vector<float>> outputs;
  for (const GpuImage& image : request.images) {
    PreprocessPlan plan = planPreprocess(image.width, image.height, image.channels, request.processingResolution);
    std::vector<float> input = hostPreprocess(plan, image.pixels, image.byteLength);
    roundTo(dtype, input);
    std::vector<float> noise;
    if (generation) {
      noise.resize(static_cast<size_t>(4) * (plan.networkHeight / kLatentFactor) * (plan.networkWidth / kLatentFactor));
      if (image.noise != nullptr) {  // each image's own noise, as the pipeline takes it
        noise.assign(image.noise, image.noise + noise.size());
      } else {
        hostGaussianNoise(image.seed, noise.data(), noise.size());
      }
      roundTo(dtype, noise);
    }
    std::vector<float> prediction =
        testEngineReference(input.data(), noise.data(), 1, plan.networkHeight, plan.networkWidth, generation, dtype);
    PostprocessPlan post = planPostprocess(task, request.resample, px::predictionSize(plan.networkWidth, kLatentFactor),
                                           px::predictionSize(plan.networkHeight, kLatentFactor), plan.width,
                                           plan.height);
    outputs.push_back(hostPostprocess(post, prediction.data(), prediction.size()));
  }
  return outputs;
}

size_t countMismatches(const std::vector<float>& expected, const GpuOutput& actual) {
  if (actual.elements != expected.size() || !actual.output) return expected.size() > 0 ? expected.size() : 1;
  const float* values = actual.output.as<float>();
  size_t mismatches = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::isnan(expected[i]) && std::isnan(values[i])) continue;
    mismatches += expected[i] != values[i];
  }
  return mismatches;
}

}  // namespace lotus::testing
