// What `npm pack` ships and refuses to ship, and how the install step treats a prebuild that does
// not load. The end-to-end install of a packed tarball (toolkit hidden) is .ci/package-smoke.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { tempFolder } from './helpers/temp-folder';

const ROOT = path.resolve(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const { dir: tmp } = tempFolder('lotus-packaging-test-');

describe('package contents', () => {
  // --ignore-scripts: the prepack guard (tested below) needs prebuilds, which a clone has not made.
  const listing = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
  const files: string[] = listing.status === 0 ? JSON.parse(listing.stdout)[0].files.map((f: { path: string }) => f.path) : [];

  test('ships the runtime, the sources a source build needs, docs and LICENSE; nothing for developers only', () => {
    expect(listing.status, listing.stderr).toBe(0);
    for (const file of ['LICENSE', 'README.md', 'package.json', 'CMakeLists.txt', 'binding.d.ts', 'dist/index.js', 'dist/index.mjs',
      'dist/index.d.ts', 'dist/index.d.mts', 'dist/cli.js', 'docs/install.md', 'scripts/build-native.js', 'scripts/export',
      'scripts/requirements-export.txt', 'scripts/lotus_export/export.py', 'native/core/host_pipeline.cc',
      'native/portability/portable.cmake']) {
      expect(files, file).toContain(file);
    }
    const forbidden = files.filter((f) => /\.(js|ts)\.map$/.test(f) || f.startsWith('native/tests/') || f.startsWith('native/checks/') ||
      f.startsWith('test/') || f.startsWith('scripts/release/') || f.startsWith('.ci/') ||
      /scripts\/lotus_export\/(tiny|fixtures|full)\.py$/.test(f) || /requirements-dev\.txt$/.test(f) || f.startsWith('build/'));
    expect(forbidden).toEqual([]);
  });

  test('metadata: license, repository, exports with types for import and require', () => {
    expect(pkg.license).toBe('Apache-2.0');
    expect(fs.readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')).toMatch(/Apache License\s+Version 2\.0/);
    for (const field of ['repository', 'homepage', 'bugs', 'keywords']) expect(pkg[field], field).toBeTruthy();
    expect(pkg.exports['.']).toEqual({
      import: { types: './dist/index.d.mts', default: './dist/index.mjs' },
      require: { types: './dist/index.d.ts', default: './dist/index.js' },
    });
    // onnxruntime-node's install script downloads CUDA provider files: it is a dev dependency only,
    // the package ships its runtime files (vendor/) and depends on its JS half.
    expect(pkg.dependencies['onnxruntime-node']).toBeUndefined();
    expect(pkg.dependencies['onnxruntime-common']).toBe(pkg.devDependencies['onnxruntime-node']);
  });

  test('every relative link in the shipped docs points at a shipped file', () => {
    const docs = files.filter((f) => f.endsWith('.md'));
    const broken: string[] = [];
    for (const doc of docs) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const resolved = path.normalize(path.join(path.dirname(doc), target!));
        if (!files.includes(resolved) && !files.some((f) => f.startsWith(`${resolved}/`))) broken.push(`${doc} -> ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('npm pack refuses a package without prebuilt binaries', () => {
  const checkPack = path.join(ROOT, 'scripts', 'release', 'check-pack.js');
  const run = (root: string, args: string[] = [], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [checkPack, '--root', root, ...args], { encoding: 'utf8', env: { ...process.env, LOTUS_ALLOW_DEV_PACK: '', ...env } });

  function scratch(name: string, manifest?: object): string {
    const root = path.join(tmp, name);
    fs.mkdirSync(root, { recursive: true });
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'lotus-trt', version: pkg.version }));
    if (manifest) {
      fs.mkdirSync(path.join(root, 'prebuilds', 'linux-x64'), { recursive: true });
      fs.mkdirSync(path.join(root, 'prebuilds', 'linux-arm64'), { recursive: true });
      fs.mkdirSync(path.join(root, 'vendor', 'onnxruntime-node'), { recursive: true });
      fs.writeFileSync(path.join(root, 'vendor', 'onnxruntime-node', 'package.json'), '{}');
      fs.writeFileSync(path.join(root, 'prebuilds', 'linux-x64', 'lotus-trt.napi.glibc.node'), 'x');
      fs.writeFileSync(path.join(root, 'prebuilds', 'linux-arm64', 'lotus-trt.napi.glibc.node'), 'x');
      fs.writeFileSync(path.join(root, 'prebuilds', 'manifest.json'), JSON.stringify(manifest));
    }
    return root;
  }
  const targets = {
    'linux-x64': { gpu: true, sass: [75], ptx: [], tensorrtPlugins: [], files: ['prebuilds/linux-x64/lotus-trt.napi.glibc.node'] },
    'linux-arm64': { gpu: false, files: ['prebuilds/linux-arm64/lotus-trt.napi.glibc.node'] },
  };

  test('no prebuilds: fails and says how to make them', () => {
    const result = run(scratch('empty'));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/refusing to pack[\s\S]*manifest\.json is missing[\s\S]*npm run release/);
  });

  test('a release build packs and publishes; a dev build packs only when asked and never publishes', () => {
    const release = scratch('release', { version: pkg.version, kind: 'release', targets });
    expect(run(release).status).toBe(0);
    expect(run(release, ['--publish']).status).toBe(0);
    const dev = scratch('dev', { version: pkg.version, kind: 'dev', targets });
    expect(run(dev).stderr).toMatch(/dev prebuilds: set LOTUS_ALLOW_DEV_PACK=1/);
    expect(run(dev, [], { LOTUS_ALLOW_DEV_PACK: '1' }).status).toBe(0);
    expect(run(dev, ['--publish'], { LOTUS_ALLOW_DEV_PACK: '1' }).stderr).toMatch(/publish only a release build/);
  });

  test('a stale or incomplete release fails', () => {
    const stale = scratch('stale', { version: '0.0.1', kind: 'release', targets });
    expect(run(stale).stderr).toMatch(/prebuilds are for version 0\.0\.1/);
    const noArm = scratch('no-arm', { version: pkg.version, kind: 'release', targets: { 'linux-x64': targets['linux-x64'] } });
    expect(run(noArm).stderr).toMatch(/no linux-arm64 prebuild/);
  });
});

describe('the install step', () => {
  const buildNative = path.join(ROOT, 'scripts', 'build-native.js');

  /** A package folder whose only binary is a prebuild for this platform that cannot load. */
  function brokenPackage(): string {
    const root = path.join(tmp, 'node_modules', 'lotus-trt');
    fs.mkdirSync(path.join(root, 'scripts'), { recursive: true });
    fs.mkdirSync(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`), { recursive: true });
    fs.copyFileSync(buildNative, path.join(root, 'scripts', 'build-native.js'));
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ name: 'lotus-trt', version: pkg.version }));
    fs.writeFileSync(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'lotus-trt.napi.glibc.node'), 'not an ELF file');
    // node-gyp-build and cmake-js resolve from the package's own node_modules, as in an app.
    fs.mkdirSync(path.join(root, 'node_modules'), { recursive: true });
    for (const dep of ['node-gyp-build', 'cmake-js']) {
      const link = path.join(root, 'node_modules', dep);
      if (!fs.existsSync(link)) fs.symlinkSync(path.join(ROOT, 'node_modules', dep), link);
    }
    return root;
  }

  test('a prebuild that fails to load is an error with its real cause, not a source build', () => {
    const root = brokenPackage();
    const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.js'), '--if-missing'],
      { cwd: root, encoding: 'utf8', env: { ...process.env, npm_config_build_from_source: '' } });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/the prebuilt binary prebuilds\/.*lotus-trt\.napi\.glibc\.node failed to load:\n.*(invalid ELF header|file too short)/);
    expect(result.stderr).toMatch(/npm rebuild lotus-trt --build-from-source/);
    expect(result.stderr).not.toMatch(/building the native addon from source/);
    expect(fs.existsSync(path.join(root, 'build'))).toBe(false);
  });

  test('a TENSORRT_ROOT without TensorRT headers is an error before anything is compiled', () => {
    const root = brokenPackage();
    const result = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.js')],
      { cwd: root, encoding: 'utf8', env: { ...process.env, TENSORRT_ROOT: path.join(tmp, 'no-tensorrt'), LOTUS_TENSORRT_ROOTS: '' } });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/no-tensorrt\/include has no NvInfer\.h, NvInferVersion\.h, NvOnnxParser\.h/);
    expect(fs.existsSync(path.join(root, 'build'))).toBe(false);
  });
});
