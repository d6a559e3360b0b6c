#!/usr/bin/env node
// The release command (`npm run release`): makes everything `npm pack` / `npm publish` ship besides
// dist/, and checks it. docs/install.md, "Making a release".
//
//   prebuilds/linux-x64/lotus-trt.napi.glibc.node   GPU build: SASS for every architecture CUDA 13
//                                                   compiles (75..121) + PTX, static cudart
//   prebuilds/linux-x64/lotus_tensorrt{10,11}.so    TensorRT plugins, when headers are given
//   prebuilds/linux-arm64/lotus-trt.napi.glibc.node CPU-only, cross-compiled (g++-aarch64-linux-gnu)
//   vendor/onnxruntime-node/                        onnxruntime-node's JS + Linux binaries, no install script
//   prebuilds/manifest.json                         what was built, checked by `npm pack` (check-pack.js)
//
// Every binary links libstdc++ statically and glibc through stubs capped at 2.28
// (glibc-stubs.js); check-glibc.sh and cuda-archs.js verify the result.
//
//   npm run release -- --tensorrt /opt/TensorRT-11.1/include:/opt/TensorRT-10.16/include
//   npm run release -- --dev      quick build for CI / local pack tests: the GPU architectures of
//                                 LOTUS_CUDA_ARCHITECTURES (default 75-real), arm64 only when the
//                                 cross compiler is installed; the manifest says "dev" and
//                                 `npm publish` refuses it
'use strict';
const { spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const root = path.resolve(__dirname, '..', '..');
const { values } = parseArgs({
  options: {
    tensorrt: { type: 'string' },  // include dirs (or install roots), ':'-separated, one per TensorRT major
    dev: { type: 'boolean', default: false },
    'skip-arm64': { type: 'boolean', default: false },
  },
});
const pkg = require(path.join(root, 'package.json'));
const work = path.join(root, 'build-release');
const GLIBC_BASELINE = '2.28';
// What a release's linux-x64 prebuild must contain (CMakeLists.txt, LOTUS_CUDA_ARCHITECTURES_ALL).
const RELEASE_SASS = [75, 80, 86, 87, 88, 89, 90, 100, 103, 110, 120, 121];
const RELEASE_PTX = [121];

const log = (line) => console.log(`[release] ${line}`);
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}
const has = (command) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

/** TensorRT roots for CMake from --tensorrt (include dirs or roots; LOTUS_TENSORRT_ROOTS wants roots). */
function tensorrtRoots() {
  const given = values.tensorrt ?? process.env.LOTUS_TENSORRT_ROOTS ?? '';
  return given.split(':').filter(Boolean).map((p) => {
    const dir = path.resolve(p);
    if (fs.existsSync(path.join(dir, 'NvInfer.h'))) return path.dirname(dir);
    if (fs.existsSync(path.join(dir, 'include', 'NvInfer.h'))) return dir;
    throw new Error(`--tensorrt ${p}: no NvInfer.h in it or in its include/`);
  });
}

function glibcStubs(name, libdir, cc) {
  const out = path.join(work, `glibc-stubs-${name}`);
  fs.rmSync(out, { recursive: true, force: true });
  run(process.execPath, [path.join(__dirname, 'glibc-stubs.js'), '--libdir', libdir, '--cc', cc, '--out', out,
    '--baseline', GLIBC_BASELINE], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

/** cmake-js into build-release/<target>; returns the Release folder. */
function cmakeBuild(target, env, extraDefines) {
  const out = path.join(work, target);
  fs.rmSync(out, { recursive: true, force: true });
  const defines = { LOTUS_PORTABLE: 'ON', ...extraDefines };
  const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--directory', root, '--out', out,
    ...Object.entries(defines).map(([k, v]) => `--CD${k}=${v}`)];
  const started = Date.now();
  run(process.execPath, args, { env: { ...process.env, ...env } });
  log(`${target}: built in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return path.join(out, 'Release');
}

function stripInto(files, destination, strip) {
  fs.rmSync(destination, { recursive: true, force: true });
  fs.mkdirSync(destination, { recursive: true });
  const placed = [];
  for (const [from, name] of files) {
    const to = path.join(destination, name);
    fs.copyFileSync(from, to);
    run(strip, ['--strip-unneeded', to]);
    placed.push(to);
  }
  return placed;
}

function buildX64() {
  const roots = tensorrtRoots();
  const archs = values.dev ? (process.env.LOTUS_CUDA_ARCHITECTURES || '75-real') : '';
  const stubs = glibcStubs('x64', '/lib/x86_64-linux-gnu', 'gcc');
  log(`linux-x64: GPU build, architectures ${archs || 'all (release)'}, TensorRT plugins from ${roots.join(', ') || 'none'}`);
  const release = cmakeBuild('linux-x64', {
    LOTUS_GPU: 'ON',
    LOTUS_CPU_ONLY_REASON: '',
    LOTUS_CUDA_ARCHITECTURES: archs,
    LOTUS_TENSORRT_ROOTS: roots.join(':'),
    TENSORRT_ROOT: '',
    CUDACXX: process.env.CUDACXX || (fs.existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : 'nvcc'),
  }, { LOTUS_GLIBC_STUBS: stubs });
  const plugins = fs.readdirSync(release).filter((f) => /^lotus_tensorrt\d+\.so$/.test(f)).sort();
  if (roots.length && plugins.length !== roots.length) throw new Error(`expected ${roots.length} TensorRT plugins, built ${plugins.join(', ')}`);
  const files = [[path.join(release, 'lotus.node'), 'lotus-trt.napi.glibc.node'], ...plugins.map((p) => [path.join(release, p), p])];
  return { placed: stripInto(files, path.join(root, 'prebuilds', 'linux-x64'), 'strip'), plugins, archs };
}

function buildArm64() {
  const stubs = glibcStubs('arm64', '/usr/aarch64-linux-gnu/lib', 'aarch64-linux-gnu-gcc');
  log('linux-arm64: CPU-only cross build (aarch64-linux-gnu-g++)');
  const release = cmakeBuild('linux-arm64', {
    LOTUS_GPU: 'OFF',
    LOTUS_CPU_ONLY_REASON: 'the linux-arm64 prebuild is cross-compiled without CUDA',
    TENSORRT_ROOT: '',
    LOTUS_TENSORRT_ROOTS: '',
  }, {
    LOTUS_GLIBC_STUBS: stubs,
    CMAKE_TOOLCHAIN_FILE: path.join(root, 'native', 'portability', 'aarch64-linux-gnu.cmake'),
  });
  // The host pixel math must not fuse multiply-adds (g++ does on aarch64 unless -ffp-contract=off):
  // it would no longer match the x86-64 build and the CUDA kernels bit for bit (scripts/check-fp-contract.sh).
  const coreObjects = path.join(work, 'linux-arm64', 'CMakeFiles', 'lotus_core.dir', 'native', 'core');
  for (const object of ['host_pipeline.cc.o', 'pipeline_geometry.cc.o']) {
    const text = execFileSync('aarch64-linux-gnu-objdump', ['-d', path.join(coreObjects, object)], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const fused = (text.match(/\s(fmadd|fmsub|fnmadd|fnmsub|fmla|fmls)\s/g) ?? []).length;
    if (fused) throw new Error(`${object}: ${fused} fused multiply-add instructions; -ffp-contract=off is not in effect`);
  }
  log('linux-arm64: no fused multiply-adds in the host pixel math');
  const files = [[path.join(release, 'lotus.node'), 'lotus-trt.napi.glibc.node']];
  return { placed: stripInto(files, path.join(root, 'prebuilds', 'linux-arm64'), 'aarch64-linux-gnu-strip') };
}

/** onnxruntime-node's runtime files for the prebuilt platforms, without its install script. */
function vendorOnnxruntime(platforms) {
  const source = path.dirname(require.resolve('onnxruntime-node/package.json', { paths: [root] }));
  const manifest = require(path.join(source, 'package.json'));
  const common = pkg.dependencies['onnxruntime-common'];
  if (manifest.version !== common) throw new Error(`onnxruntime-node ${manifest.version} != onnxruntime-common ${common} in package.json`);
  const target = path.join(root, 'vendor', 'onnxruntime-node');
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(path.join(target, 'dist'), { recursive: true });
  for (const file of fs.readdirSync(path.join(source, 'dist'))) {
    if (file.endsWith('.js') || file.endsWith('.d.ts')) fs.copyFileSync(path.join(source, 'dist', file), path.join(target, 'dist', file));
  }
  for (const [platform, arch] of platforms) {
    const from = path.join(source, 'bin', 'napi-v6', platform, arch);
    const to = path.join(target, 'bin', 'napi-v6', platform, arch);
    fs.mkdirSync(to, { recursive: true });
    for (const file of fs.readdirSync(from)) fs.copyFileSync(path.join(from, file), path.join(to, file));
  }
  fs.writeFileSync(path.join(target, 'package.json'), `${JSON.stringify({
    name: 'onnxruntime-node',
    version: manifest.version,
    description: `${manifest.description}: the runtime files of the npm package, for ${platforms.map((p) => p.join('-')).join(', ')}, ` +
      'without its install script (copied by lotus-trt scripts/release/prebuilds.js)',
    license: manifest.license,
    main: manifest.main,
    types: manifest.types,
    dependencies: { 'onnxruntime-common': manifest.dependencies['onnxruntime-common'] },
  }, null, 2)}\n`);
  fs.writeFileSync(path.join(target, 'LICENSE'), `onnxruntime-node ${manifest.version}, copied unchanged from the npm package.

MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`);
  return manifest.version;
}

function checkBinaries(files) {
  run('bash', [path.join(__dirname, 'check-glibc.sh'), '--max', GLIBC_BASELINE, ...files]);
}

function main() {
  const started = Date.now();
  fs.mkdirSync(work, { recursive: true });
  fs.rmSync(path.join(root, 'prebuilds'), { recursive: true, force: true });
  const targets = {};

  const x64 = buildX64();
  checkBinaries(x64.placed);
  const archCheck = [path.join(__dirname, 'cuda-archs.js'), x64.placed[0], '--json'];
  if (!values.dev) archCheck.push('--expect', RELEASE_SASS.join(','), '--expect-ptx', RELEASE_PTX.join(','));
  const archs = JSON.parse(execFileSync(process.execPath, archCheck, { encoding: 'utf8' }));
  log(`linux-x64: SASS sm_${archs.sass.join(' sm_')}; PTX compute_${archs.ptx.join(' compute_') || '(none)'}`);
  targets['linux-x64'] = { gpu: true, sass: archs.sass, ptx: archs.ptx, tensorrtPlugins: x64.plugins, files: x64.placed.map((f) => path.relative(root, f)) };

  const platforms = [['linux', 'x64']];
  if (values['skip-arm64'] || (values.dev && !has('aarch64-linux-gnu-g++'))) {
    if (!values.dev) throw new Error('--skip-arm64 is for --dev builds only: a release ships linux-arm64');
    log('linux-arm64: skipped (dev build without aarch64-linux-gnu-g++; apt-get install g++-aarch64-linux-gnu)');
  } else {
    if (!has('aarch64-linux-gnu-g++')) throw new Error('the linux-arm64 prebuild needs aarch64-linux-gnu-g++ (apt-get install g++-aarch64-linux-gnu)');
    const arm64 = buildArm64();
    checkBinaries(arm64.placed);
    targets['linux-arm64'] = { gpu: false, files: arm64.placed.map((f) => path.relative(root, f)) };
    platforms.push(['linux', 'arm64']);
  }

  const onnxruntime = vendorOnnxruntime(platforms);
  const manifest = {
    package: pkg.name,
    version: pkg.version,
    kind: values.dev ? 'dev' : 'release',
    glibcMinimum: GLIBC_BASELINE,
    onnxruntimeNode: onnxruntime,
    targets,
  };
  fs.writeFileSync(path.join(root, 'prebuilds', 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s: ${Object.keys(targets).join(', ')} (${manifest.kind}); now npm pack / npm publish`);
}

try {
  main();
} catch (error) {
  console.error(`[release] failed: ${error.message}`);
  process.exit(1);
}
