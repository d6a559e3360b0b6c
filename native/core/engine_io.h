// The engine's IO tensors checked against the ONNX contract (docs/design.md, "ONNX model contract")
// when a session opens: inputs `image` [N, 3, H, W] and, for G models, `noise` [N, 4, h, w]; one
// output `prediction` [N, 3, H', W']. Anything else (an extra input the pipeline would never bind,
// a tensor in the wrong direction or of the wrong rank) is a ModelError at open, not a failed
// enqueue at the first request.
#pragma once
#include <vector>

#include "core/engine.h"

namespace lotus {

struct EngineIo {
  TensorDesc image, noise, prediction;  // noise.name is empty for regression (D) models
};

// Throws lotus::Error (ERR_LOTUS_MODEL) naming every tensor that does not fit.
EngineIo checkEngineIo(const std::vector<TensorDesc>& tensors, bool generation);

}  // namespace lotus
