// The builder's timing cache on disk, shared by processes: read before a build, merged and written
// back after it, under an exclusive file lock (<path>.lock), written atomically (temp + rename).
#pragma once
#include <NvInfer.h>

#include <string>

#include "tensorrt/plugin_common.h"

namespace lotus_trt {

// Creates the config's timing cache from `path` (empty when the file is missing or unreadable)
// and attaches it. The returned cache must outlive `config`.
TrtPtr<nvinfer1::ITimingCache> attachTimingCache(nvinfer1::IBuilderConfig& config, const std::string& path);

// Merges the config's cache into the file's current content and writes the result.
void saveTimingCache(nvinfer1::IBuilderConfig& config, const std::string& path);

}  // namespace lotus_trt
