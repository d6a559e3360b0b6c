// Image inputs and request options: empty, truncated and random files, decompression bombs, every
// format sharp reads (raster ones accepted, SVG and vips refused unless listed), raw pixel objects
// with wrong lengths, channels and offsets, hostile paths and option values.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { LotusEstimator } from '../../lib/index';
import type { Case, Expectation } from './harness';

export interface ImageContext {
  dir: string;
  /** The tiny fixture (a real Lotus-shaped network), processingResolution 64. */
  tiny: LotusEstimator;
  /** An identity G model, native resolution: fast, takes noise. */
  identityG: LotusEstimator;
  /** Accepts SVG as well as the raster formats. */
  permissive: LotusEstimator;
}

const raw = (width: number, height: number, channels: number = 3) => ({
  data: new Uint8Array(width * height * channels).map((_, i) => (i * 13) & 255),
  width,
  height,
  channels: channels as 3 | 4, // other counts are some of the bad inputs
});

/** A PNG whose IHDR claims width x height (CRC fixed up), with a tiny IDAT: a decompression bomb header. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export async function imageCases(ctx: ImageContext, full: boolean): Promise<Case[]> {
  const { dir, tiny, identityG, permissive } = ctx;
  const cases: Case[] = [];
  const add = (group: string, name: string, expect: Expectation, run: () => Promise<unknown>, timeoutMs?: number) =>
    cases.push({ group, name, expect, run, ...(timeoutMs ? { timeoutMs } : {}) });
  const file = (name: string, content: Buffer | string) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, content);
    return p;
  };

  // Every format sharp reads, written by sharp from one picture (and a few variants).
  const base = sharp({ create: { width: 40, height: 30, channels: 4, background: { r: 200, g: 80, b: 20, alpha: 0.5 } } });
  const encoded: Record<string, Buffer> = {
    png: await base.clone().png().toBuffer(),
    'png 16-bit': await base.clone().toColourspace('rgb16').png().toBuffer(),
    'png grey': await base.clone().greyscale().png().toBuffer(),
    'png palette': await base.clone().png({ palette: true }).toBuffer(),
    jpeg: await base.clone().jpeg().toBuffer(),
    'jpeg progressive': await base.clone().jpeg({ progressive: true }).toBuffer(),
    'jpeg cmyk': await base.clone().toColourspace('cmyk').jpeg().toBuffer(),
    'jpeg exif orientation 6': await base.clone().jpeg().withMetadata({ orientation: 6 }).toBuffer(),
    webp: await base.clone().webp().toBuffer(),
    'webp lossless': await base.clone().webp({ lossless: true }).toBuffer(),
    gif: await base.clone().gif().toBuffer(),
    tiff: await base.clone().tiff().toBuffer(),
    'tiff deflate 16-bit': await base.clone().toColourspace('rgb16').tiff({ compression: 'deflate' }).toBuffer(),
    avif: await base.clone().avif({ effort: 0 }).toBuffer(),
  };
  for (const [format, bytes] of Object.entries(encoded)) {
    add('formats', `${format} (Buffer)`, 'result', () => tiny.estimate(bytes));
    const p = file(`format-${format.replace(/\W+/g, '-')}.img`, bytes);
    add('formats', `${format} (path)`, 'result', () => tiny.estimate(p));
    add('formats', `${format} truncated to half`, 'either', () => tiny.estimate(bytes.subarray(0, bytes.length >> 1)));
    add('formats', `${format} truncated to 20 bytes`, 'error', () => tiny.estimate(bytes.subarray(0, 20)));
    const flipped = Buffer.from(bytes);
    for (let i = 32; i < flipped.length; i += 97) flipped[i] ^= 0x5a;
    add('formats', `${format} with flipped bytes`, 'either', () => tiny.estimate(flipped));
  }
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="24" height="16"><rect width="24" height="16" fill="#0a0"/></svg>');
  add('formats', 'svg refused by default', 'error', () => tiny.estimate(svg));
  add('formats', 'svg accepted when listed', 'result', () => permissive.estimate(svg));
  add('formats', 'svgz (gzip) refused by default', 'error', () => tiny.estimate(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3])));
  fs.writeFileSync(path.join(dir, 'secret.png'), encoded.png!);
  const pulling = file('pull.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><image href="secret.png" width="8" height="8"/></svg>');
  add('formats', 'svg pulling a local file refused by default', 'error', () => tiny.estimate(pulling));
  const vips = path.join(dir, 'image.v');
  await base.clone().toFile(vips);
  add('formats', 'vips (a file-only format) refused', 'error', () => tiny.estimate(vips));
  add('formats', 'vips refused even by a permissive estimator', 'error', () => permissive.estimate(vips));
  add('formats', 'sharp instance', 'result', () => tiny.estimate(sharp(encoded.png!)));
  add('formats', 'sharp instance of garbage', 'error', () => tiny.estimate(sharp(Buffer.from('not an image at all'))));

  // Empty, tiny and random files.
  add('files', 'empty file', 'error', () => tiny.estimate(file('empty.png', Buffer.alloc(0))));
  add('files', 'one byte', 'error', () => tiny.estimate(file('one.png', Buffer.from([0x89]))));
  add('files', 'PNG signature only', 'error', () => tiny.estimate(file('sig.png', encoded.png!.subarray(0, 8))));
  for (let i = 0; i < (full ? 24 : 6); i++) {
    const bytes = crypto.randomBytes(64 + i * 257);
    add('files', `random ${bytes.length} bytes`, 'error', () => tiny.estimate(bytes));
    const prefixed = Buffer.concat([encoded.png!.subarray(0, 33), bytes]);
    add('files', `PNG header + random ${bytes.length} bytes`, 'error', () => tiny.estimate(prefixed));
  }
  add('files', 'text file', 'error', () => tiny.estimate(file('notes.txt', 'hello\n')));

  // Decompression bombs: small files whose headers claim huge images.
  add('bombs', 'PNG header claiming 100000 x 100000', 'error', () => tiny.estimate(pngClaiming(100_000, 100_000)));
  add('bombs', 'PNG header claiming 16384 x 16384', 'error', () => tiny.estimate(pngClaiming(16384, 16384)));
  add('bombs', 'PNG header claiming 2^31-1 x 1', 'error', () => tiny.estimate(pngClaiming(2 ** 31 - 1, 1)));
  add('bombs', 'PNG header claiming 0 x 0', 'error', () => tiny.estimate(pngClaiming(0, 0)));
  // Real bombs take sharp ~17 s to make: the full replay only (the headers above cover the check).
  const bombPng = full
    ? await sharp({ create: { width: 16384, height: 16384, channels: 3, background: 'black' }, limitInputPixels: false }).png({ compressionLevel: 9 }).toBuffer()
    : pngClaiming(16384, 16384);
  if (full) {
    add('bombs', `real 16384x16384 PNG of ${bombPng.length} bytes`, 'error', () => tiny.estimate(bombPng));
    const bombJpeg = await sharp({ create: { width: 12000, height: 9000, channels: 3, background: 'white' } }).jpeg({ quality: 1 }).toBuffer();
    add('bombs', `real 12000x9000 JPEG of ${bombJpeg.length} bytes`, 'error', () => tiny.estimate(bombJpeg));
    const bombGif = await sharp({ create: { width: 9000, height: 9000, channels: 3, background: 'red' } }).gif().toBuffer();
    add('bombs', `real 9000x9000 GIF of ${bombGif.length} bytes`, 'error', () => tiny.estimate(bombGif));
  }
  add('bombs', '6 concurrent 16384x16384 PNGs', 'error', async () => {
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => tiny.estimate(bombPng)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  // Hostile paths.
  add('paths', 'missing file', 'error', () => tiny.estimate(path.join(dir, 'missing.png')));
  add('paths', 'a directory', 'error', () => tiny.estimate(dir));
  add('paths', 'NUL in the path', 'error', () => tiny.estimate('bad\0name.png'));
  add('paths', 'empty path', 'error', () => tiny.estimate(''));
  if (process.platform === 'linux') {
    const fifo = path.join(dir, 'fifo.png');
    spawnSync('mkfifo', [fifo]);
    add('paths', 'a FIFO', 'error', () => tiny.estimate(fifo));
    const zero = path.join(dir, 'zero.png');
    fs.symlinkSync('/dev/zero', zero);
    add('paths', 'a symlink to /dev/zero', 'error', () => tiny.estimate(zero));
    add('paths', '/dev/stdin', 'error', () => tiny.estimate('/dev/stdin'));
    add('paths', '/proc/self/mem', 'error', () => tiny.estimate('/proc/self/mem'));
    const loop = path.join(dir, 'loop.png');
    fs.symlinkSync(loop, loop);
    add('paths', 'a symlink loop', 'error', () => tiny.estimate(loop));
  }

  // Raw pixel objects.
  const rawCases: [string, Expectation, unknown][] = [
    ['RGB 64x48', 'result', raw(64, 48)],
    ['RGBA 64x48', 'result', raw(64, 48, 4)],
    ['Uint8ClampedArray', 'result', { ...raw(16, 8), data: new Uint8ClampedArray(16 * 8 * 3) }],
    ['a view at an odd byte offset', 'result', { data: new Uint8Array(new ArrayBuffer(16 * 8 * 3 + 7), 7, 16 * 8 * 3), width: 16, height: 8, channels: 3 }],
    ['a Buffer slice of a pooled Buffer', 'result', { data: Buffer.from(raw(16, 8).data).subarray(0), width: 16, height: 8, channels: 3 }],
    ['shared memory', 'result', { data: new Uint8Array(new SharedArrayBuffer(16 * 8 * 3)), width: 16, height: 8, channels: 3 }],
    ['one byte short', 'error', { ...raw(16, 8), data: new Uint8Array(16 * 8 * 3 - 1) }],
    ['one byte long', 'error', { ...raw(16, 8), data: new Uint8Array(16 * 8 * 3 + 1) }],
    ['RGBA data, channels 3', 'error', { ...raw(16, 8, 4), channels: 3 }],
    ['channels 1', 'error', { ...raw(16, 8, 1), channels: 1 }],
    ['channels 2', 'error', { ...raw(16, 8, 2), channels: 2 }],
    ['channels 5', 'error', { ...raw(16, 8, 5), channels: 5 }],
    ["channels '3'", 'error', { ...raw(16, 8), channels: '3' }],
    ['width 0', 'error', { ...raw(16, 8), width: 0 }],
    ['width -16', 'error', { ...raw(16, 8), width: -16 }],
    ['width 1.5', 'error', { ...raw(16, 8), width: 1.5 }],
    ['width NaN', 'error', { ...raw(16, 8), width: NaN }],
    ['width Infinity', 'error', { ...raw(16, 8), width: Infinity }],
    ['width 2^53', 'error', { ...raw(16, 8), width: 2 ** 53 }],
    ['width * height overflowing 2^32', 'error', { data: new Uint8Array(3), width: 65536, height: 65537, channels: 3 }],
    ['16385 wide', 'error', { data: new Uint8Array(16385 * 3), width: 16385, height: 1, channels: 3 }],
    ['data an Array', 'error', { ...raw(2, 2), data: new Array(12).fill(0) }],
    ['data a Float32Array', 'error', { ...raw(2, 2), data: new Float32Array(12) }],
    ['data an Int8Array', 'error', { ...raw(2, 2), data: new Int8Array(12) }],
    ['data a DataView', 'error', { ...raw(2, 2), data: new DataView(new ArrayBuffer(12)) }],
    ['data an ArrayBuffer', 'error', { ...raw(2, 2), data: new ArrayBuffer(12) }],
    ['data null', 'error', { ...raw(2, 2), data: null }],
    ['no width', 'error', { data: new Uint8Array(12), height: 2, channels: 3 }],
    ['1 x 1', 'either', raw(1, 1)],
    ['1 x 4000 (too thin for 64)', 'error', raw(1, 4000)],
  ];
  for (const [name, expect, input] of rawCases) add('raw', name, expect, () => tiny.estimate(input as never));
  add('raw', 'detached pixel buffer', 'error', () => {
    const image = raw(8, 8);
    structuredClone(image.data.buffer, { transfer: [image.data.buffer] });
    return tiny.estimate(image);
  });
  add('raw', 'buffer changed right after the call', 'result', async () => {
    const image = raw(64, 48);
    const pending = tiny.estimate(image);
    image.data.fill(0);
    await pending;
  });

  // Not images at all.
  const values: [string, unknown][] = [
    ['undefined', undefined], ['null', null], ['a number', 42], ['a boolean', true], ['a symbol', Symbol('x')],
    ['a bigint', 10n], ['a function', () => 1], ['an empty object', {}], ['an array', [1, 2, 3]],
    ['a Float32Array', new Float32Array(8)], ['an empty Buffer', Buffer.alloc(0)], ['a Date', new Date()],
    ['a Promise', Promise.resolve(raw(8, 8))], ['a Map', new Map()], ['an object with a null prototype', Object.create(null)],
  ];
  for (const [name, value] of values) add('types', name, 'error', () => tiny.estimate(value as never));

  // Request options.
  const optionCases: [string, Expectation, unknown][] = [
    ['processingResolution 16384 (took the process down)', 'error', { processingResolution: 16384 }],
    ['processingResolution 4096', 'error', { processingResolution: 4096 }],
    ['processingResolution 2048', 'error', { processingResolution: 2048 }],
    ['processingResolution 0 (native)', 'result', { processingResolution: 0 }],
    ['processingResolution -1', 'error', { processingResolution: -1 }],
    ['processingResolution 16385', 'error', { processingResolution: 16385 }],
    ['processingResolution "64"', 'error', { processingResolution: '64' }],
    ['seed 2^53', 'error', { seed: 2 ** 53 }],
    ['seed 2^53-1', 'result', { seed: Number.MAX_SAFE_INTEGER }],
    ['seed -0', 'result', { seed: -0 }],
    ['seed NaN', 'error', { seed: NaN }],
    ['outputResample "cubic"', 'error', { outputResample: 'cubic' }],
    ['unknown option', 'error', { processingResolutoin: 64 }],
    ['options a string', 'error', 'fast'],
    ['options null', 'error', null],
    ['options an array', 'error', []],
  ];
  for (const [name, expect, options] of optionCases) add('options', name, expect, () => tiny.estimate(raw(64, 48), options as never));
  const noiseCases: [string, Expectation, unknown][] = [
    ['noise of the right length', 'result', new Float32Array(8)],
    ['noise in shared memory', 'result', new Float32Array(new SharedArrayBuffer(32))],
    ['noise with NaN and Infinity', 'result', Float32Array.from([NaN, Infinity, -Infinity, 0, 1e38, -1e38, 5e-45, 1])],
    ['noise too short', 'error', new Float32Array(7)],
    ['noise too long', 'error', new Float32Array(9)],
    ['noise a Float64Array', 'error', new Float64Array(8)],
    ['noise an Array', 'error', new Array(8).fill(0)],
  ];
  for (const [name, expect, noise] of noiseCases) add('options', name, expect, () => identityG.estimate(raw(16, 8), { noise } as never));
  add('options', 'noise detached', 'error', () => {
    const noise = new Float32Array(8);
    structuredClone(noise.buffer, { transfer: [noise.buffer] });
    return identityG.estimate(raw(16, 8), { noise });
  });

  // Batches.
  add('batch', 'estimateBatch(new Array(3))', 'error', () => tiny.estimateBatch(new Array(3)));
  add('batch', 'estimateBatch([])', 'result', () => tiny.estimateBatch([]));
  add('batch', 'estimateBatch("x.png")', 'error', () => tiny.estimateBatch('x.png' as never));
  add('batch', 'a too small image at images[1]', 'error', () => tiny.estimateBatch([raw(64, 48), raw(1, 4000)]));
  add('batch', 'a corrupt image at images[2]', 'error', () => tiny.estimateBatch([raw(64, 48), raw(32, 32), Buffer.from('junk')]));
  add('batch', 'mixed sizes and forms', 'result', () => tiny.estimateBatch([raw(64, 48), encoded.png!, raw(30, 40, 4), encoded.webp!]));
  add('batch', 'explicit noise for two images', 'error', () => identityG.estimateBatch([raw(16, 8), raw(16, 8)], { noise: new Float32Array(8) }));
  return cases;
}
