// Loads the native addon (prebuild or local build) once. The addon loads without a GPU or TensorRT.
import path from 'node:path';
import type * as Binding from '../../binding';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild: (dir: string) => unknown = require('node-gyp-build');

let cached: typeof Binding | undefined;

/** The raw native surface (see binding.d.ts). Throws if the addon is missing or cannot load. */
export function native(): typeof Binding {
  if (!cached) {
    try {
      cached = nodeGypBuild(path.join(__dirname, '..', '..')) as typeof Binding;
    } catch (error) {
      // The loader's own message is the real cause (a missing prebuild, or dlopen's "GLIBC_2.xx not found").
      const cause = (error as Error).message.trim();
      throw new Error(`lotus-trt: the native addon failed to load: ${cause}\n` +
        'Prebuilt binaries cover linux-x64 and linux-arm64 with glibc >= 2.28; elsewhere build it: ' +
        'npm rebuild lotus-trt --build-from-source (docs/install.md)', { cause: error });
    }
  }
  return cached;
}
