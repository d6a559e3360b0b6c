// The job format's checks, the producer's request conversion and the failure-reason text that
// travels through BullMQ (no Redis needed).
import path from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  CudaError, ImageError, InvalidArgumentError, JobError, buildJobData, parseFailedReason, validateJobData,
} from '../../lib/index';
import { formatFailedReason, toJobError } from '../../lib/queue/errors';
import { base64Bytes, parseJobData } from '../../lib/queue/job';
import { expectLotusError } from '../helpers/expect-error';

const valid = () => ({
  version: 1,
  task: 'depth',
  input: { path: '/data/a.png' },
  outputs: [{ format: 'npy', path: '/out/a_depth.npy' }, { format: 'color' }],
  options: { seed: 3, processingResolution: 64, outputResample: 'bilinear' },
  name: 'a.png',
});

describe('job format', () => {
  test('a valid job comes back in canonical form', () => {
    expect(validateJobData(valid())).toEqual(valid());
    const minimal = { version: 1, task: 'normal', input: { url: 'file:///data/a.png' }, outputs: [{ format: 'png' }] };
    expect(validateJobData(minimal)).toEqual(minimal);
    expect(validateJobData({ ...minimal, input: { bytes: Buffer.from('abc').toString('base64') } }).input).toEqual({ bytes: 'YWJj' });
  });

  test.each([
    ['not an object', 'a string', 'job'],
    ['unknown key', { ...valid(), priority: 1 }, 'job.priority'],
    ['version', { ...valid(), version: 2 }, 'job.version'],
    ['task', { ...valid(), task: 'segmentation' }, 'job.task'],
    ['no input', { ...valid(), input: {} }, 'job.input'],
    ['two inputs', { ...valid(), input: { path: '/a.png', url: 'file:///a.png' } }, 'job.input'],
    ['relative input path', { ...valid(), input: { path: 'a.png' } }, 'job.input.path'],
    ['input path with NUL', { ...valid(), input: { path: '/a\0.png' } }, 'job.input.path'],
    ['unsupported scheme', { ...valid(), input: { url: 's3://bucket/a.png' } }, 'job.input.url'],
    ['not a URL', { ...valid(), input: { url: 'nope' } }, 'job.input.url'],
    ['bytes not base64', { ...valid(), input: { bytes: 'abc$' } }, 'job.input.bytes'],
    ['empty bytes', { ...valid(), input: { bytes: '' } }, 'job.input.bytes'],
    ['no outputs', { ...valid(), outputs: [] }, 'job.outputs'],
    ['too many outputs', { ...valid(), outputs: Array.from({ length: 9 }, () => ({ format: 'npy' })) }, 'job.outputs'],
    ['format of the other task', { ...valid(), outputs: [{ format: 'png' }] }, 'job.outputs[0].format'],
    ['format twice', { ...valid(), outputs: [{ format: 'npy' }, { format: 'npy', path: '/o.npy' }] }, 'job.outputs[1].format'],
    ['one path for two outputs', { ...valid(), outputs: [{ format: 'npy', path: '/o/x' }, { format: 'color', path: '/o/../o/x' }] }, 'job.outputs[1].path'],
    ['relative output path', { ...valid(), outputs: [{ format: 'npy', path: 'out.npy' }] }, 'job.outputs[0].path'],
    ['processing resolution', { ...valid(), options: { processingResolution: 99_999 } }, 'job.options.processingResolution'],
    ['seed', { ...valid(), options: { seed: -1 } }, 'job.options.seed'],
    ['unknown option', { ...valid(), options: { steps: 4 } }, 'job.options.steps'],
    ['name', { ...valid(), name: '' }, 'job.name'],
  ])('rejects %s, naming the field', async (_, data, parameter) => {
    await expectLotusError(() => validateJobData(data), InvalidArgumentError, { parameter });
    // The worker's form: a permanent job failure with the same field.
    let caught: unknown;
    try {
      parseJobData(data);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(JobError);
    expect(caught).toMatchObject({ code: 'ERR_LOTUS_JOB_INVALID', permanent: true, parameter });
  });

  test('base64Bytes is the decoded length', () => {
    for (const n of [0, 1, 2, 3, 4, 100, 101, 102]) {
      expect(base64Bytes(Buffer.alloc(n, 7).toString('base64'))).toBe(n);
    }
  });
});

describe('job requests (producer API)', () => {
  test('paths become absolute, bytes base64, URLs stay URLs', () => {
    const data = buildJobData({ task: 'depth', input: 'images/a.png', outputs: [{ format: 'npy', path: 'out/a.npy' }] });
    expect(data.input).toEqual({ path: path.resolve('images/a.png') });
    expect(data.outputs).toEqual([{ format: 'npy', path: path.resolve('out/a.npy') }]);
    expect(buildJobData({ task: 'depth', input: Buffer.from([1, 2, 3]), outputs: [{ format: 'npy' }] }).input).toEqual({ bytes: 'AQID' });
    expect(buildJobData({ task: 'depth', input: 'https://example.com/a.png', outputs: [{ format: 'npy' }] }).input)
      .toEqual({ url: 'https://example.com/a.png' });
    expect(buildJobData({ task: 'depth', input: 'file:///a.png', outputs: [{ format: 'npy' }] }).input).toEqual({ url: 'file:///a.png' });
  });

  test('errors name the request field', async () => {
    await expectLotusError(
      () => buildJobData({ task: 'depth', input: 'a.png', outputs: [{ format: 'png' }] }, 'requests[4]'),
      InvalidArgumentError,
      { parameter: 'requests[4].outputs[0].format' },
    );
    await expectLotusError(
      () => buildJobData({ task: 'depth', input: Buffer.alloc(11), outputs: [{ format: 'npy' }] }, 'requests[0]', 10),
      InvalidArgumentError,
      { parameter: 'requests[0].input', message: /at most 10/ },
    );
    await expectLotusError(
      () => buildJobData({ task: 'depth', input: 'ftp://host/a.png', outputs: [{ format: 'npy' }] }, 'requests[1]'),
      InvalidArgumentError,
      { parameter: 'requests[1].input.url', message: /unsupported URL scheme ftp:/ },
    );
    await expectLotusError(
      () => buildJobData({ task: 'depth', input: '', outputs: [{ format: 'npy' }] }),
      InvalidArgumentError,
      { parameter: 'request.input' },
    );
  });
});

describe('failure reasons', () => {
  test('the stored text reads back into code and message', () => {
    const error = new JobError('ERR_LOTUS_INPUT_MISSING', 'job.input.path: no such file: /a.png\nsecond line');
    expect(parseFailedReason(formatFailedReason(error))).toEqual({ code: 'ERR_LOTUS_INPUT_MISSING', message: 'job.input.path: no such file: /a.png\nsecond line' });
    expect(parseFailedReason('job stalled more than allowable limit').code).toBe('ERR_LOTUS_JOB_STALLED');
    expect(parseFailedReason('something else')).toEqual({ code: 'ERR_LOTUS_UNKNOWN', message: 'something else' });
    expect(parseFailedReason(undefined).code).toBe('ERR_LOTUS_UNKNOWN');
  });

  test('library errors keep their code; bad images are permanent, CUDA errors and others are retried', () => {
    expect(toJobError(new ImageError('corrupt'))).toMatchObject({ code: 'ERR_LOTUS_IMAGE', permanent: true });
    expect(toJobError(new InvalidArgumentError('options.seed', 'bad'))).toMatchObject({ code: 'ERR_LOTUS_INVALID_ARGUMENT', permanent: true, parameter: 'options.seed' });
    expect(toJobError(new CudaError('out of memory'))).toMatchObject({ code: 'ERR_LOTUS_CUDA', permanent: false });
    expect(toJobError(new Error('boom'))).toMatchObject({ code: 'ERR_LOTUS_INTERNAL', permanent: false, message: 'boom' });
    expect(new JobError('ERR_LOTUS_INPUT_READ', 'x').permanent).toBe(false);
    expect(new JobError('ERR_LOTUS_RESULT_TOO_LARGE', 'x').permanent).toBe(true);
  });
});
