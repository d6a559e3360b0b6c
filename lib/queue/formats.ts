// Output formats a job can ask for, per task, the file-name suffixes `lotus depth|normal` use for
// them, and the encoding of a result into each (the public result methods).
import type { DepthResult, NormalResult } from '../estimator/results';

export type QueueTask = 'depth' | 'normal';
export type DepthFormat = 'npy' | 'png16' | 'color';
export type NormalFormat = 'npy' | 'png';
export type OutputFormat = DepthFormat | NormalFormat;

export const FORMATS: { readonly [T in QueueTask]: readonly OutputFormat[] } = {
  depth: ['npy', 'png16', 'color'],
  normal: ['npy', 'png'],
};

export const DEFAULT_FORMATS: { readonly [T in QueueTask]: readonly OutputFormat[] } = {
  depth: ['npy', 'color'],
  normal: ['npy', 'png'],
};

/** `<stem><suffix>`: the names `lotus depth|normal` write, so both commands produce the same files. */
export const SUFFIX: { readonly [T in QueueTask]: Readonly<Partial<Record<OutputFormat, string>>> } = {
  depth: { npy: '_depth.npy', png16: '_depth16.png', color: '_depth_color.png' },
  normal: { npy: '_normal.npy', png: '_normal.png' },
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
  // The job's formats are checked against the task before inference; this is a bug guard.
  throw new Error(`format ${format} does not apply to ${result.task} results`);
}
