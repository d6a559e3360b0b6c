// buildInfo: what this binary was compiled with (no GPU needed), and whether this runtime lets
// native memory reach JS without a copy.
#include <cuda_runtime_api.h>

#include "addon/bindings.h"

namespace lotus::addon {
namespace {

// Runtimes with the V8 memory cage (Electron) refuse external buffers; results are copied there.
bool externalBuffersAllowed(Napi::Env env) {
  static char probe = 0;
  napi_value value = nullptr;
  return napi_create_external_arraybuffer(env, &probe, 1, [](napi_env, void*, void*) {}, nullptr, &value) == napi_ok;
}

}  // namespace

void InitBuildInfo(Napi::Env env, Napi::Object exports) {
  Napi::Object build = Napi::Object::New(env);
  build.Set("cudaRuntimeVersion", CUDART_VERSION);
  build.Set("cudartStatic", true);
  build.Set("napiVersion", NAPI_VERSION);
  build.Set("externalBuffers", externalBuffersAllowed(env));
  exports.Set("buildInfo", build);
}

}  // namespace lotus::addon
