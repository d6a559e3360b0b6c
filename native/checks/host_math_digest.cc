// Prints a digest of the host pixel pipeline's float results (bit patterns) over fixed inputs:
// preprocess (antialiased resize), postprocess with bilinear and nearest output resize (toUnit,
// bilinearBlend, depth mean, unit normals) and noise. scripts/check-fp-contract.sh builds it for
// x86-64 and aarch64 and compares: with -ffp-contract=off the digests must be equal, i.e. the host
// path computes the same bits on both (and so the same as the CUDA kernels, which never fuse).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "core/host_pipeline.h"
#include "core/pipeline_geometry.h"

namespace {

uint64_t fnv = 1469598103934665603ull;
size_t values = 0;

void mix(const std::vector<float>& data) {
  for (float f : data) {
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) {
      fnv ^= (bits >> (8 * i)) & 0xff;
      fnv *= 1099511628211ull;
    }
  }
  values += data.size();
}

uint32_t state = 12345;
uint32_t next() {
  state = state * 1664525u + 1013904223u;
  return state >> 8;
}

}  // namespace

int main() {
  using namespace lotus;
  // Preprocess: odd sizes, both directions of resize, RGB and RGBA.
  const int sizes[][3] = {{97, 61, 4}, {64, 48, 3}, {40, 120, 3}, {333, 17, 4}};
  for (const auto& s : sizes) {
    std::vector<uint8_t> pixels(static_cast<size_t>(s[0]) * s[1] * s[2]);
    for (auto& p : pixels) p = static_cast<uint8_t>(next());
    for (int resolution : {0, 64, 128, 200}) {
      PreprocessPlan plan = planPreprocess(s[0], s[1], s[2], resolution, 8);
      mix(hostPreprocess(plan, pixels.data(), pixels.size()));
    }
  }
  // Postprocess: predictions in [-1.2, 1.2], resized up and down, both tasks, both resamplers.
  const int shapes[][6] = {{64, 48, 61, 45, 97, 61}, {128, 72, 125, 70, 40, 30}, {32, 32, 32, 32, 77, 91}};
  for (const auto& s : shapes) {
    std::vector<float> prediction(static_cast<size_t>(3) * s[0] * s[1]);
    for (auto& v : prediction) v = (static_cast<float>(next() % 2400001u) / 1000000.0f) - 1.2f;
    for (Task task : {Task::Depth, Task::Normal}) {
      for (Resample resample : {Resample::Bilinear, Resample::Nearest}) {
        PostprocessPlan plan = planPostprocess(task, resample, s[0], s[1], s[2], s[3], s[4], s[5]);
        mix(hostPostprocess(plan, prediction.data(), prediction.size()));
      }
    }
  }
  std::vector<float> noise(4096);
  hostGaussianNoise(7, noise.data(), noise.size());
  mix(noise);
  std::printf("%016llx %zu\n", static_cast<unsigned long long>(fnv), values);
  return 0;
}
