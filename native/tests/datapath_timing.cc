#include "tests/datapath_timing.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/gpu_pipeline.h"
#include "core/host_pipeline.h"
#include "core/pixel_math.h"
#include "tests/pipeline_reference.h"
#include "tests/test_engine.h"

namespace lotus::testing {
namespace {

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  size_t mid = values.size() / 2;
  return values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double mean(const std::vector<double>& values) {
  double sum = 0;
  for (double v : values) sum += v;
  return values.empty() ? 0 : sum / values.size();
}

template <typename Fn>
double timeMs(Fn&& fn) {
  auto start = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

struct GpuStages {
  std::vector<double> upload, preprocess, inference, postprocess, download, total, wall;
};

GpuStages timeGpu(GpuPipeline& pipeline, const GpuRequest& request, int warmup, int iterations) {
  GpuStages s;
  for (int i = 0; i < warmup; ++i) pipeline.run(request);
  for (int i = 0; i < iterations; ++i) {
    GpuResult result;
    double wall = timeMs([&] { result = pipeline.run(request); });
    const StageTimings& t = result.timings;
    s.upload.push_back(t.upload);
    s.preprocess.push_back(t.preprocess);
    s.inference.push_back(t.inference);
    s.postprocess.push_back(t.postprocess);
    s.download.push_back(t.download);
    s.total.push_back(t.total);
    s.wall.push_back(wall);
  }
  return s;
}

}  // namespace

void runDatapathTiming(Report& report, bool quick) {
  const int warmup = 5, iterations = quick ? 20 : 100, hostIterations = quick ? 3 : 7;
  TestImage image = randomImage(1920, 1080, 3, 7);
  TestEngineOptions engineOptions;
  engineOptions.dtype = DType::Float16;  // as the FP16 TensorRT engine
  auto engine = std::make_shared<TestEngine>(engineOptions);
  GpuPipelineOptions options;
  options.cudaGraphs = true;
  GpuPipeline pipeline(engine, options);
  GpuRequest request;
  request.images.push_back(image.view());
  request.processingResolution = 768;
  GpuStages nearest = timeGpu(pipeline, request, warmup, iterations);
  request.resample = Resample::Bilinear;
  GpuStages bilinear = timeGpu(pipeline, request, warmup, iterations);

  // The host pixel path (the CPU backend's): preprocess + the seed's noise, postprocess.
  PreprocessPlan plan = planPreprocess(1920, 1080, 3, 768);
  const size_t noiseElements = static_cast<size_t>(4) * (plan.networkHeight / 8) * (plan.networkWidth / 8);
  const int predW = px::predictionSize(plan.networkWidth, 8), predH = px::predictionSize(plan.networkHeight, 8);
  std::vector<float> prediction(static_cast<size_t>(3) * predW * predH);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> value(-1.2f, 1.2f);
  for (float& v : prediction) v = value(rng);
  std::vector<double> hostPre, hostPostNearest, hostPostBilinear;
  std::vector<float> noise(noiseElements);
  for (int i = 0; i < hostIterations; ++i) {
    hostPre.push_back(timeMs([&] {
      std::vector<float> input = hostPreprocess(plan, image.pixels.data(), image.pixels.size());
      hostGaussianNoise(0, noise.data(), noise.size());
    }));
    for (Resample resample : {Resample::Nearest, Resample::Bilinear}) {
      PostprocessPlan post = planPostprocess(Task::Depth, resample, predW, predH, 1920, 1080);
      double ms = timeMs([&] { hostPostprocess(post, prediction.data(), prediction.size()); });
      (resample == Resample::Nearest ? hostPostNearest : hostPostBilinear).push_back(ms);
    }
  }

  const char* group = "timing";
  std::printf("timing: 1920x1080 RGB at processing resolution 768 -> %dx%d network input, %dx%d prediction\n",
              plan.networkWidth, plan.networkHeight, predW, predH);
  std::printf("  GPU request path (fp16 test engine, 1 lane, CUDA graphs), %d runs after %d warm-up, ms:\n", iterations,
              warmup);
  std::printf("  %-28s %9s %9s\n", "stage", "mean", "p50");
  auto row = [&](const char* name, const std::vector<double>& v, const std::string& key) {
    std::printf("  %-28s %9.3f %9.3f\n", name, mean(v), median(v));
    report.metric(group, key + ".mean", mean(v), "ms");
    report.metric(group, key + ".p50", median(v), "ms");
  };
  row("upload (H2D, 6.2 MB)", nearest.upload, "gpu.upload");
  row("preprocess + noise", nearest.preprocess, "gpu.preprocess");
  row("engine (test engine)", nearest.inference, "gpu.engine");
  row("postprocess depth nearest", nearest.postprocess, "gpu.postprocessNearest");
  row("postprocess depth bilinear", bilinear.postprocess, "gpu.postprocessBilinear");
  row("download (D2H, 8.3 MB)", nearest.download, "gpu.download");
  row("total (events)", nearest.total, "gpu.total");
  row("run() wall clock", nearest.wall, "gpu.wall");
  std::printf("  host pixel path (one thread), median of %d, ms:\n", hostIterations);
  auto hostRow = [&](const char* name, const std::vector<double>& v, const std::string& key) {
    std::printf("  %-28s %9.3f\n", name, median(v));
    report.metric(group, key + ".p50", median(v), "ms");
  };
  hostRow("preprocess + noise", hostPre, "host.preprocess");
  hostRow("postprocess depth nearest", hostPostNearest, "host.postprocessNearest");
  hostRow("postprocess depth bilinear", hostPostBilinear, "host.postprocessBilinear");

  // Ratios host / GPU (> 1: the GPU path is faster), GPU side counting its copies.
  const double gpuPre = median(nearest.upload) + median(nearest.preprocess);
  const double gpuPostNearest = median(nearest.postprocess) + median(nearest.download);
  const double gpuPostBilinear = median(bilinear.postprocess) + median(bilinear.download);
  const double ratios[] = {median(hostPre) / gpuPre, median(hostPostNearest) / gpuPostNearest,
                           median(hostPostBilinear) / gpuPostBilinear,
                           (median(hostPre) + median(hostPostNearest)) / (gpuPre + gpuPostNearest)};
  const char* names[] = {"preprocess (GPU: upload + preprocess)", "postprocess nearest (GPU: + download)",
                         "postprocess bilinear (GPU: + download)", "pixel path nearest, end to end"};
  const char* keys[] = {"ratio.preprocess", "ratio.postprocessNearest", "ratio.postprocessBilinear", "ratio.pixelPath"};
  std::printf("  host / GPU (p50):\n");
  for (int i = 0; i < 4; ++i) {
    std::printf("  %-40s %8.1fx\n", names[i], ratios[i]);
    report.metric(group, keys[i], ratios[i], "x");
  }
  report.note("timing.input", "1920x1080 RGB, processing resolution 768, depth, fp16 test engine, 1 lane, CUDA graphs");
}

}  // namespace lotus::testing
