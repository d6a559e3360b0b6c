// `lotus export`: every way the Python side can fail is one sentence and its own exit code, never a
// traceback (real Python, real pip, a real closed port and an empty package index). The full export
// of a tiny checkpoint runs when LOTUS_TEST_EXPORT=1 on a machine with the exporter's Python
// packages (/opt/lotus-venv) and a diffusers source folder (LOTUS_DIFFUSERS_SRC): ~1 minute.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import { modelBaseName } from '../lib/cli/export';
import { classifyPipFailure } from '../lib/export/python-env';
import { tempFolder } from './helpers/temp-folder';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const { dir: tmp } = tempFolder('lotus-export-test-');
const python3 = spawnSync('python3', ['-c', 'import venv, ensurepip']).status === 0 ? 'python3' : null;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** pip as on a machine whose only package source is --index-url: no pip.conf, no PIP_* settings. */
function isolatedPipEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PIP_')));
  return { ...env, PIP_CONFIG_FILE: '/dev/null' };
}

function lotusExport(args: string[], timeoutMs = 60_000, env = isolatedPipEnv()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'export', ...args], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The last line is the one sentence; nothing looks like a Python or JS stack. */
function expectOneSentence(run: Run, code: number, message: RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  const last = run.stderr.trim().split('\n').pop()!;
  expect(last).toMatch(/^lotus export: /);
  expect(last).toMatch(message);
  expect(run.stderr).not.toMatch(/Traceback|\n\s+at |File ".*", line/);
}

describe('lotus export arguments', () => {
  test('a checkpoint is required; precisions and a diffusers folder are checked', async () => {
    const none = await lotusExport([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give one checkpoint[\s\S]*Usage: lotus export/);
    expect((await lotusExport(['x/y', '--precision', 'int8'])).stderr).toMatch(/--precision must be a list of fp16, fp32/);
    const folder = await lotusExport(['x/y', '--diffusers', './no-such-folder']);
    expect(folder.code).toBe(2);
    expect(folder.stderr).toMatch(/not a diffusers source folder/);
  });

  test('model names come from the checkpoint', () => {
    expect(modelBaseName('jingheya/lotus-depth-g-v2-1-disparity')).toBe('lotus-depth-g-v2-1-disparity');
    expect(modelBaseName('/models/lotus-normal-d/')).toBe('lotus-normal-d');
  });

  test('pip output is classified: unreachable index vs a package it does not have', () => {
    const offline = classifyPipFailure('WARNING: Retrying ... Failed to establish a new connection: [Errno 111] Connection refused\n' +
      'ERROR: Could not find a version that satisfies the requirement diffusers (from versions: none)\nERROR: No matching distribution found for diffusers', 'http://x', '/l');
    expect(offline.exitCode).toBe(5);
    const missing = classifyPipFailure('ERROR: Could not find a version that satisfies the requirement torch==2.13.0\nERROR: No matching distribution found for torch==2.13.0', 'file:///e', '/l');
    expect(missing.exitCode).toBe(6);
    expect(missing.message).toMatch(/Could not find a version that satisfies the requirement torch==2\.13\.0/);
  });
});

describe('lotus export without what it needs', () => {
  test('no Python: exit 3', async () => {
    const run = await lotusExport(['jingheya/lotus-depth-g-v2-1-disparity', '--python', path.join(tmp, 'no-python3'), '--cache-dir', tmp]);
    expectOneSentence(run, 3, /needs Python 3\.9 or newer, and ".*no-python3" was not found: install Python 3 or pass --python/);
  });

  test.skipIf(!python3)(`a virtual environment without pip: exit 4${python3 ? '' : ' (skipped: no python3 with venv/ensurepip)'}`, async () => {
    const venv = path.join(tmp, 'venv-without-pip');
    expect(spawnSync('python3', ['-m', 'venv', '--without-pip', venv]).status).toBe(0);
    const run = await lotusExport(['x/y', '--venv', venv, '--cache-dir', tmp]);
    expectOneSentence(run, 4, /has no pip: delete it and install Python's venv\/ensurepip modules/);
  });

  describe.skipIf(!python3)(`with a fresh virtual environment${python3 ? '' : ' (skipped: no python3 with venv/ensurepip)'}`, () => {
    const venv = path.join(tmp, 'venv');

    test('no network (the index is a closed local port): exit 5, and the venv is kept for the next run', async () => {
      const run = await lotusExport(['x/y', '--venv', venv, '--cache-dir', tmp, '--index-url', 'http://127.0.0.1:9/simple'], 120_000);
      expectOneSentence(run, 5, /pip could not reach http:\/\/127\.0\.0\.1:9\/simple \(no network\?\).*--index-url/);
      expect(run.stderr).toMatch(/creating a Python 3\.\d+\.\d+ virtual environment/);
      expect(fs.existsSync(path.join(venv, 'bin', 'python'))).toBe(true);
      expect(fs.readFileSync(path.join(tmp, 'export-pip.log'), 'utf8')).toMatch(/Connection refused|Failed to establish/);
    }, 120_000);

    test('pip cannot install the requirements (an empty index): exit 6 naming the requirement', async () => {
      const index = path.join(tmp, 'empty-index');
      fs.mkdirSync(index, { recursive: true });
      const run = await lotusExport(['x/y', '--venv', venv, '--cache-dir', tmp, '--index-url', `file://${index}`], 120_000);
      expectOneSentence(run, 6, /pip could not install the export requirements from file:\/\/.*empty-index: Could not find a version that satisfies the requirement \S+/);
      expect(run.stderr).toMatch(/reusing the virtual environment/);
    }, 120_000);
  });
});

// The end-to-end run installs the real pinned requirements into a new venv from the machine's pip
// sources (here: --index-url file:///opt/pypi/simple plus pip.conf's find-links for the torch wheel).
const exporterPython = '/opt/lotus-venv/bin/python';  // only to write the tiny test checkpoint
const diffusersSource = process.env.LOTUS_DIFFUSERS_SRC ?? '/tmp/src/huggingface+diffusers';
const indexUrl = process.env.LOTUS_TEST_INDEX_URL ?? 'file:///opt/pypi/simple';
const e2e = process.env.LOTUS_TEST_EXPORT === '1' && fs.existsSync(exporterPython) && fs.existsSync(path.join(diffusersSource, 'src', 'diffusers'));

describe.skipIf(!e2e)(`lotus export end to end${e2e ? '' : ' (skipped: set LOTUS_TEST_EXPORT=1; needs /opt/lotus-venv and a diffusers source folder)'}`, () => {
  test('a tiny local checkpoint to validated FP16 and FP32 models that lotus-trt runs', async () => {
    const checkpoint = path.join(tmp, 'lotus-depth-g-tiny');
    const made = spawnSync(exporterPython, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(path.join(ROOT, 'scripts'))}); ` +
      `from lotus_export.tiny import make_tiny; make_tiny(${JSON.stringify(checkpoint)})`],
    { encoding: 'utf8', env: { ...process.env, PYTHONPATH: path.join(diffusersSource, 'src') } });
    expect(made.status, made.stderr).toBe(0);
    const out = path.join(tmp, 'models');
    const cache = path.join(tmp, 'e2e-cache');
    const args = [checkpoint, '--cache-dir', cache, '--out', out, '--index-url', indexUrl, '--diffusers', diffusersSource];
    const started = Date.now();
    const run = await lotusExport(args, 1_500_000, process.env);
    const seconds = (Date.now() - started) / 1000;
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/creating a Python .* virtual environment[\s\S]*pip: Successfully installed/);
    expect(run.stderr).toMatch(/\[1\/2\] exporting FP16[\s\S]*\[validate\] worst[\s\S]*\[2\/2\] exporting FP32[\s\S]*\[validate\] worst/);
    expect(run.stdout).toMatch(/^fp16: .*lotus-depth-g-tiny\.fp16\.onnx$/m);
    expect(run.stdout).toMatch(/^next: npx lotus depth photo\.jpg --model .*lotus-depth-g-tiny\.onnx$/m);
    // The second run reuses the venv and skips pip.
    const again = await lotusExport([...args, '--precision', 'fp32'], 600_000, process.env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/reusing the virtual environment[\s\S]*export requirements already installed/);
    console.log(`lotus export (fresh venv, pip install, fp16 + fp32 with validation): ${seconds.toFixed(0)} s`);
    const depth = spawnSync(process.execPath, [CLI, 'depth', path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png'),
      '--model', path.join(out, 'lotus-depth-g-tiny.onnx'), '--backend', 'cpu', '--out', path.join(tmp, 'pred')], { encoding: 'utf8' });
    expect(depth.status, depth.stderr).toBe(0);
    expect(fs.existsSync(path.join(tmp, 'pred', 'gradient-64x48_depth.npy'))).toBe(true);
  }, 2_400_000);
});
