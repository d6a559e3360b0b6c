// Argument checks and size planning shared by the host pipeline and the GPU pipeline: both accept
// exactly the same requests and derive the same sizes. Throws lotus::ArgumentError naming the parameter.
// The sizes are pipeline.py's: resize to the processing resolution (no padding), the network's
// prediction is predictionSize() of that, and it is resized back to the input size.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lotus {

constexpr int kMaxDimension = 16384;  // any width/height we accept, input, network or output
constexpr int kLatentFactor = 8;      // the SD VAE's downscale factor (lotus.size_multiple)
constexpr uint32_t kMaxBatch = 1024;  // images in one network call (engines: their profile's max batch)

enum class Task { Depth, Normal };
enum class Resample { Nearest, Bilinear };

struct PreprocessPlan {
  int width = 0, height = 0, channels = 0;  // input pixels
  int networkWidth = 0, networkHeight = 0;  // after the processing-resolution resize: the network input
  size_t pixelBytes() const { return static_cast<size_t>(width) * height * channels; }
  size_t tensorElements() const { return static_cast<size_t>(3) * networkWidth * networkHeight; }
};

struct PostprocessPlan {
  Task task = Task::Depth;
  Resample resample = Resample::Nearest;
  int predictionWidth = 0, predictionHeight = 0;  // prediction [1, 3, predictionHeight, predictionWidth]
  int outputWidth = 0, outputHeight = 0;          // the input image's size
  size_t predictionElements() const { return static_cast<size_t>(3) * predictionWidth * predictionHeight; }
  size_t outputElements() const {
    return static_cast<size_t>(outputWidth) * outputHeight * (task == Task::Normal ? 3 : 1);
  }
};

// Validates the dimension `value` (1..maxValue) and names `parameter` when it is not.
void checkDimension(const char* parameter, int64_t value, int64_t maxValue = kMaxDimension);

PreprocessPlan planPreprocess(int64_t width, int64_t height, int64_t channels, int64_t processingResolution);
// Checks the byte length of the pixel buffer against the plan.
void checkPixelBytes(const PreprocessPlan& plan, size_t byteLength);

PostprocessPlan planPostprocess(Task task, Resample resample, int64_t predictionWidth, int64_t predictionHeight,
                                int64_t outputWidth, int64_t outputHeight);

}  // namespace lotus
