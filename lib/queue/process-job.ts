// One job, start to end: check the payload, read the input, estimate(), encode the outputs, write
// them atomically or return them. Throws JobError; the worker turns it into BullMQ's failure.
import path from 'node:path';
import type { LotusEstimator } from '../estimator/estimator';
import { jobKey, removeEarlierTemps, writeFileAtomic } from './atomic-write';
import { JobError, toJobError } from './errors';
import { encodeResult, type OutputFormat } from '../io/output-formats';
import { isInside, loadInput, type InputLimits } from './input';
import { parseJobData, type LotusJobResult } from './job';

export interface JobContext {
  estimator: LotusEstimator;
  /** Name recorded in each result (host:pid by default). */
  worker: string;
  input: InputLimits;
  /** When set, output paths must lie inside this folder. */
  outputRoot?: string;
  /** Largest total of returned (base64-decoded) output bytes per job. */
  maxResultBytes: number;
}

/** What the processor needs of a BullMQ job. */
export interface JobHandle {
  id: string;
  data: unknown;
  /** 1 for the first attempt; grows with retries and with stall recoveries. */
  attempt: number;
}

export async function processJob(ctx: JobContext, job: JobHandle, signal?: AbortSignal): Promise<LotusJobResult> {
  const data = parseJobData(job.data);
  const model = ctx.estimator.model;
  if (data.task !== model.task) {
    throw new JobError(
      'ERR_LOTUS_MODEL',
      `a ${data.task} job reached a worker of the ${model.task} model ${path.basename(model.path)}: use one queue per model`,
    );
  }
  if (ctx.outputRoot !== undefined) {
    data.outputs.forEach((output, i) => {
      if (output.path !== undefined && !isInside(ctx.outputRoot!, output.path)) {
        const parameter = `job.outputs[${i}].path`;
        throw new JobError('ERR_LOTUS_JOB_INVALID', `${parameter}: ${output.path} is outside the worker's output root ${ctx.outputRoot}`, { parameter });
      }
    });
  }

  const image = await loadInput(data.input, ctx.input, signal);
  let result;
  try {
    result = await ctx.estimator.estimate(image, data.options ?? {});
  } catch (error) {
    throw toJobError(error);
  }

  // Encode everything first, so a result over the limit fails before any file is written.
  const encoded: { format: OutputFormat; path?: string; bytes: Buffer }[] = [];
  let returnedBytes = 0;
  for (const output of data.outputs) {
    const bytes = await encodeResult(result, output.format);
    encoded.push({ ...output, bytes });
    if (output.path === undefined) returnedBytes += bytes.length;
  }
  if (returnedBytes > ctx.maxResultBytes) {
    throw new JobError('ERR_LOTUS_RESULT_TOO_LARGE', `the returned outputs take ${returnedBytes} bytes; this worker returns at most ${ctx.maxResultBytes} (write them to a path instead)`);
  }

  const key = jobKey(job.id);
  const files: LotusJobResult['files'] = {};
  const returned: LotusJobResult['data'] = {};
  for (const { format, path: target, bytes } of encoded) {
    if (target === undefined) {
      returned[format] = bytes.toString('base64');
      continue;
    }
    try {
      if (job.attempt > 1) await removeEarlierTemps(target, key, job.attempt);
      await writeFileAtomic(target, bytes, key, job.attempt);
    } catch (error) {
      throw new JobError('ERR_LOTUS_OUTPUT_WRITE', `writing ${target}: ${(error as Error).message}`, { cause: error });
    }
    files[format] = target;
  }
  return {
    task: model.task,
    width: result.width,
    height: result.height,
    files,
    data: returned,
    worker: ctx.worker,
    backend: ctx.estimator.backend,
    timings: { ...result.timings },
  };
}
