#include "tensorrt/timing_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <vector>

#include "tensorrt/logger.h"

namespace lotus_trt {
namespace {

// flock on a sibling lock file: released when the descriptor closes, even if the process dies.
class FileLock {
 public:
  explicit FileLock(const std::string& path) {
    const std::string lockPath = path + ".lock";
    fd_ = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Failure(LOTUS_TRT_FAILED, "timing cache: cannot open " + lockPath + ": " + std::strerror(errno));
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd_);
      throw Failure(LOTUS_TRT_FAILED, "timing cache: cannot lock " + lockPath + ": " + std::strerror(saved));
    }
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

std::vector<char> readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void writeAtomically(const std::string& path, const void* data, size_t size) {
  const std::string temp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.flush();
    if (!out) {
      std::remove(temp.c_str());
      throw Failure(LOTUS_TRT_FAILED, "timing cache: cannot write " + temp);
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    std::remove(temp.c_str());
    throw Failure(LOTUS_TRT_FAILED, "timing cache: cannot rename to " + path + ": " + std::strerror(saved));
  }
}

}  // namespace

TrtPtr<nvinfer1::ITimingCache> attachTimingCache(nvinfer1::IBuilderConfig& config, const std::string& path) {
  std::vector<char> bytes;
  {
    FileLock lock(path);
    bytes = readAll(path);
  }
  TrtPtr<nvinfer1::ITimingCache> cache;
  {
    // A corrupt or foreign cache file is not fatal: start from an empty cache (it is rewritten after).
    LogCapture ignored;
    if (!bytes.empty()) cache.reset(config.createTimingCache(bytes.data(), bytes.size()));
  }
  LogCapture capture;
  if (!cache) cache.reset(config.createTimingCache(nullptr, 0));
  if (!cache) throw Failure(LOTUS_TRT_FAILED, capture.describe("createTimingCache failed"));
  // ignoreMismatch: a cache from another device/version is still attached; TensorRT skips stale entries.
  if (!config.setTimingCache(*cache, true)) throw Failure(LOTUS_TRT_FAILED, capture.describe("setTimingCache failed"));
  return cache;
}

void saveTimingCache(nvinfer1::IBuilderConfig& config, const std::string& path) {
  const nvinfer1::ITimingCache* built = config.getTimingCache();
  if (!built) return;
  FileLock lock(path);
  // Another process may have written the file since we read it: merge into what is there now.
  std::vector<char> current = readAll(path);
  TrtPtr<nvinfer1::ITimingCache> merged;
  {
    LogCapture ignored;
    if (!current.empty()) merged.reset(config.createTimingCache(current.data(), current.size()));
    if (merged && !merged->combine(*built, false)) merged.reset();
  }
  LogCapture capture;
  TrtPtr<nvinfer1::IHostMemory> blob(merged ? merged->serialize() : built->serialize());
  if (!blob) throw Failure(LOTUS_TRT_FAILED, capture.describe("timing cache serialize failed"));
  writeAtomically(path, blob->data(), blob->size());
}

}  // namespace lotus_trt
