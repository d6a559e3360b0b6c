// Job requests of the producer API: friendlier than the job format (a path, URL or bytes as the
// input; relative paths), turned into checked job data here. No BullMQ: usable by anyone who
// enqueues lotus jobs with their own queue client.
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { invalid, optionsObject } from '../validate';
import type { OutputFormat } from '../io/output-formats';
import type { Task } from '../model/metadata';
import {
  validateJobData, type JobEstimateOptions, type JobOutput, type LotusJobData, type LotusJobResult,
} from './job';

const MiB = 1024 * 1024;
const REQUEST_KEYS = ['task', 'input', 'outputs', 'options', 'name'] as const;

export interface JobRequest {
  task: Task;
  /** Encoded image bytes (sent in the job), a path (made absolute here) or a file:/http:/https: URL. */
  input: string | Uint8Array;
  /** Outputs; relative paths are made absolute here; without a path the output is returned. */
  outputs: JobOutput[];
  options?: JobEstimateOptions;
  name?: string;
}

function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) || text.startsWith('file:');
}

/** The job data of a request; relative paths are resolved against the current folder. */
export function buildJobData(request: JobRequest, parameter = 'request', maxInputBytes = 16 * MiB): LotusJobData {
  const r = optionsObject(request, parameter, REQUEST_KEYS) as unknown as JobRequest;
  let input: LotusJobData['input'];
  if (typeof r.input === 'string') {
    if (r.input === '') throw invalid(`${parameter}.input`, 'encoded image bytes, a path or a URL', r.input);
    input = isUrl(r.input) ? { url: r.input } : { path: path.resolve(r.input) };
  } else if (r.input instanceof Uint8Array) {
    if (r.input.length > maxInputBytes) {
      throw new InvalidArgumentError(`${parameter}.input`, `${parameter}.input: ${r.input.length} bytes; jobs carry at most ${maxInputBytes} (use a path or URL)`);
    }
    input = { bytes: Buffer.from(r.input.buffer, r.input.byteOffset, r.input.length).toString('base64') };
  } else {
    throw invalid(`${parameter}.input`, 'encoded image bytes, a path or a URL', r.input);
  }
  const outputs = Array.isArray(r.outputs)
    ? r.outputs.map((o) => (o && typeof o === 'object' && typeof o.path === 'string' && o.path !== ''
      ? { ...o, path: path.resolve(o.path) }
      : o))
    : r.outputs;
  const data = { version: 1, task: r.task, input, outputs, options: r.options, name: r.name };
  if (data.options === undefined) delete data.options;
  if (data.name === undefined) delete data.name;
  try {
    return validateJobData(data);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    const rename = (text: string) => text.replaceAll('job.', `${parameter}.`).replaceAll(`${parameter}.input.bytes`, `${parameter}.input`);
    throw new InvalidArgumentError(rename(error.parameter), rename(error.message), { cause: error });
  }
}

/** A returned output's bytes (outputs without a path come back base64 in the job result). */
export function returnedOutput(result: LotusJobResult, format: OutputFormat): Buffer | undefined {
  const text = result.data[format];
  return text === undefined ? undefined : Buffer.from(text, 'base64');
}

