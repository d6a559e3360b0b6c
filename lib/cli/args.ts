// Shared argument parsing for the `lotus` subcommands: node:util parseArgs plus number/list/choice
// checks that turn every bad argument into a UsageError (printed with usage, exit code 2).
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  /** The subcommand whose usage to print; undefined prints the global usage. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Parsed {
  values: OptionValues;
  positionals: string[];
}

/** parseArgs in strict mode; its TypeError (unknown option, missing value) becomes a UsageError. */
export function parse(command: string, argv: string[], options: OptionSpec, allowPositionals: boolean): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: values as OptionValues, positionals };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new UsageError(message, command);
  }
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return String(v[v.length - 1]);
  return typeof v === 'string' ? v : undefined;
}

export function requireString(command: string, values: OptionValues, name: string): string {
  const v = stringOption(values, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required`, command);
  return v;
}

export interface IntRange {
  min?: number;
  max?: number;
}

/** A whole decimal number (no units, no exponent) within the range. */
export function parseInteger(command: string, name: string, text: string, range: IntRange = {}): number {
  const trimmed = text.trim();
  if (!/^-?\d+$/.test(trimmed)) throw new UsageError(`--${name} must be an integer, got "${text}"`, command);
  const n = Number(trimmed);
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} is out of range: ${text}`, command);
  if (range.min !== undefined && n < range.min) {
    throw new UsageError(`--${name} must be >= ${range.min}, got ${n}`, command);
  }
  if (range.max !== undefined && n > range.max) {
    throw new UsageError(`--${name} must be <= ${range.max}, got ${n}`, command);
  }
  return n;
}

export function intOption(command: string, values: OptionValues, name: string, range: IntRange = {}): number | undefined {
  const v = stringOption(values, name);
  return v === undefined ? undefined : parseInteger(command, name, v, range);
}

/** "384,768" -> [384, 768]; empty items are an error, duplicates are dropped, order is kept. */
export function intListOption(
  command: string, values: OptionValues, name: string, range: IntRange = {},
): number[] | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new UsageError(`--${name} must be a comma-separated list, got "${v}"`, command);
  return [...new Set(items.map((s) => parseInteger(command, name, s, range)))];
}

export function choiceOption<T extends string>(
  command: string, values: OptionValues, name: string, choices: readonly T[],
): T | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}; got "${v}"`, command);
  }
  return v as T;
}

/** "a,b" -> each must be one of the choices; duplicates dropped. */
export function choiceListOption<T extends string>(
  command: string, values: OptionValues, name: string, choices: readonly T[],
): T[] | undefined {
  const v = stringOption(values, name);
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${name} needs at least one of ${choices.join(', ')}`, command);
  for (const item of items) {
    if (!(choices as readonly string[]).includes(item)) {
      throw new UsageError(`--${name}: unknown value "${item}" (choose from ${choices.join(', ')})`, command);
    }
  }
  return [...new Set(items)] as T[];
}

export interface Size {
  width: number;
  height: number;
}

/** "WxH" or a single "N" (square). */
export function parseSize(command: string, name: string, text: string): Size {
  const m = /^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$/.exec(text);
  if (!m) throw new UsageError(`--${name} must be WIDTHxHEIGHT or N, got "${text}"`, command);
  const width = parseInteger(command, name, m[1]!, { min: 1 });
  const height = m[2] === undefined ? width : parseInteger(command, name, m[2], { min: 1 });
  return { width, height };
}

export function sizeOption(command: string, values: OptionValues, name: string): Size | undefined {
  const v = stringOption(values, name);
  return v === undefined ? undefined : parseSize(command, name, v);
}

export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}
