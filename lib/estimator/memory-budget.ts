// Host memory of a CPU-backend (onnxruntime) request, estimated from its network input before it
// runs, against a budget: a legal processingResolution must not take the process down (the VAE's
// and UNet's attention materialise (pixels / 64)^2 scores, so memory grows with pixels squared).
import os from 'node:os';
import { InvalidArgumentError, ModelError } from '../errors';
import { modelFileBytes } from '../model/external-data';
import { integer } from '../validate';

/** Bytes = perPixel * pixels + attention * (pixels / 64)^2 per image (pixels: the network input). */
export interface MemoryProfile {
  name: 'full-size' | 'small';
  perPixel: number;
  attention: number;
}

/**
 * Fitted with scripts/measure-cpu-memory.js (peak RSS of one request in a fresh process, minus RSS
 * before it) and rounded up to lie above every measured point; docs/design.md, "Memory budget",
 * has the table. Full-size: the SD2-sized random-weight export (951 M parameters), 256^2..768^2.
 * Small: the tiny test fixtures (tiny widths, 2 attention heads), 128^2..1024x768.
 */
export const MEMORY_PROFILES: Record<MemoryProfile['name'], MemoryProfile> = {
  'full-size': { name: 'full-size', perPixel: 4608, attention: 64 },
  small: { name: 'small', perPixel: 512, attention: 32 },
};

/** Weights at or over this size use the full-size profile (real Lotus exports: 1.8 GB fp16, 3.8 GB fp32). */
export const FULL_SIZE_WEIGHT_BYTES = 256 * 2 ** 20;

/** The profile of a model by its weight bytes (the .onnx plus its external data). */
export function memoryProfileFor(modelPath: string): MemoryProfile {
  try {
    return modelFileBytes(modelPath) >= FULL_SIZE_WEIGHT_BYTES ? MEMORY_PROFILES['full-size'] : MEMORY_PROFILES.small;
  } catch {
    return MEMORY_PROFILES['full-size']; // unsure: the larger estimate
  }
}

/** Share of the memory available at load that requests may use by default. */
export const DEFAULT_BUDGET_SHARE = 0.8;

/** Estimated peak host bytes of one onnxruntime run over `batch` images of `width` x `height` network input. */
export function estimateRequestBytes(width: number, height: number, batch = 1, profile = MEMORY_PROFILES['full-size']): number {
  const pixels = width * height;
  const tokens = pixels / 64;
  return batch * (profile.perPixel * pixels + profile.attention * tokens * tokens);
}

/** Memory this process may still use: free memory within the cgroup limit where Node reports it. */
export function availableMemory(): number {
  const available = (process as { availableMemory?: () => number }).availableMemory?.();
  return typeof available === 'number' && available > 0 ? available : os.freemem();
}

export function defaultMemoryBudget(): number {
  return Math.floor(DEFAULT_BUDGET_SHARE * availableMemory());
}

/** options.memoryBudget: bytes, a positive integer (undefined: the default, decided at load). */
export function resolveMemoryBudget(value: unknown, parameter = 'options.memoryBudget'): number | undefined {
  return value === undefined ? undefined : integer(value, parameter, { min: 1 });
}

export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.max(1, Math.round(bytes / 2 ** 20))} MiB`;
}

/**
 * Largest number of images of this network size one run may take within the budget (0: not even
 * one). Batches larger than that are split; 0 is the caller's error to report.
 */
export function imagesWithinBudget(width: number, height: number, budget: MemoryBudget): number {
  return Math.floor(budget.bytes / estimateRequestBytes(width, height, 1, budget.profile));
}

/** What requests are checked against: the byte limit and the model's memory profile. */
export interface MemoryBudget {
  bytes: number;
  profile: MemoryProfile;
}

/** The typed error for a request whose single image already exceeds the budget. */
export function overBudgetError(
  image: { width: number; height: number },
  network: { width: number; height: number },
  processingResolution: number,
  budget: MemoryBudget,
): InvalidArgumentError {
  const need = estimateRequestBytes(network.width, network.height, 1, budget.profile);
  return new InvalidArgumentError(
    'options.processingResolution',
    `options.processingResolution: a ${image.width}x${image.height} image at processing resolution ${processingResolution} ` +
      `${processingResolution === 0 ? '(native) ' : ''}needs a ${network.width}x${network.height} network input, ` +
      `estimated at ${formatBytes(need)}, over the memory budget of ${formatBytes(budget.bytes)} (options.memoryBudget); ` +
      'use a smaller processingResolution or raise options.memoryBudget',
  );
}

/**
 * At load: the model's own default resolution (lotus.processing_resolution, used when the caller
 * passes none) must fit the budget for a square image, else the model cannot serve its default.
 */
export function checkModelDefaultFits(modelPath: string, processingResolution: number, budget: MemoryBudget): void {
  if (processingResolution <= 0) return;
  const need = estimateRequestBytes(processingResolution, processingResolution, 1, budget.profile);
  if (need > budget.bytes) {
    throw new ModelError(
      `${modelPath}: metadata lotus.processing_resolution is ${processingResolution}: a ${processingResolution}x${processingResolution} ` +
        `network input is estimated at ${formatBytes(need)}, over the memory budget of ${formatBytes(budget.bytes)} ` +
        '(options.memoryBudget); pass a smaller options.processingResolution or re-export the model',
    );
  }
}
