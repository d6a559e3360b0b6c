/* The C ABI between lotus.node and a TensorRT plugin (lotus_tensorrt<MAJOR>.so).
 *
 * Plain C so that the two sides may be built by different compilers and against different
 * TensorRT majors: no TensorRT, CUDA runtime or C++ types cross it. The plugin exports one
 * function, LOTUS_TRT_PLUGIN_ENTRY, returning a static table. Every function that can fail
 * returns 0 on success and otherwise a non-zero status with *error set to a malloc'ed,
 * NUL-terminated message (TensorRT's own logged errors where it gave any) that the caller
 * releases with table->freeMemory. No function throws, exits or aborts. */
#ifndef LOTUS_TENSORRT_PLUGIN_API_H_
#define LOTUS_TENSORRT_PLUGIN_API_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any change of this file; the loader refuses a plugin with a different number. */
#define LOTUS_TRT_PLUGIN_ABI 3
#define LOTUS_TRT_PLUGIN_ENTRY "lotus_tensorrt_plugin_api"
#define LOTUS_TRT_MAX_DIMS 8

/* Return codes. */
#define LOTUS_TRT_OK 0
#define LOTUS_TRT_FAILED 1         /* TensorRT (or the OS) refused; message says why */
#define LOTUS_TRT_INVALID 2        /* bad argument from the caller */
#define LOTUS_TRT_CANCELLED 3      /* the progress callback asked to stop */
#define LOTUS_TRT_DESERIALIZE 4    /* stale or corrupt plan: the caller deletes and rebuilds */

/* Tensor data types (only those the Lotus graph uses; anything else reports OTHER). */
#define LOTUS_TRT_DTYPE_FLOAT32 0
#define LOTUS_TRT_DTYPE_FLOAT16 1
#define LOTUS_TRT_DTYPE_OTHER 2

typedef struct LotusTrtEngine LotusTrtEngine;   /* deserialized engine (+ its runtime) */
typedef struct LotusTrtContext LotusTrtContext; /* one execution context, bound to one profile */

typedef struct LotusTrtDims {
  int32_t nbDims;
  int64_t d[LOTUS_TRT_MAX_DIMS];
} LotusTrtDims;

/* One input's range in an optimization profile. */
typedef struct LotusTrtProfileInput {
  const char* name;
  LotusTrtDims min, opt, max;
} LotusTrtProfileInput;

/* Progress: phase name, step, steps of that phase. Return 0 to cancel the build. Called on
 * TensorRT's builder threads: must be thread-safe and quick. */
typedef int (*LotusTrtProgressFn)(void* user, const char* phase, int32_t step, int32_t steps);
/* Log messages at or below `severity` (0 internal error .. 4 verbose, TensorRT's numbering). */
typedef void (*LotusTrtLogFn)(void* user, int32_t severity, const char* message);

typedef struct LotusTrtBuildOptions {
  const char* onnxPath;               /* external data files are found next to it */
  const LotusTrtProfileInput* inputs; /* one entry per network input */
  int32_t inputCount;
  int32_t lanes;                      /* identical optimization profiles to add (>= 1) */
  uint64_t workspaceBytes;            /* 0 = TensorRT's default */
  int32_t optimizationLevel;          /* 0..5; TensorRT's default is 3 */
  int32_t fp16;                       /* non-zero: FP16 engine (see docs/tensorrt.md per major) */
  const char* timingCachePath;        /* NULL or "" = no timing cache */
  LotusTrtProgressFn progress;        /* may be NULL */
  void* progressUser;
  LotusTrtLogFn log;                  /* warnings of this build, on the calling thread; may be NULL */
  void* logUser;
} LotusTrtBuildOptions;

typedef struct LotusTrtTensorInfo {
  const char* name; /* owned by the engine, valid while it lives */
  int32_t dtype;    /* LOTUS_TRT_DTYPE_* */
  int32_t isInput;
  LotusTrtDims dims; /* -1 for dynamic dimensions */
} LotusTrtTensorInfo;

typedef struct LotusTrtPluginApi {
  uint32_t abiVersion; /* LOTUS_TRT_PLUGIN_ABI of the plugin */
  uint32_t structSize; /* sizeof(LotusTrtPluginApi) of the plugin */
  int32_t compiledVersion; /* NV_TENSORRT_VERSION the plugin was compiled with, e.g. 110100 */

  void (*freeMemory)(void* pointer);

  /* Loads libnvinfer.so.<MAJOR> (once) and reports getInferLibVersion(). Fails with the
   * dlopen/dlsym reason, or when the library's major differs from the compiled one. */
  int (*probe)(int32_t* libraryVersion, char** error);

  /* Builds a serialized engine; *plan is malloc'ed (release with freeMemory). */
  int (*buildEngine)(const LotusTrtBuildOptions* options, void** plan, size_t* planSize, char** error);

  /* A NULL engine from TensorRT returns LOTUS_TRT_DESERIALIZE, message "deserialize failed: ...". */
  int (*deserializeEngine)(const void* plan, size_t size, LotusTrtEngine** engine, char** error);
  /* Releases the caller's handle; contexts created from it keep the engine alive. */
  void (*destroyEngine)(LotusTrtEngine* engine);
  int32_t (*tensorCount)(const LotusTrtEngine* engine);
  int (*tensorInfo)(const LotusTrtEngine* engine, int32_t index, LotusTrtTensorInfo* info, char** error);
  int32_t (*profileCount)(const LotusTrtEngine* engine);
  int (*profileShape)(const LotusTrtEngine* engine, const char* input, int32_t profile, LotusTrtDims* min,
                      LotusTrtDims* opt, LotusTrtDims* max, char** error);

  /* New context on `profile`; the profile switch is queued on `stream` (a cudaStream_t), which the
   * caller synchronizes before first use. */
  int (*createContext)(LotusTrtEngine* engine, int32_t profile, void* stream, LotusTrtContext** context,
                       char** error);
  void (*destroyContext)(LotusTrtContext* context);
  int (*setInputShape)(LotusTrtContext* context, const char* name, const LotusTrtDims* dims, char** error);
  /* Fails (LOTUS_TRT_INVALID, naming the inputs still unset) when the shape has a wildcard left. */
  int (*tensorShape)(LotusTrtContext* context, const char* name, LotusTrtDims* dims, char** error);
  int (*setTensorAddress)(LotusTrtContext* context, const char* name, void* address, char** error);
  int (*enqueue)(LotusTrtContext* context, void* stream, char** error);

  /* Messages no plugin call captured: warnings of calls that take no log callback (deserializing,
   * contexts, enqueue; on the calling thread) and whatever TensorRT logs on its own threads, at or
   * below maxSeverity. NULL = dropped. */
  void (*setLogCallback)(LotusTrtLogFn log, void* user, int32_t maxSeverity);

  /* Loads libnvonnxparser.so.<MAJOR> (once). Only builds need it: a machine with libnvinfer alone
   * still runs cached engines. Fails with the dlopen/dlsym reason. */
  int (*probeParser)(char** error);

  /* Loads libnvinfer_plugin.so.<MAJOR> (once) and registers TensorRT's standard plugins with
   * initLibNvInferPlugins(logger, ""), as trtexec does. Optional: engines and graphs that use no
   * TensorRT plugin layer need none. Fails with the dlopen/dlsym reason or TensorRT's errors. */
  int (*probePluginLibrary)(char** error);
} LotusTrtPluginApi;

typedef const LotusTrtPluginApi* (*LotusTrtPluginEntryFn)(void);

#ifdef __cplusplus
}
#endif

#endif /* LOTUS_TENSORRT_PLUGIN_API_H_ */
