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

PreprocessPlan planPreprocess(int64_t width, int64_t height, int64_t channels, int64_t processingResolution,
                              int64_t sizeMultiple) {
  checkDimension("width", width);
  checkDimension("height", height);
  if (channels != 3 && channels != 4) throw ArgumentError("channels", "3 or 4, got " + std::to_string(channels));
  if (processingResolution < 0 || processingResolution > kMaxDimension) {
    throw ArgumentError("processingResolution",
                        "an integer in [0, " + std::to_string(kMaxDimension) + "], got " +
                            std::to_string(processingResolution));
  }
  checkDimension("sizeMultiple", sizeMultiple, kMaxSizeMultiple);
  PreprocessPlan plan;
  plan.width = static_cast<int>(width);
  plan.height = static_cast<int>(height);
  plan.channels = static_cast<int>(channels);
  px::Size2 resized = px::processingSize(plan.width, plan.height, static_cast<int>(processingResolution));
  plan.resizedWidth = resized.width;
  plan.resizedHeight = resized.height;
  plan.paddedWidth = px::paddedSize(resized.width, static_cast<int>(sizeMultiple));
  plan.paddedHeight = px::paddedSize(resized.height, static_cast<int>(sizeMultiple));
  return plan;
}

void checkPixelBytes(const PreprocessPlan& plan, size_t byteLength) {
  if (byteLength != plan.pixelBytes()) {
    throw ArgumentError("pixels", "width * height * channels = " + std::to_string(plan.pixelBytes()) +
                                      " bytes, got " + std::to_string(byteLength));
  }
}

PostprocessPlan planPostprocess(Task task, Resample resample, int64_t paddedWidth, int64_t paddedHeight,
                                int64_t resizedWidth, int64_t resizedHeight, int64_t outputWidth,
                                int64_t outputHeight) {
  checkDimension("shape[3]", paddedWidth, kMaxPaddedDimension);
  checkDimension("shape[2]", paddedHeight, kMaxPaddedDimension);
  checkDimension("resizedWidth", resizedWidth, paddedWidth);
  checkDimension("resizedHeight", resizedHeight, paddedHeight);
  checkDimension("outputWidth", outputWidth);
  checkDimension("outputHeight", outputHeight);
  PostprocessPlan plan;
  plan.task = task;
  plan.resample = resample;
  plan.paddedWidth = static_cast<int>(paddedWidth);
  plan.paddedHeight = static_cast<int>(paddedHeight);
  plan.resizedWidth = static_cast<int>(resizedWidth);
  plan.resizedHeight = static_cast<int>(resizedHeight);
  plan.outputWidth = static_cast<int>(outputWidth);
  plan.outputHeight = static_cast<int>(outputHeight);
  return plan;
}

}  // namespace lotus
