/* A stand-in libnvidia-ml.so.1 for test/device-info-native.test.ts: 3 GiB free of 8 GiB on the
 * stand-in libcuda's device 1 (found by its UUID). nvmlInit_v2 takes $FAKE_NVML_INIT_MS (as NVML
 * may take a while on real machines), so a caller that blocks the event loop on it shows. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int nvmlReturn_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
static int handles[2];

nvmlReturn_t nvmlInit_v2(void) {
  const char* ms = getenv("FAKE_NVML_INIT_MS");
  long wait = ms ? atol(ms) : 0;
  struct timespec pause = {wait / 1000, (wait % 1000) * 1000000L};
  nanosleep(&pause, 0);
  return 0;
}
nvmlReturn_t nvmlDeviceGetHandleByUUID(const char* uuid, void** device) {
  /* The stand-in libcuda's UUID bytes of device d are d*16 + i: device 1 starts "GPU-10111213-". */
  if (strncmp(uuid, "GPU-10111213-", 13) == 0) { *device = &handles[1]; return 0; }
  if (strncmp(uuid, "GPU-00010203-", 13) == 0) { *device = &handles[0]; return 0; }
  return 13; /* NVML_ERROR_NOT_FOUND */
}
nvmlReturn_t nvmlDeviceGetMemoryInfo(void* device, nvmlMemory_t* memory) {
  memory->total = 8ULL << 30;
  memory->free = device == &handles[1] ? 3ULL << 30 : 5ULL << 30;
  memory->used = memory->total - memory->free;
  return 0;
}
const char* nvmlErrorString(nvmlReturn_t status) { return status == 13 ? "Not Found" : "Unknown Error"; }
