// lotus_kernel_tests: every CUDA kernel of core/pixel_kernels.h against the host pipeline.
//   lotus_kernel_tests            parity tests (exit 1 on any mismatch; exit 0 with "skipped: ..." without a GPU)
//   lotus_kernel_tests --stress [rounds]   pre+post rounds through the pools; RSS / GPU memory before and after
//   lotus_kernel_tests --timing   per-stage times for 1920x1080 RGB at processing resolution 768
//   --json FILE (with any mode)  also writes the checks and metrics as JSON (scripts/gpu-check reads it)
// The kernels and the host share core/pixel_math.h, so float32 results must be bit-identical
// (tolerance 0); FP16 outputs are compared with the host value rounded to half.
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_info.h"
#include "core/host_pipeline.h"
#include "core/memory_pool.h"
#include "core/pixel_kernels.h"
#include "tests/memory_probe.h"
#include "tests/test_report.h"

namespace lotus {
namespace {

testing::Report report;
using testing::gpuUsedBytes;
using testing::residentBytes;
const char* const kGroup = "kernelParity";

void compareFloats(const std::string& name, const std::vector<float>& expected, const std::vector<float>& actual,
                   double tolerance) {
  testing::compareFloats(report, kGroup, name, expected, actual.data(), actual.size(), tolerance);
}

template <typename T>
struct DeviceArray {
  T* data = nullptr;
  size_t count = 0;
  explicit DeviceArray(size_t n) : count(n) { LOTUS_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data), (n ? n : 1) * sizeof(T))); }
  ~DeviceArray() { cudaFree(data); }
  void upload(const T* host) { LOTUS_CUDA_CHECK(cudaMemcpy(data, host, count * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> download() const {
    std::vector<T> host(count);
    LOTUS_CUDA_CHECK(cudaMemcpy(host.data(), data, count * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }
};

std::vector<float> halvesToFloats(const std::vector<__half>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = __half2float(values[i]);
  return out;
}
std::vector<float> roundToHalf(const std::vector<float>& values) {
  std::vector<float> out(values.size());
  for (size_t i = 0; i < values.size(); ++i) out[i] = __half2float(__float2half_rn(values[i]));
  return out;
}

std::mt19937 rng(1234);

std::vector<uint8_t> randomPixels(size_t count) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> pixels(count);
  for (auto& p : pixels) p = static_cast<uint8_t>(byte(rng));
  return pixels;
}

void testPreprocess(int width, int height, int channels, int resolution) {
  PreprocessPlan plan = planPreprocess(width, height, channels, resolution);
  std::vector<uint8_t> pixels = randomPixels(plan.pixelBytes());
  std::vector<float> expected = hostPreprocess(plan, pixels.data(), pixels.size());
  DeviceArray<uint8_t> devPixels(pixels.size());
  devPixels.upload(pixels.data());
  DeviceArray<float> scratch(preprocessScratchElements(plan));
  DeviceArray<float> out32(plan.tensorElements());
  DeviceArray<__half> out16(plan.tensorElements());
  launchPreprocess(plan, devPixels.data, scratch.data, out32.data, DType::Float32, nullptr);
  launchPreprocess(plan, devPixels.data, scratch.data, out16.data, DType::Float16, nullptr);
  LOTUS_CUDA_CHECK(cudaDeviceSynchronize());
  char name[160];
  std::snprintf(name, sizeof name, "preprocess %dx%dx%d R=%d -> %dx%d", width, height, channels, resolution,
                plan.networkWidth, plan.networkHeight);
  compareFloats(std::string(name) + " fp32", expected, out32.download(), 0.0);
  compareFloats(std::string(name) + " fp16", roundToHalf(expected), halvesToFloats(out16.download()), 0.0);
}

void testPostprocess(Task task, Resample resample, int predW, int predH, int outW, int outH) {
  PostprocessPlan plan = planPostprocess(task, resample, predW, predH, outW, outH);
  std::uniform_real_distribution<float> value(-1.3f, 1.3f);
  std::vector<float> prediction(plan.predictionElements());
  for (auto& v : prediction) v = value(rng);
  std::vector<__half> prediction16(prediction.size());
  for (size_t i = 0; i < prediction.size(); ++i) prediction16[i] = __float2half_rn(prediction[i]);
  std::vector<float> asHalf = halvesToFloats(prediction16);

  DeviceArray<float> dev32(prediction.size());
  dev32.upload(prediction.data());
  DeviceArray<__half> dev16(prediction.size());
  dev16.upload(prediction16.data());
  DeviceArray<float> out(plan.outputElements());
  char name[160];
  std::snprintf(name, sizeof name, "postprocess %s %s %dx%d -> %dx%d", task == Task::Depth ? "depth" : "normal",
                resample == Resample::Nearest ? "nearest" : "bilinear", predW, predH, outW, outH);
  launchPostprocess(plan, dev32.data, DType::Float32, out.data, nullptr);
  compareFloats(std::string(name) + " fp32", hostPostprocess(plan, prediction.data(), prediction.size()),
                out.download(), 0.0);
  launchPostprocess(plan, dev16.data, DType::Float16, out.data, nullptr);
  compareFloats(std::string(name) + " fp16", hostPostprocess(plan, asHalf.data(), asHalf.size()), out.download(), 0.0);
}

void testNoise(uint64_t seed, size_t count) {
  std::vector<float> expected(count);
  hostGaussianNoise(seed, expected.data(), count);
  DeviceArray<float> out32(count);
  DeviceArray<__half> out16(count);
  launchGaussianNoise(seed, out32.data, DType::Float32, count, nullptr);
  launchGaussianNoise(seed, out16.data, DType::Float16, count, nullptr);
  char name[96];
  std::snprintf(name, sizeof name, "gaussianNoise seed=%llu count=%zu", static_cast<unsigned long long>(seed), count);
  compareFloats(std::string(name) + " fp32", expected, out32.download(), 0.0);
  compareFloats(std::string(name) + " fp16", roundToHalf(expected), halvesToFloats(out16.download()), 0.0);
}

void testColorize(const std::string& label, const std::vector<float>& depth, int64_t width, bool reverse) {
  std::vector<uint8_t> expected = hostColorizeDepth(depth.data(), depth.size(), width,
                                                    static_cast<int64_t>(depth.size()) / width, reverse);
  DeviceArray<float> devDepth(depth.size());
  devDepth.upload(depth.data());
  DeviceArray<uint8_t> scratch(kColorizeScratchBytes);
  DeviceArray<uint8_t> rgb(depth.size() * 3);
  launchColorizeDepth(devDepth.data, depth.size(), reverse, scratch.data, rgb.data, nullptr);
  std::vector<uint8_t> actual = rgb.download();
  size_t mismatches = 0;
  double maxError = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    double error = std::abs(static_cast<int>(expected[i]) - static_cast<int>(actual[i]));
    maxError = error > maxError ? error : maxError;
    mismatches += error != 0;
  }
  report.compare(kGroup, "colorizeDepth " + label + (reverse ? " reversed" : ""), maxError, mismatches, expected.size(),
                 0.0);
}

// Returning buffers never calls CUDA (it may run on the JS thread); the next acquire frees what is
// over the limit, oldest first, and same-class buffers are reused.
void testPoolBound() {
  for (MemoryKind kind : {MemoryKind::Device, MemoryKind::Pinned}) {
    const char* name = kind == MemoryKind::Device ? "device" : "pinned";
    const size_t limit = size_t{1} << 20;
    auto pool = MemoryPool::create(kind, 0, limit);
    {
      std::vector<Lease> leases;
      for (int i = 1; i <= 8; ++i) leases.push_back(pool->acquire(size_t{512} << 10 << (i % 3)));
    }
    PoolStats released = pool->stats();
    bool ok = released.bytesInUse == 0 && released.bytesCached > limit && released.frees == 0;
    Lease small = pool->acquire(300);
    PoolStats after = pool->stats();
    ok = ok && after.bytesCached <= limit && after.frees > 0 && after.bytesInUse == MemoryPool::sizeClass(300);
    small.reset();
    Lease reused = pool->acquire(300);
    ok = ok && pool->stats().reuses == after.reuses + 1;
    char detail[200];
    std::snprintf(detail, sizeof detail, "cached %zu after release (no frees), %zu after next acquire (limit %zu, %llu frees)",
                  released.bytesCached, after.bytesCached, limit, static_cast<unsigned long long>(after.frees));
    report.expect(kGroup, std::string("pool ") + name + " bound", ok, detail);
  }
}

void runParity() {
  // Preprocess: 1x1, odd sizes, extreme aspect ratios, RGB and RGBA, down- and upscaling, R = 0.
  const int cases[][4] = {
      {1, 1, 3, 0},       {1, 1, 4, 768},       {7, 5, 3, 0},        {7, 5, 4, 0},
      {1000, 1, 3, 768},  {1, 1000, 4, 768},    {1000, 1, 4, 0},     {1, 1000, 3, 0},
      {1920, 1080, 3, 768}, {1080, 1920, 4, 768}, {640, 480, 3, 1024}, {333, 517, 4, 200},
      {17, 13, 3, 64},    {768, 768, 3, 768},   {4000, 3000, 3, 768}, {100, 37, 4, 5000},
      {1443, 715, 3, 768}, {848, 804, 4, 768},  {1024, 685, 4, 0},
      {1366, 768, 3, 768}, {1366, 768, 4, 512}, {517, 333, 3, 512},  {1920, 1080, 3, 512},
  };
  for (const auto& c : cases) testPreprocess(c[0], c[1], c[2], c[3]);

  for (Task task : {Task::Depth, Task::Normal}) {
    for (Resample resample : {Resample::Nearest, Resample::Bilinear}) {
      testPostprocess(task, resample, 8, 8, 1, 1);
      testPostprocess(task, resample, 8, 8, 1000, 1);
      testPostprocess(task, resample, 8, 8, 13, 11);
      testPostprocess(task, resample, 768, 432, 1920, 1080);
      testPostprocess(task, resample, 768, 376, 1443, 715);  // Lotus at 768: 768x380 in, 768x376 out
      testPostprocess(task, resample, 768, 424, 1366, 768);  // 768x431 in, 768x424 out
      testPostprocess(task, resample, 512, 328, 517, 333);   // 512x329 in, 512x328 out
      testPostprocess(task, resample, 776, 440, 400, 300);
      testPostprocess(task, resample, 64, 8, 32, 16);  // exact 2x down and up
      testPostprocess(task, resample, 32, 16, 64, 32);
      testPostprocess(task, resample, 8, 1000, 1, 999);
    }
  }

  testNoise(0, 1);
  testNoise(0, 4 * 96 * 96);
  testNoise(42, 1000003);
  testNoise((uint64_t{1} << 53) - 1, 4097);

  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<float> depth(1920 * 1080);
  for (auto& d : depth) d = unit(rng) * 3.0f + 0.25f;
  testColorize("random 1920x1080", depth, 1920, false);
  testColorize("random 1920x1080", depth, 1920, true);
  testColorize("constant", std::vector<float>(1000, 0.5f), 1000, false);
  std::vector<float> withNan(100, 0.25f);
  withNan[50] = NAN;
  testColorize("with NaN", withNan, 10, false);
  testColorize("single pixel", std::vector<float>(1, 0.7f), 1, true);

  testPoolBound();
}

// ---- stress and timing ----

void runStress(int rounds) {
  auto devicePool = MemoryPool::create(MemoryKind::Device, 0, size_t{512} << 20);
  auto pinnedPool = MemoryPool::create(MemoryKind::Pinned, 0, size_t{256} << 20);
  cudaStream_t stream;
  LOTUS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const int sizes[][2] = {{1920, 1080}, {640, 480}, {1, 1000}, {333, 517}};
  auto round = [&](int i) {
    const int* size = sizes[i % 4];
    PreprocessPlan pre = planPreprocess(size[0], size[1], 3 + (i & 1), 768);
    Lease pixelsHost = pinnedPool->acquire(pre.pixelBytes());
    std::memset(pixelsHost.data(), i & 0xFF, pre.pixelBytes());
    Lease pixels = devicePool->acquire(pre.pixelBytes());
    Lease scratch = devicePool->acquire(preprocessScratchElements(pre) * sizeof(float));
    Lease tensor = devicePool->acquire(pre.tensorElements() * sizeof(float));
    PostprocessPlan post = planPostprocess(Task::Normal, i % 3 ? Resample::Nearest : Resample::Bilinear,
                                           pre.networkWidth, pre.networkHeight, pre.width, pre.height);
    Lease output = devicePool->acquire(post.outputElements() * sizeof(float));
    Lease outputHost = pinnedPool->acquire(post.outputElements() * sizeof(float));
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(pixels.data(), pixelsHost.data(), pre.pixelBytes(), cudaMemcpyHostToDevice, stream));
    launchPreprocess(pre, pixels.as<uint8_t>(), scratch.as<float>(), tensor.data(), DType::Float32, stream);
    launchPostprocess(post, tensor.data(), DType::Float32, output.as<float>(), stream);
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(outputHost.data(), output.data(), post.outputElements() * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
    LOTUS_CUDA_CHECK(cudaStreamSynchronize(stream));
  };
  for (int i = 0; i < 16; ++i) round(i);  // warm the pools and the CUDA context
  size_t rssBefore = residentBytes(), gpuBefore = gpuUsedBytes();
  for (int i = 0; i < rounds; ++i) round(i);
  size_t rssAfter = residentBytes(), gpuAfter = gpuUsedBytes();
  LOTUS_CUDA_CHECK(cudaStreamDestroy(stream));
  PoolStats d = devicePool->stats(), p = pinnedPool->stats();
  std::printf("stress: %d rounds\n", rounds);
  std::printf("  host RSS  before %.1f MiB after %.1f MiB (delta %+.1f MiB)\n", rssBefore / 1048576.0,
              rssAfter / 1048576.0, (static_cast<double>(rssAfter) - rssBefore) / 1048576.0);
  std::printf("  GPU used  before %.1f MiB after %.1f MiB (delta %+.1f MiB)\n", gpuBefore / 1048576.0,
              gpuAfter / 1048576.0, (static_cast<double>(gpuAfter) - gpuBefore) / 1048576.0);
  std::printf("  device pool: in use %zu cached %zu peak %zu allocations %llu reuses %llu\n", d.bytesInUse,
              d.bytesCached, d.peakBytes, static_cast<unsigned long long>(d.allocations),
              static_cast<unsigned long long>(d.reuses));
  std::printf("  pinned pool: in use %zu cached %zu peak %zu allocations %llu reuses %llu\n", p.bytesInUse,
              p.bytesCached, p.peakBytes, static_cast<unsigned long long>(p.allocations),
              static_cast<unsigned long long>(p.reuses));
  // Growth check: the pools must serve the steady state from the cache, and memory must not creep.
  bool grew = gpuAfter > gpuBefore + (size_t{16} << 20) || rssAfter > rssBefore + (size_t{64} << 20) ||
              d.bytesInUse != 0 || p.bytesInUse != 0;
  char detail[160];
  std::snprintf(detail, sizeof detail, "%d rounds, GPU used %+.1f MiB, RSS %+.1f MiB", rounds,
                (static_cast<double>(gpuAfter) - gpuBefore) / 1048576.0,
                (static_cast<double>(rssAfter) - rssBefore) / 1048576.0);
  report.expect("kernelStress", "stress memory growth", !grew, detail);
  report.metric("kernelStress", "gpuUsedDelta", (static_cast<double>(gpuAfter) - gpuBefore) / 1048576.0, "MiB");
  report.metric("kernelStress", "rssDelta", (static_cast<double>(rssAfter) - rssBefore) / 1048576.0, "MiB");
}

void runTiming() {
  const int iterations = 50;
  PreprocessPlan pre = planPreprocess(1920, 1080, 3, 768);
  PostprocessPlan post = planPostprocess(Task::Depth, Resample::Nearest, pre.networkWidth, pre.networkHeight,
                                         pre.width, pre.height);
  auto devicePool = MemoryPool::create(MemoryKind::Device, 0, size_t{512} << 20);
  auto pinnedPool = MemoryPool::create(MemoryKind::Pinned, 0, size_t{256} << 20);
  Lease pixelsHost = pinnedPool->acquire(pre.pixelBytes());
  std::vector<uint8_t> random = randomPixels(pre.pixelBytes());
  std::memcpy(pixelsHost.data(), random.data(), random.size());
  Lease pixels = devicePool->acquire(pre.pixelBytes());
  Lease scratch = devicePool->acquire(preprocessScratchElements(pre) * sizeof(float));
  Lease tensor = devicePool->acquire(pre.tensorElements() * sizeof(__half));
  Lease output = devicePool->acquire(post.outputElements() * sizeof(float));
  Lease outputHost = pinnedPool->acquire(post.outputElements() * sizeof(float));
  cudaStream_t stream;
  LOTUS_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t events[5];
  for (auto& e : events) LOTUS_CUDA_CHECK(cudaEventCreate(&e));
  double totals[4] = {0, 0, 0, 0};
  for (int i = -5; i < iterations; ++i) {  // 5 warm-up rounds
    LOTUS_CUDA_CHECK(cudaEventRecord(events[0], stream));
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(pixels.data(), pixelsHost.data(), pre.pixelBytes(), cudaMemcpyHostToDevice, stream));
    LOTUS_CUDA_CHECK(cudaEventRecord(events[1], stream));
    launchPreprocess(pre, pixels.as<uint8_t>(), scratch.as<float>(), tensor.data(), DType::Float16, stream);
    LOTUS_CUDA_CHECK(cudaEventRecord(events[2], stream));
    launchPostprocess(post, tensor.data(), DType::Float16, output.as<float>(), stream);
    LOTUS_CUDA_CHECK(cudaEventRecord(events[3], stream));
    LOTUS_CUDA_CHECK(cudaMemcpyAsync(outputHost.data(), output.data(), post.outputElements() * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
    LOTUS_CUDA_CHECK(cudaEventRecord(events[4], stream));
    LOTUS_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (i < 0) continue;
    for (int s = 0; s < 4; ++s) {
      float ms = 0;
      LOTUS_CUDA_CHECK(cudaEventElapsedTime(&ms, events[s], events[s + 1]));
      totals[s] += ms;
    }
  }
  const char* names[4] = {"H2D (6.2 MB pinned)", "preprocess -> fp16", "postprocess (depth, nearest)",
                          "D2H (8.3 MB pinned)"};
  std::printf("timing: 1920x1080 RGB, processing resolution 768 -> %dx%d, mean of %d runs\n", pre.networkWidth,
              pre.networkHeight, iterations);
  const char* keys[4] = {"upload", "preprocessFp16", "postprocessDepthNearest", "download"};
  for (int s = 0; s < 4; ++s) {
    std::printf("  %-30s %8.3f ms\n", names[s], totals[s] / iterations);
    report.metric("kernelTiming", keys[s], totals[s] / iterations, "ms");
  }
  for (auto& e : events) cudaEventDestroy(e);
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace lotus

int main(int argc, char** argv) {
  using namespace lotus;
  std::string mode, jsonPath;
  int rounds = 10000;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      jsonPath = argv[++i];
    } else if (arg == "--stress" || arg == "--timing") {
      mode = arg;
    } else if (mode == "--stress" && std::atoi(arg.c_str()) > 0) {
      rounds = std::atoi(arg.c_str());
    } else {
      std::fprintf(stderr, "usage: %s [--stress [rounds] | --timing] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  DeviceInfo info = queryDeviceInfo();
  if (!info.usable()) {
    std::string reason = "no CUDA device (" + (info.reason.empty() ? std::string("no devices") : info.reason) + ")";
    std::printf("skipped: %s\n", reason.c_str());
    return report.writeJson(jsonPath, reason) ? 0 : 1;
  }
  try {
    LOTUS_CUDA_CHECK(cudaSetDevice(0));
    if (mode == "--stress") {
      runStress(rounds);
    } else if (mode == "--timing") {
      runTiming();
    } else {
      runParity();
    }
  } catch (const std::exception& error) {
    report.expect("kernelParity", "exception", false, error.what());
  }
  int failures = report.failures();
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
  if (!report.writeJson(jsonPath)) return 1;
  return failures ? 1 : 0;
}
