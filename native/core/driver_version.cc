#include "core/driver_version.h"

#include <fstream>
#include <sstream>

namespace lotus {
namespace {

std::string firstLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  if (in) std::getline(in, line);
  return line;
}

bool isVersionChar(char c) { return (c >= '0' && c <= '9') || c == '.'; }

}  // namespace

std::string nvidiaDriverRelease() {
  std::string version = firstLine("/sys/module/nvidia/version");
  while (!version.empty() && !isVersionChar(version.back())) version.pop_back();
  if (!version.empty()) return version;
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.65.06  Sun Jul 27 ..."
  std::istringstream words(firstLine("/proc/driver/nvidia/version"));
  std::string word, previous;
  while (words >> word) {
    if (previous == "Module" && !word.empty() && isVersionChar(word[0])) return word;
    previous = word;
  }
  return "";
}

DriverRequirement driverRequirement(int runtimeVersion) {
  DriverRequirement requirement;
  const int major = runtimeVersion / 1000;
  requirement.cudaVersion = major * 1000;
  // NVIDIA's CUDA release notes, "minimum required driver version for CUDA minor version compatibility".
  if (major == 13) requirement.release = "580.65.06";
  if (major == 12) requirement.release = "525.60.13";
  return requirement;
}

std::string cudaVersionNumber(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

std::string cudaVersionText(int version) { return "CUDA " + cudaVersionNumber(version); }

}  // namespace lotus
