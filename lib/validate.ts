// Argument validation for the public API. Each helper throws an InvalidArgumentError that names the
// parameter, what was expected and what was received, in the style of sharp's messages.
import { InvalidArgumentError } from './errors';

/** A short description of a received value, for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return `string ${JSON.stringify(shown)}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return `${typeof value} ${String(value)}`;
  }
  if (typeof value === 'function') return 'function';
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of length ${(value as Uint8Array).length ?? value.byteLength}`;
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `${name} instance` : 'object';
}

export function invalid(parameter: string, expected: string, value: unknown): InvalidArgumentError {
  return new InvalidArgumentError(parameter, `${parameter}: expected ${expected}, received ${describeValue(value)}`);
}

/** A zero-length view of a buffer that was transferred or detached (ArrayBuffer.prototype.detached is Node 22+). */
export function isDetached(view: ArrayBufferView): boolean {
  if (view.byteLength !== 0) return false;
  const buffer = view.buffer as ArrayBuffer & { detached?: boolean };
  return buffer.detached ?? (buffer.byteLength === 0 && !(buffer instanceof SharedArrayBuffer));
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * An optional options object: undefined -> {}. Unknown keys are rejected because they are almost
 * always misspellings that would otherwise be silently ignored.
 */
export function optionsObject(value: unknown, parameter: string, known: readonly string[]): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw invalid(parameter, 'an object', value);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(
        `${parameter}.${key}`,
        `${parameter}.${key}: unknown option; expected one of ${known.join(', ')}`,
      );
    }
  }
  return value;
}

export interface IntegerRange {
  min?: number;
  max?: number;
}

function rangeText({ min, max }: IntegerRange): string {
  if (min !== undefined && max !== undefined) return `an integer between ${min} and ${max}`;
  if (min !== undefined) return min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer >= ${min}`;
  if (max !== undefined) return `an integer <= ${max}`;
  return 'an integer';
}

export function integer(value: unknown, parameter: string, range: IntegerRange = {}): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    (range.min !== undefined && value < range.min) ||
    (range.max !== undefined && value > range.max)
  ) {
    throw invalid(parameter, rangeText(range), value);
  }
  return value;
}

export function optionalInteger(value: unknown, parameter: string, range: IntegerRange = {}): number | undefined {
  return value === undefined ? undefined : integer(value, parameter, range);
}

export function optionalBoolean(value: unknown, parameter: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(parameter, 'a boolean', value);
  return value;
}

export function nonEmptyString(value: unknown, parameter: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(parameter, 'a non-empty string', value);
  if (value.includes('\0')) throw invalid(parameter, 'a string without NUL characters', value);
  return value;
}

export function optionalString(value: unknown, parameter: string): string | undefined {
  return value === undefined ? undefined : nonEmptyString(value, parameter);
}

export function optionalOneOf<T extends string>(value: unknown, parameter: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(parameter, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function optionalFunction<T extends (...args: never[]) => unknown>(value: unknown, parameter: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalid(parameter, 'a function', value);
  return value as T;
}
