// Argument checks of the exported DepthResult / NormalResult constructors: results made by hand
// (tests, caches, other pipelines) must be consistent before colorize() or toNpy() read them.
import { InvalidArgumentError } from '../errors';
import { MAX_IMAGE_SIDE } from './options';
import { integer, invalid, isPlainObject } from '../validate';

const TIMING_KEYS = ['decode', 'preprocess', 'inference', 'postprocess', 'copy', 'total'] as const;

export function checkResultArguments(
  kind: 'DepthResult' | 'NormalResult',
  width: unknown,
  height: unknown,
  data: unknown,
  timings: unknown,
  valuesPerPixel: 1 | 3,
  booleans: Record<string, unknown>,
  dataName = 'data',
): void {
  const w = integer(width, `${kind}.width`, { min: 1, max: MAX_IMAGE_SIDE });
  const h = integer(height, `${kind}.height`, { min: 1, max: MAX_IMAGE_SIDE });
  if (!(data instanceof Float32Array)) throw invalid(`${kind}.${dataName}`, 'a Float32Array', data);
  const expected = w * h * valuesPerPixel;
  if (data.length !== expected) {
    throw new InvalidArgumentError(
      `${kind}.${dataName}`,
      `${kind}.${dataName}: expected ${expected} values (${w}x${h}${valuesPerPixel === 3 ? 'x3' : ''}), received ${data.length}`,
    );
  }
  for (const [name, value] of Object.entries(booleans)) {
    if (typeof value !== 'boolean') throw invalid(`${kind}.${name}`, 'a boolean', value);
  }
  if (!isPlainObject(timings)) throw invalid(`${kind}.timings`, 'an object of stage times in ms', timings);
  for (const key of TIMING_KEYS) {
    const value = timings[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(`${kind}.timings.${key}`, 'a finite number', value);
  }
}
