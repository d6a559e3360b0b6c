#include "tensorrt/plugin_common.h"

#include <cstdlib>
#include <cstring>

namespace lotus_trt {

nvinfer1::Dims toTrtDims(const LotusTrtDims& dims, const char* what) {
  if (dims.nbDims < 0 || dims.nbDims > nvinfer1::Dims::MAX_DIMS || dims.nbDims > LOTUS_TRT_MAX_DIMS) {
    throw Failure(LOTUS_TRT_INVALID, std::string(what) + ": rank " + std::to_string(dims.nbDims) + " out of range");
  }
  nvinfer1::Dims out{};
  out.nbDims = dims.nbDims;
  for (int32_t i = 0; i < dims.nbDims; ++i) out.d[i] = dims.d[i];
  return out;
}

LotusTrtDims fromTrtDims(const nvinfer1::Dims& dims) {
  LotusTrtDims out{};
  out.nbDims = dims.nbDims;
  for (int32_t i = 0; i < dims.nbDims && i < LOTUS_TRT_MAX_DIMS; ++i) out.d[i] = dims.d[i];
  return out;
}

std::string dimsToString(const nvinfer1::Dims& dims) {
  std::string text = "[";
  for (int32_t i = 0; i < dims.nbDims; ++i) text += (i ? "," : "") + std::to_string(dims.d[i]);
  return text + "]";
}

char* copyMessage(const std::string& message) noexcept {
  char* copy = static_cast<char*>(std::malloc(message.size() + 1));
  if (copy) std::memcpy(copy, message.c_str(), message.size() + 1);
  return copy;
}

}  // namespace lotus_trt
