#!/usr/bin/env node
// Builds the native addon from source with cmake-js. `npm install` runs it with --if-missing: a
// prebuild (or an earlier build) that loads is kept, as node-gyp-build's own install step would,
// without that step's unconditional `node-gyp rebuild` (this project builds with CMake).
// Environment: TENSORRT_ROOT / LOTUS_TENSORRT_ROOTS (TensorRT headers for the plugin),
// LOTUS_CUDA_ARCHITECTURES (e.g. "native" for a quick local build), CUDACXX (nvcc path).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');

function existingBinaryLoads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

const fromSource = process.env.npm_config_build_from_source === 'true';
if (process.argv.includes('--if-missing') && !fromSource && existingBinaryLoads()) process.exit(0);
const env = { ...process.env };
if (!env.CUDACXX) {
  for (const candidate of ['/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc']) {
    if (fs.existsSync(candidate)) {
      env.CUDACXX = candidate;
      break;
    }
  }
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'rebuild', '--directory', root];
if (process.env.npm_config_debug === 'true') args.push('--debug');
const result = spawnSync(process.execPath, args, { stdio: 'inherit', env, cwd: root });
if (result.status !== 0) {
  console.error('lotus-trt: building the native addon failed. It needs CMake >= 3.20, a C++17 compiler and the CUDA toolkit (nvcc).');
  process.exit(result.status ?? 1);
}
