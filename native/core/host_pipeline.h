// Host (CPU) implementation of the reference pipeline's pixel steps, over core/pixel_math.h.
// The CPU backend uses it through the addon; the kernel tests use it as the GPU's reference.
// Every function validates its arguments and throws lotus::ArgumentError naming the bad one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/pipeline_geometry.h"

namespace lotus {

// RGB8/RGBA8 HWC -> [1, 3, networkHeight, networkWidth] float32 in [-1, 1] (alpha ignored):
// normalise, then antialiased bilinear resize (horizontal pass, then vertical, as torch).
std::vector<float> hostPreprocess(const PreprocessPlan& plan, const uint8_t* pixels, size_t byteLength);

// [1, 3, predictionHeight, predictionWidth] -> clamp(y / 2 + 0.5), resize to the output size
// (nearest: torch NEAREST_EXACT; bilinear: antialiased, as torchvision), then depth (H*W channel
// mean) or normals (H*W*3 interleaved p in [0, 1], the values infer.py saves).
std::vector<float> hostPostprocess(const PostprocessPlan& plan, const float* prediction, size_t elements);

// Depth H*W -> RGB8 H*W*3 through matplotlib's Spectral table, min-max normalised (reversed for
// disparity). Non-finite min/max or a constant map give NaN, drawn black as matplotlib does.
std::vector<uint8_t> hostColorizeDepth(const float* depth, size_t elements, int64_t width, int64_t height,
                                       bool reverse);

// `count` standard normal samples of the stream keyed by `seed` (px::gaussianSample).
constexpr size_t kMaxNoiseElements = size_t{1} << 30;
void hostGaussianNoise(uint64_t seed, float* out, size_t count);

}  // namespace lotus
