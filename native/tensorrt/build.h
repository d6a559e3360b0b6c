// ONNX -> serialized engine (plan). See docs/tensorrt.md for every call and the per-major precision rules.
#pragma once
#include <cstddef>

#include "tensorrt/plugin_api.h"

namespace lotus_trt {

// Builds and hands out the plan as malloc'ed memory. Throws Failure (LOTUS_TRT_CANCELLED when the
// progress callback stopped it).
void buildEngine(const LotusTrtBuildOptions& options, void** plan, size_t* planSize);

}  // namespace lotus_trt
