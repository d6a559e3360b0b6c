// Output files per task, and the encoding of a result into each (the public result methods): what
// `lotus depth|normal` writes and a queue job can ask for.
import type { DepthResult, NormalResult } from '../estimator/results';
import type { Task } from '../model/metadata';

export type DepthFormat = 'npy' | 'png16' | 'color';
export type NormalFormat = 'npy' | 'png';
export type OutputFormat = DepthFormat | NormalFormat;

export const FORMATS: { readonly [T in Task]: readonly OutputFormat[] } = {
  depth: ['npy', 'png16', 'color'],
  normal: ['npy', 'png'],
};

export const DEFAULT_FORMATS: { readonly [T in Task]: readonly OutputFormat[] } = {
  depth: ['npy', 'color'],
  normal: ['npy', 'png'],
};

export async function encodeResult(result: DepthResult | NormalResult, format: OutputFormat): Promise<Buffer> {
  if (result.task === 'depth') {
    if (format === 'npy') return result.toNpy();
    if (format === 'png16') return result.to16BitPng();
    if (format === 'color') return result.toColorizedPng();
  } else {
    if (format === 'npy') return result.toNpy();
    if (format === 'png') return result.toPng();
  }
  // Formats are checked against the task before inference; this is a bug guard.
  throw new Error(`format ${format} does not apply to ${result.task} results`);
}
