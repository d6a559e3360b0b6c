// Issue 12 items 12, 14, 15, 16 and 20 below the addon: native/tests/core_unit_tests.cc, built from
// the core this `npm install` compiled (cmake --build build --target lotus_core_unit_tests) and run
// here. Items 12's TensorRT half runs each built plugin against a stand-in libnvinfer that logs a
// warning through TensorRT's ILogger (test/stand-ins/libnvinfer.c).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deviceInfo } from '../lib/addon/info';
import { native } from '../lib/addon/load';
import { ccAvailable, compileStandIn } from './helpers/stand-ins';
import { tempFolder } from './helpers/temp-folder';

const root = path.join(__dirname, '..');
const buildDir = path.join(root, 'build');
const binary = path.join(buildDir, 'native', 'tests', 'lotus_core_unit_tests');
const releaseDir = path.join(buildDir, 'Release');
const plugins = ['lotus_tensorrt11.so', 'lotus_tensorrt10.so'].filter((name) => fs.existsSync(path.join(releaseDir, name)));
const cmakeAvailable = spawnSync('cmake', ['--version']).status === 0;

const skip = !native().buildInfo.gpu ? 'CPU-only build: the GPU core is not compiled'
  : !fs.existsSync(path.join(buildDir, 'CMakeCache.txt')) ? 'no source build in build/ (a prebuild is installed)'
    : !cmakeAvailable ? 'no cmake' : '';

interface Outcome { status: string; name: string; detail: string }

function runTests(prefix: string, env: NodeJS.ProcessEnv = {}): Outcome[] {
  const run = spawnSync(binary, [prefix], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } });
  const outcomes = run.stdout.split('\n').flatMap((line) => {
    const match = /^(ok|FAIL|skip) (\S+)(?:: (.*))?$/.exec(line);
    return match ? [{ status: match[1]!, name: match[2]!, detail: match[3] ?? '' }] : [];
  });
  expect(outcomes.length, `${run.stdout}\n${run.stderr}`).toBeGreaterThan(0);
  return outcomes;
}

function expectAllOk(outcomes: Outcome[]): void {
  expect(outcomes.filter((o) => o.status !== 'ok')).toEqual([]);
}

describe.skipIf(skip !== '')(`core unit tests (native/tests/core_unit_tests.cc)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  beforeAll(() => {
    const build = spawnSync('cmake', ['--build', buildDir, '--target', 'lotus_core_unit_tests'], { encoding: 'utf8', timeout: 600_000 });
    expect(build.status, `${build.stdout}\n${build.stderr}`).toBe(0);
  }, 600_000);

  it('item 16: an engine with IO tensors other than image/noise/prediction is a ModelError at open', () => {
    const outcomes = runTests('engine-io/');
    expect(outcomes.map((o) => o.name)).toEqual([
      'engine-io/extra-input', 'engine-io/extra-output', 'engine-io/wrong-direction', 'engine-io/wrong-rank',
      'engine-io/noise-for-mode', 'engine-io/valid',
    ]);
    expectAllOk(outcomes);
  });

  it('item 20: the lane\'s run counter saturates instead of overflowing', () => {
    expectAllOk(runTests('saturating-counter'));
  });

  it('item 14: GPU owners whose last reference goes on an offloading thread are destroyed on another thread', () => {
    expectAllOk(runTests('offload/'));
  });

  const gpu = deviceInfo().usable;
  it.skipIf(!gpu)(`item 15: waiting for a stream sleeps instead of spinning a core${gpu ? '' : ' (skipped: no usable CUDA device)'}`, () => {
    expectAllOk(runTests('stream-wait/'));
  });

  describe.skipIf(plugins.length === 0 || !ccAvailable)(
    `item 12: TensorRT warnings reach the caller${plugins.length === 0 ? ' (skipped: no TensorRT plugin built; set TENSORRT_ROOT)' : !ccAvailable ? ' (skipped: no C compiler)' : ''}`,
    () => {
      const { dir } = tempFolder('lotus-core-trt-');
      it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s: a build\'s warnings reach its callback, a load\'s its TensorRTWarnings scope', (plugin) => {
        const major = Number(/(\d+)\.so$/.exec(plugin)![1]);
        const libDir = path.join(dir, String(major));
        compileStandIn(libDir, `libnvinfer.so.${major}`, 'libnvinfer.c', { MAJOR: major });
        const outcomes = runTests('tensorrt-warnings/', {
          LOTUS_TENSORRT_PLUGIN: path.join(releaseDir, plugin),
          LOTUS_TENSORRT_LIB_DIR: libDir,
        });
        expect(outcomes.map((o) => o.name)).toEqual(['tensorrt-warnings/build', 'tensorrt-warnings/open']);
        expectAllOk(outcomes);
      });
    },
  );
});
