// What encoded input an estimator accepts: the image formats (raster only by default, so a server
// never renders SVG, whose <image href> pulls in files next to it) and the largest pixel count,
// checked from the header before anything is decoded.
import { ImageError } from '../errors';
import { integer, invalid } from '../validate';

/**
 * Formats sharp reads from memory, by the name its metadata() reports (libvips' own .v format is
 * read from files only, and lotus-trt reads each file once into memory: it is never accepted).
 */
export const INPUT_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'svg'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** The default allow-list: raster formats (heif covers AVIF). */
export const DEFAULT_INPUT_FORMATS: readonly InputFormat[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'];

/** Default input pixel limit: 8192 x 8192 (64 MP), about 200 MB of decoded RGB. */
export const DEFAULT_MAX_INPUT_PIXELS = 8192 * 8192;

export interface InputPolicy {
  formats: readonly InputFormat[];
  maxPixels: number;
}

export const DEFAULT_INPUT_POLICY: InputPolicy = { formats: DEFAULT_INPUT_FORMATS, maxPixels: DEFAULT_MAX_INPUT_PIXELS };

export function resolveInputFormats(value: unknown, parameter = 'options.inputFormats'): readonly InputFormat[] | undefined {
  if (value === undefined) return undefined;
  const expected = `a non-empty array of ${INPUT_FORMATS.map((f) => `'${f}'`).join(', ')}`;
  if (!Array.isArray(value) || value.length === 0) throw invalid(parameter, expected, value);
  value.forEach((format, i) => {
    if (!(INPUT_FORMATS as readonly unknown[]).includes(format)) throw invalid(`${parameter}[${i}]`, `one of ${INPUT_FORMATS.join(', ')}`, format);
  });
  return [...new Set(value as InputFormat[])];
}

export function resolveMaxInputPixels(value: unknown, maxSide: number, parameter = 'options.maxInputPixels'): number | undefined {
  return value === undefined ? undefined : integer(value, parameter, { min: 1, max: maxSide * maxSide });
}

/** The format of encoded bytes from their signature, for the formats with one; undefined otherwise. */
export function sniffFormat(bytes: Uint8Array): InputFormat | 'vips' | undefined {
  const at = (offset: number, ...values: number[]) => values.every((v, i) => bytes[offset + i] === v);
  const ascii = (offset: number, text: string) => at(offset, ...[...text].map((c) => c.charCodeAt(0)));
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'GIF87a') || ascii(0, 'GIF89a')) return 'gif';
  if (at(0, 0x49, 0x49, 0x2a, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2a) || at(0, 0x49, 0x49, 0x2b, 0x00) || at(0, 0x4d, 0x4d, 0x00, 0x2b)) {
    return 'tiff';
  }
  if (ascii(4, 'ftyp')) {
    const brand = String.fromCharCode(...bytes.subarray(8, 12));
    if (['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1', 'avif', 'avis'].includes(brand)) return 'heif';
  }
  // libvips' own format: 08 f2 a6 b6 (big-endian) or b6 a6 f2 08.
  if (at(0, 0x08, 0xf2, 0xa6, 0xb6) || at(0, 0xb6, 0xa6, 0xf2, 0x08)) return 'vips';
  // SVG (or gzip, which libvips tries as SVGZ): text that names an <svg element early on.
  if (at(0, 0x1f, 0x8b)) return 'svg';
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.byteLength, 4096)).toString('latin1');
  if (/<svg[\s>]/i.test(head)) return 'svg';
  return undefined;
}

/**
 * Throws unless the bytes are one of the allowed formats. Bytes of no known signature are left to
 * sharp (which reports them as undecodable), since every allowed format has one.
 */
export function checkFormat(bytes: Uint8Array, policy: InputPolicy, parameter: string, what: string): void {
  const format = sniffFormat(bytes);
  if (format !== undefined && !(policy.formats as readonly string[]).includes(format)) throw formatNotAllowed(format, policy, parameter, what);
}

export function formatNotAllowed(format: string, policy: InputPolicy, parameter: string, what: string): ImageError {
  return new ImageError(
    `${parameter}: ${what} is ${format.toUpperCase()}, which this estimator does not accept ` +
      `(options.inputFormats: ${policy.formats.join(', ')})`,
    { parameter },
  );
}
