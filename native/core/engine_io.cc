#include "core/engine_io.h"

#include <string>

#include "core/errors.h"

namespace lotus {
namespace {

std::string dimsText(const std::vector<int64_t>& dims) {
  std::string text = "[";
  for (size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// Rank 4 with the given channel count (-1 = dynamic, which TensorRT resolves at enqueue).
std::string shapeProblem(const TensorDesc& tensor, int64_t channels, const char* expected) {
  if (tensor.dims.size() == 4 && (tensor.dims[1] == channels || tensor.dims[1] == -1)) return "";
  return std::string(tensor.isInput ? "input" : "output") + " `" + tensor.name + "` is " + dimsText(tensor.dims) +
         ", expected " + expected;
}

}  // namespace

EngineIo checkEngineIo(const std::vector<TensorDesc>& tensors, bool generation) {
  EngineIo io;
  std::vector<std::string> problems;
  for (const TensorDesc& tensor : tensors) {
    const char* direction = tensor.isInput ? "input" : "output";
    if (tensor.isInput && tensor.name == "image") {
      io.image = tensor;
    } else if (tensor.isInput && tensor.name == "noise" && generation) {
      io.noise = tensor;
    } else if (tensor.isInput && tensor.name == "noise") {
      problems.push_back("input `noise` in a regression (D) model, which takes none (lotus.mode says regression)");
    } else if (!tensor.isInput && tensor.name == "prediction") {
      io.prediction = tensor;
    } else if (tensor.name == "image" || tensor.name == "noise" || tensor.name == "prediction") {
      problems.push_back("`" + tensor.name + "` is an " + direction + ", the contract makes it an " +
                         (tensor.name == "prediction" ? "output" : "input"));
    } else {
      problems.push_back(std::string(direction) + " `" + tensor.name + "`, which the Lotus pipeline does not " +
                         (tensor.isInput ? "feed" : "read"));
    }
  }
  if (io.image.name.empty()) problems.push_back("no input `image`");
  if (generation && io.noise.name.empty()) problems.push_back("no input `noise` (a generation (G) model takes one)");
  if (io.prediction.name.empty()) problems.push_back("no output `prediction`");
  if (!io.image.name.empty()) {
    std::string problem = shapeProblem(io.image, 3, "[N, 3, H, W]");
    if (!problem.empty()) problems.push_back(problem);
  }
  if (!io.noise.name.empty()) {
    std::string problem = shapeProblem(io.noise, 4, "[N, 4, floor(H / 8), floor(W / 8)]");
    if (!problem.empty()) problems.push_back(problem);
  }
  if (!io.prediction.name.empty()) {
    std::string problem = shapeProblem(io.prediction, 3, "[N, 3, 8 * floor(H / 8), 8 * floor(W / 8)]");
    if (!problem.empty()) problems.push_back(problem);
  }
  if (!problems.empty()) {
    std::string message = "the TensorRT engine does not fit the Lotus model contract (inputs image" +
                          std::string(generation ? " and noise" : "") + ", output prediction): ";
    for (size_t i = 0; i < problems.size(); ++i) message += (i ? "; " : "") + problems[i];
    throw Error(ErrorCode::Model, message);
  }
  return io;
}

}  // namespace lotus
