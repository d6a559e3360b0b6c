// lib/io/image-input.ts: every ImageInput form decodes to the pixels PIL's convert('RGB') would give.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, test } from 'vitest';
import { loadImage } from '../lib/io/image-input';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lotus-img-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const width = 4;
const height = 2;
const rgb = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256);
const rgbaOf = (alpha: number) => {
  const out = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    out.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
    out[p * 4 + 3] = alpha;
  }
  return out;
};
const png = (data: Uint8Array, channels: 3 | 4) => sharp(data, { raw: { width, height, channels } }).png().toBuffer();

describe('loadImage', () => {
  test('raw RGB and RGBA are taken as a copy (the caller may reuse its buffer while the request waits)', async () => {
    const raw = { data: rgb, width, height, channels: 3 as const };
    const image = await loadImage(raw);
    expect(image.data).not.toBe(rgb);
    expect([...image.data]).toEqual([...rgb]);
    expect([image.width, image.height, image.channels]).toEqual([width, height, 3]);
    const rgba = rgbaOf(10);
    expect((await loadImage({ data: rgba, width, height, channels: 4 })).channels).toBe(4);
  });

  test('encoded Buffer, Uint8Array and file path decode to the same RGB8', async () => {
    const encoded = await png(rgb, 3);
    const file = path.join(dir, 'rgb.png');
    fs.writeFileSync(file, encoded);
    for (const input of [encoded, new Uint8Array(encoded), file]) {
      const image = await loadImage(input);
      expect([image.width, image.height, image.channels]).toEqual([width, height, 3]);
      expect([...image.data]).toEqual([...rgb]);
    }
  });

  test('RGBA PNG: alpha is dropped without compositing (PIL convert("RGB"))', async () => {
    const image = await loadImage(await png(rgbaOf(0), 4));
    expect(image.channels).toBe(3);
    expect([...image.data]).toEqual([...rgb]);
  });

  test('grayscale expands to equal RGB channels; 16-bit reduces to 8 bits', async () => {
    const gray16 = Uint16Array.from({ length: width * height }, (_, i) => i * 8000);
    const encoded = await sharp(gray16, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
    expect((await sharp(encoded).metadata()).depth).toBe('ushort');
    const image = await loadImage(encoded);
    expect(image.channels).toBe(3);
    for (let p = 0; p < width * height; p++) {
      const v = image.data[p * 3];
      expect(image.data[p * 3 + 1]).toBe(v);
      expect(image.data[p * 3 + 2]).toBe(v);
      expect(Math.abs(v - (gray16[p] / 65535) * 255)).toBeLessThanOrEqual(1);
    }
  });

  test('EXIF orientation (6 = rotate 90 degrees clockwise) is applied to every encoded form and sharp instances, or to none', async () => {
    const jpeg = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const file = path.join(dir, 'rotated.jpg');
    fs.writeFileSync(file, jpeg);
    const forms = () => [jpeg, new Uint8Array(jpeg), file, sharp(jpeg)];
    const oriented = await Promise.all(forms().map((input) => loadImage(input)));
    const stored = await Promise.all(forms().map((input) => loadImage(input, 'image', undefined, false)));
    for (const image of oriented) {
      expect([image.width, image.height]).toEqual([height, width]);
      expect(image.data).toEqual(oriented[0]!.data);
    }
    for (const image of stored) {
      expect([image.width, image.height]).toEqual([width, height]);
      expect(image.data).toEqual(stored[0]!.data);
    }
  });

  test('a sharp instance is decoded through its own pipeline and left unchanged', async () => {
    const pipeline = sharp(await png(rgb, 3)).resize(2, 1, { kernel: 'nearest' });
    const image = await loadImage(pipeline);
    expect([image.width, image.height, image.channels]).toEqual([2, 1, 3]);
    // The caller's instance still works (we decoded a clone).
    const again = await pipeline.raw().toBuffer({ resolveWithObject: true });
    expect([again.info.width, again.info.height]).toEqual([2, 1]);
  });
});
