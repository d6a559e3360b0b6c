// Typed errors of the core. The addon layer turns them into JS errors with a `code` property;
// lib/errors.ts maps each code to a class. Native code never exits or aborts on bad input.
#pragma once
#include <stdexcept>
#include <string>

namespace lotus {

enum class ErrorCode {
  InvalidArgument,     // ERR_LOTUS_INVALID_ARGUMENT
  Image,               // ERR_LOTUS_IMAGE
  Model,               // ERR_LOTUS_MODEL
  BackendUnavailable,  // ERR_LOTUS_BACKEND_UNAVAILABLE
  Cuda,                // ERR_LOTUS_CUDA
  TensorRT,            // ERR_LOTUS_TENSORRT
  Disposed,            // ERR_LOTUS_DISPOSED
  Internal,            // ERR_LOTUS_INTERNAL: an unexpected native failure (a bug, or out of host memory)
};

const char* errorCodeName(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

// Thrown for a bad argument; `parameter` names it, as the JS errors do.
class ArgumentError : public Error {
 public:
  ArgumentError(const std::string& parameter, const std::string& expected)
      : Error(ErrorCode::InvalidArgument, parameter + ": expected " + expected), parameter_(parameter) {}
  const std::string& parameter() const { return parameter_; }

 private:
  std::string parameter_;
};

}  // namespace lotus
