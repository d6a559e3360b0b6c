// Regression tests of the adversarial review's CLI findings (issue 12, items 2, 3, 5, 10): the
// `lotus` command as users run it (node dist/cli.js), on the identity model (fast) or the tiny
// fixture (slow enough to interrupt). Each failed before its fix.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { decodeNpy } from '../lib/io/npy';
import { identityLotusModel } from './helpers/onnx-writer';
import { tempFolder } from './helpers/temp-folder';

const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const IMAGE = path.join(ROOT, 'test', 'fixtures', 'images', 'gradient-64x48.png');
const TINY = path.join(ROOT, 'test', 'fixtures', 'tiny-depth-g.onnx');
const { dir: tmp, write } = tempFolder('lotus-hardening-cli-');
const model = write('identity-depth.onnx', identityLotusModel({ task: 'depth', mode: 'regression' }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; fails (instead of hanging) after `timeoutMs`. */
function lotus(args: string[], options: { timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, LOTUS_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`lotus ${args.join(' ')} hung for ${options.timeoutMs ?? 30_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function folderWith(name: string, files: Record<string, string | Buffer>): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    fs.writeFileSync(path.join(dir, file), typeof content === 'string' ? fs.readFileSync(content) : content);
  }
  return dir;
}

describe('item 2: the CLI never overwrites a user file', () => {
  test('a photo named like an output is neither taken as an input nor replaced', async () => {
    const photo = await sharp({ create: { width: 5, height: 5, channels: 3, background: 'purple' } }).png().toBuffer();
    const dir = folderWith('photo-named-like-output', { 'cat.png': IMAGE, 'cat_depth_color.png': photo });
    const run = await lotus(['depth', dir, '--model', model, '--backend', 'cpu']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lotus: EEXIST: output files exist: .*cat_depth_color\.png; pass --overwrite/m);
    expect(fs.readFileSync(path.join(dir, 'cat_depth_color.png'))).toEqual(photo);
    expect(fs.readdirSync(dir).sort()).toEqual(['cat.png', 'cat_depth_color.png']);
  });

  test('re-running on a folder skips the first run\'s outputs; existing outputs need --overwrite', async () => {
    const dir = folderWith('rerun', { 'a.png': IMAGE });
    expect((await lotus(['depth', dir, '--model', model, '--backend', 'cpu'])).code).toBe(0);
    const first = fs.readdirSync(dir).sort();
    expect(first).toEqual(['a.png', 'a_depth.npy', 'a_depth_color.png']);
    const again = await lotus(['depth', dir, '--model', model, '--backend', 'cpu']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/EEXIST: output files exist/);
    const overwritten = await lotus(['depth', dir, '--model', model, '--backend', 'cpu', '--overwrite', '--json']);
    expect(overwritten.code).toBe(0);
    expect(JSON.parse(overwritten.stdout).outputs.map((o: { input: string }) => path.basename(o.input))).toEqual(['a.png']);
    expect(fs.readdirSync(dir).sort()).toEqual(first); // no a_depth_color_depth_color.png
  });

  test('an input is never overwritten, even with --overwrite', async () => {
    const dir = folderWith('input-is-output', { 'b.png': IMAGE, 'b_depth_color.png': IMAGE });
    const before = fs.readFileSync(path.join(dir, 'b_depth_color.png'));
    const run = await lotus(['depth', path.join(dir, 'b.png'), path.join(dir, 'b_depth_color.png'), '--model', model, '--backend', 'cpu', '--overwrite']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/b_depth_color\.png is one of the input images; lotus never overwrites an input/);
    expect(fs.readFileSync(path.join(dir, 'b_depth_color.png'))).toEqual(before);
  });
});

describe('item 3: Ctrl-C never leaves partial files', () => {
  test.each([['SIGINT', 130], ['SIGTERM', 143]] as const)('%s mid-run: in-flight images finish, no new ones start, exit %i', async (signal, exitCode) => {
    const count = 40;
    const dir = folderWith(`interrupt-${signal}`, Object.fromEntries(Array.from({ length: count }, (_, i) => [`img-${String(i).padStart(2, '0')}.png`, IMAGE])));
    const out = path.join(tmp, `interrupt-out-${signal}`);
    const child = spawn(process.execPath, [CLI, 'depth', dir, '--model', TINY, '--backend', 'cpu', '--out', out, '--processing-resolution', '256', '--format', 'npy,png16,color'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, sig) => resolve({ code, signal: sig })));
    // Interrupt as soon as the first image's files are there.
    const deadline = Date.now() + 60_000;
    while (!(fs.existsSync(out) && fs.readdirSync(out).some((n) => n.endsWith('_depth.npy'))) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const result = await closed;
    clearTimeout(timer);
    expect(result.signal).toBeNull();
    expect(result.code).toBe(exitCode);
    expect(stderr).toMatch(new RegExp(`${signal}: finishing the images in flight`));
    expect(stderr).toMatch(new RegExp(`interrupted by ${signal}: \\d+ of ${count} images not processed`));
    const names = fs.readdirSync(out);
    expect(names.filter((n) => n.includes('lotus-tmp'))).toEqual([]);
    const done = names.filter((n) => n.endsWith('_depth.npy'));
    expect(done.length).toBeGreaterThan(0);
    expect(done.length).toBeLessThan(count);
    // Every image that has files has all of them, each complete.
    for (const npy of done) {
      const stem = npy.slice(0, -'_depth.npy'.length);
      expect(decodeNpy(fs.readFileSync(path.join(out, npy))).shape).toEqual([48, 64]);
      for (const png of [`${stem}_depth16.png`, `${stem}_depth_color.png`]) {
        const meta = await sharp(path.join(out, png)).metadata();
        expect([meta.width, meta.height]).toEqual([64, 48]);
        await sharp(path.join(out, png)).raw().toBuffer(); // decodes to the end: not truncated
      }
    }
    expect(names.length).toBe(done.length * 3);
  });
});

describe('item 5 and 10: non-regular inputs and unclear errors', () => {
  test.runIf(process.platform === 'linux')('a FIFO argument fails at once with a clear message (it hung)', async () => {
    const fifo = path.join(tmp, 'fifo.png');
    spawnSync('mkfifo', [fifo]);
    const run = await lotus(['depth', fifo, '--model', model, '--backend', 'cpu', '--out', path.join(tmp, 'fifo-out')], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lotus: ERR_LOTUS_IMAGE: .*fifo\.png is a FIFO \(named pipe\) or pipe, not a regular file/m);
  });

  test.runIf(process.platform === 'linux' && fs.existsSync('/bin/bash'))('`lotus depth <(cat x.png)` names the pipe, not "unsupported image format"', () => {
    const command = `"${process.execPath}" "${CLI}" depth <(cat "${IMAGE}") --model "${model}" --backend cpu --out "${path.join(tmp, 'pipe-out')}"`;
    const run = spawnSync('/bin/bash', ['-c', command], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^lotus: ERR_LOTUS_IMAGE: \/dev\/fd\/\d+ is a FIFO \(named pipe\) or pipe, not a regular file; lotus reads image files/m);
    expect(run.stderr).not.toMatch(/unsupported image format/);
  });

  test.runIf(process.platform === 'linux')('an unwritable --out fails before any image runs, once, without a dangling arrow', async () => {
    // /sys/kernel refuses new files even to root.
    const run = await lotus(['depth', IMAGE, '--model', model, '--backend', 'cpu', '--out', '/sys/kernel'], { timeoutMs: 15_000 });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^lotus: EACCES: cannot write to the output folder \/sys\/kernel: permission denied/m);
    expect(run.stderr).not.toMatch(/EACCES: EACCES/);
    expect(run.stderr).not.toMatch(/->/);
  });

  test('--seed takes what the API takes (up to 2^53 - 1)', async () => {
    const out = path.join(tmp, 'seed-out');
    const g = write('identity-depth-g.onnx', identityLotusModel({ task: 'depth', mode: 'generation' }));
    const ok = await lotus(['depth', IMAGE, '--model', g, '--backend', 'cpu', '--out', out, '--seed', String(Number.MAX_SAFE_INTEGER)]);
    expect(ok.stderr).not.toMatch(/ERR_|Usage/);
    expect(ok.code).toBe(0);
    const over = await lotus(['depth', IMAGE, '--model', g, '--backend', 'cpu', '--out', out, '--seed', '9007199254740992']);
    expect(over.code).toBe(2);
  });
});
