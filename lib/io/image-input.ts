// ImageInput -> 8-bit RGB(A) HWC pixels, decoded by sharp the way the reference reads images with
// PIL's Image.open(...).convert('RGB'): alpha dropped without compositing, no colour management
// (PIL ignores ICC profiles), 16-bit samples scaled to 8 bits (PIL clips them; docs/design.md).
// EXIF orientation is applied to every encoded input and sharp instance unless autoOrient is false
// (infer.py ignores it).
//
// Two steps: takeImage() runs when the call is made and takes what the caller passed (raw pixels
// and encoded bytes are copied, a sharp pipeline cloned), so changing the caller's buffer later
// changes nothing; decodeImage() runs later, under the estimator's concurrency limit.
import sharp from 'sharp';
import type { RgbImage } from '../backends/backend';
import { ImageError, InvalidArgumentError } from '../errors';
import { MAX_IMAGE_SIDE } from '../estimator/options';
import { describeValue, invalid, isDetached, isPlainObject } from '../validate';
import { checkFormat, DEFAULT_INPUT_POLICY, formatNotAllowed, type InputFormat, type InputPolicy } from './input-policy';
import { FileAccessError, readRegularFile } from './regular-file';

/** Raw 8-bit pixels, HWC; a fourth channel is alpha and ignored. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

export type ImageInput = string | Buffer | Uint8Array | RawImage | sharp.Sharp;

/** An input taken at call time, not decoded yet. */
export type TakenImage =
  | { kind: 'raw'; image: RgbImage }
  | { kind: 'file'; path: string }
  | { kind: 'encoded'; bytes: Buffer }
  | { kind: 'sharp'; pipeline: sharp.Sharp };

const EXPECTED =
  'a file path, a Buffer/Uint8Array of encoded image data, raw pixels { data, width, height, channels: 3 | 4 } or a sharp instance';

/** Encoded bytes per pixel an image file can need (uncompressed 16-bit RGBA), plus room for metadata. */
const MAX_FILE_BYTES_PER_PIXEL = 8;
const MAX_FILE_OVERHEAD = 16 * 2 ** 20;

function isSharp(value: unknown): value is sharp.Sharp {
  if (value instanceof sharp) return true;
  // A sharp instance from another copy of the module.
  const v = value as { clone?: unknown; toBuffer?: unknown; metadata?: unknown; raw?: unknown };
  return typeof value === 'object' && value !== null && typeof v.clone === 'function' &&
    typeof v.toBuffer === 'function' && typeof v.metadata === 'function' && typeof v.raw === 'function';
}

/** Over the per-side or pixel-count limit: an ImageError naming the parameter, whatever the input form. */
function checkSize(width: number, height: number, parameter: string, policy: InputPolicy): void {
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new ImageError(`${parameter}: the image is ${width}x${height} pixels; each side must be at most ${MAX_IMAGE_SIDE}`, { parameter });
  }
  if (width * height > policy.maxPixels) {
    throw new ImageError(
      `${parameter}: the image is ${width}x${height} = ${width * height} pixels, over the limit of ${policy.maxPixels} (options.maxInputPixels)`,
      { parameter },
    );
  }
}

function takeRaw(value: Record<string, unknown>, parameter: string, policy: InputPolicy): RgbImage {
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
  checkSize(w, h, parameter, policy);
  if (isDetached(data)) {
    throw new InvalidArgumentError(
      `${parameter}.data`,
      `${parameter}.data: the pixel buffer is detached (its ArrayBuffer was transferred); expected ${w * h * channels} bytes (${w}x${h}x${channels})`,
    );
  }
  if (data.length !== w * h * channels) {
    throw new InvalidArgumentError(
      `${parameter}.data`,
      `${parameter}.data: expected ${w * h * channels} bytes (${w}x${h}x${channels}), received ${data.length}`,
    );
  }
  // A copy, made now: the request may wait in a queue, and the caller may reuse its buffer (or
  // share it with other threads) meanwhile.
  return { data: new Uint8Array(data), width: w, height: h, channels };
}

/**
 * Takes an ImageInput at call time: checks its form, copies raw pixels and encoded bytes, clones a
 * sharp pipeline. Throws InvalidArgumentError / ImageError naming `parameter`.
 */
export function takeImage(input: unknown, parameter = 'image', policy: InputPolicy = DEFAULT_INPUT_POLICY): TakenImage {
  if (typeof input === 'string') {
    if (input.length === 0) throw invalid(parameter, `${EXPECTED}; the path is empty`, input);
    if (input.includes('\0')) throw invalid(parameter, 'a path without NUL characters', input);
    return { kind: 'file', path: input };
  }
  if (input instanceof Uint8Array) {
    if (isDetached(input)) {
      throw new InvalidArgumentError(parameter, `${parameter}: the encoded image buffer is detached (its ArrayBuffer was transferred)`);
    }
    if (input.length === 0) throw invalid(parameter, 'non-empty encoded image data', input);
    return { kind: 'encoded', bytes: Buffer.from(input) }; // a copy (Buffer.from of a view copies)
  }
  if (isSharp(input)) return { kind: 'sharp', pipeline: input.clone() };
  if (isPlainObject(input) && 'data' in input) return { kind: 'raw', image: takeRaw(input, parameter, policy) };
  throw new InvalidArgumentError(parameter, `${parameter}: expected ${EXPECTED}, received ${describeValue(input)}`);
}

/** sharp's messages for unreadable input, turned into an ImageError naming the parameter. */
function decodeError(error: unknown, parameter: string, what: string, policy: InputPolicy): ImageError {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) {
    return new ImageError(`${parameter}: ${what} is over the limit of ${policy.maxPixels} pixels (options.maxInputPixels)`, { cause: error, parameter });
  }
  return new ImageError(`${parameter}: cannot decode ${what}: ${message}`, { cause: error, parameter });
}

async function decode(pipeline: sharp.Sharp, parameter: string, what: string, policy: InputPolicy): Promise<RgbImage> {
  let result: { data: Buffer; info: sharp.OutputInfo };
  try {
    result = await pipeline
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw decodeError(error, parameter, what, policy);
  }
  const { width, height, channels } = result.info;
  if (channels !== 3) throw new ImageError(`${parameter}: decoded to ${channels} channels, expected 3`, { parameter });
  checkSize(width, height, parameter, policy);
  return { data: result.data, width, height, channels: 3 };
}

async function decodeEncoded(bytes: Buffer, parameter: string, what: string, policy: InputPolicy, autoOrient: boolean): Promise<RgbImage> {
  // The signature first: a format outside the allow-list never reaches a decoder.
  checkFormat(bytes, policy, parameter, what);
  const options: sharp.SharpOptions = {
    autoOrient,
    ignoreIcc: true,
    // sharp refuses to decode past this; the header check below names the limit first.
    limitInputPixels: policy.maxPixels,
  };
  let metadata: sharp.Metadata;
  try {
    // The header only (no pixel limit here, so the size check below can name the dimensions).
    metadata = await sharp(bytes, { ...options, limitInputPixels: false }).metadata();
  } catch (error) {
    throw decodeError(error, parameter, what, policy);
  }
  if (!policy.formats.includes(metadata.format as InputFormat)) throw formatNotAllowed(String(metadata.format), policy, parameter, what);
  checkSize(metadata.width ?? 0, metadata.height ?? 0, parameter, policy);
  return decode(sharp(bytes, options), parameter, what, policy);
}

async function readImageFile(file: string, parameter: string, policy: InputPolicy): Promise<Buffer> {
  try {
    return await readRegularFile(file, policy.maxPixels * MAX_FILE_BYTES_PER_PIXEL + MAX_FILE_OVERHEAD);
  } catch (error) {
    if (!(error instanceof FileAccessError)) throw error;
    const hint = error.reason === 'not-regular' ? '; pass the image as a Buffer (or a sharp instance) to read from a pipe or stream' : '';
    throw new ImageError(`${parameter}: ${error.message}${hint}`, { cause: error, parameter });
  }
}

/**
 * Decodes a taken input to 8-bit pixels (3 channels; raw input keeps its 3 or 4). `autoOrient`
 * applies the EXIF orientation to encoded input and sharp instances alike (infer.py ignores it).
 */
export async function decodeImage(
  taken: TakenImage,
  parameter = 'image',
  policy: InputPolicy = DEFAULT_INPUT_POLICY,
  autoOrient = true,
): Promise<RgbImage> {
  switch (taken.kind) {
    case 'raw':
      return taken.image;
    case 'file':
      // Read once, here: a path opened twice (header, then pixels) breaks on pipes and races with renames.
      return decodeEncoded(await readImageFile(taken.path, parameter, policy), parameter, `file ${taken.path}`, policy, autoOrient);
    case 'encoded':
      return decodeEncoded(taken.bytes, parameter, 'the image data', policy, autoOrient);
    case 'sharp': {
      // The caller built this pipeline; the size limits apply (checked from its header before
      // decoding), and the orientation rule every other input kind follows.
      let metadata: sharp.Metadata;
      try {
        metadata = await taken.pipeline.clone().metadata();
      } catch (error) {
        throw decodeError(error, parameter, 'the sharp pipeline', policy);
      }
      checkSize(metadata.width ?? 0, metadata.height ?? 0, parameter, policy);
      return decode(autoOrient ? taken.pipeline.autoOrient() : taken.pipeline, parameter, 'the sharp pipeline', policy);
    }
  }
}

/** takeImage() then decodeImage(): any ImageInput to 8-bit pixels. */
export async function loadImage(
  input: unknown,
  parameter = 'image',
  policy: InputPolicy = DEFAULT_INPUT_POLICY,
  autoOrient = true,
): Promise<RgbImage> {
  return decodeImage(takeImage(input, parameter, policy), parameter, policy, autoOrient);
}
