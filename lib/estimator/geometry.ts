// Image sizes through the official pipeline (docs/design.md steps 2-6), computed as Python does.
// pipeline.py never pads: the resized image is the network input, the VAE encodes floor(h / 8) x
// floor(w / 8) latents, the prediction is 8 times that, and it is resized back to the input size.
import { ImageError, InvalidArgumentError } from '../errors';

export interface ProcessingSize {
  /** Size after resizing to the processing resolution: the network input. */
  resizedWidth: number;
  resizedHeight: number;
  /** The network's prediction: sizeMultiple * floor(resized / sizeMultiple) (8: the VAE's factor). */
  predictionWidth: number;
  predictionHeight: number;
}

/**
 * `s = min(R / W, R / H)`, `w' = int(W * s)`, `h' = int(H * s)` in float64 like Python's
 * resize_max_res; R = 0 keeps the size.
 */
export function processingSize(width: number, height: number, processingResolution: number, sizeMultiple: number): ProcessingSize {
  let resizedWidth = width;
  let resizedHeight = height;
  if (processingResolution > 0) {
    const scale = Math.min(processingResolution / width, processingResolution / height);
    resizedWidth = Math.trunc(width * scale);
    resizedHeight = Math.trunc(height * scale);
  }
  const down = (n: number) => Math.floor(n / sizeMultiple) * sizeMultiple;
  return { resizedWidth, resizedHeight, predictionWidth: down(resizedWidth), predictionHeight: down(resizedHeight) };
}

/** Shape of the noise a generation model takes for this network input: [1, 4, h / 8, w / 8] (floored). */
export function noiseShape(resizedWidth: number, resizedHeight: number, sizeMultiple: number): [number, number, number, number] {
  return [1, 4, Math.floor(resizedHeight / sizeMultiple), Math.floor(resizedWidth / sizeMultiple)];
}

/**
 * The network input size of one request, after checking what the backends cannot: that the resized
 * image holds at least one latent (sizeMultiple pixels a side), and that explicit noise has the
 * length the network input needs.
 */
export function planRequest(
  width: number,
  height: number,
  request: { processingResolution: number; noise?: Float32Array },
  model: { sizeMultiple: number; mode: 'generation' | 'regression' },
  parameter = 'image',
): ProcessingSize {
  const size = processingSize(width, height, request.processingResolution, model.sizeMultiple);
  if (size.predictionWidth < 1 || size.predictionHeight < 1) {
    const resized = request.processingResolution > 0
      ? `resized to a long edge of ${request.processingResolution} it would be ${size.resizedWidth}x${size.resizedHeight} pixels`
      : `processed at its own size`;
    throw new ImageError(
      `${parameter}: a ${width}x${height} image is too small for the model: ${resized}, and the model needs at least ` +
        `${model.sizeMultiple} pixels a side; use a larger processingResolution`,
      { parameter },
    );
  }
  if (model.mode === 'generation' && request.noise) {
    const shape = noiseShape(size.resizedWidth, size.resizedHeight, model.sizeMultiple);
    const count = shape.reduce((a, b) => a * b, 1);
    if (request.noise.length !== count) {
      throw new InvalidArgumentError(
        'options.noise',
        `options.noise: expected a Float32Array of ${count} values ([${shape.join(', ')}] for the ` +
          `${size.resizedWidth}x${size.resizedHeight} network input), received ${request.noise.length}`,
      );
    }
  }
  return size;
}
