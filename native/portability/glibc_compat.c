/* Definitions of the glibc symbols newer than the prebuilds' baseline (2.28) that the static
 * libstdc++ or the headers of the build machine's glibc refer to. Linked (hidden) into release
 * prebuilds only, together with the stub libraries of scripts/release/glibc-stubs.js; each one does
 * what glibc < 2.33 did through the calls that exist there. scripts/release/check-glibc.sh fails
 * when a new one is needed. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOTUS_HIDDEN __attribute__((visibility("hidden")))

/* glibc 2.32. 0 = "other threads may exist": libstdc++ then always uses atomic reference counts. */
LOTUS_HIDDEN char __libc_single_threaded = 0;

/* glibc 2.33 made fstat64 a real function; before, <sys/stat.h> called __fxstat64 with the ABI's
 * stat version (1 on x86-64, 0 on the generic ABI of aarch64). */
#if defined(__x86_64__)
#define LOTUS_STAT_VER 1
#else
#define LOTUS_STAT_VER 0
#endif
extern int __fxstat64(int ver, int fd, struct stat64* buf);
LOTUS_HIDDEN int fstat64(int fd, struct stat64* buf) { return __fxstat64(LOTUS_STAT_VER, fd, buf); }

/* glibc 2.36 (libstdc++'s random_device): the kernel's generator through getrandom (2.25), which
 * blocks only until the pool is first seeded; /dev/urandom when the kernel lacks it. */
LOTUS_HIDDEN uint32_t arc4random(void) {
  uint32_t value = 0;
  unsigned char* out = (unsigned char*)&value;
  size_t have = 0;
  while (have < sizeof value) {
    ssize_t n = getrandom(out + have, sizeof value - have, 0);
    if (n > 0) {
      have += (size_t)n;
    } else if (n < 0 && errno == ENOSYS) {
      int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        while (have < sizeof value) {
          ssize_t r = read(fd, out + have, sizeof value - have);
          if (r > 0) have += (size_t)r;
          else if (r < 0 && errno != EINTR) break;
        }
        close(fd);
      }
      break;
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  return value;
}
