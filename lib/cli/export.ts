// `lotus export <checkpoint>`: an official Lotus checkpoint (or a local diffusers folder) to the FP16
// and FP32 ONNX models lotus-trt runs. Python, a virtual environment under the cache folder and
// the pinned requirements are set up here (lib/export/python-env.ts); the export itself is the
// package's scripts/export, which validates each model against PyTorch with onnxruntime.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { deviceInfo, tensorrtInfo } from '../addon/info';
import { defaultCacheDir } from '../cache/engine-cache';
import {
  EXPORT_EXIT, ExportError, checkPython, ensureVenv, installRequirements,
} from '../export/python-env';
import { UsageError, flag, parse, stringOption } from './args';
import { printJson } from './common';

const packageRoot = path.join(__dirname, '..', '..');
const PRECISIONS = ['fp16', 'fp32'] as const;
type Precision = (typeof PRECISIONS)[number];

/** "jingheya/lotus-depth-g-v2-1-disparity" or "/models/lotus-depth-g" -> "lotus-depth-g-v2-1-disparity". */
export function modelBaseName(checkpoint: string): string {
  return path.basename(checkpoint.replace(/[\\/]+$/, '')) || 'lotus';
}

function precisionsOption(text: string | undefined): Precision[] {
  if (text === undefined) return ['fp16', 'fp32'];
  const items = [...new Set(text.split(',').map((s) => s.trim().toLowerCase()))];
  for (const item of items) {
    if (!(PRECISIONS as readonly string[]).includes(item)) {
      throw new UsageError(`--precision must be a list of fp16, fp32; got "${text}"`, 'export');
    }
  }
  return items as Precision[];
}

/** Runs scripts/export for one precision; resolves with its output, or throws ExportError. */
function runExporter(python: string, args: string[], env: NodeJS.ProcessEnv, logFile: string,
  log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [path.join(packageRoot, 'scripts', 'export'), ...args],
      { stdio: ['ignore', 'pipe', 'pipe'], env });
    const logStream = fs.createWriteStream(logFile);
    let text = '';
    const onData = (chunk: Buffer) => {
      const s = chunk.toString();
      text += s;
      logStream.write(s);
      for (const line of s.split('\n')) if (/^\[(export|validate)\]/.test(line)) log(line);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      logStream.end();
      reject(new ExportError(EXPORT_EXIT.exportFailed, `the exporter did not start: ${error.message}.`));
    });
    child.on('close', (code) => {
      logStream.end();
      if (code === 0) return resolve();
      const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
      // The exporter's own message (SystemExit) or the exception line of a traceback, never the traceback.
      const last = lines[lines.length - 1] ?? `exit code ${code}`;
      if (/cannot download checkpoint/.test(text)) {
        reject(new ExportError(EXPORT_EXIT.noNetwork,
          `the checkpoint could not be downloaded from the Hugging Face hub (no network?): pass a local diffusers folder instead (exporter log: ${logFile}).`));
      } else if (/\[validate\] worst .* > tolerance/.test(text)) {
        reject(new ExportError(EXPORT_EXIT.exportFailed, `the exported model failed validation against PyTorch: ${last} (log: ${logFile}).`));
      } else {
        reject(new ExportError(EXPORT_EXIT.exportFailed, `the export failed: ${last.replace(/^scripts\/export:\s*/, '')} (log: ${logFile}).`));
      }
    });
  });
}

function tensorrtReady(): boolean {
  try {
    return deviceInfo().usable && tensorrtInfo().available;
  } catch {
    return false;
  }
}

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse('export', argv, {
    out: { type: 'string' },
    precision: { type: 'string' },
    python: { type: 'string' },
    venv: { type: 'string' },
    'index-url': { type: 'string' },
    diffusers: { type: 'string' },
    'cache-dir': { type: 'string' },
    'no-validate': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  if (positionals.length !== 1) throw new UsageError('give one checkpoint: a Hugging Face id (owner/name) or a local diffusers folder', 'export');
  const checkpoint = positionals[0]!;
  const precisions = precisionsOption(stringOption(values, 'precision'));
  const outDir = path.resolve(stringOption(values, 'out') ?? '.');
  const cacheDir = path.resolve(stringOption(values, 'cache-dir') ?? defaultCacheDir());
  const venv = path.resolve(stringOption(values, 'venv') ?? path.join(cacheDir, 'export-venv'));
  const json = flag(values, 'json');
  const log = (line: string) => process.stderr.write(`lotus export: ${line}\n`);

  // diffusers: a source checkout (its src/ goes on PYTHONPATH, nothing installed) or a pip spec.
  const diffusers = stringOption(values, 'diffusers') ?? 'diffusers';
  const diffusersSource = fs.existsSync(path.join(diffusers, 'src', 'diffusers')) ? path.resolve(diffusers, 'src') : null;
  if (!diffusersSource && (diffusers.includes('/') || diffusers.startsWith('.')) && !/^(git\+|https?:)/.test(diffusers)) {
    throw new UsageError(`--diffusers ${diffusers}: not a diffusers source folder (no src/diffusers in it)`, 'export');
  }

  try {
    const python = checkPython(stringOption(values, 'python') ?? process.env.LOTUS_PYTHON ?? 'python3');
    log(`Python ${python.version} (${python.executable})`);
    const venvPython = ensureVenv(python, venv, log);
    await installRequirements(venvPython, {
      requirementsFile: path.join(packageRoot, 'scripts', 'requirements-export.txt'),
      extra: diffusersSource ? [] : [diffusers],
      indexUrl: stringOption(values, 'index-url'),
      logFile: path.join(cacheDir, 'export-pip.log'),
    }, log);

    fs.mkdirSync(outDir, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, PYTHONUNBUFFERED: '1' };
    if (diffusersSource) env.PYTHONPATH = [diffusersSource, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter);
    const base = modelBaseName(checkpoint);
    const models: Record<string, string> = {};
    for (const [i, precision] of precisions.entries()) {
      const output = path.join(outDir, `${base}${precision === 'fp16' ? '.fp16' : ''}.onnx`);
      log(`[${i + 1}/${precisions.length}] exporting ${precision.toUpperCase()} to ${output}`);
      const args = ['--checkpoint', checkpoint, '--output', output, '--precision', precision];
      if (flag(values, 'no-validate')) args.push('--no-validate');
      await runExporter(venvPython, args, env, path.join(cacheDir, `export-${base}-${precision}.log`), log);
      models[precision] = output;
    }
    if (json) {
      printJson({ checkpoint, models, venv });
    } else {
      for (const [precision, file] of Object.entries(models)) process.stdout.write(`${precision}: ${file}\n`);
      // FP16 is for TensorRT; onnxruntime on the CPU lacks kernels for some FP16 operators.
      const next = (tensorrtReady() ? models.fp16 ?? models.fp32 : models.fp32 ?? models.fp16)!;
      process.stdout.write(`next: npx lotus depth photo.jpg --model ${path.relative(process.cwd(), next) || next}\n`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof ExportError)) throw error;
    process.stderr.write(`lotus export: ${error.message}\n`);
    return error.exitCode;
  }
}
