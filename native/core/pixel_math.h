// The per-pixel math of the reference pipeline (docs/design.md steps 1-8), written once for the host
// and the GPU. Every function reproduces PyTorch's float32 arithmetic step by step (the order of
// operations and where float64 is used), so host and device agree bit for bit and both agree with
// the reference to rounding. Arithmetic that nvcc would fuse into FMAs goes through mul()/add(),
// which are never contracted on the device (the host builds do not contract on x86-64 by default).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

// Included first: it defines and undefines its own LOTUS_HD, which must not clobber ours.
#include "core/colormap_spectral.h"

#if defined(__CUDACC__)
#define LOTUS_HD __host__ __device__ __forceinline__
#else
#define LOTUS_HD inline
#endif

namespace lotus::px {

// ---- exact IEEE primitives (no contraction, correctly rounded on both sides) ----

LOTUS_HD float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
LOTUS_HD float add(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
LOTUS_HD float sub(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
LOTUS_HD float div(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
LOTUS_HD float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}
LOTUS_HD double dmul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
LOTUS_HD int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
LOTUS_HD int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// ---- sizes ----

// Python's int(W * min(R / W, R / H)) in float64 with truncation. The reference would fail on a
// zero-sized result (an extreme aspect ratio); we keep at least one pixel instead.
struct Size2 {
  int width;
  int height;
};
LOTUS_HD Size2 processingSize(int width, int height, int resolution) {
  if (resolution <= 0) return {width, height};
  double sw = static_cast<double>(resolution) / static_cast<double>(width);
  double sh = static_cast<double>(resolution) / static_cast<double>(height);
  double s = sw < sh ? sw : sh;
  int w = static_cast<int>(dmul(static_cast<double>(width), s));
  int h = static_cast<int>(dmul(static_cast<double>(height), s));
  return {w < 1 ? 1 : w, h < 1 ? 1 : h};
}

// The network's prediction for a network input of `size` pixels along one side: the VAE encodes
// floor(size / f) latents (f = 8, its downscale factor) and decodes f times that. pipeline.py
// never pads: it hands any size to the VAE and resizes this prediction back to the input size.
LOTUS_HD int predictionSize(int size, int factor) { return size / factor * factor; }

// ---- step 1: rgb8 / 127.5 - 1 (torch CPU divides, it does not multiply by the reciprocal) ----
LOTUS_HD float normalizePixel(unsigned char value) { return sub(div(static_cast<float>(value), 127.5f), 1.0f); }

// ---- step 2: antialiased bilinear weights (torch _compute_indices_min_size_weights_aa) ----

// Upper bound on taps for any scale we accept (dimensions <= 16384 -> scale <= 16384, support <= 16384).
// Kernels compute taps on the fly, so this only bounds loops; weights are never stored per tap.
struct AaAxis {
  float scale;    // (float)in / out, as area_pixel_compute_scale<float>
  float support;  // max(scale, 1) * interp_size(2) * 0.5
  float invscale;
  int64_t maxTaps;  // ceil(support) * 2 + 1
  int64_t inSize;
};

LOTUS_HD AaAxis aaAxis(int inSize, int outSize) {
  AaAxis axis;
  axis.scale = static_cast<float>(inSize) / static_cast<float>(outSize);
  // torch: support = (scale >= 1.0) ? (interp_size * 0.5) * scale : interp_size * 0.5 (double -> float)
  axis.support = axis.scale >= 1.0f ? static_cast<float>(1.0 * static_cast<double>(axis.scale)) : 1.0f;
  axis.invscale = axis.scale >= 1.0f ? static_cast<float>(1.0 / static_cast<double>(axis.scale)) : 1.0f;
  axis.maxTaps = static_cast<int64_t>(std::ceil(axis.support)) * 2 + 1;
  axis.inSize = inSize;
  return axis;
}

// First source index and tap count of output index i.
struct AaTaps {
  int64_t xmin;
  int64_t xsize;
  float center;
  float totalWeight;
};

LOTUS_HD float triangleFilter(float x) {
  x = x < 0.0f ? -x : x;
  return x < 1.0f ? sub(1.0f, x) : 0.0f;
}

// Unnormalised weight of tap j (torch: filter((j + xmin - center + 0.5) * invscale) with the
// (int64 - float) in float, + 0.5 and * invscale in double, the argument rounded to float).
LOTUS_HD float aaRawWeight(const AaAxis& axis, const AaTaps& taps, int64_t j) {
  float offset = sub(static_cast<float>(j + taps.xmin), taps.center);
  double arg = (static_cast<double>(offset) + 0.5) * static_cast<double>(axis.invscale);
  return triangleFilter(static_cast<float>(arg));
}

LOTUS_HD AaTaps aaTaps(const AaAxis& axis, int64_t i) {
  AaTaps taps;
  taps.center = static_cast<float>(static_cast<double>(axis.scale) * (static_cast<double>(i) + 0.5));
  taps.xmin = max64(static_cast<int64_t>(static_cast<double>(sub(taps.center, axis.support)) + 0.5), 0);
  taps.xsize = min64(static_cast<int64_t>(static_cast<double>(add(taps.center, axis.support)) + 0.5), axis.inSize) -
               taps.xmin;
  taps.xsize = taps.xsize < 0 ? 0 : (taps.xsize > axis.maxTaps ? axis.maxTaps : taps.xsize);
  float total = 0.0f;
  for (int64_t j = 0; j < taps.xsize; ++j) total = add(total, aaRawWeight(axis, taps, j));
  taps.totalWeight = total;
  return taps;
}

// Normalised weight of tap j (torch divides each weight by the float total; zero total -> raw).
LOTUS_HD float aaWeight(const AaAxis& axis, const AaTaps& taps, int64_t j) {
  float w = aaRawWeight(axis, taps, j);
  return taps.totalWeight != 0.0f ? div(w, taps.totalWeight) : w;
}

// ---- step 6: resize back with "nearest", which Lotus maps to torchvision NEAREST_EXACT ----
// (utils/image_utils.py get_tv_resample_method). torch nearest_neighbor_exact_compute_source_index:
// floorf((dst + 0.5) * scale), the product in double and rounded to float by floorf's argument,
// with scale = (float)in / out.
LOTUS_HD int nearestExactIndex(int dst, int inSize, int outSize) {
  float scale = div(static_cast<float>(inSize), static_cast<float>(outSize));
  double position = dmul(static_cast<double>(dst) + 0.5, static_cast<double>(scale));
  int64_t src = static_cast<int64_t>(floorf(static_cast<float>(position)));
  return static_cast<int>(min64(src, static_cast<int64_t>(inSize) - 1));
}

// ---- step 5, 7 ----
// diffusers VaeImageProcessor.denormalize: (y * 0.5 + 0.5).clamp(0, 1).
LOTUS_HD float toUnit(float y) {
  float p = add(mul(y, 0.5f), 0.5f);
  // clamp(0, 1) keeps NaN as NaN like torch
  return p < 0.0f ? 0.0f : (p > 1.0f ? 1.0f : p);
}
// infer.py: pred.mean(axis=-1) in float32, summed in channel order.
LOTUS_HD float depthMean(float p0, float p1, float p2) { return div(add(add(p0, p1), p2), 3.0f); }

// One output pixel from the decoded p (step 7): depth writes the channel mean, normals the three
// channels of p itself (HWC), as infer.py saves them; unit vectors are derived from them in lib/.
LOTUS_HD void storePrediction(bool normals, float p0, float p1, float p2, float* out, size_t pixel) {
  if (!normals) {
    out[pixel] = depthMean(p0, p1, p2);
    return;
  }
  out[pixel * 3] = p0;
  out[pixel * 3 + 1] = p1;
  out[pixel * 3 + 2] = p2;
}

// ---- step 8: colormap index (matplotlib Colormap.__call__ on float32 input, N = 256) ----
// Returns -1 for NaN (matplotlib's "bad" colour, RGBA 0).
LOTUS_HD int colormapIndex(float depth, float minValue, float range, bool reverse) {
  float v = div(sub(depth, minValue), range);
  if (reverse) v = sub(1.0f, v);
  if (v != v) return -1;
  float scaled = mul(v, 256.0f);
  if (scaled < 0.0f) return 0;  // under-range -> first colour (matplotlib's default "under")
  if (scaled >= 256.0f) return 255;
  int i = static_cast<int>(scaled);
  return i > 255 ? 255 : i;
}

// RGB8 of a colormap index; -1 (NaN) is black, as matplotlib's bad colour (0, 0, 0, 0).
LOTUS_HD void colormapRgb(int index, unsigned char* rgb) {
  for (int c = 0; c < 3; ++c) rgb[c] = index < 0 ? 0 : spectralRgb8(index, c);
}

// ---- Gaussian noise: Philox4x32-10 keyed by the seed, counter = element index / 4 ----

struct Philox4 {
  uint32_t v[4];
};

LOTUS_HD void mulhilo32(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

LOTUS_HD Philox4 philox4x32_10(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo32(0xD2511F53u, c0, hi0, lo0);
    mulhilo32(0xCD9E8D57u, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Natural log of x in [2^-24, 1] from basic IEEE operations only (fdlibm e_logf's polynomial), so
// the host libm and CUDA's logf cannot make host and device noise differ.
LOTUS_HD uint32_t floatBits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t bits;
  __builtin_memcpy(&bits, &x, sizeof bits);
  return bits;
#endif
}

LOTUS_HD float bitsFloat(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float x;
  __builtin_memcpy(&x, &bits, sizeof x);
  return x;
#endif
}

LOTUS_HD float portableLog(float x) {
  // frexp-free decomposition: x is a normal float here
  const uint32_t bits = floatBits(x);
  int exponent = static_cast<int>((bits >> 23) & 0xFF) - 127;
  float m = bitsFloat((bits & 0x007FFFFFu) | 0x3F800000u);  // m in [1, 2)
  if (m > 1.41421356f) {
    m = mul(m, 0.5f);
    exponent += 1;
  }
  const float ln2Hi = 6.9313812256e-01f, ln2Lo = 9.0580006145e-06f;
  const float lg1 = 0.66666662693f, lg2 = 0.40000972152f, lg3 = 0.28498786688f, lg4 = 0.24279078841f;
  float f = sub(m, 1.0f);
  float s = div(f, add(2.0f, f));
  float z = mul(s, s);
  float w = mul(z, z);
  float t1 = mul(w, add(lg2, mul(w, lg4)));
  float t2 = mul(z, add(lg1, mul(w, lg3)));
  float r = add(t2, t1);
  float hfsq = mul(mul(0.5f, f), f);
  float k = static_cast<float>(exponent);
  return sub(mul(k, ln2Hi), sub(sub(hfsq, add(mul(s, add(hfsq, r)), mul(k, ln2Lo))), f));
}

// sin and cos of 2*pi*u for u in [0, 1): exact quadrant split, then Taylor series on [0, pi/2).
LOTUS_HD void portableSinCos2Pi(float u, float& sinOut, float& cosOut) {
  float quarter = mul(u, 4.0f);  // exact
  int quadrant = static_cast<int>(quarter);
  float r = sub(quarter, static_cast<float>(quadrant));  // exact, in [0, 1)
  float x = mul(r, 1.57079632679f);
  float x2 = mul(x, x);
  // sin: x - x^3/3! + ... - x^15/15! ; cos: 1 - x^2/2! + ... + x^16/16!
  float sp = -7.6471637e-13f;
  sp = add(mul(sp, x2), 1.6059044e-10f);
  sp = add(mul(sp, x2), -2.5052108e-08f);
  sp = add(mul(sp, x2), 2.7557319e-06f);
  sp = add(mul(sp, x2), -1.9841270e-04f);
  sp = add(mul(sp, x2), 8.3333333e-03f);
  sp = add(mul(sp, x2), -1.6666667e-01f);
  float s = add(mul(mul(sp, x2), x), x);
  float cp = 4.7794773e-14f;
  cp = add(mul(cp, x2), -1.1470746e-11f);
  cp = add(mul(cp, x2), 2.0876757e-09f);
  cp = add(mul(cp, x2), -2.7557319e-07f);
  cp = add(mul(cp, x2), 2.4801587e-05f);
  cp = add(mul(cp, x2), -1.3888889e-03f);
  cp = add(mul(cp, x2), 4.1666667e-02f);
  cp = add(mul(cp, x2), -0.5f);
  float c = add(mul(cp, x2), 1.0f);
  switch (quadrant & 3) {
    case 0: sinOut = s; cosOut = c; break;
    case 1: sinOut = c; cosOut = -s; break;
    case 2: sinOut = -s; cosOut = -c; break;
    default: sinOut = -c; cosOut = s; break;
  }
}

// Standard normal sample number `index` of the stream keyed by `seed`. Samples 4k..4k+3 share one
// Philox block: words (0,1) and (2,3) each feed one Box-Muller pair (cos for even, sin for odd).
LOTUS_HD float gaussianSample(uint64_t seed, uint64_t index) {
  Philox4 block = philox4x32_10(index >> 2, seed);
  int pair = static_cast<int>((index >> 1) & 1);
  uint32_t a = block.v[pair * 2], b = block.v[pair * 2 + 1];
  float u1 = mul(static_cast<float>((a >> 8) + 1u), 5.9604644775390625e-08f);  // (0, 1], exact
  float u2 = mul(static_cast<float>(b >> 8), 5.9604644775390625e-08f);        // [0, 1), exact
  float radius = sqrt_rn(mul(-2.0f, portableLog(u1)));
  float s, c;
  portableSinCos2Pi(u2, s, c);
  return mul(radius, (index & 1) ? s : c);
}

}  // namespace lotus::px
