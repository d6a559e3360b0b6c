// Result encoders (PNG, 16-bit PNG, .npy) and the fp16 conversion used for fp16 models on the CPU.
import sharp from 'sharp';
import { describe, expect, test } from 'vitest';
import { DepthResult, NormalResult, decodeNpy, encodeNpy } from '../lib/index';
import { fromHalfBits, toHalfBits } from '../lib/backends/half';
import type { Timings } from '../lib/backends/backend';

const timings: Timings = { decode: 0, preprocess: 0, inference: 0, postprocess: 0, copy: 0, total: 0 };

describe('npy', () => {
  test('float32 and uint8 round-trip with shape, header aligned to 64 bytes', () => {
    const f = Float32Array.from({ length: 24 }, (_, i) => i / 7 - 1);
    const encoded = encodeNpy(f, [2, 3, 4]);
    const headerLength = encoded.readUInt16LE(8);
    expect((10 + headerLength) % 64).toBe(0);
    expect(encoded.subarray(10, 10 + headerLength).toString('latin1')).toMatch(/'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3, 4\)/);
    expect(decodeNpy(encoded)).toEqual({ dtype: '<f4', shape: [2, 3, 4], data: f });
    const u = Uint8Array.from({ length: 5 }, (_, i) => i * 50);
    expect(decodeNpy(encodeNpy(u, [5]))).toEqual({ dtype: '|u1', shape: [5], data: u });
  });

  test('rejects bad input', () => {
    expect(() => decodeNpy(Buffer.from('not npy at all'))).toThrow(/bad magic/);
    const truncated = encodeNpy(new Float32Array(10), [10]).subarray(0, 100);
    expect(() => decodeNpy(truncated)).toThrow(/truncated/);
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(/holds 6 values/);
  });
});

describe('DepthResult', () => {
  const width = 5;
  const height = 3;
  const data = Float32Array.from({ length: width * height }, (_, i) => i / (width * height - 1));
  const result = new DepthResult(width, height, data, false, timings);

  test('to16BitPng decodes to round(d * 65535) in 16-bit grayscale', async () => {
    const png = await result.to16BitPng();
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.depth, meta.channels, meta.width, meta.height]).toEqual(['png', 'ushort', 1, width, height]);
    const { data: raw } = await sharp(png).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const samples = new Uint16Array(raw.buffer, raw.byteOffset, raw.length / 2);
    expect([...samples]).toEqual([...data].map((d) => Math.round(d * 65535)));
  });

  test('toColorizedPng decodes to colorize(): Spectral from red (near) to blue (far)', async () => {
    const rgb = result.colorize();
    expect(rgb).toHaveLength(width * height * 3);
    const { data: decoded, info } = await sharp(await result.toColorizedPng()).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(3);
    expect(Buffer.from(decoded).equals(Buffer.from(rgb))).toBe(true);
    // matplotlib Spectral(0) = (158, 1, 66) / 255 and Spectral(1) = (94, 79, 162) / 255: the ends of the table.
    expect([...rgb.subarray(0, 3)]).toEqual([158, 1, 66]);
    expect([...rgb.subarray(rgb.length - 3)]).toEqual([94, 79, 162]);
    const reversed = new DepthResult(width, height, data, true, timings).colorize();
    expect([...reversed.subarray(0, 3)]).toEqual([94, 79, 162]);
  });

  test('toNpy is float32 [H, W]', () => {
    expect(decodeNpy(result.toNpy())).toEqual({ dtype: '<f4', shape: [height, width], data });
  });
});

describe('NormalResult', () => {
  test('toPng is infer.py\'s uint8(p * 255), truncated; data are unit vectors of 2p - 1; toNpy writes either', async () => {
    // p of the normals (0, 0, 1), (-1, 0, 0), (0.6, -0.8, 0), a zero vector, and one of length 0.5.
    const prediction = Float32Array.from([0.5, 0.5, 1, 0, 0.5, 0.5, 0.8, 0.1, 0.5, 0.5, 0.5, 0.5, 0.75, 0.5, 0.5]);
    const result = new NormalResult(5, 1, prediction, timings);
    const expected = [...prediction].map((p) => Math.trunc(Math.fround(p * 255)));
    expect([...result.colorize()]).toEqual(expected);
    const { data: decoded } = await sharp(await result.toPng()).raw().toBuffer({ resolveWithObject: true });
    expect([...decoded]).toEqual(expected);
    const unit = [0, 0, 1, -1, 0, 0, 0.6, -0.8, 0, 0, 0, 0, 1, 0, 0];
    [...result.data].forEach((v, i) => expect(v).toBeCloseTo(unit[i]!, 6));
    expect(result.data).toBe(result.data); // computed once
    expect(decodeNpy(result.toNpy())).toEqual({ dtype: '<f4', shape: [1, 5, 3], data: result.data });
    expect(decodeNpy(result.toNpy('prediction'))).toEqual({ dtype: '<f4', shape: [1, 5, 3], data: prediction });
  });
});

describe('half floats', () => {
  test('known values and round to nearest even', () => {
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(65504)).toBe(0x7bff);
    expect(toHalfBits(1e6)).toBe(0x7c00);
    expect(toHalfBits(2 ** -24)).toBe(0x0001);
    expect(toHalfBits(1e-9)).toBe(0);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // halfway, even stays
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway, odd rounds up
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
  });

  test('every finite half survives half -> float -> half', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(toHalfBits(fromHalfBits(h))).toBe(h);
    }
  });
});
