// The host model of one GpuPipeline::run over the test engine (test_engine.h): what the GPU request
// path must return, bit for bit, for a request, built only from the host pipeline
// (core/host_pipeline.h) and the engine's host reference.
#pragma once
#include <cstdint>
#include <vector>

#include "core/engine.h"
#include "core/gpu_pipeline.h"

namespace lotus::testing {

struct TestImage {
  std::vector<uint8_t> pixels;
  int width = 0, height = 0, channels = 3;
  GpuImage view() const { return GpuImage{pixels.data(), pixels.size(), width, height, channels}; }
};

// Deterministic random pixels.
TestImage randomImage(int width, int height, int channels, uint32_t seed);

// Per image of the request: hostPreprocess -> rounded to the engine's dtype -> with the noise
// (explicit, or the seed's hostGaussianNoise, rounded likewise) through testEngineReference ->
// hostPostprocess at the request's resample. Each image is predicted as if alone, as GpuPipeline
// promises for batches.
std::vector<std::vector<float>> expectedOutputs(const GpuRequest& request, Task task, bool generation, DType dtype);

// Elements of `actual` that differ from `expected` (NaN equals NaN; a size difference counts every element).
size_t countMismatches(const std::vector<float>& expected, const GpuOutput& actual);

}  // namespace lotus::testing
