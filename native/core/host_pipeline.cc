#include "core/host_pipeline.h"

#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/pixel_math.h"

namespace lotus {
namespace {

// One axis of the antialiased resize with its taps precomputed (identical values to computing
// them per pixel, as the kernels do: the weight functions are deterministic).
struct AaTable {
  std::vector<int64_t> xmin, xsize;
  std::vector<float> weights;  // out * maxTaps
  int64_t maxTaps = 0;
};

AaTable buildAaTable(int inSize, int outSize) {
  px::AaAxis axis = px::aaAxis(inSize, outSize);
  AaTable table;
  table.maxTaps = axis.maxTaps;
  table.xmin.resize(outSize);
  table.xsize.resize(outSize);
  table.weights.assign(static_cast<size_t>(outSize) * axis.maxTaps, 0.0f);
  for (int i = 0; i < outSize; ++i) {
    px::AaTaps taps = px::aaTaps(axis, i);
    table.xmin[i] = taps.xmin;
    table.xsize[i] = taps.xsize;
    for (int64_t j = 0; j < taps.xsize; ++j) table.weights[i * axis.maxTaps + j] = px::aaWeight(axis, taps, j);
  }
  return table;
}

// torch's accumulation: out = x0 * w0; out += xj * wj (float, in tap order).
template <typename Load>
float applyTaps(const AaTable& table, int i, Load load) {
  const float* w = &table.weights[static_cast<size_t>(i) * table.maxTaps];
  int64_t xmin = table.xmin[i];
  float out = px::mul(load(xmin), w[0]);
  for (int64_t j = 1; j < table.xsize[i]; ++j) out = px::add(out, px::mul(load(xmin + j), w[j]));
  return out;
}

}  // namespace

std::vector<float> hostPreprocess(const PreprocessPlan& plan, const uint8_t* pixels, size_t byteLength) {
  checkPixelBytes(plan, byteLength);
  if (pixels == nullptr) throw ArgumentError("pixels", "a buffer");
  const size_t inW = plan.width, inH = plan.height, ch = plan.channels;
  const size_t outW = plan.resizedWidth, outH = plan.resizedHeight;

  // Horizontal pass (or plain normalisation when the width is unchanged): [3][inH][outW].
  std::vector<float> horizontal(3 * inH * outW);
  if (outW == inW) {
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < inH; ++y)
        for (size_t x = 0; x < inW; ++x)
          horizontal[(c * inH + y) * outW + x] = px::normalizePixel(pixels[(y * inW + x) * ch + c]);
  } else {
    AaTable table = buildAaTable(plan.width, plan.resizedWidth);
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < inH; ++y) {
        const uint8_t* row = pixels + y * inW * ch + c;
        for (size_t x = 0; x < outW; ++x) {
          horizontal[(c * inH + y) * outW + x] =
              applyTaps(table, static_cast<int>(x), [&](int64_t s) { return px::normalizePixel(row[s * ch]); });
        }
      }
  }

  // Vertical pass (or none) into the resized image [3][outH][outW].
  std::vector<float> resized;
  if (outH == inH) {
    resized.swap(horizontal);
  } else {
    resized.resize(3 * outH * outW);
    AaTable table = buildAaTable(plan.height, plan.resizedHeight);
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < outH; ++y)
        for (size_t x = 0; x < outW; ++x) {
          const float* column = &horizontal[c * inH * outW + x];
          resized[(c * outH + y) * outW + x] =
              applyTaps(table, static_cast<int>(y), [&](int64_t s) { return column[s * outW]; });
        }
  }

  // Edge-replicating pad to [1, 3, paddedH, paddedW].
  const size_t padW = plan.paddedWidth, padH = plan.paddedHeight;
  std::vector<float> tensor(3 * padH * padW);
  for (size_t c = 0; c < 3; ++c)
    for (size_t y = 0; y < padH; ++y) {
      size_t sy = px::replicateIndex(static_cast<int>(y), plan.resizedHeight);
      for (size_t x = 0; x < padW; ++x) {
        size_t sx = px::replicateIndex(static_cast<int>(x), plan.resizedWidth);
        tensor[(c * padH + y) * padW + x] = resized[(c * outH + sy) * outW + sx];
      }
    }
  return tensor;
}

std::vector<float> hostPostprocess(const PostprocessPlan& plan, const float* prediction, size_t elements) {
  if (elements != plan.predictionElements()) {
    throw ArgumentError("prediction", "3 * shape[2] * shape[3] = " + std::to_string(plan.predictionElements()) +
                                          " elements, got " + std::to_string(elements));
  }
  if (prediction == nullptr) throw ArgumentError("prediction", "a buffer");
  const size_t padW = plan.paddedWidth, padH = plan.paddedHeight;
  const int inW = plan.resizedWidth, inH = plan.resizedHeight;
  const int outW = plan.outputWidth, outH = plan.outputHeight;
  auto unit = [&](int c, int y, int x) {
    return px::toUnit(prediction[(static_cast<size_t>(c) * padH + y) * padW + x]);
  };

  std::vector<px::LinearTap> tapsX, tapsY;
  std::vector<int> nearestX, nearestY;
  if (plan.resample == Resample::Bilinear) {
    for (int x = 0; x < outW; ++x) tapsX.push_back(px::linearTap(x, inW, outW));
    for (int y = 0; y < outH; ++y) tapsY.push_back(px::linearTap(y, inH, outH));
  } else {
    for (int x = 0; x < outW; ++x) nearestX.push_back(px::nearestIndex(x, inW, outW));
    for (int y = 0; y < outH; ++y) nearestY.push_back(px::nearestIndex(y, inH, outH));
  }

  std::vector<float> out(plan.outputElements());
  for (int y = 0; y < outH; ++y)
    for (int x = 0; x < outW; ++x) {
      float p[3];
      for (int c = 0; c < 3; ++c) {
        if (plan.resample == Resample::Bilinear) {
          const px::LinearTap& ty = tapsY[y];
          const px::LinearTap& tx = tapsX[x];
          p[c] = px::bilinearBlend(ty, tx, unit(c, ty.i0, tx.i0), unit(c, ty.i0, tx.i1), unit(c, ty.i1, tx.i0),
                                   unit(c, ty.i1, tx.i1));
        } else {
          p[c] = unit(c, nearestY[y], nearestX[x]);
        }
      }
      px::storePrediction(plan.task == Task::Normal, p[0], p[1], p[2], out.data(), static_cast<size_t>(y) * outW + x);
    }
  return out;
}

std::vector<uint8_t> hostColorizeDepth(const float* depth, size_t elements, int64_t width, int64_t height,
                                       bool reverse) {
  checkDimension("width", width);
  checkDimension("height", height);
  size_t count = static_cast<size_t>(width) * static_cast<size_t>(height);
  if (elements != count) {
    throw ArgumentError("depth", "width * height = " + std::to_string(count) + " elements, got " +
                                     std::to_string(elements));
  }
  if (depth == nullptr) throw ArgumentError("depth", "a buffer");
  // numpy's min/max propagate NaN; then every value normalises to NaN and draws black.
  float lo = depth[0], hi = depth[0];
  for (size_t i = 1; i < count; ++i) {
    float d = depth[i];
    if (std::isnan(d) || std::isnan(lo)) {
      lo = hi = NAN;
      break;
    }
    lo = d < lo ? d : lo;
    hi = d > hi ? d : hi;
  }
  float range = px::sub(hi, lo);
  std::vector<uint8_t> rgb(count * 3);
  for (size_t i = 0; i < count; ++i) px::colormapRgb(px::colormapIndex(depth[i], lo, range, reverse), &rgb[i * 3]);
  return rgb;
}

void hostGaussianNoise(uint64_t seed, float* out, size_t count) {
  if (count > kMaxNoiseElements) throw ArgumentError("count", "at most " + std::to_string(kMaxNoiseElements));
  if (out == nullptr && count > 0) throw ArgumentError("out", "a buffer");
  for (size_t i = 0; i < count; ++i) out[i] = px::gaussianSample(seed, i);
}

}  // namespace lotus
