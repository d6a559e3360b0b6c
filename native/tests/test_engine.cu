#include "tests/test_engine.h"

#include <cuda_fp16.h>

#include "core/errors.h"
#include "core/pipeline_geometry.h"
#include "core/pixel_math.h"

namespace lotus::testing {
namespace {

constexpr int kBlock = 256;

__host__ __device__ inline float toFloat(float value) { return value; }
__host__ __device__ inline float toFloat(__half value) { return __half2float(value); }

struct Coefficients {
  float a, b, g, k;
};

__host__ __device__ inline Coefficients coefficients(int channel) {
  if (channel == 0) return {1.5f, 0.25f, 0.5f, 0.25f};
  if (channel == 1) return {-1.25f, -0.375f, 1.0f, -0.125f};
  return {1.375f, 0.5f, -0.75f, 0.1875f};
}

// One prediction element (test_engine.h gives the formula). Every step is a correctly rounded
// float32 operation (px::mul/add are never contracted into FMAs), so host and device agree exactly.
template <typename T>
__host__ __device__ float predictionElement(const T* image, const T* noise, bool generation, int n, int c, int y,
                                            int x, int height, int width) {
  const size_t plane = static_cast<size_t>(height) * width;
  const T* images = image + static_cast<size_t>(n) * 3 * plane;
  const Coefficients k = coefficients(c);
  const float rotated = toFloat(images[((c + 1) % 3) * plane + static_cast<size_t>(y) * width + x]);
  const int ly = y / kLatentFactor, lx = x / kLatentFactor;
  float sum = 0.0f;
  for (int dy = 0; dy < kLatentFactor; ++dy) {
    const T* row = images + c * plane + static_cast<size_t>(ly * kLatentFactor + dy) * width + lx * kLatentFactor;
    for (int dx = 0; dx < kLatentFactor; ++dx) sum = px::add(sum, toFloat(row[dx]));
  }
  const float mean = px::mul(sum, 1.0f / (kLatentFactor * kLatentFactor));  // a power of two: exact
  float out = px::add(px::add(px::mul(k.a, rotated), k.b), px::mul(k.g, mean));
  if (generation) {
    const int latentH = height / kLatentFactor, latentW = width / kLatentFactor;
    const size_t latentPlane = static_cast<size_t>(latentH) * latentW;
    const T* noises = noise + static_cast<size_t>(n) * 4 * latentPlane;
    const size_t cell = static_cast<size_t>(ly) * latentW + lx;
    out = px::add(out, px::mul(k.k, px::add(toFloat(noises[c * latentPlane + cell]), toFloat(noises[3 * latentPlane + cell]))));
  }
  return out;
}

__device__ inline void store(float* out, size_t index, float value) { out[index] = value; }
__device__ inline void store(__half* out, size_t index, float value) { out[index] = __float2half_rn(value); }

template <typename T>
__global__ void predictKernel(const T* image, const T* noise, bool generation, int batch, int height, int width,
                              T* prediction) {
  const int outH = px::predictionSize(height, kLatentFactor), outW = px::predictionSize(width, kLatentFactor);
  const size_t total = static_cast<size_t>(batch) * 3 * outH * outW;
  const size_t index = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (index >= total) return;
  const int x = static_cast<int>(index % outW);
  const int y = static_cast<int>(index / outW % outH);
  const int c = static_cast<int>(index / (static_cast<size_t>(outW) * outH) % 3);
  const int n = static_cast<int>(index / (static_cast<size_t>(outW) * outH * 3));
  store(prediction, index, predictionElement(image, noise, generation, n, c, y, x, height, width));
}

__global__ void spinKernel(unsigned long long nanoseconds) {
  unsigned long long start, now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < nanoseconds);
}

std::string shapeText(const std::vector<int64_t>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

}  // namespace

class TestEngineLane : public EngineLane {
 public:
  explicit TestEngineLane(TestEngine& engine) : engine_(engine) {}

  void setInputShape(const std::string& name, const std::vector<int64_t>& dims) override {
    std::vector<int64_t> min, opt, max;
    engine_.inputShapeRange(name, 0, min, opt, max);
    bool ok = dims.size() == min.size();
    for (size_t i = 0; ok && i < dims.size(); ++i) ok = dims[i] >= min[i] && dims[i] <= max[i];
    if (!ok) throw Error(ErrorCode::TensorRT, "test engine: " + name + " shape " + shapeText(dims) + " outside the profile");
    (name == "image" ? image_ : noise_) = dims;
  }

  std::vector<int64_t> tensorShape(const std::string& name) override {
    if (name == "image") return image_;
    if (name == "noise") return noise_;
    if (name != "prediction") throw Error(ErrorCode::TensorRT, "test engine: no tensor " + name);
    if (image_.size() != 4) return {-1, 3, -1, -1};
    return {image_[0], 3, px::predictionSize(static_cast<int>(image_[2]), kLatentFactor),
            px::predictionSize(static_cast<int>(image_[3]), kLatentFactor)};
  }

  void setTensorAddress(const std::string& name, void* address) override {
    if (reinterpret_cast<uintptr_t>(address) % 256 != 0) {
      throw Error(ErrorCode::TensorRT, "test engine: " + name + " address not 256-byte aligned");
    }
    if (name == "image") {
      imageAddress_ = address;
    } else if (name == "noise") {
      noiseAddress_ = address;
    } else if (name == "prediction") {
      predictionAddress_ = address;
    } else {
      throw Error(ErrorCode::TensorRT, "test engine: no tensor " + name);
    }
  }

  void enqueue(cudaStream_t stream) override {
    const TestEngineOptions& options = engine_.options();
    if (engine_.failNext_.exchange(false)) throw Error(ErrorCode::TensorRT, "test engine: injected enqueue failure");
    if (image_.size() != 4 || imageAddress_ == nullptr || predictionAddress_ == nullptr) {
      throw Error(ErrorCode::TensorRT, "test engine: enqueue before the image shape and addresses are set");
    }
    const int batch = static_cast<int>(image_[0]), height = static_cast<int>(image_[2]), width = static_cast<int>(image_[3]);
    if (options.generation) {
      const std::vector<int64_t> expected{batch, 4, height / kLatentFactor, width / kLatentFactor};
      if (noise_ != expected || noiseAddress_ == nullptr) {
        throw Error(ErrorCode::TensorRT, "test engine: noise " + shapeText(noise_) + " does not match image " +
                                             shapeText(image_) + " (expected " + shapeText(expected) + ")");
      }
    }
    engine_.enqueueCalls_.fetch_add(1);
    if (unsigned spin = engine_.spinMicroseconds()) spinKernel<<<1, 1, 0, stream>>>(spin * 1000ull);
    const size_t total = static_cast<size_t>(batch) * 3 * px::predictionSize(height, kLatentFactor) *
                         px::predictionSize(width, kLatentFactor);
    const unsigned blocks = static_cast<unsigned>((total + kBlock - 1) / kBlock);
    if (options.dtype == DType::Float16) {
      predictKernel<<<blocks, kBlock, 0, stream>>>(static_cast<const __half*>(imageAddress_),
                                                   static_cast<const __half*>(noiseAddress_), options.generation,
                                                   batch, height, width, static_cast<__half*>(predictionAddress_));
    } else {
      predictKernel<<<blocks, kBlock, 0, stream>>>(static_cast<const float*>(imageAddress_),
                                                   static_cast<const float*>(noiseAddress_), options.generation,
                                                   batch, height, width, static_cast<float*>(predictionAddress_));
    }
    cudaError_t status = cudaGetLastError();
    if (status != cudaSuccess) throw Error(ErrorCode::TensorRT, std::string("test engine: ") + cudaGetErrorString(status));
  }

 private:
  TestEngine& engine_;
  std::vector<int64_t> image_, noise_;
  void *imageAddress_ = nullptr, *noiseAddress_ = nullptr, *predictionAddress_ = nullptr;
};

std::vector<TensorDesc> TestEngine::tensors() const {
  std::vector<TensorDesc> list{{"image", options_.dtype, true, {-1, 3, -1, -1}},
                               {"prediction", options_.dtype, false, {-1, 3, -1, -1}}};
  if (options_.generation) list.push_back({"noise", options_.dtype, true, {-1, 4, -1, -1}});
  return list;
}

std::unique_ptr<EngineLane> TestEngine::createLane(int index) {
  if (index < 0 || index >= options_.maxLanes) throw ArgumentError("lane", "0.." + std::to_string(options_.maxLanes - 1));
  return std::make_unique<TestEngineLane>(*this);
}

void TestEngine::inputShapeRange(const std::string& name, int lane, std::vector<int64_t>& min,
                                 std::vector<int64_t>& opt, std::vector<int64_t>& max) const {
  const int64_t lo = options_.minSize, hi = options_.maxSize, mid = hi < 768 ? hi : 768;
  if (name == "image") {
    min = {1, 3, lo, lo};
    opt = {1, 3, mid, mid};
    max = {options_.maxBatch, 3, hi, hi};
  } else if (name == "noise" && options_.generation) {
    min = {1, 4, lo / kLatentFactor, lo / kLatentFactor};
    opt = {1, 4, mid / kLatentFactor, mid / kLatentFactor};
    max = {options_.maxBatch, 4, hi / kLatentFactor, hi / kLatentFactor};
  } else {
    throw Error(ErrorCode::TensorRT, "test engine: no input " + name);
  }
}

std::vector<float> testEngineReference(const float* image, const float* noise, int batch, int height, int width,
                                       bool generation, DType dtype) {
  const int outH = px::predictionSize(height, kLatentFactor), outW = px::predictionSize(width, kLatentFactor);
  std::vector<float> out(static_cast<size_t>(batch) * 3 * outH * outW);
  size_t index = 0;
  for (int n = 0; n < batch; ++n)
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < outH; ++y)
        for (int x = 0; x < outW; ++x) {
          float value = predictionElement(image, noise, generation, n, c, y, x, height, width);
          out[index++] = dtype == DType::Float16 ? __half2float(__float2half_rn(value)) : value;
        }
  return out;
}

}  // namespace lotus::testing
