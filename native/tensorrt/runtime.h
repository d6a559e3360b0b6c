// Deserialized engines and execution contexts behind the opaque handles of plugin_api.h. Each
// function has the table's signature and never throws.
#pragma once
#include "tensorrt/plugin_api.h"

namespace lotus_trt {

int deserializeEngine(const void* plan, size_t size, LotusTrtEngine** engine, char** error) noexcept;
void destroyEngine(LotusTrtEngine* engine) noexcept;
int32_t tensorCount(const LotusTrtEngine* engine) noexcept;
int tensorInfo(const LotusTrtEngine* engine, int32_t index, LotusTrtTensorInfo* info, char** error) noexcept;
int32_t profileCount(const LotusTrtEngine* engine) noexcept;
int profileShape(const LotusTrtEngine* engine, const char* input, int32_t profile, LotusTrtDims* min,
                 LotusTrtDims* opt, LotusTrtDims* max, char** error) noexcept;
int createContext(LotusTrtEngine* engine, int32_t profile, void* stream, LotusTrtContext** context,
                  char** error) noexcept;
void destroyContext(LotusTrtContext* context) noexcept;
int setInputShape(LotusTrtContext* context, const char* name, const LotusTrtDims* dims, char** error) noexcept;
int tensorShape(LotusTrtContext* context, const char* name, LotusTrtDims* dims, char** error) noexcept;
int setTensorAddress(LotusTrtContext* context, const char* name, void* address, char** error) noexcept;
int enqueue(LotusTrtContext* context, void* stream, char** error) noexcept;

}  // namespace lotus_trt
