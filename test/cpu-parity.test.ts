// End-to-end CPU path (sharp decode -> native preprocess -> onnxruntime -> native postprocess ->
// colorize) against the PyTorch reference pipeline's outputs in test/fixtures (manifest.json, written
// by scripts/lotus_export/fixtures.py). G models get the reference's own noise through `noise`.
//
// Tolerances, and why:
// - Depth: the network runs in float32 in both, but onnxruntime's conv/matmul kernels accumulate in
//   a different order than torch's; the fixture generator measured ORT-vs-torch on the raw
//   prediction at 5e-6..8e-5 (measured_ort_fp32_raw_max_abs_err). Resized cases add the native
//   antialiased resize's float rounding (~1e-6 on the input). depth = mean(clamp(y / 2 + 0.5)) halves
//   the raw error: measured max 1.9e-5, so DEPTH_TOLERANCE = 1e-4. The output resize is nearest with
//   indices computed as torch does, so borders and upsampled regions add no error of their own (a
//   wrong index, or bilinear instead of nearest, shows up as errors of 1e-2 and more).
// - Normals: n / |n| divides the raw error by |n|, which is ~0.2 at places in these random tiny
//   models: measured max 4.1e-4 on unit vectors, so NORMAL_TOLERANCE = 2e-3 (other CPUs' kernels
//   accumulate differently again).
// - Colorized depth: uint8 through a 256-entry table after min-max normalisation. Bit-exact depth
//   gives bit-exact colours; a 1e-5 depth difference can move a value across a bin edge, which
//   changes that pixel to the neighbouring table entry (up to ~4 per channel in Spectral; measured:
//   at most 4 of 5917 pixels, by 2). We require >= 99.5% of pixels exact and the rest within 4, and
//   the PNG to decode to exactly colorize()'s bytes.
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, test } from 'vitest';
import { createEstimator, ModelError, type DepthResult, type LotusEstimator, type NormalResult } from '../lib/index';
import { caseNpy, fixturesDir as fixtures, hasFixtures, manifest, manifestPath, type ManifestCase } from './helpers/fixtures';

if (!hasFixtures) console.warn(`cpu-parity skipped: ${manifestPath} does not exist (run scripts/lotus_export/fixtures.py)`);
const DEPTH_TOLERANCE = 1e-4;
const NORMAL_TOLERANCE = 2e-3;
const FP16_DEPTH_TOLERANCE = 5e-2 / 2; // the exporter's fp16 raw tolerance, halved by y / 2 + 0.5

const npy = caseNpy;
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
};

const estimators = new Map<string, Promise<LotusEstimator>>();
const estimatorFor = (name: string) => {
  if (!estimators.has(name)) {
    estimators.set(name, createEstimator(path.join(fixtures, manifest.models[name].file), { backend: 'cpu' }));
  }
  return estimators.get(name)!;
};
afterAll(async () => {
  for (const e of estimators.values()) await (await e.catch(() => undefined))?.close();
});

const fp32Cases = manifest.cases.filter((c) => manifest.models[c.model]?.precision === 'fp32');

describe.skipIf(!hasFixtures)('CPU parity with the PyTorch reference', () => {
  test('the manifest covers depth and normal, G and D, downscaling, upscaling and resolution 0', () => {
    const models = fp32Cases.map((c) => manifest.models[c.model]);
    expect(new Set(models.map((m) => m.task))).toEqual(new Set(['depth', 'normal']));
    expect(new Set(models.map((m) => m.mode))).toEqual(new Set(['generation', 'regression']));
    expect(new Set(fp32Cases.map((c) => c.processing_resolution))).toEqual(new Set([64, 0, 128]));
    const longEdge = (c: ManifestCase) => Math.max(c.width, c.height);
    expect(fp32Cases.some((c) => c.processing_resolution > 0 && c.processing_resolution < longEdge(c))).toBe(true);
    expect(fp32Cases.some((c) => c.processing_resolution > longEdge(c))).toBe(true);
  });

  test.each(fp32Cases.map((c) => [c.id, c] as const))('%s', async (_id, c) => {
    const model = manifest.models[c.model];
    const estimator = await estimatorFor(c.model);
    expect(estimator.model).toMatchObject({ task: model.task, mode: model.mode, disparity: model.disparity });
    const noise = c.files.noise ? (npy(c, c.files.noise).data as Float32Array) : undefined;
    const result = await estimator.estimate(path.join(fixtures, c.image), { processingResolution: c.processing_resolution, noise });
    const reference = npy(c, c.files.output);
    expect([result.width, result.height]).toEqual([c.width, c.height]);
    expect(reference.shape.slice(0, 2)).toEqual([c.height, c.width]);
    const error = maxAbsDiff(result.data, reference.data as Float32Array);
    console.log(`${c.id}: max |${result.task} - reference| = ${error.toExponential(2)} (ORT-vs-torch raw ${c.measured_ort_fp32_raw_max_abs_err.toExponential(2)})`);
    if (result.task === 'normal') {
      expect(error).toBeLessThan(NORMAL_TOLERANCE);
      return;
    }
    expect(error).toBeLessThan(DEPTH_TOLERANCE);

    // Colorized: the reference's uint8 RGB, and the PNG decodes to exactly our colorize().
    const depth = result as DepthResult;
    const colors = depth.colorize();
    const expected = npy(c, c.files.colorized!).data as Uint8Array;
    expect(colors.length).toBe(expected.length);
    let exact = 0;
    let worst = 0;
    for (let p = 0; p < c.width * c.height; p++) {
      let diff = 0;
      for (let k = 0; k < 3; k++) diff = Math.max(diff, Math.abs(colors[p * 3 + k] - expected[p * 3 + k]));
      if (diff === 0) exact++;
      worst = Math.max(worst, diff);
    }
    console.log(`${c.id}: colorized exact ${exact}/${c.width * c.height} pixels, worst channel difference ${worst}`);
    expect(exact / (c.width * c.height)).toBeGreaterThanOrEqual(0.995);
    expect(worst).toBeLessThanOrEqual(4);
    const { data: png, info } = await sharp(await depth.toColorizedPng()).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([c.width, c.height, 3]);
    expect(Buffer.from(png).equals(Buffer.from(colors))).toBe(true);
  });

  test('normal results encode to PNG as uint8((n + 1) / 2 * 255)', async () => {
    const c = fp32Cases.find((x) => manifest.models[x.model].task === 'normal');
    expect(c, 'a normal case in the manifest').toBeDefined();
    const estimator = await estimatorFor(c!.model);
    const result = (await estimator.estimate(path.join(fixtures, c!.image), { processingResolution: c!.processing_resolution })) as NormalResult;
    const { data } = await sharp(await result.toPng()).raw().toBuffer({ resolveWithObject: true });
    expect([...data]).toEqual([...result.data].map((n) => Math.max(0, Math.min(255, Math.trunc(((n + 1) / 2) * 255)))));
  });

  const fp16Models = Object.entries(manifest.models).filter(([, m]) => m.precision === 'fp16');
  test.each(fp16Models.map(([name]) => [name]))('%s: runs on the CPU close to the fp32 reference, or is refused with a clear error', async (name) => {
    const referenceModel = manifest.models[name].reference_model!;
    const c = fp32Cases.find((x) => x.model === referenceModel && x.processing_resolution === 64);
    expect(c).toBeDefined();
    let estimator: LotusEstimator;
    try {
      estimator = await estimatorFor(name);
    } catch (error) {
      expect(error).toBeInstanceOf(ModelError);
      expect((error as Error).message).toMatch(/fp32 export/);
      console.log(`${name}: refused on the CPU: ${(error as Error).message}`);
      return;
    }
    const noise = npy(c!, c!.files.noise!).data as Float32Array;
    const result = await estimator.estimate(path.join(fixtures, c!.image), { processingResolution: 64, noise });
    const error = maxAbsDiff(result.data, npy(c!, c!.files.output).data as Float32Array);
    console.log(`${name} on ${c!.id}: max |depth - fp32 reference| = ${error.toExponential(2)}`);
    expect(error).toBeLessThan(FP16_DEPTH_TOLERANCE);
  });
});
