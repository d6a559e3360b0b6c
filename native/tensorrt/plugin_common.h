// Shared helpers of the plugin: the failure type every entry point converts to a status code,
// RAII for TensorRT objects, and Dims conversion. Built once per TensorRT major.
#pragma once
#include <NvInfer.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "tensorrt/plugin_api.h"

namespace lotus_trt {

// Thrown inside the plugin; the C entry points turn it into (status, message).
class Failure : public std::runtime_error {
 public:
  Failure(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// TensorRT 10+ objects are released with delete.
template <typename T>
using TrtPtr = std::unique_ptr<T>;

nvinfer1::Dims toTrtDims(const LotusTrtDims& dims, const char* what);
LotusTrtDims fromTrtDims(const nvinfer1::Dims& dims);
std::string dimsToString(const nvinfer1::Dims& dims);

// Runs `body`, mapping every exception to a status and a malloc'ed message in *error.
template <typename Body>
int guarded(char** error, Body&& body) noexcept;

char* copyMessage(const std::string& message) noexcept;

template <typename Body>
int guarded(char** error, Body&& body) noexcept {
  std::string message;
  int status = LOTUS_TRT_FAILED;
  try {
    body();
    return LOTUS_TRT_OK;
  } catch (const Failure& failure) {
    status = failure.status();
    message = failure.what();
  } catch (const std::bad_alloc&) {
    message = "out of host memory";
  } catch (const std::exception& exception) {
    message = exception.what();
  } catch (...) {
    message = "unknown exception in the TensorRT plugin";
  }
  if (error) *error = copyMessage(message);
  return status;
}

}  // namespace lotus_trt
