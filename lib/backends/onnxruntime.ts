// Where onnxruntime-node comes from. The published package carries a copy of onnxruntime-node
// 1.30's JS and its Linux binaries in vendor/onnxruntime-node, without that package's install
// script (which downloads CUDA provider files from a NuGet feed on every linux-x64 install; the CPU
// backend never loads them). A development checkout, or a platform the copy lacks, uses the
// onnxruntime-node package from node_modules. docs/install.md explains the choice.
import fs from 'node:fs';
import path from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { BackendUnavailableError } from '../errors';

const vendored = path.join(__dirname, '..', '..', 'vendor', 'onnxruntime-node');

function vendoredFor(platform: string, arch: string): boolean {
  return fs.existsSync(path.join(vendored, 'bin', 'napi-v6', platform, arch, 'onnxruntime_binding.node'));
}

/** The module path the CPU backend loads onnxruntime from. */
export function onnxruntimeLocation(): string {
  return vendoredFor(process.platform, process.arch) ? vendored : 'onnxruntime-node';
}

let cached: typeof Ort | undefined;

/** onnxruntime-node, loaded on first use (CPU backend only). */
export function onnxruntime(): typeof Ort {
  if (cached) return cached;
  const location = onnxruntimeLocation();
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    cached = require(location) as typeof Ort;
  } catch (error) {
    throw new BackendUnavailableError(
      `the CPU backend could not load onnxruntime (${location}): ${(error as Error).message.split('\n')[0]}. ` +
      `lotus-trt ships onnxruntime for linux-x64 and linux-arm64; on ${process.platform}-${process.arch} install it: ` +
      'npm install onnxruntime-node@1.30.0',
      { cause: error },
    );
  }
  return cached;
}

/** The onnxruntime-node version in use, or null when it cannot be read. */
export function onnxruntimeVersion(): string | null {
  try {
    const location = onnxruntimeLocation();
    const file = location === vendored ? path.join(vendored, 'package.json') : require.resolve('onnxruntime-node/package.json');
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}
