// Converting core errors into JS errors that carry `code` (and `parameter` for bad arguments).
#pragma once
#include <napi.h>

#include <exception>
#include <string>

#include "core/errors.h"

namespace lotus::addon {

Napi::Error toJsError(Napi::Env env, const std::exception& error);
Napi::Error makeJsError(Napi::Env env, ErrorCode code, const std::string& message);

// Runs `body`, rethrowing any C++ exception as a JS exception (for synchronous bindings).
template <typename Body>
auto guard(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& error) {
    throw toJsError(env, error);
  }
}

}  // namespace lotus::addon
