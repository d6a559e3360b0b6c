// Module entry. Loading must never touch the GPU: machines without one still load the addon.
#include "addon/bindings.h"

namespace {

Napi::Object InitLotus(Napi::Env env, Napi::Object exports) {
  lotus::addon::InitBuildInfo(env, exports);
  lotus::addon::InitDeviceInfo(env, exports);
  lotus::addon::InitTensorRT(env, exports);
  lotus::addon::InitHostPipeline(env, exports);
  lotus::addon::InitGpuSession(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(lotus, InitLotus)
