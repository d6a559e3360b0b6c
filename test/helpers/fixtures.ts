// test/fixtures/manifest.json (written by scripts/lotus_export/fixtures.py from the official Lotus
// infer.py): its types, the manifest itself (empty when the fixtures are absent), and readers for a
// case's reference files.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeNpy, type Npy } from '../../lib/io/npy';

export const fixturesDir = path.join(__dirname, '..', 'fixtures');
export const manifestPath = path.join(fixturesDir, 'manifest.json');
export const hasFixtures = fs.existsSync(manifestPath);

export interface ManifestModel {
  file: string;
  task: 'depth' | 'normal';
  mode: 'generation' | 'regression';
  disparity: boolean;
  precision: 'fp32' | 'fp16';
  /** fp16 models: the fp32 model whose reference outputs they share. */
  reference_model?: string;
}

export interface ManifestCase {
  id: string;
  model: string;
  image: string;
  width: number;
  height: number;
  processing_resolution: number;
  /** The official run predicted on the image as displayed (EXIF orientation applied). */
  auto_orient: boolean;
  /** The resized image the official pipeline gave the VAE. */
  network: { width: number; height: number };
  /** The decoded prediction before it was resized back. */
  prediction: { width: number; height: number };
  dir: string;
  files: { output: string; color: string; noise?: string; input?: string; raw?: string };
  measured_ort_fp32_raw_max_abs_err: number;
}

export interface Manifest {
  models: Record<string, ManifestModel>;
  cases: ManifestCase[];
  /** Step of output.png's 16-bit quantization (1 / 65535). */
  output_quantization: number;
}

export const manifest: Manifest = hasFixtures
  ? JSON.parse(fs.readFileSync(manifestPath, 'utf8'))
  : { models: {}, cases: [], output_quantization: 0 };

/** Largest error output.png's quantization adds: half a step. */
export const OUTPUT_QUANTIZATION_ERROR = manifest.output_quantization / 2;

/** One of a case's .npy arrays, by file name. */
export function caseNpy(c: ManifestCase, file: string): Npy {
  return decodeNpy(fs.readFileSync(path.join(fixturesDir, c.dir, file)));
}

/** The official .npy (depth H*W, or the normal prediction H*W*3 in [0, 1]), from its 16-bit PNG. */
export async function caseOutput(c: ManifestCase): Promise<Float32Array> {
  const grey = !c.id.startsWith('tiny-normal');
  const { data, info } = await sharp(path.join(fixturesDir, c.dir, c.files.output))
    .toColourspace(grey ? 'grey16' : 'rgb16') // keep 16 bits (sharp would otherwise convert to sRGB)
    .raw({ depth: 'ushort' })
    .toBuffer({ resolveWithObject: true });
  check(info.width === c.width && info.height === c.height, `${c.id}: output.png is ${info.width}x${info.height}`);
  const samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  return Float32Array.from(samples, (q) => q / 65535);
}

/** The PNG infer.py wrote (colorized depth or the normal map), RGB8 HWC. */
export async function caseColor(c: ManifestCase): Promise<Uint8Array> {
  const { data, info } = await sharp(path.join(fixturesDir, c.dir, c.files.color)).raw().toBuffer({ resolveWithObject: true });
  check(info.channels === 3, `${c.id}: color.png has ${info.channels} channels`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}

/** Share of RGB8 pixels that are identical, and the largest channel difference. */
export function comparePixels(a: Uint8Array, b: Uint8Array): { identical: number; worst: number } {
  if (a.length !== b.length) throw new Error(`pixel arrays differ in length: ${a.length} vs ${b.length}`);
  let same = 0;
  let worst = 0;
  for (let p = 0; p < a.length; p += 3) {
    const d = Math.max(Math.abs(a[p]! - b[p]!), Math.abs(a[p + 1]! - b[p + 1]!), Math.abs(a[p + 2]! - b[p + 2]!));
    if (d === 0) same++;
    worst = Math.max(worst, d);
  }
  return { identical: same / (a.length / 3), worst };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`arrays differ in length: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
