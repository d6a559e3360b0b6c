// Output files of `lotus depth|normal`: their names, the checks made before any model is loaded
// (never an input, never an existing file without --overwrite, a writable folder) and the writes
// themselves (temporary name, then rename: an interrupted run never leaves a truncated file under
// a final name).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { outputDir, stem } from './inputs';
import { OUTPUT_SUFFIXES } from './output-names';
import type { Task } from '../model/metadata';
import type { OutputFormat } from '../io/output-formats';

/** A CLI failure about output files, reported as `lotus: <code>: <message>` with exit code 1. */
export class OutputFileError extends Error {
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'OutputFileError';
  }
}

export interface PlannedOutput {
  format: OutputFormat;
  target: string;
}

/** Output paths of one input, in format order. */
export function outputsOf(task: Task, input: string, formats: readonly OutputFormat[], out: string | undefined): PlannedOutput[] {
  const dir = outputDir(input, out);
  return formats.map((format) => ({ format, target: path.join(dir, stem(input) + OUTPUT_SUFFIXES[`${task}:${format}`]) }));
}

/** The real path of a file, or its absolute path when it does not exist (yet). */
function identity(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return path.resolve(file);
  }
}

/**
 * Before anything runs: no output may be an input (whatever --overwrite says), existing outputs
 * need --overwrite, and every output folder must take new files.
 */
export async function checkOutputs(
  plan: ReadonlyMap<string, PlannedOutput[]>,
  overwrite: boolean,
): Promise<void> {
  const inputs = new Map([...plan.keys()].map((input) => [identity(input), input]));
  const existing: string[] = [];
  const folders = new Set<string>();
  for (const outputs of plan.values()) {
    for (const { target } of outputs) {
      const input = inputs.get(identity(target));
      if (input !== undefined) {
        throw new OutputFileError('EEXIST', `${target} is one of the input images; lotus never overwrites an input (use --out or rename it)`);
      }
      if (fs.existsSync(target)) existing.push(target);
      folders.add(path.dirname(target));
    }
  }
  if (existing.length > 0 && !overwrite) {
    const shown = existing.slice(0, 3).join(', ') + (existing.length > 3 ? ` and ${existing.length - 3} more` : '');
    throw new OutputFileError('EEXIST', `output files exist: ${shown}; pass --overwrite to replace them`);
  }
  for (const folder of folders) await checkWritable(folder);
}

async function checkWritable(folder: string): Promise<void> {
  const probe = path.join(folder, `.lotus-write-test-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  try {
    await fs.promises.mkdir(folder, { recursive: true });
    await fs.promises.writeFile(probe, '', { flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EACCES';
    throw new OutputFileError(code, `cannot write to the output folder ${folder}: ${withoutCode((error as Error).message, code)}`, { cause: error });
  } finally {
    await fs.promises.rm(probe, { force: true }).catch(() => undefined);
  }
}

/** Node's "EACCES: permission denied, ..." without the code, which the CLI prints in front anyway. */
export function withoutCode(message: string, code: string): string {
  return message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message;
}

/**
 * Writes outputs through a temporary file in the same folder and a rename. Temporary files still
 * there when the process exits (a second Ctrl-C, a crash in JS) are removed by the exit handler.
 */
export class OutputWriter {
  private readonly temporary = new Set<string>();
  private readonly onExit = () => this.removeTemporaryFiles();

  constructor(private readonly overwrite: boolean) {
    process.on('exit', this.onExit);
  }

  async write(target: string, data: Uint8Array): Promise<void> {
    const temp = path.join(path.dirname(target), `.${path.basename(target)}.lotus-tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    this.temporary.add(temp);
    try {
      await fs.promises.writeFile(temp, data, { flag: 'wx' });
      if (this.overwrite) {
        await fs.promises.rename(temp, target);
      } else {
        // link() refuses an existing target: a file that appeared since the check is kept.
        await fs.promises.link(temp, target).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code !== 'EPERM' && error.code !== 'ENOTSUP' && error.code !== 'EXDEV') throw error;
          // A file system without hard links: check, then rename.
          if (fs.existsSync(target)) throw Object.assign(new Error(`EEXIST: file already exists, '${target}'`), { code: 'EEXIST' });
          await fs.promises.rename(temp, target);
        });
      }
    } finally {
      await fs.promises.rm(temp, { force: true }).catch(() => undefined);
      this.temporary.delete(temp);
    }
  }

  removeTemporaryFiles(): void {
    for (const temp of this.temporary) {
      try {
        fs.rmSync(temp, { force: true });
      } catch {
        // best effort at exit
      }
    }
    this.temporary.clear();
  }

  close(): void {
    process.removeListener('exit', this.onExit);
    this.removeTemporaryFiles();
  }
}
