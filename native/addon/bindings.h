// Each binding file registers its functions/classes here; addon.cc calls them all.
#pragma once
#include <napi.h>

namespace lotus::addon {

void InitDeviceInfo(Napi::Env env, Napi::Object exports);
void InitBuildInfo(Napi::Env env, Napi::Object exports);
void InitTensorRT(Napi::Env env, Napi::Object exports);
void InitHostPipeline(Napi::Env env, Napi::Object exports);
void InitGpuSession(Napi::Env env, Napi::Object exports);

}  // namespace lotus::addon
