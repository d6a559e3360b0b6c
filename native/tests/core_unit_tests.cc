// lotus_core_unit_tests: the core's hardening (issue 12, items 12, 14, 15, 16, 20) tested below the
// addon, most of it without a GPU.
//   lotus_core_unit_tests [prefix...]   runs the tests whose name starts with a prefix (all without one)
// Prints "ok <name>", "FAIL <name>: why" or "skip <name>: why" per test; exits 1 on any failure.
// test/native-core.test.ts builds it (cmake --build build --target lotus_core_unit_tests) and runs it,
// with a stand-in libnvinfer for the tensorrt-warnings tests.
#include <cuda_runtime_api.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/engine.h"
#include "core/errors.h"
#include "core/gpu_pipeline.h"
#include "core/memory_pool.h"
#include "core/offload.h"
#include "core/saturating.h"
#include "core/stream_wait.h"
#include "core/tensorrt_plugin.h"
#include "core/tensorrt_plugin_api.h"

namespace lotus {
namespace {

struct Skip {
  std::string why;
};
struct Failure {
  std::string why;
};

void expect(bool condition, const std::string& why) {
  if (!condition) throw Failure{why};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// ---- a lotus::Engine with the IO tensors a test gives it (item 16) ----

class FakeLane final : public EngineLane {
 public:
  void setInputShape(const std::string&, const std::vector<int64_t>&) override {}
  std::vector<int64_t> tensorShape(const std::string&) override { return {1, 3, 64, 64}; }
  void setTensorAddress(const std::string&, void*) override {}
  void enqueue(cudaStream_t) override {}
};

class FakeEngine final : public Engine {
 public:
  explicit FakeEngine(std::vector<TensorDesc> tensors) : tensors_(std::move(tensors)) {}
  std::vector<TensorDesc> tensors() const override { return tensors_; }
  int maxLanes() const override { return 1; }
  std::unique_ptr<EngineLane> createLane(int) override { return std::make_unique<FakeLane>(); }
  void inputShapeRange(const std::string&, int, std::vector<int64_t>& min, std::vector<int64_t>& opt,
                       std::vector<int64_t>& max) const override {
    min = {1, 3, 8, 8};
    opt = {1, 3, 64, 64};
    max = {1, 3, 256, 256};
  }

 private:
  std::vector<TensorDesc> tensors_;
};

TensorDesc tensor(const std::string& name, bool isInput, std::vector<int64_t> dims) {
  TensorDesc desc;
  desc.name = name;
  desc.isInput = isInput;
  desc.dims = std::move(dims);
  return desc;
}

const std::vector<int64_t> kImage{-1, 3, -1, -1}, kNoise{-1, 4, -1, -1};

// Opens a pipeline over the fake engine; returns the error it throws (code, message), if any.
struct Opened {
  bool threw = false;
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

Opened openPipeline(std::vector<TensorDesc> tensors, bool generation) {
  GpuPipelineOptions options;
  options.generation = generation;
  Opened opened;
  try {
    GpuPipeline pipeline(std::make_shared<FakeEngine>(std::move(tensors)), options);
  } catch (const Error& error) {
    opened.threw = true;
    opened.code = error.code();
    opened.message = error.what();
  }
  return opened;
}

void expectModelError(std::vector<TensorDesc> tensors, bool generation, const std::vector<std::string>& mentions) {
  const Opened opened = openPipeline(std::move(tensors), generation);
  expect(opened.threw && opened.code == ErrorCode::Model,
         "expected ERR_LOTUS_MODEL at open, got " +
             (opened.threw ? std::string(errorCodeName(opened.code)) + ": " + opened.message : "no error"));
  for (const std::string& mention : mentions) {
    expect(contains(opened.message, mention), "message does not name " + mention + ": " + opened.message);
  }
}

void engineIoExtraInput() {
  // Before: opened (the extra input was never bound) and failed at the first enqueue.
  expectModelError({tensor("image", true, kImage), tensor("noise", true, kNoise), tensor("timestep", true, {1}),
                    tensor("prediction", false, kImage)},
                   true, {"input `timestep`", "does not feed"});
}

void engineIoExtraOutput() {
  expectModelError({tensor("image", true, kImage), tensor("prediction", false, kImage), tensor("latent", false, kNoise)},
                   false, {"output `latent`"});
}

void engineIoWrongDirection() {
  expectModelError({tensor("image", true, kImage), tensor("prediction", true, kImage), tensor("out", false, kImage)},
                   false, {"`prediction` is an input", "output `out`", "no output `prediction`"});
}

void engineIoWrongRank() {
  expectModelError({tensor("image", true, {-1, 3, -1}), tensor("prediction", false, {-1, 4, -1, -1})}, false,
                   {"input `image` is [-1, 3, -1]", "output `prediction` is [-1, 4, -1, -1]"});
}

void engineIoNoiseForMode() {
  expectModelError({tensor("image", true, kImage), tensor("noise", true, kNoise), tensor("prediction", false, kImage)},
                   false, {"regression (D) model"});
  expectModelError({tensor("image", true, kImage), tensor("prediction", false, kImage)}, true, {"no input `noise`"});
}

void engineIoValid() {
  // The contract's tensors pass the check: without a GPU the open then stops at CUDA, with one it opens.
  for (bool generation : {true, false}) {
    std::vector<TensorDesc> tensors{tensor("image", true, kImage), tensor("prediction", false, kImage)};
    if (generation) tensors.push_back(tensor("noise", true, kNoise));
    const Opened opened = openPipeline(tensors, generation);
    expect(!opened.threw || opened.code == ErrorCode::Cuda,
           std::string("a valid engine was refused: ") + errorCodeName(opened.code) + ": " + opened.message);
  }
}

// ---- item 20 ----

void saturatingCounter() {
  int runs = INT_MAX - 1;
  saturatingIncrement(runs);
  expect(runs == INT_MAX, "INT_MAX - 1 + 1");
  saturatingIncrement(runs);
  saturatingIncrement(runs);
  expect(runs == INT_MAX, "stays at INT_MAX (a wrap would make it negative, then 0 = 'never ran')");
  uint8_t small = 254;
  for (int i = 0; i < 10; ++i) saturatingIncrement(small);
  expect(small == 255, "uint8_t stays at 255");
}

// ---- item 14: where GPU owners die ----

// An offloader that runs each task on a new thread and remembers it (joined by the test).
struct ThreadOffloader {
  std::vector<std::thread> threads;
  static bool offload(void* context, void (*task)(void*), void* argument) {
    static_cast<ThreadOffloader*>(context)->threads.emplace_back(task, argument);
    return true;
  }
  void join() {
    for (std::thread& thread : threads) thread.join();
  }
};

struct Probe {
  std::thread::id* destroyedOn;
  ~Probe() { *destroyedOn = std::this_thread::get_id(); }
};

void offloadSharedObject() {
  ThreadOffloader offloader;
  std::thread::id destroyedOn;
  setThreadOffloader(&ThreadOffloader::offload, &offloader);
  { std::shared_ptr<Probe> probe = shareOffloaded(new Probe{&destroyedOn}); }
  setThreadOffloader(nullptr, nullptr);
  offloader.join();
  expect(offloader.threads.size() == 1, "the last reference went through the offloader");
  expect(destroyedOn != std::this_thread::get_id() && destroyedOn != std::thread::id(), "destroyed on another thread");

  // Without an offloader (worker threads), the last reference destroys in place.
  { std::shared_ptr<Probe> probe = shareOffloaded(new Probe{&destroyedOn}); }
  expect(destroyedOn == std::this_thread::get_id(), "destroyed in place without an offloader");
}

void offloadMemoryPool() {
  // The pool's destructor frees its idle buffers (cudaFree synchronizes the device): the last
  // reference, e.g. a zero-copy result's finalizer on the JS thread, hands it to the offloader.
  ThreadOffloader offloader;
  setThreadOffloader(&ThreadOffloader::offload, &offloader);
  { std::shared_ptr<MemoryPool> pool = MemoryPool::create(MemoryKind::Pinned, 0, 0); }
  setThreadOffloader(nullptr, nullptr);
  offloader.join();
  expect(offloader.threads.size() == 1, "MemoryPool::create shares the pool through the offloader");
}

// ---- item 15: waiting for a stream sleeps (GPU) ----

double threadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + now.tv_nsec * 1e-9;
}

void CUDART_CB sleepOnStream(void*) { std::this_thread::sleep_for(std::chrono::milliseconds(300)); }

struct WaitCost {
  double wall = 0, cpu = 0;
};

WaitCost measureWait(cudaStream_t stream, const std::function<void()>& wait) {
  if (cudaLaunchHostFunc(stream, &sleepOnStream, nullptr) != cudaSuccess) throw Failure{"cudaLaunchHostFunc failed"};
  const auto start = std::chrono::steady_clock::now();
  const double cpuStart = threadCpuSeconds();
  wait();
  WaitCost cost;
  cost.cpu = threadCpuSeconds() - cpuStart;
  cost.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return cost;
}

void streamWaitSleeps() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw Skip{"no CUDA device"};
  }
  expect(cudaSetDevice(0) == cudaSuccess, "cudaSetDevice(0)");
  cudaStream_t stream = nullptr;
  expect(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess, "stream");
  StreamWaiter waiter;
  const WaitCost ours = measureWait(stream, [&] { waiter.wait(stream); });
  const WaitCost peer = measureWait(stream, [&] { cudaStreamSynchronize(stream); });
  cudaStreamDestroy(stream);
  std::printf("   stream busy 300 ms: StreamWaiter %.0f ms wall, %.0f ms CPU; cudaStreamSynchronize %.0f ms wall, %.0f ms CPU\n",
              ours.wall * 1e3, ours.cpu * 1e3, peer.wall * 1e3, peer.cpu * 1e3);
  expect(ours.wall >= 0.25, "the wait returned before the stream's work finished");
  expect(ours.cpu < 0.1 * ours.wall, "StreamWaiter used " + std::to_string(ours.cpu * 1e3) + " ms of CPU (spinning?)");
}

// ---- item 12: TensorRT warnings reach the caller (plugin + stand-in libnvinfer, no GPU) ----

const LotusTrtPluginApi& standInPlugin() {
  if (!std::getenv("LOTUS_TENSORRT_PLUGIN") || !std::getenv("LOTUS_TENSORRT_LIB_DIR")) {
    throw Skip{"set LOTUS_TENSORRT_PLUGIN and LOTUS_TENSORRT_LIB_DIR (a stand-in libnvinfer: test/native-core.test.ts)"};
  }
  return tensorrt::requirePlugin();
}

void buildWarningsReachCallback() {
  const LotusTrtPluginApi& api = standInPlugin();
  TensorRTBuildOptions options;
  options.onnxPath = "stand-in.onnx";
  options.profiles = {{"image", {1, 3, 8, 8}, {1, 3, 8, 8}, {1, 3, 8, 8}}};
  std::vector<std::string> warnings;
  std::string error;
  try {
    tensorrt::buildWithPlugin(api, options, nullptr, [&](const std::string& message) { warnings.push_back(message); });
  } catch (const Error& failure) {
    error = failure.what();
  }
  expect(contains(error, "createInferBuilder failed"), "expected the stand-in's null builder, got: " + error);
  // Before: the core passed no build.log, and the plugin's logger dropped the warning.
  expect(warnings.size() == 1 && warnings[0] == "stand-in createInferBuilder: a warning",
         "the build's warning did not reach the callback (" + std::to_string(warnings.size()) + " received)");
}

void openWarningsReachScope() {
  const LotusTrtPluginApi& api = standInPlugin();
  TensorRTWarnings scope;
  std::string error;
  const char plan[] = "stand-in plan";
  try {
    tensorrt::deserializeWithPlugin(api, plan, sizeof(plan), 0);
  } catch (const Error& failure) {
    error = failure.what();
  }
  expect(contains(error, "createInferRuntime failed"), "expected the stand-in's null runtime, got: " + error);
  // Before: a warning inside a plugin call without a warnings callback was dropped by the logger.
  const std::vector<std::string> warnings = scope.take();
  expect(warnings.size() == 1 && warnings[0] == "stand-in createInferRuntime: a warning",
         "the runtime's warning did not reach the TensorRTWarnings scope (" + std::to_string(warnings.size()) +
             " received)");
}

struct Test {
  const char* name;
  void (*run)();
};

const Test kTests[] = {
    {"engine-io/extra-input", engineIoExtraInput},
    {"engine-io/extra-output", engineIoExtraOutput},
    {"engine-io/wrong-direction", engineIoWrongDirection},
    {"engine-io/wrong-rank", engineIoWrongRank},
    {"engine-io/noise-for-mode", engineIoNoiseForMode},
    {"engine-io/valid", engineIoValid},
    {"saturating-counter", saturatingCounter},
    {"offload/shared-object", offloadSharedObject},
    {"offload/memory-pool", offloadMemoryPool},
    {"stream-wait/sleeps", streamWaitSleeps},
    {"tensorrt-warnings/build", buildWarningsReachCallback},
    {"tensorrt-warnings/open", openWarningsReachScope},
};

}  // namespace
}  // namespace lotus

int main(int argc, char** argv) {
  int failures = 0, ran = 0;
  for (const lotus::Test& test : lotus::kTests) {
    bool selected = argc < 2;
    for (int i = 1; i < argc && !selected; ++i) selected = std::string(test.name).rfind(argv[i], 0) == 0;
    if (!selected) continue;
    ++ran;
    try {
      test.run();
      std::printf("ok %s\n", test.name);
    } catch (const lotus::Skip& skip) {
      std::printf("skip %s: %s\n", test.name, skip.why.c_str());
    } catch (const lotus::Failure& failure) {
      ++failures;
      std::printf("FAIL %s: %s\n", test.name, failure.why.c_str());
    } catch (const std::exception& error) {
      ++failures;
      std::printf("FAIL %s: unexpected exception: %s\n", test.name, error.what());
    }
    std::fflush(stdout);
  }
  if (ran == 0) {
    std::printf("FAIL no test matches\n");
    return 1;
  }
  return failures == 0 ? 0 : 1;
}
