// lotus_datapath_tests: the whole GPU request path (lotus::GpuPipeline: pinned staging, upload,
// preprocess and noise kernels, engine, postprocess kernels, download, pools, lanes, CUDA graphs)
// over the CUDA test engine (test_engine.h), every output compared bit for bit with its host model
// (pipeline_reference.h).
//   lotus_datapath_tests [--quick] [--only GROUP[,GROUP]] [--json FILE]   the checks (exit 1 on a failure)
//   lotus_datapath_tests --timing [--quick] [--json FILE]                 stage times (datapath_timing.cc)
//   lotus_datapath_tests --dry-run [--quick]    no GPU needed: computes every host expectation and times it
// Groups: context single batches graphs lanes overlap noise leases errors stress.
// Without a GPU it prints "skipped: no CUDA device (...)" and exits 0.
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/cuda_check.h"
#include "core/device_info.h"
#include "core/errors.h"
#include "core/gpu_pipeline.h"
#include "core/host_pipeline.h"
#include "tests/datapath_timing.h"
#include "tests/memory_probe.h"
#include "tests/pipeline_reference.h"
#include "tests/test_engine.h"
#include "tests/test_report.h"

namespace lotus::testing {
namespace {

Report report;
bool quick = false;

const char* dtypeName(DType d) { return d == DType::Float16 ? "fp16" : "fp32"; }
const char* taskName(Task t) { return t == Task::Normal ? "normal" : "depth"; }
const char* resampleName(Resample r) { return r == Resample::Bilinear ? "bilinear" : "nearest"; }

struct Config {
  DType dtype = DType::Float16;
  Task task = Task::Depth;
  bool generation = true;
  int lanes = 1;
  bool cudaGraphs = false;
  int maxSize = 2048;
  std::string label() const {
    return std::string(dtypeName(dtype)) + " " + taskName(task) + (generation ? " G" : " D") + " lanes=" +
           std::to_string(lanes) + " graphs=" + (cudaGraphs ? "on" : "off");
  }
};

struct Rig {
  std::shared_ptr<TestEngine> engine;
  std::unique_ptr<GpuPipeline> pipeline;
  Config config;
};

Rig makeRig(const Config& config) {
  Rig rig;
  rig.config = config;
  TestEngineOptions options;
  options.generation = config.generation;
  options.dtype = config.dtype;
  options.maxSize = config.maxSize;
  rig.engine = std::make_shared<TestEngine>(options);
  GpuPipelineOptions pipelineOptions;
  pipelineOptions.lanes = config.lanes;
  pipelineOptions.cudaGraphs = config.cudaGraphs;
  pipelineOptions.task = config.task;
  pipelineOptions.generation = config.generation;
  rig.pipeline = std::make_unique<GpuPipeline>(rig.engine, pipelineOptions);
  return rig;
}

// A request template: images (owned), options and, once computed, its expected outputs per config.
struct Case {
  std::string name;
  std::vector<TestImage> images;
  int resolution = 768;
  Resample resample = Resample::Nearest;
  uint64_t seed = 0;
  std::vector<float> noise;  // explicit noise when not empty
  // Every image gets the case's seed, or its explicit noise (single-image cases).
  GpuRequest request() const {
    GpuRequest r;
    for (const TestImage& image : images) {
      GpuImage view = image.view();
      view.seed = seed;
      if (!noise.empty()) {
        view.noise = noise.data();
        view.noiseElements = noise.size();
      }
      r.images.push_back(view);
    }
    r.processingResolution = resolution;
    r.resample = resample;
    return r;
  }
};

Case makeCase(const std::string& name, std::vector<TestImage> images, int resolution, Resample resample, uint64_t seed) {
  Case c;
  c.name = name;
  c.images = std::move(images);
  c.resolution = resolution;
  c.resample = resample;
  c.seed = seed;
  return c;
}

// Explicit noise for a single-image case: values a seed would not give, in the G noise layout.
void giveExplicitNoise(Case& c, uint32_t seed) {
  PreprocessPlan plan = planPreprocess(c.images[0].width, c.images[0].height, c.images[0].channels, c.resolution);
  c.noise.resize(static_cast<size_t>(4) * (plan.networkHeight / 8) * (plan.networkWidth / 8));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> value(-3.0f, 3.0f);
  for (float& v : c.noise) v = value(rng);
}

// Runs a case, compares every output; returns the mismatching elements (0 = exact).
size_t runAndCount(GpuPipeline& pipeline, const Case& c, const std::vector<std::vector<float>>& expected,
                   std::string* error = nullptr) {
  try {
    GpuResult result = pipeline.run(c.request());
    if (result.outputs.size() != expected.size()) return 1;
    size_t mismatches = 0;
    for (size_t n = 0; n < expected.size(); ++n) mismatches += countMismatches(expected[n], result.outputs[n]);
    return mismatches;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return 1;
  }
}

// Runs `fn` and reports whether it threw lotus::Error with `code` (and, for argument errors, `parameter`).
void expectError(const std::string& group, const std::string& name, ErrorCode code, const std::string& parameter,
                 const std::function<void()>& fn) {
  try {
    fn();
    report.expect(group, name, false, "no error was thrown");
  } catch (const ArgumentError& e) {
    bool ok = code == ErrorCode::InvalidArgument && (parameter.empty() || e.parameter() == parameter);
    report.expect(group, name, ok, std::string(errorCodeName(e.code())) + " " + e.what());
  } catch (const Error& e) {
    report.expect(group, name, e.code() == code && parameter.empty(), std::string(errorCodeName(e.code())) + " " + e.what());
  } catch (const std::exception& e) {
    report.expect(group, name, false, std::string("not a lotus::Error: ") + e.what());
  }
}

std::string mib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1f MiB", bytes / 1048576.0);
  return text;
}

// The cases most groups share: small and fast, several network sizes (97x61 and 256x85 are not
// multiples of 8), RGB and RGBA, both resamples, a batch, explicit noise; with `withLarge` also a
// full-HD and a 1443x715 RGBA request at 768.
std::vector<Case> sharedCases(bool withLarge) {
  std::vector<Case> cases;
  cases.push_back(makeCase("160x120 R=128", {randomImage(160, 120, 3, 11)}, 128, Resample::Nearest, 1));
  cases.push_back(makeCase("200x150x4 R=128 bilinear", {randomImage(200, 150, 4, 12)}, 128, Resample::Bilinear, 2));
  cases.push_back(makeCase("97x61 R=0", {randomImage(97, 61, 3, 13)}, 0, Resample::Nearest, 3));
  Case noisy = makeCase("300x100 R=256 explicit noise", {randomImage(300, 100, 3, 14)}, 256, Resample::Nearest, 0);
  giveExplicitNoise(noisy, 99);
  cases.push_back(std::move(noisy));
  cases.push_back(makeCase("batch 3 of 160x120/200x150x4/320x240 R=128",
                           {randomImage(160, 120, 3, 15), randomImage(200, 150, 4, 16), randomImage(320, 240, 3, 17)},
                           128, Resample::Nearest, 4));
  cases.push_back(makeCase("640x480 R=320 bilinear", {randomImage(640, 480, 3, 18)}, 320, Resample::Bilinear, 5));
  if (withLarge) {
    cases.push_back(makeCase("1920x1080 R=768", {randomImage(1920, 1080, 3, 19)}, 768, Resample::Nearest, 6));
    cases.push_back(makeCase("1443x715x4 R=768 bilinear", {randomImage(1443, 715, 4, 20)}, 768, Resample::Bilinear, 7));
  }
  return cases;
}

std::vector<std::vector<std::vector<float>>> expectAll(const std::vector<Case>& cases, const Config& config) {
  std::vector<std::vector<std::vector<float>>> expected;
  for (const Case& c : cases) expected.push_back(expectedOutputs(c.request(), config.task, config.generation, config.dtype));
  return expected;
}

// ---- groups ----

// Every dtype x task x G/D x resample, on sizes whose network input is and is not a multiple of 8.
std::vector<Case> singleCases() {
  std::vector<Case> cases;
  cases.push_back(makeCase("1920x1080 R=768", {randomImage(1920, 1080, 3, 1)}, 768, Resample::Nearest, 10));
  cases.push_back(makeCase("1443x715 R=768", {randomImage(1443, 715, 3, 2)}, 768, Resample::Nearest, 11));
  cases.push_back(makeCase("333x517x4 R=200", {randomImage(333, 517, 4, 3)}, 200, Resample::Nearest, 12));
  cases.push_back(makeCase("61x45 R=0", {randomImage(61, 45, 3, 4)}, 0, Resample::Nearest, 13));
  cases.push_back(makeCase("17x13x4 R=64 (upscale)", {randomImage(17, 13, 4, 5)}, 64, Resample::Nearest, 14));
  if (quick) cases.erase(cases.begin());  // the full-HD host reference is the slow part
  return cases;
}

std::vector<Config> singleConfigs() {
  std::vector<Config> configs;
  for (DType dtype : {DType::Float32, DType::Float16})
    for (Task task : {Task::Depth, Task::Normal})
      for (bool generation : {true, false}) {
        Config config;
        config.dtype = dtype;
        config.task = task;
        config.generation = generation;
        configs.push_back(config);
      }
  return configs;
}

std::vector<TestImage> batchImages() {
  return {randomImage(1920, 1080, 3, 21), randomImage(960, 540, 4, 22), randomImage(1280, 720, 3, 23),
          randomImage(3840, 2160, 4, 24)};
}

void testSingle() {
  std::vector<Case> cases = singleCases();
  for (const Config& config : singleConfigs()) {
    for (Resample resample : {Resample::Nearest, Resample::Bilinear}) {
      Rig rig = makeRig(config);
      size_t mismatches = 0, elements = 0;
      std::string failed;
      for (Case c : cases) {
        c.resample = resample;
        auto expected = expectedOutputs(c.request(), config.task, config.generation, config.dtype);
        std::string error;
        size_t m = runAndCount(*rig.pipeline, c, expected, &error);
        mismatches += m;
        elements += expected[0].size();
        if (m) failed += " [" + c.name + (error.empty() ? "" : ": " + error) + "]";
      }
      report.compare("single",
                     "single " + config.label() + " " + resampleName(resample) + ": " + std::to_string(cases.size()) +
                         " sizes" + failed,
                     mismatches ? 1 : 0, mismatches, elements, 0);
    }
  }
}

// Batches of 1, 3 and 4 (the engine's maximum): inputs of different sizes and channel counts that
// reach the same network size; each output must equal the image's prediction alone.
void testBatches() {
  for (Task task : {Task::Depth, Task::Normal}) {
    Config config;
    config.task = task;
    config.generation = task == Task::Depth;
    Rig rig = makeRig(config);
    std::vector<TestImage> images = batchImages();
    for (size_t batch : {size_t{1}, size_t{3}, size_t{4}}) {
      if (quick && batch == 4) continue;
      Case c = makeCase("batch", std::vector<TestImage>(images.begin(), images.begin() + batch), 768,
                        Resample::Nearest, 77);
      auto expected = expectedOutputs(c.request(), config.task, config.generation, config.dtype);
      std::string error;
      size_t m = runAndCount(*rig.pipeline, c, expected, &error);
      size_t elements = 0;
      for (auto& e : expected) elements += e.size();
      report.compare("batches", "batch of " + std::to_string(batch) + " at R=768 (" + config.label() + ")" +
                                    (error.empty() ? "" : ": " + error),
                     m ? 1 : 0, m, elements, 0);
    }
  }
}

// CUDA graphs: one plain enqueue, one captured, then replays (no enqueue) per shape; a shape change
// re-captures; a failing enqueue during capture falls back to plain enqueues with correct results.
void testGraphs() {
  std::vector<Case> cases = sharedCases(false);
  for (bool graphs : {false, true}) {
    Config config;
    config.cudaGraphs = graphs;
    Rig rig = makeRig(config);
    auto expected = expectAll(cases, config);
    // (case, runs): shapes A, B, A, batch-3 at A's size, the explicit-noise case, A
    const std::pair<size_t, int> plan[] = {{0, 4}, {2, 3}, {0, 3}, {4, 3}, {3, 2}, {0, 1}};
    std::string counts;
    bool countsOk = true;
    size_t mismatches = 0, elements = 0;
    for (const auto& step : plan) {
      uint64_t before = rig.engine->enqueueCalls();
      for (int run = 0; run < step.second; ++run) {
        mismatches += runAndCount(*rig.pipeline, cases[step.first], expected[step.first]);
        for (auto& e : expected[step.first]) elements += e.size();
      }
      uint64_t calls = rig.engine->enqueueCalls() - before;
      uint64_t want = graphs ? std::min(step.second, 2) : step.second;
      countsOk = countsOk && calls == want;
      counts += (counts.empty() ? "" : ", ") + std::to_string(step.second) + " runs: " + std::to_string(calls) +
                " enqueues (expected " + std::to_string(want) + ")";
    }
    report.compare("graphs", "graphs " + std::string(graphs ? "on" : "off") + ": results across shape changes",
                   mismatches ? 1 : 0, mismatches, elements, 0);
    report.expect("graphs", std::string("graphs ") + (graphs ? "on" : "off") + ": enqueue calls per shape", countsOk,
                  counts);
  }
  // Failures: a failing plain enqueue throws ERR_LOTUS_TENSORRT and the lane keeps working; a
  // failing enqueue during capture falls back to plain enqueues at that shape.
  Config config;
  config.cudaGraphs = true;
  Rig rig = makeRig(config);
  auto expected = expectAll(cases, config);
  rig.engine->failNextEnqueue();
  expectError("graphs", "failing enqueue -> ERR_LOTUS_TENSORRT", ErrorCode::TensorRT, "",
              [&] { rig.pipeline->run(cases[0].request()); });
  size_t after = runAndCount(*rig.pipeline, cases[0], expected[0]);  // plain run at this shape
  rig.engine->failNextEnqueue();                                      // the capture fails
  after += runAndCount(*rig.pipeline, cases[0], expected[0]);
  uint64_t before = rig.engine->enqueueCalls();
  for (int i = 0; i < 3; ++i) after += runAndCount(*rig.pipeline, cases[0], expected[0]);
  uint64_t plainCalls = rig.engine->enqueueCalls() - before;
  report.expect("graphs", "after a failed enqueue and a failed capture: exact results, plain enqueues",
                after == 0 && plainCalls == 3,
                std::to_string(after) + " mismatching elements, " + std::to_string(plainCalls) +
                    " enqueues in 3 runs (expected 3)");
}

// Lanes 1, 2 and 4, graphs off and on, 2 threads per lane sending mixed cases at once.
void testLanes() {
  std::vector<Case> cases = sharedCases(false);
  const int perThread = quick ? 6 : 16;
  for (int lanes : {1, 2, 4}) {
    for (bool graphs : {false, true}) {
      Config config;
      config.lanes = lanes;
      config.cudaGraphs = graphs;
      Rig rig = makeRig(config);
      auto expected = expectAll(cases, config);
      std::atomic<size_t> mismatches{0}, requests{0};
      std::mutex errorMutex;
      std::string firstError;
      std::vector<std::thread> threads;
      for (int t = 0; t < 2 * lanes; ++t) {
        threads.emplace_back([&, t] {
          for (int i = 0; i < perThread; ++i) {
            size_t index = static_cast<size_t>(t * 7 + i * 3) % cases.size();
            std::string error;
            mismatches += runAndCount(*rig.pipeline, cases[index], expected[index], &error);
            requests += 1;
            if (!error.empty()) {
              std::lock_guard<std::mutex> lock(errorMutex);
              if (firstError.empty()) firstError = error;
            }
          }
        });
      }
      for (auto& thread : threads) thread.join();
      report.compare("lanes",
                     "lanes=" + std::to_string(lanes) + " graphs=" + (graphs ? "on" : "off") + ": " +
                         std::to_string(requests.load()) + " concurrent requests from " + std::to_string(2 * lanes) +
                         " threads" + (firstError.empty() ? "" : ": " + firstError),
                     mismatches ? 1 : 0, mismatches, requests, 0);
    }
  }
}

// Lanes really run at once: with the engine waiting 20 ms on the GPU per call, 16 requests take
// about 16 x 20 ms on one lane and a quarter of that on four.
void testOverlap() {
  std::vector<Case> cases = sharedCases(false);
  std::map<int, double> wall;
  std::atomic<int> failures{0};
  auto burst = [&](Rig& rig, int threadCount, int perThread) {
    std::vector<std::thread> threads;
    for (int t = 0; t < threadCount; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < perThread; ++i) {
          try {
            rig.pipeline->run(cases[0].request());
          } catch (const std::exception&) {
            failures += 1;
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
  };
  for (int lanes : {1, 2, 4}) {
    Config config;
    config.lanes = lanes;
    Rig rig = makeRig(config);
    rig.engine->setSpinMicroseconds(5000);  // long enough that every lane gets configured and its pools filled
    burst(rig, 2 * lanes, 1);
    rig.engine->setSpinMicroseconds(20000);
    auto start = std::chrono::steady_clock::now();
    burst(rig, 8, 2);
    wall[lanes] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    report.metric("overlap", "16 requests of 20 ms, lanes=" + std::to_string(lanes), wall[lanes], "ms");
  }
  char detail[200];
  std::snprintf(detail, sizeof detail, "wall %.0f ms (1 lane), %.0f ms (2), %.0f ms (4); 4 lanes %.2fx faster; %d failed",
                wall[1], wall[2], wall[4], wall[1] / wall[4], failures.load());
  report.expect("overlap", "4 lanes run requests concurrently (>= 2x faster than 1 lane)",
                wall[1] / wall[4] >= 2.0 && failures == 0, detail);
}

void testNoise() {
  for (DType dtype : {DType::Float32, DType::Float16}) {
    Config config;
    config.dtype = dtype;
    Rig rig = makeRig(config);
    Case c = makeCase("explicit noise", {randomImage(300, 100, 3, 31)}, 256, Resample::Nearest, 0);
    giveExplicitNoise(c, 5);
    auto expected = expectedOutputs(c.request(), config.task, true, dtype);
    size_t m = runAndCount(*rig.pipeline, c, expected);
    Case seeded = c;
    seeded.noise.clear();
    auto fromSeed = expectedOutputs(seeded.request(), config.task, true, dtype);
    report.compare("noise", std::string("explicit noise ") + dtypeName(dtype) + " (differs from the seed's: " +
                                (fromSeed[0] != expected[0] ? "yes" : "NO") + ")",
                   m ? 1 : 0, m + (fromSeed[0] == expected[0]), expected[0].size(), 0);
  }
  Config config;
  Rig rig = makeRig(config);
  Case c = makeCase("explicit noise", {randomImage(300, 100, 3, 31)}, 256, Resample::Nearest, 0);
  giveExplicitNoise(c, 5);
  expectError("noise", "noise of the wrong size", ErrorCode::InvalidArgument, "images[0].noise", [&] {
    GpuRequest r = c.request();
    r.images[0].noiseElements -= 1;
    rig.pipeline->run(r);
  });
  {
    // A batch keeps each image's own noise: explicit noise for one image, a seed for the other.
    GpuRequest mixed = c.request();
    GpuImage seededImage = mixed.images[0];
    seededImage.noise = nullptr;
    seededImage.noiseElements = 0;
    seededImage.seed = 9;
    mixed.images.push_back(seededImage);
    Config batchConfig;
    Rig batched = makeRig(batchConfig);
    auto expected = expectedOutputs(mixed, batchConfig.task, true, batchConfig.dtype);
    GpuResult result = batched.pipeline->run(mixed);
    size_t m = 0;
    for (size_t i = 0; i < expected.size(); ++i) m += countMismatches(expected[i], result.outputs[i]);
    report.compare("noise", "explicit noise and a seed in one batch of 2", m ? 1 : 0, m, expected[0].size() * 2, 0);
  }
  config.generation = false;
  Rig regression = makeRig(config);
  expectError("noise", "explicit noise for a regression model", ErrorCode::InvalidArgument, "images[0].noise",
              [&] { regression.pipeline->run(c.request()); });
}

// Zero-copy results are pinned pool leases: they must keep their values while later requests run,
// go back to the pool when dropped, and outlive the pipeline that produced them.
void testLeases() {
  std::vector<Case> cases = sharedCases(false);
  Config config;
  config.task = Task::Normal;
  config.lanes = 2;
  config.cudaGraphs = true;
  Rig rig = makeRig(config);
  auto expected = expectAll(cases, config);
  std::vector<GpuResult> held;
  auto holdAll = [&] {
    held.clear();
    for (size_t i = 0; i < cases.size(); ++i) held.push_back(rig.pipeline->run(cases[i].request()));
  };
  auto heldMismatches = [&] {
    size_t m = 0;
    for (size_t i = 0; i < held.size(); ++i)
      for (size_t n = 0; n < held[i].outputs.size(); ++n) m += countMismatches(expected[i][n], held[i].outputs[n]);
    return m;
  };
  holdAll();
  for (int i = 0; i < 60; ++i) rig.pipeline->run(cases[(i * 5) % cases.size()].request());  // results dropped at once
  size_t afterRequests = heldMismatches();
  size_t inUseHeld = rig.pipeline->pinnedPoolStats().bytesInUse;
  report.expect("leases", "held results unchanged after 60 later requests", afterRequests == 0,
                std::to_string(afterRequests) + " mismatching elements; pinned in use while held " +
                    std::to_string(inUseHeld) + " bytes");
  held.clear();
  size_t inUseDropped = rig.pipeline->pinnedPoolStats().bytesInUse;
  report.expect("leases", "pinned pool: nothing in use once the results are dropped", inUseDropped == 0 && inUseHeld > 0,
                std::to_string(inUseDropped) + " bytes in use");
  holdAll();
  rig.pipeline.reset();
  rig.engine.reset();
  size_t afterClose = heldMismatches();
  report.expect("leases", "held results unchanged after the pipeline is destroyed", afterClose == 0,
                std::to_string(afterClose) + " mismatching elements");
  held.clear();  // the last leases free the pinned pool
}

void testErrors() {
  Config config;
  config.maxSize = 1024;
  Rig rig = makeRig(config);
  TestImage hd = randomImage(1920, 1080, 3, 41);
  auto request = [&](std::vector<TestImage> images, int resolution) {
    Case c = makeCase("error", std::move(images), resolution, Resample::Nearest, 0);
    return c;
  };
  expectError("errors", "5 images for an engine of batch 4", ErrorCode::InvalidArgument, "images", [&] {
    Case c = request({hd, hd, hd, hd, hd}, 768);
    rig.pipeline->run(c.request());
  });
  expectError("errors", "no images", ErrorCode::InvalidArgument, "images", [&] { rig.pipeline->run(GpuRequest{}); });
  expectError("errors", "network size outside the profile", ErrorCode::InvalidArgument, "processingResolution", [&] {
    Case c = request({hd}, 2048);
    rig.pipeline->run(c.request());
  });
  expectError("errors", "images of two network sizes in one batch", ErrorCode::InvalidArgument, "images[1]", [&] {
    Case c = request({hd, randomImage(100, 100, 3, 1)}, 768);
    rig.pipeline->run(c.request());
  });
  expectError("errors", "pixel buffer of the wrong length", ErrorCode::InvalidArgument, "pixels", [&] {
    Case c = request({hd}, 768);
    GpuRequest r = c.request();
    r.images[0].byteLength -= 1;
    rig.pipeline->run(r);
  });
  expectError("errors", "null pixels", ErrorCode::InvalidArgument, "images[0]", [&] {
    GpuRequest r;
    r.images.push_back(GpuImage{nullptr, 12, 2, 2, 3});
    rig.pipeline->run(r);
  });
  expectError("errors", "network input under 8 pixels", ErrorCode::InvalidArgument, "images[0]", [&] {
    Case c = request({randomImage(100, 5, 3, 2)}, 0);
    rig.pipeline->run(c.request());
  });
  expectError("errors", "lanes above the engine's", ErrorCode::InvalidArgument, "lanes", [&] {
    Config bad = config;
    bad.lanes = 5;
    makeRig(bad);
  });
  expectError("errors", "a G pipeline on an engine without noise", ErrorCode::Model, "", [&] {
    TestEngineOptions options;
    options.generation = false;
    GpuPipelineOptions pipelineOptions;
    pipelineOptions.generation = true;
    GpuPipeline pipeline(std::make_shared<TestEngine>(options), pipelineOptions);
  });
  Case good = request({hd}, 768);
  auto expected = expectedOutputs(good.request(), config.task, config.generation, config.dtype);
  size_t m = runAndCount(*rig.pipeline, good, expected);
  report.compare("errors", "an exact result after all those errors", m ? 1 : 0, m, expected[0].size(), 0);
}

// Many mixed requests from 8 threads on 4 lanes with graphs, holding the last results of each thread
// while later ones run (each checked when dropped); device memory, pools and RSS must stay flat.
void testStress() {
  const int total = quick ? 2000 : 10000;
  const int warmup = total * 3 / 10;  // the pools reach their working set in the first part
  std::vector<Case> cases = sharedCases(true);
  Config config;
  config.lanes = 4;
  config.cudaGraphs = true;
  Rig rig = makeRig(config);
  auto expected = expectAll(cases, config);
  // Warm-up: every case from 8 threads at once, so the pools hold what any mix of 4 concurrent
  // requests needs before memory is first sampled.
  for (const Case& c : cases) {
    std::vector<std::thread> burst;
    for (int t = 0; t < 8; ++t) {
      burst.emplace_back([&] {
        try {
          rig.pipeline->run(c.request());
        } catch (const std::exception&) {
        }
      });
    }
    for (auto& thread : burst) thread.join();
  }
  // Mostly small requests, 1 in 25 a large one.
  auto pick = [&](int i) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u;
    if (h % 25 == 0) return cases.size() - 1 - (h / 25) % 2;
    return static_cast<size_t>((h >> 8) % (cases.size() - 2));
  };
  std::atomic<int> next{0};
  std::atomic<size_t> mismatches{0}, checked{0}, failures{0};
  std::mutex sampleMutex;
  size_t gpuWarm = 0, rssWarm = 0;
  PoolStats deviceWarm, pinnedWarm;
  std::string firstError;
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      std::deque<std::pair<size_t, GpuResult>> ring;
      auto drop = [&] {
        const auto& front = ring.front();
        for (size_t n = 0; n < front.second.outputs.size(); ++n)
          mismatches += countMismatches(expected[front.first][n], front.second.outputs[n]);
        checked += 1;
        ring.pop_front();
      };
      for (int i = next++; i < total; i = next++) {
        size_t index = pick(i);
        try {
          ring.emplace_back(index, rig.pipeline->run(cases[index].request()));
        } catch (const std::exception& e) {
          failures += 1;
          std::lock_guard<std::mutex> lock(sampleMutex);
          if (firstError.empty()) firstError = e.what();
        }
        if (ring.size() > 16) drop();
        if (i == warmup) {
          std::lock_guard<std::mutex> lock(sampleMutex);
          gpuWarm = gpuUsedBytes();
          rssWarm = residentBytes();
          deviceWarm = rig.pipeline->devicePoolStats();
          pinnedWarm = rig.pipeline->pinnedPoolStats();
        }
      }
      while (!ring.empty()) drop();
    });
  }
  for (auto& thread : threads) thread.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t gpuEnd = gpuUsedBytes(), rssEnd = residentBytes();
  PoolStats device = rig.pipeline->devicePoolStats(), pinned = rig.pipeline->pinnedPoolStats();
  report.compare("stress",
                 std::to_string(total) + " mixed requests, 8 threads, 4 lanes, graphs on, 16 results held per thread" +
                     (firstError.empty() ? "" : ": " + firstError),
                 mismatches || failures ? 1 : 0, mismatches + failures, checked, 0);
  const double gpuGrowth = static_cast<double>(gpuEnd) - static_cast<double>(gpuWarm);
  const double rssGrowth = static_cast<double>(rssEnd) - static_cast<double>(rssWarm);
  std::ostringstream detail;
  detail << "after request " << warmup << " -> end: GPU used " << mib(gpuGrowth) << ", RSS " << mib(rssGrowth)
         << ", device pool allocations " << deviceWarm.allocations << " -> " << device.allocations
         << ", pinned pool allocations " << pinnedWarm.allocations << " -> " << pinned.allocations
         << "; pinned in use at the end " << pinned.bytesInUse;
  // A per-request leak of even 10 KB shows over the thousands of requests after the sample.
  report.expect("stress", "device memory flat (GPU used +<= 64 MiB, RSS +<= 128 MiB, nothing pinned in use)",
                gpuGrowth <= 64.0 * 1048576 && rssGrowth <= 128.0 * 1048576 && pinned.bytesInUse == 0, detail.str());
  report.metric("stress", "requests per second", total / seconds, "1/s");
  report.metric("stress", "GPU used growth", gpuGrowth / 1048576.0, "MiB");
  report.metric("stress", "device pool peak", device.peakBytes / 1048576.0, "MiB");
  report.metric("stress", "pinned pool peak", pinned.peakBytes / 1048576.0, "MiB");
}

// Whether nvidia-smi lists this process as holding a CUDA context.
bool listedByNvidiaSmi(bool& answered) {
  answered = false;
  FILE* pipe = popen("nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null", "r");
  if (pipe == nullptr) return false;
  char line[64];
  bool listed = false;
  const long self = static_cast<long>(getpid());
  while (std::fgets(line, sizeof line, pipe) != nullptr) listed = listed || std::atol(line) == self;
  answered = pclose(pipe) == 0;
  return listed;
}

// queryDeviceInfo() (called first in main, before any CUDA runtime call) must leave no CUDA context
// behind (issue 12, item 13): nvidia-smi must not list this process until the runtime makes one.
// The control: after cudaFree(0) it must; where it cannot see this process (another PID namespace)
// nothing can be concluded and no check is recorded.
void checkNoContext() {
  bool answered = false;
  const bool before = listedByNvidiaSmi(answered);
  if (!answered) {
    report.note("context", "not checked: nvidia-smi --query-compute-apps did not answer");
    return;
  }
  LOTUS_CUDA_CHECK(cudaSetDevice(0));
  LOTUS_CUDA_CHECK(cudaFree(nullptr));
  bool answeredAfter = false;
  const bool after = listedByNvidiaSmi(answeredAfter);
  if (!after) {
    report.note("context", "not checked: nvidia-smi does not list this process even with a CUDA context");
    std::printf("-- context: not checkable here (nvidia-smi does not list this process even with a context)\n");
    return;
  }
  report.expect("context", "queryDeviceInfo() leaves no CUDA context (nvidia-smi lists the process only after cudaFree(0))",
                !before, before ? "listed before any CUDA runtime call" : "not listed before, listed after");
}

// Without a GPU: every host expectation the groups compute, to check the cases and time the host
// side (which dominates the run on a GPU machine: the GPU work per request is tiny).
void dryRun() {
  auto timed = [](const char* what, const std::function<size_t()>& fn) {
    auto start = std::chrono::steady_clock::now();
    size_t outputs = fn();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("dry run: %-44s %4zu outputs %7.2f s\n", what, outputs, seconds);
    report.metric("dryRun", what, seconds, "s");
  };
  timed("single (8 configs x 2 resamples)", [] {
    size_t n = 0;
    std::vector<Case> cases = singleCases();
    for (const Config& config : singleConfigs())
      for (Resample resample : {Resample::Nearest, Resample::Bilinear})
        for (Case c : cases) {
          c.resample = resample;
          n += expectedOutputs(c.request(), config.task, config.generation, config.dtype).size();
        }
    return n;
  });
  timed("batches", [] {
    size_t n = 0;
    std::vector<TestImage> images = batchImages();
    for (Task task : {Task::Depth, Task::Normal})
      for (size_t batch : {size_t{1}, size_t{3}, size_t{4}}) {
        if (quick && batch == 4) continue;
        Case c = makeCase("batch", std::vector<TestImage>(images.begin(), images.begin() + batch), 768,
                          Resample::Nearest, 77);
        n += expectedOutputs(c.request(), task, task == Task::Depth, DType::Float16).size();
      }
    return n;
  });
  timed("shared cases, small (per config)", [] { return expectAll(sharedCases(false), Config{}).size(); });
  {
    // The engine's output range: the post-processing clamp must see values on both sides of [-1, 1].
    Case c = makeCase("range", {randomImage(640, 480, 3, 1)}, 320, Resample::Nearest, 3);
    PreprocessPlan plan = planPreprocess(640, 480, 3, 320);
    std::vector<float> input = hostPreprocess(plan, c.images[0].pixels.data(), c.images[0].pixels.size());
    std::vector<float> noise(static_cast<size_t>(4) * (plan.networkHeight / 8) * (plan.networkWidth / 8));
    hostGaussianNoise(3, noise.data(), noise.size());
    std::vector<float> prediction = testEngineReference(input.data(), noise.data(), 1, plan.networkHeight,
                                                        plan.networkWidth, true, DType::Float32);
    size_t below = 0, above = 0;
    float lo = prediction[0], hi = prediction[0];
    for (float v : prediction) {
      below += v < -1.0f;
      above += v > 1.0f;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    std::printf("dry run: test engine prediction in [%.3f, %.3f], %.1f%% below -1, %.1f%% above 1\n", lo, hi,
                100.0 * below / prediction.size(), 100.0 * above / prediction.size());
  }
  timed("shared cases with the large ones (stress)", [] { return expectAll(sharedCases(true), Config{}).size(); });
}

}  // namespace
}  // namespace lotus::testing

int main(int argc, char** argv) {
  using namespace lotus;
  using namespace lotus::testing;
  std::string jsonPath;
  std::set<std::string> only;
  bool timing = false, dryRunOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--json" && i + 1 < argc) {
      jsonPath = argv[++i];
    } else if (arg == "--quick") {
      quick = true;
    } else if (arg == "--timing") {
      timing = true;
    } else if (arg == "--dry-run") {
      dryRunOnly = true;
    } else if (arg == "--only" && i + 1 < argc) {
      std::stringstream list(argv[++i]);
      for (std::string group; std::getline(list, group, ',');) only.insert(group);
    } else {
      std::fprintf(stderr, "usage: %s [--timing | --dry-run] [--quick] [--only GROUP,...] [--json FILE]\n", argv[0]);
      return 2;
    }
  }
  DeviceInfo info = queryDeviceInfo();
  if (dryRunOnly) {
    dryRun();
    return report.writeJson(jsonPath) ? 0 : 1;
  }
  if (!info.usable()) {
    std::string reason = "no CUDA device (" + (info.reason.empty() ? std::string("no devices") : info.reason) + ")";
    std::printf("skipped: %s\n", reason.c_str());
    return report.writeJson(jsonPath, reason) ? 0 : 1;
  }
  if (!timing && (only.empty() || only.count("context"))) checkNoContext();
  const std::pair<const char*, void (*)()> groups[] = {
      {"single", testSingle}, {"batches", testBatches}, {"graphs", testGraphs},
      {"lanes", testLanes},   {"overlap", testOverlap}, {"noise", testNoise},
      {"leases", testLeases}, {"errors", testErrors},   {"stress", testStress}};
  try {
    LOTUS_CUDA_CHECK(cudaSetDevice(0));
    if (timing) {
      runDatapathTiming(report, quick);
    } else {
      for (const auto& group : groups) {
        if (!only.empty() && !only.count(group.first)) continue;
        auto start = std::chrono::steady_clock::now();
        try {
          group.second();
        } catch (const std::exception& error) {
          report.expect(group.first, std::string(group.first) + ": exception", false, error.what());
        }
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        report.metric("seconds", group.first, seconds, "s");
        std::printf("-- %s: %.1f s\n", group.first, seconds);
      }
    }
  } catch (const std::exception& error) {
    report.expect("datapath", "exception", false, error.what());
  }
  int failures = report.failures();
  std::printf("%s: %d failure(s)\n", failures ? "FAILED" : "OK", failures);
  if (!report.writeJson(jsonPath)) return 1;
  return failures ? 1 : 0;
}
