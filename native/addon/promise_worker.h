// An AsyncWorker settling a promise: Run() on a libuv pool thread, Result() on the JS thread.
// Whatever Run() throws reaches JS through toJsError, keeping the core error's code and parameter.
#pragma once
#include <napi.h>

#include <exception>

#include "addon/js_errors.h"

namespace lotus::addon {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  explicit PromiseWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  // Queues the worker and returns its promise (taken first: the worker deletes itself when done).
  Napi::Promise queue() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  virtual void Run() = 0;
  virtual Napi::Value Result(Napi::Env env) = 0;
  // On the JS thread before the promise settles either way (e.g. to report warnings of Run()).
  virtual void BeforeSettle(Napi::Env env) {}

 private:
  void Execute() override {
    try {
      Run();
    } catch (...) {
      // Nothing may escape a pool thread (std::terminate): keep it for the JS thread.
      failure_ = std::current_exception();
      SetError("native failure");
    }
  }
  void OnOK() override {
    // A JS exception here (e.g. out of JS heap) would otherwise leave the promise pending forever.
    try {
      BeforeSettle(Env());
      deferred_.Resolve(Result(Env()));
    } catch (const Napi::Error& error) {
      deferred_.Reject(error.Value());
    }
  }
  void OnError(const Napi::Error& error) override {
    Napi::Env env = Env();
    try {
      BeforeSettle(env);
    } catch (const Napi::Error&) {
      // The run's own failure is what the promise reports.
    }
    if (!failure_) {
      deferred_.Reject(error.Value());
      return;
    }
    try {
      std::rethrow_exception(failure_);
    } catch (const std::exception& failure) {
      deferred_.Reject(toJsError(env, failure).Value());
    } catch (...) {
      deferred_.Reject(makeJsError(env, ErrorCode::Internal, "unknown native exception").Value());
    }
  }

  Napi::Promise::Deferred deferred_;
  std::exception_ptr failure_;
};

// For bindings that return a promise: a throw while checking arguments or queueing becomes a
// rejection too, so callers handle every failure in one place.
template <typename Start>
Napi::Value promiseOrRejection(Napi::Env env, Start&& start) {
  Napi::Value failure;
  try {
    return start();
  } catch (const Napi::Error& error) {
    failure = error.Value();
  } catch (const std::exception& error) {
    failure = toJsError(env, error).Value();
  }
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  deferred.Reject(failure);
  return deferred.Promise();
}

}  // namespace lotus::addon
