// buildInfo: what this binary was compiled with (no GPU needed).
#include <cuda_runtime_api.h>

#include "addon/bindings.h"

namespace lotus::addon {

void InitBuildInfo(Napi::Env env, Napi::Object exports) {
  Napi::Object build = Napi::Object::New(env);
  build.Set("cudaRuntimeVersion", CUDART_VERSION);
  build.Set("cudartStatic", true);
  build.Set("napiVersion", NAPI_VERSION);
  exports.Set("buildInfo", build);
}

}  // namespace lotus::addon
