#!/usr/bin/env node
// The package's install step, and the source build behind it (docs/install.md).
//
//   node scripts/build-native.js --if-missing   npm install: keep a binary that loads (a prebuild
//                                               in prebuilds/ or an earlier build/), else build
//   node scripts/build-native.js                always build from source into build/Release
//
// A prebuild for this platform that fails to load is an error with its real cause: it is never
// silently replaced by a source build, which would hide that cause behind a compiler error.
// Source builds need CMake >= 3.20 and a C++17 compiler; with nvcc (CUDA 12/13) they include the
// GPU path and the TensorRT plugins, without it they make a CPU-only addon.
// Environment: CUDACXX (nvcc), TENSORRT_ROOT / LOTUS_TENSORRT_ROOTS (TensorRT headers),
// LOTUS_CUDA_ARCHITECTURES (e.g. "75-real" for a quick development build), LOTUS_GPU=OFF.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const say = makeReporter();

/** npm hides dependency install scripts' output: the one line that says what happens goes to the terminal too. */
function makeReporter() {
  let tty = null;
  if (!process.stderr.isTTY && process.env.npm_lifecycle_event === 'install' && process.env.npm_config_foreground_scripts !== 'true') {
    try {
      tty = fs.openSync('/dev/tty', 'w');
    } catch {
      tty = null;
    }
  }
  return (line) => {
    const text = `lotus-trt: ${line}\n`;
    process.stderr.write(text);
    if (tty !== null) {
      try {
        fs.writeSync(tty, text);
      } catch {
        tty = null;
      }
    }
  };
}

function fail(message) {
  for (const line of message.split('\n')) process.stderr.write(`lotus-trt: ${line}\n`);
  process.exit(1);
}

/** `npm install --build-from-source`, or `--build-from-source=lotus-trt` naming this package. */
function buildFromSourceRequested() {
  const value = process.env.npm_config_build_from_source;
  if (!value || value === 'false') return false;
  return value === 'true' || value === '' || value.split(',').map((s) => s.trim()).includes('lotus-trt');
}

/** The binary node-gyp-build would load (build/ first, then prebuilds/), or null when there is none. */
function resolveBinary() {
  try {
    return require('node-gyp-build').resolve(root);
  } catch {
    return null;
  }
}

function describe(binding) {
  const b = binding.buildInfo ?? {};
  if (!b.gpu) return `CPU-only (${b.cpuOnlyReason ?? 'no GPU support compiled in'})`;
  const cuda = `${Math.floor(b.cudaRuntimeVersion / 1000)}.${Math.floor((b.cudaRuntimeVersion % 1000) / 10)}`;
  return `GPU build, CUDA ${cuda}, architectures ${(b.cudaArchitectures ?? []).join(' ')}`;
}

function keepExistingBinary() {
  const binary = resolveBinary();
  if (!binary) return false;
  const prebuilt = binary.startsWith(path.join(root, 'prebuilds') + path.sep);
  try {
    const binding = require(binary);
    say(`using the ${prebuilt ? 'prebuilt' : 'existing'} binary ${path.relative(root, binary)}: ${describe(binding)}`);
    return true;
  } catch (error) {
    if (!prebuilt) {
      say(`the existing build ${path.relative(root, binary)} does not load (${error.message.split('\n')[0]}); rebuilding`);
      return false;
    }
    fail(
      `the prebuilt binary ${path.relative(root, binary)} failed to load:\n` +
      `  ${error.message.split('\n').join('\n  ')}\n` +
      'It needs Linux with glibc >= 2.28 (docs/install.md, "System requirements"). To compile it on this machine\n' +
      'instead (CMake >= 3.20, a C++17 compiler; nvcc for the GPU path): npm rebuild lotus-trt --build-from-source',
    );
  }
  return false;
}

/** A working nvcc: CUDACXX, then PATH, then the usual install folder. */
function findNvcc() {
  const candidates = [];
  if (process.env.CUDACXX) candidates.push(process.env.CUDACXX);
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) candidates.push(path.join(dir, 'nvcc'));
  candidates.push('/usr/local/cuda/bin/nvcc');
  for (const candidate of candidates) {
    const result = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (result.status === 0) {
      const release = /release (\d+\.\d+)/.exec(result.stdout);
      return { path: candidate, version: release ? release[1] : 'unknown' };
    }
  }
  return null;
}

/** Every TensorRT root the user named must hold the headers the plugin needs (CMake checks again). */
function checkTensorRTRoots(roots) {
  for (const rootDir of roots.split(':').filter(Boolean)) {
    const missing = ['NvInfer.h', 'NvInferVersion.h', 'NvOnnxParser.h'].filter((h) => !fs.existsSync(path.join(rootDir, 'include', h)));
    if (missing.length) {
      fail(`TENSORRT_ROOT / LOTUS_TENSORRT_ROOTS: ${rootDir}/include has no ${missing.join(', ')}. Point it at a TensorRT 10 or 11\n` +
        'install (the folder with include/ and lib/), or unset it to build without the TensorRT plugin.');
    }
  }
}

function sourceBuild(why) {
  const env = { ...process.env };
  const trtRoots = env.LOTUS_TENSORRT_ROOTS || env.TENSORRT_ROOT || '';
  checkTensorRTRoots(trtRoots);
  const nvcc = env.LOTUS_GPU === 'OFF' ? null : findNvcc();
  if (nvcc) {
    env.CUDACXX = nvcc.path;
    // A development checkout compiles PTX once (any GPU >= 7.5 runs it after a JIT on first use);
    // installed packages and releases compile SASS for every architecture.
    if (!env.LOTUS_CUDA_ARCHITECTURES && !insideNodeModules) env.LOTUS_CUDA_ARCHITECTURES = '75-virtual';
    const archs = env.LOTUS_CUDA_ARCHITECTURES
      ? `${env.LOTUS_CUDA_ARCHITECTURES}${insideNodeModules ? '' : ' (development checkout; LOTUS_CUDA_ARCHITECTURES=all for every SASS)'}`
      : 'every architecture CUDA supports (75..121 + PTX)';
    say(`building the native addon from source (${why}): GPU build with nvcc ${nvcc.version} (${nvcc.path}) for ${archs}; ` +
      `TensorRT plugin: ${trtRoots ? `headers from ${trtRoots}` : 'headers from the usual folders, if any'}`);
  } else {
    if (trtRoots) {
      fail(`TENSORRT_ROOT / LOTUS_TENSORRT_ROOTS is set (${trtRoots}) but no CUDA compiler was found: the TensorRT\n` +
        'backend needs a GPU build. Put nvcc (CUDA 12.x or 13.x) on PATH or set CUDACXX, or unset TENSORRT_ROOT.');
    }
    if (env.LOTUS_GPU === 'ON') fail('LOTUS_GPU=ON but no CUDA compiler (nvcc) was found: set CUDACXX or put nvcc on PATH.');
    if (env.LOTUS_GPU !== 'OFF') env.LOTUS_CPU_ONLY_REASON = 'built from source without the CUDA toolkit (no nvcc found)';
    env.LOTUS_GPU = 'OFF';
    say(`building the native addon from source (${why}): CPU-only, because no CUDA compiler (nvcc) was found. ` +
      'The CPU backend works; the TensorRT backend needs a GPU build (docs/install.md).');
  }
  const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--directory', root];
  if (process.env.npm_config_debug === 'true') args.push('--debug');
  const started = Date.now();
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'], env, cwd: root });
  if (result.status !== 0) {
    fail('building the native addon failed (output above). It needs CMake >= 3.20 and a C++17 compiler' +
      `${nvcc ? `, and nvcc ${nvcc.version} must accept this host compiler` : ''}; docs/install.md has the details.`);
  }
  let binding;
  try {
    binding = require(path.join(root, 'build', 'Release', 'lotus.node'));
  } catch (error) {
    fail(`the freshly built addon does not load: ${error.message}`);
  }
  say(`built build/Release/lotus.node in ${((Date.now() - started) / 1000).toFixed(0)} s: ${describe(binding)}`);
}

/** After an install-time build only the binaries are kept (CMake's intermediates are tens of MB). */
function pruneBuildFolder() {
  const buildDir = path.join(root, 'build');
  for (const entry of fs.readdirSync(buildDir)) {
    if (entry !== 'Release' && entry !== 'Debug') fs.rmSync(path.join(buildDir, entry), { recursive: true, force: true });
  }
  for (const config of ['Release', 'Debug']) {
    const dir = path.join(buildDir, config);
    if (!fs.existsSync(dir)) continue;
    for (const entry of fs.readdirSync(dir)) {
      if (!/\.(node|so)$/.test(entry)) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
}

const installing = process.argv.includes('--if-missing');
const insideNodeModules = path.basename(path.dirname(root)) === 'node_modules' || path.basename(path.dirname(path.dirname(root))) === 'node_modules';
const fromSource = buildFromSourceRequested();
if (installing && !fromSource && keepExistingBinary()) process.exit(0);
const reason = fromSource ? '--build-from-source was given'
  : installing ? `no prebuilt binary for ${process.platform}-${process.arch} in this package` : 'asked for';
sourceBuild(reason);
// A development checkout keeps CMake's folder for the next build; an installed package does not.
if (installing && insideNodeModules) pruneBuildFolder();
