/* A stand-in libnvinfer_plugin.so.<MAJOR>: initLibNvInferPlugins records how it was called in
 * $FAKE_TRT_LOG and returns $FAKE_PLUGIN_INIT_RESULT (default 1); when it fails it also logs an
 * error through the logger (vtable slot as in libnvinfer.c; compile with -DMAJOR). */
#include <stdio.h>
#include <stdlib.h>

#ifndef MAJOR
#error "compile with -DMAJOR=<TensorRT major>"
#endif

typedef void (*LogFn)(void* self, int severity, const char* message);

int initLibNvInferPlugins(void* logger, const char* libNamespace) {
  const char* path = getenv("FAKE_TRT_LOG");
  FILE* log = path ? fopen(path, "a") : 0;
  if (log) {
    fprintf(log, "initLibNvInferPlugins logger=%s namespace=\"%s\"\n", logger ? "set" : "null",
            libNamespace ? libNamespace : "(null)");
    fclose(log);
  }
  const char* result = getenv("FAKE_PLUGIN_INIT_RESULT");
  if (result && atoi(result) == 0) {
    if (logger) (*(LogFn**)logger)[MAJOR >= 11 ? 4 : 0](logger, 1 /* kERROR */, "stand-in: a plugin creator failed to register");
    return 0;
  }
  return 1;
}
