// CUDA kernels of the pipeline's pixel steps, over the same core/pixel_math.h functions as the host
// pipeline (bit-identical results in float32). Every launch is asynchronous on the given stream:
// no implicit synchronisation, no allocation. Callers pass device pointers sized as documented.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "core/engine.h"
#include "core/pipeline_geometry.h"

namespace lotus {

// Scratch floats the preprocess needs (the horizontal pass's [3][height][networkWidth]); 0 when the
// width is unchanged and the pixels are read directly.
size_t preprocessScratchElements(const PreprocessPlan& plan);

// pixels: device HWC RGB8/RGBA8 (plan.pixelBytes()); out: [1, 3, networkHeight, networkWidth] of
// `outType` (the engine's `image` input). Throws lotus::Error (ERR_LOTUS_CUDA) if a launch fails.
void launchPreprocess(const PreprocessPlan& plan, const uint8_t* pixels, float* scratch, void* out, DType outType,
                      cudaStream_t stream);

// prediction: device [1, 3, predictionHeight, predictionWidth] of `predictionType`; out: device float32,
// plan.outputElements() (depth H*W, or normals H*W*3: interleaved p in [0, 1]).
void launchPostprocess(const PostprocessPlan& plan, const void* prediction, DType predictionType, float* out,
                       cudaStream_t stream);

// `count` standard normal samples (px::gaussianSample) of `seed` into `out` of `outType`.
void launchGaussianNoise(uint64_t seed, void* out, DType outType, size_t count, cudaStream_t stream);

// Device scratch colorize needs (min/max reduction state), in bytes.
constexpr size_t kColorizeScratchBytes = 16;
// depth: device float32 H*W; rgb: device H*W*3; scratch: kColorizeScratchBytes of device memory.
void launchColorizeDepth(const float* depth, size_t count, bool reverse, void* scratch, uint8_t* rgb,
                         cudaStream_t stream);

}  // namespace lotus
