#include "tensorrt/build.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>

#include "tensorrt/library.h"
#include "tensorrt/logger.h"
#include "tensorrt/plugin_common.h"
#include "tensorrt/progress_monitor.h"
#include "tensorrt/timing_cache.h"

namespace lotus_trt {
namespace {

using nvinfer1::DataType;
using nvinfer1::OptProfileSelector;

// Declaration order = TensorRT samples' order: the parser owns weight memory the network uses until
// the build ends, and is destroyed before the network.
struct ParsedNetwork {
  TrtPtr<nvinfer1::INetworkDefinition> network;
  TrtPtr<nvonnxparser::IParser> parser;
};

// IParserError's strings are plain const char*; never build a std::string from a null one.
const char* orEmpty(const char* text) { return text ? text : ""; }

std::string parserErrors(const nvonnxparser::IParser& parser) {
  std::string text;
  for (int i = 0; i < parser.getNbErrors(); ++i) {
    const nvonnxparser::IParserError* error = parser.getError(i);
    if (!error) continue;
    text += (text.empty() ? "" : "; ") + std::string(orEmpty(error->desc()));
    if (error->node() >= 0) {
      text += std::string(" (node ") + std::to_string(error->node()) + " " + orEmpty(error->nodeName()) + ", " +
              orEmpty(error->nodeOperator()) + ")";
    }
  }
  return text;
}

ParsedNetwork parse(nvinfer1::IBuilder& builder, const char* onnxPath, bool stronglyTyped) {
  LogCapture capture;
#if NV_TENSORRT_MAJOR >= 11
  // TensorRT 11 networks are always strongly typed (the creation flag is deprecated and ignored).
  (void)stronglyTyped;
  const nvinfer1::NetworkDefinitionCreationFlags flags = 0;
#else
  const nvinfer1::NetworkDefinitionCreationFlags flags =
      stronglyTyped ? 1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED) : 0U;
#endif
  ParsedNetwork parsed;
  parsed.network.reset(builder.createNetworkV2(flags));
  if (!parsed.network) throw Failure(LOTUS_TRT_FAILED, capture.describe("createNetworkV2 failed"));
  parsed.parser.reset(parserLibrary().createParser(*parsed.network, logger()));
  if (!parsed.parser) throw Failure(LOTUS_TRT_FAILED, capture.describe("createNvOnnxParser failed"));
  if (!parsed.parser->parseFromFile(onnxPath, static_cast<int>(nvinfer1::ILogger::Severity::kWARNING))) {
    std::string detail = parserErrors(*parsed.parser);
    if (detail.empty()) detail = capture.describe("no parser error recorded");
    throw Failure(LOTUS_TRT_FAILED, std::string("ONNX parse failed for ") + onnxPath + ": " + detail);
  }
  return parsed;
}

bool hasHalfInput(const nvinfer1::INetworkDefinition& network) {
  for (int32_t i = 0; i < network.getNbInputs(); ++i) {
    if (network.getInput(i)->getType() == DataType::kHALF) return true;
  }
  return false;
}

void addProfiles(nvinfer1::IBuilder& builder, nvinfer1::IBuilderConfig& config,
                 const nvinfer1::INetworkDefinition& network, const LotusTrtBuildOptions& options) {
  // Every network input needs a range (e.g. `noise` of G models), and every range must name a network
  // input of the same rank: IOptimizationProfile knows no network, so a typo or a wrong rank would
  // otherwise surface only as an obscure error deep in buildSerializedNetwork.
  std::map<std::string, int32_t> networkRanks;
  for (int32_t i = 0; i < network.getNbInputs(); ++i) {
    networkRanks[network.getInput(i)->getName()] = network.getInput(i)->getDimensions().nbDims;
  }
  std::set<std::string> given;
  for (int32_t i = 0; i < options.inputCount; ++i) {
    const LotusTrtProfileInput& input = options.inputs[i];
    if (!input.name) throw Failure(LOTUS_TRT_INVALID, "profile input without a name");
    if (!given.insert(input.name).second) {
      throw Failure(LOTUS_TRT_INVALID, std::string("two shape profiles for input ") + input.name);
    }
    const auto found = networkRanks.find(input.name);
    if (found == networkRanks.end()) {
      throw Failure(LOTUS_TRT_INVALID, std::string("shape profile for ") + input.name + ", which is not a network input");
    }
    if (input.min.nbDims != found->second || input.opt.nbDims != found->second || input.max.nbDims != found->second) {
      throw Failure(LOTUS_TRT_INVALID, std::string("shape profile for ") + input.name + " must have rank " +
                                           std::to_string(found->second) + " (the network input's)");
    }
  }
  std::string missing;
  for (const auto& entry : networkRanks) {
    if (!given.count(entry.first)) missing += (missing.empty() ? "" : ", ") + entry.first;
  }
  if (!missing.empty()) throw Failure(LOTUS_TRT_INVALID, "no shape profile for network input(s): " + missing);

  LogCapture capture;
  for (int32_t lane = 0; lane < options.lanes; ++lane) {
    // Owned by the builder; one identical profile per lane so lanes can run concurrently.
    nvinfer1::IOptimizationProfile* profile = builder.createOptimizationProfile();
    if (!profile) throw Failure(LOTUS_TRT_FAILED, capture.describe("createOptimizationProfile failed"));
    for (int32_t i = 0; i < options.inputCount; ++i) {
      const LotusTrtProfileInput& input = options.inputs[i];
      const nvinfer1::Dims min = toTrtDims(input.min, input.name);
      const nvinfer1::Dims opt = toTrtDims(input.opt, input.name);
      const nvinfer1::Dims max = toTrtDims(input.max, input.name);
      if (!profile->setDimensions(input.name, OptProfileSelector::kMIN, min) ||
          !profile->setDimensions(input.name, OptProfileSelector::kOPT, opt) ||
          !profile->setDimensions(input.name, OptProfileSelector::kMAX, max)) {
        throw Failure(LOTUS_TRT_INVALID,
                      capture.describe(std::string("setDimensions failed for ") + input.name + " min " +
                                       dimsToString(min) + " opt " + dimsToString(opt) + " max " + dimsToString(max)));
      }
    }
    if (config.addOptimizationProfile(profile) < 0) {
      throw Failure(LOTUS_TRT_INVALID, capture.describe("addOptimizationProfile failed"));
    }
  }
}

// Chooses the network typing from the ONNX's input types. Both majors: an FP16 ONNX builds strongly
// typed (its explicit casts, e.g. FP32 norms, are honoured). FP32 ONNX + fp16 requested: TensorRT 10
// re-parses weakly typed with the (deprecated) kFP16 flag; TensorRT 11 has no such flag and refuses.
ParsedNetwork parseForPrecision(nvinfer1::IBuilder& builder, const LotusTrtBuildOptions& options, bool& setFp16Flag) {
  setFp16Flag = false;
  ParsedNetwork parsed = parse(builder, options.onnxPath, true);
  if (!options.fp16 || hasHalfInput(*parsed.network)) return parsed;
#if NV_TENSORRT_MAJOR >= 11
  throw Failure(LOTUS_TRT_INVALID,
                std::string("TensorRT ") + std::to_string(NV_TENSORRT_MAJOR) +
                    " builds strongly typed networks only and has no FP16 builder flag: " + options.onnxPath +
                    " has float32 inputs. Use the FP16 export of the model (lotus.precision = fp16), or build an "
                    "FP32 engine (precision 'fp32')");
#else
  parsed.parser.reset();  // parser before network, as in the destructor
  parsed.network.reset();
  setFp16Flag = true;
  return parse(builder, options.onnxPath, false);
#endif
}

// Through the logger, so it reaches this build's warning callback (options.log) via its LogCapture.
void warn(const std::string& message) {
  logger().log(nvinfer1::ILogger::Severity::kWARNING, ("lotus-trt: " + message).c_str());
}

}  // namespace

void buildEngine(const LotusTrtBuildOptions& options, void** planOut, size_t* planSize) {
  if (!options.onnxPath || !*options.onnxPath) throw Failure(LOTUS_TRT_INVALID, "onnxPath is empty");
  if (options.lanes < 1) throw Failure(LOTUS_TRT_INVALID, "lanes must be >= 1");
  if (options.inputCount < 0 || (options.inputCount > 0 && !options.inputs)) {
    throw Failure(LOTUS_TRT_INVALID, "bad profile input list");
  }
  LogCapture capture(options.log, options.logUser);
  const InferLibrary& library = inferLibrary();

  // Declared first so it is destroyed last: the header (IBuilderConfig::createTimingCache) says the
  // cache must outlive every builder using it, not only the config.
  TrtPtr<nvinfer1::ITimingCache> timingCache;
  TrtPtr<nvinfer1::IBuilder> builder(library.createBuilder(logger()));
  if (!builder) throw Failure(LOTUS_TRT_FAILED, capture.describe("createInferBuilder failed"));

  bool setFp16Flag = false;
  ParsedNetwork parsed = parseForPrecision(*builder, options, setFp16Flag);

  TrtPtr<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
  if (!config) throw Failure(LOTUS_TRT_FAILED, capture.describe("createBuilderConfig failed"));
#if NV_TENSORRT_MAJOR < 11
  if (setFp16Flag) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    config->setFlag(nvinfer1::BuilderFlag::kFP16);  // deprecated in 10.x, the only way for an FP32 ONNX
#pragma GCC diagnostic pop
  }
#endif
  if (options.workspaceBytes > 0) {
    config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, static_cast<size_t>(options.workspaceBytes));
  }
  if (options.optimizationLevel < 0 || options.optimizationLevel > 5) {
    throw Failure(LOTUS_TRT_INVALID, "optimizationLevel must be 0..5");
  }
  config->setBuilderOptimizationLevel(options.optimizationLevel);
  addProfiles(*builder, *config, *parsed.network, options);

  // The timing cache only speeds builds up: a cache that cannot be read, locked or written costs a
  // warning, never the build (nor, after it, a finished plan of many minutes).
  if (options.timingCachePath && *options.timingCachePath) {
    try {
      timingCache = attachTimingCache(*config, options.timingCachePath);
    } catch (const std::exception& error) {
      warn(std::string("building without the timing cache: ") + error.what());
    }
  }

  ProgressMonitor monitor(options.progress, options.progressUser);
  config->setProgressMonitor(&monitor);

  TrtPtr<nvinfer1::IHostMemory> plan(builder->buildSerializedNetwork(*parsed.network, *config));
  config->setProgressMonitor(nullptr);
  if (monitor.cancelled()) throw Failure(LOTUS_TRT_CANCELLED, "engine build cancelled");
  if (!plan || plan->size() == 0) throw Failure(LOTUS_TRT_FAILED, capture.describe("buildSerializedNetwork failed"));

  if (timingCache) {
    try {
      saveTimingCache(*config, options.timingCachePath);
    } catch (const std::exception& error) {
      warn(std::string("timing cache not saved: ") + error.what());
    }
  }
  void* copy = std::malloc(plan->size());  // the C ABI hands out malloc'ed memory (freeMemory)
  if (!copy) throw Failure(LOTUS_TRT_FAILED, "out of host memory for a plan of " + std::to_string(plan->size()) + " bytes");
  std::memcpy(copy, plan->data(), plan->size());
  *planOut = copy;
  *planSize = plan->size();
}

}  // namespace lotus_trt
