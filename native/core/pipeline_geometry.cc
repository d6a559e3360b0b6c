#include "core/pipeline_geometry.h"

#include <string>

#include "core/errors.h"
#include "core/pixel_math.h"

namespace lotus {

void checkDimension(const char* parameter, int64_t value, int64_t maxValue) {
  if (value < 1 || value > maxValue) {
    throw ArgumentError(parameter, "an integer in [1, " + std::to_string(maxValue) + "], got " + std::to_string(value));
  }
}

PreprocessPlan planPreprocess(int64_t width, int64_t height, int64_t channels, int64_t processingResolution) {
  checkDimension("width", width);
  checkDimension("height", height);
  if (channels != 3 && channels != 4) throw ArgumentError("channels", "3 or 4, got " + std::to_string(channels));
  if (processingResolution < 0 || processingResolution > kMaxDimension) {
    throw ArgumentError("processingResolution",
                        "an integer in [0, " + std::to_string(kMaxDimension) + "], got " +
                            std::to_string(processingResolution));
  }
  PreprocessPlan plan;
  plan.width = static_cast<int>(width);
  plan.height = static_cast<int>(height);
  plan.channels = static_cast<int>(channels);
  px::Size2 resized = px::processingSize(plan.width, plan.height, static_cast<int>(processingResolution));
  checkDimension("processingResolution: the resized width", resized.width);
  checkDimension("processingResolution: the resized height", resized.height);
  plan.networkWidth = resized.width;
  plan.networkHeight = resized.height;
  return plan;
}

void checkPixelBytes(const PreprocessPlan& plan, size_t byteLength) {
  if (byteLength != plan.pixelBytes()) {
    throw ArgumentError("pixels", "width * height * channels = " + std::to_string(plan.pixelBytes()) +
                                      " bytes, got " + std::to_string(byteLength));
  }
}

PostprocessPlan planPostprocess(Task task, Resample resample, int64_t predictionWidth, int64_t predictionHeight,
                                int64_t outputWidth, int64_t outputHeight) {
  checkDimension("shape[3]", predictionWidth);
  checkDimension("shape[2]", predictionHeight);
  checkDimension("outputWidth", outputWidth);
  checkDimension("outputHeight", outputHeight);
  PostprocessPlan plan;
  plan.task = task;
  plan.resample = resample;
  plan.predictionWidth = static_cast<int>(predictionWidth);
  plan.predictionHeight = static_cast<int>(predictionHeight);
  plan.outputWidth = static_cast<int>(outputWidth);
  plan.outputHeight = static_cast<int>(outputHeight);
  return plan;
}

}  // namespace lotus
