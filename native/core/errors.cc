#include "core/errors.h"

namespace lotus {

const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "ERR_LOTUS_INVALID_ARGUMENT";
    case ErrorCode::Image: return "ERR_LOTUS_IMAGE";
    case ErrorCode::Model: return "ERR_LOTUS_MODEL";
    case ErrorCode::BackendUnavailable: return "ERR_LOTUS_BACKEND_UNAVAILABLE";
    case ErrorCode::Cuda: return "ERR_LOTUS_CUDA";
    case ErrorCode::TensorRT: return "ERR_LOTUS_TENSORRT";
    case ErrorCode::Disposed: return "ERR_LOTUS_DISPOSED";
    case ErrorCode::Internal: return "ERR_LOTUS_INTERNAL";
  }
  return "ERR_LOTUS";
}

}  // namespace lotus
