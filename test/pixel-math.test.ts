// Host pixel math (native/core/pixel_math.h through binding.preprocess/postprocess/colorizeDepth/
// gaussianNoise): argument validation, hand-derived values, an independent step-by-step port of
// torch's float32 antialiased resize, and the PyTorch reference fixtures when they are present.
import path from 'node:path';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type * as Binding from '../binding';
import sharp from 'sharp';
import { NormalResult } from '../lib/estimator/results';
import {
  OUTPUT_QUANTIZATION_ERROR, caseColor, caseNpy, caseOutput, comparePixels, fixturesDir as fixtureDir, hasFixtures, manifest,
  manifestPath, maxAbsDiff,
} from './helpers/fixtures';

const root = path.resolve(__dirname, '..');
const requireFromRoot = createRequire(path.join(root, 'package.json'));
const binding = (requireFromRoot('node-gyp-build') as (dir: string) => typeof Binding)(root);

const f = Math.fround;

function pixelsOf(width: number, height: number, channels: number, seed = 1): Uint8Array {
  const pixels = new Uint8Array(width * height * channels);
  let state = seed >>> 0;
  for (let i = 0; i < pixels.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    pixels[i] = state >>> 24;
  }
  return pixels;
}

// ---- an independent port of torch's CPU float32 path, rounding at every step as torch does ----

function torchAaAxis(inSize: number, outSize: number) {
  const scale = f(inSize / outSize);
  const support = scale >= 1 ? f(1.0 * scale) : 1;
  const invscale = scale >= 1 ? f(1.0 / scale) : 1;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const taps: { xmin: number; weights: number[] }[] = [];
  for (let i = 0; i < outSize; i++) {
    const center = f(scale * (i + 0.5));
    const xmin = Math.max(Math.trunc(f(center - support) + 0.5), 0);
    let xsize = Math.min(Math.trunc(f(center + support) + 0.5), inSize) - xmin;
    xsize = Math.min(Math.max(xsize, 0), maxTaps);
    const raw: number[] = [];
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      const x = Math.abs(f((f(j + xmin - center) + 0.5) * invscale));
      const w = x < 1 ? f(1 - x) : 0;
      raw.push(w);
      total = f(total + w);
    }
    taps.push({ xmin, weights: raw.map((w) => (total !== 0 ? f(w / total) : w)) });
  }
  return taps;
}

function torchAaResize(plane: Float32Array, inW: number, inH: number, outW: number, outH: number): Float32Array {
  let current = plane;
  let width = inW;
  if (outW !== inW) {
    const taps = torchAaAxis(inW, outW);
    const next = new Float32Array(outW * inH);
    for (let y = 0; y < inH; y++)
      for (let x = 0; x < outW; x++) {
        const { xmin, weights } = taps[x];
        let acc = f(current[y * width + xmin] * weights[0]);
        for (let j = 1; j < weights.length; j++) acc = f(acc + f(current[y * width + xmin + j] * weights[j]));
        next[y * outW + x] = acc;
      }
    current = next;
    width = outW;
  }
  if (outH !== inH) {
    const taps = torchAaAxis(inH, outH);
    const next = new Float32Array(outW * outH);
    for (let y = 0; y < outH; y++)
      for (let x = 0; x < outW; x++) {
        const { xmin, weights } = taps[y];
        let acc = f(current[xmin * width + x] * weights[0]);
        for (let j = 1; j < weights.length; j++) acc = f(acc + f(current[(xmin + j) * width + x] * weights[j]));
        next[y * outW + x] = acc;
      }
    current = next;
  }
  return current;
}

function referencePreprocess(pixels: Uint8Array, w: number, h: number, c: number, resolution: number) {
  let rw = w;
  let rh = h;
  if (resolution > 0) {
    const s = Math.min(resolution / w, resolution / h);
    rw = Math.max(1, Math.trunc(w * s));
    rh = Math.max(1, Math.trunc(h * s));
  }
  const out = new Float32Array(3 * rw * rh);
  for (let ch = 0; ch < 3; ch++) {
    const plane = new Float32Array(w * h);
    for (let i = 0; i < w * h; i++) plane[i] = f(f(pixels[i * c + ch] / 127.5) - 1);
    out.set(torchAaResize(plane, w, h, rw, rh), ch * rw * rh);
  }
  return { tensor: out, shape: [1, 3, rh, rw] };
}

/** torch nearest_neighbor_exact_compute_source_index: floorf((dst + 0.5) * scale), in double then float. */
function nearestExact(dst: number, inSize: number, outSize: number): number {
  const scale = f(inSize / outSize);
  return Math.min(Math.floor(f((dst + 0.5) * scale)), inSize - 1);
}

async function expectArgumentError(promiseOrCall: () => unknown, parameter: string) {
  let caught: unknown;
  try {
    await promiseOrCall();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(TypeError);
  expect((caught as { code?: string }).code).toBe('ERR_LOTUS_INVALID_ARGUMENT');
  expect((caught as { parameter?: string }).parameter).toBe(parameter);
}

describe('preprocess', () => {
  it('is asynchronous (returns a Promise)', async () => {
    const pending = binding.preprocess(pixelsOf(8, 8, 3), 8, 8, 3, { processingResolution: 0 });
    expect(pending).toBeInstanceOf(Promise);
    await pending;
  });

  it('R = 0 is exactly rgb / 127.5 - 1 in NCHW', async () => {
    const pixels = pixelsOf(16, 8, 4);
    const result = await binding.preprocess(pixels, 16, 8, 4, { processingResolution: 0 });
    expect(result.shape).toEqual([1, 3, 8, 16]);
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < 16 * 8; i++) expect(result.tensor[c * 128 + i]).toBe(f(f(pixels[i * 4 + c] / 127.5) - 1));
  });

  it('the network input is the resized image, int(W * min(R/W, R/H)) like Python, never padded', async () => {
    for (const [w, h, r] of [[1920, 1080, 768], [333, 517, 200], [1000, 1, 768], [1, 1000, 768], [640, 480, 1024], [7, 5, 0], [1443, 715, 768]]) {
      const s = Math.min(r / w, r / h);
      const expected = r > 0 ? [Math.max(1, Math.trunc(w * s)), Math.max(1, Math.trunc(h * s))] : [w, h];
      const result = await binding.preprocess(pixelsOf(w, h, 3), w, h, 3, { processingResolution: r });
      expect(result.shape).toEqual([1, 3, expected[1], expected[0]]);
      expect(result.tensor.length).toBe(3 * expected[0] * expected[1]);
    }
  });

  it('an exact 2x antialiased downscale uses the taps 1/8, 3/8, 3/8, 1/8', async () => {
    // One row 0, 0, 255, 0, 0, 0, 0, 0 -> output pixel 1 covers input 1..4 with weights 1/8, 3/8, 3/8, 1/8.
    const w = 8;
    const pixels = new Uint8Array(w * 3);
    pixels[2 * 3] = 255;
    const result = await binding.preprocess(pixels, w, 1, 3, { processingResolution: 4 });
    expect(result.shape).toEqual([1, 3, 1, 4]);
    const x = result.tensor;
    // values: -1 everywhere except +1 at input 2 -> output 1 = -1 + 2 * 3/8 = -0.25
    expect(x[1]).toBeCloseTo(-0.25, 6);
    // output 0 is clipped at the border: taps 0..2 with weights 3/7, 3/7, 1/7 -> -6/7 + 1/7
    expect(x[0]).toBeCloseTo(-5 / 7, 6);
  });

  it('matches an independent float32 port of torch antialiased bilinear (tolerance 0: same rounding steps)', async () => {
    const cases: [number, number, 3 | 4, number][] = [
      [1, 1, 3, 0], [1, 1, 4, 768], [7, 5, 3, 0], [1000, 1, 3, 768], [1, 1000, 4, 768],
      [37, 23, 3, 16], [64, 48, 4, 100], [333, 517, 3, 200], [300, 200, 3, 768], [17, 13, 3, 64], [1443, 715, 3, 768],
    ];
    for (const [w, h, c, r] of cases) {
      const pixels = pixelsOf(w, h, c, w * 31 + h);
      const expected = referencePreprocess(pixels, w, h, c, r);
      const result = await binding.preprocess(pixels, w, h, c, { processingResolution: r });
      expect(result.shape).toEqual(expected.shape);
      expect(maxAbsDiff(result.tensor, expected.tensor), `${w}x${h}x${c} R=${r}`).toBe(0);
    }
  });

  it('rejects bad arguments naming the parameter', async () => {
    const px = pixelsOf(4, 4, 3);
    const ok = { processingResolution: 0 };
    await expectArgumentError(() => binding.preprocess(px, 0, 4, 3, ok), 'width');
    await expectArgumentError(() => binding.preprocess(px, 4, 16385, 3, ok), 'height');
    await expectArgumentError(() => binding.preprocess(px, 4.5, 4, 3, ok), 'width');
    await expectArgumentError(() => binding.preprocess(px, 4, 4, 2 as 3, ok), 'channels');
    await expectArgumentError(() => binding.preprocess(px, 4, 4, 4, ok), 'pixels');
    await expectArgumentError(() => binding.preprocess(new Float32Array(48) as unknown as Uint8Array, 4, 4, 3, ok), 'pixels');
    await expectArgumentError(() => binding.preprocess(px, 4, 4, 3, { processingResolution: -1 }), 'processingResolution');
    await expectArgumentError(() => binding.preprocess(px, 4, 4, 3, null as unknown as typeof ok), 'options');
  });
});

describe('postprocess', () => {
  const shapeOf = (h: number, w: number): [number, number, number, number] => [1, 3, h, w];
  const unit = (v: number) => Math.min(Math.max(f(f(v * 0.5) + 0.5), 0), 1);
  const predictionOf = (h: number, w: number) => new Float32Array(3 * h * w).map((_, i) => 1.3 * Math.sin(i * 0.37));

  it('nearest is torch NEAREST_EXACT (Lotus "nearest"): src = floor((dst + 0.5) * in / out), never floor(dst * in / out)', () => {
    // 576 -> 768, the case the fidelity issue measured: a quarter of the rows differ between the rules.
    let differ = 0;
    for (let y = 0; y < 768; y++) if (nearestExact(y, 576, 768) !== Math.floor(y * f(576 / 768))) differ++;
    expect(differ).toBe(192);
    expect([0, 1, 2, 3, 4, 5].map((y) => nearestExact(y, 3, 6))).toEqual([0, 0, 1, 1, 2, 2]);
    expect([0, 1, 2, 3].map((y) => nearestExact(y, 6, 4))).toEqual([0, 2, 3, 5]);
  });

  it('depth = mean of clamp(y / 2 + 0.5) over channels of the whole prediction, resized with NEAREST_EXACT', async () => {
    for (const [ph, pw, oh, ow] of [[8, 8, 6, 10], [376, 768, 715, 1443], [16, 8, 17, 9], [8, 16, 8, 16]]) {
      const prediction = predictionOf(ph, pw);
      const out = await binding.postprocess(prediction, shapeOf(ph, pw), {
        task: 'depth', outputWidth: ow, outputHeight: oh, resample: 'nearest',
      });
      expect(out.length).toBe(oh * ow);
      for (let y = 0; y < oh; y += 7)
        for (let x = 0; x < ow; x += 5) {
          const [sy, sx] = [nearestExact(y, ph, oh), nearestExact(x, pw, ow)];
          const p = [0, 1, 2].map((c) => unit(prediction[(c * ph + sy) * pw + sx]));
          expect(out[y * ow + x], `${ph}x${pw} -> ${oh}x${ow} at ${y},${x}`).toBe(f(f(f(p[0] + p[1]) + p[2]) / 3));
        }
    }
  });

  it('normals are p itself, interleaved (what infer.py saves); bilinear is the antialiased torch resize of p', async () => {
    for (const [ph, pw, oh, ow] of [[16, 24, 31, 50], [64, 48, 20, 13], [8, 8, 8, 8]]) {
      const prediction = predictionOf(ph, pw);
      const out = await binding.postprocess(prediction, shapeOf(ph, pw), {
        task: 'normal', outputWidth: ow, outputHeight: oh, resample: 'bilinear',
      });
      expect(out.length).toBe(oh * ow * 3);
      for (let c = 0; c < 3; c++) {
        const plane = Float32Array.from(prediction.subarray(c * ph * pw, (c + 1) * ph * pw), unit);
        const resized = torchAaResize(plane, pw, ph, ow, oh);
        for (let i = 0; i < oh * ow; i++) expect(out[i * 3 + c]).toBe(resized[i]);
      }
    }
  });

  it('rejects bad arguments naming the parameter', async () => {
    const good = { task: 'depth' as const, outputWidth: 8, outputHeight: 8, resample: 'nearest' as const };
    const p = new Float32Array(3 * 64);
    await expectArgumentError(() => binding.postprocess(p, [1, 3, 8, 9], good), 'prediction');
    await expectArgumentError(() => binding.postprocess(p, [2, 3, 8, 8], good), 'shape[0]');
    await expectArgumentError(() => binding.postprocess(p, [1, 3, 8] as never, good), 'shape');
    await expectArgumentError(() => binding.postprocess(p, [1, 3, 8, 8], { ...good, outputHeight: 0 }), 'outputHeight');
    await expectArgumentError(() => binding.postprocess(p, [1, 3, 8, 8], { ...good, task: 'segment' as 'depth' }), 'task');
    await expectArgumentError(() => binding.postprocess(p, [1, 3, 8, 8], { ...good, resample: 'cubic' as 'nearest' }), 'resample');
    await expectArgumentError(() => binding.postprocess(new Uint8Array(192) as unknown as Float32Array, [1, 3, 8, 8], good), 'prediction');
  });
});

describe('colorizeDepth', () => {
  it('min -> Spectral[0], max -> Spectral[255], reversed swaps, constant -> black (NaN in matplotlib)', () => {
    const rgb = binding.colorizeDepth(new Float32Array([2, 7]), 2, 1, false);
    expect(Array.from(rgb)).toEqual([158, 1, 66, 94, 79, 162]);
    expect(Array.from(binding.colorizeDepth(new Float32Array([2, 7]), 2, 1, true))).toEqual([94, 79, 162, 158, 1, 66]);
    expect(Array.from(binding.colorizeDepth(new Float32Array([3, 3]), 1, 2, false))).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('rejects bad arguments', async () => {
    await expectArgumentError(() => binding.colorizeDepth(new Float32Array(3), 2, 2, false), 'depth');
    await expectArgumentError(() => binding.colorizeDepth(new Float32Array(4), 2, 2, 1 as unknown as boolean), 'reverse');
    await expectArgumentError(() => binding.colorizeDepth(new Float32Array(0), 0, 0, false), 'width');
  });
});

describe('gaussianNoise', () => {
  it('is deterministic per seed, prefix-stable and standard normal', () => {
    const a = binding.gaussianNoise(7, 1_000_000);
    expect(Array.from(binding.gaussianNoise(7, 13))).toEqual(Array.from(a.subarray(0, 13)));
    expect(Array.from(binding.gaussianNoise(8, 13))).not.toEqual(Array.from(a.subarray(0, 13)));
    let mean = 0, m2 = 0, m4 = 0, tail = 0;
    for (const x of a) { mean += x; m2 += x * x; m4 += x ** 4; if (Math.abs(x) > 3) tail++; }
    const n = a.length;
    // 5 standard errors: mean se 1e-3, variance se ~1.4e-3, kurtosis se ~5e-3, tail count se ~52.
    expect(Math.abs(mean / n)).toBeLessThan(5e-3);
    expect(Math.abs(m2 / n - 1)).toBeLessThan(7e-3);
    expect(Math.abs(m4 / n - 3)).toBeLessThan(0.05);
    expect(Math.abs(tail - 0.0026998 * n)).toBeLessThan(260);
  });

  it('rejects bad arguments', async () => {
    await expectArgumentError(() => binding.gaussianNoise(-1, 4), 'seed');
    await expectArgumentError(() => binding.gaussianNoise(2 ** 53, 4), 'seed');
    await expectArgumentError(() => binding.gaussianNoise(0, 1.5), 'count');
  });
});

// ---- The official Lotus infer.py's intermediates (test/fixtures, scripts/lotus_export/fixtures.py) ----
if (!hasFixtures) console.warn(`pixel-math fixtures skipped: ${manifestPath} does not exist yet`);

// Each stage is fed the official pipeline's own input for that stage (captured around its VAE), so
// these isolate the pixel math from the network: any difference is ours, not onnxruntime's.
describe.skipIf(!hasFixtures)('official infer.py intermediates', () => {
  const staged = manifest.cases.filter((c) => manifest.models[c.model]?.precision === 'fp32' && c.files.raw && c.files.input);

  it.each(staged.map((c) => [c.id, c] as const))('preprocess matches the official network input: %s', async (_id, c) => {
    // Decode as infer.py does: PIL convert('RGB') drops alpha without compositing.
    const { data, info } = await sharp(path.join(fixtureDir, c.image)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([c.width, c.height]);
    const result = await binding.preprocess(new Uint8Array(data), c.width, c.height, 3, { processingResolution: c.processing_resolution });
    expect(result.shape).toEqual([1, 3, c.network.height, c.network.width]);
    // Same float32 filter taps and accumulation order as torch's CPU kernel: only the last bit may differ.
    expect(maxAbsDiff(result.tensor, caseNpy(c, c.files.input!).data as Float32Array)).toBeLessThanOrEqual(2e-6);
  });

  it.each(staged.map((c) => [c.id, c] as const))('postprocess of the official prediction matches its .npy and PNG: %s', async (_id, c) => {
    const raw = caseNpy(c, c.files.raw!);
    expect(raw.shape).toEqual([1, 3, c.prediction.height, c.prediction.width]);
    const model = manifest.models[c.model]!;
    const output = await binding.postprocess(raw.data as Float32Array, raw.shape as [number, number, number, number], {
      task: model.task, outputWidth: c.width, outputHeight: c.height, resample: 'nearest',
    });
    // Clamp and nearest indices are exact; the mean rounds in float32 as numpy's does.
    expect(maxAbsDiff(output, await caseOutput(c))).toBeLessThanOrEqual(OUTPUT_QUANTIZATION_ERROR + 1e-7);
    // Same depth (bit for bit) in, same normalisation and table: the PNG bytes are identical.
    const rgb = model.task === 'depth'
      ? binding.colorizeDepth(output, c.width, c.height, model.disparity)
      : new NormalResult(c.width, c.height, output, { decode: 0, preprocess: 0, inference: 0, postprocess: 0, copy: 0, total: 0 }).colorize();
    expect(comparePixels(rgb, await caseColor(c))).toEqual({ identical: 1, worst: 0 });
  });
});
