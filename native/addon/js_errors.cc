#include "addon/js_errors.h"

namespace lotus::addon {

Napi::Error makeJsError(Napi::Env env, ErrorCode code, const std::string& message) {
  Napi::Error error = code == ErrorCode::InvalidArgument ? Napi::TypeError::New(env, message)
                                                         : Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, errorCodeName(code)));
  return error;
}

Napi::Error toJsError(Napi::Env env, const std::exception& error) {
  if (const auto* argument = dynamic_cast<const ArgumentError*>(&error)) {
    Napi::Error js = makeJsError(env, argument->code(), argument->what());
    js.Set("parameter", Napi::String::New(env, argument->parameter()));
    return js;
  }
  if (const auto* typed = dynamic_cast<const Error*>(&error)) return makeJsError(env, typed->code(), typed->what());
  if (dynamic_cast<const std::bad_alloc*>(&error)) {
    return makeJsError(env, ErrorCode::Internal, "out of host memory");
  }
  // Not ours (a standard library or driver wrapper exception): still a typed error, with its text.
  return makeJsError(env, ErrorCode::Internal, error.what());
}

}  // namespace lotus::addon
