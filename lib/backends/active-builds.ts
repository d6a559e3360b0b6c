// Engine builds in progress are cancelled when the process exits. process.exit() joins the libuv
// thread pool, so a build (minutes) running on a pool thread would hold the exit until it ends;
// cancelling goes through the build's progress monitor, which TensorRT polls between steps, and
// the pool thread returns at the next one. (native/addon/tensorrt_binding.cc does the same from
// an environment cleanup hook for worker threads.)

export interface CancellableBuild {
  cancel(): void;
}

const active = new Set<CancellableBuild>();
let exitHooked = false;

function cancelAll(): void {
  for (const build of active) {
    try {
      build.cancel();
    } catch {
      // Exiting anyway: one failed cancel must not stop the others.
    }
  }
  active.clear();
}

/** Registers a running build; call the returned function when it settles. */
export function trackBuild(build: CancellableBuild): () => void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', cancelAll);
  }
  active.add(build);
  return () => {
    active.delete(build);
  };
}

/** Builds running now (tests). */
export function activeBuildCount(): number {
  return active.size;
}
