// Job inputs (bytes, paths, file: and http: URLs, with limits) and atomic outputs (no Redis needed).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { removeEarlierTemps, tempPath, writeFileAtomic, TEMP_SUFFIX } from '../../lib/queue/atomic-write';
import { JobError } from '../../lib/queue/errors';
import { isInside, loadInput, type InputLimits } from '../../lib/queue/input';
import type { JobInput } from '../../lib/queue/job';
import { tempFolder } from '../helpers/temp-folder';

const { dir, write } = tempFolder('lotus-queue-io-');
const limits: InputLimits = { maxBytes: 1000, timeoutMs: 2000 };

async function failure(input: JobInput, l: InputLimits = limits): Promise<JobError> {
  try {
    await loadInput(input, l);
  } catch (error) {
    expect(error).toBeInstanceOf(JobError);
    return error as JobError;
  }
  throw new Error('expected loadInput to fail');
}

describe('job inputs', () => {
  test('bytes, a path and a file: URL give the same buffer', async () => {
    const content = Buffer.from('0123456789');
    const file = write('in.bin', content);
    expect(await loadInput({ bytes: content.toString('base64') }, limits)).toEqual(content);
    expect(await loadInput({ path: file }, limits)).toEqual(content);
    expect(await loadInput({ url: pathToFileURL(file).href }, limits)).toEqual(content);
  });

  test('a missing file is retried (ERR_LOTUS_INPUT_MISSING), a folder or a path outside the root is not', async () => {
    expect(await failure({ path: path.join(dir, 'nope.png') })).toMatchObject({ code: 'ERR_LOTUS_INPUT_MISSING', permanent: false, parameter: 'job.input.path' });
    expect(await failure({ url: pathToFileURL(path.join(dir, 'nope.png')).href })).toMatchObject({ code: 'ERR_LOTUS_INPUT_MISSING', parameter: 'job.input.url' });
    expect(await failure({ path: dir })).toMatchObject({ code: 'ERR_LOTUS_JOB_INVALID', permanent: true });
    const file = write('inside.bin', 'x');
    expect(await loadInput({ path: file }, { ...limits, root: dir })).toEqual(Buffer.from('x'));
    const outside = await failure({ path: file }, { ...limits, root: path.join(dir, 'sub') });
    expect(outside).toMatchObject({ code: 'ERR_LOTUS_JOB_INVALID', message: expect.stringMatching(/outside the worker's input root/) });
    expect(isInside('/a/b', '/a/b/../c')).toBe(false);
    expect(isInside('/a/b', '/a/b/..c/d')).toBe(true);
    expect(isInside('/a/b', '/a/b')).toBe(true);
  });

  test.skipIf(process.platform === 'win32')('a FIFO is refused at once (ERR_LOTUS_JOB_INVALID), never read (which would block a thread forever)', async () => {
    const fifo = path.join(dir, 'input.fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(await failure({ path: fifo })).toMatchObject({ code: 'ERR_LOTUS_JOB_INVALID', permanent: true, parameter: 'job.input.path' });
  }, 5000);

  test('inputs over the limit fail for good before being read', async () => {
    const file = write('big.bin', Buffer.alloc(1001));
    expect(await failure({ path: file })).toMatchObject({ code: 'ERR_LOTUS_INPUT_TOO_LARGE', permanent: true });
    expect(await failure({ bytes: Buffer.alloc(1001).toString('base64') })).toMatchObject({ code: 'ERR_LOTUS_INPUT_TOO_LARGE' });
  });

  describe('http', () => {
    let server: http.Server;
    let base: string;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        if (req.url === '/ok') res.end('image bytes');
        else if (req.url === '/big') res.writeHead(200, { 'content-length': '5000' }).end(Buffer.alloc(5000));
        else if (req.url === '/big-chunked') {
          // No content-length: the limit applies while streaming.
          res.writeHead(200);
          for (let i = 0; i < 10; i++) res.write(Buffer.alloc(300));
          res.end();
        } else if (req.url === '/slow') setTimeout(() => res.end('late'), 3000);
        else if (req.url === '/error') res.writeHead(503).end();
        else res.writeHead(404).end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => {
      server.closeAllConnections();
      server.close();
    });

    test('downloads, and classifies each failure', async () => {
      expect((await loadInput({ url: `${base}/ok` }, limits)).toString()).toBe('image bytes');
      expect(await failure({ url: `${base}/missing` })).toMatchObject({ code: 'ERR_LOTUS_INPUT_MISSING', permanent: false });
      expect(await failure({ url: `${base}/error` })).toMatchObject({ code: 'ERR_LOTUS_INPUT_READ', permanent: false, message: expect.stringMatching(/503/) });
      expect(await failure({ url: `${base}/big` })).toMatchObject({ code: 'ERR_LOTUS_INPUT_TOO_LARGE' });
      expect(await failure({ url: `${base}/big-chunked` })).toMatchObject({ code: 'ERR_LOTUS_INPUT_TOO_LARGE' });
      expect(await failure({ url: `${base}/slow` }, { ...limits, timeoutMs: 200 })).toMatchObject({ code: 'ERR_LOTUS_INPUT_READ' });
    });
  });
});

describe('atomic outputs', () => {
  test('the target appears whole, no temp file stays, folders are created', async () => {
    const target = path.join(dir, 'out', 'deep', 'a.npy');
    await writeFileAtomic(target, Buffer.from('first'), 'k1', 1);
    expect(fs.readFileSync(target, 'utf8')).toBe('first');
    await writeFileAtomic(target, Buffer.from('second, longer'), 'k1', 2);
    expect(fs.readFileSync(target, 'utf8')).toBe('second, longer');
    expect(fs.readdirSync(path.dirname(target))).toEqual(['a.npy']);
  });

  test('a later attempt deletes the temp files earlier attempts of the job left, and only those', async () => {
    const target = path.join(dir, 'retry', 'b.png');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    // As left by workers killed mid-write: attempts 1 and 2 of this job, attempt 1 of another job.
    for (const [key, attempt] of [['job', 1], ['job', 2], ['other', 1]] as const) {
      fs.writeFileSync(tempPath(target, key, attempt), 'torn');
    }
    expect(path.basename(tempPath(target, 'job', 2))).toBe(`.b.png.job-2${TEMP_SUFFIX}`);
    await removeEarlierTemps(target, 'job', 3);
    await writeFileAtomic(target, Buffer.from('whole'), 'job', 3);
    expect(fs.readdirSync(path.dirname(target)).sort()).toEqual([path.basename(tempPath(target, 'other', 1)), 'b.png'].sort());
  });

  test('a failed write leaves neither target nor temp', async () => {
    const blocker = write('not-a-folder', 'x');
    await expect(writeFileAtomic(path.join(blocker, 'c.npy'), Buffer.from('x'), 'k', 1)).rejects.toThrow();
    const target = path.join(dir, 'is-a-folder');
    fs.mkdirSync(path.join(target, 'child'), { recursive: true });
    await expect(writeFileAtomic(target, Buffer.from('x'), 'k', 1)).rejects.toThrow();
    expect(fs.existsSync(tempPath(target, 'k', 1))).toBe(false);
  });
});
