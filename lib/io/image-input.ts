// ImageInput -> 8-bit RGB(A) HWC pixels, decoded by sharp the way the reference reads images with
// PIL's Image.open(...).convert('RGB'): alpha dropped without compositing, no colour management
// (PIL ignores ICC profiles), 16-bit samples scaled to 8 bits (PIL clips them; see docs/design.md).
// EXIF orientation is applied to every encoded input and sharp instance unless autoOrient is false
// (infer.py ignores it).
import sharp from 'sharp';
import type { RgbImage } from '../backends/backend';
import { ImageError, InvalidArgumentError } from '../errors';
import { MAX_IMAGE_SIDE } from '../estimator/options';
import { describeValue, invalid, isPlainObject } from '../validate';

/** Raw 8-bit pixels, HWC; a fourth channel is alpha and ignored. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

export type ImageInput = string | Buffer | Uint8Array | RawImage | sharp.Sharp;

const EXPECTED =
  'a file path, a Buffer/Uint8Array of encoded image data, raw pixels { data, width, height, channels: 3 | 4 } or a sharp instance';

function isSharp(value: unknown): value is sharp.Sharp {
  if (value instanceof sharp) return true;
  // A sharp instance from another copy of the module.
  const v = value as { clone?: unknown; toBuffer?: unknown; metadata?: unknown; raw?: unknown };
  return typeof value === 'object' && value !== null && typeof v.clone === 'function' &&
    typeof v.toBuffer === 'function' && typeof v.metadata === 'function' && typeof v.raw === 'function';
}

function checkSize(width: number, height: number, parameter: string): void {
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new InvalidArgumentError(
      parameter,
      `${parameter}: the image is ${width}x${height} pixels; each side must be at most ${MAX_IMAGE_SIDE}`,
    );
  }
}

function rawImage(value: Record<string, unknown>, parameter: string): RgbImage {
  const { data, width, height, channels } = value;
  if (!(data instanceof Uint8Array) && !(data instanceof Uint8ClampedArray)) {
    throw invalid(`${parameter}.data`, 'a Uint8Array (or Buffer) of 8-bit pixels', data);
  }
  const side = (v: unknown, name: string) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw invalid(`${parameter}.${name}`, 'a positive integer', v);
    return v;
  };
  const w = side(width, 'width');
  const h = side(height, 'height');
  if (channels !== 3 && channels !== 4) throw invalid(`${parameter}.channels`, '3 (RGB) or 4 (RGBA)', channels);
  checkSize(w, h, parameter);
  if (data.length !== w * h * channels) {
    throw new InvalidArgumentError(
      `${parameter}.data`,
      `${parameter}.data: expected ${w * h * channels} bytes (${w}x${h}x${channels}), received ${data.length}`,
    );
  }
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { data: bytes, width: w, height: h, channels };
}

/** sharp's messages for unreadable input, turned into an ImageError naming the parameter. */
function decodeError(error: unknown, parameter: string, what: string): ImageError {
  const message = error instanceof Error ? error.message : String(error);
  return new ImageError(`${parameter}: cannot decode ${what}: ${message}`, { cause: error, parameter });
}

async function decode(pipeline: sharp.Sharp, parameter: string, what: string): Promise<RgbImage> {
  let result: { data: Buffer; info: sharp.OutputInfo };
  try {
    result = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (/pixel limit/i.test(String((error as Error)?.message))) {
      throw new InvalidArgumentError(parameter, `${parameter}: the image is larger than ${MAX_IMAGE_SIDE}x${MAX_IMAGE_SIDE} pixels`, { cause: error });
    }
    throw decodeError(error, parameter, what);
  }
  const { width, height, channels } = result.info;
  if (channels !== 3) throw new ImageError(`${parameter}: decoded to ${channels} channels, expected 3`, { parameter });
  checkSize(width, height, parameter);
  return { data: result.data, width, height, channels: 3 };
}

async function decodeEncoded(input: string | Uint8Array, parameter: string, autoOrient: boolean): Promise<RgbImage> {
  const what = typeof input === 'string' ? `file ${input}` : 'the image data';
  const options: sharp.SharpOptions = {
    autoOrient,
    ignoreIcc: true,
    // A first line of defence; the exact per-side check follows from the header.
    limitInputPixels: MAX_IMAGE_SIDE * MAX_IMAGE_SIDE,
  };
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(input, options).metadata();
  } catch (error) {
    const message = String((error as Error)?.message);
    if (typeof input === 'string' && /missing|ENOENT|no such file/i.test(message)) {
      throw new ImageError(`${parameter}: file not found: ${input}`, { cause: error, parameter });
    }
    throw decodeError(error, parameter, what);
  }
  // With autoOrient, width/height are the displayed ones; the per-side check holds either way.
  checkSize(metadata.width ?? 0, metadata.height ?? 0, parameter);
  return decode(sharp(input, options), parameter, what);
}

/**
 * Decodes any ImageInput to 8-bit pixels. Raw input is passed through without a copy (3 or 4
 * channels; the backends ignore alpha). A sharp instance is cloned and decoded as its pipeline
 * says, auto-oriented first like every encoded input when `autoOrient` is true.
 */
export async function loadImage(input: unknown, parameter = 'image', autoOrient = true): Promise<RgbImage> {
  if (typeof input === 'string') {
    if (input.length === 0) throw invalid(parameter, `${EXPECTED}; the path is empty`, input);
    return decodeEncoded(input, parameter, autoOrient);
  }
  if (input instanceof Uint8Array) {
    if (input.length === 0) throw invalid(parameter, 'non-empty encoded image data', input);
    return decodeEncoded(input, parameter, autoOrient);
  }
  if (isSharp(input)) {
    const pipeline = input.clone();
    return decode(autoOrient ? pipeline.autoOrient() : pipeline, parameter, 'the sharp pipeline');
  }
  if (isPlainObject(input) && 'data' in input) return rawImage(input, parameter);
  throw new InvalidArgumentError(parameter, `${parameter}: expected ${EXPECTED}, received ${describeValue(input)}`);
}
