/* A stand-in libcuda.so.1 for test/device-info-native.test.ts: two devices described through the
 * driver API calls deviceInfo() may make, and every call that creates or needs a CUDA context (or
 * starts the CUDA runtime, which looks entry points up through cuGetProcAddress) logged as
 * "CONTEXT <call>" / "RUNTIME <call>" to $FAKE_CUDA_LOG and refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
#define OK 0
#define REFUSED 999 /* CUDA_ERROR_UNKNOWN */

static void note(const char* kind, const char* what) {
  const char* path = getenv("FAKE_CUDA_LOG");
  if (!path) return;
  FILE* log = fopen(path, "a");
  if (!log) return;
  fprintf(log, "%s %s\n", kind, what);
  fclose(log);
}

CUresult cuInit(unsigned flags) { (void)flags; note("CALL", "cuInit"); return OK; }
CUresult cuDriverGetVersion(int* version) { note("CALL", "cuDriverGetVersion"); *version = 13000; return OK; }
CUresult cuDeviceGetCount(int* count) { note("CALL", "cuDeviceGetCount"); *count = 2; return OK; }
CUresult cuDeviceGet(int* device, int ordinal) { note("CALL", "cuDeviceGet"); *device = ordinal; return OK; }
CUresult cuDeviceGetName(char* name, int length, int device) {
  note("CALL", "cuDeviceGetName");
  snprintf(name, (size_t)length, "Stand-in GPU %d", device);
  return OK;
}
CUresult cuDeviceGetUuid_v2(unsigned char* uuid, int device) {
  note("CALL", "cuDeviceGetUuid_v2");
  for (int i = 0; i < 16; ++i) uuid[i] = (unsigned char)(device * 16 + i);
  return OK;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, int device) { (void)device; note("CALL", "cuDeviceTotalMem_v2"); *bytes = (size_t)8 << 30; return OK; }
CUresult cuDeviceGetAttribute(int* value, int attribute, int device) {
  (void)device;
  note("CALL", "cuDeviceGetAttribute");
  *value = attribute == 75 ? 8 : attribute == 76 ? 9 : attribute == 16 ? 58 : 0; /* cc 8.9, 58 SMs */
  return OK;
}
CUresult cuGetErrorName(CUresult status, const char** name) { (void)status; *name = "CUDA_ERROR_STAND_IN"; return OK; }
CUresult cuGetErrorString(CUresult status, const char** text) { (void)status; *text = "stand-in driver"; return OK; }

/* Contexts: what the review found deviceInfo() doing (cudaSetDevice + cudaMemGetInfo per GPU). */
#define CONTEXT_CALL(name) \
  CUresult name() { note("CONTEXT", #name); return REFUSED; }
CONTEXT_CALL(cuCtxCreate_v2)
CONTEXT_CALL(cuCtxCreate_v3)
CONTEXT_CALL(cuCtxCreate_v4)
CONTEXT_CALL(cuDevicePrimaryCtxRetain)
CONTEXT_CALL(cuCtxSetCurrent)
CONTEXT_CALL(cuCtxPushCurrent_v2)
CONTEXT_CALL(cuMemGetInfo_v2)

/* The CUDA runtime (cudart) starts by looking its entry points up: a runtime call was made. */
CUresult cuGetProcAddress_v2(const char* symbol, void** function, int version, unsigned long long flags, int* status) {
  (void)version; (void)flags; (void)status;
  note("RUNTIME", symbol ? symbol : "?");
  *function = 0;
  return REFUSED;
}
CUresult cuGetExportTable(const void** table, const void* id) { (void)table; (void)id; note("RUNTIME", "cuGetExportTable"); return REFUSED; }
