// buildInfo: what this binary was compiled with (no GPU needed), and whether this runtime lets
// native memory reach JS without a copy.
#include <sstream>
#include <string>

#include "addon/bindings.h"

#if defined(LOTUS_WITH_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace lotus::addon {
namespace {

// Runtimes with the V8 memory cage (Electron) refuse external buffers; results are copied there.
bool externalBuffersAllowed(Napi::Env env) {
  static char probe = 0;
  napi_value value = nullptr;
  return napi_create_external_arraybuffer(env, &probe, 1, [](napi_env, void*, void*) {}, nullptr, &value) == napi_ok;
}

#if defined(LOTUS_WITH_CUDA)
Napi::Array words(Napi::Env env, const std::string& text) {
  Napi::Array list = Napi::Array::New(env);
  std::istringstream in(text);
  std::string word;
  for (uint32_t i = 0; in >> word; ++i) list.Set(i, word);
  return list;
}
#endif

}  // namespace

void InitBuildInfo(Napi::Env env, Napi::Object exports) {
  Napi::Object build = Napi::Object::New(env);
#if defined(LOTUS_WITH_CUDA)
  build.Set("gpu", true);
  build.Set("cpuOnlyReason", env.Null());
  build.Set("cudaRuntimeVersion", CUDART_VERSION);
  build.Set("cudartStatic", true);
  build.Set("cudaArchitectures", words(env, LOTUS_CUDA_ARCHITECTURES));
#else
  build.Set("gpu", false);
  build.Set("cpuOnlyReason", LOTUS_CPU_ONLY_REASON);
  build.Set("cudaRuntimeVersion", 0);
  build.Set("cudartStatic", false);
  build.Set("cudaArchitectures", Napi::Array::New(env));
#endif
  build.Set("napiVersion", NAPI_VERSION);
  build.Set("externalBuffers", externalBuffersAllowed(env));
  exports.Set("buildInfo", build);
}

}  // namespace lotus::addon
