#include "core/pixel_kernels.h"

#include <cuda_fp16.h>

#include "core/cuda_check.h"
#include "core/pixel_math.h"

namespace lotus {
namespace {

constexpr int kBlock = 256;

unsigned int blocksFor(size_t count) { return static_cast<unsigned int>((count + kBlock - 1) / kBlock); }

template <typename T>
__device__ __forceinline__ void storeValue(T* out, size_t index, float value);
template <>
__device__ __forceinline__ void storeValue<float>(float* out, size_t index, float value) {
  out[index] = value;
}
template <>
__device__ __forceinline__ void storeValue<__half>(__half* out, size_t index, float value) {
  out[index] = __float2half_rn(value);
}

__device__ __forceinline__ float loadValue(const float* in, size_t index) { return in[index]; }
__device__ __forceinline__ float loadValue(const __half* in, size_t index) { return __half2float(in[index]); }

// torch's tap accumulation: out = x0 * w0, then out += xj * wj in tap order.
template <typename Load>
__device__ __forceinline__ float resampleAa(const px::AaAxis& axis, int64_t i, Load load) {
  px::AaTaps taps = px::aaTaps(axis, i);
  float out = px::mul(load(taps.xmin), px::aaWeight(axis, taps, 0));
  for (int64_t j = 1; j < taps.xsize; ++j) out = px::add(out, px::mul(load(taps.xmin + j), px::aaWeight(axis, taps, j)));
  return out;
}

// Horizontal pass: [3][height][networkWidth], one thread per (x, y), all three channels.
__global__ void horizontalAaKernel(const uint8_t* pixels, int width, int height, int channels, int outWidth,
                                   float* scratch) {
  size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= static_cast<size_t>(outWidth) * height) return;
  int x = static_cast<int>(index % outWidth);
  int y = static_cast<int>(index / outWidth);
  px::AaAxis axis = px::aaAxis(width, outWidth);
  const uint8_t* row = pixels + static_cast<size_t>(y) * width * channels;
  for (int c = 0; c < 3; ++c) {
    float value = resampleAa(axis, x, [&](int64_t s) { return px::normalizePixel(row[s * channels + c]); });
    scratch[(static_cast<size_t>(c) * height + y) * outWidth + x] = value;
  }
}

// Vertical pass + conversion, one thread per network input pixel (x, y). Rows come from the
// horizontal scratch, or straight from the pixels when the width did not change.
template <typename T>
__global__ void verticalKernel(const uint8_t* pixels, const float* scratch, PreprocessPlan plan, T* out) {
  size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  size_t plane = static_cast<size_t>(plan.networkWidth) * plan.networkHeight;
  if (index >= plane) return;
  int x = static_cast<int>(index % plan.networkWidth);
  int y = static_cast<int>(index / plan.networkWidth);
  const bool fromScratch = scratch != nullptr;
  const int rowWidth = plan.networkWidth;  // equals plan.width when reading pixels
  for (int c = 0; c < 3; ++c) {
    auto load = [&](int64_t row) {
      return fromScratch ? scratch[(static_cast<size_t>(c) * plan.height + row) * rowWidth + x]
                         : px::normalizePixel(pixels[(static_cast<size_t>(row) * plan.width + x) * plan.channels + c]);
    };
    float value;
    if (plan.networkHeight == plan.height) {
      value = load(y);
    } else {
      value = resampleAa(px::aaAxis(plan.height, plan.networkHeight), y, load);
    }
    storeValue(out, c * plane + index, value);
  }
}

// One output pixel from the prediction resized to the input size. Nearest: torch NEAREST_EXACT.
// Bilinear: the antialiased separable resize, each vertical tap's row value computed exactly as the
// host's horizontal pass computes it (same taps, same order), so the results are bit-identical.
template <typename In>
__global__ void postprocessKernel(const In* prediction, PostprocessPlan plan, float* out) {
  size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= static_cast<size_t>(plan.outputWidth) * plan.outputHeight) return;
  int x = static_cast<int>(index % plan.outputWidth);
  int y = static_cast<int>(index / plan.outputWidth);
  const size_t plane = static_cast<size_t>(plan.predictionWidth) * plan.predictionHeight;
  auto unit = [&](int c, int64_t sy, int64_t sx) {
    return px::toUnit(loadValue(prediction, c * plane + static_cast<size_t>(sy) * plan.predictionWidth + sx));
  };
  float p[3];
  if (plan.resample == Resample::Bilinear) {
    const bool resizeX = plan.outputWidth != plan.predictionWidth;
    const bool resizeY = plan.outputHeight != plan.predictionHeight;
    px::AaAxis axisX = px::aaAxis(plan.predictionWidth, plan.outputWidth);
    px::AaAxis axisY = px::aaAxis(plan.predictionHeight, plan.outputHeight);
    for (int c = 0; c < 3; ++c) {
      auto row = [&](int64_t sy) {
        return resizeX ? resampleAa(axisX, x, [&](int64_t sx) { return unit(c, sy, sx); }) : unit(c, sy, x);
      };
      p[c] = resizeY ? resampleAa(axisY, y, row) : row(y);
    }
  } else {
    int sy = px::nearestExactIndex(y, plan.predictionHeight, plan.outputHeight);
    int sx = px::nearestExactIndex(x, plan.predictionWidth, plan.outputWidth);
    for (int c = 0; c < 3; ++c) p[c] = unit(c, sy, sx);
  }
  px::storePrediction(plan.task == Task::Normal, p[0], p[1], p[2], out, index);
}

template <typename T>
__global__ void gaussianNoiseKernel(uint64_t seed, T* out, size_t count) {
  size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  storeValue(out, index, px::gaussianSample(seed, index));
}

// Order-preserving float <-> uint32 mapping, so atomicMin/atomicMax on unsigned ints give float min/max.
__device__ __forceinline__ unsigned int orderedBits(float value) {
  unsigned int bits = __float_as_uint(value);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}
__device__ __forceinline__ float fromOrderedBits(unsigned int bits) {
  return __uint_as_float((bits & 0x80000000u) ? (bits & 0x7FFFFFFFu) : ~bits);
}

struct MinMaxState {
  unsigned int minBits;
  unsigned int maxBits;
  unsigned int sawNan;
  unsigned int unused;
};
static_assert(sizeof(MinMaxState) <= kColorizeScratchBytes, "colorize scratch too small");

__global__ void resetMinMaxKernel(MinMaxState* state) { *state = MinMaxState{0xFFFFFFFFu, 0u, 0u, 0u}; }

__global__ void minMaxKernel(const float* depth, size_t count, MinMaxState* state) {
  __shared__ unsigned int blockMin, blockMax, blockNan;
  if (threadIdx.x == 0) {
    blockMin = 0xFFFFFFFFu;
    blockMax = 0u;
    blockNan = 0u;
  }
  __syncthreads();
  unsigned int localMin = 0xFFFFFFFFu, localMax = 0u, localNan = 0u;
  for (size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    float d = depth[i];
    if (d != d) {
      localNan = 1u;
      continue;
    }
    unsigned int bits = orderedBits(d);
    localMin = bits < localMin ? bits : localMin;
    localMax = bits > localMax ? bits : localMax;
  }
  atomicMin(&blockMin, localMin);
  atomicMax(&blockMax, localMax);
  if (localNan) atomicOr(&blockNan, 1u);
  __syncthreads();
  if (threadIdx.x == 0) {
    atomicMin(&state->minBits, blockMin);
    atomicMax(&state->maxBits, blockMax);
    if (blockNan) atomicOr(&state->sawNan, 1u);
  }
}

__global__ void colorizeKernel(const float* depth, size_t count, bool reverse, const MinMaxState* state, uint8_t* rgb) {
  size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= count) return;
  float lo = state->sawNan ? __uint_as_float(0x7FC00000u) : fromOrderedBits(state->minBits);
  float hi = state->sawNan ? lo : fromOrderedBits(state->maxBits);
  int i = px::colormapIndex(depth[index], lo, px::sub(hi, lo), reverse);
  px::colormapRgb(i, rgb + index * 3);
}

void checkLaunch() { LOTUS_CUDA_CHECK(cudaGetLastError()); }

}  // namespace

size_t preprocessScratchElements(const PreprocessPlan& plan) {
  return plan.networkWidth == plan.width ? 0 : static_cast<size_t>(3) * plan.height * plan.networkWidth;
}

void launchPreprocess(const PreprocessPlan& plan, const uint8_t* pixels, float* scratch, void* out, DType outType,
                      cudaStream_t stream) {
  const float* rows = nullptr;
  if (plan.networkWidth != plan.width) {
    size_t count = static_cast<size_t>(plan.networkWidth) * plan.height;
    horizontalAaKernel<<<blocksFor(count), kBlock, 0, stream>>>(pixels, plan.width, plan.height, plan.channels,
                                                                plan.networkWidth, scratch);
    checkLaunch();
    rows = scratch;
  }
  size_t plane = static_cast<size_t>(plan.networkWidth) * plan.networkHeight;
  if (outType == DType::Float16) {
    verticalKernel<<<blocksFor(plane), kBlock, 0, stream>>>(pixels, rows, plan, static_cast<__half*>(out));
  } else {
    verticalKernel<<<blocksFor(plane), kBlock, 0, stream>>>(pixels, rows, plan, static_cast<float*>(out));
  }
  checkLaunch();
}

void launchPostprocess(const PostprocessPlan& plan, const void* prediction, DType predictionType, float* out,
                       cudaStream_t stream) {
  size_t count = static_cast<size_t>(plan.outputWidth) * plan.outputHeight;
  if (predictionType == DType::Float16) {
    postprocessKernel<<<blocksFor(count), kBlock, 0, stream>>>(static_cast<const __half*>(prediction), plan, out);
  } else {
    postprocessKernel<<<blocksFor(count), kBlock, 0, stream>>>(static_cast<const float*>(prediction), plan, out);
  }
  checkLaunch();
}

void launchGaussianNoise(uint64_t seed, void* out, DType outType, size_t count, cudaStream_t stream) {
  if (count == 0) return;
  if (outType == DType::Float16) {
    gaussianNoiseKernel<<<blocksFor(count), kBlock, 0, stream>>>(seed, static_cast<__half*>(out), count);
  } else {
    gaussianNoiseKernel<<<blocksFor(count), kBlock, 0, stream>>>(seed, static_cast<float*>(out), count);
  }
  checkLaunch();
}

void launchColorizeDepth(const float* depth, size_t count, bool reverse, void* scratch, uint8_t* rgb,
                         cudaStream_t stream) {
  if (count == 0) return;
  auto* state = static_cast<MinMaxState*>(scratch);
  // Reset by a kernel, not a pageable memcpy (which may synchronise the stream).
  resetMinMaxKernel<<<1, 1, 0, stream>>>(state);
  checkLaunch();
  unsigned int reduceBlocks = blocksFor(count) < 1024u ? blocksFor(count) : 1024u;
  minMaxKernel<<<reduceBlocks, kBlock, 0, stream>>>(depth, count, state);
  checkLaunch();
  colorizeKernel<<<blocksFor(count), kBlock, 0, stream>>>(depth, count, reverse, state, rgb);
  checkLaunch();
}

}  // namespace lotus
