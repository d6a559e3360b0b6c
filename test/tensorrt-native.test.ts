// The TensorRT surface of the addon without a GPU: tensorrtInfo() never throws and explains itself,
// buildEngine() validates its options synchronously, and the plugin loader + plugin probe work
// against a stand-in libnvinfer (a few C lines exporting the factory symbols).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NativeTensorRTInfo } from '../binding';
import { native } from '../lib/addon/load';
import { ccAvailable, compileStandIn } from './helpers/stand-ins';
import { tempFolder } from './helpers/temp-folder';

const releaseDir = path.join(__dirname, '..', 'build', 'Release');
const plugins = ['lotus_tensorrt11.so', 'lotus_tensorrt10.so'].filter((name) => fs.existsSync(path.join(releaseDir, name)));

const gpuBuild = native().buildInfo.gpu;

describe.skipIf(!gpuBuild)(`tensorrtInfo${gpuBuild ? '' : ' (skipped: CPU-only build, see test/build-variants.test.ts)'}`, () => {
  it('reports availability with a reason naming each plugin tried', () => {
    const info = native().tensorrtInfo();
    if (info.available) {
      expect(info.reason).toBeNull();
      expect(info.pluginPath).toMatch(/lotus_tensorrt1[01]\.so$/);
      expect(info.compiledVersion).toMatch(/^1[01]\.\d+\.\d+$/);
      expect(info.libraryVersion).toMatch(/^1[01]\.\d+\.\d+$/);
    } else {
      expect(info.reason).toMatch(/lotus_tensorrt11\.so: .+; lotus_tensorrt10\.so: /);
      if (plugins.length === 0) expect(info.reason).toMatch(/built without TensorRT headers/);
      expect(info.pluginPath).toBeNull();
    }
  });
});

describe.skipIf(!gpuBuild)(`buildEngine argument checks${gpuBuild ? '' : ' (skipped: CPU-only build)'}`, () => {
  const profiles = [{ input: 'image', min: [1, 3, 64, 64], opt: [1, 3, 64, 64], max: [1, 3, 128, 128] }];

  it('throws typed errors naming the bad option', () => {
    const call = (options: unknown, progress?: unknown) => () =>
      (native().buildEngine as (o: unknown, p?: unknown) => unknown)(options, progress);
    expect(call(undefined)).toThrow(expect.objectContaining({ code: 'ERR_LOTUS_INVALID_ARGUMENT', parameter: 'options' }));
    expect(call({ onnxPath: 1, profiles })).toThrow(expect.objectContaining({ parameter: 'options.onnxPath' }));
    expect(call({ onnxPath: 'm.onnx', profiles: [{ ...profiles[0], max: [1, 3, 0] }] }))
      .toThrow(expect.objectContaining({ parameter: 'options.profiles[0].max' }));
    expect(call({ onnxPath: 'm.onnx', profiles, lanes: 0 })).toThrow(expect.objectContaining({ parameter: 'options.lanes' }));
    expect(call({ onnxPath: 'm.onnx', profiles, optimizationLevel: 6 }))
      .toThrow(expect.objectContaining({ parameter: 'options.optimizationLevel' }));
    expect(call({ onnxPath: 'm.onnx', profiles }, 'not a function')).toThrow(expect.objectContaining({ parameter: 'onProgress' }));
  });

  it.skipIf(native().tensorrtInfo().available)('rejects with ERR_LOTUS_BACKEND_UNAVAILABLE and the reason when TensorRT is missing', async () => {
    const handle = native().buildEngine({ onnxPath: 'm.onnx', profiles });
    expect(typeof handle.cancel).toBe('function');
    await expect(handle.promise).rejects.toMatchObject({
      code: 'ERR_LOTUS_BACKEND_UNAVAILABLE',
      message: native().tensorrtInfo().reason,
    });
  });
});

// A libnvinfer.so.<major> that exports what the plugin dlsyms: the probe reads its version.
const FAKE_NVINFER = (version: number) => `
void* createInferBuilder_INTERNAL(void* logger, int version) { (void)logger; (void)version; return 0; }
void* createInferRuntime_INTERNAL(void* logger, int version) { (void)logger; (void)version; return 0; }
int getInferLibVersion(void) { return ${version}; }
`;
// A libnvonnxparser.so.<major> with the one factory the plugin dlsyms.
const FAKE_ONNX_PARSER = `
void* createNvOnnxParser_INTERNAL(void* network, void* logger, int version) { (void)network; (void)logger; (void)version; return 0; }
`;

describe.skipIf(plugins.length === 0 || !ccAvailable)(
  `plugin loader against a stand-in libnvinfer${plugins.length === 0 ? ' (skipped: no plugin built; set TENSORRT_ROOT)' : !ccAvailable ? ' (skipped: no C compiler)' : ''}`,
  () => {
    // Made in beforeAll: a skipped suite's body still runs at collection, and its afterAll does not.
    let work = '';
    beforeAll(() => {
      work = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-fake-trt-'));
    });
    afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

    function probe(pluginName: string, libraryVersion: number, { withParser = true } = {}) {
      const major = pluginName.match(/(\d+)\.so$/)![1];
      const libDir = path.join(work, `${major}-${libraryVersion}-${withParser ? 'parser' : 'runtime-only'}`);
      fs.mkdirSync(libDir, { recursive: true });
      compileStandIn(libDir, `libnvinfer.so.${major}`, FAKE_NVINFER(libraryVersion));
      if (withParser) compileStandIn(libDir, `libnvonnxparser.so.${major}`, FAKE_ONNX_PARSER);
      // A fresh process: availability is decided once per process.
      const script = `const n = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'addon', 'load.js'))}).native();
        const info = n.tensorrtInfo();
        const h = n.buildEngine({ onnxPath: 'x.onnx', profiles: [{ input: 'image', min: [1], opt: [1], max: [1] }] });
        h.promise.then(() => console.log(JSON.stringify({ info })), (e) => console.log(JSON.stringify({ info, build: { code: e.code, message: e.message } })));`;
      const child = spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, LOTUS_TENSORRT_PLUGIN: path.join(releaseDir, pluginName), LOTUS_TENSORRT_LIB_DIR: libDir },
      });
      expect(child.status, child.stderr.toString()).toBe(0);
      return JSON.parse(child.stdout.toString()) as {
        info: NativeTensorRTInfo;
        build?: { code: string; message: string };
      };
    }

    it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s loads, probes getInferLibVersion and reports versions', (pluginName) => {
      const major = Number(pluginName.match(/(\d+)\.so$/)![1]);
      const { info, build } = probe(pluginName, major * 10000 + 302);
      expect(info).toMatchObject({
        available: true,
        reason: null,
        pluginPath: path.join(releaseDir, pluginName),
        libraryVersion: `${major}.3.2`,
      });
      expect(info.compiledVersion).toMatch(new RegExp(`^${major}\\.`));
      expect(info.onnxParser).toEqual({ available: true, reason: null });
      // Past the loader, the build stops at the device check (no GPU here) or, with a GPU, at the
      // stand-in's null builder: either way a typed error, never a crash.
      expect(build?.code).toMatch(/^ERR_LOTUS_(BACKEND_UNAVAILABLE|TENSORRT|CUDA)$/);
    });

    it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s without libnvonnxparser: available to run engines, not to build them', (pluginName) => {
      const major = Number(pluginName.match(/(\d+)\.so$/)![1]);
      const { info } = probe(pluginName, major * 10000 + 302, { withParser: false });
      expect(info.available).toBe(true);
      expect(info.onnxParser.available).toBe(false);
      expect(info.onnxParser.reason).toMatch(new RegExp(`libnvonnxparser\\.so\\.${major}: cannot open shared object file`));
    });

    it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s refuses a libnvinfer of another major', (pluginName) => {
      const major = Number(pluginName.match(/(\d+)\.so$/)![1]);
      const { info } = probe(pluginName, (major - 1) * 10000 + 500);
      expect(info.available).toBe(false);
      expect(info.reason).toMatch(new RegExp(`${pluginName}: libnvinfer\\.so\\.${major} reports version ${(major - 1) * 10000 + 500}, this plugin was compiled for TensorRT ${major}`));
    });
  },
);

// Issue 12 item 18: TensorRT's standard plugins (libnvinfer_plugin.so.<MAJOR>) are loaded and
// registered when present, as trtexec does, and reported; their absence costs nothing else.
describe.skipIf(plugins.length === 0 || !ccAvailable)(
  `libnvinfer_plugin against stand-ins${plugins.length === 0 ? ' (skipped: no plugin built; set TENSORRT_ROOT)' : !ccAvailable ? ' (skipped: no C compiler)' : ''}`,
  () => {
    const { dir } = tempFolder('lotus-fake-trt-plugins-');

    function info(pluginName: string, variant: 'present' | 'absent' | 'failing') {
      const major = Number(pluginName.match(/(\d+)\.so$/)![1]);
      const libDir = path.join(dir, `${major}-${variant}`);
      compileStandIn(libDir, `libnvinfer.so.${major}`, 'libnvinfer.c', { MAJOR: major });
      if (variant !== 'absent') compileStandIn(libDir, `libnvinfer_plugin.so.${major}`, 'libnvinfer_plugin.c', { MAJOR: major });
      const log = path.join(libDir, 'calls.log');
      const script = `console.log(JSON.stringify(require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'addon', 'load.js'))}).native().tensorrtInfo()))`;
      const child = spawnSync(process.execPath, ['-e', script], {
        encoding: 'utf8',
        env: {
          ...process.env,
          LOTUS_TENSORRT_PLUGIN: path.join(releaseDir, pluginName),
          LOTUS_TENSORRT_LIB_DIR: libDir,
          FAKE_TRT_LOG: log,
          FAKE_PLUGIN_INIT_RESULT: variant === 'failing' ? '0' : '1',
        },
      });
      expect(child.status, child.stderr).toBe(0);
      return { major, info: JSON.parse(child.stdout) as NativeTensorRTInfo, calls: fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '' };
    }

    it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s: loads libnvinfer_plugin and calls initLibNvInferPlugins(logger, "") once', (pluginName) => {
      const { info: trt, calls } = info(pluginName, 'present');
      expect(trt.available).toBe(true);
      expect(trt.pluginLibrary).toEqual({ available: true, reason: null });
      expect(calls).toBe('initLibNvInferPlugins logger=set namespace=""\n');
    });

    it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s: without libnvinfer_plugin TensorRT stays available and says why', (pluginName) => {
      const { major, info: trt } = info(pluginName, 'absent');
      expect(trt.available).toBe(true);
      expect(trt.pluginLibrary.available).toBe(false);
      expect(trt.pluginLibrary.reason).toMatch(new RegExp(`libnvinfer_plugin\\.so\\.${major}: cannot open shared object file`));
    });

    it.each(plugins.length ? plugins : ['lotus_tensorrt11.so'])('%s: a failing initLibNvInferPlugins is reported with TensorRT\'s logged error', (pluginName) => {
      const { major, info: trt } = info(pluginName, 'failing');
      expect(trt.available).toBe(true);
      expect(trt.pluginLibrary).toEqual({
        available: false,
        reason: `libnvinfer_plugin.so.${major}: initLibNvInferPlugins returned false: stand-in: a plugin creator failed to register`,
      });
    });
  },
);
