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

// torch's separable antialiased bilinear resize of 3 planes (_upsample_bilinear2d_aa, as
// torchvision's resize(..., BILINEAR, antialias=True) calls it): the horizontal pass first, then the
// vertical one, each skipped when that side keeps its size. `load(c, y, x)` reads the source as
// float; the result is [3][outH][outW].
template <typename Load>
std::vector<float> resizeAntialiased(int inW, int inH, int outW, int outH, Load load) {
  const size_t inWs = inW, inHs = inH, outWs = outW, outHs = outH;
  std::vector<float> rows(3 * inHs * outWs);  // [3][inH][outW]
  if (outW == inW) {
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < inHs; ++y)
        for (size_t x = 0; x < inWs; ++x) rows[(c * inHs + y) * outWs + x] = load(c, y, x);
  } else {
    AaTable table = buildAaTable(inW, outW);
    for (size_t c = 0; c < 3; ++c)
      for (size_t y = 0; y < inHs; ++y)
        for (size_t x = 0; x < outWs; ++x) {
          rows[(c * inHs + y) * outWs + x] =
              applyTaps(table, static_cast<int>(x), [&](int64_t s) { return load(c, y, static_cast<size_t>(s)); });
        }
  }
  if (outH == inH) return rows;
  std::vector<float> out(3 * outHs * outWs);
  AaTable table = buildAaTable(inH, outH);
  for (size_t c = 0; c < 3; ++c)
    for (size_t y = 0; y < outHs; ++y)
      for (size_t x = 0; x < outWs; ++x) {
        const float* column = &rows[c * inHs * outWs + x];
        out[(c * outHs + y) * outWs + x] =
            applyTaps(table, static_cast<int>(y), [&](int64_t s) { return column[s * outWs]; });
      }
  return out;
}

}  // namespace

std::vector<float> hostPreprocess(const PreprocessPlan& plan, const uint8_t* pixels, size_t byteLength) {
  checkPixelBytes(plan, byteLength);
  if (pixels == nullptr) throw ArgumentError("pixels", "a buffer");
  const size_t width = plan.width, channels = plan.channels;
  // infer.py: rgb / 127.5 - 1, then pipeline.py's resize_max_res; the result is the network input.
  return resizeAntialiased(plan.width, plan.height, plan.networkWidth, plan.networkHeight,
                           [&](size_t c, size_t y, size_t x) {
                             return px::normalizePixel(pixels[(y * width + x) * channels + c]);
                           });
}

std::vector<float> hostPostprocess(const PostprocessPlan& plan, const float* prediction, size_t elements) {
  if (elements != plan.predictionElements()) {
    throw ArgumentError("prediction", "3 * shape[2] * shape[3] = " + std::to_string(plan.predictionElements()) +
                                          " elements, got " + std::to_string(elements));
  }
  if (prediction == nullptr) throw ArgumentError("prediction", "a buffer");
  const size_t inW = plan.predictionWidth, inH = plan.predictionHeight;
  const int outW = plan.outputWidth, outH = plan.outputHeight;
  const bool normals = plan.task == Task::Normal;
  auto unit = [&](size_t c, size_t y, size_t x) { return px::toUnit(prediction[(c * inH + y) * inW + x]); };
  std::vector<float> out(plan.outputElements());

  if (plan.resample == Resample::Bilinear) {
    std::vector<float> p = resizeAntialiased(plan.predictionWidth, plan.predictionHeight, outW, outH, unit);
    const size_t plane = static_cast<size_t>(outW) * outH;
    for (size_t i = 0; i < plane; ++i) px::storePrediction(normals, p[i], p[plane + i], p[2 * plane + i], out.data(), i);
    return out;
  }
  std::vector<int> sourceX(outW), sourceY(outH);
  for (int x = 0; x < outW; ++x) sourceX[x] = px::nearestExactIndex(x, plan.predictionWidth, outW);
  for (int y = 0; y < outH; ++y) sourceY[y] = px::nearestExactIndex(y, plan.predictionHeight, outH);
  for (int y = 0; y < outH; ++y)
    for (int x = 0; x < outW; ++x) {
      size_t sy = sourceY[y], sx = sourceX[x];
      px::storePrediction(normals, unit(0, sy, sx), unit(1, sy, sx), unit(2, sy, sx), out.data(),
                          static_cast<size_t>(y) * outW + x);
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
