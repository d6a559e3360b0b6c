// Loads the native addon (prebuild or local build) once. The addon loads without a GPU or TensorRT.
import path from 'node:path';
import type * as Binding from '../../binding';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const nodeGypBuild: (dir: string) => unknown = require('node-gyp-build');

let cached: typeof Binding | undefined;

/** The raw native surface (see binding.d.ts). Throws if the addon is missing or cannot load. */
export function native(): typeof Binding {
  if (!cached) cached = nodeGypBuild(path.join(__dirname, '..', '..')) as typeof Binding;
  return cached;
}
