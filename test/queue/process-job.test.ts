// One job through a real estimator (CPU backend; an identity ONNX graph, so it is fast) without
// Redis: outputs written or returned equal the public result methods, failures are typed.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createEstimator, DepthResult, type LotusEstimator } from '../../lib/index';
import { jobKey, tempPath } from '../../lib/queue/atomic-write';
import { JobError } from '../../lib/queue/errors';
import { processJob, type JobContext } from '../../lib/queue/process-job';
import { identityLotusModel } from '../helpers/onnx-writer';
import { tempFolder } from '../helpers/temp-folder';

const { dir, write } = tempFolder('lotus-queue-job-');
let estimator: LotusEstimator;
let ctx: JobContext;
let png: Buffer;
let expected: DepthResult;

beforeAll(async () => {
  estimator = await createEstimator(write('identity.onnx', identityLotusModel()), {
    backend: 'cpu', processingResolution: 0, cpu: { intraOpThreads: 1 }, onWarning: () => undefined,
  });
  ctx = { estimator, worker: 'test:1', input: { maxBytes: 1 << 20, timeoutMs: 1000 }, maxResultBytes: 1 << 20 };
  const pixels = Uint8Array.from({ length: 24 * 16 * 3 }, (_, i) => (i * 37) % 256);
  png = await sharp(pixels, { raw: { width: 24, height: 16, channels: 3 } }).png().toBuffer();
  expected = (await estimator.estimate(png)) as DepthResult;
});
afterAll(async () => {
  await estimator?.close();
});

async function fails(data: unknown, context: JobContext = ctx): Promise<JobError> {
  try {
    await processJob(context, { id: 'j', data, attempt: 1 });
  } catch (error) {
    expect(error).toBeInstanceOf(JobError);
    return error as JobError;
  }
  throw new Error('expected the job to fail');
}

describe('processJob', () => {
  test('writes path outputs and returns the others, equal to the result methods', async () => {
    const input = write('in.png', png);
    const npy = path.join(dir, 'out', 'in_depth.npy');
    const result = await processJob(ctx, {
      id: 'job-1',
      attempt: 1,
      data: { version: 1, task: 'depth', input: { path: input }, outputs: [{ format: 'npy', path: npy }, { format: 'color' }, { format: 'png16' }] },
    });
    expect(result).toMatchObject({ task: 'depth', width: 24, height: 16, worker: 'test:1', backend: 'cpu', files: { npy } });
    expect(fs.readFileSync(npy).equals(expected.toNpy())).toBe(true);
    expect(Buffer.from(result.data.color!, 'base64').equals(await expected.toColorizedPng())).toBe(true);
    expect(Buffer.from(result.data.png16!, 'base64').equals(await expected.to16BitPng())).toBe(true);
    expect(result.timings.total).toBeGreaterThan(0);
  });

  test('a retried attempt removes the temp file the killed attempt left', async () => {
    const npy = path.join(dir, 'retry', 'a_depth.npy');
    fs.mkdirSync(path.dirname(npy), { recursive: true });
    const leftover = tempPath(npy, jobKey('job-2'), 1);
    fs.writeFileSync(leftover, 'torn');
    await processJob(ctx, {
      id: 'job-2', attempt: 2,
      data: { version: 1, task: 'depth', input: { bytes: png.toString('base64') }, outputs: [{ format: 'npy', path: npy }] },
    });
    expect(fs.readdirSync(path.dirname(npy))).toEqual(['a_depth.npy']);
  });

  test('bad jobs fail with their reason', async () => {
    const base = { version: 1, task: 'depth', outputs: [{ format: 'npy' }] };
    expect(await fails({ ...base, input: { bytes: Buffer.from('not an image').toString('base64') } }))
      .toMatchObject({ code: 'ERR_LOTUS_IMAGE', permanent: true });
    expect(await fails({ ...base, task: 'normal', input: { bytes: png.toString('base64') }, outputs: [{ format: 'png' }] }))
      .toMatchObject({ code: 'ERR_LOTUS_MODEL', permanent: true, message: expect.stringMatching(/one queue per model/) });
    expect(await fails({ ...base, input: { path: '/definitely/missing.png' } }))
      .toMatchObject({ code: 'ERR_LOTUS_INPUT_MISSING', permanent: false });
    expect(await fails({ ...base, input: { bytes: png.toString('base64') } }, { ...ctx, maxResultBytes: 100 }))
      .toMatchObject({ code: 'ERR_LOTUS_RESULT_TOO_LARGE', permanent: true });
    const outside = { ...base, input: { bytes: png.toString('base64') }, outputs: [{ format: 'npy', path: '/elsewhere/a.npy' }] };
    expect(await fails(outside, { ...ctx, outputRoot: dir })).toMatchObject({ code: 'ERR_LOTUS_JOB_INVALID', parameter: 'job.outputs[0].path' });
    const blocker = write('file-not-folder', 'x');
    expect(await fails({ ...base, input: { bytes: png.toString('base64') }, outputs: [{ format: 'npy', path: path.join(blocker, 'a.npy') }] }))
      .toMatchObject({ code: 'ERR_LOTUS_OUTPUT_WRITE', permanent: false });
    expect(await fails({ ...base, input: { bytes: png.toString('base64') }, options: { processingResolution: -1 } }))
      .toMatchObject({ code: 'ERR_LOTUS_JOB_INVALID', parameter: 'job.options.processingResolution' });
  });
});
