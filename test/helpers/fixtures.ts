// test/fixtures/manifest.json (written by scripts/lotus_export/fixtures.py): its types, the
// manifest itself (empty when the fixtures are absent), and a reader for a case's .npy files.
import fs from 'node:fs';
import path from 'node:path';
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
  resized: { width: number; height: number };
  padded: { width: number; height: number };
  dir: string;
  files: { input: string; raw: string; output: string; noise?: string; colorized?: string };
  measured_ort_fp32_raw_max_abs_err: number;
}

export interface Manifest {
  models: Record<string, ManifestModel>;
  cases: ManifestCase[];
}

export const manifest: Manifest = hasFixtures ? JSON.parse(fs.readFileSync(manifestPath, 'utf8')) : { models: {}, cases: [] };

/** One of a case's reference arrays, by file name. */
export function caseNpy(c: ManifestCase, file: string): Npy {
  return decodeNpy(fs.readFileSync(path.join(fixturesDir, c.dir, file)));
}
