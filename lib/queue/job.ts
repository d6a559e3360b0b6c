// The job format (docs/queue.md, "What a job looks like"): what the producer enqueues and what a
// worker accepts. Workers trust nothing: parseJobData() checks every field again and a job that
// fails it ends in the failed set with ERR_LOTUS_JOB_INVALID, without further attempts.
import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { MAX_IMAGE_SIDE, MAX_SEED } from '../estimator/options';
import {
  describeValue, invalid, isPlainObject, nonEmptyString, optionalInteger, optionalOneOf, optionsObject,
} from '../validate';
import { JobError } from './errors';
import { FORMATS, type OutputFormat } from '../io/output-formats';
import type { Task } from '../model/metadata';

export const JOB_FORMAT_VERSION = 1;

/** URL schemes a job's input may use (besides a plain absolute path). */
export const INPUT_URL_SCHEMES = ['file:', 'http:', 'https:'] as const;

/** Most outputs one job may ask for (every format of a task fits). */
export const MAX_OUTPUTS = 8;

/** The image: base64 of the encoded file, an absolute path, or a file:/http:/https: URL. */
export type JobInput = { bytes: string } | { path: string } | { url: string };

/** One output: written to `path` (absolute, atomically), or without `path` returned in the job result. */
export interface JobOutput {
  format: OutputFormat;
  path?: string;
}

/** Per-job estimate() options. */
export interface JobEstimateOptions {
  seed?: number;
  processingResolution?: number;
  outputResample?: 'nearest' | 'bilinear';
}

/** The data of one BullMQ job (JSON). */
export interface LotusJobData {
  version: typeof JOB_FORMAT_VERSION;
  task: Task;
  input: JobInput;
  outputs: JobOutput[];
  options?: JobEstimateOptions;
  /** What the job is about (the input file's name), for summaries and logs. */
  name?: string;
}

/** The job's return value (stored by BullMQ with the completed job). */
export interface LotusJobResult {
  task: Task;
  width: number;
  height: number;
  /** format -> path written. */
  files: Partial<Record<OutputFormat, string>>;
  /** format -> base64 of the encoded output, for outputs without a path. */
  data: Partial<Record<OutputFormat, string>>;
  /** Worker name (host:pid by default) and backend that ran it. */
  worker: string;
  backend: 'tensorrt' | 'cpu';
  timings: Record<string, number>;
}

const JOB_KEYS = ['version', 'task', 'input', 'outputs', 'options', 'name'] as const;
const INPUT_KEYS = ['bytes', 'path', 'url'] as const;
const OUTPUT_KEYS = ['format', 'path'] as const;
const OPTION_KEYS = ['seed', 'processingResolution', 'outputResample'] as const;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decoded size of a base64 string (padding aware), without decoding it. */
export function base64Bytes(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - padding;
}

function absolutePath(value: unknown, parameter: string): string {
  const p = nonEmptyString(value, parameter);
  if (!path.isAbsolute(p)) {
    throw new InvalidArgumentError(parameter, `${parameter}: expected an absolute path (workers may run anywhere), received ${describeValue(p)}`);
  }
  return p;
}

function inputUrl(value: unknown, parameter: string): string {
  const text = nonEmptyString(value, parameter);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid(parameter, 'a URL', text);
  }
  if (!(INPUT_URL_SCHEMES as readonly string[]).includes(url.protocol)) {
    throw new InvalidArgumentError(
      parameter,
      `${parameter}: unsupported URL scheme ${url.protocol} (supported: ${INPUT_URL_SCHEMES.join(', ')} and absolute paths)`,
    );
  }
  return text;
}

function parseInput(value: unknown): JobInput {
  const o = optionsObject(value, 'job.input', INPUT_KEYS);
  const given = INPUT_KEYS.filter((k) => o[k] !== undefined);
  if (given.length !== 1) {
    throw new InvalidArgumentError('job.input', `job.input: expected exactly one of bytes, path, url; received ${given.length === 0 ? 'none' : given.join(' and ')}`);
  }
  if (o.bytes !== undefined) {
    const bytes = nonEmptyString(o.bytes, 'job.input.bytes');
    if (bytes.length % 4 !== 0 || !BASE64.test(bytes)) throw invalid('job.input.bytes', 'base64 text', bytes);
    return { bytes };
  }
  if (o.path !== undefined) return { path: absolutePath(o.path, 'job.input.path') };
  return { url: inputUrl(o.url, 'job.input.url') };
}

function parseOutputs(value: unknown, task: Task): JobOutput[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_OUTPUTS) {
    throw invalid('job.outputs', `an array of 1 to ${MAX_OUTPUTS} outputs`, value);
  }
  const formats = new Set<string>();
  const paths = new Set<string>();
  return value.map((item, i) => {
    const parameter = `job.outputs[${i}]`;
    const o = optionsObject(item, parameter, OUTPUT_KEYS);
    const format = optionalOneOf(o.format, `${parameter}.format`, FORMATS[task]);
    if (format === undefined) throw invalid(`${parameter}.format`, `one of ${FORMATS[task].join(', ')}`, o.format);
    if (formats.has(format)) throw new InvalidArgumentError(`${parameter}.format`, `${parameter}.format: ${format} is asked for twice`);
    formats.add(format);
    if (o.path === undefined) return { format };
    const p = absolutePath(o.path, `${parameter}.path`);
    if (paths.has(path.resolve(p))) throw new InvalidArgumentError(`${parameter}.path`, `${parameter}.path: ${p} is the destination of two outputs`);
    paths.add(path.resolve(p));
    return { format, path: p };
  });
}

function parseOptions(value: unknown): JobEstimateOptions | undefined {
  if (value === undefined) return undefined;
  const o = optionsObject(value, 'job.options', OPTION_KEYS);
  const options: JobEstimateOptions = {};
  const seed = optionalInteger(o.seed, 'job.options.seed', { min: 0, max: MAX_SEED });
  const processingResolution = optionalInteger(o.processingResolution, 'job.options.processingResolution', { min: 0, max: MAX_IMAGE_SIDE });
  const outputResample = optionalOneOf(o.outputResample, 'job.options.outputResample', ['nearest', 'bilinear'] as const);
  if (seed !== undefined) options.seed = seed;
  if (processingResolution !== undefined) options.processingResolution = processingResolution;
  if (outputResample !== undefined) options.outputResample = outputResample;
  return options;
}

/**
 * Checks a job payload and returns it in canonical form. Throws InvalidArgumentError naming the
 * field (`job.input.path`, ...).
 */
export function validateJobData(value: unknown): LotusJobData {
  if (!isPlainObject(value)) throw invalid('job', 'an object', value);
  const o = optionsObject(value, 'job', JOB_KEYS);
  if (o.version !== JOB_FORMAT_VERSION) {
    throw new InvalidArgumentError('job.version', `job.version: this worker reads job format ${JOB_FORMAT_VERSION}, received ${describeValue(o.version)}`);
  }
  const task = optionalOneOf(o.task, 'job.task', ['depth', 'normal'] as const);
  if (task === undefined) throw invalid('job.task', "'depth' or 'normal'", o.task);
  const data: LotusJobData = {
    version: JOB_FORMAT_VERSION,
    task,
    input: parseInput(o.input),
    outputs: parseOutputs(o.outputs, task),
  };
  const options = parseOptions(o.options);
  if (options !== undefined) data.options = options;
  if (o.name !== undefined) {
    const name = nonEmptyString(o.name, 'job.name');
    if (name.length > 4096) throw invalid('job.name', 'at most 4096 characters', name);
    data.name = name;
  }
  return data;
}

/** validateJobData() for the worker: a bad payload becomes a permanent ERR_LOTUS_JOB_INVALID failure. */
export function parseJobData(value: unknown): LotusJobData {
  try {
    return validateJobData(value);
  } catch (error) {
    if (error instanceof InvalidArgumentError) {
      throw new JobError('ERR_LOTUS_JOB_INVALID', error.message, { cause: error, parameter: error.parameter });
    }
    throw error;
  }
}
