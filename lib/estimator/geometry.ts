// Image sizes through the reference pipeline (docs/design.md steps 2-3), computed as Python does.
import { ImageError, InvalidArgumentError } from '../errors';

export interface ProcessingSize {
  /** Size after resizing to the processing resolution (the network's valid region). */
  resizedWidth: number;
  resizedHeight: number;
  /** Size after edge padding to the model's size multiple (the network input). */
  paddedWidth: number;
  paddedHeight: number;
}

/**
 * `s = min(R / W, R / H)`, `w' = int(W * s)`, `h' = int(H * s)` in float64 like Python's
 * resize_max_res; R = 0 keeps the size. Then pad up to a multiple of `sizeMultiple`.
 */
export function processingSize(width: number, height: number, processingResolution: number, sizeMultiple: number): ProcessingSize {
  let resizedWidth = width;
  let resizedHeight = height;
  if (processingResolution > 0) {
    const scale = Math.min(processingResolution / width, processingResolution / height);
    resizedWidth = Math.trunc(width * scale);
    resizedHeight = Math.trunc(height * scale);
  }
  const pad = (n: number) => Math.ceil(n / sizeMultiple) * sizeMultiple;
  return { resizedWidth, resizedHeight, paddedWidth: pad(resizedWidth), paddedHeight: pad(resizedHeight) };
}

/** Number of noise values a generation model needs for this network input: [1, 4, H/8, W/8]. */
export function noiseLength(paddedWidth: number, paddedHeight: number): number {
  return 4 * (paddedHeight / 8) * (paddedWidth / 8);
}

/**
 * The network input size of one request, after checking what the backends cannot: that the resized
 * image is not empty, and that explicit noise has the length the padded input needs.
 */
export function planRequest(
  width: number,
  height: number,
  request: { processingResolution: number; noise?: Float32Array },
  model: { sizeMultiple: number; mode: 'generation' | 'regression' },
): ProcessingSize {
  const size = processingSize(width, height, request.processingResolution, model.sizeMultiple);
  if (size.resizedWidth < 1 || size.resizedHeight < 1) {
    throw new ImageError(
      `image: a ${width}x${height} image resized to a long edge of ${request.processingResolution} ` +
        `would be ${size.resizedWidth}x${size.resizedHeight} pixels; use a larger processingResolution or 0`,
      { parameter: 'image' },
    );
  }
  if (model.mode === 'generation' && request.noise) {
    const count = noiseLength(size.paddedWidth, size.paddedHeight);
    if (request.noise.length !== count) {
      throw new InvalidArgumentError(
        'options.noise',
        `options.noise: expected a Float32Array of ${count} values ([1, 4, ${size.paddedHeight / 8}, ${size.paddedWidth / 8}] ` +
          `for the ${size.paddedWidth}x${size.paddedHeight} network input), received ${request.noise.length}`,
      );
    }
  }
  return size;
}
