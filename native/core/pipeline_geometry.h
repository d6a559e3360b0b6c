// Argument checks and size planning shared by the host pipeline and the GPU pipeline: both accept
// exactly the same requests and derive the same sizes. Throws lotus::ArgumentError naming the parameter.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lotus {

constexpr int kMaxDimension = 16384;     // any width/height we accept, input or output
constexpr int kMaxSizeMultiple = 256;    // padding granularity
constexpr int kMaxPaddedDimension = kMaxDimension + kMaxSizeMultiple;
constexpr uint32_t kMaxBatch = 1024;     // images in one network call (engines: their profile's max batch)

enum class Task { Depth, Normal };
enum class Resample { Nearest, Bilinear };

struct PreprocessPlan {
  int width = 0, height = 0, channels = 0;  // input pixels
  int resizedWidth = 0, resizedHeight = 0;   // after the processing-resolution resize
  int paddedWidth = 0, paddedHeight = 0;     // network input
  size_t pixelBytes() const { return static_cast<size_t>(width) * height * channels; }
  size_t tensorElements() const { return static_cast<size_t>(3) * paddedWidth * paddedHeight; }
};

struct PostprocessPlan {
  Task task = Task::Depth;
  Resample resample = Resample::Nearest;
  int paddedWidth = 0, paddedHeight = 0;    // prediction [1, 3, paddedHeight, paddedWidth]
  int resizedWidth = 0, resizedHeight = 0;  // valid region (top-left crop)
  int outputWidth = 0, outputHeight = 0;
  size_t predictionElements() const { return static_cast<size_t>(3) * paddedWidth * paddedHeight; }
  size_t outputElements() const {
    return static_cast<size_t>(outputWidth) * outputHeight * (task == Task::Normal ? 3 : 1);
  }
};

// Validates the dimension `value` (1..maxValue) and names `parameter` when it is not.
void checkDimension(const char* parameter, int64_t value, int64_t maxValue = kMaxDimension);

PreprocessPlan planPreprocess(int64_t width, int64_t height, int64_t channels, int64_t processingResolution,
                              int64_t sizeMultiple);
// Checks the byte length of the pixel buffer against the plan.
void checkPixelBytes(const PreprocessPlan& plan, size_t byteLength);

PostprocessPlan planPostprocess(Task task, Resample resample, int64_t paddedWidth, int64_t paddedHeight,
                                int64_t resizedWidth, int64_t resizedHeight, int64_t outputWidth,
                                int64_t outputHeight);

}  // namespace lotus
