#include "addon/js_thread_offload.h"

#include <new>

#include "core/offload.h"

namespace lotus::addon {
namespace {

struct Job {
  napi_async_work work = nullptr;
  void (*task)(void*) = nullptr;
  void* argument = nullptr;
};

void runJob(napi_env, void* data) {
  auto* job = static_cast<Job*>(data);
  job->task(job->argument);  // destructors: noexcept
}

void finishJob(napi_env env, napi_status, void* data) {
  auto* job = static_cast<Job*>(data);
  napi_delete_async_work(env, job->work);
  delete job;
}

// Called where a shareOffloaded() object dies on the JS thread: in callbacks and (non-basic)
// finalizers, where Node-API calls are allowed. Any failure (a pending exception, a closing
// environment) returns false and the object is destroyed in place, as before.
bool offloadToPool(void* context, void (*task)(void*), void* argument) {
  napi_env env = static_cast<napi_env>(context);
  auto* job = new (std::nothrow) Job{nullptr, task, argument};
  if (job == nullptr) return false;
  napi_handle_scope scope = nullptr;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    delete job;
    return false;
  }
  napi_value name = nullptr;
  bool queued = napi_create_string_utf8(env, "lotus:gpuTeardown", NAPI_AUTO_LENGTH, &name) == napi_ok &&
                napi_create_async_work(env, nullptr, name, runJob, finishJob, job, &job->work) == napi_ok &&
                napi_queue_async_work(env, job->work) == napi_ok;
  napi_close_handle_scope(env, scope);
  if (!queued) {
    if (job->work != nullptr) napi_delete_async_work(env, job->work);
    delete job;
  }
  return queued;
}

}  // namespace

void InitJsThreadOffload(Napi::Env env) {
  napi_env raw = env;
  setThreadOffloader(&offloadToPool, raw);
  // Runs on this environment's thread, before Node-API finalizes what is left (cleanup hooks run in
  // reverse order, and Node-API registered its own when the module loaded).
  env.AddCleanupHook([]() { setThreadOffloader(nullptr, nullptr); });
}

}  // namespace lotus::addon
