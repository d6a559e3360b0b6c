/* A stand-in libnvinfer.so.<MAJOR> (compile with -DMAJOR=10 or 11): the three symbols the plugin
 * looks up. Each factory logs one warning through the ILogger it is given, as TensorRT does, then
 * returns no object, so the plugin's build and deserialize stop right after it.
 *
 * ILogger::log is called through the C++ vtable (Itanium ABI: `this` first): in TensorRT 10 it is
 * the first virtual function (slot 0); in TensorRT 11 ILogger derives from IVersionedInterface,
 * whose getAPILanguage, getInterfaceInfo and two destructor entries come first (slot 4). */
#ifndef MAJOR
#error "compile with -DMAJOR=<TensorRT major>"
#endif

typedef void (*LogFn)(void* self, int severity, const char* message);

static void logWarning(void* logger, const char* message) {
  if (!logger) return;
  LogFn* vtable = *(LogFn**)logger;
  vtable[MAJOR >= 11 ? 4 : 0](logger, 2 /* kWARNING */, message);
}

void* createInferBuilder_INTERNAL(void* logger, int version) {
  (void)version;
  logWarning(logger, "stand-in createInferBuilder: a warning");
  return 0;
}

void* createInferRuntime_INTERNAL(void* logger, int version) {
  (void)version;
  logWarning(logger, "stand-in createInferRuntime: a warning");
  return 0;
}

int getInferLibVersion(void) { return MAJOR * 10000 + 302; }
