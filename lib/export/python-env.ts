// The Python side of `lotus export`: find Python, create or reuse a virtual environment under the
// cache folder, install the pinned export requirements with pip. Every failure is an ExportError
// with one sentence and its own exit code; pip's full output goes to a log file, never a traceback.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Exit codes of `lotus export` (docs/install.md, "A model to try"). */
export const EXPORT_EXIT = {
  noPython: 3,
  noPip: 4,
  noNetwork: 5,
  pipFailed: 6,
  exportFailed: 7,
} as const;

export class ExportError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string) {
    super(message);
    this.name = 'ExportError';
    this.exitCode = exitCode;
  }
}

export interface PythonInfo {
  executable: string;
  version: string;
}

const MIN_PYTHON: [number, number] = [3, 9];

/** Python 3.9+ at `candidate`, or ExportError(noPython). */
export function checkPython(candidate: string): PythonInfo {
  const probe = spawnSync(candidate, ['-c', 'import sys; print("%d.%d.%d" % sys.version_info[:3])'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = (probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? 'was not found' : 'does not run';
    throw new ExportError(EXPORT_EXIT.noPython,
      `lotus export needs Python ${MIN_PYTHON.join('.')} or newer, and "${candidate}" ${why}: install Python 3 or pass --python <path>.`);
  }
  const version = probe.stdout.trim();
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new ExportError(EXPORT_EXIT.noPython,
      `lotus export needs Python ${MIN_PYTHON.join('.')} or newer, and "${candidate}" is ${version}: pass --python <path> to a newer one.`);
  }
  return { executable: candidate, version };
}

export function venvPython(venv: string): string {
  return path.join(venv, 'bin', 'python');
}

/** Reuses `venv` when it has a Python with pip; creates it with `python -m venv` otherwise. */
export function ensureVenv(python: PythonInfo, venv: string, log: (line: string) => void): string {
  const existing = venvPython(venv);
  if (!fs.existsSync(existing)) {
    log(`creating a Python ${python.version} virtual environment in ${venv}`);
    fs.mkdirSync(path.dirname(venv), { recursive: true });
    const made = spawnSync(python.executable, ['-m', 'venv', venv], { encoding: 'utf8' });
    if (made.status !== 0) {
      fs.rmSync(venv, { recursive: true, force: true });
      const detail = `${made.stderr ?? ''}${made.stdout ?? ''}`.trim().split('\n').pop() ?? '';
      throw new ExportError(EXPORT_EXIT.noPip,
        `Python could not create a virtual environment (${detail || `exit ${made.status}`}): install its venv and pip ` +
        'modules (Debian/Ubuntu: apt install python3-venv) or pass --python <path> to a Python that has them.');
    }
  } else {
    log(`reusing the virtual environment ${venv}`);
  }
  const pip = spawnSync(existing, ['-m', 'pip', '--version'], { encoding: 'utf8' });
  if (pip.status !== 0) {
    throw new ExportError(EXPORT_EXIT.noPip,
      `the virtual environment ${venv} has no pip: delete it and install Python's venv/ensurepip modules ` +
      '(Debian/Ubuntu: apt install python3-venv), or pass --venv <dir> of one that has pip.');
  }
  return existing;
}

export interface PipOptions {
  requirementsFile: string;
  /** Extra requirement specs (e.g. "diffusers"), after the file. */
  extra: string[];
  indexUrl?: string;
  logFile: string;
}

/** What the requirements install depends on: a venv whose stamp matches skips pip. */
function stamp(options: PipOptions): string {
  const hash = crypto.createHash('sha256');
  hash.update(fs.readFileSync(options.requirementsFile));
  hash.update(JSON.stringify(options.extra));
  return hash.digest('hex');
}

const NETWORK_PATTERNS = [
  /Failed to establish a new connection/i,
  /Temporary failure in name resolution/i,
  /Name or service not known/i,
  /Network is unreachable/i,
  /Connection refused/i,
  /Read timed out/i,
  /ConnectTimeoutError/i,
  /ProxyError/i,
  /SSLError/i,
];

/** One sentence for a failed pip run, from its output. */
export function classifyPipFailure(output: string, indexUrl: string | undefined, logFile: string): ExportError {
  const index = indexUrl ?? 'the Python package index';
  // pip ends with "No matching distribution" either way; the connection errors before it tell an
  // unreachable index from one that lacks the package.
  if (NETWORK_PATTERNS.some((p) => p.test(output))) {
    return new ExportError(EXPORT_EXIT.noNetwork,
      `pip could not reach ${index} (no network?): connect this machine, or pass --index-url <url> of a mirror it can reach (pip's output: ${logFile}).`);
  }
  const line = output.split('\n').map((l) => l.trim()).find((l) => /^ERROR:/.test(l) && !/pip's dependency resolver/.test(l));
  const reason = line ? line.replace(/^ERROR:\s*/, '').replace(/\s+/g, ' ') : 'see its output';
  return new ExportError(EXPORT_EXIT.pipFailed,
    `pip could not install the export requirements from ${index}: ${reason} (pip's output: ${logFile}).`);
}

/** pip install -r requirements (+ extra), unless the venv's stamp says it is already done. */
export async function installRequirements(python: string, options: PipOptions, log: (line: string) => void): Promise<void> {
  const stampFile = path.join(path.dirname(path.dirname(python)), 'lotus-export-requirements.sha256');
  const want = stamp(options);
  if (fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8').trim() === want) {
    log('export requirements already installed');
    return;
  }
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--retries', '2', '--timeout', '30',
    '-r', options.requirementsFile, ...options.extra];
  if (options.indexUrl) args.push('--index-url', options.indexUrl);
  log(`installing the export requirements with pip (torch is large: minutes on a first run); log: ${options.logFile}`);
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const output = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PIP_PROGRESS_BAR: 'off' } });
    const logStream = fs.createWriteStream(options.logFile);
    let text = '';
    const onData = (chunk: Buffer) => {
      const s = chunk.toString();
      text += s;
      logStream.write(s);
      for (const l of s.split('\n')) {
        const m = /^(Collecting|Downloading|Installing collected packages|Successfully installed)\s*(.*)$/.exec(l.trim());
        if (m) log(`pip: ${m[1]} ${m[2]}`.trimEnd().slice(0, 160));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (error) => {
      logStream.end();
      resolve({ code: -1, text: `${text}\n${error.message}` });
    });
    child.on('close', (code) => {
      logStream.end();
      resolve({ code, text });
    });
  });
  if (output.code !== 0) throw classifyPipFailure(output.text, options.indexUrl, options.logFile);
  fs.writeFileSync(stampFile, `${want}\n`);
}
