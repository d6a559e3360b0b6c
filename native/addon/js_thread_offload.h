// Registers the JS thread's offloader (core/offload.h): GPU teardown whose last reference is dropped
// on this thread (close(), finalizers) runs as async work on the libuv pool instead. Cleared when
// the environment shuts down, so teardown during exit runs in place rather than on a closing loop.
#pragma once
#include <napi.h>

namespace lotus::addon {

void InitJsThreadOffload(Napi::Env env);

}  // namespace lotus::addon
